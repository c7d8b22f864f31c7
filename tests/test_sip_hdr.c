/* SPDX-License-Identifier: MIT */
/*
 * Tests of the SIP header-body parsers: CSeq, parameters, name-addr, Contact,
 * Via, Authorization / WWW-Authenticate. Table-driven; every vector names the
 * RFC section it comes from. Malformed input of every kind, and a guard-page
 * test that places each input just before a PROT_NONE page.
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

#define S(lit) SIP_STR(lit)

/* ------------------------------------------------------------------------ */
/* CSeq, RFC 3261 §20.16                                                     */

struct cseq_vec {
	const char *rfc, *in;
	int ret;
	uint32_t num;
	const char *method;
	enum sip_method id;
};

static const struct cseq_vec cseq_vecs[] = {
	{"RFC 3261 §20.16", "4711 REGISTER", 0, 4711, "REGISTER", SIP_METHOD_REGISTER},
	{"RFC 3261 §20.16", "1 INVITE", 0, 1, "INVITE", SIP_METHOD_INVITE},
	{"RFC 4475 §3.1.1.1 wsinv leading zeros", "0009\r\n  INVITE", 0, 9, "INVITE",
	 SIP_METHOD_INVITE},
	{"RFC 3261 §7.1 extension method", "3882340 NEWMETHOD", 0, 3882340, "NEWMETHOD",
	 SIP_METHOD_OTHER},
	{"RFC 4475 §3.1.1.2 intmeth token chars", "3 !interesting-Method0123456789_*+`.%indeed'~",
	 0, 3, "!interesting-Method0123456789_*+`.%indeed'~", SIP_METHOD_OTHER},
	{"RFC 3261 §7.1 methods are case-sensitive", "5 register", 0, 5, "register",
	 SIP_METHOD_OTHER},
	{"RFC 3261 §8.1.1.5 2^31-1", "2147483647 OPTIONS", 0, 2147483647u, "OPTIONS",
	 SIP_METHOD_OPTIONS},
	{"RFC 3261 §8.1.1.5 2^31", "2147483648 OPTIONS", -EBADMSG},
	{"RFC 4475 §3.1.2.5 scalarlg", "36893488147419103232 INVITE", -EBADMSG},
	{"RFC 3261 §20.16 no method", "1", -EBADMSG},
	{"RFC 3261 §20.16 no method after LWS", "1 ", -EBADMSG},
	{"RFC 3261 §20.16 no LWS", "1INVITE", -EBADMSG},
	{"RFC 3261 §20.16 no number", "INVITE", -EBADMSG},
	{"RFC 3261 §20.16 empty", "", -EBADMSG},
	{"RFC 3261 §20.16 negative", "-1 INVITE", -EBADMSG},
	{"RFC 3261 §20.16 two methods", "1 INVITE BYE", -EBADMSG},
	{"RFC 3261 §20.16 non-token method", "1 INV<ITE", -EBADMSG},
	{"RFC 3261 §20.16 hex number", "0x10 INVITE", -EBADMSG},
};

Test(sip_cseq, vectors)
{
	for (size_t i = 0; i < sizeof(cseq_vecs) / sizeof(cseq_vecs[0]); i++) {
		const struct cseq_vec *v = &cseq_vecs[i];
		struct sip_cseq c = {0};
		struct sip_err err = {0};
		int r = sip_cseq_parse(&c, sip_str_make(v->in, strlen(v->in)), &err);

		cr_assert_eq(r, v->ret, "%s: '%s' returned %d", v->rfc, v->in, r);
		if (r != 0) {
			cr_assert_not_null(err.reason, "%s: no reason", v->rfc);
			cr_assert(strncmp(err.reason, "Bad CSeq", 8) == 0, "%s", err.reason);
			continue;
		}
		cr_assert_eq(c.num, v->num, "%s", v->rfc);
		cr_assert_str(c.method, v->method);
		cr_assert_eq(c.method_id, v->id, "%s", v->rfc);
	}
}

Test(sip_cseq, null_err_allowed)
{
	struct sip_cseq c;

	cr_assert_eq(sip_cseq_parse(&c, S("x"), NULL), -EBADMSG);
}

/* ------------------------------------------------------------------------ */
/* Generic parameters, RFC 3261 §25.1 generic-param, RFC 7616 auth-param      */

Test(sip_param, iterate)
{
	struct sip_str rest = S("tag=a6c85cf ; lr;maddr=[::1]; x=\"q;,\\\"uo\" , y=1");
	struct sip_str n, v;

	cr_assert_eq(sip_param_next(&rest, &n, &v), 1);
	cr_assert_str(n, "tag");
	cr_assert_str(v, "a6c85cf");
	cr_assert_eq(sip_param_next(&rest, &n, &v), 1);
	cr_assert_str(n, "lr");
	cr_assert_null(v.p, "a flag has no value");
	cr_assert_eq(sip_param_next(&rest, &n, &v), 1);
	cr_assert_str(n, "maddr");
	cr_assert_str(v, "[::1]");
	cr_assert_eq(sip_param_next(&rest, &n, &v), 1);
	cr_assert_str(n, "x");
	cr_assert_str(v, "q;,\\\"uo");
	cr_assert_eq(sip_param_next(&rest, &n, &v), 1);
	cr_assert_str(n, "y");
	cr_assert_str(v, "1");
	cr_assert_eq(sip_param_next(&rest, &n, &v), 0);
	cr_assert_eq(sip_param_next(&rest, &n, &v), 0, "stays at the end");
	rest = SIP_STR_NULL;
	cr_assert_eq(sip_param_next(&rest, &n, &v), 0, "an unset slice is empty");
}

Test(sip_param, malformed)
{
	static const char *const bad[] = {
		";;lr",           /* RFC 4475 §3.1.2.1 badinv01: empty parameter */
		"a=1;;b",         /* idem, in the middle */
		"a=1;",           /* trailing separator */
		"a=",             /* RFC 3261 §25.1: gen-value is 1*token */
		"a=\"unterminated", /* RFC 3261 §25.1 quoted-string */
		"a=\"x\\\"",      /* the only quote is escaped */
		"=1",             /* no name */
		"a b",            /* two tokens */
		"a=1 b=2",        /* missing separator */
		"a=<x>",          /* not a token */
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct sip_str rest = sip_str_make(bad[i], strlen(bad[i]));
		struct sip_str n, v;
		int r;

		while ((r = sip_param_next(&rest, &n, &v)) == 1)
			;
		cr_assert_eq(r, -EBADMSG, "'%s' returned %d", bad[i], r);
	}
}

/* ------------------------------------------------------------------------ */
/* name-addr / addr-spec, RFC 3261 §20.10, §20.20, §20.39                     */

struct na_vec {
	const char *rfc, *in;
	int ret;
	const char *display, *host, *user, *tag, *params, *uparams;
	bool angle;
};

