/* SPDX-License-Identifier: MIT */
/* Tests of the TCP transport (transport.h): framing, keep-alive, limits,
 * handles, outgoing connections; over 127.0.0.1 and ::1, ephemeral ports. */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sipreg/loop.h"
#include "sipreg/transport.h"

static const char REG[] = "REGISTER sip:example.com SIP/2.0\r\n"
			  "Via: SIP/2.0/TCP 192.0.2.1:5060;branch=z9hG4bK776asdhds\r\n"
			  "Max-Forwards: 70\r\n"
			  "To: <sip:alice@example.com>\r\n"
			  "From: <sip:alice@example.com>;tag=1928301774\r\n"
			  "Call-ID: a84b4c76e66710@pc33\r\n"
			  "CSeq: 1 REGISTER\r\n"
			  "Contact: <sip:alice@192.0.2.1;transport=tcp>\r\n"
			  "Content-Length: 12\r\n"
			  "\r\n"
			  "body-12bytes";

static const char OPT[] = "OPTIONS sip:example.com SIP/2.0\r\n"
			  "Call-ID: x\r\n"
			  "l: 0\r\n"
			  "\r\n";

/* ------------------------------------------------------------------------ */
/* tcp_frame                                                                 */

Test(tcp_frame, complete_and_every_prefix)
{
	size_t len = strlen(REG), i;

	cr_assert_eq(tcp_frame(REG, len, 65535), (ssize_t)len);
	/* trailing bytes of the next message are not counted */
	char two[1024];

	memcpy(two, REG, len);
	memcpy(two + len, OPT, strlen(OPT));
	cr_assert_eq(tcp_frame(two, len + strlen(OPT), 65535), (ssize_t)len);
	cr_assert_eq(tcp_frame(OPT, strlen(OPT), 65535), (ssize_t)strlen(OPT));
	for (i = 1; i < len; i++)
		cr_assert_eq(tcp_frame(REG, i, 65535), -EAGAIN, "prefix %zu", i);
}

Test(tcp_frame, content_length_forms)
{
	static const struct {
		const char *msg;
		ssize_t want;
	} v[] = {
		{"A b SIP/2.0\r\nContent-Length: 3\r\n\r\nabc", 0},
		{"A b SIP/2.0\r\ncontent-length:3\r\n\r\nabc", 0},
		{"A b SIP/2.0\r\nCONTENT-LENGTH :   3  \r\n\r\nabc", 0},
		{"A b SIP/2.0\r\nL: 3\r\n\r\nabc", 0},
		{"A b SIP/2.0\r\nl: 0003\r\n\r\nabc", 0},
		/* the same value twice is fine */
		{"A b SIP/2.0\r\nl: 1\r\nContent-Length: 1\r\n\r\nx", 0},
		/* folded continuation lines are not headers */
		{"A b SIP/2.0\r\nX: a\r\n l: 9\r\nl: 0\r\n\r\n", 0},
		/* not Content-Length, though it starts like it */
		{"A b SIP/2.0\r\nContent-Lengthy: 9\r\nl: 0\r\n\r\n", 0},
		/* RFC 3261 §20.14: required on streams */
		{"A b SIP/2.0\r\nCall-ID: x\r\n\r\n", -EBADMSG},
		{"A b SIP/2.0\r\n\r\n", -EBADMSG},
		{"A b SIP/2.0\r\nl: 1\r\nl: 2\r\n\r\nxx", -EBADMSG},
		{"A b SIP/2.0\r\nl: \r\n\r\n", -EBADMSG},
		{"A b SIP/2.0\r\nl: -1\r\n\r\n", -EBADMSG},
		{"A b SIP/2.0\r\nl: 1 2\r\n\r\n", -EBADMSG},
		{"A b SIP/2.0\r\nl: 0x10\r\n\r\n", -EBADMSG},
		{"A b SIP/2.0\r\nl: 99999999999999999999999999\r\n\r\n", -E2BIG},
		{"A b SIP/2.0\r\nl: 1000\r\n\r\n", -E2BIG},
		/* a stray CR before the blank line must not crash the scan */
		{"A b SIP/2.0\r\nl: 0\r\nX: a\r\r\n\r\n", 0},
	};
	size_t i;

	/* want 0: the whole string is one message */
	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		ssize_t want = v[i].want ? v[i].want : (ssize_t)strlen(v[i].msg);

		cr_assert_eq(tcp_frame(v[i].msg, strlen(v[i].msg), 100), want,
			     "#%zu: %zd", i, tcp_frame(v[i].msg, strlen(v[i].msg), 100));
	}
}

Test(tcp_frame, header_block_too_long)
{
	char buf[200];

	memset(buf, 'a', sizeof(buf));
	cr_assert_eq(tcp_frame(buf, 99, 100), -EAGAIN);
	cr_assert_eq(tcp_frame(buf, 100, 100), -E2BIG);
	cr_assert_eq(tcp_frame(buf, 200, 100), -E2BIG);
	/* exactly max is allowed */
	cr_assert_eq(tcp_frame(REG, strlen(REG), strlen(REG)), (ssize_t)strlen(REG));
	cr_assert_eq(tcp_frame(REG, strlen(REG), strlen(REG) - 1), -E2BIG);
}

/* ------------------------------------------------------------------------ */
/* Fixture: one loop, a server ctx listening on loopback:0                   */

#define MAXM 64

