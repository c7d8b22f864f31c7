/* SPDX-License-Identifier: MIT */
/*
 * register.c - the REGISTER scenario: a registration per chain, answering a
 * 401 (WWW-Authenticate) or 407 (Proxy-Authenticate) with real digest
 * credentials computed for that request (MD5, SHA-256, SHA-512/256 and their
 * -sess forms, qop=auth or none: include/sipreg/digest.h), then counting the
 * final answer. Two round trips per authenticated registration.
 *
 * Users: thread t of T takes users t, t+T, t+2T, ... round robin, skipping a
 * user whose registration is still in flight, so one user never has two
 * transactions at once. Each user keeps one Call-ID for the run and a CSeq
 * that grows by one per request (RFC 3261 §10.2.4): its first registration is
 * a new binding, the later ones refresh it.
 *
 * The first request of a chain carries no credentials (as a UA that has no
 * nonce yet, or whose nonce went stale); the challenge is parsed with the
 * project's message parser (sip_msg_parse, sip_auth_parse) and answered with
 * digest_answer(). The cnonce is fresh per request (derived from its key).
 */
#include <errno.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sipreg/digest.h"
#include "sipreg/sip.h"
#include "sipreg/sip_write.h"

#include "loadgen.h"

#define MAX_HDRS 40

struct user_state {
	uint32_t cseq;
	bool busy;
};

struct register_sc {
	const struct lg_config *cfg;
	unsigned int tid, nthreads;
	uint32_t nmine;    /* users of this thread */
	uint32_t cursor;   /* next of mine to try */
	struct user_state *st;
	char nonce[9];
	unsigned int nlocal;
	char lhost[LG_MAX_SOCKETS][INET6_ADDRSTRLEN + 3];
	char lport[LG_MAX_SOCKETS][8];
};

static const char hexdig[] = "0123456789abcdef";

static void put_hex(char *p, uint64_t v, unsigned int digits)
{
	for (unsigned int i = digits; i-- > 0; v >>= 4)
		p[i] = hexdig[v & 15];
}

static void local_text(const struct lg_local *l, char *host, size_t hcap, char *port, size_t pcap)
{
	char a[INET6_ADDRSTRLEN];

	if (l->addr.ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&l->addr;

		inet_ntop(AF_INET6, &s6->sin6_addr, a, sizeof(a));
		snprintf(host, hcap, "[%s]", a);
		snprintf(port, pcap, "%u", ntohs(s6->sin6_port));
	} else {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)&l->addr;

		inet_ntop(AF_INET, &s4->sin_addr, a, sizeof(a));
		snprintf(host, hcap, "%s", a);
		snprintf(port, pcap, "%u", ntohs(s4->sin_port));
	}
}

static void register_destroy(void *arg)
{
	struct register_sc *sc = arg;

	if (!sc)
		return;
	free(sc->st);
	free(sc);
}

static int register_create(void **ret, const struct lg_config *cfg, unsigned int tid,
			   const struct lg_local *locals, unsigned int nlocal)
{
	struct register_sc *sc;

	if (nlocal > LG_MAX_SOCKETS || !cfg->nusers || !cfg->domain)
		return -EINVAL;
	sc = calloc(1, sizeof(*sc));
	if (!sc)
		return -ENOMEM;
	sc->cfg = cfg;
	sc->tid = tid;
	sc->nthreads = cfg->threads;
	sc->nmine = cfg->nusers / cfg->threads + (tid < cfg->nusers % cfg->threads);
	if (sc->nmine == 0) {
		free(sc);
		return -ENOENT; /* more threads than users */
	}
	sc->st = calloc(sc->nmine, sizeof(*sc->st));
	if (!sc->st) {
		free(sc);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < sc->nmine; i++)
		sc->st[i].cseq = 1;
	put_hex(sc->nonce, cfg->run_nonce, 8);
	sc->nonce[8] = '\0';
	sc->nlocal = nlocal;
	for (unsigned int i = 0; i < nlocal; i++)
		local_text(&locals[i], sc->lhost[i], sizeof(sc->lhost[i]), sc->lport[i],
			   sizeof(sc->lport[i]));
	*ret = sc;
	return 0;
}

static const char *user_name(const struct register_sc *sc, uint32_t mine)
{
	return sc->cfg->users[mine * sc->nthreads + sc->tid];
}

static const char *user_password(const struct register_sc *sc, uint32_t mine)
{
	const char *p = NULL;

	if (sc->cfg->passwords)
		p = sc->cfg->passwords[mine * sc->nthreads + sc->tid];
	return p ? p : sc->cfg->password;
}

