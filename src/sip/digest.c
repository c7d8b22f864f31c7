/* SPDX-License-Identifier: MIT */
/*
 * digest.c - Digest authentication (RFC 2617, RFC 7616, RFC 8760) over nettle.
 *
 * The hash contexts sit on the stack in one union; wire values (quoted-string
 * content from struct sip_auth) are hashed run by run between their
 * backslashes, so escapes are resolved without a copy or a length limit. Hex is
 * made from a nibble table. Nothing here allocates or calls printf.
 */
#include <errno.h>
#include <string.h>

#include <nettle/md5.h>
#include <nettle/sha2.h>

#include "sipreg/digest.h"

enum hkind { H_MD5, H_SHA256, H_SHA512_256 };

/* The text to hash is gathered in buf and given to nettle in one update
 * (a call per piece cost more than the copy: the pieces are a few bytes). */
#define HBUF 192

struct hctx {
	enum hkind kind;
	size_t n; /* bytes waiting in buf */
	union {
		struct md5_ctx md5;
		struct sha256_ctx sha256;
		struct sha512_ctx sha512;
	} u;
	char buf[HBUF];
};

static const char hexdig[16] = "0123456789abcdef";

/* The two hex digits of each byte, one 2-byte load per byte. */
static const char hexpair[512] =
	"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
	"202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"
	"404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f"
	"606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f"
	"808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f"
	"a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf"
	"c0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedf"
	"e0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff";

static inline void hex_bytes(const uint8_t *d, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		memcpy(out + 2 * i, hexpair + 2 * d[i], 2);
}

void digest_hex(char *out, const uint8_t *in, size_t n)
{
	hex_bytes(in, n, out);
}

/* -1 for an unknown algorithm */
static int alg_kind(enum sip_digest_alg alg)
{
	switch (alg) {
	case SIP_DIGEST_MD5:
	case SIP_DIGEST_MD5_SESS:
		return H_MD5;
	case SIP_DIGEST_SHA256:
	case SIP_DIGEST_SHA256_SESS:
		return H_SHA256;
	case SIP_DIGEST_SHA512_256:
	case SIP_DIGEST_SHA512_256_SESS:
		return H_SHA512_256;
	default:
		return -1;
	}
}

static inline size_t kind_hexlen(enum hkind k)
{
	return k == H_MD5 ? 2 * MD5_DIGEST_SIZE : 2 * SHA256_DIGEST_SIZE;
}

static void h_init(struct hctx *h, enum hkind k)
{
	h->kind = k;
	h->n = 0;
	switch (k) {
	case H_MD5:
		md5_init(&h->u.md5);
		break;
	case H_SHA256:
		sha256_init(&h->u.sha256);
		break;
	case H_SHA512_256:
		sha512_256_init(&h->u.sha512);
		break;
	}
}

static void h_nettle(struct hctx *h, const void *p, size_t n)
{
	const uint8_t *d = p;

	switch (h->kind) {
	case H_MD5:
		md5_update(&h->u.md5, n, d);
		break;
	case H_SHA256:
		sha256_update(&h->u.sha256, n, d);
		break;
	case H_SHA512_256:
		sha512_256_update(&h->u.sha512, n, d);
		break;
	}
}

static void h_flush(struct hctx *h)
{
	if (h->n) {
		h_nettle(h, h->buf, h->n);
		h->n = 0;
	}
}

static inline void h_upd(struct hctx *h, const void *p, size_t n)
{
	if (n > HBUF - h->n) {
		h_flush(h);
		if (n > HBUF) {
			h_nettle(h, p, n);
			return;
		}
	}
	memcpy(h->buf + h->n, p, n);
	h->n += n;
}

static inline void h_str(struct hctx *h, struct sip_str s)
{
	if (s.len)
		h_upd(h, s.p, s.len);
}

static inline void h_colon(struct hctx *h)
{
	if (h->n == HBUF)
		h_flush(h);
	h->buf[h->n++] = ':';
}

