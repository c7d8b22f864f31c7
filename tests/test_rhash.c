/* SPDX-License-Identifier: MIT */
/* test_rhash.c - the registrar's RCU open-addressing table (src/registrar/rhash.h). */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <urcu/uatomic.h>
#include <urcu/urcu-qsbr.h>

#include "../src/registrar/rhash.h"

struct item {
	struct rcu_head rcu;
	uint64_t hash;
	uint32_t key;
	uint32_t value;
	uint32_t dead; /* set just before the memory goes back */
};

static bool match(const void *item, const void *key)
{
	return ((const struct item *)item)->key == *(const uint32_t *)key;
}

static uint64_t hash_of(const void *item)
{
	return ((const struct item *)item)->hash;
}

/* A poor hash on purpose for some keys: collisions and long probe runs. */
static uint64_t key_hash(uint32_t key, bool collide)
{
	uint64_t x = key * UINT64_C(0x9E3779B97F4A7C15);

	x ^= x >> 29;
	if (collide)
		return (x & ~UINT64_C(0xffff)) | 7; /* same slot index, tags differ */
	return x;
}

static struct item *item_new(uint32_t key, uint32_t value, bool collide)
{
	struct item *it = calloc(1, sizeof(*it));

	cr_assert_not_null(it);
	it->key = key;
	it->value = value;
	it->hash = key_hash(key, collide);
	return it;
}

static void setup(void)
{
	urcu_qsbr_register_thread();
}

static void teardown(void)
{
	urcu_qsbr_unregister_thread();
}

static struct item *get(struct rhash *h, uint32_t key, bool collide)
{
	struct item *it;

	urcu_qsbr_read_lock();
	it = rhash_lookup(h, key_hash(key, collide), match, &key);
	urcu_qsbr_read_unlock();
	return it;
}

static void free_all(struct rhash *h)
{
	struct rhash_iter it;

	for (void *p = rhash_first(h, &it); p; p = rhash_next(&it))
		free(p);
	rhash_free(h);
	urcu_qsbr_barrier();
}

TestSuite(rhash, .init = setup, .fini = teardown);

Test(rhash, put_lookup_replace_delete)
{
	struct rhash *h;
	struct item *a = item_new(1, 10, false), *b = item_new(1, 11, false);
	struct item *c = item_new(2, 20, false);
	void *old;
	uint32_t k = 1;

	cr_assert_eq(rhash_new(&h, 0, hash_of), 0);
	cr_assert_null(get(h, 1, false));
	cr_assert_eq(rhash_put(h, a->hash, a, match, &a->key, &old), 0);
	cr_assert_null(old);
	cr_assert_eq(rhash_put(h, c->hash, c, match, &c->key, &old), 0);
	cr_assert_eq(get(h, 1, false), a);
	cr_assert_eq(get(h, 2, false), c);
	cr_assert_null(get(h, 3, false));
	cr_assert_eq(rhash_count(h), 2);

	/* put of an existing key replaces, by key */
	cr_assert_eq(rhash_put(h, b->hash, b, match, &b->key, &old), 0);
	cr_assert_eq(old, a);
	cr_assert_eq(get(h, 1, false), b);
	cr_assert_eq(rhash_count(h), 2);

	/* replace and del by identity: a is no longer in the table */
	cr_assert_eq(rhash_replace(h, a->hash, a, b), -ENOENT);
	cr_assert_eq(rhash_del(h, a->hash, a), -ENOENT);
	cr_assert_eq(rhash_replace(h, b->hash, b, a), 0);
	cr_assert_eq(get(h, 1, false), a);
	cr_assert_eq(rhash_del(h, a->hash, a), 0);
	cr_assert_null(get(h, 1, false));
	cr_assert_eq(rhash_count(h), 1);
	cr_assert_null(rhash_del_key(h, key_hash(1, false), match, &k));
	k = 2;
	cr_assert_eq(rhash_del_key(h, key_hash(2, false), match, &k), c);
	cr_assert_eq(rhash_count(h), 0);
	free(a);
	free(b);
	free(c);
	free_all(h);
}

Test(rhash, refuses_pointers_over_48_bits)
{
	struct rhash *h;
	void *old = (void *)1;
	uint32_t k = 9;
	void *high = (void *)(uintptr_t)(UINT64_C(1) << 50);

	cr_assert_eq(rhash_new(&h, 0, hash_of), 0);
	cr_assert_eq(rhash_put(h, 5, high, match, &k, &old), -EOVERFLOW);
	cr_assert_eq(rhash_put(h, 5, NULL, match, &k, &old), -EOVERFLOW);
	cr_assert_eq(rhash_count(h), 0);
	free_all(h);
}

