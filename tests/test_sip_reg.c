/* SPDX-License-Identifier: MIT */
/*
 * Tests of the registration view (sip_reg_parse, src/sip/msg.c): its fields
 * on a usual REGISTER, and field by field against the existing functions
 * (sip_msg_parse, sip_uri_parse, sip_msg_vias, sip_msg_from, sip_msg_to,
 * sip_msg_contacts, sip_auth_parse, sip_msg_u32; src/sip/reg_check.h) on the
 * whole corpus, on every one-byte change, deletion, insertion and truncation
 * of registration messages, on generated REGISTERs that vary every parameter
 * the one pass recognises, and on bad arguments; every truncation of those
 * messages and of the corpus files is also parsed with its last byte right
 * before a PROT_NONE page (the one pass reads ahead in 8- and 16-byte loads).
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sipreg/sip.h"
#include "support/guard_page.h"
#include "support/sip_assert.h"
#include "sip/reg_check.h"

#define DGRAM SIP_PARSE_DATAGRAM
#define STREAM SIP_PARSE_STREAM

static const char reg[] =
	"REGISTER sip:example.com SIP/2.0\r\n"
	"Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK776asdhds;rport\r\n"
	"Max-Forwards: 70\r\n"
	"From: <sip:alice@example.com>;tag=1928301774\r\n"
	"To: <sip:alice@example.com>\r\n"
	"Call-ID: a84b4c76e66710\r\n"
	"CSeq: 1826 REGISTER\r\n"
	"Contact: <sip:alice@192.0.2.10:5060>;expires=3600"
	";+sip.instance=\"<urn:uuid:00000000-0000-1000-8000-000A95A0E128>\";reg-id=1\r\n"
	"Authorization: Digest username=\"alice\", realm=\"example.com\", "
	"nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", uri=\"sip:example.com\", "
	"response=\"6629fae49393a05397450978507c4ef1\", algorithm=MD5, "
	"cnonce=\"0a4f113b\", qop=auth, nc=00000001\r\n"
	"Expires: 3600\r\n"
	"User-Agent: baresip v2.0.0\r\n"
	"Content-Length: 0\r\n"
	"\r\n";

static const char *const bases[] = {
	reg,
	/* two Contacts on two lines, a second Via, an unknown header */
	"REGISTER sip:r.example.org SIP/2.0\r\n"
	"Via: SIP/2.0/TCP [2001:db8::1]:5070;branch=z9hG4bKa;received=198.51.100.1\r\n"
	"Via: SIP/2.0/UDP h.example.org;branch=z9hG4bKb\r\n"
	"Max-Forwards: 69\r\n"
	"From: \"Bob\" <sips:bob@r.example.org>;tag=x\r\n"
	"To: sip:bob@r.example.org\r\n"
	"Call-ID: c1@h\r\n"
	"CSeq: 2 REGISTER\r\n"
	"Contact: <sip:bob@192.0.2.4;transport=tcp>;q=0.7;expires=60, <sip:bob@h2>\r\n"
	"Contact: <sip:bob@[2001:db8::2]:5062>;reg-id=2;+sip.instance=\"<urn:x>\"\r\n"
	"X-Thing: y\r\n"
	"Content-Length: 4\r\n\r\nbody",
	/* compact forms, no Authorization, Contact star */
	"REGISTER sip:r SIP/2.0\r\nv: SIP/2.0/UDP h;branch=z9hG4bKx;rport=5060\r\n"
	"f: <sip:a@r>;tag=1\r\nt: <sip:a@r>\r\ni: c\r\nCSeq: 3 REGISTER\r\nm: *\r\n"
	"Expires: 0\r\nMax-Forwards: 70\r\nl: 0\r\n\r\n",
	/* a response */
	"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKx;rport=5060;received=192.0.2.9\r\n"
	"From: <sip:a@b>;tag=1\r\nTo: <sip:a@b>;tag=2\r\nCall-ID: c@d\r\nCSeq: 7 REGISTER\r\n"
	"Contact: <sip:a@192.0.2.1>;expires=60\r\nContact: <sip:a@[2001:db8::1]>\r\n"
	"Content-Length: 0\r\n\r\n",
	/* two Authorization headers, an unknown Digest param */
	"REGISTER sip:r SIP/2.0\r\nVia: SIP/2.0/UDP h:5060;branch=z9hG4bKx\r\n"
	"Max-Forwards: 70\r\nFrom: <sip:a@r>;tag=1\r\nTo: <sip:a@r>\r\nCall-ID: c\r\n"
	"CSeq: 4 REGISTER\r\nContact: <sip:a@h>\r\n"
	"Authorization: Digest username=\"a\", realm=\"r\", nonce=\"n\", uri=\"sip:r\", "
	"response=\"00\", opaque=\"o\", x=y\r\n"
	"Authorization: Digest username=\"a\", realm=\"s\", nonce=\"m\", uri=\"sip:r\", "
	"response=\"11\"\r\n"
	"Content-Length: 0\r\n\r\n",
};

static void check(const char *in, size_t len, unsigned flags, size_t ccap, int *rcp)
{
	const char *why = sip_reg_check(in, len, flags, ccap, rcp);

	cr_assert_null(why, "%s (len %zu, flags %u, ccap %zu): %.*s", why, len, flags, ccap,
		       (int)(len > 200 ? 200 : len), in);
}

/* Every prefix of [in, in + len) ending right before a PROT_NONE page, in
 * four modes: no read past the end, and the same results as the existing
 * functions. */
static void guard_prefixes(const char *in, size_t len)
{
	static const unsigned modes[] = {DGRAM, STREAM, DGRAM | SIP_PARSE_LF,
					 STREAM | SIP_PARSE_LF};
	struct guard_page g;
	char *end = guard_page_new(&g, len);
	int rc;

	for (size_t k = 0; k <= len; k++) {
		memcpy(end - k, in, k);
		for (size_t i = 0; i < 4; i++)
			check(end - k, k, modes[i], i & 1 ? 1 : 8, &rc);
	}
	guard_page_free(&g);
}

Test(sip_reg, guard_page_prefixes)
{
	for (size_t b = 0; b < sizeof(bases) / sizeof(bases[0]); b++)
		guard_prefixes(bases[b], strlen(bases[b]));
}

