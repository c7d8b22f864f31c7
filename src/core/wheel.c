/* SPDX-License-Identifier: MIT */
/*
 * wheel.c - hierarchical timing wheel, millisecond ticks (see wheel.h).
 *
 * Levels: 64 slots each, 6 bits of the time per level. A pending timer with
 * expiry E sits at the level of the highest bit in which E and the wheel's
 * current time differ, in the slot given by E's 6 bits at that level. The
 * "delay" column is where a timer armed delay ms ahead lands when no coarser
 * boundary lies between now and E (crossing one can only put it one level
 * higher, which makes it cascade sooner, never fire later).
 *
 * Level Offset  Granularity (slot)        Range (delay)
 *  0      0       1 ms                       0 ms -        63 ms
 *  1     64      64 ms                      64 ms -      4.09 s
 *  2    128     4.096 s                   4.10 s  -      4.4 min (262 s)
 *  3    192     262 s (4.4 min)            4.4 min -     4.66 h
 *  4    256     4.66 h                     4.66 h  -     12.4 days
 *  5    320     12.4 days                 12.4 d   -     2.18 years
 *  6    384     2.18 years                2.18 y   -     139 years
 *  7    448     139 years                  139 y   -     8.9 thousand years
 *  8    512     8.9 ky                     8.9 ky  -     571 ky
 *  9    576     571 ky                     571 ky  -     36.6 million years
 * 10    640     36.6 My (16 slots used)   36.6 My  -     584.9 My (2^64 ms)
 *
 * A trunk refresh hours away lives in level 3 or 4 (8 hours: level 4). Levels
 * 5-10 exist so that the whole uint64_t millisecond range is one wheel: there
 * is no horizon, no "beyond the range" case, no clamping and no wrap-around
 * (the Linux and timeout.c wheels need one of those). They cost 1 KiB of list
 * heads each and nothing at run time while empty (a per-level occupancy bit
 * lets every search skip them).
 *
 * Cascading, not the kernel's "no cascade, bounded lateness". The 4.8+ Linux
 * wheel rounds an expiry UP to its level's granularity (calc_index) and never
 * moves a timer, so a timer fires up to 12.5% of its delay late: minutes for a
 * trunk refresh hours away, while SPEC-level accuracy wants a refresh p99
 * within 20 ms of its time. Here, when time reaches the start of a coarse slot
 * the timers in it are re-bucketed by the same rule; since they now share one
 * more 6-bit digit with the current time each move goes at least one level
 * down, so a timer moves at most 10 times in its life (4, or 5 when it
 * crosses a 12-day boundary, for 8 hours)
 * and reaches level 0, where the slot is the exact millisecond. The result is
 * exact expiry: a timer fires in the first wheel_advance(w, now) with
 * now >= E -- never earlier ("rounded up" to the exact tick; the kernel needs
 * rounding only because it keeps coarse slots), never later. Lateness in real
 * time therefore comes only from the caller: clock_now_ms() truncation and
 * epoll_wait()'s millisecond timeout, i.e. about 1-2 ms plus loop latency.
 * The cost, one O(1) move per level passed, is paid in wheel_advance() and is
 * included in the benchmark's expiry figure.
 *
 * Why ctzll finds the next slot without any rotation: by the placement rule a
 * pending timer at level L shares every bit above level L with the current
 * time and its level-L digit is strictly greater than the current time's
 * (E > now and they first differ inside that digit). wheel_advance() keeps
 * this true: when time moves it empties exactly the slots whose digit has
 * been reached and, if a higher digit changed, the whole level (those timers
 * are all due). So every set bit of a level's mask lies above the current
 * slot and the lowest set bit is the earliest slot; masks never wrap. The same
 * argument says a lower non-empty level always holds earlier times than any
 * higher level, so the next deadline is the first slot of the lowest
 * non-empty level: two ctz, O(1).
 *
 * Timers due in one wheel_advance() run in no particular order.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>

#include "sipreg/wheel.h"

#define LVL_BITS 6u
#define LVL_SIZE (1u << LVL_BITS)
#define LVL_MASK (LVL_SIZE - 1u)
#define NLEVELS 11u /* ceil(64 / 6): the whole uint64_t range */

struct wheel {
	uint64_t now;
	uint64_t mask[NLEVELS]; /* bit s: slots[lvl][s] is not empty */
	uint32_t lvlmask;       /* bit l: mask[l] != 0 */
	bool running;           /* inside wheel_advance()'s callbacks */
	size_t count;           /* pending timers (run list included) */
	struct wheel_link expired;     /* due, waiting for the next advance */
	struct wheel_link *run;        /* the list being run (on the stack) */
	struct wheel_link slots[NLEVELS][LVL_SIZE];
};

static inline void list_init(struct wheel_link *h)
{
	h->next = h;
	h->prev = h;
}

static inline bool list_empty(const struct wheel_link *h)
{
	return h->next == h;
}

