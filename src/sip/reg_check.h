/* SPDX-License-Identifier: MIT */
/*
 * reg_check.h - private to src/sip/'s tests and fuzz targets: sip_reg_parse
 * against the existing functions it stands for (sip_msg_parse, here its
 * general split sip_msg_parse_general, sip_uri_parse,
 * sip_msg_vias, sip_msg_from, sip_msg_to, sip_msg_contacts, sip_auth_parse,
 * sip_msg_u32, sip_msg_validate), field by field, on one input.
 *
 * sip_reg_check() returns NULL when both give the same results (return
 * values, errors with their offsets, every field and header slot), or a
 * static description of the first difference.
 */
#ifndef SIPREG_SIP_REG_CHECK_H
#define SIPREG_SIP_REG_CHECK_H

#include <errno.h>
#include <string.h>

#include "sipreg/sip.h"
#include "sip/msg_internal.h"

#define SIP_REG_CHECK_HDRS 64
#define SIP_REG_CHECK_CONTACTS 8

static inline bool rc_same_str(struct sip_str a, struct sip_str b)
{
	return a.p == b.p && a.len == b.len;
}

static inline bool rc_same_err(const struct sip_err *a, const struct sip_err *b)
{
	return a->reason == b->reason && a->off == b->off;
}

static inline bool rc_same_uri(const struct sip_uri *a, const struct sip_uri *b)
{
	return rc_same_str(a->raw, b->raw) && a->scheme == b->scheme &&
	       rc_same_str(a->user, b->user) && rc_same_str(a->password, b->password) &&
	       rc_same_str(a->host, b->host) && a->host_type == b->host_type &&
	       a->port == b->port && rc_same_str(a->params, b->params) &&
	       rc_same_str(a->headers, b->headers) && rc_same_str(a->transport, b->transport) &&
	       rc_same_str(a->maddr, b->maddr) && rc_same_str(a->user_param, b->user_param) &&
	       a->lr == b->lr && rc_same_str(a->opaque, b->opaque);
}

static inline bool rc_same_na(const struct sip_nameaddr *a, const struct sip_nameaddr *b)
{
	return rc_same_str(a->display, b->display) && rc_same_uri(&a->uri, &b->uri) &&
	       a->angle == b->angle && rc_same_str(a->params, b->params) &&
	       rc_same_str(a->tag, b->tag);
}

static inline bool rc_same_via(const struct sip_via *a, const struct sip_via *b)
{
	return rc_same_str(a->proto, b->proto) && rc_same_str(a->transport, b->transport) &&
	       rc_same_str(a->host, b->host) && a->host_type == b->host_type &&
	       a->port == b->port && rc_same_str(a->branch, b->branch) &&
	       rc_same_str(a->received, b->received) && rc_same_str(a->maddr, b->maddr) &&
	       a->rport == b->rport && a->ttl == b->ttl && rc_same_str(a->params, b->params);
}

static inline bool rc_same_contact(const struct sip_contact *a, const struct sip_contact *b)
{
	if (a->star != b->star)
		return false;
	if (!a->star && !rc_same_na(&a->na, &b->na))
		return false;
	return a->expires == b->expires && a->has_expires == b->has_expires && a->q == b->q &&
	       rc_same_str(a->instance, b->instance) && a->reg_id == b->reg_id &&
	       a->has_reg_id == b->has_reg_id;
}

static inline bool rc_same_auth(const struct sip_auth *a, const struct sip_auth *b)
{
	return rc_same_str(a->scheme, b->scheme) && rc_same_str(a->username, b->username) &&
	       rc_same_str(a->realm, b->realm) && rc_same_str(a->nonce, b->nonce) &&
	       rc_same_str(a->uri, b->uri) && rc_same_str(a->response, b->response) &&
	       rc_same_str(a->cnonce, b->cnonce) && rc_same_str(a->opaque, b->opaque) &&
	       rc_same_str(a->qop, b->qop) && rc_same_str(a->nc, b->nc) &&
	       rc_same_str(a->algorithm, b->algorithm) && rc_same_str(a->domain, b->domain) &&
	       a->alg == b->alg && a->nc_val == b->nc_val && a->has_nc == b->has_nc &&
	       a->stale == b->stale && a->userhash == b->userhash &&
	       rc_same_str(a->params, b->params);
}

static inline bool rc_same_msg(const struct sip_msg *a, const struct sip_msg *b)
{
	if (a->is_request != b->is_request || a->method_id != b->method_id ||
	    !rc_same_str(a->method, b->method) || !rc_same_str(a->ruri, b->ruri) ||
	    a->status != b->status || !rc_same_str(a->reason, b->reason) ||
	    a->nhdrs != b->nhdrs || memcmp(a->first, b->first, sizeof(a->first)) != 0 ||
	    memcmp(a->count, b->count, sizeof(a->count)) != 0 ||
	    !rc_same_str(a->call_id, b->call_id) || a->has_cseq != b->has_cseq ||
	    a->has_content_length != b->has_content_length ||
	    a->content_length != b->content_length || !rc_same_str(a->body, b->body) ||
	    a->len != b->len)
		return false;
	if (a->has_cseq && (a->cseq.num != b->cseq.num ||
			    !rc_same_str(a->cseq.method, b->cseq.method) ||
			    a->cseq.method_id != b->cseq.method_id))
		return false;
	for (unsigned i = 0; i < a->nhdrs; i++) {
		const struct sip_hdr *x = &a->hdrs[i], *y = &b->hdrs[i];
		if (!rc_same_str(x->name, y->name) || !rc_same_str(x->value, y->value) ||
		    x->id != y->id || x->next != y->next)
			return false;
	}
	return true;
}

