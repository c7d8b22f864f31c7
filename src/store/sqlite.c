/* SPDX-License-Identifier: MIT */
/*
 * sqlite.c - the embedded store backend: one SQLite file in WAL mode,
 * prepared statements kept for the handle's life, batches in one transaction.
 * synchronous=NORMAL: with WAL a crash loses at most the last transactions
 * not yet checkpointed to the WAL's sync point, never corrupts the file; the
 * registrar's flush interval already bounds what a kill -9 may lose.
 */
#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend.h"
#include "journal.h"

/*
 * Schema versions: 1 the first; 2 adds trunk.is_primary (the trunk's
 * primary mark; "primary" is an SQL keyword). An older file is brought up
 * to date on open (schema_migrate()); a newer one is refused, since this
 * sipreg would drop what it does not know when it rewrites a row.
 */
#define SCHEMA_VERSION 2

static const char schema_sql[] =
	"PRAGMA journal_mode=WAL;"
	"PRAGMA synchronous=NORMAL;"
	"CREATE TABLE IF NOT EXISTS meta ("
	" key TEXT PRIMARY KEY, value BLOB NOT NULL);"
	"CREATE TABLE IF NOT EXISTS subscriber ("
	" username TEXT NOT NULL, domain TEXT NOT NULL,"
	" password TEXT NOT NULL DEFAULT '', ha1_md5 TEXT NOT NULL DEFAULT '',"
	" ha1_sha256 TEXT NOT NULL DEFAULT '', enabled INTEGER NOT NULL DEFAULT 1,"
	" max_contacts INTEGER NOT NULL DEFAULT 0,"
	" PRIMARY KEY (username, domain)) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS trunk ("
	" name TEXT PRIMARY KEY, registrar TEXT NOT NULL, proxy TEXT NOT NULL,"
	" transport TEXT NOT NULL, user TEXT NOT NULL, auth_user TEXT NOT NULL,"
	" password TEXT NOT NULL, domain TEXT NOT NULL, realm TEXT NOT NULL,"
	" contact_user TEXT NOT NULL, expire TEXT NOT NULL, retry_delay TEXT NOT NULL,"
	" enabled INTEGER NOT NULL, is_primary INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS binding ("
	" aor TEXT NOT NULL, contact TEXT NOT NULL, received TEXT NOT NULL,"
	" transport TEXT NOT NULL, path TEXT NOT NULL, instance TEXT NOT NULL,"
	" reg_id INTEGER NOT NULL, call_id TEXT NOT NULL, cseq INTEGER NOT NULL,"
	" expires_at INTEGER NOT NULL, q INTEGER NOT NULL, nat INTEGER NOT NULL,"
	" PRIMARY KEY (aor, contact)) WITHOUT ROWID;";

enum stmt_id {
	ST_SUB_INSERT,
	ST_SUB_REPLACE,
	ST_SUB_DELETE,
	ST_SUB_GET,
	ST_SUB_EACH,
	ST_SUB_COUNT,
	ST_TRUNK_INSERT,
	ST_TRUNK_REPLACE,
	ST_TRUNK_DELETE,
	ST_TRUNK_GET,
	ST_TRUNK_EACH,
	ST_BIND_PUT,
	ST_BIND_DEL,
	ST_BIND_DEL_AOR,
	ST_BIND_EACH,
	ST_BIND_ANY,
	ST_BIND_BAD,
	ST_BIND_DEL_OK,
	ST_KV_GET,
	ST_KV_SET,
	ST_BEGIN,
	ST_COMMIT,
	ST_ROLLBACK,
	ST__COUNT
};

#define SUB_COLS "username, domain, password, ha1_md5, ha1_sha256, enabled, max_contacts"
#define TRUNK_COLS                                                                         \
	"name, registrar, proxy, transport, user, auth_user, password, domain, realm,"     \
	" contact_user, expire, retry_delay, enabled, is_primary"
#define BIND_COLS                                                                          \
	"aor, contact, received, transport, path, instance, reg_id, call_id, cseq,"        \
	" expires_at, q, nat"
/*
 * A row of the binding table that a struct store_binding (and so the
 * journal) holds exactly: text without a NUL byte that fits its field,
 * integers in range. Rows an older sipreg wrote always are; one that is
 * not (edited by hand, another program) is never read truncated or
 * wrapped: it stays in the table and is reported (bad_reason(),
 * "bindings_unmoved"). Lengths in bytes (the BLOB cast).
 */
