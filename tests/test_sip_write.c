/* SPDX-License-Identifier: MIT */
/*
 * Tests of sip_write.h: the cursor and its bounds (every cap from 0 to the full
 * length gives -ENOSPC and writes nothing past cap), number and date
 * formatting (against gmtime_r/strftime as the reference), REGISTERs and
 * responses that parse back (sip_msg_parse) to the fields they were built
 * from, and the round trip parse(serialize(parse(x))) over every message of
 * the corpus that its manifest marks valid.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "sipreg/digest.h"
#include "sipreg/sip_write.h"
#include "support/csv_reader.h"
#include "support/guard_page.h"

#define S(cstr) sip_str_make((cstr), strlen(cstr))
#define MAXH 128

static bool str_is(struct sip_str s, const char *c)
{
	return sip_str_eq(s, S(c));
}

/* ------------------------------------------------------------------------ */
/* Primitives                                                                */

static const char *one(void (*fn)(struct sip_write *, const void *), const void *arg)
{
	static char buf[256];
	struct sip_write w;

	sip_write_init(&w, buf, sizeof(buf) - 1);
	fn(&w, arg);
	int n = sip_write_result(&w);
	cr_assert_geq(n, 0, "result %d", n);
	buf[n] = '\0';
	return buf;
}

static void u32_fn(struct sip_write *w, const void *a)
{
	sip_write_u32(w, *(const uint32_t *)a);
}

static void hex8_fn(struct sip_write *w, const void *a)
{
	sip_write_hex8(w, *(const uint32_t *)a);
}

static void date_fn(struct sip_write *w, const void *a)
{
	sip_write_rfc1123(w, *(const time_t *)a);
}

Test(sip_write, integers)
{
	static const struct {
		uint32_t v;
		const char *dec, *hex;
	} v[] = {
		{0, "0", "00000000"},         {7, "7", "00000007"},
		{10, "10", "0000000a"},       {3600, "3600", "00000e10"},
		{65535, "65535", "0000ffff"}, {4294967295u, "4294967295", "ffffffff"},
	};

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		cr_assert_str_eq(one(u32_fn, &v[i].v), v[i].dec);
		cr_assert_str_eq(one(hex8_fn, &v[i].v), v[i].hex);
	}
}

Test(sip_write, rfc1123_dates)
{
	static const struct {
		time_t t;
		const char *s;
	} v[] = {
		{0, "Thu, 01 Jan 1970 00:00:00 GMT"},
		{784111777, "Sun, 06 Nov 1994 08:49:37 GMT"}, /* RFC 7231 example */
		{951782400, "Tue, 29 Feb 2000 00:00:00 GMT"},
		{1289690940, "Sat, 13 Nov 2010 23:29:00 GMT"}, /* RFC 3261 20.17 */
		{4133980799, "Fri, 31 Dec 2100 23:59:59 GMT"},
		{4107542399, "Sun, 28 Feb 2100 23:59:59 GMT"}, /* 2100 is no leap year */
		{(time_t)-1, "Thu, 01 Jan 1970 00:00:00 GMT"}, /* clamped */
	};

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		cr_assert_str_eq(one(date_fn, &v[i].t), v[i].s);

	/* against the C library over 200 years of pseudo-random seconds */
	uint64_t x = 88172645463325252ull;
	for (int i = 0; i < 20000; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		time_t t = (time_t)(x % 6311390400ull); /* up to 2170 */
		struct tm tm;
		char ref[64];
		cr_assert_not_null(gmtime_r(&t, &tm));
		strftime(ref, sizeof(ref), "%a, %d %b %Y %H:%M:%S GMT", &tm);
		cr_assert_str_eq(one(date_fn, &t), ref, "t=%lld", (long long)t);
	}
}

Test(sip_write, quoted_and_status)
{
	char buf[64];
	struct sip_write w;

	sip_write_init(&w, buf, sizeof(buf));
	sip_write_quoted(&w, S("J\"o\\e q"));
	cr_assert_eq(sip_write_result(&w), 11);
	cr_assert_arr_eq(buf, "\"J\\\"o\\\\e q\"", 11);
	sip_write_init(&w, buf, sizeof(buf));
	sip_write_quoted(&w, S("a\r\nVia: x"));
	cr_assert_eq(sip_write_result(&w), -EINVAL);
	sip_write_char(&w, 'x'); /* no-op after an error */
	cr_assert_eq(sip_write_result(&w), -EINVAL);

	sip_write_init(&w, buf, sizeof(buf));
	sip_write_status_line(&w, 423, SIP_STR_NULL);
	cr_assert_eq(sip_write_result(&w), 32);
	cr_assert_arr_eq(buf, "SIP/2.0 423 Interval Too Brief\r\n", 32);
	sip_write_init(&w, buf, sizeof(buf));
	sip_write_status_line(&w, 299, SIP_STR(""));
	cr_assert_eq(sip_write_result(&w), 14);
	cr_assert_arr_eq(buf, "SIP/2.0 299 \r\n", 14);
	sip_write_init(&w, buf, sizeof(buf));
	sip_write_status_line(&w, 99, SIP_STR("x"));
	cr_assert_eq(sip_write_result(&w), -EINVAL);
	sip_write_init(&w, buf, sizeof(buf));
	sip_write_status_line(&w, 700, SIP_STR("x"));
	cr_assert_eq(sip_write_result(&w), -EINVAL);
	cr_assert_str_eq(sip_write_reason_phrase(401), "Unauthorized");
	cr_assert_str_eq(sip_write_reason_phrase(799), "");
	/* a NULL buffer of cap 0 only ever says -ENOSPC */
	sip_write_init(&w, NULL, 100);
	sip_write_char(&w, 'x');
	cr_assert_eq(sip_write_result(&w), -ENOSPC);
	sip_write_init(&w, NULL, 0);
	cr_assert_eq(sip_write_result(&w), 0);
}