/* A wire value: quoted-pairs resolved on the fly (as sip_str_unquote does). */
static void h_wire(struct hctx *h, struct sip_str s)
{
	const char *p = s.p, *end = s.p + s.len;

	while (p < end) {
		const char *bs = memchr(p, '\\', (size_t)(end - p));
		if (!bs) {
			h_upd(h, p, (size_t)(end - p));
			return;
		}
		if (bs > p)
			h_upd(h, p, (size_t)(bs - p));
		if (bs + 1 < end) {
			h_upd(h, bs + 1, 1);
			p = bs + 2;
		} else {
			/* a lone trailing backslash stays, like sip_str_unquote */
			h_upd(h, bs, 1);
			p = end;
		}
	}
}

static inline void h_val(struct hctx *h, struct sip_str s, bool wire)
{
	if (wire)
		h_wire(h, s);
	else
		h_str(h, s);
}

/* Finish into lower-case hex + NUL; returns the hex length. */
static size_t h_hex(struct hctx *h, char *out)
{
	uint8_t d[SHA256_DIGEST_SIZE];
	size_t n;

	h_flush(h);
	switch (h->kind) {
	case H_MD5:
		n = MD5_DIGEST_SIZE;
		md5_digest(&h->u.md5, n, d);
		break;
	case H_SHA256:
		n = SHA256_DIGEST_SIZE;
		sha256_digest(&h->u.sha256, n, d);
		break;
	default:
		n = SHA512_256_DIGEST_SIZE;
		sha512_256_digest(&h->u.sha512, n, d);
		break;
	}
	hex_bytes(d, n, out);
	out[2 * n] = '\0';
	return 2 * n;
}

/* ------------------------------------------------------------------------ */
/* Algorithms                                                                */

static const char *const alg_names[] = {
	[SIP_DIGEST_MD5] = "MD5",
	[SIP_DIGEST_MD5_SESS] = "MD5-sess",
	[SIP_DIGEST_SHA256] = "SHA-256",
	[SIP_DIGEST_SHA256_SESS] = "SHA-256-sess",
	[SIP_DIGEST_SHA512_256] = "SHA-512-256",
	[SIP_DIGEST_SHA512_256_SESS] = "SHA-512-256-sess",
};

enum sip_digest_alg digest_alg_parse(struct sip_str name)
{
	if (name.len == 0)
		return SIP_DIGEST_MD5;
	for (unsigned i = 0; i < sizeof(alg_names) / sizeof(alg_names[0]); i++)
		if (sip_str_caseeq(name,
				   sip_str_make(alg_names[i], strlen(alg_names[i]))))
			return (enum sip_digest_alg)i;
	return SIP_DIGEST_UNKNOWN;
}

const char *digest_alg_name(enum sip_digest_alg alg)
{
	return alg_kind(alg) < 0 ? NULL : alg_names[alg];
}

size_t digest_hex_len(enum sip_digest_alg alg)
{
	int k = alg_kind(alg);

	return k < 0 ? 0 : kind_hexlen((enum hkind)k);
}

bool digest_alg_is_sess(enum sip_digest_alg alg)
{
	return alg == SIP_DIGEST_MD5_SESS || alg == SIP_DIGEST_SHA256_SESS ||
	       alg == SIP_DIGEST_SHA512_256_SESS;
}

/* ------------------------------------------------------------------------ */
/* The pieces                                                                */

static void calc_ha1(enum hkind k, struct sip_str user, struct sip_str realm, bool wire,
		     struct sip_str password, char *out)
{
	struct hctx h;

	h_init(&h, k);
	h_val(&h, user, wire);
	h_colon(&h);
	h_val(&h, realm, wire);
	h_colon(&h);
	h_str(&h, password);
	h_hex(&h, out);
}

