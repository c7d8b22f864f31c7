/* SPDX-License-Identifier: MIT */
/*
 * rhash.h - an RCU hash table of pointers with open addressing (private to
 * src/registrar/): the subscriber and location tables.
 *
 * Why not cds_lfht: a cds_lfht lookup walks a bucket index, a dummy node
 * and a chain of nodes, each one a cache miss with 100,000 keys, before the
 * key itself. Here the slots are one array of 64-bit words, each a pointer
 * to an item (low 48 bits) and 16 bits of its key's hash (high bits): a
 * lookup reads one cache line of slots (linear probing, load at most 0.7)
 * and dereferences only items whose 16-bit tag matches, so a hit costs the
 * slot line and the item, a miss almost always the slot line alone.
 *
 * Rules (the concurrency contract):
 *   - Readers: rhash_lookup and the iteration inside a urcu-qsbr read-side
 *     section, never blocking; an item returned stays valid until the
 *     reader's next quiescent state (writers free items with call_rcu).
 *   - Writers (put, replace, del) serialise on the table's mutex; they never
 *     move a live item to another slot, except a resize, which builds a new
 *     slot array, publishes it with rcu_assign_pointer and frees the old one
 *     with call_rcu: a reader still on the old array sees the table as it was
 *     just before the resize.
 *   - A deleted slot becomes a tombstone (probes continue past it); a put
 *     reuses the first tombstone of its probe sequence; a resize (when live
 *     items and tombstones pass 0.7 of the slots) drops them.
 *   - Items are any pointers below 2^48 (every Linux user-space address on
 *     x86-64 and arm64 without an explicit high mmap hint); the table never
 *     frees an item: the caller does, with call_rcu, after replace or del.
 *   - hash_of(item) gives an item's full hash (for resizes); it must be the
 *     hash the item was put with.
 *
 * Threads: every function but _new and _free from registered urcu-qsbr
 * threads; writers may hold other locks (the location's stripe locks are
 * taken before the table's mutex, never after).
 */
#ifndef SIPREG_RHASH_H
#define SIPREG_RHASH_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <urcu/urcu-qsbr.h>
#include <urcu/system.h>

#define RHASH_TOMB ((uint64_t)1)
#define RHASH_PTR_BITS 48
#define RHASH_PTR_MASK ((UINT64_C(1) << RHASH_PTR_BITS) - 1)

typedef bool (*rhash_match_fn)(const void *item, const void *key);
typedef uint64_t (*rhash_hash_fn)(const void *item);

struct rhash_tab {
	struct rcu_head rcu;
	size_t mask; /* slots - 1, a power of two minus one */
	size_t map_len; /* mapped on its own (huge pages), this long; 0: malloc'd */
	uint64_t slot[];
};

struct rhash {
	struct rhash_tab *tab; /* rcu */
	pthread_mutex_t lock;  /* writers */
	rhash_hash_fn hash_of;
	size_t live;           /* items; atomic read, written under lock */
	size_t used;           /* items and tombstones, under lock */
};

/* hint: the number of items expected (the table starts big enough for it,
 * at least 64 slots). Returns 0 or -ENOMEM. */
int rhash_new(struct rhash **ret, size_t hint, rhash_hash_fn hash_of);
/* Frees the slot arrays, not the items; no other thread uses the table. */
void rhash_free(struct rhash *h);

static inline uint64_t rhash_tag(uint64_t hash)
{
	return hash >> RHASH_PTR_BITS;
}

/* Inside a read-side section: the item whose key matches, or NULL. */
static inline void *rhash_lookup(struct rhash *h, uint64_t hash, rhash_match_fn match,
				 const void *key)
{
	struct rhash_tab *t = rcu_dereference(h->tab);
	uint64_t tag = rhash_tag(hash);
	size_t i = (size_t)hash & t->mask;

	for (size_t n = 0; n <= t->mask; n++, i = (i + 1) & t->mask) {
		uint64_t s = CMM_LOAD_SHARED(t->slot[i]);
		if (s == 0)
			return NULL;
		if ((s >> RHASH_PTR_BITS) == tag && s != RHASH_TOMB) {
			void *item = (void *)(uintptr_t)(s & RHASH_PTR_MASK);
			cmm_smp_read_barrier_depends();
			if (match(item, key))
				return item;
		}
	}
	return NULL;
}

/*
 * Inside a read-side section, a hint with no effect on any result: starts
 * loading the line of slots a lookup of hash reads (item false), or, once
 * that line is there, the first item whose tag matches (item true). A
 * caller issues the first early and the second a little later, and the
 * lookup itself finds both in the cache.
 */
static inline void rhash_prefetch(struct rhash *h, uint64_t hash, bool item)
{
	struct rhash_tab *t = rcu_dereference(h->tab);
	size_t i = (size_t)hash & t->mask;

	if (!item) {
		__builtin_prefetch(&t->slot[i]);
		return;
	}
	for (size_t n = 0; n < 8 && n <= t->mask; n++, i = (i + 1) & t->mask) {
		uint64_t s = CMM_LOAD_SHARED(t->slot[i]);
		if (s == 0)
			return;
		if ((s >> RHASH_PTR_BITS) == rhash_tag(hash) && s != RHASH_TOMB) {
			__builtin_prefetch((const void *)(uintptr_t)(s & RHASH_PTR_MASK));
			return;
		}
	}
}

/*
 * Insert item, or replace the item whose key matches (its slot keeps the
 * new one). *old receives the replaced item or NULL. Returns 0, -ENOMEM
 * (the table was full and could not grow; nothing changed), -EOVERFLOW
 * (an address over 48 bits).
 */
int rhash_put(struct rhash *h, uint64_t hash, void *item, rhash_match_fn match,
	      const void *key, void **old);
/* Grows the table now, if needed, so that n items fit without a resize
 * later (a resize holds the writers for the whole rehash: about 50 ms at
 * 734,000 items on this machine). Returns 0 or -ENOMEM (nothing changed). */
int rhash_reserve(struct rhash *h, size_t n);
/* Replace old (by identity) with item, same key. 0 or -ENOENT. */
int rhash_replace(struct rhash *h, uint64_t hash, void *old, void *item);
/* Delete item (by identity). 0 or -ENOENT. */
int rhash_del(struct rhash *h, uint64_t hash, void *item);
/* Delete and return the item whose key matches, or NULL. */
void *rhash_del_key(struct rhash *h, uint64_t hash, rhash_match_fn match, const void *key);
/* Items in the table (a relaxed read). */
size_t rhash_count(struct rhash *h);
/* Slots in the current array (for tests and statistics). */
size_t rhash_slots(struct rhash *h);

/*
 * Iteration over one snapshot of the slots, inside a read-side section:
 *   struct rhash_iter it;
 *   for (void *p = rhash_first(h, &it); p; p = rhash_next(&it)) ...
 * Items put, replaced or deleted meanwhile may or may not be seen; an item
 * is never seen twice.
 */
struct rhash_iter {
	struct rhash_tab *t;
	size_t i;
};

void *rhash_next(struct rhash_iter *it);

static inline void *rhash_first(struct rhash *h, struct rhash_iter *it)
{
	it->t = rcu_dereference(h->tab);
	it->i = 0;
	return rhash_next(it);
}

#endif /* SIPREG_RHASH_H */