/* Colliding keys probe past each other and past tombstones; a put reuses a
 * tombstone; every key stays reachable whatever was deleted before it. */
Test(rhash, collisions_and_tombstones)
{
	struct rhash *h;
	struct item *it[40];
	void *old;

	cr_assert_eq(rhash_new(&h, 0, hash_of), 0);
	for (uint32_t i = 0; i < 40; i++) {
		it[i] = item_new(i, i, true);
		cr_assert_eq(rhash_put(h, it[i]->hash, it[i], match, &it[i]->key, &old), 0);
	}
	for (uint32_t i = 0; i < 40; i += 2)
		cr_assert_eq(rhash_del(h, it[i]->hash, it[i]), 0);
	for (uint32_t i = 0; i < 40; i++)
		cr_assert_eq(get(h, i, true), i % 2 ? it[i] : NULL, "key %u", i);
	size_t slots = rhash_slots(h);
	for (uint32_t i = 0; i < 40; i += 2) {
		cr_assert_eq(rhash_put(h, it[i]->hash, it[i], match, &it[i]->key, &old), 0);
		cr_assert_null(old);
	}
	cr_assert_eq(rhash_slots(h), slots, "tombstones reused, no growth");
	for (uint32_t i = 0; i < 40; i++)
		cr_assert_eq(get(h, i, true), it[i], "key %u", i);
	cr_assert_eq(rhash_count(h), 40);
	free_all(h);
}

/* Growth: 100,000 items, each found, the load kept at most 0.7, the
 * iteration seeing each exactly once; deletes and re-puts churn tombstones
 * without growing the table without bound. */
Test(rhash, grows_and_iterates)
{
	enum { N = 100000 };
	struct rhash *h;
	struct rhash_iter iter;
	static uint8_t seen[N];
	void *old;
	size_t n = 0;

	cr_assert_eq(rhash_new(&h, 16, hash_of), 0);
	for (uint32_t i = 0; i < N; i++) {
		struct item *it = item_new(i, i, false);
		cr_assert_eq(rhash_put(h, it->hash, it, match, &it->key, &old), 0);
		if (i % 1024 == 0)
			urcu_qsbr_quiescent_state();
	}
	cr_assert_eq(rhash_count(h), N);
	cr_assert_geq(rhash_slots(h) * 7, (size_t)N * 10);
	for (uint32_t i = 0; i < N; i++)
		cr_assert_eq(get(h, i, false)->value, i);
	cr_assert_null(get(h, N + 1, false));
	urcu_qsbr_read_lock();
	for (struct item *it = rhash_first(h, &iter); it; it = rhash_next(&iter)) {
		cr_assert_lt(it->key, N);
		cr_assert_eq(seen[it->key], 0);
		seen[it->key] = 1;
		n++;
	}
	urcu_qsbr_read_unlock();
	cr_assert_eq(n, N);
	size_t slots = rhash_slots(h);
	for (int round = 0; round < 20; round++) {
		for (uint32_t i = 0; i < N / 10; i++) {
			uint32_t k = (uint32_t)round * 7919 + i * 10;
			struct item *it;
			k %= N;
			it = rhash_del_key(h, key_hash(k, false), match, &k);
			cr_assert_not_null(it);
			cr_assert_eq(rhash_put(h, it->hash, it, match, &it->key, &old), 0);
		}
		urcu_qsbr_quiescent_state();
	}
	cr_assert_leq(rhash_slots(h), slots * 2);
	for (uint32_t i = 0; i < N; i++)
		cr_assert_not_null(get(h, i, false));
	free_all(h);
}

/* Readers race a writer that replaces, deletes, re-inserts and grows: a
 * stable key is always found, an item found is never freed memory, and
 * its key is the one asked for. */
struct race {
	struct rhash *h;
	int stop;
	long lookups, bad;
};

enum { STABLE = 1000, CHURN = 20000 };