/* h holds HA1 (hex): out = H(ha1:nonce:cnonce) */
static void sess_tail(struct hctx *h, struct sip_str nonce, struct sip_str cnonce, bool wire,
		      char *out)
{
	h_colon(h);
	h_val(h, nonce, wire);
	h_colon(h);
	h_val(h, cnonce, wire);
	h_hex(h, out);
}

/* out = H(ha1:nonce:cnonce); out may be ha1's buffer */
static void calc_sess(enum hkind k, const char *ha1, struct sip_str nonce,
		      struct sip_str cnonce, bool wire, char *out)
{
	struct hctx h;

	h_init(&h, k);
	h_upd(&h, ha1, kind_hexlen(k));
	sess_tail(&h, nonce, cnonce, wire, out);
}

static void calc_ha2(enum hkind k, struct sip_str method, struct sip_str uri, bool wire,
		     const struct sip_str *body, char *out)
{
	struct hctx h;
	char hb[DIGEST_HEX_SIZE];

	if (body) {
		h_init(&h, k);
		h_str(&h, *body);
		h_hex(&h, hb);
	}
	h_init(&h, k);
	h_str(&h, method);
	h_colon(&h);
	h_val(&h, uri, wire);
	if (body) {
		h_colon(&h);
		h_upd(&h, hb, kind_hexlen(k));
	}
	h_hex(&h, out);
}

/* h holds HA1 (hex, the session key for -sess): the rest of the response */
static void resp_tail(struct hctx *h, struct sip_str nonce, struct sip_str nc,
		      struct sip_str cnonce, struct sip_str qop, bool wire, const char *ha2,
		      char *out)
{
	h_colon(h);
	h_val(h, nonce, wire);
	h_colon(h);
	if (qop.len) {
		h_str(h, nc);
		h_colon(h);
		h_val(h, cnonce, wire);
		h_colon(h);
		h_str(h, qop);
		h_colon(h);
	}
	h_upd(h, ha2, kind_hexlen(h->kind));
	h_hex(h, out);
}

/*
 * The last HA2 = H(method:uri) of each hash the verifiers of this thread
 * computed: a registrar's REGISTERs mostly carry one Request-URI (its
 * domain), so the next one's HA2 is usually the same. Keyed by the method
 * and the uri's wire bytes as received (the same bytes unescape alike).
 * Per thread: no sharing, no locks (initial-exec TLS: no call to reach it).
 */
struct ha2_memo {
	uint8_t mlen, ulen; /* ulen 0: empty */
	char method[16];
	char uri[126];
	char ha2[DIGEST_HEX_MAX];
};

static _Thread_local struct ha2_memo ha2_memo[3] __attribute__((tls_model("initial-exec")));

static void ha2_memoized(enum hkind k, struct sip_str method, struct sip_str uri, char *out)
{
	struct ha2_memo *m = &ha2_memo[k];
	size_t hl = kind_hexlen(k);

	if (m->ulen && m->ulen == uri.len && m->mlen == method.len &&
	    memcmp(m->uri, uri.p, uri.len) == 0 && memcmp(m->method, method.p, method.len) == 0) {
		memcpy(out, m->ha2, hl);
		out[hl] = '\0';
		return;
	}
	calc_ha2(k, method, uri, true, NULL, out);
	if (uri.len && uri.len <= sizeof(m->uri) && method.len <= sizeof(m->method)) {
		m->ulen = (uint8_t)uri.len;
		m->mlen = (uint8_t)method.len;
		memcpy(m->uri, uri.p, uri.len);
		memcpy(m->method, method.p, method.len);
		memcpy(m->ha2, out, hl);
	}
}

static void calc_response(enum hkind k, const char *ha1, struct sip_str nonce,
			  struct sip_str nc, struct sip_str cnonce, struct sip_str qop,
			  bool wire, const char *ha2, char *out)
{
	struct hctx h;

	h_init(&h, k);
	h_upd(&h, ha1, kind_hexlen(k));
	resp_tail(&h, nonce, nc, cnonce, qop, wire, ha2, out);
}

