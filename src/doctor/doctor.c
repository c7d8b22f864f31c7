/* SPDX-License-Identifier: MIT */
/*
 * doctor.c - registration problems recognised from observations (see
 * include/sipreg/doctor.h). One check function per finding; each reads one
 * trunk's ua_trunk_obs (the synchronised-refresh check reads groups of
 * them) and writes the evidence in words with its numbers and UTC times.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sipreg/doctor.h"

/* ------------------------------------------------------------------------ */
/* Names                                                                     */

static const char *const kind_names[DOCTOR_KIND__COUNT] = {
        "nat_expiry_too_long", "register_flooding",      "credentials_rejected",
        "upstream_blocking",   "upstream_unreachable",   "retry_delay_short",
        "retry_delay_long",    "synchronised_refreshes", "endpoint_register_flooding",
};

const char *doctor_kind_name(enum doctor_kind k)
{
	return (unsigned)k < DOCTOR_KIND__COUNT ? kind_names[k] : "unknown";
}

int doctor_kind_parse(const char *name, enum doctor_kind *out)
{
	for (unsigned i = 0; name && i < DOCTOR_KIND__COUNT; i++)
		if (strcmp(name, kind_names[i]) == 0) {
			*out = (enum doctor_kind)i;
			return 0;
		}
	return -EINVAL;
}

const char *doctor_severity_name(enum doctor_severity s)
{
	static const char *const n[] = {"info", "warning", "critical"};

	return (unsigned)s < 3 ? n[s] : "unknown";
}

const char *doctor_subject_name(enum doctor_subject s)
{
	static const char *const n[] = {"trunk", "upstream", "endpoints", "endpoint"};

	return (unsigned)s < 4 ? n[s] : "unknown";
}

/* ------------------------------------------------------------------------ */
/* Building findings                                                         */

__attribute__((format(printf, 3, 4))) static void fmt(char *buf, size_t cap,
                                                      const char *f, ...)
{
	va_list ap;

	va_start(ap, f);
	vsnprintf(buf, cap, f, ap);
	va_end(ap);
}

/* Appends to a NUL-terminated buffer, truncating. */
__attribute__((format(printf, 3, 4))) static void cat(char *buf, size_t cap,
                                                      const char *f, ...)
{
	size_t n = strlen(buf);
	va_list ap;

	if (n + 1 >= cap)
		return;
	va_start(ap, f);
	vsnprintf(buf + n, cap - n, f, ap);
	va_end(ap);
}

/* "2026-11-24T07:13:04Z", or "never" for 0. */
static const char *utc(char *buf, size_t cap, time_t t)
{
	struct tm tm;

	if (t <= 0 || !gmtime_r(&t, &tm) || strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, cap, "never");
	return buf;
}

static struct doctor_finding *add(struct doctor_report *r, enum doctor_kind k,
                                  enum doctor_severity sev, enum doctor_subject st,
                                  const char *subject)
{
	struct doctor_finding *f;

	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 16;
		struct doctor_finding *nf = realloc(r->f, cap * sizeof(*nf));

		if (!nf)
			return NULL;
		r->f = nf;
		r->cap = cap;
	}
	f = &r->f[r->n++];
	memset(f, 0, sizeof(*f));
	f->kind = k;
	f->severity = sev;
	f->subject_type = st;
	fmt(f->subject, sizeof(f->subject), "%s", subject);
	return f;
}

static void num(struct doctor_finding *f, const char *key, long long v)
{
	if (f->nnum < DOCTOR_NUMS_MAX) {
		f->num[f->nnum].key = key;
		f->num[f->nnum].value = v;
		f->nnum++;
	}
}

/* "trunk set NAME" advice targets the trunk's own field when it has one,
 * else the global key. */
static bool expire_is_global(const struct ua_trunk_obs *o)
{
	return o->expire_cfg == UA_EXPIRE_GLOBAL;
}

/* ------------------------------------------------------------------------ */
/* Per-trunk checks                                                          */

/* Our sent-by differs from what the upstream saw: a NAT between us. */
static bool behind_nat(const struct ua_trunk_obs *o, char *why, size_t cap)
{
	unsigned char a[16], b[16];
	int fa, fb;

	if (!o->via_seen)
		return false;
	if (o->via_received[0]) {
		fa = inet_pton(AF_INET, o->via_received, a) == 1    ? AF_INET
		     : inet_pton(AF_INET6, o->via_received, a) == 1 ? AF_INET6
		                                                     : 0;
		fb = inet_pton(AF_INET, o->local_host, b) == 1    ? AF_INET
		     : inet_pton(AF_INET6, o->local_host, b) == 1 ? AF_INET6
		                                                  : 0;
		/* a sent-by that is a name always gets received= (RFC 3261
		 * §18.2.1): only numeric addresses compare */
		if (fa && fb &&
		    (fa != fb || memcmp(a, b, fa == AF_INET ? 4 : 16) != 0)) {
			fmt(why, cap, "received=%s", o->via_received);
			if (o->via_rport > 0)
				cat(why, cap, ";rport=%d", (int)o->via_rport);
			return true;
		}
	}
	if (o->via_rport > 0 && (unsigned)o->via_rport != o->local_port) {
		fmt(why, cap, "rport=%d", (int)o->via_rport);
		return true;
	}
	return false;
}