/* Everything but Authorization and Content-Length. */
static void write_common(struct register_sc *sc, struct sip_write *w, const struct lg_req *req,
			 uint64_t key, uint32_t cseq)
{
	const char *user = user_name(sc, req->user), *dom = sc->cfg->domain;
	const char *lh = sc->lhost[req->sock], *lp = sc->lport[req->sock];
	char hex[16];

	sip_write_cstr(w, "REGISTER sip:");
	sip_write_cstr(w, dom);
	sip_write_cstr(w, sc->cfg->tcp ? " SIP/2.0\r\nVia: SIP/2.0/TCP " : " SIP/2.0\r\nVia: SIP/2.0/UDP ");
	sip_write_cstr(w, lh);
	sip_write_char(w, ':');
	sip_write_cstr(w, lp);
	sip_write_cstr(w, ";branch=z9hG4bKsb");
	sip_write_cstr(w, sc->nonce);
	sip_write_char(w, '.');
	put_hex(hex, key, 16);
	sip_write_mem(w, hex, 16);
	sip_write_cstr(w, ";rport\r\nMax-Forwards: 70\r\nFrom: <sip:");
	sip_write_cstr(w, user);
	sip_write_char(w, '@');
	sip_write_cstr(w, dom);
	sip_write_cstr(w, ">;tag=t");
	sip_write_cstr(w, sc->nonce);
	sip_write_char(w, '.');
	sip_write_mem(w, hex, 16);
	sip_write_cstr(w, "\r\nTo: <sip:");
	sip_write_cstr(w, user);
	sip_write_char(w, '@');
	sip_write_cstr(w, dom);
	/* One Call-ID per user for the whole run: sbr<nonce>.<user index>. */
	sip_write_cstr(w, ">\r\nCall-ID: sbr");
	sip_write_cstr(w, sc->nonce);
	sip_write_char(w, '.');
	sip_write_u32(w, req->user * sc->nthreads + sc->tid);
	sip_write_cstr(w, "@sipreg-bench\r\nCSeq: ");
	sip_write_u32(w, cseq);
	sip_write_cstr(w, " REGISTER\r\nContact: <sip:");
	sip_write_cstr(w, user);
	sip_write_char(w, '@');
	sip_write_cstr(w, lh);
	sip_write_char(w, ':');
	sip_write_cstr(w, lp);
	sip_write_cstr(w, sc->cfg->tcp ? ";transport=tcp>\r\nExpires: " : ">\r\nExpires: ");
	sip_write_u32(w, sc->cfg->expires);
	sip_write_cstr(w, "\r\nUser-Agent: sipreg-bench/0.1\r\n");
}

static int register_build(void *arg, struct lg_req *req, char *buf, size_t cap)
{
	struct register_sc *sc = arg;
	struct sip_write w;
	uint32_t tries;

	/* The next user of mine that has nothing in flight. */
	for (tries = 0; tries < sc->nmine; tries++) {
		uint32_t u = sc->cursor;

		sc->cursor = sc->cursor + 1 == sc->nmine ? 0 : sc->cursor + 1;
		if (!sc->st[u].busy) {
			req->user = u;
			break;
		}
	}
	if (tries == sc->nmine)
		return -EBUSY; /* window larger than this thread's users */
	sc->st[req->user].busy = true;
	sip_write_init(&w, buf, cap);
	write_common(sc, &w, req, req->key, sc->st[req->user].cseq++);
	sip_write_cstr(&w, "Content-Length: 0\r\n\r\n");
	return sip_write_result(&w);
}

/* The first challenge header of the answer: WWW-Authenticate for 401,
 * Proxy-Authenticate for 407. */
static int find_challenge(const struct lg_resp *resp, struct sip_auth *ch, bool *proxy)
{
	struct sip_hdr hdrs[MAX_HDRS];
	struct sip_msg m;
	struct sip_err err;
	enum sip_hdr_id id;
	int r;

	r = sip_msg_parse(&m, resp->buf, resp->len, hdrs, MAX_HDRS, SIP_PARSE_DATAGRAM, &err);
	if (r < 0)
		return r;
	*proxy = resp->status == 407;
	id = *proxy ? SIP_HDR_PROXY_AUTHENTICATE : SIP_HDR_WWW_AUTHENTICATE;
	if (!m.first[id])
		return -ENOENT;
	return sip_auth_parse(ch, hdrs[m.first[id] - 1].value, &err);
}

static int register_response(void *arg, struct lg_req *req, const struct lg_resp *resp,
			     char *buf, size_t cap)
{
	struct register_sc *sc = arg;
	const char *user = user_name(sc, req->user), *dom = sc->cfg->domain;
	const char *pass = user_password(sc, req->user);
	char uri[300], cnonce[16];
	struct sip_auth ch;
	struct sip_write w;
	bool proxy;
	int r;

	if (resp->status < 200 && resp->status >= 100)
		return LG_PROVISIONAL;
	if ((resp->status != 401 && resp->status != 407) || req->step > 0)
		return LG_FINAL; /* a second challenge ends the chain: counted by code */
	r = find_challenge(resp, &ch, &proxy);
	if (r < 0)
		return r;
	snprintf(uri, sizeof(uri), "sip:%s", dom);
	put_hex(cnonce, req->next_key ^ ((uint64_t)sc->cfg->run_nonce << 16), 16);
	sip_write_init(&w, buf, cap);
	write_common(sc, &w, req, req->next_key, sc->st[req->user].cseq++);
	sip_write_cstr(&w, proxy ? "Proxy-Authorization: " : "Authorization: ");
	r = digest_answer(&w, &ch, (struct sip_str){user, strlen(user)},
			  (struct sip_str){pass, strlen(pass)}, SIP_STR("REGISTER"),
			  (struct sip_str){uri, strlen(uri)}, SIP_STR(""),
			  (struct sip_str){cnonce, sizeof(cnonce)}, 1);
	if (r < 0)
		return r;
	sip_write_cstr(&w, "\r\nContent-Length: 0\r\n\r\n");
	r = sip_write_result(&w);
	return r == 0 ? -ENOSPC : r;
}

static void register_done(void *arg, struct lg_req *req, int status)
{
	struct register_sc *sc = arg;

	(void)status;
	sc->st[req->user].busy = false;
}

const struct lg_scenario_ops lg_scenario_register = {
	.name = "REGISTER",
	.create = register_create,
	.destroy = register_destroy,
	.build = register_build,
	.done = register_done,
	.response = register_response,
};
