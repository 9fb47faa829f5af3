/*
 * srv6/prog.c - loads srv6/bpf/srv6.bpf.c through its libbpf skeleton
 * (srv6.skel.h, generated at build time by `bpftool gen skeleton`),
 * attaches it with tc (clsact, direct action) and writes its maps.
 *
 * The loader keeps its own table of installed keys: an LPM lookup returns
 * the longest match, not "is this exact key present", and the table also
 * remembers each key's counter slot so a path change keeps its counters.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/pkt_cls.h>

#include "lib/as.h"
#include "srv6/srv6.h"
#include "srv6/bpf/srv6_abi.h"
#include "srv6/srv6.skel.h"

_Static_assert(SRV6_SEGS_MAX == SRV6_MAX_SEGS, "segment limits differ");
_Static_assert((int)SRV6_ST_N == (int)SRV6_STAT_COUNT, "counter lists differ");

#define ATTACH_MAX 16

struct entry {
	struct srv6_key key;
	uint32_t slot;
};

struct attachment {
	int ifindex;
	enum srv6_hook hook;
	uint32_t handle;
	uint32_t priority;
};

struct srv6_prog {
	struct srv6_bpf *skel;
	struct entry *entries;		/* SRV6_MAX_ROUTES */
	size_t nentries;
	uint8_t slot_used[SRV6_MAX_ROUTES];
	struct attachment att[ATTACH_MAX];
	size_t natt;
	int ncpus;
	int stats_fd;			/* BPF_ENABLE_STATS, or -1 */
};

static int libbpf_to_log(enum libbpf_print_level level, const char *fmt,
			 va_list ap)
{
	char text[4096];
	size_t n;

	if (level == LIBBPF_DEBUG || !as_log_enabled(AS_LOG_DEBUG))
		return 0;
	/* One call can carry the verifier's whole log. */
	vsnprintf(text, sizeof(text), fmt, ap);
	n = strlen(text);
	if (n && text[n - 1] == '\n')
		text[n - 1] = '\0';
	as_log(AS_LOG_DEBUG, "srv6: libbpf: %s", text);
	return 0;
}

static void say(char *why, size_t whylen, const char *fmt, const char *arg)
{
	if (why && whylen)
		snprintf(why, whylen, fmt, arg);
}

int srv6_prog_open(srv6_prog_t **out, char *why, size_t whylen)
{
	struct srv6_prog *p;
	int err;

	*out = NULL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return AS_ENOMEM;
	p->entries = calloc(SRV6_MAX_ROUTES, sizeof(*p->entries));
	if (!p->entries) {
		err = AS_ENOMEM;
		goto fail;
	}
	p->stats_fd = -1;
	p->ncpus = libbpf_num_possible_cpus();
	if (p->ncpus <= 0) {
		err = p->ncpus ? p->ncpus : AS_ELIB;
		say(why, whylen, "cannot count the possible CPUs%s", "");
		goto fail;
	}
	libbpf_set_print(libbpf_to_log);
	p->skel = srv6_bpf__open_and_load();
	if (!p->skel) {
		err = -errno;
		if (err == -EPERM)
			say(why, whylen, "loading the SRv6 BPF programs needs "
			    "CAP_BPF and CAP_NET_ADMIN (%s)", strerror(-err));
		else
			say(why, whylen, "the kernel did not load the SRv6 BPF "
			    "programs (%s; the verifier's log is at debug "
			    "level); it needs BPF_PROG_TYPE_SCHED_CLS, LPM "
			    "tries and bpf_skb_adjust_room", strerror(-err));
		if (err >= 0)
			err = AS_ELIB;
		goto fail;
	}
	*out = p;
	return AS_OK;
fail:
	free(p->entries);
	free(p);
	return err;
}

static int prog_fd(struct srv6_prog *p, enum srv6_hook hook)
{
	return bpf_program__fd(hook == SRV6_EGRESS ? p->skel->progs.srv6_egress
				: p->skel->progs.srv6_ingress);
}

static void hook_for(struct bpf_tc_hook *h, int ifindex, enum srv6_hook hook)
{
	memset(h, 0, sizeof(*h));
	h->sz = sizeof(*h);
	h->ifindex = ifindex;
	h->attach_point = hook == SRV6_EGRESS ? BPF_TC_EGRESS : BPF_TC_INGRESS;
}

