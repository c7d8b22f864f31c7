/* SPDX-License-Identifier: MIT */
/*
 * bench_parse_msgs.h - the fixed, realistic messages bench_parse parses with
 * sipreg and with libosip2. Shaped after the registrations in the corpus
 * (Yealink, JsSIP, baresip): one authenticated REGISTER of about 600 bytes,
 * the 200 OK a registrar sends back with three bindings, and the 401
 * challenge that precedes the REGISTER.
 */
#ifndef SIPREG_BENCH_PARSE_MSGS_H
#define SIPREG_BENCH_PARSE_MSGS_H

/* (a) authenticated REGISTER: Via with branch and rport, Max-Forwards, From
 * with tag, To, Call-ID, CSeq, Contact with expires, +sip.instance and
 * reg-id, Authorization Digest with every RFC 2617 parameter, Expires,
 * User-Agent, Content-Length: 0. */
static const char bench_msg_register[] =
	"REGISTER sip:example.com SIP/2.0\r\n"
	"Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK776asdhds;rport\r\n"
	"Max-Forwards: 70\r\n"
	"From: <sip:alice@example.com>;tag=1928301774\r\n"
	"To: <sip:alice@example.com>\r\n"
	"Call-ID: a84b4c76e66710\r\n"
	"CSeq: 1826 REGISTER\r\n"
	"Contact: <sip:alice@192.0.2.10:5060>;expires=3600"
	";+sip.instance=\"<urn:uuid:00000000-0000-1000-8000-000A95A0E128>\";reg-id=1\r\n"
	"Authorization: Digest username=\"alice\", realm=\"example.com\", "
	"nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", uri=\"sip:example.com\", "
	"response=\"6629fae49393a05397450978507c4ef1\", algorithm=MD5, "
	"cnonce=\"0a4f113b\", qop=auth, nc=00000001\r\n"
	"Expires: 3600\r\n"
	"User-Agent: baresip v2.0.0\r\n"
	"Content-Length: 0\r\n"
	"\r\n";

/* (b) 200 OK to a REGISTER: the registrar lists the three current bindings. */
static const char bench_msg_200[] =
	"SIP/2.0 200 OK\r\n"
	"Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK776asdhds;rport=5060"
	";received=203.0.113.9\r\n"
	"From: \"Alice\" <sip:alice@example.com>;tag=1928301774\r\n"
	"To: \"Alice\" <sip:alice@example.com>;tag=37GkEhwl6\r\n"
	"Call-ID: a84b4c76e66710@pc33.example.com\r\n"
	"CSeq: 1826 REGISTER\r\n"
	"Contact: <sip:alice@192.0.2.10:5060;transport=udp>;expires=3600"
	";+sip.instance=\"<urn:uuid:00000000-0000-1000-8000-000A95A0E128>\";reg-id=1\r\n"
	"Contact: <sip:alice@198.51.100.23:5062;transport=tcp>;expires=1800;q=0.5\r\n"
	"Contact: <sip:alice@[2001:db8::7]:5060>;expires=120;q=0.1\r\n"
	"Date: Tue, 24 Nov 2026 05:00:00 GMT\r\n"
	"Server: sipreg/0.1\r\n"
	"Content-Length: 0\r\n"
	"\r\n";

/* (c) 401 challenge. */
static const char bench_msg_401[] =
	"SIP/2.0 401 Unauthorized\r\n"
	"Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK776asdhdr;rport=5060"
	";received=203.0.113.9\r\n"
	"From: \"Alice\" <sip:alice@example.com>;tag=1928301774\r\n"
	"To: \"Alice\" <sip:alice@example.com>;tag=37GkEhwl6\r\n"
	"Call-ID: a84b4c76e66710@pc33.example.com\r\n"
	"CSeq: 1825 REGISTER\r\n"
	"WWW-Authenticate: Digest realm=\"example.com\", "
	"nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", "
	"opaque=\"5ccc069c403ebaf9f0171e9517f40e41\", algorithm=MD5, qop=\"auth\"\r\n"
	"Server: sipreg/0.1\r\n"
	"Content-Length: 0\r\n"
	"\r\n";

#endif /* SIPREG_BENCH_PARSE_MSGS_H */
