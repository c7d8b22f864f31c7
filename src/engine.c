/* SPDX-License-Identifier: MIT */
/*
 * engine.c - worker threads, each with its loop and timing wheel. See
 * src/engine.h.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <urcu/urcu-qsbr.h>

#include "engine.h"
#include "sipreg/clock.h"
#include "sipreg/loop.h"
#include "sipreg/wheel.h"

struct worker {
	unsigned int id;
	pthread_t thread;
	bool started;
	bool running; /* atomic: inside loop_run() */
	bool exited;  /* atomic: the thread has returned */
	struct loop *loop;
	struct wheel *wheel;
	struct loop_hook tick;
	int err;
};

struct engine {
	unsigned int n;
	bool started;
	struct worker *w;
};

static int64_t worker_timeout(struct loop *loop, void *arg)
{
	struct worker *w = arg;

	(void)loop;
	return wheel_timeout(w->wheel, clock_now_ms());
}

/* Before each sleep: run the timers that are due. */
static void worker_tick(struct loop *loop, void *arg)
{
	struct worker *w = arg;

	(void)loop;
	wheel_advance(w->wheel, clock_now_ms());
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	char name[16];

	snprintf(name, sizeof(name), "sipreg-w%u", w->id);
	pthread_setname_np(pthread_self(), name);
	urcu_qsbr_register_thread();
	__atomic_store_n(&w->running, true, __ATOMIC_RELEASE);
	w->err = loop_run(w->loop);
	__atomic_store_n(&w->running, false, __ATOMIC_RELEASE);
	urcu_qsbr_unregister_thread();
	__atomic_store_n(&w->exited, true, __ATOMIC_RELEASE);
	return NULL;
}

int engine_new(struct engine **ret, const struct config *cfg)
{
	struct engine *e;
	int r = 0;

	if (cfg->workers == 0)
		return -EINVAL;
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->w = calloc(cfg->workers, sizeof(*e->w));
	if (!e->w) {
		free(e);
		return -ENOMEM;
	}
	e->n = cfg->workers;
	for (unsigned int i = 0; i < e->n; i++) {
		struct worker *w = &e->w[i];

		w->id = i;
		r = loop_new(&w->loop, 1024, 0, LOOP_RCU_QSBR);
		if (r < 0)
			goto fail;
		r = wheel_new(&w->wheel, clock_now_ms());
		if (r < 0)
			goto fail;
		loop_set_timeout(w->loop, worker_timeout, w);
		w->tick.cb = worker_tick;
		w->tick.arg = w;
		loop_add_before_sleep(w->loop, &w->tick);
	}
	*ret = e;
	return 0;
fail:
	engine_free(e);
	return r;
}

int engine_start(struct engine *e)
{
	int r;

	if (e->started)
		return -EALREADY;
	for (unsigned int i = 0; i < e->n; i++) {
		r = pthread_create(&e->w[i].thread, NULL, worker_main, &e->w[i]);
		if (r != 0) {
			engine_stop(e, 5000);
			return -r;
		}
		e->w[i].started = true;
		e->started = true;
	}
	return 0;
}

int engine_stop(struct engine *e, unsigned int timeout_ms)
{
	struct timespec deadline;
	int rc = 0;

	for (unsigned int i = 0; i < e->n; i++)
		if (e->w[i].started)
			loop_stop(e->w[i].loop);
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += timeout_ms / 1000;
	deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	for (unsigned int i = 0; i < e->n; i++) {
		struct worker *w = &e->w[i];

		if (!w->started)
			continue;
		if (pthread_timedjoin_np(w->thread, NULL, &deadline) != 0) {
			rc = -ETIMEDOUT;
			continue;
		}
		w->started = false;
	}
	return rc;
}

void engine_free(struct engine *e)
{
	if (!e)
		return;
	for (unsigned int i = 0; i < e->n; i++)
		if (e->w[i].started)
			return; /* a worker still runs after a timed-out stop: leak it all
			         */
	for (unsigned int i = 0; i < e->n; i++) {
		struct worker *w = &e->w[i];

		wheel_free(w->wheel);
		loop_free(w->loop);
	}
	free(e->w);
	free(e);
}

unsigned int engine_workers(const struct engine *e)
{
	return e->n;
}

bool engine_worker_running(const struct engine *e, unsigned int i)
{
	return i < e->n && __atomic_load_n(&e->w[i].running, __ATOMIC_ACQUIRE);
}
