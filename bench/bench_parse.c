/* SPDX-License-Identifier: MIT */
/*
 * bench_parse - sipreg's parser against libosip2 on the same three messages
 * (bench_parse_msgs.h): an authenticated REGISTER, a 200 OK with three
 * Contacts and a 401 challenge.
 *
 * "Parsed" means everything the registrar needs, nothing deferred:
 *   sipreg: the REGISTER by sip_reg_parse (one call: the split, Request-URI,
 *           top Via, From, To, Contacts, Authorization, Expires,
 *           Max-Forwards and sip_msg_validate's verdict, valid_rc); the
 *           200 and 401 by
 *           sip_msg_parse + sip_msg_validate + sip_msg_vias + sip_msg_from +
 *           sip_msg_to + sip_msg_contacts + sip_auth_parse of
 *           WWW-Authenticate + sip_msg_u32 (Expires);
 *   osip:   osip_message_init + osip_message_parse (eager: every header
 *           above is parsed into its structure) + the accessors that read
 *           the same fields + osip_message_free.
 * Each iteration checks the results (branch length, CSeq number, tags,
 * Contact params, nonce-count ...) so nothing can be optimised away, and a
 * wrong result aborts.
 *
 * Timing: per message kind and implementation, the iteration count is
 * calibrated so that one run lasts at least --time seconds; --runs runs
 * (at least 5 by default) alternate between the two implementations and the
 * median ns per message is printed with the range. The last line is
 *   parse-ratio: osip/sipreg = X
 * for the authenticated REGISTER.
 *
 *   bench_parse [--runs N] [--time SECONDS] [--iters N] [--only sipreg|osip]
 *               [--kind register|200|401]
 * --iters fixes the iteration count (no calibration) and --kind picks one
 * message, for valgrind --tool=callgrind.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <osipparser2/osip_parser.h>

#ifdef BENCH_HAVE_JEMALLOC
#include <jemalloc/jemalloc.h>
#endif

#include "sipreg/sip.h"

#include "bench_parse_msgs.h"

#define MAX_RUNS 101

/* A wrong parse result is a bug, never a number to report. */
#define CHECK(cond)                                                                      \
	do {                                                                             \
		if (sip_unlikely(!(cond))) {                                             \
			fprintf(stderr, "bench_parse: %s:%d: check failed: %s\n",       \
				__FILE__, __LINE__, #cond);                              \
			abort();                                                         \
		}                                                                        \
	} while (0)

enum kind {
	KIND_REGISTER,
	KIND_200,
	KIND_401,
	KIND__COUNT,
};

struct bench_msg {
	const char *name;
	const char *text;
	size_t len;
};

static const struct bench_msg msgs[KIND__COUNT] = {
	[KIND_REGISTER] = {"REGISTER+auth", bench_msg_register, sizeof(bench_msg_register) - 1},
	[KIND_200] = {"200 OK, 3 Contacts", bench_msg_200, sizeof(bench_msg_200) - 1},
	[KIND_401] = {"401 challenge", bench_msg_401, sizeof(bench_msg_401) - 1},
};

/* One parse of one message; returns a value folded into a sink. */
typedef unsigned (*parse_fn)(enum kind k, const char *buf, size_t len);

static volatile unsigned sink;

/* ------------------------------------------------------------------------ */
/* sipreg                                                                    */

static unsigned sipreg_common(struct sip_msg *m, const char *buf, size_t len,
			      struct sip_hdr *hdrs, size_t cap, struct sip_via *vias,
			      struct sip_nameaddr *from, struct sip_nameaddr *to)
{
	struct sip_err err;
	int n;

	n = sip_msg_parse(m, buf, len, hdrs, cap, SIP_PARSE_DATAGRAM, &err);
	CHECK(n == (int)len);
	CHECK(sip_msg_validate(m, &err) == 0);
	CHECK(sip_msg_vias(m, vias, 4, &err) == 1);
	CHECK(vias[0].branch.len == 16 && vias[0].port == 5060);
	CHECK(sip_msg_from(m, from, &err) == 0);
	CHECK(from->tag.len == 10);
	CHECK(sip_msg_to(m, to, &err) == 0);
	CHECK(m->call_id.len >= 14);
	return (unsigned)n + vias[0].branch.len;
}

/* The REGISTER through the registration view: one call parses the message
 * and every field below (sip_reg_parse), the same fields and checks as
 * the per-header functions of the 200 and 401 paths. */
static unsigned sipreg_register(const char *buf, size_t len)
{
	struct sip_hdr hdrs[32];
	struct sip_contact contacts[8];
	struct sip_reg r;
	struct sip_err err;
	int n;

	n = sip_reg_parse(&r, buf, len, hdrs, 32, contacts, 8, SIP_PARSE_DATAGRAM, &err);
	CHECK(n == (int)len);
	CHECK(r.valid_rc == 0); /* sip_msg_validate(&r.msg), from the pass */
	CHECK(r.via_rc == 1);
	CHECK(r.via.branch.len == 16 && r.via.port == 5060);
	CHECK(r.from_rc == 0 && r.from.tag.len == 10);
	CHECK(r.to_rc == 0);
	CHECK(r.msg.call_id.len >= 14);
	CHECK(r.msg.is_request && r.msg.method_id == SIP_METHOD_REGISTER);
	CHECK(r.msg.cseq.num == 1826);
	CHECK(r.ruri_rc == 0 && r.ruri.host.len == 11);
	CHECK(r.via.rport == 0);
	CHECK(!sip_str_isset(r.to.tag));
	CHECK(r.ncontacts == 1);
	CHECK(contacts[0].has_expires && contacts[0].expires == 3600);
	CHECK(contacts[0].has_reg_id && contacts[0].reg_id == 1);
	CHECK(contacts[0].instance.len == 47);
	CHECK(r.auth_rc == 0);
	CHECK(r.auth.username.len == 5 && r.auth.realm.len == 11);
	CHECK(r.auth.nonce.len == 34 && r.auth.uri.len == 15);
	CHECK(r.auth.response.len == 32 && r.auth.cnonce.len == 8);
	CHECK(r.auth.alg == SIP_DIGEST_MD5 && r.auth.qop.len == 4);
	CHECK(r.auth.has_nc && r.auth.nc_val == 1);
	CHECK(r.expires_rc == 0 && r.expires == 3600);
	CHECK(r.max_forwards_rc == 0 && r.max_forwards == 70);
	return (unsigned)n + r.via.branch.len + r.auth.nc_val + contacts[0].expires;
}

static unsigned sipreg_parse(enum kind k, const char *buf, size_t len)
{
	struct sip_hdr hdrs[32];
	struct sip_msg m;
	struct sip_via vias[4];
	struct sip_nameaddr from, to;
	struct sip_contact contacts[8];
	struct sip_auth auth;
	struct sip_err err;
	const struct sip_hdr *h;
	uint32_t expires;
	unsigned r;

	if (k == KIND_REGISTER)
		return sipreg_register(buf, len);
	r = sipreg_common(&m, buf, len, hdrs, 32, vias, &from, &to);
	switch (k) {
	case KIND_200:
		CHECK(!m.is_request && m.status == 200 && m.cseq.num == 1826);
		CHECK(vias[0].rport == 5060 && vias[0].received.len == 11);
		CHECK(to.tag.len == 9);
		CHECK(sip_msg_contacts(&m, contacts, 8, &err) == 3);
		CHECK(contacts[0].expires == 3600 && contacts[0].reg_id == 1);
		CHECK(contacts[1].expires == 1800 && contacts[1].q == 500);
		CHECK(contacts[2].expires == 120 && contacts[2].q == 100);
		CHECK(contacts[2].na.uri.host_type == SIP_HOST_IPV6);
		CHECK(sip_msg_u32(&m, SIP_HDR_EXPIRES, &expires, &err) == -ENOENT);
		return r + contacts[2].q;
	case KIND_401:
		CHECK(!m.is_request && m.status == 401 && m.cseq.num == 1825);
		h = sip_msg_hdr(&m, SIP_HDR_WWW_AUTHENTICATE);
		CHECK(h != NULL);
		CHECK(sip_auth_parse(&auth, h->value, &err) == 0);
		CHECK(auth.realm.len == 11 && auth.nonce.len == 34 && auth.opaque.len == 32);
		CHECK(auth.alg == SIP_DIGEST_MD5 && auth.qop.len == 4 && !auth.stale);
		CHECK(sip_msg_contacts(&m, contacts, 8, &err) == 0);
		return r + (unsigned)auth.nonce.len;
	default:
		abort();
	}
}

/* ------------------------------------------------------------------------ */
/* libosip2                                                                  */

static size_t osip_param_len(osip_generic_param_t *p)
{
	return p && p->gvalue ? strlen(p->gvalue) : 0;
}

static unsigned osip_parse(enum kind k, const char *buf, size_t len)
{
	osip_message_t *sip;
	osip_via_t *via;
	osip_generic_param_t *p;
	osip_contact_t *c;
	osip_authorization_t *a;
	osip_www_authenticate_t *w;
	unsigned r;

	CHECK(osip_message_init(&sip) == 0);
	CHECK(osip_message_parse(sip, buf, len) == 0);
	CHECK(osip_message_get_via(sip, 0, &via) >= 0 && via);
	CHECK(osip_list_size(&sip->vias) == 1);
	p = NULL;
	osip_via_param_get_byname(via, "branch", &p);
	CHECK(osip_param_len(p) == 16);
	CHECK(sip->from && sip->to && sip->call_id && sip->cseq);
	p = NULL;
	osip_from_param_get_byname(sip->from, "tag", &p);
	CHECK(osip_param_len(p) == 10);
	r = (unsigned)strlen(sip->call_id->number);
	switch (k) {
	case KIND_REGISTER:
		CHECK(MSG_IS_REQUEST(sip) && strcmp(sip->sip_method, "REGISTER") == 0);
		CHECK(strcmp(sip->cseq->number, "1826") == 0);
		CHECK(sip->req_uri && strlen(sip->req_uri->host) == 11);
		CHECK(osip_message_get_contact(sip, 0, &c) >= 0 && c);
		CHECK(osip_list_size(&sip->contacts) == 1);
		p = NULL;
		osip_contact_param_get_byname(c, "expires", &p);
		CHECK(p && strcmp(p->gvalue, "3600") == 0);
		p = NULL;
		osip_contact_param_get_byname(c, "reg-id", &p);
		CHECK(p && strcmp(p->gvalue, "1") == 0);
		p = NULL;
		osip_contact_param_get_byname(c, "+sip.instance", &p);
		CHECK(osip_param_len(p) == 49); /* with its quotes */
		CHECK(osip_message_get_authorization(sip, 0, &a) >= 0 && a);
		CHECK(strlen(osip_authorization_get_username(a)) == 7);
		CHECK(strlen(osip_authorization_get_realm(a)) == 13);
		CHECK(strlen(osip_authorization_get_nonce(a)) == 36);
		CHECK(strlen(osip_authorization_get_uri(a)) == 17);
		CHECK(strlen(osip_authorization_get_response(a)) == 34);
		CHECK(strlen(osip_authorization_get_cnonce(a)) == 10);
		CHECK(strcmp(osip_authorization_get_algorithm(a), "MD5") == 0);
		CHECK(strcmp(osip_authorization_get_message_qop(a), "auth") == 0);
		CHECK(strcmp(osip_authorization_get_nonce_count(a), "00000001") == 0);
		r += (unsigned)strlen(osip_authorization_get_response(a));
		break;
	case KIND_200:
		CHECK(MSG_IS_RESPONSE(sip) && sip->status_code == 200);
		CHECK(strcmp(sip->cseq->number, "1826") == 0);
		CHECK(osip_list_size(&sip->contacts) == 3);
		CHECK(osip_message_get_contact(sip, 2, &c) >= 0 && c);
		p = NULL;
		osip_contact_param_get_byname(c, "q", &p);
		CHECK(p && strcmp(p->gvalue, "0.1") == 0);
		p = NULL;
		osip_contact_param_get_byname(c, "expires", &p);
		CHECK(p && strcmp(p->gvalue, "120") == 0);
		r += (unsigned)strlen(c->url->host);
		break;
	case KIND_401:
		CHECK(MSG_IS_RESPONSE(sip) && sip->status_code == 401);
		CHECK(strcmp(sip->cseq->number, "1825") == 0);
		CHECK(osip_message_get_www_authenticate(sip, 0, &w) >= 0 && w);
		CHECK(strlen(osip_www_authenticate_get_realm(w)) == 13);
		CHECK(strlen(osip_www_authenticate_get_nonce(w)) == 36);
		CHECK(strlen(osip_www_authenticate_get_opaque(w)) == 34);
		r += (unsigned)strlen(osip_www_authenticate_get_nonce(w));
		break;
	default:
		abort();
	}
	osip_message_free(sip);
	return r;
}

/* ------------------------------------------------------------------------ */
/* Timing                                                                    */

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* Run iters parses; returns the elapsed nanoseconds. */
static double run_once(parse_fn fn, enum kind k, unsigned long iters)
{
	const struct bench_msg *msg = &msgs[k];
	unsigned acc = 0;
	double t0 = now_ns();

	for (unsigned long i = 0; i < iters; i++)
		acc += fn(k, msg->text, msg->len);
	sink += acc;
	return now_ns() - t0;
}

/* Iterations for one run of at least min_s seconds (+10%). */
static unsigned long calibrate(parse_fn fn, enum kind k, double min_s)
{
	unsigned long iters = 256;
	double t;

	for (;;) {
		t = run_once(fn, k, iters);
		if (t >= 0.1e9 || t >= min_s * 1e9)
			break;
		iters *= 4;
	}
	return (unsigned long)((double)iters * (min_s * 1e9 / t) * 1.1) + 1;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

struct result {
	double median, min, max;
	unsigned long iters;
};

static void summarize(double *ns, int runs, struct result *r)
{
	qsort(ns, (size_t)runs, sizeof(*ns), cmp_double);
	r->min = ns[0];
	r->max = ns[runs - 1];
	r->median = runs % 2 ? ns[runs / 2] : (ns[runs / 2 - 1] + ns[runs / 2]) / 2;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: bench_parse [--runs N] [--time SECONDS] [--iters N] [--only sipreg|osip]\n"
		"                   [--kind register|200|401]\n");
}

int main(int argc, char **argv)
{
	int runs = 5;
	double min_s = 1.0;
	unsigned long fixed_iters = 0;
	bool do_sipreg = true, do_osip = true;
	int only_kind = -1;
	struct result res[2][KIND__COUNT] = {0};

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "--runs") == 0 && v) {
			runs = atoi(v);
			i++;
		} else if (strcmp(a, "--time") == 0 && v) {
			min_s = atof(v);
			i++;
		} else if (strcmp(a, "--iters") == 0 && v) {
			fixed_iters = strtoul(v, NULL, 10);
			i++;
		} else if (strcmp(a, "--kind") == 0 && v &&
			   (strcmp(v, "register") == 0 || strcmp(v, "200") == 0 ||
			    strcmp(v, "401") == 0)) {
			only_kind = v[0] == 'r' ? KIND_REGISTER : v[0] == '2' ? KIND_200 : KIND_401;
			i++;
		} else if (strcmp(a, "--only") == 0 && v && strcmp(v, "sipreg") == 0) {
			do_osip = false;
			i++;
		} else if (strcmp(a, "--only") == 0 && v && strcmp(v, "osip") == 0) {
			do_sipreg = false;
			i++;
		} else {
			usage();
			return 2;
		}
	}
	if (runs < 1 || runs > MAX_RUNS || !(min_s > 0)) {
		usage();
		return 2;
	}
	parser_init();

