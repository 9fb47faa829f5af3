/*
 * gossip/wire.c - msgpack encoding and bounded decoding of gossip messages.
 *
 * Encoding goes through msgpack-c's packer writing into a fixed buffer
 * with a sticky overflow flag, so a message either fits whole or fails
 * with AS_ESPACE. Decoding uses a small cursor of our own with a sticky
 * error (the wire_ctx idea from Knot DNS) instead of msgpack_unpack: the
 * latter sizes its zone from declared container counts, so a 1 KB packet
 * claiming four billion elements would ask for gigabytes. Here every
 * declared count is checked against the bytes that remain before anything
 * is allocated, nesting is limited when skipping unknown fields, and every
 * rejection ends in one enum gossip_drop reason.
 *
 * Messages are arrays led by their type; a decoder skips trailing fields
 * it does not know, so later versions can append fields.
 */
#include <math.h>
#include <msgpack.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "gossip/gossip.h"
#include "gossip/internal.h"
#include "lib/as.h"

/* ---- names ---------------------------------------------------------- */

const char *gossip_state_name(enum gossip_state st)
{
	static const char *const names[] = { "alive", "suspect", "dead", "left" };
	return (unsigned)st < AS_ARRAY_SIZE(names) ? names[st] : "unknown";
}

const char *gossip_msg_type_name(int type)
{
	static const char *const names[] = {
		"none", "ping", "ping-req", "ack", "nack", "alive", "load",
		"suspect", "dead", "push-pull", "head", "pull",
	};
	_Static_assert(AS_ARRAY_SIZE(names) == GOSSIP_MSG_TYPE_COUNT, "a name for every type");
	return type >= 0 && (size_t)type < AS_ARRAY_SIZE(names) ? names[type] : "unknown";
}

const char *gossip_drop_name(enum gossip_drop d)
{
	static const char *const names[] = {
		"short", "version", "flags", "plaintext", "encrypted", "auth",
		"malformed", "label", "replay", "too-big", "unknown-type", "self",
		"conn-limit", "source-limit", "timeout", "memory",
	};
	_Static_assert(AS_ARRAY_SIZE(names) == GOSSIP_DROP_COUNT, "a name for every drop");
	return (unsigned)d < AS_ARRAY_SIZE(names) ? names[d] : "unknown";
}

/* ---- encoding ------------------------------------------------------- */

struct wbuf {
	uint8_t *p;
	size_t len, used;
	bool overflow;
};

static int wbuf_write(void *data, const char *buf, size_t len)
{
	struct wbuf *w = data;
	if (w->overflow || len > w->len - w->used) {
		w->overflow = true;
		return -1;
	}
	memcpy(w->p + w->used, buf, len);
	w->used += len;
	return 0;
}

static void pack_str(msgpack_packer *pk, const char *s)
{
	size_t n = strlen(s);
	msgpack_pack_str(pk, n);
	msgpack_pack_str_body(pk, s, n);
}

/* Addresses travel as bin: 16 bytes of IPv6 or 4 of IPv4, then the port
 * in network order. */
static void pack_addr(msgpack_packer *pk, const struct sockaddr_storage *ss)
{
	uint8_t b[18];
	size_t n = 0;
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)ss;
		memcpy(b, &s6->sin6_addr, 16);
		memcpy(b + 16, &s6->sin6_port, 2);
		n = 18;
	} else if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const void *)ss;
		memcpy(b, &s4->sin_addr, 4);
		memcpy(b + 4, &s4->sin_port, 2);
		n = 6;
	}
	msgpack_pack_bin(pk, n);
	msgpack_pack_bin_body(pk, b, n);
}

static uint32_t quant(double x)
{
	if (!(x > 0))	/* also NaN */
		return 0;
	if (x >= 1)
		return GOSSIP_QUANT;
	return (uint32_t)lround(x * GOSSIP_QUANT);
}

