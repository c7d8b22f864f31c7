/* SPDX-License-Identifier: MIT */
/*
 * host.h - private: the host scanner of SIP URIs and Via sent-by (RFC 3261
 * §25.1 hostname / IPv4address / IPv6reference), as static inline code so
 * that uri.c and via.c each get it inlined into their scanners (no call per
 * host on the hot path). See uri.c for the grammar and the choices.
 */
#ifndef SIPREG_SIP_HOST_H
#define SIPREG_SIP_HOST_H

#include "charclass.h"

/* IPv4address = 1*3DIGIT "." 1*3DIGIT "." 1*3DIGIT "." 1*3DIGIT, each <= 255,
 * not followed by another host character. Returns the end or NULL. */
static inline const char *scan_ipv4(const char *p, const char *end)
{
	for (int part = 0;; part++) {
		unsigned v, d;

		if (p == end || (v = (unsigned)(unsigned char)*p - '0') > 9)
			return NULL;
		p++;
		if (p != end && (d = (unsigned)(unsigned char)*p - '0') <= 9) {
			v = v * 10 + d;
			p++;
			if (p != end && (d = (unsigned)(unsigned char)*p - '0') <= 9) {
				v = v * 10 + d;
				p++;
				if (v > 255)
					return NULL;
			}
		}
		if (part == 3)
			break;
		if (p == end || *p != '.')
			return NULL;
		p++;
	}
	if (p != end && (sip_cc[(unsigned char)*p] & CC_HOST))
		return NULL;
	return p;
}

/* The exact label rules of a hostname, for the rare name the fast scan
 * flagged: no empty label, no label starting or ending with "-". */
static inline bool labels_valid(const char *p, const char *end)
{
	char prev = '.';

	for (; p != end; prev = *p++) {
		if (*p == '.' && (prev == '.' || prev == '-'))
			return false;
		if (*p == '-' && prev == '.')
			return false;
	}
	return prev != '-';
}

/*
 * hostname / IPv4address: one pass that ORs the classes seen (a letter or
 * "_" makes it a name) and ANDs each class with the previous one: a "." or
 * "-" next to another (or first) sends the name to labels_valid(), so
 * "xn--" passes and "a..b", ".a", "a-.b" do not.
 */
static inline const char *scan_name(const char *p, const char *end, unsigned *acc_out)
{
	unsigned prev = CC_HSEP, acc = 0, pairs = 0;
	const char *s = p;

	for (; p != end; p++) {
		unsigned c = sip_cc[(unsigned char)*p];
		if (!(c & CC_HOST))
			break;
		acc |= c;
		pairs |= prev & c;
		prev = c;
	}
	if (unlikely(((pairs | prev) & (CC_HSEP | CC_DASH)) && !labels_valid(s, p)))
		acc = ~0u;
	*acc_out = acc;
	return p;
}

#if CC_SSE2
/*
 * A host shorter than 16 bytes: the classes of the 16 bytes at p (zero
 * padded past end, cc_load16) from one vector, the label rules and the IPv4
 * dots from the bit masks. Returns 1 (done, *q set or *why set), or 0 when
 * the host is 16 bytes or longer (the scalar scan takes it).
 */
static inline __attribute__((always_inline)) int
host_sse2(const char *p, const char *end, const char **q, struct sip_str *host,
	  enum sip_host_type *type, int *why)
{
	__m128i x = cc_load16(p, end);
	__m128i lo = _mm_or_si128(x, sip_k16(0x20));
	__m128i az = _mm_and_si128(_mm_cmpgt_epi8(lo, sip_k16(0x60)),
				   _mm_cmplt_epi8(lo, sip_k16(0x7b)));
	__m128i alpha = _mm_or_si128(az, _mm_cmpeq_epi8(x, sip_k16('_')));
	__m128i digit = _mm_and_si128(_mm_cmpgt_epi8(x, sip_k16(0x2f)),
				      _mm_cmplt_epi8(x, sip_k16(0x3a)));
	unsigned ma = (unsigned)_mm_movemask_epi8(alpha);
	unsigned md = (unsigned)_mm_movemask_epi8(digit);
	__m128i dot = _mm_cmpeq_epi8(x, sip_k16('.'));
	__m128i dash = _mm_cmpeq_epi8(x, sip_k16('-'));
	unsigned mdot = (unsigned)_mm_movemask_epi8(dot);
	unsigned mdash = (unsigned)_mm_movemask_epi8(dash);
	unsigned n = (unsigned)__builtin_ctz(~(ma | md | mdot | mdash) | 0x10000u);
	unsigned span, seps, bad;

