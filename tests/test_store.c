/* SPDX-License-Identifier: MIT */
/* Tests of the store: the SQLite backend through the store.h interface. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sipreg/store.h"

static char dir[64];
static char path[128];
static struct store *st;

static void setup(void)
{
	char err[256] = "";

	snprintf(dir, sizeof(dir), "/tmp/sipreg-store-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/s.db", dir);
	cr_assert_eq(store_open(&st, path, err, sizeof(err)), 0, "%s", err);
}

static void teardown(void)
{
	char cmd[160];

	store_close(st);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	cr_assert_eq(system(cmd), 0);
}

static struct store_subscriber sub(const char *user, const char *domain, const char *pw)
{
	struct store_subscriber s = {.enabled = true};

	snprintf(s.username, sizeof(s.username), "%s", user);
	snprintf(s.domain, sizeof(s.domain), "%s", domain);
	snprintf(s.password, sizeof(s.password), "%s", pw);
	return s;
}

TestSuite(store, .init = setup, .fini = teardown);

Test(store, subscriber_crud)
{
	struct store_subscriber a = sub("alice", "example.com", "secret"), out;
	uint64_t n = 9;

	cr_assert_eq(store_subscriber_put(st, &a, false), 0);
	cr_assert_eq(store_subscriber_put(st, &a, false), -EEXIST);
	cr_assert_eq(store_subscriber_get(st, "alice", "example.com", &out), 0);
	cr_assert_str_eq(out.password, "secret");
	cr_assert(out.enabled);
	cr_assert_eq(store_subscriber_get(st, "alice", "example.org", &out), -ENOENT);

	snprintf(a.password, sizeof(a.password), "changed");
	a.max_contacts = 3;
	cr_assert_eq(store_subscriber_put(st, &a, true), 0);
	cr_assert_eq(store_subscriber_get(st, "alice", "example.com", &out), 0);
	cr_assert_str_eq(out.password, "changed");
	cr_assert_eq(out.max_contacts, 3);
	cr_assert_eq(store_subscriber_count(st, &n), 0);
	cr_assert_eq(n, 1);

	cr_assert_eq(store_subscriber_del(st, "alice", "example.com"), 0);
	cr_assert_eq(store_subscriber_del(st, "alice", "example.com"), -ENOENT);
	cr_assert_eq(store_subscriber_count(st, &n), 0);
	cr_assert_eq(n, 0);
}

Test(store, subscriber_bad_fields)
{
	struct store_subscriber s = sub("", "example.com", "pw");

	cr_assert_eq(store_subscriber_put(st, &s, false), -EINVAL);
	s = sub("bob smith", "example.com", "pw");
	cr_assert_eq(store_subscriber_put(st, &s, false), -EINVAL);
	s = sub("bob", "", "pw");
	cr_assert_eq(store_subscriber_put(st, &s, false), -EINVAL);
	s = sub("bob", "example.com", "");
	cr_assert_eq(store_subscriber_put(st, &s, false), -EINVAL, "no password, no HA1");
	snprintf(s.ha1_md5, sizeof(s.ha1_md5), "XYZ");
	cr_assert_eq(store_subscriber_put(st, &s, false), -EINVAL, "HA1 not hex");
	snprintf(s.ha1_md5, sizeof(s.ha1_md5), "%s", "939e7578ed9e3c518a452acee763bce9");
	cr_assert_eq(store_subscriber_put(st, &s, false), 0, "HA1 alone is enough");
}

static int collect(void *arg, const struct store_subscriber *s)
{
	char *acc = arg;

	strcat(acc, s->username);
	strcat(acc, "@");
	strcat(acc, s->domain);
	strcat(acc, " ");
	return 0;
}

static int stop_at_first(void *arg, const struct store_subscriber *s)
{
	(void)s;
	(*(int *)arg)++;
	return 42;
}

Test(store, subscriber_each_ordered_and_stoppable)
{
	struct store_subscriber rows[3] = {sub("b", "z.com", "1"), sub("a", "z.com", "2"),
					   sub("c", "a.com", "3")};
	char acc[256] = "";
	int calls = 0;

	cr_assert_eq(store_subscriber_import(st, rows, 3), 0);
	cr_assert_eq(store_subscriber_each(st, collect, acc), 0);
	cr_assert_str_eq(acc, "c@a.com a@z.com b@z.com ");
	cr_assert_eq(store_subscriber_each(st, stop_at_first, &calls), 42);
	cr_assert_eq(calls, 1);
}

static FILE *text(const char *s)
{
	FILE *f = fmemopen((void *)s, strlen(s), "r");

	cr_assert_not_null(f);
	return f;
}

Test(store, csv_import_ok_with_quotes_crlf_and_bom)
{
	FILE *f = text("\xEF\xBB\xBFusername,domain,password\r\n"
		       "alice,example.com,\"pa,ss\"\"word\"\r\n"
		       "\r\n"
		       "bob,example.com,hunter2\n");
	struct store_subscriber out;
	char err[256] = "";

	cr_assert_eq(store_subscriber_import_csv(st, f, err, sizeof(err)), 2, "%s", err);
	fclose(f);
	cr_assert_eq(store_subscriber_get(st, "alice", "example.com", &out), 0);
	cr_assert_str_eq(out.password, "pa,ss\"word");
	cr_assert_eq(store_subscriber_get(st, "bob", "example.com", &out), 0);
}

static void expect_csv_error(const char *csv, const char *msg)
{
	FILE *f = text(csv);
	char err[256] = "";
	uint64_t n = 99;

	cr_assert_lt(store_subscriber_import_csv(st, f, err, sizeof(err)), 0);
	fclose(f);
	cr_assert(strstr(err, msg), "error '%s' should contain '%s'", err, msg);
	cr_assert_eq(store_subscriber_count(st, &n), 0);
	cr_assert_eq(n, 0, "a bad file must import nothing");
}

Test(store, csv_import_bad_rows_named_by_line_and_nothing_imported)
{
	expect_csv_error("user,domain,password\n", "line 1: the header");
	expect_csv_error("", "line 1: the header");
	expect_csv_error("username,domain,password\nalice,example.com,pw\nbob,,pw\n",
			 "line 3: empty domain");
	expect_csv_error("username,domain,password\nalice,example.com\n", "line 2: 2 fields");
	expect_csv_error("username,domain,password\nalice,example.com,\"open\n",
			 "line 2: unterminated");
	expect_csv_error("username,domain,password\na b,example.com,pw\n", "line 2: bad username");
	expect_csv_error("username,domain,password\nalice,ex\"ample,pw\n", "line 2: quote inside");
	expect_csv_error("username,domain,password\nalice,example.com,\"pw\"x\n",
			 "line 2: text after a closing quote");
}

Test(store, csv_import_100k_rows)
{
	size_t cap = 100000 * 40 + 64, n = 0;
	char *buf = malloc(cap);
	uint64_t count = 0;
	char err[256] = "";
	FILE *f;

	n += (size_t)snprintf(buf, cap, "username,domain,password\n");
	for (int i = 0; i < 100000; i++)
		n += (size_t)snprintf(buf + n, cap - n, "u%06d,carrier.example,pw%d\n", i, i);
	f = fmemopen(buf, n, "r");
	cr_assert_eq(store_subscriber_import_csv(st, f, err, sizeof(err)), 100000, "%s", err);
	fclose(f);
	free(buf);
	cr_assert_eq(store_subscriber_count(st, &count), 0);
	cr_assert_eq(count, 100000);
}

static int count_bindings(void *arg, const struct store_binding *b)
{
	struct store_binding *last = arg;

	*last = *b;
	last->reg_id++; /* reused as a call counter by the test */
	return 0;
}

