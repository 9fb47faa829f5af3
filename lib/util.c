/* Time, duration and address helpers shared by all modules. */
#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "lib/as.h"

uint64_t as_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t as_now_ms(void)
{
	return as_now_ns() / 1000000ull;
}

uint64_t as_wall_s(void)
{
	return (uint64_t)time(NULL);
}

int as_parse_duration_ms(const char *s, uint64_t *out_ms)
{
	static const struct {
		const char *suffix;
		uint64_t ms;
	} units[] = {
		{ "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 },
		{ "", 1000 },
	};
	char *end;

	if (!s || !isdigit((unsigned char)*s))
		return AS_EPARSE;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || v < 0)
		return AS_EPARSE;
	for (size_t i = 0; i < AS_ARRAY_SIZE(units); i++) {
		if (strcmp(end, units[i].suffix) == 0) {
			double ms = v * (double)units[i].ms;
			if (ms > 1e15)
				return AS_ERANGE;
			*out_ms = (uint64_t)(ms + 0.5);
			return AS_OK;
		}
	}
	return AS_EPARSE;
}

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
