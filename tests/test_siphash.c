/* SPDX-License-Identifier: MIT */
/* SipHash-2-4 against the reference vectors of the SipHash paper (appendix A). */
#include <criterion/criterion.h>

#include "sipreg/siphash.h"

Test(siphash, reference_vectors)
{
	uint8_t key[16], msg[64];

	for (int i = 0; i < 16; i++)
		key[i] = (uint8_t)i;
	for (int i = 0; i < 64; i++)
		msg[i] = (uint8_t)i;
	/* the paper's worked example: 15 bytes 00..0e */
	cr_assert_eq(siphash24(key, msg, 15), 0xa129ca6149be45e5ULL);
	/* vectors.h of the reference implementation, lengths 0, 1, 7, 8 */
	cr_assert_eq(siphash24(key, msg, 0), 0x726fdb47dd0e0e31ULL);
	cr_assert_eq(siphash24(key, msg, 1), 0x74f839c593dc67fdULL);
	cr_assert_eq(siphash24(key, msg, 7), 0xab0200f58b01d137ULL);
	cr_assert_eq(siphash24(key, msg, 8), 0x93f5f5799a932462ULL);
}

Test(siphash, key_changes_everything)
{
	uint8_t k1[16] = {0}, k2[16] = {0};

	k2[15] = 1;
	cr_assert_neq(siphash24(k1, "alice", 5), siphash24(k2, "alice", 5));
	cr_assert_eq(siphash24(k1, "alice", 5), siphash24(k1, "alice", 5));
}