static inline int hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Copy a hex digest of the right length as lower case; false if it is not. */
static bool hex_lower(struct sip_str in, size_t want, char *out)
{
	if (in.len != want)
		return false;
	for (size_t i = 0; i < want; i++) {
		int v = hexval((unsigned char)in.p[i]);
		if (v < 0)
			return false;
		out[i] = hexdig[v];
	}
	out[want] = '\0';
	return true;
}

int digest_ha1(enum sip_digest_alg alg, struct sip_str username, struct sip_str realm,
	       struct sip_str password, char *out)
{
	int k = alg_kind(alg);

	if (k < 0)
		return -ENOTSUP;
	calc_ha1((enum hkind)k, username, realm, false, password, out);
	return (int)kind_hexlen((enum hkind)k);
}

int digest_ha1_sess(enum sip_digest_alg alg, struct sip_str ha1, struct sip_str nonce,
		    struct sip_str cnonce, char *out)
{
	int k = alg_kind(alg);
	char h1[DIGEST_HEX_SIZE];

	if (k < 0)
		return -ENOTSUP;
	if (!hex_lower(ha1, kind_hexlen((enum hkind)k), h1))
		return -EINVAL;
	calc_sess((enum hkind)k, h1, nonce, cnonce, false, out);
	return (int)kind_hexlen((enum hkind)k);
}

int digest_ha2(enum sip_digest_alg alg, struct sip_str method, struct sip_str uri,
	       const struct sip_str *body, char *out)
{
	int k = alg_kind(alg);

	if (k < 0)
		return -ENOTSUP;
	calc_ha2((enum hkind)k, method, uri, false, body, out);
	return (int)kind_hexlen((enum hkind)k);
}

int digest_response(enum sip_digest_alg alg, struct sip_str ha1, struct sip_str nonce,
		    struct sip_str nc, struct sip_str cnonce, struct sip_str qop,
		    struct sip_str ha2, char *out)
{
	int k = alg_kind(alg);
	char h1[DIGEST_HEX_SIZE], h2[DIGEST_HEX_SIZE];
	size_t hl;

	if (k < 0)
		return -ENOTSUP;
	hl = kind_hexlen((enum hkind)k);
	if (!hex_lower(ha1, hl, h1) || !hex_lower(ha2, hl, h2))
		return -EINVAL;
	calc_response((enum hkind)k, h1, nonce, nc, cnonce, qop, false, h2, out);
	return (int)hl;
}

enum qop_kind { QOP_NONE, QOP_AUTH, QOP_AUTH_INT, QOP_BAD };

static enum qop_kind qop_of(struct sip_str qop)
{
	if (qop.len == 0)
		return QOP_NONE;
	if (sip_str_caseeq(qop, SIP_STR("auth")))
		return QOP_AUTH;
	if (sip_str_caseeq(qop, SIP_STR("auth-int")))
		return QOP_AUTH_INT;
	return QOP_BAD;
}

int digest_compute(const struct digest_input *in, char *out)
{
	int k = alg_kind(in->alg);
	enum qop_kind q = qop_of(in->qop);
	char ha1[DIGEST_HEX_SIZE], ha2[DIGEST_HEX_SIZE];

	if (k < 0 || q == QOP_BAD)
		return -ENOTSUP;
	calc_ha1((enum hkind)k, in->username, in->realm, false, in->password, ha1);
	if (digest_alg_is_sess(in->alg))
		calc_sess((enum hkind)k, ha1, in->nonce, in->cnonce, false, ha1);
	calc_ha2((enum hkind)k, in->method, in->uri, false,
		 q == QOP_AUTH_INT ? &in->body : NULL, ha2);
	calc_response((enum hkind)k, ha1, in->nonce, in->nc, in->cnonce, in->qop, false,
		      ha2, out);
	return (int)kind_hexlen((enum hkind)k);
}

/* ------------------------------------------------------------------------ */
/* Verification                                                              */