struct srv {
	struct loop *loop;
	struct tcp_ctx *ctx;
	struct sockaddr_storage addr;
	socklen_t addrlen;
	int nmsg;
	char *msg[MAXM];
	size_t len[MAXM];
	struct tcp_handle h[MAXM];
	int nclose;
	int close_err[MAXM];
	struct tcp_handle closed[MAXM];
	int reply;        /* answer each message with "SIP/2.0 200 OK..." */
	int close_in_cb;  /* tcp_close() from inside the message callback */
};

static const char RESP[] = "SIP/2.0 200 OK\r\nl: 0\r\n\r\n";

static void on_msg(void *arg, struct tcp_ctx *ctx, struct tcp_handle h, const char *buf,
		   size_t len, const struct sockaddr *peer, socklen_t peerlen)
{
	struct srv *s = arg;
	int i = s->nmsg++;

	cr_assert_lt(i, MAXM);
	cr_assert_gt(peerlen, 0);
	cr_assert(peer->sa_family == AF_INET || peer->sa_family == AF_INET6);
	s->msg[i] = malloc(len);
	memcpy(s->msg[i], buf, len);
	s->len[i] = len;
	s->h[i] = h;
	if (s->reply)
		cr_assert_eq(tcp_send(ctx, h, RESP, strlen(RESP)), 0);
	if (s->close_in_cb) {
		cr_assert_eq(tcp_close(ctx, h), 0);
		cr_assert_eq(tcp_send(ctx, h, "x", 1), -ENOTCONN);
	}
}

static void on_close(void *arg, struct tcp_ctx *ctx, struct tcp_handle h, int err)
{
	struct srv *s = arg;

	cr_assert_lt(s->nclose, MAXM);
	cr_assert_not(tcp_handle_valid(ctx, h), "gone before the callback");
	s->close_err[s->nclose] = err;
	s->closed[s->nclose++] = h;
}

static socklen_t loopback(int family, struct sockaddr_storage *ss, unsigned port)
{
	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		sin->sin_family = AF_INET;
		sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		sin->sin_port = htons(port);
		return sizeof(*sin);
	}
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	sin6->sin6_family = AF_INET6;
	sin6->sin6_addr = in6addr_loopback;
	sin6->sin6_port = htons(port);
	return sizeof(*sin6);
}

static void srv_up(struct srv *s, int family, const struct tcp_opts *o)
{
	struct sockaddr_storage any;
	socklen_t len = loopback(family, &any, 0);

	memset(s, 0, sizeof(*s));
	cr_assert_eq(loop_new(&s->loop, 0, 0, 0), 0);
	cr_assert_eq(tcp_ctx_new(&s->ctx, s->loop, o, on_msg, on_close, s), 0);
	s->addrlen = sizeof(s->addr);
	cr_assert_eq(tcp_listen(s->ctx, (struct sockaddr *)&any, len,
				(struct sockaddr *)&s->addr, &s->addrlen),
		     0);
	cr_assert_eq(s->addrlen, len);
}

static void srv_down(struct srv *s)
{
	int i;

	for (i = 0; i < s->nmsg; i++)
		free(s->msg[i]);
	tcp_ctx_free(s->ctx);
	loop_free(s->loop);
}

static int dial(struct srv *s)
{
	int fd = socket(s->addr.ss_family, SOCK_STREAM, 0);

	cr_assert_geq(fd, 0);
	cr_assert_eq(connect(fd, (struct sockaddr *)&s->addr, s->addrlen), 0);
	return fd;
}

static void put(int fd, const void *p, size_t n)
{
	cr_assert_eq(write(fd, p, n), (ssize_t)n);
}

/* Turn the loop until cond holds (bounded). */
#define RUN_UNTIL(s, cond)                                                   \
	do {                                                                 \
		int turns_ = 0;                                              \
		while (!(cond) && turns_++ < 400)                            \
			loop_once((s)->loop, 10);                            \
		cr_assert(cond, "timed out waiting for " #cond);             \
	} while (0)

static uint64_t rx_bytes(struct srv *s)
{
	struct tcp_stats st;

	tcp_ctx_stats(s->ctx, &st);
	return st.rx_bytes;
}

/* Read exactly n bytes from a blocking socket with a 2 s bound. */
static void get(int fd, char *buf, size_t n)
{
	size_t got = 0;

	while (got < n) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		ssize_t r;

		cr_assert_eq(poll(&p, 1, 2000), 1, "data within 2 s");
		r = read(fd, buf + got, n - got);
		cr_assert_gt(r, 0);
		got += (size_t)r;
	}
}

/* 1 = EOF or reset seen within 2 s */
static int peer_closed(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	char c;

	if (poll(&p, 1, 2000) != 1)
		return 0;
	return read(fd, &c, 1) <= 0;
}

/* ------------------------------------------------------------------------ */

static void split_everywhere(int family)
{
	static struct srv s;
	size_t len = strlen(REG), k;
	uint64_t sent = 0;
	int fd;

	srv_up(&s, family, NULL);
	fd = dial(&s);
	for (k = 1; k < len; k++) {
		put(fd, REG, k);
		sent += k;
		RUN_UNTIL(&s, rx_bytes(&s) == sent);
		cr_assert_eq(s.nmsg, 0, "nothing delivered before the split at %zu", k);
		put(fd, REG + k, len - k);
		sent += len - k;
		RUN_UNTIL(&s, s.nmsg == 1);
		cr_assert_eq(s.len[0], len);
		cr_assert_eq(memcmp(s.msg[0], REG, len), 0, "split at %zu", k);
		free(s.msg[0]);
		s.nmsg = 0;
	}
	close(fd);
	srv_down(&s);
}

