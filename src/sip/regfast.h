/* SPDX-License-Identifier: MIT */
/*
 * regfast.h - private to msg.c (included once, inside its AVX2 section): the
 * header-body parsers of the registration view's one pass (sip_reg_parse).
 *
 * Each one reads the usual form of its header only, exactly (no LWS beyond
 * the one SP the usual form has, the usual parameters, one element), and
 * returns false for anything else without a word about why: the caller then
 * runs the existing function on the same slice, which gives the answer. On
 * the forms they accept they fill exactly what the existing functions fill
 * (the unit test sip_reg and the fuzz target compare the two on every input).
 *
 * The input is a header value as the one pass leaves it: no control byte
 * (the split refused the message otherwise), no SP at either end. bend is the
 * end of the whole buffer: the 32-byte loads read at most up to it.
 *
 * Runs of one character class (token, user, param value) are spanned 16
 * bytes at a time: a byte's class bit is looked up by its two nibbles with
 * two byte shuffles (any set of ASCII bytes is exactly the AND of a
 * low-nibble table and a one-bit-per-row high-nibble table), the same sets
 * as sip_cc[] (charclass.h), which the scalar tail uses.
 */
#ifndef SIPREG_SIP_REGFAST_H
#define SIPREG_SIP_REGFAST_H

#include "uriscan.h"

/* The parsers below are called once per header line, each its own function
 * (gcc stops inlining the small helpers, cc_load among them, into one
 * function as large as the split with every parser inlined), but for
 * rs_from_to, which is inlined at its two calls (measured: 33 instructions
 * fewer per REGISTER; inlining any of the others costs 24 to 290 more). */

enum { RS_TOKEN, RS_USER, RS_PVAL, RS__COUNT };

static const unsigned rs_cls[RS__COUNT] = {CC_TOKEN, CC_USER, CC_PVAL};
static uint8_t rs_lo[RS__COUNT][16] __attribute__((aligned(16)));
static uint8_t rs_hi[16] __attribute__((aligned(16)));

/* fast_split_ok(), once at load time. */
static bool rs_avx2;

/* The shuffle tables, from sip_cc[], once at load time. */
__attribute__((constructor)) static void rs_init(void)
{
	__builtin_cpu_init(); /* a constructor may run before libgcc's own */
	rs_avx2 = fast_split_ok();
	for (unsigned k = 0; k < RS__COUNT; k++) {
		for (unsigned lo = 0; lo < 16; lo++) {
			uint8_t bits = 0;

			for (unsigned hi = 0; hi < 8; hi++)
				if (sip_cc[hi << 4 | lo] & rs_cls[k])
					bits |= (uint8_t)(1u << hi);
			rs_lo[k][lo] = bits;
		}
	}
	for (unsigned hi = 0; hi < 16; hi++)
		rs_hi[hi] = hi < 8 ? (uint8_t)(1u << hi) : 0;
}

/* cc_zero(p, n) for the structs the parsers below fill (32 <= n <= 288):
 * 32-byte stores, the last one ending at p + n (overlapping the one before
 * when n is not a multiple of 32), written out one by one as cc_zero's. */
SIP_AVX2_INLINE void rs_zero(void *p, size_t n)
{
	char *c = p;
	const __m256i z = _mm256_setzero_si256();

#define RS_Z(o) _mm256_storeu_si256((__m256i *)(void *)(c + (o)), z)
#define RS_Z_IF(o)                                                                       \
	if ((o) + 32 <= n)                                                               \
	RS_Z(o)
	if (n < 32 || n > 288) {
		cc_zero(p, n);
		return;
	}
	RS_Z_IF(0);
	RS_Z_IF(32);
	RS_Z_IF(64);
	RS_Z_IF(96);
	RS_Z_IF(128);
	RS_Z_IF(160);
	RS_Z_IF(192);
	RS_Z_IF(224);
	RS_Z_IF(256);
	if (n % 32)
		RS_Z(n - 32);
#undef RS_Z_IF
#undef RS_Z
}

/* cc_span(p, e, rs_cls[k]), 16 bytes per step while the buffer allows (the
 * runs are mostly shorter than 16 bytes; 16-byte vectors also spare the
 * functions a 32-byte aligned stack frame). */
