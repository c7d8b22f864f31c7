/* SPDX-License-Identifier: MIT */
/*
 * Tests of the timing wheel: edge cases, and a randomized run of more than a
 * million operations against a naive reference (a binary heap with lazy
 * deletion) plus the wheel's own invariant checker.
 *
 * The firing rule under test (wheel.h): a timer armed with expiry E fires in
 * the first wheel_advance(now) with now >= E that starts after it was armed:
 * never earlier (never early), never later (lateness bound 0 ticks).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <time.h>

#include "sipreg/clock.h"
#include "sipreg/loop.h"
#include "sipreg/wheel.h"

/* ------------------------------------------------------------------------ */
/* Helpers                                                                   */

struct tmr {
	struct wheel_timer t;
	unsigned id;
	unsigned fired;
	uint64_t fired_at;
};

static void count_cb(struct wheel *w, struct wheel_timer *t)
{
	struct tmr *o = wheel_timer_owner(t, struct tmr, t);

	cr_assert_not(wheel_timer_pending(t), "a timer must be idle in its callback");
	o->fired++;
	o->fired_at = wheel_now(w);
}

static struct wheel *mkwheel(uint64_t now)
{
	struct wheel *w = NULL;

	cr_assert_eq(wheel_new(&w, now), 0);
	cr_assert_not_null(w);
	return w;
}

static void check(const struct wheel *w)
{
	const char *why = NULL;
	int r = wheel_check(w, &why);

	cr_assert_eq(r, 0, "wheel invariant broken: %s", why ? why : "?");
}

/* ------------------------------------------------------------------------ */
/* Edge cases                                                                */

Test(wheel, empty)
{
	struct wheel *w = mkwheel(1000);

	cr_assert_eq(wheel_next_deadline(w), UINT64_MAX);
	cr_assert_eq(wheel_timeout(w, 1000), -1);
	cr_assert_eq(wheel_count(w), 0);
	cr_assert_eq(wheel_advance(w, 5000), 0);
	cr_assert_eq(wheel_now(w), 5000);
	check(w);
	wheel_free(w);
	wheel_free(NULL);
}

Test(wheel, zero_delay_fires_at_next_advance)
{
	struct wheel *w = mkwheel(777);
	struct tmr a = {0};

	wheel_timer_init(&a.t, count_cb);
	cr_assert_eq(wheel_add_in(w, &a.t, 0), 0);
	cr_assert(wheel_timer_pending(&a.t));
	cr_assert_eq(wheel_timer_expires(&a.t), 777);
	cr_assert_eq(wheel_next_deadline(w), 777);
	cr_assert_eq(wheel_timeout(w, 777), 0);
	check(w);
	/* the same now: it is due, so it runs */
	cr_assert_eq(wheel_advance(w, 777), 1);
	cr_assert_eq(a.fired, 1);
	cr_assert_not(wheel_timer_pending(&a.t));
	cr_assert_eq(wheel_count(w), 0);
	wheel_free(w);
}

Test(wheel, past_expiry_fires_at_next_advance)
{
	struct wheel *w = mkwheel(10000);
	struct tmr a = {0};

	wheel_timer_init(&a.t, count_cb);
	cr_assert_eq(wheel_add(w, &a.t, 3), 0);
	cr_assert_eq(wheel_next_deadline(w), 10000);
	check(w);
	cr_assert_eq(wheel_advance(w, 10000), 1);
	cr_assert_eq(a.fired, 1);
	wheel_free(w);
}

Test(wheel, exact_expiry_each_level)
{
	/* One timer per level boundary and one just inside: it must not fire
	 * 1 ms before its expiry and must fire exactly at it. */
	static const uint64_t delays[] = {
	        1,        2,        63,         64,         65,
	        4095,     4096,     262143,     262144,     16777215,
	        16777216, 28800000, 1073741823, 1073741824, UINT64_C(68719476736)};
	for (size_t i = 0; i < sizeof(delays) / sizeof(delays[0]); i++) {
		for (uint64_t start = 0; start < 3; start++) {
			/* start 0 is aligned; 1 and 2 make crossings differ */
			uint64_t now = start * 12345;
			struct wheel *w = mkwheel(now);
			struct tmr a = {0};

			wheel_timer_init(&a.t, count_cb);
			cr_assert_eq(wheel_add(w, &a.t, now + delays[i]), 0);
			check(w);
			cr_assert_leq(wheel_next_deadline(w), now + delays[i]);
			cr_assert_gt(wheel_next_deadline(w), now);
			if (delays[i] > 1) {
				cr_assert_eq(wheel_advance(w, now + delays[i] - 1), 0);
				check(w);
			}
			cr_assert_eq(a.fired, 0, "delay %llu fired early",
			             (unsigned long long)delays[i]);
			cr_assert_eq(wheel_advance(w, now + delays[i]), 1);
			cr_assert_eq(a.fired, 1, "delay %llu did not fire on time",
			             (unsigned long long)delays[i]);
			cr_assert_eq(a.fired_at, now + delays[i]);
			wheel_free(w);
		}
	}
}

Test(wheel, boundary_crossing)
{
	/* now = 63, expiry 64: they differ in bit 6, so the timer sits at
	 * level 1; the next deadline is still exactly 64. */
	struct wheel *w = mkwheel(63);
	struct tmr a = {0};

	wheel_timer_init(&a.t, count_cb);
	wheel_add(w, &a.t, 64);
	cr_assert_eq(wheel_next_deadline(w), 64);
	cr_assert_eq(wheel_timeout(w, 63), 1);
	check(w);
	cr_assert_eq(wheel_advance(w, 64), 1);
	wheel_free(w);
}