Test(sip_reg, register_fields)
{
	struct sip_hdr hdrs[32];
	struct sip_contact ct[4];
	struct sip_reg r;
	struct sip_err err;
	int n = sip_reg_parse(&r, reg, strlen(reg), hdrs, 32, ct, 4, DGRAM, &err);

	cr_assert_eq(n, (int)strlen(reg));
	cr_assert(r.msg.is_request && r.msg.method_id == SIP_METHOD_REGISTER);
	cr_assert_eq(r.ruri_rc, 0);
	cr_assert_str(r.ruri.host, "example.com");
	cr_assert_eq(r.via_rc, 1);
	cr_assert_str(r.via.transport, "UDP");
	cr_assert_str(r.via.host, "192.0.2.10");
	cr_assert_eq(r.via.port, 5060);
	cr_assert_str(r.via.branch, "z9hG4bK776asdhds");
	cr_assert_eq(r.via.rport, 0);
	cr_assert_eq(r.from_rc, 0);
	cr_assert_str(r.from.tag, "1928301774");
	cr_assert_str(r.from.uri.user, "alice");
	cr_assert_eq(r.to_rc, 0);
	cr_assert(!sip_str_isset(r.to.tag));
	cr_assert_str(r.msg.call_id, "a84b4c76e66710");
	cr_assert_eq(r.msg.cseq.num, 1826);
	cr_assert_eq(r.ncontacts, 1);
	cr_assert(r.contacts == ct && r.ccap == 4);
	cr_assert_str(ct[0].na.uri.host, "192.0.2.10");
	cr_assert(ct[0].has_expires && ct[0].expires == 3600);
	cr_assert(ct[0].has_reg_id && ct[0].reg_id == 1);
	cr_assert_str(ct[0].instance, "<urn:uuid:00000000-0000-1000-8000-000A95A0E128>");
	cr_assert_eq(r.auth_rc, 0);
	cr_assert_str(r.auth.username, "alice");
	cr_assert_str(r.auth.realm, "example.com");
	cr_assert_str(r.auth.nonce, "dcd98b7102dd2f0e8b11d0f600bfb0c093");
	cr_assert_str(r.auth.uri, "sip:example.com");
	cr_assert_str(r.auth.response, "6629fae49393a05397450978507c4ef1");
	cr_assert_str(r.auth.cnonce, "0a4f113b");
	cr_assert_str(r.auth.qop, "auth");
	cr_assert(r.auth.has_nc && r.auth.nc_val == 1 && r.auth.alg == SIP_DIGEST_MD5);
	cr_assert(r.expires_rc == 0 && r.expires == 3600);
	cr_assert(r.max_forwards_rc == 0 && r.max_forwards == 70);
	cr_assert_eq(sip_msg_validate(&r.msg, &err), 0);
	/* the message-level helpers work on r.msg */
	cr_assert_not_null(sip_msg_hdr(&r.msg, SIP_HDR_USER_AGENT));
}

Test(sip_reg, field_failures_are_per_field)
{
	static const char bad_contact[] =
		"REGISTER sip:r SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\r\n"
		"Max-Forwards: 70\r\nFrom: <sip:a@r>;tag=1\r\nTo: <sip:a@r>\r\nCall-ID: c\r\n"
		"CSeq: 4 REGISTER\r\nContact: <sip:a@h>;expires=x1\r\n"
		"Authorization: Digest nc=123\r\nExpires: 99999999999\r\n\r\n";
	struct sip_hdr hdrs[32];
	struct sip_contact ct[4];
	struct sip_reg r;
	struct sip_err err;
	int n = sip_reg_parse(&r, bad_contact, strlen(bad_contact), hdrs, 32, ct, 4, DGRAM, &err);

	cr_assert_gt(n, 0);
	cr_assert_eq(r.ncontacts, -EBADMSG);
	cr_assert_str_eq(r.contacts_err.reason, "Bad Contact: bad expires");
	cr_assert_eq(r.auth_rc, -EBADMSG);
	cr_assert_eq(r.expires_rc, -ERANGE);
	cr_assert_eq(r.via_rc, 1);
	cr_assert_eq(r.from_rc, 0);
	cr_assert_eq(r.max_forwards_rc, 0);
	check(bad_contact, strlen(bad_contact), DGRAM, 4, &n);
}

/* valid_rc is sip_msg_validate's verdict: 0 on the usual REGISTER, its
 * error (reason and offset) on a message it refuses. */
Test(sip_reg, valid_rc_is_validate)
{
	static const char *const in[] = {
		/* no Max-Forwards */
		"REGISTER sip:r SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\r\n"
		"From: <sip:a@r>;tag=1\r\nTo: <sip:a@r>\r\nCall-ID: c\r\n"
		"CSeq: 4 REGISTER\r\nContent-Length: 0\r\n\r\n",
		/* Max-Forwards 256 */
		"REGISTER sip:r SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\r\n"
		"Max-Forwards: 256\r\nFrom: <sip:a@r>;tag=1\r\nTo: <sip:a@r>\r\n"
		"Call-ID: c\r\nCSeq: 4 REGISTER\r\nContent-Length: 0\r\n\r\n",
		/* CSeq method not the request's */
		"REGISTER sip:r SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\r\n"
		"Max-Forwards: 70\r\nFrom: <sip:a@r>;tag=1\r\nTo: <sip:a@r>\r\n"
		"Call-ID: c\r\nCSeq: 4 INVITE\r\nContent-Length: 0\r\n\r\n",
		/* no Call-ID */
		"REGISTER sip:r SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\r\n"
		"Max-Forwards: 70\r\nFrom: <sip:a@r>;tag=1\r\nTo: <sip:a@r>\r\n"
		"CSeq: 4 REGISTER\r\nContent-Length: 0\r\n\r\n",
	};
	static const char *const why[] = {
		"Missing Max-Forwards header",
		"Bad Max-Forwards: not a number 0-255",
		"CSeq method does not match the request method",
		"Missing Call-ID header",
	};
	struct sip_hdr hdrs[32];
	struct sip_contact ct[4];
	struct sip_reg r;
	struct sip_err err;
	int n = sip_reg_parse(&r, reg, sizeof(reg) - 1, hdrs, 32, ct, 4, DGRAM, &err);

	cr_assert_eq(n, (int)sizeof(reg) - 1);
	cr_assert_eq(r.valid_rc, 0);
	cr_assert_null(r.valid_err.reason);
	for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		size_t len = strlen(in[i]);
		struct sip_err e = {0};

		n = sip_reg_parse(&r, in[i], len, hdrs, 32, ct, 4, DGRAM, &err);
		cr_assert_eq(n, (int)len, "input %zu", i);
		cr_assert_eq(r.valid_rc, -EBADMSG, "input %zu", i);
		cr_assert_str_eq(r.valid_err.reason, why[i], "input %zu", i);
		cr_assert_eq(sip_msg_validate(&r.msg, &e), -EBADMSG);
		cr_assert_eq(r.valid_err.off, e.off, "input %zu", i);
		check(in[i], len, DGRAM, 4, &n);
	}
}

