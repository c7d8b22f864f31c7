/* SPDX-License-Identifier: MIT */
/*
 * bench_wheel - the timing wheel against a binary heap, behind one interface.
 *
 *   bench_wheel [N ...]      (default: 1000000 10000000)
 *
 * For each implementation and each N (live timers, expiries uniform over the
 * next 8 hours):
 *   add/fill     ns per add while filling up to N
 *   add          ns per add of 1 M more timers with N live
 *   cancel fifo  ns per cancel of those 1 M, in the order they were added
 *   cancel rand  ns per cancel of 1 M timers in random order
 *   re-arm       ns per re-arm of 1 M random live timers (new random expiry)
 *   expire       ns per timer fired while draining all N the way the event
 *                loop does (advance to wheel_next_deadline() until empty);
 *                for the wheel this includes every cascade
 *   bytes/timer  the node embedded in the owner (+ the heap's index slot)
 * Every phase checks its result (counts, every timer fired once, in time).
 *
 * Then a real-time run: 3000 timers over 3 s on the real clock, driven like
 * the event loop (epoll_wait() for wheel_timeout(), then wheel_advance() to
 * clock_now_ms()); prints the lateness of the callbacks against the exact
 * expiry (p50, p99, max).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "sipreg/clock.h"
#include "sipreg/wheel.h"

#define EIGHT_HOURS UINT64_C(28800000)
#define BATCH 1000000u

static uint64_t rng = 0x9e3779b97f4a7c15u;

static inline uint64_t rnd(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * UINT64_C(2685821657736338717);
}

static size_t fired;
static uint64_t late_max; /* now - expiry of the latest firing */

static void die(const char *what)
{
	fprintf(stderr, "bench_wheel: check failed: %s\n", what);
	exit(1);
}

/* ------------------------------------------------------------------------ */
/* One interface                                                             */

struct impl {
	const char *name;
	size_t bytes_per_timer;
	void *(*create)(size_t cap, uint64_t now);
	void (*destroy)(void *ctx);
	void (*add)(void *ctx, size_t i, uint64_t expires);
	void (*cancel)(void *ctx, size_t i);
	uint64_t (*next)(void *ctx);
	void (*advance)(void *ctx, uint64_t now);
	size_t (*count)(void *ctx);
};

/* The wheel */

struct wctx {
	struct wheel *w;
	struct wheel_timer *t;
};

static void w_cb(struct wheel *w, struct wheel_timer *t)
{
	uint64_t late = wheel_now(w) - wheel_timer_expires(t);

	if (late > late_max)
		late_max = late;
	fired++;
}

static void *w_create(size_t cap, uint64_t now)
{
	struct wctx *c = calloc(1, sizeof(*c));

	if (!c || wheel_new(&c->w, now) < 0)
		die("out of memory");
	c->t = malloc(cap * sizeof(*c->t));
	if (!c->t)
		die("out of memory");
	for (size_t i = 0; i < cap; i++)
		wheel_timer_init(&c->t[i], w_cb);
	return c;
}

static void w_destroy(void *ctx)
{
	struct wctx *c = ctx;

	wheel_free(c->w);
	free(c->t);
	free(c);
}

static void w_add(void *ctx, size_t i, uint64_t e)
{
	struct wctx *c = ctx;

	wheel_add(c->w, &c->t[i], e);
}

static void w_cancel(void *ctx, size_t i)
{
	struct wctx *c = ctx;

	wheel_cancel(c->w, &c->t[i]);
}

static uint64_t w_next(void *ctx)
{
	return wheel_next_deadline(((struct wctx *)ctx)->w);
}

static void w_advance(void *ctx, uint64_t now)
{
	wheel_advance(((struct wctx *)ctx)->w, now);
}

static size_t w_count(void *ctx)
{
	return wheel_count(((struct wctx *)ctx)->w);
}

/* A binary min-heap with the position stored in the node (O(log n) add and
 * cancel), as libevent's and many SIP stacks' timer heaps do. */

struct hnode {
	uint64_t expires;
	uint32_t pos; /* UINT32_MAX: idle */
};

struct hctx {
	struct hnode *n;
	struct hnode **a;
	size_t len;
	uint64_t now;
};

static void *h_create(size_t cap, uint64_t now)
{
	struct hctx *c = calloc(1, sizeof(*c));

	if (!c)
		die("out of memory");
	c->n = malloc(cap * sizeof(*c->n));
	c->a = malloc(cap * sizeof(*c->a));
	if (!c->n || !c->a)
		die("out of memory");
	for (size_t i = 0; i < cap; i++)
		c->n[i].pos = UINT32_MAX;
	c->now = now;
	return c;
}

static void h_destroy(void *ctx)
{
	struct hctx *c = ctx;

	free(c->n);
	free(c->a);
	free(c);
}

