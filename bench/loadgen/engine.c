/* SPDX-License-Identifier: MIT */
/*
 * engine.c - one load-generator thread.
 *
 * The thread owns its sockets (connected to the target, so the kernel drops
 * datagrams from anyone else), a window of slots and a scenario instance.
 * A slot is one transaction chain in flight; it is busy from the moment its
 * request is queued until its final answer or its timeout. Sent slots are
 * kept on a list in send order: deadlines are send time + timeout, so the
 * list is ordered by deadline and the timeouts are checked at its head, O(1)
 * per request. A slot that timed out is reused at once with a new
 * generation; an answer for the old one then counts as stray.
 *
 * Requests are queued per socket (slot s always uses socket s % sockets) and
 * go out with one sendmmsg per batch, time-stamped once per batch; answers
 * come in with one recvmmsg per batch, time-stamped once per batch.
 *
 * Closed loop: every answered or timed-out slot is refilled immediately (in
 * the same batch). Open loop: the thread offers rate requests per second
 * from its start, as many as are due whenever it wakes (ppoll with a
 * nanosecond timeout, so the kernel's timer slack groups them into small
 * batches); a due request with no free slot is counted as skipped.
 * Both stop offering when --count or --duration is reached (or on SIGINT),
 * then wait for the requests in flight, at most one timeout.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/tcp.h>
#include <netinet/udp.h>
#include <strings.h>
#include <sys/uio.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "loadgen.h"

#define RECV_TIMEOUT_US 5000 /* closed loop, one socket: blocking recvmmsg wakes this often */
#define MAX_WAIT_NS 50000000ull /* ppoll wakes at least this often */

struct slot {
	uint64_t start_ns;    /* first send of the chain */
	uint64_t deadline_ns; /* last send + timeout */
	uint32_t gen;
	int32_t prev, next; /* sent list; -1 ends it */
	bool busy;
	bool listed;
	struct lg_req req;
};

struct sockq {
	int fd;
	unsigned int n;
	char *rx;     /* TCP: received bytes not yet cut into messages */
	size_t rxlen;
	uint32_t slot[LG_BATCH];
	struct mmsghdr msg[LG_BATCH];
	struct iovec iov[LG_BATCH];
	char buf[LG_BATCH][LG_MSG_MAX];
};

struct eng {
	const struct lg_config *cfg;
	const struct lg_scenario_ops *ops;
	void *sc;
	struct lg_thread_args *args;
	struct lg_stats *st;
	unsigned int tid;
	struct slot *slots;
	uint32_t nslots;
	uint32_t *freel;
	uint32_t nfree;
	int32_t head, tail;
	uint64_t seq;
	uint64_t end_ns; /* UINT64_MAX: no duration bound */
	bool gso;        /* --gso, until the kernel refuses it */
	bool failed;     /* the scenario could not build a request: offer no more */
	unsigned int nsock;
	struct sockq *q[LG_MAX_SOCKETS];
	struct pollfd pfd[LG_MAX_SOCKETS];
	struct mmsghdr rmsg[LG_BATCH];
	struct iovec riov[LG_BATCH];
	char (*rbuf)[LG_RECV_MAX];
};

uint64_t lg_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void list_push(struct eng *e, uint32_t s)
{
	struct slot *sl = &e->slots[s];

	sl->prev = e->tail;
	sl->next = -1;
	if (e->tail >= 0)
		e->slots[e->tail].next = (int32_t)s;
	else
		e->head = (int32_t)s;
	e->tail = (int32_t)s;
	sl->listed = true;
}

static void list_unlink(struct eng *e, uint32_t s)
{
	struct slot *sl = &e->slots[s];

	if (!sl->listed)
		return;
	if (sl->prev >= 0)
		e->slots[sl->prev].next = sl->next;
	else
		e->head = sl->next;
	if (sl->next >= 0)
		e->slots[sl->next].prev = sl->prev;
	else
		e->tail = sl->prev;
	sl->listed = false;
}

static bool may_offer(const struct eng *e, uint64_t now)
{
	return !*e->args->stop && !e->failed && e->st->offered < e->args->quota &&
	       now < e->end_ns;
}

