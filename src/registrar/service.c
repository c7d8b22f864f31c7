/* SPDX-License-Identifier: MIT */
/*
 * service.c - the registrar's tables, store and flusher thread, and its admin
 * routes (see regsvc.h).
 *
 * Threads and RCU: the workers are urcu-qsbr readers already. The flusher
 * and the admin thread register themselves on first use and stay offline
 * except while they touch the tables (an online qsbr thread that sleeps
 * would hold back every grace period).
 *
 * Store handles: one per thread that writes (the flusher's, the admin's);
 * SQLite's WAL lets them share the file.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <urcu/urcu-qsbr.h>
#include <urcu/uatomic.h>

#include "sipreg/admin.h"
#include "sipreg/clock.h"
#include "sipreg/log.h"
#include "sipreg/regsvc.h"

#define BATCH_MAX 512 /* binding changes per store transaction */

struct regsvc {
	struct store *store;       /* the flusher's (and start-up's) */
	struct store *admin_store; /* the admin thread's */
	pthread_mutex_t admin_lock;
	struct subscriber_table *subs;
	struct location *loc;
	struct guard *guard;
	struct nonce_ctx *nonce;
	struct registrar *reg;
	uint8_t key[SIPHASH_KEY_LEN];

	pthread_t flusher;
	bool started;
	bool stopping;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned int flush_interval; /* ms, atomic */

	struct store_change *batch; /* the flusher's */
	size_t nbatch;

	uint64_t flushed;      /* records written, atomic */
	uint64_t flush_errors; /* failed batches, atomic */
	uint64_t expired;      /* bindings expired, atomic */
	uint64_t restored;
	uint64_t dropped_stale;
};

/* ------------------------------------------------------------------------ */
/* RCU registration of the service's own threads                             */

static pthread_key_t rcu_key;
static pthread_once_t rcu_key_once = PTHREAD_ONCE_INIT;
static __thread bool rcu_registered;

static void rcu_thread_gone(void *unused)
{
	(void)unused;
	urcu_qsbr_thread_online(); /* unregistering wants an online thread */
	urcu_qsbr_unregister_thread();
}

static void rcu_key_make(void)
{
	pthread_key_create(&rcu_key, rcu_thread_gone);
}

/* Registers the calling thread on first use; online until rcu_leave(). */
static void rcu_enter(void)
{
	if (!rcu_registered) {
		pthread_once(&rcu_key_once, rcu_key_make);
		urcu_qsbr_register_thread();
		pthread_setspecific(rcu_key, (void *)1);
		rcu_registered = true;
		return;
	}
	urcu_qsbr_thread_online();
}

static void rcu_leave(void)
{
	urcu_qsbr_thread_offline();
}

/* ------------------------------------------------------------------------ */
/* Guard and location events                                                 */

static void on_guard(void *arg, enum guard_event ev, const struct guard_info *in)
{
	(void)arg;
	if (ev == GUARD_SUSPENDED)
		log_warn("suspended", "kind=%s account=%s address=%s",
			 in->kind == GUARD_ENDPOINT ? "endpoint" : "address", in->account,
			 in->address);
	else
		log_info("suspension_ended", "kind=%s account=%s address=%s",
			 in->kind == GUARD_ENDPOINT ? "endpoint" : "address", in->account,
			 in->address);
}

static void on_expired(void *arg, struct sip_str aor, const struct loc_view *b)
{
	struct regsvc *s = arg;

	uatomic_inc(&s->expired);
	log_debug("binding_expired", "aor=%.*s contact=%.*s", (int)aor.len, aor.p,
		  (int)b->uri.len, b->uri.p);
}

/* ------------------------------------------------------------------------ */
/* Persistence                                                               */

static int batch_apply(struct regsvc *s)
{
	int r = store_binding_apply(s->store, s->batch, s->nbatch);

	if (r < 0) {
		uatomic_inc(&s->flush_errors);
		log_error("bindings_write_failed", "changes=%zu error=\"%s\"", s->nbatch,
			  store_errmsg(s->store));
	}
	s->nbatch = 0;
	return r;
}

