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

/* ------------------------------------------------------------------------ */
/* retry_delay_long: a primary trunk slow to come back                      */

Test(doctor, retry_delay_long_for_a_failing_primary_trunk)
{
	struct ua_trunk_obs t = healthy("main");
	const struct doctor_finding *f;

	t.st.primary = true;
	failing(&t, 1, UA_FAIL_TIMEOUT);   /* one failure is enough */
	t.retry_delay = DOCTOR_RETRY_LONG; /* 60: at the threshold, not over it */
	run(&t, 1, NULL);
	cr_assert_null(only(DOCTOR_RETRY_DELAY_LONG));
	t.retry_delay = DOCTOR_RETRY_LONG + 1;
	run(&t, 1, NULL);
	f = only(DOCTOR_RETRY_DELAY_LONG);
	cr_assert_not_null(f);
	cr_assert_eq(f->severity, DOCTOR_WARNING);
	cr_assert_eq(f->subject_type, DOCTOR_SUBJECT_TRUNK);
	cr_assert_str_eq(f->subject, "main");
	cr_assert_str_eq(f->setting,
	                 "trunk retry_delay (now SS_SIP_USER_AGENT_RETRY_DELAY)");
	cr_assert_not_null(strstr(f->advice, "sipregctl trunk set main --retry-delay 30"),
	                   "%s", f->advice);
	cr_assert_not_null(strstr(f->advice, "30-45 s"));
	cr_assert_not_null(strstr(f->evidence, "1 failed attempts in a row since "
	                                       "2025-11-24T15:50:00Z"),
	                   "%s", f->evidence);
	cr_assert_not_null(strstr(f->evidence, "failing for 600 s, unregistered"), "%s",
	                   f->evidence);
	cr_assert_not_null(strstr(f->evidence, "retries every 61 s"), "%s", f->evidence);
	cr_assert_eq(data(f, "retry_delay_s"), 61);
	cr_assert_eq(data(f, "failing"), 1);
	cr_assert_eq(data(f, "failures_in_a_row"), 1);
	cr_assert_eq(data(f, "failing_s"), 600);
	cr_assert_eq(data(f, "first_failure"), NOW_WALL - 600);
	/* its own delay, 300 s: the same finding, the trunk's setting */
	t.retry_cfg = 300;
	t.retry_delay = 300;
	run(&t, 1, NULL);
	f = only(DOCTOR_RETRY_DELAY_LONG);
	cr_assert_not_null(f);
	cr_assert_str_eq(f->setting, "trunk retry_delay");
	cr_assert_not_null(strstr(f->evidence, "every 300 s (its own)"), "%s",
	                   f->evidence);
	cr_assert_not_null(strstr(f->evidence, "up to 300 s longer (150 s on average)"),
	                   "%s", f->evidence);
	/* 600 s is not short, and a primary is never told to go slower */
	cr_assert_null(only(DOCTOR_RETRY_DELAY_SHORT));
}

Test(doctor, retry_delay_long_never_for_a_trunk_not_primary)
{
	struct ua_trunk_obs t[3] = {healthy("backup1"), healthy("backup2"),
	                            healthy("off")};

	for (int i = 0; i < 3; i++) {
		t[i].retry_delay = UA_RETRY_MAX;
		failing(&t[i], 5, UA_FAIL_TIMEOUT);
	}
	t[2].st.primary = true;
	t[2].st.enabled = false; /* disabled trunks are not examined */
	run(t, 3, NULL);
	cr_assert_null(only(DOCTOR_RETRY_DELAY_LONG));
	cr_assert_eq(report.counts[DOCTOR_RETRY_DELAY_LONG], 0);
	/* a healthy primary that never failed: nothing either */
	t[0] = healthy("main");
	t[0].st.primary = true;
	t[0].retry_delay = UA_RETRY_MAX;
	run(t, 1, NULL);
	cr_assert_eq(report.n, 0);
}

