/* SPDX-License-Identifier: MIT */
/*
 * loop.c - the worker event loop (see loop.h), Redis ae's shape on epoll.
 *
 * Level-triggered, on purpose. A UDP worker reads a bounded number of
 * recvmmsg() batches per readiness and returns to the loop so every other fd
 * (the other listen sockets, TCP connections, the wake-up eventfd) gets its
 * turn; with level triggering whatever is left is reported again by the next
 * epoll_wait() and nothing has to remember "this fd still has data".
 * Edge-triggered would oblige every handler to drain to EAGAIN (a hot socket
 * starving the rest) or the loop to keep its own ready list. The cost of LT is
 * one extra epoll_wait() return when a handler leaves data behind on purpose,
 * which is the point. EPOLLOUT is asked only while a send queue is non-empty.
 *
 * Stale events: epoll's data word holds (generation << 32 | fd). Each
 * registration of an fd bumps its generation, so an event fetched for an fd
 * that a callback deleted (and maybe re-registered under the same number)
 * earlier in the same turn is recognised and dropped.
 */
#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <urcu/urcu-qsbr.h>

#include "sipreg/loop.h"

struct loop_fd {
	loop_fd_cb cb;
	void *arg;
	unsigned events; /* 0 with cb == NULL: not registered */
	uint32_t gen;
};

struct loop {
	int epfd;
	int wakefd;
	unsigned flags;

	struct loop_fd *fds;
	unsigned nfds; /* table size */

	struct epoll_event *fired;
	unsigned max_events;

	struct loop_hook *before_sleep;
	struct loop_hook *wake_hooks;
	loop_timeout_cb timeout_cb;
	void *timeout_arg;

	atomic_bool stop;
	atomic_bool wake_pending;
	uint64_t turns;
};

static int table_grow(struct loop *loop, int fd)
{
	unsigned n = loop->nfds ? loop->nfds : 64;
	struct loop_fd *t;

	while (n <= (unsigned)fd)
		n *= 2;
	t = realloc(loop->fds, n * sizeof(*t));
	if (!t)
		return -ENOMEM;
	memset(t + loop->nfds, 0, (n - loop->nfds) * sizeof(*t));
	loop->fds = t;
	loop->nfds = n;
	return 0;
}

static uint32_t to_epoll(unsigned events)
{
	uint32_t ev = 0;

	if (events & LOOP_READ)
		ev |= EPOLLIN;
	if (events & LOOP_WRITE)
		ev |= EPOLLOUT;
	return ev;
}

static int ctl(struct loop *loop, int op, int fd)
{
	struct epoll_event ev = {0};
	struct loop_fd *e = &loop->fds[fd];

	ev.events = to_epoll(e->events);
	ev.data.u64 = (uint64_t)e->gen << 32 | (uint32_t)fd;
	if (epoll_ctl(loop->epfd, op, fd, &ev) < 0)
		return -errno;
	return 0;
}

static void wake_read(struct loop *loop, int fd, unsigned events, void *arg)
{
	uint64_t v;
	struct loop_hook *h, *next;

	(void)events;
	(void)arg;
	/* Read the eventfd first, then clear the flag, then run the hooks. A
	 * producer that found the flag set enqueued before this clear, so the
	 * hooks below see its item; one that finds it clear writes the eventfd
	 * again. (Clearing before the read could swallow a write made between
	 * the two and leave the flag set with no wake-up pending: lost wakes.) */
	while (read(fd, &v, sizeof(v)) < 0 && errno == EINTR)
		;
	atomic_store(&loop->wake_pending, false);
	for (h = loop->wake_hooks; h; h = next) {
		next = h->next;
		h->cb(loop, h->arg);
	}
}

