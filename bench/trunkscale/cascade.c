/* SPDX-License-Identifier: MIT */
/*
 * trunkscale-cascade - the longest single wheel_advance() when the wheel
 * crosses a level-3 boundary (every 262,144 ms) while holding N trunk
 * refresh timers, armed the way the trunks arm them at 1,000,000 trunks
 * with SS_SIP_USER_AGENT_EXPIRE = 120: one every 60,000/N ms over the minute
 * before the boundary, each 54-60 s ahead. The walk then goes on, one
 * advance per ms, to 70 s past the boundary, every timer that fires re-arming
 * itself 54-60 s ahead as a refreshed trunk does, so it also crosses the
 * level-2 slots (4.1 s each, about N/14 timers) that the refreshes pass
 * through. A wheel that cascades a whole slot at once (the wheel before the
 * incremental pre-cascade) stalls once per such slot; one that cascades
 * ahead of time does not. Each timer sits in its own 1 KiB record in a
 * shuffled order, as the UA's trunks do, so the moves miss the cache as
 * they do in sipregd. docs/BENCHMARKS.md "Trunk scale" explains the
 * 1,000,000-trunk lateness with it.
 *
 *   trunkscale-cascade [N ...]      (default 100000 700000)
 *
 * Prints, per N: the timers due past the boundary, the slowest advance within
 * 10 ms of the boundary, the slowest of the whole walk and where it was (ms
 * from the boundary), the advances slower than 1 ms, and the timers fired.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "sipreg/wheel.h"

#define LEVEL3_MS 262144ull

struct rec {
	struct wheel_timer t;
	char pad[1024 - sizeof(struct wheel_timer)];
};

static unsigned long fired;
static bool rearm; /* fired timers re-arm 54-60 s ahead (the walk) */
static uint64_t next_rand(void);

static void on_fire(struct wheel *w, struct wheel_timer *t)
{
	fired++;
	if (rearm)
		wheel_add(w, t, wheel_now(w) + 54000 + next_rand() % 6000);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* xorshift64: a fixed sequence, so runs are comparable */
static uint64_t rng = 88172645463325252ull;

static uint64_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static int run(unsigned n)
{
	uint64_t b = LEVEL3_MS * 100, start = b - 60000, worst_at = 0;
	unsigned long past = 0, slow = 0;
	struct wheel *w = NULL;
	struct rec *r = calloc(n, sizeof(*r));
	unsigned *perm = malloc((size_t)n * sizeof(*perm));
	double worst = 0, worst_b = 0;

	if (!r || !perm || wheel_new(&w, start) < 0) {
		fprintf(stderr, "trunkscale-cascade: out of memory\n");
		free(r);
		free(perm);
		return 1;
	}
	for (unsigned i = 0; i < n; i++)
		perm[i] = i;
	for (unsigned i = n - 1; i > 0; i--) {
		unsigned j = (unsigned)(next_rand() % (i + 1)), x = perm[i];

		perm[i] = perm[j];
		perm[j] = x;
	}
	fired = 0;
	for (unsigned k = 0; k < n; k++) {
		uint64_t at = start + (uint64_t)k * 60000 / n;
		uint64_t e = at + 54000 + next_rand() % 6000;
		struct rec *x = &r[perm[k]];

		if (at > wheel_now(w))
			wheel_advance(w, at);
		wheel_timer_init(&x->t, on_fire);
		wheel_add(w, &x->t, e);
		past += e >= b;
	}
	fired = 0;
	rearm = true;
	for (uint64_t t = wheel_now(w) + 1; t <= b + 70000; t++) {
		double t0 = now_s(), d;

		wheel_advance(w, t);
		d = now_s() - t0;
		if (d > worst) {
			worst = d;
			worst_at = t;
		}
		if (t + 10 >= b && t <= b + 10 && d > worst_b)
			worst_b = d;
		slow += d > 1e-3;
	}
	rearm = false;
	printf("n=%u timers, %lu due past the level-3 boundary: slowest wheel_advance "
	       "%.2f ms "
	       "within 10 ms of the boundary, %.2f ms in the walk to boundary+70 s (at "
	       "boundary%+lld ms), %lu advances over 1 ms; %lu fired and re-armed on the "
	       "way\n",
	       n, past, worst_b * 1e3, worst * 1e3, (long long)worst_at - (long long)b,
	       slow, fired);
	wheel_free(w);
	free(r);
	free(perm);
	return 0;
}

int main(int argc, char **argv)
{
	static const unsigned def[] = {100000, 700000};
	int rc = 0;

	if (argc < 2) {
		for (unsigned i = 0; i < 2; i++)
			rc |= run(def[i]);
		return rc;
	}
	for (int i = 1; i < argc; i++) {
		char *end;
		unsigned long v = strtoul(argv[i], &end, 10);

		if (*end || v < 2 || v > 10000000) {
			fprintf(stderr,
			        "trunkscale-cascade: N must be 2..10000000, not '%s'\n",
			        argv[i]);
			return 2;
		}
		rc |= run((unsigned)v);
	}
	return rc;
}