Test(doctor, retry_delay_long_after_a_recent_outage)
{
	struct ua_trunk_obs t = healthy("main");
	const struct doctor_finding *f;

	/* failed from 50 to 40 minutes ago, registered since (the run's counts
	 * are 0 again, its times remain) */
	t.st.primary = true;
	t.retry_delay = 120;
	t.run_first = NOW_WALL - 3000;
	t.run_last = NOW_WALL - 2400;
	t.st.failures = 6;
	run(&t, 1, NULL);
	f = only(DOCTOR_RETRY_DELAY_LONG);
	cr_assert_not_null(f);
	cr_assert_eq(f->severity, DOCTOR_INFO);
	cr_assert_not_null(strstr(f->evidence, "failed from 2025-11-24T15:10:00Z to "
	                                       "2025-11-24T15:20:00Z (at least 600 s)"),
	                   "%s", f->evidence);
	cr_assert_eq(data(f, "failing"), 0);
	cr_assert_eq(data(f, "failures"), 6);
	cr_assert_eq(data(f, "failing_s"), 600);
	/* the last failure exactly an hour ago still counts, a second more not */
	t.run_last = NOW_WALL - (time_t)DOCTOR_RETRY_LONG_WINDOW;
	run(&t, 1, NULL);
	cr_assert_not_null(only(DOCTOR_RETRY_DELAY_LONG));
	t.run_last = NOW_WALL - (time_t)DOCTOR_RETRY_LONG_WINDOW - 1;
	run(&t, 1, NULL);
	cr_assert_null(only(DOCTOR_RETRY_DELAY_LONG));
	/* a last failure in the future (a clock step) is no evidence */
	t.run_last = NOW_WALL + 30;
	run(&t, 1, NULL);
	cr_assert_null(only(DOCTOR_RETRY_DELAY_LONG));
}

Test(doctor, retry_delay_short_spares_a_primary_trunk)
{
	struct ua_trunk_obs t = healthy("main");

	t.retry_delay = 45;
	failing(&t, DOCTOR_RETRY_RUN + 2, UA_FAIL_OTHER);
	run(&t, 1, NULL);
	cr_assert_not_null(only(DOCTOR_RETRY_DELAY_SHORT),
	                   "a backup at 45 s is hammering");
	t.st.primary = true;
	run(&t, 1, NULL);
	cr_assert_null(only(DOCTOR_RETRY_DELAY_SHORT),
	               "45 s is what a primary should do");
	cr_assert_null(only(DOCTOR_RETRY_DELAY_LONG));
}

/* ------------------------------------------------------------------------ */
/* Endpoints: the per-AOR REGISTER tracker (src/doctor/endpoints.c)          */

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>

static struct doctor_ep *ep;

static void ep_fini(void)
{
	doctor_ep_free(ep);
	ep = NULL;
	doctor_report_free(&report);
}

TestSuite(doctor_ep, .fini = ep_fini);

static int feed(struct doctor_ep *t, const char *aor, uint32_t asked, uint32_t granted,
                uint64_t now_ms)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(5062)};
	struct doctor_ep_reg r = {.aor = {aor, strlen(aor)},
	                          .asked = asked,
	                          .granted = granted,
	                          .src = (const struct sockaddr *)&sin,
	                          .now_ms = now_ms};

	inet_pton(AF_INET, "192.0.2.77", &sin.sin_addr);
	return doctor_ep_feed(t, &r);
}

/* The merged stats of t and the doctor's report on them at now_ms. */
static size_t ep_report(struct doctor_ep *t, struct doctor_ep_stat **s, uint64_t now_ms,
                        const struct doctor_registrar *g)
{
	struct doctor *d;
	size_t n;

	cr_assert_eq(doctor_ep_merge(&t, 1, s, &n), 0);
	cr_assert_eq(doctor_new(&d, NULL, now_ms, NOW_WALL, 0), 0);
	cr_assert_eq(doctor_add_endpoints(d, *s, n, g, now_ms, NOW_WALL), 0);
	cr_assert_eq(doctor_finish(d, &report), 0);
	doctor_free(d);
	return n;
}

static const struct doctor_ep_stat *stat_of(const struct doctor_ep_stat *s, size_t n,
                                            const char *aor)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(s[i].aor, aor) == 0)
			return &s[i];
	return NULL;
}

/* 10,000 endpoints refreshing every 1,800 s of their 3,600 and one every
 * 2 s of its 3,600, interleaved over two hours: only that one is named. */
