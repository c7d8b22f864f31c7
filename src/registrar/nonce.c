/* SPDX-License-Identifier: MIT */
/*
 * nonce.c - HMAC-SHA256 nonces with a lock-free replay table (see nonce.h).
 *
 * The keyed HMAC state is computed once (nettle keeps the inner and outer
 * hash states after set_key); each nonce copies it, so a tag costs two
 * SHA-256 compressions and no key schedule.
 */
#include <errno.h>
#include <nettle/hmac.h>
#include <stdlib.h>
#include <string.h>
#include <urcu/uatomic.h>

#include "sipreg/digest.h"
#include "sipreg/nonce.h"

#define TAG_LEN 12
#define RAW_LEN (4 + 4 + TAG_LEN)

struct nonce_ctx {
	struct hmac_sha256_ctx keyed;
	uint64_t *slots;
	uint32_t mask;
	uint32_t serial; /* next serial, atomically incremented */
	unsigned int expire_s;
};

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int nonce_new(struct nonce_ctx **ret, const uint8_t secret[NONCE_SECRET_LEN],
	      unsigned int slots_log2, unsigned int expire_s)
{
	struct nonce_ctx *n;

	if (slots_log2 < 10 || slots_log2 > 28 || expire_s == 0)
		return -EINVAL;
	n = calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	n->slots = calloc((size_t)1 << slots_log2, sizeof(*n->slots));
	if (!n->slots) {
		free(n);
		return -ENOMEM;
	}
	hmac_sha256_set_key(&n->keyed, NONCE_SECRET_LEN, secret);
	n->mask = (uint32_t)((1u << slots_log2) - 1);
	n->expire_s = expire_s;
	/* Serial 0 with an all-zero slot would look issued: start at 1. */
	n->serial = 1;
	*ret = n;
	return 0;
}

void nonce_free(struct nonce_ctx *n)
{
	if (!n)
		return;
	free(n->slots);
	free(n);
}

void nonce_set_expire(struct nonce_ctx *n, unsigned int expire_s)
{
	uatomic_set(&n->expire_s, expire_s);
}

static void make_tag(const struct nonce_ctx *n, const uint8_t head[8], struct sip_str realm,
		     uint8_t tag[TAG_LEN])
{
	struct hmac_sha256_ctx c = n->keyed;

	hmac_sha256_update(&c, 8, head);
	hmac_sha256_update(&c, realm.len, (const uint8_t *)realm.p);
	hmac_sha256_digest(&c, TAG_LEN, tag);
}

void nonce_issue(struct nonce_ctx *n, struct sip_str realm, uint64_t now, char *out)
{
	uint8_t raw[RAW_LEN];
	uint32_t serial = uatomic_add_return(&n->serial, 1) - 1;

	put32(raw, (uint32_t)now);
	put32(raw + 4, serial);
	make_tag(n, raw, realm, raw + 8);
	/* claim the slot: the previous owner of this index is evicted */
	uatomic_set(&n->slots[serial & n->mask], (uint64_t)get32(raw + 8) << 32);
	digest_hex(out, raw, RAW_LEN);
}

/* The value of a lower-case hex digit; 0x10 for any other byte. */
#define X16 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, \
	0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10
static const uint8_t hexval[256] = {
	X16, X16, X16,
	0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, /* '0'.. */
	X16, X16,
	0x10, 10, 11, 12, 13, 14, 15, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10,
	X16, X16, X16, X16, X16, X16, X16, X16, X16,
};
#undef X16

/* No branch per digit: the bad bits of all digits are or-ed and tested once. */
static int unhex(const char *p, uint8_t *out, size_t n)
{
	unsigned bad = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned hi = hexval[(unsigned char)p[2 * i]], lo = hexval[(unsigned char)p[2 * i + 1]];
		bad |= hi | lo;
		out[i] = (uint8_t)(hi << 4 | (lo & 15));
	}
	return bad & 0x10 ? -1 : 0;
}

/* Constant time: the tag comparison must not leak how many bytes matched. */
static bool tag_eq(const uint8_t *a, const uint8_t *b)
{
	uint8_t d = 0;

	for (size_t i = 0; i < TAG_LEN; i++)
		d |= a[i] ^ b[i];
	return d == 0;
}

int nonce_check(struct nonce_ctx *n, struct sip_str nonce, struct sip_str realm,
		uint64_t now, struct nonce_ref *ref)
{
	uint8_t raw[RAW_LEN], tag[TAG_LEN];
	uint64_t slot;
	uint32_t issued, expire = uatomic_read(&n->expire_s);

	if (nonce.len != NONCE_LEN || unhex(nonce.p, raw, RAW_LEN))
		return -EBADMSG;
	make_tag(n, raw, realm, tag);
	if (!tag_eq(tag, raw + 8))
		return -EBADMSG;
	issued = get32(raw);
	ref->issued = issued;
	ref->serial = get32(raw + 4);
	ref->tag32 = get32(raw + 8);
	/* a nonce from the future (a clock stepped back) is treated as stale */
	if ((uint64_t)issued > now + 2 || now - issued > expire)
		return -ESTALE;
	slot = uatomic_read(&n->slots[ref->serial & n->mask]);
	if ((uint32_t)(slot >> 32) != ref->tag32)
		return -ESTALE;
	return 0;
}

int nonce_commit(struct nonce_ctx *n, const struct nonce_ref *ref, uint32_t nc)
{
	uint64_t *slot = &n->slots[ref->serial & n->mask];
	uint64_t old = uatomic_read(slot);

	for (;;) {
		uint64_t seen;
		if ((uint32_t)(old >> 32) != ref->tag32)
			return -ESTALE;
		if (nc <= (uint32_t)old)
			return -EALREADY;
		seen = uatomic_cmpxchg(slot, old, ((uint64_t)ref->tag32 << 32) | nc);
		if (seen == old)
			return 0;
		old = seen;
	}
}
