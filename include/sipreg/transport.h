/* SPDX-License-Identifier: MIT */
/*
 * transport.h - SIP transports of one worker: listen addresses, UDP sockets
 * (recvmmsg/sendmmsg batches) and TCP (accept, connect, stream framing,
 * CRLF keep-alive, limits).
 *
 * Threads: a udp_sock or tcp_ctx belongs to the loop (worker) it was created
 * on; every function is called on that loop's thread. Buffers handed to the
 * callbacks are valid only during the call (copy what must outlive it).
 *
 * No allocation per datagram or per TCP message: UDP receive and send
 * buffers are preallocated per socket; a TCP connection allocates its read
 * buffer when it is accepted (grown up to the message limit) and a write
 * queue only when the kernel does not take a send at once.
 */
#ifndef SIPREG_TRANSPORT_H
#define SIPREG_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

struct loop;

/* ------------------------------------------------------------------------ */
/* Listen addresses                                                          */

enum transport_proto {
	TRANSPORT_UDP = 1,
	TRANSPORT_TCP = 2,
};

struct transport_addr {
	enum transport_proto proto;
	struct sockaddr_storage ss;
	socklen_t len;
};

/* Room for the longest "tcp:[ffff:...:ffff]:65535" the formatters write. */
#define TRANSPORT_ADDR_STRLEN 80

/*
 * Parse "PROTO:HOST:PORT" from configuration: PROTO is udp or tcp (any case),
 * HOST a numeric IPv4 address or a bracketed numeric IPv6 address
 * ("[::]", "[::1]"); host names are refused. PORT is 0..65535, 0 meaning an
 * ephemeral port chosen at bind time. Examples: "udp:0.0.0.0:5060",
 * "tcp:[::]:5060", "udp:127.0.0.1:0".
 * s need not be NUL-terminated (len bytes). On failure *reason (if not NULL)
 * is set to a static English phrase naming the problem ("unknown protocol
 * (allowed: udp, tcp)", "port out of range (allowed: 0..65535)", ...).
 * Returns 0 or -EINVAL.
 */
int transport_addr_parse(struct transport_addr *out, const char *s, size_t len,
			 const char **reason);

/* Write "IP:PORT" or "[IPv6]:PORT" of sa, NUL-terminated, into buf.
 * Returns the length, -ENOSPC, or -EAFNOSUPPORT (not AF_INET/AF_INET6). */
int transport_sockaddr_str(const struct sockaddr *sa, char *buf, size_t cap);

/* Write "udp:IP:PORT" / "tcp:[IPv6]:PORT". Same returns. */
int transport_addr_str(const struct transport_addr *a, char *buf, size_t cap);

/* ------------------------------------------------------------------------ */
/* UDP                                                                       */

struct udp_sock;

/* One received datagram: buf/len valid only during the call; src is the
 * sender's address. The callback may queue or send on any udp_sock of the
 * same loop; it must not free s. */
typedef void (*udp_datagram_cb)(void *arg, struct udp_sock *s, const char *buf,
				size_t len, const struct sockaddr *src,
				socklen_t srclen);

struct udp_opts {
	unsigned rx_batch;   /* datagrams per recvmmsg(), 1..64; 0 = 32 */
	unsigned rx_rounds;  /* recvmmsg() calls per readiness at most; 0 = 4 */
	size_t max_datagram; /* receive buffer per datagram; 0 = 65535 */
	unsigned tx_slots;   /* queued datagrams at most; 0 = 256 */
	size_t tx_bytes;     /* queued bytes at most; 0 = 256 KiB */
	bool no_reuseport;   /* default: SO_REUSEPORT set */
	/* SO_RCVBUF: 0 = 4 MiB asked (the kernel clamps it to
	 * net.core.rmem_max; best effort), < 0 = the system default */
	int rcvbuf;
	int sndbuf; /* SO_SNDBUF; 0 = system default */
};

