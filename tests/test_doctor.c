/* SPDX-License-Identifier: MIT */
/*
 * Tests of the doctor (src/doctor/): synthetic observations provoke each
 * finding, just past its threshold, and the same trunk just short of it (or
 * healthy) gives none; the evidence names the numbers and times, the advice
 * the setting; JSON shape; bad input.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "sipreg/doctor.h"

#define NOW_MS 5000000u
#define NOW_WALL ((time_t)1764000000) /* 2025-11-24T16:00:00Z */

/* A healthy registered UDP trunk: auto, granted 3600 at our own address. */
static struct ua_trunk_obs healthy(const char *name)
{
	struct ua_trunk_obs o;

	memset(&o, 0, sizeof(o));
	snprintf(o.st.name, sizeof(o.st.name), "%s", name);
	o.st.state = UA_STATE_REGISTERED;
	o.st.enabled = true;
	o.st.last_code = 200;
	snprintf(o.st.last_reason, sizeof(o.st.last_reason), "OK");
	o.st.asked = 3600;
	o.st.granted = 3600;
	o.st.valid = true;
	o.st.valid_until_ms = NOW_MS + 3000000;
	o.st.last_success = NOW_WALL - 600;
	o.st.next_action = UA_ACTION_REFRESH;
	o.st.next_at_ms = NOW_MS + 1200000;
	o.st.attempts = 3;
	snprintf(o.dest_host, sizeof(o.dest_host), "198.51.100.1");
	o.dest_port = 5060;
	o.transport = UA_TRANSPORT_UDP;
	o.expire_cfg = UA_EXPIRE_GLOBAL;
	o.retry_cfg = UA_RETRY_GLOBAL;
	o.expire_mode = 0;
	o.retry_delay = 60;
	o.effective = 3600;
	snprintf(o.local_host, sizeof(o.local_host), "192.0.2.10");
	o.local_port = 5060;
	o.via_seen = true;
	snprintf(o.via_received, sizeof(o.via_received), "192.0.2.10");
	o.via_rport = 5060;
	o.via_at = NOW_WALL - 600;
	o.last_kind = UA_FAIL_NONE;
	o.now_ms = NOW_MS;
	o.now_wall = NOW_WALL;
	return o;
}

/* A trunk failing for run attempts of kind k since 10 minutes ago. */
static void failing(struct ua_trunk_obs *o, unsigned run, enum ua_fail_kind k)
{
	o->st.state = UA_STATE_FAILED;
	o->st.valid = false;
	o->st.next_action = UA_ACTION_RETRY;
	o->st.next_at_ms = NOW_MS + 30000;
	o->run += run;
	o->run_kind[k] += run;
	o->last_kind = k;
	o->run_first = NOW_WALL - 600;
	o->run_last = NOW_WALL - 30;
	o->st.failures += run;
	o->st.last_code = k == UA_FAIL_AUTH ? 401 : k == UA_FAIL_FORBIDDEN ? 403 : 0;
	snprintf(o->st.last_reason, sizeof(o->st.last_reason), "%s",
	         k == UA_FAIL_AUTH        ? "Unauthorized"
	         : k == UA_FAIL_FORBIDDEN ? "Forbidden"
	         : k == UA_FAIL_TIMEOUT   ? "timeout"
	                                  : "Service Unavailable");
}

static struct doctor_report report;

static void run(const struct ua_trunk_obs *t, size_t n, const struct doctor_registrar *g)
{
	struct doctor_input in = {
	        .trunks = t,
	        .ntrunks = n,
	        .registrar = g,
	        .now_ms = NOW_MS,
	        .now_wall = NOW_WALL,
	};

	cr_assert_eq(doctor_run(&in, &report), 0);
}

/* The only finding of kind k (asserted), or NULL when there is none. */
static const struct doctor_finding *only(enum doctor_kind k)
{
	const struct doctor_finding *f = NULL;

	for (size_t i = 0; i < report.n; i++)
		if (report.f[i].kind == k) {
			cr_assert_null(f, "two %s findings", doctor_kind_name(k));
			f = &report.f[i];
		}
	return f;
}

static long long data(const struct doctor_finding *f, const char *key)
{
	for (unsigned i = 0; i < f->nnum; i++)
		if (strcmp(f->num[i].key, key) == 0)
			return f->num[i].value;
	cr_assert_fail("no data %s", key);
	return -1;
}