static bool queues_empty(const struct eng *e)
{
	for (unsigned int i = 0; i < e->nsock; i++)
		if (e->q[i]->n)
			return false;
	return true;
}

/* Sends q->msg[from..n) with one syscall: sendmmsg, or with --gso one sendmsg
 * of equal-size segments (UDP_SEGMENT: the kernel cuts the buffer into
 * datagrams, one trip down the stack for the batch). Returns the number of
 * datagrams sent, or -errno. */
/* TCP: all of q->iov[from..n) with writev (the socket blocks on writes, so
 * a short write only means "write the rest"). */
static int send_stream(struct sockq *q, unsigned int from)
{
	struct iovec iov[LG_BATCH];
	unsigned int n = q->n - from, first = 0;

	memcpy(iov, &q->iov[from], n * sizeof(*iov));
	while (first < n) {
		ssize_t w = writev(q->fd, iov + first, (int)(n - first));

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		while (first < n && (size_t)w >= iov[first].iov_len)
			w -= (ssize_t)iov[first++].iov_len;
		if (first < n) {
			iov[first].iov_base = (char *)iov[first].iov_base + w;
			iov[first].iov_len -= (size_t)w;
		}
	}
	return (int)n;
}

static int send_some(struct eng *e, struct sockq *q, unsigned int from)
{
	unsigned int n = q->n - from;
	size_t seg = q->iov[from].iov_len;

	if (e->cfg->tcp)
		return send_stream(q, from);

	if (e->gso && n > 1) {
		char ctrl[CMSG_SPACE(sizeof(uint16_t))] = {0};
		struct msghdr mh = {
			.msg_iov = &q->iov[from],
			.msg_iovlen = n,
			.msg_control = ctrl,
			.msg_controllen = sizeof(ctrl),
		};
		struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
		uint16_t gso = (uint16_t)seg;
		unsigned int i;

		for (i = from + 1; i < q->n && q->iov[i].iov_len == seg; i++)
			;
		if (i - from > 1) {
			/* The last segment may be shorter; equal ones are the rule. */
			mh.msg_iovlen = i - from;
			cm->cmsg_level = SOL_UDP;
			cm->cmsg_type = UDP_SEGMENT;
			cm->cmsg_len = CMSG_LEN(sizeof(uint16_t));
			memcpy(CMSG_DATA(cm), &gso, sizeof(gso));
			if (sendmsg(q->fd, &mh, 0) >= 0)
				return (int)(i - from);
			if (errno != EINVAL && errno != EIO && errno != ENOPROTOOPT &&
			    errno != EOPNOTSUPP)
				return -errno;
			e->gso = false; /* not supported here: sendmmsg from now on */
		}
	}
	{
		int r = sendmmsg(q->fd, q->msg + from, n, 0);

		return r < 0 ? -errno : r;
	}
}

static void flush(struct eng *e, struct sockq *q)
{
	unsigned int done = 0, refused = 0;
	uint64_t now;

	if (!q->n)
		return;
	now = lg_now_ns();
	if (!e->st->first_send_ns)
		e->st->first_send_ns = now;
	while (done < q->n) {
		int r;

		if (e->cfg->tcp && e->failed) {
			/* A broken stream: the rest is not sent (it times out). */
			e->st->send_errors += q->n - done;
			break;
		}
		r = send_some(e, q, done);

		if (r > 0) {
			done += (unsigned int)r;
			continue;
		}
		if (r == -EINTR)
			continue;
		if ((r == -ECONNREFUSED || r == -EHOSTUNREACH || r == -ENETUNREACH) &&
		    refused++ < LG_BATCH) {
			/* An ICMP error of an earlier datagram, reported now and
			 * cleared: this one was not sent, send it again. */
			e->st->recv_errors++;
			continue;
		}
		/* Give this one up: it times out like a lost datagram. */
		e->st->send_errors++;
		done++;
		if (e->cfg->tcp && !e->failed) {
			/* The stream is broken (cut mid-message, or the server
			 * stopped reading for a second): offer no more. */
			e->failed = true;
			e->args->err = r;
			snprintf(e->args->errmsg, sizeof(e->args->errmsg), "TCP send: %s",
				 strerror(-r));
		}
	}
	for (unsigned int i = 0; i < q->n; i++) {
		struct slot *sl = &e->slots[q->slot[i]];

		if (sl->req.step == 0)
			sl->start_ns = now;
		sl->deadline_ns = now + e->cfg->timeout_ns;
		list_push(e, q->slot[i]);
	}
	e->st->sent += q->n;
	q->n = 0;
}