static const struct na_vec na_vecs[] = {
	{"RFC 3261 §20.20", "\"A. G. Bell\" <sip:agb@bell-telephone.com> ;tag=a48s", 0,
	 "A. G. Bell", "bell-telephone.com", "agb", "a48s", "tag=a48s", NULL, true},
	{"RFC 3261 §20.20", "Anonymous <sip:c8oqz84zk7z@privacy.org>;tag=hyh8", 0,
	 "Anonymous", "privacy.org", "c8oqz84zk7z", "hyh8", "tag=hyh8", NULL, true},
	{"RFC 3261 §20.20 compact", "sip:+12125551212@server.phone2net.com;tag=887s", 0,
	 NULL, "server.phone2net.com", "+12125551212", "887s", "tag=887s", NULL, false},
	{"RFC 3261 §20.39", "The Operator <sip:operator@cs.columbia.edu>;tag=287447", 0,
	 "The Operator", "cs.columbia.edu", "operator", "287447", "tag=287447", NULL, true},
	{"RFC 3261 §20.39 no tag", "<sip:bob@biloxi.com>", 0, NULL, "biloxi.com", "bob",
	 NULL, NULL, NULL, true},
	{"RFC 4475 §3.1.1.6 lwsdisp", "caller<sip:caller@example.com>;tag=323", 0, "caller",
	 "example.com", "caller", "323", "tag=323", NULL, true},
	{"RFC 4475 §3.1.1.1 wsinv folded display",
	 "\"J Rosenberg \\\\\\\"\"       <sip:jdrosen@example.com>\r\n    ;\r\n    tag = 98asjd8",
	 0, "J Rosenberg \\\\\\\"", "example.com", "jdrosen", "98asjd8", "tag = 98asjd8", NULL,
	 true},
	{"RFC 4475 §3.1.1.1 wsinv bare To",
	 "sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n", 0, NULL,
	 "chair-dnrc.example.com", "vivekg", "1918181833n", "tag    = 1918181833n", NULL,
	 false},
	{"RFC 3261 §20.10 URI params stay in the URI",
	 "<sip:a@example.com;transport=tcp>;tag=x;foo", 0, NULL, "example.com", "a", "x",
	 "tag=x;foo", "transport=tcp", true},
	{"RFC 4475 §3.3.12 cparam01: bare addr-spec, params are header params",
	 "sip:+19725552222@gw1.example.net;unknownparam", 0, NULL, "gw1.example.net",
	 "+19725552222", NULL, "unknownparam", NULL, false},
	{"RFC 4475 §3.3.13 cparam02: <> keeps the URI param",
	 "<sip:+19725552222@gw1.example.net;unknownparam>", 0, NULL, "gw1.example.net",
	 "+19725552222", NULL, NULL, "unknownparam", true},
	{"RFC 3261 §25.1 multi-token display", "Mr  J .  User <sip:j@example.com>", 0,
	 "Mr  J .  User", "example.com", "j", NULL, NULL, NULL, true},
	{"RFC 3261 §25.1 empty quoted display", "\"\" <sip:j@example.com>", 0, "",
	 "example.com", "j", NULL, NULL, NULL, true},
	{"RFC 3261 §25.1 UTF-8 quoted display", "\"J\xc3\xa4s\xc3\xb8n\" <sip:j@example.com>", 0,
	 "J\xc3\xa4s\xc3\xb8n", "example.com", "j", NULL, NULL, NULL, true},
	{"RFC 5118 §4.1 IPv6 in <>", "<sip:[2001:db8::10]:5070>;tag=1", 0, NULL,
	 "2001:db8::10", NULL, "1", "tag=1", NULL, true},
	{"RFC 4475 §3.1.2.6 quotbal", "\"Mr. J. User <sip:j.user@example.com>", -EBADMSG},
	{"RFC 4475 §3.1.2.15 baddn", "Watson, Thomas <sip:t.watson@example.org>", -EBADMSG},
	{"RFC 4475 §3.1.2.14 badaspec", "\"Watson, Thomas\" < sip:t.watson@example.org >",
	 -EBADMSG},
	{"RFC 3261 §20.10 missing >", "<sip:a@example.com", -EBADMSG},
	{"RFC 3261 §20.10 missing <", "Bob sip:a@example.com", -EBADMSG},
	{"RFC 3261 §20.10 display only", "Bob", -EBADMSG},
	{"RFC 3261 §20.10 quoted display only", "\"Bob\"", -EBADMSG},
	{"RFC 3261 §20.10 empty", "", -EBADMSG},
	{"RFC 3261 §20.10 empty <>", "<>", -EBADMSG},
	{"RFC 3261 §20.20 two values", "<sip:a@example.com>, <sip:b@example.com>", -EBADMSG},
	{"RFC 3261 §20.20 duplicate tag", "<sip:a@example.com>;tag=1;tag=2", -EBADMSG},
	{"RFC 3261 §20.20 tag without value", "<sip:a@example.com>;tag", -EBADMSG},
	{"RFC 4475 §3.1.2.1 badinv01 empty params", "<sip:a@example.com>;;;;", -EBADMSG},
	{"RFC 3261 §20.10 junk after >", "<sip:a@example.com> x", -EBADMSG},
	{"RFC 3261 §19.1 bad URI inside", "<sip:a@exa mple.com>", -EBADMSG},
	{"RFC 5118 §4.2 unbracketed IPv6", "<sip:2001:db8::10>", -EBADMSG},
};

static void check_na(const struct na_vec *v, size_t len)
{
	struct sip_nameaddr na;
	struct sip_err err = {0};
	int r = sip_nameaddr_parse(&na, sip_str_make(v->in, len), &err);

	cr_assert_eq(r, v->ret, "%s: returned %d (%s)", v->rfc, r, err.reason ? err.reason : "");
	if (r != 0) {
		cr_assert_not_null(err.reason, "%s", v->rfc);
		cr_assert(err.off <= len, "%s", v->rfc);
		return;
	}
	if (v->display)
		cr_assert(na.display.len == strlen(v->display) &&
				  memcmp(na.display.p, v->display, na.display.len) == 0,
			  "%s: display '%.*s'", v->rfc, (int)na.display.len, na.display.p);
	else
		cr_assert_eq(na.display.len, 0, "%s", v->rfc);
	cr_assert_str(na.uri.host, v->host);
	if (v->user)
		cr_assert_str(na.uri.user, v->user);
	else
		cr_assert_null(na.uri.user.p, "%s", v->rfc);
	if (v->tag)
		cr_assert_str(na.tag, v->tag);
	else
		cr_assert_null(na.tag.p, "%s", v->rfc);
	if (v->params)
		cr_assert_str(na.params, v->params);
	else
		cr_assert_eq(na.params.len, 0, "%s", v->rfc);
	if (v->uparams)
		cr_assert_str(na.uri.params, v->uparams);
	else
		cr_assert_null(na.uri.params.p, "%s: URI params '%.*s'", v->rfc,
			       (int)na.uri.params.len, na.uri.params.p);
	cr_assert_eq(na.angle, v->angle, "%s", v->rfc);
}

