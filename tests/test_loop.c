/* SPDX-License-Identifier: MIT */
/* Tests of the epoll event loop (loop.h). */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <urcu/urcu-qsbr.h>

#include "sipreg/loop.h"

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void pair(int sv[2])
{
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
}

struct rec {
	int calls;
	int fd;
	unsigned events;
	char buf[64];
	ssize_t got;
};

static void on_read(struct loop *loop, int fd, unsigned events, void *arg)
{
	struct rec *r = arg;

	(void)loop;
	r->calls++;
	r->fd = fd;
	r->events = events;
	r->got = read(fd, r->buf, sizeof(r->buf));
}

Test(loop, new_and_free)
{
	struct loop *loop = NULL;

	cr_assert_eq(loop_new(&loop, 0, 0, 0), 0);
	cr_assert_not_null(loop);
	loop_free(loop);
	loop_free(NULL);
}

Test(loop, bad_arguments)
{
	struct loop *loop;
	struct rec r = {0};
	int sv[2];

	cr_assert_eq(loop_new(&loop, 16, 8, 0), 0);
	pair(sv);
	cr_assert_eq(loop_add(loop, -1, LOOP_READ, on_read, &r), -EINVAL);
	cr_assert_eq(loop_add(loop, sv[0], LOOP_READ, NULL, &r), -EINVAL);
	cr_assert_eq(loop_add(loop, sv[0], 0x10, on_read, &r), -EINVAL);
	cr_assert_eq(loop_mod(loop, sv[0], LOOP_READ), -ENOENT);
	cr_assert_eq(loop_del(loop, sv[0]), -ENOENT);
	cr_assert_eq(loop_events(loop, sv[0]), -ENOENT);
	cr_assert_eq(loop_del(loop, 100000), -ENOENT);
	/* an fd number that is not open */
	cr_assert_eq(loop_add(loop, 19999, LOOP_READ, on_read, &r), -EBADF);
	cr_assert_eq(loop_events(loop, 19999), -ENOENT);
	close(sv[0]);
	close(sv[1]);
	loop_free(loop);
}

Test(loop, readiness_callback)
{
	struct loop *loop;
	struct rec r = {0};
	int sv[2];

	cr_assert_eq(loop_new(&loop, 4, 8, 0), 0);
	pair(sv);
	cr_assert_eq(loop_add(loop, sv[0], LOOP_READ, on_read, &r), 0);
	cr_assert_eq(loop_events(loop, sv[0]), LOOP_READ);
	/* nothing to read: the turn times out */
	cr_assert_eq(loop_once(loop, 10), 0);
	cr_assert_eq(r.calls, 0);
	cr_assert_eq(write(sv[1], "ping", 4), 4);
	cr_assert_eq(loop_once(loop, 1000), 1);
	cr_assert_eq(r.calls, 1);
	cr_assert_eq(r.fd, sv[0]);
	cr_assert_eq(r.events, LOOP_READ);
	cr_assert_eq(r.got, 4);
	cr_assert_eq(memcmp(r.buf, "ping", 4), 0);
	/* level-triggered: data left behind is reported again */
	cr_assert_eq(write(sv[1], "x", 1), 1);
	cr_assert_eq(loop_mod(loop, sv[0], 0), 0);
	cr_assert_eq(loop_once(loop, 10), 0);
	cr_assert_eq(loop_mod(loop, sv[0], LOOP_READ), 0);
	cr_assert_eq(loop_once(loop, 1000), 1);
	cr_assert_eq(r.calls, 2);
	cr_assert_eq(r.got, 1);
	close(sv[0]);
	close(sv[1]);
	loop_free(loop);
}

static void on_write(struct loop *loop, int fd, unsigned events, void *arg)
{
	struct rec *r = arg;

	r->calls++;
	r->events = events;
	loop_mod(loop, fd, 0);
}

Test(loop, writable_callback)
{
	struct loop *loop;
	struct rec r = {0};
	int sv[2];

	cr_assert_eq(loop_new(&loop, 4, 8, 0), 0);
	pair(sv);
	cr_assert_eq(loop_add(loop, sv[0], LOOP_WRITE, on_write, &r), 0);
	cr_assert_eq(loop_once(loop, 1000), 1);
	cr_assert_eq(r.calls, 1);
	cr_assert_eq(r.events, LOOP_WRITE);
	cr_assert_eq(loop_once(loop, 10), 0);
	cr_assert_eq(r.calls, 1);
	close(sv[0]);
	close(sv[1]);
	loop_free(loop);
}

struct wake_ctx {
	struct loop *loop;
	atomic_int hooks;
	atomic_int stop_after;
};

static void wake_hook(struct loop *loop, void *arg)
{
	struct wake_ctx *w = arg;

	(void)loop;
	atomic_fetch_add(&w->hooks, 1);
}

