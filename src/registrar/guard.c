/* SPDX-License-Identifier: MIT */
/*
 * guard.c - retry/suspend counters in a cds_lfht (see guard.h for the rules).
 *
 * An entry's key is kind | family | address bytes | account bytes. Counters
 * are updated in place with uatomic_*: the failure that brings the count to
 * the limit (fetch-and-add returns exactly the limit for one thread) starts
 * the suspension and resets the count. Each entry carries a wheel timer on the
 * guard's own wheel, armed for the moment the entry stops mattering: the end
 * of its suspension, or suspend_s after its last failure. When it fires, the
 * entry is deleted (or re-armed if a failure came in between).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <urcu/urcu-qsbr.h>
#include <urcu/rculfhash.h>
#include <urcu/uatomic.h>

#include "sipreg/guard.h"
#include "sipreg/wheel.h"
#include "lfht_drain.h"

#define KEY_MAX (2 + 16 + GUARD_ACCOUNT_MAX)

struct guard_key {
	uint8_t b[KEY_MAX];
	size_t len;
};

struct guard_entry {
	struct cds_lfht_node node;
	struct rcu_head rcu;
	struct wheel_timer timer; /* under guard.lock */
	struct guard *g;
	uint64_t hash;
	uint64_t last_failure;    /* atomic */
	uint64_t suspended_until; /* atomic; 0 = not suspended */
	uint32_t failures;        /* atomic */
	bool dead;                /* under guard.lock: deleted, never re-arm */
	uint32_t key_len;
	uint8_t key[];
};

struct guard {
	struct cds_lfht *ht;
	uint8_t hkey[SIPHASH_KEY_LEN];
	struct guard_config cfg; /* fields read with uatomic_read */
	guard_event_cb ev;
	void *ev_arg;
	pthread_mutex_t lock; /* the wheel and the entries' timers */
	struct wheel *wheel;
	struct guard_stats st; /* atomic counters */
};

static int config_check(const struct guard_config *c)
{
	if (c->retry < 1 || c->retry > 100 || c->suspend_s < 10 || c->suspend_s > 86400 ||
	    c->address_retry < 3 || c->address_retry > 10000)
		return -EINVAL;
	return 0;
}

int guard_new(struct guard **ret, const struct guard_config *cfg,
	      const uint8_t key[SIPHASH_KEY_LEN], guard_event_cb ev, void *ev_arg)
{
	struct guard *g;
	int r = config_check(cfg);

	if (r)
		return r;
	g = calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	g->ht = cds_lfht_new_flavor(1024, 1024, 0, CDS_LFHT_AUTO_RESIZE | CDS_LFHT_ACCOUNTING,
				    &urcu_qsbr_flavor, NULL);
	if (!g->ht || wheel_new(&g->wheel, 0) < 0) {
		if (g->ht)
			cds_lfht_destroy(g->ht, NULL);
		free(g);
		return -ENOMEM;
	}
	memcpy(g->hkey, key, SIPHASH_KEY_LEN);
	g->cfg = *cfg;
	if (!g->cfg.max_entries)
		g->cfg.max_entries = GUARD_MAX_ENTRIES;
	g->ev = ev;
	g->ev_arg = ev_arg;
	pthread_mutex_init(&g->lock, NULL);
	*ret = g;
	return 0;
}

static void entry_release(struct cds_lfht_node *node)
{
	free(caa_container_of(node, struct guard_entry, node));
}

void guard_free(struct guard *g)
{
	if (!g)
		return;
	lfht_drain(g->ht, entry_release);
	wheel_free(g->wheel);
	pthread_mutex_destroy(&g->lock);
	free(g);
}

int guard_set_config(struct guard *g, const struct guard_config *cfg)
{
	int r = config_check(cfg);

	if (r)
		return r;
	uatomic_set(&g->cfg.retry, cfg->retry);
	uatomic_set(&g->cfg.suspend_s, cfg->suspend_s);
	uatomic_set(&g->cfg.address_retry, cfg->address_retry);
	if (cfg->max_entries)
		uatomic_set(&g->cfg.max_entries, cfg->max_entries);
	return 0;
}