/* One byte per read, three messages in a row: the resumed search for the
 * blank line (it may straddle reads) and the known-length wait for the
 * body see every position. */
Test(tcp, one_byte_at_a_time, .timeout = 60)
{
	static struct srv s;
	static char buf[2048];
	size_t n = 0, i, lr = strlen(REG), lo = strlen(OPT);
	int fd;

	srv_up(&s, AF_INET, NULL);
	memcpy(buf + n, REG, lr), n += lr;
	memcpy(buf + n, OPT, lo), n += lo;
	memcpy(buf + n, REG, lr), n += lr;
	fd = dial(&s);
	for (i = 0; i < n; i++) {
		put(fd, buf + i, 1);
		RUN_UNTIL(&s, rx_bytes(&s) == i + 1);
	}
	cr_assert_eq(s.nmsg, 3);
	cr_assert_eq(s.len[0], lr);
	cr_assert_eq(memcmp(s.msg[0], REG, lr), 0);
	cr_assert_eq(s.len[1], lo);
	cr_assert_eq(memcmp(s.msg[1], OPT, lo), 0);
	cr_assert_eq(s.len[2], lr);
	cr_assert_eq(memcmp(s.msg[2], REG, lr), 0);
	close(fd);
	srv_down(&s);
}

Test(tcp, split_at_every_byte_ipv4, .timeout = 60)
{
	split_everywhere(AF_INET);
}

Test(tcp, split_at_every_byte_ipv6, .timeout = 60)
{
	split_everywhere(AF_INET6);
}

Test(tcp, several_messages_in_one_read_with_keepalives)
{
	static struct srv s;
	char buf[2048], pong[8];
	size_t n = 0;
	struct tcp_stats st;
	int fd;

	srv_up(&s, AF_INET, NULL);
	fd = dial(&s);
	/* bare CRLF before, between messages; a ping in the middle */
	memcpy(buf + n, "\r\n", 2), n += 2;
	memcpy(buf + n, REG, strlen(REG)), n += strlen(REG);
	memcpy(buf + n, OPT, strlen(OPT)), n += strlen(OPT);
	memcpy(buf + n, "\r\n\r\n", 4), n += 4;
	memcpy(buf + n, REG, strlen(REG)), n += strlen(REG);
	memcpy(buf + n, "\r\n", 2), n += 2;
	memcpy(buf + n, OPT, strlen(OPT)), n += strlen(OPT);
	put(fd, buf, n);
	RUN_UNTIL(&s, s.nmsg == 4);
	cr_assert_eq(s.len[0], strlen(REG));
	cr_assert_eq(memcmp(s.msg[0], REG, strlen(REG)), 0);
	cr_assert_eq(memcmp(s.msg[1], OPT, strlen(OPT)), 0);
	cr_assert_eq(memcmp(s.msg[2], REG, strlen(REG)), 0);
	cr_assert_eq(memcmp(s.msg[3], OPT, strlen(OPT)), 0);
	/* all four came on the same connection */
	cr_assert_eq(memcmp(&s.h[0], &s.h[3], sizeof(s.h[0])), 0);
	/* exactly one pong: a single CRLF (RFC 5626 §4.4.1) */
	get(fd, pong, 2);
	cr_assert_eq(memcmp(pong, "\r\n", 2), 0);
	cr_assert_eq(recv(fd, pong, sizeof(pong), MSG_DONTWAIT), -1);
	tcp_ctx_stats(s.ctx, &st);
	cr_assert_eq(st.pings, 1);
	cr_assert_eq(st.rx_messages, 4);
	close(fd);
	srv_down(&s);
}

Test(tcp, keepalive_ping_pong)
{
	static struct srv s;
	char pong[8];
	struct tcp_stats st;
	int fd;

	srv_up(&s, AF_INET6, NULL);
	fd = dial(&s);
	put(fd, "\r\n\r\n", 4);
	RUN_UNTIL(&s, rx_bytes(&s) == 4);
	get(fd, pong, 2);
	cr_assert_eq(memcmp(pong, "\r\n", 2), 0);
	/* a ping split in two writes is still a ping */
	put(fd, "\r\n", 2);
	RUN_UNTIL(&s, rx_bytes(&s) == 6);
	cr_assert_eq(recv(fd, pong, sizeof(pong), MSG_DONTWAIT), -1, "not yet");
	put(fd, "\r\n", 2);
	RUN_UNTIL(&s, rx_bytes(&s) == 8);
	get(fd, pong, 2);
	cr_assert_eq(memcmp(pong, "\r\n", 2), 0);
	/* a lone CRLF then a message: skipped, no pong */
	put(fd, "\r\n", 2);
	put(fd, OPT, strlen(OPT));
	RUN_UNTIL(&s, s.nmsg == 1);
	cr_assert_eq(memcmp(s.msg[0], OPT, strlen(OPT)), 0);
	cr_assert_eq(recv(fd, pong, sizeof(pong), MSG_DONTWAIT), -1);
	tcp_ctx_stats(s.ctx, &st);
	cr_assert_eq(st.pings, 2);
	cr_assert_eq(s.nclose, 0);
	close(fd);
	RUN_UNTIL(&s, s.nclose == 1);
	cr_assert_eq(s.close_err[0], 0, "orderly close between messages");
	srv_down(&s);
}