/* location_flush's room: the record's changes go straight into the batch
 * (a store_change is 2.4 KB, its strings ~150 bytes: copying each from the
 * flush's own array, strnlen and memcpy of seven strings, was a quarter of
 * the flusher's instructions per record). A full batch is applied first;
 * replace_all keeps a place for the STORE_BINDING_DEL_AOR that
 * write_record puts before the bindings. */
static int room_record(void *arg, size_t cap, bool replace_all, struct store_change **c)
{
	struct regsvc *s = arg;

	if (s->nbatch + 1 + cap > BATCH_MAX) {
		int r;
		/* SQLite offline: an online thread in a long write would hold
		 * back every grace period (and so the tables' resizes and the
		 * memory call_rcu frees); the records location_flush holds stay
		 * valid (location.h) */
		rcu_leave();
		r = batch_apply(s);
		rcu_enter();
		if (r < 0)
			return -EIO;
	}
	*c = &s->batch[s->nbatch + (replace_all ? 1 : 0)];
	return 0;
}

/* location_flush's writer, after room_record: the AOR's bindings replace
 * what the store has (replace_all), or are put over it (no binding was
 * dropped since the last write: one statement a binding instead of a
 * DELETE and the puts). c[0..n) are in the batch already. */
static int write_record(void *arg, const char *aor, const struct store_change *c, size_t n,
			bool replace_all)
{
	struct regsvc *s = arg;
	struct store_change *d = &s->batch[s->nbatch];

	if (c != d + (replace_all ? 1 : 0))
		return -EINVAL; /* not where room_record put them */
	if (replace_all) {
		size_t len = strnlen(aor, sizeof(d->b.aor) - 1);

		memset(&d->b, 0, sizeof(d->b));
		d->kind = STORE_BINDING_DEL_AOR;
		memcpy(d->b.aor, aor, len);
		s->nbatch++;
	}
	s->nbatch += n;
	return 0;
}

/* One flush on the calling thread (the flusher, or the main thread when
 * stopped). A failed batch is logged and counted; its records are written
 * again when they next change. */
static long flush_now(struct regsvc *s)
{
	long n;

	rcu_enter();
	n = location_flush(s->loc, clock_now_ms(), (int64_t)time(NULL), room_record, write_record,
			   s);
	rcu_leave();
	if (s->nbatch && batch_apply(s) < 0 && n >= 0)
		n = -EIO;
	if (n > 0)
		uatomic_add(&s->flushed, (uint64_t)n);
	return n;
}

long regsvc_flush(struct regsvc *s)
{
	return flush_now(s);
}

