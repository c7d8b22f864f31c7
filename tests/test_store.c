/* SPDX-License-Identifier: MIT */
/* Tests of the store: the SQLite backend through the store.h interface. */
#include <criterion/criterion.h>
#include <dlfcn.h>
#include <errno.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sipreg/store.h"
#include "../src/store/journal.h"

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

static struct store_trunk trunk(const char *name, const char *registrar)
{
	struct store_trunk t = {.enabled = true};

	snprintf(t.name, sizeof(t.name), "%s", name);
	snprintf(t.registrar, sizeof(t.registrar), "%s", registrar);
	snprintf(t.transport, sizeof(t.transport), "udp");
	snprintf(t.user, sizeof(t.user), "acct1");
	snprintf(t.password, sizeof(t.password), "s3cret");
	return t;
}

Test(store, trunk_crud)
{
	struct store_trunk t = trunk("carrier-a", "sip.carrier-a.example:5080"), out;

	cr_assert_eq(store_trunk_put(st, &t, false), 0);
	cr_assert_eq(store_trunk_put(st, &t, false), -EEXIST);
	cr_assert_eq(store_trunk_get(st, "carrier-a", &out), 0);
	cr_assert_str_eq(out.registrar, "sip.carrier-a.example:5080");
	cr_assert_str_eq(out.password, "s3cret");
	cr_assert(out.enabled);
	snprintf(t.expire, sizeof(t.expire), "auto");
	t.enabled = false;
	cr_assert_eq(store_trunk_put(st, &t, true), 0);
	cr_assert_eq(store_trunk_get(st, "carrier-a", &out), 0);
	cr_assert_str_eq(out.expire, "auto");
	cr_assert_not(out.enabled);
	cr_assert_eq(store_trunk_del(st, "carrier-a"), 0);
	cr_assert_eq(store_trunk_del(st, "carrier-a"), -ENOENT);
	cr_assert_eq(store_trunk_get(st, "carrier-a", &out), -ENOENT);
	t = trunk("bad name", "x");
	cr_assert_eq(store_trunk_put(st, &t, false), -EINVAL);
	t = trunk("ok", "");
	cr_assert_eq(store_trunk_put(st, &t, false), -EINVAL, "registrar required");
}

#define TRUNK_HEADER "name,registrar,proxy,transport,user,auth_user,password,domain,expire,retry_delay,enabled\n"

static int count_trunks(void *arg, const struct store_trunk *t)
{
	(void)t;
	(*(int *)arg)++;
	return 0;
}

/* A stand-in for the trunk module's validation: expire is auto or 20-7200. */
static int check_expire(void *arg, const struct store_trunk *t, char *msg, size_t len)
{
	(void)arg;
	if (t->expire[0] && strcmp(t->expire, "auto") != 0 &&
	    (atoi(t->expire) < 20 || atoi(t->expire) > 7200)) {
		snprintf(msg, len, "expire: %s is out of range (allowed: auto, 20-7200)", t->expire);
		return -EINVAL;
	}
	return 0;
}

Test(store, trunk_csv_import)
{
	FILE *f = text(TRUNK_HEADER
		       "a,sip.a.example,,udp,1001,,pw,a.example,auto,,1\n"
		       "b,[2001:db8::1]:5070,proxy.b.example:5060,tcp,1002,auth1002,pw,,300,45,0\r\n");
	struct store_trunk out;
	char err[256] = "";
	int n = 0;

	cr_assert_eq(store_trunk_import_csv(st, f, check_expire, NULL, err, sizeof(err)), 2, "%s",
		     err);
	fclose(f);
	cr_assert_eq(store_trunk_each(st, count_trunks, &n), 0);
	cr_assert_eq(n, 2);
	cr_assert_eq(store_trunk_get(st, "b", &out), 0);
	cr_assert_str_eq(out.registrar, "[2001:db8::1]:5070");
	cr_assert_str_eq(out.proxy, "proxy.b.example:5060");
	cr_assert_str_eq(out.auth_user, "auth1002");
	cr_assert_str_eq(out.retry_delay, "45");
	cr_assert_not(out.enabled);
}

static void expect_trunk_csv_error(const char *csv, const char *msg)
{
	FILE *f = text(csv);
	char err[256] = "";
	int n = 0;

	cr_assert_lt(store_trunk_import_csv(st, f, check_expire, NULL, err, sizeof(err)), 0);
	fclose(f);
	cr_assert(strstr(err, msg), "error '%s' should contain '%s'", err, msg);
	store_trunk_each(st, count_trunks, &n);
	cr_assert_eq(n, 0, "a bad file must import nothing");
}

Test(store, trunk_csv_bad_rows_named_by_line)
{
	expect_trunk_csv_error("name,registrar\n", "line 1: the header must be exactly 'name,");
	expect_trunk_csv_error(TRUNK_HEADER "a,r,,udp,u,,p,,auto,,1\nb,r,,udp,u,,p,,auto,,2\n",
			       "line 3: enabled: '2'");
	expect_trunk_csv_error(TRUNK_HEADER "a,r,,udp,u,,p,,10,,1\n",
			       "line 2: expire: 10 is out of range");
	expect_trunk_csv_error(TRUNK_HEADER "a b,r,,udp,u,,p,,,,1\n", "line 2: bad trunk name");
	expect_trunk_csv_error(TRUNK_HEADER "a,,,udp,u,,p,,,,1\n", "line 2: trunk a: registrar");
	expect_trunk_csv_error(TRUNK_HEADER "a,r,,udp,u,,p,,,1\n", "line 2: 10 fields, expected 11");
}

Test(store, trunk_csv_import_100k_rows)
{
	size_t cap = 100000 * 80 + 256, n = 0;
	char *buf = malloc(cap), err[256] = "";
	int count = 0;
	FILE *f;

	n += (size_t)snprintf(buf, cap, TRUNK_HEADER);
	for (int i = 0; i < 100000; i++)
		n += (size_t)snprintf(buf + n, cap - n, "t%06d,10.0.%d.%d:5060,,udp,u%d,,pw,,auto,,1\n",
				      i, i / 256 % 256, i % 256, i);
	f = fmemopen(buf, n, "r");
	cr_assert_eq(store_trunk_import_csv(st, f, check_expire, NULL, err, sizeof(err)), 100000,
		     "%s", err);
	fclose(f);
	free(buf);
	cr_assert_eq(store_trunk_each(st, count_trunks, &count), 0);
	cr_assert_eq(count, 100000);
}

/* ------------------------------------------------------------------------ */
/* The primary mark (schema 2)                                              */

Test(store, trunk_primary_roundtrip)
{
	struct store_trunk t = trunk("main", "sip.main.example"), out;

	cr_assert_not(t.primary);
	cr_assert_eq(store_trunk_put(st, &t, false), 0);
	cr_assert_eq(store_trunk_get(st, "main", &out), 0);
	cr_assert_not(out.primary, "not primary unless marked");
	t.primary = true;
	cr_assert_eq(store_trunk_put(st, &t, true), 0);
	cr_assert_eq(store_trunk_get(st, "main", &out), 0);
	cr_assert(out.primary);
	cr_assert(out.enabled, "the mark is its own column");
	/* it survives a reopen */
	store_close(st);
	st = NULL;
	cr_assert_eq(store_open(&st, path, NULL, 0), 0);
	cr_assert_eq(store_trunk_get(st, "main", &out), 0);
	cr_assert(out.primary);
	t.primary = false;
	cr_assert_eq(store_trunk_import(st, &t, 1), 0);
	cr_assert_eq(store_trunk_get(st, "main", &out), 0);
	cr_assert_not(out.primary);
}

/* A database as the schema-1 sipreg left it: its own CREATE TABLE for the
 * trunks (no is_primary), one trunk, one subscriber, version 1. */
