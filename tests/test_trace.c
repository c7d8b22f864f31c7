/* SPDX-License-Identifier: MIT */
/*
 * test_trace.c - the SIP trace (trace.h): the filter, the pcap file read
 * back with libpcap (addresses, ports, checksums, nanosecond times, TCP
 * sequence numbers), HEPv3 received on a loopback socket and decoded by a
 * small decoder here, the limits, concurrent writers, bad input.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <pcap/pcap.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sipreg/sip.h"
#include "sipreg/trace.h"

static const char REG[] = "REGISTER sip:example.com SIP/2.0\r\n"
                          "Via: SIP/2.0/UDP 192.0.2.7:5070;branch=z9hG4bK-1\r\n"
                          "Max-Forwards: 70\r\n"
                          "From: <sip:alice@example.com>;tag=a1\r\n"
                          "To: <sip:alice@example.com>\r\n"
                          "Call-ID: c1@192.0.2.7\r\n"
                          "CSeq: 1 REGISTER\r\n"
                          "Contact: <sip:alice@192.0.2.7:5070>\r\n"
                          "Content-Length: 0\r\n\r\n";

static const char R401[] = "SIP/2.0 401 Unauthorized\r\n"
                           "Via: SIP/2.0/UDP 192.0.2.7:5070;branch=z9hG4bK-1\r\n"
                           "From: <sip:alice@example.com>;tag=a1\r\n"
                           "To: <sip:alice@example.com>;tag=s1\r\n"
                           "Call-ID: c1@192.0.2.7\r\n"
                           "CSeq: 1 REGISTER\r\n"
                           "Content-Length: 0\r\n\r\n";

static const char INV[] = "INVITE sip:bob@example.com SIP/2.0\r\n"
                          "Via: SIP/2.0/UDP 192.0.2.9;branch=z9hG4bK-2\r\n"
                          "Max-Forwards: 70\r\n"
                          "From: <sip:carol@example.net>;tag=c1\r\n"
                          "To: <sip:dave@example.com>\r\n"
                          "Call-ID: c2\r\n"
                          "CSeq: 1 INVITE\r\n"
                          "Content-Length: 0\r\n\r\n";

static struct sockaddr_storage v4(const char *ip, uint16_t port)
{
	struct sockaddr_storage ss = {0};
	struct sockaddr_in *s = (struct sockaddr_in *)&ss;

	s->sin_family = AF_INET;
	s->sin_port = htons(port);
	cr_assert_eq(inet_pton(AF_INET, ip, &s->sin_addr), 1);
	return ss;
}

static struct sockaddr_storage v6(const char *ip, uint16_t port)
{
	struct sockaddr_storage ss = {0};
	struct sockaddr_in6 *s = (struct sockaddr_in6 *)&ss;

	s->sin6_family = AF_INET6;
	s->sin6_port = htons(port);
	cr_assert_eq(inet_pton(AF_INET6, ip, &s->sin6_addr), 1);
	return ss;
}

#define SA(x) ((const struct sockaddr *)&(x))

static char tmpdir[64];

static void mk_tmp(void)
{
	strcpy(tmpdir, "/tmp/sipreg-test-trace.XXXXXX");
	cr_assert_not_null(mkdtemp(tmpdir));
}

static void rm_tmp(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	cr_assert_eq(system(cmd), 0);
}

static void path_in_tmp(char *out, size_t cap, const char *name)
{
	snprintf(out, cap, "%s/%s", tmpdir, name);
}

/* ---- the filter ---- */

Test(trace_filter, empty_matches_everything)
{
	struct trace_filter f = {0};
	struct sockaddr_storage a = v4("192.0.2.7", 5070), b = v4("198.51.100.1", 5060);

	cr_assert_eq(trace_filter_match(&f, REG, strlen(REG), SA(a), SA(b)), 1);
	cr_assert_eq(trace_filter_match(&f, "garbage", 7, SA(a), SA(b)), 1);
}

Test(trace_filter, user_from_to_or_ruri)
{
	struct trace_filter f = {0};
	struct sockaddr_storage a = v4("192.0.2.7", 5070), b = v4("198.51.100.1", 5060);

	strcpy(f.user, "alice");
	cr_assert_eq(trace_filter_match(&f, REG, strlen(REG), SA(a), SA(b)), 1);
	cr_assert_eq(trace_filter_match(&f, R401, strlen(R401), SA(b), SA(a)), 1);
	cr_assert_eq(trace_filter_match(&f, INV, strlen(INV), SA(a), SA(b)), 0);
	strcpy(f.user, "bob"); /* the Request-URI's user only */
	cr_assert_eq(trace_filter_match(&f, INV, strlen(INV), SA(a), SA(b)), 1);
	strcpy(f.user, "carol"); /* From's */
	cr_assert_eq(trace_filter_match(&f, INV, strlen(INV), SA(a), SA(b)), 1);
	strcpy(f.user, "dave"); /* To's */
	cr_assert_eq(trace_filter_match(&f, INV, strlen(INV), SA(a), SA(b)), 1);
	strcpy(f.user, "Alice"); /* users are case-sensitive */
	cr_assert_eq(trace_filter_match(&f, REG, strlen(REG), SA(a), SA(b)), 0);
	strcpy(f.user, "alic"); /* no prefix match */
	cr_assert_eq(trace_filter_match(&f, REG, strlen(REG), SA(a), SA(b)), 0);
	/* a message that does not parse never matches a user filter */
	strcpy(f.user, "alice");
	cr_assert_eq(trace_filter_match(&f, REG, 40, SA(a), SA(b)), 0);
	cr_assert_eq(trace_filter_match(&f, "alice", 5, SA(a), SA(b)), 0);
}

