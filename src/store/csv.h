/* SPDX-License-Identifier: MIT */
/* csv.h - an RFC 4180 record reader for the provisioning imports. */
#ifndef SIPREG_STORE_CSV_H
#define SIPREG_STORE_CSV_H

#include <stddef.h>
#include <stdio.h>

#define CSV_FIELDS_MAX 32
#define CSV_RECORD_MAX 8192 /* bytes of one record's fields, NULs included */

struct csv_reader {
	FILE *in;
	unsigned long line;       /* line where the last record started */
	unsigned long next_line;  /* line the next record starts on */
	char buf[CSV_RECORD_MAX];
	char *field[CSV_FIELDS_MAX];
	size_t nfields;
};

void csv_init(struct csv_reader *r, FILE *in);
/*
 * Read one record: fields separated by ',', optionally double-quoted (a quote
 * inside a quoted field is written twice), records ended by LF or CRLF; a
 * quoted field may span lines. A UTF-8 BOM before the first record is skipped.
 * Returns 1 with r->field[0..nfields) set, 0 at end of input, -EINVAL on a
 * malformed record (err says why), -E2BIG for too many fields or bytes.
 */
int csv_next(struct csv_reader *r, char *err, size_t errlen);

#endif
