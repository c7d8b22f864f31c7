/* SPDX-License-Identifier: MIT */
/*
 * trace.c - the SIP trace (trace.h): filter, pcap sink, HEPv3 sink.
 *
 * A pcap record is a synthetic IP packet (LINKTYPE_RAW, nanosecond
 * timestamps): an IPv4 header (checksummed) or an IPv6 one, then a UDP
 * header or a TCP header (PSH|ACK, sequence numbers counted per flow in a
 * small table, so that tshark reassembles a stream), then the message.
 * Checksums are real, so no analyser flags them.
 *
 * HEPv3 (the Homer encapsulation, "HEP3" + 16-bit total length + chunks of
 * vendor 0, type, length including the 6-byte chunk header): chunk 1 IP
 * family (2 IPv4, 10 IPv6), 2 IP protocol (17, 6), 3/4 IPv4 source and
 * destination or 5/6 IPv6 ones, 7/8 ports, 9/10 seconds and microseconds,
 * 11 protocol type (1: SIP), 12 capture agent id, 15 the message.
 *
 * Locking: one mutex per tracer. trace_capture() parses (for the filter)
 * outside it, then under it checks that the session runs, matches, and
 * writes to both sinks; the frame and HEP buffers live in the tracer.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pcap/pcap.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "sipreg/sip.h"
#include "sipreg/trace.h"

#define TRACE_HDRS 64
#define TRACE_FLOWS 64
#define FRAME_HDR_MAX (40 + 20) /* IPv6 + TCP */
#define FRAME_MAX (65535 + FRAME_HDR_MAX)
#define HEP_MAX 65535
#define FLUSH_EVERY 64 /* records between pcap flushes */

struct flow {
	struct sockaddr_storage a, b; /* a -> b */
	uint32_t seq;                 /* next sequence number a sends */
	bool used;
};

struct trace {
	pthread_mutex_t lock;
	bool active;      /* written under lock, atomically: read without it */
	bool needs_parse; /* the filter looks at users: same */
	struct trace_status st;
	trace_stop_fn on_stop;
	void *arg;
	pcap_t *pd;
	pcap_dumper_t *dumper;
	FILE *file;
	int hep_fd;
	unsigned since_flush;
	struct flow flows[TRACE_FLOWS];
	unsigned next_flow;
	uint8_t frame[FRAME_MAX];
	uint8_t hep[HEP_MAX];
};

struct trace *trace_live;
static struct trace *installed;

void trace_install(struct trace *t)
{
	installed = t;
	__atomic_store_n(&trace_live, t && t->active ? t : NULL, __ATOMIC_RELEASE);
}

/* ---- addresses ---- */

static bool ip_of(const struct sockaddr *sa, const uint8_t **ip, size_t *iplen,
                  uint16_t *port)
{
	if (!sa)
		return false;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;

		*ip = (const uint8_t *)&s4->sin_addr;
		*iplen = 4;
		*port = ntohs(s4->sin_port);
		return true;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;

		*ip = (const uint8_t *)&s6->sin6_addr;
		*iplen = 16;
		*port = ntohs(s6->sin6_port);
		return true;
	}
	return false;
}

static bool same_ip(const struct sockaddr *a, const struct sockaddr *b)
{
	const uint8_t *ia, *ib;
	size_t la, lb;
	uint16_t pa, pb;

	return ip_of(a, &ia, &la, &pa) && ip_of(b, &ib, &lb, &pb) && la == lb &&
	       memcmp(ia, ib, la) == 0;
}

static bool same_ipport(const struct sockaddr *a, const struct sockaddr *b)
{
	const uint8_t *ia, *ib;
	size_t la, lb;
	uint16_t pa, pb;

	return ip_of(a, &ia, &la, &pa) && ip_of(b, &ib, &lb, &pb) && la == lb &&
	       pa == pb && memcmp(ia, ib, la) == 0;
}

/* ---- the filter ---- */