Test(trace_filter, address_source_or_destination)
{
	struct trace_filter f = {0};
	struct sockaddr_storage a = v4("192.0.2.7", 5070), b = v4("198.51.100.1", 5060),
	                        c = v4("203.0.113.5", 5060),
	                        six = v6("2001:db8::7", 5060);

	f.addr = v4("192.0.2.7", 0);
	cr_assert_eq(trace_filter_match(&f, REG, strlen(REG), SA(a), SA(b)), 1);
	cr_assert_eq(trace_filter_match(&f, R401, strlen(R401), SA(b), SA(a)), 1);
	cr_assert_eq(trace_filter_match(&f, REG, strlen(REG), SA(c), SA(b)), 0);
	cr_assert_eq(trace_filter_match(&f, REG, strlen(REG), SA(six), SA(b)), 0);
	f.addr = v6("2001:db8::7", 0);
	cr_assert_eq(trace_filter_match(&f, REG, strlen(REG), SA(six), SA(six)), 1);
	cr_assert_eq(trace_filter_match(&f, REG, strlen(REG), SA(a), SA(b)), 0);
	/* AND with a user */
	f.addr = v4("192.0.2.7", 0);
	strcpy(f.user, "bob");
	cr_assert_eq(trace_filter_match(&f, REG, strlen(REG), SA(a), SA(b)), 0);
	cr_assert_eq(trace_filter_match(&f, INV, strlen(INV), SA(a), SA(b)), 1);
}

Test(trace_filter, trunk_user_and_domain)
{
	struct trace_filter f = {0};
	struct sockaddr_storage a = v4("192.0.2.7", 5070), b = v4("198.51.100.1", 5060);

	strcpy(f.trunk, "t1");
	strcpy(f.trunk_user, "alice");
	strcpy(f.trunk_domain, "EXAMPLE.com"); /* hosts compare without case */
	cr_assert_eq(trace_filter_match(&f, REG, strlen(REG), SA(a), SA(b)), 1);
	cr_assert_eq(trace_filter_match(&f, R401, strlen(R401), SA(b), SA(a)), 1);
	strcpy(f.trunk_domain, "example.org");
	cr_assert_eq(trace_filter_match(&f, REG, strlen(REG), SA(a), SA(b)), 0);
	f.trunk_domain[0] = 0; /* any host */
	cr_assert_eq(trace_filter_match(&f, REG, strlen(REG), SA(a), SA(b)), 1);
	/* the Request-URI's user is not the trunk's AOR */
	strcpy(f.trunk_user, "bob");
	cr_assert_eq(trace_filter_match(&f, INV, strlen(INV), SA(a), SA(b)), 0);
}

/* ---- pcap ---- */

static uint16_t csum(const uint8_t *p, size_t n, uint32_t sum)
{
	size_t i;

	for (i = 0; i + 1 < n; i += 2)
		sum += (uint32_t)p[i] << 8 | p[i + 1];
	if (i < n)
		sum += (uint32_t)p[i] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)get16(p) << 16 | get16(p + 2);
}

struct rec {
	int family;
	uint8_t proto;
	uint8_t src[16], dst[16];
	uint16_t sport, dport;
	uint32_t seq, ack;
	uint8_t flags;
	const uint8_t *payload;
	size_t len;
	struct timeval ts; /* tv_usec: nanoseconds */
};

/* Decodes one raw-IP record and checks its lengths and checksums. */
static void decode(const struct pcap_pkthdr *h, const uint8_t *d, struct rec *r)
{
	size_t iph, l4h, l4len;
	uint32_t sum;

	memset(r, 0, sizeof(*r));
	cr_assert_eq(h->caplen, h->len);
	r->ts = h->ts;
	if ((d[0] >> 4) == 4) {
		r->family = AF_INET;
		iph = 20;
		cr_assert_eq(get16(d + 2), h->caplen, "IPv4 total length");
		cr_assert_eq(csum(d, 20, 0), 0xffff, "IPv4 header checksum");
		r->proto = d[9];
		memcpy(r->src, d + 12, 4);
		memcpy(r->dst, d + 16, 4);
		l4len = h->caplen - 20;
		sum = csum(d + 12, 8, 0);
	} else {
		cr_assert_eq(d[0] >> 4, 6);
		r->family = AF_INET6;
		iph = 40;
		cr_assert_eq(get16(d + 4) + 40u, h->caplen, "IPv6 payload length");
		r->proto = d[6];
		memcpy(r->src, d + 8, 16);
		memcpy(r->dst, d + 24, 16);
		l4len = h->caplen - 40;
		sum = csum(d + 8, 32, 0);
	}
	sum += r->proto + (uint32_t)l4len;
	cr_assert_eq(csum(d + iph, l4len, sum), 0xffff, "UDP/TCP checksum");
	r->sport = get16(d + iph);
	r->dport = get16(d + iph + 2);
	if (r->proto == 17) {
		l4h = 8;
		cr_assert_eq(get16(d + iph + 4), l4len, "UDP length");
	} else {
		cr_assert_eq(r->proto, 6);
		l4h = (size_t)(d[iph + 12] >> 4) * 4;
		cr_assert_eq(l4h, 20);
		r->seq = get32(d + iph + 4);
		r->ack = get32(d + iph + 8);
		r->flags = d[iph + 13];
	}
	r->payload = d + iph + l4h;
	r->len = l4len - l4h;
}

