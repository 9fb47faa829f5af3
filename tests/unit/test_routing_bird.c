/*
 * Unit tests for the bird.ctl reply parser and decoders. The replies are
 * byte-exact recordings from a real BIRD 2.0.12 (a node BIRD with a
 * direct protocol on a TUN device and a BGP session with BFD to a second
 * BIRD, in network namespaces), taken with a raw UNIX socket client.
 * tests/unit/test_routing_birdctl.c checks the same against a live BIRD.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <cmocka.h>

#include "lib/as.h"
#include "routing/routing.h"

/* ---- recordings ------------------------------------------------------- */

static const char REC_HELLO[] = "0001 BIRD 2.0.12 ready.\n";

static const char REC_PROTOCOLS[] =
	"2002-Name       Proto      Table      State  Since         Info\n"
	"1002-device1    Device     ---        up     11:30:39.846  \n"
	" anycast    Direct     ---        up     11:30:39.846  \n"
	" bfd1       BFD        ---        up     11:30:39.846  \n"
	" upstream   BGP        ---        up     11:30:43.655  Established   \n"
	"0000 \n";

static const char REC_PROTOCOLS_ALL[] =
	"2002-Name       Proto      Table      State  Since         Info\n"
	"1002-upstream   BGP        ---        start  11:30:25.573  Idle          \n"
	"1006-  BGP state:          Idle\n"
	"     Neighbor address: fd00:1::1\n"
	"     Neighbor AS:      65000\n"
	"     Local AS:         65001\n"
	"   Channel ipv6\n"
	"     State:          DOWN\n"
	"     Table:          master6\n"
	"     Preference:     100\n"
	"     Input filter:   REJECT\n"
	"     Output filter:  (unnamed)\n"
	" \n"
	"0000 \n";

static const char REC_EXPORTED[] =
	"1007-Table master6:\n"
	" fd00:53::53/128      unicast [anycast 11:30:51.110] * (240)\n"
	" \tdev anyrec0\n"
	"0000 \n";

static const char REC_NOT_FOUND[] = "8001 Network not found\n";
static const char REC_NO_TABLES[] = "9001 No valid tables\n";
static const char REC_FILTERED[] = "0000 \n";
static const char REC_SYNTAX[] =
	"9001 syntax error, unexpected CF_SYM_UNDEFINED\n";

static const char REC_BFD[] =
	"1020-bfd1:\n"
	" IP address                Interface  State      Since         Interval  Timeout\n"
	" fd00:1::1                 vn         Up         11:30:40.580    0.100    0.300\n"
	"0000 \n";

static const char REC_BFD_EMPTY[] =
	"1020-bfd1:\n"
	" IP address                Interface  State      Since         Interval  Timeout\n"
	"0000 \n";

static const char REC_DISABLE[] = "0009-upstream: disabled\n0000 \n";
static const char REC_DISABLE_AGAIN[] =
	"0008-upstream: already disabled\n0000 \n";
static const char REC_ENABLE[] = "0011-upstream: enabled\n0000 \n";

static const char REC_CONFIGURE[] =
	"0002-Reading configuration from node.conf\n0003 Reconfigured\n";

/* ---- helpers ---------------------------------------------------------- */

/* Deep copy of the replies a feed produced, so tests inspect them after
 * the callback returned. */
#define MAXR 8
struct got {
	int n;
	int code[MAXR];
	size_t nlines[MAXR];
	bool truncated[MAXR];
	int lcode[MAXR][32];
	char text[MAXR][32][160];
};

static void collect(const struct route_bird_reply *r, void *arg)
{
	struct got *g = arg;
	assert_true(g->n < MAXR);
	g->code[g->n] = r->code;
	g->nlines[g->n] = r->nlines;
	g->truncated[g->n] = r->truncated;
	for (size_t i = 0; i < r->nlines && i < 32; i++) {
		g->lcode[g->n][i] = r->lines[i].code;
		assert_int_equal(strlen(r->lines[i].text), r->lines[i].len);
		snprintf(g->text[g->n][i], sizeof(g->text[0][0]), "%s",
			 r->lines[i].text);
	}
	g->n++;
}