#define BT(c, lo, max)                                                                     \
	"(typeof(" c ")='text' AND length(CAST(" c " AS BLOB)) BETWEEN " lo " AND " max       \
	" AND instr(CAST(" c " AS BLOB), x'00')=0)"
#define BI(c, lo, hi) "(typeof(" c ")='integer' AND " c " BETWEEN " lo " AND " hi ")"
#define BIND_OK                                                                            \
	"coalesce(" BT("aor", "1", "511") " AND " BT("contact", "0", "511") " AND "          \
	BT("received", "0", "63") " AND " BT("transport", "0", "7") " AND "                  \
	BT("path", "0", "1023") " AND " BT("instance", "0", "127") " AND "                   \
	BT("call_id", "0", "127") " AND " BI("reg_id", "0", "4294967295") " AND "            \
	BI("cseq", "0", "4294967295") " AND " BI("q", "0", "65535") " AND "                  \
	"typeof(expires_at)='integer' AND typeof(nat)='integer', 0)"

static const char *const stmt_sql[ST__COUNT] = {
	[ST_SUB_INSERT] = "INSERT INTO subscriber (" SUB_COLS ") VALUES (?,?,?,?,?,?,?)",
	[ST_SUB_REPLACE] = "INSERT OR REPLACE INTO subscriber (" SUB_COLS ") VALUES (?,?,?,?,?,?,?)",
	[ST_SUB_DELETE] = "DELETE FROM subscriber WHERE username = ? AND domain = ?",
	[ST_SUB_GET] = "SELECT " SUB_COLS " FROM subscriber WHERE username = ? AND domain = ?",
	[ST_SUB_EACH] = "SELECT " SUB_COLS " FROM subscriber ORDER BY domain, username",
	[ST_SUB_COUNT] = "SELECT count(*) FROM subscriber",
	[ST_TRUNK_INSERT] = "INSERT INTO trunk (" TRUNK_COLS ") VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
	[ST_TRUNK_REPLACE] = "INSERT OR REPLACE INTO trunk (" TRUNK_COLS ")"
			     " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
	[ST_TRUNK_DELETE] = "DELETE FROM trunk WHERE name = ?",
	[ST_TRUNK_GET] = "SELECT " TRUNK_COLS " FROM trunk WHERE name = ?",
	[ST_TRUNK_EACH] = "SELECT " TRUNK_COLS " FROM trunk ORDER BY name",
	[ST_BIND_PUT] = "INSERT OR REPLACE INTO binding (" BIND_COLS ")"
			" VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
	[ST_BIND_DEL] = "DELETE FROM binding WHERE aor = ? AND contact = ?",
	[ST_BIND_DEL_AOR] = "DELETE FROM binding WHERE aor = ?",
	[ST_BIND_EACH] = "SELECT " BIND_COLS " FROM binding WHERE " BIND_OK " ORDER BY aor, contact",
	[ST_BIND_ANY] = "SELECT EXISTS (SELECT 1 FROM binding)",
	[ST_BIND_BAD] = "SELECT " BIND_COLS " FROM binding WHERE NOT " BIND_OK,
	[ST_BIND_DEL_OK] = "DELETE FROM binding WHERE " BIND_OK,
	[ST_KV_GET] = "SELECT value FROM meta WHERE key = ?",
	[ST_KV_SET] = "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
	[ST_BEGIN] = "BEGIN IMMEDIATE",
	[ST_COMMIT] = "COMMIT",
	[ST_ROLLBACK] = "ROLLBACK",
};

/*
 * Bindings: in the journal PATH-bindings beside the database (journal.c:
 * the binding table cost the flusher 2.5-3.2 us of CPU per registration,
 * the journal a tenth of that), opened for writing by the first
 * binding_apply of a handle (one writer: the registrar's flusher; the admin
 * and UA handles never write bindings). The binding table stays for the
 * databases that had one: the journal's first open moves its rows over,
 * then empties it. An in-memory database (":memory:", "") keeps its
 * bindings in the table.
 */
struct store_sqlite {
	struct store base;
	sqlite3 *db;
	sqlite3_stmt *st[ST__COUNT];
	char *jpath;          /* NULL: bindings in the table */
	struct bjournal *jw;  /* the journal, once this handle wrote bindings */
};

static struct store_sqlite *to_sqlite(struct store *s)
{
	return (struct store_sqlite *)s;
}

/* Records SQLite's message and maps its code to an errno. */
static int db_fail(struct store_sqlite *q, const char *what)
{
	store_set_error(&q->base, "%s: %s", what, sqlite3_errmsg(q->db));
	return sqlite3_errcode(q->db) == SQLITE_CONSTRAINT ? -EEXIST : -EIO;
}