static void h_up(struct hctx *c, size_t i)
{
	struct hnode *x = c->a[i];

	while (i > 0) {
		size_t p = (i - 1) / 2;

		if (c->a[p]->expires <= x->expires)
			break;
		c->a[i] = c->a[p];
		c->a[i]->pos = (uint32_t)i;
		i = p;
	}
	c->a[i] = x;
	x->pos = (uint32_t)i;
}

static void h_down(struct hctx *c, size_t i)
{
	struct hnode *x = c->a[i];

	for (;;) {
		size_t k = 2 * i + 1;

		if (k >= c->len)
			break;
		if (k + 1 < c->len && c->a[k + 1]->expires < c->a[k]->expires)
			k++;
		if (x->expires <= c->a[k]->expires)
			break;
		c->a[i] = c->a[k];
		c->a[i]->pos = (uint32_t)i;
		i = k;
	}
	c->a[i] = x;
	x->pos = (uint32_t)i;
}

static void h_remove(struct hctx *c, struct hnode *x)
{
	size_t i = x->pos;
	struct hnode *last = c->a[--c->len];

	x->pos = UINT32_MAX;
	if (last == x)
		return;
	c->a[i] = last;
	last->pos = (uint32_t)i;
	if (i > 0 && c->a[(i - 1) / 2]->expires > last->expires)
		h_up(c, i);
	else
		h_down(c, i);
}

static void h_add(void *ctx, size_t i, uint64_t e)
{
	struct hctx *c = ctx;
	struct hnode *x = &c->n[i];

	if (x->pos != UINT32_MAX)
		h_remove(c, x);
	x->expires = e;
	c->a[c->len] = x;
	h_up(c, c->len++);
}

static void h_cancel(void *ctx, size_t i)
{
	struct hctx *c = ctx;

	if (c->n[i].pos != UINT32_MAX)
		h_remove(c, &c->n[i]);
}

static uint64_t h_next(void *ctx)
{
	struct hctx *c = ctx;

	return c->len ? c->a[0]->expires : UINT64_MAX;
}

static void h_advance(void *ctx, uint64_t now)
{
	struct hctx *c = ctx;

	c->now = now;
	while (c->len && c->a[0]->expires <= now) {
		struct hnode *x = c->a[0];
		uint64_t late = now - x->expires;

		h_remove(c, x);
		if (late > late_max)
			late_max = late;
		fired++;
	}
}

static size_t h_count(void *ctx)
{
	return ((struct hctx *)ctx)->len;
}

static const struct impl impls[] = {
	{"wheel", sizeof(struct wheel_timer), w_create, w_destroy, w_add, w_cancel, w_next,
	 w_advance, w_count},
	{"heap", sizeof(struct hnode) + sizeof(struct hnode *), h_create, h_destroy, h_add,
	 h_cancel, h_next, h_advance, h_count},
};

/* ------------------------------------------------------------------------ */

static double per(uint64_t ns, size_t n)
{
	return n ? (double)ns / (double)n : 0.0;
}

static void run(const struct impl *im, size_t n)
{
	const uint64_t t0 = 1000000; /* the clock at start */
	size_t cap = n + BATCH;
	uint64_t *exp = malloc(cap * sizeof(*exp));
	size_t *perm = malloc(BATCH * sizeof(*perm));
	void *ctx;
	uint64_t a, b, wakeups = 0;
	double fill, add, cfifo, crand, rearm, expire;

	if (!exp || !perm)
		die("out of memory");
	rng = 0x9e3779b97f4a7c15u;
	for (size_t i = 0; i < cap; i++)
		exp[i] = t0 + 1 + rnd() % EIGHT_HOURS;
	ctx = im->create(cap, t0);

	a = clock_now_ns();
	for (size_t i = 0; i < n; i++)
		im->add(ctx, i, exp[i]);
	b = clock_now_ns();
	fill = per(b - a, n);
	if (im->count(ctx) != n)
		die("fill count");

	a = clock_now_ns();
	for (size_t i = n; i < cap; i++)
		im->add(ctx, i, exp[i]);
	b = clock_now_ns();
	add = per(b - a, BATCH);
	if (im->count(ctx) != cap)
		die("add count");

	a = clock_now_ns();
	for (size_t i = n; i < cap; i++)
		im->cancel(ctx, i);
	b = clock_now_ns();
	cfifo = per(b - a, BATCH);
	if (im->count(ctx) != n)
		die("cancel fifo count");

	for (size_t i = n; i < cap; i++)
		im->add(ctx, i, exp[i]);
	for (size_t i = 0; i < BATCH; i++)
		perm[i] = n + i;
	for (size_t i = BATCH - 1; i > 0; i--) {
		size_t j = rnd() % (i + 1), x = perm[i];

		perm[i] = perm[j];
		perm[j] = x;
	}
	a = clock_now_ns();
	for (size_t i = 0; i < BATCH; i++)
		im->cancel(ctx, perm[i]);
	b = clock_now_ns();
	crand = per(b - a, BATCH);
	if (im->count(ctx) != n)
		die("cancel random count");

	/* re-arm: random live timers get a new random expiry */
	for (size_t i = 0; i < BATCH; i++) {
		perm[i] = rnd() % n;
		exp[cap - 1 - i] = t0 + 1 + rnd() % EIGHT_HOURS; /* reuse as input */
	}
	a = clock_now_ns();
	for (size_t i = 0; i < BATCH; i++)
		im->add(ctx, perm[i], exp[cap - 1 - i]);
	b = clock_now_ns();
	rearm = per(b - a, BATCH);
	if (im->count(ctx) != n)
		die("re-arm count");

	/* expire everything the way the loop does */
	fired = 0;
	late_max = 0;
	a = clock_now_ns();
	while (im->count(ctx)) {
		uint64_t d = im->next(ctx);

		im->advance(ctx, d);
		wakeups++;
	}
	b = clock_now_ns();
	expire = per(b - a, fired);
	if (fired != n)
		die("not every timer fired exactly once");
	if (late_max != 0)
		die("a timer fired late");

	printf("%-6s %9zu %9.1f %9.1f %11.1f %11.1f %9.1f %9.1f %11zu %9.2f\n", im->name, n,
	       fill, add, cfifo, crand, rearm, expire, im->bytes_per_timer,
	       (double)wakeups / (double)n);
	fflush(stdout);
	im->destroy(ctx);
	free(exp);
	free(perm);
}

