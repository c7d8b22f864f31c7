/* SPDX-License-Identifier: MIT */
/*
 * Tests of digest.h: every row of the corpus digest vectors (RFC 2617 §3.5,
 * RFC 7616 §3.9.1 and §3.9.2 with erratum 4897, RFC 2069 §2.4 with its
 * erratum, and the self-computed SIP rows), an independent reference
 * formulation for the -sess and auth-int forms, verification failures, and the
 * challenge / credentials writers.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nettle/md5.h>
#include <nettle/sha2.h>

#include "sipreg/digest.h"
#include "support/csv_reader.h"

#define S(cstr) sip_str_make((cstr), strlen(cstr))

/* ------------------------------------------------------------------------ */
/* The CSV reader of the corpus files (tests/support/csv_reader.c)          */

Test(digest_csv, reader_handles_rfc4180)
{
	static const char in[] =
		"a,b,c\r\n\"x, y\",\"say \"\"hi\"\"\",\"two\nlines\"\n,,\n\n";
	struct csv c;

	cr_assert_eq(csv_parse(&c, in, sizeof(in) - 1), 0);
	cr_assert_eq(c.nrows, 3);
	cr_assert_str_eq(c.field[1][0], "x, y");
	cr_assert_str_eq(c.field[1][1], "say \"hi\"");
	cr_assert_str_eq(c.field[1][2], "two\nlines");
	cr_assert_eq(c.nfields[2], 3);
	cr_assert_str_eq(c.field[2][2], "");
	cr_assert_eq(csv_col(&c, "b"), 1);
	cr_assert_eq(csv_col(&c, "x, y"), -ENOENT);
	csv_free(&c);
	csv_free(&c);
	/* no line end at the end of the text; a quoted empty field */
	cr_assert_eq(csv_parse(&c, "h\n\"\",z", 7), 0);
	cr_assert_eq(c.nrows, 2);
	cr_assert_eq(c.nfields[1], 2);
	cr_assert_str_eq(c.field[1][0], "");
	cr_assert_str_eq(c.field[1][1], "z");
	csv_free(&c);
	cr_assert_eq(csv_parse(&c, "", 0), 0);
	cr_assert_eq(c.nrows, 0);
	cr_assert_eq(csv_col(&c, "a"), -ENOENT);
	csv_free(&c);
	/* unterminated, text after the closing quote, quote in a bare field */
	cr_assert_eq(csv_parse(&c, "\"open,x\n", 8), -EBADMSG);
	cr_assert_null(c.data);
	cr_assert_eq(csv_parse(&c, "\"a\"b,c\n", 7), -EBADMSG);
	cr_assert_eq(csv_parse(&c, "a,b\"c\n", 6), -EBADMSG);
	csv_free(&c);
}

Test(digest_csv, reader_limits)
{
	char in[4 * (CSV_MAX_ROWS + 1)];
	struct csv c;
	size_t n = 0;

	for (size_t i = 0; i < CSV_MAX_FIELDS; i++)
		n += (size_t)snprintf(in + n, sizeof(in) - n, "%s", i ? ",f" : "f");
	cr_assert_eq(csv_parse(&c, in, n), 0);
	cr_assert_eq(c.nfields[0], CSV_MAX_FIELDS);
	csv_free(&c);
	cr_assert_eq(csv_parse(&c, strcat(in, ",x"), n + 2), -E2BIG);
	for (n = 0; n < 2 * (CSV_MAX_ROWS + 1); n += 2)
		memcpy(in + n, "r\n", 2);
	cr_assert_eq(csv_parse(&c, in, 2 * CSV_MAX_ROWS), 0);
	cr_assert_eq(c.nrows, CSV_MAX_ROWS);
	csv_free(&c);
	cr_assert_eq(csv_parse(&c, in, 2 * (CSV_MAX_ROWS + 1)), -E2BIG);
}

/* ------------------------------------------------------------------------ */
/* The corpus vectors                                                        */

/* A struct sip_auth as the parser would give it for these credentials. */
static struct sip_auth cred_of(enum sip_digest_alg alg, const char *user,
			       const char *realm, const char *nonce, const char *uri,
			       const char *nc, const char *cnonce, const char *qop,
			       const char *response)
{
	struct sip_auth a;

	memset(&a, 0, sizeof(a));
	a.scheme = SIP_STR("Digest");
	a.username = S(user);
	a.realm = S(realm);
	a.nonce = S(nonce);
	a.uri = S(uri);
	a.response = S(response);
	a.alg = alg;
	if (*qop) {
		a.qop = S(qop);
		a.nc = S(nc);
		a.has_nc = true;
		a.nc_val = (uint32_t)strtoul(nc, NULL, 16);
	}
	if (*cnonce)
		a.cnonce = S(cnonce);
	if (alg != SIP_DIGEST_MD5)
		a.algorithm = S(digest_alg_name(alg));
	return a;
}

/* The prepared keys give the verdicts of digest_verify: from the password,
 * from the HA1s (lower and upper case), a key for another password, a key
 * lacking the algorithm's hash (-EACCES for a right response), and
 * SHA-512/256, which a key does not hold. */
static void check_keys(const struct sip_auth *a, enum sip_digest_alg alg, struct sip_str method,
		       struct sip_str body, struct sip_str user, struct sip_str realm,
		       struct sip_str pw, const char *what, size_t row)
{
	bool sha512 = alg == SIP_DIGEST_SHA512_256 || alg == SIP_DIGEST_SHA512_256_SESS;
	bool md5 = alg == SIP_DIGEST_MD5 || alg == SIP_DIGEST_MD5_SESS;
	char h5[DIGEST_HEX_SIZE], h256[DIGEST_HEX_SIZE];
	struct digest_key k, other;

	digest_key_from_password(&k, user, realm, pw);
	cr_assert_eq(k.have, DIGEST_KEY_MD5 | DIGEST_KEY_SHA256);
	cr_assert_eq(digest_verify_key(a, method, body, &k), sha512 ? -EACCES : 0,
		     "%s row %zu: verify by key", what, row);
	digest_key_from_password(&other, user, realm, SIP_STR("not it"));
	cr_assert_eq(digest_verify_key(a, method, body, &other), -EACCES);
	cr_assert_eq(digest_ha1(SIP_DIGEST_MD5, user, realm, pw, h5), 32);
	cr_assert_eq(digest_ha1(SIP_DIGEST_SHA256, user, realm, pw, h256), 64);
	cr_assert_eq(digest_key_from_ha1(&other, S(h5), S(h256)), 0);
	cr_assert_eq(memcmp(&other, &k, sizeof(k)), 0, "%s row %zu: the same key", what, row);
	for (char *p = h256; *p; p++)
		if (*p >= 'a' && *p <= 'f')
			*p = (char)(*p - 32);
	cr_assert_eq(digest_key_from_ha1(&other, SIP_STR_NULL, S(h256)), 0);
	cr_assert_eq(other.have, DIGEST_KEY_SHA256);
	cr_assert_eq(digest_verify_key(a, method, body, &other), md5 || sha512 ? -EACCES : 0,
		     "%s row %zu: SHA-256 HA1 only", what, row);
	cr_assert_eq(digest_key_from_ha1(&other, S(h5), SIP_STR_NULL), 0);
	cr_assert_eq(other.have, DIGEST_KEY_MD5);
	cr_assert_eq(digest_verify_key(a, method, body, &other), md5 ? 0 : -EACCES,
		     "%s row %zu: MD5 HA1 only", what, row);
}