void srv6_prog_free(srv6_prog_t *p)
{
	if (!p)
		return;
	/* Our filters go; the clsact qdisc stays (others may use it). */
	for (size_t i = 0; i < p->natt; i++) {
		struct bpf_tc_hook h;
		LIBBPF_OPTS(bpf_tc_opts, o, .handle = p->att[i].handle,
			    .priority = p->att[i].priority);

		hook_for(&h, p->att[i].ifindex, p->att[i].hook);
		bpf_tc_detach(&h, &o);
	}
	if (p->stats_fd >= 0)
		close(p->stats_fd);
	srv6_bpf__destroy(p->skel);
	free(p->entries);
	free(p);
}

int srv6_prog_attach(srv6_prog_t *p, int ifindex, enum srv6_hook hook)
{
	struct bpf_tc_hook h;
	LIBBPF_OPTS(bpf_tc_opts, o, .prog_fd = prog_fd(p, hook));
	int err;

	if (p->natt == ATTACH_MAX)
		return AS_ELIMIT;
	hook_for(&h, ifindex, hook);
	err = bpf_tc_hook_create(&h);
	if (err && err != -EEXIST)
		return err;
	err = bpf_tc_attach(&h, &o);
	if (err)
		return err;
	p->att[p->natt++] = (struct attachment){ ifindex, hook, o.handle,
						 o.priority };
	return AS_OK;
}

static void make_key(const struct srv6_match *m, struct srv6_key *k)
{
	memset(k, 0, sizeof(*k));
	k->prefixlen = SRV6_KEY_FIXED_BITS + m->plen;
	k->proto = m->proto;
	k->port[0] = m->port >> 8;
	k->port[1] = m->port & 0xff;
	/* Bits past the prefix are zero so equal matches give equal keys. */
	for (unsigned i = 0; i < 16; i++) {
		unsigned bits = m->plen > 8 * i ? m->plen - 8 * i : 0;

		if (bits >= 8)
			k->addr[i] = m->prefix.s6_addr[i];
		else if (bits)
			k->addr[i] = m->prefix.s6_addr[i] & (uint8_t)(0xff << (8 - bits));
	}
}

static struct entry *find(struct srv6_prog *p, const struct srv6_key *k)
{
	for (size_t i = 0; i < p->nentries; i++)
		if (!memcmp(&p->entries[i].key, k, sizeof(*k)))
			return &p->entries[i];
	return NULL;
}

static int zero_counters(struct srv6_prog *p, uint32_t slot)
{
	struct srv6_counter *z = calloc(p->ncpus, sizeof(*z));
	int err;

	if (!z)
		return AS_ENOMEM;
	err = bpf_map__update_elem(p->skel->maps.srv6_counters, &slot,
				   sizeof(slot), z, p->ncpus * sizeof(*z), BPF_ANY);
	free(z);
	return err;
}

int srv6_prog_steer_set(srv6_prog_t *p, const struct srv6_match *m,
			const struct srv6_steer *s)
{
	struct srv6_route v;
	struct srv6_key k;
	struct entry *e;
	uint32_t slot = 0;
	int err;

	if ((err = srv6_match_check(m)) || (err = srv6_steer_check(s)))
		return err;
	make_key(m, &k);
	e = find(p, &k);
	if (e) {
		slot = e->slot;
	} else {
		if (p->nentries == SRV6_MAX_ROUTES)
			return AS_ELIMIT;
		while (slot < SRV6_MAX_ROUTES && p->slot_used[slot])
			slot++;
		if (slot == SRV6_MAX_ROUTES)
			return AS_ELIMIT;
		if ((err = zero_counters(p, slot)))
			return err;
	}
	memset(&v, 0, sizeof(v));
	v.mode = s->mode == SRV6_MODE_ENCAP ? SRV6_ABI_ENCAP : SRV6_ABI_INSERT;
	v.nsegs = s->nsegs;
	v.mtu = s->mtu;
	v.counter = slot;
	v.generation = s->generation;
	if (s->last_is_dst || s->mode == SRV6_MODE_INSERT)
		v.flags |= SRV6_ABI_F_LAST_IS_DST;
	if (s->has_src) {
		v.flags |= SRV6_ABI_F_OUTER_SRC;
		memcpy(v.src, &s->src, 16);
	}
	/* The SRH lists segments last first. */
	for (unsigned i = 0; i < s->nsegs; i++)
		memcpy(v.segs[i], &s->segs[s->nsegs - 1 - i], 16);
	/* One write of the whole value: the trie swaps the node under RCU. */
	err = bpf_map__update_elem(p->skel->maps.srv6_routes, &k, sizeof(k),
				   &v, sizeof(v), BPF_ANY);
	if (err)
		return err == -E2BIG || err == -ENOSPC ? AS_ELIMIT : err;
	if (!e) {
		p->slot_used[slot] = 1;
		p->entries[p->nentries++] = (struct entry){ k, slot };
	}
	return AS_OK;
}

