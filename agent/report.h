/*
 * agent/report.h - pure renderings for status, services and metrics
 * (see report.c).
 */
#ifndef ANYSTEER_AGENT_REPORT_H
#define ANYSTEER_AGENT_REPORT_H

#include <jansson.h>

#include "agent/agent.h"
#include "dns/dns.h"

const char *agent_rcode_name(unsigned rcode);
json_t *agent_dns_stats_json(const struct dns_stats *st);
json_t *agent_load_json(const struct agent_load_sample *l,
			const struct agent_config *c);
/* Every service of the view with its endpoints, effective weights and
 * shares. */
json_t *agent_services_json(const dns_view_t *view);

#endif
