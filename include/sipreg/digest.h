/* SPDX-License-Identifier: MIT */
/*
 * digest.h - HTTP Digest authentication for SIP (RFC 2617, RFC 3261 §22.4,
 * RFC 7616, RFC 8760): MD5, SHA-256 and SHA-512/256 (FIPS 180-4, nettle's
 * sha512_256, not a truncated SHA-512), each with its -sess form; qop=auth,
 * qop=auth-int and no qop (RFC 2069).
 *
 *   HA1      = H(username ":" realm ":" password)
 *   HA1-sess = H(HA1 ":" nonce ":" cnonce)                  (*-sess)
 *   HA2      = H(method ":" uri)                            (auth, no qop)
 *   HA2      = H(method ":" uri ":" H(body))                (auth-int)
 *   response = H(HA1 ":" nonce ":" nc ":" cnonce ":" qop ":" HA2)
 *   response = H(HA1 ":" nonce ":" HA2)                     (no qop)
 *
 * Every H() is lower-case hex. Hex outputs go to caller buffers of
 * DIGEST_HEX_SIZE bytes (the longest digest, 64 hex digits, plus a NUL).
 *
 * The hash path allocates nothing and formats nothing with printf: the hash
 * contexts live on the stack and hex is made by table.
 *
 * Raw and wire values: functions taking "raw" text hash it as given. Values
 * from a parsed struct sip_auth (sip.h) are "wire" values, the content of a
 * quoted-string with its quoted-pair escapes still in: the verifiers resolve
 * the escapes (\" -> ", \\ -> \) while hashing, as sip_str_unquote would, with
 * no length limit and no copy.
 *
 * Threads: all functions are reentrant and touch only their arguments, but
 * for the verifiers' per-thread memo of the last HA2 (method:uri, as
 * received) of each hash, which spares a REGISTER for the registrar's usual
 * Request-URI one hash.
 */
#ifndef SIPREG_DIGEST_H
#define SIPREG_DIGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sipreg/sip.h"
#include "sipreg/sip_write.h"

/* Hex digits of the longest digest (SHA-256, SHA-512/256). */
#define DIGEST_HEX_MAX 64
/* Size of a buffer that holds any hex digest and its NUL. */
#define DIGEST_HEX_SIZE (DIGEST_HEX_MAX + 1)

/* ------------------------------------------------------------------------ */
/* Algorithms                                                                */

/* The algorithm named by an "algorithm" parameter value (any case, quoted or
 * not): "MD5", "MD5-sess", "SHA-256", "SHA-256-sess", "SHA-512-256",
 * "SHA-512-256-sess". An unset or empty name is MD5 (RFC 2617 default); any
 * other name is SIP_DIGEST_UNKNOWN. */
enum sip_digest_alg digest_alg_parse(struct sip_str name);
/* The canonical name ("SHA-256-sess"), or NULL for SIP_DIGEST_UNKNOWN. */
const char *digest_alg_name(enum sip_digest_alg alg);
/* Hex digits of the algorithm's digest: 32 or 64; 0 for an unknown one. */
size_t digest_hex_len(enum sip_digest_alg alg);
/* True for the -sess forms. */
bool digest_alg_is_sess(enum sip_digest_alg alg);

/* Lower-case hex of n bytes into out (2n bytes, no NUL): two digits a byte
 * from one table. Shared by the digest, nonce and trunk code. */
void digest_hex(char *out, const uint8_t *in, size_t n);

/* ------------------------------------------------------------------------ */
/* The pieces. Each writes lower-case hex and a NUL to out (DIGEST_HEX_SIZE
 * bytes) and returns the number of hex digits (32 or 64), or
 *   -ENOTSUP  alg is SIP_DIGEST_UNKNOWN (or out of range);
 *   -EINVAL   a hex input (ha1, ha2) is not the algorithm's hex length.
 * All text arguments are raw. For the -sess forms, alg picks only the hash. */

/* HA1 = H(username:realm:password), the value a registrar may store. */
int digest_ha1(enum sip_digest_alg alg, struct sip_str username, struct sip_str realm,
	       struct sip_str password, char *out);
