/* SPDX-License-Identifier: MIT */
/*
 * engine_status.c - the workers' counters for /status (see engine.h).
 * Runs on the admin thread: every counter is read with a relaxed load.
 */
#include <errno.h>
#include <stddef.h>

#include "engine.h"
#include "worker.h"

struct field {
	const char *name;
	size_t off;
};

#define F(n)                                                                             \
	{                                                                                \
#n, offsetof(struct worker_stats, n)                                     \
	}
static const struct field wfields[] = {
        F(rx_udp),
        F(rx_tcp),
        F(rx_handoff),
        F(tx_udp),
        F(tx_tcp),
        F(tx_errors),
        F(parsed),
        F(err_badmsg),
        F(err_toobig),
        F(err_version),
        F(err_invalid),
        F(err_other),
        F(unanswerable),
        F(absorbed),
        F(reg_dropped),
        F(tx_full),
        F(shed_503),
        F(resp_rx),
        F(resp_matched),
        F(resp_handed_off),
        F(resp_handoff_failed),
        F(resp_unmatched),
        F(loop_turns),
        F(tx_retransmits),
        F(tx_timeouts),
        F(tx_live),
};
#undef F

#define R(n)                                                                             \
	{                                                                                \
#n, offsetof(struct registrar_stats, n)                                  \
	}
static const struct field rfields[] = {
        R(requests),    R(registered), R(challenged), R(auth_failed),  R(suspended),
        R(bad_request), R(too_brief),  R(forbidden),  R(server_error),
};
#undef R

/* struct udp_stats members in /status as "udp_<member>" (summed over the
 * worker's UDP sockets, companions included) */
#define U(n)                                                                             \
	{                                                                                \
"udp_" #n, offsetof(struct udp_stats, n)                                 \
	}
static const struct field ufields[] = {
        U(rx_datagrams), U(rx_truncated), U(rx_gro),   U(tx_datagrams), U(tx_drops),
        U(tx_errors),    U(tx_eagain),    U(tx_gso),   U(tx_gso_off),   U(peers),
};
#undef U

static uint64_t *ufield(struct udp_stats *u, size_t off)
{
	return (uint64_t *)(void *)((char *)u + off);
}

static uint64_t load(const void *base, size_t off)
{
	const uint64_t *p = (const uint64_t *)(const void *)((const char *)base + off);

	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static void add(json_t *o, const char *k, uint64_t v)
{
	json_t *old = json_object_get(o, k);

	json_object_set_new(
	        o, k,
	        json_integer((json_int_t)(v + (old ? json_integer_value(old) : 0))));
}

/* One worker's counters into o (added to what o holds: totals). */
static void worker_json(const struct worker *w, json_t *o)
{
	json_t *req = json_object_get(o, "requests");
	json_t *sent = json_object_get(o, "responses_sent");

	uint64_t unparsed = 0;
	struct udp_stats u = {0};

	for (size_t i = 0; i < sizeof(wfields) / sizeof(wfields[0]); i++)
		add(o, wfields[i].name, load(&w->st, wfields[i].off));
	/* overload: new REGISTERs the UDP sockets dropped before parsing */
	for (unsigned j = 0; j < w->nudp; j++)
		unparsed += udp_sock_shed(w->udp[j]);
	add(o, "shed_unparsed", unparsed);
	/* the UDP sockets' own counters (relaxed loads: udp_sock_stats) */
	for (unsigned j = 0; j < w->nudp; j++) {
		struct udp_stats one;

		udp_sock_stats(w->udp[j], &one);
		for (size_t i = 0; i < sizeof(ufields) / sizeof(ufields[0]); i++)
			*ufield(&u, ufields[i].off) += *ufield(&one, ufields[i].off);
	}
	for (size_t i = 0; i < sizeof(ufields) / sizeof(ufields[0]); i++)
		add(o, ufields[i].name, *ufield(&u, ufields[i].off));
	if (!req) {
		req = json_object();
		json_object_set_new(o, "requests", req);
	}
	if (!sent) {
		sent = json_object();
		json_object_set_new(o, "responses_sent", sent);
	}
	for (unsigned m = 0; m < WORKER_METHODS; m++) {
		const char *name = m == 0 ? "other" : sip_method_name((enum sip_method)m);

		add(req, name ? name : "other", STAT_GET(w->st.req[m]));
	}
	for (unsigned c = 1; c <= 6; c++) {
		char k[4] = {(char)('0' + c), 'x', 'x', 0};

		add(sent, k, STAT_GET(w->st.sent[c]));
	}
}

int engine_status(const struct engine *e, json_t *st)
{
	json_t *sip = json_object(), *workers = json_array(), *totals = json_object();
	json_t *bound = json_array(), *reg = json_object();

	if (!sip || !workers || !totals || !bound || !reg) {
		json_decref(sip);
		json_decref(workers);
		json_decref(totals);
		json_decref(bound);
		json_decref(reg);
		return -ENOMEM;
	}
	for (unsigned i = 0; i < e->nbound; i++) {
		char buf[TRANSPORT_ADDR_STRLEN];

		if (transport_addr_str(&e->bound[i], buf, sizeof(buf)) > 0)
			json_array_append_new(bound, json_string(buf));
	}
	for (unsigned i = 0; i < e->n; i++) {
		json_t *o = json_object();

		worker_json(&e->w[i], o);
		worker_json(&e->w[i], totals);
		json_array_append_new(workers, o);
		for (size_t k = 0; k < sizeof(rfields) / sizeof(rfields[0]); k++)
			add(reg, rfields[k].name, load(&e->w[i].rst, rfields[k].off));
	}
	{
		static const uint64_t bounds_us[WORKER_LAT_BUCKETS] = {
		        WORKER_LAT_BOUNDS_US};
		json_t *lat = json_object(), *b = json_array(), *c = json_array();
		uint64_t count = 0, sum = 0;

		for (unsigned k = 0; k < WORKER_LAT_BUCKETS; k++) {
			uint64_t n = 0;

			for (unsigned i = 0; i < e->n; i++)
				n += STAT_GET(e->w[i].st.reg_lat[k]);
			json_array_append_new(b, json_integer((json_int_t)bounds_us[k]));
			json_array_append_new(c, json_integer((json_int_t)n));
		}
		for (unsigned i = 0; i < e->n; i++) {
			count += STAT_GET(e->w[i].st.reg_lat_count);
			sum += STAT_GET(e->w[i].st.reg_lat_sum_ns);
		}
		/* bucket k: times in (bounds_us[k-1], bounds_us[k]]; count - the
		 * buckets' sum took longer than the last bound */
		json_object_set_new(lat, "bounds_us", b);
		json_object_set_new(lat, "buckets", c);
		json_object_set_new(lat, "count", json_integer((json_int_t)count));
		json_object_set_new(lat, "sum_ns", json_integer((json_int_t)sum));
		json_object_set_new(st, "registrar_latency", lat);
	}
	json_object_set_new(sip, "bound", bound);
	json_object_set_new(sip, "workers", workers);
	json_object_set_new(sip, "totals", totals);
	json_object_set_new(st, "sip", sip);
	json_object_set_new(st, "registrar_requests", reg);
	return 0;
}
