/* SPDX-License-Identifier: MIT */
/*
 * location.c - the location table (see location.h for the rules).
 *
 * A record is one allocation: the header, its bindings, then a byte blob with
 * the address-of-record and every binding's strings (offsets into the blob).
 *
 * Record life and who frees it (all flag changes under the stripe mutex):
 *   current    in the hash table; may be on its stripe's dirty list
 *              (ON_DIRTY, linked by dirty_next, in the order the records
 *              became dirty) and/or being written by the flusher (IN_FLUSH)
 *   retired    replaced by a successor (REPLACED) or removed with none
 *              (TOMBSTONE, which goes on the dirty list so that the deletion
 *              is written); out of the table.
 * A retired record is freed (call_rcu) by whoever clears the last of
 * ON_DIRTY and IN_FLUSH, or at once when it has neither. So the flusher may
 * hold its list across quiescent states (it writes to the store offline): no
 * record on it is freed under it. The flusher takes a stripe's whole list
 * at once and keeps ON_DIRTY on each record until it reaches it: then,
 * under the stripe lock, it reads the record's dirty_next and turns
 * ON_DIRTY into IN_FLUSH, so a worker may put the record on the new dirty
 * list (reusing dirty_next) while it is written, and one change made before
 * the flusher reaches a record is in what it writes.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <urcu/urcu-qsbr.h>
#include <urcu/uatomic.h>

#include "sipreg/location.h"
#include "sipreg/wheel.h"
#include "rhash.h"

enum { S_URI, S_INSTANCE, S_CALL_ID, S_PATH, S_UA, S__COUNT };

enum rec_flags {
	ON_DIRTY = 1u << 0,
	REPLACED = 1u << 1,
	TOMBSTONE = 1u << 2,
	IN_FLUSH = 1u << 3,
	/* the store may hold bindings of this AOR that the record has not:
	 * its next write replaces them all (set before publication, cleared
	 * by the flusher once written) */
	PURGE = 1u << 4,
};

struct loc_b {
	uint64_t expires; /* atomic: refreshed in place */
	uint64_t conn;
	uint32_t cseq;    /* atomic: refreshed in place */
	uint32_t reg_id;
	uint16_t q;
	uint8_t nat;
	uint8_t transport;
	uint8_t family;   /* AF_INET / AF_INET6 / 0 */
	uint16_t port;    /* host order */
	uint8_t addr[16];
	uint16_t off[S__COUNT];
	uint16_t len[S__COUNT];
};

struct loc_rec {
	struct rcu_head rcu;
	struct wheel_timer timer;
	struct loc_rec *dirty_next;
	struct location *loc;
	uint64_t hash;
	uint32_t flags;
	uint16_t nb;
	uint16_t aor_len;
	struct loc_b b[];
	/* then the blob: aor, then the bindings' strings */
};

struct loc_stripe {
	alignas(64) pthread_mutex_t lock;
	struct wheel *wheel;
	struct loc_rec *dirty; /* FIFO: the first to become dirty first */
	struct loc_rec *dirty_tail;
};

struct location {
	struct rhash *ht;
	uint8_t key[SIPHASH_KEY_LEN];
	loc_expired_cb on_expired;
	void *arg;
	uint64_t records;  /* atomic */
	uint64_t bindings; /* atomic */
	struct loc_stripe stripe[LOCATION_STRIPES];
};

/* A binding about to be written into a new record. */
struct loc_spec {
	struct sip_str s[S__COUNT];
	uint64_t expires;
	uint64_t conn;
	uint32_t cseq;
	uint32_t reg_id;
	uint16_t q;
	uint8_t nat;
	uint8_t transport;
	uint8_t family;
	uint16_t port;
	uint8_t addr[16];
	bool touched; /* named by the request being applied */
};

static char *rec_blob(const struct loc_rec *r)
{
	return (char *)&r->b[r->nb];
}

static struct sip_str rec_aor(const struct loc_rec *r)
{
	return sip_str_make(rec_blob(r), r->aor_len);
}

static struct sip_str b_str(const struct loc_rec *r, const struct loc_b *b, int i)
{
	return sip_str_make(rec_blob(r) + b->off[i], b->len[i]);
}

static struct loc_stripe *stripe_of(struct location *l, uint64_t hash)
{
	return &l->stripe[hash % LOCATION_STRIPES];
}

/* ------------------------------------------------------------------------ */
/* Addresses                                                                 */

static void addr_pack(struct loc_spec *s, const struct sockaddr *sa)
{
	s->family = 0;
	if (!sa)
		return;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const void *)sa;
		s->family = AF_INET;
		s->port = ntohs(s4->sin_port);
		memcpy(s->addr, &s4->sin_addr, 4);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)sa;
		s->family = AF_INET6;
		s->port = ntohs(s6->sin6_port);
		memcpy(s->addr, &s6->sin6_addr, 16);
	}
}

