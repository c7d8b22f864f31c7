/* SPDX-License-Identifier: MIT */
/*
 * csv.c - RFC 4180 records for the subscriber and trunk imports, and the
 * subscriber import itself (all rows checked before one transaction).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "csv.h"

void csv_init(struct csv_reader *r, FILE *in)
{
	memset(r, 0, sizeof(*r));
	r->in = in;
	r->next_line = 1;
}

static int csv_put(struct csv_reader *r, size_t *n, char c)
{
	if (*n == sizeof(r->buf))
		return -E2BIG;
	r->buf[(*n)++] = c;
	return 0;
}

static int csv_field_end(struct csv_reader *r, size_t *n)
{
	if (r->nfields == CSV_FIELDS_MAX)
		return -E2BIG;
	if (csv_put(r, n, '\0'))
		return -E2BIG;
	r->nfields++;
	if (r->nfields < CSV_FIELDS_MAX)
		r->field[r->nfields] = r->buf + *n;
	return 0;
}

int csv_next(struct csv_reader *r, char *err, size_t errlen)
{
	size_t n = 0;
	int c, quoted = 0, after_quote = 0, any = 0;

	r->line = r->next_line;
	r->nfields = 0;
	r->field[0] = r->buf;
	if (r->line == 1) {
		/* skip a UTF-8 byte order mark */
		c = getc(r->in);
		if (c == 0xEF) {
			if (getc(r->in) != 0xBB || getc(r->in) != 0xBF) {
				snprintf(err, errlen, "line 1: malformed byte order mark");
				return -EINVAL;
			}
		} else if (c != EOF) {
			ungetc(c, r->in);
		}
	}
	while ((c = getc(r->in)) != EOF) {
		any = 1;
		if (quoted) {
			if (c == '"') {
				int d = getc(r->in);
				if (d == '"') {
					if (csv_put(r, &n, '"'))
						goto too_big;
					continue;
				}
				if (d != EOF)
					ungetc(d, r->in);
				quoted = 0;
				after_quote = 1;
				continue;
			}
			if (c == '\n')
				r->next_line++;
			if (csv_put(r, &n, (char)c))
				goto too_big;
			continue;
		}
		if (c == '\r') {
			int d = getc(r->in);
			if (d != '\n') {
				snprintf(err, errlen, "line %lu: bare CR", r->line);
				return -EINVAL;
			}
			c = '\n';
		}
		if (c == '\n') {
			r->next_line++;
			break;
		}
		if (c == ',') {
			if (csv_field_end(r, &n))
				goto too_big;
			after_quote = 0;
			continue;
		}
		if (after_quote) {
			snprintf(err, errlen, "line %lu: text after a closing quote", r->line);
			return -EINVAL;
		}
		if (c == '"') {
			if (&r->buf[n] != r->field[r->nfields]) {
				snprintf(err, errlen, "line %lu: quote inside an unquoted field",
					 r->line);
				return -EINVAL;
			}
			quoted = 1;
			continue;
		}
		if (csv_put(r, &n, (char)c))
			goto too_big;
	}
	if (quoted) {
		snprintf(err, errlen, "line %lu: unterminated quoted field", r->line);
		return -EINVAL;
	}
	if (!any)
		return 0;
	if (csv_field_end(r, &n))
		goto too_big;
	return 1;
too_big:
	snprintf(err, errlen, "line %lu: record too long or too many fields", r->line);
	return -E2BIG;
}

static int copy_field(char *dst, size_t cap, const char *src)
{
	size_t n = strlen(src);

	if (n >= cap)
		return -1;
	memcpy(dst, src, n + 1);
	return 0;
}

static bool blank_record(const struct csv_reader *r)
{
	return r->nfields == 1 && r->field[0][0] == '\0';
}

/* What differs between the imports: the header, one row's conversion, and
 * the store call that takes them all. */
