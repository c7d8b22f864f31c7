/* SPDX-License-Identifier: MIT */
/* Tests of sipreg-bench's pieces (bench/loadgen/): the log-linear histogram
 * against a sorted reference, request templates, and the response scan. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include "../bench/loadgen/loadgen.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	/* xorshift64* */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 2685821657736338717ull;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

Test(loadgen_hist, bucket_bounds_hold_every_value)
{
	for (unsigned int i = 0; i < 200000; i++) {
		/* log-uniform over 0 .. 2^40 */
		uint64_t v = rnd() >> (24 + rnd() % 40);
		unsigned int idx = lg_hist_index(v);

		cr_assert_lt(idx, LG_HIST_BUCKETS);
		cr_assert_leq(lg_hist_bucket_low(idx), v, "v=%llu idx=%u", (unsigned long long)v, idx);
		if (idx + 1 < LG_HIST_BUCKETS)
			cr_assert_gt(lg_hist_bucket_low(idx + 1), v, "v=%llu idx=%u",
				     (unsigned long long)v, idx);
	}
	/* Indexes are dense and increasing. */
	for (unsigned int i = 1; i < LG_HIST_BUCKETS; i++) {
		cr_assert_gt(lg_hist_bucket_low(i), lg_hist_bucket_low(i - 1));
		cr_assert_eq(lg_hist_index(lg_hist_bucket_low(i)), i);
		cr_assert_eq(lg_hist_index(lg_hist_bucket_low(i) - 1), i - 1);
	}
	cr_assert_eq(lg_hist_index(((uint64_t)1 << LG_HIST_MAXEXP) - 1), LG_HIST_BUCKETS - 1);
	/* Beyond the range: the last bucket, never out of bounds. */
	cr_assert_eq(lg_hist_index(UINT64_MAX), LG_HIST_BUCKETS - 1);
	cr_assert_eq(lg_hist_index((uint64_t)1 << LG_HIST_MAXEXP), LG_HIST_BUCKETS - 1);
}

Test(loadgen_hist, quantiles_within_bucket_error_of_sorted_reference)
{
	enum { N = 300000 };
	static const double qs[] = {0.0, 0.001, 0.25, 0.5, 0.9, 0.99, 0.999, 0.9999, 1.0};
	uint64_t *ref = malloc(N * sizeof(*ref));
	struct lg_hist *h = malloc(sizeof(*h));

	cr_assert(ref && h);
	lg_hist_init(h);
	for (unsigned int i = 0; i < N; i++) {
		/* latencies from 1 us to ~30 ms with a heavy tail */
		ref[i] = 1000 + (rnd() >> (35 + rnd() % 29));
		lg_hist_add(h, ref[i]);
	}
	qsort(ref, N, sizeof(*ref), cmp_u64);
	cr_assert_eq(h->n, N);
	cr_assert_eq(h->min, ref[0]);
	cr_assert_eq(h->max, ref[N - 1]);
	for (unsigned int i = 0; i < sizeof(qs) / sizeof(qs[0]); i++) {
		size_t rank = qs[i] <= 0 ? 0 : (size_t)(qs[i] * N + 0.999999) - 1;
		double want = (double)ref[rank], got = (double)lg_hist_quantile(h, qs[i]);

		cr_assert_leq(got > want ? got - want : want - got, want / 64.0 + 1,
			      "q=%g: got %.0f want %.0f", qs[i], got, want);
	}
	free(ref);
	free(h);
}

Test(loadgen_hist, empty_single_and_merge)
{
	struct lg_hist *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b)), *c = malloc(sizeof(*c));

	lg_hist_init(a);
	lg_hist_init(b);
	lg_hist_init(c);
	cr_assert_eq(lg_hist_quantile(a, 0.5), 0);
	lg_hist_add(a, 123456);
	cr_assert_eq(lg_hist_quantile(a, 0.5), 123456);
	cr_assert_eq(lg_hist_quantile(a, 0.999), 123456);
	for (uint64_t v = 1; v < 100000; v += 7) {
		lg_hist_add(v % 2 ? b : c, v * 13);
		lg_hist_add(a, v * 13);
	}
	lg_hist_merge(b, c);
	lg_hist_add(b, 123456);
	cr_assert_eq(b->n, a->n);
	cr_assert_eq(b->sum, a->sum);
	cr_assert_eq(b->min, a->min);
	cr_assert_eq(b->max, a->max);
	cr_assert_eq(memcmp(b->count, a->count, sizeof(a->count)), 0);
	free(a);
	free(b);
	free(c);
}