Test(sip_reg, bad_arguments)
{
	struct sip_hdr hdrs[4];
	struct sip_contact ct[1];
	struct sip_reg r;
	struct sip_err err;

	cr_assert_eq(sip_reg_parse(NULL, reg, strlen(reg), hdrs, 4, ct, 1, DGRAM, &err), -EINVAL);
	cr_assert_str_eq(err.reason, "Bad arguments");
	cr_assert_eq(sip_reg_parse(&r, reg, strlen(reg), hdrs, 4, NULL, 1, DGRAM, &err), -EINVAL);
	cr_assert_eq(sip_reg_parse(&r, NULL, 5, hdrs, 4, ct, 1, DGRAM, &err), -EINVAL);
	cr_assert_eq(sip_reg_parse(&r, reg, strlen(reg), NULL, 4, ct, 1, DGRAM, &err), -EINVAL);
	/* too few header slots: -E2BIG as sip_msg_parse */
	cr_assert_eq(sip_reg_parse(&r, reg, strlen(reg), hdrs, 4, ct, 1, DGRAM, &err), -E2BIG);
	/* no Contact slot: the message parses, its Contact is one too many */
	{
		struct sip_hdr big[32];

		cr_assert_eq(sip_reg_parse(&r, reg, strlen(reg), big, 32, ct, 0, DGRAM, &err),
			     (int)strlen(reg));
		cr_assert_eq(r.ncontacts, -E2BIG);
		cr_assert_str_eq(r.contacts_err.reason, "Too many Contact values");
	}
}

/*
 * Every one-byte change (SP, HTAB, CR, LF, a control byte, ':', ';', ',',
 * '"', '<', '>', '=', '\\', DEL, a non-ASCII byte, a letter, a digit),
 * deletion, insertion and truncation of the base messages, in four modes and
 * with 8 and 1 Contact slots: the view equals the existing functions.
 */
Test(sip_reg, mutations_match_existing, .timeout = 600)
{
	static const char subst[] = {' ', '\t', '\r', '\n', 0x01, ':', ';', ',', '"', '<', '>',
				     '=', '\\', 0x7f, (char)0xc3, 'a', '7', 0};
	static const unsigned modes[] = {DGRAM, DGRAM | SIP_PARSE_LF, STREAM,
					 STREAM | SIP_PARSE_LF};
	static char buf[4096];
	size_t ok = 0, total = 0;
	int rc;

	for (size_t b = 0; b < sizeof(bases) / sizeof(bases[0]); b++) {
		size_t len = strlen(bases[b]);

		for (size_t md = 0; md < 4; md++) {
			size_t ccap = md & 1 ? 1 : 8;

			check(bases[b], len, modes[md], ccap, &rc);
			cr_assert_gt(rc, 0, "base %zu mode %zu", b, md);
			for (size_t k = 0; k < len; k++)
				check(bases[b], k, modes[md], ccap, &rc);
			for (size_t i = 0; i < len; i++) {
				for (size_t s = 0; subst[s]; s++) {
					memcpy(buf, bases[b], len);
					buf[i] = subst[s];
					check(buf, len, modes[md], ccap, &rc);
					ok += rc > 0;
					total++;
				}
				memcpy(buf, bases[b], i);
				memcpy(buf + i, bases[b] + i + 1, len - i - 1);
				check(buf, len - 1, modes[md], ccap, &rc);
				memcpy(buf, bases[b], i + 1);
				memcpy(buf + i + 1, bases[b] + i, len - i);
				check(buf, len + 1, modes[md], ccap, &rc);
				total += 2;
			}
		}
	}
	cr_assert_gt(ok, 0);
	cr_log_info("sip_reg: %zu mutations, %zu parsed", total, ok);
}

static uint32_t rnd_state = 4711;

static uint32_t rnd(uint32_t n)
{
	rnd_state = rnd_state * 1103515245u + 12345u;
	return (rnd_state >> 8) % n;
}

static const char *pick(const char *const *v, size_t n)
{
	return v[rnd((uint32_t)n)];
}

#define PICK(v) pick(v, sizeof(v) / sizeof(v[0]))

/*
 * Generated REGISTERs: each part drawn from usual and unusual forms (names in
 * any case and compact, hosts, ports, every Via / Contact / From / To / Digest
 * parameter, LWS, duplicates, escapes, bad values).
 */
