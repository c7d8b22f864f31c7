/* SPDX-License-Identifier: MIT */
/*
 * service.c - trunks as a daemon service (see trunksvc.h): the store's
 * trunks handed to their owner workers' struct ua, and the admin routes that
 * reach them through the per-worker mailboxes.
 *
 * The admin thread never touches a struct ua: every change and every status
 * read is a job run on the owner worker (ua_mailbox_call), bounded by
 * CALL_TIMEOUT_MS so that a stuck worker cannot hang the admin API.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "sipreg/admin.h"
#include "sipreg/clock.h"
#include "sipreg/log.h"
#include "sipreg/siphash.h"
#include "sipreg/trunksvc.h"

#define CALL_TIMEOUT_MS 2000u
#define HOST_MAX 256

struct trunksvc {
	unsigned int workers;
	struct ua **ua;            /* per worker, set by attach */
	struct ua_mailbox **mb;    /* per worker */
	struct ua_resolver *resolver;
	struct store *store;       /* the admin thread's (and start-up's) */
	pthread_mutex_t lock;      /* the store handle and settings */
	struct ua_settings settings;
	unsigned int start_rate;
	uint8_t key[SIPHASH_KEY_LEN];
};

/* ------------------------------------------------------------------------ */
/* Conversions                                                               */

int trunksvc_config_of(const struct store_trunk *t, struct ua_trunk_config *c, char *host,
		       size_t hostcap, char *proxy, size_t proxycap, struct ua_error *err)
{
	memset(c, 0, sizeof(*c));
	c->name = t->name;
	c->user = t->user;
	c->auth_user = t->auth_user;
	c->password = t->password;
	c->domain = t->domain;
	c->realm = t->realm;
	c->contact_user = t->contact_user;
	c->enabled = t->enabled;
	c->primary = t->primary;
	c->registrar = host;
	c->proxy = proxy;
	proxy[0] = '\0';
	if (ua_hostport_parse(t->registrar, host, hostcap, &c->registrar_port) < 0) {
		snprintf(err->msg, sizeof(err->msg), "registrar: '%s' is not host[:port]",
			 t->registrar);
		return -EINVAL;
	}
	if (t->proxy[0] && ua_hostport_parse(t->proxy, proxy, proxycap, &c->proxy_port) < 0) {
		snprintf(err->msg, sizeof(err->msg), "proxy: '%s' is not host[:port]", t->proxy);
		return -EINVAL;
	}
	if (ua_transport_parse(t->transport[0] ? t->transport : "udp", &c->transport) < 0) {
		snprintf(err->msg, sizeof(err->msg), "transport: '%s' (allowed: udp, tcp)",
			 t->transport);
		return -EINVAL;
	}
	c->expire = UA_EXPIRE_GLOBAL;
	if (t->expire[0] && ua_expire_parse(t->expire, &c->expire) < 0) {
		snprintf(err->msg, sizeof(err->msg), "expire: '%s' (allowed: auto, 20-7200)",
			 t->expire);
		return -EINVAL;
	}
	c->retry_delay = UA_RETRY_GLOBAL;
	if (t->retry_delay[0] && ua_retry_parse(t->retry_delay, &c->retry_delay) < 0) {
		snprintf(err->msg, sizeof(err->msg), "retry_delay: '%s' (allowed: 30-600)",
			 t->retry_delay);
		return -EINVAL;
	}
	return ua_trunk_config_validate(c, err);
}

/* The names an import brought, to apply once the store has them all. */
struct name_list {
	char (*name)[64];
	size_t n, cap;
};