SIP_AVX2_INLINE const char *rs_span(const char *p, const char *e, const char *bend, unsigned k)
{
	const __m128i lt = _mm_load_si128((const __m128i *)(const void *)rs_lo[k]);
	const __m128i ht = _mm_load_si128((const __m128i *)(const void *)rs_hi);
	const __m128i nib = sip_k16(0x0f);

	if (sip_likely(bend - e >= 15)) {
		/* every 16-byte load from below e stays inside the buffer */
		for (; p < e; p += 16) {
			__m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
			__m128i l = _mm_and_si128(x, nib);
			__m128i h = _mm_and_si128(_mm_srli_epi16(x, 4), nib);
			__m128i m = _mm_and_si128(_mm_shuffle_epi8(lt, l),
						  _mm_shuffle_epi8(ht, h));
			unsigned z = (unsigned)_mm_movemask_epi8(
				_mm_cmpeq_epi8(m, _mm_setzero_si128()));

			if (z) {
				const char *q = p + __builtin_ctz(z);
				return q < e ? q : e;
			}
		}
		return e;
	}
	while (bend - p >= 16) {
		__m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
		__m128i l = _mm_and_si128(x, nib);
		__m128i h = _mm_and_si128(_mm_srli_epi16(x, 4), nib);
		__m128i m = _mm_and_si128(_mm_shuffle_epi8(lt, l), _mm_shuffle_epi8(ht, h));
		unsigned z = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(m, _mm_setzero_si128()));

		if (z) {
			const char *q = p + __builtin_ctz(z);
			return q < e ? q : e;
		}
		if (e - p <= 16)
			return e;
		p += 16;
	}
	return cc_span(p, e, rs_cls[k]);
}

/* rs_quote_end(p, e, bend) where p <= e and 16 bytes are readable at e:
 * the first 16 bytes are looked at before any bound. */
SIP_AVX2_INLINE const char *rs_quote_end_le(const char *p, const char *e)
{
	const char *s = p;

	do {
		unsigned m = cc_quote_mask16(p);

		if (m) {
			const char *q = p + __builtin_ctz(m);

			if (sip_unlikely(q >= e))
				return NULL;
			if (sip_likely(*q == '"'))
				return q;
			return cc_quoted_end(s, e); /* a quoted-pair */
		}
		p += 16;
	} while (p < e);
	return NULL;
}

/* The closing quote of a quoted-string whose content starts at p, as
 * cc_quoted_end() finds it (NULL: none before e). */
SIP_AVX2_INLINE const char *rs_quote_end(const char *p, const char *e, const char *bend)
{
	const char *s = p;

	/* every 16-byte load from below e stays inside the buffer */
	if (sip_likely(bend - e >= 15))
		return p < e ? rs_quote_end_le(p, e) : NULL;
	while (bend - p >= 16) {
		unsigned m = cc_quote_mask16(p);

		if (m) {
			const char *q = p + __builtin_ctz(m);

			if (sip_unlikely(q >= e))
				return NULL;
			if (sip_likely(*q == '"'))
				return q;
			break; /* a quoted-pair: the general scan */
		}
		if (e - p <= 16)
			return NULL;
		p += 16;
	}
	return cc_quoted_end(s, e);
}

/*
 * The run of DIGIT at p (at most 7 counted: *n = 8 means "8 or more") and
 * its value, from one 8-byte load (SWAR; bend - p >= 8): a byte minus '0'
 * is a digit when below 10 (a borrow or carry only reaches the bytes after
 * the first non-digit, which are not used); the digits are moved to the top
 * of the word (leading zeros below) and combined in three multiplies.
 */
static inline uint32_t rs_num(const char *p, unsigned *n)
{
	uint64_t x = cc_load(p, 8) - 0x3030303030303030ull;
	uint64_t bad = ((x + 0x7676767676767676ull) | x) & 0x8080808080808080ull;
	unsigned k = bad ? (unsigned)__builtin_ctzll(bad) >> 3 : 8;

	*n = k;
	if (k == 0 || k == 8)
		return 0;
	x <<= 8 * (8 - k);
	x = x * 10 + (x >> 8);
	x = (((x & 0x000000ff000000ffull) * (100 + (1000000ull << 32))) +
	     (((x >> 16) & 0x000000ff000000ffull) * (1 + (10000ull << 32)))) >>
	    32;
	return (uint32_t)x;
}