Test(doctor_ep, a_flooding_aor_among_many_normal_ones)
{
	struct doctor_registrar g = {.nat_expire = 120, .endpoint_expire = 3600, .min_expire = 20};
	const struct doctor_finding *f;
	struct doctor_ep_stat *s;
	char aor[64];
	uint64_t t0 = 1000000, flood_next = t0;
	size_t n;

	cr_assert_eq(doctor_ep_new(&ep, DOCTOR_EP_K), 0);
	for (unsigned round = 0; round < 4; round++)
		for (unsigned i = 0; i < 10000; i++) {
			/* endpoint i at t0 + round * 1800 s + i * 180 ms */
			uint64_t at = t0 + round * 1800000ull + i * 180ull;

			while (flood_next <= at) {
				cr_assert_eq(feed(ep, "flood@example.com", 3600, 3600, flood_next), 0);
				flood_next += 2000;
			}
			snprintf(aor, sizeof(aor), "user%u@example.com", i);
			cr_assert_eq(feed(ep, aor, 3600, 3600, at), 0);
		}
	n = ep_report(ep, &s, flood_next, &g);
	cr_assert_leq(n, DOCTOR_EP_K);
	cr_assert_eq(report.n, 1, "%zu findings, first %s", report.n,
	             report.n ? report.f[0].subject : "-");
	f = only(DOCTOR_ENDPOINT_FLOODING);
	cr_assert_str_eq(f->subject, "flood@example.com");
	cr_assert_eq(f->subject_type, DOCTOR_SUBJECT_ENDPOINT);
	cr_assert_str_eq(doctor_subject_name(f->subject_type), "endpoint");
	cr_assert_eq(f->severity, DOCTOR_CRITICAL);
	cr_assert_eq(data(f, "interval_ms"), 2000);
	cr_assert_eq(data(f, "granted_s"), 3600);
	cr_assert_eq(data(f, "asked_s"), 3600);
	cr_assert_geq(data(f, "registers"), 3500);
	cr_assert_not_null(strstr(f->evidence, "192.0.2.77:5062"), "%s", f->evidence);
	cr_assert_not_null(strstr(f->evidence, "900 times more often"), "%s", f->evidence);
	cr_assert_not_null(strstr(f->setting, "phone"), "%s", f->setting);
	cr_assert_eq(report.counts[DOCTOR_ENDPOINT_FLOODING], 1);
	free(s);
}

/* Every AOR tracked (fewer than k): refreshing at half the expiry or at a
 * third is normal, at a quarter and below it floods; fewer than
 * DOCTOR_EP_MIN_REGS REGISTERs are not judged. */
Test(doctor_ep, thresholds)
{
	struct doctor_ep_stat *s;
	uint64_t now = 0;
	size_t n;

	cr_assert_eq(doctor_ep_new(&ep, 64), 0);
	/* each one's twelfth REGISTER at now */
	now = 10000000;
	for (unsigned i = 0; i < 12; i++) {
		cr_assert_eq(feed(ep, "half@x", 600, 600, now - (11 - i) * 300000ull), 0);
		cr_assert_eq(feed(ep, "third@x", 600, 600, now - (11 - i) * 200000ull), 0);
		cr_assert_eq(feed(ep, "quarter@x", 600, 600, now - (11 - i) * 149000ull), 0);
		if (i < DOCTOR_EP_MIN_REGS - 1)
			cr_assert_eq(feed(ep, "few@x", 600, 600, now - (11 - i) * 1000ull), 0);
	}
	n = ep_report(ep, &s, now, NULL);
	cr_assert_eq(n, 4);
	cr_assert_eq(stat_of(s, n, "few@x")->regs, DOCTOR_EP_MIN_REGS - 1);
	cr_assert_eq(stat_of(s, n, "half@x")->interval_ms, 300000);
	cr_assert_eq(report.n, 1);
	cr_assert_str_eq(report.f[0].subject, "quarter@x");
	cr_assert_eq(report.f[0].severity, DOCTOR_WARNING);
	free(s);
}

/* An AOR with three devices (bindings), each refreshing at half of its
 * 3600 s, sends one REGISTER every 600 s: not flooding, counted per
 * binding; one device doing the same alone is. */
Test(doctor_ep, several_devices_of_one_aor)
{
	struct doctor_ep_reg r = {.asked = 3600, .granted = 3600};
	const struct doctor_finding *f;
	struct doctor_ep_stat *s;
	uint64_t now = 100000000;

	cr_assert_eq(doctor_ep_new(&ep, 8), 0);
	for (unsigned i = 0; i < 12; i++) {
		r.now_ms = now - (11 - i) * 600000ull;
		r.aor = SIP_STR("family@x");
		r.bindings = 3;
		cr_assert_eq(doctor_ep_feed(ep, &r), 0);
		r.aor = SIP_STR("alone@x");
		r.bindings = 0; /* unknown: one */
		cr_assert_eq(doctor_ep_feed(ep, &r), 0);
		r.aor = SIP_STR("pair@x");
		r.bindings = 2; /* 600 s x 2 = 1200 s < 3600 / 4? no: 1200 > 900 */
		cr_assert_eq(doctor_ep_feed(ep, &r), 0);
	}
	ep_report(ep, &s, now, NULL);
	cr_assert_eq(report.n, 1);
	f = only(DOCTOR_ENDPOINT_FLOODING);
	cr_assert_str_eq(f->subject, "alone@x");
	cr_assert_eq(data(f, "bindings"), 1);
	free(s);
	/* the family adding a fourth and fifth device at the same pace */
	doctor_ep_free(ep);
	cr_assert_eq(doctor_ep_new(&ep, 8), 0);
	for (unsigned i = 0; i < 12; i++) {
		r.now_ms = now - (11 - i) * 100000ull;
		r.aor = SIP_STR("family@x");
		r.bindings = 5; /* 100 s x 5 = 500 s < 900 s */
		cr_assert_eq(doctor_ep_feed(ep, &r), 0);
	}
	ep_report(ep, &s, now, NULL);
	cr_assert_eq(report.n, 1);
	cr_assert_eq(data(&report.f[0], "bindings"), 5);
	cr_assert_not_null(strstr(report.f[0].evidence, "counted per binding: the AOR has 5"), "%s",
	                   report.f[0].evidence);
	free(s);
}

