/* SPDX-License-Identifier: MIT */
/*
 * nameaddr.c - From, To, Route, Path and Contact values (RFC 3261 §20.10,
 * §20.20, §20.39, §25.1; RFC 3327 Path; RFC 5626 +sip.instance and reg-id):
 *
 *   From          = ( "From" / "f" ) HCOLON from-spec
 *   from-spec     = ( name-addr / addr-spec ) *( SEMI from-param )
 *   from-param    = tag-param / generic-param
 *   tag-param     = "tag" EQUAL token
 *   name-addr     = [ display-name ] LAQUOT addr-spec RAQUOT
 *   addr-spec     = SIP-URI / SIPS-URI / absoluteURI
 *   display-name  = *(token LWS)/ quoted-string
 *   LAQUOT        = SWS "<"            RAQUOT = ">" SWS
 *   Contact       = ("Contact" / "m" ) HCOLON
 *                   ( STAR / (contact-param *(COMMA contact-param)))
 *   contact-param = (name-addr / addr-spec) *(SEMI contact-params)
 *   contact-params = c-p-q / c-p-expires / contact-extension
 *   c-p-q         = "q" EQUAL qvalue
 *   c-p-expires   = "expires" EQUAL delta-seconds
 *   qvalue        = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )
 *   delta-seconds = 1*DIGIT
 *   instance      = "+sip.instance" EQUAL DQUOTE "<" instance-val ">" DQUOTE
 *   reg-id        = "reg-id" EQUAL 1*DIGIT   ; 1 to (2^31 - 1)
 *
 * Choices:
 * - A bare addr-spec ends at the first ';', ',' or LWS: what follows ';' is a
 *   HEADER parameter, never a URI parameter (§20.10; RFC 4475 §3.3.12
 *   cparam01 and §3.3.13 cparam02).
 * - No LWS between a token display-name and '<' is accepted (RFC 4475
 *   §3.1.1.6 lwsdisp). An unterminated quote is refused (§3.1.2.6 quotbal);
 *   a ',' in an unquoted display name is refused (§3.1.2.15 baddn).
 * - expires larger than 2^32-1 is clamped to 2^32-1 (RFC 3261 §10.2.1.1 and
 *   §20.19 treat an over-large delta-seconds as the largest value, and the
 *   registrar clamps to its own maximum anyway); q out of 0..1 or with more
 *   than three decimals is an error; reg-id outside 1..2^31-1 is an error.
 * - A known parameter given twice (tag, q, expires, +sip.instance, reg-id)
 *   is an error; other parameters are kept raw in na.params.
 * - err->off is relative to the slice passed in (value, or *rest at the call).
 */
#include "uriscan.h"

#define FAIL(reason, at) (cc_fail(err, (reason), base, (at)), (const char *)NULL)

/* The URI of a name-addr (mode ANGLE, p after '<') or a bare addr-spec
 * (mode BARE). Returns the cursor after '>' / after the URI, NULL on error. */
static inline __attribute__((always_inline)) const char *
scan_uri(const char *p, const char *end, int mode, struct sip_nameaddr *na,
			    const char *base, struct sip_err *err)
{
	const char *why = NULL, *at = p, *q;

	q = uri_scan(&na->uri, p, end, mode, &why, &at);
	if (unlikely(q == NULL))
		return FAIL(why, at);
	if (mode == SIP_URI_SCAN_ANGLE) {
		if (likely(q != end && *q == '>'))
			return q + 1;
		return FAIL(q == end ? "Bad address: missing '>'" : "Bad URI: unexpected character",
			    q);
	}
	if (unlikely(q != end && *q != ';' && *q != ',' && !cc_is(*q, CC_WS)))
		return FAIL("Bad URI: unexpected character", q);
	return q;
}

/* [ display-name ] "<" URI ">" / addr-spec. p is on the first non-LWS byte.
 * Returns the cursor after the URI or its '>', NULL on error (err set). */
