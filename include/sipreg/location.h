/* SPDX-License-Identifier: MIT */
/*
 * location.h - the location table: address-of-record -> bindings (RFC 3261
 * §10.3), shared by every worker.
 *
 * One record per address-of-record in an RCU hash table with open
 * addressing (src/registrar/rhash.h, SipHash-keyed; a lookup reads one line
 * of slots and the record). Readers never block. Writers of one record are
 * serialised by a striped mutex (stripe = hash % LOCATION_STRIPES); a
 * refresh that changes only a binding's expiry and CSeq updates them in place
 * with uatomic_* (no allocation); a change of the set of bindings, or of a
 * binding's strings or source, builds a new record, publishes it in the old
 * one's slot and frees the old one with call_rcu.
 *
 * Expiry: each stripe has a timing wheel (under the stripe's mutex); a record
 * carries one timer armed at its earliest binding expiry. location_advance()
 * runs the due ones: expired bindings are removed on time, and an empty
 * record leaves the table.
 *
 * Persistence, off the workers' path: a changed record is put on its
 * stripe's dirty list (intrusive: nothing allocated per REGISTER);
 * location_flush() (the persistence thread) takes each dirty record's
 * current bindings and hands them to a callback that writes them as one
 * batch. A removed record stays on the dirty list as a tombstone until
 * flushed, so deletions are persisted too.
 *
 * Time: `now` is CLOCK_MONOTONIC ms everywhere; the wall clock appears only
 * where bindings are saved and restored (Unix seconds).
 *
 * Table rules: lookups and updates inside a read-side section
 * (an online urcu-qsbr thread); slices in a struct loc_view point into a
 * record and stay valid until the caller's next quiescent state.
 *
 * Threads: every function but location_new and location_free is safe from
 * any registered, online urcu-qsbr thread.
 */
#ifndef SIPREG_LOCATION_H
#define SIPREG_LOCATION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "sipreg/sip.h"
#include "sipreg/siphash.h"
#include "sipreg/store.h"

#define LOCATION_STRIPES 64
#define LOCATION_MAX_BINDINGS 100 /* per address-of-record: max_contacts' top */
#define LOCATION_STR_MAX 1024    /* bytes of one binding's strings together */

struct location;

enum loc_transport {
	LOC_UDP = 0,
	LOC_TCP,
};

/* What the registrar applies for one Contact of a REGISTER. */
struct loc_contact {
	struct sip_str uri;      /* the Contact URI as received */
	struct sip_str instance; /* +sip.instance, empty if none */
	uint32_t reg_id;         /* 0 if none */
	uint32_t expires;        /* seconds granted; 0 removes the binding */
	uint16_t q;
};

/* What the whole request carries for its bindings. */
struct loc_request {
	struct sip_str call_id;
	uint32_t cseq;
	struct sip_str path;       /* Path header values joined, empty if none */
	struct sip_str user_agent;
	const struct sockaddr *received; /* the packet's source */
	enum loc_transport transport;
	uint64_t conn;             /* TCP connection handle, 0 for UDP */
	bool nat;
};

/* How many bindings an address-of-record may have, and what a new one does
 * when they are all taken (SS_ENDPOINT_REGISTER_REPLACE). */
struct loc_policy {
	unsigned int max_contacts; /* 1-LOCATION_MAX_BINDINGS */
	bool replace;
};

/* A binding as readers see it: slices point into the record. */
struct loc_view {
	struct sip_str uri, instance, call_id, path, user_agent;
	uint32_t reg_id;
	uint32_t cseq;
	uint64_t expires; /* monotonic ms */
	uint16_t q;
	bool nat;
	enum loc_transport transport;
	uint64_t conn;
	struct sockaddr_storage received;
};

typedef void (*loc_expired_cb)(void *arg, struct sip_str aor, const struct loc_view *b);

int location_new(struct location **ret, const uint8_t key[SIPHASH_KEY_LEN],
		 loc_expired_cb on_expired, void *arg);
/* Frees every record; no other thread may use the table any more. */
void location_free(struct location *l);

/*
 * Apply a REGISTER's Contacts to aor (RFC 3261 §10.3 steps 6-8), atomically:
 * either every change applies or none does.
 *   contacts/n   the Contacts (n = 0 with star = false: a query)
 *   star         "Contact: *" with Expires: 0: remove every binding
 * On success, out[0..*nout) are the bindings now in force (at most cap).
 * Returns 0, or
 *   -EALREADY  a binding's Call-ID is the request's and its CSeq is not
 *              lower (an old or repeated request: RFC 3261 §10.3 step 7)
 *   -EPERM     policy.replace is off and a new location would displace a
 *              binding still in force
 *   -E2BIG     more bindings than LOCATION_MAX_BINDINGS, or strings over
 *              LOCATION_STR_MAX
 *   -ENOMEM
 */
