/* SPDX-License-Identifier: MIT */
/*
 * trace/hook.h - the daemon's trace hooks (private to sipregd): the
 * addresses of a worker's message for trace_capture(). Called only when
 * trace_is_on() (trace.h); on the worker's thread.
 *
 * Our own address is the listen address the message came in on (UDP: the
 * socket's; TCP: the first TCP listen address of the peer's family). A
 * wildcard listen address (0.0.0.0, ::) is written as the loopback address
 * when the peer is on loopback, else as the wildcard itself: listen on a
 * specific address for exact local addresses in a trace. The local port of
 * an outgoing TCP connection (a trunk over TCP) is not known here: such
 * records carry port 0 on our side.
 */
#ifndef SIPREG_TRACE_HOOK_H
#define SIPREG_TRACE_HOOK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct worker;
struct pkt;
struct sip_msg;

/* A message worker w received, right after worker_message() parsed it: m
 * is that parse (the filter reads it), NULL when the parse failed (a
 * malformed message is traced too, parsed again only if a filter needs it). */
void trace_worker_in(struct worker *w, const struct pkt *p, const struct sip_msg *m);

/* A message w queued for sending (worker_send(), after the transport took it). */
void trace_worker_out(struct worker *w, const void *buf, size_t len,
                      const struct sockaddr *dst, socklen_t dstlen, uint64_t conn);

#endif /* SIPREG_TRACE_HOOK_H */
