/* SPDX-License-Identifier: MIT */
/*
 * Tests of the outbound registration state machine (src/ua/): a real
 * transaction layer on a wheel driven by a controllable clock, a fake send
 * function that captures every REGISTER, and a scripted upstream that parses
 * each one with sip_msg_parse() and answers with responses built by
 * sip_write_response() (or transplanted from the real-world corpus).
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sipreg/clock.h"
#include "sipreg/digest.h"
#include "sipreg/loop.h"
#include "sipreg/sip.h"
#include "sipreg/sip_write.h"
#include "sipreg/transaction.h"
#include "sipreg/ua.h"
#include "sipreg/wheel.h"

#define T0 1000000u /* the clock when a test starts */

/* ------------------------------------------------------------------------ */
/* Fixture: clock, wheel, tx layer, captured sends, notices                  */

struct sent {
	uint64_t at;
	size_t len;
	char buf[2048];
	struct sockaddr_storage to;
};

struct note {
	enum ua_notice_kind kind;
	char trunk[64];
	enum ua_state old_state, new_state;
	char reason[64];
	unsigned value, value2, value3;
	bool routine;
};

struct resolve_req {
	uint64_t token;
	char host[256];
	uint16_t port;
};

static uint64_t now;
static struct wheel *W;
static struct tx_layer *TX;
static struct ua *UA;
static struct sent *sent;
static size_t nsent, capsent;
static int send_fail;
static struct note notes[512];
static size_t nnotes;
static struct resolve_req rq[4096];
static size_t nrq;
static time_t wall = 1700000000;
static uint64_t resp_ns;   /* CPU spent in tx_client_response() (the UA's part) */
static uint64_t last_conn; /* the connection cookie of the last send */

static uint64_t ns_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t clock_fn(void *arg)
{
	(void)arg;
	return now;
}

static time_t wall_fn(void *arg)
{
	(void)arg;
	return wall + (time_t)((now - T0) / 1000);
}

static int fake_send(void *arg, const void *buf, size_t len, const struct sockaddr *to,
                     socklen_t tolen, uint64_t conn)
{
	(void)arg;
	last_conn = conn;
	if (send_fail) {
		int r = send_fail;

		send_fail = 0;
		return r;
	}
	if (nsent == capsent) {
		capsent = capsent ? capsent * 2 : 64;
		sent = realloc(sent, capsent * sizeof(*sent));
		cr_assert_not_null(sent);
	}
	cr_assert_lt(len, sizeof(sent[0].buf));
	sent[nsent].at = now;
	sent[nsent].len = len;
	memcpy(sent[nsent].buf, buf, len);
	memcpy(&sent[nsent].to, to, tolen);
	nsent++;
	return 0;
}

static void on_notice(void *arg, const struct ua_notice *n)
{
	struct note *x = &notes[nnotes % 512];

	(void)arg;
	memset(x, 0, sizeof(*x));
	x->kind = n->kind;
	snprintf(x->trunk, sizeof(x->trunk), "%s", n->trunk ? n->trunk : "");
	x->old_state = n->old_state;
	x->new_state = n->new_state;
	snprintf(x->reason, sizeof(x->reason), "%s", n->reason ? n->reason : "");
	x->value = n->value;
	x->value2 = n->value2;
	x->value3 = n->value3;
	x->routine = n->routine;
	nnotes++;
}

static int fake_resolve(void *arg, struct ua *ua, uint64_t token, const char *host,
                        uint16_t port, enum ua_transport t)
{
	(void)arg;
	(void)ua;
	(void)t;
	cr_assert_lt(nrq, 4096);
	rq[nrq].token = token;
	snprintf(rq[nrq].host, sizeof(rq[nrq].host), "%s", host);
	rq[nrq].port = port;
	nrq++;
	return 0;
}

static struct ua_settings default_settings(void)
{
	struct ua_settings s;

	memset(&s, 0, sizeof(s));
	s.expire = 0;
	s.retry_delay = 60;
	s.send_unregister = true;
	s.privacy = CONFIG_PRIVACY_IGNORE;
	s.request_expire = 3600;
	snprintf(s.user_agent, sizeof(s.user_agent), "sipreg-test/1");
	return s;
}

static void setup_with(const struct ua_settings *s, const char *local_host, unsigned rate)
{
	struct tx_layer_opts to;
	struct ua_opts o;

	now = T0;
	nsent = 0;
	nnotes = 0;
	nrq = 0;
	send_fail = 0;
	cr_assert_eq(wheel_new(&W, now), 0);
	memset(&to, 0, sizeof(to));
	to.worker = 3;
	to.clock = clock_fn;
	cr_assert_eq(tx_layer_new(&TX, W, &to, fake_send, NULL), 0);
	memset(&o, 0, sizeof(o));
	o.worker = 3;
	o.wheel = W;
	o.tx = TX;
	o.clock = clock_fn;
	o.wall = wall_fn;
	o.local_host = local_host;
	o.local_port_udp = 5060;
	o.local_port_tcp = 5070;
	o.resolve = fake_resolve;
	o.notify = on_notice;
	o.start_rate = rate;
	o.seed = 42;
	o.settings = *s;
	cr_assert_eq(ua_new(&UA, &o), 0);
}

static void setup(void)
{
	struct ua_settings s = default_settings();

	setup_with(&s, "192.0.2.10", 1000);
}

static void teardown(void)
{
	ua_free(UA);
	tx_layer_free(TX);
	wheel_free(W);
	free(sent);
	sent = NULL;
	nsent = capsent = 0;
	UA = NULL;
}

/* Run every timer due up to time t, each at its own expiry. */
static void run_until(uint64_t t)
{
	for (;;) {
		uint64_t d = wheel_next_deadline(W);

		if (d > t)
			break;
		if (d > now)
			now = d;
		wheel_advance(W, now);
	}
	if (t > now)
		now = t;
	wheel_advance(W, now);
}

static void run_for(uint64_t ms)
{
	run_until(now + ms);
}

static struct ua_trunk_config trunk(const char *name)
{
	struct ua_trunk_config c;

	memset(&c, 0, sizeof(c));
	c.name = name;
	c.registrar = "198.51.100.1";
	c.user = "alice";
	c.password = "secret";
	c.domain = "example.net";
	c.expire = UA_EXPIRE_GLOBAL;
	c.retry_delay = UA_RETRY_GLOBAL;
	c.enabled = true;
	return c;
}

static void add(const struct ua_trunk_config *c)
{
	struct ua_error e = {{0}};
	int r = ua_trunk_add(UA, c, false, &e);

	cr_assert_eq(r, 0, "add %s: %d %s", c->name, r, e.msg);
}

static struct ua_trunk_status status(const char *name)
{
	struct ua_trunk_status st;

	cr_assert_eq(ua_trunk_get_status(UA, name, &st), 0, "no trunk %s", name);
	return st;
}

/* ------------------------------------------------------------------------ */
/* Looking at what was sent                                                  */

struct req {
	struct sip_msg m;
	struct sip_hdr h[64];
};

static void parse_sent(size_t i, struct req *r)
{
	struct sip_err e = {0};
	int n;

	cr_assert_lt(i, nsent);
	n = sip_msg_parse(&r->m, sent[i].buf, sent[i].len, r->h, 64, SIP_PARSE_DATAGRAM,
	                  &e);
	cr_assert_gt(n, 0, "sent[%zu] does not parse: %s\n%.*s", i,
	             e.reason ? e.reason : "", (int)sent[i].len, sent[i].buf);
	cr_assert(r->m.is_request);
	cr_assert_eq(sip_msg_validate(&r->m, &e), 0, "invalid: %s", e.reason);
}

/* The value of a header of sent[i] as a C string ("" when absent). */
static const char *hv(size_t i, const char *name)
{
	static char out[4][1024];
	static int k;
	struct req r;
	const struct sip_hdr *h;
	char *o = out[k++ & 3];

	parse_sent(i, &r);
	h = sip_msg_hdr_by_name(&r.m, sip_str_make(name, strlen(name)));
	o[0] = '\0';
	if (h)
		snprintf(o, 1024, "%.*s", (int)h->value.len, h->value.p);
	return o;
}

static bool has_hdr(size_t i, const char *name)
{
	struct req r;

	parse_sent(i, &r);
	return sip_msg_hdr_by_name(&r.m, sip_str_make(name, strlen(name))) != NULL;
}

static uint32_t cseq_of(size_t i)
{
	struct req r;

	parse_sent(i, &r);
	return r.m.cseq.num;
}

static struct sip_str branch_of(size_t i, struct req *r)
{
	struct sip_via v;
	struct sip_err e;
	struct sip_str rest;

	parse_sent(i, r);
	rest = sip_msg_hdr(&r->m, SIP_HDR_VIA)->value;
	cr_assert_eq(sip_via_next(&rest, &v, &e), 1);
	return v.branch;
}

/* The Contact's expires parameter of sent[i]. */
static uint32_t contact_expires(size_t i)
{
	struct req r;
	struct sip_contact c[4];
	struct sip_err e;

	parse_sent(i, &r);
	cr_assert_eq(sip_msg_contacts(&r.m, c, 4, &e), 1);
	cr_assert(c[0].has_expires);
	return c[0].expires;
}

static uint32_t expires_of(size_t i)
{
	struct req r;
	uint32_t v;
	struct sip_err e;

	parse_sent(i, &r);
	cr_assert_eq(sip_msg_u32(&r.m, SIP_HDR_EXPIRES, &v, &e), 0);
	return v;
}

/* ------------------------------------------------------------------------ */
/* The scripted upstream                                                     */

/* Answer sent[i] with status and extra header lines (each ending in CRLF). */
static void respond_full(size_t i, unsigned status, const char *reason, const char *extra)
{
	struct req r;
	char buf[16384];
	struct sip_write w;
	struct sip_err e = {0};
	struct sip_msg m;
	struct sip_hdr h[64];
	struct sip_via v;
	struct sip_str rest;
	int len, n;

	parse_sent(i, &r);
	sip_write_init(&w, buf, sizeof(buf));
	cr_assert_eq(sip_write_response(&w, &r.m, status,
	                                reason ? sip_str_make(reason, strlen(reason))
	                                       : SIP_STR_NULL,
	                                SIP_STR("srv1"), NULL, &e),
	             0);
	if (extra)
		sip_write_cstr(&w, extra);
	sip_write_end(&w, SIP_STR_NULL);
	len = sip_write_result(&w);
	cr_assert_gt(len, 0);
	n = sip_msg_parse(&m, buf, (size_t)len, h, 64, SIP_PARSE_DATAGRAM, &e);
	cr_assert_gt(n, 0, "response does not parse: %s", e.reason);
	rest = sip_msg_hdr(&m, SIP_HDR_VIA)->value;
	cr_assert_eq(sip_via_next(&rest, &v, &e), 1);
	{
		uint64_t t0 = ns_now();

		n = tx_client_response(TX, &m, &v);
		resp_ns += ns_now() - t0;
	}
	cr_assert_eq(n, 0, "response not matched");
}

static void respond(size_t i, unsigned status, const char *extra)
{
	respond_full(i, status, NULL, extra);
}

/* A 200 OK echoing the request's Contact with ;expires=N (N = 0: none). */
static void ok_contact(size_t i, unsigned expires, const char *more)
{
	char extra[1024];
	struct req r;
	const struct sip_hdr *c;
	struct sip_contact ct[2];
	struct sip_err e;

	parse_sent(i, &r);
	c = sip_msg_hdr(&r.m, SIP_HDR_CONTACT);
	cr_assert_not_null(c);
	cr_assert_eq(sip_msg_contacts(&r.m, ct, 2, &e), 1);
	if (expires)
		snprintf(extra, sizeof(extra), "Contact: <%.*s>;expires=%u\r\n%s",
		         (int)ct[0].na.uri.raw.len, ct[0].na.uri.raw.p, expires,
		         more ? more : "");
	else
		snprintf(extra, sizeof(extra), "Contact: <%.*s>\r\n%s",
		         (int)ct[0].na.uri.raw.len, ct[0].na.uri.raw.p, more ? more : "");
	respond(i, 200, extra);
}

/* Verify the credentials in sent[i] (header hdr) with the password. */
static struct sip_auth creds_of(size_t i, const char *hdr, struct req *r)
{
	struct sip_auth a;
	struct sip_err e;
	const struct sip_hdr *h;

	parse_sent(i, r);
	h = sip_msg_hdr_by_name(&r->m, sip_str_make(hdr, strlen(hdr)));
	cr_assert_not_null(h, "no %s in sent[%zu]", hdr, i);
	cr_assert_eq(sip_auth_parse(&a, h->value, &e), 0);
	return a;
}

static void check_creds(size_t i, const char *hdr, const char *password,
                        const char *nonce, uint32_t nc)
{
	struct req r;
	struct sip_auth a = creds_of(i, hdr, &r);

	cr_assert(sip_str_eq(a.nonce, sip_str_make(nonce, strlen(nonce))), "nonce %.*s",
	          (int)a.nonce.len, a.nonce.p);
	cr_assert_eq(digest_verify(&a, SIP_STR("REGISTER"), SIP_STR_NULL,
	                           sip_str_make(password, strlen(password))),
	             0, "credentials of sent[%zu] do not verify", i);
	if (nc) {
		cr_assert(a.has_nc);
		cr_assert_eq(a.nc_val, nc);
	}
}

static size_t count_notes(enum ua_notice_kind k)
{
	size_t n = 0;

	for (size_t i = 0; i < nnotes && i < 512; i++)
		n += notes[i].kind == k;
	return n;
}

static const struct note *last_state_note(void)
{
	for (size_t i = nnotes; i-- > 0 && i + 512 >= nnotes;)
		if (notes[i % 512].kind == UA_NOTICE_STATE)
			return &notes[i % 512];
	return NULL;
}

/* Let the start slot pass: the first REGISTER of a trunk goes out. */
static void start(void)
{
	run_for(5);
}

#define CHAL_MD5                                                                         \
	"WWW-Authenticate: Digest realm=\"example.net\", nonce=\"n1\", qop=\"auth\", "   \
	"algorithm=MD5\r\n"

TestSuite(ua, .init = setup, .fini = teardown);

/* ------------------------------------------------------------------------ */
/* Configuration                                                             */

Test(ua, config_validation)
{
	struct ua_trunk_config c = trunk("t-1.a_b");
	struct ua_error e;

	cr_assert_eq(ua_trunk_config_validate(&c, &e), 0);
	c.name = "bad name";
	cr_assert_eq(ua_trunk_config_validate(&c, &e), -EINVAL);
	cr_assert(strstr(e.msg, "name:"), "%s", e.msg);
	c.name = "";
	cr_assert_eq(ua_trunk_config_validate(&c, &e), -EINVAL);
	c = trunk("t");
	c.registrar = NULL;
	cr_assert_eq(ua_trunk_config_validate(&c, &e), -EINVAL);
	cr_assert(strstr(e.msg, "registrar: missing"), "%s", e.msg);
	c.registrar = "1:2:zz::1";
	cr_assert_eq(ua_trunk_config_validate(&c, &e), -EINVAL);
	c.registrar = "2001:db8::1";
	cr_assert_eq(ua_trunk_config_validate(&c, &e), 0);
	c.registrar = "a b";
	cr_assert_eq(ua_trunk_config_validate(&c, &e), -EINVAL);
	c = trunk("t");
	c.expire = 10;
	cr_assert_eq(ua_trunk_config_validate(&c, &e), -EINVAL);
	cr_assert_str_eq(e.msg, "expire: 10 is out of range (allowed: auto or 20-7200)");
	c.expire = 7201;
	cr_assert_eq(ua_trunk_config_validate(&c, &e), -EINVAL);
	c.expire = 20;
	cr_assert_eq(ua_trunk_config_validate(&c, &e), 0);
	c.expire = 7200;
	cr_assert_eq(ua_trunk_config_validate(&c, &e), 0);
	c.expire = -2;
	cr_assert_eq(ua_trunk_config_validate(&c, &e), -EINVAL);
	c = trunk("t");
	c.retry_delay = 29;
	cr_assert_eq(ua_trunk_config_validate(&c, &e), -EINVAL);
	cr_assert_str_eq(e.msg, "retry_delay: 29 is out of range (allowed: 30-600)");
	c.retry_delay = 601;
	cr_assert_eq(ua_trunk_config_validate(&c, &e), -EINVAL);
	c.retry_delay = 600;
	cr_assert_eq(ua_trunk_config_validate(&c, &e), 0);
	c = trunk("t");
	c.user = "al@ice";
	cr_assert_eq(ua_trunk_config_validate(&c, &e), -EINVAL);
	cr_assert(strstr(e.msg, "user:"), "%s", e.msg);
	c.user = "";
	cr_assert_eq(ua_trunk_config_validate(&c, &e), -EINVAL);
	c = trunk("t");
	c.realm = "a\"b";
	cr_assert_eq(ua_trunk_config_validate(&c, &e), -EINVAL);
	c = trunk("t");
	c.password = "pa\r\nss";
	cr_assert_eq(ua_trunk_config_validate(&c, &e), -EINVAL);
	c = trunk("t");
	c.transport = (enum ua_transport)7;
	cr_assert_eq(ua_trunk_config_validate(&c, &e), -EINVAL);
	c = trunk("t");
	c.contact_user = "x y";
	cr_assert_eq(ua_trunk_config_validate(&c, &e), -EINVAL);
	/* add refuses the invalid and the duplicate */
	c = trunk("dup");
	cr_assert_eq(ua_trunk_add(UA, &c, false, &e), 0);
	cr_assert_eq(ua_trunk_add(UA, &c, false, &e), -EEXIST);
	c.expire = 5;
	cr_assert_eq(ua_trunk_add(UA, &c, false, &e), -EINVAL);
}

