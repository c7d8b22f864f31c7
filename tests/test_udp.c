/* SPDX-License-Identifier: MIT */
/* Tests of listen-address parsing and the UDP transport (transport.h), over
 * 127.0.0.1 and ::1 with ephemeral ports. */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <linux/sock_diag.h>
#include <netinet/udp.h>
#include <stdbool.h>

#include "sipreg/loop.h"
#include "sipreg/transport.h"

/* ------------------------------------------------------------------------ */
/* transport_addr_parse                                                      */

static void parse_ok(const char *s, int family, const char *ip, unsigned port,
		     enum transport_proto proto)
{
	struct transport_addr a;
	const char *why = NULL;
	char buf[TRANSPORT_ADDR_STRLEN];

	cr_assert_eq(transport_addr_parse(&a, s, strlen(s), &why), 0, "%s: %s", s,
		     why ? why : "");
	cr_assert_eq(a.proto, proto, "%s", s);
	cr_assert_eq(a.ss.ss_family, family, "%s", s);
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&a.ss;

		cr_assert_eq(a.len, sizeof(*sin));
		cr_assert_eq(ntohs(sin->sin_port), port, "%s", s);
		inet_ntop(AF_INET, &sin->sin_addr, buf, sizeof(buf));
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&a.ss;

		cr_assert_eq(a.len, sizeof(*sin6));
		cr_assert_eq(ntohs(sin6->sin6_port), port, "%s", s);
		inet_ntop(AF_INET6, &sin6->sin6_addr, buf, sizeof(buf));
	}
	cr_assert_str_eq(buf, ip, "%s", s);
}

Test(transport_addr, valid)
{
	parse_ok("udp:0.0.0.0:5060", AF_INET, "0.0.0.0", 5060, TRANSPORT_UDP);
	parse_ok("tcp:[::]:5060", AF_INET6, "::", 5060, TRANSPORT_TCP);
	parse_ok("udp:127.0.0.1:0", AF_INET, "127.0.0.1", 0, TRANSPORT_UDP);
	parse_ok("UDP:[::1]:65535", AF_INET6, "::1", 65535, TRANSPORT_UDP);
	parse_ok("Tcp:10.1.2.3:05060", AF_INET, "10.1.2.3", 5060, TRANSPORT_TCP);
	parse_ok("udp:[2001:db8::1]:5080", AF_INET6, "2001:db8::1", 5080, TRANSPORT_UDP);
	parse_ok("udp:[::ffff:192.0.2.1]:1", AF_INET6, "::ffff:192.0.2.1", 1,
		 TRANSPORT_UDP);
}

Test(transport_addr, invalid_with_reasons)
{
	static const struct {
		const char *s;
		const char *reason_part;
	} v[] = {
		{"", "protocol"},
		{"sctp:1.2.3.4:5060", "protocol"},
		{"udp", "protocol"},
		{"udp:", "missing host"},
		{"udp:1.2.3.4", "PORT"},
		{"udp:1.2.3.4:", "missing port"},
		{"udp:1.2.3.4:65536", "out of range"},
		{"udp:1.2.3.4:999999", "out of range"},
		{"udp:1.2.3.4:50a0", "not a number"},
		{"udp:1.2.3.4:-1", "not a number"},
		{"udp:1.2.3.4: 5060", "not a number"},
		{"udp::5060", "missing host"},
		{"udp:localhost:5060", "host names"},
		{"udp:1.2.3:5060", "IPv4"},
		{"udp:256.1.1.1:5060", "IPv4"},
		{"tcp:::1:5060", "brackets"},
		{"tcp:[::1:5060", "']'"},
		{"tcp:[::1]5060", ":PORT"},
		{"tcp:[::1]", ":PORT"},
		{"tcp:[]:5060", "missing host"},
		{"tcp:[1.2.3.4]:5060", "IPv6"},
		{"tcp:[::g]:5060", "IPv6"},
	};
	struct transport_addr a;
	size_t i;

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		const char *why = NULL;

		cr_assert_eq(transport_addr_parse(&a, v[i].s, strlen(v[i].s), &why),
			     -EINVAL, "%s", v[i].s);
		cr_assert_not_null(why, "%s", v[i].s);
		cr_assert_not_null(strstr(why, v[i].reason_part), "%s: \"%s\"", v[i].s,
				   why);
	}
	/* the length bounds the input: a valid prefix of a longer string */
	cr_assert_eq(transport_addr_parse(&a, "udp:1.2.3.4:5060junk", 16, NULL), 0);
	cr_assert_eq(ntohs(((struct sockaddr_in *)&a.ss)->sin_port), 5060);
}

Test(transport_addr, format_round_trip)
{
	static const char *v[] = {"udp:127.0.0.1:5060", "tcp:[::1]:5061",
				  "tcp:[2001:db8::7]:0", "udp:0.0.0.0:65535"};
	struct transport_addr a;
	char buf[TRANSPORT_ADDR_STRLEN];
	size_t i;

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		cr_assert_eq(transport_addr_parse(&a, v[i], strlen(v[i]), NULL), 0);
		cr_assert_eq(transport_addr_str(&a, buf, sizeof(buf)), (int)strlen(v[i]));
		cr_assert_str_eq(buf, v[i]);
	}
	cr_assert_eq(transport_addr_str(&a, buf, 8), -ENOSPC);
	a.ss.ss_family = AF_UNIX;
	cr_assert_eq(transport_sockaddr_str((struct sockaddr *)&a.ss, buf, sizeof(buf)),
		     -EAFNOSUPPORT);
}

/* ------------------------------------------------------------------------ */
/* UDP                                                                       */

#define MAXD 256

struct sink {
	int n;
	struct sockaddr_storage src[MAXD];
	socklen_t srclen[MAXD];
	char data[MAXD][128];
	size_t len[MAXD];
	struct udp_sock *which[MAXD];
	int echo; /* queue an echo of every datagram */
};

static void on_dgram(void *arg, struct udp_sock *s, const char *buf, size_t len,
		     const struct sockaddr *src, socklen_t srclen)
{
	struct sink *k = arg;
	int i = k->n++;

	cr_assert_lt(i, MAXD);
	memcpy(&k->src[i], src, srclen);
	k->srclen[i] = srclen;
	k->len[i] = len;
	memcpy(k->data[i], buf, len < 128 ? len : 128);
	k->which[i] = s;
	if (k->echo)
		cr_assert_eq(udp_send_queue(s, buf, len, src, srclen), 0);
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

static unsigned port_of(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)ss)->sin_port);
	return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
}

/* A plain client socket bound to loopback:0. */
static int client(int family, struct sockaddr_storage *self)
{
	socklen_t len = loopback(family, self, 0);
	int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK, 0);

	cr_assert_geq(fd, 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)self, len), 0);
	len = sizeof(*self);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)self, &len), 0);
	return fd;
}

static void run_until(struct loop *loop, const int *counter, int want)
{
	int turns = 0;

	while (*counter < want && turns++ < 200)
		cr_assert_geq(loop_once(loop, 50), 0);
	cr_assert_eq(*counter, want, "got %d of %d", *counter, want);
}

static void batch_receive(int family)
{
	struct loop *loop;
	struct udp_sock *s;
	struct udp_opts o = {.rx_batch = 8};
	struct sockaddr_storage srv, cl[3];
	socklen_t len;
	static struct sink k;
	struct udp_stats st;
	int fd[3], i, j;

	memset(&k, 0, sizeof(k));
	cr_assert_eq(loop_new(&loop, 0, 0, 0), 0);
	len = loopback(family, &srv, 0);
	cr_assert_eq(udp_sock_new(&s, loop, (struct sockaddr *)&srv, len, &o, on_dgram, &k),
		     0);
	len = sizeof(srv);
	cr_assert_eq(udp_sock_local(s, (struct sockaddr *)&srv, &len), 0);
	cr_assert_neq(port_of(&srv), 0, "an ephemeral port was bound");
	for (i = 0; i < 3; i++)
		fd[i] = client(family, &cl[i]);
	for (j = 0; j < 10; j++) {
		for (i = 0; i < 3; i++) {
			char msg[32];
			int n = snprintf(msg, sizeof(msg), "OPTIONS %d %d", i, j);

			cr_assert_eq(sendto(fd[i], msg, (size_t)n, 0, (struct sockaddr *)&srv,
					    len),
				     n);
		}
	}
	run_until(loop, &k.n, 30);
	for (i = 0; i < 30; i++) {
		int who, seq;

		cr_assert_eq(sscanf(k.data[i], "OPTIONS %d %d", &who, &seq), 2);
		cr_assert_eq(k.srclen[i], len);
		cr_assert_eq(memcmp(&k.src[i], &cl[who], len), 0,
			     "datagram %d carries the address of client %d", i, who);
		cr_assert_eq(k.which[i], s);
	}
	udp_sock_stats(s, &st);
	cr_assert_eq(st.rx_datagrams, 30);
	/* all 30 were waiting: batches of 8 */
	cr_assert_leq(st.rx_batches, 5, "%llu batches",
		      (unsigned long long)st.rx_batches);
	for (i = 0; i < 3; i++)
		close(fd[i]);
	udp_sock_free(s);
	loop_free(loop);
}

