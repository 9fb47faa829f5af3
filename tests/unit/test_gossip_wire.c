/*
 * Tests for gossip/wire.c and the sealing in gossip/crypto.c: every
 * message type round-trips, malformed input of every kind is rejected
 * with its reason, sealed packets only open with the right key and
 * label, stream frame headers authenticate their length, and the size
 * bounds of push-pull hold. Run with --write-corpus DIR to regenerate the fuzz seed corpus.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <netinet/in.h>

#include "gossip/gossip.h"
#include "gossip/internal.h"
#include "lib/as.h"

static struct gossip_endpoint eps[2];

static void make_record(struct gossip_record *r, const char *name)
{
	memset(r, 0, sizeof(*r));
	snprintf(r->name, sizeof(r->name), "%s", name);
	assert_int_equal(as_parse_sockaddr("[fd00::7]:7946", 7946, &r->addr), AS_OK);
	r->incarnation = 1700000000;
	r->version = 77;
	r->ep_version = 70;
	r->load.util = 0.42;
	r->load.psi = 0.05;
	r->load.cpus = 16;
	r->load.factor = 0.9;
	memset(eps, 0, sizeof(eps));
	snprintf(eps[0].service, sizeof(eps[0].service), "api");
	eps[0].addr[0] = 0xfd;
	eps[0].addr[15] = 1;
	eps[0].port = 443;
	eps[0].weight = 100;
	eps[0].healthy = true;
	snprintf(eps[1].service, sizeof(eps[1].service), "web");
	eps[1].addr[0] = 0xfd;
	eps[1].addr[15] = 2;
	eps[1].port = 8443;
	eps[1].weight = 5;
	eps[1].healthy = false;
	r->endpoints = eps;
	r->n_endpoints = 2;
}

/* Encodes msgs into a plaintext envelope; returns its length. */
static int envelope(const struct gossip_msg *msgs, size_t n, uint8_t *out, size_t outlen)
{
	static uint8_t bufs[8][4096];
	const uint8_t *ptr[8];
	size_t lens[8];
	for (size_t i = 0; i < n; i++) {
		int len = gossip_msg_encode(&msgs[i], bufs[i], sizeof(bufs[i]));
		assert_true(len > 0);
		ptr[i] = bufs[i];
		lens[i] = (size_t)len;
	}
	return gossip_envelope_encode("prod", "node-a", 3, 12345, ptr, lens, n, out, outlen);
}

static void sample_msgs(struct gossip_msg *m, struct gossip_record *pp)
{
	memset(m, 0, 8 * sizeof(*m));
	m[0].type = GOSSIP_MSG_PING;
	m[0].seq = 4000000000u;
	snprintf(m[0].target, sizeof(m[0].target), "node-b");
	m[1].type = GOSSIP_MSG_PING_REQ;
	m[1].seq = 9;
	snprintf(m[1].target, sizeof(m[1].target), "node-c");
	assert_int_equal(as_parse_sockaddr("192.0.2.1:7000", 0, &m[1].addr), AS_OK);
	m[1].nack = true;
	m[2].type = GOSSIP_MSG_ACK;
	m[2].seq = 10;
	m[3].type = GOSSIP_MSG_ALIVE;
	make_record(&m[3].rec, "node-d");
	m[4].type = GOSSIP_MSG_LOAD;
	make_record(&m[4].rec, "node-e");
	m[5].type = GOSSIP_MSG_SUSPECT;
	snprintf(m[5].target, sizeof(m[5].target), "node-f");
	snprintf(m[5].from, sizeof(m[5].from), "node-a");
	m[5].incarnation = 3;
	m[6].type = GOSSIP_MSG_DEAD;
	snprintf(m[6].target, sizeof(m[6].target), "node-g");
	snprintf(m[6].from, sizeof(m[6].from), "node-g");
	m[6].incarnation = 4;
	m[7].type = GOSSIP_MSG_PUSHPULL;
	m[7].pp_reply = true;
	m[7].pp_count = 2;
	make_record(&pp[0], "node-h");
	make_record(&pp[1], "node-i");
	pp[1].n_endpoints = 0;
	/* the zone is optional: with and without endpoints before it */
	snprintf(m[3].rec.zone, sizeof(m[3].rec.zone), "eu-west-1a");
	snprintf(pp[1].zone, sizeof(pp[1].zone), "rack.2_b");
	m[7].pp_recs = pp;
	static uint8_t states[2] = { GOSSIP_ALIVE, GOSSIP_SUSPECT };
	m[7].pp_states = states;
}

static void check_record(const struct gossip_record *a, const struct gossip_record *b, bool eps_too)
{
	assert_string_equal(a->name, b->name);
	assert_int_equal(a->incarnation, b->incarnation);
	assert_int_equal(a->version, b->version);
	/* quantised to 1/100 */
	assert_true(a->load.util > b->load.util - 0.006 && a->load.util < b->load.util + 0.006);
	assert_true(a->load.factor > b->load.factor - 0.006 && a->load.factor < b->load.factor + 0.006);
	assert_int_equal(a->load.cpus, b->load.cpus);
	if (!eps_too)
		return;
	assert_string_equal(a->zone, b->zone);
	assert_int_equal(a->ep_version, b->ep_version);
	assert_memory_equal(&a->addr, &b->addr, sizeof(struct sockaddr_in6));
	assert_int_equal(a->n_endpoints, b->n_endpoints);
	for (uint32_t i = 0; i < a->n_endpoints; i++) {
		assert_string_equal(a->endpoints[i].service, b->endpoints[i].service);
		assert_memory_equal(a->endpoints[i].addr, b->endpoints[i].addr, 16);
		assert_int_equal(a->endpoints[i].port, b->endpoints[i].port);
		assert_int_equal(a->endpoints[i].weight, b->endpoints[i].weight);
		assert_int_equal(a->endpoints[i].healthy, b->endpoints[i].healthy);
	}
}

