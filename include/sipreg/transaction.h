/* SPDX-License-Identifier: MIT */
/*
 * transaction.h - RFC 3261 §17 non-INVITE transactions of one worker, client
 * (§17.1.2) and server (§17.2.2), driven by the worker's timing wheel.
 *
 * Client: tx_client_start() sends a request and keeps a copy; over an
 * unreliable transport Timer E retransmits it (T1, doubling up to T2; every
 * T2 once a provisional response came), Timer F (64*T1) ends it with
 * -ETIMEDOUT. The first final response is reported; the transaction then
 * absorbs retransmitted responses for Timer K (T4 over UDP, 0 over TCP).
 * The result (final response or timeout) is reported exactly once.
 *
 * Server: tx_server_request() recognises a retransmitted request (RFC 3261
 * §17.2.3: branch + sent-by + method) and answers it with the stored
 * response without handing it to the TU again; after the final response the
 * transaction lives for Timer J (64*T1 over UDP, 0 over TCP).
 *
 * Transport-agnostic: every message goes out through the tx_send_fn given to
 * tx_layer_new(), with the destination and an opaque connection cookie (a
 * UDP socket index, a TCP connection handle: see transport.h), so UDP and TCP
 * plug in the same way.
 *
 * Branches: tx_branch_make() writes "z9hG4bK" "sR" + 2 hex digits of the
 * worker index + 16 hex digits unique per layer (a bijective mix of a
 * counter seeded at random), 27 characters. A response that arrives on
 * another worker's socket is routed to its owner by tx_branch_worker()
 * (see handoff.h).
 *
 * Memory: transactions come from a free list of entries (grown by chunks,
 * never returned until tx_layer_free()); the stored copy of a message comes
 * from per-size-class free lists (256 B to 128 KiB, a message plus its
 * match key); both are kept for reuse until tx_layer_free(), so the memory of
 * a burst stays with the worker. After warm-up nothing is allocated per
 * message or per transaction. Over TCP no message copy is kept at all. The match table is keyed by a
 * SipHash (secret random key) of the branch: an open-addressed index of
 * (hash bits, entry) pairs that doubles before it is half full, so a new
 * request is found new without reading any other transaction. Completed
 * transactions wait for Timer K or J in FIFO rings (one wheel timer each
 * ring), in the order they completed.
 *
 * Messages come in already parsed (struct sip_msg from sip.h and its top Via
 * as parsed by sip_via_next()); the layer copies what it keeps.
 *
 * Threads: a layer belongs to one worker thread (no locks); every function
 * is called on that thread, from the wheel's callbacks included.
 */
#ifndef SIPREG_TRANSACTION_H
#define SIPREG_TRANSACTION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "sipreg/sip.h"

struct wheel;
struct tx_layer;
struct tx;

/* RFC 3261 §17.1.1.1 defaults, milliseconds. */
#define TX_T1_MS 500u
#define TX_T2_MS 4000u
#define TX_T4_MS 5000u

/* Limits of what a transaction keeps. */
#define TX_MAX_WORKERS 256u   /* worker indexes 0..255 fit the branch */
#define TX_BRANCH_MAX 128u    /* longest branch accepted, bytes */
#define TX_HOST_MAX 255u      /* longest sent-by host */
#define TX_METHOD_MAX 32u     /* longest method token */
#define TX_BRANCH_LEN 27u     /* length of a branch tx_branch_make() writes */

/* The current time in ms, on the wheel's time base (clock_now_ms()). */
typedef uint64_t (*tx_clock_fn)(void *arg);

struct tx_layer_opts {
	unsigned worker;     /* this worker's index, < TX_MAX_WORKERS */
	/* Timers are armed at max(clock(), wheel_now()) + interval: the wheel's
	 * own time is that of its last advance, which lags the real time by
	 * however long the loop slept in epoll_wait() before a message arrived.
	 * NULL = clock_now_ms(); tests pass a virtual clock. */
	tx_clock_fn clock;
	void *clock_arg;
	uint32_t t1_ms;      /* 0 = TX_T1_MS */
	uint32_t t2_ms;      /* 0 = TX_T2_MS */
	uint32_t t4_ms;      /* 0 = TX_T4_MS */
	size_t max_tx;       /* live transactions at most; 0 = 1 << 20 */
	size_t max_msg;      /* largest message kept, 1..65535; 0 = 65535 */
};