Test(tcp, response_on_the_same_connection)
{
	static struct srv s;
	char buf[64];
	int a, b;

	srv_up(&s, AF_INET, NULL);
	s.reply = 1;
	a = dial(&s);
	b = dial(&s);
	put(b, OPT, strlen(OPT));
	RUN_UNTIL(&s, s.nmsg == 1);
	get(b, buf, strlen(RESP));
	cr_assert_eq(memcmp(buf, RESP, strlen(RESP)), 0);
	cr_assert_eq(recv(a, buf, sizeof(buf), MSG_DONTWAIT), -1, "nothing on the other");
	put(a, OPT, strlen(OPT));
	RUN_UNTIL(&s, s.nmsg == 2);
	get(a, buf, strlen(RESP));
	cr_assert_neq(s.h[0].slot, s.h[1].slot);
	close(a);
	close(b);
	srv_down(&s);
}

Test(tcp, late_send_to_closed_connection_fails_cleanly)
{
	static struct srv s;
	struct tcp_handle old;
	char buf[64];
	int a, b;

	srv_up(&s, AF_INET, NULL);
	a = dial(&s);
	put(a, OPT, strlen(OPT));
	RUN_UNTIL(&s, s.nmsg == 1);
	old = s.h[0];
	cr_assert(tcp_handle_valid(s.ctx, old));
	close(a);
	RUN_UNTIL(&s, s.nclose == 1);
	cr_assert_eq(tcp_send(s.ctx, old, RESP, strlen(RESP)), -ENOTCONN);
	cr_assert_eq(tcp_close(s.ctx, old), -ENOTCONN);
	/* a new connection takes the same slot (and maybe the same fd) */
	b = dial(&s);
	put(b, OPT, strlen(OPT));
	RUN_UNTIL(&s, s.nmsg == 2);
	cr_assert_eq(s.h[1].slot, old.slot);
	cr_assert_neq(s.h[1].gen, old.gen);
	cr_assert_eq(tcp_send(s.ctx, old, "stale", 5), -ENOTCONN);
	cr_assert_eq(recv(b, buf, sizeof(buf), MSG_DONTWAIT), -1, "nothing leaked");
	cr_assert_eq(tcp_send(s.ctx, s.h[1], RESP, strlen(RESP)), 0);
	get(b, buf, strlen(RESP));
	cr_assert_not(tcp_handle_valid(s.ctx, (struct tcp_handle){0, 0}));
	cr_assert_not(tcp_handle_valid(s.ctx, (struct tcp_handle){99999, 1}));
	close(b);
	srv_down(&s);
}

Test(tcp, close_from_inside_the_message_callback)
{
	static struct srv s;
	char buf[512];
	size_t n = strlen(OPT);
	int fd;

	srv_up(&s, AF_INET, NULL);
	s.close_in_cb = 1;
	fd = dial(&s);
	memcpy(buf, OPT, n);
	memcpy(buf + n, OPT, n);
	put(fd, buf, 2 * n);
	RUN_UNTIL(&s, s.nclose == 1);
	cr_assert_eq(s.nmsg, 1, "nothing delivered after the close");
	cr_assert_eq(s.close_err[0], 0);
	cr_assert(peer_closed(fd));
	close(fd);
	srv_down(&s);
}

Test(tcp, oversize_message_closes_with_error)
{
	static struct srv s;
	struct tcp_opts o = {.max_msg = 1024};
	struct tcp_stats st;
	char big[2048];
	int fd;

	srv_up(&s, AF_INET, &o);
	/* a header block that never ends */
	fd = dial(&s);
	memcpy(big, "REGISTER sip:x SIP/2.0\r\n", 24);
	memset(big + 24, 'a', sizeof(big) - 24);
	put(fd, big, sizeof(big));
	RUN_UNTIL(&s, s.nclose == 1);
	cr_assert_eq(s.close_err[0], -E2BIG);
	cr_assert(peer_closed(fd));
	close(fd);
	/* a Content-Length that announces too much: refused at once */
	fd = dial(&s);
	put(fd, "REGISTER sip:x SIP/2.0\r\nl: 5000\r\n\r\n", 35);
	RUN_UNTIL(&s, s.nclose == 2);
	cr_assert_eq(s.close_err[1], -E2BIG);
	close(fd);
	/* no Content-Length on a stream */
	fd = dial(&s);
	put(fd, "OPTIONS sip:x SIP/2.0\r\nCall-ID: 1\r\n\r\n", 37);
	RUN_UNTIL(&s, s.nclose == 3);
	cr_assert_eq(s.close_err[2], -EBADMSG);
	close(fd);
	tcp_ctx_stats(s.ctx, &st);
	cr_assert_eq(st.oversize, 2);
	cr_assert_eq(st.bad_frames, 1);
	cr_assert_eq(st.open, 0);
	cr_assert_eq(s.nmsg, 0);
	srv_down(&s);
}

Test(tcp, large_message_grows_the_buffer)
{
	static struct srv s;
	static char msg[60000];
	const char *hdr = "MESSAGE sip:x SIP/2.0\r\nContent-Length: 59000\r\n\r\n";
	size_t h = strlen(hdr);
	int fd;

	srv_up(&s, AF_INET, NULL);
	memcpy(msg, hdr, h);
	memset(msg + h, 'b', 59000);
	fd = dial(&s);
	put(fd, msg, h + 59000);
	RUN_UNTIL(&s, s.nmsg == 1);
	cr_assert_eq(s.len[0], h + 59000);
	cr_assert_eq(memcmp(s.msg[0], msg, h + 59000), 0);
	close(fd);
	srv_down(&s);
}

