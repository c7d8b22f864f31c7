/* SPDX-License-Identifier: MIT */
/*
 * resolve.c - the UA's resolver thread: getaddrinfo() off the workers.
 *
 * Requests are queued (a mutex and a condition variable: a lookup is rare,
 * at start and after failures) and served in order by one thread; each
 * answer is handed to the daemon's deliver() callback on that thread, which
 * routes it to the owner worker (see ua.h). The first address returned is
 * used (getaddrinfo() already orders them by RFC 6724).
 */
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sipreg/ua.h"

/* The result comes first: the daemon frees what it is given with free(). */
struct req {
	struct ua_resolve_result res;
	struct req *next;
	uint16_t port;
	enum ua_transport transport;
	char host[UA_HOST_MAX + 1];
};

struct ua_resolver {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct req *head, **tail;
	bool stop;
	ua_resolve_deliver_fn deliver;
	void *arg;
};

static void lookup(const struct req *q, struct ua_resolve_result *res)
{
	struct addrinfo hints, *ai = NULL;
	char port[8];
	int r;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = q->transport == UA_TRANSPORT_TCP ? SOCK_STREAM : SOCK_DGRAM;
	hints.ai_flags = AI_NUMERICSERV | AI_ADDRCONFIG;
	snprintf(port, sizeof(port), "%u", q->port);
	r = getaddrinfo(q->host, port, &hints, &ai);
	if (r != 0 || !ai) {
		res->err = r == EAI_SYSTEM ? -errno : -EHOSTUNREACH;
		if (res->err == 0)
			res->err = -EHOSTUNREACH;
		snprintf(res->reason, sizeof(res->reason), "%s", gai_strerror(r));
		if (ai)
			freeaddrinfo(ai);
		return;
	}
	if (ai->ai_addrlen > sizeof(res->addr)) {
		res->err = -EAFNOSUPPORT;
		snprintf(res->reason, sizeof(res->reason), "address too long");
	} else {
		memcpy(&res->addr, ai->ai_addr, ai->ai_addrlen);
		res->addrlen = ai->ai_addrlen;
	}
	freeaddrinfo(ai);
}

static void *resolver_main(void *arg)
{
	struct ua_resolver *r = arg;

	pthread_mutex_lock(&r->lock);
	for (;;) {
		struct req *q;

		while (!r->stop && !r->head)
			pthread_cond_wait(&r->cond, &r->lock);
		if (r->stop)
			break;
		q = r->head;
		r->head = q->next;
		if (!r->head)
			r->tail = &r->head;
		pthread_mutex_unlock(&r->lock);

		lookup(q, &q->res);
		r->deliver(r->arg, &q->res); /* owned by the daemon now */
		pthread_mutex_lock(&r->lock);
	}
	pthread_mutex_unlock(&r->lock);
	return NULL;
}

int ua_resolver_new(struct ua_resolver **ret, ua_resolve_deliver_fn deliver, void *arg)
{
	struct ua_resolver *r;
	int e;

	if (!deliver)
		return -EINVAL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->cond, NULL);
	r->tail = &r->head;
	r->deliver = deliver;
	r->arg = arg;
	e = pthread_create(&r->thread, NULL, resolver_main, r);
	if (e) {
		pthread_cond_destroy(&r->cond);
		pthread_mutex_destroy(&r->lock);
		free(r);
		return -e;
	}
	*ret = r;
	return 0;
}

void ua_resolver_free(struct ua_resolver *r)
{
	struct req *q, *nx;

	if (!r)
		return;
	pthread_mutex_lock(&r->lock);
	r->stop = true;
	pthread_cond_signal(&r->cond);
	pthread_mutex_unlock(&r->lock);
	pthread_join(r->thread, NULL);
	for (q = r->head; q; q = nx) {
		nx = q->next;
		free(q);
	}
	pthread_cond_destroy(&r->cond);
	pthread_mutex_destroy(&r->lock);
	free(r);
}

int ua_resolver_submit(void *resolver, struct ua *ua, uint64_t token, const char *host,
                       uint16_t port, enum ua_transport transport)
{
	struct ua_resolver *r = resolver;
	size_t n = strlen(host);
	struct req *q;

	if (n > UA_HOST_MAX)
		return -ENAMETOOLONG;
	q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	q->res.ua = ua;
	q->res.token = token;
	q->port = port;
	q->transport = transport;
	memcpy(q->host, host, n + 1);
	pthread_mutex_lock(&r->lock);
	if (r->stop) {
		pthread_mutex_unlock(&r->lock);
		free(q);
		return -ESHUTDOWN;
	}
	*r->tail = q;
	r->tail = &q->next;
	pthread_cond_signal(&r->cond);
	pthread_mutex_unlock(&r->lock);
	return 0;
}
