/*
 * Local load sampler, pure part: parsers for /proc/stat, /proc/loadavg and
 * /proc/pressure/cpu text, utilisation between two readings, EWMA. The
 * daemon reads the files on a timer and feeds them here, so the tests use
 * recorded file contents instead of a live machine.
 *
 * Which signal steers is settled here too (agent_load_settle): the
 * measured one (load.signal), a static value (load.source: static, for
 * testbeds and CI, where every node measures the same shared host), or a
 * test override set at run time (`anysteerctl load set`, only with
 * load.override). The readings are taken in every case, so status still
 * shows what the machine does.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "dns/dns.h"
#include "lib/as.h"

/* Reads up to n unsigned numbers separated by blanks; returns how many. */
static int read_u64s(const char *p, uint64_t *v, int n)
{
	int i = 0;
	while (i < n) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p < '0' || *p > '9')
			break;
		char *end;
		errno = 0;
		v[i] = strtoull(p, &end, 10);
		if (errno)
			return -1;
		p = end;
		i++;
	}
	return i;
}

int agent_parse_proc_stat(const char *text, struct agent_cpu_times *out,
			  unsigned *ncpu)
{
	/* user nice system idle iowait irq softirq steal guest guest_nice */
	uint64_t v[10] = { 0 };
	bool have_total = false;
	unsigned cpus = 0;
	const char *line = text;

	while (line && *line) {
		if (strncmp(line, "cpu ", 4) == 0) {
			int n = read_u64s(line + 4, v, 10);
			if (n < 4)
				return AS_EPARSE;
			have_total = true;
		} else if (strncmp(line, "cpu", 3) == 0 && line[3] >= '0' &&
			   line[3] <= '9') {
			cpus++;
		}
		line = strchr(line, '\n');
		if (line)
			line++;
	}
	if (!have_total)
		return AS_EPARSE;
	/* guest time is already included in user/nice: don't count it twice. */
	uint64_t idle = v[3] + v[4];
	uint64_t total = v[0] + v[1] + v[2] + v[3] + v[4] + v[5] + v[6] + v[7];
	out->total = total;
	out->busy = total - idle;
	if (ncpu)
		*ncpu = cpus ? cpus : 1;
	return AS_OK;
}

int agent_parse_loadavg(const char *text, double *load1)
{
	char *end;
	errno = 0;
	double v = strtod(text, &end);
	if (errno || end == text || !isfinite(v) || v < 0)
		return AS_EPARSE;
	*load1 = v;
	return AS_OK;
}

int agent_parse_psi_cpu(const char *text, double *some_avg10)
{
	const char *p = strstr(text, "some ");
	if (!p || (p != text && p[-1] != '\n'))
		return AS_EPARSE;
	p = strstr(p, "avg10=");
	if (!p)
		return AS_EPARSE;
	p += 6;
	char *end;
	errno = 0;
	double v = strtod(p, &end);
	if (errno || end == p || !isfinite(v) || v < 0 || v > 100)
		return AS_EPARSE;
	*some_avg10 = v;
	return AS_OK;
}

double agent_cpu_util(const struct agent_cpu_times *prev,
		      const struct agent_cpu_times *cur)
{
	/* Counters only grow; anything else (wrap, reset) reads as idle. */
	if (cur->total <= prev->total || cur->busy < prev->busy)
		return 0.0;
	double u = (double)(cur->busy - prev->busy) /
		   (double)(cur->total - prev->total);
	return u < 0 ? 0 : (u > 1 ? 1 : u);
}

double agent_ewma(double prev, double x, double alpha)
{
	if (!isfinite(prev))
		return x;
	return prev + alpha * (x - prev);
}

void agent_load_settle(struct agent_load_sample *s, const struct agent_config *c,
		       double override)
{
	const char *sig = c->load.signal;
	double v;

	if (!isnan(override)) {
		v = override;
		s->source = "override";
	} else if (c->load.source && strcmp(c->load.source, "static") == 0) {
		v = c->load.value;
		s->source = "static";
	} else if (strcmp(sig, "psi") == 0 && s->have_psi) {
		v = s->psi_some_avg10 / 100.0;
		s->source = "psi";
	} else if (strcmp(sig, "loadavg") == 0) {
		v = s->ncpu ? s->loadavg1 / s->ncpu : s->loadavg1;
		s->source = "loadavg";
	} else {
		/* cpu, and psi where the kernel has no pressure file. */
		v = s->cpu_util;
		s->source = "cpu";
	}
	if (!isfinite(v) || v < 0)
		v = 0;
	s->signal = v > 1 ? 1 : v;
	s->factor = dns_load_factor(s->signal, c->load.low_watermark,
				    c->load.high_watermark);
}