/* ------------------------------------------------------------------------ */
/* Bounds: a builder run at every cap                                        */

typedef void (*build_fn)(struct sip_write *w, const void *arg);

/* Runs fn at the full size, then at every cap from 0 to len + 1; returns the
 * full output (static). */
static const char *check_every_cap(build_fn fn, const void *arg, int *out_len)
{
	static char full[8192];
	static char buf[8192 + 64];
	struct sip_write w;

	sip_write_init(&w, full, sizeof(full));
	fn(&w, arg);
	int n = sip_write_result(&w);
	cr_assert_gt(n, 0, "full build: %d", n);
	for (size_t cap = 0; cap <= (size_t)n + 1; cap++) {
		memset(buf, '#', (size_t)n + 64);
		sip_write_init(&w, buf, cap);
		fn(&w, arg);
		int r = sip_write_result(&w);
		if (cap < (size_t)n) {
			cr_assert_eq(r, -ENOSPC, "cap %zu of %d gave %d", cap, n, r);
			cr_assert_leq(w.len, cap);
		} else {
			cr_assert_eq(r, n, "cap %zu gave %d", cap, r);
			cr_assert_arr_eq(buf, full, (size_t)n);
		}
		for (size_t i = cap; i < (size_t)n + 64; i++)
			cr_assert_eq(buf[i], '#', "cap %zu: byte %zu written past cap",
				     cap, i);
	}
	*out_len = n;
	return full;
}

static void parse_ok(struct sip_msg *m, struct sip_hdr *h, const char *buf, size_t len)
{
	struct sip_err err = {0};
	int r = sip_msg_parse(m, buf, len, h, MAXH, SIP_PARSE_STREAM, &err);

	cr_assert_eq(r, (int)len, "parse gave %d (%s):\n%.*s", r,
		     err.reason ? err.reason : "", (int)len, buf);
}

/* ------------------------------------------------------------------------ */
/* A REGISTER                                                                */

struct reg_args {
	bool ipv6;
	bool auth;
};

static void build_register(struct sip_write *w, const void *arg)
{
	const struct reg_args *a = arg;
	struct sip_write_contact c = {
		.uri = S("sip:alice@192.0.2.10:5062;transport=tcp"),
		.has_expires = true,
		.expires = 3600,
		.q = 500,
		.instance = S("<urn:uuid:00000000-0000-1000-8000-000a95a0e128>"),
		.has_reg_id = true,
		.reg_id = 1,
		.params = S(";+sip.ice"),
	};

	sip_write_request_line(w, S("REGISTER"), S("sip:example.com"));
	sip_write_via(w, S("TCP"), a->ipv6 ? S("2001:db8::10") : S("192.0.2.10"), 5062,
		      S("z9hG4bK776asdhds"), true);
	sip_write_header_u32(w, S("Max-Forwards"), 70);
	sip_write_nameaddr(w, S("From"), S("Alice \"A\""), S("sip:alice@example.com"),
			   S("456248"));
	sip_write_nameaddr(w, S("To"), SIP_STR_NULL, S("sip:alice@example.com"),
			   SIP_STR_NULL);
	sip_write_header(w, S("Call-ID"), S("843817637684230@998sdasdh09"));
	sip_write_cseq(w, 1826, S("REGISTER"));
	sip_write_contact(w, &c);
	sip_write_header_u32(w, S("Expires"), 7200);
	if (a->auth) {
		struct digest_credentials cr = {
			.username = S("alice"),
			.realm = S("example.com"),
			.nonce = S("abcdef"),
			.uri = S("sip:example.com"),
			.response = S("0123456789abcdef0123456789abcdef"),
			.cnonce = S("c1"),
			.qop = S("auth"),
			.nc = 1,
			.alg = SIP_DIGEST_MD5,
		};
		sip_write_header_begin(w, S("Authorization"));
		digest_credentials_put(w, &cr);
		sip_write_header_end(w);
	}
	sip_write_header(w, S("User-Agent"), S("sipreg/0.1"));
	sip_write_header(w, S("Privacy"), S("none"));
	sip_write_header(w, S("Supported"), S("path, outbound"));
	sip_write_header(w, S("Allow"), S("INVITE, ACK, CANCEL, BYE, OPTIONS"));
	sip_write_header(w, S("X-Extra"), S("anything"));
	sip_write_header(w, S("Content-Type"), S("text/plain"));
	sip_write_end(w, S("hello"));
}

