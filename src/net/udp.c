/* SPDX-License-Identifier: MIT */
/*
 * udp.c - a worker's UDP socket: recvmmsg() batches into preallocated
 * buffers, a send batch flushed with sendmmsg() before the loop sleeps.
 *
 * Receive: rx_batch slots of max_datagram bytes, each with its own source
 * sockaddr_storage, filled by one recvmmsg(); every datagram is handed to the
 * callback in place. Up to rx_rounds batches per readiness, then back to
 * the (level-triggered) loop so other fds get their turn.
 *
 * Send: udp_send_queue() copies into a byte arena + a slot array; the
 * before-sleep hook (or a full queue) flushes it with sendmmsg(). EAGAIN
 * keeps the rest queued and arms EPOLLOUT; a datagram the kernel refuses
 * (EMSGSIZE, EHOSTUNREACH, EPERM...) is dropped and counted, the flush goes
 * on. When the queue is still full the new datagram is dropped and counted.
 *
 * Overload (issue 7 §3): the receive buffer is asked for UDP_RCVBUF_DEFAULT
 * (4 MiB, the kernel clamps it to net.core.rmem_max) unless opts say
 * otherwise: the kernel's default (208 KiB) holds 166 REGISTERs (1280 bytes
 * of truesize each on loopback), 10 ms at 16,000/s, so any longer pause of
 * the worker (a shared CPU, a table resize) lost requests, half of them the
 * authenticated second REGISTER of a registration already challenged.
 * Whenever recvmmsg() fills a whole batch, the socket's receive queue is
 * measured (SO_MEMINFO: bytes queued against the buffer's size, one
 * getsockopt per full batch, none at low load) and sets the socket's level:
 *   UDP_LOAD_OK    queue below UDP_SHED_FILL: serve everything;
 *   UDP_LOAD_SHED  queue at or over UDP_SHED_FILL: new REGISTERs (no
 *                  Authorization) are dropped here, before the callback,
 *                  except UDP_SHED_ANSWER_RATE a second that the worker
 *                  answers 503 with Retry-After (a parse and an answer cost
 *                  about as much as the 401 would: measured, answering them
 *                  all collapsed goodput at 4x to 3 %);
 *   UDP_LOAD_DROP  queue at or over UDP_DROP_FILL: every new REGISTER is
 *                  dropped here (no parse, no answer).
 * Everything else (responses, authenticated REGISTERs, other requests) is
 * always delivered: the work already invested in a registration is
 * completed. Hysteresis: the level goes back to UDP_LOAD_OK as soon as a
 * batch comes back short (the queue is drained) or the queue falls under
 * UDP_OK_FILL.
 */
#include <errno.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sipreg/clock.h"
#include "sipreg/loop.h"
#include "sipreg/transport.h"

#define UDP_MAX_PAYLOAD 65507u /* IPv4: 65535 - 20 (IP) - 8 (UDP) */
#define UDP_MAX_BATCH 64u
/* A counter the admin thread may read (udp_sock_shed): relaxed store. */
#define STAT_BUMP(f) __atomic_store_n(&(f), (f) + 1, __ATOMIC_RELAXED)
#define UDP_RCVBUF_DEFAULT (4 << 20)
/* Receive-queue fill (SK_MEMINFO_RMEM_ALLOC / SO_RCVBUF, in 1/1024) of the
 * levels. The kernel releases the memory of datagrams already read in
 * chunks of up to a quarter of the buffer (udp_rmem_release: forward
 * deficit), so the measure overstates the queue by up to 256/1024 while it
 * drains: SHED at 3/8 means at least 1/8 really queued (820 REGISTERs in the
 * 4 MiB buffer, 8 MiB as the kernel counts it), DROP at 5/8 at least 3/8
 * (2,450); back to OK under 1/4 (or at a short batch). */
#define UDP_SHED_FILL 384u
#define UDP_DROP_FILL 640u
#define UDP_OK_FILL 256u
/* At UDP_LOAD_SHED, new REGISTERs delivered for a 503: a token bucket of
 * UDP_SHED_ANSWER_RATE a second, UDP_SHED_ANSWER_BURST at most (about 6 us
 * of parse, answer and send each on the 2-core VM: 0.6 % of a CPU). */
#define UDP_SHED_ANSWER_RATE 1000u
#define UDP_SHED_ANSWER_BURST 32u

struct udp_sock {
	int fd;
	struct loop *loop;
	udp_datagram_cb cb;
	void *arg;
	struct loop_hook flush_hook;
	unsigned rx_rounds;