static bool str_is(struct sip_str s, const char *c)
{
	return s.len == strlen(c) && memcmp(s.p, c, s.len) == 0;
}

static bool str_case_is(struct sip_str s, const char *c)
{
	return s.len == strlen(c) && strncasecmp(s.p, c, s.len) == 0;
}

/* The parts of a message the filter looks at. */
struct msg_ids {
	bool parsed;
	bool has_from, has_to, has_ruri;
	struct sip_uri from, to, ruri;
};

/* The filter's parts of a message parsed already (by the caller). */
static void msg_ids_of(struct msg_ids *ids, const struct sip_msg *m)
{
	struct sip_nameaddr na;
	struct sip_err err;

	memset(ids, 0, sizeof(*ids));
	ids->parsed = true;
	if (sip_msg_from(m, &na, &err) == 0) {
		ids->from = na.uri;
		ids->has_from = true;
	}
	if (sip_msg_to(m, &na, &err) == 0) {
		ids->to = na.uri;
		ids->has_to = true;
	}
	if (m->is_request && sip_uri_parse(&ids->ruri, m->ruri, &err) == 0)
		ids->has_ruri = true;
}

static void msg_ids_get(struct msg_ids *ids, const void *buf, size_t len)
{
	struct sip_hdr hdrs[TRACE_HDRS];
	struct sip_msg m;
	struct sip_err err;

	memset(ids, 0, sizeof(*ids));
	if (sip_msg_parse(&m, buf, len, hdrs, TRACE_HDRS, SIP_PARSE_DATAGRAM, &err) < 0)
		return;
	msg_ids_of(ids, &m);
}

static bool aor_is(bool has, const struct sip_uri *u, const char *user,
                   const char *domain)
{
	return has && str_is(u->user, user) &&
	       (!domain[0] || str_case_is(u->host, domain));
}

static bool filter_match_ids(const struct trace_filter *f, const struct msg_ids *ids,
                             const struct sockaddr *src, const struct sockaddr *dst)
{
	if (f->addr.ss_family != AF_UNSPEC &&
	    !same_ip((const struct sockaddr *)&f->addr, src) &&
	    !same_ip((const struct sockaddr *)&f->addr, dst))
		return false;
	if ((f->user[0] || f->trunk[0]) && !ids->parsed)
		return false;
	if (f->user[0] && !(ids->has_from && str_is(ids->from.user, f->user)) &&
	    !(ids->has_to && str_is(ids->to.user, f->user)) &&
	    !(ids->has_ruri && str_is(ids->ruri.user, f->user)))
		return false;
	if (f->trunk[0] &&
	    !aor_is(ids->has_from, &ids->from, f->trunk_user, f->trunk_domain) &&
	    !aor_is(ids->has_to, &ids->to, f->trunk_user, f->trunk_domain))
		return false;
	return true;
}

static bool filter_needs_parse(const struct trace_filter *f)
{
	return f->user[0] || f->trunk[0];
}

int trace_filter_match(const struct trace_filter *f, const void *buf, size_t len,
                       const struct sockaddr *src, const struct sockaddr *dst)
{
	struct msg_ids ids = {0};

	if (filter_needs_parse(f))
		msg_ids_get(&ids, buf, len);
	return filter_match_ids(f, &ids, src, dst) ? 1 : 0;
}

/* ---- frames ---- */

static uint32_t csum_add(uint32_t sum, const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i + 1 < n; i += 2)
		sum += (uint32_t)p[i] << 8 | p[i + 1];
	if (i < n)
		sum += (uint32_t)p[i] << 8;
	return sum;
}

static uint16_t csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