static void *flusher_main(void *arg)
{
	struct regsvc *s = arg;

	pthread_mutex_lock(&s->lock);
	while (!s->stopping) {
		struct timespec ts;
		unsigned int ms = uatomic_read(&s->flush_interval);
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += ms / 1000;
		ts.tv_nsec += (long)(ms % 1000) * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&s->cond, &s->lock, &ts);
		pthread_mutex_unlock(&s->lock);
		flush_now(s);
		pthread_mutex_lock(&s->lock);
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

/* ------------------------------------------------------------------------ */
/* Start-up                                                                  */

static int load_secret(struct regsvc *s, uint8_t secret[NONCE_SECRET_LEN], char *err,
		       size_t errlen)
{
	size_t len = NONCE_SECRET_LEN;
	int r = store_kv_get(s->store, "nonce_secret", secret, &len);

	if (r == 0 && len == NONCE_SECRET_LEN)
		return 0;
	if (r != 0 && r != -ENOENT) {
		snprintf(err, errlen, "database: %s", store_errmsg(s->store));
		return r;
	}
	if (getrandom(secret, NONCE_SECRET_LEN, 0) != NONCE_SECRET_LEN) {
		snprintf(err, errlen, "getrandom: %s", strerror(errno));
		return -EIO;
	}
	r = store_kv_set(s->store, "nonce_secret", secret, NONCE_SECRET_LEN);
	if (r)
		snprintf(err, errlen, "database: %s", store_errmsg(s->store));
	return r;
}

struct restore_ctx {
	struct regsvc *s;
	uint64_t now;
	int64_t wall;
};

static int restore_one(void *arg, const struct store_binding *b)
{
	struct restore_ctx *c = arg;
	int r = location_restore(c->s->loc, b, c->now, c->wall);

	/* let the location table's resizes complete while it fills */
	if ((c->s->restored + c->s->dropped_stale) % 1024 == 0)
		urcu_qsbr_quiescent_state();

	if (r == 0) {
		c->s->restored++;
	} else {
		/* expired while sipreg was down, or unusable: delete it */
		c->s->dropped_stale++;
		if (c->s->nbatch == BATCH_MAX)
			batch_apply(c->s);
		c->s->batch[c->s->nbatch].kind = STORE_BINDING_DEL;
		c->s->batch[c->s->nbatch].b = *b;
		c->s->nbatch++;
	}
	return 0;
}

static int tables_new(struct regsvc *s, const struct config *cfg, const uint8_t *secret)
{
	struct guard_config gc = {.retry = cfg->endpoint_register_retry,
				  .suspend_s = cfg->endpoint_register_suspend,
				  .address_retry = cfg->endpoint_address_retry};
	struct registrar_deps d;
	int r;

	if ((r = subscriber_table_new(&s->subs, s->key)) < 0 ||
	    (r = location_new(&s->loc, s->key, on_expired, s)) < 0 ||
	    (r = guard_new(&s->guard, &gc, s->key, on_guard, s)) < 0 ||
	    (r = nonce_new(&s->nonce, secret, 20, cfg->nonce_expire)) < 0)
		return r;
	d = (struct registrar_deps){.location = s->loc, .guard = s->guard, .nonce = s->nonce,
				    .subscribers = s->subs, .tag_key = s->key};
	return registrar_new(&s->reg, cfg, &d);
}

/* The store's rows that could not move into the bindings journal (kept in
 * the old table; store "bindings_unmoved": a count, then "AOR<TAB>why"
 * lines): each logged, never silently lost. */
static void log_unmoved(struct store *st)
{
	char *text = malloc(8192 + 1), *p, *nl;
	size_t len = 8192;

	if (!text)
		return;
	if (store_kv_get(st, "bindings_unmoved", text, &len) == 0) {
		text[len < 8192 ? len : 8192] = '\0';
		nl = strchr(text, '\n');
		log_warn("bindings_not_moved", "count=%.*s where=\"the old binding table\"",
			 nl ? (int)(nl - text) : (int)strlen(text), text);
		for (p = nl ? nl + 1 : NULL; p && *p; p = nl ? nl + 1 : NULL) {
			char *tab = strchr(p, '\t');
			nl = strchr(p, '\n');
			if (!tab || (nl && tab > nl))
				break;
			log_warn("binding_not_moved", "aor=%.*s reason=\"%.*s\"", (int)(tab - p), p,
				 nl ? (int)(nl - tab - 1) : (int)strlen(tab + 1), tab + 1);
		}
	}
	free(text);
}

int regsvc_new(struct regsvc **ret, const struct config *cfg, char *err, size_t errlen)
{
	struct regsvc *s = calloc(1, sizeof(*s));
	uint8_t secret[NONCE_SECRET_LEN];
	struct restore_ctx rc;
	long n;
	int r;

	if (!s)
		return -ENOMEM;
	pthread_mutex_init(&s->lock, NULL);
	pthread_mutex_init(&s->admin_lock, NULL);
	{
		/* the flusher's deadlines are CLOCK_MONOTONIC: so must the
		 * condition variable's clock be (its default is REALTIME, and a
		 * monotonic deadline is then long past: a busy loop) */
		pthread_condattr_t ca;
		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&s->cond, &ca);
		pthread_condattr_destroy(&ca);
	}
	s->flush_interval = cfg->database_flush_interval;
	s->batch = calloc(BATCH_MAX, sizeof(*s->batch));
	if (!s->batch || getrandom(s->key, sizeof(s->key), 0) != sizeof(s->key)) {
		r = -ENOMEM;
		snprintf(err, errlen, "out of memory or no randomness");
		goto fail;
	}
	r = store_open(&s->store, cfg->database_path, err, errlen);
	if (r == 0)
		r = store_open(&s->admin_store, cfg->database_path, err, errlen);
	if (r < 0)
		goto fail;
	r = load_secret(s, secret, err, errlen);
	if (r < 0)
		goto fail;
	r = tables_new(s, cfg, secret);
	if (r < 0) {
		snprintf(err, errlen, "registrar tables: %s", strerror(-r));
		goto fail;
	}
	rcu_enter();
	n = subscriber_table_load(s->subs, s->store);
	/* an AOR per subscriber fits without the location table growing
	 * under the workers (a growth holds their updates for the rehash) */
	if (n > 0 && location_reserve(s->loc, (size_t)n) < 0)
		log_warn("location_reserve_failed", "subscribers=%ld", n);
	rc = (struct restore_ctx){.s = s, .now = clock_now_ms(), .wall = (int64_t)time(NULL)};
	r = n < 0 ? (int)n : store_binding_each(s->store, restore_one, &rc);
	rcu_leave();
	/* even with nothing to delete: the store opens its writer now (the
	 * journal, where an older sipreg's bindings are moved in). Another
	 * process writing it (-EBUSY) stops the start only when there was
	 * something to write, as before this open: otherwise it is logged, the
	 * flusher tries again, and the daemon's own checks (another sipregd on
	 * the admin socket) name the conflict */
	if (r == 0) {
		size_t had = s->nbatch;
		r = batch_apply(s);
		if (r == -EBUSY && !had)
			r = 0;
	}
	if (r < 0) {
		snprintf(err, errlen, "database: %s", store_errmsg(s->store));
		goto fail;
	}
	log_unmoved(s->store);
	log_info("registrar_loaded", "subscribers=%ld bindings=%lu expired_dropped=%lu", n,
		 (unsigned long)s->restored, (unsigned long)s->dropped_stale);
	*ret = s;
	return 0;
fail:
	regsvc_free(s);
	return r;
}