Test(store, bindings_batch_and_reopen)
{
	struct store_change c[3] = {0};
	struct store_binding seen = {0};
	char err[256];

	c[0].kind = STORE_BINDING_PUT;
	snprintf(c[0].b.aor, sizeof(c[0].b.aor), "alice@example.com");
	snprintf(c[0].b.contact, sizeof(c[0].b.contact), "sip:alice@192.0.2.1:5060");
	snprintf(c[0].b.received, sizeof(c[0].b.received), "198.51.100.7:40000");
	snprintf(c[0].b.transport, sizeof(c[0].b.transport), "udp");
	c[0].b.expires_at = 1900000000;
	c[0].b.cseq = 7;
	c[0].b.q = 500;
	c[0].b.nat = true;
	c[1] = c[0];
	snprintf(c[1].b.contact, sizeof(c[1].b.contact), "sip:alice@192.0.2.2:5060");
	c[2] = c[1];
	c[2].kind = STORE_BINDING_DEL;
	cr_assert_eq(store_binding_apply(st, c, 3), 0);

	/* a restart: close, reopen, the binding is there exactly */
	store_close(st);
	cr_assert_eq(store_open(&st, path, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(store_binding_each(st, count_bindings, &seen), 0);
	cr_assert_str_eq(seen.contact, "sip:alice@192.0.2.1:5060");
	cr_assert_str_eq(seen.received, "198.51.100.7:40000");
	cr_assert_eq(seen.expires_at, 1900000000);
	cr_assert_eq(seen.cseq, 7);
	cr_assert_eq(seen.q, 500);
	cr_assert(seen.nat);
	cr_assert_eq(seen.reg_id, 1, "exactly one binding");

	/* every binding of the AOR at once */
	c[0].kind = STORE_BINDING_DEL_AOR;
	cr_assert_eq(store_binding_apply(st, c, 1), 0);
	memset(&seen, 0, sizeof(seen));
	cr_assert_eq(store_binding_each(st, count_bindings, &seen), 0);
	cr_assert_eq(seen.reg_id, 0, "none left");
}

Test(store, kv_roundtrip)
{
	unsigned char secret[32], back[32];
	size_t len = sizeof(back);

	for (size_t i = 0; i < sizeof(secret); i++)
		secret[i] = (unsigned char)(i * 7);
	cr_assert_eq(store_kv_get(st, "nonce_secret", back, &len), -ENOENT);
	cr_assert_eq(store_kv_set(st, "nonce_secret", secret, sizeof(secret)), 0);
	len = sizeof(back);
	cr_assert_eq(store_kv_get(st, "nonce_secret", back, &len), 0);
	cr_assert_eq(len, sizeof(secret));
	cr_assert_arr_eq(back, secret, sizeof(secret));
}

Test(store, open_errors, .init = NULL, .fini = NULL)
{
	struct store *s = NULL;
	char err[256] = "";

	cr_assert_eq(store_open(&s, "/nonexistent-dir/x/y.db", err, sizeof(err)), -EIO);
	cr_assert(strstr(err, "cannot open"), "%s", err);
	cr_assert_null(s);
	cr_assert_eq(store_open(&s, "redis:127.0.0.1", err, sizeof(err)), -EINVAL);
	cr_assert(strstr(err, "unknown store backend"), "%s", err);
}