/* The TCP flow a -> b: its entry (created when new). */
static struct flow *flow_get(struct trace *t, const struct sockaddr *a,
                             const struct sockaddr *b, bool create)
{
	struct flow *f;

	for (unsigned i = 0; i < TRACE_FLOWS; i++) {
		f = &t->flows[i];
		if (f->used && same_ipport((struct sockaddr *)&f->a, a) &&
		    same_ipport((struct sockaddr *)&f->b, b))
			return f;
	}
	if (!create)
		return NULL;
	f = &t->flows[t->next_flow++ % TRACE_FLOWS];
	memset(f, 0, sizeof(*f));
	memcpy(&f->a, a,
	       a->sa_family == AF_INET ? sizeof(struct sockaddr_in)
	                               : sizeof(struct sockaddr_in6));
	memcpy(&f->b, b,
	       b->sa_family == AF_INET ? sizeof(struct sockaddr_in)
	                               : sizeof(struct sockaddr_in6));
	f->seq = 1;
	f->used = true;
	return f;
}

/*
 * IP + UDP/TCP + payload into t->frame: the frame's length (*cut: the
 * payload did not fit one IP packet, only what fits is in it), or
 * -EAFNOSUPPORT (src and dst not both IPv4 or both IPv6).
 */
static int frame_build(struct trace *t, enum trace_proto proto, const uint8_t *buf,
                       size_t len, const struct sockaddr *src, const struct sockaddr *dst,
                       bool *cut)
{
	const uint8_t *sip, *dip;
	size_t sl, dl, iph, l4h = proto == TRACE_TCP ? 20 : 8, l4len;
	uint16_t sp, dp;
	uint8_t *p = t->frame, *l4;
	uint32_t sum;

	if (!ip_of(src, &sip, &sl, &sp) || !ip_of(dst, &dip, &dl, &dp) || sl != dl)
		return -EAFNOSUPPORT;
	iph = sl == 4 ? 20 : 40;
	*cut = len > 65535 - iph - l4h;
	if (*cut)
		len = 65535 - iph - l4h; /* only what fits one IP packet */
	l4len = l4h + len;
	if (sl == 4) {
		memset(p, 0, 20);
		p[0] = 0x45;
		put16(p + 2, (uint16_t)(20 + l4len));
		p[6] = 0x40; /* DF */
		p[8] = 64;
		p[9] = (uint8_t)proto;
		memcpy(p + 12, sip, 4);
		memcpy(p + 16, dip, 4);
		put16(p + 10, csum_fold(csum_add(0, p, 20)));
	} else {
		memset(p, 0, 40);
		p[0] = 0x60;
		put16(p + 4, (uint16_t)l4len);
		p[6] = (uint8_t)proto;
		p[7] = 64;
		memcpy(p + 8, sip, 16);
		memcpy(p + 24, dip, 16);
	}
	l4 = p + iph;
	memset(l4, 0, l4h);
	put16(l4, sp);
	put16(l4 + 2, dp);
	if (proto == TRACE_TCP) {
		struct flow *f = flow_get(t, src, dst, true),
		            *r = flow_get(t, dst, src, false);

		put32(l4 + 4, f->seq);
		f->seq += (uint32_t)len;
		put32(l4 + 8, r ? r->seq : 0);
		l4[12] = 5 << 4;
		l4[13] = r ? 0x18 : 0x08; /* PSH|ACK, or PSH alone */
		put16(l4 + 14, 65535);
	} else {
		put16(l4 + 4, (uint16_t)l4len);
	}
	memcpy(l4 + l4h, buf, len);
	/* pseudo header, then the segment */
	sum = csum_add(0, sip, sl);
	sum = csum_add(sum, dip, dl);
	sum += (uint32_t)proto + (uint32_t)l4len;
	sum = csum_add(sum, l4, l4len);
	{
		uint16_t c = csum_fold(sum);

		if (proto == TRACE_UDP && c == 0)
			c = 0xffff;
		put16(l4 + (proto == TRACE_TCP ? 16 : 6), c);
	}
	return (int)(iph + l4len);
}

/* ---- HEPv3 ---- */

static uint8_t *hep_chunk(uint8_t *p, uint16_t type, const void *v, size_t n)
{
	put16(p, 0);
	put16(p + 2, type);
	put16(p + 4, (uint16_t)(6 + n));
	memcpy(p + 6, v, n);
	return p + 6 + n;
}