Test(sip_nameaddr, vectors)
{
	for (size_t i = 0; i < sizeof(na_vecs) / sizeof(na_vecs[0]); i++) {
		check_na(&na_vecs[i], strlen(na_vecs[i].in));
	}
}

/* RFC 4475 §3.1.1.2 intmeth: escaped NUL, BEL and DEL in a quoted display
 * name are kept raw (sip_str_unquote resolves them). */
Test(sip_nameaddr, intmeth_quoted_controls)
{
#define DISP "BEL:\\\x07 NUL:\\\x00 DEL:\\\x7F"
	static const char in[] = "\"" DISP "\" <sip:1_unusual.URI~(to-be!sure)&isn't+it$/"
				 "crazy?,/;;*@example.com>;tag=1";
	static const char disp[] = DISP;
#undef DISP
	struct sip_nameaddr na;
	struct sip_err err = {0};
	char buf[32];

	cr_assert_eq(sip_nameaddr_parse(&na, sip_str_make(in, sizeof(in) - 1), &err), 0, "%s",
		     err.reason);
	cr_assert_eq(na.display.len, sizeof(disp) - 1);
	cr_assert_arr_eq(na.display.p, disp, sizeof(disp) - 1);
	cr_assert_eq(sip_str_unquote(buf, sizeof(buf), na.display), 17);
	cr_assert_arr_eq(buf, "BEL:\x07 NUL:\x00 DEL:\x7F", 17);
	cr_assert_str(na.uri.user, "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*");
	cr_assert_str(na.tag, "1");
}

Test(sip_nameaddr, list)
{
	struct sip_str rest = S("<sip:p1.example.com;lr>,\r\n <sip:p2.example.com;lr> , "
				"\"x,y\" <sip:p3.example.com;lr>;foo=\"a,b\"");
	struct sip_nameaddr na;
	struct sip_err err;

	cr_assert_eq(sip_nameaddr_next(&rest, &na, &err), 1);
	cr_assert_str(na.uri.host, "p1.example.com");
	cr_assert(na.uri.lr);
	cr_assert_eq(sip_nameaddr_next(&rest, &na, &err), 1);
	cr_assert_str(na.uri.host, "p2.example.com");
	cr_assert_eq(sip_nameaddr_next(&rest, &na, &err), 1);
	cr_assert_str(na.uri.host, "p3.example.com");
	cr_assert(na.display.len == 3 && memcmp(na.display.p, "x,y", 3) == 0);
	cr_assert_str(na.params, "foo=\"a,b\"");
	cr_assert_eq(sip_nameaddr_next(&rest, &na, &err), 0);

	static const char *const bad[] = {
		"<sip:a@b>,",          /* trailing comma */
		"<sip:a@b>,,<sip:c@d>", /* empty element */
		",<sip:a@b>",          /* leading comma */
		"<sip:a@b> <sip:c@d>", /* no comma */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int r;

		rest = sip_str_make(bad[i], strlen(bad[i]));
		while ((r = sip_nameaddr_next(&rest, &na, &err)) == 1)
			;
		cr_assert_eq(r, -EBADMSG, "'%s'", bad[i]);
	}
}

/* ------------------------------------------------------------------------ */
/* Contact, RFC 3261 §20.10, RFC 5626 §4.1                                   */

Test(sip_contact, params)
{
	struct sip_str rest = S("<sip:alice@192.0.2.4:5060;transport=udp>;expires=3600;q=0.5;"
				"+sip.instance=\"<urn:uuid:00000000-0000-1000-8000-000A95A0E128>\""
				";reg-id=1;unknown=\"x\";flag, \"Bob\" <sip:bob@b.example.com>;q=1.000,"
				"sip:c@c.example.com;q=0;expires=0");
	struct sip_contact c;
	struct sip_err err = {0};

	cr_assert_eq(sip_contact_next(&rest, &c, &err), 1, "%s", err.reason);
	cr_assert_not(c.star);
	cr_assert_str(c.na.uri.host, "192.0.2.4");
	cr_assert_eq(c.na.uri.port, 5060);
	cr_assert_str(c.na.uri.transport, "udp");
	cr_assert(c.has_expires);
	cr_assert_eq(c.expires, 3600);
	cr_assert_eq(c.q, 500);
	cr_assert_str(c.instance, "<urn:uuid:00000000-0000-1000-8000-000A95A0E128>");
	cr_assert(c.has_reg_id);
	cr_assert_eq(c.reg_id, 1);
	cr_assert_str(c.na.params,
		      "expires=3600;q=0.5;+sip.instance=\"<urn:uuid:00000000-0000-1000-8000-"
		      "000A95A0E128>\";reg-id=1;unknown=\"x\";flag");

	cr_assert_eq(sip_contact_next(&rest, &c, &err), 1, "%s", err.reason);
	cr_assert_str(c.na.uri.host, "b.example.com");
	cr_assert_eq(c.q, 1000);
	cr_assert_not(c.has_expires);
	cr_assert_null(c.instance.p);
	cr_assert_not(c.has_reg_id);

	cr_assert_eq(sip_contact_next(&rest, &c, &err), 1, "%s", err.reason);
	cr_assert_str(c.na.uri.host, "c.example.com");
	cr_assert_null(c.na.uri.params.p, "RFC 3261 §20.10: header params, not URI params");
	cr_assert_eq(c.q, 0);
	cr_assert(c.has_expires);
	cr_assert_eq(c.expires, 0);
	cr_assert_eq(sip_contact_next(&rest, &c, &err), 0);
}

Test(sip_contact, defaults_and_star)
{
	struct sip_str rest = S("<sip:a@example.com>");
	struct sip_contact c;

	memset(&c, 0x5a, sizeof(c));
	cr_assert_eq(sip_contact_next(&rest, &c, NULL), 1);
	cr_assert_eq(c.q, SIP_Q_DEFAULT);
	cr_assert_not(c.has_expires);
	cr_assert_not(c.has_reg_id);
	cr_assert_null(c.instance.p);
	cr_assert_null(c.na.tag.p);
	cr_assert_eq(c.na.params.len, 0);

	/* RFC 3261 §10.2.2: "*" */
	rest = S("  * ");
	cr_assert_eq(sip_contact_next(&rest, &c, NULL), 1);
	cr_assert(c.star);
	cr_assert_null(c.na.uri.host.p);
	cr_assert_eq(sip_contact_next(&rest, &c, NULL), 0);
}

