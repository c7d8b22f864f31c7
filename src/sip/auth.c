/* SPDX-License-Identifier: MIT */
/*
 * auth.c - Authorization / Proxy-Authorization (credentials) and
 * WWW-Authenticate / Proxy-Authenticate (challenges): RFC 3261 §25.1,
 * RFC 7616 (HTTP Digest), RFC 8760 (SHA-256 and SHA-512/256 in SIP).
 *
 *   challenge       = ("Digest" LWS digest-cln *(COMMA digest-cln)) / other-challenge
 *   other-challenge = auth-scheme LWS auth-param *(COMMA auth-param)
 *   digest-cln      = realm / domain / nonce / opaque / stale / algorithm
 *                     / qop-options / auth-param
 *   credentials     = ("Digest" LWS digest-response) / other-response
 *   digest-response = dig-resp *(COMMA dig-resp)
 *   dig-resp        = username / realm / nonce / digest-uri / dresponse
 *                     / algorithm / cnonce / opaque / message-qop
 *                     / nonce-count / auth-param
 *   auth-param      = auth-param-name EQUAL ( token / quoted-string )
 *   auth-scheme     = token
 *   nonce-count     = "nc" EQUAL nc-value      ; nc-value = 8LHEX
 *   stale           = "stale" EQUAL ( "true" / "false" )
 *   algorithm       = "algorithm" EQUAL ( "MD5" / "MD5-sess" / token )
 *   userhash        = "userhash" EQUAL ( "true" / "false" )   ; RFC 7616 §3.4
 *   COMMA = SWS "," SWS       EQUAL = SWS "=" SWS
 *
 * Choices:
 * - Parameter names and the algorithm, stale and userhash values are
 *   case-insensitive. An algorithm outside RFC 7616 / 8760 is
 *   SIP_DIGEST_UNKNOWN (the caller answers with a new challenge); absent, it
 *   is MD5. stale / userhash other than "true" are false.
 * - nc must be exactly 8 HEXDIG (upper or lower case).
 * - A known parameter given twice is an error; unknown ones are tolerated
 *   (params keeps everything raw). At least one parameter is required.
 * - err->off is relative to value.
 */
#include "charclass.h"

#define FAIL(reason, at) cc_fail(err, "Bad Authorization: " reason, value.p, (at))

enum {
	AP_USERNAME = 1 << 0,
	AP_REALM = 1 << 1,
	AP_NONCE = 1 << 2,
	AP_URI = 1 << 3,
	AP_RESPONSE = 1 << 4,
	AP_CNONCE = 1 << 5,
	AP_OPAQUE = 1 << 6,
	AP_QOP = 1 << 7,
	AP_NC = 1 << 8,
	AP_ALGORITHM = 1 << 9,
	AP_DOMAIN = 1 << 10,
	AP_STALE = 1 << 11,
	AP_USERHASH = 1 << 12,
};

/* The slot of a known parameter name, or NULL (and *bit = 0). One switch on
 * the length and the first two letters, then one word compare. */
static struct sip_str *auth_slot(struct sip_auth *a, struct sip_str n, unsigned *bit)
{
#define KEY(len, c0, c1) ((unsigned)(len) << 16 | (unsigned)(c0) << 8 | (unsigned)(c1))
#define K(lit, b, field)                                                                \
	if (CC_LIT_CASEEQ(n.p, n.len, lit)) {                                             \
		*bit = (b);                                                             \
		return (field);                                                         \
	}                                                                               \
	break
	*bit = 0;
	if (n.len < 2 || n.len > 9)
		return NULL;
	switch (KEY(n.len, n.p[0] | 0x20, n.p[1] | 0x20)) {
	case KEY(2, 'n', 'c'):
		K("nc", AP_NC, &a->nc);
	case KEY(3, 'u', 'r'):
		K("uri", AP_URI, &a->uri);
	case KEY(3, 'q', 'o'):
		K("qop", AP_QOP, &a->qop);
	case KEY(5, 'n', 'o'):
		K("nonce", AP_NONCE, &a->nonce);
	case KEY(5, 'r', 'e'):
		K("realm", AP_REALM, &a->realm);
	case KEY(5, 's', 't'):
		K("stale", AP_STALE, NULL);
	case KEY(6, 'c', 'n'):
		K("cnonce", AP_CNONCE, &a->cnonce);
	case KEY(6, 'o', 'p'):
		K("opaque", AP_OPAQUE, &a->opaque);
	case KEY(6, 'd', 'o'):
		K("domain", AP_DOMAIN, &a->domain);
	case KEY(8, 'u', 's'):
		if ((n.p[4] | 0x20) == 'h') {
			K("userhash", AP_USERHASH, NULL);
		}
		K("username", AP_USERNAME, &a->username);
	case KEY(8, 'r', 'e'):
		K("response", AP_RESPONSE, &a->response);
	case KEY(9, 'a', 'l'):
		K("algorithm", AP_ALGORITHM, &a->algorithm);
	}
#undef K
#undef KEY
	return NULL;
}

