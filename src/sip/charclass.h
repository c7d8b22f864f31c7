/* SPDX-License-Identifier: MIT */
/*
 * charclass.h - private helpers shared by the SIP header-body parsers:
 * one 256-entry character-class table (RFC 3261 §25.1 sets) and the small
 * cursor helpers built on it. Every helper takes [p, end) and never reads at
 * or past end; "returns the advanced cursor or NULL" in picohttpparser style.
 *
 * The framing code (msg.c) may include this header read-only.
 *
 * Classes (bits of sip_cc[]), from RFC 3261 §25.1:
 *   CC_TOKEN   token       alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~"
 *   CC_USER    user        unreserved / escaped / "&" "=" "+" "$" "," ";" "?" "/"
 *   CC_PASS    password    unreserved / escaped / "&" "=" "+" "$" ","
 *   CC_HOST    hostname    alphanum / "-" / "." (and "_", accepted: see uri.c)
 *   CC_PARAM   paramchar   unreserved / escaped / "[" "]" "/" ":" "&" "+" "$"
 *   CC_HNV     hname/hvalue unreserved / escaped / "[" "]" "/" "?" ":" "+" "$"
 *   CC_WS      SP, HTAB, CR, LF (CR and LF only ever occur in a value as a fold)
 *   CC_HEX     HEXDIG      CC_DIGIT DIGIT
 *   CC_SCHEME  ALPHA / DIGIT / "+" / "-" / "."
 *   CC_V6      HEXDIG / ":" / "." (the inside of an IPv6reference)
 *   CC_PVAL    a generic-param value: token / host / IPv6reference / paramchar
 *   CC_ALPHA   ALPHA / "_" (a host holding one is a name, not IPv4)
 *   CC_DOT, CC_DASH, CC_HSEP  "." and "-" (label checks in host names)
 * unreserved = alphanum / "-" "_" "." "!" "~" "*" "'" "(" ")". The escaped
 * classes (USER, PASS, PARAM, HNV) leave out "%": cc_span_esc() accepts it
 * only as "%" HEXDIG HEXDIG.
 */
#ifndef SIPREG_SIP_CHARCLASS_H
#define SIPREG_SIP_CHARCLASS_H

#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "sipreg/sip.h"

/*
 * SSE2 scanning (every x86-64 has it) unless SIPREG_NO_SIMD is defined (see
 * simd.h): 16 bytes at a time for quoted strings (nonce, response, cnonce,
 * +sip.instance: the long runs of a REGISTER; token runs are mostly shorter
 * than 16 bytes, where the four-way unrolled table loop is cheaper). The
 * scalar loops do the same job and the unit tests are also built against them
 * (tests/meson.build: sip_hdr_scalar, sip_uri_scalar). A vector load is made
 * only when 16 bytes remain before end, so nothing past the slice is read.
 */
#include "simd.h"
#define CC_SSE2 SIP_SSE2

#define likely(x) sip_likely(x)
#define unlikely(x) sip_unlikely(x)

enum {
	CC_TOKEN = 0x001,
	CC_USER = 0x002,
	CC_PASS = 0x004,
	CC_HOST = 0x008,
	CC_PARAM = 0x010,
	CC_HNV = 0x020,
	CC_WS = 0x040,
	CC_HEX = 0x080,
	CC_DIGIT = 0x100,
	CC_SCHEME = 0x200,
	CC_V6 = 0x400,
	CC_PVAL = 0x800,
	CC_ALPHA = 0x1000,
	CC_DOT = 0x2000,
	CC_DASH = 0x4000,
	CC_HSEP = 0x8000,
};