static void pack_load(msgpack_packer *pk, const struct gossip_load *l)
{
	msgpack_pack_array(pk, 4);
	msgpack_pack_uint32(pk, quant(l->util));
	msgpack_pack_uint32(pk, quant(l->psi));
	msgpack_pack_uint32(pk, l->cpus);
	msgpack_pack_uint32(pk, quant(l->factor));
}

/* Fields of a full record on the wire: the zone is sent only when set. */
static uint32_t record_fields(const struct gossip_record *r)
{
	return r->zone[0] ? 8 : 7;
}

/* name, addr, incarnation, version, ep_version, load */
static void pack_head(msgpack_packer *pk, const struct gossip_record *r)
{
	pack_str(pk, r->name);
	pack_addr(pk, &r->addr);
	msgpack_pack_uint32(pk, r->incarnation);
	msgpack_pack_uint64(pk, r->version);
	msgpack_pack_uint64(pk, r->ep_version);
	pack_load(pk, &r->load);
}

/* the head, then the endpoints[, zone] */
static void pack_record(msgpack_packer *pk, const struct gossip_record *r)
{
	pack_head(pk, r);
	msgpack_pack_array(pk, r->n_endpoints);
	for (uint32_t i = 0; i < r->n_endpoints; i++) {
		const struct gossip_endpoint *e = &r->endpoints[i];
		msgpack_pack_array(pk, 5);
		pack_str(pk, e->service);
		msgpack_pack_bin(pk, 16);
		msgpack_pack_bin_body(pk, e->addr, 16);
		msgpack_pack_uint16(pk, e->port);
		msgpack_pack_uint16(pk, e->weight);
		if (e->healthy)
			msgpack_pack_true(pk);
		else
			msgpack_pack_false(pk);
	}
	if (r->zone[0])
		pack_str(pk, r->zone);
}

/* The probe messages: PING, PING_REQ, and ACK/NACK (with the
 * coordinate when we send it). Returns AS_OK or the coordinate's error. */
static int pack_probe(msgpack_packer *pk, const struct gossip_msg *m)
{
	switch (m->type) {
	case GOSSIP_MSG_PING:
		msgpack_pack_array(pk, m->want_coord ? 4 : 3);
		msgpack_pack_uint8(pk, GOSSIP_MSG_PING);
		msgpack_pack_uint32(pk, m->seq);
		pack_str(pk, m->target);
		if (m->want_coord)	/* flags: 1 = coordinate wanted */
			msgpack_pack_uint8(pk, 1);
		break;
	case GOSSIP_MSG_PING_REQ:
		msgpack_pack_array(pk, 5);
		msgpack_pack_uint8(pk, GOSSIP_MSG_PING_REQ);
		msgpack_pack_uint32(pk, m->seq);
		pack_str(pk, m->target);
		pack_addr(pk, &m->addr);
		if (m->nack)
			msgpack_pack_true(pk);
		else
			msgpack_pack_false(pk);
		break;
	default:	/* ACK, NACK */
		msgpack_pack_array(pk, m->has_coord ? 3 : 2);
		msgpack_pack_uint8(pk, (uint8_t)m->type);
		msgpack_pack_uint32(pk, m->seq);
		if (m->has_coord) {
			uint8_t cb[GOSSIP_COORD_WIRE_LEN];
			int cl = gossip_coord_encode(&m->coord, cb, sizeof(cb));
			if (cl < 0)
				return cl;
			msgpack_pack_bin(pk, (size_t)cl);
			msgpack_pack_bin_body(pk, cb, (size_t)cl);
		}
		break;
	}
	return AS_OK;
}

