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
 * (the Linux and timeout.c wheels need one of those). They cost 2 KiB of list
 * heads each (current and next rotation; 21 KiB a wheel) and nothing at run
 * time while empty (a per-array occupancy bit lets every search skip them).
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
 * Incremental pre-cascade (next rotations). Cascading a whole coarse slot in
 * one wheel_advance() stalls the loop: 1,000,000 trunks refreshing every ~57 s
 * put ~950,000 timers in the one level-3 slot past a 262 s boundary (~300 ms
 * of cache misses in one call) and ~70,000 in each 4.1 s level-2 slot (~25
 * ms). So levels 0-9 have a second array of 64 lists, the "next rotation":
 * next[L] holds timers in the block of 64^(L+1) ms after now's, i.e.
 * (E >> 6(L+1)) == (now >> 6(L+1)) + 1, by their level-L digit. A timer gets
 * there (1) on insert, in the finest level whose next block holds it (this
 * includes a carry across higher digits: at 262 s - 5 s, a refresh due at
 * 262 s + 50 s goes straight to next[2]); (2) by the pre-cascade: each
 * wheel_advance() moves up to PRECASCADE_BUDGET timers per level from the
 * slot that will become level L's next block (level L+1's slot now's digit
 * + 1, or after digit 63 next[L+1]'s slot 0) into next[L], so a 4.1 s slot
 * of 70,000 timers trickles down over the preceding 4.1 s at ~17 a ms. (3)
 * When time enters that block, next[L] becomes level L's current rotation by
 * swapping two array indices: no timer is touched. Whatever the budget did not
 * move is cascaded at the boundary as before. A timer's place is therefore
 * either its canonical level slot or a next rotation; dequeue() needs not
 * know which: when a list becomes empty its head's address names the slot.
 *
 * Why ctz finds the next deadline without any rotation: by the placement
 * rule a timer in level L's current rotation shares every bit above level L
 * with the current time and its level-L digit is strictly greater than the
 * current time's (E > now and they first differ inside that digit).
 * wheel_advance() keeps this true: when time moves it empties exactly the
 * slots whose digit has been reached and, if a higher digit changed, the
 * whole level (those timers are all due or re-bucketed). So every set bit of
 * a current mask lies above the current slot and the lowest set bit is the
 * earliest slot; masks never wrap. The same argument says a lower non-empty
 * current level always holds earlier times than any higher level and than
 * the next rotations of its own level and above (later blocks), so the next
 * deadline is the minimum of the first slot of the lowest non-empty current
 * level and the first slot of each non-empty next rotation below it: a few
 * ctz, O(1).
 *
 * Timers due in one wheel_advance() run in no particular order.
 */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>

#include "sipreg/wheel.h"

#define LVL_BITS 6u
#define LVL_SIZE (1u << LVL_BITS)
#define LVL_MASK (LVL_SIZE - 1u)
#define NLEVELS 11u            /* ceil(64 / 6): the whole uint64_t range */
#define NNEXT (NLEVELS - 1u)   /* levels with a next rotation: 0-9 */
#define NARR (NLEVELS + NNEXT) /* slot arrays: 2L and 2L+1 for L < 10, 20 */
#define PRECASCADE_BUDGET 128u /* timers pre-cascaded per level per advance */

