/* SPDX-License-Identifier: MIT */
/*
 * sipregd_metrics.c - /status as Prometheus families (see sipregd_metrics.h
 * and docs/OPERATIONS.md, "Metrics"). Runs on the metrics listener's thread.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ctl/version.h"
#include "sipregd_metrics.h"

#define L(n, v) ((struct metrics_label){(n), (v)})

static double num(json_t *o, const char *key)
{
	json_t *v = o ? json_object_get(o, key) : NULL;

	return json_is_number(v) ? json_number_value(v) : 0;
}

/* One family of numbers from a /status object o. */
enum fam_kind {
	FAM_ONE,    /* one unlabelled sample: o.key */
	FAM_BY,     /* one sample per label: lname="value", o.key */
	FAM_EACH,   /* one sample per member of the object o.key: lname="member" */
	FAM_WORKER, /* one sample per element i of the array o: worker="i", o[i].key */
};

struct fam_label {
	const char *key;   /* in o */
	const char *value; /* of the label */
};

struct fam {
	enum fam_kind kind;
	const char *name;
	enum metrics_type type;
	const char *help;
	const char *key;                /* FAM_ONE, FAM_EACH, FAM_WORKER */
	const char *lname;              /* FAM_BY, FAM_EACH */
	const struct fam_label *labels; /* FAM_BY: up to a NULL key */
};

/* The tables below: one line a macro, one entry a family. */
/* clang-format off */
#define LABELS(...) ((const struct fam_label[]){__VA_ARGS__, {NULL, NULL}})
#define ONE(n, t, h, k) {FAM_ONE, (n), (t), (h), (k), NULL, NULL}
#define BY(n, t, h, ln, ...) {FAM_BY, (n), (t), (h), NULL, (ln), LABELS(__VA_ARGS__)}
#define EACH(n, t, h, ln, k) {FAM_EACH, (n), (t), (h), (k), (ln), NULL}
#define WORKER(n, t, h, k) {FAM_WORKER, (n), (t), (h), (k), NULL, NULL}
#define C METRICS_COUNTER
#define G METRICS_GAUGE
/* clang-format on */

static int fam_fill(struct metrics *m, const struct fam *f, json_t *o)
{
	int r = metrics_family(m, f->name, f->type, f->help);
	struct metrics_label l = {f->lname, NULL};
	const char *k;
	json_t *v;
	size_t i;

	switch (f->kind) {
	case FAM_ONE:
		return r ? r : metrics_sample(m, NULL, 0, num(o, f->key));
	case FAM_BY:
		for (i = 0; r == 0 && f->labels[i].key; i++) {
			l.value = f->labels[i].value;
			r = metrics_sample(m, &l, 1, num(o, f->labels[i].key));
		}
		return r;
	case FAM_EACH:
		json_object_foreach(json_object_get(o, f->key), k, v)
		{
			l.value = k;
			if (r == 0)
				r = metrics_sample(
				        m, &l, 1,
				        json_is_number(v) ? json_number_value(v) : 0);
		}
		return r;
	case FAM_WORKER:
		json_array_foreach(o, i, v)
		{
			char id[24];

			l = L("worker", id);
			snprintf(id, sizeof(id), "%zu", i);
			if (r == 0)
				r = metrics_sample(m, &l, 1, num(v, f->key));
		}
		return r;
	}
	return -EINVAL;
}

/* The n families of f from o, in their order; stops at the first error. */
static int fams_fill(struct metrics *m, const struct fam *f, size_t n, json_t *o)
{
	int r = 0;

	for (size_t i = 0; r == 0 && i < n; i++)
		r = fam_fill(m, &f[i], o);
	return r;
}

#define FAMS_FILL(m, table, o)                                                           \
	fams_fill((m), (table), sizeof(table) / sizeof((table)[0]), (o))