/* A push-pull: flags, then the member list as [state, record...]. */
static void pack_pushpull(msgpack_packer *pk, const struct gossip_msg *m)
{
	msgpack_pack_array(pk, 3);
	msgpack_pack_uint8(pk, GOSSIP_MSG_PUSHPULL);
	msgpack_pack_uint8(pk, (uint8_t)((m->pp_reply ? 1 : 0) | (m->pp_join ? 2 : 0) |
					 (m->pp_digest ? 4 : 0)));
	msgpack_pack_array(pk, m->pp_count);
	for (uint32_t i = 0; i < m->pp_count; i++) {
		/* A digest entry has no endpoints and no zone: state,
		 * head, endpoint count; a whole one state + record. */
		msgpack_pack_array(pk, m->pp_digest ? 8 : 1 + record_fields(&m->pp_recs[i]));
		msgpack_pack_uint8(pk, m->pp_states[i]);
		if (m->pp_digest) {
			pack_head(pk, &m->pp_recs[i]);
			msgpack_pack_uint32(pk, m->pp_recs[i].n_endpoints);
		} else {
			pack_record(pk, &m->pp_recs[i]);
		}
	}
}

int gossip_msg_encode(const struct gossip_msg *m, uint8_t *buf, size_t len)
{
	struct wbuf w = { .p = buf, .len = len };
	msgpack_packer pk;
	int rc;
	msgpack_packer_init(&pk, &w, wbuf_write);

	switch (m->type) {
	case GOSSIP_MSG_PING:
	case GOSSIP_MSG_PING_REQ:
	case GOSSIP_MSG_ACK:
	case GOSSIP_MSG_NACK:
		rc = pack_probe(&pk, m);
		if (rc < 0)
			return rc;
		break;
	case GOSSIP_MSG_ALIVE:
		msgpack_pack_array(&pk, 1 + record_fields(&m->rec));
		msgpack_pack_uint8(&pk, GOSSIP_MSG_ALIVE);
		pack_record(&pk, &m->rec);
		break;
	case GOSSIP_MSG_HEAD:
		msgpack_pack_array(&pk, 8);
		msgpack_pack_uint8(&pk, GOSSIP_MSG_HEAD);
		pack_head(&pk, &m->rec);
		msgpack_pack_uint32(&pk, m->ep_count);
		break;
	case GOSSIP_MSG_PULL:
		msgpack_pack_array(&pk, 4);
		msgpack_pack_uint8(&pk, GOSSIP_MSG_PULL);
		pack_str(&pk, m->rec.name);
		msgpack_pack_uint32(&pk, m->rec.incarnation);
		msgpack_pack_uint64(&pk, m->rec.ep_version);
		break;
	case GOSSIP_MSG_LOAD:
		msgpack_pack_array(&pk, 6);
		msgpack_pack_uint8(&pk, GOSSIP_MSG_LOAD);
		pack_str(&pk, m->rec.name);
		msgpack_pack_uint32(&pk, m->rec.incarnation);
		msgpack_pack_uint64(&pk, m->rec.version);
		msgpack_pack_uint64(&pk, m->rec.ep_version);
		pack_load(&pk, &m->rec.load);
		break;
	case GOSSIP_MSG_SUSPECT:
	case GOSSIP_MSG_DEAD:
		msgpack_pack_array(&pk, 4);
		msgpack_pack_uint8(&pk, (uint8_t)m->type);
		pack_str(&pk, m->target);
		msgpack_pack_uint32(&pk, m->incarnation);
		pack_str(&pk, m->from);
		break;
	case GOSSIP_MSG_PUSHPULL:
		pack_pushpull(&pk, m);
		break;
	default:
		return AS_EINVAL;
	}
	if (w.overflow)
		return AS_ESPACE;
	return (int)w.used;
}

int gossip_envelope_encode(const char *label, const char *sender, uint32_t incarnation,
			   uint32_t seq,
			   const uint8_t *const *msgs, const size_t *msg_lens,
			   size_t n_msgs, uint8_t *buf, size_t len)
{
	struct wbuf w = { .p = buf, .len = len };
	msgpack_packer pk;
	msgpack_packer_init(&pk, &w, wbuf_write);
	msgpack_pack_array(&pk, 5);
	pack_str(&pk, label);
	pack_str(&pk, sender);
	msgpack_pack_uint32(&pk, incarnation);
	msgpack_pack_uint32(&pk, seq);
	msgpack_pack_array(&pk, n_msgs);
	for (size_t i = 0; i < n_msgs; i++)
		wbuf_write(&w, (const char *)msgs[i], msg_lens[i]);
	if (w.overflow || w.used > INT32_MAX)
		return AS_ESPACE;
	return (int)w.used;
}