Test(wheel, max_expiry_and_saturation)
{
	/* Decision: no clamping. The whole uint64_t range is a valid expiry;
	 * wheel_add_in() saturates now + delay at UINT64_MAX. */
	struct wheel *w = mkwheel(5000);
	struct tmr a = {0}, b = {0};

	wheel_timer_init(&a.t, count_cb);
	wheel_timer_init(&b.t, count_cb);
	cr_assert_eq(wheel_add(w, &a.t, UINT64_MAX), 0);
	cr_assert_eq(wheel_add_in(w, &b.t, UINT64_MAX - 10), 0);
	cr_assert_eq(wheel_timer_expires(&b.t), UINT64_MAX, "now + delay must saturate");
	cr_assert_eq(wheel_timeout(w, 5000), INT32_MAX);
	cr_assert_gt(wheel_next_deadline(w), 5000);
	check(w);
	cr_assert_eq(wheel_advance(w, UINT64_MAX / 2), 0);
	check(w);
	cr_assert_eq(wheel_advance(w, UINT64_MAX - 1), 0);
	check(w);
	cr_assert_eq(wheel_next_deadline(w), UINT64_MAX);
	cr_assert_eq(wheel_advance(w, UINT64_MAX), 2);
	cr_assert_eq(a.fired + b.fired, 2);
	cr_assert_eq(wheel_count(w), 0);
	wheel_free(w);
}

Test(wheel, cancel_idle_and_twice)
{
	struct wheel *w = mkwheel(0);
	struct tmr a = {0};

	wheel_timer_init(&a.t, count_cb);
	cr_assert_not(wheel_cancel(w, &a.t), "never armed");
	wheel_add(w, &a.t, 100);
	cr_assert(wheel_cancel(w, &a.t));
	cr_assert_not(wheel_cancel(w, &a.t), "already cancelled");
	cr_assert_eq(wheel_count(w), 0);
	cr_assert_eq(wheel_next_deadline(w), UINT64_MAX);
	check(w);
	cr_assert_eq(wheel_advance(w, 1000), 0);
	cr_assert_eq(a.fired, 0);
	wheel_add(w, &a.t, 1500);
	cr_assert_eq(wheel_advance(w, 2000), 1);
	cr_assert_not(wheel_cancel(w, &a.t), "already fired");
	wheel_free(w);
}

Test(wheel, double_add_rearms)
{
	struct wheel *w = mkwheel(0);
	struct tmr a = {0};

	wheel_timer_init(&a.t, count_cb);
	wheel_add(w, &a.t, 100000);
	wheel_add(w, &a.t, 50);
	wheel_add(w, &a.t, 50); /* same expiry again */
	cr_assert_eq(wheel_count(w), 1);
	check(w);
	cr_assert_eq(wheel_advance(w, 50), 1);
	cr_assert_eq(a.fired, 1);
	cr_assert_eq(wheel_advance(w, 200000), 0, "the first expiry was replaced");
	cr_assert_eq(a.fired, 1);
	wheel_free(w);
}

Test(wheel, bad_arguments)
{
	struct wheel *w = mkwheel(0);
	struct wheel_timer t;

	wheel_timer_init(&t, NULL);
	cr_assert_eq(wheel_add(w, &t, 10), -EINVAL);
	cr_assert_eq(wheel_add(w, NULL, 10), -EINVAL);
	cr_assert_not(wheel_timer_pending(&t));
	cr_assert_eq(wheel_count(w), 0);
	wheel_free(w);
}

Test(wheel, time_does_not_go_back)
{
	struct wheel *w = mkwheel(1000);
	struct tmr a = {0};

	wheel_timer_init(&a.t, count_cb);
	wheel_add(w, &a.t, 1500);
	cr_assert_eq(wheel_advance(w, 10), 0);
	cr_assert_eq(wheel_now(w), 1000);
	check(w);
	cr_assert_eq(wheel_advance(w, 1500), 1);
	wheel_free(w);
}

Test(wheel, huge_jump)
{
	/* 100,000 timers spread over 30 days, then one jump of 2^40 ms: all
	 * fire in one call, quickly (no loop over the milliseconds). */
	enum { N = 100000 };
	struct tmr *a = calloc(N, sizeof(*a));
	struct wheel *w = mkwheel(42);
	uint64_t t0;

	cr_assert_not_null(a);
	for (unsigned i = 0; i < N; i++) {
		wheel_timer_init(&a[i].t, count_cb);
		wheel_add(w, &a[i].t, 42 + (uint64_t)i * 25920 + 1);
	}
	check(w);
	t0 = clock_now_ms();
	cr_assert_eq(wheel_advance(w, UINT64_C(1) << 40), N);
	cr_assert_lt(clock_now_ms() - t0, 2000, "a jump must not walk every ms");
	for (unsigned i = 0; i < N; i++)
		cr_assert_eq(a[i].fired, 1);
	cr_assert_eq(wheel_count(w), 0);
	check(w);
	wheel_free(w);
	free(a);
}

/* Callbacks that act on the wheel while it expires. */
struct actor {
	struct wheel_timer t;
	int mode;
	unsigned fired;
	struct actor *other;
	struct wheel *w;
};