Test(tcp, connection_limit)
{
	static struct srv s;
	struct tcp_opts o = {.max_conns = 2};
	struct tcp_stats st;
	int a, b, c, d;

	srv_up(&s, AF_INET, &o);
	a = dial(&s);
	b = dial(&s);
	RUN_UNTIL(&s, (tcp_ctx_stats(s.ctx, &st), st.accepted == 2));
	c = dial(&s); /* the kernel completes it; we accept and close it */
	RUN_UNTIL(&s, (tcp_ctx_stats(s.ctx, &st), st.rejected == 1));
	cr_assert(peer_closed(c));
	cr_assert_eq(st.open, 2);
	/* the two kept connections still work */
	put(b, OPT, strlen(OPT));
	RUN_UNTIL(&s, s.nmsg == 1);
	/* a slot freed is a slot available */
	close(a);
	RUN_UNTIL(&s, s.nclose == 1);
	d = dial(&s);
	RUN_UNTIL(&s, (tcp_ctx_stats(s.ctx, &st), st.accepted == 3));
	cr_assert_eq(st.open, 2);
	close(b);
	close(c);
	close(d);
	srv_down(&s);
}

/* Out of fds: accept() fails with EMFILE while the connection waits in the
 * backlog. The listener must not spin the level-triggered loop; it is
 * paused and re-armed when a connection closes. */
Test(tcp, out_of_fds_pauses_the_listener)
{
	static struct srv s;
	struct tcp_stats st;
	struct rlimit rl;
	uint64_t t0;
	int a, b, next, turns;

	srv_up(&s, AF_INET, NULL);
	a = dial(&s);
	RUN_UNTIL(&s, (tcp_ctx_stats(s.ctx, &st), st.accepted == 1));
	next = socket(AF_INET, SOCK_STREAM, 0); /* the lowest free fd */
	cr_assert_geq(next, 0);
	close(next);
	/* fds up to next: client b gets it, the server has none left */
	cr_assert_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	rl.rlim_cur = (rlim_t)next + 1;
	cr_assert_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
	b = dial(&s);
	cr_assert_eq(b, next);
	RUN_UNTIL(&s, (tcp_ctx_stats(s.ctx, &st), st.errors >= 1));
	/* paused: turns wait their full timeout instead of spinning */
	t0 = tcp_now_ms();
	for (turns = 0; turns < 3; turns++)
		cr_assert_eq(loop_once(s.loop, 30), 0);
	cr_assert_geq(tcp_now_ms() - t0, 80);
	tcp_ctx_stats(s.ctx, &st);
	cr_assert_eq(st.accepted, 1);
	/* a connection closes: its fd is free, the listener takes b */
	close(a);
	RUN_UNTIL(&s, (tcp_ctx_stats(s.ctx, &st), st.accepted == 2));
	put(b, OPT, strlen(OPT));
	RUN_UNTIL(&s, s.nmsg == 1);
	close(b);
	srv_down(&s);
}

Test(tcp, idle_timeout)
{
	static struct srv s;
	struct tcp_opts o = {.idle_ms = 1000};
	struct tcp_stats st;
	uint64_t t0;
	int a, b;

	srv_up(&s, AF_INET, &o);
	cr_assert_eq(tcp_next_idle(s.ctx, tcp_now_ms()), -1);
	a = dial(&s);
	RUN_UNTIL(&s, (tcp_ctx_stats(s.ctx, &st), st.accepted == 1));
	b = dial(&s);
	RUN_UNTIL(&s, (tcp_ctx_stats(s.ctx, &st), st.accepted == 2));
	t0 = tcp_now_ms();
	cr_assert_eq(tcp_expire_idle(s.ctx, t0), 0);
	cr_assert_leq(tcp_next_idle(s.ctx, t0), 1000);
	cr_assert_gt(tcp_next_idle(s.ctx, t0), 500);
	/* activity on a moves it behind b */
	usleep(20 * 1000);
	put(a, OPT, strlen(OPT));
	RUN_UNTIL(&s, s.nmsg == 1);
	/* at t0 + 1010 b (accepted before t0) is idle, a (active after
	 * t0 + 20) is not */
	cr_assert_eq(tcp_expire_idle(s.ctx, t0 + 1010), 1);
	cr_assert_eq(s.nclose, 1);
	cr_assert_eq(s.close_err[0], -ETIMEDOUT);
	cr_assert(peer_closed(b));
	cr_assert_eq(tcp_expire_idle(s.ctx, t0 + 1010), 0);
	cr_assert(tcp_handle_valid(s.ctx, s.h[0]));
	cr_assert_eq(tcp_expire_idle(s.ctx, tcp_now_ms() + 1000), 1);
	cr_assert(peer_closed(a));
	tcp_ctx_stats(s.ctx, &st);
	cr_assert_eq(st.idle_closed, 2);
	cr_assert_eq(st.open, 0);
	cr_assert_eq(tcp_next_idle(s.ctx, t0), -1);
	close(a);
	close(b);
	srv_down(&s);
}

