/* SPDX-License-Identifier: MIT */
/*
 * Tests of REGISTER processing (RFC 3261 §10.3, SPEC.md "Inbound
 * registration"): real messages in, real responses out, parsed back; digest
 * answers computed by the UA side of digest.h.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <urcu/urcu-qsbr.h>

#include "sipreg/digest.h"
#include "sipreg/registrar.h"
#include "sipreg/sip_write.h"

static const uint8_t key[SIPHASH_KEY_LEN] = "0123456789abcdef";
static const uint8_t secret[NONCE_SECRET_LEN] = "0123456789abcdef0123456789abcdef";

static struct config *cfg;
static struct location *loc;
static struct guard *guard;
static struct nonce_ctx *nonces;
static struct subscriber_table *subs;
static struct registrar *reg;
static __thread struct registrar_stats stats; /* per thread, as per worker */
static struct sockaddr_in src;
static uint64_t now_ms;
static time_t wall;

static void add_subscriber(const char *user, const char *pw)
{
	struct store_subscriber s = {.enabled = true};

	snprintf(s.username, sizeof(s.username), "%s", user);
	snprintf(s.domain, sizeof(s.domain), "carrier.example");
	snprintf(s.password, sizeof(s.password), "%s", pw);
	cr_assert_eq(subscriber_table_put(subs, &s), 0);
}

static void build(void)
{
	struct guard_config gc = {.retry = cfg->endpoint_register_retry,
				  .suspend_s = cfg->endpoint_register_suspend,
				  .address_retry = cfg->endpoint_address_retry};
	struct registrar_deps d;

	cr_assert_eq(location_new(&loc, key, NULL, NULL), 0);
	cr_assert_eq(guard_new(&guard, &gc, key, NULL, NULL), 0);
	cr_assert_eq(nonce_new(&nonces, secret, 16, cfg->nonce_expire), 0);
	cr_assert_eq(subscriber_table_new(&subs, key), 0);
	d = (struct registrar_deps){.location = loc, .guard = guard, .nonce = nonces,
				    .subscribers = subs, .tag_key = key};
	cr_assert_eq(registrar_new(&reg, cfg, &d), 0);
	add_subscriber("alice", "wonderland");
	add_subscriber("bob", "builder");
}

static void setup(void)
{
	urcu_qsbr_register_thread();
	cr_assert_eq(config_new(&cfg), 0);
	memset(&stats, 0, sizeof(stats));
	memset(&src, 0, sizeof(src));
	src.sin_family = AF_INET;
	src.sin_port = htons(5060);
	inet_pton(AF_INET, "192.0.2.10", &src.sin_addr);
	now_ms = 1000000;
	wall = 1900000000;
	build();
}

static void teardown(void)
{
	registrar_free(reg);
	subscriber_table_free(subs);
	nonce_free(nonces);
	guard_free(guard);
	location_free(loc);
	config_free(cfg);
	urcu_qsbr_unregister_thread();
}

TestSuite(registrar, .init = setup, .fini = teardown);

struct resp {
	char buf[4096];
	struct sip_hdr hdrs[64];
	struct sip_msg m;
	unsigned status;
};

struct ua {
	const char *user, *password;
	const char *domain; /* the To host; NULL: carrier.example */
	char call_id[64];
	uint32_t cseq;
	char contact[128];
	char auth[1024]; /* the Authorization header line, "" for none */
	char extra[2048]; /* more header lines */
};

static struct ua ua_new(const char *user, const char *password)
{
	struct ua u = {.user = user, .password = password, .cseq = 1};

	snprintf(u.call_id, sizeof(u.call_id), "cid-%s@192.0.2.10", user);
	snprintf(u.contact, sizeof(u.contact), "<sip:%s@192.0.2.10:5060>", user);
	return u;
}

/* Through which entry point send_register hands a request to the
 * registrar: alternately registrar_handle (the message split by
 * sip_msg_parse) and registrar_handle_reg (sip_reg_parse's fields, as
 * sipregd's UDP workers do), so that every test below runs both. Per
thread, as the contacts array below: the multi-worker test calls it from
three threads at once. */
static _Thread_local int entry_turn;

/* Parses req as dispatch.c does for a REGISTER datagram, then
 * registrar_handle_reg. */
static int handle_reg_path(const char *req, const struct registrar_src *s, char *out, size_t cap,
			   struct registrar_result *res)
{
	static _Thread_local struct sip_contact contacts[REGISTRAR_MAX_CONTACTS];
	struct sip_hdr hdrs[64];
	struct sip_reg sr;
	struct sip_err err;

	cr_assert_gt(sip_reg_parse(&sr, req, strlen(req), hdrs, 64, contacts,
				   REGISTRAR_MAX_CONTACTS, SIP_PARSE_DATAGRAM, &err),
		     0, "%s", err.reason);
	cr_assert_eq(sr.valid_rc, 0, "%s", sr.valid_err.reason);
	/* as dispatch.c: the AOR hashed and the slots prefetched first */
	struct registrar_hint hint;
	struct registrar_src hs = *s;
	registrar_prefetch_reg(reg, &sr, &hint);
	hs.hint = &hint;
	return registrar_handle_reg(reg, &sr, &hs, now_ms, wall, out, cap, res, &stats);
}

/* Sends one REGISTER of u; the response is parsed into *r. Returns the
 * status, or 0 when the registrar dropped the request. */
static unsigned send_register(struct ua *u, struct resp *r)
{
	char req[8192];
	struct sip_hdr hdrs[64];
	struct sip_msg m;
	struct sip_err err;
	struct registrar_src s = {.addr = (struct sockaddr *)&src, .transport = LOC_UDP};
	struct registrar_result res;
	int n = snprintf(req, sizeof(req),
			 "REGISTER sip:carrier.example SIP/2.0\r\n"
			 "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-%u-%s;rport\r\n"
			 "Max-Forwards: 70\r\n"
			 "From: <sip:%s@carrier.example>;tag=ft-%s\r\n"
			 "To: <sip:%s@%s>\r\n"
			 "Call-ID: %s\r\n"
			 "CSeq: %u REGISTER\r\n"
			 "%s%s%s%s"
			 "Content-Length: 0\r\n\r\n",
			 u->cseq, u->user, u->user, u->user, u->user,
			 u->domain ? u->domain : "carrier.example", u->call_id, u->cseq,
			 u->contact[0] ? "Contact: " : "", u->contact, u->contact[0] ? "\r\n" : "",
			 u->extra);

	cr_assert_lt(n, (int)sizeof(req));
	if (u->auth[0]) {
		/* insert the Authorization line before Content-Length */
		char *cl = strstr(req, "Content-Length");
		char tail[64];
		snprintf(tail, sizeof(tail), "%s", cl);
		snprintf(cl, sizeof(req) - (size_t)(cl - req), "%s\r\n%s", u->auth, tail);
	}
	u->cseq++;
	cr_assert_gt(sip_msg_parse(&m, req, strlen(req), hdrs, 64, SIP_PARSE_DATAGRAM, &err), 0,
		     "%s", err.reason);
	cr_assert_eq(sip_msg_validate(&m, &err), 0, "%s", err.reason);
	if (entry_turn++ & 1)
		cr_assert_eq(handle_reg_path(req, &s, r->buf, sizeof(r->buf), &res), 0);
	else
		cr_assert_eq(registrar_handle(reg, &m, &s, now_ms, wall, r->buf, sizeof(r->buf),
					      &res, &stats),
			     0);
	if (res.status == 0)
		return 0;
	/* a C string too, for the tests' strstr and strlen */
	cr_assert_lt(res.len, sizeof(r->buf));
	r->buf[res.len] = '\0';
	cr_assert_gt(sip_msg_parse(&r->m, r->buf, res.len, r->hdrs, 64, SIP_PARSE_DATAGRAM, &err),
		     0, "response does not parse: %s\n%.*s", err.reason, (int)res.len, r->buf);
	cr_assert_eq(r->m.status, res.status);
	r->status = res.status;
	return res.status;
}

/* Answers r's challenge of algorithm chal into u->auth, with credentials
 * of algorithm send (the -sess form of chal, say; NULL: chal itself). */
