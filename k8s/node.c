/*
 * k8s/node.c - this node's Node object: its topology.kubernetes.io/zone
 * label, the agent's zone when node.zone is not configured.
 *
 * Design. The client watches one Node (a fieldSelector on its name) with
 * the same list + watch protocol as every other kind; this file is the
 * table behind that watcher, pure like the store: list pages and watch
 * events in, one zone out. A Node of another name is ignored (the
 * selector should never send one). A label value that is not a label
 * value (the API server would refuse it; a fuzzer or a proxy need not)
 * is counted, logged and not taken: the zone stays what it was, as the
 * store keeps the last good state of a malformed object. A Node that is
 * deleted, or missing from a relist, has no zone.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k8s/k8s_json.h"
#include "lib/as.h"

struct k8s_node {
	char name[254];
	bool present;		/* listed (or added) and not deleted since */
	bool seen;		/* in the relist under way */
	bool relist_changed;	/* ... and the zone changed in it */
	char zone[K8S_ZONE_MAX + 1];	/* "" = none */
	uint64_t malformed, bad_zone;
};

int k8s_node_new(const char *name, k8s_node_t **out)
{
	*out = NULL;
	if (!name || !*name || strlen(name) >= sizeof((*out)->name))
		return AS_EINVAL;
	*out = calloc(1, sizeof(**out));
	if (!*out)
		return AS_ENOMEM;
	snprintf((*out)->name, sizeof((*out)->name), "%s", name);
	return AS_OK;
}

void k8s_node_free(k8s_node_t *t)
{
	free(t);
}

static bool alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9');
}

/* Kubernetes' label value rule, non-empty (the copy of
 * dns_topo_zone_problem() that tests/unit/test_name_rules.c keeps
 * honest: k8s/ may not include dns/). */
static bool zone_ok(const char *z)
{
	size_t n = strlen(z);

	if (n == 0 || n > K8S_ZONE_MAX || !alnum(z[0]) || !alnum(z[n - 1]))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!alnum(z[i]) && z[i] != '-' && z[i] != '_' && z[i] != '.')
			return false;
	return true;
}

/* A Node object (parsed) -> name and zone label. */
static int zone_of(const json_t *obj, char *name, size_t name_len,
		   char zone[K8S_ZONE_MAX + 1])
{
	json_t *md, *labels;
	const char *kind, *n, *z = NULL;

	name[0] = zone[0] = '\0';
	if (!json_is_object(obj) || k8s__str(obj, "kind", &kind) ||
	    (kind && strcmp(kind, "Node")) ||
	    k8s__typed(obj, "metadata", JSON_OBJECT, &md) || !md ||
	    k8s__str(md, "name", &n) || !n || !*n || strlen(n) >= name_len ||
	    k8s__typed(md, "labels", JSON_OBJECT, &labels) ||
	    (labels && k8s__str(labels, K8S_LABEL_ZONE, &z)))
		return AS_EMALFORMED;
	memcpy(name, n, strlen(n) + 1);
	/* An empty value is a legal label meaning nothing: no zone. */
	if (!z || !*z)
		return AS_OK;
	if (!zone_ok(z))
		return AS_EINVAL;
	memcpy(zone, z, strlen(z) + 1);
	return AS_OK;
}

int k8s_node_zone_parse(const char *json, size_t len, char *name,
			size_t name_len, char zone[K8S_ZONE_MAX + 1])
{
	json_t *root = k8s__load(json, len);
	int rc;

	if (!root) {
		name[0] = zone[0] = '\0';
		return AS_EMALFORMED;
	}
	rc = zone_of(root, name, name_len, zone);
	json_decref(root);
	return rc;
}

static bool set_zone(k8s_node_t *t, const char *zone)
{
	if (!strcmp(t->zone, zone))
		return false;
	if (*zone)
		as_notice("k8s: node %s: zone %s (label %s)", t->name, zone,
			  K8S_LABEL_ZONE);
	else
		as_notice("k8s: node %s: no zone (no label %s)", t->name,
			  K8S_LABEL_ZONE);
	snprintf(t->zone, sizeof(t->zone), "%s", zone);
	return true;
}

