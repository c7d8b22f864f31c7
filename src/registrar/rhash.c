/* SPDX-License-Identifier: MIT */
/* rhash.c - the RCU open-addressing table (see rhash.h for the rules). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <urcu/uatomic.h>

#include "rhash.h"
#include "sipreg/hugemem.h"

#define MIN_SLOTS 64

/*
 * A slot array of 2 MiB or more is mapped on its own with transparent huge
 * pages asked for (hugemem.h): a lookup's slot then costs no page walk (with
 * 100,000 subscribers the two tables' slot loads were 2.8 % of sipregd's
 * samples, most of them after a TLB miss). Smaller arrays come from calloc.
 */
static struct rhash_tab *tab_new(size_t slots)
{
	struct rhash_tab *t;
	size_t map_len;

	if (slots > (SIZE_MAX - sizeof(*t) - 2 * HUGEMEM_MIN) / sizeof(uint64_t))
		return NULL;
	t = hugemem_alloc(sizeof(*t) + slots * sizeof(uint64_t), &map_len);
	if (t) {
		t->mask = slots - 1;
		t->map_len = map_len;
	}
	return t;
}

static void tab_free(struct rhash_tab *t)
{
	if (t)
		hugemem_free(t, t->map_len);
}

/* Slots for n items at a load of at most one half. */
static size_t slots_for(size_t n)
{
	size_t s = MIN_SLOTS;

	while (s / 2 < n && s < SIZE_MAX / 4)
		s *= 2;
	return s;
}

/* Grown before the live items and tombstones pass 0.7 of the slots. */
static bool too_full(size_t used, size_t slots)
{
	return used * 10 > slots * 7;
}

int rhash_new(struct rhash **ret, size_t hint, rhash_hash_fn hash_of)
{
	struct rhash *h = calloc(1, sizeof(*h));

	if (!h)
		return -ENOMEM;
	h->tab = tab_new(slots_for(hint));
	if (!h->tab) {
		free(h);
		return -ENOMEM;
	}
	h->hash_of = hash_of;
	pthread_mutex_init(&h->lock, NULL);
	*ret = h;
	return 0;
}

void rhash_free(struct rhash *h)
{
	if (!h)
		return;
	tab_free(h->tab);
	pthread_mutex_destroy(&h->lock);
	free(h);
}

static void tab_free_rcu(struct rcu_head *head)
{
	tab_free(caa_container_of(head, struct rhash_tab, rcu));
}

static uint64_t slot_of(uint64_t hash, void *item)
{
	return rhash_tag(hash) << RHASH_PTR_BITS | (uint64_t)(uintptr_t)item;
}

/* Under the lock: a new array holding the live items only, with room for
 * want items at a load of at most one half. */
static int resize_to(struct rhash *h, size_t want)
{
	struct rhash_tab *old = h->tab, *t = tab_new(slots_for(want > h->live ? want : h->live + 1));

	if (!t)
		return -ENOMEM;
	for (size_t i = 0; i <= old->mask; i++) {
		uint64_t s = old->slot[i], hash;
		size_t k;
		if (s == 0 || s == RHASH_TOMB)
			continue;
		hash = h->hash_of((void *)(uintptr_t)(s & RHASH_PTR_MASK));
		for (k = (size_t)hash & t->mask; t->slot[k]; k = (k + 1) & t->mask)
			;
		t->slot[k] = s;
	}
	h->used = h->live;
	rcu_assign_pointer(h->tab, t);
	urcu_qsbr_call_rcu(&old->rcu, tab_free_rcu);
	return 0;
}

static int resize(struct rhash *h)
{
	return resize_to(h, h->live + 1);
}

int rhash_reserve(struct rhash *h, size_t n)
{
	int r = 0;

	pthread_mutex_lock(&h->lock);
	if (too_full(n > h->used ? n : h->used, h->tab->mask + 1))
		r = resize_to(h, n);
	pthread_mutex_unlock(&h->lock);
	return r;
}

/* Under the lock: the slot holding the item that want() accepts, or the
 * first free one of the probe sequence in *free_at (SIZE_MAX: none). */
static size_t find(struct rhash_tab *t, uint64_t hash, rhash_match_fn match, const void *key,
		   const void *identity, size_t *free_at)
{
	uint64_t tag = rhash_tag(hash);
	size_t i = (size_t)hash & t->mask;

	*free_at = SIZE_MAX;
	for (size_t n = 0; n <= t->mask; n++, i = (i + 1) & t->mask) {
		uint64_t s = t->slot[i];
		void *item = (void *)(uintptr_t)(s & RHASH_PTR_MASK);
		if (s == 0 || s == RHASH_TOMB) {
			if (*free_at == SIZE_MAX)
				*free_at = i;
			if (s == 0)
				break;
			continue;
		}
		if ((s >> RHASH_PTR_BITS) != tag)
			continue;
		if (identity ? item == identity : match(item, key))
			return i;
	}
	return SIZE_MAX;
}