/* Bytes an envelope adds around its messages, at most. */
size_t gossip_envelope_overhead(const char *label, const char *sender)
{
	return 1 + 2 + strlen(label) + 2 + strlen(sender) + 5 + 5 + 5;
}

/* ---- bounded decoding ----------------------------------------------- */

struct rd {
	const uint8_t *p;
	size_t len, off;
	bool err;
};

static size_t rd_left(const struct rd *r)
{
	return r->len - r->off;
}

static bool rd_take(struct rd *r, size_t n, const uint8_t **out)
{
	if (r->err || n > rd_left(r)) {
		r->err = true;
		return false;
	}
	*out = r->p + r->off;
	r->off += n;
	return true;
}

static uint64_t rd_be(struct rd *r, size_t n)
{
	const uint8_t *b;
	uint64_t v = 0;
	if (!rd_take(r, n, &b))
		return 0;
	for (size_t i = 0; i < n; i++)
		v = v << 8 | b[i];
	return v;
}

static uint8_t rd_byte(struct rd *r)
{
	return (uint8_t)rd_be(r, 1);
}

/* A container count must leave at least one byte per element. */
static uint32_t rd_array(struct rd *r)
{
	uint8_t t = rd_byte(r);
	uint64_t n;
	if (r->err)
		return 0;
	if ((t & 0xf0) == 0x90)
		n = t & 0x0f;
	else if (t == 0xdc)
		n = rd_be(r, 2);
	else if (t == 0xdd)
		n = rd_be(r, 4);
	else {
		r->err = true;
		return 0;
	}
	if (n > rd_left(r)) {
		r->err = true;
		return 0;
	}
	return (uint32_t)n;
}

static uint64_t rd_uint(struct rd *r)
{
	uint8_t t = rd_byte(r);
	if (r->err)
		return 0;
	if (t <= 0x7f)
		return t;
	switch (t) {
	case 0xcc: return rd_be(r, 1);
	case 0xcd: return rd_be(r, 2);
	case 0xce: return rd_be(r, 4);
	case 0xcf: return rd_be(r, 8);
	case 0xd0: case 0xd1: case 0xd2: case 0xd3: {
		size_t n = (size_t)1 << (t - 0xd0);
		uint64_t v = rd_be(r, n);
		if (v >> (n * 8 - 1)) /* negative */
			r->err = true;
		return v;
	}
	default:
		r->err = true;
		return 0;
	}
}

static uint32_t rd_u32(struct rd *r, uint32_t max)
{
	uint64_t v = rd_uint(r);
	if (v > max)
		r->err = true;
	return (uint32_t)v;
}

static bool rd_bool(struct rd *r)
{
	uint8_t t = rd_byte(r);
	if (t == 0xc3)
		return true;
	if (t != 0xc2)
		r->err = true;
	return false;
}

static size_t rd_strlike(struct rd *r, bool bin, const uint8_t **out)
{
	uint8_t t = rd_byte(r);
	uint64_t n;
	if (r->err)
		return 0;
	if (!bin && (t & 0xe0) == 0xa0)
		n = t & 0x1f;
	else if (t == (bin ? 0xc4 : 0xd9))
		n = rd_be(r, 1);
	else if (t == (bin ? 0xc5 : 0xda))
		n = rd_be(r, 2);
	else if (t == (bin ? 0xc6 : 0xdb))
		n = rd_be(r, 4);
	else {
		r->err = true;
		return 0;
	}
	if (!rd_take(r, (size_t)n, out))
		return 0;
	return (size_t)n;
}

