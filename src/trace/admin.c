/* SPDX-License-Identifier: MIT */
/*
 * trace/admin.c - the daemon's tracer and its admin routes (trace.h):
 * GET /trace, POST /trace, DELETE /trace, POST /trace/stop. Runs on the
 * admin thread; a stop (asked for, or a limit reached on a worker) is
 * logged as trace_stopped.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "sipreg/admin.h"
#include "sipreg/log.h"
#include "sipreg/trace.h"

static struct trace *daemon_trace;

static const char *reason_name(enum trace_stop_reason r)
{
	switch (r) {
	case TRACE_STOP_REQUEST:
		return "stopped";
	case TRACE_STOP_PACKETS:
		return "max_packets";
	case TRACE_STOP_BYTES:
		return "max_bytes";
	case TRACE_STOP_WRITE:
		return "write_error";
	case TRACE_STOP_NONE:
		break;
	}
	return "";
}

static void on_stop(const struct trace_status *st, void *arg)
{
	char q[TRACE_PATH_MAX * 2 + 8];

	(void)arg;
	log_info("trace_stopped",
	         "reason=%s file=%s matched=%llu written=%llu hep_sent=%llu dropped=%llu "
	         "bytes=%llu%s%s",
	         reason_name(st->reason), log_quote(q, sizeof(q), st->cfg.file),
	         (unsigned long long)st->matched, (unsigned long long)st->written,
	         (unsigned long long)st->hep_sent, (unsigned long long)st->dropped,
	         (unsigned long long)st->bytes, st->write_err ? " error=" : "",
	         st->write_err ? strerror(st->write_err) : "");
}

static json_t *iso(const struct timespec *ts)
{
	char buf[64];
	struct tm tm;

	if (!ts->tv_sec || !gmtime_r(&ts->tv_sec, &tm))
		return json_null();
	snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ",
	         tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
	         tm.tm_sec, ts->tv_nsec / 1000000);
	return json_string(buf);
}

static json_t *status_json(const struct trace_status *st)
{
	const struct trace_filter *f = &st->cfg.filter;
	char ip[INET6_ADDRSTRLEN] = "";
	json_t *o, *flt;

	if (f->addr.ss_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)&f->addr)->sin_addr, ip,
		          sizeof(ip));
	else if (f->addr.ss_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)&f->addr)->sin6_addr,
		          ip, sizeof(ip));
	flt = json_object();
	o = json_object();
	if (!flt || !o) {
		json_decref(flt);
		json_decref(o);
		return NULL;
	}
	if (f->trunk[0]) {
		json_object_set_new(flt, "trunk", json_string(f->trunk));
		json_object_set_new(flt, "trunk_user", json_string(f->trunk_user));
		json_object_set_new(flt, "trunk_domain", json_string(f->trunk_domain));
	}
	if (f->user[0])
		json_object_set_new(flt, "user", json_string(f->user));
	if (ip[0])
		json_object_set_new(flt, "address", json_string(ip));
	json_object_set_new(o, "active", json_boolean(st->active));
	if (!st->ever)
		return json_decref(flt), o;
	json_object_set_new(o, "filter", flt);
	json_object_set_new(o, "file",
	                    st->cfg.file[0] ? json_string(st->cfg.file) : json_null());
	json_object_set_new(o, "hep",
	                    st->cfg.hep[0] ? json_string(st->cfg.hep) : json_null());
	if (st->cfg.hep[0])
		json_object_set_new(o, "hep_id", json_integer(st->cfg.hep_id));
	json_object_set_new(o, "max_packets",
	                    json_integer((json_int_t)st->cfg.max_packets));
	json_object_set_new(o, "max_bytes", json_integer((json_int_t)st->cfg.max_bytes));
	json_object_set_new(o, "started", iso(&st->started));
	json_object_set_new(o, "stopped", st->active ? json_null() : iso(&st->stopped));
	if (!st->active)
		json_object_set_new(o, "stop_reason",
		                    json_string(reason_name(st->reason)));
	if (st->write_err)
		json_object_set_new(o, "write_error",
		                    json_string(strerror(st->write_err)));
	json_object_set_new(o, "matched", json_integer((json_int_t)st->matched));
	json_object_set_new(o, "written", json_integer((json_int_t)st->written));
	json_object_set_new(o, "hep_sent", json_integer((json_int_t)st->hep_sent));
	json_object_set_new(o, "dropped", json_integer((json_int_t)st->dropped));
	json_object_set_new(o, "bytes", json_integer((json_int_t)st->bytes));
	return o;
}

/* A string field into dst (cap bytes with the NUL); 0, or -EINVAL with
 * the reply set. */
static int str_field(json_t *body, const char *key, char *dst, size_t cap, json_t **reply)
{
	json_t *v = json_object_get(body, key);
	const char *s;

	if (!v || json_is_null(v))
		return 0;
	s = json_string_value(v);
	if (!s || strlen(s) != json_string_length(v) || strlen(s) >= cap) {
		*reply = admin_error("%s: expected a string of at most %zu bytes", key,
		                     cap - 1);
		return -EINVAL;
	}
	memcpy(dst, s, strlen(s) + 1);
	return 0;
}

static int uint_field(json_t *body, const char *key, uint64_t max, uint64_t *out,
                      json_t **reply)
{
	json_t *v = json_object_get(body, key);

	if (!v || json_is_null(v))
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 1 ||
	    (uint64_t)json_integer_value(v) > max) {
		*reply = admin_error("%s: expected an integer from 1 to %llu", key,
		                     (unsigned long long)max);
		return -EINVAL;
	}
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