static void fini(void)
{
	doctor_report_free(&report);
}

TestSuite(doctor, .fini = fini);

Test(doctor, healthy_trunks_give_no_finding)
{
	struct ua_trunk_obs t[3] = {healthy("a"), healthy("b"), healthy("c")};
	struct doctor_registrar g = {.nat_expire = 300, .endpoint_expire = 3600, .min_expire = 60};

	/* a name as our sent-by: received= is always there, not a NAT sign */
	snprintf(t[1].local_host, sizeof(t[1].local_host), "sbc.example.net");
	snprintf(t[1].via_received, sizeof(t[1].via_received), "203.0.113.7");
	t[1].via_rport = 0;
	/* TCP behind NAT: the connection keeps the mapping */
	t[2].transport = UA_TRANSPORT_TCP;
	snprintf(t[2].via_received, sizeof(t[2].via_received), "203.0.113.7");
	run(t, 3, &g);
	cr_assert_eq(report.n, 0, "first: %s", report.n ? report.f[0].evidence : "");
	run(NULL, 0, NULL);
	cr_assert_eq(report.n, 0);
}

Test(doctor, nat_with_long_expiry)
{
	struct ua_trunk_obs t = healthy("nat1");
	const struct doctor_finding *f;

	snprintf(t.via_received, sizeof(t.via_received), "203.0.113.7");
	t.via_rport = 40000;
	t.effective = t.st.granted = 600;
	t.st.asked = 3600;
	run(&t, 1, NULL);
	f = only(DOCTOR_NAT_EXPIRY);
	cr_assert_not_null(f);
	cr_assert_eq(report.n, 1);
	cr_assert_str_eq(f->subject, "nat1");
	cr_assert_eq(f->subject_type, DOCTOR_SUBJECT_TRUNK);
	cr_assert_eq(f->severity, DOCTOR_WARNING);
	cr_assert_str_eq(f->setting, "SS_SIP_USER_AGENT_EXPIRE");
	cr_assert_not_null(strstr(f->evidence, "received=203.0.113.7;rport=40000"),
	                   "%s", f->evidence);
	cr_assert_not_null(strstr(f->evidence, "192.0.2.10:5060"));
	cr_assert_not_null(strstr(f->evidence, "600 s"));
	cr_assert_not_null(strstr(f->evidence, "2025-11-24T15:50:00Z"), "%s", f->evidence);
	cr_assert_not_null(strstr(f->advice, "sipregctl trunk set nat1 --expire 180"));
	cr_assert_eq(data(f, "effective_expiry_s"), 600);
	cr_assert_eq(data(f, "via_rport"), 40000);

	/* the trunk's own fixed expiry names the trunk field */
	t.expire_cfg = 600;
	t.expire_mode = 600;
	run(&t, 1, NULL);
	cr_assert_str_eq(only(DOCTOR_NAT_EXPIRY)->setting, "trunk expire");

	/* at the limit: fine */
	t.effective = DOCTOR_NAT_EXPIRE_MAX;
	run(&t, 1, NULL);
	cr_assert_null(only(DOCTOR_NAT_EXPIRY));
}

Test(doctor, nat_by_port_only_and_ipv6)
{
	struct ua_trunk_obs t[2] = {healthy("p1"), healthy("v6")};

	t[0].via_rport = 40000; /* same address, another port */
	snprintf(t[1].local_host, sizeof(t[1].local_host), "2001:db8::10");
	snprintf(t[1].via_received, sizeof(t[1].via_received), "2001:db8::99");
	t[1].via_rport = 0;
	run(t, 2, NULL);
	cr_assert_eq(report.n, 2);
	cr_assert_eq(report.f[0].kind, DOCTOR_NAT_EXPIRY);
	cr_assert_eq(report.f[1].kind, DOCTOR_NAT_EXPIRY);
	cr_assert_str_eq(report.f[0].subject, "p1");
	cr_assert_not_null(strstr(report.f[0].evidence, "rport=40000"));
	cr_assert_str_eq(report.f[1].subject, "v6");
	cr_assert_not_null(strstr(report.f[1].evidence, "received=2001:db8::99"));

	/* the same IPv6 address written another way is not a NAT */
	snprintf(t[1].via_received, sizeof(t[1].via_received), "2001:DB8:0::10");
	run(&t[1], 1, NULL);
	cr_assert_eq(report.n, 0);
}