static void actor_cb(struct wheel *w, struct wheel_timer *t)
{
	struct actor *a = wheel_timer_owner(t, struct actor, t);

	a->fired++;
	switch (a->mode) {
	case 1: /* re-arm itself, due at once: next advance, not this one */
		if (a->fired < 3)
			cr_assert_eq(wheel_add_in(w, t, 0), 0);
		break;
	case 2: /* cancel another due timer: it must not fire */
		cr_assert(wheel_cancel(w, &a->other->t));
		break;
	case 3: /* re-arm another due timer later */
		cr_assert_eq(wheel_add_in(w, &a->other->t, 100), 0);
		break;
	case 4: /* advance from a callback is refused */
		cr_assert_eq(wheel_advance(w, wheel_now(w) + 10), -EBUSY);
		break;
	case 5: /* free our owner */
		free(a);
		break;
	}
	check(w);
}

Test(wheel, callback_rearms_itself)
{
	struct wheel *w = mkwheel(0);
	struct actor a = {.mode = 1};

	wheel_timer_init(&a.t, actor_cb);
	wheel_add(w, &a.t, 10);
	cr_assert_eq(wheel_advance(w, 10), 1);
	cr_assert(wheel_timer_pending(&a.t));
	cr_assert_eq(wheel_next_deadline(w), 10);
	cr_assert_eq(wheel_advance(w, 10), 1);
	cr_assert_eq(wheel_advance(w, 11), 1);
	cr_assert_eq(a.fired, 3);
	cr_assert_not(wheel_timer_pending(&a.t));
	cr_assert_eq(wheel_advance(w, 12), 0);
	wheel_free(w);
}

Test(wheel, callback_cancels_and_rearms_others)
{
	struct wheel *w = mkwheel(0);
	struct actor a[4] = {{.mode = 2}, {.mode = 0}, {.mode = 3}, {.mode = 0}};

	a[0].other = &a[1];
	a[2].other = &a[3];
	for (int i = 0; i < 4; i++) {
		wheel_timer_init(&a[i].t, actor_cb);
		/* all due in the same advance; the actors first */
		wheel_add(w, &a[i].t, i % 2 == 0 ? 5 : 6);
	}
	cr_assert_eq(wheel_advance(w, 6), 2);
	cr_assert_eq(a[0].fired, 1);
	cr_assert_eq(a[1].fired, 0, "cancelled while due: must not fire");
	cr_assert_eq(a[2].fired, 1);
	cr_assert_eq(a[3].fired, 0, "re-armed while due: must wait");
	cr_assert_eq(wheel_timer_expires(&a[3].t), 106);
	cr_assert_eq(wheel_advance(w, 105), 0);
	cr_assert_eq(wheel_advance(w, 106), 1);
	cr_assert_eq(a[3].fired, 1);
	wheel_free(w);
}

Test(wheel, callback_cannot_advance_and_may_free)
{
	struct wheel *w = mkwheel(0);
	struct actor a = {.mode = 4};
	struct actor *b = calloc(1, sizeof(*b));

	cr_assert_not_null(b);
	b->mode = 5;
	wheel_timer_init(&a.t, actor_cb);
	wheel_timer_init(&b->t, actor_cb);
	wheel_add(w, &a.t, 1);
	wheel_add(w, &b->t, 1);
	cr_assert_eq(wheel_advance(w, 1), 2);
	cr_assert_eq(a.fired, 1);
	cr_assert_eq(wheel_now(w), 1);
	cr_assert_eq(wheel_count(w), 0);
	wheel_free(w);
}

/* ------------------------------------------------------------------------ */
/* Driven by the deadline, as the event loop does: every timer fires with   */
/* now == its expiry exactly (lateness 0), and the wake-ups are bounded.     */

static unsigned exact_fired;

static void exact_cb(struct wheel *w, struct wheel_timer *t)
{
	cr_assert_eq(wheel_now(w), wheel_timer_expires(t), "fired at %llu, expiry %llu",
	             (unsigned long long)wheel_now(w),
	             (unsigned long long)wheel_timer_expires(t));
	exact_fired++;
}

static uint64_t rng_state;

static uint64_t rnd(void)
{
	/* xorshift64* */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * UINT64_C(2685821657736338717);
}

static void seed_rng(void)
{
	const char *s = getenv("SIPREG_SEED");

	rng_state = s ? strtoull(s, NULL, 0) : UINT64_C(0x5eed5eed12345);
	if (!rng_state)
		rng_state = 1;
	cr_log_info("seed %llu (set SIPREG_SEED to replay)",
	            (unsigned long long)rng_state);
}

Test(wheel, deadline_driven_is_exact)
{
	enum { N = 20000 };
	struct wheel_timer *t = calloc(N, sizeof(*t));
	uint64_t start = 987654321;
	struct wheel *w = mkwheel(start);
	unsigned wakeups = 0;

	cr_assert_not_null(t);
	seed_rng();
	exact_fired = 0;
	for (unsigned i = 0; i < N; i++) {
		wheel_timer_init(&t[i], exact_cb);
		/* up to 10 hours, a quarter of them under 5 s */
		uint64_t d = 1 + (i % 4 ? rnd() % 36000000 : rnd() % 5000);
		wheel_add(w, &t[i], start + d);
	}
	while (wheel_count(w)) {
		uint64_t d = wheel_next_deadline(w);

		cr_assert_gt(d, wheel_now(w));
		cr_assert_geq(wheel_advance(w, d), 0);
		wakeups++;
	}
	cr_assert_eq(exact_fired, N);
	/* each wake-up fires a timer or moves some down a level: at most
	 * 5 levels passed per timer for delays under 10 hours */
	cr_assert_leq(wakeups, 5u * N);
	cr_log_info("%u timers, %u wake-ups", N, wakeups);
	wheel_free(w);
	free(t);
}

