/* SPDX-License-Identifier: MIT */
/* Tests of retry/suspend (SPEC.md "Retry and suspend"), driven by explicit time. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <pthread.h>
#include <string.h>
#include <urcu/urcu-qsbr.h>

#include "sipreg/guard.h"

static const uint8_t key[SIPHASH_KEY_LEN] = "0123456789abcdef";
static struct guard *g;
static int suspended_events, released_events;
static struct guard_info last_event;

static pthread_mutex_t event_lock = PTHREAD_MUTEX_INITIALIZER;

/* Runs on whichever thread's failure began the suspension: several at once
 * in the threaded test, hence the lock. */
static void on_event(void *arg, enum guard_event ev, const struct guard_info *in)
{
	(void)arg;
	pthread_mutex_lock(&event_lock);
	if (ev == GUARD_SUSPENDED)
		suspended_events++;
	else
		released_events++;
	last_event = *in;
	pthread_mutex_unlock(&event_lock);
}

static struct sockaddr_storage addr(const char *ip, uint16_t port)
{
	struct sockaddr_storage ss;

	memset(&ss, 0, sizeof(ss));
	if (strchr(ip, ':')) {
		struct sockaddr_in6 *s6 = (void *)&ss;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		cr_assert_eq(inet_pton(AF_INET6, ip, &s6->sin6_addr), 1);
	} else {
		struct sockaddr_in *s4 = (void *)&ss;
		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		cr_assert_eq(inet_pton(AF_INET, ip, &s4->sin_addr), 1);
	}
	return ss;
}

#define SA(ss) ((const struct sockaddr *)&(ss))
#define ALICE SIP_STR("alice@carrier.example")
#define S(ms) ((uint64_t)(ms) * 1000)

static void setup(void)
{
	struct guard_config c = {.retry = 6, .suspend_s = 180, .address_retry = 30};

	urcu_qsbr_register_thread();
	suspended_events = released_events = 0;
	cr_assert_eq(guard_new(&g, &c, key, on_event, NULL), 0);
}

static void teardown(void)
{
	guard_free(g);
	urcu_qsbr_unregister_thread();
}

TestSuite(guard, .init = setup, .fini = teardown);

Test(guard, endpoint_suspended_after_retry_failures_then_released_on_time)
{
	struct sockaddr_storage a = addr("198.51.100.7", 5060);
	uint64_t until = 0, t = S(1000);

	for (int i = 1; i <= 5; i++) {
		cr_assert_eq(guard_fail(g, ALICE, SA(a), t + i), GUARD_OK, "failure %d", i);
		cr_assert_eq(guard_check(g, ALICE, SA(a), t + i, NULL), GUARD_OK);
	}
	cr_assert_eq(guard_fail(g, ALICE, SA(a), t + 6), GUARD_ENDPOINT_SUSPENDED);
	cr_assert_eq(suspended_events, 1);
	cr_assert_str_eq(last_event.account, "alice@carrier.example");
	cr_assert_str_eq(last_event.address, "198.51.100.7");
	/* refused before credentials: the right password gets the same answer */
	cr_assert_eq(guard_check(g, ALICE, SA(a), t + 7, &until), GUARD_ENDPOINT_SUSPENDED);
	cr_assert_eq(until, t + 6 + S(180));
	cr_assert_eq(guard_check(g, ALICE, SA(a), until - 1, NULL), GUARD_ENDPOINT_SUSPENDED);
	/* on time, exactly */
	cr_assert_eq(guard_check(g, ALICE, SA(a), until, NULL), GUARD_OK);
	cr_assert_eq(guard_advance(g, until - 1), until);
	cr_assert_eq(released_events, 0);
	guard_advance(g, until);
	cr_assert_eq(released_events, 1);
	/* a fresh start: five more failures do not suspend */
	for (int i = 1; i <= 5; i++)
		cr_assert_eq(guard_fail(g, ALICE, SA(a), until + i), GUARD_OK);
}

