/* SPDX-License-Identifier: MIT */
/*
 * Tests of the RFC 3261 §17 non-INVITE transactions: exact Timer E/F/K/J
 * schedules over a controllable clock (the wheel driven by hand), matching
 * rules (§17.1.3, §17.2.3), loss and duplication through a fake send
 * function, and a randomized client <-> server run over a lossy, duplicating,
 * reordering network of real parsed messages.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "sipreg/sip.h"
#include "sipreg/transaction.h"
#include "sipreg/wheel.h"

#define T0 100000u /* the clock when a test starts */

/* ------------------------------------------------------------------------ */
/* A controllable clock and a fake transport                                 */

struct sent {
	uint64_t at;
	size_t len;
	char buf[1024];
	uint64_t conn;
	uint16_t port;
};

static struct wheel *W;
static struct sent sent[256];
static unsigned nsent;
static int send_fail; /* error to return from the next send, 0 = none */
static uint64_t vclock; /* the "real" clock when ahead of the wheel, else 0 */

/* The layers' clock: the wheel's time, or later if the test says so (a loop
 * that slept in epoll_wait() has not advanced its wheel yet). */
static uint64_t vclock_fn(void *arg)
{
	(void)arg;
	return vclock > wheel_now(W) ? vclock : wheel_now(W);
}

static int fake_send(void *arg, const void *buf, size_t len, const struct sockaddr *to,
		     socklen_t tolen, uint64_t conn)
{
	(void)arg;
	cr_assert_not_null(to);
	cr_assert(tolen == sizeof(struct sockaddr_in) || tolen == sizeof(struct sockaddr_in6));
	if (send_fail) {
		int r = send_fail;

		send_fail = 0;
		return r;
	}
	cr_assert_lt(nsent, 256);
	cr_assert_leq(len, sizeof(sent[0].buf));
	sent[nsent].at = wheel_now(W);
	sent[nsent].len = len;
	memcpy(sent[nsent].buf, buf, len);
	sent[nsent].conn = conn;
	sent[nsent].port = ntohs(((const struct sockaddr_in *)to)->sin_port);
	nsent++;
	return 0;
}

/* Move the clock to t the way the loop does: deadline by deadline. */
static void run_until(uint64_t t)
{
	for (;;) {
		uint64_t d = wheel_next_deadline(W);

		if (d > t)
			break;
		cr_assert_geq(wheel_advance(W, d), 0);
	}
	cr_assert_geq(wheel_advance(W, t), 0);
}

static struct sockaddr_in peer4;

static struct tx_dest udp_dest(void)
{
	peer4.sin_family = AF_INET;
	peer4.sin_port = htons(5070);
	peer4.sin_addr.s_addr = htonl(0x7f000001);
	return (struct tx_dest){(struct sockaddr *)&peer4, sizeof(peer4), 42, false};
}

static struct tx_dest tcp_dest(void)
{
	struct tx_dest d = udp_dest();

	d.reliable = true;
	return d;
}

static struct tx_layer *mklayer(unsigned worker, size_t max_tx)
{
	struct tx_layer *l = NULL;
	struct tx_layer_opts o = {.worker = worker, .max_tx = max_tx, .clock = vclock_fn};

	cr_assert_eq(tx_layer_new(&l, W, &o, fake_send, NULL), 0);
	return l;
}

static void setup(void)
{
	cr_assert_eq(wheel_new(&W, T0), 0);
	nsent = 0;
	send_fail = 0;
	vclock = 0;
}

static void teardown(void)
{
	wheel_free(W);
}

/* ------------------------------------------------------------------------ */
/* Real messages, parsed                                                     */

struct pmsg {
	struct sip_msg m;
	struct sip_hdr h[32];
	struct sip_via v[4];
	char buf[1024];
	size_t len;
};

static void pparse(struct pmsg *p)
{
	struct sip_err err = {0};
	int r = sip_msg_parse(&p->m, p->buf, p->len, p->h, 32, SIP_PARSE_DATAGRAM, &err);

	cr_assert_gt(r, 0, "test message does not parse: %s", err.reason ? err.reason : "?");
	r = sip_msg_vias(&p->m, p->v, 4, &err);
	cr_assert_gt(r, 0, "test message Via: %s", err.reason ? err.reason : "?");
}

static void mkreq(struct pmsg *p, const char *method, const char *branch, const char *host,
		  unsigned port)
{
	int n = snprintf(p->buf, sizeof(p->buf),
			 "%s sip:example.com SIP/2.0\r\n"
			 "Via: SIP/2.0/UDP %s:%u;branch=%s\r\n"
			 "Max-Forwards: 70\r\n"
			 "From: <sip:alice@example.com>;tag=a1\r\n"
			 "To: <sip:alice@example.com>\r\n"
			 "Call-ID: c-%s\r\n"
			 "CSeq: 7 %s\r\n"
			 "Content-Length: 0\r\n\r\n",
			 method, host, port, branch, branch, method);

	cr_assert(n > 0 && (size_t)n < sizeof(p->buf));
	p->len = (size_t)n;
	pparse(p);
}

static void mkresp(struct pmsg *p, unsigned status, const char *branch, const char *method)
{
	int n = snprintf(p->buf, sizeof(p->buf),
			 "SIP/2.0 %u Whatever\r\n"
			 "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=%s\r\n"
			 "From: <sip:alice@example.com>;tag=a1\r\n"
			 "To: <sip:alice@example.com>;tag=b2\r\n"
			 "Call-ID: c-%s\r\n"
			 "CSeq: 7 %s\r\n"
			 "Content-Length: 0\r\n\r\n",
			 status, branch, branch, method);

	cr_assert(n > 0 && (size_t)n < sizeof(p->buf));
	p->len = (size_t)n;
	pparse(p);
}

/* A client transaction with a fresh branch; the request text is in *req. */
struct result {
	unsigned calls;
	int err;
	unsigned status;
	uint64_t at;
};

static void result_cb(void *arg, struct tx *tx, int err, const struct sip_msg *resp)
{
	struct result *r = arg;

	cr_assert_not_null(tx);
	r->calls++;
	r->err = err;
	r->status = resp ? resp->status : 0;
	r->at = wheel_now(W);
	if (err == 0)
		cr_assert_not_null(resp);
	else
		cr_assert_null(resp);
}

static int start(struct tx_layer *l, struct pmsg *req, char *branch, const char *method,
		 const struct tx_dest *d, struct result *res, struct tx **tx)
{
	cr_assert_eq(tx_branch_make(l, branch, TX_BRANCH_LEN + 1), (int)TX_BRANCH_LEN);
	mkreq(req, method, branch, "192.0.2.1", 5060);
	return tx_client_start(l, tx, sip_str_make(branch, strlen(branch)),
			       sip_str_make(method, strlen(method)), req->buf, req->len, d,
			       result_cb, res);
}

static int respond(struct tx_layer *l, unsigned status, const char *branch,
		   const char *method)
{
	struct pmsg r;

	mkresp(&r, status, branch, method);
	return tx_client_response(l, &r.m, &r.v[0]);
}

/* ------------------------------------------------------------------------ */
/* Client transactions                                                       */

TestSuite(transaction, .init = setup, .fini = teardown);

Test(transaction, client_udp_retransmissions_and_timeout)
{
	struct tx_layer *l = mklayer(0, 0);
	struct tx_dest d = udp_dest();
	struct pmsg req;
	char br[TX_BRANCH_LEN + 1];
	struct result res = {0};
	struct tx_stats st;
	/* RFC 3261 §17.1.2.2: E = T1, 2T1, 4T1, T2, T2 ... until F = 64*T1 */
	static const uint64_t at[] = {0,     500,   1500,  3500,  7500, 11500,
				      15500, 19500, 23500, 27500, 31500};

	cr_assert_eq(start(l, &req, br, "REGISTER", &d, &res, NULL), 0);
	run_until(T0 + 40000);
	cr_assert_eq(nsent, sizeof(at) / sizeof(at[0]), "sent %u times", nsent);
	for (unsigned i = 0; i < nsent; i++) {
		cr_assert_eq(sent[i].at - T0, at[i], "send %u at +%llu, expected +%llu", i,
			     (unsigned long long)(sent[i].at - T0), (unsigned long long)at[i]);
		cr_assert_eq(sent[i].len, req.len);
		cr_assert_arr_eq(sent[i].buf, req.buf, req.len, "a retransmission differs");
		cr_assert_eq(sent[i].conn, 42);
		cr_assert_eq(sent[i].port, 5070);
	}
	cr_assert_eq(res.calls, 1, "the timeout must be reported once");
	cr_assert_eq(res.err, -ETIMEDOUT);
	cr_assert_eq(res.at, T0 + 32000, "Timer F is 64*T1");
	/* a late response after the timeout is ignored */
	cr_assert_eq(respond(l, 200, br, "REGISTER"), -ENOENT);
	cr_assert_eq(res.calls, 1);
	tx_layer_stats(l, &st);
	cr_assert_eq(st.live, 0);
	cr_assert_eq(st.timeouts, 1);
	cr_assert_eq(st.retransmits, 10);
	cr_assert_eq(st.unmatched, 1);
	tx_layer_free(l);
}

Test(transaction, timers_start_from_the_clock_not_a_stale_wheel)
{
	struct tx_layer *l = mklayer(0, 0);
	struct tx_dest d = udp_dest();
	struct pmsg req;
	char br[TX_BRANCH_LEN + 1];
	struct result res = {0};

	/* the loop slept 3 s in epoll_wait(): the wheel still says T0 */
	vclock = T0 + 3000;
	cr_assert_eq(start(l, &req, br, "REGISTER", &d, &res, NULL), 0);
	run_until(T0 + 3000 + 499);
	cr_assert_eq(nsent, 1, "Timer E fired early: armed from the stale wheel time");
	run_until(T0 + 3000 + 500);
	cr_assert_eq(nsent, 2);
	run_until(T0 + 3000 + 31999);
	cr_assert_eq(res.calls, 0);
	run_until(T0 + 3000 + 32000);
	cr_assert_eq(res.calls, 1);
	cr_assert_eq(res.err, -ETIMEDOUT);
	tx_layer_free(l);
}

