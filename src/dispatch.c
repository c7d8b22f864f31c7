/* SPDX-License-Identifier: MIT */
/*
 * dispatch.c - one received message through a worker: parse, answer the
 * malformed, server transaction, method; responses to our own requests to
 * their client transaction, here or on the owner worker. Nothing allocates
 * here: the header array, the response and the salvage copy live in the
 * worker. See worker.h.
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "sipreg/clock.h"
#include "sipreg/log.h"
#include "sipreg/trace.h"
#include "trace/hook.h"
#include "worker.h"

int worker_send(void *arg, const void *buf, size_t len, const struct sockaddr *dst,
                socklen_t dstlen, uint64_t conn)
{
	struct worker *w = arg;
	const char *b = buf;
	int r;

	if (conn & WORKER_CONN_TCP)
		r = tcp_send(w->tcp, worker_conn_handle(conn), buf, len);
	else if (conn < w->nudp)
		r = udp_send_queue(w->udp[conn], buf, len, dst, dstlen);
	else
		r = -EINVAL;
	if (r < 0) {
		STAT_INC(w->st.tx_errors);
		return r;
	}
	if (sip_unlikely(trace_is_on() != NULL)) /* off: one relaxed load */
		trace_worker_out(w, buf, len, dst, dstlen, conn);
	if (conn & WORKER_CONN_TCP)
		STAT_INC(w->st.tx_tcp);
	else
		STAT_INC(w->st.tx_udp);
	if (len > 9 && memcmp(b, "SIP/2.0 ", 8) == 0 && b[8] >= '1' && b[8] <= '6')
		STAT_INC(w->st.sent[b[8] - '0']);
	return 0;
}

/* A stateless answer already written to w->out (n bytes, or an error). */
static void send_out(struct worker *w, const struct pkt *p, int n)
{
	if (n <= 0) {
		STAT_INC(w->st.unanswerable);
		return;
	}
	worker_send(w, w->out, (size_t)n, p->src, p->srclen, p->conn);
}

static int top_via(const struct sip_msg *m, struct sip_via *v)
{
	const struct sip_hdr *h = sip_msg_hdr(m, SIP_HDR_VIA);
	struct sip_str rest;

	if (!h)
		return -EBADMSG;
	rest = h->value;
	return sip_via_next(&rest, v, NULL) == 1 ? 0 : -EBADMSG;
}

/* REGISTER through the registrar: *status 0 when it is dropped. */
static int do_register(struct worker *w, const struct pkt *p, const struct sip_msg *m,
                       const struct sip_reg *reg, const struct sip_via *top,
                       const struct registrar_hint *hint, unsigned *status)
{
	struct registrar_src src = {
	        .addr = p->src,
	        .transport = p->tcp ? LOC_TCP : LOC_UDP,
	        .conn = p->tcp ? p->conn : 0,
	        .top_via = top, /* parsed once, here: the NAT check reads it */
	        .hint = hint,
	};
	struct registrar_result res;
	uint64_t t0;
	int r;

	if (!w->eng->registrar) {
		*status = 503;
		return respond_status(w, p, m, 503, NULL, false);
	}
	/* one clock read for both the latency and the registrar's now (both
	 * CLOCK_MONOTONIC, clock.h; clock_now_ms() truncates the same way) */
	t0 = clock_now_ns();
	if (reg)
		r = registrar_handle_reg(w->eng->registrar, reg, &src, t0 / 1000000,
		                         time(NULL), w->out, sizeof(w->out), &res, &w->rst);
	else
		r = registrar_handle(w->eng->registrar, m, &src, t0 / 1000000, time(NULL),
		                     w->out, sizeof(w->out), &res, &w->rst);
	worker_lat_record(&w->st, clock_now_ns() - t0);
	if (r < 0)
		return r;
	*status = res.status;
	return (int)res.len;
}

/* The answer of a valid request, by method, into w->out: its length, 0 for
 * no answer, < 0 when none can be written. */
static int answer(struct worker *w, const struct pkt *p, const struct sip_msg *m,
                  const struct sip_reg *reg, const struct sip_via *top,
                  const struct registrar_hint *hint, unsigned *status)
{
	switch (m->method_id) {
	case SIP_METHOD_OPTIONS:
		*status = 200;
		return respond_options(w, p, m);
	case SIP_METHOD_REGISTER:
		return do_register(w, p, m, reg, top, hint, status);
	case SIP_METHOD_OTHER:
		*status = 501;
		return respond_status(w, p, m, 501, NULL, true);
	default:
		*status = 405;
		return respond_status(w, p, m, 405, NULL, true);
	}
}