Test(sip_reg, generated_registers_match_existing, .timeout = 600)
{
	static const char *const vias[] = {
		"Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK776;rport",
		"Via: SIP/2.0/TCP host.example.com;branch=z9hG4bKa;received=192.0.2.1;rport=5062",
		"v: SIP/2.0/UDP [2001:db8::9]:5060;branch=z9hG4bKb;maddr=1.2.3.4;ttl=3",
		"VIA: sip / 2.0 / udp h ; branch = z9hG4bKc",
		"Via: SIP/2.0/UDP h;branch=z9hG4bKd, SIP/2.0/UDP g;branch=z9hG4bKe",
		"Via: SIP/2.0/UDP h;rport=0;branch=x",
		"Via: SIP/2.0/UDP h:99999;branch=x",
		"Via: SIP/2.0/WSS a.b;branch=z9hG4bKf;received=[2001:db8::1]",
		"Via: SIP/2.0/UDP h;branch=a;branch=b",
	};
	static const char *const froms[] = {
		"From: <sip:alice@example.com>;tag=1928301774",
		"From: \"Alice A\" <sip:alice@example.com;transport=tcp>;tag=ab;x=y",
		"f: sip:alice@example.com;tag=1",
		"From: Alice <sip:al%41ce@example.com>;tag=1",
		"From: <sip:alice@example.com>;tag=1;tag=2",
		"From: <tel:+15551234>;tag=9",
		"From: \"a\\\"b\" <sip:a@b>;tag=q",
	};
	static const char *const tos[] = {
		"To: <sip:alice@example.com>",
		"t: <sip:alice@example.com>;tag=zz",
		"To: sip:alice@example.com",
		"To: <sip:alice@exa mple.com>",
		"To: <sips:alice:pw@example.com:5061>",
	};
	static const char *const contacts[] = {
		"Contact: <sip:alice@192.0.2.10:5060>;expires=3600"
		";+sip.instance=\"<urn:uuid:00000000-0000-1000-8000-000A95A0E128>\";reg-id=1",
		"Contact: <sip:alice@192.0.2.10:5060;ob>;q=0.5;expires=60",
		"m: <sip:a@h>, <sip:b@h>;expires=0",
		"Contact: *",
		"Contact: <sip:a@h>;expires=99999999999",
		"Contact: <sip:a@h>;reg-id=0",
		"Contact: <sip:a@h>;q=1.5",
		"Contact: \"A\" <sip:a@h>;EXPIRES=10;Reg-Id=3",
		"Contact: <sip:a@h>;expires=1;expires=2",
		"Contact: <sip:a@h>\r\nContact: <sip:b@h>;expires=5",
		"Contact: sip:a@h;expires=7",
	};
	static const char *const auths[] = {
		"Authorization: Digest username=\"alice\", realm=\"example.com\", "
		"nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", uri=\"sip:example.com\", "
		"response=\"6629fae49393a05397450978507c4ef1\", algorithm=MD5, "
		"cnonce=\"0a4f113b\", qop=auth, nc=00000001",
		"Authorization: Digest username=\"a\",realm=\"r\",nonce=\"n\",uri=\"sip:r\","
		"response=\"x\",algorithm=SHA-256,opaque=\"o\"",
		"Authorization: Digest username = \"a\" , nc=0000000g",
		"Authorization: Digest username=\"a\\\"b\", realm=\"r\"",
		"Authorization: Digest username=\"a\", username=\"b\"",
		"Authorization: Bearer token=abc",
		"Authorization: Digest",
		"Authorization: Digest username=\"a\", realm=\"r\", foo=bar, userhash=true",
		"",
	};
	static const char *const others[] = {
		"Expires: 3600\r\nMax-Forwards: 70",
		"Max-Forwards: 70",
		"Expires: x\r\nMax-Forwards: 70",
		"Expires: 3600\r\nMax-Forwards: 4294967296",
		"Expires:3600\r\nmax-forwards:  70",
		"EXPIRES: 0\r\nMAX-FORWARDS: 0\r\nUser-Agent: x",
	};
	static const char *const ruris[] = {
		"sip:example.com", "sip:alice@example.com:5060;transport=udp", "sips:[2001:db8::1]",
		"tel:+1555", "sip:exa%2mple.com", "sip:a@b?x=y",
	};
	static char buf[4096];
	size_t ok = 0;
	int rc;

	for (int i = 0; i < 20000; i++) {
		int n = snprintf(buf, sizeof(buf),
				 "REGISTER %s SIP/2.0\r\n%s\r\n%s\r\n%s\r\nCall-ID: c%d@h\r\n"
				 "CSeq: %d REGISTER\r\n%s\r\n%s%s%s\r\nContent-Length: 0\r\n\r\n",
				 PICK(ruris), PICK(vias), PICK(froms), PICK(tos), i, i,
				 PICK(contacts), PICK(auths), rnd(2) ? "\r\n" : "", PICK(others));
		const char *a = strstr(buf, "\r\n\r\n\r\n");

		cr_assert(n > 0 && (size_t)n < sizeof(buf));
		if (a) /* an empty Authorization choice left an empty line */
			continue;
		check(buf, (size_t)n, i & 1 ? STREAM : DGRAM, i % 3 ? 8 : 1, &rc);
		ok += rc > 0;
	}
	cr_assert_gt(ok, 1000);
	cr_log_info("sip_reg: %zu generated REGISTERs parsed", ok);
}

/*
 * The one pass reuses a host it scanned for a later one with the same bytes
 * (the Request-URI's domain in From and To, the Via's address in Contact):
 * look-alike hosts in every pair of places (a prefix, one byte longer, a
 * changed byte, another case, a trailing dot or dash, a bad IPv4, 14 to 16
 * bytes, IPv6), each compared with the existing functions.
 */
Test(sip_reg, repeated_hosts_match_existing, .timeout = 600)
{
	static const char *const hosts[] = {
		"example.com",	   "example.co",      "example.com.",	 "example.comm",
		"example.com-",	   "exAmple.com",     "example..com",	 "example.cam",
		"192.0.2.10",	   "192.0.2.1",	      "192.0.2.100",	 "192.0.2.10.",
		"192.0.2.256",	   "192.0.2.19",      "1und1.de",	 "a",
		"abcdefghijklmn",  "abcdefghijklmno", "abcdefghijklmnop", "[2001:db8::1]",
		"-a.b",		   "1.2.3",
	};
	static char buf[2048];
	size_t n = sizeof(hosts) / sizeof(hosts[0]), ok = 0;
	int rc;

	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < n; j++) {
			for (int form = 0; form < 4; form++) {
				const char *a = hosts[i], *b = hosts[j];
				int len = snprintf(
					buf, sizeof(buf),
					"REGISTER sip:%s SIP/2.0\r\n"
					"Via: SIP/2.0/UDP %s%s;branch=z9hG4bK776;rport\r\n"
					"Max-Forwards: 70\r\n"
					"From: <sip:alice@%s>;tag=1928301774\r\n"
					"To: <sip:alice@%s%s>\r\n"
					"Call-ID: a84b4c76e66710\r\n"
					"CSeq: 1826 REGISTER\r\n"
					"Contact: <sip:alice@%s%s>;expires=3600\r\n"
					"Content-Length: 0\r\n\r\n",
					form & 1 ? b : a, form & 1 ? a : b, form & 2 ? ":5060" : "",
					form & 1 ? a : b, b, form & 2 ? ";lr" : "", form & 1 ? b : a,
					form & 2 ? "" : ":5062");

				cr_assert(len > 0 && (size_t)len < sizeof(buf));
				check(buf, (size_t)len, form & 2 ? STREAM : DGRAM, 8, &rc);
				ok += rc > 0;
			}
		}
	}
	cr_assert_gt(ok, 1000);
}

/*
 * Each credential parameter in its usual form and in the forms the one
 * pass leaves to sip_auth_parse (a token where a quoted-string is usual and
 * the other way round, a longer or shorter nc, algorithm variants, empty
 * values, escapes), at the start, the middle and the end of the value,
 * compared with the existing functions.
 */
