/* SPDX-License-Identifier: MIT */
/*
 * admin.c - the admin API's socket, router and /status over libmicrohttpd.
 * See include/sipreg/admin.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <microhttpd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "ctl/version.h"
#include "sipreg/admin.h"

struct route {
	char method[16];
	char *path;
	size_t path_len;
	unsigned int flags;
	admin_handler_fn fn;
	void *arg;
};

struct admin {
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	unsigned int mode;
	struct route *routes;
	size_t nroutes;
	admin_status_fn status_fn;
	void *status_arg;
	struct MHD_Daemon *mhd;
	dev_t dev; /* of the socket we created, to remove only ours */
	ino_t ino;
	time_t started;
	struct timespec started_mono;
};

/* Per-connection state while a body arrives. */
struct upload {
	char *buf;
	size_t len;
	size_t limit; /* the route's body limit */
	bool too_big;
};

int admin_new(struct admin **ret, const char *socket_path, unsigned int mode)
{
	struct admin *adm;

	if (!socket_path || socket_path[0] == '\0' || mode > 0777)
		return -EINVAL;
	if (strlen(socket_path) >= sizeof(adm->path))
		return -ENAMETOOLONG;
	adm = calloc(1, sizeof(*adm));
	if (!adm)
		return -ENOMEM;
	strcpy(adm->path, socket_path);
	adm->mode = mode;
	*ret = adm;
	return 0;
}

const char *admin_socket_path(const struct admin *adm)
{
	return adm->path;
}

int admin_route_add(struct admin *adm, const char *method, const char *path,
                    unsigned int flags, admin_handler_fn fn, void *arg)
{
	struct route *r;

	if (adm->mhd)
		return -EBUSY;
	if (!fn || !method || !path || path[0] != '/' || method[0] == '\0' ||
	    strlen(method) >= sizeof(r->method))
		return -EINVAL;
	for (size_t i = 0; i < adm->nroutes; i++)
		if (strcmp(adm->routes[i].method, method) == 0 &&
		    strcmp(adm->routes[i].path, path) == 0)
			return -EEXIST;
	r = realloc(adm->routes, (adm->nroutes + 1) * sizeof(*r));
	if (!r)
		return -ENOMEM;
	adm->routes = r;
	r = &adm->routes[adm->nroutes];
	r->path = strdup(path);
	if (!r->path)
		return -ENOMEM;
	strcpy(r->method, method);
	r->path_len = strlen(path);
	r->flags = flags;
	r->fn = fn;
	r->arg = arg;
	adm->nroutes++;
	return 0;
}

int admin_set_status(struct admin *adm, admin_status_fn fn, void *arg)
{
	if (adm->mhd)
		return -EBUSY;
	adm->status_fn = fn;
	adm->status_arg = arg;
	return 0;
}

