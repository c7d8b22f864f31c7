/* SPDX-License-Identifier: MIT */
/* hugemem.c - see hugemem.h. */
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "sipreg/hugemem.h"

void *hugemem_alloc(size_t len, size_t *map_len)
{
	uintptr_t a, base;
	size_t map;
	void *m;

	*map_len = 0;
	if (len < HUGEMEM_MIN)
		return calloc(1, len ? len : 1);
	if (len > SIZE_MAX - 2 * HUGEMEM_MIN)
		return NULL;
	map = (len + HUGEMEM_MIN - 1) & ~(HUGEMEM_MIN - 1);
	/* one huge page more than needed, then the unaligned ends cut off */
	m = mmap(NULL, map + HUGEMEM_MIN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		 -1, 0);
	if (m == MAP_FAILED)
		return NULL;
	base = (uintptr_t)m;
	a = (base + HUGEMEM_MIN - 1) & ~(uintptr_t)(HUGEMEM_MIN - 1);
	if (a > base)
		munmap(m, a - base);
	if (base + map + HUGEMEM_MIN > a + map)
		munmap((void *)(a + map), base + map + HUGEMEM_MIN - (a + map));
	madvise((void *)a, map, MADV_HUGEPAGE); /* advice: refused is fine */
	*map_len = map;
	return (void *)a; /* zero-filled */
}

void hugemem_free(void *p, size_t map_len)
{
	if (map_len)
		munmap(p, map_len);
	else
		free(p);
}
