/* SPDX-License-Identifier: MIT */
/* Tests of the cross-worker datagram handoff (handoff.h). */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sipreg/handoff.h"
#include "sipreg/loop.h"
#include "sipreg/transport.h"

struct got {
	int n;
	char buf[8][64];
	size_t len[8];
	struct sockaddr_storage src[8];
	socklen_t srclen[8];
	unsigned from[8];
	uint32_t tag[8];
};

static void on_handoff(void *arg, const char *buf, size_t len, const struct sockaddr *src,
		       socklen_t srclen, unsigned from, uint32_t tag)
{
	struct got *g = arg;
	int i = g->n++ % 8;

	memcpy(g->buf[i], buf, len < 64 ? len : 64);
	g->len[i] = len;
	memcpy(&g->src[i], src, srclen);
	g->srclen[i] = srclen;
	g->from[i] = from;
	g->tag[i] = tag;
}

static socklen_t v4(struct sockaddr_storage *ss, unsigned port)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;

	memset(ss, 0, sizeof(*ss));
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin->sin_port = htons(port);
	return sizeof(*sin);
}

Test(handoff, push_wakes_and_delivers_a_copy)
{
	struct loop *loop;
	struct handoff *h;
	static struct got g;
	struct handoff_stats st;
	struct sockaddr_storage src;
	socklen_t len = v4(&src, 5070);
	char buf[32] = "SIP/2.0 200 OK";

	cr_assert_eq(loop_new(&loop, 0, 0, 0), 0);
	cr_assert_eq(handoff_new(&h, loop, 0, on_handoff, &g), 0);
	cr_assert_eq(handoff_push(h, buf, 14, (struct sockaddr *)&src, len, 3, 77), 0);
	/* the pusher's buffer may change at once: the queue has a copy */
	memset(buf, 'X', sizeof(buf));
	memset(&src, 0, sizeof(src));
	cr_assert_eq(g.n, 0, "delivered on the owner's loop, not in push");
	cr_assert_eq(loop_once(loop, 1000), 0); /* the wake is not an fd event */
	cr_assert_eq(g.n, 1);
	cr_assert_eq(g.len[0], 14);
	cr_assert_eq(memcmp(g.buf[0], "SIP/2.0 200 OK", 14), 0);
	cr_assert_eq(g.srclen[0], len);
	cr_assert_eq(ntohs(((struct sockaddr_in *)&g.src[0])->sin_port), 5070);
	cr_assert_eq(g.from[0], 3);
	cr_assert_eq(g.tag[0], 77);
	handoff_get_stats(h, &st);
	cr_assert_eq(st.pushed, 1);
	cr_assert_eq(st.delivered, 1);
	cr_assert_eq(st.dropped, 0);
	handoff_free(h);
	loop_free(loop);
}

Test(handoff, bounded_and_bad_input)
{
	struct loop *loop;
	struct handoff *h;
	static struct got g;
	struct handoff_stats st;
	struct sockaddr_storage src;
	socklen_t len = v4(&src, 1);
	static char big[70000];
	int i;

	cr_assert_eq(loop_new(&loop, 0, 0, 0), 0);
	cr_assert_eq(handoff_new(&h, loop, 4, NULL, NULL), -EINVAL);
	cr_assert_eq(handoff_new(&h, loop, 4, on_handoff, &g), 0);
	for (i = 0; i < 4; i++)
		cr_assert_eq(handoff_push(h, "x", 1, (struct sockaddr *)&src, len, 0, 0), 0);
	cr_assert_eq(handoff_push(h, "x", 1, (struct sockaddr *)&src, len, 0, 0), -ENOBUFS);
	cr_assert_eq(handoff_push(h, "x", 0, (struct sockaddr *)&src, len, 0, 0), -EINVAL);
	cr_assert_eq(handoff_push(h, big, 65536, (struct sockaddr *)&src, len, 0, 0),
		     -EINVAL);
	cr_assert_eq(handoff_push(h, "x", 1, (struct sockaddr *)&src, 1000, 0, 0), -EINVAL);
	cr_assert_eq(handoff_drain(h, 3), 3);
	cr_assert_eq(handoff_drain(h, 0), 1);
	cr_assert_eq(handoff_drain(h, 0), 0);
	/* room again */
	cr_assert_eq(handoff_push(h, "y", 1, (struct sockaddr *)&src, len, 0, 0), 0);
	handoff_get_stats(h, &st);
	cr_assert_eq(st.pushed, 5);
	cr_assert_eq(st.dropped, 1);
	cr_assert_eq(st.delivered, 4);
	/* freed with one still queued: no leak, no callback */
	handoff_free(h);
	cr_assert_eq(g.n, 4);
	loop_free(loop);
}