json_t *admin_error(const char *fmt, ...)
{
	char text[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	return json_pack("{s:s}", "error", text);
}

const char *admin_request_arg(const struct admin_request *req, const char *name)
{
	return MHD_lookup_connection_value(req->priv, MHD_GET_ARGUMENT_KIND, name);
}

/* ------------------------------------------------------------------------ */
/* Built-in routes                                                           */

static int status_handler(const struct admin_request *req, json_t **reply, void *arg)
{
	struct admin *adm = arg;
	struct timespec now;
	char started[32];
	struct tm tm;
	json_t *st;
	int r;

	(void)req;
	clock_gettime(CLOCK_MONOTONIC, &now);
	gmtime_r(&adm->started, &tm);
	strftime(started, sizeof(started), "%Y-%m-%dT%H:%M:%SZ", &tm);
	st = json_pack("{s:s, s:i, s:s, s:I}", "version", SIPREG_VERSION, "pid",
	               (int)getpid(), "started", started, "uptime_s",
	               (json_int_t)(now.tv_sec - adm->started_mono.tv_sec));
	if (!st)
		return -ENOMEM;
	if (adm->status_fn) {
		r = adm->status_fn(st, adm->status_arg);
		if (r < 0) {
			json_decref(st);
			return r;
		}
	}
	*reply = st;
	return 200;
}

static int index_handler(const struct admin_request *req, json_t **reply, void *arg)
{
	struct admin *adm = arg;
	json_t *list = json_array();

	(void)req;
	if (!list)
		return -ENOMEM;
	for (size_t i = 0; i < adm->nroutes; i++) {
		char line[256];

		snprintf(line, sizeof(line), "%s %s%s", adm->routes[i].method,
		         adm->routes[i].path,
		         adm->routes[i].flags & ADMIN_ROUTE_PREFIX ? "..." : "");
		json_array_append_new(list, json_string(line));
	}
	*reply = json_pack("{s:o}", "routes", list);
	return *reply ? 200 : -ENOMEM;
}

/* ------------------------------------------------------------------------ */
/* Dispatch                                                                  */

static bool route_matches(const struct route *r, const char *path, const char **rest)
{
	if (r->flags & ADMIN_ROUTE_PREFIX) {
		if (strncmp(path, r->path, r->path_len) != 0)
			return false;
		*rest = path + r->path_len;
		return true;
	}
	if (strcmp(path, r->path) != 0)
		return false;
	*rest = "";
	return true;
}

static enum MHD_Result send_json(struct MHD_Connection *conn, unsigned int status,
                                 json_t *body, const char *allow)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;
	char *text;

	text = body ? json_dumps(body, JSON_INDENT(2)) : NULL;
	json_decref(body);
	if (!text) {
		text = strdup("{\"error\": \"out of memory\"}");
		status = MHD_HTTP_INTERNAL_SERVER_ERROR;
		if (!text)
			return MHD_NO;
	}
	/* a trailing newline so `curl` output ends cleanly */
	{
		size_t len = strlen(text);
		char *t = realloc(text, len + 2);

		if (t) {
			text = t;
			text[len] = '\n';
			text[len + 1] = '\0';
		}
	}
	resp = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	if (allow)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
	ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* The body limit of the route method+url would reach. */
static size_t body_limit(const struct admin *adm, const char *method, const char *url)
{
	const struct route *found = NULL;

	for (size_t i = 0; i < adm->nroutes; i++) {
		const char *rest;
		if (route_matches(&adm->routes[i], url, &rest) &&
		    strcmp(adm->routes[i].method, method) == 0 &&
		    (!found || adm->routes[i].path_len > found->path_len))
			found = &adm->routes[i];
	}
	return found && (found->flags & ADMIN_ROUTE_LARGE_BODY) ? ADMIN_BODY_LARGE_MAX
								 : ADMIN_BODY_MAX;
}

static enum MHD_Result dispatch(struct admin *adm, struct MHD_Connection *conn,
                                const char *method, const char *url, struct upload *up)
{
	struct admin_request req = {method, url, "", NULL, conn};
	const struct route *found = NULL;
	char allow[128] = "";
	json_t *reply = NULL;
	json_error_t jerr;
	int status;

	for (size_t i = 0; i < adm->nroutes; i++) {
		const char *rest;

		if (!route_matches(&adm->routes[i], url, &rest))
			continue;
		if (strcmp(adm->routes[i].method, method) == 0) {
			/* the longest matching path wins (exact routes are longest) */
			if (!found || adm->routes[i].path_len > found->path_len) {
				found = &adm->routes[i];
				req.rest = rest;
			}
		} else if (strlen(allow) + strlen(adm->routes[i].method) + 3 <
		           sizeof(allow)) {
			if (!strstr(allow, adm->routes[i].method)) {
				if (allow[0])
					strcat(allow, ", ");
				strcat(allow, adm->routes[i].method);
			}
		}
	}
	if (!found && allow[0])
		return send_json(conn, MHD_HTTP_METHOD_NOT_ALLOWED,
		                 admin_error("%s is not allowed on %s", method, url),
		                 allow);
	if (!found)
		return send_json(conn, MHD_HTTP_NOT_FOUND,
		                 admin_error("no such path: %s", url), NULL);
	if (up && up->too_big)
		return send_json(conn, MHD_HTTP_CONTENT_TOO_LARGE,
		                 admin_error("body larger than %zu bytes", up->limit),
		                 NULL);
	if (up && up->len) {
		req.body = json_loadb(up->buf, up->len, JSON_REJECT_DUPLICATES, &jerr);
		if (!req.body)
			return send_json(conn, MHD_HTTP_BAD_REQUEST,
			                 admin_error("body is not JSON: %s (line %d)",
			                             jerr.text, jerr.line),
			                 NULL);
	}
	status = found->fn(&req, &reply, found->arg);
	json_decref(req.body);
	if (status < 0) {
		json_decref(reply);
		reply = admin_error("%s", strerror(-status));
		status = MHD_HTTP_INTERNAL_SERVER_ERROR;
	} else if (status < 100 || status > 599) {
		json_decref(reply);
		reply = admin_error("handler returned status %d", status);
		status = MHD_HTTP_INTERNAL_SERVER_ERROR;
	}
	if (!reply)
		reply = json_object();
	return send_json(conn, (unsigned int)status, reply, NULL);
}

static enum MHD_Result access_cb(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version,
                                 const char *upload_data, size_t *upload_data_size,
                                 void **con_cls)
{
	struct admin *adm = cls;
	struct upload *up = *con_cls;

	(void)version;
	if (!up) {
		/* first call: headers only; allocate the upload state */
		up = calloc(1, sizeof(*up));
		if (!up)
			return MHD_NO;
		up->limit = body_limit(adm, method, url);
		*con_cls = up;
		return MHD_YES;
	}
	if (*upload_data_size) {
		if (!up->too_big && up->len + *upload_data_size <= up->limit) {
			char *b = realloc(up->buf, up->len + *upload_data_size);

			if (!b)
				return MHD_NO;
			up->buf = b;
			memcpy(up->buf + up->len, upload_data, *upload_data_size);
			up->len += *upload_data_size;
		} else {
			up->too_big = true;
		}
		*upload_data_size = 0;
		return MHD_YES;
	}
	return dispatch(adm, conn, method, url, up);
}

static void completed_cb(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
	struct upload *up = *con_cls;

	(void)cls;
	(void)conn;
	(void)toe;
	if (up) {
		free(up->buf);
		free(up);
		*con_cls = NULL;
	}
}

/* ------------------------------------------------------------------------ */
/* The socket                                                                */

static int make_parent_dir(const char *path)
{
	char copy[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct stat st;
	char *dir;

	strcpy(copy, path);
	dir = dirname(copy);
	if (stat(dir, &st) == 0)
		return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
	if (errno != ENOENT)
		return -errno;
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/* 0 when the path is free (a stale socket was removed), else -errno. */
static int clear_stale(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct stat st;
	int fd, r;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode))
		return -EEXIST;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	strcpy(sa.sun_path, path);
	r = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	if (r == 0) {
		close(fd);
		return -EADDRINUSE;
	}
	r = errno;
	close(fd);
	if (r != ECONNREFUSED)
		return -r;
	if (unlink(path) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

static int bind_socket(struct admin *adm)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char tmp[sizeof(sa.sun_path)];
	bool use_tmp;
	struct stat st;
	int fd, r, n;

	n = snprintf(tmp, sizeof(tmp), "%s.%d.tmp", adm->path, (int)getpid());
	use_tmp = n > 0 && (size_t)n < sizeof(tmp);
	strcpy(sa.sun_path, use_tmp ? tmp : adm->path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (use_tmp)
		unlink(tmp);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		goto fail;
	if (chmod(sa.sun_path, adm->mode) < 0 || listen(fd, 64) < 0 ||
	    stat(sa.sun_path, &st) < 0)
		goto fail_unlink;
	if (use_tmp && rename(tmp, adm->path) < 0)
		goto fail_unlink;
	adm->dev = st.st_dev;
	adm->ino = st.st_ino;
	return fd;

fail_unlink:
	r = -errno;
	unlink(sa.sun_path);
	close(fd);
	return r;
fail:
	r = -errno;
	close(fd);
	return r;
}

int admin_start(struct admin *adm)
{
	int fd, r;

	if (adm->mhd)
		return -EALREADY;
	r = make_parent_dir(adm->path);
	if (r < 0)
		return r;
	r = clear_stale(adm->path);
	if (r < 0)
		return r;
	/* the built-ins go last so that a module may not shadow them by accident:
	 * admin_route_add() refuses duplicates */
	r = admin_route_add(adm, "GET", "/status", 0, status_handler, adm);
	if (r < 0 && r != -EEXIST)
		return r;
	r = admin_route_add(adm, "GET", "/", 0, index_handler, adm);
	if (r < 0 && r != -EEXIST)
		return r;
	fd = bind_socket(adm);
	if (fd < 0)
		return fd;
	adm->started = time(NULL);
	clock_gettime(CLOCK_MONOTONIC, &adm->started_mono);
	adm->mhd = MHD_start_daemon(
	        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL, 0, NULL, NULL, access_cb,
	        adm, MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_NOTIFY_COMPLETED,
	        completed_cb, adm, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)10,
	        MHD_OPTION_CONNECTION_LIMIT, (unsigned int)64, MHD_OPTION_END);
	if (!adm->mhd) {
		unlink(adm->path);
		close(fd);
		return -EIO;
	}
	return 0;
}

void admin_stop(struct admin *adm)
{
	struct stat st;

	if (!adm || !adm->mhd)
		return;
	MHD_stop_daemon(adm->mhd); /* closes the listening socket */
	adm->mhd = NULL;
	if (lstat(adm->path, &st) == 0 && st.st_dev == adm->dev && st.st_ino == adm->ino)
		unlink(adm->path);
}

void admin_free(struct admin *adm)
{
	if (!adm)
		return;
	admin_stop(adm);
	for (size_t i = 0; i < adm->nroutes; i++)
		free(adm->routes[i].path);
	free(adm->routes);
	free(adm);
}
