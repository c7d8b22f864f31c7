/* SPDX-License-Identifier: MIT */
/*
 * endpoints.c - the doctor's per-endpoint half: which AORs refresh their
 * registration far more often than they need to (see include/sipreg/doctor.h,
 * "Endpoints").
 *
 * A tracker is the space-saving algorithm (Metwally, Agrawal, El Abbadi,
 * "Efficient computation of frequent and top-k elements in data streams",
 * 2005) over the stream of successful REGISTERs, keyed by AOR:
 *
 *   slots[k]   the k AORs tracked, each with its count (an over-estimate by
 *              at most err, the count it inherited) and its own observations
 *              since it took the slot (REGISTERs, first/last time, a running
 *              average of the interval, expiry asked and granted, source);
 *   buckets    the slots grouped by count, the groups in a list by count,
 *              smallest first (the paper's Stream-Summary): an AOR not
 *              tracked evicts a slot of the first group and takes its
 *              count + 1; a count + 1 moves its slot to the next group (or
 *              a new one) in O(1). (A binary min-heap sifted every feed
 *              before: with many AORs of nearly equal counts, the common
 *              case, each sift went all the way down, log2(k) swaps: 240
 *              of the ~570 instructions of a feed at k = 128.)
 *   index[]    AOR hash -> slot, open addressing (linear probing, deletion
 *              by backward shift), twice as many entries as slots or more.
 *
 * Any AOR sending more than N / k of the N REGISTERs fed is tracked; every
 * DOCTOR_EP_DECAY_MS the counts are halved (the order stays; groups whose
 * halves are equal merge) so that the ranking follows the recent past. A
 * feed is a hash, a probe, one slot written and one slot moved between
 * groups: no allocation, no lock.
 *
 * Readers (the doctor, another thread) copy the slots under a per-slot
 * sequence counter (seqlock): the writer makes it odd while it writes, so a
 * torn copy is seen and taken again. The groups and the index are the
 * writer's alone.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sipreg/doctor.h"

struct ep_slot {
	uint32_t seq;  /* odd while the writer changes the slot */
	uint32_t regs; /* REGISTERs since this AOR took the slot (0: free) */
	uint64_t hash;
	uint64_t count;    /* space-saving count (halved every decay) */
	uint64_t err;      /* of which inherited */
	uint64_t first_ms; /* first and last REGISTER in the slot */
	uint64_t last_ms;
	uint32_t ival_ms; /* running average interval (1/4 weight to the newest) */
	uint32_t asked;   /* last REGISTER: expiry asked (0: none), granted */
	uint32_t granted;
	uint32_t bindings;
	uint16_t port;
	uint8_t family; /* AF_INET, AF_INET6 or 0 */
	uint8_t nat;
	uint8_t addr[16];
	uint8_t aorlen; /* bytes in aor (truncated at DOCTOR_EP_AOR_MAX) */
	char aor[DOCTOR_EP_AOR_MAX];
};

#define EP_NIL 0xffffu /* no bucket, no slot (k <= DOCTOR_EP_K_MAX < EP_NIL) */

/* A group of slots with one count; the groups in a list by count. */
struct ep_bucket {
	uint64_t count;
	uint16_t head;       /* its first slot (never EP_NIL in the list) */
	uint16_t prev, next; /* buckets with a smaller / larger count */
};

/* A slot's place: its bucket and its neighbours there. */
struct ep_link {
	uint16_t bucket;
	uint16_t prev, next;
};

struct doctor_ep {
	unsigned k, used;
	uint64_t epoch_ms; /* last decay */
	bool started;
	uint64_t fed;
	size_t mask;          /* index size - 1 */
	uint16_t *index;      /* 0 empty, else slot + 1 */
	struct ep_bucket *bkt; /* k buckets: in the list or free */
	struct ep_link *link;  /* slot -> its bucket and neighbours */
	uint16_t bmin;         /* the smallest count's bucket, EP_NIL: none */
	uint16_t bfree;        /* free buckets, linked by next */
	struct ep_slot *slots;
};

/* ------------------------------------------------------------------------ */
/* One tracker                                                               */