Test(transaction, client_loss_then_final_then_duplicates)
{
	struct tx_layer *l = mklayer(0, 0);
	struct tx_dest d = udp_dest();
	struct pmsg req;
	char br[TX_BRANCH_LEN + 1];
	struct result res = {0};
	struct tx *tx = NULL;

	cr_assert_eq(start(l, &req, br, "REGISTER", &d, &res, &tx), 0);
	cr_assert_not_null(tx);
	cr_assert(sip_str_eq(tx_branch(tx), sip_str_make(br, strlen(br))));
	/* the first two copies are "lost": nothing answers them */
	run_until(T0 + 2000);
	cr_assert_eq(nsent, 3);
	cr_assert_eq(tx_retransmits(tx), 2);
	cr_assert_eq(respond(l, 200, br, "REGISTER"), 0);
	cr_assert_eq(res.calls, 1);
	cr_assert_eq(res.err, 0);
	cr_assert_eq(res.status, 200);
	/* duplicates (and a late provisional) are absorbed, never reported */
	cr_assert_eq(respond(l, 200, br, "REGISTER"), 0);
	cr_assert_eq(respond(l, 180, br, "REGISTER"), 0);
	cr_assert_eq(respond(l, 403, br, "REGISTER"), 0);
	cr_assert_eq(res.calls, 1);
	/* no retransmission after the final response */
	run_until(T0 + 6999);
	cr_assert_eq(nsent, 3);
	cr_assert_eq(respond(l, 200, br, "REGISTER"), 0, "still absorbed during Timer K");
	/* Timer K = T4 = 5 s after the final response */
	run_until(T0 + 7000);
	cr_assert_eq(respond(l, 200, br, "REGISTER"), -ENOENT);
	cr_assert_eq(res.calls, 1);
	run_until(T0 + 60000);
	cr_assert_eq(res.calls, 1, "no timeout after a final response");
	cr_assert_eq(nsent, 3);
	tx_layer_free(l);
}

Test(transaction, client_provisional_switches_to_t2)
{
	struct tx_layer *l = mklayer(0, 0);
	struct tx_dest d = udp_dest();
	struct pmsg req;
	char br[TX_BRANCH_LEN + 1];
	struct result res = {0};

	cr_assert_eq(start(l, &req, br, "OPTIONS", &d, &res, NULL), 0);
	run_until(T0 + 100);
	cr_assert_eq(respond(l, 100, br, "OPTIONS"), 0);
	cr_assert_eq(res.calls, 0, "a provisional is not a result");
	run_until(T0 + 9000);
	/* sends at 0; E due at 500 fires in Proceeding, then every T2 */
	cr_assert_eq(nsent, 4);
	cr_assert_eq(sent[1].at - T0, 500);
	cr_assert_eq(sent[2].at - T0, 4500);
	cr_assert_eq(sent[3].at - T0, 8500);
	run_until(T0 + 32000);
	cr_assert_eq(res.calls, 1);
	cr_assert_eq(res.err, -ETIMEDOUT, "Timer F runs in Proceeding too");
	tx_layer_free(l);
}

Test(transaction, client_reliable_no_retransmission)
{
	struct tx_layer *l = mklayer(0, 0);
	struct tx_dest d = tcp_dest();
	struct pmsg req;
	char br[TX_BRANCH_LEN + 1], br2[TX_BRANCH_LEN + 1];
	struct result res = {0}, res2 = {0};
	struct tx_stats st;

	cr_assert_eq(start(l, &req, br, "REGISTER", &d, &res, NULL), 0);
	cr_assert_eq(start(l, &req, br2, "REGISTER", &d, &res2, NULL), 0);
	run_until(T0 + 1000);
	cr_assert_eq(respond(l, 200, br2, "REGISTER"), 0);
	cr_assert_eq(res2.calls, 1);
	/* Timer K is 0 over TCP: gone at once */
	cr_assert_eq(respond(l, 200, br2, "REGISTER"), -ENOENT);
	run_until(T0 + 40000);
	cr_assert_eq(nsent, 2, "no retransmission over a reliable transport");
	cr_assert_eq(res.calls, 1);
	cr_assert_eq(res.err, -ETIMEDOUT);
	cr_assert_eq(res.at, T0 + 32000);
	tx_layer_stats(l, &st);
	cr_assert_eq(st.live, 0);
	tx_layer_free(l);
}

Test(transaction, client_matching)
{
	struct tx_layer *l = mklayer(0, 0);
	struct tx_dest d = udp_dest();
	struct pmsg req, m;
	char br[TX_BRANCH_LEN + 1];
	struct result res = {0};

	cr_assert_eq(start(l, &req, br, "REGISTER", &d, &res, NULL), 0);
	/* RFC 3261 §17.1.3: the CSeq method must match too */
	cr_assert_eq(respond(l, 200, br, "OPTIONS"), -ENOENT);
	cr_assert_eq(respond(l, 200, "z9hG4bKsR00ffffffffffffffff", "REGISTER"), -ENOENT);
	cr_assert_eq(respond(l, 200, "z9hG4bKother", "REGISTER"), -ENOENT);
	/* a request is not a response */
	mkreq(&m, "REGISTER", br, "192.0.2.1", 5060);
	cr_assert_eq(tx_client_response(l, &m.m, &m.v[0]), -EINVAL);
	cr_assert_eq(tx_client_response(l, NULL, &m.v[0]), -EINVAL);
	/* status out of range */
	mkresp(&m, 200, br, "REGISTER");
	m.m.status = 700;
	cr_assert_eq(tx_client_response(l, &m.m, &m.v[0]), -EINVAL);
	m.m.status = 99;
	cr_assert_eq(tx_client_response(l, &m.m, &m.v[0]), -EINVAL);
	cr_assert_eq(res.calls, 0);
	cr_assert_eq(respond(l, 401, br, "REGISTER"), 0);
	cr_assert_eq(res.calls, 1);
	cr_assert_eq(res.status, 401);
	tx_layer_free(l);
}

Test(transaction, client_start_errors)
{
	struct tx_layer *l = mklayer(0, 2);
	struct tx_dest d = udp_dest(), bad = d;
	struct pmsg req;
	char br[TX_BRANCH_LEN + 1], big[70000], longbr[TX_BRANCH_MAX + 2];
	struct result res = {0};
	struct tx_stats st;
	struct sockaddr_un un = {.sun_family = AF_UNIX};
	struct tx *tx = (struct tx *)&res; /* must stay untouched on failure */

	/* a failing first send: error returned, nothing kept, no callback */
	send_fail = -ENETUNREACH;
	cr_assert_eq(start(l, &req, br, "REGISTER", &d, &res, &tx), -ENETUNREACH);
	cr_assert_eq(tx, (struct tx *)&res);
	tx_layer_stats(l, &st);
	cr_assert_eq(st.live, 0);
	run_until(T0 + 40000);
	cr_assert_eq(res.calls, 0);
	cr_assert_eq(nsent, 0);

	cr_assert_eq(start(l, &req, br, "REGISTER", &d, &res, NULL), 0);
	/* the same branch and method again */
	cr_assert_eq(tx_client_start(l, NULL, sip_str_make(br, strlen(br)), SIP_STR("REGISTER"),
				     req.buf, req.len, &d, result_cb, &res),
		     -EEXIST);
	/* bad arguments */
	cr_assert_eq(tx_client_start(l, NULL, SIP_STR(""), SIP_STR("REGISTER"), req.buf, req.len,
				     &d, result_cb, &res),
		     -EINVAL);
	cr_assert_eq(tx_client_start(l, NULL, SIP_STR("z9hG4bKx"), SIP_STR("REGISTER"), req.buf,
				     req.len, &d, NULL, &res),
		     -EINVAL);
	bad.addr = (struct sockaddr *)&un;
	bad.addrlen = sizeof(un);
	cr_assert_eq(tx_client_start(l, NULL, SIP_STR("z9hG4bKx"), SIP_STR("REGISTER"), req.buf,
				     req.len, &bad, result_cb, &res),
		     -EINVAL);
	bad = d;
	bad.addrlen = 4; /* truncated sockaddr */
	cr_assert_eq(tx_client_start(l, NULL, SIP_STR("z9hG4bKx"), SIP_STR("REGISTER"), req.buf,
				     req.len, &bad, result_cb, &res),
		     -EINVAL);
	memset(big, 'x', sizeof(big));
	cr_assert_eq(tx_client_start(l, NULL, SIP_STR("z9hG4bKx"), SIP_STR("REGISTER"), big,
				     sizeof(big), &d, result_cb, &res),
		     -EMSGSIZE);
	memset(longbr, 'b', sizeof(longbr));
	cr_assert_eq(tx_client_start(l, NULL, sip_str_make(longbr, sizeof(longbr)),
				     SIP_STR("REGISTER"), req.buf, req.len, &d, result_cb, &res),
		     -ENAMETOOLONG);
	/* max_tx = 2 */
	cr_assert_eq(tx_client_start(l, NULL, SIP_STR("z9hG4bKy"), SIP_STR("REGISTER"), req.buf,
				     req.len, &d, result_cb, &res),
		     0);
	cr_assert_eq(tx_client_start(l, NULL, SIP_STR("z9hG4bKz"), SIP_STR("REGISTER"), req.buf,
				     req.len, &d, result_cb, &res),
		     -ENOBUFS);
	tx_layer_stats(l, &st);
	cr_assert_eq(st.live, 2);
	tx_layer_free(l);
}

Test(transaction, layer_new_errors)
{
	struct tx_layer *l = (struct tx_layer *)&l;
	struct tx_layer_opts o = {.worker = TX_MAX_WORKERS};

	cr_assert_eq(tx_layer_new(&l, W, &o, fake_send, NULL), -EINVAL);
	o.worker = 0;
	o.max_msg = 65536;
	cr_assert_eq(tx_layer_new(&l, W, &o, fake_send, NULL), -EINVAL);
	o.max_msg = 0;
	o.t1_ms = 5000;
	o.t2_ms = 4000;
	cr_assert_eq(tx_layer_new(&l, W, &o, fake_send, NULL), -EINVAL);
	cr_assert_eq(tx_layer_new(&l, NULL, NULL, fake_send, NULL), -EINVAL);
	cr_assert_eq(tx_layer_new(&l, W, NULL, NULL, NULL), -EINVAL);
	cr_assert_eq(l, (struct tx_layer *)&l, "*ret written on failure");
	tx_layer_free(NULL);
}

Test(transaction, abandon)
{
	struct tx_layer *l = mklayer(0, 0);
	struct tx_dest d = udp_dest();
	struct pmsg req;
	char br[TX_BRANCH_LEN + 1];
	struct result res = {0};
	struct tx *tx;
	struct tx_stats st;

	cr_assert_eq(start(l, &req, br, "REGISTER", &d, &res, &tx), 0);
	cr_assert_eq(tx_abandon(l, tx), 0);
	run_until(T0 + 40000);
	cr_assert_eq(nsent, 1, "no retransmission after abandon");
	cr_assert_eq(res.calls, 0, "no callback after abandon");
	cr_assert_eq(respond(l, 200, br, "REGISTER"), -ENOENT);
	tx_layer_stats(l, &st);
	cr_assert_eq(st.live, 0);
	tx_layer_free(l);
}

