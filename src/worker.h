/* SPDX-License-Identifier: MIT */
/*
 * worker.h - one worker of the daemon (private to sipregd): its loop, wheel,
 * sockets, transaction layer and handoff queue, and the per-message path
 * (dispatch.c: parse, route; respond.c: the engine's own answers).
 *
 * A message is described by a struct pkt: the bytes, the source address, and
 * the connection cookie (conn) the reply goes back on:
 *   UDP: conn = index of the worker's UDP socket that received it;
 *   TCP: conn = WORKER_CONN_TCP | slot << 32 | generation (tcp_handle).
 * worker_send() takes the same cookie, so the transaction layer (tx_dest.conn)
 * and the stateless answers share one send path.
 *
 * Counters: written by the worker thread only, with relaxed atomic stores
 * (a plain load + store on x86: no lock), read by the admin thread with
 * relaxed atomic loads.
 *
 * Threads: every function here runs on the worker's own thread.
 */
#ifndef SIPREG_WORKER_H
#define SIPREG_WORKER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "sipreg/config.h"
#include "sipreg/handoff.h"
#include "sipreg/loop.h"
#include "sipreg/registrar.h"
#include "sipreg/sip.h"
#include "sipreg/siphash.h"
#include "sipreg/transaction.h"
#include "sipreg/transport.h"
#include "sipreg/wheel.h"

struct regsvc;
struct trunksvc;

/* An outgoing TCP connection to an upstream registrar, kept for its trunks. */
struct trunk_conn {
	struct sockaddr_storage addr;
	socklen_t len;
	struct tcp_handle h;
};

#define WORKER_HDRS 64        /* header array per message (the limit) */
#define WORKER_OUT_MAX 65535u /* one response, the largest UDP allows */
#define WORKER_CONN_TCP (1ull << 63)
#define WORKER_METHODS (SIP_METHOD_REFER + 1)
#define WORKER_TICK_MS 1000u /* TCP idle sweep, regsvc_advance cap */
#define WORKER_RETRY_AFTER_S 5u /* Retry-After of an overload 503 */

#define STAT_ADD(f, n) __atomic_store_n(&(f), (f) + (n), __ATOMIC_RELAXED)
#define STAT_INC(f) STAT_ADD(f, 1)
#define STAT_GET(f) __atomic_load_n(&(f), __ATOMIC_RELAXED)

/* Upper bounds (microseconds) of the registrar latency histogram. */
#define WORKER_LAT_BOUNDS_US                                                             \
	10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000
#define WORKER_LAT_BUCKETS 13

struct worker_stats {
	uint64_t rx_udp;              /* datagrams received */
	uint64_t rx_tcp;              /* framed TCP messages received */
	uint64_t rx_handoff;          /* datagrams handed to us by another worker */
	uint64_t tx_udp;              /* datagrams queued for sending */
	uint64_t tx_tcp;              /* messages sent on TCP */
	uint64_t tx_errors;           /* sends refused (queue full, closed conn) */
	uint64_t parsed;              /* messages parsed */
	uint64_t err_badmsg;          /* parse: -EBADMSG */
	uint64_t err_toobig;          /* parse: -E2BIG */
	uint64_t err_version;         /* parse: -EPROTONOSUPPORT */
	uint64_t err_invalid;         /* sip_msg_validate failed */
	uint64_t err_other;           /* parse: anything else */
	uint64_t unanswerable;        /* bad requests dropped: no Via/From/To/... */
	uint64_t req[WORKER_METHODS]; /* requests by method id (0: unknown) */
	uint64_t sent[7];             /* responses sent by class (1..6) */
	uint64_t absorbed;            /* retransmitted requests answered from the tx */
	uint64_t reg_dropped;         /* REGISTERs the registrar chose not to answer */
	uint64_t tx_full;             /* requests answered without a transaction:
	                                 max_transactions reached */
	uint64_t shed_503;            /* overload: new REGISTERs answered 503 */
	uint64_t resp_rx;             /* responses received */
	uint64_t resp_matched;        /* matched one of our client transactions */
	uint64_t resp_handed_off;     /* pushed to the owner worker */
	uint64_t resp_handoff_failed; /* owner's queue full */
	uint64_t resp_unmatched;      /* no transaction here nor elsewhere: dropped */
	uint64_t loop_turns;          /* turns of the event loop (metrics) */
	/* the transaction layer's counters, copied every WORKER_TICK_MS by
	 * housekeeping (tx_layer_stats is not for other threads) */
	uint64_t tx_retransmits;
	uint64_t tx_timeouts;
	uint64_t tx_live;
	/* the registrar's time per REGISTER (registrar_handle), by bucket:
	 * reg_lat[i] counts times <= bound i and > bound i-1 (not cumulative),
	 * bounds WORKER_LAT_BOUNDS_US; longer ones only in reg_lat_count */
	uint64_t reg_lat[WORKER_LAT_BUCKETS];
	uint64_t reg_lat_count;
	uint64_t reg_lat_sum_ns;
};

