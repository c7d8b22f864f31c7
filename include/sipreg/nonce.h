/* SPDX-License-Identifier: MIT */
/*
 * nonce.h - the registrar's digest nonces: stateless, unforgeable, expiring,
 * and not replayable beyond their nonce-count.
 *
 * A nonce is 40 lower-case hex digits:
 *
 *     issued (4 bytes, Unix seconds) | serial (4 bytes) | tag (12 bytes)
 *     tag = HMAC-SHA256(secret, issued | serial | realm), first 12 bytes
 *
 * Nothing is stored to validate one: the tag proves sipreg made it for this
 * realm, issued says how old it is. The secret is 32 bytes the daemon keeps
 * in the store, so nonces stay valid across a restart.
 *
 * Replay: a table of 2^slots_log2 64-bit slots, indexed by serial, holds the
 * first 4 tag bytes of the nonce that owns the slot and the highest
 * nonce-count accepted with it. A nonce-count that does not grow is refused;
 * a request without qop (no nonce-count) counts as nonce-count 1, so such a
 * nonce is good once. When the serials have gone round the table, an old
 * nonce has lost its slot and is answered stale=true (the client retries at
 * once with a new nonce: one round trip, never a failure). Slots change by
 * compare-and-swap: any thread may issue and check.
 *
 * Threads: nonce_issue, nonce_check and nonce_commit are lock-free and safe
 * from any number of threads; nonce_new and nonce_free are not.
 */
#ifndef SIPREG_NONCE_H
#define SIPREG_NONCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sipreg/sip.h"

#define NONCE_LEN 40        /* hex digits */
#define NONCE_SECRET_LEN 32 /* bytes */

struct nonce_ctx;

/* What nonce_check found, for nonce_commit. */
struct nonce_ref {
	uint32_t serial;
	uint32_t tag32;
	uint32_t issued;
};

/*
 * slots_log2: 10-28 (the replay table holds 2^slots_log2 nonces, 8 bytes
 * each); expire_s: a nonce older than this is stale. Returns 0, -EINVAL, or
 * -ENOMEM.
 */
int nonce_new(struct nonce_ctx **ret, const uint8_t secret[NONCE_SECRET_LEN],
	      unsigned int slots_log2, unsigned int expire_s);
void nonce_free(struct nonce_ctx *n); /* NULL is a no-op */

/* Change the expiry of the nonces checked from now on (a reload). */
void nonce_set_expire(struct nonce_ctx *n, unsigned int expire_s);

/* Make a nonce for realm at wall-clock time now (Unix seconds); writes
 * exactly NONCE_LEN characters to out, no NUL. */
void nonce_issue(struct nonce_ctx *n, struct sip_str realm, uint64_t now, char *out);

/*
 * Check a nonce received in credentials for realm. Does not consume it:
 * call nonce_commit once the digest response has been verified, so that
 * wrong responses cannot burn a client's nonce-counts.
 *   0         ours, for this realm, not expired; *ref filled
 *   -EBADMSG  not a nonce of ours (malformed, forged, another realm, or
 *             from a secret since replaced): challenge afresh, not stale
 *   -ESTALE   ours but expired or evicted from the replay table: answer
 *             with a new nonce and stale=true
 */
int nonce_check(struct nonce_ctx *n, struct sip_str nonce, struct sip_str realm,
		uint64_t now, struct nonce_ref *ref);

/*
 * Accept nonce-count nc (1 when the request had no qop) for a checked nonce.
 *   0          accepted and recorded
 *   -EALREADY  nc is not above the highest accepted so far: a replay
 *   -ESTALE    the nonce lost its slot since nonce_check
 */
int nonce_commit(struct nonce_ctx *n, const struct nonce_ref *ref, uint32_t nc);

#endif /* SIPREG_NONCE_H */
