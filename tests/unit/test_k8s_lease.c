/*
 * tests/unit/test_k8s_lease.c - the Lease JSON and the leader-election
 * state machine: acquire, renew, expire, take over, release, 409s and
 * the renew deadline, with client-go's default timings.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "k8s/k8s.h"
#include "lib/as.h"
#include "tests/unit/k8s_fixture.h"

#define WALL0 INT64_C(1796576400000000)	/* 2026-12-06T17:00:00Z */

static void test_time(void **state)
{
	(void)state;
	char buf[40];
	int64_t us;

	assert_int_equal(k8s_time_parse("2026-12-06T17:00:00Z", &us), AS_OK);
	assert_true(us == WALL0);
	assert_int_equal(k8s_time_format(WALL0 + 123456, true, buf, sizeof(buf)), AS_OK);
	assert_string_equal(buf, "2026-12-06T17:00:00.123456Z");
	assert_int_equal(k8s_time_format(WALL0 + 123456, false, buf, sizeof(buf)), AS_OK);
	assert_string_equal(buf, "2026-12-06T17:00:00Z");
	assert_int_equal(k8s_time_parse("2026-12-06T19:00:00.5+02:00", &us), AS_OK);
	assert_true(us == WALL0 + 500000);
	assert_int_equal(k8s_time_parse("2026-12-06 17:00:00Z", &us), AS_EPARSE);
	assert_int_equal(k8s_time_parse("2026-12-06T17:00:00", &us), AS_EPARSE);
	assert_int_equal(k8s_time_parse("2026-13-06T17:00:00Z", &us), AS_EPARSE);
	assert_int_equal(k8s_time_format(WALL0, true, buf, 10), AS_ESPACE);
}

static void test_json(void **state)
{
	(void)state;
	json_t *j = k8s_fixture("lease-held.json");
	char *text = k8s_dump(j), *enc;
	struct k8s_lease_rec rec, back;
	int64_t at;

	assert_int_equal(k8s_lease_decode(text, strlen(text), &rec), AS_OK);
	assert_true(rec.exists);
	assert_string_equal(rec.holder, "anysteer-7x2kq");
	assert_string_equal(rec.rv, "4001");
	assert_int_equal(rec.duration_s, 15);
	assert_int_equal(rec.transitions, 3);
	assert_int_equal(k8s_time_parse("2026-12-06T17:00:00.123456Z", &at), AS_OK);
	assert_true(rec.acquire_us == at);

	assert_int_equal(k8s_lease_encode("anysteer", "anysteer-leader", &rec, &enc), AS_OK);
	assert_non_null(strstr(enc, "\"renewTime\":\"2026-12-06T17:05:02.654321Z\""));
	assert_non_null(strstr(enc, "\"apiVersion\":\"coordination.k8s.io/v1\""));
	assert_int_equal(k8s_lease_decode(enc, strlen(enc), &back), AS_OK);
	assert_memory_equal(&rec, &back, sizeof(rec));
	free(enc);
	/* For POST: no resourceVersion at all. */
	rec.rv[0] = '\0';
	assert_int_equal(k8s_lease_encode("anysteer", "anysteer-leader", &rec, &enc), AS_OK);
	assert_null(strstr(enc, "resourceVersion"));
	free(enc);
	assert_int_equal(k8s_lease_encode("", "x", &rec, &enc), AS_EINVAL);

	/* Bad time, wrong kind, wrong type: malformed, nothing kept. */
	k8s_set(j, "spec", "renewTime", json_string("yesterday"));
	free(text);
	text = k8s_dump(j);
	assert_int_equal(k8s_lease_decode(text, strlen(text), &rec), AS_EMALFORMED);
	assert_false(rec.exists);
	free(text);
	k8s_set(j, "spec", "renewTime", json_integer(5));
	text = k8s_dump(j);
	assert_int_equal(k8s_lease_decode(text, strlen(text), &rec), AS_EMALFORMED);
	free(text);
	k8s_set(j, "spec", "renewTime", json_null());
	k8s_set(j, "", "kind", json_string("ConfigMap"));
	text = k8s_dump(j);
	assert_int_equal(k8s_lease_decode(text, strlen(text), &rec), AS_EMALFORMED);
	free(text);
	json_decref(j);
}

