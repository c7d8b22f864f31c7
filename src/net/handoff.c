/* SPDX-License-Identifier: MIT */
/*
 * handoff.c - per-worker MPSC queue of datagrams owned by that worker (see
 * handoff.h for why). Producers: cds_wfcq_enqueue() (wait-free) then
 * loop_wake() (an eventfd write, folded while a wake is pending). Consumer:
 * the owner loop's wake hook, __cds_wfcq_dequeue_blocking() without a lock
 * since it is the only dequeuer.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <urcu/uatomic.h>
#include <urcu/wfcqueue.h>

#include "sipreg/handoff.h"
#include "sipreg/loop.h"

/* Delivered per wake; more left -> wake again, so the loop's other fds get
 * their turn between batches. */
#define DRAIN_BATCH 256u

struct handoff_msg {
	struct cds_wfcq_node node;
	struct sockaddr_storage src;
	socklen_t srclen;
	unsigned from;
	uint32_t tag;
	size_t len;
	char buf[];
};

struct handoff {
	/* producers touch the tail, the consumer the head: keep them apart */
	struct cds_wfcq_tail tail;
	char pad0[64];
	struct __cds_wfcq_head head;
	struct loop *loop;
	struct loop_hook hook;
	handoff_cb cb;
	void *arg;
	unsigned max_pending;
	unsigned long pending; /* uatomic */
	uint64_t pushed, dropped; /* uatomic */
	uint64_t delivered;       /* owner only */
};

static void wake_hook(struct loop *loop, void *arg)
{
	struct handoff *h = arg;

	if (handoff_drain(h, DRAIN_BATCH) == DRAIN_BATCH)
		loop_wake(loop);
}

int handoff_new(struct handoff **ret, struct loop *loop, unsigned max_pending,
		handoff_cb cb, void *arg)
{
	struct handoff *h;

	if (!cb)
		return -EINVAL;
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	__cds_wfcq_init(&h->head, &h->tail);
	h->loop = loop;
	h->cb = cb;
	h->arg = arg;
	h->max_pending = max_pending ? max_pending : 4096;
	h->hook.cb = wake_hook;
	h->hook.arg = h;
	loop_add_wake_hook(loop, &h->hook);
	*ret = h;
	return 0;
}

static struct handoff_msg *dequeue(struct handoff *h)
{
	struct cds_wfcq_node *n;

	n = __cds_wfcq_dequeue_blocking(&h->head, &h->tail);
	if (!n)
		return NULL;
	uatomic_dec(&h->pending);
	return caa_container_of(n, struct handoff_msg, node);
}

void handoff_free(struct handoff *h)
{
	struct handoff_msg *m;

	if (!h)
		return;
	loop_del_wake_hook(h->loop, &h->hook);
	while ((m = dequeue(h)))
		free(m);
	free(h);
}

int handoff_push(struct handoff *h, const void *buf, size_t len,
		 const struct sockaddr *src, socklen_t srclen, unsigned from, uint32_t tag)
{
	struct handoff_msg *m;

	if (!len || len > 65535 || srclen > sizeof(struct sockaddr_storage))
		return -EINVAL;
	if (uatomic_add_return(&h->pending, 1) > h->max_pending) {
		uatomic_dec(&h->pending);
		uatomic_inc(&h->dropped);
		return -ENOBUFS;
	}
	m = malloc(sizeof(*m) + len);
	if (!m) {
		uatomic_dec(&h->pending);
		uatomic_inc(&h->dropped);
		return -ENOMEM;
	}
	cds_wfcq_node_init(&m->node);
	memcpy(&m->src, src, srclen);
	m->srclen = srclen;
	m->from = from;
	m->tag = tag;
	m->len = len;
	memcpy(m->buf, buf, len);
	uatomic_inc(&h->pushed);
	cds_wfcq_enqueue(&h->head, &h->tail, &m->node);
	loop_wake(h->loop);
	return 0;
}

unsigned handoff_drain(struct handoff *h, unsigned max)
{
	struct handoff_msg *m;
	unsigned n = 0;

	while ((!max || n < max) && (m = dequeue(h))) {
		h->cb(h->arg, m->buf, m->len, (const struct sockaddr *)&m->src, m->srclen,
		      m->from, m->tag);
		free(m);
		n++;
	}
	h->delivered += n;
	return n;
}

void handoff_get_stats(const struct handoff *h, struct handoff_stats *out)
{
	out->pushed = uatomic_read(&h->pushed);
	out->dropped = uatomic_read(&h->dropped);
	out->delivered = h->delivered;
}