Test(udp, batch_receive_ipv4)
{
	batch_receive(AF_INET);
}

Test(udp, batch_receive_ipv6)
{
	batch_receive(AF_INET6);
}

static void batch_send(int family)
{
	struct loop *loop;
	struct udp_sock *s;
	struct sockaddr_storage srv, cl;
	socklen_t len;
	static struct sink k;
	struct udp_stats st;
	char buf[64];
	int fd, i;

	memset(&k, 0, sizeof(k));
	cr_assert_eq(loop_new(&loop, 0, 0, 0), 0);
	len = loopback(family, &srv, 0);
	cr_assert_eq(udp_sock_new(&s, loop, (struct sockaddr *)&srv, len, NULL, on_dgram, &k),
		     0);
	fd = client(family, &cl);
	for (i = 0; i < 50; i++) {
		int n = snprintf(buf, sizeof(buf), "SIP/2.0 200 OK #%d", i);

		cr_assert_eq(udp_send_queue(s, buf, (size_t)n, (struct sockaddr *)&cl, len), 0);
	}
	cr_assert_eq(udp_queued(s), 50);
	/* nothing left yet */
	cr_assert_eq(recv(fd, buf, sizeof(buf), MSG_DONTWAIT), -1);
	cr_assert_eq(errno, EAGAIN);
	/* the before-sleep hook flushes */
	loop_once(loop, 0);
	cr_assert_eq(udp_queued(s), 0);
	udp_sock_stats(s, &st);
	cr_assert_eq(st.tx_datagrams, 50);
	cr_assert_eq(st.tx_batches, 1, "one sendmmsg() for the batch");
	for (i = 0; i < 50; i++) {
		char want[64];
		ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		int wn = snprintf(want, sizeof(want), "SIP/2.0 200 OK #%d", i);

		cr_assert_eq(n, wn);
		cr_assert_eq(memcmp(buf, want, (size_t)wn), 0, "in order");
	}
	close(fd);
	udp_sock_free(s);
	loop_free(loop);
}

Test(udp, sendmmsg_batch_flush_ipv4)
{
	batch_send(AF_INET);
}

Test(udp, sendmmsg_batch_flush_ipv6)
{
	batch_send(AF_INET6);
}

Test(udp, echo_through_loop)
{
	struct loop *loop;
	struct udp_sock *s;
	struct sockaddr_storage srv, cl;
	socklen_t len;
	static struct sink k;
	char buf[64];
	int fd, i;

	memset(&k, 0, sizeof(k));
	k.echo = 1;
	cr_assert_eq(loop_new(&loop, 0, 0, 0), 0);
	len = loopback(AF_INET, &srv, 0);
	cr_assert_eq(udp_sock_new(&s, loop, (struct sockaddr *)&srv, len, NULL, on_dgram, &k),
		     0);
	len = sizeof(srv);
	udp_sock_local(s, (struct sockaddr *)&srv, &len);
	fd = client(AF_INET, &cl);
	for (i = 0; i < 20; i++)
		cr_assert_eq(sendto(fd, "ping", 4, 0, (struct sockaddr *)&srv, len), 4);
	run_until(loop, &k.n, 20);
	loop_once(loop, 0); /* flush the echoes */
	for (i = 0; i < 20; i++)
		cr_assert_eq(recv(fd, buf, sizeof(buf), MSG_DONTWAIT), 4);
	close(fd);
	udp_sock_free(s);
	loop_free(loop);
}

Test(udp, queue_full_flushes_then_drops_oversize)
{
	struct loop *loop;
	struct udp_sock *s;
	struct udp_opts o = {.tx_slots = 4, .tx_bytes = 1000};
	struct sockaddr_storage srv, cl;
	socklen_t len;
	static struct sink k;
	struct udp_stats st;
	char big[1500] = {0}, buf[64];
	int fd, i, got = 0;

	memset(&k, 0, sizeof(k));
	cr_assert_eq(loop_new(&loop, 0, 0, 0), 0);
	len = loopback(AF_INET, &srv, 0);
	cr_assert_eq(udp_sock_new(&s, loop, (struct sockaddr *)&srv, len, &o, on_dgram, &k),
		     0);
	fd = client(AF_INET, &cl);
	/* 10 datagrams through 4 slots: a full queue is flushed in place */
	for (i = 0; i < 10; i++)
		cr_assert_eq(udp_send_queue(s, "abc", 3, (struct sockaddr *)&cl, len), 0);
	cr_assert_eq(udp_queued(s), 2);
	/* byte limit: 300 + 300 + 300 fit in 1000 bytes with 6 queued... */
	udp_flush(s);
	for (i = 0; i < 3; i++)
		cr_assert_eq(udp_send_queue(s, big, 300, (struct sockaddr *)&cl, len), 0);
	/* ...the 4th does not: flushed first, then queued */
	cr_assert_eq(udp_send_queue(s, big, 300, (struct sockaddr *)&cl, len), 0);
	cr_assert_eq(udp_queued(s), 1);
	/* larger than the whole queue: dropped and counted */
	cr_assert_eq(udp_send_queue(s, big, 1001, (struct sockaddr *)&cl, len), -EMSGSIZE);
	cr_assert_eq(udp_send_queue(s, big, 70000, (struct sockaddr *)&cl, len), -EMSGSIZE);
	cr_assert_eq(udp_send_queue(s, big, 10, (struct sockaddr *)&cl, 200), -EINVAL);
	loop_once(loop, 0);
	udp_sock_stats(s, &st);
	cr_assert_eq(st.tx_datagrams, 14);
	cr_assert_eq(st.tx_drops, 2);
	while (recv(fd, big, sizeof(big), MSG_DONTWAIT) > 0)
		got++;
	cr_assert_eq(got, 14);
	(void)buf;
	close(fd);
	udp_sock_free(s);
	loop_free(loop);
}

Test(udp, refused_datagram_dropped_rest_sent)
{
	struct loop *loop;
	struct udp_sock *s;
	struct sockaddr_storage srv, cl, bad;
	socklen_t len, badlen;
	static struct sink k;
	struct udp_stats st;
	char buf[16];
	int fd, r;

	memset(&k, 0, sizeof(k));
	cr_assert_eq(loop_new(&loop, 0, 0, 0), 0);
	len = loopback(AF_INET, &srv, 0);
	cr_assert_eq(udp_sock_new(&s, loop, (struct sockaddr *)&srv, len, NULL, on_dgram, &k),
		     0);
	fd = client(AF_INET, &cl);
	/* an IPv6 destination on an IPv4 socket: the kernel refuses it */
	badlen = loopback(AF_INET6, &bad, 5060);
	cr_assert_eq(udp_send_queue(s, "one", 3, (struct sockaddr *)&cl, len), 0);
	cr_assert_eq(udp_send_queue(s, "bad", 3, (struct sockaddr *)&bad, badlen), 0);
	cr_assert_eq(udp_send_queue(s, "two", 3, (struct sockaddr *)&cl, len), 0);
	r = udp_flush(s);
	cr_assert_eq(r, 3, "three handled");
	udp_sock_stats(s, &st);
	cr_assert_eq(st.tx_datagrams, 2);
	cr_assert_eq(st.tx_errors, 1);
	cr_assert_eq(recv(fd, buf, sizeof(buf), MSG_DONTWAIT), 3);
	cr_assert_eq(memcmp(buf, "one", 3), 0);
	cr_assert_eq(recv(fd, buf, sizeof(buf), MSG_DONTWAIT), 3);
	cr_assert_eq(memcmp(buf, "two", 3), 0);
	/* send_now: sent at once, or the error returned */
	cr_assert_eq(udp_send_now(s, "now", 3, (struct sockaddr *)&cl, len), 0);
	cr_assert_eq(recv(fd, buf, sizeof(buf), MSG_DONTWAIT), 3);
	cr_assert_eq(memcmp(buf, "now", 3), 0);
	cr_assert_eq(udp_send_now(s, "bad", 3, (struct sockaddr *)&bad, badlen),
		     -EAFNOSUPPORT);
	udp_sock_stats(s, &st);
	cr_assert_eq(st.tx_errors, 2);
	cr_assert_eq(st.tx_datagrams, 3);
	close(fd);
	udp_sock_free(s);
	loop_free(loop);
}