static pcap_t *open_read(const char *path)
{
	char eb[PCAP_ERRBUF_SIZE];
	pcap_t *p = pcap_open_offline_with_tstamp_precision(
	        path, PCAP_TSTAMP_PRECISION_NANO, eb);

	cr_assert_not_null(p, "%s", eb);
	cr_assert_eq(pcap_datalink(p), DLT_RAW);
	return p;
}

static void start_file(struct trace *t, const char *path, const struct trace_filter *f)
{
	struct trace_config c = {0};
	char err[256] = "";

	if (f)
		c.filter = *f;
	snprintf(c.file, sizeof(c.file), "%s", path);
	cr_assert_eq(trace_start(t, &c, err, sizeof(err)), 0, "%s", err);
}

Test(trace_pcap, records_read_back, .init = mk_tmp, .fini = rm_tmp)
{
	struct trace *t;
	struct trace_status st;
	struct sockaddr_storage peer = v4("192.0.2.7", 5070),
	                        us = v4("198.51.100.1", 5060);
	struct sockaddr_storage p6 = v6("2001:db8::7", 40000),
	                        u6 = v6("2001:db8::1", 5061);
	struct timespec t1 = {1700000000, 123456789}, t2 = {1700000000, 223456789},
	                t3 = {1700000001, 5}, t4 = {1700000002, 6}, t5 = {1700000003, 7};
	struct pcap_pkthdr *h;
	const u_char *d;
	struct rec r;
	char path[128];
	pcap_t *p;

	path_in_tmp(path, sizeof(path), "a.pcap");
	cr_assert_eq(trace_new(&t, NULL, NULL), 0);
	start_file(t, path, NULL);
	cr_assert_eq(trace_capture(t, TRACE_IN, TRACE_UDP, REG, strlen(REG), SA(peer),
	                           SA(us), &t1),
	             1);
	cr_assert_eq(trace_capture(t, TRACE_OUT, TRACE_UDP, R401, strlen(R401), SA(us),
	                           SA(peer), &t2),
	             1);
	cr_assert_eq(trace_capture(t, TRACE_IN, TRACE_TCP, REG, strlen(REG), SA(p6),
	                           SA(u6), &t3),
	             1);
	cr_assert_eq(trace_capture(t, TRACE_IN, TRACE_TCP, INV, strlen(INV), SA(p6),
	                           SA(u6), &t4),
	             1);
	cr_assert_eq(trace_capture(t, TRACE_OUT, TRACE_TCP, R401, strlen(R401), SA(u6),
	                           SA(p6), &t5),
	             1);
	cr_assert_eq(trace_stop(t, &st), 0);
	cr_assert_eq(st.matched, 5);
	cr_assert_eq(st.written, 5);
	cr_assert_eq(st.dropped, 0);
	cr_assert_eq(st.reason, TRACE_STOP_REQUEST);
	{
		struct stat sb;

		cr_assert_eq(stat(path, &sb), 0);
		cr_assert_eq((uint64_t)sb.st_size, st.bytes, "bytes counted = file size");
		cr_assert_eq(sb.st_mode & 0777, 0640);
	}

	p = open_read(path);
	cr_assert_eq(pcap_next_ex(p, &h, &d), 1);
	decode(h, d, &r);
	cr_assert_eq(r.family, AF_INET);
	cr_assert_eq(r.proto, 17);
	cr_assert_eq(memcmp(r.src, &((struct sockaddr_in *)&peer)->sin_addr, 4), 0);
	cr_assert_eq(memcmp(r.dst, &((struct sockaddr_in *)&us)->sin_addr, 4), 0);
	cr_assert_eq(r.sport, 5070);
	cr_assert_eq(r.dport, 5060);
	cr_assert_eq(r.len, strlen(REG));
	cr_assert_eq(memcmp(r.payload, REG, r.len), 0);
	cr_assert_eq(r.ts.tv_sec, 1700000000);
	cr_assert_eq(r.ts.tv_usec, 123456789, "nanoseconds kept");

	cr_assert_eq(pcap_next_ex(p, &h, &d), 1);
	decode(h, d, &r);
	cr_assert_eq(r.sport, 5060);
	cr_assert_eq(r.dport, 5070);
	cr_assert_eq(memcmp(r.src, &((struct sockaddr_in *)&us)->sin_addr, 4), 0);
	cr_assert_eq(memcmp(r.payload, R401, strlen(R401)), 0);
	cr_assert_eq(r.ts.tv_usec, 223456789);

	/* TCP over IPv6: sequence numbers follow the bytes of each direction */
	cr_assert_eq(pcap_next_ex(p, &h, &d), 1);
	decode(h, d, &r);
	cr_assert_eq(r.family, AF_INET6);
	cr_assert_eq(r.proto, 6);
	cr_assert_eq(memcmp(r.src, &((struct sockaddr_in6 *)&p6)->sin6_addr, 16), 0);
	cr_assert_eq(memcmp(r.dst, &((struct sockaddr_in6 *)&u6)->sin6_addr, 16), 0);
	cr_assert_eq(r.sport, 40000);
	cr_assert_eq(r.dport, 5061);
	cr_assert_eq(r.seq, 1);
	cr_assert_eq(memcmp(r.payload, REG, strlen(REG)), 0);
	cr_assert_eq(pcap_next_ex(p, &h, &d), 1);
	decode(h, d, &r);
	cr_assert_eq(r.seq, 1 + strlen(REG));
	cr_assert_eq(r.len, strlen(INV));
	cr_assert_eq(pcap_next_ex(p, &h, &d), 1);
	decode(h, d, &r);
	cr_assert_eq(r.sport, 5061);
	cr_assert_eq(r.seq, 1);
	cr_assert_eq(r.ack, 1 + strlen(REG) + strlen(INV), "acks the other direction");
	cr_assert_eq(r.flags, 0x18);
	cr_assert_eq(r.ts.tv_sec, 1700000003);
	cr_assert_eq(pcap_next_ex(p, &h, &d), PCAP_ERROR_BREAK, "no more records");
	pcap_close(p);
	trace_free(t);
}

