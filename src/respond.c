/* SPDX-License-Identifier: MIT */
/*
 * respond.c - the answers the engine writes itself (OPTIONS, 4xx/5xx), and
 * the salvage of a request the parser refused. See worker.h.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include <urcu/urcu-qsbr.h>

#include "sipreg/sip_write.h"
#include "worker.h"

#define ALLOW "REGISTER, OPTIONS"

/* Dotted-quad of a (network order) IPv4 address, by hand: inet_ntop()
 * goes through sprintf. Returns the length. */
static size_t ipv4_str(const struct in_addr *a, char *out)
{
	const unsigned char *b = (const unsigned char *)&a->s_addr;
	size_t o = 0;

	for (int i = 0; i < 4; i++) {
		unsigned v = b[i];

		if (v >= 100)
			out[o++] = (char)('0' + v / 100);
		if (v >= 10)
			out[o++] = (char)('0' + v / 10 % 10);
		out[o++] = (char)('0' + v % 10);
		out[o++] = '.';
	}
	out[--o] = 0;
	return o;
}

/* received= and rport= of the response's top Via: the packet's source. */
static void src_of(const struct pkt *p, char *ip, size_t cap, struct sip_write_src *out)
{
	const struct sockaddr *sa = p->src;

	*out = (struct sip_write_src){.received = SIP_STR_NULL, .port = 0};
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)sa;

		(void)cap; /* INET6_ADDRSTRLEN > 16 */
		out->received = sip_str_make(ip, ipv4_str(&in->sin_addr, ip));
		out->port = ntohs(in->sin_port);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)sa;

		if (inet_ntop(AF_INET6, &in6->sin6_addr, ip, (socklen_t)cap))
			out->received = sip_str_make(ip, strlen(ip));
		out->port = ntohs(in6->sin6_port);
	}
}

/* A To tag of 16 hex digits, the same for every retransmission of a request:
 * a keyed hash of its Call-ID and CSeq number. */
static struct sip_str make_tag(const struct worker *w, const struct sip_msg *m, char *tag)
{
	static const char hex[] = "0123456789abcdef";
	uint64_t h =
	        siphash24(w->eng->tag_key, m->call_id.p, m->call_id.len) ^ m->cseq.num;

	for (int i = 15; i >= 0; i--, h >>= 4)
		tag[i] = hex[h & 15];
	return sip_str_make(tag, 16);
}

/* Status line, Vias, From, To (tagged), Call-ID, CSeq. */
static int begin(struct worker *w, struct sip_write *sw, const struct pkt *p,
                 const struct sip_msg *m, unsigned status, struct sip_str reason)
{
	char ip[INET6_ADDRSTRLEN], tag[16];
	struct sip_write_src src;

	src_of(p, ip, sizeof(ip), &src);
	sip_write_init(sw, w->out, sizeof(w->out));
	return sip_write_response(sw, m, status, reason, make_tag(w, m, tag), &src, NULL);
}

static int finish(struct worker *w, struct sip_write *sw)
{
	const char *server = rcu_dereference(w->eng->server);

	sip_write_header(sw, SIP_STR("Server"), sip_str_make(server, strlen(server)));
	sip_write_end(sw, SIP_STR_NULL);
	return sip_write_result(sw);
}

int respond_options(struct worker *w, const struct pkt *p, const struct sip_msg *m)
{
	struct sip_write sw;
	int r = begin(w, &sw, p, m, 200, SIP_STR_NULL);

	if (r < 0)
		return r;
	sip_write_header(&sw, SIP_STR("Allow"), SIP_STR(ALLOW));
	sip_write_header(&sw, SIP_STR("Accept"), SIP_STR("application/sdp"));
	sip_write_header(&sw, SIP_STR("Supported"), SIP_STR("path"));
	return finish(w, &sw);
}

int respond_status(struct worker *w, const struct pkt *p, const struct sip_msg *m,
                   unsigned status, const char *reason, bool allow)
{
	struct sip_write sw;
	struct sip_str rs = reason ? sip_str_make(reason, strlen(reason)) : SIP_STR_NULL;
	int r = begin(w, &sw, p, m, status, rs);

	if (r < 0)
		return r;
	if (allow)
		sip_write_header(&sw, SIP_STR("Allow"), SIP_STR(ALLOW));
	return finish(w, &sw);
}

