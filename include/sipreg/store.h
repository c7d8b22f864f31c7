/* SPDX-License-Identifier: MIT */
/*
 * store.h - persistence behind one interface: subscribers, bindings and small
 * named secrets. The embedded backend is SQLite (WAL) for subscribers, trunks
 * and secrets, with the bindings in an append-only journal beside it
 * (PATH-bindings, src/store/journal.c); another backend (Redis, for several
 * nodes) implements the same struct store_ops and nothing above this header
 * changes.
 *
 * The store is never on a worker's hot path: the registrar keeps subscribers
 * and bindings in memory (RCU tables) and a persistence thread applies changes
 * here in batches. A struct store is used by one thread at a time: open one
 * handle per thread (WAL lets several handles share the file).
 *
 * Errors: 0 or a negative errno. -ENOENT: no such row. -EEXIST: the row exists
 * (put without replace). -EINVAL: a field is empty, too long or malformed.
 * -EIO: the backend failed (store_errmsg() says why).
 */
#ifndef SIPREG_STORE_H
#define SIPREG_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define STORE_NAME_MAX 128  /* username, domain: bytes including the NUL */
#define STORE_SECRET_MAX 128
#define STORE_URI_MAX 512
#define STORE_ADDR_MAX 64   /* "[ipv6]:port" */
#define STORE_PATH_MAX 1024 /* Path header values, joined */

struct store;

struct store_subscriber {
	char username[STORE_NAME_MAX];
	char domain[STORE_NAME_MAX];
	char password[STORE_SECRET_MAX]; /* empty when only HA1s are kept */
	char ha1_md5[33];                /* lower-case hex or empty */
	char ha1_sha256[65];             /* lower-case hex or empty */
	bool enabled;
	unsigned int max_contacts;       /* 0: the configured default */
};

/* One binding of an address-of-record, as the registrar persists it. */
struct store_binding {
	char aor[STORE_URI_MAX];       /* "user@domain" */
	char contact[STORE_URI_MAX];   /* the Contact URI as registered */
	char received[STORE_ADDR_MAX]; /* source "ip:port" / "[ip6]:port" */
	char transport[8];             /* "udp", "tcp" */
	char path[STORE_PATH_MAX];     /* Path values (RFC 3327), "" if none */
	char instance[STORE_NAME_MAX]; /* +sip.instance, "" if none */
	uint32_t reg_id;               /* 0 if none */
	char call_id[STORE_NAME_MAX];
	uint32_t cseq;
	int64_t expires_at;            /* wall clock, Unix seconds */
	uint16_t q;                    /* thousandths */
	bool nat;
};

enum store_change_kind {
	STORE_BINDING_PUT, /* insert or replace (aor, contact) */
	STORE_BINDING_DEL, /* delete (aor, contact) */
	STORE_BINDING_DEL_AOR, /* delete every binding of b.aor */
};

struct store_change {
	enum store_change_kind kind;
	struct store_binding b;
};

/* An outbound trunk registration as provisioned: text as the operator gave
 * it (the trunk module validates and converts; see ua.h). */
struct store_trunk {
	char name[64];
	char registrar[STORE_NAME_MAX]; /* host[:port], [v6]:port */
	char proxy[STORE_NAME_MAX];     /* "" = none */
	char transport[8];              /* "udp", "tcp" */
	char user[STORE_NAME_MAX];
	char auth_user[STORE_NAME_MAX]; /* "" = user */
	char password[STORE_SECRET_MAX];
	char domain[STORE_NAME_MAX];
	char realm[STORE_NAME_MAX];
	char contact_user[STORE_NAME_MAX];
	char expire[8];      /* "" = the global, "auto", or seconds */
	char retry_delay[8]; /* "" = the global, or seconds */
	bool enabled;
	bool primary; /* the operator's primary trunk (ua.h); default false */
};