/* clang-format off */
/* sip.totals (engine_status) */
static const struct fam sip_totals[] = {
	BY("sipreg_messages_received_total", C,
	   "SIP messages received, by transport (handoff: passed on by another worker).",
	   "transport", {"rx_udp", "udp"}, {"rx_tcp", "tcp"}, {"rx_handoff", "handoff"}),
	BY("sipreg_messages_sent_total", C, "SIP messages sent, by transport.", "transport",
	   {"tx_udp", "udp"}, {"tx_tcp", "tcp"}),
	ONE("sipreg_send_errors_total", C, "Sends refused (queue full, connection closed).",
	    "tx_errors"),
	BY("sipreg_parse_errors_total", C, "Messages the parser refused, by kind.", "kind",
	   {"err_badmsg", "malformed"}, {"err_toobig", "too_big"}, {"err_version", "version"},
	   {"err_invalid", "invalid"}, {"err_other", "other"}),
	ONE("sipreg_requests_unanswerable_total", C,
	    "Bad requests dropped without an answer (no Via, From, To...).", "unanswerable"),
	EACH("sipreg_requests_received_total", C, "SIP requests received, by method.",
	     "method", "requests"),
	EACH("sipreg_responses_sent_total", C, "SIP responses sent, by class.", "class",
	     "responses_sent"),
	BY("sipreg_responses_received_total", C,
	   "SIP responses received, by what became of them.", "result",
	   {"resp_matched", "matched"}, {"resp_handed_off", "handed_off"},
	   {"resp_handoff_failed", "handoff_failed"}, {"resp_unmatched", "unmatched"}),
	ONE("sipreg_retransmissions_absorbed_total", C,
	    "Retransmitted requests answered from their transaction.", "absorbed"),
	ONE("sipreg_transactions_full_total", C,
	    "Requests answered without a transaction because max_transactions was reached "
	    "(their retransmissions are processed again, not absorbed).", "tx_full"),
	ONE("sipreg_transaction_retransmissions_total", C,
	    "Requests and responses sent again by the transaction layer (copied once a "
	    "second).",
	    "tx_retransmits"),
	ONE("sipreg_transaction_timeouts_total", C,
	    "Client transactions that timed out (Timer F; copied once a second).",
	    "tx_timeouts"),
	ONE("sipreg_transactions", G, "Transactions in progress (copied once a second).",
	    "tx_live"),
	BY("sipreg_overload_shed_total", C,
	   "New REGISTERs shed under overload: answered 503 with Retry-After, or dropped "
	   "before parsing.",
	   "reason", {"shed_503", "503"}, {"shed_unparsed", "unparsed"}),
	BY("sipreg_udp_datagrams_total", C,
	   "UDP datagrams, all sockets: received (handed to the SIP layer, one per "
	   "datagram of a GRO run) and sent (taken by the kernel).",
	   "direction", {"udp_rx_datagrams", "rx"}, {"udp_tx_datagrams", "tx"}),
	ONE("sipreg_udp_truncated_total", C,
	    "UDP datagrams received larger than the maximum datagram size: dropped.",
	    "udp_rx_truncated"),
	ONE("sipreg_udp_send_dropped_total", C,
	    "UDP datagrams dropped before the kernel: send queue full or too large for it.",
	    "udp_tx_drops"),
	ONE("sipreg_udp_send_errors_total", C,
	    "UDP datagrams the kernel refused (EMSGSIZE, EHOSTUNREACH...): dropped.",
	    "udp_tx_errors"),
	ONE("sipreg_udp_send_eagain_total", C,
	    "UDP sends that found the socket buffer full (EAGAIN): left queued, sent when "
	    "writable.",
	    "udp_tx_eagain"),
	ONE("sipreg_udp_gso_datagrams_total", C,
	    "UDP datagrams sent in segmentation offload (UDP_SEGMENT) messages.",
	    "udp_tx_gso"),
	ONE("sipreg_udp_gso_disabled_sockets", G,
	    "UDP sockets where the kernel refused segmentation offload (turned off).",
	    "udp_tx_gso_off"),
	ONE("sipreg_udp_gro_datagrams_total", C,
	    "UDP datagrams received in receive offload (UDP_GRO) runs.", "udp_rx_gro"),
	ONE("sipreg_udp_peer_sockets", G,
	    "Open connected companion UDP sockets (one per busiest destination).",
	    "udp_peers"),
};

/* sip.workers[] (engine_status) */
static const struct fam sip_workers[] = {
	WORKER("sipreg_worker_loop_turns_total", C,
	       "Turns of each worker's event loop (one per wake-up).", "loop_turns"),
	WORKER("sipreg_worker_messages_total", C, "Messages parsed by each worker.",
	       "parsed"),
};

/* registrar_requests (regsvc_status) */
static const struct fam registrar_requests[] = {
	ONE("sipreg_registrar_registers_total", C, "REGISTERs received by the registrar.",
	    "requests"),
	BY("sipreg_registrar_results_total", C,
	   "REGISTERs answered by the registrar, by result.", "result",
	   {"registered", "registered"}, {"challenged", "challenged"},
	   {"auth_failed", "auth_failed"}, {"suspended", "suspended"},
	   {"bad_request", "bad_request"}, {"too_brief", "too_brief"},
	   {"forbidden", "forbidden"}, {"server_error", "server_error"}),
	ONE("sipreg_registrar_challenges_total", C,
	    "Digest challenges (401) sent by the registrar.", "challenged"),
	ONE("sipreg_registrar_auth_failures_total", C, "REGISTERs with wrong credentials.",
	    "auth_failed"),
};

/* registrar (regsvc_status) */
static const struct fam registrar[] = {
	ONE("sipreg_subscribers", G, "Subscribers provisioned.", "subscribers"),
	ONE("sipreg_aors", G, "Addresses of record with at least one binding.", "aors"),
	ONE("sipreg_bindings", G, "Registered contacts in force.", "bindings"),
	ONE("sipreg_bindings_expired_total", C, "Bindings that expired without a refresh.",
	    "bindings_expired"),
	ONE("sipreg_suspensions_active", G,
	    "Endpoints or addresses suspended now (wrong passwords, scanners).",
	    "suspended"),
	ONE("sipreg_suspensions_total", C, "Suspensions started.", "suspensions_total"),
	ONE("sipreg_database_records_flushed_total", C,
	    "Binding changes written to the database.", "records_flushed"),
	ONE("sipreg_database_flush_errors_total", C, "Failed batch writes of bindings.",
	    "flush_errors"),
};

