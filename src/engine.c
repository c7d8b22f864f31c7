/* SPDX-License-Identifier: MIT */
/*
 * engine.c - worker threads: each with its loop, wheel, transaction layer,
 * handoff queue, one UDP socket per udp: listen address and a TCP context
 * listening on every tcp: address. See src/engine.h and src/worker.h.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <urcu/urcu-qsbr.h>

#include "engine.h"
#include "sipreg/clock.h"
#include "sipreg/log.h"
#include "sipreg/regsvc.h"
#include "sipreg/trunksvc.h"
#include "worker.h"

/*
 * Timer slack. The loop sleeps until the wheel's next deadline exactly (never
 * later), and each turn advances the wheel WORKER_TIMER_SLACK_MS ahead of the
 * clock: every timer due within that window fires in the same wake-up,
 * early by at most the slack. Timers then share wake-ups instead of costing
 * one each (at 3,500 trunk refreshes a second, a wake-up and two context
 * switches per refresh, per Timer K expiry), and the REGISTERs they queue
 * leave in one sendmmsg() from the UDP socket's before-sleep flush.
 *
 * Early is harmless for every timer of a worker: a trunk refresh is due well
 * before its binding's expiry, Timer A/E/F/K are RFC 3261 intervals of 500 ms
 * and more, a retry delay is whole seconds, the TCP idle sweep is a second.
 * Timers armed from "now" re-arm from the wheel's time (the transaction
 * layer takes the later of the two) or seconds ahead, so none chains into
 * an immediate re-fire; housekeeping, whose regsvc deadline is on the clock,
 * is kept past the wheel's time below.
 */
#define WORKER_TIMER_SLACK_MS 8u

static int64_t worker_timeout(struct loop *loop, void *arg)
{
	struct worker *w = arg;

	(void)loop;
	return wheel_timeout(w->wheel, clock_now_ms());
}

/* Before each sleep: run the timers that are due, or due within the slack.
 * (Each UDP socket flushes its send batch from its own before-sleep hook,
 * added after this one.) */
static void worker_tick(struct loop *loop, void *arg)
{
	struct worker *w = arg;

	(void)loop;
	STAT_INC(w->st.loop_turns);
	wheel_advance(w->wheel, clock_now_ms() + WORKER_TIMER_SLACK_MS);
}

/* Every WORKER_TICK_MS: idle TCP connections; on worker 0 the registrar's
 * expiries, re-armed at their next deadline (at most a tick away). */
static void housekeeping(struct wheel *wh, struct wheel_timer *t)
{
	struct worker *w = wheel_timer_owner(t, struct worker, housekeeping);
	uint64_t now = clock_now_ms(), next = now + WORKER_TICK_MS;
	struct tx_stats txs;

	tx_layer_stats(w->tx, &txs);
	__atomic_store_n(&w->st.tx_retransmits, txs.retransmits, __ATOMIC_RELAXED);
	__atomic_store_n(&w->st.tx_timeouts, txs.timeouts, __ATOMIC_RELAXED);
	__atomic_store_n(&w->st.tx_live, txs.live, __ATOMIC_RELAXED);
	if (w->tcp)
		tcp_expire_idle(w->tcp, tcp_now_ms());
	if (w->id == 0 && w->eng->svc) {
		uint64_t d = regsvc_advance(w->eng->svc, now);

		if (d > now && d < next)
			next = d; /* d <= now: nothing scheduled */
	}
	/* Within the slack the wheel is ahead of the clock: a deadline at or
	 * before its time would fire again at once, each turn, until the clock
	 * reaches it; the next turn past the wheel's time is as good. */
	if (next <= wheel_now(wh))
		next = wheel_now(wh) + 1;
	wheel_add(wh, t, next);
}

static void on_datagram(void *arg, struct udp_sock *s, const char *buf, size_t len,
                        const struct sockaddr *src, socklen_t srclen)
{
	struct worker *w = arg;
	unsigned idx = 0;

	while (idx < w->nudp && w->udp[idx] != s)
		idx++;
	STAT_INC(w->st.rx_udp);
	worker_message(w, &(struct pkt){buf, len, src, srclen, idx, false, false});
}

static void on_tcp_message(void *arg, struct tcp_ctx *ctx, struct tcp_handle h,
                           const char *buf, size_t len, const struct sockaddr *peer,
                           socklen_t peerlen)
{
	struct worker *w = arg;

	(void)ctx;
	STAT_INC(w->st.rx_tcp);
	worker_message(w, &(struct pkt){buf, len, peer, peerlen, worker_conn_tcp(h), true,
	                                false});
}