static void answer_as(struct ua *u, const struct resp *r, enum sip_digest_alg chal,
		      const char *send, const char *pw)
{
	struct sip_auth ch;
	struct sip_err err;
	struct sip_write w;
	int n;

	for (const struct sip_hdr *h = sip_msg_hdr(&r->m, SIP_HDR_WWW_AUTHENTICATE); h;
	     h = sip_msg_hdr_next(&r->m, h)) {
		cr_assert_eq(sip_auth_parse(&ch, h->value, &err), 0, "%s", err.reason);
		if (ch.alg != chal)
			continue;
		if (send) {
			ch.algorithm = sip_str_make(send, strlen(send));
			ch.alg = digest_alg_parse(ch.algorithm);
		}
		n = snprintf(u->auth, sizeof(u->auth), "Authorization: ");
		sip_write_init(&w, u->auth + n, sizeof(u->auth) - (size_t)n - 1);
		cr_assert_eq(digest_answer(&w, &ch, sip_str_make(u->user, strlen(u->user)),
					   sip_str_make(pw, strlen(pw)), SIP_STR("REGISTER"),
					   SIP_STR("sip:carrier.example"), SIP_STR(""),
					   SIP_STR("0a4f113b"), 1),
			     0);
		n = sip_write_result(&w);
		cr_assert_gt(n, 0);
		u->auth[strlen("Authorization: ") + (size_t)n] = '\0';
		return;
	}
	cr_assert_fail("no challenge for that algorithm");
}

/* Answers the challenge of r (the one with algorithm alg) into u->auth. */
static void answer(struct ua *u, const struct resp *r, enum sip_digest_alg alg, const char *pw)
{
	answer_as(u, r, alg, NULL, pw);
}

static bool challenge_has(const struct resp *r, const char *needle)
{
	const struct sip_hdr *h = sip_msg_hdr(&r->m, SIP_HDR_WWW_AUTHENTICATE);

	return h && memmem(h->value.p, h->value.len, needle, strlen(needle));
}

static uint32_t contact_expires(const struct resp *r, size_t i)
{
	struct sip_contact c[8];
	struct sip_err err;
	int n = sip_msg_contacts(&r->m, c, 8, &err);

	cr_assert_gt(n, (int)i, "no Contact %zu in the 200", i);
	cr_assert(c[i].has_expires);
	return c[i].expires;
}

static unsigned register_ok(struct ua *u, enum sip_digest_alg alg)
{
	struct resp r;

	u->auth[0] = '\0';
	cr_assert_eq(send_register(u, &r), 401);
	answer(u, &r, alg, u->password);
	return send_register(u, &r);
}

Test(registrar, challenge_offers_sha256_then_md5_with_qop_auth)
{
	struct ua u = ua_new("alice", "wonderland");
	struct resp r;
	struct sip_auth a;
	struct sip_err err;
	const struct sip_hdr *h;

	cr_assert_eq(send_register(&u, &r), 401);
	h = sip_msg_hdr(&r.m, SIP_HDR_WWW_AUTHENTICATE);
	cr_assert_eq(sip_auth_parse(&a, h->value, &err), 0);
	cr_assert_eq(a.alg, SIP_DIGEST_SHA256, "SHA-256 first (RFC 8760)");
	cr_assert(sip_str_eq(a.realm, SIP_STR("carrier.example")), "realm from the To domain");
	cr_assert(sip_str_eq(a.qop, SIP_STR("auth")));
	cr_assert_not(a.stale);
	h = sip_msg_hdr_next(&r.m, h);
	cr_assert_not_null(h);
	cr_assert_eq(sip_auth_parse(&a, h->value, &err), 0);
	cr_assert_eq(a.alg, SIP_DIGEST_MD5);
	cr_assert(sip_msg_hdr(&r.m, SIP_HDR_TO) && memmem(sip_msg_hdr(&r.m, SIP_HDR_TO)->value.p,
							   sip_msg_hdr(&r.m, SIP_HDR_TO)->value.len,
							   ";tag=", 5),
		  "the 401 carries a To tag");
	cr_assert_eq(stats.challenged, 1);
	cr_assert_eq(stats.auth_failed, 0, "a first challenge is not a failure");
}

Test(registrar, md5_and_sha256_registrations_listed_with_expires_and_date)
{
	struct ua a = ua_new("alice", "wonderland"), b = ua_new("bob", "builder");
	struct resp r;

	cr_assert_eq(register_ok(&a, SIP_DIGEST_MD5), 200);
	cr_assert_eq(register_ok(&b, SIP_DIGEST_SHA256), 200);
	/* a query: no Contact; credentials still needed */
	b.contact[0] = '\0';
	b.auth[0] = '\0';
	cr_assert_eq(send_register(&b, &r), 401);
	answer(&b, &r, SIP_DIGEST_SHA256, "builder");
	cr_assert_eq(send_register(&b, &r), 200);
	cr_assert_eq(contact_expires(&r, 0), 3600, "SS_ENDPOINT_EXPIRE when none asked");
	cr_assert_not_null(sip_msg_hdr(&r.m, SIP_HDR_DATE));
	cr_assert_eq(stats.registered, 3);
}

/* Answers challenge ch with nonce-count nc into u->auth. */
static void answer_nc(struct ua *u, const struct resp *ch, uint32_t nc)
{
	struct sip_auth a;
	struct sip_err err;
	struct sip_write w;
	const struct sip_hdr *h = sip_msg_hdr_next(&ch->m, sip_msg_hdr(&ch->m, SIP_HDR_WWW_AUTHENTICATE));
	size_t n = (size_t)snprintf(u->auth, sizeof(u->auth), "Authorization: ");

	cr_assert_eq(sip_auth_parse(&a, h->value, &err), 0);
	sip_write_init(&w, u->auth + n, sizeof(u->auth) - n - 1);
	cr_assert_eq(digest_answer(&w, &a, sip_str_make(u->user, strlen(u->user)),
				   sip_str_make(u->password, strlen(u->password)), SIP_STR("REGISTER"),
				   SIP_STR("sip:carrier.example"), SIP_STR(""), SIP_STR("c0ffee"), nc),
		     0);
	u->auth[n + (size_t)sip_write_result(&w)] = '\0';
}

Test(registrar, preemptive_credentials_with_growing_nc_and_replay_refused)
{
	struct ua u = ua_new("alice", "wonderland");
	struct resp ch, r;

	cr_assert_eq(send_register(&u, &ch), 401);
	answer_nc(&u, &ch, 1);
	cr_assert_eq(send_register(&u, &r), 200);
	/* the same credentials again (same nc): a replay */
	cr_assert_eq(send_register(&u, &r), 401);
	cr_assert_eq(stats.auth_failed, 0, "a replay is not a password failure");
	/* a refresh with the cached nonce and the next nc: no round trip */
	answer_nc(&u, &ch, 2);
	cr_assert_eq(send_register(&u, &r), 200);
	answer_nc(&u, &ch, 7);
	cr_assert_eq(send_register(&u, &r), 200, "nc may skip values");
	answer_nc(&u, &ch, 5);
	cr_assert_eq(send_register(&u, &r), 401, "but never go back");
}

Test(registrar, wrong_password_and_unknown_user_answer_alike)
{
	struct ua wrong = ua_new("alice", "not-the-password");
	struct ua ghost = ua_new("mallory", "whatever");
	struct resp r1, r2;

	cr_assert_eq(send_register(&wrong, &r1), 401);
	answer(&wrong, &r1, SIP_DIGEST_MD5, "not-the-password");
	cr_assert_eq(send_register(&ghost, &r2), 401);
	answer(&ghost, &r2, SIP_DIGEST_MD5, "whatever");
	cr_assert_eq(send_register(&wrong, &r1), 401);
	cr_assert_eq(send_register(&ghost, &r2), 401);
	cr_assert_eq(stats.auth_failed, 2);
	cr_assert_not(challenge_has(&r1, "stale"), "a new challenge, not stale");
	cr_assert_not(challenge_has(&r2, "stale"));
}

Test(registrar, suspended_after_retry_failures_even_with_the_right_password)
{
	struct ua u = ua_new("alice", "wonderland");
	struct resp r;
	char good_auth[1024];

	/* right credentials, prepared before the attack */
	cr_assert_eq(send_register(&u, &r), 401);
	answer(&u, &r, SIP_DIGEST_MD5, "wonderland");
	snprintf(good_auth, sizeof(good_auth), "%s", u.auth);
	for (unsigned i = 0; i < cfg->endpoint_register_retry; i++) {
		u.auth[0] = '\0';
		cr_assert_eq(send_register(&u, &r), 401);
		answer(&u, &r, SIP_DIGEST_MD5, "guess");
		cr_assert_eq(send_register(&u, &r), 401);
	}
	cr_assert_eq(stats.auth_failed, cfg->endpoint_register_retry);
	/* now refused before credentials are looked at */
	u.auth[0] = '\0';
	cr_assert_eq(send_register(&u, &r), 403);
	cr_assert_eq(stats.suspended, 1);
	/* the right password does not help while suspended */
	snprintf(u.auth, sizeof(u.auth), "%s", good_auth);
	cr_assert_eq(send_register(&u, &r), 403);
	cr_assert_eq(stats.registered, 0);

	/* after SS_ENDPOINT_REGISTER_SUSPEND it is accepted */
	now_ms += (uint64_t)cfg->endpoint_register_suspend * 1000;
	wall += cfg->endpoint_register_suspend;
	guard_advance(guard, now_ms);
	u.auth[0] = '\0';
	cr_assert_eq(register_ok(&u, SIP_DIGEST_MD5), 200);
}