/* A name: 1..max bytes, no NUL, copied and terminated. */
static void rd_name(struct rd *r, char *out, size_t max, bool allow_empty)
{
	const uint8_t *s = NULL;
	size_t n = rd_strlike(r, false, &s);
	out[0] = '\0';
	if (r->err)
		return;
	if (n > max || (n == 0 && !allow_empty) || (n && memchr(s, 0, n))) {
		r->err = true;
		return;
	}
	memcpy(out, s, n);
	out[n] = '\0';
}

static void rd_addr(struct rd *r, struct sockaddr_storage *ss)
{
	const uint8_t *b = NULL;
	size_t n = rd_strlike(r, true, &b);
	memset(ss, 0, sizeof(*ss));
	if (r->err)
		return;
	if (n == 18) {
		struct sockaddr_in6 *s6 = (void *)ss;
		s6->sin6_family = AF_INET6;
		memcpy(&s6->sin6_addr, b, 16);
		memcpy(&s6->sin6_port, b + 16, 2);
	} else if (n == 6) {
		struct sockaddr_in *s4 = (void *)ss;
		s4->sin_family = AF_INET;
		memcpy(&s4->sin_addr, b, 4);
		memcpy(&s4->sin_port, b + 4, 2);
	} else {
		r->err = true;
	}
}

/* Skips one object of any type; nesting is bounded. */
static void rd_skip(struct rd *r, int depth)
{
	const uint8_t *b;
	uint8_t t;
	uint64_t n = 0;
	if (r->err || depth > 8) {
		r->err = true;
		return;
	}
	t = rd_byte(r);
	if (r->err)
		return;
	if (t <= 0x7f || t >= 0xe0 || t == 0xc0 || t == 0xc2 || t == 0xc3)
		return;
	if ((t & 0xe0) == 0xa0) {
		rd_take(r, t & 0x1f, &b);
		return;
	}
	if ((t & 0xf0) == 0x90 || (t & 0xf0) == 0x80) {
		n = (t & 0x0f) * ((t & 0xf0) == 0x80 ? 2u : 1u);
		goto items;
	}
	switch (t) {
	case 0xcc: case 0xd0: rd_take(r, 1, &b); return;
	case 0xcd: case 0xd1: rd_take(r, 2, &b); return;
	case 0xce: case 0xd2: case 0xca: rd_take(r, 4, &b); return;
	case 0xcf: case 0xd3: case 0xcb: rd_take(r, 8, &b); return;
	case 0xc4: case 0xd9: rd_take(r, rd_be(r, 1), &b); return;
	case 0xc5: case 0xda: rd_take(r, rd_be(r, 2), &b); return;
	case 0xc6: case 0xdb: rd_take(r, rd_be(r, 4), &b); return;
	case 0xd4: rd_take(r, 2, &b); return;
	case 0xd5: rd_take(r, 3, &b); return;
	case 0xd6: rd_take(r, 5, &b); return;
	case 0xd7: rd_take(r, 9, &b); return;
	case 0xd8: rd_take(r, 17, &b); return;
	case 0xc7: rd_take(r, rd_be(r, 1) + 1, &b); return;
	case 0xc8: rd_take(r, rd_be(r, 2) + 1, &b); return;
	case 0xc9: rd_take(r, rd_be(r, 4) + 1, &b); return;
	case 0xdc: n = rd_be(r, 2); goto items;
	case 0xdd: n = rd_be(r, 4); goto items;
	case 0xde: n = rd_be(r, 2) * 2; goto items;
	case 0xdf: n = rd_be(r, 4) * 2; goto items;
	default: r->err = true; return;
	}
items:
	if (n > rd_left(r)) {
		r->err = true;
		return;
	}
	for (uint64_t i = 0; i < n && !r->err; i++)
		rd_skip(r, depth + 1);
}

/* Arena: a chain of blocks freed together. */
struct arena_blk {
	struct arena_blk *next;
	max_align_t data[];
};

static void *arena_alloc(struct gossip_packet *pkt, size_t n)
{
	struct arena_blk *b = calloc(1, sizeof(*b) + n);
	if (!b)
		return NULL;
	b->next = pkt->arena;
	pkt->arena = b;
	return b->data;
}