Test(ua, field_parsers)
{
	enum ua_transport t;
	int v;
	char host[64];
	uint16_t port;

	cr_assert_eq(ua_transport_parse("UDP", &t), 0);
	cr_assert_eq(t, UA_TRANSPORT_UDP);
	cr_assert_eq(ua_transport_parse("tcp", &t), 0);
	cr_assert_eq(t, UA_TRANSPORT_TCP);
	cr_assert_eq(ua_transport_parse("tls", &t), -EINVAL);
	cr_assert_eq(ua_transport_parse("", &t), -EINVAL);
	cr_assert_str_eq(ua_transport_name(UA_TRANSPORT_TCP), "tcp");

	cr_assert_eq(ua_expire_parse("", &v), 0);
	cr_assert_eq(v, UA_EXPIRE_GLOBAL);
	cr_assert_eq(ua_expire_parse(NULL, &v), 0);
	cr_assert_eq(v, UA_EXPIRE_GLOBAL);
	cr_assert_eq(ua_expire_parse("Auto", &v), 0);
	cr_assert_eq(v, UA_EXPIRE_AUTO);
	cr_assert_eq(ua_expire_parse("20", &v), 0);
	cr_assert_eq(v, 20);
	cr_assert_eq(ua_expire_parse("7200", &v), 0);
	cr_assert_eq(ua_expire_parse("19", &v), -ERANGE);
	cr_assert_eq(ua_expire_parse("7201", &v), -ERANGE);
	cr_assert_eq(ua_expire_parse("0", &v), -ERANGE);
	cr_assert_eq(ua_expire_parse("-5", &v), -EINVAL);
	cr_assert_eq(ua_expire_parse("60s", &v), -EINVAL);
	cr_assert_eq(ua_expire_parse(" 60", &v), -EINVAL);
	cr_assert_eq(ua_expire_parse("99999999999999", &v), -EINVAL);

	cr_assert_eq(ua_retry_parse("", &v), 0);
	cr_assert_eq(v, UA_RETRY_GLOBAL);
	cr_assert_eq(ua_retry_parse("30", &v), 0);
	cr_assert_eq(v, 30);
	cr_assert_eq(ua_retry_parse("600", &v), 0);
	cr_assert_eq(ua_retry_parse("29", &v), -ERANGE);
	cr_assert_eq(ua_retry_parse("601", &v), -ERANGE);
	cr_assert_eq(ua_retry_parse("auto", &v), -EINVAL);

	cr_assert_eq(
	        ua_hostport_parse("sip.carrier.example:5080", host, sizeof(host), &port),
	        0);
	cr_assert_str_eq(host, "sip.carrier.example");
	cr_assert_eq(port, 5080);
	cr_assert_eq(ua_hostport_parse("198.51.100.1", host, sizeof(host), &port), 0);
	cr_assert_str_eq(host, "198.51.100.1");
	cr_assert_eq(port, 0);
	cr_assert_eq(ua_hostport_parse("[2001:db8::1]:5062", host, sizeof(host), &port),
	             0);
	cr_assert_str_eq(host, "2001:db8::1");
	cr_assert_eq(port, 5062);
	cr_assert_eq(ua_hostport_parse("[2001:db8::1]", host, sizeof(host), &port), 0);
	cr_assert_eq(port, 0);
	cr_assert_eq(ua_hostport_parse("2001:db8::1", host, sizeof(host), &port), 0);
	cr_assert_str_eq(host, "2001:db8::1");
	cr_assert_eq(port, 0);
	cr_assert_eq(ua_hostport_parse("", host, sizeof(host), &port), 0);
	cr_assert_str_eq(host, "");
	cr_assert_eq(ua_hostport_parse("h:0", host, sizeof(host), &port), -EINVAL);
	cr_assert_eq(ua_hostport_parse("h:65536", host, sizeof(host), &port), -EINVAL);
	cr_assert_eq(ua_hostport_parse("h:", host, sizeof(host), &port), -EINVAL);
	cr_assert_eq(ua_hostport_parse(":5060", host, sizeof(host), &port), -EINVAL);
	cr_assert_eq(ua_hostport_parse("[]:5060", host, sizeof(host), &port), -EINVAL);
	cr_assert_eq(ua_hostport_parse("[::1]x", host, sizeof(host), &port), -EINVAL);
	cr_assert_eq(ua_hostport_parse("[::1", host, sizeof(host), &port), -EINVAL);
	cr_assert_eq(ua_hostport_parse("a-very-long-host-name.example", host, 8, &port),
	             -ENAMETOOLONG);
}

Test(ua, settings_from_config_and_range)
{
	struct config *cfg;
	struct ua_settings s;

	cr_assert_eq(config_new(&cfg), 0);
	ua_settings_from_config(&s, cfg);
	cr_assert_eq(s.expire, 0);
	cr_assert_eq(s.retry_delay, 60);
	cr_assert(s.send_unregister);
	cr_assert_eq(s.request_expire, 3600);
	cr_assert_eq(ua_set_settings(UA, &s), 0);
	s.retry_delay = 10;
	cr_assert_eq(ua_set_settings(UA, &s), -EINVAL);
	config_free(cfg);
}

/* ------------------------------------------------------------------------ */
/* Expiry                                                                    */

static void check_refresh_window(const char *name, uint64_t sent_at, unsigned effective)
{
	struct ua_trunk_status st = status(name);
	uint64_t half = (uint64_t)effective * 500;

	cr_assert_eq(st.next_action, UA_ACTION_REFRESH);
	cr_assert_leq(st.next_at_ms, sent_at + half, "refresh after its due time");
	cr_assert_geq(st.next_at_ms, sent_at + half - half / 10, "refresh too early");
}

Test(ua, auto_server_grants_less)
{
	struct ua_trunk_config c = trunk("t1");
	struct ua_trunk_status st;
	struct req r1, r2;
	struct sip_str b1, b2;

	add(&c);
	start();
	cr_assert_eq(nsent, 1);
	cr_assert_eq(expires_of(0), 3600);
	cr_assert_eq(contact_expires(0), 3600);
	cr_assert_str_eq(hv(0, "To"), "<sip:alice@example.net>");
	cr_assert(strncmp(hv(0, "From"), "<sip:alice@example.net>;tag=", 28) == 0);
	cr_assert_str_eq(hv(0, "User-Agent"), "sipreg-test/1");
	cr_assert(!has_hdr(0, "Privacy"));
	cr_assert(!has_hdr(0, "Authorization"));
	cr_assert_eq(status("t1").state, UA_STATE_REGISTERING);
	ok_contact(0, 120, NULL);
	st = status("t1");
	cr_assert_eq(st.state, UA_STATE_REGISTERED);
	cr_assert_eq(st.granted, 120);
	cr_assert_eq(st.last_code, 200);
	cr_assert(st.valid);
	cr_assert_eq(st.last_success, wall_fn(NULL));
	check_refresh_window("t1", sent[0].at, 120);
	/* the refresh: same Call-ID, From, Contact; CSeq + 1; a new branch */
	run_until(st.next_at_ms - 1);
	cr_assert_eq(nsent, 1);
	run_until(st.next_at_ms);
	cr_assert_eq(nsent, 2);
	cr_assert_eq(status("t1").state, UA_STATE_REFRESHING);
	cr_assert_str_eq(hv(1, "Call-ID"), hv(0, "Call-ID"));
	cr_assert_str_eq(hv(1, "From"), hv(0, "From"));
	cr_assert_str_eq(hv(1, "Contact"), hv(0, "Contact"));
	cr_assert_eq(cseq_of(1), cseq_of(0) + 1);
	b1 = branch_of(0, &r1);
	b2 = branch_of(1, &r2);
	cr_assert(!sip_str_eq(b1, b2));
	cr_assert(sip_str_eq(sip_str_make(b1.p, 7), SIP_STR("z9hG4bK")));
	cr_assert_eq(tx_branch_worker(b2), 3);
	cr_assert_eq(expires_of(1), 3600, "auto keeps asking register_request_expire");
	ok_contact(1, 120, NULL);
	cr_assert_eq(status("t1").state, UA_STATE_REGISTERED);
	cr_assert_eq(status("t1").attempts, 2);
	/* the refresh steps are routine notices, the first registration is not */
	cr_assert(last_state_note()->routine);
}

Test(ua, auto_server_grants_more)
{
	struct ua_trunk_config c = trunk("t1");

	add(&c);
	start();
	ok_contact(0, 7200, NULL);
	cr_assert_eq(status("t1").granted, 7200);
	check_refresh_window("t1", sent[0].at, 7200);
}

Test(ua, auto_server_grants_nothing)
{
	struct ua_trunk_config c = trunk("t1");

	add(&c);
	start();
	ok_contact(0, 0, NULL); /* Contact without expires, no Expires header */
	cr_assert_eq(status("t1").granted, 3600);
	check_refresh_window("t1", sent[0].at, 3600);
}

Test(ua, auto_expires_header_when_contact_has_none)
{
	struct ua_trunk_config c = trunk("t1");

	add(&c);
	start();
	ok_contact(0, 0, "Expires: 600\r\n");
	cr_assert_eq(status("t1").granted, 600);
	check_refresh_window("t1", sent[0].at, 600);
}

Test(ua, other_contacts_do_not_count)
{
	struct ua_trunk_config c = trunk("t1");

	add(&c);
	start();
	/* another UA's binding with a short expiry, then ours */
	ok_contact(0, 900, "Contact: <sip:bob@203.0.113.5:5060>;expires=30\r\n");
	cr_assert_eq(status("t1").granted, 900);
}

Test(ua, our_contact_among_many)
{
	struct ua_trunk_config c = trunk("t1");
	char extra[8192];
	size_t l = 0;

	add(&c);
	start();
	/* 100 other bindings of the same AOR, on several lines, ours last */
	for (int i = 0; i < 100; i++)
		l += (size_t)snprintf(extra + l, sizeof(extra) - l,
		                      "%s<sip:alice@203.0.113.%d:5060>;expires=%d%s",
		                      i % 10 == 0 ? "Contact: " : "", i, 30 + i,
		                      i % 10 == 9 ? "\r\n" : ", ");
	snprintf(extra + l, sizeof(extra) - l,
	         "Contact: <sip:alice@192.0.2.10:5060>;expires=1200\r\n");
	respond(0, 200, extra);
	cr_assert_eq(status("t1").granted, 1200);
}

Test(ua, granted_zero_is_a_failure)
{
	struct ua_trunk_config c = trunk("t1");

	add(&c);
	start();
	respond(0, 200, "Expires: 0\r\n");
	cr_assert_eq(status("t1").state, UA_STATE_FAILED);
	cr_assert_eq(status("t1").failures, 1);
}

Test(ua, fixed_expire)
{
	struct ua_trunk_config c = trunk("t1");
	struct ua_settings s = default_settings();

	s.expire = 300; /* global fixed */
	cr_assert_eq(ua_set_settings(UA, &s), 0);
	add(&c);
	start();
	cr_assert_eq(expires_of(0), 300);
	cr_assert_eq(contact_expires(0), 300);
	ok_contact(0, 300, NULL);
	check_refresh_window("t1", sent[0].at, 300);
	/* the server grants more: the refresh still follows what we asked */
	run_until(status("t1").next_at_ms);
	cr_assert_eq(nsent, 2);
	cr_assert_eq(expires_of(1), 300);
	ok_contact(1, 3600, NULL);
	cr_assert_eq(status("t1").granted, 3600);
	check_refresh_window("t1", sent[1].at, 300);
	/* the server grants less: the refresh follows the granted value */
	run_until(status("t1").next_at_ms);
	cr_assert_eq(nsent, 3);
	cr_assert_eq(expires_of(2), 300);
	ok_contact(2, 100, NULL);
	check_refresh_window("t1", sent[2].at, 100);
}

Test(ua, per_trunk_overrides)
{
	struct ua_trunk_config a = trunk("fixed600");
	struct ua_trunk_config b = trunk("auto-retry30");
	struct ua_settings s = default_settings();
	uint64_t t;

	s.expire = 300;
	cr_assert_eq(ua_set_settings(UA, &s), 0);
	a.expire = 600;
	b.expire = UA_EXPIRE_AUTO;
	b.retry_delay = 30;
	add(&a);
	add(&b);
	start();
	cr_assert_eq(nsent, 2);
	for (size_t i = 0; i < 2; i++) {
		if (strstr(hv(i, "Expires"), "600"))
			continue;
		cr_assert_str_eq(hv(i, "Expires"),
		                 "3600"); /* auto: register_request_expire */
	}
	cr_assert(strcmp(hv(0, "Expires"), "600") == 0 ||
	          strcmp(hv(1, "Expires"), "600") == 0);
	/* b fails: retried after its own 30 s, a after the global 60 s */
	for (size_t i = 0; i < 2; i++)
		respond(i, 503, NULL);
	t = now;
	cr_assert_eq(status("auto-retry30").next_at_ms, t + 30000);
	cr_assert_eq(status("fixed600").next_at_ms, t + 60000);
	run_until(t + 30000);
	cr_assert_eq(nsent, 3);
	cr_assert_str_eq(hv(2, "Expires"), "3600");
}

Test(ua, interval_too_brief)
{
	struct ua_trunk_config c = trunk("t1");
	const struct note *n = NULL;

	c.expire = 60;
	add(&c);
	start();
	cr_assert_eq(expires_of(0), 60);
	respond(0, 423, "Min-Expires: 300\r\n");
	cr_assert_eq(nsent, 2, "a new REGISTER at once");
	cr_assert_eq(sent[1].at, now);
	cr_assert_eq(expires_of(1), 300);
	cr_assert_eq(contact_expires(1), 300);
	cr_assert_eq(cseq_of(1), cseq_of(0) + 1);
	for (size_t i = 0; i < nnotes; i++)
		if (notes[i].kind == UA_NOTICE_INTERVAL_TOO_BRIEF)
			n = &notes[i];
	cr_assert_not_null(n);
	cr_assert_str_eq(n->trunk, "t1");
	cr_assert_eq(n->value, 60);
	cr_assert_eq(n->value2, 300);
	cr_assert_eq(status("t1").failures, 0);
	ok_contact(1, 300, NULL);
	cr_assert_eq(status("t1").state, UA_STATE_REGISTERED);
	check_refresh_window("t1", sent[1].at, 300);
	/* the refresh keeps asking the server's minimum */
	run_until(status("t1").next_at_ms);
	cr_assert_eq(expires_of(2), 300);
	/* a 423 without a usable Min-Expires is a failure */
	respond(2, 423, "Min-Expires: 200\r\n");
	cr_assert_eq(status("t1").state, UA_STATE_FAILED);
}

/* ------------------------------------------------------------------------ */
/* Digest                                                                    */

Test(ua, challenge_401_then_200_and_preemptive_refresh)
{
	struct ua_trunk_config c = trunk("t1");
	struct ua_trunk_status st;

	add(&c);
	start();
	respond(0, 401, CHAL_MD5);
	cr_assert_eq(nsent, 2);
	cr_assert_eq(cseq_of(1), cseq_of(0) + 1);
	cr_assert_str_eq(hv(1, "Call-ID"), hv(0, "Call-ID"));
	check_creds(1, "Authorization", "secret", "n1", 1);
	ok_contact(1, 600, NULL);
	st = status("t1");
	cr_assert_eq(st.state, UA_STATE_REGISTERED);
	cr_assert_eq(st.failures, 0);
	/* the refresh carries credentials at once, the same nonce, nc 2 */
	run_until(st.next_at_ms);
	cr_assert_eq(nsent, 3);
	check_creds(2, "Authorization", "secret", "n1", 2);
	{
		struct req r1, r2;
		struct sip_auth a1 = creds_of(1, "Authorization", &r1);
		struct sip_auth a2 = creds_of(2, "Authorization", &r2);

		cr_assert(sip_str_eq(a1.cnonce, a2.cnonce));
		cr_assert(sip_str_eq(a1.username, SIP_STR("alice")));
		cr_assert(sip_str_eq(a1.uri, SIP_STR("sip:example.net")));
	}
	ok_contact(2, 600, NULL);
	cr_assert_eq(status("t1").state, UA_STATE_REGISTERED);
}

/*
 * The credentials of every REGISTER are byte for byte what digest_answer()
 * writes for the cached challenge, the same username, password, Request-URI
 * and cnonce, and the nonce-count sent: the first answer to a challenge is
 * digest_answer()'s own, the refreshes after it come from the cached HA1/HA2
 * (src/ua/ua.c put_fast()). Across algorithms (-sess too), with and without
 * qop and opaque, qop=auth-int only and a nonce with a quoted-pair (both
 * kept on digest_answer()), stale nonces, a 407, the auth user, privacy.
 */
static void check_same_as_answer(size_t i, const char *hdr, const char *chal_hdr,
                                 const char *chal, const char *user, const char *password,
                                 uint32_t nc)
{
	struct req r;
	struct sip_auth sent_a = creds_of(i, hdr, &r), ch;
	const struct sip_hdr *h = sip_msg_hdr_by_name(&r.m, sip_str_make(hdr, strlen(hdr)));
	char cbuf[2048], out[2048];
	struct sip_msg m;
	struct sip_hdr hs[8];
	struct sip_err e = {0};
	struct sip_write w;
	int n;

	/* the challenge as the UA cached it: the header's value */
	n = snprintf(cbuf, sizeof(cbuf), "SIP/2.0 401 X\r\n%s: %s\r\n\r\n", chal_hdr, chal);
	cr_assert(n > 0 && (size_t)n < sizeof(cbuf));
	cr_assert_gt(sip_msg_parse(&m, cbuf, (size_t)n, hs, 8, SIP_PARSE_DATAGRAM, &e), 0);
	cr_assert_eq(sip_auth_parse(&ch, m.hdrs[0].value, &e), 0);
	cr_assert(sent_a.has_nc || !sip_str_isset(sent_a.qop) || !sent_a.qop.len);
	if (sent_a.has_nc)
		cr_assert_eq(sent_a.nc_val, nc, "sent[%zu] nc %u, expected %u", i, sent_a.nc_val,
		             nc);
	sip_write_init(&w, out, sizeof(out));
	cr_assert_eq(digest_answer(&w, &ch, sip_str_make(user, strlen(user)),
	                           sip_str_make(password, strlen(password)),
	                           SIP_STR("REGISTER"), sent_a.uri, SIP_STR_NULL,
	                           sip_str_isset(sent_a.cnonce) ? sent_a.cnonce
	                                                        : SIP_STR("0000000000000000"),
	                           nc),
	             0);
	n = sip_write_result(&w);
	cr_assert_gt(n, 0);
	cr_assert_eq(h->value.len, (size_t)n, "sent[%zu] %s:\n%.*s\nexpected:\n%.*s", i, hdr,
	             (int)h->value.len, h->value.p, n, out);
	cr_assert_arr_eq(h->value.p, out, (size_t)n, "sent[%zu] %s:\n%.*s\nexpected:\n%.*s", i,
	                 hdr, (int)h->value.len, h->value.p, n, out);
	if (digest_verify(&sent_a, SIP_STR("REGISTER"), SIP_STR_NULL,
	                  sip_str_make(password, strlen(password))) != -ENOTSUP)
		cr_assert_eq(digest_verify(&sent_a, SIP_STR("REGISTER"), SIP_STR_NULL,
		                           sip_str_make(password, strlen(password))),
		             0, "sent[%zu] does not verify", i);
}