/* Asking near the 20 s minimum floods even at half the expiry; a short
 * NAT expiry of ours is named as the setting. */
Test(doctor_ep, short_expiry_asked_or_granted)
{
	struct doctor_registrar g = {.nat_expire = 30, .endpoint_expire = 3600, .min_expire = 20};
	struct doctor_ep_reg r = {.aor = SIP_STR("nat@x"), .asked = 3600, .granted = 30, .nat = true};
	const struct doctor_finding *f;
	struct doctor_ep_stat *s;
	unsigned why = 0;
	size_t n;

	cr_assert_eq(doctor_ep_new(&ep, 8), 0);
	for (unsigned i = 0; i < 10; i++) { /* the tenth of each at 2,000,000 */
		cr_assert_eq(feed(ep, "short@x", 20, 20, 2000000 - (9 - i) * 10000ull), 0);
		r.now_ms = 2000000 - (9 - i) * 15000ull;
		cr_assert_eq(doctor_ep_feed(ep, &r), 0);
		cr_assert_eq(feed(ep, "fine@x", 120, 120, 2000000 - (9 - i) * 60000ull), 0);
	}
	n = ep_report(ep, &s, 2000000, &g);
	cr_assert_eq(n, 3);
	cr_assert(doctor_ep_flooding(stat_of(s, n, "short@x"), &g, 2000000, &why));
	cr_assert_eq(why, DOCTOR_EP_SHORT_ASK);
	cr_assert(doctor_ep_flooding(stat_of(s, n, "nat@x"), &g, 2000000, &why));
	cr_assert_eq(why, DOCTOR_EP_SERVER_SHORT);
	cr_assert_not(doctor_ep_flooding(stat_of(s, n, "fine@x"), &g, 2000000, &why));
	cr_assert_eq(report.n, 2, "%zu", report.n);
	for (size_t i = 0; i < report.n; i++) {
		f = &report.f[i];
		if (strcmp(f->subject, "nat@x") == 0) {
			cr_assert_str_eq(f->setting, "SS_ENDPOINT_NAT_EXPIRE");
			cr_assert_eq(data(f, "behind_nat"), 1);
			cr_assert_not_null(strstr(f->evidence, "our SS_ENDPOINT_NAT_EXPIRE"));
		} else {
			cr_assert_str_eq(f->subject, "short@x");
			cr_assert_not_null(strstr(f->evidence, "near the 20 s minimum"), "%s",
			                   f->evidence);
			cr_assert_eq(data(f, "asked_s"), 20);
		}
	}
	free(s);
}

/* An AOR that flooded but stopped an hour ago is not named any more. */
Test(doctor_ep, a_flood_that_stopped_is_not_named)
{
	struct doctor_ep_stat *s;

	cr_assert_eq(doctor_ep_new(&ep, 8), 0);
	for (unsigned i = 0; i < 50; i++)
		cr_assert_eq(feed(ep, "was@x", 3600, 3600, 1000000 + i * 1000ull), 0);
	ep_report(ep, &s, 1000000 + 50000, NULL);
	cr_assert_eq(report.n, 1);
	free(s);
	ep_report(ep, &s, 1000000 + 50000 + 3600000, NULL);
	cr_assert_eq(report.n, 0);
	free(s);
}

static int cmp_u32_desc(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? 1 : x > y ? -1 : 0;
}

/* k = 16 under 20,000 one-off AORs in a random order with 5 heavy ones
 * (8.6 % of the stream each, over the 1/16 that space-saving guarantees): eviction keeps the 5, their counts bound the
 * true ones (count - err <= true <= count), and no AOR is tracked twice. */