/* A connection failing: only the client transactions on that conn still
 * waiting end, at once, with the error; the others are untouched. */
Test(transaction, fail_conn_ends_waiting_transactions_on_that_conn)
{
	struct tx_layer *l = mklayer(0, 0);
	struct tx_dest on = tcp_dest(), other = tcp_dest(), udp = udp_dest();
	struct pmsg req, sreq;
	char b1[TX_BRANCH_LEN + 1], b2[TX_BRANCH_LEN + 1], b3[TX_BRANCH_LEN + 1];
	char b4[TX_BRANCH_LEN + 1], b5[TX_BRANCH_LEN + 1];
	struct result r1 = {0}, r2 = {0}, r3 = {0}, r4 = {0}, r5 = {0};
	struct tx_dest src = tcp_dest();
	struct tx *srv = NULL;
	struct tx_stats st;

	on.conn = 7;
	other.conn = 8;
	udp.conn = 7; /* an unreliable one with the same cookie: also failed */
	src.conn = 7;
	cr_assert_eq(start(l, &req, b1, "REGISTER", &on, &r1, NULL), 0);
	cr_assert_eq(start(l, &req, b2, "REGISTER", &on, &r2, NULL), 0);
	cr_assert_eq(start(l, &req, b3, "REGISTER", &other, &r3, NULL), 0);
	cr_assert_eq(start(l, &req, b4, "OPTIONS", &on, &r4, NULL), 0);
	cr_assert_eq(start(l, &req, b5, "REGISTER", &udp, &r5, NULL), 0);
	/* b4 is already answered (reliable: gone), b2 got a provisional */
	cr_assert_eq(respond(l, 200, b4, "OPTIONS"), 0);
	cr_assert_eq(respond(l, 100, b2, "REGISTER"), 0);
	/* a server transaction on the same connection is not ours to end */
	mkreq(&sreq, "REGISTER", "z9hG4bK-srv-1", "192.0.2.9", 5060);
	cr_assert_eq(tx_server_request(l, &sreq.m, &sreq.v[0], &src, &srv), TX_NEW);
	run_until(T0 + 100);

	cr_assert_eq(tx_fail_conn(l, 7, 0), -EINVAL);
	cr_assert_eq(tx_fail_conn(l, 7, 1), -EINVAL);
	cr_assert_eq(tx_fail_conn(l, 7, -ECONNREFUSED), 3);
	cr_assert_eq(r1.calls, 1);
	cr_assert_eq(r1.err, -ECONNREFUSED);
	cr_assert_eq(r1.at, T0 + 100, "at once, not at Timer F");
	cr_assert_eq(r2.calls, 1, "a transaction in Proceeding fails too");
	cr_assert_eq(r2.err, -ECONNREFUSED);
	cr_assert_eq(r5.calls, 1);
	cr_assert_eq(r5.err, -ECONNREFUSED);
	cr_assert_eq(r3.calls, 0, "another connection's transaction is untouched");
	cr_assert_eq(r4.calls, 1);
	cr_assert_eq(r4.err, 0);
	/* gone: a late response matches nothing, no retransmission, no Timer F */
	cr_assert_eq(respond(l, 200, b1, "REGISTER"), -ENOENT);
	cr_assert_eq(respond(l, 200, b5, "REGISTER"), -ENOENT);
	cr_assert_eq(tx_fail_conn(l, 7, -ECONNRESET), 0, "nothing left on it");
	nsent = 0;
	run_until(T0 + 40000);
	cr_assert_eq(r1.calls, 1);
	cr_assert_eq(r2.calls, 1);
	cr_assert_eq(r5.calls, 1);
	cr_assert_eq(nsent, 0, "no retransmission of the failed UDP one");
	cr_assert_eq(r3.calls, 1);
	cr_assert_eq(r3.err, -ETIMEDOUT, "the other one still ends by Timer F");
	tx_layer_stats(l, &st);
	cr_assert_eq(st.transport_failed, 3);
	cr_assert_eq(st.timeouts, 1);
	cr_assert_eq(tx_abandon(l, srv), 0);
	tx_layer_stats(l, &st);
	cr_assert_eq(st.live, 0);
	tx_layer_free(l);
}

/* The callbacks of tx_fail_conn() may start transactions on a new
 * connection and abandon the others being failed (already out: -EINVAL). */
static struct tx_layer *fc_layer;
static struct tx *fc_other;
static struct pmsg fc_req;
static char fc_br[TX_BRANCH_LEN + 1];
static struct result fc_res;
static unsigned fc_calls;

static void fc_cb(void *arg, struct tx *tx, int err, const struct sip_msg *resp)
{
	struct tx_dest d = tcp_dest();

	result_cb(arg, tx, err, resp);
	cr_assert_eq(err, -EHOSTUNREACH);
	if (fc_calls++ == 0) {
		cr_assert_eq(tx_abandon(fc_layer, fc_other == tx ? NULL : fc_other), -EINVAL);
		d.conn = 99;
		cr_assert_eq(start(fc_layer, &fc_req, fc_br, "REGISTER", &d, &fc_res, NULL), 0);
	}
}

Test(transaction, fail_conn_callbacks_may_start_and_abandon)
{
	struct tx_layer *l = mklayer(0, 0);
	struct tx_dest d = tcp_dest();
	struct pmsg req;
	char br[64][TX_BRANCH_LEN + 1];
	struct result res[64];
	struct tx *txs[64];
	struct tx_stats st;

	memset(res, 0, sizeof(res));
	fc_layer = l;
	fc_calls = 0;
	d.conn = 5;
	/* more than one chunk's worth is not needed; enough to be several */
	for (unsigned i = 0; i < 64; i++) {
		cr_assert_eq(tx_branch_make(l, br[i], sizeof(br[i])), (int)TX_BRANCH_LEN);
		mkreq(&req, "REGISTER", br[i], "192.0.2.1", 5060);
		cr_assert_eq(tx_client_start(l, &txs[i], sip_str_make(br[i], strlen(br[i])),
					     SIP_STR("REGISTER"), req.buf, req.len, &d, fc_cb,
					     &res[i]),
			     0);
	}
	fc_other = txs[63];
	cr_assert_eq(tx_fail_conn(l, 5, -EHOSTUNREACH), 64);
	cr_assert_eq(fc_calls, 64, "every callback ran once");
	for (unsigned i = 0; i < 64; i++)
		cr_assert_eq(res[i].calls, 1);
	tx_layer_stats(l, &st);
	cr_assert_eq(st.live, 1, "only the one started from a callback");
	cr_assert_eq(respond(l, 200, fc_br, "REGISTER"), 0);
	cr_assert_eq(fc_res.calls, 1);
	cr_assert_eq(fc_res.status, 200);
	tx_layer_free(l);
}

/* A result callback that starts the next transaction (an answer to 401). */
static struct tx_layer *chain_layer;
static struct pmsg chain_req;
static char chain_br[TX_BRANCH_LEN + 1];
static struct result chain_res;

static void chain_cb(void *arg, struct tx *tx, int err, const struct sip_msg *resp)
{
	struct tx_dest d = udp_dest();

	result_cb(arg, tx, err, resp);
	cr_assert_eq(tx_abandon(chain_layer, tx), -EINVAL, "a finished tx cannot be abandoned");
	cr_assert_eq(start(chain_layer, &chain_req, chain_br, "REGISTER", &d, &chain_res, NULL),
		     0);
}

Test(transaction, callback_starts_next_transaction)
{
	struct tx_layer *l = mklayer(0, 0);
	struct tx_dest d = udp_dest();
	struct pmsg req;
	char br[TX_BRANCH_LEN + 1];
	struct result res = {0};

	chain_layer = l;
	cr_assert_eq(tx_branch_make(l, br, sizeof(br)), (int)TX_BRANCH_LEN);
	mkreq(&req, "REGISTER", br, "192.0.2.1", 5060);
	cr_assert_eq(tx_client_start(l, NULL, sip_str_make(br, strlen(br)), SIP_STR("REGISTER"),
				     req.buf, req.len, &d, chain_cb, &res),
		     0);
	cr_assert_eq(respond(l, 401, br, "REGISTER"), 0);
	cr_assert_eq(res.calls, 1);
	cr_assert_eq(nsent, 2);
	cr_assert_eq(respond(l, 200, chain_br, "REGISTER"), 0);
	cr_assert_eq(chain_res.calls, 1);
	cr_assert_eq(chain_res.status, 200);
	tx_layer_free(l);
}

/* E and F share one wheel node: when E's schedule lands on F's instant
 * (T2 = T1: E every 500 ms, the 64th at 32,000 ms) F wins, nothing is sent
 * at F, and the schedule before it is unchanged. */
Test(transaction, client_e_landing_on_f_times_out_without_sending)
{
	struct tx_layer *l = NULL;
	struct tx_layer_opts o = {.t1_ms = 500, .t2_ms = 500, .clock = vclock_fn};
	struct tx_dest d = udp_dest();
	struct pmsg req;
	char br[TX_BRANCH_LEN + 1];
	struct result res = {0};
	struct tx_stats st;

	cr_assert_eq(tx_layer_new(&l, W, &o, fake_send, NULL), 0);
	cr_assert_eq(start(l, &req, br, "REGISTER", &d, &res, NULL), 0);
	run_until(T0 + 31999);
	cr_assert_eq(nsent, 64, "sent %u times before F", nsent);
	for (unsigned i = 0; i < nsent; i++)
		cr_assert_eq(sent[i].at - T0, 500u * i, "send %u at +%llu", i,
			     (unsigned long long)(sent[i].at - T0));
	cr_assert_eq(res.calls, 0);
	run_until(T0 + 40000);
	cr_assert_eq(nsent, 64, "a retransmission at Timer F's instant");
	cr_assert_eq(res.calls, 1);
	cr_assert_eq(res.err, -ETIMEDOUT);
	cr_assert_eq(res.at, T0 + 32000);
	tx_layer_stats(l, &st);
	cr_assert_eq(st.retransmits, 63);
	cr_assert_eq(st.live, 0);
	tx_layer_free(l);
}

