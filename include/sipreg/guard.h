/* SPDX-License-Identifier: MIT */
/*
 * guard.h - retry and suspend: the registrar's defence against wrong
 * passwords and scanners (SPEC.md "Retry and suspend").
 *
 * Two kinds of counter, in one lock-free hash table (liburcu cds_lfht) shared
 * by every worker:
 *  - an ENDPOINT (account + source IP address, not the port) counts
 *    consecutive failures; at SS_ENDPOINT_REGISTER_RETRY it is suspended for
 *    SS_ENDPOINT_REGISTER_SUSPEND seconds. A success resets its count.
 *  - an ADDRESS (source IP) counts failures across every account; at
 *    ENDPOINT_ADDRESS_RETRY the whole address is suspended for the same time.
 * A suspension starts with a fresh count afterwards. A count that has seen no
 * failure for SS_ENDPOINT_REGISTER_SUSPEND seconds is forgotten (the entry is
 * removed), so memory follows only recent failures. A failure is a REGISTER
 * with wrong credentials or an unknown user; the first challenge of a request
 * without credentials is not one, and a suspended request is refused before
 * its credentials are checked, so it counts as nothing.
 *
 * Expiry runs through a timing wheel of the guard's own (struct wheel), fed by
 * guard_advance() from a timer of the daemon's; the wheel and the entries'
 * timers are touched only under a mutex taken on the failure and expiry
 * paths, never by guard_check() or a success.
 *
 * Hashing is SipHash-2-4 with a per-process secret key: attackers choose the
 * account names and cannot make them collide.
 *
 * Table rules (rculfhash.h): lookups inside a read-side section; insert with
 * cds_lfht_add_unique, the losing candidate freed at once; call_rcu only after
 * a cds_lfht_del that returned 0; counters updated in place with uatomic_*.
 *
 * Threads: every function but guard_new and guard_free may be called from any
 * thread registered with urcu-qsbr and online (the workers and the admin
 * thread). guard_free needs every other user stopped.
 */
#ifndef SIPREG_GUARD_H
#define SIPREG_GUARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "sipreg/sip.h"
#include "sipreg/siphash.h"

struct guard;

struct guard_config {
	unsigned int retry;         /* SS_ENDPOINT_REGISTER_RETRY, 1-100 */
	unsigned int suspend_s;     /* SS_ENDPOINT_REGISTER_SUSPEND, 10-86400 */
	unsigned int address_retry; /* ENDPOINT_ADDRESS_RETRY, 3-10000 */
	size_t max_entries;         /* table bound; 0: GUARD_MAX_ENTRIES */
};

#define GUARD_MAX_ENTRIES 1000000u
#define GUARD_ACCOUNT_MAX 256 /* bytes of an account name kept in an entry */

enum guard_kind {
	GUARD_ENDPOINT,
	GUARD_ADDRESS,
};

enum guard_state {
	GUARD_OK = 0,
	GUARD_ENDPOINT_SUSPENDED,
	GUARD_ADDRESS_SUSPENDED,
};

enum guard_event {
	GUARD_SUSPENDED, /* a suspension began */
	GUARD_RELEASED,  /* a suspension ended */
};

/* An entry as listed for operators. */
struct guard_info {
	enum guard_kind kind;
	char account[GUARD_ACCOUNT_MAX]; /* "" for an address */
	char address[48];                /* numeric IP */
	uint32_t failures;               /* current count */
	uint64_t last_failure;           /* ms, the caller's clock */
	uint64_t suspended_until;        /* ms; 0 when not suspended */
};

typedef void (*guard_event_cb)(void *arg, enum guard_event ev, const struct guard_info *info);
typedef int (*guard_each_cb)(void *arg, const struct guard_info *info);

struct guard_stats {
	uint64_t entries;
	uint64_t suspended;        /* suspensions in force (endpoint + address) */
	uint64_t suspensions;      /* suspensions begun, total */
	uint64_t failures;         /* failures counted, total */
	uint64_t refused;          /* requests refused while suspended, total */
	uint64_t table_full;       /* failures not tracked: the table was full */
};

/*
 * Create a guard. key: the SipHash key (random, secret). ev/ev_arg: called
 * when a suspension begins (from guard_fail's thread) or ends (from
 * guard_advance's thread); may be NULL. Returns 0, -EINVAL (a value out of
 * the ranges above), -ENOMEM.
 */
int guard_new(struct guard **ret, const struct guard_config *cfg,
	      const uint8_t key[SIPHASH_KEY_LEN], guard_event_cb ev, void *ev_arg);
void guard_free(struct guard *g); /* NULL is a no-op */
/* New limits for what comes next; suspensions in force keep their end. */
int guard_set_config(struct guard *g, const struct guard_config *cfg);

/*
 * Is this request refused before its credentials are checked? account is the
 * address-of-record ("user@domain"); src the packet's source. now in ms.
 * Returns GUARD_OK or the suspension in force (and *until, if not NULL).
 * Lock-free.
 */
enum guard_state guard_check(struct guard *g, struct sip_str account,
			     const struct sockaddr *src, uint64_t now, uint64_t *until);

/* Count a failure. Returns the suspension that began with it, or GUARD_OK. */
enum guard_state guard_fail(struct guard *g, struct sip_str account,
			    const struct sockaddr *src, uint64_t now);

/* A success: the endpoint's consecutive count goes back to zero. */
void guard_success(struct guard *g, struct sip_str account, const struct sockaddr *src);

/* Run expiries due at now; returns the next deadline (UINT64_MAX: none). */
uint64_t guard_advance(struct guard *g, uint64_t now);

/* Every entry, for sipregctl guard list; cb's non-zero return stops. */
int guard_each(struct guard *g, guard_each_cb cb, void *arg);

/* Remove one entry (sipregctl guard clear): an endpoint (account and
 * address) or an address (account ignored). Returns 0 or -ENOENT. */
int guard_clear(struct guard *g, enum guard_kind kind, struct sip_str account,
		const struct sockaddr *src);

void guard_stats(struct guard *g, struct guard_stats *out);

#endif /* SIPREG_GUARD_H */