/* Two workers, each on its own thread with its own loop and handoff, send
 * N datagrams to each other through the handoffs while their loops run.
 * The queues are small, so pushes meet -ENOBUFS and are retried (the
 * refusals are counted); in the end each side got exactly N, in order. */
#define N 200000
#define BATCH 64

struct worker {
	unsigned idx;
	struct loop *loop;
	struct handoff *in;
	struct worker *peer;
	struct loop_hook send_hook;
	unsigned n; /* to send */
	bool spin;  /* retry a refused push at once instead of after 1 ms */
	unsigned sent;
	bool blocked;
	uint64_t refused;
	atomic_uint received;
	unsigned next_expected;
	unsigned errors;
	pthread_t thread;
};

static void on_peer(void *arg, const char *buf, size_t len, const struct sockaddr *src,
		    socklen_t srclen, unsigned from, uint32_t tag)
{
	struct worker *w = arg;
	unsigned seq;

	(void)src;
	if (srclen != sizeof(struct sockaddr_in) || from != w->peer->idx ||
	    len != sizeof(seq) + 8 || tag != 0xabcd) {
		w->errors++;
		return;
	}
	memcpy(&seq, buf, sizeof(seq));
	if (seq != w->next_expected || memcmp(buf + sizeof(seq), "datagram", 8) != 0)
		w->errors++;
	w->next_expected = seq + 1;
	atomic_fetch_add(&w->received, 1);
}

static void send_some(struct loop *loop, void *arg)
{
	struct worker *w = arg;
	struct sockaddr_storage src;
	socklen_t len = v4(&src, 5060 + w->idx);
	char buf[sizeof(unsigned) + 8];
	unsigned i;

	(void)loop;
	w->blocked = false;
	for (i = 0; i < BATCH && w->sent < w->n; i++) {
		memcpy(buf, &w->sent, sizeof(w->sent));
		memcpy(buf + sizeof(w->sent), "datagram", 8);
		if (handoff_push(w->peer->in, buf, sizeof(buf), (struct sockaddr *)&src, len,
				 w->idx, 0xabcd) < 0) {
			w->refused++;
			w->blocked = true;
			return; /* full: retry in a millisecond */
		}
		w->sent++;
	}
}

static int64_t busy_while_sending(struct loop *loop, void *arg)
{
	struct worker *w = arg;

	(void)loop;
	if (w->sent >= w->n)
		return -1;
	return w->blocked && !w->spin ? 1 : 0;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	loop_run(w->loop);
	return NULL;
}