/* trace_capture_parsed() filters on the caller's parse, not on a parse of
 * its own: given the parse of INV (to bob) with REG's bytes it selects, and
 * the parse of REG with INV's bytes it does not; the bytes written are the
 * bytes given. NULL parses as trace_capture() does. */
Test(trace_pcap, filter_reads_the_callers_parse, .init = mk_tmp, .fini = rm_tmp)
{
	struct trace *t;
	struct trace_filter f = {0};
	struct sockaddr_storage a = v4("192.0.2.7", 5070), b = v4("198.51.100.1", 5060);
	struct sip_hdr hr[32], hi[32];
	struct sip_msg mreg, minv;
	struct sip_err err;
	struct pcap_pkthdr *h;
	const u_char *d;
	struct rec r;
	char path[128];
	pcap_t *p;

	cr_assert_geq(sip_msg_parse(&mreg, REG, strlen(REG), hr, 32, SIP_PARSE_DATAGRAM, &err), 0);
	cr_assert_geq(sip_msg_parse(&minv, INV, strlen(INV), hi, 32, SIP_PARSE_DATAGRAM, &err), 0);
	path_in_tmp(path, sizeof(path), "p.pcap");
	strcpy(f.user, "bob");
	cr_assert_eq(trace_new(&t, NULL, NULL), 0);
	start_file(t, path, &f);
	cr_assert_eq(trace_capture_parsed(t, TRACE_IN, TRACE_UDP, REG, strlen(REG), SA(a),
	                                  SA(b), NULL, &minv),
	             1);
	cr_assert_eq(trace_capture_parsed(t, TRACE_IN, TRACE_UDP, INV, strlen(INV), SA(a),
	                                  SA(b), NULL, &mreg),
	             0);
	cr_assert_eq(trace_capture_parsed(t, TRACE_IN, TRACE_UDP, INV, strlen(INV), SA(a),
	                                  SA(b), NULL, NULL),
	             1);
	cr_assert_eq(trace_capture_parsed(t, TRACE_IN, TRACE_UDP, REG, strlen(REG), SA(a),
	                                  SA(b), NULL, NULL),
	             0);
	cr_assert_eq(trace_stop(t, NULL), 0);
	p = open_read(path);
	cr_assert_eq(pcap_next_ex(p, &h, &d), 1);
	decode(h, d, &r);
	cr_assert_eq(memcmp(r.payload, REG, strlen(REG)), 0, "the bytes given are written");
	cr_assert_eq(pcap_next_ex(p, &h, &d), 1);
	decode(h, d, &r);
	cr_assert_eq(memcmp(r.payload, INV, strlen(INV)), 0);
	cr_assert_eq(pcap_next_ex(p, &h, &d), PCAP_ERROR_BREAK);
	pcap_close(p);
	trace_free(t);
}

Test(trace_pcap, filter_selects, .init = mk_tmp, .fini = rm_tmp)
{
	struct trace *t;
	struct trace_filter f = {0};
	struct trace_status st;
	struct sockaddr_storage a = v4("192.0.2.7", 5070), b = v4("198.51.100.1", 5060);
	struct pcap_pkthdr *h;
	const u_char *d;
	struct rec r;
	char path[128];
	pcap_t *p;

	path_in_tmp(path, sizeof(path), "f.pcap");
	strcpy(f.user, "bob");
	cr_assert_eq(trace_new(&t, NULL, NULL), 0);
	start_file(t, path, &f);
	cr_assert_eq(trace_capture(t, TRACE_IN, TRACE_UDP, REG, strlen(REG), SA(a), SA(b),
	                           NULL),
	             0);
	cr_assert_eq(trace_capture(t, TRACE_IN, TRACE_UDP, INV, strlen(INV), SA(a), SA(b),
	                           NULL),
	             1);
	cr_assert_eq(trace_capture(t, TRACE_OUT, TRACE_UDP, R401, strlen(R401), SA(b),
	                           SA(a), NULL),
	             0);
	trace_get(t, &st);
	cr_assert(st.active);
	cr_assert_eq(st.matched, 1);
	cr_assert_eq(trace_stop(t, NULL), 0);
	/* once stopped, nothing is captured */
	cr_assert_eq(trace_capture(t, TRACE_IN, TRACE_UDP, INV, strlen(INV), SA(a), SA(b),
	                           NULL),
	             0);
	p = open_read(path);
	cr_assert_eq(pcap_next_ex(p, &h, &d), 1);
	decode(h, d, &r);
	cr_assert_eq(memcmp(r.payload, INV, strlen(INV)), 0);
	cr_assert_eq(pcap_next_ex(p, &h, &d), PCAP_ERROR_BREAK);
	pcap_close(p);
	trace_free(t);
}