/* Is the socket p came in on overloaded (udp.c: its receive queue holds at
 * least UDP_SHED_FILL of its buffer)? TCP is never shed here. */
static bool shedding(const struct worker *w, const struct pkt *p)
{
	return !p->tcp && !p->handed && p->conn < w->nudp &&
	       udp_sock_load(w->udp[p->conn]) >= UDP_LOAD_SHED;
}

/* Overload: a new REGISTER (no credentials: no work of ours invested in it
 * yet) gets a stateless 503 with Retry-After, so that the worker's time goes
 * to the registrations already challenged; the registrar never sees it. */
static void shed_register(struct worker *w, const struct pkt *p, const struct sip_msg *m)
{
	int n = respond_overload(w, p, m, WORKER_RETRY_AFTER_S);

	if (n <= 0) {
		STAT_INC(w->st.unanswerable);
		return;
	}
	STAT_INC(w->st.shed_503);
	worker_send(w, w->out, (size_t)n, p->src, p->srclen, p->conn);
}

/* The transaction table holds max_transactions (config.h) and this request
 * is answered without one: a retransmission of it will be processed again
 * instead of absorbed. Counted; logged at the 1st, 2nd, 4th, 8th, ... time
 * (a power of two: no lock or clock on a path that may run 100,000 times a
 * second, and the log still says it goes on). */
static void tx_table_full(struct worker *w)
{
	uint64_t n = w->st.tx_full + 1;

	STAT_INC(w->st.tx_full);
	if ((n & (n - 1)) == 0)
		log_warn("transactions_full",
			 "worker=%u max_transactions=%u full_total=%llu (requests answered "
			 "without a transaction: raise max_transactions or add workers)",
			 w->id, w->eng->max_tx, (unsigned long long)n);
}

/* reg: sip_reg_parse's view of m (a datagram starting "REGISTER "), or
 * NULL. */
static void on_request(struct worker *w, const struct pkt *p, const struct sip_msg *m,
                       const struct sip_reg *reg)
{
	struct sip_err err = {0};
	struct sip_via top;
	struct tx_dest dest = {p->src, p->srclen, p->conn, p->tcp};
	struct registrar_hint hint = {.set = false};
	struct tx *tx = NULL;
	unsigned status = 0;
	int r, n;

	if (reg ? reg->valid_rc < 0 : sip_msg_validate(m, &err) < 0) {
		if (reg)
			err = reg->valid_err;
		STAT_INC(w->st.err_invalid);
		send_out(w, p, respond_status(w, p, m, 400, err.reason, false));
		return;
	}
	STAT_INC(w->st.req[m->method_id < WORKER_METHODS ? m->method_id : 0]);
	if (m->method_id == SIP_METHOD_ACK)
		return;
	if (m->method_id == SIP_METHOD_OPTIONS) {
		/* Stateless (RFC 3261 §8.2.7, Kamailio's sl): the answer is a pure
		 * function of the request (the To tag is a keyed hash of Call-ID
		 * and CSeq), so a retransmission gets the identical answer
		 * without 32 s (Timer J) of transaction state per ping. */
		send_out(w, p, respond_options(w, p, m));
		return;
	}
	if (reg && reg->via_rc == 1) {
		top = reg->via; /* the only hop: the first hop of the first Via */
	} else if (top_via(m, &top) < 0) {
		STAT_INC(w->st.unanswerable); /* sip_write_response() would refuse */
		return;
	}
	/* A REGISTER without credentials is answered statelessly too: the
	 * registrar changes no binding for it (a fresh 401, or 403 or 4xx), so
	 * a retransmission is safely answered afresh. Half of every
	 * registration's server transactions, 32 s of Timer J state each, never
	 * exist (measured: 1.2M live at 38,000 registrations/s).
	 * RFC 3261: a stateless UAS (§8.2.7) sends no provisional response and
	 * never retransmits one (none here), and makes its To tag the same for
	 * the same request (a keyed hash of Call-ID and CSeq: the registrar's
	 * tag). What §17.2.2's transaction would have added is the identical
	 * answer to a retransmission; here a retransmission gets a 401 with a
	 * new nonce, and both nonces verify (they are stateless, nonce.h), so
	 * the UA may answer whichever reached it. Its client transaction
	 * (§17.1.2) takes the first response; a later one is absorbed by it, or
	 * dropped as stray after Timer K (§18.1.2). The REGISTER with
	 * credentials keeps its transaction: its 200 follows a binding change
	 * and a nonce-count commit, which a re-run would not repeat (the
	 * retransmission would get 401 stale or 500, not the 200 it lost). */
	if (m->method_id == SIP_METHOD_REGISTER &&
	    !sip_msg_hdr(m, SIP_HDR_AUTHORIZATION)) {
		if (shedding(w, p)) {
			shed_register(w, p, m);
			return;
		}
		r = -EAGAIN; /* any value but TX_NEW / TX_ABSORBED: no transaction */
	} else {
		/* the registrar's table slots load during the transaction lookup */
		if (reg && m->method_id == SIP_METHOD_REGISTER && w->eng->registrar)
			registrar_prefetch_reg(w->eng->registrar, reg, &hint);
		r = tx_server_request(w->tx, m, &top, &dest, &tx);
	}
	if (r == TX_ABSORBED) {
		STAT_INC(w->st.absorbed);
		return;
	}
	if (r != TX_NEW) {
		tx = NULL; /* RFC 2543 branch, INVITE, table full: stateless */
		if (r == -ENOBUFS)
			tx_table_full(w);
	}
	n = answer(w, p, m, reg, &top, &hint, &status);
	if (n <= 0 || status == 0) {
		if (tx)
			tx_abandon(w->tx, tx);
		if (status == 0 && n >= 0 && m->method_id == SIP_METHOD_REGISTER)
			STAT_INC(w->st.reg_dropped);
		else
			STAT_INC(w->st.unanswerable);
		return;
	}
	if (tx)
		tx_server_reply(w->tx, tx, status, w->out, (size_t)n);
	else
		worker_send(w, w->out, (size_t)n, p->src, p->srclen, p->conn);
}

