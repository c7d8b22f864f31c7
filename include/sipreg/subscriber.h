/* SPDX-License-Identifier: MIT */
/*
 * subscriber.h - the registrar's in-memory subscriber table: the store's
 * subscribers (username, domain, password or HA1s, enabled, contact limit)
 * in an RCU hash table (open addressing, src/registrar/rhash.h), so that a
 * REGISTER never waits on the database and a lookup costs about two cache
 * lines (the slots, the node).
 * The admin API writes the store first and then this table; the daemon loads
 * it whole at start-up.
 *
 * Key: username (case-sensitive, RFC 3261 §19.1.4) @ domain (compared in
 * lower case). Hash: SipHash-2-4 with a secret key.
 *
 * Table rules: lookups inside a read-side section, never blocking, the
 * view's slices valid until the caller's next quiescent state; put and del
 * serialise on the table's mutex, put replaces the node in its slot and frees
 * the old one with call_rcu.
 *
 * Threads: all but _new and _free from registered, online urcu-qsbr threads.
 */
#ifndef SIPREG_SUBSCRIBER_H
#define SIPREG_SUBSCRIBER_H

#include <stdbool.h>
#include <stdint.h>

#include "sipreg/digest.h"
#include "sipreg/sip.h"
#include "sipreg/siphash.h"
#include "sipreg/store.h"

struct subscriber_table;

/*
 * key: the subscriber's digest key (digest.h), made when it was put: from
 * the password with realm = its domain (lower case), or, without a
 * password, from the stored HA1s (whatever realm they were made for; a
 * malformed one is left out). Valid as long as the slices.
 */
struct subscriber_view {
	struct sip_str username, domain, password, ha1_md5, ha1_sha256;
	const struct digest_key *key;
	bool enabled;
	unsigned int max_contacts; /* 0: the configured default */
};

int subscriber_table_new(struct subscriber_table **ret, const uint8_t key[SIPHASH_KEY_LEN]);
void subscriber_table_free(struct subscriber_table *t); /* NULL is a no-op */

/* Insert or replace. Returns 0, -EINVAL (empty name), -ENOMEM. */
int subscriber_table_put(struct subscriber_table *t, const struct store_subscriber *s);
/* Returns 0 or -ENOENT. */
int subscriber_table_del(struct subscriber_table *t, struct sip_str username,
			 struct sip_str domain);
/* Inside a read-side section. Returns true and fills out when found. */
bool subscriber_table_get(struct subscriber_table *t, struct sip_str username,
			  struct sip_str domain, struct subscriber_view *out);
/*
 * The same lookup in two steps, for a caller that knows the names early:
 * subscriber_table_hash once, subscriber_table_prefetch (a hint, inside a
 * read-side section: item false starts loading the table's slots, item true
 * a little later the subscriber's node) while it does other work, then
 * subscriber_table_get_hashed with the hash of the same names. The hash is
 * SipHash-2-4 of "username@domain" (domain lower-cased) under the table's
 * key: the location table's location_hash of the same AOR under the same
 * key. A name the table cannot hold hashes to 0 and is never found.
 */
uint64_t subscriber_table_hash(struct subscriber_table *t, struct sip_str username,
			       struct sip_str domain);
void subscriber_table_prefetch(struct subscriber_table *t, uint64_t hash, bool item);
bool subscriber_table_get_hashed(struct subscriber_table *t, uint64_t hash,
				 struct sip_str username, struct sip_str domain,
				 struct subscriber_view *out);
uint64_t subscriber_table_count(struct subscriber_table *t);
/* Every subscriber of the store into the table. Returns the number loaded
 * or the store's negative errno. Announces a quiescent state every 1024
 * subscribers, so the caller must not be inside a read-side section. */
long subscriber_table_load(struct subscriber_table *t, struct store *s);

#endif /* SIPREG_SUBSCRIBER_H */
