/* SPDX-License-Identifier: MIT */
/*
 * uriscan.h - private: the SIP URI scanner (see uri.c for the grammar and the
 * choices) as static inline code, so that the name-addr parsers (nameaddr.c:
 * From, To, Contact, Route, Path) get it inlined instead of calling it once
 * per URI; uri.c keeps the exported sip_uri_scan and sip_uri_parse on top.
 */
#ifndef SIPREG_SIP_URISCAN_H
#define SIPREG_SIP_URISCAN_H

#include "host.h"

/* port = 1*DIGIT, 1..65535 (leading zeros allowed); p is after the colon. */
static inline const char *scan_port(const char *p, const char *end, uint16_t *port)
{
	uint32_t v = 0;
	const char *s;

	while (p != end && *p == '0')
		p++;
	s = p;
	while (p != end && (unsigned)(*p - '0') <= 9 && p - s < 6)
		v = v * 10 + (uint32_t)(*p++ - '0');
	if (unlikely(v == 0 || v > 65535))
		return NULL;
	*port = (uint16_t)v;
	return p;
}

/* A well-known URI parameter (first one wins). */
static inline void uri_param(struct sip_uri *u, const char *n, size_t nlen,
			     struct sip_str v)
{
	switch (nlen) {
	case 2:
		if (CC_LIT_CASEEQ(n, nlen, "lr"))
			u->lr = true;
		break;
	case 4:
		if (CC_LIT_CASEEQ(n, nlen, "user") && !sip_str_isset(u->user_param))
			u->user_param = v;
		break;
	case 5:
		if (CC_LIT_CASEEQ(n, nlen, "maddr") && !sip_str_isset(u->maddr))
			u->maddr = v;
		break;
	case 9:
		if (CC_LIT_CASEEQ(n, nlen, "transport") && !sip_str_isset(u->transport))
			u->transport = v;
		break;
	}
}

/* uri-parameters: p at the first ';'. Returns the cursor after them or NULL. */
static inline const char *uri_scan_params(struct sip_uri *u, const char *p,
					   const char *end)
{
	const char *start = p + 1;

	while (p != end && *p == ';') {
		const char *n = p + 1, *q = cc_span_esc(n, end, CC_PARAM);
		struct sip_str v = SIP_STR_NULL;

		if (unlikely(q == n))
			return NULL;
		p = q;
		if (q != end && *q == '=') {
			p = cc_span_esc(q + 1, end, CC_PARAM);
			if (unlikely(p == q + 1))
				return NULL;
			v = sip_str_make(q + 1, (size_t)(p - q - 1));
		}
		uri_param(u, n, (size_t)(q - n), v);
	}
	u->params = sip_str_make(start, (size_t)(p - start));
	return p;
}

/* headers: p after '?'. Returns the cursor after them or NULL. */
static inline const char *scan_headers(const char *p, const char *end)
{
	for (;;) {
		const char *q = cc_span_esc(p, end, CC_HNV);
		if (unlikely(q == p || q == end || *q != '='))
			return NULL;
		p = cc_span_esc(q + 1, end, CC_HNV);
		if (p == end || *p != '&')
			return p;
		p++;
	}
}

/* userinfo: sets user/password and returns the cursor after '@', or p itself
 * when there is no userinfo, or NULL when malformed. */
static inline const char *scan_userinfo(struct sip_uri *u, const char *p, const char *end)
{
	const char *q = cc_span_esc(p, end, CC_USER), *w;

	if (q == end)
		return p;
	if (*q == '@') {
		w = q;
	} else if (*q == ':') {
		w = cc_span_esc(q + 1, end, CC_PASS);
		if (w == end || *w != '@')
			return p; /* host:port */
		u->password = sip_str_make(q + 1, (size_t)(w - q - 1));
	} else if (*q == '%') {
		/* a bad escape: in the user part when an '@' follows */
		return memchr(q, '@', (size_t)(end - q)) ? NULL : p;
	} else {
		return p;
	}
	if (unlikely(q == p))
		return NULL;
	u->user = sip_str_make(p, (size_t)(q - p));
	return w + 1;
}

/* An opaque URI: anything but CTL, SP, '<', '>', '"' (and, for a bare
 * addr-spec, ';' and ','). Returns where it stops. */
static inline const char *scan_opaque(const char *p, const char *end, int mode)
{
	for (; p != end; p++) {
		unsigned char c = (unsigned char)*p;
		if (c <= 0x20 || c == 0x7f || c == '<' || c == '>' || c == '"')
			break;
		if (mode == SIP_URI_SCAN_BARE && (c == ';' || c == ','))
			break;
	}
	return p;
}

