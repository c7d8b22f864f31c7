/* SPDX-License-Identifier: MIT */
/*
 * tcp.c - a worker's SIP over TCP: listeners, outgoing connections, stream
 * framing, CRLF keep-alive, limits.
 *
 * Framing (RFC 3261 §18.3): the header block ends at the first CRLFCRLF and
 * the body is Content-Length bytes ("l" is the compact form); on a stream the
 * header is required. tcp_frame() does this on its own, without the message
 * parser (which was not in the tree when this was written): it only finds
 * the end; the parser then sees each framed message as a whole.
 *
 * Keep-alive (RFC 5626 §4.4.1 / §3.5.1): between messages a CRLFCRLF "ping"
 * is answered with a single CRLF "pong"; a lone CRLF is skipped (RFC 3261
 * §7.5 lets empty lines precede a start line). "\r\n" alone at the end of the
 * buffer waits for the next bytes, since it may be the first half of a ping.
 *
 * Connections live in a slot table of max_conns entries; a struct tcp_handle
 * is (slot, generation) and the generation moves on when the slot is freed,
 * so a handle kept past the close matches nothing (-ENOTCONN).
 *
 * Idle connections are found in O(1): every byte read or written moves the
 * connection to the tail of a last-activity list; tcp_expire_idle() closes
 * from the head while the head is idle.
 *
 * A connection closed while one of its callbacks runs (tcp_close() or
 * tcp_send() failing from inside the message callback) is taken out of the
 * table and the loop at once and freed when the callback returns.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "sipreg/loop.h"
#include "sipreg/transport.h"

#define RBUF_INITIAL 4096u
#define ACCEPTS_PER_EVENT 64

struct tcp_conn {
	struct tcp_ctx *ctx;
	int fd;
	uint32_t slot, gen;
	bool connecting;
	bool dead;
	unsigned busy; /* inside one of its callbacks */
	tcp_connect_cb ccb;
	void *carg;

	char *rbuf;
	size_t rlen, rcap;
	/* the incomplete message at the start of rbuf: bytes already searched
	 * for its blank line, and its length once the headers are complete
	 * (0: unknown), so that a message arriving in small pieces is not
	 * rescanned from its start each time (quadratic for a slow sender) */
	size_t fscan, fneed;
	char *wbuf;
	size_t woff, wlen, wcap;

	uint64_t last; /* last activity, ms */
	struct tcp_conn *prev, *next;

	struct sockaddr_storage peer;
	socklen_t peerlen;
};

struct tcp_listener {
	struct tcp_ctx *ctx;
	int fd;
	bool paused; /* out of fds: not watched until one is freed */
	struct tcp_listener *next;
};

struct tcp_slot {
	struct tcp_conn *c;
	uint32_t gen;
};

struct tcp_ctx {
	struct loop *loop;
	struct tcp_opts o;
	tcp_message_cb on_message;
	tcp_close_cb on_close;
	void *arg;

	struct tcp_slot *slots;
	uint32_t *free_slots;
	unsigned nfree;

	struct tcp_conn *lru_head, *lru_tail;
	struct tcp_listener *listeners;
	unsigned paused;
	struct tcp_stats st;
};

uint64_t tcp_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------------------------ */
/* Framing                                                                   */

static bool is_ws(char c)
{
	return c == ' ' || c == '\t';
}

/* Is [p, e) a Content-Length header line? Returns 1 with *v set, 0 if it is
 * another header, -EBADMSG for a bad value, -E2BIG for a value above max. */
static int content_length_line(const char *p, const char *e, size_t max, size_t *v)
{
	const char *colon = memchr(p, ':', (size_t)(e - p));
	const char *n_end;
	size_t n = 0, digits = 0;

	if (!colon)
		return 0;
	for (n_end = colon; n_end > p && is_ws(n_end[-1]); n_end--)
		;
	if (!((n_end - p == 14 && strncasecmp(p, "Content-Length", 14) == 0) ||
	      (n_end - p == 1 && (*p == 'l' || *p == 'L'))))
		return 0;
	for (p = colon + 1; p < e && is_ws(*p); p++)
		;
	for (; p < e && *p >= '0' && *p <= '9'; p++, digits++) {
		if (n > max)
			continue; /* keep scanning, no overflow */
		n = n * 10 + (size_t)(*p - '0');
	}
	for (; p < e && is_ws(*p); p++)
		;
	if (!digits || p != e)
		return -EBADMSG;
	if (n > max)
		return -E2BIG;
	*v = n;
	return 1;
}

