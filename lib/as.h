/*
 * lib/as.h - what every anysteer module shares: the error codes, logging,
 * monotonic time, growable arrays and (lib/sockaddr.h) socket addresses.
 * The PRNG (lib/rng.h), the table hash (lib/hash.h) and intrusive lists
 * (lib/list.h) are headers of their own, included where used.
 *
 * Design: one error space for the whole project, as in Knot DNS. 0 is
 * success; negative values below -AS_ERR_BASE are anysteer's own, other
 * negative values are negated errno values, so a system call's failure
 * travels unchanged (return -errno) and as_strerror() describes both.
 * Functions that fail return one of these codes; nothing calls exit().
 *
 * Logging goes to one process-wide sink (stderr or syslog) with a level
 * filter. It is the only process-wide state in the project: every module
 * logs, and threading a logger through every pure core would buy nothing.
 * The level is an atomic so DNS worker threads read it without a lock.
 */
#ifndef ANYSTEER_LIB_AS_H
#define ANYSTEER_LIB_AS_H

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Address parsing, printing and comparison: nearly every module needs it. */
#include "lib/sockaddr.h"

#define AS_ERR_BASE 1000

enum as_err {
	AS_OK = 0,
	AS_ENOMEM = -ENOMEM,
	AS_EINVAL = -EINVAL,
	AS_ENOENT = -ENOENT,
	AS_EEXIST = -EEXIST,
	AS_ERANGE = -ERANGE,
	AS_EAGAIN = -EAGAIN,
	AS_ENOSPC = -ENOSPC,
	AS_ETIMEDOUT = -ETIMEDOUT,

	AS_ECONFIG = -AS_ERR_BASE - 1,	/* configuration invalid */
	AS_EPARSE = -AS_ERR_BASE - 2,	/* syntax error in input */
	AS_EMALFORMED = -AS_ERR_BASE - 3, /* malformed packet or record */
	AS_ETRUNC = -AS_ERR_BASE - 4,	/* input ends early */
	AS_ESPACE = -AS_ERR_BASE - 5,	/* output buffer too small */
	AS_ENOTFOUND = -AS_ERR_BASE - 6, /* no such name, key or item */
	AS_EAUTH = -AS_ERR_BASE - 7,	/* authentication failed */
	AS_EVERSION = -AS_ERR_BASE - 8,	/* unsupported protocol version */
	AS_ESTATE = -AS_ERR_BASE - 9,	/* operation not valid in this state */
	AS_EPROTO = -AS_ERR_BASE - 10,	/* peer violated the protocol */
	AS_ELIMIT = -AS_ERR_BASE - 11,	/* a configured limit was reached */
	AS_ECRYPTO = -AS_ERR_BASE - 12,	/* crypto library failure */
	AS_ELIB = -AS_ERR_BASE - 13,	/* an external library failed */
	AS_EREMOTE = -AS_ERR_BASE - 14,	/* remote side reported an error */
	AS_ESTALE = -AS_ERR_BASE - 15,	/* older than what we hold (replay) */
	AS_ERR_LAST = -AS_ERR_BASE - 16,
};

/* Describes any anysteer error code (or negated errno). Never NULL. */
const char *as_strerror(int err);
/* Short symbolic name ("AS_EPARSE", "ENOENT"), for logs and JSON. */
const char *as_errname(int err);

enum as_log_level {
	AS_LOG_ERR = 0,
	AS_LOG_WARN = 1,
	AS_LOG_NOTICE = 2,
	AS_LOG_INFO = 3,
	AS_LOG_DEBUG = 4,
};

/* Parses "error", "warning", "notice", "info", "debug"; -1 if unknown. */
int as_log_level_parse(const char *name);
const char *as_log_level_name(int level);
void as_log_set_level(int level);
int as_log_get_level(void);
/* Sends log lines to syslog instead of stderr (ident is kept by reference). */
void as_log_use_syslog(const char *ident);
int as_log_enabled(int level);
void as_log(int level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void as_vlog(int level, const char *fmt, va_list ap);

#define as_err(...) as_log(AS_LOG_ERR, __VA_ARGS__)
#define as_warn(...) as_log(AS_LOG_WARN, __VA_ARGS__)
#define as_notice(...) as_log(AS_LOG_NOTICE, __VA_ARGS__)
#define as_info(...) as_log(AS_LOG_INFO, __VA_ARGS__)
#define as_debug(...) \
	do { if (as_log_enabled(AS_LOG_DEBUG)) as_log(AS_LOG_DEBUG, __VA_ARGS__); } while (0)

/*
 * Rate-limited logging for messages an attacker or a resource limit can
 * trigger at packet rate (accept failures at the open-file limit, bad
 * packets). At most `burst` lines per `interval_ms`; the first line of the
 * next window says how many were suppressed. Thread-safe (atomics): one
 * limiter may be shared by the loop thread and libmicrohttpd's thread.
 * Zero-initialised limiters use 1 line per 10 s.
 */
struct as_ratelimit {
	uint32_t interval_ms;	/* 0 = 10000 */
	uint32_t burst;		/* 0 = 1 */
	_Atomic uint64_t window_start_ms;
	_Atomic uint32_t in_window;
	_Atomic uint64_t suppressed;
};
#define AS_RATELIMIT_INIT(ms, n) { .interval_ms = (ms), .burst = (n) }
/* true when a line may be written at now_ms; *suppressed (may be NULL) is
 * set to the lines dropped since the last one allowed. */
bool as_ratelimit_allow(struct as_ratelimit *rl, uint64_t now_ms,
			uint64_t *suppressed);
/* as_log through a limiter; appends " (N similar messages suppressed)". */
void as_log_ratelimited(struct as_ratelimit *rl, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Monotonic clock in milliseconds / nanoseconds; wall clock in seconds. */
uint64_t as_now_ms(void);
uint64_t as_now_ns(void);
uint64_t as_wall_s(void);

/* Parses a duration such as "5s", "250ms", "2m", "1h" or a bare number of
 * seconds into milliseconds. Returns AS_OK or AS_EPARSE / AS_ERANGE. */
int as_parse_duration_ms(const char *s, uint64_t *out_ms);

/*
 * Growable arrays: an array is a pointer, a count and a capacity kept by
 * the caller (struct fields, no wrapper type, so a module's struct stays
 * readable). as_grow() makes room for `need` elements of `elem` bytes in
 * the array whose pointer is at arrp, doubling from 8, and leaves array
 * and capacity untouched when it fails: AS_OK, or AS_ENOMEM (also when
 * the size would overflow; AS_EINVAL for elem 0). AS_GROW takes the element size from the
 * pointer's type:  if (AS_GROW(t->v, t->cap, t->n + 1)) goto fail;
 */
int as_grow(void *arrp, size_t *cap, size_t need, size_t elem);
#define AS_GROW(arr, cap, need) as_grow(&(arr), &(cap), (need), sizeof(*(arr)))

#define AS_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define AS_MIN(a, b) ((a) < (b) ? (a) : (b))
#define AS_MAX(a, b) ((a) > (b) ? (a) : (b))

#endif