Test(udp, truncated_datagram_dropped)
{
	struct loop *loop;
	struct udp_sock *s;
	struct udp_opts o = {.max_datagram = 100};
	struct sockaddr_storage srv, cl;
	socklen_t len;
	static struct sink k;
	struct udp_stats st;
	char big[200];
	int fd;

	memset(&k, 0, sizeof(k));
	memset(big, 'x', sizeof(big));
	cr_assert_eq(loop_new(&loop, 0, 0, 0), 0);
	len = loopback(AF_INET, &srv, 0);
	cr_assert_eq(udp_sock_new(&s, loop, (struct sockaddr *)&srv, len, &o, on_dgram, &k),
		     0);
	len = sizeof(srv);
	udp_sock_local(s, (struct sockaddr *)&srv, &len);
	fd = client(AF_INET, &cl);
	cr_assert_eq(sendto(fd, big, 200, 0, (struct sockaddr *)&srv, len), 200);
	cr_assert_eq(sendto(fd, big, 100, 0, (struct sockaddr *)&srv, len), 100);
	run_until(loop, &k.n, 1);
	cr_assert_eq(k.len[0], 100);
	udp_sock_stats(s, &st);
	cr_assert_eq(st.rx_truncated, 1);
	cr_assert_eq(st.rx_datagrams, 1);
	close(fd);
	udp_sock_free(s);
	loop_free(loop);
}

Test(udp, two_reuseport_sockets_share_a_port)
{
	struct loop *loop;
	struct udp_sock *a, *b, *c;
	struct udp_opts no = {.no_reuseport = true};
	struct sockaddr_storage srv, cl;
	socklen_t len;
	static struct sink k;
	int i, on_a = 0, on_b = 0;

	memset(&k, 0, sizeof(k));
	cr_assert_eq(loop_new(&loop, 0, 0, 0), 0);
	len = loopback(AF_INET, &srv, 0);
	cr_assert_eq(udp_sock_new(&a, loop, (struct sockaddr *)&srv, len, NULL, on_dgram, &k),
		     0);
	len = sizeof(srv);
	udp_sock_local(a, (struct sockaddr *)&srv, &len);
	cr_assert_eq(udp_sock_new(&b, loop, (struct sockaddr *)&srv, len, NULL, on_dgram, &k),
		     0);
	/* without SO_REUSEPORT the port is taken */
	cr_assert_eq(udp_sock_new(&c, loop, (struct sockaddr *)&srv, len, &no, on_dgram, &k),
		     -EADDRINUSE);
	/* the kernel spreads senders over the group by their 4-tuple */
	for (i = 0; i < 64; i++) {
		int fd = client(AF_INET, &cl);

		cr_assert_eq(sendto(fd, "x", 1, 0, (struct sockaddr *)&srv, len), 1);
		close(fd);
	}
	run_until(loop, &k.n, 64);
	for (i = 0; i < 64; i++) {
		on_a += k.which[i] == a;
		on_b += k.which[i] == b;
	}
	cr_assert_eq(on_a + on_b, 64);
	cr_assert_gt(on_a, 0);
	cr_assert_gt(on_b, 0);
	udp_sock_free(a);
	udp_sock_free(b);
	loop_free(loop);
}

Test(udp, bad_arguments)
{
	struct loop *loop;
	struct udp_sock *s = NULL;
	struct udp_opts o = {.rx_batch = 65};
	struct sockaddr_storage srv;
	socklen_t len;

	cr_assert_eq(loop_new(&loop, 0, 0, 0), 0);
	len = loopback(AF_INET, &srv, 0);
	cr_assert_eq(udp_sock_new(&s, loop, (struct sockaddr *)&srv, len, &o, on_dgram, NULL),
		     -EINVAL);
	cr_assert_eq(udp_sock_new(&s, loop, (struct sockaddr *)&srv, len, NULL, NULL, NULL),
		     -EINVAL);
	cr_assert_eq(udp_sock_new(&s, loop, (struct sockaddr *)&srv, 4, NULL, on_dgram, NULL),
		     -EINVAL);
	srv.ss_family = AF_UNIX;
	cr_assert_eq(udp_sock_new(&s, loop, (struct sockaddr *)&srv, len, NULL, on_dgram, NULL),
		     -EINVAL);
	cr_assert_null(s);
	udp_sock_free(NULL);
	loop_free(loop);
}

/* ------------------------------------------------------------------------ */
/* The socket buffer full (EAGAIN) path. Loopback never fills a UDP send    */
/* buffer (the skb is orphaned at transmit), so this test binary interposes */
/* sendmmsg() and sendto(): the library's calls resolve to these, which     */
/* fail with EAGAIN on demand and otherwise make the real system call.      */

#include <sys/syscall.h>

static int inject_eagain;
/* GSO tests: refuse a message carrying UDP_SEGMENT (EINVAL, as a kernel
 * without it); count the messages and those with UDP_SEGMENT passed in */
static int inject_no_gso;
static unsigned seen_msgs, seen_gso;

static bool has_segment(const struct msghdr *h)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(h); c; c = CMSG_NXTHDR((struct msghdr *)h, c))
		if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_SEGMENT)
			return true;
	return false;
}

int sendmmsg(int fd, struct mmsghdr *msgs, unsigned int vlen, int flags)
{
	int n;

	if (inject_eagain) {
		errno = EAGAIN;
		return -1;
	}
	if (inject_no_gso && vlen > 0 && has_segment(&msgs[0].msg_hdr)) {
		errno = EINVAL;
		return -1;
	}
	n = (int)syscall(SYS_sendmmsg, fd, msgs, vlen, flags);
	for (int i = 0; i < n; i++) {
		seen_msgs++;
		seen_gso += has_segment(&msgs[i].msg_hdr);
	}
	return n;
}

ssize_t sendto(int fd, const void *buf, size_t len, int flags, const struct sockaddr *dst,
	       socklen_t dstlen)
{
	if (inject_eagain) {
		errno = EAGAIN;
		return -1;
	}
	return syscall(SYS_sendto, fd, buf, len, flags, dst, dstlen);
}

Test(udp, eagain_keeps_the_queue_and_waits_for_epollout)
{
	struct loop *loop;
	struct udp_sock *s;
	struct udp_opts o = {.tx_slots = 8};
	struct sockaddr_storage srv, cl;
	socklen_t len;
	static struct sink k;
	struct udp_stats st;
	char buf[32];
	int fd, i;

	memset(&k, 0, sizeof(k));
	cr_assert_eq(loop_new(&loop, 0, 0, 0), 0);
	len = loopback(AF_INET, &srv, 0);
	cr_assert_eq(udp_sock_new(&s, loop, (struct sockaddr *)&srv, len, &o, on_dgram, &k),
		     0);
	fd = client(AF_INET, &cl);
	inject_eagain = 1;
	for (i = 0; i < 6; i++) {
		int n = snprintf(buf, sizeof(buf), "q%d", i);

		cr_assert_eq(udp_send_queue(s, buf, (size_t)n, (struct sockaddr *)&cl, len), 0);
	}
	cr_assert_eq(udp_flush(s), -EAGAIN);
	cr_assert_eq(udp_queued(s), 6, "kept");
	cr_assert_eq(loop_events(loop, udp_sock_fd(s)), LOOP_READ | LOOP_WRITE,
		     "EPOLLOUT armed");
	/* send_now behind a queue queues, to keep the order */
	cr_assert_eq(udp_send_now(s, "q6", 2, (struct sockaddr *)&cl, len), 0);
	cr_assert_eq(udp_queued(s), 7);
	cr_assert_eq(udp_send_queue(s, "q7", 2, (struct sockaddr *)&cl, len), 0);
	/* full, and still blocked: dropped and counted */
	cr_assert_eq(udp_send_queue(s, "q8", 2, (struct sockaddr *)&cl, len), -ENOBUFS);
	udp_sock_stats(s, &st);
	cr_assert_eq(st.tx_drops, 1);
	cr_assert_eq(st.tx_eagain, 1);
	cr_assert_eq(st.tx_datagrams, 0);
	/* the kernel takes data again: the writable event flushes in order */
	inject_eagain = 0;
	loop_once(loop, 1000);
	cr_assert_eq(udp_queued(s), 0);
	cr_assert_eq(loop_events(loop, udp_sock_fd(s)), LOOP_READ, "EPOLLOUT disarmed");
	for (i = 0; i < 8; i++) {
		char want[8];
		int wn = snprintf(want, sizeof(want), "q%d", i);

		cr_assert_eq(recv(fd, buf, sizeof(buf), MSG_DONTWAIT), wn);
		cr_assert_eq(memcmp(buf, want, (size_t)wn), 0);
	}
	cr_assert_eq(recv(fd, buf, sizeof(buf), MSG_DONTWAIT), -1);
	/* send_now on an empty queue with a full socket buffer: queued, sent
	 * on EPOLLOUT */
	inject_eagain = 1;
	cr_assert_eq(udp_send_now(s, "late", 4, (struct sockaddr *)&cl, len), 0);
	cr_assert_eq(udp_queued(s), 1);
	inject_eagain = 0;
	loop_once(loop, 1000);
	cr_assert_eq(recv(fd, buf, sizeof(buf), MSG_DONTWAIT), 4);
	udp_sock_stats(s, &st);
	cr_assert_eq(st.tx_datagrams, 9);
	cr_assert_eq(st.tx_eagain, 2);
	close(fd);
	udp_sock_free(s);
	loop_free(loop);
}

