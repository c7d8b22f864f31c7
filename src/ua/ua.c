/* SPDX-License-Identifier: MIT */
/*
 * ua.c - the outbound registration state machine (see include/sipreg/ua.h).
 *
 * One wheel timer per trunk carries its next REGISTER (start slot, refresh,
 * retry); while a REGISTER is in flight the transaction's own Timer F is the
 * only clock. Trunks are found by name in a chained hash table (grown by
 * doubling) and listed from one doubly-linked list.
 *
 * Memory of a trunk: the struct, one block holding its configuration
 * strings, and (after its first challenge) one block holding the cached
 * challenge header value (no per-message allocation).
 *
 * Credentials: the first REGISTER that answers a challenge is written by
 * digest_answer() from the parsed challenge. Its HA1 (the session key for a
 * -sess algorithm: also fixed for the challenge, the cnonce being ours) and
 * HA2 (REGISTER and the trunk's fixed Request-URI) are then kept, with where
 * realm, nonce and opaque sit in the cached value, and the same
 * credentials are written once more from those (authcache_derive()): only
 * when the two texts are byte for byte the same are later REGISTERs (the
 * refreshes, nc 2, 3, ...) answered from the cache: one hash (the response)
 * instead of three, and no parse of the challenge. Anything the fast form
 * does not reproduce (a quoted-pair in realm or nonce, qop=auth-int, ...)
 * keeps digest_answer() for that challenge.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <nettle/md5.h>
#include <nettle/nettle-meta.h>
#include <nettle/sha2.h>

#include "sipreg/clock.h"
#include "sipreg/digest.h"
#include "sipreg/sip_write.h"
#include "sipreg/ua.h"
#include "sipreg/wheel.h"
#include "ua_private.h"

#define UA_REQ_MAX 2048     /* largest REGISTER we write */
#define UA_CHALLENGES_MAX 4 /* challenges answered in one attempt */
#define UA_MIN_EXPIRES_MAX 86400u
#define UA_HDRS_MAX 96
/* The shutdown's pace (shut_step()): per wheel tick (1 ms) at most
 * UA_SHUT_SLICE unregisters started and UA_SHUT_VISIT trunks looked at;
 * none started while UA_SHUT_WINDOW are unanswered (4096 REGISTERs of
 * ~600 bytes: well inside a 4 MiB receive buffer upstream). */
#define UA_SHUT_SLICE 1024u
#define UA_SHUT_VISIT 16384u
#define UA_SHUT_WINDOW 4096u

enum txkind {
	TXK_NONE = 0,
	TXK_REGISTER,
	TXK_UNREGISTER,
};

/* Why an unregister is sent: what happens once it is answered. */
enum unreg_goal {
	GOAL_NONE = 0,
	GOAL_DELETE,
	GOAL_DISABLE,
	GOAL_SHUTDOWN,
	GOAL_RECONFIG,
};

enum trunk_flags {
	F_LISTED = 1u << 0,      /* in the name table */
	F_HELD = 1u << 1,        /* waits for ua_start_all() */
	F_RESOLVING = 1u << 2,   /* a resolve hook call is outstanding */
	F_DEAD = 1u << 3,        /* deleted; freed when the resolver answers */
	F_NEED_DNS = 1u << 4,    /* resolve again before the next REGISTER */
	F_CREDS_SENT = 1u << 5,  /* the request in flight carries credentials */
	F_CREDS_FRESH = 1u << 6, /* ... answering a challenge of this attempt */
	F_SHUTCOUNT = 1u << 7,   /* counted in the shutdown's pending unregisters */
	F_FAILING = 1u << 8,     /* the last outcome was a failure */
};

/* The configuration and its strings, in one block. */
struct cfgblk {
	struct ua_trunk_config c;
	bool name_host; /* the host we send to is a name */
	size_t size;
	char data[];
};

enum fast_state {
	FAST_UNKNOWN = 0, /* not derived yet (no credentials written) */
	FAST_OK,          /* answer from ha1/ha2 and the offsets */
	FAST_NO,          /* digest_answer() each time */
};

/* The cached challenge (a WWW-/Proxy-Authenticate value). */
struct authcache {
	uint32_t nc;
	uint16_t len, cap;
	bool proxy;   /* 407: answer with Proxy-Authorization */
	uint8_t fast; /* enum fast_state */
	uint8_t alg;  /* FAST_OK: enum sip_digest_alg answered */
	uint8_t hlen; /* FAST_OK: hex digits of its hash (32, 64) */
	bool qop;     /* FAST_OK: qop=auth (else RFC 2069, no qop) */
	bool opaque;  /* FAST_OK: the challenge has an opaque */
	/* FAST_OK: realm, nonce, opaque (wire values) within chal */
	uint16_t realm_off, realm_len, nonce_off, nonce_len, opaque_off, opaque_len;
	uint8_t ha1[32], ha2[32]; /* FAST_OK: binary; HA1 is the -sess key */
	char cnonce[17];
	char chal[];
};

union ua_sockaddr {
	struct sockaddr sa;
	struct sockaddr_in in;
	struct sockaddr_in6 in6;
};

struct ua_trunk {
	struct wheel_timer timer;
	struct ua *ua;
	struct ua_trunk *hnext;       /* name table chain */
	struct ua_trunk *prev, *next; /* every trunk, listed or dying */
	struct cfgblk *cfg;
	struct cfgblk *pending; /* applied after the unregister (set) */
	struct authcache *auth;
	struct tx *tx;
	union ua_sockaddr addr; /* 28 bytes: hash fills the 8-byte slot */
	uint32_t hash;
	uint64_t sent_at;     /* start of the REGISTER in flight / last one */
	uint64_t valid_until; /* monotonic ms; 0 = no binding */
	uint64_t call_id;
	uint32_t call_id2;
	uint32_t last_success; /* wall seconds; 0 = never (struct in 320 bytes) */
	uint64_t tag;
	uint32_t cseq;
	uint32_t granted, asked, min_expires;
	uint32_t attempts, failures;
	uint16_t last_code;
	uint16_t spread; /* fraction of the refresh spread, /65536 */
	uint16_t flags;
	uint8_t addrlen;
	uint8_t state;
	uint8_t action;
	uint8_t txkind;
	uint8_t goal;
	uint8_t challenges;
	char last_reason[40];
	/* observations (ua_observe): the top Via of the last 2xx, the run of
	 * failures since the last success, the timer's time */
	uint8_t rcv_addr[16];
	uint8_t rcv_family; /* 0: no received=, AF_INET, AF_INET6 */
	uint8_t via_seen;
	uint8_t last_kind;
	int32_t rcv_rport;
	uint32_t via_at;
	uint32_t effective, retry_after_used;
	uint32_t run, run_to_after_rej;
	uint16_t run_kind[UA_FAIL__COUNT];
	uint32_t run_first, run_last; /* wall seconds */
	uint64_t next_at;             /* the timer's expiry while armed, else 0 */
};

struct ua {
	struct ua_opts o;
	char local_host[UA_HOST_MAX + 1];
	bool local_v6;
	struct ua_settings set;
	struct ua_trunk **buckets;
	size_t nbuckets, nlisted;
	struct ua_trunk *head; /* every trunk */
	size_t counts[UA_STATE__COUNT];
	uint64_t start_next_us; /* next free start slot, µs */
	uint64_t rng;
	bool shutting, shut_done;
	unsigned shut_pending, shut_answered, shut_skipped;
	struct wheel_timer shut_timer; /* the bound */
	/* The shutdown's walk over the list, a slice per wheel tick
	 * (shut_step()): the next trunk to look at, NULL when done. */
	struct ua_trunk *shut_cursor;
	struct wheel_timer shut_slice;
	struct ua_stats stats;
	/* Held by the worker inside every public function and callback that
	 * changes trunks, and by ua_observe() on another thread. */
	pthread_mutex_t lock;
	struct ua *reg_prev, *reg_next; /* the process's list of UAs */
};

/* Every UA of the process, for ua_observe_all(); lock order: reg_lock,
 * then a UA's lock. */
static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct ua *reg_head;

static void ua_lock(struct ua *ua)
{
	pthread_mutex_lock(&ua->lock);
}

static void ua_unlock(struct ua *ua)
{
	pthread_mutex_unlock(&ua->lock);
}

/* ------------------------------------------------------------------------ */
/* Small helpers                                                             */

static uint64_t now_ms(struct ua *ua)
{
	return ua->o.clock ? ua->o.clock(ua->o.clock_arg) : clock_now_ms();
}