int doctor_ep_new(struct doctor_ep **ret, unsigned k)
{
	struct doctor_ep *t;
	size_t n = 1;

	if (!ret || k == 0 || k > DOCTOR_EP_K_MAX)
		return -EINVAL;
	while (n < 2 * (size_t)k)
		n <<= 1;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->k = k;
	t->mask = n - 1;
	t->index = calloc(n, sizeof(*t->index));
	t->bkt = calloc(k, sizeof(*t->bkt));
	t->link = calloc(k, sizeof(*t->link));
	t->slots = calloc(k, sizeof(*t->slots));
	if (!t->index || !t->bkt || !t->link || !t->slots) {
		doctor_ep_free(t);
		return -ENOMEM;
	}
	t->bmin = EP_NIL;
	for (unsigned i = 0; i < k; i++)
		t->bkt[i].next = (uint16_t)(i + 1 < k ? i + 1 : EP_NIL);
	t->bfree = 0;
	*ret = t;
	return 0;
}

void doctor_ep_free(struct doctor_ep *t)
{
	if (!t)
		return;
	free(t->index);
	free(t->bkt);
	free(t->link);
	free(t->slots);
	free(t);
}

size_t doctor_ep_bytes(const struct doctor_ep *t)
{
	if (!t)
		return 0;
	return sizeof(*t) + (t->mask + 1) * sizeof(*t->index) +
	       t->k * (sizeof(*t->bkt) + sizeof(*t->link) + sizeof(*t->slots));
}

uint64_t doctor_ep_fed(const struct doctor_ep *t)
{
	return t ? __atomic_load_n(&t->fed, __ATOMIC_RELAXED) : 0;
}

/* 8 bytes at a time (an AOR is 20-60 bytes: a byte-wise FNV-1a was a
 * third of a feed), murmur3's finaliser; never 0. */
static uint64_t aor_hash(struct sip_str s)
{
	const uint64_t k = 0x9e3779b97f4a7c15ull;
	uint64_t h = s.len * k, w;
	const char *p = s.p;
	size_t n = s.len;

	for (; n >= 8; p += 8, n -= 8) {
		memcpy(&w, p, 8);
		h = (h ^ w) * k;
		h ^= h >> 29;
	}
	w = 0;
	memcpy(&w, p, n);
	h = (h ^ w) * k;
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	return h ? h : 1;
}