/* tcp_frame() that resumes: the first `scanned` bytes were searched for
 * the blank line before, without success. *total is set (else left) once
 * the header block is complete and the length known. */
static ssize_t frame(const char *buf, size_t len, size_t max, size_t scanned,
		     size_t *total_out)
{
	size_t lim = len < max ? len : max, cl = 0, v, hdr_len, total;
	size_t from = scanned > 3 ? scanned - 3 : 0;
	const char *end = NULL, *p, *e;
	bool found = false;
	int r;

	if (from < lim)
		end = memmem(buf + from, lim - from, "\r\n\r\n", 4);
	if (!end)
		return len >= max ? -E2BIG : -EAGAIN;
	hdr_len = (size_t)(end - buf) + 4;
	/* header lines: after the start line, up to the blank line */
	p = (const char *)memchr(buf, '\n', (size_t)(end - buf) + 2) + 1;
	while (p < end + 2) {
		e = memchr(p, '\r', (size_t)(end + 2 - p));
		if (!e) /* a stray CR right before the blank line */
			break;
		if (!is_ws(*p)) { /* not a folded continuation */
			r = content_length_line(p, e, max, &v);
			if (r < 0)
				return r;
			if (r == 1) {
				if (found && v != cl)
					return -EBADMSG;
				cl = v;
				found = true;
			}
		}
		p = e + 2;
	}
	if (!found)
		return -EBADMSG;
	total = hdr_len + cl;
	if (total > max)
		return -E2BIG;
	*total_out = total;
	if (len < total)
		return -EAGAIN;
	return (ssize_t)total;
}

ssize_t tcp_frame(const char *buf, size_t len, size_t max)
{
	size_t total;

	return frame(buf, len, max, 0, &total);
}

/* ------------------------------------------------------------------------ */
/* Connections                                                               */

static void lru_unlink(struct tcp_ctx *ctx, struct tcp_conn *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else if (ctx->lru_head == c)
		ctx->lru_head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	else if (ctx->lru_tail == c)
		ctx->lru_tail = c->prev;
	c->prev = c->next = NULL;
}

static void touch(struct tcp_conn *c)
{
	struct tcp_ctx *ctx = c->ctx;

	c->last = tcp_now_ms();
	if (ctx->lru_tail == c)
		return;
	lru_unlink(ctx, c);
	c->prev = ctx->lru_tail;
	if (ctx->lru_tail)
		ctx->lru_tail->next = c;
	else
		ctx->lru_head = c;
	ctx->lru_tail = c;
}

static struct tcp_handle handle_of(const struct tcp_conn *c)
{
	return (struct tcp_handle){c->slot, c->gen};
}

static struct tcp_conn *lookup(const struct tcp_ctx *ctx, struct tcp_handle h)
{
	if (h.slot >= ctx->o.max_conns)
		return NULL;
	if (!ctx->slots[h.slot].c || ctx->slots[h.slot].gen != h.gen)
		return NULL;
	return ctx->slots[h.slot].c;
}

static void conn_free(struct tcp_conn *c)
{
	free(c->rbuf);
	free(c->wbuf);
	free(c);
}

/* A listener that hit EMFILE/ENFILE would fire forever under level
 * triggering (the connection stays in the backlog): it is unwatched until a
 * connection of this ctx closes or tcp_expire_idle() runs. */
static void listeners_resume(struct tcp_ctx *ctx)
{
	struct tcp_listener *l;

	if (!ctx->paused)
		return;
	for (l = ctx->listeners; l; l = l->next) {
		if (l->paused && loop_mod(ctx->loop, l->fd, LOOP_READ) == 0) {
			l->paused = false;
			ctx->paused--;
		}
	}
}

/* Take c out of the table, the loop and the idle list, close its fd, tell
 * the owner. Freed now, or when its running callback returns. */