/* Level-triggered fairness: a flooded socket gets at most rx_rounds batches
 * per turn, so a quiet socket ready in the same turn is served in it. */
Test(udp, flooded_socket_does_not_starve_another)
{
	struct loop *loop;
	struct udp_sock *a, *b;
	struct udp_opts o = {.rx_batch = 8, .rx_rounds = 1};
	struct sockaddr_storage sa, sb, cl;
	socklen_t len;
	static struct sink k;
	int fd, i, turn_b = -1, turns;

	memset(&k, 0, sizeof(k));
	cr_assert_eq(loop_new(&loop, 0, 0, 0), 0);
	len = loopback(AF_INET, &sa, 0);
	cr_assert_eq(udp_sock_new(&a, loop, (struct sockaddr *)&sa, len, &o, on_dgram, &k), 0);
	cr_assert_eq(udp_sock_new(&b, loop, (struct sockaddr *)&sa, len, &o, on_dgram, &k), 0);
	len = sizeof(sa);
	udp_sock_local(a, (struct sockaddr *)&sa, &len);
	len = sizeof(sb);
	udp_sock_local(b, (struct sockaddr *)&sb, &len);
	fd = client(AF_INET, &cl);
	for (i = 0; i < 200; i++)
		cr_assert_eq(sendto(fd, "x", 1, 0, (struct sockaddr *)&sa, len), 1);
	cr_assert_eq(sendto(fd, "y", 1, 0, (struct sockaddr *)&sb, len), 1);
	for (turns = 0; k.n < 201 && turns < 100; turns++) {
		int before = k.n;

		cr_assert_gt(loop_once(loop, 1000), 0);
		cr_assert_leq(k.n - before, 8 + 1, "one batch of a, maybe b's one");
		for (i = before; i < k.n; i++)
			if (k.which[i % MAXD] == b && turn_b < 0)
				turn_b = turns;
	}
	cr_assert_eq(k.n, 201);
	cr_assert_eq(turn_b, 0, "b served in the first turn");
	cr_assert_geq(turns, 200 / 8);
	close(fd);
	udp_sock_free(a);
	udp_sock_free(b);
	loop_free(loop);
}

/* ------------------------------------------------------------------------ */
/* Overload: the new-REGISTER scan and the load levels (issue 7 §3)          */

Test(udp, new_register_scan)
{
	static const struct {
		const char *msg;
		bool isnew;
	} v[] = {
	        {"REGISTER sip:a SIP/2.0\r\nVia: x\r\nCall-ID: 1\r\n\r\n", true},
	        {"REGISTER sip:a SIP/2.0\r\nAuthorization: Digest u=1\r\n\r\n", false},
	        {"REGISTER sip:a SIP/2.0\r\nVia: x\r\nauthorization : Digest\r\n\r\n", false},
	        {"REGISTER sip:a SIP/2.0\nVia: x\nAUTHORIZATION\t:Digest\n\n", false},
	        /* not the Authorization header */
	        {"REGISTER sip:a SIP/2.0\r\nProxy-Authorization: Digest\r\n\r\n", true},
	        {"REGISTER sip:a SIP/2.0\r\nX-Authorization: Digest\r\n\r\n", true},
	        {"REGISTER sip:a SIP/2.0\r\nAuthorizationX: Digest\r\n\r\n", true},
	        {"REGISTER sip:a SIP/2.0\r\nAuthorization\r\n\r\n", true},
	        /* in the body, after the empty line: not a header */
	        {"REGISTER sip:a SIP/2.0\r\nVia: x\r\n\r\nAuthorization: Digest\r\n", true},
	        /* truncated inside the header name, and at the end */
	        {"REGISTER sip:a SIP/2.0\r\nAuthoriz", true},
	        {"REGISTER sip:a SIP/2.0\r\nAuthorization", true},
	        {"REGISTER sip:a SIP/2.0", true},
	        /* other methods, responses, not SIP, too short, case of the method */
	        {"OPTIONS sip:a SIP/2.0\r\nVia: x\r\n\r\n", false},
	        {"SIP/2.0 401 Unauthorized\r\nVia: x\r\n\r\n", false},
	        {"register sip:a SIP/2.0\r\n\r\n", false},
	        {"REGISTERX sip:a SIP/2.0\r\n\r\n", false},
	        {"REGISTER", false},
	        {"", false},
	        {"\x01\x02\x03\xff garbage\n\n", false},
	};

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		cr_assert_eq(udp_is_new_register(v[i].msg, strlen(v[i].msg)), v[i].isnew,
			     "vector %zu: %s", i, v[i].msg);
}

struct ovl_sink {
	int news, auths, others;
	int max_load;
	int new_at_shed; /* new REGISTERs delivered while the level was SHED */
	int new_at_drop; /* ... while DROP: must stay 0 */
};

static void on_ovl(void *arg, struct udp_sock *s, const char *buf, size_t len,
		   const struct sockaddr *src, socklen_t srclen)
{
	struct ovl_sink *k = arg;
	int l = (int)udp_sock_load(s);

	(void)src, (void)srclen;
	/* never NULL; said so because gcc 12 -O2 with the sanitizers otherwise
	 * warns (-Wnonnull) that memmem might get NULL below */
	cr_assert_not_null(buf);
	if (l > k->max_load)
		k->max_load = l;
	if (len >= 9 && memcmp(buf, "REGISTER ", 9) == 0 && memmem(buf, len, "Authorization:", 14)) {
		k->auths++;
	} else if (len >= 9 && memcmp(buf, "REGISTER ", 9) == 0) {
		k->news++;
		k->new_at_shed += l == UDP_LOAD_SHED;
		k->new_at_drop += l == UDP_LOAD_DROP;
	} else {
		k->others++;
	}
}

/* Receive-queue fill of fd in 1/1024 of its buffer (as udp.c measures). */
static unsigned queue_fill(int fd)
{
	uint32_t mi[SK_MEMINFO_VARS] = {0};
	socklen_t len = sizeof(mi);

	cr_assert_eq(getsockopt(fd, SOL_SOCKET, SO_MEMINFO, mi, &len), 0);
	return (unsigned)((uint64_t)mi[SK_MEMINFO_RMEM_ALLOC] * 1024u / mi[SK_MEMINFO_RCVBUF]);
}

/*
 * The worker is "stopped" (the loop does not run) while a client fills the
 * socket to ~80 % with new REGISTERs, every 8th one an authenticated
 * REGISTER, every 16th an OPTIONS. Then the loop runs: the first batches
 * see a queue over 5/8 (DROP: no new REGISTER delivered), then over 1/4
 * (SHED: a few delivered, for the 503), then normally; every
 * authenticated REGISTER and OPTIONS is delivered; the level is back to OK
 * once the queue is drained, and a new REGISTER sent then is delivered.
 */
Test(udp, overload_sheds_new_registers_first)
{
	static const char reg[] = "REGISTER sip:d SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n"
				  "From: <sip:u@d>;tag=1\r\nTo: <sip:u@d>\r\nCall-ID: %d\r\n"
				  "CSeq: 1 REGISTER\r\nContact: <sip:u@h>\r\n%s"
				  "Content-Length: 0\r\n\r\n";
	struct loop *loop;
	struct udp_sock *s;
	struct udp_opts o = {.rx_batch = 16, .rcvbuf = 256 * 1024};
	struct sockaddr_storage srv, cl;
	struct ovl_sink k = {0};
	struct udp_stats st;
	socklen_t len;
	int fd, sent_new = 0, sent_auth = 0, sent_other = 0, turns;
	struct timespec t0, t1;
	long ms;
	char msg[512];

	cr_assert_eq(loop_new(&loop, 0, 0, 0), 0);
	len = loopback(AF_INET, &srv, 0);
	cr_assert_eq(udp_sock_new(&s, loop, (struct sockaddr *)&srv, len, &o, on_ovl, &k), 0);
	len = sizeof(srv);
	udp_sock_local(s, (struct sockaddr *)&srv, &len);
	fd = client(AF_INET, &cl);
	cr_assert_eq(udp_sock_load(s), UDP_LOAD_OK);
	for (int i = 0; queue_fill(udp_sock_fd(s)) < 820; i++) {
		int n;

		cr_assert_lt(i, 100000, "the queue never filled");
		if (i % 16 == 15) {
			n = snprintf(msg, sizeof(msg), "OPTIONS sip:d SIP/2.0\r\nCall-ID: %d\r\n\r\n", i);
			sent_other++;
		} else if (i % 8 == 7) {
			n = snprintf(msg, sizeof(msg), reg, i, "Authorization: Digest username=\"u\"\r\n");
			sent_auth++;
		} else {
			n = snprintf(msg, sizeof(msg), reg, i, "");
			sent_new++;
		}
		cr_assert_eq(sendto(fd, msg, (size_t)n, 0, (struct sockaddr *)&srv, len), n);
	}
	cr_assert_lt(queue_fill(udp_sock_fd(s)), 1000, "nothing lost in the kernel");
	/* the loop runs until the socket stays quiet for 100 ms */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (turns = 0; turns < 1000 && loop_once(loop, 100) > 0; turns++)
		;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	udp_sock_stats(s, &st);
	/* the 503s are rationed: a burst of 32, then 1000 a second */
	cr_assert_leq(k.new_at_shed, 32 + ms + 1, "%d delivered at SHED in %ld ms",
		      k.new_at_shed, ms);
	cr_assert_eq(k.max_load, UDP_LOAD_DROP, "the level reached DROP");
	cr_assert_eq(k.auths, sent_auth, "every authenticated REGISTER delivered");
	cr_assert_eq(k.others, sent_other, "every OPTIONS delivered");
	cr_assert_eq(k.new_at_drop, 0, "no new REGISTER delivered at DROP");
	cr_assert_gt(k.new_at_shed, 0, "some delivered at SHED (for the 503)");
	cr_assert_gt(st.rx_shed, 0);
	cr_assert_eq((int)st.rx_shed + k.news, sent_new, "shed + delivered = sent");
	cr_assert_lt(k.news, sent_new, "some were shed");
	cr_assert_eq(st.overload_episodes, 1);
	cr_assert_eq(udp_sock_load(s), UDP_LOAD_OK, "drained: back to normal at once");
	cr_assert_eq(udp_sock_shed(s), st.rx_shed);

	/* after the drain: a new REGISTER is delivered again */
	k.news = 0;
	snprintf(msg, sizeof(msg), reg, -1, "");
	cr_assert_eq(sendto(fd, msg, strlen(msg), 0, (struct sockaddr *)&srv, len),
		     (ssize_t)strlen(msg));
	for (turns = 0; turns < 50 && k.news == 0; turns++)
		cr_assert_geq(loop_once(loop, 100), 0);
	cr_assert_eq(k.news, 1);
	cr_assert_eq(udp_sock_load(s), UDP_LOAD_OK);
	close(fd);
	udp_sock_free(s);
	loop_free(loop);
}