static void wbegin(struct ep_slot *s)
{
	__atomic_store_n(&s->seq, s->seq + 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
}

static void wend(struct ep_slot *s)
{
	__atomic_store_n(&s->seq, s->seq + 1, __ATOMIC_RELEASE);
}

/* A free bucket with count c, linked after bucket `after` (EP_NIL: first).
 * There is always one: k slots fill at most k buckets. */
static uint16_t bucket_add(struct doctor_ep *t, uint16_t after, uint64_t c)
{
	uint16_t b = t->bfree;
	struct ep_bucket *x = &t->bkt[b];

	t->bfree = x->next;
	x->count = c;
	x->head = EP_NIL;
	x->prev = after;
	x->next = after == EP_NIL ? t->bmin : t->bkt[after].next;
	if (x->next != EP_NIL)
		t->bkt[x->next].prev = b;
	if (after == EP_NIL)
		t->bmin = b;
	else
		t->bkt[after].next = b;
	return b;
}

static void bucket_del(struct doctor_ep *t, uint16_t b)
{
	struct ep_bucket *x = &t->bkt[b];

	if (x->prev == EP_NIL)
		t->bmin = x->next;
	else
		t->bkt[x->prev].next = x->next;
	if (x->next != EP_NIL)
		t->bkt[x->next].prev = x->prev;
	x->next = t->bfree;
	t->bfree = b;
}

/* Slot n first in bucket b. */
static void slot_push(struct doctor_ep *t, uint16_t n, uint16_t b)
{
	struct ep_link *l = &t->link[n];

	l->bucket = b;
	l->prev = EP_NIL;
	l->next = t->bkt[b].head;
	if (l->next != EP_NIL)
		t->link[l->next].prev = n;
	t->bkt[b].head = n;
}

/* Slot n out of its bucket (the bucket stays, maybe empty). */
static void slot_pull(struct doctor_ep *t, uint16_t n)
{
	struct ep_link *l = &t->link[n];

	if (l->prev == EP_NIL)
		t->bkt[l->bucket].head = l->next;
	else
		t->link[l->prev].next = l->next;
	if (l->next != EP_NIL)
		t->link[l->next].prev = l->prev;
}

/* The count of slot n (in a bucket) grew by one, to c. */
static void bucket_bump(struct doctor_ep *t, uint16_t n, uint64_t c)
{
	uint16_t b = t->link[n].bucket, nb = t->bkt[b].next;
	bool alone = t->bkt[b].head == n && t->link[n].next == EP_NIL;

	if (nb != EP_NIL && t->bkt[nb].count == c) {
		slot_pull(t, n);
		if (alone)
			bucket_del(t, b);
		slot_push(t, n, nb);
	} else if (alone) {
		t->bkt[b].count = c; /* still below the next bucket's */
	} else {
		slot_pull(t, n);
		slot_push(t, n, bucket_add(t, b, c));
	}
}

/* A new slot n with count c: into the bucket of c, found from the first
 * (a new slot has count 1; halved counts go down to 0, so at most the
 * buckets of 0 and 1 come before it). */
static void bucket_insert(struct doctor_ep *t, uint16_t n, uint64_t c)
{
	uint16_t prev = EP_NIL, b = t->bmin;

	while (b != EP_NIL && t->bkt[b].count < c) {
		prev = b;
		b = t->bkt[b].next;
	}
	if (b == EP_NIL || t->bkt[b].count != c)
		b = bucket_add(t, prev, c);
	slot_push(t, n, b);
}

static bool key_eq(const struct ep_slot *s, uint64_t h, struct sip_str aor)
{
	size_t n = aor.len < DOCTOR_EP_AOR_MAX ? aor.len : DOCTOR_EP_AOR_MAX;

	return s->hash == h && s->aorlen == n && memcmp(s->aor, aor.p, n) == 0;
}

/* Removes slot s from the index (backward-shift deletion). */
static void index_del(struct doctor_ep *t, unsigned s)
{
	size_t i = t->slots[s].hash & t->mask, j;

	while (t->index[i] != s + 1)
		i = (i + 1) & t->mask;
	for (j = i;;) {
		size_t home;

		j = (j + 1) & t->mask;
		if (!t->index[j])
			break;
		home = t->slots[t->index[j] - 1].hash & t->mask;
		/* the entry at j may move to i when its home is not in (i, j] */
		if (i <= j ? (home <= i || home > j) : (home <= i && home > j)) {
			t->index[i] = t->index[j];
			i = j;
		}
	}
	t->index[i] = 0;
}

static void halve(struct doctor_ep *t)
{
	uint16_t prev = EP_NIL;

	for (unsigned i = 0; i < t->used; i++) {
		struct ep_slot *s = &t->slots[i];

		wbegin(s);
		s->count /= 2;
		s->err /= 2;
		wend(s);
	}
	/* the order stays; neighbours whose halves are equal merge */
	for (uint16_t b = t->bmin, next; b != EP_NIL; b = next) {
		next = t->bkt[b].next;
		t->bkt[b].count /= 2;
		if (prev != EP_NIL && t->bkt[prev].count == t->bkt[b].count) {
			while (t->bkt[b].head != EP_NIL) {
				uint16_t n = t->bkt[b].head;

				slot_pull(t, n);
				slot_push(t, n, prev);
			}
			bucket_del(t, b);
		} else {
			prev = b;
		}
	}
}

static void note_src(struct ep_slot *s, const struct sockaddr *sa)
{
	s->family = 0;
	s->port = 0;
	if (!sa)
		return;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *a = (const void *)sa;

		s->family = AF_INET;
		memcpy(s->addr, &a->sin_addr, 4);
		s->port = ntohs(a->sin_port);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const void *)sa;

		s->family = AF_INET6;
		memcpy(s->addr, &a->sin6_addr, 16);
		s->port = ntohs(a->sin6_port);
	}
}