static void make_schema1_db(const char *file, uint32_t version)
{
	static const char old_sql[] =
		"PRAGMA journal_mode=WAL;"
		"CREATE TABLE meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);"
		"CREATE TABLE subscriber ("
		" username TEXT NOT NULL, domain TEXT NOT NULL,"
		" password TEXT NOT NULL DEFAULT '', ha1_md5 TEXT NOT NULL DEFAULT '',"
		" ha1_sha256 TEXT NOT NULL DEFAULT '', enabled INTEGER NOT NULL DEFAULT 1,"
		" max_contacts INTEGER NOT NULL DEFAULT 0,"
		" PRIMARY KEY (username, domain)) WITHOUT ROWID;"
		"CREATE TABLE trunk ("
		" name TEXT PRIMARY KEY, registrar TEXT NOT NULL, proxy TEXT NOT NULL,"
		" transport TEXT NOT NULL, user TEXT NOT NULL, auth_user TEXT NOT NULL,"
		" password TEXT NOT NULL, domain TEXT NOT NULL, realm TEXT NOT NULL,"
		" contact_user TEXT NOT NULL, expire TEXT NOT NULL, retry_delay TEXT NOT NULL,"
		" enabled INTEGER NOT NULL) WITHOUT ROWID;"
		"INSERT INTO trunk VALUES ('old-a', 'sip.a.example:5080', '', 'udp', '1001',"
		" '', 'pw-a', 'a.example', '', '', 'auto', '90', 1);"
		"INSERT INTO trunk VALUES ('old-b', '192.0.2.9', 'proxy.example', 'tcp', '1002',"
		" 'auth2', 'pw-b', '', 'realm-b', 'c2', '', '', 0);"
		"INSERT INTO subscriber (username, domain, password) VALUES"
		" ('alice', 'example.com', 'secret');";
	sqlite3 *db = NULL;
	sqlite3_stmt *ins = NULL;
	char *msg = NULL;

	cr_assert_eq(sqlite3_open(file, &db), SQLITE_OK);
	cr_assert_eq(sqlite3_exec(db, old_sql, NULL, NULL, &msg), SQLITE_OK, "%s", msg);
	cr_assert_eq(sqlite3_prepare_v2(db, "INSERT INTO meta VALUES ('schema_version', ?)", -1,
					&ins, NULL),
		     SQLITE_OK);
	sqlite3_bind_blob(ins, 1, &version, sizeof(version), SQLITE_TRANSIENT);
	cr_assert_eq(sqlite3_step(ins), SQLITE_DONE);
	sqlite3_finalize(ins);
	cr_assert_eq(sqlite3_close(db), SQLITE_OK);
}

static bool has_column(const char *file, const char *table, const char *col)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *q = NULL;
	char sql[160];
	bool found;

	snprintf(sql, sizeof(sql),
		 "SELECT count(*) FROM pragma_table_info('%s') WHERE name = '%s'", table, col);
	cr_assert_eq(sqlite3_open(file, &db), SQLITE_OK);
	cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &q, NULL), SQLITE_OK);
	cr_assert_eq(sqlite3_step(q), SQLITE_ROW);
	found = sqlite3_column_int(q, 0) == 1;
	sqlite3_finalize(q);
	sqlite3_close(db);
	return found;
}

