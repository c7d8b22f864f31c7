/* SPDX-License-Identifier: MIT */
/*
 * sipreg-parse - parse captured SIP messages the way the registrar does and
 * print what it sees.
 *
 *   sipreg-parse [--json] [--lf] FILE...     ("-" reads standard input)
 *
 * Each file is one message, parsed as one datagram (SIP_PARSE_DATAGRAM, plus
 * SIP_PARSE_LF with --lf), checked with sip_msg_validate, and every header
 * body that registration needs is parsed: Request-URI, Via hops, From/To,
 * Contacts, Path/Route, Expires/Min-Expires/Max-Forwards and every
 * Authorization / Proxy-Authorization / WWW-Authenticate / Proxy-Authenticate.
 *
 * A valid message prints a summary (or, with --json, one compact JSON object
 * per line). An invalid one prints "FILE: error: REASON" on standard error
 * (with --json also {"file":..., "error":...} on standard output).
 *
 * Exit status: 0 when every file parsed, 1 when a file was invalid, 2 for
 * unusable arguments (unknown option, no file, unreadable file).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "sipreg/sip.h"

#define MAX_HDRS 512
#define MAX_VIAS 64
#define MAX_CONTACTS 128
#define MAX_ROUTES 64
#define MAX_AUTH 16
/* Read at most this much: anything beyond SIP_MSG_MAX_LEN is refused by the
 * parser anyway (-E2BIG), one byte more is enough to make it say so. */
#define MAX_FILE ((size_t)SIP_MSG_MAX_LEN + 1)

enum exit_code {
	EXIT_VALID = 0,
	EXIT_INVALID = 1,
	EXIT_USAGE = 2,
};

struct opts {
	bool json;
	bool lf;
};

/* Everything parsed out of one message. The big arrays live here, not on the
 * stack. */
struct parsed {
	struct sip_msg msg;
	struct sip_hdr hdrs[MAX_HDRS];
	struct sip_uri ruri;
	struct sip_via vias[MAX_VIAS];
	int nvias;
	struct sip_nameaddr from, to;
	bool has_from, has_to;
	struct sip_contact contacts[MAX_CONTACTS];
	int ncontacts;
	struct sip_nameaddr path[MAX_ROUTES];
	int npath;
	struct sip_nameaddr route[MAX_ROUTES];
	int nroute;
	uint32_t expires, min_expires, max_forwards;
	bool has_expires, has_min_expires, has_max_forwards;
	struct sip_auth auth[MAX_AUTH];
	enum sip_hdr_id auth_id[MAX_AUTH];
	int nauth;
	size_t file_len;
};

static void usage(FILE *f)
{
	fprintf(f, "usage: sipreg-parse [--json] [--lf] FILE...\n"
		   "  Parse each captured SIP message (FILE \"-\" is standard input).\n"
		   "  --json  one JSON object per file instead of a summary\n"
		   "  --lf    accept bare LF line ends (captures from a terminal)\n"
		   "exit status: 0 all valid, 1 some file invalid, 2 unusable arguments\n");
}

/* ------------------------------------------------------------------------ */
/* Input                                                                     */

/* Read the whole of fd into an exactly sized heap buffer (at most MAX_FILE
 * bytes: the rest is not needed to refuse the file). */
