/*
 * tests/eval/src/results.c - what one load-generator run measured, and its
 * JSON and CSV forms (the contract in EVAL-CONTRACT.md).
 *
 * Every event is filed under the scheduled time of the request it belongs
 * to: that decides whether it is warm-up (left out of every figure but the
 * warm-up count) and which second of the time series it lands in. Latency
 * totals are counted from the scheduled time; TTFB from the moment the
 * request was written; connect and DNS times per new connection and per
 * resolution sent. Pod and address tables are bounded (MAP_MAX entries);
 * anything beyond lands in "(other)", so per_pod still adds up to ok.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/as.h"
#include "tests/eval/src/eval.h"

#define MAP_MAX 4096
#define SERIES_BITS 7		/* per-second histograms: < 1.6 % error */

struct pod_count {
	char name[EVAL_POD_MAX];
	uint64_t n;
};

struct addr_map {
	struct addr_count {
		uint8_t a[16];
		uint64_t n;
	} *v;
	size_t len, cap;
	uint64_t other;
};

struct second {
	uint64_t scheduled, ok, errors;
	eval_hist_t *h;		/* total latency of ok requests; lazy */
};

struct eval_results {
	uint64_t duration, warmup;
	uint64_t c[EVAL_C_COUNT];
	uint64_t err[EVAL_E_COUNT];
	eval_hist_t *h[EVAL_H_COUNT];
	struct pod_count *pods;
	size_t npods, cap_pods;
	uint64_t pods_other;
	struct addr_map per_addr, answers;
	struct second *sec;
	size_t nsec;
};

static const char *const error_names[EVAL_E_COUNT] = {
	[EVAL_E_DNS_TIMEOUT] = "dns_timeout",
	[EVAL_E_DNS_SERVFAIL] = "dns_servfail",
	[EVAL_E_DNS_NXDOMAIN] = "dns_nxdomain",
	[EVAL_E_DNS_NOANSWER] = "dns_noanswer",
	[EVAL_E_DNS_OTHER] = "dns_other",
	[EVAL_E_CONNECT_REFUSED] = "connect_refused",
	[EVAL_E_CONNECT_TIMEOUT] = "connect_timeout",
	[EVAL_E_CONNECT_OTHER] = "connect_other",
	[EVAL_E_RESET] = "reset",
	[EVAL_E_HTTP_TIMEOUT] = "http_timeout",
	[EVAL_E_HTTP_STATUS] = "http_status",
	[EVAL_E_HTTP_PARSE] = "http_parse",
	[EVAL_E_CLIENT_OVERLOAD] = "client_overload",
};

static const char *const hist_names[EVAL_H_COUNT] = {
	[EVAL_H_TOTAL] = "total", [EVAL_H_TTFB] = "ttfb",
	[EVAL_H_CONNECT] = "connect", [EVAL_H_DNS] = "dns",
};

const char *eval_error_name(enum eval_error e)
{
	return (unsigned)e < EVAL_E_COUNT ? error_names[e] : "unknown";
}

eval_results_t *eval_results_new(uint64_t duration_ns, uint64_t warmup_ns)
{
	eval_results_t *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->duration = duration_ns;
	r->warmup = warmup_ns < duration_ns ? warmup_ns : duration_ns;
	r->nsec = (size_t)((r->duration - r->warmup + EVAL_NS_PER_S - 1) /
			   EVAL_NS_PER_S);
	r->sec = calloc(r->nsec ? r->nsec : 1, sizeof(*r->sec));
	if (!r->sec)
		goto fail;
	for (int k = 0; k < EVAL_H_COUNT; k++)
		if (!(r->h[k] = eval_hist_new(EVAL_HIST_BITS)))
			goto fail;
	return r;
fail:
	eval_results_free(r);
	return NULL;
}

