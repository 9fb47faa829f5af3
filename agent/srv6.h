/*
 * agent/srv6.h - the SRv6 steering component (agent/srv6.c): programs
 * this host's tc egress along the paths of the services' intents, probes
 * the SR domain's links, answers `paths`. Included by the daemon only.
 */
#ifndef ANYSTEER_AGENT_SRV6_H
#define ANYSTEER_AGENT_SRV6_H

#include "agent/component.h"

extern const struct agent_component_ops agent_srv6_ops;

#endif
