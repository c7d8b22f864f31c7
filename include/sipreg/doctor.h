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
 *                           upstream gets an address blocked. Not for a
 *                           primary trunk (retry_delay_long wants it fast).
 *   retry_delay_long        a trunk marked primary (ua_trunk_config.primary)
 *                           that is failing, or failed within the last
 *                           DOCTOR_RETRY_LONG_WINDOW s, retries less often
 *                           than every DOCTOR_RETRY_LONG s: after its
 *                           upstream recovers it stays unregistered for up to
 *                           one retry delay more (half of it on average), the
 *                           traffic on a backup or failing. Setting: the
 *                           trunk's retry_delay, 30-45 s. Warning while
 *                           failing, info after it recovered.
 *   synchronised_refreshes  DOCTOR_SYNC_MIN or more registered trunks to one
 *                           upstream with the same effective expiry whose
 *                           next refreshes fall within DOCTOR_SYNC_WINDOW_MS
 *                           of each other (a REGISTER burst every period).
 *   endpoint_register_flooding
 *                           the registrar grants endpoints behind NAT less
 *                           than DOCTOR_FLOOD_EXPIRE s
 *                           (SS_ENDPOINT_NAT_EXPIRE), so every NAT endpoint
 *                           re-registers more often than every 30 s
 *                           (subject_type "endpoints"); and per endpoint
 *                           (subject_type "endpoint", subject the AOR) one of
 *                           the AORs sending the most REGISTERs (a bounded
 *                           heavy-hitter tracker per worker, see "Endpoints"
 *                           below) refreshing DOCTOR_EP_RATIO times more
 *                           often than half its granted expiry needs, asking
 *                           less than DOCTOR_FLOOD_EXPIRE s, or granted less
 *                           by us. Setting: the phone's registration
 *                           interval / expiry (SS_ENDPOINT_NAT_EXPIRE or
 *                           SS_ENDPOINT_EXPIRE when our grant is the short).
 *
 * Per endpoint only the AORs among each worker's DOCTOR_EP_K busiest are
 * judged (the registrar keeps no per-binding history of its refreshes): an
 * AOR refreshing too often but sending few of the REGISTERs may not be
 * named.
 */
#ifndef SIPREG_DOCTOR_H
#define SIPREG_DOCTOR_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <time.h>

#include "sipreg/location.h"
#include "sipreg/sip.h"
#include "sipreg/ua.h"

#define DOCTOR_NAT_EXPIRE_MAX 300u   /* s: longest expiry behind a NAT */
#define DOCTOR_FLOOD_EXPIRE 60u      /* s: an effective expiry under this floods */
#define DOCTOR_TIMEOUT_RUN 3u        /* timeouts in a row: unreachable */
#define DOCTOR_RETRY_RUN 3u          /* failures in a row before the retry matters */
#define DOCTOR_RETRY_SHORT 120u      /* s: shorter is hammering a failing upstream */
/*
 * s: a primary trunk retrying less often than this is slow to come back:
 * once its upstream recovers it stays unregistered up to one retry delay
 * more (half of it on average). 60 s, twice the 30 s minimum, is the most
 * worth tolerating for the trunk that carries the traffic; the advised
 * 30-45 s costs 80-120 REGISTERs an hour to a failing upstream, a rate
 * retry_delay_short accepts from a primary trunk only.
 */
#define DOCTOR_RETRY_LONG 60u
#define DOCTOR_RETRY_LONG_WINDOW 3600u /* s: an outage this recent still counts */
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
	DOCTOR_RETRY_DELAY_LONG,
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
	DOCTOR_SUBJECT_ENDPOINT,     /* subject: one endpoint's AOR, user@domain */
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
/* "trunk", "upstream", "endpoints", "endpoint". */
const char *doctor_subject_name(enum doctor_subject s);

/*
 * {"kind", "severity", "subject", "subject_type", "setting", "evidence",
 *  "advice", "data": {numbers}} of one finding; NULL on ENOMEM.
 */
json_t *doctor_finding_json(const struct doctor_finding *f);

/* {"findings": [...], "counts": {kind: n, every kind}, "trunks_checked": n,
 * "omitted": n}; NULL on ENOMEM. */
json_t *doctor_report_json(const struct doctor_report *r);

/* ------------------------------------------------------------------------ */
/*
 * Endpoints (src/doctor/endpoints.c): which AORs refresh their registration
 * far more often than they need to.
 *
 * A tracker (struct doctor_ep) follows the DOCTOR_EP_K AORs that sent the
 * most successful REGISTERs (space-saving heavy hitters: any AOR with more
 * than 1/k of the REGISTERs fed is among them; counts halve every
 * DOCTOR_EP_DECAY_MS so the ranking follows the recent past), and for each,
 * since it entered: REGISTERs, first and last time, a running average of
 * the interval between them, the expiry asked and granted last, NAT and the
 * source address. Its memory is fixed at doctor_ep_new(); a feed allocates
 * nothing and takes no lock (one writer thread per tracker). Readers on
 * other threads copy the slots under per-slot sequence counters.
 *
 * In sipregd each thread that handles REGISTERs (the workers) gets its own
 * tracker on its first feed (doctor_ep_note(), called by the registrar for
 * every 200 that keeps a binding); doctor_ep_collect() merges them by AOR
 * for the doctor, which adds a finding per flooding AOR with
 * doctor_add_endpoints().
 */
