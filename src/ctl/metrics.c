/* SPDX-License-Identifier: MIT */
/*
 * metrics.c - Prometheus text exposition builder and the /metrics HTTP
 * listener (see metrics.h).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sipreg/metrics.h"

#define FAMILIES_MAX 256

struct metrics {
	char *buf;
	size_t len, cap;
	int err; /* sticky -ENOMEM */
	bool have_family;
	enum metrics_type type;
	char *names[FAMILIES_MAX];
	size_t nnames;
};

int metrics_new(struct metrics **ret)
{
	struct metrics *m = calloc(1, sizeof(*m));

	if (!m)
		return -ENOMEM;
	m->cap = 4096;
	m->buf = malloc(m->cap);
	if (!m->buf) {
		free(m);
		return -ENOMEM;
	}
	m->buf[0] = '\0';
	*ret = m;
	return 0;
}

void metrics_reset(struct metrics *m)
{
	for (size_t i = 0; i < m->nnames; i++)
		free(m->names[i]);
	m->nnames = 0;
	m->len = 0;
	m->buf[0] = '\0';
	m->err = 0;
	m->have_family = false;
}

void metrics_free(struct metrics *m)
{
	if (!m)
		return;
	metrics_reset(m);
	free(m->buf);
	free(m);
}

const char *metrics_text(const struct metrics *m, size_t *len)
{
	if (m->err)
		return NULL;
	if (len)
		*len = m->len;
	return m->buf;
}

static int reserve(struct metrics *m, size_t more)
{
	char *nb;
	size_t cap = m->cap;

	if (m->err)
		return m->err;
	if (m->len + more + 1 <= cap)
		return 0;
	while (m->len + more + 1 > cap)
		cap *= 2;
	nb = realloc(m->buf, cap);
	if (!nb) {
		m->err = -ENOMEM;
		return m->err;
	}
	m->buf = nb;
	m->cap = cap;
	return 0;
}

static int put(struct metrics *m, const char *s, size_t n)
{
	int r = reserve(m, n);

	if (r < 0)
		return r;
	memcpy(m->buf + m->len, s, n);
	m->len += n;
	m->buf[m->len] = '\0';
	return 0;
}

static int puts_(struct metrics *m, const char *s)
{
	return put(m, s, strlen(s));
}

/* s with '\\', '\n' (and '"' when quote) escaped. */
static int put_escaped(struct metrics *m, const char *s, bool quote)
{
	int r = 0;

	for (const char *p = s; *p && r == 0; p++) {
		if (*p == '\\')
			r = put(m, "\\\\", 2);
		else if (*p == '\n')
			r = put(m, "\\n", 2);
		else if (quote && *p == '"')
			r = put(m, "\\\"", 2);
		else
			r = put(m, p, 1);
	}
	return r;
}

/* A finite v in its shortest form of 15 or 17 significant digits that
 * reads back as v (0.1, not 0.10000000000000001). */
static void fmt_number(char *b, size_t cap, double v)
{
	if (v == floor(v) && fabs(v) < 9007199254740992.0) {
		snprintf(b, cap, "%.0f", v);
		return;
	}
	snprintf(b, cap, "%.15g", v);
	if (strtod(b, NULL) != v)
		snprintf(b, cap, "%.17g", v);
}

static int put_value(struct metrics *m, double v)
{
	char b[40];

	if (isnan(v))
		return puts_(m, "NaN");
	if (isinf(v))
		return puts_(m, v > 0 ? "+Inf" : "-Inf");
	fmt_number(b, sizeof(b), v);
	return puts_(m, b);
}

static int put_u64(struct metrics *m, uint64_t v)
{
	char b[24];

	snprintf(b, sizeof(b), "%llu", (unsigned long long)v);
	return puts_(m, b);
}

static bool name_ok(const char *s, bool colon)
{
	if (!s || !*s)
		return false;
	for (const char *p = s; *p; p++) {
		char c = *p;
		bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		             c == '_' || (colon && c == ':');

		if (!alpha && !(p != s && c >= '0' && c <= '9'))
			return false;
	}
	return true;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);

	return a >= b && strcmp(s + a - b, suffix) == 0;
}

static bool labels_ok(const struct metrics_label *l, size_t n, bool histogram)
{
	if (n && !l)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (!name_ok(l[i].name, false) || strncmp(l[i].name, "__", 2) == 0 ||
		    !l[i].value)
			return false;
		if (histogram && strcmp(l[i].name, "le") == 0)
			return false;
		for (size_t j = 0; j < i; j++)
			if (strcmp(l[i].name, l[j].name) == 0)
				return false;
	}
	return true;
}

/* The current family's name. */
static const char *cur(const struct metrics *m)
{
	return m->names[m->nnames - 1];
}