struct fast_case {
	const char *chal, *chal2; /* the first challenge; a stale one later */
	bool proxy;
	const char *auth_user;
	enum config_privacy privacy;
};

static void run_fast_case(const struct fast_case *fc)
{
	struct ua_settings s = default_settings();
	struct ua_trunk_config c = trunk("t1");
	const char *hdr = fc->proxy ? "Proxy-Authorization" : "Authorization";
	const char *chdr = fc->proxy ? "Proxy-Authenticate" : "WWW-Authenticate";
	const char *user = fc->auth_user ? fc->auth_user : "alice";
	char extra[1024];
	size_t i;
	uint32_t nc;

	s.privacy = fc->privacy;
	cr_assert_eq(ua_set_settings(UA, &s), 0);
	if (fc->auth_user)
		c.auth_user = fc->auth_user;
	add(&c);
	start();
	snprintf(extra, sizeof(extra), "%s: %s\r\n", chdr, fc->chal);
	respond(0, fc->proxy ? 407 : 401, extra);
	cr_assert_eq(nsent, 2);
	check_same_as_answer(1, hdr, chdr, fc->chal, user, "secret", 1);
	ok_contact(1, 600, NULL);
	for (i = 2, nc = 2; i < 6; i++, nc++) {
		run_until(status("t1").next_at_ms);
		cr_assert_eq(nsent, i + 1);
		check_same_as_answer(i, hdr, chdr, fc->chal, user, "secret", nc);
		if (fc->privacy == CONFIG_PRIVACY_ID)
			cr_assert_str_eq(hv(i, "Privacy"), "id");
		else if (fc->privacy == CONFIG_PRIVACY_NONE)
			cr_assert_str_eq(hv(i, "Privacy"), "none");
		else
			cr_assert(!has_hdr(i, "Privacy"));
		ok_contact(i, 600, NULL);
	}
	/* a stale nonce: the new challenge is answered (nc 1), then refreshed */
	run_until(status("t1").next_at_ms);
	cr_assert_eq(nsent, 7);
	snprintf(extra, sizeof(extra), "%s: %s\r\n", chdr, fc->chal2);
	respond(6, fc->proxy ? 407 : 401, extra);
	cr_assert_eq(nsent, 8);
	check_same_as_answer(7, hdr, chdr, fc->chal2, user, "secret", 1);
	ok_contact(7, 600, NULL);
	for (i = 8, nc = 2; i < 11; i++, nc++) {
		run_until(status("t1").next_at_ms);
		cr_assert_eq(nsent, i + 1);
		check_same_as_answer(i, hdr, chdr, fc->chal2, user, "secret", nc);
		ok_contact(i, 600, NULL);
	}
	cr_assert_eq(status("t1").state, UA_STATE_REGISTERED);
	cr_assert_eq(status("t1").failures, 0);
}

Test(ua, refresh_credentials_equal_digest_answer)
{
	static const struct fast_case cases[] = {
	        {"Digest realm=\"example.net\", nonce=\"n1\", qop=\"auth\"",
	         "Digest realm=\"example.net\", nonce=\"n2\", qop=\"auth\", stale=true", false,
	         NULL, CONFIG_PRIVACY_IGNORE},
	        {"Digest realm=\"example.net\", nonce=\"abcdefghijklmnopqrstuvwxyz0123456789ABCDEF\", "
	         "opaque=\"op1\", algorithm=SHA-256, qop=\"auth,auth-int\"",
	         "Digest realm=\"example.net\", nonce=\"N2\", opaque=\"op2\", "
	         "algorithm=SHA-256, qop=\"auth\", stale=true",
	         false, "acct-77", CONFIG_PRIVACY_ID},
	        {"Digest realm=\"example.net\", nonce=\"s1\", algorithm=SHA-512-256-sess, "
	         "qop=\"auth\"",
	         "Digest realm=\"example.net\", nonce=\"s2\", algorithm=MD5-sess, qop=\"auth\", "
	         "stale=true",
	         true, NULL, CONFIG_PRIVACY_NONE},
	        /* RFC 2069: no qop, no nc */
	        {"Digest realm=\"example.net\", nonce=\"old1\"",
	         "Digest realm=\"example.net\", nonce=\"old2\", algorithm=SHA-256, stale=true",
	         false, NULL, CONFIG_PRIVACY_IGNORE},
	        /* kept on digest_answer(): auth-int only; a quoted-pair in the nonce */
	        {"Digest realm=\"example.net\", nonce=\"i1\", qop=\"auth-int\"",
	         "Digest realm=\"example.net\", nonce=\"q\\\\\\\"2\", qop=\"auth\", "
	         "opaque=\"o\\\\\\\"x\", stale=true",
	         false, NULL, CONFIG_PRIVACY_IGNORE},
	        {"Digest realm=\"exa\\\\mple.net\", nonce=\"r1\", qop=\"auth\"",
	         "Digest realm=\"exa\\\\mple.net\", nonce=\"r2\", algorithm=SHA-256-sess, "
	         "qop=\"auth\", stale=true",
	         false, NULL, CONFIG_PRIVACY_IGNORE},
	};

	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		teardown();
		setup();
		run_fast_case(&cases[k]);
	}
}

Test(ua, auth_user_differs)
{
	struct ua_trunk_config c = trunk("t1");
	struct req r;

	c.auth_user = "acct-77";
	add(&c);
	start();
	respond(0, 401, CHAL_MD5);
	check_creds(1, "Authorization", "secret", "n1", 1);
	cr_assert(sip_str_eq(creds_of(1, "Authorization", &r).username,
	                     SIP_STR("acct-77")));
	cr_assert_str_eq(hv(1, "To"), "<sip:alice@example.net>");
}

Test(ua, challenge_407)
{
	struct ua_trunk_config c = trunk("t1");

	add(&c);
	start();
	respond(0, 407,
	        "Proxy-Authenticate: Digest realm=\"example.net\", nonce=\"p7\", "
	        "qop=\"auth\", "
	        "algorithm=SHA-256\r\n");
	cr_assert_eq(nsent, 2);
	cr_assert(!has_hdr(1, "Authorization"));
	check_creds(1, "Proxy-Authorization", "secret", "p7", 1);
	ok_contact(1, 600, NULL);
	cr_assert_eq(status("t1").state, UA_STATE_REGISTERED);
}

Test(ua, stale_nonce_is_not_a_failure)
{
	struct ua_trunk_config c = trunk("t1");

	add(&c);
	start();
	respond(0, 401, CHAL_MD5);
	ok_contact(1, 600, NULL);
	run_until(status("t1").next_at_ms);
	check_creds(2, "Authorization", "secret", "n1", 2);
	respond(2, 401,
	        "WWW-Authenticate: Digest realm=\"example.net\", nonce=\"n2\", "
	        "qop=\"auth\", "
	        "stale=true\r\n");
	cr_assert_eq(nsent, 4);
	check_creds(3, "Authorization", "secret", "n2", 1);
	/* and even a second stale in the same attempt is answered */
	respond(3, 401,
	        "WWW-Authenticate: Digest realm=\"example.net\", nonce=\"n3\", "
	        "qop=\"auth\", "
	        "stale=true\r\n");
	check_creds(4, "Authorization", "secret", "n3", 1);
	ok_contact(4, 600, NULL);
	cr_assert_eq(status("t1").state, UA_STATE_REGISTERED);
	cr_assert_eq(status("t1").failures, 0);
}

Test(ua, expired_nonce_without_stale_after_preemptive)
{
	struct ua_trunk_config c = trunk("t1");

	add(&c);
	start();
	respond(0, 401, CHAL_MD5);
	ok_contact(1, 600, NULL);
	run_until(status("t1").next_at_ms);
	/* the pre-emptive credentials used an old nonce: a plain 401 is a new
	 * challenge (fritzbox style), answered, not a failure */
	respond(2, 401,
	        "WWW-Authenticate: Digest realm=\"example.net\", nonce=\"n9\"\r\n");
	cr_assert_eq(nsent, 4);
	check_creds(3, "Authorization", "secret", "n9", 0);
	ok_contact(3, 600, NULL);
	cr_assert_eq(status("t1").failures, 0);
}

Test(ua, wrong_password_retries_after_exactly_the_delay)
{
	struct ua_trunk_config c = trunk("t1");
	struct ua_trunk_status st;
	uint64_t failed_at;

	add(&c);
	start();
	respond(0, 401, CHAL_MD5);
	cr_assert_eq(nsent, 2);
	respond(1, 401,
	        "WWW-Authenticate: Digest realm=\"example.net\", nonce=\"n1b\", "
	        "qop=\"auth\"\r\n");
	cr_assert_eq(nsent, 2, "no third REGISTER");
	st = status("t1");
	failed_at = now;
	cr_assert_eq(st.state, UA_STATE_FAILED);
	cr_assert_eq(st.last_code, 401);
	cr_assert_eq(st.failures, 1);
	cr_assert_eq(st.next_action, UA_ACTION_RETRY);
	cr_assert_eq(st.next_at_ms, failed_at + 60000);
	run_until(failed_at + 59999);
	cr_assert_eq(nsent, 2);
	run_until(failed_at + 60000);
	cr_assert_eq(nsent, 3);
	cr_assert_eq(sent[2].at, failed_at + 60000);
	/* the retry starts from the newest nonce, pre-emptively; a challenge to
	 * that is answered once, a second one is the same failure again */
	check_creds(2, "Authorization", "secret", "n1b", 1);
	respond(2, 401, CHAL_MD5);
	cr_assert_eq(nsent, 4);
	check_creds(3, "Authorization", "secret", "n1", 1);
	respond(3, 401, CHAL_MD5);
	cr_assert_eq(nsent, 4);
	cr_assert_eq(status("t1").failures, 2);
	failed_at = now;
	cr_assert_eq(status("t1").next_at_ms, failed_at + 60000, "no backoff");
	run_until(failed_at + 60000);
	cr_assert_eq(nsent, 5);
	cr_assert_eq(sent[4].at, failed_at + 60000);
}

Test(ua, realm_must_match_when_configured)
{
	struct ua_trunk_config c = trunk("t1");

	c.realm = "other.example";
	add(&c);
	start();
	respond(0, 401, CHAL_MD5);
	cr_assert_eq(nsent, 1);
	cr_assert_eq(status("t1").state, UA_STATE_FAILED);
}

Test(ua, challenge_without_password_fails)
{
	struct ua_trunk_config c = trunk("t1");

	c.password = "";
	add(&c);
	start();
	respond(0, 401, CHAL_MD5);
	cr_assert_eq(nsent, 1);
	cr_assert_eq(status("t1").state, UA_STATE_FAILED);
}

/* ------------------------------------------------------------------------ */
/* Failures                                                                  */

Test(ua, forbidden_403)
{
	struct ua_trunk_config c = trunk("t1");
	struct ua_trunk_status st;

	add(&c);
	start();
	respond(0, 403, NULL);
	st = status("t1");
	cr_assert_eq(st.state, UA_STATE_FAILED);
	cr_assert_eq(st.last_code, 403);
	cr_assert_str_eq(st.last_reason, "Forbidden");
	cr_assert_eq(st.next_at_ms, now + 60000);
	cr_assert(!st.valid);
	cr_assert_str_eq(last_state_note()->reason, "Forbidden");
	cr_assert(!last_state_note()->routine);
}

Test(ua, not_found_404_and_600)
{
	struct ua_trunk_config c = trunk("t1");

	add(&c);
	start();
	respond(0, 404, NULL);
	cr_assert_eq(status("t1").state, UA_STATE_FAILED);
	run_for(60000);
	respond(1, 600, NULL);
	cr_assert_eq(status("t1").last_code, 600);
	cr_assert_eq(status("t1").failures, 2);
	/* the same failure twice in a row is a routine notice; a new one is not */
	run_for(60000);
	respond(2, 600, NULL);
	cr_assert(last_state_note()->routine);
}

Test(ua, service_unavailable_503_retry_after)
{
	struct ua_trunk_config c = trunk("t1");
	uint64_t t;

	add(&c);
	start();
	respond(0, 503, NULL);
	cr_assert_eq(status("t1").next_at_ms, now + 60000);
	run_for(60000);
	cr_assert_eq(nsent, 2);
	/* longer than the delay: honoured and announced */
	respond(1, 503, "Retry-After: 120 (maintenance);duration=60\r\n");
	t = now;
	cr_assert_eq(status("t1").next_at_ms, t + 120000);
	cr_assert_eq(count_notes(UA_NOTICE_RETRY_AFTER), 1);
	run_until(t + 119999);
	cr_assert_eq(nsent, 2);
	run_until(t + 120000);
	cr_assert_eq(nsent, 3);
	/* shorter than the delay: the delay */
	respond(2, 503, "Retry-After: 10\r\n");
	cr_assert_eq(status("t1").next_at_ms, now + 60000);
	cr_assert_eq(count_notes(UA_NOTICE_RETRY_AFTER), 1);
}

Test(ua, no_answer_times_out_then_retry_delay)
{
	struct ua_trunk_config c = trunk("t1");
	uint64_t t0;
	uint32_t cseq;

	add(&c);
	start();
	t0 = sent[0].at;
	cseq = cseq_of(0);
	run_until(t0 + 64 * 500 - 1);
	cr_assert_eq(status("t1").state, UA_STATE_REGISTERING);
	cr_assert_gt(nsent, 1, "Timer E retransmitted");
	for (size_t i = 1; i < nsent; i++)
		cr_assert_eq(cseq_of(i), cseq, "a retransmission, not a new REGISTER");
	run_until(t0 + 64 * 500);
	cr_assert_eq(status("t1").state, UA_STATE_FAILED);
	cr_assert_str_eq(status("t1").last_reason, "timeout");
	cr_assert_eq(status("t1").next_at_ms, t0 + 32000 + 60000);
	{
		size_t before = nsent;

		run_until(t0 + 92000);
		cr_assert_eq(nsent, before + 1);
		cr_assert_eq(cseq_of(nsent - 1), cseq + 1);
	}
}

Test(ua, transport_error_is_a_failure)
{
	struct ua_trunk_config c = trunk("t1");

	send_fail = -ENETUNREACH;
	add(&c);
	start();
	cr_assert_eq(nsent, 0);
	cr_assert_eq(status("t1").state, UA_STATE_FAILED);
	cr_assert(strstr(status("t1").last_reason, "transport error"));
	run_for(60000);
	cr_assert_eq(nsent, 1);
}

Test(ua, recovery_after_failure)
{
	struct ua_trunk_config c = trunk("t1");
	struct ua_trunk_status st;

	add(&c);
	start();
	respond(0, 500, NULL);
	run_for(60000);
	respond(1, 502, NULL);
	run_for(60000);
	cr_assert_eq(nsent, 3);
	ok_contact(2, 1800, NULL);
	st = status("t1");
	cr_assert_eq(st.state, UA_STATE_REGISTERED);
	cr_assert_eq(st.failures, 2);
	cr_assert_eq(st.attempts, 3);
	cr_assert(!last_state_note()->routine);
	check_refresh_window("t1", sent[2].at, 1800);
}

Test(ua, recovery_of_a_failed_refresh_is_logged)
{
	struct ua_trunk_config c = trunk("t1");

	c.retry_delay = 30;
	add(&c);
	start();
	ok_contact(0, 600, NULL);
	run_until(status("t1").next_at_ms);
	cr_assert(last_state_note()->routine, "registered -> refreshing is routine");
	respond(1, 503, NULL);
	cr_assert(!last_state_note()->routine, "refreshing -> failed is not");
	run_for(30000);
	cr_assert_eq(status("t1").state, UA_STATE_REFRESHING,
	             "the binding is still valid");
	cr_assert(last_state_note()->routine);
	ok_contact(2, 600, NULL);
	cr_assert_eq(last_state_note()->old_state, UA_STATE_REFRESHING);
	cr_assert_eq(last_state_note()->new_state, UA_STATE_REGISTERED);
	cr_assert(!last_state_note()->routine, "the recovery is not routine");
	run_until(status("t1").next_at_ms);
	ok_contact(3, 600, NULL);
	cr_assert(last_state_note()->routine, "a plain refresh again");
}

Test(ua, failed_refresh_keeps_registration_until_expiry)
{
	struct ua_trunk_config c = trunk("t1");
	struct ua_trunk_status st;
	uint64_t valid_until;

	add(&c);
	start();
	ok_contact(0, 120, NULL);
	valid_until = sent[0].at + 120000;
	run_until(status("t1").next_at_ms);
	respond(1, 503, NULL);
	st = status("t1");
	cr_assert_eq(st.state, UA_STATE_FAILED);
	cr_assert(st.valid, "the binding granted until its expiry is still valid");
	cr_assert_eq(st.valid_until_ms, valid_until);
	cr_assert_eq(st.last_code, 503);
	run_until(valid_until - 1);
	cr_assert(status("t1").valid);
	run_until(valid_until);
	cr_assert(!status("t1").valid);
	/* the retry succeeds: failed -> registering -> registered, and the
	 * recovery is not a routine notice */
	run_until(status("t1").next_at_ms);
	ok_contact(nsent - 1, 120, NULL);
	cr_assert_eq(status("t1").state, UA_STATE_REGISTERED);
	cr_assert(!last_state_note()->routine);
}

/* ------------------------------------------------------------------------ */
/* Unregister                                                                */

static void registered(const char *name)
{
	struct ua_trunk_config c = trunk(name);
	size_t i = nsent;

	add(&c);
	start();
	cr_assert_eq(nsent, i + 1);
	ok_contact(i, 600, NULL);
	cr_assert_eq(status(name).state, UA_STATE_REGISTERED);
}

Test(ua, unregister_on_delete)
{
	size_t counts[UA_STATE__COUNT];

	registered("t1");
	cr_assert_eq(ua_trunk_del(UA, "t1"), 0);
	cr_assert_eq(ua_trunk_get_status(UA, "t1", &(struct ua_trunk_status){0}),
	             -ENOENT);
	cr_assert_null(ua_trunk_first(UA));
	cr_assert_eq(nsent, 2);
	cr_assert_eq(expires_of(1), 0);
	cr_assert_eq(contact_expires(1), 0);
	cr_assert_eq(cseq_of(1), cseq_of(0) + 1);
	cr_assert_str_eq(hv(1, "Call-ID"), hv(0, "Call-ID"));
	cr_assert_eq(ua_counts(UA, counts), 1);
	cr_assert_eq(counts[UA_STATE_UNREGISTERING], 1);
	/* the name can be added again at once */
	{
		struct ua_trunk_config c = trunk("t1");

		add(&c);
		cr_assert_eq(ua_trunk_del(UA, "t1"), 0);
	}
	respond(1, 200, NULL);
	cr_assert_eq(ua_counts(UA, counts), 0);
	cr_assert_eq(ua_trunk_del(UA, "t1"), -ENOENT);
}

