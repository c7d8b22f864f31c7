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

/* Checks one data row and fills *sub; 0 or -EINVAL with err set. */
static int subscriber_row(const struct csv_reader *r, struct store_subscriber *sub, char *err,
			  size_t errlen)
{
	static const char *const names[] = {"username", "domain", "password"};

	if (r->nfields != 3) {
		snprintf(err, errlen, "line %lu: %zu fields, expected 3 (username,domain,password)",
			 r->line, r->nfields);
		return -EINVAL;
	}
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
	return 0;
}

long store_subscriber_import_csv(struct store *s, FILE *in, char *err, size_t errlen)
{
	struct csv_reader *r = malloc(sizeof(*r));
	struct store_subscriber *rows = NULL;
	size_t n = 0, cap = 0;
	long ret;
	int k;

	if (!r)
		return -ENOMEM;
	csv_init(r, in);
	k = csv_next(r, err, errlen);
	if (k <= 0 || r->nfields != 3 || strcmp(r->field[0], "username") ||
	    strcmp(r->field[1], "domain") || strcmp(r->field[2], "password")) {
		if (k >= 0)
			snprintf(err, errlen, "line 1: the header must be exactly "
					      "'username,domain,password'");
		ret = -EINVAL;
		goto out;
	}
	while ((k = csv_next(r, err, errlen)) > 0) {
		if (blank_record(r))
			continue;
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 1024;
			struct store_subscriber *nrows = realloc(rows, ncap * sizeof(*rows));
			if (!nrows) {
				ret = -ENOMEM;
				goto out;
			}
			rows = nrows;
			cap = ncap;
		}
		if (subscriber_row(r, &rows[n], err, errlen)) {
			ret = -EINVAL;
			goto out;
		}
		if (store_subscriber_check(s, &rows[n])) {
			snprintf(err, errlen, "line %lu: %s", r->line, store_errmsg(s));
			ret = -EINVAL;
			goto out;
		}
		n++;
	}
	if (k < 0) {
		ret = k;
		goto out;
	}
	k = store_subscriber_import(s, rows, n);
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