/* expires over 2^32-1 is clamped to 2^32-1 (documented in nameaddr.c) */
Test(sip_contact, expires_clamped)
{
	struct sip_str rest = S("<sip:a@example.com>;expires=99999999999999999999");
	struct sip_contact c;

	cr_assert_eq(sip_contact_next(&rest, &c, NULL), 1);
	cr_assert_eq(c.expires, UINT32_MAX);
	rest = S("<sip:a@example.com>;expires=4294967295");
	cr_assert_eq(sip_contact_next(&rest, &c, NULL), 1);
	cr_assert_eq(c.expires, UINT32_MAX);
	rest = S("<sip:a@example.com>;expires=00042");
	cr_assert_eq(sip_contact_next(&rest, &c, NULL), 1);
	cr_assert_eq(c.expires, 42);
}

struct q_vec {
	const char *q;
	int val; /* -1: error */
};

Test(sip_contact, qvalues)
{
	/* RFC 3261 §20.10, qvalue = ("0" ["." 0*3DIGIT]) / ("1" ["." 0*3("0")]) */
	static const struct q_vec v[] = {
		{"0", 0},       {"0.5", 500},  {"0.05", 50},  {"0.123", 123}, {"1", 1000},
		{"1.0", 1000},  {"1.000", 1000}, {"0.", 0},   {"1.", 1000},   {"0.999", 999},
		{"1.001", -1},  {"1.5", -1},   {"2", -1},     {"0.1234", -1}, {"-0.5", -1},
		{".5", -1},     {"0x5", -1},   {"0.5a", -1},  {"01", -1},     {"1.0000", -1},
	};

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		char buf[64];
		struct sip_str rest;
		struct sip_contact c;
		struct sip_err err = {0};
		int n = snprintf(buf, sizeof(buf), "<sip:a@example.com>;q=%s", v[i].q);
		int r;

		rest = sip_str_make(buf, (size_t)n);
		r = sip_contact_next(&rest, &c, &err);
		if (v[i].val < 0) {
			cr_assert_eq(r, -EBADMSG, "q=%s accepted", v[i].q);
			cr_assert_not_null(err.reason);
		} else {
			cr_assert_eq(r, 1, "q=%s: %s", v[i].q, err.reason);
			cr_assert_eq(c.q, v[i].val, "q=%s gave %u", v[i].q, c.q);
		}
	}
}

Test(sip_contact, malformed)
{
	static const struct {
		const char *rfc, *in;
	} bad[] = {
		{"RFC 3261 §10.2.2 star with another", "*, <sip:a@example.com>"},
		{"RFC 3261 §10.2.2 star with params", "*;expires=0"},
		{"RFC 3261 §20.10 expires not a number", "<sip:a@b.example.com>;expires=soon"},
		{"RFC 3261 §20.10 expires without value", "<sip:a@b.example.com>;expires"},
		{"RFC 3261 §20.10 negative expires", "<sip:a@b.example.com>;expires=-1"},
		{"RFC 3261 §20.10 duplicate expires",
		 "<sip:a@b.example.com>;expires=1;expires=2"},
		{"RFC 3261 §20.10 duplicate q", "<sip:a@b.example.com>;q=1;Q=0.5"},
		{"RFC 5626 §4.1 reg-id 0", "<sip:a@b.example.com>;reg-id=0"},
		{"RFC 5626 §4.1 reg-id over 2^31-1", "<sip:a@b.example.com>;reg-id=2147483648"},
		{"RFC 5626 §4.1 reg-id not digits", "<sip:a@b.example.com>;reg-id=x"},
		{"RFC 5626 §4.1 +sip.instance without value", "<sip:a@b.example.com>;+sip.instance"},
		{"RFC 5626 §4.1 +sip.instance unterminated",
		 "<sip:a@b.example.com>;+sip.instance=\"<urn:uuid:1>"},
		{"RFC 4475 §3.1.2.1 badinv01", "<sip:user@example.com>;;;;"},
		{"RFC 4475 §3.1.2.1 badinv01 trailing ;", "<sip:user@example.com>;"},
		{"RFC 3261 §20.10 trailing comma", "<sip:a@b.example.com>,"},
		{"RFC 3261 §20.10 empty element", "<sip:a@b.example.com>, ,<sip:c@d.example.com>"},
		{"RFC 3261 §20.10 junk", "<sip:a@b.example.com> junk"},
		{"RFC 3261 §19.1 bad URI", "<sip:a@b.example.com:0>"},
		{"RFC 3261 §20.10 garbage", "@@@"},
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct sip_str rest = sip_str_make(bad[i].in, strlen(bad[i].in));
		struct sip_contact c;
		struct sip_err err = {0};
		int r;

		while ((r = sip_contact_next(&rest, &c, &err)) == 1)
			;
		cr_assert_eq(r, -EBADMSG, "%s: '%s' returned %d", bad[i].rfc, bad[i].in, r);
		cr_assert_not_null(err.reason, "%s", bad[i].rfc);
	}
}

/* ------------------------------------------------------------------------ */
/* Via, RFC 3261 §20.42, RFC 3581, RFC 5118 §4.5                              */

Test(sip_via, hops)
{
	struct sip_str rest = S("SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK776asdhds;rport, "
				"SIP / 2.0 / TCP\r\n 192.0.2.1 : 5061 ;received=192.0.2.200;"
				"rport=5062;maddr=224.2.0.1;ttl=16;x-foo=bar;Branch=z9hG4bKabc,"
				"SIP/2.0/TLS [2001:db8::9:1]:6050;branch=z9hG4bKas3-111");
	struct sip_via v;
	struct sip_err err = {0};

	cr_assert_eq(sip_via_next(&rest, &v, &err), 1, "%s", err.reason);
	cr_assert_str(v.proto, "SIP/2.0");
	cr_assert_str(v.transport, "UDP");
	cr_assert_str(v.host, "pc33.atlanta.com");
	cr_assert_eq(v.host_type, SIP_HOST_NAME);
	cr_assert_eq(v.port, 0);
	cr_assert_str(v.branch, "z9hG4bK776asdhds");
	cr_assert_eq(v.rport, 0, "RFC 3581: rport without a value");
	cr_assert_eq(v.ttl, -1);
	cr_assert_null(v.received.p);
	cr_assert_str(v.params, "branch=z9hG4bK776asdhds;rport");

	cr_assert_eq(sip_via_next(&rest, &v, &err), 1, "%s", err.reason);
	cr_assert_str(v.proto, "SIP / 2.0");
	cr_assert_str(v.transport, "TCP");
	cr_assert_str(v.host, "192.0.2.1");
	cr_assert_eq(v.host_type, SIP_HOST_IPV4);
	cr_assert_eq(v.port, 5061);
	cr_assert_str(v.received, "192.0.2.200");
	cr_assert_eq(v.rport, 5062);
	cr_assert_str(v.maddr, "224.2.0.1");
	cr_assert_eq(v.ttl, 16);
	cr_assert_str(v.branch, "z9hG4bKabc");

	cr_assert_eq(sip_via_next(&rest, &v, &err), 1, "%s", err.reason);
	cr_assert_str(v.transport, "TLS");
	cr_assert_str(v.host, "2001:db8::9:1");
	cr_assert_eq(v.host_type, SIP_HOST_IPV6);
	cr_assert_eq(v.port, 6050);
	cr_assert_eq(v.rport, -1);
	cr_assert_eq(sip_via_next(&rest, &v, &err), 0);
}

