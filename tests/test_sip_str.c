/* SPDX-License-Identifier: MIT */
/* Tests of the struct sip_str helpers. */
#include <criterion/criterion.h>
#include <errno.h>

#include "sipreg/sip.h"

Test(sip_str, eq_and_caseeq)
{
	cr_assert(sip_str_eq(SIP_STR("Via"), SIP_STR("Via")));
	cr_assert_not(sip_str_eq(SIP_STR("Via"), SIP_STR("VIA")));
	cr_assert(sip_str_caseeq(SIP_STR("Via"), SIP_STR("vIA")));
	cr_assert_not(sip_str_caseeq(SIP_STR("Via"), SIP_STR("Vias")));
	cr_assert(sip_str_eq(SIP_STR(""), SIP_STR_NULL));
	/* only ASCII letters fold: '@' (0x40) is not '`' (0x60) */
	cr_assert_not(sip_str_caseeq(SIP_STR("@"), SIP_STR("`")));
}

Test(sip_str, to_u32_bounds)
{
	uint32_t v = 7;

	cr_assert_eq(sip_str_to_u32(SIP_STR("0"), &v), 0);
	cr_assert_eq(v, 0);
	cr_assert_eq(sip_str_to_u32(SIP_STR("000003600"), &v), 0);
	cr_assert_eq(v, 3600);
	cr_assert_eq(sip_str_to_u32(SIP_STR("4294967295"), &v), 0);
	cr_assert_eq(v, UINT32_MAX);
	v = 7;
	cr_assert_eq(sip_str_to_u32(SIP_STR("4294967296"), &v), -ERANGE);
	cr_assert_eq(sip_str_to_u32(SIP_STR("99999999999999999999999"), &v), -ERANGE);
	cr_assert_eq(sip_str_to_u32(SIP_STR(""), &v), -EINVAL);
	cr_assert_eq(sip_str_to_u32(SIP_STR("-1"), &v), -EINVAL);
	cr_assert_eq(sip_str_to_u32(SIP_STR("12a"), &v), -EINVAL);
	cr_assert_eq(sip_str_to_u32(SIP_STR(" 1"), &v), -EINVAL);
	cr_assert_eq(v, 7, "a failed conversion must not write the result");
}

Test(sip_str, trim_and_chr)
{
	struct sip_str t = sip_str_trim(SIP_STR(" \t value \r\n"));

	cr_assert(sip_str_eq(t, SIP_STR("value")));
	cr_assert_eq(sip_str_trim(SIP_STR("   ")).len, 0);
	cr_assert_eq(sip_str_chr(SIP_STR("a;b"), ';') - "a;b", 1);
	cr_assert_null(sip_str_chr(SIP_STR("ab"), ';'));
	cr_assert_null(sip_str_chr(SIP_STR_NULL, ';'));
}

Test(sip_str, unquote)
{
	char buf[16];
	ssize_t n = sip_str_unquote(buf, sizeof(buf), SIP_STR("J\\\"o\\\\e"));

	cr_assert_eq(n, 5);
	cr_assert_arr_eq(buf, "J\"o\\e", 5);
	cr_assert_eq(sip_str_unquote(buf, 2, SIP_STR("abc")), -ENOSPC);
}
