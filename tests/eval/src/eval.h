/*
 * tests/eval/src/eval.h - the pure cores of the evaluation programs
 * (as-loadgen, as-backend): histogram, arrival schedule, results, DNS stub
 * messages, the per-identity DNS cache and the HTTP/1.1 parsers.
 *
 * Design. Nothing here touches a socket, a timer or the clock: every
 * function takes the time it needs as an argument (nanoseconds on the run's
 * monotonic clock), so the unit tests drive the cores with simulated time
 * and the libuv programs only adapt events to calls. The parsers are
 * incremental over whatever a read returned, bounded, and never allocate;
 * bad input is an error result, never a crash.
 *
 * Histogram layout (HdrHistogram-style, log-linear, unit 1 us). With
 * sub-bucket bits b, S = 2^b and H = S/2, a value v < S has index v; a
 * larger value with most significant bit m has exponent e = m - (b - 1)
 * and index e*H + (v >> e). Index i >= S covers [sub << e, ((sub + 1) << e)
 * - 1] with e = i/H - 1 and sub = i - e*H, so every bucket is narrower than
 * 1/H of its lowest value: a percentile reported as the bucket's highest
 * value is at most 2^(1-b) above the exact nearest-rank value (0.78 % for
 * the default b = 8). Values above 60 s are clamped to 60 s.
 */
#ifndef ANYSTEER_EVAL_H
#define ANYSTEER_EVAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "lib/rng.h"

#define EVAL_NS_PER_US 1000ull
#define EVAL_NS_PER_S 1000000000ull

/* The PRNG is lib/rng.h's as_rng (xoshiro256**, seeded through splitmix64). */

/* ---- histogram ------------------------------------------------------- */

#define EVAL_HIST_BITS 8		/* default: < 0.8 % relative error */
#define EVAL_HIST_MAX_US 60000000ull	/* 60 s; larger values are clamped */

typedef struct eval_hist eval_hist_t;

/* sub_bucket_bits in [2, 16]; NULL on bad bits or no memory. */
eval_hist_t *eval_hist_new(unsigned sub_bucket_bits);
void eval_hist_free(eval_hist_t *h);
void eval_hist_reset(eval_hist_t *h);
void eval_hist_record(eval_hist_t *h, uint64_t value_us);
/* Adds src into dst; AS_EINVAL if their sub-bucket bits differ. */
int eval_hist_merge(eval_hist_t *dst, const eval_hist_t *src);
bool eval_hist_equal(const eval_hist_t *a, const eval_hist_t *b);
unsigned eval_hist_bits(const eval_hist_t *h);
uint64_t eval_hist_count(const eval_hist_t *h);
uint64_t eval_hist_min(const eval_hist_t *h);	/* exact; 0 when empty */
uint64_t eval_hist_max(const eval_hist_t *h);	/* exact; 0 when empty */
double eval_hist_mean(const eval_hist_t *h);	/* exact; 0 when empty */
/* Nearest-rank percentile, ppm in [0, 1000000] (990000 = p99): the
 * highest value of the bucket holding the value of rank
 * ceil(ppm * count / 1e6), capped at the exact maximum. 0 when empty. */
uint64_t eval_hist_percentile(const eval_hist_t *h, uint32_t ppm);

/* The index arithmetic above, for tests and readers of the encoding. */
size_t eval_hist_index(unsigned bits, uint64_t value);
uint64_t eval_hist_lowest(unsigned bits, size_t index);
uint64_t eval_hist_highest(unsigned bits, size_t index);

/* {"count","min","mean","p50","p90","p99","p999","max"} */
json_t *eval_hist_summary_json(const eval_hist_t *h);
/* {"sub_bucket_bits": b, "counts": [[index, count], ...], "min", "max",
 * "sum"} (counts sparse, ascending index). */
json_t *eval_hist_json(const eval_hist_t *h);
/* The inverse of eval_hist_json; AS_EPARSE on a malformed object. */
int eval_hist_from_json(const json_t *j, eval_hist_t **out);

/* ---- arrival schedule ------------------------------------------------ */