/* ------------------------------------------------------------------------ */
/* Next-rotation lists (the incremental pre-cascade)                         */

Test(wheel, next_rotation_deadline_cancel_rearm)
{
	/* now = 4095: digits 63 and 63, so the next ms starts a new block of
	 * levels 0 and 1 (a carry). Timers just past it go to the next
	 * rotations; the deadline must be their exact expiry (the first slot
	 * of a level-0 next rotation is a millisecond). */
	struct wheel *w = mkwheel(4095);
	struct tmr a = {0}, b = {0}, c = {0};

	wheel_timer_init(&a.t, count_cb);
	wheel_timer_init(&b.t, count_cb);
	wheel_timer_init(&c.t, count_cb);
	wheel_add(w, &a.t, 4096 + 5);      /* level 0's next block */
	wheel_add(w, &b.t, 4096 + 64 + 1); /* level 1's next block */
	wheel_add(w, &c.t, 8192 + 7);      /* level 2's next block */
	check(w);
	cr_assert_eq(wheel_next_deadline(w), 4096 + 5);
	cr_assert_eq(wheel_timeout(w, 4095), 6);
	/* cancel the earliest: the deadline moves to the next one's slot */
	cr_assert(wheel_cancel(w, &a.t));
	check(w);
	cr_assert_leq(wheel_next_deadline(w), 4096 + 64 + 1);
	cr_assert_gt(wheel_next_deadline(w), 4095);
	cr_assert(wheel_cancel(w, &b.t));
	cr_assert_leq(wheel_next_deadline(w), 8192 + 7);
	cr_assert(wheel_cancel(w, &c.t));
	check(w);
	cr_assert_eq(wheel_next_deadline(w), UINT64_MAX);
	/* re-arm a pending next-rotation timer into another next rotation,
	 * then into the current one */
	wheel_add(w, &a.t, 4096 + 5);
	wheel_add(w, &a.t, 4096 + 64 * 3);
	check(w);
	cr_assert_eq(wheel_count(w), 1);
	wheel_add(w, &a.t, 4096 + 64 * 3 + 2);
	wheel_add(w, &b.t, 4096 + 64 * 3 + 1);
	wheel_add(w, &c.t, 4096 + 64 * 3 + 2);
	cr_assert(wheel_cancel(w, &a.t));
	check(w);
	for (uint64_t t = 4096; t < 4096 + 64 * 3 + 1; t++) {
		cr_assert_eq(wheel_advance(w, t), 0, "fired early at %llu",
		             (unsigned long long)t);
		check(w);
	}
	cr_assert_eq(wheel_advance(w, 4096 + 64 * 3 + 1), 1);
	cr_assert_eq(b.fired_at, 4096 + 64 * 3 + 1);
	cr_assert_eq(wheel_next_deadline(w), 4096 + 64 * 3 + 2);
	cr_assert_eq(wheel_advance(w, 4096 + 64 * 3 + 2), 1);
	cr_assert_eq(c.fired_at, 4096 + 64 * 3 + 2);
	cr_assert_eq(a.fired, 0);
	cr_assert_eq(wheel_count(w), 0);
	check(w);
	wheel_free(w);
}

Test(wheel, next_rotation_jump_over_several_blocks)
{
	/* Timers in the next rotations of levels 0-3 and in current slots,
	 * then one jump past several blocks of each: exactly the due ones
	 * fire, the others stay and fire at their time. */
	enum { N = 2000 };
	struct tmr *a = calloc(N, sizeof(*a));
	uint64_t now = (UINT64_C(5) << 24) - 3, to = now + (UINT64_C(3) << 18) + 77;
	struct wheel *w = mkwheel(now);
	unsigned due = 0, fired = 0;

	cr_assert_not_null(a);
	for (unsigned i = 0; i < N; i++) {
		unsigned l = i % 4, sh = 6 * (l + 1);
		uint64_t e = (((now >> sh) + 1 + i % 3) << sh) +
		             (uint64_t)i * 7919 % (UINT64_C(1) << sh);

		wheel_timer_init(&a[i].t, count_cb);
		wheel_add(w, &a[i].t, e);
		due += e <= to;
	}
	check(w);
	cr_assert_eq(wheel_advance(w, to), (int)due);
	check(w);
	for (unsigned i = 0; i < N; i++) {
		cr_assert_eq(a[i].fired, wheel_timer_expires(&a[i].t) <= to, "timer %u",
		             i);
		fired += a[i].fired;
	}
	cr_assert_eq(fired, due);
	/* the rest, driven by the deadline: each at its exact expiry */
	while (wheel_count(w)) {
		uint64_t d = wheel_next_deadline(w);

		cr_assert_gt(d, wheel_now(w));
		wheel_advance(w, d);
		check(w);
	}
	for (unsigned i = 0; i < N; i++) {
		cr_assert_eq(a[i].fired, 1, "timer %u", i);
		if (wheel_timer_expires(&a[i].t) > to)
			cr_assert_eq(a[i].fired_at, wheel_timer_expires(&a[i].t),
			             "timer %u", i);
	}
	wheel_free(w);
	free(a);
}

