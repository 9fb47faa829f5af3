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

/* How a service's answers of one address family are drawn. */
enum agent_answer_mode {
	AGENT_ANSWER_NONE,			/* no endpoint of the family */
	AGENT_ANSWER_WEIGHTED,			/* by effective weight */
	AGENT_ANSWER_FALLBACK_CONFIGURED,	/* none healthy with a weight:
						 * configured weights, all */
	AGENT_ANSWER_FALLBACK_UNIFORM,		/* those 0 too: all alike */
	AGENT_ANSWER_LOADED,			/* every healthy one at factor 0:
						 * the healthy ones by configured
						 * weight (dns.h, tier 2) */
};
const char *agent_answer_mode_name(enum agent_answer_mode m);
/* The share of first answers of each of the n endpoints of family
 * (AF_INET6, AF_INET) into share[j] (others untouched), as the sampler
 * draws them; returns how. */
enum agent_answer_mode agent_answer_shares(const struct dns_endpoint_info *eps,
					   size_t n, int family, double *share);
/* Every service of the view with its endpoints, effective weights and
 * shares (fractions), services by name, endpoints by node and address.
 * node_cpu: node name -> CPU utilisation 0..1 (may be NULL). */
json_t *agent_services_json(const dns_view_t *view, json_t *node_cpu);

/* `explain NAME [--client PREFIX]` (docs/intents.md): the service named
 * name (any case) as in agent_services_json, with "node_zone",
 * "client_zone" and "explanation", one line saying how its intent plans
 * this node's answers (for a client in prefix client, NULL: any). NULL
 * if the view has no such service. */
json_t *agent_explain_json(const dns_view_t *view, const char *name,
			   const char *node_zone, const struct dns_prefix *client,
			   json_t *node_cpu);

#endif
