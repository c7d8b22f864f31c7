/* SPDX-License-Identifier: MIT */
/*
 * mailbox.c - run UA work on its worker thread from other threads (see
 * include/sipreg/ua.h): a mutex-protected FIFO of caller-owned job nodes,
 * loop_wake(), and a wake-up hook that drains the queue on the worker.
 *
 * ua_mailbox_call() waits for its job with a deadline. The call record is
 * shared (reference counted) by the caller and the worker; the job runs
 * with the record's mutex held, and a caller that times out marks it
 * cancelled under that mutex, so either the job ran entirely before the
 * caller returned, or it never runs: the caller's arg can live on its stack.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "sipreg/loop.h"
#include "sipreg/ua.h"

struct ua_mailbox {
	struct ua *ua;
	struct loop *loop;
	struct loop_hook hook;
	pthread_mutex_t lock;
	struct ua_job *head, **tail;
	bool closed;
	uint64_t runs;
};

struct call {
	struct ua_job job;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	ua_job_fn fn;
	void *arg;
	bool done, cancelled;
	int refs; /* atomic */
};

static void drain(struct loop *loop, void *arg)
{
	struct ua_mailbox *mb = arg;
	struct ua_job *j, *nx;

	(void)loop;
	pthread_mutex_lock(&mb->lock);
	j = mb->head;
	mb->head = NULL;
	mb->tail = &mb->head;
	pthread_mutex_unlock(&mb->lock);
	for (; j; j = nx) {
		nx = j->next; /* fn may free j */
		j->next = NULL;
		mb->runs++;
		j->fn(mb->ua, j->arg);
	}
}

int ua_mailbox_new(struct ua_mailbox **ret, struct ua *ua, struct loop *loop)
{
	struct ua_mailbox *mb;

	if (!ua || !loop)
		return -EINVAL;
	mb = calloc(1, sizeof(*mb));
	if (!mb)
		return -ENOMEM;
	mb->ua = ua;
	mb->loop = loop;
	pthread_mutex_init(&mb->lock, NULL);
	mb->tail = &mb->head;
	mb->hook.cb = drain;
	mb->hook.arg = mb;
	loop_add_wake_hook(loop, &mb->hook);
	*ret = mb;
	return 0;
}

static void call_put(struct call *c)
{
	if (__atomic_sub_fetch(&c->refs, 1, __ATOMIC_ACQ_REL) == 0) {
		pthread_cond_destroy(&c->cond);
		pthread_mutex_destroy(&c->lock);
		free(c);
	}
}

static void call_run(struct ua *ua, void *arg)
{
	struct call *c = arg;

	pthread_mutex_lock(&c->lock);
	if (!c->cancelled) {
		c->fn(ua, c->arg);
		c->done = true;
		pthread_cond_signal(&c->cond);
	}
	pthread_mutex_unlock(&c->lock);
	call_put(c);
}

void ua_mailbox_free(struct ua_mailbox *mb)
{
	struct ua_job *j, *nx;

	if (!mb)
		return;
	loop_del_wake_hook(mb->loop, &mb->hook);
	pthread_mutex_lock(&mb->lock);
	mb->closed = true;
	j = mb->head;
	mb->head = NULL;
	pthread_mutex_unlock(&mb->lock);
	/* Dropped jobs: calls are released (their waiters time out); other
	 * nodes belong to their posters. */
	for (; j; j = nx) {
		nx = j->next;
		if (j->fn == call_run) {
			struct call *c = j->arg;

			pthread_mutex_lock(&c->lock);
			c->cancelled = true;
			pthread_cond_signal(&c->cond);
			pthread_mutex_unlock(&c->lock);
			call_put(c);
		}
	}
	pthread_mutex_destroy(&mb->lock);
	free(mb);
}

int ua_mailbox_post(struct ua_mailbox *mb, struct ua_job *job)
{
	pthread_mutex_lock(&mb->lock);
	if (mb->closed) {
		pthread_mutex_unlock(&mb->lock);
		return -ESHUTDOWN;
	}
	job->next = NULL;
	*mb->tail = job;
	mb->tail = &job->next;
	pthread_mutex_unlock(&mb->lock);
	loop_wake(mb->loop);
	return 0;
}

int ua_mailbox_call(struct ua_mailbox *mb, ua_job_fn fn, void *arg, unsigned timeout_ms)
{
	struct call *c = calloc(1, sizeof(*c));
	struct timespec ts;
	int r = 0;

	if (!c)
		return -ENOMEM;
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->cond, NULL);
	c->fn = fn;
	c->arg = arg;
	c->refs = 2;
	c->job.fn = call_run;
	c->job.arg = c;
	if (ua_mailbox_post(mb, &c->job) < 0) {
		c->refs = 1;
		call_put(c);
		return -ESHUTDOWN;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += timeout_ms / 1000;
	ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&c->lock);
	while (!c->done && !c->cancelled)
		if (pthread_cond_timedwait(&c->cond, &c->lock, &ts) == ETIMEDOUT)
			break;
	if (!c->done) {
		r = c->cancelled ? -ESHUTDOWN
		                 : -ETIMEDOUT; /* cancelled: dropped by free */
		c->cancelled = true;
	}
	pthread_mutex_unlock(&c->lock);
	call_put(c);
	return r;
}

static void apply_resolved(struct ua *ua, void *arg)
{
	struct ua_resolve_result *res = arg;

	(void)ua;
	ua_resolve_result_apply(res);
	free(res);
}

void ua_mailbox_deliver_resolved(void *mailboxes, struct ua_resolve_result *res)
{
	struct ua_mailbox **mbs = mailboxes;
	struct ua_mailbox *mb = mbs[ua_worker(res->ua)];

	res->job.fn = apply_resolved;
	res->job.arg = res;
	if (ua_mailbox_post(mb, &res->job) < 0)
		free(res); /* the worker is gone: nobody waits for it */
}

uint64_t ua_mailbox_runs(const struct ua_mailbox *mb)
{
	return mb->runs;
}