static uint8_t *hep_u8(uint8_t *p, uint16_t type, uint8_t v)
{
	return hep_chunk(p, type, &v, 1);
}

static uint8_t *hep_u16(uint8_t *p, uint16_t type, uint16_t v)
{
	uint8_t b[2];

	put16(b, v);
	return hep_chunk(p, type, b, 2);
}

static uint8_t *hep_u32(uint8_t *p, uint16_t type, uint32_t v)
{
	uint8_t b[4];

	put32(b, v);
	return hep_chunk(p, type, b, 4);
}

int trace_hep_encode(void *out, size_t cap, enum trace_proto proto, const void *buf,
                     size_t len, const struct sockaddr *src, const struct sockaddr *dst,
                     const struct timespec *ts, uint32_t capture_id)
{
	const uint8_t *sip, *dip;
	size_t sl, dl, need;
	uint16_t sp, dp;
	uint8_t *p = out;

	if (!ip_of(src, &sip, &sl, &sp) || !ip_of(dst, &dip, &dl, &dp) || sl != dl)
		return -EAFNOSUPPORT;
	/* header 6; family, proto, type 7 each; ips 2*(6+sl); ports 2*8;
	 * times 2*10; capture id 10; payload 6 + len */
	need = 6 + 3 * 7 + 2 * (6 + sl) + 2 * 8 + 2 * 10 + 10 + 6 + len;
	if (need > cap || need > 65535)
		return -ENOSPC;
	memcpy(p, "HEP3", 4);
	put16(p + 4, (uint16_t)need);
	p += 6;
	p = hep_u8(p, 1, sl == 4 ? 2 : 10);
	p = hep_u8(p, 2, (uint8_t)proto);
	p = hep_chunk(p, sl == 4 ? 3 : 5, sip, sl);
	p = hep_chunk(p, sl == 4 ? 4 : 6, dip, dl);
	p = hep_u16(p, 7, sp);
	p = hep_u16(p, 8, dp);
	p = hep_u32(p, 9, (uint32_t)ts->tv_sec);
	p = hep_u32(p, 10, (uint32_t)(ts->tv_nsec / 1000));
	p = hep_u8(p, 11, 1); /* SIP */
	p = hep_u32(p, 12, capture_id);
	p = hep_chunk(p, 15, buf, len);
	return (int)(p - (uint8_t *)out);
}

int trace_hep_parse(const char *s, struct sockaddr_storage *out, socklen_t *outlen)
{
	struct addrinfo hints = {.ai_socktype = SOCK_DGRAM}, *ai = NULL;
	char host[TRACE_HEP_MAX + 1];
	const char *colon, *h = s;
	size_t hl;
	char *end;
	long port;
	int r;

	if (!s || strlen(s) > TRACE_HEP_MAX)
		return -EINVAL;
	if (s[0] == '[') {
		const char *rb = strchr(s, ']');

		if (!rb || rb[1] != ':')
			return -EINVAL;
		h = s + 1;
		hl = (size_t)(rb - h);
		colon = rb + 1;
		hints.ai_flags = AI_NUMERICHOST;
	} else {
		colon = strrchr(s, ':');
		if (!colon || memchr(s, ':', (size_t)(colon - s)))
			return -EINVAL; /* no port, or a bare IPv6 address */
		hl = (size_t)(colon - s);
	}
	if (hl == 0)
		return -EINVAL;
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (errno || end == colon + 1 || *end || port < 1 || port > 65535)
		return -EINVAL;
	memcpy(host, h, hl);
	host[hl] = 0;
	r = getaddrinfo(host, NULL, &hints, &ai);
	if (r != 0 || !ai)
		return (r == EAI_NONAME || r == EAI_NODATA) &&
		                       !(hints.ai_flags & AI_NUMERICHOST)
		               ? -ENOENT
		               : -EINVAL;
	if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6) {
		freeaddrinfo(ai);
		return -EINVAL;
	}
	memset(out, 0, sizeof(*out));
	memcpy(out, ai->ai_addr, ai->ai_addrlen);
	*outlen = ai->ai_addrlen;
	freeaddrinfo(ai);
	if (out->ss_family == AF_INET)
		((struct sockaddr_in *)out)->sin_port = htons((uint16_t)port);
	else
		((struct sockaddr_in6 *)out)->sin6_port = htons((uint16_t)port);
	return 0;
}