static enum sip_digest_alg alg_of(struct sip_str v)
{
	switch (v.len) {
	case 3:
		return CC_LIT_CASEEQ(v.p, v.len, "md5") ? SIP_DIGEST_MD5 : SIP_DIGEST_UNKNOWN;
	case 7:
		return CC_LIT_CASEEQ(v.p, v.len, "sha-256") ? SIP_DIGEST_SHA256
							    : SIP_DIGEST_UNKNOWN;
	case 8:
		return CC_LIT_CASEEQ(v.p, v.len, "md5-sess") ? SIP_DIGEST_MD5_SESS
							     : SIP_DIGEST_UNKNOWN;
	case 11:
		return CC_LIT_CASEEQ(v.p, v.len, "sha-512-256") ? SIP_DIGEST_SHA512_256
								: SIP_DIGEST_UNKNOWN;
	case 12:
		return CC_LIT_CASEEQ(v.p, v.len, "sha-256-sess") ? SIP_DIGEST_SHA256_SESS
								 : SIP_DIGEST_UNKNOWN;
	case 16:
		return CC_LIT_CASEEQ(v.p, v.len, "sha-512-256-sess")
			       ? SIP_DIGEST_SHA512_256_SESS
			       : SIP_DIGEST_UNKNOWN;
	default:
		return SIP_DIGEST_UNKNOWN;
	}
}

/*
 * nc-value = 8LHEX; false when not exactly 8 hex digits (either case). The
 * eight bytes as one little-endian word (SWAR): each byte checked to be
 * '0'-'9' or, with 0x20 ORed in, 'a'-'f' (no byte of 0x80 or more, so no
 * carry crosses a byte), turned into its nibble, and the nibbles gathered
 * first-is-most-significant.
 */