/* Builds the key; an account longer than GUARD_ACCOUNT_MAX is cut (still one
 * key per long name prefix: counting, not identity, is what matters). */
static void make_key(struct guard_key *k, enum guard_kind kind, struct sip_str account,
		     const struct sockaddr *src)
{
	const struct sockaddr_in6 *s6 = (const void *)src;
	const struct sockaddr_in *s4 = (const void *)src;
	size_t n;

	k->b[0] = (uint8_t)kind;
	if (src->sa_family == AF_INET6 && !IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
		k->b[1] = 6;
		memcpy(k->b + 2, &s6->sin6_addr, 16);
		k->len = 18;
	} else {
		k->b[1] = 4;
		if (src->sa_family == AF_INET6)
			memcpy(k->b + 2, &s6->sin6_addr.s6_addr[12], 4);
		else
			memcpy(k->b + 2, &s4->sin_addr, 4);
		k->len = 6;
	}
	if (kind == GUARD_ENDPOINT) {
		n = account.len < GUARD_ACCOUNT_MAX ? account.len : GUARD_ACCOUNT_MAX;
		memcpy(k->b + k->len, account.p, n);
		k->len += n;
	}
}

static int match(struct cds_lfht_node *node, const void *key)
{
	const struct guard_entry *e = caa_container_of(node, struct guard_entry, node);
	const struct guard_key *k = key;

	return e->key_len == k->len && memcmp(e->key, k->b, k->len) == 0;
}

/* Inside a read-side section. */
static struct guard_entry *lookup(struct guard *g, const struct guard_key *k, uint64_t hash)
{
	struct cds_lfht_iter it;
	struct cds_lfht_node *node;

	cds_lfht_lookup(g->ht, hash, match, k, &it);
	node = cds_lfht_iter_get_node(&it);
	return node ? caa_container_of(node, struct guard_entry, node) : NULL;
}

static enum guard_state entry_state(const struct guard_entry *e, enum guard_kind kind,
				    uint64_t now, uint64_t *until)
{
	uint64_t u = e ? uatomic_read(&e->suspended_until) : 0;

	if (u <= now)
		return GUARD_OK;
	if (until)
		*until = u;
	return kind == GUARD_ENDPOINT ? GUARD_ENDPOINT_SUSPENDED : GUARD_ADDRESS_SUSPENDED;
}

enum guard_state guard_check(struct guard *g, struct sip_str account,
			     const struct sockaddr *src, uint64_t now, uint64_t *until)
{
	struct guard_key ka, ke;
	enum guard_state s;

	/* an empty table (the normal case) costs one relaxed read */
	if (uatomic_read(&g->st.entries) == 0)
		return GUARD_OK;
	make_key(&ka, GUARD_ADDRESS, account, src);
	make_key(&ke, GUARD_ENDPOINT, account, src);
	urcu_qsbr_read_lock();
	s = entry_state(lookup(g, &ka, siphash24(g->hkey, ka.b, ka.len)), GUARD_ADDRESS, now,
			until);
	if (s == GUARD_OK)
		s = entry_state(lookup(g, &ke, siphash24(g->hkey, ke.b, ke.len)), GUARD_ENDPOINT,
				now, until);
	urcu_qsbr_read_unlock();
	if (s != GUARD_OK)
		uatomic_inc(&g->st.refused);
	return s;
}

static void info_of(const struct guard_entry *e, struct guard_info *in)
{
	int fam = e->key[1] == 6 ? AF_INET6 : AF_INET;
	size_t alen = e->key[1] == 6 ? 16 : 4, n = e->key_len - 2 - alen;

	memset(in, 0, sizeof(*in));
	in->kind = (enum guard_kind)e->key[0];
	inet_ntop(fam, e->key + 2, in->address, sizeof(in->address));
	memcpy(in->account, e->key + 2 + alen, n < sizeof(in->account) ? n : 0);
	in->failures = uatomic_read(&e->failures);
	in->last_failure = uatomic_read(&e->last_failure);
	in->suspended_until = uatomic_read(&e->suspended_until);
}

