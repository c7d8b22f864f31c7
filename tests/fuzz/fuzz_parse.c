/* SPDX-License-Identifier: MIT */
/*
 * fuzz_parse.c - libFuzzer target for the SIP message core (include/sipreg/sip.h).
 *
 * Build (clang, libFuzzer + ASan + UBSan; the sipreg sources are recompiled
 * for this target with the same instrumentation, see tests/fuzz/meson.build):
 *
 *   CC=clang meson setup build-fuzz -Dfuzz=true -Dtests=false -Dbench=false \
 *       -Djemalloc=disabled
 *   ninja -C build-fuzz tests/fuzz/fuzz_parse
 *
 * Run (seeded from the corpus; tools/fuzz-seed prints the seed directory):
 *
 *   SEED=$(tools/fuzz-seed) && mkdir -p /tmp/fuzz-parse-corpus && \
 *   build-fuzz/tests/fuzz/fuzz_parse -max_total_time=600 -jobs=1 -workers=1 \
 *       -max_len=4096 -timeout=10 -artifact_prefix=/tmp/fuzz-parse- \
 *       -dict=tests/fuzz/sip.dict /tmp/fuzz-parse-corpus "$SEED"
 *
 * What one input does: the bytes are copied into an exactly sized heap
 * buffer (so ASan reports any read past the end), then parsed as a datagram
 * and as a stream, each with and without SIP_PARSE_LF. Whenever the split
 * succeeds every message-level helper and body parser runs: validate, Vias,
 * Contacts, From/To, the name-addrs of Path/Route/Record-Route, every
 * Authorization / Proxy-Authorization / WWW-Authenticate / Proxy-Authenticate,
 * CSeq, the integer headers, the Request-URI, header lookups by name, and the
 * generic parameters of every Via and Contact; the registration view
 * (sip_reg_parse) is compared with those functions field by field
 * (src/sip/reg_check.h). The results are checked for
 * consistency (slices inside the input, counts within the capacity), and an
 * inconsistency aborts: that is a bug too, not only a crash.
 * See docs/FUZZING.md for the results of the runs.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sipreg/sip.h"
#include "sip/msg_internal.h"
#include "sip/reg_check.h"

#define CAP_HDRS 64
#define CAP_VIAS 16
#define CAP_CONTACTS 16
#define CAP_NAMEADDRS 16

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Abort with a message on an inconsistent result: libFuzzer saves the input. */
#define FUZZ_CHECK(cond)                                                                 \
	do {                                                                             \
		if (!(cond)) {                                                           \
			fprintf(stderr, "fuzz_parse: %s:%d: %s\n", __FILE__, __LINE__,   \
				#cond);                                                  \
			abort();                                                         \
		}                                                                        \
	} while (0)

static const char *g_buf;
static size_t g_len;

/* A slice produced by the parser must be unset or lie inside the input. */
static void in_buf(struct sip_str s)
{
	volatile char c;

	if (!s.p) {
		FUZZ_CHECK(s.len == 0);
		return;
	}
	if (s.len == 0) /* a found-but-empty value may point anywhere */
		return;
	FUZZ_CHECK(s.p >= g_buf && s.len <= g_len && (size_t)(s.p - g_buf) <= g_len - s.len);
	/* touch both ends so ASan sees any bad slice */
	c = s.p[0];
	c = s.p[s.len - 1];
	(void)c;
}

static void check_err(int rc, const struct sip_err *err)
{
	if (rc == -EBADMSG)
		FUZZ_CHECK(err->reason != NULL && err->reason[0] != '\0');
}

static void walk_params(struct sip_str rest)
{
	struct sip_str name, value;
	int n = 0;

	while (n++ < 256 && sip_param_next(&rest, &name, &value) == 1) {
		in_buf(name);
		in_buf(value);
	}
}

static void check_uri(const struct sip_uri *u)
{
	in_buf(u->raw);
	in_buf(u->user);
	in_buf(u->password);
	in_buf(u->host);
	in_buf(u->params);
	in_buf(u->headers);
	in_buf(u->transport);
	in_buf(u->maddr);
	in_buf(u->user_param);
	in_buf(u->opaque);
	walk_params(u->params);
}

static void check_nameaddr(const struct sip_nameaddr *na)
{
	in_buf(na->display);
	in_buf(na->params);
	in_buf(na->tag);
	check_uri(&na->uri);
	walk_params(na->params);
}

static void fuzz_auth(const struct sip_msg *m, enum sip_hdr_id id)
{
	struct sip_auth a;
	struct sip_err err = {0};
	char tmp[256];

	for (const struct sip_hdr *h = sip_msg_hdr(m, id); h; h = sip_msg_hdr_next(m, h)) {
		int rc = sip_auth_parse(&a, h->value, &err);
		check_err(rc, &err);
		if (rc < 0)
			continue;
		in_buf(a.scheme);
		in_buf(a.username);
		in_buf(a.realm);
		in_buf(a.nonce);
		in_buf(a.uri);
		in_buf(a.response);
		in_buf(a.cnonce);
		in_buf(a.opaque);
		in_buf(a.qop);
		in_buf(a.nc);
		in_buf(a.algorithm);
		in_buf(a.domain);
		in_buf(a.params);
		FUZZ_CHECK(a.alg <= SIP_DIGEST_UNKNOWN);
		/* the unquoting a registrar does before hashing */
		if (sip_str_isset(a.username)) {
			ssize_t n = sip_str_unquote(tmp, sizeof(tmp), a.username);
			FUZZ_CHECK(n == -ENOSPC || (n >= 0 && (size_t)n <= a.username.len));
		}
	}
}

static void fuzz_helpers(const struct sip_msg *m)
{
	struct sip_via vias[CAP_VIAS];
	struct sip_contact contacts[CAP_CONTACTS];
	struct sip_nameaddr nas[CAP_NAMEADDRS], na;
	struct sip_uri uri;
	struct sip_cseq cseq;
	struct sip_err err = {0};
	uint32_t u;
	int n;

	FUZZ_CHECK(m->nhdrs <= CAP_HDRS);
	in_buf(m->method);
	in_buf(m->ruri);
	in_buf(m->reason);
	in_buf(m->call_id);
	in_buf(m->body);
	if (m->has_cseq) /* else m->cseq is not written */
		in_buf(m->cseq.method);
	for (size_t i = 0; i < m->nhdrs; i++) {
		in_buf(m->hdrs[i].name);
		in_buf(m->hdrs[i].value);
		FUZZ_CHECK(m->hdrs[i].id < SIP_HDR__COUNT);
		FUZZ_CHECK(m->hdrs[i].next <= m->nhdrs);
		/* lookup by the received name finds a header of the same id */
		const struct sip_hdr *h = sip_msg_hdr_by_name(m, m->hdrs[i].name);
		FUZZ_CHECK(h != NULL && h->id == m->hdrs[i].id);
		FUZZ_CHECK(sip_hdr_lookup(m->hdrs[i].name.p, m->hdrs[i].name.len) ==
			   m->hdrs[i].id);
	}

	n = sip_msg_validate(m, &err);
	check_err(n, &err);

	if (m->is_request) {
		n = sip_uri_parse(&uri, m->ruri, &err);
		check_err(n, &err);
		if (n == 0)
			check_uri(&uri);
	}

	n = sip_msg_vias(m, vias, CAP_VIAS, &err);
	check_err(n, &err);
	FUZZ_CHECK(n <= CAP_VIAS);
	for (int i = 0; i < n; i++) {
		in_buf(vias[i].proto);
		in_buf(vias[i].transport);
		in_buf(vias[i].host);
		in_buf(vias[i].branch);
		in_buf(vias[i].received);
		in_buf(vias[i].maddr);
		in_buf(vias[i].params);
		FUZZ_CHECK(vias[i].rport >= -1);
		walk_params(vias[i].params);
	}

	n = sip_msg_contacts(m, contacts, CAP_CONTACTS, &err);
	check_err(n, &err);
	FUZZ_CHECK(n <= CAP_CONTACTS);
	for (int i = 0; i < n; i++) {
		if (contacts[i].star) {
			FUZZ_CHECK(n == 1);
			continue;
		}
		check_nameaddr(&contacts[i].na);
		in_buf(contacts[i].instance);
		FUZZ_CHECK(contacts[i].q <= 1000);
	}

	n = sip_msg_from(m, &na, &err);
	check_err(n, &err);
	if (n == 0)
		check_nameaddr(&na);
	n = sip_msg_to(m, &na, &err);
	check_err(n, &err);
	if (n == 0)
		check_nameaddr(&na);

	static const enum sip_hdr_id na_ids[] = {SIP_HDR_PATH, SIP_HDR_ROUTE,
						 SIP_HDR_RECORD_ROUTE};
	for (size_t k = 0; k < sizeof(na_ids) / sizeof(na_ids[0]); k++) {
		n = sip_msg_nameaddrs(m, na_ids[k], nas, CAP_NAMEADDRS, &err);
		check_err(n, &err);
		FUZZ_CHECK(n <= CAP_NAMEADDRS);
		for (int i = 0; i < n; i++)
			check_nameaddr(&nas[i]);
	}

	fuzz_auth(m, SIP_HDR_AUTHORIZATION);
	fuzz_auth(m, SIP_HDR_PROXY_AUTHORIZATION);
	fuzz_auth(m, SIP_HDR_WWW_AUTHENTICATE);
	fuzz_auth(m, SIP_HDR_PROXY_AUTHENTICATE);

	static const enum sip_hdr_id u32_ids[] = {SIP_HDR_EXPIRES, SIP_HDR_MIN_EXPIRES,
						  SIP_HDR_MAX_FORWARDS,
						  SIP_HDR_CONTENT_LENGTH};
	for (size_t k = 0; k < sizeof(u32_ids) / sizeof(u32_ids[0]); k++) {
		n = sip_msg_u32(m, u32_ids[k], &u, &err);
		check_err(n, &err);
	}

	/* the CSeq the split parsed agrees with a fresh parse of its header */
	const struct sip_hdr *h = sip_msg_hdr(m, SIP_HDR_CSEQ);
	if (h) {
		n = sip_cseq_parse(&cseq, h->value, &err);
		check_err(n, &err);
		if (n == 0 && m->has_cseq)
			FUZZ_CHECK(cseq.num == m->cseq.num);
	}
}

static bool str_same(struct sip_str a, struct sip_str b)
{
	return a.p == b.p && a.len == b.len;
}

/*
 * sip_msg_parse (which tries the fast split first) and the general split
 * alone must agree on everything: the result, the error, every field and
 * every header slot.
 */
static void diff_split(const char *buf, size_t len, unsigned flags, int n,
		       const struct sip_msg *m, const struct sip_hdr *hdrs,
		       const struct sip_err *err)
{
	struct sip_hdr h2[CAP_HDRS];
	struct sip_msg m2;
	struct sip_err e2 = {0};
	int n2 = sip_msg_parse_general(&m2, buf, len, h2, CAP_HDRS, flags, &e2);

	FUZZ_CHECK(n == n2);
	if (n < 0) {
		FUZZ_CHECK(err->reason == e2.reason || (err->reason && e2.reason &&
							 strcmp(err->reason, e2.reason) == 0));
		FUZZ_CHECK(!err->reason || err->off == e2.off);
		return;
	}
	FUZZ_CHECK(m->is_request == m2.is_request && m->method_id == m2.method_id);
	FUZZ_CHECK(str_same(m->method, m2.method) && str_same(m->ruri, m2.ruri));
	FUZZ_CHECK(m->status == m2.status && str_same(m->reason, m2.reason));
	FUZZ_CHECK(m->nhdrs == m2.nhdrs);
	FUZZ_CHECK(memcmp(m->first, m2.first, sizeof(m->first)) == 0);
	FUZZ_CHECK(memcmp(m->count, m2.count, sizeof(m->count)) == 0);
	FUZZ_CHECK(str_same(m->call_id, m2.call_id) && m->has_cseq == m2.has_cseq);
	if (m->has_cseq)
		FUZZ_CHECK(m->cseq.num == m2.cseq.num && str_same(m->cseq.method, m2.cseq.method) &&
			   m->cseq.method_id == m2.cseq.method_id);
	FUZZ_CHECK(m->has_content_length == m2.has_content_length &&
		   m->content_length == m2.content_length);
	FUZZ_CHECK(str_same(m->body, m2.body) && m->len == m2.len);
	for (unsigned i = 0; i < m->nhdrs; i++)
		FUZZ_CHECK(str_same(hdrs[i].name, h2[i].name) &&
			   str_same(hdrs[i].value, h2[i].value) && hdrs[i].id == h2[i].id &&
			   hdrs[i].next == h2[i].next);
}

/* The registration view (sip_reg_parse) against the existing functions it
 * stands for, field by field (src/sip/reg_check.h), with 8 and 1 Contact
 * slots. */
static void diff_reg(const char *buf, size_t len, unsigned flags)
{
	for (size_t ccap = 8; ccap; ccap = ccap == 8 ? 1 : 0) {
		int rc;
		const char *why = sip_reg_check(buf, len, flags, ccap, &rc);

		if (why) {
			fprintf(stderr, "fuzz_parse: sip_reg_parse (flags %u, ccap %zu): %s\n",
				flags, ccap, why);
			abort();
		}
	}
}

static void fuzz_one(const char *buf, size_t len, unsigned flags)
{
	struct sip_hdr hdrs[CAP_HDRS];
	struct sip_msg m;
	struct sip_err err = {0};
	int n;

	diff_reg(buf, len, flags);

	n = sip_msg_parse(&m, buf, len, hdrs, CAP_HDRS, flags, &err);
	check_err(n, &err);
	diff_split(buf, len, flags, n, &m, hdrs, &err);
	if (n == -EAGAIN)
		FUZZ_CHECK(flags & SIP_PARSE_STREAM);
	if (n <= 0)
		return;
	FUZZ_CHECK((size_t)n <= len && (size_t)n == m.len);
	fuzz_helpers(&m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* exactly sized: one byte past the end is outside the allocation */
	char *buf = malloc(size ? size : 1);

	if (!buf)
		return 0;
	memcpy(buf, data, size);
	g_buf = buf;
	g_len = size;

	fuzz_one(buf, size, SIP_PARSE_DATAGRAM);
	fuzz_one(buf, size, SIP_PARSE_DATAGRAM | SIP_PARSE_LF);
	fuzz_one(buf, size, SIP_PARSE_STREAM);
	fuzz_one(buf, size, SIP_PARSE_STREAM | SIP_PARSE_LF);

	/* the body parsers on their own, on the raw bytes as one header value */
	{
		struct sip_str s = sip_str_make(buf, size);
		struct sip_err err = {0};
		struct sip_uri u;
		struct sip_auth a;
		struct sip_nameaddr na;
		struct sip_via v;
		struct sip_contact c;
		int k = 0, rc;

		rc = sip_uri_parse(&u, s, &err);
		check_err(rc, &err);
		rc = sip_auth_parse(&a, s, &err);
		check_err(rc, &err);
		rc = sip_nameaddr_parse(&na, s, &err);
		check_err(rc, &err);
		for (struct sip_str r = s; k < 64 && sip_via_next(&r, &v, &err) == 1; k++)
			in_buf(v.branch);
		k = 0;
		for (struct sip_str r = s; k < 64 && sip_contact_next(&r, &c, &err) == 1; k++)
			in_buf(c.instance);
	}
	free(buf);
	return 0;
}