Test(sip_write, register_exact_bytes_and_every_cap)
{
	struct reg_args a = {.ipv6 = false, .auth = false};
	int n;
	const char *out = check_every_cap(build_register, &a, &n);
	static const char want[] =
		"REGISTER sip:example.com SIP/2.0\r\n"
		"Via: SIP/2.0/TCP 192.0.2.10:5062;branch=z9hG4bK776asdhds;rport\r\n"
		"Max-Forwards: 70\r\n"
		"From: \"Alice \\\"A\\\"\" <sip:alice@example.com>;tag=456248\r\n"
		"To: <sip:alice@example.com>\r\n"
		"Call-ID: 843817637684230@998sdasdh09\r\n"
		"CSeq: 1826 REGISTER\r\n"
		"Contact: <sip:alice@192.0.2.10:5062;transport=tcp>;expires=3600;q=0.5;"
		"+sip.instance=\"<urn:uuid:00000000-0000-1000-8000-000a95a0e128>\";reg-"
		"id=1;"
		"+sip.ice\r\n"
		"Expires: 7200\r\n"
		"User-Agent: sipreg/0.1\r\n"
		"Privacy: none\r\n"
		"Supported: path, outbound\r\n"
		"Allow: INVITE, ACK, CANCEL, BYE, OPTIONS\r\n"
		"X-Extra: anything\r\n"
		"Content-Type: text/plain\r\n"
		"Content-Length: 5\r\n"
		"\r\n"
		"hello";

	cr_assert_eq(n, (int)sizeof(want) - 1);
	cr_assert_arr_eq(out, want, sizeof(want) - 1);
}

Test(sip_write, register_parses_back)
{
	struct reg_args a = {.ipv6 = true, .auth = true};
	int n;
	const char *out = check_every_cap(build_register, &a, &n);
	struct sip_msg m;
	struct sip_hdr h[MAXH];
	struct sip_via v[4];
	struct sip_contact c[4];
	struct sip_nameaddr na;
	struct sip_auth au;
	uint32_t u;

	parse_ok(&m, h, out, (size_t)n);
	cr_assert(m.is_request);
	cr_assert_eq(m.method_id, SIP_METHOD_REGISTER);
	cr_assert(str_is(m.ruri, "sip:example.com"));
	cr_assert_eq(sip_msg_vias(&m, v, 4, NULL), 1);
	cr_assert(str_is(v[0].transport, "TCP"));
	cr_assert(str_is(v[0].host, "2001:db8::10"));
	cr_assert_eq(v[0].host_type, SIP_HOST_IPV6);
	cr_assert_eq(v[0].port, 5062);
	cr_assert(str_is(v[0].branch, "z9hG4bK776asdhds"));
	cr_assert_eq(v[0].rport, 0);
	cr_assert_eq(sip_msg_from(&m, &na, NULL), 0);
	cr_assert(str_is(na.display, "Alice \\\"A\\\""));
	cr_assert(str_is(na.uri.raw, "sip:alice@example.com"));
	cr_assert(str_is(na.tag, "456248"));
	cr_assert_eq(sip_msg_to(&m, &na, NULL), 0);
	cr_assert_not(sip_str_isset(na.tag));
	cr_assert(str_is(m.call_id, "843817637684230@998sdasdh09"));
	cr_assert_eq(m.cseq.num, 1826);
	cr_assert_eq(m.cseq.method_id, SIP_METHOD_REGISTER);
	cr_assert_eq(sip_msg_u32(&m, SIP_HDR_MAX_FORWARDS, &u, NULL), 0);
	cr_assert_eq(u, 70);
	cr_assert_eq(sip_msg_u32(&m, SIP_HDR_EXPIRES, &u, NULL), 0);
	cr_assert_eq(u, 7200);
	cr_assert_eq(sip_msg_contacts(&m, c, 4, NULL), 1);
	cr_assert(str_is(c[0].na.uri.raw, "sip:alice@192.0.2.10:5062;transport=tcp"));
	cr_assert(c[0].has_expires);
	cr_assert_eq(c[0].expires, 3600);
	cr_assert_eq(c[0].q, 500);
	cr_assert(
		str_is(c[0].instance, "<urn:uuid:00000000-0000-1000-8000-000a95a0e128>"));
	cr_assert(c[0].has_reg_id);
	cr_assert_eq(c[0].reg_id, 1);
	cr_assert_eq(
		sip_auth_parse(&au, sip_msg_hdr(&m, SIP_HDR_AUTHORIZATION)->value, NULL),
		0);
	cr_assert(str_is(au.username, "alice"));
	cr_assert(str_is(au.realm, "example.com"));
	cr_assert(str_is(au.nonce, "abcdef"));
	cr_assert(str_is(au.uri, "sip:example.com"));
	cr_assert(str_is(au.response, "0123456789abcdef0123456789abcdef"));
	cr_assert(str_is(au.cnonce, "c1"));
	cr_assert(str_is(au.qop, "auth"));
	cr_assert(str_is(au.nc, "00000001"));
	cr_assert(au.has_nc);
	cr_assert_eq(au.nc_val, 1);
	cr_assert_eq(au.alg, SIP_DIGEST_MD5);
	cr_assert(str_is(sip_msg_hdr(&m, SIP_HDR_USER_AGENT)->value, "sipreg/0.1"));
	cr_assert(str_is(sip_msg_hdr(&m, SIP_HDR_PRIVACY)->value, "none"));
	cr_assert(str_is(sip_msg_hdr(&m, SIP_HDR_SUPPORTED)->value, "path, outbound"));
	cr_assert(str_is(sip_msg_hdr_by_name(&m, S("x-extra"))->value, "anything"));
	cr_assert_eq(m.content_length, 5);
	cr_assert(str_is(m.body, "hello"));
}