Test(sip_reg, auth_forms_match_existing, .timeout = 600)
{
	static const char *const params[] = {
		"username=\"alice\"", "username=alice", "username=\"\"", "USERNAME=\"a\\\"b\"",
		"realm=\"example.com\"", "realm=example.com", "nonce=\"dcd98b7102dd2f0e8b\"",
		"nonce=\"\"", "uri=\"sip:example.com\"", "uri=sip:example.com",
		"response=\"6629fae49393a05397450978507c4ef1\"", "cnonce=\"0a4f113b\"",
		"opaque=\"\"", "opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"", "qop=auth",
		"qop=\"auth\"", "qop=auth-int", "QOP=Auth", "qop=", "nc=00000001", "nc=0000000A",
		"nc=0000001", "nc=000000001", "nc=0000000g", "nc=00000001x", "nc=\"00000001\"",
		"algorithm=MD5", "algorithm=md5", "algorithm=MD5-sess", "algorithm=MD5x",
		"algorithm=SHA-256", "algorithm=sha-256", "algorithm=SHA-256-sess",
		"algorithm=\"MD5\"", "algorithm=SHA-512-256", "algorithm=MD", "Algorithm=MD5",
		"stale=true", "x=y", "realm=\"r\\\\\"",
	};
	static char buf[2048];
	size_t n = sizeof(params) / sizeof(params[0]), ok = 0;
	int rc;

	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < n; j++) {
			for (int form = 0; form < 3; form++) {
				char val[512];

				if (form == 0)
					snprintf(val, sizeof(val), "%s, %s", params[i], params[j]);
				else if (form == 1)
					snprintf(val, sizeof(val),
						 "username=\"a\", %s, realm=\"r\", %s, nonce=\"n\"",
						 params[i], params[j]);
				else
					snprintf(val, sizeof(val), "%s, cnonce=\"c\", %s", params[i],
						 params[j]);
				int len = snprintf(buf, sizeof(buf),
						   "REGISTER sip:example.com SIP/2.0\r\n"
						   "Via: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bK776\r\n"
						   "Max-Forwards: 70\r\n"
						   "From: <sip:alice@example.com>;tag=1\r\n"
						   "To: <sip:alice@example.com>\r\n"
						   "Call-ID: a84b4c76e66710\r\n"
						   "CSeq: 1826 REGISTER\r\n"
						   "Authorization: Digest %s\r\n"
						   "Content-Length: 0\r\n\r\n",
						   val);

				cr_assert(len > 0 && (size_t)len < sizeof(buf));
				check(buf, (size_t)len, DGRAM, 8, &rc);
				ok += rc > 0;
			}
		}
	}
	cr_assert_gt(ok, 1000);
}

static size_t corpus_dir(const char *root, const char *sub)
{
	static char buf[SIP_MSG_MAX_LEN + 1];
	char dir[4096];
	size_t n = 0;
	DIR *d;
	struct dirent *e;
	int rc;

	snprintf(dir, sizeof(dir), "%s/%s", root, sub);
	d = opendir(dir);
	if (!d)
		return 0;
	while ((e = readdir(d))) {
		char path[8192];
		size_t l = strlen(e->d_name), len;
		FILE *f;

		if (l < 4 || (strcmp(e->d_name + l - 4, ".dat") && strcmp(e->d_name + l - 4, ".sip")))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		f = fopen(path, "rb");
		cr_assert_not_null(f, "%s", path);
		len = fread(buf, 1, sizeof(buf), f);
		fclose(f);
		for (unsigned md = 0; md < 4; md++) {
			unsigned flags = (md & 1 ? STREAM : DGRAM) | (md & 2 ? SIP_PARSE_LF : 0);
			const char *why = sip_reg_check(buf, len, flags, md & 1 ? 1 : 8, &rc);

			cr_assert_null(why, "%s: %s (flags %u)", path, why, flags);
			/* and every truncation */
			for (size_t k = 0; k < len && md == 0; k++) {
				why = sip_reg_check(buf, k, flags, 8, &rc);
				cr_assert_null(why, "%s cut at %zu: %s", path, k, why);
			}
		}
		guard_prefixes(buf, len);
		n++;
	}
	closedir(d);
	return n;
}

/* Every corpus file, in four modes, and every truncation of it. */
Test(sip_reg, corpus_matches_existing, .timeout = 600)
{
	const char *root = getenv("SIPREG_CORPUS");
	size_t n = 0;

	if (!root)
		cr_skip_test("SIPREG_CORPUS is not set: the sip_reg corpus test was NOT run");
	n += corpus_dir(root, "rfc4475");
	n += corpus_dir(root, "rfc5118");
	n += corpus_dir(root, "real");
	if (n == 0)
		cr_skip_test("no corpus file under %s: the sip_reg corpus test was NOT run", root);
	cr_log_info("sip_reg: %zu corpus files checked", n);
}

/*
 * The line walk and the name dispatch (split_reg: CRs from the block masks,
 * stray control bytes counted, a line's first byte through a label table,
 * the usual names by word compares): one odd line, placed after a padding
 * header of 0 to 70 bytes so that it, its name and its line end start at
 * every offset of a 32- and a 64-byte block, and placed last, before the
 * empty line; in four modes against the existing functions. For some of
 * the paddings, every prefix ends right before a PROT_NONE page (a message
 * ending inside a block, a CR in its last byte).
 */