/* The CSV import's row check; arg, when not NULL, collects the names. */
static int check_row(void *arg, const struct store_trunk *t, char *msg, size_t len)
{
	struct name_list *l = arg;
	struct ua_trunk_config c;
	struct ua_error e;
	char host[HOST_MAX], proxy[HOST_MAX];

	if (trunksvc_config_of(t, &c, host, sizeof(host), proxy, sizeof(proxy), &e) < 0) {
		snprintf(msg, len, "%s", e.msg);
		return -EINVAL;
	}
	if (l) {
		if (l->n == l->cap) {
			size_t ncap = l->cap ? 2 * l->cap : 1024;
			char (*g)[64] = realloc(l->name, ncap * sizeof(*g));
			if (!g) {
				snprintf(msg, len, "out of memory");
				return -EINVAL;
			}
			l->name = g;
			l->cap = ncap;
		}
		memcpy(l->name[l->n++], t->name, sizeof(t->name));
	}
	return 0;
}

unsigned int trunksvc_owner(const struct trunksvc *s, const char *name)
{
	return (unsigned int)(siphash24(s->key, name, strlen(name)) % s->workers);
}

/* ------------------------------------------------------------------------ */
/* Jobs run on the owner worker                                              */

enum trunk_op { OP_ADD, OP_SET, OP_DEL, OP_ENABLE, OP_DISABLE, OP_REFRESH, OP_STATUS };

struct trunk_job {
	enum trunk_op op;
	const struct store_trunk *t; /* OP_ADD, OP_SET */
	const char *name;
	bool hold;
	int result;
	struct ua_error err;
	struct ua_trunk_status status;
};

static void run_trunk_job(struct ua *ua, void *arg)
{
	struct trunk_job *j = arg;
	struct ua_trunk_config c;
	char host[HOST_MAX], proxy[HOST_MAX];

	j->err.msg[0] = '\0';
	switch (j->op) {
	case OP_ADD:
	case OP_SET:
		j->result = trunksvc_config_of(j->t, &c, host, sizeof(host), proxy, sizeof(proxy),
					       &j->err);
		if (j->result == 0)
			j->result = j->op == OP_ADD ? ua_trunk_add(ua, &c, j->hold, &j->err)
						    : ua_trunk_set(ua, &c, &j->err);
		break;
	case OP_DEL:
		j->result = ua_trunk_del(ua, j->name);
		break;
	case OP_ENABLE:
		j->result = ua_trunk_enable(ua, j->name);
		break;
	case OP_DISABLE:
		j->result = ua_trunk_disable(ua, j->name);
		break;
	case OP_REFRESH:
		j->result = ua_trunk_refresh(ua, j->name);
		break;
	case OP_STATUS:
		j->result = ua_trunk_get_status(ua, j->name, &j->status);
		break;
	}
}

/* Runs j on the trunk's owner; returns the job's result or the mailbox's. */
static int on_owner(struct trunksvc *s, struct trunk_job *j)
{
	const char *name = j->t ? j->t->name : j->name;
	unsigned int w = trunksvc_owner(s, name);
	int r;

	if (!s->mb[w])
		return -ESHUTDOWN;
	r = ua_mailbox_call(s->mb[w], run_trunk_job, j, CALL_TIMEOUT_MS);
	return r < 0 ? r : j->result;
}

/* ------------------------------------------------------------------------ */
/* Life cycle                                                                */

