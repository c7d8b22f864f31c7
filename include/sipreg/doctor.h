/* SPDX-License-Identifier: MIT */
/*
 * doctor.h - `sipregctl doctor`: the classic registration problems
 * recognised from the engine's own observations (issue 6 §3), each with its
 * severity, the evidence (numbers, times) and the exact setting to change.
 *
 * Pure functions: the input is a copy of what the UA observed of every
 * trunk (ua_trunk_obs, ua_observe_all()) plus the registrar's settings, and
 * the clock of that copy; nothing here reads a clock, a socket or a table,
 * so every finding is provoked by synthetic input in tests/test_doctor.c.
 *
 * The findings (enum doctor_kind, JSON "kind"):
 *
 *   nat_expiry_too_long     a UDP trunk whose upstream saw us behind NAT (the
 *                           top Via of its last 2xx carries a received= or
 *                           an rport different from our sent-by) keeps an
 *                           effective expiry over DOCTOR_NAT_EXPIRE_MAX s:
 *                           the NAT binding closes between refreshes and
 *                           inbound calls silently stop. Setting: the
 *                           trunk's expire / SS_SIP_USER_AGENT_EXPIRE, a
 *                           fixed 120-300 s.
 *   register_flooding       a trunk refreshing more often than every
 *                           DOCTOR_FLOOD_EXPIRE/2 s (effective expiry under
 *                           DOCTOR_FLOOD_EXPIRE): asked by us (fixed expire
 *                           near the 20 s minimum) or granted short by the
 *                           upstream (server-proposed).
 *   credentials_rejected    the run of failures since the last success holds
 *                           a 401/407 after credentials or a 403: wrong
 *                           password / auth user / realm, or an account the
 *                           upstream refuses. Critical from 2 in a row.
 *   upstream_blocking       timeouts after rejections in the same run: the
 *                           upstream answered, then stopped answering at all
 *                           (a fail2ban/pike style block of our address).
 *   upstream_unreachable    DOCTOR_TIMEOUT_RUN or more timeouts in a row and
 *                           nothing else: down, unreachable, or dropping us.
 *   retry_delay_short       a trunk failed DOCTOR_RETRY_RUN times in a row
 *                           and is still failing with a retry delay under
 *                           DOCTOR_RETRY_SHORT s: hammering a failing
 *                           upstream gets an address blocked.
 *   synchronised_refreshes  DOCTOR_SYNC_MIN or more registered trunks to one
 *                           upstream with the same effective expiry whose
 *                           next refreshes fall within DOCTOR_SYNC_WINDOW_MS
 *                           of each other (a REGISTER burst every period).
 *   endpoint_register_flooding
 *                           the registrar grants endpoints behind NAT less
 *                           than DOCTOR_FLOOD_EXPIRE s
 *                           (SS_ENDPOINT_NAT_EXPIRE), so every NAT endpoint
 *                           re-registers more often than every 30 s.
 *
 * Not covered: the "primary trunk with a long retry delay" half of issue 6
 * §3 (trunks carry no primary mark), and per-endpoint REGISTER intervals (the
 * registrar keeps no per-binding history of its refreshes).
 */
#ifndef SIPREG_DOCTOR_H
#define SIPREG_DOCTOR_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "sipreg/ua.h"

#define DOCTOR_NAT_EXPIRE_MAX 300u   /* s: longest expiry behind a NAT */
#define DOCTOR_FLOOD_EXPIRE 60u      /* s: an effective expiry under this floods */
#define DOCTOR_TIMEOUT_RUN 3u        /* timeouts in a row: unreachable */
#define DOCTOR_RETRY_RUN 3u          /* failures in a row before the retry matters */
#define DOCTOR_RETRY_SHORT 120u      /* s: shorter is hammering a failing upstream */
#define DOCTOR_SYNC_MIN 5u           /* trunks due together to call it a burst */
#define DOCTOR_SYNC_WINDOW_MS 1000u  /* "together" */
#define DOCTOR_SYNC_BURST_WARN 100u  /* a burst this large is a warning, else info */
#define DOCTOR_FINDINGS_MAX 1000u    /* findings kept in a report (all are counted) */

enum doctor_kind {
	DOCTOR_NAT_EXPIRY = 0,
	DOCTOR_REGISTER_FLOODING,
	DOCTOR_CREDENTIALS_REJECTED,
	DOCTOR_UPSTREAM_BLOCKING,
	DOCTOR_UPSTREAM_UNREACHABLE,
	DOCTOR_RETRY_DELAY_SHORT,
	DOCTOR_SYNCHRONISED_REFRESHES,
	DOCTOR_ENDPOINT_FLOODING,
	DOCTOR_KIND__COUNT
};

enum doctor_severity {
	DOCTOR_INFO = 0,
	DOCTOR_WARNING,
	DOCTOR_CRITICAL,
};