int metrics_family(struct metrics *m, const char *name, enum metrics_type type,
                   const char *help)
{
	static const char *const tnames[] = {"counter", "gauge", "histogram"};
	char *copy;
	int r;

	if (!name_ok(name, true) || (unsigned)type > METRICS_HISTOGRAM)
		return -EINVAL;
	if (type == METRICS_COUNTER && !ends_with(name, "_total"))
		return -EINVAL;
	if (type == METRICS_HISTOGRAM &&
	    (ends_with(name, "_total") || ends_with(name, "_bucket") ||
	     ends_with(name, "_sum") || ends_with(name, "_count")))
		return -EINVAL;
	for (size_t i = 0; i < m->nnames; i++)
		if (strcmp(m->names[i], name) == 0)
			return -EEXIST;
	if (m->err)
		return m->err;
	if (m->nnames == FAMILIES_MAX)
		return -ENOMEM;
	copy = strdup(name);
	if (!copy)
		return -ENOMEM;
	m->names[m->nnames++] = copy;
	m->type = type;
	m->have_family = true;
	r = 0;
	if (help) {
		r = puts_(m, "# HELP ");
		if (r == 0)
			r = puts_(m, name);
		if (r == 0)
			r = put(m, " ", 1);
		if (r == 0)
			r = put_escaped(m, help, false);
		if (r == 0)
			r = put(m, "\n", 1);
	}
	if (r == 0)
		r = puts_(m, "# TYPE ");
	if (r == 0)
		r = puts_(m, name);
	if (r == 0)
		r = put(m, " ", 1);
	if (r == 0)
		r = puts_(m, tnames[type]);
	if (r == 0)
		r = put(m, "\n", 1);
	return r;
}

/* name{labels[,le="x"]} */
static int put_series(struct metrics *m, const char *suffix,
                      const struct metrics_label *l, size_t n, const char *le)
{
	int r = puts_(m, cur(m));

	if (r == 0 && suffix)
		r = puts_(m, suffix);
	if (r == 0 && (n || le))
		r = put(m, "{", 1);
	for (size_t i = 0; i < n && r == 0; i++) {
		if (i)
			r = put(m, ",", 1);
		if (r == 0)
			r = puts_(m, l[i].name);
		if (r == 0)
			r = put(m, "=\"", 2);
		if (r == 0)
			r = put_escaped(m, l[i].value, true);
		if (r == 0)
			r = put(m, "\"", 1);
	}
	if (r == 0 && le) {
		if (n)
			r = put(m, ",", 1);
		if (r == 0)
			r = puts_(m, "le=\"");
		if (r == 0)
			r = puts_(m, le);
		if (r == 0)
			r = put(m, "\"", 1);
	}
	if (r == 0 && (n || le))
		r = put(m, "}", 1);
	if (r == 0)
		r = put(m, " ", 1);
	return r;
}

int metrics_sample(struct metrics *m, const struct metrics_label *labels, size_t nlabels,
                   double value)
{
	int r;

	if (!m->have_family || m->type == METRICS_HISTOGRAM ||
	    !labels_ok(labels, nlabels, false))
		return -EINVAL;
	if (m->type == METRICS_COUNTER && (isnan(value) || value < 0))
		return -EINVAL;
	r = put_series(m, NULL, labels, nlabels, NULL);
	if (r == 0)
		r = put_value(m, value);
	if (r == 0)
		r = put(m, "\n", 1);
	return r;
}

int metrics_histogram(struct metrics *m, const struct metrics_label *labels,
                      size_t nlabels, const double *bounds, const uint64_t *cumulative,
                      size_t nbuckets, double sum, uint64_t count)
{
	int r = 0;

	if (!m->have_family || m->type != METRICS_HISTOGRAM ||
	    !labels_ok(labels, nlabels, true) || (nbuckets && (!bounds || !cumulative)) ||
	    isnan(sum))
		return -EINVAL;
	for (size_t i = 0; i < nbuckets; i++) {
		if (!isfinite(bounds[i]) || cumulative[i] > count)
			return -EINVAL;
		if (i &&
		    (bounds[i] <= bounds[i - 1] || cumulative[i] < cumulative[i - 1]))
			return -EINVAL;
	}
	for (size_t i = 0; i < nbuckets && r == 0; i++) {
		char le[40];

		fmt_number(le, sizeof(le), bounds[i]);
		r = put_series(m, "_bucket", labels, nlabels, le);
		if (r == 0)
			r = put_u64(m, cumulative[i]);
		if (r == 0)
			r = put(m, "\n", 1);
	}
	if (r == 0)
		r = put_series(m, "_bucket", labels, nlabels, "+Inf");
	if (r == 0)
		r = put_u64(m, count);
	if (r == 0)
		r = put(m, "\n", 1);
	if (r == 0)
		r = put_series(m, "_sum", labels, nlabels, NULL);
	if (r == 0)
		r = put_value(m, sum);
	if (r == 0)
		r = put(m, "\n", 1);
	if (r == 0)
		r = put_series(m, "_count", labels, nlabels, NULL);
	if (r == 0)
		r = put_u64(m, count);
	if (r == 0)
		r = put(m, "\n", 1);
	return r;
}