/* Counts one registrar time of ns nanoseconds. Cost per REGISTER: two
 * clock_now_ns() (49 ns each measured on the 2-core VM) and at most
 * WORKER_LAT_BUCKETS compares, against ~7 us for registrar_handle itself
 * (docs/bench/bench_registrar.txt: 14.27 us per 401 + 200 pair). */
static inline void worker_lat_record(struct worker_stats *st, uint64_t ns)
{
	static const uint64_t bounds_us[WORKER_LAT_BUCKETS] = {WORKER_LAT_BOUNDS_US};

	for (unsigned i = 0; i < WORKER_LAT_BUCKETS; i++)
		if (ns <= bounds_us[i] * 1000u) {
			STAT_INC(st->reg_lat[i]);
			break;
		}
	STAT_INC(st->reg_lat_count);
	STAT_ADD(st->reg_lat_sum_ns, ns);
}

struct engine;

struct worker {
	unsigned int id;
	struct engine *eng;
	pthread_t thread;
	bool started;
	bool running; /* atomic: inside loop_run() */
	bool exited;  /* atomic: the thread has returned */
	int err;
	struct loop *loop;
	struct wheel *wheel;
	struct loop_hook tick;
	struct wheel_timer housekeeping;
	struct tx_layer *tx;
	struct handoff *handoff;
	struct udp_sock *udp[CONFIG_LISTEN_MAX];
	unsigned int nudp;
	struct tcp_ctx *tcp;
	struct worker_stats st;
	struct registrar_stats rst;
	struct trunk_conn *tconn; /* trunks' TCP connections (worker thread only) */
	size_t ntconn, captconn;
	struct sip_hdr hdrs[WORKER_HDRS];
	char out[WORKER_OUT_MAX];
	char scratch[WORKER_OUT_MAX]; /* salvage copy of a malformed request */
};

struct engine {
	unsigned int n;
	bool started;
	bool sockets;
	struct worker *w;
	struct regsvc *svc;          /* may be NULL: REGISTER gets 503 */
	struct trunksvc *trunks;     /* may be NULL: no outbound registrations */
	struct registrar *registrar; /* regsvc_registrar(svc) */
	/* The Server header value: NUL-terminated, replaced by
	 * engine_set_config() under RCU (workers are urcu-qsbr readers). */
	char *server;
	uint8_t tag_key[SIPHASH_KEY_LEN];
	unsigned int max_tx; /* cfg->max_transactions at start (restart key) */
	/* The listen addresses as bound (ephemeral ports resolved). */
	struct transport_addr bound[CONFIG_LISTEN_MAX];
	unsigned int nbound;
	const struct config *cfg;
};

/* One received message. */
struct pkt {
	const char *buf;
	size_t len;
	const struct sockaddr *src;
	socklen_t srclen;
	uint64_t conn; /* see above */
	bool tcp;
	bool handed; /* came through the handoff: do not hand off again */
};

static inline uint64_t worker_conn_tcp(struct tcp_handle h)
{
	return WORKER_CONN_TCP | (uint64_t)(h.slot & 0x7fffffffu) << 32 | h.gen;
}

static inline struct tcp_handle worker_conn_handle(uint64_t conn)
{
	return (struct tcp_handle){.slot = (uint32_t)(conn >> 32) & 0x7fffffffu,
	                           .gen = (uint32_t)conn};
}

/* dispatch.c: one message from any transport. */
void worker_message(struct worker *w, const struct pkt *p);

/* dispatch.c: send buf on the connection cookie conn (UDP socket index or
 * TCP handle) to dst. Returns 0 or the transport's -errno. Also the
 * transaction layer's tx_send_fn (arg = the worker). */
int worker_send(void *arg, const void *buf, size_t len, const struct sockaddr *dst,
                socklen_t dstlen, uint64_t conn);

/* respond.c: the engine's own answers to a parsed, valid request, written
 * into w->out. Return the length (> 0), or a negative errno when the
 * request cannot be answered (sip_write_response() refused it). */
int respond_options(struct worker *w, const struct pkt *p, const struct sip_msg *m);
int respond_status(struct worker *w, const struct pkt *p, const struct sip_msg *m,
                   unsigned status, const char *reason, bool allow);
/* respond.c: 503 Service Unavailable with Retry-After: retry_after (seconds),
 * the overload answer. Same returns. */
int respond_overload(struct worker *w, const struct pkt *p, const struct sip_msg *m,
                     unsigned retry_after);

/* respond.c: answer a request the parser refused (err: parse's errno and
 * reason). A copy of it without the offending header (and with a SIP/2.0
 * request line) is parsed again in w->scratch; when that yields Via, From,
 * To, Call-ID and CSeq the answer is written into w->out.
 * Returns the length, or -EBADMSG (not answerable: drop). */
int respond_malformed(struct worker *w, const struct pkt *p, int perr,
                      const struct sip_err *err, unsigned status);

#endif /* SIPREG_WORKER_H */