/* The numbers behind every expiry finding. */
static void expiry_nums(struct doctor_finding *f, const struct ua_trunk_obs *o)
{
	num(f, "effective_expiry_s", o->effective);
	num(f, "asked_s", o->st.asked);
	num(f, "granted_s", o->st.granted);
}

static int check_nat(struct doctor_report *r, const struct ua_trunk_obs *o)
{
	struct doctor_finding *f;
	char seen[96], t[32];

	if (o->transport != UA_TRANSPORT_UDP || o->effective <= DOCTOR_NAT_EXPIRE_MAX ||
	    !behind_nat(o, seen, sizeof(seen)))
		return 0;
	f = add(r, DOCTOR_NAT_EXPIRY, DOCTOR_WARNING, DOCTOR_SUBJECT_TRUNK, o->st.name);
	if (!f)
		return -ENOMEM;
	fmt(f->evidence, sizeof(f->evidence),
	    "the 200 OK of %s (at %s) has a top Via with %s while we sent %s:%u: a NAT "
	    "rewrites our address; the effective expiry is %u s (asked %u, granted %u), "
	    "so the registration is refreshed every %u s, longer than a NAT binding "
	    "typically lives (%u s at most, often 30-120 s for UDP)",
	    o->dest_host, utc(t, sizeof(t), o->via_at), seen, o->local_host,
	    o->local_port, o->effective, o->st.asked, o->st.granted, o->effective / 2,
	    DOCTOR_NAT_EXPIRE_MAX);
	if (expire_is_global(o)) {
		fmt(f->setting, sizeof(f->setting), "SS_SIP_USER_AGENT_EXPIRE");
		fmt(f->advice, sizeof(f->advice),
		    "inbound calls will silently stop when the NAT binding closes: set "
		    "a fixed expiry of 120-300 s for this trunk (sipregctl trunk set %s "
		    "--expire 180), or SS_SIP_USER_AGENT_EXPIRE = 180 in [sip] for every "
		    "trunk",
		    o->st.name);
	} else {
		fmt(f->setting, sizeof(f->setting), "trunk expire");
		fmt(f->advice, sizeof(f->advice),
		    "inbound calls will silently stop when the NAT binding closes: set "
		    "a fixed expiry of 120-300 s (sipregctl trunk set %s --expire 180)",
		    o->st.name);
	}
	expiry_nums(f, o);
	num(f, "via_rport", o->via_rport);
	return 0;
}

static int check_flood(struct doctor_report *r, const struct ua_trunk_obs *o)
{
	struct doctor_finding *f;
	bool server = o->st.granted < o->st.asked;

	if (!o->effective || o->effective >= DOCTOR_FLOOD_EXPIRE)
		return 0;
	f = add(r, DOCTOR_REGISTER_FLOODING, DOCTOR_WARNING, DOCTOR_SUBJECT_TRUNK,
	        o->st.name);
	if (!f)
		return -ENOMEM;
	fmt(f->evidence, sizeof(f->evidence),
	    "the effective expiry is %u s (asked %u s, granted %u s by %s:%u), so the "
	    "trunk sends a REGISTER about every %u s (%.0f per hour); under %u s is "
	    "more often than a registration needs",
	    o->effective, o->st.asked, o->st.granted, o->dest_host, o->dest_port,
	    o->effective / 2, 7200.0 / o->effective, DOCTOR_FLOOD_EXPIRE);
	if (server) {
		cat(f->evidence, sizeof(f->evidence),
		    "; the short expiry is the upstream's (it grants less than asked)");
		fmt(f->setting, sizeof(f->setting), "upstream's granted expiry");
		fmt(f->advice, sizeof(f->advice),
		    "the upstream proposes %u s and sipreg must follow the granted value "
		    "(a registration never lapses): ask the provider for an expiry of "
		    "300 s or more for account %s; asking for more on our side "
		    "(sipregctl trunk set %s --expire 300) changes nothing while it "
		    "grants %u s",
		    o->st.granted, o->st.name, o->st.name, o->st.granted);
	} else if (expire_is_global(o)) {
		fmt(f->setting, sizeof(f->setting), "SS_SIP_USER_AGENT_EXPIRE");
		fmt(f->advice, sizeof(f->advice),
		    "raise the expiry: SS_SIP_USER_AGENT_EXPIRE = 300 in [sip] (120-300 "
		    "s behind NAT, 600-3600 s otherwise), or for this trunk only: "
		    "sipregctl trunk set %s --expire 300",
		    o->st.name);
	} else {
		fmt(f->setting, sizeof(f->setting), "trunk expire");
		fmt(f->advice, sizeof(f->advice),
		    "raise the trunk's expiry: sipregctl trunk set %s --expire 300 "
		    "(120-300 s behind NAT, 600-3600 s or auto otherwise)",
		    o->st.name);
	}
	expiry_nums(f, o);
	num(f, "refresh_interval_s", o->effective / 2);
	return 0;
}