/* A result and its error: the same rc, and when it failed the same error. */
#define RC_CHECK(what, rc1, e1, rc2, e2)                                                 \
	do {                                                                             \
		if ((rc1) != (rc2))                                                      \
			return what ": return value differs";                            \
		if ((rc1) < 0 && !rc_same_err(&(e1), &(e2)))                          \
			return what ": error differs";                                   \
	} while (0)

/*
 * sip_reg_parse on [in, len) with ccap Contact slots (at most
 * SIP_REG_CHECK_CONTACTS) against the existing functions. *rcp gets
 * sip_reg_parse's return value.
 */
static inline const char *sip_reg_check(const char *in, size_t len, unsigned flags, size_t ccap,
					int *rcp)
{
	static struct sip_hdr h1[SIP_REG_CHECK_HDRS], h2[SIP_REG_CHECK_HDRS];
	static struct sip_contact c1[SIP_REG_CHECK_CONTACTS], c2[SIP_REG_CHECK_CONTACTS];
	static struct sip_reg r;
	struct sip_msg m;
	struct sip_uri ruri;
	struct sip_via via;
	struct sip_nameaddr from, to;
	struct sip_auth auth;
	struct sip_err e1 = {0}, e2 = {0}, e = {0};
	const struct sip_hdr *h;
	uint32_t u = 0;
	int n1, n2, rc;

	if (ccap > SIP_REG_CHECK_CONTACTS)
		ccap = SIP_REG_CHECK_CONTACTS;
	n1 = sip_reg_parse(&r, in, len, h1, SIP_REG_CHECK_HDRS, c1, ccap, flags, &e1);
	/* the general split: the one pass shares its block walk with
	 * sip_msg_parse's fast split, whose mistakes would hide its own */
	n2 = sip_msg_parse_general(&m, in, len, h2, SIP_REG_CHECK_HDRS, flags, &e2);
	*rcp = n1;
	if (n1 != n2)
		return "sip_msg_parse: return value differs";
	if (n1 <= 0)
		return rc_same_err(&e1, &e2) ? NULL : "sip_msg_parse: error differs";
	if (e1.reason != NULL || e2.reason != NULL)
		return "sip_msg_parse: err set on success";
	if (!rc_same_msg(&r.msg, &m))
		return "sip_msg_parse: message differs";

	/* Request-URI */
	if (!m.is_request) {
		if (r.ruri_rc != -ENOENT)
			return "ruri: set on a response";
	} else {
		e = (struct sip_err){0};
		rc = sip_uri_parse(&ruri, m.ruri, &e);
		if (rc < 0)
			e.off += (size_t)(m.ruri.p - in);
		RC_CHECK("ruri", r.ruri_rc, r.ruri_err, rc, e);
		if (rc == 0 && !rc_same_uri(&r.ruri, &ruri))
			return "ruri: fields differ";
	}
	/* top Via */
	e = (struct sip_err){0};
	rc = sip_msg_vias(&m, &via, 1, &e);
	RC_CHECK("via", r.via_rc, r.via_err, rc, e);
	if (rc == 1 && !rc_same_via(&r.via, &via))
		return "via: fields differ";
	/* From, To */
	e = (struct sip_err){0};
	rc = sip_msg_from(&m, &from, &e);
	RC_CHECK("from", r.from_rc, r.from_err, rc, e);
	if (rc == 0 && !rc_same_na(&r.from, &from))
		return "from: fields differ";
	e = (struct sip_err){0};
	rc = sip_msg_to(&m, &to, &e);
	RC_CHECK("to", r.to_rc, r.to_err, rc, e);
	if (rc == 0 && !rc_same_na(&r.to, &to))
		return "to: fields differ";
	/* Contacts */
	e = (struct sip_err){0};
	rc = sip_msg_contacts(&m, c2, ccap, &e);
	RC_CHECK("contacts", r.ncontacts, r.contacts_err, rc, e);
	if (r.contacts != c1 || r.ccap != ccap)
		return "contacts: array not kept";
	for (int i = 0; i < rc; i++)
		if (!rc_same_contact(&c1[i], &c2[i]))
			return "contacts: fields differ";
	/* the first Authorization */
	h = sip_msg_hdr(&m, SIP_HDR_AUTHORIZATION);
	if (!h) {
		if (r.auth_rc != -ENOENT)
			return "auth: set without Authorization";
	} else {
		e = (struct sip_err){0};
		rc = sip_auth_parse(&auth, h->value, &e);
		if (rc < 0)
			e.off += (size_t)(h->value.p - in);
		RC_CHECK("auth", r.auth_rc, r.auth_err, rc, e);
		if (rc == 0 && !rc_same_auth(&r.auth, &auth))
			return "auth: fields differ";
	}
	/* Expires, Max-Forwards */
	e = (struct sip_err){0};
	rc = sip_msg_u32(&m, SIP_HDR_EXPIRES, &u, &e);
	RC_CHECK("expires", r.expires_rc, r.expires_err, rc, e);
	if (rc == 0 && r.expires != u)
		return "expires: value differs";
	e = (struct sip_err){0};
	rc = sip_msg_u32(&m, SIP_HDR_MAX_FORWARDS, &u, &e);
	RC_CHECK("max-forwards", r.max_forwards_rc, r.max_forwards_err, rc, e);
	if (rc == 0 && r.max_forwards != u)
		return "max-forwards: value differs";
	/* sip_msg_validate */
	e = (struct sip_err){0};
	rc = sip_msg_validate(&m, &e);
	RC_CHECK("validate", r.valid_rc, r.valid_err, rc, e);
	return NULL;
}

#undef RC_CHECK

#endif /* SIPREG_SIP_REG_CHECK_H */