struct csv_import {
	const char *const *header; /* nfields, then noptional names */
	size_t nfields;
	size_t noptional; /* trailing columns a header may add, in order */
	size_t row_size;
	/* fills out from r's fields: 0, or -EINVAL with err set (line named) */
	int (*row)(void *ctx, struct store *s, const struct csv_reader *r, void *out, char *err,
		   size_t errlen);
	int (*import)(struct store *s, const void *rows, size_t n);
	void *ctx;
};

/* The header's column count when it is the required names followed by
 * the first k optional ones; 0 when it is not. */
static size_t header_ok(const struct csv_reader *r, const struct csv_import *imp)
{
	if (r->nfields < imp->nfields || r->nfields > imp->nfields + imp->noptional)
		return 0;
	for (size_t i = 0; i < r->nfields; i++)
		if (strcmp(r->field[i], imp->header[i]) != 0)
			return 0;
	return r->nfields;
}

/* The first ncols names; with optional columns not among them, "[,name]". */
static void header_text(const struct csv_import *imp, size_t ncols, char *buf, size_t cap)
{
	size_t n = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < ncols && n < cap; i++)
		n += (size_t)snprintf(buf + n, cap - n, "%s%s", i ? "," : "", imp->header[i]);
	for (size_t i = ncols; i < imp->nfields + imp->noptional && n < cap; i++)
		n += (size_t)snprintf(buf + n, cap - n, "[,%s]", imp->header[i]);
}

/* Reads every row, converts and checks each, then imports them in one go. */
static long import_csv(struct store *s, FILE *in, const struct csv_import *imp, char *err,
		       size_t errlen)
{
	struct csv_reader *r = malloc(sizeof(*r));
	char *rows = NULL;
	size_t n = 0, cap = 0, ncols = 0;
	long ret;
	int k;

	if (!r)
		return -ENOMEM;
	csv_init(r, in);
	k = csv_next(r, err, errlen);
	if (k > 0)
		ncols = header_ok(r, imp);
	if (k <= 0 || !ncols) {
		if (k >= 0) {
			char h[320];
			header_text(imp, imp->nfields, h, sizeof(h));
			snprintf(err, errlen, "line 1: the header must be exactly '%s'", h);
		}
		ret = -EINVAL;
		goto out;
	}
	while ((k = csv_next(r, err, errlen)) > 0) {
		if (blank_record(r))
			continue;
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 1024;
			char *nrows = realloc(rows, ncap * imp->row_size);
			if (!nrows) {
				ret = -ENOMEM;
				goto out;
			}
			rows = nrows;
			cap = ncap;
		}
		if (r->nfields != ncols) {
			char h[320];
			header_text(imp, ncols, h, sizeof(h));
			snprintf(err, errlen, "line %lu: %zu fields, expected %zu (%s)", r->line,
				 r->nfields, ncols, h);
			ret = -EINVAL;
			goto out;
		}
		if (imp->row(imp->ctx, s, r, rows + n * imp->row_size, err, errlen)) {
			ret = -EINVAL;
			goto out;
		}
		n++;
	}
	if (k < 0) {
		ret = k;
		goto out;
	}
	k = imp->import(s, rows, n);
	if (k < 0) {
		snprintf(err, errlen, "import failed: %s", store_errmsg(s));
		ret = k;
		goto out;
	}
	ret = (long)n;
out:
	free(rows);
	free(r);
	return ret;
}

/* ------------------------------------------------------------------------ */
/* Subscribers                                                               */

static int subscriber_row(void *ctx, struct store *s, const struct csv_reader *r, void *out,
			  char *err, size_t errlen)
{
	static const char *const names[] = {"username", "domain", "password"};
	struct store_subscriber *sub = out;

	(void)ctx;
	memset(sub, 0, sizeof(*sub));
	for (size_t i = 0; i < 3; i++) {
		if (!r->field[i][0]) {
			snprintf(err, errlen, "line %lu: empty %s", r->line, names[i]);
			return -EINVAL;
		}
	}
	if (copy_field(sub->username, sizeof(sub->username), r->field[0]) ||
	    copy_field(sub->domain, sizeof(sub->domain), r->field[1]) ||
	    copy_field(sub->password, sizeof(sub->password), r->field[2])) {
		snprintf(err, errlen, "line %lu: field too long", r->line);
		return -EINVAL;
	}
	sub->enabled = true;
	if (store_subscriber_check(s, sub)) {
		snprintf(err, errlen, "line %lu: %s", r->line, store_errmsg(s));
		return -EINVAL;
	}
	return 0;
}

