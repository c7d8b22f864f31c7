/* SPDX-License-Identifier: MIT */
/*
 * Tests of the message framing (src/sip/msg.c): start lines, header split,
 * names (long, compact, any case), folding, duplicates, Content-Length and
 * bodies over datagrams and streams, limits, validation and the
 * message-level helpers. Table-driven vectors name their RFC; every strict
 * prefix of a valid message must give -EAGAIN on a stream; a guard-page test
 * places inputs just before a PROT_NONE page. The same file is also built
 * against the scalar scanner (test sip_msg_scalar, -DSIPREG_NO_SIMD).
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "sipreg/sip.h"
#include "support/guard_page.h"
#include "support/sip_assert.h"
#include "sip/msg_internal.h"

#define NHDRS 128
#define DGRAM SIP_PARSE_DATAGRAM
#define STREAM SIP_PARSE_STREAM

static struct sip_hdr hdrs[NHDRS];

static int parse(struct sip_msg *m, const char *s, unsigned flags, struct sip_err *err)
{
	return sip_msg_parse(m, s, strlen(s), hdrs, NHDRS, flags, err);
}

#define REG_HDRS                                                                       \
	"Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK776asdhds;rport\r\n"            \
	"Max-Forwards: 70\r\n"                                                         \
	"To: Bob <sip:bob@example.com>\r\n"                                            \
	"From: Bob <sip:bob@example.com>;tag=456248\r\n"                               \
	"Call-ID: 843817637684230@998sdasdh09\r\n"                                     \
	"CSeq: 1826 REGISTER\r\n"                                                      \
	"Contact: <sip:bob@192.0.2.4>;expires=7200\r\n"                                \
	"Authorization: Digest username=\"bob\", realm=\"example.com\", "             \
	"nonce=\"ea9c8e88df84f1cec4341ae6cbe5a359\", uri=\"sip:example.com\", "        \
	"response=\"dfe56131d1958046689d83306477ecc\", qop=auth, nc=00000001, "        \
	"cnonce=\"0a4f113b\"\r\n"                                                      \
	"Expires: 7200\r\n"

/* RFC 3261 §10.2 REGISTER, with credentials */
static const char reg[] = "REGISTER sip:registrar.example.com SIP/2.0\r\n" REG_HDRS
			  "Content-Length: 0\r\n\r\n";

/* ------------------------------------------------------------------------ */
/* A well-formed request and response                                        */

Test(sip_msg, register_request)
{
	struct sip_msg m;
	struct sip_err err = {0};
	int r = parse(&m, reg, DGRAM, &err);

	cr_assert_eq(r, (int)strlen(reg), "%d %s", r, err.reason);
	cr_assert(m.is_request);
	cr_assert_str(m.method, "REGISTER");
	cr_assert_eq(m.method_id, SIP_METHOD_REGISTER);
	cr_assert_str(m.ruri, "sip:registrar.example.com");
	cr_assert_eq(m.nhdrs, 10);
	cr_assert_str(m.call_id, "843817637684230@998sdasdh09");
	cr_assert(m.has_cseq);
	cr_assert_eq(m.cseq.num, 1826);
	cr_assert_str(m.cseq.method, "REGISTER");
	cr_assert(m.has_content_length);
	cr_assert_eq(m.content_length, 0);
	cr_assert_eq(m.body.len, 0);
	cr_assert_eq(m.body.p, reg + strlen(reg));
	cr_assert_eq(m.len, strlen(reg));
	cr_assert_eq(sip_msg_validate(&m, &err), 0, "%s", err.reason);

	const struct sip_hdr *h = sip_msg_hdr(&m, SIP_HDR_AUTHORIZATION);
	cr_assert_not_null(h);
	cr_assert_str(h->name, "Authorization");
	cr_assert_eq(h->value.p[0], 'D');
	cr_assert_eq(h->value.p[h->value.len - 1], '"');
	cr_assert_eq(m.count[SIP_HDR_VIA], 1);
	cr_assert_eq(m.count[SIP_HDR_OTHER], 0);
	cr_assert_null(sip_msg_hdr(&m, SIP_HDR_ROUTE));

	uint32_t v = 0;
	cr_assert_eq(sip_msg_u32(&m, SIP_HDR_EXPIRES, &v, &err), 0);
	cr_assert_eq(v, 7200);
	cr_assert_eq(sip_msg_u32(&m, SIP_HDR_MAX_FORWARDS, &v, &err), 0);
	cr_assert_eq(v, 70);
	cr_assert_eq(sip_msg_u32(&m, SIP_HDR_MIN_EXPIRES, &v, &err), -ENOENT);
}

Test(sip_msg, response)
{
	static const char resp[] = "SIP/2.0 401 Unauthorized\r\n"
				   "Via: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bK1;received=192.0.2.1\r\n"
				   "From: <sip:bob@example.com>;tag=1\r\n"
				   "To: <sip:bob@example.com>;tag=2\r\n"
				   "Call-ID: abc\r\n"
				   "CSeq: 1 REGISTER\r\n"
				   "WWW-Authenticate: Digest realm=\"example.com\", nonce=\"x\"\r\n"
				   "Content-Length: 5\r\n"
				   "\r\n"
				   "hello";
	struct sip_msg m;
	struct sip_err err = {0};

	cr_assert_eq(parse(&m, resp, DGRAM, &err), (int)strlen(resp), "%s", err.reason);
	cr_assert_not(m.is_request);
	cr_assert_eq(m.status, 401);
	cr_assert_str(m.reason, "Unauthorized");
	cr_assert_str(m.body, "hello");
	cr_assert_not_null(sip_msg_hdr(&m, SIP_HDR_WWW_AUTHENTICATE));
	/* responses carry no Max-Forwards and no CSeq/method check */
	cr_assert_eq(sip_msg_validate(&m, &err), 0, "%s", err.reason);
}

/* ------------------------------------------------------------------------ */
/* Vectors: whole messages and the outcome                                   */

struct msg_vec {
	const char *rfc;
	const char *in;
	unsigned flags;
	int ret;            /* > 0: the whole input is consumed; else the errno */
	const char *reason; /* substring of err.reason for failures */
};

#define MIN_TAIL "To: <sip:b@example.com>\r\nFrom: <sip:a@example.com>;tag=1\r\n" \
		 "Call-ID: x@y\r\nCSeq: 1 OPTIONS\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n" \
		 "Max-Forwards: 70\r\n"
#define OPT(hdrs) "OPTIONS sip:a@example.com SIP/2.0\r\n" MIN_TAIL hdrs "Content-Length: 0\r\n\r\n"
#define RESP(line) line "\r\n" MIN_TAIL "Content-Length: 0\r\n\r\n"