Test(doctor_ep, eviction_keeps_the_heavy_hitters)
{
	enum { HEAVY = 5, LIGHT = 20000, PER_HEAVY = 3000 };
	uint32_t *order = malloc((LIGHT + HEAVY * PER_HEAVY) * sizeof(*order));
	size_t total = LIGHT + HEAVY * PER_HEAVY, n;
	struct doctor_ep_stat *s;
	uint32_t counts[HEAVY];
	char aor[64];

	cr_assert_not_null(order);
	for (size_t i = 0; i < total; i++)
		order[i] = i < LIGHT ? (uint32_t)i : LIGHT + (uint32_t)((i - LIGHT) % HEAVY);
	srand(7);
	for (size_t i = total - 1; i > 0; i--) {
		size_t j = (size_t)rand() % (i + 1);
		uint32_t x = order[i];

		order[i] = order[j];
		order[j] = x;
	}
	cr_assert_eq(doctor_ep_new(&ep, 16), 0);
	for (size_t i = 0; i < total; i++) {
		if (order[i] < LIGHT)
			snprintf(aor, sizeof(aor), "light%u@example.net", order[i]);
		else
			snprintf(aor, sizeof(aor), "HEAVY%u@example.net", order[i] - LIGHT);
		cr_assert_eq(feed(ep, aor, 3600, 3600, 1000000 + i * 10ull), 0);
	}
	cr_assert_eq(doctor_ep_fed(ep), total);
	cr_assert_eq(doctor_ep_merge(&ep, 1, &s, &n), 0);
	cr_assert_eq(n, 16, "every slot used and none twice: %zu", n);
	for (unsigned h = 0; h < HEAVY; h++) {
		const struct doctor_ep_stat *x;

		snprintf(aor, sizeof(aor), "HEAVY%u@example.net", h);
		x = stat_of(s, n, aor);
		cr_assert_not_null(x, "%s evicted", aor);
		cr_assert_geq(x->count, PER_HEAVY);
		cr_assert_leq(x->count - x->err, PER_HEAVY);
		counts[h] = (uint32_t)x->count;
	}
	/* the heavy ones have the five largest counts */
	{
		uint32_t all[16];

		for (size_t i = 0; i < n; i++)
			all[i] = (uint32_t)s[i].count;
		qsort(all, n, sizeof(*all), cmp_u32_desc);
		qsort(counts, HEAVY, sizeof(*counts), cmp_u32_desc);
		cr_assert_arr_eq(all, counts, sizeof(counts));
	}
	free(s);
	free(order);
}

/* Every DOCTOR_EP_DECAY_MS the counts halve (the ranking follows the recent
 * past) while the REGISTERs and interval since an AOR entered are kept; an
 * AOR busy now overtakes one that was busy before. */
Test(doctor_ep, counts_decay)
{
	struct doctor_ep_stat *s;
	uint64_t t0 = 1000000, t;
	size_t n;

	cr_assert_eq(doctor_ep_new(&ep, 2), 0);
	for (unsigned i = 0; i < 100; i++)
		cr_assert_eq(feed(ep, "old@x", 3600, 3600, t0 + i * 1000ull), 0);
	t = t0 + DOCTOR_EP_DECAY_MS;
	cr_assert_eq(feed(ep, "new@x", 3600, 3600, t), 0); /* halves first: 50 */
	cr_assert_eq(doctor_ep_merge(&ep, 1, &s, &n), 0);
	cr_assert_eq(n, 2);
	cr_assert_eq(stat_of(s, n, "old@x")->count, 50);
	cr_assert_eq(stat_of(s, n, "old@x")->regs, 100);
	cr_assert_eq(stat_of(s, n, "old@x")->interval_ms, 1000);
	free(s);
	for (unsigned i = 1; i < 60; i++)
		cr_assert_eq(feed(ep, "new@x", 3600, 3600, t + i * 1000ull), 0);
	/* k = 2: a third AOR evicts the smaller count, now old@x's */
	cr_assert_eq(feed(ep, "third@x", 3600, 3600, t + 60000), 0);
	cr_assert_eq(doctor_ep_merge(&ep, 1, &s, &n), 0);
	cr_assert_eq(n, 2);
	cr_assert_null(stat_of(s, n, "old@x"));
	cr_assert_eq(stat_of(s, n, "new@x")->count, 60);
	cr_assert_eq(stat_of(s, n, "third@x")->count, 51);
	cr_assert_eq(stat_of(s, n, "third@x")->err, 50);
	cr_assert_eq(stat_of(s, n, "third@x")->regs, 1);
	free(s);
}

/* The memory is fixed at doctor_ep_new: 100,000 distinct AORs later the
 * tracker holds the same bytes and k AORs. */