/* A final response cancels E and F together (the shared node): nothing is
 * sent and nothing is reported afterwards, also when it comes in
 * Proceeding; a reliable transaction gets F alone. */
Test(transaction, final_response_cancels_e_and_f)
{
	struct tx_layer *l = mklayer(0, 0);
	struct tx_dest d = udp_dest(), dt = tcp_dest();
	struct pmsg req;
	char br[TX_BRANCH_LEN + 1], br2[TX_BRANCH_LEN + 1];
	struct result res = {0}, res2 = {0};

	cr_assert_eq(start(l, &req, br, "REGISTER", &d, &res, NULL), 0);
	run_until(T0 + 600);
	cr_assert_eq(nsent, 2);
	cr_assert_eq(respond(l, 100, br, "REGISTER"), 0);
	run_until(T0 + 4000);
	cr_assert_eq(nsent, 3, "E armed in Trying (+1500) fires in Proceeding, then T2");
	cr_assert_eq(sent[2].at - T0, 1500);
	cr_assert_eq(respond(l, 486, br, "REGISTER"), 0);
	cr_assert_eq(res.calls, 1);
	cr_assert_eq(res.status, 486);
	cr_assert_eq(start(l, &req, br2, "REGISTER", &dt, &res2, NULL), 0);
	cr_assert_eq(nsent, 4);
	run_until(T0 + 4000 + 31999);
	cr_assert_eq(nsent, 4, "neither is sent again (E cancelled; reliable: no E)");
	cr_assert_eq(res2.calls, 0);
	run_until(T0 + 4000 + 32000);
	cr_assert_eq(res2.calls, 1);
	cr_assert_eq(res2.err, -ETIMEDOUT);
	run_until(T0 + 100000);
	cr_assert_eq(nsent, 4);
	cr_assert_eq(res.calls, 1);
	tx_layer_free(l);
}

/* Completed client transactions keep their key alone (the request's buffer
 * goes back to the pool at the final response): 200 of them in Timer K
 * still absorb their duplicates, while 200 new ones started meanwhile (from
 * the buffers the first ones gave back) retransmit their own requests byte
 * for byte, and each is matched by its own branch. */
#define NK 200
Test(transaction, completed_keep_key_only_buffers_reused)
{
	struct tx_layer *l = mklayer(0, 0);
	struct tx_dest d = udp_dest();
	static struct pmsg req[2 * NK];
	static char br[2 * NK][TX_BRANCH_LEN + 1];
	static struct result res[2 * NK];
	struct tx_stats st;

	for (unsigned i = 0; i < NK; i++)
		cr_assert_eq(start(l, &req[i], br[i], "REGISTER", &d, &res[i], NULL), 0);
	for (unsigned i = 0; i < NK; i++)
		cr_assert_eq(respond(l, 200, br[i], "REGISTER"), 0);
	nsent = 0;
	for (unsigned i = NK; i < 2 * NK; i++)
		cr_assert_eq(start(l, &req[i], br[i], i % 2 ? "OPTIONS" : "REGISTER", &d, &res[i],
				 NULL),
			     0);
	nsent = 0;
	for (unsigned i = 0; i < NK; i++) {
		cr_assert_eq(respond(l, 200, br[i], "REGISTER"), 0, "K absorbs %u", i);
		cr_assert_eq(respond(l, 200, br[i], "OPTIONS"), -ENOENT,
			     "the method is part of the kept key");
		cr_assert_eq(res[i].calls, 1);
	}
	/* the second batch's first retransmission at +500 */
	run_until(T0 + 500);
	cr_assert_eq(nsent, NK);
	for (unsigned i = 0; i < NK; i++) {
		cr_assert_eq(sent[i].len, req[NK + i].len);
		cr_assert_arr_eq(sent[i].buf, req[NK + i].buf, req[NK + i].len,
				 "retransmission %u differs from its request", i);
	}
	for (unsigned i = NK; i < 2 * NK; i++) {
		cr_assert_eq(respond(l, 200, br[i], i % 2 ? "OPTIONS" : "REGISTER"), 0);
		cr_assert_eq(res[i].calls, 1);
		cr_assert_eq(res[i].status, 200);
	}
	tx_layer_stats(l, &st);
	cr_assert_eq(st.live, 2 * NK);
	run_until(T0 + 5000);
	tx_layer_stats(l, &st);
	cr_assert_eq(st.live, NK, "the first batch's Timer K ended at +5 s");
	run_until(T0 + 5500);
	tx_layer_stats(l, &st);
	cr_assert_eq(st.live, 0);
	cr_assert_eq(st.retransmits, NK);
	tx_layer_free(l);
}

/* Timer K from the layer's FIFO list: each Completed client ends exactly
 * T4 after its own final response, also when several complete in one
 * millisecond, when the clock is ahead of the wheel, and when a new one
 * completes after the list emptied. */
Test(transaction, timer_k_list_ends_each_at_its_own_time)
{
	struct tx_layer *l = mklayer(0, 0);
	struct tx_dest d = udp_dest();
	static struct pmsg req[5];
	char br[5][TX_BRANCH_LEN + 1];
	struct result res[5] = {{0}};
	/* final response at (ms after T0); K ends 5000 later */
	static const uint64_t done[] = {100, 1000, 1000, 3000, 20000};
	struct tx_stats st;

	for (unsigned i = 0; i < 5; i++)
		cr_assert_eq(start(l, &req[i], br[i], "REGISTER", &d, &res[i], NULL), 0);
	for (unsigned i = 0; i < 4; i++) {
		run_until(T0 + done[i]);
		cr_assert_eq(respond(l, 200, br[i], "REGISTER"), 0);
	}
	for (unsigned i = 0; i < 4; i++) {
		if (i && done[i] == done[i - 1])
			continue;
		run_until(T0 + done[i] + 4999);
		for (unsigned j = i; j < 4; j++)
			cr_assert_eq(respond(l, 200, br[j], "REGISTER"), 0,
				     "%u absorbed at +%llu", j, (unsigned long long)(done[i] + 4999));
		run_until(T0 + done[i] + 5000);
		for (unsigned j = 0; j < 4; j++)
			cr_assert_eq(respond(l, 200, br[j], "REGISTER"),
				     done[j] <= done[i] ? -ENOENT : 0, "%u at +%llu", j,
				     (unsigned long long)(done[i] + 5000));
	}
	tx_layer_stats(l, &st);
	cr_assert_eq(st.live, 1);
	/* the last one: answered with the clock 2 s ahead of the wheel */
	run_until(T0 + 18000);
	vclock = T0 + done[4];
	cr_assert_eq(respond(l, 200, br[4], "REGISTER"), 0);
	vclock = 0;
	run_until(T0 + done[4] + 4999);
	cr_assert_eq(respond(l, 200, br[4], "REGISTER"), 0);
	run_until(T0 + done[4] + 5000);
	cr_assert_eq(respond(l, 200, br[4], "REGISTER"), -ENOENT);
	tx_layer_stats(l, &st);
	cr_assert_eq(st.live, 0);
	for (unsigned i = 0; i < 5; i++)
		cr_assert_eq(res[i].calls, 1);
	tx_layer_free(l);
}

/* The Timer K ring: more Completed clients than its first size (256), added
 * while it wraps around (200 already ended, their slots reused), so it grows
 * twice with its entries wrapped; each still ends exactly T4 after its own
 * final response (two complete in each millisecond), each callback once. */
Test(transaction, timer_k_ring_grows_while_wrapped)
{
	enum { NA = 200, NB = 700 };
	struct tx_layer *l = mklayer(0, 0);
	struct tx_dest d = udp_dest();
	static struct pmsg req;
	static char br[NA + NB][TX_BRANCH_LEN + 1];
	static struct result res[NA + NB];
	struct tx_stats st;
	unsigned i;

	memset(res, 0, sizeof(res));
	for (i = 0; i < NA; i++) {
		cr_assert_eq(start(l, &req, br[i], "REGISTER", &d, &res[i], NULL), 0);
		nsent = 0;
	}
	run_until(T0 + 100);
	for (i = 0; i < NA; i++)
		cr_assert_eq(respond(l, 200, br[i], "REGISTER"), 0);
	run_until(T0 + 5099);
	cr_assert_eq(respond(l, 200, br[NA - 1], "REGISTER"), 0);
	run_until(T0 + 5100);
	for (i = 0; i < NA; i++)
		cr_assert_eq(respond(l, 200, br[i], "REGISTER"), -ENOENT, "%u ended", i);
	for (i = NA; i < NA + NB; i++) {
		cr_assert_eq(start(l, &req, br[i], "REGISTER", &d, &res[i], NULL), 0);
		nsent = 0;
	}
	/* client NA + j completes at +5101 + j / 2 */
	for (i = 0; i < NB; i++) {
		run_until(T0 + 5101 + i / 2);
		cr_assert_eq(respond(l, 200, br[NA + i], "REGISTER"), 0);
	}
	tx_layer_stats(l, &st);
	cr_assert_eq(st.live, NB);
	for (i = 0; i < NB; i += 2) {
		uint64_t done = 5101 + i / 2;

		run_until(T0 + done + 4999);
		cr_assert_eq(respond(l, 200, br[NA + i], "REGISTER"), 0, "%u absorbed", i);
		cr_assert_eq(respond(l, 200, br[NA + i + 1], "REGISTER"), 0);
		if (i)
			cr_assert_eq(respond(l, 200, br[NA + i - 1], "REGISTER"), -ENOENT,
				     "%u ended at +%llu", i - 1,
				     (unsigned long long)(done + 4999));
		run_until(T0 + done + 5000);
		cr_assert_eq(respond(l, 200, br[NA + i], "REGISTER"), -ENOENT, "%u", i);
		cr_assert_eq(respond(l, 200, br[NA + i + 1], "REGISTER"), -ENOENT);
		tx_layer_stats(l, &st);
		cr_assert_eq(st.live, NB - i - 2);
	}
	for (i = 0; i < NA + NB; i++) {
		cr_assert_eq(res[i].calls, 1);
		cr_assert_eq(res[i].status, 200);
	}
	tx_layer_free(l);
}

/* ------------------------------------------------------------------------ */
/* Server transactions                                                       */