/* trunks (trunksvc_status) */
static const struct fam trunks[] = {
	EACH("sipreg_trunks", G, "Outbound trunks, by state.", "state", "by_state"),
	BY("sipreg_trunk_registers_sent_total", C, "REGISTERs sent to upstreams, by kind.",
	   "kind", {"registers_sent", "register"}, {"unregisters_sent", "unregister"}),
	BY("sipreg_trunk_register_results_total", C,
	   "Final outcomes of trunk registrations, by result.", "result",
	   {"successes", "success"}, {"failures", "failure"}),
	ONE("sipreg_trunk_challenges_total", C, "401/407 challenges answered for trunks.",
	    "challenges"),
	ONE("sipreg_trunk_late_refreshes_total", C,
	    "Trunk refreshes that fired after the binding had lapsed.", "late_refreshes"),
};

/* counters (the daemon's own) */
static const struct fam daemon_counters[] = {
	BY("sipreg_config_reloads_total", C, "Configuration reloads (SIGHUP), by result.",
	   "result", {"config_reloads", "ok"}, {"config_reload_failures", "failed"}),
	ONE("sipreg_log_lines_suppressed_total", C, "Log lines dropped by the rate limit.",
	    "log_lines_suppressed"),
};

/* doctor */
static const struct fam doctor[] = {
	EACH("sipreg_doctor_findings", G,
	     "Findings of the doctor (sipregctl doctor) now, by kind.", "kind",
	     "findings_by_kind"),
};
/* clang-format on */

/* st.registrar_latency (engine_status: per-bucket counts, bounds in us) as
 * a histogram in seconds. */
static int latency_family(struct metrics *m, json_t *lat)
{
	json_t *b = json_object_get(lat, "bounds_us"),
	       *c = json_object_get(lat, "buckets");
	double bounds[32];
	uint64_t cum[32], acc = 0, count = (uint64_t)num(lat, "count");
	size_t n = json_array_size(b);
	int r;

	if (n > 32 || json_array_size(c) != n)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		bounds[i] = json_number_value(json_array_get(b, i)) / 1e6;
		acc += (uint64_t)json_number_value(json_array_get(c, i));
		cum[i] = acc;
	}
	if (acc > count) /* read while a worker counted: the count lags */
		count = acc;
	r = metrics_family(m, "sipreg_registrar_processing_seconds", METRICS_HISTOGRAM,
	                   "Time the registrar takes to decide the answer to a REGISTER "
	                   "(parsed request to answer written; no socket queues).");
	return r ? r
	         : metrics_histogram(m, NULL, 0, bounds, cum, n, num(lat, "sum_ns") / 1e9,
	                             count);
}

int sipregd_metrics_fill(struct metrics *m, json_t *st)
{
	static const struct fam workers =
	        ONE("sipreg_workers", G, "Worker threads.", "workers");
	struct metrics_label ver = L("version", SIPREG_VERSION);
	json_t *sip = json_object_get(st, "sip"), *tr = json_object_get(st, "trunks");
	json_t *req = json_object_get(st, "registrar_requests"),
	       *reg = json_object_get(st, "registrar");
	json_t *doc;
	json_t *running = json_object_get(st, "workers_running"), *v;
	size_t i;
	int r;

	r = metrics_family(m, "sipreg_build_info", METRICS_GAUGE,
	                   "Always 1; the version of the running daemon.");
	if (r == 0)
		r = metrics_sample(m, &ver, 1, 1);
	if (r == 0)
		r = fam_fill(m, &workers, st);
	if (r == 0)
		r = metrics_family(m, "sipreg_worker_running", METRICS_GAUGE,
		                   "1 while the worker's loop runs.");
	json_array_foreach(running, i, v)
	{
		char id[24];
		struct metrics_label l = L("worker", id);

		snprintf(id, sizeof(id), "%zu", i);
		if (r == 0)
			r = metrics_sample(m, &l, 1, json_is_true(v) ? 1 : 0);
	}
	if (r == 0)
		r = FAMS_FILL(m, daemon_counters, json_object_get(st, "counters"));
	if (r == 0 && sip)
		r = FAMS_FILL(m, sip_totals, json_object_get(sip, "totals"));
	if (r == 0 && sip)
		r = FAMS_FILL(m, sip_workers, json_object_get(sip, "workers"));
	if (r == 0 && req)
		r = FAMS_FILL(m, registrar_requests, req);
	if (r == 0 && reg)
		r = FAMS_FILL(m, registrar, reg);
	if (r == 0 && json_object_get(st, "registrar_latency"))
		r = latency_family(m, json_object_get(st, "registrar_latency"));
	if (r == 0 && tr)
		r = FAMS_FILL(m, trunks, tr);
	if (r == 0 && json_is_object(doc = json_object_get(st, "doctor")))
		r = FAMS_FILL(m, doctor, doc);
	return r;
}
