/* SPDX-License-Identifier: MIT */
/*
 * Tests of the daemon's per-message path (src/dispatch.c, src/respond.c) on
 * workers built by engine_new() but driven on the test's thread (no worker
 * thread runs): a response to worker 1's client transaction that arrives
 * at worker 0 is handed off and completes the transaction; the answers
 * written for OPTIONS, a malformed and an oversize request reach the
 * sender.
 */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "engine.h"
#include "sipreg/config.h"
#include "worker.h"

static struct config *cfg;
static struct engine *eng;
static int peer = -1;
static struct sockaddr_in peer_addr;

/* The tests feed worker_message() directly; the loops never run. */
static void not_read(void *arg, struct udp_sock *s, const char *buf, size_t len,
                     const struct sockaddr *src, socklen_t srclen)
{
	(void)arg, (void)s, (void)buf, (void)len, (void)src, (void)srclen;
}

static void setup_with(const char *conf, unsigned nworkers)
{
	socklen_t len = sizeof(peer_addr);
	struct timeval tv = {.tv_sec = 1};

	cr_assert_eq(config_load_string(&cfg, conf, "t", NULL), 0);
	cr_assert_eq(engine_new(&eng, cfg, NULL), 0);
	peer = socket(AF_INET, SOCK_DGRAM, 0);
	peer_addr = (struct sockaddr_in){.sin_family = AF_INET,
	                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	cr_assert_eq(bind(peer, (struct sockaddr *)&peer_addr, sizeof(peer_addr)), 0);
	getsockname(peer, (struct sockaddr *)&peer_addr, &len);
	setsockopt(peer, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	/* One UDP socket per worker, as engine_start() would bind. */
	for (unsigned i = 0; i < nworkers; i++) {
		struct worker *w = &eng->w[i];
		struct sockaddr_in a = {.sin_family = AF_INET,
		                        .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};

		cr_assert_eq(udp_sock_new(&w->udp[0], w->loop, (struct sockaddr *)&a,
		                          sizeof(a), NULL, not_read, w),
		             0);
		w->nudp = 1;
	}
}

static void setup(void)
{
	setup_with("[core]\nworkers = 2\n", 2);
}

static void teardown(void)
{
	engine_free(eng);
	config_free(cfg);
	if (peer >= 0)
		close(peer);
}

TestSuite(sipregd_dispatch, .init = setup, .fini = teardown, .timeout = 30);

/* Feed one datagram to worker i as if its socket had received it from peer. */
static void feed(unsigned i, const char *msg, size_t len)
{
	worker_message(&eng->w[i], &(struct pkt){msg, len, (struct sockaddr *)&peer_addr,
	                                         sizeof(peer_addr), 0, false, false});
	udp_flush(eng->w[i].udp[0]);
}

static ssize_t answer(char *buf, size_t cap)
{
	ssize_t n = recv(peer, buf, cap - 1, 0);

	if (n >= 0)
		buf[n] = 0;
	return n;
}

struct result {
	int calls;
	int err;
	unsigned status;
};

static void on_result(void *arg, struct tx *tx, int err, const struct sip_msg *resp)
{
	struct result *r = arg;

	(void)tx;
	r->calls++;
	r->err = err;
	r->status = resp ? resp->status : 0;
}

Test(sipregd_dispatch, response_reaches_the_owner_worker)
{
	struct worker *w0 = &eng->w[0], *w1 = &eng->w[1];
	struct tx_dest dest = {(struct sockaddr *)&peer_addr, sizeof(peer_addr), 0,
	                       false};
	struct result res = {0};
	char branch[TX_BRANCH_LEN + 1], req[512], resp[512], got[2048];
	int n;

	cr_assert_eq(tx_branch_make(w1->tx, branch, sizeof(branch)), (int)TX_BRANCH_LEN);
	cr_assert_eq(tx_branch_worker(sip_str_make(branch, TX_BRANCH_LEN)), 1);
	n = snprintf(req, sizeof(req),
	             "REGISTER sip:up.example SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;"
	             "branch=%s\r\nMax-Forwards: 70\r\nFrom: <sip:t@up.example>;tag=a\r\n"
	             "To: <sip:t@up.example>\r\nCall-ID: trunk1\r\nCSeq: 7 REGISTER\r\n"
	             "Content-Length: 0\r\n\r\n",
	             branch);
	cr_assert_eq(tx_client_start(w1->tx, NULL, sip_str_make(branch, TX_BRANCH_LEN),
	                             SIP_STR("REGISTER"), req, (size_t)n, &dest,
	                             on_result, &res),
	             0);
	udp_flush(w1->udp[0]);
	cr_assert_gt(answer(got, sizeof(got)), 0, "the request left worker 1's socket");

	n = snprintf(resp, sizeof(resp),
	             "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=%s\r\n"
	             "From: <sip:t@up.example>;tag=a\r\nTo: <sip:t@up.example>;tag=b\r\n"
	             "Call-ID: trunk1\r\nCSeq: 7 REGISTER\r\nContent-Length: 0\r\n\r\n",
	             branch);
	feed(0, resp, (size_t)n); /* the kernel's hash picked worker 0's socket */
	cr_assert_eq(w0->st.resp_handed_off, 1);
	cr_assert_eq(w0->st.resp_matched, 0);
	cr_assert_eq(res.calls, 0, "not completed before the owner runs");
	cr_assert_eq(handoff_drain(w1->handoff, 0), 1);
	cr_assert_eq(w1->st.rx_handoff, 1);
	cr_assert_eq(w1->st.resp_matched, 1);
	cr_assert_eq(res.calls, 1);
	cr_assert_eq(res.err, 0);
	cr_assert_eq(res.status, 200);

	/* A late copy: the owner has no transaction any more (absorbed or
	 * unmatched), and it is never handed off twice. */
	feed(0, resp, (size_t)n);
	cr_assert_eq(handoff_drain(w1->handoff, 0), 1);
	cr_assert_eq(res.calls, 1);
	cr_assert_eq(w0->st.resp_handed_off, 2);

	/* A branch no worker made: dropped where it arrived. */
	feed(0,
	     "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKother\r\nFrom: <sip:a@b>"
	     ";tag=1\r\nTo: <sip:a@b>\r\nCall-ID: x\r\nCSeq: 1 REGISTER\r\n\r\n",
	     strlen("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKother\r\nFrom: "
	            "<sip:a@b>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: x\r\nCSeq: 1 "
	            "REGISTER\r\n\r\n"));
	cr_assert_eq(w0->st.resp_unmatched, 1);
	cr_assert_eq(w0->st.resp_handed_off, 2);
}

#define OPTIONS_MSG                                                                      \
	"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP "                                   \
	"10.0.0.1:5070;branch=z9hG4bKo1;rport\r\n"                                       \
	"Max-Forwards: 70\r\nFrom: <sip:p@b>;tag=f\r\nTo: <sip:a@b>\r\nCall-ID: o1\r\n"  \
	"CSeq: 3 OPTIONS\r\nContent-Length: 0\r\n\r\n"

Test(sipregd_dispatch, options_answered_with_rport_and_received)
{
	char got[2048], again[2048], want[128];

	feed(0, OPTIONS_MSG, strlen(OPTIONS_MSG));
	cr_assert_gt(answer(got, sizeof(got)), 0);
	cr_assert(strncmp(got, "SIP/2.0 200 OK\r\n", 16) == 0, "%s", got);
	snprintf(want, sizeof(want), "branch=z9hG4bKo1;rport=%u;received=127.0.0.1\r\n",
	         ntohs(peer_addr.sin_port));
	cr_assert_not_null(strstr(got, want), "%s", got);
	cr_assert_not_null(strstr(got, "\r\nAllow: REGISTER, OPTIONS\r\n"));
	cr_assert_not_null(strstr(got, "\r\nAccept: application/sdp\r\n"));
	cr_assert_not_null(strstr(got, "\r\nTo: <sip:a@b>;tag="));
	cr_assert_not_null(strstr(got, "\r\nContent-Length: 0\r\n\r\n"));
	feed(0, OPTIONS_MSG, strlen(OPTIONS_MSG)); /* a retransmission */
	cr_assert_gt(answer(again, sizeof(again)), 0);
	cr_assert_str_eq(again, got);
	cr_assert_eq(eng->w[0].st.req[SIP_METHOD_OPTIONS], 2);
	cr_assert_eq(eng->w[0].st.sent[2], 2);
}

Test(sipregd_dispatch, malformed_answered_or_dropped)
{
	static const char bad_cl[] =
	        "OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKm1\r\n"
	        "Max-Forwards: 70\r\nFrom: <sip:p@b>;tag=f\r\nTo: <sip:a@b>\r\n"
	        "Call-ID: m1\r\nCSeq: 1 OPTIONS\r\nContent-Length: x\r\n\r\n";
	static const char no_via[] =
	        "OPTIONS sip:a@b SIP/2.0\r\nMax-Forwards: 70\r\nFrom: "
	        "<sip:p@b>;tag=f\r\nTo: <sip:a@b>\r\nCall-ID: m2\r\n"
	        "CSeq: 1 OPTIONS\r\nContent-Length: x\r\n\r\n";
	static const char bye[] =
	        "BYE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKm3\r\n"
	        "Max-Forwards: 70\r\nFrom: <sip:p@b>;tag=f\r\nTo: <sip:a@b>;tag=t\r\n"
	        "Call-ID: m3\r\nCSeq: 1 BYE\r\nContent-Length: 0\r\n\r\n";
	char big[8192], got[2048];
	int n;

	feed(0, bad_cl, sizeof(bad_cl) - 1);
	cr_assert_gt(answer(got, sizeof(got)), 0);
	cr_assert(strncmp(got, "SIP/2.0 400 ", 12) == 0, "%s", got);
	cr_assert_not_null(strstr(got, "Call-ID: m1\r\n"), "%s", got);
	cr_assert_eq(eng->w[0].st.err_badmsg, 1);

	feed(0, no_via, sizeof(no_via) - 1); /* nothing to answer to */
	cr_assert_eq(eng->w[0].st.unanswerable, 1);

	n = snprintf(big, sizeof(big), "%.*s", (int)(strlen(OPTIONS_MSG) - 2),
	             OPTIONS_MSG);
	for (int i = 0; i < WORKER_HDRS + 4; i++)
		n += snprintf(big + n, sizeof(big) - (size_t)n, "X-H%d: %d\r\n", i, i);
	n += snprintf(big + n, sizeof(big) - (size_t)n, "\r\n");
	feed(0, big, (size_t)n);
	cr_assert_gt(answer(got, sizeof(got)), 0);
	cr_assert(strncmp(got, "SIP/2.0 513 Message Too Large\r\n", 31) == 0, "%s", got);
	cr_assert_eq(eng->w[0].st.err_toobig, 1);

	feed(0, bye, sizeof(bye) - 1);
	cr_assert_gt(answer(got, sizeof(got)), 0);
	cr_assert(strncmp(got, "SIP/2.0 405 Method Not Allowed\r\n", 32) == 0, "%s", got);
	cr_assert_not_null(strstr(got, "\r\nAllow: REGISTER, OPTIONS\r\n"));

	/* REGISTER without a registrar service: 503, never a crash. */
	feed(0,
	     "REGISTER sip:b SIP/2.0\r\nVia: SIP/2.0/UDP "
	     "h;branch=z9hG4bKr1\r\nMax-Forwards:"
	     " 70\r\nFrom: <sip:a@b>;tag=f\r\nTo: <sip:a@b>\r\nCall-ID: r1\r\nCSeq: 1 "
	     "REGISTER\r\nContent-Length: 0\r\n\r\n",
	     strlen("REGISTER sip:b SIP/2.0\r\nVia: SIP/2.0/UDP "
	            "h;branch=z9hG4bKr1\r\nMax-"
	            "Forwards: 70\r\nFrom: <sip:a@b>;tag=f\r\nTo: <sip:a@b>\r\nCall-ID: "
	            "r1\r\n"
	            "CSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n"));
	cr_assert_gt(answer(got, sizeof(got)), 0);
	cr_assert(strncmp(got, "SIP/2.0 503 ", 12) == 0, "%s", got);
}

/* max_transactions reached: requests are still answered, without a
 * transaction (counted in tx_full), so their retransmissions are processed
 * again instead of absorbed; a request that got a transaction before keeps
 * it. The suite above's fixture is for two workers with the default limit;
 * this one builds its own engine with the smallest limit. */
static void full_setup(void)
{
	setup_with("[core]\nworkers = 1\nmax_transactions = 1024\n", 1);
}

TestSuite(sipregd_dispatch_full, .init = full_setup, .fini = teardown, .timeout = 30);

/* A REGISTER with credentials: it gets a server transaction (one without
 * would be answered statelessly, dispatch.c); with no registrar here its
 * answer is a 503, kept by the transaction for Timer J like any final. */
static size_t register_with_branch(char *buf, size_t cap, unsigned i)
{
	int n = snprintf(buf, cap,
	                 "REGISTER sip:b SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5070;"
	                 "branch=z9hG4bKfull%u;rport\r\nMax-Forwards: 70\r\nFrom: "
	                 "<sip:a@b>;tag=f\r\nTo: <sip:a@b>\r\nCall-ID: full%u\r\nCSeq: 3 "
	                 "REGISTER\r\nContact: <sip:a@10.0.0.1:5070>\r\nAuthorization: "
	                 "Digest username=\"a\", realm=\"b\", nonce=\"n\", uri=\"sip:b\", "
	                 "response=\"00000000000000000000000000000000\"\r\n"
	                 "Content-Length: 0\r\n\r\n",
	                 i, i);

	cr_assert(n > 0 && (size_t)n < cap);
	return (size_t)n;
}

Test(sipregd_dispatch_full, answered_without_a_transaction_past_the_limit)
{
	struct worker *w = &eng->w[0];
	char msg[512], got[2048];
	size_t len;

	cr_assert_eq(w->eng->max_tx, 1024);
	for (unsigned i = 0; i < 1024 + 3; i++) {
		len = register_with_branch(msg, sizeof(msg), i);
		feed(0, msg, len);
		cr_assert_gt(answer(got, sizeof(got)), 0, "request %u unanswered", i);
		cr_assert(strncmp(got, "SIP/2.0 503 ", 12) == 0, "%u: %s", i, got);
	}
	cr_assert_eq(w->st.tx_full, 3, "tx_full %llu", (unsigned long long)w->st.tx_full);
	cr_assert_eq(w->st.absorbed, 0);

	/* the first request's retransmission: its transaction absorbs it */
	len = register_with_branch(msg, sizeof(msg), 0);
	feed(0, msg, len);
	cr_assert_gt(answer(got, sizeof(got)), 0);
	cr_assert_eq(w->st.absorbed, 1);
	cr_assert_eq(w->st.tx_full, 3);

	/* the last one's: no transaction, processed (and answered) again */
	len = register_with_branch(msg, sizeof(msg), 1024 + 2);
	feed(0, msg, len);
	cr_assert_gt(answer(got, sizeof(got)), 0);
	cr_assert(strncmp(got, "SIP/2.0 503 ", 12) == 0, "%s", got);
	cr_assert_eq(w->st.absorbed, 1);
	cr_assert_eq(w->st.tx_full, 4);
	cr_assert_eq(w->st.req[SIP_METHOD_REGISTER], 1024 + 5);
}
