/* SPDX-License-Identifier: MIT */
/*
 * journal.h - the bindings journal (private to src/store/): an append-only
 * file of binding changes, compacted by the store itself, that the
 * embedded backend keeps beside its SQLite file instead of a table of
 * bindings (journal.c says why and how).
 */
#ifndef SIPREG_STORE_JOURNAL_H
#define SIPREG_STORE_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

#include "sipreg/store.h"

struct bjournal;

/* Reads the bindings an older database kept elsewhere (the SQLite table):
 * calls cb for each; 0 or a negative errno. */
typedef int (*bjournal_seed_fn)(void *arg, store_binding_cb cb, void *cbarg);

/*
 * Opens path for appending, as the one writer: takes an exclusive lock
 * (flock) on it, creates it when missing (first with every binding seed()
 * yields, so an older database's bindings move over; seed may be NULL),
 * and rewrites it compacted (a torn last record, left by a kill during a
 * write, is dropped; when more is dropped than that, damage, the file is
 * first kept as PATH.damaged). err gets a message on failure.
 * Returns 0, -EBUSY (another process writes it), -EINVAL (not a journal,
 * or a newer version), -ENOMEM, or -EIO and the like from the file system.
 */
int bjournal_open(struct bjournal **ret, const char *path, bjournal_seed_fn seed,
		  void *seed_arg, char *err, size_t errlen);

/*
 * Appends n changes in one write(); compacts the file when it has grown to
 * 4 times its live size (32 MiB at least). Nothing is synced: a killed
 * process loses nothing that was appended, a machine crash what the kernel
 * had not yet written back. On a failed write the file is cut back to
 * where it was. Returns 0, -EINVAL (a field longer than store.h allows,
 * an unknown kind: nothing appended), -ENOMEM, -EIO/-ENOSPC and the like.
 */
int bjournal_append(struct bjournal *j, const struct store_change *c, size_t n, char *err,
		    size_t errlen);

/* Syncs and closes (NULL: nothing). */
void bjournal_close(struct bjournal *j);

/*
 * The live bindings in path, in (aor, contact) byte order, read without the
 * writer's lock (a record being appended at that moment is not seen).
 * Returns 0, cb's first non-zero value, -ENOENT (no journal at path),
 * -EINVAL (not a journal), -ENOMEM, -EIO.
 */
int bjournal_each(const char *path, store_binding_cb cb, void *arg, char *err, size_t errlen);

/*
 * Bindings an older sipreg wrote elsewhere (the SQLite table, by a binary
 * from before the journal run after it was made: a downgrade) against the
 * journal's, for one (aor, contact): the one that expires later wins (the
 * later registration), a tie keeps the journal's; one the journal lacks is
 * added. A binding that cannot be encoded (no AOR, a field too long) is
 * counted, not merged.
 */

/* Appends, in one write(), each binding seed yields that wins. *merged: how
 * many; *bad: how many could not be encoded. Returns 0, seed's error,
 * -ENOMEM, -EIO/-ENOSPC and the like. */
int bjournal_merge(struct bjournal *j, bjournal_seed_fn seed, void *seed_arg, size_t *merged,
		   size_t *bad, char *err, size_t errlen);

/* bjournal_each of the journal with what seed yields merged in (seed NULL:
 * bjournal_each), as the file will read once bjournal_merge has run.
 * Returns what bjournal_each returns, or seed's error. */
int bjournal_each_merged(const char *path, bjournal_seed_fn seed, void *seed_arg,
			 store_binding_cb cb, void *arg, char *err, size_t errlen);

#endif
