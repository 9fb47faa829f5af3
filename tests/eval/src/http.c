/*
 * tests/eval/src/http.c - incremental HTTP/1.1 parsers: the load
 * generator's response parser and the backend's request parser.
 *
 * Both take whatever bytes a read returned, keep at most one header line
 * (EVAL_HTTP_LINE_MAX) and a few numbers between calls, and never
 * allocate. The response parser knows the three ways a body ends
 * (Content-Length, chunked, close of the connection) and the bodiless
 * cases (HEAD, 1xx, 204, 304); it keeps X-Pod, the status and whether the
 * connection may be reused. The request parser reads what the backend
 * needs: method, target, version, Connection and a Content-Length body to
 * skip. Header sections are capped (EVAL_HTTP_HEAD_MAX), so a peer that
 * never ends its headers gets an error, not our memory.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tests/eval/src/eval.h"

enum {
	R_STATUS, R_HEADERS, R_BODY, R_CHUNK_SIZE, R_CHUNK_DATA, R_CHUNK_CRLF,
	R_TRAILERS, R_BODY_EOF, R_DONE, R_ERROR,
};

enum { Q_LINE, Q_HEADERS, Q_BODY, Q_DONE, Q_ERROR };

#define MAX_LENGTH (1ull << 53)

/*
 * Collects one line. Returns 1 with the line (without CR LF, NUL
 * terminated, at most EVAL_HTTP_LINE_MAX - 1 bytes kept) when its LF was
 * read, 0 when the input ran out first, -1 when the header section grew
 * past EVAL_HTTP_HEAD_MAX.
 */
static int take_line(char *line, size_t *line_len, bool *overflow,
		     size_t *head_bytes, const char *buf, size_t n, size_t *i)
{
	while (*i < n) {
		char c = buf[(*i)++];
		if (++*head_bytes > EVAL_HTTP_HEAD_MAX)
			return -1;
		if (c == '\n') {
			size_t l = *line_len;
			if (l > 0 && line[l - 1] == '\r')
				l--;
			line[l] = 0;
			*line_len = l;
			return 1;
		}
		if (*line_len < EVAL_HTTP_LINE_MAX - 1)
			line[(*line_len)++] = c;
		else
			*overflow = true;
	}
	return 0;
}

/* Splits "Name: value"; false if there is no colon or the name is empty.
 * The value is trimmed of optional white space. */
static bool split_header(char *line, char **name, char **value)
{
	char *colon = strchr(line, ':');
	if (!colon || colon == line)
		return false;
	*colon = 0;
	for (char *p = line; p < colon; p++)
		if (*p == ' ' || *p == '\t')
			return false;	/* no white space before the colon */
	char *v = colon + 1;
	while (*v == ' ' || *v == '\t')
		v++;
	char *e = v + strlen(v);
	while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
		*--e = 0;
	*name = line;
	*value = v;
	return true;
}

/* Decimal Content-Length; -1 if not a plain number below 2^53. */
static int64_t parse_length(const char *v)
{
	uint64_t x = 0;
	if (!*v)
		return -1;
	for (; *v; v++) {
		if (*v < '0' || *v > '9')
			return -1;
		x = x * 10 + (uint64_t)(*v - '0');
		if (x > MAX_LENGTH)
			return -1;
	}
	return (int64_t)x;
}

/* True if the comma-separated list v contains token (any case). */
static bool has_token(const char *v, const char *token)
{
	size_t tl = strlen(token);
	const char *p = v;

	while (*p) {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		const char *s = p;
		while (*p && *p != ',')
			p++;
		const char *e = p;
		while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		if ((size_t)(e - s) == tl && strncasecmp(s, token, tl) == 0)
			return true;
	}
	return false;
}

/* The last transfer coding is "chunked". */
static bool last_is_chunked(const char *v)
{
	const char *last = strrchr(v, ',');
	last = last ? last + 1 : v;
	while (*last == ' ' || *last == '\t')
		last++;
	return strncasecmp(last, "chunked", 7) == 0 &&
	       (last[7] == 0 || last[7] == ' ' || last[7] == '\t' || last[7] == ';');
}

/* ---- response ---------------------------------------------------------- */

void eval_http_resp_init(struct eval_http_resp *p, bool head_request)
{
	p->state = R_STATUS;
	p->status = 0;
	p->keep_alive = false;
	p->chunked = false;
	p->no_body = head_request;
	p->content_length = -1;
	p->remaining = 0;
	p->body_bytes = 0;
	p->head_bytes = 0;
	p->line_len = 0;
	p->line_overflow = false;
	p->pod[0] = 0;
}

