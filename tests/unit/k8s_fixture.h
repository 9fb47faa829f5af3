/*
 * tests/unit/k8s_fixture.h - helpers shared by the Kubernetes tests:
 * fixture files (the JSON files in tests/k8s/fixtures/, shaped like real API-server
 * output) loaded as jansson objects and rendered back to JSON text.
 */
#ifndef ANYSTEER_TESTS_K8S_FIXTURE_H
#define ANYSTEER_TESTS_K8S_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

static inline const char *k8s_srcdir(void)
{
	const char *s = getenv("top_srcdir");

	return s && *s ? s : K8S_TEST_SRCDIR;
}

/* Loads tests/k8s/fixtures/<name>; aborts the test on failure. */
static inline json_t *k8s_fixture(const char *name)
{
	char path[4096];
	json_error_t err;
	json_t *j;

	snprintf(path, sizeof(path), "%s/tests/k8s/fixtures/%s", k8s_srcdir(), name);
	j = json_load_file(path, 0, &err);
	if (!j) {
		fprintf(stderr, "fixture %s: %s\n", path, err.text);
		abort();
	}
	return j;
}

static inline char *k8s_fixture_path(const char *name)
{
	char *p;

	if (asprintf(&p, "%s/tests/k8s/fixtures/%s", k8s_srcdir(), name) < 0)
		abort();
	return p;
}

/* Compact JSON text of j (one line, as in a watch stream); caller frees. */
static inline char *k8s_dump(const json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT);

	if (!s)
		abort();
	return s;
}

/* {"type": type, "object": obj} as one line; obj is borrowed. */
static inline char *k8s_event(const char *type, json_t *obj)
{
	json_t *ev = json_pack("{s:s, s:O}", "type", type, "object", obj);
	char *s = k8s_dump(ev);

	json_decref(ev);
	return s;
}

/* Walks the dotted path of objects below obj (creating them), then sets
 * member key (which may itself contain dots) to val (stolen). */
static inline void k8s_set(json_t *obj, const char *path, const char *key,
			   json_t *val)
{
	char buf[256], *p = buf, *dot;

	snprintf(buf, sizeof(buf), "%s", path);
	while (*p) {
		json_t *n;

		dot = strchr(p, '.');
		if (dot)
			*dot = '\0';
		n = json_object_get(obj, p);
		if (!n) {
			n = json_object();
			json_object_set_new(obj, p, n);
		}
		obj = n;
		if (!dot)
			break;
		p = dot + 1;
	}
	json_object_set_new(obj, key, val);
}

#endif
