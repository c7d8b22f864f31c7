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

/* One unlabelled sample: a family of one value from o.key. */
static int one(struct metrics *m, const char *name, enum metrics_type t, const char *help,
               json_t *o, const char *key)
{
	int r = metrics_family(m, name, t, help);

	return r ? r : metrics_sample(m, NULL, 0, num(o, key));
}

/* A family labelled lname with one sample per (label value, key of o). */
static int by(struct metrics *m, const char *name, enum metrics_type t, const char *help,
              const char *lname, json_t *o, const char *const *keys,
              const char *const *values)
{
	int r = metrics_family(m, name, t, help);

	for (size_t i = 0; r == 0 && keys[i]; i++) {
		struct metrics_label l = L(lname, values[i]);

		r = metrics_sample(m, &l, 1, num(o, keys[i]));
	}
	return r;
}

/* A family labelled lname with one sample per key of the object o. */
static int each(struct metrics *m, const char *name, enum metrics_type t,
                const char *help, const char *lname, json_t *o)
{
	const char *k;
	json_t *v;
	int r = metrics_family(m, name, t, help);

	json_object_foreach(o, k, v)
	{
		struct metrics_label l = L(lname, k);

		if (r == 0)
			r = metrics_sample(m, &l, 1,
			                   json_is_number(v) ? json_number_value(v) : 0);
	}
	return r;
}

/* The per-worker family of key in sip.workers[]. */
static int per_worker(struct metrics *m, const char *name, enum metrics_type t,
                      const char *help, json_t *workers, const char *key)
{
	size_t i;
	json_t *w;
	int r = metrics_family(m, name, t, help);

	json_array_foreach(workers, i, w)
	{
		char id[24];
		struct metrics_label l = L("worker", id);

		snprintf(id, sizeof(id), "%zu", i);
		if (r == 0)
			r = metrics_sample(m, &l, 1, num(w, key));
	}
	return r;
}

static int sip_families(struct metrics *m, json_t *sip)
{
	static const char *const rx_k[] = {"rx_udp", "rx_tcp", "rx_handoff", NULL};
	static const char *const rx_v[] = {"udp", "tcp", "handoff"};
	static const char *const tx_k[] = {"tx_udp", "tx_tcp", NULL};
	static const char *const tx_v[] = {"udp", "tcp"};
	static const char *const pe_k[] = {"err_badmsg",  "err_toobig", "err_version",
	                                   "err_invalid", "err_other",  NULL};
	static const char *const pe_v[] = {"malformed", "too_big", "version", "invalid",
	                                   "other"};
	static const char *const rs_k[] = {"resp_matched", "resp_handed_off",
	                                   "resp_handoff_failed", "resp_unmatched", NULL};
	static const char *const rs_v[] = {"matched", "handed_off", "handoff_failed",
	                                   "unmatched"};
	static const char *const sh_k[] = {"shed_503", "shed_unparsed", NULL};
	static const char *const sh_v[] = {"503", "unparsed"};
	json_t *t = json_object_get(sip, "totals"),
	       *workers = json_object_get(sip, "workers");
	int r;

	r = by(m, "sipreg_messages_received_total", METRICS_COUNTER,
	       "SIP messages received, by transport (handoff: passed on by another "
	       "worker).",
	       "transport", t, rx_k, rx_v);
	if (r == 0)
		r = by(m, "sipreg_messages_sent_total", METRICS_COUNTER,
		       "SIP messages sent, by transport.", "transport", t, tx_k, tx_v);
	if (r == 0)
		r = one(m, "sipreg_send_errors_total", METRICS_COUNTER,
		        "Sends refused (queue full, connection closed).", t, "tx_errors");
	if (r == 0)
		r = by(m, "sipreg_parse_errors_total", METRICS_COUNTER,
		       "Messages the parser refused, by kind.", "kind", t, pe_k, pe_v);
	if (r == 0)
		r = one(m, "sipreg_requests_unanswerable_total", METRICS_COUNTER,
		        "Bad requests dropped without an answer (no Via, From, To...).",
		        t, "unanswerable");
	if (r == 0)
		r = each(m, "sipreg_requests_received_total", METRICS_COUNTER,
		         "SIP requests received, by method.", "method",
		         json_object_get(t, "requests"));
	if (r == 0)
		r = each(m, "sipreg_responses_sent_total", METRICS_COUNTER,
		         "SIP responses sent, by class.", "class",
		         json_object_get(t, "responses_sent"));
	if (r == 0)
		r = by(m, "sipreg_responses_received_total", METRICS_COUNTER,
		       "SIP responses received, by what became of them.", "result", t,
		       rs_k, rs_v);
	if (r == 0)
		r = one(m, "sipreg_retransmissions_absorbed_total", METRICS_COUNTER,
		        "Retransmitted requests answered from their transaction.", t,
		        "absorbed");
	if (r == 0)
		r = one(m, "sipreg_transaction_retransmissions_total", METRICS_COUNTER,
		        "Requests and responses sent again by the transaction layer "
		        "(copied once a second).",
		        t, "tx_retransmits");
	if (r == 0)
		r = one(m, "sipreg_transaction_timeouts_total", METRICS_COUNTER,
		        "Client transactions that timed out (Timer F; copied once a "
		        "second).",
		        t, "tx_timeouts");
	if (r == 0)
		r = one(m, "sipreg_transactions", METRICS_GAUGE,
		        "Transactions in progress (copied once a second).", t, "tx_live");
	if (r == 0)
		r = by(m, "sipreg_overload_shed_total", METRICS_COUNTER,
		       "New REGISTERs shed under overload: answered 503 with "
		       "Retry-After, or dropped before parsing.",
		       "reason", t, sh_k, sh_v);
	if (r == 0)
		r = per_worker(m, "sipreg_worker_loop_turns_total", METRICS_COUNTER,
		               "Turns of each worker's event loop (one per wake-up).",
		               workers, "loop_turns");
	if (r == 0)
		r = per_worker(m, "sipreg_worker_messages_total", METRICS_COUNTER,
		               "Messages parsed by each worker.", workers, "parsed");
	return r;
}