/* ------------------------------------------------------------------------ */
/* HTTP                                                                      */

struct metrics_http {
	struct MHD_Daemon *mhd;
	metrics_fill_fn fill;
	void *arg;
	struct metrics *m; /* reused: MHD's one thread */
	uint16_t port;
	uint64_t scrapes;
};

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned int status,
                             const char *text, size_t len, bool copy, bool allow)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	resp = MHD_create_response_from_buffer(
	        len, (void *)text, copy ? MHD_RESPMEM_MUST_COPY : MHD_RESPMEM_PERSISTENT);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
	                        status == MHD_HTTP_OK
	                                ? "text/plain; version=0.0.4; charset=utf-8"
	                                : "text/plain; charset=utf-8");
	if (allow)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result access_cb(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version,
                                 const char *upload_data, size_t *upload_data_size,
                                 void **con_cls)
{
	static const char nf[] = "not found: only /metrics is served here\n";
	static const char na[] = "method not allowed: GET or HEAD only\n";
	static const char ie[] = "the metrics could not be collected\n";
	struct metrics_http *h = cls;
	const char *text;
	size_t len;
	bool get = strcmp(method, MHD_HTTP_METHOD_GET) == 0 ||
	           strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;

	(void)version;
	(void)upload_data;
	if (!*con_cls) {
		/* first call: headers only; answer at the next */
		*con_cls = h;
		return MHD_YES;
	}
	if (*upload_data_size) {
		*upload_data_size = 0; /* a body is never read: discarded */
		return MHD_YES;
	}
	if (!get)
		return reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, na, sizeof(na) - 1, false,
		             true);
	if (strcmp(url, "/metrics") != 0)
		return reply(conn, MHD_HTTP_NOT_FOUND, nf, sizeof(nf) - 1, false, false);
	metrics_reset(h->m);
	if (h->fill(h->m, h->arg) < 0 || !(text = metrics_text(h->m, &len)))
		return reply(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, ie, sizeof(ie) - 1,
		             false, false);
	__atomic_add_fetch(&h->scrapes, 1, __ATOMIC_RELAXED);
	return reply(conn, MHD_HTTP_OK, text, len, true, false);
}

int metrics_http_new(struct metrics_http **ret, const struct sockaddr *addr,
                     socklen_t addrlen, metrics_fill_fn fill, void *arg)
{
	struct metrics_http *h;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int fd, r, one = 1;

	if (!addr || !fill || (addr->sa_family != AF_INET && addr->sa_family != AF_INET6))
		return -EINVAL;
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	r = metrics_new(&h->m);
	if (r < 0) {
		free(h);
		return r;
	}
	h->fill = fill;
	h->arg = arg;
	fd = socket(addr->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		r = -errno;
		goto fail;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (addr->sa_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, addr, addrlen) < 0 || listen(fd, 16) < 0 ||
	    getsockname(fd, (struct sockaddr *)&ss, &sl) < 0) {
		r = -errno;
		close(fd);
		goto fail;
	}
	h->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
	                                         : ((struct sockaddr_in *)&ss)->sin_port);
	h->mhd = MHD_start_daemon(
	        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL |
	                (addr->sa_family == AF_INET6 ? MHD_USE_IPv6 : 0),
	        0, NULL, NULL, access_cb, h, MHD_OPTION_LISTEN_SOCKET, fd,
	        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)10,
	        MHD_OPTION_CONNECTION_LIMIT, (unsigned int)16, MHD_OPTION_END);
	if (!h->mhd) {
		close(fd);
		r = -ENOMEM;
		goto fail;
	}
	*ret = h;
	return 0;
fail:
	metrics_free(h->m);
	free(h);
	return r;
}

uint16_t metrics_http_port(const struct metrics_http *h)
{
	return h->port;
}

uint64_t metrics_http_scrapes(const struct metrics_http *h)
{
	return __atomic_load_n(&h->scrapes, __ATOMIC_RELAXED);
}

void metrics_http_free(struct metrics_http *h)
{
	if (!h)
		return;
	MHD_stop_daemon(h->mhd); /* closes the listening socket */
	metrics_free(h->m);
	free(h);
}