static void on_notice(void *arg, const struct ua_notice *n)
{
	(void)arg;
	switch (n->kind) {
	case UA_NOTICE_STATE:
		if (n->routine)
			log_debug("trunk_state", "trunk=%s old=%s new=%s reason=\"%s\"", n->trunk,
				  ua_state_name(n->old_state), ua_state_name(n->new_state),
				  n->reason ? n->reason : "");
		else
			log_info("trunk_state", "trunk=%s old=%s new=%s reason=\"%s\"", n->trunk,
				 ua_state_name(n->old_state), ua_state_name(n->new_state),
				 n->reason ? n->reason : "");
		break;
	case UA_NOTICE_INTERVAL_TOO_BRIEF:
		log_warn("trunk_interval_too_brief", "trunk=%s asked=%u min_expires=%u", n->trunk,
			 n->value, n->value2);
		break;
	case UA_NOTICE_RETRY_AFTER:
		log_warn("trunk_retry_after", "trunk=%s retry_delay=%u retry_after=%u", n->trunk,
			 n->value, n->value2);
		break;
	case UA_NOTICE_SHUTDOWN_DONE:
		/* once per worker; sent = answered + unanswered */
		if (n->value3)
			log_warn("trunks_unregister_skipped",
			         "sent=%u answered=%u unanswered=%u not_sent=%u "
			         "reason=\"%s\"",
			         n->value + n->value2, n->value, n->value2, n->value3,
			         n->reason ? n->reason : "");
		else
			log_info("trunks_unregistered",
			         "sent=%u answered=%u unanswered=%u not_sent=0 "
			         "reason=\"%s\"",
			         n->value + n->value2, n->value, n->value2,
			         n->reason ? n->reason : "");
		break;
	}
}

int trunksvc_new(struct trunksvc **ret, const struct config *cfg, unsigned int workers,
		 char *err, size_t errlen)
{
	struct trunksvc *s = calloc(1, sizeof(*s));
	int r = -ENOMEM;

	if (!s || workers == 0)
		goto fail;
	s->workers = workers;
	s->ua = calloc(workers, sizeof(*s->ua));
	s->mb = calloc(workers, sizeof(*s->mb));
	if (!s->ua || !s->mb || getrandom(s->key, sizeof(s->key), 0) != sizeof(s->key))
		goto fail;
	pthread_mutex_init(&s->lock, NULL);
	ua_settings_from_config(&s->settings, cfg);
	s->start_rate = cfg->ua_start_rate;
	r = store_open(&s->store, cfg->database_path, err, errlen);
	if (r < 0)
		goto fail;
	r = ua_resolver_new(&s->resolver, ua_mailbox_deliver_resolved, s->mb);
	if (r < 0) {
		snprintf(err, errlen, "resolver: %s", strerror(-r));
		goto fail;
	}
	*ret = s;
	return 0;
fail:
	if (r == -ENOMEM)
		snprintf(err, errlen, "trunks: out of memory");
	trunksvc_free(s);
	return r;
}

int trunksvc_attach(struct trunksvc *s, unsigned int worker, const struct trunksvc_worker *w)
{
	struct ua_opts o = {
		.worker = worker,
		.wheel = w->wheel,
		.tx = w->tx,
		.local_host = w->local_host,
		.local_port_udp = w->local_port_udp,
		.local_port_tcp = w->local_port_tcp,
		.dest = w->dest,
		.dest_arg = w->dest_arg,
		.resolve = ua_resolver_submit,
		.resolve_arg = s->resolver,
		.notify = on_notice,
		.notify_arg = s,
		.start_rate = s->start_rate,
	};
	int r;

	if (worker >= s->workers)
		return -EINVAL;
	pthread_mutex_lock(&s->lock);
	o.settings = s->settings;
	pthread_mutex_unlock(&s->lock);
	r = ua_new(&s->ua[worker], &o);
	if (r < 0)
		return r;
	r = ua_mailbox_new(&s->mb[worker], s->ua[worker], w->loop);
	if (r < 0) {
		ua_free(s->ua[worker]);
		s->ua[worker] = NULL;
	}
	return r;
}

static void start_all(struct ua *ua, void *arg)
{
	*(size_t *)arg += ua_start_all(ua);
}

struct load_ctx {
	struct trunksvc *s;
	size_t loaded, refused;
};

static int load_one(void *arg, const struct store_trunk *t)
{
	struct load_ctx *c = arg;
	struct trunk_job j = {.op = OP_ADD, .t = t, .hold = true};
	int r = on_owner(c->s, &j);

	if (r == 0) {
		c->loaded++;
	} else {
		c->refused++;
		log_error("trunk_not_loaded", "trunk=%s error=\"%s\"", t->name,
			  j.err.msg[0] ? j.err.msg : strerror(-r));
	}
	return 0;
}