/* The -sess session key H(ha1:nonce:cnonce) from a plain HA1 (hex). */
int digest_ha1_sess(enum sip_digest_alg alg, struct sip_str ha1, struct sip_str nonce,
		    struct sip_str cnonce, char *out);
/* HA2 = H(method:uri); with body != NULL (qop=auth-int) H(method:uri:H(body)). */
int digest_ha2(enum sip_digest_alg alg, struct sip_str method, struct sip_str uri,
	       const struct sip_str *body, char *out);
/* The response from HA1 (already the session key for -sess) and HA2; an unset
 * or empty qop gives the RFC 2069 form H(HA1:nonce:HA2). */
int digest_response(enum sip_digest_alg alg, struct sip_str ha1, struct sip_str nonce,
		    struct sip_str nc, struct sip_str cnonce, struct sip_str qop,
		    struct sip_str ha2, char *out);

/* Everything a response is computed from; all raw. */
struct digest_input {
	enum sip_digest_alg alg;
	struct sip_str username, realm, password;
	struct sip_str nonce, cnonce, nc; /* nc: the 8 hex digits as sent */
	struct sip_str qop;               /* unset/"" (none), "auth", "auth-int" */
	struct sip_str method, uri;
	struct sip_str body; /* hashed for auth-int only */
};

/* The whole computation. Returns the hex length, or -ENOTSUP (unknown alg or
 * qop other than none, auth, auth-int). */
int digest_compute(const struct digest_input *in, char *out);

/* ------------------------------------------------------------------------ */
/* Verification (registrar side)                                              */

/*
 * Check the credentials cred (a parsed Authorization / Proxy-Authorization)
 * of a request with the given method and body against the subscriber's
 * password (digest_verify) or stored HA1 (digest_verify_ha1: the plain
 * H(username:realm:password) of the credential's hash, hex in any case).
 * The algorithm comes from cred->algorithm when it is set, else cred->alg.
 * The response is compared in constant time (every digit is looked at); it
 * must be lower-case hex of the algorithm's length (RFC 7616 LHEX).
 *
 * This checks the response only: that the nonce is one the registrar issued
 * and still valid, that nc has not been seen, that realm and uri are the
 * expected ones, is the caller's business.
 *
 * Returns 0 when the response matches, or
 *   -EACCES   it does not (wrong password, nonce, uri, method, ... or a
 *             response of the wrong length or case);
 *   -EINVAL   username, realm, nonce, uri or response is missing, qop is set
 *             without nc or cnonce, a -sess algorithm comes without cnonce, or the stored
 * HA1 has the wrong length or is not hex; -ENOTSUP  unknown algorithm, a qop other than
 * auth / auth-int, or userhash=true (the username is then a hash the caller must resolve
 * first).
 */
int digest_verify(const struct sip_auth *cred, struct sip_str method, struct sip_str body,
		  struct sip_str password);
int digest_verify_ha1(const struct sip_auth *cred, struct sip_str method,
		      struct sip_str body, struct sip_str ha1);

/* ------------------------------------------------------------------------ */
/* Prepared keys (registrar side)                                            */

/*
 * A subscriber's secret made ready for the verifier once, when the
 * subscriber is loaded or changed, so that a request computes no HA1:
 *   md5     the MD5 HA1 (16 bytes; hex-encoded when used);
 *   sha256  the SHA-256 state after the SHA-256 HA1's 64 hex digits, which
 *           are exactly one block: the response and the -sess key both
 *           begin with that block, so it is never hashed again.
 * 52 bytes; copy it freely. A key holds no SHA-512/256 HA1.
 */
enum { DIGEST_KEY_MD5 = 1, DIGEST_KEY_SHA256 = 2 };

struct digest_key {
	uint32_t sha256[8];
	uint8_t md5[16];
	uint8_t have; /* DIGEST_KEY_* bits: which of the two is set */
};

/* From the raw username, realm and password (both hashes). */
void digest_key_from_password(struct digest_key *k, struct sip_str username,
			      struct sip_str realm, struct sip_str password);