static int stops;
static enum trace_stop_reason last_reason;

static void count_stop(const struct trace_status *st, void *arg)
{
	(void)arg;
	stops++;
	last_reason = st->reason;
}

Test(trace_pcap, max_packets_stops, .init = mk_tmp, .fini = rm_tmp)
{
	struct trace *t;
	struct trace_config c = {0};
	struct trace_status st;
	struct sockaddr_storage a = v4("192.0.2.7", 5070), b = v4("198.51.100.1", 5060);
	char err[256];

	cr_assert_eq(trace_new(&t, count_stop, NULL), 0);
	path_in_tmp(c.file, sizeof(c.file), "m.pcap");
	c.max_packets = 3;
	cr_assert_eq(trace_start(t, &c, err, sizeof(err)), 0, "%s", err);
	for (int i = 0; i < 5; i++)
		trace_capture(t, TRACE_IN, TRACE_UDP, REG, strlen(REG), SA(a), SA(b),
		              NULL);
	trace_get(t, &st);
	cr_assert_not(st.active);
	cr_assert_eq(st.written, 3);
	cr_assert_eq(st.reason, TRACE_STOP_PACKETS);
	cr_assert_eq(stops, 1);
	cr_assert_eq(last_reason, TRACE_STOP_PACKETS);
	cr_assert_eq(trace_stop(t, NULL), -ENOENT, "stopped already");
	trace_free(t);
	cr_assert_eq(stops, 1, "free does not stop twice");
}

Test(trace_pcap, max_bytes_stops, .init = mk_tmp, .fini = rm_tmp)
{
	struct trace *t;
	struct trace_config c = {0};
	struct trace_status st;
	struct sockaddr_storage a = v4("192.0.2.7", 5070), b = v4("198.51.100.1", 5060);
	size_t rec = 16 + 20 + 8 + strlen(REG);
	struct stat sb;
	char err[256];

	cr_assert_eq(trace_new(&t, NULL, NULL), 0);
	path_in_tmp(c.file, sizeof(c.file), "b.pcap");
	c.max_bytes = 24 + 2 * rec + rec / 2; /* room for two records */
	cr_assert_eq(trace_start(t, &c, err, sizeof(err)), 0, "%s", err);
	for (int i = 0; i < 4; i++)
		trace_capture(t, TRACE_IN, TRACE_UDP, REG, strlen(REG), SA(a), SA(b),
		              NULL);
	trace_get(t, &st);
	cr_assert_not(st.active);
	cr_assert_eq(st.reason, TRACE_STOP_BYTES);
	cr_assert_eq(st.written, 2);
	cr_assert_eq(st.dropped, 1);
	cr_assert_eq(stat(c.file, &sb), 0);
	cr_assert_eq((uint64_t)sb.st_size, 24 + 2 * rec);
	cr_assert_leq((uint64_t)sb.st_size, c.max_bytes);
	trace_free(t);
}

struct writer {
	struct trace *t;
	int id;
};

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	struct sockaddr_storage a = v4("192.0.2.7", (uint16_t)(10000 + w->id)),
	                        b = v4("198.51.100.1", 5060);

	for (int i = 0; i < 2000; i++)
		trace_capture(w->t, i % 2 ? TRACE_OUT : TRACE_IN, TRACE_UDP, REG,
		              strlen(REG), SA(a), SA(b), NULL);
	return NULL;
}

Test(trace_pcap, concurrent_writers, .init = mk_tmp, .fini = rm_tmp)
{
	struct trace *t;
	struct trace_status st;
	struct writer w[4];
	pthread_t th[4];
	unsigned per_port[4] = {0}, n = 0;
	struct pcap_pkthdr *h;
	const u_char *d;
	struct rec r;
	char path[128];
	pcap_t *p;
	int rc;

	path_in_tmp(path, sizeof(path), "c.pcap");
	cr_assert_eq(trace_new(&t, NULL, NULL), 0);
	start_file(t, path, NULL);
	for (int i = 0; i < 4; i++) {
		w[i] = (struct writer){t, i};
		cr_assert_eq(pthread_create(&th[i], NULL, writer_main, &w[i]), 0);
	}
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	cr_assert_eq(trace_stop(t, &st), 0);
	cr_assert_eq(st.written, 8000);
	p = open_read(path);
	while ((rc = pcap_next_ex(p, &h, &d)) == 1) {
		decode(h, d, &r);
		cr_assert_eq(r.len, strlen(REG));
		cr_assert_eq(memcmp(r.payload, REG, r.len), 0, "record %u intact", n);
		cr_assert(r.sport >= 10000 && r.sport < 10004);
		per_port[r.sport - 10000]++;
		n++;
	}
	cr_assert_eq(rc, PCAP_ERROR_BREAK);
	cr_assert_eq(n, 8000);
	for (int i = 0; i < 4; i++)
		cr_assert_eq(per_port[i], 2000);
	pcap_close(p);
	trace_free(t);
}