static void addr_unpack(const struct loc_b *b, struct sockaddr_storage *ss)
{
	static const struct sockaddr_storage zero;

	/* a copy, not memset: gcc makes this memset a rep stos, whose start-up
	 * was 0.5 % of sipregd's samples under load (one per binding of each
	 * 200); the copy is eight vector moves */
	memcpy(ss, &zero, sizeof(*ss));
	if (b->family == AF_INET) {
		struct sockaddr_in *s4 = (void *)ss;
		s4->sin_family = AF_INET;
		s4->sin_port = htons(b->port);
		memcpy(&s4->sin_addr, b->addr, 4);
	} else if (b->family == AF_INET6) {
		struct sockaddr_in6 *s6 = (void *)ss;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(b->port);
		memcpy(&s6->sin6_addr, b->addr, 16);
	}
}

static bool addr_same(const struct loc_b *b, const struct loc_spec *s)
{
	size_t n = b->family == AF_INET ? 4 : 16;

	return b->family == s->family && b->port == s->port &&
	       (b->family == 0 || memcmp(b->addr, s->addr, n) == 0);
}

/* ------------------------------------------------------------------------ */
/* Records                                                                   */

static void spec_from_binding(struct loc_spec *s, const struct loc_rec *r, const struct loc_b *b)
{
	for (int i = 0; i < S__COUNT; i++)
		s->s[i] = b_str(r, b, i);
	s->expires = uatomic_read(&b->expires);
	s->conn = b->conn;
	s->cseq = uatomic_read(&b->cseq);
	s->reg_id = b->reg_id;
	s->q = b->q;
	s->nat = b->nat;
	s->transport = b->transport;
	s->family = b->family;
	s->port = b->port;
	memcpy(s->addr, b->addr, sizeof(s->addr));
	s->touched = false;
}

static void spec_from_request(struct loc_spec *s, const struct loc_contact *c,
			      const struct loc_request *req, uint64_t now)
{
	s->s[S_URI] = c->uri;
	s->s[S_INSTANCE] = c->instance;
	s->s[S_CALL_ID] = req->call_id;
	s->s[S_PATH] = req->path;
	s->s[S_UA] = req->user_agent;
	s->expires = now + (uint64_t)c->expires * 1000;
	s->conn = req->conn;
	s->cseq = req->cseq;
	s->reg_id = c->reg_id;
	s->q = c->q;
	s->nat = req->nat;
	s->transport = (uint8_t)req->transport;
	addr_pack(s, req->received);
	s->touched = true;
}

static void rec_timer_cb(struct wheel *w, struct wheel_timer *t);

/* One allocation holding aor and the specs; NULL on -ENOMEM or -E2BIG. */
static struct loc_rec *rec_build(struct location *l, struct sip_str aor, uint64_t hash,
				 const struct loc_spec *sp, size_t n, int *err)
{
	size_t blob = aor.len, off;
	struct loc_rec *r;

	for (size_t i = 0; i < n; i++) {
		size_t one = 0;
		for (int k = 0; k < S__COUNT; k++)
			one += sp[i].s[k].len;
		if (one > LOCATION_STR_MAX) {
			*err = -E2BIG;
			return NULL;
		}
		blob += one;
	}
	r = malloc(sizeof(*r) + n * sizeof(struct loc_b) + blob);
	if (!r) {
		*err = -ENOMEM;
		return NULL;
	}
	memset(r, 0, sizeof(*r));
	wheel_timer_init(&r->timer, rec_timer_cb);
	r->loc = l;
	r->hash = hash;
	r->nb = (uint16_t)n;
	r->aor_len = (uint16_t)aor.len;
	memcpy(rec_blob(r), aor.p, aor.len);
	off = aor.len;
	for (size_t i = 0; i < n; i++) {
		struct loc_b *b = &r->b[i];
		b->expires = sp[i].expires;
		b->conn = sp[i].conn;
		b->cseq = sp[i].cseq;
		b->reg_id = sp[i].reg_id;
		b->q = sp[i].q;
		b->nat = sp[i].nat;
		b->transport = sp[i].transport;
		b->family = sp[i].family;
		b->port = sp[i].port;
		memcpy(b->addr, sp[i].addr, sizeof(b->addr));
		for (int k = 0; k < S__COUNT; k++) {
			b->off[k] = (uint16_t)off;
			b->len[k] = (uint16_t)sp[i].s[k].len;
			if (sp[i].s[k].len)
				memcpy(rec_blob(r) + off, sp[i].s[k].p, sp[i].s[k].len);
			off += sp[i].s[k].len;
		}
	}
	return r;
}

static void rec_free_rcu(struct rcu_head *head)
{
	free(caa_container_of(head, struct loc_rec, rcu));
}

static uint64_t rec_earliest(const struct loc_rec *r)
{
	uint64_t e = UINT64_MAX;

	for (unsigned i = 0; i < r->nb; i++) {
		uint64_t x = uatomic_read(&r->b[i].expires);
		if (x < e)
			e = x;
	}
	return e;
}