Test(transaction, server_retransmission_gets_stored_response)
{
	struct tx_layer *l = mklayer(0, 0);
	struct tx_dest d = udp_dest();
	struct pmsg req, again;
	struct tx *tx = NULL, *tx2 = NULL;
	const char *br = "z9hG4bK-client-1";
	static const char trying[] = "SIP/2.0 100 Trying\r\n\r\n";
	static const char ok[] = "SIP/2.0 200 OK\r\nContact: <sip:a@192.0.2.1>\r\n\r\n";
	struct tx_stats st;

	mkreq(&req, "REGISTER", br, "192.0.2.1", 5060);
	cr_assert_eq(tx_server_request(l, &req.m, &req.v[0], &d, &tx), TX_NEW);
	cr_assert_not_null(tx);
	/* a retransmission before any response: absorbed, nothing sent */
	mkreq(&again, "REGISTER", br, "192.0.2.1", 5060);
	cr_assert_eq(tx_server_request(l, &again.m, &again.v[0], &d, &tx2), TX_ABSORBED);
	cr_assert_null(tx2);
	cr_assert_eq(nsent, 0);
	/* provisional: stored and repeated */
	cr_assert_eq(tx_server_reply(l, tx, 100, trying, sizeof(trying) - 1), 0);
	cr_assert_eq(nsent, 1);
	cr_assert_eq(tx_server_request(l, &again.m, &again.v[0], &d, &tx2), TX_ABSORBED);
	cr_assert_eq(nsent, 2);
	cr_assert_arr_eq(sent[1].buf, trying, sizeof(trying) - 1);
	/* final: stored and repeated, the TU never sees the request again */
	run_until(T0 + 1000);
	cr_assert_eq(tx_server_reply(l, tx, 200, ok, sizeof(ok) - 1), 0);
	cr_assert_eq(nsent, 3);
	cr_assert_eq(tx_server_reply(l, tx, 200, ok, sizeof(ok) - 1), -EINVAL,
		     "a completed transaction takes no second final");
	for (unsigned i = 0; i < 3; i++) {
		run_until(T0 + 2000 + i * 10000);
		cr_assert_eq(tx_server_request(l, &again.m, &again.v[0], &d, &tx2), TX_ABSORBED);
		cr_assert_eq(sent[nsent - 1].len, sizeof(ok) - 1);
		cr_assert_arr_eq(sent[nsent - 1].buf, ok, sizeof(ok) - 1);
	}
	cr_assert_eq(nsent, 6);
	/* Timer J = 64*T1 after the final response */
	run_until(T0 + 1000 + 32000 - 1);
	cr_assert_eq(tx_server_request(l, &again.m, &again.v[0], &d, &tx2), TX_ABSORBED);
	run_until(T0 + 1000 + 32000);
	tx_layer_stats(l, &st);
	cr_assert_eq(st.live, 0);
	cr_assert_eq(st.server_started, 1);
	cr_assert_eq(st.absorbed, 6);
	cr_assert_eq(tx_server_request(l, &again.m, &again.v[0], &d, &tx2), TX_NEW,
		     "after Timer J the request is new again");
	tx_layer_free(l);
}

Test(transaction, server_matching)
{
	struct tx_layer *l = mklayer(0, 0);
	struct tx_dest d = udp_dest();
	struct pmsg m;
	struct tx *tx;
	struct tx_stats st;
	const char *br = "z9hG4bKabc";

	mkreq(&m, "REGISTER", br, "host.example.com", 5060);
	cr_assert_eq(tx_server_request(l, &m.m, &m.v[0], &d, &tx), TX_NEW);
	/* host names compare without case */
	mkreq(&m, "REGISTER", br, "HOST.example.COM", 5060);
	cr_assert_eq(tx_server_request(l, &m.m, &m.v[0], &d, &tx), TX_ABSORBED);
	/* another sent-by port, another host, another method: new */
	mkreq(&m, "REGISTER", br, "host.example.com", 5061);
	cr_assert_eq(tx_server_request(l, &m.m, &m.v[0], &d, &tx), TX_NEW);
	mkreq(&m, "REGISTER", br, "other.example.com", 5060);
	cr_assert_eq(tx_server_request(l, &m.m, &m.v[0], &d, &tx), TX_NEW);
	mkreq(&m, "OPTIONS", br, "host.example.com", 5060);
	cr_assert_eq(tx_server_request(l, &m.m, &m.v[0], &d, &tx), TX_NEW);
	/* the branch compares with case */
	mkreq(&m, "REGISTER", "z9hG4bKABC", "host.example.com", 5060);
	cr_assert_eq(tx_server_request(l, &m.m, &m.v[0], &d, &tx), TX_NEW);
	tx_layer_stats(l, &st);
	cr_assert_eq(st.live, 5);
	/* RFC 2543 branch (no magic cookie), INVITE, ACK, a response */
	mkreq(&m, "REGISTER", "1234", "host.example.com", 5060);
	cr_assert_eq(tx_server_request(l, &m.m, &m.v[0], &d, &tx), -EPROTONOSUPPORT);
	mkreq(&m, "INVITE", br, "host.example.com", 5060);
	cr_assert_eq(tx_server_request(l, &m.m, &m.v[0], &d, &tx), -EOPNOTSUPP);
	mkreq(&m, "ACK", br, "host.example.com", 5060);
	cr_assert_eq(tx_server_request(l, &m.m, &m.v[0], &d, &tx), -EOPNOTSUPP);
	mkresp(&m, 200, br, "REGISTER");
	cr_assert_eq(tx_server_request(l, &m.m, &m.v[0], &d, &tx), -EINVAL);
	tx_layer_stats(l, &st);
	cr_assert_eq(st.live, 5);
	tx_layer_free(l);
}

Test(transaction, server_reply_rules)
{
	struct tx_layer *l = mklayer(0, 0);
	struct tx_dest d = udp_dest(), t = tcp_dest();
	struct pmsg m;
	struct tx *tx, *ttx;
	struct tx_stats st;
	static const char ok[] = "SIP/2.0 200 OK\r\n\r\n";
	char big[70000];

	mkreq(&m, "OPTIONS", "z9hG4bK1", "192.0.2.9", 5060);
	cr_assert_eq(tx_server_request(l, &m.m, &m.v[0], &d, &tx), TX_NEW);
	cr_assert_eq(tx_server_reply(l, tx, 99, ok, sizeof(ok) - 1), -EINVAL);
	cr_assert_eq(tx_server_reply(l, tx, 700, ok, sizeof(ok) - 1), -EINVAL);
	memset(big, 'x', sizeof(big));
	cr_assert_eq(tx_server_reply(l, tx, 200, big, sizeof(big)), -EMSGSIZE);
	/* a transport error destroys the transaction (RFC 3261 §17.2.4) */
	send_fail = -EPIPE;
	cr_assert_eq(tx_server_reply(l, tx, 200, ok, sizeof(ok) - 1), -EPIPE);
	tx_layer_stats(l, &st);
	cr_assert_eq(st.live, 0);
	/* over TCP, Timer J is 0: gone with the final response */
	mkreq(&m, "OPTIONS", "z9hG4bK2", "192.0.2.9", 5060);
	cr_assert_eq(tx_server_request(l, &m.m, &m.v[0], &t, &ttx), TX_NEW);
	cr_assert_eq(tx_server_reply(l, ttx, 200, ok, sizeof(ok) - 1), 0);
	tx_layer_stats(l, &st);
	cr_assert_eq(st.live, 0);
	/* abandon an unanswered server transaction */
	mkreq(&m, "OPTIONS", "z9hG4bK3", "192.0.2.9", 5060);
	cr_assert_eq(tx_server_request(l, &m.m, &m.v[0], &d, &tx), TX_NEW);
	cr_assert_eq(tx_abandon(l, tx), 0);
	cr_assert_eq(tx_server_request(l, &m.m, &m.v[0], &d, &tx), TX_NEW);
	tx_layer_free(l);
}

/* ------------------------------------------------------------------------ */
/* Branches                                                                  */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(a, b);
}

Test(transaction, branch_make_and_worker)
{
	static const unsigned workers[] = {0, 1, 7, 16, 200, 255};
	enum { N = 100000 };
	char (*all)[TX_BRANCH_LEN + 1] = calloc(N, sizeof(*all));
	char br[TX_BRANCH_LEN + 1];

	cr_assert_not_null(all);
	for (size_t i = 0; i < sizeof(workers) / sizeof(workers[0]); i++) {
		struct tx_layer *l = mklayer(workers[i], 0);

		cr_assert_eq(tx_branch_make(l, br, sizeof(br)), (int)TX_BRANCH_LEN);
		cr_assert_eq(strlen(br), TX_BRANCH_LEN);
		cr_assert_eq(strncmp(br, "z9hG4bK", 7), 0, "RFC 3261 magic cookie");
		cr_assert_eq(tx_branch_worker(sip_str_make(br, strlen(br))), (int)workers[i]);
		cr_assert_eq(tx_branch_make(l, br, TX_BRANCH_LEN), -ENOSPC);
		tx_layer_free(l);
	}
	/* unique */
	struct tx_layer *l = mklayer(3, 0);

	for (unsigned i = 0; i < N; i++)
		cr_assert_eq(tx_branch_make(l, all[i], sizeof(all[i])), (int)TX_BRANCH_LEN);
	qsort(all, N, sizeof(all[0]), cmp_str);
	for (unsigned i = 1; i < N; i++)
		cr_assert_neq(strcmp(all[i - 1], all[i]), 0, "duplicate branch %s", all[i]);
	tx_layer_free(l);
	free(all);
	/* foreign and broken branches */
	cr_assert_eq(tx_branch_worker(SIP_STR("z9hG4bK776asdhds")), -EINVAL);
	cr_assert_eq(tx_branch_worker(SIP_STR("z9hG4bKsR03")), -EINVAL);
	cr_assert_eq(tx_branch_worker(SIP_STR("z9hG4bKsR0301234567890abcdeF")), -EINVAL);
	cr_assert_eq(tx_branch_worker(SIP_STR("z9hG4bKsR0g0123456789abcdef")), -EINVAL);
	cr_assert_eq(tx_branch_worker(SIP_STR("z9hG4bKsr030123456789abcdef")), -EINVAL);
	cr_assert_eq(tx_branch_worker(SIP_STR("z9hG4bKsR030123456789abcdef0")), -EINVAL);
	cr_assert_eq(tx_branch_worker(SIP_STR("")), -EINVAL);
	cr_assert_eq(tx_branch_worker(SIP_STR_NULL), -EINVAL);
	cr_assert_eq(tx_branch_worker(SIP_STR("z9hG4bKsR0a0123456789abcdef")), 10);
}

/* The top Via of the response being reported is there for the TU inside
 * the result callback (the very one given to tx_client_response()), and
 * nowhere else: not after it, not for a timeout. */