static sqlite3_stmt *stmt(struct store_sqlite *q, enum stmt_id id)
{
	sqlite3_stmt *st = q->st[id];

	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return st;
}

/* Runs a statement that returns no rows. */
static int run(struct store_sqlite *q, enum stmt_id id, const char *what)
{
	int rc = sqlite3_step(q->st[id]);

	sqlite3_reset(q->st[id]);
	return rc == SQLITE_DONE ? 0 : db_fail(q, what);
}

static void bind_text(sqlite3_stmt *st, int col, const char *v)
{
	sqlite3_bind_text(st, col, v, -1, SQLITE_STATIC);
}

static void col_text(sqlite3_stmt *st, int col, char *dst, size_t cap)
{
	const unsigned char *v = sqlite3_column_text(st, col);
	size_t n = v ? strlen((const char *)v) : 0;

	if (n >= cap)
		n = cap - 1;
	memcpy(dst, v ? (const char *)v : "", n);
	dst[n] = '\0';
}

static void sqlite_close(struct store *s)
{
	struct store_sqlite *q = to_sqlite(s);

	bjournal_close(q->jw);
	free(q->jpath);
	for (int i = 0; i < ST__COUNT; i++)
		sqlite3_finalize(q->st[i]);
	sqlite3_close(q->db);
	free(q);
}

static void sub_bind(sqlite3_stmt *st, const struct store_subscriber *sub)
{
	bind_text(st, 1, sub->username);
	bind_text(st, 2, sub->domain);
	bind_text(st, 3, sub->password);
	bind_text(st, 4, sub->ha1_md5);
	bind_text(st, 5, sub->ha1_sha256);
	sqlite3_bind_int(st, 6, sub->enabled);
	sqlite3_bind_int64(st, 7, sub->max_contacts);
}

static void sub_read(sqlite3_stmt *st, struct store_subscriber *out)
{
	memset(out, 0, sizeof(*out));
	col_text(st, 0, out->username, sizeof(out->username));
	col_text(st, 1, out->domain, sizeof(out->domain));
	col_text(st, 2, out->password, sizeof(out->password));
	col_text(st, 3, out->ha1_md5, sizeof(out->ha1_md5));
	col_text(st, 4, out->ha1_sha256, sizeof(out->ha1_sha256));
	out->enabled = sqlite3_column_int(st, 5) != 0;
	out->max_contacts = (unsigned int)sqlite3_column_int64(st, 6);
}

static int sqlite_sub_put(struct store *s, const struct store_subscriber *sub, bool replace)
{
	struct store_sqlite *q = to_sqlite(s);
	enum stmt_id id = replace ? ST_SUB_REPLACE : ST_SUB_INSERT;

	sub_bind(stmt(q, id), sub);
	return run(q, id, "subscriber put");
}

static int sqlite_sub_del(struct store *s, const char *username, const char *domain)
{
	struct store_sqlite *q = to_sqlite(s);
	sqlite3_stmt *st = stmt(q, ST_SUB_DELETE);
	int r;

	bind_text(st, 1, username);
	bind_text(st, 2, domain);
	r = run(q, ST_SUB_DELETE, "subscriber delete");
	if (r == 0 && sqlite3_changes(q->db) == 0)
		return -ENOENT;
	return r;
}

static int sqlite_sub_get(struct store *s, const char *username, const char *domain,
			  struct store_subscriber *out)
{
	struct store_sqlite *q = to_sqlite(s);
	sqlite3_stmt *st = stmt(q, ST_SUB_GET);
	int rc;

	bind_text(st, 1, username);
	bind_text(st, 2, domain);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		sub_read(st, out);
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return 0;
	return rc == SQLITE_DONE ? -ENOENT : db_fail(q, "subscriber get");
}

static int sqlite_sub_each(struct store *s, store_subscriber_cb cb, void *arg)
{
	struct store_sqlite *q = to_sqlite(s);
	sqlite3_stmt *st = stmt(q, ST_SUB_EACH);
	struct store_subscriber sub;
	int rc, r = 0;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		sub_read(st, &sub);
		r = cb(arg, &sub);
		if (r)
			break;
	}
	if (!r && rc != SQLITE_DONE)
		r = db_fail(q, "subscriber list");
	sqlite3_reset(st);
	return r;
}

static int sqlite_sub_count(struct store *s, uint64_t *count)
{
	struct store_sqlite *q = to_sqlite(s);
	sqlite3_stmt *st = stmt(q, ST_SUB_COUNT);
	int rc = sqlite3_step(st);

	if (rc == SQLITE_ROW)
		*count = (uint64_t)sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 0 : db_fail(q, "subscriber count");
}