static const struct msg_vec vecs[] = {
	/* start lines, RFC 3261 §7.1 / §7.2 */
	{"RFC 3261 §7.1", OPT(""), DGRAM, 1, NULL},
	{"RFC 3261 §7.1 extension method", "FOO.bar-1 sip:a@b SIP/2.0\r\n" MIN_TAIL "l: 0\r\n\r\n",
	 DGRAM, 1, NULL},
	{"RFC 3261 §7.1 SIP-Version any case", "OPTIONS sip:a@b sip/2.0\r\n" MIN_TAIL "l:0\r\n\r\n",
	 DGRAM, 1, NULL},
	{"RFC 4475 §3.1.2.16 badvers", "OPTIONS sip:a@b SIP/7.0\r\n" MIN_TAIL "l: 0\r\n\r\n",
	 DGRAM, -EPROTONOSUPPORT, "version"},
	{"RFC 3261 §7.2 response version", RESP("SIP/3.0 200 OK"), DGRAM, -EPROTONOSUPPORT,
	 "version"},
	{"RFC 3261 §7.1 malformed version", "OPTIONS sip:a@b SIP/2.0x\r\n" MIN_TAIL "\r\n",
	 DGRAM, -EBADMSG, "version"},
	{"RFC 4475 test.dat no version", "INVITE sip:alan@jasomi.com\r\n" MIN_TAIL "\r\n", DGRAM,
	 -EBADMSG, "missing SIP version"},
	{"RFC 4475 §3.1.2.9 lwsstart", "INVITE  sip:a@b  SIP/2.0\r\n" MIN_TAIL "\r\n", DGRAM,
	 -EBADMSG, "whitespace"},
	{"RFC 4475 §3.1.2.8 lwsruri", "INVITE sip:a@b; lr SIP/2.0\r\n" MIN_TAIL "\r\n", DGRAM,
	 -EBADMSG, "embedded whitespace"},
	{"RFC 4475 §3.1.2.10 trws", "OPTIONS sip:a@b SIP/2.0  \r\n" MIN_TAIL "\r\n", DGRAM,
	 -EBADMSG, "trailing whitespace"},
	{"RFC 4475 §3.1.2.7 ltgtruri", "INVITE <sip:a@b> SIP/2.0\r\n" MIN_TAIL "\r\n", DGRAM,
	 -EBADMSG, "Request-URI"},
	{"RFC 3261 §25.1 control byte in Request-URI", "INVITE sip:a\x01@b SIP/2.0\r\n" MIN_TAIL
	 "\r\n", DGRAM, -EBADMSG, "control"},
	{"RFC 3261 §7.1 empty method", " sip:a@b SIP/2.0\r\n" MIN_TAIL "\r\n", DGRAM, -EBADMSG,
	 "request line"},
	{"RFC 3261 §7.1 method not a token", "INV@TE sip:a@b SIP/2.0\r\n" MIN_TAIL "\r\n", DGRAM,
	 -EBADMSG, "token"},
	{"RFC 3261 §7.1 no Request-URI", "INVITE\r\n" MIN_TAIL "\r\n", DGRAM, -EBADMSG,
	 "Request-URI"},
	{"RFC 4475 §3.1.1.13 noreason", RESP("SIP/2.0 100 "), DGRAM, 1, NULL},
	{"RFC 3261 §7.2 status 699", RESP("SIP/2.0 699 Max"), DGRAM, 1, NULL},
	{"RFC 3261 §21 status 99", RESP("SIP/2.0 099 Low"), DGRAM, -EBADMSG, "range"},
	{"RFC 3261 §21 status 700", RESP("SIP/2.0 700 High"), DGRAM, -EBADMSG, "range"},
	{"RFC 4475 §3.1.2.19 bigcode", RESP("SIP/2.0 4294967301 better not break"), DGRAM,
	 -EBADMSG, "three digits"},
	{"RFC 3261 §7.2 status not digits", RESP("SIP/2.0 2OO OK"), DGRAM, -EBADMSG,
	 "three digits"},
	{"RFC 3261 §7.2 control byte in reason", RESP("SIP/2.0 200 O\x02K"), DGRAM, -EBADMSG,
	 "control"},
	{"RFC 3261 §7.2 UTF-8 reason", RESP("SIP/2.0 200 \xc3\xa9t\xc3\xa9\tok"), DGRAM, 1, NULL},

	/* header lines, RFC 3261 §7.3 */
	{"RFC 3261 §7.3.1 LWS before colon", OPT("Subject \t : hi\r\n"), DGRAM, 1, NULL},
	{"RFC 4475 test.dat missing colon", OPT("Foobar roobar\r\n"), DGRAM, -EBADMSG,
	 "missing colon"},
	{"RFC 3261 §7.3 missing colon at end", OPT("Foobar\r\n"), DGRAM, -EBADMSG, "missing colon"},
	{"RFC 3261 §7.3 empty name", OPT(": x\r\n"), DGRAM, -EBADMSG, "empty header name"},
	{"RFC 3261 §25.1 name not a token", OPT("Fo@o: x\r\n"), DGRAM, -EBADMSG,
	 "invalid character in name"},
	{"RFC 3261 §25.1 space inside name", OPT("Foo Bar: x\r\n"), DGRAM, -EBADMSG,
	 "invalid character"},
	{"RFC 3261 §25.1 control byte in name", OPT("Fo\x01o: x\r\n"), DGRAM, -EBADMSG,
	 "control"},
	{"RFC 3261 §25.1 NUL in value", "OPTIONS sip:a@b SIP/2.0\r\nSubject: a\0b\r\n" MIN_TAIL
	 "l: 0\r\n\r\n", DGRAM, -EBADMSG, "control"},
	{"RFC 3261 §25.1 DEL in value", OPT("Subject: a\x7f b\r\n"), DGRAM, -EBADMSG, "control"},
	{"RFC 4475 §3.1.1.2 quoted-pair control byte", OPT("Subject: \"a\\\x07 b\"\r\n"), DGRAM, 1,
	 NULL},
	{"RFC 3261 §7.3.1 continuation of the start line", "OPTIONS sip:a@b SIP/2.0\r\n x\r\n"
	 MIN_TAIL "\r\n", DGRAM, -EBADMSG, "whitespace"},
	{"RFC 3261 §7 bare CR in value", OPT("Subject: a\rb\r\n"), DGRAM, -EBADMSG, "CR"},
	{"RFC 3261 §7 bare LF", OPT("Subject: ab\n"), DGRAM, -EBADMSG, "bare LF"},
	{"RFC 3261 §7 bare LF start line", "OPTIONS sip:a@b SIP/2.0\n" MIN_TAIL "\r\n", DGRAM,
	 -EBADMSG, "bare LF"},
	{"sipreg LF mode", "OPTIONS sip:a@b SIP/2.0\nTo: <sip:b@example.com>\nCall-ID: q\n"
	 "CSeq: 1 OPTIONS\nl: 0\n\n", DGRAM | SIP_PARSE_LF, 1, NULL},
	{"sipreg LF mode, folded", "OPTIONS sip:a@b SIP/2.0\nSubject: a\n b\nl: 0\n\n",
	 DGRAM | SIP_PARSE_LF, 1, NULL},
	{"RFC 3261 §7.5 leading CRLFs", "\r\n\r\n" OPT(""), DGRAM, 1, NULL},

	/* duplicates of single-valued headers, RFC 3261 §7.3 / RFC 4475 §3.3.8 */
	{"RFC 4475 §3.3.8 multi01 From", OPT("f: <sip:c@d>;tag=2\r\n"), DGRAM, -EBADMSG,
	 "Duplicate From header"},
	{"RFC 4475 §3.3.8 multi01 To", OPT("TO: <sip:c@d>\r\n"), DGRAM, -EBADMSG,
	 "Duplicate To header"},
	{"RFC 4475 §3.3.8 multi01 Call-ID", OPT("i: other\r\n"), DGRAM, -EBADMSG,
	 "Duplicate Call-ID header"},
	{"RFC 4475 §3.3.8 multi01 CSeq", OPT("CSeq: 2 OPTIONS\r\n"), DGRAM, -EBADMSG,
	 "Duplicate CSeq header"},
	{"RFC 4475 §3.3.8 multi01 Max-Forwards", OPT("max-forwards: 3\r\n"), DGRAM, -EBADMSG,
	 "Duplicate Max-Forwards header"},
	{"RFC 4475 §3.3.9 mcl01", "OPTIONS sip:a@b SIP/2.0\r\n" MIN_TAIL
	 "Content-Length: 0\r\nl: 0\r\n\r\n", DGRAM, -EBADMSG, "Duplicate Content-Length header"},
	{"RFC 3261 §20.15 Content-Type", OPT("c: a/b\r\nContent-Type: a/b\r\n"), DGRAM,
	 -EBADMSG, "Duplicate Content-Type header"},
	{"RFC 3261 §20.19 Expires", OPT("Expires: 1\r\nExpires: 1\r\n"), DGRAM, -EBADMSG,
	 "Duplicate Expires header"},
	{"RFC 3261 §20.23 Min-Expires", OPT("Min-Expires: 1\r\nMin-Expires: 1\r\n"), DGRAM,
	 -EBADMSG, "Duplicate Min-Expires header"},
	{"RFC 3261 §20.17 Date", OPT("Date: a\r\nDATE: a\r\n"), DGRAM, -EBADMSG,
	 "Duplicate Date header"},
	{"RFC 3261 §20.33 Retry-After", OPT("Retry-After: 1\r\nRetry-After: 1\r\n"), DGRAM,
	 -EBADMSG, "Duplicate Retry-After header"},
	{"RFC 3261 §7.3 list headers repeat", OPT("Route: <sip:a>\r\nRoute: <sip:b>\r\n"
	 "X-A: 1\r\nX-A: 2\r\n"), DGRAM, 1, NULL},

	/* Call-ID, CSeq, Content-Length parsed during the split */
	{"RFC 3261 §20.8 empty Call-ID", "OPTIONS sip:a@b SIP/2.0\r\nCall-ID:  \r\n\r\n", DGRAM,
	 -EBADMSG, "Call-ID"},
	{"RFC 3261 §20.8 Call-ID with space", "OPTIONS sip:a@b SIP/2.0\r\nCall-ID: a b\r\n\r\n",
	 DGRAM, -EBADMSG, "Call-ID"},
	{"RFC 4475 §3.1.2.5 scalarlg CSeq", "OPTIONS sip:a@b SIP/2.0\r\n"
	 "CSeq: 36893488147419103232 OPTIONS\r\n\r\n", DGRAM, -EBADMSG, "CSeq"},
	{"RFC 3261 §20.16 CSeq without method", "OPTIONS sip:a@b SIP/2.0\r\nCSeq: 1\r\n\r\n",
	 DGRAM, -EBADMSG, "CSeq"},
	{"RFC 4475 §3.1.2.3 ncl", "OPTIONS sip:a@b SIP/2.0\r\nContent-Length: -999\r\n\r\n",
	 DGRAM, -EBADMSG, "Content-Length"},
	{"RFC 4475 §3.1.2.4 scalar02 huge Content-Length", "OPTIONS sip:a@b SIP/2.0\r\n"
	 "Content-Length: 18446744073709551617\r\n\r\n", DGRAM, -EBADMSG, "Content-Length"},
	{"RFC 3261 §20.14 2^32 Content-Length", "OPTIONS sip:a@b SIP/2.0\r\n"
	 "Content-Length: 4294967296\r\n\r\n", STREAM, -EBADMSG, "Content-Length"},
	{"RFC 3261 §20.14 Content-Length not a number", "OPTIONS sip:a@b SIP/2.0\r\n"
	 "l: 0x10\r\n\r\n", DGRAM, -EBADMSG, "Content-Length"},
	{"RFC 3261 §20.14 two numbers", "OPTIONS sip:a@b SIP/2.0\r\nl: 1 2\r\n\r\nab", DGRAM,
	 -EBADMSG, "Content-Length"},
	{"RFC 3261 §20.14 empty Content-Length", "OPTIONS sip:a@b SIP/2.0\r\nl:\r\n\r\n", DGRAM,
	 -EBADMSG, "Content-Length"},
	{"RFC 3261 §20.14 leading zeros", "OPTIONS sip:a@b SIP/2.0\r\nl: 0003\r\n\r\nabc", DGRAM,
	 1, NULL},

	/* bodies, RFC 3261 §18.3 */
	{"RFC 4475 §3.1.2.2 clerr datagram", "OPTIONS sip:a@b SIP/2.0\r\nl: 9999\r\n\r\nabc",
	 DGRAM, -EBADMSG, "Content-Length larger than the message"},
	{"RFC 4475 §3.1.2.2 clerr stream", "OPTIONS sip:a@b SIP/2.0\r\nl: 9999\r\n\r\nabc",
	 STREAM, -EAGAIN, NULL},
	{"RFC 3261 §18.3 stream needs Content-Length", "OPTIONS sip:a@b SIP/2.0\r\n\r\n", STREAM,
	 -EBADMSG, "Missing Content-Length"},
	{"RFC 3261 §18.3 datagram without Content-Length", "OPTIONS sip:a@b SIP/2.0\r\n\r\nbody",
	 DGRAM, 1, NULL},
	{"RFC 3261 §18.3 stream too large", "OPTIONS sip:a@b SIP/2.0\r\nl: 70000\r\n\r\n", STREAM,
	 -E2BIG, "too large"},
	{"sipreg datagram missing its empty line", "OPTIONS sip:a@b SIP/2.0\r\nl: 0\r\n", DGRAM,
	 1, NULL},
	{"sipreg datagram cut inside a header line", "OPTIONS sip:a@b SIP/2.0\r\nl: 0\r", DGRAM,
	 -EBADMSG, "Truncated"},
	{"sipreg datagram cut inside a header name", "OPTIONS sip:a@b SIP/2.0\r\nCall-I", DGRAM,
	 -EBADMSG, "Truncated"},
	{"sipreg datagram missing its empty line, with a body", "OPTIONS sip:a@b SIP/2.0\r\n"
	 "l: 3\r\n", DGRAM, -EBADMSG, "Content-Length larger"},
	{"sipreg truncated start line", "OPTIONS sip:a@b SIP/2.0", DGRAM, -EBADMSG, "Truncated"},
	{"sipreg empty datagram", "", DGRAM, -EBADMSG, "Truncated"},
	{"sipreg empty stream", "", STREAM, -EAGAIN, NULL},
	{"sipreg only keep-alives", "\r\n\r\n", STREAM, -EAGAIN, NULL},
};