static void *waker(void *arg)
{
	struct wake_ctx *w = arg;
	struct timespec ts = {0, 20 * 1000 * 1000};

	nanosleep(&ts, NULL);
	loop_wake(w->loop);
	return NULL;
}

Test(loop, wake_from_another_thread)
{
	struct wake_ctx w = {0};
	struct loop_hook h = {.cb = wake_hook, .arg = &w};
	pthread_t t;
	uint64_t t0;

	cr_assert_eq(loop_new(&w.loop, 0, 0, 0), 0);
	loop_add_wake_hook(w.loop, &h);
	cr_assert_eq(pthread_create(&t, NULL, waker, &w), 0);
	t0 = now_ms();
	/* would block 5 s without the wake */
	cr_assert_eq(loop_once(w.loop, 5000), 0);
	cr_assert_lt(now_ms() - t0, 2000);
	cr_assert_eq(atomic_load(&w.hooks), 1);
	pthread_join(t, NULL);
	/* several wakes fold into one run of the hooks */
	loop_wake(w.loop);
	loop_wake(w.loop);
	loop_wake(w.loop);
	cr_assert_eq(loop_once(w.loop, 1000), 0);
	cr_assert_eq(atomic_load(&w.hooks), 2);
	cr_assert_eq(loop_once(w.loop, 10), 0);
	cr_assert_eq(atomic_load(&w.hooks), 2);
	loop_del_wake_hook(w.loop, &h);
	loop_wake(w.loop);
	loop_once(w.loop, 10);
	cr_assert_eq(atomic_load(&w.hooks), 2);
	loop_free(w.loop);
}

static int64_t fixed_timeout(struct loop *loop, void *arg)
{
	(void)loop;
	return *(int64_t *)arg;
}

Test(loop, timeout_provider_honoured)
{
	struct loop *loop;
	int64_t next = 80;
	uint64_t t0, dt;

	cr_assert_eq(loop_new(&loop, 0, 0, 0), 0);
	loop_set_timeout(loop, fixed_timeout, &next);
	t0 = now_ms();
	cr_assert_eq(loop_once(loop, -1), 0);
	dt = now_ms() - t0;
	cr_assert_geq(dt, 79, "woke after %llu ms", (unsigned long long)dt);
	cr_assert_lt(dt, 1000);
	/* the shorter of the caller's timeout and the provider's wins */
	next = 5000;
	t0 = now_ms();
	cr_assert_eq(loop_once(loop, 30), 0);
	dt = now_ms() - t0;
	cr_assert_geq(dt, 29);
	cr_assert_lt(dt, 1000);
	/* -1 = no deadline: the caller's timeout stands */
	next = -1;
	t0 = now_ms();
	cr_assert_eq(loop_once(loop, 20), 0);
	cr_assert_geq(now_ms() - t0, 19);
	next = 0;
	t0 = now_ms();
	cr_assert_eq(loop_once(loop, 5000), 0);
	cr_assert_lt(now_ms() - t0, 1000);
	loop_free(loop);
}

struct order {
	int seq[8];
	int n;
	struct loop_hook *self;
};

static void before_a(struct loop *loop, void *arg)
{
	struct order *o = arg;

	(void)loop;
	o->seq[o->n++ % 8] = 1;
}

static void before_b(struct loop *loop, void *arg)
{
	struct order *o = arg;

	o->seq[o->n++ % 8] = 2;
	loop_del_before_sleep(loop, o->self); /* removes itself */
}

Test(loop, before_sleep_hooks)
{
	struct loop *loop;
	struct order o = {0};
	struct loop_hook a = {.cb = before_a, .arg = &o};
	struct loop_hook b = {.cb = before_b, .arg = &o};

	o.self = &b;
	cr_assert_eq(loop_new(&loop, 0, 0, 0), 0);
	loop_add_before_sleep(loop, &a);
	loop_add_before_sleep(loop, &b);
	loop_once(loop, 0);
	cr_assert_eq(o.n, 2);
	cr_assert_eq(o.seq[0], 1);
	cr_assert_eq(o.seq[1], 2);
	loop_once(loop, 0);
	cr_assert_eq(o.n, 3);
	cr_assert_eq(o.seq[2], 1);
	cr_assert_eq(loop_turns(loop), 2);
	loop_free(loop);
}

static void stop_in_cb(struct loop *loop, int fd, unsigned events, void *arg)
{
	char c;

	(void)events;
	(void)arg;
	while (read(fd, &c, 1) == 1)
		;
	loop_stop(loop);
}