/* A moderate queue (over 3/8, under 5/8): SHED only, never DROP. */
Test(udp, moderate_queue_sheds_without_dropping_all)
{
	static const char reg[] = "REGISTER sip:d SIP/2.0\r\nCall-ID: %d\r\n\r\n";
	struct loop *loop;
	struct udp_sock *s;
	struct udp_opts o = {.rx_batch = 8, .rcvbuf = 256 * 1024};
	struct sockaddr_storage srv, cl;
	struct ovl_sink k = {0};
	struct udp_stats st;
	socklen_t len;
	int fd, sent = 0;
	char msg[128];

	cr_assert_eq(loop_new(&loop, 0, 0, 0), 0);
	len = loopback(AF_INET, &srv, 0);
	cr_assert_eq(udp_sock_new(&s, loop, (struct sockaddr *)&srv, len, &o, on_ovl, &k), 0);
	len = sizeof(srv);
	udp_sock_local(s, (struct sockaddr *)&srv, &len);
	fd = client(AF_INET, &cl);
	while (queue_fill(udp_sock_fd(s)) < 500) {
		int n = snprintf(msg, sizeof(msg), reg, sent++);

		cr_assert_eq(sendto(fd, msg, (size_t)n, 0, (struct sockaddr *)&srv, len), n);
	}
	for (int turns = 0; turns < 1000 && loop_once(loop, 100) > 0; turns++)
		;
	udp_sock_stats(s, &st);
	cr_assert_eq(k.max_load, UDP_LOAD_SHED);
	cr_assert_eq(k.new_at_drop, 0);
	cr_assert_gt(st.rx_shed, 0);
	cr_assert_eq(k.news + (int)st.rx_shed, sent);
	cr_assert_eq(udp_sock_load(s), UDP_LOAD_OK);
	close(fd);
	udp_sock_free(s);
	loop_free(loop);
}

/* ------------------------------------------------------------------------ */
/* Connected companions                                                      */

/* Send n datagrams "tag i" from s to dst, flushing every 50 through the loop;
 * the client fd reads them all and each must come from srv (the listen
 * address and port, companion or not). */
static void send_and_check(struct loop *loop, struct udp_sock *s, int fd,
			   const struct sockaddr_storage *dst, socklen_t dstlen,
			   const struct sockaddr_storage *srv, socklen_t srvlen,
			   const char *tag, int n)
{
	char buf[64], want[64];

	for (int i = 0; i < n; i++) {
		int m = snprintf(buf, sizeof(buf), "%s %d", tag, i);

		cr_assert_eq(udp_send_queue(s, buf, (size_t)m, (const struct sockaddr *)dst,
					    dstlen),
			     0);
		if (i % 50 == 49 || i == n - 1) {
			loop_once(loop, 0);
			cr_assert_eq(udp_queued(s), 0);
		}
	}
	for (int i = 0; i < n; i++) {
		struct sockaddr_storage from;
		socklen_t fl = sizeof(from);
		ssize_t r = recvfrom(fd, buf, sizeof(buf), MSG_DONTWAIT,
				     (struct sockaddr *)&from, &fl);
		int wn = snprintf(want, sizeof(want), "%s %d", tag, i);

		cr_assert_eq(r, wn, "%s %d of %d arrived", tag, i, n);
		cr_assert_eq(memcmp(buf, want, (size_t)wn), 0, "in order");
		cr_assert_eq(fl, srvlen);
		cr_assert_eq(port_of(&from), port_of(srv),
			     "sent from the listen port (%u, not %u)", port_of(&from),
			     port_of(srv));
		cr_assert_eq(memcmp(&from, srv, srvlen), 0, "sent from the listen address");
	}
}

static void heavy_destination(int family)
{
	struct loop *loop;
	struct udp_sock *s;
	struct sockaddr_storage srv, up, other;
	socklen_t len, srvlen;
	static struct sink k;
	struct udp_stats st;
	int fu, fo, i;

	memset(&k, 0, sizeof(k));
	cr_assert_eq(loop_new(&loop, 0, 0, 0), 0);
	len = loopback(family, &srv, 0);
	cr_assert_eq(udp_sock_new(&s, loop, (struct sockaddr *)&srv, len, NULL, on_dgram, &k),
		     0);
	srvlen = sizeof(srv);
	cr_assert_eq(udp_sock_local(s, (struct sockaddr *)&srv, &srvlen), 0);
	fu = client(family, &up);
	fo = client(family, &other);
	/* below the vote: no companion */
	send_and_check(loop, s, fu, &up, len, &srv, srvlen, "a", 200);
	udp_sock_stats(s, &st);
	cr_assert_eq(st.peers, 0);
	send_and_check(loop, s, fu, &up, len, &srv, srvlen, "b", 200);
	udp_sock_stats(s, &st);
	cr_assert_eq(st.peers, 1, "the upstream has its connected socket");
	cr_assert_eq(st.tx_datagrams, 400);
	cr_assert_eq(st.tx_errors + st.peer_open_errors + st.tx_peer_errors, 0);
	/* a datagram for another destination in between: both arrive, from
	 * the listen port */
	send_and_check(loop, s, fo, &other, len, &srv, srvlen, "o", 3);
	send_and_check(loop, s, fu, &up, len, &srv, srvlen, "c", 10);
	/* what the upstream and the other client send is delivered to the
	 * callback with the listen socket and the sender's address */
	for (i = 0; i < 5; i++) {
		cr_assert_eq(sendto(fu, "up", 2, 0, (struct sockaddr *)&srv, srvlen), 2);
		cr_assert_eq(sendto(fo, "ot", 2, 0, (struct sockaddr *)&srv, srvlen), 2);
	}
	run_until(loop, &k.n, 10);
	for (i = 0; i < 10; i++) {
		const struct sockaddr_storage *want =
		        memcmp(k.data[i], "up", 2) == 0 ? &up : &other;

		cr_assert_eq(k.which[i], s);
		cr_assert_eq(k.srclen[i], len);
		cr_assert_eq(memcmp(&k.src[i], want, len), 0, "the sender's address");
	}
	udp_sock_stats(s, &st);
	cr_assert_eq(st.rx_datagrams, 10);
	close(fu);
	close(fo);
	udp_sock_free(s);
	loop_free(loop);
}

Test(udp, heavy_destination_gets_a_connected_socket_ipv4)
{
	heavy_destination(AF_INET);
}

Test(udp, heavy_destination_gets_a_connected_socket_ipv6)
{
	heavy_destination(AF_INET6);
}

/* Destinations that share the traffic evenly (a registrar's clients) get
 * none; nor does a socket without SO_REUSEPORT. */