Test(doctor, flooding_asked_by_us)
{
	struct ua_trunk_obs t = healthy("fast");
	const struct doctor_finding *f;

	t.expire_cfg = 20;
	t.expire_mode = 20;
	t.st.asked = t.st.granted = t.effective = 20;
	run(&t, 1, NULL);
	f = only(DOCTOR_REGISTER_FLOODING);
	cr_assert_not_null(f);
	cr_assert_eq(report.n, 1);
	cr_assert_str_eq(f->subject, "fast");
	cr_assert_str_eq(f->setting, "trunk expire");
	cr_assert_not_null(strstr(f->evidence, "every 10 s"), "%s", f->evidence);
	cr_assert_not_null(strstr(f->evidence, "360 per hour"), "%s", f->evidence);
	cr_assert_not_null(strstr(f->advice, "sipregctl trunk set fast --expire 300"));
	cr_assert_eq(data(f, "refresh_interval_s"), 10);

	/* from the global key */
	t.expire_cfg = UA_EXPIRE_GLOBAL;
	run(&t, 1, NULL);
	cr_assert_str_eq(only(DOCTOR_REGISTER_FLOODING)->setting, "SS_SIP_USER_AGENT_EXPIRE");

	/* 60 s is not flooding */
	t.st.asked = t.st.granted = t.effective = DOCTOR_FLOOD_EXPIRE;
	run(&t, 1, NULL);
	cr_assert_eq(report.n, 0);
}

Test(doctor, flooding_proposed_by_the_server)
{
	struct ua_trunk_obs t = healthy("short");
	const struct doctor_finding *f;

	t.st.asked = 3600;
	t.st.granted = t.effective = 30;
	run(&t, 1, NULL);
	f = only(DOCTOR_REGISTER_FLOODING);
	cr_assert_not_null(f);
	cr_assert_str_eq(f->setting, "upstream's granted expiry");
	cr_assert_not_null(strstr(f->evidence, "grants less than asked"));
	cr_assert_not_null(strstr(f->advice, "ask the provider"));
	cr_assert_eq(data(f, "granted_s"), 30);
	cr_assert_eq(data(f, "asked_s"), 3600);
}

Test(doctor, wrong_password)
{
	struct ua_trunk_obs t = healthy("badpw");
	const struct doctor_finding *f;

	failing(&t, 1, UA_FAIL_AUTH);
	run(&t, 1, NULL);
	f = only(DOCTOR_CREDENTIALS_REJECTED);
	cr_assert_not_null(f);
	cr_assert_eq(f->severity, DOCTOR_WARNING);
	cr_assert_str_eq(f->subject, "badpw");
	cr_assert_str_eq(f->setting, "trunk password, auth_user, realm");
	cr_assert_not_null(strstr(f->evidence, "1 failed attempts in a row since "
	                                       "2025-11-24T15:50:00Z (last at "
	                                       "2025-11-24T15:59:30Z, \"401 Unauthorized\")"),
	                   "%s", f->evidence);
	cr_assert_not_null(strstr(f->evidence, "1 x 401/407 after credentials"));
	cr_assert_not_null(strstr(f->advice, "sipregctl trunk set badpw --password"));
	/* twice in a row: critical */
	failing(&t, 1, UA_FAIL_AUTH);
	run(&t, 1, NULL);
	f = only(DOCTOR_CREDENTIALS_REJECTED);
	cr_assert_eq(f->severity, DOCTOR_CRITICAL);
	cr_assert_eq(data(f, "auth_failures"), 2);
	cr_assert_eq(data(f, "first_failure"), NOW_WALL - 600);
	/* a disabled trunk is not diagnosed */
	t.st.enabled = false;
	run(&t, 1, NULL);
	cr_assert_eq(report.n, 0);
}

Test(doctor, forbidden)
{
	struct ua_trunk_obs t = healthy("barred");
	const struct doctor_finding *f;

	failing(&t, 2, UA_FAIL_FORBIDDEN);
	run(&t, 1, NULL);
	f = only(DOCTOR_CREDENTIALS_REJECTED);
	cr_assert_not_null(f);
	cr_assert_eq(f->severity, DOCTOR_CRITICAL);
	cr_assert_str_eq(f->setting, "trunk user, auth_user, domain");
	cr_assert_not_null(strstr(f->evidence, "2 x 403"));
	cr_assert_not_null(strstr(f->advice, "refuses the account (403)"));
}

