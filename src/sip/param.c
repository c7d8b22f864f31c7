/* SPDX-License-Identifier: MIT */
/*
 * param.c - the generic parameter iterator (RFC 3261 §25.1, RFC 7616 §3.4):
 *
 *   generic-param = token [ EQUAL gen-value ]
 *   gen-value     = token / host / quoted-string
 *   auth-param    = auth-param-name EQUAL ( token / quoted-string )
 *   SEMI  = SWS ";" SWS        COMMA = SWS "," SWS        EQUAL = SWS "=" SWS
 *   quoted-string = SWS DQUOTE *(qdtext / quoted-pair ) DQUOTE
 *
 * It walks a slice that holds parameters only (sip_uri.params,
 * sip_nameaddr.params, sip_via.params, sip_auth.params): either ';' or ','
 * separates two of them. An empty parameter (";;", ",,"), a trailing
 * separator, '=' without a value and an unterminated quote are errors.
 */
#include "charclass.h"

int sip_param_next(struct sip_str *rest, struct sip_str *name, struct sip_str *value)
{
	const char *end, *p;

	if (rest->len == 0)
		return 0;
	end = rest->p + rest->len;
	p = cc_skip_ws(rest->p, end);
	if (p == end) {
		*rest = sip_str_make(end, 0);
		return 0;
	}
	if (*p == ';' || *p == ',') {
		p = cc_skip_ws(p + 1, end);
		if (unlikely(p == end))
			return -EBADMSG;
	}
	p = cc_param_read(p, end, name, value);
	if (unlikely(p == NULL))
		return -EBADMSG;
	p = cc_skip_ws(p, end);
	if (unlikely(p != end && *p != ';' && *p != ','))
		return -EBADMSG;
	*rest = sip_str_make(p, (size_t)(end - p));
	return 1;
}