int regsvc_start(struct regsvc *s)
{
	int r = pthread_create(&s->flusher, NULL, flusher_main, s);

	if (r)
		return -r;
	/* named, so that per-thread CPU (top -H, bench/compare-threads)
	 * tells the flusher from the main thread */
	pthread_setname_np(s->flusher, "sipreg-flush");
	s->started = true;
	return 0;
}

void regsvc_stop(struct regsvc *s)
{
	if (s->started) {
		pthread_mutex_lock(&s->lock);
		s->stopping = true;
		pthread_cond_signal(&s->cond);
		pthread_mutex_unlock(&s->lock);
		pthread_join(s->flusher, NULL);
		s->started = false;
	}
	flush_now(s);
}

void regsvc_free(struct regsvc *s)
{
	if (!s)
		return;
	registrar_free(s->reg);
	rcu_enter();
	subscriber_table_free(s->subs);
	location_free(s->loc);
	guard_free(s->guard);
	rcu_leave();
	/* the tables' call_rcu callbacks must run before their memory goes */
	urcu_qsbr_barrier();
	nonce_free(s->nonce);
	store_close(s->store);
	store_close(s->admin_store);
	free(s->batch);
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->lock);
	pthread_mutex_destroy(&s->admin_lock);
	free(s);
}

struct registrar *regsvc_registrar(struct regsvc *s)
{
	return s->reg;
}

void regsvc_set_config(struct regsvc *s, const struct config *cfg)
{
	struct guard_config gc = {.retry = cfg->endpoint_register_retry,
				  .suspend_s = cfg->endpoint_register_suspend,
				  .address_retry = cfg->endpoint_address_retry};

	registrar_set_config(s->reg, cfg);
	guard_set_config(s->guard, &gc);
	nonce_set_expire(s->nonce, cfg->nonce_expire);
	uatomic_set(&s->flush_interval, cfg->database_flush_interval);
}

