/* SPDX-License-Identifier: MIT */
/*
 * registrar.h - REGISTER processing (RFC 3261 §10.3) for endpoints that
 * register to sipreg: digest authentication against the subscriber table,
 * retry/suspend policing (guard.h), NAT-aware expiry, the location table
 * update and the response, written into the caller's buffer.
 *
 * The order of the checks, and why:
 *   1. Request-URI and To must be SIP URIs (416), To must name a user (404);
 *      Require may only ask for what we support (420 with Unsupported).
 *   2. A suspended endpoint or address is refused (403, or no answer when
 *      suspend_action = drop) BEFORE credentials are looked at: a suspended
 *      attacker learns nothing, not even whether a password is right.
 *   3. No credentials for our realm: 401 with a SHA-256 and an MD5 challenge
 *      (RFC 8760 order; digest_algorithms may change the order or offer one).
 *      Not a failure. Credentials of an algorithm not offered get a new
 *      challenge (no downgrade).
 *   4. The nonce must be ours (else a new challenge, not a failure) and fresh
 *      (else stale=true, not a failure).
 *   5. The response is verified against the password or the stored HA1:
 *      with the subscriber table's prepared key (digest_verify_key: no HA1
 *      computed, the SHA-256 HA1 block already hashed) when the realm is the
 *      To host in lower case and no escape is in realm or username, else
 *      from the password. An unknown or disabled user is verified against a
 *      dummy key (or dummy password) the same way, so both take the same
 *      time and get the same answer (401 with a new challenge): no user
 *      enumeration. Each is a failure for the guard.
 *   6. The nonce-count is recorded only now, after a correct response (a
 *      wrong guess cannot burn the client's counts); a replayed count gets a
 *      new challenge.
 *   7. Contacts: "*" only alone and with Expires: 0 (else 400); expiry from
 *      the Contact's expires, else Expires, else the maximum; below
 *      min_expire and not 0: 423 with Min-Expires; granted at most
 *      SS_ENDPOINT_EXPIRE, or SS_ENDPOINT_NAT_EXPIRE behind NAT.
 *   8. The location update (location.h): Call-ID/CSeq order (400 when out of
 *      order), SS_ENDPOINT_REGISTER_REPLACE and the contact limit (403).
 *   9. 200 OK with every binding and its remaining expires, Date, Path (when
 *      the UA supports it), Server.
 *
 * NAT: the source address differs from the top Via's sent-by (address, and
 * port over UDP) or from a Contact's address (when it is a literal address).
 *
 * Threads: registrar_handle from any worker (registered, online urcu-qsbr
 * thread); registrar_set_config from the daemon's thread (values are read
 * atomically one by one).
 */
#ifndef SIPREG_REGISTRAR_H
#define SIPREG_REGISTRAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

#include "sipreg/config.h"
#include "sipreg/guard.h"
#include "sipreg/location.h"
#include "sipreg/nonce.h"
#include "sipreg/sip.h"
#include "sipreg/subscriber.h"

struct registrar;

/* The shared tables the registrar works on; it owns none of them. */
struct registrar_deps {
	struct location *location;
	struct guard *guard;
	struct nonce_ctx *nonce;
	struct subscriber_table *subscribers;
	const uint8_t *tag_key; /* SIPHASH_KEY_LEN bytes, for To tags */
};

/* Where a request came from. */
struct registrar_src {
	const struct sockaddr *addr;
	enum loc_transport transport;
	uint64_t conn; /* TCP connection handle, 0 over UDP */
	/* the request's top Via, already parsed by the caller (the NAT check
	 * reads it), or NULL: the registrar parses it */
	const struct sip_via *top_via;
	/* registrar_prefetch_reg's hint for this request, or NULL */
	const struct registrar_hint *hint;
};

/* What registrar_prefetch_reg found out early about a REGISTER: its AOR's
 * hashes in the location and subscriber tables (set false: nothing). */
struct registrar_hint {
	bool set;
	uint64_t loc_hash, sub_hash;
};

/* Per-worker counters (plain fields: one writer, the worker). */
struct registrar_stats {
	uint64_t requests;
	uint64_t registered;   /* 200 with bindings changed or queried */
	uint64_t challenged;   /* 401 without a failure (first or stale) */
	uint64_t auth_failed;  /* wrong password, unknown or disabled user */
	uint64_t suspended;    /* refused or dropped while suspended */
	uint64_t bad_request;  /* 400, 416, 420 */
	uint64_t too_brief;    /* 423 */
	uint64_t forbidden;    /* 403 of policy: replace off, contact limit */
	uint64_t server_error; /* 500 */
};

struct registrar_result {
	unsigned int status; /* 0 when dropped (no answer) */
	size_t len;          /* bytes of the response in the caller's buffer */
};

/* Returns 0, -EINVAL (a dependency missing), -ENOMEM. */
int registrar_new(struct registrar **ret, const struct config *cfg,
		  const struct registrar_deps *deps);
void registrar_free(struct registrar *r); /* NULL is a no-op */
/* Take the [sip] values of cfg from now on. */
void registrar_set_config(struct registrar *r, const struct config *cfg);

/*
 * Handle one REGISTER (parsed; sip_msg_validate passed). now: monotonic ms;
 * wall: Unix seconds. The response (or nothing, when dropped) is written to
 * out. Returns 0 with *res set, or -ENOSPC when out is too small for the
 * response (nothing should be sent then).
 */
int registrar_handle(struct registrar *r, const struct sip_msg *m,
		     const struct registrar_src *src, uint64_t now, time_t wall, char *out,
		     size_t cap, struct registrar_result *res, struct registrar_stats *st);

/*
 * For a REGISTER that sip_reg_parse parsed, called before other work on it
 * (the server transaction's lookup): when it carries credentials and its To
 * names a user, hash its AOR and start loading the location and subscriber
 * tables' slots for it (their cache and TLB misses overlap that work), and
 * set *hint for registrar_handle_reg (src->hint), which then does not hash
 * the AOR again. Otherwise hint->set is false. Changes nothing else; a
 * hint not passed on is harmless.
 */
void registrar_prefetch_reg(struct registrar *r, const struct sip_reg *reg,
			    struct registrar_hint *hint);

/* The Contacts one REGISTER may carry (more: 400 "Too many Contacts"). */
#define REGISTRAR_MAX_CONTACTS 32

/*
 * registrar_handle for a REGISTER that sip_reg_parse parsed (reg->valid_rc
 * 0) into a contacts array of REGISTRAR_MAX_CONTACTS: the registrar uses its
 * Request-URI, To, top Via, Contacts, first Authorization and Expires
 * instead of parsing those headers again (with another capacity the
 * Contacts are parsed again). The same answers and returns as
 * registrar_handle(&reg->msg).
 */
int registrar_handle_reg(struct registrar *r, const struct sip_reg *reg,
			 const struct registrar_src *src, uint64_t now, time_t wall, char *out,
			 size_t cap, struct registrar_result *res, struct registrar_stats *st);

#endif /* SIPREG_REGISTRAR_H */