static inline void list_add_tail(struct wheel_link *h, struct wheel_link *n)
{
	struct wheel_link *last = h->prev;

	n->next = h;
	n->prev = last;
	last->next = n;
	h->prev = n;
}

/* Move every element of src to the end of dst; src becomes empty. */
static inline void list_splice_tail(struct wheel_link *dst, struct wheel_link *src)
{
	if (list_empty(src))
		return;
	src->next->prev = dst->prev;
	dst->prev->next = src->next;
	src->prev->next = dst;
	dst->prev = src->prev;
	list_init(src);
}

static inline struct wheel_timer *link_timer(struct wheel_link *l)
{
	return wheel_timer_owner(l, struct wheel_timer, link);
}

/* Level of a timer whose expiry differs from now in the bits of x (x != 0). */
static inline unsigned level_of(uint64_t x)
{
	return (63u - (unsigned)__builtin_clzll(x)) / LVL_BITS;
}

static inline unsigned slot_of(uint64_t expires, unsigned lvl)
{
	return (unsigned)(expires >> (lvl * LVL_BITS)) & LVL_MASK;
}

/* Put an unlinked timer where its expiry belongs relative to w->now. */
static inline void enqueue(struct wheel *w, struct wheel_timer *t)
{
	uint64_t e = t->expires;
	unsigned lvl, slot;

	if (e <= w->now) {
		list_add_tail(&w->expired, &t->link);
		return;
	}
	lvl = level_of(e ^ w->now);
	slot = slot_of(e, lvl);
	list_add_tail(&w->slots[lvl][slot], &t->link);
	w->mask[lvl] |= UINT64_C(1) << slot;
	w->lvlmask |= 1u << lvl;
}

/* Unlink a pending timer, keeping the occupancy masks exact. */
static inline void dequeue(struct wheel *w, struct wheel_timer *t)
{
	struct wheel_link *n = t->link.next, *p = t->link.prev;

	p->next = n;
	n->prev = p;
	/* n == p only when t was alone in its list (both are the head). A timer
	 * with expires > now is in a slot (due ones are in expired/run). */
	if (n == p && t->expires > w->now) {
		unsigned lvl = level_of(t->expires ^ w->now);

		w->mask[lvl] &= ~(UINT64_C(1) << slot_of(t->expires, lvl));
		if (!w->mask[lvl])
			w->lvlmask &= ~(1u << lvl);
	}
	t->link.next = NULL;
	t->link.prev = NULL;
}

int wheel_new(struct wheel **ret, uint64_t now)
{
	struct wheel *w = calloc(1, sizeof(*w));

	if (!w)
		return -ENOMEM;
	w->now = now;
	list_init(&w->expired);
	for (unsigned l = 0; l < NLEVELS; l++)
		for (unsigned s = 0; s < LVL_SIZE; s++)
			list_init(&w->slots[l][s]);
	*ret = w;
	return 0;
}

void wheel_free(struct wheel *w)
{
	free(w);
}

int wheel_add(struct wheel *w, struct wheel_timer *t, uint64_t expires)
{
	if (!t || !t->cb)
		return -EINVAL;
	if (wheel_timer_pending(t))
		dequeue(w, t);
	else
		w->count++;
	t->expires = expires;
	enqueue(w, t);
	return 0;
}

int wheel_add_in(struct wheel *w, struct wheel_timer *t, uint64_t delay)
{
	uint64_t e = w->now + delay;

	if (e < w->now)
		e = UINT64_MAX;
	return wheel_add(w, t, e);
}

bool wheel_cancel(struct wheel *w, struct wheel_timer *t)
{
	if (!wheel_timer_pending(t))
		return false;
	dequeue(w, t);
	w->count--;
	return true;
}

/*
 * Move the time from w->now to now (> w->now): empty every slot whose digit
 * has been reached, level by level, and re-bucket its timers (the due ones go
 * to the expired list). Stops at the first level whose higher digits did not
 * change: nothing above it can have been reached.
 */
static void cascade(struct wheel *w, uint64_t now)
{
	uint64_t old = w->now;
	struct wheel_link todo;

	list_init(&todo);
	for (unsigned lvl = 0; lvl < NLEVELS; lvl++) {
		unsigned shift = lvl * LVL_BITS;
		bool last = lvl == NLEVELS - 1 ||
			    (old >> (shift + LVL_BITS)) == (now >> (shift + LVL_BITS));
		uint64_t take = ~UINT64_C(0);

		if (last) {
			/* same higher digits: the slots up to now's digit */
			unsigned s = slot_of(now, lvl);

			take = s == LVL_MASK ? ~UINT64_C(0) : (UINT64_C(2) << s) - 1;
		}
		take &= w->mask[lvl];
		if (take) {
			w->mask[lvl] &= ~take;
			if (!w->mask[lvl])
				w->lvlmask &= ~(1u << lvl);
			do {
				unsigned s = (unsigned)__builtin_ctzll(take);

				take &= take - 1;
				list_splice_tail(&todo, &w->slots[lvl][s]);
			} while (take);
		}
		if (last)
			break;
	}
	w->now = now;
	while (!list_empty(&todo)) {
		struct wheel_link *l = todo.next;

		l->next->prev = &todo;
		todo.next = l->next;
		enqueue(w, link_timer(l));
	}
}