/* Decoding happens inside the callback, where the reply is valid. */
struct decode {
	int calls;
	int rc;
	struct route_bird_proto protos[8];
	struct route_bird_bfd bfd[8];
	size_t n;
	bool flag;
	int kind; /* 0 protocols, 1 bfd, 2 exported, 3 switch */
	struct in6_addr prefix;
	unsigned plen;
};

static void decode_cb(const struct route_bird_reply *r, void *arg)
{
	struct decode *d = arg;
	d->calls++;
	switch (d->kind) {
	case 0:
		d->rc = route_bird_parse_protocols(r, d->protos, 8, &d->n);
		break;
	case 1:
		d->rc = route_bird_parse_bfd(r, d->bfd, 8, &d->n);
		break;
	case 2:
		d->rc = route_bird_parse_exported(r, &d->prefix, d->plen,
						  &d->flag);
		break;
	case 3:
		d->rc = route_bird_parse_switch(r, &d->flag);
		break;
	}
}

static void feed_decode(const char *rec, struct decode *d)
{
	route_bird_parser_t *p;
	assert_int_equal(route_bird_parser_new(&p), AS_OK);
	assert_int_equal(route_bird_parser_feed(p, rec, strlen(rec), decode_cb,
						d), AS_OK);
	assert_int_equal(d->calls, 1);
	route_bird_parser_free(p);
}

/* ---- parser ----------------------------------------------------------- */

static void test_hello(void **state)
{
	route_bird_parser_t *p;
	struct got g = { 0 };
	assert_int_equal(route_bird_parser_new(&p), AS_OK);
	assert_int_equal(route_bird_parser_feed(p, REC_HELLO, strlen(REC_HELLO),
						collect, &g), AS_OK);
	assert_int_equal(g.n, 1);
	assert_int_equal(g.code[0], 1);
	assert_int_equal(g.nlines[0], 1);
	assert_string_equal(g.text[0][0], "BIRD 2.0.12 ready.");
	route_bird_parser_free(p);
}

static void test_continuations(void **state)
{
	route_bird_parser_t *p;
	struct got g = { 0 };
	assert_int_equal(route_bird_parser_new(&p), AS_OK);
	assert_int_equal(route_bird_parser_feed(p, REC_PROTOCOLS_ALL,
						strlen(REC_PROTOCOLS_ALL),
						collect, &g), AS_OK);
	assert_int_equal(g.n, 1);
	assert_int_equal(g.code[0], 0);
	assert_int_equal(g.nlines[0], 14);
	assert_int_equal(g.lcode[0][0], 2002);
	assert_int_equal(g.lcode[0][1], 1002);
	assert_int_equal(g.lcode[0][2], 1006);
	/* ' ' lines carry the code of the line above */
	assert_int_equal(g.lcode[0][3], 1006);
	assert_string_equal(g.text[0][3], "    Neighbor address: fd00:1::1");
	assert_int_equal(g.lcode[0][12], 1006);
	assert_string_equal(g.text[0][12], "");
	assert_int_equal(g.lcode[0][13], 0);
	route_bird_parser_free(p);
}

/* Any split of the byte stream yields the same replies. */
static void test_split_feeding(void **state)
{
	char all[4096];
	int len = snprintf(all, sizeof(all), "%s%s%s%s%s", REC_HELLO,
			   REC_PROTOCOLS, REC_CONFIGURE, REC_NOT_FOUND,
			   REC_EXPORTED);
	struct got whole = { 0 };
	route_bird_parser_t *p;

	assert_int_equal(route_bird_parser_new(&p), AS_OK);
	assert_int_equal(route_bird_parser_feed(p, all, (size_t)len, collect,
						&whole), AS_OK);
	assert_int_equal(whole.n, 5);
	assert_int_equal(whole.code[0], 1);
	assert_int_equal(whole.code[1], 0);
	assert_int_equal(whole.code[2], 3);
	assert_int_equal(whole.nlines[2], 2);
	assert_int_equal(whole.code[3], 8001);
	assert_int_equal(whole.code[4], 0);

	for (int step = 1; step <= 7; step++) {
		struct got g = { 0 };
		route_bird_parser_reset(p);
		for (int off = 0; off < len; off += step) {
			size_t n = (size_t)AS_MIN(step, len - off);
			assert_int_equal(route_bird_parser_feed(p, all + off, n,
								collect, &g),
					 AS_OK);
		}
		assert_int_equal(g.n, whole.n);
		for (int r = 0; r < g.n; r++) {
			assert_int_equal(g.code[r], whole.code[r]);
			assert_int_equal(g.nlines[r], whole.nlines[r]);
			for (size_t i = 0; i < g.nlines[r]; i++)
				assert_string_equal(g.text[r][i],
						    whole.text[r][i]);
		}
	}
	route_bird_parser_free(p);
}