static void on_handoff(void *arg, const char *buf, size_t len, const struct sockaddr *src,
                       socklen_t srclen, unsigned from, uint32_t tag)
{
	struct worker *w = arg;

	(void)from;
	STAT_INC(w->st.rx_handoff);
	worker_message(w, &(struct pkt){buf, len, src, srclen, tag, false, true});
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	char name[16];

	snprintf(name, sizeof(name), "sipreg-w%u", w->id);
	pthread_setname_np(pthread_self(), name);
	urcu_qsbr_register_thread();
	wheel_add(w->wheel, &w->housekeeping,
	          clock_now_ms() + (w->id == 0 ? 1 : WORKER_TICK_MS));
	__atomic_store_n(&w->running, true, __ATOMIC_RELEASE);
	w->err = loop_run(w->loop);
	__atomic_store_n(&w->running, false, __ATOMIC_RELEASE);
	urcu_qsbr_unregister_thread();
	__atomic_store_n(&w->exited, true, __ATOMIC_RELEASE);
	return NULL;
}

static int worker_init(struct engine *e, struct worker *w, unsigned id)
{
	struct tx_layer_opts txo = {.worker = id, .max_tx = e->max_tx};
	int r;

	w->id = id;
	w->eng = e;
	r = loop_new(&w->loop, 1024, 0, LOOP_RCU_QSBR);
	if (r == 0)
		r = wheel_new(&w->wheel, clock_now_ms());
	if (r == 0)
		r = tx_layer_new(&w->tx, w->wheel, &txo, worker_send, w);
	if (r == 0)
		r = handoff_new(&w->handoff, w->loop, 0, on_handoff, w);
	if (r < 0)
		return r;
	loop_set_timeout(w->loop, worker_timeout, w);
	w->tick.cb = worker_tick;
	w->tick.arg = w;
	loop_add_before_sleep(w->loop, &w->tick);
	wheel_timer_init(&w->housekeeping, housekeeping);
	return 0;
}

int engine_new(struct engine **ret, const struct config *cfg, struct regsvc *svc)
{
	struct engine *e;
	int r = 0;

	if (cfg->workers == 0 || cfg->workers > TX_MAX_WORKERS)
		return -EINVAL;
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->w = calloc(cfg->workers, sizeof(*e->w));
	if (!e->w) {
		free(e);
		return -ENOMEM;
	}
	e->n = cfg->workers;
	e->cfg = cfg;
	e->max_tx = cfg->max_transactions;
	e->svc = svc;
	e->registrar = svc ? regsvc_registrar(svc) : NULL;
	e->server = strdup(cfg->user_agent);
	if (!e->server) {
		r = -ENOMEM;
		goto fail;
	}
	if (getrandom(e->tag_key, sizeof(e->tag_key), 0) != (ssize_t)sizeof(e->tag_key)) {
		r = -EIO;
		goto fail;
	}
	for (unsigned int i = 0; i < e->n; i++) {
		r = worker_init(e, &e->w[i], i);
		if (r < 0)
			goto fail;
	}
	*ret = e;
	return 0;
fail:
	engine_free(e);
	return r;
}

static void worker_tcp_closed(void *arg, struct tcp_ctx *ctx, struct tcp_handle h, int err);

/* Bind listen address i on every worker; an ephemeral port is chosen by
 * worker 0's socket and then shared by the others (SO_REUSEPORT). */
static int bind_one(struct engine *e, const struct config_listen *l)
{
	struct transport_addr *b = &e->bound[e->nbound];
	struct sockaddr_storage ss = l->addr;
	socklen_t len = l->addrlen;
	int r = 0;

	for (unsigned i = 0; i < e->n && r == 0; i++) {
		struct worker *w = &e->w[i];
		socklen_t blen = sizeof(b->ss);

		if (l->transport == CONFIG_TRANSPORT_UDP) {
			r = udp_sock_new(&w->udp[w->nudp], w->loop,
			                 (struct sockaddr *)&ss, len, NULL, on_datagram,
			                 w);
			if (r == 0)
				w->nudp++;
			if (r == 0 && i == 0)
				r = udp_sock_local(w->udp[w->nudp - 1],
				                   (struct sockaddr *)&b->ss, &blen);
		} else {
			if (!w->tcp)
				r = tcp_ctx_new(&w->tcp, w->loop, NULL, on_tcp_message,
				                worker_tcp_closed, w);
			if (r == 0)
				r = tcp_listen(w->tcp, (struct sockaddr *)&ss, len,
				               i == 0 ? (struct sockaddr *)&b->ss : NULL,
				               i == 0 ? &blen : NULL);
		}
		if (r == 0 && i == 0) {
			b->len = blen;
			b->proto = l->transport == CONFIG_TRANSPORT_UDP ? TRANSPORT_UDP
			                                                : TRANSPORT_TCP;
			memcpy(&ss, &b->ss, blen); /* the port the others bind */
			len = blen;
		}
	}
	if (r == 0)
		e->nbound++;
	return r;
}

