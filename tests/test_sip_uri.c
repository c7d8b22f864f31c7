/* SPDX-License-Identifier: MIT */
/*
 * Tests of sip_uri_parse: SIP/SIPS URIs (RFC 3261 §19.1), the IPv6 vectors
 * of RFC 5118, escapes (RFC 4475 §3.1.1.3), bad ports and bad hosts, and
 * tel:/other schemes kept opaque. Table-driven; each vector names its RFC.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "sipreg/sip.h"
#include "support/guard_page.h"
#include "support/sip_assert.h"

struct uri_vec {
	const char *rfc, *in;
	enum sip_uri_scheme scheme;
	const char *user, *password, *host;
	enum sip_host_type htype;
	uint16_t port;
	const char *params, *headers, *transport, *maddr, *user_param;
	bool lr;
};

static const struct uri_vec good[] = {
	{"RFC 3261 §19.1.3", "sip:alice@atlanta.com", SIP_URI_SIP, "alice", NULL,
	 "atlanta.com", SIP_HOST_NAME},
	{"RFC 3261 §19.1.3", "sip:alice:secretword@atlanta.com;transport=tcp", SIP_URI_SIP,
	 "alice", "secretword", "atlanta.com", SIP_HOST_NAME, 0, "transport=tcp", NULL, "tcp"},
	{"RFC 3261 §19.1.3", "sips:alice@atlanta.com?subject=project%20x&priority=urgent",
	 SIP_URI_SIPS, "alice", NULL, "atlanta.com", SIP_HOST_NAME, 0, NULL,
	 "subject=project%20x&priority=urgent"},
	{"RFC 3261 §19.1.3", "sip:+1-212-555-1212:1234@gateway.com;user=phone", SIP_URI_SIP,
	 "+1-212-555-1212", "1234", "gateway.com", SIP_HOST_NAME, 0, "user=phone", NULL, NULL,
	 NULL, "phone"},
	{"RFC 3261 §19.1.3", "sips:1212@gateway.com", SIP_URI_SIPS, "1212", NULL,
	 "gateway.com", SIP_HOST_NAME},
	{"RFC 3261 §19.1.3", "sip:alice@192.0.2.4", SIP_URI_SIP, "alice", NULL, "192.0.2.4",
	 SIP_HOST_IPV4},
	{"RFC 3261 §19.1.3", "sip:atlanta.com;method=REGISTER?to=alice%40atlanta.com",
	 SIP_URI_SIP, NULL, NULL, "atlanta.com", SIP_HOST_NAME, 0, "method=REGISTER",
	 "to=alice%40atlanta.com"},
	{"RFC 3261 §19.1.3", "sip:alice;day=tuesday@atlanta.com", SIP_URI_SIP,
	 "alice;day=tuesday", NULL, "atlanta.com", SIP_HOST_NAME},
	{"RFC 3261 §19.1.1 port", "sip:registrar.example.com:5060", SIP_URI_SIP, NULL, NULL,
	 "registrar.example.com", SIP_HOST_NAME, 5060},
	{"RFC 3261 §19.1.1 port 65535", "sip:h.example.com:65535", SIP_URI_SIP, NULL, NULL,
	 "h.example.com", SIP_HOST_NAME, 65535},
	{"RFC 3261 §19.1.1 leading zeros in port", "sip:h.example.com:05060", SIP_URI_SIP,
	 NULL, NULL, "h.example.com", SIP_HOST_NAME, 5060},
	{"RFC 3261 §19.1.4 scheme case-insensitive", "SIP:Bob@Biloxi.COM", SIP_URI_SIP, "Bob",
	 NULL, "Biloxi.COM", SIP_HOST_NAME},
	{"RFC 3261 §19.1.4 sips case-insensitive", "SiPs:b.example.com", SIP_URI_SIPS, NULL,
	 NULL, "b.example.com", SIP_HOST_NAME},
	{"RFC 3261 §19.1.1 lr, maddr, transport", "sip:p1.example.com;lr;maddr=10.0.0.1;TRANSPORT=TLS",
	 SIP_URI_SIP, NULL, NULL, "p1.example.com", SIP_HOST_NAME, 0,
	 "lr;maddr=10.0.0.1;TRANSPORT=TLS", NULL, "TLS", "10.0.0.1", NULL, true},
	{"RFC 3261 §19.1.1 empty password", "sip:bob:@example.com", SIP_URI_SIP, "bob", "",
	 "example.com", SIP_HOST_NAME},
	{"RFC 3261 §19.1.1 trailing dot", "sip:example.com.", SIP_URI_SIP, NULL, NULL,
	 "example.com.", SIP_HOST_NAME},
	{"RFC 4475 §3.1.1.3 esc01 R-URI", "sip:sips%3Auser%40example.com@example.net",
	 SIP_URI_SIP, "sips%3Auser%40example.com", NULL, "example.net", SIP_HOST_NAME},
	{"RFC 4475 §3.1.1.3 esc01 Contact params",
	 "sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31", SIP_URI_SIP,
	 "cal%6Cer", NULL, "host5.example.net", SIP_HOST_NAME, 0,
	 "%6C%72;n%61me=v%61lue%25%34%31"},
	{"RFC 4475 §3.1.1.2 intmeth user chars",
	 "sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com",
	 SIP_URI_SIP, "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*",
	 "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)", "example.com", SIP_HOST_NAME},
	{"RFC 4475 §3.3.14 regescrt", "sip:user@example.com?Route=%3Csip:sip.example.com%3E",
	 SIP_URI_SIP, "user", NULL, "example.com", SIP_HOST_NAME, 0, NULL,
	 "Route=%3Csip:sip.example.com%3E"},
	{"RFC 5118 §4.1 ipv6-good", "sip:[2001:db8::10]", SIP_URI_SIP, NULL, NULL,
	 "2001:db8::10", SIP_HOST_IPV6},
	{"RFC 5118 §4.1 ipv6-good user", "sip:alice@[2001:db8::10]", SIP_URI_SIP, "alice",
	 NULL, "2001:db8::10", SIP_HOST_IPV6},
	{"RFC 5118 §4.3 port-ambiguous", "sip:[2001:db8::10:5070]", SIP_URI_SIP, NULL, NULL,
	 "2001:db8::10:5070", SIP_HOST_IPV6, 0},
	{"RFC 5118 §4.4 port-unambiguous", "sip:[2001:db8::10]:5070", SIP_URI_SIP, NULL, NULL,
	 "2001:db8::10", SIP_HOST_IPV6, 5070},
	{"RFC 5118 §4.9 IPv4-mapped", "sip:[::ffff:192.0.2.1]", SIP_URI_SIP, NULL, NULL,
	 "::ffff:192.0.2.1", SIP_HOST_IPV6},
	{"RFC 5118 §4.9 IPv4-mapped with port", "sip:user@[::ffff:192.0.2.10]:19823",
	 SIP_URI_SIP, "user", NULL, "::ffff:192.0.2.10", SIP_HOST_IPV6, 19823},
	{"RFC 5118 §4.10 3 colons (tolerated)", "sip:[2001:db8:::192.0.2.1]", SIP_URI_SIP,
	 NULL, NULL, "2001:db8:::192.0.2.1", SIP_HOST_IPV6},
	{"RFC 5118 §4.10 2 colons", "sip:[2001:db8::192.0.2.1]", SIP_URI_SIP, NULL, NULL,
	 "2001:db8::192.0.2.1", SIP_HOST_IPV6},
	{"RFC 4291 loopback", "sip:[::1]:5060;transport=udp", SIP_URI_SIP, NULL, NULL, "::1",
	 SIP_HOST_IPV6, 5060, "transport=udp", NULL, "udp"},
	{"RFC 4291 full form", "sips:[2001:0db8:0000:0000:0000:0000:0000:0001]",
	 SIP_URI_SIPS, NULL, NULL, "2001:0db8:0000:0000:0000:0000:0000:0001", SIP_HOST_IPV6},
	{"RFC 3261 §19.1.1 underscore host (accepted)", "sip:pbx_1.lan", SIP_URI_SIP, NULL,
	 NULL, "pbx_1.lan", SIP_HOST_NAME},
};

static void check_good(const struct uri_vec *v)
{
	struct sip_uri u;
	struct sip_err err = {0};
	int r = sip_uri_parse(&u, sip_str_make(v->in, strlen(v->in)), &err);

	cr_assert_eq(r, 0, "%s: '%s' returned %d (%s)", v->rfc, v->in, r,
		     err.reason ? err.reason : "");
	cr_assert_eq(u.scheme, v->scheme, "%s: scheme", v->rfc);
	cr_assert_str_in(v->rfc, u.raw, v->in);
	cr_assert_str_in(v->rfc, u.user, v->user);
	cr_assert_str_in(v->rfc, u.password, v->password);
	cr_assert_str_in(v->rfc, u.host, v->host);
	cr_assert_eq(u.host_type, v->htype, "%s: host type", v->rfc);
	cr_assert_eq(u.port, v->port, "%s: port %u", v->rfc, u.port);
	cr_assert_str_in(v->rfc, u.params, v->params);
	cr_assert_str_in(v->rfc, u.headers, v->headers);
	cr_assert_str_in(v->rfc, u.transport, v->transport);
	cr_assert_str_in(v->rfc, u.maddr, v->maddr);
	cr_assert_str_in(v->rfc, u.user_param, v->user_param);
	cr_assert_eq(u.lr, v->lr, "%s: lr", v->rfc);
}

Test(sip_uri, good_vectors)
{
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		check_good(&good[i]);
}

struct bad_vec {
	const char *rfc, *in, *reason;
};

static const struct bad_vec bad[] = {
	/* "2001" is neither a hostname (toplabel starts with ALPHA) nor IPv4 */
	{"RFC 5118 §4.2 ipv6-bad", "sip:2001:db8::10", "Bad URI: bad IPv4 address"},
	{"RFC 5118 §4.2 ipv6-bad with user", "sip:alice@2001:db8::10",
	 "Bad URI: bad IPv4 address"},
	{"RFC 5118 §4.2 ipv6-bad with name", "sip:alice@fe80:db8::10", "Bad URI: bad port"},
	{"RFC 3261 §19.1.1 port 0", "sip:example.com:0", "Bad URI: bad port"},
	{"RFC 3261 §19.1.1 port 65536", "sip:example.com:65536", "Bad URI: bad port"},
	{"RFC 3261 §19.1.1 port overflow", "sip:example.com:99999999999999999999",
	 "Bad URI: bad port"},
	{"RFC 3261 §19.1.1 empty port", "sip:example.com:", "Bad URI: bad port"},
	{"RFC 3261 §19.1.1 port not digits", "sip:example.com:50a0",
	 "Bad URI: unexpected character"},
	{"RFC 3261 §19.1.1 negative port", "sip:example.com:-1", "Bad URI: bad port"},
	{"RFC 3261 §19.1.1 missing host", "sip:", "Bad URI: missing host"},
	{"RFC 3261 §19.1.1 missing host after user", "sip:alice@", "Bad URI: missing host"},
	{"RFC 3261 §19.1.1 missing host before port", "sip::5060", "Bad URI: missing host"},
	{"RFC 3261 §19.1.1 empty user", "sip:@example.com", "Bad URI: bad user part"},
	{"RFC 3261 §25.1 bad escape", "sip:al%4@example.com", "Bad URI: bad user part"},
	{"RFC 3261 §25.1 bad escape hex", "sip:al%zz@example.com", "Bad URI: bad user part"},
	{"RFC 3261 §25.1 truncated escape", "sip:al%", "Bad URI: unexpected character"},
	{"RFC 3261 §25.1 bad escape in param", "sip:example.com;a=%G1",
	 "Bad URI: bad parameter"},
	{"RFC 3261 §25.1 unterminated IPv6", "sip:[2001:db8::10", 
	 "Bad URI: unterminated IPv6 reference"},
	{"RFC 3261 §25.1 IPv6 one colon", "sip:[2001:db8]", "Bad URI: bad IPv6 address"},
	{"RFC 3261 §25.1 IPv6 group too long", "sip:[2001:db8::12345]",
	 "Bad URI: bad IPv6 address"},
	{"RFC 3261 §25.1 IPv6 non-hex", "sip:[2001:db8::g]",
	 "Bad URI: unterminated IPv6 reference"},
	{"RFC 3261 §25.1 IPv6 bad v4 tail", "sip:[::ffff:192.0.2.300]",
	 "Bad URI: bad IPv6 address"},
	{"RFC 3261 §25.1 IPv6 nine groups", "sip:[1:2:3:4:5:6:7:8:9]",
	 "Bad URI: bad IPv6 address"},
	{"RFC 3261 §25.1 IPv6 empty", "sip:[]", "Bad URI: bad IPv6 address"},
	{"RFC 3261 §25.1 IPv4 octet > 255", "sip:192.0.2.256", "Bad URI: bad IPv4 address"},
	{"RFC 3261 §25.1 IPv4 three parts", "sip:192.0.2", "Bad URI: bad IPv4 address"},
	{"RFC 3261 §25.1 IPv4 five parts", "sip:1.2.3.4.5", "Bad URI: bad IPv4 address"},
	{"RFC 3261 §25.1 hostname empty label", "sip:a..example.com", "Bad URI: bad host name"},
	{"RFC 3261 §25.1 hostname leading dot", "sip:.example.com", "Bad URI: bad host name"},
	{"RFC 3261 §25.1 label starts with -", "sip:-a.example.com", "Bad URI: bad host name"},
	{"RFC 3261 §25.1 label ends with -", "sip:a-.example.com", "Bad URI: bad host name"},
	{"RFC 3261 §25.1 host bad char", "sip:exa!mple.com", "Bad URI: unexpected character"},
	{"RFC 4475 §3.1.2.8 lwsruri", "sip:user@example.com; lr",
	 "Bad URI: bad parameter"},
	{"RFC 4475 §3.1.2.14 badaspec", "sip:user@example.org ",
	 "Bad URI: unexpected character"},
	{"RFC 3261 §19.1.1 empty param", "sip:example.com;;lr", "Bad URI: bad parameter"},
	{"RFC 3261 §19.1.1 empty pvalue", "sip:example.com;transport=",
	 "Bad URI: bad parameter"},
	{"RFC 3261 §19.1.1 header without =", "sip:example.com?subject",
	 "Bad URI: bad headers"},
	{"RFC 3261 §19.1.1 empty header", "sip:example.com?a=b&", "Bad URI: bad headers"},
	{"RFC 3261 §19.1 no scheme", "alice@example.com", "Bad URI: missing scheme"},
	{"RFC 3261 §19.1 empty", "", "Bad URI: missing scheme"},
	{"RFC 3261 §25.1 scheme starts with digit", "1sip:a@b", "Bad URI: missing scheme"},
	{"RFC 3261 §25.1 scheme with bad char", "s_p:a@b", "Bad URI: missing scheme"},
	{"RFC 3966 tel empty", "tel:", "Bad URI: bad characters"},
	{"RFC 3261 §25.1 absoluteURI with space", "foo:a b", "Bad URI: unexpected character"},
	{"RFC 3261 §25.1 NUL byte", "sip:a\0b@example.com", "Bad URI: unexpected character"},
};