Test(sip_via, rfc5118_received)
{
	/* RFC 5118 §4.5: with and without brackets */
	static const char *const in[] = {
		"SIP/2.0/UDP [2001:db8::9:1];received=[2001:db8::9:255];branch=z9hG4bKas3",
		"SIP/2.0/UDP [2001:db8::9:1];received=2001:db8::9:255;branch=z9hG4bKas3",
	};

	for (size_t i = 0; i < 2; i++) {
		struct sip_str rest = sip_str_make(in[i], strlen(in[i]));
		struct sip_via v;
		struct sip_err err = {0};

		cr_assert_eq(sip_via_next(&rest, &v, &err), 1, "%s", err.reason);
		cr_assert_str(v.received, "2001:db8::9:255");
		cr_assert_str(v.host, "2001:db8::9:1");
		cr_assert_str(v.branch, "z9hG4bKas3");
	}
	/* RFC 5118 §4.9 */
	struct sip_str rest = S("SIP/2.0/UDP [::ffff:192.0.2.10]:19823;branch=z9hG4bKbzz");
	struct sip_via v;

	cr_assert_eq(sip_via_next(&rest, &v, NULL), 1);
	cr_assert_str(v.host, "::ffff:192.0.2.10");
	cr_assert_eq(v.port, 19823);
}

Test(sip_via, transports)
{
	/* RFC 4475 §3.1.1.10 transports: unknown transports are tokens */
	struct sip_str rest = S("SIP/2.0/UDP t1.example.com;branch=z9hG4bKkdjuw1,"
				"SIP/2.0/SCTP t2.example.com;branch=z9hG4bKkdjuw2,"
				"SIP/2.0/TLS t3.example.com;branch=z9hG4bKkdjuw3,"
				"SIP/2.0/UNKNOWN t4.example.com;branch=z9hG4bKkdjuw4,"
				"SIP/2.0/TCP t5.example.com;branch=z9hG4bKkdjuw5");
	static const char *const t[] = {"UDP", "SCTP", "TLS", "UNKNOWN", "TCP"};
	struct sip_via v;
	size_t n = 0;
	int r;

	while ((r = sip_via_next(&rest, &v, NULL)) == 1) {
		cr_assert_lt(n, 5);
		cr_assert_str(v.transport, t[n]);
		n++;
	}
	cr_assert_eq(r, 0);
	cr_assert_eq(n, 5);
}

Test(sip_via, malformed)
{
	static const struct {
		const char *rfc, *in;
	} bad[] = {
		{"RFC 4475 §3.1.2.1 badinv01", "SIP/2.0/UDP 192.0.2.15;;,;,,"},
		{"RFC 3261 §20.42 no transport", "SIP/2.0 host.example.com"},
		{"RFC 3261 §20.42 no version", "SIP//UDP host.example.com"},
		{"RFC 3261 §20.42 no sent-by", "SIP/2.0/UDP"},
		{"RFC 3261 §20.42 no sent-by after LWS", "SIP/2.0/UDP   "},
		{"RFC 3261 §20.42 no LWS before sent-by", "SIP/2.0/UDP;branch=z9hG4bK1"},
		{"RFC 5118 §4.2 unbracketed IPv6 sent-by", "SIP/2.0/UDP 2001:db8::9:1"},
		{"RFC 3261 §20.42 port 0", "SIP/2.0/UDP h.example.com:0"},
		{"RFC 3261 §20.42 port 65536", "SIP/2.0/UDP h.example.com:65536"},
		{"RFC 3261 §20.42 empty port", "SIP/2.0/UDP h.example.com:"},
		{"RFC 3581 rport 0", "SIP/2.0/UDP h.example.com;rport=0"},
		{"RFC 3581 rport 65536", "SIP/2.0/UDP h.example.com;rport=65536"},
		{"RFC 3581 rport overflow", "SIP/2.0/UDP h.example.com;rport=99999999999"},
		{"RFC 3581 rport not digits", "SIP/2.0/UDP h.example.com;rport=abc"},
		{"RFC 3261 §20.42 ttl 256", "SIP/2.0/UDP h.example.com;ttl=256"},
		{"RFC 3261 §20.42 ttl 4 digits", "SIP/2.0/UDP h.example.com;ttl=0001"},
		{"RFC 3261 §20.42 received not an address",
		 "SIP/2.0/UDP h.example.com;received=h2.example.com"},
		{"RFC 3261 §20.42 received bad IPv4", "SIP/2.0/UDP h.example.com;received=1.2.3"},
		{"RFC 3261 §20.42 received bad IPv6", "SIP/2.0/UDP h.example.com;received=[1:2]"},
		{"RFC 3261 §20.42 branch without value", "SIP/2.0/UDP h.example.com;branch"},
		{"RFC 3261 §20.42 duplicate branch",
		 "SIP/2.0/UDP h.example.com;branch=z9hG4bK1;branch=z9hG4bK2"},
		{"RFC 3261 §20.42 trailing comma", "SIP/2.0/UDP h.example.com,"},
		{"RFC 3261 §20.42 leading comma", ",SIP/2.0/UDP h.example.com"},
		{"RFC 3261 §20.42 junk after sent-by", "SIP/2.0/UDP h.example.com junk"},
		{"RFC 3261 §20.42 bad host", "SIP/2.0/UDP h..example.com"},
		{"RFC 3261 §20.42 unterminated IPv6", "SIP/2.0/UDP [2001:db8::1"},
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct sip_str rest = sip_str_make(bad[i].in, strlen(bad[i].in));
		struct sip_via v;
		struct sip_err err = {0};
		int r;

		while ((r = sip_via_next(&rest, &v, &err)) == 1)
			;
		cr_assert_eq(r, -EBADMSG, "%s: '%s' returned %d", bad[i].rfc, bad[i].in, r);
		cr_assert_not_null(err.reason, "%s", bad[i].rfc);
		cr_assert(strncmp(err.reason, "Bad Via", 7) == 0, "%s: %s", bad[i].rfc,
			  err.reason);
		cr_assert(err.off <= strlen(bad[i].in), "%s", bad[i].rfc);
	}
}

/* ------------------------------------------------------------------------ */
/* Authorization / WWW-Authenticate, RFC 3261 §22.4, §25.1, RFC 7616, 8760    */