static bool resp_status_line(struct eval_http_resp *p)
{
	const char *l = p->line;
	if (p->line_overflow || strncmp(l, "HTTP/1.", 7) != 0 ||
	    (l[7] != '0' && l[7] != '1') || l[8] != ' ' ||
	    !isdigit((unsigned char)l[9]) || !isdigit((unsigned char)l[10]) ||
	    !isdigit((unsigned char)l[11]) || (l[12] != ' ' && l[12] != 0))
		return false;
	p->status = (l[9] - '0') * 100 + (l[10] - '0') * 10 + (l[11] - '0');
	if (p->status < 100)
		return false;
	p->keep_alive = l[7] == '1';
	return true;
}

static bool resp_header(struct eval_http_resp *p)
{
	char *name, *value;

	if (!split_header(p->line, &name, &value))
		return false;
	if (strcasecmp(name, "content-length") == 0) {
		int64_t v = parse_length(value);
		if (p->line_overflow || v < 0 ||
		    (p->content_length >= 0 && p->content_length != v))
			return false;
		p->content_length = v;
	} else if (strcasecmp(name, "transfer-encoding") == 0) {
		if (p->line_overflow)
			return false;
		p->chunked = last_is_chunked(value);
	} else if (strcasecmp(name, "connection") == 0) {
		if (has_token(value, "close"))
			p->keep_alive = false;
		else if (has_token(value, "keep-alive"))
			p->keep_alive = true;
	} else if (strcasecmp(name, "x-pod") == 0) {
		size_t l = strlen(value);
		if (l >= EVAL_POD_MAX)
			l = EVAL_POD_MAX - 1;
		/* Printable ASCII only: the name becomes a JSON key. */
		for (size_t i = 0; i < l; i++) {
			unsigned char ch = (unsigned char)value[i];
			p->pod[i] = ch >= 0x20 && ch < 0x7f && ch != '"' && ch != '\\'
					    ? (char)ch : '?';
		}
		p->pod[l] = 0;
	}
	return true;
}

/* End of the header section: decides how the body is delimited. */
static void resp_headers_done(struct eval_http_resp *p)
{
	if (p->status < 200 && p->status != 101) {
		/* Interim response: the real one follows. */
		bool head = p->no_body;
		eval_http_resp_init(p, head);
		return;
	}
	if (p->no_body || p->status == 204 || p->status == 304 ||
	    p->status == 101) {
		p->state = R_DONE;
	} else if (p->chunked) {
		p->state = R_CHUNK_SIZE;
	} else if (p->content_length >= 0) {
		p->remaining = (uint64_t)p->content_length;
		p->state = p->remaining ? R_BODY : R_DONE;
	} else {
		p->keep_alive = false;
		p->state = R_BODY_EOF;
	}
}

/* Hex chunk size with optional extensions; false if malformed. */
static bool chunk_size(const char *l, uint64_t *out)
{
	uint64_t x = 0;
	int digits = 0;

	for (; isxdigit((unsigned char)*l); l++, digits++) {
		int d = isdigit((unsigned char)*l) ? *l - '0'
						   : (tolower((unsigned char)*l) - 'a' + 10);
		x = x * 16 + (uint64_t)d;
		if (x > MAX_LENGTH)
			return false;
	}
	while (*l == ' ' || *l == '\t')
		l++;
	if (digits == 0 || (*l && *l != ';'))
		return false;
	*out = x;
	return true;
}

enum eval_http_rc eval_http_resp_feed(struct eval_http_resp *p,
				      const char *buf, size_t n, size_t *used)
{
	size_t i = 0;
	int r;

	while (i < n || p->state == R_DONE || p->state == R_ERROR) {
		switch (p->state) {
		case R_STATUS:
		case R_HEADERS:
		case R_CHUNK_SIZE:
		case R_CHUNK_CRLF:
		case R_TRAILERS:
			r = take_line(p->line, &p->line_len, &p->line_overflow,
				      &p->head_bytes, buf, n, &i);
			if (r < 0) {
				p->state = R_ERROR;
				break;
			}
			if (r == 0)
				break;
			if (p->state == R_STATUS) {
				p->state = resp_status_line(p) ? R_HEADERS : R_ERROR;
			} else if (p->state == R_HEADERS) {
				if (p->line_len == 0 && !p->line_overflow)
					resp_headers_done(p);
				else if (!resp_header(p))
					p->state = R_ERROR;
			} else if (p->state == R_CHUNK_SIZE) {
				if (p->line_overflow || !chunk_size(p->line, &p->remaining))
					p->state = R_ERROR;
				else
					p->state = p->remaining ? R_CHUNK_DATA : R_TRAILERS;
			} else if (p->state == R_CHUNK_CRLF) {
				p->state = p->line_len == 0 && !p->line_overflow
						   ? R_CHUNK_SIZE : R_ERROR;
			} else {	/* trailers end with an empty line */
				if (p->line_len == 0 && !p->line_overflow)
					p->state = R_DONE;
			}
			p->line_len = 0;
			p->line_overflow = false;
			break;
		case R_BODY:
		case R_CHUNK_DATA: {
			size_t take = n - i;
			if (take > p->remaining)
				take = (size_t)p->remaining;
			i += take;
			p->remaining -= take;
			p->body_bytes += take;
			if (p->remaining == 0)
				p->state = p->state == R_BODY ? R_DONE : R_CHUNK_CRLF;
			break;
		}
		case R_BODY_EOF:
			p->body_bytes += n - i;
			i = n;
			break;
		case R_DONE:
			*used = i;
			return EVAL_HTTP_DONE;
		default:
			*used = i;
			return EVAL_HTTP_ERROR;
		}
	}
	*used = i;
	return EVAL_HTTP_MORE;
}