Test(registrar, suspended_requests_dropped_when_configured)
{
	struct config *c2;
	struct config_error e;
	struct ua u = ua_new("alice", "wonderland");
	struct resp r;

	cr_assert_eq(config_load_string(&c2, "[sip]\nsuspend_action = drop\n"
					     "SS_ENDPOINT_REGISTER_RETRY = 1\n",
					"t.conf", &e),
		     0, "%s", e.msg);
	registrar_set_config(reg, c2);
	struct guard_config gc = {.retry = 1, .suspend_s = 180, .address_retry = 30};
	guard_set_config(guard, &gc);
	cr_assert_eq(send_register(&u, &r), 401);
	answer(&u, &r, SIP_DIGEST_MD5, "guess");
	cr_assert_eq(send_register(&u, &r), 401);
	u.auth[0] = '\0';
	cr_assert_eq(send_register(&u, &r), 0, "dropped without an answer");
	config_free(c2);
}

Test(registrar, stale_nonce_gets_stale_true_and_is_not_a_failure)
{
	struct ua u = ua_new("alice", "wonderland");
	struct resp r;

	cr_assert_eq(send_register(&u, &r), 401);
	answer(&u, &r, SIP_DIGEST_MD5, "wonderland");
	wall += cfg->nonce_expire + 1;
	cr_assert_eq(send_register(&u, &r), 401);
	cr_assert(challenge_has(&r, "stale=true"));
	cr_assert_eq(stats.auth_failed, 0);
	answer(&u, &r, SIP_DIGEST_MD5, "wonderland");
	cr_assert_eq(send_register(&u, &r), 200);
}

Test(registrar, forged_nonce_rechallenged)
{
	struct ua u = ua_new("alice", "wonderland");
	struct resp r;
	char *p;

	cr_assert_eq(send_register(&u, &r), 401);
	answer(&u, &r, SIP_DIGEST_MD5, "wonderland");
	p = strstr(u.auth, "nonce=\"") + 7;
	*p = *p == 'a' ? 'b' : 'a';
	cr_assert_eq(send_register(&u, &r), 401);
	cr_assert_not(challenge_has(&r, "stale"));
	cr_assert_eq(stats.auth_failed, 0);
}

Test(registrar, interval_too_brief_and_nat_expiry)
{
	struct ua u = ua_new("alice", "wonderland");
	struct resp r;

	snprintf(u.contact, sizeof(u.contact), "<sip:alice@192.0.2.10:5060>;expires=30");
	u.auth[0] = '\0';
	cr_assert_eq(send_register(&u, &r), 401);
	answer(&u, &r, SIP_DIGEST_MD5, "wonderland");
	cr_assert_eq(send_register(&u, &r), 423);
	/* the 423 says what the minimum is (RFC 3261 10.3 step 7) */
	uint32_t min = 0;
	struct sip_err err;
	cr_assert_eq(sip_msg_u32(&r.m, SIP_HDR_MIN_EXPIRES, &min, &err), 0);
	cr_assert_eq(min, cfg->min_expire);
	/* behind NAT: the Contact's private address differs from the source */
	snprintf(u.contact, sizeof(u.contact), "<sip:alice@10.1.2.3:5060>;expires=3600");
	u.auth[0] = '\0';
	cr_assert_eq(send_register(&u, &r), 401);
	answer(&u, &r, SIP_DIGEST_MD5, "wonderland");
	cr_assert_eq(send_register(&u, &r), 200);
	cr_assert_eq(contact_expires(&r, 0), cfg->endpoint_nat_expire);
	struct loc_view v[4];
	cr_assert_eq(location_lookup(loc, SIP_STR("alice@carrier.example"), now_ms, v, 4), 1);
	cr_assert(v[0].nat);
	cr_assert_eq(ntohs(((struct sockaddr_in *)&v[0].received)->sin_port), 5060);
}

Test(registrar, public_endpoint_capped_at_endpoint_expire)
{
	struct ua u = ua_new("alice", "wonderland");
	struct resp r;

	snprintf(u.contact, sizeof(u.contact), "<sip:alice@192.0.2.10:5060>");
	snprintf(u.extra, sizeof(u.extra), "Expires: 999999\r\n");
	cr_assert_eq(send_register(&u, &r), 401);
	answer(&u, &r, SIP_DIGEST_MD5, "wonderland");
	cr_assert_eq(send_register(&u, &r), 200);
	cr_assert_eq(contact_expires(&r, 0), cfg->endpoint_expire);
	/* a NAT found by the port: same address, another source port */
	src.sin_port = htons(40000);
	u.auth[0] = '\0';
	cr_assert_eq(send_register(&u, &r), 401);
	answer(&u, &r, SIP_DIGEST_MD5, "wonderland");
	cr_assert_eq(send_register(&u, &r), 200);
	cr_assert_eq(contact_expires(&r, 0), cfg->endpoint_nat_expire);
	const struct sip_hdr *via = sip_msg_hdr(&r.m, SIP_HDR_VIA);
	cr_assert(memmem(via->value.p, via->value.len, "rport=40000", 11),
		  "rport filled in: %.*s", (int)via->value.len, via->value.p);
}

Test(registrar, unregister_star_and_out_of_order_cseq)
{
	struct ua u = ua_new("alice", "wonderland");
	struct resp r;
	struct loc_view v[4];

	cr_assert_eq(register_ok(&u, SIP_DIGEST_MD5), 200);
	/* Contact: * without Expires: 0 is invalid */
	snprintf(u.contact, sizeof(u.contact), "*");
	u.auth[0] = '\0';
	cr_assert_eq(send_register(&u, &r), 401);
	answer(&u, &r, SIP_DIGEST_MD5, "wonderland");
	cr_assert_eq(send_register(&u, &r), 400);
	snprintf(u.extra, sizeof(u.extra), "Expires: 0\r\n");
	u.auth[0] = '\0';
	cr_assert_eq(send_register(&u, &r), 401);
	answer(&u, &r, SIP_DIGEST_MD5, "wonderland");
	cr_assert_eq(send_register(&u, &r), 200);
	cr_assert_null(sip_msg_hdr(&r.m, SIP_HDR_CONTACT), "no binding left");
	cr_assert_eq(location_lookup(loc, SIP_STR("alice@carrier.example"), now_ms, v, 4), 0);

	/* register again, then an older CSeq on the same Call-ID */
	u.extra[0] = '\0';
	snprintf(u.contact, sizeof(u.contact), "<sip:alice@192.0.2.10:5060>");
	cr_assert_eq(register_ok(&u, SIP_DIGEST_MD5), 200);
	u.cseq -= 3;
	u.auth[0] = '\0';
	cr_assert_eq(send_register(&u, &r), 401);
	answer(&u, &r, SIP_DIGEST_MD5, "wonderland");
	cr_assert_eq(send_register(&u, &r), 400);
	cr_assert(sip_str_eq(r.m.reason, SIP_STR("Out of order CSeq for this Call-ID")));
}

Test(registrar, replace_off_refuses_a_second_location)
{
	struct config *c2;
	struct config_error e;
	struct ua u = ua_new("alice", "wonderland"), v = ua_new("alice", "wonderland");

	cr_assert_eq(config_load_string(&c2, "[sip]\nSS_ENDPOINT_REGISTER_REPLACE = off\n", "t",
					&e),
		     0, "%s", e.msg);
	registrar_set_config(reg, c2);
	cr_assert_eq(register_ok(&u, SIP_DIGEST_MD5), 200);
	snprintf(v.call_id, sizeof(v.call_id), "another-phone");
	snprintf(v.contact, sizeof(v.contact), "<sip:alice@192.0.2.99:5060>");
	cr_assert_eq(register_ok(&v, SIP_DIGEST_MD5), 403);
	cr_assert_eq(register_ok(&u, SIP_DIGEST_MD5), 200, "its own refresh is fine");
	config_free(c2);
	/* replace on (the default): the new location takes over */
	registrar_set_config(reg, cfg);
	cr_assert_eq(register_ok(&v, SIP_DIGEST_MD5), 200);
	struct loc_view lv[4];
	cr_assert_eq(location_lookup(loc, SIP_STR("alice@carrier.example"), now_ms, lv, 4), 1);
	cr_assert(sip_str_eq(lv[0].uri, SIP_STR("sip:alice@192.0.2.99:5060")));
}