/* 1 to 9 DIGIT not followed by a param-value byte (nameaddr.c digits9):
 * the usual 1 to 7 by rs_num, more by the byte loop. */
static inline const char *rs_digits9(const char *p, const char *e, const char *bend,
				     uint32_t *out)
{
	const char *s = p;
	uint32_t v = 0;
	unsigned k;

	if (bend - p >= 8) {
		v = num4(p, &k);
		if (k == 4 && (unsigned)(p[4] - '0') <= 9)
			v = rs_num(p, &k); /* 5 or more */
		if (k != 8 && k != 0) {
			p += k;
			if (p > e || (p != e && cc_is(*p, CC_PVAL)))
				return NULL;
			*out = v;
			return p;
		}
		if (k == 0)
			return NULL;
	}
	while (p != e && p - s < 9 && (unsigned)(*p - '0') <= 9)
		v = v * 10 + (uint32_t)(*p++ - '0');
	if (p == s || (p != e && cc_is(*p, CC_PVAL)))
		return NULL;
	*out = v;
	return p;
}

/* ":" port, the usual form: 1 to 5 DIGIT without a leading zero, 1..65535,
 * not followed by another digit; p on the ':'. The cursor after it, or
 * NULL (the general way decides). */
static inline const char *rs_port(const char *p, const char *e, const char *bend, uint16_t *port)
{
	unsigned k;
	uint32_t v;

	if (bend - p < 9 || p[1] == '0')
		return NULL;
	v = num4(p + 1, &k);
	if (k == 4 && (unsigned)(p[5] - '0') <= 9)
		v = rs_num(p + 1, &k); /* 5 or more */
	if (k == 0 || k > 5 || v > 65535 || p + 1 + k > e)
		return NULL;
	*port = (uint16_t)v;
	return p + 1 + k;
}

/*
 * The last hostname and the last IPv4-looking host (first byte a digit) the
 * pass scanned, shorter than 15 bytes and ended by a byte inside their
 * slice: a REGISTER names the same domain in its Request-URI, From and To,
 * and the same address in its Via and Contact. host_scan()'s verdict on such
 * a host depends on its bytes and the byte after it only (host_sse2: the
 * first byte no host holds ends it, the label and IPv4 checks look at the
 * bytes before), so the same n + 1 bytes before the end of the slice give
 * the same host and type: one 16-byte compare instead of the scan.
 */
struct rs_hosts {
	const char *p[2];
	unsigned n[2];
	enum sip_host_type type[2];
};

/*
 * An IPv4 host at p (p[0] a digit, 16 bytes readable at p): its length when
 * host_scan() takes it as IPv4address (digits and dots up to e or to a byte
 * no host holds, three dots, none last or next to another, 1 to 3 digits
 * between, no three-digit run above "255": host_sse2's checks, without its
 * letter and dash classes, which such a host holds none of), or 0: anything
 * else, which host_scan decides (a name, a bad address, 16 bytes or more).
 */
SIP_AVX2_INLINE unsigned rs_ipv4(const char *p, const char *e)
{
	__m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
	__m128i y = _mm_sub_epi8(x, sip_k16('0'));
	unsigned md = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_min_epu8(y, sip_k16(9)), y));
	unsigned mdot = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(x, sip_k16('.')));
	unsigned n = (unsigned)__builtin_ctz(~(md | mdot) | 0x10000u), d, m, run3;

	if (n >= 16)
		return 0;
	if ((ptrdiff_t)n >= e - p)
		n = (unsigned)(e - p); /* e - p >= 1: p[0] is a digit before e */
	else if (cc_is(p[n], CC_HOST))
		return 0; /* a letter, "_" or "-" follows: a name, or bad */
	mdot &= (1u << n) - 1;
	d = md & ((1u << n) - 1);
	m = mdot & (mdot - 1);
	m &= m - 1;
	if (!m || (m & (m - 1)) || (mdot & (mdot >> 1)) || (mdot >> (n - 1)))
		return 0;
	run3 = d & (d >> 1) & (d >> 2);
	if (run3) {
		unsigned g2 = (unsigned)_mm_movemask_epi8(_mm_cmpgt_epi8(x, sip_k16('2')));
		unsigned e2 = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(x, sip_k16('2')));
		unsigned g5 = (unsigned)_mm_movemask_epi8(_mm_cmpgt_epi8(x, sip_k16('5')));
		unsigned e5 = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(x, sip_k16('5')));

		if ((run3 & (d >> 3)) ||
		    (run3 & (g2 | (e2 & ((g5 >> 1) | ((e5 >> 1) & (g5 >> 2)))))))
			return 0;
	}
	return n;
}

