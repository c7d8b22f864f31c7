/* SPDX-License-Identifier: MIT */
/*
 * scenario.c - request templates, the response scan, and the OPTIONS scenario.
 *
 * A template is compiled once per socket: the per-socket keywords (addresses,
 * ports, method, body length) are substituted, and the per-request keywords
 * become fixed-width fields whose offsets are remembered, so building a
 * request is one memcpy and a few hex/decimal writes, and every request of a
 * run has the same size.
 *
 *   [branch]   z9hG4bKsb<nonce:8 hex>.<key:16 hex>
 *   [call_id]  sbc<nonce>.<key>@sipreg-bench
 *   [tag]      t<nonce>.<key>
 *   [cseq]     100000000 + request number (9 digits, wraps below 2^31)
 *
 * The response scan takes the status code from the status line, then finds
 * the key after the branch marker (the top Via comes back in the response) or,
 * if a server dropped the branch, after the Call-ID marker.
 */
#include <errno.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loadgen.h"

#define MAX_FIELDS 32

enum field_kind { F_BRANCH_KEY, F_CALLID_KEY, F_TAG_KEY, F_CSEQ };

struct field {
	enum field_kind kind;
	uint32_t off;
};

struct lg_template {
	char *base;
	size_t len;
	unsigned int nfields;
	struct field fields[MAX_FIELDS];
};

static const char hexdig[] = "0123456789abcdef";

static void put_hex(char *p, uint64_t v, unsigned int digits)
{
	for (unsigned int i = digits; i-- > 0; v >>= 4)
		p[i] = hexdig[v & 15];
}

static int get_hex16(const char *p, const char *end, uint64_t *out)
{
	uint64_t v = 0;

	if (end - p < 16)
		return -ENOENT;
	for (unsigned int i = 0; i < 16; i++) {
		char c = p[i];
		unsigned int d;

		if (c >= '0' && c <= '9')
			d = (unsigned int)(c - '0');
		else if (c >= 'a' && c <= 'f')
			d = (unsigned int)(c - 'a' + 10);
		else
			return -ENOENT;
		v = v << 4 | d;
	}
	*out = v;
	return 0;
}

static void put_dec9(char *p, uint32_t v)
{
	for (unsigned int i = 9; i-- > 0; v /= 10)
		p[i] = (char)('0' + v % 10);
}

/* Output buffer of the template compiler. */
struct obuf {
	char *p;
	size_t len, cap;
	int err;
};

static void emit(struct obuf *o, const char *s, size_t n)
{
	if (o->err)
		return;
	if (o->len + n > o->cap) {
		o->err = -ENOSPC;
		return;
	}
	memcpy(o->p + o->len, s, n);
	o->len += n;
}

static void emit_str(struct obuf *o, const char *s)
{
	emit(o, s, strlen(s));
}

static void host_port(const struct sockaddr_storage *ss, char *host, size_t hcap, char *port,
		      size_t pcap)
{
	char a[INET6_ADDRSTRLEN];

	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;

		inet_ntop(AF_INET6, &s6->sin6_addr, a, sizeof(a));
		snprintf(host, hcap, "[%s]", a);
		snprintf(port, pcap, "%u", ntohs(s6->sin6_port));
	} else {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;

		inet_ntop(AF_INET, &s4->sin_addr, a, sizeof(a));
		snprintf(host, hcap, "%s", a);
		snprintf(port, pcap, "%u", ntohs(s4->sin_port));
	}
}

static int add_field(struct lg_template *t, enum field_kind kind, size_t off)
{
	if (t->nfields == MAX_FIELDS)
		return -E2BIG;
	t->fields[t->nfields].kind = kind;
	t->fields[t->nfields].off = (uint32_t)off;
	t->nfields++;
	return 0;
}