static void test_incomplete_waits(void **state)
{
	route_bird_parser_t *p;
	struct got g = { 0 };
	assert_int_equal(route_bird_parser_new(&p), AS_OK);
	/* everything but the final newline */
	assert_int_equal(route_bird_parser_feed(p, REC_EXPORTED,
						strlen(REC_EXPORTED) - 1,
						collect, &g), AS_OK);
	assert_int_equal(g.n, 0);
	assert_int_equal(route_bird_parser_feed(p, "\n", 1, collect, &g), AS_OK);
	assert_int_equal(g.n, 1);
	route_bird_parser_free(p);
}

static void test_spontaneous_dropped(void **state)
{
	static const char in[] = "1007-Table master6:\n+async printout\n"
				 " fd00::/64 x\n0000 \n";
	route_bird_parser_t *p;
	struct got g = { 0 };
	assert_int_equal(route_bird_parser_new(&p), AS_OK);
	assert_int_equal(route_bird_parser_feed(p, in, strlen(in), collect, &g),
			 AS_OK);
	assert_int_equal(g.n, 1);
	assert_int_equal(g.nlines[0], 3);
	assert_string_equal(g.text[0][1], "fd00::/64 x");
	assert_int_equal(route_bird_parser_dropped(p), 1);
	route_bird_parser_free(p);
}

static void expect_proto_error(const char *in, size_t len)
{
	route_bird_parser_t *p;
	struct got g = { 0 };
	assert_int_equal(route_bird_parser_new(&p), AS_OK);
	assert_int_equal(route_bird_parser_feed(p, in, len, collect, &g),
			 AS_EPROTO);
	/* sticky: even valid input is refused until reset */
	assert_int_equal(route_bird_parser_feed(p, REC_HELLO, strlen(REC_HELLO),
						collect, &g), AS_EPROTO);
	assert_int_equal(g.n, 0);
	route_bird_parser_reset(p);
	assert_int_equal(route_bird_parser_feed(p, REC_HELLO, strlen(REC_HELLO),
						collect, &g), AS_OK);
	assert_int_equal(g.n, 1);
	route_bird_parser_free(p);
}

static void test_garbage(void **state)
{
	expect_proto_error("HTTP/1.1 200 OK\n", 16);
	expect_proto_error(" continuation first\n", 20);
	expect_proto_error("000 short\n", 10);
	expect_proto_error("0000\n", 5);
	expect_proto_error("00x0 bad\n", 9);
	expect_proto_error("0000:colon\n", 11);
	expect_proto_error("\n", 1);
	expect_proto_error("0000 with\0nul\n", 14);
}

static void test_long_line_truncated(void **state)
{
	size_t big = ROUTE_BIRD_LINE_MAX * 3;
	char *in = malloc(big + 64);
	route_bird_parser_t *p;
	struct got g = { 0 };

	assert_non_null(in);
	memcpy(in, "1007-", 5);
	memset(in + 5, 'x', big);
	size_t len = 5 + big;
	len += (size_t)sprintf(in + len, "\n0000 \n");
	assert_int_equal(route_bird_parser_new(&p), AS_OK);
	assert_int_equal(route_bird_parser_feed(p, in, len, collect, &g), AS_OK);
	assert_int_equal(g.n, 1);
	assert_true(g.truncated[0]);
	assert_int_equal(g.code[0], 0);
	assert_true(route_bird_parser_dropped(p) >= 1);
	/* a long line that is the last line still ends the reply */
	memcpy(in, "8001 ", 5);
	len = 5 + big;
	in[len++] = '\n';
	g.n = 0;
	assert_int_equal(route_bird_parser_feed(p, in, len, collect, &g), AS_OK);
	assert_int_equal(g.n, 1);
	assert_int_equal(g.code[0], 8001);
	free(in);
	route_bird_parser_free(p);
}