/* "N failures since T (last at T2): a x 401/407 after credentials, ...". */
static void run_words(char *buf, size_t cap, const struct ua_trunk_obs *o)
{
	char t1[32], t2[32], t3[32];

	fmt(buf, cap, "%u failed attempts in a row since %s (last at %s, \"%u %s\"): ",
	    o->run, utc(t1, sizeof(t1), o->run_first), utc(t2, sizeof(t2), o->run_last),
	    o->st.last_code, o->st.last_reason);
	cat(buf, cap, "%u x 401/407 after credentials, %u x 403, %u x timeout, %u other",
	    o->run_kind[UA_FAIL_AUTH], o->run_kind[UA_FAIL_FORBIDDEN],
	    o->run_kind[UA_FAIL_TIMEOUT], o->run_kind[UA_FAIL_OTHER]);
	cat(buf, cap, "; last success %s", utc(t3, sizeof(t3), o->st.last_success));
}

static void run_nums(struct doctor_finding *f, const struct ua_trunk_obs *o)
{
	num(f, "failures_in_a_row", o->run);
	num(f, "auth_failures", o->run_kind[UA_FAIL_AUTH]);
	num(f, "forbidden", o->run_kind[UA_FAIL_FORBIDDEN]);
	num(f, "timeouts", o->run_kind[UA_FAIL_TIMEOUT]);
	num(f, "first_failure", (long long)o->run_first);
	num(f, "last_failure", (long long)o->run_last);
	num(f, "last_code", o->st.last_code);
	num(f, "retry_delay_s", o->retry_delay);
}

static int check_credentials(struct doctor_report *r, const struct ua_trunk_obs *o)
{
	unsigned auth = o->run_kind[UA_FAIL_AUTH], forb = o->run_kind[UA_FAIL_FORBIDDEN];
	struct doctor_finding *f;

	if (!o->run || (!auth && !forb))
		return 0;
	f = add(r, DOCTOR_CREDENTIALS_REJECTED, auth + forb >= 2 ? DOCTOR_CRITICAL : DOCTOR_WARNING,
	        DOCTOR_SUBJECT_TRUNK, o->st.name);
	if (!f)
		return -ENOMEM;
	run_words(f->evidence, sizeof(f->evidence), o);
	if (auth >= forb) {
		fmt(f->setting, sizeof(f->setting), "trunk password, auth_user, realm");
		fmt(f->advice, sizeof(f->advice),
		    "%s:%u challenges again after our credentials: the password (or the "
		    "auth user, or the realm) is wrong. Correct it: sipregctl trunk set %s "
		    "--password SECRET [--auth-user USER] [--realm REALM]; every retry "
		    "with wrong credentials risks a block of our address",
		    o->dest_host, o->dest_port, o->st.name);
	} else {
		fmt(f->setting, sizeof(f->setting), "trunk user, auth_user, domain");
		fmt(f->advice, sizeof(f->advice),
		    "%s:%u refuses the account (403): check the user, auth user and "
		    "domain (sipregctl trunk set %s --user USER --auth-user USER "
		    "--domain DOMAIN) or ask the provider whether the account or our "
		    "address is barred; disable the trunk (sipregctl trunk disable %s) "
		    "until it is fixed",
		    o->dest_host, o->dest_port, o->st.name, o->st.name);
	}
	run_nums(f, o);
	return 0;
}