void gossip_packet_reset(struct gossip_packet *pkt)
{
	struct arena_blk *b = pkt->arena;
	while (b) {
		struct arena_blk *next = b->next;
		free(b);
		b = next;
	}
	pkt->arena = NULL;
	pkt->n_msgs = 0;
	pkt->n_unknown = 0;
}

static double dequant(struct rd *r)
{
	return (double)rd_u32(r, GOSSIP_QUANT) / GOSSIP_QUANT;
}

static void rd_load(struct rd *r, struct gossip_load *l)
{
	uint32_t n = rd_array(r);
	if (n < 4) {
		r->err = true;
		return;
	}
	l->util = dequant(r);
	l->psi = dequant(r);
	l->cpus = rd_u32(r, 1u << 20);
	l->factor = dequant(r);
	for (uint32_t i = 4; i < n && !r->err; i++)
		rd_skip(r, 1);
}

#define ENDPOINT_MIN_BYTES 23

static void rd_head(struct rd *r, struct gossip_record *rec)
{
	memset(rec, 0, sizeof(*rec));
	rd_name(r, rec->name, GOSSIP_NAME_MAX, false);
	rd_addr(r, &rec->addr);
	rec->incarnation = rd_u32(r, UINT32_MAX);
	rec->version = rd_uint(r);
	rec->ep_version = rd_uint(r);
	if (rec->ep_version > rec->version)
		r->err = true;
	rd_load(r, &rec->load);
}

/* The endpoint count is bounded by the bytes that carry them (so by the
 * packet) and by GOSSIP_ENDPOINTS_WIRE_MAX; what a member keeps of them
 * is the core's limit (max_endpoints). n_fields: how many record fields
 * the enclosing array holds (7 or more); the zone is the eighth when
 * there. */
static void rd_record(struct rd *r, struct gossip_packet *pkt,
		      struct gossip_record *rec, uint32_t n_fields)
{
	uint32_t n;
	rd_head(r, rec);
	n = rd_array(r);
	if (r->err)
		return;
	if (n > GOSSIP_ENDPOINTS_WIRE_MAX || n > rd_left(r) / ENDPOINT_MIN_BYTES) {
		r->err = true;
		return;
	}
	if (n == 0)
		goto zone;
	rec->endpoints = arena_alloc(pkt, n * sizeof(*rec->endpoints));
	if (!rec->endpoints) {
		r->err = true;
		return;
	}
	rec->n_endpoints = n;
	for (uint32_t i = 0; i < n && !r->err; i++) {
		struct gossip_endpoint *e = &rec->endpoints[i];
		const uint8_t *b = NULL;
		uint32_t fields = rd_array(r);
		if (fields < 5) {
			r->err = true;
			break;
		}
		rd_name(r, e->service, GOSSIP_SERVICE_MAX, false);
		if (rd_strlike(r, true, &b) != 16) {
			r->err = true;
			break;
		}
		memcpy(e->addr, b, 16);
		e->port = (uint16_t)rd_u32(r, UINT16_MAX);
		e->weight = (uint16_t)rd_u32(r, UINT16_MAX);
		e->healthy = rd_bool(r);
		for (uint32_t k = 5; k < fields && !r->err; k++)
			rd_skip(r, 2);
	}
zone:
	if (!r->err && n_fields > 7)
		rd_name(r, rec->zone, GOSSIP_ZONE_MAX, true);
}

#define PP_RECORD_MIN_BYTES 20

/* The fields of a push-pull: flags, then the sender's whole member list
 * as [state, record...] arrays, their count bounded by the bytes left. In
 * a digest (flag 4) each record's endpoints are replaced by their count. */