Test(doctor, other_failures_are_not_credentials)
{
	struct ua_trunk_obs t = healthy("down");

	failing(&t, 2, UA_FAIL_OTHER); /* 503 twice: a transient for now */
	run(&t, 1, NULL);
	cr_assert_eq(report.n, 0);
}

Test(doctor, timeouts_after_rejections_mean_blocked)
{
	struct ua_trunk_obs t = healthy("blocked");
	const struct doctor_finding *f;

	failing(&t, 4, UA_FAIL_AUTH);
	failing(&t, 2, UA_FAIL_TIMEOUT);
	t.run_timeouts_after_reject = 2;
	run(&t, 1, NULL);
	f = only(DOCTOR_UPSTREAM_BLOCKING);
	cr_assert_not_null(f);
	cr_assert_eq(f->severity, DOCTOR_CRITICAL);
	cr_assert_str_eq(f->subject, "blocked");
	cr_assert_not_null(strstr(f->evidence, "2 of the timeouts came after"), "%s",
	                   f->evidence);
	cr_assert_not_null(strstr(f->advice, "--retry-delay 300"));
	cr_assert_eq(data(f, "timeouts_after_rejections"), 2);
	/* the rejections are still reported, most severe first */
	cr_assert_not_null(only(DOCTOR_CREDENTIALS_REJECTED));
	cr_assert_null(only(DOCTOR_UPSTREAM_UNREACHABLE));
	for (size_t i = 1; i < report.n; i++)
		cr_assert_geq(report.f[i - 1].severity, report.f[i].severity);
	/* once it answers again (a rejection), it is not blocking now */
	failing(&t, 1, UA_FAIL_AUTH);
	run(&t, 1, NULL);
	cr_assert_null(only(DOCTOR_UPSTREAM_BLOCKING));
}

Test(doctor, only_timeouts_mean_unreachable)
{
	struct ua_trunk_obs t = healthy("silent");
	const struct doctor_finding *f;

	failing(&t, DOCTOR_TIMEOUT_RUN - 1, UA_FAIL_TIMEOUT);
	run(&t, 1, NULL);
	cr_assert_null(only(DOCTOR_UPSTREAM_UNREACHABLE));
	failing(&t, 1, UA_FAIL_TIMEOUT);
	run(&t, 1, NULL);
	f = only(DOCTOR_UPSTREAM_UNREACHABLE);
	cr_assert_not_null(f);
	cr_assert_eq(f->severity, DOCTOR_WARNING);
	cr_assert_not_null(strstr(f->evidence, "3 x timeout"));
	cr_assert_null(only(DOCTOR_UPSTREAM_BLOCKING));
}

Test(doctor, retry_delay_short_for_a_failing_trunk)
{
	struct ua_trunk_obs t = healthy("hammer");
	const struct doctor_finding *f;

	t.retry_delay = 30;
	failing(&t, DOCTOR_RETRY_RUN - 1, UA_FAIL_OTHER);
	run(&t, 1, NULL);
	cr_assert_null(only(DOCTOR_RETRY_DELAY_SHORT));
	failing(&t, 1, UA_FAIL_OTHER);
	run(&t, 1, NULL);
	f = only(DOCTOR_RETRY_DELAY_SHORT);
	cr_assert_not_null(f);
	cr_assert_str_eq(f->setting, "SS_SIP_USER_AGENT_RETRY_DELAY");
	cr_assert_not_null(strstr(f->evidence, "every 30 s (120 attempts an hour)"), "%s",
	                   f->evidence);
	cr_assert_not_null(strstr(f->advice, "sipregctl trunk set hammer --retry-delay 300"));
	/* the trunk's own delay */
	t.retry_cfg = 30;
	run(&t, 1, NULL);
	cr_assert_str_eq(only(DOCTOR_RETRY_DELAY_SHORT)->setting, "trunk retry_delay");
	/* an upstream that asked for a longer wait (Retry-After) decides */
	t.retry_after = 600;
	run(&t, 1, NULL);
	cr_assert_null(only(DOCTOR_RETRY_DELAY_SHORT));
	t.retry_after = 0;
	/* long enough */
	t.retry_delay = DOCTOR_RETRY_SHORT;
	run(&t, 1, NULL);
	cr_assert_null(only(DOCTOR_RETRY_DELAY_SHORT));
}