static int begin(struct store_sqlite *q)
{
	stmt(q, ST_BEGIN);
	return run(q, ST_BEGIN, "begin");
}

/* Commits when r is 0, else rolls back; returns r or the commit's error. */
static int finish(struct store_sqlite *q, int r)
{
	if (r == 0) {
		stmt(q, ST_COMMIT);
		r = run(q, ST_COMMIT, "commit");
		if (r == 0)
			return 0;
	}
	stmt(q, ST_ROLLBACK);
	sqlite3_step(q->st[ST_ROLLBACK]);
	sqlite3_reset(q->st[ST_ROLLBACK]);
	return r;
}

static int sqlite_sub_import(struct store *s, const struct store_subscriber *rows, size_t n)
{
	struct store_sqlite *q = to_sqlite(s);
	int r = begin(q);

	if (r)
		return r;
	for (size_t i = 0; i < n && r == 0; i++) {
		sub_bind(stmt(q, ST_SUB_REPLACE), &rows[i]);
		r = run(q, ST_SUB_REPLACE, "subscriber import");
	}
	return finish(q, r);
}

/* The text columns of a trunk, in TRUNK_COLS order, and their sizes. */
#define TRUNK_TEXT(t)                                                                      \
	{t->name, t->registrar, t->proxy, t->transport, t->user, t->auth_user, t->password,  \
	 t->domain, t->realm, t->contact_user, t->expire, t->retry_delay}
#define TRUNK_NTEXT 12

static void trunk_bind(sqlite3_stmt *st, const struct store_trunk *t)
{
	const char *v[TRUNK_NTEXT] = TRUNK_TEXT(t);

	for (int i = 0; i < TRUNK_NTEXT; i++)
		bind_text(st, i + 1, v[i]);
	sqlite3_bind_int(st, TRUNK_NTEXT + 1, t->enabled);
	sqlite3_bind_int(st, TRUNK_NTEXT + 2, t->primary);
}

static void trunk_read(sqlite3_stmt *st, struct store_trunk *t)
{
	char *v[TRUNK_NTEXT] = TRUNK_TEXT(t);
	const size_t cap[TRUNK_NTEXT] = {
		sizeof(t->name),   sizeof(t->registrar), sizeof(t->proxy),    sizeof(t->transport),
		sizeof(t->user),   sizeof(t->auth_user), sizeof(t->password), sizeof(t->domain),
		sizeof(t->realm),  sizeof(t->contact_user), sizeof(t->expire),
		sizeof(t->retry_delay)};

	for (int i = 0; i < TRUNK_NTEXT; i++)
		col_text(st, i, v[i], cap[i]);
	t->enabled = sqlite3_column_int(st, TRUNK_NTEXT) != 0;
	t->primary = sqlite3_column_int(st, TRUNK_NTEXT + 1) != 0;
}

static int sqlite_trunk_put(struct store *s, const struct store_trunk *t, bool replace)
{
	struct store_sqlite *q = to_sqlite(s);
	enum stmt_id id = replace ? ST_TRUNK_REPLACE : ST_TRUNK_INSERT;

	trunk_bind(stmt(q, id), t);
	return run(q, id, "trunk put");
}

static int sqlite_trunk_del(struct store *s, const char *name)
{
	struct store_sqlite *q = to_sqlite(s);
	int r;

	bind_text(stmt(q, ST_TRUNK_DELETE), 1, name);
	r = run(q, ST_TRUNK_DELETE, "trunk delete");
	if (r == 0 && sqlite3_changes(q->db) == 0)
		return -ENOENT;
	return r;
}

static int sqlite_trunk_get(struct store *s, const char *name, struct store_trunk *out)
{
	struct store_sqlite *q = to_sqlite(s);
	sqlite3_stmt *st = stmt(q, ST_TRUNK_GET);
	int rc;

	bind_text(st, 1, name);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		trunk_read(st, out);
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return 0;
	return rc == SQLITE_DONE ? -ENOENT : db_fail(q, "trunk get");
}

static int sqlite_trunk_each(struct store *s, store_trunk_cb cb, void *arg)
{
	struct store_sqlite *q = to_sqlite(s);
	sqlite3_stmt *st = stmt(q, ST_TRUNK_EACH);
	struct store_trunk *t = malloc(sizeof(*t));
	int rc, r = 0;

	if (!t)
		return -ENOMEM;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		trunk_read(st, t);
		r = cb(arg, t);
		if (r)
			break;
	}
	if (!r && rc != SQLITE_DONE)
		r = db_fail(q, "trunk list");
	sqlite3_reset(st);
	free(t);
	return r;
}