static void run_vectors(const char *file, size_t min_rows)
{
	const char *dir = getenv("SIPREG_CORPUS");
	char path[4096];
	size_t len;
	struct csv c;

	if (!dir || !*dir)
		cr_skip_test("SIPREG_CORPUS is not set: digest vectors in %s NOT checked",
			     file);
	snprintf(path, sizeof(path), "%s/digest/%s", dir, file);
	char *text = csv_slurp(path, &len);
	cr_assert_not_null(text, "cannot read %s", path);
	cr_assert_eq(csv_parse(&c, text, len), 0, "%s is not valid CSV", path);
	cr_assert_geq(c.nrows - 1, min_rows, "%s: only %zu rows", path, c.nrows - 1);

	int ca = csv_need_col(&c, "algorithm"), cu = csv_need_col(&c, "username"),
	    cr = csv_need_col(&c, "realm"), cp = csv_need_col(&c, "password"),
	    cm = csv_need_col(&c, "method"), curi = csv_need_col(&c, "uri"),
	    cn = csv_need_col(&c, "nonce"), cnc = csv_need_col(&c, "nc"),
	    ccn = csv_need_col(&c, "cnonce"), cq = csv_need_col(&c, "qop"),
	    ce = csv_need_col(&c, "expected_response");

	for (size_t r = 1; r < c.nrows; r++) {
		char **f = c.field[r];
		char out[DIGEST_HEX_SIZE], ha1[DIGEST_HEX_SIZE];
		struct digest_input in = {
			.alg = digest_alg_parse(S(f[ca])),
			.username = S(f[cu]),
			.realm = S(f[cr]),
			.password = S(f[cp]),
			.nonce = S(f[cn]),
			.cnonce = S(f[ccn]),
			.nc = S(f[cnc]),
			.qop = S(f[cq]),
			.method = S(f[cm]),
			.uri = S(f[curi]),
		};

		cr_assert_eq(c.nfields[r], c.nfields[0], "%s row %zu: field count", file,
			     r);
		cr_assert_neq(in.alg, SIP_DIGEST_UNKNOWN, "%s row %zu: algorithm %s",
			      file, r, f[ca]);
		int n = digest_compute(&in, out);
		cr_assert_eq(n, (int)strlen(f[ce]), "%s row %zu: length", file, r);
		cr_assert_str_eq(out, f[ce], "%s row %zu (%s %s)", file, r, f[ca], f[cu]);

		/* the registrar's two paths give the same verdict */
		struct sip_auth a = cred_of(in.alg, f[cu], f[cr], f[cn], f[curi], f[cnc],
					    f[ccn], f[cq], f[ce]);
		cr_assert_eq(digest_verify(&a, in.method, SIP_STR_NULL, in.password), 0,
			     "%s row %zu: verify by password", file, r);
		cr_assert_eq(digest_ha1(in.alg, in.username, in.realm, in.password, ha1),
			     (int)digest_hex_len(in.alg));
		cr_assert_eq(digest_verify_ha1(&a, in.method, SIP_STR_NULL, S(ha1)), 0,
			     "%s row %zu: verify by HA1", file, r);
		/* a stored HA1 in upper case is the same HA1 */
		for (char *p = ha1; *p; p++)
			if (*p >= 'a' && *p <= 'f')
				*p = (char)(*p - 32);
		cr_assert_eq(digest_verify_ha1(&a, in.method, SIP_STR_NULL, S(ha1)), 0);
		cr_assert_eq(digest_verify(&a, in.method, SIP_STR_NULL, S("not it")),
			     -EACCES);
		check_keys(&a, in.alg, in.method, SIP_STR_NULL, in.username, in.realm,
			   in.password, file, r);
	}
	csv_free(&c);
	free(text);
}

Test(digest_corpus, rfc_vectors)
{
	run_vectors("vectors.csv", 5);
}

Test(digest_corpus, sip_selfcomputed_vectors)
{
	run_vectors("sip_vectors_selfcomputed.csv", 6);
}

/* The RFC examples once more, without the corpus, so they run everywhere. */
Test(digest, rfc_examples_builtin)
{
	static const struct {
		const char *rfc, *alg, *user, *realm, *pw, *method, *uri, *nonce, *nc,
			*cnonce, *qop, *ha1, *resp;
	} v[] = {
		{"RFC 2617 3.5", "MD5", "Mufasa", "testrealm@host.com", "Circle Of Life",
		 "GET", "/dir/index.html", "dcd98b7102dd2f0e8b11d0f600bfb0c093",
		 "00000001", "0a4f113b", "auth", "939e7578ed9e3c518a452acee763bce9",
		 "6629fae49393a05397450978507c4ef1"},
		{"RFC 7616 3.9.1", "SHA-256", "Mufasa", "http-auth@example.org",
		 "Circle of Life", "GET", "/dir/index.html",
		 "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", "00000001",
		 "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", "auth", NULL,
		 "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"},
		{"RFC 7616 3.9.2 + erratum 4897", "SHA-512-256",
		 "J\xc3\xa4s\xc3\xb8n Doe", "api@example.org", "Secret, or not?", "GET",
		 "/doe.json", "5TsQWLVdgBdmrQ0XsxbDODV+57QdFR34I9HAbC/RVvkK", "00000001",
		 "NTg6RKcb9boFIAS3KrFK9BGeh+iDa/sm6jUMp2wds69v", "auth", NULL,
		 "3798d4131c277846293534c3edc11bd8a5e4cdcbff78b05db9d95eeb1cec68a5"},
		{"RFC 2069 2.4 + erratum", "MD5", "Mufasa", "testrealm@host.com",
		 "CircleOfLife", "GET", "/dir/index.html",
		 "dcd98b7102dd2f0e8b11d0f600bfb0c093", "", "", "", NULL,
		 "1949323746fe6a43ef61f9606e7febea"},
	};

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		char out[DIGEST_HEX_SIZE];
		struct digest_input in = {
			.alg = digest_alg_parse(S(v[i].alg)),
			.username = S(v[i].user),
			.realm = S(v[i].realm),
			.password = S(v[i].pw),
			.nonce = S(v[i].nonce),
			.cnonce = S(v[i].cnonce),
			.nc = S(v[i].nc),
			.qop = S(v[i].qop),
			.method = S(v[i].method),
			.uri = S(v[i].uri),
		};
		if (v[i].ha1) {
			cr_assert_eq(digest_ha1(in.alg, in.username, in.realm,
						in.password, out),
				     32);
			cr_assert_str_eq(out, v[i].ha1, "%s HA1", v[i].rfc);
		}
		cr_assert_gt(digest_compute(&in, out), 0);
		cr_assert_str_eq(out, v[i].resp, "%s", v[i].rfc);
	}
}

/* ------------------------------------------------------------------------ */
/* An independent reference: whole strings built with snprintf, hashed at once
 * by nettle (the library hashes piece by piece with no copies). */