/*
 * Send one message. to/tolen: the destination; conn: the cookie the
 * transaction was given in its struct tx_dest (unused by this layer).
 * Returns 0 or a negative errno. A failed first send fails
 * tx_client_start() / tx_server_reply(); a failed retransmission is counted
 * and otherwise ignored (the next one or the timeout covers it).
 */
typedef int (*tx_send_fn)(void *arg, const void *buf, size_t len, const struct sockaddr *to,
			  socklen_t tolen, uint64_t conn);

/* Where a transaction's messages go (copied by the layer). */
struct tx_dest {
	const struct sockaddr *addr; /* AF_INET or AF_INET6 */
	socklen_t addrlen;
	uint64_t conn;               /* opaque, passed to the send function */
	bool reliable;               /* TCP: no retransmissions, K = J = 0 */
};

/*
 * The result of a client transaction, reported exactly once (unless the TU
 * abandons it first): err 0 with the final response (resp->status 200..699),
 * or err -ETIMEDOUT with resp NULL (Timer F), or with resp NULL the transport
 * error given to tx_fail_conn() (its connection failed: -ECONNREFUSED,
 * -ECONNRESET, -EHOSTUNREACH...). tx is valid only during the
 * call (do not abandon it there). The callback may start new transactions.
 */
typedef void (*tx_result_cb)(void *arg, struct tx *tx, int err, const struct sip_msg *resp);

/* tx_server_request() results. */
enum tx_server_verdict {
	TX_NEW = 0,      /* a new transaction: the TU processes the request */
	TX_ABSORBED = 1, /* a retransmission: handled here, the TU does nothing */
};

struct tx_stats {
	uint64_t client_started;
	uint64_t server_started;
	uint64_t retransmits;      /* requests (E) and responses sent again */
	uint64_t send_errors;      /* failed retransmissions */
	uint64_t timeouts;         /* Timer F */
	uint64_t transport_failed; /* ended by tx_fail_conn() */
	uint64_t absorbed;         /* retransmitted requests and responses */
	uint64_t unmatched;        /* responses no transaction matched */
	uint64_t live;             /* transactions now */
};

/*
 * Create the transaction layer of one worker, on its wheel.
 * Returns 0, -EINVAL (w or send NULL, worker >= TX_MAX_WORKERS, max_msg over
 * 65535, t2 < t1) or -ENOMEM.
 */
int tx_layer_new(struct tx_layer **ret, struct wheel *w, const struct tx_layer_opts *opts,
		 tx_send_fn send, void *send_arg);

/* Cancel every timer, drop every transaction without callbacks, free.
 * NULL is a no-op. Not from a callback of this layer; before the wheel is
 * freed. */
void tx_layer_free(struct tx_layer *l);

void tx_layer_stats(const struct tx_layer *l, struct tx_stats *out);

/*
 * Write a new branch (TX_BRANCH_LEN bytes, NUL-terminated) for a request
 * this worker sends. Returns TX_BRANCH_LEN or -ENOSPC (cap <= TX_BRANCH_LEN).
 */
int tx_branch_make(struct tx_layer *l, char *buf, size_t cap);

/*
 * The worker index encoded in a branch by tx_branch_make() (of any worker),
 * or -EINVAL if the branch was not made by tx_branch_make().
 */
int tx_branch_worker(struct sip_str branch);

/*
 * Start a client transaction: keep a copy of the request (buf/len, whose top
 * Via carries branch), send it, arm Timers E (unreliable only) and F.
 * method is the request's method token (the CSeq method responses must carry).
 * cb(arg, ...) gets the result. *ret (may be NULL) gets the transaction, valid
 * until its result callback returns or tx_abandon().
 * Returns 0, -EINVAL (empty branch or method, bad destination, cb NULL),
 * -ENAMETOOLONG (branch or method over the limits), -EMSGSIZE (len over
 * max_msg), -EEXIST (a client transaction with this branch and method is
 * live), -ENOBUFS (max_tx reached), -ENOMEM, or the send function's error
 * (then nothing is kept and cb is never called).
 */