static void flush_all(struct eng *e)
{
	for (unsigned int i = 0; i < e->nsock; i++)
		flush(e, e->q[i]);
}

/* Queues a built request of slot s (len bytes already in the next buffer). */
static void enqueue(struct eng *e, uint32_t s, int len)
{
	struct sockq *q = e->q[e->slots[s].req.sock];

	q->iov[q->n].iov_len = (size_t)len;
	q->slot[q->n] = s;
	q->n++;
	if (q->n == LG_BATCH)
		flush(e, q);
}

static struct sockq *queue_room(struct eng *e, unsigned int sock)
{
	struct sockq *q = e->q[sock];

	if (q->n == LG_BATCH)
		flush(e, q);
	return q;
}

static void release(struct eng *e, uint32_t s)
{
	list_unlink(e, s);
	e->slots[s].busy = false;
	e->freel[e->nfree++] = s;
}

/* Starts a new transaction in a free slot; false when none is free. */
static bool start_new(struct eng *e)
{
	struct sockq *q;
	struct slot *sl;
	uint32_t s;
	int len;

	if (!e->nfree)
		return false;
	s = e->freel[--e->nfree];
	sl = &e->slots[s];
	sl->gen++;
	sl->busy = true;
	sl->req.key = lg_key(e->tid, s, sl->gen);
	sl->req.seq = e->seq++;
	sl->req.sock = s % e->nsock;
	sl->req.step = 0;
	sl->req.user = 0;
	e->st->offered++;
	q = queue_room(e, sl->req.sock);
	len = e->ops->build(e->sc, &sl->req, q->buf[q->n], LG_MSG_MAX);
	if (len <= 0) {
		e->failed = true;
		e->args->err = len < 0 ? len : -EINVAL;
		snprintf(e->args->errmsg, sizeof(e->args->errmsg),
			 "%s scenario could not build a request: %s", e->ops->name,
			 strerror(-e->args->err));
		release(e, s);
		return false;
	}
	enqueue(e, s, len);
	return true;
}

static void expire(struct eng *e, uint64_t now)
{
	while (e->head >= 0 && e->slots[e->head].deadline_ns <= now) {
		uint32_t s = (uint32_t)e->head;

		e->st->timeouts++;
		if (e->ops->done)
			e->ops->done(e->sc, &e->slots[s].req, 0);
		release(e, s);
		if (e->cfg->mode == LG_CLOSED && may_offer(e, now))
			start_new(e);
	}
}

static void pace(struct eng *e, uint64_t now)
{
	uint64_t due = (uint64_t)((double)(now - e->args->start_ns) * e->args->rate / 1e9) + 1;
	unsigned int burst = 0;

	while (e->st->offered < due && may_offer(e, now) && burst++ < 4 * LG_BATCH) {
		if (!start_new(e)) {
			e->st->skipped++;
			e->st->offered++;
		}
	}
}

static uint64_t next_pace_ns(const struct eng *e)
{
	return e->args->start_ns + (uint64_t)((double)e->st->offered * 1e9 / e->args->rate);
}