int respond_overload(struct worker *w, const struct pkt *p, const struct sip_msg *m,
                     unsigned retry_after)
{
	struct sip_write sw;
	char num[12];
	size_t o = sizeof(num);
	unsigned v = retry_after;
	int r = begin(w, &sw, p, m, 503, SIP_STR_NULL);

	if (r < 0)
		return r;
	do
		num[--o] = (char)('0' + v % 10);
	while ((v /= 10) && o > 0);
	sip_write_header(&sw, SIP_STR("Retry-After"),
	                 sip_str_make(num + o, sizeof(num) - o));
	return finish(w, &sw);
}

/* ------------------------------------------------------------------------ */
/* Salvage                                                                   */

/* The end of the header starting at s (its continuation lines included):
 * the offset just past its last LF, or len. */
static size_t header_end(const char *b, size_t s, size_t len)
{
	size_t i = s;

	for (;;) {
		const char *nl = memchr(b + i, '\n', len - i);

		if (!nl)
			return len;
		i = (size_t)(nl - b) + 1;
		if (i >= len || (b[i] != ' ' && b[i] != '\t'))
			return i;
	}
}

/* Is the header line at b[s..e) one a response needs (Via, From, To,
 * Call-ID, CSeq), and not a second From, To, Call-ID or CSeq (*seen: a bit
 * per header id kept so far)? */
static bool needed(const char *b, size_t s, size_t e, uint64_t *seen)
{
	enum sip_hdr_id id;
	const char *colon = memchr(b + s, ':', e - s);
	size_t n;

	if (!colon)
		return false;
	n = (size_t)(colon - (b + s));
	while (n > 0 && (b[s + n - 1] == ' ' || b[s + n - 1] == '\t'))
		n--;
	id = sip_hdr_lookup(b + s, n);
	switch (id) {
	case SIP_HDR_VIA:
		return true;
	case SIP_HDR_FROM:
	case SIP_HDR_TO:
	case SIP_HDR_CALL_ID:
	case SIP_HDR_CSEQ:
		if (*seen & (1ull << id))
			return false;
		*seen |= 1ull << id;
		return true;
	default:
		return false;
	}
}

/* Copy into scratch: a SIP/2.0 request line, the needed headers except the
 * one holding the error offset, an empty line. Returns the length or
 * -EBADMSG. */
static int salvage_copy(struct worker *w, const struct pkt *p, size_t bad)
{
	static const char line[] = "X sip:invalid SIP/2.0\r\n";
	const char *b = p->buf;
	size_t len = p->len, i = 0, o = sizeof(line) - 1;
	const char *nl;
	uint64_t seen = 0;

	while (i + 1 < len && b[i] == '\r' && b[i + 1] == '\n')
		i += 2;
	if (len - i < 4 || memcmp(b + i, "SIP/", 4) == 0)
		return -EBADMSG; /* a response, or nothing: never answered */
	nl = memchr(b + i, '\n', len - i);
	if (!nl)
		return -EBADMSG;
	memcpy(w->scratch, line, o);
	for (i = (size_t)(nl - b) + 1; i < len;) {
		size_t e;

		if (b[i] == '\n' || (b[i] == '\r' && i + 1 < len && b[i + 1] == '\n'))
			break; /* the empty line */
		e = header_end(b, i, len);
		if (!(bad >= i && bad < e) && needed(b, i, e, &seen)) {
			if (o + (e - i) + 4 > sizeof(w->scratch))
				return -EBADMSG;
			memcpy(w->scratch + o, b + i, e - i);
			o += e - i;
			if (w->scratch[o - 1] != '\n') {
				w->scratch[o++] = '\r';
				w->scratch[o++] = '\n';
			}
		}
		i = e;
	}
	w->scratch[o++] = '\r';
	w->scratch[o++] = '\n';
	return (int)o;
}

int respond_malformed(struct worker *w, const struct pkt *p, int perr,
                      const struct sip_err *err, unsigned status)
{
	struct sip_msg m;
	struct sip_err e2;
	struct sip_write sw;
	struct sip_str reason = SIP_STR_NULL;
	int n, r;

	/* -E2BIG and -EPROTONOSUPPORT have no offending header to leave out. */
	n = salvage_copy(w, p, perr == -EBADMSG ? err->off : (size_t)-1);
	if (n < 0)
		return n;
	r = sip_msg_parse(&m, w->scratch, (size_t)n, w->hdrs, WORKER_HDRS,
	                  SIP_PARSE_DATAGRAM | SIP_PARSE_LF, &e2);
	if (r < 0)
		return -EBADMSG;
	if (status == 400 && err->reason)
		reason = sip_str_make(err->reason, strlen(err->reason));
	r = begin(w, &sw, p, &m, status, reason);
	if (r < 0)
		return -EBADMSG;
	return finish(w, &sw);
}