static void test_roundtrip_all_types(void **state)
{
	struct gossip_msg m[8];
	struct gossip_record pp[2];
	static struct gossip_packet pkt;
	uint8_t buf[8192];
	enum gossip_drop why;
	int len;

	sample_msgs(m, pp);
	len = envelope(m, 8, buf, sizeof(buf));
	assert_true(len > 0);
	memset(&pkt, 0, sizeof(pkt));
	assert_int_equal(gossip_envelope_decode(buf, (size_t)len, &pkt, &why), AS_OK);
	assert_string_equal(pkt.label, "prod");
	assert_string_equal(pkt.sender, "node-a");
	assert_int_equal(pkt.seq, 12345);
	assert_int_equal(pkt.incarnation, 3);
	assert_int_equal(pkt.n_msgs, 8);
	assert_int_equal(pkt.msgs[0].type, GOSSIP_MSG_PING);
	assert_int_equal(pkt.msgs[0].seq, 4000000000u);
	assert_string_equal(pkt.msgs[0].target, "node-b");
	assert_int_equal(pkt.msgs[1].type, GOSSIP_MSG_PING_REQ);
	assert_true(pkt.msgs[1].nack);
	assert_int_equal(pkt.msgs[1].addr.ss_family, AF_INET);
	assert_memory_equal(&pkt.msgs[1].addr, &m[1].addr, sizeof(struct sockaddr_in));
	assert_int_equal(pkt.msgs[2].seq, 10);
	check_record(&pkt.msgs[3].rec, &m[3].rec, true);
	check_record(&pkt.msgs[4].rec, &m[4].rec, false);
	assert_int_equal(pkt.msgs[4].rec.n_endpoints, 0); /* load carries no endpoints */
	assert_string_equal(pkt.msgs[5].target, "node-f");
	assert_string_equal(pkt.msgs[5].from, "node-a");
	assert_int_equal(pkt.msgs[5].incarnation, 3);
	assert_int_equal(pkt.msgs[6].type, GOSSIP_MSG_DEAD);
	assert_true(pkt.msgs[7].pp_reply);
	assert_false(pkt.msgs[7].pp_join);
	assert_int_equal(pkt.msgs[7].pp_count, 2);
	check_record(&pkt.msgs[7].pp_recs[0], &pp[0], true);
	check_record(&pkt.msgs[7].pp_recs[1], &pp[1], true);
	assert_int_equal(pkt.msgs[7].pp_states[1], GOSSIP_SUSPECT);
	gossip_packet_reset(&pkt);
}

static int decode(const uint8_t *buf, size_t len, enum gossip_drop *why)
{
	static struct gossip_packet pkt;
	int rc;
	memset(&pkt, 0, sizeof(pkt));
	*why = GOSSIP_DROP_COUNT;
	rc = gossip_envelope_decode(buf, len, &pkt, why);
	gossip_packet_reset(&pkt);
	return rc;
}

static void test_truncation_everywhere(void **state)
{
	struct gossip_msg m[8];
	struct gossip_record pp[2];
	uint8_t buf[8192];
	enum gossip_drop why;
	int len;
	sample_msgs(m, pp);
	len = envelope(m, 8, buf, sizeof(buf));
	for (int i = 0; i < len; i++) {
		assert_int_equal(decode(buf, (size_t)i, &why), AS_EMALFORMED);
		assert_int_equal(why, GOSSIP_DROP_MALFORMED);
	}
	/* trailing garbage is malformed too */
	buf[len] = 0xc0;
	assert_int_equal(decode(buf, (size_t)len + 1, &why), AS_EMALFORMED);
}

static void test_hostile_counts(void **state)
{
	enum gossip_drop why;
	/* envelope claiming 2^32-1 messages in a 20-byte packet */
	uint8_t huge[] = { 0x95, 0xa1, 'p', 0xa1, 's', 0x01, 0x01, 0xdd, 0xff, 0xff, 0xff, 0xff,
			   0x91, 0x03 };
	/* push-pull claiming a million records */
	uint8_t pp[] = { 0x95, 0xa1, 'p', 0xa1, 's', 0x01, 0x01, 0x91,
			 0x93, 0x09, 0x00, 0xdd, 0x00, 0x0f, 0x42, 0x40, 0x00 };
	/* a name longer than allowed (64 bytes) */
	uint8_t longname[80] = { 0x95, 0xa1, 'p', 0xd9, 64 };
	/* deep nesting in a field we would skip */
	uint8_t deep[64] = { 0x95, 0xa1, 'p', 0xa1, 's', 0x01, 0x01, 0x91, 0x93, 0x03, 0x01 };
	/* a negative integer where a seq is expected */
	uint8_t neg[] = { 0x95, 0xa1, 'p', 0xa1, 's', 0x01, 0x01, 0x91, 0x92, 0x03, 0xff };
	/* a name with a NUL inside */
	uint8_t nul[] = { 0x95, 0xa1, 'p', 0xa3, 'a', 0, 'b', 0x01, 0x01, 0x90 };
	/* unknown message type 99 with fields: skipped and counted */
	uint8_t unk[] = { 0x95, 0xa1, 'p', 0xa1, 's', 0x01, 0x01, 0x92, 0x93, 0x63, 0x01, 0xa1, 'x',
			  0x92, 0x03, 0x05 };
	static struct gossip_packet pkt;

	assert_int_equal(decode(huge, sizeof(huge), &why), AS_EMALFORMED);
	assert_int_equal(decode(pp, sizeof(pp), &why), AS_EMALFORMED);
	memset(longname + 5, 'x', 64);
	longname[69] = 0x01;
	longname[70] = 0x01;
	longname[71] = 0x90;
	assert_int_equal(decode(longname, 72, &why), AS_EMALFORMED);
	longname[4] = 63;	/* 63 bytes is allowed: the same shape decodes */
	memmove(longname + 68, longname + 69, 3);
	assert_int_equal(decode(longname, 71, &why), AS_OK);
	for (int i = 11; i < 40; i++)
		deep[i] = 0x91;
	deep[40] = 0x01;
	assert_int_equal(decode(deep, 41, &why), AS_EMALFORMED);
	assert_int_equal(decode(neg, sizeof(neg), &why), AS_EMALFORMED);
	assert_int_equal(decode(nul, sizeof(nul), &why), AS_EMALFORMED);
	memset(&pkt, 0, sizeof(pkt));
	assert_int_equal(gossip_envelope_decode(unk, sizeof(unk), &pkt, &why), AS_OK);
	assert_int_equal(pkt.n_unknown, 1);
	assert_int_equal(pkt.n_msgs, 1);
	assert_int_equal(pkt.msgs[0].type, GOSSIP_MSG_ACK);
	assert_int_equal(pkt.msgs[0].seq, 5);
	gossip_packet_reset(&pkt);
}

static void test_extra_fields_skipped(void **state)
{
	/* an ACK with two extra trailing fields from a later version */
	uint8_t fwd[] = { 0x95, 0xa1, 'p', 0xa1, 's', 0x01, 0x01, 0x91,
			  0x94, 0x03, 0x07, 0x81, 0xa1, 'k', 0xc3, 0xcb, 0, 0, 0, 0, 0, 0, 0, 0 };
	static struct gossip_packet pkt;
	enum gossip_drop why;
	memset(&pkt, 0, sizeof(pkt));
	assert_int_equal(gossip_envelope_decode(fwd, sizeof(fwd), &pkt, &why), AS_OK);
	assert_int_equal(pkt.n_msgs, 1);
	assert_int_equal(pkt.msgs[0].seq, 7);
	gossip_packet_reset(&pkt);
}

/* Network coordinates: a PING's flags field and an ACK's coordinate are
 * optional (older peers neither send nor expect them); a bad coordinate
 * is dropped and flagged while the ack stands; other types in those
 * places are a later version's and skipped. */
static struct gossip_packet coord_pkt;