static int registrar_families(struct metrics *m, json_t *req, json_t *reg)
{
	static const char *const res_k[] = {"registered", "challenged",   "auth_failed",
	                                    "suspended",  "bad_request",  "too_brief",
	                                    "forbidden",  "server_error", NULL};
	static const char *const res_v[] = {"registered", "challenged",  "auth_failed",
	                                    "suspended",  "bad_request", "too_brief",
	                                    "forbidden",  "server_error"};
	int r = 0;

	if (req) {
		r = one(m, "sipreg_registrar_registers_total", METRICS_COUNTER,
		        "REGISTERs received by the registrar.", req, "requests");
		if (r == 0)
			r = by(m, "sipreg_registrar_results_total", METRICS_COUNTER,
			       "REGISTERs answered by the registrar, by result.",
			       "result", req, res_k, res_v);
		if (r == 0)
			r = one(m, "sipreg_registrar_challenges_total", METRICS_COUNTER,
			        "Digest challenges (401) sent by the registrar.", req,
			        "challenged");
		if (r == 0)
			r = one(m, "sipreg_registrar_auth_failures_total",
			        METRICS_COUNTER, "REGISTERs with wrong credentials.", req,
			        "auth_failed");
	}
	if (r == 0 && reg) {
		r = one(m, "sipreg_subscribers", METRICS_GAUGE,
		        "Subscribers provisioned.", reg, "subscribers");
		if (r == 0)
			r = one(m, "sipreg_aors", METRICS_GAUGE,
			        "Addresses of record with at least one binding.", reg,
			        "aors");
		if (r == 0)
			r = one(m, "sipreg_bindings", METRICS_GAUGE,
			        "Registered contacts in force.", reg, "bindings");
		if (r == 0)
			r = one(m, "sipreg_bindings_expired_total", METRICS_COUNTER,
			        "Bindings that expired without a refresh.", reg,
			        "bindings_expired");
		if (r == 0)
			r = one(m, "sipreg_suspensions_active", METRICS_GAUGE,
			        "Endpoints or addresses suspended now (wrong passwords, "
			        "scanners).",
			        reg, "suspended");
		if (r == 0)
			r = one(m, "sipreg_suspensions_total", METRICS_COUNTER,
			        "Suspensions started.", reg, "suspensions_total");
		if (r == 0)
			r = one(m, "sipreg_database_records_flushed_total",
			        METRICS_COUNTER,
			        "Binding changes written to the database.", reg,
			        "records_flushed");
		if (r == 0)
			r = one(m, "sipreg_database_flush_errors_total", METRICS_COUNTER,
			        "Failed batch writes of bindings.", reg, "flush_errors");
	}
	return r;
}