int trunksvc_start(struct trunksvc *s)
{
	struct load_ctx c = {.s = s};
	size_t started = 0;
	int r;

	pthread_mutex_lock(&s->lock);
	r = store_trunk_each(s->store, load_one, &c);
	pthread_mutex_unlock(&s->lock);
	if (r < 0)
		return r;
	for (unsigned int i = 0; i < s->workers; i++)
		if (s->mb[i])
			ua_mailbox_call(s->mb[i], start_all, &started, CALL_TIMEOUT_MS);
	log_info("trunks_loaded", "trunks=%zu refused=%zu starting=%zu", c.loaded, c.refused,
		 started);
	return 0;
}

struct shutdown_job {
	unsigned int bound;
	bool done;
};

static void shutdown_begin(struct ua *ua, void *arg)
{
	struct shutdown_job *j = arg;

	ua_shutdown(ua, j->bound);
}

static void shutdown_poll(struct ua *ua, void *arg)
{
	struct shutdown_job *j = arg;

	j->done = ua_shutdown_done(ua);
}

int trunksvc_shutdown(struct trunksvc *s, unsigned int bound_ms)
{
	/* each worker's bound counts from its shutdown_begin() (one slice of
	 * the walk, the rest from its wheel): a little grace here so that the
	 * workers' own bound timers end it, not this wait */
	uint64_t deadline = clock_now_ms() + bound_ms + 250;
	struct shutdown_job j = {.bound = bound_ms};
	bool all;

	for (unsigned int i = 0; i < s->workers; i++)
		if (s->mb[i])
			ua_mailbox_call(s->mb[i], shutdown_begin, &j, CALL_TIMEOUT_MS);
	do {
		all = true;
		for (unsigned int i = 0; i < s->workers && all; i++) {
			j.done = true;
			if (s->mb[i])
				ua_mailbox_call(s->mb[i], shutdown_poll, &j, CALL_TIMEOUT_MS);
			all = j.done;
		}
		if (!all) {
			struct timespec ts = {.tv_nsec = 20 * 1000000L};
			nanosleep(&ts, NULL);
		}
	} while (!all && clock_now_ms() < deadline);
	return all ? 0 : -ETIMEDOUT;
}

void trunksvc_detach_all(struct trunksvc *s)
{
	/* the resolver delivers into the mailboxes: it goes first */
	ua_resolver_free(s->resolver);
	s->resolver = NULL;
	for (unsigned int i = 0; s->mb && i < s->workers; i++) {
		ua_mailbox_free(s->mb[i]);
		s->mb[i] = NULL;
		ua_free(s->ua[i]);
		s->ua[i] = NULL;
	}
}

void trunksvc_free(struct trunksvc *s)
{
	if (!s)
		return;
	trunksvc_detach_all(s);
	store_close(s->store);
	if (s->ua)
		pthread_mutex_destroy(&s->lock);
	free(s->ua);
	free(s->mb);
	free(s);
}

struct settings_job {
	const struct ua_settings *settings;
};

static void apply_settings(struct ua *ua, void *arg)
{
	ua_set_settings(ua, ((struct settings_job *)arg)->settings);
}

void trunksvc_set_config(struct trunksvc *s, const struct config *cfg)
{
	struct settings_job j = {.settings = &s->settings};

	pthread_mutex_lock(&s->lock);
	ua_settings_from_config(&s->settings, cfg);
	for (unsigned int i = 0; i < s->workers; i++)
		if (s->mb[i])
			ua_mailbox_call(s->mb[i], apply_settings, &j, CALL_TIMEOUT_MS);
	pthread_mutex_unlock(&s->lock);
}

/* ------------------------------------------------------------------------ */
/* Status                                                                    */