Test(sip_uri, bad_vectors)
{
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const struct bad_vec *v = &bad[i];
		struct sip_uri u;
		struct sip_err err = {0};
		size_t len = strlen(v->in);
		int r;

		if (strncmp(v->in, "sip:a", 5) == 0 && strstr(v->rfc, "NUL"))
			len = sizeof("sip:a\0b@example.com") - 1;
		r = sip_uri_parse(&u, sip_str_make(v->in, len), &err);
		cr_assert_eq(r, -EBADMSG, "%s: '%s' returned %d", v->rfc, v->in, r);
		cr_assert_not_null(err.reason, "%s", v->rfc);
		cr_assert_str_eq(err.reason, v->reason, "%s: '%s'", v->rfc, v->in);
		cr_assert(err.off <= len, "%s: offset %zu", v->rfc, err.off);
	}
}

Test(sip_uri, opaque_schemes)
{
	static const struct {
		const char *rfc, *in, *opaque;
		enum sip_uri_scheme scheme;
	} v[] = {
		{"RFC 3966 §3", "tel:+1-201-555-0123", "+1-201-555-0123", SIP_URI_TEL},
		{"RFC 3966 §3 local", "TEL:7042;phone-context=example.com",
		 "7042;phone-context=example.com", SIP_URI_TEL},
		{"RFC 4475 §3.3.2 unkscm", "nobodyKnowsThisScheme:totallyopaquecontent",
		 "totallyopaquecontent", SIP_URI_OTHER},
		{"RFC 4475 §3.3.3 novelsc", "soap.beep://192.0.2.103:3002",
		 "//192.0.2.103:3002", SIP_URI_OTHER},
		{"RFC 3261 §19.1 sip-like other scheme", "sipx:a@b", "a@b", SIP_URI_OTHER},
		{"RFC 3261 §25.1 mailto", "mailto:alice@example.com", "alice@example.com",
		 SIP_URI_OTHER},
	};

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		struct sip_uri u;
		int r = sip_uri_parse(&u, sip_str_make(v[i].in, strlen(v[i].in)), NULL);

		cr_assert_eq(r, 0, "%s: '%s' returned %d", v[i].rfc, v[i].in, r);
		cr_assert_eq(u.scheme, v[i].scheme, "%s", v[i].rfc);
		cr_assert_str_in(v[i].rfc, u.opaque, v[i].opaque);
		cr_assert_str_in(v[i].rfc, u.raw, v[i].in);
		cr_assert_null(u.host.p, "%s: host must stay unset", v[i].rfc);
	}
}