static void conn_close(struct tcp_conn *c, int err)
{
	struct tcp_ctx *ctx = c->ctx;
	struct tcp_handle h = handle_of(c);
	struct tcp_slot *s = &ctx->slots[c->slot];

	if (c->dead)
		return;
	c->dead = true;
	s->c = NULL;
	if (++s->gen == 0)
		s->gen = 1;
	ctx->free_slots[ctx->nfree++] = c->slot;
	lru_unlink(ctx, c);
	loop_del(ctx->loop, c->fd);
	close(c->fd);
	c->fd = -1;
	ctx->st.closed++;
	ctx->st.open--;
	listeners_resume(ctx);
	c->busy++;
	if (c->connecting && c->ccb) {
		tcp_connect_cb ccb = c->ccb;

		c->ccb = NULL;
		ccb(c->carg, ctx, h, err ? err : -ECONNABORTED);
	}
	if (ctx->on_close)
		ctx->on_close(ctx->arg, ctx, h, err);
	c->busy--;
	if (!c->busy)
		conn_free(c);
}

static void conn_io(struct loop *loop, int fd, unsigned events, void *arg);


static int conn_new(struct tcp_ctx *ctx, int fd, const struct sockaddr *peer,
		    socklen_t peerlen, unsigned events, struct tcp_conn **ret)
{
	struct tcp_conn *c;
	uint32_t slot;
	int r;

	if (!ctx->nfree)
		return -EMFILE;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->rcap = ctx->o.max_msg < RBUF_INITIAL ? ctx->o.max_msg : RBUF_INITIAL;
	c->rbuf = malloc(c->rcap);
	if (!c->rbuf) {
		free(c);
		return -ENOMEM;
	}
	c->ctx = ctx;
	c->fd = fd;
	memcpy(&c->peer, peer, peerlen);
	c->peerlen = peerlen;
	r = loop_add(ctx->loop, fd, events, conn_io, c);
	if (r < 0) {
		conn_free(c);
		return r;
	}
	slot = ctx->free_slots[--ctx->nfree];
	c->slot = slot;
	c->gen = ctx->slots[slot].gen;
	ctx->slots[slot].c = c;
	ctx->st.open++;
	touch(c);
	*ret = c;
	return 0;
}

static void want_write(struct tcp_conn *c, bool on)
{
	loop_mod(c->ctx->loop, c->fd, on ? LOOP_READ | LOOP_WRITE : LOOP_READ);
}

