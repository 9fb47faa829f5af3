/*
 * tests/unit/test_k8s_node.c - this node's Node object (k8s/node.c): the
 * topology.kubernetes.io/zone label out of Node JSON in the real API's
 * shape (tests/k8s/fixtures/node-a.json), through list pages and watch
 * events: the zone, no label, a refused value (counted, zone kept), a
 * Node of another name ignored, deleted or missing from a relist.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "k8s/k8s.h"
#include "lib/as.h"
#include "k8s_fixture.h"

#define LABEL "topology.kubernetes.io/zone"

/* node-a.json with the zone label set to zone (NULL: removed) and the
 * name (NULL: node-a). */
static json_t *node(const char *name, const char *zone)
{
	json_t *n = k8s_fixture("node-a.json");
	json_t *md = json_object_get(n, "metadata");
	json_t *labels = json_object_get(md, "labels");

	if (name)
		json_object_set_new(md, "name", json_string(name));
	if (zone)
		json_object_set_new(labels, LABEL, json_string(zone));
	else
		json_object_del(labels, LABEL);
	return n;
}

static int parse(json_t *n, char *name, char *zone)
{
	char *s = k8s_dump(n);
	int rc = k8s_node_zone_parse(s, strlen(s), name, 254, zone);

	free(s);
	json_decref(n);
	return rc;
}