enum eval_http_rc eval_http_resp_eof(struct eval_http_resp *p)
{
	if (p->state == R_BODY_EOF || p->state == R_DONE) {
		p->state = R_DONE;
		return EVAL_HTTP_DONE;
	}
	p->state = R_ERROR;
	return EVAL_HTTP_ERROR;
}

/* ---- request ----------------------------------------------------------- */

void eval_http_req_init(struct eval_http_req *p)
{
	p->state = Q_LINE;
	p->method[0] = p->path[0] = 0;
	p->minor = 1;
	p->keep_alive = true;
	p->content_length = -1;
	p->remaining = 0;
	p->head_bytes = 0;
	p->line_len = 0;
	p->line_overflow = false;
}

static bool req_line(struct eval_http_req *p)
{
	char *l = p->line;
	char *sp1 = strchr(l, ' ');
	char *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;

	if (p->line_overflow || !sp1 || !sp2 || sp1 == l || sp2 == sp1 + 1 ||
	    (size_t)(sp1 - l) >= sizeof(p->method) ||
	    (size_t)(sp2 - sp1 - 1) >= sizeof(p->path))
		return false;
	if (strncmp(sp2 + 1, "HTTP/1.", 7) != 0 ||
	    (sp2[8] != '0' && sp2[8] != '1') || sp2[9] != 0)
		return false;
	memcpy(p->method, l, (size_t)(sp1 - l));
	p->method[sp1 - l] = 0;
	memcpy(p->path, sp1 + 1, (size_t)(sp2 - sp1 - 1));
	p->path[sp2 - sp1 - 1] = 0;
	p->minor = sp2[8] - '0';
	p->keep_alive = p->minor >= 1;
	return true;
}

static bool req_header(struct eval_http_req *p)
{
	char *name, *value;

	if (!split_header(p->line, &name, &value))
		return false;
	if (strcasecmp(name, "content-length") == 0) {
		int64_t v = parse_length(value);
		if (p->line_overflow || v < 0 ||
		    (p->content_length >= 0 && p->content_length != v))
			return false;
		p->content_length = v;
	} else if (strcasecmp(name, "transfer-encoding") == 0) {
		return false;	/* request bodies in chunks: not supported */
	} else if (strcasecmp(name, "connection") == 0) {
		if (has_token(value, "close"))
			p->keep_alive = false;
		else if (has_token(value, "keep-alive"))
			p->keep_alive = true;
	}
	return true;
}

enum eval_http_rc eval_http_req_feed(struct eval_http_req *p, const char *buf,
				     size_t n, size_t *used)
{
	size_t i = 0;
	int r;

	while (i < n || p->state == Q_DONE || p->state == Q_ERROR) {
		switch (p->state) {
		case Q_LINE:
		case Q_HEADERS:
			r = take_line(p->line, &p->line_len, &p->line_overflow,
				      &p->head_bytes, buf, n, &i);
			if (r < 0) {
				p->state = Q_ERROR;
				break;
			}
			if (r == 0)
				break;
			if (p->state == Q_LINE) {
				/* Empty lines before a request are ignored
				 * (RFC 9112, 2.2). */
				if (p->line_len != 0 || p->line_overflow)
					p->state = req_line(p) ? Q_HEADERS : Q_ERROR;
			} else if (p->line_len == 0 && !p->line_overflow) {
				p->remaining = p->content_length > 0
						       ? (uint64_t)p->content_length : 0;
				p->state = p->remaining ? Q_BODY : Q_DONE;
			} else if (!req_header(p)) {
				p->state = Q_ERROR;
			}
			p->line_len = 0;
			p->line_overflow = false;
			break;
		case Q_BODY: {
			size_t take = n - i;
			if (take > p->remaining)
				take = (size_t)p->remaining;
			i += take;
			p->remaining -= take;
			if (p->remaining == 0)
				p->state = Q_DONE;
			break;
		}
		case Q_DONE:
			*used = i;
			return EVAL_HTTP_DONE;
		default:
			*used = i;
			return EVAL_HTTP_ERROR;
		}
	}
	*used = i;
	return EVAL_HTTP_MORE;
}
