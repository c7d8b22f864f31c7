/* SPDX-License-Identifier: MIT */
/* Tests of the registrar's nonces: forgery, expiry, replay, eviction, threads. */
#include <criterion/criterion.h>
#include <errno.h>
#include <nettle/hmac.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "sipreg/nonce.h"

static const uint8_t secret_a[NONCE_SECRET_LEN] = "0123456789abcdef0123456789abcdef";
static const uint8_t secret_b[NONCE_SECRET_LEN] = "fedcba9876543210fedcba9876543210";
#define REALM SIP_STR("carrier.example")
#define T0 1900000000u

static struct nonce_ctx *make(const uint8_t *secret, unsigned slots_log2)
{
	struct nonce_ctx *n = NULL;

	cr_assert_eq(nonce_new(&n, secret, slots_log2, 300), 0);
	return n;
}

Test(nonce, issue_check_commit)
{
	struct nonce_ctx *n = make(secret_a, 12);
	struct nonce_ref ref;
	char buf[NONCE_LEN];

	nonce_issue(n, REALM, T0, buf);
	for (size_t i = 0; i < NONCE_LEN; i++)
		cr_assert(strchr("0123456789abcdef", buf[i]));
	cr_assert_eq(nonce_check(n, sip_str_make(buf, NONCE_LEN), REALM, T0 + 1, &ref), 0);
	cr_assert_eq(ref.issued, T0);
	cr_assert_eq(nonce_commit(n, &ref, 1), 0);
	cr_assert_eq(nonce_commit(n, &ref, 1), -EALREADY, "same nc twice is a replay");
	cr_assert_eq(nonce_commit(n, &ref, 2), 0, "a growing nc is accepted");
	cr_assert_eq(nonce_commit(n, &ref, 5), 0, "gaps are allowed (RFC 7616 3.4)");
	cr_assert_eq(nonce_commit(n, &ref, 3), -EALREADY);
	nonce_free(n);
}

Test(nonce, forged_and_foreign_nonces_refused)
{
	struct nonce_ctx *a = make(secret_a, 12), *b = make(secret_b, 12);
	struct nonce_ref ref;
	char buf[NONCE_LEN + 1];

	nonce_issue(a, REALM, T0, buf);
	cr_assert_eq(nonce_check(b, sip_str_make(buf, NONCE_LEN), REALM, T0, &ref), -EBADMSG,
		     "another secret (a replaced one) never validates");
	cr_assert_eq(nonce_check(a, sip_str_make(buf, NONCE_LEN), SIP_STR("other.example"), T0,
				 &ref),
		     -EBADMSG, "bound to its realm");
	for (size_t i = 0; i < NONCE_LEN; i++) {
		char saved = buf[i];
		buf[i] = saved == '0' ? '1' : '0';
		cr_assert_eq(nonce_check(a, sip_str_make(buf, NONCE_LEN), REALM, T0, &ref),
			     -EBADMSG, "flipped digit %zu accepted", i);
		buf[i] = saved;
	}
	/* a later issue time with the old tag: forged age */
	buf[7] = buf[7] == 'f' ? 'e' : 'f';
	cr_assert_eq(nonce_check(a, sip_str_make(buf, NONCE_LEN), REALM, T0, &ref), -EBADMSG);
	nonce_free(a);
	nonce_free(b);
}

Test(nonce, malformed)
{
	struct nonce_ctx *n = make(secret_a, 12);
	struct nonce_ref ref;
	char buf[NONCE_LEN];

	nonce_issue(n, REALM, T0, buf);
	cr_assert_eq(nonce_check(n, sip_str_make(buf, NONCE_LEN - 1), REALM, T0, &ref), -EBADMSG);
	cr_assert_eq(nonce_check(n, SIP_STR(""), REALM, T0, &ref), -EBADMSG);
	for (size_t i = 0; i < NONCE_LEN; i++)
		if (buf[i] >= 'a')
			buf[i] = (char)(buf[i] - 'a' + 'A'); /* upper case is not ours */
	cr_assert_eq(nonce_check(n, sip_str_make(buf, NONCE_LEN), REALM, T0, &ref), -EBADMSG);
	cr_assert_eq(nonce_check(n, SIP_STR("zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz"), REALM, T0,
				 &ref),
		     -EBADMSG);
	nonce_free(n);
}