static const struct gossip_msg *decode_one(const uint8_t *buf, size_t len)
{
	enum gossip_drop why;
	gossip_packet_reset(&coord_pkt);
	memset(&coord_pkt, 0, sizeof(coord_pkt));
	assert_int_equal(gossip_envelope_decode(buf, len, &coord_pkt, &why), AS_OK);
	assert_int_equal(coord_pkt.n_msgs, 1);
	return &coord_pkt.msgs[0];
}

static void sample_coord(struct gossip_coord *c)
{
	gossip_coord_init(c);
	for (int i = 0; i < GOSSIP_COORD_DIMS; i++)
		c->vec[i] = 0.25 * i - 1;
	c->height = 0.5;
	c->error = 0.125;
	c->adjustment = -0.0625;
}

static void test_coordinate_fields(void **state)
{
	struct gossip_msg m;
	const struct gossip_msg *d;
	uint8_t buf[512], a[256], b[256];
	int len, la, lb;
	enum gossip_drop why;

	(void)state;
	memset(&m, 0, sizeof(m));
	m.type = GOSSIP_MSG_PING;
	m.seq = 5;
	snprintf(m.target, sizeof(m.target), "node-b");
	la = gossip_msg_encode(&m, a, sizeof(a));
	m.want_coord = true;
	lb = gossip_msg_encode(&m, b, sizeof(b));
	assert_int_equal(lb, la + 1);	/* the flag costs one byte */
	len = envelope(&m, 1, buf, sizeof(buf));
	d = decode_one(buf, (size_t)len);
	assert_true(d->want_coord);
	m.want_coord = false;
	len = envelope(&m, 1, buf, sizeof(buf));
	assert_false(decode_one(buf, (size_t)len)->want_coord);

	memset(&m, 0, sizeof(m));
	m.type = GOSSIP_MSG_ACK;
	m.seq = 6;
	la = gossip_msg_encode(&m, a, sizeof(a));
	m.has_coord = true;
	sample_coord(&m.coord);
	lb = gossip_msg_encode(&m, b, sizeof(b));
	assert_int_equal(lb, la + 2 + GOSSIP_COORD_WIRE_LEN);
	len = envelope(&m, 1, buf, sizeof(buf));
	d = decode_one(buf, (size_t)len);
	assert_true(d->has_coord);
	assert_false(d->coord_bad);
	assert_int_equal(d->seq, 6);
	assert_memory_equal(&d->coord, &m.coord, sizeof(m.coord));
	/* cut anywhere: malformed, never a crash */
	for (int i = 0; i < len; i++)
		assert_int_equal(decode(buf, (size_t)i, &why), AS_EMALFORMED);

	/* a bad coordinate (NaN in the vector; an error past the maximum):
	 * the ack decodes, the coordinate is dropped and flagged */
	static const uint8_t nan32[4] = { 0x7f, 0xc0, 0, 0 }, big_err[4] = { 0x41, 0x20, 0, 0 };
	for (int k = 0; k < 2; k++) {
		lb = gossip_msg_encode(&m, b, sizeof(b));
		/* 0x93 type seq 0xc4 len: the body starts at 5 */
		assert_int_equal(b[3], 0xc4);
		memcpy(b + 5 + (k ? 4 * (GOSSIP_COORD_DIMS + 1) : 0), k ? big_err : nan32, 4);
		const uint8_t *bp[1] = { b };
		size_t bl[1] = { (size_t)lb };
		len = gossip_envelope_encode("prod", "node-a", 3, 1, bp, bl, 1, buf, sizeof(buf));
		d = decode_one(buf, (size_t)len);
		assert_false(d->has_coord);
		assert_true(d->coord_bad);
		assert_int_equal(d->seq, 6);
	}
	/* a bin of a length no coordinate has: flagged too */
	uint8_t short_bin[] = { 0x95, 0xa1, 'p', 0xa1, 's', 0x01, 0x01, 0x91,
				0x93, 0x03, 0x07, 0xc4, 0x03, 1, 2, 3 };
	d = decode_one(short_bin, sizeof(short_bin));
	assert_true(d->coord_bad && !d->has_coord);
	/* other types there (a later version's): skipped, not malformed */
	uint8_t ping_str[] = { 0x95, 0xa1, 'p', 0xa1, 's', 0x01, 0x01, 0x91,
			       0x94, 0x01, 0x07, 0xa1, 'x', 0xa2, 'h', 'i' };
	d = decode_one(ping_str, sizeof(ping_str));
	assert_false(d->want_coord);
	assert_string_equal(d->target, "x");
	uint8_t ack_str[] = { 0x95, 0xa1, 'p', 0xa1, 's', 0x01, 0x01, 0x91,
			      0x93, 0x03, 0x07, 0xa2, 'h', 'i' };
	d = decode_one(ack_str, sizeof(ack_str));
	assert_false(d->has_coord || d->coord_bad);
	/* a NACK never carries one (nor reads one) */
	uint8_t nack_bin[] = { 0x95, 0xa1, 'p', 0xa1, 's', 0x01, 0x01, 0x91,
			       0x93, 0x04, 0x07, 0xc4, 0x01, 0x00 };
	d = decode_one(nack_bin, sizeof(nack_bin));
	assert_false(d->has_coord || d->coord_bad);
	gossip_packet_reset(&coord_pkt);
}

static void test_encode_space(void **state)
{
	struct gossip_msg m[8];
	struct gossip_record pp[2];
	uint8_t small[16];
	sample_msgs(m, pp);
	assert_int_equal(gossip_msg_encode(&m[3], small, sizeof(small)), AS_ESPACE);
	m[0].type = 42;
	assert_int_equal(gossip_msg_encode(&m[0], small, sizeof(small)), AS_EINVAL);
}