Test(doctor, synchronised_refreshes)
{
	struct ua_trunk_obs t[12];
	const struct doctor_finding *f;
	char name[16];

	/* 6 trunks to one upstream, same 20 s period, due within 900 ms; */
	for (int i = 0; i < 6; i++) {
		snprintf(name, sizeof(name), "s%d", i);
		t[i] = healthy(name);
		t[i].effective = t[i].st.granted = t[i].st.asked = 120;
		t[i].st.next_at_ms = NOW_MS + 30000 + (uint64_t)i * 150;
	}
	/* 6 others: another upstream, spread 20 s apart */
	for (int i = 6; i < 12; i++) {
		snprintf(name, sizeof(name), "o%d", i);
		t[i] = healthy(name);
		snprintf(t[i].dest_host, sizeof(t[i].dest_host), "203.0.113.50");
		t[i].st.next_at_ms = NOW_MS + (uint64_t)i * 20000;
	}
	run(t, 12, NULL);
	f = only(DOCTOR_SYNCHRONISED_REFRESHES);
	cr_assert_not_null(f);
	cr_assert_eq(report.n, 1);
	cr_assert_str_eq(f->subject, "198.51.100.1:5060");
	cr_assert_eq(f->subject_type, DOCTOR_SUBJECT_UPSTREAM);
	cr_assert_eq(f->severity, DOCTOR_INFO);
	cr_assert_eq(data(f, "trunks"), 6);
	cr_assert_eq(data(f, "burst"), 6);
	cr_assert_eq(data(f, "spread_ms"), 6000);
	cr_assert_not_null(strstr(f->evidence, "s0, s1, s2, s3, s4, s5"), "%s", f->evidence);
	cr_assert_not_null(strstr(f->evidence, "2025-11-24T16:00:30Z"), "%s", f->evidence);

	/* spread over 1 s windows: 2 per window, no burst */
	for (int i = 0; i < 6; i++)
		t[i].st.next_at_ms = NOW_MS + (uint64_t)i * 600;
	run(t, 12, NULL);
	cr_assert_null(only(DOCTOR_SYNCHRONISED_REFRESHES));
	/* due together but with different periods: not synchronised */
	for (int i = 0; i < 6; i++) {
		t[i].st.next_at_ms = NOW_MS + (uint64_t)i * 100;
		t[i].effective = 120 + (unsigned)i * 30;
	}
	run(t, 12, NULL);
	cr_assert_null(only(DOCTOR_SYNCHRONISED_REFRESHES));
	/* the same period but only 4 of them registered */
	for (int i = 0; i < 6; i++)
		t[i].effective = 120;
	t[0].st.state = UA_STATE_FAILED;
	t[1].st.next_action = UA_ACTION_WAIT_REPLY;
	run(t, 12, NULL);
	cr_assert_null(only(DOCTOR_SYNCHRONISED_REFRESHES));
}

Test(doctor, synchronised_burst_of_a_hundred_is_a_warning)
{
	static struct ua_trunk_obs t[DOCTOR_SYNC_BURST_WARN];
	char name[16];

	for (unsigned i = 0; i < DOCTOR_SYNC_BURST_WARN; i++) {
		snprintf(name, sizeof(name), "w%u", i);
		t[i] = healthy(name);
		t[i].st.next_at_ms = NOW_MS + i * 5;
	}
	run(t, DOCTOR_SYNC_BURST_WARN, NULL);
	cr_assert_eq(report.n, 1);
	cr_assert_eq(report.f[0].severity, DOCTOR_WARNING);
	cr_assert_not_null(strstr(report.f[0].evidence, "(92 more)"), "%s",
	                   report.f[0].evidence);
}