static void ref_hash(int sha, const char *s, char *hex)
{
	uint8_t d[32];
	size_t n;

	if (sha == 0) {
		struct md5_ctx c;
		md5_init(&c);
		md5_update(&c, strlen(s), (const uint8_t *)s);
		n = 16;
		md5_digest(&c, n, d);
	} else if (sha == 1) {
		struct sha256_ctx c;
		sha256_init(&c);
		sha256_update(&c, strlen(s), (const uint8_t *)s);
		n = 32;
		sha256_digest(&c, n, d);
	} else {
		struct sha512_256_ctx c;
		sha512_256_init(&c);
		sha512_256_update(&c, strlen(s), (const uint8_t *)s);
		n = 32;
		sha512_256_digest(&c, n, d);
	}
	for (size_t i = 0; i < n; i++)
		sprintf(hex + 2 * i, "%02x", d[i]);
}

Test(digest, sess_and_auth_int_match_reference)
{
	static const struct {
		enum sip_digest_alg alg;
		int sha;
	} algs[] = {
		{SIP_DIGEST_MD5_SESS, 0},        {SIP_DIGEST_SHA256_SESS, 1},
		{SIP_DIGEST_SHA512_256_SESS, 2}, {SIP_DIGEST_MD5, 0},
		{SIP_DIGEST_SHA256, 1},          {SIP_DIGEST_SHA512_256, 2},
	};
	const char *body = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\n";

	for (size_t i = 0; i < sizeof(algs) / sizeof(algs[0]); i++) {
		for (int qi = 0; qi < 3; qi++) {
			const char *qop = qi == 0 ? "" : qi == 1 ? "auth" : "auth-int";
			char a1[512], ha1[65], ha2[65], hb[65], a2[512], kd[512], exp[65];
			char out[DIGEST_HEX_SIZE];

			snprintf(a1, sizeof(a1), "alice:sip.example.net:s3cr\"t");
			ref_hash(algs[i].sha, a1, ha1);
			if (digest_alg_is_sess(algs[i].alg)) {
				snprintf(a1, sizeof(a1), "%s:nonce-42:cn0nce", ha1);
				ref_hash(algs[i].sha, a1, ha1);
			}
			ref_hash(algs[i].sha, body, hb);
			if (qi == 2)
				snprintf(a2, sizeof(a2),
					 "REGISTER:sip:sip.example.net:%s", hb);
			else
				snprintf(a2, sizeof(a2), "REGISTER:sip:sip.example.net");
			ref_hash(algs[i].sha, a2, ha2);
			if (qi == 0)
				snprintf(kd, sizeof(kd), "%s:nonce-42:%s", ha1, ha2);
			else
				snprintf(kd, sizeof(kd),
					 "%s:nonce-42:0000000a:cn0nce:%s:%s", ha1, qop,
					 ha2);
			ref_hash(algs[i].sha, kd, exp);

			struct digest_input in = {
				.alg = algs[i].alg,
				.username = SIP_STR("alice"),
				.realm = SIP_STR("sip.example.net"),
				.password = SIP_STR("s3cr\"t"),
				.nonce = SIP_STR("nonce-42"),
				.cnonce = SIP_STR("cn0nce"),
				.nc = SIP_STR("0000000a"),
				.qop = S(qop),
				.method = SIP_STR("REGISTER"),
				.uri = SIP_STR("sip:sip.example.net"),
				.body = S(body),
			};
			cr_assert_gt(digest_compute(&in, out), 0);
			cr_assert_str_eq(out, exp, "alg %d qop '%s'", algs[i].alg, qop);

			/* the pieces give the same */
			char p1[DIGEST_HEX_SIZE], p2[DIGEST_HEX_SIZE],
				pr[DIGEST_HEX_SIZE];
			digest_ha1(algs[i].alg, in.username, in.realm, in.password, p1);
			if (digest_alg_is_sess(algs[i].alg))
				cr_assert_gt(digest_ha1_sess(algs[i].alg, S(p1), in.nonce,
							     in.cnonce, p1),
					     0);
			cr_assert_gt(digest_ha2(algs[i].alg, in.method, in.uri,
						qi == 2 ? &in.body : NULL, p2),
				     0);
			cr_assert_gt(digest_response(algs[i].alg, S(p1), in.nonce, in.nc,
						     in.cnonce, in.qop, S(p2), pr),
				     0);
			cr_assert_str_eq(pr, exp);

			/* and the verifier agrees; a changed body fails auth-int only */
			struct sip_auth a = cred_of(
				algs[i].alg, "alice", "sip.example.net", "nonce-42",
				"sip:sip.example.net", "0000000a", "cn0nce", qop, exp);
			cr_assert_eq(digest_verify(&a, in.method, in.body, in.password),
				     0);
			cr_assert_eq(digest_verify(&a, in.method, SIP_STR("other body"),
						   in.password),
				     qi == 2 ? -EACCES : 0);
			check_keys(&a, algs[i].alg, in.method, in.body, in.username, in.realm,
				   in.password, "reference", (size_t)qi);
			struct digest_key key;
			digest_key_from_password(&key, in.username, in.realm, in.password);
			bool sha512 = algs[i].alg == SIP_DIGEST_SHA512_256 ||
				      algs[i].alg == SIP_DIGEST_SHA512_256_SESS;
			cr_assert_eq(digest_verify_key(&a, in.method, SIP_STR("other body"),
						       &key),
				     qi == 2 || sha512 ? -EACCES : 0);
		}
	}
}

/* ------------------------------------------------------------------------ */
/* Verification failures                                                     */

/* RFC 2617 3.5 as parsed credentials */
static struct sip_auth mufasa(const char *response)
{
	return cred_of(SIP_DIGEST_MD5, "Mufasa", "testrealm@host.com",
		       "dcd98b7102dd2f0e8b11d0f600bfb0c093", "/dir/index.html",
		       "00000001", "0a4f113b", "auth", response);
}

#define MUFASA_RESP "6629fae49393a05397450978507c4ef1"
#define MUFASA_PW SIP_STR("Circle Of Life")
#define GET SIP_STR("GET")

Test(digest_verify, good_and_wrong_inputs)
{
	struct sip_auth a = mufasa(MUFASA_RESP);

	cr_assert_eq(digest_verify(&a, GET, SIP_STR_NULL, MUFASA_PW), 0);
	cr_assert_eq(digest_verify(&a, GET, SIP_STR_NULL, SIP_STR("Circle of Life")),
		     -EACCES);
	cr_assert_eq(digest_verify(&a, SIP_STR("POST"), SIP_STR_NULL, MUFASA_PW),
		     -EACCES);
	/* one field changed at a time; the last: a response for qop=auth
	 * presented as no qop */
	static const struct {
		const char *what;
		size_t off;
		struct sip_str val;
	} wrong[] = {
		{"nonce", offsetof(struct sip_auth, nonce),
		 SIP_STR("dcd98b7102dd2f0e8b11d0f600bfb0c094")},
		{"uri", offsetof(struct sip_auth, uri), SIP_STR("/dir/index.htm")},
		{"cnonce", offsetof(struct sip_auth, cnonce), SIP_STR("0a4f113c")},
		{"nc", offsetof(struct sip_auth, nc), SIP_STR("00000002")},
		{"realm", offsetof(struct sip_auth, realm), SIP_STR("testrealm@host.org")},
		{"user", offsetof(struct sip_auth, username), SIP_STR("mufasa")},
		{"qop", offsetof(struct sip_auth, qop), SIP_STR_NULL},
	};
	for (size_t i = 0; i < sizeof(wrong) / sizeof(wrong[0]); i++) {
		a = mufasa(MUFASA_RESP);
		memcpy((char *)&a + wrong[i].off, &wrong[i].val, sizeof(wrong[i].val));
		cr_assert_eq(digest_verify(&a, GET, SIP_STR_NULL, MUFASA_PW), -EACCES,
			     "wrong %s", wrong[i].what);
	}
	a = mufasa(MUFASA_RESP);
	cr_assert_eq(digest_verify(&a, GET, SIP_STR_NULL, MUFASA_PW), 0, "unchanged again");
}