uint64_t regsvc_advance(struct regsvc *s, uint64_t now)
{
	uint64_t a = location_advance(s->loc, now), b = guard_advance(s->guard, now);

	return a < b ? a : b;
}

void regsvc_status(struct regsvc *s, json_t *status)
{
	uint64_t recs, binds;
	struct guard_stats g;

	location_counts(s->loc, &recs, &binds);
	guard_stats(s->guard, &g);
	json_object_set_new(
		status, "registrar",
		json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "subscribers",
			  (json_int_t)subscriber_table_count(s->subs), "aors", (json_int_t)recs,
			  "bindings", (json_int_t)binds, "bindings_expired",
			  (json_int_t)uatomic_read(&s->expired), "records_flushed",
			  (json_int_t)uatomic_read(&s->flushed), "flush_errors",
			  (json_int_t)uatomic_read(&s->flush_errors), "suspended",
			  (json_int_t)g.suspended, "suspensions_total", (json_int_t)g.suspensions,
			  "auth_failures_counted", (json_int_t)g.failures));
}

/* ------------------------------------------------------------------------ */
/* Admin routes (the admin thread)                                           */

/* Splits "user@domain" at its last '@'. */
static bool split_aor(const char *s, struct sip_str *user, struct sip_str *domain)
{
	const char *at = strrchr(s, '@');

	if (!at || at == s || !at[1])
		return false;
	*user = sip_str_make(s, (size_t)(at - s));
	*domain = sip_str_make(at + 1, strlen(at + 1));
	return true;
}

static json_t *subscriber_json(const struct store_subscriber *sub)
{
	return json_pack("{s:s, s:s, s:b, s:i, s:b, s:b, s:b}", "username", sub->username,
			 "domain", sub->domain, "enabled", sub->enabled, "max_contacts",
			 (int)sub->max_contacts, "has_password", sub->password[0] != '\0',
			 "has_ha1_md5", sub->ha1_md5[0] != '\0', "has_ha1_sha256",
			 sub->ha1_sha256[0] != '\0');
}

static int list_one(void *arg, const struct store_subscriber *sub)
{
	return json_array_append_new(arg, subscriber_json(sub));
}

static int h_sub_list(const struct admin_request *req, json_t **reply, void *arg)
{
	struct regsvc *s = arg;
	json_t *a = json_array();
	int r;

	(void)req;
	pthread_mutex_lock(&s->admin_lock);
	r = store_subscriber_each(s->admin_store, list_one, a);
	pthread_mutex_unlock(&s->admin_lock);
	if (r < 0) {
		json_decref(a);
		*reply = admin_error("database: %s", store_errmsg(s->admin_store));
		return 500;
	}
	*reply = json_pack("{s:o}", "subscribers", a);
	return 200;
}

static bool copy_field(char *dst, size_t cap, json_t *body, const char *name)
{
	const char *v = json_string_value(json_object_get(body, name));

	if (!v)
		return json_object_get(body, name) == NULL;
	if (strlen(v) >= cap)
		return false;
	strcpy(dst, v);
	return true;
}