Test(wheel, precascade_budget_exhausted_and_not)
{
	/* 1000 timers in the level-2 slot of the block after next (4096-ms
	 * blocks: 8192-12287). Entering block 1 (at 4096) makes that slot the
	 * source of level 1's next rotation: each advance pre-cascades at most
	 * 128 of them. Three 1-ms advances move part of them, a third of the
	 * timers are cancelled or re-armed on the way (in the source slot or in
	 * the next rotation by then), and the boundary at 8192 must cascade
	 * the rest. Walked 1 ms at a time, each fires at its exact expiry. */
	enum { N = 1000 };
	struct wheel_timer *t = calloc(N, sizeof(*t));
	struct wheel *w = mkwheel(0);
	unsigned live = N;

	cr_assert_not_null(t);
	exact_fired = 0;
	for (unsigned i = 0; i < N; i++) {
		wheel_timer_init(&t[i], exact_cb);
		wheel_add(w, &t[i], 8192 + (uint64_t)i * 4093 % 4096);
	}
	check(w);
	cr_assert_eq(wheel_advance(w, 4096), 0);
	check(w);
	for (uint64_t now = 4097; now < 4100; now++) {
		cr_assert_eq(wheel_advance(w, now), 0);
		check(w);
	}
	for (unsigned i = 0; i < N; i += 3) {
		if (i % 2) {
			cr_assert(wheel_cancel(w, &t[i]));
			live--;
		} else {
			wheel_add(w, &t[i], 8192 + 100 + i);
		}
	}
	check(w);
	cr_assert_eq(wheel_next_deadline(w), 8192);
	for (uint64_t now = 4100; now < 8192 + 4096; now++)
		cr_assert_geq(wheel_advance(w, now), 0);
	check(w);
	cr_assert_eq(exact_fired, live);
	cr_assert_eq(wheel_count(w), 0);

	/* the same, but the boundary reached by one jump right after the
	 * first pre-cascade: most are still in the source slot */
	exact_fired = 0;
	for (unsigned i = 0; i < N; i++)
		wheel_add(w, &t[i], 8192 * 3 + (uint64_t)i * 4093 % 4096);
	cr_assert_eq(wheel_advance(w, 8192 * 2 + 4096), 0);
	cr_assert_eq(wheel_advance(w, 8192 * 3 - 1), 0);
	check(w);
	for (uint64_t now = 8192 * 3; now < 8192 * 3 + 4096; now++)
		cr_assert_geq(wheel_advance(w, now), 0);
	cr_assert_eq(exact_fired, N);
	check(w);
	wheel_free(w);
	free(t);
}

/*
 * The 1,000,000-trunk pattern, scaled down: refresh timers 54-60 s ahead,
 * armed every few ms over the minute before a level-3 boundary (262,144 ms),
 * each re-armed 54-60 s ahead when it fires; advanced 1 ms at a time, and
 * sometimes by a few seconds (a loop stalled elsewhere), through the
 * boundary and several level-2 slots. Every firing must be at its exact
 * expiry in the 1 ms walk, never before it in a jump, never after the
 * advance that reaches it.
 */
static uint64_t trunk_walk_now;
static unsigned trunk_fires;

static void trunk_cb(struct wheel *w, struct wheel_timer *t)
{
	struct tmr *o = wheel_timer_owner(t, struct tmr, t);
	uint64_t e = wheel_timer_expires(t);

	cr_assert_leq(e, wheel_now(w), "refresh %u fired early", o->id);
	cr_assert_gt(e, trunk_walk_now, "refresh %u fired late (due by the last advance)",
	             o->id);
	trunk_fires++;
	o->fired++;
	wheel_add(w, t, wheel_now(w) + 54000 + rnd() % 6000);
}

Test(wheel, trunk_refresh_pattern_is_exact, .timeout = 120)
{
	enum { N = 12000 };
	struct tmr *a = calloc(N, sizeof(*a));
	uint64_t b = UINT64_C(262144) * 77, start = b - 60000, end = b + 70000;
	struct wheel *w = mkwheel(start);

	cr_assert_not_null(a);
	seed_rng();
	trunk_fires = 0;
	for (unsigned i = 0; i < N; i++) {
		uint64_t at = start + (uint64_t)i * 60000 / N;

		trunk_walk_now = wheel_now(w);
		if (at > wheel_now(w))
			cr_assert_geq(wheel_advance(w, at), 0);
		a[i].id = i;
		wheel_timer_init(&a[i].t, trunk_cb);
		wheel_add(w, &a[i].t, at + 54000 + rnd() % 6000);
	}
	check(w);
	while (wheel_now(w) < end) {
		uint64_t step = rnd() % 500 ? 1 : 1 + rnd() % 5000;

		trunk_walk_now = wheel_now(w);
		cr_assert_geq(wheel_advance(w, wheel_now(w) + step), 0);
		if (wheel_now(w) % 4096 < 2 || wheel_now(w) % 997 == 0)
			check(w);
		/* nothing pending is due: it would be late */
		cr_assert_gt(wheel_next_deadline(w), wheel_now(w));
	}
	check(w);
	/* 130 s: every trunk refreshed once, those armed in the first 10-22 s
	 * twice; each is pending again, not overdue */
	cr_assert_geq(trunk_fires, N + N / 8, "%u refreshes", trunk_fires);
	cr_assert_eq(wheel_count(w), N);
	for (unsigned i = 0; i < N; i++) {
		cr_assert_geq(a[i].fired, 1u, "trunk %u never refreshed", i);
		cr_assert(wheel_timer_pending(&a[i].t));
		cr_assert_gt(wheel_timer_expires(&a[i].t), wheel_now(w));
	}
	cr_log_info("%u refreshes", trunk_fires);
	wheel_free(w);
	free(a);
}