/* Generated from the RFC 3261 §25.1 sets listed above. */
static const uint16_t sip_cc[256] = {
	0x0000, 0x0000, 0x0000, 0x0000, 0x0000, 0x0000, 0x0000, 0x0000, /* 00 ........ */
	0x0000, 0x0040, 0x0040, 0x0000, 0x0000, 0x0040, 0x0000, 0x0000, /* 08 ........ */
	0x0000, 0x0000, 0x0000, 0x0000, 0x0000, 0x0000, 0x0000, 0x0000, /* 10 ........ */
	0x0000, 0x0000, 0x0000, 0x0000, 0x0000, 0x0000, 0x0000, 0x0000, /* 18 ........ */
	0x0040, 0x0837, 0x0000, 0x0000, 0x0836, 0x0801, 0x0816, 0x0837, /* 20 .!"#$%&' */
	0x0836, 0x0836, 0x0837, 0x0a37, 0x0006, 0xca3f, 0xae3f, 0x0832, /* 28 ()*+,-./ */
	0x0fbf, 0x0fbf, 0x0fbf, 0x0fbf, 0x0fbf, 0x0fbf, 0x0fbf, 0x0fbf, /* 30 01234567 */
	0x0fbf, 0x0fbf, 0x0c30, 0x0002, 0x0000, 0x0006, 0x0000, 0x0022, /* 38 89:;<=>? */
	0x0000, 0x1ebf, 0x1ebf, 0x1ebf, 0x1ebf, 0x1ebf, 0x1ebf, 0x1a3f, /* 40 @ABCDEFG */
	0x1a3f, 0x1a3f, 0x1a3f, 0x1a3f, 0x1a3f, 0x1a3f, 0x1a3f, 0x1a3f, /* 48 HIJKLMNO */
	0x1a3f, 0x1a3f, 0x1a3f, 0x1a3f, 0x1a3f, 0x1a3f, 0x1a3f, 0x1a3f, /* 50 PQRSTUVW */
	0x1a3f, 0x1a3f, 0x1a3f, 0x0830, 0x0000, 0x0830, 0x0000, 0x183f, /* 58 XYZ[\]^_ */
	0x0801, 0x1ebf, 0x1ebf, 0x1ebf, 0x1ebf, 0x1ebf, 0x1ebf, 0x1a3f, /* 60 `abcdefg */
	0x1a3f, 0x1a3f, 0x1a3f, 0x1a3f, 0x1a3f, 0x1a3f, 0x1a3f, 0x1a3f, /* 68 hijklmno */
	0x1a3f, 0x1a3f, 0x1a3f, 0x1a3f, 0x1a3f, 0x1a3f, 0x1a3f, 0x1a3f, /* 70 pqrstuvw */
	0x1a3f, 0x1a3f, 0x1a3f, 0x0000, 0x0000, 0x0000, 0x0837, 0x0000, /* 78 xyz{|}~. */
	0x0000, 0x0000, 0x0000, 0x0000, 0x0000, 0x0000, 0x0000, 0x0000, /* 80 ........ */
	0x0000, 0x0000, 0x0000, 0x0000, 0x0000, 0x0000, 0x0000, 0x0000, /* 88 ........ */
	0x0000, 0x0000, 0x0000, 0x0000, 0x0000, 0x0000, 0x0000, 0x0000, /* 90 ........ */
	0x0000, 0x0000, 0x0000, 0x0000, 0x0000, 0x0000, 0x0000, 0x0000, /* 98 ........ */
	0x0000, 0x0000, 0x0000, 0x0000, 0x0000, 0x0000, 0x0000, 0x0000, /* a0 ........ */
	0x0000, 0x0000, 0x0000, 0x0000, 0x0000, 0x0000, 0x0000, 0x0000, /* a8 ........ */
	0x0000, 0x0000, 0x0000, 0x0000, 0x0000, 0x0000, 0x0000, 0x0000, /* b0 ........ */
	0x0000, 0x0000, 0x0000, 0x0000, 0x0000, 0x0000, 0x0000, 0x0000, /* b8 ........ */
	0x0000, 0x0000, 0x0000, 0x0000, 0x0000, 0x0000, 0x0000, 0x0000, /* c0 ........ */
	0x0000, 0x0000, 0x0000, 0x0000, 0x0000, 0x0000, 0x0000, 0x0000, /* c8 ........ */
	0x0000, 0x0000, 0x0000, 0x0000, 0x0000, 0x0000, 0x0000, 0x0000, /* d0 ........ */
	0x0000, 0x0000, 0x0000, 0x0000, 0x0000, 0x0000, 0x0000, 0x0000, /* d8 ........ */
	0x0000, 0x0000, 0x0000, 0x0000, 0x0000, 0x0000, 0x0000, 0x0000, /* e0 ........ */
	0x0000, 0x0000, 0x0000, 0x0000, 0x0000, 0x0000, 0x0000, 0x0000, /* e8 ........ */
	0x0000, 0x0000, 0x0000, 0x0000, 0x0000, 0x0000, 0x0000, 0x0000, /* f0 ........ */
	0x0000, 0x0000, 0x0000, 0x0000, 0x0000, 0x0000, 0x0000, 0x0000, /* f8 ........ */
};