Test(sip_msg, vectors)
{
	for (size_t i = 0; i < sizeof(vecs) / sizeof(vecs[0]); i++) {
		const struct msg_vec *v = &vecs[i];
		size_t len = strlen(v->in);
		struct sip_msg m;
		struct sip_err err = {0};
		int r;

		/* one vector holds a NUL: its length runs to the final CRLFCRLF */
		if (strstr(v->rfc, "NUL in value"))
			len = strlen(v->in) + 1 + strlen(v->in + strlen(v->in) + 1);
		r = sip_msg_parse(&m, v->in, len, hdrs, NHDRS, v->flags, &err);
		if (v->ret > 0) {
			cr_assert_eq(r, (int)len, "%s: returned %d (%s)", v->rfc, r,
				     err.reason ? err.reason : "");
			cr_assert_eq(m.len, len, "%s", v->rfc);
			continue;
		}
		cr_assert_eq(r, v->ret, "%s: returned %d, want %d (%s)", v->rfc, r, v->ret,
			     err.reason ? err.reason : "");
		if (v->reason) {
			cr_assert_not_null(err.reason, "%s: no reason", v->rfc);
			cr_assert(strstr(err.reason, v->reason), "%s: reason '%s' lacks '%s'",
				  v->rfc, err.reason, v->reason);
			cr_assert(err.off <= len, "%s: offset %zu past %zu", v->rfc, err.off, len);
		}
	}
}

/* ------------------------------------------------------------------------ */
/* Header names                                                              */

static const struct {
	const char *name;
	enum sip_hdr_id id;
	char compact;
} names[] = {
	{"Via", SIP_HDR_VIA, 'v'},
	{"From", SIP_HDR_FROM, 'f'},
	{"To", SIP_HDR_TO, 't'},
	{"Call-ID", SIP_HDR_CALL_ID, 'i'},
	{"CSeq", SIP_HDR_CSEQ, 0},
	{"Contact", SIP_HDR_CONTACT, 'm'},
	{"Expires", SIP_HDR_EXPIRES, 0},
	{"Min-Expires", SIP_HDR_MIN_EXPIRES, 0},
	{"Max-Forwards", SIP_HDR_MAX_FORWARDS, 0},
	{"Content-Length", SIP_HDR_CONTENT_LENGTH, 'l'},
	{"Content-Type", SIP_HDR_CONTENT_TYPE, 'c'},
	{"Content-Encoding", SIP_HDR_CONTENT_ENCODING, 'e'},
	{"Path", SIP_HDR_PATH, 0},
	{"Route", SIP_HDR_ROUTE, 0},
	{"Record-Route", SIP_HDR_RECORD_ROUTE, 0},
	{"Supported", SIP_HDR_SUPPORTED, 'k'},
	{"Require", SIP_HDR_REQUIRE, 0},
	{"Proxy-Require", SIP_HDR_PROXY_REQUIRE, 0},
	{"Unsupported", SIP_HDR_UNSUPPORTED, 0},
	{"Allow", SIP_HDR_ALLOW, 0},
	{"Accept", SIP_HDR_ACCEPT, 0},
	{"User-Agent", SIP_HDR_USER_AGENT, 0},
	{"Server", SIP_HDR_SERVER, 0},
	{"Privacy", SIP_HDR_PRIVACY, 0},
	{"Authorization", SIP_HDR_AUTHORIZATION, 0},
	{"Proxy-Authorization", SIP_HDR_PROXY_AUTHORIZATION, 0},
	{"WWW-Authenticate", SIP_HDR_WWW_AUTHENTICATE, 0},
	{"Proxy-Authenticate", SIP_HDR_PROXY_AUTHENTICATE, 0},
	{"Date", SIP_HDR_DATE, 0},
	{"Retry-After", SIP_HDR_RETRY_AFTER, 0},
	{"Timestamp", SIP_HDR_TIMESTAMP, 0},
	{"Event", SIP_HDR_EVENT, 'o'},
	{"Subject", SIP_HDR_SUBJECT, 's'},
	{"Allow-Events", SIP_HDR_ALLOW_EVENTS, 'u'},
	{"Refer-To", SIP_HDR_REFER_TO, 'r'},
	{"Referred-By", SIP_HDR_REFERRED_BY, 'b'},
	{"Session-Expires", SIP_HDR_SESSION_EXPIRES, 'x'},
	{"Accept-Contact", SIP_HDR_ACCEPT_CONTACT, 'a'},
	{"Reject-Contact", SIP_HDR_REJECT_CONTACT, 'j'},
	{"Request-Disposition", SIP_HDR_REQUEST_DISPOSITION, 'd'},
	{"Identity", SIP_HDR_IDENTITY, 'y'},
	{"Identity-Info", SIP_HDR_IDENTITY_INFO, 'n'},
	{"MIME-Version", SIP_HDR_MIME_VERSION, 0},
	{"Organization", SIP_HDR_ORGANIZATION, 0},
	{"Warning", SIP_HDR_WARNING, 0},
};
#define NNAMES (sizeof(names) / sizeof(names[0]))

