/* SPDX-License-Identifier: MIT */
/* Tests of hugemem.c: small arrays from calloc, large ones mapped on their
 * own, 2 MiB aligned, zero-filled, the whole length writable, freed. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include "sipreg/hugemem.h"

static bool all_zero(const unsigned char *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i])
			return false;
	return true;
}

Test(hugemem, small_from_calloc)
{
	size_t map_len = 99;
	unsigned char *p = hugemem_alloc(HUGEMEM_MIN - 1, &map_len);

	cr_assert_not_null(p);
	cr_assert_eq(map_len, 0);
	cr_assert(all_zero(p, HUGEMEM_MIN - 1));
	memset(p, 0xa5, HUGEMEM_MIN - 1);
	hugemem_free(p, map_len);

	p = hugemem_alloc(0, &map_len); /* still a pointer to free */
	cr_assert_not_null(p);
	cr_assert_eq(map_len, 0);
	hugemem_free(p, map_len);
	hugemem_free(NULL, 0);
}

Test(hugemem, large_mapped_aligned_and_zeroed)
{
	size_t sizes[] = {HUGEMEM_MIN, HUGEMEM_MIN + 1, 3 * HUGEMEM_MIN + 4096, 8 * HUGEMEM_MIN};

	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		size_t map_len = 0, len = sizes[k];
		unsigned char *p = hugemem_alloc(len, &map_len);

		cr_assert_not_null(p, "%zu bytes", len);
		cr_assert_eq((uintptr_t)p % HUGEMEM_MIN, 0, "%zu bytes: not 2 MiB aligned", len);
		cr_assert_geq(map_len, len);
		cr_assert_eq(map_len % HUGEMEM_MIN, 0);
		cr_assert_lt(map_len - len, HUGEMEM_MIN);
		cr_assert(all_zero(p, map_len));
		memset(p, 0x5a, map_len); /* every byte of the mapping writable */
		cr_assert_eq(p[map_len - 1], 0x5a);
		hugemem_free(p, map_len);
	}
}

Test(hugemem, overflowing_length_refused)
{
	size_t map_len = 7;

	cr_assert_null(hugemem_alloc(SIZE_MAX - HUGEMEM_MIN, &map_len));
	cr_assert_eq(map_len, 0);
}