static struct lg_config test_cfg(void)
{
	struct lg_config cfg = {.method = "OPTIONS", .run_nonce = 0xdeadbeef};
	struct sockaddr_in *t = (struct sockaddr_in *)&cfg.target;

	t->sin_family = AF_INET;
	t->sin_port = htons(5060);
	inet_pton(AF_INET, "127.0.0.1", &t->sin_addr);
	cfg.target_len = sizeof(*t);
	return cfg;
}

static struct lg_local test_local(void)
{
	struct lg_local l = {.len = sizeof(struct sockaddr_in6)};
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&l.addr;

	s6->sin6_family = AF_INET6;
	s6->sin6_port = htons(40000);
	inet_pton(AF_INET6, "::1", &s6->sin6_addr);
	return l;
}

Test(loadgen_template, fields_fixed_width_and_substituted)
{
	struct lg_config cfg = test_cfg();
	struct lg_local local = test_local();
	struct lg_template *t;
	const char *text = "[method] sip:x@[remote_ip]:[remote_port] SIP/2.0\n"
			   "Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]\n"
			   "Call-ID: [call_id]\nFrom: <sip:a@b>;tag=[tag]\nCSeq: [cseq] [method]\n"
			   "X-Literal: [not_a_field] [\nContent-Length: [len]\n\nhello body";
	char a[LG_MSG_MAX], b[LG_MSG_MAX];
	struct lg_req r1 = {.key = lg_key(3, 77, 5), .seq = 0};
	struct lg_req r2 = {.key = lg_key(255, 0xffffff, 0xffffffff), .seq = 899999999 + 5};
	int la, lb;

	cr_assert_eq(lg_template_new(&t, text, &cfg, &local), 0);
	la = lg_template_fill(t, &r1, a, sizeof(a));
	lb = lg_template_fill(t, &r2, b, sizeof(b));
	cr_assert_gt(la, 0);
	cr_assert_eq(la, lb, "every request has the same size");
	cr_assert_eq((size_t)la, lg_template_len(t));
	a[la] = b[lb] = '\0';
	cr_assert(strstr(a, "OPTIONS sip:x@127.0.0.1:5060 SIP/2.0\r\n"), "%s", a);
	cr_assert(strstr(a, "Via: SIP/2.0/UDP [::1]:40000;branch=z9hG4bKsbdeadbeef."
			    "0300004d00000005\r\n"), "%s", a);
	cr_assert(strstr(a, "Call-ID: sbcdeadbeef.0300004d00000005@sipreg-bench\r\n"), "%s", a);
	cr_assert(strstr(a, ";tag=tdeadbeef.0300004d00000005\r\n"), "%s", a);
	cr_assert(strstr(a, "CSeq: 100000000 OPTIONS\r\n"), "%s", a);
	cr_assert(strstr(b, "CSeq: 100000004 OPTIONS\r\n"), "wraps below 2^31: %s", b);
	cr_assert(strstr(b, "branch=z9hG4bKsbdeadbeef.ffffffffffffffff\r\n"), "%s", b);
	cr_assert(strstr(a, "X-Literal: [not_a_field] [\r\n"), "%s", a);
	cr_assert(strstr(a, "Content-Length: 10\r\n\r\nhello body"), "%s", a);
	cr_assert_eq(lg_template_fill(t, &r1, a, (size_t)la - 1), -ENOSPC);
	lg_template_free(t);
	lg_template_free(NULL);
}

Test(loadgen_template, bad_templates)
{
	struct lg_config cfg = test_cfg();
	struct lg_local local = test_local();
	struct lg_template *t = NULL;
	char *big = malloc(LG_MSG_MAX + 100);

	cr_assert_eq(lg_template_new(&t, "OPTIONS sip:x SIP/2.0\nVia: [branch]\n", &cfg, &local),
		     -EINVAL, "no end of headers");
	memset(big, 'a', LG_MSG_MAX + 99);
	big[LG_MSG_MAX + 99] = '\0';
	cr_assert_eq(lg_template_new(&t, big, &cfg, &local), -ENOSPC);
	cr_assert_null(t);
	free(big);
}