Test(udp, no_connected_socket_without_a_majority_or_reuseport)
{
	struct loop *loop;
	struct udp_sock *s, *n;
	struct udp_opts no = {.no_reuseport = true};
	struct sockaddr_storage srv, srv2, cl[3];
	socklen_t len, srvlen = sizeof(srv), srvlen2 = sizeof(srv2);
	static struct sink k;
	struct udp_stats st;
	int fd[3], i, j;

	memset(&k, 0, sizeof(k));
	cr_assert_eq(loop_new(&loop, 0, 0, 0), 0);
	len = loopback(AF_INET, &srv, 0);
	cr_assert_eq(udp_sock_new(&s, loop, (struct sockaddr *)&srv, len, NULL, on_dgram, &k),
		     0);
	cr_assert_eq(udp_sock_new(&n, loop, (struct sockaddr *)&srv, len, &no, on_dgram, &k),
		     0);
	cr_assert_eq(udp_sock_local(s, (struct sockaddr *)&srv, &srvlen), 0);
	cr_assert_eq(udp_sock_local(n, (struct sockaddr *)&srv2, &srvlen2), 0);
	for (i = 0; i < 3; i++)
		fd[i] = client(AF_INET, &cl[i]);
	for (j = 0; j < 300; j++) {
		for (i = 0; i < 3; i++)
			cr_assert_eq(udp_send_queue(s, "x", 1, (struct sockaddr *)&cl[i], len), 0);
		loop_once(loop, 0);
	}
	udp_sock_stats(s, &st);
	cr_assert_eq(st.peers, 0, "three even destinations: no majority");
	cr_assert_eq(st.tx_datagrams, 900);
	for (i = 0; i < 3; i++)
		close(fd[i]);
	fd[0] = client(AF_INET, &cl[0]);
	/* (at most 200 at a time: the client's receive buffer) */
	send_and_check(loop, n, fd[0], &cl[0], len, &srv2, srvlen2, "n", 200);
	send_and_check(loop, n, fd[0], &cl[0], len, &srv2, srvlen2, "m", 200);
	send_and_check(loop, n, fd[0], &cl[0], len, &srv2, srvlen2, "l", 200);
	udp_sock_stats(n, &st);
	cr_assert_eq(st.peers, 0, "no SO_REUSEPORT: no companion");
	close(fd[0]);
	udp_sock_free(s);
	udp_sock_free(n);
	loop_free(loop);
}

/* The upstream's port closes: the connected socket gets ICMP port
 * unreachable, reported on its next send, which sent nothing: that
 * datagram goes again, so every datagram leaves; when a listener is back on
 * the port, it gets them. */
Test(udp, connected_socket_resends_after_an_icmp_error)
{
	struct loop *loop;
	struct udp_sock *s;
	struct sockaddr_storage srv, up;
	socklen_t len, srvlen = sizeof(srv);
	static struct sink k;
	struct udp_stats st, st2;
	char buf[16];
	int fu, i;

	memset(&k, 0, sizeof(k));
	cr_assert_eq(loop_new(&loop, 0, 0, 0), 0);
	len = loopback(AF_INET, &srv, 0);
	cr_assert_eq(udp_sock_new(&s, loop, (struct sockaddr *)&srv, len, NULL, on_dgram, &k),
		     0);
	cr_assert_eq(udp_sock_local(s, (struct sockaddr *)&srv, &srvlen), 0);
	fu = client(AF_INET, &up);
	send_and_check(loop, s, fu, &up, len, &srv, srvlen, "a", 150);
	send_and_check(loop, s, fu, &up, len, &srv, srvlen, "b", 150);
	udp_sock_stats(s, &st);
	cr_assert_eq(st.peers, 1);
	close(fu);
	/* flushed one by one without reading: each send after the first
	 * meets the previous one's error (on loopback the ICMP comes back
	 * inside the send) */
	for (i = 0; i < 5; i++) {
		cr_assert_eq(udp_send_queue(s, "gone", 4, (struct sockaddr *)&up, len), 0);
		cr_assert_eq(udp_flush(s), 1);
	}
	udp_sock_stats(s, &st2);
	cr_assert_eq(st2.tx_datagrams - st.tx_datagrams, 5, "every one sent");
	cr_assert_eq(st2.tx_errors, 0);
	cr_assert_eq(st2.tx_peer_errors, 4, "the ICMP errors were seen on send (%llu)",
		     (unsigned long long)st2.tx_peer_errors);
	/* the last one's error comes up on the read side: counted, nothing
	 * delivered */
	loop_once(loop, 0);
	udp_sock_stats(s, &st2);
	cr_assert_eq(st2.rx_errors, 1);
	cr_assert_eq(k.n, 0);
	/* a listener on the same port again (nothing else binds it between) */
	fu = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	cr_assert_geq(fu, 0);
	if (bind(fu, (struct sockaddr *)&up, len) < 0) {
		close(fu);
		udp_sock_free(s);
		loop_free(loop);
		cr_skip_test("the port was taken meanwhile: rebinding not checked");
	}
	cr_assert_eq(udp_send_queue(s, "back", 4, (struct sockaddr *)&up, len), 0);
	loop_once(loop, 0);
	cr_assert_eq(recv(fu, buf, sizeof(buf), MSG_DONTWAIT), 4);
	cr_assert_eq(memcmp(buf, "back", 4), 0);
	close(fu);
	udp_sock_free(s);
	loop_free(loop);
}

/* ------------------------------------------------------------------------ */
/* Segmentation offload (UDP GSO) on send                                    */

/* Queue datagram i of the pattern: len[i] bytes of 'a' + i (i < 26). */
static void queue_pattern(struct udp_sock *s, const size_t *len, int n,
			  const struct sockaddr_storage *dst, socklen_t dstlen)
{
	static char buf[2048];

	for (int i = 0; i < n; i++) {
		memset(buf, 'a' + i, len[i]);
		cr_assert_eq(udp_send_queue(s, buf, len[i], (const struct sockaddr *)dst,
					    dstlen),
			     0);
	}
}

/* The client reads exactly the pattern, datagram by datagram, in order. */
static void read_pattern(int fd, const size_t *len, int n)
{
	static char buf[4096];

	for (int i = 0; i < n; i++) {
		ssize_t r = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);

		cr_assert_eq(r, (ssize_t)len[i], "datagram %d: %zd bytes, not %zu", i, r,
			     len[i]);
		for (size_t j = 0; j < len[i]; j++)
			cr_assert_eq(buf[j], 'a' + i, "datagram %d byte %zu", i, j);
	}
	cr_assert_eq(recv(fd, buf, sizeof(buf), MSG_DONTWAIT), -1, "nothing more");
}

/* Runs of equal sizes (the last of a run may be shorter) to one destination
 * leave as one message each; the receiver gets every datagram whole, in
 * order. Empty and oversized (> 1232 bytes) datagrams go alone. */
static void gso_runs(int family)
{
	static const size_t len[] = {100, 100, 100, 50, 100, 100, 300, 300, 0,
				     7,   1300, 1300, 200, 200, 201, 200};
	const int n = (int)(sizeof(len) / sizeof(len[0]));
	struct loop *loop;
	struct udp_sock *s;
	struct sockaddr_storage srv, cl;
	socklen_t slen;
	static struct sink k;
	struct udp_stats st;
	int fd;

	memset(&k, 0, sizeof(k));
	cr_assert_eq(loop_new(&loop, 0, 0, 0), 0);
	slen = loopback(family, &srv, 0);
	cr_assert_eq(udp_sock_new(&s, loop, (struct sockaddr *)&srv, slen, NULL, on_dgram, &k),
		     0);
	fd = client(family, &cl);
	seen_msgs = seen_gso = 0;
	queue_pattern(s, len, n, &cl, slen);
	cr_assert_eq(udp_flush(s), n);
	udp_sock_stats(s, &st);
	cr_assert_eq(st.tx_datagrams, (uint64_t)n);
	cr_assert_eq(st.tx_batches, 1, "one sendmmsg()");
	/* {100 x3, 50} {100 x2} {300 x2} {0} {7} {1300} {1300} {200 x2}
	 * {201, 200}: 5 GSO messages of 12 datagrams, 4 alone */
	cr_assert_eq(st.tx_gso, 12, "%llu datagrams by GSO", (unsigned long long)st.tx_gso);
	cr_assert_eq(seen_msgs, 9);
	cr_assert_eq(seen_gso, 5);
	cr_assert_eq(st.tx_gso_off + st.tx_errors, 0);
	read_pattern(fd, len, n);
	close(fd);
	udp_sock_free(s);
	loop_free(loop);
}

Test(udp, gso_runs_ipv4)
{
	gso_runs(AF_INET);
}

Test(udp, gso_runs_ipv6)
{
	gso_runs(AF_INET6);
}

/* Through the listen socket, destinations alternating: a run is one
 * destination's; each client gets its own datagrams in order. */