/* ---- the session ---- */

int trace_new(struct trace **ret, trace_stop_fn on_stop, void *arg)
{
	struct trace *t = calloc(1, sizeof(*t));
	int r;

	if (!t)
		return -ENOMEM;
	r = pthread_mutex_init(&t->lock, NULL);
	if (r) {
		free(t);
		return -r;
	}
	t->hep_fd = -1;
	t->on_stop = on_stop;
	t->arg = arg;
	*ret = t;
	return 0;
}

/* Closes the sinks and ends the session (lock held). */
static void session_end(struct trace *t, enum trace_stop_reason reason)
{
	if (t == installed)
		__atomic_store_n(&trace_live, NULL, __ATOMIC_RELEASE);
	__atomic_store_n(&t->active, false, __ATOMIC_RELAXED);
	if (t->dumper) {
		if (pcap_dump_flush(t->dumper) < 0 && reason != TRACE_STOP_WRITE) {
			reason = TRACE_STOP_WRITE;
			t->st.write_err = errno ? errno : EIO;
		}
		pcap_dump_close(t->dumper); /* closes t->file */
		t->dumper = NULL;
		t->file = NULL;
	}
	if (t->pd) {
		pcap_close(t->pd);
		t->pd = NULL;
	}
	if (t->hep_fd >= 0) {
		close(t->hep_fd);
		t->hep_fd = -1;
	}
	t->st.active = false;
	t->st.reason = reason;
	clock_gettime(CLOCK_REALTIME, &t->st.stopped);
	if (t->on_stop)
		t->on_stop(&t->st, t->arg);
}

void trace_free(struct trace *t)
{
	if (!t)
		return;
	pthread_mutex_lock(&t->lock);
	if (t->active)
		session_end(t, TRACE_STOP_REQUEST);
	pthread_mutex_unlock(&t->lock);
	if (installed == t)
		trace_install(NULL);
	pthread_mutex_destroy(&t->lock);
	free(t);
}

static int open_pcap(struct trace *t, const char *path, char *err, size_t errlen)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
	int r;

	if (fd < 0) {
		r = -errno;
		snprintf(err, errlen, "%s: %s%s", path, strerror(errno),
		         errno == EEXIST ? " (a trace never overwrites a file)" : "");
		return r;
	}
	t->file = fdopen(fd, "wb");
	if (!t->file) {
		r = -errno;
		close(fd);
		unlink(path);
		snprintf(err, errlen, "%s: %s", path, strerror(-r));
		return r;
	}
	t->pd = pcap_open_dead_with_tstamp_precision(DLT_RAW, FRAME_MAX,
	                                             PCAP_TSTAMP_PRECISION_NANO);
	if (t->pd)
		t->dumper = pcap_dump_fopen(t->pd, t->file);
	if (!t->dumper) {
		snprintf(err, errlen, "%s: cannot start a pcap file: %s", path,
		         t->pd ? pcap_geterr(t->pd) : "out of memory");
		if (t->pd)
			pcap_close(t->pd);
		t->pd = NULL;
		fclose(t->file);
		t->file = NULL;
		unlink(path);
		return -ENOMEM;
	}
	if (pcap_dump_flush(t->dumper) < 0) {
		r = errno ? -errno : -EIO;
		snprintf(err, errlen, "%s: %s", path, strerror(-r));
		pcap_dump_close(t->dumper);
		pcap_close(t->pd);
		t->dumper = NULL;
		t->pd = NULL;
		t->file = NULL;
		unlink(path);
		return r;
	}
	return 0;
}