static k8s_elector_t *elector(const char *id)
{
	struct k8s_elector_opts o = { .identity = id };
	k8s_elector_t *e;

	assert_int_equal(k8s_elector_new(&o, &e), AS_OK);
	return e;
}

/* The "server": what a write leaves in the Lease, with a new rv. */
static void store(struct k8s_lease_rec *lease, const struct k8s_lease_rec *w,
		  int *rv)
{
	*lease = *w;
	snprintf(lease->rv, sizeof(lease->rv), "%d", ++*rv);
}

static void test_opts(void **state)
{
	(void)state;
	k8s_elector_t *e;
	struct k8s_elector_opts o = { .identity = "" };

	assert_int_equal(k8s_elector_new(&o, &e), AS_EINVAL);
	o.identity = "a";
	o.lease_ms = 10000;	/* deadline 10 s must be below the lease */
	assert_int_equal(k8s_elector_new(&o, &e), AS_EINVAL);
	o.lease_ms = 15000;
	o.retry_ms = 10000;
	assert_int_equal(k8s_elector_new(&o, &e), AS_EINVAL);
}

/* Acquire from nothing, renew, another candidate waits. */
static void test_acquire_renew(void **state)
{
	(void)state;
	k8s_elector_t *a = elector("agent-a"), *b = elector("agent-b");
	struct k8s_lease_rec lease = { 0 };
	struct k8s_lease_action act;
	int rv = 100;
	uint64_t t = 1000;

	k8s_elector_observe(a, t, WALL0, &lease, &act);
	assert_int_equal(act.op, K8S_LEASE_CREATE);
	assert_string_equal(act.rec.holder, "agent-a");
	assert_int_equal(act.rec.duration_s, 15);
	assert_int_equal(act.rec.transitions, 0);
	assert_string_equal(act.rec.rv, "");
	assert_false(k8s_elector_is_leader(a, t));
	store(&lease, &act.rec, &rv);
	k8s_elector_written(a, t, K8S_LEASE_OK, &lease);
	assert_true(k8s_elector_is_leader(a, t));
	assert_int_equal(k8s_elector_next(a), t + K8S_LEASE_RETRY_MS);

	/* b at the same time: held, wait one retry period. */
	k8s_elector_observe(b, t, WALL0, &lease, &act);
	assert_int_equal(act.op, K8S_LEASE_WAIT);
	assert_int_equal(act.next_ms, t + 2000);
	assert_string_equal(k8s_elector_holder(b), "agent-a");
	assert_false(k8s_elector_is_leader(b, t));

	/* a renews at its next round: update over rv 101, acquireTime and
	 * transitions kept, renewTime moves. */
	t += 2000;
	k8s_elector_observe(a, t, WALL0 + 2000000, &lease, &act);
	assert_int_equal(act.op, K8S_LEASE_UPDATE);
	assert_string_equal(act.rec.rv, "101");
	assert_true(act.rec.acquire_us == WALL0);
	assert_true(act.rec.renew_us == WALL0 + 2000000);
	assert_int_equal(act.rec.transitions, 0);
	store(&lease, &act.rec, &rv);
	k8s_elector_written(a, t, K8S_LEASE_OK, &lease);
	assert_true(k8s_elector_is_leader(a, t));
	k8s_elector_free(a);
	k8s_elector_free(b);
}

/* The holder stops renewing: b takes over only after a full lease
 * duration on its own clock since it last saw the record change, even
 * when the record's renewTime is far in the past (clock skew). */
