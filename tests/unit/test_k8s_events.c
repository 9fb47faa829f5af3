/*
 * tests/unit/test_k8s_events.c - Event aggregation (k8s/events.c): the
 * same warning told three times is one Event with count 3 (a POST, then
 * merge patches of count), what counts as an occurrence, failed writes,
 * an expired Event, the book's limit, and the patch body.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <jansson.h>

#include "k8s/k8s.h"
#include "lib/as.h"

static struct k8s_warning warn(const char *name, const char *message)
{
	return (struct k8s_warning){
		.reason = "PathRoutingUnsupported", .message = (char *)message,
		.okind = K8S_O_INGRESS, .namespace_ = "shop", .name = (char *)name,
	};
}

/* One round with one warning: the action asked for. */
static struct k8s_ev_action round1(k8s_evbook_t *b, const struct k8s_warning *w,
				   int64_t gen)
{
	struct k8s_ev_action act;

	k8s_evbook_begin(b);
	assert_int_equal(k8s_evbook_tell(b, w, "uid-1", gen, &act), AS_OK);
	k8s_evbook_end(b);
	return act;
}

static void empty_round(k8s_evbook_t *b)
{
	k8s_evbook_begin(b);
	k8s_evbook_end(b);
}

/* Three occurrences: a new Event, then two patches of its count. A
 * warning that merely stays is not told again. */
static void test_three_times_one_event(void **state)
{
	(void)state;
	k8s_evbook_t *b;
	struct k8s_warning w = warn("front", "/api goes to web");
	struct k8s_ev_action a;

	assert_int_equal(k8s_evbook_new(0, &b), AS_OK);
	a = round1(b, &w, 1);
	assert_int_equal(a.op, K8S_EV_CREATE);
	assert_int_equal(a.count, 1);
	/* In flight: the next rounds ask for nothing. */
	assert_int_equal(round1(b, &w, 1).op, K8S_EV_NONE);
	k8s_evbook_written(b, a.id, 201, "front.18a");
	assert_int_equal(k8s_evbook_count(b, a.id), 1);
	assert_int_equal(round1(b, &w, 1).op, K8S_EV_NONE);
	assert_int_equal(round1(b, &w, 1).op, K8S_EV_NONE);

	/* The spec changed (generation 2), the compromise is still there. */
	a = round1(b, &w, 2);
	assert_int_equal(a.op, K8S_EV_PATCH);
	assert_int_equal(a.count, 2);
	assert_string_equal(a.name, "front.18a");
	k8s_evbook_written(b, a.id, 200, NULL);
	assert_int_equal(round1(b, &w, 2).op, K8S_EV_NONE);

	/* Gone for a round, then back: the third occurrence. */
	empty_round(b);
	a = round1(b, &w, 2);
	assert_int_equal(a.op, K8S_EV_PATCH);
	assert_int_equal(a.count, 3);
	assert_string_equal(a.name, "front.18a");
	k8s_evbook_written(b, a.id, 200, NULL);
	assert_int_equal(k8s_evbook_count(b, a.id), 3);
	assert_int_equal(k8s_evbook_size(b), 1);

	/* Another message, or the same name with another uid (a new
	 * object), is another Event. */
	struct k8s_warning w2 = warn("front", "/v2 goes to web");
	k8s_evbook_begin(b);
	assert_int_equal(k8s_evbook_tell(b, &w2, "uid-1", 2, &a), AS_OK);
	assert_int_equal(a.op, K8S_EV_CREATE);
	assert_int_equal(k8s_evbook_tell(b, &w, "uid-2", 1, &a), AS_OK);
	assert_int_equal(a.op, K8S_EV_CREATE);
	k8s_evbook_end(b);
	assert_int_equal(k8s_evbook_size(b), 3);

	/* A new leadership counts each current warning once more. */
	k8s_evbook_free(b);
	assert_int_equal(k8s_evbook_new(0, &b), AS_OK);
	a = round1(b, &w, 1);
	k8s_evbook_written(b, a.id, 201, "front.1");
	k8s_evbook_retell(b);
	a = round1(b, &w, 1);
	assert_int_equal(a.op, K8S_EV_PATCH);
	assert_int_equal(a.count, 2);
	k8s_evbook_free(b);
}

