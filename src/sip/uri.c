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
 * - Escapes are checked (two HEXDIG) and kept raw in user, password, params.
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
#include "charclass.h"

#define FAIL(reason, at) cc_fail(err, (reason), s.p, (at))

/* Every '%' in [p, end) is followed by two HEXDIG inside the range. */
static bool escapes_valid(const char *p, const char *end)
{
	while ((p = memchr(p, '%', (size_t)(end - p))) != NULL) {
		if (unlikely(end - p < 3 || !cc_is(p[1], CC_HEX) || !cc_is(p[2], CC_HEX)))
			return false;
		p += 3;
	}
	return true;
}

bool sip_ipv4_valid(const char *p, const char *end)
{
	unsigned parts = 0;

	while (parts < 4) {
		unsigned v = 0, n = 0;

		while (p != end && cc_is(*p, CC_DIGIT) && n < 4) {
			v = v * 10 + (unsigned)(*p++ - '0');
			n++;
		}
		if (n == 0 || n > 3 || v > 255)
			return false;
		if (++parts < 4) {
			if (p == end || *p != '.')
				return false;
			p++;
		}
	}
	return p == end;
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
	/* a single trailing or leading ':' is not "::" */
	return colons >= 2 && run != 1;
}

/* hostname / IPv4address: classify and check the labels; 0 or SIP_HOST_E*. */
static int check_name(const char *p, const char *end, enum sip_host_type *type)
{
	bool alpha = false, label_start = true;
	char prev = '.';

	for (const char *q = p; q != end; q++) {
		char c = *q;
		if (c == '.') {
			if (label_start || prev == '-')
				return SIP_HOST_EBADNAME;
			label_start = true;
		} else {
			if (label_start && c == '-')
				return SIP_HOST_EBADNAME;
			if (!cc_is(c, CC_DIGIT))
				alpha = true;
			label_start = false;
		}
		prev = c;
	}
	if (prev == '-')
		return SIP_HOST_EBADNAME;
	if (!alpha) {
		*type = SIP_HOST_IPV4;
		return sip_ipv4_valid(p, end) ? 0 : SIP_HOST_EBADV4;
	}
	*type = SIP_HOST_NAME;
	return 0;
}

const char *sip_host_scan(const char *p, const char *end, struct sip_str *host,
			  enum sip_host_type *type, int *why)
{
	const char *q;