/* RFC 3261 §7.3.3 / §7.3.5: names in any case, long and compact forms */
Test(sip_hdr_names, lookup_every_name_any_case)
{
	char buf[64];

	cr_assert_eq(NNAMES, SIP_HDR__COUNT - 1, "every id is listed");
	for (size_t i = 0; i < NNAMES; i++) {
		size_t n = strlen(names[i].name);

		cr_assert_str_eq(sip_hdr_name(names[i].id), names[i].name);
		cr_assert_eq(sip_hdr_lookup(names[i].name, n), names[i].id, "%s", names[i].name);
		for (unsigned variant = 0; variant < 4; variant++) {
			for (size_t k = 0; k < n; k++) {
				char c = names[i].name[k];
				bool up = variant == 0 || (variant == 2 && k % 2) ||
					  (variant == 3 && !(k % 3));
				buf[k] = (char)(up ? (c >= 'a' && c <= 'z' ? c - 32 : c)
						   : (c >= 'A' && c <= 'Z' ? c + 32 : c));
			}
			cr_assert_eq(sip_hdr_lookup(buf, n), names[i].id, "%.*s", (int)n, buf);
			/* one byte off anywhere: never this id */
			for (size_t k = 0; k < n; k++) {
				char save = buf[k];
				buf[k] = (char)(save == '-' ? '_' : save ^ 0x01);
				cr_assert_neq(sip_hdr_lookup(buf, n), names[i].id, "%.*s", (int)n, buf);
				buf[k] = save == '-' ? '\r' : save;
				if (save == '-')
					cr_assert_eq(sip_hdr_lookup(buf, n), SIP_HDR_OTHER);
				buf[k] = save;
			}
			/* prefixes and extensions are other headers */
			if (n > 2)
				cr_assert_eq(sip_hdr_lookup(buf, n - 1) == names[i].id, false);
			buf[n] = 's';
			cr_assert_eq(sip_hdr_lookup(buf, n + 1), SIP_HDR_OTHER, "%.*s", (int)n + 1, buf);
		}
		if (names[i].compact) {
			char c = names[i].compact;
			char uc = (char)(c - 32);
			cr_assert_eq(sip_hdr_lookup(&c, 1), names[i].id, "%c", c);
			cr_assert_eq(sip_hdr_lookup(&uc, 1), names[i].id, "%c", uc);
		}
	}
	/* letters that are no compact form */
	for (const char *c = "ghpqwzGHPQWZ1-"; *c; c++)
		cr_assert_eq(sip_hdr_lookup(c, 1), SIP_HDR_OTHER, "%c", *c);
	cr_assert_eq(sip_hdr_lookup("", 0), SIP_HDR_OTHER);
	cr_assert_eq(sip_hdr_lookup(NULL, 3), SIP_HDR_OTHER);
	cr_assert_eq(sip_hdr_lookup("X-Via", 5), SIP_HDR_OTHER);
	cr_assert_eq(sip_hdr_lookup("Call-Id", 7), SIP_HDR_CALL_ID);
	cr_assert_eq(sip_hdr_lookup("Call\rID", 7), SIP_HDR_OTHER);
	cr_assert_null(sip_hdr_name(SIP_HDR__COUNT));
}

/* Every name in a message, long and compact, resolved by the split */
Test(sip_hdr_names, split_resolves_every_form)
{
	char msg[8192];
	size_t off = 0;
	struct sip_msg m;
	struct sip_err err = {0};

	off += (size_t)snprintf(msg + off, sizeof(msg) - off, "OPTIONS sip:a@b SIP/2.0\r\n");
	for (size_t i = 0; i < NNAMES; i++) {
		if (names[i].id == SIP_HDR_CONTENT_LENGTH)
			continue;
		off += (size_t)snprintf(msg + off, sizeof(msg) - off,
					names[i].id == SIP_HDR_CSEQ ? "%s: 1 OPTIONS\r\n"
								    : "%s: v%zu\r\n",
					names[i].name, i);
	}
	/* compact forms of the list headers (singletons would be duplicates) */
	for (size_t i = 0; i < NNAMES; i++) {
		if (!names[i].compact || names[i].id == SIP_HDR_FROM ||
		    names[i].id == SIP_HDR_TO || names[i].id == SIP_HDR_CALL_ID ||
		    names[i].id == SIP_HDR_CONTENT_TYPE || names[i].id == SIP_HDR_CONTENT_LENGTH)
			continue;
		off += (size_t)snprintf(msg + off, sizeof(msg) - off, "%c: c%zu\r\n",
					i % 2 ? names[i].compact : names[i].compact - 32, i);
	}
	off += (size_t)snprintf(msg + off, sizeof(msg) - off, "L: 0\r\n\r\n");
	cr_assert_eq(sip_msg_parse(&m, msg, off, hdrs, NHDRS, DGRAM, &err), (int)off, "%s",
		     err.reason);
	for (size_t i = 0; i < NNAMES; i++) {
		const struct sip_hdr *h = sip_msg_hdr(&m, names[i].id);
		char want[48];

		cr_assert_not_null(h, "%s", names[i].name);
		cr_assert_eq(h->id, names[i].id);
		if (names[i].id == SIP_HDR_CONTENT_LENGTH) {
			cr_assert_str(h->name, "L");
			continue;
		}
		cr_assert_str(h->name, names[i].name);
		if (names[i].id != SIP_HDR_CSEQ) {
			snprintf(want, sizeof(want), "v%zu", i);
			cr_assert_str(h->value, want);
		}
		if (names[i].compact && m.count[names[i].id] == 2) {
			const struct sip_hdr *c = sip_msg_hdr_next(&m, h);
			snprintf(want, sizeof(want), "c%zu", i);
			cr_assert_not_null(c);
			cr_assert_str(c->value, want);
			cr_assert_eq(c->name.len, 1);
			cr_assert_null(sip_msg_hdr_next(&m, c));
		}
	}
	cr_assert_eq(m.count[SIP_HDR_OTHER], 0);
}

Test(sip_hdr_names, methods)
{
	static const struct {
		const char *s;
		enum sip_method id;
	} ms[] = {
		{"REGISTER", SIP_METHOD_REGISTER}, {"INVITE", SIP_METHOD_INVITE},
		{"ACK", SIP_METHOD_ACK},           {"BYE", SIP_METHOD_BYE},
		{"CANCEL", SIP_METHOD_CANCEL},     {"OPTIONS", SIP_METHOD_OPTIONS},
		{"INFO", SIP_METHOD_INFO},         {"UPDATE", SIP_METHOD_UPDATE},
		{"PRACK", SIP_METHOD_PRACK},       {"SUBSCRIBE", SIP_METHOD_SUBSCRIBE},
		{"NOTIFY", SIP_METHOD_NOTIFY},     {"PUBLISH", SIP_METHOD_PUBLISH},
		{"MESSAGE", SIP_METHOD_MESSAGE},   {"REFER", SIP_METHOD_REFER},
	};

	for (size_t i = 0; i < sizeof(ms) / sizeof(ms[0]); i++) {
		size_t n = strlen(ms[i].s);
		char low[16];

		cr_assert_eq(sip_method_lookup(ms[i].s, n), ms[i].id, "%s", ms[i].s);
		cr_assert_str_eq(sip_method_name(ms[i].id), ms[i].s);
		/* RFC 3261 §7.1: the method is case-sensitive */
		for (size_t k = 0; k < n; k++)
			low[k] = (char)(ms[i].s[k] | 0x20);
		cr_assert_eq(sip_method_lookup(low, n), SIP_METHOD_OTHER, "%.*s", (int)n, low);
		cr_assert_eq(sip_method_lookup(ms[i].s, n - 1), SIP_METHOD_OTHER);
	}
	cr_assert_eq(sip_method_lookup("NEWMETHOD", 9), SIP_METHOD_OTHER);
	cr_assert_eq(sip_method_lookup("", 0), SIP_METHOD_OTHER);
	cr_assert_null(sip_method_name(SIP_METHOD_OTHER));
	cr_assert_null(sip_method_name((enum sip_method)99));
}

/* ------------------------------------------------------------------------ */
/* Folding, LWS, chains                                                      */

