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