Test(digest_verify, response_form)
{
	struct sip_auth a;

	/* truncated, empty, one digit longer, upper case (RFC 7616: LHEX) */
	a = mufasa("6629fae49393a05397450978507c4ef");
	cr_assert_eq(digest_verify(&a, GET, SIP_STR_NULL, MUFASA_PW), -EACCES);
	a = mufasa("");
	cr_assert_eq(digest_verify(&a, GET, SIP_STR_NULL, MUFASA_PW), -EACCES);
	a = mufasa(MUFASA_RESP "0");
	cr_assert_eq(digest_verify(&a, GET, SIP_STR_NULL, MUFASA_PW), -EACCES);
	a = mufasa("6629FAE49393A05397450978507C4EF1");
	cr_assert_eq(digest_verify(&a, GET, SIP_STR_NULL, MUFASA_PW), -EACCES);
	/* one digit off, at the start and at the end (no early exit either way) */
	a = mufasa("7629fae49393a05397450978507c4ef1");
	cr_assert_eq(digest_verify(&a, GET, SIP_STR_NULL, MUFASA_PW), -EACCES);
	a = mufasa("6629fae49393a05397450978507c4ef2");
	cr_assert_eq(digest_verify(&a, GET, SIP_STR_NULL, MUFASA_PW), -EACCES);
	/* an MD5 response claimed as SHA-256 */
	a = mufasa(MUFASA_RESP);
	a.algorithm = SIP_STR("SHA-256");
	cr_assert_eq(digest_verify(&a, GET, SIP_STR_NULL, MUFASA_PW), -EACCES);
}

Test(digest_verify, unsupported_and_missing)
{
	struct sip_auth a = mufasa(MUFASA_RESP);

	a.algorithm = SIP_STR("SHA-1");
	cr_assert_eq(digest_verify(&a, GET, SIP_STR_NULL, MUFASA_PW), -ENOTSUP);
	a = mufasa(MUFASA_RESP);
	a.algorithm = SIP_STR_NULL;
	a.alg = SIP_DIGEST_UNKNOWN;
	cr_assert_eq(digest_verify(&a, GET, SIP_STR_NULL, MUFASA_PW), -ENOTSUP);
	a = mufasa(MUFASA_RESP);
	a.qop = SIP_STR("auth-conf");
	cr_assert_eq(digest_verify(&a, GET, SIP_STR_NULL, MUFASA_PW), -ENOTSUP);
	a = mufasa(MUFASA_RESP);
	a.userhash = true;
	cr_assert_eq(digest_verify(&a, GET, SIP_STR_NULL, MUFASA_PW), -ENOTSUP);

	a = mufasa(MUFASA_RESP);
	a.nonce = SIP_STR_NULL;
	cr_assert_eq(digest_verify(&a, GET, SIP_STR_NULL, MUFASA_PW), -EINVAL);
	a = mufasa(MUFASA_RESP);
	a.response = SIP_STR_NULL;
	cr_assert_eq(digest_verify(&a, GET, SIP_STR_NULL, MUFASA_PW), -EINVAL);
	a = mufasa(MUFASA_RESP);
	a.username = SIP_STR_NULL;
	cr_assert_eq(digest_verify(&a, GET, SIP_STR_NULL, MUFASA_PW), -EINVAL);
	a = mufasa(MUFASA_RESP);
	a.uri = SIP_STR_NULL;
	cr_assert_eq(digest_verify(&a, GET, SIP_STR_NULL, MUFASA_PW), -EINVAL);
	a = mufasa(MUFASA_RESP);
	a.nc = SIP_STR_NULL;
	cr_assert_eq(digest_verify(&a, GET, SIP_STR_NULL, MUFASA_PW), -EINVAL,
		     "qop without nc");
	a = mufasa(MUFASA_RESP);
	a.cnonce = SIP_STR_NULL;
	cr_assert_eq(digest_verify(&a, GET, SIP_STR_NULL, MUFASA_PW), -EINVAL);

	/* stored HA1: wrong length or not hex */
	a = mufasa(MUFASA_RESP);
	cr_assert_eq(digest_verify_ha1(&a, GET, SIP_STR_NULL,
				       SIP_STR("939e7578ed9e3c518a452acee763bce9")),
		     0);
	cr_assert_eq(digest_verify_ha1(&a, GET, SIP_STR_NULL,
				       SIP_STR("939e7578ed9e3c518a452acee763bce")),
		     -EINVAL);
	cr_assert_eq(digest_verify_ha1(&a, GET, SIP_STR_NULL,
				       SIP_STR("939e7578ed9e3c518a452acee763bcez")),
		     -EINVAL);
	cr_assert_eq(digest_verify_ha1(&a, GET, SIP_STR_NULL,
				       SIP_STR("939e7578ed9e3c518a452acee763bce8")),
		     -EACCES);
}

Test(digest_verify, escaped_wire_values)
{
	/* username J"o\e and realm a"b arrive escaped inside their quotes */
	struct digest_input in = {
		.alg = SIP_DIGEST_SHA256,
		.username = SIP_STR("J\"o\\e"),
		.realm = SIP_STR("a\"b"),
		.password = SIP_STR("pw"),
		.nonce = SIP_STR("n"),
		.cnonce = SIP_STR("c"),
		.nc = SIP_STR("00000001"),
		.qop = SIP_STR("auth"),
		.method = SIP_STR("REGISTER"),
		.uri = SIP_STR("sip:a"),
	};
	char out[DIGEST_HEX_SIZE];

	cr_assert_eq(digest_compute(&in, out), 64);
	struct sip_auth a = cred_of(SIP_DIGEST_SHA256, "J\\\"o\\\\e", "a\\\"b", "n",
				    "sip:a", "00000001", "c", "auth", out);
	cr_assert_eq(digest_verify(&a, in.method, SIP_STR_NULL, in.password), 0);
	/* taken literally (escapes not resolved) it would not match */
	in.username = SIP_STR("J\\\"o\\\\e");
	char lit[DIGEST_HEX_SIZE];
	digest_compute(&in, lit);
	cr_assert_str_neq(lit, out);
}

