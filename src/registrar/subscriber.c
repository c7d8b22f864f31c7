/* SPDX-License-Identifier: MIT */
/* subscriber.c - the in-memory subscriber table (see subscriber.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <urcu/urcu-qsbr.h>
#include <urcu/uatomic.h>

#include "sipreg/subscriber.h"
#include "rhash.h"

enum { F_USER, F_DOMAIN, F_PASSWORD, F_HA1_MD5, F_HA1_SHA256, F__COUNT };

/* The key's lengths first and the blob (user, domain, ...) right after them,
 * so a lookup's match reads the start of the node, usually one cache line. */
struct sub_node {
	uint16_t len[F__COUNT];
	bool enabled;
	unsigned int max_contacts;
	uint64_t hash;
	struct rcu_head rcu;
	struct digest_key key; /* see subscriber_view */
	char blob[]; /* the fields one after the other; the domain lower-cased */
};

struct subscriber_table {
	struct rhash *ht;
	uint8_t key[SIPHASH_KEY_LEN];
};

struct sub_key {
	struct sip_str user, domain; /* domain already lower-cased */
};

static struct sip_str field(const struct sub_node *n, int f)
{
	size_t off = 0;

	for (int i = 0; i < f; i++)
		off += n->len[i];
	return sip_str_make(n->blob + off, n->len[f]);
}

static void lower(char *dst, struct sip_str s)
{
	for (size_t i = 0; i < s.len; i++) {
		char c = s.p[i];
		dst[i] = (c >= 'A' && c <= 'Z') ? (char)(c | 0x20) : c;
	}
}

/* Hash of user '@' lower(domain) without building the string. */
static uint64_t key_hash(const struct subscriber_table *t, const struct sub_key *k)
{
	char buf[2 * STORE_NAME_MAX + 1];

	memcpy(buf, k->user.p, k->user.len);
	buf[k->user.len] = '@';
	memcpy(buf + k->user.len + 1, k->domain.p, k->domain.len);
	return siphash24(t->key, buf, k->user.len + 1 + k->domain.len);
}

static bool match(const void *item, const void *key)
{
	const struct sub_node *n = item;
	const struct sub_key *k = key;

	return n->len[F_USER] == k->user.len && n->len[F_DOMAIN] == k->domain.len &&
	       memcmp(n->blob, k->user.p, k->user.len) == 0 &&
	       memcmp(n->blob + k->user.len, k->domain.p, k->domain.len) == 0;
}

static uint64_t node_hash(const void *item)
{
	return ((const struct sub_node *)item)->hash;
}

int subscriber_table_new(struct subscriber_table **ret, const uint8_t key[SIPHASH_KEY_LEN])
{
	struct subscriber_table *t = calloc(1, sizeof(*t));

	if (!t)
		return -ENOMEM;
	if (rhash_new(&t->ht, 1024, node_hash) < 0) {
		free(t);
		return -ENOMEM;
	}
	memcpy(t->key, key, SIPHASH_KEY_LEN);
	*ret = t;
	return 0;
}

void subscriber_table_free(struct subscriber_table *t)
{
	struct rhash_iter it;

	if (!t)
		return;
	/* no other thread uses the table: nodes freed at once */
	for (void *n = rhash_first(t->ht, &it); n; n = rhash_next(&it))
		free(n);
	rhash_free(t->ht);
	free(t);
}

static void node_free_rcu(struct rcu_head *head)
{
	free(caa_container_of(head, struct sub_node, rcu));
}

/* The domain is limited by STORE_NAME_MAX too: key_hash's buffer. */
static bool too_long(size_t ulen, size_t dlen)
{
	return ulen == 0 || dlen == 0 || ulen >= STORE_NAME_MAX || dlen >= STORE_NAME_MAX;
}