/* host_scan(p, e, ...) through the memo hm (looked up when lookup, a
 * constant: the Request-URI's and the Via's hosts are the message's first of
 * their kind); p and the memo's hosts have 16 bytes inside the buffer when
 * used (bend - p >= 16). v4 (a constant, the Via's): a host starting with a
 * digit is tried as an IPv4 address first (rs_ipv4); where the memo mostly
 * answers, or the host is mostly a name, the extra code cost more than it
 * saved (measured). */
SIP_AVX2_INLINE const char *rs_host(struct rs_hosts *hm, const char *p, const char *e,
				    const char *bend, struct sip_str *host,
				    enum sip_host_type *type, bool lookup, bool v4)
{
	const char *q;
	unsigned k;
	int hw = 0;

	if (sip_unlikely(p == e || bend - p < 16))
		return host_scan(p, e, host, type, &hw);
	k = (unsigned)((unsigned char)*p - '0') <= 9;
	if (lookup && hm->p[k]) {
		unsigned n = hm->n[k];
		__m128i a = _mm_loadu_si128((const __m128i *)(const void *)p);
		__m128i b = _mm_loadu_si128((const __m128i *)(const void *)hm->p[k]);
		unsigned ne = ~(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(a, b));

		if (!(ne & ((2u << n) - 1)) && e - p > (ptrdiff_t)n) {
			*host = sip_str_make(p, n);
			*type = hm->type[k];
			return p + n;
		}
	}
	if (v4 && k) {
		unsigned n = rs_ipv4(p, e);

		if (n) {
			*host = sip_str_make(p, n);
			*type = SIP_HOST_IPV4;
			q = p + n;
			goto memo;
		}
	}
	q = host_scan(p, e, host, type, &hw);
memo:
	if (q && q != e && q - p < 15 && *type != SIP_HOST_IPV6) {
		hm->p[k] = p;
		hm->n[k] = (unsigned)(q - p);
		hm->type[k] = *type;
	}
	return q;
}

/*
 * A sip: URI (mode SIP_URI_SCAN_WHOLE or _ANGLE) the usual way: "sip:" in
 * any case, [user "@"] (no escape, no password), host, [":" port], [uri
 * params], no headers. Returns the cursor after it (at e for WHOLE, on the
 * '>' for ANGLE), or NULL: not the usual form. zeroed (a constant): the
 * caller has zeroed *u already (with the struct around it).
 */
SIP_AVX2_INLINE const char *rs_uri(struct rs_hosts *hm, struct sip_uri *u, const char *p,
				   const char *e, const char *bend, int mode, bool lookup,
				   bool zeroed)
{
	const char *s = p, *q;

	if (e - p < 5 || (cc_load(p, 4) | 0x00202020u) != CC_LIT("sip:"))
		return NULL;
	if (!zeroed)
		rs_zero(u, sizeof(*u));
	u->raw.p = s;
	u->scheme = SIP_URI_SIP;
	p += 4;
	q = rs_span(p, e, bend, RS_USER);
	if (q != e && *q == '@') {
		if (q == p)
			return NULL;
		u->user = sip_str_make(p, (size_t)(q - p));
		p = q + 1;
	} else if (q != e && (*q == ':' || *q == '%')) {
		return NULL; /* a password, an escape or host:port: the general way */
	}
	p = rs_host(hm, p, e, bend, &u->host, &u->host_type, lookup, false);
	if (p == NULL)
		return NULL;
	if (p != e && *p == ':') {
		p = rs_port(p, e, bend, &u->port);
		if (p == NULL)
			return NULL;
	}
	if (p != e && *p == ';') {
		p = uri_scan_params(u, p, e);
		if (p == NULL)
			return NULL;
	}
	u->raw.len = (size_t)(p - s);
	if (mode == SIP_URI_SCAN_ANGLE)
		return p != e && *p == '>' ? p : NULL;
	return p == e ? p : NULL;
}

