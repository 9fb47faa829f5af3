/* Time and duration helpers shared by all modules. */
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

int as_grow(void *arrp, size_t *cap, size_t need, size_t elem)
{
	void *arr, *grown;
	size_t ncap = *cap ? *cap : 8;

	if (need <= *cap)
		return AS_OK;
	if (elem == 0)
		return AS_EINVAL;
	while (ncap < need) {
		if (ncap > SIZE_MAX / 2)
			return AS_ENOMEM;
		ncap *= 2;
	}
	if (ncap > SIZE_MAX / elem)
		return AS_ENOMEM;
	/* arrp is the address of some T *: read and write it as bytes, so
	 * no T * is accessed through a void ** (strict aliasing). */
	memcpy(&arr, arrp, sizeof(arr));
	grown = realloc(arr, ncap * elem);
	if (!grown)
		return AS_ENOMEM;
	memcpy(arrp, &grown, sizeof(grown));
	*cap = ncap;
	return AS_OK;
}