int tx_client_start(struct tx_layer *l, struct tx **ret, struct sip_str branch,
		    struct sip_str method, const void *buf, size_t len,
		    const struct tx_dest *dest, tx_result_cb cb, void *arg);

/*
 * A response arrived for a request this worker sent: match it (RFC 3261
 * §17.1.3: top Via branch + CSeq method) and drive its transaction. A
 * provisional response moves it to Proceeding; the first final response is
 * reported; later ones are absorbed.
 * Returns 0 (matched), -ENOENT (no live transaction: a stray or late
 * response, which the caller drops), -EINVAL (not a response, no CSeq, or
 * status outside 100..699).
 */
int tx_client_response(struct tx_layer *l, const struct sip_msg *resp,
		       const struct sip_via *top);

/*
 * The top Via given to tx_client_response() with the response being
 * reported: non-NULL only inside a result callback called with a response
 * (so the TU need not parse the Via again), NULL anywhere else.
 */
const struct sip_via *tx_response_via(const struct tx_layer *l);

/*
 * A request arrived: match it against the server transactions (RFC 3261
 * §17.2.3: top Via branch with the magic cookie, sent-by host and port,
 * method). A retransmission is answered with the stored response, if any,
 * and TX_ABSORBED returned. Otherwise a transaction is created for src,
 * *ret set and TX_NEW returned: the TU processes the request and must end
 * with tx_server_reply() (a final status) or tx_abandon().
 * Returns TX_NEW, TX_ABSORBED, -EPROTONOSUPPORT (branch without
 * "z9hG4bK": an RFC 2543 peer, process it without a transaction),
 * -EOPNOTSUPP (INVITE or ACK: not non-INVITE), -EINVAL (not a request, bad
 * destination), -ENAMETOOLONG, -ENOBUFS (max_tx reached) or -ENOMEM.
 */
int tx_server_request(struct tx_layer *l, const struct sip_msg *req,
		      const struct sip_via *top, const struct tx_dest *src, struct tx **ret);

/*
 * Send the TU's response (status 100..699, buf/len the whole message) on a
 * server transaction and keep it for retransmitted requests. A final status
 * completes the transaction: it lives on for Timer J (0 over TCP) and the TU
 * must forget tx.
 * Returns 0, -EINVAL (tx not a server transaction waiting for a response,
 * status out of range), -EMSGSIZE, -ENOMEM, or the send function's error (a
 * transport error: the transaction is then destroyed, RFC 3261 §17.2.4, and
 * the TU must forget tx).
 */
int tx_server_reply(struct tx_layer *l, struct tx *tx, unsigned status, const void *buf,
		    size_t len);

/*
 * The connection conn (a struct tx_dest conn value, e.g. a TCP connection
 * whose connect was refused or that was reset) failed with err (a negative
 * errno, not 0): every client transaction sent on it and still waiting for
 * its final response ends now, its callback called with err and no response
 * (RFC 3261 §8.1.3.1: a transport error is reported to the TU at once, as a
 * 503 would be, instead of waiting for Timer F). Callbacks run after every
 * such transaction has left the table, so they may start new transactions
 * (on a new connection) or abandon others. O(transactions allocated): for
 * the rare connection failure, not per message.
 * Returns the number of transactions ended, or -EINVAL (err >= 0).
 */
int tx_fail_conn(struct tx_layer *l, uint64_t conn, int err);

/*
 * Drop a transaction the TU no longer wants: a client transaction still
 * waiting for its final response (its callback will not be called), or a
 * server transaction not yet answered with a final status.
 * Returns 0 or -EINVAL (any other state; nothing done).
 */
int tx_abandon(struct tx_layer *l, struct tx *tx);

/* The branch of a transaction (valid while the transaction lives). */
struct sip_str tx_branch(const struct tx *tx);

/* The number of times the request (client) or a response (server) was sent
 * again so far. */
unsigned tx_retransmits(const struct tx *tx);

#endif /* SIPREG_TRANSACTION_H */