/* [ quoted-display [SP] ] "<" URI ">": the cursor after '>', or NULL; *na
 * zeroed by the caller (one run of 32-byte stores over the struct around
 * it: fewer than the fields' own). */
SIP_AVX2_INLINE const char *rs_nameaddr(struct rs_hosts *hm, struct sip_nameaddr *na,
					const char *p, const char *e, const char *bend)
{
	if (*p == '"') {
		const char *q = rs_quote_end(p + 1, e, bend);

		if (q == NULL || e - q < 3)
			return NULL;
		na->display = sip_str_make(p + 1, (size_t)(q - p - 1));
		p = q + 1;
		if (*p == ' ')
			p++;
	}
	if (*p != '<')
		return NULL;
	na->angle = true;
	p = rs_uri(hm, &na->uri, p + 1, e, bend, SIP_URI_SCAN_ANGLE, true, true);
	return p ? p + 1 : NULL;
}

/* From / To: a name-addr with no parameter but ";tag=". */
SIP_AVX2_INLINE bool rs_from_to(struct rs_hosts *hm, struct sip_nameaddr *na, struct sip_str v,
				const char *bend)
{
	const char *e = v.p + v.len, *p, *q;

	if (sip_unlikely(bend - e < 16))
		return false;
	bend = e + 16; /* what the bounds below need, as a constant offset */
	rs_zero(na, sizeof(*na));
	p = rs_nameaddr(hm, na, v.p, e, bend);
	if (p == NULL)
		return false;
	if (p == e)
		return true;
	if (e - p < 6 || *p != ';' || (cc_load(p + 1, 4) | 0x00202020u) != CC_LIT("tag="))
		return false;
	q = rs_span(p + 5, e, bend, RS_PVAL);
	if (q == p + 5 || q != e)
		return false;
	na->tag = sip_str_make(p + 5, (size_t)(q - p - 5));
	na->params = sip_str_make(p + 1, (size_t)(q - p - 1));
	return true;
}

/* One Contact: a name-addr with expires, reg-id and +sip.instance (each once,
 * the usual form) as its only parameters. */
SIP_AVX2 static __attribute__((noinline)) bool rs_contact(struct rs_hosts *hm, struct sip_contact *c,
							  struct sip_str v, const char *bend)
{
	const char *e = v.p + v.len, *p, *first = NULL;
	unsigned seen = 0;

	if (sip_unlikely(bend - e < 16))
		return false;
	bend = e + 16; /* what the bounds below need, as a constant offset */

	rs_zero(c, sizeof(*c)); /* star, expires, instance, reg-id unset */
	c->q = SIP_Q_DEFAULT;
	p = rs_nameaddr(hm, &c->na, v.p, e, bend);
	if (p == NULL)
		return false;
	while (p != e) {
		uint64_t w;
		const char *q;
		uint32_t n;

		if (e - p < 9 || *p != ';')
			return false;
		if (!first)
			first = p + 1;
		w = cc_load(p + 1, 8);
		if ((w | 0x0020202020202020ull) == CC_LIT8("expires=") && e - p >= 10) {
			if ((seen & 1) || !(q = rs_digits9(p + 9, e, bend, &n)))
				return false;
			seen |= 1;
			c->expires = n;
			c->has_expires = true;
		} else if (((w | 0x0000202000202020ull) & 0x00ffffffffffffffull) ==
			   CC_LIT8("reg-id=")) {
			if ((seen & 2) || !(q = rs_digits9(p + 8, e, bend, &n)) || n == 0)
				return false;
			seen |= 2;
			c->reg_id = n;
			c->has_reg_id = true;
		} else if (e - p >= 17 && (w | 0x2020200020202000ull) == CC_LIT8("+sip.ins") &&
			   (cc_load(p + 7, 8) | 0x0020202020202020ull) == CC_LIT8("nstance=") &&
			   p[15] == '"') {
			/* e - p >= 17: p + 16 < e */
			if ((seen & 4) || !(q = rs_quote_end_le(p + 16, e)))
				return false;
			seen |= 4;
			c->instance = sip_str_make(p + 16, (size_t)(q - p - 16));
			q++;
		} else {
			return false;
		}
		p = q;
	}
	if (first)
		c->na.params = sip_str_make(first, (size_t)(e - first));
	return true;
}