static int parse_address(const char *s, struct sockaddr_storage *ss)
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
	char buf[INET6_ADDRSTRLEN + 2];
	size_t n = strlen(s);

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, s, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		return 0;
	}
	if (n >= 2 && n < sizeof(buf) && s[0] == '[' && s[n - 1] == ']') {
		memcpy(buf, s + 1, n - 2);
		buf[n - 2] = 0;
		s = buf;
	}
	if (inet_pton(AF_INET6, s, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		return 0;
	}
	return -EINVAL;
}

/* The body of POST /trace; 0 or -EINVAL with the reply set. */
static int parse_config(json_t *body, struct trace_config *c, json_t **reply)
{
	static const char *const known[] = {
	        "trunk", "trunk_user", "trunk_domain", "user",        "address",
	        "file",  "hep",        "hep_id",       "max_packets", "max_bytes"};
	char addr[INET6_ADDRSTRLEN + 8] = "";
	uint64_t id = 0;
	const char *key;
	json_t *v;

	memset(c, 0, sizeof(*c));
	if (!json_is_object(body)) {
		*reply = admin_error("expected a JSON object");
		return -EINVAL;
	}
	json_object_foreach(body, key, v)
	{
		size_t k = 0;

		while (k < sizeof(known) / sizeof(known[0]) && strcmp(known[k], key) != 0)
			k++;
		if (k == sizeof(known) / sizeof(known[0])) {
			*reply = admin_error("unknown field: %s", key);
			return -EINVAL;
		}
	}
	if (str_field(body, "trunk", c->filter.trunk, sizeof(c->filter.trunk), reply) ||
	    str_field(body, "trunk_user", c->filter.trunk_user,
	              sizeof(c->filter.trunk_user), reply) ||
	    str_field(body, "trunk_domain", c->filter.trunk_domain,
	              sizeof(c->filter.trunk_domain), reply) ||
	    str_field(body, "user", c->filter.user, sizeof(c->filter.user), reply) ||
	    str_field(body, "address", addr, sizeof(addr), reply) ||
	    str_field(body, "file", c->file, sizeof(c->file), reply) ||
	    str_field(body, "hep", c->hep, sizeof(c->hep), reply) ||
	    uint_field(body, "hep_id", UINT32_MAX, &id, reply) ||
	    uint_field(body, "max_packets", UINT64_C(1) << 40, &c->max_packets, reply) ||
	    uint_field(body, "max_bytes", UINT64_C(1) << 50, &c->max_bytes, reply))
		return -EINVAL;
	c->hep_id = (uint32_t)id;
	if (addr[0] && parse_address(addr, &c->filter.addr) < 0) {
		*reply = admin_error("address: not an IPv4 or IPv6 address: %s", addr);
		return -EINVAL;
	}
	if (c->filter.trunk[0] && !c->filter.trunk_user[0]) {
		*reply = admin_error(
		        "trunk: give trunk_user (and trunk_domain) too: sipregctl "
		        "takes them from GET /trunks/NAME");
		return -EINVAL;
	}
	if (c->file[0] && c->file[0] != '/') {
		*reply = admin_error("file: give an absolute path (sipregd's working "
		                     "directory is not yours)");
		return -EINVAL;
	}
	if (!c->file[0] && !c->hep[0]) {
		*reply = admin_error("give file (a pcap file), hep (HOST:PORT) or both");
		return -EINVAL;
	}
	return 0;
}

static int h_get(const struct admin_request *req, json_t **reply, void *arg)
{
	struct trace_status st;

	(void)req;
	trace_get(arg, &st);
	*reply = status_json(&st);
	return *reply ? 200 : -ENOMEM;
}

static int h_start(const struct admin_request *req, json_t **reply, void *arg)
{
	struct trace_config c;
	struct trace_status st;
	char err[TRACE_PATH_MAX + 256], q[TRACE_PATH_MAX * 2 + 8];
	int r;

	if (parse_config(req->body, &c, reply) < 0)
		return 400;
	r = trace_start(arg, &c, err, sizeof(err));
	if (r == -EALREADY) {
		*reply = admin_error("%s", err);
		return 409;
	}
	if (r == -ENOMEM)
		return r;
	if (r < 0) {
		*reply = admin_error("%s", err);
		return 400;
	}
	trace_get(arg, &st);
	log_info("trace_started", "file=%s hep=%s trunk=%s user=%s",
	         log_quote(q, sizeof(q), c.file), c.hep[0] ? c.hep : "-",
	         c.filter.trunk[0] ? c.filter.trunk : "-",
	         c.filter.user[0] ? c.filter.user : "-");
	*reply = status_json(&st);
	return *reply ? 200 : -ENOMEM;
}

static int h_stop(const struct admin_request *req, json_t **reply, void *arg)
{
	struct trace_status st;

	(void)req;
	if (trace_stop(arg, &st) < 0) {
		*reply = admin_error("no trace is running");
		return 409;
	}
	*reply = status_json(&st);
	return *reply ? 200 : -ENOMEM;
}

int trace_admin_routes(struct admin *adm)
{
	int r = 0;

	if (!daemon_trace) {
		r = trace_new(&daemon_trace, on_stop, NULL);
		if (r < 0)
			return r;
		trace_install(daemon_trace);
	}
	r = r ? r : admin_route_add(adm, "GET", "/trace", 0, h_get, daemon_trace);
	r = r ? r : admin_route_add(adm, "POST", "/trace", 0, h_start, daemon_trace);
	r = r ? r : admin_route_add(adm, "DELETE", "/trace", 0, h_stop, daemon_trace);
	r = r ? r : admin_route_add(adm, "POST", "/trace/stop", 0, h_stop, daemon_trace);
	return r;
}

void trace_admin_shutdown(void)
{
	if (daemon_trace)
		trace_stop(daemon_trace, NULL);
}