int subscriber_table_put(struct subscriber_table *t, const struct store_subscriber *s)
{
	const char *src[F__COUNT] = {s->username, s->domain, s->password, s->ha1_md5,
				     s->ha1_sha256};
	size_t len[F__COUNT], total = 0, off = 0;
	struct sub_node *n;
	struct sub_key k;
	void *old;
	int r;

	for (int i = 0; i < F__COUNT; i++) {
		len[i] = strlen(src[i]);
		total += len[i];
	}
	if (too_long(len[F_USER], len[F_DOMAIN]))
		return -EINVAL;
	n = calloc(1, sizeof(*n) + total);
	if (!n)
		return -ENOMEM;
	for (int i = 0; i < F__COUNT; i++) {
		n->len[i] = (uint16_t)len[i];
		if (i == F_DOMAIN)
			lower(n->blob + off, sip_str_make(src[i], len[i]));
		else
			memcpy(n->blob + off, src[i], len[i]);
		off += len[i];
	}
	n->enabled = s->enabled;
	n->max_contacts = s->max_contacts;
	k.user = field(n, F_USER);
	k.domain = field(n, F_DOMAIN);
	if (len[F_PASSWORD])
		digest_key_from_password(&n->key, k.user, k.domain, field(n, F_PASSWORD));
	else
		(void)digest_key_from_ha1(&n->key, field(n, F_HA1_MD5),
					  field(n, F_HA1_SHA256)); /* a bad one left out */
	n->hash = key_hash(t, &k);
	r = rhash_put(t->ht, n->hash, n, match, &k, &old);
	if (r < 0) {
		free(n);
		return r == -EOVERFLOW ? -ENOMEM : r;
	}
	if (old)
		urcu_qsbr_call_rcu(&((struct sub_node *)old)->rcu, node_free_rcu);
	return 0;
}

/* The key with the domain lower-cased into dbuf; false for a name the
 * table cannot hold. */
static bool make_key(struct sub_key *k, struct sip_str user, struct sip_str domain, char *dbuf)
{
	if (too_long(user.len, domain.len))
		return false;
	lower(dbuf, domain);
	k->user = user;
	k->domain = sip_str_make(dbuf, domain.len);
	return true;
}

/* Inside a read-side section; dbuf receives the lower-cased domain. */
static struct sub_node *lookup(struct subscriber_table *t, struct sip_str user,
			       struct sip_str domain, char *dbuf)
{
	struct sub_key k;

	if (!make_key(&k, user, domain, dbuf))
		return NULL;
	return rhash_lookup(t->ht, key_hash(t, &k), match, &k);
}

int subscriber_table_del(struct subscriber_table *t, struct sip_str username,
			 struct sip_str domain)
{
	char dbuf[STORE_NAME_MAX];
	struct sub_node *n;
	struct sub_key k;

	if (!make_key(&k, username, domain, dbuf))
		return -ENOENT;
	n = rhash_del_key(t->ht, key_hash(t, &k), match, &k);
	if (!n)
		return -ENOENT;
	urcu_qsbr_call_rcu(&n->rcu, node_free_rcu);
	return 0;
}

static bool view(const struct sub_node *n, struct subscriber_view *out)
{
	if (!n)
		return false;
	out->username = field(n, F_USER);
	out->domain = field(n, F_DOMAIN);
	out->password = field(n, F_PASSWORD);
	out->ha1_md5 = field(n, F_HA1_MD5);
	out->ha1_sha256 = field(n, F_HA1_SHA256);
	out->key = &n->key;
	out->enabled = n->enabled;
	out->max_contacts = n->max_contacts;
	return true;
}

bool subscriber_table_get(struct subscriber_table *t, struct sip_str username,
			  struct sip_str domain, struct subscriber_view *out)
{
	char dbuf[STORE_NAME_MAX];

	return view(lookup(t, username, domain, dbuf), out);
}

uint64_t subscriber_table_hash(struct subscriber_table *t, struct sip_str username,
			       struct sip_str domain)
{
	char dbuf[STORE_NAME_MAX];
	struct sub_key k;

	return make_key(&k, username, domain, dbuf) ? key_hash(t, &k) : 0;
}

void subscriber_table_prefetch(struct subscriber_table *t, uint64_t hash, bool item)
{
	rhash_prefetch(t->ht, hash, item);
}

bool subscriber_table_get_hashed(struct subscriber_table *t, uint64_t hash,
				 struct sip_str username, struct sip_str domain,
				 struct subscriber_view *out)
{
	char dbuf[STORE_NAME_MAX];
	struct sub_key k;

	if (!make_key(&k, username, domain, dbuf))
		return false;
	return view(rhash_lookup(t->ht, hash, match, &k), out);
}

uint64_t subscriber_table_count(struct subscriber_table *t)
{
	return rhash_count(t->ht);
}

static int load_one(void *arg, const struct store_subscriber *s)
{
	struct subscriber_table *t = arg;
	int r = subscriber_table_put(t, s);

	/* a quiescent state now and then lets the table's resizes complete
	 * while it fills (they wait for a grace period) */
	if (subscriber_table_count(t) % 1024 == 0)
		urcu_qsbr_quiescent_state();
	return r;
}

long subscriber_table_load(struct subscriber_table *t, struct store *s)
{
	int r = store_subscriber_each(s, load_one, t);

	return r < 0 ? r : (long)subscriber_table_count(t);
}
