/* SPDX-License-Identifier: MIT */
/*
 * wheel.h - a hierarchical timing wheel with millisecond ticks, one per
 * worker (see src/core/wheel.c for the level table and the design).
 *
 * Time is the caller's: uint64_t milliseconds (clock_now_ms() in the daemon,
 * any value in tests). The wheel never reads the clock; wheel_advance(w, now)
 * moves it forward and runs what is due.
 *
 * Firing rule (exact, no lateness inside the wheel): a timer armed with
 * expiry E fires in the first wheel_advance(w, now) with now >= E that starts
 * after it was armed -- never in an earlier call (never early), never in a
 * later one. The whole uint64_t range is covered: there is no horizon, no
 * clamping and no overflow path. A loop that sleeps until
 * wheel_next_deadline() and then advances to clock_now_ms() runs each timer
 * at most one epoll/millisecond rounding after E.
 *
 * Driving it from the event loop: a before-sleep hook runs
 * wheel_advance(w, clock_now_ms()), the loop's timeout provider returns
 * wheel_timeout(w, clock_now_ms()). Between two advances the wheel's time is
 * that of the last one, which lags the real time by however long the loop
 * slept: code running from fd handlers should arm with
 * wheel_add(w, t, clock_now_ms() + delay), not wheel_add_in() (which is exact
 * inside wheel callbacks, where the wheel's time is the current time).
 *
 * Timers are embedded in their owner's struct (no allocation per timer) and
 * recovered in the callback with container_of (wheel_timer_owner below).
 * Add, cancel and re-arm are O(1).
 *
 * Threads: a wheel belongs to one thread (its worker). No function here is
 * thread-safe; none allocates except wheel_new().
 */
#ifndef SIPREG_WHEEL_H
#define SIPREG_WHEEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct wheel;
struct wheel_timer;

/*
 * Called from wheel_advance() when the timer is due; the timer is already
 * idle (not pending) when this runs. The callback may add, re-arm and cancel
 * any timer of this wheel, itself included, and may free the timer's owner
 * (after the call the wheel does not touch t again). A timer armed by a
 * callback with an expiry <= now fires in the next wheel_advance(), not in
 * this one (no unbounded loops). It must not call wheel_advance() or
 * wheel_free().
 */
typedef void (*wheel_cb)(struct wheel *w, struct wheel_timer *t);

/* Intrusive doubly-linked list link (private). */
struct wheel_link {
	struct wheel_link *next; /* NULL when idle */
	struct wheel_link *prev;
};

/* The timer node (32 bytes): embed it in the owner's struct,
 * wheel_timer_init() it once, then add/cancel it any number of times.
 * Fields are private. */
struct wheel_timer {
	struct wheel_link link;
	uint64_t expires;
	wheel_cb cb;
};

/* The owner of an embedded timer: wheel_timer_owner(t, struct tx, timer_e). */
#define wheel_timer_owner(ptr, type, member)                                             \
	((type *)(void *)((char *)(ptr)-offsetof(type, member)))

/* Prepare a timer node (idle, with its callback). */
static inline void wheel_timer_init(struct wheel_timer *t, wheel_cb cb)
{
	t->link.next = NULL;
	t->link.prev = NULL;
	t->expires = 0;
	t->cb = cb;
}

/* True while the timer is armed (in the wheel, or due and waiting for the
 * next wheel_advance()). */
static inline bool wheel_timer_pending(const struct wheel_timer *t)
{
	return t->link.next != NULL;
}

/* The expiry the timer was last armed with. */
static inline uint64_t wheel_timer_expires(const struct wheel_timer *t)
{
	return t->expires;
}

/*
 * Create a wheel whose current time is now.
 * Returns 0 and sets *ret, or -ENOMEM.
 */
int wheel_new(struct wheel **ret, uint64_t now);

/* Free the wheel. Pending timers are forgotten (their nodes are not touched:
 * re-initialise them before reuse). NULL is a no-op. Not from a callback. */
void wheel_free(struct wheel *w);

/*
 * Arm t to fire at the absolute time expires (ms). A pending timer is
 * re-armed (moved), so a second add is never a double insertion. An expiry
 * <= the wheel's current time fires at the next wheel_advance().
 * Returns 0, or -EINVAL (t or its callback NULL).
 */
int wheel_add(struct wheel *w, struct wheel_timer *t, uint64_t expires);

/*
 * Arm t to fire delay ms after the wheel's current time (the now of the last
 * wheel_advance(), or of wheel_new(); see the lag note at the top). now + delay saturates
 * at UINT64_MAX, which means "not in this universe" but is still a valid, cancellable
 * timer. Returns 0 or -EINVAL as wheel_add().
 */
int wheel_add_in(struct wheel *w, struct wheel_timer *t, uint64_t delay);

/*
 * Disarm t. Returns true if it was pending (it will not fire), false if it was
 * idle (never armed, already fired, or cancelled): cancelling an idle timer is
 * allowed and harmless.
 */
bool wheel_cancel(struct wheel *w, struct wheel_timer *t);

/*
 * Move the wheel's time to now and run every timer due (expires <= now),
 * cascading the others closer to their slot on the way. Time never goes
 * backwards: a now below the current time is taken as the current time.
 * A jump of any size costs O(levels + timers moved), never one step per ms.
 * Each call also pre-cascades at most 128 timers per level into the lists of
 * the next coarse block, so crossing a boundary normally costs O(levels), not
 * O(timers in the coarse slot) (see wheel.c).
 * Returns the number of callbacks run, or -EBUSY when called from a callback.
 */
int wheel_advance(struct wheel *w, uint64_t now);

/*
 * The earliest time at which wheel_advance() has work to do: the expiry of
 * the next timer, or an earlier point where far timers must be moved to a
 * finer level (at most one such wake-up per level a timer passes through);
 * never later than the earliest expiry. The wheel's current time if a timer
 * is already due; UINT64_MAX if nothing is pending. O(1).
 */
uint64_t wheel_next_deadline(const struct wheel *w);

/*
 * The same as a timeout for epoll_wait(): milliseconds from now until
 * wheel_next_deadline() (0 if it has passed), clamped to INT32_MAX, or -1
 * when nothing is pending.
 */
int64_t wheel_timeout(const struct wheel *w, uint64_t now);

/* The wheel's current time (inside a callback: the now being advanced to). */
uint64_t wheel_now(const struct wheel *w);

/* Number of pending timers. */
size_t wheel_count(const struct wheel *w);

/*
 * Check every internal invariant (O(timers); for tests): each timer sits in
 * the level and slot its expiry and the current time dictate, the occupancy
 * masks match the lists, links are consistent, the count is right.
 * Returns 0, or -EUCLEAN with a static description in *why (if why != NULL).
 */
int wheel_check(const struct wheel *w, const char **why);

#endif /* SIPREG_WHEEL_H */