	/* receive */
	unsigned rx_batch;
	size_t max_datagram;
	struct mmsghdr *rx_msgs;
	struct iovec *rx_iov;
	struct sockaddr_storage *rx_addr;
	char *rx_buf;

	/* send: slots [0, tx_n) hold queued datagrams, their bytes packed in
	 * tx_arena [0, tx_used) in the same order */
	unsigned tx_slots, tx_n;
	size_t tx_bytes, tx_used;
	struct mmsghdr *tx_msgs;
	struct iovec *tx_iov;
	struct sockaddr_storage *tx_addr;
	char *tx_arena;
	bool want_write;

	/* overload: the level set by the last full batch (see above) */
	enum udp_load load;
	unsigned shed_tokens; /* 503s still allowed (token bucket) */
	uint64_t shed_refill; /* clock_now_ms() of the last refill */

	struct udp_stats st;
};

/* Receive-queue fill in 1/1024 of the buffer, or -errno. */
static int rx_fill(const struct udp_sock *s)
{
	uint32_t mi[SK_MEMINFO_VARS] = {0};
	socklen_t len = sizeof(mi);
	uint64_t f;

	if (getsockopt(s->fd, SOL_SOCKET, SO_MEMINFO, mi, &len) < 0)
		return -errno;
	if (len <= SK_MEMINFO_RCVBUF * sizeof(mi[0]) || mi[SK_MEMINFO_RCVBUF] == 0)
		return -EINVAL;
	f = (uint64_t)mi[SK_MEMINFO_RMEM_ALLOC] * 1024u / mi[SK_MEMINFO_RCVBUF];
	return f > 1024u ? 1024 : (int)f;
}

static void set_load(struct udp_sock *s, enum udp_load l)
{
	if (l > s->load && s->load == UDP_LOAD_OK)
		STAT_BUMP(s->st.overload_episodes);
	s->load = l;
}

/* The 503 budget: UDP_SHED_ANSWER_RATE tokens a second. */
static void refill(struct udp_sock *s)
{
	uint64_t now = clock_now_ms(), add;

	if (now <= s->shed_refill)
		return;
	add = (now - s->shed_refill) * UDP_SHED_ANSWER_RATE / 1000u;
	if (add == 0)
		return;
	s->shed_refill = now;
	add += s->shed_tokens;
	s->shed_tokens =
	        add > UDP_SHED_ANSWER_BURST ? UDP_SHED_ANSWER_BURST : (unsigned)add;
}

/* After a recvmmsg() that returned n of rx_batch datagrams. */
static void update_load(struct udp_sock *s, unsigned n)
{
	int f;

	if (n < s->rx_batch) {
		s->load = UDP_LOAD_OK; /* drained: back to normal at once */
		return;
	}
	f = rx_fill(s);
	if (f < 0)
		return;
	refill(s);
	if ((unsigned)f >= UDP_DROP_FILL)
		set_load(s, UDP_LOAD_DROP);
	else if ((unsigned)f >= UDP_SHED_FILL)
		set_load(s, UDP_LOAD_SHED);
	else if ((unsigned)f < UDP_OK_FILL)
		s->load = UDP_LOAD_OK;
	else if (s->load == UDP_LOAD_DROP)
		s->load = UDP_LOAD_SHED;
}

/* Case-insensitive compare of n bytes against a lower-case literal. */
static bool lower_eq(const char *p, const char *lit, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((p[i] | 0x20) != lit[i])
			return false;
	return true;
}

/*
 * Is this datagram a REGISTER without an Authorization header (a new
 * registration, not the answer to a challenge)? A scan of the header lines
 * only: "REGISTER " at the start, then a line "Authorization" HCOLON up to
 * the empty line. Anything else (a response, another method, a credentialed
 * REGISTER, bytes that are not SIP) is not one.
 */
bool udp_is_new_register(const char *buf, size_t len)
{
	static const char hdr[] = "authorization";
	const size_t hn = sizeof(hdr) - 1;
	const char *p = buf, *end = buf + len;

	if (len < 9 || memcmp(buf, "REGISTER ", 9) != 0)
		return false;
	for (;;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *q;

		if (!nl)
			return true;
		p = nl + 1;
		if (p >= end || *p == '\n' || (*p == '\r' && p + 1 < end && p[1] == '\n'))
			return true; /* the empty line: headers done */
		if ((size_t)(end - p) <= hn || (*p | 0x20) != 'a' ||
		    !lower_eq(p, hdr, hn))
			continue;
		for (q = p + hn; q < end && (*q == ' ' || *q == '\t'); q++)
			;
		if (q < end && *q == ':')
			return false;
	}
}