Test(registrar, bad_requests)
{
	struct ua u = ua_new("alice", "wonderland");
	struct resp r;

	snprintf(u.extra, sizeof(u.extra), "Require: foo, path\r\n");
	cr_assert_eq(send_register(&u, &r), 420);
	cr_assert_not_null(sip_msg_hdr(&r.m, SIP_HDR_UNSUPPORTED));
	snprintf(u.extra, sizeof(u.extra), "Authorization: Digest username=\"alice\r\n");
	cr_assert_eq(send_register(&u, &r), 400, "malformed credentials");
	snprintf(u.extra, sizeof(u.extra),
		 "Authorization: Digest username=\"alice\", realm=\"other.example\", "
		 "nonce=\"x\", uri=\"sip:carrier.example\", response=\"0\"\r\n");
	cr_assert_eq(send_register(&u, &r), 401, "credentials for another realm are ignored");
	u.extra[0] = '\0';
	snprintf(u.contact, sizeof(u.contact), "<sip:alice@192.0.2.10>;expires=abc");
	cr_assert_eq(register_ok(&u, SIP_DIGEST_MD5) / 100, 4);
	snprintf(u.contact, sizeof(u.contact), "<sip:alice@192.0.2.10>");
	snprintf(u.extra, sizeof(u.extra), "Expires: soon\r\n");
	cr_assert_eq(register_ok(&u, SIP_DIGEST_MD5), 400);
}

Test(registrar, huge_contact_list_refused)
{
	struct ua u = ua_new("alice", "wonderland");
	size_t n = 0;
	struct resp r;

	for (int i = 0; i < 33; i++) {
		n += (size_t)snprintf(u.extra + n, sizeof(u.extra) - n,
		                      "Contact: <sip:a%d@192.0.2.1>\r\n", i);
		cr_assert_lt(n, sizeof(u.extra));
	}
	u.contact[0] = '\0';
	cr_assert_eq(send_register(&u, &r), 401);
	answer(&u, &r, SIP_DIGEST_MD5, "wonderland");
	cr_assert_eq(send_register(&u, &r), 400);
}

Test(registrar, tiny_output_buffer_is_enospc)
{
	struct ua u = ua_new("alice", "wonderland");
	char req[] = "REGISTER sip:carrier.example SIP/2.0\r\n"
		     "Via: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bK1\r\n"
		     "Max-Forwards: 70\r\nFrom: <sip:alice@carrier.example>;tag=1\r\n"
		     "To: <sip:alice@carrier.example>\r\nCall-ID: c\r\nCSeq: 1 REGISTER\r\n"
		     "Content-Length: 0\r\n\r\n";
	struct sip_hdr hdrs[16];
	struct sip_msg m;
	struct sip_err err;
	struct registrar_src s = {.addr = (struct sockaddr *)&src};
	struct registrar_result res;
	char out[64];

	(void)u;
	cr_assert_gt(sip_msg_parse(&m, req, strlen(req), hdrs, 16, SIP_PARSE_DATAGRAM, &err), 0);
	cr_assert_eq(registrar_handle(reg, &m, &s, now_ms, wall, out, sizeof(out), &res, &stats),
		     -ENOSPC);
}

/* Several workers registering the same accounts at once, as SO_REUSEPORT
 * spreads one client's retransmissions and refreshes over the workers. */
struct worker_run {
	int id, ok;
};

static void *worker_main(void *arg)
{
	struct worker_run *w = arg;
	const char *users[2] = {"alice", "bob"}, *pws[2] = {"wonderland", "builder"};

	urcu_qsbr_register_thread();
	for (int i = 0; i < 300; i++) {
		int k = (i + w->id) % 2;
		struct ua u = ua_new(users[k], pws[k]);
		snprintf(u.call_id, sizeof(u.call_id), "w%d-%d", w->id, i);
		snprintf(u.contact, sizeof(u.contact), "<sip:%s@192.0.2.%d:5060>", users[k], 10 + w->id);
		w->ok += register_ok(&u, SIP_DIGEST_SHA256) == 200;
		urcu_qsbr_quiescent_state();
	}
	urcu_qsbr_unregister_thread();
	return NULL;
}

Test(registrar, workers_registering_the_same_accounts_at_once)
{
	pthread_t th[3];
	struct worker_run w[3] = {{.id = 0}, {.id = 1}, {.id = 2}};
	struct loc_view v[4];

	/* the test thread goes offline while the workers run (it would hold
	 * back their grace periods otherwise) */
	urcu_qsbr_thread_offline();
	for (int i = 0; i < 3; i++)
		pthread_create(&th[i], NULL, worker_main, &w[i]);
	for (int i = 0; i < 3; i++)
		pthread_join(th[i], NULL);
	urcu_qsbr_thread_online();
	for (int i = 0; i < 3; i++)
		cr_assert_eq(w[i].ok, 300, "worker %d: %d of 300 registered", i, w[i].ok);
	/* max_contacts = 1 with replace on: exactly one binding each */
	cr_assert_eq(location_lookup(loc, SIP_STR("alice@carrier.example"), now_ms, v, 4), 1);
	cr_assert_eq(location_lookup(loc, SIP_STR("bob@carrier.example"), now_ms, v, 4), 1);
}

Test(registrar, digest_algorithms_order_and_no_downgrade)
{
	struct config *c2;
	struct config_error e;
	struct ua u = ua_new("alice", "wonderland");
	struct resp r;
	struct sip_auth a;
	struct sip_err err;

	cr_assert_eq(config_load_string(&c2, "[sip]\ndigest_algorithms = md5,sha-256\n", "t", &e),
		     0, "%s", e.msg);
	registrar_set_config(reg, c2);
	cr_assert_eq(send_register(&u, &r), 401);
	cr_assert_eq(sip_auth_parse(&a, sip_msg_hdr(&r.m, SIP_HDR_WWW_AUTHENTICATE)->value, &err), 0);
	cr_assert_eq(a.alg, SIP_DIGEST_MD5, "MD5 offered first");
	config_free(c2);

	/* SHA-256 only: MD5 credentials are a downgrade and get a new challenge */
	cr_assert_eq(config_load_string(&c2, "[sip]\ndigest_algorithms = sha-256\n", "t", &e), 0);
	registrar_set_config(reg, c2);
	cr_assert_eq(send_register(&u, &r), 401);
	cr_assert_null(sip_msg_hdr_next(&r.m, sip_msg_hdr(&r.m, SIP_HDR_WWW_AUTHENTICATE)),
		       "one challenge");
	cr_assert_eq(register_ok(&u, SIP_DIGEST_SHA256), 200);
	/* an MD5 answer computed on that nonce anyway */
	u.auth[0] = '\0';
	cr_assert_eq(send_register(&u, &r), 401);
	struct resp md5 = r;
	cr_assert_eq(sip_auth_parse(&a, sip_msg_hdr(&md5.m, SIP_HDR_WWW_AUTHENTICATE)->value, &err),
		     0);
	char *alg = strstr(md5.buf, "algorithm=SHA-256");
	cr_assert_not_null(alg);
	memcpy(alg, "algorithm=MD5    ", 17); /* same length: LWS before the comma */
	cr_assert_gt(sip_msg_parse(&md5.m, md5.buf, strlen(md5.buf), md5.hdrs, 64,
				   SIP_PARSE_DATAGRAM, &err),
		     0, "%s", err.reason);
	answer(&u, &md5, SIP_DIGEST_MD5, "wonderland");
	cr_assert_eq(send_register(&u, &r), 401, "MD5 refused when only SHA-256 is offered");
	cr_assert_eq(stats.auth_failed, 0);
	config_free(c2);
}

/* The registrar hashes a request's AOR once for both tables when they share
 * a SipHash key (the default above) and once per table when they do not:
 * registrations, refusals and the bindings are the same either way. */