#ifdef BENCH_HAVE_JEMALLOC
	{
		const char *ver = "?";
		size_t sz = sizeof(ver);
		mallctl("version", &ver, &sz, NULL, 0);
		printf("allocator: jemalloc %s\n", ver);
	}
#else
	printf("allocator: system malloc (jemalloc disabled)\n");
#endif
	if (fixed_iters)
		printf("bench_parse: %d runs of %lu iterations, ns per message\n", runs,
		       fixed_iters);
	else
		printf("bench_parse: median of %d runs of >= %.2f s each, ns per message "
		       "[min..max]\n",
		       runs, min_s);
	if (runs < 5)
		printf("note: fewer than 5 runs: not a reportable figure\n");

	for (int k = 0; k < KIND__COUNT; k++) {
		parse_fn fns[2] = {sipreg_parse, osip_parse};
		bool on[2] = {do_sipreg, do_osip};
		double ns[2][MAX_RUNS];

		if (only_kind >= 0 && k != only_kind)
			continue;
		for (int impl = 0; impl < 2; impl++) {
			if (!on[impl])
				continue;
			res[impl][k].iters =
				fixed_iters ? fixed_iters : calibrate(fns[impl], (enum kind)k, min_s);
		}
		/* alternate the implementations run by run: drift hits both */
		for (int r = 0; r < runs; r++)
			for (int impl = 0; impl < 2; impl++)
				if (on[impl])
					ns[impl][r] = run_once(fns[impl], (enum kind)k,
							       res[impl][k].iters) /
						      (double)res[impl][k].iters;
		for (int impl = 0; impl < 2; impl++)
			if (on[impl])
				summarize(ns[impl], runs, &res[impl][k]);

		printf("%-20s %4zu bytes:", msgs[k].name, msgs[k].len);
		if (do_sipreg)
			printf("  sipreg %8.1f ns [%.1f..%.1f]", res[0][k].median, res[0][k].min,
			       res[0][k].max);
		if (do_osip)
			printf("  osip %8.1f ns [%.1f..%.1f]", res[1][k].median, res[1][k].min,
			       res[1][k].max);
		if (do_sipreg && do_osip)
			printf("  osip/sipreg %.1f", res[1][k].median / res[0][k].median);
		printf("\n");
		fflush(stdout);
	}
	if (do_sipreg && do_osip && (only_kind < 0 || only_kind == KIND_REGISTER))
		printf("parse-ratio: osip/sipreg = %.1f\n",
		       res[1][KIND_REGISTER].median / res[0][KIND_REGISTER].median);
	return 0;
}