static inline __attribute__((always_inline)) const char *scan_nameaddr(const char *p, const char *end, struct sip_nameaddr *na,
				 const char *base, struct sip_err *err)
{
	const char *q, *d = p, *last;

	na->display = SIP_STR_NULL;
	na->angle = false;
	na->params = SIP_STR_NULL;
	na->tag = SIP_STR_NULL;
	if (unlikely(p == end))
		return FAIL("Bad address: empty value", p);
	if (*p == '"') {
		q = cc_quoted_end(p + 1, end);
		if (unlikely(q == NULL))
			return FAIL("Bad address: unterminated quoted display name", p);
		na->display = sip_str_make(p + 1, (size_t)(q - p - 1));
		p = cc_skip_ws(q + 1, end);
		if (unlikely(p == end || *p != '<'))
			return FAIL("Bad address: no '<' after the display name", p);
	} else if (*p != '<') {
		q = cc_span(p, end, CC_TOKEN);
		if (unlikely(q == p))
			return FAIL("Bad address: bad display name", p);
		if (q != end && *q == ':')
			return scan_uri(p, end, SIP_URI_SCAN_BARE, na, base, err);
		for (last = q;;) {
			p = cc_skip_ws(last, end);
			if (p != end && *p == '<')
				break;
			q = cc_span(p, end, CC_TOKEN);
			if (unlikely(q == p))
				return FAIL(p == end ? "Bad address: no '<' after the display name"
						     : "Bad address: bad display name",
					    p);
			last = q;
		}
		na->display = sip_str_make(d, (size_t)(last - d));
	}
	na->angle = true;
	return scan_uri(p + 1, end, SIP_URI_SCAN_ANGLE, na, base, err);
}

/* The usual ";tag=TOKEN" (any case, no LWS) without the generic token scans
 * (cc_hparams_scan's fast path): the cursor after it, or NULL for anything
 * else, a second tag included, which the generic path reads with the same
 * result. */
static inline const char *tag_fast(void *obj, const char *p, const char *end, unsigned *seen)
{
	struct sip_nameaddr *na = obj;
	const char *q;

	(void)seen;
	if (end - p >= 6 && *p == ';' &&
	    (cc_load(p + 1, 4) | 0x00202020u) == CC_LIT("tag=") &&
	    !sip_str_isset(na->tag)) {
		q = cc_span(p + 5, end, CC_PVAL);
		if (likely(q != p + 5)) {
			na->tag = sip_str_make(p + 5, (size_t)(q - p - 5));
			return q;
		}
	}
	return NULL;
}

/* One From/To/Route/Path parameter: NULL, or the reason it is bad. */
static inline const char *tag_param(void *obj, struct sip_str n, struct sip_str v,
				    unsigned *seen)
{
	struct sip_nameaddr *na = obj;

	(void)seen;
	if (n.len == 3 && CC_LIT_CASEEQ(n.p, n.len, "tag")) {
		if (unlikely(sip_str_isset(na->tag)))
			return "Bad address: duplicate tag";
		if (unlikely(v.p == NULL))
			return "Bad address: tag without a value";
		na->tag = v;
	}
	return NULL;
}

/* Header parameters of a From/To/Route/Path element; tag found. Returns the
 * cursor at ',' or the end, NULL on error. */
static inline __attribute__((always_inline)) const char *scan_params(const char *p, const char *end, struct sip_nameaddr *na,
			       const char *base, struct sip_err *err)
{
	unsigned seen = 0;

	return cc_hparams_scan(p, end, na, &seen, tag_fast, tag_param, &na->params,
			       "Bad address: bad parameter", base, err);
}

int sip_nameaddr_parse(struct sip_nameaddr *na, struct sip_str value, struct sip_err *err)
{
	const char *base = value.p, *end = value.p + value.len, *p;

	if (unlikely(value.len == 0))
		return cc_fail(err, "Bad address: empty value", base, base);
	p = scan_nameaddr(cc_skip_ws(value.p, end), end, na, base, err);
	if (unlikely(p == NULL))
		return -EBADMSG;
	p = scan_params(p, end, na, base, err);
	if (unlikely(p == NULL))
		return -EBADMSG;
	if (unlikely(p != end))
		return cc_fail(err, "Bad address: more than one value", base, p);
	return 0;
}