/* Overloaded: is this datagram a new REGISTER to drop unread? At
 * UDP_LOAD_SHED some still reach the callback while the token bucket allows
 * (the worker answers them 503 with Retry-After: the parse and the answer
 * cost about as much as a challenge, so they are rationed); at
 * UDP_LOAD_DROP none does. */
static bool shed_unparsed(struct udp_sock *s, const char *b, size_t len)
{
	if (!udp_is_new_register(b, len))
		return false;
	if (s->load == UDP_LOAD_SHED && s->shed_tokens > 0) {
		s->shed_tokens--;
		return false;
	}
	STAT_BUMP(s->st.rx_shed);
	return true;
}

static void udp_rx(struct udp_sock *s)
{
	unsigned round, i;
	int n;

	for (round = 0; round < s->rx_rounds; round++) {
		for (i = 0; i < s->rx_batch; i++) {
			s->rx_msgs[i].msg_hdr.msg_namelen = sizeof(s->rx_addr[i]);
			s->rx_msgs[i].msg_hdr.msg_flags = 0;
		}
		n = recvmmsg(s->fd, s->rx_msgs, s->rx_batch, MSG_DONTWAIT, NULL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				s->st.rx_errors++;
			else
				s->load = UDP_LOAD_OK;
			return;
		}
		if (n == 0) {
			s->load = UDP_LOAD_OK;
			return;
		}
		s->st.rx_batches++;
		update_load(s, (unsigned)n);
		for (i = 0; i < (unsigned)n; i++) {
			struct msghdr *h = &s->rx_msgs[i].msg_hdr;
			const char *b = h->msg_iov->iov_base;

			if (h->msg_flags & MSG_TRUNC) {
				s->st.rx_truncated++;
				continue;
			}
			if (s->load != UDP_LOAD_OK &&
			    shed_unparsed(s, b, s->rx_msgs[i].msg_len))
				continue;
			s->st.rx_datagrams++;
			s->cb(s->arg, s, b, s->rx_msgs[i].msg_len,
			      (const struct sockaddr *)h->msg_name, h->msg_namelen);
		}
		if ((unsigned)n < s->rx_batch)
			return;
	}
}

static void want_write(struct udp_sock *s, bool on)
{
	if (s->want_write == on)
		return;
	if (loop_mod(s->loop, s->fd, LOOP_READ | (on ? LOOP_WRITE : 0)) == 0)
		s->want_write = on;
}

static void udp_io(struct loop *loop, int fd, unsigned events, void *arg)
{
	struct udp_sock *s = arg;

	(void)loop;
	(void)fd;
	if (events & LOOP_WRITE)
		udp_flush(s);
	if (events & LOOP_READ)
		udp_rx(s);
}

static void udp_before_sleep(struct loop *loop, void *arg)
{
	struct udp_sock *s = arg;

	(void)loop;
	if (s->tx_n && !s->want_write)
		udp_flush(s);
}

/* Drop the first k queued datagrams, moving the rest to the front. */
static void tx_consume(struct udp_sock *s, unsigned k)
{
	size_t bytes = 0;
	unsigned i;

	if (k >= s->tx_n) {
		s->tx_n = 0;
		s->tx_used = 0;
		return;
	}
	for (i = 0; i < k; i++)
		bytes += s->tx_iov[i].iov_len;
	memmove(s->tx_arena, s->tx_arena + bytes, s->tx_used - bytes);
	s->tx_used -= bytes;
	s->tx_n -= k;
	memmove(s->tx_iov, s->tx_iov + k, s->tx_n * sizeof(*s->tx_iov));
	memmove(s->tx_addr, s->tx_addr + k, s->tx_n * sizeof(*s->tx_addr));
	memmove(s->tx_msgs, s->tx_msgs + k, s->tx_n * sizeof(*s->tx_msgs));
	for (i = 0; i < s->tx_n; i++) {
		s->tx_iov[i].iov_base = (char *)s->tx_iov[i].iov_base - bytes;
		s->tx_msgs[i].msg_hdr.msg_iov = &s->tx_iov[i];
		s->tx_msgs[i].msg_hdr.msg_name = &s->tx_addr[i];
	}
}