void engine_set_trunks(struct engine *e, struct trunksvc *t)
{
	e->trunks = t;
}

/* Same address and port (and family)? */
static bool same_addr(const struct sockaddr *a, socklen_t alen, const struct sockaddr_storage *b,
		      socklen_t blen)
{
	return alen == blen && memcmp(a, b, alen) == 0;
}

/* A trunk connection's connect failed (refused, unreachable, timed out):
 * the REGISTERs queued on it end now with that error, so their trunks fail
 * and wait their retry delay instead of Timer F's 32 s. */
static void trunk_connected(void *arg, struct tcp_ctx *ctx, struct tcp_handle h, int err)
{
	struct worker *w = arg;

	(void)ctx;
	if (err < 0)
		tx_fail_conn(w->tx, worker_conn_tcp(h), err);
}

/* Any TCP connection of the worker closed (the tcp_ctx's close callback):
 * one of the trunks' that broke (reset, write error) fails what still waits
 * on it, as above. Accepted connections are not searched (only the few
 * upstream connections in tconn are compared). */
static void worker_tcp_closed(void *arg, struct tcp_ctx *ctx, struct tcp_handle h, int err)
{
	struct worker *w = arg;

	(void)ctx;
	if (err >= 0)
		return;
	for (size_t i = 0; i < w->ntconn; i++)
		if (w->tconn[i].h.slot == h.slot && w->tconn[i].h.gen == h.gen) {
			tx_fail_conn(w->tx, worker_conn_tcp(h), err);
			return;
		}
}

/* The trunks' destination hook (ua_dest_fn), on the worker's thread: a UDP
 * REGISTER leaves from the worker's first UDP socket of the destination's
 * family; a TCP one on a connection kept per upstream address, opened on
 * first use (and again when the last one closed); a failed connect fails
 * the transactions sent on it at once (trunk_connected). */
static int trunk_dest(void *arg, enum ua_transport t, const struct sockaddr *addr,
		      socklen_t addrlen, struct tx_dest *dest)
{
	struct worker *w = arg;
	struct trunk_conn *c = NULL;
	int r;

	if (t == UA_TRANSPORT_UDP) {
		/* The worker's UDP sockets are the engine's UDP listen
		 * addresses in order: their families are known from the bound
		 * list, no getsockname() per REGISTER. */
		unsigned j = 0;

		for (unsigned i = 0; i < w->eng->nbound && j < w->nudp; i++) {
			if (w->eng->bound[i].proto != TRANSPORT_UDP)
				continue;
			if (w->eng->bound[i].ss.ss_family == addr->sa_family) {
				dest->conn = j;
				dest->reliable = false;
				return 0;
			}
			j++;
		}
		return -EAFNOSUPPORT; /* no UDP listen address of that family */
	}
	if (!w->tcp && (r = tcp_ctx_new(&w->tcp, w->loop, NULL, on_tcp_message,
					 worker_tcp_closed, w)) < 0)
		return r;
	for (size_t i = 0; i < w->ntconn; i++)
		if (same_addr(addr, addrlen, &w->tconn[i].addr, w->tconn[i].len))
			c = &w->tconn[i];
	if (!c) {
		if (w->ntconn == w->captconn) {
			size_t ncap = w->captconn ? 2 * w->captconn : 8;
			struct trunk_conn *g = realloc(w->tconn, ncap * sizeof(*g));
			if (!g)
				return -ENOMEM;
			w->tconn = g;
			w->captconn = ncap;
		}
		c = &w->tconn[w->ntconn++];
		memset(c, 0, sizeof(*c));
		memcpy(&c->addr, addr, addrlen);
		c->len = addrlen;
	}
	if (!tcp_handle_valid(w->tcp, c->h)) {
		r = tcp_connect(w->tcp, addr, addrlen, trunk_connected, w, &c->h);
		if (r < 0)
			return r;
	}
	dest->conn = worker_conn_tcp(c->h);
	dest->reliable = true;
	return 0;
}

/* The host upstreams reach us at: contact_host, else the first UDP listen
 * address (a wildcard there cannot be a Contact: logged, 127.0.0.1 used). */
static void local_contact(const struct engine *e, char *host, size_t cap, uint16_t *udp_port,
			  uint16_t *tcp_port)
{
	host[0] = '\0';
	*udp_port = *tcp_port = 0;
	for (unsigned i = 0; i < e->nbound; i++) {
		const struct transport_addr *b = &e->bound[i];
		const struct sockaddr_in *s4 = (const void *)&b->ss;
		const struct sockaddr_in6 *s6 = (const void *)&b->ss;
		uint16_t port = ntohs(b->ss.ss_family == AF_INET ? s4->sin_port : s6->sin6_port);
		if (b->proto == TRANSPORT_TCP) {
			if (!*tcp_port)
				*tcp_port = port;
			continue;
		}
		if (*udp_port)
			continue;
		*udp_port = port;
		if (b->ss.ss_family == AF_INET)
			inet_ntop(AF_INET, &s4->sin_addr, host, (socklen_t)cap);
		else
			inet_ntop(AF_INET6, &s6->sin6_addr, host, (socklen_t)cap);
	}
	if (e->cfg->contact_host[0]) {
		snprintf(host, cap, "%s", e->cfg->contact_host);
	} else if (!host[0] || strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0) {
		log_warn("contact_host_unset", "listen=wildcard using=127.0.0.1 "
					       "hint=\"set [sip] contact_host for trunks\"");
		snprintf(host, cap, "127.0.0.1");
	}
}

