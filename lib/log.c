/*
 * The process-wide log sink (see lib/as.h for why it is the one global).
 * Lines go to stderr with a monotonic-free wall-clock timestamp and the
 * level, or to syslog. One write(2) per line keeps lines from different
 * threads whole.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "lib/as.h"

static _Atomic int log_level = AS_LOG_NOTICE;
static _Atomic int log_syslog;

static const char *const level_names[] = {
	[AS_LOG_ERR] = "error",
	[AS_LOG_WARN] = "warning",
	[AS_LOG_NOTICE] = "notice",
	[AS_LOG_INFO] = "info",
	[AS_LOG_DEBUG] = "debug",
};

int as_log_level_parse(const char *name)
{
	for (size_t i = 0; i < AS_ARRAY_SIZE(level_names); i++)
		if (strcasecmp(name, level_names[i]) == 0)
			return (int)i;
	if (strcasecmp(name, "err") == 0)
		return AS_LOG_ERR;
	if (strcasecmp(name, "warn") == 0)
		return AS_LOG_WARN;
	return -1;
}

const char *as_log_level_name(int level)
{
	if (level < 0 || (size_t)level >= AS_ARRAY_SIZE(level_names))
		return "unknown";
	return level_names[level];
}

void as_log_set_level(int level)
{
	atomic_store(&log_level, level);
}

int as_log_get_level(void)
{
	return atomic_load_explicit(&log_level, memory_order_relaxed);
}

int as_log_enabled(int level)
{
	return level <= atomic_load_explicit(&log_level, memory_order_relaxed);
}

void as_log_use_syslog(const char *ident)
{
	openlog(ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
	atomic_store(&log_syslog, 1);
}

void as_vlog(int level, const char *fmt, va_list ap)
{
	static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_NOTICE, LOG_INFO,
				    LOG_DEBUG };
	char line[1024];
	size_t off = 0;

	if (!as_log_enabled(level))
		return;
	if (level < 0)
		level = 0;
	if (level > AS_LOG_DEBUG)
		level = AS_LOG_DEBUG;
	if (atomic_load_explicit(&log_syslog, memory_order_relaxed)) {
		vsyslog(prio[level], fmt, ap);
		return;
	}
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	off = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
	off += (size_t)snprintf(line + off, sizeof(line) - off, ".%03ldZ %s: ",
				ts.tv_nsec / 1000000, level_names[level]);
	int n = vsnprintf(line + off, sizeof(line) - off - 1, fmt, ap);
	if (n < 0)
		n = 0;
	off += (size_t)n;
	if (off > sizeof(line) - 2)
		off = sizeof(line) - 2;
	line[off++] = '\n';
	ssize_t w = write(STDERR_FILENO, line, off);
	(void)w;
}

void as_log(int level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	as_vlog(level, fmt, ap);
	va_end(ap);
}

bool as_ratelimit_allow(struct as_ratelimit *rl, uint64_t now_ms,
			uint64_t *suppressed)
{
	uint64_t interval = rl->interval_ms ? rl->interval_ms : 10000;
	uint32_t burst = rl->burst ? rl->burst : 1;
	uint64_t start = atomic_load(&rl->window_start_ms);

	if (suppressed)
		*suppressed = 0;
	/* A new window: one thread wins the exchange and resets the count;
	 * losers fall through and count against the new window. */
	if (start == 0 || now_ms - start >= interval) {
		if (atomic_compare_exchange_strong(&rl->window_start_ms, &start,
						   now_ms ? now_ms : 1)) {
			atomic_store(&rl->in_window, 1);
			uint64_t s = atomic_exchange(&rl->suppressed, 0);
			if (suppressed)
				*suppressed = s;
			return true;
		}
	}
	if (atomic_fetch_add(&rl->in_window, 1) < burst)
		return true;
	atomic_fetch_add(&rl->suppressed, 1);
	return false;
}

void as_log_ratelimited(struct as_ratelimit *rl, int level, const char *fmt, ...)
{
	uint64_t suppressed;
	char msg[896];
	va_list ap;

	if (!as_log_enabled(level))
		return;
	if (!as_ratelimit_allow(rl, as_now_ms(), &suppressed))
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (suppressed)
		as_log(level, "%s (%llu similar messages suppressed)", msg,
		       (unsigned long long)suppressed);
	else
		as_log(level, "%s", msg);
}