static struct tx_layer *via_layer;
static const struct sip_via *via_seen;
static unsigned via_calls;

static void via_cb(void *arg, struct tx *tx, int err, const struct sip_msg *resp)
{
	(void)arg;
	(void)tx;
	(void)err;
	(void)resp;
	via_calls++;
	via_seen = tx_response_via(via_layer);
}

Test(transaction, response_via_inside_the_callback_only)
{
	struct tx_layer *l = mklayer(0, 0);
	struct tx_dest d = udp_dest(), dt = tcp_dest();
	struct pmsg req, r;
	char br[TX_BRANCH_LEN + 1];

	via_layer = l;
	cr_assert_null(tx_response_via(l));
	for (int reliable = 0; reliable < 2; reliable++) {
		cr_assert_eq(tx_branch_make(l, br, sizeof(br)), (int)TX_BRANCH_LEN);
		mkreq(&req, "REGISTER", br, "192.0.2.1", 5060);
		cr_assert_eq(tx_client_start(l, NULL, sip_str_make(br, strlen(br)),
					     SIP_STR("REGISTER"), req.buf, req.len,
					     reliable ? &dt : &d, via_cb, NULL),
			     0);
		mkresp(&r, 200, br, "REGISTER");
		via_seen = NULL;
		cr_assert_eq(tx_client_response(l, &r.m, &r.v[0]), 0);
		cr_assert_eq(via_seen, &r.v[0], "the caller's parsed top Via");
		cr_assert_null(tx_response_via(l), "not after the callback");
	}
	/* a timeout reports no response and no Via */
	cr_assert_eq(tx_branch_make(l, br, sizeof(br)), (int)TX_BRANCH_LEN);
	mkreq(&req, "REGISTER", br, "192.0.2.1", 5060);
	cr_assert_eq(tx_client_start(l, NULL, sip_str_make(br, strlen(br)), SIP_STR("REGISTER"),
				     req.buf, req.len, &d, via_cb, NULL),
		     0);
	via_seen = (const struct sip_via *)&via_calls;
	run_until(T0 + 40000);
	cr_assert_eq(via_calls, 3);
	cr_assert_null(via_seen);
	tx_layer_free(l);
}

/* A branch started right after tx_branch_make() is found from the branch
 * itself (direct); one whose reservation another start took, or a foreign
 * one, through the hash table. Both must match exactly alike: the right
 * response once, Timer K absorbing, duplicates refused, any other branch of
 * the same shape (one digit off, another worker's digits, upper case, a
 * counter never made) unmatched. */
Test(transaction, direct_and_hashed_clients_match_alike)
{
	enum { N = 600 };
	struct tx_layer *l = mklayer(5, 0);
	struct tx_dest d = udp_dest();
	static struct pmsg req;
	static char br[N][TX_BRANCH_LEN + 8];
	static struct result res[N];
	char spare[TX_BRANCH_LEN + 1], forged[TX_BRANCH_LEN + 1];
	struct tx_stats st;
	unsigned order[N];

	for (unsigned i = 0; i < N; i++) {
		const char *m = i % 5 == 4 ? "OPTIONS" : "REGISTER";

		nsent = 0;
		if (i % 3 == 1) {
			/* made, then another branch made before the start:
			 * the reservation is gone, the start hashes */
			cr_assert_eq(tx_branch_make(l, br[i], TX_BRANCH_LEN + 1),
				     (int)TX_BRANCH_LEN);
			cr_assert_eq(tx_branch_make(l, spare, sizeof(spare)),
				     (int)TX_BRANCH_LEN);
		} else if (i % 3 == 2) {
			/* a foreign branch */
			snprintf(br[i], sizeof(br[i]), "z9hG4bKpeer%u", i);
		} else {
			cr_assert_eq(tx_branch_make(l, br[i], TX_BRANCH_LEN + 1),
				     (int)TX_BRANCH_LEN);
		}
		mkreq(&req, m, br[i], "192.0.2.1", 5060);
		cr_assert_eq(tx_client_start(l, NULL, sip_str_make(br[i], strlen(br[i])),
					     sip_str_make(m, strlen(m)), req.buf, req.len, &d,
					     result_cb, &res[i]),
			     0, "start %u", i);
		cr_assert_eq(tx_client_start(l, NULL, sip_str_make(br[i], strlen(br[i])),
					     sip_str_make(m, strlen(m)), req.buf, req.len, &d,
					     result_cb, &res[i]),
			     -EEXIST, "the same branch again, %u", i);
	}
	/* forged look-alikes of a live direct branch (br[0], worker 05) */
	memcpy(forged, br[0], sizeof(forged));
	forged[TX_BRANCH_LEN - 1] = forged[TX_BRANCH_LEN - 1] == '0' ? '1' : '0';
	cr_assert_eq(respond(l, 200, forged, "REGISTER"), -ENOENT);
	memcpy(forged, br[0], sizeof(forged));
	forged[10] = '6'; /* worker 06 */
	cr_assert_eq(respond(l, 200, forged, "REGISTER"), -ENOENT);
	memcpy(forged, br[0], sizeof(forged));
	for (unsigned k = 11; k < TX_BRANCH_LEN; k++)
		if (forged[k] >= 'a')
			forged[k] = (char)(forged[k] - 'a' + 'A');
	if (strcmp(forged, br[0]) != 0)
		cr_assert_eq(respond(l, 200, forged, "REGISTER"), -ENOENT);
	cr_assert_eq(tx_branch_make(l, spare, sizeof(spare)), (int)TX_BRANCH_LEN);
	cr_assert_eq(respond(l, 200, spare, "REGISTER"), -ENOENT, "made, never started");
	cr_assert_eq(respond(l, 200, br[0], "OPTIONS"), -ENOENT, "method differs");
	/* every one answered once, in a scrambled order */
	for (unsigned i = 0; i < N; i++)
		order[i] = (i * 367u) % N;
	for (unsigned i = 0; i < N; i++) {
		unsigned k = order[i];
		const char *m = k % 5 == 4 ? "OPTIONS" : "REGISTER";

		cr_assert_eq(res[k].calls, 0, "%u answered before its response", k);
		cr_assert_eq(respond(l, 200 + k % 3, br[k], m), 0, "response %u", k);
		cr_assert_eq(res[k].calls, 1);
		cr_assert_eq(res[k].status, 200 + k % 3);
		cr_assert_eq(respond(l, 200, br[k], m), 0, "Timer K absorbs %u", k);
		cr_assert_eq(res[k].calls, 1);
	}
	tx_layer_stats(l, &st);
	cr_assert_eq(st.live, N);
	cr_assert_eq(st.absorbed, N);
	run_until(T0 + 5000);
	tx_layer_stats(l, &st);
	cr_assert_eq(st.live, 0);
	for (unsigned i = 0; i < N; i++) {
		const char *m = i % 5 == 4 ? "OPTIONS" : "REGISTER";

		cr_assert_eq(respond(l, 200, br[i], m), -ENOENT, "%u after Timer K", i);
		cr_assert_eq(res[i].calls, 1);
	}
	/* the entries are reused: a new direct start on a recycled entry
	 * does not answer to the old branch that named it */
	cr_assert_eq(tx_branch_make(l, spare, sizeof(spare)), (int)TX_BRANCH_LEN);
	mkreq(&req, "REGISTER", spare, "192.0.2.1", 5060);
	cr_assert_eq(tx_client_start(l, NULL, sip_str_make(spare, TX_BRANCH_LEN),
				     SIP_STR("REGISTER"), req.buf, req.len, &d, result_cb,
				     &res[0]),
		     0);
	for (unsigned i = 0; i < N; i += 3)
		cr_assert_eq(respond(l, 200, br[i], "REGISTER"), -ENOENT);
	cr_assert_eq(res[0].calls, 1);
	cr_assert_eq(respond(l, 200, spare, "REGISTER"), 0);
	cr_assert_eq(res[0].calls, 2);
	tx_layer_free(l);
}

/* ------------------------------------------------------------------------ */
/* A client and a server layer over a lossy, duplicating, reordering network */

enum { NTX = 300, NPKT = 8192 };

struct pkt {
	uint64_t due;
	bool to_server;
	size_t len;
	char buf[640];
};

static struct {
	struct tx_layer *cl, *sv;
	struct pkt q[NPKT];
	unsigned nq;
	uint64_t rng;
	unsigned loss_pct, dup_pct;
	unsigned processed[NTX]; /* times the server TU saw request i */
	struct result res[NTX];
	char branch[NTX][TX_BRANCH_LEN + 1];
	unsigned wrong_worker;
} N;

static uint64_t nrand(void)
{
	N.rng ^= N.rng >> 12;
	N.rng ^= N.rng << 25;
	N.rng ^= N.rng >> 27;
	return N.rng * UINT64_C(2685821657736338717);
}

static void enqueue_pkt(bool to_server, const void *buf, size_t len)
{
	unsigned copies = 1;

	if (nrand() % 100 < N.loss_pct)
		return;
	if (nrand() % 100 < N.dup_pct)
		copies = 2;
	for (unsigned c = 0; c < copies; c++) {
		struct pkt *p;

		cr_assert_lt(N.nq, NPKT);
		cr_assert_leq(len, sizeof(p->buf));
		p = &N.q[N.nq++];
		p->due = wheel_now(W) + nrand() % 400; /* reordering */
		p->to_server = to_server;
		p->len = len;
		memcpy(p->buf, buf, len);
	}
}

static int net_send(void *arg, const void *buf, size_t len, const struct sockaddr *to,
		    socklen_t tolen, uint64_t conn)
{
	(void)to;
	(void)tolen;
	(void)conn;
	enqueue_pkt(arg == (void *)&N.cl, buf, len);
	return 0;
}

static void net_result(void *arg, struct tx *tx, int err, const struct sip_msg *resp)
{
	result_cb(arg, tx, err, resp);
}

static unsigned index_of(struct sip_str callid)
{
	/* Call-ID "c-<branch>": find which request it is */
	for (unsigned i = 0; i < NTX; i++)
		if (callid.len == 2 + TX_BRANCH_LEN &&
		    memcmp(callid.p + 2, N.branch[i], TX_BRANCH_LEN) == 0)
			return i;
	cr_assert_fail("unknown Call-ID");
	return 0;
}