Test(ua, unregister_answers_a_challenge)
{
	registered("t1");
	cr_assert_eq(ua_trunk_del(UA, "t1"), 0);
	respond(1, 401, CHAL_MD5);
	cr_assert_eq(nsent, 3);
	cr_assert_eq(expires_of(2), 0);
	check_creds(2, "Authorization", "secret", "n1", 1);
	respond(2, 200, NULL);
	cr_assert_eq(ua_counts(UA, (size_t[UA_STATE__COUNT]){0}), 0);
}

Test(ua, unregister_on_disable_and_enable_again)
{
	registered("t1");
	cr_assert_eq(ua_trunk_disable(UA, "t1"), 0);
	cr_assert_eq(ua_trunk_disable(UA, "t1"), -EALREADY);
	cr_assert_eq(nsent, 2);
	cr_assert_eq(expires_of(1), 0);
	cr_assert_eq(status("t1").state, UA_STATE_UNREGISTERING);
	respond(1, 200, NULL);
	cr_assert_eq(status("t1").state, UA_STATE_DISABLED);
	cr_assert(!status("t1").valid);
	run_for(3600 * 1000);
	cr_assert_eq(nsent, 2, "nothing sent while disabled");
	cr_assert_eq(ua_trunk_refresh(UA, "t1"), -EPERM);
	cr_assert_eq(ua_trunk_enable(UA, "t1"), 0);
	start();
	cr_assert_eq(nsent, 3);
	cr_assert_eq(expires_of(2), 3600);
}

Test(ua, disable_of_unregistered_trunk_sends_nothing)
{
	struct ua_trunk_config c = trunk("t1");

	add(&c);
	start();
	respond(0, 403, NULL);
	cr_assert_eq(ua_trunk_disable(UA, "t1"), 0);
	cr_assert_eq(nsent, 1);
	cr_assert_eq(status("t1").state, UA_STATE_DISABLED);
}

Test(ua, unregister_timeout_still_completes)
{
	registered("t1");
	cr_assert_eq(ua_trunk_disable(UA, "t1"), 0);
	run_for(32000);
	cr_assert_eq(status("t1").state, UA_STATE_DISABLED);
}

Test(ua, shutdown_unregisters_all_in_parallel)
{
	size_t before;
	const struct note *n = NULL;

	registered("a");
	registered("b");
	registered("c");
	before = nsent;
	cr_assert_eq(ua_shutdown(UA, 3000), 3);
	cr_assert_eq(ua_shutdown(UA, 3000), -EALREADY);
	cr_assert_eq(nsent, before + 3, "all at once");
	for (size_t i = before; i < nsent; i++) {
		cr_assert_eq(expires_of(i), 0);
		cr_assert_eq(sent[i].at, now);
	}
	respond(before, 200, NULL);
	respond(before + 1, 401, CHAL_MD5); /* answered */
	cr_assert_eq(nsent, before + 4);
	respond(before + 3, 200, NULL);
	cr_assert(!ua_shutdown_done(UA));
	run_for(2999);
	cr_assert(!ua_shutdown_done(UA));
	run_for(1);
	cr_assert(ua_shutdown_done(UA));
	for (size_t i = 0; i < nnotes; i++)
		if (notes[i].kind == UA_NOTICE_SHUTDOWN_DONE)
			n = &notes[i];
	cr_assert_not_null(n);
	cr_assert_eq(n->value, 2);
	cr_assert_eq(n->value2, 1);
	cr_assert_eq(count_notes(UA_NOTICE_SHUTDOWN_DONE), 1);
	cr_assert_eq(ua_trunk_enable(UA, "a"), -ESHUTDOWN);
	{
		struct ua_trunk_config c = trunk("late");

		cr_assert_eq(ua_trunk_add(UA, &c, false, NULL), -ESHUTDOWN);
	}
}

Test(ua, shutdown_done_when_all_answered)
{
	size_t before;

	registered("a");
	registered("b");
	before = nsent;
	cr_assert_eq(ua_shutdown(UA, 3000), 2);
	respond(before, 200, NULL);
	cr_assert(!ua_shutdown_done(UA));
	respond(before + 1, 404, NULL);
	cr_assert(ua_shutdown_done(UA));
	cr_assert_eq(count_notes(UA_NOTICE_SHUTDOWN_DONE), 1);
	run_for(60000);
	cr_assert_eq(nsent, before + 2, "nothing more after shutdown");
}

/* n trunks "<prefix><i>" added, started at the start rate and registered
 * (600 s); returns the index in sent[] of the first one's REGISTER. */
static size_t register_many(const char *prefix, unsigned n)
{
	size_t first = nsent;
	char name[32];

	/* in batches of 100, answered before Timer A (500 ms) retransmits */
	for (unsigned b = 0; b < n; b += 100) {
		size_t i0 = nsent;
		unsigned k = n - b < 100 ? n - b : 100;

		for (unsigned i = b; i < b + k; i++) {
			struct ua_trunk_config c = trunk("x");

			snprintf(name, sizeof(name), "%s%u", prefix, i);
			c.name = name;
			add(&c);
		}
		run_for(k + 5); /* one start slot per ms at 1000/s */
		cr_assert_eq(nsent, i0 + k, "%zu sent of %u", nsent - i0, k);
		for (size_t i = i0; i < i0 + k; i++)
			ok_contact(i, 600, NULL);
	}
	return first;
}

static const struct note *shutdown_note(void)
{
	for (size_t i = 0; i < nnotes && i < 512; i++)
		if (notes[i].kind == UA_NOTICE_SHUTDOWN_DONE)
			return &notes[i];
	return NULL;
}

Test(ua, shutdown_bound_ends_a_walk_it_cannot_finish)
{
	size_t counts[UA_STATE__COUNT];
	const struct note *n;
	size_t before;
	uint64_t t0;

	register_many("r", 10000);
	for (int i = 0; i < 5; i++) { /* disabled: nothing to send, not counted */
		struct ua_trunk_config c = trunk("x");
		char name[16];

		snprintf(name, sizeof(name), "off%d", i);
		c.name = name;
		c.enabled = false;
		add(&c);
	}
	before = nsent;
	t0 = now;
	/* the first slice in the call, then one per tick */
	cr_assert_eq(ua_shutdown(UA, 100), 1024);
	cr_assert_eq(nsent, before + 1024);
	run_for(1);
	cr_assert_eq(nsent, before + 2048);
	for (size_t i = before; i < nsent; i += 509)
		cr_assert_eq(expires_of(i), 0);
	/* nothing answered: the window (4096 unanswered) holds the rest */
	run_for(20);
	cr_assert_eq(nsent, before + 4096);
	/* 1000 answers make room for 1000 more, a tick later */
	for (size_t i = before; i < before + 1000; i++)
		respond(i, 200, NULL);
	run_for(1);
	cr_assert_eq(nsent, before + 5096);
	cr_assert_null(shutdown_note());
	run_until(t0 + 99);
	cr_assert(!ua_shutdown_done(UA));
	cr_assert_eq(nsent, before + 5096);
	run_until(t0 + 100); /* the bound, counted from ua_shutdown() */
	cr_assert(ua_shutdown_done(UA));
	cr_assert_eq(count_notes(UA_NOTICE_SHUTDOWN_DONE), 1);
	n = shutdown_note();
	cr_assert_not_null(n);
	cr_assert_str_eq(n->reason, "bound reached");
	cr_assert_eq(n->value, 1000, "answered %u", n->value);
	cr_assert_eq(n->value2, 4096, "unanswered %u", n->value2);
	cr_assert_eq(n->value3, 10000 - 5096, "not sent %u", n->value3);
	/* the sent ones are done with; those not reached keep their state
	 * (the binding upstream expires on its own) and start nothing more,
	 * not even at their refresh time */
	ua_counts(UA, counts);
	cr_assert_eq(counts[UA_STATE_DISABLED], 5096 + 5);
	cr_assert_eq(counts[UA_STATE_REGISTERED], 10000 - 5096);
	/* the walk goes newest first (the list's order) */
	cr_assert_eq(status("r9999").state, UA_STATE_DISABLED);
	cr_assert_eq(status("r0").state, UA_STATE_REGISTERED);
	run_for(700000);
	cr_assert_eq(nsent, before + 5096, "nothing after the bound");
	cr_assert_eq(count_notes(UA_NOTICE_SHUTDOWN_DONE), 1);
}

Test(ua, shutdown_small_set_all_answered_before_the_bound)
{
	const struct note *n;
	size_t before;
	uint64_t t0;

	register_many("s", 3000);
	{
		struct ua_trunk_config c = trunk("off");

		c.enabled = false;
		add(&c);
	}
	{ /* refused: no binding upstream, nothing to send */
		struct ua_trunk_config c = trunk("refused");
		size_t i = nsent;

		add(&c);
		start();
		cr_assert_eq(nsent, i + 1);
		respond(i, 403, NULL);
		cr_assert_eq(status("refused").state, UA_STATE_FAILED);
	}
	before = nsent;
	t0 = now;
	cr_assert_eq(ua_shutdown(UA, 3000), 1024);
	run_for(1);
	run_for(1);
	cr_assert_eq(nsent, before + 3000);
	run_for(10);
	cr_assert_eq(nsent, before + 3000, "the disabled and the refused send nothing");
	for (size_t i = before; i < nsent; i++) {
		cr_assert_eq(expires_of(i), 0);
		cr_assert(!ua_shutdown_done(UA));
		respond(i, 200, NULL);
	}
	cr_assert(ua_shutdown_done(UA), "done when the last is answered");
	cr_assert_lt(now, t0 + 3000);
	n = shutdown_note();
	cr_assert_not_null(n);
	cr_assert_str_eq(n->reason, "all answered");
	cr_assert_eq(n->value, 3000);
	cr_assert_eq(n->value2, 0);
	cr_assert_eq(n->value3, 0);
	cr_assert_eq(count_notes(UA_NOTICE_SHUTDOWN_DONE), 1);
}

Test(ua, shutdown_walk_survives_deletions)
{
	const struct note *n;
	size_t before;
	char name[16];

	register_many("d", 3000);
	before = nsent;
	cr_assert_eq(ua_shutdown(UA, 500), 1024);
	/* deleted while the walk is under way (newest first: d2999 .. d1976
	 * are out): the one the walk would look at next, others not reached
	 * yet, one already sent */
	cr_assert_eq(status("d1976").state, UA_STATE_UNREGISTERING);
	cr_assert_eq(status("d1975").state, UA_STATE_REGISTERED);
	cr_assert_eq(ua_trunk_del(UA, "d1975"), 0);
	for (int i = 0; i < 1500; i += 2) {
		snprintf(name, sizeof(name), "d%d", i);
		cr_assert_eq(ua_trunk_del(UA, name), 0);
	}
	cr_assert_eq(ua_trunk_del(UA, "d2998"), 0);
	run_for(5);
	/* 3000 - 1 - 750 not sent before; d3's unregister was already out */
	cr_assert_eq(nsent, before + 3000 - 751);
	for (size_t i = before; i < nsent; i++)
		respond(i, 200, NULL);
	cr_assert(ua_shutdown_done(UA));
	n = shutdown_note();
	cr_assert_not_null(n);
	cr_assert_eq(n->value, 3000 - 751);
	cr_assert_eq(n->value3, 0);
}

Test(ua, send_unregister_off_sends_nothing)
{
	struct ua_settings s = default_settings();

	s.send_unregister = false;
	cr_assert_eq(ua_set_settings(UA, &s), 0);
	registered("a");
	registered("b");
	registered("c");
	cr_assert_eq(nsent, 3);
	cr_assert_eq(ua_trunk_del(UA, "a"), 0);
	cr_assert_eq(ua_trunk_disable(UA, "b"), 0);
	cr_assert_eq(status("b").state, UA_STATE_DISABLED);
	cr_assert_eq(ua_shutdown(UA, 3000), 0);
	cr_assert(ua_shutdown_done(UA));
	cr_assert_eq(nsent, 3);
}

/* ------------------------------------------------------------------------ */
/* Headers and identity                                                      */

Test(ua, privacy_values)
{
	struct ua_settings s = default_settings();
	struct ua_trunk_config c = trunk("t1");

	add(&c);
	start();
	cr_assert(!has_hdr(0, "Privacy"));
	s.privacy = CONFIG_PRIVACY_ID;
	cr_assert_eq(ua_set_settings(UA, &s), 0);
	respond(0, 500, NULL);
	run_for(60000);
	cr_assert_str_eq(hv(1, "Privacy"), "id");
	s.privacy = CONFIG_PRIVACY_NONE;
	cr_assert_eq(ua_set_settings(UA, &s), 0);
	respond(1, 500, NULL);
	run_for(60000);
	cr_assert_str_eq(hv(2, "Privacy"), "none");
	s.user_agent[0] = '\0';
	s.privacy = CONFIG_PRIVACY_IGNORE;
	cr_assert_eq(ua_set_settings(UA, &s), 0);
	respond(2, 500, NULL);
	run_for(60000);
	cr_assert(!has_hdr(3, "Privacy"));
	cr_assert(!has_hdr(3, "User-Agent"));
}

Test(ua, proxy_tcp_contact_user_and_domain_default)
{
	struct ua_trunk_config c = trunk("t1");
	struct sockaddr_in *sin;

	c.registrar = "198.51.100.1";
	c.registrar_port = 5080;
	c.domain = "";
	c.proxy = "203.0.113.9";
	c.proxy_port = 5062;
	c.transport = UA_TRANSPORT_TCP;
	c.contact_user = "trunk77";
	add(&c);
	start();
	cr_assert_eq(nsent, 1);
	sin = (struct sockaddr_in *)&sent[0].to;
	cr_assert_eq(ntohs(sin->sin_port), 5062, "sent to the outbound proxy");
	cr_assert_str_eq(hv(0, "Route"), "<sip:203.0.113.9:5062;lr>");
	cr_assert_str_eq(hv(0, "To"), "<sip:alice@198.51.100.1:5080>");
	cr_assert(strncmp(sent[0].buf, "REGISTER sip:198.51.100.1:5080 SIP/2.0\r\n",
	                  40) == 0);
	cr_assert_str_eq(hv(0, "Contact"),
	                 "<sip:trunk77@192.0.2.10:5070;transport=tcp>;expires=3600");
	cr_assert(strncmp(hv(0, "Via"), "SIP/2.0/TCP 192.0.2.10:5070;branch=", 35) == 0);
}

static int dest_calls, dest_err;

static int tcp_dest(void *arg, enum ua_transport t, const struct sockaddr *addr,
                    socklen_t addrlen, struct tx_dest *d)
{
	(void)arg;
	cr_assert_eq(t, UA_TRANSPORT_TCP);
	cr_assert_eq(addrlen, sizeof(struct sockaddr_in));
	cr_assert_eq(ntohs(((const struct sockaddr_in *)addr)->sin_port), 5060);
	dest_calls++;
	if (dest_err)
		return dest_err;
	d->conn = 77;
	d->reliable = true;
	return 0;
}

Test(ua, tcp_through_the_dest_hook)
{
	struct ua_opts o;
	struct ua *ua;
	struct ua_trunk_config c = trunk("tcp1");
	struct ua_trunk_status st;

	memset(&o, 0, sizeof(o));
	o.wheel = W;
	o.tx = TX;
	o.clock = clock_fn;
	o.local_host = "192.0.2.10";
	o.local_port_tcp = 5070;
	o.dest = tcp_dest;
	o.settings = default_settings();
	cr_assert_eq(ua_new(&ua, &o), 0);
	c.transport = UA_TRANSPORT_TCP;
	cr_assert_eq(ua_trunk_add(ua, &c, false, NULL), 0);
	run_for(5);
	cr_assert_eq(dest_calls, 1);
	cr_assert_eq(nsent, 1);
	cr_assert_eq(last_conn, 77);
	run_for(31000);
	cr_assert_eq(nsent, 1, "no retransmission over a reliable transport");
	run_for(1000);
	cr_assert_eq(ua_trunk_get_status(ua, "tcp1", &st), 0);
	cr_assert_eq(st.state, UA_STATE_FAILED);
	cr_assert_str_eq(st.last_reason, "timeout");
	/* the hook fails (no connection): a transport error, same retry */
	dest_err = -ECONNREFUSED;
	run_for(60000);
	cr_assert_eq(dest_calls, 2);
	cr_assert_eq(nsent, 1);
	cr_assert_eq(ua_trunk_get_status(ua, "tcp1", &st), 0);
	cr_assert_eq(st.state, UA_STATE_FAILED);
	cr_assert(strstr(st.last_reason, "transport error"), "%s", st.last_reason);
	/* sent at T0, Timer F at T0 + 32 s, retry at + 60 s, failed again */
	cr_assert_eq(st.next_at_ms, T0 + 32000 + 60000 + 60000);
	ua_free(ua);
}

Test(ua, ipv6_registrar)
{
	struct ua_trunk_config c = trunk("t1");

	c.registrar = "2001:db8::5";
	c.domain = "";
	add(&c);
	start();
	cr_assert_eq(nsent, 1);
	cr_assert_eq(sent[0].to.ss_family, AF_INET6);
	cr_assert_str_eq(hv(0, "To"), "<sip:alice@[2001:db8::5]>");
}

