/*
 * routing/bird.c - bird.ctl's numbered-reply protocol, without I/O.
 *
 * Design. BIRD answers every command with lines of the form "NNNN-text"
 * (more lines follow), " text" (continues the line above, same code) and
 * "NNNN text" (the last line of the reply); "+text" lines are spontaneous
 * printouts that belong to no reply. The parser collects bytes into lines
 * and lines into a reply, and hands each complete reply to a callback.
 * Everything it keeps is bounded (line length, reply size): beyond the
 * limits it drops lines and marks the reply truncated, but still finds
 * the end of the reply, so the stream stays in step. Bytes that are not
 * this protocol put the parser into a sticky error: after garbage there
 * is no way to know where the next reply starts.
 *
 * The decoders read the tables BIRD prints for `show protocols`,
 * `show bfd sessions` and `show route ... export P`. They tokenize on
 * white space rather than on column positions, because column widths
 * change with name lengths, and treat a timestamp printed as date + time
 * as one field.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/as.h"
#include "routing/routing.h"

#define REPLY_LINES_MAX 65536

struct pline {
	int code;
	size_t off;
	size_t len;
};

struct route_bird_parser {
	char line[ROUTE_BIRD_LINE_MAX + 1];
	size_t linelen;
	bool line_long;           /* current line exceeded the buffer */

	char *text;               /* texts of the reply's lines, NUL-separated */
	size_t textlen, textcap;
	struct pline *pl;
	size_t npl, plcap;
	struct route_bird_line *out; /* pointer view built at delivery */
	size_t outcap;
	int last_code;            /* -1: no line in this reply yet */
	bool truncated;

	int err;                  /* sticky */
	uint64_t dropped;
};

int route_bird_parser_new(route_bird_parser_t **out)
{
	route_bird_parser_t *p = calloc(1, sizeof(*p));
	if (!p)
		return AS_ENOMEM;
	p->last_code = -1;
	*out = p;
	return AS_OK;
}

void route_bird_parser_free(route_bird_parser_t *p)
{
	if (!p)
		return;
	free(p->text);
	free(p->pl);
	free(p->out);
	free(p);
}

static void reply_clear(route_bird_parser_t *p)
{
	p->textlen = 0;
	p->npl = 0;
	p->last_code = -1;
	p->truncated = false;
}

void route_bird_parser_reset(route_bird_parser_t *p)
{
	reply_clear(p);
	p->linelen = 0;
	p->line_long = false;
	p->err = AS_OK;
}

uint64_t route_bird_parser_dropped(const route_bird_parser_t *p)
{
	return p->dropped;
}

/* Appends one line's text to the current reply, or drops it over the
 * limits (the reply is then marked truncated). */
static int reply_add(route_bird_parser_t *p, int code, const char *s,
		     size_t len)
{
	int rc;

	p->last_code = code;
	if (p->npl >= REPLY_LINES_MAX ||
	    p->textlen + len + 1 > ROUTE_BIRD_REPLY_MAX) {
		p->truncated = true;
		p->dropped++;
		return AS_OK;
	}
	rc = AS_GROW(p->text, p->textcap, p->textlen + len + 1);
	if (rc)
		return rc;
	rc = AS_GROW(p->pl, p->plcap, p->npl + 1);
	if (rc)
		return rc;
	memcpy(p->text + p->textlen, s, len);
	p->text[p->textlen + len] = '\0';
	p->pl[p->npl++] = (struct pline){ code, p->textlen, len };
	p->textlen += len + 1;
	return AS_OK;
}

static int reply_deliver(route_bird_parser_t *p, int code,
			 route_bird_reply_cb cb, void *arg)
{
	int rc = AS_GROW(p->out, p->outcap, p->npl ? p->npl : 1);
	if (rc)
		return rc;
	for (size_t i = 0; i < p->npl; i++) {
		p->out[i].code = p->pl[i].code;
		p->out[i].text = p->text + p->pl[i].off;
		p->out[i].len = p->pl[i].len;
	}
	struct route_bird_reply r = {
		.code = code,
		.nlines = p->npl,
		.lines = p->out,
		.truncated = p->truncated,
	};
	reply_clear(p);
	if (cb)
		cb(&r, arg);
	return AS_OK;
}