Test(doctor_ep, bounded_memory)
{
	struct doctor_ep_stat *s;
	char aor[64];
	size_t before, n;

	cr_assert_eq(doctor_ep_new(&ep, 128), 0);
	before = doctor_ep_bytes(ep);
	cr_assert_gt(before, 128 * sizeof(struct doctor_ep_stat) / 2);
	cr_assert_lt(before, 64 * 1024, "%zu bytes", before);
	for (unsigned i = 0; i < 100000; i++) {
		snprintf(aor, sizeof(aor), "u%u@d%u.example", i, i % 97);
		cr_assert_eq(feed(ep, aor, 0, 3600, 1000 + i), 0);
	}
	cr_assert_eq(doctor_ep_bytes(ep), before);
	cr_assert_eq(doctor_ep_merge(&ep, 1, &s, &n), 0);
	cr_assert_eq(n, 128);
	free(s);
}

/* The same AOR seen by two workers: one stat, REGISTERs summed, the rates
 * added (two streams every 4 s are one every 2 s). */
Test(doctor_ep, merge_over_workers)
{
	struct doctor_ep *t[3] = {NULL, NULL, NULL};
	struct doctor_ep_stat *s;
	size_t n;

	cr_assert_eq(doctor_ep_new(&t[0], 8), 0);
	cr_assert_eq(doctor_ep_new(&t[2], 8), 0);
	for (unsigned i = 0; i < 10; i++) {
		cr_assert_eq(feed(t[0], "both@x", 3600, 3600, 1000000 + i * 4000ull), 0);
		cr_assert_eq(feed(t[2], "both@x", 1800, 1800, 1002000 + i * 4000ull), 0);
		cr_assert_eq(feed(t[2], "two@x", 3600, 3600, 1000000 + i * 4000ull), 0);
		/* one a second, shared 4:1 between the workers */
		cr_assert_eq(feed(t[i % 5 == 4 ? 2 : 0], "uneven@x", 60, 60, 1000000 + i * 1000ull),
		             0);
	}
	cr_assert_eq(doctor_ep_merge(t, 3, &s, &n), 0);
	cr_assert_eq(n, 3);
	cr_assert_eq(stat_of(s, n, "uneven@x")->regs, 10);
	cr_assert_eq(stat_of(s, n, "uneven@x")->interval_ms, 1000);
	cr_assert_eq(stat_of(s, n, "both@x")->regs, 20);
	cr_assert_eq(stat_of(s, n, "both@x")->interval_ms, 2000);
	cr_assert_eq(stat_of(s, n, "both@x")->granted, 1800, "the latest REGISTER's");
	cr_assert_eq(stat_of(s, n, "both@x")->first_ms, 1000000);
	cr_assert_eq(stat_of(s, n, "two@x")->regs, 10);
	free(s);
	doctor_ep_free(t[0]);
	doctor_ep_free(t[2]);
}

/* AORs longer than DOCTOR_EP_AOR_MAX are cut for display but told apart. */
Test(doctor_ep, long_aors)
{
	char a[300], b[300];
	struct doctor_ep_stat *s;
	size_t n;

	memset(a, 'a', 250);
	a[250] = '\0';
	memcpy(b, a, sizeof(a));
	b[249] = 'b';
	cr_assert_eq(doctor_ep_new(&ep, 8), 0);
	for (unsigned i = 0; i < 6; i++) {
		cr_assert_eq(feed(ep, a, 3600, 3600, 1000 + i * 1000ull), 0);
		cr_assert_eq(feed(ep, b, 3600, 3600, 1000 + i * 1000ull), 0);
	}
	n = ep_report(ep, &s, 7000, NULL);
	cr_assert_eq(n, 2);
	cr_assert_eq(s[0].regs, 6);
	cr_assert_eq(s[1].regs, 6);
	cr_assert_eq(strlen(s[0].aor), DOCTOR_EP_AOR_MAX);
	cr_assert_eq(report.n, 2);
	cr_assert_eq(strlen(report.f[0].subject), DOCTOR_EP_AOR_MAX);
	free(s);
}