Test(guard, success_resets_the_consecutive_count)
{
	struct sockaddr_storage a = addr("198.51.100.7", 5060);

	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < 5; i++)
			cr_assert_eq(guard_fail(g, ALICE, SA(a), S(10)), GUARD_OK);
		guard_success(g, ALICE, SA(a));
	}
	cr_assert_eq(guard_check(g, ALICE, SA(a), S(10), NULL), GUARD_OK);
}

Test(guard, attacker_elsewhere_cannot_lock_the_user_out_and_port_does_not_matter)
{
	struct sockaddr_storage attacker1 = addr("203.0.113.9", 40001);
	struct sockaddr_storage attacker2 = addr("203.0.113.9", 40002);
	struct sockaddr_storage user = addr("198.51.100.7", 5060);

	for (int i = 0; i < 3; i++)
		guard_fail(g, ALICE, SA(attacker1), S(1));
	/* a scanner changing its source port is the same endpoint */
	for (int i = 0; i < 2; i++)
		guard_fail(g, ALICE, SA(attacker2), S(1));
	cr_assert_eq(guard_fail(g, ALICE, SA(attacker2), S(1)), GUARD_ENDPOINT_SUSPENDED);
	cr_assert_eq(guard_check(g, ALICE, SA(attacker1), S(2), NULL), GUARD_ENDPOINT_SUSPENDED);
	cr_assert_eq(guard_check(g, ALICE, SA(user), S(2), NULL), GUARD_OK,
		     "the user's own address is not locked out");
}

Test(guard, scanner_address_suspended_across_accounts)
{
	struct sockaddr_storage scan = addr("203.0.113.50", 5060);
	struct sockaddr_storage other = addr("203.0.113.51", 5060);
	char user[64];
	enum guard_state s = GUARD_OK;

	for (int i = 0; i < 30; i++) {
		int n = snprintf(user, sizeof(user), "u%d@carrier.example", i);
		s = guard_fail(g, sip_str_make(user, (size_t)n), SA(scan), S(5) + i);
		if (i < 29)
			cr_assert_eq(s, GUARD_OK, "failure %d", i);
	}
	cr_assert_eq(s, GUARD_ADDRESS_SUSPENDED);
	cr_assert_eq(guard_check(g, SIP_STR("never-tried@carrier.example"), SA(scan), S(6), NULL),
		     GUARD_ADDRESS_SUSPENDED);
	cr_assert_eq(guard_check(g, ALICE, SA(other), S(6), NULL), GUARD_OK);
}

Test(guard, address_count_forgotten_after_suspend_time_without_failure)
{
	struct sockaddr_storage scan = addr("2001:db8::5", 5060);
	char user[64];

	for (int i = 0; i < 29; i++) {
		int n = snprintf(user, sizeof(user), "u%d", i);
		cr_assert_eq(guard_fail(g, sip_str_make(user, (size_t)n), SA(scan), S(10)), GUARD_OK);
	}
	guard_advance(g, S(10) + S(180));
	struct guard_stats st;
	guard_stats(g, &st);
	cr_assert_eq(st.entries, 0, "idle entries are removed: %lu left",
		     (unsigned long)st.entries);
	cr_assert_eq(guard_fail(g, SIP_STR("u99"), SA(scan), S(200)), GUARD_OK);
}

Test(guard, ipv4_mapped_ipv6_is_the_ipv4_address)
{
	struct sockaddr_storage v4 = addr("192.0.2.1", 1), mapped = addr("::ffff:192.0.2.1", 2);

	for (int i = 0; i < 6; i++)
		guard_fail(g, ALICE, i % 2 ? SA(v4) : SA(mapped), S(1));
	cr_assert_eq(guard_check(g, ALICE, SA(v4), S(2), NULL), GUARD_ENDPOINT_SUSPENDED);
	cr_assert_eq(guard_check(g, ALICE, SA(mapped), S(2), NULL), GUARD_ENDPOINT_SUSPENDED);
}

static int count_entries(void *arg, const struct guard_info *in)
{
	int *n = arg;

	(*n)++;
	cr_assert(in->kind == GUARD_ENDPOINT ? in->account[0] != '\0' : in->account[0] == '\0');
	return 0;
}