Test(ua, operator_refresh_and_set)
{
	struct ua_trunk_config c = trunk("t1");
	struct ua_error e;

	registered("t1");
	cr_assert_eq(ua_trunk_refresh(UA, "t1"), 0);
	cr_assert_eq(nsent, 2);
	cr_assert_eq(ua_trunk_refresh(UA, "t1"), -EINPROGRESS);
	ok_contact(1, 600, NULL);
	/* only the expiry changes: re-register at once, same Call-ID */
	c.expire = 900;
	cr_assert_eq(ua_trunk_set(UA, &c, &e), 0, "%s", e.msg);
	cr_assert_eq(nsent, 3);
	cr_assert_eq(expires_of(2), 900);
	cr_assert_str_eq(hv(2, "Call-ID"), hv(0, "Call-ID"));
	ok_contact(2, 900, NULL);
	/* the identity changes: unregister with the old one, then register */
	c.user = "bob";
	cr_assert_eq(ua_trunk_set(UA, &c, &e), 0);
	cr_assert_eq(nsent, 4);
	cr_assert_eq(expires_of(3), 0);
	cr_assert_str_eq(hv(3, "To"), "<sip:alice@example.net>");
	respond(3, 200, NULL);
	cr_assert_eq(nsent, 5);
	cr_assert_str_eq(hv(4, "To"), "<sip:bob@example.net>");
	cr_assert_str_neq(hv(4, "Call-ID"), hv(3, "Call-ID"),
	                  "a new identity, a new Call-ID");
	cr_assert_eq(expires_of(4), 900);
	ok_contact(4, 900, NULL);
	cr_assert_eq(status("t1").state, UA_STATE_REGISTERED);
	{
		char buf[512];
		struct ua_trunk_config got;

		cr_assert_eq(ua_trunk_get_config(UA, "t1", &got, buf, sizeof(buf)), 0);
		cr_assert_str_eq(got.user, "bob");
		cr_assert_eq(got.expire, 900);
		cr_assert_eq(ua_trunk_get_config(UA, "t1", &got, buf, 4), -ENOSPC);
	}
	cr_assert_eq(ua_trunk_set(UA, &(struct ua_trunk_config){.name = "nope"}, &e),
	             -EINVAL);
	c.name = "nope";
	cr_assert_eq(ua_trunk_set(UA, &c, &e), -ENOENT);
}

/* ------------------------------------------------------------------------ */
/* Bad or odd upstream answers                                               */

Test(ua, malformed_contact_falls_back_to_expires_header)
{
	struct ua_trunk_config c = trunk("t1");

	add(&c);
	start();
	respond(0, 200,
	        "Contact: <sip:alice@192.0.2.10:5060;expires=60\r\nExpires: 900\r\n");
	cr_assert_eq(status("t1").state, UA_STATE_REGISTERED);
	cr_assert_eq(status("t1").granted, 900);
}

Test(ua, bad_challenges_are_failures)
{
	static const char *bad[] = {
	        "WWW-Authenticate: Digest realm=\"example.net\", "
	        "nonce=\"x\", "
	        "algorithm=SHA-1\r\n",
	        "WWW-Authenticate: Basic "
	        "realm=\"example.net\"\r\n",
	        "WWW-Authenticate: Digest "
	        "realm=\"example.net\"\r\n", /* no nonce */
	        "WWW-Authenticate: Digest realm=\"example.net, "
	        "nonce=\"x\r\n", /* unterminated
	                          */
	        "WWW-Authenticate: Digest nonce=\"x\", "
	        "qop=\"auth-conf\"\r\n",
	        "", /* no challenge at all */
	};
	char name[16];

	for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		struct ua_trunk_config c;
		size_t i0 = nsent;

		snprintf(name, sizeof(name), "b%zu", k);
		c = trunk(name);
		add(&c);
		start();
		cr_assert_eq(nsent, i0 + 1);
		respond(i0, 401, bad[k]);
		cr_assert_eq(nsent, i0 + 1, "case %zu: no answer to a bad challenge", k);
		cr_assert_eq(status(name).state, UA_STATE_FAILED, "case %zu", k);
		cr_assert_eq(status(name).last_code, 401);
	}
}

Test(ua, second_of_two_challenges_is_used_when_first_is_unusable)
{
	struct ua_trunk_config c = trunk("t1");

	add(&c);
	start();
	respond(0, 401,
	        "WWW-Authenticate: Digest realm=\"example.net\", nonce=\"bad\", "
	        "algorithm=FOO\r\n"
	        "WWW-Authenticate: Digest realm=\"example.net\", nonce=\"good\", "
	        "algorithm=SHA-256, "
	        "qop=\"auth\"\r\n");
	cr_assert_eq(nsent, 2);
	check_creds(1, "Authorization", "secret", "good", 1);
}

Test(ua, interval_too_brief_without_min_expires_fails)
{
	struct ua_trunk_config c = trunk("t1");

	add(&c);
	start();
	respond(0, 423, NULL);
	cr_assert_eq(nsent, 1);
	cr_assert_eq(status("t1").state, UA_STATE_FAILED);
	cr_assert_eq(status("t1").last_code, 423);
	run_for(60000);
	respond(1, 423, "Min-Expires: abc\r\n");
	cr_assert_eq(nsent, 2);
	cr_assert_eq(status("t1").failures, 2);
	run_for(60000);
	respond(2, 423, "Min-Expires: 999999\r\n"); /* absurd */
	cr_assert_eq(nsent, 3);
	cr_assert_eq(status("t1").failures, 3);
}

Test(ua, garbage_retry_after_uses_the_delay)
{
	struct ua_trunk_config c = trunk("t1");

	add(&c);
	start();
	respond(0, 503, "Retry-After: soon\r\n");
	cr_assert_eq(status("t1").next_at_ms, now + 60000);
	run_for(60000);
	respond(1, 503, "Retry-After: 99999999999999\r\n"); /* capped at a day */
	cr_assert_eq(status("t1").next_at_ms, now + 86400000ull);
}

Test(ua, redirect_3xx_is_a_failure)
{
	struct ua_trunk_config c = trunk("t1");

	add(&c);
	start();
	respond(0, 302, "Contact: <sip:elsewhere.example>\r\n");
	cr_assert_eq(status("t1").state, UA_STATE_FAILED);
	cr_assert_eq(status("t1").last_code, 302);
}

Test(ua, stray_response_is_not_matched)
{
	struct ua_trunk_config c = trunk("t1");

	add(&c);
	start();
	ok_contact(0, 600, NULL);
	/* the same response again (a retransmission) is absorbed by the
	 * transaction: nothing changes */
	{
		struct ua_trunk_status a = status("t1"), b;

		ok_contact(0, 60, NULL);
		b = status("t1");
		cr_assert_eq(a.granted, b.granted);
		cr_assert_eq(a.next_at_ms, b.next_at_ms);
	}
}

/* ------------------------------------------------------------------------ */
/* Life cycle corners                                                        */

Test(ua, delete_while_registering_unregisters)
{
	struct ua_trunk_config c = trunk("t1");

	add(&c);
	start();
	cr_assert_eq(nsent, 1);
	/* the REGISTER may have been accepted: abandon it and unregister */
	cr_assert_eq(ua_trunk_del(UA, "t1"), 0);
	cr_assert_eq(nsent, 2);
	cr_assert_eq(expires_of(1), 0);
	respond(1, 200, NULL);
	/* the late 200 to the abandoned REGISTER changes nothing */
	{
		struct req r;
		struct sip_err e = {0};
		char buf[2048];
		struct sip_write w;
		struct sip_msg m;
		struct sip_hdr h[64];
		struct sip_via v;
		struct sip_str rest;

		parse_sent(0, &r);
		sip_write_init(&w, buf, sizeof(buf));
		cr_assert_eq(sip_write_response(&w, &r.m, 200, SIP_STR_NULL, SIP_STR("x"),
		                                NULL, &e),
		             0);
		sip_write_end(&w, SIP_STR_NULL);
		cr_assert_gt(sip_msg_parse(&m, buf, (size_t)sip_write_result(&w), h, 64,
		                           SIP_PARSE_DATAGRAM, &e),
		             0);
		rest = sip_msg_hdr(&m, SIP_HDR_VIA)->value;
		cr_assert_eq(sip_via_next(&rest, &v, &e), 1);
		cr_assert_eq(tx_client_response(TX, &m, &v), -ENOENT);
	}
	cr_assert_eq(ua_counts(UA, (size_t[UA_STATE__COUNT]){0}), 0);
}

Test(ua, disable_while_failed_with_valid_binding_unregisters)
{
	registered("t1");
	run_until(status("t1").next_at_ms);
	respond(1, 500, NULL);
	cr_assert(status("t1").valid);
	cr_assert_eq(ua_trunk_disable(UA, "t1"), 0);
	cr_assert_eq(nsent, 3);
	cr_assert_eq(expires_of(2), 0);
	respond(2, 200, NULL);
	cr_assert_eq(status("t1").state, UA_STATE_DISABLED);
	run_for(120000);
	cr_assert_eq(nsent, 3, "no retry once disabled");
}

Test(ua, enable_during_unregister_registers_after_it)
{
	registered("t1");
	cr_assert_eq(ua_trunk_disable(UA, "t1"), 0);
	cr_assert_eq(ua_trunk_enable(UA, "t1"), 0);
	cr_assert_eq(nsent, 2);
	respond(1, 200, NULL);
	cr_assert_eq(nsent, 3);
	cr_assert_eq(expires_of(2), 3600);
	ok_contact(2, 600, NULL);
	cr_assert_eq(status("t1").state, UA_STATE_REGISTERED);
}

Test(ua, set_disabled_through_set)
{
	struct ua_trunk_config c = trunk("t1");

	registered("t1");
	c.enabled = false;
	cr_assert_eq(ua_trunk_set(UA, &c, NULL), 0);
	cr_assert_eq(nsent, 2);
	cr_assert_eq(expires_of(1), 0);
	respond(1, 200, NULL);
	cr_assert_eq(status("t1").state, UA_STATE_DISABLED);
	cr_assert(!status("t1").enabled);
	c.enabled = true;
	cr_assert_eq(ua_trunk_set(UA, &c, NULL), 0);
	start();
	cr_assert_eq(nsent, 3);
	cr_assert_eq(expires_of(2), 3600);
}

Test(ua, disabled_trunk_added_sends_nothing_and_listing)
{
	struct ua_trunk_config a = trunk("a"), b = trunk("b"), c = trunk("c");
	size_t counts[UA_STATE__COUNT], n = 0;
	struct ua_trunk_status st;
	enum ua_state s;

	b.enabled = false;
	add(&a);
	add(&b);
	cr_assert_eq(ua_trunk_add(UA, &c, true, NULL), 0);
	start();
	cr_assert_eq(nsent, 1);
	cr_assert_eq(ua_counts(UA, counts), 3);
	cr_assert_eq(counts[UA_STATE_DISABLED], 1);
	cr_assert_eq(counts[UA_STATE_REGISTERING], 2);
	st = status("c");
	cr_assert_eq(st.next_action, UA_ACTION_HELD);
	for (struct ua_trunk *t = ua_trunk_first(UA); t; t = ua_trunk_next(UA, t)) {
		ua_trunk_status(UA, t, &st);
		cr_assert_str_eq(st.name, ua_trunk_name(t));
		n++;
	}
	cr_assert_eq(n, 3);
	cr_assert_eq(ua_trunk_refresh(UA, "b"), -EPERM);
	cr_assert_eq(ua_trunk_refresh(UA, "zz"), -ENOENT);
	cr_assert_eq(ua_trunk_enable(UA, "a"), -EALREADY);
	cr_assert_eq(ua_state_parse("failed", &s), 0);
	cr_assert_eq(s, UA_STATE_FAILED);
	cr_assert_eq(ua_state_parse("bogus", &s), -EINVAL);
	cr_assert_str_eq(ua_state_name(UA_STATE_UNREGISTERING), "unregistering");
	cr_assert_str_eq(ua_action_name(UA_ACTION_RETRY), "retry");
}

Test(ua, many_trunks_grow_the_table)
{
	char name[32];

	for (int i = 0; i < 3000; i++) {
		struct ua_trunk_config c = trunk(name);

		snprintf(name, sizeof(name), "g%d", i);
		c.name = name;
		c.enabled = false;
		add(&c);
	}
	for (int i = 0; i < 3000; i += 7) {
		snprintf(name, sizeof(name), "g%d", i);
		cr_assert_eq(status(name).state, UA_STATE_DISABLED);
		cr_assert_eq(ua_trunk_del(UA, name), 0);
		cr_assert_eq(ua_trunk_del(UA, name), -ENOENT);
	}
	cr_assert_eq(ua_counts(UA, (size_t[UA_STATE__COUNT]){0}), 3000 - 429);
}

Test(ua, new_rejects_bad_options)
{
	struct ua_opts o;
	struct ua *u;

	memset(&o, 0, sizeof(o));
	o.wheel = W;
	o.tx = TX;
	o.local_host = "192.0.2.1";
	o.settings = default_settings();
	cr_assert_eq(ua_new(&u, &o), 0);
	ua_free(u);
	ua_free(NULL);
	o.local_host = "";
	cr_assert_eq(ua_new(&u, &o), -EINVAL);
	o.local_host = "192.0.2.1";
	o.settings.retry_delay = 20;
	cr_assert_eq(ua_new(&u, &o), -EINVAL);
	o.settings = default_settings();
	o.settings.expire = 7201;
	cr_assert_eq(ua_new(&u, &o), -EINVAL);
	o.settings = default_settings();
	o.tx = NULL;
	cr_assert_eq(ua_new(&u, &o), -EINVAL);
}

/* ------------------------------------------------------------------------ */
/* DNS                                                                       */

Test(ua, dns_failure_through_the_resolver_hook)
{
	struct ua_trunk_config c = trunk("t1");
	struct sockaddr_in a;
	uint64_t t;

	c.registrar = "sip.carrier.example";
	add(&c);
	start();
	cr_assert_eq(nsent, 0);
	cr_assert_eq(nrq, 1);
	cr_assert_str_eq(rq[0].host, "sip.carrier.example");
	cr_assert_eq(rq[0].port, 5060);
	cr_assert_eq(status("t1").next_action, UA_ACTION_RESOLVE);
	cr_assert_eq(ua_resolve_done(UA, rq[0].token, -EHOSTUNREACH, NULL, 0,
	                             "Name or service not known"),
	             0);
	cr_assert_eq(ua_resolve_done(UA, rq[0].token, 0, NULL, 0, NULL), -ENOENT,
	             "not pending");
	t = now;
	cr_assert_eq(status("t1").state, UA_STATE_FAILED);
	cr_assert_str_eq(status("t1").last_reason, "dns: Name or service not known");
	cr_assert_eq(status("t1").next_at_ms, t + 60000);
	run_until(t + 60000);
	cr_assert_eq(nrq, 2, "resolved again on the retry");
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	inet_pton(AF_INET, "203.0.113.77", &a.sin_addr);
	cr_assert_eq(ua_resolve_done(UA, rq[1].token, 0, (struct sockaddr *)&a, sizeof(a),
	                             NULL),
	             0);
	cr_assert_eq(nsent, 1);
	cr_assert_eq(((struct sockaddr_in *)&sent[0].to)->sin_addr.s_addr,
	             a.sin_addr.s_addr);
	cr_assert_eq(ntohs(((struct sockaddr_in *)&sent[0].to)->sin_port), 5060);
	cr_assert(strncmp(sent[0].buf, "REGISTER sip:example.net SIP/2.0", 32) == 0);
	/* a failure re-resolves; a success does not */
	respond(0, 503, NULL);
	run_for(60000);
	cr_assert_eq(nrq, 3);
	cr_assert_eq(ua_resolve_done(UA, rq[2].token, 0, (struct sockaddr *)&a, sizeof(a),
	                             NULL),
	             0);
	ok_contact(1, 120, NULL);
	run_until(status("t1").next_at_ms);
	cr_assert_eq(nrq, 3);
	cr_assert_eq(nsent, 3);
}

Test(ua, deleted_while_resolving)
{
	struct ua_trunk_config c = trunk("t1");
	size_t counts[UA_STATE__COUNT];

	c.registrar = "sip.carrier.example";
	add(&c);
	start();
	cr_assert_eq(nrq, 1);
	cr_assert_eq(ua_trunk_del(UA, "t1"), 0);
	cr_assert_eq(ua_counts(UA, counts), 1, "kept until the resolver answers");
	cr_assert_eq(ua_resolve_done(UA, rq[0].token, -EHOSTUNREACH, NULL, 0, NULL), 0);
	cr_assert_eq(ua_counts(UA, counts), 0);
	cr_assert_eq(nsent, 0);
}

struct rdeliver {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct ua_resolve_result *head;
};

static void deliver(void *arg, struct ua_resolve_result *res)
{
	struct rdeliver *d = arg;

	pthread_mutex_lock(&d->lock);
	res->next = d->head;
	d->head = res;
	pthread_cond_signal(&d->cond);
	pthread_mutex_unlock(&d->lock);
}

Test(ua, resolver_thread_resolves_localhost)
{
	struct rdeliver d = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL};
	struct ua_resolver *r;
	struct ua_resolve_result *res;
	struct ua_trunk_config c = trunk("t1");
	struct timespec ts;
	struct ua_opts o;
	struct ua *ua2;
	struct ua_settings s = default_settings();

	cr_assert_eq(ua_resolver_new(&r, deliver, &d), 0);
	memset(&o, 0, sizeof(o));
	o.wheel = W;
	o.tx = TX;
	o.clock = clock_fn;
	o.local_host = "127.0.0.1";
	o.resolve = ua_resolver_submit;
	o.resolve_arg = r;
	o.settings = s;
	cr_assert_eq(ua_new(&ua2, &o), 0);
	c.registrar = "localhost";
	c.registrar_port = 5099;
	cr_assert_eq(ua_trunk_add(ua2, &c, false, NULL), 0);
	run_for(5);
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 10;
	pthread_mutex_lock(&d.lock);
	while (!d.head)
		if (pthread_cond_timedwait(&d.cond, &d.lock, &ts) != 0)
			break;
	res = d.head;
	pthread_mutex_unlock(&d.lock);
	cr_assert_not_null(res, "no answer from the resolver in 10 s");
	cr_assert_eq(res->err, 0, "localhost: %s", res->reason);
	cr_assert_eq(ua_resolve_result_apply(res), 0);
	free(res);
	cr_assert_eq(nsent, 1);
	if (sent[0].to.ss_family == AF_INET)
		cr_assert_eq(ntohs(((struct sockaddr_in *)&sent[0].to)->sin_port), 5099);
	else
		cr_assert_eq(ntohs(((struct sockaddr_in6 *)&sent[0].to)->sin6_port),
		             5099);
	ua_resolver_free(r);
	ua_free(ua2);
}

/* ------------------------------------------------------------------------ */
/* The mailbox: a real worker thread with its loop, wheel and tx layer       */

struct worker_fx {
	struct loop *loop;
	struct wheel *w;
	struct tx_layer *tx;
	struct ua *ua;
	struct loop_hook tick;
	pthread_t th;
};

static int64_t wfx_timeout(struct loop *l, void *arg)
{
	struct worker_fx *x = arg;

	(void)l;
	return wheel_timeout(x->w, clock_now_ms());
}

static void wfx_tick(struct loop *l, void *arg)
{
	struct worker_fx *x = arg;

	(void)l;
	wheel_advance(x->w, clock_now_ms());
}

static void *wfx_main(void *arg)
{
	struct worker_fx *x = arg;

	loop_run(x->loop);
	return NULL;
}