static uint64_t rnd(struct ua *ua)
{
	/* splitmix64 */
	uint64_t z = (ua->rng += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint32_t name_hash(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

static void hex(char *out, uint64_t v, int digits)
{
	static const char x[] = "0123456789abcdef";

	for (int i = digits - 1; i >= 0; i--, v >>= 4)
		out[i] = x[v & 15];
}

static bool is_numeric(const char *h, union ua_sockaddr *a, uint8_t *len, uint16_t port)
{
	memset(a, 0, sizeof(*a));
	if (inet_pton(AF_INET, h, &a->in.sin_addr) == 1) {
		a->in.sin_family = AF_INET;
		a->in.sin_port = htons(port);
		*len = sizeof(a->in);
		return true;
	}
	if (inet_pton(AF_INET6, h, &a->in6.sin6_addr) == 1) {
		a->in6.sin6_family = AF_INET6;
		a->in6.sin6_port = htons(port);
		*len = sizeof(a->in6);
		return true;
	}
	return false;
}

static const char *cs(const char *s)
{
	return s ? s : "";
}

static struct sip_str S(const char *s) {
	return sip_str_make(s, strlen(s));
}

/* The host and port REGISTERs are sent to: the proxy, else the registrar. */
static const char *
dest_host(const struct ua_trunk_config *c, uint16_t *port)
{
	if (c->proxy[0]) {
		*port = c->proxy_port ? c->proxy_port : UA_DEFAULT_PORT;
		return c->proxy;
	}
	*port = c->registrar_port ? c->registrar_port : UA_DEFAULT_PORT;
	return c->registrar;
}

static unsigned retry_delay(const struct ua_trunk *t)
{
	return t->cfg->c.retry_delay ? (unsigned)t->cfg->c.retry_delay
	                             : t->ua->set.retry_delay;
}

/* 0 = auto, else the fixed expiry. */
static unsigned expire_mode(const struct ua_trunk *t)
{
	return t->cfg->c.expire == UA_EXPIRE_GLOBAL ? t->ua->set.expire
	                                            : (unsigned)t->cfg->c.expire;
}

static uint32_t expire_asked(const struct ua_trunk *t)
{
	unsigned e = expire_mode(t);
	uint32_t a = e ? e : t->ua->set.request_expire;

	return a < t->min_expires ? t->min_expires : a;
}

/* ------------------------------------------------------------------------ */
/* State and notices                                                         */

const char *ua_state_name(enum ua_state s)
{
	static const char *const n[UA_STATE__COUNT] = {
	        "disabled",   "registering", "registered",
	        "refreshing", "failed",      "unregistering",
	};

	return (unsigned)s < UA_STATE__COUNT ? n[s] : "unknown";
}

int ua_state_parse(const char *name, enum ua_state *out)
{
	for (unsigned i = 0; i < UA_STATE__COUNT; i++)
		if (strcmp(name, ua_state_name(i)) == 0) {
			*out = i;
			return 0;
		}
	return -EINVAL;
}

const char *ua_action_name(enum ua_action a)
{
	static const char *const n[] = {
	        "none", "register", "refresh", "retry", "wait-reply", "resolve", "held",
	};

	return (unsigned)a < sizeof(n) / sizeof(n[0]) ? n[a] : "unknown";
}

static void notify(struct ua *ua, const struct ua_notice *n)
{
	if (ua->o.notify)
		ua->o.notify(ua->o.notify_arg, n);
}

static void set_reason(struct ua_trunk *t, unsigned code, const char *reason, size_t len)
{
	t->last_code = (uint16_t)code;
	if (len >= sizeof(t->last_reason))
		len = sizeof(t->last_reason) - 1;
	memcpy(t->last_reason, reason, len);
	t->last_reason[len] = '\0';
}

static void set_state_r(struct ua_trunk *t, enum ua_state s, const char *reason,
                        bool routine)
{
	struct ua *ua = t->ua;
	enum ua_state old = t->state;
	struct ua_notice n;

	if (old == s)
		return;
	ua->counts[old]--;
	ua->counts[s]++;
	t->state = (uint8_t)s;
	memset(&n, 0, sizeof(n));
	n.kind = UA_NOTICE_STATE;
	n.trunk = t->cfg->c.name;
	n.old_state = old;
	n.new_state = s;
	n.reason = reason ? reason : t->last_reason;
	/* Routine steps that come back to where they were (a refresh, a retry)
	 * are flagged so the daemon can log them below info. */
	n.routine = s == UA_STATE_REFRESHING ||
	            (old == UA_STATE_REFRESHING && s == UA_STATE_REGISTERED &&
	             !(t->flags & F_FAILING)) ||
	            (old == UA_STATE_FAILED &&
	             (s == UA_STATE_REGISTERING || s == UA_STATE_REFRESHING)) ||
	            routine;
	notify(ua, &n);
}

static void set_state(struct ua_trunk *t, enum ua_state s, const char *reason)
{
	set_state_r(t, s, reason, false);
}

/* ------------------------------------------------------------------------ */
/* The name table and the list                                               */

static int table_grow(struct ua *ua)
{
	size_t n = ua->nbuckets ? ua->nbuckets * 2 : 64;
	struct ua_trunk **b = calloc(n, sizeof(*b));

	if (!b)
		return -ENOMEM;
	for (size_t i = 0; i < ua->nbuckets; i++) {
		struct ua_trunk *t = ua->buckets[i], *nx;

		for (; t; t = nx) {
			nx = t->hnext;
			t->hnext = b[t->hash & (n - 1)];
			b[t->hash & (n - 1)] = t;
		}
	}
	free(ua->buckets);
	ua->buckets = b;
	ua->nbuckets = n;
	return 0;
}

static struct ua_trunk *lookup(const struct ua *ua, const char *name)
{
	uint32_t h;

	if (!name || !ua->nbuckets)
		return NULL;
	h = name_hash(name);
	for (struct ua_trunk *t = ua->buckets[h & (ua->nbuckets - 1)]; t; t = t->hnext)
		if (t->hash == h && strcmp(t->cfg->c.name, name) == 0)
			return t;
	return NULL;
}

static void unlist(struct ua_trunk *t)
{
	struct ua *ua = t->ua;
	struct ua_trunk **pp = &ua->buckets[t->hash & (ua->nbuckets - 1)];

	if (!(t->flags & F_LISTED))
		return;
	for (; *pp; pp = &(*pp)->hnext)
		if (*pp == t) {
			*pp = t->hnext;
			break;
		}
	t->hnext = NULL;
	t->flags &= (uint16_t)~F_LISTED;
	ua->nlisted--;
}

/* ------------------------------------------------------------------------ */
/* Configuration blocks                                                      */

static char *put(char **p, const char *s)
{
	char *r = *p;
	size_t n = strlen(cs(s)) + 1;

	memcpy(r, cs(s), n);
	*p += n;
	return r;
}

static struct cfgblk *cfg_copy(const struct ua_trunk_config *c)
{
	const char *f[] = {c->name,   c->registrar, c->proxy,
	                   c->user,   c->auth_user, c->password,
	                   c->domain, c->realm,     c->contact_user};
	size_t n = sizeof(struct cfgblk);
	struct cfgblk *b;
	char *p;
	const char *h;
	uint16_t port;
	union ua_sockaddr a;
	uint8_t len;

	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
		n += strlen(cs(f[i])) + 1;
	b = malloc(n);
	if (!b)
		return NULL;
	b->c = *c;
	b->size = n;
	p = b->data;
	b->c.name = put(&p, c->name);
	b->c.registrar = put(&p, c->registrar);
	b->c.proxy = put(&p, c->proxy);
	b->c.user = put(&p, c->user);
	b->c.auth_user = put(&p, c->auth_user);
	b->c.password = put(&p, c->password);
	b->c.domain = put(&p, c->domain);
	b->c.realm = put(&p, c->realm);
	b->c.contact_user = put(&p, c->contact_user);
	/* dest_host() sets port: called first, as C leaves the order in which
	 * a call's arguments are evaluated open */
	h = dest_host(&b->c, &port);
	b->name_host = !is_numeric(h, &a, &len, port);
	return b;
}

/* Same registration identity (everything but expire, retry, enabled). */
static bool same_identity(const struct ua_trunk_config *a,
                          const struct ua_trunk_config *b)
{
	return strcmp(a->registrar, b->registrar) == 0 &&
	       (a->registrar_port ? a->registrar_port : UA_DEFAULT_PORT) ==
	               (b->registrar_port ? b->registrar_port : UA_DEFAULT_PORT) &&
	       strcmp(a->proxy, b->proxy) == 0 &&
	       (a->proxy_port ? a->proxy_port : UA_DEFAULT_PORT) ==
	               (b->proxy_port ? b->proxy_port : UA_DEFAULT_PORT) &&
	       a->transport == b->transport && strcmp(a->user, b->user) == 0 &&
	       strcmp(a->auth_user, b->auth_user) == 0 &&
	       strcmp(a->password, b->password) == 0 &&
	       strcmp(a->domain, b->domain) == 0 && strcmp(a->realm, b->realm) == 0 &&
	       strcmp(a->contact_user, b->contact_user) == 0;
}

/* Take a new configuration: address, auth cache and min expires reset. */
static void cfg_apply(struct ua_trunk *t, struct cfgblk *b)
{
	uint16_t port;
	const char *h;

	free(t->cfg);
	t->cfg = b;
	h = dest_host(&b->c, &port);
	t->addrlen = 0;
	if (is_numeric(h, &t->addr, &t->addrlen, port))
		t->flags &= (uint16_t)~F_NEED_DNS;
	else
		t->flags |= F_NEED_DNS;
	free(t->auth);
	t->auth = NULL;
	t->min_expires = 0;
}

/* ------------------------------------------------------------------------ */
/* Writing a REGISTER                                                        */

static void write_host(struct sip_write *w, const char *h)
{
	bool v6 = strchr(h, ':') != NULL;

	if (v6)
		sip_write_char(w, '[');
	sip_write_cstr(w, h);
	if (v6)
		sip_write_char(w, ']');
}

/* "sip:" host [":" port] of the Request-URI and the AOR's domain. */
static void write_domain(struct sip_write *w, const struct ua_trunk_config *c)
{
	if (c->domain[0]) {
		write_host(w, c->domain);
		return;
	}
	write_host(w, c->registrar);
	if (c->registrar_port && c->registrar_port != UA_DEFAULT_PORT) {
		sip_write_char(w, ':');
		sip_write_u32(w, c->registrar_port);
	}
}

static uint16_t local_port(const struct ua_trunk *t)
{
	uint16_t p = t->cfg->c.transport == UA_TRANSPORT_TCP ? t->ua->o.local_port_tcp
	                                                     : t->ua->o.local_port_udp;

	return p ? p : UA_DEFAULT_PORT;
}

static const char *contact_user(const struct ua_trunk_config *c)
{
	return c->contact_user[0] ? c->contact_user : c->user;
}

static struct sip_str auth_user(const struct ua_trunk_config *c)
{
	return S(c->auth_user[0] ? c->auth_user : c->user);
}

/* nettle's hash for a digest algorithm (either form), NULL if none. */
static const struct nettle_hash *hash_of(enum sip_digest_alg alg)
{
	switch (alg) {
	case SIP_DIGEST_MD5:
	case SIP_DIGEST_MD5_SESS:
		return &nettle_md5;
	case SIP_DIGEST_SHA256:
	case SIP_DIGEST_SHA256_SESS:
		return &nettle_sha256;
	case SIP_DIGEST_SHA512_256:
	case SIP_DIGEST_SHA512_256_SESS:
		return &nettle_sha512_256;
	default:
		return NULL;
	}
}

/* response = H(HA1 ":" nonce ":" nc ":" cnonce ":auth:" HA2), or without
 * qop H(HA1 ":" nonce ":" HA2), as hex into resp (hlen digits); the nonce
 * as it stands in the challenge (FAST_OK says it has no quoted-pair). */
static void fast_response(const struct authcache *a, const char *ncs, char *resp)
{
	const struct nettle_hash *h = hash_of((enum sip_digest_alg)a->alg);
	union {
		struct md5_ctx md5;
		struct sha256_ctx sha256;
		struct sha512_ctx sha512;
	} ctx;
	char hx[64];
	uint8_t d[32];
	size_t n = a->hlen / 2u;

	h->init(&ctx);
	digest_hex(hx, a->ha1, n);
	h->update(&ctx, a->hlen, (const uint8_t *)hx);
	h->update(&ctx, 1, (const uint8_t *)":");
	h->update(&ctx, a->nonce_len, (const uint8_t *)a->chal + a->nonce_off);
	h->update(&ctx, 1, (const uint8_t *)":");
	if (a->qop) {
		h->update(&ctx, 8, (const uint8_t *)ncs);
		h->update(&ctx, 1, (const uint8_t *)":");
		h->update(&ctx, 16, (const uint8_t *)a->cnonce);
		h->update(&ctx, 6, (const uint8_t *)":auth:");
	}
	digest_hex(hx, a->ha2, n);
	h->update(&ctx, a->hlen, (const uint8_t *)hx);
	h->digest(&ctx, n, d);
	digest_hex(resp, d, n);
}

/* hex (lower case, from digest_*()) to n bytes */
static void unhex_bytes(uint8_t *out, const char *in, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned hi = (unsigned)in[2 * i], lo = (unsigned)in[2 * i + 1];

		hi = hi <= '9' ? hi - '0' : hi - 'a' + 10;
		lo = lo <= '9' ? lo - '0' : lo - 'a' + 10;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
}

static struct sip_str chal_part(const struct authcache *a, uint16_t off, uint16_t len)
{
	return sip_str_make(a->chal + off, len);
}

/* The credentials value from the cache (FAST_OK), nonce-count nc: the text
 * digest_answer() writes for the same challenge. */
static void put_fast(struct sip_write *w, const struct authcache *a, struct sip_str user,
                     struct sip_str ruri, uint32_t nc)
{
	char resp[64], ncs[8];
	enum sip_digest_alg alg = (enum sip_digest_alg)a->alg;

	hex(ncs, nc, 8);
	fast_response(a, ncs, resp);
	/* username, uri and cnonce between plain quotes: FAST_OK says that is
	 * what sip_write_quoted() wrote for them */
	sip_write_mem(w, "Digest username=\"", 17);
	sip_write_str(w, user);
	sip_write_mem(w, "\", realm=\"", 10);
	sip_write_str(w, chal_part(a, a->realm_off, a->realm_len));
	sip_write_mem(w, "\", nonce=\"", 10);
	sip_write_str(w, chal_part(a, a->nonce_off, a->nonce_len));
	sip_write_mem(w, "\", uri=\"", 8);
	sip_write_str(w, ruri);
	sip_write_mem(w, "\", response=\"", 13);
	sip_write_mem(w, resp, a->hlen);
	sip_write_mem(w, "\", algorithm=", 13);
	sip_write_cstr(w, digest_alg_name(alg));
	if (a->qop || digest_alg_is_sess(alg)) {
		sip_write_mem(w, ", cnonce=\"", 10);
		sip_write_mem(w, a->cnonce, 16);
		sip_write_char(w, '"');
	}
	if (a->opaque) {
		sip_write_mem(w, ", opaque=\"", 10);
		sip_write_str(w, chal_part(a, a->opaque_off, a->opaque_len));
		sip_write_char(w, '"');
	}
	if (a->qop) {
		sip_write_mem(w, ", qop=auth, nc=", 15);
		sip_write_mem(w, ncs, 8);
	}
}

/* After digest_answer() wrote the credentials value text[0..len) for nc
 * (challenge ch, parsed from a->chal): keep HA1, HA2 and the offsets, and
 * FAST_OK only if put_fast() writes the very same text. */
static void authcache_derive(struct authcache *a, const struct ua_trunk_config *c,
                             const struct sip_auth *ch, struct sip_str ruri,
                             const char *text, size_t len, uint32_t nc)
{
	enum sip_digest_alg alg = sip_str_isset(ch->algorithm)
	                                  ? digest_alg_parse(ch->algorithm)
	                                  : ch->alg;
	size_t hl = digest_hex_len(alg);
	char h1[DIGEST_HEX_SIZE], h2[DIGEST_HEX_SIZE], out[UA_REQ_MAX];
	struct sip_write w;

	a->fast = FAST_NO;
	if (!hl || hl > 64 || !hash_of(alg) || !sip_str_isset(ch->realm) ||
	    !sip_str_isset(ch->nonce) || len >= sizeof(out))
		return;
	if (digest_ha1(alg, auth_user(c), ch->realm, S(c->password), h1) != (int)hl)
		return;
	if (digest_alg_is_sess(alg) &&
	    digest_ha1_sess(alg, sip_str_make(h1, hl), ch->nonce, S(a->cnonce), h1) !=
	            (int)hl)
		return;
	if (digest_ha2(alg, SIP_STR("REGISTER"), ruri, NULL, h2) != (int)hl)
		return;
	a->alg = (uint8_t)alg;
	a->hlen = (uint8_t)hl;
	a->qop = ch->qop.len > 0;
	a->opaque = sip_str_isset(ch->opaque);
	a->realm_off = (uint16_t)(ch->realm.p - a->chal);
	a->realm_len = (uint16_t)ch->realm.len;
	a->nonce_off = (uint16_t)(ch->nonce.p - a->chal);
	a->nonce_len = (uint16_t)ch->nonce.len;
	a->opaque_off = a->opaque ? (uint16_t)(ch->opaque.p - a->chal) : 0;
	a->opaque_len = a->opaque ? (uint16_t)ch->opaque.len : 0;
	unhex_bytes(a->ha1, h1, hl / 2);
	unhex_bytes(a->ha2, h2, hl / 2);
	sip_write_init(&w, out, sizeof(out));
	put_fast(&w, a, auth_user(c), ruri, nc);
	if (sip_write_result(&w) == (int)len && memcmp(out, text, len) == 0)
		a->fast = FAST_OK;
}

/* Credentials from the cached challenge, with the next nonce-count. */
static int write_auth(struct sip_write *w, struct ua_trunk *t, struct sip_str ruri)
{
	const struct ua_trunk_config *c = &t->cfg->c;
	struct authcache *a = t->auth;
	struct sip_auth ch;
	struct sip_err e;
	size_t start;
	int r;

	sip_write_header_begin(w, a->proxy ? SIP_STR("Proxy-Authorization")
	                                   : SIP_STR("Authorization"));
	if (a->fast == FAST_OK) {
		put_fast(w, a, auth_user(c), ruri, a->nc + 1);
		if (w->err == -EINVAL)
			return -EINVAL;
		a->nc++;
		sip_write_header_end(w);
		return 0;
	}
	r = sip_auth_parse(&ch, sip_str_make(a->chal, a->len), &e);
	if (r < 0)
		return r;
	start = w->len;
	r = digest_answer(w, &ch, auth_user(c), S(c->password), SIP_STR("REGISTER"), ruri,
	                  SIP_STR_NULL, S(a->cnonce), a->nc + 1);
	if (r < 0)
		return r;
	if (a->fast == FAST_UNKNOWN && !w->err)
		authcache_derive(a, c, &ch, ruri, w->buf + start, w->len - start, a->nc + 1);
	a->nc++;
	sip_write_header_end(w);
	return 0;
}

static int build_register(struct ua_trunk *t, uint32_t expires, const char *branch,
                          char *buf, size_t cap)
{
	struct ua *ua = t->ua;
	const struct ua_trunk_config *c = &t->cfg->c;
	bool tcp = c->transport == UA_TRANSPORT_TCP;
	char ruri[UA_HOST_MAX + 16], aor[UA_FIELD_MAX + UA_HOST_MAX + 16];
	char curi[UA_FIELD_MAX + UA_HOST_MAX + 40], idbuf[40];
	struct sip_write w, u;
	struct sip_write_contact ct;
	int rl, al, cl, r;

	sip_write_init(&u, ruri, sizeof(ruri));
	sip_write_cstr(&u, "sip:");
	write_domain(&u, c);
	if ((rl = sip_write_result(&u)) < 0)
		return rl;
	sip_write_init(&u, aor, sizeof(aor));
	sip_write_cstr(&u, "sip:");
	sip_write_cstr(&u, c->user);
	sip_write_char(&u, '@');
	write_domain(&u, c);
	if ((al = sip_write_result(&u)) < 0)
		return al;
	sip_write_init(&u, curi, sizeof(curi));
	sip_write_cstr(&u, "sip:");
	sip_write_cstr(&u, contact_user(c));
	sip_write_char(&u, '@');
	write_host(&u, ua->local_host);
	sip_write_char(&u, ':');
	sip_write_u32(&u, local_port(t));
	if (tcp)
		sip_write_cstr(&u, ";transport=tcp");
	if ((cl = sip_write_result(&u)) < 0)
		return cl;

	sip_write_init(&w, buf, cap);
	sip_write_request_line(&w, SIP_STR("REGISTER"), sip_str_make(ruri, (size_t)rl));
	sip_write_via(&w, tcp ? SIP_STR("TCP") : SIP_STR("UDP"), S(ua->local_host),
	              local_port(t), S(branch), true);
	sip_write_header_u32(&w, SIP_STR("Max-Forwards"), 70);
	if (c->proxy[0]) {
		sip_write_header_begin(&w, SIP_STR("Route"));
		sip_write_cstr(&w, "<sip:");
		write_host(&w, c->proxy);
		sip_write_char(&w, ':');
		sip_write_u32(&w, c->proxy_port ? c->proxy_port : UA_DEFAULT_PORT);
		sip_write_cstr(&w, ";lr>");
		sip_write_header_end(&w);
	}
	hex(idbuf, t->tag, 16);
	sip_write_nameaddr(&w, SIP_STR("From"), SIP_STR_NULL,
	                   sip_str_make(aor, (size_t)al), sip_str_make(idbuf, 16));
	sip_write_nameaddr(&w, SIP_STR("To"), SIP_STR_NULL, sip_str_make(aor, (size_t)al),
	                   SIP_STR_NULL);
	hex(idbuf, t->call_id, 16);
	hex(idbuf + 16, t->call_id2, 8);
	memcpy(idbuf + 24, "@sipreg", 7);
	sip_write_header(&w, SIP_STR("Call-ID"), sip_str_make(idbuf, 31));
	sip_write_cseq(&w, t->cseq, SIP_STR("REGISTER"));
	memset(&ct, 0, sizeof(ct));
	ct.uri = sip_str_make(curi, (size_t)cl);
	ct.has_expires = true;
	ct.expires = expires;
	sip_write_contact(&w, &ct);
	sip_write_header_u32(&w, SIP_STR("Expires"), expires);
	if (ua->set.privacy == CONFIG_PRIVACY_ID)
		sip_write_header(&w, SIP_STR("Privacy"), SIP_STR("id"));
	else if (ua->set.privacy == CONFIG_PRIVACY_NONE)
		sip_write_header(&w, SIP_STR("Privacy"), SIP_STR("none"));
	t->flags &= (uint16_t)~F_CREDS_SENT;
	if (t->auth && c->password[0]) {
		r = write_auth(&w, t, sip_str_make(ruri, (size_t)rl));
		if (r < 0)
			return r;
		t->flags |= F_CREDS_SENT;
	}
	if (ua->set.user_agent[0])
		sip_write_header(&w, SIP_STR("User-Agent"), S(ua->set.user_agent));
	sip_write_end(&w, SIP_STR_NULL);
	return sip_write_result(&w);
}

/* ------------------------------------------------------------------------ */
/* Timers                                                                    */

static void arm(struct ua_trunk *t, enum ua_action a, uint64_t at)
{
	t->action = (uint8_t)a;
	t->next_at = at;
	wheel_add(t->ua->o.wheel, &t->timer, at);
}

static void disarm(struct ua_trunk *t)
{
	wheel_cancel(t->ua->o.wheel, &t->timer);
	t->next_at = 0;
	t->action = UA_ACTION_NONE;
}

/* The next free start slot (start_rate per second), at or after now. */
static uint64_t start_slot(struct ua *ua)
{
	uint64_t now_us = now_ms(ua) * 1000, slot;
	unsigned rate = ua->o.start_rate ? ua->o.start_rate : UA_DEFAULT_START_RATE;

	if (ua->start_next_us < now_us)
		ua->start_next_us = now_us;
	slot = ua->start_next_us;
	ua->start_next_us += 1000000u / rate;
	return (slot + 999) / 1000;
}

static void schedule_start(struct ua_trunk *t)
{
	t->flags &= (uint16_t)~F_HELD;
	if (t->state == UA_STATE_DISABLED)
		set_state(t, UA_STATE_REGISTERING, "enabled");
	arm(t, UA_ACTION_REGISTER, start_slot(t->ua));
}

/* ------------------------------------------------------------------------ */
/* Sending                                                                   */

static void on_result(void *arg, struct tx *tx, int err, const struct sip_msg *resp);
static void fail(struct ua_trunk *t, unsigned code, const char *reason, size_t rlen,
                 uint32_t retry_after);
static void finish_unregister(struct ua_trunk *t);

static bool binding_valid(const struct ua_trunk *t, uint64_t now)
{
	return t->valid_until > now;
}

/* Start a transaction for kind (REGISTER with the asked expiry, or
 * Expires: 0). Returns 0 or the error (nothing in flight then). */
static int start_tx(struct ua_trunk *t, enum txkind kind)
{
	struct ua *ua = t->ua;
	char buf[UA_REQ_MAX], branch[TX_BRANCH_LEN + 1];
	struct tx_dest d;
	uint32_t expires = kind == TXK_UNREGISTER ? 0 : expire_asked(t);
	int len, r;

	if (!t->addrlen)
		return -EDESTADDRREQ;
	r = tx_branch_make(ua->o.tx, branch, sizeof(branch));
	if (r < 0)
		return r;
	t->cseq++;
	len = build_register(t, expires, branch, buf, sizeof(buf));
	if (len < 0)
		return len;
	memset(&d, 0, sizeof(d));
	d.reliable = t->cfg->c.transport == UA_TRANSPORT_TCP;
	if (ua->o.dest) {
		r = ua->o.dest(ua->o.dest_arg, t->cfg->c.transport, &t->addr.sa,
		               t->addrlen, &d);
		if (r < 0)
			return r;
	}
	d.addr = &t->addr.sa;
	d.addrlen = t->addrlen;
	r = tx_client_start(ua->o.tx, &t->tx, S(branch), SIP_STR("REGISTER"), buf,
	                    (size_t)len, &d, on_result, t);
	if (r < 0) {
		t->tx = NULL;
		return r;
	}
	t->txkind = (uint8_t)kind;
	t->action = UA_ACTION_WAIT_REPLY;
	t->sent_at = now_ms(ua);
	if (kind == TXK_UNREGISTER) {
		ua->stats.unregisters_sent++;
	} else {
		t->asked = expires;
		t->attempts++;
		ua->stats.registers_sent++;
	}
	return 0;
}

static const char *err_reason(int err, char *buf, size_t cap)
{
	switch (err) {
	case -ETIMEDOUT:
		return "timeout";
	case -EDESTADDRREQ:
		return "no address";
	case -ENOTSUP:
		return "unsupported digest challenge";
	case -EINVAL:
	case -EBADMSG:
		return "bad challenge";
	case -ENOSPC:
		return "request too large";
	default:
		snprintf(buf, cap, "transport error: %s", strerror(-err));
		return buf;
	}
}

/* Send the next REGISTER of an attempt (or ask for the address first). */
static void send_register(struct ua_trunk *t)
{
	struct ua *ua = t->ua;
	const struct ua_trunk_config *c = &t->cfg->c;
	uint64_t now = now_ms(ua);
	char eb[64];
	const char *why;
	uint16_t port;
	int r;

	if ((t->flags & F_NEED_DNS) && !(t->flags & F_RESOLVING)) {
		const char *h = dest_host(c, &port);

		ua->stats.dns_lookups++;
		if (!ua->o.resolve) {
			fail(t, 0, "dns: no resolver", 16, 0);
			return;
		}
		t->flags |= F_RESOLVING;
		t->action = UA_ACTION_RESOLVE;
		if (t->state != UA_STATE_REGISTERING && t->state != UA_STATE_REFRESHING)
			set_state(t,
			          binding_valid(t, now) ? UA_STATE_REFRESHING
			                                : UA_STATE_REGISTERING,
			          "resolving");
		r = ua->o.resolve(ua->o.resolve_arg, ua, (uint64_t)(uintptr_t)t, h, port,
		                  c->transport);
		if (r < 0) {
			t->flags &= (uint16_t)~F_RESOLVING;
			snprintf(eb, sizeof(eb), "dns: %s", strerror(-r));
			fail(t, 0, eb, strlen(eb), 0);
		}
		return;
	}
	if (t->flags & F_RESOLVING) {
		t->action = UA_ACTION_RESOLVE; /* the lookup under way is awaited */
		return;
	}
	r = start_tx(t, TXK_REGISTER);
	if (r < 0) {
		why = err_reason(r, eb, sizeof(eb));
		fail(t, 0, why, strlen(why), 0);
		return;
	}
	set_state(t, binding_valid(t, now) ? UA_STATE_REFRESHING : UA_STATE_REGISTERING,
	          t->state == UA_STATE_FAILED ? "retry" : "register");
}

/* A new attempt (timer or operator): challenges answered so far reset. */
static void attempt(struct ua_trunk *t)
{
	t->challenges = 0;
	t->flags &= (uint16_t) ~(F_CREDS_FRESH);
	send_register(t);
}

static void on_timer(struct wheel *w, struct wheel_timer *wt)
{
	struct ua_trunk *t = wheel_timer_owner(wt, struct ua_trunk, timer);
	struct ua *ua = t->ua;

	(void)w;
	ua_lock(ua);
	if (t->action == UA_ACTION_REFRESH && !binding_valid(t, now_ms(ua)) &&
	    t->valid_until)
		ua->stats.late_refreshes++;
	t->action = UA_ACTION_NONE;
	t->next_at = 0;
	/* shutting: a trunk the walk has not reached yet starts nothing new;
	 * the walk decides (or the bound passes it by) */
	if (!ua->shutting)
		attempt(t);
	ua_unlock(ua);
}

/* ------------------------------------------------------------------------ */
/* Outcomes                                                                  */

static uint32_t wall_now(struct ua *ua)
{
	time_t w = ua->o.wall ? ua->o.wall(ua->o.wall_arg) : time(NULL);

	return w > 0 ? (uint32_t)w : 0;
}

/* The kind of a failure, from what fail() is given. */
static enum ua_fail_kind fail_kind(unsigned code, const char *reason, size_t rlen)
{
	if (code == 401 || code == 407)
		return UA_FAIL_AUTH;
	if (code == 403)
		return UA_FAIL_FORBIDDEN;
	if (code == 0 && rlen == 7 && memcmp(reason, "timeout", 7) == 0)
		return UA_FAIL_TIMEOUT;
	return UA_FAIL_OTHER;
}

/* One more failure in the run since the last success (counters saturate). */
static void run_note(struct ua_trunk *t, unsigned code, const char *reason, size_t rlen)
{
	enum ua_fail_kind k = fail_kind(code, reason, rlen);
	uint32_t now = wall_now(t->ua);

	if (!t->run)
		t->run_first = now;
	t->run_last = now;
	if (t->run < UINT32_MAX)
		t->run++;
	if (t->run_kind[k] < UINT16_MAX)
		t->run_kind[k]++;
	if (k == UA_FAIL_TIMEOUT &&
	    t->run_kind[UA_FAIL_AUTH] + t->run_kind[UA_FAIL_FORBIDDEN] +
	                    t->run_kind[UA_FAIL_OTHER] >
	            0 &&
	    t->run_to_after_rej < UINT32_MAX)
		t->run_to_after_rej++;
	t->last_kind = (uint8_t)k;
}

static void fail(struct ua_trunk *t, unsigned code, const char *reason, size_t rlen,
                 uint32_t retry_after)
{
	struct ua *ua = t->ua;
	uint64_t now = now_ms(ua);
	unsigned delay = retry_delay(t);
	char why[sizeof(t->last_reason)];
	struct ua_notice n;
	/* The same failure again, retry after retry: a routine step. */
	size_t cl = rlen < sizeof(t->last_reason) - 1 ? rlen : sizeof(t->last_reason) - 1;
	bool same = (t->flags & F_FAILING) && t->last_code == code &&
	            cl == strlen(t->last_reason) &&
	            memcmp(t->last_reason, reason, cl) == 0;

	t->flags |= F_FAILING;
	t->failures++;
	ua->stats.failures++;
	run_note(t, code, reason, rlen);
	set_reason(t, code, reason, rlen);
	t->retry_after_used = retry_after > delay ? retry_after : 0;
	if (retry_after > delay) {
		memset(&n, 0, sizeof(n));
		n.kind = UA_NOTICE_RETRY_AFTER;
		n.trunk = t->cfg->c.name;
		n.old_state = n.new_state = t->state;
		n.reason = t->last_reason;
		n.value = delay;
		n.value2 = retry_after;
		notify(ua, &n);
		delay = retry_after;
	}
	if (t->cfg->name_host)
		t->flags |= F_NEED_DNS; /* re-resolve after every failure */
	snprintf(why, sizeof(why), "%s", t->last_reason);
	set_state_r(t, UA_STATE_FAILED, why, same);
	arm(t, UA_ACTION_RETRY, now + (uint64_t)delay * 1000);
}

/* Refresh at half the effective expiry, earlier by the trunk's spread (at
 * most a tenth of that half), counted from the send time. */
static uint64_t refresh_at(const struct ua_trunk *t, uint32_t effective)
{
	uint64_t half = (uint64_t)effective * 500;
	uint64_t spread = half / 10 * t->spread / 65536;

	return t->sent_at + half - spread;
}

/* The expires of our Contact among those of a 200 OK (any number of them,
 * over any number of header lines; a malformed line is skipped): the one
 * with our user, host and port, else the only one with our user. Returns
 * true and sets *exp when found with an expires parameter. */
static bool our_contact_expires(const struct ua_trunk *t, const struct sip_msg *m,
                                uint32_t *exp)
{
	const char *cu = contact_user(&t->cfg->c);
	uint32_t by_user = 0;
	bool by_user_has = false;
	int users = 0;

	for (const struct sip_hdr *h = sip_msg_hdr(m, SIP_HDR_CONTACT); h;
	     h = sip_msg_hdr_next(m, h)) {
		struct sip_str rest = h->value;
		struct sip_contact c;
		struct sip_err e;

		while (sip_contact_next(&rest, &c, &e) == 1) {
			const struct sip_uri *u = &c.na.uri;
			uint16_t port = u->port ? u->port : UA_DEFAULT_PORT;

			if (c.star || !sip_str_eq(u->user, S(cu)))
				continue;
			if (sip_str_caseeq(u->host, S(t->ua->local_host)) &&
			    port == local_port(t)) {
				*exp = c.expires;
				return c.has_expires;
			}
			by_user = c.expires;
			by_user_has = c.has_expires;
			users++;
		}
	}
	if (users == 1 && by_user_has) {
		*exp = by_user;
		return true;
	}
	return false;
}

/* The top Via of a 2xx: its received= and rport, as the upstream saw us
 * (as the transaction layer parsed it to match the response, else parsed
 * here). */
static void note_via(struct ua_trunk *t, const struct sip_msg *m, uint32_t wall)
{
	const struct sip_via *top = t->ua->o.tx ? tx_response_via(t->ua->o.tx) : NULL;
	const struct sip_hdr *h;
	struct sip_str rest;
	struct sip_via v;
	struct sip_err e;
	char a[48];

	t->via_seen = 1;
	t->via_at = wall;
	t->rcv_family = 0;
	t->rcv_rport = -1;
	if (top) {
		v = *top;
	} else {
		h = sip_msg_hdr(m, SIP_HDR_VIA);
		if (!h)
			return;
		rest = h->value;
		if (sip_via_next(&rest, &v, &e) != 1)
			return;
	}
	t->rcv_rport = v.rport;
	if (!v.received.len || v.received.len >= sizeof(a))
		return;
	memcpy(a, v.received.p, v.received.len);
	a[v.received.len] = '\0';
	if (inet_pton(AF_INET, a, t->rcv_addr) == 1)
		t->rcv_family = AF_INET;
	else if (inet_pton(AF_INET6, a, t->rcv_addr) == 1)
		t->rcv_family = AF_INET6;
}

/* "200 OK" (the reason cut at 30) into why[48]. */
static void status_why(char *why, const struct sip_msg *m)
{
	size_t rl = m->reason.len > 30 ? 30 : m->reason.len, n = 0;
	char d[10];
	unsigned v = m->status, k = 0;

	do {
		d[k++] = (char)('0' + v % 10);
		v /= 10;
	} while (v && k < sizeof(d));
	while (k)
		why[n++] = d[--k];
	why[n++] = ' ';
	if (rl)
		memcpy(why + n, m->reason.p, rl);
	why[n + rl] = '\0';
}

static void success(struct ua_trunk *t, const struct sip_msg *m)
{
	struct ua *ua = t->ua;
	struct sip_err e;
	uint32_t granted = t->asked, v, effective, wall;
	unsigned fixed = expire_mode(t);
	char why[48];

	if (our_contact_expires(t, m, &v))
		granted = v;
	else if (sip_msg_u32(m, SIP_HDR_EXPIRES, &v, &e) == 0)
		granted = v;
	if (granted == 0) {
		fail(t, m->status, "200 OK granted 0 s", 18, 0);
		return;
	}
	effective = fixed && granted > t->asked ? t->asked : granted;
	t->granted = granted;
	t->effective = effective;
	wall = wall_now(ua);
	note_via(t, m, wall);
	t->run = 0;
	t->run_to_after_rej = 0;
	memset(t->run_kind, 0, sizeof(t->run_kind));
	t->last_kind = UA_FAIL_NONE;
	t->retry_after_used = 0;
	t->valid_until = t->sent_at + (uint64_t)granted * 1000;
	t->last_success = wall;
	t->challenges = 0;
	t->flags &= (uint16_t)~F_CREDS_FRESH;
	ua->stats.successes++;
	set_reason(t, m->status, m->reason.p, m->reason.len);
	status_why(why, m); /* "%u %.30s", without printf on the refresh path */
	set_state(t, UA_STATE_REGISTERED, why); /* F_FAILING still says "a recovery" */
	t->flags &= (uint16_t)~F_FAILING;
	arm(t, UA_ACTION_REFRESH, refresh_at(t, effective));
}

/* Pick a usable challenge of the 401/407: Digest, a known algorithm, our
 * realm when one is configured. */
static const struct sip_hdr *pick_challenge(const struct ua_trunk *t,
                                            const struct sip_msg *m, enum sip_hdr_id id,
                                            struct sip_auth *out)
{
	const char *realm = t->cfg->c.realm;
	struct sip_err e;

	for (const struct sip_hdr *h = sip_msg_hdr(m, id); h;
	     h = sip_msg_hdr_next(m, h)) {
		if (sip_auth_parse(out, h->value, &e) < 0)
			continue;
		if (!sip_str_caseeq(out->scheme, SIP_STR("Digest")))
			continue;
		if (out->alg != SIP_DIGEST_MD5 && out->alg != SIP_DIGEST_SHA256 &&
		    out->alg != SIP_DIGEST_MD5_SESS &&
		    out->alg != SIP_DIGEST_SHA256_SESS &&
		    out->alg != SIP_DIGEST_SHA512_256 &&
		    out->alg != SIP_DIGEST_SHA512_256_SESS)
			continue;
		if (realm[0] && !sip_str_eq(out->realm, S(realm)))
			continue;
		if (!sip_str_isset(out->nonce) || !sip_str_isset(out->realm))
			continue;
		return h;
	}
	return NULL;
}

/* Keep the challenge h (its value) for the credentials of later REGISTERs. */
static int cache_challenge(struct ua_trunk *t, const struct sip_hdr *h, bool proxy)
{
	struct authcache *a = t->auth;

	if (!a || a->cap < h->value.len) {
		a = realloc(t->auth, sizeof(*a) + h->value.len);
		if (!a)
			return -ENOMEM;
		a->cap = (uint16_t)h->value.len;
		t->auth = a;
	}
	memcpy(a->chal, h->value.p, h->value.len);
	a->len = (uint16_t)h->value.len;
	a->nc = 0;
	a->proxy = proxy;
	a->fast = FAST_UNKNOWN;
	hex(a->cnonce, rnd(t->ua), 16);
	a->cnonce[16] = '\0';
	return 0;
}

/* 401/407: answer it with a new REGISTER, or take a failure. A challenge
 * after credentials that answered a challenge of this attempt is a failure
 * (wrong password) unless it says stale=true; after pre-emptive credentials
 * (a cached nonce) it is a first challenge. The newest challenge is cached
 * either way, so the next attempt starts from its nonce. */
static void challenge(struct ua_trunk *t, const struct sip_msg *m, enum txkind kind)
{
	struct ua *ua = t->ua;
	bool proxy = m->status == 407;
	struct sip_auth ch;
	const struct sip_hdr *h;
	bool give_up;
	char eb[64];
	const char *why;
	int r;

	h = pick_challenge(
	        t, m, proxy ? SIP_HDR_PROXY_AUTHENTICATE : SIP_HDR_WWW_AUTHENTICATE, &ch);
	if (h && h->value.len > 4096)
		h = NULL;
	give_up = !h || !t->cfg->c.password[0] || ++t->challenges > UA_CHALLENGES_MAX ||
	          ((t->flags & F_CREDS_SENT) && (t->flags & F_CREDS_FRESH) && !ch.stale);
	if (h && t->cfg->c.password[0] && cache_challenge(t, h, proxy) < 0)
		give_up = true;
	if (give_up) {
		if (kind == TXK_UNREGISTER)
			finish_unregister(t);
		else
			fail(t, m->status, m->reason.p, m->reason.len, 0);
		return;
	}
	t->flags |= F_CREDS_FRESH;
	ua->stats.challenges++;
	r = start_tx(t, kind);
	if (r < 0) {
		why = err_reason(r, eb, sizeof(eb));
		if (kind == TXK_UNREGISTER)
			finish_unregister(t);
		else
			fail(t, 0, why, strlen(why), 0);
	}
}

static void interval_too_brief(struct ua_trunk *t, const struct sip_msg *m)
{
	struct ua *ua = t->ua;
	struct sip_err e;
	uint32_t min = 0;
	struct ua_notice n;
	char eb[64];
	const char *why;
	int r;

	if (sip_msg_u32(m, SIP_HDR_MIN_EXPIRES, &min, &e) < 0 || min <= t->asked ||
	    min > UA_MIN_EXPIRES_MAX) {
		fail(t, m->status, m->reason.p, m->reason.len, 0);
		return;
	}
	memset(&n, 0, sizeof(n));
	n.kind = UA_NOTICE_INTERVAL_TOO_BRIEF;
	n.trunk = t->cfg->c.name;
	n.old_state = n.new_state = t->state;
	n.reason = "423 Interval Too Brief";
	n.value = t->asked;
	n.value2 = min;
	notify(ua, &n);
	t->min_expires = min;
	r = start_tx(t, TXK_REGISTER);
	if (r < 0) {
		why = err_reason(r, eb, sizeof(eb));
		fail(t, 0, why, strlen(why), 0);
	}
}

/* Retry-After: delta-seconds, then an optional comment and params. */
static uint32_t retry_after(const struct sip_msg *m)
{
	const struct sip_hdr *h = sip_msg_hdr(m, SIP_HDR_RETRY_AFTER);
	uint64_t v = 0;
	size_t i = 0;

	if (!h)
		return 0;
	for (; i < h->value.len && h->value.p[i] >= '0' && h->value.p[i] <= '9' &&
	       v < 100000000;
	     i++)
		v = v * 10 + (uint64_t)(h->value.p[i] - '0');
	return i ? (uint32_t)(v > 86400 ? 86400 : v) : 0;
}

static void free_trunk(struct ua_trunk *t)
{
	struct ua *ua = t->ua;

	if (t->flags & F_RESOLVING) {
		t->flags |= F_DEAD; /* the resolver still holds the token */
		return;
	}
	ua->counts[t->state]--;
	if (ua->shut_cursor == t)
		ua->shut_cursor = t->next;
	if (t->prev)
		t->prev->next = t->next;
	else
		ua->head = t->next;
	if (t->next)
		t->next->prev = t->prev;
	free(t->cfg);
	free(t->pending);
	free(t->auth);
	free(t);
}

static void shutdown_check(struct ua *ua)
{
	struct ua_notice n;

	if (!ua->shutting || ua->shut_done || ua->shut_pending || ua->shut_cursor)
		return;
	ua->shut_done = true;
	wheel_cancel(ua->o.wheel, &ua->shut_timer);
	wheel_cancel(ua->o.wheel, &ua->shut_slice);
	memset(&n, 0, sizeof(n));
	n.kind = UA_NOTICE_SHUTDOWN_DONE;
	n.reason = "all answered";
	n.value = ua->shut_answered;
	notify(ua, &n);
}

static void finish_unregister(struct ua_trunk *t)
{
	struct ua *ua = t->ua;
	enum unreg_goal g = t->goal;

	t->goal = GOAL_NONE;
	t->txkind = TXK_NONE;
	t->action = UA_ACTION_NONE;
	t->valid_until = 0;
	t->granted = 0;
	if (t->flags & F_SHUTCOUNT) {
		t->flags &= (uint16_t)~F_SHUTCOUNT;
		ua->shut_answered++;
		ua->shut_pending--;
	}
	switch (g) {
	case GOAL_DELETE:
		free_trunk(t);
		break;
	case GOAL_DISABLE:
		set_state(t, UA_STATE_DISABLED, "disabled");
		break;
	case GOAL_RECONFIG:
		if (t->pending) {
			/* a new identity: a new registration (Call-ID, From tag) */
			if (!same_identity(&t->cfg->c, &t->pending->c)) {
				t->call_id = rnd(ua);
				t->call_id2 = (uint32_t)rnd(ua);
				t->tag = rnd(ua);
			}
			cfg_apply(t, t->pending);
			t->pending = NULL;
		}
		if (t->cfg->c.enabled && !ua->shutting) {
			set_state(t, UA_STATE_REGISTERING, "reconfigured");
			t->challenges = 0;
			attempt(t);
		} else {
			set_state(t, UA_STATE_DISABLED, "disabled");
		}
		break;
	case GOAL_SHUTDOWN:
	case GOAL_NONE:
		set_state(t, UA_STATE_DISABLED, "shutdown");
		break;
	}
	shutdown_check(ua);
}

static void result(struct ua_trunk *t, struct tx *tx, int err, const struct sip_msg *m);

static void on_result(void *arg, struct tx *tx, int err, const struct sip_msg *m)
{
	struct ua_trunk *t = arg;
	struct ua *ua = t->ua;

	ua_lock(ua);
	result(t, tx, err, m);
	ua_unlock(ua);
}

static void result(struct ua_trunk *t, struct tx *tx, int err, const struct sip_msg *m)
{
	enum txkind kind = t->txkind;
	char eb[64];
	const char *why;

	(void)tx;
	t->tx = NULL;
	t->action = UA_ACTION_NONE;
	if (kind == TXK_UNREGISTER) {
		if (!err && (m->status == 401 || m->status == 407)) {
			challenge(t, m, kind);
			return;
		}
		if (!err)
			set_reason(t, m->status, m->reason.p, m->reason.len);
		else
			set_reason(t, 0, "timeout", 7);
		finish_unregister(t);
		return;
	}
	t->txkind = TXK_NONE;
	if (err) {
		why = err_reason(err, eb, sizeof(eb));
		fail(t, 0, why, strlen(why), 0);
		return;
	}
	if (m->status >= 200 && m->status < 300) {
		success(t, m);
	} else if (m->status == 401 || m->status == 407) {
		t->txkind = TXK_NONE;
		challenge(t, m, TXK_REGISTER);
	} else if (m->status == 423) {
		interval_too_brief(t, m);
	} else {
		fail(t, m->status, m->reason.p, m->reason.len, retry_after(m));
	}
}

/* ------------------------------------------------------------------------ */
/* Unregister                                                                */

/* Stop what the trunk is doing; send Expires: 0 when the setting asks and a
 * binding may exist upstream; finish_unregister() runs when it is answered
 * (or at once when nothing is sent). */
static void begin_unregister(struct ua_trunk *t, enum unreg_goal g)
{
	struct ua *ua = t->ua;
	bool maybe_bound =
	        binding_valid(t, now_ms(ua)) || (t->tx && t->txkind == TXK_REGISTER);

	if (t->txkind == TXK_UNREGISTER && t->tx) {
		/* already on its way: only what follows changes */
		if (t->goal != GOAL_DELETE)
			t->goal = (uint8_t)g;
		return;
	}
	disarm(t);
	if (t->tx) {
		tx_abandon(ua->o.tx, t->tx);
		t->tx = NULL;
	}
	t->txkind = TXK_NONE;
	t->flags &= (uint16_t)~F_HELD;
	t->goal = (uint8_t)g;
	if (ua->set.send_unregister && maybe_bound && t->addrlen) {
		t->challenges = 0;
		t->flags &= (uint16_t)~F_CREDS_FRESH;
		if (start_tx(t, TXK_UNREGISTER) == 0) {
			set_state(t, UA_STATE_UNREGISTERING, "unregister");
			return;
		}
	}
	finish_unregister(t);
}

/* ------------------------------------------------------------------------ */
/* Public API                                                                */

int ua_new(struct ua **ret, const struct ua_opts *opts)
{
	struct ua *ua;
	size_t hl;
	struct in6_addr a6;

	if (!opts || !opts->wheel || !opts->tx || !opts->local_host)
		return -EINVAL;
	hl = strlen(opts->local_host);
	if (hl == 0 || hl > UA_HOST_MAX || ua_settings_check(&opts->settings) < 0)
		return -EINVAL;
	ua = calloc(1, sizeof(*ua));
	if (!ua)
		return -ENOMEM;
	ua->o = *opts;
	memcpy(ua->local_host, opts->local_host, hl + 1);
	ua->o.local_host = ua->local_host;
	ua->local_v6 = inet_pton(AF_INET6, ua->local_host, &a6) == 1;
	ua->set = opts->settings;
	ua->rng = opts->seed;
	if (!ua->rng && getrandom(&ua->rng, sizeof(ua->rng), 0) != sizeof(ua->rng))
		ua->rng = clock_now_ns() ^ ((uint64_t)opts->worker << 56);
	wheel_timer_init(&ua->shut_timer, NULL);
	wheel_timer_init(&ua->shut_slice, NULL);
	{
		pthread_mutexattr_t ma;

		/* recursive: a callback of ours may run inside a call of ours */
		pthread_mutexattr_init(&ma);
		pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_RECURSIVE);
		pthread_mutex_init(&ua->lock, &ma);
		pthread_mutexattr_destroy(&ma);
	}
	pthread_mutex_lock(&reg_lock);
	ua->reg_next = reg_head;
	if (reg_head)
		reg_head->reg_prev = ua;
	reg_head = ua;
	pthread_mutex_unlock(&reg_lock);
	*ret = ua;
	return 0;
}

void ua_free(struct ua *ua)
{
	struct ua_trunk *t, *nx;

	if (!ua)
		return;
	pthread_mutex_lock(&reg_lock);
	if (ua->reg_prev)
		ua->reg_prev->reg_next = ua->reg_next;
	else
		reg_head = ua->reg_next;
	if (ua->reg_next)
		ua->reg_next->reg_prev = ua->reg_prev;
	pthread_mutex_unlock(&reg_lock);
	for (t = ua->head; t; t = nx) {
		nx = t->next;
		wheel_cancel(ua->o.wheel, &t->timer);
		if (t->tx)
			tx_abandon(ua->o.tx, t->tx);
		free(t->cfg);
		free(t->pending);
		free(t->auth);
		free(t);
	}
	wheel_cancel(ua->o.wheel, &ua->shut_timer);
	wheel_cancel(ua->o.wheel, &ua->shut_slice);
	free(ua->buckets);
	pthread_mutex_destroy(&ua->lock);
	free(ua);
}

static int set_settings(struct ua *ua, const struct ua_settings *s)
{
	if (ua_settings_check(s) < 0)
		return -EINVAL;
	ua->set = *s;
	return 0;
}

int ua_set_settings(struct ua *ua, const struct ua_settings *s)
{
	int r;

	ua_lock(ua);
	r = set_settings(ua, s);
	ua_unlock(ua);
	return r;
}

static int trunk_add(struct ua *ua, const struct ua_trunk_config *c, bool hold_start,
                 struct ua_error *err)
{
	struct ua_trunk *t;
	struct cfgblk *b;
	int r;

	if (ua->shutting)
		return -ESHUTDOWN;
	r = ua_trunk_config_validate(c, err);
	if (r < 0)
		return r;
	if (lookup(ua, c->name)) {
		if (err)
			snprintf(err->msg, sizeof(err->msg),
			         "name: \"%s\" already exists", c->name);
		return -EEXIST;
	}
	if (ua->nlisted + 1 > ua->nbuckets && (r = table_grow(ua)) < 0)
		return r;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->ua = ua;
	b = cfg_copy(c);
	if (!b) {
		free(t);
		return -ENOMEM;
	}
	cfg_apply(t, b);
	wheel_timer_init(&t->timer, on_timer);
	t->hash = name_hash(t->cfg->c.name);
	t->spread = (uint16_t)((t->hash * 2654435761u) >> 16);
	t->call_id = rnd(ua);
	t->call_id2 = (uint32_t)rnd(ua);
	t->tag = rnd(ua);
	t->cseq = (uint32_t)(rnd(ua) % 10000); /* RFC 3261 §8.1.1.5: below 2^31 */
	t->state = UA_STATE_DISABLED;
	ua->counts[UA_STATE_DISABLED]++;
	t->next = ua->head;
	if (ua->head)
		ua->head->prev = t;
	ua->head = t;
	t->hnext = ua->buckets[t->hash & (ua->nbuckets - 1)];
	ua->buckets[t->hash & (ua->nbuckets - 1)] = t;
	t->flags |= F_LISTED;
	ua->nlisted++;
	if (t->cfg->c.enabled) {
		if (hold_start) {
			t->flags |= F_HELD;
			t->action = UA_ACTION_HELD;
			set_state(t, UA_STATE_REGISTERING, "added");
		} else {
			schedule_start(t);
		}
	}
	return 0;
}

int ua_trunk_add(struct ua *ua, const struct ua_trunk_config *c, bool hold_start,
                 struct ua_error *err)
{
	int r;

	ua_lock(ua);
	r = trunk_add(ua, c, hold_start, err);
	ua_unlock(ua);
	return r;
}

static int trunk_set(struct ua *ua, const struct ua_trunk_config *c, struct ua_error *err)
{
	struct ua_trunk *t;
	struct cfgblk *b;
	bool same;
	int r;

	if (ua->shutting)
		return -ESHUTDOWN;
	r = ua_trunk_config_validate(c, err);
	if (r < 0)
		return r;
	t = lookup(ua, c->name);
	if (!t)
		return -ENOENT;
	b = cfg_copy(c);
	if (!b)
		return -ENOMEM;
	same = same_identity(&t->cfg->c, &b->c);
	if (same && b->c.primary != t->cfg->c.primary && !t->pending &&
	    b->c.expire == t->cfg->c.expire &&
	    b->c.retry_delay == t->cfg->c.retry_delay &&
	    b->c.enabled == t->cfg->c.enabled) {
		/* Only the primary mark changed: nothing the upstream sees, so
		 * the registration (or the retry) goes on untouched. */
		t->cfg->c.primary = b->c.primary;
		free(b);
		return 0;
	}
	if (!b->c.enabled) {
		if (t->state == UA_STATE_DISABLED) {
			cfg_apply(t, b);
			return 0;
		}
		free(t->pending);
		t->pending = b;
		t->cfg->c.enabled = false;
		begin_unregister(t, GOAL_RECONFIG);
		return 0;
	}
	if (t->state == UA_STATE_DISABLED || (t->flags & F_HELD)) {
		bool held = t->flags & F_HELD;

		cfg_apply(t, b);
		if (!held)
			schedule_start(t);
		return 0;
	}
	if (same) {
		/* Keep the address and the challenge: only the expiry or the
		 * retry delay changed. Re-register now with the new values. */
		struct authcache *a = t->auth;
		union ua_sockaddr ad = t->addr;
		uint8_t al = t->addrlen;
		uint16_t dns = t->flags & F_NEED_DNS;

		t->auth = NULL;
		cfg_apply(t, b);
		t->auth = a;
		t->addr = ad;
		t->addrlen = al;
		t->flags = (uint16_t)((t->flags & ~F_NEED_DNS) | dns);
		if (t->txkind == TXK_UNREGISTER) {
			if (t->goal != GOAL_DELETE)
				t->goal = GOAL_RECONFIG; /* register when it ends */
			return 0;
		}
		if (t->tx) {
			tx_abandon(ua->o.tx, t->tx);
			t->tx = NULL;
			t->txkind = TXK_NONE;
		}
		disarm(t);
		attempt(t);
		return 0;
	}
	free(t->pending);
	t->pending = b;
	begin_unregister(t, GOAL_RECONFIG);
	return 0;
}

int ua_trunk_set(struct ua *ua, const struct ua_trunk_config *c, struct ua_error *err)
{
	int r;

	ua_lock(ua);
	r = trunk_set(ua, c, err);
	ua_unlock(ua);
	return r;
}

static int trunk_del(struct ua *ua, const char *name)
{
	struct ua_trunk *t = lookup(ua, name);

	if (!t)
		return -ENOENT;
	unlist(t);
	if (ua->shutting && t->txkind != TXK_UNREGISTER) {
		disarm(t);
		if (t->tx)
			tx_abandon(ua->o.tx, t->tx);
		t->tx = NULL;
		free_trunk(t);
		return 0;
	}
	begin_unregister(t, GOAL_DELETE);
	return 0;
}

int ua_trunk_del(struct ua *ua, const char *name)
{
	int r;

	ua_lock(ua);
	r = trunk_del(ua, name);
	ua_unlock(ua);
	return r;
}

static int trunk_enable(struct ua *ua, const char *name)
{
	struct ua_trunk *t = lookup(ua, name);

	if (!t)
		return -ENOENT;
	if (ua->shutting)
		return -ESHUTDOWN;
	if (t->cfg->c.enabled)
		return -EALREADY;
	t->cfg->c.enabled = true;
	if (t->pending)
		t->pending->c.enabled = true;
	if (t->txkind == TXK_UNREGISTER) {
		t->goal = GOAL_RECONFIG; /* register again once it is answered */
		return 0;
	}
	schedule_start(t);
	return 0;
}

int ua_trunk_enable(struct ua *ua, const char *name)
{
	int r;

	ua_lock(ua);
	r = trunk_enable(ua, name);
	ua_unlock(ua);
	return r;
}

static int trunk_disable(struct ua *ua, const char *name)
{
	struct ua_trunk *t = lookup(ua, name);

	if (!t)
		return -ENOENT;
	if (!t->cfg->c.enabled)
		return -EALREADY;
	t->cfg->c.enabled = false;
	if (ua->shutting)
		return 0;
	begin_unregister(t, GOAL_DISABLE);
	return 0;
}

int ua_trunk_disable(struct ua *ua, const char *name)
{
	int r;

	ua_lock(ua);
	r = trunk_disable(ua, name);
	ua_unlock(ua);
	return r;
}

static int trunk_refresh(struct ua *ua, const char *name)
{
	struct ua_trunk *t = lookup(ua, name);

	if (!t)
		return -ENOENT;
	if (!t->cfg->c.enabled || ua->shutting)
		return -EPERM;
	if (t->tx || (t->flags & F_RESOLVING))
		return -EINPROGRESS;
	disarm(t);
	t->flags &= (uint16_t)~F_HELD;
	attempt(t);
	return 0;
}

int ua_trunk_refresh(struct ua *ua, const char *name)
{
	int r;

	ua_lock(ua);
	r = trunk_refresh(ua, name);
	ua_unlock(ua);
	return r;
}

static size_t start_all(struct ua *ua)
{
	size_t n = 0;

	for (struct ua_trunk *t = ua->head; t; t = t->next)
		if ((t->flags & F_HELD) && !ua->shutting) {
			schedule_start(t);
			n++;
		}
	return n;
}

size_t ua_start_all(struct ua *ua)
{
	size_t r;

	ua_lock(ua);
	r = start_all(ua);
	ua_unlock(ua);
	return r;
}

void ua_trunk_status(struct ua *ua, const struct ua_trunk *t, struct ua_trunk_status *out)
{
	uint64_t now = now_ms(ua);

	memset(out, 0, sizeof(*out));
	snprintf(out->name, sizeof(out->name), "%s", t->cfg->c.name);
	out->state = t->state;
	out->last_code = t->last_code;
	memcpy(out->last_reason, t->last_reason, sizeof(t->last_reason));
	out->granted = t->granted;
	out->asked = t->asked;
	out->valid = binding_valid(t, now);
	out->valid_until_ms = out->valid ? t->valid_until : 0;
	out->last_success = (time_t)t->last_success;
	out->next_action = t->action;
	if (wheel_timer_pending(&t->timer))
		out->next_at_ms = wheel_timer_expires(&t->timer);
	out->attempts = t->attempts;
	out->failures = t->failures;
	out->cseq = t->cseq;
	out->enabled = t->cfg->c.enabled;
	out->primary = t->cfg->c.primary;
}

int ua_trunk_get_status(struct ua *ua, const char *name, struct ua_trunk_status *out)
{
	struct ua_trunk *t = lookup(ua, name);

	if (!t)
		return -ENOENT;
	ua_trunk_status(ua, t, out);
	return 0;
}

int ua_trunk_get_config(struct ua *ua, const char *name, struct ua_trunk_config *out,
                        char *buf, size_t cap)
{
	struct ua_trunk *t = lookup(ua, name);
	size_t n;

	if (!t)
		return -ENOENT;
	n = t->cfg->size - sizeof(struct cfgblk);
	if (n > cap)
		return -ENOSPC;
	memcpy(buf, t->cfg->data, n);
	*out = t->cfg->c;
	out->name = buf + (t->cfg->c.name - t->cfg->data);
	out->registrar = buf + (t->cfg->c.registrar - t->cfg->data);
	out->proxy = buf + (t->cfg->c.proxy - t->cfg->data);
	out->user = buf + (t->cfg->c.user - t->cfg->data);
	out->auth_user = buf + (t->cfg->c.auth_user - t->cfg->data);
	out->password = buf + (t->cfg->c.password - t->cfg->data);
	out->domain = buf + (t->cfg->c.domain - t->cfg->data);
	out->realm = buf + (t->cfg->c.realm - t->cfg->data);
	out->contact_user = buf + (t->cfg->c.contact_user - t->cfg->data);
	return 0;
}

struct ua_trunk *ua_trunk_first(struct ua *ua)
{
	struct ua_trunk *t = ua->head;

	while (t && !(t->flags & F_LISTED))
		t = t->next;
	return t;
}

struct ua_trunk *ua_trunk_next(struct ua *ua, struct ua_trunk *t)
{
	(void)ua;
	for (t = t->next; t && !(t->flags & F_LISTED); t = t->next)
		;
	return t;
}

const char *ua_trunk_name(const struct ua_trunk *t)
{
	return t->cfg->c.name;
}

size_t ua_counts(const struct ua *ua, size_t counts[UA_STATE__COUNT])
{
	size_t total = 0;

	for (unsigned i = 0; i < UA_STATE__COUNT; i++) {
		counts[i] = ua->counts[i];
		total += ua->counts[i];
	}
	return total;
}

static void on_shut_slice(struct wheel *w, struct wheel_timer *wt);

/* Would the shutdown send an unregister for t (begin_unregister()'s test)? */
static bool shut_would_send(struct ua *ua, const struct ua_trunk *t)
{
	if (t->txkind == TXK_UNREGISTER && t->tx)
		return false; /* already out (counted when the walk meets it) */
	if (!(t->flags & F_LISTED) || t->state == UA_STATE_DISABLED)
		return false;
	return ua->set.send_unregister && t->addrlen &&
	       (binding_valid(t, now_ms(ua)) || (t->tx && t->txkind == TXK_REGISTER));
}

static void on_shut_timer(struct wheel *w, struct wheel_timer *wt)
{
	struct ua *ua = wheel_timer_owner(wt, struct ua, shut_timer);
	struct ua_notice n;
	unsigned left = 0;

	(void)w;
	ua_lock(ua);
	/* the trunks the walk did not reach: nothing sent, their bindings
	 * expire upstream on their own */
	for (struct ua_trunk *t = ua->shut_cursor; t; t = t->next)
		if (shut_would_send(ua, t))
			ua->shut_skipped++;
	ua->shut_cursor = NULL;
	wheel_cancel(ua->o.wheel, &ua->shut_slice);
	for (struct ua_trunk *t = ua->head, *nx; t; t = nx) {
		nx = t->next;
		if (!(t->flags & F_SHUTCOUNT))
			continue;
		t->flags &= (uint16_t)~F_SHUTCOUNT;
		left++;
		if (t->tx)
			tx_abandon(ua->o.tx, t->tx);
		t->tx = NULL;
		set_reason(t, 0, "unregister not answered", 23);
		finish_unregister(t);
	}
	ua->shut_pending = 0;
	ua->shut_done = true;
	memset(&n, 0, sizeof(n));
	n.kind = UA_NOTICE_SHUTDOWN_DONE;
	n.reason = "bound reached";
	n.value = ua->shut_answered;
	n.value2 = left;
	n.value3 = ua->shut_skipped;
	notify(ua, &n);
	ua_unlock(ua);
}

/* One trunk of the walk: returns true when an unregister went out. */
static bool shut_one(struct ua *ua, struct ua_trunk *t)
{
	if (t->txkind == TXK_UNREGISTER && t->tx) {
		if (t->goal != GOAL_DELETE)
			t->goal = GOAL_SHUTDOWN;
		if (!(t->flags & F_SHUTCOUNT)) {
			t->flags |= F_SHUTCOUNT;
			ua->shut_pending++;
		}
		return false;
	}
	if (!(t->flags & F_LISTED))
		return false;
	if (t->state == UA_STATE_DISABLED) {
		disarm(t);
		return false;
	}
	begin_unregister(t, GOAL_SHUTDOWN);
	if (t->txkind == TXK_UNREGISTER && t->tx) {
		t->flags |= F_SHUTCOUNT;
		ua->shut_pending++;
		return true;
	}
	return false;
}

/* A slice of the walk: at most UA_SHUT_SLICE unregisters started, none
 * while UA_SHUT_WINDOW are unanswered (the upstream's receive queue and our
 * send queue are not overrun; the answers make room), at most
 * UA_SHUT_VISIT trunks looked at. Returns the number sent. */
static unsigned shut_step(struct ua *ua)
{
	unsigned sent = 0, seen = 0;

	while (ua->shut_cursor && sent < UA_SHUT_SLICE && seen < UA_SHUT_VISIT &&
	       ua->shut_pending < UA_SHUT_WINDOW) {
		struct ua_trunk *t = ua->shut_cursor;

		/* advance first: finish_unregister() may free t (a deletion
		 * under way), free_trunk() moves the cursor past it too */
		ua->shut_cursor = t->next;
		seen++;
		if (shut_one(ua, t))
			sent++;
	}
	if (ua->shut_cursor) {
		ua->shut_slice.cb = on_shut_slice;
		wheel_add(ua->o.wheel, &ua->shut_slice, now_ms(ua) + 1);
	}
	shutdown_check(ua);
	return sent;
}

static void on_shut_slice(struct wheel *w, struct wheel_timer *wt)
{
	struct ua *ua = wheel_timer_owner(wt, struct ua, shut_slice);

	(void)w;
	ua_lock(ua);
	if (!ua->shut_done)
		shut_step(ua);
	ua_unlock(ua);
}

static int shutdown_all(struct ua *ua, unsigned bound_ms)
{
	if (ua->shutting)
		return -EALREADY;
	/* the bound counts from now, whatever the walk takes */
	ua->shutting = true;
	ua->shut_cursor = ua->head;
	ua->shut_timer.cb = on_shut_timer;
	wheel_add(ua->o.wheel, &ua->shut_timer, now_ms(ua) + bound_ms);
	return (int)shut_step(ua);
}

int ua_shutdown(struct ua *ua, unsigned bound_ms)
{
	int r;

	ua_lock(ua);
	r = shutdown_all(ua, bound_ms);
	ua_unlock(ua);
	return r;
}

bool ua_shutdown_done(const struct ua *ua)
{
	return ua->shut_done;
}

static int resolve_done(struct ua *ua, uint64_t token, int err, const struct sockaddr *addr,
                    socklen_t addrlen, const char *reason)
{
	struct ua_trunk *t = (struct ua_trunk *)(uintptr_t)token;
	uint16_t port;
	char eb[96];

	if (!t || t->ua != ua || !(t->flags & F_RESOLVING))
		return -ENOENT;
	t->flags &= (uint16_t)~F_RESOLVING;
	if (t->flags & F_DEAD) {
		free_trunk(t);
		return 0;
	}
	if (!err && addr && (addr->sa_family == AF_INET || addr->sa_family == AF_INET6) &&
	    addrlen <= sizeof(t->addr)) {
		memset(&t->addr, 0, sizeof(t->addr));
		memcpy(&t->addr, addr, addrlen);
		t->addrlen = (uint8_t)addrlen;
		dest_host(&t->cfg->c, &port);
		if (addr->sa_family == AF_INET)
			t->addr.in.sin_port = htons(port);
		else
			t->addr.in6.sin6_port = htons(port);
		t->flags &= (uint16_t)~F_NEED_DNS;
		err = 0;
	} else if (!err) {
		err = -EAFNOSUPPORT;
	}
	if (t->action != UA_ACTION_RESOLVE)
		return 0; /* no longer waited for (disabled, deleted, shut down) */
	t->action = UA_ACTION_NONE;
	if (err) {
		snprintf(eb, sizeof(eb), "dns: %s", reason ? reason : strerror(-err));
		fail(t, 0, eb, strlen(eb), 0);
		return 0;
	}
	send_register(t);
	return 0;
}

int ua_resolve_done(struct ua *ua, uint64_t token, int err, const struct sockaddr *addr,
                    socklen_t addrlen, const char *reason)
{
	int r;

	ua_lock(ua);
	r = resolve_done(ua, token, err, addr, addrlen, reason);
	ua_unlock(ua);
	return r;
}

int ua_resolve_result_apply(const struct ua_resolve_result *res)
{
	return ua_resolve_done(res->ua, res->token, res->err,
	                       res->err ? NULL : (const struct sockaddr *)&res->addr,
	                       res->addrlen, res->reason[0] ? res->reason : NULL);
}

void ua_stats_get(const struct ua *ua, struct ua_stats *out)
{
	*out = ua->stats;
}

size_t ua_trunk_memory(const struct ua_trunk *t)
{
	return sizeof(*t) + t->cfg->size + (t->pending ? t->pending->size : 0) +
	       (t->auth ? sizeof(*t->auth) + t->auth->cap : 0);
}

static int bad(const char **why, const char **trunk, const struct ua_trunk *t,
               const char *w)
{
	if (why)
		*why = w;
	if (trunk)
		*trunk = t ? t->cfg->c.name : NULL;
	return -EUCLEAN;
}

static int check_trunk(const struct ua *ua, const struct ua_trunk *t, const char **why,
                       const char **trunk)
{
	bool timer = wheel_timer_pending(&t->timer);
	bool resolving = t->flags & F_RESOLVING;
	bool waiting = t->action == UA_ACTION_RESOLVE;

	if (t->flags & F_DEAD)
		return resolving && !timer && !t->tx
		               ? 0
		               : bad(why, trunk, t,
		                     "a dead trunk holds more than its lookup");
	if (t->tx && t->txkind == TXK_NONE)
		return bad(why, trunk, t, "a transaction without a kind");
	if (!t->tx && t->txkind != TXK_NONE)
		return bad(why, trunk, t, "a kind without a transaction");
	if (t->tx && timer)
		return bad(why, trunk, t, "a timer armed while a transaction is live");
	if (waiting && !resolving)
		return bad(why, trunk, t, "waiting for a lookup that is not under way");
	if (waiting && (timer || t->tx))
		return bad(why, trunk, t, "waiting for a lookup and something else");
	switch (t->state) {
	case UA_STATE_DISABLED:
		if (timer || t->tx || waiting)
			return bad(why, trunk, t, "a disabled trunk has work under way");
		if (t->cfg->c.enabled && !ua->shutting && (t->flags & F_LISTED))
			return bad(why, trunk, t, "an enabled trunk is disabled");
		return 0;
	case UA_STATE_UNREGISTERING:
		return t->tx && t->txkind == TXK_UNREGISTER
		               ? 0
		               : bad(why, trunk, t,
		                     "unregistering without its transaction");
	case UA_STATE_REGISTERED:
		if (!timer || t->action != UA_ACTION_REFRESH)
			return bad(why, trunk, t, "registered without a refresh armed");
		if (wheel_timer_expires(&t->timer) >= t->valid_until)
			return bad(why, trunk, t,
			           "the refresh comes after the binding lapses");
		return 0;
	case UA_STATE_FAILED:
		return timer && t->action == UA_ACTION_RETRY
		               ? 0
		               : bad(why, trunk, t, "failed without a retry armed");
	case UA_STATE_REGISTERING:
	case UA_STATE_REFRESHING:
		if (t->flags & F_HELD)
			return !timer && !t->tx
			               ? 0
			               : bad(why, trunk, t, "held with work under way");
		if ((t->tx && t->txkind == TXK_REGISTER) || waiting ||
		    (timer && t->action == UA_ACTION_REGISTER))
			return 0;
		return bad(why, trunk, t, "registering with nothing under way");
	default:
		return bad(why, trunk, t, "unknown state");
	}
}

int ua_check(const struct ua *ua, const char **why, const char **trunk)
{
	size_t counts[UA_STATE__COUNT] = {0}, listed = 0;
	int r;

	for (const struct ua_trunk *t = ua->head; t; t = t->next) {
		if (t->ua != ua)
			return bad(why, trunk, t, "a trunk of another UA");
		if (t->next && t->next->prev != t)
			return bad(why, trunk, t, "broken list links");
		if (t->state >= UA_STATE__COUNT)
			return bad(why, trunk, t, "state out of range");
		counts[t->state]++;
		if (t->flags & F_LISTED) {
			listed++;
			if (lookup(ua, t->cfg->c.name) != t)
				return bad(why, trunk, t,
				           "a listed trunk is not found by name");
		}
		if (ua->shutting)
			continue; /* after shutdown only the unregisters matter */
		if ((r = check_trunk(ua, t, why, trunk)) < 0)
			return r;
	}
	for (unsigned i = 0; i < UA_STATE__COUNT; i++)
		if (counts[i] != ua->counts[i])
			return bad(why, trunk, NULL, "counts by state are wrong");
	if (listed != ua->nlisted)
		return bad(why, trunk, NULL, "the listed count is wrong");
	return 0;
}

unsigned ua_worker(const struct ua *ua)
{
	return ua->o.worker;
}

size_t ua_trunk_struct_size(void)
{
	return sizeof(struct ua_trunk);
}

/* ------------------------------------------------------------------------ */
/* Observations                                                              */

const char *ua_fail_kind_name(enum ua_fail_kind k)
{
	static const char *const n[UA_FAIL__COUNT] = {
	        "none", "auth", "forbidden", "timeout", "other",
	};

	return (unsigned)k < UA_FAIL__COUNT ? n[k] : "unknown";
}

/* A bounded string copy (no printf on the path that holds the lock). */
static void scopy(char *dst, size_t cap, const char *src)
{
	size_t n = strnlen(src, cap - 1);

	memcpy(dst, src, n);
	dst[n] = '\0';
}

/* Under ua->lock: the copy of one trunk (no wheel state is read: the
 * timer's time is t->next_at, kept by arm()/disarm()/on_timer()). */
static void observe_one(struct ua *ua, const struct ua_trunk *t, uint64_t now,
                        time_t wall, struct ua_trunk_obs *o)
{
	const struct ua_trunk_config *c = &t->cfg->c;
	struct ua_trunk_status *st = &o->st;
	uint16_t port;

	memset(st, 0, sizeof(*st));
	scopy(st->name, sizeof(st->name), c->name);
	st->state = t->state;
	st->last_code = t->last_code;
	memcpy(st->last_reason, t->last_reason, sizeof(t->last_reason));
	st->granted = t->granted;
	st->asked = t->asked;
	st->valid = binding_valid(t, now);
	st->valid_until_ms = st->valid ? t->valid_until : 0;
	st->last_success = (time_t)t->last_success;
	st->next_action = t->action;
	st->next_at_ms = t->next_at;
	st->attempts = t->attempts;
	st->failures = t->failures;
	st->cseq = t->cseq;
	st->enabled = c->enabled;
	st->primary = c->primary;
	scopy(o->dest_host, sizeof(o->dest_host), dest_host(c, &port));
	o->dest_port = port;
	o->transport = c->transport;
	o->expire_cfg = c->expire;
	o->retry_cfg = c->retry_delay;
	o->expire_mode = expire_mode(t);
	o->retry_delay = retry_delay(t);
	o->effective = t->granted ? t->effective : 0;
	o->min_expires = t->min_expires;
	o->retry_after = t->retry_after_used;
	scopy(o->local_host, sizeof(o->local_host), ua->local_host);
	o->local_port = local_port(t);
	o->via_seen = t->via_seen;
	o->via_rport = t->via_seen ? t->rcv_rport : -1;
	o->via_at = t->via_at;
	o->via_received[0] = '\0';
	if (t->rcv_family)
		inet_ntop(t->rcv_family, t->rcv_addr, o->via_received,
		          sizeof(o->via_received));
	o->run = t->run;
	for (unsigned k = 0; k < UA_FAIL__COUNT; k++)
		o->run_kind[k] = t->run_kind[k];
	o->run_timeouts_after_reject = t->run_to_after_rej;
	o->last_kind = t->last_kind;
	o->run_first = t->run_first;
	o->run_last = t->run_last;
	o->now_ms = now;
	o->now_wall = wall;
}

int ua_observe(struct ua *ua, ua_observe_fn fn, void *arg)
{
	struct ua_trunk_obs *o = malloc(sizeof(*o));
	uint64_t now;
	time_t wall;
	int r = 0;

	if (!o)
		return -ENOMEM;
	ua_lock(ua);
	now = now_ms(ua);
	wall = ua->o.wall ? ua->o.wall(ua->o.wall_arg) : time(NULL);
	for (const struct ua_trunk *t = ua->head; t && r == 0; t = t->next) {
		if (!(t->flags & F_LISTED))
			continue;
		observe_one(ua, t, now, wall, o);
		r = fn(arg, o);
	}
	ua_unlock(ua);
	free(o);
	return r;
}

int ua_observe_all(ua_observe_fn fn, void *arg)
{
	int r = 0;

	pthread_mutex_lock(&reg_lock);
	for (struct ua *ua = reg_head; ua && r == 0; ua = ua->reg_next)
		r = ua_observe(ua, fn, arg);
	pthread_mutex_unlock(&reg_lock);
	return r;
}