Test(udp, gso_run_is_one_destination)
{
	static const size_t la[] = {80, 80, 80}, lb[] = {80, 80};
	struct loop *loop;
	struct udp_sock *s;
	struct sockaddr_storage srv, a, b;
	socklen_t slen;
	static struct sink k;
	struct udp_stats st;
	static char buf[128];
	int fa, fb;

	memset(&k, 0, sizeof(k));
	cr_assert_eq(loop_new(&loop, 0, 0, 0), 0);
	slen = loopback(AF_INET, &srv, 0);
	cr_assert_eq(udp_sock_new(&s, loop, (struct sockaddr *)&srv, slen, NULL, on_dgram, &k),
		     0);
	fa = client(AF_INET, &a);
	fb = client(AF_INET, &b);
	/* a0 a1 b0 b1 a2: messages {a0 a1} {b0 b1} {a2} */
	memset(buf, 'a', 80);
	cr_assert_eq(udp_send_queue(s, buf, 80, (struct sockaddr *)&a, slen), 0);
	memset(buf, 'b', 80);
	cr_assert_eq(udp_send_queue(s, buf, 80, (struct sockaddr *)&a, slen), 0);
	memset(buf, 'a', 80);
	cr_assert_eq(udp_send_queue(s, buf, 80, (struct sockaddr *)&b, slen), 0);
	memset(buf, 'b', 80);
	cr_assert_eq(udp_send_queue(s, buf, 80, (struct sockaddr *)&b, slen), 0);
	memset(buf, 'c', 80);
	cr_assert_eq(udp_send_queue(s, buf, 80, (struct sockaddr *)&a, slen), 0);
	cr_assert_eq(udp_flush(s), 5);
	udp_sock_stats(s, &st);
	cr_assert_eq(st.tx_gso, 4);
	read_pattern(fa, la, 3);
	read_pattern(fb, lb, 2);
	close(fa);
	close(fb);
	udp_sock_free(s);
	loop_free(loop);
}

/* The kernel really sends one buffer: a receiver with UDP_GRO gets a run
 * whole, with its segment size. */
Test(udp, gso_run_reaches_a_gro_receiver_as_one_buffer)
{
	static const size_t len[] = {120, 120, 120, 120, 60};
	struct loop *loop;
	struct udp_sock *s;
	struct sockaddr_storage srv, cl;
	socklen_t slen;
	static struct sink k;
	static char buf[4096];
	char ctl[CMSG_SPACE(sizeof(int))];
	struct iovec iov = {buf, sizeof(buf)};
	struct msghdr h = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl,
			   .msg_controllen = sizeof(ctl)};
	int fd, one = 1, seg = 0;
	ssize_t r;

	memset(&k, 0, sizeof(k));
	cr_assert_eq(loop_new(&loop, 0, 0, 0), 0);
	slen = loopback(AF_INET, &srv, 0);
	cr_assert_eq(udp_sock_new(&s, loop, (struct sockaddr *)&srv, slen, NULL, on_dgram, &k),
		     0);
	fd = client(AF_INET, &cl);
	if (setsockopt(fd, SOL_UDP, UDP_GRO, &one, sizeof(one)) < 0) {
		close(fd);
		udp_sock_free(s);
		loop_free(loop);
		cr_skip_test("UDP_GRO not supported here: the one-buffer check is not made");
	}
	queue_pattern(s, len, 5, &cl, slen);
	cr_assert_eq(udp_flush(s), 5);
	r = recvmsg(fd, &h, MSG_DONTWAIT);
	cr_assert_eq(r, 540, "the run arrives as one buffer (%zd bytes)", r);
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&h); c; c = CMSG_NXTHDR(&h, c))
		if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO)
			memcpy(&seg, CMSG_DATA(c), sizeof(seg));
	cr_assert_eq(seg, 120, "segment size %d", seg);
	for (int i = 0; i < 540; i++)
		cr_assert_eq(buf[i], 'a' + (i < 480 ? i / 120 : 4));
	close(fd);
	udp_sock_free(s);
	loop_free(loop);
}

/* A kernel that refuses UDP_SEGMENT (EINVAL): GSO is turned off for the
 * socket, the run goes again datagram by datagram, nothing is lost, and
 * later flushes do not try again. */
Test(udp, gso_refused_falls_back_without_loss)
{
	static const size_t len[] = {90, 90, 90, 90};
	struct loop *loop;
	struct udp_sock *s;
	struct sockaddr_storage srv, cl;
	socklen_t slen;
	static struct sink k;
	struct udp_stats st;
	int fd;

	memset(&k, 0, sizeof(k));
	cr_assert_eq(loop_new(&loop, 0, 0, 0), 0);
	slen = loopback(AF_INET, &srv, 0);
	cr_assert_eq(udp_sock_new(&s, loop, (struct sockaddr *)&srv, slen, NULL, on_dgram, &k),
		     0);
	fd = client(AF_INET, &cl);
	inject_no_gso = 1;
	seen_msgs = seen_gso = 0;
	queue_pattern(s, len, 4, &cl, slen);
	cr_assert_eq(udp_flush(s), 4);
	udp_sock_stats(s, &st);
	cr_assert_eq(st.tx_gso_off, 1);
	cr_assert_eq(st.tx_gso, 0);
	cr_assert_eq(st.tx_datagrams, 4);
	cr_assert_eq(st.tx_errors + st.tx_drops, 0);
	cr_assert_eq(seen_msgs, 4, "sent one by one");
	read_pattern(fd, len, 4);
	queue_pattern(s, len, 4, &cl, slen);
	cr_assert_eq(udp_flush(s), 4);
	udp_sock_stats(s, &st);
	cr_assert_eq(st.tx_gso_off, 1, "not tried again");
	cr_assert_eq(seen_gso, 0);
	cr_assert_eq(st.tx_datagrams, 8);
	read_pattern(fd, len, 4);
	inject_no_gso = 0;
	close(fd);
	udp_sock_free(s);
	loop_free(loop);
}

/* ------------------------------------------------------------------------ */
/* Segmentation offload on receive (UDP GRO)                                 */

static bool gro_supported(void)
{
	int fd = socket(AF_INET, SOCK_DGRAM, 0), one = 1;
	bool ok = fd >= 0 && setsockopt(fd, SOL_UDP, UDP_GRO, &one, sizeof(one)) == 0;

	if (fd >= 0)
		close(fd);
	return ok;
}

/* One GSO message: n segments of seg bytes from buf (the last may be
 * shorter: len in all). */
static void send_gso(int fd, const char *buf, size_t len, uint16_t seg,
		     const struct sockaddr_storage *dst, socklen_t dstlen)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(uint16_t))];
	} ctl;
	struct iovec iov = {(void *)buf, len};
	struct msghdr h = {.msg_name = (void *)dst, .msg_namelen = dstlen, .msg_iov = &iov,
			   .msg_iovlen = 1, .msg_control = ctl.buf,
			   .msg_controllen = sizeof(ctl.buf)};
	struct cmsghdr *c = CMSG_FIRSTHDR(&h);

	c->cmsg_level = SOL_UDP;
	c->cmsg_type = UDP_SEGMENT;
	c->cmsg_len = CMSG_LEN(sizeof(seg));
	memcpy(CMSG_DATA(c), &seg, sizeof(seg));
	cr_assert_eq(sendmsg(fd, &h, 0), (ssize_t)len, "GSO send: %s", strerror(errno));
}

/* A sender's GSO run reaches the socket as one buffer (loopback, UDP_GRO
 * set): the callback still gets each datagram on its own, in order, with
 * the sender's address; a plain datagram after it as before. */
static void gro_run_cut(int family)
{
	static char run[660];
	struct loop *loop;
	struct udp_sock *s;
	struct sockaddr_storage srv, cl;
	socklen_t len, srvlen;
	static struct sink k;
	struct udp_stats st;
	int fd;

	if (!gro_supported())
		cr_skip_test("UDP_GRO not supported here: the receive side's cut is not checked");
	memset(&k, 0, sizeof(k));
	cr_assert_eq(loop_new(&loop, 0, 0, 0), 0);
	len = loopback(family, &srv, 0);
	cr_assert_eq(udp_sock_new(&s, loop, (struct sockaddr *)&srv, len, NULL, on_dgram, &k),
		     0);
	srvlen = sizeof(srv);
	cr_assert_eq(udp_sock_local(s, (struct sockaddr *)&srv, &srvlen), 0);
	fd = client(family, &cl);
	for (int i = 0; i < 660; i++)
		run[i] = (char)('a' + (i < 600 ? i / 120 : 5));
	send_gso(fd, run, 660, 120, &srv, srvlen); /* 5 x 120, then 60 */
	cr_assert_eq(sendto(fd, "plain", 5, 0, (struct sockaddr *)&srv, srvlen), 5);
	run_until(loop, &k.n, 7);
	for (int i = 0; i < 6; i++) {
		cr_assert_eq(k.len[i], i < 5 ? 120u : 60u, "datagram %d: %zu bytes", i, k.len[i]);
		for (size_t j = 0; j < k.len[i] && j < 128; j++)
			cr_assert_eq(k.data[i][j], 'a' + i);
		cr_assert_eq(k.srclen[i], len);
		cr_assert_eq(memcmp(&k.src[i], &cl, len), 0, "the sender's address");
		cr_assert_eq(k.which[i], s);
	}
	cr_assert_eq(k.len[6], 5);
	cr_assert_eq(memcmp(k.data[6], "plain", 5), 0);
	udp_sock_stats(s, &st);
	cr_assert_eq(st.rx_datagrams, 7);
	cr_assert_eq(st.rx_gro, 6, "the run came as one buffer (%llu)",
		     (unsigned long long)st.rx_gro);
	close(fd);
	udp_sock_free(s);
	loop_free(loop);
}

