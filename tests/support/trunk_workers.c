/* SPDX-License-Identifier: MIT */
/*
 * trunk_workers.c - see trunk_workers.h.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>
#include <urcu/urcu-qsbr.h>

#include "sipreg/clock.h"
#include "sipreg/loop.h"
#include "sipreg/transaction.h"
#include "sipreg/wheel.h"
#include "trunk_workers.h"

struct worker {
	unsigned int i;
	struct trunksvc *svc;
	struct loop *loop;
	struct wheel *wheel;
	struct tx_layer *tx;
	struct loop_hook before;
	pthread_t th;
	int attached; /* 1 ok, -errno failed */
};

static struct worker workers[TRUNK_WORKERS_MAX];
static unsigned int nworkers;
static struct trunksvc *attached_svc;
static pthread_mutex_t sent_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned int registers_sent, unregisters_sent;

static int fake_send(void *arg, const void *buf, size_t len, const struct sockaddr *to,
                     socklen_t tolen, uint64_t conn)
{
	(void)arg;
	(void)to;
	(void)tolen;
	(void)conn;
	pthread_mutex_lock(&sent_lock);
	if (len > 9 && memcmp(buf, "REGISTER ", 9) == 0) {
		if (memmem(buf, len, "Expires: 0\r\n", 12))
			unregisters_sent++;
		else
			registers_sent++;
	}
	pthread_mutex_unlock(&sent_lock);
	return 0;
}

static unsigned int sent(const unsigned int *counter)
{
	unsigned int v;

	pthread_mutex_lock(&sent_lock);
	v = *counter;
	pthread_mutex_unlock(&sent_lock);
	return v;
}

unsigned int trunk_workers_registers(void)
{
	return sent(&registers_sent);
}

unsigned int trunk_workers_unregisters(void)
{
	return sent(&unregisters_sent);
}

static void before_sleep(struct loop *l, void *arg)
{
	struct worker *w = arg;

	(void)l;
	wheel_advance(w->wheel, clock_now_ms());
}

static int64_t timeout(struct loop *l, void *arg)
{
	struct worker *w = arg;

	(void)l;
	return wheel_timeout(w->wheel, clock_now_ms());
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct tx_layer_opts o = {.worker = w->i};
	struct trunksvc_worker tw;
	int r;

	urcu_qsbr_register_thread();
	r = wheel_new(&w->wheel, clock_now_ms());
	if (!r)
		r = tx_layer_new(&w->tx, w->wheel, &o, fake_send, NULL);
	tw = (struct trunksvc_worker){.loop = w->loop,
	                              .wheel = w->wheel,
	                              .tx = w->tx,
	                              .local_host = "127.0.0.1",
	                              .local_port_udp = 5060};
	if (!r)
		r = trunksvc_attach(w->svc, w->i, &tw);
	__atomic_store_n(&w->attached, r ? r : 1, __ATOMIC_SEQ_CST);
	if (!r) {
		w->before = (struct loop_hook){.cb = before_sleep, .arg = w};
		loop_add_before_sleep(w->loop, &w->before);
		loop_set_timeout(w->loop, timeout, w);
		loop_run(w->loop);
	}
	urcu_qsbr_unregister_thread();
	return NULL;
}

void trunk_workers_start(struct trunksvc *svc, unsigned int n)
{
	cr_assert_leq(n, TRUNK_WORKERS_MAX);
	pthread_mutex_lock(&sent_lock);
	registers_sent = unregisters_sent = 0;
	pthread_mutex_unlock(&sent_lock);
	attached_svc = svc;
	nworkers = n;
	for (unsigned int i = 0; i < n; i++) {
		workers[i] = (struct worker){.i = i, .svc = svc};
		cr_assert_eq(loop_new(&workers[i].loop, 64, 64, LOOP_RCU_QSBR), 0);
		pthread_create(&workers[i].th, NULL, worker_main, &workers[i]);
	}
	for (unsigned int i = 0; i < n; i++) {
		while (!__atomic_load_n(&workers[i].attached, __ATOMIC_SEQ_CST))
			usleep(1000);
		cr_assert_eq(workers[i].attached, 1, "attach: %s",
		             strerror(-workers[i].attached));
	}
}

void trunk_workers_stop(void)
{
	for (unsigned int i = 0; i < nworkers; i++) {
		loop_stop(workers[i].loop);
		pthread_join(workers[i].th, NULL);
	}
	if (nworkers)
		trunksvc_detach_all(attached_svc);
	for (unsigned int i = 0; i < nworkers; i++) {
		tx_layer_free(workers[i].tx);
		wheel_free(workers[i].wheel);
		loop_free(workers[i].loop);
		workers[i] = (struct worker){0};
	}
	nworkers = 0;
	attached_svc = NULL;
}