static void test_expire_and_steal(void **state)
{
	(void)state;
	k8s_elector_t *b = elector("agent-b");
	struct k8s_lease_rec lease = { .exists = true, .holder = "agent-a",
				       .rv = "7", .duration_s = 15,
				       .acquire_us = WALL0 - 3600000000LL,
				       .renew_us = WALL0 - 3600000000LL,
				       .transitions = 2 };
	struct k8s_lease_action act;
	uint64_t t0 = 50000;

	k8s_elector_observe(b, t0, WALL0, &lease, &act);
	assert_int_equal(act.op, K8S_LEASE_WAIT);
	k8s_elector_observe(b, t0 + 14999, WALL0, &lease, &act);
	assert_int_equal(act.op, K8S_LEASE_WAIT);
	k8s_elector_observe(b, t0 + 15000, WALL0 + 15000000, &lease, &act);
	assert_int_equal(act.op, K8S_LEASE_UPDATE);
	assert_string_equal(act.rec.holder, "agent-b");
	assert_string_equal(act.rec.rv, "7");
	assert_int_equal(act.rec.transitions, 3);
	assert_true(act.rec.acquire_us == WALL0 + 15000000);

	/* a renewed meanwhile: b's update is refused (409). b is not
	 * leader, and a's new record restarts b's clock. */
	k8s_elector_written(b, t0 + 15010, K8S_LEASE_CONFLICT, NULL);
	assert_false(k8s_elector_is_leader(b, t0 + 15010));
	lease.renew_us = WALL0 + 15000000;
	snprintf(lease.rv, sizeof(lease.rv), "8");
	k8s_elector_observe(b, t0 + 17000, WALL0 + 17000000, &lease, &act);
	assert_int_equal(act.op, K8S_LEASE_WAIT);
	k8s_elector_observe(b, t0 + 17000 + 14999, WALL0, &lease, &act);
	assert_int_equal(act.op, K8S_LEASE_WAIT);
	k8s_elector_observe(b, t0 + 17000 + 15000, WALL0, &lease, &act);
	assert_int_equal(act.op, K8S_LEASE_UPDATE);
	assert_string_equal(act.rec.rv, "8");
	k8s_elector_written(b, t0 + 32001, K8S_LEASE_OK, NULL);
	assert_true(k8s_elector_is_leader(b, t0 + 32001));
	assert_string_equal(k8s_elector_holder(b), "agent-b");
	k8s_elector_free(b);
}

/* A leader whose renewals fail stops leading after the renew deadline,
 * 5 s before anyone else may take over. */
static void test_renew_deadline(void **state)
{
	(void)state;
	k8s_elector_t *a = elector("agent-a");
	struct k8s_lease_rec lease = { 0 };
	struct k8s_lease_action act;
	int rv = 1;
	uint64_t t = 0;

	k8s_elector_observe(a, t, WALL0, &lease, &act);
	store(&lease, &act.rec, &rv);
	k8s_elector_written(a, t, K8S_LEASE_OK, &lease);
	for (t = 2000; t < 12000; t += 2000) {
		k8s_elector_observe(a, t, WALL0, &lease, &act);
		assert_int_equal(act.op, K8S_LEASE_UPDATE);
		k8s_elector_written(a, t, K8S_LEASE_FAILED, NULL);
	}
	assert_true(k8s_elector_is_leader(a, 9999));
	assert_false(k8s_elector_is_leader(a, 10000));
	assert_true(K8S_LEASE_RENEW_DEADLINE_MS < K8S_LEASE_DURATION_MS);
	/* Still the holder on record: the next good write leads again. */
	k8s_elector_observe(a, 12000, WALL0, &lease, &act);
	assert_int_equal(act.op, K8S_LEASE_UPDATE);
	assert_int_equal(act.rec.transitions, 0);
	store(&lease, &act.rec, &rv);
	k8s_elector_written(a, 12000, K8S_LEASE_OK, &lease);
	assert_true(k8s_elector_is_leader(a, 12000));
	k8s_elector_free(a);
}

/* Release on drain: holder cleared, 1 s lease, rv precondition; the
 * other candidate takes it at its next round, not after 15 s. A
 * non-leader has nothing to release. */