int loop_new(struct loop **ret, unsigned setsize, unsigned max_events, unsigned flags)
{
	struct loop *loop;
	int r;

	loop = calloc(1, sizeof(*loop));
	if (!loop)
		return -ENOMEM;
	loop->epfd = loop->wakefd = -1;
	loop->flags = flags;
	loop->max_events = max_events ? max_events : 256;
	loop->fired = calloc(loop->max_events, sizeof(*loop->fired));
	if (!loop->fired) {
		r = -ENOMEM;
		goto fail;
	}
	if (table_grow(loop, setsize ? (int)setsize - 1 : 0) < 0) {
		r = -ENOMEM;
		goto fail;
	}
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (loop->epfd < 0) {
		r = -errno;
		goto fail;
	}
	loop->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (loop->wakefd < 0) {
		r = -errno;
		goto fail;
	}
	r = loop_add(loop, loop->wakefd, LOOP_READ, wake_read, NULL);
	if (r < 0)
		goto fail;
	*ret = loop;
	return 0;
fail:
	loop_free(loop);
	return r;
}

void loop_free(struct loop *loop)
{
	if (!loop)
		return;
	if (loop->epfd >= 0)
		close(loop->epfd);
	if (loop->wakefd >= 0)
		close(loop->wakefd);
	free(loop->fired);
	free(loop->fds);
	free(loop);
}

int loop_add(struct loop *loop, int fd, unsigned events, loop_fd_cb cb, void *arg)
{
	struct loop_fd *e;
	bool known;
	int r;

	if (fd < 0 || !cb || (events & ~(unsigned)(LOOP_READ | LOOP_WRITE)))
		return -EINVAL;
	if ((unsigned)fd >= loop->nfds && (r = table_grow(loop, fd)) < 0)
		return r;
	e = &loop->fds[fd];
	known = e->cb != NULL;
	if (!known)
		e->gen++;
	e->cb = cb;
	e->arg = arg;
	e->events = events;
	r = ctl(loop, known ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd);
	if (r < 0 && !known) {
		e->cb = NULL;
		e->events = 0;
	}
	return r;
}

int loop_mod(struct loop *loop, int fd, unsigned events)
{
	struct loop_fd *e;

	if (fd < 0 || (events & ~(unsigned)(LOOP_READ | LOOP_WRITE)))
		return -EINVAL;
	if ((unsigned)fd >= loop->nfds || !loop->fds[fd].cb)
		return -ENOENT;
	e = &loop->fds[fd];
	if (e->events == events)
		return 0;
	e->events = events;
	return ctl(loop, EPOLL_CTL_MOD, fd);
}

int loop_del(struct loop *loop, int fd)
{
	struct loop_fd *e;

	if (fd < 0 || (unsigned)fd >= loop->nfds || !loop->fds[fd].cb)
		return -ENOENT;
	e = &loop->fds[fd];
	/* The fd may already be closed (then the kernel dropped it): ignore. */
	epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL);
	e->cb = NULL;
	e->arg = NULL;
	e->events = 0;
	e->gen++;
	return 0;
}

int loop_events(const struct loop *loop, int fd)
{
	if (fd < 0 || (unsigned)fd >= loop->nfds || !loop->fds[fd].cb)
		return -ENOENT;
	return (int)loop->fds[fd].events;
}

static void hook_add(struct loop_hook **list, struct loop_hook *hook)
{
	while (*list)
		list = &(*list)->next;
	hook->next = NULL;
	*list = hook;
}

static void hook_del(struct loop_hook **list, struct loop_hook *hook)
{
	for (; *list; list = &(*list)->next) {
		if (*list == hook) {
			*list = hook->next;
			hook->next = NULL;
			return;
		}
	}
}

void loop_add_before_sleep(struct loop *loop, struct loop_hook *hook)
{
	hook_add(&loop->before_sleep, hook);
}

void loop_del_before_sleep(struct loop *loop, struct loop_hook *hook)
{
	hook_del(&loop->before_sleep, hook);
}

void loop_add_wake_hook(struct loop *loop, struct loop_hook *hook)
{
	hook_add(&loop->wake_hooks, hook);
}