/* ------------------------------------------------------------------------ */
/* Randomized test against a reference                                       */

enum { RN = 4096 };

struct ref_ent {
	uint64_t e;
	uint32_t id;
	uint32_t gen;
};

static struct {
	struct wheel *w;
	struct tmr tm[RN];
	bool armed[RN];
	uint64_t exp[RN];
	uint64_t armed_seq[RN]; /* advance number during/after which armed */
	uint32_t gen[RN];
	size_t narmed;
	uint64_t adv_seq; /* number of the current or last advance */
	bool in_advance;
	unsigned fired_now;
	/* the reference: a binary min-heap of (expiry, id, generation) with
	 * lazy deletion (an entry whose generation is old is dead) */
	struct ref_ent *heap;
	size_t hn, hcap;
	uint64_t ops, fires, cancels, arms;
	unsigned pool; /* timers in use: RN, or few to force collisions */
	bool cluster;  /* expiries and steps around level boundaries */
} R;

static bool ent_lt(const struct ref_ent *a, const struct ref_ent *b)
{
	return a->e < b->e;
}

static void heap_push(struct ref_ent e)
{
	size_t i;

	if (R.hn == R.hcap) {
		R.hcap = R.hcap ? R.hcap * 2 : 1024;
		R.heap = realloc(R.heap, R.hcap * sizeof(*R.heap));
		cr_assert_not_null(R.heap);
	}
	i = R.hn++;
	while (i > 0) {
		size_t p = (i - 1) / 2;

		if (!ent_lt(&e, &R.heap[p]))
			break;
		R.heap[i] = R.heap[p];
		i = p;
	}
	R.heap[i] = e;
}

static struct ref_ent heap_pop(void)
{
	struct ref_ent top = R.heap[0], last = R.heap[--R.hn];
	size_t i = 0;

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= R.hn)
			break;
		if (c + 1 < R.hn && ent_lt(&R.heap[c + 1], &R.heap[c]))
			c++;
		if (!ent_lt(&R.heap[c], &last))
			break;
		R.heap[i] = R.heap[c];
		i = c;
	}
	if (R.hn)
		R.heap[i] = last;
	return top;
}

static bool ent_live(const struct ref_ent *e)
{
	return R.armed[e->id] && R.gen[e->id] == e->gen;
}

/* Drop dead entries from the top; the earliest live expiry or UINT64_MAX. */
static uint64_t ref_min(void)
{
	while (R.hn && !ent_live(&R.heap[0]))
		heap_pop();
	return R.hn ? R.heap[0].e : UINT64_MAX;
}

/*
 * Clustered expiries: in the next or the one-after block of a level 0-4 (the
 * block of 64^(l+1) ms), anywhere in it or in its first level-l slot, or just
 * before it. Thousands of timers then share a few slots: the pre-cascade
 * budget runs out, next-rotation lists fill by insertion and by
 * pre-cascade, and a step of 1 ms often crosses a boundary.
 */
static uint64_t cluster_expiry(uint64_t now)
{
	unsigned l = (unsigned)(rnd() % 5), sh = 6 * (l + 1), k = (unsigned)(rnd() % 8);
	uint64_t blk = (now >> sh) + 1 + rnd() % 2, e = blk << sh;

	if (k < 3)
		e += rnd() % (UINT64_C(1) << sh); /* anywhere in the block */
	else if (k < 6)
		e += rnd() % (UINT64_C(1) << (sh - 6)); /* its first slot */
	else if (k < 7)
		e -= 1 + rnd() % 64; /* just before it */
	return e <= now ? now + 1 : e;
}

static uint64_t rand_expiry(uint64_t now)
{
	unsigned k = (unsigned)(rnd() % 100);
	uint64_t d;

	if (R.cluster && k < 75)
		return cluster_expiry(now);

	if (k < 20)
		d = rnd() % 64;
	else if (k < 40)
		d = rnd() % 5000;
	else if (k < 58)
		d = rnd() % 300000;
	else if (k < 73)
		d = rnd() % 28800000; /* 8 hours */
	else if (k < 83)
		d = rnd() % UINT64_C(2592000000); /* 30 days */
	else if (k < 88) {
		uint64_t back = rnd() % 1000; /* in the past */

		return back <= now ? now - back : 0;
	} else if (k < 93)
		return now;
	else if (k < 97)
		d = rnd() >> (rnd() % 64); /* any magnitude */
	else
		return UINT64_MAX;
	return now + d < now ? UINT64_MAX : now + d;
}

static void ref_arm(unsigned id, uint64_t e)
{
	if (!R.armed[id])
		R.narmed++;
	R.armed[id] = true;
	R.gen[id]++;
	R.exp[id] = e;
	/* armed inside advance n: may only fire from advance n + 1 on */
	R.armed_seq[id] = R.adv_seq;
	heap_push((struct ref_ent){e, id, R.gen[id]});
	R.arms++;
}

static void ref_disarm(unsigned id)
{
	if (R.armed[id])
		R.narmed--;
	R.armed[id] = false;
	R.gen[id]++;
}