/* RFC 3261 §7.3.1 and RFC 4475 §3.1.1.1 (wsinv): folded values stay one slice */
Test(sip_msg, folding_and_lws)
{
	static const char in[] = "INVITE sip:a@b SIP/2.0\r\n"
				 "TO :\r\n sip:vivekg@example.com ;   tag    = 1918181833n\r\n"
				 "from   : \"J R \\\\\\\"\"       <sip:j@example.com>\r\n"
				 "  ;\r\n  tag = 98asjd8\r\n"
				 "MaX-fOrWaRdS: 0068\r\n"
				 "Call-ID: wsinv.ndaksdj@192.0.2.1\r\n"
				 "Content-Length   : 3\r\n"
				 "cseq: 0009\r\n  INVITE\r\n"
				 "Via  : SIP  /   2.0\r\n /UDP\r\n    192.0.2.2;branch=390skdjuw\r\n"
				 "s :\r\n"
				 "NewFangledHeader:   newfangled value\r\n continued newfangled value\r\n"
				 "v:  SIP  / 2.0  / TCP     spindle.example.com   ;\r\n"
				 "  branch  =   z9hG4bK9ikj8  ,\r\n"
				 " SIP  /    2.0   / UDP  192.168.255.111   ; branch=\r\n"
				 " z9hG4bK30239\r\n"
				 "Subject:\t\r\n\t\r\n"
				 "\r\nabc";
	struct sip_msg m;
	struct sip_err err = {0};
	const struct sip_hdr *h;

	cr_assert_eq(parse(&m, in, DGRAM, &err), (int)strlen(in), "%s", err.reason);
	h = sip_msg_hdr(&m, SIP_HDR_TO);
	cr_assert_str(h->value, "sip:vivekg@example.com ;   tag    = 1918181833n");
	cr_assert_str(h->name, "TO");
	h = sip_msg_hdr(&m, SIP_HDR_FROM);
	cr_assert_str(h->value, "\"J R \\\\\\\"\"       <sip:j@example.com>\r\n  ;\r\n  tag = 98asjd8");
	cr_assert_eq(m.cseq.num, 9);
	cr_assert_str(m.cseq.method, "INVITE");
	cr_assert_eq(m.content_length, 3);
	cr_assert_str(m.body, "abc");
	cr_assert_eq(m.count[SIP_HDR_VIA], 2);
	h = sip_msg_hdr(&m, SIP_HDR_VIA);
	cr_assert_str(h->value, "SIP  /   2.0\r\n /UDP\r\n    192.0.2.2;branch=390skdjuw");
	h = sip_msg_hdr_next(&m, h);
	cr_assert_str(h->name, "v");
	cr_assert_eq(h->value.p[h->value.len - 1], '9');
	cr_assert_eq(m.count[SIP_HDR_SUBJECT], 2);
	h = sip_msg_hdr(&m, SIP_HDR_SUBJECT);
	cr_assert_eq(h->value.len, 0, "'s :' has an empty value");
	cr_assert_not_null(h->value.p);
	cr_assert_eq(sip_msg_hdr_next(&m, h)->value.len, 0, "a folded empty value");
	h = sip_msg_hdr_by_name(&m, SIP_STR("newfangledheader"));
	cr_assert_not_null(h);
	cr_assert_str(h->value, "newfangled value\r\n continued newfangled value");
	cr_assert_eq(sip_msg_hdr_by_name(&m, SIP_STR("S")), sip_msg_hdr(&m, SIP_HDR_SUBJECT));
	cr_assert_eq(sip_msg_hdr_by_name(&m, SIP_STR("Max-Forwards")),
		     sip_msg_hdr(&m, SIP_HDR_MAX_FORWARDS));
	cr_assert_null(sip_msg_hdr_by_name(&m, SIP_STR("NewFangled")));
	cr_assert_eq(sip_msg_validate(&m, &err), 0, "%s", err.reason);
	/* the helpers see three Via values in two lines and fold-aware bodies */
	struct sip_via vias[4];
	cr_assert_eq(sip_msg_vias(&m, vias, 4, &err), 3, "%s", err.reason);
	cr_assert_str(vias[0].host, "192.0.2.2");
	cr_assert_str(vias[1].transport, "TCP");
	cr_assert_str(vias[2].branch, "z9hG4bK30239");
	cr_assert_eq(sip_msg_vias(&m, vias, 2, &err), -E2BIG);
	struct sip_nameaddr na;
	cr_assert_eq(sip_msg_from(&m, &na, &err), 0, "%s", err.reason);
	cr_assert_str(na.tag, "98asjd8");
	cr_assert_eq(sip_msg_to(&m, &na, &err), 0, "%s", err.reason);
	cr_assert_str(na.tag, "1918181833n");
	uint32_t mf;
	cr_assert_eq(sip_msg_u32(&m, SIP_HDR_MAX_FORWARDS, &mf, &err), 0);
	cr_assert_eq(mf, 68);
}

/* RFC 3261 §7.3: the order of header lines is kept; next chains by id */
Test(sip_msg, chains_and_counts)
{
	char in[16384];
	size_t off = 0;
	struct sip_msg m;
	struct sip_err err = {0};

	off += (size_t)snprintf(in, sizeof(in), "OPTIONS sip:a@b SIP/2.0\r\n");
	for (int i = 0; i < 300; i++)
		off += (size_t)snprintf(in + off, sizeof(in) - off, "%s: %d\r\n",
					i % 3 == 0 ? "Via" : i % 3 == 1 ? "X-Other" : "Route", i);
	off += (size_t)snprintf(in + off, sizeof(in) - off, "\r\n");
	cr_assert_eq(sip_msg_parse(&m, in, off, hdrs, NHDRS, DGRAM, &err), -E2BIG);
	cr_assert_str_eq(err.reason, "Too many headers");

	static struct sip_hdr big[400];
	cr_assert_eq(sip_msg_parse(&m, in, off, big, 400, DGRAM, &err), (int)off, "%s",
		     err.reason);
	cr_assert_eq(m.nhdrs, 300);
	cr_assert_eq(m.count[SIP_HDR_VIA], 100);
	cr_assert_eq(m.count[SIP_HDR_OTHER], 100);
	int expect = 0;
	for (const struct sip_hdr *h = sip_msg_hdr(&m, SIP_HDR_VIA); h;
	     h = sip_msg_hdr_next(&m, h), expect += 3) {
		char want[16];
		snprintf(want, sizeof(want), "%d", expect);
		cr_assert_str(h->value, want);
	}
	cr_assert_eq(expect, 300);
	cr_assert_str(sip_msg_hdr_by_name(&m, SIP_STR("x-other"))->value, "1");
	cr_assert_null(sip_msg_hdr_by_name(&m, SIP_STR("X-Othe")));

	/* count saturates at 255 */
	static struct sip_hdr many[600];
	off = (size_t)snprintf(in, sizeof(in), "OPTIONS sip:a@b SIP/2.0\r\n");
	for (int i = 0; i < 500; i++)
		off += (size_t)snprintf(in + off, sizeof(in) - off, "v: h%d\r\n", i);
	off += (size_t)snprintf(in + off, sizeof(in) - off, "\r\n");
	cr_assert_eq(sip_msg_parse(&m, in, off, many, 600, DGRAM, &err), (int)off);
	cr_assert_eq(m.count[SIP_HDR_VIA], 255);
	int n = 0;
	for (const struct sip_hdr *h = sip_msg_hdr(&m, SIP_HDR_VIA); h; h = sip_msg_hdr_next(&m, h))
		n++;
	cr_assert_eq(n, 500);
}

/* Line ends and control bytes at every offset around the 64-byte blocks */
Test(sip_msg, block_boundaries)
{
	char in[1024];
	struct sip_msg m;
	struct sip_err err = {0};

	for (size_t pad = 0; pad < 200; pad++) {
		size_t off = (size_t)snprintf(in, sizeof(in), "OPTIONS sip:a@b SIP/2.0\r\nX-Pad: ");
		memset(in + off, 'a', pad);
		off += pad;
		off += (size_t)snprintf(in + off, sizeof(in) - off,
					"\r\n\tfold\r\nCall-ID: c\r\nl: 2\r\n\r\nzz");
		cr_assert_eq(sip_msg_parse(&m, in, off, hdrs, NHDRS, DGRAM, &err), (int)off,
			     "pad %zu: %s", pad, err.reason);
		cr_assert_eq(m.nhdrs, 3);
		cr_assert_eq(hdrs[0].value.len, pad ? pad + 7 : 4, "pad %zu: %zu", pad,
			     hdrs[0].value.len);
		cr_assert_str(m.call_id, "c");
		cr_assert_str(m.body, "zz");
		cr_assert_eq(sip_msg_parse(&m, in, off, hdrs, NHDRS, STREAM, &err), (int)off);
		/* a stray control byte at the same spot is found */
		if (pad) {
			in[off - 32] = 0x01; /* the last 'a' */
			cr_assert_eq(sip_msg_parse(&m, in, off, hdrs, NHDRS, DGRAM, &err),
				     -EBADMSG, "pad %zu", pad);
			cr_assert_eq(err.off, off - 32, "pad %zu: off %zu", pad, err.off);
		}
	}
}

/* ------------------------------------------------------------------------ */
/* The fast split (msg.c, AVX2) against the general one                      */

static bool same_str(struct sip_str a, struct sip_str b)
{
	return a.p == b.p && a.len == b.len;
}

/* sip_msg_parse and sip_msg_parse_general agree on everything for [in, len):
 * the result, the error and every field and header slot. Returns the result. */
static int split_agrees(const char *in, size_t len, unsigned flags)
{
	static struct sip_hdr h1[NHDRS], h2[NHDRS];
	struct sip_msg m1, m2;
	struct sip_err e1 = {0}, e2 = {0};
	int n1 = sip_msg_parse(&m1, in, len, h1, NHDRS, flags, &e1);
	int n2 = sip_msg_parse_general(&m2, in, len, h2, NHDRS, flags, &e2);

	cr_assert_eq(n1, n2, "len %zu flags %u: %d vs %d (%s)", len, flags, n1, n2,
		     e2.reason ? e2.reason : "");
	if (n1 < 0) {
		cr_assert_eq(e1.reason, e2.reason, "len %zu: %s vs %s", len, e1.reason, e2.reason);
		cr_assert_eq(e1.off, e2.off);
		return n1;
	}
	cr_assert(m1.is_request == m2.is_request && m1.method_id == m2.method_id);
	cr_assert(same_str(m1.method, m2.method) && same_str(m1.ruri, m2.ruri));
	cr_assert(m1.status == m2.status && same_str(m1.reason, m2.reason));
	cr_assert_eq(m1.nhdrs, m2.nhdrs);
	cr_assert(memcmp(m1.first, m2.first, sizeof(m1.first)) == 0);
	cr_assert(memcmp(m1.count, m2.count, sizeof(m1.count)) == 0);
	cr_assert(same_str(m1.call_id, m2.call_id) && m1.has_cseq == m2.has_cseq);
	if (m1.has_cseq)
		cr_assert(m1.cseq.num == m2.cseq.num && same_str(m1.cseq.method, m2.cseq.method) &&
			  m1.cseq.method_id == m2.cseq.method_id);
	cr_assert(m1.has_content_length == m2.has_content_length &&
		  m1.content_length == m2.content_length);
	cr_assert(same_str(m1.body, m2.body) && m1.len == m2.len);
	for (unsigned i = 0; i < m1.nhdrs; i++)
		cr_assert(same_str(h1[i].name, h2[i].name) && same_str(h1[i].value, h2[i].value) &&
				  h1[i].id == h2[i].id && h1[i].next == h2[i].next,
			  "header %u", i);
	return n1;
}