/* ------------------------------------------------------------------------ */
/* Responses built from a parsed request                                     */

static const char req_text[] =
	"REGISTER sip:example.com SIP/2.0\r\n"
	"v: SIP/2.0/UDP 192.0.2.10:5060;rport;branch=z9hG4bKtop ,\r\n"
	" SIP/2.0/TCP [2001:db8::9]:5070;branch=z9hG4bKmid;received=192.0.2.99\r\n"
	"Via: SIP/2.0/TLS proxy.example.com;branch=z9hG4bKlast\r\n"
	"Max-Forwards: 70\r\n"
	"f: \"Bob\" <sip:bob@example.com>;tag=a73kszlfl\r\n"
	"t: Bob <sip:bob@example.com>\r\n"
	"i: 1j9FpLxk3uxtm8tn@192.0.2.10\r\n"
	"CSeq: 7 REGISTER\r\n"
	"m: <sip:bob@192.0.2.10>;expires=60\r\n"
	"l: 0\r\n"
	"\r\n";

struct resp_args {
	const struct sip_msg *req;
	unsigned status;
	bool with_src;
};

static void build_401(struct sip_write *w, const void *arg)
{
	const struct resp_args *a = arg;
	struct sip_write_src src = {.received = S("198.51.100.7"), .port = 40123};
	struct digest_challenge ch = {
		.realm = S("example.com"),
		.nonce = S("5f1c2a9b0a0b"),
		.opaque = S("op"),
		.alg = SIP_DIGEST_SHA256,
		.qop_auth = true,
		.stale = true,
	};

	cr_assert_eq(sip_write_response(w, a->req, a->status, SIP_STR_NULL,
					S("srv-tag-1"), a->with_src ? &src : NULL, NULL),
		     0);
	if (a->status == 401) {
		sip_write_header_begin(w, S("WWW-Authenticate"));
		digest_challenge_put(w, &ch);
		sip_write_header_end(w);
	} else if (a->status == 423) {
		sip_write_header_u32(w, S("Min-Expires"), 600);
	} else {
		struct sip_write_contact c = {.uri = S("sip:bob@192.0.2.10"),
					      .has_expires = true,
					      .expires = 60};
		sip_write_contact(w, &c);
		c.uri = S("sip:bob@[2001:db8::77]:5080;transport=tcp");
		c.expires = 3600;
		c.q = 1000;
		sip_write_contact(w, &c);
		sip_write_date(w, 1289690940);
	}
	sip_write_header(w, S("Server"), S("sipreg/0.1"));
	sip_write_header_u32(w, S("Retry-After"), 30);
	sip_write_header(w, S("Allow"), S("REGISTER, OPTIONS"));
	sip_write_header(w, S("Accept"), S("application/sdp"));
	sip_write_end(w, SIP_STR_NULL);
}

static void check_common_response(const struct sip_msg *req, const struct sip_msg *r,
				  unsigned status, bool with_src)
{
	struct sip_via v0[4], v1[4];
	struct sip_nameaddr a, b;

	cr_assert_not(r->is_request);
	cr_assert_eq(r->status, status);
	cr_assert(str_is(r->reason, sip_write_reason_phrase(status)));
	cr_assert_eq(sip_msg_vias(req, v0, 4, NULL), 3);
	cr_assert_eq(sip_msg_vias(r, v1, 4, NULL), 3, "every Via hop, in order");
	for (int i = 0; i < 3; i++) {
		cr_assert(sip_str_eq(v0[i].transport, v1[i].transport));
		cr_assert(sip_str_eq(v0[i].host, v1[i].host));
		cr_assert_eq(v0[i].port, v1[i].port);
		cr_assert(sip_str_eq(v0[i].branch, v1[i].branch));
		if (i > 0 || !with_src) {
			cr_assert(sip_str_eq(v0[i].received, v1[i].received));
			cr_assert_eq(v0[i].rport, v1[i].rport);
		}
	}
	if (with_src) {
		cr_assert(str_is(v1[0].received, "198.51.100.7"));
		cr_assert_eq(v1[0].rport, 40123);
	}
	cr_assert_eq(sip_msg_from(req, &a, NULL), 0);
	cr_assert_eq(sip_msg_from(r, &b, NULL), 0);
	cr_assert(sip_str_eq(a.uri.raw, b.uri.raw));
	cr_assert(sip_str_eq(a.tag, b.tag));
	cr_assert_eq(sip_msg_to(r, &b, NULL), 0);
	cr_assert(str_is(b.tag, "srv-tag-1"), "To tag added");
	cr_assert(str_is(b.uri.raw, "sip:bob@example.com"));
	cr_assert(sip_str_eq(req->call_id, r->call_id));
	cr_assert_eq(req->cseq.num, r->cseq.num);
	cr_assert(sip_str_eq(req->cseq.method, r->cseq.method));
	cr_assert(str_is(sip_msg_hdr(r, SIP_HDR_SERVER)->value, "sipreg/0.1"));
	cr_assert(str_is(sip_msg_hdr(r, SIP_HDR_RETRY_AFTER)->value, "30"));
	cr_assert(str_is(sip_msg_hdr(r, SIP_HDR_ACCEPT)->value, "application/sdp"));
	cr_assert(r->has_content_length);
	cr_assert_eq(r->content_length, 0);
}