static void on_datagram(struct eng *e, const char *buf, size_t len, uint64_t now)
{
	struct lg_resp resp = {.buf = buf, .len = len};
	struct slot *sl;
	struct sockq *q;
	uint64_t key;
	uint32_t s;
	int r;

	r = lg_scan(buf, len, e->cfg->run_nonce, e->cfg->method, e->cfg->expect_echo,
		    &resp.status, &key);
	if (r < 0) {
		e->st->bad++;
		return;
	}
	s = (uint32_t)(key >> 32) & 0xffffffu;
	if ((key >> 56) != e->tid || s >= e->nslots)
		goto stray;
	sl = &e->slots[s];
	if (!sl->busy || !sl->listed || sl->gen != (uint32_t)key)
		goto stray;

	q = queue_room(e, sl->req.sock);
	sl->req.next_key = lg_key(e->tid, s, sl->gen + 1);
	r = e->ops->response(e->sc, &sl->req, &resp, q->buf[q->n], LG_MSG_MAX);
	if (r == LG_PROVISIONAL) {
		e->st->provisional++;
		e->st->codes[resp.status]++;
		return;
	}
	if (r > 0) {
		/* The next request of the chain, in the same slot. */
		e->st->codes[resp.status]++;
		list_unlink(e, s);
		sl->gen++;
		sl->req.key = lg_key(e->tid, s, sl->gen);
		sl->req.step++;
		enqueue(e, s, r);
		return;
	}
	if (r < 0) {
		e->st->bad++;
	} else if (resp.status == 0) {
		e->st->echoes++;
		e->st->ok++;
	} else {
		e->st->codes[resp.status]++;
		if (resp.status < 300)
			e->st->ok++;
	}
	e->st->completed++;
	if (e->ops->done)
		e->ops->done(e->sc, &sl->req, r < 0 ? -1 : resp.status);
	lg_hist_add(&e->st->lat, now - sl->start_ns);
	e->st->last_done_ns = now;
	release(e, s);
	if (e->cfg->mode == LG_CLOSED && may_offer(e, now))
		start_new(e);
	return;
stray:
	e->st->stray++;
}

/* Length of the first message in buf (headers, blank line, Content-Length
 * bytes of body), 0 when it is not all there yet, -EMSGSIZE when it cannot
 * fit in the receive buffer. A missing Content-Length counts as 0. */
static ssize_t frame_len(const char *buf, size_t len)
{
	const char *end = memmem(buf, len, "\r\n\r\n", 4), *p;
	size_t hlen, cl = 0;

	if (!end)
		return len >= LG_RECV_MAX ? -EMSGSIZE : 0;
	hlen = (size_t)(end - buf) + 4;
	for (p = buf; p && p < end; p = memmem(p + 2, (size_t)(end - p - 2) + 2, "\r\n", 2)) {
		const char *v = NULL;

		if ((size_t)(end - p) > 17 && strncasecmp(p, "\r\nContent-Length", 16) == 0)
			v = p + 16;
		else if ((size_t)(end - p) > 3 && (p[2] == 'l' || p[2] == 'L') &&
			 (p[3] == ':' || p[3] == ' ' || p[3] == '\t'))
			v = p + 3;
		if (!v)
			continue;
		while (*v == ' ' || *v == '\t')
			v++;
		if (*v++ != ':')
			continue;
		while (*v == ' ' || *v == '\t')
			v++;
		for (cl = 0; *v >= '0' && *v <= '9' && cl < LG_RECV_MAX; v++)
			cl = cl * 10 + (size_t)(*v - '0');
		break;
	}
	if (hlen + cl > LG_RECV_MAX)
		return -EMSGSIZE;
	return hlen + cl <= len ? (ssize_t)(hlen + cl) : 0;
}

/* TCP: read what is there and hand every whole message to on_datagram. */
static int receive_stream(struct eng *e, unsigned int i)
{
	struct sockq *q = e->q[i];
	ssize_t r = recv(q->fd, q->rx + q->rxlen, LG_RECV_MAX - q->rxlen, MSG_DONTWAIT);
	uint64_t now;
	size_t off = 0;
	int n = 0;

	if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
		/* The server closed the connection: what is in flight on it
		 * times out; offer no more. */
		if (!e->failed)
			snprintf(e->args->errmsg, sizeof(e->args->errmsg),
				 "connection %u closed: %s", i, r == 0 ? "by the server" : strerror(errno));
		e->failed = true;
		e->args->err = -ECONNRESET;
		e->pfd[i].fd = -1;
		e->st->recv_errors++;
		return 0;
	}
	if (r < 0)
		return 0;
	q->rxlen += (size_t)r;
	now = lg_now_ns();
	for (;;) {
		ssize_t m;

		/* CRLF keep-alive pongs between messages (RFC 5626 §4.4.1). */
		while (off + 2 <= q->rxlen && q->rx[off] == '\r' && q->rx[off + 1] == '\n')
			off += 2;
		m = frame_len(q->rx + off, q->rxlen - off);
		if (m < 0) {
			e->st->bad++; /* larger than we take: drop the stream's bytes */
			off = q->rxlen;
			break;
		}
		if (m == 0)
			break;
		on_datagram(e, q->rx + off, (size_t)m, now);
		off += (size_t)m;
		n++;
	}
	memmove(q->rx, q->rx + off, q->rxlen - off);
	q->rxlen -= off;
	return n;
}