void eval_results_free(eval_results_t *r)
{
	if (!r)
		return;
	for (int k = 0; k < EVAL_H_COUNT; k++)
		eval_hist_free(r->h[k]);
	if (r->sec)
		for (size_t i = 0; i < r->nsec; i++)
			eval_hist_free(r->sec[i].h);
	free(r->sec);
	free(r->pods);
	free(r->per_addr.v);
	free(r->answers.v);
	free(r);
}

bool eval_results_warm(const eval_results_t *r, uint64_t t)
{
	return t < r->warmup;
}

static struct second *second_of(eval_results_t *r, uint64_t t)
{
	if (t < r->warmup)
		return NULL;
	uint64_t i = (t - r->warmup) / EVAL_NS_PER_S;
	return i < r->nsec ? &r->sec[i] : NULL;
}

static void pod_add(eval_results_t *r, const char *pod)
{
	for (size_t i = 0; i < r->npods; i++) {
		if (strcmp(r->pods[i].name, pod) == 0) {
			r->pods[i].n++;
			return;
		}
	}
	if (r->npods >= MAP_MAX || AS_GROW(r->pods, r->cap_pods, r->npods + 1)) {
		r->pods_other++;
		return;
	}
	struct pod_count *p = &r->pods[r->npods++];
	snprintf(p->name, sizeof(p->name), "%s", pod);
	p->n = 1;
}

static void addr_add(struct addr_map *m, const uint8_t a[16])
{
	for (size_t i = 0; i < m->len; i++) {
		if (memcmp(m->v[i].a, a, 16) == 0) {
			m->v[i].n++;
			return;
		}
	}
	if (m->len >= MAP_MAX || AS_GROW(m->v, m->cap, m->len + 1)) {
		m->other++;
		return;
	}
	memcpy(m->v[m->len].a, a, 16);
	m->v[m->len++].n = 1;
}

void eval_results_scheduled(eval_results_t *r, uint64_t t)
{
	if (eval_results_warm(r, t)) {
		r->c[EVAL_C_WARMUP]++;
		return;
	}
	r->c[EVAL_C_SCHEDULED]++;
	struct second *s = second_of(r, t);
	if (s)
		s->scheduled++;
}

void eval_results_sent(eval_results_t *r, uint64_t t)
{
	if (!eval_results_warm(r, t))
		r->c[EVAL_C_SENT]++;
}

static uint64_t us_between(uint64_t from, uint64_t to)
{
	return to > from ? (to - from) / EVAL_NS_PER_US : 0;
}

void eval_results_ok(eval_results_t *r, const struct eval_outcome *o)
{
	if (eval_results_warm(r, o->t_sched))
		return;
	uint64_t total = us_between(o->t_sched, o->t_done);
	r->c[EVAL_C_OK]++;
	r->c[EVAL_C_COMPLETED]++;
	eval_hist_record(r->h[EVAL_H_TOTAL], total);
	eval_hist_record(r->h[EVAL_H_TTFB], us_between(o->t_write, o->t_first));
	pod_add(r, o->pod ? o->pod : "");
	addr_add(&r->per_addr, o->addr);
	struct second *s = second_of(r, o->t_sched);
	if (s) {
		s->ok++;
		if (!s->h)
			s->h = eval_hist_new(SERIES_BITS);
		if (s->h)
			eval_hist_record(s->h, total);
	}
}

void eval_results_error(eval_results_t *r, uint64_t t, enum eval_error e)
{
	if (eval_results_warm(r, t) || (unsigned)e >= EVAL_E_COUNT)
		return;
	r->err[e]++;
	if (e != EVAL_E_CLIENT_OVERLOAD)
		r->c[EVAL_C_COMPLETED]++;
	struct second *s = second_of(r, t);
	if (s)
		s->errors++;
}

void eval_results_connected(eval_results_t *r, uint64_t t, uint64_t ns)
{
	if (eval_results_warm(r, t))
		return;
	r->c[EVAL_C_OPENED]++;
	eval_hist_record(r->h[EVAL_H_CONNECT], ns / EVAL_NS_PER_US);
}

void eval_results_reused(eval_results_t *r, uint64_t t)
{
	if (!eval_results_warm(r, t))
		r->c[EVAL_C_REUSED]++;
}