Test(sip_write, responses_parse_back)
{
	struct sip_msg req, r;
	struct sip_hdr hq[MAXH], hr[MAXH];

	parse_ok(&req, hq, req_text, sizeof(req_text) - 1);
	for (int with_src = 0; with_src < 2; with_src++) {
		static const unsigned codes[] = {401, 423, 200};
		for (size_t k = 0; k < 3; k++) {
			struct resp_args a = {&req, codes[k], with_src};
			int n;
			const char *out = check_every_cap(build_401, &a, &n);

			parse_ok(&r, hr, out, (size_t)n);
			check_common_response(&req, &r, codes[k], with_src);
			if (codes[k] == 401) {
				struct sip_auth au;
				cr_assert_eq(
					sip_auth_parse(
						&au,
						sip_msg_hdr(&r, SIP_HDR_WWW_AUTHENTICATE)
							->value,
						NULL),
					0);
				cr_assert(str_is(au.realm, "example.com"));
				cr_assert(str_is(au.nonce, "5f1c2a9b0a0b"));
				cr_assert(str_is(au.opaque, "op"));
				cr_assert_eq(au.alg, SIP_DIGEST_SHA256);
				cr_assert(str_is(au.qop, "auth"));
				cr_assert(au.stale);
			} else if (codes[k] == 423) {
				uint32_t u;
				cr_assert_eq(
					sip_msg_u32(&r, SIP_HDR_MIN_EXPIRES, &u, NULL),
					0);
				cr_assert_eq(u, 600);
			} else {
				struct sip_contact c[4];
				cr_assert_eq(sip_msg_contacts(&r, c, 4, NULL), 2);
				cr_assert(str_is(c[0].na.uri.raw, "sip:bob@192.0.2.10"));
				cr_assert_eq(c[0].expires, 60);
				cr_assert(str_is(
					c[1].na.uri.raw,
					"sip:bob@[2001:db8::77]:5080;transport=tcp"));
				cr_assert_eq(c[1].expires, 3600);
				cr_assert_eq(c[1].q, 1000);
				cr_assert(str_is(sip_msg_hdr(&r, SIP_HDR_DATE)->value,
						 "Sat, 13 Nov 2010 23:29:00 GMT"));
			}
		}
	}
}

Test(sip_write, response_keeps_existing_to_tag_and_refuses_bad_requests)
{
	static const char tagged[] =
		"REGISTER sip:example.com SIP/2.0\r\n"
		"Via: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bK1;received=1.2.3.4\r\n"
		"From: <sip:a@example.com>;tag=1\r\n"
		"To: <sip:a@example.com>;tag=existing\r\n"
		"Call-ID: x\r\n"
		"CSeq: 2 REGISTER\r\n"
		"Content-Length: 0\r\n\r\n";
	static const char nocallid[] = "REGISTER sip:example.com SIP/2.0\r\n"
				       "Via: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bK1\r\n"
				       "From: <sip:a@example.com>;tag=1\r\n"
				       "To: <sip:a@example.com>\r\n"
				       "CSeq: 2 REGISTER\r\n"
				       "Content-Length: 0\r\n\r\n";
	static const char want[] =
		"SIP/2.0 200 OK\r\n"
		"Via: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bK1;received=198.51.100.1\r\n"
		"From: <sip:a@example.com>;tag=1\r\n"
		"To: <sip:a@example.com>;tag=existing\r\n"
		"Call-ID: x\r\n"
		"CSeq: 2 REGISTER\r\n";
	struct sip_write_src src = {.received = S("198.51.100.1"), .port = 5060};
	struct sip_msg m, r;
	struct sip_hdr h[MAXH], hr[MAXH];
	struct sip_err err = {0};
	char buf[1024];
	struct sip_write w;

	parse_ok(&m, h, tagged, sizeof(tagged) - 1);
	sip_write_init(&w, buf, sizeof(buf));
	cr_assert_eq(sip_write_response(&w, &m, 200, SIP_STR_NULL, S("new"), &src, NULL),
		     0);
	cr_assert_eq(sip_write_result(&w), (int)sizeof(want) - 1);
	cr_assert_arr_eq(buf, want, sizeof(want) - 1);
	/* a source without address or port changes nothing */
	struct sip_write_src none = {SIP_STR_NULL, 0};
	sip_write_init(&w, buf, sizeof(buf));
	cr_assert_eq(sip_write_response(&w, &m, 200, SIP_STR_NULL, S("new"), &none, NULL),
		     0);
	cr_assert_gt(sip_write_result(&w), 0);
	static const char same_via[] =
		"\r\nVia: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bK1;received=1.2.3.4\r\n";
	cr_assert_not_null(memmem(buf, w.len, same_via, sizeof(same_via) - 1));

	parse_ok(&m, h, nocallid, sizeof(nocallid) - 1);
	sip_write_init(&w, buf, sizeof(buf));
	cr_assert_eq(sip_write_response(&w, &m, 400, SIP_STR_NULL, S("t"), NULL, &err),
		     -EBADMSG);
	cr_assert_str_eq(err.reason, "Missing Call-ID");
	cr_assert_eq(w.len, 0, "nothing written on error");
	cr_assert_eq(sip_write_response(&w, &m, 99, SIP_STR_NULL, S("t"), NULL, &err),
		     -EINVAL);

	/* a response is no request */
	sip_write_init(&w, buf, sizeof(buf));
	sip_write_response(&w, &m, 200, SIP_STR_NULL, S("t"), NULL, NULL);
	parse_ok(&m, h, tagged, sizeof(tagged) - 1);
	sip_write_init(&w, buf, sizeof(buf));
	sip_write_response(&w, &m, 200, SIP_STR_NULL, S("t"), NULL, NULL);
	sip_write_end(&w, SIP_STR_NULL);
	parse_ok(&r, hr, buf, (size_t)sip_write_result(&w));
	sip_write_init(&w, buf, sizeof(buf));
	cr_assert_eq(sip_write_response(&w, &r, 200, SIP_STR_NULL, S("t"), NULL, NULL),
		     -EINVAL);
}