static void entry_free_rcu(struct rcu_head *head)
{
	free(caa_container_of(head, struct guard_entry, rcu));
}

/* Under g->lock, inside a read-side section. */
static void entry_remove(struct guard *g, struct guard_entry *e)
{
	if (wheel_timer_pending(&e->timer))
		wheel_cancel(g->wheel, &e->timer);
	e->dead = true;
	if (cds_lfht_del(g->ht, &e->node) == 0) {
		uatomic_dec(&g->st.entries);
		urcu_qsbr_call_rcu(&e->rcu, entry_free_rcu);
	}
}

/* The moment the entry stops mattering. */
static uint64_t entry_deadline(const struct guard *g, const struct guard_entry *e)
{
	uint64_t idle = uatomic_read(&e->last_failure) +
			(uint64_t)uatomic_read(&g->cfg.suspend_s) * 1000;
	uint64_t until = uatomic_read(&e->suspended_until);

	return until > idle ? until : idle;
}

static void entry_expire(struct wheel *w, struct wheel_timer *t)
{
	struct guard_entry *e = wheel_timer_owner(t, struct guard_entry, timer);
	struct guard *g = e->g;
	uint64_t now = wheel_now(w), until = uatomic_read(&e->suspended_until);
	uint64_t deadline = entry_deadline(g, e);

	if (until && until <= now) {
		struct guard_info in;
		/* the suspension is over: a fresh start */
		uatomic_set(&e->suspended_until, 0);
		uatomic_dec(&g->st.suspended);
		if (g->ev) {
			info_of(e, &in);
			in.suspended_until = until;
			g->ev(g->ev_arg, GUARD_RELEASED, &in);
		}
		deadline = entry_deadline(g, e);
	}
	if (deadline <= now)
		entry_remove(g, e);
	else
		wheel_add(w, t, deadline);
}

/* Finds or creates the entry; NULL when the table is full or memory ran out.
 * Inside a read-side section. */
static struct guard_entry *get_entry(struct guard *g, const struct guard_key *k)
{
	uint64_t hash = siphash24(g->hkey, k->b, k->len);
	struct guard_entry *e = lookup(g, k, hash);
	struct cds_lfht_node *node;

	if (e)
		return e;
	if (uatomic_read(&g->st.entries) >= uatomic_read(&g->cfg.max_entries)) {
		uatomic_inc(&g->st.table_full);
		return NULL;
	}
	e = calloc(1, sizeof(*e) + k->len);
	if (!e)
		return NULL;
	e->g = g;
	e->hash = hash;
	e->key_len = (uint32_t)k->len;
	memcpy(e->key, k->b, k->len);
	wheel_timer_init(&e->timer, entry_expire);
	cds_lfht_node_init(&e->node);
	node = cds_lfht_add_unique(g->ht, hash, match, k, &e->node);
	if (node != &e->node) {
		free(e); /* another thread inserted it first; ours was never seen */
		return caa_container_of(node, struct guard_entry, node);
	}
	uatomic_inc(&g->st.entries);
	return e;
}

/* Counts one failure on an entry: 1 when it started a suspension, 0 when
 * not, -1 when the entry was deleted meanwhile (the caller looks again). */
static int entry_fail(struct guard *g, struct guard_entry *e, unsigned int limit, uint64_t now)
{
	int began = 0;

	pthread_mutex_lock(&g->lock);
	if (e->dead) {
		pthread_mutex_unlock(&g->lock);
		return -1;
	}
	uatomic_set(&e->last_failure, now);
	if (uatomic_read(&e->suspended_until) > now) {
		/* a race with a check that passed just before the suspension */
	} else if (uatomic_add_return(&e->failures, 1) >= limit) {
		uatomic_set(&e->suspended_until,
			    now + (uint64_t)uatomic_read(&g->cfg.suspend_s) * 1000);
		uatomic_set(&e->failures, 0);
		uatomic_inc(&g->st.suspended);
		uatomic_inc(&g->st.suspensions);
		began = 1;
	}
	/* re-arms if pending; an expiry ahead of the wheel's clock is fine */
	wheel_add(g->wheel, &e->timer, entry_deadline(g, e));
	pthread_mutex_unlock(&g->lock);
	return began;
}