Test(registrar, tables_with_different_hash_keys)
{
	static const uint8_t other[SIPHASH_KEY_LEN] = "fedcba9876543210";
	struct registrar_deps d;
	struct ua a = ua_new("alice", "wonderland"), wrong = ua_new("bob", "not-builder");
	struct loc_view v[4];
	struct resp r;

	registrar_free(reg);
	subscriber_table_free(subs);
	cr_assert_eq(subscriber_table_new(&subs, other), 0);
	d = (struct registrar_deps){.location = loc, .guard = guard, .nonce = nonces,
				    .subscribers = subs, .tag_key = key};
	cr_assert_eq(registrar_new(&reg, cfg, &d), 0);
	add_subscriber("alice", "wonderland");
	add_subscriber("bob", "builder");
	cr_assert_neq(subscriber_table_hash(subs, SIP_STR("alice"), SIP_STR("carrier.example")),
		      location_hash(loc, SIP_STR("alice@carrier.example")));

	cr_assert_eq(register_ok(&a, SIP_DIGEST_SHA256), 200);
	cr_assert_eq(location_lookup(loc, SIP_STR("alice@carrier.example"), now_ms, v, 4), 1);
	cr_assert_eq(register_ok(&a, SIP_DIGEST_MD5), 200, "a refresh");
	cr_assert_eq(location_lookup(loc, SIP_STR("alice@carrier.example"), now_ms, v, 4), 1);
	cr_assert_eq(send_register(&wrong, &r), 401);
	answer(&wrong, &r, SIP_DIGEST_MD5, "not-builder");
	cr_assert_eq(send_register(&wrong, &r), 401);
	cr_assert_eq(stats.auth_failed, 1);
	cr_assert_eq(location_lookup(loc, SIP_STR("bob@carrier.example"), now_ms, v, 4), 0);
}

/* The two-step lookups find what the plain ones find, a domain in any case. */
Test(registrar, hashed_lookups_match_the_plain_ones)
{
	struct subscriber_view s1, s2;
	uint64_t h = subscriber_table_hash(subs, SIP_STR("alice"), SIP_STR("Carrier.EXAMPLE"));

	cr_assert_eq(h, location_hash(loc, SIP_STR("alice@carrier.example")),
		     "the same key and string: the same hash");
	subscriber_table_prefetch(subs, h, false);
	subscriber_table_prefetch(subs, h, true);
	cr_assert(subscriber_table_get_hashed(subs, h, SIP_STR("alice"), SIP_STR("Carrier.EXAMPLE"),
					      &s1));
	cr_assert(subscriber_table_get(subs, SIP_STR("alice"), SIP_STR("carrier.example"), &s2));
	cr_assert(sip_str_eq(s1.password, s2.password));
	cr_assert_not(subscriber_table_get_hashed(subs, h, SIP_STR("alicE"),
						  SIP_STR("carrier.example"), &s1),
		      "the user part is case-sensitive");
	cr_assert_eq(subscriber_table_hash(subs, SIP_STR(""), SIP_STR("carrier.example")), 0);
	location_prefetch(loc, 12345, false);
	location_prefetch(loc, 12345, true);
}

/* The 401's tail (challenges, Server, end) as the writer makes it, for a
 * nonce, realm, algorithms and stale flag; compared byte for byte with what
 * the registrar sent, whose tail each thread keeps and patches. */
static void check_tail(const struct resp *r, const char *realm, const enum sip_digest_alg *algs,
		       int nalgs, bool stale, const char *server)
{
	const struct sip_hdr *h = sip_msg_hdr(&r->m, SIP_HDR_WWW_AUTHENTICATE);
	const char *got = strstr(r->buf, "WWW-Authenticate: ");
	char want[2048];
	struct sip_auth a;
	struct sip_err err;
	struct sip_write w;
	struct nonce_ref ref;
	struct sip_str rs = sip_str_make(realm, strlen(realm));

	cr_assert_not_null(h);
	cr_assert_not_null(got);
	cr_assert_eq(sip_auth_parse(&a, h->value, &err), 0, "%s", err.reason);
	cr_assert_eq(a.nonce.len, NONCE_LEN);
	cr_assert_eq(nonce_check(nonces, a.nonce, rs, (uint64_t)wall, &ref), 0,
		     "the patched nonce is a valid one for %s", realm);
	struct digest_challenge ch = {
		.realm = rs, .nonce = a.nonce, .qop_auth = true, .stale = stale};
	sip_write_init(&w, want, sizeof(want) - 1);
	for (int i = 0; i < nalgs; i++) {
		ch.alg = algs[i];
		sip_write_header_begin(&w, SIP_STR("WWW-Authenticate"));
		digest_challenge_put(&w, &ch);
		sip_write_header_end(&w);
	}
	sip_write_header(&w, SIP_STR("Server"), sip_str_make(server, strlen(server)));
	sip_write_end(&w, SIP_STR(""));
	cr_assert_gt(sip_write_result(&w), 0);
	want[w.len] = '\0';
	cr_assert_str_eq(got, want);
}

static unsigned send_register_z(struct ua *u, struct resp *r)
{
	memset(r->buf, 0, sizeof(r->buf)); /* the response is a C string then */
	return send_register(u, r);
}

Test(registrar, challenge_tail_follows_realm_stale_order_and_config)
{
	static const enum sip_digest_alg both[] = {SIP_DIGEST_SHA256, SIP_DIGEST_MD5},
					 md5_first[] = {SIP_DIGEST_MD5, SIP_DIGEST_SHA256},
					 sha_only[] = {SIP_DIGEST_SHA256};
	struct ua u = ua_new("alice", "wonderland");
	struct config *c2, *c3;
	struct config_error e;
	struct resp r;
	char server[CONFIG_STR_MAX];

	snprintf(server, sizeof(server), "%s", cfg->user_agent);
	for (int round = 0; round < 2; round++) { /* the second from the cache */
		cr_assert_eq(send_register_z(&u, &r), 401);
		check_tail(&r, "carrier.example", both, 2, false, server);
	}
	/* stale, then fresh again: one cached tail each */
	answer(&u, &r, SIP_DIGEST_SHA256, "wonderland");
	wall += cfg->nonce_expire + 1;
	cr_assert_eq(send_register_z(&u, &r), 401);
	check_tail(&r, "carrier.example", both, 2, true, server);
	u.auth[0] = '\0';
	cr_assert_eq(send_register_z(&u, &r), 401);
	check_tail(&r, "carrier.example", both, 2, false, server);
	answer(&u, &r, SIP_DIGEST_SHA256, "wonderland");
	cr_assert_eq(send_register_z(&u, &r), 200, "a cached tail's nonce authenticates");

	/* another To domain of the same length: the realm alone changes */
	u.domain = "carrier.elpmaxe";
	cr_assert_eq(send_register_z(&u, &r), 401);
	check_tail(&r, "carrier.elpmaxe", both, 2, false, server);
	u.domain = NULL;
	cr_assert_eq(send_register_z(&u, &r), 401);
	check_tail(&r, "carrier.example", both, 2, false, server);
	/* a reload changing Server alone */
	struct config *c4;
	cr_assert_eq(config_load_string(&c4, "[sip]\nuser_agent = tester/2\n", "t", &e), 0,
		     "%s", e.msg);
	registrar_set_config(reg, c4);
	cr_assert_eq(send_register_z(&u, &r), 401);
	check_tail(&r, "carrier.example", both, 2, false, "tester/2");
	config_free(c4);
	registrar_set_config(reg, cfg);

	/* a reload: realm, Server and the order change */
	cr_assert_eq(config_load_string(&c2,
					"[sip]\nrealm = other.example\nuser_agent = tester/1\n"
					"digest_algorithms = md5,sha-256\n",
					"t", &e),
		     0, "%s", e.msg);
	registrar_set_config(reg, c2);
	u.auth[0] = '\0';
	for (int round = 0; round < 2; round++) {
		cr_assert_eq(send_register_z(&u, &r), 401);
		check_tail(&r, "other.example", md5_first, 2, false, "tester/1");
	}
	/* a realm of the same length as the cached one */
	cr_assert_eq(config_load_string(&c3,
					"[sip]\nrealm = OTHER.example\nuser_agent = tester/1\n"
					"digest_algorithms = sha-256\n",
					"t", &e),
		     0, "%s", e.msg);
	registrar_set_config(reg, c3);
	cr_assert_eq(send_register_z(&u, &r), 401);
	check_tail(&r, "OTHER.example", sha_only, 1, false, "tester/1");
	/* back to the first configuration */
	registrar_set_config(reg, cfg);
	cr_assert_eq(send_register_z(&u, &r), 401);
	check_tail(&r, "carrier.example", both, 2, false, server);
	/* a new registrar (perhaps at the old one's address), its own config */
	registrar_free(reg);
	struct registrar_deps d = {.location = loc, .guard = guard, .nonce = nonces,
				   .subscribers = subs, .tag_key = key};
	cr_assert_eq(registrar_new(&reg, c2, &d), 0);
	cr_assert_eq(send_register_z(&u, &r), 401);
	check_tail(&r, "other.example", md5_first, 2, false, "tester/1");
	config_free(c2);
	config_free(c3);
}