typedef int (*store_subscriber_cb)(void *arg, const struct store_subscriber *s);
typedef int (*store_trunk_cb)(void *arg, const struct store_trunk *t);
/* Checks one trunk before it is stored; 0, or -EINVAL with msg set. */
typedef int (*store_trunk_check_fn)(void *arg, const struct store_trunk *t, char *msg,
				    size_t len);
typedef int (*store_binding_cb)(void *arg, const struct store_binding *b);

/*
 * Open the store named by spec: "sqlite:PATH" or a plain PATH (SQLite).
 * The schema is created on first open. Returns 0, -EINVAL (unknown backend),
 * -EIO (cannot open or create; errmsg, if not NULL, receives the reason).
 */
int store_open(struct store **ret, const char *spec, char *errmsg, size_t errlen);
void store_close(struct store *s); /* NULL is a no-op */
/* The backend's last error message ("" if none). */
const char *store_errmsg(const struct store *s);

/* Subscribers. put: -EEXIST when it exists and !replace. */
int store_subscriber_put(struct store *s, const struct store_subscriber *sub, bool replace);
int store_subscriber_del(struct store *s, const char *username, const char *domain);
int store_subscriber_get(struct store *s, const char *username, const char *domain,
			 struct store_subscriber *out);
/* Calls cb for every subscriber (ordered by domain, username); a non-zero
 * return from cb stops the walk and is returned. */
int store_subscriber_each(struct store *s, store_subscriber_cb cb, void *arg);
int store_subscriber_count(struct store *s, uint64_t *count);
/* All rows or none: one transaction; an existing row is replaced. */
int store_subscriber_import(struct store *s, const struct store_subscriber *rows, size_t n);

/* Bindings: apply a batch of changes in one transaction. */
int store_binding_apply(struct store *s, const struct store_change *changes, size_t n);
int store_binding_each(struct store *s, store_binding_cb cb, void *arg);

/* Trunks. put: -EEXIST when it exists and !replace. */
int store_trunk_put(struct store *s, const struct store_trunk *t, bool replace);
int store_trunk_del(struct store *s, const char *name);
int store_trunk_get(struct store *s, const char *name, struct store_trunk *out);
/* Every trunk ordered by name; cb's non-zero return stops and is returned. */
int store_trunk_each(struct store *s, store_trunk_cb cb, void *arg);
/* All rows or none, in one transaction; existing names are replaced. */
int store_trunk_import(struct store *s, const struct store_trunk *rows, size_t n);
/*
 * Read a trunk CSV and import it all-or-nothing. The header is exactly
 * "name,registrar,proxy,transport,user,auth_user,password,domain,expire,retry_delay,enabled"
 * (registrar and proxy as host[:port]; empty proxy, auth_user, expire and
 * retry_delay take the defaults; expire is "auto" or seconds; enabled 0 or 1),
 * optionally followed by a twelfth column "primary" (0, 1, or empty = 0);
 * a file without it imports every trunk as not primary. Every row has as
 * many fields as the header. check (may be NULL) vets each row. Returns the
 * rows imported, or -EINVAL with err naming the first bad line, or the
 * store's error.
 */
long store_trunk_import_csv(struct store *s, FILE *in, store_trunk_check_fn check, void *arg,
			    char *err, size_t errlen);

/* Small named values (the nonce secret): get copies at most *len bytes and
 * sets *len to the stored size; -ENOENT when absent. */
int store_kv_get(struct store *s, const char *key, void *buf, size_t *len);
int store_kv_set(struct store *s, const char *key, const void *buf, size_t len);

/*
 * Read a subscriber CSV (header exactly "username,domain,password") and import
 * it all-or-nothing. Fields may be double-quoted ("" inside is a quote).
 * Returns the number of rows imported, or -EINVAL with err naming the first
 * bad line ("line 17: empty username"), or the store's error.
 */
long store_subscriber_import_csv(struct store *s, FILE *in, char *err, size_t errlen);

#endif /* SIPREG_STORE_H */