enum eval_arrival {
	EVAL_ARRIVAL_CONSTANT,	/* request k at k / rate */
	EVAL_ARRIVAL_POISSON,	/* exponential gaps with mean 1 / rate */
};

typedef struct eval_sched eval_sched_t;

#define EVAL_SCHED_END UINT64_MAX

/* Requests at times in [0, duration_ns). rate > 0. */
eval_sched_t *eval_sched_new(enum eval_arrival kind, double rate,
			     uint64_t duration_ns, uint64_t seed);
void eval_sched_free(eval_sched_t *s);
/* Time of the next request, or EVAL_SCHED_END after the last one. */
uint64_t eval_sched_next(const eval_sched_t *s);
/* If the next request is due at now_ns (its time <= now_ns), stores its
 * scheduled time and sequence number, advances and returns true. The
 * schedule never depends on responses: a caller that wakes late gets every
 * missed request with its original time. */
bool eval_sched_due(eval_sched_t *s, uint64_t now_ns, uint64_t *t_ns,
		    uint64_t *seq);
uint64_t eval_sched_issued(const eval_sched_t *s);

/* ---- errors by kind -------------------------------------------------- */

enum eval_error {
	EVAL_E_DNS_TIMEOUT,
	EVAL_E_DNS_SERVFAIL,
	EVAL_E_DNS_NXDOMAIN,
	EVAL_E_DNS_NOANSWER,
	EVAL_E_DNS_OTHER,
	EVAL_E_CONNECT_REFUSED,
	EVAL_E_CONNECT_TIMEOUT,
	EVAL_E_CONNECT_OTHER,
	EVAL_E_RESET,
	EVAL_E_HTTP_TIMEOUT,
	EVAL_E_HTTP_STATUS,
	EVAL_E_HTTP_PARSE,
	EVAL_E_CLIENT_OVERLOAD,
	EVAL_E_COUNT,
};

/* The fixed JSON key of an error kind ("dns_timeout", ...). */
const char *eval_error_name(enum eval_error e);

/* ---- results of one run ---------------------------------------------- */

typedef struct eval_results eval_results_t;

enum eval_hist_kind { EVAL_H_TOTAL, EVAL_H_TTFB, EVAL_H_CONNECT, EVAL_H_DNS,
		      EVAL_H_COUNT };

/* What one successful (2xx) request saw; times in ns of the run clock. */
struct eval_outcome {
	uint64_t t_sched;	/* scheduled send time */
	uint64_t t_write;	/* request written to the connection */
	uint64_t t_first;	/* first response byte */
	uint64_t t_done;	/* last response byte */
	const char *pod;	/* X-Pod value, "" when absent */
	const uint8_t *addr;	/* 16-byte IPv6 peer address */
};

/* Requests scheduled before warmup_ns count only as warm-up; the figures
 * cover scheduled times in [warmup_ns, duration_ns). */
eval_results_t *eval_results_new(uint64_t duration_ns, uint64_t warmup_ns);
void eval_results_free(eval_results_t *r);
bool eval_results_warm(const eval_results_t *r, uint64_t t_sched);
/* Every event names the scheduled time of its request, which decides
 * whether it is warm-up and which second of the series it lands in. */
void eval_results_scheduled(eval_results_t *r, uint64_t t_sched);
void eval_results_sent(eval_results_t *r, uint64_t t_sched);
void eval_results_ok(eval_results_t *r, const struct eval_outcome *o);
void eval_results_error(eval_results_t *r, uint64_t t_sched,
			enum eval_error e);
void eval_results_connected(eval_results_t *r, uint64_t t_sched,
			    uint64_t connect_ns);
void eval_results_reused(eval_results_t *r, uint64_t t_sched);
void eval_results_cache_hit(eval_results_t *r, uint64_t t_sched);
/* A resolution sent to the resolver: its queries, and when it ended with
 * an answer, its time and the first address (NULL when none). */
void eval_results_resolution(eval_results_t *r, uint64_t t_sched,
			     unsigned queries, bool answered,
			     uint64_t dns_ns, const uint8_t *first_addr);