Test(sip_auth, credentials)
{
	struct sip_auth a;
	struct sip_err err = {0};
	/* RFC 7616 §3.9.1 (SIP-ified), with LWS around '=' and a fold */
	struct sip_str in = S("Digest username=\"Mufasa\",\r\n realm = \"http-auth@example.org\","
			      "uri=\"sip:example.org\", algorithm=SHA-256,"
			      "nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\","
			      "nc=0000000A, cnonce=\"f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ\","
			      "qop=auth, response=\"753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1\","
			      "opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\", userhash=TRUE,"
			      "x-unknown=\"whatever\"");

	cr_assert_eq(sip_auth_parse(&a, in, &err), 0, "%s", err.reason);
	cr_assert_str(a.scheme, "Digest");
	cr_assert_str(a.username, "Mufasa");
	cr_assert_str(a.realm, "http-auth@example.org");
	cr_assert_str(a.uri, "sip:example.org");
	cr_assert_str(a.algorithm, "SHA-256");
	cr_assert_eq(a.alg, SIP_DIGEST_SHA256);
	cr_assert_str(a.nonce, "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v");
	cr_assert_str(a.nc, "0000000A");
	cr_assert(a.has_nc);
	cr_assert_eq(a.nc_val, 10);
	cr_assert_str(a.cnonce, "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ");
	cr_assert_str(a.qop, "auth");
	cr_assert_str(a.response,
		      "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1");
	cr_assert_str(a.opaque, "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS");
	cr_assert(a.userhash);
	cr_assert_not(a.stale);
	cr_assert_null(a.domain.p);
	cr_assert(a.params.p == in.p + 7);
	cr_assert_eq(a.params.p + a.params.len, in.p + in.len);
}

Test(sip_auth, challenge)
{
	struct sip_auth a;
	struct sip_err err = {0};
	struct sip_str in = S("Digest realm=\"atlanta.com\", domain=\"sip:ss1.carrier.com\", "
			      "qop=\"auth,auth-int\", nonce=\"f84f1cec41e6cbe5aea9c8e88d359\", "
			      "opaque=\"\", stale=FALSE, algorithm=MD5");

	cr_assert_eq(sip_auth_parse(&a, in, &err), 0, "%s", err.reason);
	cr_assert_str(a.realm, "atlanta.com");
	cr_assert_str(a.domain, "sip:ss1.carrier.com");
	cr_assert_str(a.qop, "auth,auth-int");
	cr_assert_str(a.opaque, "");
	cr_assert_not(a.stale);
	cr_assert_eq(a.alg, SIP_DIGEST_MD5);
	cr_assert_not(a.has_nc);

	cr_assert_eq(sip_auth_parse(&a, S("Digest realm=\"r\", nonce=\"n\", stale=true"), &err),
		     0);
	cr_assert(a.stale);
	cr_assert_eq(a.alg, SIP_DIGEST_MD5, "RFC 7616 §3.3: absent algorithm is MD5");
	cr_assert_null(a.algorithm.p);
	cr_assert_eq(sip_auth_parse(&a, S("Digest realm=\"r\",stale=TRUE"), &err), 0);
	cr_assert(a.stale);
	/* escapes stay in the slice */
	cr_assert_eq(sip_auth_parse(&a, S("Digest realm=\"a\\\"b\\\\\""), &err), 0);
	cr_assert_str(a.realm, "a\\\"b\\\\");
	/* other schemes: every param tolerated */
	cr_assert_eq(sip_auth_parse(&a, S("Bearer token=abc"), &err), 0);
	cr_assert_str(a.scheme, "Bearer");
}

Test(sip_auth, algorithms)
{
	static const struct {
		const char *name;
		enum sip_digest_alg alg;
	} v[] = {
		{"MD5", SIP_DIGEST_MD5},
		{"md5", SIP_DIGEST_MD5},
		{"MD5-sess", SIP_DIGEST_MD5_SESS},
		{"MD5-SESS", SIP_DIGEST_MD5_SESS},
		{"SHA-256", SIP_DIGEST_SHA256},
		{"sha-256", SIP_DIGEST_SHA256},
		{"SHA-256-sess", SIP_DIGEST_SHA256_SESS},
		{"SHA-512-256", SIP_DIGEST_SHA512_256},
		{"SHA-512-256-sess", SIP_DIGEST_SHA512_256_SESS},
		{"\"SHA-256\"", SIP_DIGEST_SHA256},
		{"SHA-1", SIP_DIGEST_UNKNOWN},
		{"SHA256", SIP_DIGEST_UNKNOWN},
		{"AKAv1-MD5", SIP_DIGEST_UNKNOWN},
		{"MD5-sessx", SIP_DIGEST_UNKNOWN},
		{"SHA-512-256-sesS", SIP_DIGEST_SHA512_256_SESS},
	};

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		char buf[96];
		struct sip_auth a;
		int n = snprintf(buf, sizeof(buf), "Digest realm=\"r\",algorithm=%s", v[i].name);

		cr_assert_eq(sip_auth_parse(&a, sip_str_make(buf, (size_t)n), NULL), 0, "%s",
			     v[i].name);
		cr_assert_eq(a.alg, v[i].alg, "%s -> %d", v[i].name, a.alg);
	}
}

Test(sip_auth, malformed)
{
	static const struct {
		const char *rfc, *in;
	} bad[] = {
		{"RFC 3261 §25.1 empty", ""},
		{"RFC 3261 §25.1 scheme only", "Digest"},
		{"RFC 3261 §25.1 scheme and LWS only", "Digest   "},
		{"RFC 3261 §25.1 no LWS after scheme", "Digest,realm=\"a\""},
		{"RFC 3261 §25.1 param without value", "Digest realm"},
		{"RFC 3261 §25.1 '=' without value", "Digest realm="},
		{"RFC 3261 §25.1 unterminated quote", "Digest realm=\"atlanta.com"},
		{"RFC 3261 §25.1 escaped final quote", "Digest realm=\"atlanta.com\\\""},
		{"RFC 3261 §25.1 missing comma", "Digest realm=\"a\" nonce=\"b\""},
		{"RFC 3261 §25.1 semicolon separator", "Digest realm=\"a\";nonce=\"b\""},
		{"RFC 3261 §25.1 trailing comma", "Digest realm=\"a\","},
		{"RFC 3261 §25.1 empty param", "Digest realm=\"a\",,nonce=\"b\""},
		{"RFC 7616 §3.4 duplicate realm", "Digest realm=\"a\",realm=\"b\""},
		{"RFC 7616 §3.4 duplicate response (case)", "Digest response=\"a\",RESPONSE=\"b\""},
		{"RFC 7616 §3.4 duplicate algorithm", "Digest algorithm=MD5,algorithm=MD5"},
		{"RFC 7616 §3.4 nc short", "Digest nc=0001"},
		{"RFC 7616 §3.4 nc long", "Digest nc=000000001"},
		{"RFC 7616 §3.4 nc not hex", "Digest nc=0000000g"},
		{"RFC 7616 §3.4 duplicate nc", "Digest nc=00000001,nc=00000002"},
		{"RFC 3261 §25.1 no scheme", "=abc"},
		{"RFC 3261 §25.1 bad token value", "Digest realm=<a>"},
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct sip_auth a;
		struct sip_err err = {0};
		int r = sip_auth_parse(&a, sip_str_make(bad[i].in, strlen(bad[i].in)), &err);

		cr_assert_eq(r, -EBADMSG, "%s: '%s' returned %d", bad[i].rfc, bad[i].in, r);
		cr_assert_not_null(err.reason, "%s", bad[i].rfc);
		cr_assert(err.off <= strlen(bad[i].in), "%s", bad[i].rfc);
	}
}