/* Every prefix of every valid URI either parses or fails cleanly, and never
 * reads past its end: each prefix is copied to the end of a page followed by
 * a PROT_NONE page. */
Test(sip_uri, guard_page_prefixes)
{
	struct guard_page g;
	char *end = guard_page_new(&g, 1);

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		size_t len = strlen(good[i].in);

		for (size_t n = 0; n <= len; n++) {
			char *p = end - n;
			struct sip_uri u;
			struct sip_err err = {0};
			int r;

			memcpy(p, good[i].in, n);
			r = sip_uri_parse(&u, sip_str_make(p, n), &err);
			cr_assert(r == 0 || r == -EBADMSG);
			if (r == 0) {
				cr_assert(u.host.p == NULL || (u.host.p >= p &&
							       u.host.p + u.host.len <= p + n));
			} else {
				cr_assert_not_null(err.reason);
			}
		}
	}
	guard_page_free(&g);
}

/* A URI that is every byte value in turn never crashes, and the only bytes
 * a host may hold are the documented ones. */
Test(sip_uri, every_byte_in_host)
{
	for (int c = 0; c < 256; c++) {
		char buf[] = "sip:a?.example.com";
		struct sip_uri u;
		int r;

		buf[5] = (char)c;
		r = sip_uri_parse(&u, sip_str_make(buf, sizeof(buf) - 1), NULL);
		if (r == 0 && u.user.p == NULL && u.params.p == NULL && u.headers.p == NULL)
			cr_assert((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
					  (c >= '0' && c <= '9') || c == '-' || c == '.' ||
					  c == '_',
				  "byte 0x%02x accepted in a host", c);
	}
}

/* The same URIs inside "<...>" followed by more than 16 bytes take the
 * vector host scan (16 readable bytes after the host); results and reasons
 * must not depend on it. */
Test(sip_uri, host_scan_paths_agree)
{
	static const char pad[] = ">;tag=0123456789abcdef0123456789";

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		char buf[256];
		struct sip_nameaddr na;
		struct sip_uri u;
		struct sip_err err = {0};
		int n = snprintf(buf, sizeof(buf), "<%s%s", good[i].in, pad);
		int r;

		if (good[i].headers || good[i].params)
			continue; /* compared below without them */
		r = sip_nameaddr_parse(&na, sip_str_make(buf, (size_t)n), &err);
		cr_assert_eq(r, 0, "%s: '%s': %s", good[i].rfc, buf, err.reason);
		cr_assert_eq(sip_uri_parse(&u, sip_str_make(good[i].in, strlen(good[i].in)), NULL),
			     0);
		cr_assert_eq(na.uri.host_type, u.host_type, "%s", good[i].rfc);
		cr_assert_eq(na.uri.host.len, u.host.len, "%s", good[i].rfc);
		cr_assert_eq(na.uri.port, u.port, "%s", good[i].rfc);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char buf[256];
		struct sip_nameaddr na;
		struct sip_err err = {0};
		int n;

		if (strncmp(bad[i].reason, "Bad URI: bad I", 14) != 0 &&
		    strcmp(bad[i].reason, "Bad URI: bad host name") != 0 &&
		    strcmp(bad[i].reason, "Bad URI: missing host") != 0)
			continue;
		n = snprintf(buf, sizeof(buf), "<%s%s", bad[i].in, pad);
		cr_assert_eq(sip_nameaddr_parse(&na, sip_str_make(buf, (size_t)n), &err), -EBADMSG,
			     "%s: '%s'", bad[i].rfc, buf);
		cr_assert_str_eq(err.reason, bad[i].reason, "%s: '%s'", bad[i].rfc, buf);
	}
	/* labels and dotted quads at every length below 16 */
	static const struct {
		const char *host;
		int ok;
		enum sip_host_type type;
	} h[] = {
		{"a", 1, SIP_HOST_NAME},          {"xn--bcher-kva.ch", 1, SIP_HOST_NAME},
		{"a-b.c", 1, SIP_HOST_NAME},      {"a.b.", 1, SIP_HOST_NAME},
		{"1.2.3.4", 1, SIP_HOST_IPV4},    {"255.255.255.255", 1, SIP_HOST_IPV4},
		{"010.0.0.1", 1, SIP_HOST_IPV4},  {"1and1.com", 1, SIP_HOST_NAME},
		{"a--b", 1, SIP_HOST_NAME},       {"a.-b", 0}, {"a-.b", 0}, {"a..b", 0},
		{".a", 0},  {"-a", 0}, {"a-", 0}, {"1.2.3.256", 0}, {"1.2.3", 0},
		{"1.2.3.4.5", 0}, {"1..2.3", 0}, {"1.2.3.1000", 0}, {"-1", 0},
		{"1-2.3.4.5", 0},
	};
	for (size_t i = 0; i < sizeof(h) / sizeof(h[0]); i++) {
		char a[64], b[96];
		struct sip_uri u1;
		struct sip_nameaddr na;
		struct sip_err e1 = {0}, e2 = {0};
		int n1 = snprintf(a, sizeof(a), "sip:%s", h[i].host);
		int n2 = snprintf(b, sizeof(b), "<sip:%s%s", h[i].host, pad);
		int r1 = sip_uri_parse(&u1, sip_str_make(a, (size_t)n1), &e1);
		int r2 = sip_nameaddr_parse(&na, sip_str_make(b, (size_t)n2), &e2);

		cr_assert_eq(r1, h[i].ok ? 0 : -EBADMSG, "'%s' scalar: %d", h[i].host, r1);
		cr_assert_eq(r2, r1, "'%s' vector: %d", h[i].host, r2);
		if (r1 == 0) {
			cr_assert_eq(u1.host_type, h[i].type, "'%s'", h[i].host);
			cr_assert_eq(na.uri.host_type, h[i].type, "'%s'", h[i].host);
			cr_assert_eq(na.uri.host.len, strlen(h[i].host), "'%s'", h[i].host);
		} else {
			cr_assert_str_eq(e1.reason, e2.reason, "'%s'", h[i].host);
		}
	}
}