#define DOCTOR_EP_K 128u          /* AORs tracked per worker */
#define DOCTOR_EP_K_MAX 4096u     /* largest k of doctor_ep_new() */
#define DOCTOR_EP_AOR_MAX 127u    /* bytes of an AOR kept (longer: cut, hash tells apart) */
#define DOCTOR_EP_DECAY_MS 600000u /* counts halve this often */
#define DOCTOR_EP_THREADS 64u     /* per-thread trackers at most (doctor_ep_note) */
#define DOCTOR_EP_MIN_REGS 4u     /* REGISTERs seen before an AOR is judged */
#define DOCTOR_EP_RATIO 4u        /* interval under granted / this: too often */
#define DOCTOR_EP_CRITICAL_MS 5000u /* interval under this: critical */

/* One successful REGISTER. */
struct doctor_ep_reg {
	struct sip_str aor;  /* user@domain; only read during the call */
	uint32_t asked;      /* expiry asked, s; 0 none (default), UINT32_MAX huge */
	uint32_t granted;    /* expiry granted, s (> 0) */
	bool nat;            /* the registrar found it behind NAT */
	uint32_t bindings;   /* the AOR's bindings after it (devices; 0 = 1) */
	const struct sockaddr *src; /* may be NULL */
	uint64_t now_ms;     /* monotonic */
};

/* What the trackers know of one AOR (merged over the workers). */
struct doctor_ep_stat {
	uint64_t hash;
	char aor[DOCTOR_EP_AOR_MAX + 1];
	uint64_t count;       /* heavy-hitter count: an over-estimate by at most err */
	uint64_t err;
	uint32_t regs;        /* REGISTERs seen since it was tracked */
	uint64_t first_ms, last_ms;
	uint32_t interval_ms; /* recent average interval (0: one REGISTER only) */
	uint32_t asked, granted;
	uint32_t bindings;    /* of the latest REGISTER (>= 1) */
	bool nat;
	char src[64];         /* "192.0.2.1:5060", "[2001:db8::1]:5060", "" */
};

struct doctor_ep;

/* k: AORs tracked, 1..DOCTOR_EP_K_MAX. Returns 0, -EINVAL or -ENOMEM. */
int doctor_ep_new(struct doctor_ep **ret, unsigned k);
void doctor_ep_free(struct doctor_ep *t); /* NULL is a no-op */
/* Bytes the tracker holds (fixed at doctor_ep_new). */
size_t doctor_ep_bytes(const struct doctor_ep *t);
/* REGISTERs fed (any thread). */
uint64_t doctor_ep_fed(const struct doctor_ep *t);
/* One successful REGISTER; the tracker's one writer thread only. Returns 0
 * or -EINVAL (t or r NULL, empty AOR, granted 0). */
int doctor_ep_feed(struct doctor_ep *t, const struct doctor_ep_reg *r);
/*
 * The AORs of nt trackers (NULL entries skipped), merged by AOR, into a
 * malloc'd array (*out, free() it; *nout entries). Any thread, also while
 * the trackers are fed. Returns 0, -EINVAL or -ENOMEM.
 */
int doctor_ep_merge(struct doctor_ep *const *t, size_t nt, struct doctor_ep_stat **out,
                    size_t *nout);

/* The daemon's per-thread trackers. doctor_ep_note(): r into the calling
 * thread's tracker (made on its first call; beyond DOCTOR_EP_THREADS
 * threads or on ENOMEM the feed is lost and counted by doctor_ep_lost()).
 * A thread's tracker passes to the next thread when it exits. */
void doctor_ep_note(const struct doctor_ep_reg *r);
/* The registrar's call for a 200 with bindings: the contact with the
 * shortest non-zero expiry granted (lc[i].expires) and what it asked
 * (ct[i]'s expires, else the Expires header of m); bindings: the AOR's
 * after the update (several devices of one AOR each refresh: the check
 * is per binding). A removal or a query (nothing granted) is not fed. */
void doctor_ep_note_register(struct sip_str aor, const struct sip_msg *m,
                             const struct sip_contact *ct, const struct loc_contact *lc,
                             size_t n, size_t bindings, bool nat, const struct sockaddr *src,
                             uint64_t now_ms);
/* Every thread's tracker merged (doctor_ep_merge). */
int doctor_ep_collect(struct doctor_ep_stat **out, size_t *nout);
uint64_t doctor_ep_lost(void);

/* Reasons (*why of doctor_ep_flooding). */
#define DOCTOR_EP_TOO_OFTEN 1u    /* interval x bindings < granted / DOCTOR_EP_RATIO */
#define DOCTOR_EP_SHORT_ASK 2u    /* asked < DOCTOR_FLOOD_EXPIRE */
#define DOCTOR_EP_SERVER_SHORT 4u /* granted < DOCTOR_FLOOD_EXPIRE, less than asked */

/* Is s flooding at now_ms (at least DOCTOR_EP_MIN_REGS REGISTERs, the last
 * within two intervals and a minute, and a reason)? *why (may be NULL). */
bool doctor_ep_flooding(const struct doctor_ep_stat *s, const struct doctor_registrar *reg,
                        uint64_t now_ms, unsigned *why);
/* A finding endpoint_register_flooding (subject_type endpoint) for each of
 * the n AORs that is flooding. reg may be NULL. Returns 0, -EINVAL or
 * -ENOMEM. */
int doctor_add_endpoints(struct doctor *d, const struct doctor_ep_stat *s, size_t n,
                         const struct doctor_registrar *reg, uint64_t now_ms, time_t now_wall);
/* Adds a copy of f to d's report (its cap and counts apply); between
 * doctor_new and doctor_finish. Returns 0, -EINVAL or -ENOMEM. */
int doctor_add_finding(struct doctor *d, const struct doctor_finding *f);

#endif /* SIPREG_DOCTOR_H */