static void deliver(struct pkt *p)
{
	struct pmsg m;
	struct tx *tx = NULL;
	int r;

	memcpy(m.buf, p->buf, p->len);
	m.len = p->len;
	pparse(&m);
	if (!p->to_server) {
		/* the response's branch names the owner worker (3 here) */
		if (tx_branch_worker(m.v[0].branch) != 3)
			N.wrong_worker++;
		r = tx_client_response(N.cl, &m.m, &m.v[0]);
		cr_assert(r == 0 || r == -ENOENT, "client response: %d", r);
		return;
	}
	struct sockaddr_in src = {.sin_family = AF_INET, .sin_port = htons(5060)};
	struct tx_dest d = {(struct sockaddr *)&src, sizeof(src), 0, false};

	r = tx_server_request(N.sv, &m.m, &m.v[0], &d, &tx);
	cr_assert(r == TX_NEW || r == TX_ABSORBED, "server request: %d", r);
	if (r == TX_NEW) {
		unsigned i = index_of(m.m.call_id);
		char resp[640];
		int n;

		N.processed[i]++;
		n = snprintf(resp, sizeof(resp),
			     "SIP/2.0 200 OK\r\n"
			     "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=%s\r\n"
			     "From: <sip:alice@example.com>;tag=a1\r\n"
			     "To: <sip:alice@example.com>;tag=b2\r\n"
			     "Call-ID: c-%s\r\n"
			     "CSeq: 7 REGISTER\r\n"
			     "Content-Length: 0\r\n\r\n",
			     N.branch[i], N.branch[i]);
		cr_assert_eq(tx_server_reply(N.sv, tx, 200, resp, (size_t)n), 0);
	}
}

static void net_run_until(uint64_t t)
{
	for (;;) {
		uint64_t next = wheel_next_deadline(W);
		unsigned first = NPKT;

		for (unsigned i = 0; i < N.nq; i++)
			if (first == NPKT || N.q[i].due < N.q[first].due)
				first = i;
		if (first != NPKT && N.q[first].due < next)
			next = N.q[first].due;
		if (next > t)
			break;
		cr_assert_geq(wheel_advance(W, next), 0);
		if (first != NPKT && N.q[first].due <= next) {
			struct pkt p = N.q[first];

			N.q[first] = N.q[--N.nq];
			deliver(&p);
		}
	}
	wheel_advance(W, t);
}

static void lossy_run(unsigned loss, unsigned dup, uint64_t seed, unsigned min_ok)
{
	struct tx_layer_opts oc = {.worker = 3, .clock = vclock_fn},
			     os = {.worker = 0, .clock = vclock_fn};
	struct tx_stats sc, ss;
	unsigned ok = 0, timeouts = 0;

	memset(&N, 0, sizeof(N));
	N.rng = seed;
	N.loss_pct = loss;
	N.dup_pct = dup;
	cr_assert_eq(tx_layer_new(&N.cl, W, &oc, net_send, &N.cl), 0);
	cr_assert_eq(tx_layer_new(&N.sv, W, &os, net_send, &N.sv), 0);
	for (unsigned i = 0; i < NTX; i++) {
		struct pmsg req;
		struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(5060)};
		struct tx_dest d = {(struct sockaddr *)&to, sizeof(to), 0, false};

		/* start them spread over 10 s */
		net_run_until(T0 + i * 33);
		cr_assert_eq(tx_branch_make(N.cl, N.branch[i], sizeof(N.branch[i])),
			     (int)TX_BRANCH_LEN);
		mkreq(&req, "REGISTER", N.branch[i], "192.0.2.1", 5060);
		cr_assert_eq(tx_client_start(N.cl, NULL,
					     sip_str_make(N.branch[i], TX_BRANCH_LEN),
					     SIP_STR("REGISTER"), req.buf, req.len, &d, net_result,
					     &N.res[i]),
			     0);
	}
	net_run_until(T0 + 120000);
	for (unsigned i = 0; i < NTX; i++) {
		cr_assert_eq(N.res[i].calls, 1, "transaction %u: %u results", i, N.res[i].calls);
		cr_assert_leq(N.processed[i], 1, "request %u processed %u times", i,
			      N.processed[i]);
		if (N.res[i].err == 0) {
			cr_assert_eq(N.res[i].status, 200);
			cr_assert_eq(N.processed[i], 1);
			ok++;
		} else {
			cr_assert_eq(N.res[i].err, -ETIMEDOUT);
			timeouts++;
		}
	}
	tx_layer_stats(N.cl, &sc);
	tx_layer_stats(N.sv, &ss);
	cr_assert_eq(sc.live, 0);
	cr_assert_eq(ss.live, 0, "Timer J must have ended every server transaction");
	cr_assert_eq(N.wrong_worker, 0);
	cr_assert_geq(ok, min_ok, "only %u of %u succeeded", ok, NTX);
	cr_log_info("loss %u%% dup %u%%: %u ok, %u timeouts, client retransmits %llu, "
		    "server absorbed %llu, client absorbed %llu",
		    loss, dup, ok, timeouts, (unsigned long long)sc.retransmits,
		    (unsigned long long)ss.absorbed, (unsigned long long)sc.absorbed);
	tx_layer_free(N.cl);
	tx_layer_free(N.sv);
}

Test(transaction, lossy_network_no_loss)
{
	lossy_run(0, 0, 1, NTX);
}

Test(transaction, lossy_network_30pct_loss_20pct_dup)
{
	/* 11 tries each way at 30% loss: a failure needs every exchange lost */
	lossy_run(30, 20, 0xfeedULL, NTX - 3);
}

Test(transaction, lossy_network_90pct_loss)
{
	/* most fail: each still reports exactly once, no request twice */
	lossy_run(90, 30, 0xbeefULL, 0);
}

/* ------------------------------------------------------------------------ */
/* The match index and the Timer J ring, at scale                            */

/* A request built without the parser (what tx_server_request() reads of
 * it: the method and the top Via's branch, host and port). */
struct fake_req {
	struct sip_msg m;
	struct sip_via v;
	char branch[48];
	char host[32];
};

static void fake_req(struct fake_req *q, unsigned i, unsigned variant)
{
	int n;

	memset(q, 0, sizeof(*q));
	/* branches of many lengths, hosts of two shapes */
	n = snprintf(q->branch, sizeof(q->branch), "z9hG4bK%0*u-%x", (int)(1 + i % 13), i,
		     variant);
	cr_assert(n > 0 && (size_t)n < sizeof(q->branch));
	n = snprintf(q->host, sizeof(q->host), i % 3 ? "198.51.100.%u" : "h%u.example.net",
		     i % 251);
	cr_assert(n > 0 && (size_t)n < sizeof(q->host));
	q->m.is_request = true;
	q->m.method = SIP_STR("REGISTER");
	q->m.method_id = SIP_METHOD_REGISTER;
	q->v.branch = sip_str_make(q->branch, strlen(q->branch));
	q->v.host = sip_str_make(q->host, strlen(q->host));
	q->v.port = (uint16_t)(5060 + i % 7);
}

static struct tx_layer *mklayer_t1(size_t max_tx, uint32_t t1)
{
	struct tx_layer *l = NULL;
	struct tx_layer_opts o = {.max_tx = max_tx, .clock = vclock_fn, .t1_ms = t1};

	cr_assert_eq(tx_layer_new(&l, W, &o, fake_send, NULL), 0);
	return l;
}

static uint64_t xrand(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * UINT64_C(2685821657736338717);
}

/* Every lookup against a reference model through 200,000 random steps of
 * inserts (new requests), removals (abandon, Timer J ending) and
 * retransmissions: the index grows from its minimum, runs wrap and are
 * shifted back on removal. A retransmission of a completed one must get
 * its own stored response (so a lookup finds that entry, not another). */
#define IXN 6000u
Test(transaction, index_lookup_after_many_inserts_and_removals)
{
	static struct {
		struct tx *tx;
		uint64_t end; /* completed: Timer J's end; 0: waiting for a reply */
		bool live;
		unsigned variant;
	} ref[IXN];
	struct tx_layer *l = mklayer_t1(0, 2); /* J = 128 ms */
	struct tx_dest d = udp_dest();
	struct tx_stats st;
	uint64_t rng = 0x1234567ULL, now = T0;
	unsigned nlive = 0, news = 0, absorbed = 0, ended = 0;

	memset(ref, 0, sizeof(ref));
	for (unsigned step = 0; step < 200000; step++) {
		uint64_t x = xrand(&rng);
		unsigned i = (unsigned)(x % IXN);
		struct fake_req q;
		struct tx *tx = NULL;
		char resp[64];
		int r, n;

		if (step % 64 == 63) { /* time passes: some Timer J end */
			now += 1 + (x >> 40) % 3;
			run_until(now);
			for (unsigned k = 0; k < IXN; k++)
				if (ref[k].live && ref[k].end && ref[k].end <= now) {
					ref[k].live = false;
					nlive--;
					ended++;
				}
			tx_layer_stats(l, &st);
			cr_assert_eq(st.live, nlive, "step %u", step);
		}
		nsent = 0;
		fake_req(&q, i, ref[i].variant);
		r = tx_server_request(l, &q.m, &q.v, &d, &tx);
		if (!ref[i].live) {
			cr_assert_eq(r, TX_NEW, "step %u: %u not live but matched", step, i);
			ref[i].tx = tx;
			ref[i].live = true;
			ref[i].end = 0;
			nlive++;
			news++;
			continue;
		}
		cr_assert_eq(r, TX_ABSORBED, "step %u: live %u not found", step, i);
		absorbed++;
		if (ref[i].end) {
			n = snprintf(resp, sizeof(resp), "SIP/2.0 200 OK\r\nX: %u-%u\r\n\r\n", i,
				     ref[i].variant);
			cr_assert_eq(nsent, 1);
			cr_assert_eq(sent[0].len, (size_t)n);
			cr_assert_arr_eq(sent[0].buf, resp, (size_t)n, "step %u: %u", step, i);
			continue;
		}
		cr_assert_eq(nsent, 0, "no response yet: nothing sent again");
		if ((x >> 32) % 4 == 0) { /* the TU drops it: removed at once */
			cr_assert_eq(tx_abandon(l, ref[i].tx), 0);
			ref[i].live = false;
			ref[i].variant++; /* the next one is another request */
			nlive--;
		} else { /* the final: lives for Timer J */
			n = snprintf(resp, sizeof(resp), "SIP/2.0 200 OK\r\nX: %u-%u\r\n\r\n", i,
				     ref[i].variant);
			cr_assert_eq(tx_server_reply(l, ref[i].tx, 200, resp, (size_t)n), 0);
			ref[i].end = now + 128;
		}
	}
	tx_layer_stats(l, &st);
	cr_assert_eq(st.live, nlive);
	cr_assert_gt(news, 50000);
	cr_assert_gt(absorbed, 50000);
	cr_assert_gt(ended, 20000);
	/* everything ends with Timer J or by abandon; then all are new again */
	for (unsigned k = 0; k < IXN; k++)
		if (ref[k].live && !ref[k].end)
			cr_assert_eq(tx_abandon(l, ref[k].tx), 0);
	run_until(now + 128);
	tx_layer_stats(l, &st);
	cr_assert_eq(st.live, 0);
	for (unsigned k = 0; k < IXN; k++) {
		struct fake_req q;
		struct tx *tx;

		fake_req(&q, k, ref[k].variant);
		cr_assert_eq(tx_server_request(l, &q.m, &q.v, &d, &tx), TX_NEW);
		cr_assert_eq(tx_abandon(l, tx), 0);
	}
	tx_layer_free(l);
}