void eval_results_cache_hit(eval_results_t *r, uint64_t t)
{
	if (!eval_results_warm(r, t))
		r->c[EVAL_C_CACHE_HITS]++;
}

void eval_results_resolution(eval_results_t *r, uint64_t t, unsigned queries,
			     bool answered, uint64_t dns_ns,
			     const uint8_t *first)
{
	if (eval_results_warm(r, t))
		return;
	r->c[EVAL_C_RESOLUTIONS]++;
	r->c[EVAL_C_QUERIES] += queries;
	if (answered)
		eval_hist_record(r->h[EVAL_H_DNS], dns_ns / EVAL_NS_PER_US);
	if (first)
		addr_add(&r->answers, first);
}

uint64_t eval_results_count(const eval_results_t *r, enum eval_counter c)
{
	return (unsigned)c < EVAL_C_COUNT ? r->c[c] : 0;
}

uint64_t eval_results_errors(const eval_results_t *r, enum eval_error e)
{
	return (unsigned)e < EVAL_E_COUNT ? r->err[e] : 0;
}

const eval_hist_t *eval_results_hist(const eval_results_t *r,
				     enum eval_hist_kind k)
{
	return (unsigned)k < EVAL_H_COUNT ? r->h[k] : NULL;
}

uint64_t eval_results_pod(const eval_results_t *r, const char *pod)
{
	for (size_t i = 0; i < r->npods; i++)
		if (strcmp(r->pods[i].name, pod) == 0)
			return r->pods[i].n;
	return 0;
}

static json_t *addr_json(const struct addr_map *m)
{
	json_t *o = json_object();
	char buf[INET6_ADDRSTRLEN];

	for (size_t i = 0; o && i < m->len; i++) {
		inet_ntop(AF_INET6, m->v[i].a, buf, sizeof(buf));
		json_object_set_new(o, buf, json_integer((json_int_t)m->v[i].n));
	}
	if (o && m->other)
		json_object_set_new(o, "(other)", json_integer((json_int_t)m->other));
	return o;
}

json_t *eval_results_json(const eval_results_t *r, json_t *config,
			  json_t *extra)
{
	json_t *root = json_object(), *errors = json_object(),
	       *lat = json_object(), *pods = json_object(), *hist = json_object();
	double secs = (double)(r->duration - r->warmup) / 1e9;

	if (!root || !errors || !lat || !pods || !hist)
		goto fail;
	for (int e = 0; e < EVAL_E_COUNT; e++)
		json_object_set_new(errors, error_names[e],
				    json_integer((json_int_t)r->err[e]));
	for (int k = 0; k < EVAL_H_COUNT; k++)
		json_object_set_new(lat, hist_names[k],
				    eval_hist_summary_json(r->h[k]));
	for (size_t i = 0; i < r->npods; i++)
		json_object_set_new(pods, r->pods[i].name,
				    json_integer((json_int_t)r->pods[i].n));
	if (r->pods_other)
		json_object_set_new(pods, "(other)",
				    json_integer((json_int_t)r->pods_other));
	json_object_set_new(hist, "total", eval_hist_json(r->h[EVAL_H_TOTAL]));
	json_object_set_new(hist, "ttfb", eval_hist_json(r->h[EVAL_H_TTFB]));

	json_object_set_new(root, "config", config ? config : json_object());
	config = NULL;
	json_object_set_new(root, "duration_s", json_real(secs));
	json_object_set_new(root, "scheduled", json_integer((json_int_t)r->c[EVAL_C_SCHEDULED]));
	json_object_set_new(root, "sent", json_integer((json_int_t)r->c[EVAL_C_SENT]));
	json_object_set_new(root, "completed", json_integer((json_int_t)r->c[EVAL_C_COMPLETED]));
	json_object_set_new(root, "ok", json_integer((json_int_t)r->c[EVAL_C_OK]));
	json_object_set_new(root, "achieved_rps",
			    json_real(secs > 0 ? (double)r->c[EVAL_C_OK] / secs : 0.0));
	json_object_set_new(root, "warmup_requests", json_integer((json_int_t)r->c[EVAL_C_WARMUP]));
	json_object_set_new(root, "errors", errors);
	json_object_set_new(root, "latency_us", lat);
	json_object_set_new(root, "dns", json_pack("{s:I,s:I,s:I,s:o}",
		"resolutions", (json_int_t)r->c[EVAL_C_RESOLUTIONS],
		"cache_hits", (json_int_t)r->c[EVAL_C_CACHE_HITS],
		"queries_sent", (json_int_t)r->c[EVAL_C_QUERIES],
		"answers_by_address", addr_json(&r->answers)));
	json_object_set_new(root, "connections", json_pack("{s:I,s:I}",
		"opened", (json_int_t)r->c[EVAL_C_OPENED],
		"reused_requests", (json_int_t)r->c[EVAL_C_REUSED]));
	json_object_set_new(root, "per_pod", pods);
	json_object_set_new(root, "per_address", addr_json(&r->per_addr));
	json_object_set_new(root, "histogram", hist);
	if (extra)
		json_object_set_new(root, "loadgen", extra);
	return root;
fail:
	json_decref(root);
	json_decref(errors);
	json_decref(lat);
	json_decref(pods);
	json_decref(hist);
	json_decref(config);
	json_decref(extra);
	return NULL;
}