/* Gives every worker its share of the trunks (before the threads run). */
static int attach_trunks(struct engine *e)
{
	char host[INET6_ADDRSTRLEN + CONFIG_STR_MAX];
	uint16_t udp, tcp;

	if (!e->trunks)
		return 0;
	local_contact(e, host, sizeof(host), &udp, &tcp);
	for (unsigned int i = 0; i < e->n; i++) {
		struct worker *w = &e->w[i];
		struct trunksvc_worker tw = {.loop = w->loop, .wheel = w->wheel, .tx = w->tx,
					     .local_host = host, .local_port_udp = udp,
					     .local_port_tcp = tcp, .dest = trunk_dest,
					     .dest_arg = w};
		int r = trunksvc_attach(e->trunks, i, &tw);
		if (r < 0)
			return r;
	}
	return 0;
}

int engine_start(struct engine *e)
{
	int r;

	if (e->started)
		return -EALREADY;
	if (!e->sockets) {
		for (unsigned i = 0; i < e->cfg->listen_count; i++) {
			r = bind_one(e, &e->cfg->listen[i]);
			if (r < 0)
				return r;
		}
		e->sockets = true;
		r = attach_trunks(e);
		if (r < 0)
			return r;
	}
	for (unsigned int i = 0; i < e->n; i++) {
		r = pthread_create(&e->w[i].thread, NULL, worker_main, &e->w[i]);
		if (r != 0) {
			engine_stop(e, 5000);
			return -r;
		}
		e->w[i].started = true;
		e->started = true;
	}
	return 0;
}

int engine_stop(struct engine *e, unsigned int timeout_ms)
{
	struct timespec deadline;
	int rc = 0;

	for (unsigned int i = 0; i < e->n; i++)
		if (e->w[i].started)
			loop_stop(e->w[i].loop);
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += timeout_ms / 1000;
	deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	for (unsigned int i = 0; i < e->n; i++) {
		struct worker *w = &e->w[i];

		if (!w->started)
			continue;
		if (pthread_timedjoin_np(w->thread, NULL, &deadline) != 0) {
			rc = -ETIMEDOUT;
			continue;
		}
		w->started = false;
	}
	return rc;
}

static void worker_fini(struct worker *w)
{
	free(w->tconn);
	for (unsigned j = 0; j < w->nudp; j++)
		udp_sock_free(w->udp[j]);
	tcp_ctx_free(w->tcp);
	tx_layer_free(w->tx);
	if (w->wheel && wheel_timer_pending(&w->housekeeping))
		wheel_cancel(w->wheel, &w->housekeeping);
	wheel_free(w->wheel);
	loop_free(w->loop);
}

void engine_free(struct engine *e)
{
	if (!e)
		return;
	for (unsigned int i = 0; i < e->n; i++)
		if (e->w[i].started)
			return; /* a worker still runs after a timed-out stop: leak it all
			         */
	/* No worker pushes any more: the queues can go first, and the trunks
	 * before the transaction layers and wheels they use. */
	for (unsigned int i = 0; i < e->n; i++)
		handoff_free(e->w[i].handoff);
	if (e->trunks)
		trunksvc_detach_all(e->trunks);
	for (unsigned int i = 0; i < e->n; i++)
		worker_fini(&e->w[i]);
	free(e->server);
	free(e->w);
	free(e);
}

int engine_set_config(struct engine *e, const struct config *cfg)
{
	char *next, *old;

	if (strcmp(e->server, cfg->user_agent) == 0)
		return 0;
	next = strdup(cfg->user_agent);
	if (!next)
		return -ENOMEM;
	old = rcu_xchg_pointer(&e->server, next);
	urcu_qsbr_synchronize_rcu(); /* no worker still reads old */
	free(old);
	return 0;
}

unsigned int engine_workers(const struct engine *e)
{
	return e->n;
}

bool engine_worker_running(const struct engine *e, unsigned int i)
{
	return i < e->n && __atomic_load_n(&e->w[i].running, __ATOMIC_ACQUIRE);
}

unsigned int engine_bound(const struct engine *e, const struct transport_addr **out)
{
	*out = e->bound;
	return e->nbound;
}