static int parse_code(const char *s, size_t len)
{
	if (len < 5)
		return -1;
	for (int i = 0; i < 4; i++)
		if (s[i] < '0' || s[i] > '9')
			return -1;
	if (s[4] != ' ' && s[4] != '-')
		return -1;
	return (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 +
	       (s[3] - '0');
}

static int handle_line(route_bird_parser_t *p, route_bird_reply_cb cb,
		       void *arg)
{
	const char *s = p->line;
	size_t len = p->linelen;
	int code;

	if (p->line_long) {
		p->truncated = true;
		p->dropped++;
	}
	if (len > 0 && s[len - 1] == '\r')
		len--;
	if (len > 0 && s[0] == '+') {
		p->dropped++;
		return AS_OK;
	}
	if (len > 0 && s[0] == ' ') {
		if (p->last_code < 0)
			return AS_EPROTO;
		return reply_add(p, p->last_code, s + 1, len - 1);
	}
	code = parse_code(s, len);
	if (code < 0)
		return AS_EPROTO;
	int rc = reply_add(p, code, s + 5, len - 5);
	if (rc)
		return rc;
	if (s[4] == ' ')
		return reply_deliver(p, code, cb, arg);
	return AS_OK;
}

int route_bird_parser_feed(route_bird_parser_t *p, const void *data,
			   size_t len, route_bird_reply_cb cb, void *arg)
{
	const char *d = data;

	if (p->err)
		return p->err;
	for (size_t i = 0; i < len; i++) {
		char ch = d[i];
		if (ch == '\0') {
			p->err = AS_EPROTO;
			return p->err;
		}
		if (ch != '\n') {
			if (p->linelen < ROUTE_BIRD_LINE_MAX)
				p->line[p->linelen++] = ch;
			else
				p->line_long = true;
			continue;
		}
		p->line[p->linelen] = '\0';
		int rc = handle_line(p, cb, arg);
		p->linelen = 0;
		p->line_long = false;
		if (rc) {
			p->err = rc;
			return rc;
		}
	}
	return AS_OK;
}

int route_bird_reply_status(const struct route_bird_reply *reply)
{
	switch (route_bird_class(reply->code)) {
	case ROUTE_BIRD_OK:
		return AS_OK;
	case ROUTE_BIRD_RUNTIME:
	case ROUTE_BIRD_SYNTAX:
		return AS_EREMOTE;
	default:
		return AS_EPROTO;
	}
}

/* ---- decoders ---------------------------------------------------------- */

#define TOK_MAX 16

struct toks {
	const char *s[TOK_MAX];
	size_t len[TOK_MAX];
	size_t n;
	const char *end;
};

static void tokenize(const char *s, size_t len, struct toks *t)
{
	const char *e = s + len;
	t->n = 0;
	t->end = e;
	while (s < e && t->n < TOK_MAX) {
		while (s < e && isspace((unsigned char)*s))
			s++;
		if (s >= e)
			break;
		const char *b = s;
		while (s < e && !isspace((unsigned char)*s))
			s++;
		t->s[t->n] = b;
		t->len[t->n] = (size_t)(s - b);
		t->n++;
	}
}

/* Copies len bytes into a fixed field, truncating and NUL-terminating. */
static void field(char *dst, size_t cap, const char *s, size_t len)
{
	if (len >= cap)
		len = cap - 1;
	memcpy(dst, s, len);
	dst[len] = '\0';
}

static void field_trim(char *dst, size_t cap, const char *s, const char *e)
{
	while (s < e && isspace((unsigned char)*s))
		s++;
	while (e > s && isspace((unsigned char)e[-1]))
		e--;
	field(dst, cap, s, (size_t)(e - s));
}

static bool looks_like_date(const char *s, size_t len)
{
	/* YYYY-MM-DD */
	return len == 10 && isdigit((unsigned char)s[0]) && s[4] == '-' &&
	       s[7] == '-';
}

static bool tok_eq(const struct toks *t, size_t i, const char *w)
{
	return i < t->n && t->len[i] == strlen(w) &&
	       memcmp(t->s[i], w, t->len[i]) == 0;
}

int route_bird_parse_protocols(const struct route_bird_reply *reply,
			       struct route_bird_proto *out, size_t max,
			       size_t *n)
{
	size_t count = 0;

	*n = 0;
	if (route_bird_reply_status(reply))
		return route_bird_reply_status(reply);
	for (size_t i = 0; i < reply->nlines; i++) {
		const struct route_bird_line *l = &reply->lines[i];
		struct toks t;
		if (l->code != 1002)
			continue;
		tokenize(l->text, l->len, &t);
		if (t.n < 5)
			return AS_EPARSE;
		size_t since_end = 5;
		if (looks_like_date(t.s[4], t.len[4]) && t.n > 5 &&
		    memchr(t.s[5], ':', t.len[5]))
			since_end = 6;
		if (count < max) {
			struct route_bird_proto *p = &out[count];
			memset(p, 0, sizeof(*p));
			field(p->name, sizeof(p->name), t.s[0], t.len[0]);
			field(p->proto, sizeof(p->proto), t.s[1], t.len[1]);
			field(p->table, sizeof(p->table), t.s[2], t.len[2]);
			field(p->state, sizeof(p->state), t.s[3], t.len[3]);
			field(p->since, sizeof(p->since), t.s[4],
			      (size_t)(t.s[since_end - 1] +
				       t.len[since_end - 1] - t.s[4]));
			if (t.n > since_end)
				field_trim(p->info, sizeof(p->info),
					   t.s[since_end], t.end);
		}
		count++;
	}
	*n = count;
	return AS_OK;
}

static int parse_secs_ms(const char *s, size_t len, uint32_t *ms)
{
	char buf[32];
	char *end;

	if (len == 0 || len >= sizeof(buf))
		return AS_EPARSE;
	memcpy(buf, s, len);
	buf[len] = '\0';
	double v = strtod(buf, &end);
	if (*end || !(v >= 0) || v > 4e6)
		return AS_EPARSE;
	*ms = (uint32_t)(v * 1000.0 + 0.5);
	return AS_OK;
}

int route_bird_parse_bfd(const struct route_bird_reply *reply,
			 struct route_bird_bfd *out, size_t max, size_t *n)
{
	char proto[64] = "";
	size_t count = 0;

	*n = 0;
	if (route_bird_reply_status(reply))
		return route_bird_reply_status(reply);
	for (size_t i = 0; i < reply->nlines; i++) {
		const struct route_bird_line *l = &reply->lines[i];
		struct toks t;
		if (l->code != 1020)
			continue;
		tokenize(l->text, l->len, &t);
		if (t.n == 0)
			continue;
		if (t.n == 1 && t.s[0][t.len[0] - 1] == ':') {
			field(proto, sizeof(proto), t.s[0], t.len[0] - 1);
			continue;
		}
		if (tok_eq(&t, 0, "IP") && tok_eq(&t, 1, "address"))
			continue; /* heading */
		/* address iface state since [time] interval timeout */
		if (t.n < 6 || t.n > 7)
			return AS_EPARSE;
		struct route_bird_bfd b;
		memset(&b, 0, sizeof(b));
		if (parse_secs_ms(t.s[t.n - 2], t.len[t.n - 2],
				  &b.interval_ms) ||
		    parse_secs_ms(t.s[t.n - 1], t.len[t.n - 1],
				  &b.timeout_ms))
			return AS_EPARSE;
		memcpy(b.bfd_proto, proto, sizeof(proto));
		field(b.address, sizeof(b.address), t.s[0], t.len[0]);
		field(b.iface, sizeof(b.iface), t.s[1], t.len[1]);
		field(b.state, sizeof(b.state), t.s[2], t.len[2]);
		field(b.since, sizeof(b.since), t.s[3],
		      (size_t)(t.s[t.n - 3] + t.len[t.n - 3] - t.s[3]));
		if (count < max)
			out[count] = b;
		count++;
	}
	*n = count;
	return AS_OK;
}

/* Parses "addr/len" from a token; false if it is not an IPv6 prefix. */
static bool parse_prefix_tok(const char *s, size_t len, struct in6_addr *a,
			     unsigned *plen)
{
	char buf[INET6_ADDRSTRLEN + 8];
	const char *slash = memchr(s, '/', len);
	char *end;

	if (!slash || len >= sizeof(buf))
		return false;
	memcpy(buf, s, len);
	buf[len] = '\0';
	buf[slash - s] = '\0';
	if (inet_pton(AF_INET6, buf, a) != 1)
		return false;
	const char *ls = buf + (slash - s) + 1;
	if (!isdigit((unsigned char)*ls))
		return false;
	unsigned long v = strtoul(ls, &end, 10);
	if (*end || v > 128)
		return false;
	*plen = (unsigned)v;
	return true;
}

int route_bird_parse_exported(const struct route_bird_reply *reply,
			      const struct in6_addr *prefix,
			      unsigned prefix_len, bool *exported)
{
	*exported = false;
	if (reply->code == 8001)
		return AS_OK; /* Network not found */
	if (reply->code == 9001 && reply->nlines > 0) {
		const struct route_bird_line *l = &reply->lines[reply->nlines - 1];
		if (strcmp(l->text, "No valid tables") == 0)
			return AS_OK; /* the protocol has no table: not up */
	}
	if (route_bird_reply_status(reply))
		return route_bird_reply_status(reply);
	for (size_t i = 0; i < reply->nlines; i++) {
		const struct route_bird_line *l = &reply->lines[i];
		struct in6_addr a;
		unsigned plen;
		struct toks t;
		if (l->code != 1007 || l->len == 0 ||
		    isspace((unsigned char)l->text[0]))
			continue;
		tokenize(l->text, l->len, &t);
		if (t.n >= 1 && parse_prefix_tok(t.s[0], t.len[0], &a, &plen) &&
		    plen == prefix_len && memcmp(&a, prefix, sizeof(a)) == 0) {
			*exported = true;
			break;
		}
	}
	return AS_OK;
}

int route_bird_parse_switch(const struct route_bird_reply *reply,
			    bool *changed)
{
	int rc = route_bird_reply_status(reply);
	if (rc)
		return rc;
	for (size_t i = 0; i < reply->nlines; i++) {
		switch (reply->lines[i].code) {
		case 8:  /* Already disabled */
		case 10: /* Already enabled */
			*changed = false;
			return AS_OK;
		case 9:  /* Disabled */
		case 11: /* Enabled */
		case 12: /* Restarted */
			*changed = true;
			return AS_OK;
		}
	}
	return AS_EPARSE;
}

/* ---- command builders ----------------------------------------------- */

const char *route_bird_symbol_problem(const char *name)
{
	if (!name || !*name)
		return "must not be empty";
	if (strlen(name) > 63)
		return "longer than 63 characters";
	if (!isalpha((unsigned char)name[0]) && name[0] != '_')
		return "must start with a letter or '_' (a BIRD protocol name)";
	for (const char *p = name; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '_')
			return "invalid character (a BIRD protocol name: "
			       "letters, digits, '_')";
	return NULL;
}

bool route_bird_symbol_ok(const char *name)
{
	return route_bird_symbol_problem(name) == NULL;
}

static bool host_bits_zero(const struct in6_addr *a, unsigned plen)
{
	for (unsigned bit = plen; bit < 128; bit++)
		if (a->s6_addr[bit / 8] & (0x80u >> (bit % 8)))
			return false;
	return true;
}

int route_bird_cmd_exported(char *buf, size_t len,
			    const struct in6_addr *prefix,
			    unsigned prefix_len, const char *proto)
{
	char a[INET6_ADDRSTRLEN];

	if (prefix_len > 128 || !host_bits_zero(prefix, prefix_len) ||
	    !route_bird_symbol_ok(proto))
		return AS_EINVAL;
	if (!inet_ntop(AF_INET6, prefix, a, sizeof(a)))
		return AS_EINVAL;
	/* Without `for`, BIRD matches the prefix exactly rather than the
	 * longest covering one, so a covering route cannot stand in. */
	int n = snprintf(buf, len, "show route %s/%u export %s", a, prefix_len,
			 proto);
	if (n < 0 || (size_t)n >= len)
		return AS_ESPACE;
	return AS_OK;
}

int route_bird_cmd_switch(char *buf, size_t len, const char *proto,
			  bool enable)
{
	if (!route_bird_symbol_ok(proto))
		return AS_EINVAL;
	int n = snprintf(buf, len, "%s %s", enable ? "enable" : "disable",
			 proto);
	if (n < 0 || (size_t)n >= len)
		return AS_ESPACE;
	return AS_OK;
}
