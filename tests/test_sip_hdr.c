/* SPDX-License-Identifier: MIT */
/*
 * Tests of the SIP header-body parsers: CSeq, parameters, name-addr, Contact,
 * Via, Authorization / WWW-Authenticate. Table-driven; every vector names the
 * RFC section it comes from. Malformed input of every kind, and a guard-page
 * test that places each input just before a PROT_NONE page.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "sipreg/sip.h"

#define S(lit) SIP_STR(lit)

static bool str_is(struct sip_str s, const char *lit)
{
	return s.p != NULL && s.len == strlen(lit) && memcmp(s.p, lit, s.len) == 0;
}

#define cr_assert_str(s, lit)                                                          \
	cr_assert(str_is((s), (lit)), "%s: got '%.*s' (set=%d), want '%s'", #s,       \
		  (int)(s).len, (s).p ? (s).p : "", (s).p != NULL, (lit))

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