/* More text than ROUTE_BIRD_REPLY_MAX: lines are dropped, the reply still
 * ends where BIRD ends it, and the next reply is intact. */
static void count_cb(const struct route_bird_reply *r, void *arg)
{
	int *v = arg;
	v[0]++;
	v[1] = r->truncated;
	v[2] = r->code;
	v[3] = (int)r->nlines;
}

static void test_reply_limit(void **state)
{
	route_bird_parser_t *p;
	char line[1024];
	int v[4] = { 0 };
	memset(line, 'y', sizeof(line));
	line[0] = ' ';
	line[sizeof(line) - 1] = '\n';
	assert_int_equal(route_bird_parser_new(&p), AS_OK);
	assert_int_equal(route_bird_parser_feed(p, "1007-x\n", 7, count_cb, v),
			 AS_OK);
	for (size_t i = 0; i < 2 * ROUTE_BIRD_REPLY_MAX / sizeof(line); i++)
		assert_int_equal(route_bird_parser_feed(p, line, sizeof(line),
							count_cb, v), AS_OK);
	assert_int_equal(v[0], 0);
	assert_int_equal(route_bird_parser_feed(p, "0000 \n", 6, count_cb, v),
			 AS_OK);
	assert_int_equal(v[0], 1);
	assert_int_equal(v[1], 1);
	assert_true((size_t)v[3] < 2 * ROUTE_BIRD_REPLY_MAX / sizeof(line));
	assert_int_equal(route_bird_parser_feed(p, REC_NOT_FOUND,
						strlen(REC_NOT_FOUND), count_cb,
						v), AS_OK);
	assert_int_equal(v[0], 2);
	assert_int_equal(v[1], 0);
	assert_int_equal(v[2], 8001);
	route_bird_parser_free(p);
}

/* ---- decoders ---------------------------------------------------------- */

static void test_protocols(void **state)
{
	struct decode d = { .kind = 0 };
	feed_decode(REC_PROTOCOLS, &d);
	assert_int_equal(d.rc, AS_OK);
	assert_int_equal(d.n, 4);
	assert_string_equal(d.protos[0].name, "device1");
	assert_string_equal(d.protos[0].proto, "Device");
	assert_string_equal(d.protos[0].info, "");
	assert_string_equal(d.protos[2].proto, "BFD");
	assert_string_equal(d.protos[3].name, "upstream");
	assert_string_equal(d.protos[3].proto, "BGP");
	assert_string_equal(d.protos[3].table, "---");
	assert_string_equal(d.protos[3].state, "up");
	assert_string_equal(d.protos[3].since, "11:30:43.655");
	assert_string_equal(d.protos[3].info, "Established");

	struct decode a = { .kind = 0 };
	feed_decode(REC_PROTOCOLS_ALL, &a);
	assert_int_equal(a.rc, AS_OK);
	assert_int_equal(a.n, 1);
	assert_string_equal(a.protos[0].state, "start");
	assert_string_equal(a.protos[0].info, "Idle");
}