static int sqlite_trunk_import(struct store *s, const struct store_trunk *rows, size_t n)
{
	struct store_sqlite *q = to_sqlite(s);
	int r = begin(q);

	if (r)
		return r;
	for (size_t i = 0; i < n && r == 0; i++) {
		trunk_bind(stmt(q, ST_TRUNK_REPLACE), &rows[i]);
		r = run(q, ST_TRUNK_REPLACE, "trunk import");
	}
	return finish(q, r);
}

static void bind_bind(sqlite3_stmt *st, const struct store_binding *b)
{
	bind_text(st, 1, b->aor);
	bind_text(st, 2, b->contact);
	bind_text(st, 3, b->received);
	bind_text(st, 4, b->transport);
	bind_text(st, 5, b->path);
	bind_text(st, 6, b->instance);
	sqlite3_bind_int64(st, 7, b->reg_id);
	bind_text(st, 8, b->call_id);
	sqlite3_bind_int64(st, 9, b->cseq);
	sqlite3_bind_int64(st, 10, b->expires_at);
	sqlite3_bind_int(st, 11, b->q);
	sqlite3_bind_int(st, 12, b->nat);
}

static int table_bind_apply(struct store_sqlite *q, const struct store_change *c, size_t n)
{
	int r = begin(q);

	if (r)
		return r;
	for (size_t i = 0; i < n && r == 0; i++) {
		if (c[i].kind == STORE_BINDING_PUT) {
			bind_bind(stmt(q, ST_BIND_PUT), &c[i].b);
			r = run(q, ST_BIND_PUT, "binding put");
		} else if (c[i].kind == STORE_BINDING_DEL_AOR) {
			bind_text(stmt(q, ST_BIND_DEL_AOR), 1, c[i].b.aor);
			r = run(q, ST_BIND_DEL_AOR, "binding delete");
		} else {
			sqlite3_stmt *st = stmt(q, ST_BIND_DEL);
			bind_text(st, 1, c[i].b.aor);
			bind_text(st, 2, c[i].b.contact);
			r = run(q, ST_BIND_DEL, "binding delete");
		}
	}
	return finish(q, r);
}

static void binding_read(sqlite3_stmt *st, struct store_binding *b)
{
	memset(b, 0, sizeof(*b));
	col_text(st, 0, b->aor, sizeof(b->aor));
	col_text(st, 1, b->contact, sizeof(b->contact));
	col_text(st, 2, b->received, sizeof(b->received));
	col_text(st, 3, b->transport, sizeof(b->transport));
	col_text(st, 4, b->path, sizeof(b->path));
	col_text(st, 5, b->instance, sizeof(b->instance));
	b->reg_id = (uint32_t)sqlite3_column_int64(st, 6);
	col_text(st, 7, b->call_id, sizeof(b->call_id));
	b->cseq = (uint32_t)sqlite3_column_int64(st, 8);
	b->expires_at = sqlite3_column_int64(st, 9);
	b->q = (uint16_t)sqlite3_column_int(st, 10);
	b->nat = sqlite3_column_int(st, 11) != 0;
}

static int table_bind_each(struct store_sqlite *q, store_binding_cb cb, void *arg)
{
	sqlite3_stmt *st = stmt(q, ST_BIND_EACH);
	struct store_binding *b = malloc(sizeof(*b));
	int rc, r = 0;

	if (!b)
		return -ENOMEM;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		binding_read(st, b);
		r = cb(arg, b);
		if (r)
			break;
	}
	if (!r && rc != SQLITE_DONE)
		r = db_fail(q, "binding list");
	sqlite3_reset(st);
	free(b);
	return r;
}

/* The journal's seed: the binding table's rows (those it can hold). */
static int table_seed(void *arg, store_binding_cb cb, void *cbarg)
{
	return table_bind_each(arg, cb, cbarg);
}

static int exec(struct store_sqlite *q, const char *sql, const char *what);
static int sqlite_kv_set(struct store *s, const char *key, const void *buf, size_t len);
#define UNMOVED_MAX 8192

