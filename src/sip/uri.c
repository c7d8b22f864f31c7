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
 *
 * The scanner itself is static inline code in uriscan.h (host scanning in
 * host.h), so that the name-addr parsers inline it too; this file holds the
 * exported entry points and the IPv4/IPv6 validators.
 */
#include "uriscan.h"

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


const char *sip_uri_scan(struct sip_uri *u, const char *p, const char *end, int mode,
			 const char **why, const char **at)
{
	return uri_scan(u, p, end, mode, why, at);
}

int sip_uri_parse(struct sip_uri *u, struct sip_str s, struct sip_err *err)
{
	const char *end = s.p + s.len, *why = NULL, *at = s.p, *p;

	if (unlikely(s.len == 0))
		return cc_fail(err, "Bad URI: missing scheme", s.p, s.p);
	p = uri_scan(u, s.p, end, SIP_URI_SCAN_WHOLE, &why, &at);
	if (unlikely(p == NULL))
		return cc_fail(err, why, s.p, at);
	if (unlikely(p != end))
		return cc_fail(err, "Bad URI: unexpected character", s.p, p);
	return 0;
}