/* One pass over the template text; body_len is the value written for [len]. */
static int assemble(struct lg_template *t, struct obuf *o, const char *text,
		    const struct lg_config *cfg, const struct lg_local *local, size_t body_len)
{
	char lhost[INET6_ADDRSTRLEN + 3], lport[8], rhost[INET6_ADDRSTRLEN + 3], rport[8];
	char nonce[9], lenbuf[24];
	const char *s = text;
	int r;

	host_port(&local->addr, lhost, sizeof(lhost), lport, sizeof(lport));
	host_port(&cfg->target, rhost, sizeof(rhost), rport, sizeof(rport));
	put_hex(nonce, cfg->run_nonce, 8);
	nonce[8] = '\0';
	snprintf(lenbuf, sizeof(lenbuf), "%zu", body_len);
	t->nfields = 0;

	/* sipp's templates start after a newline: skip leading blank lines. */
	while (*s == '\r' || *s == '\n')
		s++;
	for (; *s; s++) {
		const char *close;
		size_t kl;

		if (*s == '\n') {
			if (s == text || s[-1] != '\r')
				emit(o, "\r", 1);
			emit(o, "\n", 1);
			continue;
		}
		if (*s != '[' || !(close = strchr(s, ']'))) {
			emit(o, s, 1);
			continue;
		}
		kl = (size_t)(close - s - 1);
#define KW(lit) (kl == sizeof(lit) - 1 && memcmp(s + 1, lit, kl) == 0)
		if (KW("branch")) {
			emit_str(o, "z9hG4bKsb");
			emit_str(o, nonce);
			emit(o, ".", 1);
			r = add_field(t, F_BRANCH_KEY, o->len);
			emit(o, "0000000000000000", 16);
		} else if (KW("call_id")) {
			emit_str(o, "sbc");
			emit_str(o, nonce);
			emit(o, ".", 1);
			r = add_field(t, F_CALLID_KEY, o->len);
			emit_str(o, "0000000000000000@sipreg-bench");
		} else if (KW("tag")) {
			emit(o, "t", 1);
			emit_str(o, nonce);
			emit(o, ".", 1);
			r = add_field(t, F_TAG_KEY, o->len);
			emit(o, "0000000000000000", 16);
		} else if (KW("cseq")) {
			r = add_field(t, F_CSEQ, o->len);
			emit(o, "100000000", 9);
		} else {
			r = 0;
			if (KW("local_ip"))
				emit_str(o, lhost);
			else if (KW("local_port"))
				emit_str(o, lport);
			else if (KW("remote_ip"))
				emit_str(o, rhost);
			else if (KW("remote_port"))
				emit_str(o, rport);
			else if (KW("transport"))
				emit_str(o, cfg->tcp ? "TCP" : "UDP");
			else if (KW("method"))
				emit_str(o, cfg->method);
			else if (KW("len"))
				emit_str(o, lenbuf);
			else {
				emit(o, s, 1); /* not a keyword: literal '[' */
				continue;
			}
		}
#undef KW
		if (r < 0)
			return r;
		s = close;
	}
	return o->err;
}

int lg_template_new(struct lg_template **ret, const char *text, const struct lg_config *cfg,
		    const struct lg_local *local)
{
	struct lg_template *t;
	struct obuf o;
	const char *hend;
	size_t body;
	int r;

	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->base = malloc(LG_MSG_MAX);
	if (!t->base) {
		free(t);
		return -ENOMEM;
	}
	/* First pass for the body length, second with [len] filled in. */
	o = (struct obuf){.p = t->base, .cap = LG_MSG_MAX};
	r = assemble(t, &o, text, cfg, local, 0);
	if (r < 0)
		goto fail;
	hend = memmem(o.p, o.len, "\r\n\r\n", 4);
	if (!hend) {
		r = -EINVAL; /* no end of headers */
		goto fail;
	}
	body = o.len - (size_t)(hend + 4 - o.p);
	o = (struct obuf){.p = t->base, .cap = LG_MSG_MAX};
	r = assemble(t, &o, text, cfg, local, body);
	if (r < 0)
		goto fail;
	t->len = o.len;
	*ret = t;
	return 0;
fail:
	lg_template_free(t);
	return r;
}

void lg_template_free(struct lg_template *t)
{
	if (!t)
		return;
	free(t->base);
	free(t);
}

size_t lg_template_len(const struct lg_template *t)
{
	return t->len;
}

int lg_template_fill(const struct lg_template *t, const struct lg_req *req, char *buf,
		     size_t cap)
{
	if (t->len > cap)
		return -ENOSPC;
	memcpy(buf, t->base, t->len);
	for (unsigned int i = 0; i < t->nfields; i++) {
		char *p = buf + t->fields[i].off;

		if (t->fields[i].kind == F_CSEQ)
			put_dec9(p, (uint32_t)(100000000u + req->seq % 900000000u));
		else
			put_hex(p, req->key, 16);
	}
	return (int)t->len;
}