static enum sip_digest_alg cred_alg(const struct sip_auth *a)
{
	return sip_str_isset(a->algorithm) ? digest_alg_parse(a->algorithm) : a->alg;
}

/* The checks every verifier makes before hashing: the hash kind, or
 * -ENOTSUP / -EINVAL. */
static int verify_prep(const struct sip_auth *a, enum sip_digest_alg alg, enum qop_kind q)
{
	int k = alg_kind(alg);

	if (k < 0 || q == QOP_BAD || a->userhash)
		return -ENOTSUP;
	if (!sip_str_isset(a->username) || !sip_str_isset(a->realm) ||
	    !sip_str_isset(a->nonce) || !sip_str_isset(a->uri) ||
	    !sip_str_isset(a->response))
		return -EINVAL;
	if (q != QOP_NONE && (!a->nc.len || !sip_str_isset(a->cnonce)))
		return -EINVAL;
	if (digest_alg_is_sess(alg) && !sip_str_isset(a->cnonce))
		return -EINVAL;
	return k;
}

/* h holds HA1 (hex): the rest of the computation and the comparison. */
static int verify_finish(const struct sip_auth *a, struct hctx *h, bool sess,
			 enum qop_kind q, struct sip_str method, struct sip_str body)
{
	enum hkind k = h->kind;
	char ha1s[DIGEST_HEX_SIZE], ha2[DIGEST_HEX_SIZE], exp[DIGEST_HEX_SIZE];
	size_t hl = kind_hexlen(k);
	unsigned diff = 0;

	if (sess) {
		sess_tail(h, a->nonce, a->cnonce, true, ha1s);
		h_init(h, k);
		h_upd(h, ha1s, hl);
	}
	if (q == QOP_AUTH_INT)
		calc_ha2(k, method, a->uri, true, &body, ha2);
	else
		ha2_memoized(k, method, a->uri, ha2);
	resp_tail(h, a->nonce, a->nc, a->cnonce, a->qop, true, ha2, exp);
	/* the length is no secret; the digits are compared without an early exit */
	if (a->response.len != hl)
		return -EACCES;
	for (size_t i = 0; i < hl; i++)
		diff |= (unsigned char)(exp[i] ^ a->response.p[i]);
	return diff ? -EACCES : 0;
}

static int verify(const struct sip_auth *a, struct sip_str method, struct sip_str body,
		  struct sip_str password, const struct sip_str *stored_ha1)
{
	enum sip_digest_alg alg = cred_alg(a);
	enum qop_kind q = qop_of(a->qop);
	int k = verify_prep(a, alg, q);
	char ha1[DIGEST_HEX_SIZE];
	struct hctx h;

	if (k < 0)
		return k;
	if (stored_ha1) {
		if (!hex_lower(*stored_ha1, kind_hexlen((enum hkind)k), ha1))
			return -EINVAL;
	} else {
		calc_ha1((enum hkind)k, a->username, a->realm, true, password, ha1);
	}
	h_init(&h, (enum hkind)k);
	h_upd(&h, ha1, kind_hexlen((enum hkind)k));
	return verify_finish(a, &h, digest_alg_is_sess(alg), q, method, body);
}

int digest_verify(const struct sip_auth *cred, struct sip_str method, struct sip_str body,
		  struct sip_str password)
{
	return verify(cred, method, body, password, NULL);
}

int digest_verify_ha1(const struct sip_auth *cred, struct sip_str method,
		      struct sip_str body, struct sip_str ha1)
{
	return verify(cred, method, body, SIP_STR_NULL, &ha1);
}

/* ------------------------------------------------------------------------ */
/* Prepared keys                                                             */

/* n bytes from 2n lower-case hex digits (checked already by hex_lower) */
static void unhex_lower(const char *hex, uint8_t *out, size_t n)
{
	for (size_t i = 0; i < n; i++)
		out[i] = (uint8_t)(hexval((unsigned char)hex[2 * i]) << 4 |
				   hexval((unsigned char)hex[2 * i + 1]));
}