Test(nonce, expiry_and_clock_steps)
{
	struct nonce_ctx *n = make(secret_a, 12);
	struct nonce_ref ref;
	char buf[NONCE_LEN];
	struct sip_str s = sip_str_make(buf, NONCE_LEN);

	nonce_issue(n, REALM, T0, buf);
	cr_assert_eq(nonce_check(n, s, REALM, T0 + 300, &ref), 0, "good until expire_s");
	cr_assert_eq(nonce_check(n, s, REALM, T0 + 301, &ref), -ESTALE);
	cr_assert_eq(nonce_check(n, s, REALM, T0 - 60, &ref), -ESTALE, "issued in the future");
	nonce_set_expire(n, 10);
	cr_assert_eq(nonce_check(n, s, REALM, T0 + 11, &ref), -ESTALE);
	nonce_free(n);
}

Test(nonce, survives_restart_with_same_secret_but_replay_table_is_fresh)
{
	struct nonce_ctx *a = make(secret_a, 12), *a2;
	struct nonce_ref ref;
	char buf[NONCE_LEN];

	nonce_issue(a, REALM, T0, buf);
	nonce_free(a);
	a2 = make(secret_a, 12);
	/* authentic but its slot is unknown after a restart: stale, not forged */
	cr_assert_eq(nonce_check(a2, sip_str_make(buf, NONCE_LEN), REALM, T0 + 5, &ref),
		     -ESTALE);
	nonce_free(a2);
}

Test(nonce, eviction_after_the_table_wraps)
{
	struct nonce_ctx *n = make(secret_a, 10);
	struct nonce_ref ref, ref_last;
	char first[NONCE_LEN], buf[NONCE_LEN];

	nonce_issue(n, REALM, T0, first);
	cr_assert_eq(nonce_check(n, sip_str_make(first, NONCE_LEN), REALM, T0, &ref), 0);
	for (int i = 0; i < 1024; i++)
		nonce_issue(n, REALM, T0, buf);
	cr_assert_eq(nonce_check(n, sip_str_make(first, NONCE_LEN), REALM, T0, &ref), -ESTALE);
	cr_assert_eq(nonce_commit(n, &ref, 1), -ESTALE, "a commit after eviction fails");
	cr_assert_eq(nonce_check(n, sip_str_make(buf, NONCE_LEN), REALM, T0, &ref_last), 0);
	nonce_free(n);
}

Test(nonce, bad_arguments)
{
	struct nonce_ctx *n = (struct nonce_ctx *)0x1;

	cr_assert_eq(nonce_new(&n, secret_a, 9, 300), -EINVAL);
	cr_assert_eq(nonce_new(&n, secret_a, 29, 300), -EINVAL);
	cr_assert_eq(nonce_new(&n, secret_a, 12, 0), -EINVAL);
	cr_assert_eq(n, (struct nonce_ctx *)0x1, "ret untouched on failure");
	nonce_free(NULL);
}

struct race {
	struct nonce_ctx *n;
	struct nonce_ref ref;
	int accepted;
};

static void *commit_all(void *arg)
{
	struct race *r = arg;

	for (uint32_t nc = 1; nc <= 20000; nc++)
		if (nonce_commit(r->n, &r->ref, nc) == 0)
			r->accepted++;
	return NULL;
}

Test(nonce, concurrent_commits_accept_each_nc_at_most_once)
{
	struct nonce_ctx *n = make(secret_a, 12);
	struct race r[4];
	pthread_t th[4];
	char buf[NONCE_LEN];
	struct nonce_ref ref;
	int total = 0;

	nonce_issue(n, REALM, T0, buf);
	cr_assert_eq(nonce_check(n, sip_str_make(buf, NONCE_LEN), REALM, T0, &ref), 0);
	for (int i = 0; i < 4; i++) {
		r[i] = (struct race){.n = n, .ref = ref};
		pthread_create(&th[i], NULL, commit_all, &r[i]);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		total += r[i].accepted;
	}
	cr_assert_leq(total, 20000, "an nc accepted twice: %d", total);
	cr_assert_geq(total, 1);
	cr_assert_eq(nonce_commit(n, &ref, 20000), -EALREADY);
	nonce_free(n);
}

