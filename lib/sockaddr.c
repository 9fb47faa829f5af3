/* Socket address helpers (lib/sockaddr.h). */
#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/as.h"
#include "lib/sockaddr.h"

static const uint8_t v4mapped_prefix[12] = { [10] = 0xff, [11] = 0xff };

static int parse_port(const char *p, uint16_t *port)
{
	char *end;
	if (!isdigit((unsigned char)*p))
		return AS_EPARSE;
	errno = 0;
	unsigned long v = strtoul(p, &end, 10);
	if (errno || *end || v > 65535)
		return AS_EPARSE;
	*port = (uint16_t)v;
	return AS_OK;
}
int as_parse_sockaddr(const char *s, uint16_t default_port,
		      struct sockaddr_storage *out)
{
	char host[INET6_ADDRSTRLEN + 1];
	uint16_t port = default_port;
	const char *colon;
	size_t hl;

	if (!s || !*s)
		return AS_EPARSE;
	memset(out, 0, sizeof(*out));
	if (s[0] == '[') {
		const char *rb = strchr(s, ']');
		if (!rb)
			return AS_EPARSE;
		hl = (size_t)(rb - s - 1);
		if (rb[1] == ':') {
			if (parse_port(rb + 2, &port))
				return AS_EPARSE;
		} else if (rb[1]) {
			return AS_EPARSE;
		}
		if (hl >= sizeof(host))
			return AS_EPARSE;
		memcpy(host, s + 1, hl);
		host[hl] = 0;
		struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)out;
		if (inet_pton(AF_INET6, host, &a6->sin6_addr) != 1)
			return AS_EPARSE;
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons(port);
		return AS_OK;
	}
	/* More than one colon and no brackets: a bare IPv6 address. */
	colon = strchr(s, ':');
	if (colon && strchr(colon + 1, ':')) {
		struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)out;
		if (strlen(s) >= sizeof(host) ||
		    inet_pton(AF_INET6, s, &a6->sin6_addr) != 1)
			return AS_EPARSE;
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons(port);
		return AS_OK;
	}
	hl = colon ? (size_t)(colon - s) : strlen(s);
	if (hl >= sizeof(host))
		return AS_EPARSE;
	memcpy(host, s, hl);
	host[hl] = 0;
	if (colon && parse_port(colon + 1, &port))
		return AS_EPARSE;
	struct sockaddr_in *a4 = (struct sockaddr_in *)out;
	if (inet_pton(AF_INET, host, &a4->sin_addr) != 1)
		return AS_EPARSE;
	a4->sin_family = AF_INET;
	a4->sin_port = htons(port);
	return AS_OK;
}

char *as_format_sockaddr(const struct sockaddr_storage *ss, char *buf,
			 size_t len)
{
	char host[INET6_ADDRSTRLEN];

	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a6 = (const void *)ss;
		inet_ntop(AF_INET6, &a6->sin6_addr, host, sizeof(host));
		snprintf(buf, len, "[%s]:%u", host, ntohs(a6->sin6_port));
	} else if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *a4 = (const void *)ss;
		inet_ntop(AF_INET, &a4->sin_addr, host, sizeof(host));
		snprintf(buf, len, "%s:%u", host, ntohs(a4->sin_port));
	} else {
		snprintf(buf, len, "(unknown family %d)", ss->ss_family);
	}
	return buf;
}

bool as_sockaddr_valid(const struct sockaddr_storage *ss)
{
	return ss->ss_family == AF_INET6 || ss->ss_family == AF_INET;
}

socklen_t as_sockaddr_len(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET6)
		return sizeof(struct sockaddr_in6);
	if (ss->ss_family == AF_INET)
		return sizeof(struct sockaddr_in);
	return 0;
}

uint16_t as_sockaddr_port(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
	if (ss->ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)ss)->sin_port);
	return 0;
}

void as_sockaddr_set_port(struct sockaddr_storage *ss, uint16_t port)
{
	if (ss->ss_family == AF_INET6)
		((struct sockaddr_in6 *)ss)->sin6_port = htons(port);
	else if (ss->ss_family == AF_INET)
		((struct sockaddr_in *)ss)->sin_port = htons(port);
}

bool as_sockaddr_is_any(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET6)
		return IN6_IS_ADDR_UNSPECIFIED(
			&((const struct sockaddr_in6 *)ss)->sin6_addr);
	if (ss->ss_family == AF_INET)
		return ((const struct sockaddr_in *)ss)->sin_addr.s_addr ==
		       htonl(INADDR_ANY);
	return false;
}

bool as_sockaddr_equal(const struct sockaddr_storage *a,
		       const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
		return x->sin6_port == y->sin6_port &&
		       memcmp(&x->sin6_addr, &y->sin6_addr, 16) == 0;
	}
	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
		return x->sin_port == y->sin_port &&
		       x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	return false;
}

bool as_sockaddr_key(const struct sockaddr_storage *ss, uint8_t key[16])
{
	memset(key, 0, 16);
	if (ss->ss_family == AF_INET6) {
		memcpy(key, &((const struct sockaddr_in6 *)ss)->sin6_addr, 16);
		return true;
	}
	if (ss->ss_family == AF_INET) {
		memcpy(key, v4mapped_prefix, 12);
		memcpy(key + 12, &((const struct sockaddr_in *)ss)->sin_addr, 4);
		return true;
	}
	return false;
}

bool as_sockaddr_same_host(const struct sockaddr_storage *a,
			   const struct sockaddr_storage *b)
{
	uint8_t x[16], y[16];

	return as_sockaddr_key(a, x) && as_sockaddr_key(b, y) &&
	       memcmp(x, y, 16) == 0;
}

bool as_addr16_is_v4mapped(const uint8_t a[16])
{
	return memcmp(a, v4mapped_prefix, 12) == 0;
}

char *as_format_addr16(const uint8_t a[16], char *buf, size_t len)
{
	const char *ok;

	if (as_addr16_is_v4mapped(a))
		ok = inet_ntop(AF_INET, a + 12, buf, (socklen_t)len);
	else
		ok = inet_ntop(AF_INET6, a, buf, (socklen_t)len);
	if (!ok && len)
		snprintf(buf, len, "?");
	return buf;
}