/*
 * Every one-byte change of a few messages (each byte replaced by SP, HTAB,
 * CR, LF, a control byte, ':', DEL, a non-ASCII byte or a letter; deleted;
 * doubled), every truncation, and the messages shifted across the 64-byte
 * blocks, in all four modes: the fast split either hands the message to the
 * general code or gives exactly its result.
 */
Test(sip_msg, fast_split_matches_general, .timeout = 300)
{
	static const char *const base[] = {
		reg,
		"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\r\nFrom: <sip:a@b>;tag=1\r\n"
		"To: <sip:a@b>;tag=2\r\nCall-ID: c@d\r\nCSeq: 7 REGISTER\r\n"
		"Contact: <sip:a@192.0.2.1>;expires=60\r\nContact: <sip:a@[2001:db8::1]>\r\n"
		"Content-Length: 4\r\n\r\nbody",
		"OPTIONS sip:a@b SIP/2.0\r\nv: SIP/2.0/TCP h\r\nf: <sip:x@y>;tag=a\r\nt: sip:x@y\r\n"
		"i: 1\r\nCSeq: 2 OPTIONS\r\nX-Custom: y\r\nl: 0\r\n\r\n",
		"INFO sip:a SIP/2.0\r\n\r\n",
		"SIP/2.0 100 Trying\r\nl:0\r\n\r\n",
	};
	static const char subst[] = {' ', '\t', '\r', '\n', 0x01, ':', 0x7f, (char)0xc3, 'a', 0};
	static const unsigned modes[] = {DGRAM, DGRAM | SIP_PARSE_LF, STREAM,
					 STREAM | SIP_PARSE_LF};
	static char buf[4096];
	size_t ok = 0;

	for (size_t b = 0; b < sizeof(base) / sizeof(base[0]); b++) {
		size_t len = strlen(base[b]);

		for (size_t md = 0; md < 4; md++) {
			/* shifted by a padding header across block boundaries */
			for (size_t pad = 0; pad < 70; pad++) {
				const char *nl = strchr(base[b], '\n') + 1;
				size_t head = (size_t)(nl - base[b]), n = head;

				memcpy(buf, base[b], head);
				n += (size_t)sprintf(buf + n, "X-P: ");
				memset(buf + n, 'p', pad);
				n += pad;
				buf[n++] = '\r';
				buf[n++] = '\n';
				memcpy(buf + n, nl, len - head);
				n += len - head;
				ok += split_agrees(buf, n, modes[md]) > 0;
			}
			for (size_t k = 0; k <= len; k++)
				split_agrees(base[b], k, modes[md]);
			for (size_t i = 0; i < len; i++) {
				for (size_t s = 0; subst[s]; s++) {
					memcpy(buf, base[b], len);
					buf[i] = subst[s];
					split_agrees(buf, len, modes[md]);
				}
				memcpy(buf, base[b], i);
				memcpy(buf + i, base[b] + i + 1, len - i - 1);
				split_agrees(buf, len - 1, modes[md]);
				memcpy(buf, base[b], i + 1);
				memcpy(buf + i + 1, base[b] + i, len - i);
				split_agrees(buf, len + 1, modes[md]);
			}
		}
	}
	cr_assert_gt(ok, 0);
}

/* ------------------------------------------------------------------------ */
/* Streams: every strict prefix is -EAGAIN                                   */

static void check_prefixes(const char *in, size_t len, unsigned flags)
{
	struct sip_msg m;
	struct sip_err err = {0};
	int full = sip_msg_parse(&m, in, len, hdrs, NHDRS, STREAM | flags, &err);

	cr_assert_gt(full, 0, "%s", err.reason);
	for (size_t k = 0; k < (size_t)full; k++) {
		int r = sip_msg_parse(&m, in, k, hdrs, NHDRS, STREAM | flags, &err);
		cr_assert_eq(r, -EAGAIN, "prefix %zu of %d: %d (%s)", k, full, r,
			     r == -EAGAIN ? "" : err.reason);
	}
	for (size_t k = (size_t)full; k <= len; k++)
		cr_assert_eq(sip_msg_parse(&m, in, k, hdrs, NHDRS, STREAM | flags, &err), full);
}

Test(sip_msg, stream_prefixes)
{
	static const char two[] = "\r\nOPTIONS sip:a@b SIP/2.0\r\nl: 4\r\n\r\nbodyREGISTER";
	static const char lf[] = "OPTIONS sip:a@b SIP/2.0\nSubject: a\n b\nl: 1\n\nxyz";

	check_prefixes(reg, strlen(reg), 0);
	check_prefixes(two, strlen(two), 0);
	check_prefixes(lf, strlen(lf), SIP_PARSE_LF);
	struct sip_msg m;
	cr_assert_eq(sip_msg_parse(&m, two, strlen(two), hdrs, NHDRS, STREAM, NULL), 39);
	cr_assert_str(m.body, "body");
}

/* A stream buffer larger than SIP_MSG_MAX_LEN: only the first message counts */
Test(sip_msg, limits)
{
	size_t big = SIP_MSG_MAX_LEN + 100;
	char *in = malloc(big);
	struct sip_msg m;
	struct sip_err err = {0};
	int n = snprintf(in, big, "OPTIONS sip:a@b SIP/2.0\r\nl: 0\r\n\r\n");

	memset(in + n, 'x', big - (size_t)n);
	cr_assert_eq(sip_msg_parse(&m, in, big, hdrs, NHDRS, STREAM, &err), n);
	cr_assert_eq(sip_msg_parse(&m, in, big, hdrs, NHDRS, DGRAM, &err), -E2BIG);
	/* an unfinished header block longer than the limit */
	memset(in, 'x', big);
	memcpy(in, "OPTIONS sip:a@b SIP/2.0\r\nX: ", 28);
	cr_assert_eq(sip_msg_parse(&m, in, big, hdrs, NHDRS, STREAM, &err), -E2BIG);
	cr_assert_eq(sip_msg_parse(&m, in, 60000, hdrs, NHDRS, STREAM, &err), -EAGAIN);
	free(in);
	cr_assert_eq(sip_msg_parse(&m, reg, strlen(reg), hdrs, 3, DGRAM, &err), -E2BIG);
	cr_assert_eq(sip_msg_parse(&m, reg, strlen(reg), NULL, 0, DGRAM, &err), -E2BIG);
	cr_assert_eq(sip_msg_parse(&m, NULL, 5, hdrs, NHDRS, DGRAM, &err), -EINVAL);
	cr_assert_eq(sip_msg_parse(NULL, reg, 5, hdrs, NHDRS, DGRAM, &err), -EINVAL);
	/* err may be NULL */
	cr_assert_eq(sip_msg_parse(&m, "x\r\n\r\n", 5, hdrs, NHDRS, DGRAM, NULL), -EBADMSG);
}

/* RFC 3261 §18.3: datagram bodies */
Test(sip_msg, datagram_bodies)
{
	/* RFC 4475 §3.1.1.8 dblreq: octets after Content-Length are discarded */
	static const char dbl[] = "REGISTER sip:a SIP/2.0\r\nl: 0\r\n\r\nINVITE sip:b SIP/2.0\r\n";
	static const char nocl[] = "OPTIONS sip:a@b SIP/2.0\r\n\r\nrest of it";
	struct sip_msg m;

	cr_assert_eq(sip_msg_parse(&m, dbl, strlen(dbl), hdrs, NHDRS, DGRAM, NULL), 32);
	cr_assert_eq(m.body.len, 0);
	cr_assert_eq(m.len, 32);
	cr_assert_eq(sip_msg_parse(&m, nocl, strlen(nocl), hdrs, NHDRS, 0, NULL),
		     (int)strlen(nocl));
	cr_assert_str(m.body, "rest of it");
	cr_assert_not(m.has_content_length);
}

/* ------------------------------------------------------------------------ */
/* Validation, RFC 3261 §8.2                                                  */