struct udp_stats {
	uint64_t rx_datagrams; /* handed to the callback */
	uint64_t rx_batches;   /* recvmmsg() calls that returned datagrams */
	uint64_t rx_truncated; /* larger than max_datagram: dropped */
	uint64_t rx_errors;    /* recvmmsg() errors other than EAGAIN */
	uint64_t tx_datagrams; /* taken by the kernel */
	uint64_t tx_batches;   /* sendmmsg() calls that sent something */
	uint64_t tx_drops;     /* queue full, or too large for the queue */
	uint64_t tx_errors;    /* refused by the kernel (EMSGSIZE, EHOSTUNREACH...) */
	uint64_t tx_eagain;    /* socket buffer full: left queued, EPOLLOUT armed */
	uint64_t rx_shed;      /* new REGISTERs dropped unparsed (UDP_LOAD_DROP) */
	uint64_t overload_episodes; /* times the level left UDP_LOAD_OK */
	/* connected companions (udp.c: a destination taking most datagrams
	 * gets a socket bound to the same address and connected to it) */
	uint64_t peers;            /* open */
	uint64_t peer_open_errors; /* an open failed: companions turned off */
	uint64_t tx_peer_errors;   /* sent again after a companion's pending
	                            * ICMP error (ECONNREFUSED...) */
	/* segmentation offload (udp.c: a run of equal-size datagrams to one
	 * destination leaves as one UDP_SEGMENT message) */
	uint64_t tx_gso;     /* datagrams sent in such messages (of tx_datagrams) */
	uint64_t tx_gso_off; /* refused by the kernel: turned off (0 or 1) */
	uint64_t rx_gro;     /* datagrams received in a GRO run (UDP_GRO) */
};

/* A socket's load level, set from its receive queue whenever recvmmsg()
 * fills a whole batch (see udp.c): the fraction of SO_RCVBUF queued. */
enum udp_load {
	UDP_LOAD_OK = 0,   /* serve everything */
	UDP_LOAD_SHED = 1, /* queue >= 3/8: drop new REGISTERs, 503 to 1000/s */
	UDP_LOAD_DROP = 2, /* queue >= 5/8: new REGISTERs dropped unparsed */
};

/*
 * Bind a non-blocking UDP socket to addr (SO_REUSEPORT unless opts say not:
 * one socket per worker per address; an IPv6 socket is IPV6_V6ONLY, so list
 * IPv4 and IPv6 addresses separately) and watch it on loop. Received
 * datagrams go to cb; the socket's send queue is flushed by a before-sleep
 * hook of loop. opts may be NULL.
 * Returns 0, -EINVAL (cb NULL, rx_batch over 64, address not IPv4/IPv6 or
 * addrlen too short), -ENOMEM, or the errno of
 * socket()/setsockopt()/bind() (-EADDRINUSE, -EACCES, ...) or loop_add().
 */
int udp_sock_new(struct udp_sock **ret, struct loop *loop, const struct sockaddr *addr,
		 socklen_t addrlen, const struct udp_opts *opts, udp_datagram_cb cb,
		 void *arg);

/* Flush what is queued (best effort), stop watching, close. NULL is a no-op. */
void udp_sock_free(struct udp_sock *s);

int udp_sock_fd(const struct udp_sock *s);

/* The bound address (the ephemeral port after binding to port 0).
 * *len is the capacity in, the length out. Returns 0 or -errno. */
int udp_sock_local(const struct udp_sock *s, struct sockaddr *addr, socklen_t *len);

/*
 * Copy a datagram into the socket's send batch; it leaves with the next
 * flush (the loop's before-sleep hook, or now if the batch is full).
 * Returns 0, -EMSGSIZE (longer than the queue's bytes or 65507),
 * -EINVAL (dst too long), or -ENOBUFS (queue full even after a flush:
 * dropped and counted in tx_drops).
 */
int udp_send_queue(struct udp_sock *s, const void *buf, size_t len,
		   const struct sockaddr *dst, socklen_t dstlen);

/*
 * Send at once with sendto(). If the socket buffer is full the datagram is
 * queued instead (as udp_send_queue()). Returns 0 or -errno of sendto()
 * (counted in tx_errors), or an udp_send_queue() error.
 */
int udp_send_now(struct udp_sock *s, const void *buf, size_t len,
		 const struct sockaddr *dst, socklen_t dstlen);

/* Send the queued batch with sendmmsg(). Returns the number sent, or
 * -errno of the first failure that stopped the flush (-EAGAIN: the rest
 * stays queued, EPOLLOUT armed). Datagrams the kernel refuses one by one
 * are dropped and counted in tx_errors. */
int udp_flush(struct udp_sock *s);