Test(doctor, endpoint_flooding_from_the_nat_expiry)
{
	struct doctor_registrar g = {.nat_expire = 20, .endpoint_expire = 3600, .min_expire = 20};
	const struct doctor_finding *f;

	run(NULL, 0, &g);
	f = only(DOCTOR_ENDPOINT_FLOODING);
	cr_assert_not_null(f);
	cr_assert_eq(f->subject_type, DOCTOR_SUBJECT_ENDPOINTS);
	cr_assert_str_eq(f->subject, "behind NAT");
	cr_assert_str_eq(f->setting, "SS_ENDPOINT_NAT_EXPIRE");
	cr_assert_not_null(strstr(f->evidence, "every 10 s (360 REGISTERs an hour"));
	g.nat_expire = 60;
	run(NULL, 0, &g);
	cr_assert_eq(report.n, 0);
}

Test(doctor, json_shape)
{
	struct ua_trunk_obs t = healthy("badpw");
	json_t *j, *f, *d;

	failing(&t, 2, UA_FAIL_AUTH);
	run(&t, 1, NULL);
	cr_assert_eq(report.counts[DOCTOR_CREDENTIALS_REJECTED], 1);
	cr_assert_eq(report.counts[DOCTOR_NAT_EXPIRY], 0);
	cr_assert_eq(report.trunks, 1);
	j = doctor_report_json(&report);
	cr_assert_not_null(j);
	cr_assert_eq(json_integer_value(json_object_get(j, "trunks_checked")), 1);
	cr_assert_eq(json_integer_value(json_object_get(j, "omitted")), 0);
	cr_assert_eq(json_array_size(json_object_get(j, "findings")), 1);
	f = json_array_get(json_object_get(j, "findings"), 0);
	cr_assert_str_eq(json_string_value(json_object_get(f, "kind")), "credentials_rejected");
	cr_assert_str_eq(json_string_value(json_object_get(f, "severity")), "critical");
	cr_assert_str_eq(json_string_value(json_object_get(f, "subject")), "badpw");
	cr_assert_str_eq(json_string_value(json_object_get(f, "subject_type")), "trunk");
	cr_assert(json_is_string(json_object_get(f, "evidence")));
	cr_assert(json_is_string(json_object_get(f, "advice")));
	cr_assert(json_is_string(json_object_get(f, "setting")));
	d = json_object_get(f, "data");
	cr_assert_eq(json_integer_value(json_object_get(d, "auth_failures")), 2);
	/* every kind is counted, zeros included */
	cr_assert_eq(json_object_size(json_object_get(j, "counts")), DOCTOR_KIND__COUNT);
	cr_assert_eq(json_integer_value(json_object_get(json_object_get(j, "counts"),
	                                                "credentials_rejected")),
	             1);
	json_decref(j);
}

Test(doctor, names_and_bad_input)
{
	struct doctor_input in = {.trunks = NULL, .ntrunks = 1};
	enum doctor_kind k;

	for (unsigned i = 0; i < DOCTOR_KIND__COUNT; i++) {
		cr_assert_eq(doctor_kind_parse(doctor_kind_name(i), &k), 0);
		cr_assert_eq(k, (enum doctor_kind)i);
	}
	cr_assert_str_eq(doctor_kind_name(DOCTOR_KIND__COUNT), "unknown");
	cr_assert_eq(doctor_kind_parse("nat", &k), -EINVAL);
	cr_assert_eq(doctor_kind_parse(NULL, &k), -EINVAL);
	cr_assert_str_eq(doctor_severity_name(DOCTOR_CRITICAL), "critical");
	cr_assert_str_eq(doctor_subject_name(DOCTOR_SUBJECT_UPSTREAM), "upstream");
	cr_assert_eq(doctor_run(&in, &report), -EINVAL);
	cr_assert_eq(doctor_run(NULL, &report), -EINVAL);
	in.ntrunks = 0;
	cr_assert_eq(doctor_run(&in, NULL), -EINVAL);
	doctor_report_free(NULL);
}

