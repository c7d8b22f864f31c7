/* SPDX-License-Identifier: MIT */
/*
 * addr.c - listen address strings: "udp:0.0.0.0:5060", "tcp:[::]:5060".
 *
 *   listen  = proto ":" host ":" port
 *   proto   = "udp" / "tcp"                 ; any case
 *   host    = IPv4address / "[" IPv6address "]"   ; numeric only
 *   port    = 1*5DIGIT                      ; 0..65535, 0 = ephemeral
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "sipreg/transport.h"

static int fail(const char **reason, const char *why)
{
	if (reason)
		*reason = why;
	return -EINVAL;
}

static int parse_port(const char *p, size_t n, uint16_t *port, const char **reason)
{
	uint32_t v = 0;
	size_t i;

	if (n == 0)
		return fail(reason, "missing port (allowed: 0..65535)");
	if (n > 5)
		return fail(reason, "port out of range (allowed: 0..65535)");
	for (i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return fail(reason, "port is not a number (allowed: 0..65535)");
		v = v * 10 + (uint32_t)(p[i] - '0');
	}
	if (v > 65535)
		return fail(reason, "port out of range (allowed: 0..65535)");
	*port = (uint16_t)v;
	return 0;
}

int transport_addr_parse(struct transport_addr *out, const char *s, size_t len,
			 const char **reason)
{
	struct transport_addr a;
	const char *end = s + len, *host, *hend, *colon;
	char tmp[INET6_ADDRSTRLEN + 1];
	uint16_t port;
	size_t hlen;
	int r;

	memset(&a, 0, sizeof(a));
	if (len >= 4 && strncasecmp(s, "udp:", 4) == 0)
		a.proto = TRANSPORT_UDP;
	else if (len >= 4 && strncasecmp(s, "tcp:", 4) == 0)
		a.proto = TRANSPORT_TCP;
	else
		return fail(reason, "unknown protocol (allowed: udp, tcp)");
	host = s + 4;
	if (host == end)
		return fail(reason, "missing host and port");

	if (*host == '[') {
		host++;
		hend = memchr(host, ']', (size_t)(end - host));
		if (!hend)
			return fail(reason, "unterminated IPv6 address (missing ']')");
		colon = hend + 1;
		if (colon == end || *colon != ':')
			return fail(reason, "missing ':PORT' after the IPv6 address");
	} else {
		/* the last ':' separates the port; an IPv4 host has none */
		colon = NULL;
		for (const char *q = host; q < end; q++)
			if (*q == ':')
				colon = q;
		if (!colon)
			return fail(reason, "missing ':PORT'");
		hend = colon;
		if (memchr(host, ':', (size_t)(hend - host)))
			return fail(reason, "IPv6 address must be in brackets, "
					    "e.g. tcp:[::1]:5060");
	}
	hlen = (size_t)(hend - host);
	if (hlen == 0)
		return fail(reason, "missing host");
	if (hlen >= sizeof(tmp))
		return fail(reason, "host too long for a numeric address");
	memcpy(tmp, host, hlen);
	tmp[hlen] = '\0';
	r = parse_port(colon + 1, (size_t)(end - colon - 1), &port, reason);
	if (r < 0)
		return r;

	if (host[-1] == '[') {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&a.ss;

		if (inet_pton(AF_INET6, tmp, &sin6->sin6_addr) != 1)
			return fail(reason, "not a numeric IPv6 address");
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		a.len = sizeof(*sin6);
	} else {
		struct sockaddr_in *sin = (struct sockaddr_in *)&a.ss;

		if (inet_pton(AF_INET, tmp, &sin->sin_addr) != 1)
			return fail(reason, "not a numeric IPv4 address "
					    "(host names are not allowed)");
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		a.len = sizeof(*sin);
	}
	*out = a;
	return 0;
}

int transport_sockaddr_str(const struct sockaddr *sa, char *buf, size_t cap)
{
	char ip[INET6_ADDRSTRLEN];
	unsigned port;
	int n;

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;

		inet_ntop(AF_INET, &sin->sin_addr, ip, sizeof(ip));
		port = ntohs(sin->sin_port);
		n = snprintf(buf, cap, "%s:%u", ip, port);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;

		inet_ntop(AF_INET6, &sin6->sin6_addr, ip, sizeof(ip));
		port = ntohs(sin6->sin6_port);
		n = snprintf(buf, cap, "[%s]:%u", ip, port);
	} else {
		return -EAFNOSUPPORT;
	}
	if (n < 0 || (size_t)n >= cap)
		return -ENOSPC;
	return n;
}

int transport_addr_str(const struct transport_addr *a, char *buf, size_t cap)
{
	int n;

	if (cap < 5)
		return -ENOSPC;
	memcpy(buf, a->proto == TRANSPORT_TCP ? "tcp:" : "udp:", 4);
	n = transport_sockaddr_str((const struct sockaddr *)&a->ss, buf + 4, cap - 4);
	return n < 0 ? n : n + 4;
}
