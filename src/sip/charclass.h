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
 * unreserved = alphanum / "-" "_" "." "!" "~" "*" "'" "(" ")"; "%" is in the
 * escaped classes and is checked for two HEXDIG by the scanner that meets it.
 */
#ifndef SIPREG_SIP_CHARCLASS_H
#define SIPREG_SIP_CHARCLASS_H

#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "sipreg/sip.h"

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
};

/* Generated from the RFC 3261 §25.1 sets listed above. */
static const uint16_t sip_cc[256] = {
	0x000, 0x000, 0x000, 0x000, 0x000, 0x000, 0x000, 0x000, /* 00 ........ */
	0x000, 0x040, 0x040, 0x000, 0x000, 0x040, 0x000, 0x000, /* 08 ........ */
	0x000, 0x000, 0x000, 0x000, 0x000, 0x000, 0x000, 0x000, /* 10 ........ */
	0x000, 0x000, 0x000, 0x000, 0x000, 0x000, 0x000, 0x000, /* 18 ........ */
	0x040, 0x837, 0x000, 0x000, 0x836, 0x837, 0x816, 0x837, /* 20 .!"#$%&' */
	0x836, 0x836, 0x837, 0xa37, 0x006, 0xa3f, 0xe3f, 0x832, /* 28 ()*+,-./ */
	0xfbf, 0xfbf, 0xfbf, 0xfbf, 0xfbf, 0xfbf, 0xfbf, 0xfbf, /* 30 01234567 */
	0xfbf, 0xfbf, 0xc30, 0x002, 0x000, 0x006, 0x000, 0x022, /* 38 89:;<=>? */
	0x000, 0xebf, 0xebf, 0xebf, 0xebf, 0xebf, 0xebf, 0xa3f, /* 40 @ABCDEFG */
	0xa3f, 0xa3f, 0xa3f, 0xa3f, 0xa3f, 0xa3f, 0xa3f, 0xa3f, /* 48 HIJKLMNO */
	0xa3f, 0xa3f, 0xa3f, 0xa3f, 0xa3f, 0xa3f, 0xa3f, 0xa3f, /* 50 PQRSTUVW */
	0xa3f, 0xa3f, 0xa3f, 0x830, 0x000, 0x830, 0x000, 0x83f, /* 58 XYZ[\]^_ */
	0x801, 0xebf, 0xebf, 0xebf, 0xebf, 0xebf, 0xebf, 0xa3f, /* 60 `abcdefg */
	0xa3f, 0xa3f, 0xa3f, 0xa3f, 0xa3f, 0xa3f, 0xa3f, 0xa3f, /* 68 hijklmno */
	0xa3f, 0xa3f, 0xa3f, 0xa3f, 0xa3f, 0xa3f, 0xa3f, 0xa3f, /* 70 pqrstuvw */
	0xa3f, 0xa3f, 0xa3f, 0x000, 0x000, 0x000, 0x837, 0x000, /* 78 xyz{|}~. */
	0x000, 0x000, 0x000, 0x000, 0x000, 0x000, 0x000, 0x000, /* 80 ........ */
	0x000, 0x000, 0x000, 0x000, 0x000, 0x000, 0x000, 0x000, /* 88 ........ */
	0x000, 0x000, 0x000, 0x000, 0x000, 0x000, 0x000, 0x000, /* 90 ........ */
	0x000, 0x000, 0x000, 0x000, 0x000, 0x000, 0x000, 0x000, /* 98 ........ */
	0x000, 0x000, 0x000, 0x000, 0x000, 0x000, 0x000, 0x000, /* a0 ........ */
	0x000, 0x000, 0x000, 0x000, 0x000, 0x000, 0x000, 0x000, /* a8 ........ */
	0x000, 0x000, 0x000, 0x000, 0x000, 0x000, 0x000, 0x000, /* b0 ........ */
	0x000, 0x000, 0x000, 0x000, 0x000, 0x000, 0x000, 0x000, /* b8 ........ */
	0x000, 0x000, 0x000, 0x000, 0x000, 0x000, 0x000, 0x000, /* c0 ........ */
	0x000, 0x000, 0x000, 0x000, 0x000, 0x000, 0x000, 0x000, /* c8 ........ */
	0x000, 0x000, 0x000, 0x000, 0x000, 0x000, 0x000, 0x000, /* d0 ........ */
	0x000, 0x000, 0x000, 0x000, 0x000, 0x000, 0x000, 0x000, /* d8 ........ */
	0x000, 0x000, 0x000, 0x000, 0x000, 0x000, 0x000, 0x000, /* e0 ........ */
	0x000, 0x000, 0x000, 0x000, 0x000, 0x000, 0x000, 0x000, /* e8 ........ */
	0x000, 0x000, 0x000, 0x000, 0x000, 0x000, 0x000, 0x000, /* f0 ........ */
	0x000, 0x000, 0x000, 0x000, 0x000, 0x000, 0x000, 0x000, /* f8 ........ */
};