int sip_nameaddr_next(struct sip_str *rest, struct sip_nameaddr *na, struct sip_err *err)
{
	const char *base = rest->p, *end, *p;
	int r = cc_list_start(rest, &p, "Bad address: empty list element", err);

	if (r <= 0)
		return r;
	end = rest->p + rest->len;
	p = scan_nameaddr(p, end, na, base, err);
	if (unlikely(p == NULL))
		return -EBADMSG;
	p = scan_params(p, end, na, base, err);
	if (unlikely(p == NULL))
		return -EBADMSG;
	return cc_list_advance(rest, p, "Bad address: empty list element", err);
}

/* qvalue to thousandths; -1 when malformed or above 1. */
static int parse_q(struct sip_str v)
{
	unsigned q, mult = 100;

	if (v.len == 0 || (v.p[0] != '0' && v.p[0] != '1'))
		return -1;
	q = (unsigned)(v.p[0] - '0') * 1000;
	if (v.len == 1)
		return (int)q;
	if (v.p[1] != '.' || v.len > 5)
		return -1;
	for (size_t i = 2; i < v.len; i++, mult /= 10) {
		if (!cc_is(v.p[i], CC_DIGIT))
			return -1;
		q += (unsigned)(v.p[i] - '0') * mult;
	}
	return q > 1000 ? -1 : (int)q;
}

/* delta-seconds, clamped at 2^32-1; false when not digits. */
static bool parse_delta(struct sip_str v, uint32_t *out)
{
	uint64_t n = 0;

	if (v.len == 0)
		return false;
	for (size_t i = 0; i < v.len; i++) {
		if (!cc_is(v.p[i], CC_DIGIT))
			return false;
		n = n * 10 + (unsigned)(v.p[i] - '0');
		if (n > UINT32_MAX)
			n = (uint64_t)UINT32_MAX + 1; /* saturate, keep checking digits */
	}
	*out = n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
	return true;
}

enum {
	CP_Q = 1,
	CP_EXPIRES = 2,
	CP_INSTANCE = 4,
	CP_REGID = 8,
};

/* One known contact parameter: 0, or the reason it is bad. */
static const char *contact_param(void *obj, struct sip_str n, struct sip_str v, unsigned *seen)
{
	struct sip_contact *c = obj;
	unsigned bit;
	int q;

	if (n.len == 1 && (n.p[0] | 0x20) == 'q')
		bit = CP_Q;
	else if (n.len == 7 && CC_LIT_CASEEQ(n.p, n.len, "expires"))
		bit = CP_EXPIRES;
	else if (n.len == 13 && CC_LIT_CASEEQ(n.p, n.len, "+sip.instance"))
		bit = CP_INSTANCE;
	else if (n.len == 6 && CC_LIT_CASEEQ(n.p, n.len, "reg-id"))
		bit = CP_REGID;
	else
		return NULL;
	if (unlikely(*seen & bit))
		return "Bad Contact: duplicate parameter";
	*seen |= bit;
	if (unlikely(v.p == NULL))
		return "Bad Contact: parameter without a value";
	switch (bit) {
	case CP_Q:
		if (unlikely((q = parse_q(v)) < 0))
			return "Bad Contact: bad q";
		c->q = (uint16_t)q;
		break;
	case CP_EXPIRES:
		if (unlikely(!parse_delta(v, &c->expires)))
			return "Bad Contact: bad expires";
		c->has_expires = true;
		break;
	case CP_INSTANCE:
		c->instance = v;
		break;
	case CP_REGID:
		if (unlikely(sip_str_to_u32(v, &c->reg_id) < 0 || c->reg_id == 0 ||
			     c->reg_id > 0x7fffffffu))
			return "Bad Contact: bad reg-id";
		c->has_reg_id = true;
		break;
	}
	return NULL;
}