enum eval_counter {
	EVAL_C_SCHEDULED, EVAL_C_SENT, EVAL_C_COMPLETED, EVAL_C_OK,
	EVAL_C_WARMUP, EVAL_C_RESOLUTIONS, EVAL_C_CACHE_HITS,
	EVAL_C_QUERIES, EVAL_C_OPENED, EVAL_C_REUSED, EVAL_C_COUNT,
};

uint64_t eval_results_count(const eval_results_t *r, enum eval_counter c);
uint64_t eval_results_errors(const eval_results_t *r, enum eval_error e);
const eval_hist_t *eval_results_hist(const eval_results_t *r,
				     enum eval_hist_kind k);
/* Ok requests served by a pod (by X-Pod). */
uint64_t eval_results_pod(const eval_results_t *r, const char *pod);

/* The result object of the contract (docs: EVAL-CONTRACT.md); config and
 * extra ("loadgen" section) are stolen references, may be NULL. */
json_t *eval_results_json(const eval_results_t *r, json_t *config,
			  json_t *extra);
/* The per-second CSV, one line per second of scheduled time. */
int eval_results_write_series(const eval_results_t *r, const char *path);

/* ---- per-request event log (--events) -------------------------------- */

/* One finished request, for the failover experiment: when it was
 * scheduled and when it ended (ns of the run clock), its result, the pod
 * that served it (X-Pod), the address of its last connection and the one
 * it tried first (they differ after --try-next moved on). */
struct eval_event {
	uint64_t t_sched, t_end;
	int result;		/* -1: ok (2xx), else an enum eval_error */
	const char *pod;	/* NULL or "" when none */
	const uint8_t *addr;	/* 16 bytes, NULL when none (DNS failed) */
	const uint8_t *first;	/* 16 bytes, NULL when none */
};

/* The header of the log: the run clock's origin (CLOCK_MONOTONIC ns, the
 * clock a harness on this machine can stamp a fault with) and the column
 * names. Returns the length written, or 0 if cap is too small. */
size_t eval_event_header(char *buf, size_t cap, uint64_t t0_mono_ns);
/* One CSV line "t_sched_us,t_end_us,result,pod,addr,first\n" ("ok" or
 * the error's name; a comma or control byte of the pod becomes '_').
 * Returns the length written, or 0 if cap is too small. */
size_t eval_event_line(char *buf, size_t cap, const struct eval_event *e);

/* ---- addresses the load may go to ------------------------------------ */

/* True for addresses that stay on this machine or in an emulated
 * testbed: loopback, ULA fc00::/7, link-local, the documentation prefix
 * 2001:db8::/32, and IPv4-mapped 127/8, 10/8, 172.16/12, 192.168/16,
 * 198.18/15. Any other destination is refused, so a typo cannot send load
 * to the Internet. */
bool eval_addr6_allowed(const uint8_t a[16]);
bool eval_addr4_allowed(const uint8_t a[4]);

/* ---- DNS stub messages ----------------------------------------------- */

#define EVAL_DNS_MAX_ADDRS 8
#define EVAL_DNS_QUERY_MAX 300

enum eval_dns_status {
	EVAL_DNS_OK,		/* NOERROR with at least one AAAA */
	EVAL_DNS_NOANSWER,	/* NOERROR without AAAA */
	EVAL_DNS_NXDOMAIN,
	EVAL_DNS_SERVFAIL,
	EVAL_DNS_OTHER,		/* another RCODE, or truncated (TC) */
	EVAL_DNS_MISMATCH,	/* not the answer to this query: drop */
	EVAL_DNS_MALFORMED,	/* not a parseable response: drop */
};

struct eval_dns_answer {
	unsigned rcode;
	unsigned naddr;
	uint8_t addr[EVAL_DNS_MAX_ADDRS][16];	/* in answer order */
	uint32_t ttl;		/* min TTL of the AAAA/CNAME records */
};

/* "web.svc.example" or "web.svc.example." to wire format. AS_EINVAL on an
 * empty label, a label over 63 bytes or a name over 255 bytes. */