static void *reader(void *arg)
{
	struct race *r = arg;
	uint32_t x = 12345;
	long n = 0;

	urcu_qsbr_register_thread();
	while (!uatomic_read(&r->stop)) {
		for (int i = 0; i < 256; i++) {
			uint32_t k;
			struct item *it;
			x = x * 1103515245 + 12345;
			k = (x >> 8) % (STABLE + CHURN);
			urcu_qsbr_read_lock();
			it = rhash_lookup(r->h, key_hash(k, false), match, &k);
			if ((k < STABLE && !it) ||
			    (it && (it->key != k || uatomic_read(&it->dead))))
				uatomic_inc(&r->bad);
			urcu_qsbr_read_unlock();
			n++;
		}
		urcu_qsbr_quiescent_state();
	}
	uatomic_add(&r->lookups, n);
	urcu_qsbr_unregister_thread();
	return NULL;
}

static void item_free_rcu(struct rcu_head *head)
{
	struct item *it = caa_container_of(head, struct item, rcu);

	uatomic_set(&it->dead, 1);
	free(it);
}

Test(rhash, readers_race_writer)
{
	struct race r = {0};
	pthread_t th[2];
	void *old;

	cr_assert_eq(rhash_new(&r.h, 0, hash_of), 0);
	for (uint32_t i = 0; i < STABLE; i++) {
		struct item *it = item_new(i, 0, false);
		cr_assert_eq(rhash_put(r.h, it->hash, it, match, &it->key, &old), 0);
	}
	for (int i = 0; i < 2; i++)
		pthread_create(&th[i], NULL, reader, &r);
	for (uint32_t round = 0; round < 6; round++) {
		/* insert the churn keys (the table grows), replace every stable
		 * key, delete the churn keys again */
		for (uint32_t k = STABLE; k < STABLE + CHURN; k++) {
			struct item *it = item_new(k, round, false);
			cr_assert_eq(rhash_put(r.h, it->hash, it, match, &it->key, &old), 0);
			cr_assert_null(old);
		}
		for (uint32_t k = 0; k < STABLE; k++) {
			struct item *it = item_new(k, round, false);
			cr_assert_eq(rhash_put(r.h, it->hash, it, match, &it->key, &old), 0);
			cr_assert_not_null(old);
			urcu_qsbr_call_rcu(&((struct item *)old)->rcu, item_free_rcu);
		}
		urcu_qsbr_quiescent_state();
		for (uint32_t k = STABLE; k < STABLE + CHURN; k++) {
			struct item *it = rhash_del_key(r.h, key_hash(k, false), match, &k);
			cr_assert_not_null(it);
			urcu_qsbr_call_rcu(&it->rcu, item_free_rcu);
			if (k % 256 == 0)
				urcu_qsbr_quiescent_state();
		}
	}
	uatomic_set(&r.stop, 1);
	urcu_qsbr_thread_offline();
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	urcu_qsbr_thread_online();
	cr_assert_eq(uatomic_read(&r.bad), 0, "%ld bad lookups of %ld", r.bad, r.lookups);
	cr_assert_gt(r.lookups, 0);
	cr_assert_eq(rhash_count(r.h), STABLE);
	free_all(r.h);
}

/* A reserve grows the table once, now: the puts that follow never resize. */
Test(rhash, reserve_grows_once_up_front)
{
	enum { N = 50000 };
	struct rhash *h;
	void *old;
	size_t slots;

	cr_assert_eq(rhash_new(&h, 0, hash_of), 0);
	cr_assert_eq(rhash_slots(h), 64);
	cr_assert_eq(rhash_reserve(h, N), 0);
	slots = rhash_slots(h);
	cr_assert_geq(slots * 7, (size_t)N * 10, "%zu slots for %d", slots, N);
	cr_assert_eq(rhash_reserve(h, 10), 0, "a smaller reserve keeps the table");
	cr_assert_eq(rhash_slots(h), slots);
	for (uint32_t i = 0; i < N; i++) {
		struct item *it = item_new(i, i, false);
		cr_assert_eq(rhash_put(h, it->hash, it, match, &it->key, &old), 0);
		cr_assert_eq(rhash_slots(h), slots, "resized at item %u", i);
	}
	for (uint32_t i = 0; i < N; i++)
		cr_assert_eq(get(h, i, false)->value, i);
	/* reserving over live items keeps them all */
	cr_assert_eq(rhash_reserve(h, 4 * N), 0);
	cr_assert_gt(rhash_slots(h), slots);
	for (uint32_t i = 0; i < N; i++)
		cr_assert_eq(get(h, i, false)->value, i);
	cr_assert_eq(rhash_count(h), N);
	urcu_qsbr_quiescent_state();
	free_all(h);
}