Test(store, schema1_database_is_migrated_and_keeps_its_trunks)
{
	char old[160], err[256] = "";
	struct store *o = NULL, *o2 = NULL;
	struct store_trunk out;
	struct store_subscriber s;
	uint32_t v = 0;
	size_t len = sizeof(v);
	int n = 0;

	snprintf(old, sizeof(old), "%s/old.db", dir);
	make_schema1_db(old, 1);
	cr_assert_not(has_column(old, "trunk", "is_primary"));
	/* two handles at once, as the daemon's threads open them */
	cr_assert_eq(store_open(&o, old, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(store_open(&o2, old, err, sizeof(err)), 0, "%s", err);
	cr_assert(has_column(old, "trunk", "is_primary"));
	cr_assert_eq(store_kv_get(o, "schema_version", &v, &len), 0);
	cr_assert_eq(v, 2);
	cr_assert_eq(store_trunk_each(o, count_trunks, &n), 0);
	cr_assert_eq(n, 2, "both old trunks kept");
	cr_assert_eq(store_trunk_get(o, "old-a", &out), 0);
	cr_assert_str_eq(out.registrar, "sip.a.example:5080");
	cr_assert_str_eq(out.password, "pw-a");
	cr_assert_str_eq(out.expire, "auto");
	cr_assert_str_eq(out.retry_delay, "90");
	cr_assert(out.enabled);
	cr_assert_not(out.primary);
	cr_assert_eq(store_trunk_get(o2, "old-b", &out), 0);
	cr_assert_str_eq(out.proxy, "proxy.example");
	cr_assert_str_eq(out.realm, "realm-b");
	cr_assert_str_eq(out.contact_user, "c2");
	cr_assert_not(out.enabled);
	cr_assert_not(out.primary);
	cr_assert_eq(store_subscriber_get(o, "alice", "example.com", &s), 0);
	/* the new column works on the migrated file, from either handle */
	out.primary = true;
	cr_assert_eq(store_trunk_put(o2, &out, true), 0);
	cr_assert_eq(store_trunk_get(o, "old-b", &out), 0);
	cr_assert(out.primary);
	store_close(o2);
	store_close(o);
	/* and a reopen of the migrated file changes nothing */
	cr_assert_eq(store_open(&o, old, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(store_trunk_get(o, "old-b", &out), 0);
	cr_assert(out.primary);
	cr_assert_eq(store_trunk_get(o, "old-a", &out), 0);
	cr_assert_not(out.primary);
	store_close(o);
}

Test(store, newer_schema_is_refused)
{
	char newer[160], err[256] = "";
	struct store *o = NULL;

	snprintf(newer, sizeof(newer), "%s/newer.db", dir);
	make_schema1_db(newer, 3);
	cr_assert_eq(store_open(&o, newer, err, sizeof(err)), -EIO);
	cr_assert_null(o);
	cr_assert(strstr(err, "schema version 3 is newer"), "%s", err);
}

#define TRUNK_HEADER_P                                                                     \
	"name,registrar,proxy,transport,user,auth_user,password,domain,expire,retry_delay,"  \
	"enabled,primary\n"

Test(store, trunk_csv_optional_primary_column)
{
	FILE *f = text(TRUNK_HEADER_P "p,sip.p.example,,udp,1001,,pw,,,45,1,1\n"
				      "q,sip.q.example,,udp,1002,,pw,,,,1,0\n"
				      "r,sip.r.example,,udp,1003,,pw,,,,1,\n");
	struct store_trunk out;
	char err[256] = "";

	cr_assert_eq(store_trunk_import_csv(st, f, check_expire, NULL, err, sizeof(err)), 3, "%s",
		     err);
	fclose(f);
	cr_assert_eq(store_trunk_get(st, "p", &out), 0);
	cr_assert(out.primary);
	cr_assert_str_eq(out.retry_delay, "45");
	cr_assert_eq(store_trunk_get(st, "q", &out), 0);
	cr_assert_not(out.primary);
	cr_assert_eq(store_trunk_get(st, "r", &out), 0);
	cr_assert_not(out.primary, "an empty cell is not primary");
	/* the issue 5 header, unchanged, still imports (and clears the mark of
	 * a trunk it replaces: the file says what the trunk is) */
	f = text(TRUNK_HEADER "p,sip.p.example,,udp,1001,,pw,,,45,1\n");
	cr_assert_eq(store_trunk_import_csv(st, f, check_expire, NULL, err, sizeof(err)), 1, "%s",
		     err);
	fclose(f);
	cr_assert_eq(store_trunk_get(st, "p", &out), 0);
	cr_assert_not(out.primary);
}

Test(store, trunk_csv_bad_primary_column)
{
	expect_trunk_csv_error(TRUNK_HEADER_P "a,r,,udp,u,,p,,,,1,yes\n",
			       "line 2: primary: 'yes' (allowed: 0, 1, empty)");
	expect_trunk_csv_error(TRUNK_HEADER_P "a,r,,udp,u,,p,,,,1,1\nb,r,,udp,u,,p,,,,1,2\n",
			       "line 3: primary: '2'");
	expect_trunk_csv_error(TRUNK_HEADER_P "a,r,,udp,u,,p,,,,1, 1\n", "line 2: primary: ' 1'");
	/* every row has the header's columns */
	expect_trunk_csv_error(TRUNK_HEADER_P "a,r,,udp,u,,p,,,,1\n",
			       "line 2: 11 fields, expected 12");
	expect_trunk_csv_error(TRUNK_HEADER "a,r,,udp,u,,p,,,,1,1\n",
			       "line 2: 12 fields, expected 11");
	/* only "primary", only last, only once */
	expect_trunk_csv_error("name,registrar,proxy,transport,user,auth_user,password,domain,"
			       "expire,retry_delay,enabled,primry\n",
			       "line 1: the header must be exactly 'name,registrar,proxy,transport,"
			       "user,auth_user,password,domain,expire,retry_delay,enabled[,primary]'");
	expect_trunk_csv_error("name,registrar,proxy,transport,user,auth_user,password,domain,"
			       "expire,retry_delay,enabled,primary,primary\n",
			       "line 1: the header must be exactly");
	expect_trunk_csv_error("name,registrar,proxy,transport,user,auth_user,password,domain,"
			       "expire,retry_delay,primary,enabled\n",
			       "line 1: the header must be exactly");
}

/* ------------------------------------------------------------------------ */
/* The bindings journal (src/store/journal.c): PATH-bindings beside the db   */

static struct store_change change(enum store_change_kind kind, const char *aor,
				  const char *contact, uint32_t cseq)
{
	struct store_change c;

	memset(&c, 0, sizeof(c));
	c.kind = kind;
	snprintf(c.b.aor, sizeof(c.b.aor), "%s", aor);
	snprintf(c.b.contact, sizeof(c.b.contact), "%s", contact);
	snprintf(c.b.received, sizeof(c.b.received), "[2001:db8::7]:5070");
	snprintf(c.b.transport, sizeof(c.b.transport), "tcp");
	snprintf(c.b.path, sizeof(c.b.path), "<sip:edge.example;lr>,<sip:core.example;lr>");
	snprintf(c.b.instance, sizeof(c.b.instance), "<urn:uuid:%s>", contact);
	snprintf(c.b.call_id, sizeof(c.b.call_id), "cid-%u@%s", cseq, aor);
	c.b.reg_id = cseq % 3;
	c.b.cseq = cseq;
	c.b.expires_at = 1900000000 + cseq;
	c.b.q = (uint16_t)(cseq % 1001);
	c.b.nat = cseq % 2;
	return c;
}

struct seen {
	struct store_binding b[64];
	int n;
};

static int collect_b(void *arg, const struct store_binding *b)
{
	struct seen *s = arg;

	cr_assert_lt(s->n, 64);
	s->b[s->n++] = *b;
	return 0;
}

static void assert_same(const struct store_binding *got, const struct store_binding *want);

/* got is the binding change(PUT, aor, contact, cseq) made, field by field. */
static void assert_is(const struct store_binding *got, const char *aor, const char *contact,
		      uint32_t cseq)
{
	struct store_change want = change(STORE_BINDING_PUT, aor, contact, cseq);

	assert_same(got, &want.b);
}

static void assert_same(const struct store_binding *got, const struct store_binding *want)
{
	cr_assert_str_eq(got->aor, want->aor);
	cr_assert_str_eq(got->contact, want->contact);
	cr_assert_str_eq(got->received, want->received);
	cr_assert_str_eq(got->transport, want->transport);
	cr_assert_str_eq(got->path, want->path);
	cr_assert_str_eq(got->instance, want->instance);
	cr_assert_str_eq(got->call_id, want->call_id);
	cr_assert_eq(got->reg_id, want->reg_id);
	cr_assert_eq(got->cseq, want->cseq);
	cr_assert_eq(got->expires_at, want->expires_at);
	cr_assert_eq(got->q, want->q);
	cr_assert_eq(got->nat, want->nat);
}

/* What a fresh handle reads (as at a restart). */
static struct seen *read_back(const char *db)
{
	static struct seen s;
	struct store *o;
	char err[256] = "";

	memset(&s, 0, sizeof(s));
	cr_assert_eq(store_open(&o, db, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(store_binding_each(o, collect_b, &s), 0, "%s", store_errmsg(o));
	store_close(o);
	return &s;
}

static long file_size(const char *p)
{
	FILE *f = fopen(p, "rb");
	long n;

	if (!f)
		return -1;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fclose(f);
	return n;
}

Test(store, journal_every_field_last_write_wins_in_key_order)
{
	struct store_change c[8];
	struct seen *s;

	c[0] = change(STORE_BINDING_PUT, "bob@x.example", "sip:b1@192.0.2.1", 1);
	c[1] = change(STORE_BINDING_PUT, "alice@x.example", "sip:a2@192.0.2.2", 2);
	c[2] = change(STORE_BINDING_PUT, "alice@x.example", "sip:a1@192.0.2.1", 3);
	c[3] = change(STORE_BINDING_PUT, "alice@x.example", "sip:a2@192.0.2.2", 4); /* refresh */
	c[4] = change(STORE_BINDING_PUT, "carol@x.example", "sip:c1@192.0.2.3", 5);
	c[5] = change(STORE_BINDING_DEL_AOR, "carol@x.example", "", 0);
	c[6] = change(STORE_BINDING_PUT, "dave@x.example", "sip:d1@192.0.2.4", 6);
	c[7] = change(STORE_BINDING_DEL, "dave@x.example", "sip:d1@192.0.2.4", 0);
	cr_assert_eq(store_binding_apply(st, c, 8), 0, "%s", store_errmsg(st));
	/* the writer's own handle reads what it wrote */
	{
		struct seen mine = {0};
		cr_assert_eq(store_binding_each(st, collect_b, &mine), 0);
		cr_assert_eq(mine.n, 3);
	}
	/* a separate batch: carol comes back after the delete of her AOR */
	c[0] = change(STORE_BINDING_PUT, "carol@x.example", "sip:c2@192.0.2.3", 7);
	cr_assert_eq(store_binding_apply(st, c, 1), 0);
	store_close(st);
	st = NULL;
	s = read_back(path);
	cr_assert_eq(s->n, 4, "%d bindings", s->n);
	/* (aor, contact) byte order, every field exact */
	assert_is(&s->b[0], "alice@x.example", "sip:a1@192.0.2.1", 3);
	assert_is(&s->b[1], "alice@x.example", "sip:a2@192.0.2.2", 4);
	assert_is(&s->b[2], "bob@x.example", "sip:b1@192.0.2.1", 1);
	assert_is(&s->b[3], "carol@x.example", "sip:c2@192.0.2.3", 7);
	cr_assert_eq(store_open(&st, path, NULL, 0), 0);
}

Test(store, journal_bad_changes_append_nothing)
{
	struct store_change c[2];
	char jpath[160];
	long before;

	snprintf(jpath, sizeof(jpath), "%s-bindings", path);
	c[0] = change(STORE_BINDING_PUT, "alice@x.example", "sip:a@192.0.2.1", 1);
	cr_assert_eq(store_binding_apply(st, c, 1), 0);
	before = file_size(jpath);
	cr_assert_gt(before, 16);
	/* a Contact that fills its field with no NUL, in a batch with a good one */
	c[0] = change(STORE_BINDING_PUT, "bob@x.example", "sip:b@192.0.2.1", 2);
	c[1] = c[0];
	memset(c[1].b.contact, 'c', sizeof(c[1].b.contact));
	cr_assert_eq(store_binding_apply(st, c, 2), -EINVAL);
	/* no AOR */
	c[0].b.aor[0] = '\0';
	cr_assert_eq(store_binding_apply(st, c, 1), -EINVAL);
	/* an unknown kind */
	c[0] = change(STORE_BINDING_PUT, "bob@x.example", "sip:b@192.0.2.1", 2);
	c[0].kind = (enum store_change_kind)7;
	cr_assert_eq(store_binding_apply(st, c, 1), -EINVAL);
	cr_assert_eq(file_size(jpath), before, "a refused batch was written in part");
	cr_assert_eq(read_back(path)->n, 1);
}

/* A process killed with -9 right after its writes loses none of them. */
Test(store, journal_kill9_loses_nothing_written)
{
	pid_t pid = fork();
	int status;
	struct seen *s;

	cr_assert_geq(pid, 0);
	if (pid == 0) {
		struct store *o;
		struct store_change c[20];
		if (store_open(&o, path, NULL, 0) != 0)
			_exit(2);
		for (int i = 0; i < 20; i++) {
			char aor[32];
			snprintf(aor, sizeof(aor), "u%02d@x.example", i);
			c[i] = change(STORE_BINDING_PUT, aor, "sip:u@192.0.2.9", (uint32_t)i + 1);
		}
		/* the parent's handle has not written: this one may */
		if (store_binding_apply(o, c, 20) != 0)
			_exit(3);
		kill(getpid(), SIGKILL);
		_exit(4);
	}
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "child status %d", status);
	s = read_back(path);
	cr_assert_eq(s->n, 20, "%d of 20 bindings after kill -9", s->n);
	cr_assert_eq(s->b[19].cseq, 20);
}

/* A write cut in the middle (a kill during write(), a crash) leaves a torn
 * last record: readers stop before it, the next writer cuts it off and
 * appends after the good records. */
Test(store, journal_torn_tail_dropped_and_cut)
{
	struct store_change c[2];
	char jpath[160];
	long full, cut;
	FILE *f;

	snprintf(jpath, sizeof(jpath), "%s-bindings", path);
	c[0] = change(STORE_BINDING_PUT, "alice@x.example", "sip:a@192.0.2.1", 1);
	cr_assert_eq(store_binding_apply(st, c, 1), 0);
	cut = file_size(jpath);
	c[0] = change(STORE_BINDING_PUT, "bob@x.example", "sip:b@192.0.2.1", 2);
	cr_assert_eq(store_binding_apply(st, c, 1), 0);
	full = file_size(jpath);
	store_close(st);
	st = NULL;
	cr_assert_eq(truncate(jpath, cut + (full - cut) / 2), 0);
	cr_assert_eq(read_back(path)->n, 1, "the torn record was read");
	/* garbage after the torn record, a flipped byte in a whole one */
	f = fopen(jpath, "ab");
	cr_assert_not_null(f);
	fputs("garbage after the torn record", f);
	fclose(f);
	cr_assert_eq(read_back(path)->n, 1);

	cr_assert_eq(store_open(&st, path, NULL, 0), 0);
	c[0] = change(STORE_BINDING_PUT, "carol@x.example", "sip:c@192.0.2.1", 3);
	cr_assert_eq(store_binding_apply(st, c, 1), 0);
	{
		struct seen *s = read_back(path);
		cr_assert_eq(s->n, 2, "%d", s->n);
		cr_assert_str_eq(s->b[0].aor, "alice@x.example");
		cr_assert_str_eq(s->b[1].aor, "carol@x.example");
	}
	/* a record whose bytes changed fails its check: it and what follows
	 * are not read */
	store_close(st);
	st = NULL;
	f = fopen(jpath, "r+b");
	cr_assert_not_null(f);
	fseek(f, 16 + 8 + 20 + 2 + 3, SEEK_SET); /* inside alice's record's AOR */
	fputc('X', f);
	fclose(f);
	cr_assert_eq(read_back(path)->n, 0);
	cr_assert_eq(store_open(&st, path, NULL, 0), 0);
}

Test(store, journal_not_a_journal_is_refused_not_overwritten)
{
	struct store_change c = change(STORE_BINDING_PUT, "alice@x.example", "sip:a@x", 1);
	struct seen s = {0};
	char jpath[160];
	FILE *f;

	snprintf(jpath, sizeof(jpath), "%s-bindings", path);
	f = fopen(jpath, "wb");
	cr_assert_not_null(f);
	fputs("this is someone else's file, keep it", f);
	fclose(f);
	cr_assert_eq(store_binding_each(st, collect_b, &s), -EINVAL);
	cr_assert(strstr(store_errmsg(st), "not a sipreg bindings journal"), "%s",
		  store_errmsg(st));
	cr_assert_eq(store_binding_apply(st, &c, 1), -EINVAL);
	cr_assert_eq(file_size(jpath), (long)strlen("this is someone else's file, keep it"));
}

/* One writer: a second handle (another sipregd on the same database) is
 * refused while the first holds the journal, and may write after it. */
Test(store, journal_one_writer)
{
	struct store_change c = change(STORE_BINDING_PUT, "alice@x.example", "sip:a@x", 1);
	struct store *o;

	cr_assert_eq(store_binding_apply(st, &c, 1), 0);
	cr_assert_eq(store_open(&o, path, NULL, 0), 0);
	cr_assert_eq(store_binding_apply(o, &c, 1), -EBUSY);
	cr_assert(strstr(store_errmsg(o), "another process"), "%s", store_errmsg(o));
	store_close(st);
	st = NULL;
	c.b.cseq = 2;
	cr_assert_eq(store_binding_apply(o, &c, 1), 0, "%s", store_errmsg(o));
	store_close(o);
	cr_assert_eq(read_back(path)->b[0].cseq, 2);
	cr_assert_eq(store_open(&st, path, NULL, 0), 0);
}

/* Refreshes of the same bindings grow the file until it is compacted: its
 * size stays bounded and the last values win. */
Test(store, journal_compacts_and_keeps_the_last_values)
{
	enum { AORS = 50, ROUNDS = 3000 };
	static struct store_change c[AORS];
	char jpath[160];
	long max = 0;
	struct seen *s;

	snprintf(jpath, sizeof(jpath), "%s-bindings", path);
	for (uint32_t round = 1; round <= ROUNDS; round++) {
		for (int i = 0; i < AORS; i++) {
			char aor[32];
			snprintf(aor, sizeof(aor), "u%02d@x.example", i);
			c[i] = change(STORE_BINDING_PUT, aor, "sip:u@192.0.2.9", round);
		}
		cr_assert_eq(store_binding_apply(st, c, AORS), 0);
		if (file_size(jpath) > max)
			max = file_size(jpath);
	}
	/* 150,000 records of ~250 bytes were appended; the file never held
	 * more than the 32 MiB threshold and one batch */
	cr_assert_lt(max, (32L << 20) + 64 * 1024, "max size %ld", max);
	cr_assert_lt(file_size(jpath), (32L << 20), "not compacted: %ld", file_size(jpath));
	s = read_back(path);
	cr_assert_eq(s->n, AORS);
	for (int i = 0; i < AORS; i++)
		cr_assert_eq(s->b[i].cseq, ROUNDS);
}

/* A database from before the journal keeps its bindings in the table: read
 * from there, moved into the journal by the first write, the table then
 * emptied. */
Test(store, journal_takes_over_an_older_binding_table)
{
	struct store_change c = change(STORE_BINDING_PUT, "old@x.example", "sip:o@192.0.2.1", 5);
	struct seen *s;
	sqlite3 *db;
	sqlite3_stmt *q;
	int rows = -1;

	/* as an older sipreg wrote it: a row in the binding table */
	cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
	cr_assert_eq(sqlite3_exec(db,
				  "INSERT INTO binding VALUES ('old@x.example', 'sip:o@192.0.2.1',"
				  " '[2001:db8::7]:5070', 'tcp', '<sip:edge.example;lr>,"
				  "<sip:core.example;lr>', '<urn:uuid:sip:o@192.0.2.1>', 2,"
				  " 'cid-5@old@x.example', 5, 1900000005, 5, 1)",
				  NULL, NULL, NULL),
		     SQLITE_OK, "%s", sqlite3_errmsg(db));
	sqlite3_close(db);
	s = read_back(path);
	cr_assert_eq(s->n, 1);
	assert_same(&s->b[0], &c.b);

	c = change(STORE_BINDING_PUT, "new@x.example", "sip:n@192.0.2.1", 6);
	cr_assert_eq(store_binding_apply(st, &c, 1), 0, "%s", store_errmsg(st));
	s = read_back(path);
	cr_assert_eq(s->n, 2);
	assert_is(&s->b[0], "new@x.example", "sip:n@192.0.2.1", 6);
	assert_is(&s->b[1], "old@x.example", "sip:o@192.0.2.1", 5);
	cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
	cr_assert_eq(sqlite3_prepare_v2(db, "SELECT count(*) FROM binding", -1, &q, NULL),
		     SQLITE_OK);
	cr_assert_eq(sqlite3_step(q), SQLITE_ROW);
	rows = sqlite3_column_int(q, 0);
	sqlite3_finalize(q);
	sqlite3_close(db);
	cr_assert_eq(rows, 0, "the table still has %d rows", rows);
}

/* An in-memory database has no file to put a journal beside: its bindings
 * stay in its table. */
Test(store, memory_database_keeps_bindings_in_its_table, .init = NULL, .fini = NULL)
{
	struct store_change c[2];
	struct seen s = {0};
	struct store *m;

	cr_assert_eq(store_open(&m, "sqlite::memory:", NULL, 0), 0);
	c[0] = change(STORE_BINDING_PUT, "alice@x.example", "sip:a@192.0.2.1", 1);
	c[1] = change(STORE_BINDING_PUT, "bob@x.example", "sip:b@192.0.2.1", 2);
	cr_assert_eq(store_binding_apply(m, c, 2), 0);
	cr_assert_eq(store_binding_each(m, collect_b, &s), 0);
	cr_assert_eq(s.n, 2);
	assert_same(&s.b[1], &c[1].b);
	store_close(m);
	cr_assert_eq(access("./:memory:-bindings", F_OK), -1);
}

/* Random puts, deletes and AOR deletes in batches, the writer reopened
 * (so compacted) now and then: what a restart reads is what a model of the
 * changes holds, field for field. */
Test(store, journal_matches_a_model_of_random_changes)
{
	enum { AORS = 15, CONTACTS = 4, BATCHES = 600 };
	static uint32_t model[AORS][CONTACTS]; /* cseq of the live binding, 0: none */
	static struct store_change c[20];
	unsigned seed = 12345;
	struct seen *s;
	int k = 0;

	memset(model, 0, sizeof(model));
	for (int batch = 0; batch < BATCHES; batch++) {
		int n = 1 + (int)(rand_r(&seed) % 20);
		for (int i = 0; i < n; i++) {
			int a = (int)(rand_r(&seed) % AORS), ct = (int)(rand_r(&seed) % CONTACTS);
			int op = (int)(rand_r(&seed) % 10);
			char aor[32], contact[48];
			uint32_t cseq = (uint32_t)(batch * 20 + i + 1);
			snprintf(aor, sizeof(aor), "user%02d@x.example", a);
			snprintf(contact, sizeof(contact), "sip:c%d@192.0.2.%d:5060", ct, a);
			if (op < 7) {
				c[i] = change(STORE_BINDING_PUT, aor, contact, cseq);
				model[a][ct] = cseq;
			} else if (op < 9) {
				c[i] = change(STORE_BINDING_DEL, aor, contact, 0);
				model[a][ct] = 0;
			} else {
				c[i] = change(STORE_BINDING_DEL_AOR, aor, "", 0);
				memset(model[a], 0, sizeof(model[a]));
			}
		}
		cr_assert_eq(store_binding_apply(st, c, (size_t)n), 0, "%s", store_errmsg(st));
		if (batch % 97 == 96) { /* a restart: the next write compacts */
			store_close(st);
			st = NULL;
			cr_assert_eq(store_open(&st, path, NULL, 0), 0);
		}
	}
	s = read_back(path);
	for (int a = 0; a < AORS; a++) {
		for (int ct = 0; ct < CONTACTS; ct++) {
			char aor[32], contact[48];
			if (!model[a][ct])
				continue;
			snprintf(aor, sizeof(aor), "user%02d@x.example", a);
			snprintf(contact, sizeof(contact), "sip:c%d@192.0.2.%d:5060", ct, a);
			cr_assert_lt(k, s->n, "fewer bindings read than the model has");
			/* both in (aor, contact) order: the names sort as the loops */
			assert_is(&s->b[k], aor, contact, model[a][ct]);
			k++;
		}
	}
	cr_assert_eq(k, s->n, "%d bindings read, the model has %d", s->n, k);
}

/* PATH.tmp locked by someone else (a writer compacting, another process
 * creating the journal) is theirs: a first open must neither truncate it
 * nor unlink it, and says another process writes the journal. */
Test(store, journal_first_open_leaves_a_locked_tmp_alone)
{
	struct store_change c = change(STORE_BINDING_PUT, "alice@x.example", "sip:a@x", 1);
	const char *mine = "another writer's compaction, half written";
	char tpath[160], got[64] = "";
	int fd, r;

	snprintf(tpath, sizeof(tpath), "%s-bindings.tmp", path);
	fd = open(tpath, O_RDWR | O_CREAT | O_TRUNC, 0600);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, mine, strlen(mine)), (ssize_t)strlen(mine));
	/* flock conflicts between two open files of one process too */
	cr_assert_eq(flock(fd, LOCK_EX | LOCK_NB), 0);
	r = store_binding_apply(st, &c, 1);
	cr_assert_eq(r, -EBUSY, "%d: %s", r, store_errmsg(st));
	cr_assert(strstr(store_errmsg(st), "another process"), "%s", store_errmsg(st));
	cr_assert_eq(pread(fd, got, sizeof(got) - 1, 0), (ssize_t)strlen(mine));
	cr_assert_str_eq(got, mine, "the other process's PATH.tmp was overwritten");
	cr_assert_eq(access(tpath, F_OK), 0, "the other process's PATH.tmp was unlinked");
	close(fd);
	/* once it is gone, the journal is created */
	cr_assert_eq(unlink(tpath), 0);
	cr_assert_eq(store_binding_apply(st, &c, 1), 0, "%s", store_errmsg(st));
}

/* Two processes open a missing journal at once: the one that finds it
 * created in the meantime (here: while its seed runs) must not rename its
 * own file over it (the other would go on appending to an unlinked file
 * and lose every later change at the next start). */
static const char *made_meanwhile;

static int seed_while_another_creates(void *arg, store_binding_cb cb, void *cbarg)
{
	struct store_change c = change(STORE_BINDING_PUT, "seed@x.example", "sip:s@x", 9);
	char jpath[160];

	(void)arg;
	snprintf(jpath, sizeof(jpath), "%s-bindings", path);
	cr_assert_eq(rename(made_meanwhile, jpath), 0);
	return cb(cbarg, &c.b);
}

Test(store, journal_first_open_does_not_replace_one_made_meanwhile)
{
	struct store_change c = change(STORE_BINDING_PUT, "other@x.example", "sip:o@x", 7);
	struct bjournal *j;
	char other[160], jpath[160], err[256] = "";
	struct seen s = {0};
	int r;

	snprintf(other, sizeof(other), "%s/other-bindings", dir);
	snprintf(jpath, sizeof(jpath), "%s-bindings", path);
	/* the other process's journal, with a binding it appended */
	cr_assert_eq(bjournal_open(&j, other, NULL, NULL, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(bjournal_append(j, &c, 1, err, sizeof(err)), 0, "%s", err);
	bjournal_close(j);
	made_meanwhile = other;
	r = bjournal_open(&j, jpath, seed_while_another_creates, NULL, err, sizeof(err));
	cr_assert(r == 0 || r == -EBUSY, "%d: %s", r, err);
	if (r == 0)
		bjournal_close(j);
	cr_assert_eq(bjournal_each(jpath, collect_b, &s, err, sizeof(err)), 0, "%s", err);
	cr_assert_geq(s.n, 1);
	assert_is(&s.b[0], "other@x.example", "sip:o@x", 7);
}

/* A reader (the admin's listing) does not lock the journal: the writer may
 * cut the file back under it (a batch that failed half written, disk
 * full). The reader must not die of it (SIGBUS on a mapped page past the
 * new end): here the file is cut while the reader is calling back. */
static const char *cut_path;

static int cut_while_reading(void *arg, const struct store_binding *b)
{
	int *n = arg;

	(void)b;
	if ((*n)++ == 0)
		cr_assert_eq(truncate(cut_path, 16), 0);
	return 0;
}

Test(store, journal_reader_survives_the_file_being_cut)
{
	static struct store_change c[300];
	char jpath[160], err[256] = "";
	int n = 0;

	snprintf(jpath, sizeof(jpath), "%s-bindings", path);
	for (int i = 0; i < 300; i++) {
		char aor[32];
		snprintf(aor, sizeof(aor), "u%03d@x.example", i);
		c[i] = change(STORE_BINDING_PUT, aor, "sip:u@192.0.2.9", (uint32_t)i + 1);
	}
	cr_assert_eq(store_binding_apply(st, c, 300), 0, "%s", store_errmsg(st));
	cr_assert_gt(file_size(jpath), 8 * 4096);
	cut_path = jpath;
	/* what was read whole is delivered whole */
	cr_assert_eq(bjournal_each(jpath, cut_while_reading, &n, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(n, 300);
}

/* A batch the file system takes only in part (here the file size limit:
 * write() stops short, then fails with EFBIG) is cut back: the next batch
 * follows the last whole one, not the torn half. */
Test(store, journal_failed_write_is_cut_back)
{
	pid_t pid = fork();
	int status;
	struct seen *s;

	cr_assert_geq(pid, 0);
	if (pid == 0) {
		static struct store_change c[200];
		char jpath[160];
		struct rlimit rl;
		struct store *o;
		long before;
		if (store_open(&o, path, NULL, 0) != 0)
			_exit(2);
		c[0] = change(STORE_BINDING_PUT, "first@x.example", "sip:f@192.0.2.9", 1);
		if (store_binding_apply(o, c, 1) != 0)
			_exit(3);
		snprintf(jpath, sizeof(jpath), "%s-bindings", path);
		before = file_size(jpath);
		for (int i = 0; i < 200; i++) {
			char aor[32];
			snprintf(aor, sizeof(aor), "u%03d@x.example", i);
			c[i] = change(STORE_BINDING_PUT, aor, "sip:u@192.0.2.9", (uint32_t)i + 2);
		}
		signal(SIGXFSZ, SIG_IGN);
		rl.rlim_cur = rl.rlim_max = (rlim_t)before + 5000;
		if (setrlimit(RLIMIT_FSIZE, &rl) != 0)
			_exit(4);
		if (store_binding_apply(o, c, 200) != -EFBIG)
			_exit(5);
		if (file_size(jpath) != before)
			_exit(6); /* the torn half is still there */
		c[0] = change(STORE_BINDING_PUT, "last@x.example", "sip:l@192.0.2.9", 300);
		if (store_binding_apply(o, c, 1) != 0)
			_exit(7);
		_exit(0); /* as a kill: no close */
	}
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);
	s = read_back(path);
	cr_assert_eq(s->n, 2, "%d bindings", s->n);
	cr_assert_str_eq(s->b[0].aor, "first@x.example");
	cr_assert_str_eq(s->b[1].aor, "last@x.example");
}

/* A kill -9 in the middle of a compaction leaves PATH.tmp written but not
 * renamed: PATH still holds every change, and the leftover (older) copy
 * neither resurrects deleted bindings nor hides newer ones. */
Test(store, journal_compaction_killed_before_rename)
{
	struct store_change c[2];
	char jpath[160], tpath[160], cmd[400];
	struct seen *s;

	snprintf(jpath, sizeof(jpath), "%s-bindings", path);
	snprintf(tpath, sizeof(tpath), "%s-bindings.tmp", path);
	c[0] = change(STORE_BINDING_PUT, "alice@x.example", "sip:a@192.0.2.1", 1);
	cr_assert_eq(store_binding_apply(st, c, 1), 0);
	/* the compacted copy a killed compaction left: alice only */
	snprintf(cmd, sizeof(cmd), "cp %s %s", jpath, tpath);
	cr_assert_eq(system(cmd), 0);
	c[0] = change(STORE_BINDING_DEL_AOR, "alice@x.example", "", 0);
	c[1] = change(STORE_BINDING_PUT, "bob@x.example", "sip:b@192.0.2.1", 2);
	cr_assert_eq(store_binding_apply(st, c, 2), 0);
	store_close(st);
	st = NULL;
	s = read_back(path);
	cr_assert_eq(s->n, 1);
	cr_assert_str_eq(s->b[0].aor, "bob@x.example");
	/* the next writer compacts over the leftover */
	cr_assert_eq(store_open(&st, path, NULL, 0), 0);
	c[0] = change(STORE_BINDING_PUT, "carol@x.example", "sip:c@192.0.2.1", 3);
	cr_assert_eq(store_binding_apply(st, c, 1), 0, "%s", store_errmsg(st));
	cr_assert_eq(access(tpath, F_OK), -1, "PATH.tmp left behind");
	s = read_back(path);
	cr_assert_eq(s->n, 2, "%d", s->n);
	cr_assert_str_eq(s->b[0].aor, "bob@x.example");
	cr_assert_str_eq(s->b[1].aor, "carol@x.example");
}

static int count_any(void *arg, const struct store_binding *b)
{
	(void)b;
	(*(int *)arg)++;
	return 0;
}

/* Damaged files (bytes flipped, length fields set to extremes, cut at any
 * length) are read and opened without a crash or a read out of bounds (run
 * under ASan), and never yield more bindings than were written. */
Test(store, journal_damaged_files_never_crash)
{
	static struct store_change c[6];
	static uint8_t orig[8192], buf[8192];
	char jpath[160], err[256];
	unsigned seed = 777;
	size_t size;
	FILE *f;

	snprintf(jpath, sizeof(jpath), "%s-bindings", path);
	for (int i = 0; i < 6; i++) {
		char aor[32];
		snprintf(aor, sizeof(aor), "u%d@x.example", i % 3);
		c[i] = change(i == 4 ? STORE_BINDING_DEL_AOR : STORE_BINDING_PUT, aor,
			      i == 4 ? "" : "sip:u@192.0.2.9", (uint32_t)i + 1);
	}
	cr_assert_eq(store_binding_apply(st, c, 6), 0);
	store_close(st);
	st = NULL;
	f = fopen(jpath, "rb");
	cr_assert_not_null(f);
	size = fread(orig, 1, sizeof(orig), f);
	fclose(f);
	cr_assert_gt(size, 16);
	for (int it = 0; it < 400; it++) {
		size_t n = size;
		struct bjournal *j;
		int got = 0, r;
		memcpy(buf, orig, size);
		switch (it % 4) {
		case 0: /* flipped bytes */
			for (int k = 0; k < 1 + it % 5; k++)
				buf[16 + rand_r(&seed) % (size - 16)] ^= (uint8_t)(1 + rand_r(&seed) % 255);
			break;
		case 1: /* a u32 or u16 set to an extreme */
		{
			size_t at = 16 + rand_r(&seed) % (size - 20);
			memset(buf + at, rand_r(&seed) % 2 ? 0xff : 0x00, it % 8 < 4 ? 2 : 4);
			break;
		}
		case 2: /* cut anywhere */
			n = rand_r(&seed) % size;
			break;
		default: /* garbage appended */
			for (size_t k = size; k < size + 300; k++)
				buf[k] = (uint8_t)rand_r(&seed);
			n = size + 300;
		}
		f = fopen(jpath, "wb");
		cr_assert_not_null(f);
		cr_assert_eq(fwrite(buf, 1, n, f), n);
		fclose(f);
		r = bjournal_each(jpath, count_any, &got, err, sizeof(err));
		cr_assert(r == 0 || r == -EINVAL, "%d: %s", r, err);
		cr_assert_leq(got, 5);
		r = bjournal_open(&j, jpath, NULL, NULL, err, sizeof(err));
		cr_assert(r == 0 || r == -EINVAL, "%d: %s", r, err);
		if (r == 0) {
			cr_assert_eq(bjournal_append(j, c, 1, err, sizeof(err)), 0, "%s", err);
			bjournal_close(j);
		}
	}
	unlink(jpath);
	cr_assert_eq(store_open(&st, path, NULL, 0), 0);
}

/* Damage in the middle (a flipped byte: every record after it is dropped,
 * far more than a kill's torn last record) is not destroyed by the
 * writer's compaction: the file is kept as PATH.damaged. A torn tail alone
 * keeps nothing. */
Test(store, journal_damage_in_the_middle_is_kept_aside)
{
	static struct store_change c[300];
	char jpath[160], dpath[170];
	long full;
	FILE *f;

	snprintf(jpath, sizeof(jpath), "%s-bindings", path);
	snprintf(dpath, sizeof(dpath), "%s-bindings.damaged", path);
	for (int i = 0; i < 300; i++) {
		char aor[32];
		snprintf(aor, sizeof(aor), "u%03d@x.example", i);
		c[i] = change(STORE_BINDING_PUT, aor, "sip:u@192.0.2.9", (uint32_t)i + 1);
	}
	cr_assert_eq(store_binding_apply(st, c, 300), 0);
	store_close(st);
	st = NULL;
	full = file_size(jpath);
	/* a torn tail: nothing kept aside */
	cr_assert_eq(truncate(jpath, full - 10), 0);
	cr_assert_eq(store_open(&st, path, NULL, 0), 0);
	cr_assert_eq(store_binding_apply(st, c, 1), 0, "%s", store_errmsg(st));
	cr_assert_eq(access(dpath, F_OK), -1, "a torn tail was kept aside");
	store_close(st);
	st = NULL;
	full = file_size(jpath);
	f = fopen(jpath, "r+b");
	cr_assert_not_null(f);
	fseek(f, 16 + 8 + 20 + 2 + 3, SEEK_SET); /* inside the first record's AOR */
	fputc('X', f);
	fclose(f);
	cr_assert_eq(store_open(&st, path, NULL, 0), 0);
	cr_assert_eq(store_binding_apply(st, c, 1), 0, "%s", store_errmsg(st));
	cr_assert_eq(file_size(dpath), full, "the damaged file was not kept");
}

/* ------------------------------------------------------------------------ */
/* The table an older sipreg wrote to, against the journal                   */

/* Rows in the binding table, as a sipreg from before the journal writes
 * them (sql: INSERT ... VALUES ...;). */
static void table_exec(const char *sql)
{
	sqlite3 *db;

	cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK, "%s: %s", sql,
		     sqlite3_errmsg(db));
	sqlite3_close(db);
}

/* A binding as a row of the old table (change()'s fields, other expiry). */
static void table_put(const char *aor, const char *contact, uint32_t cseq, int64_t expires_at)
{
	struct store_change c = change(STORE_BINDING_PUT, aor, contact, cseq);
	char sql[sizeof(c.b) + 256];

	snprintf(sql, sizeof(sql),
		 "INSERT OR REPLACE INTO binding VALUES ('%s', '%s', '%s', '%s', '%s', '%s', %u,"
		 " '%s', %u, %lld, %u, %d)",
		 c.b.aor, c.b.contact, c.b.received, c.b.transport, c.b.path, c.b.instance,
		 c.b.reg_id, c.b.call_id, c.b.cseq, (long long)expires_at, c.b.q, c.b.nat);
	table_exec(sql);
}

static int table_rows(void)
{
	sqlite3 *db;
	sqlite3_stmt *q;
	int rows;

	cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
	cr_assert_eq(sqlite3_prepare_v2(db, "SELECT count(*) FROM binding", -1, &q, NULL),
		     SQLITE_OK);
	cr_assert_eq(sqlite3_step(q), SQLITE_ROW);
	rows = sqlite3_column_int(q, 0);
	sqlite3_finalize(q);
	sqlite3_close(db);
	return rows;
}

/* got is change(PUT, aor, contact, cseq) with expires_at instead. */
static void assert_row(const struct store_binding *got, const char *aor, const char *contact,
		       uint32_t cseq, int64_t expires_at)
{
	struct store_change want = change(STORE_BINDING_PUT, aor, contact, cseq);

	want.b.expires_at = expires_at;
	assert_same(got, &want.b);
}

/*
 * Downgrade, then upgrade: a sipreg from before the journal, run after the
 * journal was made, registers into the old table (it starts from that
 * table, emptied by the move). The next journal-era start must not ignore
 * those rows: each (aor, contact) takes the binding that expires later (the
 * later registration; a tie keeps the journal's), a row the journal lacks
 * is added, and the journal's other bindings stay. Both what a start reads
 * and what the writer then keeps (the table emptied).
 */
Test(store, journal_downgrade_then_upgrade_keeps_the_newer_bindings)
{
	struct store_change c[3];
	struct seen *s;

	/* the journal era: three bindings, then the process stops */
	c[0] = change(STORE_BINDING_PUT, "a@x.example", "sip:a@192.0.2.1", 1);
	c[1] = change(STORE_BINDING_PUT, "b@x.example", "sip:b@192.0.2.1", 2);
	c[2] = change(STORE_BINDING_PUT, "c@x.example", "sip:c@192.0.2.1", 3);
	cr_assert_eq(store_binding_apply(st, c, 3), 0, "%s", store_errmsg(st));
	store_close(st);
	st = NULL;
	/* the older binary: a refreshes (later expiry), b has a row that
	 * expires before the journal's (the journal's wins), d registers */
	table_put("a@x.example", "sip:a@192.0.2.1", 11, 1900000001 + 3600);
	table_put("b@x.example", "sip:b@192.0.2.1", 12, 1900000002 - 60);
	table_put("d@x.example", "sip:d@192.0.2.1", 14, 1900000004);
	/* the upgrade's start: what it reads */
	s = read_back(path);
	cr_assert_eq(s->n, 4, "read %d bindings", s->n);
	assert_row(&s->b[0], "a@x.example", "sip:a@192.0.2.1", 11, 1900000001 + 3600);
	assert_is(&s->b[1], "b@x.example", "sip:b@192.0.2.1", 2);
	assert_is(&s->b[2], "c@x.example", "sip:c@192.0.2.1", 3);
	assert_row(&s->b[3], "d@x.example", "sip:d@192.0.2.1", 14, 1900000004);
	/* its writer moves them into the journal and empties the table */
	cr_assert_eq(store_open(&st, path, NULL, 0), 0);
	cr_assert_eq(store_binding_apply(st, NULL, 0), 0, "%s", store_errmsg(st));
	cr_assert_eq(table_rows(), 0);
	c[0] = change(STORE_BINDING_DEL, "c@x.example", "sip:c@192.0.2.1", 5);
	cr_assert_eq(store_binding_apply(st, c, 1), 0, "%s", store_errmsg(st));
	store_close(st);
	st = NULL;
	s = read_back(path);
	cr_assert_eq(s->n, 3, "read %d bindings", s->n);
	assert_row(&s->b[0], "a@x.example", "sip:a@192.0.2.1", 11, 1900000001 + 3600);
	assert_is(&s->b[1], "b@x.example", "sip:b@192.0.2.1", 2);
	assert_row(&s->b[2], "d@x.example", "sip:d@192.0.2.1", 14, 1900000004);
	/* read straight from the journal: the move is in the file itself */
	{
		char jpath[160], err[256] = "";
		struct seen j = {0};
		snprintf(jpath, sizeof(jpath), "%s-bindings", path);
		cr_assert_eq(bjournal_each(jpath, collect_b, &j, err, sizeof(err)), 0, "%s", err);
		cr_assert_eq(j.n, 3);
		assert_row(&j.b[2], "d@x.example", "sip:d@192.0.2.1", 14, 1900000004);
	}
}

/*
 * A reader (another handle: the admin listing, a second process) during the
 * first move, table -> journal. The move makes the journal, then empties
 * the table; a reader that looked for the journal before it appeared and
 * read the table after it was emptied saw no binding at all. access() is
 * wrapped here: when armed, the moment the reader finds no journal, the
 * whole move runs (another handle writes its first batch) before the
 * reader goes on. It must still read every binding.
 */
static bool move_on_access;

static void move_now(void)
{
	struct store_change c = change(STORE_BINDING_PUT, "new@x.example", "sip:n@192.0.2.9", 9);
	struct store *w;

	cr_assert_eq(store_open(&w, path, NULL, 0), 0);
	cr_assert_eq(store_binding_apply(w, &c, 1), 0, "%s", store_errmsg(w));
	store_close(w);
}

int access(const char *p, int mode)
{
	static int (*real)(const char *, int);
	size_t n = strlen(p);
	int r, e;

	if (!real)
		*(void **)&real = dlsym(RTLD_NEXT, "access");
	r = real(p, mode);
	e = errno;
	if (move_on_access && r < 0 && e == ENOENT && n > 9 &&
	    strcmp(p + n - 9, "-bindings") == 0) {
		move_on_access = false;
		move_now();
	}
	errno = e;
	return r;
}

Test(store, journal_reader_during_the_first_move_sees_every_binding)
{
	char jpath[160];
	struct seen s = {0};
	struct store *r;

	table_put("a@x.example", "sip:a@192.0.2.1", 1, 1900000001);
	table_put("b@x.example", "sip:b@192.0.2.1", 2, 1900000002);
	snprintf(jpath, sizeof(jpath), "%s-bindings", path);
	cr_assert_eq(access(jpath, F_OK), -1, "no journal before the move");
	cr_assert_eq(store_open(&r, path, NULL, 0), 0);
	move_on_access = true;
	cr_assert_eq(store_binding_each(r, collect_b, &s), 0, "%s", store_errmsg(r));
	store_close(r);
	cr_assert(!move_on_access, "the reader never looked for the journal: test void");
	cr_assert_eq(table_rows(), 0, "the move ran");
	/* the snapshot before the move, or the journal after it: never neither */
	cr_assert_geq(s.n, 2, "the reader saw %d bindings", s.n);
	cr_assert_str_eq(s.b[0].aor, "a@x.example");
	cr_assert_str_eq(s.b[1].aor, "b@x.example");
	cr_assert_eq(read_back(path)->n, 3);
}

/*
 * Rows of the old table that a binding (so the journal) cannot hold: an
 * over-long contact, an empty AOR, a NUL byte inside a field, a CSeq out
 * of range. They were dropped silently at the move (and read truncated or
 * wrapped before it). Now: never read as bindings, kept in the table, and
 * reported in meta "bindings_unmoved" (a count, then AOR<TAB>why per row),
 * which the registrar logs at start-up; the good rows move as before.
 */
Test(store, journal_rows_it_cannot_hold_stay_and_are_reported)
{
	char sql[2048], report[8192];
	size_t len = sizeof(report) - 1;
	struct seen *s;
	char longc[601];

	memset(longc, 'c', 600);
	longc[600] = '\0';
	table_put("good@x.example", "sip:g@192.0.2.1", 1, 1900000001);
	snprintf(sql, sizeof(sql),
		 "INSERT INTO binding VALUES ('long@x.example', 'sip:%s', '', 'udp', '', '', 0,"
		 " 'cid', 1, 1900000001, 1000, 0);"
		 "INSERT INTO binding VALUES ('', 'sip:e@192.0.2.1', '', 'udp', '', '', 0,"
		 " 'cid', 1, 1900000001, 1000, 0);"
		 "INSERT INTO binding VALUES ('nul@x.example', 'sip:n@192.0.2.1', '', 'udp',"
		 " CAST(x'3c7369703a61003e' AS TEXT), '', 0, 'cid', 1, 1900000001, 1000, 0);"
		 "INSERT INTO binding VALUES ('cseq@x.example', 'sip:q@192.0.2.1', '', 'udp', '',"
		 " '', 0, 'cid', -1, 1900000001, 1000, 0);",
		 longc);
	table_exec(sql);
	/* before the move: only the good row is a binding (none truncated) */
	s = read_back(path);
	cr_assert_eq(s->n, 1, "read %d bindings", s->n);
	assert_row(&s->b[0], "good@x.example", "sip:g@192.0.2.1", 1, 1900000001);
	/* the move */
	cr_assert_eq(store_binding_apply(st, NULL, 0), 0, "%s", store_errmsg(st));
	cr_assert_eq(table_rows(), 4, "the rows the journal cannot hold stay");
	cr_assert_eq(store_kv_get(st, "bindings_unmoved", report, &len), 0);
	report[len] = '\0';
	cr_assert(strncmp(report, "4\n", 2) == 0, "%s", report);
	cr_assert_not_null(strstr(report, "long@x.example\tcontact is 604 bytes, longer than 511\n"),
			   "%s", report);
	cr_assert_not_null(strstr(report, "(none)\taor is empty\n"), "%s", report);
	cr_assert_not_null(strstr(report, "nul@x.example\tpath holds a NUL byte\n"), "%s", report);
	cr_assert_not_null(strstr(report, "cseq@x.example\tcseq is not an integer in "
					  "0..4294967295\n"),
			   "%s", report);
	s = read_back(path);
	cr_assert_eq(s->n, 1);
	assert_row(&s->b[0], "good@x.example", "sip:g@192.0.2.1", 1, 1900000001);
	/* fixed by the operator: the next writer moves it and the report goes */
	table_exec("DELETE FROM binding WHERE aor <> 'long@x.example';"
		   "UPDATE binding SET contact = 'sip:l@192.0.2.1';");
	store_close(st);
	cr_assert_eq(store_open(&st, path, NULL, 0), 0);
	cr_assert_eq(store_binding_apply(st, NULL, 0), 0, "%s", store_errmsg(st));
	cr_assert_eq(table_rows(), 0);
	len = sizeof(report);
	cr_assert_eq(store_kv_get(st, "bindings_unmoved", report, &len), -ENOENT);
	cr_assert_eq(read_back(path)->n, 2);
}