static void test_parse(void **state)
{
	char name[254], zone[K8S_ZONE_MAX + 1];

	(void)state;
	assert_int_equal(parse(node(NULL, "eu-west-1a"), name, zone), AS_OK);
	assert_string_equal(name, "node-a");
	assert_string_equal(zone, "eu-west-1a");
	/* no label, an empty one: no zone */
	assert_int_equal(parse(node(NULL, NULL), name, zone), AS_OK);
	assert_string_equal(zone, "");
	assert_int_equal(parse(node(NULL, ""), name, zone), AS_OK);
	assert_string_equal(zone, "");
	/* Kubernetes' label value rule: dots and underscores inside, case kept */
	assert_int_equal(parse(node(NULL, "Zone_1.b-2"), name, zone), AS_OK);
	assert_string_equal(zone, "Zone_1.b-2");
	/* refused values */
	static const char *const bad[] = {
		"-a", "a-", ".a", "a b", "a/b", "caf\xc3\xa9",
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	};
	for (size_t i = 0; i < AS_ARRAY_SIZE(bad); i++) {
		assert_int_equal(parse(node(NULL, bad[i]), name, zone), AS_EINVAL);
		assert_string_equal(zone, "");
	}
	/* 63 characters is a label value */
	assert_int_equal(parse(node(NULL,
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
		name, zone), AS_OK);
	/* not a Node: another kind, a label that is not a string, no name */
	json_t *n = node(NULL, "a");
	json_object_set_new(n, "kind", json_string("Service"));
	assert_int_equal(parse(n, name, zone), AS_EMALFORMED);
	n = node(NULL, NULL);
	json_object_set_new(json_object_get(json_object_get(n, "metadata"), "labels"),
			    LABEL, json_integer(1));
	assert_int_equal(parse(n, name, zone), AS_EMALFORMED);
	n = node(NULL, "a");
	json_object_del(json_object_get(n, "metadata"), "name");
	assert_int_equal(parse(n, name, zone), AS_EMALFORMED);
	assert_int_equal(k8s_node_zone_parse("[1]", 3, name, sizeof(name), zone),
			 AS_EMALFORMED);
}

static int event(k8s_node_t *t, const char *type, json_t *obj,
		 struct k8s_event_info *info)
{
	char *s = k8s_event(type, obj);
	int rc = k8s_node_apply_event(t, s, strlen(s), info);

	free(s);
	json_decref(obj);
	return rc;
}

static bool relist(k8s_node_t *t, json_t *items)
{
	json_t *l = json_pack("{s:s, s:s, s:{s:s}, s:o}", "kind", "NodeList",
			      "apiVersion", "v1", "metadata", "resourceVersion",
			      "77", "items", items);
	char *s = k8s_dump(l), rv[64], cont[64];

	k8s_node_relist_begin(t);
	assert_int_equal(k8s_node_apply_list(t, s, strlen(s), rv, sizeof(rv),
					     cont, sizeof(cont)), AS_OK);
	assert_string_equal(rv, "77");
	free(s);
	json_decref(l);
	return k8s_node_relist_end(t);
}

static void test_watch(void **state)
{
	k8s_node_t *t;
	struct k8s_event_info info;
	struct k8s_node_stats st;

	(void)state;
	assert_int_equal(k8s_node_new("node-a", &t), AS_OK);
	assert_null(k8s_node_zone(t));
	/* listed with its label */
	assert_true(relist(t, json_pack("[o]", node(NULL, "eu-west-1a"))));
	assert_string_equal(k8s_node_zone(t), "eu-west-1a");
	/* the label changes */
	assert_int_equal(event(t, "MODIFIED", node(NULL, "eu-west-1b"), &info), AS_OK);
	assert_true(info.changed);
	assert_int_equal(info.type, K8S_EV_MODIFIED);
	assert_string_equal(k8s_node_zone(t), "eu-west-1b");
	/* the same again (a status heartbeat): no change */
	assert_int_equal(event(t, "MODIFIED", node(NULL, "eu-west-1b"), &info), AS_OK);
	assert_false(info.changed);
	/* another Node: ignored */
	assert_int_equal(event(t, "MODIFIED", node("node-b", "eu-west-1c"), &info), AS_OK);
	assert_false(info.changed);
	assert_string_equal(k8s_node_zone(t), "eu-west-1b");
	/* a refused value: counted, the zone stays */
	assert_int_equal(event(t, "MODIFIED", node(NULL, "bad value"), &info), AS_OK);
	assert_false(info.changed);
	assert_string_equal(k8s_node_zone(t), "eu-west-1b");
	k8s_node_stats(t, &st);
	assert_int_equal(st.bad_zone, 1);
	assert_int_equal(st.malformed, 0);
	assert_true(st.present);
	/* malformed: counted, the zone stays */
	const char *bad = "{\"type\":\"MODIFIED\"}";
	assert_int_equal(k8s_node_apply_event(t, bad, strlen(bad), &info),
			 AS_EMALFORMED);
	json_t *n = node(NULL, NULL);
	json_object_set_new(json_object_get(n, "metadata"), "labels", json_string("x"));
	assert_int_equal(event(t, "MODIFIED", n, &info), AS_EMALFORMED);
	assert_string_equal(k8s_node_zone(t), "eu-west-1b");
	k8s_node_stats(t, &st);
	assert_int_equal(st.malformed, 2);
	/* the label removed */
	assert_int_equal(event(t, "MODIFIED", node(NULL, NULL), &info), AS_OK);
	assert_true(info.changed);
	assert_null(k8s_node_zone(t));
	assert_int_equal(event(t, "MODIFIED", node(NULL, "eu-west-1a"), &info), AS_OK);
	/* a bookmark and an ERROR carry what the client needs */
	const char *gone = "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\","
			   "\"code\":410}}";
	assert_int_equal(k8s_node_apply_event(t, gone, strlen(gone), &info), AS_OK);
	assert_int_equal(info.type, K8S_EV_ERROR);
	assert_int_equal(info.code, 410);
	/* deleted: no zone */
	assert_int_equal(event(t, "DELETED", node(NULL, "eu-west-1a"), &info), AS_OK);
	assert_true(info.changed);
	assert_null(k8s_node_zone(t));
	k8s_node_stats(t, &st);
	assert_false(st.present);
	/* back, then missing from a relist (only node-b listed) */
	assert_true(relist(t, json_pack("[o]", node(NULL, "eu-west-1a"))));
	assert_false(relist(t, json_pack("[o]", node(NULL, "eu-west-1a"))));
	assert_true(relist(t, json_pack("[o]", node("node-b", "eu-west-1a"))));
	assert_null(k8s_node_zone(t));
	/* a page that is not a NodeList changes nothing */
	char rv[8], cont[8];
	const char *svcs = "{\"kind\":\"ServiceList\",\"items\":[]}";
	assert_int_equal(k8s_node_apply_list(t, svcs, strlen(svcs), rv, sizeof(rv),
					     cont, sizeof(cont)), AS_EMALFORMED);
	k8s_node_free(t);
	assert_int_equal(k8s_node_new("", &t), AS_EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_watch),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