struct count_job {
	size_t counts[UA_STATE__COUNT];
	struct ua_stats stats;
};

static void count_states(struct ua *ua, void *arg)
{
	struct count_job *j = arg;
	size_t c[UA_STATE__COUNT];
	struct ua_stats st;

	ua_counts(ua, c);
	ua_stats_get(ua, &st);
	for (int i = 0; i < UA_STATE__COUNT; i++)
		j->counts[i] += c[i];
	j->stats.registers_sent += st.registers_sent;
	j->stats.unregisters_sent += st.unregisters_sent;
	j->stats.challenges += st.challenges;
	j->stats.failures += st.failures;
	j->stats.successes += st.successes;
	j->stats.late_refreshes += st.late_refreshes;
}

void trunksvc_status(struct trunksvc *s, json_t *status)
{
	struct count_job j = {0};
	json_t *by = json_object();
	size_t total = 0;

	for (unsigned int i = 0; i < s->workers; i++)
		if (s->mb[i])
			ua_mailbox_call(s->mb[i], count_states, &j, CALL_TIMEOUT_MS);
	for (int i = 0; i < UA_STATE__COUNT; i++) {
		json_object_set_new(by, ua_state_name((enum ua_state)i), json_integer((json_int_t)j.counts[i]));
		total += j.counts[i];
	}
	json_object_set_new(
		status, "trunks",
		json_pack("{s:I, s:o, s:I, s:I, s:I, s:I, s:I, s:I}", "total", (json_int_t)total,
			  "by_state", by, "registers_sent", (json_int_t)j.stats.registers_sent,
			  "unregisters_sent", (json_int_t)j.stats.unregisters_sent, "challenges",
			  (json_int_t)j.stats.challenges, "successes",
			  (json_int_t)j.stats.successes, "failures", (json_int_t)j.stats.failures,
			  "late_refreshes", (json_int_t)j.stats.late_refreshes));
}

/* ------------------------------------------------------------------------ */
/* Admin routes                                                              */

static json_t *status_json(const struct ua_trunk_status *st)
{
	uint64_t now = clock_now_ms();
	json_int_t next_in =
		st->next_at_ms > now ? (json_int_t)((st->next_at_ms - now + 999) / 1000) : 0;

	return json_pack("{s:s, s:s, s:b, s:b, s:i, s:s, s:i, s:i, s:b, s:I, s:I, s:s, s:I, s:i, "
			 "s:i}",
			 "name", st->name, "state", ua_state_name(st->state), "enabled",
			 st->enabled, "primary", st->primary, "last_code", (int)st->last_code, "last_reason",
			 st->last_reason, "granted", (int)st->granted, "asked", (int)st->asked,
			 "valid", st->valid, "valid_for",
			 (json_int_t)(st->valid && st->valid_until_ms > now
					      ? (st->valid_until_ms - now) / 1000
					      : 0),
			 "last_success", (json_int_t)st->last_success, "next_action",
			 ua_action_name(st->next_action), "next_in", next_in, "attempts",
			 (int)st->attempts, "failures", (int)st->failures);
}

static json_t *config_json(const struct store_trunk *t)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:b, s:b, s:b}",
			 "registrar",
			 t->registrar, "proxy", t->proxy, "transport", t->transport, "user",
			 t->user, "auth_user", t->auth_user, "domain", t->domain, "realm",
			 t->realm, "contact_user", t->contact_user, "expire",
			 t->expire[0] ? t->expire : "global", "retry_delay",
			 t->retry_delay[0] ? t->retry_delay : "global", "enabled", t->enabled,
			 "primary", t->primary, "has_password", t->password[0] != '\0');
}

struct list_job {
	struct ua_trunk_status *st;
	size_t n, cap;
	int state; /* -1: every state */
	int err;
};