/* One Node from a list page or a watch event: whether the zone changed. */
static bool take(k8s_node_t *t, const json_t *obj)
{
	char name[254], zone[K8S_ZONE_MAX + 1];
	int rc = zone_of(obj, name, sizeof(name), zone);

	if (rc == AS_EMALFORMED) {
		t->malformed++;
		as_warn("k8s: Node %s: malformed object, skipped (zone kept)",
			name[0] ? name : "(unnamed)");
		return false;
	}
	if (strcmp(name, t->name))
		return false;
	t->present = t->seen = true;
	if (rc == AS_EINVAL) {
		const char *z = NULL;
		json_t *labels = json_object_get(json_object_get(obj, "metadata"),
						 "labels");

		k8s__str(labels, K8S_LABEL_ZONE, &z);
		t->bad_zone++;
		as_warn("k8s: Node %s: label %s=\"%.80s\" is not a zone (1-63 "
			"letters, digits, '-', '_', '.', beginning and ending "
			"with a letter or digit); zone %s kept", name,
			K8S_LABEL_ZONE, z ? z : "", t->zone[0] ? t->zone : "(none)");
		return false;
	}
	return set_zone(t, zone);
}

void k8s_node_relist_begin(k8s_node_t *t)
{
	t->seen = t->relist_changed = false;
}

int k8s_node_apply_list(k8s_node_t *t, const char *json, size_t len,
			char *rv, size_t rv_len, char *cont, size_t cont_len)
{
	json_t *items, *root = k8s__list_open(json, len, "NodeList", &items, rv,
					       rv_len, cont, cont_len);

	if (!root) {
		t->malformed++;
		as_warn("k8s: Node list: not a NodeList, skipped");
		return AS_EMALFORMED;
	}
	for (size_t i = 0; i < json_array_size(items); i++)
		t->relist_changed |= take(t, json_array_get(items, i));
	json_decref(root);
	return AS_OK;
}

bool k8s_node_relist_end(k8s_node_t *t)
{
	if (t->seen)
		return t->relist_changed;
	as_warn("k8s: no Node named %s (kubernetes.node_name): no zone from "
		"its label", t->name);
	t->present = false;
	return set_zone(t, "") || t->relist_changed;
}

void k8s_node_relist_abort(k8s_node_t *t)
{
	(void)t;
}

int k8s_node_apply_event(k8s_node_t *t, const char *json, size_t len,
			 struct k8s_event_info *info)
{
	json_t *obj = NULL, *root = k8s__event_open(json, len, info, &obj), *md;
	int rc = AS_OK;

	if (!root) {
		t->malformed++;
		as_warn("k8s: Node watch: not a watch event, skipped");
		return AS_EMALFORMED;
	}
	if (info->type == K8S_EV_ERROR || info->type == K8S_EV_BOOKMARK)
		goto out;
	if (info->type == K8S_EV_DELETED) {
		const char *n = NULL;

		md = json_object_get(obj, "metadata");
		if (json_is_object(md) && !k8s__str(md, "name", &n) && n &&
		    !strcmp(n, t->name)) {
			t->present = false;
			info->changed = set_zone(t, "");
		}
		goto out;
	}
	uint64_t before = t->malformed;

	info->changed = take(t, obj);
	if (t->malformed != before)
		rc = AS_EMALFORMED;
out:
	json_decref(root);
	return rc;
}

const char *k8s_node_zone(const k8s_node_t *t)
{
	return t && t->zone[0] ? t->zone : NULL;
}

void k8s_node_stats(const k8s_node_t *t, struct k8s_node_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (!t)
		return;
	out->present = t->present;
	snprintf(out->zone, sizeof(out->zone), "%s", t->zone);
	out->malformed = t->malformed;
	out->bad_zone = t->bad_zone;
}