static inline int cc_is(unsigned char c, unsigned cls)
{
	return sip_cc[c] & cls;
}

/* Skip LWS: SP, HTAB and folds (CRLF followed by SP/HTAB). The framing layer
 * only leaves CR/LF inside a value as part of a fold, so any CR/LF is LWS. */
static inline const char *cc_skip_ws(const char *p, const char *end)
{
	while (p != end && (unsigned char)*p <= ' ' && (sip_cc[(unsigned char)*p] & CC_WS))
		p++;
	return p;
}

#if CC_SSE2
/*
 * The 16 bytes at p, or the n < 16 bytes left before end followed by zero
 * bytes (no class holds NUL, so a scan stops there). Never reads at or past
 * end, nor before p: short tails are put together from overlapping 8-, 4-
 * and 1-byte loads inside [p, end).
 */
static inline __m128i cc_load16(const char *p, const char *end)
{
	size_t n = (size_t)(end - p);

	if (likely(n >= 16))
		return _mm_loadu_si128((const __m128i *)(const void *)p);
	return sip_load16_tail(p, n);
}

/* Bit i set when p[i] is '"' or '\\', for the 16 bytes at p (all inside the
 * buffer: the caller's bound). The quoted-string scanners' step. */
static inline __attribute__((always_inline)) unsigned cc_quote_mask16(const char *p)
{
	__m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);

	return (unsigned)_mm_movemask_epi8(
		_mm_or_si128(_mm_cmpeq_epi8(x, sip_k16('"')), _mm_cmpeq_epi8(x, sip_k16('\\'))));
}

#endif

/* Advance over a run of one class (possibly empty). Unrolled by four: the
 * runs (branch, tag, host) are 5 to 40 bytes long (a 16-byte vector step
 * was tried and costs more instructions on runs this short). */
static inline const char *cc_span(const char *p, const char *end, unsigned cls)
{
	while (end - p >= 4) {
		if (!(sip_cc[(unsigned char)p[0]] & cls))
			return p;
		if (!(sip_cc[(unsigned char)p[1]] & cls))
			return p + 1;
		if (!(sip_cc[(unsigned char)p[2]] & cls))
			return p + 2;
		if (!(sip_cc[(unsigned char)p[3]] & cls))
			return p + 3;
		p += 4;
	}
	while (p != end && (sip_cc[(unsigned char)*p] & cls))
		p++;
	return p;
}

/* cc_span over a class that allows escaped = "%" HEXDIG HEXDIG: stops at a
 * '%' that is not followed by two HEXDIG inside the slice. */
static inline const char *cc_span_esc(const char *p, const char *end, unsigned cls)
{
	for (;;) {
		p = cc_span(p, end, cls);
		if (likely(p == end || *p != '%'))
			return p;
		if (end - p < 3 || !(sip_cc[(unsigned char)p[1]] & CC_HEX) ||
		    !(sip_cc[(unsigned char)p[2]] & CC_HEX))
			return p;
		p += 3;
	}
}