/* Under the stripe lock. */
static void mark_dirty(struct loc_stripe *st, struct loc_rec *r)
{
	if (r->flags & ON_DIRTY)
		return;
	r->flags |= ON_DIRTY;
	r->dirty_next = NULL;
	if (st->dirty_tail)
		st->dirty_tail->dirty_next = r;
	else
		st->dirty = r;
	st->dirty_tail = r;
}

/* Under the stripe lock: r leaves service; freed now or by the flusher. */
static void rec_retire(struct location *l, struct loc_stripe *st, struct loc_rec *r,
		       uint32_t why)
{
	if (wheel_timer_pending(&r->timer))
		wheel_cancel(st->wheel, &r->timer);
	uatomic_sub(&l->bindings, r->nb);
	r->flags |= why;
	if (why == TOMBSTONE) {
		uatomic_dec(&l->records);
		mark_dirty(st, r); /* the deletion must be persisted */
	} else if (!(r->flags & (ON_DIRTY | IN_FLUSH))) {
		urcu_qsbr_call_rcu(&r->rcu, rec_free_rcu);
	}
}

/* Does nr lack a contact URI that old has (the store's key: aor, contact)? */
static bool contacts_dropped(const struct loc_rec *old, const struct loc_rec *nr)
{
	for (unsigned i = 0; i < old->nb; i++) {
		struct sip_str uri = b_str(old, &old->b[i], S_URI);
		bool kept = false;
		for (unsigned k = 0; k < nr->nb && !kept; k++)
			kept = sip_str_eq(b_str(nr, &nr->b[k], S_URI), uri);
		if (!kept)
			return true;
	}
	return false;
}

static bool match_aor(const void *item, const void *key)
{
	const struct loc_rec *r = item;
	const struct sip_str *aor = key;

	return r->aor_len == aor->len && memcmp(rec_blob(r), aor->p, aor->len) == 0;
}

static uint64_t rec_hash(const void *item)
{
	return ((const struct loc_rec *)item)->hash;
}

/* Under the stripe lock: publish nr in place of old (either may be NULL;
 * nr with no binding is not published). Returns 0, or -ENOMEM when a new
 * record could not be added (nothing changed, nr freed). */
static int rec_publish(struct location *l, struct loc_stripe *st, struct loc_rec *old,
		       struct loc_rec *nr)
{
	if (nr && nr->nb == 0) {
		free(nr);
		nr = NULL;
	}
	if (nr && (!old || (old->flags & PURGE) || contacts_dropped(old, nr)))
		nr->flags |= PURGE;
	if (old && nr) {
		/* writers of this record hold the stripe lock, so it is in place */
		if (rhash_replace(l->ht, old->hash, old, nr))
			abort(); /* a broken invariant, not a runtime condition */
	} else if (nr) {
		struct sip_str aor = rec_aor(nr);
		void *was;

		if (rhash_put(l->ht, nr->hash, nr, match_aor, &aor, &was) < 0) {
			free(nr);
			return -ENOMEM;
		}
		if (was)
			abort(); /* the stripe lock keeps a second record out */
		uatomic_inc(&l->records);
	} else if (old) {
		rhash_del(l->ht, old->hash, old);
	}
	if (nr) {
		uatomic_add(&l->bindings, nr->nb);
		wheel_add(st->wheel, &nr->timer, rec_earliest(nr));
		mark_dirty(st, nr);
	}
	if (old)
		rec_retire(l, st, old, nr ? REPLACED : TOMBSTONE);
	return 0;
}

/* Inside a read-side section. */
static struct loc_rec *rec_lookup(struct location *l, struct sip_str aor, uint64_t hash)
{
	return rhash_lookup(l->ht, hash, match_aor, &aor);
}

static void view_of(const struct loc_rec *r, const struct loc_b *b, struct loc_view *v)
{
	v->uri = b_str(r, b, S_URI);
	v->instance = b_str(r, b, S_INSTANCE);
	v->call_id = b_str(r, b, S_CALL_ID);
	v->path = b_str(r, b, S_PATH);
	v->user_agent = b_str(r, b, S_UA);
	v->reg_id = b->reg_id;
	v->cseq = uatomic_read(&b->cseq);
	v->expires = uatomic_read(&b->expires);
	v->q = b->q;
	v->nat = b->nat;
	v->transport = (enum loc_transport)b->transport;
	v->conn = b->conn;
	addr_unpack(b, &v->received);
}

static size_t rec_views(const struct loc_rec *r, uint64_t now, struct loc_view *out, size_t cap)
{
	size_t n = 0;

	for (unsigned i = 0; r && i < r->nb && n < cap; i++)
		if (uatomic_read(&r->b[i].expires) > now)
			view_of(r, &r->b[i], &out[n++]);
	return n;
}