/* The SHA-256 state after one block (64 hex digits of HA1). nettle's
 * sha256_ctx is public: state, count (whole blocks compressed), index
 * (bytes waiting in block). */
static void key_set_sha256(struct digest_key *k, const char *ha1_hex)
{
	struct sha256_ctx c;

	sha256_init(&c);
	sha256_update(&c, 2 * SHA256_DIGEST_SIZE, (const uint8_t *)ha1_hex);
	memcpy(k->sha256, c.state, sizeof(k->sha256));
	k->have |= DIGEST_KEY_SHA256;
}

static void key_ctx_sha256(struct hctx *h, const struct digest_key *k)
{
	h->kind = H_SHA256;
	h->n = 0;
	memcpy(h->u.sha256.state, k->sha256, sizeof(k->sha256));
	h->u.sha256.count = 1;
	h->u.sha256.index = 0;
}

void digest_key_from_password(struct digest_key *k, struct sip_str username,
			      struct sip_str realm, struct sip_str password)
{
	char ha1[DIGEST_HEX_SIZE];

	memset(k, 0, sizeof(*k));
	calc_ha1(H_MD5, username, realm, false, password, ha1);
	unhex_lower(ha1, k->md5, sizeof(k->md5));
	k->have |= DIGEST_KEY_MD5;
	calc_ha1(H_SHA256, username, realm, false, password, ha1);
	key_set_sha256(k, ha1);
}

int digest_key_from_ha1(struct digest_key *k, struct sip_str ha1_md5,
			struct sip_str ha1_sha256)
{
	char ha1[DIGEST_HEX_SIZE];
	int r = 0;

	memset(k, 0, sizeof(*k));
	if (ha1_md5.len) {
		if (hex_lower(ha1_md5, 2 * MD5_DIGEST_SIZE, ha1)) {
			unhex_lower(ha1, k->md5, sizeof(k->md5));
			k->have |= DIGEST_KEY_MD5;
		} else {
			r = -EINVAL;
		}
	}
	if (ha1_sha256.len) {
		if (hex_lower(ha1_sha256, 2 * SHA256_DIGEST_SIZE, ha1))
			key_set_sha256(k, ha1);
		else
			r = -EINVAL;
	}
	return r;
}

int digest_verify_key(const struct sip_auth *cred, struct sip_str method,
		      struct sip_str body, const struct digest_key *key)
{
	enum sip_digest_alg alg = cred_alg(cred);
	enum qop_kind q = qop_of(cred->qop);
	int k = verify_prep(cred, alg, q), r;
	struct hctx h;
	bool have;

	if (k < 0)
		return k;
	if (k == H_MD5) {
		char hex[2 * sizeof(key->md5)];
		have = key->have & DIGEST_KEY_MD5;
		hex_bytes(key->md5, sizeof(key->md5), hex);
		h_init(&h, H_MD5);
		h_upd(&h, hex, sizeof(hex));
	} else if (k == H_SHA256) {
		have = key->have & DIGEST_KEY_SHA256;
		key_ctx_sha256(&h, key);
	} else {
		return -EACCES;
	}
	r = verify_finish(cred, &h, digest_alg_is_sess(alg), q, method, body);
	return have ? r : -EACCES;
}

/* ------------------------------------------------------------------------ */
/* Challenges and credentials                                                */

/* Can s sit between quotes as it is (RFC 3261 §25.1 quoted-string)? */
static bool wire_ok(struct sip_str s)
{
	for (size_t i = 0; i < s.len; i++) {
		char c = s.p[i];
		if (c == '\r' || c == '\n' || c == '"')
			return false;
		if (c == '\\') {
			if (++i == s.len || s.p[i] == '\r' || s.p[i] == '\n')
				return false;
		}
	}
	return true;
}