/* The same request through both entry points gives the same answer: each
 * request below on a fresh registrar per entry point (same keys, same
 * state), the responses compared byte for byte (a 401's nonce aside, whose
 * serial differs: its status and headers up to the challenge compared). */
static size_t answer_via(bool use_reg, const char *req, char *out, size_t cap, unsigned *status)
{
	struct registrar_src s = {.addr = (struct sockaddr *)&src, .transport = LOC_UDP};
	struct registrar_result res;
	struct sip_hdr hdrs[64];
	struct sip_msg m;
	struct sip_err err;

	teardown();
	setup();
	if (use_reg) {
		cr_assert_eq(handle_reg_path(req, &s, out, cap, &res), 0);
	} else {
		cr_assert_gt(sip_msg_parse(&m, req, strlen(req), hdrs, 64, SIP_PARSE_DATAGRAM, &err),
			     0);
		cr_assert_eq(registrar_handle(reg, &m, &s, now_ms, wall, out, cap, &res, &stats), 0);
	}
	*status = res.status;
	return res.len;
}

Test(registrar, both_entry_points_answer_alike)
{
	static const char *const head =
		"Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-1;rport\r\n"
		"Max-Forwards: 70\r\nFrom: <sip:alice@carrier.example>;tag=f1\r\n"
		"Call-ID: same-call@192.0.2.10\r\nCSeq: 7 REGISTER\r\n";
	static const char *const cases[][2] = {
		/* request line's URI, then the other headers */
		{"sip:carrier.example", "To: <sip:alice@carrier.example>\r\n"},
		{"tel:+15551234", "To: <sip:alice@carrier.example>\r\n"},
		{"sip:carrier.example", "To: <tel:+15551234>\r\n"},
		{"sip:carrier.example", "To: <sip:carrier.example>\r\n"},
		{"sip:carrier.example", "To: <sip:alice@carrier.example>\r\nRequire: foo\r\n"},
		{"sip:carrier.example", "To: <sip:alice@carrier.example>\r\n"
					"Authorization: Digest username=\"alice\r\n"},
		{"sip:carrier.example", "To: <sip:alice@carrier.example>\r\n"
					"Authorization: Digest username=\"alice\", realm=\"other.example\", "
					"nonce=\"x\", uri=\"sip:carrier.example\", response=\"0\"\r\n"
					"Authorization: Digest username=\"alice\", realm=\"carrier.example\", "
					"nonce=\"0123\", uri=\"sip:carrier.example\", response=\"0\"\r\n"},
		{"sip:carrier.example", "To: <sip:alice@carrier.example>\r\n"
					"Authorization: Basic YWxpY2U6eA==\r\n"},
		/* the first credentials are for another realm: the second ones
		 * are read (malformed: 400) */
		{"sip:carrier.example", "To: <sip:alice@carrier.example>\r\n"
					"Authorization: Digest username=\"alice\", realm=\"other.example\", "
					"nonce=\"x\", uri=\"sip:carrier.example\", response=\"0\"\r\n"
					"Authorization: Digest username=\"alice\r\n"},
		{"sip:carrier.example",
		 "To: <sip:alice@carrier.example>\r\n"
		 "Via: SIP/2.0/UDP 198.51.100.7;branch=z9hG4bK-2\r\n"
		 "Contact: <sip:alice@192.0.2.10>\r\nExpires: 30\r\n"},
	};
	char a[4096], b[4096], req[2048];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		unsigned sa, sb;
		size_t na, nb;
		snprintf(req, sizeof(req), "REGISTER %s SIP/2.0\r\n%s%sContent-Length: 0\r\n\r\n",
			 cases[i][0], head, cases[i][1]);
		na = answer_via(false, req, a, sizeof(a), &sa);
		nb = answer_via(true, req, b, sizeof(b), &sb);
		cr_assert_eq(sa, sb, "case %zu: %u against %u", i, sa, sb);
		cr_assert_gt(sa, 0, "case %zu answered", i);
		if (sa == 401) { /* up to the nonce */
			const char *pa = strstr(a, "nonce=\""), *pb = strstr(b, "nonce=\"");
			cr_assert(pa && pb && pa - a == pb - b && memcmp(a, b, (size_t)(pa - a)) == 0,
				  "case %zu", i);
			continue;
		}
		cr_assert_eq(na, nb, "case %zu:\n%.*s\n%.*s", i, (int)na, a, (int)nb, b);
		cr_assert_eq(memcmp(a, b, na), 0, "case %zu:\n%.*s\n%.*s", i, (int)na, a, (int)nb, b);
	}
}

/* The response head (status line, Via, From, To, Call-ID, CSeq) of a
 * REGISTER that sip_reg_parse took whole is written without parsing the top
 * Via and the To again (begin_reg); it must be sip_write_response's byte for
 * byte. Each request through both entry points (registrar_handle writes its
 * head with sip_write_response), from an IPv4 source with a port, an IPv6
 * one and one without a port, with and without a To tag; the responses
 * compared up to the nonce (a 401) or whole. Requests either entry point
 * cannot answer must be unanswered by both. */
static size_t answer_from(bool use_reg, const char *req, const struct sockaddr *sa, char *out,
			  size_t cap, unsigned *status)
{
	struct registrar_src s = {.addr = sa, .transport = LOC_UDP};
	struct registrar_result res = {0};
	static _Thread_local struct sip_contact contacts[REGISTRAR_MAX_CONTACTS];
	struct sip_hdr hdrs[64];
	struct sip_reg sr;
	struct sip_msg m;
	struct sip_err err;

	teardown();
	setup();
	if (use_reg) {
		cr_assert_gt(sip_reg_parse(&sr, req, strlen(req), hdrs, 64, contacts,
					   REGISTRAR_MAX_CONTACTS, SIP_PARSE_DATAGRAM, &err),
			     0, "%s", req);
		cr_assert_eq(registrar_handle_reg(reg, &sr, &s, now_ms, wall, out, cap, &res, &stats),
			     0);
	} else {
		cr_assert_gt(sip_msg_parse(&m, req, strlen(req), hdrs, 64, SIP_PARSE_DATAGRAM, &err),
			     0, "%s", req);
		cr_assert_eq(registrar_handle(reg, &m, &s, now_ms, wall, out, cap, &res, &stats), 0);
	}
	*status = res.status;
	return res.len;
}