static void test_seal_open(void **state)
{
	struct gossip_keyring *kr = gossip_keyring_new(), *other = gossip_keyring_new();
	uint8_t k1[32], k2[32], pkt[2048], plain[2048];
	const uint8_t msg[] = "hello envelope";
	enum gossip_drop why;
	int len, n;

	gossip_key_generate(k1);
	gossip_key_generate(k2);
	assert_int_equal(gossip_keyring_install(kr, k1), AS_OK);
	assert_int_equal(gossip_keyring_install(other, k2), AS_OK);
	len = gossip_seal(kr, "prod", msg, sizeof(msg), pkt, sizeof(pkt));
	assert_int_equal(len, (int)sizeof(msg) + GOSSIP_CRYPTO_OVERHEAD);
	assert_int_equal(pkt[0], GOSSIP_PROTO_VERSION);
	assert_null(memmem(pkt, (size_t)len, "hello", 5));	/* really encrypted */
	n = gossip_open(kr, false, "prod", pkt, (size_t)len, plain, sizeof(plain), &why);
	assert_int_equal(n, (int)sizeof(msg));
	assert_memory_equal(plain, msg, sizeof(msg));
	/* wrong key, wrong label, tampered byte, tampered header */
	assert_int_equal(gossip_open(other, false, "prod", pkt, (size_t)len, plain, sizeof(plain), &why), AS_EAUTH);
	assert_int_equal(why, GOSSIP_DROP_AUTH);
	assert_int_equal(gossip_open(kr, false, "test", pkt, (size_t)len, plain, sizeof(plain), &why), AS_EAUTH);
	pkt[30] ^= 1;
	assert_int_equal(gossip_open(kr, false, "prod", pkt, (size_t)len, plain, sizeof(plain), &why), AS_EAUTH);
	pkt[30] ^= 1;
	pkt[2 + 15] ^= 1;	/* the nonce's counter: the packet no longer opens */
	assert_int_equal(gossip_open(kr, false, "prod", pkt, (size_t)len, plain, sizeof(plain), &why), AS_EAUTH);
	assert_int_equal(why, GOSSIP_DROP_AUTH);
	pkt[2 + 15] ^= 1;
	/* version 1 (24-byte nonce) and the stream header's 2 are not packets */
	for (uint8_t v = 1; v <= 2; v++) {
		pkt[0] = v;
		assert_int_equal(gossip_open(kr, false, "prod", pkt, (size_t)len, plain, sizeof(plain), &why),
				 AS_EVERSION);
		assert_int_equal(why, GOSSIP_DROP_VERSION);
	}
	pkt[0] = GOSSIP_PROTO_VERSION;
	/* one byte short of header, nonce and tag; and the tag cut by one */
	assert_int_equal(gossip_open(kr, false, "prod", pkt, GOSSIP_CRYPTO_OVERHEAD - 1, plain,
				     sizeof(plain), &why), AS_ETRUNC);
	assert_int_equal(why, GOSSIP_DROP_SHORT);
	assert_int_equal(gossip_open(kr, false, "prod", pkt, (size_t)len - 1, plain, sizeof(plain), &why),
			 AS_EAUTH);
	pkt[1] = 0x81;
	assert_int_equal(gossip_open(kr, false, "prod", pkt, (size_t)len, plain, sizeof(plain), &why), AS_EMALFORMED);
	assert_int_equal(why, GOSSIP_DROP_FLAGS);
	assert_int_equal(gossip_open(kr, false, "prod", pkt, 1, plain, sizeof(plain), &why), AS_ETRUNC);
	assert_int_equal(why, GOSSIP_DROP_SHORT);
	pkt[1] = 1;
	assert_int_equal(gossip_open(kr, false, "prod", pkt, 20, plain, sizeof(plain), &why), AS_ETRUNC);
	/* a second key opens once installed: rotation */
	assert_int_equal(gossip_keyring_install(other, k1), AS_OK);
	assert_int_equal(gossip_open(other, false, "prod", pkt, (size_t)len, plain, sizeof(plain), &why), (int)sizeof(msg));

	/* plaintext: refused unless explicitly allowed and no keys */
	len = gossip_seal(NULL, "prod", msg, sizeof(msg), pkt, sizeof(pkt));
	assert_int_equal(len, (int)sizeof(msg) + 2);
	assert_int_equal(gossip_open(kr, true, "prod", pkt, (size_t)len, plain, sizeof(plain), &why), AS_EAUTH);
	assert_int_equal(why, GOSSIP_DROP_PLAINTEXT);
	assert_int_equal(gossip_open(NULL, false, "prod", pkt, (size_t)len, plain, sizeof(plain), &why), AS_EAUTH);
	assert_int_equal(gossip_open(NULL, true, "prod", pkt, (size_t)len, plain, sizeof(plain), &why), (int)sizeof(msg));
	/* encrypted packet at a plaintext node */
	len = gossip_seal(kr, "prod", msg, sizeof(msg), pkt, sizeof(pkt));
	assert_int_equal(gossip_open(NULL, true, "prod", pkt, (size_t)len, plain, sizeof(plain), &why), AS_EAUTH);
	assert_int_equal(why, GOSSIP_DROP_ENCRYPTED);
	gossip_keyring_free(kr);
	gossip_keyring_free(other);
}

/* The nonce a packet carries (16 bytes: a prefix per key epoch and a
 * counter, crypto.c) never repeats under a keyring: not over many packets,
 * not when the counter wraps (a new prefix), and a new primary key starts
 * a new prefix. Stream headers draw from the same counter. */
static int cmp_nonce(const void *a, const void *b)
{
	return memcmp(a, b, GOSSIP_PKT_NONCE_LEN);
}

static void test_nonce_unique(void **state)
{
	enum { N = 2000 };
	struct gossip_keyring *kr = gossip_keyring_new();
	uint8_t k1[32], k2[32], pkt[128], plain[128], hdr[64];
	static uint8_t seen[N + 4][GOSSIP_PKT_NONCE_LEN];
	const uint8_t msg[] = "x";
	enum gossip_drop why;
	size_t n = 0;
	int len;

	gossip_key_generate(k1);
	assert_int_equal(gossip_keyring_install(kr, k1), AS_OK);
	for (int i = 0; i < N; i++) {
		if (i == N / 2) {
			/* a stream header in between takes the next counter */
			assert_int_equal(gossip_stream_hdr_seal(kr, "prod", 5, hdr, sizeof(hdr)),
					 GOSSIP_STREAM_HDR_MAX);
			assert_memory_equal(hdr + 2 + GOSSIP_PKT_NONCE_LEN, (uint8_t[8]){ 0 }, 8);
			memcpy(seen[n++], hdr + 2, GOSSIP_PKT_NONCE_LEN);
		}
		len = gossip_seal(kr, "prod", msg, sizeof(msg), pkt, sizeof(pkt));
		assert_int_equal(len, (int)sizeof(msg) + GOSSIP_CRYPTO_OVERHEAD);
		memcpy(seen[n++], pkt + 2, GOSSIP_PKT_NONCE_LEN);
	}
	/* the counter wraps: the next packets get a new prefix and open */
	gossip_keyring_nonce_skip(kr, UINT32_MAX - 1);
	for (int i = 0; i < 2; i++) {
		len = gossip_seal(kr, "prod", msg, sizeof(msg), pkt, sizeof(pkt));
		assert_int_equal(gossip_open(kr, false, "prod", pkt, (size_t)len, plain, sizeof(plain),
					     &why), (int)sizeof(msg));
		memcpy(seen[n++], pkt + 2, GOSSIP_PKT_NONCE_LEN);
	}
	assert_memory_equal(seen[n - 2] + GOSSIP_NONCE_PREFIX, ((uint8_t[]){ 0xff, 0xff, 0xff, 0xfe }), 4);
	assert_memory_equal(seen[n - 1] + GOSSIP_NONCE_PREFIX, ((uint8_t[]){ 0, 0, 0, 0 }), 4);
	assert_memory_not_equal(seen[n - 1], seen[n - 2], GOSSIP_NONCE_PREFIX);
	/* the prefix stays for the epoch; a new primary draws a new one */
	assert_memory_equal(seen[0], seen[N / 2], GOSSIP_NONCE_PREFIX);
	gossip_key_generate(k2);
	assert_int_equal(gossip_keyring_install(kr, k2), AS_OK);
	assert_int_equal(gossip_keyring_use(kr, k2), AS_OK);
	len = gossip_seal(kr, "prod", msg, sizeof(msg), pkt, sizeof(pkt));
	assert_memory_not_equal(pkt + 2, seen[n - 1], GOSSIP_NONCE_PREFIX);
	memcpy(seen[n++], pkt + 2, GOSSIP_PKT_NONCE_LEN);
	qsort(seen, n, sizeof(seen[0]), cmp_nonce);
	for (size_t i = 1; i < n; i++)
		assert_memory_not_equal(seen[i - 1], seen[i], GOSSIP_PKT_NONCE_LEN);
	gossip_keyring_free(kr);
}