/*
 * From stored HA1s (hex, any case; an empty one is left out of the key).
 * Returns 0, or -EINVAL when a non-empty one has the wrong length or is not
 * hex (*k then holds the other one, if good).
 */
int digest_key_from_ha1(struct digest_key *k, struct sip_str ha1_md5,
			struct sip_str ha1_sha256);

/*
 * digest_verify with a prepared key: the same checks and answers, but the
 * credentials' username and realm are not hashed: the caller vouches that
 * the key was made for them (their unescaped values). A key without the
 * credential algorithm's hash (or SHA-512/256) answers -EACCES after doing
 * the same work as one with it (MD5 and SHA-256).
 * Returns 0, -EACCES, -EINVAL or -ENOTSUP as digest_verify.
 */
int digest_verify_key(const struct sip_auth *cred, struct sip_str method,
		      struct sip_str body, const struct digest_key *key);

/* ------------------------------------------------------------------------ */
/* Challenges and credentials on the wire                                    */

/* A WWW-Authenticate / Proxy-Authenticate value. Text fields are wire values
 * (the content between the quotes, escapes kept, as in struct sip_auth). */
struct digest_challenge {
	struct sip_str realm, nonce;
	struct sip_str opaque; /* unset: left out */
	enum sip_digest_alg alg;
	bool qop_auth; /* qop="auth" */
	bool stale;    /* stale=true */
};

/* An Authorization / Proxy-Authorization value. Text fields are wire values. */
struct digest_credentials {
	struct sip_str username, realm, nonce, uri, response;
	struct sip_str cnonce; /* written with qop or a -sess algorithm */
	struct sip_str opaque; /* unset: left out */
	struct sip_str qop;    /* unset/"" (none), "auth" or "auth-int" */
	uint32_t nc;           /* written with qop, as 8 hex digits */
	enum sip_digest_alg alg;
};

/*
 * Append the value (not the header name) to a cursor:
 *   Digest realm="r", nonce="n", opaque="o", algorithm=MD5, qop="auth", stale=true
 *   Digest username="u", realm="r", nonce="n", uri="sip:x", response="...",
 *          algorithm=MD5, cnonce="c", opaque="o", qop=auth, nc=00000001
 * A wire value that cannot sit between quotes (a bare '"', a trailing lone
 * '\', CR or LF) or an unknown algorithm makes the cursor's result -EINVAL.
 */
void digest_challenge_put(struct sip_write *w, const struct digest_challenge *c);
void digest_credentials_put(struct sip_write *w, const struct digest_credentials *c);

/* The same into buf: the length (without NUL; a NUL is added when it fits), or
 *   -ENOSPC  it does not fit in cap (nothing is written past cap);
 *   -EINVAL  see above. */
int digest_challenge_write(char *buf, size_t cap, const struct digest_challenge *c);
int digest_credentials_write(char *buf, size_t cap, const struct digest_credentials *c);

/*
 * User agent side: answer a parsed challenge (401 WWW-Authenticate or 407
 * Proxy-Authenticate) for a request (method, Request-URI uri, body) with the
 * raw username and password; cnonce (a fresh random token) and nc (1 for the
 * first use of a nonce) are used only when the challenge offers qop. Picks
 * qop=auth when offered, else auth-int, else none. Appends the credentials
 * value to w (realm, nonce, opaque and algorithm echoed from the challenge).
 *
 * Returns 0 (the cursor's result says whether it fit), or
 *   -ENOTSUP  unknown algorithm, or a qop list with neither auth nor auth-int;
 *   -EINVAL   the challenge lacks realm or nonce (or one cannot sit between
 *             quotes), or cnonce is empty while qop is offered or the
 *             algorithm is a -sess one (cnonce is then sent even without qop).
 * On error nothing is appended.
 */
int digest_answer(struct sip_write *w, const struct sip_auth *challenge,
		  struct sip_str username, struct sip_str password, struct sip_str method,
		  struct sip_str uri, struct sip_str body, struct sip_str cnonce,
		  uint32_t nc);

#endif /* SIPREG_DIGEST_H */