static int trunk_families(struct metrics *m, json_t *tr)
{
	static const char *const sent_k[] = {"registers_sent", "unregisters_sent", NULL};
	static const char *const sent_v[] = {"register", "unregister"};
	static const char *const res_k[] = {"successes", "failures", NULL};
	static const char *const res_v[] = {"success", "failure"};
	int r;

	r = each(m, "sipreg_trunks", METRICS_GAUGE, "Outbound trunks, by state.", "state",
	         json_object_get(tr, "by_state"));
	if (r == 0)
		r = by(m, "sipreg_trunk_registers_sent_total", METRICS_COUNTER,
		       "REGISTERs sent to upstreams, by kind.", "kind", tr, sent_k,
		       sent_v);
	if (r == 0)
		r = by(m, "sipreg_trunk_register_results_total", METRICS_COUNTER,
		       "Final outcomes of trunk registrations, by result.", "result", tr,
		       res_k, res_v);
	if (r == 0)
		r = one(m, "sipreg_trunk_challenges_total", METRICS_COUNTER,
		        "401/407 challenges answered for trunks.", tr, "challenges");
	if (r == 0)
		r = one(m, "sipreg_trunk_late_refreshes_total", METRICS_COUNTER,
		        "Trunk refreshes that fired after the binding had lapsed.", tr,
		        "late_refreshes");
	return r;
}

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
	static const char *const rl_k[] = {"config_reloads", "config_reload_failures",
	                                   NULL};
	static const char *const rl_v[] = {"ok", "failed"};
	struct metrics_label ver = L("version", SIPREG_VERSION);
	json_t *sip = json_object_get(st, "sip"), *tr = json_object_get(st, "trunks");
	json_t *doc;
	json_t *running = json_object_get(st, "workers_running"), *v;
	json_t *counters = json_object_get(st, "counters");
	size_t i;
	int r;

	r = metrics_family(m, "sipreg_build_info", METRICS_GAUGE,
	                   "Always 1; the version of the running daemon.");
	if (r == 0)
		r = metrics_sample(m, &ver, 1, 1);
	if (r == 0)
		r = one(m, "sipreg_workers", METRICS_GAUGE, "Worker threads.", st,
		        "workers");
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
		r = by(m, "sipreg_config_reloads_total", METRICS_COUNTER,
		       "Configuration reloads (SIGHUP), by result.", "result", counters,
		       rl_k, rl_v);
	if (r == 0)
		r = one(m, "sipreg_log_lines_suppressed_total", METRICS_COUNTER,
		        "Log lines dropped by the rate limit.", counters,
		        "log_lines_suppressed");
	if (r == 0 && sip)
		r = sip_families(m, sip);
	if (r == 0)
		r = registrar_families(m, json_object_get(st, "registrar_requests"),
		                       json_object_get(st, "registrar"));
	if (r == 0 && json_object_get(st, "registrar_latency"))
		r = latency_family(m, json_object_get(st, "registrar_latency"));
	if (r == 0 && tr)
		r = trunk_families(m, tr);
	if (r == 0 && json_is_object(doc = json_object_get(st, "doctor")))
		r = each(m, "sipreg_doctor_findings", METRICS_GAUGE,
		         "Findings of the doctor (sipregctl doctor) now, by kind.", "kind",
		         json_object_get(doc, "findings_by_kind"));
	return r;
}