static void test_release(void **state)
{
	(void)state;
	k8s_elector_t *a = elector("agent-a"), *b = elector("agent-b");
	struct k8s_lease_rec lease = { 0 };
	struct k8s_lease_action act;
	int rv = 1;

	k8s_elector_observe(a, 0, WALL0, &lease, &act);
	store(&lease, &act.rec, &rv);
	k8s_elector_written(a, 0, K8S_LEASE_OK, &lease);
	k8s_elector_observe(b, 100, WALL0, &lease, &act);
	assert_int_equal(act.op, K8S_LEASE_WAIT);

	k8s_elector_release(b, WALL0, &act);
	assert_int_equal(act.op, K8S_LEASE_WAIT);
	k8s_elector_release(a, WALL0 + 1000000, &act);
	assert_int_equal(act.op, K8S_LEASE_UPDATE);
	assert_string_equal(act.rec.holder, "");
	assert_int_equal(act.rec.duration_s, 1);
	assert_string_equal(act.rec.rv, "2");
	assert_false(k8s_elector_is_leader(a, 1000));
	store(&lease, &act.rec, &rv);
	k8s_elector_written(a, 1000, K8S_LEASE_OK, &lease);
	assert_false(k8s_elector_is_leader(a, 1000));

	k8s_elector_observe(b, 2100, WALL0 + 2000000, &lease, &act);
	assert_int_equal(act.op, K8S_LEASE_UPDATE);
	assert_string_equal(act.rec.holder, "agent-b");
	assert_int_equal(act.rec.transitions, 1);
	k8s_elector_free(a);
	k8s_elector_free(b);
}

/* A waiting candidate reads again when the lease it observed runs out,
 * not at the first retry tick after: with a 15 s lease and 2 s retry,
 * rounds at 0, 2, ..., 14 s would next come at 16 s. A renewal seen
 * meanwhile restarts the clock and the plain retry pace. */
static void test_wake_at_expiry(void **state)
{
	(void)state;
	k8s_elector_t *b = elector("agent-b");
	struct k8s_lease_rec lease = { .exists = true, .holder = "agent-a",
				       .rv = "7", .duration_s = 15 };
	struct k8s_lease_action act;
	uint64_t t0 = 1000, t = t0;

	for (; t < t0 + 14000; t += 2000) {
		k8s_elector_observe(b, t, WALL0, &lease, &act);
		assert_int_equal(act.op, K8S_LEASE_WAIT);
		assert_int_equal(act.next_ms, t + 2000);
		assert_int_equal(k8s_elector_next(b), t + 2000);
	}
	/* 14 s in: the lease ends at 15 s, before the next retry. */
	k8s_elector_observe(b, t, WALL0, &lease, &act);
	assert_int_equal(act.op, K8S_LEASE_WAIT);
	assert_int_equal(act.next_ms, t0 + 15000);
	assert_int_equal(k8s_elector_next(b), t0 + 15000);
	k8s_elector_observe(b, t0 + 15000, WALL0, &lease, &act);
	assert_int_equal(act.op, K8S_LEASE_UPDATE);
	assert_string_equal(act.rec.holder, "agent-b");
	/* Renewed (a new rv) just before: wait a whole lease again. */
	snprintf(lease.rv, sizeof(lease.rv), "8");
	k8s_elector_observe(b, t0 + 15001, WALL0, &lease, &act);
	assert_int_equal(act.op, K8S_LEASE_WAIT);
	assert_int_equal(act.next_ms, t0 + 17001);
	/* A lease the holder wrote shorter than the retry period. */
	lease.duration_s = 1;
	snprintf(lease.rv, sizeof(lease.rv), "9");
	k8s_elector_observe(b, t0 + 16000, WALL0, &lease, &act);
	assert_int_equal(act.op, K8S_LEASE_WAIT);
	assert_int_equal(act.next_ms, t0 + 17000);
	k8s_elector_free(b);
}

/* The holder's renew deadline runs from the round that asked for the
 * write, not from its answer: a PUT that took 4 s does not stretch the
 * leadership past the moment a candidate that saw the record as soon as
 * it was stored may take over (stored at or after the round, plus the
 * lease). */