Test(sip_reg, line_walk_and_names_match_existing, .timeout = 600)
{
	static const struct {
		const char *s;
		size_t n;
	} lines[] = {
#define L(x) {x, sizeof(x) - 1}
		/* look-alike, any-case and compact names */
		L("Via: SIP/2.0/UDP h.example.com;branch=z9hG4bKq"), L("VIA: SIP/2.0/UDP h;branch=z9hG4bKq"),
		L("vIa: SIP/2.0/UDP h"), L("v: SIP/2.0/UDP h;rport"), L("Vias: x"), L("Vi: x"),
		L("Via : SIP/2.0/UDP h"), L("Via:SIP/2.0/UDP h"), L("Via:  SIP/2.0/UDP h"), L("Via:"),
		L("Via: "), L("Fromm: <sip:a@b>"), L("FROM-x: y"), L("f: <sip:a@b>;tag=2"),
		L("T: <sip:a@b>"), L("Tox: y"), L("Cseq2: 1 REGISTER"), L("CSEQQ: 1"),
		L("Call-IDs: x"), L("Call-Id: x"), L("call-id:x"), L("I: x"),
		L("Contactx: <sip:a@b>"), L("CONTACT: <sip:b@192.0.2.7>;expires=5"),
		L("m: <sip:c@h>"), L("M: *"), L("Contact-Length: 0"), L("Content-Lengt: 0"),
		L("Content-Length-X: 0"), L("content-length: 0"), L("l: 0"), L("Expire: 1"),
		L("Expiresx: 1"), L("EXPIRES: 7"), L("e: gzip"), L("Max-Forward: 1"),
		L("Max-Forwardss: 1"), L("max-forwards: 10"), L("Authorizatio: x"),
		L("Authorizationx: Digest username=\"a\""),
		L("AUTHORIZATION: Digest username=\"b\", realm=\"r\", nonce=\"n\", uri=\"sip:r\", "
		  "response=\"00\""),
		L("User-Agen: x"), L("User-Agent-X: x"), L("user-agent:x"), L("U: x"), L("A: x"),
		L("c: text/plain"), L("X: y"), L("x-y: z"), L("Route: <sip:p>"), L("WWW-Authenticate: x"),
		/* a usual name with an empty value (the name's word compare alone
		 * takes the line; fast_slot refuses it), or one byte */
		L("From: "), L("To: "), L("CSeq: "), L("Call-ID: "), L("Contact: "),
		L("Content-Length: "), L("Expires: "), L("Max-Forwards: "), L("Authorization: "),
		L("User-Agent: "), L("Via: x"), L("To: x"), L("Call-ID: x"), L("Expires: 1"),
		L("Content-Length: 0"), L("Max-Forwards: 0"), L("User-Agent: x"), L("Contact: x"),
		/* the C names by their second byte's bit 2, in any case, and
		 * names with the other second byte */
		L("cOnTaCt: <sip:a@b>"), L("CONTENT-LENGTH: 0"), L("CALL-ID: x"), L("cSEQ: 1 REGISTER"),
		L("Coll-ID: x"), L("Csntact: x"), L("Caseq: 1"), L("Cseq-Length: 0"), L("Co: x"),
		/* no name, folds, control bytes */
		L(": novalue"), L(" folded continuation"), L("\tfolded"), L("Subject: a\r\n b"),
		L("X-Cr: a\rb"), L("X-Lf: a\nb"), L("X-Nul: a\0b"), L("X-Del: a\x7f"), L("X-Ctl: \x01"),
		L("X-Crcr: a\r\r"), L("\r"), L("X-End: v\r\n\r"), L("Via\0: x"), L("Vi\ra: x"),
		/* a usual name's first word, short enough to end the input within
		 * 16 bytes of its start when placed last (the name's second word
		 * would be read past the end) */
		L("Content-"), L("Content-Len"), L("Authoriz"), L("Max-Forw"), L("User-Age"),
		L("Expires"), L("Call-ID"), L("Contact:"), L("CSeq"),
#undef L
	};
	static const char start[] = "REGISTER sip:example.com SIP/2.0\r\n";
	static const char pre[] = "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK776asdhds;rport\r\n"
				  "Max-Forwards: 70\r\n"
				  "From: <sip:alice@example.com>;tag=1928301774\r\n";
	static const char post[] =
		"To: <sip:alice@example.com>\r\n"
		"Call-ID: a84b4c76e66710\r\n"
		"CSeq: 1826 REGISTER\r\n"
		"Contact: <sip:alice@192.0.2.10:5060>;expires=3600;reg-id=1\r\n"
		"Authorization: Digest username=\"alice\", realm=\"example.com\", "
		"nonce=\"dcd98b\", uri=\"sip:example.com\", response=\"6629fae4\", "
		"algorithm=MD5, cnonce=\"0a4f113b\", qop=auth, nc=00000001\r\n"
		"Expires: 3600\r\n"
		"Content-Length: 0\r\n";
	static const unsigned modes[] = {DGRAM, STREAM, DGRAM | SIP_PARSE_LF,
					 STREAM | SIP_PARSE_LF};
	static char buf[4096];
	size_t nl = sizeof(lines) / sizeof(lines[0]), ok = 0, total = 0;
	int rc;

	for (size_t i = 0; i < nl; i++) {
		for (size_t pad = 0; pad <= 70; pad++) {
			for (int last = 0; last < 2; last++) {
				size_t len = 0;

#define PUT(p, n)                                         \
	do {                                              \
		memcpy(buf + len, (p), (n));              \
		len += (n);                               \
	} while (0)
				PUT(start, sizeof(start) - 1);
				PUT("X-Pad: ", 7);
				memset(buf + len, 'a', pad);
				len += pad;
				PUT("x\r\n", 3);
				PUT(pre, sizeof(pre) - 1);
				if (!last) {
					PUT(lines[i].s, lines[i].n);
					PUT("\r\n", 2);
				}
				PUT(post, sizeof(post) - 1);
				if (last) {
					PUT(lines[i].s, lines[i].n);
					PUT("\r\n", 2);
				}
				PUT("\r\n", 2);
#undef PUT
				for (size_t md = 0; md < 4; md++) {
					check(buf, len, modes[md], md & 1 ? 1 : 8, &rc);
					ok += rc > 0;
					total++;
				}
				if (pad % 23 == 0 || pad == 31 || pad == 32 || pad == 63)
					guard_prefixes(buf, len);
			}
		}
	}
	/* most of the lines are accepted, with or without the fast path */
	cr_assert_gt(ok, total / 2, "%zu of %zu accepted", ok, total);
}

/*
 * The REGISTER start line (split_reg takes "REGISTER " URI " SIP/2.0" by
 * rs_uri alone when it accepts the URI whole, without the scan for the
 * URI's end): URIs rs_uri takes, URIs it leaves to the general way, bytes no
 * URI holds, SP and HTAB inside, other versions and methods; the rest of the
 * message the usual REGISTER, against the existing functions (reg_check.h),
 * the start line short enough to be near the buffer's end (prefixes before a
 * PROT_NONE page).
 */