/* ------------------------------------------------------------------------ */
/* Guard page: every prefix of every input, placed just before a PROT_NONE    */
/* page, so any read past the slice faults.                                  */

static const char *const guard_inputs[] = {
	"SIP/2.0/UDP [2001:db8::9:1]:6050;received=[2001:db8::9:255];rport=5060;branch=z9hG4bK1;ttl=3, SIP/2.0/TCP a.example.com",
	"\"J Rosenberg \\\\\\\"\" <sip:jdrosen@example.com>;tag=98asjd8",
	"caller<sip:caller@example.com>;tag=323",
	"sip:+19725552222@gw1.example.net;unknownparam",
	"<sip:alice@192.0.2.4:5060;transport=udp>;expires=3600;q=0.5;+sip.instance=\"<urn:uuid:1>\";reg-id=1, *",
	"Digest username=\"alice\", realm=\"example.com\", nonce=\"a\\\"b\", uri=\"sip:example.com\", response=\"0123456789abcdef\", nc=00000001, cnonce=\"x\", qop=auth, algorithm=MD5-sess",
	"4711 REGISTER",
	"a=1;b=\"x\";c",
};

Test(sip_hdr, guard_page_prefixes)
{
	struct guard_page g;
	char *end = guard_page_new(&g, 1);

	for (size_t i = 0; i < sizeof(guard_inputs) / sizeof(guard_inputs[0]); i++) {
		size_t len = strlen(guard_inputs[i]);

		for (size_t n = 0; n <= len; n++) {
			char *p = end - n;
			struct sip_str s = sip_str_make(p, n), rest, pn, pv;
			struct sip_via v;
			struct sip_nameaddr na;
			struct sip_contact c;
			struct sip_auth a;
			struct sip_cseq cs;
			struct sip_uri u;
			int r;

			memcpy(p, guard_inputs[i], n);
			for (rest = s; (r = sip_via_next(&rest, &v, NULL)) == 1;)
				;
			for (rest = s; (r = sip_nameaddr_next(&rest, &na, NULL)) == 1;)
				;
			for (rest = s; (r = sip_contact_next(&rest, &c, NULL)) == 1;)
				;
			for (rest = s; (r = sip_param_next(&rest, &pn, &pv)) == 1;)
				;
			(void)sip_nameaddr_parse(&na, s, NULL);
			(void)sip_auth_parse(&a, s, NULL);
			(void)sip_cseq_parse(&cs, s, NULL);
			(void)sip_uri_parse(&u, s, NULL);
		}
	}
	guard_page_free(&g);
}

/* Random bytes from the SIP alphabet: no crash, results always inside the
 * input, and every failure has a reason. */
Test(sip_hdr, random_inputs)
{
	static const char alpha[] = "sip:@;=,<>\"\\ \t\r\n[]:.0123456789abcdefSIP/2.0UDP*?&%+-_";
	uint32_t seed = 12345;
	char buf[96];

	for (int iter = 0; iter < 200000; iter++) {
		size_t n = (size_t)(iter % 95);
		struct sip_str s, rest;
		struct sip_via v;
		struct sip_contact c;
		struct sip_auth a;
		struct sip_err err;
		int r;

		for (size_t i = 0; i < n; i++) {
			seed = seed * 1103515245u + 12345u;
			buf[i] = alpha[(seed >> 16) % (sizeof(alpha) - 1)];
		}
		s = sip_str_make(buf, n);
		for (rest = s; (r = sip_via_next(&rest, &v, &err)) == 1;) {
			cr_assert(v.host.p >= buf && v.host.p + v.host.len <= buf + n);
			cr_assert(rest.p >= buf && rest.p + rest.len == buf + n);
		}
		if (r < 0)
			cr_assert(err.reason && err.off <= n);
		for (rest = s; (r = sip_contact_next(&rest, &c, &err)) == 1;)
			cr_assert(c.star || (c.na.uri.raw.p >= buf &&
					     c.na.uri.raw.p + c.na.uri.raw.len <= buf + n));
		if (r < 0)
			cr_assert(err.reason && err.off <= n);
		if (sip_auth_parse(&a, s, &err) < 0)
			cr_assert(err.reason && err.off <= n);
	}
}

/* ------------------------------------------------------------------------ */
/* Odds and ends                                                             */

/* err->off is relative to the slice passed in and points at the problem. */
Test(sip_hdr, error_offsets)
{
	struct sip_err err = {0};
	struct sip_str rest;
	struct sip_via v;
	struct sip_contact c;
	struct sip_nameaddr na;
	struct sip_auth a;

	rest = S("SIP/2.0/UDP h.example.com;rport=99999");
	cr_assert_eq(sip_via_next(&rest, &v, &err), -EBADMSG);
	cr_assert_str_eq(err.reason, "Bad Via: bad rport");
	cr_assert_eq(err.off, 26, "at the parameter name, got %zu", err.off);

	rest = S("<sip:a@b.example.com>;q=2");
	cr_assert_eq(sip_contact_next(&rest, &c, &err), -EBADMSG);
	cr_assert_str_eq(err.reason, "Bad Contact: bad q");
	cr_assert_eq(err.off, 22);

	/* the URI's own offset is moved to the value's frame */
	cr_assert_eq(sip_nameaddr_parse(&na, S("\"A\" <sip:a@b.example.com:0>"), &err), -EBADMSG);
	cr_assert_str_eq(err.reason, "Bad URI: bad port");
	cr_assert_eq(err.off, 25);

	cr_assert_eq(sip_auth_parse(&a, S("Digest realm=\"a\", nc=xyz"), &err), -EBADMSG);
	cr_assert_str_eq(err.reason, "Bad Authorization: nc is not 8 hex digits");
	cr_assert_eq(err.off, 18);
}