Test(registrar, response_head_fast_path_matches_sip_write_response)
{
	static const char *const vias[] = {
		"Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-1;rport",
		"Via: SIP/2.0/UDP 192.0.2.10:5060;rport;branch=z9hG4bK-1",
		"Via: SIP/2.0/UDP 192.0.2.10:5060;RPort;branch=z9hG4bK-1",
		"Via: SIP/2.0/UDP 192.0.2.10:5060;rport=5080;branch=z9hG4bK-1",
		"Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-1;received=198.51.100.1",
		"Via: SIP/2.0/UDP 192.0.2.10:5060;Received=198.51.100.1;rport;branch=z9hG4bK-1",
		"Via: SIP/2.0/UDP 192.0.2.10:5060;received=198.51.100.1;received=198.51.100.2;branch=z9hG4bK-1",
		"Via: SIP/2.0/UDP 192.0.2.10:5060;rport;rport;branch=z9hG4bK-1",
		"Via: SIP/2.0/UDP 192.0.2.10:5060 ;branch=z9hG4bK-1 ;rport",
		"Via: SIP/2.0/UDP 192.0.2.10:5060; branch=z9hG4bK-1; rport",
		"Via: SIP/2.0/UDP 192.0.2.10:5060;branch = z9hG4bK-1",
		"Via: SIP / 2.0 / UDP 192.0.2.10:5060;branch=z9hG4bK-1",
		"Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-1;x=\"quoted value\"",
		"Via: SIP/2.0/UDP [2001:db8::1]:5060;branch=z9hG4bK-1;rport",
		"Via: SIP/2.0/UDP 192.0.2.10",
		"Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK.a-b_c!d%e*f+g`h'i~j;rport",
		"Via: SIP/2.0/UDP 192.0.2.10:5060;maddr=224.0.0.1;ttl=1;branch=z9hG4bK-1",
		"Via: SIP/2.0/UDP 192.0.2.10:5060;a;b;c;d;e;f;g;h;i;branch=z9hG4bK-1;rport",
		"Via: SIP/2.0/UDP 192.0.2.10:5060;a;b;c;d;e;f;branch=z9hG4bK-1;rport",
		"Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-1;rport, SIP/2.0/UDP 198.51.100.7;branch=z9hG4bK-2",
		"Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-1\r\nVia: SIP/2.0/UDP 198.51.100.7;branch=z9hG4bK-2",
		"Via: SIP/2.0/UDP 192.0.2.10:5060\r\n ;branch=z9hG4bK-1;rport",
		"v: SIP/2.0/TCP host.example;branch=z9hG4bK-1;rport",
		"Via: SIP/2.0/UDP 192.0.2.10:5060;branch=;rport",
		"Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-1;;rport",
		"Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-1;",
		"Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-1;rport=x",
		"Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-1;received",
		"Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-1;re=1;receivedx=2;rportx",
		"Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-1;received=[2001:db8::7];rport",
		"Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-1;x=a/b:c&d+e$f[]%41;rport",
		"Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-1;x=a=b",
		"Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-1;x=\xc3\xa9",
		"Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-1;x=a\"b",
		"Via: SIP/2.0/UDP 192.0.2.10:5060;=x;branch=z9hG4bK-1",
		"Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-1;rport\t",
		"Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-1;rport;received=1.2.3.4;ttl=3;maddr=h.example",
	};
	static const char *const tos[] = {
		"To: <sip:alice@carrier.example>",
		"To: \"Alice\" <sip:alice@carrier.example>;tag=abc",
		"t: sip:alice@carrier.example",
	};
	struct sockaddr_in s4 = {.sin_family = AF_INET, .sin_port = htons(5062)};
	struct sockaddr_in6 s6 = {.sin6_family = AF_INET6, .sin6_port = htons(40000)};
	struct sockaddr_in s0 = {.sin_family = AF_INET, .sin_port = 0};
	const struct sockaddr *srcs[] = {(struct sockaddr *)&s4, (struct sockaddr *)&s6,
					 (struct sockaddr *)&s0};
	char a[4096], b[4096], req[2048];
	unsigned answered = 0;

	inet_pton(AF_INET, "203.0.113.9", &s4.sin_addr);
	inet_pton(AF_INET6, "2001:db8::99", &s6.sin6_addr);
	inet_pton(AF_INET, "203.0.113.10", &s0.sin_addr);
	for (size_t v = 0; v < sizeof(vias) / sizeof(vias[0]); v++)
		for (size_t t = 0; t < sizeof(tos) / sizeof(tos[0]); t++)
			for (size_t k = 0; k < sizeof(srcs) / sizeof(srcs[0]); k++) {
				unsigned sa, sb;
				size_t na, nb;
				snprintf(req, sizeof(req),
					 "REGISTER sip:carrier.example SIP/2.0\r\n%s\r\n"
					 "Max-Forwards: 70\r\nFrom: <sip:alice@carrier.example>;tag=f1\r\n"
					 "%s\r\nCall-ID: hd-%zu-%zu@192.0.2.10\r\nCSeq: 7 REGISTER\r\n"
					 "Contact: <sip:alice@192.0.2.10>\r\nContent-Length: 0\r\n\r\n",
					 vias[v], tos[t], v, t);
				na = answer_from(false, req, srcs[k], a, sizeof(a), &sa);
				nb = answer_from(true, req, srcs[k], b, sizeof(b), &sb);
				cr_assert_eq(sa, sb, "via %zu to %zu src %zu: %u against %u", v, t, k, sa,
					     sb);
				cr_assert_eq(na == 0, nb == 0, "via %zu to %zu src %zu", v, t, k);
				if (!na)
					continue;
				answered++;
				if (sa == 401) {
					const char *pa = strstr(a, "nonce=\""), *pb = strstr(b, "nonce=\"");
					cr_assert(pa && pb, "via %zu to %zu src %zu", v, t, k);
					na = (size_t)(pa - a);
					nb = (size_t)(pb - b);
				}
				cr_assert_eq(na, nb, "via %zu to %zu src %zu:\n%.*s\n%.*s", v, t, k,
					     (int)na, a, (int)nb, b);
				cr_assert_eq(memcmp(a, b, na), 0, "via %zu to %zu src %zu:\n%.*s\n%.*s", v,
					     t, k, (int)na, a, (int)nb, b);
			}
	/* most are answered: the comparison above is not of empty outputs */
	cr_assert_gt(answered, 80, "%u answered", answered);
}

/* registrar_prefetch_reg: the hint holds the AOR's hashes (the host in lower
 * case) only for a REGISTER with credentials whose To is a sip URI with a
 * user; registrar_handle_reg answers with it as without it. */
Test(registrar, prefetch_hint_hashes_the_aor_only_with_credentials)
{
	static _Thread_local struct sip_contact contacts[REGISTRAR_MAX_CONTACTS];
	static const struct {
		const char *to, *auth;
		bool set;
	} cases[] = {
		{"<sip:alice@Carrier.Example>", "Authorization: Digest username=\"alice\"\r\n", true},
		{"<sip:alice@carrier.example>", "", false},
		{"<tel:+15551234>", "Authorization: Digest username=\"alice\"\r\n", false},
		{"<sip:carrier.example>", "Authorization: Digest username=\"alice\"\r\n", false},
		{"<sip:alice@carrier.example", "Authorization: Digest username=\"alice\"\r\n", false},
	};
	char req[1024];
	struct sip_hdr hdrs[64];
	struct sip_reg sr;
	struct sip_err err;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct registrar_hint hint = {.set = !cases[i].set, .loc_hash = 1, .sub_hash = 2};
		snprintf(req, sizeof(req),
			 "REGISTER sip:carrier.example SIP/2.0\r\n"
			 "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-1\r\nMax-Forwards: 70\r\n"
			 "From: <sip:alice@carrier.example>;tag=f1\r\nTo: %s\r\n"
			 "Call-ID: h@192.0.2.10\r\nCSeq: 1 REGISTER\r\n%sContent-Length: 0\r\n\r\n",
			 cases[i].to, cases[i].auth);
		cr_assert_gt(sip_reg_parse(&sr, req, strlen(req), hdrs, 64, contacts,
					   REGISTRAR_MAX_CONTACTS, SIP_PARSE_DATAGRAM, &err),
			     0);
		registrar_prefetch_reg(reg, &sr, &hint);
		cr_assert_eq(hint.set, cases[i].set, "case %zu", i);
		if (!hint.set)
			continue;
		cr_assert_eq(hint.loc_hash, location_hash(loc, SIP_STR("alice@carrier.example")));
		cr_assert_eq(hint.sub_hash, subscriber_table_hash(subs, SIP_STR("alice"),
								  SIP_STR("Carrier.Example")));
	}
	/* with the hint (handle_reg_path passes it) as without: registered */
	struct ua u = ua_new("alice", "wonderland");
	for (int k = 0; k < 4; k++)
		cr_assert_eq(register_ok(&u, SIP_DIGEST_SHA256), 200, "round %d", k);
}

/* ------------------------------------------------------------------------ */
/* The subscriber table's prepared digest keys (digest_verify_key)           */

/* One challenge and one answer with password pw: the final status. */
static unsigned try_password(struct ua *u, const char *alg, const char *pw)
{
	enum sip_digest_alg a = digest_alg_parse(sip_str_make(alg, strlen(alg)));
	enum sip_digest_alg chal = a == SIP_DIGEST_MD5_SESS	 ? SIP_DIGEST_MD5
				   : a == SIP_DIGEST_SHA256_SESS ? SIP_DIGEST_SHA256
								 : a;
	struct resp r;

	u->auth[0] = '\0';
	cr_assert_eq(send_register(u, &r), 401);
	answer_as(u, &r, chal, alg, pw);
	return send_register(u, &r);
}

static const char *const all_algs[] = {"MD5", "MD5-sess", "SHA-256", "SHA-256-sess"};

Test(registrar, password_change_delete_and_readd_use_the_new_secret)
{
	struct ua u = ua_new("alice", "wonderland");

	for (size_t i = 0; i < 4; i++) {
		const char *alg = all_algs[i];
		unsigned failed = stats.auth_failed;

		add_subscriber("alice", "wonderland");
		cr_assert_eq(try_password(&u, alg, "wonderland"), 200, "%s", alg);
		cr_assert_eq(try_password(&u, alg, "looking-glass"), 401, "%s", alg);
		/* the password changes: the old one's key must not survive */
		add_subscriber("alice", "looking-glass");
		cr_assert_eq(try_password(&u, alg, "wonderland"), 401, "%s old", alg);
		cr_assert_eq(try_password(&u, alg, "looking-glass"), 200, "%s new", alg);
		/* deleted: nothing answers; re-added with a third password */
		cr_assert_eq(subscriber_table_del(subs, SIP_STR("alice"),
						  SIP_STR("carrier.example")),
			     0);
		cr_assert_eq(try_password(&u, alg, "looking-glass"), 401, "%s deleted", alg);
		add_subscriber("alice", "jabberwock");
		cr_assert_eq(try_password(&u, alg, "looking-glass"), 401, "%s", alg);
		cr_assert_eq(try_password(&u, alg, "jabberwock"), 200, "%s re-added", alg);
		cr_assert_eq(stats.auth_failed, failed + 4, "%s", alg);
	}
}