Test(tcp, peer_disappears_mid_message)
{
	static struct srv s;
	struct tcp_stats st;
	int fd;

	srv_up(&s, AF_INET, NULL);
	fd = dial(&s);
	put(fd, REG, 100);
	RUN_UNTIL(&s, rx_bytes(&s) == 100);
	close(fd);
	RUN_UNTIL(&s, s.nclose == 1);
	cr_assert_eq(s.close_err[0], -ECONNABORTED);
	/* mid-body too */
	fd = dial(&s);
	put(fd, REG, strlen(REG) - 1);
	close(fd);
	RUN_UNTIL(&s, s.nclose == 2);
	cr_assert_eq(s.close_err[1], -ECONNABORTED);
	/* a reset (SO_LINGER 0) mid-message */
	fd = dial(&s);
	put(fd, REG, 50);
	RUN_UNTIL(&s, rx_bytes(&s) == 100 + strlen(REG) - 1 + 50);
	struct linger lg = {.l_onoff = 1, .l_linger = 0};
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
	RUN_UNTIL(&s, s.nclose == 3);
	cr_assert_eq(s.close_err[2], -ECONNRESET);
	tcp_ctx_stats(s.ctx, &st);
	cr_assert_eq(st.truncated, 2);
	cr_assert_eq(s.nmsg, 0);
	cr_assert_eq(st.open, 0);
	srv_down(&s);
}

struct dialer {
	int done;
	int err;
	struct tcp_handle h;
};

static void on_connect(void *arg, struct tcp_ctx *ctx, struct tcp_handle h, int err)
{
	struct dialer *d = arg;

	(void)ctx;
	d->done++;
	d->err = err;
	d->h = h;
}

static void outgoing(int family)
{
	static struct srv s, cl;
	struct dialer d = {0};
	struct tcp_handle h;
	struct tcp_stats st;

	srv_up(&s, family, NULL);
	s.reply = 1;
	/* a second ctx on the same loop plays the trunk's client side */
	memset(&cl, 0, sizeof(cl));
	cl.loop = s.loop;
	cr_assert_eq(tcp_ctx_new(&cl.ctx, s.loop, NULL, on_msg, on_close, &cl), 0);
	cr_assert_eq(tcp_connect(cl.ctx, (struct sockaddr *)&s.addr, s.addrlen, on_connect,
				 &d, &h),
		     0);
	/* sent before the connection completes: queued */
	cr_assert_eq(tcp_send(cl.ctx, h, REG, strlen(REG)), 0);
	RUN_UNTIL(&s, d.done == 1);
	cr_assert_eq(d.err, 0);
	cr_assert_eq(memcmp(&d.h, &h, sizeof(h)), 0);
	RUN_UNTIL(&s, s.nmsg == 1 && cl.nmsg == 1);
	cr_assert_eq(memcmp(s.msg[0], REG, strlen(REG)), 0);
	cr_assert_eq(memcmp(cl.msg[0], RESP, strlen(RESP)), 0);
	cr_assert_eq(memcmp(&cl.h[0], &h, sizeof(h)), 0, "reply on our connection");
	tcp_ctx_stats(cl.ctx, &st);
	cr_assert_eq(st.connected, 1);
	cr_assert_eq(tcp_close(cl.ctx, h), 0);
	RUN_UNTIL(&s, s.nclose == 1);
	cr_assert_eq(s.close_err[0], 0);
	cr_assert_eq(cl.nclose, 1);
	tcp_ctx_free(cl.ctx);
	srv_down(&s);
}

Test(tcp, outgoing_connection_ipv4)
{
	outgoing(AF_INET);
}

Test(tcp, outgoing_connection_ipv6)
{
	outgoing(AF_INET6);
}

Test(tcp, connect_refused)
{
	static struct srv s;
	struct dialer d = {0};
	struct tcp_handle h;
	struct sockaddr_storage dead;
	socklen_t len;
	int fd;

	srv_up(&s, AF_INET, NULL);
	/* a port that was just bound and closed: nobody listens there */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	len = loopback(AF_INET, &dead, 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&dead, len), 0);
	len = sizeof(dead);
	getsockname(fd, (struct sockaddr *)&dead, &len);
	close(fd);
	cr_assert_eq(tcp_connect(s.ctx, (struct sockaddr *)&dead, len, on_connect, &d, &h),
		     0);
	RUN_UNTIL(&s, d.done == 1);
	cr_assert_eq(d.err, -ECONNREFUSED);
	cr_assert_eq(s.nclose, 1);
	cr_assert_eq(s.close_err[0], -ECONNREFUSED);
	cr_assert_eq(tcp_send(s.ctx, h, "x", 1), -ENOTCONN);
	srv_down(&s);
}

Test(tcp, write_queue_drains_on_epollout_and_is_bounded)
{
	static struct srv s;
	struct tcp_opts o = {.max_wqueue = 8u << 20};
	static char chunk[1u << 20], rd[1u << 16];
	struct tcp_stats st;
	size_t total = 4u << 20, got = 0;
	int fd, i, turns = 0;

	srv_up(&s, AF_INET, &o);
	fd = dial(&s);
	put(fd, OPT, strlen(OPT));
	RUN_UNTIL(&s, s.nmsg == 1);
	memset(chunk, 'z', sizeof(chunk));
	/* 4 MiB while the peer reads nothing: most of it is queued */
	for (i = 0; i < 4; i++)
		cr_assert_eq(tcp_send(s.ctx, s.h[0], chunk, sizeof(chunk)), 0);
	while (got < total && turns++ < 10000) {
		ssize_t n = recv(fd, rd, sizeof(rd), MSG_DONTWAIT);

		if (n > 0)
			got += (size_t)n;
		loop_once(s.loop, 0);
	}
	cr_assert_eq(got, total);
	tcp_ctx_stats(s.ctx, &st);
	cr_assert_eq(st.tx_bytes, total);
	/* over the bound: refused and the connection closed */
	for (i = 0; i < 64; i++)
		if (tcp_send(s.ctx, s.h[0], chunk, sizeof(chunk)) < 0)
			break;
	cr_assert_lt(i, 64);
	cr_assert_geq(i, 8, "8 MiB fit in the queue");
	cr_assert_eq(tcp_send(s.ctx, s.h[0], chunk, 1), -ENOTCONN);
	cr_assert_eq(s.nclose, 1);
	cr_assert_eq(s.close_err[0], -ENOBUFS);
	close(fd);
	srv_down(&s);
}