void loop_del_wake_hook(struct loop *loop, struct loop_hook *hook)
{
	hook_del(&loop->wake_hooks, hook);
}

void loop_set_timeout(struct loop *loop, loop_timeout_cb cb, void *arg)
{
	loop->timeout_cb = cb;
	loop->timeout_arg = arg;
}

int loop_wake(struct loop *loop)
{
	uint64_t one = 1;

	/* Fold wakes: only the first since the loop last drained writes. */
	if (atomic_exchange(&loop->wake_pending, true))
		return 0;
	while (write(loop->wakefd, &one, sizeof(one)) < 0) {
		if (errno == EINTR)
			continue;
		/* EAGAIN: the counter is saturated, a wake-up is pending. */
		return errno == EAGAIN ? 0 : -errno;
	}
	return 0;
}

void loop_stop(struct loop *loop)
{
	atomic_store(&loop->stop, true);
	loop_wake(loop);
}

uint64_t loop_turns(const struct loop *loop)
{
	return loop->turns;
}

static int next_timeout(struct loop *loop, int timeout_ms)
{
	int64_t t;

	if (!loop->timeout_cb)
		return timeout_ms;
	t = loop->timeout_cb(loop, loop->timeout_arg);
	if (t < 0)
		return timeout_ms;
	if (t > INT_MAX)
		t = INT_MAX;
	if (timeout_ms < 0 || t < timeout_ms)
		return (int)t;
	return timeout_ms;
}

static unsigned fired_events(const struct loop_fd *e, uint32_t ev)
{
	unsigned m = 0;

	if (ev & EPOLLIN)
		m |= LOOP_READ;
	if (ev & EPOLLOUT)
		m |= LOOP_WRITE;
	m &= e->events;
	/* Always READ, even for an fd registered silent: under level
	 * triggering an unreported hang-up would fire forever. */
	if (ev & (EPOLLERR | EPOLLHUP))
		m |= LOOP_READ | (e->events & LOOP_WRITE);
	return m;
}

int loop_once(struct loop *loop, int timeout_ms)
{
	struct loop_hook *h, *next;
	bool qsbr = loop->flags & LOOP_RCU_QSBR;
	int n, i, done = 0;

	for (h = loop->before_sleep; h; h = next) {
		next = h->next;
		h->cb(loop, h->arg);
	}
	if (atomic_load(&loop->stop))
		timeout_ms = 0;
	else
		timeout_ms = next_timeout(loop, timeout_ms);

	if (qsbr)
		urcu_qsbr_thread_offline();
	n = epoll_wait(loop->epfd, loop->fired, (int)loop->max_events, timeout_ms);
	if (qsbr)
		urcu_qsbr_thread_online();
	loop->turns++;
	if (n < 0)
		return errno == EINTR ? 0 : -errno;

	for (i = 0; i < n; i++) {
		uint64_t d = loop->fired[i].data.u64;
		int fd = (int)(uint32_t)d;
		struct loop_fd *e;
		unsigned m;

		/* Re-read the table every time: a callback may have grown it,
		 * deleted this fd, or re-registered its number. */
		if ((unsigned)fd >= loop->nfds)
			continue;
		e = &loop->fds[fd];
		if (!e->cb || e->gen != (uint32_t)(d >> 32))
			continue;
		m = fired_events(e, loop->fired[i].events);
		if (!m)
			continue;
		e->cb(loop, fd, m, e->arg);
		done += fd != loop->wakefd;
	}
	if (qsbr)
		urcu_qsbr_quiescent_state();
	return done;
}

int loop_run(struct loop *loop)
{
	int r = 0;

	while (!atomic_load(&loop->stop)) {
		r = loop_once(loop, -1);
		if (r < 0)
			break;
		r = 0;
	}
	atomic_store(&loop->stop, false);
	return r;
}