/* Real-time lateness: the wheel as the loop drives it. */

#define RT_N 3000u

static uint64_t rt_late_ns[RT_N];
static size_t rt_n;

static void rt_cb(struct wheel *w, struct wheel_timer *t)
{
	uint64_t now = clock_now_ns(), due = wheel_timer_expires(t) * 1000000u;

	(void)w;
	if (now < due)
		die("a timer fired before its time on the real clock");
	rt_late_ns[rt_n++] = now - due;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void realtime(void)
{
	static struct wheel_timer t[RT_N];
	struct epoll_event ev;
	struct wheel *w;
	uint64_t now = clock_now_ms();
	int ep = epoll_create1(0);

	if (ep < 0 || wheel_new(&w, now) < 0)
		die("epoll or wheel");
	rng = 42;
	for (size_t i = 0; i < RT_N; i++) {
		wheel_timer_init(&t[i], rt_cb);
		wheel_add(w, &t[i], now + 1 + rnd() % 3000);
	}
	while (wheel_count(w)) {
		int64_t to = wheel_timeout(w, clock_now_ms());

		if (epoll_wait(ep, &ev, 1, (int)to) < 0)
			die("epoll_wait");
		wheel_advance(w, clock_now_ms());
	}
	close(ep);
	wheel_free(w);
	if (rt_n != RT_N)
		die("real-time count");
	qsort(rt_late_ns, rt_n, sizeof(rt_late_ns[0]), cmp_u64);
	printf("\nreal clock, %u timers over 3 s, epoll_wait-driven: lateness p50 %.3f ms, "
	       "p99 %.3f ms, max %.3f ms\n",
	       RT_N, (double)rt_late_ns[rt_n / 2] / 1e6, (double)rt_late_ns[rt_n * 99 / 100] / 1e6,
	       (double)rt_late_ns[rt_n - 1] / 1e6);
}

int main(int argc, char **argv)
{
	size_t sizes[8] = {1000000, 10000000};
	int nsizes = 2;

	if (argc > 1) {
		nsizes = 0;
		for (int i = 1; i < argc && nsizes < 8; i++) {
			char *end;
			unsigned long long v = strtoull(argv[i], &end, 10);

			if (*end || v == 0 || v > 100000000) {
				fprintf(stderr, "usage: bench_wheel [N ...] (1..100000000)\n");
				return 2;
			}
			sizes[nsizes++] = (size_t)v;
		}
	}
	printf("timing wheel vs binary heap: ns per operation with N live timers,\n"
	       "expiries uniform over 8 h; 1 M timers per add/cancel/re-arm phase\n\n");
	printf("%-6s %9s %9s %9s %11s %11s %9s %9s %11s %9s\n", "impl", "N", "add/fill",
	       "add", "cancel-fifo", "cancel-rand", "re-arm", "expire", "bytes/timer",
	       "wakeups/N");
	for (int s = 0; s < nsizes; s++)
		for (size_t i = 0; i < sizeof(impls) / sizeof(impls[0]); i++)
			run(&impls[i], sizes[s]);
	realtime();
	return 0;
}