/* Datagrams waiting in the send queue. */
unsigned udp_queued(const struct udp_sock *s);

/* The counters of s into out. Any thread while s lives: the loop thread
 * stores each counter with a relaxed atomic store and this reads each with
 * a relaxed atomic load (no torn value; counters read from another thread
 * may be a few datagrams apart from one another). */
void udp_sock_stats(const struct udp_sock *s, struct udp_stats *out);

/* The level of s as of its last receive: UDP_LOAD_OK after a short batch
 * (the queue drained), else from the queue's fill. At UDP_LOAD_DROP the
 * datagrams udp_is_new_register() picks are counted in rx_shed and never
 * reach the callback. Loop thread. */
enum udp_load udp_sock_load(const struct udp_sock *s);

/* rx_shed of s, readable from any thread (relaxed atomic load) while s
 * lives. */
uint64_t udp_sock_shed(const struct udp_sock *s);

/* Is buf a REGISTER request without an Authorization header (a scan of the
 * header lines, no parse)? false for anything else, including bytes that
 * are not SIP. Any thread. */
bool udp_is_new_register(const char *buf, size_t len);

/* ------------------------------------------------------------------------ */
/* TCP                                                                       */

struct tcp_ctx;

/* A connection as the message callback sees it: the slot and its
 * generation. A handle kept after the connection closed matches no
 * connection (the slot's generation moved on), so a late send fails with
 * -ENOTCONN instead of writing to a reused fd. {0, 0} is never valid. */
struct tcp_handle {
	uint32_t slot;
	uint32_t gen;
};

/* One complete SIP message framed from the stream (start line through the
 * body), buf valid only during the call. The callback may send on any
 * connection (h included) and close any connection (h included). */
typedef void (*tcp_message_cb)(void *arg, struct tcp_ctx *ctx, struct tcp_handle h,
			       const char *buf, size_t len,
			       const struct sockaddr *peer, socklen_t peerlen);

/* A connection is gone: err 0 for an orderly close by the peer between
 * messages or tcp_close(), else -ECONNABORTED (peer left mid-message),
 * -E2BIG (message too large), -EBADMSG (unframeable: no Content-Length),
 * -ETIMEDOUT (idle), -ENOBUFS (write queue over its limit) or a socket
 * error (-ECONNRESET, -ECONNREFUSED for an outgoing connect). */
typedef void (*tcp_close_cb)(void *arg, struct tcp_ctx *ctx, struct tcp_handle h, int err);

/* The outcome of tcp_connect(), once: err 0 connected, else -errno
 * (-ECONNREFUSED..., -ETIMEDOUT when the idle limit passed while connecting,
 * -ECONNABORTED when closed by tcp_close() first); on failure the close
 * callback follows with the same err. */
typedef void (*tcp_connect_cb)(void *arg, struct tcp_ctx *ctx, struct tcp_handle h,
			       int err);

struct tcp_opts {
	unsigned max_conns;    /* 0 = 1024 */
	size_t max_msg;        /* largest message (headers + body); 0 = 65535 */
	uint32_t idle_ms;      /* 0 = 300000 (5 minutes; RFC 5626 keeps alive) */
	size_t max_wqueue;     /* bytes queued per connection; 0 = 1 MiB */
	unsigned backlog;      /* listen(); 0 = 511 */
};

struct tcp_stats {
	uint64_t accepted;
	uint64_t rejected;     /* accepted and closed: max_conns reached */
	uint64_t connected;    /* outgoing connections established */
	uint64_t closed;
	uint64_t rx_messages;
	uint64_t rx_bytes;
	uint64_t tx_bytes;
	uint64_t pings;        /* CRLFCRLF keep-alives answered */
	uint64_t oversize;     /* closed: message over max_msg */
	uint64_t bad_frames;   /* closed: no usable Content-Length */
	uint64_t truncated;    /* closed: peer left mid-message */
	uint64_t idle_closed;
	uint64_t errors;       /* socket errors, write queue overflows */
	uint32_t open;         /* connections open now */
};

/*
 * A worker's TCP state: the connection table (max_conns slots), limits and
 * callbacks, shared by its listeners and outgoing connections.
 * on_close may be NULL. Returns 0, -EINVAL (on_message NULL), -ENOMEM.
 */