/* received = IPv4address / IPv6address / "[" IPv6address "]" (via.c). */
static inline bool rs_received_ok(struct sip_str *s)
{
	const char *p = s->p, *end = s->p + s->len;

	if (s->len >= 2 && p[0] == '[' && end[-1] == ']') {
		*s = sip_str_make(p + 1, s->len - 2);
		return sip_ipv6_valid(p + 1, end - 1);
	}
	return sip_ipv4_valid(p, end) || sip_ipv6_valid(p, end);
}

/* One Via hop: "SIP/2.0/" transport SP host [":" port] with branch, rport
 * and received (each once, the usual form) as its only parameters. */
SIP_AVX2 static __attribute__((noinline)) bool rs_via(struct rs_hosts *hm, struct sip_via *v,
						      struct sip_str val, const char *bend)
{
	const char *p = val.p, *e = val.p + val.len, *q, *first = NULL;
	unsigned seen = 0;

	if (sip_unlikely(bend - e < 16))
		return false;
	bend = e + 16; /* what the bounds below need, as a constant offset */

	if (e - p < 12 || memcmp(p, "SIP/2.0/", 8) != 0)
		return false;
	rs_zero(v, sizeof(*v));
	v->rport = -1;
	v->ttl = -1;
	v->proto = sip_str_make(p, 7);
	q = rs_span(p + 8, e, bend, RS_TOKEN);
	if (q == p + 8 || e - q < 2 || q[0] != ' ' || q[1] == ' ')
		return false;
	v->transport = sip_str_make(p + 8, (size_t)(q - p - 8));
	p = rs_host(hm, q + 1, e, bend, &v->host, &v->host_type, false, true);
	if (p == NULL)
		return false;
	if (p != e && *p == ':') {
		p = rs_port(p, e, bend, &v->port);
		if (p == NULL)
			return false;
	}
	while (p != e) {
		uint64_t w;

		if (e - p < 6 || *p != ';')
			return false;
		if (!first)
			first = p + 1;
		w = cc_load(p + 1, 8);
		if (e - p >= 9 &&
		    ((w | 0x0000202020202020ull) & 0x00ffffffffffffffull) == CC_LIT8("branch=")) {
			q = rs_span(p + 8, e, bend, RS_PVAL);
			if (q == p + 8 || (seen & 1))
				return false;
			seen |= 1;
			v->branch = sip_str_make(p + 8, (size_t)(q - p - 8));
		} else if (e - p >= 11 && (w | 0x2020202020202020ull) == CC_LIT8("received") &&
			   p[9] == '=') {
			struct sip_str r;

			q = rs_span(p + 10, e, bend, RS_PVAL);
			r = sip_str_make(p + 10, (size_t)(q - p - 10));
			if (q == p + 10 || (seen & 2) || !rs_received_ok(&r))
				return false;
			seen |= 2;
			v->received = r;
		} else if (((w | 0x20202020u) & 0xffffffffu) == CC_LIT("rpor") &&
			   (p[5] | 0x20) == 't' && !(seen & 4)) {
			uint32_t n = 0;

			q = p + 6;
			if (q == e || *q == ';') {
				v->rport = 0;
			} else {
				if (*q != '=' || e - q < 2 || (unsigned)(q[1] - '1') > 8)
					return false;
				for (q++; q != e && q - p < 12 && (unsigned)(*q - '0') <= 9; q++)
					n = n * 10 + (uint32_t)(*q - '0');
				if (q - p > 11 || n > 65535 || (q != e && cc_is(*q, CC_PVAL)))
					return false;
				v->rport = (int32_t)n;
			}
			seen |= 4;
		} else {
			return false;
		}
		p = q;
	}
	if (first)
		v->params = sip_str_make(first, (size_t)(e - first));
	return true;
}