/* 1 to 9 DIGIT at p, not followed by another generic-param value byte (the
 * generic scan would take the same slice): the cursor after them with *out
 * set, or NULL (the caller takes the generic path, which also gives the
 * errors). */
static inline const char *digits9(const char *p, const char *end, uint32_t *out)
{
	const char *s = p;
	uint32_t n = 0;

	while (p != end && p - s < 9 && (unsigned)(*p - '0') <= 9)
		n = n * 10 + (uint32_t)(*p++ - '0');
	if (unlikely(p == s || (p != end && cc_is(*p, CC_PVAL))))
		return NULL;
	*out = n;
	return p;
}

/*
 * The usual contact params, without the generic token scans: p on the ';'
 * of ";expires=DIGITS", ";reg-id=DIGITS" or ";+sip.instance=\"...\"" (the
 * name in any case, no LWS). Fills the field and returns the cursor after the
 * value, or NULL for anything else (another param, LWS, a duplicate, a value
 * the generic path must judge): the generic path then reads it, with the
 * same result.
 */
static inline const char *contact_param_fast(void *obj, const char *p, const char *end,
					     unsigned *seen)
{
	struct sip_contact *c = obj;
	uint64_t w;
	const char *q;
	uint32_t n;

	if (end - p < 9 || *p != ';')
		return NULL;
	w = cc_load(p + 1, 8); /* p[1 .. 9) */
	/* 0x20 ORed into the letter positions only: '-', '+', '.', '=' exact */
	if ((w | 0x0020202020202020ull) == CC_LIT8("expires=") && end - p >= 10) {
		if (unlikely(*seen & CP_EXPIRES) || !(q = digits9(p + 9, end, &n)))
			return NULL;
		*seen |= CP_EXPIRES;
		c->expires = n;
		c->has_expires = true;
		return q;
	}
	if (((w | 0x0000202000202020ull) & 0x00ffffffffffffffull) == CC_LIT8("reg-id=")) {
		if (unlikely(*seen & CP_REGID) || !(q = digits9(p + 8, end, &n)) ||
		    n == 0)
			return NULL;
		*seen |= CP_REGID;
		c->reg_id = n;
		c->has_reg_id = true;
		return q;
	}
	if (end - p >= 17 && (w | 0x2020200020202000ull) == CC_LIT8("+sip.ins") &&
	    (cc_load(p + 7, 8) | 0x0020202020202020ull) == CC_LIT8("nstance=") &&
	    p[15] == '"') {
		if (unlikely(*seen & CP_INSTANCE) || !(q = cc_quoted_end(p + 16, end)))
			return NULL;
		*seen |= CP_INSTANCE;
		c->instance = sip_str_make(p + 16, (size_t)(q - p - 16));
		return q + 1;
	}
	return NULL;
}

int sip_contact_next(struct sip_str *rest, struct sip_contact *c, struct sip_err *err)
{
	const char *base = rest->p, *end, *p;
	unsigned seen = 0;
	int r = cc_list_start(rest, &p, "Bad Contact: empty list element", err);

	if (r <= 0)
		return r;
	end = rest->p + rest->len;
	c->star = false;
	c->expires = 0;
	c->has_expires = false;
	c->q = SIP_Q_DEFAULT;
	c->instance = SIP_STR_NULL;
	c->reg_id = 0;
	c->has_reg_id = false;
	if (*p == '*') {
		if (unlikely(cc_skip_ws(p + 1, end) != end))
			return cc_fail(err, "Bad Contact: '*' must stand alone", base, p);
		cc_zero(&c->na, sizeof(c->na));
		c->star = true;
		*rest = sip_str_make(end, 0);
		return 1;
	}
	p = scan_nameaddr(p, end, &c->na, base, err);
	if (unlikely(p == NULL))
		return -EBADMSG;
	p = cc_hparams_scan(p, end, c, &seen, contact_param_fast, contact_param, &c->na.params,
			    "Bad Contact: bad parameter", base, err);
	if (unlikely(p == NULL))
		return -EBADMSG;
	return cc_list_advance(rest, p, "Bad Contact: empty list element", err);
}