int doctor_ep_feed(struct doctor_ep *t, const struct doctor_ep_reg *r)
{
	struct ep_slot *s;
	uint64_t h;
	size_t i;
	unsigned n;

	if (!t || !r || !r->aor.p || !r->aor.len || !r->granted)
		return -EINVAL;
	if (!t->started) {
		t->started = true;
		t->epoch_ms = r->now_ms;
	} else if (r->now_ms - t->epoch_ms >= DOCTOR_EP_DECAY_MS &&
	           r->now_ms > t->epoch_ms) {
		halve(t);
		t->epoch_ms = r->now_ms;
	}
	h = aor_hash(r->aor);
	for (i = h & t->mask; t->index[i]; i = (i + 1) & t->mask) {
		n = t->index[i] - 1u;
		s = &t->slots[n];
		if (!key_eq(s, h, r->aor))
			continue;
		uint64_t gap = r->now_ms > s->last_ms ? r->now_ms - s->last_ms : 0;

		if (gap > UINT32_MAX)
			gap = UINT32_MAX;
		wbegin(s);
		s->count++;
		s->regs++;
		s->ival_ms = s->regs == 2
		                     ? (uint32_t)gap
		                     : (uint32_t)(((uint64_t)s->ival_ms * 3 + gap) / 4);
		s->last_ms = r->now_ms;
		s->asked = r->asked;
		s->granted = r->granted;
		s->bindings = r->bindings ? r->bindings : 1;
		s->nat = r->nat;
		note_src(s, r->src);
		wend(s);
		bucket_bump(t, (uint16_t)n, s->count);
		goto out;
	}
	uint64_t inherit = 0;
	bool fresh = t->used < t->k;

	if (fresh) {
		n = t->used++;
	} else {
		n = t->bkt[t->bmin].head; /* any of the smallest counts */
		inherit = t->slots[n].count;
		index_del(t, n);
		for (i = h & t->mask; t->index[i]; i = (i + 1) & t->mask)
			;
	}
	s = &t->slots[n];
	wbegin(s);
	s->hash = h;
	s->count = inherit + 1;
	s->err = inherit;
	s->regs = 1;
	s->first_ms = s->last_ms = r->now_ms;
	s->ival_ms = 0;
	s->asked = r->asked;
	s->granted = r->granted;
	s->bindings = r->bindings ? r->bindings : 1;
	s->nat = r->nat;
	note_src(s, r->src);
	s->aorlen = (uint8_t)(r->aor.len < DOCTOR_EP_AOR_MAX ? r->aor.len
	                                                     : DOCTOR_EP_AOR_MAX);
	memcpy(s->aor, r->aor.p, s->aorlen);
	wend(s);
	t->index[i] = (uint16_t)(n + 1);
	if (fresh)
		bucket_insert(t, (uint16_t)n, s->count);
	else
		bucket_bump(t, (uint16_t)n, s->count); /* inherit + 1 */
out:
	__atomic_store_n(&t->fed, t->fed + 1, __ATOMIC_RELAXED);
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Reading: copies under the slots' sequence counters, merged by AOR         */

/* A consistent copy of slot s into c; false when the slot is free or kept
 * changing (the writer is hot on it: skipped this time). */
static bool slot_copy(const struct ep_slot *s, struct ep_slot *c)
{
	for (unsigned tries = 0; tries < 1000; tries++) {
		uint32_t a = __atomic_load_n(&s->seq, __ATOMIC_ACQUIRE), b;

		if (a & 1)
			continue;
		memcpy(c, (const void *)s, sizeof(*c));
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		b = __atomic_load_n(&s->seq, __ATOMIC_RELAXED);
		if (a == b)
			return c->regs > 0;
	}
	return false;
}

static void stat_from(struct doctor_ep_stat *o, const struct ep_slot *c)
{
	memset(o, 0, sizeof(*o));
	o->hash = c->hash;
	memcpy(o->aor, c->aor, c->aorlen);
	o->aor[c->aorlen] = '\0';
	o->count = c->count;
	o->err = c->err;
	o->regs = c->regs;
	o->first_ms = c->first_ms;
	o->last_ms = c->last_ms;
	o->interval_ms = c->ival_ms;
	o->asked = c->asked;
	o->granted = c->granted;
	o->bindings = c->bindings ? c->bindings : 1;
	o->nat = c->nat != 0;
	if (c->family == AF_INET6) {
		char a[INET6_ADDRSTRLEN];

		inet_ntop(AF_INET6, c->addr, a, sizeof(a));
		snprintf(o->src, sizeof(o->src), "[%s]:%u", a, c->port);
	} else if (c->family == AF_INET) {
		snprintf(o->src, sizeof(o->src), "%u.%u.%u.%u:%u", c->addr[0], c->addr[1],
		         c->addr[2], c->addr[3], c->port);
	}
}

static int stat_cmp(const void *pa, const void *pb)
{
	const struct doctor_ep_stat *a = pa, *b = pb;

	if (a->hash != b->hash)
		return a->hash < b->hash ? -1 : 1;
	return strcmp(a->aor, b->aor);
}

/* b seen by another worker: one AOR's view from both. */
static void stat_merge(struct doctor_ep_stat *a, const struct doctor_ep_stat *b)
{
	if (b->last_ms > a->last_ms) {
		a->last_ms = b->last_ms;
		a->asked = b->asked;
		a->granted = b->granted;
		a->bindings = b->bindings;
		a->nat = b->nat;
		memcpy(a->src, b->src, sizeof(a->src));
	}
	if (b->first_ms < a->first_ms)
		a->first_ms = b->first_ms;
	a->count += b->count;
	a->err += b->err;
	a->regs += b->regs;
	/* the two streams interleave in any proportion: the interval is the
	 * merged span's average (each worker's running one is of its share) */
	if (a->last_ms > a->first_ms && a->regs > 1) {
		uint64_t iv = (a->last_ms - a->first_ms) / (a->regs - 1);

		a->interval_ms = iv > UINT32_MAX ? UINT32_MAX : (uint32_t)iv;
	}
}

int doctor_ep_merge(struct doctor_ep *const *t, size_t nt, struct doctor_ep_stat **out,
                    size_t *nout)
{
	struct doctor_ep_stat *s;
	struct ep_slot c;
	size_t cap = 0, n = 0, w = 0;

	if (!out || !nout || (!t && nt))
		return -EINVAL;
	for (size_t i = 0; i < nt; i++)
		cap += t[i] ? t[i]->k : 0;
	s = malloc((cap ? cap : 1) * sizeof(*s));
	if (!s)
		return -ENOMEM;
	for (size_t i = 0; i < nt; i++)
		for (unsigned j = 0; t[i] && j < t[i]->k; j++)
			if (slot_copy(&t[i]->slots[j], &c))
				stat_from(&s[n++], &c);
	if (n > 1)
		qsort(s, n, sizeof(*s), stat_cmp);
	for (size_t i = 0; i < n; i++) {
		if (w && stat_cmp(&s[w - 1], &s[i]) == 0)
			stat_merge(&s[w - 1], &s[i]);
		else if (w++ != i)
			s[w - 1] = s[i];
	}
	*out = s;
	*nout = w;
	return 0;
}

/* ------------------------------------------------------------------------ */
/* The daemon's trackers: one per thread that feeds, made on its first feed  */

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct doctor_ep *reg_t[DOCTOR_EP_THREADS];
static bool reg_owned[DOCTOR_EP_THREADS];
static size_t reg_n;
static uint64_t reg_lost; /* feeds without a tracker (threads beyond the cap, ENOMEM) */
static pthread_key_t reg_key;
static pthread_once_t reg_once = PTHREAD_ONCE_INIT;
static bool reg_key_ok;
static __thread struct doctor_ep *my_t;
static __thread bool my_failed;

/* A thread ends: its tracker (and what it saw) goes to the next thread. */
static void reg_release(void *p)
{
	size_t i = (size_t)(uintptr_t)p - 1;

	pthread_mutex_lock(&reg_lock);
	if (i < DOCTOR_EP_THREADS)
		reg_owned[i] = false;
	pthread_mutex_unlock(&reg_lock);
}

static void reg_init(void)
{
	reg_key_ok = pthread_key_create(&reg_key, reg_release) == 0;
}

static struct doctor_ep *reg_attach(void)
{
	size_t i;

	pthread_once(&reg_once, reg_init);
	pthread_mutex_lock(&reg_lock);
	for (i = 0; i < reg_n && reg_owned[i]; i++)
		;
	if (i == reg_n &&
	    (i == DOCTOR_EP_THREADS || doctor_ep_new(&reg_t[i], DOCTOR_EP_K) < 0))
		i = DOCTOR_EP_THREADS;
	else if (i == reg_n)
		reg_n++;
	if (i < DOCTOR_EP_THREADS) {
		reg_owned[i] = true;
		my_t = reg_t[i];
	}
	pthread_mutex_unlock(&reg_lock);
	if (!my_t) {
		my_failed = true;
		return NULL;
	}
	if (reg_key_ok)
		pthread_setspecific(reg_key, (void *)(uintptr_t)(i + 1));
	return my_t;
}

void doctor_ep_note(const struct doctor_ep_reg *r)
{
	struct doctor_ep *t = my_t;

	if (sip_unlikely(!t)) {
		if (my_failed || !(t = reg_attach())) {
			__atomic_fetch_add(&reg_lost, 1, __ATOMIC_RELAXED);
			return;
		}
	}
	doctor_ep_feed(t, r);
}

void doctor_ep_note_register(struct sip_str aor, const struct sip_msg *m,
                             const struct sip_contact *ct, const struct loc_contact *lc,
                             size_t n, size_t bindings, bool nat,
                             const struct sockaddr *src, uint64_t now_ms)
{
	struct doctor_ep_reg r = {.aor = aor,
	                          .nat = nat,
	                          .bindings = bindings > UINT32_MAX ? UINT32_MAX
	                                                            : (uint32_t)bindings,
	                          .src = src,
	                          .now_ms = now_ms};
	size_t best = n;

	/* the shortest expiry granted drives the endpoint's refreshes */
	for (size_t i = 0; i < n; i++)
		if (lc[i].expires && (best == n || lc[i].expires < lc[best].expires))
			best = i;
	if (best == n)
		return; /* a removal or a query: not a refresh */
	r.granted = lc[best].expires;
	if (ct[best].has_expires) {
		r.asked = ct[best].expires;
	} else {
		struct sip_err err;
		uint32_t v = 0;
		int k = sip_msg_u32(m, SIP_HDR_EXPIRES, &v, &err);

		r.asked = k == 0 ? v : k == -ERANGE ? UINT32_MAX : 0;
	}
	doctor_ep_note(&r);
}

int doctor_ep_collect(struct doctor_ep_stat **out, size_t *nout)
{
	struct doctor_ep *t[DOCTOR_EP_THREADS];
	size_t n;

	pthread_mutex_lock(&reg_lock);
	n = reg_n;
	memcpy(t, reg_t, n * sizeof(*t));
	pthread_mutex_unlock(&reg_lock);
	return doctor_ep_merge(t, n, out, nout);
}

uint64_t doctor_ep_lost(void)
{
	return __atomic_load_n(&reg_lost, __ATOMIC_RELAXED);
}

/* ------------------------------------------------------------------------ */
/* The finding                                                               */

/* "12.5 s" / "850 ms". */
static const char *dur(char *buf, size_t cap, uint64_t ms)
{
	if (ms >= 10000)
		snprintf(buf, cap, "%llu s", (unsigned long long)(ms / 1000));
	else if (ms >= 1000)
		snprintf(buf, cap, "%.1f s", ms / 1000.0);
	else
		snprintf(buf, cap, "%llu ms", (unsigned long long)ms);
	return buf;
}

static const char *utc_at(char *buf, size_t cap, time_t now_wall, uint64_t now_ms,
                          uint64_t at)
{
	time_t t = now_wall - (time_t)((now_ms > at ? now_ms - at : 0) / 1000);
	struct tm tm;

	if (!gmtime_r(&t, &tm) || strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, cap, "?");
	return buf;
}

bool doctor_ep_flooding(const struct doctor_ep_stat *s,
                        const struct doctor_registrar *reg, uint64_t now_ms,
                        unsigned *why)
{
	uint64_t iv = s->interval_ms, per = iv * (s->bindings ? s->bindings : 1);
	unsigned w = 0;

	(void)reg;
	if (s->regs < DOCTOR_EP_MIN_REGS || !s->granted || !iv)
		return false;
	/* still at it: its last REGISTER within two intervals and a minute */
	if (now_ms > s->last_ms && now_ms - s->last_ms > 2 * iv + 60000)
		return false;
	/* each of its bindings (devices) refreshes on its own */
	if (per * DOCTOR_EP_RATIO < (uint64_t)s->granted * 1000)
		w |= DOCTOR_EP_TOO_OFTEN;
	if (s->asked && s->asked < DOCTOR_FLOOD_EXPIRE)
		w |= DOCTOR_EP_SHORT_ASK;
	if (s->granted < DOCTOR_FLOOD_EXPIRE && (!s->asked || s->granted < s->asked))
		w |= DOCTOR_EP_SERVER_SHORT;
	if (why)
		*why = w;
	return w != 0;
}

static void ep_finding(struct doctor_finding *f, const struct doctor_ep_stat *s,
                       const struct doctor_registrar *reg, uint64_t now_ms,
                       time_t now_wall, unsigned why)
{
	char t1[32], t2[32], ask[24], iv[24], mean[24], half[24];
	uint64_t span = s->last_ms - s->first_ms;
	uint64_t avg = s->regs > 1 ? span / (s->regs - 1) : 0;
	unsigned nat_expire = reg ? reg->nat_expire : 0;
	bool server_nat = (why & DOCTOR_EP_SERVER_SHORT) && s->nat && nat_expire &&
	                  s->granted == nat_expire;
	size_t n;

	memset(f, 0, sizeof(*f));
	f->kind = DOCTOR_ENDPOINT_FLOODING;
	f->severity =
	        s->interval_ms < DOCTOR_EP_CRITICAL_MS ? DOCTOR_CRITICAL : DOCTOR_WARNING;
	f->subject_type = DOCTOR_SUBJECT_ENDPOINT;
	snprintf(f->subject, sizeof(f->subject), "%s", s->aor);
	n = (size_t)snprintf(
	        f->evidence, sizeof(f->evidence),
	        "%u REGISTERs answered 200 between %s and %s (from %s%s), one about "
	        "every %s "
	        "lately (%s on average); it asked for %s and was granted %u s, so one "
	        "every "
	        "%s would do",
	        s->regs, utc_at(t1, sizeof(t1), now_wall, now_ms, s->first_ms),
	        utc_at(t2, sizeof(t2), now_wall, now_ms, s->last_ms),
	        s->src[0] ? s->src : "?", s->nat ? ", behind NAT" : "",
	        dur(iv, sizeof(iv), s->interval_ms), dur(mean, sizeof(mean), avg),
	        s->asked == 0 ? "no expiry (the default)"
	        : s->asked == UINT32_MAX
	                ? "the maximum"
	                : (snprintf(ask, sizeof(ask), "%u s", s->asked), ask),
	        s->granted, dur(half, sizeof(half), (uint64_t)s->granted * 500));
	if (n < sizeof(f->evidence) && (why & DOCTOR_EP_TOO_OFTEN))
		n += (size_t)snprintf(
		        f->evidence + n, sizeof(f->evidence) - n,
		        "; it refreshes %llu times more often than needed",
		        (unsigned long long)((uint64_t)s->granted * 500 /
		                             ((uint64_t)(s->interval_ms ? s->interval_ms
		                                                        : 1) *
		                              (s->bindings ? s->bindings : 1))));
	if (n < sizeof(f->evidence) && s->bindings > 1)
		n += (size_t)snprintf(
		        f->evidence + n, sizeof(f->evidence) - n,
		        " (counted per binding: the AOR has %u, one REGISTER each "
		        "about every %s)",
		        s->bindings,
		        dur(iv, sizeof(iv), (uint64_t)s->interval_ms * s->bindings));
	if (n < sizeof(f->evidence) && (why & DOCTOR_EP_SHORT_ASK))
		n += (size_t)snprintf(f->evidence + n, sizeof(f->evidence) - n,
		                      "; it asks for %u s, near the %u s minimum",
		                      s->asked, reg ? reg->min_expire : 0);
	if (n < sizeof(f->evidence) && server_nat)
		snprintf(f->evidence + n, sizeof(f->evidence) - n,
		         "; the %u s is our SS_ENDPOINT_NAT_EXPIRE", nat_expire);
	else if (n < sizeof(f->evidence) && (why & DOCTOR_EP_SERVER_SHORT))
		snprintf(f->evidence + n, sizeof(f->evidence) - n,
		         "; the %u s is our maximum for it (SS_ENDPOINT_EXPIRE)",
		         s->granted);
	if (why & (DOCTOR_EP_TOO_OFTEN | DOCTOR_EP_SHORT_ASK)) {
		snprintf(f->setting, sizeof(f->setting),
		         "the phone's registration interval / expiry");
		snprintf(f->advice, sizeof(f->advice),
		         "configure the phone of %s (provisioning template or its web "
		         "page): "
		         "registration expiry 300-3600 s (120-300 s behind NAT), and no "
		         "separate "
		         "\"registration interval\"/\"re-register every\" timer shorter "
		         "than "
		         "half of it; if it re-registers to keep a NAT binding open, use "
		         "its "
		         "keep-alive (CRLF or OPTIONS) instead%s",
		         s->aor,
		         server_nat ? "; and raise SS_ENDPOINT_NAT_EXPIRE (120) in "
		                      "[sip], then "
		                      "sipregctl reload"
		                    : "");
	} else if (server_nat) {
		snprintf(f->setting, sizeof(f->setting), "SS_ENDPOINT_NAT_EXPIRE");
		snprintf(f->advice, sizeof(f->advice),
		         "the endpoint follows the %u s we grant behind NAT: set "
		         "SS_ENDPOINT_NAT_EXPIRE = 120 (60-300) in [sip] and sipregctl "
		         "reload",
		         s->granted);
	} else {
		snprintf(f->setting, sizeof(f->setting), "SS_ENDPOINT_EXPIRE");
		snprintf(f->advice, sizeof(f->advice),
		         "the endpoint follows the %u s we grant: raise "
		         "SS_ENDPOINT_EXPIRE "
		         "(300-3600) in [sip] and sipregctl reload",
		         s->granted);
	}
	f->num[f->nnum].key = "registers";
	f->num[f->nnum++].value = s->regs;
	f->num[f->nnum].key = "interval_ms";
	f->num[f->nnum++].value = s->interval_ms;
	f->num[f->nnum].key = "mean_interval_ms";
	f->num[f->nnum++].value = (long long)avg;
	f->num[f->nnum].key = "asked_s";
	f->num[f->nnum++].value = s->asked == UINT32_MAX ? -1 : (long long)s->asked;
	f->num[f->nnum].key = "granted_s";
	f->num[f->nnum++].value = s->granted;
	f->num[f->nnum].key = "bindings";
	f->num[f->nnum++].value = s->bindings;
	f->num[f->nnum].key = "behind_nat";
	f->num[f->nnum++].value = s->nat;
	f->num[f->nnum].key = "first_seen";
	f->num[f->nnum++].value =
	        (long long)(now_wall - (time_t)((now_ms - s->first_ms) / 1000));
	f->num[f->nnum].key = "last_seen";
	f->num[f->nnum++].value =
	        (long long)(now_wall - (time_t)((now_ms - s->last_ms) / 1000));
}

int doctor_add_endpoints(struct doctor *d, const struct doctor_ep_stat *s, size_t n,
                         const struct doctor_registrar *reg, uint64_t now_ms,
                         time_t now_wall)
{
	struct doctor_finding f;
	unsigned why;

	if (!d || (!s && n))
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		int r;

		if (!doctor_ep_flooding(&s[i], reg, now_ms, &why))
			continue;
		ep_finding(&f, &s[i], reg, now_ms > s[i].last_ms ? now_ms : s[i].last_ms,
		           now_wall, why);
		r = doctor_add_finding(d, &f);
		if (r < 0)
			return r;
	}
	return 0;
}