/* Under the stripe lock, from location_advance: drop expired bindings. */
static void rec_timer_cb(struct wheel *w, struct wheel_timer *t)
{
	struct loc_rec *r = wheel_timer_owner(t, struct loc_rec, timer);
	struct location *l = r->loc;
	struct loc_stripe *st = stripe_of(l, r->hash);
	struct loc_spec keep[LOCATION_MAX_BINDINGS];
	uint64_t now = wheel_now(w);
	size_t n = 0;
	int err;

	for (unsigned i = 0; i < r->nb; i++) {
		if (uatomic_read(&r->b[i].expires) > now) {
			spec_from_binding(&keep[n++], r, &r->b[i]);
		} else if (l->on_expired) {
			struct loc_view v;
			view_of(r, &r->b[i], &v);
			l->on_expired(l->arg, rec_aor(r), &v);
		}
	}
	if (n == r->nb) { /* refreshed in place since armed */
		wheel_add(w, t, rec_earliest(r));
		return;
	}
	if (n == 0) {
		rec_publish(l, st, r, NULL); /* a removal: cannot fail */
		return;
	}
	struct loc_rec *nr = rec_build(l, rec_aor(r), r->hash, keep, n, &err);
	if (!nr) { /* out of memory: try again in a second */
		wheel_add(w, t, now + 1000);
		return;
	}
	rec_publish(l, st, r, nr); /* a replacement: cannot fail */
}

/* ------------------------------------------------------------------------ */
/* Updates                                                                   */

/* The existing binding a Contact names: by +sip.instance (and reg-id,
 * RFC 5626 §6) when it has one, else by URI. -1 if none. */
static int find_binding(const struct loc_spec *sp, size_t n, const struct loc_contact *c)
{
	for (size_t i = 0; i < n; i++) {
		if (c->instance.len) {
			if (sip_str_eq(sp[i].s[S_INSTANCE], c->instance) && sp[i].reg_id == c->reg_id)
				return (int)i;
		} else if (!sp[i].s[S_INSTANCE].len && sip_str_eq(sp[i].s[S_URI], c->uri)) {
			return (int)i;
		}
	}
	return -1;
}

/* RFC 3261 §10.3 step 7: same Call-ID and a CSeq not higher aborts. */
static bool out_of_order(const struct loc_spec *b, const struct loc_request *req)
{
	return sip_str_eq(b->s[S_CALL_ID], req->call_id) && req->cseq <= b->cseq;
}