/* ASCII case-insensitive compare of [p, p+n) with a literal whose bytes all
 * have bit 0x20 set (lower-case letters, digits, "-", "+", "."). Only valid
 * on token characters (a CR would fold onto "-"). litlen is a constant at
 * every call site, so the compiler turns this into one or two word compares. */
/* always inlined: n is a constant at every call, and gcc otherwise leaves a
 * call in the largest functions (split_reg) for a 4-byte load */
static inline __attribute__((always_inline)) uint64_t cc_load(const char *p, size_t n)
{
	uint64_t v = 0;

	memcpy(&v, p, n);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	/* byte i in bits 8i..8i+7 on every host: the per-byte masks of the
	 * word compares (0x20 ORed into letter positions only) rely on it */
	v = __builtin_bswap64(v);
#endif
	return v;
}

/* cc_load() of a literal of up to 8 bytes, zero-padded: a constant the
 * compiler folds, for the word compares of the fast parameter paths. */
#define CC_LIT8(lit) cc_load("" lit "\0\0\0\0\0\0\0\0", 8)

/* The same of a literal of 1 to 7 bytes, built as a constant expression
 * (gcc builds cc_load("lit", n < 8) on the stack at each use). */
#define CC_LB(lit, i) ((uint64_t)(unsigned char)("" lit "\0\0\0\0\0\0\0\0")[i] << (8 * (i)))
#define CC_LIT(lit)                                                                      \
	(CC_LB(lit, 0) | CC_LB(lit, 1) | CC_LB(lit, 2) | CC_LB(lit, 3) | CC_LB(lit, 4) |   \
	 CC_LB(lit, 5) | CC_LB(lit, 6))

static inline int cc_lit_caseeq(const char *p, size_t n, const char *lit, size_t litlen)
{
	if (n != litlen)
		return 0;
	/* one or two (overlapping) loads of 1, 2, 4 or 8 bytes */
	if (litlen >= 8) {
		for (size_t i = 0; i + 8 <= litlen; i += 8)
			if ((cc_load(p + i, 8) | 0x2020202020202020ull) != cc_load(lit + i, 8))
				return 0;
		return (cc_load(p + litlen - 8, 8) | 0x2020202020202020ull) ==
		       cc_load(lit + litlen - 8, 8);
	}
	if (litlen >= 4)
		return (cc_load(p, 4) | 0x20202020u) == cc_load(lit, 4) &&
		       (cc_load(p + litlen - 4, 4) | 0x20202020u) == cc_load(lit + litlen - 4, 4);
	if (litlen >= 2)
		return (cc_load(p, 2) | 0x2020u) == cc_load(lit, 2) &&
		       (cc_load(p + litlen - 2, 2) | 0x2020u) == cc_load(lit + litlen - 2, 2);
	return litlen == 0 || (unsigned char)(p[0] | 0x20) == (unsigned char)lit[0];
}
#define CC_LIT_CASEEQ(p, n, lit) cc_lit_caseeq((p), (n), "" lit, sizeof(lit) - 1)

/* SWAR: the high bit of each byte of w equal to c. Only the lowest set bit
 * is exact (a borrow may mark bytes above a match), which is all the scanners
 * below use. */
static inline uint64_t cc_eqmask(uint64_t w, unsigned char c)
{
	uint64_t x = w ^ (0x0101010101010101ull * c);

	return (x - 0x0101010101010101ull) & ~x & 0x8080808080808080ull;
}

/*
 * quoted-string = SWS DQUOTE *(qdtext / quoted-pair ) DQUOTE
 * qdtext        = LWS / %x21 / %x23-5B / %x5D-7E / UTF8-NONASCII
 * quoted-pair   = "\" (%x00-09 / %x0B-0C / %x0E-7F)
 * p points just after the opening quote; returns the closing quote, or NULL
 * when there is none before end. Eight bytes at a time (SWAR, plain C) look
 * for '"' or '\'; a backslash skips the byte after it. Bare control
 * characters inside the quotes are tolerated (the value is never
 * interpreted here, and sip_str_unquote copies them as they are).
 */