static void test_protocols_variants(void **state)
{
	/* iso long time format, multi-word info, more protocols than room */
	static const char in[] =
		"2002-Name       Proto      Table      State  Since         Info\n"
		"1002-upstream   BGP        ---        start  2026-11-23 11:30:25  Connect       Socket: Connection refused\n"
		" p1 Static master6 up 11:30:25.573\n"
		" p2 Static master6 up 11:30:25.573\n"
		" p3 Static master6 up 11:30:25.573\n"
		" p4 Static master6 up 11:30:25.573\n"
		" p5 Static master6 up 11:30:25.573\n"
		" p6 Static master6 up 11:30:25.573\n"
		" p7 Static master6 up 11:30:25.573\n"
		" p8 Static master6 up 11:30:25.573\n"
		"0000 \n";
	struct decode d = { .kind = 0 };
	feed_decode(in, &d);
	assert_int_equal(d.rc, AS_OK);
	assert_int_equal(d.n, 9);
	assert_string_equal(d.protos[0].since, "2026-11-23 11:30:25");
	assert_string_equal(d.protos[0].info,
			    "Connect       Socket: Connection refused");
	assert_string_equal(d.protos[7].name, "p7");

	struct decode e = { .kind = 0 };
	feed_decode(REC_SYNTAX, &e);
	assert_int_equal(e.rc, AS_EREMOTE);
	assert_int_equal(e.n, 0);

	struct decode f = { .kind = 0 };
	feed_decode("1002-only three fields\n0000 \n", &f);
	assert_int_equal(f.rc, AS_EPARSE);
}

static void test_bfd(void **state)
{
	struct decode d = { .kind = 1 };
	feed_decode(REC_BFD, &d);
	assert_int_equal(d.rc, AS_OK);
	assert_int_equal(d.n, 1);
	assert_string_equal(d.bfd[0].bfd_proto, "bfd1");
	assert_string_equal(d.bfd[0].address, "fd00:1::1");
	assert_string_equal(d.bfd[0].iface, "vn");
	assert_string_equal(d.bfd[0].state, "Up");
	assert_string_equal(d.bfd[0].since, "11:30:40.580");
	assert_int_equal(d.bfd[0].interval_ms, 100);
	assert_int_equal(d.bfd[0].timeout_ms, 300);

	struct decode e = { .kind = 1 };
	feed_decode(REC_BFD_EMPTY, &e);
	assert_int_equal(e.rc, AS_OK);
	assert_int_equal(e.n, 0);

	struct decode f = { .kind = 1 };
	feed_decode("1020-bfd1:\n fd00::1 eth0 Up 11:00:00 fast 0.3\n0000 \n", &f);
	assert_int_equal(f.rc, AS_EPARSE);
}

static void exported_case(const char *rec, const char *pfx, unsigned plen,
			  int want_rc, bool want)
{
	struct decode d = { .kind = 2, .plen = plen };
	assert_int_equal(inet_pton(AF_INET6, pfx, &d.prefix), 1);
	d.flag = !want;
	feed_decode(rec, &d);
	assert_int_equal(d.rc, want_rc);
	assert_int_equal(d.flag, want);
}

static void test_exported(void **state)
{
	exported_case(REC_EXPORTED, "fd00:53::53", 128, AS_OK, true);
	/* another prefix in the same reply is not this one */
	exported_case(REC_EXPORTED, "fd00:53::54", 128, AS_OK, false);
	exported_case(REC_EXPORTED, "fd00:53::53", 127, AS_OK, false);
	exported_case(REC_NOT_FOUND, "fd00:53::53", 128, AS_OK, false);
	exported_case(REC_NO_TABLES, "fd00:53::53", 128, AS_OK, false);
	exported_case(REC_FILTERED, "fd00:53::53", 128, AS_OK, false);
	exported_case(REC_SYNTAX, "fd00:53::53", 128, AS_EREMOTE, false);
	/* the next-hop line (leading white space) is never a prefix */
	exported_case("1007-Table master6:\n \tfd00:53::53/128 dev x\n0000 \n",
		      "fd00:53::53", 128, AS_OK, false);
}

static void test_switch(void **state)
{
	struct decode d = { .kind = 3 };
	feed_decode(REC_DISABLE, &d);
	assert_int_equal(d.rc, AS_OK);
	assert_true(d.flag);
	struct decode e = { .kind = 3, .flag = true };
	feed_decode(REC_DISABLE_AGAIN, &e);
	assert_int_equal(e.rc, AS_OK);
	assert_false(e.flag);
	struct decode f = { .kind = 3 };
	feed_decode(REC_ENABLE, &f);
	assert_int_equal(f.rc, AS_OK);
	assert_true(f.flag);
	struct decode g = { .kind = 3 };
	feed_decode(REC_SYNTAX, &g);
	assert_int_equal(g.rc, AS_EREMOTE);
	struct decode h = { .kind = 3 };
	feed_decode(REC_FILTERED, &h);
	assert_int_equal(h.rc, AS_EPARSE);
}