/* a == b, inline: the in-place refresh compares four or five strings. */
static inline bool str_same(struct sip_str a, struct sip_str b)
{
	return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

/* find_binding over the record itself (every binding, live or not), without
 * copying each into a spec first. */
static int rec_find(const struct loc_rec *r, const struct loc_contact *c)
{
	for (unsigned i = 0; i < r->nb; i++) {
		const struct loc_b *b = &r->b[i];

		if (c->instance.len) {
			if (b->reg_id == c->reg_id && str_same(b_str(r, b, S_INSTANCE), c->instance))
				return (int)i;
		} else if (!b->len[S_INSTANCE] && str_same(b_str(r, b, S_URI), c->uri)) {
			return (int)i;
		}
	}
	return -1;
}

/*
 * Can the request be applied by refreshing expiry and CSeq in place? Each
 * Contact must name (rec_find) a binding still in force at now that it
 * leaves as it is but for expiry and CSeq: expires > 0, the request's
 * Call-ID with a higher CSeq (a lower or equal one is RFC 3261 §10.3 step
 * 7's abort, for the general path to answer), and the same q, source,
 * connection, NAT flag, URI, instance, Path and User-Agent. src: the
 * request's source packed (addr_pack). idx[i]: the binding of contact i.
 */
static bool in_place_ok(const struct loc_rec *r, const struct loc_contact *c, size_t n,
			const struct loc_request *req, const struct loc_spec *src, uint64_t now,
			int *idx)
{
	for (size_t i = 0; i < n; i++) {
		const struct loc_b *b;
		int k;

		if (c[i].expires == 0 || (k = rec_find(r, &c[i])) < 0)
			return false;
		b = &r->b[k];
		if (uatomic_read(&b->expires) <= now || req->cseq <= uatomic_read(&b->cseq) ||
		    b->q != c[i].q || b->conn != req->conn || b->nat != (uint8_t)req->nat ||
		    b->transport != (uint8_t)req->transport || !addr_same(b, src))
			return false;
		/* rec_find compared the instance, and the URI too when there is
		 * no instance */
		if ((c[i].instance.len && !str_same(b_str(r, b, S_URI), c[i].uri)) ||
		    !str_same(b_str(r, b, S_CALL_ID), req->call_id) ||
		    !str_same(b_str(r, b, S_PATH), req->path) ||
		    !str_same(b_str(r, b, S_UA), req->user_agent))
			return false;
		idx[i] = k;
	}
	return true;
}

/* Drops bindings beyond the policy's limit: the untouched ones expiring
 * first go. Returns the new count, or -EPERM / -E2BIG. */
static int apply_limit(struct loc_spec *sp, size_t n, const struct loc_policy *pol)
{
	size_t touched = 0;

	for (size_t i = 0; i < n; i++)
		touched += sp[i].touched;
	if (n <= pol->max_contacts)
		return (int)n;
	if (touched > pol->max_contacts)
		return -E2BIG;
	if (!pol->replace)
		return -EPERM;
	while (n > pol->max_contacts) {
		size_t victim = n;
		for (size_t i = 0; i < n; i++)
			if (!sp[i].touched && (victim == n || sp[i].expires < sp[victim].expires))
				victim = i;
		sp[victim] = sp[--n];
	}
	return (int)n;
}

/* Builds the new binding set from the record's live bindings and the
 * request. Returns the count or a negative errno. */
static int merge(const struct loc_rec *r, const struct loc_contact *c, size_t n, bool star,
		 const struct loc_request *req, const struct loc_policy *pol, uint64_t now,
		 struct loc_spec *sp)
{
	size_t m = 0;

	for (unsigned i = 0; r && i < r->nb; i++)
		if (uatomic_read(&r->b[i].expires) > now)
			spec_from_binding(&sp[m++], r, &r->b[i]);
	if (star) {
		for (size_t i = 0; i < m; i++)
			if (out_of_order(&sp[i], req))
				return -EALREADY;
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		int k = find_binding(sp, m, &c[i]);
		if (k >= 0 && out_of_order(&sp[k], req))
			return -EALREADY;
		if (k >= 0 && c[i].expires == 0) {
			sp[k] = sp[--m];
		} else if (k >= 0) {
			spec_from_request(&sp[k], &c[i], req, now);
		} else if (c[i].expires) {
			if (m == LOCATION_MAX_BINDINGS)
				return -E2BIG;
			spec_from_request(&sp[m++], &c[i], req, now);
		}
	}
	return apply_limit(sp, m, pol);
}

static uint64_t aor_hash(const struct location *l, struct sip_str aor)
{
	return siphash24(l->key, aor.p, aor.len);
}

/* Under the stripe lock and a read-side section. */
static int update_locked(struct location *l, struct loc_stripe *st, struct sip_str aor,
			 uint64_t hash, const struct loc_contact *c, size_t n, bool star,
			 const struct loc_request *req, const struct loc_policy *pol,
			 uint64_t now, struct loc_rec **result)
{
	struct loc_rec *r = rec_lookup(l, aor, hash), *nr = NULL;
	struct loc_spec sp[LOCATION_MAX_BINDINGS];
	int idx[LOCATION_MAX_BINDINGS];
	int m, err = 0;

	*result = r;
	if (n == 0 && !star)
		return 0; /* a query */
	if (n > LOCATION_MAX_BINDINGS)
		return -E2BIG;
	if (r && !star) {
		struct loc_spec src;

		addr_pack(&src, req->received);
		if (in_place_ok(r, c, n, req, &src, now, idx)) {
			for (size_t i = 0; i < n; i++) {
				uatomic_set(&r->b[idx[i]].expires, now + (uint64_t)c[i].expires * 1000);
				uatomic_set(&r->b[idx[i]].cseq, req->cseq);
			}
			wheel_add(st->wheel, &r->timer, rec_earliest(r));
			mark_dirty(st, r);
			return 0;
		}
	}
	m = merge(r, c, n, star, req, pol, now, sp);
	if (m < 0)
		return m;
	if (m > 0) {
		nr = rec_build(l, aor, hash, sp, (size_t)m, &err);
		if (!nr)
			return err;
	}
	err = rec_publish(l, st, r, nr);
	if (err)
		return err;
	*result = nr;
	return 0;
}

int location_reserve(struct location *l, size_t records)
{
	return rhash_reserve(l->ht, records);
}

uint64_t location_hash(struct location *l, struct sip_str aor)
{
	return aor_hash(l, aor);
}

void location_prefetch(struct location *l, uint64_t hash, bool item)
{
	rhash_prefetch(l->ht, hash, item);
}

int location_update(struct location *l, struct sip_str aor, const struct loc_contact *contacts,
		    size_t n, bool star, const struct loc_request *req,
		    const struct loc_policy *policy, uint64_t now, struct loc_view *out,
		    size_t cap, size_t *nout)
{
	return location_update_hashed(l, aor, aor_hash(l, aor), contacts, n, star, req, policy,
				      now, out, cap, nout);
}

int location_update_hashed(struct location *l, struct sip_str aor, uint64_t hash,
			   const struct loc_contact *contacts, size_t n, bool star,
			   const struct loc_request *req, const struct loc_policy *policy,
			   uint64_t now, struct loc_view *out, size_t cap, size_t *nout)
{
	struct loc_stripe *st = stripe_of(l, hash);
	struct loc_rec *r;
	int ret;

	if (aor.len == 0 || aor.len > UINT16_MAX)
		return -EINVAL;
	urcu_qsbr_read_lock();
	pthread_mutex_lock(&st->lock);
	ret = update_locked(l, st, aor, hash, contacts, n, star, req, policy, now, &r);
	pthread_mutex_unlock(&st->lock);
	/* the views stay valid after the read-side section: with QSBR a record
	 * is reclaimed only after this thread's next quiescent state */
	*nout = ret == 0 ? rec_views(r, now, out, cap) : 0;
	urcu_qsbr_read_unlock();
	return ret;
}

size_t location_lookup(struct location *l, struct sip_str aor, uint64_t now,
		       struct loc_view *out, size_t cap)
{
	size_t n;

	urcu_qsbr_read_lock();
	n = rec_views(rec_lookup(l, aor, aor_hash(l, aor)), now, out, cap);
	urcu_qsbr_read_unlock();
	return n;
}

int location_remove(struct location *l, struct sip_str aor)
{
	uint64_t hash = aor_hash(l, aor);
	struct loc_stripe *st = stripe_of(l, hash);
	struct loc_rec *r;

	urcu_qsbr_read_lock();
	pthread_mutex_lock(&st->lock);
	r = rec_lookup(l, aor, hash);
	if (r)
		rec_publish(l, st, r, NULL);
	pthread_mutex_unlock(&st->lock);
	urcu_qsbr_read_unlock();
	return r ? 0 : -ENOENT;
}

uint64_t location_advance(struct location *l, uint64_t now)
{
	uint64_t next = UINT64_MAX;

	urcu_qsbr_read_lock();
	for (int i = 0; i < LOCATION_STRIPES; i++) {
		struct loc_stripe *st = &l->stripe[i];
		uint64_t d;
		pthread_mutex_lock(&st->lock);
		if (wheel_now(st->wheel) < now)
			wheel_advance(st->wheel, now);
		d = wheel_next_deadline(st->wheel);
		pthread_mutex_unlock(&st->lock);
		if (d < next)
			next = d;
	}
	urcu_qsbr_read_unlock();
	return next;
}

void location_counts(struct location *l, uint64_t *records, uint64_t *bindings)
{
	*records = uatomic_read(&l->records);
	*bindings = uatomic_read(&l->bindings);
}

int location_each(struct location *l, uint64_t now, loc_each_cb cb, void *arg)
{
	struct loc_view v[LOCATION_MAX_BINDINGS];
	struct rhash_iter it;
	struct loc_rec *r;
	int ret = 0;

	urcu_qsbr_read_lock();
	for (r = rhash_first(l->ht, &it); r; r = rhash_next(&it)) {
		size_t n = rec_views(r, now, v, LOCATION_MAX_BINDINGS);
		if (n && (ret = cb(arg, rec_aor(r), v, n)) != 0)
			break;
	}
	urcu_qsbr_read_unlock();
	return ret;
}

/* ------------------------------------------------------------------------ */
/* Persistence                                                               */

static void copy_str(char *dst, size_t cap, struct sip_str s)
{
	size_t n = s.len < cap - 1 ? s.len : cap - 1;

	memcpy(dst, s.p, n);
	dst[n] = '\0';
}

/* "a.b.c.d:port" by hand (snprintf and inet_ntop were a fifth of the
 * flusher's own time); returns the length written, at most 21 + NUL. */
static size_t ipv4_port_text(const uint8_t *a, uint16_t port, char *out)
{
	char *p = out, digits[5];
	int n = 0;

	for (int i = 0; i < 4; i++) {
		unsigned v = a[i];
		if (v >= 100)
			*p++ = (char)('0' + v / 100);
		if (v >= 10)
			*p++ = (char)('0' + v / 10 % 10);
		*p++ = (char)('0' + v % 10);
		*p++ = i < 3 ? '.' : ':';
	}
	do {
		digits[n++] = (char)('0' + port % 10);
		port /= 10;
	} while (port);
	while (n)
		*p++ = digits[--n];
	*p = '\0';
	return (size_t)(p - out);
}

/* Every field of out is set (strings NUL-terminated, the bytes after the
 * NUL left as they are: the store reads strings up to their NUL). */
static void to_store(const struct loc_rec *r, const struct loc_b *b, uint64_t now,
		     int64_t wall_now, struct store_binding *out)
{
	uint64_t exp = uatomic_read(&b->expires);

	copy_str(out->aor, sizeof(out->aor), rec_aor(r));
	copy_str(out->contact, sizeof(out->contact), b_str(r, b, S_URI));
	copy_str(out->path, sizeof(out->path), b_str(r, b, S_PATH));
	copy_str(out->instance, sizeof(out->instance), b_str(r, b, S_INSTANCE));
	copy_str(out->call_id, sizeof(out->call_id), b_str(r, b, S_CALL_ID));
	if (b->family == AF_INET) {
		ipv4_port_text(b->addr, b->port, out->received);
	} else {
		char ip[INET6_ADDRSTRLEN] = "";
		if (b->family == AF_INET6)
			inet_ntop(AF_INET6, b->addr, ip, sizeof(ip));
		snprintf(out->received, sizeof(out->received),
			 b->family == AF_INET6 ? "[%s]:%u" : "%s:%u", ip, b->port);
	}
	memcpy(out->transport, b->transport == LOC_TCP ? "tcp" : "udp", 4);
	out->reg_id = b->reg_id;
	out->cseq = uatomic_read(&b->cseq);
	/* seconds, rounded up so a restored binding never outlives the grant */
	out->expires_at = wall_now + (int64_t)((exp > now ? exp - now + 999 : 0) / 1000);
	out->q = b->q;
	out->nat = b->nat;
}

/* Under the stripe lock: the flusher takes r, the next record of the list
 * it took; returns the one after it. */
static struct loc_rec *flush_take_locked(struct loc_rec *r)
{
	struct loc_rec *next = r->dirty_next;

	r->flags = (r->flags & ~(uint32_t)ON_DIRTY) | IN_FLUSH;
	return next;
}

/* The flusher is done with r (under the stripe lock). requeue: its write
 * failed, so a current record or a tombstone goes back on the dirty list. */
static void flush_done_locked(struct loc_stripe *st, struct loc_rec *r, bool requeue,
			      bool written)
{
	r->flags &= ~(uint32_t)IN_FLUSH;
	if (written)
		r->flags &= ~(uint32_t)PURGE;
	if (requeue && !(r->flags & REPLACED))
		mark_dirty(st, r);
	if ((r->flags & (REPLACED | TOMBSTONE)) && !(r->flags & ON_DIRTY))
		urcu_qsbr_call_rcu(&r->rcu, rec_free_rcu);
}

/* Writes r, which the flusher took (unless an earlier write failed or r was
 * replaced meanwhile), hands it back to its stripe st and takes *next, the
 * following record of the list (then *next is the one after it). Returns
 * err or write()'s result. */
static int flush_one(struct loc_stripe *st, struct loc_rec *r, struct loc_rec **next,
		     struct loc_rec **after, uint64_t now, int64_t wall_now, loc_room_cb room,
		     loc_write_cb write, void *arg, struct store_change *batch, int err,
		     long *written)
{
	bool purge = false;

	if (!err && !(r->flags & REPLACED)) {
		bool gone = (r->flags & TOMBSTONE) != 0;
		struct store_change *ch = batch;
		char aor[STORE_URI_MAX];
		size_t n = 0;

		purge = (r->flags & (TOMBSTONE | PURGE)) != 0;
		/* room() and write() may announce quiescent states (they write
		 * to the store offline): IN_FLUSH keeps r and the rest of the
		 * flush alive */
		if (room)
			err = room(arg, gone ? 0 : r->nb, purge, &ch);
		if (!err) {
			for (unsigned k = 0; !gone && k < r->nb; k++)
				if (uatomic_read(&r->b[k].expires) > now) {
					ch[n].kind = STORE_BINDING_PUT;
					to_store(r, &r->b[k], now, wall_now, &ch[n++].b);
				}
			copy_str(aor, sizeof(aor), rec_aor(r));
			err = write(arg, aor, ch, n, purge);
		}
		if (err >= 0) {
			(*written)++;
			err = 0;
		}
	}
	pthread_mutex_lock(&st->lock);
	flush_done_locked(st, r, err < 0, err == 0 && purge);
	if (*next)
		*after = flush_take_locked(*next);
	pthread_mutex_unlock(&st->lock);
	return err;
}

/*
 * Each stripe's dirty list is taken whole and written in the order its
 * records became dirty (an AOR's records share a stripe, so a tombstone is
 * written before its successor). The store appends to its journal, where
 * order does not matter. (The writes were sorted in AOR order for the
 * SQLite table's B-tree before: a qsort of every dirty record, ~570
 * instructions each; and the list was reversed first, a walk of dependent
 * cache misses, 3 % of sipregd's samples.) The record after the one being
 * written is prefetched.
 */
long location_flush(struct location *l, uint64_t now, int64_t wall_now, loc_room_cb room,
		    loc_write_cb write, void *arg)
{
	struct store_change *batch = room ? NULL : malloc(LOCATION_MAX_BINDINGS * sizeof(*batch));
	long written = 0;
	int err = 0;

	if (!room && !batch)
		return -ENOMEM;
	for (int i = 0; i < LOCATION_STRIPES; i++) {
		struct loc_stripe *st = &l->stripe[i];
		struct loc_rec *r, *next = NULL, *after = NULL;
		pthread_mutex_lock(&st->lock);
		r = st->dirty;
		st->dirty = st->dirty_tail = NULL;
		if (r)
			next = flush_take_locked(r);
		pthread_mutex_unlock(&st->lock);
		while (r) {
			if (next) {
				__builtin_prefetch(next);
				__builtin_prefetch((const char *)next + 64);
				__builtin_prefetch((const char *)next + 128);
			}
			after = NULL;
			err = flush_one(st, r, &next, &after, now, wall_now, room, write, arg, batch,
					err, &written);
			r = next;
			next = after;
		}
	}
	free(batch);
	return err < 0 ? err : written;
}

/* Parses "ip:port" or "[ip6]:port" from the store. */
static int parse_received(const char *s, struct sockaddr_storage *ss)
{
	char host[INET6_ADDRSTRLEN + 2];
	const char *colon = strrchr(s, ':');
	size_t hl;
	unsigned long port;
	char *end;

	memset(ss, 0, sizeof(*ss));
	if (!colon || (hl = (size_t)(colon - s)) >= sizeof(host))
		return -EINVAL;
	port = strtoul(colon + 1, &end, 10);
	if (*end || port > 65535)
		return -EINVAL;
	if (s[0] == '[' && hl > 2 && s[hl - 1] == ']') {
		struct sockaddr_in6 *s6 = (void *)ss;
		memcpy(host, s + 1, hl - 2);
		host[hl - 2] = '\0';
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		return inet_pton(AF_INET6, host, &s6->sin6_addr) == 1 ? 0 : -EINVAL;
	}
	struct sockaddr_in *s4 = (void *)ss;
	memcpy(host, s, hl);
	host[hl] = '\0';
	s4->sin_family = AF_INET;
	s4->sin_port = htons((uint16_t)port);
	return inet_pton(AF_INET, host, &s4->sin_addr) == 1 ? 0 : -EINVAL;
}

int location_restore(struct location *l, const struct store_binding *b, uint64_t now,
		     int64_t wall_now)
{
	struct sockaddr_storage ss;
	struct loc_contact c = {0};
	struct loc_request req = {0};
	struct loc_policy pol = {.max_contacts = LOCATION_MAX_BINDINGS, .replace = true};
	struct sip_str aor = sip_str_make(b->aor, strlen(b->aor));
	uint64_t hash = aor_hash(l, aor);
	struct loc_stripe *st = stripe_of(l, hash);
	struct loc_rec *r, *tail;
	int ret;

	if (b->expires_at <= wall_now)
		return -ESTALE;
	if (!aor.len || !b->contact[0] || parse_received(b->received, &ss))
		return -EINVAL;
	c.uri = sip_str_make(b->contact, strlen(b->contact));
	c.instance = sip_str_make(b->instance, strlen(b->instance));
	c.reg_id = b->reg_id;
	c.q = b->q;
	c.expires = (uint32_t)(b->expires_at - wall_now);
	req.call_id = sip_str_make(b->call_id, strlen(b->call_id));
	req.cseq = b->cseq;
	req.path = sip_str_make(b->path, strlen(b->path));
	req.received = (const struct sockaddr *)&ss;
	req.transport = strcmp(b->transport, "tcp") == 0 ? LOC_TCP : LOC_UDP;
	req.nat = b->nat;
	urcu_qsbr_read_lock();
	pthread_mutex_lock(&st->lock);
	tail = st->dirty_tail;
	ret = update_locked(l, st, aor, hash, &c, 1, false, &req, &pol, now, &r);
	/* restored from the store: nothing to write back (r was appended to
	 * the dirty list after tail; it is taken off when it is the last) */
	if (ret == 0 && r && r->flags & ON_DIRTY && st->dirty_tail == r) {
		struct loc_rec *prev = tail, *p = tail ? tail->dirty_next : st->dirty;
		for (; p && p != r; p = p->dirty_next)
			prev = p;
		if (p == r) {
			if (prev)
				prev->dirty_next = NULL;
			else
				st->dirty = NULL;
			st->dirty_tail = prev;
			r->flags &= ~(uint32_t)ON_DIRTY;
		}
	}
	if (ret == 0 && r)
		r->flags &= ~(uint32_t)PURGE; /* what it holds is what the store has */
	pthread_mutex_unlock(&st->lock);
	urcu_qsbr_read_unlock();
	return ret == -EALREADY ? 0 : ret;
}

/* ------------------------------------------------------------------------ */

int location_new(struct location **ret, const uint8_t key[SIPHASH_KEY_LEN],
		 loc_expired_cb on_expired, void *arg)
{
	struct location *l = calloc(1, sizeof(*l));
	int i;

	if (!l)
		return -ENOMEM;
	if (rhash_new(&l->ht, 1024, rec_hash) < 0)
		goto fail;
	for (i = 0; i < LOCATION_STRIPES; i++) {
		pthread_mutex_init(&l->stripe[i].lock, NULL);
		if (wheel_new(&l->stripe[i].wheel, 0) < 0)
			goto fail;
	}
	memcpy(l->key, key, SIPHASH_KEY_LEN);
	l->on_expired = on_expired;
	l->arg = arg;
	*ret = l;
	return 0;
fail:
	location_free(l);
	return -ENOMEM;
}

void location_free(struct location *l)
{
	struct loc_rec *r;

	if (!l)
		return;
	if (l->ht) {
		struct rhash_iter it;

		/* no other thread uses the table; records on a dirty list are
		 * freed from the list below, the others here */
		for (r = rhash_first(l->ht, &it); r; r = rhash_next(&it))
			if (!(r->flags & ON_DIRTY))
				free(r);
		rhash_free(l->ht);
	}
	for (int i = 0; i < LOCATION_STRIPES; i++) {
		/* the dirty list holds current records (left to it above) and
		 * retired ones: each listed record is freed once, here */
		for (r = l->stripe[i].dirty; r;) {
			struct loc_rec *next = r->dirty_next;
			free(r);
			r = next;
		}
		wheel_free(l->stripe[i].wheel);
		pthread_mutex_destroy(&l->stripe[i].lock);
	}
	free(l);
}
