/* SPDX-License-Identifier: MIT */
/*
 * admin.h - the admin API: HTTP/1.1 + JSON (libmicrohttpd, jansson) on a
 * Unix socket, with a small router that modules extend.
 *
 * Routes are (method, path) pairs registered before admin_start(). A route
 * flagged ADMIN_ROUTE_PREFIX matches every path below its path ("/trunks/"
 * matches "/trunks/t1"; the request's rest is "t1"). Built in:
 *
 *   GET /status   {"version", "pid", "started" (UTC, ISO 8601), "uptime_s"}
 *                 + whatever the status provider (admin_set_status()) adds:
 *                 the daemon adds workers, listeners and counters.
 *   GET /         {"routes": ["GET /status", ...]}
 *
 * Replies are JSON objects. A path no route matches gets 404, a path that
 * matches with another method 405 (with Allow), a body that is not JSON 400,
 * a body over ADMIN_BODY_MAX 413; errors read {"error": "text"}.
 *
 * The socket: admin_start() creates the parent directory when it is missing
 * (only the last component, mode 0755), removes a stale socket left by a
 * daemon that died (nobody accepts on it) but refuses to start when another
 * process answers on it (-EADDRINUSE) or when the path is not a socket
 * (-EEXIST). The socket gets its mode before it appears under its name: it
 * is bound under a temporary name in the same directory, chmod'ed, then
 * renamed into place (when the temporary name would not fit in sun_path, it
 * is bound in place and chmod'ed at once). admin_stop() removes it if it is
 * still ours.
 *
 * Threads: libmicrohttpd's one internal thread serves all connections and
 * runs every handler and the status provider, one at a time, never on a
 * worker's thread. Handlers must not block for long; to act on a worker's
 * state they go through that worker's queue or read RCU-protected tables.
 * admin_* calls themselves are made from one control thread (the daemon's
 * main thread).
 */
#ifndef SIPREG_ADMIN_H
#define SIPREG_ADMIN_H

#include <stdbool.h>
#include <jansson.h>

struct admin;

#define ADMIN_BODY_MAX (64 * 1024)
/* Routes flagged ADMIN_ROUTE_LARGE_BODY: a 100,000-row CSV import sent as
 * one JSON string fits. */
#define ADMIN_BODY_LARGE_MAX (32 * 1024 * 1024)

struct admin_request {
	const char *method; /* "GET", "POST", ... */
	const char *path;   /* "/trunks/t1" */
	const char *rest;   /* the part after a prefix route's path, else "" */
	json_t *body;       /* the parsed JSON body, NULL when there was none */
	void *priv;         /* the connection; for admin_request_arg() */
};

/*
 * A handler: sets *reply to a new JSON value (the admin API takes the
 * reference; NULL means {}) and returns the HTTP status (100-599), or a
 * negative errno, answered as 500 {"error": strerror}.
 */
typedef int (*admin_handler_fn)(const struct admin_request *req, json_t **reply,
                                void *arg);

/* Adds the daemon's fields to the /status object (return 0 or -errno). */
typedef int (*admin_status_fn)(json_t *status, void *arg);

enum admin_route_flags {
	ADMIN_ROUTE_PREFIX = 1u << 0,
	ADMIN_ROUTE_LARGE_BODY = 1u << 1, /* accept bodies up to ADMIN_BODY_LARGE_MAX */
};

/*
 * A stopped admin API for socket_path (created with mode, e.g. 0600).
 * Errors: -ENOMEM, -ENAMETOOLONG (path longer than sun_path allows),
 * -EINVAL (empty path or mode above 0777).
 */
int admin_new(struct admin **ret, const char *socket_path, unsigned int mode);

/*
 * Registers a route (before admin_start()). path starts with '/'.
 * Errors: -EINVAL (bad method or path, fn NULL), -EEXIST (same method and
 * path already), -EBUSY (already started), -ENOMEM.
 */
int admin_route_add(struct admin *adm, const char *method, const char *path,
                    unsigned int flags, admin_handler_fn fn, void *arg);

/* Sets the /status provider (before admin_start()); NULL for none.
 * Errors: -EBUSY (already started). */
int admin_set_status(struct admin *adm, admin_status_fn fn, void *arg);

/*
 * Binds the socket and starts serving on libmicrohttpd's thread.
 * Errors: -EALREADY (started), -EADDRINUSE (another process answers on the
 * socket), -EEXIST (the path exists and is not a socket), -EIO (libmicrohttpd
 * could not start), or the errno of mkdir/socket/bind/listen/chmod/rename.
 */
int admin_start(struct admin *adm);

/* Stops serving (waits for the handler running, if any) and removes the
 * socket if it is still the one we created. No-op when not started. */
void admin_stop(struct admin *adm);

/* Stops and frees; NULL is a no-op. */
void admin_free(struct admin *adm);

/* The socket path. */
const char *admin_socket_path(const struct admin *adm);

/* A query argument of the request ("?name=value"), or NULL. */
const char *admin_request_arg(const struct admin_request *req, const char *name);

/* {"error": "<formatted>"}, for handlers' error replies (NULL on ENOMEM). */
json_t *admin_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif /* SIPREG_ADMIN_H */