static int check_timeouts(struct doctor_report *r, const struct ua_trunk_obs *o)
{
	struct doctor_finding *f;
	bool blocked = o->run_timeouts_after_reject > 0 && o->last_kind == UA_FAIL_TIMEOUT;
	bool unreachable = !blocked && o->run >= DOCTOR_TIMEOUT_RUN &&
	                   o->run_kind[UA_FAIL_TIMEOUT] == o->run;

	if (!blocked && !unreachable)
		return 0;
	f = add(r, blocked ? DOCTOR_UPSTREAM_BLOCKING : DOCTOR_UPSTREAM_UNREACHABLE,
	        blocked ? DOCTOR_CRITICAL : DOCTOR_WARNING, DOCTOR_SUBJECT_TRUNK, o->st.name);
	if (!f)
		return -ENOMEM;
	run_words(f->evidence, sizeof(f->evidence), o);
	if (blocked) {
		cat(f->evidence, sizeof(f->evidence),
		    "; %u of the timeouts came after %s:%u had answered with rejections",
		    o->run_timeouts_after_reject, o->dest_host, o->dest_port);
		fmt(f->setting, sizeof(f->setting), "trunk retry_delay, credentials");
		fmt(f->advice, sizeof(f->advice),
		    "%s:%u answered, refused, then went silent: it has probably blocked "
		    "our address for flooding. Fix the cause of the rejections first "
		    "(credentials: sipregctl trunk set %s --password ...), slow the "
		    "retries (sipregctl trunk set %s --retry-delay 300) and ask the "
		    "provider to unblock us",
		    o->dest_host, o->dest_port, o->st.name, o->st.name);
	} else {
		fmt(f->setting, sizeof(f->setting), "trunk registrar, proxy, transport");
		fmt(f->advice, sizeof(f->advice),
		    "%s:%u does not answer at all: check its address, port and "
		    "transport (sipregctl trunk show %s; sipregctl trunk set %s "
		    "--registrar HOST:PORT --transport udp|tcp), the route and any "
		    "firewall between us; if it used to answer, it may be blocking us",
		    o->dest_host, o->dest_port, o->st.name, o->st.name);
	}
	run_nums(f, o);
	num(f, "timeouts_after_rejections", o->run_timeouts_after_reject);
	return 0;
}

static int check_retry(struct doctor_report *r, const struct ua_trunk_obs *o)
{
	struct doctor_finding *f;
	unsigned per_hour;

	if (o->run < DOCTOR_RETRY_RUN || o->st.state != UA_STATE_FAILED ||
	    o->st.primary || o->retry_delay >= DOCTOR_RETRY_SHORT ||
	    o->retry_after > o->retry_delay)
		return 0;
	f = add(r, DOCTOR_RETRY_DELAY_SHORT, DOCTOR_WARNING, DOCTOR_SUBJECT_TRUNK, o->st.name);
	if (!f)
		return -ENOMEM;
	per_hour = 3600 / (o->retry_delay ? o->retry_delay : 1);
	run_words(f->evidence, sizeof(f->evidence), o);
	cat(f->evidence, sizeof(f->evidence),
	    "; it retries every %u s (%u attempts an hour) while %s:%u keeps failing it",
	    o->retry_delay, per_hour, o->dest_host, o->dest_port);
	if (o->retry_cfg == UA_RETRY_GLOBAL) {
		fmt(f->setting, sizeof(f->setting), "SS_SIP_USER_AGENT_RETRY_DELAY");
		fmt(f->advice, sizeof(f->advice),
		    "retrying a failing upstream every %u s risks being blocked: give "
		    "this trunk 120-300 s (sipregctl trunk set %s --retry-delay 300) or "
		    "raise SS_SIP_USER_AGENT_RETRY_DELAY in [sip]",
		    o->retry_delay, o->st.name);
	} else {
		fmt(f->setting, sizeof(f->setting), "trunk retry_delay");
		fmt(f->advice, sizeof(f->advice),
		    "retrying a failing upstream every %u s risks being blocked: "
		    "sipregctl trunk set %s --retry-delay 300 (120-300 s)",
		    o->retry_delay, o->st.name);
	}
	run_nums(f, o);
	return 0;
}

/*
 * A primary trunk failing now (run > 0), or whose last failure (run_last,
 * kept after the success that ended the run) is at most
 * DOCTOR_RETRY_LONG_WINDOW s old, with a retry delay over DOCTOR_RETRY_LONG.
 */