int wheel_advance(struct wheel *w, uint64_t now)
{
	struct wheel_link run;
	int fired = 0;

	if (w->running)
		return -EBUSY;
	if (now > w->now)
		cascade(w, now);
	if (list_empty(&w->expired))
		return 0;

	/* Run a snapshot: timers armed as due by the callbacks go to the
	 * (now empty) expired list and wait for the next advance. A callback
	 * cancelling a timer still in run just unlinks it from there. */
	list_init(&run);
	list_splice_tail(&run, &w->expired);
	w->run = &run;
	w->running = true;
	while (!list_empty(&run)) {
		struct wheel_timer *t = link_timer(run.next);

		dequeue(w, t); /* expires <= now: plain unlink */
		w->count--;
		if (fired < INT_MAX)
			fired++;
		t->cb(w, t);
	}
	w->running = false;
	w->run = NULL;
	return fired;
}

uint64_t wheel_next_deadline(const struct wheel *w)
{
	unsigned lvl, shift, s;
	uint64_t base;

	if (!list_empty(&w->expired))
		return w->now;
	if (!w->lvlmask)
		return UINT64_MAX;
	lvl = (unsigned)__builtin_ctz(w->lvlmask);
	shift = lvl * LVL_BITS;
	s = (unsigned)__builtin_ctzll(w->mask[lvl]);
	base = lvl == NLEVELS - 1 ? 0 : (w->now >> (shift + LVL_BITS)) << (shift + LVL_BITS);
	return base | ((uint64_t)s << shift);
}

int64_t wheel_timeout(const struct wheel *w, uint64_t now)
{
	uint64_t d = wheel_next_deadline(w);

	if (d == UINT64_MAX)
		return -1;
	if (d <= now)
		return 0;
	if (d - now > INT32_MAX)
		return INT32_MAX;
	return (int64_t)(d - now);
}

uint64_t wheel_now(const struct wheel *w)
{
	return w->now;
}

size_t wheel_count(const struct wheel *w)
{
	return w->count;
}

/* Walk one list: links consistent, every timer valid; returns its length or
 * (size_t)-1 with *why set. */
static size_t check_list(const struct wheel *w, const struct wheel_link *h, int lvl,
			 unsigned slot, const char **why)
{
	size_t n = 0;

	for (const struct wheel_link *l = h->next; l != h; l = l->next) {
		const struct wheel_timer *t = wheel_timer_owner(l, const struct wheel_timer, link);

		if (!l->next || !l->prev || l->next->prev != l || l->prev->next != l) {
			*why = "broken list links";
			return (size_t)-1;
		}
		if (!t->cb) {
			*why = "pending timer without a callback";
			return (size_t)-1;
		}
		if (lvl < 0) {
			if (t->expires > w->now) {
				*why = "a timer in the due list is not due";
				return (size_t)-1;
			}
		} else if (t->expires <= w->now) {
			*why = "a due timer is still in a slot";
			return (size_t)-1;
		} else if (level_of(t->expires ^ w->now) != (unsigned)lvl ||
			   slot_of(t->expires, (unsigned)lvl) != slot) {
			*why = "a timer is in the wrong level or slot";
			return (size_t)-1;
		}
		if (++n > w->count) {
			*why = "more timers linked than counted (or a cycle)";
			return (size_t)-1;
		}
	}
	return n;
}

int wheel_check(const struct wheel *w, const char **why)
{
	const char *dummy;
	size_t total = 0, n;

	if (!why)
		why = &dummy;
	for (unsigned l = 0; l < NLEVELS; l++) {
		if (!!w->mask[l] != !!(w->lvlmask & (1u << l))) {
			*why = "level mask disagrees with slot mask";
			return -EUCLEAN;
		}
		for (unsigned s = 0; s < LVL_SIZE; s++) {
			bool bit = w->mask[l] & (UINT64_C(1) << s);

			if (bit == list_empty(&w->slots[l][s])) {
				*why = "slot mask disagrees with slot list";
				return -EUCLEAN;
			}
			n = check_list(w, &w->slots[l][s], (int)l, s, why);
			if (n == (size_t)-1)
				return -EUCLEAN;
			total += n;
		}
	}
	n = check_list(w, &w->expired, -1, 0, why);
	if (n == (size_t)-1)
		return -EUCLEAN;
	total += n;
	if (w->run) {
		n = check_list(w, w->run, -1, 0, why);
		if (n == (size_t)-1)
			return -EUCLEAN;
		total += n;
	}
	if (total != w->count) {
		*why = "timer count disagrees with the lists";
		return -EUCLEAN;
	}
	return 0;
}