/* What a finding is about (JSON "subject_type"). */
enum doctor_subject {
	DOCTOR_SUBJECT_TRUNK = 0,    /* subject: the trunk's name */
	DOCTOR_SUBJECT_UPSTREAM,     /* subject: "host:port" */
	DOCTOR_SUBJECT_ENDPOINTS,    /* subject: "behind NAT" (printed "endpoints behind NAT") */
};

#define DOCTOR_NUMS_MAX 12

struct doctor_finding {
	enum doctor_kind kind;
	enum doctor_severity severity;
	enum doctor_subject subject_type;
	char subject[UA_HOST_MAX + 8];
	char setting[96];   /* the key or trunk field to change */
	char evidence[768]; /* numbers and UTC times, in words */
	char advice[512];   /* what to set, as a command or a line of the file */
	/* the evidence's numbers for scripts (JSON "data"): static key names */
	struct {
		const char *key;
		long long value;
	} num[DOCTOR_NUMS_MAX];
	unsigned nnum;
};

/* The registrar's settings the endpoint finding reads (seconds). */
struct doctor_registrar {
	unsigned nat_expire;      /* SS_ENDPOINT_NAT_EXPIRE */
	unsigned endpoint_expire; /* SS_ENDPOINT_EXPIRE */
	unsigned min_expire;      /* min_expire */
};

/*
 * The findings, most severe first (then by kind, then subject). At most the
 * max_findings most severe are kept (a global setting can give every one of
 * 100,000 trunks the same finding); counts has them all.
 */
struct doctor_report {
	struct doctor_finding *f;
	size_t n, cap;
	unsigned counts[DOCTOR_KIND__COUNT]; /* every finding, kept or not */
	size_t omitted;                      /* findings not kept */
	size_t trunks;                       /* trunks examined */
};

/*
 * Streaming use (the daemon: one trunk at a time from ua_observe_all(), so
 * no copy of every observation is kept): doctor_new(), doctor_add() per
 * trunk (its own checks at once; for the synchronised-refresh check an
 * 80-byte record of a registered trunk), doctor_finish(), doctor_free().
 * One struct doctor is used by one thread at a time.
 */
struct doctor;

/* reg: the registrar's settings (NULL: no endpoint finding); now_ms: the
 * monotonic base of the trunks' *_ms fields; max_findings 0 =
 * DOCTOR_FINDINGS_MAX. Returns 0 or -ENOMEM. */
int doctor_new(struct doctor **ret, const struct doctor_registrar *reg, uint64_t now_ms,
               time_t now_wall, size_t max_findings);
/* One trunk (disabled ones are counted, not examined). Returns 0 or
 * -ENOMEM (that trunk's findings may be incomplete). */
int doctor_add(struct doctor *d, const struct ua_trunk_obs *o);
/* The checks across trunks and the registrar's, then the report into out
 * (its previous findings freed). Call once. Returns 0 or -ENOMEM. */
int doctor_finish(struct doctor *d, struct doctor_report *out);
/* NULL is a no-op. */
void doctor_free(struct doctor *d);

struct doctor_input {
	const struct ua_trunk_obs *trunks; /* may be NULL when ntrunks is 0 */
	size_t ntrunks;
	const struct doctor_registrar *registrar; /* NULL: no endpoint finding */
	uint64_t now_ms; /* monotonic base of the trunks' *_ms fields */
	time_t now_wall;
	size_t max_findings; /* 0 = DOCTOR_FINDINGS_MAX */
};

/*
 * The same on an array. out must be zeroed (or reused after
 * doctor_report_free()); its findings are replaced. Returns 0, -EINVAL (in
 * or out NULL, or trunks NULL with ntrunks > 0) or -ENOMEM (out unchanged).
 * Thread-safe (no shared state).
 */
int doctor_run(const struct doctor_input *in, struct doctor_report *out);

/* Frees the findings and zeroes the report; NULL is a no-op. */
void doctor_report_free(struct doctor_report *r);

/* "nat_expiry_too_long", ... ("unknown" out of range); and the reverse:
 * 0 or -EINVAL. */
const char *doctor_kind_name(enum doctor_kind k);
int doctor_kind_parse(const char *name, enum doctor_kind *out);
/* "info", "warning", "critical". */
const char *doctor_severity_name(enum doctor_severity s);
/* "trunk", "upstream", "endpoints". */
const char *doctor_subject_name(enum doctor_subject s);

/*
 * {"kind", "severity", "subject", "subject_type", "setting", "evidence",
 *  "advice", "data": {numbers}} of one finding; NULL on ENOMEM.
 */
json_t *doctor_finding_json(const struct doctor_finding *f);

/* {"findings": [...], "counts": {kind: n, every kind}, "trunks_checked": n,
 * "omitted": n}; NULL on ENOMEM. */
json_t *doctor_report_json(const struct doctor_report *r);

#endif /* SIPREG_DOCTOR_H */