Test(digest, algorithms_and_errors)
{
	char out[DIGEST_HEX_SIZE];

	cr_assert_eq(digest_alg_parse(SIP_STR("md5")), SIP_DIGEST_MD5);
	cr_assert_eq(digest_alg_parse(SIP_STR_NULL), SIP_DIGEST_MD5);
	cr_assert_eq(digest_alg_parse(SIP_STR("SHA-256-SESS")), SIP_DIGEST_SHA256_SESS);
	cr_assert_eq(digest_alg_parse(SIP_STR("sha-512-256")), SIP_DIGEST_SHA512_256);
	cr_assert_eq(digest_alg_parse(SIP_STR("SHA-512")), SIP_DIGEST_UNKNOWN);
	cr_assert_eq(digest_alg_parse(SIP_STR("MD5-sess ")), SIP_DIGEST_UNKNOWN);
	cr_assert_str_eq(digest_alg_name(SIP_DIGEST_SHA512_256_SESS), "SHA-512-256-sess");
	cr_assert_null(digest_alg_name(SIP_DIGEST_UNKNOWN));
	cr_assert_eq(digest_hex_len(SIP_DIGEST_MD5_SESS), 32);
	cr_assert_eq(digest_hex_len(SIP_DIGEST_SHA512_256), 64);
	cr_assert_eq(digest_hex_len(SIP_DIGEST_UNKNOWN), 0);
	cr_assert_eq(digest_ha1(SIP_DIGEST_UNKNOWN, SIP_STR("a"), SIP_STR("b"),
				SIP_STR("c"), out),
		     -ENOTSUP);
	cr_assert_eq(
		digest_ha2(SIP_DIGEST_UNKNOWN, SIP_STR("a"), SIP_STR("b"), NULL, out),
		-ENOTSUP);
	cr_assert_eq(digest_response(SIP_DIGEST_MD5, SIP_STR("abc"), SIP_STR("n"),
				     SIP_STR_NULL, SIP_STR_NULL, SIP_STR_NULL,
				     SIP_STR("0123456789abcdef0123456789abcdef"), out),
		     -EINVAL);
	cr_assert_eq(digest_ha1_sess(SIP_DIGEST_SHA256_SESS,
				     SIP_STR("0123456789abcdef0123456789abcdef"),
				     SIP_STR("n"), SIP_STR("c"), out),
		     -EINVAL, "an MD5-long HA1 for SHA-256");
	struct digest_input in = {.alg = SIP_DIGEST_MD5, .qop = SIP_STR("auth-conf")};
	cr_assert_eq(digest_compute(&in, out), -ENOTSUP);
}

/* ------------------------------------------------------------------------ */
/* Writers                                                                   */

/* Every cap below the full length must give -ENOSPC and touch nothing past
 * cap; the full length must give the same bytes. */
static void check_caps(int (*fn)(char *, size_t, const void *), const void *arg,
		       const char *want)
{
	size_t n = strlen(want);
	char *buf = malloc(n + 64);

	for (size_t cap = 0; cap <= n + 1; cap++) {
		memset(buf, '#', n + 64);
		int r = fn(buf, cap, arg);
		if (cap < n) {
			cr_assert_eq(r, -ENOSPC, "cap %zu gave %d", cap, r);
		} else {
			cr_assert_eq(r, (int)n, "cap %zu gave %d", cap, r);
			cr_assert_arr_eq(buf, want, n);
		}
		for (size_t i = cap; i < n + 64; i++)
			cr_assert_eq(buf[i], '#', "cap %zu: byte %zu written", cap, i);
	}
	free(buf);
}

static int chal_fn(char *b, size_t cap, const void *c)
{
	return digest_challenge_write(b, cap, c);
}

static int cred_fn(char *b, size_t cap, const void *c)
{
	return digest_credentials_write(b, cap, c);
}

Test(digest_write, challenge)
{
	struct digest_challenge c = {
		.realm = SIP_STR("sip.example.net"),
		.nonce = SIP_STR("5f1c2a9b+/=="),
		.opaque = SIP_STR("op\\\"q"),
		.alg = SIP_DIGEST_SHA256,
		.qop_auth = true,
		.stale = true,
	};
	char buf[256];

	check_caps(chal_fn, &c,
		   "Digest realm=\"sip.example.net\", nonce=\"5f1c2a9b+/==\", "
		   "opaque=\"op\\\"q\", algorithm=SHA-256, qop=\"auth\", stale=true");
	c.opaque = SIP_STR_NULL;
	c.stale = false;
	c.qop_auth = false;
	c.alg = SIP_DIGEST_MD5;
	cr_assert_eq(digest_challenge_write(buf, sizeof(buf), &c), 67);
	cr_assert_str_eq(buf, "Digest realm=\"sip.example.net\", nonce=\"5f1c2a9b+/==\", "
			      "algorithm=MD5");
	/* values that cannot sit between quotes, and an unknown algorithm */
	c.realm = SIP_STR("bad\"realm");
	cr_assert_eq(digest_challenge_write(buf, sizeof(buf), &c), -EINVAL);
	c.realm = SIP_STR("bad\\");
	cr_assert_eq(digest_challenge_write(buf, sizeof(buf), &c), -EINVAL);
	c.realm = SIP_STR("bad\r\nVia: x");
	cr_assert_eq(digest_challenge_write(buf, sizeof(buf), &c), -EINVAL);
	c.realm = SIP_STR("ok");
	c.alg = SIP_DIGEST_UNKNOWN;
	cr_assert_eq(digest_challenge_write(buf, sizeof(buf), &c), -EINVAL);
}

Test(digest_write, credentials)
{
	struct digest_credentials c = {
		.username = SIP_STR("alice"),
		.realm = SIP_STR("sip.example.net"),
		.nonce = SIP_STR("abc"),
		.uri = SIP_STR("sip:sip.example.net"),
		.response = SIP_STR("0123456789abcdef0123456789abcdef"),
		.cnonce = SIP_STR("xyz"),
		.opaque = SIP_STR("o"),
		.qop = SIP_STR("auth"),
		.nc = 0x1a,
		.alg = SIP_DIGEST_MD5,
	};
	char buf[512];

	check_caps(cred_fn, &c,
		   "Digest username=\"alice\", realm=\"sip.example.net\", nonce=\"abc\", "
		   "uri=\"sip:sip.example.net\", "
		   "response=\"0123456789abcdef0123456789abcdef\", algorithm=MD5, "
		   "cnonce=\"xyz\", opaque=\"o\", qop=auth, nc=0000001a");
	/* without qop: no cnonce, qop, nc (RFC 2617 3.2.2) */
	c.qop = SIP_STR_NULL;
	c.opaque = SIP_STR_NULL;
	cr_assert_gt(digest_credentials_write(buf, sizeof(buf), &c), 0);
	cr_assert_str_eq(buf,
			 "Digest username=\"alice\", realm=\"sip.example.net\", "
			 "nonce=\"abc\", uri=\"sip:sip.example.net\", "
			 "response=\"0123456789abcdef0123456789abcdef\", algorithm=MD5");
	c.qop = SIP_STR("auth-conf");
	cr_assert_eq(digest_credentials_write(buf, sizeof(buf), &c), -EINVAL);
}

/* A challenge as the parser gives it (wire values). */
static struct sip_auth challenge(const char *alg, const char *qop)
{
	struct sip_auth ch;

