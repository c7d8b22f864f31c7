/* SPDX-License-Identifier: MIT */
/*
 * via.c - Via values (RFC 3261 §20.42, §25.1; RFC 3581 rport; RFC 5118 §4.5):
 *
 *   Via             = ( "Via" / "v" ) HCOLON via-parm *(COMMA via-parm)
 *   via-parm        = sent-protocol LWS sent-by *( SEMI via-params )
 *   via-params      = via-ttl / via-maddr / via-received / via-branch
 *                     / via-extension
 *   via-ttl         = "ttl" EQUAL ttl                 ; ttl = 1*3DIGIT (0-255)
 *   via-maddr       = "maddr" EQUAL host
 *   via-received    = "received" EQUAL (IPv4address / IPv6address)
 *   via-branch      = "branch" EQUAL token
 *   response-port   = "rport" [EQUAL 1*DIGIT]         ; RFC 3581
 *   via-extension   = generic-param
 *   sent-protocol   = protocol-name SLASH protocol-version SLASH transport
 *   protocol-name   = "SIP" / token
 *   protocol-version = token
 *   transport       = "UDP" / "TCP" / "TLS" / "SCTP" / other-transport
 *   sent-by         = host [ COLON port ]
 *   SLASH = SWS "/" SWS       COLON = SWS ":" SWS
 *
 * Choices:
 * - proto is the slice "SIP/2.0" as received (LWS around '/' stays inside);
 *   the version is not checked here (the start line decides 505).
 * - received holds an IPv4 or IPv6 address; RFC 5118 §4.5 asks to accept an
 *   IPv6 one with or without brackets: the slice comes WITHOUT them.
 * - rport without a value is 0; with one it must be 1..65535. ttl 0..255.
 * - A known parameter given twice is an error; a missing branch is not (RFC
 *   2543 peers): the transaction layer decides.
 * - err->off is relative to *rest at the call.
 */
#include "host.h"

#define FAIL(reason, at) cc_fail(err, "Bad Via: " reason, base, (at))

/* SLASH token, p after the token before it: the cursor after the token with
 * *tok at its start, or NULL when bad. */
static const char *slash_token(const char *p, const char *end, const char **tok)
{
	p = cc_skip_ws(p, end);
	if (unlikely(p == end || *p != '/'))
		return NULL;
	*tok = cc_skip_ws(p + 1, end);
	p = cc_span(*tok, end, CC_TOKEN);
	return unlikely(p == *tok) ? NULL : p;
}

/* protocol-name SLASH protocol-version SLASH transport; NULL when bad. */
static const char *scan_proto(const char *p, const char *end, struct sip_via *v)
{
	const char *s = p, *q;

	/* the usual "SIP/2.0/" in one compare */
	if (likely(end - p > 8 && memcmp(p, "SIP/2.0/", 8) == 0)) {
		v->proto = sip_str_make(p, 7);
		q = cc_span(p + 8, end, CC_TOKEN);
		if (unlikely(q == p + 8))
			return NULL;
		v->transport = sip_str_make(p + 8, (size_t)(q - p - 8));
		return q;
	}

	p = cc_span(p, end, CC_TOKEN);
	if (unlikely(p == s || (p = slash_token(p, end, &q)) == NULL))
		return NULL;
	v->proto = sip_str_make(s, (size_t)(p - s));
	if (unlikely((p = slash_token(p, end, &q)) == NULL))
		return NULL;
	v->transport = sip_str_make(q, (size_t)(p - q));
	return p;
}

/* 1*DIGIT (leading zeros allowed) into a value no larger than max; -1 when
 * bad. */
static int32_t small_num(struct sip_str s, uint32_t max)
{
	uint32_t n = 0;

	while (s.len > 1 && s.p[0] == '0') {
		s.p++;
		s.len--;
	}
	if (s.len == 0 || s.len > 5)
		return -1;
	for (size_t i = 0; i < s.len; i++) {
		if (!cc_is(s.p[i], CC_DIGIT))
			return -1;
		n = n * 10 + (uint32_t)(s.p[i] - '0');
	}
	return n > max ? -1 : (int32_t)n;
}

