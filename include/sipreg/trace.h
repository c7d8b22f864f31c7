/* SPDX-License-Identifier: MIT */
/*
 * trace.h - the SIP trace: copies of the messages a filter selects, in both
 * directions, to a pcap file (libpcap, LINKTYPE_RAW: synthetic IPv4/IPv6
 * headers with the real addresses, ports and times, a UDP header for UDP, a
 * TCP header with per-flow sequence numbers for TCP) and/or as HEPv3 over
 * UDP to a Homer collector.
 *
 * A tracer holds at most one session at a time. trace_start() opens the
 * sinks; trace_capture() (any thread) filters and writes one message;
 * trace_stop() closes the sinks. A session also stops by itself when it has
 * written max_packets messages or max_bytes pcap bytes, or when the pcap
 * file cannot be written (the on_stop callback says so).
 *
 * The filter (every field given must match; none given: every message):
 *   trunk    a trunk's registrations: From or To is trunk_user@trunk_domain
 *            (the domain compared case-insensitively; an empty trunk_domain
 *            matches any host). The name itself is kept for display.
 *   user     the user part of From, To or the Request-URI (exact).
 *   address  the source or destination IP (any port).
 * A message that does not parse matches only a filter without trunk and
 * user.
 *
 * The hooks: one process-wide tracer is installed with trace_install(); the
 * daemon's per-message path tests trace_is_on() (one relaxed load) and calls
 * trace_capture() on trace_installed() only while a session runs.
 *
 * Threads: trace_capture() may run on any number of threads at once (one
 * mutex per tracer serializes the writes); trace_start/stop/get from one
 * control thread at a time (the admin thread). A tracer is freed only when
 * no thread can call trace_capture() on it any more.
 */
#ifndef SIPREG_TRACE_H
#define SIPREG_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

struct sip_msg;

struct trace;
struct admin;

#define TRACE_NAME_MAX 64   /* trunk name */
#define TRACE_USER_MAX 128  /* user parts and domains */
#define TRACE_PATH_MAX 1024 /* pcap file path */
#define TRACE_HEP_MAX 300   /* "HOST:PORT", "[V6]:PORT" */
#define TRACE_DEFAULT_MAX_PACKETS 1000000u
#define TRACE_DEFAULT_MAX_BYTES (100ull * 1024 * 1024) /* pcap file */
#define TRACE_HEP_DEFAULT_ID 2001u                     /* capture agent id */

enum trace_dir {
	TRACE_IN = 0,  /* received: src is the peer, dst ours */
	TRACE_OUT = 1, /* sent: src ours, dst the peer */
};

enum trace_proto {
	TRACE_UDP = 17,
	TRACE_TCP = 6,
};

struct trace_filter {
	char trunk[TRACE_NAME_MAX + 1]; /* "" none */
	char trunk_user[TRACE_USER_MAX + 1];
	char trunk_domain[TRACE_USER_MAX + 1];
	char user[TRACE_USER_MAX + 1]; /* "" none */
	struct sockaddr_storage addr;  /* ss_family AF_UNSPEC: none; port ignored */
};

struct trace_config {
	struct trace_filter filter;
	char file[TRACE_PATH_MAX + 1]; /* pcap file, "" none; never overwritten */
	char hep[TRACE_HEP_MAX + 1];   /* HEPv3 collector "HOST:PORT", "" none */
	uint32_t hep_id;               /* capture agent id; 0: TRACE_HEP_DEFAULT_ID */
	uint64_t max_packets;          /* 0: TRACE_DEFAULT_MAX_PACKETS */
	uint64_t max_bytes;            /* pcap bytes; 0: TRACE_DEFAULT_MAX_BYTES */
};

enum trace_stop_reason {
	TRACE_STOP_NONE = 0, /* running, or never started */
	TRACE_STOP_REQUEST,  /* trace_stop() */
	TRACE_STOP_PACKETS,  /* max_packets reached */
	TRACE_STOP_BYTES,    /* max_bytes reached */
	TRACE_STOP_WRITE,    /* the pcap file could not be written */
};

struct trace_status {
	bool active;
	bool ever;               /* a session has been started since trace_new() */
	struct trace_config cfg; /* of the current or last session */
	struct timespec started, stopped; /* CLOCK_REALTIME */
	enum trace_stop_reason reason;
	int write_err;     /* errno of a failed pcap write (TRACE_STOP_WRITE) */
	uint64_t matched;  /* messages the filter selected */
	uint64_t written;  /* records in the pcap file */
	uint64_t hep_sent; /* HEP packets sent */
	uint64_t dropped;  /* matched but not (fully) delivered to a sink */
	uint64_t bytes;    /* pcap file bytes, header included */
};

/* Called on the thread that stopped a session (trace_stop()'s, or the one
 * whose capture reached a limit), with the tracer's lock held: it must not
 * call back into the tracer. */
typedef void (*trace_stop_fn)(const struct trace_status *st, void *arg);