/* Stream frame headers: the length is authenticated like a packet, under
 * its own version byte, and nothing else opens as one. */
static void test_stream_header(void **state)
{
	struct gossip_keyring *kr = gossip_keyring_new(), *other = gossip_keyring_new();
	uint8_t k1[32], k2[32], hdr[64], pkt[256];
	const uint8_t v1_frame[] = { 0x04, 0x00, 0x00, 0x00 };	/* 64 MiB, bare */
	enum gossip_drop why;
	uint32_t body_len = 0;
	int len;

	gossip_key_generate(k1);
	gossip_key_generate(k2);
	assert_int_equal(gossip_keyring_install(kr, k1), AS_OK);
	assert_int_equal(gossip_keyring_install(other, k2), AS_OK);
	len = gossip_stream_hdr_seal(kr, "prod", 123456, hdr, sizeof(hdr));
	assert_int_equal(len, GOSSIP_STREAM_HDR_MAX);
	assert_int_equal(hdr[0], GOSSIP_STREAM_VERSION);
	assert_int_equal(gossip_stream_hdr_len(kr, false, hdr, &why), GOSSIP_STREAM_HDR_MAX);
	assert_int_equal(gossip_stream_hdr_open(kr, false, "prod", hdr, (size_t)len, &body_len, &why),
			 AS_OK);
	assert_int_equal(body_len, 123456);
	/* wrong key, wrong label, a flipped length bit, too short */
	assert_int_equal(gossip_stream_hdr_open(other, false, "prod", hdr, (size_t)len, &body_len,
						&why), AS_EAUTH);
	assert_int_equal(why, GOSSIP_DROP_AUTH);
	assert_int_equal(gossip_stream_hdr_open(kr, false, "test", hdr, (size_t)len, &body_len, &why),
			 AS_EAUTH);
	hdr[2 + 24] ^= 1;	/* past header and nonce */
	assert_int_equal(gossip_stream_hdr_open(kr, false, "prod", hdr, (size_t)len, &body_len, &why),
			 AS_EAUTH);
	hdr[2 + 24] ^= 1;	/* past header and nonce */
	assert_int_equal(gossip_stream_hdr_open(kr, false, "prod", hdr, 30, &body_len, &why),
			 AS_ETRUNC);
	/* a packet with the same plaintext is no header (the version byte is
	 * authenticated), and a header is no packet */
	const uint8_t be[4] = { 0, 1, 0xe2, 0x40 };
	len = gossip_seal(kr, "prod", be, sizeof(be), pkt, sizeof(pkt));
	assert_int_equal(gossip_stream_hdr_open(kr, false, "prod", pkt, (size_t)len, &body_len, &why),
			 AS_EVERSION);
	pkt[0] = GOSSIP_STREAM_VERSION;	/* its shorter nonce makes it short */
	assert_int_equal(gossip_stream_hdr_open(kr, false, "prod", pkt, (size_t)len, &body_len, &why),
			 AS_ETRUNC);
	const uint8_t be12[12] = { 0, 1, 0xe2, 0x40 };	/* a packet as long as a header */
	len = gossip_seal(kr, "prod", be12, sizeof(be12), pkt, sizeof(pkt));
	assert_int_equal(len, GOSSIP_STREAM_HDR_MAX);
	pkt[0] = GOSSIP_STREAM_VERSION;
	assert_int_equal(gossip_stream_hdr_open(kr, false, "prod", pkt, (size_t)len, &body_len, &why),
			 AS_EAUTH);
	len = gossip_stream_hdr_seal(kr, "prod", 7, hdr, sizeof(hdr));
	hdr[0] = GOSSIP_PROTO_VERSION;
	assert_int_equal(gossip_open(kr, false, "prod", hdr, (size_t)len, pkt, sizeof(pkt), &why),
			 AS_EAUTH);
	/* the stream framing before version 2: a bare length */
	assert_int_equal(gossip_stream_hdr_len(kr, false, v1_frame, &why), AS_EVERSION);
	assert_int_equal(why, GOSSIP_DROP_VERSION);
	hdr[0] = GOSSIP_STREAM_VERSION;
	hdr[1] = 0x81;
	assert_int_equal(gossip_stream_hdr_len(kr, false, hdr, &why), AS_EMALFORMED);
	assert_int_equal(why, GOSSIP_DROP_FLAGS);

	/* plaintext: 6 bytes, refused where gossip_open refuses plaintext */
	len = gossip_stream_hdr_seal(NULL, "prod", 0x01020304, hdr, sizeof(hdr));
	assert_int_equal(len, GOSSIP_STREAM_HDR_PLAIN);
	assert_memory_equal(hdr, ((uint8_t[]){ 2, 0, 1, 2, 3, 4 }), 6);
	assert_int_equal(gossip_stream_hdr_len(NULL, true, hdr, &why), GOSSIP_STREAM_HDR_PLAIN);
	assert_int_equal(gossip_stream_hdr_open(NULL, true, "prod", hdr, (size_t)len, &body_len, &why),
			 AS_OK);
	assert_int_equal(body_len, 0x01020304);
	assert_int_equal(gossip_stream_hdr_len(kr, true, hdr, &why), AS_EAUTH);
	assert_int_equal(why, GOSSIP_DROP_PLAINTEXT);
	assert_int_equal(gossip_stream_hdr_len(NULL, false, hdr, &why), AS_EAUTH);
	assert_int_equal(why, GOSSIP_DROP_PLAINTEXT);
	len = gossip_stream_hdr_seal(kr, "prod", 9, hdr, sizeof(hdr));
	assert_int_equal(gossip_stream_hdr_len(NULL, true, hdr, &why), AS_EAUTH);
	assert_int_equal(why, GOSSIP_DROP_ENCRYPTED);
	assert_int_equal(gossip_stream_hdr_seal(kr, "prod", 9, hdr, GOSSIP_STREAM_HDR_MAX - 1),
			 AS_ESPACE);
	gossip_keyring_free(kr);
	gossip_keyring_free(other);
}

