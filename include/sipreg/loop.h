/* SPDX-License-Identifier: MIT */
/*
 * loop.h - one worker's event loop: epoll, level-triggered, in the shape of
 * Redis's ae (an fd-indexed handler table, a preallocated fired array).
 *
 * A turn of loop_run():
 *   1. the before-sleep hooks run (flush batched sends, drain the wheel);
 *   2. the timeout provider gives the next deadline in ms (-1: none);
 *   3. (LOOP_RCU_QSBR) the thread goes RCU-offline, epoll_wait(), online;
 *   4. fired fds are dispatched; the wake-up hooks run if loop_wake() was
 *      called;
 *   5. (LOOP_RCU_QSBR) one rcu quiescent state is announced.
 *
 * Threads: a loop belongs to the thread that runs it. Only loop_wake() and
 * loop_stop() may be called from other threads; everything else is called on
 * the loop's thread (from callbacks included) or before the loop runs.
 *
 * Callbacks may add, modify and delete any fd (their own included) and hooks;
 * an fd deleted by a callback is not dispatched later in the same turn, even
 * if its number is reused at once for a new registration.
 */
#ifndef SIPREG_LOOP_H
#define SIPREG_LOOP_H

#include <stdint.h>

struct loop;

enum loop_events {
	LOOP_READ = 1u << 0,
	LOOP_WRITE = 1u << 1,
};

enum loop_flags {
	/* The thread that calls loop_run() is a registered urcu-qsbr reader
	 * (urcu_qsbr_register_thread() done by the caller): announce a
	 * quiescent state each turn and stay offline while in epoll_wait(). */
	LOOP_RCU_QSBR = 1u << 0,
};

/* Readiness of fd: events is a mask of enum loop_events. An error or hang-up
 * on the fd (EPOLLERR/EPOLLHUP) is reported as LOOP_READ, even for an fd
 * registered with no events, plus LOOP_WRITE if the fd waits for
 * writability, so that the handler's read or write sees the error itself (a
 * handler must then close or delete the fd, or it fires again). */
typedef void (*loop_fd_cb)(struct loop *loop, int fd, unsigned events, void *arg);

/* A before-sleep or wake-up hook. */
typedef void (*loop_hook_cb)(struct loop *loop, void *arg);

/* The next deadline in milliseconds from now: 0 = poll without blocking,
 * -1 = no deadline. Values above INT32_MAX are clamped. */
typedef int64_t (*loop_timeout_cb)(struct loop *loop, void *arg);

/* A hook node, embedded in its owner's struct (no allocation); set cb and arg
 * then add it. The loop links it through next; do not touch next. */
struct loop_hook {
	loop_hook_cb cb;
	void *arg;
	struct loop_hook *next;
};

/*
 * Create a loop. setsize is the initial size of the fd table (it grows when a
 * larger fd is registered); max_events the size of the fired array (events
 * taken per epoll_wait(), 0 = 256). flags: enum loop_flags.
 * Returns 0, or -ENOMEM, or the errno of epoll_create1() / eventfd().
 */
int loop_new(struct loop **ret, unsigned setsize, unsigned max_events, unsigned flags);

/* Close the epoll and wake-up fds and free the loop; registered fds are not
 * closed. NULL is a no-op. Not while loop_run() runs. */
void loop_free(struct loop *loop);

/*
 * Watch fd for events (a mask of enum loop_events, may be 0 to keep the fd
 * registered but silent) and call cb(loop, fd, fired, arg). An fd already
 * registered gets the new mask, cb and arg.
 * Returns 0, -EINVAL (fd < 0, bad mask or cb NULL), -ENOMEM (the table could
 * not grow), or the errno of epoll_ctl() (-EBADF, -EPERM for regular files).
 */
int loop_add(struct loop *loop, int fd, unsigned events, loop_fd_cb cb, void *arg);

/* Change the events of a registered fd. Returns 0, -ENOENT (not registered),
 * -EINVAL, or the errno of epoll_ctl(). */
int loop_mod(struct loop *loop, int fd, unsigned events);

/* Stop watching fd (call before closing it). Returns 0 or -ENOENT. */
int loop_del(struct loop *loop, int fd);

/* The events fd is registered for, or -ENOENT. */
int loop_events(const struct loop *loop, int fd);

/* Before-sleep hooks run in the order added at the start of every turn. A
 * hook may remove itself. */
void loop_add_before_sleep(struct loop *loop, struct loop_hook *hook);
void loop_del_before_sleep(struct loop *loop, struct loop_hook *hook);

/* Wake-up hooks run on the loop's thread after loop_wake() (several wakes
 * may be folded into one run): each drains its own queue. */
void loop_add_wake_hook(struct loop *loop, struct loop_hook *hook);
void loop_del_wake_hook(struct loop *loop, struct loop_hook *hook);

/* The next-deadline provider (the worker's timing wheel); NULL = none. */
void loop_set_timeout(struct loop *loop, loop_timeout_cb cb, void *arg);

/*
 * Thread-safe, async-signal-safe: make the loop return from epoll_wait() and
 * run its wake-up hooks. Returns 0 or the errno of write() on the eventfd.
 */
int loop_wake(struct loop *loop);

/* Thread-safe: make loop_run() return after the current turn. A stop asked
 * before loop_run() starts makes it return at once. */
void loop_stop(struct loop *loop);

/*
 * One turn with at most timeout_ms of waiting (-1: until an event; the
 * timeout provider can shorten it). Returns the number of fd events
 * dispatched (the internal wake-up not counted), or the negative errno of epoll_wait() (never -EINTR: an
 * interrupted wait is a turn with no events).
 */
int loop_once(struct loop *loop, int timeout_ms);

/* Turns until loop_stop(). Returns 0, or the errno of a failing epoll_wait(). */
int loop_run(struct loop *loop);

/* Turns so far (for tests and stats). */
uint64_t loop_turns(const struct loop *loop);

#endif /* SIPREG_LOOP_H */