int location_update(struct location *l, struct sip_str aor, const struct loc_contact *contacts,
		    size_t n, bool star, const struct loc_request *req,
		    const struct loc_policy *policy, uint64_t now, struct loc_view *out,
		    size_t cap, size_t *nout);

/*
 * location_update in steps, for a caller that knows aor early: location_hash
 * once (SipHash-2-4 of aor under the table's key), location_prefetch (a
 * hint, inside a read-side section: item false starts loading the table's
 * slots, item true a little later the record) while it does other work, then
 * location_update_hashed with the hash of the same aor (same returns as
 * location_update).
 */
uint64_t location_hash(struct location *l, struct sip_str aor);
void location_prefetch(struct location *l, uint64_t hash, bool item);
int location_update_hashed(struct location *l, struct sip_str aor, uint64_t hash,
			   const struct loc_contact *contacts, size_t n, bool star,
			   const struct loc_request *req, const struct loc_policy *policy,
			   uint64_t now, struct loc_view *out, size_t cap, size_t *nout);

/*
 * Room for records addresses-of-record without growing the table later: a
 * growth rehashes every record while the table's writers (the workers'
 * REGISTERs that add, replace or remove a record) wait, about 50 ms at
 * 734,000 records on this machine. regsvc reserves one record per
 * subscriber. Returns 0 or -ENOMEM (the table is as it was and grows when
 * needed). From a registered urcu-qsbr thread.
 */
int location_reserve(struct location *l, size_t records);

/* The bindings of aor in force at now (at most cap); returns how many. */
size_t location_lookup(struct location *l, struct sip_str aor, uint64_t now,
		       struct loc_view *out, size_t cap);

/* Remove every binding of aor (sipregctl); 0 or -ENOENT. */
int location_remove(struct location *l, struct sip_str aor);

/* Run the expiries due at now; returns the next deadline (UINT64_MAX: none). */
uint64_t location_advance(struct location *l, uint64_t now);

/* Records and bindings in the table. */
void location_counts(struct location *l, uint64_t *records, uint64_t *bindings);

/*
 * Every record: cb(arg, aor, bindings, n) with the bindings in force at now;
 * a non-zero return stops the walk and is returned.
 */
typedef int (*loc_each_cb)(void *arg, struct sip_str aor, const struct loc_view *b, size_t n);
int location_each(struct location *l, uint64_t now, loc_each_cb cb, void *arg);

/*
 * Persistence. location_flush hands every record changed since the last
 * flush to write(): aor and its bindings converted to store form (expires_at
 * in wall-clock seconds computed from now/wall_now), in the order the records
 * became dirty, stripe by stripe (a removal before its re-registration):
 * c[0..n) are the bindings as STORE_BINDING_PUT changes. replace_all true:
 * these n bindings replace every binding the store has for aor (n = 0: the
 * address-of-record has no binding any more). replace_all false: no binding
 * of aor was dropped since the last write, so putting these n by (aor,
 * contact) is enough (a refresh, a new Call-ID, an added contact: the
 * store's DELETE is saved). Returns the number of records written, or the
 * first negative value room() or write() returned (the records not written
 * stay dirty for the next flush), or -ENOMEM (room NULL: the flush's own
 * array could not be allocated).
 *
 * room (may be NULL): where the next record's changes go, so that write()
 * can keep them where they are instead of copying them: room(arg, cap,
 * replace_all, &c) sets c to an array of at least cap changes (cap: the
 * record's bindings, at most LOCATION_MAX_BINDINGS) and returns 0, or a
 * negative errno (that record is not written, nor the rest of this flush).
 * The c that write() receives is that array. room NULL: an array of the
 * flush's own, which write() must copy from.
 */
typedef int (*loc_write_cb)(void *arg, const char *aor, const struct store_change *c,
			    size_t n, bool replace_all);
typedef int (*loc_room_cb)(void *arg, size_t cap, bool replace_all, struct store_change **c);
/* room() and write() may go offline or announce a quiescent state (to write
 * to a database without holding back grace periods): the records the flush
 * holds stay valid. The caller of location_flush is an online qsbr thread. */
long location_flush(struct location *l, uint64_t now, int64_t wall_now, loc_room_cb room,
		    loc_write_cb write, void *arg);

/* Restore one saved binding (at start-up): one with expires_at <= wall_now
 * is dropped (returns -ESTALE); 0, -EINVAL (unusable), -E2BIG, -ENOMEM. */
int location_restore(struct location *l, const struct store_binding *b, uint64_t now,
		     int64_t wall_now);

#endif /* SIPREG_LOCATION_H */