int srv6_prog_steer_del(srv6_prog_t *p, const struct srv6_match *m)
{
	struct srv6_key k;
	struct entry *e;
	int err;

	if ((err = srv6_match_check(m)))
		return err;
	make_key(m, &k);
	e = find(p, &k);
	if (!e)
		return AS_ENOTFOUND;
	err = bpf_map__delete_elem(p->skel->maps.srv6_routes, &k, sizeof(k), 0);
	if (err && err != -ENOENT)
		return err;
	/* The slot is zeroed when it is handed out again. */
	p->slot_used[e->slot] = 0;
	*e = p->entries[--p->nentries];
	return AS_OK;
}

int srv6_prog_steer_counters(srv6_prog_t *p, const struct srv6_match *m,
			     uint64_t *packets, uint64_t *bytes)
{
	struct srv6_counter *c;
	struct srv6_key k;
	struct entry *e;
	int err;

	if ((err = srv6_match_check(m)))
		return err;
	make_key(m, &k);
	if (!(e = find(p, &k)))
		return AS_ENOTFOUND;
	c = calloc(p->ncpus, sizeof(*c));
	if (!c)
		return AS_ENOMEM;
	err = bpf_map__lookup_elem(p->skel->maps.srv6_counters, &e->slot,
				   sizeof(e->slot), c, p->ncpus * sizeof(*c), 0);
	*packets = *bytes = 0;
	for (int i = 0; !err && i < p->ncpus; i++) {
		*packets += c[i].packets;
		*bytes += c[i].bytes;
	}
	free(c);
	return err;
}

int srv6_prog_local_sid_add(srv6_prog_t *p, const struct in6_addr *sid)
{
	uint32_t one = 1;
	int err = bpf_map__update_elem(p->skel->maps.srv6_local_sids, sid,
				       sizeof(*sid), &one, sizeof(one), BPF_ANY);

	return err == -E2BIG ? AS_ELIMIT : err;
}

int srv6_prog_local_sid_del(srv6_prog_t *p, const struct in6_addr *sid)
{
	int err = bpf_map__delete_elem(p->skel->maps.srv6_local_sids, sid,
				       sizeof(*sid), 0);

	return err == -ENOENT ? AS_ENOTFOUND : err;
}

int srv6_prog_stats(srv6_prog_t *p, uint64_t out[SRV6_ST_N])
{
	uint64_t *v = calloc(p->ncpus, sizeof(*v));
	int err = 0;

	if (!v)
		return AS_ENOMEM;
	for (uint32_t i = 0; !err && i < SRV6_ST_N; i++) {
		err = bpf_map__lookup_elem(p->skel->maps.srv6_stats, &i,
					   sizeof(i), v, p->ncpus * sizeof(*v), 0);
		out[i] = 0;
		for (int c = 0; !err && c < p->ncpus; c++)
			out[i] += v[c];
	}
	free(v);
	return err;
}

int srv6_prog_test_run(srv6_prog_t *p, enum srv6_hook hook, const void *in,
		       size_t inlen, void *out, size_t *outlen, int *verdict)
{
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = in,
		    .data_size_in = (uint32_t)inlen, .data_out = out,
		    .data_size_out = (uint32_t)*outlen, .repeat = 1);
	int err = bpf_prog_test_run_opts(prog_fd(p, hook), &o);

	if (err)
		return err;
	*outlen = o.data_size_out;
	*verdict = (int)o.retval;
	return AS_OK;
}

int srv6_prog_enable_run_stats(srv6_prog_t *p)
{
	int fd;

	if (p->stats_fd >= 0)
		return AS_OK;
	fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
	if (fd < 0)
		return fd;
	p->stats_fd = fd;
	return AS_OK;
}

int srv6_prog_run_stats(srv6_prog_t *p, enum srv6_hook hook, uint64_t *runs,
			uint64_t *run_ns)
{
	struct bpf_prog_info info;
	uint32_t len = sizeof(info);
	int err;

	memset(&info, 0, sizeof(info));
	err = bpf_obj_get_info_by_fd(prog_fd(p, hook), &info, &len);
	if (err)
		return err;
	*runs = info.run_cnt;
	*run_ns = info.run_time_ns;
	return AS_OK;
}
