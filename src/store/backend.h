/* SPDX-License-Identifier: MIT */
/* backend.h - what a store backend implements (private to src/store/). */
#ifndef SIPREG_STORE_BACKEND_H
#define SIPREG_STORE_BACKEND_H

#include "sipreg/store.h"

struct store_ops {
	const char *name;
	void (*close)(struct store *s);
	int (*subscriber_put)(struct store *s, const struct store_subscriber *sub, bool replace);
	int (*subscriber_del)(struct store *s, const char *username, const char *domain);
	int (*subscriber_get)(struct store *s, const char *username, const char *domain,
			      struct store_subscriber *out);
	int (*subscriber_each)(struct store *s, store_subscriber_cb cb, void *arg);
	int (*subscriber_count)(struct store *s, uint64_t *count);
	int (*subscriber_import)(struct store *s, const struct store_subscriber *rows, size_t n);
	int (*trunk_put)(struct store *s, const struct store_trunk *t, bool replace);
	int (*trunk_del)(struct store *s, const char *name);
	int (*trunk_get)(struct store *s, const char *name, struct store_trunk *out);
	int (*trunk_each)(struct store *s, store_trunk_cb cb, void *arg);
	int (*trunk_import)(struct store *s, const struct store_trunk *rows, size_t n);
	int (*binding_apply)(struct store *s, const struct store_change *c, size_t n);
	int (*binding_each)(struct store *s, store_binding_cb cb, void *arg);
	int (*kv_get)(struct store *s, const char *key, void *buf, size_t *len);
	int (*kv_set)(struct store *s, const char *key, const void *buf, size_t len);
};

/* Embedded first in every backend's own struct. */
struct store {
	const struct store_ops *ops;
	char errmsg[256];
};

/* Checks names, password and HA1 fields; -EINVAL with the error set. */
int store_subscriber_check(struct store *s, const struct store_subscriber *sub);
/* Checks a trunk's name and the fields the store needs; -EINVAL with the
 * error set. */
int store_trunk_check(struct store *s, const struct store_trunk *t);
int store_sqlite_open(struct store **ret, const char *path, char *errmsg, size_t errlen);
void store_set_error(struct store *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3))); /* GCC/clang: checks the format */

#endif