static int h_sub_add(const struct admin_request *req, json_t **reply, void *arg)
{
	struct regsvc *s = arg;
	struct store_subscriber sub = {.enabled = true};
	json_t *b = req->body, *en, *mc;
	bool replace;
	int r;

	if (!json_is_object(b) || !copy_field(sub.username, sizeof(sub.username), b, "username") ||
	    !copy_field(sub.domain, sizeof(sub.domain), b, "domain") ||
	    !copy_field(sub.password, sizeof(sub.password), b, "password") ||
	    !copy_field(sub.ha1_md5, sizeof(sub.ha1_md5), b, "ha1_md5") ||
	    !copy_field(sub.ha1_sha256, sizeof(sub.ha1_sha256), b, "ha1_sha256")) {
		*reply = admin_error("expected {\"username\", \"domain\", \"password\" or "
				     "\"ha1_md5\"/\"ha1_sha256\"} as strings");
		return 400;
	}
	en = json_object_get(b, "enabled");
	mc = json_object_get(b, "max_contacts");
	if ((en && !json_is_boolean(en)) ||
	    (mc && (!json_is_integer(mc) || json_integer_value(mc) < 0 ||
		    json_integer_value(mc) > LOCATION_MAX_BINDINGS))) {
		*reply = admin_error("enabled must be a boolean, max_contacts 0-%d",
				     LOCATION_MAX_BINDINGS);
		return 400;
	}
	sub.enabled = en ? json_is_true(en) : true;
	sub.max_contacts = mc ? (unsigned int)json_integer_value(mc) : 0;
	replace = json_is_true(json_object_get(b, "replace"));
	pthread_mutex_lock(&s->admin_lock);
	r = store_subscriber_put(s->admin_store, &sub, replace);
	if (r == 0) {
		rcu_enter();
		r = subscriber_table_put(s->subs, &sub);
		rcu_leave();
	}
	if (r == -EEXIST)
		*reply = admin_error("%s@%s exists (use replace)", sub.username, sub.domain);
	else if (r < 0)
		*reply = admin_error("%s", r == -EINVAL ? store_errmsg(s->admin_store)
							 : strerror(-r));
	pthread_mutex_unlock(&s->admin_lock);
	if (r == 0)
		*reply = subscriber_json(&sub);
	return r == 0 ? 201 : r == -EEXIST ? 409 : r == -EINVAL ? 400 : 500;
}

static int h_sub_one(const struct admin_request *req, json_t **reply, void *arg)
{
	struct regsvc *s = arg;
	struct store_subscriber sub;
	struct sip_str user, domain;
	char u[STORE_NAME_MAX], d[STORE_NAME_MAX];
	int r;

	if (!split_aor(req->rest, &user, &domain) || user.len >= sizeof(u) ||
	    domain.len >= sizeof(d)) {
		*reply = admin_error("expected /subscribers/USER@DOMAIN");
		return 400;
	}
	snprintf(u, sizeof(u), "%.*s", (int)user.len, user.p);
	snprintf(d, sizeof(d), "%.*s", (int)domain.len, domain.p);
	pthread_mutex_lock(&s->admin_lock);
	if (strcmp(req->method, "DELETE") == 0) {
		r = store_subscriber_del(s->admin_store, u, d);
		if (r == 0) {
			rcu_enter();
			subscriber_table_del(s->subs, user, domain);
			rcu_leave();
			*reply = json_pack("{s:s}", "deleted", req->rest);
		}
	} else {
		r = store_subscriber_get(s->admin_store, u, d, &sub);
		if (r == 0)
			*reply = subscriber_json(&sub);
	}
	pthread_mutex_unlock(&s->admin_lock);
	if (r == -ENOENT) {
		*reply = admin_error("no subscriber %s", req->rest);
		return 404;
	}
	if (r < 0) {
		*reply = admin_error("database: %s", store_errmsg(s->admin_store));
		return 500;
	}
	return 200;
}

struct sub_loader {
	struct regsvc *s;
	size_t n;
	int err;
};

/* Puts one stored subscriber into the table. Every 1024 puts the thread
 * announces a quiescent state: the table's resize waits for a grace period, and an
 * import that stayed online would keep the table at its old size while
 * filling it (measured: 400k rows into 300k took 34 s, quadratically). */
static int reload_one(void *arg, const struct store_subscriber *sub)
{
	struct sub_loader *l = arg;

	l->err = subscriber_table_put(l->s->subs, sub);
	if (++l->n % 1024 == 0)
		urcu_qsbr_quiescent_state();
	return l->err;
}