/* Counts a failure on the entry of key k (created if needed); true when a
 * suspension began. Inside a read-side section. */
static bool count_failure(struct guard *g, const struct guard_key *k, unsigned int limit,
			  uint64_t now)
{
	struct guard_info in;

	for (int tries = 0; tries < 2; tries++) {
		struct guard_entry *e = get_entry(g, k);
		int r;

		if (!e)
			return false;
		r = entry_fail(g, e, limit, now);
		if (r < 0)
			continue;
		if (r && g->ev) {
			info_of(e, &in);
			g->ev(g->ev_arg, GUARD_SUSPENDED, &in);
		}
		return r == 1;
	}
	return false;
}

enum guard_state guard_fail(struct guard *g, struct sip_str account,
			    const struct sockaddr *src, uint64_t now)
{
	struct guard_key ka, ke;
	enum guard_state s = GUARD_OK;

	make_key(&ka, GUARD_ADDRESS, account, src);
	make_key(&ke, GUARD_ENDPOINT, account, src);
	uatomic_inc(&g->st.failures);
	urcu_qsbr_read_lock();
	if (count_failure(g, &ke, uatomic_read(&g->cfg.retry), now))
		s = GUARD_ENDPOINT_SUSPENDED;
	if (count_failure(g, &ka, uatomic_read(&g->cfg.address_retry), now))
		s = GUARD_ADDRESS_SUSPENDED;
	urcu_qsbr_read_unlock();
	return s;
}

void guard_success(struct guard *g, struct sip_str account, const struct sockaddr *src)
{
	struct guard_key ke;
	struct guard_entry *e;

	if (uatomic_read(&g->st.entries) == 0)
		return;
	make_key(&ke, GUARD_ENDPOINT, account, src);
	urcu_qsbr_read_lock();
	e = lookup(g, &ke, siphash24(g->hkey, ke.b, ke.len));
	if (e)
		uatomic_set(&e->failures, 0);
	urcu_qsbr_read_unlock();
}

uint64_t guard_advance(struct guard *g, uint64_t now)
{
	uint64_t next;

	pthread_mutex_lock(&g->lock);
	urcu_qsbr_read_lock();
	if (wheel_now(g->wheel) < now)
		wheel_advance(g->wheel, now);
	urcu_qsbr_read_unlock();
	next = wheel_next_deadline(g->wheel);
	pthread_mutex_unlock(&g->lock);
	return next;
}

int guard_each(struct guard *g, guard_each_cb cb, void *arg)
{
	struct cds_lfht_iter it;
	struct guard_entry *e;
	struct guard_info in;
	int r = 0;

	urcu_qsbr_read_lock();
	cds_lfht_for_each_entry(g->ht, &it, e, node) {
		info_of(e, &in);
		r = cb(arg, &in);
		if (r)
			break;
	}
	urcu_qsbr_read_unlock();
	return r;
}

int guard_clear(struct guard *g, enum guard_kind kind, struct sip_str account,
		const struct sockaddr *src)
{
	struct guard_key k;
	struct guard_entry *e;
	int r = -ENOENT;

	make_key(&k, kind, account, src);
	pthread_mutex_lock(&g->lock);
	urcu_qsbr_read_lock();
	e = lookup(g, &k, siphash24(g->hkey, k.b, k.len));
	if (e) {
		if (uatomic_read(&e->suspended_until))
			uatomic_dec(&g->st.suspended);
		entry_remove(g, e);
		r = 0;
	}
	urcu_qsbr_read_unlock();
	pthread_mutex_unlock(&g->lock);
	return r;
}

void guard_stats(struct guard *g, struct guard_stats *out)
{
	out->entries = uatomic_read(&g->st.entries);
	out->suspended = uatomic_read(&g->st.suspended);
	out->suspensions = uatomic_read(&g->st.suspensions);
	out->failures = uatomic_read(&g->st.failures);
	out->refused = uatomic_read(&g->st.refused);
	out->table_full = uatomic_read(&g->st.table_full);
}