static int read_all(int fd, char **ret, size_t *ret_len)
{
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap);

	if (!buf)
		return -ENOMEM;
	for (;;) {
		if (len == cap) {
			if (cap >= MAX_FILE)
				break;
			size_t ncap = cap * 2 > MAX_FILE ? MAX_FILE : cap * 2;
			char *nb = realloc(buf, ncap);
			if (!nb) {
				free(buf);
				return -ENOMEM;
			}
			buf = nb;
			cap = ncap;
		}
		ssize_t n = read(fd, buf + len, cap - len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			int e = -errno;
			free(buf);
			return e;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	*ret = buf;
	*ret_len = len;
	return 0;
}

static int load(const char *path, char **buf, size_t *len)
{
	int fd, r;

	if (strcmp(path, "-") == 0)
		return read_all(STDIN_FILENO, buf, len);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	r = read_all(fd, buf, len);
	close(fd);
	return r;
}

/* True when a line of the header section (up to the first empty line) ends
 * in a bare LF: the file was captured from a terminal and needs --lf. */
static bool has_bare_lf_in_head(const char *p, size_t len)
{
	bool started = false; /* CRLFs before the start line are skipped */

	for (size_t i = 0; i < len; i++) {
		if (p[i] != '\n') {
			started |= p[i] != '\r';
			continue;
		}
		if (i == 0 || p[i - 1] != '\r')
			return true;
		/* CRLF CRLF: the end of the headers */
		if (started && i >= 3 && p[i - 2] == '\n' && p[i - 3] == '\r')
			return false;
	}
	return false;
}

/* ------------------------------------------------------------------------ */
/* Parsing                                                                   */

/* Parse the message and every body registration needs. Returns 0, or a
 * negative errno with err->reason set. */
static int parse_all(struct parsed *r, const char *buf, size_t len, unsigned flags,
		     struct sip_err *err)
{
	static const enum sip_hdr_id auth_ids[] = {
		SIP_HDR_AUTHORIZATION,
		SIP_HDR_PROXY_AUTHORIZATION,
		SIP_HDR_WWW_AUTHENTICATE,
		SIP_HDR_PROXY_AUTHENTICATE,
	};
	struct sip_msg *m = &r->msg;
	int n;

	r->file_len = len;
	n = sip_msg_parse(m, buf, len, r->hdrs, MAX_HDRS, flags, err);
	if (n < 0) {
		if (n == -E2BIG && !err->reason)
			err->reason = "Message too large or too many headers";
		return n;
	}
	n = sip_msg_validate(m, err);
	if (n < 0)
		return n;
	if (m->is_request) {
		n = sip_uri_parse(&r->ruri, m->ruri, err);
		if (n < 0)
			return n;
	}
	n = sip_msg_vias(m, r->vias, MAX_VIAS, err);
	if (n < 0)
		return n;
	r->nvias = n;

	n = sip_msg_from(m, &r->from, err);
	if (n < 0 && n != -ENOENT)
		return n;
	r->has_from = n == 0;
	n = sip_msg_to(m, &r->to, err);
	if (n < 0 && n != -ENOENT)
		return n;
	r->has_to = n == 0;

	n = sip_msg_contacts(m, r->contacts, MAX_CONTACTS, err);
	if (n < 0)
		return n;
	r->ncontacts = n;
	n = sip_msg_nameaddrs(m, SIP_HDR_PATH, r->path, MAX_ROUTES, err);
	if (n < 0)
		return n;
	r->npath = n;
	n = sip_msg_nameaddrs(m, SIP_HDR_ROUTE, r->route, MAX_ROUTES, err);
	if (n < 0)
		return n;
	r->nroute = n;

	n = sip_msg_u32(m, SIP_HDR_EXPIRES, &r->expires, err);
	if (n < 0 && n != -ENOENT)
		return n;
	r->has_expires = n == 0;
	n = sip_msg_u32(m, SIP_HDR_MIN_EXPIRES, &r->min_expires, err);
	if (n < 0 && n != -ENOENT)
		return n;
	r->has_min_expires = n == 0;
	n = sip_msg_u32(m, SIP_HDR_MAX_FORWARDS, &r->max_forwards, err);
	if (n < 0 && n != -ENOENT)
		return n;
	r->has_max_forwards = n == 0;

	r->nauth = 0;
	for (size_t i = 0; i < sizeof(auth_ids) / sizeof(auth_ids[0]); i++) {
		for (const struct sip_hdr *h = sip_msg_hdr(m, auth_ids[i]); h;
		     h = sip_msg_hdr_next(m, h)) {
			if (r->nauth == MAX_AUTH) {
				err->reason = "Too many authorization headers";
				return -E2BIG;
			}
			n = sip_auth_parse(&r->auth[r->nauth], h->value, err);
			if (n < 0)
				return n;
			r->auth_id[r->nauth++] = auth_ids[i];
		}
	}
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Human output                                                              */

/* Print a slice, escaping what a terminal should not see raw. */
static void put_str(FILE *f, struct sip_str s)
{
	for (size_t i = 0; i < s.len; i++) {
		unsigned char c = (unsigned char)s.p[i];
		if (c == '\\' || (c >= 0x20 && c < 0x7f))
			fputc(c, f);
		else if (c == '\t')
			fputs("\\t", f);
		else if (c == '\r')
			fputs("\\r", f);
		else if (c == '\n')
			fputs("\\n", f);
		else
			fprintf(f, "\\x%02x", c);
	}
}

/* Print " label=value" when the slice was found; "label" alone for a flag. */
static void put_field(FILE *f, const char *label, struct sip_str s)
{
	if (!sip_str_isset(s))
		return;
	fprintf(f, " %s=", label);
	put_str(f, s);
}

/* The content of a quoted string with its escapes resolved. */
static struct sip_str unquoted(char *tmp, size_t cap, struct sip_str s)
{
	ssize_t n;

	if (!sip_str_isset(s) || !sip_str_chr(s, '\\'))
		return s;
	n = sip_str_unquote(tmp, cap, s);
	return n < 0 ? s : sip_str_make(tmp, (size_t)n);
}

static const char *host_type_name(enum sip_host_type t)
{
	switch (t) {
	case SIP_HOST_IPV4:
		return "ipv4";
	case SIP_HOST_IPV6:
		return "ipv6";
	default:
		return "name";
	}
}

static const char *scheme_name(enum sip_uri_scheme s)
{
	switch (s) {
	case SIP_URI_SIP:
		return "sip";
	case SIP_URI_SIPS:
		return "sips";
	case SIP_URI_TEL:
		return "tel";
	default:
		return "other";
	}
}

static void put_nameaddr(FILE *f, const struct sip_nameaddr *na)
{
	char tmp[512];

	if (!sip_str_empty(na->display)) {
		fputc('"', f);
		put_str(f, unquoted(tmp, sizeof(tmp), na->display));
		fputs("\" ", f);
	}
	fputc('<', f);
	put_str(f, na->uri.raw);
	fputc('>', f);
	put_field(f, "tag", na->tag);
	/* the params, unless they are only the tag just printed */
	if (!sip_str_empty(na->params) &&
	    !(sip_str_isset(na->tag) && na->params.len == na->tag.len + 4)) {
		fputs(" params=", f);
		put_str(f, na->params);
	}
}

static void print_human(FILE *f, const char *file, const struct parsed *r)
{
	const struct sip_msg *m = &r->msg;

	if (m->is_request) {
		fprintf(f, "%s: request ", file);
		put_str(f, m->method);
		fputs(" ", f);
		put_str(f, m->ruri);
		fprintf(f, "\n  Request-URI: scheme=%s", scheme_name(r->ruri.scheme));
		put_field(f, "user", r->ruri.user);
		put_field(f, "host", r->ruri.host);
		if (r->ruri.port)
			fprintf(f, " port=%u", r->ruri.port);
		put_field(f, "transport", r->ruri.transport);
		put_field(f, "opaque", r->ruri.opaque);
		fputc('\n', f);
	} else {
		fprintf(f, "%s: response %u ", file, m->status);
		put_str(f, m->reason);
		fputc('\n', f);
	}
	for (int i = 0; i < r->nvias; i++) {
		const struct sip_via *v = &r->vias[i];
		fprintf(f, "  Via[%d]: ", i);
		put_str(f, v->transport);
		fputs(" ", f);
		if (v->host_type == SIP_HOST_IPV6)
			fputc('[', f);
		put_str(f, v->host);
		if (v->host_type == SIP_HOST_IPV6)
			fputc(']', f);
		if (v->port)
			fprintf(f, ":%u", v->port);
		put_field(f, "branch", v->branch);
		if (v->rport == 0)
			fputs(" rport", f);
		else if (v->rport > 0)
			fprintf(f, " rport=%d", (int)v->rport);
		put_field(f, "received", v->received);
		put_field(f, "maddr", v->maddr);
		if (v->ttl >= 0)
			fprintf(f, " ttl=%d", (int)v->ttl);
		fputc('\n', f);
	}
	if (r->has_from) {
		fputs("  From: ", f);
		put_nameaddr(f, &r->from);
		fputc('\n', f);
	}
	if (r->has_to) {
		fputs("  To: ", f);
		put_nameaddr(f, &r->to);
		fputc('\n', f);
	}
	fputs("  Call-ID: ", f);
	put_str(f, m->call_id);
	fprintf(f, "\n  CSeq: %u ", m->cseq.num);
	put_str(f, m->cseq.method);
	fputc('\n', f);
	for (int i = 0; i < r->ncontacts; i++) {
		const struct sip_contact *c = &r->contacts[i];
		fprintf(f, "  Contact[%d]: ", i);
		if (c->star) {
			fputs("*\n", f);
			continue;
		}
		put_nameaddr(f, &c->na);
		if (c->has_expires)
			fprintf(f, " expires=%u", c->expires);
		fprintf(f, " q=%u.%03u", c->q / 1000, c->q % 1000);
		put_field(f, "instance", c->instance);
		if (c->has_reg_id)
			fprintf(f, " reg-id=%u", c->reg_id);
		fputc('\n', f);
	}
	for (int i = 0; i < r->npath; i++) {
		fprintf(f, "  Path[%d]: ", i);
		put_nameaddr(f, &r->path[i]);
		fputc('\n', f);
	}
	for (int i = 0; i < r->nroute; i++) {
		fprintf(f, "  Route[%d]: ", i);
		put_nameaddr(f, &r->route[i]);
		fputc('\n', f);
	}
	if (r->has_expires)
		fprintf(f, "  Expires: %u\n", r->expires);
	if (r->has_min_expires)
		fprintf(f, "  Min-Expires: %u\n", r->min_expires);
	if (r->has_max_forwards)
		fprintf(f, "  Max-Forwards: %u\n", r->max_forwards);
	for (int i = 0; i < r->nauth; i++) {
		const struct sip_auth *a = &r->auth[i];
		char tmp[1024];
		fprintf(f, "  %s: ", sip_hdr_name(r->auth_id[i]));
		put_str(f, a->scheme);
		put_field(f, "username", unquoted(tmp, sizeof(tmp), a->username));
		put_field(f, "realm", unquoted(tmp, sizeof(tmp), a->realm));
		put_field(f, "nonce", unquoted(tmp, sizeof(tmp), a->nonce));
		put_field(f, "uri", unquoted(tmp, sizeof(tmp), a->uri));
		put_field(f, "response", a->response);
		put_field(f, "algorithm", a->algorithm);
		put_field(f, "cnonce", unquoted(tmp, sizeof(tmp), a->cnonce));
		put_field(f, "opaque", unquoted(tmp, sizeof(tmp), a->opaque));
		put_field(f, "qop", a->qop);
		put_field(f, "nc", a->nc);
		put_field(f, "domain", unquoted(tmp, sizeof(tmp), a->domain));
		if (a->stale)
			fputs(" stale=true", f);
		if (a->userhash)
			fputs(" userhash=true", f);
		fputc('\n', f);
	}
	fprintf(f, "  Content-Length: ");
	if (m->has_content_length)
		fprintf(f, "%u", m->content_length);
	else
		fputs("(absent)", f);
	fprintf(f, ", body %zu bytes", m->body.len);
	if (m->len < r->file_len)
		fprintf(f, ", %zu trailing bytes ignored", r->file_len - m->len);
	fputc('\n', f);
}

/* ------------------------------------------------------------------------ */
/* JSON output                                                               */

/* A JSON string from a slice: null when unset; bytes that are not UTF-8 are
 * written as the text "\xNN" so nothing is lost or refused. */
static json_t *jstr(struct sip_str s)
{
	json_t *j;
	char *tmp;
	size_t n = 0;

	if (!sip_str_isset(s))
		return json_null();
	j = json_stringn(s.p, s.len);
	if (j)
		return j;
	tmp = malloc(s.len * 4 + 1);
	if (!tmp)
		return json_null();
	for (size_t i = 0; i < s.len; i++) {
		unsigned char c = (unsigned char)s.p[i];
		if (c < 0x80 && c != 0)
			tmp[n++] = (char)c;
		else
			n += (size_t)sprintf(tmp + n, "\\x%02x", c);
	}
	j = json_stringn(tmp, n);
	free(tmp);
	return j ? j : json_null();
}

static json_t *jstr_unquoted(struct sip_str s)
{
	char tmp[1024];

	return jstr(unquoted(tmp, sizeof(tmp), s));
}

static json_t *json_uri(const struct sip_uri *u)
{
	json_t *o = json_object();

	json_object_set_new(o, "raw", jstr(u->raw));
	json_object_set_new(o, "scheme", json_string(scheme_name(u->scheme)));
	if (u->scheme == SIP_URI_SIP || u->scheme == SIP_URI_SIPS) {
		json_object_set_new(o, "user", jstr(u->user));
		json_object_set_new(o, "host", jstr(u->host));
		json_object_set_new(o, "host_type", json_string(host_type_name(u->host_type)));
		json_object_set_new(o, "port", u->port ? json_integer(u->port) : json_null());
		json_object_set_new(o, "transport", jstr(u->transport));
		json_object_set_new(o, "lr", json_boolean(u->lr));
		json_object_set_new(o, "params", jstr(u->params));
		json_object_set_new(o, "headers", jstr(u->headers));
	} else {
		json_object_set_new(o, "opaque", jstr(u->opaque));
	}
	return o;
}

static json_t *json_nameaddr(const struct sip_nameaddr *na)
{
	json_t *o = json_object();

	json_object_set_new(o, "display", jstr_unquoted(na->display));
	json_object_set_new(o, "uri", json_uri(&na->uri));
	json_object_set_new(o, "tag", jstr(na->tag));
	json_object_set_new(o, "params", jstr(na->params));
	return o;
}

static json_t *json_via(const struct sip_via *v)
{
	json_t *o = json_object();

	json_object_set_new(o, "transport", jstr(v->transport));
	json_object_set_new(o, "host", jstr(v->host));
	json_object_set_new(o, "host_type", json_string(host_type_name(v->host_type)));
	json_object_set_new(o, "port", v->port ? json_integer(v->port) : json_null());
	json_object_set_new(o, "branch", jstr(v->branch));
	json_object_set_new(o, "rport", v->rport < 0    ? json_null()
					: v->rport == 0 ? json_true()
							: json_integer(v->rport));
	json_object_set_new(o, "received", jstr(v->received));
	json_object_set_new(o, "maddr", jstr(v->maddr));
	json_object_set_new(o, "ttl", v->ttl >= 0 ? json_integer(v->ttl) : json_null());
	json_object_set_new(o, "params", jstr(v->params));
	return o;
}

static json_t *json_contact(const struct sip_contact *c)
{
	json_t *o;

	if (c->star)
		return json_pack("{s:b}", "star", 1);
	o = json_nameaddr(&c->na);
	json_object_del(o, "tag");
	json_object_set_new(o, "star", json_false());
	json_object_set_new(o, "expires",
			    c->has_expires ? json_integer(c->expires) : json_null());
	json_object_set_new(o, "q", json_real(c->q / 1000.0));
	json_object_set_new(o, "instance", jstr(c->instance));
	json_object_set_new(o, "reg_id", c->has_reg_id ? json_integer(c->reg_id) : json_null());
	return o;
}

static json_t *json_auth(enum sip_hdr_id id, const struct sip_auth *a)
{
	json_t *o = json_object();

	json_object_set_new(o, "header", json_string(sip_hdr_name(id)));
	json_object_set_new(o, "scheme", jstr(a->scheme));
	json_object_set_new(o, "username", jstr_unquoted(a->username));
	json_object_set_new(o, "realm", jstr_unquoted(a->realm));
	json_object_set_new(o, "nonce", jstr_unquoted(a->nonce));
	json_object_set_new(o, "uri", jstr_unquoted(a->uri));
	json_object_set_new(o, "response", jstr_unquoted(a->response));
	json_object_set_new(o, "algorithm", jstr(a->algorithm));
	json_object_set_new(o, "cnonce", jstr_unquoted(a->cnonce));
	json_object_set_new(o, "opaque", jstr_unquoted(a->opaque));
	json_object_set_new(o, "qop", jstr_unquoted(a->qop));
	json_object_set_new(o, "nc", jstr(a->nc));
	json_object_set_new(o, "domain", jstr_unquoted(a->domain));
	json_object_set_new(o, "stale", json_boolean(a->stale));
	json_object_set_new(o, "userhash", json_boolean(a->userhash));
	json_object_set_new(o, "params", jstr(a->params));
	return o;
}

static json_t *json_u32(bool has, uint32_t v)
{
	return has ? json_integer(v) : json_null();
}

static void print_json(FILE *f, const char *file, const struct parsed *r)
{
	const struct sip_msg *m = &r->msg;
	json_t *o = json_object(), *a;

	json_object_set_new(o, "file", json_string(file));
	json_object_set_new(o, "kind", json_string(m->is_request ? "request" : "response"));
	if (m->is_request) {
		json_object_set_new(o, "method", jstr(m->method));
		json_object_set_new(o, "request_uri", json_uri(&r->ruri));
	} else {
		json_object_set_new(o, "status", json_integer(m->status));
		json_object_set_new(o, "reason", jstr(m->reason));
	}
	a = json_array();
	for (int i = 0; i < r->nvias; i++)
		json_array_append_new(a, json_via(&r->vias[i]));
	json_object_set_new(o, "via", a);
	json_object_set_new(o, "from", r->has_from ? json_nameaddr(&r->from) : json_null());
	json_object_set_new(o, "to", r->has_to ? json_nameaddr(&r->to) : json_null());
	json_object_set_new(o, "call_id", jstr(m->call_id));
	json_object_set_new(o, "cseq",
			    json_pack("{s:I,s:o}", "num", (json_int_t)m->cseq.num, "method",
				      jstr(m->cseq.method)));
	a = json_array();
	for (int i = 0; i < r->ncontacts; i++)
		json_array_append_new(a, json_contact(&r->contacts[i]));
	json_object_set_new(o, "contacts", a);
	a = json_array();
	for (int i = 0; i < r->npath; i++)
		json_array_append_new(a, json_nameaddr(&r->path[i]));
	json_object_set_new(o, "path", a);
	a = json_array();
	for (int i = 0; i < r->nroute; i++)
		json_array_append_new(a, json_nameaddr(&r->route[i]));
	json_object_set_new(o, "route", a);
	json_object_set_new(o, "expires", json_u32(r->has_expires, r->expires));
	json_object_set_new(o, "min_expires", json_u32(r->has_min_expires, r->min_expires));
	json_object_set_new(o, "max_forwards",
			    json_u32(r->has_max_forwards, r->max_forwards));
	a = json_array();
	for (int i = 0; i < r->nauth; i++)
		json_array_append_new(a, json_auth(r->auth_id[i], &r->auth[i]));
	json_object_set_new(o, "auth", a);
	json_object_set_new(o, "content_length",
			    json_u32(m->has_content_length, m->content_length));
	json_object_set_new(o, "body_len", json_integer((json_int_t)m->body.len));
	json_object_set_new(o, "trailing_bytes", json_integer((json_int_t)(r->file_len - m->len)));
	json_dumpf(o, f, JSON_COMPACT);
	fputc('\n', f);
	json_decref(o);
}

static void print_error(const struct opts *o, const char *file, const char *reason)
{
	fprintf(stderr, "%s: error: %s\n", file, reason);
	if (o->json) {
		json_t *j = json_pack("{s:s,s:s}", "file", file, "error", reason);
		json_dumpf(j, stdout, JSON_COMPACT);
		fputc('\n', stdout);
		json_decref(j);
	}
}

/* ------------------------------------------------------------------------ */

static enum exit_code do_file(const struct opts *o, const char *path, struct parsed *r)
{
	const char *name = strcmp(path, "-") == 0 ? "<stdin>" : path;
	unsigned flags = SIP_PARSE_DATAGRAM | (o->lf ? SIP_PARSE_LF : 0);
	struct sip_err err = {0};
	char reason[256];
	size_t len = 0;
	char *buf = NULL;
	int rc;

	rc = load(path, &buf, &len);
	if (rc < 0) {
		fprintf(stderr, "sipreg-parse: %s: %s\n", name, strerror(-rc));
		return EXIT_USAGE;
	}
	memset(r, 0, sizeof(*r));
	rc = parse_all(r, buf, len, flags, &err);
	if (rc == 0 && !o->lf && has_bare_lf_in_head(buf, r->msg.len)) {
		/* the parser took it (a bare LF inside a value?), the wire would not */
		err.reason = "bare LF line end in the headers";
		rc = -EBADMSG;
	}
	if (rc < 0) {
		const char *why = err.reason ? err.reason : strerror(-rc);
		if (!o->lf && has_bare_lf_in_head(buf, len)) {
			snprintf(reason, sizeof(reason),
				 "%s (the file has bare LF line ends: use --lf)", why);
			why = reason;
		}
		print_error(o, name, why);
		free(buf);
		return EXIT_INVALID;
	}
	if (o->json)
		print_json(stdout, name, r);
	else
		print_human(stdout, name, r);
	free(buf);
	return EXIT_VALID;
}

int main(int argc, char **argv)
{
	struct opts o = {0};
	enum exit_code worst = EXIT_VALID;
	struct parsed *r;
	bool opts_done = false;
	int nfiles = 0;

	/* Options may come anywhere before "--"; "-" is a file (stdin). */
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (opts_done || a[0] != '-' || strcmp(a, "-") == 0) {
			nfiles++;
			continue;
		}
		if (strcmp(a, "--") == 0)
			opts_done = true;
		else if (strcmp(a, "--json") == 0)
			o.json = true;
		else if (strcmp(a, "--lf") == 0)
			o.lf = true;
		else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			usage(stdout);
			return EXIT_VALID;
		} else {
			fprintf(stderr, "sipreg-parse: unknown option '%s'\n", a);
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (nfiles == 0) {
		fprintf(stderr, "sipreg-parse: no file given\n");
		usage(stderr);
		return EXIT_USAGE;
	}
	r = malloc(sizeof(*r));
	if (!r) {
		fprintf(stderr, "sipreg-parse: out of memory\n");
		return EXIT_USAGE;
	}
	opts_done = false;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!opts_done && a[0] == '-' && strcmp(a, "-") != 0) {
			opts_done = strcmp(a, "--") == 0;
			continue;
		}
		enum exit_code e = do_file(&o, a, r);
		if (e > worst)
			worst = e;
		fflush(stdout);
	}
	free(r);
	if (worst == EXIT_USAGE)
		usage(stderr);
	return worst;
}