/* nc-value = 8 HEXDIG (auth.c parse_nc, the same SWAR). */
static inline bool rs_nc(const char *p, uint32_t *out)
{
	const uint64_t ones = 0x0101010101010101ull, hi = 0x8080808080808080ull;
	uint64_t w = cc_load(p, 8), lw, dig, alp, x, a, b;

	if (w & hi)
		return false;
	lw = w | 0x20 * ones;
	dig = (w + (0x80 - '0') * ones) & ~(w + (0x7f - '9') * ones) & hi;
	alp = (lw + (0x80 - 'a') * ones) & ~(lw + (0x7f - 'f') * ones) & hi;
	if ((dig | alp) != hi)
		return false;
	x = (w & 0x0f * ones) + 9 * (alp >> 7);
	a = ((x << 4) | (x >> 8)) & 0x00ff00ff00ff00ffull;
	b = (a | (a >> 8)) & 0x0000ffff0000ffffull;
	*out = __builtin_bswap32((uint32_t)(b | (b >> 16)));
	return true;
}

enum {
	RA_USERNAME = 1 << 0,
	RA_REALM = 1 << 1,
	RA_NONCE = 1 << 2,
	RA_URI = 1 << 3,
	RA_RESPONSE = 1 << 4,
	RA_CNONCE = 1 << 5,
	RA_OPAQUE = 1 << 6,
	RA_QOP = 1 << 7,
	RA_NC = 1 << 8,
	RA_ALGORITHM = 1 << 9,
};

/*
 * One credential parameter's value, the usual form of its name: a
 * quoted-string for username, realm, nonce, uri, response, cnonce and opaque,
 * a token for qop, 8 HEXDIG for nc, MD5 or SHA-256 for algorithm (anything
 * else: false, and sip_auth_parse decides). p on the name, whose length len
 * and bit are constants where this is inlined; *qp gets the end of the value.
 */
SIP_AVX2_INLINE bool ra_value(struct sip_auth *a, struct sip_str *slot, const char *p,
			      const char *e, const char *bend, unsigned *seen, unsigned bit,
			      size_t len, const char **qp)
{
	const char *r = p + len + 1, *q;

	/* r <= e: the name and its '=' matched bytes p .. p + len, none of
	 * them a CR, and e is the line's first CR at or after p. A quoted
	 * value's first byte is then read before any bound (r = e: the CR);
	 * the other forms test their own length */
	if ((*seen & bit) || (bit == RA_QOP && e - r < 1))
		return false;
	*seen |= bit;
	if (bit == RA_NC) {
		if (e - r < 8 || !rs_nc(r, &a->nc_val))
			return false;
		/* a longer token fails the ", " or end check below */
		a->has_nc = true;
		q = r + 8;
		*slot = sip_str_make(r, 8);
	} else if (bit == RA_ALGORITHM) {
		/* a longer token ("MD5-sess") fails the ", " or end check below */
		if (e - r >= 3 && ((cc_load(r, 4) & 0xffffffu) | 0x202020u) == CC_LIT("md5")) {
			a->alg = SIP_DIGEST_MD5;
			q = r + 3;
		} else if (e - r >= 7 && CC_LIT_CASEEQ(r, 7, "sha-256")) {
			a->alg = SIP_DIGEST_SHA256;
			q = r + 7;
		} else {
			return false;
		}
		*slot = sip_str_make(r, (size_t)(q - r));
	} else if (bit == RA_QOP) {
		q = rs_span(r, e, bend, RS_PVAL);
		if (q == r)
			return false;
		*slot = sip_str_make(r, (size_t)(q - r));
	} else {
		/* *r == '"' puts r before e: r + 1 <= e */
		if (*r != '"')
			return false;
		q = rs_quote_end_le(r + 1, e);
		if (q == NULL)
			return false;
		*slot = sip_str_make(r + 1, (size_t)(q - r - 1));
		q++;
	}
	*qp = q;
	return true;
}

/*
 * Credentials the usual way: "Digest " then name=value pairs separated by
 * ", ", each name one of username, realm, nonce, uri, response, cnonce,
 * opaque, qop, nc, algorithm (any case, once), each value in the usual form
 * of its name (ra_value). Each name's case parses its value with its bit,
 * length and field as constants.
 */