/* One recvmmsg on a socket; returns the number of datagrams handled. */
static int receive(struct eng *e, unsigned int i, int flags)
{
	uint64_t now;
	int n;

	if (e->cfg->tcp)
		return e->pfd[i].fd >= 0 ? receive_stream(e, i) : 0;
	for (unsigned int k = 0; k < LG_BATCH; k++)
		e->rmsg[k].msg_hdr.msg_flags = 0;
	n = recvmmsg(e->q[i]->fd, e->rmsg, LG_BATCH, flags, NULL);
	if (n < 0) {
		if (errno == ECONNREFUSED || errno == EHOSTUNREACH || errno == ENETUNREACH)
			e->st->recv_errors++;
		return 0;
	}
	now = lg_now_ns();
	for (int k = 0; k < n; k++) {
		if (e->rmsg[k].msg_hdr.msg_flags & MSG_TRUNC)
			e->st->truncated++;
		on_datagram(e, e->rbuf[k], e->rmsg[k].msg_len, now);
	}
	return n;
}

static int open_socket(struct eng *e, unsigned int i, struct lg_local *local)
{
	const struct lg_config *cfg = e->cfg;
	struct sockq *q = e->q[i];
	int fd;

	fd = socket(cfg->target.ss_family, (cfg->tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC,
		    0);
	if (fd < 0)
		return -errno;
	q->fd = fd;
	e->pfd[i] = (struct pollfd){.fd = fd, .events = POLLIN};
	if (cfg->rcvbuf > 0) {
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &cfg->rcvbuf, sizeof(cfg->rcvbuf));
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &cfg->rcvbuf, sizeof(cfg->rcvbuf));
	}
	if (cfg->local_len && bind(fd, (const struct sockaddr *)&cfg->local, cfg->local_len) < 0)
		return -errno;
	if (connect(fd, (const struct sockaddr *)&cfg->target, cfg->target_len) < 0)
		return -errno;
	local->len = sizeof(local->addr);
	if (getsockname(fd, (struct sockaddr *)&local->addr, &local->len) < 0)
		return -errno;
	if (cfg->tcp) {
		/* Writes block (a short write only means "the rest next"), but
		 * not forever: a server that stops reading ends the run. */
		struct timeval tv = {.tv_sec = 1, .tv_usec = 0};
		int one = 1;

		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		q->rx = malloc(LG_RECV_MAX);
		return q->rx ? 0 : -ENOMEM;
	}
	if (cfg->mode == LG_CLOSED && e->nsock == 1) {
		struct timeval tv = {.tv_sec = 0, .tv_usec = RECV_TIMEOUT_US};

		if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0)
			return -errno;
	}
	return 0;
}