int udp_flush(struct udp_sock *s)
{
	unsigned sent = 0;
	int n, r = 0;

	while (sent < s->tx_n) {
		n = sendmmsg(s->fd, s->tx_msgs + sent, s->tx_n - sent, MSG_DONTWAIT);
		if (n > 0) {
			s->st.tx_batches++;
			s->st.tx_datagrams += (unsigned)n;
			sent += (unsigned)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == ENOBUFS)) {
			s->st.tx_eagain++;
			r = -EAGAIN;
			break;
		}
		/* the datagram at `sent` is refused: drop it, go on */
		r = n < 0 ? -errno : -EIO;
		s->st.tx_errors++;
		sent++;
	}
	tx_consume(s, sent);
	want_write(s, s->tx_n > 0);
	if (r == -EAGAIN)
		return r;
	return (int)sent;
}

static int tx_append(struct udp_sock *s, const void *buf, size_t len,
		     const struct sockaddr *dst, socklen_t dstlen)
{
	unsigned i = s->tx_n;
	struct msghdr *h = &s->tx_msgs[i].msg_hdr;

	memcpy(s->tx_arena + s->tx_used, buf, len);
	memcpy(&s->tx_addr[i], dst, dstlen);
	s->tx_iov[i].iov_base = s->tx_arena + s->tx_used;
	s->tx_iov[i].iov_len = len;
	memset(h, 0, sizeof(*h));
	h->msg_name = &s->tx_addr[i];
	h->msg_namelen = dstlen;
	h->msg_iov = &s->tx_iov[i];
	h->msg_iovlen = 1;
	s->tx_used += len;
	s->tx_n++;
	return 0;
}

static bool tx_full(const struct udp_sock *s, size_t len)
{
	return s->tx_n == s->tx_slots || s->tx_bytes - s->tx_used < len;
}

int udp_send_queue(struct udp_sock *s, const void *buf, size_t len,
		   const struct sockaddr *dst, socklen_t dstlen)
{
	if (dstlen > sizeof(struct sockaddr_storage))
		return -EINVAL;
	if (len > UDP_MAX_PAYLOAD || len > s->tx_bytes) {
		s->st.tx_drops++;
		return -EMSGSIZE;
	}
	if (tx_full(s, len)) {
		if (!s->want_write)
			udp_flush(s);
		if (tx_full(s, len)) {
			s->st.tx_drops++;
			return -ENOBUFS;
		}
	}
	return tx_append(s, buf, len, dst, dstlen);
}

int udp_send_now(struct udp_sock *s, const void *buf, size_t len,
		 const struct sockaddr *dst, socklen_t dstlen)
{
	ssize_t n;

	/* keep the order: behind a non-empty queue, queue too */
	if (s->tx_n)
		return udp_send_queue(s, buf, len, dst, dstlen);
	do
		n = sendto(s->fd, buf, len, MSG_DONTWAIT, dst, dstlen);
	while (n < 0 && errno == EINTR);
	if (n >= 0) {
		s->st.tx_datagrams++;
		return 0;
	}
	if (errno == EAGAIN || errno == ENOBUFS) {
		s->st.tx_eagain++;
		n = udp_send_queue(s, buf, len, dst, dstlen);
		if (n == 0)
			want_write(s, true);
		return (int)n;
	}
	s->st.tx_errors++;
	return -errno;
}

unsigned udp_queued(const struct udp_sock *s)
{
	return s->tx_n;
}

int udp_sock_fd(const struct udp_sock *s)
{
	return s->fd;
}

int udp_sock_local(const struct udp_sock *s, struct sockaddr *addr, socklen_t *len)
{
	return getsockname(s->fd, addr, len) < 0 ? -errno : 0;
}

void udp_sock_stats(const struct udp_sock *s, struct udp_stats *out)
{
	*out = s->st;
}

enum udp_load udp_sock_load(const struct udp_sock *s)
{
	return s->load;
}

uint64_t udp_sock_shed(const struct udp_sock *s)
{
	return __atomic_load_n(&s->st.rx_shed, __ATOMIC_RELAXED);
}