static void do_arm(unsigned id)
{
	uint64_t e = rand_expiry(wheel_now(R.w));

	cr_assert_eq(wheel_add(R.w, &R.tm[id].t, e), 0);
	ref_arm(id, e);
}

static void do_cancel(unsigned id)
{
	bool was = wheel_cancel(R.w, &R.tm[id].t);

	cr_assert_eq(was, R.armed[id], "cancel of timer %u: wheel %d, reference %d", id,
	             was, R.armed[id]);
	ref_disarm(id);
	R.cancels++;
}

static void rand_cb(struct wheel *w, struct wheel_timer *t)
{
	struct tmr *o = wheel_timer_owner(t, struct tmr, t);
	unsigned id = o->id;
	uint64_t now = wheel_now(w);

	cr_assert(R.in_advance);
	cr_assert_not(wheel_timer_pending(t));
	cr_assert(R.armed[id], "timer %u fired but was not armed (cancelled or twice)",
	          id);
	cr_assert_leq(R.exp[id], now, "timer %u fired early: expiry %llu, now %llu", id,
	              (unsigned long long)R.exp[id], (unsigned long long)now);
	cr_assert_lt(R.armed_seq[id], R.adv_seq,
	             "timer %u armed during this advance fired in it", id);
	ref_disarm(id);
	R.fires++;
	R.fired_now++;

	/* act on the wheel from the callback */
	unsigned k = (unsigned)(rnd() % 10);

	if (k < 3) {
		do_arm(id); /* re-arm itself, maybe due at once */
	} else if (k < 5) {
		do_arm((unsigned)(rnd() % R.pool)); /* arm or re-arm another */
	} else if (k < 7) {
		do_cancel((unsigned)(rnd() % R.pool));
	}
	if (R.cluster && rnd() % 64 == 0)
		check(w);
}

static void do_advance(uint64_t step)
{
	uint64_t now = wheel_now(R.w);
	uint64_t to = now + step < now ? UINT64_MAX : now + step;
	static struct ref_ent keep[RN]; /* at most RN live entries */
	size_t nkeep = 0;
	int r;

	R.adv_seq++;
	R.in_advance = true;
	R.fired_now = 0;
	r = wheel_advance(R.w, to);
	R.in_advance = false;
	cr_assert_eq(r, (int)R.fired_now);
	cr_assert_eq(wheel_now(R.w), to);

	/* Nothing armed before this advance may still be due (not late). */
	while (R.hn && R.heap[0].e <= to) {
		struct ref_ent e = heap_pop();

		if (!ent_live(&e))
			continue;
		cr_assert_eq(R.armed_seq[e.id], R.adv_seq,
		             "timer %u due at %llu did not fire by %llu (late)", e.id,
		             (unsigned long long)e.e, (unsigned long long)to);
		/* armed by a callback with an expiry <= now: next advance */
		cr_assert_lt(nkeep, RN);
		keep[nkeep++] = e;
	}
	for (size_t i = 0; i < nkeep; i++)
		heap_push(keep[i]);
}

static void check_deadline(void)
{
	uint64_t now = wheel_now(R.w), d = wheel_next_deadline(R.w), m = ref_min();

	cr_assert_eq(wheel_count(R.w), R.narmed);
	if (m == UINT64_MAX && R.narmed == 0) {
		cr_assert_eq(d, UINT64_MAX);
		return;
	}
	if (m <= now) {
		/* something due is waiting for the next advance */
		cr_assert_eq(d, now, "due timer but deadline %llu, now %llu",
		             (unsigned long long)d, (unsigned long long)now);
		return;
	}
	cr_assert_leq(
	        d, m, "next deadline %llu after the earliest expiry %llu (now %llu)",
	        (unsigned long long)d, (unsigned long long)m, (unsigned long long)now);
	cr_assert_gt(d, now, "busy deadline while nothing is due");
}

/*
 * Steps that cross level boundaries: 1-3 ms (the pre-cascade gets many
 * turns), to just before, exactly at or just after the next boundary of a
 * level 0-4, or over several boundaries at once.
 */
static uint64_t cluster_step(void)
{
	uint64_t now = wheel_now(R.w);
	unsigned k = (unsigned)(rnd() % 100), l = (unsigned)(rnd() % 5), sh = 6 * (l + 1);
	uint64_t b = ((now >> sh) + 1) << sh;

	if (k < 55)
		return 1 + rnd() % 3;
	if (k < 80)
		return b - 1 + rnd() % 3 - now; /* b - 1, b or b + 1 */
	if (k < 92)
		return rnd() % (UINT64_C(1) << (sh - 6)); /* within a level-l slot */
	if (k < 98) /* two to five blocks of level l at once */
		return ((2 + rnd() % 4) << sh) + rnd() % 64;
	return rnd() >> (rnd() % 64); /* any magnitude */
}