/* received = IPv4address / IPv6address / "[" IPv6address "]" */
static bool received_ok(struct sip_str *s)
{
	const char *p = s->p, *end = s->p + s->len;

	if (s->len >= 2 && p[0] == '[' && end[-1] == ']') {
		*s = sip_str_make(p + 1, s->len - 2);
		return sip_ipv6_valid(p + 1, end - 1);
	}
	return sip_ipv4_valid(p, end) || sip_ipv6_valid(p, end);
}

enum {
	VP_BRANCH = 1,
	VP_RECEIVED = 2,
	VP_RPORT = 4,
	VP_MADDR = 8,
	VP_TTL = 16,
};

/* One Via parameter: NULL, or the reason it is bad. */
static const char *via_param(void *obj, struct sip_str n, struct sip_str val, unsigned *seen)
{
	struct sip_via *v = obj;
	unsigned bit;
	int32_t x;

	switch (n.len) {
	case 3:
		if (!CC_LIT_CASEEQ(n.p, n.len, "ttl"))
			return NULL;
		bit = VP_TTL;
		break;
	case 5:
		if (CC_LIT_CASEEQ(n.p, n.len, "rport"))
			bit = VP_RPORT;
		else if (CC_LIT_CASEEQ(n.p, n.len, "maddr"))
			bit = VP_MADDR;
		else
			return NULL;
		break;
	case 6:
		if (!CC_LIT_CASEEQ(n.p, n.len, "branch"))
			return NULL;
		bit = VP_BRANCH;
		break;
	case 8:
		if (!CC_LIT_CASEEQ(n.p, n.len, "received"))
			return NULL;
		bit = VP_RECEIVED;
		break;
	default:
		return NULL;
	}
	if (unlikely(*seen & bit))
		return "Bad Via: duplicate parameter";
	*seen |= bit;
	if (bit == VP_RPORT) {
		if (val.p == NULL) {
			v->rport = 0;
			return NULL;
		}
		if (unlikely((x = small_num(val, 65535)) <= 0))
			return "Bad Via: bad rport";
		v->rport = x;
		return NULL;
	}
	if (unlikely(val.p == NULL))
		return "Bad Via: parameter without a value";
	switch (bit) {
	case VP_BRANCH:
		v->branch = val;
		break;
	case VP_RECEIVED:
		if (unlikely(!received_ok(&val)))
			return "Bad Via: bad received";
		v->received = val;
		break;
	case VP_MADDR:
		v->maddr = val;
		break;
	case VP_TTL:
		if (unlikely((x = small_num(val, 255)) < 0 || val.len > 3))
			return "Bad Via: bad ttl";
		v->ttl = (int16_t)x;
		break;
	}
	return NULL;
}

/*
 * The usual Via params, without the generic token scans: p on the ';' of
 * ";branch=TOKEN", ";rport" (then the end, ';' or ','), ";rport=PORT" or
 * ";received=ADDRESS" (the name in any case, no LWS). Fills the field and
 * returns the cursor after the param, or NULL for anything else (another
 * param, LWS, a duplicate, a value the generic path must judge): the generic
 * path then reads it, with the same result.
 */
static inline const char *via_param_fast(void *obj, const char *p, const char *end,
					 unsigned *seen)
{
	struct sip_via *v = obj;
	const char *q;

	if (end - p < 6 || *p != ';')
		return NULL;
	if (end - p >= 9) {
		uint64_t w = cc_load(p + 1, 8); /* p[1 .. 9) */

		/* 0x20 ORed into the letter positions only, '=' exact */
		if (((w | 0x0000202020202020ull) & 0x00ffffffffffffffull) ==
		    CC_LIT8("branch=")) {
			q = cc_span(p + 8, end, CC_PVAL);
			if (unlikely(q == p + 8 || (*seen & VP_BRANCH)))
				return NULL;
			*seen |= VP_BRANCH;
			v->branch = sip_str_make(p + 8, (size_t)(q - p - 8));
			return q;
		}
		if ((w | 0x2020202020202020ull) == CC_LIT8("received") && end - p >= 11 &&
		    p[9] == '=') {
			struct sip_str val;

			q = cc_span(p + 10, end, CC_PVAL);
			val = sip_str_make(p + 10, (size_t)(q - p - 10));
			if (unlikely(q == p + 10 || (*seen & VP_RECEIVED) ||
				     !received_ok(&val)))
				return NULL;
			*seen |= VP_RECEIVED;
			v->received = val;
			return q;
		}
	}
	if ((cc_load(p + 1, 4) | 0x20202020u) == CC_LIT("rpor") &&
	    (p[5] | 0x20) == 't' && !(*seen & VP_RPORT)) {
		uint32_t n = 0;

		q = p + 6;
		if (q == end || *q == ';' || *q == ',') {
			*seen |= VP_RPORT;
			v->rport = 0;
			return q;
		}
		/* "=" then 1..65535 without leading zeros, up to five digits */
		if (*q != '=' || end - q < 2 || (unsigned)(q[1] - '1') > 8)
			return NULL;
		for (q++; q != end && q - p < 12 && (unsigned)(*q - '0') <= 9; q++)
			n = n * 10 + (uint32_t)(*q - '0');
		if (q - p > 11 || n > 65535 || (q != end && cc_is(*q, CC_PVAL)))
			return NULL;
		*seen |= VP_RPORT;
		v->rport = (int32_t)n;
		return q;
	}
	return NULL;
}