static const struct {
	const char *rfc, *in, *reason;
} invalid[] = {
	{"RFC 4475 §3.3.1 insuf", "OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n"
	 "Max-Forwards: 70\r\nCSeq: 1 OPTIONS\r\nl: 0\r\n\r\n", "Missing From"},
	{"RFC 3261 §8.1.1 To", "OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nf: <sip:a@b>\r\n"
	 "i: x\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 1\r\n\r\n", "Missing To"},
	{"RFC 3261 §8.1.1 Call-ID", "OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nf: <sip:a@b>\r\n"
	 "t: <sip:a@b>\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 1\r\n\r\n", "Missing Call-ID"},
	{"RFC 3261 §8.1.1 CSeq", "OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nf: <sip:a@b>\r\n"
	 "t: <sip:a@b>\r\ni: x\r\nMax-Forwards: 1\r\n\r\n", "Missing CSeq"},
	{"RFC 3261 §8.1.1 Via", "OPTIONS sip:a@b SIP/2.0\r\nf: <sip:a@b>\r\n"
	 "t: <sip:a@b>\r\ni: x\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 1\r\n\r\n", "Missing Via"},
	{"RFC 3261 §8.1.1 Max-Forwards", "OPTIONS sip:a@b SIP/2.0\r\nv: SIP/2.0/UDP h\r\nf: <sip:a@b>\r\n"
	 "t: <sip:a@b>\r\ni: x\r\nCSeq: 1 OPTIONS\r\n\r\n", "Missing Max-Forwards"},
	{"RFC 3261 §20.22 Max-Forwards 0-255", "OPTIONS sip:a@b SIP/2.0\r\nv: SIP/2.0/UDP h\r\n"
	 "f: <sip:a@b>\r\nt: <sip:a@b>\r\ni: x\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 300\r\n\r\n",
	 "Max-Forwards"},
	{"RFC 4475 §3.1.2.17 mismatch01", "OPTIONS sip:a@b SIP/2.0\r\nv: SIP/2.0/UDP h\r\n"
	 "f: <sip:a@b>\r\nt: <sip:a@b>\r\ni: x\r\nCSeq: 8 INVITE\r\nMax-Forwards: 1\r\n\r\n",
	 "CSeq method"},
	{"RFC 4475 §3.1.2.18 mismatch02", "NEWMETHOD sip:a@b SIP/2.0\r\nv: SIP/2.0/UDP h\r\n"
	 "f: <sip:a@b>\r\nt: <sip:a@b>\r\ni: x\r\nCSeq: 8 INVITE\r\nMax-Forwards: 1\r\n\r\n",
	 "CSeq method"},
	{"RFC 3261 §7.1 method case", "OPTIONS sip:a@b SIP/2.0\r\nv: SIP/2.0/UDP h\r\n"
	 "f: <sip:a@b>\r\nt: <sip:a@b>\r\ni: x\r\nCSeq: 8 options\r\nMax-Forwards: 1\r\n\r\n",
	 "CSeq method"},
};

Test(sip_msg, validate)
{
	for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
		struct sip_msg m;
		struct sip_err err = {0};

		cr_assert_gt(parse(&m, invalid[i].in, DGRAM, &err), 0, "%s: %s", invalid[i].rfc,
			     err.reason);
		cr_assert_eq(sip_msg_validate(&m, &err), -EBADMSG, "%s", invalid[i].rfc);
		cr_assert(strstr(err.reason, invalid[i].reason), "%s: '%s'", invalid[i].rfc,
			  err.reason);
	}
}

/* ------------------------------------------------------------------------ */
/* Message-level helpers                                                     */

Test(sip_msg, contacts_and_u32)
{
	static const char ok[] = "REGISTER sip:r SIP/2.0\r\n"
				 "m: <sip:a@192.0.2.1>;expires=60, <sip:b@192.0.2.2>;q=0.5\r\n"
				 "Contact: \"C\" <sip:c@192.0.2.3>;+sip.instance=\"<urn:uuid:1>\";reg-id=1\r\n"
				 "Expires: 4294967296\r\nMin-Expires: x\r\nl: 0\r\n\r\n";
	static const char star[] = "REGISTER sip:r SIP/2.0\r\nContact: *\r\nExpires: 0\r\nl: 0\r\n\r\n";
	static const char mixed[] = "REGISTER sip:r SIP/2.0\r\nContact: *\r\nm: <sip:a@b>\r\nl: 0\r\n\r\n";
	static const char empty[] = "REGISTER sip:r SIP/2.0\r\nContact:\r\nRoute:\r\nl: 0\r\n\r\n";
	static const char routes[] = "REGISTER sip:r SIP/2.0\r\nRoute: <sip:p1;lr>, <sip:p2;lr>\r\n"
				     "Path: <sip:e@edge;lr>\r\nRoute: <sip:p3>\r\nl: 0\r\n\r\n";
	struct sip_msg m;
	struct sip_err err = {0};
	struct sip_contact c[4];
	struct sip_nameaddr na[4];
	uint32_t v = 1;

	cr_assert_gt(parse(&m, ok, DGRAM, &err), 0);
	cr_assert_eq(sip_msg_contacts(&m, c, 4, &err), 3, "%s", err.reason);
	cr_assert_str(c[0].na.uri.user, "a");
	cr_assert(c[0].has_expires);
	cr_assert_eq(c[0].expires, 60);
	cr_assert_eq(c[1].q, 500);
	cr_assert_str(c[2].instance, "<urn:uuid:1>");
	cr_assert_eq(c[2].reg_id, 1);
	cr_assert_eq(sip_msg_contacts(&m, c, 2, &err), -E2BIG);
	cr_assert_eq(sip_msg_u32(&m, SIP_HDR_EXPIRES, &v, &err), -ERANGE);
	cr_assert_str_eq(err.reason, "Bad Expires: value too large");
	cr_assert_eq(sip_msg_u32(&m, SIP_HDR_MIN_EXPIRES, &v, &err), -EBADMSG);
	cr_assert_str_eq(err.reason, "Bad Min-Expires: not a number");
	cr_assert_eq(v, 1);
	cr_assert_eq(sip_msg_from(&m, na, &err), -ENOENT);
	cr_assert_eq(sip_msg_to(&m, na, &err), -ENOENT);
	cr_assert_eq(sip_msg_vias(&m, NULL, 0, &err), 0);

	cr_assert_gt(parse(&m, star, DGRAM, &err), 0);
	cr_assert_eq(sip_msg_contacts(&m, c, 4, &err), 1, "%s", err.reason);
	cr_assert(c[0].star);
	cr_assert_gt(parse(&m, mixed, DGRAM, &err), 0);
	cr_assert_eq(sip_msg_contacts(&m, c, 4, &err), -EBADMSG);
	cr_assert(strstr(err.reason, "'*'"), "%s", err.reason);
	cr_assert_gt(parse(&m, empty, DGRAM, &err), 0);
	cr_assert_eq(sip_msg_contacts(&m, c, 4, &err), -EBADMSG);
	cr_assert_eq(sip_msg_nameaddrs(&m, SIP_HDR_ROUTE, na, 4, &err), -EBADMSG);

	cr_assert_gt(parse(&m, routes, DGRAM, &err), 0);
	cr_assert_eq(sip_msg_nameaddrs(&m, SIP_HDR_ROUTE, na, 4, &err), 3, "%s", err.reason);
	cr_assert_str(na[0].uri.host, "p1");
	cr_assert(na[1].uri.lr);
	cr_assert_str(na[2].uri.host, "p3");
	cr_assert_eq(sip_msg_nameaddrs(&m, SIP_HDR_ROUTE, na, 2, &err), -E2BIG);
	cr_assert_eq(sip_msg_nameaddrs(&m, SIP_HDR_PATH, na, 4, &err), 1);
	cr_assert_eq(sip_msg_nameaddrs(&m, SIP_HDR_RECORD_ROUTE, na, 4, &err), 0);
}

/* Errors of the body parsers come back with offsets in the message */
Test(sip_msg, helper_error_offsets)
{
	static const char in[] = "REGISTER sip:r SIP/2.0\r\n"
				 "Via: SIP/2.0/UDP a;branch=z9hG4bK1, SIP/2.0/UDP b;branch=z9hG4bK2\r\n"
				 "Via: SIP/2.0/UDP c;;\r\n"
				 "From: Bell, Alexander <sip:a@b>;tag=1\r\n"
				 "Contact: <sip:a@b>, <sip:c@d>;q=x\r\n"
				 "Route: <sip:p1;lr>, sip:p2 sip:p3\r\n"
				 "l: 0\r\n\r\n";
	struct sip_msg m;
	struct sip_err err = {0};
	struct sip_via v[4];
	struct sip_contact c[4];
	struct sip_nameaddr na[4];
	const char *line;

	cr_assert_gt(parse(&m, in, DGRAM, &err), 0);
	cr_assert_eq(sip_msg_vias(&m, v, 4, &err), -EBADMSG);
	line = strstr(in, "Via: SIP/2.0/UDP c");
	cr_assert(err.off >= (size_t)(line - in) && err.off < (size_t)(line - in) + 21,
		  "Via error at %zu, line at %td: %s", err.off, line - in, err.reason);
	cr_assert_eq(sip_msg_from(&m, na, &err), -EBADMSG);
	line = strstr(in, "From:");
	cr_assert(err.off >= (size_t)(line - in) && err.off < (size_t)(line - in) + 38,
		  "From error at %zu: %s", err.off, err.reason);
	cr_assert_eq(sip_msg_contacts(&m, c, 4, &err), -EBADMSG);
	line = strstr(in, "<sip:c@d>");
	cr_assert(err.off >= (size_t)(line - in) && err.off < (size_t)(line - in) + 14,
		  "Contact error at %zu: %s", err.off, err.reason);
	cr_assert_eq(sip_msg_nameaddrs(&m, SIP_HDR_ROUTE, na, 4, &err), -EBADMSG);
	line = strstr(in, "sip:p2");
	cr_assert(err.off >= (size_t)(line - in) && err.off < (size_t)(line - in) + 14,
		  "Route error at %zu: %s", err.off, err.reason);
}