int eval_results_write_series(const eval_results_t *r, const char *path)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return -errno;
	fprintf(f, "t,scheduled,ok,errors,p50_us,p99_us,max_us\n");
	for (size_t i = 0; i < r->nsec; i++) {
		const struct second *s = &r->sec[i];
		uint64_t p50 = 0, p99 = 0, max = 0;
		if (s->h) {
			p50 = eval_hist_percentile(s->h, 500000);
			p99 = eval_hist_percentile(s->h, 990000);
			max = eval_hist_max(s->h);
		}
		fprintf(f, "%zu,%llu,%llu,%llu,%llu,%llu,%llu\n", i,
			(unsigned long long)s->scheduled,
			(unsigned long long)s->ok, (unsigned long long)s->errors,
			(unsigned long long)p50, (unsigned long long)p99,
			(unsigned long long)max);
	}
	if (fclose(f) != 0)
		return -errno;
	return AS_OK;
}

/* ---- per-request event log ------------------------------------------- */

size_t eval_event_header(char *buf, size_t cap, uint64_t t0_mono_ns)
{
	int n = snprintf(buf, cap,
			 "# as-loadgen events t0_monotonic_ns=%llu\n"
			 "t_sched_us,t_end_us,result,pod,addr,first\n",
			 (unsigned long long)t0_mono_ns);
	return n < 0 || (size_t)n >= cap ? 0 : (size_t)n;
}

size_t eval_event_line(char *buf, size_t cap, const struct eval_event *e)
{
	char pod[EVAL_POD_MAX], addr[INET6_ADDRSTRLEN] = "",
	     first[INET6_ADDRSTRLEN] = "";
	const char *res = e->result < 0 ? "ok"
					: eval_error_name((enum eval_error)e->result);
	size_t k = 0;

	for (const char *p = e->pod ? e->pod : ""; *p && k + 1 < sizeof(pod); p++)
		pod[k++] = (*p == ',' || (unsigned char)*p < 0x20) ? '_' : *p;
	pod[k] = '\0';
	if (e->addr)
		inet_ntop(AF_INET6, e->addr, addr, sizeof(addr));
	if (e->first)
		inet_ntop(AF_INET6, e->first, first, sizeof(first));
	int n = snprintf(buf, cap, "%llu,%llu,%s,%s,%s,%s\n",
			 (unsigned long long)(e->t_sched / EVAL_NS_PER_US),
			 (unsigned long long)(e->t_end / EVAL_NS_PER_US),
			 res, pod, addr, first);
	return n < 0 || (size_t)n >= cap ? 0 : (size_t)n;
}