static inline const char *cc_quoted_end(const char *p, const char *end)
{
	for (;;) {
#if CC_SSE2
		while (end - p >= 16) {
			unsigned m = cc_quote_mask16(p);

			if (m) {
				p += __builtin_ctz(m);
				goto found;
			}
			p += 16;
		}
#endif
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
		while (end - p >= 8) {
			uint64_t w, m;
			memcpy(&w, p, 8);
			m = cc_eqmask(w, '"') | cc_eqmask(w, '\\');
			if (m) {
				p += __builtin_ctzll(m) >> 3;
				goto found;
			}
			p += 8;
		}
#endif
		while (p != end && *p != '"' && *p != '\\')
			p++;
		if (unlikely(p == end))
			return NULL;
	found: __attribute__((unused));
		if (likely(*p == '"'))
			return p;
		if (unlikely(end - p < 2))
			return NULL;
		p += 2;
	}
}

/*
 * Clear the n >= 16 bytes at p (n a constant, at most 256) with 16-byte
 * stores, the last one ending at p + n. For the output structs (sip_uri,
 * sip_via, sip_auth: 130 to 210 bytes) gcc would otherwise emit "rep stos",
 * whose start-up alone costs more cycles than the whole store sequence; the
 * stores are written out one by one (no loop) so that gcc does not turn them
 * back into a memset.
 */
static inline void cc_zero(void *p, size_t n)
{
	char *c = p;

	if (n > 256 || n < 16) {
		memset(p, 0, n);
		return;
	}
#if CC_SSE2
	const __m128i z = _mm_setzero_si128();
#define CC_Z(o) _mm_storeu_si128((__m128i *)(void *)(c + (o)), z)
#else
	const uint64_t z[2] = {0, 0};
#define CC_Z(o) memcpy(c + (o), z, 16)
#endif
#define CC_Z_IF(o)                                                                       \
	if ((o) + 16 <= n)                                                               \
	CC_Z(o)
	CC_Z_IF(0);
	CC_Z_IF(16);
	CC_Z_IF(32);
	CC_Z_IF(48);
	CC_Z_IF(64);
	CC_Z_IF(80);
	CC_Z_IF(96);
	CC_Z_IF(112);
	CC_Z_IF(128);
	CC_Z_IF(144);
	CC_Z_IF(160);
	CC_Z_IF(176);
	CC_Z_IF(192);
	CC_Z_IF(208);
	CC_Z_IF(224);
	CC_Z_IF(240);
	if (n % 16)
		CC_Z(n - 16);
#undef CC_Z_IF
#undef CC_Z
}

/* Set err (when given) and return -EBADMSG. off is relative to base. */
static inline int cc_fail(struct sip_err *err, const char *reason, const char *base,
			  const char *at)
{
	if (err) {
		err->reason = reason;
		err->off = (size_t)(at - base);
	}
	return -EBADMSG;
}

/*
 * generic-param = token [ EQUAL gen-value ]
 * gen-value     = token / host / quoted-string
 * EQUAL         = SWS "=" SWS
 * p is at the name. Reads one parameter; value is unset for a flag, the
 * inside of the quotes for a quoted-string. Returns the cursor after it, or
 * NULL when malformed (no name, '=' without a value, unterminated quote).
 */
static inline const char *cc_param_read(const char *p, const char *end, struct sip_str *name,
					struct sip_str *value)
{
	const char *q = cc_span(p, end, CC_TOKEN), *r;

	if (unlikely(q == p))
		return NULL;
	*name = sip_str_make(p, (size_t)(q - p));
	r = q;
	if (r == end || *r != '=') {
		r = cc_skip_ws(r, end);
		if (r == end || *r != '=') {
			*value = SIP_STR_NULL;
			return q;
		}
	}
	r++;
	if (unlikely(r != end && (unsigned char)*r <= ' '))
		r = cc_skip_ws(r, end);
	if (unlikely(r == end))
		return NULL;
	if (*r == '"') {
		q = cc_quoted_end(r + 1, end);
		if (unlikely(q == NULL))
			return NULL;
		*value = sip_str_make(r + 1, (size_t)(q - r - 1));
		return q + 1;
	}
	q = cc_span(r, end, CC_PVAL);
	if (unlikely(q == r))
		return NULL;
	*value = sip_str_make(r, (size_t)(q - r));
	return q;
}

