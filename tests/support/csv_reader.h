/* SPDX-License-Identifier: MIT */
/*
 * csv_reader.h - test support: a small RFC 4180 CSV reader for the corpus
 * files (digest vectors, manifests): quoted fields, "" inside quotes, commas
 * and line breaks inside quotes, CRLF or LF line ends; a blank line is no
 * row. Shared by test_digest.c, test_sip_write.c and test_sip_corpus.c.
 */
#ifndef SIPREG_TEST_CSV_READER_H
#define SIPREG_TEST_CSV_READER_H

#include <stddef.h>

#define CSV_MAX_FIELDS 16
#define CSV_MAX_ROWS 1024

/* Row 0 is the header line when the file has one. field[r][i] is NUL
 * terminated, for i < nfields[r]. */
struct csv {
	char *data; /* the unescaped fields, NUL-terminated, back to back */
	size_t nrows;
	size_t nfields[CSV_MAX_ROWS];
	char *field[CSV_MAX_ROWS][CSV_MAX_FIELDS];
};

/*
 * Reads len bytes of CSV text (in needs no NUL). Returns 0 (free with
 * csv_free()), or, with nothing left to free:
 *   -ENOMEM   out of memory;
 *   -E2BIG    more than CSV_MAX_ROWS rows or CSV_MAX_FIELDS fields in a row;
 *   -EBADMSG  an unterminated quote, text after a closing quote, or a quote
 *             inside an unquoted field.
 */
int csv_parse(struct csv *c, const char *in, size_t len);

/* Frees what csv_parse() kept; safe after a failed parse and twice. */
void csv_free(struct csv *c);

/* The index of the header (row 0) field name, or -ENOENT. */
int csv_col(const struct csv *c, const char *name);

/* As csv_col(), but a missing column fails the running Criterion test. */
int csv_need_col(const struct csv *c, const char *name);

/* The whole file, NUL-terminated, its length in *len (free() it); NULL when
 * it cannot be opened. A read error fails the running Criterion test. */
char *csv_slurp(const char *path, size_t *len);

#endif