/* A ',', ';' or '?' in [p, q): not part of a bare addr-spec's userinfo. */
static inline bool bare_userinfo_bad(const char *p, const char *q)
{
	for (; p != q; p++)
		if (*p == ',' || *p == ';' || *p == '?')
			return true;
	return false;
}

static inline enum sip_uri_scheme scheme_of(const char *p, size_t n)
{
	if (n == 3 && CC_LIT_CASEEQ(p, n, "sip"))
		return SIP_URI_SIP;
	if (n == 4 && CC_LIT_CASEEQ(p, n, "sips"))
		return SIP_URI_SIPS;
	if (n == 3 && CC_LIT_CASEEQ(p, n, "tel"))
		return SIP_URI_TEL;
	return SIP_URI_OTHER;
}

static inline __attribute__((always_inline)) const char *
uri_scan(struct sip_uri *u, const char *p, const char *end, int mode, const char **why,
	 const char **at)
{
	static const char *const host_reason[] = {
		[SIP_HOST_EMISSING] = "Bad URI: missing host",
		[SIP_HOST_EUNTERM] = "Bad URI: unterminated IPv6 reference",
		[SIP_HOST_EBADV6] = "Bad URI: bad IPv6 address",
		[SIP_HOST_EBADV4] = "Bad URI: bad IPv4 address",
		[SIP_HOST_EBADNAME] = "Bad URI: bad host name",
	};
	const char *s = p, *q;
	int hw = 0;

	cc_zero(u, sizeof(*u)); /* every field unset */
	u->raw.p = p;
	/* the usual "sip:" (any case) in one compare: the ':' exactly, 0x20 ORed
	 * into the letters only */
	if (likely(end - p >= 4 && (cc_load(p, 4) | 0x00202020u) == CC_LIT("sip:"))) {
		u->scheme = SIP_URI_SIP;
		p += 4;
		goto userinfo;
	}
	q = cc_span(p, end, CC_SCHEME);
	if (unlikely(q == p || q == end || *q != ':' ||
		     !(sip_cc[(unsigned char)*p] & CC_ALPHA) || *p == '_')) {
		*why = "Bad URI: missing scheme";
		*at = p;
		return NULL;
	}
	u->scheme = scheme_of(p, (size_t)(q - p));
	p = q + 1;
	if (unlikely(u->scheme >= SIP_URI_TEL)) {
		q = scan_opaque(p, end, mode);
		if (unlikely(q == p)) {
			*why = "Bad URI: bad characters";
			*at = p;
			return NULL;
		}
		u->opaque = sip_str_make(p, (size_t)(q - p));
		u->raw.len = (size_t)(q - s);
		return q;
	}
userinfo:
	*at = p;
	q = scan_userinfo(u, p, end);
	if (unlikely(q == NULL)) {
		*why = "Bad URI: bad user part";
		return NULL;
	}
	if (unlikely(mode == SIP_URI_SCAN_BARE && q != p && bare_userinfo_bad(p, q))) {
		/* RFC 3261 §20: a bare addr-spec holds no ',', ';' or '?': they
		 * end it */
		u->user = u->password = SIP_STR_NULL;
		q = p;
	}
	*at = q;
	p = host_scan(q, end, &u->host, &u->host_type, &hw);
	if (unlikely(p == NULL)) {
		*why = host_reason[hw];
		return NULL;
	}
	if (p != end && *p == ':') {
		*at = p + 1;
		p = scan_port(p + 1, end, &u->port);
		if (unlikely(p == NULL)) {
			*why = "Bad URI: bad port";
			return NULL;
		}
	}
	if (mode != SIP_URI_SCAN_BARE) {
		if (p != end && *p == ';') {
			*at = p;
			p = uri_scan_params(u, p, end);
			if (unlikely(p == NULL)) {
				*why = "Bad URI: bad parameter";
				return NULL;
			}
		}
		if (p != end && *p == '?') {
			q = p + 1;
			*at = q;
			p = scan_headers(q, end);
			if (unlikely(p == NULL)) {
				*why = "Bad URI: bad headers";
				return NULL;
			}
			u->headers = sip_str_make(q, (size_t)(p - q));
		}
	}
	u->raw.len = (size_t)(p - s);
	return p;
}

#endif /* SIPREG_SIP_URISCAN_H */