/*
 * One header parameter of a list element: *pp is after the previous part
 * (URI, sent-by or parameter). Returns 1 and advances past ";name[=value]",
 * 0 at the end of the element (end of the slice or a ',' that *pp is left
 * on, LWS skipped), -1 when malformed (*pp is left at the problem).
 */
static inline int cc_hparam_next(const char **pp, const char *end, struct sip_str *name,
				 struct sip_str *value)
{
	const char *p = *pp, *q;

	if (unlikely(p != end && *p != ';'))
		p = cc_skip_ws(p, end);
	if (p == end || *p == ',') {
		*pp = p;
		return 0;
	}
	if (unlikely(*p != ';')) {
		*pp = p;
		return -1;
	}
	p++;
	if (unlikely(p != end && (unsigned char)*p <= ' '))
		p = cc_skip_ws(p, end);
	q = cc_param_read(p, end, name, value);
	if (unlikely(q == NULL)) {
		*pp = p;
		return -1;
	}
	*pp = q;
	return 1;
}

/*
 * The header parameters of a list element, *( SEMI generic-param ), the loop
 * that name-addr (From, To, Route, Path), Contact and Via share: p is after
 * the URI or sent-by. For each parameter, fast(obj, p, end, seen) first reads
 * the usual ones without the generic token scans (the cursor after it, or
 * NULL to go the generic way, which must give the same result); otherwise
 * cc_hparam_next() reads it and known(obj, name, value, seen) takes it (NULL,
 * or the reason it is bad). Both are called through constant pointers that
 * the always_inline lets the compiler inline. Sets *params to the slice of
 * all the parameters (without the first ';'), left as is when there are none.
 * Returns the cursor at ',' or the end, or NULL (err set: known()'s reason at
 * the parameter's name, or bad at the cursor when one is malformed).
 */
static inline __attribute__((always_inline)) const char *
cc_hparams_scan(const char *p, const char *end, void *obj, unsigned *seen,
		const char *(*fast)(void *obj, const char *p, const char *end,
				    unsigned *seen),
		const char *(*known)(void *obj, struct sip_str name, struct sip_str value,
				     unsigned *seen),
		struct sip_str *params, const char *bad, const char *base, struct sip_err *err)
{
	const char *first = NULL, *last = p, *f, *why;
	struct sip_str n, v;
	int r;

	for (;;) {
		if ((f = fast(obj, p, end, seen)) != NULL) {
			if (!first)
				first = p + 1;
			last = p = f;
			continue;
		}
		if ((r = cc_hparam_next(&p, end, &n, &v)) <= 0)
			break;
		if (!first)
			first = n.p;
		last = p;
		if (unlikely((why = known(obj, n, v, seen)) != NULL)) {
			cc_fail(err, why, base, n.p);
			return NULL;
		}
	}
	if (unlikely(r < 0)) {
		cc_fail(err, bad, base, p);
		return NULL;
	}
	if (first)
		*params = sip_str_make(first, (size_t)(last - first));
	return p;
}

/* Start of a list element (Via, name-addr, Contact): 0 at the end of the
 * list, 1 with *pp on the element, -EBADMSG (reason at the ',') on an empty
 * element. */
static inline int cc_list_start(struct sip_str *rest, const char **pp, const char *reason,
				struct sip_err *err)
{
	const char *end, *p;

	if (rest->len == 0)
		return 0;
	end = rest->p + rest->len;
	p = cc_skip_ws(rest->p, end);
	if (p == end) {
		*rest = sip_str_make(end, 0);
		return 0;
	}
	if (unlikely(*p == ','))
		return cc_fail(err, reason, rest->p, p);
	*pp = p;
	return 1;
}