/* Why a row ST_BIND_BAD returned cannot be a binding (BIND_OK's terms). */
static const char *bad_reason(sqlite3_stmt *st, char *buf, size_t len)
{
	static const struct {
		const char *name;
		int max; /* bytes; -1: an integer */
		long long lo, hi;
	} col[12] = {{"aor", 511, 1, 0},        {"contact", 511, 0, 0},
		     {"received", 63, 0, 0},    {"transport", 7, 0, 0},
		     {"path", 1023, 0, 0},      {"instance", 127, 0, 0},
		     {"reg_id", -1, 0, 4294967295LL}, {"call_id", 127, 0, 0},
		     {"cseq", -1, 0, 4294967295LL},   {"expires_at", -1, INT64_MIN, INT64_MAX},
		     {"q", -1, 0, 65535},       {"nat", -1, INT64_MIN, INT64_MAX}};

	for (int i = 0; i < 12; i++) {
		int type = sqlite3_column_type(st, i);
		if (col[i].max < 0) {
			long long v = sqlite3_column_int64(st, i);
			if (type != SQLITE_INTEGER || v < col[i].lo || v > col[i].hi) {
				snprintf(buf, len, "%s is not an integer in %lld..%lld", col[i].name,
					 col[i].lo, col[i].hi);
				return buf;
			}
			continue;
		}
		if (type != SQLITE_TEXT) {
			snprintf(buf, len, "%s is not text", col[i].name);
			return buf;
		}
		const void *v = sqlite3_column_blob(st, i);
		int n = sqlite3_column_bytes(st, i);
		if (n > col[i].max) {
			snprintf(buf, len, "%s is %d bytes, longer than %d", col[i].name, n,
				 col[i].max);
			return buf;
		}
		if (n < col[i].lo) {
			snprintf(buf, len, "%s is empty", col[i].name);
			return buf;
		}
		if (n && memchr(v, 0, (size_t)n)) {
			snprintf(buf, len, "%s holds a NUL byte", col[i].name);
			return buf;
		}
	}
	snprintf(buf, len, "unusable row");
	return buf;
}

/*
 * Records the rows of the binding table that cannot move into the journal
 * (BIND_OK): they stay in the table, and meta "bindings_unmoved" says how
 * many and which, one "AOR<TAB>why" line each after the count (at most
 * 8 KB; the count is always whole); no such row: the key is removed. The
 * daemon logs it at start-up (regsvc). Returns 0 or -EIO.
 */
static int unmoved_report(struct store_sqlite *q, size_t *count)
{
	sqlite3_stmt *st = stmt(q, ST_BIND_BAD);
	char *text = malloc(UNMOVED_MAX), head[32], why[96];
	size_t used = 0, n = 0;
	int rc, r = 0;

	if (!text)
		return -ENOMEM;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const unsigned char *aor = sqlite3_column_blob(st, 0);
		int alen = sqlite3_column_bytes(st, 0);
		char line[300];
		size_t k = 0;
		for (int i = 0; aor && i < alen && k < 200; i++) /* printable, bounded */
			line[k++] = aor[i] > ' ' && aor[i] < 0x7f ? (char)aor[i] : '?';
		k += (size_t)snprintf(line + k, sizeof(line) - k, "%s\t%s\n", alen ? "" : "(none)",
				      bad_reason(st, why, sizeof(why)));
		if (k < sizeof(line) && used + k <= UNMOVED_MAX - sizeof(head)) {
			memcpy(text + used, line, k);
			used += k;
		}
		n++;
	}
	if (rc != SQLITE_DONE)
		r = db_fail(q, "binding table");
	sqlite3_reset(st);
	if (r == 0 && n == 0)
		r = exec(q, "DELETE FROM meta WHERE key = 'bindings_unmoved'", "binding table");
	if (r == 0 && n) {
		int h = snprintf(head, sizeof(head), "%zu\n", n);
		memmove(text + h, text, used);
		memcpy(text, head, (size_t)h);
		used += (size_t)h;
		r = sqlite_kv_set(&q->base, "bindings_unmoved", text, used);
	}
	free(text);
	*count = n;
	return r;
}

/*
 * Opens the journal for writing and moves the binding table's rows into it:
 * on the first open they seed the new file; on a later one the table has
 * rows only when a sipreg from before the journal ran meanwhile (a
 * downgrade, then this upgrade): those are merged, the later expiry of each
 * (aor, contact) winning (bjournal_merge). All in one write transaction, so
 * an older sipreg running at the same time cannot add a row between the
 * read and the delete; the journal is synced before the rows go. Rows the
 * journal cannot hold stay and are reported (unmoved_report()). On failure
 * the journal is not kept open: the next batch tries again.
 */