/* A response made from a request the way a server does: status line, Via etc. copied. */
static size_t make_response(char *out, const char *req, size_t reqlen, const char *status)
{
	const char *eol = memchr(req, '\n', reqlen);
	size_t n = strlen(status);

	memcpy(out, status, n);
	memcpy(out + n, eol + 1, reqlen - (size_t)(eol + 1 - req));
	return n + reqlen - (size_t)(eol + 1 - req);
}

Test(loadgen_scan, status_and_key)
{
	struct lg_config cfg = test_cfg();
	struct lg_local local = test_local();
	struct lg_template *t;
	struct lg_req r = {.key = lg_key(1, 4242, 99), .seq = 7};
	char req[LG_MSG_MAX], resp[LG_MSG_MAX + 64];
	int len, status = -1;
	uint64_t key = 0;
	size_t rl;

	cr_assert_eq(lg_template_new(&t, "[method] sip:a@b SIP/2.0\nVia: SIP/2.0/UDP h;branch=[branch]\n"
					 "Call-ID: [call_id]\nCSeq: [cseq] OPTIONS\n\n",
				     &cfg, &local), 0);
	len = lg_template_fill(t, &r, req, sizeof(req));
	cr_assert_gt(len, 0);

	rl = make_response(resp, req, (size_t)len, "SIP/2.0 200 OK\r\n");
	cr_assert_eq(lg_scan(resp, rl, 0xdeadbeef, "OPTIONS", false, &status, &key), 0);
	cr_assert_eq(status, 200);
	cr_assert_eq(key, r.key);

	rl = make_response(resp, req, (size_t)len, "SIP/2.0 404\r\n");
	cr_assert_eq(lg_scan(resp, rl, 0xdeadbeef, "OPTIONS", false, &status, &key), 0);
	cr_assert_eq(status, 404, "a status line without reason phrase");

	/* The echoed request: accepted only in echo mode, status 0. */
	cr_assert_eq(lg_scan(req, (size_t)len, 0xdeadbeef, "OPTIONS", false, &status, &key),
		     -EBADMSG);
	cr_assert_eq(lg_scan(req, (size_t)len, 0xdeadbeef, "OPTIONS", true, &status, &key), 0);
	cr_assert_eq(status, 0);
	cr_assert_eq(key, r.key);
	cr_assert_eq(lg_scan(req, (size_t)len, 0xdeadbeef, "REGISTER", true, &status, &key),
		     -EBADMSG);

	/* Another run's nonce: not ours. */
	rl = make_response(resp, req, (size_t)len, "SIP/2.0 200 OK\r\n");
	cr_assert_eq(lg_scan(resp, rl, 0xdeadbeee, "OPTIONS", false, &status, &key), -ENOENT);

	/* Branch rewritten by the server: the Call-ID still carries the key. */
	{
		char *br = memmem(resp, rl, "z9hG4bKsb", 9);

		memcpy(br, "z9hG4bKxx", 9);
		key = 0;
		cr_assert_eq(lg_scan(resp, rl, 0xdeadbeef, "OPTIONS", false, &status, &key), 0);
		cr_assert_eq(key, r.key);
	}
	/* Truncated in the middle of the key: -ENOENT, no read past the end. */
	{
		const char *k = memmem(req, (size_t)len, "z9hG4bKsbdeadbeef.", 18);
		size_t cut = (size_t)(k + 18 + 10 - req);
		char *exact = malloc(cut);

		memcpy(exact, req, cut);
		cr_assert_eq(lg_scan(exact, cut, 0xdeadbeef, "OPTIONS", true, &status, &key),
			     -ENOENT);
		free(exact);
	}
	lg_template_free(t);
}

Test(loadgen_scan, not_responses)
{
	static const char *const bad[] = {
		"", "SIP/2.0", "SIP/2.0 20 OK\r\n", "SIP/2.0 099 x\r\n", "SIP/2.0 700 x\r\n",
		"SIP/2.0 2000 OK\r\n", "SIP/1.0 200 OK\r\n", "hello, not SIP", "OPTIONSx sip:a",
	};
	int status;
	uint64_t key;

	for (unsigned int i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(lg_scan(bad[i], strlen(bad[i]), 1, "OPTIONS", true, &status, &key),
			     -EBADMSG, "%s", bad[i]);
	/* A response of no request of ours. */
	cr_assert_eq(lg_scan("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\r\n", 49, 1,
			     "OPTIONS", false, &status, &key),
		     -ENOENT);
}