/* Write or queue; a negative return means the connection must close. */
static int conn_write(struct tcp_conn *c, const char *buf, size_t len)
{
	struct tcp_ctx *ctx = c->ctx;
	ssize_t n;

	if (!c->wlen && !c->connecting) {
		do
			n = send(c->fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		while (n < 0 && errno == EINTR);
		if (n < 0 && errno != EAGAIN)
			return -errno;
		if (n > 0) {
			ctx->st.tx_bytes += (size_t)n;
			touch(c);
			buf += n;
			len -= (size_t)n;
		}
		if (!len)
			return 0;
	}
	if (c->wlen + len > ctx->o.max_wqueue)
		return -ENOBUFS;
	if (c->woff && c->woff + c->wlen + len > c->wcap) {
		memmove(c->wbuf, c->wbuf + c->woff, c->wlen);
		c->woff = 0;
	}
	if (c->wlen + len > c->wcap) {
		size_t cap = c->wcap ? c->wcap : 4096;
		char *w;

		while (cap < c->wlen + len)
			cap *= 2;
		w = realloc(c->wbuf, cap);
		if (!w)
			return -ENOMEM;
		c->wbuf = w;
		c->wcap = cap;
	}
	memcpy(c->wbuf + c->woff + c->wlen, buf, len);
	c->wlen += len;
	if (!c->connecting)
		want_write(c, true);
	return 0;
}

static void conn_flush(struct tcp_conn *c)
{
	ssize_t n;

	while (c->wlen) {
		n = send(c->fd, c->wbuf + c->woff, c->wlen, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return;
			c->ctx->st.errors++;
			conn_close(c, -errno);
			return;
		}
		c->ctx->st.tx_bytes += (size_t)n;
		c->woff += (size_t)n;
		c->wlen -= (size_t)n;
		touch(c);
	}
	c->woff = 0;
	want_write(c, false);
}

static void finish_connect(struct tcp_conn *c)
{
	struct tcp_ctx *ctx = c->ctx;
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	c->busy++;
	if (err) {
		ctx->st.errors++;
		conn_close(c, -err); /* tells the connect callback first */
	} else {
		c->connecting = false;
		ctx->st.connected++;
		touch(c);
		want_write(c, c->wlen > 0);
		if (c->ccb)
			c->ccb(c->carg, ctx, handle_of(c), 0);
	}
	c->busy--;
	if (c->dead && !c->busy)
		conn_free(c);
}

/* Frame and deliver what rbuf holds. Returns false if c was closed. */
static bool conn_deliver(struct tcp_conn *c)
{
	struct tcp_ctx *ctx = c->ctx;
	size_t off = 0;
	ssize_t r;

	c->busy++;
	while (off < c->rlen && !c->dead) {
		const char *p = c->rbuf + off;
		size_t avail = c->rlen - off;

		if (*p == '\r' || *p == '\n') {
			if (avail >= 4 && memcmp(p, "\r\n\r\n", 4) == 0) {
				ctx->st.pings++;
				off += 4;
				r = conn_write(c, "\r\n", 2);
				if (r < 0) {
					ctx->st.errors++;
					conn_close(c, (int)r);
				}
				continue;
			}
			if (*p == '\n') {
				off++;
				continue;
			}
			/* "\r", "\r\n", "\r\n\r": maybe the start of a ping */
			if (avail < 4 && memcmp(p, "\r\n\r", avail) == 0)
				break;
			off += p[1] == '\n' ? 2 : 1;
			continue;
		}
		if (c->fneed) {
			if (avail < c->fneed)
				break;
			r = (ssize_t)c->fneed;
		} else {
			r = frame(p, avail, ctx->o.max_msg, c->fscan, &c->fneed);
		}
		if (r == -EAGAIN) {
			c->fscan = avail;
			break;
		}
		if (r < 0) {
			if (r == -E2BIG)
				ctx->st.oversize++;
			else
				ctx->st.bad_frames++;
			conn_close(c, (int)r);
			break;
		}
		c->fscan = c->fneed = 0;
		ctx->st.rx_messages++;
		ctx->on_message(ctx->arg, ctx, handle_of(c), p, (size_t)r,
				(const struct sockaddr *)&c->peer, c->peerlen);
		off += (size_t)r;
	}
	c->busy--;
	if (c->dead) {
		if (!c->busy)
			conn_free(c);
		return false;
	}
	if (off) {
		memmove(c->rbuf, c->rbuf + off, c->rlen - off);
		c->rlen -= off;
	}
	return true;
}

/* Only CR/LF left: an orderly end, not a message cut short. */
static bool only_crlf(const char *p, size_t n)
{
	while (n--)
		if (*p != '\r' && *p != '\n')
			return false;
		else
			p++;
	return true;
}

static void conn_read(struct tcp_conn *c)
{
	struct tcp_ctx *ctx = c->ctx;
	ssize_t n;

	if (c->rlen == c->rcap) {
		/* framing refuses a message longer than max_msg before the
		 * buffer is full at max_msg: this is a safety net */
		size_t cap = c->rcap * 2 < ctx->o.max_msg ? c->rcap * 2 : ctx->o.max_msg;
		char *b;

		if (c->rcap >= ctx->o.max_msg) {
			ctx->st.oversize++;
			conn_close(c, -E2BIG);
			return;
		}
		b = realloc(c->rbuf, cap);
		if (!b) {
			ctx->st.errors++;
			conn_close(c, -ENOMEM);
			return;
		}
		c->rbuf = b;
		c->rcap = cap;
	}
	n = read(c->fd, c->rbuf + c->rlen, c->rcap - c->rlen);
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		ctx->st.errors++;
		conn_close(c, -errno);
		return;
	}
	if (n == 0) {
		if (c->rlen && !only_crlf(c->rbuf, c->rlen)) {
			ctx->st.truncated++;
			conn_close(c, -ECONNABORTED);
		} else {
			conn_close(c, 0);
		}
		return;
	}
	ctx->st.rx_bytes += (size_t)n;
	c->rlen += (size_t)n;
	touch(c);
	conn_deliver(c);
}

