/* SPDX-License-Identifier: MIT */
/*
 * cseq.c - the CSeq header body (RFC 3261 §20.16, §25.1):
 *
 *   CSeq   = "CSeq" HCOLON 1*DIGIT LWS Method
 *   Method = INVITEm / ACKm / OPTIONSm / BYEm / CANCELm / REGISTERm / extension-method
 *   extension-method = token
 *   LWS    = [*WSP CRLF] 1*WSP
 *
 * §8.1.1.5: the sequence number MUST be expressible as a 32-bit unsigned
 * integer and MUST be less than 2**31; a larger value is refused (RFC 4475
 * §3.1.2.5, scalarlg). Leading zeros are allowed (RFC 4475 §3.1.1.1, wsinv).
 */
#include "charclass.h"

int sip_cseq_parse(struct sip_cseq *c, struct sip_str value, struct sip_err *err)
{
	const char *p = value.p, *end = value.p + value.len, *m;
	uint64_t num = 0;

	p = cc_skip_ws(p, end);
	if (unlikely(p == end || !cc_is(*p, CC_DIGIT)))
		return cc_fail(err, "Bad CSeq: missing sequence number", value.p, p);
	do {
		num = num * 10 + (unsigned)(*p++ - '0');
		if (unlikely(num >= 0x80000000u))
			return cc_fail(err, "Bad CSeq: sequence number not below 2^31",
				       value.p, p);
	} while (p != end && cc_is(*p, CC_DIGIT));
	/* the usual " REGISTER" to the end of the value, in one compare */
	if (likely(end - p == 9 && *p == ' ' &&
		   cc_load(p + 1, 8) == cc_load("REGISTER", 8))) {
		c->num = (uint32_t)num;
		c->method = sip_str_make(p + 1, 8);
		c->method_id = SIP_METHOD_REGISTER;
		return 0;
	}
	m = cc_skip_ws(p, end);
	if (unlikely(m == p))
		return cc_fail(err, "Bad CSeq: no space after the number", value.p, p);
	p = cc_span(m, end, CC_TOKEN);
	if (unlikely(p == m))
		return cc_fail(err, "Bad CSeq: missing method", value.p, p);
	if (unlikely(cc_skip_ws(p, end) != end))
		return cc_fail(err, "Bad CSeq: junk after the method", value.p, p);
	c->num = (uint32_t)num;
	c->method = sip_str_make(m, (size_t)(p - m));
	c->method_id = cc_method_id(m, (size_t)(p - m));
	return 0;
}
