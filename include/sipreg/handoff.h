/* SPDX-License-Identifier: MIT */
/*
 * handoff.h - move a received datagram to the worker that owns it.
 *
 * Why: every worker has its own SO_REUSEPORT socket per listen address and
 * the kernel picks the socket by a hash of the 4-tuple, so the response of
 * an upstream to a REGISTER that worker 2 sent can arrive on worker 0's
 * socket. The owner is known from the message: the transaction layer
 * encodes the sending worker's index in the Via branch it generates
 * (tx_branch_worker()). A worker that receives a response it does not own
 * pushes it here, onto the owner's queue, and the owner processes it on its
 * own thread as if its socket had received it.
 *
 * How: one handoff per worker = a multi-producer single-consumer wait-free
 * queue (liburcu wfcqueue) + the owner loop's eventfd wake (loop_wake()).
 * push copies the datagram and its source address into one allocation (the
 * only copy of a datagram in the engine; acceptable because this path is
 * rare: only responses to our own requests, and only when the kernel's hash
 * sends them to another worker), enqueues it and wakes the owner; the owner's
 * wake hook drains the queue and calls the callback, then frees the copy.
 * The queue is bounded (max_pending); beyond it a push is refused and
 * counted, like a datagram the kernel drops. Order is kept per producer.
 *
 * TCP needs none of this: a connection belongs to the worker that accepted
 * or opened it (tcp_connect() on the trunk's owner), and the response comes
 * back on that connection. The alternative, a reuseport eBPF program that
 * steers by the branch, was set aside: it would have to find the top Via's
 * branch in the kernel (a text scan of a variable-length header block
 * under the verifier's limits) for a rare case, and needs privileges
 * (CAP_BPF) the daemon otherwise does without.
 */
#ifndef SIPREG_HANDOFF_H
#define SIPREG_HANDOFF_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct loop;
struct handoff;

/* One handed-off datagram, on the owner's thread; buf/src valid only during
 * the call. from is the pushing worker's index, tag the pusher's value
 * (e.g. which listen socket received it). */
typedef void (*handoff_cb)(void *arg, const char *buf, size_t len,
			   const struct sockaddr *src, socklen_t srclen, unsigned from,
			   uint32_t tag);

struct handoff_stats {
	uint64_t pushed;    /* accepted by handoff_push() */
	uint64_t delivered; /* handed to the callback */
	uint64_t dropped;   /* refused: queue full or no memory */
};

/*
 * Create the handoff of the worker whose loop is loop; it registers a wake
 * hook there. max_pending bounds the queue (0 = 4096).
 * Returns 0, -EINVAL (cb NULL) or -ENOMEM. Call on the owner's thread
 * before other threads push.
 */
int handoff_new(struct handoff **ret, struct loop *loop, unsigned max_pending,
		handoff_cb cb, void *arg);

/* Unhook from the loop and free what is still queued (not delivered).
 * Only once no thread pushes any more. NULL is a no-op. */
void handoff_free(struct handoff *h);

/*
 * Any thread: copy the datagram and its source, enqueue, wake the owner.
 * Returns 0, -EINVAL (len 0 or over 65535, srclen over a sockaddr_storage),
 * -ENOBUFS (max_pending datagrams already queued: dropped and counted) or
 * -ENOMEM (counted as dropped).
 */
int handoff_push(struct handoff *h, const void *buf, size_t len,
		 const struct sockaddr *src, socklen_t srclen, unsigned from, uint32_t tag);

/* Owner's thread: deliver up to max queued datagrams (0 = all that are
 * there). Returns the number delivered. The wake hook calls it; call it
 * directly when the loop is not running (shutdown, tests). */
unsigned handoff_drain(struct handoff *h, unsigned max);

/* Any thread; the counters are read one by one (not a snapshot). */
void handoff_get_stats(const struct handoff *h, struct handoff_stats *out);

#endif /* SIPREG_HANDOFF_H */