int lg_scan(const char *buf, size_t len, uint32_t run_nonce, const char *method, bool echo,
	    int *status, uint64_t *key)
{
	char mark[24];
	const char *end = buf + len, *p;
	size_t mlen = strlen(method);

	if (len >= 12 && memcmp(buf, "SIP/2.0 ", 8) == 0 && buf[8] >= '1' && buf[8] <= '6' &&
	    buf[9] >= '0' && buf[9] <= '9' && buf[10] >= '0' && buf[10] <= '9' &&
	    (buf[11] == ' ' || buf[11] == '\r'))
		*status = (buf[8] - '0') * 100 + (buf[9] - '0') * 10 + (buf[10] - '0');
	else if (echo && len > mlen && memcmp(buf, method, mlen) == 0 && buf[mlen] == ' ')
		*status = 0;
	else
		return -EBADMSG;

	memcpy(mark, "z9hG4bKsb", 9);
	put_hex(mark + 9, run_nonce, 8);
	mark[17] = '.';
	p = memmem(buf, len, mark, 18);
	if (p)
		return get_hex16(p + 18, end, key);
	memcpy(mark, "sbc", 3);
	put_hex(mark + 3, run_nonce, 8);
	mark[11] = '.';
	p = memmem(buf, len, mark, 12);
	if (p)
		return get_hex16(p + 12, end, key);
	return -ENOENT;
}

/* OPTIONS: the built-in template, ~450 bytes like a carrier's keep-alive. */
static const char options_template[] =
	"[method] sip:ping@[remote_ip]:[remote_port] SIP/2.0\n"
	"Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport\n"
	"Max-Forwards: 70\n"
	"From: \"sipreg-bench\" <sip:bench@[local_ip]:[local_port]>;tag=[tag]\n"
	"To: <sip:ping@[remote_ip]:[remote_port]>\n"
	"Call-ID: [call_id]\n"
	"CSeq: [cseq] [method]\n"
	"Contact: <sip:bench@[local_ip]:[local_port]>\n"
	"Accept: application/sdp\n"
	"User-Agent: sipreg-bench/0.1\n"
	"Content-Length: [len]\n"
	"\n";

struct options_sc {
	unsigned int n;
	struct lg_template *t[LG_MAX_SOCKETS];
};

static void options_destroy(void *arg)
{
	struct options_sc *sc = arg;

	if (!sc)
		return;
	for (unsigned int i = 0; i < sc->n; i++)
		lg_template_free(sc->t[i]);
	free(sc);
}

static int options_create(void **ret, const struct lg_config *cfg, unsigned int tid,
			  const struct lg_local *locals, unsigned int nlocal)
{
	struct options_sc *sc;
	int r;

	(void)tid;
	if (nlocal > LG_MAX_SOCKETS)
		return -E2BIG;
	sc = calloc(1, sizeof(*sc));
	if (!sc)
		return -ENOMEM;
	for (; sc->n < nlocal; sc->n++) {
		r = lg_template_new(&sc->t[sc->n], cfg->template_text ? cfg->template_text
								       : options_template,
				    cfg, &locals[sc->n]);
		if (r < 0) {
			options_destroy(sc);
			return r;
		}
	}
	*ret = sc;
	return 0;
}

static int options_build(void *arg, struct lg_req *req, char *buf, size_t cap)
{
	struct options_sc *sc = arg;

	return lg_template_fill(sc->t[req->sock], req, buf, cap);
}

static int options_response(void *arg, struct lg_req *req, const struct lg_resp *resp, char *buf,
			    size_t cap)
{
	(void)arg;
	(void)req;
	(void)buf;
	(void)cap;
	if (resp->status >= 100 && resp->status < 200)
		return LG_PROVISIONAL;
	return LG_FINAL;
}

const struct lg_scenario_ops lg_scenario_options = {
	.name = "OPTIONS",
	.create = options_create,
	.destroy = options_destroy,
	.build = options_build,
	.response = options_response,
};