static int journal_writer(struct store_sqlite *q)
{
	size_t merged = 0, bad = 0, unmoved = 0;
	sqlite3_stmt *st;
	int r = begin(q), rc, any = 0;

	if (r)
		return r;
	r = bjournal_open(&q->jw, q->jpath, table_seed, q, q->base.errmsg,
			  sizeof(q->base.errmsg));
	if (r == 0) { /* the usual case, an empty table: no second replay */
		st = stmt(q, ST_BIND_ANY);
		rc = sqlite3_step(st);
		any = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
		sqlite3_reset(st);
		if (rc != SQLITE_ROW)
			r = db_fail(q, "binding table");
	}
	if (r == 0 && any)
		r = bjournal_merge(q->jw, table_seed, q, &merged, &bad, q->base.errmsg,
				   sizeof(q->base.errmsg));
	if (r == 0)
		r = unmoved_report(q, &unmoved);
	if (r == 0) {
		stmt(q, ST_BIND_DEL_OK);
		r = run(q, ST_BIND_DEL_OK, "binding table");
	}
	r = finish(q, r);
	if (r) {
		bjournal_close(q->jw);
		q->jw = NULL;
	}
	return r;
}

static int sqlite_bind_apply(struct store *s, const struct store_change *c, size_t n)
{
	struct store_sqlite *q = to_sqlite(s);
	int r;

	if (!q->jpath)
		return n ? table_bind_apply(q, c, n) : 0;
	if (!q->jw && (r = journal_writer(q)) < 0)
		return r;
	return bjournal_append(q->jw, c, n, q->base.errmsg, sizeof(q->base.errmsg));
}

/*
 * The journal, with the table's rows merged in when it has any (an older
 * sipreg wrote them after a downgrade: journal_writer() merges them the same
 * way), or the table alone before the first journal. In one read
 * transaction whose snapshot of the table is taken before the journal is
 * looked at: the first move renames the journal into place before it
 * empties the table, so a reader that finds no journal still has the rows
 * in its snapshot, and one whose snapshot lacks them finds the journal.
 */
static int sqlite_bind_each(struct store *s, store_binding_cb cb, void *arg)
{
	struct store_sqlite *q = to_sqlite(s);
	sqlite3_stmt *st;
	int r, rc, any = 0;

	if (!q->jpath)
		return table_bind_each(q, cb, arg);
	r = exec(q, "BEGIN", "binding list");
	if (r)
		return r;
	st = stmt(q, ST_BIND_ANY);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		any = sqlite3_column_int(st, 0);
	sqlite3_reset(st);
	if (rc != SQLITE_ROW)
		r = db_fail(q, "binding list");
	else if (access(q->jpath, F_OK) < 0 && errno == ENOENT)
		r = any ? table_bind_each(q, cb, arg) : 0;
	else
		r = bjournal_each_merged(q->jpath, any ? table_seed : NULL, q, cb, arg,
					 q->base.errmsg, sizeof(q->base.errmsg));
	sqlite3_exec(q->db, "COMMIT", NULL, NULL, NULL); /* a read: nothing to lose */
	return r;
}

static int sqlite_kv_get(struct store *s, const char *key, void *buf, size_t *len)
{
	struct store_sqlite *q = to_sqlite(s);
	sqlite3_stmt *st = stmt(q, ST_KV_GET);
	int rc;

	bind_text(st, 1, key);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		size_t n = (size_t)sqlite3_column_bytes(st, 0);
		const void *v = sqlite3_column_blob(st, 0);
		memcpy(buf, v, n < *len ? n : *len);
		*len = n;
	}
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return 0;
	return rc == SQLITE_DONE ? -ENOENT : db_fail(q, "meta get");
}

static int sqlite_kv_set(struct store *s, const char *key, const void *buf, size_t len)
{
	struct store_sqlite *q = to_sqlite(s);
	sqlite3_stmt *st = stmt(q, ST_KV_SET);

	bind_text(st, 1, key);
	sqlite3_bind_blob(st, 2, buf, (int)len, SQLITE_STATIC);
	return run(q, ST_KV_SET, "meta set");
}

static const struct store_ops sqlite_ops = {
	.name = "sqlite",
	.close = sqlite_close,
	.subscriber_put = sqlite_sub_put,
	.subscriber_del = sqlite_sub_del,
	.subscriber_get = sqlite_sub_get,
	.subscriber_each = sqlite_sub_each,
	.subscriber_count = sqlite_sub_count,
	.subscriber_import = sqlite_sub_import,
	.trunk_put = sqlite_trunk_put,
	.trunk_del = sqlite_trunk_del,
	.trunk_get = sqlite_trunk_get,
	.trunk_each = sqlite_trunk_each,
	.trunk_import = sqlite_trunk_import,
	.binding_apply = sqlite_bind_apply,
	.binding_each = sqlite_bind_each,
	.kv_get = sqlite_kv_get,
	.kv_set = sqlite_kv_set,
};