/* sent-by = host [ COLON port ]; NULL with the reason in *why. */
static const char *scan_sent_by(const char *p, const char *end, struct sip_via *v,
				const char **why)
{
	static const char *const host_reason[] = {
		[SIP_HOST_EMISSING] = "Bad Via: missing host",
		[SIP_HOST_EUNTERM] = "Bad Via: unterminated IPv6 reference",
		[SIP_HOST_EBADV6] = "Bad Via: bad IPv6 address",
		[SIP_HOST_EBADV4] = "Bad Via: bad IPv4 address",
		[SIP_HOST_EBADNAME] = "Bad Via: bad host name",
	};
	const char *q;
	int hw = 0;
	int32_t port;

	p = host_scan(p, end, &v->host, &v->host_type, &hw);
	if (unlikely(p == NULL)) {
		*why = host_reason[hw];
		return NULL;
	}
	/* the usual ":PORT", 1 to 5 digits without a leading zero, in one pass
	 * (anything else goes the general way below, with the same result) */
	if (likely(end - p >= 2 && *p == ':' && (unsigned)(p[1] - '1') <= 8)) {
		uint32_t n = (uint32_t)(p[1] - '0');

		for (q = p + 2; q != end && q - p <= 5 && (unsigned)(*q - '0') <= 9; q++)
			n = n * 10 + (uint32_t)(*q - '0');
		if (likely(n <= 65535 && (q == end || (unsigned)(*q - '0') > 9))) {
			v->port = (uint16_t)n;
			return q;
		}
	}
	q = cc_skip_ws(p, end);
	if (q == end || *q != ':')
		return p;
	q = cc_skip_ws(q + 1, end);
	p = cc_span(q, end, CC_DIGIT);
	if (unlikely((port = small_num(sip_str_make(q, (size_t)(p - q)), 65535)) <= 0)) {
		*why = "Bad Via: bad port";
		return NULL;
	}
	v->port = (uint16_t)port;
	return p;
}

int sip_via_next(struct sip_str *rest, struct sip_via *v, struct sip_err *err)
{
	const char *base = rest->p, *end, *p, *q;
	const char *why = NULL;
	unsigned seen = 0;
	int r = cc_list_start(rest, &p, "Bad Via: empty value", err);

	if (r <= 0)
		return r;
	end = rest->p + rest->len;
	cc_zero(v, sizeof(*v)); /* every field unset */
	v->rport = -1;
	v->ttl = -1;
	q = scan_proto(p, end, v);
	if (unlikely(q == NULL))
		return FAIL("bad sent-protocol", p);
	p = cc_skip_ws(q, end);
	if (unlikely(p == q))
		return FAIL("no space before sent-by", p);
	q = p;
	p = scan_sent_by(p, end, v, &why);
	if (unlikely(p == NULL))
		return cc_fail(err, why, base, q);
	p = cc_hparams_scan(p, end, v, &seen, via_param_fast, via_param, &v->params,
			    "Bad Via: bad parameter", base, err);
	if (unlikely(p == NULL))
		return -EBADMSG;
	return cc_list_advance(rest, p, "Bad Via: empty value", err);
}