static int setup(struct eng *e)
{
	struct lg_local locals[LG_MAX_SOCKETS];
	int r;

	e->nslots = e->cfg->window;
	e->slots = calloc(e->nslots, sizeof(*e->slots));
	e->freel = calloc(e->nslots, sizeof(*e->freel));
	e->rbuf = malloc((size_t)LG_BATCH * LG_RECV_MAX);
	if (!e->slots || !e->freel || !e->rbuf)
		return -ENOMEM;
	/* Pop order: slot 0 first. */
	for (uint32_t s = 0; s < e->nslots; s++)
		e->freel[s] = e->nslots - 1 - s;
	e->nfree = e->nslots;
	e->head = e->tail = -1;
	for (unsigned int k = 0; k < LG_BATCH; k++) {
		e->riov[k] = (struct iovec){.iov_base = e->rbuf[k], .iov_len = LG_RECV_MAX};
		e->rmsg[k].msg_hdr = (struct msghdr){.msg_iov = &e->riov[k], .msg_iovlen = 1};
	}
	for (unsigned int i = 0; i < e->nsock; i++) {
		struct sockq *q = calloc(1, sizeof(*q));

		if (!q)
			return -ENOMEM;
		q->fd = -1;
		e->q[i] = q;
		for (unsigned int k = 0; k < LG_BATCH; k++) {
			q->iov[k].iov_base = q->buf[k];
			q->msg[k].msg_hdr = (struct msghdr){.msg_iov = &q->iov[k], .msg_iovlen = 1};
		}
		r = open_socket(e, i, &locals[i]);
		if (r < 0) {
			snprintf(e->args->errmsg, sizeof(e->args->errmsg), "socket/bind/connect: %s",
				 strerror(-r));
			return r;
		}
	}
	r = e->ops->create(&e->sc, e->cfg, e->tid, locals, e->nsock);
	if (r < 0)
		snprintf(e->args->errmsg, sizeof(e->args->errmsg), "%s scenario: %s",
			 e->ops->name, strerror(-r));
	return r;
}

static void teardown(struct eng *e)
{
	if (e->sc)
		e->ops->destroy(e->sc);
	for (unsigned int i = 0; i < e->nsock; i++) {
		if (!e->q[i])
			continue;
		if (e->q[i]->fd >= 0)
			close(e->q[i]->fd);
		free(e->q[i]->rx);
		free(e->q[i]);
	}
	free(e->slots);
	free(e->freel);
	free(e->rbuf);
}

static void wait_input(struct eng *e, uint64_t now)
{
	uint64_t until = now + MAX_WAIT_NS;
	struct timespec ts;

	if (e->head >= 0 && e->slots[e->head].deadline_ns < until)
		until = e->slots[e->head].deadline_ns;
	if (may_offer(e, now)) {
		if (e->end_ns < until)
			until = e->end_ns;
		if (e->cfg->mode == LG_OPEN && next_pace_ns(e) < until)
			until = next_pace_ns(e);
	}
	if (until <= now)
		return;
	ts.tv_sec = (time_t)((until - now) / 1000000000ull);
	ts.tv_nsec = (long)((until - now) % 1000000000ull);
	ppoll(e->pfd, e->nsock, &ts, NULL);
}

static void run(struct eng *e)
{
	bool blocking = e->cfg->mode == LG_CLOSED && e->nsock == 1 && !e->cfg->tcp;
	uint64_t now = lg_now_ns();

	if (e->cfg->mode == LG_CLOSED)
		while (may_offer(e, now) && start_new(e))
			;
	for (;;) {
		int got = 0;

		now = lg_now_ns();
		expire(e, now);
		if (e->cfg->mode == LG_OPEN)
			pace(e, now);
		flush_all(e);
		if (e->head < 0 && e->nfree == e->nslots && !may_offer(e, now) && queues_empty(e))
			break;
		if (blocking) {
			/* Waits for the first answer (at most RECV_TIMEOUT_US), then
			 * takes what else is there. */
			receive(e, 0, MSG_WAITFORONE);
			flush_all(e);
			continue;
		}
		for (unsigned int i = 0; i < e->nsock; i++)
			got += receive(e, i, MSG_DONTWAIT);
		flush_all(e);
		if (!got)
			wait_input(e, lg_now_ns());
	}
}

void *lg_thread_main(void *arg)
{
	struct lg_thread_args *a = arg;
	struct eng e = {
		.cfg = a->cfg,
		.ops = a->ops,
		.args = a,
		.st = a->stats,
		.tid = a->tid,
		.nsock = a->cfg->sockets,
		.gso = a->cfg->gso && !a->cfg->tcp,
	};

	lg_hist_init(&a->stats->lat);
	e.end_ns = a->cfg->duration_ns ? a->start_ns + a->cfg->duration_ns : UINT64_MAX;
	a->err = setup(&e);
	if (a->err == 0)
		run(&e);
	teardown(&e);
	return NULL;
}