static void list_trunks(struct ua *ua, void *arg)
{
	struct list_job *j = arg;

	for (struct ua_trunk *t = ua_trunk_first(ua); t; t = ua_trunk_next(ua, t)) {
		struct ua_trunk_status st;
		ua_trunk_status(ua, t, &st);
		if (j->state >= 0 && (int)st.state != j->state)
			continue;
		if (j->n == j->cap) {
			size_t ncap = j->cap ? 2 * j->cap : 256;
			struct ua_trunk_status *g = realloc(j->st, ncap * sizeof(*g));
			if (!g) {
				j->err = -ENOMEM;
				return;
			}
			j->st = g;
			j->cap = ncap;
		}
		j->st[j->n++] = st;
	}
}

static int h_list(const struct admin_request *req, json_t **reply, void *arg)
{
	struct trunksvc *s = arg;
	const char *state = admin_request_arg(req, "state");
	struct list_job j = {.state = -1};
	enum ua_state want;
	json_t *a;

	if (state && state[0]) {
		if (ua_state_parse(state, &want) < 0) {
			*reply = admin_error("unknown state '%s'", state);
			return 400;
		}
		j.state = (int)want;
	}
	for (unsigned int i = 0; i < s->workers && !j.err; i++)
		if (s->mb[i] && ua_mailbox_call(s->mb[i], list_trunks, &j, CALL_TIMEOUT_MS) < 0)
			j.err = -ETIMEDOUT;
	if (j.err) {
		free(j.st);
		return j.err;
	}
	a = json_array();
	for (size_t i = 0; i < j.n; i++)
		json_array_append_new(a, status_json(&j.st[i]));
	free(j.st);
	*reply = json_pack("{s:o}", "trunks", a);
	return 200;
}

/* Fields of body into t (only those present); false on a wrong type or size. */
static bool trunk_from_json(json_t *body, struct store_trunk *t, char *why, size_t len)
{
	struct {
		const char *key;
		char *dst;
		size_t cap;
	} f[] = {
		{"name", t->name, sizeof(t->name)},
		{"registrar", t->registrar, sizeof(t->registrar)},
		{"proxy", t->proxy, sizeof(t->proxy)},
		{"transport", t->transport, sizeof(t->transport)},
		{"user", t->user, sizeof(t->user)},
		{"auth_user", t->auth_user, sizeof(t->auth_user)},
		{"password", t->password, sizeof(t->password)},
		{"domain", t->domain, sizeof(t->domain)},
		{"realm", t->realm, sizeof(t->realm)},
		{"contact_user", t->contact_user, sizeof(t->contact_user)},
		{"expire", t->expire, sizeof(t->expire)},
		{"retry_delay", t->retry_delay, sizeof(t->retry_delay)},
	};
	json_t *en, *pri;

	if (!json_is_object(body)) {
		snprintf(why, len, "expected a JSON object");
		return false;
	}
	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
		json_t *v = json_object_get(body, f[i].key);
		char num[16];
		const char *text = json_string_value(v);
		if (!v)
			continue;
		if (json_is_integer(v)) {
			snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v));
			text = num;
		}
		if (!text || strlen(text) >= f[i].cap) {
			snprintf(why, len, "%s: a string of at most %zu bytes", f[i].key,
				 f[i].cap - 1);
			return false;
		}
		strcpy(f[i].dst, text);
	}
	en = json_object_get(body, "enabled");
	if (en && !json_is_boolean(en)) {
		snprintf(why, len, "enabled: true or false");
		return false;
	}
	if (en)
		t->enabled = json_is_true(en);
	pri = json_object_get(body, "primary");
	if (pri && !json_is_boolean(pri)) {
		snprintf(why, len, "primary: true or false");
		return false;
	}
	if (pri)
		t->primary = json_is_true(pri);
	return true;
}