static inline int cc_is(unsigned char c, unsigned cls)
{
	return sip_cc[c] & cls;
}

/* Skip LWS: SP, HTAB and folds (CRLF followed by SP/HTAB). The framing layer
 * only leaves CR/LF inside a value as part of a fold, so any CR/LF is LWS. */
static inline const char *cc_skip_ws(const char *p, const char *end)
{
	while (p != end && (sip_cc[(unsigned char)*p] & CC_WS))
		p++;
	return p;
}

/* Advance over a run of one class (possibly empty). Unrolled by four: the
 * runs (branch, tag, host) are 5 to 40 bytes long. */
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

/* ASCII case-insensitive compare of [p, p+n) with a lower-case literal. */
static inline int cc_lit_caseeq(const char *p, size_t n, const char *lit, size_t litlen)
{
	if (n != litlen)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)(p[i] | 0x20) != (unsigned char)lit[i])
			return 0;
	return 1;
}
#define CC_LIT_CASEEQ(p, n, lit) cc_lit_caseeq((p), (n), "" lit, sizeof(lit) - 1)

/*
 * quoted-string = SWS DQUOTE *(qdtext / quoted-pair ) DQUOTE
 * qdtext        = LWS / %x21 / %x23-5B / %x5D-7E / UTF8-NONASCII
 * quoted-pair   = "\" (%x00-09 / %x0B-0C / %x0E-7F)
 * p points just after the opening quote; returns the closing quote, or NULL
 * when there is none before end. The scan is memchr for '"', then a check of
 * the backslash run before it (an odd run escapes the quote). Bare control
 * characters inside the quotes are tolerated (the value is never
 * interpreted here, and sip_str_unquote copies them as they are).
 */
static inline const char *cc_quoted_end(const char *p, const char *end)
{
	const char *start = p;

	while (p != end) {
		const char *q = memchr(p, '"', (size_t)(end - p));
		const char *b;

		if (q == NULL)
			return NULL;
		for (b = q; b != start && b[-1] == '\\'; b--)
			;
		if (((q - b) & 1) == 0)
			return q;
		p = q + 1;
	}
	return NULL;
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
	r = cc_skip_ws(q, end);
	if (r == end || *r != '=') {
		*value = SIP_STR_NULL;
		return q;
	}
	r = cc_skip_ws(r + 1, end);
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
	const char *p = cc_skip_ws(*pp, end), *q;

	if (p == end || *p == ',') {
		*pp = p;
		return 0;
	}
	if (unlikely(*p != ';')) {
		*pp = p;
		return -1;
	}
	p = cc_skip_ws(p + 1, end);
	q = cc_param_read(p, end, name, value);
	if (unlikely(q == NULL)) {
		*pp = p;
		return -1;
	}
	*pp = q;
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
