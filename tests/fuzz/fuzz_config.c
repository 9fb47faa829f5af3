/*
 * libFuzzer harness for the configuration loader: any bytes as a YAML
 * file must give either a valid config or AS_ECONFIG with well-formed
 * "file:line: key: message" lines, and must not leak.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "lib/as.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char err[8192];
	struct agent_config *cfg = NULL;

	as_log_set_level(-1); /* the loader may log; keep the run quiet */
	err[0] = 0;
	int rc = agent_config_parse("fuzz.yaml", (const char *)data, size, &cfg,
				    err, sizeof(err));
	if (rc == AS_OK) {
		if (!cfg || !cfg->dns.zone || cfg->dns.n_listen == 0)
			abort();
		agent_config_free(cfg);
	} else {
		if (cfg)
			abort();
		/* Every reported line names the file. */
		for (const char *p = err; *p; p = strchr(p, '\n') + 1) {
			if (strncmp(p, "fuzz.yaml", 9) != 0)
				abort();
			if (!strchr(p, '\n'))
				break;
		}
	}
	return 0;
}