/* ------------------------------------------------------------------------ */
/* Round trip over the corpus                                                */

static void same_vias(const struct sip_msg *a, const struct sip_msg *b, const char *name)
{
	struct sip_via va[64], vb[64];
	int na = sip_msg_vias(a, va, 64, NULL), nb = sip_msg_vias(b, vb, 64, NULL);

	cr_assert_eq(na, nb, "%s: Via count %d vs %d", name, na, nb);
	for (int i = 0; i < na; i++) {
		cr_assert(sip_str_eq(va[i].transport, vb[i].transport), "%s via %d", name,
			  i);
		cr_assert(sip_str_eq(va[i].host, vb[i].host), "%s via %d", name, i);
		cr_assert_eq(va[i].port, vb[i].port, "%s via %d", name, i);
		cr_assert(sip_str_eq(va[i].branch, vb[i].branch), "%s via %d", name, i);
		cr_assert(sip_str_eq(va[i].received, vb[i].received), "%s via %d", name,
			  i);
		cr_assert_eq(va[i].rport, vb[i].rport, "%s via %d", name, i);
	}
}

static void same_contacts(const struct sip_msg *a, const struct sip_msg *b,
			  const char *name)
{
	struct sip_contact ca[32], cb[32];
	int na = sip_msg_contacts(a, ca, 32, NULL),
	    nb = sip_msg_contacts(b, cb, 32, NULL);

	cr_assert_eq(na, nb, "%s: Contact count %d vs %d", name, na, nb);
	for (int i = 0; i < na; i++) {
		cr_assert_eq(ca[i].star, cb[i].star);
		cr_assert(sip_str_eq(ca[i].na.uri.raw, cb[i].na.uri.raw), "%s contact %d",
			  name, i);
		cr_assert_eq(ca[i].has_expires, cb[i].has_expires);
		cr_assert_eq(ca[i].expires, cb[i].expires);
		cr_assert_eq(ca[i].q, cb[i].q);
		cr_assert(sip_str_eq(ca[i].instance, cb[i].instance));
		cr_assert_eq(ca[i].reg_id, cb[i].reg_id);
	}
}

static void same_msgs(const struct sip_msg *a, const struct sip_msg *b, const char *name)
{
	struct sip_nameaddr fa, fb;

	cr_assert_eq(a->is_request, b->is_request, "%s", name);
	cr_assert(sip_str_eq(a->method, b->method), "%s: method", name);
	cr_assert_eq(a->method_id, b->method_id, "%s", name);
	cr_assert(sip_str_eq(a->ruri, b->ruri), "%s: Request-URI", name);
	cr_assert_eq(a->status, b->status, "%s", name);
	cr_assert(sip_str_eq(a->reason, b->reason), "%s: reason", name);
	cr_assert_eq(a->nhdrs, b->nhdrs, "%s: %u vs %u headers", name, a->nhdrs,
		     b->nhdrs);
	for (uint16_t i = 0; i < a->nhdrs; i++) {
		cr_assert_eq(a->hdrs[i].id, b->hdrs[i].id, "%s: header %u id", name, i);
		cr_assert(sip_str_eq(a->hdrs[i].name, b->hdrs[i].name),
			  "%s: header %u name", name, i);
		cr_assert(sip_str_eq(a->hdrs[i].value, b->hdrs[i].value),
			  "%s: header %u value '%.*s' vs '%.*s'", name, i,
			  (int)a->hdrs[i].value.len, a->hdrs[i].value.p,
			  (int)b->hdrs[i].value.len, b->hdrs[i].value.p);
	}
	cr_assert(sip_str_eq(a->call_id, b->call_id), "%s: Call-ID", name);
	cr_assert_eq(a->has_cseq, b->has_cseq);
	cr_assert_eq(a->cseq.num, b->cseq.num, "%s: CSeq", name);
	cr_assert(sip_str_eq(a->cseq.method, b->cseq.method), "%s: CSeq method", name);
	cr_assert_eq(a->has_content_length, b->has_content_length);
	cr_assert_eq(a->content_length, b->content_length, "%s", name);
	cr_assert(sip_str_eq(a->body, b->body), "%s: body", name);
	same_vias(a, b, name);
	same_contacts(a, b, name);
	if (sip_msg_from(a, &fa, NULL) == 0) {
		cr_assert_eq(sip_msg_from(b, &fb, NULL), 0, "%s", name);
		cr_assert(sip_str_eq(fa.tag, fb.tag), "%s: From tag", name);
		cr_assert(sip_str_eq(fa.uri.raw, fb.uri.raw), "%s: From URI", name);
	}
	if (sip_msg_to(a, &fa, NULL) == 0) {
		cr_assert_eq(sip_msg_to(b, &fb, NULL), 0, "%s", name);
		cr_assert(sip_str_eq(fa.tag, fb.tag), "%s: To tag", name);
		cr_assert(sip_str_eq(fa.display, fb.display), "%s: To display", name);
	}
}