static void publish(struct rhash_tab *t, size_t i, uint64_t v)
{
	/* the item's fields before the slot that makes it reachable */
	cmm_smp_wmb();
	CMM_STORE_SHARED(t->slot[i], v);
}

int rhash_put(struct rhash *h, uint64_t hash, void *item, rhash_match_fn match,
	      const void *key, void **old)
{
	struct rhash_tab *t;
	size_t i, free_at;
	int r = 0;

	if ((uint64_t)(uintptr_t)item > RHASH_PTR_MASK || !item)
		return -EOVERFLOW;
	pthread_mutex_lock(&h->lock);
	t = h->tab;
	i = find(t, hash, match, key, NULL, &free_at);
	if (i != SIZE_MAX) {
		*old = (void *)(uintptr_t)(t->slot[i] & RHASH_PTR_MASK);
		publish(t, i, slot_of(hash, item));
		goto out;
	}
	*old = NULL;
	/* a new item into an empty slot raises the load; into a tombstone not */
	if (free_at == SIZE_MAX || (t->slot[free_at] == 0 && too_full(h->used + 1, t->mask + 1))) {
		r = resize(h);
		if (r < 0 && free_at == SIZE_MAX)
			goto out;
		if (r == 0) {
			t = h->tab;
			find(t, hash, match, key, NULL, &free_at);
		}
		r = 0; /* could not grow, but a slot is left: use it */
	}
	if (t->slot[free_at] == 0)
		h->used++;
	publish(t, free_at, slot_of(hash, item));
	uatomic_set(&h->live, h->live + 1);
out:
	pthread_mutex_unlock(&h->lock);
	return r;
}

int rhash_replace(struct rhash *h, uint64_t hash, void *old, void *item)
{
	size_t i, free_at;
	int r = -ENOENT;

	if ((uint64_t)(uintptr_t)item > RHASH_PTR_MASK || !item)
		return -EOVERFLOW;
	pthread_mutex_lock(&h->lock);
	i = find(h->tab, hash, NULL, NULL, old, &free_at);
	if (i != SIZE_MAX) {
		publish(h->tab, i, slot_of(hash, item));
		r = 0;
	}
	pthread_mutex_unlock(&h->lock);
	return r;
}

/* Under the lock. */
static void del_at(struct rhash *h, size_t i)
{
	CMM_STORE_SHARED(h->tab->slot[i], RHASH_TOMB);
	uatomic_set(&h->live, h->live - 1);
}

int rhash_del(struct rhash *h, uint64_t hash, void *item)
{
	size_t i, free_at;
	int r = -ENOENT;

	pthread_mutex_lock(&h->lock);
	i = find(h->tab, hash, NULL, NULL, item, &free_at);
	if (i != SIZE_MAX) {
		del_at(h, i);
		r = 0;
	}
	pthread_mutex_unlock(&h->lock);
	return r;
}

void *rhash_del_key(struct rhash *h, uint64_t hash, rhash_match_fn match, const void *key)
{
	size_t i, free_at;
	void *item = NULL;

	pthread_mutex_lock(&h->lock);
	i = find(h->tab, hash, match, key, NULL, &free_at);
	if (i != SIZE_MAX) {
		item = (void *)(uintptr_t)(h->tab->slot[i] & RHASH_PTR_MASK);
		del_at(h, i);
	}
	pthread_mutex_unlock(&h->lock);
	return item;
}

size_t rhash_count(struct rhash *h)
{
	return uatomic_read(&h->live);
}

size_t rhash_slots(struct rhash *h)
{
	size_t n;

	urcu_qsbr_read_lock();
	n = rcu_dereference(h->tab)->mask + 1;
	urcu_qsbr_read_unlock();
	return n;
}

void *rhash_next(struct rhash_iter *it)
{
	while (it->i <= it->t->mask) {
		uint64_t s = CMM_LOAD_SHARED(it->t->slot[it->i++]);
		if (s != 0 && s != RHASH_TOMB) {
			cmm_smp_read_barrier_depends();
			return (void *)(uintptr_t)(s & RHASH_PTR_MASK);
		}
	}
	return NULL;
}