static void put_wire(struct sip_write *w, const char *name, size_t nlen, struct sip_str v,
		     bool first)
{
	if (!wire_ok(v)) {
		if (!w->err)
			w->err = -EINVAL;
		return;
	}
	if (!first)
		sip_write_mem(w, ", ", 2);
	sip_write_mem(w, name, nlen);
	sip_write_mem(w, "=\"", 2);
	sip_write_str(w, v);
	sip_write_char(w, '"');
}

#define PUTW(w, lit, v, first) put_wire((w), lit, sizeof(lit) - 1, (v), (first))
#define PUT(w, lit) sip_write_mem((w), "" lit, sizeof(lit) - 1)

static void put_alg(struct sip_write *w, enum sip_digest_alg alg)
{
	const char *n = digest_alg_name(alg);

	if (!n) {
		if (!w->err)
			w->err = -EINVAL;
		return;
	}
	PUT(w, ", algorithm=");
	sip_write_cstr(w, n);
}

void digest_challenge_put(struct sip_write *w, const struct digest_challenge *c)
{
	PUT(w, "Digest ");
	PUTW(w, "realm", c->realm, true);
	PUTW(w, "nonce", c->nonce, false);
	if (sip_str_isset(c->opaque))
		PUTW(w, "opaque", c->opaque, false);
	put_alg(w, c->alg);
	if (c->qop_auth)
		PUT(w, ", qop=\"auth\"");
	if (c->stale)
		PUT(w, ", stale=true");
}

void digest_credentials_put(struct sip_write *w, const struct digest_credentials *c)
{
	enum qop_kind q = qop_of(c->qop);

	if (q == QOP_BAD) {
		if (!w->err)
			w->err = -EINVAL;
		return;
	}
	PUT(w, "Digest ");
	PUTW(w, "username", c->username, true);
	PUTW(w, "realm", c->realm, false);
	PUTW(w, "nonce", c->nonce, false);
	PUTW(w, "uri", c->uri, false);
	PUTW(w, "response", c->response, false);
	put_alg(w, c->alg);
	if (q != QOP_NONE || digest_alg_is_sess(c->alg))
		PUTW(w, "cnonce", c->cnonce, false);
	if (sip_str_isset(c->opaque))
		PUTW(w, "opaque", c->opaque, false);
	if (q != QOP_NONE) {
		PUT(w, ", qop=");
		sip_write_str(w, q == QOP_AUTH ? SIP_STR("auth") : SIP_STR("auth-int"));
		PUT(w, ", nc=");
		sip_write_hex8(w, c->nc);
	}
}

static int finish_buf(struct sip_write *w)
{
	int r = sip_write_result(w);

	if (r >= 0 && w->len < w->cap)
		w->buf[w->len] = '\0';
	return r;
}

int digest_challenge_write(char *buf, size_t cap, const struct digest_challenge *c)
{
	struct sip_write w;

	sip_write_init(&w, buf, cap);
	digest_challenge_put(&w, c);
	return finish_buf(&w);
}

int digest_credentials_write(char *buf, size_t cap, const struct digest_credentials *c)
{
	struct sip_write w;

	sip_write_init(&w, buf, cap);
	digest_credentials_put(&w, c);
	return finish_buf(&w);
}

/* Which qop to answer from a challenge's list ("auth,auth-int", quotes gone). */
static enum qop_kind pick_qop(struct sip_str list)
{
	bool auth = false, auth_int = false, any = false;
	size_t i = 0;

	while (i < list.len) {
		while (i < list.len &&
		       (list.p[i] == ',' || list.p[i] == ' ' || list.p[i] == '\t'))
			i++;
		size_t s = i;
		while (i < list.len && list.p[i] != ',' && list.p[i] != ' ' &&
		       list.p[i] != '\t')
			i++;
		struct sip_str tok = sip_str_make(list.p + s, i - s);
		if (!tok.len)
			continue;
		any = true;
		if (sip_str_caseeq(tok, SIP_STR("auth")))
			auth = true;
		else if (sip_str_caseeq(tok, SIP_STR("auth-int")))
			auth_int = true;
	}
	if (!any)
		return QOP_NONE;
	return auth ? QOP_AUTH : auth_int ? QOP_AUTH_INT : QOP_BAD;
}