static void randomized(unsigned pool, uint64_t nops, bool cluster)
{
	memset(&R, 0, sizeof(R));
	R.pool = pool;
	R.cluster = cluster;
	seed_rng();
	cr_assert_eq(wheel_new(&R.w, rnd() % 1000000000), 0);
	for (unsigned i = 0; i < RN; i++) {
		R.tm[i].id = i;
		wheel_timer_init(&R.tm[i].t, rand_cb);
	}
	for (R.ops = 0; R.ops < nops; R.ops++) {
		unsigned k = (unsigned)(rnd() % 100);

		if (k < 40) {
			do_arm((unsigned)(rnd() % R.pool));
		} else if (k < 55) {
			do_cancel((unsigned)(rnd() % R.pool));
		} else if (R.cluster) {
			do_advance(cluster_step());
		} else if (k < 90) {
			do_advance(rnd() % 100);
		} else if (k < 97) {
			do_advance(rnd() % 600000);
		} else if (k < 99) {
			do_advance(rnd() % UINT64_C(864000000)); /* 10 days */
		} else {
			do_advance(rnd() % 2 ? rnd() % 64 : rnd() >> (rnd() % 64));
		}
		check_deadline();
		if (R.ops % (R.cluster ? 101 : 997) == 0 || getenv("WHEEL_CHECK_ALL"))
			check(R.w);
	}
	check(R.w);
	/* drain: everything still armed fires exactly once */
	while (R.narmed) {
		R.ops++;
		do_advance(UINT64_MAX);
		check_deadline();
		/* callbacks keep arming; stop them from doing so forever */
		for (unsigned i = 0; i < RN && R.ops > nops + 8; i++)
			if (R.armed[i])
				do_cancel(i);
	}
	check(R.w);
	cr_assert_eq(wheel_count(R.w), 0);
	cr_assert_geq(R.fires + R.arms + R.cancels, nops * 3 / 4, "too few operations");
	cr_log_info("ops %llu, arms %llu, fires %llu, cancels %llu",
	            (unsigned long long)R.ops, (unsigned long long)R.arms,
	            (unsigned long long)R.fires, (unsigned long long)R.cancels);
	wheel_free(R.w);
	free(R.heap);
}

Test(wheel, randomized_against_reference, .timeout = 240)
{
	/* 4096 timers, 1.2 M operations (arms + cancels + fires > 1 M) */
	randomized(RN, 1200000, false);
}

Test(wheel, randomized_few_timers, .timeout = 240)
{
	/* 16 timers: re-arming pending timers, cancelling due ones, the same
	 * timer armed again and again from its own callback */
	randomized(16, 1000000, false);
}

Test(wheel, randomized_level_boundaries, .timeout = 240)
{
	/* 4096 timers crowded into a few slots around the boundaries of
	 * levels 0-4, steps that land on, just before and just after those
	 * boundaries or jump over several: the next-rotation lists (filled by
	 * insertion and by the budgeted pre-cascade, budget exhausted or not),
	 * their swap at the boundary, cancels and re-arms of timers sitting in
	 * them, callbacks re-arming during advances; 1.2 M operations */
	randomized(RN, 1200000, true);
}

Test(wheel, randomized_level_boundaries_few_timers, .timeout = 240)
{
	randomized(16, 600000, true);
}

/* ------------------------------------------------------------------------ */
/* With the real event loop and the real clock                               */

struct rt_timer {
	struct wheel_timer t;
	uint64_t fired_ns;
};

static void rt_cb(struct wheel *w, struct wheel_timer *t)
{
	(void)w;
	wheel_timer_owner(t, struct rt_timer, t)->fired_ns = clock_now_ns();
}

static void rt_before_sleep(struct loop *loop, void *arg)
{
	(void)loop;
	cr_assert_geq(wheel_advance(arg, clock_now_ms()), 0);
}

static int64_t rt_timeout(struct loop *loop, void *arg)
{
	(void)loop;
	return wheel_timeout(arg, clock_now_ms());
}

Test(wheel, drives_the_event_loop, .timeout = 30)
{
	/* 200 timers over 1 s, armed from the real clock; the loop sleeps in
	 * epoll_wait() for wheel_timeout() and advances before sleeping. No
	 * timer may fire before its time; lateness is bounded loosely (the
	 * machine is shared): the precise figures are in bench_wheel. */
	enum { N = 200 };
	static struct rt_timer t[N];
	struct loop *loop = NULL;
	struct wheel *w = mkwheel(clock_now_ms());
	struct loop_hook hook;
	uint64_t start = clock_now_ms(), worst = 0;

	cr_assert_eq(loop_new(&loop, 64, 0, 0), 0);
	hook = (struct loop_hook){rt_before_sleep, w, NULL};
	loop_add_before_sleep(loop, &hook);
	loop_set_timeout(loop, rt_timeout, w);
	seed_rng();
	for (unsigned i = 0; i < N; i++) {
		wheel_timer_init(&t[i].t, rt_cb);
		t[i].fired_ns = 0;
		wheel_add(w, &t[i].t, start + 1 + rnd() % 1000);
	}
	/* at most 100 ms per turn: the last timer fires in the before-sleep
	 * hook of a turn that then has nothing left to wait for */
	while (wheel_count(w) && clock_now_ms() < start + 10000)
		cr_assert_geq(loop_once(loop, 100), 0);
	cr_assert_eq(wheel_count(w), 0, "timers left after 10 s");
	for (unsigned i = 0; i < N; i++) {
		uint64_t due = wheel_timer_expires(&t[i].t) * 1000000u;

		cr_assert_geq(t[i].fired_ns, due, "timer %u fired %llu ns early", i,
		              (unsigned long long)(due - t[i].fired_ns));
		if (t[i].fired_ns - due > worst)
			worst = t[i].fired_ns - due;
	}
	cr_assert_lt(worst, 500000000u, "a timer fired %llu ms late",
	             (unsigned long long)(worst / 1000000u));
	cr_log_info("worst lateness %.3f ms", (double)worst / 1e6);
	loop_free(loop);
	wheel_free(w);
}
