#!/usr/bin/env python3
"""GETs URLs in parallel from the namespace it runs in and prints one JSON
object {url: {"status": N, "headers": {...}, "body": TEXT} or {"error": ...}}.

    ip netns exec NS fetch.py [--host NAME] [--timeout S] URL...

Used by the harness to read every pod's /stats and to check each path
(pods, proxies) before measuring. Bounded: one request per URL.
"""
import argparse
import http.client
import json
import sys
import threading
import urllib.parse


def get(url, host, timeout):
    u = urllib.parse.urlsplit(url)
    try:
        c = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=timeout)
        c.request("GET", u.path or "/", headers={"Host": host} if host else {})
        r = c.getresponse()
        body = r.read().decode("utf-8", "replace")
        c.close()
        return {"status": r.status, "headers": {k.lower(): v for k, v in r.getheaders()},
                "body": body}
    except Exception as e:  # reported, not raised: the caller decides
        return {"error": "%s: %s" % (type(e).__name__, e)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host")
    ap.add_argument("--timeout", type=float, default=5.0)
    ap.add_argument("urls", nargs="+")
    a = ap.parse_args()
    out = {}
    sem = threading.Semaphore(32)

    def one(url):
        with sem:
            out[url] = get(url, a.host, a.timeout)
    ts = [threading.Thread(target=one, args=(u,)) for u in a.urls]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    json.dump(out, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