SIP_AVX2 static __attribute__((noinline)) bool rs_auth(struct sip_auth *a, struct sip_str val, const char *bend)
{
#define RA_KEEP(n) ((n) >= 8 ? ~0ull : (1ull << ((8 * (n)) & 63)) - 1)
#define RA(lit, b, f)                                                                    \
	if ((w & RA_KEEP(sizeof(lit) - 1)) == CC_LIT8(lit) &&                            \
	    p[sizeof(lit) - 1] == '=') {                                                 \
		if (!ra_value(a, &a->f, p, e, bend, &seen, (b), sizeof(lit) - 1, &q))   \
			return false;                                                    \
		goto next;                                                               \
	}
	const char *p = val.p, *e = val.p + val.len, *q;
	unsigned seen = 0;

	if (sip_unlikely(bend - e < 16))
		return false;
	bend = e + 16; /* what the bounds below need, as a constant offset */

	if (e - p < 10 ||
	    ((cc_load(p, 8) | 0x0000202020202020ull) & 0x00ffffffffffffffull) !=
		    CC_LIT8("digest ") ||
	    (unsigned char)p[7] <= ' ' || p[7] == ',')
		return false;
	rs_zero(a, sizeof(*a));
	a->scheme = sip_str_make(p, 6);
	p += 7;
	a->params.p = p;
	for (;;) {
		/* p <= e (a ", " ends before e), so a name's 8-byte load and
		 * p[9] stay below bend = e + 16 */
		uint64_t w = cc_load(p, 8) | 0x2020202020202020ull;
		/* a computed goto on the name's first byte (either case), as
		 * split_reg's name dispatch: one load and one jump, where a
		 * switch folds, range-checks and adds an offset first (GNU C,
		 * compiled only where the AVX2 target attribute is) */
#define RA_AZ(o)                                                                         \
	['A' + (o)] = &&ra_a, ['B' + (o)] = &&ra_none, ['C' + (o)] = &&ra_c,             \
	['D' + (o)... 'M' + (o)] = &&ra_none, ['N' + (o)] = &&ra_n, ['O' + (o)] = &&ra_o, \
	['P' + (o)] = &&ra_none, ['Q' + (o)] = &&ra_q, ['R' + (o)] = &&ra_r,             \
	['S' + (o)... 'T' + (o)] = &&ra_none, ['U' + (o)] = &&ra_u,                      \
	['V' + (o)... 'Z' + (o)] = &&ra_none
		/* the ranges cover 0..255 once each */
		static const void *const go[256] = {
			[0 ... 'A' - 1] = &&ra_none, RA_AZ(0),
			['Z' + 1 ... 'a' - 1] = &&ra_none, RA_AZ('a' - 'A'),
			['z' + 1 ... 255] = &&ra_none,
		};
#undef RA_AZ

		goto *go[(unsigned char)*p];
	ra_a:
		if (w == CC_LIT8("algorith") && (p[8] | 0x20) == 'm' && p[9] == '=') {
			if (!ra_value(a, &a->algorithm, p, e, bend, &seen, RA_ALGORITHM, 9, &q))
				return false;
			goto next;
		}
		return false;
	ra_c:
		RA("cnonce", RA_CNONCE, cnonce);
		return false;
	ra_n:
		RA("nonce", RA_NONCE, nonce);
		RA("nc", RA_NC, nc);
		return false;
	ra_o:
		RA("opaque", RA_OPAQUE, opaque);
		return false;
	ra_q:
		RA("qop", RA_QOP, qop);
		return false;
	ra_r:
		RA("realm", RA_REALM, realm);
		RA("response", RA_RESPONSE, response);
		return false;
	ra_u:
		RA("username", RA_USERNAME, username);
		RA("uri", RA_URI, uri);
	ra_none:
		return false;
	next:
		/* ", " then a known name (a letter: no LWS, no empty parameter);
		 * q <= e, and at e the CR LF: the end is tested only when no
		 * ", " follows */
		if (sip_likely(cc_load(q, 2) == CC_LIT(", "))) {
			p = q + 2;
			continue;
		}
		if (q != e)
			return false;
		break;
	}
	a->params.len = (size_t)(e - a->params.p);
	return true;
#undef RA
#undef RA_KEEP
}

#endif /* SIPREG_SIP_REGFAST_H */