Test(tcp, bad_arguments)
{
	struct loop *loop;
	struct tcp_ctx *ctx = NULL;
	struct sockaddr_storage ss;
	struct tcp_handle h;
	socklen_t len;

	cr_assert_eq(loop_new(&loop, 0, 0, 0), 0);
	cr_assert_eq(tcp_ctx_new(&ctx, loop, NULL, NULL, NULL, NULL), -EINVAL);
	cr_assert_null(ctx);
	cr_assert_eq(tcp_ctx_new(&ctx, loop, NULL, on_msg, NULL, NULL), 0);
	len = loopback(AF_INET, &ss, 0);
	cr_assert_eq(tcp_listen(ctx, (struct sockaddr *)&ss, 3, NULL, NULL), -EINVAL);
	ss.ss_family = AF_UNIX;
	cr_assert_eq(tcp_listen(ctx, (struct sockaddr *)&ss, len, NULL, NULL), -EINVAL);
	cr_assert_eq(tcp_connect(ctx, (struct sockaddr *)&ss, len, NULL, NULL, &h), -EINVAL);
	tcp_ctx_free(ctx);
	tcp_ctx_free(NULL);
	loop_free(loop);
}

/* ------------------------------------------------------------------------ */
/* The corpus: tcp_frame() agrees with the parser's stream mode, and every   */
/* message the parser accepts crosses a TCP connection intact, back to back  */
/* with the others and cut at pseudo-random points.                          */

#include <dirent.h>
#include <sys/stat.h>

#include "sipreg/sip.h"

#define CORPUS_MAX 256

struct corpus {
	int n;
	char *buf[CORPUS_MAX];
	size_t len[CORPUS_MAX];
	char name[CORPUS_MAX][300];
};

static void load_dir(struct corpus *c, const char *root, const char *sub)
{
	char path[1024];
	struct dirent *de;
	DIR *d;

	snprintf(path, sizeof(path), "%s/%s", root, sub);
	d = opendir(path);
	if (!d)
		return;
	while ((de = readdir(d)) && c->n < CORPUS_MAX) {
		size_t nl = strlen(de->d_name);
		struct stat sb;
		FILE *f;

		if (!(nl > 4 && (!strcmp(de->d_name + nl - 4, ".dat") ||
				 !strcmp(de->d_name + nl - 4, ".sip"))))
			continue;
		snprintf(path, sizeof(path), "%s/%s/%s", root, sub, de->d_name);
		if (stat(path, &sb) < 0 || sb.st_size == 0 || sb.st_size > 65535)
			continue;
		f = fopen(path, "rb");
		if (!f)
			continue;
		c->buf[c->n] = malloc((size_t)sb.st_size);
		c->len[c->n] = fread(c->buf[c->n], 1, (size_t)sb.st_size, f);
		snprintf(c->name[c->n], sizeof(c->name[0]), "%s/%s", sub, de->d_name);
		fclose(f);
		c->n++;
	}
	closedir(d);
}

static void load_corpus(struct corpus *c)
{
	const char *root = getenv("SIPREG_CORPUS");

	memset(c, 0, sizeof(*c));
	if (!root)
		cr_skip_test("SIPREG_CORPUS is not set: corpus test skipped");
	load_dir(c, root, "rfc4475");
	load_dir(c, root, "rfc5118");
	load_dir(c, root, "real");
	if (c->n == 0)
		cr_skip_test("no corpus files under %s: corpus test skipped", root);
}

static ssize_t parse_stream(const char *buf, size_t len)
{
	static struct sip_hdr hdrs[256];
	struct sip_msg m;
	struct sip_err err;

	return sip_msg_parse(&m, buf, len, hdrs, 256, SIP_PARSE_STREAM, &err);
}

Test(tcp_frame, agrees_with_the_parser_on_the_corpus)
{
	static struct corpus c;
	int i, agreed = 0;

	load_corpus(&c);
	for (i = 0; i < c.n; i++) {
		ssize_t p = parse_stream(c.buf[i], c.len[i]);
		ssize_t f = tcp_frame(c.buf[i], c.len[i], 65535);

		if (p > 0) {
			cr_assert_eq(f, p, "%s: frame %zd, parser %zd", c.name[i], f, p);
			agreed++;
		} else if (p == -EAGAIN) {
			/* the declared body is longer than the file */
			cr_assert_eq(f, -EAGAIN, "%s: frame %zd", c.name[i], f);
		}
		free(c.buf[i]);
	}
	cr_log_info("%d corpus messages framed as the parser does", agreed);
	cr_assert_gt(agreed, 10);
}

struct corpus_sink {
	int n;
	int bad;
	const struct corpus *c;
	const int *which;
};

static void on_corpus_msg(void *arg, struct tcp_ctx *ctx, struct tcp_handle h,
			  const char *buf, size_t len, const struct sockaddr *peer,
			  socklen_t peerlen)
{
	struct corpus_sink *k = arg;
	int want = k->which[k->n++];
	ssize_t p;

	(void)ctx;
	(void)h;
	(void)peer;
	(void)peerlen;
	p = parse_stream(k->c->buf[want], k->c->len[want]);
	if ((ssize_t)len != p || memcmp(buf, k->c->buf[want], len) != 0)
		k->bad++;
}