struct wheel {
	uint64_t now;
	uint32_t nonempty;         /* bit a: amask[a] != 0 */
	uint32_t curbits;          /* bit a: array a is its level's current rotation */
	uint8_t cur[NLEVELS];      /* level L's current rotation: array 2L or 2L+1 */
	uint8_t nxt[NNEXT];        /* level L's next rotation: the other one */
	bool running;              /* inside wheel_advance()'s callbacks */
	size_t count;              /* pending timers (run list included) */
	struct wheel_link expired; /* due, waiting for the next advance */
	struct wheel_link *run;    /* the list being run (on the stack) */
	uint64_t amask[NARR];      /* bit s: heads[a][s] is not empty */
	struct wheel_link heads[NARR][LVL_SIZE];
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

/* The level whose slots array a holds (its current or next rotation). */
static inline unsigned arr_level(unsigned a)
{
	return a >> 1;
}

/* Bits of slots 0..s. */
static inline uint64_t slots_upto(unsigned s)
{
	return s == LVL_MASK ? ~UINT64_C(0) : (UINT64_C(2) << s) - 1;
}

static inline void slot_link(struct wheel *w, unsigned a, unsigned s,
                             struct wheel_timer *t)
{
	list_add_tail(&w->heads[a][s], &t->link);
	w->amask[a] |= UINT64_C(1) << s;
	w->nonempty |= 1u << a;
}

/* heads[a][s] has just become empty. */
static inline void slot_emptied(struct wheel *w, unsigned a, unsigned s)
{
	w->amask[a] &= ~(UINT64_C(1) << s);
	if (!w->amask[a])
		w->nonempty &= ~(1u << a);
}

/*
 * Put an unlinked timer where its expiry belongs relative to w->now: due, the
 * next rotation of the finest level whose next block holds it, or else its
 * level's current rotation (the highest digit in which it differs from now).
 */
static inline void enqueue(struct wheel *w, struct wheel_timer *t)
{
	uint64_t e = t->expires, now = w->now;
	unsigned h;

	if (e <= now) {
		list_add_tail(&w->expired, &t->link);
		return;
	}
	h = level_of(e ^ now);
	if (h && slot_of(e, h) == slot_of(now, h) + 1) {
		/* E is in the block after now's at level l (l < h) iff its digits
		 * l+1..h-1 are 0 and now's are 63: the finest such l is the level
		 * of the highest bit left in (E | ~now) below level h */
		uint64_t r = (e | ~now) & ((UINT64_C(1) << (h * LVL_BITS)) - 1);
		unsigned l = r ? level_of(r) : 0;

		slot_link(w, w->nxt[l], slot_of(e, l), t);
		return;
	}
	slot_link(w, w->cur[h], slot_of(e, h), t);
}

/* Unlink a pending timer, keeping the occupancy masks exact. */
static inline void dequeue(struct wheel *w, struct wheel_timer *t)
{
	struct wheel_link *n = t->link.next, *p = t->link.prev;

	p->next = n;
	n->prev = p;
	/* n == p only when t was alone in its list (both are the head); the
	 * head's address says which slot that was (the due and run lists lie
	 * outside heads[][]) */
	if (n == p) {
		uintptr_t off = (uintptr_t)n - (uintptr_t)&w->heads[0][0];

		if (off < sizeof(w->heads)) {
			unsigned i = (unsigned)(off / sizeof(struct wheel_link));

			slot_emptied(w, i / LVL_SIZE, i % LVL_SIZE);
		}
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
	for (unsigned a = 0; a < NARR; a++)
		for (unsigned s = 0; s < LVL_SIZE; s++)
			list_init(&w->heads[a][s]);
	for (unsigned l = 0; l < NLEVELS; l++) {
		w->cur[l] = (uint8_t)(2 * l);
		w->curbits |= 1u << (2 * l);
		if (l < NNEXT)
			w->nxt[l] = (uint8_t)(2 * l + 1);
	}
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

/* Splice the slots of array a in bits to todo. */
static void take(struct wheel *w, unsigned a, uint64_t bits, struct wheel_link *todo)
{
	bits &= w->amask[a];
	if (!bits)
		return;
	w->amask[a] &= ~bits;
	if (!w->amask[a])
		w->nonempty &= ~(1u << a);
	do {
		unsigned s = (unsigned)__builtin_ctzll(bits);

		bits &= bits - 1;
		list_splice_tail(todo, &w->heads[a][s]);
	} while (bits);
}

/*
 * Move the time from w->now to now (> w->now). Per level, from 0 up: if the
 * level's block is unchanged, take its slots whose digit has been reached and
 * stop (nothing above can have been reached). Otherwise take the whole old
 * rotation; if the block moved by exactly one, the next rotation becomes the
 * current one (an index swap, no timer touched) and only its slots up to
 * now's digit are taken; if it moved further, the next rotation is taken too.
 * The taken timers are then re-bucketed (the due ones go to the expired list).
 */
static void cascade(struct wheel *w, uint64_t now)
{
	uint64_t old = w->now;
	struct wheel_link todo;

	list_init(&todo);
	for (unsigned lvl = 0; lvl < NLEVELS; lvl++) {
		unsigned sh = (lvl + 1) * LVL_BITS;

		if (lvl == NLEVELS - 1 || (old >> sh) == (now >> sh)) {
			take(w, w->cur[lvl], slots_upto(slot_of(now, lvl)), &todo);
			break;
		}
		take(w, w->cur[lvl], ~UINT64_C(0), &todo);
		if ((now >> sh) == (old >> sh) + 1) {
			uint8_t a = w->cur[lvl];

			w->cur[lvl] = w->nxt[lvl];
			w->nxt[lvl] = a;
			w->curbits ^= 3u << (2 * lvl);
			take(w, w->cur[lvl], slots_upto(slot_of(now, lvl)), &todo);
		} else {
			take(w, w->nxt[lvl], ~UINT64_C(0), &todo);
		}
	}
	w->now = now;
	while (!list_empty(&todo)) {
		struct wheel_link *l = todo.next;

		l->next->prev = &todo;
		todo.next = l->next;
		enqueue(w, link_timer(l));
	}
}

/*
 * Incremental pre-cascade: for each level l < 10, move up to
 * PRECASCADE_BUDGET timers of the slot that will become level l's next
 * rotation (level l+1's slot now's digit + 1, or after digit 63 level l+1's
 * next-rotation slot 0) into l's next rotation, so that reaching the block
 * finds them in place. Coarse levels first, so a timer can go down more than
 * one level in one call.
 */
static void precascade(struct wheel *w)
{
	uint64_t now = w->now;
	/* source levels 1-10 with anything in them */
	uint32_t m = w->nonempty & ~3u;

	while (m) {
		unsigned src = arr_level(31u - (unsigned)__builtin_clz(m));
		unsigned l = src - 1, d = slot_of(now, src), a, s, dst, budget;
		struct wheel_link *h;
		uint64_t dmask = 0;

		m &= ~(3u << (2 * src));
		if (d < LVL_MASK) {
			a = w->cur[src];
			s = d + 1;
		} else if (src < NNEXT) {
			a = w->nxt[src];
			s = 0;
		} else {
			continue;
		}
		if (!(w->amask[a] & (UINT64_C(1) << s)))
			continue;
		h = &w->heads[a][s];
		dst = w->nxt[l];
		budget = PRECASCADE_BUDGET;
		do {
			struct wheel_link *x = h->next;
			unsigned ds;

			h->next = x->next;
			x->next->prev = h;
			__builtin_prefetch(x->next->next);
			ds = slot_of(link_timer(x)->expires, l);
			list_add_tail(&w->heads[dst][ds], x);
			dmask |= UINT64_C(1) << ds;
		} while (--budget && !list_empty(h));
		if (list_empty(h))
			slot_emptied(w, a, s);
		w->amask[dst] |= dmask;
		w->nonempty |= 1u << dst;
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
	if (w->nonempty & ~3u)
		precascade(w);
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

		dequeue(w, t); /* in the run list: plain unlink */
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
	uint64_t best = UINT64_MAX, now = w->now;
	uint32_t c, n;

	if (!list_empty(&w->expired))
		return now;
	c = w->nonempty & w->curbits;
	n = w->nonempty & ~w->curbits;
	if (c) {
		/* the lowest non-empty current rotation: its first slot is
		 * earlier than any timer at a higher level, and than any next
		 * rotation of its level or above (those are in later blocks) */
		unsigned a = (unsigned)__builtin_ctz(c), lvl = arr_level(a);
		unsigned shift = lvl * LVL_BITS;
		uint64_t base = lvl == NLEVELS - 1 ? 0
		                                   : (now >> (shift + LVL_BITS))
		                                             << (shift + LVL_BITS);

		best = base | ((uint64_t)__builtin_ctzll(w->amask[a]) << shift);
		n &= (1u << a) - 1;
	}
	/* next rotations of finer levels: the first slot of each, in the
	 * block after now's (at most 10, usually none or one) */
	while (n) {
		unsigned a = (unsigned)__builtin_ctz(n), lvl = arr_level(a);
		unsigned shift = lvl * LVL_BITS, up = shift + LVL_BITS;
		uint64_t v = (((now >> up) + 1) << up) |
		             ((uint64_t)__builtin_ctzll(w->amask[a]) << shift);

		n &= n - 1;
		if (v < best)
			best = v;
	}
	return best;
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

enum list_kind { LIST_DUE, LIST_CUR, LIST_NEXT };

/* Walk one list: links consistent, every timer valid and where its kind of
 * list, level and slot allow; returns its length or (size_t)-1 with *why
 * set. */
static size_t check_list(const struct wheel *w, const struct wheel_link *h,
                         enum list_kind kind, unsigned lvl, unsigned slot,
                         const char **why)
{
	size_t n = 0;

	for (const struct wheel_link *l = h->next; l != h; l = l->next) {
		const struct wheel_timer *t =
		        wheel_timer_owner(l, const struct wheel_timer, link);
		uint64_t e = t->expires;

		if (!l->next || !l->prev || l->next->prev != l || l->prev->next != l) {
			*why = "broken list links";
			return (size_t)-1;
		}
		if (!t->cb) {
			*why = "pending timer without a callback";
			return (size_t)-1;
		}
		if (kind == LIST_DUE) {
			if (e > w->now) {
				*why = "a timer in the due list is not due";
				return (size_t)-1;
			}
		} else if (e <= w->now) {
			*why = "a due timer is still in a slot";
			return (size_t)-1;
		} else if (slot_of(e, lvl) != slot) {
			*why = "a timer is in the wrong slot";
			return (size_t)-1;
		} else if (kind == LIST_CUR && level_of(e ^ w->now) != lvl) {
			*why = "a timer is in the wrong level";
			return (size_t)-1;
		} else if (kind == LIST_NEXT &&
		           (e >> ((lvl + 1) * LVL_BITS)) !=
		                   (w->now >> ((lvl + 1) * LVL_BITS)) + 1) {
			*why = "a timer in a next rotation is not in the next block";
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
	uint32_t curbits = 0;

	if (!why)
		why = &dummy;
	for (unsigned l = 0; l < NLEVELS; l++) {
		if (arr_level(w->cur[l]) != l ||
		    (l < NNEXT &&
		     (arr_level(w->nxt[l]) != l || w->nxt[l] == w->cur[l]))) {
			*why = "rotation arrays mixed up";
			return -EUCLEAN;
		}
		curbits |= 1u << w->cur[l];
	}
	if (curbits != w->curbits) {
		*why = "current-rotation bits disagree with the levels";
		return -EUCLEAN;
	}
	for (unsigned a = 0; a < NARR; a++) {
		enum list_kind kind = (curbits >> a) & 1 ? LIST_CUR : LIST_NEXT;

		if (!!w->amask[a] != !!(w->nonempty & (1u << a))) {
			*why = "array bit disagrees with slot mask";
			return -EUCLEAN;
		}
		for (unsigned s = 0; s < LVL_SIZE; s++) {
			bool bit = w->amask[a] & (UINT64_C(1) << s);

			if (bit == list_empty(&w->heads[a][s])) {
				*why = "slot mask disagrees with slot list";
				return -EUCLEAN;
			}
			n = check_list(w, &w->heads[a][s], kind, arr_level(a), s, why);
			if (n == (size_t)-1)
				return -EUCLEAN;
			total += n;
		}
	}
	n = check_list(w, &w->expired, LIST_DUE, 0, 0, why);
	if (n == (size_t)-1)
		return -EUCLEAN;
	total += n;
	if (w->run) {
		n = check_list(w, w->run, LIST_DUE, 0, 0, why);
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