/* RFC 3966 tel: inside <> and bare; RFC 3261 §19.1.6 */
Test(sip_nameaddr, tel_uris)
{
	struct sip_nameaddr na;
	struct sip_str rest = S("<tel:+1-201-555-0123;ext=1>;tag=x, tel:+4930123;foo=bar");

	cr_assert_eq(sip_nameaddr_next(&rest, &na, NULL), 1);
	cr_assert_eq(na.uri.scheme, SIP_URI_TEL);
	cr_assert_str(na.uri.opaque, "+1-201-555-0123;ext=1");
	cr_assert_str(na.tag, "x");
	cr_assert_eq(sip_nameaddr_next(&rest, &na, NULL), 1);
	cr_assert_eq(na.uri.scheme, SIP_URI_TEL);
	cr_assert_str(na.uri.opaque, "+4930123");
	cr_assert_str(na.params, "foo=bar");
	cr_assert_eq(sip_nameaddr_next(&rest, &na, NULL), 0);
}

/* The params slices are made for sip_param_next (RFC 3261 §19.1.1). */
Test(sip_param, over_uri_and_header_params)
{
	struct sip_nameaddr na;
	struct sip_str rest, n, v;
	int count = 0;

	cr_assert_eq(sip_nameaddr_parse(&na, S("<sip:a@b.example.com;transport=tcp;lr;"
					       "maddr=[2001:db8::1];x=%41>;tag=1;foo"),
					 NULL),
		     0);
	cr_assert(na.uri.lr);
	cr_assert_str(na.uri.maddr, "[2001:db8::1]");
	rest = na.uri.params;
	while (sip_param_next(&rest, &n, &v) == 1)
		count++;
	cr_assert_eq(count, 4);
	cr_assert_str(n, "x");
	cr_assert_str(v, "%41");
	rest = na.params;
	cr_assert_eq(sip_param_next(&rest, &n, &v), 1);
	cr_assert_str(n, "tag");
	cr_assert_eq(sip_param_next(&rest, &n, &v), 1);
	cr_assert_str(n, "foo");
	cr_assert_null(v.p);
	cr_assert_eq(sip_param_next(&rest, &n, &v), 0);
}

/* RFC 3261 §7.3.1 / §25.1: LWS (with folds) around every separator. */
Test(sip_via, lws_everywhere)
{
	struct sip_str rest = S("SIP\r\n /\t2.0 /\r\n\tUDP \r\n 192.0.2.1\t:\r\n 5060 \r\n ;"
				" branch \r\n = \r\n z9hG4bK1 ; rport \r\n ,\r\n "
				"SIP/2.0/TCP b.example.com");
	struct sip_via v;
	struct sip_err err = {0};

	cr_assert_eq(sip_via_next(&rest, &v, &err), 1, "%s", err.reason);
	cr_assert_str(v.transport, "UDP");
	cr_assert_str(v.host, "192.0.2.1");
	cr_assert_eq(v.port, 5060);
	cr_assert_str(v.branch, "z9hG4bK1");
	cr_assert_eq(v.rport, 0);
	cr_assert_eq(sip_via_next(&rest, &v, &err), 1, "%s", err.reason);
	cr_assert_str(v.host, "b.example.com");
	cr_assert_eq(sip_via_next(&rest, &v, &err), 0);
}

/* RFC 7616 §3.4: parameter names in any case; names that only start like a
 * known one are unknown parameters, not duplicates. */
Test(sip_auth, name_case_and_near_misses)
{
	struct sip_auth a;
	struct sip_err err = {0};

	cr_assert_eq(sip_auth_parse(&a, S("Digest REALM=\"a\", Nonce=\"b\", USERNAME=\"c\", "
					  "realmx=1, nonce-count=2, urix=3, usernamex=4, "
					  "ALGORITHM=sha-256-SESS, Nc=000000ff, UserHash=true, "
					  "algorithmx=MD5, ncx=1, uri = \"sip:x\""),
				  &err),
		     0, "%s", err.reason);
	cr_assert_str(a.realm, "a");
	cr_assert_str(a.nonce, "b");
	cr_assert_str(a.username, "c");
	cr_assert_str(a.uri, "sip:x");
	cr_assert_eq(a.alg, SIP_DIGEST_SHA256_SESS);
	cr_assert_eq(a.nc_val, 255);
	cr_assert(a.userhash);
	/* the same name twice in two cases is a duplicate */
	cr_assert_eq(sip_auth_parse(&a, S("Digest Realm=\"a\", realm=\"b\""), &err), -EBADMSG);
	cr_assert_str_eq(err.reason, "Bad Authorization: duplicate parameter");
	cr_assert_eq(err.off, 18);
	/* a short tail (under 10 bytes) goes the token-scan way */
	cr_assert_eq(sip_auth_parse(&a, S("Digest nc=00000001"), &err), 0);
	cr_assert_eq(a.nc_val, 1);
	cr_assert_eq(sip_auth_parse(&a, S("Digest realm=\"a\",nc="), &err), -EBADMSG);
}

/* RFC 3261 §20: a URI holding ',', ';' or '?' must be in <>, so in a bare
 * addr-spec those end it, even where a user part could hold them. */
Test(sip_contact, bare_addrspec_ends_at_comma)
{
	struct sip_str rest = S("sip:gw1.example.net,sip:b@c.example.com;expires=5,"
				"sip:x;y@d.example.com");
	struct sip_contact c;
	struct sip_err err = {0};

	cr_assert_eq(sip_contact_next(&rest, &c, &err), 1, "%s", err.reason);
	cr_assert_str(c.na.uri.host, "gw1.example.net");
	cr_assert_null(c.na.uri.user.p);
	cr_assert_eq(sip_contact_next(&rest, &c, &err), 1, "%s", err.reason);
	cr_assert_str(c.na.uri.user, "b");
	cr_assert_str(c.na.uri.host, "c.example.com");
	cr_assert_eq(c.expires, 5);
	/* "x;y@d..." bare: the URI is sip:x, then the header param "y@d..." is bad */
	cr_assert_eq(sip_contact_next(&rest, &c, &err), -EBADMSG);
	/* inside <> the same user part is fine */
	rest = S("<sip:x;y@d.example.com>");
	cr_assert_eq(sip_contact_next(&rest, &c, &err), 1, "%s", err.reason);
	cr_assert_str(c.na.uri.user, "x;y");
}

/* RFC 3261 §25.1 port = 1*DIGIT, RFC 3581 rport = 1*DIGIT: leading zeros */
Test(sip_via, leading_zeros)
{
	struct sip_str rest = S("SIP/2.0/UDP h.example.com:0005060;rport=0005062;ttl=001");
	struct sip_via v;

	cr_assert_eq(sip_via_next(&rest, &v, NULL), 1);
	cr_assert_eq(v.port, 5060);
	cr_assert_eq(v.rport, 5062);
	cr_assert_eq(v.ttl, 1);
	rest = S("SIP/2.0/UDP h.example.com:000");
	cr_assert_eq(sip_via_next(&rest, &v, NULL), -EBADMSG);
}