/* The largest record of n endpoints: 63-byte names, top values. */
static void largest_record(struct gossip_record *r, struct gossip_endpoint *big, uint32_t n)
{
	memset(r, 0, sizeof(*r));
	memset(r->name, 'n', GOSSIP_NAME_MAX);
	assert_int_equal(as_parse_sockaddr("[fd00::7]:7946", 7946, &r->addr), AS_OK);
	r->incarnation = UINT32_MAX;
	r->version = r->ep_version = UINT64_MAX;
	r->load = (struct gossip_load){ .util = 0.5, .psi = 0.5, .cpus = 1u << 20, .factor = 0.5 };
	for (uint32_t i = 0; i < n; i++) {
		memset(big[i].service, 's', GOSSIP_SERVICE_MAX);
		big[i].addr[15] = (uint8_t)i;
		big[i].addr[14] = (uint8_t)(i >> 8);
		big[i].port = big[i].weight = UINT16_MAX;
		big[i].healthy = i % 3 != 0;
	}
	r->endpoints = big;
	r->n_endpoints = n;
	memset(r->zone, 'z', GOSSIP_ZONE_MAX);
}

/* GOSSIP_PP_RECORD_MAX(n) is what the encoder makes of the largest record
 * of n endpoints, and the frame bound follows from the push-pull cap. */
static void test_pushpull_bounds(void **state)
{
	static struct gossip_endpoint big[300];
	static uint8_t buf[65536];
	struct gossip_record r;
	struct gossip_config cfg;
	struct gossip_msg m;
	uint8_t state_alive = GOSSIP_ALIVE;
	int with, without;
	const uint32_t sizes[] = { 16, 32, 110, 300 };

	for (size_t k = 0; k < AS_ARRAY_SIZE(sizes); k++) {
		largest_record(&r, big, sizes[k]);
		memset(&m, 0, sizeof(m));
		m.type = GOSSIP_MSG_PUSHPULL;
		m.pp_recs = &r;
		m.pp_states = &state_alive;
		without = gossip_msg_encode(&m, buf, sizeof(buf));
		m.pp_count = 1;
		with = gossip_msg_encode(&m, buf, sizeof(buf));
		assert_true(without > 0 && with > 0);
		assert_int_equal(with - without, GOSSIP_PP_RECORD_MAX(sizes[k]));
	}
	/* the old bound of 32 endpoints (3034), and a 63-byte zone */
	assert_int_equal(GOSSIP_PP_RECORD_MAX(32), 3099);


	gossip_config_defaults(&cfg);
	assert_int_equal(gossip_stream_frame_max(&cfg),
			 cfg.pushpull_max_bytes + GOSSIP_CRYPTO_OVERHEAD);
	assert_int_equal(gossip_stream_budget(&cfg), 4 * gossip_stream_frame_max(&cfg));
	/* the default cap holds well over a thousand of the largest records
	 * of 32 endpoints, and 400 of 110 endpoints */
	assert_true(cfg.pushpull_max_bytes / GOSSIP_PP_RECORD_MAX(32) > 1000);
	assert_true(cfg.pushpull_max_bytes / GOSSIP_PP_RECORD_MAX(110) > 400);
	assert_int_equal(cfg.max_endpoints, GOSSIP_ENDPOINTS_DEFAULT);
}

/* Records of any size: a 300-endpoint ALIVE round-trips (in a buffer of
 * stream size), a HEAD carries the record without its endpoints and
 * their count, a PULL names the version wanted; cut anywhere, each is
 * malformed; counts over the wire bound are malformed. */