Test(tcp, corpus_streamed_back_to_back, .timeout = 60)
{
	static struct corpus c;
	static int which[CORPUS_MAX];
	static char stream[CORPUS_MAX * 4096];
	struct corpus_sink k = {0};
	struct loop *loop;
	struct tcp_ctx *ctx;
	struct sockaddr_storage any, addr;
	socklen_t len = loopback(AF_INET, &any, 0), alen = sizeof(addr);
	struct tcp_stats st;
	size_t n = 0, off = 0;
	unsigned seed = 12345;
	int i, m = 0, fd, turns = 0;

	load_corpus(&c);
	for (i = 0; i < c.n; i++) {
		ssize_t p = parse_stream(c.buf[i], c.len[i]);

		if (p <= 0 || n + (size_t)p > sizeof(stream))
			continue;
		memcpy(stream + n, c.buf[i], (size_t)p);
		n += (size_t)p;
		which[m++] = i;
	}
	k.c = &c;
	k.which = which;
	cr_assert_eq(loop_new(&loop, 0, 0, 0), 0);
	cr_assert_eq(tcp_ctx_new(&ctx, loop, NULL, on_corpus_msg, NULL, &k), 0);
	cr_assert_eq(tcp_listen(ctx, (struct sockaddr *)&any, len, (struct sockaddr *)&addr,
				&alen),
		     0);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert_eq(connect(fd, (struct sockaddr *)&addr, alen), 0);
	while (off < n && turns++ < 100000) {
		size_t chunk = 1 + (seed = seed * 1103515245 + 12345) % 700;

		if (chunk > n - off)
			chunk = n - off;
		put(fd, stream + off, chunk);
		off += chunk;
		loop_once(loop, 0);
	}
	while (k.n < m && turns++ < 100000)
		loop_once(loop, 10);
	cr_assert_eq(k.n, m, "%d of %d messages", k.n, m);
	cr_assert_eq(k.bad, 0);
	tcp_ctx_stats(ctx, &st);
	cr_assert_eq(st.rx_bytes, n);
	cr_log_info("%d corpus messages (%zu bytes) streamed intact", m, n);
	close(fd);
	tcp_ctx_free(ctx);
	loop_free(loop);
	for (i = 0; i < c.n; i++)
		free(c.buf[i]);
}

static unsigned rnd(unsigned *seed, unsigned n)
{
	*seed = *seed * 1103515245u + 12345u;
	return (*seed >> 8) % n;
}

/* Random messages in every Content-Length spelling: the frame length is
 * the parser's (stream mode), and every shorter prefix is -EAGAIN. */
Test(tcp_frame, random_messages_against_the_parser)
{
	static const char *cl_names[] = {"Content-Length", "content-length", "CONTENT-LENGTH",
					 "l", "L", "Content-length"};
	static const char *ws[] = {"", " ", "  ", "\t", " \t "};
	static char msg[8192];
	unsigned seed = 42;
	int round, agreed = 0;

#define RND(n) rnd(&seed, (n))
	for (round = 0; round < 3000; round++) {
		size_t n = 0, body = RND(200), k;
		int hdrs = (int)RND(8), i, cl_at = (int)RND((unsigned)hdrs + 1);
		bool callid = false; /* a second one is a parse error */
		ssize_t f, p;

		n += (size_t)snprintf(msg + n, sizeof(msg) - n,
				      RND(2) ? "OPTIONS sip:a@b SIP/2.0\r\n" :
					       "SIP/2.0 200 OK\r\n");
		for (i = 0; i <= hdrs; i++) {
			if (i == cl_at)
				n += (size_t)snprintf(msg + n, sizeof(msg) - n,
						      "%s%s:%s%zu%s\r\n",
						      cl_names[RND(6)], ws[RND(5)],
						      ws[RND(5)], body, ws[RND(3)]);
			else if (!callid && RND(3) == 0)
				n += (size_t)snprintf(msg + n, sizeof(msg) - n,
						      "Call-ID: %u@h\r\n", RND(100000)),
					callid = true;
			else
				n += (size_t)snprintf(msg + n, sizeof(msg) - n,
						      "X-H%d: %.*s\r\n", i, (int)RND(60),
						      "lcontent-length: 9 l: 7 \t abcdefghijkl"
						      "mnopqrstuvwxyz0123456789012345");
		}
		n += (size_t)snprintf(msg + n, sizeof(msg) - n, "\r\n");
		for (k = 0; k < body; k++)
			msg[n++] = (char)('a' + RND(26));
		/* the next message's first bytes, sometimes */
		if (RND(2))
			n += (size_t)snprintf(msg + n, sizeof(msg) - n, "REGISTER sip:x");

		f = tcp_frame(msg, n, 65535);
		p = parse_stream(msg, n);
		cr_assert_gt(f, 0, "round %d", round);
		if (p > 0) {
			cr_assert_eq(f, p, "round %d: frame %zd parser %zd", round, f, p);
			agreed++;
		}
		for (k = 0; k < (size_t)f; k++)
			cr_assert_eq(tcp_frame(msg, k, 65535), -EAGAIN, "round %d prefix %zu",
				     round, k);
	}
#undef RND
	cr_log_info("%d of 3000 random messages also parsed", agreed);
	cr_assert_gt(agreed, 2900);
}