struct rt_args {
	const struct sip_msg *m;
};

static void build_rt(struct sip_write *w, const void *arg)
{
	sip_write_msg(w, ((const struct rt_args *)arg)->m);
}

/* A 200 to a corpus request: every Via hop comes back in order, the top one
 * with received= and rport= from the source; To gets a tag unless it had one. */
static int check_response_to(const struct sip_msg *req, const char *name)
{
	static char buf[16384];
	struct sip_write_src src = {.received = S("203.0.113.9"), .port = 61000};
	struct sip_write w;
	struct sip_msg r;
	struct sip_hdr h[MAXH];
	struct sip_via v0[64], v1[64];
	struct sip_nameaddr a, b;
	struct sip_err err = {0};

	sip_write_init(&w, buf, sizeof(buf));
	int rc = sip_write_response(&w, req, 200, SIP_STR_NULL, S("rt-tag"), &src, &err);
	if (rc == -EBADMSG) {
		/* only a request lacking a needed header may be refused */
		cr_assert(!sip_msg_hdr(req, SIP_HDR_VIA) ||
				  !sip_msg_hdr(req, SIP_HDR_FROM) ||
				  !sip_msg_hdr(req, SIP_HDR_TO) ||
				  !sip_msg_hdr(req, SIP_HDR_CALL_ID) ||
				  !sip_msg_hdr(req, SIP_HDR_CSEQ) ||
				  sip_msg_to(req, &a, NULL) < 0 ||
				  sip_msg_vias(req, v0, 64, NULL) < 0,
			  "%s: response refused: %s", name, err.reason);
		return 0;
	}
	cr_assert_eq(rc, 0, "%s", name);
	sip_write_end(&w, SIP_STR_NULL);
	int n = sip_write_result(&w);
	cr_assert_gt(n, 0, "%s", name);
	cr_assert_eq(sip_msg_parse(&r, buf, (size_t)n, h, MAXH, SIP_PARSE_STREAM, &err),
		     n, "%s: response does not parse (%s):\n%.*s", name, err.reason, n,
		     buf);
	int nv = sip_msg_vias(req, v0, 64, NULL);
	cr_assert_eq(sip_msg_vias(&r, v1, 64, NULL), nv, "%s:\n%.*s", name, n, buf);
	for (int i = 0; i < nv; i++) {
		cr_assert(sip_str_eq(v0[i].host, v1[i].host), "%s via %d", name, i);
		cr_assert_eq(v0[i].port, v1[i].port, "%s via %d", name, i);
		cr_assert(sip_str_eq(v0[i].branch, v1[i].branch), "%s via %d", name, i);
		if (i > 0) {
			cr_assert(sip_str_eq(v0[i].params, v1[i].params), "%s via %d",
				  name, i);
			continue;
		}
		cr_assert(str_is(v1[0].received, "203.0.113.9"), "%s:\n%.*s", name, n,
			  buf);
		cr_assert_eq(v1[0].rport, v0[0].rport == 0 ? 61000 : v0[0].rport, "%s",
			     name);
		cr_assert(sip_str_eq(v0[0].maddr, v1[0].maddr), "%s", name);
		cr_assert_eq(v0[0].ttl, v1[0].ttl, "%s", name);
	}
	cr_assert(sip_str_eq(req->call_id, r.call_id), "%s", name);
	cr_assert_eq(req->cseq.num, r.cseq.num, "%s", name);
	cr_assert_eq(sip_msg_to(req, &a, NULL), 0);
	cr_assert_eq(sip_msg_to(&r, &b, NULL), 0);
	cr_assert(sip_str_eq(a.uri.raw, b.uri.raw), "%s", name);
	cr_assert(sip_str_eq(b.tag, sip_str_isset(a.tag) ? a.tag : S("rt-tag")), "%s",
		  name);
	return 1;
}

/* Round-trips every accepted file of one corpus folder; returns how many;
 * *answered counts the requests a response was built for. */