Test(guard, list_and_clear)
{
	struct sockaddr_storage a = addr("198.51.100.7", 5060);
	int n = 0;

	for (int i = 0; i < 6; i++)
		guard_fail(g, ALICE, SA(a), S(1));
	cr_assert_eq(guard_each(g, count_entries, &n), 0);
	cr_assert_eq(n, 2, "one endpoint and one address entry");
	cr_assert_eq(guard_clear(g, GUARD_ENDPOINT, ALICE, SA(a)), 0);
	cr_assert_eq(guard_clear(g, GUARD_ENDPOINT, ALICE, SA(a)), -ENOENT);
	cr_assert_eq(guard_check(g, ALICE, SA(a), S(2), NULL), GUARD_OK);
	struct guard_stats st;
	guard_stats(g, &st);
	cr_assert_eq(st.suspended, 0);
	cr_assert_eq(st.suspensions, 1);
	cr_assert_eq(st.entries, 1);
}

Test(guard, config_ranges)
{
	struct guard *x = NULL;
	struct guard_config ok = {.retry = 1, .suspend_s = 10, .address_retry = 3};
	struct guard_config bad[] = {
		{.retry = 0, .suspend_s = 180, .address_retry = 30},
		{.retry = 101, .suspend_s = 180, .address_retry = 30},
		{.retry = 6, .suspend_s = 9, .address_retry = 30},
		{.retry = 6, .suspend_s = 86401, .address_retry = 30},
		{.retry = 6, .suspend_s = 180, .address_retry = 2},
		{.retry = 6, .suspend_s = 180, .address_retry = 10001},
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(guard_new(&x, &bad[i], key, NULL, NULL), -EINVAL, "case %zu", i);
		cr_assert_eq(guard_set_config(g, &bad[i]), -EINVAL);
	}
	cr_assert_null(x);
	cr_assert_eq(guard_set_config(g, &ok), 0);
	/* retry = 1: the first failure suspends */
	struct sockaddr_storage a = addr("198.51.100.7", 5060);
	cr_assert_eq(guard_fail(g, ALICE, SA(a), S(1)), GUARD_ENDPOINT_SUSPENDED);
}

Test(guard, full_table_fails_open_and_counts)
{
	struct guard *small = NULL;
	struct guard_config c = {.retry = 6, .suspend_s = 180, .address_retry = 30,
				 .max_entries = 4};
	struct guard_stats st;
	char user[32];

	cr_assert_eq(guard_new(&small, &c, key, NULL, NULL), 0);
	for (int i = 0; i < 10; i++) {
		struct sockaddr_storage a = addr("198.51.100.7", 5060);
		int n = snprintf(user, sizeof(user), "u%d", i);
		guard_fail(small, sip_str_make(user, (size_t)n), SA(a), S(1));
	}
	guard_stats(small, &st);
	cr_assert_leq(st.entries, 4);
	cr_assert_gt(st.table_full, 0);
	guard_free(small);
}

struct worker_arg {
	int suspensions;
};

static void *hammer(void *arg)
{
	struct worker_arg *w = arg;
	struct sockaddr_storage a = addr("198.51.100.7", 5060);

	urcu_qsbr_register_thread();
	for (int i = 0; i < 600; i++)
		if (guard_fail(g, ALICE, SA(a), S(1)) == GUARD_ENDPOINT_SUSPENDED)
			w->suspensions++;
	urcu_qsbr_unregister_thread();
	return NULL;
}

Test(guard, workers_failing_the_same_account_at_once_suspend_it_exactly_once)
{
	pthread_t th[4];
	struct worker_arg w[4] = {0};
	int total = 0;

	for (int i = 0; i < 4; i++)
		pthread_create(&th[i], NULL, hammer, &w[i]);
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		total += w[i].suspensions;
	}
	cr_assert_eq(total, 1, "one suspension for one endpoint, got %d", total);
	cr_assert_eq(suspended_events, 2, "the endpoint and the address (30 failures)");
}