/* A tracer with no session. on_stop may be NULL.
 * Errors: -ENOMEM, or pthread_mutex_init's errno. */
int trace_new(struct trace **ret, trace_stop_fn on_stop, void *arg);

/* Stops a running session (flushing the file) and frees. NULL is a no-op. */
void trace_free(struct trace *t);

/*
 * Parses "HOST:PORT" / "[V6ADDR]:PORT" (HOST a name or an address, resolved
 * now) into a UDP destination. Errors: -EINVAL (no port, port 0 or over
 * 65535, empty host, too long), -ENOENT (the name does not resolve).
 */
int trace_hep_parse(const char *s, struct sockaddr_storage *out, socklen_t *outlen);

/*
 * Starts a session: opens the pcap file (created, mode 0640; an existing
 * file is never overwritten) and/or the HEP socket. err gets a sentence.
 * Errors: -EALREADY (a session runs), -EINVAL (no sink, a bad HEP address,
 * a filter address that is not IPv4/IPv6), -EEXIST (the file exists),
 * open()'s errno (-EACCES, -ENOENT, ...), socket()'s, -ENOMEM.
 */
int trace_start(struct trace *t, const struct trace_config *cfg, char *err,
                size_t errlen);

/*
 * Stops the session; *st (may be NULL) gets its final status.
 * Errors: -ENOENT (no session runs).
 */
int trace_stop(struct trace *t, struct trace_status *st);

/* The current (or the last) session's status. */
void trace_get(struct trace *t, struct trace_status *st);

/*
 * One message. dir says which of src/dst is ours (for the record only;
 * both are written as given). ts NULL: now (CLOCK_REALTIME). Does nothing
 * when no session runs or the filter does not select the message.
 * Returns 1 when the message was selected, 0 when not. Any thread.
 */
int trace_capture(struct trace *t, enum trace_dir dir, enum trace_proto proto,
                  const void *buf, size_t len, const struct sockaddr *src,
                  const struct sockaddr *dst, const struct timespec *ts);

/*
 * trace_capture() of a message the caller has parsed already (m, from
 * sip_msg_parse() of exactly buf and len), so that a filter by user or
 * trunk reads its From, To and Request-URI instead of parsing it again.
 * m NULL: parsed here when the filter needs it, as trace_capture() does.
 */
int trace_capture_parsed(struct trace *t, enum trace_dir dir, enum trace_proto proto,
                         const void *buf, size_t len, const struct sockaddr *src,
                         const struct sockaddr *dst, const struct timespec *ts,
                         const struct sip_msg *m);

/*
 * The filter alone (for tests and the hooks): 1 selects, 0 not.
 */
int trace_filter_match(const struct trace_filter *f, const void *buf, size_t len,
                       const struct sockaddr *src, const struct sockaddr *dst);

/*
 * HEPv3 encoding of one message into out (cap bytes): its length, or
 * -ENOSPC (cap too small: a message over about 65,400 bytes never fits),
 * -EAFNOSUPPORT (src and dst not both IPv4 or both IPv6).
 */
int trace_hep_encode(void *out, size_t cap, enum trace_proto proto, const void *buf,
                     size_t len, const struct sockaddr *src, const struct sockaddr *dst,
                     const struct timespec *ts, uint32_t capture_id);

/* ---- the process-wide tracer the daemon's hooks feed ---- */

/* The tracer whose session is running, else NULL (written by the tracer
 * installed with trace_install(); read with trace_is_on()). */
extern struct trace *trace_live;

/* Makes t the tracer the hooks feed (NULL: none). Main thread, before the
 * workers start. */
void trace_install(struct trace *t);

/* The cost of the hooks when no trace runs: this one relaxed load. Relaxed
 * is enough: trace_live only ever holds NULL or the installed tracer, which
 * was complete before the worker threads were created, and trace_capture()
 * takes the tracer's lock before it reads any session state. */
static inline struct trace *trace_is_on(void)
{
	return __atomic_load_n(&trace_live, __ATOMIC_RELAXED);
}

/*
 * The daemon's tracer and its admin routes (admin thread):
 *   GET    /trace        status {"active", "filter", "file", "hep", counters}
 *   POST   /trace        start: {"trunk", "trunk_user", "trunk_domain",
 *                        "user", "address", "file", "hep", "hep_id",
 *                        "max_packets", "max_bytes"} (at least one of file
 *                        and hep); 409 when one runs, 400 bad input
 *   DELETE /trace        stop (also POST /trace/stop); 409 when none runs
 * Creates and installs the tracer; a stop is logged (trace_stopped).
 * Errors: -ENOMEM, admin_route_add()'s.
 */
int trace_admin_routes(struct admin *adm);

/* Stops the daemon's session, if any (the file flushed and closed), at
 * the daemon's exit. The tracer stays installed: a worker that outlived
 * the stop may still test it. */
void trace_admin_shutdown(void);

#endif /* SIPREG_TRACE_H */
