/* SPDX-License-Identifier: MIT */
/*
 * sip_assert.h - test support (header only): Criterion checks of a struct
 * sip_str against a C string, shared by test_sip_hdr.c, test_sip_msg.c and
 * test_sip_uri.c.
 */
#ifndef SIPREG_TEST_SIP_ASSERT_H
#define SIPREG_TEST_SIP_ASSERT_H

#include <criterion/criterion.h>
#include <stdbool.h>
#include <string.h>

#include "sipreg/sip.h"

/* s holds exactly lit; lit NULL: s is unset. */
static inline bool str_is(struct sip_str s, const char *lit)
{
	if (lit == NULL)
		return s.p == NULL;
	return s.p != NULL && s.len == strlen(lit) && memcmp(s.p, lit, s.len) == 0;
}

/* lit for a message: "(unset)" for NULL. */
static inline const char *str_or_unset(const char *lit)
{
	return lit ? lit : "(unset)";
}

/* Asserts str_is(s, lit), saying what s was. */
#define cr_assert_str(s, lit)                                                            \
	cr_assert(str_is((s), (lit)), "%s: got '%.*s' (set=%d), want '%s'", #s,          \
	          (int)(s).len, (s).p ? (s).p : "", (s).p != NULL, str_or_unset(lit))

/* The same, naming the case (an RFC section, a vector) first. */
#define cr_assert_str_in(what, s, lit)                                                   \
	cr_assert(str_is((s), (lit)), "%s: %s: got '%.*s' (set=%d), want '%s'", (what),  \
	          #s, (int)(s).len, (s).p ? (s).p : "", (s).p != NULL,                   \
	          str_or_unset(lit))

#endif