static void job_add(struct ua *ua, void *arg)
{
	cr_assert_eq(ua_trunk_add(ua, arg, false, NULL), 0);
}

struct status_q {
	const char *name;
	int r;
	struct ua_trunk_status st;
};

static void job_status(struct ua *ua, void *arg)
{
	struct status_q *q = arg;

	q->r = ua_trunk_get_status(ua, q->name, &q->st);
}

static void job_sleep(struct ua *ua, void *arg)
{
	(void)ua;
	(void)arg;
	usleep(300 * 1000);
}

static void job_flag(struct ua *ua, void *arg)
{
	(void)ua;
	*(int *)arg = 1;
}

Test(ua, mailbox_runs_work_on_the_worker_and_delivers_lookups, .timeout = 30)
{
	struct worker_fx x;
	struct ua_mailbox *mbs[1];
	struct ua_resolver *res;
	struct tx_layer_opts to;
	struct ua_opts o;
	struct ua_trunk_config c = trunk("t1");
	struct status_q q = {.name = "t1"};
	struct ua_job j;
	int flag = 0, tries;

	memset(&x, 0, sizeof(x));
	cr_assert_eq(loop_new(&x.loop, 64, 0, 0), 0);
	cr_assert_eq(wheel_new(&x.w, clock_now_ms()), 0);
	memset(&to, 0, sizeof(to));
	cr_assert_eq(tx_layer_new(&x.tx, x.w, &to, fake_send, NULL), 0);
	memset(&o, 0, sizeof(o));
	o.wheel = x.w;
	o.tx = x.tx;
	o.local_host = "127.0.0.1";
	o.settings = default_settings();
	o.resolve = ua_resolver_submit;
	cr_assert_eq(ua_resolver_new(&res, ua_mailbox_deliver_resolved, mbs), 0);
	o.resolve_arg = res;
	cr_assert_eq(ua_new(&x.ua, &o), 0);
	cr_assert_eq(ua_worker(x.ua), 0);
	cr_assert_eq(ua_mailbox_new(&mbs[0], x.ua, x.loop), 0);
	loop_set_timeout(x.loop, wfx_timeout, &x);
	x.tick.cb = wfx_tick;
	x.tick.arg = &x;
	loop_add_before_sleep(x.loop, &x.tick);
	cr_assert_eq(pthread_create(&x.th, NULL, wfx_main, &x), 0);

	/* a trunk whose registrar is a name: added on the worker, resolved by
	 * the resolver thread, the answer delivered back through the mailbox */
	c.registrar = "localhost";
	c.registrar_port = 5098;
	cr_assert_eq(ua_mailbox_call(mbs[0], job_add, &c, 5000), 0);
	for (tries = 0; tries < 500; tries++) {
		cr_assert_eq(ua_mailbox_call(mbs[0], job_status, &q, 5000), 0);
		cr_assert_eq(q.r, 0);
		if (q.st.next_action == UA_ACTION_WAIT_REPLY)
			break;
		usleep(10 * 1000);
	}
	cr_assert_eq(q.st.next_action, UA_ACTION_WAIT_REPLY, "the REGISTER went out");
	cr_assert_eq(q.st.state, UA_STATE_REGISTERING);
	cr_assert_geq(nsent, 1);

	/* a plain posted job */
	j.fn = job_flag;
	j.arg = &flag;
	cr_assert_eq(ua_mailbox_post(mbs[0], &j), 0);
	cr_assert_eq(ua_mailbox_call(mbs[0], job_status, &q, 5000), 0);
	cr_assert_eq(flag, 1);

	/* a call that times out never runs */
	flag = 0;
	j.fn = job_sleep;
	cr_assert_eq(ua_mailbox_post(mbs[0], &j), 0);
	cr_assert_eq(ua_mailbox_call(mbs[0], job_flag, &flag, 50), -ETIMEDOUT);
	cr_assert_eq(ua_mailbox_call(mbs[0], job_status, &q, 5000), 0);
	cr_assert_eq(flag, 0, "the cancelled call ran");
	cr_assert_geq(ua_mailbox_runs(mbs[0]), 5);

	loop_stop(x.loop);
	pthread_join(x.th, NULL);
	ua_resolver_free(res);
	ua_mailbox_free(mbs[0]);
	ua_free(x.ua);
	tx_layer_free(x.tx);
	wheel_free(x.w);
	loop_free(x.loop);
}

/* ------------------------------------------------------------------------ */
/* Against a third-party registrar on loopback: sipp (sip-tester) as UAS     */

static const char sipp_scenario[] =
        "<?xml version=\"1.0\" encoding=\"ISO-8859-1\" ?>\n"
        "<scenario name=\"sipreg ua\">\n"
        "<recv request=\"REGISTER\"/>\n"
        "<send><![CDATA[\n\n"
        "SIP/2.0 401 "
        "Unauthorized\n[last_Via:]\n[last_From:]\n[last_To:];tag=[pid]T[call_number]\n"
        "[last_Call-ID:]\n[last_CSeq:]\n"
        "WWW-Authenticate: Digest realm=\"sipp.test\", nonce=\"abcdef0123\", "
        "qop=\"auth\", algorithm=MD5\n"
        "Content-Length: 0\n\n]]></send>\n"
        /* the answer: verified by sipp (a 403 if wrong) */
        "<recv request=\"REGISTER\"><action>\n"
        "<ereg regexp=\"sip:[^&gt;]*\" search_in=\"hdr\" header=\"Contact:\" "
        "check_it=\"true\" assign_to=\"curi\"/>\n"
        "<verifyauth assign_to=\"ok1\" username=\"alice\" password=\"secret\"/>\n"
        "</action></recv>\n"
        "<nop hide=\"true\" test=\"ok1\" next=\"good1\"/>\n"
        "<send next=\"end\"><![CDATA[\n\nSIP/2.0 403 Bad "
        "Credentials\n[last_Via:]\n[last_From:]\n"
        "[last_To:];tag=[pid]T[call_number]\n[last_Call-ID:]\n[last_CSeq:]\nContent-"
        "Length: 0\n\n]]></send>\n"
        "<label id=\"good1\"/>\n"
        "<send><![CDATA[\n\nSIP/2.0 200 "
        "OK\n[last_Via:]\n[last_From:]\n[last_To:];tag=[pid]T[call_number]\n"
        "[last_Call-ID:]\n[last_CSeq:]\nContact: <[$curi]>;expires=20\nContent-Length: "
        "0\n\n]]></send>\n"
        /* the refresh, with pre-emptive credentials (same nonce, nc 2) */
        "<recv request=\"REGISTER\"><action>\n"
        "<verifyauth assign_to=\"ok2\" username=\"alice\" password=\"secret\"/>\n"
        "</action></recv>\n"
        "<nop hide=\"true\" test=\"ok2\" next=\"good2\"/>\n"
        "<send next=\"end\"><![CDATA[\n\nSIP/2.0 403 Bad "
        "Credentials\n[last_Via:]\n[last_From:]\n"
        "[last_To:];tag=[pid]T[call_number]\n[last_Call-ID:]\n[last_CSeq:]\nContent-"
        "Length: 0\n\n]]></send>\n"
        "<label id=\"good2\"/>\n"
        "<send><![CDATA[\n\nSIP/2.0 200 "
        "OK\n[last_Via:]\n[last_From:]\n[last_To:];tag=[pid]T[call_number]\n"
        "[last_Call-ID:]\n[last_CSeq:]\nContact: <[$curi]>;expires=20\nContent-Length: "
        "0\n\n]]></send>\n"
        /* the unregister at shutdown */
        "<recv request=\"REGISTER\"><action>\n"
        "<ereg regexp=\"^ *0$\" search_in=\"hdr\" header=\"Expires:\" check_it=\"true\" "
        "assign_to=\"e0\"/>\n"
        "</action></recv>\n"
        "<send><![CDATA[\n\nSIP/2.0 200 "
        "OK\n[last_Via:]\n[last_From:]\n[last_To:];tag=[pid]T[call_number]\n"
        "[last_Call-ID:]\n[last_CSeq:]\nX-Unregister-Expires: [$e0]\nContent-Length: "
        "0\n\n]]></send>\n"
        "<label id=\"end\"/>\n"
        "</scenario>\n";

static int udp_fd = -1;

static int udp_send(void *arg, const void *buf, size_t len, const struct sockaddr *to,
                    socklen_t tolen, uint64_t conn)
{
	ssize_t n;

	fake_send(arg, buf, len, to, tolen, conn); /* keep a copy */
	n = sendto(udp_fd, buf, len, 0, to, tolen);
	return n < 0 ? -errno : 0;
}

static uint16_t free_udp_port(int *keep)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t al = sizeof(a);
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	cr_assert_geq(fd, 0);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &al), 0);
	if (keep)
		*keep = fd;
	else
		close(fd);
	return ntohs(a.sin_port);
}

Test(ua, sipp_registrar_on_loopback, .timeout = 90)
{
	char scen[] = "/tmp/sipreg-ua-sipp-XXXXXX", port_s[8], log_path[64], err_path[64];
	struct ua_opts o;
	struct tx_layer_opts to;
	struct ua *ua;
	struct tx_layer *tx;
	struct wheel *w;
	struct ua_trunk_config c = trunk("sipp");
	uint16_t sipp_port, my_port;
	int fd, status_ = -1, registered_ = 0;
	pid_t pid;
	uint64_t deadline;
	bool shut = false;
	int shut_r = -1;
	uint32_t cseqs[8];
	uint64_t cseq_at[8];
	size_t nc = 0;

	if (system("command -v sipp >/dev/null 2>&1") != 0)
		cr_skip_test("sipp (sip-tester) is not installed: the loopback registrar "
		             "test was NOT run");
	fd = mkstemp(scen);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, sipp_scenario, sizeof(sipp_scenario) - 1),
	             (ssize_t)(sizeof(sipp_scenario) - 1));
	close(fd);
	sipp_port = free_udp_port(NULL);
	my_port = free_udp_port(&udp_fd);
	snprintf(port_s, sizeof(port_s), "%u", sipp_port);
	snprintf(log_path, sizeof(log_path), "%s.log", scen);
	snprintf(err_path, sizeof(err_path), "%s.err", scen);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		int dn = open("/dev/null", O_RDWR),
		    lf = open(log_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		dup2(dn, 0);
		dup2(lf >= 0 ? lf : dn, 1);
		dup2(lf >= 0 ? lf : dn, 2);
		execlp("sipp", "sipp", "-sf", scen, "-i", "127.0.0.1", "-p", port_s, "-m",
		       "1", "-timeout", "60s", "-timeout_error", "-nd", "-trace_err",
		       "-error_file", err_path, (char *)NULL);
		_exit(127);
	}

	now = clock_now_ms();
	cr_assert_eq(wheel_new(&w, now), 0);
	memset(&to, 0, sizeof(to));
	cr_assert_eq(tx_layer_new(&tx, w, &to, udp_send, NULL), 0);
	memset(&o, 0, sizeof(o));
	o.wheel = w;
	o.tx = tx;
	o.local_host = "127.0.0.1";
	o.local_port_udp = my_port;
	o.notify = on_notice;
	o.settings = default_settings();
	cr_assert_eq(ua_new(&ua, &o), 0);
	c.registrar = "127.0.0.1";
	c.registrar_port = sipp_port;
	c.domain = "sipp.test";
	usleep(300 * 1000); /* let sipp bind; Timer E would cover it anyway */
	cr_assert_eq(ua_trunk_add(ua, &c, false, NULL), 0);

	deadline = clock_now_ms() + 40000;
	while (clock_now_ms() < deadline && !ua_shutdown_done(ua)) {
		struct pollfd p = {.fd = udp_fd, .events = POLLIN};

		if (status_ == -1 && waitpid(pid, &status_, WNOHANG) == pid)
			break; /* sipp gave up (see its log) */
		{
			int64_t tmo = wheel_timeout(w, clock_now_ms());
			char buf[4096];
			ssize_t n;
			struct ua_trunk_status st;

			if (tmo < 0 || tmo > 100)
				tmo = 100;
			poll(&p, 1, (int)tmo);
			now = clock_now_ms();
			while ((n = recv(udp_fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0) {
				struct sip_msg m;
				struct sip_hdr h[64];
				struct sip_err e;
				struct sip_via v;
				struct sip_str rest;

				if (sip_msg_parse(&m, buf, (size_t)n, h, 64,
				                  SIP_PARSE_DATAGRAM, &e) <= 0 ||
				    m.is_request || !sip_msg_hdr(&m, SIP_HDR_VIA))
					continue;
				rest = sip_msg_hdr(&m, SIP_HDR_VIA)->value;
				if (sip_via_next(&rest, &v, &e) == 1)
					tx_client_response(tx, &m, &v);
			}
			wheel_advance(w, now);
			if (ua_trunk_get_status(ua, "sipp", &st) == 0 &&
			    st.state == UA_STATE_REGISTERED &&
			    st.cseq != (uint32_t)registered_) {
				registered_ = (int)st.cseq;
				if (!shut && st.attempts >= 3) {
					shut = true;
					shut_r = ua_shutdown(ua, 3000);
				}
			}
		}
	}
	for (size_t i = 0; i < nsent; i++) {
		uint32_t cs = cseq_of(i);

		if (nc == 0 || cseqs[nc - 1] != cs) {
			cr_assert_lt(nc, 8);
			cseqs[nc] = cs;
			cseq_at[nc++] = sent[i].at;
		}
	}
	/* wait for sipp's verdict, at most 5 s, then stop it */
	for (int k = 0; k < 50 && status_ == -1; k++) {
		if (waitpid(pid, &status_, WNOHANG) == pid)
			break;
		usleep(100 * 1000);
	}
	if (status_ == -1) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
	cr_assert_eq(shut_r, 1, "one unregister sent at shutdown");
	cr_assert(ua_shutdown_done(ua), "not done: %zu REGISTERs, see %s", nc, log_path);
	cr_assert_eq(nc, 4, "REGISTER, answer to the 401, refresh, unregister: %zu", nc);
	for (size_t i = 1; i < nc; i++)
		cr_assert_eq(cseqs[i], cseqs[0] + i);
	check_creds(nsent - 1, "Authorization", "secret", "abcdef0123", 3);
	cr_assert_eq(expires_of(nsent - 1), 0);
	/* the refresh at 45-50% of the 20 s granted (counted from the send of
	 * the REGISTER that got it), give or take the loop's wake-up */
	cr_assert_geq(cseq_at[2] - cseq_at[1], 9000);
	cr_assert_leq(cseq_at[2] - cseq_at[1], 10000 + 150);
	cr_assert(WIFEXITED(status_) && WEXITSTATUS(status_) == 0,
	          "sipp failed (status %d): see %s", status_, log_path);
	unlink(scen);
	unlink(log_path);
	unlink(err_path);
	ua_free(ua);
	tx_layer_free(tx);
	wheel_free(w);
	close(udp_fd);
	udp_fd = -1;
}

/* ------------------------------------------------------------------------ */
/* Against Kamailio (registrar + auth modules) on loopback                   */

static const char kamailio_cfg[] =
        "#!KAMAILIO\n"
        "debug=2\nlog_stderror=yes\nchildren=1\nauto_aliases=no\n"
        "listen=udp:127.0.0.1:%u\n"
        "mpath=\"%s\"\n"
        "loadmodule \"sl.so\"\nloadmodule \"tm.so\"\nloadmodule \"pv.so\"\n"
        "loadmodule \"auth.so\"\nloadmodule \"usrloc.so\"\nloadmodule \"registrar.so\"\n"
        "loadmodule \"textops.so\"\n"
        "modparam(\"usrloc\", \"db_mode\", 0)\n"
        "modparam(\"registrar\", \"min_expires\", 30)\n"
        "modparam(\"registrar\", \"min_expires_mode\", 1)\n"
        "modparam(\"registrar\", \"max_expires\", 3600)\n"
        "modparam(\"auth\", \"secret\", \"0123456789abcdef\")\n"
        "request_route {\n"
        "  if (is_method(\"REGISTER\")) {\n"
        "    if (!pv_www_authenticate(\"$td\", \"secret\", \"0\")) {\n"
        "      www_challenge(\"$td\", \"1\");\n"
        "      exit;\n"
        "    }\n"
        "    if (!save(\"location\")) sl_reply_error();\n"
        "    exit;\n"
        "  }\n"
        "  sl_send_reply(\"404\", \"Not here\");\n"
        "}\n";

/* Receive what came on udp_fd (waiting at most max_ms), hand responses to
 * the tx layer, advance the wheel. The last response is kept in last. */
static void pump(struct wheel *w, struct tx_layer *tx, int max_ms, char *last, size_t cap)
{
	struct pollfd p = {.fd = udp_fd, .events = POLLIN};
	int64_t tmo = wheel_timeout(w, clock_now_ms());
	char buf[4096];
	ssize_t n;

	if (tmo < 0 || tmo > max_ms)
		tmo = max_ms;
	poll(&p, 1, (int)tmo);
	now = clock_now_ms();
	while ((n = recv(udp_fd, buf, sizeof(buf) - 1, MSG_DONTWAIT)) > 0) {
		struct sip_msg m;
		struct sip_hdr h[64];
		struct sip_err e;
		struct sip_via v;
		struct sip_str rest;

		if (sip_msg_parse(&m, buf, (size_t)n, h, 64, SIP_PARSE_DATAGRAM, &e) <=
		            0 ||
		    m.is_request || !sip_msg_hdr(&m, SIP_HDR_VIA))
			continue;
		if (last && (size_t)n < cap) {
			memcpy(last, buf, (size_t)n);
			last[n] = '\0';
		}
		rest = sip_msg_hdr(&m, SIP_HDR_VIA)->value;
		if (sip_via_next(&rest, &v, &e) == 1)
			tx_client_response(tx, &m, &v);
	}
	wheel_advance(w, now);
}

Test(ua, kamailio_registrar_on_loopback, .timeout = 90)
{
	static const char *mdirs[] = {"/usr/lib/x86_64-linux-gnu/kamailio/modules/",
	                              "/usr/lib/kamailio/modules/",
	                              "/usr/lib64/kamailio/modules/"};
	char dir[] = "/tmp/sipreg-ua-kam-XXXXXX", cfg[128], logp[128], last[4096] = "";
	const char *mdir = NULL;
	struct ua_opts o;
	struct tx_layer_opts to;
	struct ua *ua;
	struct tx_layer *tx;
	struct wheel *w;
	struct ua_trunk_config c = trunk("kam");
	struct ua_trunk_status st;
	uint16_t kport, my_port;
	pid_t pid;
	FILE *f;
	uint64_t deadline, reg_sent = 0, refresh_sent = 0;
	int shut_r = -1, kstatus = -1;
	uint32_t refresh_cseq = 0;
	const struct note *tb = NULL;

	if (system("command -v kamailio >/dev/null 2>&1") != 0 &&
	    access("/usr/sbin/kamailio", X_OK) != 0)
		cr_skip_test("kamailio is not installed: the Kamailio registrar test was "
		             "NOT run");
	for (size_t i = 0; i < sizeof(mdirs) / sizeof(mdirs[0]); i++)
		if (access(mdirs[i], R_OK) == 0)
			mdir = mdirs[i];
	if (!mdir)
		cr_skip_test(
		        "no kamailio module directory: the Kamailio test was NOT run");
	cr_assert_not_null(mkdtemp(dir));
	kport = free_udp_port(NULL);
	my_port = free_udp_port(&udp_fd);
	snprintf(cfg, sizeof(cfg), "%s/kamailio.cfg", dir);
	snprintf(logp, sizeof(logp), "%s/kamailio.log", dir);
	f = fopen(cfg, "w");
	cr_assert_not_null(f);
	fprintf(f, kamailio_cfg, kport, mdir);
	fclose(f);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid > 0)
		setpgid(pid, pid); /* also here: no race with the kill below */
	if (pid == 0) {
		int dn = open("/dev/null", O_RDWR),
		    lf = open(logp, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		/* Kamailio's main process dies with this test process, even when
		 * the test is killed or aborts before its own cleanup; its own
		 * process group lets the cleanup stop its children too */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		setpgid(0, 0);
		dup2(dn, 0);
		dup2(lf >= 0 ? lf : dn, 1);
		dup2(lf >= 0 ? lf : dn, 2);
		execlp("kamailio", "kamailio", "-f", cfg, "-DD", "-E", "-m", "32", "-M",
		       "8", "-w", dir, "-Y", dir, (char *)NULL);
		execl("/usr/sbin/kamailio", "kamailio", "-f", cfg, "-DD", "-E", "-m",
		      "32", "-M", "8", "-w", dir, "-Y", dir, (char *)NULL);
		_exit(127);
	}

	now = clock_now_ms();
	cr_assert_eq(wheel_new(&w, now), 0);
	memset(&to, 0, sizeof(to));
	cr_assert_eq(tx_layer_new(&tx, w, &to, udp_send, NULL), 0);
	memset(&o, 0, sizeof(o));
	o.wheel = w;
	o.tx = tx;
	o.local_host = "127.0.0.1";
	o.local_port_udp = my_port;
	o.notify = on_notice;
	o.settings = default_settings();
	cr_assert_eq(ua_new(&ua, &o), 0);
	c.registrar = "127.0.0.1";
	c.registrar_port = kport;
	c.domain = "k.test";
	c.expire = 20;      /* below Kamailio's min_expires 30: a 423 first */
	usleep(500 * 1000); /* let kamailio bind; Timer E would cover it anyway */
	cr_assert_eq(ua_trunk_add(ua, &c, false, NULL), 0);

	deadline = clock_now_ms() + 45000;
	while (clock_now_ms() < deadline && !ua_shutdown_done(ua)) {
		if (kstatus == -1 && waitpid(pid, &kstatus, WNOHANG) == pid)
			break; /* kamailio died (see its log) */
		pump(w, tx, 100, last, sizeof(last));
		if (ua_trunk_get_status(ua, "kam", &st) < 0)
			break;
		if (st.state == UA_STATE_REGISTERED && !reg_sent)
			reg_sent = st.valid_until_ms - st.granted * 1000ull;
		if (st.state == UA_STATE_REFRESHING && !refresh_sent) {
			refresh_sent = now;
			refresh_cseq = st.cseq;
		}
		if (st.state == UA_STATE_REGISTERED && refresh_sent && shut_r == -1 &&
		    st.cseq == refresh_cseq)
			shut_r = ua_shutdown(ua, 3000);
	}
	if (kstatus == -1) {
		kill(pid, SIGTERM);
		for (int k = 0; k < 50 && waitpid(pid, &kstatus, WNOHANG) != pid; k++)
			usleep(100 * 1000);
		if (waitpid(pid, NULL, WNOHANG) == 0) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
		}
	}
	/* its children, whatever became of the main process (a main process
	 * killed with -9 leaves them running) */
	kill(-pid, SIGKILL);
	for (size_t i = 0; i < nnotes && i < 512; i++)
		if (notes[i].kind == UA_NOTICE_INTERVAL_TOO_BRIEF)
			tb = &notes[i];
	cr_assert_not_null(tb, "no 423 from Kamailio (see %s)", logp);
	cr_assert_eq(tb->value, 20);
	cr_assert_eq(tb->value2, 30);
	cr_assert_neq(reg_sent, 0, "never registered (see %s)", logp);
	cr_assert_neq(refresh_sent, 0, "never refreshed");
	cr_assert_geq(refresh_sent - reg_sent, 13500 - 50);
	cr_assert_leq(refresh_sent - reg_sent, 15000 + 150);
	cr_assert_eq(shut_r, 1);
	cr_assert(ua_shutdown_done(ua), "the unregister was not answered");
	/* the unregister's 200 lists no binding any more */
	cr_assert(strncmp(last, "SIP/2.0 200", 11) == 0, "%s", last);
	cr_assert_null(strstr(last, "Contact:"), "binding left: %s", last);
	cr_assert_eq(expires_of(nsent - 1), 0);
	cr_assert_eq(ua_trunk_get_status(ua, "kam", &st), 0);
	cr_assert_eq(st.failures, 0);
	cr_assert_eq(st.state, UA_STATE_DISABLED);
	unlink(cfg);
	unlink(logp);
	rmdir(dir);
	ua_free(ua);
	tx_layer_free(tx);
	wheel_free(w);
	close(udp_fd);
	udp_fd = -1;
}