Test(udp, gro_run_is_cut_into_its_datagrams_ipv4)
{
	gro_run_cut(AF_INET);
}

Test(udp, gro_run_is_cut_into_its_datagrams_ipv6)
{
	gro_run_cut(AF_INET6);
}

/* A smaller max_datagram: no UDP_GRO (a run could not fit a slot), the
 * kernel cuts the run, every datagram arrives as before. */
Test(udp, no_gro_with_small_slots)
{
	static char run[400];
	struct loop *loop;
	struct udp_sock *s;
	struct udp_opts o = {.max_datagram = 2048};
	struct sockaddr_storage srv, cl;
	socklen_t len, srvlen;
	static struct sink k;
	struct udp_stats st;
	int fd;

	memset(&k, 0, sizeof(k));
	cr_assert_eq(loop_new(&loop, 0, 0, 0), 0);
	len = loopback(AF_INET, &srv, 0);
	cr_assert_eq(udp_sock_new(&s, loop, (struct sockaddr *)&srv, len, &o, on_dgram, &k), 0);
	srvlen = sizeof(srv);
	cr_assert_eq(udp_sock_local(s, (struct sockaddr *)&srv, &srvlen), 0);
	fd = client(AF_INET, &cl);
	memset(run, 'x', sizeof(run));
	send_gso(fd, run, sizeof(run), 100, &srv, srvlen);
	run_until(loop, &k.n, 4);
	for (int i = 0; i < 4; i++)
		cr_assert_eq(k.len[i], 100);
	udp_sock_stats(s, &st);
	cr_assert_eq(st.rx_gro, 0);
	cr_assert_eq(st.rx_truncated, 0);
	close(fd);
	udp_sock_free(s);
	loop_free(loop);
}

/*
 * Overload with GRO runs: the queue filled to ~80 % by GSO runs of 8
 * equal-size requests (six runs of new REGISTERs, one of authenticated
 * ones, one of OPTIONS, again and again). Shedding looks at each datagram
 * of a run: no new REGISTER at DROP, every authenticated one and every
 * OPTIONS delivered, shed + delivered = sent.
 */
Test(udp, overload_sheds_inside_gro_runs)
{
	static const char reg[] = "REGISTER sip:d SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n"
				  "From: <sip:u@d>;tag=1\r\nTo: <sip:u@d>\r\nCall-ID: %08d\r\n"
				  "CSeq: 1 REGISTER\r\nContact: <sip:u@h>\r\n%s"
				  "Content-Length: 0\r\n\r\n";
	struct loop *loop;
	struct udp_sock *s;
	struct udp_opts o = {.rx_batch = 16, .rcvbuf = 256 * 1024};
	struct sockaddr_storage srv, cl;
	struct ovl_sink k = {0};
	struct udp_stats st;
	socklen_t len;
	int fd, sent_new = 0, sent_auth = 0, sent_other = 0, turns, id = 0;
	static char run[8 * 512];

	if (!gro_supported())
		cr_skip_test("UDP_GRO not supported here: shedding inside runs not checked");
	cr_assert_eq(loop_new(&loop, 0, 0, 0), 0);
	len = loopback(AF_INET, &srv, 0);
	cr_assert_eq(udp_sock_new(&s, loop, (struct sockaddr *)&srv, len, &o, on_ovl, &k), 0);
	len = sizeof(srv);
	udp_sock_local(s, (struct sockaddr *)&srv, &len);
	fd = client(AF_INET, &cl);
	for (int r = 0; queue_fill(udp_sock_fd(s)) < 820; r++) {
		size_t off = 0;
		int n = 0;

		cr_assert_lt(r, 10000, "the queue never filled");
		for (int j = 0; j < 8; j++, id++) {
			if (r % 8 == 7)
				n = snprintf(run + off, 512, "OPTIONS sip:d SIP/2.0\r\nCall-ID: %08d\r\n\r\n", id);
			else if (r % 8 == 6)
				n = snprintf(run + off, 512, reg, id,
					     "Authorization: Digest username=\"u\"\r\n");
			else
				n = snprintf(run + off, 512, reg, id, "");
			off += (size_t)n;
		}
		if (r % 8 == 7)
			sent_other += 8;
		else if (r % 8 == 6)
			sent_auth += 8;
		else
			sent_new += 8;
		send_gso(fd, run, off, (uint16_t)n, &srv, len);
	}
	cr_assert_lt(queue_fill(udp_sock_fd(s)), 1000, "nothing lost in the kernel");
	for (turns = 0; turns < 1000 && loop_once(loop, 100) > 0; turns++)
		;
	udp_sock_stats(s, &st);
	cr_assert_gt(st.rx_gro, 0, "runs came whole");
	cr_assert_eq(k.max_load, UDP_LOAD_DROP, "the level reached DROP");
	cr_assert_eq(k.auths, sent_auth, "every authenticated REGISTER delivered");
	cr_assert_eq(k.others, sent_other, "every OPTIONS delivered");
	cr_assert_eq(k.new_at_drop, 0, "no new REGISTER delivered at DROP");
	cr_assert_gt(st.rx_shed, 0);
	cr_assert_eq((int)st.rx_shed + k.news, sent_new, "shed + delivered = sent");
	cr_assert_eq(udp_sock_load(s), UDP_LOAD_OK, "drained: back to normal");
	close(fd);
	udp_sock_free(s);
	loop_free(loop);
}

/* ------------------------------------------------------------------------ */
/* Answers leave every rx_batch datagrams read                               */

struct early_sink {
	int n;
	unsigned queued_at[64]; /* udp_queued() when datagram i arrived */
};

static void on_early(void *arg, struct udp_sock *s, const char *buf, size_t len,
		     const struct sockaddr *src, socklen_t srclen)
{
	struct early_sink *k = arg;

	cr_assert_lt(k->n, 64);
	k->queued_at[k->n++] = udp_queued(s);
	cr_assert_eq(udp_send_queue(s, buf, len, src, srclen), 0);
}

/* 20 datagrams waiting, rx_batch 8, each answered from the callback: the
 * answers to the first 8 have left when the 9th is handed over (and those
 * to the next 8 when the 17th is), all 20 reach the client in order. With a
 * GRO run of 20 in one slot (when the kernel has UDP_GRO) the same. */
static void early_flush(bool gso)
{
	static char run[20 * 40];
	struct loop *loop;
	struct udp_sock *s;
	struct udp_opts o = {.rx_batch = 8};
	struct sockaddr_storage srv, cl;
	socklen_t len, srvlen;
	struct early_sink k = {0};
	struct udp_stats st;
	char buf[64];
	int fd;

	cr_assert_eq(loop_new(&loop, 0, 0, 0), 0);
	len = loopback(AF_INET, &srv, 0);
	cr_assert_eq(udp_sock_new(&s, loop, (struct sockaddr *)&srv, len, &o, on_early, &k), 0);
	srvlen = sizeof(srv);
	cr_assert_eq(udp_sock_local(s, (struct sockaddr *)&srv, &srvlen), 0);
	fd = client(AF_INET, &cl);
	for (int i = 0; i < 20; i++)
		snprintf(run + 40 * i, 41, "OPTIONS %02d %-28s", i, "x");
	if (gso) {
		send_gso(fd, run, sizeof(run), 40, &srv, srvlen);
	} else {
		for (int i = 0; i < 20; i++)
			cr_assert_eq(sendto(fd, run + 40 * i, 40, 0, (struct sockaddr *)&srv,
					    srvlen),
				     40);
	}
	run_until(loop, &k.n, 20);
	cr_assert_eq(udp_queued(s), 4, "the last 4 wait for the before-sleep flush");
	loop_once(loop, 0);
	cr_assert_eq(udp_queued(s), 0);
	for (int i = 0; i < 20; i++)
		cr_assert_eq(k.queued_at[i], (unsigned)(i % 8), "datagram %d saw %u queued", i,
			     k.queued_at[i]);
	udp_sock_stats(s, &st);
	cr_assert_eq(st.tx_datagrams, 20);
	cr_assert_geq(st.tx_batches, 3, "8, 8 and the last 4 apart");
	for (int i = 0; i < 20; i++) {
		cr_assert_eq(recv(fd, buf, sizeof(buf), MSG_DONTWAIT), 40);
		cr_assert_eq(memcmp(buf, run + 40 * i, 40), 0, "answer %d in order", i);
	}
	close(fd);
	udp_sock_free(s);
	loop_free(loop);
}

Test(udp, answers_leave_every_rx_batch)
{
	early_flush(false);
}

Test(udp, answers_leave_every_rx_batch_inside_a_gro_run)
{
	if (!gro_supported())
		cr_skip_test("UDP_GRO not supported here: the run's flushes are not checked");
	early_flush(true);
}