/* Stores t and applies it on its owner (add or set). */
static int put_trunk(struct trunksvc *s, const struct store_trunk *t, bool exists,
		     json_t **reply)
{
	struct trunk_job j = {.op = exists ? OP_SET : OP_ADD, .t = t};
	char why[256];
	int r;

	if (check_row(NULL, t, why, sizeof(why)) < 0) {
		*reply = admin_error("%s", why);
		return 400;
	}
	pthread_mutex_lock(&s->lock);
	r = store_trunk_put(s->store, t, exists);
	if (r < 0)
		*reply = admin_error("%s", r == -EEXIST ? "a trunk of that name exists"
							: store_errmsg(s->store));
	pthread_mutex_unlock(&s->lock);
	if (r < 0)
		return r == -EEXIST ? 409 : r == -EINVAL ? 400 : 500;
	r = on_owner(s, &j);
	if (r < 0) {
		*reply = admin_error("stored, but not applied: %s",
				     j.err.msg[0] ? j.err.msg : strerror(-r));
		return 500;
	}
	log_info(exists ? "trunk_changed" : "trunk_added", "trunk=%s", t->name);
	*reply = config_json(t);
	json_object_set_new(*reply, "name", json_string(t->name));
	return exists ? 200 : 201;
}

static int h_add(const struct admin_request *req, json_t **reply, void *arg)
{
	struct store_trunk t = {.enabled = true};
	char why[128];

	snprintf(t.transport, sizeof(t.transport), "udp");
	if (!trunk_from_json(req->body, &t, why, sizeof(why))) {
		*reply = admin_error("%s", why);
		return 400;
	}
	return put_trunk(arg, &t, false, reply);
}

/* Applies a stored trunk on its owner: added, or changed when it runs. */
static int apply_stored(struct trunksvc *s, const char *name)
{
	struct store_trunk t;
	struct trunk_job j = {.op = OP_ADD, .t = &t};
	int r;

	pthread_mutex_lock(&s->lock);
	r = store_trunk_get(s->store, name, &t);
	pthread_mutex_unlock(&s->lock);
	if (r < 0)
		return r;
	r = on_owner(s, &j);
	if (r == -EEXIST) {
		j.op = OP_SET;
		r = on_owner(s, &j);
	}
	return r;
}

static int h_import(const struct admin_request *req, json_t **reply, void *arg)
{
	struct trunksvc *s = arg;
	const char *csv = json_string_value(json_object_get(req->body, "csv"));
	struct name_list names = {0};
	char err[256] = "";
	size_t failed = 0;
	long n;
	FILE *f;

	if (!csv) {
		*reply = admin_error("expected {\"csv\": \"name,registrar,...\\n...\"}");
		return 400;
	}
	f = fmemopen((void *)csv, strlen(csv), "r");
	if (!f)
		return -errno;
	pthread_mutex_lock(&s->lock);
	n = store_trunk_import_csv(s->store, f, check_row, &names, err, sizeof(err));
	pthread_mutex_unlock(&s->lock);
	fclose(f);
	if (n < 0) {
		free(names.name);
		*reply = admin_error("%s", err);
		return n == -EINVAL || n == -E2BIG ? 400 : 500;
	}
	for (size_t i = 0; i < names.n; i++) {
		int r = apply_stored(s, names.name[i]);
		if (r < 0) {
			failed++;
			log_error("trunk_not_applied", "trunk=%s error=\"%s\"", names.name[i],
				  strerror(-r));
		}
	}
	free(names.name);
	log_info("trunks_imported", "rows=%ld not_applied=%zu", n, failed);
	*reply = json_pack("{s:I, s:I}", "imported", (json_int_t)n, "not_applied",
			   (json_int_t)failed);
	return failed ? 500 : 200;
}