/* 200,000 live server transactions: the index passes 2 MiB (its own
 * mapping) and grows again there; each is found, none is found twice,
 * and each ends with Timer J in the order they completed. */
Test(transaction, index_large_and_timer_j_ring_in_order)
{
	enum { NBIG = 200000 };
	struct tx_layer *l = mklayer(0, 0);
	struct tx_dest d = udp_dest();
	struct tx_stats st;
	static const char ok[] = "SIP/2.0 200 OK\r\n\r\n";

	for (unsigned i = 0; i < NBIG; i++) {
		struct fake_req q;
		struct tx *tx;

		if (i % 1000 == 0)
			run_until(T0 + i / 1000); /* 1 ms per thousand */
		fake_req(&q, i, 0);
		cr_assert_eq(tx_server_request(l, &q.m, &q.v, &d, &tx), TX_NEW, "%u", i);
		nsent = 0;
		cr_assert_eq(tx_server_reply(l, tx, 200, ok, sizeof(ok) - 1), 0);
	}
	tx_layer_stats(l, &st);
	cr_assert_eq(st.live, NBIG);
	for (unsigned i = 0; i < NBIG; i += 7) {
		struct fake_req q;
		struct tx *tx = NULL;

		nsent = 0;
		fake_req(&q, i, 0);
		cr_assert_eq(tx_server_request(l, &q.m, &q.v, &d, &tx), TX_ABSORBED, "%u", i);
		cr_assert_eq(nsent, 1);
		fake_req(&q, i, 1); /* another branch: not a retransmission */
		cr_assert_eq(tx_server_request(l, &q.m, &q.v, &d, &tx), TX_NEW, "%u", i);
		cr_assert_eq(tx_abandon(l, tx), 0);
	}
	/* Timer J (32 s): the thousand completed in ms k end at ms k + 32000 */
	for (unsigned k = 0; k < NBIG / 1000; k++) {
		run_until(T0 + k + 32000 - 1);
		tx_layer_stats(l, &st);
		cr_assert_eq(st.live, NBIG - k * 1000, "ms %u: live %llu", k,
			     (unsigned long long)st.live);
		run_until(T0 + k + 32000);
		tx_layer_stats(l, &st);
		cr_assert_eq(st.live, NBIG - (k + 1) * 1000);
	}
	tx_layer_free(l);
}

/* Timer J on time for each, from the clock when it is ahead of the wheel;
 * the ring wraps and then grows (more than its first 256 slots) while
 * wrapped; a Completed server cannot be ended early (only Timer J ends
 * it), so a ring entry always meets its transaction. */
Test(transaction, timer_j_ring_wraps_grows_and_ends_on_time)
{
	struct tx_layer *l = mklayer(0, 0);
	struct tx_dest d = udp_dest();
	struct tx_stats st;
	static const char ok[] = "SIP/2.0 200 OK\r\n\r\n";
	static uint64_t end[700];
	unsigned n = 0, gone = 0;

	/* 200 completed, 20 ms apart, the clock 3 ms ahead of the wheel */
	for (; n < 200; n++) {
		struct fake_req q;
		struct tx *tx;

		run_until(T0 + 20 * n);
		vclock = T0 + 20 * n + 3;
		fake_req(&q, n, 0);
		cr_assert_eq(tx_server_request(l, &q.m, &q.v, &d, &tx), TX_NEW);
		nsent = 0;
		cr_assert_eq(tx_server_reply(l, tx, 200, ok, sizeof(ok) - 1), 0);
		cr_assert_eq(tx_abandon(l, tx), -EINVAL, "Completed: only Timer J ends it");
		end[n] = vclock + 32000;
	}
	vclock = 0;
	/* 150 of them end (the ring's head moves on), then 500 more complete:
	 * the ring wraps, fills its 256 slots and doubles */
	for (; gone < 150; gone++) {
		struct fake_req q;
		struct tx *tx = NULL;

		run_until(end[gone] - 1);
		fake_req(&q, gone, 0);
		cr_assert_eq(tx_server_request(l, &q.m, &q.v, &d, &tx), TX_ABSORBED, "%u", gone);
		run_until(end[gone]);
		cr_assert_eq(tx_server_request(l, &q.m, &q.v, &d, &tx), TX_NEW, "%u", gone);
		cr_assert_eq(tx_abandon(l, tx), 0);
	}
	for (; n < 700; n++) {
		struct fake_req q;
		struct tx *tx;

		fake_req(&q, n, 0);
		cr_assert_eq(tx_server_request(l, &q.m, &q.v, &d, &tx), TX_NEW);
		nsent = 0;
		cr_assert_eq(tx_server_reply(l, tx, 200, ok, sizeof(ok) - 1), 0);
		end[n] = wheel_now(W) + 32000;
		if (n % 50 == 49) /* 10 ms in all: before the next of the first end */
			run_until(wheel_now(W) + 1);
	}
	tx_layer_stats(l, &st);
	cr_assert_eq(st.live, 700 - 150);
	for (; gone < 700; gone++) {
		unsigned due = 0; /* those due at the same ms end together */

		if (end[gone] - 1 > wheel_now(W)) {
			run_until(end[gone] - 1);
			for (unsigned k = 0; k < 700; k++)
				due += end[k] <= wheel_now(W);
			tx_layer_stats(l, &st);
			cr_assert_eq(st.live, 700 - due, "%u not ended early", gone);
		}
		run_until(end[gone]);
		due = 0;
		for (unsigned k = 0; k < 700; k++)
			due += end[k] <= wheel_now(W);
		tx_layer_stats(l, &st);
		cr_assert_eq(st.live, 700 - due, "%u ended on time", gone);
	}
	tx_layer_stats(l, &st);
	cr_assert_eq(st.live, 0);
	tx_layer_free(l);
}

/* max_tx reached: a new request is refused (-ENOBUFS, the TU answers it
 * statelessly), a retransmission of a live one is still absorbed, a client
 * start is refused too; Timer J's end makes room again. Freeing a layer
 * with both rings full of waiting transactions leaks nothing (ASan). */
Test(transaction, full_table)
{
	struct tx_layer *l = mklayer(0, 64);
	struct tx_dest d = udp_dest();
	struct tx_stats st;
	static const char ok[] = "SIP/2.0 200 OK\r\n\r\n";
	struct fake_req q;
	struct tx *tx = NULL;
	struct pmsg req;
	struct result res = {0};
	char br[TX_BRANCH_LEN + 1];

	for (unsigned i = 0; i < 64; i++) {
		fake_req(&q, i, 0);
		cr_assert_eq(tx_server_request(l, &q.m, &q.v, &d, &tx), TX_NEW);
		nsent = 0;
		cr_assert_eq(tx_server_reply(l, tx, 200, ok, sizeof(ok) - 1), 0);
	}
	fake_req(&q, 64, 0);
	cr_assert_eq(tx_server_request(l, &q.m, &q.v, &d, &tx), -ENOBUFS);
	cr_assert_eq(start(l, &req, br, "REGISTER", &d, &res, &tx), -ENOBUFS);
	fake_req(&q, 63, 0);
	nsent = 0;
	cr_assert_eq(tx_server_request(l, &q.m, &q.v, &d, &tx), TX_ABSORBED);
	cr_assert_eq(nsent, 1);
	run_until(T0 + 32000);
	tx_layer_stats(l, &st);
	cr_assert_eq(st.live, 0);
	/* room again: 63 servers, one client completed (Timer K ring) */
	for (unsigned i = 64; i < 64 + 63; i++) {
		fake_req(&q, i, 0);
		cr_assert_eq(tx_server_request(l, &q.m, &q.v, &d, &tx), TX_NEW);
		nsent = 0;
		cr_assert_eq(tx_server_reply(l, tx, 200, ok, sizeof(ok) - 1), 0);
	}
	nsent = 0;
	cr_assert_eq(start(l, &req, br, "REGISTER", &d, &res, &tx), 0);
	cr_assert_eq(respond(l, 200, br, "REGISTER"), 0);
	cr_assert_eq(res.calls, 1);
	fake_req(&q, 200, 0);
	cr_assert_eq(tx_server_request(l, &q.m, &q.v, &d, &tx), -ENOBUFS);
	tx_layer_free(l);
}

/* Responses of changing sizes (the kept copy's buffer grows and shrinks
 * between transactions): each retransmission gets its own, whole. */
Test(transaction, server_responses_of_changing_sizes)
{
	struct tx_layer *l = mklayer(0, 0);
	struct tx_dest d = udp_dest();
	static const unsigned sizes[] = {40, 900, 30, 30, 1000, 64, 1};
	enum { NS = sizeof(sizes) / sizeof(sizes[0]) };
	char resp[NS][1000];

	for (unsigned i = 0; i < NS; i++) {
		struct fake_req q;
		struct tx *tx;

		memset(resp[i], 'a' + (int)i, sizes[i]);
		fake_req(&q, i, 0);
		cr_assert_eq(tx_server_request(l, &q.m, &q.v, &d, &tx), TX_NEW);
		nsent = 0;
		cr_assert_eq(tx_server_reply(l, tx, 200, resp[i], sizes[i]), 0);
	}
	for (unsigned i = 0; i < NS; i++) {
		struct fake_req q;
		struct tx *tx = NULL;

		nsent = 0;
		fake_req(&q, i, 0);
		cr_assert_eq(tx_server_request(l, &q.m, &q.v, &d, &tx), TX_ABSORBED);
		cr_assert_eq(nsent, 1);
		cr_assert_eq(sent[0].len, sizes[i]);
		cr_assert_arr_eq(sent[0].buf, resp[i], sizes[i], "response %u", i);
	}
	tx_layer_free(l);
}