static void conn_io(struct loop *loop, int fd, unsigned events, void *arg)
{
	struct tcp_conn *c = arg;

	(void)loop;
	(void)fd;
	if (c->connecting) {
		finish_connect(c);
		return;
	}
	if (events & LOOP_WRITE) {
		c->busy++;
		conn_flush(c);
		c->busy--;
		if (c->dead) {
			conn_free(c);
			return;
		}
	}
	if (events & LOOP_READ)
		conn_read(c);
}

/* ------------------------------------------------------------------------ */
/* Listeners                                                                 */

static void listener_io(struct loop *loop, int fd, unsigned events, void *arg)
{
	struct tcp_listener *l = arg;
	struct tcp_ctx *ctx = l->ctx;
	struct sockaddr_storage ss;
	struct tcp_conn *c;
	socklen_t len;
	int i, cfd, one = 1;

	(void)loop;
	(void)events;
	for (i = 0; i < ACCEPTS_PER_EVENT; i++) {
		len = sizeof(ss);
		cfd = accept4(fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EAGAIN)
				return;
			ctx->st.errors++;
			if ((errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			     errno == ENOMEM) &&
			    !l->paused && loop_mod(ctx->loop, fd, 0) == 0) {
				l->paused = true;
				ctx->paused++;
			}
			return;
		}
		if (!ctx->nfree) {
			/* accept and close: leaving it in the backlog would
			 * keep the level-triggered listener firing */
			ctx->st.rejected++;
			close(cfd);
			continue;
		}
		setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (conn_new(ctx, cfd, (struct sockaddr *)&ss, len, LOOP_READ, &c) < 0) {
			ctx->st.errors++;
			close(cfd);
			continue;
		}
		ctx->st.accepted++;
	}
}

static int check_addr(const struct sockaddr *addr, socklen_t addrlen)
{
	if (addr->sa_family == AF_INET && addrlen >= sizeof(struct sockaddr_in))
		return 0;
	if (addr->sa_family == AF_INET6 && addrlen >= sizeof(struct sockaddr_in6))
		return 0;
	return -EINVAL;
}

int tcp_listen(struct tcp_ctx *ctx, const struct sockaddr *addr, socklen_t addrlen,
	       struct sockaddr *bound, socklen_t *boundlen)
{
	struct tcp_listener *l;
	int fd, one = 1, r;

	if (check_addr(addr, addrlen) < 0)
		return -EINVAL;
	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	fd = socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		free(l);
		return -errno;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0 ||
	    (addr->sa_family == AF_INET6 &&
	     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0) ||
	    bind(fd, addr, addrlen) < 0 || listen(fd, (int)ctx->o.backlog) < 0 ||
	    (bound && getsockname(fd, bound, boundlen) < 0)) {
		r = -errno;
		goto fail;
	}
	l->ctx = ctx;
	l->fd = fd;
	r = loop_add(ctx->loop, fd, LOOP_READ, listener_io, l);
	if (r < 0)
		goto fail;
	l->next = ctx->listeners;
	ctx->listeners = l;
	return 0;
fail:
	close(fd);
	free(l);
	return r;
}

int tcp_connect(struct tcp_ctx *ctx, const struct sockaddr *addr, socklen_t addrlen,
		tcp_connect_cb cb, void *arg, struct tcp_handle *h)
{
	struct tcp_conn *c;
	int fd, one = 1, r;

	if (check_addr(addr, addrlen) < 0)
		return -EINVAL;
	if (!ctx->nfree)
		return -EMFILE;
	fd = socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, addr, addrlen) < 0 && errno != EINPROGRESS) {
		r = -errno;
		close(fd);
		return r;
	}
	/* completion (even an immediate one) is reported from the loop */
	r = conn_new(ctx, fd, addr, addrlen, LOOP_WRITE, &c);
	if (r < 0) {
		close(fd);
		return r;
	}
	c->connecting = true;
	c->ccb = cb;
	c->carg = arg;
	*h = handle_of(c);
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Public calls                                                              */