static int open_socket(const struct sockaddr *addr, socklen_t addrlen,
		       const struct udp_opts *o)
{
	int fd, one = 1, r;

	if ((addr->sa_family != AF_INET || addrlen < sizeof(struct sockaddr_in)) &&
	    (addr->sa_family != AF_INET6 || addrlen < sizeof(struct sockaddr_in6)))
		return -EINVAL;
	fd = socket(addr->sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (!o->no_reuseport &&
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0)
		goto fail;
	if (addr->sa_family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0)
		goto fail;
	if (o->rcvbuf > 0 &&
	    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &o->rcvbuf, sizeof(o->rcvbuf)) < 0)
		goto fail;
	/* best effort: the kernel clamps it to net.core.rmem_max */
	if (o->rcvbuf == 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &(int){UDP_RCVBUF_DEFAULT},
		                 sizeof(int));
	if (o->sndbuf > 0 &&
	    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &o->sndbuf, sizeof(o->sndbuf)) < 0)
		goto fail;
	if (bind(fd, addr, addrlen) < 0)
		goto fail;
	return fd;
fail:
	r = -errno;
	close(fd);
	return r;
}

int udp_sock_new(struct udp_sock **ret, struct loop *loop, const struct sockaddr *addr,
		 socklen_t addrlen, const struct udp_opts *opts, udp_datagram_cb cb,
		 void *arg)
{
	struct udp_opts o = opts ? *opts : (struct udp_opts){0};
	struct udp_sock *s;
	unsigned i;
	int r;

	if (!cb || o.rx_batch > UDP_MAX_BATCH)
		return -EINVAL;
	o.rx_batch = o.rx_batch ? o.rx_batch : 32;
	o.rx_rounds = o.rx_rounds ? o.rx_rounds : 4;
	o.max_datagram = o.max_datagram ? o.max_datagram : 65535;
	o.tx_slots = o.tx_slots ? o.tx_slots : 256;
	o.tx_bytes = o.tx_bytes ? o.tx_bytes : 256 * 1024;

	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->fd = -1;
	s->loop = loop;
	s->cb = cb;
	s->arg = arg;
	s->rx_batch = o.rx_batch;
	s->rx_rounds = o.rx_rounds;
	s->max_datagram = o.max_datagram;
	s->tx_slots = o.tx_slots;
	s->tx_bytes = o.tx_bytes;
	s->shed_tokens = UDP_SHED_ANSWER_BURST;
	s->shed_refill = clock_now_ms();
	s->rx_msgs = calloc(s->rx_batch, sizeof(*s->rx_msgs));
	s->rx_iov = calloc(s->rx_batch, sizeof(*s->rx_iov));
	s->rx_addr = calloc(s->rx_batch, sizeof(*s->rx_addr));
	s->rx_buf = malloc(s->rx_batch * s->max_datagram);
	s->tx_msgs = calloc(s->tx_slots, sizeof(*s->tx_msgs));
	s->tx_iov = calloc(s->tx_slots, sizeof(*s->tx_iov));
	s->tx_addr = calloc(s->tx_slots, sizeof(*s->tx_addr));
	s->tx_arena = malloc(s->tx_bytes);
	if (!s->rx_msgs || !s->rx_iov || !s->rx_addr || !s->rx_buf || !s->tx_msgs ||
	    !s->tx_iov || !s->tx_addr || !s->tx_arena) {
		r = -ENOMEM;
		goto fail;
	}
	for (i = 0; i < s->rx_batch; i++) {
		struct msghdr *h = &s->rx_msgs[i].msg_hdr;

		s->rx_iov[i].iov_base = s->rx_buf + i * s->max_datagram;
		s->rx_iov[i].iov_len = s->max_datagram;
		h->msg_name = &s->rx_addr[i];
		h->msg_namelen = sizeof(s->rx_addr[i]);
		h->msg_iov = &s->rx_iov[i];
		h->msg_iovlen = 1;
	}
	r = open_socket(addr, addrlen, &o);
	if (r < 0)
		goto fail;
	s->fd = r;
	r = loop_add(loop, s->fd, LOOP_READ, udp_io, s);
	if (r < 0)
		goto fail;
	s->flush_hook.cb = udp_before_sleep;
	s->flush_hook.arg = s;
	loop_add_before_sleep(loop, &s->flush_hook);
	*ret = s;
	return 0;
fail:
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	udp_sock_free(s);
	return r;
}

void udp_sock_free(struct udp_sock *s)
{
	if (!s)
		return;
	if (s->fd >= 0) {
		udp_flush(s);
		loop_del_before_sleep(s->loop, &s->flush_hook);
		loop_del(s->loop, s->fd);
		close(s->fd);
	}
	free(s->rx_msgs);
	free(s->rx_iov);
	free(s->rx_addr);
	free(s->rx_buf);
	free(s->tx_msgs);
	free(s->tx_iov);
	free(s->tx_addr);
	free(s->tx_arena);
	free(s);
}