	memset(&ch, 0, sizeof(ch));
	ch.scheme = SIP_STR("Digest");
	ch.realm = SIP_STR("sip.example.net");
	ch.nonce = SIP_STR("n0nce\\\"x");
	ch.opaque = SIP_STR("0paque");
	if (alg) {
		ch.algorithm = S(alg);
		ch.alg = digest_alg_parse(ch.algorithm);
	}
	if (qop)
		ch.qop = S(qop);
	return ch;
}

/* find name="value" or name=value in an Authorization value */
static struct sip_str param_of(const char *v, const char *name)
{
	char key[32];
	snprintf(key, sizeof(key), "%s=", name);
	const char *p = strstr(v, key);
	if (!p)
		return SIP_STR_NULL;
	p += strlen(key);
	if (*p == '"') {
		const char *e = ++p;
		while (*e && *e != '"')
			e += (*e == '\\') ? 2 : 1;
		return sip_str_make(p, (size_t)(e - p));
	}
	return sip_str_make(p, strcspn(p, ", "));
}

Test(digest_answer, answers_verify)
{
	static const struct {
		const char *alg, *qop, *want_qop;
	} cases[] = {
		{NULL, NULL, NULL},
		{"MD5", "auth", "auth"},
		{"MD5-sess", "auth", "auth"},
		{"SHA-256", "auth,auth-int", "auth"},
		{"SHA-512-256", "auth-int", "auth-int"},
		{"SHA-256-sess", "auth", "auth"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sip_auth ch = challenge(cases[i].alg, cases[i].qop);
		char buf[1024];
		struct sip_write w;

		sip_write_init(&w, buf, sizeof(buf) - 1);
		cr_assert_eq(digest_answer(&w, &ch, SIP_STR("bob\"x"), SIP_STR("pw"),
					   SIP_STR("REGISTER"),
					   SIP_STR("sip:sip.example.net"),
					   SIP_STR("body"), SIP_STR("cn"), 3),
			     0);
		int n = sip_write_result(&w);
		cr_assert_gt(n, 0);
		buf[n] = '\0';

		/* read the credentials back with the parser */
		struct sip_auth a;
		struct sip_err err = {0};
		cr_assert_eq(sip_auth_parse(&a, sip_str_make(buf, (size_t)n), &err), 0,
			     "%s: %s", buf, err.reason);
		cr_assert(sip_str_eq(a.scheme, SIP_STR("Digest")));
		cr_assert(sip_str_eq(a.realm, ch.realm));
		cr_assert(sip_str_eq(a.uri, SIP_STR("sip:sip.example.net")));
		cr_assert_eq(a.alg, ch.alg);
		/* the hand reader agrees with the parser */
		cr_assert(sip_str_eq(param_of(buf, "response"), a.response));
		cr_assert(sip_str_eq(param_of(buf, "cnonce"), a.cnonce));
		cr_assert(sip_str_eq(a.username, SIP_STR("bob\\\"x")), "%s", buf);
		cr_assert(sip_str_eq(a.nonce, ch.nonce), "%s", buf);
		cr_assert(sip_str_eq(param_of(buf, "opaque"), SIP_STR("0paque")), "%s",
			  buf);
		if (cases[i].want_qop) {
			cr_assert(sip_str_eq(a.qop, S(cases[i].want_qop)), "%s", buf);
			cr_assert(sip_str_eq(a.nc, SIP_STR("00000003")), "%s", buf);
			cr_assert(a.has_nc);
			cr_assert_eq(a.nc_val, 3);
		} else {
			cr_assert_not(sip_str_isset(a.qop), "%s", buf);
			cr_assert_not(a.has_nc, "%s", buf);
		}
		if (!cases[i].want_qop && !digest_alg_is_sess(ch.alg))
			cr_assert_not(sip_str_isset(a.cnonce), "%s", buf);
		cr_assert_eq(digest_verify(&a, SIP_STR("REGISTER"), SIP_STR("body"),
					   SIP_STR("pw")),
			     0, "case %zu: %s", i, buf);
		cr_assert_eq(digest_verify(&a, SIP_STR("REGISTER"), SIP_STR("body"),
					   SIP_STR("pW")),
			     -EACCES);
	}
}

Test(digest_answer, refuses)
{
	struct sip_auth ch = challenge("SHA-1", "auth");
	char buf[512];
	struct sip_write w;

	sip_write_init(&w, buf, sizeof(buf));
	cr_assert_eq(digest_answer(&w, &ch, SIP_STR("u"), SIP_STR("p"),
				   SIP_STR("REGISTER"), SIP_STR("sip:x"), SIP_STR_NULL,
				   SIP_STR("c"), 1),
		     -ENOTSUP);
	ch = challenge("MD5", "auth-conf");
	cr_assert_eq(digest_answer(&w, &ch, SIP_STR("u"), SIP_STR("p"),
				   SIP_STR("REGISTER"), SIP_STR("sip:x"), SIP_STR_NULL,
				   SIP_STR("c"), 1),
		     -ENOTSUP);
	ch = challenge("MD5", "auth");
	cr_assert_eq(digest_answer(&w, &ch, SIP_STR("u"), SIP_STR("p"),
				   SIP_STR("REGISTER"), SIP_STR("sip:x"), SIP_STR_NULL,
				   SIP_STR_NULL, 1),
		     -EINVAL, "qop offered but no cnonce");
	ch.nonce = SIP_STR_NULL;
	cr_assert_eq(digest_answer(&w, &ch, SIP_STR("u"), SIP_STR("p"),
				   SIP_STR("REGISTER"), SIP_STR("sip:x"), SIP_STR_NULL,
				   SIP_STR("c"), 1),
		     -EINVAL);
	cr_assert_eq(w.len, 0, "nothing appended on error");
	/* too small: -ENOSPC, nothing past cap */
	ch = challenge("MD5", "auth");
	memset(buf, '#', sizeof(buf));
	sip_write_init(&w, buf, 40);
	cr_assert_eq(digest_answer(&w, &ch, SIP_STR("u"), SIP_STR("p"),
				   SIP_STR("REGISTER"), SIP_STR("sip:x"), SIP_STR_NULL,
				   SIP_STR("c"), 1),
		     0);
	cr_assert_eq(sip_write_result(&w), -ENOSPC);
	for (size_t i = 40; i < sizeof(buf); i++)
		cr_assert_eq(buf[i], '#');
}

/* What the writers produce, sip_auth_parse reads back field for field. */
Test(digest_write, parse_back)
{
	static const enum sip_digest_alg algs[] = {
		SIP_DIGEST_MD5,         SIP_DIGEST_MD5_SESS,   SIP_DIGEST_SHA256,
		SIP_DIGEST_SHA256_SESS, SIP_DIGEST_SHA512_256, SIP_DIGEST_SHA512_256_SESS,
	};
	char buf[512];
	struct sip_auth a;
	struct sip_err err = {0};

	for (size_t i = 0; i < sizeof(algs) / sizeof(algs[0]); i++) {
		struct digest_challenge c = {
			.realm = SIP_STR("r\\\"q"),
			.nonce = SIP_STR("5f1c2a9b+/=="),
			.opaque = (i & 1) ? SIP_STR("opq") : SIP_STR_NULL,
			.alg = algs[i],
			.qop_auth = i != 0,
			.stale = i & 1,
		};
		int n = digest_challenge_write(buf, sizeof(buf), &c);
		cr_assert_gt(n, 0);
		cr_assert_eq(sip_auth_parse(&a, sip_str_make(buf, (size_t)n), &err), 0,
			     "%s: %s", buf, err.reason);
		cr_assert(sip_str_eq(a.realm, c.realm), "%s", buf);
		cr_assert(sip_str_eq(a.nonce, c.nonce), "%s", buf);
		cr_assert_eq(sip_str_isset(a.opaque), sip_str_isset(c.opaque), "%s", buf);
		if (sip_str_isset(c.opaque))
			cr_assert(sip_str_eq(a.opaque, c.opaque), "%s", buf);
		cr_assert_eq(a.alg, algs[i], "%s", buf);
		cr_assert_eq(sip_str_isset(a.qop), c.qop_auth, "%s", buf);
		if (c.qop_auth)
			cr_assert(sip_str_eq(a.qop, SIP_STR("auth")), "%s", buf);
		cr_assert_eq(a.stale, c.stale, "%s", buf);

		struct digest_credentials cr = {
			.username = SIP_STR("J\\\"o"),
			.realm = c.realm,
			.nonce = c.nonce,
			.uri = SIP_STR("sip:example.com;transport=tcp"),
			.response = SIP_STR("0123456789abcdef0123456789abcdef"),
			.cnonce = SIP_STR("0a4f113b"),
			.opaque = c.opaque,
			.qop = c.qop_auth ? SIP_STR("auth") : SIP_STR_NULL,
			.nc = 0xdeadbeef,
			.alg = algs[i],
		};
		n = digest_credentials_write(buf, sizeof(buf), &cr);
		cr_assert_gt(n, 0);
		cr_assert_eq(sip_auth_parse(&a, sip_str_make(buf, (size_t)n), &err), 0,
			     "%s: %s", buf, err.reason);
		cr_assert(sip_str_eq(a.username, cr.username), "%s", buf);
		cr_assert(sip_str_eq(a.realm, cr.realm), "%s", buf);
		cr_assert(sip_str_eq(a.nonce, cr.nonce), "%s", buf);
		cr_assert(sip_str_eq(a.uri, cr.uri), "%s", buf);
		cr_assert(sip_str_eq(a.response, cr.response), "%s", buf);
		cr_assert_eq(a.alg, algs[i], "%s", buf);
		if (c.qop_auth) {
			cr_assert(sip_str_eq(a.qop, SIP_STR("auth")), "%s", buf);
			cr_assert(sip_str_eq(a.cnonce, cr.cnonce), "%s", buf);
			cr_assert(sip_str_eq(a.nc, SIP_STR("deadbeef")), "%s", buf);
			cr_assert_eq(a.nc_val, 0xdeadbeef, "%s", buf);
		} else {
			cr_assert_not(a.has_nc, "%s", buf);
		}
	}
}

/* ------------------------------------------------------------------------ */
/* Answering the corpus's real challenges                                    */

/* Every 401/407 of real/ (picked by the manifest's start_line): parse its
 * challenge, answer it as a UA would, parse the answer and verify it as a
 * registrar would. */
Test(digest_corpus, answer_real_challenges)
{
	const char *dir = getenv("SIPREG_CORPUS");
	char path[4096];
	size_t len;
	struct csv c;
	int answered = 0;

	if (!dir || !*dir)
		cr_skip_test("SIPREG_CORPUS is not set: real challenges NOT answered");
	snprintf(path, sizeof(path), "%s/real/manifest.csv", dir);
	char *text = csv_slurp(path, &len);
	cr_assert_not_null(text, "cannot read %s", path);
	cr_assert_eq(csv_parse(&c, text, len), 0);
	int cf = csv_need_col(&c, "file"), cs = csv_need_col(&c, "start_line");

	for (size_t r = 1; r < c.nrows; r++) {
		const char *sl = c.field[r][cs];
		if (strncmp(sl, "SIP/2.0 401", 11) && strncmp(sl, "SIP/2.0 407", 11))
			continue;
		snprintf(path, sizeof(path), "%s/real/%s", dir, c.field[r][cf]);
		size_t mlen;
		char *msg = csv_slurp(path, &mlen);
		cr_assert_not_null(msg, "cannot read %s", path);
		struct sip_msg m;
		struct sip_hdr h[64];
		struct sip_err err = {0};
		cr_assert_gt(
			sip_msg_parse(&m, msg, mlen, h, 64, SIP_PARSE_DATAGRAM, &err), 0,
			"%s: %s", path, err.reason);
		const struct sip_hdr *ch =
			sip_msg_hdr(&m, m.status == 401 ? SIP_HDR_WWW_AUTHENTICATE
							: SIP_HDR_PROXY_AUTHENTICATE);
		cr_assert_not_null(ch, "%s: no challenge", path);
		struct sip_auth chal, a;
		cr_assert_eq(sip_auth_parse(&chal, ch->value, &err), 0, "%s: %s", path,
			     err.reason);

		char buf[1024];
		struct sip_write w;
		sip_write_init(&w, buf, sizeof(buf));
		cr_assert_eq(digest_answer(&w, &chal, SIP_STR("alice"), SIP_STR("pw"),
					   SIP_STR("REGISTER"),
					   SIP_STR("sip:example.com"), SIP_STR_NULL,
					   SIP_STR("0a4f113b"), 1),
			     0, "%s", path);
		int n = sip_write_result(&w);
		cr_assert_gt(n, 0);
		cr_assert_eq(sip_auth_parse(&a, sip_str_make(buf, (size_t)n), &err), 0,
			     "%s: answer '%.*s' does not parse: %s", path, n, buf,
			     err.reason);
		cr_assert(sip_str_eq(a.realm, chal.realm), "%s", path);
		cr_assert(sip_str_eq(a.nonce, chal.nonce), "%s", path);
		cr_assert(sip_str_eq(a.opaque, chal.opaque), "%s", path);
		cr_assert_eq(a.alg, chal.alg, "%s", path);
		cr_assert_eq(digest_verify(&a, SIP_STR("REGISTER"), SIP_STR_NULL,
					   SIP_STR("pw")),
			     0, "%s: %.*s", path, n, buf);
		cr_assert_eq(digest_verify(&a, SIP_STR("REGISTER"), SIP_STR_NULL,
					   SIP_STR("pv")),
			     -EACCES);
		free(msg);
		answered++;
	}
	cr_assert_geq(answered, 5, "only %d challenges answered", answered);
	cr_log_info("answered %d real challenges", answered);
	csv_free(&c);
	free(text);
}

/* ------------------------------------------------------------------------ */
/* Prepared keys                                                             */

Test(digest_key, bad_stored_ha1s_and_checks_before_hashing)
{
	static const char md5[] = "939e7578ed9e3c518a452acee763bce9"; /* RFC 2617 */
	struct digest_key k;

	cr_assert_eq(digest_key_from_ha1(&k, SIP_STR_NULL, SIP_STR_NULL), 0);
	cr_assert_eq(k.have, 0);
	cr_assert_eq(digest_key_from_ha1(&k, SIP_STR("939e7578ed9e3c518a452acee763bce"),
					 SIP_STR_NULL),
		     -EINVAL, "31 digits");
	cr_assert_eq(k.have, 0);
	cr_assert_eq(digest_key_from_ha1(&k, SIP_STR("939e7578ed9e3c518a452acee763bcex"),
					 SIP_STR_NULL),
		     -EINVAL, "not hex");
	cr_assert_eq(digest_key_from_ha1(&k, S(md5), S(md5)), -EINVAL,
		     "an MD5 length for SHA-256");
	cr_assert_eq(k.have, DIGEST_KEY_MD5, "the good one kept");

	struct sip_auth a = mufasa(MUFASA_RESP);
	cr_assert_eq(digest_verify_key(&a, GET, SIP_STR_NULL, &k), 0);
	a.response = SIP_STR("6629FAE49393A05397450978507C4EF1");
	cr_assert_eq(digest_verify_key(&a, GET, SIP_STR_NULL, &k), -EACCES, "upper case");
	a.response = SIP_STR("6629fae49393a05397450978507c4ef");
	cr_assert_eq(digest_verify_key(&a, GET, SIP_STR_NULL, &k), -EACCES, "truncated");
	a = mufasa(MUFASA_RESP);
	a.cnonce = SIP_STR_NULL;
	cr_assert_eq(digest_verify_key(&a, GET, SIP_STR_NULL, &k), -EINVAL, "qop without cnonce");
	a = mufasa(MUFASA_RESP);
	a.uri = SIP_STR_NULL;
	cr_assert_eq(digest_verify_key(&a, GET, SIP_STR_NULL, &k), -EINVAL);
	a = mufasa(MUFASA_RESP);
	a.qop = SIP_STR("auth-conf");
	cr_assert_eq(digest_verify_key(&a, GET, SIP_STR_NULL, &k), -ENOTSUP);
	a = mufasa(MUFASA_RESP);
	a.algorithm = SIP_STR("SHA-1");
	cr_assert_eq(digest_verify_key(&a, GET, SIP_STR_NULL, &k), -ENOTSUP);
	a = mufasa(MUFASA_RESP);
	a.userhash = true;
	cr_assert_eq(digest_verify_key(&a, GET, SIP_STR_NULL, &k), -ENOTSUP);
	/* the key stands for username and realm: they are not hashed again */
	a = mufasa(MUFASA_RESP);
	a.username = SIP_STR("Simba");
	cr_assert_eq(digest_verify(&a, GET, SIP_STR_NULL, MUFASA_PW), -EACCES);
	cr_assert_eq(digest_verify_key(&a, GET, SIP_STR_NULL, &k), 0);
}

/* The verifiers' HA2 memo (one per hash and thread): whatever came before,
 * each verdict is the one computed afresh. Requests alternate between URIs,
 * methods, an escaped spelling of the same URI, one too long to be kept,
 * and auth-int (never memoized: the body is part of HA2). */
Test(digest_key, ha2_memo_never_answers_for_another_request)
{
	static const char *const uris[] = {
		"sip:carrier.example", "sip:carrier.exampl", "sip:carrier.example;x=1",
		"sip:carrier.ex\\ample", "sip:carrier.exa\\mple",
		"sip:long-long-long-long-long-long-long-long-long-long-long-long-long-long-"
		"long-long-long-long-long-long-long-long-long-long-long.example"};
	static const char *const methods[] = {"REGISTER", "INVITE", "REGISTEr"};
	static const char *const algs[] = {"MD5", "SHA-256", "SHA-256-sess", "MD5-sess",
					   "SHA-512-256"};
	struct digest_key key;

	cr_assert_gt(strlen(uris[5]), 126);
	digest_key_from_password(&key, SIP_STR("alice"), SIP_STR("carrier.example"),
				 SIP_STR("pw"));
	for (int round = 0; round < 3; round++)
		for (size_t ai = 0; ai < 5; ai++)
			for (size_t ui = 0; ui < 6; ui++)
				for (size_t mi = 0; mi < 3; mi++) {
					const char *qop = (ui + mi + (size_t)round) % 4 == 3
								  ? "auth-int"
								  : "auth";
					char exp[DIGEST_HEX_SIZE], uri[256];
					/* the uri as the client hashed it: unescaped */
					size_t n = 0;
					for (const char *p = uris[ui]; *p; p++)
						if (*p != '\\')
							uri[n++] = *p;
					uri[n] = '\0';
					struct digest_input in = {
						.alg = digest_alg_parse(S(algs[ai])),
						.username = SIP_STR("alice"),
						.realm = SIP_STR("carrier.example"),
						.password = SIP_STR("pw"),
						.nonce = SIP_STR("n0nce"),
						.cnonce = SIP_STR("c"),
						.nc = SIP_STR("00000001"),
						.qop = S(qop),
						.method = S(methods[mi]),
						.uri = S(uri),
						.body = SIP_STR("b"),
					};
					cr_assert_gt(digest_compute(&in, exp), 0);
					struct sip_auth a =
						cred_of(in.alg, "alice", "carrier.example", "n0nce",
							uris[ui], "00000001", "c", qop, exp);
					bool sha512 = ai == 4;
					cr_assert_eq(digest_verify(&a, in.method, in.body, in.password),
						     0, "%s %s %s", algs[ai], uris[ui], methods[mi]);
					cr_assert_eq(digest_verify_key(&a, in.method, in.body, &key),
						     sha512 ? -EACCES : 0, "%s %s %s", algs[ai],
						     uris[ui], methods[mi]);
					/* the neighbours' method and uri fail */
					struct sip_str other = S(methods[(mi + 1) % 3]);
					cr_assert_eq(digest_verify(&a, other, in.body, in.password),
						     -EACCES);
					cr_assert_eq(digest_verify_key(&a, other, in.body, &key),
						     -EACCES);
					/* uris 3 and 4 are one URI spelled two ways */
					bool same = ui == 3;
					a.uri = S(uris[(ui + 1) % 6]);
					cr_assert_eq(digest_verify(&a, in.method, in.body, in.password),
						     same ? 0 : -EACCES);
					cr_assert_eq(digest_verify_key(&a, in.method, in.body, &key),
						     same && !sha512 ? 0 : -EACCES);
				}
}

/* digest_hex: every byte value, at every length up to 256, against
 * snprintf's %02x; nothing written past 2n. */
Test(digest, hex_of_every_byte)
{
	uint8_t in[256];
	char got[2 * 256 + 1], want[2 * 256 + 1];

	for (unsigned i = 0; i < 256; i++)
		in[i] = (uint8_t)(255 - i);
	for (size_t n = 0; n <= sizeof(in); n++) {
		memset(got, '#', sizeof(got));
		digest_hex(got, in, n);
		for (size_t i = 0; i < n; i++)
			snprintf(want + 2 * i, 3, "%02x", in[i]);
		cr_assert(memcmp(got, want, 2 * n) == 0, "n = %zu", n);
		cr_assert_eq(got[2 * n], '#', "n = %zu: a byte past the end written", n);
	}
}