static int round_trip_dir(const char *dir, const char *sub, int *answered)
{
	char path[4096];
	size_t len;
	struct csv c;
	int done = 0;

	snprintf(path, sizeof(path), "%s/%s/manifest.csv", dir, sub);
	char *text = csv_slurp(path, &len);
	cr_assert_not_null(text, "cannot read %s", path);
	cr_assert_eq(csv_parse(&c, text, len), 0, "%s is not valid CSV", path);
	int cfile = csv_need_col(&c, "file"), cexp = csv_col(&c, "parse_expectation");
	for (size_t r = 1; r < c.nrows; r++) {
		cr_assert_gt(c.nfields[r], (size_t)(cfile > cexp ? cfile : cexp),
			     "%s row %zu: short row", path, r);
		/* real/ has no expectation column: every real message is valid */
		if (cexp >= 0 && strcmp(c.field[r][cexp], "accept") != 0)
			continue;
		const char *name = c.field[r][cfile];
		size_t mlen;
		snprintf(path, sizeof(path), "%s/%s/%s", dir, sub, name);
		char *msg = csv_slurp(path, &mlen);
		cr_assert_not_null(msg, "cannot read %s", path);

		struct sip_msg m1, m2;
		struct sip_hdr h1[MAXH], h2[MAXH];
		struct sip_err err = {0};
		int n1 =
			sip_msg_parse(&m1, msg, mlen, h1, MAXH, SIP_PARSE_DATAGRAM, &err);
		cr_assert_gt(n1, 0, "%s: does not parse (%d, %s)", name, n1,
			     err.reason ? err.reason : "");

		struct rt_args a = {&m1};
		int n;
		const char *out = check_every_cap(build_rt, &a, &n);
		char *copy = malloc((size_t)n);
		memcpy(copy, out, (size_t)n);
		int n2 = sip_msg_parse(&m2, copy, (size_t)n, h2, MAXH, SIP_PARSE_DATAGRAM,
				       &err);
		cr_assert_eq(n2, n, "%s: serialised form does not parse (%d, %s):\n%.*s",
			     name, n2, err.reason ? err.reason : "", n, copy);
		same_msgs(&m1, &m2, name);
		if (m1.is_request)
			*answered += check_response_to(&m1, name);
		free(copy);
		free(msg);
		done++;
	}
	csv_free(&c);
	free(text);
	return done;
}

Test(sip_write_corpus, round_trip)
{
	const char *dir = getenv("SIPREG_CORPUS");

	if (!dir || !*dir)
		cr_skip_test("SIPREG_CORPUS is not set: corpus round trip NOT checked");
	int answered = 0;
	int n = round_trip_dir(dir, "rfc4475", &answered);
	n += round_trip_dir(dir, "rfc5118", &answered);
	n += round_trip_dir(dir, "real", &answered);
	cr_assert_geq(n, 30, "only %d corpus messages round-tripped", n);
	cr_assert_geq(answered, 20, "only %d corpus requests answered", answered);
	cr_log_info("round trip: %d corpus messages, %d requests answered", n, answered);
}

/* ------------------------------------------------------------------------ */
/* Guard page and mutated requests                                           */

/* The output ends right before a PROT_NONE page: a single byte written past
 * cap would fault. Every cap of the REGISTER builder is tried. */
Test(sip_write, guard_page_after_cap)
{
	struct reg_args a = {.ipv6 = true, .auth = true};
	struct guard_page g;
	struct sip_write w;
	char full[4096];

	sip_write_init(&w, full, sizeof(full));
	build_register(&w, &a);
	int n = sip_write_result(&w);
	cr_assert_gt(n, 0);
	char *end = guard_page_new(&g, (size_t)n);
	for (size_t cap = 0; cap <= (size_t)n; cap++) {
		char *buf = end - cap;
		sip_write_init(&w, buf, cap);
		build_register(&w, &a);
		cr_assert_eq(sip_write_result(&w), cap < (size_t)n ? -ENOSPC : n);
	}
	guard_page_free(&g);
}

/* Requests with random bytes changed: whatever parses, a response can be
 * built for or is refused with -EBADMSG, never anything else, and what is
 * built parses again. Run under ASan this also checks the reads. */
Test(sip_write, responses_to_mutated_requests)
{
	static char buf[8192];
	static const char charset[] = ";=,\" \t\r\n:<>[]\\abz09";
	uint64_t x = 0x9E3779B97F4A7C15ull;
	size_t len = sizeof(req_text) - 1;
	int built = 0;

	for (int iter = 0; iter < 20000; iter++) {
		char msg[sizeof(req_text)];
		memcpy(msg, req_text, sizeof(req_text));
		for (int k = 0; k < 3; k++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			msg[x % len] = charset[(x >> 32) % (sizeof(charset) - 1)];
		}
		struct sip_msg m, r;
		struct sip_hdr h[MAXH], hr[MAXH];
		if (sip_msg_parse(&m, msg, len, h, MAXH, SIP_PARSE_DATAGRAM, NULL) <= 0 ||
		    !m.is_request)
			continue;
		struct sip_write_src src = {.received = S("192.0.2.1"), .port = 1};
		struct sip_write w;
		sip_write_init(&w, buf, sizeof(buf));
		int rc =
			sip_write_response(&w, &m, 500, SIP_STR_NULL, S("t"), &src, NULL);
		cr_assert(rc == 0 || rc == -EBADMSG, "rc %d", rc);
		if (rc)
			continue;
		sip_write_end(&w, SIP_STR_NULL);
		int n = sip_write_result(&w);
		cr_assert_gt(n, 0);
		cr_assert_eq(sip_msg_parse(&r, buf, (size_t)n, hr, MAXH, SIP_PARSE_STREAM,
					   NULL),
			     n, "built from:\n%.*s\nnot parsable:\n%.*s", (int)len, msg,
			     n, buf);
		built++;
	}
	cr_assert_gt(built, 1000, "only %d responses built", built);
}