static int check_retry_long(struct doctor_report *r, const struct ua_trunk_obs *o,
                            time_t now)
{
	bool failing = o->run > 0;
	bool recent = !failing && o->run_last > 0 && now >= o->run_last &&
	              now - o->run_last <= (time_t)DOCTOR_RETRY_LONG_WINDOW;
	struct doctor_finding *f;
	char t1[32], t2[32], t3[32];
	long long down;

	if (!o->st.primary || o->retry_delay <= DOCTOR_RETRY_LONG ||
	    (!failing && !recent))
		return 0;
	f = add(r, DOCTOR_RETRY_DELAY_LONG, failing ? DOCTOR_WARNING : DOCTOR_INFO,
	        DOCTOR_SUBJECT_TRUNK, o->st.name);
	if (!f)
		return -ENOMEM;
	if (failing) {
		down = o->run_first > 0 && now > o->run_first
		               ? (long long)(now - o->run_first)
		               : 0;
		run_words(f->evidence, sizeof(f->evidence), o);
		cat(f->evidence, sizeof(f->evidence),
		    "; the primary trunk has been failing for %lld s%s", down,
		    o->st.valid ? " (its last binding still holds)" : ", unregistered");
	} else {
		down = o->run_last > o->run_first
		               ? (long long)(o->run_last - o->run_first)
		               : 0;
		fmt(f->evidence, sizeof(f->evidence),
		    "the primary trunk failed from %s to %s (at least %lld s) and "
		    "registered again (last success %s)",
		    utc(t1, sizeof(t1), o->run_first), utc(t2, sizeof(t2), o->run_last),
		    down, utc(t3, sizeof(t3), o->st.last_success));
	}
	cat(f->evidence, sizeof(f->evidence),
	    "; it retries every %u s (%s), so once %s:%u answers again it stays "
	    "unregistered up to %u s longer (%u s on average)",
	    o->retry_delay,
	    o->retry_cfg == UA_RETRY_GLOBAL ? "SS_SIP_USER_AGENT_RETRY_DELAY" : "its own",
	    o->dest_host, o->dest_port, o->retry_delay, o->retry_delay / 2);
	if (o->retry_after > o->retry_delay)
		cat(f->evidence, sizeof(f->evidence),
		    "; the upstream asked for %u s (Retry-After) this time",
		    o->retry_after);
	fmt(f->setting, sizeof(f->setting), "trunk retry_delay%s",
	    o->retry_cfg == UA_RETRY_GLOBAL ? " (now SS_SIP_USER_AGENT_RETRY_DELAY)"
	                                    : "");
	fmt(f->advice, sizeof(f->advice),
	    "a primary trunk should be back as soon as its upstream is: retry it every "
	    "30-45 s (sipregctl trunk set %s --retry-delay 30)%s",
	    o->st.name,
	    o->retry_cfg == UA_RETRY_GLOBAL
	            ? "; keep the global SS_SIP_USER_AGENT_RETRY_DELAY long for the "
	              "backup trunks"
	            : "");
	num(f, "retry_delay_s", o->retry_delay);
	num(f, "failing", failing);
	num(f, "failures_in_a_row", o->run);
	num(f, "failures", o->st.failures);
	num(f, "first_failure", (long long)o->run_first);
	num(f, "last_failure", (long long)o->run_last);
	num(f, "failing_s", down);
	num(f, "retry_after_s", o->retry_after);
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Synchronised refreshes                                                    */

/*
 * The accumulator keeps, per registered trunk, only what the grouping needs:
 * its upstream (interned: host, port and transport once per upstream), its
 * effective expiry, its next refresh and its name (80 bytes, not the
 * observation's 856).
 */
struct sync_rec {
	uint64_t next_at;
	uint32_t up;
	uint32_t effective;
	char name[UA_NAME_MAX + 1];
};

struct upstream {
	uint64_t hash;
	enum ua_transport transport;
	uint16_t port;
	char *host;
};

struct doctor {
	struct doctor_report rep;
	struct doctor_registrar reg;
	bool has_reg;
	uint64_t now_ms;
	time_t now_wall;
	size_t max;
	struct sync_rec *rec;
	size_t nrec, caprec;
	struct upstream *up;
	size_t nup, capup;
	uint32_t *slot; /* open addressing: 1 + index into up, 0 = empty */
	size_t nslot;
};

static uint64_t up_hash(const char *host, uint16_t port, enum ua_transport t)
{
	uint64_t h = 1469598103934665603ull;

	for (; *host; host++)
		h = (h ^ (unsigned char)*host) * 1099511628211ull;
	h = (h ^ port) * 1099511628211ull;
	return (h ^ (uint64_t)t) * 1099511628211ull;
}

static int up_rehash(struct doctor *d)
{
	size_t n = d->nslot ? d->nslot * 2 : 64;
	uint32_t *s = calloc(n, sizeof(*s));

	if (!s)
		return -ENOMEM;
	for (size_t i = 0; i < d->nup; i++) {
		size_t j = d->up[i].hash & (n - 1);

		while (s[j])
			j = (j + 1) & (n - 1);
		s[j] = (uint32_t)i + 1;
	}
	free(d->slot);
	d->slot = s;
	d->nslot = n;
	return 0;
}

/* The id of o's upstream, added when new; or -ENOMEM. */
static long up_intern(struct doctor *d, const struct ua_trunk_obs *o)
{
	uint64_t h = up_hash(o->dest_host, o->dest_port, o->transport);
	struct upstream *u;
	size_t j;

	if ((d->nup + 1) * 2 > d->nslot && up_rehash(d) < 0)
		return -ENOMEM;
	for (j = h & (d->nslot - 1); d->slot[j]; j = (j + 1) & (d->nslot - 1)) {
		u = &d->up[d->slot[j] - 1];
		if (u->hash == h && u->port == o->dest_port && u->transport == o->transport &&
		    strcmp(u->host, o->dest_host) == 0)
			return (long)(d->slot[j] - 1);
	}
	if (d->nup == d->capup) {
		size_t cap = d->capup ? d->capup * 2 : 16;
		struct upstream *nu = realloc(d->up, cap * sizeof(*nu));

		if (!nu)
			return -ENOMEM;
		d->up = nu;
		d->capup = cap;
	}
	u = &d->up[d->nup];
	u->host = strdup(o->dest_host);
	if (!u->host)
		return -ENOMEM;
	u->hash = h;
	u->port = o->dest_port;
	u->transport = o->transport;
	d->slot[j] = (uint32_t)++d->nup;
	return (long)(d->nup - 1);
}

static bool sync_candidate(const struct ua_trunk_obs *o)
{
	return o->st.state == UA_STATE_REGISTERED && o->st.next_action == UA_ACTION_REFRESH &&
	       o->st.next_at_ms && o->effective;
}

static int sync_note(struct doctor *d, const struct ua_trunk_obs *o)
{
	struct sync_rec *r;
	long up;

	if (!sync_candidate(o))
		return 0;
	up = up_intern(d, o);
	if (up < 0)
		return (int)up;
	if (d->nrec == d->caprec) {
		size_t cap = d->caprec ? d->caprec * 2 : 64;
		struct sync_rec *nr = realloc(d->rec, cap * sizeof(*nr));

		if (!nr)
			return -ENOMEM;
		d->rec = nr;
		d->caprec = cap;
	}
	r = &d->rec[d->nrec++];
	r->next_at = o->st.next_at_ms;
	r->up = (uint32_t)up;
	r->effective = o->effective;
	memcpy(r->name, o->st.name, sizeof(r->name));
	r->name[UA_NAME_MAX] = '\0';
	return 0;
}

/* Group order: upstream, effective expiry, then refresh time and name. */
static int sync_cmp(const void *pa, const void *pb)
{
	const struct sync_rec *a = pa, *b = pb;

	if (a->up != b->up)
		return a->up < b->up ? -1 : 1;
	if (a->effective != b->effective)
		return a->effective < b->effective ? -1 : 1;
	if (a->next_at != b->next_at)
		return a->next_at < b->next_at ? -1 : 1;
	return strcmp(a->name, b->name);
}

/* One group g[0..n) (sorted by refresh time): its densest window. */
static int sync_group(struct doctor *d, const struct sync_rec *g, size_t n)
{
	const struct upstream *u = &d->up[g[0].up];
	size_t best = 0, best_at = 0, lo = 0;
	struct doctor_finding *f;
	char sub[UA_HOST_MAX + 8], when[32];
	uint64_t half_ms, spread_ms;
	time_t at;

	if (n < DOCTOR_SYNC_MIN)
		return 0;
	for (size_t hi = 0; hi < n; hi++) {
		while (g[hi].next_at - g[lo].next_at >= DOCTOR_SYNC_WINDOW_MS)
			lo++;
		if (hi - lo + 1 > best) {
			best = hi - lo + 1;
			best_at = lo;
		}
	}
	if (best < DOCTOR_SYNC_MIN)
		return 0;
	fmt(sub, sizeof(sub), strchr(u->host, ':') ? "[%s]:%u" : "%s:%u", u->host, u->port);
	f = add(&d->rep, DOCTOR_SYNCHRONISED_REFRESHES,
	        best >= DOCTOR_SYNC_BURST_WARN ? DOCTOR_WARNING : DOCTOR_INFO,
	        DOCTOR_SUBJECT_UPSTREAM, sub);
	if (!f)
		return -ENOMEM;
	half_ms = (uint64_t)g[0].effective * 500;
	spread_ms = half_ms / 10;
	at = d->now_wall;
	if (g[best_at].next_at > d->now_ms)
		at += (time_t)((g[best_at].next_at - d->now_ms) / 1000);
	fmt(f->evidence, sizeof(f->evidence),
	    "%zu trunks registered to %s over %s with the same effective expiry %u s; %zu "
	    "of them refresh within %u ms of each other (next at %s), every %u s: ",
	    n, sub, ua_transport_name(u->transport), g[0].effective, best,
	    DOCTOR_SYNC_WINDOW_MS, utc(when, sizeof(when), at), g[0].effective / 2);
	for (size_t i = 0; i < best; i++) {
		if (i == 8) {
			cat(f->evidence, sizeof(f->evidence), ", ... (%zu more)", best - 8);
			break;
		}
		cat(f->evidence, sizeof(f->evidence), "%s%s", i ? ", " : "", g[best_at + i].name);
	}
	fmt(f->setting, sizeof(f->setting), "trunk expire");
	fmt(f->advice, sizeof(f->advice),
	    "the built-in spread moves each refresh at most %llu ms earlier (10%% of half "
	    "the period), too little for trunks registered together: give groups of "
	    "these trunks different expiries (e.g. sipregctl trunk set NAME --expire "
	    "300 / 330 / 360 ...) so their refreshes drift apart, or a longer common "
	    "expiry (300-600 s for many trunks to one provider) for a wider spread",
	    (unsigned long long)spread_ms);
	num(f, "trunks", (long long)n);
	num(f, "burst", (long long)best);
	num(f, "window_ms", DOCTOR_SYNC_WINDOW_MS);
	num(f, "effective_expiry_s", g[0].effective);
	num(f, "spread_ms", (long long)spread_ms);
	return 0;
}

static int check_sync(struct doctor *d)
{
	int ret = 0;

	if (d->nrec < DOCTOR_SYNC_MIN)
		return 0;
	qsort(d->rec, d->nrec, sizeof(*d->rec), sync_cmp);
	for (size_t s = 0, e; s < d->nrec && ret == 0; s = e) {
		for (e = s + 1; e < d->nrec && d->rec[e].up == d->rec[s].up &&
		                d->rec[e].effective == d->rec[s].effective;
		     e++)
			;
		ret = sync_group(d, d->rec + s, e - s);
	}
	return ret;
}

/* ------------------------------------------------------------------------ */
/* Endpoints                                                                 */

static int check_endpoints(struct doctor_report *r, const struct doctor_registrar *g)
{
	struct doctor_finding *f;

	if (!g || !g->nat_expire || g->nat_expire >= DOCTOR_FLOOD_EXPIRE)
		return 0;
	f = add(r, DOCTOR_ENDPOINT_FLOODING, DOCTOR_WARNING, DOCTOR_SUBJECT_ENDPOINTS,
	        "behind NAT");
	if (!f)
		return -ENOMEM;
	fmt(f->evidence, sizeof(f->evidence),
	    "SS_ENDPOINT_NAT_EXPIRE is %u s: every endpoint found behind NAT is granted "
	    "%u s and re-registers about every %u s (%u REGISTERs an hour each, with "
	    "their challenges); min_expire is %u s",
	    g->nat_expire, g->nat_expire, g->nat_expire / 2, 7200 / g->nat_expire,
	    g->min_expire);
	fmt(f->setting, sizeof(f->setting), "SS_ENDPOINT_NAT_EXPIRE");
	fmt(f->advice, sizeof(f->advice),
	    "set SS_ENDPOINT_NAT_EXPIRE = 120 (60-300) in [sip] and reload "
	    "(sipregctl reload): long enough not to flood, short enough to keep the "
	    "endpoints' NAT bindings open");
	num(f, "nat_expire_s", g->nat_expire);
	num(f, "min_expire_s", g->min_expire);
	return 0;
}

/* ------------------------------------------------------------------------ */
/* The report                                                                */

static int finding_cmp(const void *pa, const void *pb)
{
	const struct doctor_finding *a = pa, *b = pb;

	if (a->severity != b->severity)
		return a->severity > b->severity ? -1 : 1;
	if (a->kind != b->kind)
		return a->kind < b->kind ? -1 : 1;
	return strcmp(a->subject, b->subject);
}

/* Count the findings from index from on, then keep at most d->max: the
 * least severe beyond it are dropped (counted as omitted). */
static void settle(struct doctor *d, size_t from)
{
	struct doctor_report *r = &d->rep;

	for (size_t i = from; i < r->n; i++)
		r->counts[r->f[i].kind]++;
	while (r->n > d->max) {
		size_t low = r->n - 1;

		for (size_t i = 0; i < r->n; i++)
			if (r->f[i].severity < r->f[low].severity)
				low = i;
		r->f[low] = r->f[r->n - 1];
		r->n--;
		r->omitted++;
	}
}

int doctor_new(struct doctor **ret, const struct doctor_registrar *reg, uint64_t now_ms,
               time_t now_wall, size_t max_findings)
{
	struct doctor *d = calloc(1, sizeof(*d));

	if (!d)
		return -ENOMEM;
	if (reg) {
		d->reg = *reg;
		d->has_reg = true;
	}
	d->now_ms = now_ms;
	d->now_wall = now_wall;
	d->max = max_findings ? max_findings : DOCTOR_FINDINGS_MAX;
	*ret = d;
	return 0;
}

int doctor_add(struct doctor *d, const struct ua_trunk_obs *o)
{
	size_t from = d->rep.n;
	int r;

	d->rep.trunks++;
	if (!o->st.enabled)
		return 0;
	r = check_nat(&d->rep, o);
	if (r == 0)
		r = check_flood(&d->rep, o);
	if (r == 0)
		r = check_credentials(&d->rep, o);
	if (r == 0)
		r = check_timeouts(&d->rep, o);
	if (r == 0)
		r = check_retry(&d->rep, o);
	if (r == 0)
		r = check_retry_long(&d->rep, o, d->now_wall);
	if (r == 0)
		r = sync_note(d, o);
	settle(d, from);
	return r;
}

int doctor_add_finding(struct doctor *d, const struct doctor_finding *f)
{
	size_t from;
	struct doctor_finding *c;

	if (!d || !f || (unsigned)f->kind >= DOCTOR_KIND__COUNT)
		return -EINVAL;
	from = d->rep.n;
	c = add(&d->rep, f->kind, f->severity, f->subject_type, f->subject);
	if (!c)
		return -ENOMEM;
	*c = *f;
	settle(d, from);
	return 0;
}

int doctor_finish(struct doctor *d, struct doctor_report *out)
{
	size_t from = d->rep.n;
	int r;

	r = check_sync(d);
	settle(d, from);
	if (r < 0)
		return r;
	from = d->rep.n;
	r = check_endpoints(&d->rep, d->has_reg ? &d->reg : NULL);
	settle(d, from);
	if (r < 0)
		return r;
	if (d->rep.n > 1)
		qsort(d->rep.f, d->rep.n, sizeof(*d->rep.f), finding_cmp);
	doctor_report_free(out);
	*out = d->rep;
	memset(&d->rep, 0, sizeof(d->rep));
	return 0;
}

void doctor_free(struct doctor *d)
{
	if (!d)
		return;
	doctor_report_free(&d->rep);
	for (size_t i = 0; i < d->nup; i++)
		free(d->up[i].host);
	free(d->up);
	free(d->slot);
	free(d->rec);
	free(d);
}

int doctor_run(const struct doctor_input *in, struct doctor_report *out)
{
	struct doctor *d = NULL;
	int r;

	if (!in || !out || (!in->trunks && in->ntrunks))
		return -EINVAL;
	r = doctor_new(&d, in->registrar, in->now_ms, in->now_wall, in->max_findings);
	if (r < 0)
		return r;
	for (size_t i = 0; r == 0 && i < in->ntrunks; i++)
		r = doctor_add(d, &in->trunks[i]);
	if (r == 0)
		r = doctor_finish(d, out);
	doctor_free(d);
	return r;
}

void doctor_report_free(struct doctor_report *r)
{
	if (!r)
		return;
	free(r->f);
	memset(r, 0, sizeof(*r));
}

json_t *doctor_finding_json(const struct doctor_finding *f)
{
	json_t *o, *data = json_object();

	if (!data)
		return NULL;
	for (unsigned i = 0; i < f->nnum; i++)
		if (json_object_set_new(data, f->num[i].key, json_integer(f->num[i].value)) < 0) {
			json_decref(data);
			return NULL;
		}
	o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:o}", "kind",
	              doctor_kind_name(f->kind), "severity", doctor_severity_name(f->severity),
	              "subject", f->subject, "subject_type",
	              doctor_subject_name(f->subject_type), "setting", f->setting,
	              "evidence", f->evidence, "advice", f->advice, "data", data);
	return o;
}

json_t *doctor_report_json(const struct doctor_report *r)
{
	json_t *root = json_object(), *list = json_array(), *counts = json_object();

	if (!root || !list || !counts)
		goto fail;
	for (size_t i = 0; i < r->n; i++) {
		json_t *f = doctor_finding_json(&r->f[i]);

		if (!f || json_array_append_new(list, f) < 0)
			goto fail;
	}
	for (unsigned k = 0; k < DOCTOR_KIND__COUNT; k++)
		if (json_object_set_new(counts, kind_names[k], json_integer(r->counts[k])) < 0)
			goto fail;
	if (json_object_set_new(root, "findings", list) < 0) {
		list = NULL;
		goto fail;
	}
	list = NULL;
	if (json_object_set_new(root, "counts", counts) < 0) {
		counts = NULL;
		goto fail;
	}
	counts = NULL;
	if (json_object_set_new(root, "trunks_checked", json_integer((json_int_t)r->trunks)) < 0 ||
	    json_object_set_new(root, "omitted", json_integer((json_int_t)r->omitted)) < 0)
		goto fail;
	return root;
fail:
	json_decref(root);
	json_decref(list);
	json_decref(counts);
	return NULL;
}
