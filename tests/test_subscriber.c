/* SPDX-License-Identifier: MIT */
/* Tests of the in-memory subscriber table. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <urcu/urcu-qsbr.h>

#include "sipreg/subscriber.h"

static const uint8_t key[SIPHASH_KEY_LEN] = "0123456789abcdef";
static struct subscriber_table *t;

static void setup(void)
{
	urcu_qsbr_register_thread();
	cr_assert_eq(subscriber_table_new(&t, key), 0);
}

static void teardown(void)
{
	subscriber_table_free(t);
	urcu_qsbr_unregister_thread();
}

TestSuite(subscriber, .init = setup, .fini = teardown);

static struct store_subscriber sub(const char *u, const char *d, const char *pw)
{
	struct store_subscriber s = {.enabled = true};

	snprintf(s.username, sizeof(s.username), "%s", u);
	snprintf(s.domain, sizeof(s.domain), "%s", d);
	snprintf(s.password, sizeof(s.password), "%s", pw);
	return s;
}

Test(subscriber, put_get_replace_del)
{
	struct store_subscriber s = sub("Alice", "Carrier.Example", "pw1");
	struct subscriber_view v;

	cr_assert_eq(subscriber_table_put(t, &s), 0);
	cr_assert(subscriber_table_get(t, SIP_STR("Alice"), SIP_STR("carrier.example"), &v),
		  "domains compare in lower case");
	cr_assert(sip_str_eq(v.password, SIP_STR("pw1")));
	cr_assert(sip_str_eq(v.domain, SIP_STR("carrier.example")));
	cr_assert_not(subscriber_table_get(t, SIP_STR("alice"), SIP_STR("carrier.example"), &v),
		      "user names are case-sensitive (RFC 3261 19.1.4)");
	s = sub("Alice", "carrier.example", "pw2");
	s.enabled = false;
	s.max_contacts = 4;
	cr_assert_eq(subscriber_table_put(t, &s), 0);
	cr_assert_eq(subscriber_table_count(t), 1, "a put replaces");
	cr_assert(subscriber_table_get(t, SIP_STR("Alice"), SIP_STR("CARRIER.EXAMPLE"), &v));
	cr_assert(sip_str_eq(v.password, SIP_STR("pw2")));
	cr_assert_not(v.enabled);
	cr_assert_eq(v.max_contacts, 4);
	cr_assert_eq(subscriber_table_del(t, SIP_STR("Alice"), SIP_STR("carrier.example")), 0);
	cr_assert_eq(subscriber_table_del(t, SIP_STR("Alice"), SIP_STR("carrier.example")), -ENOENT);
	cr_assert_eq(subscriber_table_count(t), 0);
}

Test(subscriber, bad_and_oversized_names)
{
	struct store_subscriber s = sub("", "d", "pw");
	struct subscriber_view v;
	char big[300];

	cr_assert_eq(subscriber_table_put(t, &s), -EINVAL);
	memset(big, 'a', sizeof(big));
	cr_assert_not(subscriber_table_get(t, sip_str_make(big, sizeof(big)), SIP_STR("d"), &v));
	cr_assert_not(subscriber_table_get(t, SIP_STR("u"), sip_str_make(big, sizeof(big)), &v));
	cr_assert_not(subscriber_table_get(t, SIP_STR(""), SIP_STR("d"), &v));
}

Test(subscriber, load_from_store_100k)
{
	char dir[] = "/tmp/sipreg-sub-XXXXXX", path[64], err[256], cmd[96];
	struct store *st;
	struct store_subscriber *rows = calloc(100000, sizeof(*rows));
	struct subscriber_view v;

	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/s.db", dir);
	cr_assert_eq(store_open(&st, path, err, sizeof(err)), 0, "%s", err);
	for (int i = 0; i < 100000; i++) {
		rows[i] = sub("", "carrier.example", "pw");
		snprintf(rows[i].username, sizeof(rows[i].username), "u%06d", i);
	}
	cr_assert_eq(store_subscriber_import(st, rows, 100000), 0);
	cr_assert_eq(subscriber_table_load(t, st), 100000);
	cr_assert(subscriber_table_get(t, SIP_STR("u099999"), SIP_STR("carrier.example"), &v));
	store_close(st);
	free(rows);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	cr_assert_eq(system(cmd), 0);
}

/* The prepared digest key: made from the password with the domain in lower
 * case as the realm, replaced with the node on every put, gone with a del;
 * without a password, from the stored HA1s. */
Test(subscriber, digest_key_follows_put_replace_del)
{
	struct store_subscriber s = sub("Alice", "Carrier.Example", "pw1");
	struct subscriber_view v;
	struct digest_key want;

	cr_assert_eq(subscriber_table_put(t, &s), 0);
	cr_assert(subscriber_table_get(t, SIP_STR("Alice"), SIP_STR("carrier.example"), &v));
	cr_assert_not_null(v.key);
	digest_key_from_password(&want, SIP_STR("Alice"), SIP_STR("carrier.example"),
				 SIP_STR("pw1"));
	cr_assert_eq(memcmp(v.key, &want, sizeof(want)), 0, "realm = the domain in lower case");

	s = sub("Alice", "carrier.example", "pw2");
	cr_assert_eq(subscriber_table_put(t, &s), 0);
	cr_assert(subscriber_table_get(t, SIP_STR("Alice"), SIP_STR("carrier.example"), &v));
	cr_assert_neq(memcmp(v.key, &want, sizeof(want)), 0, "a new password, a new key");
	digest_key_from_password(&want, SIP_STR("Alice"), SIP_STR("carrier.example"),
				 SIP_STR("pw2"));
	cr_assert_eq(memcmp(v.key, &want, sizeof(want)), 0);

	cr_assert_eq(subscriber_table_del(t, SIP_STR("Alice"), SIP_STR("carrier.example")), 0);
	s = sub("Alice", "carrier.example", "");
	snprintf(s.ha1_md5, sizeof(s.ha1_md5), "%s", "939E7578ED9E3C518A452ACEE763BCE9");
	cr_assert_eq(subscriber_table_put(t, &s), 0);
	cr_assert(subscriber_table_get(t, SIP_STR("Alice"), SIP_STR("carrier.example"), &v));
	cr_assert_eq(v.key->have, DIGEST_KEY_MD5, "HA1s only: the MD5 one");
	static const uint8_t rfc2617[16] = {0x93, 0x9e, 0x75, 0x78, 0xed, 0x9e, 0x3c, 0x51,
					    0x8a, 0x45, 0x2a, 0xce, 0xe7, 0x63, 0xbc, 0xe9};
	cr_assert_eq(memcmp(v.key->md5, rfc2617, 16), 0);
	/* a malformed stored HA1 is left out, the node is still put */
	snprintf(s.ha1_sha256, sizeof(s.ha1_sha256), "%s", "not hex");
	cr_assert_eq(subscriber_table_put(t, &s), 0);
	cr_assert(subscriber_table_get(t, SIP_STR("Alice"), SIP_STR("carrier.example"), &v));
	cr_assert_eq(v.key->have, DIGEST_KEY_MD5);
	s.ha1_md5[0] = '\0';
	cr_assert_eq(subscriber_table_put(t, &s), 0);
	cr_assert(subscriber_table_get(t, SIP_STR("Alice"), SIP_STR("carrier.example"), &v));
	cr_assert_eq(v.key->have, 0, "no usable secret at all");
}