/*
 * Dotted digit strings shorter than 16 bytes, built from octets of every
 * length and every edge value (0-999, leading zeros, empty), joined by one
 * to four dots (with leading and trailing ones): the vector host scan
 * (name-addr, padded) and the scalar one (a URI ending the slice) accept
 * exactly the dotted quads (RFC 3261 IPv4address: four 1*3DIGIT each at
 * most 255), as IPv4.
 */
static bool ref_ipv4(const char *s)
{
	for (int part = 0; part < 4; part++) {
		unsigned v = 0, nd = 0;

		for (; *s >= '0' && *s <= '9'; s++, nd++)
			v = v * 10 + (unsigned)(*s - '0');
		if (nd < 1 || nd > 3 || v > 255)
			return false;
		if (part < 3 && *s++ != '.')
			return false;
	}
	return *s == 0;
}

Test(sip_uri, dotted_digits_are_ipv4_exactly)
{
	static const char *const oct[] = {"",    "0",   "00",  "000", "1",   "9",   "25",
					  "99",  "100", "199", "200", "249", "250", "255",
					  "256", "259", "260", "299", "300", "999", "010",
					  "1000"};
	static const char pad[] = ">;tag=0123456789abcdef0123456789";
	size_t no = sizeof(oct) / sizeof(oct[0]), tried = 0, valid = 0;

	for (size_t parts = 1; parts <= 5; parts++) {
		size_t total = 1;

		for (size_t k = 0; k < parts; k++)
			total *= no;
		for (size_t combo = 0; combo < total; combo++) {
			char host[64] = "", a[96], b[128];
			size_t c = combo, hl;

			for (size_t k = 0; k < parts; k++) {
				if (k)
					strcat(host, ".");
				strcat(host, oct[c % no]);
				c /= no;
			}
			hl = strlen(host);
			if (hl == 0 || hl >= 16)
				continue;
			bool ok = ref_ipv4(host);
			struct sip_uri u;
			struct sip_nameaddr na;
			struct sip_err e1 = {0}, e2 = {0};
			int n1 = snprintf(a, sizeof(a), "sip:%s", host);
			int n2 = snprintf(b, sizeof(b), "<sip:%s%s", host, pad);
			int r1 = sip_uri_parse(&u, sip_str_make(a, (size_t)n1), &e1);
			int r2 = sip_nameaddr_parse(&na, sip_str_make(b, (size_t)n2), &e2);

			tried++;
			valid += ok;
			cr_assert_eq(r1, ok ? 0 : -EBADMSG, "'%s' scalar: %d", host, r1);
			cr_assert_eq(r2, r1, "'%s' vector: %d", host, r2);
			if (ok) {
				cr_assert_eq(u.host_type, SIP_HOST_IPV4, "'%s'", host);
				cr_assert_eq(na.uri.host_type, SIP_HOST_IPV4, "'%s'", host);
				cr_assert_eq(na.uri.host.len, hl, "'%s'", host);
			} else {
				cr_assert_str_eq(e1.reason, e2.reason, "'%s'", host);
			}
		}
	}
	cr_assert_gt(valid, 1000);
	cr_log_info("sip_uri: %zu dotted strings, %zu dotted quads", tried, valid);
}