static void test_large_records(void **state)
{
	static struct gossip_endpoint big[300];
	static uint8_t buf[65536];
	static struct gossip_packet pkt;
	static uint8_t msgbuf[3][40000];
	struct gossip_msg m[3];
	const uint8_t *ptr[3];
	size_t lens[3];
	enum gossip_drop why;
	int len;

	memset(m, 0, sizeof(m));
	m[0].type = GOSSIP_MSG_ALIVE;
	largest_record(&m[0].rec, big, 300);
	m[1].type = GOSSIP_MSG_HEAD;
	make_record(&m[1].rec, "node-h");
	m[1].rec.endpoints = NULL;
	m[1].rec.n_endpoints = 0;
	m[1].ep_count = 110;
	m[2].type = GOSSIP_MSG_PULL;
	snprintf(m[2].rec.name, sizeof(m[2].rec.name), "node-h");
	m[2].rec.incarnation = 1700000000;
	m[2].rec.ep_version = 70;
	/* an ALIVE this size does not fit a datagram */
	assert_int_equal(gossip_msg_encode(&m[0], msgbuf[0], GOSSIP_UDP_MAX), AS_ESPACE);
	for (int i = 0; i < 3; i++) {
		len = gossip_msg_encode(&m[i], msgbuf[i], sizeof(msgbuf[i]));
		assert_true(len > 0);
		ptr[i] = msgbuf[i];
		lens[i] = (size_t)len;
	}
	assert_int_equal(lens[0], GOSSIP_PP_RECORD_MAX(300)); /* same shape as a push-pull entry */
	len = gossip_envelope_encode("prod", "node-a", 3, 1, ptr, lens, 3, buf, sizeof(buf));
	assert_true(len > 0);
	memset(&pkt, 0, sizeof(pkt));
	assert_int_equal(gossip_envelope_decode(buf, (size_t)len, &pkt, &why), AS_OK);
	assert_int_equal(pkt.n_msgs, 3);
	assert_int_equal(pkt.msgs[0].type, GOSSIP_MSG_ALIVE);
	check_record(&pkt.msgs[0].rec, &m[0].rec, true);
	assert_int_equal(pkt.msgs[1].type, GOSSIP_MSG_HEAD);
	check_record(&pkt.msgs[1].rec, &m[1].rec, false);
	assert_int_equal(pkt.msgs[1].rec.ep_version, 70);
	assert_int_equal(pkt.msgs[1].rec.n_endpoints, 0);
	assert_null(pkt.msgs[1].rec.endpoints);
	assert_int_equal(pkt.msgs[1].ep_count, 110);
	assert_int_equal(pkt.msgs[2].type, GOSSIP_MSG_PULL);
	assert_string_equal(pkt.msgs[2].rec.name, "node-h");
	assert_int_equal(pkt.msgs[2].rec.incarnation, 1700000000);
	assert_int_equal(pkt.msgs[2].rec.ep_version, 70);
	gossip_packet_reset(&pkt);
	/* a digest push-pull: the record without its endpoints */
	{
		uint8_t st = GOSSIP_ALIVE;
		struct gossip_msg d;
		memset(&d, 0, sizeof(d));
		d.type = GOSSIP_MSG_PUSHPULL;
		d.pp_digest = true;
		d.pp_count = 1;
		d.pp_recs = &m[0].rec;
		d.pp_states = &st;
		len = gossip_msg_encode(&d, msgbuf[0], sizeof(msgbuf[0]));
		assert_true(len > 0 && len < 200);
		ptr[0] = msgbuf[0];
		lens[0] = (size_t)len;
		len = gossip_envelope_encode("prod", "node-a", 3, 1, ptr, lens, 1, buf, sizeof(buf));
		memset(&pkt, 0, sizeof(pkt));
		assert_int_equal(gossip_envelope_decode(buf, (size_t)len, &pkt, &why), AS_OK);
		assert_true(pkt.msgs[0].pp_digest);
		assert_int_equal(pkt.msgs[0].pp_count, 1);
		check_record(&pkt.msgs[0].pp_recs[0], &m[0].rec, false);
		assert_int_equal(pkt.msgs[0].pp_recs[0].ep_version, m[0].rec.ep_version);
		assert_int_equal(pkt.msgs[0].pp_recs[0].n_endpoints, 0);
		assert_null(pkt.msgs[0].pp_recs[0].endpoints);
		gossip_packet_reset(&pkt);
		for (int i = 0; i < len; i++)
			assert_int_equal(decode(buf, (size_t)i, &why), AS_EMALFORMED);
		/* re-encode the HEAD and PULL for the checks below */
		len = gossip_msg_encode(&m[0], msgbuf[0], sizeof(msgbuf[0]));
		ptr[0] = msgbuf[0];
		lens[0] = (size_t)len;
		len = gossip_envelope_encode("prod", "node-a", 3, 1, ptr, lens, 3, buf, sizeof(buf));
	}
	/* a HEAD and a PULL fit a datagram with room to spare */
	assert_true(lens[1] < 200 && lens[2] < 100);
	for (int i = 0; i < len; i += (i < 400 ? 1 : 97)) {
		assert_int_equal(decode(buf, (size_t)i, &why), AS_EMALFORMED);
		assert_int_equal(why, GOSSIP_DROP_MALFORMED);
	}
	{
		/* a HEAD announcing 65536 endpoints; a PULL without its version */
		uint8_t h[256], p[] = { 0x95, 0xa1, 'p', 0xa1, 's', 0x01, 0x01, 0x91,
					0x93, 0x0b, 0xa1, 'x', 0x01 };
		size_t hl;
		m[1].ep_count = GOSSIP_ENDPOINTS_WIRE_MAX;
		len = gossip_msg_encode(&m[1], msgbuf[1], sizeof(msgbuf[1]));
		assert_true(len > 5);
		/* the count is the last field, a uint16 0xcd 0xff 0xff: make it
		 * a uint32 65536 */
		assert_int_equal(msgbuf[1][len - 3], 0xcd);
		hl = (size_t)len - 3;
		memcpy(msgbuf[1] + hl, (const uint8_t[]){ 0xce, 0, 1, 0, 0 }, 5);
		ptr[0] = msgbuf[1];
		lens[0] = hl + 5;
		len = gossip_envelope_encode("prod", "node-a", 3, 1, ptr, lens, 1, h, sizeof(h));
		assert_true(len > 0);
		assert_int_equal(decode(h, (size_t)len, &why), AS_EMALFORMED);
		lens[0] = hl + 3;
		memcpy(msgbuf[1] + hl, (const uint8_t[]){ 0xcd, 0xff, 0xff }, 3);
		len = gossip_envelope_encode("prod", "node-a", 3, 1, ptr, lens, 1, h, sizeof(h));
		assert_int_equal(decode(h, (size_t)len, &why), AS_OK);
		assert_int_equal(decode(p, sizeof(p), &why), AS_EMALFORMED);
	}
}

/* A record without a zone encodes as before the zone existed (7 fields,
 * so older peers see no change), and a record with one decodes even with
 * a further field after it (a later version's). */
static void test_record_zone_optional(void **state)
{
	struct gossip_msg m;
	static struct gossip_packet pkt;
	uint8_t buf[4096], env[4096];
	const uint8_t *ptr[1] = { buf };
	size_t lens[1];
	enum gossip_drop why;
	int len, n;

	(void)state;
	memset(&m, 0, sizeof(m));
	m.type = GOSSIP_MSG_ALIVE;
	make_record(&m.rec, "node-z");
	len = gossip_msg_encode(&m, buf, sizeof(buf));
	assert_true(len > 0);
	assert_int_equal(buf[0], 0x98);	/* fixarray of 8: type + 7 fields */
	snprintf(m.rec.zone, sizeof(m.rec.zone), "zone-a");
	n = gossip_msg_encode(&m, buf, sizeof(buf));
	assert_int_equal(n, len + 1 + 6);	/* one fixstr more */
	assert_int_equal(buf[0], 0x99);
	/* A later version appends a field: 10 elements, "x" at the end. */
	buf[0] = 0x9a;
	buf[n] = 0xa1;
	buf[n + 1] = 'x';
	lens[0] = (size_t)n + 2;
	len = gossip_envelope_encode("prod", "node-a", 3, 1, ptr, lens, 1, env, sizeof(env));
	assert_true(len > 0);
	memset(&pkt, 0, sizeof(pkt));
	assert_int_equal(gossip_envelope_decode(env, (size_t)len, &pkt, &why), AS_OK);
	assert_int_equal(pkt.n_msgs, 1);
	assert_string_equal(pkt.msgs[0].rec.zone, "zone-a");
	assert_int_equal(pkt.msgs[0].rec.n_endpoints, 2);
	gossip_packet_reset(&pkt);
	/* A zone over 63 bytes is malformed. */
	buf[0] = 0x99;
	n = gossip_msg_encode(&m, buf, sizeof(buf));
	assert_true(n > 0);
	buf[n - 7] = 0xd9;	/* str8 of 64 bytes instead of fixstr 6 */
	buf[n - 6] = 64;
	memset(buf + n - 5, 'a', 64);
	lens[0] = (size_t)n - 5 + 64;
	len = gossip_envelope_encode("prod", "node-a", 3, 2, ptr, lens, 1, env, sizeof(env));
	assert_true(len > 0);
	assert_int_equal(decode(env, (size_t)len, &why), AS_EMALFORMED);
	assert_int_equal(why, GOSSIP_DROP_MALFORMED);
}

static void write_file(const char *dir, const char *name, const uint8_t *b, size_t n)
{
	char path[4096];
	FILE *f;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (!f) {
		perror(path);
		exit(1);
	}
	fwrite(b, 1, n, f);
	fclose(f);
}

