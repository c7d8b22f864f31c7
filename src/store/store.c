/* SPDX-License-Identifier: MIT */
/*
 * store.c - the backend-neutral front of the store: argument checks, dispatch
 * to the backend, and the subscriber CSV import.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"

void store_set_error(struct store *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(s->errmsg, sizeof(s->errmsg), fmt, ap);
	va_end(ap);
}

int store_open(struct store **ret, const char *spec, char *errmsg, size_t errlen)
{
	const char *colon = strchr(spec, ':');

	if (colon && strncmp(spec, "sqlite:", 7) == 0)
		return store_sqlite_open(ret, spec + 7, errmsg, errlen);
	/* a scheme-like prefix other than sqlite: is an unknown backend;
	 * a plain path (even one with ':' after a '/') is SQLite */
	if (colon && !memchr(spec, '/', (size_t)(colon - spec))) {
		if (errmsg)
			snprintf(errmsg, errlen, "unknown store backend in '%s' (known: sqlite)",
				 spec);
		return -EINVAL;
	}
	return store_sqlite_open(ret, spec, errmsg, errlen);
}

void store_close(struct store *s)
{
	if (s)
		s->ops->close(s);
}

const char *store_errmsg(const struct store *s)
{
	return s->errmsg;
}

static bool name_ok(const char *v)
{
	size_t n = strnlen(v, STORE_NAME_MAX);

	if (n == 0 || n == STORE_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)v[i] <= ' ' || v[i] == '@' || v[i] == ',' || v[i] == 0x7f)
			return false;
	return true;
}

static bool hex_ok(const char *v, size_t want)
{
	size_t n = strlen(v);

	if (n == 0)
		return true;
	if (n != want)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((v[i] >= '0' && v[i] <= '9') || (v[i] >= 'a' && v[i] <= 'f')))
			return false;
	return true;
}

int store_subscriber_check(struct store *s, const struct store_subscriber *sub)
{
	if (!name_ok(sub->username)) {
		store_set_error(s, "bad username");
		return -EINVAL;
	}
	if (!name_ok(sub->domain)) {
		store_set_error(s, "bad domain");
		return -EINVAL;
	}
	if (strnlen(sub->password, STORE_SECRET_MAX) == STORE_SECRET_MAX ||
	    !hex_ok(sub->ha1_md5, 32) || !hex_ok(sub->ha1_sha256, 64)) {
		store_set_error(s, "bad password or HA1");
		return -EINVAL;
	}
	if (!sub->password[0] && !sub->ha1_md5[0] && !sub->ha1_sha256[0]) {
		store_set_error(s, "no password and no HA1");
		return -EINVAL;
	}
	return 0;
}

int store_subscriber_put(struct store *s, const struct store_subscriber *sub, bool replace)
{
	int r = store_subscriber_check(s, sub);

	return r ? r : s->ops->subscriber_put(s, sub, replace);
}

int store_subscriber_del(struct store *s, const char *username, const char *domain)
{
	return s->ops->subscriber_del(s, username, domain);
}

int store_subscriber_get(struct store *s, const char *username, const char *domain,
			 struct store_subscriber *out)
{
	return s->ops->subscriber_get(s, username, domain, out);
}

int store_subscriber_each(struct store *s, store_subscriber_cb cb, void *arg)
{
	return s->ops->subscriber_each(s, cb, arg);
}

int store_subscriber_count(struct store *s, uint64_t *count)
{
	return s->ops->subscriber_count(s, count);
}

int store_subscriber_import(struct store *s, const struct store_subscriber *rows, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int r = store_subscriber_check(s, &rows[i]);
		if (r)
			return r;
	}
	return s->ops->subscriber_import(s, rows, n);
}

int store_trunk_check(struct store *s, const struct store_trunk *t)
{
	size_t n = strnlen(t->name, sizeof(t->name));

	if (n == 0 || n == sizeof(t->name)) {
		store_set_error(s, "bad trunk name");
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		char c = t->name[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-')) {
			store_set_error(s, "bad trunk name '%s' (allowed: A-Z a-z 0-9 . _ -)", t->name);
			return -EINVAL;
		}
	}
	if (!t->registrar[0] || !t->user[0]) {
		store_set_error(s, "trunk %s: registrar and user are required", t->name);
		return -EINVAL;
	}
	return 0;
}

int store_trunk_put(struct store *s, const struct store_trunk *t, bool replace)
{
	int r = store_trunk_check(s, t);

	return r ? r : s->ops->trunk_put(s, t, replace);
}

int store_trunk_del(struct store *s, const char *name)
{
	return s->ops->trunk_del(s, name);
}

int store_trunk_get(struct store *s, const char *name, struct store_trunk *out)
{
	return s->ops->trunk_get(s, name, out);
}

int store_trunk_each(struct store *s, store_trunk_cb cb, void *arg)
{
	return s->ops->trunk_each(s, cb, arg);
}

int store_trunk_import(struct store *s, const struct store_trunk *rows, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int r = store_trunk_check(s, &rows[i]);
		if (r)
			return r;
	}
	return s->ops->trunk_import(s, rows, n);
}

int store_binding_apply(struct store *s, const struct store_change *changes, size_t n)
{
	/* n == 0 still reaches the backend: it opens its writer there (the
	 * journal, moving an older table's rows in), as the registrar asks at
	 * start-up */
	return s->ops->binding_apply(s, changes, n);
}

int store_binding_each(struct store *s, store_binding_cb cb, void *arg)
{
	return s->ops->binding_each(s, cb, arg);
}

int store_kv_get(struct store *s, const char *key, void *buf, size_t *len)
{
	return s->ops->kv_get(s, key, buf, len);
}

int store_kv_set(struct store *s, const char *key, const void *buf, size_t len)
{
	return s->ops->kv_set(s, key, buf, len);
}