static int h_sub_import(const struct admin_request *req, json_t **reply, void *arg)
{
	struct regsvc *s = arg;
	const char *csv = json_string_value(json_object_get(req->body, "csv"));
	char err[256] = "";
	struct sub_loader l = {.s = s};
	FILE *f;
	long n;

	if (!csv) {
		*reply = admin_error("expected {\"csv\": \"username,domain,password\\n...\"}");
		return 400;
	}
	f = fmemopen((void *)csv, strlen(csv), "r");
	if (!f)
		return -errno;
	pthread_mutex_lock(&s->admin_lock);
	n = store_subscriber_import_csv(s->admin_store, f, err, sizeof(err));
	if (n >= 0) {
		/* the table follows the store: everything it now holds */
		rcu_enter();
		store_subscriber_each(s->admin_store, reload_one, &l);
		if (location_reserve(s->loc, (size_t)subscriber_table_count(s->subs)) < 0)
			log_warn("location_reserve_failed", "subscribers=%lu",
				 (unsigned long)subscriber_table_count(s->subs));
		rcu_leave();
	}
	pthread_mutex_unlock(&s->admin_lock);
	fclose(f);
	if (n < 0) {
		*reply = admin_error("%s", err);
		return n == -EINVAL || n == -E2BIG ? 400 : 500;
	}
	log_info("subscribers_imported", "rows=%ld", n);
	*reply = json_pack("{s:I}", "imported", (json_int_t)n);
	return 200;
}

static void addr_text(const struct sockaddr_storage *ss, char *buf, size_t cap)
{
	char ip[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const void *)ss;
		inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip));
		port = ntohs(s4->sin_port);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)ss;
		inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip));
		port = ntohs(s6->sin6_port);
	}
	snprintf(buf, cap, ss->ss_family == AF_INET6 ? "[%s]:%u" : "%s:%u", ip, port);
}

static json_t *str_json(struct sip_str s)
{
	return json_stringn(s.p ? s.p : "", s.len);
}

struct bind_list {
	json_t *a;
	uint64_t now;
};

static int bindings_json(void *arg, struct sip_str aor, const struct loc_view *b, size_t n)
{
	struct bind_list *bl = arg;
	char rcv[64];

	for (size_t i = 0; i < n; i++) {
		addr_text(&b[i].received, rcv, sizeof(rcv));
		json_array_append_new(
			bl->a,
			json_pack("{s:o, s:o, s:I, s:s, s:s, s:b, s:o, s:i, s:o, s:o, s:I, s:f}",
				  "aor", str_json(aor), "contact", str_json(b[i].uri), "expires",
				  (json_int_t)((b[i].expires - bl->now + 999) / 1000), "received",
				  rcv, "transport", b[i].transport == LOC_TCP ? "tcp" : "udp", "nat",
				  b[i].nat, "instance", str_json(b[i].instance), "reg_id",
				  (int)b[i].reg_id, "user_agent", str_json(b[i].user_agent),
				  "call_id", str_json(b[i].call_id), "cseq", (json_int_t)b[i].cseq,
				  "q", b[i].q / 1000.0));
	}
	return 0;
}

static int h_bindings(const struct admin_request *req, json_t **reply, void *arg)
{
	struct regsvc *s = arg;
	const char *aor = req->rest[0] ? req->rest : admin_request_arg(req, "aor");
	struct bind_list bl = {.a = json_array(), .now = clock_now_ms()};
	struct loc_view v[LOCATION_MAX_BINDINGS];

	rcu_enter();
	if (aor && aor[0]) {
		size_t n = location_lookup(s->loc, sip_str_make(aor, strlen(aor)), bl.now, v,
					   LOCATION_MAX_BINDINGS);
		bindings_json(&bl, sip_str_make(aor, strlen(aor)), v, n);
	} else {
		location_each(s->loc, bl.now, bindings_json, &bl);
	}
	rcu_leave();
	*reply = json_pack("{s:o}", "bindings", bl.a);
	return 200;
}

static int h_bindings_del(const struct admin_request *req, json_t **reply, void *arg)
{
	struct regsvc *s = arg;
	int r;

	rcu_enter();
	r = location_remove(s->loc, sip_str_make(req->rest, strlen(req->rest)));
	rcu_leave();
	if (r) {
		*reply = admin_error("no bindings for %s", req->rest);
		return 404;
	}
	*reply = json_pack("{s:s}", "removed", req->rest);
	return 200;
}