static int open_hep(struct trace *t, const char *hep, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int r = trace_hep_parse(hep, &ss, &len);

	if (r < 0) {
		snprintf(err, errlen, "hep: %s: %s", hep,
		         r == -ENOENT ? "the host does not resolve"
		                      : "not HOST:PORT (an IPv6 address in [])");
		return -EINVAL;
	}
	t->hep_fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (t->hep_fd < 0 || connect(t->hep_fd, (struct sockaddr *)&ss, len) < 0) {
		r = -errno;
		snprintf(err, errlen, "hep: %s: %s", hep, strerror(errno));
		if (t->hep_fd >= 0)
			close(t->hep_fd);
		t->hep_fd = -1;
		return r;
	}
	return 0;
}

int trace_start(struct trace *t, const struct trace_config *cfg, char *err, size_t errlen)
{
	int fam = cfg->filter.addr.ss_family, r = 0;

	pthread_mutex_lock(&t->lock);
	if (t->active) {
		snprintf(err, errlen, "a trace is already running (stop it first)");
		r = -EALREADY;
		goto out;
	}
	if (!cfg->file[0] && !cfg->hep[0]) {
		snprintf(err, errlen,
		         "no sink: give a pcap file, a HEP collector or both");
		r = -EINVAL;
		goto out;
	}
	if (fam != AF_UNSPEC && fam != AF_INET && fam != AF_INET6) {
		snprintf(err, errlen, "the address filter is not IPv4 or IPv6");
		r = -EINVAL;
		goto out;
	}
	if (cfg->filter.trunk[0] && !cfg->filter.trunk_user[0]) {
		snprintf(err, errlen, "a trunk filter needs the trunk's user");
		r = -EINVAL;
		goto out;
	}
	if (cfg->hep[0] && (r = open_hep(t, cfg->hep, err, errlen)) < 0)
		goto out;
	if (cfg->file[0] && (r = open_pcap(t, cfg->file, err, errlen)) < 0) {
		if (t->hep_fd >= 0)
			close(t->hep_fd);
		t->hep_fd = -1;
		goto out;
	}
	/* the last session's status stays until this one has started */
	memset(&t->st, 0, sizeof(t->st));
	t->st.cfg = *cfg;
	if (!t->st.cfg.hep_id)
		t->st.cfg.hep_id = TRACE_HEP_DEFAULT_ID;
	if (!t->st.cfg.max_packets)
		t->st.cfg.max_packets = TRACE_DEFAULT_MAX_PACKETS;
	if (!t->st.cfg.max_bytes)
		t->st.cfg.max_bytes = TRACE_DEFAULT_MAX_BYTES;
	if (t->dumper)
		t->st.bytes = 24; /* the file header */
	memset(t->flows, 0, sizeof(t->flows));
	t->since_flush = 0;
	__atomic_store_n(&t->needs_parse, filter_needs_parse(&t->st.cfg.filter),
	                 __ATOMIC_RELAXED);
	__atomic_store_n(&t->active, true, __ATOMIC_RELAXED);
	t->st.active = true;
	t->st.ever = true;
	clock_gettime(CLOCK_REALTIME, &t->st.started);
	if (t == installed)
		__atomic_store_n(&trace_live, t, __ATOMIC_RELEASE);
out:
	pthread_mutex_unlock(&t->lock);
	return r;
}

int trace_stop(struct trace *t, struct trace_status *st)
{
	int r = 0;

	pthread_mutex_lock(&t->lock);
	if (!t->active)
		r = -ENOENT;
	else
		session_end(t, TRACE_STOP_REQUEST);
	if (st)
		*st = t->st;
	pthread_mutex_unlock(&t->lock);
	return r;
}

void trace_get(struct trace *t, struct trace_status *st)
{
	pthread_mutex_lock(&t->lock);
	*st = t->st;
	pthread_mutex_unlock(&t->lock);
}

