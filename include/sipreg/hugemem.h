/* SPDX-License-Identifier: MIT */
/*
 * hugemem.h - zero-filled arrays that random probes walk (hash table slots):
 * from 2 MiB up each gets an anonymous mapping of its own, 2 MiB aligned,
 * with transparent huge pages asked for (MADV_HUGEPAGE), so that a probe
 * costs no page walk; smaller ones come from calloc.
 */
#ifndef SIPREG_HUGEMEM_H
#define SIPREG_HUGEMEM_H

#include <stddef.h>

/* The size from which an array gets its own mapping (one huge page). */
#define HUGEMEM_MIN ((size_t)2 << 20)

/*
 * len zero-filled bytes. *map_len gets the mapping's length (len rounded up
 * to 2 MiB), or 0 when the memory came from calloc (len < HUGEMEM_MIN).
 * Returns NULL when out of memory (or len so large the rounding overflows).
 * The huge pages are advice: a kernel that refuses them gives small pages.
 */
void *hugemem_alloc(size_t len, size_t *map_len);

/* Frees what hugemem_alloc returned, given its map_len. NULL is a no-op. */
void hugemem_free(void *p, size_t map_len);

#endif
