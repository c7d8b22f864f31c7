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
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sipreg/loop.h"
#include "sipreg/transport.h"

#define UDP_MAX_PAYLOAD 65507u /* IPv4: 65535 - 20 (IP) - 8 (UDP) */
#define UDP_MAX_BATCH 64u

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

	struct udp_stats st;
};

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
			return;
		}
		if (n == 0)
			return;
		s->st.rx_batches++;
		for (i = 0; i < (unsigned)n; i++) {
			struct msghdr *h = &s->rx_msgs[i].msg_hdr;

			if (h->msg_flags & MSG_TRUNC) {
				s->st.rx_truncated++;
				continue;
			}
			s->st.rx_datagrams++;
			s->cb(s->arg, s, h->msg_iov->iov_base, s->rx_msgs[i].msg_len,
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
