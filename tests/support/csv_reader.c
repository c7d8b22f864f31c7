/* SPDX-License-Identifier: MIT */
/*
 * csv_reader.c - see csv_reader.h.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csv_reader.h"

static int field_end(const char *in, size_t i, size_t len)
{
	return i == len || in[i] == ',' || in[i] == '\r' || in[i] == '\n';
}

/* One field at in[*i]; its unescaped bytes go to out[*o], NUL-terminated. */
static int read_field(const char *in, size_t len, size_t *i, char *out, size_t *o)
{
	if (*i < len && in[*i] == '"') {
		for ((*i)++;; (*i)++) {
			if (*i == len)
				return -EBADMSG; /* unterminated quote */
			if (in[*i] == '"') {
				if (*i + 1 < len && in[*i + 1] == '"') {
					out[(*o)++] = '"';
					(*i)++;
					continue;
				}
				(*i)++;
				break;
			}
			out[(*o)++] = in[*i];
		}
		if (!field_end(in, *i, len))
			return -EBADMSG; /* text after the closing quote */
	} else {
		for (; !field_end(in, *i, len); (*i)++) {
			if (in[*i] == '"')
				return -EBADMSG; /* quote inside a bare field */
			out[(*o)++] = in[*i];
		}
	}
	out[(*o)++] = '\0';
	return 0;
}

static int parse(struct csv *c, const char *in, size_t len)
{
	size_t i = 0, o = 0;
	int r;

	while (i < len) {
		size_t row = c->nrows, nf = 0;

		if (row == CSV_MAX_ROWS)
			return -E2BIG;
		for (;;) {
			if (nf == CSV_MAX_FIELDS)
				return -E2BIG;
			c->field[row][nf++] = c->data + o;
			if ((r = read_field(in, len, &i, c->data, &o)) < 0)
				return r;
			if (i < len && in[i] == ',') {
				i++;
				continue;
			}
			break;
		}
		if (i < len && in[i] == '\r')
			i++;
		if (i < len && in[i] == '\n')
			i++;
		/* a blank line is no row */
		if (!(nf == 1 && c->field[row][0][0] == '\0')) {
			c->nfields[row] = nf;
			c->nrows++;
		}
	}
	return 0;
}

int csv_parse(struct csv *c, const char *in, size_t len)
{
	int r;

	memset(c, 0, sizeof(*c));
	/* every byte at most once, plus a NUL per field */
	c->data = malloc(len + 1 + CSV_MAX_ROWS * CSV_MAX_FIELDS);
	if (!c->data)
		return -ENOMEM;
	if ((r = parse(c, in, len)) < 0)
		csv_free(c);
	return r;
}

void csv_free(struct csv *c)
{
	free(c->data);
	c->data = NULL;
	c->nrows = 0;
}

int csv_col(const struct csv *c, const char *name)
{
	if (c->nrows == 0)
		return -ENOENT;
	for (size_t i = 0; i < c->nfields[0]; i++)
		if (strcmp(c->field[0][i], name) == 0)
			return (int)i;
	return -ENOENT;
}

int csv_need_col(const struct csv *c, const char *name)
{
	int i = csv_col(c, name);

	cr_assert_geq(i, 0, "CSV column %s missing", name);
	return i;
}

char *csv_slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	if (!f)
		return NULL;
	cr_assert_eq(fseek(f, 0, SEEK_END), 0, "%s: cannot seek", path);
	n = ftell(f);
	cr_assert_geq(n, 0, "%s: cannot tell its size", path);
	rewind(f);
	buf = malloc((size_t)n + 1);
	cr_assert_not_null(buf);
	cr_assert_eq(fread(buf, 1, (size_t)n, f), (size_t)n, "%s: short read", path);
	fclose(f);
	buf[n] = '\0';
	*len = (size_t)n;
	return buf;
}