/* ------------------------------------------------------------------------ */
/* Random well-formed messages against what was generated                    */

static uint32_t rnd_state = 12345;

static uint32_t rnd(uint32_t n)
{
	rnd_state = rnd_state * 1103515245u + 12345u;
	return (rnd_state >> 8) % n;
}

struct gen_hdr {
	size_t name_off, name_len, val_off, val_len;
	enum sip_hdr_id id;
};

static bool is_lws_c(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* RFC 3261 §7.3: names in any case and form, LWS around ':', folded values */
Test(sip_msg, random_messages)
{
	static char in[16384];
	static struct gen_hdr g[64];
	static const char vchars[] = "abcXYZ019;=,:<>@\"\\/.-_~!%*+`'?[]{}()&#$^|\xc3\xa9";

	for (int iter = 0; iter < 3000; iter++) {
		size_t off = 0, nh = 0;
		bool used[SIP_HDR__COUNT] = {false};
		uint32_t nhdr = rnd(30);

		off += (size_t)snprintf(in, sizeof(in), rnd(2) ? "REGISTER sip:r.example.com SIP/2.0\r\n"
							       : "SIP/2.0 200 OK\r\n");
		for (uint32_t k = 0; k < nhdr; k++) {
			struct gen_hdr *h = &g[nh];
			size_t pick = rnd(NNAMES + 4);
			const char *name;
			char nbuf[32];

			if (pick >= NNAMES) {
				snprintf(nbuf, sizeof(nbuf), "X-%c%u", "aZ9-"[rnd(4)], rnd(1000));
				name = nbuf;
				h->id = SIP_HDR_OTHER;
			} else {
				h->id = names[pick].id;
				/* the split parses these three: keep them out */
				if (h->id == SIP_HDR_CALL_ID || h->id == SIP_HDR_CSEQ ||
				    h->id == SIP_HDR_CONTENT_LENGTH || used[h->id])
					continue;
				if (names[pick].compact && rnd(2)) {
					nbuf[0] = names[pick].compact;
					nbuf[1] = '\0';
				} else {
					snprintf(nbuf, sizeof(nbuf), "%s", names[pick].name);
				}
				for (char *c = nbuf; *c; c++)
					if (rnd(3) == 0 && ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z')))
						*c ^= 0x20;
				name = nbuf;
				/* singletons once; list headers may repeat */
				if (h->id == SIP_HDR_FROM || h->id == SIP_HDR_TO ||
				    h->id == SIP_HDR_MAX_FORWARDS || h->id == SIP_HDR_CONTENT_TYPE ||
				    h->id == SIP_HDR_EXPIRES || h->id == SIP_HDR_MIN_EXPIRES ||
				    h->id == SIP_HDR_DATE || h->id == SIP_HDR_RETRY_AFTER)
					used[h->id] = true;
			}
			h->name_off = off;
			h->name_len = strlen(name);
			memcpy(in + off, name, h->name_len);
			off += h->name_len;
			for (uint32_t w = rnd(3); w; w--)
				in[off++] = rnd(2) ? ' ' : '\t';
			in[off++] = ':';
			size_t vstart = off;
			for (uint32_t w = rnd(3); w; w--)
				in[off++] = rnd(2) ? ' ' : '\t';
			uint32_t words = rnd(6);
			for (uint32_t w = 0; w < words; w++) {
				uint32_t len = 1 + rnd(40);
				for (uint32_t c = 0; c < len; c++)
					in[off++] = vchars[rnd(sizeof(vchars) - 1)];
				if (in[off - 1] == '\\') /* no quoted-pair of the line end */
					in[off - 1] = 'q';
				switch (rnd(5)) {
				case 0:
					memcpy(in + off, "\r\n ", 3);
					off += 3;
					break;
				case 1:
					memcpy(in + off, "\r\n\t\t", 4);
					off += 4;
					break;
				default:
					in[off++] = rnd(4) ? ' ' : '\t';
				}
			}
			/* the slice the split should give: trimmed of LWS */
			size_t a = vstart, b = off;
			while (a < b && is_lws_c(in[a]))
				a++;
			while (b > a && is_lws_c(in[b - 1]))
				b--;
			h->val_off = a;
			h->val_len = b - a;
			memcpy(in + off, "\r\n", 2);
			off += 2;
			nh++;
		}
		uint32_t blen = rnd(100);
		off += (size_t)snprintf(in + off, sizeof(in) - off, "%s: %u\r\n\r\n",
					rnd(2) ? "Content-Length" : "l", blen);
		for (uint32_t c = 0; c < blen; c++)
			in[off++] = (char)rnd(256);

		for (int mode = 0; mode < 3; mode++) {
			struct sip_msg m;
			struct sip_err err = {0};
			unsigned fl = mode == 0 ? DGRAM : mode == 1 ? STREAM : DGRAM | SIP_PARSE_LF;
			int r = sip_msg_parse(&m, in, off, hdrs, NHDRS, fl, &err);

			cr_assert_eq(r, (int)off, "iter %d mode %d: %d %s at %zu\n%.*s", iter, mode, r,
				     err.reason ? err.reason : "", err.off, (int)off, in);
			cr_assert_eq(m.nhdrs, nh + 1);
			for (size_t k = 0; k < nh; k++) {
				cr_assert_eq(hdrs[k].name.p, in + g[k].name_off, "iter %d hdr %zu", iter, k);
				cr_assert_eq(hdrs[k].name.len, g[k].name_len);
				cr_assert_eq(hdrs[k].id, g[k].id, "iter %d hdr %zu '%.*s'", iter, k,
					     (int)g[k].name_len, in + g[k].name_off);
				cr_assert_eq(hdrs[k].value.p - in, (ptrdiff_t)g[k].val_off,
					     "iter %d hdr %zu", iter, k);
				cr_assert_eq(hdrs[k].value.len, g[k].val_len, "iter %d hdr %zu", iter, k);
			}
			cr_assert_eq(m.content_length, blen);
			cr_assert_eq(m.body.p, in + off - blen);
		}
		/* a few of them: every strict prefix waits on a stream */
		if (iter % 100 == 0)
			check_prefixes(in, off, 0);
	}
}

/* ------------------------------------------------------------------------ */
/* Guard page: no read past the end, whatever the input                      */

static void guard_check(const char *in, size_t len)
{
	struct guard_page g;
	char *p = guard_page_new(&g, len) - len;
	static const unsigned modes[] = {DGRAM, STREAM, DGRAM | SIP_PARSE_LF,
					 STREAM | SIP_PARSE_LF};

	memcpy(p, in, len);
	guard_page_readonly(&g); /* a write would fault as well */
	for (size_t k = 0; k <= len; k++) {
		for (size_t i = 0; i < 4; i++) {
			struct sip_msg m;
			struct sip_err err = {0};
			int r = sip_msg_parse(&m, p + len - k, k, hdrs, NHDRS, modes[i], &err);
			if (r < 0 && r != -EAGAIN)
				cr_assert_not_null(err.reason);
			if (r > 0)
				(void)sip_msg_validate(&m, &err);
		}
	}
	guard_page_free(&g);
}

Test(sip_msg, guard_page_vectors)
{
	guard_check(reg, strlen(reg));
	for (size_t i = 0; i < sizeof(vecs) / sizeof(vecs[0]); i++)
		guard_check(vecs[i].in, strlen(vecs[i].in));
	for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++)
		guard_check(invalid[i].in, strlen(invalid[i].in));
}

static size_t guard_corpus_dir(const char *root, const char *sub)
{
	char dir[4096];
	size_t n = 0;
	DIR *d;
	struct dirent *e;

	snprintf(dir, sizeof(dir), "%s/%s", root, sub);
	d = opendir(dir);
	if (!d)
		return 0;
	while ((e = readdir(d))) {
		char path[8192];
		size_t l = strlen(e->d_name);
		if (l < 4 || (strcmp(e->d_name + l - 4, ".dat") && strcmp(e->d_name + l - 4, ".sip")))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		FILE *f = fopen(path, "rb");
		cr_assert_not_null(f, "%s", path);
		static char buf[SIP_MSG_MAX_LEN + 1];
		size_t len = fread(buf, 1, sizeof(buf), f);
		fclose(f);
		guard_check(buf, len);
		n++;
	}
	closedir(d);
	return n;
}

/* Every corpus file (and every truncation of it) before a PROT_NONE page */
Test(sip_msg, guard_page_corpus, .timeout = 600)
{
	const char *root = getenv("SIPREG_CORPUS");
	size_t n = 0;

	if (!root)
		cr_skip_test("SIPREG_CORPUS is not set: corpus guard-page test NOT run");
	n += guard_corpus_dir(root, "rfc4475");
	n += guard_corpus_dir(root, "rfc5118");
	n += guard_corpus_dir(root, "real");
	if (n == 0)
		cr_skip_test("no corpus file under %s: corpus guard-page test NOT run", root);
	cr_log_info("guard-page checked %zu corpus files", n);
}