/* Runs sql (no rows); -EIO with the message recorded. */
static int exec(struct store_sqlite *q, const char *sql, const char *what)
{
	char *msg = NULL;

	if (sqlite3_exec(q->db, sql, NULL, NULL, &msg) == SQLITE_OK)
		return 0;
	store_set_error(&q->base, "%s: %s", what, msg ? msg : sqlite3_errmsg(q->db));
	sqlite3_free(msg);
	return -EIO;
}

/*
 * Version 1 -> 2: a trunk table created before is_primary gets the column
 * (every existing trunk not primary). Checked by the column itself, in one
 * write transaction, so two handles opening the same old file at once add
 * it once; harmless on a current file.
 */
static int schema_migrate(struct store_sqlite *q)
{
	sqlite3_stmt *st = NULL;
	int r, rc, have = 0;

	r = exec(q, "BEGIN IMMEDIATE", "migrate");
	if (r)
		return r;
	if (sqlite3_prepare_v2(q->db,
			       "SELECT count(*) FROM pragma_table_info('trunk')"
			       " WHERE name = 'is_primary'",
			       -1, &st, NULL) != SQLITE_OK) {
		r = db_fail(q, "migrate");
		goto out;
	}
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		r = db_fail(q, "migrate");
		goto out;
	}
	have = sqlite3_column_int(st, 0);
	if (!have)
		r = exec(q, "ALTER TABLE trunk ADD COLUMN is_primary INTEGER NOT NULL DEFAULT 0",
			 "migrate to schema 2");
out:
	sqlite3_finalize(st);
	if (r == 0)
		return exec(q, "COMMIT", "migrate");
	sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
	return r;
}

/* Creates the schema, brings an older one up to date and records its
 * version; refuses a newer file. */
static int schema_init(struct store_sqlite *q)
{
	uint32_t v = SCHEMA_VERSION, have = 0;
	size_t len = sizeof(have);
	char *msg = NULL;
	int r;

	if (sqlite3_exec(q->db, schema_sql, NULL, NULL, &msg) != SQLITE_OK) {
		store_set_error(&q->base, "schema: %s", msg ? msg : "?");
		sqlite3_free(msg);
		return -EIO;
	}
	r = schema_migrate(q);
	if (r)
		return r;
	for (int i = 0; i < ST__COUNT; i++)
		if (sqlite3_prepare_v3(q->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
				       &q->st[i], NULL) != SQLITE_OK)
			return db_fail(q, "prepare");
	r = sqlite_kv_get(&q->base, "schema_version", &have, &len);
	if (r == -ENOENT)
		return sqlite_kv_set(&q->base, "schema_version", &v, sizeof(v));
	if (r)
		return r;
	if (len != sizeof(have) || have > SCHEMA_VERSION) {
		store_set_error(&q->base, "database schema version %u is newer than this "
					  "sipreg (%u)", have, SCHEMA_VERSION);
		return -EIO;
	}
	if (have < SCHEMA_VERSION) /* migrated above */
		return sqlite_kv_set(&q->base, "schema_version", &v, sizeof(v));
	return 0;
}

int store_sqlite_open(struct store **ret, const char *path, char *errmsg, size_t errlen)
{
	struct store_sqlite *q = calloc(1, sizeof(*q));
	int r;

	if (!q)
		return -ENOMEM;
	q->base.ops = &sqlite_ops;
	if (sqlite3_open_v2(path, &q->db,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
			    NULL) != SQLITE_OK) {
		r = -EIO;
		store_set_error(&q->base, "cannot open %s: %s", path,
				q->db ? sqlite3_errmsg(q->db) : "out of memory");
		goto fail;
	}
	sqlite3_busy_timeout(q->db, 5000);
	if (path[0] && strcmp(path, ":memory:") != 0) {
		size_t n = strlen(path);
		q->jpath = malloc(n + sizeof("-bindings"));
		if (!q->jpath) {
			r = -ENOMEM;
			store_set_error(&q->base, "out of memory");
			goto fail;
		}
		memcpy(q->jpath, path, n);
		memcpy(q->jpath + n, "-bindings", sizeof("-bindings"));
	}
	r = schema_init(q);
	if (r)
		goto fail;
	*ret = &q->base;
	return 0;
fail:
	if (errmsg)
		snprintf(errmsg, errlen, "%s", q->base.errmsg);
	sqlite_close(&q->base);
	return r;
}
