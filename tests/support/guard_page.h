/* SPDX-License-Identifier: MIT */
/*
 * guard_page.h - test support (header only): a buffer whose end touches a
 * PROT_NONE page, so that a read or write one byte past it faults. Shared by
 * the parser and writer tests (test_sip_hdr.c, test_sip_uri.c,
 * test_sip_msg.c, test_sip_write.c).
 */
#ifndef SIPREG_TEST_GUARD_PAGE_H
#define SIPREG_TEST_GUARD_PAGE_H

#include <criterion/criterion.h>
#include <stddef.h>
#include <sys/mman.h>
#include <unistd.h>

struct guard_page {
	char *map;
	size_t maplen; /* the mapping, the guard page included */
	char *end;     /* the first byte of the guard page */
};

/* At least size (and at least one page of) writable bytes right before the
 * guard page; returns g->end. A failed mmap or mprotect fails the running
 * Criterion test. */
static inline char *guard_page_new(struct guard_page *g, size_t size)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE), pages = (size + pg - 1) / pg;

	if (pages == 0)
		pages = 1;
	g->maplen = (pages + 1) * pg;
	g->map = mmap(NULL, g->maplen, PROT_READ | PROT_WRITE,
	              MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	cr_assert_neq(g->map, MAP_FAILED);
	g->end = g->map + pages * pg;
	cr_assert_eq(mprotect(g->end, pg, PROT_NONE), 0);
	return g->end;
}

/* The bytes before the guard page read-only from now on: a write faults too. */
static inline void guard_page_readonly(struct guard_page *g)
{
	cr_assert_eq(mprotect(g->map, (size_t)(g->end - g->map), PROT_READ), 0);
}

static inline void guard_page_free(struct guard_page *g)
{
	munmap(g->map, g->maplen);
}

#endif