int tcp_send(struct tcp_ctx *ctx, struct tcp_handle h, const void *buf, size_t len)
{
	struct tcp_conn *c = lookup(ctx, h);
	int r;

	if (!c)
		return -ENOTCONN;
	r = conn_write(c, buf, len);
	if (r < 0) {
		ctx->st.errors++;
		conn_close(c, r);
	}
	return r;
}

int tcp_close(struct tcp_ctx *ctx, struct tcp_handle h)
{
	struct tcp_conn *c = lookup(ctx, h);

	if (!c)
		return -ENOTCONN;
	conn_close(c, 0);
	return 0;
}

bool tcp_handle_valid(const struct tcp_ctx *ctx, struct tcp_handle h)
{
	return lookup(ctx, h) != NULL;
}

int tcp_peer(const struct tcp_ctx *ctx, struct tcp_handle h, struct sockaddr_storage *ss,
	     socklen_t *len)
{
	const struct tcp_conn *c = lookup(ctx, h);

	if (!c)
		return -ENOTCONN;
	memcpy(ss, &c->peer, c->peerlen);
	*len = c->peerlen;
	return 0;
}

unsigned tcp_expire_idle(struct tcp_ctx *ctx, uint64_t now_ms)
{
	unsigned n = 0;

	listeners_resume(ctx);
	while (ctx->lru_head && now_ms - ctx->lru_head->last >= ctx->o.idle_ms &&
	       now_ms >= ctx->lru_head->last) {
		ctx->st.idle_closed++;
		conn_close(ctx->lru_head, -ETIMEDOUT);
		n++;
	}
	return n;
}

int64_t tcp_next_idle(const struct tcp_ctx *ctx, uint64_t now_ms)
{
	uint64_t due;

	if (!ctx->lru_head)
		return -1;
	due = ctx->lru_head->last + ctx->o.idle_ms;
	return due <= now_ms ? 0 : (int64_t)(due - now_ms);
}

void tcp_ctx_stats(const struct tcp_ctx *ctx, struct tcp_stats *out)
{
	*out = ctx->st;
}

int tcp_ctx_new(struct tcp_ctx **ret, struct loop *loop, const struct tcp_opts *opts,
		tcp_message_cb on_message, tcp_close_cb on_close, void *arg)
{
	struct tcp_ctx *ctx;
	unsigned i;

	if (!on_message)
		return -EINVAL;
	ctx = calloc(1, sizeof(*ctx));
	if (!ctx)
		return -ENOMEM;
	if (opts)
		ctx->o = *opts;
	if (!ctx->o.max_conns)
		ctx->o.max_conns = 1024;
	if (!ctx->o.max_msg)
		ctx->o.max_msg = 65535;
	if (!ctx->o.idle_ms)
		ctx->o.idle_ms = 300000;
	if (!ctx->o.max_wqueue)
		ctx->o.max_wqueue = 1u << 20;
	if (!ctx->o.backlog)
		ctx->o.backlog = 511;
	ctx->loop = loop;
	ctx->on_message = on_message;
	ctx->on_close = on_close;
	ctx->arg = arg;
	ctx->slots = calloc(ctx->o.max_conns, sizeof(*ctx->slots));
	ctx->free_slots = calloc(ctx->o.max_conns, sizeof(*ctx->free_slots));
	if (!ctx->slots || !ctx->free_slots) {
		tcp_ctx_free(ctx);
		return -ENOMEM;
	}
	/* free stack: slot 0 is taken first */
	for (i = 0; i < ctx->o.max_conns; i++) {
		ctx->slots[i].gen = 1;
		ctx->free_slots[i] = ctx->o.max_conns - 1 - i;
	}
	ctx->nfree = ctx->o.max_conns;
	*ret = ctx;
	return 0;
}

void tcp_ctx_free(struct tcp_ctx *ctx)
{
	struct tcp_listener *l, *next;

	if (!ctx)
		return;
	ctx->on_close = NULL;
	while (ctx->lru_head)
		conn_close(ctx->lru_head, 0);
	for (l = ctx->listeners; l; l = next) {
		next = l->next;
		loop_del(ctx->loop, l->fd);
		close(l->fd);
		free(l);
	}
	free(ctx->slots);
	free(ctx->free_slots);
	free(ctx);
}
