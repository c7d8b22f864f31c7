/* SPDX-License-Identifier: MIT */
/* str.c - the struct sip_str helpers: comparison, trimming, numbers, unquoting. */
#include <errno.h>
#include <string.h>

#include "sipreg/sip.h"

static inline unsigned char ascii_lower(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') ? (unsigned char)(c | 0x20) : c;
}

bool sip_str_eq(struct sip_str a, struct sip_str b)
{
	return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

bool sip_str_caseeq(struct sip_str a, struct sip_str b)
{
	if (a.len != b.len)
		return false;
	for (size_t i = 0; i < a.len; i++)
		if (ascii_lower((unsigned char)a.p[i]) != ascii_lower((unsigned char)b.p[i]))
			return false;
	return true;
}

int sip_str_to_u32(struct sip_str s, uint32_t *out)
{
	uint64_t v = 0;

	if (s.len == 0)
		return -EINVAL;
	for (size_t i = 0; i < s.len; i++) {
		unsigned d = (unsigned char)s.p[i] - '0';
		if (d > 9)
			return -EINVAL;
		v = v * 10 + d;
		if (v > UINT32_MAX)
			return -ERANGE;
	}
	*out = (uint32_t)v;
	return 0;
}

static inline bool is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

struct sip_str sip_str_trim(struct sip_str s)
{
	while (s.len && is_ws(s.p[0])) {
		s.p++;
		s.len--;
	}
	while (s.len && is_ws(s.p[s.len - 1]))
		s.len--;
	return s;
}

const char *sip_str_chr(struct sip_str s, int c)
{
	return s.len ? memchr(s.p, c, s.len) : NULL;
}

ssize_t sip_str_unquote(char *dst, size_t cap, struct sip_str q)
{
	size_t n = 0;

	for (size_t i = 0; i < q.len; i++) {
		char c = q.p[i];
		/* quoted-pair = "\" (%x00-09 / %x0B-0C / %x0E-7F), RFC 3261 §25.1 */
		if (c == '\\' && i + 1 < q.len)
			c = q.p[++i];
		if (n == cap)
			return -ENOSPC;
		dst[n++] = c;
	}
	return (ssize_t)n;
}