/* ------------------------------------------------------------------------ */
/* Randomized: an erratic upstream and operator, invariants after each step  */

static uint64_t xs = 0x9e3779b97f4a7c15ull;

static uint32_t rnd32(void)
{
	xs ^= xs << 13;
	xs ^= xs >> 7;
	xs ^= xs << 17;
	return (uint32_t)(xs >> 16);
}

/* Like respond(), but a response no transaction wants is fine. */
static int respond_quiet(size_t i, unsigned status, const char *extra)
{
	struct req r;
	char buf[4096];
	struct sip_write w;
	struct sip_err e = {0};
	struct sip_msg m;
	struct sip_hdr h[64];
	struct sip_via v;
	struct sip_str rest;
	int len;

	parse_sent(i, &r);
	sip_write_init(&w, buf, sizeof(buf));
	cr_assert_eq(sip_write_response(&w, &r.m, status, SIP_STR_NULL, SIP_STR("srv"),
	                                NULL, &e),
	             0);
	if (extra)
		sip_write_cstr(&w, extra);
	sip_write_end(&w, SIP_STR_NULL);
	len = sip_write_result(&w);
	cr_assert_gt(len, 0);
	cr_assert_gt(sip_msg_parse(&m, buf, (size_t)len, h, 64, SIP_PARSE_DATAGRAM, &e),
	             0);
	rest = sip_msg_hdr(&m, SIP_HDR_VIA)->value;
	cr_assert_eq(sip_via_next(&rest, &v, &e), 1);
	return tx_client_response(TX, &m, &v);
}

static void random_answer(size_t k)
{
	char extra[512], uri[256];
	struct req r;
	struct sip_contact ct[2];
	struct sip_err e;
	unsigned o = rnd32() % 100;

	parse_sent(k, &r);
	cr_assert_eq(sip_msg_contacts(&r.m, ct, 2, &e), 1);
	snprintf(uri, sizeof(uri), "%.*s", (int)ct[0].na.uri.raw.len, ct[0].na.uri.raw.p);
	if (o < 40) {
		if (rnd32() % 3)
			snprintf(extra, sizeof(extra), "Contact: <%s>;expires=%u\r\n",
			         uri, 20 + rnd32() % 600);
		else
			snprintf(extra, sizeof(extra), "Expires: %u\r\n", rnd32() % 900);
		respond_quiet(k, 200, extra);
	} else if (o < 55) {
		snprintf(extra, sizeof(extra),
		         "WWW-Authenticate: Digest realm=\"example.net\", nonce=\"n%u\", "
		         "qop=\"auth\"%s\r\n",
		         rnd32() % 4, rnd32() % 3 ? "" : ", stale=true");
		respond_quiet(k, 401, extra);
	} else if (o < 60) {
		snprintf(extra, sizeof(extra),
		         "Proxy-Authenticate: Digest realm=\"example.net\", "
		         "nonce=\"p%u\", "
		         "algorithm=SHA-256, qop=\"auth\"\r\n",
		         rnd32() % 4);
		respond_quiet(k, 407, extra);
	} else if (o < 68) {
		snprintf(extra, sizeof(extra), "Min-Expires: %u\r\n",
		         20 + rnd32() % 5000);
		respond_quiet(k, 423, extra);
	} else if (o < 76) {
		snprintf(extra, sizeof(extra), "Retry-After: %u\r\n", rnd32() % 200);
		respond_quiet(k, 503, rnd32() % 2 ? extra : NULL);
	} else if (o < 84) {
		static const unsigned codes[] = {403, 404, 500, 302, 480, 600, 603, 488};

		respond_quiet(k, codes[rnd32() % 8], NULL);
	} else {
		/* lost: no answer (Timer F will end it) */
	}
}

Test(ua, randomized_upstream_keeps_invariants, .timeout = 240)
{
	enum { N = 48, STEPS = 6000 };
	char names[N][16];
	size_t done = 0;
	const char *why = NULL, *who = NULL;
	size_t counts[UA_STATE__COUNT];

	if (getenv("SIPREG_UA_SEED")) /* other runs: SIPREG_UA_SEED=N */
		xs = strtoull(getenv("SIPREG_UA_SEED"), NULL, 10) * 0x9e3779b97f4a7c15ull + 1;
	for (int i = 0; i < N; i++) {
		struct ua_trunk_config c = trunk(names[i]);

		snprintf(names[i], sizeof(names[i]), "r%d", i);
		c.name = names[i];
		if (i % 4 == 0)
			c.registrar = "sip.carrier.example"; /* resolved by the hook */
		if (i % 5 == 0)
			c.expire = 30 + i;
		if (i % 7 == 0)
			c.retry_delay = 30;
		add(&c);
	}
	for (int step = 0; step < STEPS; step++) {
		unsigned op = rnd32() % 100;
		const char *name = names[rnd32() % N];
		struct ua_trunk_config c;

		if (op < 50) {
			for (; done < nsent; done++)
				random_answer(done);
		} else if (op < 65) {
			run_for(rnd32() % 40000);
		} else if (op < 70) {
			ua_trunk_disable(UA, name);
		} else if (op < 76) {
			ua_trunk_enable(UA, name);
		} else if (op < 80) {
			ua_trunk_refresh(UA, name);
		} else if (op < 83) {
			if (ua_trunk_del(UA, name) == 0) {
				c = trunk(name);
				add(&c);
			}
		} else if (op < 88) {
			c = trunk(name);
			c.expire = rnd32() % 2 ? UA_EXPIRE_GLOBAL
			                       : (int)(20 + rnd32() % 600);
			c.user = rnd32() % 2 ? "alice" : "bob";
			c.enabled = rnd32() % 4 != 0;
			ua_trunk_set(UA, &c, NULL);
		} else if (op < 95) {
			for (size_t k = 0; k < nrq; k++) {
				struct sockaddr_in a = {.sin_family = AF_INET};

				if (!rq[k].token || rnd32() % 2)
					continue;
				inet_pton(AF_INET, "203.0.113.50", &a.sin_addr);
				if (rnd32() % 3)
					ua_resolve_done(UA, rq[k].token, 0,
					                (struct sockaddr *)&a, sizeof(a),
					                NULL);
				else
					ua_resolve_done(UA, rq[k].token, -EHOSTUNREACH,
					                NULL, 0, "no such host");
				rq[k].token = 0; /* answered once */
			}
			if (nrq > 4000) {
				size_t j = 0;

				for (size_t k = 0; k < nrq; k++)
					if (rq[k].token)
						rq[j++] = rq[k];
				nrq = j;
			}
		} else {
			run_for(rnd32() % 2000);
		}
		cr_assert_eq(ua_check(UA, &why, &who), 0, "step %d op %u: %s: %s", step,
		             op, who ? who : "-", why);
	}
	ua_counts(UA, counts);
	cr_log_info(
	        "after %d steps: %zu registered, %zu registering, %zu refreshing, %zu "
	        "failed, %zu unregistering, %zu disabled; %zu REGISTERs",
	        STEPS, counts[UA_STATE_REGISTERED], counts[UA_STATE_REGISTERING],
	        counts[UA_STATE_REFRESHING], counts[UA_STATE_FAILED],
	        counts[UA_STATE_UNREGISTERING], counts[UA_STATE_DISABLED], nsent);
	cr_assert_geq(ua_shutdown(UA, 3000), 0);
	run_for(3000);
	cr_assert(ua_shutdown_done(UA));
	cr_assert_eq(ua_check(UA, &why, &who), 0, "%s", why);
	/* answer the lookups still pending so every dead trunk is freed */
	for (size_t k = 0; k < nrq; k++)
		if (rq[k].token)
			ua_resolve_done(UA, rq[k].token, -EHOSTUNREACH, NULL, 0, NULL);
}

/* ------------------------------------------------------------------------ */
/* Spreading and scale                                                       */

Test(ua, initial_registrations_are_spread)
{
	struct ua_settings s = default_settings();
	char names[50][16];

	ua_free(UA);
	tx_layer_free(TX);
	wheel_free(W);
	setup_with(&s, "192.0.2.10", 10); /* 10 per second */
	for (int i = 0; i < 50; i++) {
		struct ua_trunk_config c = trunk(names[i]);

		snprintf(names[i], sizeof(names[i]), "t%d", i);
		c.name = names[i];
		c.transport =
		        UA_TRANSPORT_TCP; /* reliable: no retransmissions to count */
		cr_assert_eq(ua_trunk_add(UA, &c, true, NULL), 0);
	}
	run_for(10000);
	cr_assert_eq(nsent, 0, "held until ua_start_all");
	cr_assert_eq(ua_start_all(UA), 50);
	{
		uint64_t t0 = now;

		for (int k = 0; k < 5; k++) {
			run_until(t0 + (uint64_t)k * 1000 + 999);
			cr_assert_eq(nsent, (size_t)(k + 1) * 10, "second %d: %zu sent",
			             k, nsent);
		}
		for (size_t i = 1; i < nsent; i++)
			cr_assert_geq(sent[i].at - sent[i - 1].at, 100);
	}
}

Test(ua, corpus_responses_as_upstream_answers)
{
	const char *root = getenv("SIPREG_CORPUS");
	static const struct {
		const char *file;
		const char *hdr; /* credentials expected, NULL: a failure */
	} cases[] = {
	        {"asterisk11_401_no_qop.sip", "Authorization"},
	        {"vcrs_401_qop_auth.sip", "Authorization"},
	        {"fritzbox_401_no_stale.sip", "Authorization"},
	        {"tls_401_embratel.sip", "Authorization"},
	        {"jio_ims_401_tls_alias.sip", "Authorization"},
	        {"flexisip_407_sha256_multivia.sip", "Proxy-Authorization"},
	        {"freeswitch_403_forbidden_wss.sip", NULL},
	        {"webrtc2sip_403_relaying_forbidden.sip", NULL},
	};
	char path[4096];

	if (!root)
		cr_skip_test(
		        "SIPREG_CORPUS is not set: the corpus answers were NOT tested");
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		char name[16], file[4096], extra[3072];
		struct ua_trunk_config c;
		struct sip_msg m;
		struct sip_hdr h[64];
		struct sip_err e;
		FILE *f;
		size_t len, el = 0, i0 = nsent;

		snprintf(path, sizeof(path), "%s/real/%s", root, cases[k].file);
		f = fopen(path, "rb");
		if (!f)
			cr_skip_test("%s missing: the corpus answers were NOT tested",
			             path);
		len = fread(file, 1, sizeof(file), f);
		fclose(f);
		cr_assert_gt(sip_msg_parse(&m, file, len, h, 64, SIP_PARSE_DATAGRAM, &e),
		             0, "%s", cases[k].file);
		/* every header but the transaction's own, transplanted */
		for (unsigned j = 0; j < m.nhdrs; j++) {
			unsigned id = h[j].id;

			if (id == SIP_HDR_VIA || id == SIP_HDR_FROM || id == SIP_HDR_TO ||
			    id == SIP_HDR_CALL_ID || id == SIP_HDR_CSEQ ||
			    id == SIP_HDR_CONTENT_LENGTH)
				continue;
			el += (size_t)snprintf(extra + el, sizeof(extra) - el,
			                       "%.*s: %.*s\r\n", (int)h[j].name.len,
			                       h[j].name.p, (int)h[j].value.len,
			                       h[j].value.p);
		}
		snprintf(name, sizeof(name), "c%zu", k);
		c = trunk(name);
		add(&c);
		start();
		cr_assert_eq(nsent, i0 + 1);
		{
			char reason[64];

			snprintf(reason, sizeof(reason), "%.*s", (int)m.reason.len,
			         m.reason.p);
			respond_full(i0, m.status, reason, extra);
		}
		if (cases[k].hdr) {
			struct req r;
			struct sip_auth a, ch;
			const struct sip_hdr *chh = sip_msg_hdr(
			        &m, m.status == 401 ? SIP_HDR_WWW_AUTHENTICATE
			                            : SIP_HDR_PROXY_AUTHENTICATE);

			cr_assert_eq(nsent, i0 + 2, "%s answered", cases[k].file);
			cr_assert_eq(sip_auth_parse(&ch, chh->value, &e), 0);
			a = creds_of(i0 + 1, cases[k].hdr, &r);
			cr_assert(sip_str_eq(a.nonce, ch.nonce), "%s: nonce echoed",
			          cases[k].file);
			cr_assert(sip_str_eq(a.realm, ch.realm));
			cr_assert_eq(a.alg, ch.alg);
			cr_assert_eq(digest_verify(&a, SIP_STR("REGISTER"), SIP_STR_NULL,
			                           SIP_STR("secret")),
			             0, "%s: our credentials verify", cases[k].file);
			ok_contact(i0 + 1, 300, NULL);
			cr_assert_eq(status(name).state, UA_STATE_REGISTERED);
		} else {
			cr_assert_eq(nsent, i0 + 1);
			cr_assert_eq(status(name).state, UA_STATE_FAILED);
			cr_assert_eq(status(name).last_code, 403);
		}
	}
}