Test(doctor_ep, bad_input)
{
	struct doctor_ep_reg r = {.aor = SIP_STR("a@b"), .granted = 60, .now_ms = 1};
	struct doctor_ep_stat *s = NULL;
	struct doctor_finding f = {.kind = DOCTOR_KIND__COUNT};
	struct doctor *d;
	size_t n;

	cr_assert_eq(doctor_ep_new(&ep, 0), -EINVAL);
	cr_assert_eq(doctor_ep_new(&ep, DOCTOR_EP_K_MAX + 1), -EINVAL);
	cr_assert_eq(doctor_ep_new(NULL, 8), -EINVAL);
	cr_assert_null(ep);
	cr_assert_eq(doctor_ep_new(&ep, 1), 0);
	cr_assert_eq(doctor_ep_feed(NULL, &r), -EINVAL);
	cr_assert_eq(doctor_ep_feed(ep, NULL), -EINVAL);
	r.granted = 0;
	cr_assert_eq(doctor_ep_feed(ep, &r), -EINVAL);
	r.granted = 60;
	r.aor = SIP_STR("");
	cr_assert_eq(doctor_ep_feed(ep, &r), -EINVAL);
	r.aor = (struct sip_str){NULL, 3};
	cr_assert_eq(doctor_ep_feed(ep, &r), -EINVAL);
	cr_assert_eq(doctor_ep_fed(ep), 0);
	/* k = 1: every new AOR replaces the last */
	r.aor = SIP_STR("a@b");
	cr_assert_eq(doctor_ep_feed(ep, &r), 0);
	r.aor = SIP_STR("c@d");
	cr_assert_eq(doctor_ep_feed(ep, &r), 0);
	cr_assert_eq(doctor_ep_merge(&ep, 1, &s, &n), 0);
	cr_assert_eq(n, 1);
	cr_assert_str_eq(s[0].aor, "c@d");
	cr_assert_eq(s[0].count, 2);
	cr_assert_eq(s[0].err, 1);
	free(s);
	cr_assert_eq(doctor_ep_merge(NULL, 1, &s, &n), -EINVAL);
	cr_assert_eq(doctor_ep_merge(&ep, 1, NULL, &n), -EINVAL);
	cr_assert_eq(doctor_ep_merge(NULL, 0, &s, &n), 0);
	cr_assert_eq(n, 0);
	free(s);
	cr_assert_eq(doctor_add_endpoints(NULL, NULL, 0, NULL, 0, 0), -EINVAL);
	cr_assert_eq(doctor_new(&d, NULL, 0, NOW_WALL, 0), 0);
	cr_assert_eq(doctor_add_endpoints(d, NULL, 1, NULL, 0, 0), -EINVAL);
	cr_assert_eq(doctor_add_finding(d, &f), -EINVAL);
	cr_assert_eq(doctor_add_finding(d, NULL), -EINVAL);
	doctor_free(d);
	doctor_ep_free(NULL);
	cr_assert_eq(doctor_ep_bytes(NULL), 0);
}

/* A reader merging while the writer feeds never sees a torn slot: each
 * AOR's text matches its REGISTER count's pattern. */
struct writer_arg {
	struct doctor_ep *t;
	volatile bool stop;
};

static void *writer(void *p)
{
	struct writer_arg *a = p;
	char aor[64];

	for (uint64_t i = 0; !a->stop; i++) {
		/* AOR n always asks n s: a torn copy would mix them */
		unsigned k = (unsigned)(i * 2654435761u % 300);

		snprintf(aor, sizeof(aor), "w%u@race.example", k);
		feed(a->t, aor, k + 1, k + 1, 1000 + i);
	}
	return NULL;
}

Test(doctor_ep, merge_while_fed)
{
	struct writer_arg a = {0};
	pthread_t th;

	cr_assert_eq(doctor_ep_new(&ep, 32), 0);
	a.t = ep;
	uint64_t fed0;
	time_t until;
	unsigned round;

	cr_assert_eq(pthread_create(&th, NULL, writer, &a), 0);
	/* the writer under way before, and feeding all along the reads
	 * (bounded: 10 s) */
	until = time(NULL) + 10;
	while (doctor_ep_fed(ep) < 1000 && time(NULL) < until)
		sched_yield();
	fed0 = doctor_ep_fed(ep);
	for (round = 0; (round < 2000 || doctor_ep_fed(ep) - fed0 < 20000) && time(NULL) < until;
	     round++) {
		struct doctor_ep_stat *s;
		size_t n;

		cr_assert_eq(doctor_ep_merge(&ep, 1, &s, &n), 0);
		for (size_t i = 0; i < n; i++) {
			unsigned k;

			cr_assert_eq(sscanf(s[i].aor, "w%u@race.example", &k), 1, "%s", s[i].aor);
			cr_assert_eq(s[i].asked, k + 1, "torn: %s asked %u", s[i].aor, s[i].asked);
			cr_assert_geq(s[i].last_ms, s[i].first_ms);
		}
		free(s);
	}
	a.stop = true;
	pthread_join(th, NULL);
	cr_assert_geq(doctor_ep_fed(ep) - fed0, 20000, "the reads did not overlap the feeds");
	cr_assert_geq(round, 2000);
}

