/* SPDX-License-Identifier: MIT */
/* subscriber.c - the in-memory subscriber table (see subscriber.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <urcu/urcu-qsbr.h>
#include <urcu/rculfhash.h>
#include <urcu/uatomic.h>

#include "sipreg/subscriber.h"
#include "lfht_drain.h"

enum { F_USER, F_DOMAIN, F_PASSWORD, F_HA1_MD5, F_HA1_SHA256, F__COUNT };

struct sub_node {
	struct cds_lfht_node node;
	struct rcu_head rcu;
	bool enabled;
	unsigned int max_contacts;
	uint16_t len[F__COUNT];
	char blob[]; /* the fields one after the other; the domain lower-cased */
};

struct subscriber_table {
	struct cds_lfht *ht;
	uint8_t key[SIPHASH_KEY_LEN];
	uint64_t count; /* atomic */
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

static int match(struct cds_lfht_node *node, const void *key)
{
	const struct sub_node *n = caa_container_of(node, struct sub_node, node);
	const struct sub_key *k = key;

	return sip_str_eq(field(n, F_USER), k->user) && sip_str_eq(field(n, F_DOMAIN), k->domain);
}

int subscriber_table_new(struct subscriber_table **ret, const uint8_t key[SIPHASH_KEY_LEN])
{
	struct subscriber_table *t = calloc(1, sizeof(*t));

	if (!t)
		return -ENOMEM;
	t->ht = cds_lfht_new_flavor(1024, 1024, 0, CDS_LFHT_AUTO_RESIZE | CDS_LFHT_ACCOUNTING,
				    &urcu_qsbr_flavor, NULL);
	if (!t->ht) {
		free(t);
		return -ENOMEM;
	}
	memcpy(t->key, key, SIPHASH_KEY_LEN);
	*ret = t;
	return 0;
}

static void node_release(struct cds_lfht_node *node)
{
	free(caa_container_of(node, struct sub_node, node));
}

void subscriber_table_free(struct subscriber_table *t)
{
	if (!t)
		return;
	lfht_drain(t->ht, node_release);
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
	struct cds_lfht_node *old;
	struct sub_node *n;
	struct sub_key k;
	uint64_t hash;

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
	cds_lfht_node_init(&n->node);
	k.user = field(n, F_USER);
	k.domain = field(n, F_DOMAIN);
	hash = key_hash(t, &k);
	urcu_qsbr_read_lock();
	/* add_unique, then replace: liburcu 0.13 counts nodes for its automatic
	 * resize only on add/add_unique, never on add_replace, so a table
	 * filled by add_replace keeps its first 1024 buckets for good */
	for (;;) {
		struct cds_lfht_iter it;
		old = cds_lfht_add_unique(t->ht, hash, match, &k, &n->node);
		if (old == &n->node) {
			old = NULL;
			break;
		}
		cds_lfht_lookup(t->ht, hash, match, &k, &it);
		if (cds_lfht_iter_get_node(&it) == old &&
		    cds_lfht_replace(t->ht, &it, hash, match, &k, &n->node) == 0)
			break;
		/* the old node went away meanwhile: try again */
	}
	urcu_qsbr_read_unlock();
	if (old)
		urcu_qsbr_call_rcu(&caa_container_of(old, struct sub_node, node)->rcu,
				   node_free_rcu);
	else
		uatomic_inc(&t->count);
	return 0;
}

/* Inside a read-side section; dbuf receives the lower-cased domain. */
static struct sub_node *lookup(struct subscriber_table *t, struct sip_str user,
			       struct sip_str domain, char *dbuf)
{
	struct cds_lfht_iter it;
	struct cds_lfht_node *node;
	struct sub_key k;

	if (too_long(user.len, domain.len))
		return NULL;
	lower(dbuf, domain);
	k.user = user;
	k.domain = sip_str_make(dbuf, domain.len);
	cds_lfht_lookup(t->ht, key_hash(t, &k), match, &k, &it);
	node = cds_lfht_iter_get_node(&it);
	return node ? caa_container_of(node, struct sub_node, node) : NULL;
}

int subscriber_table_del(struct subscriber_table *t, struct sip_str username,
			 struct sip_str domain)
{
	char dbuf[STORE_NAME_MAX];
	struct sub_node *n;
	int r = -ENOENT;

	urcu_qsbr_read_lock();
	n = lookup(t, username, domain, dbuf);
	if (n && cds_lfht_del(t->ht, &n->node) == 0) {
		uatomic_dec(&t->count);
		urcu_qsbr_call_rcu(&n->rcu, node_free_rcu);
		r = 0;
	}
	urcu_qsbr_read_unlock();
	return r;
}

bool subscriber_table_get(struct subscriber_table *t, struct sip_str username,
			  struct sip_str domain, struct subscriber_view *out)
{
	char dbuf[STORE_NAME_MAX];
	struct sub_node *n = lookup(t, username, domain, dbuf);

	if (!n)
		return false;
	out->username = field(n, F_USER);
	out->domain = field(n, F_DOMAIN);
	out->password = field(n, F_PASSWORD);
	out->ha1_md5 = field(n, F_HA1_MD5);
	out->ha1_sha256 = field(n, F_HA1_SHA256);
	out->enabled = n->enabled;
	out->max_contacts = n->max_contacts;
	return true;
}

uint64_t subscriber_table_count(struct subscriber_table *t)
{
	return uatomic_read(&t->count);
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