	if (p != end && *p == '[') {
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
	q = cc_span(p, end, CC_HOST);
	if (unlikely(q == p)) {
		*why = SIP_HOST_EMISSING;
		return NULL;
	}
	if (unlikely((*why = check_name(p, q, type)) != 0))
		return NULL;
	*host = sip_str_make(p, (size_t)(q - p));
	return q;
}

/* ":" port, 1..65535. p is after the colon; NULL when bad. */
static const char *scan_port(const char *p, const char *end, uint16_t *port)
{
	const char *q = cc_span(p, end, CC_DIGIT);
	uint32_t v = 0;

	if (unlikely(q == p || q - p > 5))
		return NULL;
	for (const char *d = p; d != q; d++)
		v = v * 10 + (uint32_t)(*d - '0');
	if (unlikely(v == 0 || v > 65535))
		return NULL;
	*port = (uint16_t)v;
	return q;
}

/* Look up a well-known URI parameter. */
static void uri_param(struct sip_uri *u, struct sip_str n, struct sip_str v)
{
	switch (n.len) {
	case 2:
		if (CC_LIT_CASEEQ(n.p, n.len, "lr"))
			u->lr = true;
		break;
	case 4:
		if (CC_LIT_CASEEQ(n.p, n.len, "user") && !sip_str_isset(u->user_param))
			u->user_param = v;
		break;
	case 5:
		if (CC_LIT_CASEEQ(n.p, n.len, "maddr") && !sip_str_isset(u->maddr))
			u->maddr = v;
		break;
	case 9:
		if (CC_LIT_CASEEQ(n.p, n.len, "transport") && !sip_str_isset(u->transport))
			u->transport = v;
		break;
	}
}

/* uri-parameters: p at the first ';'. Returns the cursor after them or NULL. */
static const char *scan_params(struct sip_uri *u, const char *p, const char *end)
{
	const char *start = p + 1;

	while (p != end && *p == ';') {
		const char *n = p + 1, *q = cc_span(n, end, CC_PARAM);
		struct sip_str v = SIP_STR_NULL;

		if (unlikely(q == n))
			return NULL;
		if (q != end && *q == '=') {
			const char *e = cc_span(q + 1, end, CC_PARAM);
			if (unlikely(e == q + 1))
				return NULL;
			v = sip_str_make(q + 1, (size_t)(e - q - 1));
			uri_param(u, sip_str_make(n, (size_t)(q - n)), v);
			p = e;
		} else {
			uri_param(u, sip_str_make(n, (size_t)(q - n)), v);
			p = q;
		}
	}
	u->params = sip_str_make(start, (size_t)(p - start));
	return escapes_valid(start, p) ? p : NULL;
}

/* headers: p after '?'. Returns the cursor after them or NULL. */
static const char *scan_headers(const char *p, const char *end)
{
	const char *start = p;

	for (;;) {
		const char *q = cc_span(p, end, CC_HNV);
		if (unlikely(q == p || q == end || *q != '='))
			return NULL;
		p = cc_span(q + 1, end, CC_HNV);
		if (p == end || *p != '&')
			break;
		p++;
	}
	return escapes_valid(start, p) ? p : NULL;
}

/* userinfo: sets user/password and returns the cursor after '@', or p itself
 * when there is no userinfo, or NULL when malformed. */
static const char *scan_userinfo(struct sip_uri *u, const char *p, const char *end)
{
	const char *q = cc_span(p, end, CC_USER), *w;

	if (q == end)
		return p;
	if (*q == '@') {
		w = q;
	} else if (*q == ':') {
		w = cc_span(q + 1, end, CC_PASS);
		if (w == end || *w != '@')
			return p; /* host:port */
		u->password = sip_str_make(q + 1, (size_t)(w - q - 1));
	} else {
		return p;
	}
	if (unlikely(q == p || !escapes_valid(p, w)))
		return NULL;
	u->user = sip_str_make(p, (size_t)(q - p));
	return w + 1;
}

/* Anything but CTL, SP, '<', '>' and '"' in an opaque URI. */
static bool opaque_valid(const char *p, const char *end)
{
	if (p == end)
		return false;
	for (; p != end; p++) {
		unsigned char c = (unsigned char)*p;
		if (c <= 0x20 || c == 0x7f || c == '<' || c == '>' || c == '"')
			return false;
	}
	return true;
}

static int scheme_of(const char *p, size_t n)
{
	if (n == 3 && (p[0] | 0x20) == 's' && (p[1] | 0x20) == 'i' && (p[2] | 0x20) == 'p')
		return SIP_URI_SIP;
	if (n == 4 && CC_LIT_CASEEQ(p, n, "sips"))
		return SIP_URI_SIPS;
	if (n == 3 && CC_LIT_CASEEQ(p, n, "tel"))
		return SIP_URI_TEL;
	return SIP_URI_OTHER;
}

int sip_uri_parse(struct sip_uri *u, struct sip_str s, struct sip_err *err)
{
	const char *p = s.p, *end = s.p + s.len, *q;
	int why = 0;
	static const char *const host_reason[] = {
		[SIP_HOST_EMISSING] = "Bad URI: missing host",
		[SIP_HOST_EUNTERM] = "Bad URI: unterminated IPv6 reference",
		[SIP_HOST_EBADV6] = "Bad URI: bad IPv6 address",
		[SIP_HOST_EBADV4] = "Bad URI: bad IPv4 address",
		[SIP_HOST_EBADNAME] = "Bad URI: bad host name",
	};

	memset(u, 0, sizeof(*u));
	u->raw = s;
	q = cc_span(p, end, CC_SCHEME);
	if (unlikely(q == p || q == end || *q != ':' || (unsigned)((*p | 0x20) - 'a') > 25))
		return FAIL("Bad URI: missing scheme", p);
	u->scheme = (enum sip_uri_scheme)scheme_of(p, (size_t)(q - p));
	p = q + 1;
	if (u->scheme >= SIP_URI_TEL) {
		if (unlikely(!opaque_valid(p, end)))
			return FAIL("Bad URI: bad characters", p);
		u->opaque = sip_str_make(p, (size_t)(end - p));
		return 0;
	}
	q = scan_userinfo(u, p, end);
	if (unlikely(q == NULL))
		return FAIL("Bad URI: bad user part", p);
	p = sip_host_scan(q, end, &u->host, &u->host_type, &why);
	if (unlikely(p == NULL))
		return FAIL(host_reason[why], q);
	if (p != end && *p == ':') {
		q = p + 1;
		p = scan_port(q, end, &u->port);
		if (unlikely(p == NULL))
			return FAIL("Bad URI: bad port", q);
	}
	if (p != end && *p == ';') {
		q = p;
		p = scan_params(u, p, end);
		if (unlikely(p == NULL))
			return FAIL("Bad URI: bad parameter", q);
	}
	if (p != end && *p == '?') {
		q = p + 1;
		p = scan_headers(q, end);
		if (unlikely(p == NULL))
			return FAIL("Bad URI: bad headers", q);
		u->headers = sip_str_make(q, (size_t)(p - q));
	}
	if (unlikely(p != end))
		return FAIL("Bad URI: unexpected character", p);
	return 0;
}