static bool parse_nc(struct sip_str v, uint32_t *out)
{
	const uint64_t ones = 0x0101010101010101ull, hi = 0x8080808080808080ull;
	uint64_t w, lw, dig, alp, x, a, b;

	if (v.len != 8)
		return false;
	memcpy(&w, v.p, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	w = __builtin_bswap64(w);
#endif
	if (w & hi)
		return false;
	lw = w | 0x20 * ones;
	/* bit 7 of a byte set when it is in range: x + (0x80 - lo) carries into
	 * bit 7 and x + (0x7f - hi) does not */
	dig = (w + (0x80 - '0') * ones) & ~(w + (0x7f - '9') * ones) & hi;
	alp = (lw + (0x80 - 'a') * ones) & ~(lw + (0x7f - 'f') * ones) & hi;
	if ((dig | alp) != hi)
		return false;
	x = (w & 0x0f * ones) + 9 * (alp >> 7);           /* nibbles n0 .. n7 */
	a = ((x << 4) | (x >> 8)) & 0x00ff00ff00ff00ffull; /* n0n1, n2n3, ... */
	b = (a | (a >> 8)) & 0x0000ffff0000ffffull;
	*out = __builtin_bswap32((uint32_t)(b | (b >> 16)));
	return true;
}

/* Fill the field of one known parameter (bit, slot as auth_slot gives
 * them): NULL, or why it is bad. */
static const char *auth_apply(struct sip_auth *a, unsigned bit, struct sip_str *slot,
			      struct sip_str v, unsigned *seen)
{
	if (bit == 0)
		return NULL;
	if (unlikely(*seen & bit))
		return "Bad Authorization: duplicate parameter";
	*seen |= bit;
	if (slot)
		*slot = v;
	if (likely(!(bit & (AP_NC | AP_ALGORITHM | AP_STALE | AP_USERHASH))))
		return NULL;
	switch (bit) {
	case AP_NC:
		if (unlikely(!parse_nc(v, &a->nc_val)))
			return "Bad Authorization: nc is not 8 hex digits";
		a->has_nc = true;
		break;
	case AP_ALGORITHM:
		a->alg = alg_of(v);
		break;
	case AP_STALE:
		a->stale = CC_LIT_CASEEQ(v.p, v.len, "true");
		break;
	case AP_USERHASH:
		a->userhash = CC_LIT_CASEEQ(v.p, v.len, "true");
		break;
	}
	return NULL;
}

/*
 * The usual case, without a token scan: p starts with a known name directly
 * followed by '='. One 8-byte load (case folded with | 0x20, exact for
 * letters), a switch on the first letter and one or two masked compares.
 * Returns the name length with *bit and *slot set, or 0 (the caller then
 * scans a token and looks it up). The first-letter switch reads the low byte
 * of the load, the first byte on any host (cc_load).
 */
static unsigned auth_known(struct sip_auth *a, const char *p, const char *end, unsigned *bit,
			   struct sip_str **slot)
{
#define M(n) ((n) >= 8 ? ~0ull : (1ull << (8 * (n))) - 1)
#define T(lit, b, field)                                                                \
	if ((w & M(sizeof(lit) - 1)) == CC_LIT8(lit) && p[sizeof(lit) - 1] == '=') {     \
		*bit = (b);                                                             \
		*slot = (field);                                                        \
		return sizeof(lit) - 1;                                                 \
	}
	uint64_t w;

	if (end - p < 10)
		return 0;
	w = cc_load(p, 8) | 0x2020202020202020ull;
	switch ((unsigned char)w) {
	case 'a':
		if (w == CC_LIT8("algorith") && (p[8] | 0x20) == 'm' && p[9] == '=') {
			*bit = AP_ALGORITHM;
			*slot = &a->algorithm;
			return 9;
		}
		break;
	case 'c':
		T("cnonce", AP_CNONCE, &a->cnonce);
		break;
	case 'd':
		T("domain", AP_DOMAIN, &a->domain);
		break;
	case 'n':
		T("nonce", AP_NONCE, &a->nonce);
		T("nc", AP_NC, &a->nc);
		break;
	case 'o':
		T("opaque", AP_OPAQUE, &a->opaque);
		break;
	case 'q':
		T("qop", AP_QOP, &a->qop);
		break;
	case 'r':
		T("realm", AP_REALM, &a->realm);
		T("response", AP_RESPONSE, &a->response);
		break;
	case 's':
		T("stale", AP_STALE, NULL);
		break;
	case 'u':
		T("username", AP_USERNAME, &a->username);
		T("uri", AP_URI, &a->uri);
		T("userhash", AP_USERHASH, NULL);
		break;
	}
	return 0;
#undef T
#undef M
}

/* One auth-param at p: name, '=', value (LWS allowed around '='). Returns
 * the cursor after the value, or NULL with *why set. */
static const char *auth_one(struct sip_auth *a, const char *p, const char *end, unsigned *seen,
			    const char **why, const char **at)
{
	struct sip_str n, v, *slot = NULL;
	unsigned bit = 0, len = auth_known(a, p, end, &bit, &slot);
	const char *r, *q;

	*at = p;
	if (likely(len != 0)) {
		n = sip_str_make(p, len);
		r = p + len + 1;
		if (unlikely(r != end && (unsigned char)*r <= ' '))
			r = cc_skip_ws(r, end);
		if (unlikely(r == end)) {
			*why = "Bad Authorization: bad parameter";
			return NULL;
		}
		if (*r == '"') {
			q = cc_quoted_end(r + 1, end);
			if (unlikely(q == NULL)) {
				*why = "Bad Authorization: bad parameter";
				return NULL;
			}
			v = sip_str_make(r + 1, (size_t)(q - r - 1));
			q++;
		} else {
			q = cc_span(r, end, CC_PVAL);
			if (unlikely(q == r)) {
				*why = "Bad Authorization: bad parameter";
				return NULL;
			}
			v = sip_str_make(r, (size_t)(q - r));
		}
	} else {
		q = cc_param_read(p, end, &n, &v);
		if (unlikely(q == NULL)) {
			*why = "Bad Authorization: bad parameter";
			return NULL;
		}
		if (unlikely(v.p == NULL)) {
			*why = "Bad Authorization: parameter without a value";
			return NULL;
		}
		slot = auth_slot(a, n, &bit);
	}
	*at = n.p;
	*why = auth_apply(a, bit, slot, v, seen);
	return *why ? NULL : q;
}

int sip_auth_parse(struct sip_auth *a, struct sip_str value, struct sip_err *err)
{
	const char *end = value.p + value.len, *p, *q;
	const char *why;
	unsigned seen = 0;

	if (unlikely(value.len == 0))
		return FAIL("empty value", value.p);
	cc_zero(a, sizeof(*a)); /* every field unset, alg MD5 (0) */
	p = cc_skip_ws(value.p, end);
	q = cc_span(p, end, CC_TOKEN);
	if (unlikely(q == p))
		return FAIL("missing scheme", p);
	a->scheme = sip_str_make(p, (size_t)(q - p));
	p = cc_skip_ws(q, end);
	if (unlikely(p == q || p == end))
		return FAIL("missing parameters", p);
	a->params.p = p;
	for (;;) {
		const char *at;

		q = auth_one(a, p, end, &seen, &why, &at);
		if (unlikely(q == NULL))
			return cc_fail(err, why, value.p, at);
		p = q;
		/* the usual ", " before the next name, in one step */
		if (likely(end - p >= 3 && p[0] == ',' && p[1] == ' ' &&
			   (unsigned char)p[2] > ' ' && p[2] != ',')) {
			p += 2;
			continue;
		}
		if (p == end)
			break;
		if (unlikely(*p != ',')) {
			p = cc_skip_ws(p, end);
			if (p == end)
				break;
			if (unlikely(*p != ','))
				return FAIL("expected ','", p);
		}
		p++;
		if (likely(p != end && *p == ' '))
			p++;
		if (unlikely(p != end && (unsigned char)*p <= ' '))
			p = cc_skip_ws(p, end);
		if (unlikely(p == end || *p == ','))
			return FAIL("empty parameter", p);
	}
	a->params.len = (size_t)(q - a->params.p);
	return 0;
}