Test(sip_reg, start_lines_match_existing, .timeout = 600)
{
	static const char *const uris[] = {
		"sip:example.com", "SIP:example.com", "sip:a@example.com", "sip:a@b.c:5060",
		"sip:192.0.2.1", "sip:192.0.2.1:65535", "sip:192.0.2.1:65536", "sip:[2001:db8::1]",
		"sip:[2001:db8::1]:5060", "sip:h;lr", "sip:h;transport=tcp;maddr=x",
		"sip:u%41@h", "sip:u:pw@h", "sip:h?X=1", "sips:h", "tel:+1", "sip:", "sip:@h",
		"sip:a\"b", "sip:a<b", "sip:a>b", "sip:a\x7f", "sip:a\xc3\xa9", "sip:a b",
		"sip:a\tb", "sip:h:0", "sip:h:", "sip:-h", "sip:h.", "sip:h;p=\"q\"", "s",
		"sip:h;%", "sip:h;a=%4", "sip:h;a=%41", "sip:x@", "sip:h:5060x",
	};
	static const char *const heads[][2] = {
		{"REGISTER ", " SIP/2.0"}, {"REGISTER ", " sip/2.0"}, {"REGISTER ", " SIP/2.1"},
		{"REGISTER  ", " SIP/2.0"}, {"REGISTER ", "  SIP/2.0"}, {"REGISTER ", " SIP/2.0 "},
		{"register ", " SIP/2.0"}, {"OPTIONS ", " SIP/2.0"}, {"REGISTER\t", " SIP/2.0"},
		{"REGISTER ", "\tSIP/2.0"}, {"REGISTER ", " SIP/2.00"}, {"REGISTER ", "SIP/2.0"},
	};
	static const char rest[] =
		"Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK776asdhds;rport\r\n"
		"Max-Forwards: 70\r\nFrom: <sip:alice@example.com>;tag=1928301774\r\n"
		"To: <sip:alice@example.com>\r\nCall-ID: a84b4c76e66710\r\n"
		"CSeq: 1826 REGISTER\r\nContact: <sip:alice@192.0.2.10:5060>;expires=3600\r\n"
		"Content-Length: 0\r\n\r\n";
	static const unsigned modes[] = {DGRAM, STREAM, DGRAM | SIP_PARSE_LF,
					 STREAM | SIP_PARSE_LF};
	static char buf[1024];
	size_t ok = 0, total = 0, fast = 0;
	int rc;

	for (size_t u = 0; u < sizeof(uris) / sizeof(uris[0]); u++) {
		for (size_t h = 0; h < sizeof(heads) / sizeof(heads[0]); h++) {
			int n = snprintf(buf, sizeof(buf), "%s%s%s\r\n%s", heads[h][0], uris[u],
					 heads[h][1], rest);
			size_t len = (size_t)n, sl = strcspn(buf, "\r") + 2;

			for (size_t md = 0; md < 4; md++) {
				check(buf, len, modes[md], md & 1 ? 1 : 8, &rc);
				ok += rc > 0;
				total++;
			}
			fast += h == 0 && rc > 0;
			/* the start line alone, then cut inside it */
			guard_prefixes(buf, sl);
		}
	}
	cr_assert_gt(fast, 10, "%zu of the usual start lines accepted", fast);
	cr_assert_lt(ok, total, "every start line accepted");
}

/*
 * The Via's host by rs_ipv4 (a host starting with a digit, tried as IPv4
 * first): dotted quads at the limits, too few or many dots, runs of four
 * digits, values above 255 in every place, leading, trailing and double
 * dots, a letter, "_" or "-" after the digits (a name or a bad one), 16
 * bytes or more, IPv6; followed by a port, a parameter or the value's end;
 * against the existing functions (reg_check.h).
 */
Test(sip_reg, via_hosts_match_existing, .timeout = 600)
{
	static const char *const hosts[] = {
		"192.0.2.10", "0.0.0.0", "255.255.255.255", "1.2.3.4", "123.123.123.123",
		"249.250.251.252", "256.1.1.1", "1.256.1.1", "1.1.256.1", "1.1.1.256", "260.1.1.1",
		"300.1.1.1", "1.1.1.255", "1.1.1.199", "1.1.1.205", "1.1.1.250", "1.1.1.259",
		"1234.1.1.1", "1.1.1.1234", "1.2.3", "1.2.3.4.5", "1..2.3", "1.2.3.4.", "1.2..3",
		"01.2.3.4", "1.2.3.4a", "1.2.3.4-x", "1.2.3.4_", "1a.2.3.4", "1-2.3.4.5",
		"12345", "1", "123.123.123.1234", "123.123.123.12.1", "1.2.3.4x.example.com",
		"9.example.com", "[2001:db8::1]", "1.2.3.4%", "1.2.3.4/", "1.2.3.4]", "1.2.3.4,",
	};
	static const char *const after[] = {":5060;branch=z9hG4bKa;rport", ";branch=z9hG4bKa",
					    "", ":65535", ":0", ";rport", ":5060"};
	static const unsigned modes[] = {DGRAM, STREAM};
	static char buf[1024];
	size_t ok = 0, total = 0;
	int rc;

	for (size_t h = 0; h < sizeof(hosts) / sizeof(hosts[0]); h++) {
		for (size_t a = 0; a < sizeof(after) / sizeof(after[0]); a++) {
			int n = snprintf(buf, sizeof(buf),
					 "REGISTER sip:example.com SIP/2.0\r\n"
					 "Via: SIP/2.0/UDP %s%s\r\n"
					 "Max-Forwards: 70\r\nFrom: <sip:a@example.com>;tag=1\r\n"
					 "To: <sip:a@example.com>\r\nCall-ID: c\r\nCSeq: 1 REGISTER\r\n"
					 "Contact: <sip:a@%s>\r\nContent-Length: 0\r\n\r\n",
					 hosts[h], after[a], hosts[h]);

			for (size_t md = 0; md < 2; md++) {
				check(buf, (size_t)n, modes[md], 8, &rc);
				ok += rc > 0;
				total++;
			}
		}
	}
	cr_assert_gt(ok, 0);
	cr_log_info("sip_reg: %zu Via hosts, %zu parsed", total, ok);
}

/*
 * The small numbers (num4: Max-Forwards, Expires, the CSeq number, the Via
 * and Contact ports, Contact expires and reg-id, rport) and the Call-ID's
 * one-load SP test: every value below in every place, the rest of the
 * message the usual REGISTER, against the existing functions (reg_check.h),
 * and the CSeq number against sip_cseq_parse on the header's value (the
 * general split shares split_value's CSeq path with the one pass, so the
 * checker alone would not see a wrong number there). The last 24 bytes'
 * prefixes end before a PROT_NONE page, the value's header placed last.
 */