/* After a list element: p is at ',' or the end. Leaves *rest after the comma
 * and returns 1, or -EBADMSG when an empty element follows it. */
static inline int cc_list_advance(struct sip_str *rest, const char *p, const char *reason,
				  struct sip_err *err)
{
	const char *end = rest->p + rest->len;

	if (p != end) {
		p = cc_skip_ws(p + 1, end);
		if (unlikely(p == end || *p == ','))
			return cc_fail(err, reason, rest->p, p);
	}
	*rest = sip_str_make(p, (size_t)(end - p));
	return 1;
}

/*
 * host, as in a SIP URI or a Via sent-by (uri.c): hostname / IPv4address /
 * IPv6reference. Returns the cursor after it (after ']' for IPv6) with host
 * (without brackets) and type set, or NULL with *why set to a SIP_HOST_E*.
 */
enum {
	SIP_HOST_EMISSING = 1,
	SIP_HOST_EUNTERM,
	SIP_HOST_EBADV6,
	SIP_HOST_EBADV4,
	SIP_HOST_EBADNAME,
};
const char *sip_host_scan(const char *p, const char *end, struct sip_str *host,
			  enum sip_host_type *type, int *why);
/*
 * Scan a URI starting at p (uri.c). WHOLE: the caller requires it to end at
 * end; ANGLE: inside "<>", it stops at the first byte that cannot continue
 * it (the caller requires '>'); BARE: a bare addr-spec, no URI parameters or
 * headers (what follows ';' is a header parameter, RFC 3261 §20.10). Returns
 * where it stopped (u->raw covers the URI), or NULL with *why (a static
 * reason) and *at (where) set.
 */
enum {
	SIP_URI_SCAN_WHOLE = 0,
	SIP_URI_SCAN_ANGLE,
	SIP_URI_SCAN_BARE,
};
const char *sip_uri_scan(struct sip_uri *u, const char *p, const char *end, int mode,
			 const char **why, const char **at);

/* IPv6address (RFC 3261 §25.1 with the RFC 5118 §4.10 tolerance) / IPv4address. */
bool sip_ipv6_valid(const char *p, const char *end);
bool sip_ipv4_valid(const char *p, const char *end);

/* Method token to id (case-sensitive, RFC 3261 §7.1): a switch on the
 * length, then one memcmp. Unknown tokens are SIP_METHOD_OTHER. */
static inline enum sip_method cc_method_id(const char *p, size_t n)
{
#define M(lit, id) (memcmp(p, lit, sizeof(lit) - 1) == 0 ? (id) : SIP_METHOD_OTHER)
	switch (n) {
	case 3:
		return p[0] == 'A' ? M("ACK", SIP_METHOD_ACK) : M("BYE", SIP_METHOD_BYE);
	case 4:
		return M("INFO", SIP_METHOD_INFO);
	case 5:
		return p[0] == 'P' ? M("PRACK", SIP_METHOD_PRACK) : M("REFER", SIP_METHOD_REFER);
	case 6:
		if (p[0] == 'C')
			return M("CANCEL", SIP_METHOD_CANCEL);
		if (p[0] == 'I')
			return M("INVITE", SIP_METHOD_INVITE);
		if (p[0] == 'N')
			return M("NOTIFY", SIP_METHOD_NOTIFY);
		return M("UPDATE", SIP_METHOD_UPDATE);
	case 7:
		if (p[0] == 'O')
			return M("OPTIONS", SIP_METHOD_OPTIONS);
		if (p[0] == 'P')
			return M("PUBLISH", SIP_METHOD_PUBLISH);
		return M("MESSAGE", SIP_METHOD_MESSAGE);
	case 8:
		return M("REGISTER", SIP_METHOD_REGISTER);
	case 9:
		return M("SUBSCRIBE", SIP_METHOD_SUBSCRIBE);
	default:
		return SIP_METHOD_OTHER;
	}
#undef M
}

#endif /* SIPREG_SIP_CHARCLASS_H */