/* doctor_ep_note: each thread its own tracker, collected together. */
static void *noter(void *p)
{
	struct doctor_ep_reg r = {.aor = {p, strlen(p)}, .asked = 3600, .granted = 3600};

	for (unsigned i = 0; i < 20; i++) {
		r.now_ms = 1000 + i * 1000ull;
		doctor_ep_note(&r);
	}
	return NULL;
}

Test(doctor_ep, per_thread_trackers_collected)
{
	pthread_t a, b;
	struct doctor_ep_stat *s;
	size_t n;

	cr_assert_eq(pthread_create(&a, NULL, noter, "one@threads"), 0);
	cr_assert_eq(pthread_create(&b, NULL, noter, "two@threads"), 0);
	pthread_join(a, NULL);
	pthread_join(b, NULL);
	noter("one@threads"); /* this thread: a third tracker */
	cr_assert_eq(doctor_ep_collect(&s, &n), 0);
	cr_assert_eq(n, 2);
	cr_assert_eq(stat_of(s, n, "one@threads")->regs, 40);
	cr_assert_eq(stat_of(s, n, "two@threads")->regs, 20);
	cr_assert_eq(doctor_ep_lost(), 0);
	free(s);
}

/* Space-saving against a reference (the true count of every AOR), with
 * decays: after each feed of a skewed random stream of 60 AORs into k = 8
 * slots, at most k tracked, none twice; every count bounds the true one
 * (count - err <= true <= count, the true count since the last halving
 * until the first decay); an AOR that enters takes the smallest count of
 * the feed before (halved when that feed decays) + 1; a tracked one's
 * count grows by exactly one (halved first when the feed decays); until
 * the first decay the counts sum to the feeds. */
Test(doctor_ep, random_stream_against_reference)
{
	enum { AORS = 60, FEEDS = 6000, K = 8 };
	uint64_t truth[AORS] = {0}, now = 5000, epoch = 0, sum = 0;
	struct doctor_ep_stat *s = NULL;
	size_t n = 0;
	char aor[32];
	bool started = false, decayed = false;
	unsigned decays_seen = 0;

	cr_assert_eq(doctor_ep_new(&ep, K), 0);
	srand(11);
	for (unsigned f = 0; f < FEEDS; f++) {
		/* skewed: AOR i with weight ~ 1 / (i + 1) */
		unsigned a = (unsigned)(rand() % AORS);
		const struct doctor_ep_stat *was;
		uint64_t min = UINT64_MAX, prev_count = 0;
		bool decays;

		a = a * (unsigned)(rand() % AORS) / AORS;
		snprintf(aor, sizeof(aor), "a%u@ref", a);
		for (size_t i = 0; i < n; i++)
			if (s[i].count < min)
				min = s[i].count;
		was = stat_of(s, n, aor);
		if (was)
			prev_count = was->count;
		now += (uint64_t)(rand() % 4000); /* a decay every ~300 feeds */
		decays = started && now - epoch >= DOCTOR_EP_DECAY_MS;
		if (!started || decays) {
			epoch = now;
			started = true;
			decays_seen += decays;
		}
		if (decays) {
			decayed = true;
			for (unsigned i = 0; i < AORS; i++)
				truth[i] /= 2;
			min /= 2;
			prev_count /= 2;
			sum = 0;
		}
		truth[a]++;
		sum++;
		free(s);
		cr_assert_eq(feed(ep, aor, 3600, 3600, now), 0);
		cr_assert_eq(doctor_ep_merge(&ep, 1, &s, &n), 0);
		cr_assert_leq(n, K);
		const struct doctor_ep_stat *x = stat_of(s, n, aor);
		cr_assert_not_null(x, "feed %u: %s not tracked", f, aor);
		if (was)
			cr_assert_eq(x->count, prev_count + 1, "feed %u", f);
		else if (n == K && f >= K && x->regs == 1 && x->err > 0)
			cr_assert_eq(x->count, min + 1, "feed %u: entered above the minimum", f);
		uint64_t total = 0;
		for (size_t i = 0; i < n; i++) {
			unsigned id;

			cr_assert_eq(sscanf(s[i].aor, "a%u@ref", &id), 1);
			/* exact bounds until the first decay (halving rounds
			 * count, err and the truth down separately) */
			if (!decayed) {
				cr_assert_leq(s[i].count - s[i].err, truth[id], "feed %u %s", f,
				              s[i].aor);
				cr_assert_geq(s[i].count, truth[id], "feed %u %s", f, s[i].aor);
			}
			if (i)
				cr_assert_neq(strcmp(s[i - 1].aor, s[i].aor), 0);
			total += s[i].count;
		}
		if (!decayed)
			cr_assert_eq(total, f + 1, "feed %u: counts sum to the feeds", f);
	}
	cr_assert_geq(decays_seen, 10);
	free(s);
}