Test(ua, corpus_amtelco_grants_shorter_expiry)
{
	const char *root = getenv("SIPREG_CORPUS");
	struct ua_settings s = default_settings();
	char path[4096], file[4096], extra[2048];
	struct sip_msg m;
	struct sip_hdr h[64];
	struct sip_err e;
	FILE *f;
	size_t len, el = 0;
	struct ua_trunk_config c;

	if (!root)
		cr_skip_test(
		        "SIPREG_CORPUS is not set: the amtelco 200 OK was NOT tested");
	snprintf(path, sizeof(path), "%s/real/amtelco_200_ok_shorter_expires.sip", root);
	f = fopen(path, "rb");
	if (!f)
		cr_skip_test("%s missing: NOT tested", path);
	len = fread(file, 1, sizeof(file), f);
	fclose(f);
	cr_assert_gt(sip_msg_parse(&m, file, len, h, 64, SIP_PARSE_DATAGRAM, &e), 0);
	for (unsigned j = 0; j < m.nhdrs; j++) {
		unsigned id = h[j].id;

		if (id == SIP_HDR_VIA || id == SIP_HDR_FROM || id == SIP_HDR_TO ||
		    id == SIP_HDR_CALL_ID || id == SIP_HDR_CSEQ ||
		    id == SIP_HDR_CONTENT_LENGTH)
			continue;
		el += (size_t)snprintf(extra + el, sizeof(extra) - el, "%.*s: %.*s\r\n",
		                       (int)h[j].name.len, h[j].name.p,
		                       (int)h[j].value.len, h[j].value.p);
	}
	/* our Contact is the one of the capture: sip:asterisk@10.9.1.1:5060 */
	ua_free(UA);
	tx_layer_free(TX);
	wheel_free(W);
	setup_with(&s, "10.9.1.1", 1000);
	c = trunk("amtelco");
	c.registrar = "10.9.9.120";
	c.domain = "";
	c.user = "asterisk_a";
	c.contact_user = "asterisk";
	c.expire = 180;
	add(&c);
	start();
	cr_assert_eq(expires_of(0), 180);
	respond(0, 200, extra);
	cr_assert_eq(status("amtelco").granted, 120);
	check_refresh_window("amtelco", sent[0].at, 120);
}

/* 10,000 trunks for an hour of virtual time: each first REGISTER is
 * challenged (401, answered), then every REGISTER is answered at once with a
 * granted expiry that varies by trunk (120-540 s) and carries pre-emptive
 * credentials. Each refresh goes out at 45-50% of the granted value after
 * the previous one, none lapses, and a trunk with its cached challenge takes
 * at most 1 KiB. */
Test(ua, ten_thousand_trunks_refresh_on_time, .timeout = 240)
{
	/* SIPREG_UA_TRUNKS=N runs it with N trunks (a scale measurement). */
	const char *env = getenv("SIPREG_UA_TRUNKS");
	const int N = env && atoi(env) > 0 && atoi(env) <= 999999 ? atoi(env) : 10000;
	struct ua_settings s = default_settings();
	uint64_t *last_sent = calloc((size_t)N, sizeof(*last_sent));
	uint32_t *last_granted = calloc((size_t)N, sizeof(*last_granted));
	size_t refreshes = 0, bytes = 0, firsts = 0, challenged = 0;
	uint64_t adv_ns = 0;
	char name[32];
	double min_frac = 1, max_frac = 0;
	size_t counts[UA_STATE__COUNT];
	struct ua_stats stats;

	ua_free(UA);
	tx_layer_free(TX);
	wheel_free(W);
	setup_with(&s, "192.0.2.10", 5000);
	cr_assert(last_sent && last_granted);
	for (int i = 0; i < N; i++) {
		struct ua_trunk_config c = trunk(name);

		snprintf(name, sizeof(name), "trunk-%06d", i);
		c.name = name;
		c.user = name;
		cr_assert_eq(ua_trunk_add(UA, &c, false, NULL), 0);
	}
	for (struct ua_trunk *t = ua_trunk_first(UA); t; t = ua_trunk_next(UA, t))
		bytes += ua_trunk_memory(t);
	cr_log_info(
	        "struct ua_trunk: %zu bytes; with its configuration: %zu bytes per trunk",
	        ua_trunk_struct_size(), bytes / N);
	cr_assert_leq(bytes / N, 1024);
	resp_ns = 0;
	while (now < T0 + 3600 * 1000ull) {
		uint64_t d = wheel_next_deadline(W), c0;

		if (d > now)
			now = d;
		c0 = ns_now();
		wheel_advance(W, now);
		adv_ns += ns_now() - c0;
		for (size_t k = 0; k < nsent; k++) {
			struct req r;
			struct sip_nameaddr to;
			struct sip_err e;
			int idx;
			uint32_t g;

			parse_sent(k, &r);
			cr_assert_eq(sip_msg_to(&r.m, &to, &e), 0);
			cr_assert_eq(to.uri.user.len, 12);
			idx = atoi(to.uri.user.p + 6);
			cr_assert(idx >= 0 && idx < N);
			if (last_sent[idx]) {
				double f = (double)(sent[k].at - last_sent[idx]) /
				           (last_granted[idx] * 1000.0);

				cr_assert_lt(sent[k].at,
				             last_sent[idx] + last_granted[idx] * 1000ull,
				             "trunk %d lapsed", idx);
				if (f < min_frac)
					min_frac = f;
				if (f > max_frac)
					max_frac = f;
				refreshes++;
			} else if (!has_hdr(k, "Authorization")) {
				char ch[160];

				snprintf(
				        ch, sizeof(ch),
				        "WWW-Authenticate: Digest realm=\"example.net\", "
				        "nonce=\"nonce-%06d\", qop=\"auth\"\r\n",
				        idx);
				respond(k, 401, ch);
				challenged++;
				continue;
			} else {
				firsts++;
			}
			if (refreshes % 97 == 1) {
				char nonce[16];

				snprintf(nonce, sizeof(nonce), "nonce-%06d", idx);
				check_creds(k, "Authorization", "secret", nonce, 0);
			}
			g = 120 + (uint32_t)(idx % 8) * 60;
			last_sent[idx] = sent[k].at;
			last_granted[idx] = g;
			ok_contact(k, g, NULL);
		}
		nsent = 0;
	}
	cr_log_info(
	        "%zu first registrations, %zu refreshes in 1 h; refresh at %.4f-%.4f of "
	        "the granted expiry",
	        firsts, refreshes, min_frac, max_frac);
	bytes = 0;
	for (struct ua_trunk *t = ua_trunk_first(UA); t; t = ua_trunk_next(UA, t))
		bytes += ua_trunk_memory(t);
	cr_log_info("with the cached challenge: %zu bytes per trunk", bytes / N);
	cr_assert_leq(bytes / N, 1024);
	ua_stats_get(UA, &stats);
	cr_log_info("CPU: %.2f us per REGISTER sent (timers, build, digest, tx start), "
	            "%.2f us per response handled (match, state machine, re-arm)",
	            adv_ns / 1000.0 / (double)stats.registers_sent,
	            resp_ns / 1000.0 / (double)stats.registers_sent);
	cr_assert_eq(challenged, (size_t)N);
	cr_assert_eq(firsts, (size_t)N);
	cr_assert_gt(refreshes, (size_t)N * 10);
	cr_assert_geq(min_frac, 0.45);
	cr_assert_leq(max_frac, 0.5);
	cr_assert_lt(min_frac + 0.02, max_frac, "refreshes spread");
	ua_counts(UA, counts);
	cr_assert_eq(counts[UA_STATE_REGISTERED], (size_t)N);
	cr_assert_eq(stats.late_refreshes, 0);
	cr_assert_eq(stats.failures, 0);
	for (int i = 0; i < N; i++)
		cr_assert_lt(now, last_sent[i] + last_granted[i] * 1000ull);
	free(last_sent);
	free(last_granted);
}

/* ------------------------------------------------------------------------ */
/* Observations (ua_observe: what the doctor reads)                          */

/* Answer sent[i] with status, extra header lines and via_params appended to
 * the top Via (as a registrar behind which we are NATed writes it). */
static void respond_via(size_t i, unsigned status, const char *extra, const char *via_params)
{
	struct req r;
	char buf[16384], out[16600];
	struct sip_write w;
	struct sip_err e = {0};
	struct sip_msg m;
	struct sip_hdr h[64];
	struct sip_via v;
	struct sip_str rest;
	const char *br;
	char *eol;
	int len, n;

	parse_sent(i, &r);
	sip_write_init(&w, buf, sizeof(buf));
	cr_assert_eq(sip_write_response(&w, &r.m, status, SIP_STR_NULL, SIP_STR("srv1"),
	                                NULL, &e),
	             0);
	if (extra)
		sip_write_cstr(&w, extra);
	sip_write_end(&w, SIP_STR_NULL);
	len = sip_write_result(&w);
	cr_assert_gt(len, 0);
	buf[len] = '\0';
	br = strstr(buf, "branch=");
	cr_assert_not_null(br);
	eol = strstr(br, "\r\n");
	cr_assert_not_null(eol);
	/* our flag ";rport" gives way to the upstream's parameters */
	if (eol - br > 6 && memcmp(eol - 6, ";rport", 6) == 0)
		len = snprintf(out, sizeof(out), "%.*s%s%s", (int)(eol - 6 - buf), buf,
		               via_params, eol);
	else
		len = snprintf(out, sizeof(out), "%.*s%s%s", (int)(eol - buf), buf,
		               via_params, eol);
	n = sip_msg_parse(&m, out, (size_t)len, h, 64, SIP_PARSE_DATAGRAM, &e);
	cr_assert_gt(n, 0, "response does not parse: %s", e.reason);
	rest = sip_msg_hdr(&m, SIP_HDR_VIA)->value;
	cr_assert_eq(sip_via_next(&rest, &v, &e), 1);
	cr_assert_eq(tx_client_response(TX, &m, &v), 0, "response not matched");
}

struct obs_list {
	struct ua_trunk_obs o[8];
	size_t n;
};

static int collect_obs(void *arg, const struct ua_trunk_obs *o)
{
	struct obs_list *l = arg;

	cr_assert_lt(l->n, 8);
	l->o[l->n++] = *o;
	return 0;
}

static struct ua_trunk_obs observe_t1(void)
{
	struct obs_list l = {.n = 0};

	cr_assert_eq(ua_observe(UA, collect_obs, &l), 0);
	cr_assert_eq(l.n, 1);
	cr_assert_str_eq(l.o[0].st.name, "t1");
	return l.o[0];
}

Test(ua, observations_via_and_failure_run)
{
	struct ua_trunk_config c = trunk("t1");
	struct ua_trunk_obs o;
	struct obs_list all = {.n = 0};
	size_t k;

	c.retry_delay = 30;
	add(&c);
	start();
	o = observe_t1();
	cr_assert_not(o.via_seen);
	cr_assert_eq(o.via_rport, -1);
	cr_assert_eq(o.run, 0);
	respond(0, 401, CHAL_MD5);
	/* the 200 OK's top Via as a NAT shows it */
	respond_via(1, 200, "Contact: <sip:alice@192.0.2.10:5060>;expires=600\r\n",
	            ";received=203.0.113.7;rport=40000");
	o = observe_t1();
	cr_assert_eq(o.st.state, UA_STATE_REGISTERED);
	cr_assert(o.via_seen);
	cr_assert_str_eq(o.via_received, "203.0.113.7");
	cr_assert_eq(o.via_rport, 40000);
	cr_assert_eq(o.via_at, wall_fn(NULL));
	cr_assert_str_eq(o.local_host, "192.0.2.10");
	cr_assert_eq(o.local_port, 5060);
	cr_assert_str_eq(o.dest_host, "198.51.100.1");
	cr_assert_eq(o.dest_port, 5060);
	cr_assert_eq(o.effective, 600);
	cr_assert_eq(o.expire_mode, 0);
	cr_assert_eq(o.expire_cfg, UA_EXPIRE_GLOBAL);
	cr_assert_eq(o.retry_delay, 30);
	cr_assert_eq(o.retry_cfg, 30);
	cr_assert_eq(o.st.next_action, UA_ACTION_REFRESH);
	cr_assert_eq(o.st.next_at_ms, status("t1").next_at_ms);
	cr_assert_eq(o.now_ms, now);
	/* every UA of the process lists it */
	cr_assert_eq(ua_observe_all(collect_obs, &all), 0);
	for (k = 0; k < all.n && strcmp(all.o[k].st.name, "t1") != 0; k++)
		;
	cr_assert_lt(k, all.n);

	/* refresh: pre-emptive credentials, a fresh challenge answered, then a
	 * 401 after those credentials: an auth failure */
	run_until(o.st.next_at_ms);
	cr_assert_eq(nsent, 3);
	respond(2, 401, CHAL_MD5);
	cr_assert_eq(nsent, 4);
	respond(3, 401, CHAL_MD5);
	o = observe_t1();
	cr_assert_eq(o.st.state, UA_STATE_FAILED);
	cr_assert_eq(o.run, 1);
	cr_assert_eq(o.run_kind[UA_FAIL_AUTH], 1);
	cr_assert_eq(o.last_kind, UA_FAIL_AUTH);
	cr_assert_eq(o.run_first, wall_fn(NULL));
	cr_assert_eq(o.st.next_action, UA_ACTION_RETRY);
	cr_assert_eq(o.st.next_at_ms, now + 30000);
	/* the retry gets a 403, the next one no answer at all */
	run_until(o.st.next_at_ms);
	respond(nsent - 1, 403, NULL);
	o = observe_t1();
	cr_assert_eq(o.run, 2);
	cr_assert_eq(o.run_kind[UA_FAIL_FORBIDDEN], 1);
	cr_assert_eq(o.run_timeouts_after_reject, 0);
	run_until(o.st.next_at_ms);
	run_for(64 * 500 + 10);
	o = observe_t1();
	cr_assert_eq(o.run, 3);
	cr_assert_eq(o.run_kind[UA_FAIL_TIMEOUT], 1);
	cr_assert_eq(o.run_timeouts_after_reject, 1);
	cr_assert_eq(o.last_kind, UA_FAIL_TIMEOUT);
	cr_assert_gt(o.run_last, o.run_first);
	cr_assert_str_eq(ua_fail_kind_name(o.last_kind), "timeout");
	/* a success ends the run; a 2xx without received= clears it */
	run_until(o.st.next_at_ms);
	ok_contact(nsent - 1, 600, NULL);
	o = observe_t1();
	cr_assert_eq(o.st.state, UA_STATE_REGISTERED);
	cr_assert_eq(o.run, 0);
	cr_assert_eq(o.run_kind[UA_FAIL_AUTH] + o.run_kind[UA_FAIL_FORBIDDEN] +
	                     o.run_kind[UA_FAIL_TIMEOUT],
	             0);
	cr_assert_eq(o.last_kind, UA_FAIL_NONE);
	cr_assert_str_eq(o.via_received, "");
	cr_assert_eq(o.via_rport, 0); /* our ";rport" echoed without a value */
}

static int stop_at_first(void *arg, const struct ua_trunk_obs *o)
{
	(*(int *)arg)++;
	(void)o;
	return 7;
}

Test(ua, observe_stops_and_skips_deleted)
{
	struct ua_trunk_config a = trunk("t1"), b = trunk("t2");
	int calls = 0;
	struct obs_list l = {.n = 0};

	add(&a);
	add(&b);
	cr_assert_eq(ua_observe(UA, stop_at_first, &calls), 7);
	cr_assert_eq(calls, 1);
	/* t2 deleted while its first REGISTER is in flight: unregistering,
	 * unlisted, not observed */
	start();
	cr_assert_eq(ua_trunk_del(UA, "t2"), 0);
	cr_assert_eq(ua_observe(UA, collect_obs, &l), 0);
	cr_assert_eq(l.n, 1);
	cr_assert_str_eq(l.o[0].st.name, "t1");
}

/* The primary mark is the operator's: in the status and the observation,
 * changed without a REGISTER or a moved retry; the run's times outlive the
 * success that ends it (the doctor's "failed within the last hour"). */
Test(ua, primary_mark_changes_nothing_on_the_wire)
{
	struct ua_trunk_config c = trunk("t1");
	struct ua_error e = {{0}};
	struct ua_trunk_obs o;
	uint64_t next;
	time_t first;
	size_t before;

	c.retry_delay = 90;
	c.primary = true;
	add(&c);
	start();
	cr_assert(status("t1").primary);
	respond(0, 503, NULL);
	first = wall_fn(NULL);
	o = observe_t1();
	cr_assert(o.st.primary);
	cr_assert_eq(o.run, 1);
	cr_assert_eq(o.run_first, first);
	cr_assert_eq(o.retry_delay, 90);
	next = status("t1").next_at_ms;
	cr_assert_eq(next, now + 90000);
	before = nsent;
	/* unmark: nothing sent, the retry where it was */
	c.primary = false;
	cr_assert_eq(ua_trunk_set(UA, &c, &e), 0, "%s", e.msg);
	cr_assert_eq(nsent, before);
	cr_assert_not(status("t1").primary);
	cr_assert_eq(status("t1").next_at_ms, next);
	cr_assert_eq(status("t1").state, UA_STATE_FAILED);
	cr_assert_not(observe_t1().st.primary);
	c.primary = true;
	cr_assert_eq(ua_trunk_set(UA, &c, &e), 0, "%s", e.msg);
	cr_assert_eq(nsent, before);
	cr_assert(status("t1").primary);
	run_until(next - 1);
	cr_assert_eq(nsent, before);
	run_until(next);
	cr_assert_eq(nsent, before + 1, "the retry at its time");
	run_for(2000);
	ok_contact(nsent - 1, 1800, NULL);
	o = observe_t1();
	cr_assert_eq(o.st.state, UA_STATE_REGISTERED);
	cr_assert_eq(o.run, 0);
	cr_assert_eq(o.run_first, first, "the last outage's times remain");
	cr_assert_eq(o.run_last, first);
	cr_assert(o.st.primary);
	/* a change of the retry delay, by contrast, registers again at once */
	before = nsent;
	c.retry_delay = 30;
	cr_assert_eq(ua_trunk_set(UA, &c, &e), 0, "%s", e.msg);
	cr_assert_eq(nsent, before + 1);
	cr_assert(status("t1").primary);
}