static void check_cseq(const char *in, size_t len)
{
	struct sip_hdr hdrs[32];
	struct sip_contact ct[8];
	struct sip_reg r;
	struct sip_cseq c;
	const char *v = strstr(in, "\r\nCSeq: ");
	int rc = sip_reg_parse(&r, in, len, hdrs, 32, ct, 8, DGRAM, NULL), crc;
	size_t n;

	cr_assert_not_null(v);
	v += 8;
	n = (size_t)(strstr(v, "\r\n") - v);
	crc = sip_cseq_parse(&c, sip_str_make(v, n), NULL);
	if (crc < 0) {
		cr_assert_lt(rc, 0, "CSeq %.*s: sip_cseq_parse %d, sip_reg_parse %d", (int)n, v,
			     crc, rc);
		return;
	}
	cr_assert_gt(rc, 0, "CSeq %.*s: sip_reg_parse %d", (int)n, v, rc);
	cr_assert(r.msg.has_cseq && r.msg.cseq.num == c.num &&
			  r.msg.cseq.method_id == c.method_id,
		  "CSeq %.*s: %u against %u", (int)n, v, r.msg.cseq.num, c.num);
}

Test(sip_reg, numbers_and_call_id_match_existing, .timeout = 600)
{
	static const char *const nums[] = {
		"0", "1", "7", "9", "00", "01", "09", "10", "70", "99", "100", "255", "256", "999",
		"0000", "0001", "1000", "1826", "3600", "5060", "9999", "00000", "10000", "65535",
		"65536", "99999", "123456", "1234567", "12345678", "123456789", "1234567890",
		"2147483647", "2147483648", "4294967295", "4294967296", "12a", "1a", "a1", "1:2",
		"+1", "-1", "1.5", "0x1", "", "/1", "1/", "12345a", "1234a", "123:", "9999a",
		"\xff" "1", "1\xff", "1;", "1>",
	};
	/* each place: the text before the value and after it */
	static const char *const places[][2] = {
		{"Max-Forwards: ", "\r\n"},
		{"Expires: ", "\r\n"},
		{"CSeq: ", " REGISTER\r\n"},
		{"Via: SIP/2.0/UDP 192.0.2.10:", ";branch=z9hG4bK776\r\n"},
		{"Via: SIP/2.0/UDP 192.0.2.10;rport=", ";branch=z9hG4bK776\r\n"},
		{"Contact: <sip:alice@192.0.2.10:", ">;expires=60\r\n"},
		{"Contact: <sip:alice@192.0.2.10>;expires=", "\r\n"},
		{"Contact: <sip:alice@192.0.2.10>;reg-id=", "\r\n"},
		{"Contact: <sip:alice@192.0.2.10>;expires=", ";reg-id=1\r\n"},
		{"Contact: <sip:alice@192.0.2.10>;reg-id=", ";expires=3600\r\n"},
	};
	static const char *const usual[] = {
		"Max-Forwards: 70\r\n", "Expires: 3600\r\n", "CSeq: 1826 REGISTER\r\n",
		"Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK776;rport\r\n",
		"Contact: <sip:alice@192.0.2.10:5060>;expires=3600;reg-id=1\r\n",
	};
	/* which usual header each place replaces */
	static const unsigned same[] = {0, 1, 2, 3, 3, 4, 4, 4, 4, 4};
	static const char *const ids[] = {
		"a", "ab", "a84b4c76e66710", "a84b4c76e667101", "a84b4c76e6671012",
		"a84b4c76e66710123", "a84b4c76e66710@pc33.example.com", "a b", "ab ", "a\tb",
		" a", "a84b4c76e667 0", "a84b4c76e6671 2", "a84b4c76e66710 ", "a84b4c76e667101 2",
		"\x80\xff", "a\x7f", "!%*_+`'~", "a@b@c", "a\"b", "a<b>",
	};
	static char buf[1024];
	struct guard_page g;
	char *gend = guard_page_new(&g, sizeof(buf));
	size_t np = sizeof(places) / sizeof(places[0]), ok = 0, tried = 0;
	int rc;

	for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
		for (size_t j = 0; j < np; j++) {
			for (int last = 0; last < 2; last++) {
				char line[256], rest[512] = "";
				int len;

				snprintf(line, sizeof(line), "%s%s%s", places[j][0], nums[i],
					 places[j][1]);
				for (size_t u = 0; u < sizeof(usual) / sizeof(usual[0]); u++)
					if (u != same[j])
						strcat(rest, usual[u]);
				if (last)
					len = snprintf(buf, sizeof(buf),
						       "REGISTER sip:example.com SIP/2.0\r\n"
						       "From: <sip:alice@example.com>;tag=1\r\n"
						       "To: <sip:alice@example.com>\r\n"
						       "Call-ID: a84b4c76e66710\r\n%s%s\r\n",
						       rest, line);
				else
					len = snprintf(buf, sizeof(buf),
						       "REGISTER sip:example.com SIP/2.0\r\n%s"
						       "From: <sip:alice@example.com>;tag=1\r\n"
						       "To: <sip:alice@example.com>\r\n"
						       "Call-ID: a84b4c76e66710\r\n%s"
						       "Content-Length: 0\r\n\r\n",
						       line, rest);
				cr_assert(len > 0 && (size_t)len < sizeof(buf));
				for (unsigned f = 0; f < 4; f++)
					check(buf, (size_t)len, f & 1 ? STREAM : DGRAM, f & 2 ? 1 : 8,
					      &rc);
				check(buf, (size_t)len, DGRAM, 8, &rc);
				ok += rc > 0;
				tried++;
				if (same[j] == 2)
					check_cseq(buf, (size_t)len);
				for (size_t k = (size_t)len > 24 ? (size_t)len - 24 : 0;
				     k <= (size_t)len; k++) {
					memcpy(gend - k, buf, k);
					check(gend - k, k, DGRAM, 8, &rc);
					check(gend - k, k, STREAM, 8, &rc);
				}
			}
		}
	}
	cr_assert_gt(ok, tried / 2);
	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		for (size_t pad = 0; pad < 40; pad++) {
			int len = snprintf(buf, sizeof(buf),
					   "REGISTER sip:example.com SIP/2.0\r\n"
					   "Via: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bK776\r\n"
					   "X-Pad: %.*s\r\n"
					   "Max-Forwards: 70\r\nFrom: <sip:alice@example.com>;tag=1\r\n"
					   "To: <sip:alice@example.com>\r\nCSeq: 1 REGISTER\r\n"
					   "Call-ID: %s\r\n\r\n",
					   (int)pad, "0123456789012345678901234567890123456789", ids[i]);

			cr_assert(len > 0 && (size_t)len < sizeof(buf));
			for (size_t k = (size_t)len > 40 ? (size_t)len - 40 : 0; k <= (size_t)len;
			     k++) {
				memcpy(gend - k, buf, k);
				check(gend - k, k, DGRAM, 8, &rc);
				check(gend - k, k, STREAM | SIP_PARSE_LF, 1, &rc);
			}
		}
	}
	guard_page_free(&g);
}