static int guard_json(void *arg, const struct guard_info *in)
{
	uint64_t now = clock_now_ms();
	char key[GUARD_ACCOUNT_MAX + 64];

	snprintf(key, sizeof(key), "%s%s%s", in->account, in->account[0] ? "@" : "",
		 in->address);
	return json_array_append_new(
		arg, json_pack("{s:s, s:s, s:s, s:s, s:i, s:b, s:I}", "key", key, "kind",
			       in->kind == GUARD_ENDPOINT ? "endpoint" : "address", "account",
			       in->account, "address", in->address, "failures", (int)in->failures,
			       "suspended", in->suspended_until > now, "suspended_for",
			       (json_int_t)(in->suspended_until > now
						    ? (in->suspended_until - now + 999) / 1000
						    : 0)));
}

static int h_guard(const struct admin_request *req, json_t **reply, void *arg)
{
	struct regsvc *s = arg;
	json_t *a = json_array();

	(void)req;
	rcu_enter();
	guard_each(s->guard, guard_json, a);
	rcu_leave();
	*reply = json_pack("{s:o}", "entries", a);
	return 200;
}

/* KEY is ADDRESS (an address entry) or ACCOUNT@ADDRESS (an endpoint). */
static int h_guard_clear(const struct admin_request *req, json_t **reply, void *arg)
{
	struct regsvc *s = arg;
	const char *key = req->rest, *at = strrchr(key, '@');
	const char *ip = at ? at + 1 : key;
	struct sockaddr_storage ss = {0};
	int r;

	if (inet_pton(AF_INET, ip, &((struct sockaddr_in *)&ss)->sin_addr) == 1) {
		ss.ss_family = AF_INET;
	} else if (inet_pton(AF_INET6, ip, &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1) {
		ss.ss_family = AF_INET6;
	} else {
		*reply = admin_error("expected /guard/ADDRESS or /guard/ACCOUNT@ADDRESS");
		return 400;
	}
	rcu_enter();
	r = guard_clear(s->guard, at ? GUARD_ENDPOINT : GUARD_ADDRESS,
			sip_str_make(key, at ? (size_t)(at - key) : 0),
			(struct sockaddr *)&ss);
	rcu_leave();
	if (r) {
		*reply = admin_error("no guard entry %s", key);
		return 404;
	}
	log_info("guard_cleared", "key=%s", key);
	*reply = json_pack("{s:s}", "cleared", key);
	return 200;
}

int regsvc_admin_routes(struct regsvc *s, struct admin *adm)
{
	int r = 0;

	r = r ? r : admin_route_add(adm, "GET", "/subscribers", 0, h_sub_list, s);
	r = r ? r : admin_route_add(adm, "POST", "/subscribers", 0, h_sub_add, s);
	r = r ? r : admin_route_add(adm, "POST", "/subscribers/import",
				    ADMIN_ROUTE_LARGE_BODY, h_sub_import, s);
	r = r ? r : admin_route_add(adm, "GET", "/subscribers/", ADMIN_ROUTE_PREFIX, h_sub_one, s);
	r = r ? r : admin_route_add(adm, "DELETE", "/subscribers/", ADMIN_ROUTE_PREFIX, h_sub_one,
				    s);
	r = r ? r : admin_route_add(adm, "GET", "/bindings", 0, h_bindings, s);
	r = r ? r : admin_route_add(adm, "GET", "/bindings/", ADMIN_ROUTE_PREFIX, h_bindings, s);
	r = r ? r : admin_route_add(adm, "DELETE", "/bindings/", ADMIN_ROUTE_PREFIX,
				    h_bindings_del, s);
	r = r ? r : admin_route_add(adm, "GET", "/guard", 0, h_guard, s);
	r = r ? r : admin_route_add(adm, "DELETE", "/guard/", ADMIN_ROUTE_PREFIX, h_guard_clear,
				    s);
	return r;
}