static void test_commands(void **state)
{
	char buf[128];
	struct in6_addr a;
	assert_int_equal(inet_pton(AF_INET6, "fd00:53::53", &a), 1);
	assert_int_equal(route_bird_cmd_exported(buf, sizeof(buf), &a, 128,
						 "upstream"), AS_OK);
	assert_string_equal(buf, "show route fd00:53::53/128 export upstream");
	/* host bits set under a shorter prefix */
	assert_int_equal(route_bird_cmd_exported(buf, sizeof(buf), &a, 64,
						 "upstream"), AS_EINVAL);
	assert_int_equal(route_bird_cmd_exported(buf, sizeof(buf), &a, 129,
						 "upstream"), AS_EINVAL);
	assert_int_equal(route_bird_cmd_exported(buf, sizeof(buf), &a, 128,
						 "up\nrestart"), AS_EINVAL);
	assert_int_equal(route_bird_cmd_exported(buf, 20, &a, 128, "upstream"),
			 AS_ESPACE);
	assert_int_equal(route_bird_cmd_switch(buf, sizeof(buf), "upstream",
					       false), AS_OK);
	assert_string_equal(buf, "disable upstream");
	assert_int_equal(route_bird_cmd_switch(buf, sizeof(buf), "bgp_1", true),
			 AS_OK);
	assert_string_equal(buf, "enable bgp_1");
	assert_int_equal(route_bird_cmd_switch(buf, sizeof(buf), "\"all\"",
					       true), AS_EINVAL);
	assert_false(route_bird_symbol_ok(""));
	assert_false(route_bird_symbol_ok("1abc"));
	assert_false(route_bird_symbol_ok("a b"));
	assert_false(route_bird_symbol_ok(NULL));
	assert_true(route_bird_symbol_ok("_x9"));
	char longname[80];
	memset(longname, 'a', sizeof(longname) - 1);
	longname[79] = '\0';
	assert_false(route_bird_symbol_ok(longname));
	/* The reasons the configuration shows come from the same rule. */
	assert_null(route_bird_symbol_problem("anysteer"));
	assert_non_null(strstr(route_bird_symbol_problem(""), "empty"));
	assert_non_null(strstr(route_bird_symbol_problem("1abc"), "start"));
	assert_non_null(strstr(route_bird_symbol_problem("a-b"),
			       "invalid character"));
	assert_non_null(strstr(route_bird_symbol_problem(longname), "63"));
	longname[63] = '\0';
	assert_null(route_bird_symbol_problem(longname));
}

static void test_status_classes(void **state)
{
	struct route_bird_reply r = { 0 };
	r.code = 13;
	assert_int_equal(route_bird_reply_status(&r), AS_OK);
	r.code = 8001;
	assert_int_equal(route_bird_reply_status(&r), AS_EREMOTE);
	r.code = 9001;
	assert_int_equal(route_bird_reply_status(&r), AS_EREMOTE);
	r.code = 1007; /* a table entry cannot end a reply */
	assert_int_equal(route_bird_reply_status(&r), AS_EPROTO);
	assert_int_equal(route_bird_class(2002), ROUTE_BIRD_HEADING);
	assert_int_equal(route_bird_class(5000), ROUTE_BIRD_OTHER);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hello),
		cmocka_unit_test(test_continuations),
		cmocka_unit_test(test_split_feeding),
		cmocka_unit_test(test_incomplete_waits),
		cmocka_unit_test(test_spontaneous_dropped),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_long_line_truncated),
		cmocka_unit_test(test_reply_limit),
		cmocka_unit_test(test_protocols),
		cmocka_unit_test(test_protocols_variants),
		cmocka_unit_test(test_bfd),
		cmocka_unit_test(test_exported),
		cmocka_unit_test(test_switch),
		cmocka_unit_test(test_commands),
		cmocka_unit_test(test_status_classes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
