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

/* The reference's byte-at-a-time tail, for every length 0..64 and every
 * start offset 0..7 (the tail's loads are unaligned): the same hash. */
static uint64_t ref_siphash24(const uint8_t key[16], const uint8_t *p, size_t len)
{
#define R(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define ROUND                                                                              \
	do {                                                                               \
		v0 += v1, v1 = R(v1, 13), v1 ^= v0, v0 = R(v0, 32);                        \
		v2 += v3, v3 = R(v3, 16), v3 ^= v2;                                        \
		v0 += v3, v3 = R(v3, 21), v3 ^= v0;                                        \
		v2 += v1, v1 = R(v1, 17), v1 ^= v2, v2 = R(v2, 32);                        \
	} while (0)
	uint64_t k0 = 0, k1 = 0, m, b = (uint64_t)len << 56;
	size_t i, j;

	for (i = 0; i < 8; i++) {
		k0 |= (uint64_t)key[i] << (8 * i);
		k1 |= (uint64_t)key[8 + i] << (8 * i);
	}
	uint64_t v0 = 0x736f6d6570736575ULL ^ k0, v1 = 0x646f72616e646f6dULL ^ k1;
	uint64_t v2 = 0x6c7967656e657261ULL ^ k0, v3 = 0x7465646279746573ULL ^ k1;

	for (i = 0; i + 8 <= len; i += 8) {
		for (m = 0, j = 0; j < 8; j++)
			m |= (uint64_t)p[i + j] << (8 * j);
		v3 ^= m;
		ROUND;
		ROUND;
		v0 ^= m;
	}
	for (j = 0; i + j < len; j++)
		b |= (uint64_t)p[i + j] << (8 * j);
	v3 ^= b;
	ROUND;
	ROUND;
	v0 ^= b;
	v2 ^= 0xff;
	ROUND;
	ROUND;
	ROUND;
	ROUND;
	return v0 ^ v1 ^ v2 ^ v3;
#undef ROUND
#undef R
}

Test(siphash, every_length_and_offset_as_the_reference)
{
	uint8_t key[16], buf[80];

	for (int i = 0; i < 16; i++)
		key[i] = (uint8_t)(0xa5 ^ (i * 37));
	for (int i = 0; i < 80; i++)
		buf[i] = (uint8_t)(i * 131 + 7);
	/* the paper's vector through the reference too: it is the reference */
	{
		uint8_t k[16], msg[15];

		for (int i = 0; i < 16; i++)
			k[i] = (uint8_t)i;
		for (int i = 0; i < 15; i++)
			msg[i] = (uint8_t)i;
		cr_assert_eq(ref_siphash24(k, msg, 15), 0xa129ca6149be45e5ULL);
	}
	for (size_t off = 0; off < 8; off++)
		for (size_t len = 0; len <= 64; len++)
			cr_assert_eq(siphash24(key, buf + off, len), ref_siphash24(key, buf + off, len),
			             "length %zu offset %zu", len, off);
}