static void exchange(unsigned n, bool spin)
{
	static struct worker w[2];
	struct handoff_stats st;
	int i, waited = 0;

	memset(w, 0, sizeof(w));
	for (i = 0; i < 2; i++) {
		w[i].n = n;
		w[i].spin = spin;
		w[i].idx = (unsigned)i;
		w[i].peer = &w[1 - i];
		cr_assert_eq(loop_new(&w[i].loop, 0, 0, 0), 0);
		cr_assert_eq(handoff_new(&w[i].in, w[i].loop, 512, on_peer, &w[i]), 0);
		w[i].send_hook.cb = send_some;
		w[i].send_hook.arg = &w[i];
		loop_add_before_sleep(w[i].loop, &w[i].send_hook);
		loop_set_timeout(w[i].loop, busy_while_sending, &w[i]);
	}
	for (i = 0; i < 2; i++)
		cr_assert_eq(pthread_create(&w[i].thread, NULL, worker_main, &w[i]), 0);
	while ((atomic_load(&w[0].received) < n || atomic_load(&w[1].received) < n) &&
	       waited++ < 3000)
		usleep(10 * 1000);
	for (i = 0; i < 2; i++) {
		loop_stop(w[i].loop);
		pthread_join(w[i].thread, NULL);
	}
	for (i = 0; i < 2; i++) {
		cr_assert_eq(atomic_load(&w[i].received), n, "worker %d got %u", i,
			     atomic_load(&w[i].received));
		cr_assert_eq(w[i].errors, 0, "order, content and sender kept");
		handoff_get_stats(w[i].in, &st);
		cr_assert_eq(st.pushed, n);
		cr_assert_eq(st.delivered, n);
		cr_assert_eq(st.dropped, w[1 - i].refused);
		cr_log_info("worker %d: %u received, %llu pushes refused (queue full)", i,
			    n, (unsigned long long)st.dropped);
	}
	for (i = 0; i < 2; i++) {
		handoff_free(w[i].in);
		loop_free(w[i].loop);
	}
}

Test(handoff, two_threads_exchange_without_loss, .timeout = 60)
{
	exchange(N, false);
}

/* Producers that retry a refused push at once keep both queues at their
 * bound and wake the other loop as fast as it can clear its wake flag: the
 * case that found a lost-wake race in the loop (flag cleared before the
 * eventfd read), which stalled this exchange. */
Test(handoff, two_threads_exchange_spinning_producers, .timeout = 60)
{
	exchange(N / 10, true);
}

/* The path as the daemon uses it: worker 1's UDP socket receives a response
 * owned by worker 0 and hands it over; worker 0 sees the original source. */
struct route {
	struct handoff *owner;
	int pushed;
};

static void on_udp(void *arg, struct udp_sock *s, const char *buf, size_t len,
		   const struct sockaddr *src, socklen_t srclen)
{
	struct route *r = arg;

	(void)s;
	cr_assert_eq(handoff_push(r->owner, buf, len, src, srclen, 1, 5), 0);
	r->pushed++;
}

Test(handoff, udp_datagram_routed_to_owner)
{
	struct loop *l0, *l1;
	struct handoff *h0;
	struct udp_sock *s1;
	static struct got g;
	struct route r = {0};
	struct sockaddr_storage addr, cl;
	socklen_t len = v4(&addr, 0), cllen = sizeof(cl);
	int fd, turns = 0;

	cr_assert_eq(loop_new(&l0, 0, 0, 0), 0);
	cr_assert_eq(loop_new(&l1, 0, 0, 0), 0);
	cr_assert_eq(handoff_new(&h0, l0, 0, on_handoff, &g), 0);
	r.owner = h0;
	cr_assert_eq(udp_sock_new(&s1, l1, (struct sockaddr *)&addr, len, NULL, on_udp, &r),
		     0);
	len = sizeof(addr);
	udp_sock_local(s1, (struct sockaddr *)&addr, &len);
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	v4(&cl, 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&cl, sizeof(struct sockaddr_in)), 0);
	getsockname(fd, (struct sockaddr *)&cl, &cllen);
	cr_assert_eq(sendto(fd, "SIP/2.0 401 Unauthorized", 24, 0, (struct sockaddr *)&addr,
			    len),
		     24);
	while (r.pushed < 1 && turns++ < 100)
		loop_once(l1, 20);
	cr_assert_eq(r.pushed, 1);
	cr_assert_eq(loop_once(l0, 1000), 0);
	cr_assert_eq(g.n, 1);
	cr_assert_eq(g.len[0], 24);
	cr_assert_eq(memcmp(g.buf[0], "SIP/2.0 401 Unauthorized", 24), 0);
	cr_assert_eq(g.srclen[0], cllen);
	cr_assert_eq(memcmp(&g.src[0], &cl, cllen), 0, "the upstream's address kept");
	cr_assert_eq(g.from[0], 1);
	cr_assert_eq(g.tag[0], 5);
	close(fd);
	udp_sock_free(s1);
	handoff_free(h0);
	loop_free(l1);
	loop_free(l0);
}