/* A failed write is told again at the next round, with the same count;
 * a PATCH answered 404 (the Event expired) makes a new Event. */
static void test_failures(void **state)
{
	(void)state;
	k8s_evbook_t *b;
	struct k8s_warning w = warn("front", "m");
	struct k8s_ev_action a;

	assert_int_equal(k8s_evbook_new(0, &b), AS_OK);
	a = round1(b, &w, 1);
	k8s_evbook_written(b, a.id, 0, NULL);	/* transport error */
	a = round1(b, &w, 1);
	assert_int_equal(a.op, K8S_EV_CREATE);
	k8s_evbook_written(b, a.id, 201, "front.1");
	a = round1(b, &w, 2);
	assert_int_equal(a.op, K8S_EV_PATCH);
	k8s_evbook_written(b, a.id, 500, NULL);
	a = round1(b, &w, 2);
	assert_int_equal(a.op, K8S_EV_PATCH);
	assert_int_equal(a.count, 2);
	k8s_evbook_written(b, a.id, 404, NULL);
	a = round1(b, &w, 2);
	assert_int_equal(a.op, K8S_EV_CREATE);
	assert_int_equal(a.count, 1);
	/* Stale or unknown ids are ignored. */
	k8s_evbook_written(b, 99, 200, "x");
	k8s_evbook_written(b, a.id, 201, "front.2");
	k8s_evbook_written(b, a.id, 500, NULL);	/* not in flight: ignored */
	assert_int_equal(k8s_evbook_count(b, a.id), 1);
	k8s_evbook_free(b);
}

static void test_limit(void **state)
{
	(void)state;
	k8s_evbook_t *b;
	struct k8s_warning w1 = warn("a", "m"), w2 = warn("b", "m");
	struct k8s_warning bad = warn("c", "m");
	struct k8s_ev_action a;

	assert_int_equal(k8s_evbook_new(1, &b), AS_OK);
	k8s_evbook_begin(b);
	assert_int_equal(k8s_evbook_tell(b, &w1, "", 1, &a), AS_OK);
	assert_int_equal(k8s_evbook_tell(b, &w2, "", 1, &a), AS_ELIMIT);
	assert_int_equal(a.op, K8S_EV_NONE);
	bad.reason = NULL;
	assert_int_equal(k8s_evbook_tell(b, &bad, "", 1, &a), AS_EINVAL);
	k8s_evbook_end(b);
	k8s_evbook_free(b);
	k8s_evbook_free(NULL);
}

/* A repeat's body is a merge patch of count and lastTimestamp only. */
static void test_patch_body(void **state)
{
	(void)state;
	struct k8s_event_spec ev = {
		.name = "front.1", .namespace_ = "shop", .okind = K8S_O_INGRESS,
		.obj_ns = "shop", .obj_name = "front", .warning = true,
		.reason = "PathRoutingUnsupported", .message = "m",
		.now = "2026-12-06T17:00:03Z", .count = 3,
	};
	char *out;
	json_t *j;

	assert_int_equal(k8s_event_json(&ev, &out), AS_OK);
	j = json_loads(out, 0, NULL);
	assert_non_null(j);
	assert_int_equal(json_integer_value(json_object_get(j, "count")), 3);
	assert_string_equal(json_string_value(json_object_get(j, "lastTimestamp")),
			    "2026-12-06T17:00:03Z");
	assert_null(json_object_get(j, "firstTimestamp"));
	assert_null(json_object_get(j, "involvedObject"));
	json_decref(j);
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_three_times_one_event),
		cmocka_unit_test(test_failures),
		cmocka_unit_test(test_limit),
		cmocka_unit_test(test_patch_body),
	};

	as_log_set_level(AS_LOG_ERR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