/* Seeds: each message type alone, the compound, and a few bad ones. */
static int write_corpus(const char *dir)
{
	struct gossip_msg m[8];
	struct gossip_record pp[2];
	uint8_t buf[8192], pkt[8192];
	char name[64];
	int len;
	sample_msgs(m, pp);
	for (int i = 0; i < 8; i++) {
		len = envelope(&m[i], 1, buf, sizeof(buf));
		len = gossip_seal(NULL, "fuzz", buf, (size_t)len, pkt, sizeof(pkt));
		snprintf(name, sizeof(name), "gossip_%s", gossip_msg_type_name(m[i].type));
		write_file(dir, name, pkt, (size_t)len);
	}
	len = envelope(m, 8, buf, sizeof(buf));
	write_file(dir, "envelope_compound", buf, (size_t)len);
	len = gossip_seal(NULL, "fuzz", buf, (size_t)len, pkt, sizeof(pkt));
	write_file(dir, "packet_compound", pkt, (size_t)len);
	write_file(dir, "packet_truncated", pkt, (size_t)len / 2);
	pkt[0] = 9;
	write_file(dir, "packet_bad_version", pkt, (size_t)len);
	{
		uint8_t huge[] = { 1, 0, 0x95, 0xa4, 'p', 'r', 'o', 'd', 0xa1, 's', 0x01, 0x01,
				   0xdd, 0xff, 0xff, 0xff, 0xff, 0x91, 0x03 };
		write_file(dir, "packet_huge_count", huge, sizeof(huge));
	}
	/* Stream frames (the harness feeds every input as one too): the
	 * push-pull and the compound in a plaintext frame, cut short, with a
	 * byte too many, announcing too much, and the old bare-length frame. */
	{
		static uint8_t frame[16384];
		int hl;
		len = envelope(&m[7], 1, buf, sizeof(buf));
		len = gossip_seal(NULL, "fuzz", buf, (size_t)len, pkt, sizeof(pkt));
		hl = gossip_stream_hdr_seal(NULL, "fuzz", (uint32_t)len, frame, sizeof(frame));
		memcpy(frame + hl, pkt, (size_t)len);
		write_file(dir, "stream_pushpull", frame, (size_t)(hl + len));
		write_file(dir, "stream_truncated", frame, (size_t)(hl + len - 1));
		frame[hl + len] = 0;
		write_file(dir, "stream_trailing", frame, (size_t)(hl + len + 1));
		len = envelope(m, 8, buf, sizeof(buf));
		len = gossip_seal(NULL, "fuzz", buf, (size_t)len, pkt, sizeof(pkt));
		hl = gossip_stream_hdr_seal(NULL, "fuzz", (uint32_t)len, frame, sizeof(frame));
		memcpy(frame + hl, pkt, (size_t)len);
		write_file(dir, "stream_compound", frame, (size_t)(hl + len));
		hl = gossip_stream_hdr_seal(NULL, "fuzz", 64u << 20, frame, sizeof(frame));
		write_file(dir, "stream_huge_length", frame, (size_t)(hl + 16));
		const uint8_t v1[] = { 0x04, 0x00, 0x00, 0x00, 1, 0, 0x90 };
		write_file(dir, "stream_v1_bare_length", v1, sizeof(v1));
	}
	/* Records of any size (issue 19): a HEAD, a PULL, and a pull's answer,
	 * an ALIVE of 110 endpoints in a stream frame, whole and cut short. */
	{
		static struct gossip_endpoint big[110];
		static uint8_t frame[16384], body[16384], plainb[16384];
		struct gossip_msg hp[2];
		int hl;
		memset(hp, 0, sizeof(hp));
		hp[0].type = GOSSIP_MSG_HEAD;
		make_record(&hp[0].rec, "node-h");
		hp[0].rec.endpoints = NULL;
		hp[0].rec.n_endpoints = 0;
		hp[0].ep_count = 110;
		hp[1].type = GOSSIP_MSG_PULL;
		snprintf(hp[1].rec.name, sizeof(hp[1].rec.name), "node-h");
		hp[1].rec.incarnation = 3;
		hp[1].rec.ep_version = 70;
		for (int i = 0; i < 2; i++) {
			len = envelope(&hp[i], 1, buf, sizeof(buf));
			len = gossip_seal(NULL, "fuzz", buf, (size_t)len, pkt, sizeof(pkt));
			snprintf(name, sizeof(name), "gossip_%s", gossip_msg_type_name(hp[i].type));
			write_file(dir, name, pkt, (size_t)len);
		}
		memset(hp, 0, sizeof(hp));
		hp[0].type = GOSSIP_MSG_ALIVE;
		largest_record(&hp[0].rec, big, 110);
		for (int i = 0; i < 110; i++)
			snprintf(big[i].service, sizeof(big[i].service), "svc-%d", i % 7);
		len = gossip_msg_encode(&hp[0], body, sizeof(body));
		{
			const uint8_t *bp[1] = { body };
			size_t bl[1] = { (size_t)len };
			len = gossip_envelope_encode("prod", "node-a", 3, 1, bp, bl, 1, plainb,
						     sizeof(plainb));
		}
		len = gossip_seal(NULL, "fuzz", plainb, (size_t)len, body, sizeof(body));
		hl = gossip_stream_hdr_seal(NULL, "fuzz", (uint32_t)len, frame, sizeof(frame));
		memcpy(frame + hl, body, (size_t)len);
		write_file(dir, "stream_alive_110", frame, (size_t)(hl + len));
		write_file(dir, "stream_alive_110_truncated", frame, (size_t)(hl + len / 2));
	}
	/* Network coordinates: a PING asking for one, an ACK with one, and
	 * an ACK whose coordinate holds a NaN. */
	{
		struct gossip_msg cm[2];
		memset(cm, 0, sizeof(cm));
		cm[0].type = GOSSIP_MSG_PING;
		cm[0].seq = 11;
		snprintf(cm[0].target, sizeof(cm[0].target), "node-b");
		cm[0].want_coord = true;
		cm[1].type = GOSSIP_MSG_ACK;
		cm[1].seq = 11;
		cm[1].has_coord = true;
		sample_coord(&cm[1].coord);
		len = envelope(cm, 2, buf, sizeof(buf));
		len = gossip_seal(NULL, "fuzz", buf, (size_t)len, pkt, sizeof(pkt));
		write_file(dir, "gossip_ping_ack_coord", pkt, (size_t)len);
		cm[1].coord.vec[0] = NAN;
		len = envelope(&cm[1], 1, buf, sizeof(buf));
		len = gossip_seal(NULL, "fuzz", buf, (size_t)len, pkt, sizeof(pkt));
		write_file(dir, "gossip_ack_coord_nan", pkt, (size_t)len);
	}
	return 0;
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip_all_types),
		cmocka_unit_test(test_truncation_everywhere),
		cmocka_unit_test(test_hostile_counts),
		cmocka_unit_test(test_extra_fields_skipped),
		cmocka_unit_test(test_encode_space),
		cmocka_unit_test(test_seal_open),
		cmocka_unit_test(test_nonce_unique),
		cmocka_unit_test(test_stream_header),
		cmocka_unit_test(test_pushpull_bounds),
		cmocka_unit_test(test_large_records),
		cmocka_unit_test(test_record_zone_optional),
		cmocka_unit_test(test_coordinate_fields),
	};
	if (argc == 3 && strcmp(argv[1], "--write-corpus") == 0)
		return write_corpus(argv[2]);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