int eval_dns_name(const char *name, uint8_t *wire, size_t cap, size_t *len);
/* A recursive AAAA IN query with EDNS(0) (UDP size 1232); returns its
 * length, 0 if cap is too small. */
size_t eval_dns_query(uint8_t *buf, size_t cap, uint16_t id,
		      const uint8_t *qname, size_t qlen);
/* The ID of a message; false if shorter than a header. */
bool eval_dns_id(const uint8_t *msg, size_t len, uint16_t *id);
/* Judges a response to the query (id, qname). */
enum eval_dns_status eval_dns_parse(const uint8_t *msg, size_t len,
				    uint16_t id, const uint8_t *qname,
				    size_t qlen, struct eval_dns_answer *out);

/* ---- per-identity DNS cache (browser-like: keep an answer for its TTL) */

typedef struct eval_dnscache eval_dnscache_t;

struct eval_addrs {
	unsigned n;
	uint8_t a[EVAL_DNS_MAX_ADDRS][16];
};

eval_dnscache_t *eval_dnscache_new(uint32_t identities, uint32_t names);
void eval_dnscache_free(eval_dnscache_t *c);
/* The cached addresses of (identity, name) if still fresh at now_ns. */
const struct eval_addrs *eval_dnscache_get(const eval_dnscache_t *c,
					   uint32_t ident, uint32_t name,
					   uint64_t now_ns);
/* Keeps an answer until now_ns + ttl_s (TTL 0: not kept). */
void eval_dnscache_put(eval_dnscache_t *c, uint32_t ident, uint32_t name,
		       const struct eval_dns_answer *a, uint64_t now_ns);
/* The resolution in flight for (identity, name), so concurrent requests
 * of one identity wait for one query as a browser does; NULL when none. */
void *eval_dnscache_pending(const eval_dnscache_t *c, uint32_t ident,
			    uint32_t name);
void eval_dnscache_set_pending(eval_dnscache_t *c, uint32_t ident,
			       uint32_t name, void *pending);

/* ---- HTTP/1.1 parsers ------------------------------------------------- */

#define EVAL_HTTP_LINE_MAX 1024
#define EVAL_HTTP_HEAD_MAX 65536	/* all header bytes of one message */
#define EVAL_POD_MAX 64

enum eval_http_rc {
	EVAL_HTTP_MORE,		/* consumed everything, message incomplete */
	EVAL_HTTP_DONE,		/* message complete; rest belongs to the next */
	EVAL_HTTP_ERROR,	/* protocol violation: close the connection */
};

/* Parser state; the fields are read-only results for the caller. */
struct eval_http_resp {
	int state;
	int status;		/* status code */
	bool keep_alive;	/* the connection may carry another request */
	bool chunked;
	bool no_body;		/* HEAD, 1xx, 204, 304 */
	int64_t content_length;	/* -1: none given */
	uint64_t remaining;	/* body or chunk bytes still expected */
	uint64_t body_bytes;
	size_t head_bytes;
	size_t line_len;
	bool line_overflow;
	char pod[EVAL_POD_MAX];	/* X-Pod, "" if absent */
	char line[EVAL_HTTP_LINE_MAX];
};

/* head_request: the request was HEAD (no body follows). */
void eval_http_resp_init(struct eval_http_resp *p, bool head_request);
/* Feeds bytes; *used says how many belong to this response. */
enum eval_http_rc eval_http_resp_feed(struct eval_http_resp *p,
				      const char *buf, size_t n, size_t *used);
/* The peer closed: DONE if the body was delimited by the close, else
 * ERROR (the response was cut short). */
enum eval_http_rc eval_http_resp_eof(struct eval_http_resp *p);

struct eval_http_req {
	int state;
	char method[16];
	char path[256];
	int minor;		/* HTTP/1.minor */
	bool keep_alive;
	int64_t content_length;
	uint64_t remaining;
	size_t head_bytes;
	size_t line_len;
	bool line_overflow;
	char line[EVAL_HTTP_LINE_MAX];
};

void eval_http_req_init(struct eval_http_req *p);
enum eval_http_rc eval_http_req_feed(struct eval_http_req *p,
				     const char *buf, size_t n, size_t *used);

#endif
