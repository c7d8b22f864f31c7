/* SPDX-License-Identifier: MIT */
/*
 * trace/hook.c - the daemon's trace hooks (hook.h): a worker's message and
 * its two addresses to trace_capture().
 */
#include <netinet/in.h>
#include <string.h>

#include "sipreg/trace.h"
#include "trace/hook.h"
#include "worker.h"

static bool is_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) ==
		       127;
	if (sa->sa_family == AF_INET6)
		return IN6_IS_ADDR_LOOPBACK(
		        &((const struct sockaddr_in6 *)sa)->sin6_addr);
	return false;
}

static bool is_wildcard(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return ((const struct sockaddr_in *)sa)->sin_addr.s_addr ==
		       htonl(INADDR_ANY);
	if (sa->sa_family == AF_INET6)
		return IN6_IS_ADDR_UNSPECIFIED(
		        &((const struct sockaddr_in6 *)sa)->sin6_addr);
	return false;
}

/* Our address for a message with peer on conn, into *local. */
static void local_of(const struct worker *w, uint64_t conn, bool tcp,
                     const struct sockaddr *peer, struct sockaddr_storage *local)
{
	const struct engine *e = w->eng;
	unsigned udp_idx = 0;

	memset(local, 0, sizeof(*local));
	local->ss_family = peer->sa_family;
	for (unsigned i = 0; i < e->nbound; i++) {
		const struct transport_addr *b = &e->bound[i];

		if (tcp && b->proto == TRANSPORT_TCP &&
		    b->ss.ss_family == peer->sa_family) {
			memcpy(local, &b->ss, b->len);
			break;
		}
		if (!tcp && b->proto == TRANSPORT_UDP && udp_idx++ == conn) {
			memcpy(local, &b->ss, b->len);
			break;
		}
	}
	if (is_wildcard((struct sockaddr *)local) && is_loopback(peer)) {
		if (local->ss_family == AF_INET)
			((struct sockaddr_in *)local)->sin_addr.s_addr =
			        htonl(INADDR_LOOPBACK);
		else
			((struct sockaddr_in6 *)local)->sin6_addr = in6addr_loopback;
	}
}

void trace_worker_in(struct worker *w, const struct pkt *p, const struct sip_msg *m)
{
	struct trace *t = trace_is_on();
	struct sockaddr_storage local;

	if (!t || !p->src || p->handed) /* a handed-off one was traced where it came in */
		return;
	local_of(w, p->conn, p->tcp, p->src, &local);
	trace_capture_parsed(t, TRACE_IN, p->tcp ? TRACE_TCP : TRACE_UDP, p->buf, p->len,
	                     p->src, (struct sockaddr *)&local, NULL, m);
}

void trace_worker_out(struct worker *w, const void *buf, size_t len,
                      const struct sockaddr *dst, socklen_t dstlen, uint64_t conn)
{
	struct trace *t = trace_is_on();
	struct sockaddr_storage local, peer;
	bool tcp = (conn & WORKER_CONN_TCP) != 0;
	socklen_t plen = sizeof(peer);

	if (!t)
		return;
	if (tcp && w->tcp &&
	    tcp_peer(w->tcp, worker_conn_handle(conn), &peer, &plen) == 0)
		dst = (struct sockaddr *)&peer, dstlen = plen;
	if (!dst || dstlen < sizeof(struct sockaddr_in))
		return;
	local_of(w, conn, tcp, dst, &local);
	trace_capture(t, TRACE_OUT, tcp ? TRACE_TCP : TRACE_UDP, buf, len,
	              (struct sockaddr *)&local, dst, NULL);
}