	if (n == 16)
		return 0;
	if (unlikely(n == 0)) {
		*why = SIP_HOST_EMISSING;
		*q = NULL;
		return 1;
	}
	span = (1u << n) - 1;
	mdot &= span;
	mdash &= span;
	seps = mdot | mdash;
	/* a leading "." or "-", ".." ".-" "-.", a trailing "-" */
	bad = (seps & 1u) | ((mdot << 1) & seps) | ((seps << 1) & mdot) |
	      (mdash & (1u << (n - 1)));
	*host = sip_str_make(p, n);
	*q = p + n;
	if (unlikely(bad)) {
		*why = SIP_HOST_EBADNAME;
		*q = NULL;
		return 1;
	}
	if (ma & span) {
		*type = SIP_HOST_NAME;
		return 1;
	}
	*type = SIP_HOST_IPV4;
	if (likely(!mdash && mdot)) {
		/*
		 * Digits and dots only, no leading or double dot (bad above):
		 * a dotted quad when there are exactly three dots, no trailing
		 * one, no run of four digits, and every three-digit run at
		 * most "255", compared byte by byte from the masks: above at
		 * i when x[i] > '2', or x[i] == '2' and (x[i+1] > '5', or
		 * x[i+1] == '5' and x[i+2] > '5').
		 */
		unsigned m = mdot & (mdot - 1), d = md & span, run3;

		m &= m - 1;
		run3 = d & (d >> 1) & (d >> 2);
		if (m && !(m & (m - 1)) && !(mdot & (1u << (n - 1))) && !(run3 & (d >> 3))) {
			unsigned g2 = (unsigned)_mm_movemask_epi8(_mm_cmpgt_epi8(x, sip_k16('2')));
			unsigned e2 = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(x, sip_k16('2')));
			unsigned g5 = (unsigned)_mm_movemask_epi8(_mm_cmpgt_epi8(x, sip_k16('5')));
			unsigned e5 = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(x, sip_k16('5')));

			if (!(run3 & (g2 | (e2 & ((g5 >> 1) | ((e5 >> 1) & (g5 >> 2)))))))
				return 1;
		}
	}
	*why = SIP_HOST_EBADV4;
	*q = NULL;
	return 1;
}
#endif

static inline __attribute__((always_inline)) const char *
host_scan(const char *p, const char *end, struct sip_str *host, enum sip_host_type *type,
	  int *why)
{
	const char *q;
	unsigned acc;

	if (unlikely(p == end)) {
		*why = SIP_HOST_EMISSING;
		return NULL;
	}
	if (*p == '[') {
		q = cc_span(p + 1, end, CC_V6);
		if (unlikely(q == end || *q != ']')) {
			*why = SIP_HOST_EUNTERM;
			return NULL;
		}
		if (unlikely(!sip_ipv6_valid(p + 1, q))) {
			*why = SIP_HOST_EBADV6;
			return NULL;
		}
		*host = sip_str_make(p + 1, (size_t)(q - p - 1));
		*type = SIP_HOST_IPV6;
		return q + 1;
	}
#if CC_SSE2
	if (host_sse2(p, end, &q, host, type, why))
		return q;
#endif
	if ((unsigned)(*p - '0') <= 9 && (q = scan_ipv4(p, end)) != NULL) {
		*type = SIP_HOST_IPV4;
		*host = sip_str_make(p, (size_t)(q - p));
		return q;
	}
	q = scan_name(p, end, &acc);
	if (unlikely(q == p)) {
		*why = SIP_HOST_EMISSING;
		return NULL;
	}
	if (unlikely(acc == ~0u)) {
		*why = SIP_HOST_EBADNAME;
		return NULL;
	}
	if (acc & CC_ALPHA) {
		*type = SIP_HOST_NAME;
	} else {
		if (unlikely(!(scan_ipv4(p, q) == q))) {
			*why = SIP_HOST_EBADV4;
			return NULL;
		}
		*type = SIP_HOST_IPV4;
	}
	*host = sip_str_make(p, (size_t)(q - p));
	return q;
}

#endif /* SIPREG_SIP_HOST_H */