static void rd_pushpull(struct rd *r, struct gossip_packet *pkt, struct gossip_msg *m)
{
	uint32_t cnt, flags = rd_u32(r, 255);

	m->pp_reply = flags & 1;
	m->pp_join = flags & 2;
	m->pp_digest = flags & 4;
	cnt = rd_array(r);
	if (r->err || cnt > rd_left(r) / PP_RECORD_MIN_BYTES) {
		r->err = true;
		return;
	}
	m->pp_count = cnt;
	if (cnt == 0)
		return;
	m->pp_recs = arena_alloc(pkt, cnt * sizeof(*m->pp_recs));
	m->pp_states = arena_alloc(pkt, cnt);
	if (!m->pp_recs || !m->pp_states) {
		r->err = true;
		return;
	}
	for (uint32_t i = 0; i < cnt && !r->err; i++) {
		uint32_t f = rd_array(r), used;
		if (f < 8) {
			r->err = true;
			return;
		}
		m->pp_states[i] = (uint8_t)rd_u32(r, GOSSIP_STATE_COUNT - 1);
		if (m->pp_digest) {
			rd_head(r, &m->pp_recs[i]);
			rd_u32(r, GOSSIP_ENDPOINTS_WIRE_MAX);	/* their count */
			used = 8;
		} else {
			rd_record(r, pkt, &m->pp_recs[i], f - 1);
			used = f > 8 ? 9 : 8;
		}
		for (uint32_t k = used; k < f && !r->err; k++)
			rd_skip(r, 2);
	}
}

/* Optional fields of another type than ours (a later version's) are
 * skipped, not malformed. */
static bool rd_peek_uint(const struct rd *r)
{
	uint8_t t = rd_left(r) ? r->p[r->off] : 0xc1;
	return t <= 0x7f || (t >= 0xcc && t <= 0xcf);
}

static bool rd_peek_bin(const struct rd *r)
{
	uint8_t t = rd_left(r) ? r->p[r->off] : 0xc1;
	return t >= 0xc4 && t <= 0xc6;
}

/* An ACK's coordinate: a bad one (length, NaN, infinite, out of range)
 * is dropped and flagged for the core to count; the ack stands. */
static void rd_coord(struct rd *r, struct gossip_msg *m)
{
	const uint8_t *b = NULL;
	size_t n = rd_strlike(r, true, &b);
	if (r->err)
		return;
	if (gossip_coord_decode(b, n, &m->coord) == AS_OK)
		m->has_coord = true;
	else
		m->coord_bad = true;
}

/* The fields of a probe message (PING, PING_REQ, ACK/NACK) of n in all.
 * Returns how many fields are ours (the rest are skipped); more than n
 * when the message is too short. */
static uint32_t rd_probe(struct rd *r, struct gossip_msg *m, uint32_t n)
{
	switch (m->type) {
	case GOSSIP_MSG_PING:
		if (n < 3)
			return 3;
		m->seq = rd_u32(r, UINT32_MAX);
		rd_name(r, m->target, GOSSIP_NAME_MAX, false);
		if (n > 3 && !r->err && rd_peek_uint(r)) {
			m->want_coord = rd_uint(r) & 1;
			return 4;
		}
		return 3;
	case GOSSIP_MSG_PING_REQ:
		if (n < 5)
			return 5;
		m->seq = rd_u32(r, UINT32_MAX);
		rd_name(r, m->target, GOSSIP_NAME_MAX, false);
		rd_addr(r, &m->addr);
		m->nack = rd_bool(r);
		return 5;
	default:	/* ACK, NACK */
		if (n < 2)
			return 2;
		m->seq = rd_u32(r, UINT32_MAX);
		if (n > 2 && !r->err && m->type == GOSSIP_MSG_ACK &&
		    rd_peek_bin(r)) {
			rd_coord(r, m);
			return 3;
		}
		return 2;
	}
}

/* Decodes the fields after the type. Sets r->err on a malformed
 * message; *unknown is set for a type we do not know (skipped). */