/* The tag is what nonce.h documents, computed here from its description:
 * the first 12 bytes of HMAC-SHA256(secret, issued | serial | realm). */
Test(nonce, tag_is_the_documented_construction)
{
	struct nonce_ctx *a = make(secret_a, 12);
	struct hmac_sha256_ctx h;
	uint8_t head[8], tag[12];
	char buf[NONCE_LEN + 1], want[NONCE_LEN + 1];
	struct nonce_ref ref;

	nonce_issue(a, REALM, T0, buf);
	buf[NONCE_LEN] = '\0';
	for (int i = 0; i < 8; i++) /* issued | serial, as issued */
		cr_assert_eq(sscanf(buf + 2 * i, "%2hhx", &head[i]), 1);
	hmac_sha256_set_key(&h, NONCE_SECRET_LEN, secret_a);
	hmac_sha256_update(&h, 8, head);
	hmac_sha256_update(&h, REALM.len, (const uint8_t *)REALM.p);
	hmac_sha256_digest(&h, sizeof(tag), tag);
	memcpy(want, buf, 16);
	for (int i = 0; i < 12; i++)
		snprintf(want + 16 + 2 * i, 3, "%02x", tag[i]);
	cr_assert_str_eq(buf, want);
	cr_assert_eq(nonce_check(a, sip_str_make(buf, NONCE_LEN), REALM, T0, &ref), 0);
	/* one bit of the tag changed: refused */
	buf[NONCE_LEN - 1] = buf[NONCE_LEN - 1] == '0' ? '1' : '0';
	cr_assert_neq(nonce_check(a, sip_str_make(buf, NONCE_LEN), REALM, T0, &ref), 0);
	nonce_free(a);
}

/* Every byte value in place of the issued digit at pos: only that digit
 * is accepted. */
static void every_byte_at(struct nonce_ctx *n, const char *orig, size_t pos)
{
	struct nonce_ref ref;
	char buf[NONCE_LEN];

	for (unsigned c = 0; c < 256; c++) {
		memcpy(buf, orig, NONCE_LEN);
		buf[pos] = (char)c;
		int r = nonce_check(n, sip_str_make(buf, NONCE_LEN), REALM, T0, &ref);
		cr_assert_eq(r, (char)c == orig[pos] ? 0 : -EBADMSG, "position %zu byte %u", pos,
			     c);
	}
}

/* Every byte value at every position of a nonce, and at a place of each of
 * the 16 digits (more nonces until each has been seen): only the issued
 * digit is accepted (the decoder's table: digits, a-f, and nothing else,
 * not even A-F or the bytes next to them), and the fields decode exactly. */
Test(nonce, every_byte_at_every_position)
{
	struct nonce_ctx *n = make(secret_a, 12);
	struct nonce_ref ref;
	char orig[NONCE_LEN], head[17];
	unsigned seen = 0;

	nonce_issue(n, REALM, T0, orig);
	cr_assert_eq(nonce_check(n, sip_str_make(orig, NONCE_LEN), REALM, T0, &ref), 0);
	cr_assert_eq(ref.issued, (uint32_t)T0);
	snprintf(head, sizeof(head), "%08x%08x", (unsigned)T0, (unsigned)ref.serial);
	cr_assert_eq(memcmp(orig, head, 16), 0, "issued and serial as 16 hex digits");
	for (size_t i = 0; i < NONCE_LEN; i++)
		every_byte_at(n, orig, i);
	for (int k = 0; k < 1000 && seen != 0xffff; k++) {
		nonce_issue(n, REALM, T0, orig);
		for (size_t i = 0; i < NONCE_LEN; i++) {
			unsigned d = (unsigned)(orig[i] <= '9' ? orig[i] - '0' : orig[i] - 'a' + 10);
			if (!(seen >> d & 1)) {
				seen |= 1u << d;
				every_byte_at(n, orig, i);
			}
		}
	}
	cr_assert_eq(seen, 0xffff, "all 16 digits tried");
	nonce_free(n);
}