static void test_deadline_from_round(void **state)
{
	(void)state;
	k8s_elector_t *a = elector("agent-a"), *b = elector("agent-b");
	struct k8s_lease_rec lease = { 0 };
	struct k8s_lease_action act;
	int rv = 1;

	k8s_elector_observe(a, 1000, WALL0, &lease, &act);
	store(&lease, &act.rec, &rv);	/* stored at once ... */
	k8s_elector_observe(b, 1001, WALL0, &lease, &act);
	assert_int_equal(act.op, K8S_LEASE_WAIT);
	k8s_elector_written(a, 5000, K8S_LEASE_OK, &lease);	/* ... answered late */
	assert_true(k8s_elector_is_leader(a, 10999));
	assert_false(k8s_elector_is_leader(a, 11000));
	/* b may take over at 16001: a stopped leading 5 s before. */
	k8s_elector_observe(b, 16000, WALL0, &lease, &act);
	assert_int_equal(act.op, K8S_LEASE_WAIT);
	k8s_elector_observe(b, 16001, WALL0, &lease, &act);
	assert_int_equal(act.op, K8S_LEASE_UPDATE);
	k8s_elector_free(a);
	k8s_elector_free(b);
}

/* anysteerctl drain: leadership ends at once, the next round (due now)
 * releases over the current rv, even after a renewal that was in flight
 * landed; no round stands again, even for a free Lease, until undrained. */
static void test_drain(void **state)
{
	(void)state;
	k8s_elector_t *a = elector("agent-a");
	struct k8s_lease_rec lease = { 0 };
	struct k8s_lease_action act;
	int rv = 1;

	k8s_elector_observe(a, 0, WALL0, &lease, &act);
	store(&lease, &act.rec, &rv);
	k8s_elector_written(a, 0, K8S_LEASE_OK, &lease);
	assert_true(k8s_elector_is_leader(a, 1000));

	/* A renewal is asked for, then the drain comes before its answer. */
	k8s_elector_observe(a, 2000, WALL0 + 2000000, &lease, &act);
	assert_int_equal(act.op, K8S_LEASE_UPDATE);
	k8s_elector_set_drained(a, true, 2001);
	assert_true(k8s_elector_drained(a));
	assert_false(k8s_elector_is_leader(a, 2001));
	assert_int_equal(k8s_elector_next(a), 2001);
	store(&lease, &act.rec, &rv);	/* rv 3, still names a */
	k8s_elector_written(a, 2010, K8S_LEASE_OK, &lease);
	assert_false(k8s_elector_is_leader(a, 2010));
	assert_int_equal(k8s_elector_next(a), 2010);

	k8s_elector_observe(a, 2010, WALL0 + 2010000, &lease, &act);
	assert_int_equal(act.op, K8S_LEASE_UPDATE);
	assert_string_equal(act.rec.holder, "");
	assert_int_equal(act.rec.duration_s, 1);
	assert_string_equal(act.rec.rv, "3");
	store(&lease, &act.rec, &rv);
	k8s_elector_written(a, 2020, K8S_LEASE_OK, &lease);
	assert_false(k8s_elector_is_leader(a, 2020));
	/* Free, but drained: wait. */
	k8s_elector_observe(a, 4020, WALL0, &lease, &act);
	assert_int_equal(act.op, K8S_LEASE_WAIT);
	k8s_elector_release(a, WALL0, &act);
	assert_int_equal(act.op, K8S_LEASE_WAIT);	/* nothing left to release */
	/* Undrained: the next round (now) takes the free Lease. */
	k8s_elector_set_drained(a, false, 5000);
	assert_int_equal(k8s_elector_next(a), 5000);
	k8s_elector_observe(a, 5000, WALL0, &lease, &act);
	assert_int_equal(act.op, K8S_LEASE_UPDATE);
	assert_string_equal(act.rec.holder, "agent-a");
	store(&lease, &act.rec, &rv);
	k8s_elector_written(a, 5010, K8S_LEASE_OK, &lease);
	assert_true(k8s_elector_is_leader(a, 5010));
	k8s_elector_free(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_time),
		cmocka_unit_test(test_json),
		cmocka_unit_test(test_opts),
		cmocka_unit_test(test_acquire_renew),
		cmocka_unit_test(test_expire_and_steal),
		cmocka_unit_test(test_renew_deadline),
		cmocka_unit_test(test_release),
		cmocka_unit_test(test_wake_at_expiry),
		cmocka_unit_test(test_deadline_from_round),
		cmocka_unit_test(test_drain),
	};

	as_log_set_level(AS_LOG_ERR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
