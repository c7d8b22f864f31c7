/* SPDX-License-Identifier: MIT */
/*
 * uri.c - SIP and SIPS URIs (RFC 3261 §19.1, §25.1, RFC 5118 for IPv6);
 * tel: (RFC 3966) and any other absoluteURI are kept opaque.
 *
 *   SIP-URI        = "sip:" [ userinfo ] hostport uri-parameters [ headers ]
 *   SIPS-URI       = "sips:" [ userinfo ] hostport uri-parameters [ headers ]
 *   userinfo       = ( user / telephone-subscriber ) [ ":" password ] "@"
 *   user           = 1*( unreserved / escaped / user-unreserved )
 *   user-unreserved = "&" / "=" / "+" / "$" / "," / ";" / "?" / "/"
 *   password       = *( unreserved / escaped / "&" / "=" / "+" / "$" / "," )
 *   hostport       = host [ ":" port ]
 *   host           = hostname / IPv4address / IPv6reference
 *   hostname       = *( domainlabel "." ) toplabel [ "." ]
 *   domainlabel    = alphanum / alphanum *( alphanum / "-" ) alphanum
 *   IPv4address    = 1*3DIGIT "." 1*3DIGIT "." 1*3DIGIT "." 1*3DIGIT
 *   IPv6reference  = "[" IPv6address "]"
 *   IPv6address    = hexpart [ ":" IPv4address ]
 *   hexpart        = hexseq / hexseq "::" [ hexseq ] / "::" [ hexseq ]
 *   hexseq         = hex4 *( ":" hex4)
 *   hex4           = 1*4HEXDIG
 *   port           = 1*DIGIT
 *   uri-parameters = *( ";" uri-parameter)
 *   uri-parameter  = transport-param / user-param / method-param
 *                    / ttl-param / maddr-param / lr-param / other-param
 *   other-param    = pname [ "=" pvalue ]
 *   pname          = 1*paramchar
 *   pvalue         = 1*paramchar
 *   paramchar      = param-unreserved / unreserved / escaped
 *   headers        = "?" header *( "&" header )
 *   header         = hname "=" hvalue
 *   hname          = 1*( hnv-unreserved / unreserved / escaped )
 *   hvalue         = *( hnv-unreserved / unreserved / escaped )
 *   escaped        = "%" HEXDIG HEXDIG
 *   absoluteURI    = scheme ":" ( hier-part / opaque-part )
 *   scheme         = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )
 *
 * Choices:
 * - Escapes are checked (two HEXDIG) and kept raw in user, password, params
 *   and headers.
 * - RFC 5118 §4.2: "sip:2001:db8::10" (no brackets) is an error (the port
 *   would be "db8"); §4.3: "[2001:db8::10:5070]" is an address with no port;
 *   §4.10: the 3-colon form "2001:db8:::192.0.2.1" of RFC 3261's ABNF bug is
 *   tolerated. §4.9: "::ffff:192.0.2.1" is accepted.
 * - Port 1..65535; 0, an empty port and overflow are errors.
 * - A hostname may also hold "_" (seen in real deployments, e.g. container
 *   names); labels may not be empty or start/end with "-". A host made only
 *   of digits and dots must be a valid IPv4 address.
 * - No LWS anywhere inside a URI (RFC 4475 §3.1.2.8 lwsruri, §3.1.2.14
 *   badaspec: rejected).
 */
#include "host.h"


bool sip_ipv4_valid(const char *p, const char *end)
{
	return scan_ipv4(p, end) == end;
}

/* Groups of 1-4 HEXDIG separated by ':', an optional trailing IPv4address,
 * at least two colons, at most 8 groups; empty groups only as part of "::"
 * (or the RFC 5118 §4.10 ":::"), and no colon run longer than three. */
bool sip_ipv6_valid(const char *p, const char *end)
{
	unsigned colons = 0, groups = 0, run = 0;

	if (end - p < 2 || end - p > 64 || (p[0] == ':' && p[1] != ':'))
		return false;
	while (p != end) {
		const char *g = p;

		if (*p == ':') {
			if (++run > 3)
				return false;
			colons++;
			p++;
			continue;
		}
		run = 0;
		while (p != end && cc_is(*p, CC_HEX))
			p++;
		if (p != end && *p == '.') /* the IPv4 tail */
			return colons >= 2 && groups <= 6 && sip_ipv4_valid(g, end);
		if (p - g > 4 || p == g || ++groups > 8)
			return false;
	}
	/* a single trailing ':' is not "::" */
	return colons >= 2 && run != 1;
}

const char *sip_host_scan(const char *p, const char *end, struct sip_str *host,
			  enum sip_host_type *type, int *why)
{
	return host_scan(p, end, host, type, why);
}

/* port = 1*DIGIT, 1..65535 (leading zeros allowed); p is after the colon. */
static const char *scan_port(const char *p, const char *end, uint16_t *port)
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
static void uri_param(struct sip_uri *u, const char *n, size_t nlen, struct sip_str v)
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
static const char *scan_params(struct sip_uri *u, const char *p, const char *end)
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
static const char *scan_headers(const char *p, const char *end)
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
static const char *scan_userinfo(struct sip_uri *u, const char *p, const char *end)
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
static const char *scan_opaque(const char *p, const char *end, int mode)
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
static bool bare_userinfo_bad(const char *p, const char *q)
{
	for (; p != q; p++)
		if (*p == ',' || *p == ';' || *p == '?')
			return true;
	return false;
}

static enum sip_uri_scheme scheme_of(const char *p, size_t n)
{
	if (n == 3 && CC_LIT_CASEEQ(p, n, "sip"))
		return SIP_URI_SIP;
	if (n == 4 && CC_LIT_CASEEQ(p, n, "sips"))
		return SIP_URI_SIPS;
	if (n == 3 && CC_LIT_CASEEQ(p, n, "tel"))
		return SIP_URI_TEL;
	return SIP_URI_OTHER;
}

const char *sip_uri_scan(struct sip_uri *u, const char *p, const char *end, int mode,
			 const char **why, const char **at)
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
	if (likely(end - p >= 4 && (cc_load(p, 4) | 0x00202020u) == cc_load("sip:", 4))) {
		u->scheme = SIP_URI_SIP;
		p += 4;
		goto userinfo;
	}
	q = cc_span(p, end, CC_SCHEME);
	if (unlikely(q == p || q == end || *q != ':' || !(sip_cc[(unsigned char)*p] & CC_ALPHA) ||
		     *p == '_')) {
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
		/* RFC 3261 §20: a bare addr-spec holds no ',', ';' or '?': they end it */
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
			p = scan_params(u, p, end);
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

int sip_uri_parse(struct sip_uri *u, struct sip_str s, struct sip_err *err)
{
	const char *end = s.p + s.len, *why = NULL, *at = s.p, *p;

	if (unlikely(s.len == 0))
		return cc_fail(err, "Bad URI: missing scheme", s.p, s.p);
	p = sip_uri_scan(u, s.p, end, SIP_URI_SCAN_WHOLE, &why, &at);
	if (unlikely(p == NULL))
		return cc_fail(err, why, s.p, at);
	if (unlikely(p != end))
		return cc_fail(err, "Bad URI: unexpected character", s.p, p);
	return 0;
}