Test(loop, stop_from_callback)
{
	struct loop *loop;
	int sv[2];

	cr_assert_eq(loop_new(&loop, 0, 0, 0), 0);
	pair(sv);
	cr_assert_eq(loop_add(loop, sv[0], LOOP_READ, stop_in_cb, NULL), 0);
	cr_assert_eq(write(sv[1], "s", 1), 1);
	cr_assert_eq(loop_run(loop), 0);
	/* a stop asked before run makes it return at once */
	loop_stop(loop);
	cr_assert_eq(loop_run(loop), 0);
	close(sv[0]);
	close(sv[1]);
	loop_free(loop);
}

static void *stopper(void *arg)
{
	struct timespec ts = {0, 30 * 1000 * 1000};

	nanosleep(&ts, NULL);
	loop_stop(arg);
	return NULL;
}

Test(loop, stop_from_another_thread, .timeout = 10)
{
	struct loop *loop;
	pthread_t t;
	uint64_t t0;

	cr_assert_eq(loop_new(&loop, 0, 0, 0), 0);
	t0 = now_ms();
	cr_assert_eq(pthread_create(&t, NULL, stopper, loop), 0);
	cr_assert_eq(loop_run(loop), 0);
	cr_assert_geq(now_ms() - t0, 29);
	pthread_join(t, NULL);
	loop_free(loop);
}

/* Two fds ready in the same turn; whichever callback runs first deletes the
 * other fd, closes it and registers a new fd that takes the same number. The
 * stale event must not reach the new registration. */
struct del_ctx {
	int a[2], b[2];
	int calls_a, calls_b, calls_new;
	int newfd[2];
};

static void cb_new(struct loop *loop, int fd, unsigned events, void *arg)
{
	struct del_ctx *d = arg;

	(void)loop;
	(void)fd;
	(void)events;
	d->calls_new++;
}

static void cb_del_other(struct loop *loop, int fd, unsigned events, void *arg)
{
	struct del_ctx *d = arg;
	int other = fd == d->a[0] ? d->b[0] : d->a[0];
	char c;

	(void)events;
	if (fd == d->a[0])
		d->calls_a++;
	else
		d->calls_b++;
	(void)!read(fd, &c, 1);
	cr_assert_eq(loop_del(loop, other), 0);
	close(other);
	/* the lowest free number is `other`: it is reused at once */
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, d->newfd), 0);
	cr_assert_eq(d->newfd[0], other);
	cr_assert_eq(loop_add(loop, d->newfd[0], LOOP_READ, cb_new, d), 0);
	cr_assert_eq(loop_del(loop, fd), 0); /* and itself */
}

Test(loop, removal_inside_callback)
{
	struct loop *loop;
	struct del_ctx d = {0};

	cr_assert_eq(loop_new(&loop, 0, 0, 0), 0);
	pair(d.a);
	pair(d.b);
	cr_assert_eq(loop_add(loop, d.a[0], LOOP_READ, cb_del_other, &d), 0);
	cr_assert_eq(loop_add(loop, d.b[0], LOOP_READ, cb_del_other, &d), 0);
	cr_assert_eq(write(d.a[1], "a", 1), 1);
	cr_assert_eq(write(d.b[1], "b", 1), 1);
	cr_assert_eq(loop_once(loop, 1000), 1);
	cr_assert_eq(d.calls_a + d.calls_b, 1);
	cr_assert_eq(d.calls_new, 0);
	/* the new registration works normally */
	cr_assert_eq(write(d.newfd[1], "n", 1), 1);
	cr_assert_eq(loop_once(loop, 1000), 1);
	cr_assert_eq(d.calls_new, 1);
	loop_free(loop);
}

Test(loop, eof_and_hup_reported_readable)
{
	struct loop *loop;
	struct rec r = {0};
	int sv[2];

	cr_assert_eq(loop_new(&loop, 0, 0, 0), 0);
	pair(sv);
	cr_assert_eq(loop_add(loop, sv[0], LOOP_READ, on_read, &r), 0);
	close(sv[1]);
	cr_assert_eq(loop_once(loop, 1000), 1);
	cr_assert_eq(r.events, LOOP_READ);
	cr_assert_eq(r.got, 0, "read saw EOF");
	loop_del(loop, sv[0]);

	/* registered for WRITE only: the hang-up still reaches the handler,
	 * as READ and WRITE */
	pair(sv);
	r = (struct rec){0};
	cr_assert_eq(loop_add(loop, sv[0], LOOP_WRITE, on_read, &r), 0);
	close(sv[1]);
	cr_assert_eq(loop_once(loop, 1000), 1);
	cr_assert_eq(r.events, LOOP_READ | LOOP_WRITE);
	cr_assert_eq(r.got, 0);
	loop_del(loop, sv[0]);
	close(sv[0]);

	/* registered silent (no events): still told, as READ */
	pair(sv);
	r = (struct rec){0};
	cr_assert_eq(loop_add(loop, sv[0], 0, on_read, &r), 0);
	close(sv[1]);
	cr_assert_eq(loop_once(loop, 1000), 1);
	cr_assert_eq(r.events, LOOP_READ);
	loop_del(loop, sv[0]);
	close(sv[0]);
	loop_free(loop);
}

