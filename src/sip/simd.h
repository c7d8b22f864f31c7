/* SPDX-License-Identifier: MIT */
/*
 * simd.h - private to src/sip/: whether the scanners use SSE2 (SIP_SSE2) and
 * the short-tail load they share (the framing in msg.c, the header-body
 * parsers through charclass.h).
 *
 * SSE2 scanning (every x86-64 has it) unless SIPREG_NO_SIMD is defined; the
 * scalar loops do the same job, and the unit tests are also built against
 * them (tests/meson.build: sip_msg_scalar, sip_hdr_scalar, sip_uri_scalar).
 */
#ifndef SIPREG_SIP_SIMD_H
#define SIPREG_SIP_SIMD_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__SSE2__) && !defined(SIPREG_NO_SIMD)
#include <emmintrin.h>
#define SIP_SSE2 1
#else
#define SIP_SSE2 0
#endif

#if SIP_SSE2
/*
 * sip_k16(c): the vector of 16 bytes c (c < 128), read from a table behind
 * an empty asm, so that the compiler cannot see the constant. Inside the
 * AVX2 functions gcc otherwise builds each _mm_set1_epi8 anew from a
 * general register (three instructions: mov, vmovd, vpbroadcastb) at every
 * use it cannot hoist; a table row is one load, mostly folded into the
 * compare as its memory operand.
 */
#define SIP_K16_R(i) {i, i, i, i, i, i, i, i, i, i, i, i, i, i, i, i}
#define SIP_K16_R8(i)                                                                    \
	SIP_K16_R(i), SIP_K16_R(i + 1), SIP_K16_R(i + 2), SIP_K16_R(i + 3),              \
		SIP_K16_R(i + 4), SIP_K16_R(i + 5), SIP_K16_R(i + 6), SIP_K16_R(i + 7)
static const uint8_t sip_k16_tab[128][16] __attribute__((aligned(16), unused)) = {
	SIP_K16_R8(0),	SIP_K16_R8(8),	SIP_K16_R8(16), SIP_K16_R8(24),
	SIP_K16_R8(32), SIP_K16_R8(40), SIP_K16_R8(48), SIP_K16_R8(56),
	SIP_K16_R8(64), SIP_K16_R8(72), SIP_K16_R8(80), SIP_K16_R8(88),
	SIP_K16_R8(96), SIP_K16_R8(104), SIP_K16_R8(112), SIP_K16_R8(120),
};
#undef SIP_K16_R8
#undef SIP_K16_R

static inline __attribute__((always_inline)) __m128i sip_k16(unsigned char c)
{
	const uint8_t(*t)[16] = sip_k16_tab;

	__asm__("" : "+r"(t));
	return _mm_load_si128((const __m128i *)(const void *)t[c & 0x7f]);
}

/*
 * The n < 16 bytes at p followed by zero bytes, from overlapping 8-, 4- and
 * 1-byte loads inside [p, p + n): never reads at or past p + n (cheaper than
 * a copy into a padded buffer, which costs a memcpy and a memset call).
 */
static inline __m128i sip_load16_tail(const char *p, size_t n)
{
	uint64_t lo = 0, hi = 0;

	if (n > 8) {
		memcpy(&lo, p, 8);
		memcpy(&hi, p + n - 8, 8);
		hi >>= 8 * (16 - n); /* keep bytes p[8 .. n) */
	} else if (n >= 4) {
		uint32_t a, b;
		memcpy(&a, p, 4);
		memcpy(&b, p + n - 4, 4);
		lo = (uint64_t)a | (uint64_t)b << (8 * (n - 4));
	} else if (n > 0) {
		lo = (uint64_t)(unsigned char)p[0] |
		     (uint64_t)(unsigned char)p[n / 2] << (8 * (n / 2)) |
		     (uint64_t)(unsigned char)p[n - 1] << (8 * (n - 1));
	}
	return _mm_set_epi64x((long long)hi, (long long)lo);
}
#endif

#endif /* SIPREG_SIP_SIMD_H */