/* ---- HEPv3 ---- */

struct hep {
	int family, proto, type;
	uint8_t src[16], dst[16];
	uint16_t sport, dport;
	uint32_t sec, usec, id;
	const uint8_t *payload;
	size_t len;
	unsigned chunks;
};

/* A HEPv3 decoder: 0, or -1 on any framing error. */
static int hep_decode(const uint8_t *b, size_t n, struct hep *o)
{
	size_t off = 6;

	memset(o, 0, sizeof(*o));
	if (n < 6 || memcmp(b, "HEP3", 4) != 0 || get16(b + 4) != n)
		return -1;
	while (off < n) {
		uint16_t vendor, type, len;
		const uint8_t *v;

		if (n - off < 6)
			return -1;
		vendor = get16(b + off);
		type = get16(b + off + 2);
		len = get16(b + off + 4);
		if (vendor != 0 || len < 6 || len > n - off)
			return -1;
		v = b + off + 6;
		len -= 6;
		switch (type) {
		case 1:
			o->family = v[0];
			break;
		case 2:
			o->proto = v[0];
			break;
		case 3:
		case 5:
			memcpy(o->src, v, len);
			break;
		case 4:
		case 6:
			memcpy(o->dst, v, len);
			break;
		case 7:
			o->sport = get16(v);
			break;
		case 8:
			o->dport = get16(v);
			break;
		case 9:
			o->sec = get32(v);
			break;
		case 10:
			o->usec = get32(v);
			break;
		case 11:
			o->type = v[0];
			break;
		case 12:
			o->id = get32(v);
			break;
		case 15:
			o->payload = v;
			o->len = len;
			break;
		default:
			return -1;
		}
		o->chunks++;
		off += 6 + len;
	}
	return 0;
}

