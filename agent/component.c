/*
 * agent/component.c - helpers every component may use (component.h).
 */
#include <stdio.h>

#include "agent/component.h"

void agent_metric_head(FILE *f, const char *name, const char *help,
		       const char *type)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}