int digest_answer(struct sip_write *w, const struct sip_auth *ch, struct sip_str username,
		  struct sip_str password, struct sip_str method, struct sip_str uri,
		  struct sip_str body, struct sip_str cnonce, uint32_t nc)
{
	enum sip_digest_alg alg = cred_alg(ch);
	int k = alg_kind(alg);
	enum qop_kind q = pick_qop(ch->qop);
	char ha1[DIGEST_HEX_SIZE], ha2[DIGEST_HEX_SIZE], resp[DIGEST_HEX_SIZE], ncs[8];
	struct sip_str qop = q == QOP_AUTH       ? SIP_STR("auth")
			     : q == QOP_AUTH_INT ? SIP_STR("auth-int")
						 : SIP_STR_NULL;

	if (k < 0 || q == QOP_BAD)
		return -ENOTSUP;
	if (!sip_str_isset(ch->realm) || !sip_str_isset(ch->nonce) ||
	    !wire_ok(ch->realm) || !wire_ok(ch->nonce) ||
	    (sip_str_isset(ch->opaque) && !wire_ok(ch->opaque)))
		return -EINVAL;
	if ((q != QOP_NONE || digest_alg_is_sess(alg)) && !cnonce.len)
		return -EINVAL;
	for (int i = 7; i >= 0; i--, nc >>= 4)
		ncs[i] = hexdig[nc & 0xf];

	/* username and password are raw; realm and nonce come off the wire */
	struct hctx h;
	h_init(&h, (enum hkind)k);
	h_str(&h, username);
	h_colon(&h);
	h_wire(&h, ch->realm);
	h_colon(&h);
	h_str(&h, password);
	h_hex(&h, ha1);
	if (digest_alg_is_sess(alg)) {
		h_init(&h, (enum hkind)k);
		h_upd(&h, ha1, kind_hexlen((enum hkind)k));
		h_colon(&h);
		h_wire(&h, ch->nonce);
		h_colon(&h);
		h_str(&h, cnonce);
		h_hex(&h, ha1);
	}
	calc_ha2((enum hkind)k, method, uri, false, q == QOP_AUTH_INT ? &body : NULL,
		 ha2);
	h_init(&h, (enum hkind)k);
	h_upd(&h, ha1, kind_hexlen((enum hkind)k));
	h_colon(&h);
	h_wire(&h, ch->nonce);
	h_colon(&h);
	if (q != QOP_NONE) {
		h_upd(&h, ncs, 8);
		h_colon(&h);
		h_str(&h, cnonce);
		h_colon(&h);
		h_str(&h, qop);
		h_colon(&h);
	}
	h_upd(&h, ha2, kind_hexlen((enum hkind)k));
	h_hex(&h, resp);

	PUT(w, "Digest username=");
	sip_write_quoted(w, username);
	PUTW(w, "realm", ch->realm, false);
	PUTW(w, "nonce", ch->nonce, false);
	PUT(w, ", uri=");
	sip_write_quoted(w, uri);
	PUT(w, ", response=\"");
	sip_write_mem(w, resp, kind_hexlen((enum hkind)k));
	sip_write_char(w, '"');
	put_alg(w, alg);
	if (q != QOP_NONE || digest_alg_is_sess(alg)) {
		PUT(w, ", cnonce=");
		sip_write_quoted(w, cnonce);
	}
	if (sip_str_isset(ch->opaque))
		PUTW(w, "opaque", ch->opaque, false);
	if (q != QOP_NONE) {
		PUT(w, ", qop=");
		sip_write_str(w, qop);
		PUT(w, ", nc=");
		sip_write_mem(w, ncs, 8);
	}
	return 0;
}