static void on_response(struct worker *w, const struct pkt *p, const struct sip_msg *m)
{
	struct sip_via top;
	int owner;

	STAT_INC(w->st.resp_rx);
	if (top_via(m, &top) < 0) {
		STAT_INC(w->st.resp_unmatched);
		return;
	}
	if (tx_client_response(w->tx, m, &top) == 0) {
		STAT_INC(w->st.resp_matched);
		return;
	}
	owner = tx_branch_worker(top.branch);
	if (!p->handed && !p->tcp && owner >= 0 && (unsigned)owner != w->id &&
	    (unsigned)owner < w->eng->n) {
		if (handoff_push(w->eng->w[owner].handoff, p->buf, p->len, p->src,
		                 p->srclen, w->id, (uint32_t)p->conn) == 0)
			STAT_INC(w->st.resp_handed_off);
		else
			STAT_INC(w->st.resp_handoff_failed);
		return;
	}
	STAT_INC(w->st.resp_unmatched);
}

/* A message the parser refused. */
static void on_parse_error(struct worker *w, const struct pkt *p, int r,
                           const struct sip_err *err)
{
	unsigned status;

	switch (r) {
	case -EBADMSG:
		STAT_INC(w->st.err_badmsg);
		status = 400;
		break;
	case -E2BIG:
		STAT_INC(w->st.err_toobig);
		status = 513;
		break;
	case -EPROTONOSUPPORT:
		STAT_INC(w->st.err_version);
		status = 505;
		break;
	default:
		STAT_INC(w->st.err_other);
		return;
	}
	send_out(w, p, respond_malformed(w, p, r, err, status));
}

/* A REGISTER over UDP, which the registration parser takes whole: its
 * fields are what the registrar reads (sip_reg_parse parses them with the
 * split, in one pass); any other message is split by sip_msg_parse and
 * each header parsed where it is used. */
static bool register_datagram(const struct pkt *p)
{
	return !p->tcp && p->len > 9 && memcmp(p->buf, "REGISTER ", 9) == 0;
}

void worker_message(struct worker *w, const struct pkt *p)
{
	static _Thread_local struct sip_contact contacts[REGISTRAR_MAX_CONTACTS];
	struct sip_reg reg;
	struct sip_msg m;
	struct sip_err err = {0};
	unsigned flags = p->tcp ? SIP_PARSE_STREAM : SIP_PARSE_DATAGRAM;
	bool is_reg = register_datagram(p);
	const struct sip_msg *mp = is_reg ? &reg.msg : &m;
	int r;

	if (is_reg)
		r = sip_reg_parse(&reg, p->buf, p->len, w->hdrs, WORKER_HDRS, contacts,
		                  REGISTRAR_MAX_CONTACTS, flags, &err);
	else
		r = sip_msg_parse(&m, p->buf, p->len, w->hdrs, WORKER_HDRS, flags, &err);
	if (sip_unlikely(trace_is_on() != NULL)) /* off: one relaxed load */
		trace_worker_in(w, p, r < 0 ? NULL : mp);
	if (r < 0) {
		on_parse_error(w, p, r, &err);
		return;
	}
	STAT_INC(w->st.parsed);
	if (mp->is_request)
		on_request(w, p, mp, is_reg ? &reg : NULL);
	else
		on_response(w, p, mp);
}