Test(doctor, truncated_long_names_stay_terminated)
{
	struct ua_trunk_obs t = healthy("x");
	const struct doctor_finding *f;

	memset(t.st.name, 'n', UA_NAME_MAX);
	t.st.name[UA_NAME_MAX] = '\0';
	memset(t.dest_host, 'h', UA_HOST_MAX);
	t.dest_host[UA_HOST_MAX] = '\0';
	memset(t.st.last_reason, 'r', sizeof(t.st.last_reason) - 1);
	t.st.last_reason[sizeof(t.st.last_reason) - 1] = '\0';
	failing(&t, 5, UA_FAIL_TIMEOUT);
	memset(t.st.last_reason, 'r', sizeof(t.st.last_reason) - 1);
	t.retry_delay = 30;
	run(&t, 1, NULL);
	cr_assert_eq(report.n, 2);
	f = only(DOCTOR_RETRY_DELAY_SHORT);
	cr_assert_not_null(f);
	cr_assert_lt(strlen(f->evidence), sizeof(f->evidence));
	cr_assert_lt(strlen(f->advice), sizeof(f->advice));
	cr_assert_eq(strlen(f->subject), UA_NAME_MAX);
}

Test(doctor, many_findings_keep_the_most_severe_and_count_all)
{
	static struct ua_trunk_obs t[50];
	struct doctor_input in = {.trunks = t, .ntrunks = 50, .now_ms = NOW_MS,
	                          .now_wall = NOW_WALL, .max_findings = 10};
	char name[16];

	/* 45 trunks flooding (warning), 5 with a wrong password twice (critical) */
	for (int i = 0; i < 50; i++) {
		snprintf(name, sizeof(name), "m%02d", i);
		t[i] = healthy(name);
		t[i].st.asked = t[i].st.granted = t[i].effective = 20;
		t[i].st.next_at_ms = NOW_MS + (uint64_t)i * 60000; /* no burst */
		if (i % 10 == 9) {
			t[i].effective = 0;
			failing(&t[i], 2, UA_FAIL_AUTH);
		}
	}
	cr_assert_eq(doctor_run(&in, &report), 0);
	cr_assert_eq(report.n, 10);
	cr_assert_eq(report.omitted, 40);
	cr_assert_eq(report.trunks, 50);
	cr_assert_eq(report.counts[DOCTOR_REGISTER_FLOODING], 45);
	cr_assert_eq(report.counts[DOCTOR_CREDENTIALS_REJECTED], 5);
	/* the 5 critical ones are all kept, first */
	for (int i = 0; i < 5; i++) {
		cr_assert_eq(report.f[i].severity, DOCTOR_CRITICAL);
		cr_assert_eq(report.f[i].kind, DOCTOR_CREDENTIALS_REJECTED);
	}
	for (int i = 5; i < 10; i++)
		cr_assert_eq(report.f[i].kind, DOCTOR_REGISTER_FLOODING);
}

Test(doctor, streaming_equals_the_array_and_interns_upstreams)
{
	static struct ua_trunk_obs t[600];
	struct doctor *d;
	struct doctor_report r2 = {0};
	char name[16];

	/* 600 registered trunks to 120 upstreams (5 each, due together) */
	for (int i = 0; i < 600; i++) {
		snprintf(name, sizeof(name), "u%03d", i);
		t[i] = healthy(name);
		snprintf(t[i].dest_host, sizeof(t[i].dest_host), "10.0.%d.%d", (i / 5) / 250,
		         (i / 5) % 250 + 1);
		t[i].st.next_at_ms = NOW_MS + (uint64_t)(i / 5) * 5000 + (uint64_t)(i % 5);
	}
	/* one upstream over TCP is another upstream: 4 + 1, no burst there */
	t[0].transport = UA_TRANSPORT_TCP;
	run(t, 600, NULL);
	cr_assert_eq(report.counts[DOCTOR_SYNCHRONISED_REFRESHES], 119);
	cr_assert_eq(doctor_new(&d, NULL, NOW_MS, NOW_WALL, 0), 0);
	for (int i = 599; i >= 0; i--) /* any order */
		cr_assert_eq(doctor_add(d, &t[i]), 0);
	cr_assert_eq(doctor_finish(d, &r2), 0);
	doctor_free(d);
	cr_assert_eq(r2.n, report.n);
	for (size_t i = 0; i < r2.n; i++) {
		cr_assert_str_eq(r2.f[i].subject, report.f[i].subject);
		cr_assert_str_eq(r2.f[i].evidence, report.f[i].evidence);
	}
	for (size_t i = 0; i < report.n; i++) /* 4 + 1 over TCP: no burst there */
		cr_assert_str_neq(report.f[i].subject, "10.0.0.1:5060");
	doctor_report_free(&r2);
	doctor_free(NULL);
}