/* One record into the pcap file (lock held). */
static void write_pcap(struct trace *t, enum trace_proto proto, const void *buf,
                       size_t len, const struct sockaddr *src, const struct sockaddr *dst,
                       const struct timespec *ts)
{
	struct pcap_pkthdr h;
	bool cut = false;
	int n = frame_build(t, proto, buf, len, src, dst, &cut);
	FILE *f;

	if (n < 0) {
		t->st.dropped++;
		return;
	}
	if (t->st.bytes + 16 + (uint64_t)n > t->st.cfg.max_bytes) {
		t->st.dropped++;
		session_end(t, TRACE_STOP_BYTES);
		return;
	}
	h.ts.tv_sec = ts->tv_sec;
	h.ts.tv_usec = ts->tv_nsec; /* nanosecond precision file */
	h.caplen = (bpf_u_int32)n;
	h.len = (bpf_u_int32)n;
	if (cut)
		t->st.dropped++; /* written, but not whole */
	pcap_dump((u_char *)t->dumper, &h, t->frame);
	t->st.written++;
	t->st.bytes += 16 + (uint64_t)n;
	f = pcap_dump_file(t->dumper);
	if (ferror(f)) {
		t->st.write_err = EIO;
		session_end(t, TRACE_STOP_WRITE);
		return;
	}
	if (++t->since_flush >= FLUSH_EVERY) {
		t->since_flush = 0;
		if (pcap_dump_flush(t->dumper) < 0) {
			t->st.write_err = errno ? errno : EIO;
			session_end(t, TRACE_STOP_WRITE);
		}
	}
}

static void send_hep(struct trace *t, enum trace_proto proto, const void *buf, size_t len,
                     const struct sockaddr *src, const struct sockaddr *dst,
                     const struct timespec *ts)
{
	int n = trace_hep_encode(t->hep, sizeof(t->hep), proto, buf, len, src, dst, ts,
	                         t->st.cfg.hep_id);

	if (n < 0 ||
	    send(t->hep_fd, t->hep, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL) != n) {
		t->st.dropped++;
		return;
	}
	t->st.hep_sent++;
}

int trace_capture(struct trace *t, enum trace_dir dir, enum trace_proto proto,
                  const void *buf, size_t len, const struct sockaddr *src,
                  const struct sockaddr *dst, const struct timespec *ts)
{
	return trace_capture_parsed(t, dir, proto, buf, len, src, dst, ts, NULL);
}

int trace_capture_parsed(struct trace *t, enum trace_dir dir, enum trace_proto proto,
                         const void *buf, size_t len, const struct sockaddr *src,
                         const struct sockaddr *dst, const struct timespec *ts,
                         const struct sip_msg *m)
{
	struct msg_ids ids = {0};
	struct timespec now;
	int hit = 0;

	(void)dir;
	if (!ts) {
		clock_gettime(CLOCK_REALTIME, &now);
		ts = &now;
	}
	/* parsed outside the lock: the workers parse in parallel; the filter
	 * is read under it (a new session may have replaced it) */
	if (!__atomic_load_n(&t->active, __ATOMIC_RELAXED))
		return 0;
	if (__atomic_load_n(&t->needs_parse, __ATOMIC_RELAXED)) {
		if (m)
			msg_ids_of(&ids, m); /* the caller's parse: not a second one */
		else
			msg_ids_get(&ids, buf, len);
	}
	pthread_mutex_lock(&t->lock);
	if (!t->active || !filter_match_ids(&t->st.cfg.filter, &ids, src, dst))
		goto out;
	hit = 1;
	t->st.matched++;
	if (t->hep_fd >= 0)
		send_hep(t, proto, buf, len, src, dst, ts);
	if (t->dumper)
		write_pcap(t, proto, buf, len, src, dst, ts);
	if (t->active && t->st.matched >= t->st.cfg.max_packets)
		session_end(t, TRACE_STOP_PACKETS);
out:
	pthread_mutex_unlock(&t->lock);
	return hit;
}