static int h_one(const struct admin_request *req, json_t **reply, void *arg)
{
	struct trunksvc *s = arg;
	char name[64];
	const char *slash = strchr(req->rest, '/');
	size_t len = slash ? (size_t)(slash - req->rest) : strlen(req->rest);
	const char *action = slash ? slash + 1 : "";
	struct store_trunk t;
	struct trunk_job j = {0};
	int r;

	if (len == 0 || len >= sizeof(name)) {
		*reply = admin_error("expected /trunks/NAME");
		return 400;
	}
	memcpy(name, req->rest, len);
	name[len] = '\0';
	pthread_mutex_lock(&s->lock);
	r = store_trunk_get(s->store, name, &t);
	pthread_mutex_unlock(&s->lock);
	if (r == -ENOENT) {
		*reply = admin_error("no trunk %s", name);
		return 404;
	}
	if (r < 0)
		return r;
	j.name = name;
	if (strcmp(req->method, "GET") == 0 && !action[0]) {
		j.op = OP_STATUS;
		r = on_owner(s, &j);
		*reply = r == 0 ? status_json(&j.status) : json_object();
		json_object_set_new(*reply, "config", config_json(&t));
		return 200;
	}
	if (strcmp(req->method, "DELETE") == 0 && !action[0]) {
		j.op = OP_DEL;
		r = on_owner(s, &j);
		pthread_mutex_lock(&s->lock);
		store_trunk_del(s->store, name);
		pthread_mutex_unlock(&s->lock);
		log_info("trunk_removed", "trunk=%s", name);
		*reply = json_pack("{s:s}", "removed", name);
		return 200;
	}
	if (strcmp(req->method, "POST") == 0 && !action[0]) {
		char why[128];
		if (!trunk_from_json(req->body, &t, why, sizeof(why)) || strcmp(t.name, name) != 0) {
			*reply = admin_error("%s", why[0] ? why : "a trunk cannot be renamed");
			return 400;
		}
		return put_trunk(s, &t, true, reply);
	}
	if (strcmp(action, "enable") == 0 || strcmp(action, "disable") == 0) {
		t.enabled = action[0] == 'e';
		pthread_mutex_lock(&s->lock);
		r = store_trunk_put(s->store, &t, true);
		pthread_mutex_unlock(&s->lock);
		if (r < 0)
			return r;
		j.op = t.enabled ? OP_ENABLE : OP_DISABLE;
	} else if (strcmp(action, "refresh") == 0) {
		j.op = OP_REFRESH;
	} else {
		*reply = admin_error("unknown action '%s' (allowed: enable, disable, refresh)",
				     action);
		return 404;
	}
	r = on_owner(s, &j);
	if (r == -EINPROGRESS || r == -EALREADY || r == -EPERM) {
		*reply = admin_error("%s: %s", action,
				     r == -EINPROGRESS ? "a REGISTER is already in flight"
				     : r == -EALREADY  ? "already so"
						       : "the trunk is disabled");
		return 409;
	}
	if (r < 0) {
		*reply = admin_error("%s", strerror(-r));
		return r == -ENOENT ? 404 : 500;
	}
	log_info("trunk_action", "trunk=%s action=%s", name, action);
	*reply = json_pack("{s:s, s:s}", "trunk", name, "done", action);
	return 200;
}

int trunksvc_admin_routes(struct trunksvc *s, struct admin *adm)
{
	int r = 0;

	r = r ? r : admin_route_add(adm, "GET", "/trunks", 0, h_list, s);
	r = r ? r : admin_route_add(adm, "POST", "/trunks", 0, h_add, s);
	r = r ? r : admin_route_add(adm, "POST", "/trunks/import", ADMIN_ROUTE_LARGE_BODY,
				    h_import, s);
	r = r ? r : admin_route_add(adm, "GET", "/trunks/", ADMIN_ROUTE_PREFIX, h_one, s);
	r = r ? r : admin_route_add(adm, "POST", "/trunks/", ADMIN_ROUTE_PREFIX, h_one, s);
	r = r ? r : admin_route_add(adm, "DELETE", "/trunks/", ADMIN_ROUTE_PREFIX, h_one, s);
	return r;
}