static void rd_msg(struct rd *r, struct gossip_packet *pkt, struct gossip_msg *m,
		   bool *unknown)
{
	uint32_t n = rd_array(r), used = 1;
	uint64_t type;
	*unknown = false;
	if (n < 1) {
		r->err = true;
		return;
	}
	type = rd_uint(r);
	if (r->err)
		return;
	memset(m, 0, sizeof(*m));
	m->type = (int)(type < GOSSIP_MSG_TYPE_COUNT ? type : 0);
	switch (m->type) {
	case GOSSIP_MSG_PING:
	case GOSSIP_MSG_PING_REQ:
	case GOSSIP_MSG_ACK:
	case GOSSIP_MSG_NACK:
		used = rd_probe(r, m, n);
		break;
	case GOSSIP_MSG_ALIVE:
		if (n < (used = 8))
			break;
		rd_record(r, pkt, &m->rec, n - 1);
		used = n > 8 ? 9 : 8;
		break;
	case GOSSIP_MSG_HEAD:
		if (n < (used = 8))
			break;
		rd_head(r, &m->rec);
		m->ep_count = rd_u32(r, GOSSIP_ENDPOINTS_WIRE_MAX);
		break;
	case GOSSIP_MSG_PULL:
		if (n < (used = 4))
			break;
		rd_name(r, m->rec.name, GOSSIP_NAME_MAX, false);
		m->rec.incarnation = rd_u32(r, UINT32_MAX);
		m->rec.ep_version = rd_uint(r);
		break;
	case GOSSIP_MSG_LOAD:
		if (n < (used = 6))
			break;
		rd_name(r, m->rec.name, GOSSIP_NAME_MAX, false);
		m->rec.incarnation = rd_u32(r, UINT32_MAX);
		m->rec.version = rd_uint(r);
		m->rec.ep_version = rd_uint(r);
		if (m->rec.ep_version > m->rec.version)
			r->err = true;
		rd_load(r, &m->rec.load);
		break;
	case GOSSIP_MSG_SUSPECT:
	case GOSSIP_MSG_DEAD:
		if (n < (used = 4))
			break;
		rd_name(r, m->target, GOSSIP_NAME_MAX, false);
		m->incarnation = rd_u32(r, UINT32_MAX);
		rd_name(r, m->from, GOSSIP_NAME_MAX, false);
		break;
	case GOSSIP_MSG_PUSHPULL:
		if (n < (used = 3))
			break;
		rd_pushpull(r, pkt, m);
		break;
	default:
		*unknown = true;
		used = 1;
		break;
	}
	if (n < used)
		r->err = true;
	for (uint32_t i = used; i < n && !r->err; i++)
		rd_skip(r, 1);
}

int gossip_envelope_decode(const uint8_t *buf, size_t len,
			   struct gossip_packet *pkt, enum gossip_drop *why)
{
	struct rd r = { .p = buf, .len = len };
	uint32_t fields, n;

	pkt->n_msgs = 0;
	pkt->n_unknown = 0;
	fields = rd_array(&r);
	if (fields < 5)
		goto malformed;
	rd_name(&r, pkt->label, GOSSIP_LABEL_MAX, true);
	rd_name(&r, pkt->sender, GOSSIP_NAME_MAX, false);
	pkt->incarnation = rd_u32(&r, UINT32_MAX);
	pkt->seq = rd_uint(&r);
	n = rd_array(&r);
	if (r.err)
		goto malformed;
	for (uint32_t i = 0; i < n; i++) {
		bool unknown;
		size_t start = r.off;
		if (pkt->n_msgs >= GOSSIP_MSGS_MAX) {
			*why = GOSSIP_DROP_TOO_BIG;
			return AS_ELIMIT;
		}
		rd_msg(&r, pkt, &pkt->msgs[pkt->n_msgs], &unknown);
		if (r.err)
			goto malformed;
		pkt->msgs[pkt->n_msgs].wire_len = (uint32_t)(r.off - start);
		if (unknown)
			pkt->n_unknown++;
		else
			pkt->n_msgs++;
	}
	for (uint32_t i = 5; i < fields && !r.err; i++)
		rd_skip(&r, 1);
	if (r.err || r.off != r.len)
		goto malformed;
	return AS_OK;
malformed:
	*why = GOSSIP_DROP_MALFORMED;
	return AS_EMALFORMED;
}