#define MANY 1000

struct many {
	int hits[MANY];
	int total;
};

static void on_many(struct loop *loop, int fd, unsigned events, void *arg)
{
	char c;

	(void)loop;
	(void)events;
	cr_assert_eq(read(fd, &c, 1), 1);
	((struct many *)arg)->hits[(unsigned char)c]++;
	((struct many *)arg)->total++;
}

Test(loop, many_fds_table_grows, .timeout = 30)
{
	struct loop *loop;
	static int sv[MANY][2];
	static struct many m;
	int i, turns = 0;

	/* table starts at 4 entries; fired array of 16 */
	cr_assert_eq(loop_new(&loop, 4, 16, 0), 0);
	for (i = 0; i < MANY; i++) {
		pair(sv[i]);
		cr_assert_eq(loop_add(loop, sv[i][0], LOOP_READ, on_many, &m), 0);
	}
	for (i = 0; i < MANY; i++)
		cr_assert_eq(write(sv[i][1], &(char){(char)(i % 200)}, 1), 1);
	while (m.total < MANY && turns < 1000) {
		cr_assert_geq(loop_once(loop, 1000), 0);
		turns++;
	}
	cr_assert_eq(m.total, MANY);
	/* 16 events per epoll_wait: at least MANY / 16 turns */
	cr_assert_geq(turns, MANY / 16);
	for (i = 0; i < 200; i++)
		cr_assert_eq(m.hits[i], MANY / 200);
	for (i = 0; i < MANY; i++) {
		loop_del(loop, sv[i][0]);
		close(sv[i][0]);
		close(sv[i][1]);
	}
	loop_free(loop);
}

static struct loop *rcu_loop;

static void *rcu_stopper(void *arg)
{
	struct timespec ts = {0, 20 * 1000 * 1000};

	(void)arg;
	nanosleep(&ts, NULL);
	/* synchronize_rcu returns only because the loop thread goes offline
	 * while it sleeps and announces quiescent states */
	urcu_qsbr_synchronize_rcu();
	loop_stop(rcu_loop);
	return NULL;
}

Test(loop, rcu_qsbr_reader, .timeout = 10)
{
	pthread_t t;

	urcu_qsbr_register_thread();
	cr_assert_eq(loop_new(&rcu_loop, 0, 0, LOOP_RCU_QSBR), 0);
	cr_assert_eq(pthread_create(&t, NULL, rcu_stopper, NULL), 0);
	cr_assert_eq(loop_run(rcu_loop), 0);
	pthread_join(t, NULL);
	loop_free(rcu_loop);
	urcu_qsbr_unregister_thread();
}

/* Wakes from another thread must never be lost: a producer bumps a counter
 * and wakes the loop in bursts, then waits (bounded) for the loop's wake hook
 * to have seen everything. The loop sleeps without a timeout, so a lost
 * wake-up leaves the producer waiting. (The race this guards against, a
 * write landing between clearing the pending flag and reading the eventfd,
 * is narrow; test_handoff's two-thread exchange hits it far more often.) */
struct burst {
	struct loop *loop;
	atomic_uint produced, seen;
	atomic_int lost;
};

static void burst_hook(struct loop *loop, void *arg)
{
	struct burst *b = arg;

	(void)loop;
	atomic_store(&b->seen, atomic_load(&b->produced));
}

static void *burst_producer(void *arg)
{
	struct burst *b = arg;
	unsigned i, k;

	for (i = 0; i < 3000; i++) {
		uint64_t t0 = now_ms();

		for (k = 0; k < 1 + i % 50; k++) {
			atomic_fetch_add(&b->produced, 1);
			loop_wake(b->loop);
		}
		while (atomic_load(&b->seen) != atomic_load(&b->produced)) {
			if (now_ms() - t0 > 2000) {
				atomic_store(&b->lost, 1);
				goto out;
			}
			sched_yield();
		}
	}
out:
	loop_stop(b->loop);
	return NULL;
}

Test(loop, no_lost_wakes, .timeout = 30)
{
	static struct burst b;
	struct loop_hook h = {.cb = burst_hook, .arg = &b};
	pthread_t t;

	cr_assert_eq(loop_new(&b.loop, 0, 0, 0), 0);
	loop_add_wake_hook(b.loop, &h);
	cr_assert_eq(pthread_create(&t, NULL, burst_producer, &b), 0);
	cr_assert_eq(loop_run(b.loop), 0);
	pthread_join(t, NULL);
	cr_assert_eq(atomic_load(&b.lost), 0, "a wake-up was lost after %u",
		     atomic_load(&b.produced));
	loop_free(b.loop);
}