int tcp_ctx_new(struct tcp_ctx **ret, struct loop *loop, const struct tcp_opts *opts,
		tcp_message_cb on_message, tcp_close_cb on_close, void *arg);

/* Close every connection (no callbacks) and listener, free. NULL: no-op. */
void tcp_ctx_free(struct tcp_ctx *ctx);

/*
 * Listen on addr (SO_REUSEADDR and SO_REUSEPORT, IPV6_V6ONLY for IPv6).
 * The bound address (ephemeral port) is written to bound/boundlen if not NULL
 * (*boundlen: capacity in, length out). Returns 0, -EINVAL, -ENOMEM, or the
 * errno of socket()/bind()/listen()/loop_add().
 */
int tcp_listen(struct tcp_ctx *ctx, const struct sockaddr *addr, socklen_t addrlen,
	       struct sockaddr *bound, socklen_t *boundlen);

/*
 * Start a non-blocking connect to addr; *h is usable at once (data sent
 * before the connection completes is queued). cb (may be NULL) reports the
 * outcome on the loop's thread. Returns 0, -EINVAL (not an IPv4/IPv6
 * address), -EMFILE (no free slot: max_conns), -ENOMEM, or the errno of
 * socket()/connect()/loop_add() when it fails at once.
 */
int tcp_connect(struct tcp_ctx *ctx, const struct sockaddr *addr, socklen_t addrlen,
		tcp_connect_cb cb, void *arg, struct tcp_handle *h);

/*
 * Send len bytes on the connection: written at once as far as the kernel
 * takes them, the rest copied to the connection's write queue and sent on
 * EPOLLOUT. Returns 0, -ENOTCONN (the handle matches no open connection),
 * -ENOBUFS (the write queue would exceed max_wqueue: the connection is
 * closed, because a partial SIP message cannot be taken back), -ENOMEM, or a
 * socket error (the connection is then closed).
 */
int tcp_send(struct tcp_ctx *ctx, struct tcp_handle h, const void *buf, size_t len);

/* Close the connection (the close callback runs with err 0).
 * Returns 0 or -ENOTCONN. */
int tcp_close(struct tcp_ctx *ctx, struct tcp_handle h);

/* True when h names an open connection. */
bool tcp_handle_valid(const struct tcp_ctx *ctx, struct tcp_handle h);

/* The peer address of an open connection. Returns 0 or -ENOTCONN. */
int tcp_peer(const struct tcp_ctx *ctx, struct tcp_handle h, struct sockaddr_storage *ss,
	     socklen_t *len);

/*
 * Close connections idle (no byte received or sent, no connect progress)
 * for idle_ms or longer as of now_ms (CLOCK_MONOTONIC milliseconds, see
 * tcp_now_ms()); the close callback gets -ETIMEDOUT. Call it periodically
 * (e.g. from a wheel timer every second); the cost is O(1) plus the number
 * closed: connections are kept in last-activity order. It also re-arms a
 * listener paused after accept() failed for want of fds (EMFILE, ENFILE),
 * as does any connection closing.
 * Returns the number closed.
 */
unsigned tcp_expire_idle(struct tcp_ctx *ctx, uint64_t now_ms);

/* CLOCK_MONOTONIC in milliseconds, the clock tcp_expire_idle() compares. */
uint64_t tcp_now_ms(void);

/* The next idle expiry in ms from now_ms (0 if overdue), -1 if none open. */
int64_t tcp_next_idle(const struct tcp_ctx *ctx, uint64_t now_ms);

void tcp_ctx_stats(const struct tcp_ctx *ctx, struct tcp_stats *out);

/*
 * The framing step, exposed for tests and the parser's stream mode to agree
 * with: look at the start of a stream buffer.
 * Returns > 0 the length of one complete message (start line, headers and
 * Content-Length bytes of body) starting at buf, or
 *   -EAGAIN   incomplete (need more bytes);
 *   -E2BIG    the message is or will be longer than max;
 *   -EBADMSG  headers complete without a usable Content-Length (absent,
 *             not a number, or two different values).
 * Leading CRLFs are not handled here (see tcp.c: a CRLFCRLF ping is
 * answered, a bare CRLF skipped) and buf must not start with one.
 */
ssize_t tcp_frame(const char *buf, size_t len, size_t max);

#endif /* SIPREG_TRANSPORT_H */