Test(trace_hep, sent_and_decoded)
{
	struct sockaddr_in lo = {.sin_family = AF_INET,
	                         .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t lolen = sizeof(lo);
	struct sockaddr_storage a = v4("192.0.2.7", 5070), b = v4("198.51.100.1", 5060);
	struct sockaddr_storage p6 = v6("2001:db8::7", 40000),
	                        u6 = v6("2001:db8::1", 5061);
	struct timespec ts = {1700000000, 987654321};
	struct timeval tv = {5, 0};
	struct trace_config c = {0};
	struct trace_status st;
	struct trace *t;
	uint8_t buf[70000];
	struct hep h;
	char err[256];
	ssize_t n;
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	cr_assert_geq(fd, 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&lo, sizeof(lo)), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&lo, &lolen), 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	snprintf(c.hep, sizeof(c.hep), "127.0.0.1:%u", ntohs(lo.sin_port));
	c.hep_id = 77;
	cr_assert_eq(trace_new(&t, NULL, NULL), 0);
	cr_assert_eq(trace_start(t, &c, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(trace_capture(t, TRACE_IN, TRACE_UDP, REG, strlen(REG), SA(a), SA(b),
	                           &ts),
	             1);
	cr_assert_eq(trace_capture(t, TRACE_OUT, TRACE_TCP, R401, strlen(R401), SA(u6),
	                           SA(p6), &ts),
	             1);

	n = recv(fd, buf, sizeof(buf), 0);
	cr_assert_gt(n, 0);
	cr_assert_eq(hep_decode(buf, (size_t)n, &h), 0);
	cr_assert_eq(h.chunks, 11);
	cr_assert_eq(h.family, 2);
	cr_assert_eq(h.proto, 17);
	cr_assert_eq(memcmp(h.src, &((struct sockaddr_in *)&a)->sin_addr, 4), 0);
	cr_assert_eq(memcmp(h.dst, &((struct sockaddr_in *)&b)->sin_addr, 4), 0);
	cr_assert_eq(h.sport, 5070);
	cr_assert_eq(h.dport, 5060);
	cr_assert_eq(h.sec, 1700000000);
	cr_assert_eq(h.usec, 987654);
	cr_assert_eq(h.type, 1);
	cr_assert_eq(h.id, 77);
	cr_assert_eq(h.len, strlen(REG));
	cr_assert_eq(memcmp(h.payload, REG, h.len), 0);

	n = recv(fd, buf, sizeof(buf), 0);
	cr_assert_gt(n, 0);
	cr_assert_eq(hep_decode(buf, (size_t)n, &h), 0);
	cr_assert_eq(h.family, 10);
	cr_assert_eq(h.proto, 6);
	cr_assert_eq(memcmp(h.src, &((struct sockaddr_in6 *)&u6)->sin6_addr, 16), 0);
	cr_assert_eq(memcmp(h.dst, &((struct sockaddr_in6 *)&p6)->sin6_addr, 16), 0);
	cr_assert_eq(h.sport, 5061);
	cr_assert_eq(h.dport, 40000);
	cr_assert_eq(memcmp(h.payload, R401, h.len), 0);

	cr_assert_eq(trace_stop(t, &st), 0);
	cr_assert_eq(st.hep_sent, 2);
	cr_assert_eq(st.written, 0, "no pcap sink");
	trace_free(t);
	close(fd);
}

Test(trace_hep, encode_limits)
{
	static uint8_t big[65535], out[70000];
	struct sockaddr_storage a = v4("192.0.2.7", 5070), b = v4("198.51.100.1", 5060),
	                        six = v6("2001:db8::1", 5060);
	struct timespec ts = {1, 2};
	int n;

	memset(big, 'x', sizeof(big));
	n = trace_hep_encode(out, sizeof(out), TRACE_UDP, REG, strlen(REG), SA(a), SA(b),
	                     &ts, 1);
	cr_assert_gt(n, (int)strlen(REG));
	cr_assert_eq(trace_hep_encode(out, (size_t)n - 1, TRACE_UDP, REG, strlen(REG),
	                              SA(a), SA(b), &ts, 1),
	             -ENOSPC);
	cr_assert_eq(trace_hep_encode(out, sizeof(out), TRACE_UDP, big, sizeof(big),
	                              SA(a), SA(b), &ts, 1),
	             -ENOSPC, "over HEP's 16-bit length");
	cr_assert_eq(trace_hep_encode(out, sizeof(out), TRACE_UDP, REG, strlen(REG),
	                              SA(a), SA(six), &ts, 1),
	             -EAFNOSUPPORT);
}

Test(trace_hep, addresses)
{
	struct sockaddr_storage ss;
	socklen_t len;

	cr_assert_eq(trace_hep_parse("127.0.0.1:9060", &ss, &len), 0);
	cr_assert_eq(ss.ss_family, AF_INET);
	cr_assert_eq(ntohs(((struct sockaddr_in *)&ss)->sin_port), 9060);
	cr_assert_eq(trace_hep_parse("[::1]:9060", &ss, &len), 0);
	cr_assert_eq(ss.ss_family, AF_INET6);
	cr_assert_eq(ntohs(((struct sockaddr_in6 *)&ss)->sin6_port), 9060);
	cr_assert_eq(trace_hep_parse("localhost:9", &ss, &len), 0);
	cr_assert_eq(trace_hep_parse("127.0.0.1", &ss, &len), -EINVAL, "no port");
	cr_assert_eq(trace_hep_parse("127.0.0.1:", &ss, &len), -EINVAL);
	cr_assert_eq(trace_hep_parse("127.0.0.1:0", &ss, &len), -EINVAL);
	cr_assert_eq(trace_hep_parse("127.0.0.1:65536", &ss, &len), -EINVAL);
	cr_assert_eq(trace_hep_parse("127.0.0.1:90x", &ss, &len), -EINVAL);
	cr_assert_eq(trace_hep_parse(":9060", &ss, &len), -EINVAL);
	cr_assert_eq(trace_hep_parse("::1:9060", &ss, &len), -EINVAL, "IPv6 needs []");
	cr_assert_eq(trace_hep_parse("[::1]9060", &ss, &len), -EINVAL);
	cr_assert_eq(trace_hep_parse("[]:9060", &ss, &len), -EINVAL);
	cr_assert_eq(trace_hep_parse("[nothost]:9060", &ss, &len), -EINVAL);
	cr_assert_eq(trace_hep_parse("no-such-host.invalid:9060", &ss, &len), -ENOENT);
	cr_assert_eq(trace_hep_parse(NULL, &ss, &len), -EINVAL);
}

/* ---- sessions: bad input ---- */

Test(trace_session, refusals, .init = mk_tmp, .fini = rm_tmp)
{
	struct trace *t;
	struct trace_config c = {0};
	struct trace_status st;
	char err[512], path[128];
	FILE *f;

	cr_assert_eq(trace_new(&t, NULL, NULL), 0);
	cr_assert_eq(trace_stop(t, &st), -ENOENT, "stop when not started");
	cr_assert_not(st.ever);
	cr_assert_eq(trace_start(t, &c, err, sizeof(err)), -EINVAL, "no sink");
	cr_assert(strstr(err, "sink"));
	strcpy(c.hep, "127.0.0.1");
	cr_assert_eq(trace_start(t, &c, err, sizeof(err)), -EINVAL, "bad HEP address");
	cr_assert(strstr(err, "127.0.0.1"), "%s", err);
	c.hep[0] = 0;
	strcpy(c.file, "/nonexistent-dir-sipreg/x.pcap");
	cr_assert_eq(trace_start(t, &c, err, sizeof(err)), -ENOENT, "unwritable file");
	cr_assert(strstr(err, "/nonexistent-dir-sipreg/x.pcap"), "%s", err);
	path_in_tmp(path, sizeof(path), "exists.pcap");
	f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs("precious", f);
	fclose(f);
	snprintf(c.file, sizeof(c.file), "%s", path);
	cr_assert_eq(trace_start(t, &c, err, sizeof(err)), -EEXIST, "never overwrites");
	{
		char got[16] = "";

		f = fopen(path, "r");
		cr_assert_not_null(f);
		cr_assert_not_null(fgets(got, sizeof(got), f));
		fclose(f);
		cr_assert_str_eq(got, "precious");
	}
	if (geteuid() != 0) { /* root writes anywhere */
		char ro[160];

		path_in_tmp(ro, sizeof(ro), "ro");
		cr_assert_eq(mkdir(ro, 0500), 0);
		snprintf(c.file, sizeof(c.file), "%s/x.pcap", ro);
		cr_assert_eq(trace_start(t, &c, err, sizeof(err)), -EACCES);
	}
	/* a trunk filter without the trunk's user */
	path_in_tmp(c.file, sizeof(c.file), "t.pcap");
	strcpy(c.filter.trunk, "t1");
	cr_assert_eq(trace_start(t, &c, err, sizeof(err)), -EINVAL);
	c.filter.trunk[0] = 0;
	c.filter.addr.ss_family = AF_UNIX;
	cr_assert_eq(trace_start(t, &c, err, sizeof(err)), -EINVAL, "address not IP");
	c.filter.addr.ss_family = AF_UNSPEC;
	trace_get(t, &st);
	cr_assert_not(st.active);
	cr_assert_not(st.ever, "no refused start counts as a session");
	/* the first good start, then a second one is refused */
	cr_assert_eq(trace_start(t, &c, err, sizeof(err)), 0, "%s", err);
	path_in_tmp(c.file, sizeof(c.file), "t2.pcap");
	cr_assert_eq(trace_start(t, &c, err, sizeof(err)), -EALREADY);
	cr_assert_eq(access(c.file, F_OK), -1, "the refused start created nothing");
	trace_get(t, &st);
	cr_assert(st.active);
	cr_assert_eq(st.cfg.max_packets, TRACE_DEFAULT_MAX_PACKETS);
	cr_assert_eq(st.cfg.max_bytes, TRACE_DEFAULT_MAX_BYTES);
	cr_assert_eq(trace_stop(t, NULL), 0);
	cr_assert_eq(trace_stop(t, NULL), -ENOENT);
	trace_free(t);
	trace_free(NULL);
}

/* The hooks' test: one load, the installed tracer only while it runs. */
Test(trace_session, install_and_hook_flag, .init = mk_tmp, .fini = rm_tmp)
{
	struct trace *t, *other;
	char path[128];

	cr_assert_eq(trace_new(&t, NULL, NULL), 0);
	cr_assert_eq(trace_new(&other, NULL, NULL), 0);
	trace_install(t);
	cr_assert_null(trace_is_on());
	path_in_tmp(path, sizeof(path), "o.pcap");
	start_file(other, path, NULL);
	cr_assert_null(trace_is_on(), "another tracer's session does not arm the hooks");
	path_in_tmp(path, sizeof(path), "i.pcap");
	start_file(t, path, NULL);
	cr_assert_eq(trace_is_on(), t);
	cr_assert_eq(trace_stop(t, NULL), 0);
	cr_assert_null(trace_is_on());
	start_file(t, (path_in_tmp(path, sizeof(path), "j.pcap"), path), NULL);
	trace_free(t); /* stops and uninstalls */
	cr_assert_null(trace_is_on());
	trace_free(other);
}

/* Sessions started and stopped (and stopping at their limit) while four
 * threads capture through the hook flag: every file is a whole pcap file. */
struct hook_writer {
	int stop;
};

static void *hook_writer_main(void *arg)
{
	struct hook_writer *hw = arg;
	struct sockaddr_storage a = v4("192.0.2.7", 5070), b = v4("198.51.100.1", 5060);

	while (!__atomic_load_n(&hw->stop, __ATOMIC_RELAXED)) {
		struct trace *l = trace_is_on();

		if (l)
			trace_capture(l, TRACE_IN, TRACE_UDP, REG, strlen(REG), SA(a),
			              SA(b), NULL);
	}
	return NULL;
}

Test(trace_session, start_stop_under_load, .init = mk_tmp, .fini = rm_tmp)
{
	struct hook_writer hw = {0};
	struct trace *t;
	pthread_t th[4];
	uint64_t total = 0;

	cr_assert_eq(trace_new(&t, NULL, NULL), 0);
	trace_install(t);
	for (int i = 0; i < 4; i++)
		cr_assert_eq(pthread_create(&th[i], NULL, hook_writer_main, &hw), 0);
	for (int i = 0; i < 12; i++) {
		struct trace_config c = {0};
		struct trace_status st;
		struct pcap_pkthdr *h;
		const u_char *d;
		struct rec r;
		char err[256];
		uint64_t n = 0;
		pcap_t *p;
		int rc;

		snprintf(c.file, sizeof(c.file), "%s/s%d.pcap", tmpdir, i);
		if (i % 2)
			strcpy(c.filter.user, "alice");
		c.max_packets = i % 3 ? 0 : 300;
		cr_assert_eq(trace_start(t, &c, err, sizeof(err)), 0, "%s", err);
		usleep(20000);
		rc = trace_stop(t, &st);
		cr_assert(rc == 0 || (rc == -ENOENT && st.reason == TRACE_STOP_PACKETS));
		if (c.max_packets)
			cr_assert_leq(st.written, 300);
		p = open_read(c.file);
		while ((rc = pcap_next_ex(p, &h, &d)) == 1) {
			decode(h, d, &r);
			cr_assert_eq(memcmp(r.payload, REG, strlen(REG)), 0);
			n++;
		}
		cr_assert_eq(rc, PCAP_ERROR_BREAK, "file %d read to its end", i);
		cr_assert_eq(n, st.written, "file %d: %llu records, %llu counted", i,
		             (unsigned long long)n, (unsigned long long)st.written);
		pcap_close(p);
		total += n;
	}
	__atomic_store_n(&hw.stop, 1, __ATOMIC_RELAXED);
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	cr_assert_gt(total, 0);
	trace_free(t);
}