Test(registrar, unknown_and_disabled_users_fail_alike_with_every_algorithm)
{
	static const char *const ghosts[] = {"mallory0", "mallory1", "mallory2", "mallory3"};
	struct ua bob = ua_new("bob", "builder");
	struct store_subscriber s = {.enabled = false};

	snprintf(s.username, sizeof(s.username), "bob");
	snprintf(s.domain, sizeof(s.domain), "carrier.example");
	snprintf(s.password, sizeof(s.password), "builder");
	for (size_t i = 0; i < 4; i++) {
		cr_assert_eq(try_password(&bob, all_algs[i], "builder"), 200, "%s", all_algs[i]);
		/* the dummy key's own password is no way in either (a user
		 * each: under the guard's retry limit) */
		struct ua ghost = ua_new(ghosts[i], "x");
		cr_assert_eq(try_password(&ghost, all_algs[i], "\x01 no such user \x01"), 401);
		cr_assert_eq(try_password(&ghost, all_algs[i], ""), 401);
	}
	cr_assert_eq(subscriber_table_put(subs, &s), 0);
	for (size_t i = 0; i < 4; i++)
		cr_assert_eq(try_password(&bob, all_algs[i], "builder"), 401,
			     "disabled: %s", all_algs[i]);
	cr_assert_eq(stats.auth_failed, 12);
}

/* A realm other than the subscriber's domain (configured, or the To host in
 * upper case) cannot use the key made for the domain: the HA1 is computed
 * for that realm, as before. */
Test(registrar, realm_other_than_the_domain_computes_the_ha1)
{
	struct config *c2;
	struct config_error e;
	struct ua u = ua_new("alice", "wonderland");
	struct resp r;

	u.domain = "Carrier.EXAMPLE";
	for (size_t i = 0; i < 4; i++) {
		cr_assert_eq(try_password(&u, all_algs[i], "wonderland"), 200, "%s",
			     all_algs[i]);
		cr_assert_eq(try_password(&u, all_algs[i], "wonderlanD"), 401);
	}
	u.domain = NULL;
	cr_assert_eq(config_load_string(&c2, "[sip]\nrealm = sipreg.test\n", "t", &e), 0, "%s",
		     e.msg);
	registrar_set_config(reg, c2);
	cr_assert_eq(send_register(&u, &r), 401);
	cr_assert(challenge_has(&r, "realm=\"sipreg.test\""));
	for (size_t i = 0; i < 4; i++) {
		cr_assert_eq(try_password(&u, all_algs[i], "wonderland"), 200, "%s",
			     all_algs[i]);
		cr_assert_eq(try_password(&u, all_algs[i], "wonderlanD"), 401);
	}
	config_free(c2);
}

/* A subscriber kept as HA1s only (made for its domain): each algorithm with
 * its own HA1, none without it. */
Test(registrar, stored_ha1s_alone)
{
	struct store_subscriber s = {.enabled = true};
	struct ua u = ua_new("carol", "tea-party");
	char h[DIGEST_HEX_SIZE];

	snprintf(s.username, sizeof(s.username), "carol");
	snprintf(s.domain, sizeof(s.domain), "carrier.example");
	cr_assert_eq(digest_ha1(SIP_DIGEST_MD5, SIP_STR("carol"), SIP_STR("carrier.example"),
				SIP_STR("tea-party"), h),
		     32);
	memcpy(s.ha1_md5, h, 33);
	cr_assert_eq(subscriber_table_put(subs, &s), 0);
	cr_assert_eq(try_password(&u, "MD5", "tea-party"), 200);
	cr_assert_eq(try_password(&u, "MD5-sess", "tea-party"), 200);
	cr_assert_eq(try_password(&u, "SHA-256", "tea-party"), 401, "no SHA-256 HA1");
	cr_assert_eq(try_password(&u, "MD5", "tea-partY"), 401);
	cr_assert_eq(digest_ha1(SIP_DIGEST_SHA256, SIP_STR("carol"), SIP_STR("carrier.example"),
				SIP_STR("tea-party"), h),
		     64);
	for (char *p = h; *p; p++) /* stored in upper case: the same HA1 */
		if (*p >= 'a')
			*p = (char)(*p - 32);
	memcpy(s.ha1_sha256, h, 65);
	s.ha1_md5[0] = '\0';
	cr_assert_eq(subscriber_table_put(subs, &s), 0);
	cr_assert_eq(try_password(&u, "SHA-256", "tea-party"), 200);
	cr_assert_eq(try_password(&u, "SHA-256-sess", "tea-party"), 200);
	cr_assert_eq(try_password(&u, "MD5", "tea-party"), 401, "the MD5 HA1 is gone");
	cr_assert_eq(try_password(&u, "SHA-256", "tea-partY"), 401);
}

/* NAT detection against the UDP source 192.0.2.10:5060: the Contact host
 * spelled as the source (the registrar's text fast path) or otherwise. */
Test(registrar, nat_by_contact_address_and_port)
{
	static const struct {
		const char *contact;
		bool nat;
	} v[] = {
		{"<sip:alice@192.0.2.10:5060>", false},
		{"<sip:alice@192.0.2.10>", false},       /* 5060 when absent */
		{"<sip:alice@192.0.2.10:5070>", true},   /* the port differs over UDP */
		{"<sip:alice@192.0.2.10:506>", true},
		{"<sip:alice@192.0.2.1:5060>", true},    /* a prefix of the source's text */
		{"<sip:alice@192.0.2.100:5060>", true},  /* the source's text a prefix */
		{"<sip:alice@192.0.3.10:5060>", true},
		{"<sip:alice@alice.example:5070>", false}, /* names are not compared */
	};
	struct ua u = ua_new("alice", "wonderland");

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		snprintf(u.contact, sizeof(u.contact), "%s;expires=3600", v[i].contact);
		cr_assert_eq(register_ok(&u, SIP_DIGEST_SHA256), 200, "%s", v[i].contact);
		struct loc_view lv[4];
		cr_assert_eq(location_lookup(loc, SIP_STR("alice@carrier.example"), now_ms, lv, 4),
			     1);
		cr_assert_eq(lv[0].nat, v[i].nat, "%s", v[i].contact);
	}
}

/* The AOR's host is lower-cased eight bytes at a time and the rest one by
 * one: To hosts of every length from 1 to 40, mixed case (Z, A, z, a and
 * digits, the edges of the letter ranges), are bound under the lower-case
 * AOR and found there. */
Test(registrar, aor_host_lower_cased_at_every_length)
{
	static const char pat[] = "zAaZ9mQ0bY";
	char lower[48], mixed[48], aor[64];
	struct loc_view lv[2];

	for (size_t len = 1; len <= 40; len++) {
		for (size_t i = 0; i < len; i++) {
			char ch = pat[i % (sizeof(pat) - 1)];
			mixed[i] = ch;
			lower[i] = (ch >= 'A' && ch <= 'Z') ? (char)(ch | 0x20) : ch;
		}
		mixed[len] = lower[len] = '\0';
		struct store_subscriber s = {.enabled = true};
		snprintf(s.username, sizeof(s.username), "u");
		snprintf(s.domain, sizeof(s.domain), "%s", lower);
		snprintf(s.password, sizeof(s.password), "pw");
		cr_assert_eq(subscriber_table_put(subs, &s), 0);
		struct ua u = ua_new("u", "pw");
		u.domain = mixed;
		cr_assert_eq(register_ok(&u, SIP_DIGEST_SHA256), 200, "%s", mixed);
		int n = snprintf(aor, sizeof(aor), "u@%s", lower);
		cr_assert_eq(location_lookup(loc, sip_str_make(aor, (size_t)n), now_ms, lv, 2), 1,
			     "%s", aor);
		n = snprintf(aor, sizeof(aor), "u@%s", mixed);
		if (strcmp(mixed, lower) != 0)
			cr_assert_eq(location_lookup(loc, sip_str_make(aor, (size_t)n), now_ms, lv, 2),
				     0, "%s: only the lower-case AOR", aor);
	}
}