static int subscriber_import(struct store *s, const void *rows, size_t n)
{
	return store_subscriber_import(s, rows, n);
}

long store_subscriber_import_csv(struct store *s, FILE *in, char *err, size_t errlen)
{
	static const char *const header[] = {"username", "domain", "password"};
	const struct csv_import imp = {header, 3, 0, sizeof(struct store_subscriber),
				       subscriber_row, subscriber_import, NULL};

	return import_csv(s, in, &imp, err, errlen);
}

/* ------------------------------------------------------------------------ */
/* Trunks                                                                    */

struct trunk_ctx {
	store_trunk_check_fn check;
	void *arg;
};

static int trunk_row(void *ctx, struct store *s, const struct csv_reader *r, void *out,
		     char *err, size_t errlen)
{
	struct trunk_ctx *c = ctx;
	struct store_trunk *t = out;
	char *const dst[] = {t->name, t->registrar, t->proxy, t->transport, t->user,
			     t->auth_user, t->password, t->domain, t->expire, t->retry_delay};
	const size_t cap[] = {sizeof(t->name),      sizeof(t->registrar), sizeof(t->proxy),
			      sizeof(t->transport), sizeof(t->user),      sizeof(t->auth_user),
			      sizeof(t->password),  sizeof(t->domain),    sizeof(t->expire),
			      sizeof(t->retry_delay)};
	static const char *const names[] = {"name", "registrar", "proxy", "transport", "user",
					    "auth_user", "password", "domain", "expire",
					    "retry_delay"};
	const char *en = r->field[10];
	const char *pri = r->nfields > 11 ? r->field[11] : "";
	char msg[200];

	memset(t, 0, sizeof(*t));
	for (size_t i = 0; i < 10; i++) {
		if (copy_field(dst[i], cap[i], r->field[i])) {
			snprintf(err, errlen, "line %lu: %s: too long", r->line, names[i]);
			return -EINVAL;
		}
	}
	if (strcmp(en, "0") != 0 && strcmp(en, "1") != 0) {
		snprintf(err, errlen, "line %lu: enabled: '%s' (allowed: 0, 1)", r->line, en);
		return -EINVAL;
	}
	t->enabled = en[0] == '1';
	if (pri[0] && strcmp(pri, "0") != 0 && strcmp(pri, "1") != 0) {
		snprintf(err, errlen, "line %lu: primary: '%s' (allowed: 0, 1, empty)", r->line,
			 pri);
		return -EINVAL;
	}
	t->primary = pri[0] == '1';
	if (store_trunk_check(s, t)) {
		snprintf(err, errlen, "line %lu: %s", r->line, store_errmsg(s));
		return -EINVAL;
	}
	if (c->check && c->check(c->arg, t, msg, sizeof(msg))) {
		snprintf(err, errlen, "line %lu: %s", r->line, msg);
		return -EINVAL;
	}
	return 0;
}

static int trunk_import(struct store *s, const void *rows, size_t n)
{
	return store_trunk_import(s, rows, n);
}

long store_trunk_import_csv(struct store *s, FILE *in, store_trunk_check_fn check, void *arg,
			    char *err, size_t errlen)
{
	static const char *const header[] = {"name",      "registrar", "proxy",  "transport",
					     "user",      "auth_user", "password", "domain",
					     "expire",    "retry_delay", "enabled", "primary"};
	struct trunk_ctx c = {check, arg};
	/* the eleven columns of issue 5, and optionally "primary" */
	const struct csv_import imp = {header, 11, 1, sizeof(struct store_trunk), trunk_row,
				       trunk_import, &c};

	return import_csv(s, in, &imp, err, errlen);
}
