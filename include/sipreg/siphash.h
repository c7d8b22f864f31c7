/* SPDX-License-Identifier: MIT */
/*
 * siphash.h - SipHash-2-4 (Aumasson and Bernstein, 2012): a keyed 64-bit hash
 * for the shared tables, whose keys (user names, addresses) an attacker
 * chooses. With a secret random key per process, nobody outside can make keys
 * collide on purpose and turn a hash table into a list.
 *
 * Threads: reentrant.
 */
#ifndef SIPREG_SIPHASH_H
#define SIPREG_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

#define SIPHASH_KEY_LEN 16

uint64_t siphash24(const uint8_t key[SIPHASH_KEY_LEN], const void *data, size_t len);

#endif /* SIPREG_SIPHASH_H */
