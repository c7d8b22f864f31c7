/* SPDX-License-Identifier: MIT */
/*
 * transaction.c - RFC 3261 §17 non-INVITE client and server transactions
 * (see transaction.h).
 *
 * Client (§17.1.2, figure 6):
 *
 *   start: send, E = T1 (unreliable only), F = 64*T1     -> Trying
 *   Trying      E fires: send again, E = min(2E, T2)
 *               1xx -> Proceeding
 *   Proceeding  E fires: send again, E = T2
 *   Trying/Proceeding  final response: report it, K = T4 (0 reliable) -> Completed
 *                      F fires: report -ETIMEDOUT                    -> Terminated
 *   Completed   any response: absorbed; K fires                      -> Terminated
 *
 * Server (§17.2.2, figure 8):
 *
 *   request: new transaction, the TU processes it         -> Trying
 *   Trying      request again: absorbed, nothing sent
 *               TU sends 1xx                              -> Proceeding
 *   Proceeding  request again: the last 1xx sent again
 *   Trying/Proceeding  TU sends a final: J = 64*T1 (0 reliable) -> Completed
 *   Completed   request again: the final sent again; J fires -> Terminated
 *
 * Terminated transactions go back to the free list at once. Timers are the
 * worker's wheel's, relative to the wheel's current time, and one node per
 * transaction carries them all: a client's E and F are both pending while it
 * is Trying or Proceeding, so the node is armed at the earlier of the two and
 * its callback tells which fell due (t->f_at); K and J come after E and F.
 * One add and one cancel per client transaction instead of two of each.
 *
 * A client transaction that reaches Completed over an unreliable transport
 * keeps only its match key (branch, method) for Timer K's 5 s: the request
 * it would have retransmitted goes back to the buffer pool at once, so the
 * pool holds the requests in flight, not the last 5 s of them.
 *
 * Timer K is the same T4 for every client transaction of a layer, and
 * Timer J the same 64*T1 for every server transaction over UDP, and both
 * are armed from a time that never goes back (the later of the clock and
 * the wheel's time), so the Completed transactions end in the order they
 * completed: the clients wait in one FIFO (the K ring), the servers in
 * another (the J ring), each under one wheel timer for its head, instead of
 * one wheel timer each (which a 5 s or 32 s timer would see moved down two
 * or three levels of the wheel, touching its cold entry each time). A FIFO
 * is a ring of (entry, deadline) pairs, not a list through the entries: at
 * 100,000 registrations a second an entry is cold (evicted) 32 s after it
 * completed, and a list would find each next entry only after the previous
 * one's miss; the ring gives the addresses ahead, so a ring's end fetches
 * the entry 2 * RING_PREFETCH places ahead, and the index slot and buffer of
 * the one RING_PREFETCH ahead (whose entry came in meanwhile): their misses
 * overlap. A ring doubles when full (to the number of transactions
 * completed in T4 or 64*T1); if it cannot, that transaction's timer is its
 * own wheel timer (timer_end_cb). A Completed transaction ends only by its
 * ring (tx_abandon() and tx_fail_conn() take only those still waiting for
 * a response), so every ring entry meets its transaction.
 *
 * The match index (see table_room()) is an open-addressed array of (32 bits
 * of the hash, entry index) pairs, at most half full: a new request, the
 * usual case, proves that no transaction matches it from one or two cache
 * lines of the index, without touching the (cold) entries a hash chain
 * would walk.
 *
 * Direct client transactions: a branch made by tx_branch_make() encodes a
 * counter ctr = (branch counter << IDX_BITS | idx), idx naming the entry at
 * the head of the free list, which the next tx_client_start() takes. When
 * that start gets that very branch and that entry (the usual make-then-start
 * of a request), the transaction is "direct": it does not enter the hash
 * table; a response finds it by decoding its branch (mix64 is a bijection,
 * undone by unmix64) to idx, one array index, and comparing the entry's ctr
 * (in t->hash) and method. No SipHash, no bucket or chain neighbours per
 * request or response. Anything else (a branch made by another UA, a
 * reservation another start consumed, more than IDX_NONE entries) goes
 * through the hash table as before. The branch counter gives each made
 * branch its own ctr (distinct for 2^40 branches of a layer; the
 * 64-bit mix of ctr plus the layer's random seed is what the branch shows).
 *
 * A Completed client whose key (branch + method) fits KEY_INLINE bytes keeps
 * it in the entry itself, over the destination it no longer sends to: its
 * request buffer goes back to the pool and Timer K's end touches no buffer.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>

#include "sipreg/clock.h"
#include "sipreg/hugemem.h"
#include "sipreg/siphash.h"
#include "sipreg/transaction.h"
#include "sipreg/wheel.h"

#define MAGIC "z9hG4bK"
#define MAGIC_LEN 7u
#define OURS "z9hG4bKsR" /* the magic cookie + our marker */
#define OURS_LEN 9u

#define CHUNK 256u        /* transactions allocated at once */
#define NCLASS 12u        /* buffer classes 64 B << 0..11 (64 B .. 128 KiB) */
#define CLASS_MIN 64u     /* class 0: a client key alone (Timer K) */
#define CLASS_NONE 0xffu
#define IDX_BITS 24u           /* entry index bits of a branch counter */
#define IDX_NONE ((1u << IDX_BITS) - 1u) /* no entry: hashed path only */
#define KEY_INLINE 40u         /* to + tolen + conn: a Completed client's key */

enum tx_flags {
	TXF_DIRECT = 1u << 0,     /* not in the table: found by its branch's idx */
	TXF_KEY_INLINE = 1u << 1, /* the key is in t->key, not t->buf */
	TXF_HASHED = 1u << 2,     /* in the match index */
};

enum tx_kind {
	KIND_CLIENT = 1,
	KIND_SERVER = 2,
};

enum tx_state {
	ST_FREE = 0,
	ST_TRYING,
	ST_PROCEEDING,
	ST_COMPLETED,
};

/* A Completed transaction in a ring (Timer K or J) and its deadline. */
struct ring_ent {
	struct tx *t;
	uint64_t at;
};

/* Completed transactions that end a fixed interval after they completed,
 * in FIFO order (see the top), under one wheel timer at the head's end. */
struct tx_ring {
	struct wheel_timer timer;
	struct tx_layer *l;
	struct ring_ent *e;
	size_t cap, head, n; /* cap (a power of two) slots from head */
};

#define RING_MIN 256u
#define RING_PREFETCH 8u /* index slot and buffer fetched this far ahead, the entry 2x */

/* A slot of the match index: the low 32 bits of a hashed transaction's
 * t->hash and its entry's index + 1 (0: an empty slot). */
struct ix_slot {
	uint32_t h;
	uint32_t ref;
};

#define IX_MIN 2048u

union tx_sa {
	struct sockaddr sa;
	struct sockaddr_in in;
	struct sockaddr_in6 in6;
};

/* What a lookup hit, the reply and the end of Completed touch is in the
 * first 64 bytes (the fields up to t_end's link). */
struct tx {
	struct tx *hnext; /* the free list (or tx_fail_conn's list) */
	uint64_t hash;    /* SipHash of the branch; TXF_DIRECT: the branch's ctr */
	char *buf;        /* key (branch, method, host) then the kept message */
	uint32_t idx;     /* this entry's index (chunk * CHUNK + i) */
	uint16_t msg_len; /* 0: no message kept (max_msg <= 65535) */
	uint16_t retransmits; /* saturates */
	uint16_t port;    /* sent-by port (server), 0 when absent */
	uint8_t branch_len;
	uint8_t method_len;
	uint8_t host_len;
	uint8_t buf_class; /* CLASS_NONE: no buffer */
	uint8_t kind;
	uint8_t state;
	bool reliable;
	uint8_t flags;    /* enum tx_flags */
	uint32_t retx_ms; /* the current Timer E interval */
	struct wheel_timer t_end; /* client: E and F (the earlier), then K; server: J */
	uint64_t f_at;            /* client: Timer F's expiry; Completed: K's or J's */
	struct tx_layer *layer;
	tx_result_cb cb;
	void *cb_arg;
	union {
		struct {
			union tx_sa to;
			socklen_t tolen;
			uint64_t conn;
		};
		char key[KEY_INLINE]; /* TXF_KEY_INLINE: branch, method */
	};
};

struct tx_chunk {
	struct tx_chunk *next;
	struct tx tx[CHUNK];
};

struct tx_layer {
	struct wheel *w;
	tx_clock_fn clock;
	void *clock_arg;
	tx_send_fn send;
	void *send_arg;
	unsigned worker;
	uint32_t t1, t2, t4;
	size_t max_tx, max_msg;
	struct ix_slot *ix;      /* the match index, open addressing, linear probes */
	size_t ixcap, ixn;       /* ixcap (a power of two) slots, ixn used */
	size_t ix_map;           /* bytes mapped for ix (huge pages), 0: malloc'd */
	struct tx *free;
	struct tx_chunk *chunks;
	void *bufs[NCLASS]; /* free buffers per class, linked through their start */
	uint64_t branch_seed, branch_ctr;
	uint8_t key[SIPHASH_KEY_LEN];
	struct tx_stats st;
	struct tx_ring kr;          /* Completed clients (UDP), in Timer K order */
	struct tx_ring jr;          /* Completed servers (UDP), in Timer J order */
	struct tx_chunk **ctab;     /* chunk i holds entries i * CHUNK .. */
	size_t nchunks, ctab_cap;
	const struct sip_via *resp_via; /* in a result callback: its response's */
	struct tx *made;            /* the free entry the last branch names */
	uint64_t made_ctr;          /* and that branch's counter */
	char made_branch[TX_BRANCH_LEN]; /* and the branch */
};

/* ------------------------------------------------------------------------ */
/* Memory: entries and buffers from free lists                               */

/* One more chunk of free entries, indexed in ctab. */
static int chunk_add(struct tx_layer *l)
{
	struct tx_chunk *c;

	if (l->nchunks >= (UINT32_MAX - CHUNK) / CHUNK)
		return -ENOMEM; /* entry indexes (and index refs) fit 32 bits */
	if (l->nchunks == l->ctab_cap) {
		size_t n = l->ctab_cap ? 2 * l->ctab_cap : 16;
		struct tx_chunk **g = realloc(l->ctab, n * sizeof(*g));

		if (!g)
			return -ENOMEM;
		l->ctab = g;
		l->ctab_cap = n;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->next = l->chunks;
	l->chunks = c;
	for (unsigned i = CHUNK; i-- > 0;) {
		size_t idx = l->nchunks * CHUNK + i;

		c->tx[i].idx = (uint32_t)idx;
		c->tx[i].hnext = l->free;
		l->free = &c->tx[i];
	}
	l->ctab[l->nchunks++] = c;
	return 0;
}

static struct tx *entry_get(struct tx_layer *l)
{
	struct tx *t;

	if (!l->free && chunk_add(l) < 0)
		return NULL;
	t = l->free;
	l->free = t->hnext;
	if (l->free) {
		/* the next one's lines, for the next transaction (the free list
		 * can hold entries that ended long ago: a burst's) */
		const char *n = (const char *)l->free;

		__builtin_prefetch(n, 1);
		__builtin_prefetch(n + 64, 1);
		__builtin_prefetch(n + sizeof(struct tx) - 1, 1);
	}
	return t;
}

static unsigned class_of(size_t need)
{
	unsigned k = 0;

	while ((size_t)CLASS_MIN << k < need)
		k++;
	return k;
}

static char *buf_get(struct tx_layer *l, unsigned k)
{
	void *p = l->bufs[k];

	if (p) {
		memcpy(&l->bufs[k], p, sizeof(void *));
		if (l->bufs[k]) /* the next one, for the next transaction */
			__builtin_prefetch(l->bufs[k], 1);
		return p;
	}
	return malloc((size_t)CLASS_MIN << k);
}

static void buf_put(struct tx_layer *l, unsigned k, char *p)
{
	memcpy(p, &l->bufs[k], sizeof(void *));
	l->bufs[k] = p;
}

/* Make t->buf hold the key plus need more bytes, keeping the key. */
static int buf_reserve(struct tx_layer *l, struct tx *t, size_t need)
{
	size_t keylen = (size_t)t->branch_len + t->method_len + t->host_len;
	unsigned k = class_of(keylen + need);
	char *p;

	if (t->buf_class != CLASS_NONE && t->buf_class >= k)
		return 0;
	p = buf_get(l, k);
	if (!p)
		return -ENOMEM;
	if (t->buf_class != CLASS_NONE) {
		memcpy(p, t->buf, keylen);
		buf_put(l, t->buf_class, t->buf);
	}
	t->buf = p;
	t->buf_class = (uint8_t)k;
	return 0;
}

/* Completed client (Timer K): the request is not sent again; keep the key
 * alone in the smallest buffer that holds it (left as it is when that
 * buffer cannot be had). */
static void keep_key_only(struct tx_layer *l, struct tx *t)
{
	size_t keylen = (size_t)t->branch_len + t->method_len + t->host_len;
	unsigned k = class_of(keylen);
	char *p;

	t->msg_len = 0;
	if (t->buf_class == CLASS_NONE)
		return;
	if (t->kind == KIND_CLIENT && keylen <= KEY_INLINE) {
		/* the destination is not used again: the key goes over it */
		memcpy(t->key, t->buf, keylen);
		buf_put(l, t->buf_class, t->buf);
		t->buf = NULL;
		t->buf_class = CLASS_NONE;
		t->flags |= TXF_KEY_INLINE;
		return;
	}
	if (t->buf_class <= k)
		return;
	p = buf_get(l, k);
	if (!p)
		return;
	memcpy(p, t->buf, keylen);
	buf_put(l, t->buf_class, t->buf);
	t->buf = p;
	t->buf_class = (uint8_t)k;
}

static inline const char *key_branch(const struct tx *t)
{
	return t->flags & TXF_KEY_INLINE ? t->key : t->buf;
}

static inline const char *key_method(const struct tx *t)
{
	return key_branch(t) + t->branch_len;
}

static inline const char *key_host(const struct tx *t)
{
	return t->buf + t->branch_len + t->method_len;
}

static inline char *msg_of(const struct tx *t)
{
	return t->buf + t->branch_len + t->method_len + t->host_len;
}

/* ------------------------------------------------------------------------ */
/* The match table                                                           */

static uint64_t hash_branch(const struct tx_layer *l, struct sip_str branch)
{
	return siphash24(l->key, branch.p, branch.len);
}

static inline struct tx *entry_at(const struct tx_layer *l, uint32_t idx)
{
	return &l->ctab[idx / CHUNK]->tx[idx % CHUNK];
}

/*
 * The match index: every hashed transaction (server, and client not direct)
 * has one slot (its hash's low 32 bits, its entry's index), in an
 * open-addressed array probed linearly from slot (hash & mask) and kept at
 * most half full. A lookup compares 32 hash bits slot by slot, so the usual
 * new request proves its absence from one or two cache lines of the index,
 * without touching any entry (a chain of entries would cost a miss each:
 * the entries of Timer J's 32 s are cold). Removal shifts the rest of the
 * run back (no tombstones), so runs stay as short as the load makes them.
 * The index doubles from the slots alone (the 32 bits kept are enough to
 * place them while it has at most 2^32 slots). From 2 MiB up it is mapped
 * on its own, asking for transparent huge pages (as rhash.c does): a probe
 * then costs no page walk.
 */
static struct ix_slot *ix_alloc(size_t slots, size_t *map_len)
{
	return hugemem_alloc(slots * sizeof(struct ix_slot), map_len);
}

static void ix_free(struct ix_slot *ix, size_t map_len)
{
	hugemem_free(ix, map_len);
}

static void ix_place(struct ix_slot *ix, size_t mask, uint32_t h, uint32_t ref)
{
	size_t i = h & mask;

	while (ix[i].ref)
		i = (i + 1) & mask;
	ix[i].h = h;
	ix[i].ref = ref;
}

/* Room in the index for one more hashed transaction: it doubles before it
 * passes half full. Returns 0 or -ENOMEM (the index as it was). */
static int table_room(struct tx_layer *l)
{
	size_t n = l->ixcap * 2, map_len;
	struct ix_slot *ix;

	if (2 * (l->ixn + 1) <= l->ixcap)
		return 0;
	if (n > (size_t)UINT32_MAX + 1)
		return -ENOMEM;
	ix = ix_alloc(n, &map_len);
	if (!ix)
		return -ENOMEM;
	for (size_t i = 0; i < l->ixcap; i++)
		if (l->ix[i].ref)
			ix_place(ix, n - 1, l->ix[i].h, l->ix[i].ref);
	ix_free(l->ix, l->ix_map);
	l->ix = ix;
	l->ixcap = n;
	l->ix_map = map_len;
	return 0;
}

/* Insert t (table_room() said yes). */
static void table_insert(struct tx_layer *l, struct tx *t)
{
	ix_place(l->ix, l->ixcap - 1, (uint32_t)t->hash, t->idx + 1);
	l->ixn++;
	t->flags |= TXF_HASHED;
}

static void table_remove(struct tx_layer *l, struct tx *t)
{
	struct ix_slot *ix = l->ix;
	size_t mask = l->ixcap - 1, i, j;
	uint32_t ref = t->idx + 1;

	if (!(t->flags & TXF_HASHED))
		return; /* direct: never in the table */
	for (i = (uint32_t)t->hash & mask; ix[i].ref != ref; i = (i + 1) & mask)
		;
	/* shift back each later slot of the run that may live at i: one whose
	 * home is not cyclically in (i, j] */
	for (j = (i + 1) & mask; ix[j].ref; j = (j + 1) & mask) {
		size_t home = ix[j].h & mask;

		if (((j - home) & mask) >= ((j - i) & mask)) {
			ix[i] = ix[j];
			i = j;
		}
	}
	ix[i].ref = 0;
	l->ixn--;
	t->flags &= ~TXF_HASHED;
}

/* Fetch the index's cache line where a lookup of hash h starts. */
static inline void table_prefetch(const struct tx_layer *l, uint64_t h)
{
	__builtin_prefetch(&l->ix[(uint32_t)h & (l->ixcap - 1)]);
}

static bool str_is(const char *p, size_t len, struct sip_str s)
{
	return len == s.len && (len == 0 || memcmp(p, s.p, len) == 0);
}

/* RFC 3261 §17.1.3 (client: branch + CSeq method) and §17.2.3 (server:
 * branch + sent-by + method; host names compare without case). */
static struct tx *table_find(const struct tx_layer *l, unsigned kind, uint64_t h,
			     struct sip_str branch, struct sip_str method,
			     const struct sip_via *top)
{
	const struct ix_slot *ix = l->ix;
	size_t mask = l->ixcap - 1;
	uint32_t h32 = (uint32_t)h;

	for (size_t i = h32 & mask; ix[i].ref; i = (i + 1) & mask) {
		struct tx *t;

		if (ix[i].h != h32)
			continue;
		t = entry_at(l, ix[i].ref - 1);
		if (t->hash != h || t->kind != kind ||
		    !str_is(key_branch(t), t->branch_len, branch) ||
		    !str_is(key_method(t), t->method_len, method))
			continue;
		if (kind == KIND_SERVER &&
		    (t->port != top->port || t->host_len != top->host.len ||
		     (t->host_len && strncasecmp(key_host(t), top->host.p, t->host_len) != 0)))
			continue;
		return t;
	}
	return NULL;
}

/* ------------------------------------------------------------------------ */
/* Life cycle of one transaction                                             */

static void timer_end_cb(struct wheel *w, struct wheel_timer *wt);

static int dest_copy(struct tx *t, const struct tx_dest *d)
{
	if (!d || !d->addr)
		return -EINVAL;
	if (d->addr->sa_family == AF_INET && d->addrlen >= sizeof(struct sockaddr_in)) {
		memcpy(&t->to.in, d->addr, sizeof(struct sockaddr_in));
		t->tolen = sizeof(struct sockaddr_in);
	} else if (d->addr->sa_family == AF_INET6 &&
		   d->addrlen >= sizeof(struct sockaddr_in6)) {
		memcpy(&t->to.in6, d->addr, sizeof(struct sockaddr_in6));
		t->tolen = sizeof(struct sockaddr_in6);
	} else {
		return -EINVAL;
	}
	t->conn = d->conn;
	t->reliable = d->reliable;
	return 0;
}

/* A fresh entry with its key copied and hashed; not yet in the table. */
static int tx_alloc(struct tx_layer *l, struct tx **ret, unsigned kind, uint64_t h,
		    struct sip_str branch, struct sip_str method, struct sip_str host,
		    const struct tx_dest *dest, size_t need)
{
	struct tx *t;
	uint32_t idx;
	int r;

	if (l->st.live >= l->max_tx)
		return -ENOBUFS;
	t = entry_get(l);
	if (!t)
		return -ENOMEM;
	idx = t->idx;
	memset(t, 0, sizeof(*t));
	t->idx = idx;
	t->layer = l;
	t->buf_class = CLASS_NONE;
	t->kind = (uint8_t)kind;
	t->hash = h;
	r = dest_copy(t, dest);
	if (r < 0)
		goto fail;
	t->branch_len = (uint8_t)branch.len;
	t->method_len = (uint8_t)method.len;
	t->host_len = (uint8_t)host.len;
	r = buf_reserve(l, t, need);
	if (r < 0)
		goto fail;
	memcpy(t->buf, branch.p, branch.len);
	memcpy(t->buf + branch.len, method.p, method.len);
	if (host.len)
		memcpy(t->buf + branch.len + method.len, host.p, host.len);
	wheel_timer_init(&t->t_end, timer_end_cb);
	*ret = t;
	return 0;
fail:
	t->hnext = l->free;
	l->free = t;
	return r;
}

/* Give an entry back (it must not be in the table). */
static void tx_release(struct tx_layer *l, struct tx *t)
{
	wheel_cancel(l->w, &t->t_end);
	if (t->buf_class != CLASS_NONE)
		buf_put(l, t->buf_class, t->buf);
	t->buf = NULL;
	t->buf_class = CLASS_NONE;
	t->state = ST_FREE;
	t->flags = 0;
	t->hnext = l->free;
	l->free = t;
}

/* Terminate a live transaction. */
static void tx_destroy(struct tx_layer *l, struct tx *t)
{
	table_remove(l, t);
	tx_release(l, t);
	l->st.live--;
}

/* Now for arming: the later of the clock and the wheel's time (see
 * tx_layer_opts.clock). */
static uint64_t arm_base(struct tx_layer *l)
{
	uint64_t now = l->clock ? l->clock(l->clock_arg) : clock_now_ms();
	uint64_t wnow = wheel_now(l->w);

	return now > wnow ? now : wnow;
}

/* A client in Trying/Proceeding: its one node at the earlier of Timer E
 * (e_at; 0 = none: reliable) and Timer F. */
static void arm_client(struct tx_layer *l, struct tx *t, uint64_t e_at)
{
	wheel_add(l->w, &t->t_end, e_at && e_at < t->f_at ? e_at : t->f_at);
}

static int tx_send(struct tx_layer *l, struct tx *t, const void *buf, size_t len)
{
	return l->send(l->send_arg, buf, len, &t->to.sa, t->tolen, t->conn);
}

static void retransmit(struct tx_layer *l, struct tx *t)
{
	if (tx_send(l, t, msg_of(t), t->msg_len) < 0)
		l->st.send_errors++;
	if (t->retransmits < UINT16_MAX)
		t->retransmits++;
	l->st.retransmits++;
}

/* Timer E of a client in Trying/Proceeding: send again, E doubles up to
 * T2 (Trying) or is T2 (Proceeding); the node goes to the earlier of the
 * next E and F. */
static void timer_e(struct tx_layer *l, struct tx *t)
{
	retransmit(l, t);
	if (t->state == ST_TRYING)
		t->retx_ms = t->retx_ms * 2 < l->t2 ? t->retx_ms * 2 : l->t2;
	else
		t->retx_ms = l->t2;
	arm_client(l, t, arm_base(l) + t->retx_ms);
}

/* Double a ring, its entries unwrapped to the front. -ENOMEM leaves it as
 * it was. */
static int ring_grow(struct tx_ring *r)
{
	size_t cap = r->cap ? 2 * r->cap : RING_MIN;
	struct ring_ent *e = malloc(cap * sizeof(*e));

	if (!e)
		return -ENOMEM;
	for (size_t i = 0; i < r->n; i++)
		e[i] = r->e[(r->head + i) & (r->cap - 1)];
	free(r->e);
	r->e = e;
	r->cap = cap;
	r->head = 0;
	return 0;
}

/* Completed t ends interval ms from now (Timer K or J, the ring's fixed
 * interval): it joins the ring's tail, or, when the ring cannot grow, its
 * own node is armed for it (timer_end_cb ends it). The time is never before
 * the tail's (the clock never goes back; were it to, t would end with the
 * tail, later, never early), so the ring stays in deadline order. */
static void ring_append(struct tx_layer *l, struct tx_ring *r, struct tx *t, uint32_t interval)
{
	struct ring_ent *e;
	uint64_t at = arm_base(l) + interval;

	if (r->n && r->e[(r->head + r->n - 1) & (r->cap - 1)].at > at)
		at = r->e[(r->head + r->n - 1) & (r->cap - 1)].at;
	t->f_at = at;
	if (r->n == r->cap && ring_grow(r) < 0) {
		wheel_add(l->w, &t->t_end, at);
		return;
	}
	e = &r->e[(r->head + r->n++) & (r->cap - 1)];
	e->t = t;
	e->at = at;
	if (!wheel_timer_pending(&r->timer))
		wheel_add(l->w, &r->timer, at);
}

/* Fetch, for writing, the first cache line (see struct tx) of the entry i
 * places after the ring's head. */
static inline void ring_prefetch_entry(const struct tx_ring *r, size_t i)
{
	const char *p = (const char *)r->e[(r->head + i) & (r->cap - 1)].t;

	__builtin_prefetch(p, 1);
	__builtin_prefetch(p + 63, 1);
}

/* Fetch what ending the entry i places after the head touches besides the
 * entry (read by then): its index slot and its buffer. */
static inline void ring_prefetch_deps(const struct tx_layer *l, const struct tx_ring *r,
				      size_t i)
{
	const struct tx *t = r->e[(r->head + i) & (r->cap - 1)].t;

	/* Unconditional: gcc 12 at -O3 dropped these prefetches (all of them)
	 * when each stood under an if. A direct client's slot is a useless
	 * fetch; a NULL buffer is a prefetch that does not fault. */
	table_prefetch(l, t->hash);
	__builtin_prefetch(t->buf, 1);
}

/* A ring's timer: every transaction whose time is due ends, in order. The
 * ring gives the addresses ahead, so the misses of cold entries overlap:
 * the entry 2 * RING_PREFETCH places ahead is fetched, and for the one
 * RING_PREFETCH ahead (fetched by then) its index slot and buffer. */
static void ring_cb(struct wheel *w, struct wheel_timer *wt)
{
	struct tx_ring *r = wheel_timer_owner(wt, struct tx_ring, timer);
	struct tx_layer *l = r->l;
	uint64_t now = wheel_now(w);

	for (size_t i = 0; i < 2 * RING_PREFETCH && i < r->n; i++)
		ring_prefetch_entry(r, i);
	for (size_t i = 0; i < RING_PREFETCH && i < r->n; i++)
		ring_prefetch_deps(l, r, i);
	while (r->n && r->e[r->head].at <= now) {
		struct tx *t = r->e[r->head].t;

		if (r->n > 2 * RING_PREFETCH)
			ring_prefetch_entry(r, 2 * RING_PREFETCH);
		if (r->n > RING_PREFETCH)
			ring_prefetch_deps(l, r, RING_PREFETCH);
		r->head = (r->head + 1) & (r->cap - 1);
		r->n--;
		tx_destroy(l, t);
	}
	if (r->n)
		wheel_add(w, wt, r->e[r->head].at);
}

static void ring_init(struct tx_layer *l, struct tx_ring *r)
{
	wheel_timer_init(&r->timer, ring_cb);
	r->l = l;
}

static void ring_fini(struct tx_layer *l, struct tx_ring *r)
{
	wheel_cancel(l->w, &r->timer);
	free(r->e);
}

static void timer_end_cb(struct wheel *w, struct wheel_timer *wt)
{
	struct tx *t = wheel_timer_owner(wt, struct tx, t_end);
	struct tx_layer *l = t->layer;

	(void)w;
	if (t->kind == KIND_CLIENT && (t->state == ST_TRYING || t->state == ST_PROCEEDING)) {
		tx_result_cb cb = t->cb;
		void *arg = t->cb_arg;

		if (wheel_timer_expires(wt) < t->f_at) {
			timer_e(l, t); /* armed for E, which comes first */
			return;
		}
		/* Timer F: the request timed out */
		l->st.timeouts++;
		table_remove(l, t);
		t->state = ST_COMPLETED; /* nothing may touch it from the callback */
		cb(arg, t, -ETIMEDOUT, NULL);
		tx_release(l, t);
		l->st.live--;
		return;
	}
	/* Timer K (client) or J (server): the end of Completed */
	tx_destroy(l, t);
}

/* ------------------------------------------------------------------------ */
/* Public API                                                                */

static uint64_t random_u64(void)
{
	uint64_t v;

	if (getrandom(&v, sizeof(v), GRND_NONBLOCK) == (ssize_t)sizeof(v))
		return v;
	/* no entropy yet (early boot): still unique enough per process */
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 16) ^
	       (uint64_t)(uintptr_t)&v;
}

int tx_layer_new(struct tx_layer **ret, struct wheel *w, const struct tx_layer_opts *opts,
		 tx_send_fn send, void *send_arg)
{
	struct tx_layer_opts o = {0};
	struct tx_layer *l;

	if (opts)
		o = *opts;
	if (!w || !send || o.worker >= TX_MAX_WORKERS || o.max_msg > 65535)
		return -EINVAL;
	if (!o.t1_ms)
		o.t1_ms = TX_T1_MS;
	if (!o.t2_ms)
		o.t2_ms = TX_T2_MS;
	if (!o.t4_ms)
		o.t4_ms = TX_T4_MS;
	if (o.t2_ms < o.t1_ms || o.t1_ms > UINT32_MAX / 64)
		return -EINVAL;
	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->ixcap = IX_MIN;
	l->ix = ix_alloc(l->ixcap, &l->ix_map);
	if (!l->ix) {
		free(l);
		return -ENOMEM;
	}
	l->w = w;
	l->clock = o.clock;
	l->clock_arg = o.clock_arg;
	l->send = send;
	l->send_arg = send_arg;
	l->worker = o.worker;
	l->t1 = o.t1_ms;
	l->t2 = o.t2_ms;
	l->t4 = o.t4_ms;
	l->max_tx = o.max_tx ? o.max_tx : (size_t)1 << 20;
	l->max_msg = o.max_msg ? o.max_msg : 65535;
	ring_init(l, &l->kr);
	ring_init(l, &l->jr);
	l->branch_seed = random_u64();
	for (unsigned i = 0; i < SIPHASH_KEY_LEN; i += 8) {
		uint64_t v = random_u64();

		memcpy(l->key + i, &v, 8);
	}
	*ret = l;
	return 0;
}

void tx_layer_free(struct tx_layer *l)
{
	struct tx_chunk *c, *next;

	if (!l)
		return;
	ring_fini(l, &l->kr);
	ring_fini(l, &l->jr);
	for (c = l->chunks; c; c = next) {
		next = c->next;
		for (unsigned i = 0; i < CHUNK; i++) {
			struct tx *t = &c->tx[i];

			if (t->state == ST_FREE)
				continue;
			wheel_cancel(l->w, &t->t_end);
			if (t->buf_class != CLASS_NONE)
				free(t->buf);
		}
		free(c);
	}
	for (unsigned k = 0; k < NCLASS; k++) {
		void *p = l->bufs[k], *n;

		for (; p; p = n) {
			memcpy(&n, p, sizeof(void *));
			free(p);
		}
	}
	ix_free(l->ix, l->ix_map);
	free(l->ctab);
	free(l);
}

void tx_layer_stats(const struct tx_layer *l, struct tx_stats *out)
{
	*out = l->st;
}

static const char hexd[] = "0123456789abcdef";

/* splitmix64's finaliser: a bijection, so distinct counters give distinct
 * branches, and consecutive ones look unrelated. */
static uint64_t mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

/* mix64's inverse: each xor-shift undone by shifting again, each multiplier
 * by its inverse modulo 2^64. */
static uint64_t unmix64(uint64_t z)
{
	z = z ^ (z >> 31) ^ (z >> 62);
	z *= UINT64_C(0x319642b2d24d8ec3);
	z = z ^ (z >> 27) ^ (z >> 54);
	z *= UINT64_C(0x96de1b173f119089);
	return z ^ (z >> 30) ^ (z >> 60);
}

/* The counter of a branch this layer's tx_branch_make() wrote: false for
 * any other branch (another worker's, another UA's, not 16 lower-case hex
 * digits). */
static bool branch_ctr(const struct tx_layer *l, struct sip_str branch, uint64_t *ctr)
{
	/* lower-case hex digit values + 1, 0 for anything else */
	static const uint8_t hx[256] = {
	        ['0'] = 1,  ['1'] = 2,  ['2'] = 3,  ['3'] = 4,  ['4'] = 5,  ['5'] = 6,
	        ['6'] = 7,  ['7'] = 8,  ['8'] = 9,  ['9'] = 10, ['a'] = 11, ['b'] = 12,
	        ['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16,
	};
	const unsigned char *p = (const unsigned char *)branch.p;
	uint64_t u = 0;
	unsigned bad = 0;

	if (branch.len != TX_BRANCH_LEN || memcmp(p, OURS, OURS_LEN) != 0 ||
	    hx[p[OURS_LEN]] != ((l->worker >> 4) & 15) + 1 ||
	    hx[p[OURS_LEN + 1]] != (l->worker & 15) + 1)
		return false;
	for (unsigned i = OURS_LEN + 2; i < TX_BRANCH_LEN; i++) {
		unsigned v = hx[p[i]];

		bad |= v == 0;
		u = u << 4 | ((v - 1) & 15);
	}
	if (bad)
		return false;
	*ctr = unmix64(u) - l->branch_seed;
	return true;
}

/* The direct client transaction of branch with method, or NULL. */
static struct tx *direct_find(const struct tx_layer *l, struct sip_str branch,
			      struct sip_str method)
{
	uint64_t ctr;
	size_t idx;
	struct tx *t;

	if (!branch_ctr(l, branch, &ctr))
		return NULL;
	idx = ctr & IDX_NONE;
	if (idx == IDX_NONE || idx >= l->nchunks * CHUNK)
		return NULL;
	t = entry_at(l, (uint32_t)idx);
	if (!(t->flags & TXF_DIRECT) || t->hash != ctr || t->kind != KIND_CLIENT ||
	    t->state == ST_FREE || !str_is(key_method(t), t->method_len, method))
		return NULL;
	return t;
}

int tx_branch_make(struct tx_layer *l, char *buf, size_t cap)
{
	uint64_t u, ctr;
	uint32_t idx = IDX_NONE;

	if (cap <= TX_BRANCH_LEN)
		return -ENOSPC;
	/* name the entry the next start will take (see the top of the file) */
	l->made = NULL;
	if ((l->free || chunk_add(l) == 0) && l->free->idx < IDX_NONE)
		idx = l->free->idx;
	ctr = ++l->branch_ctr << IDX_BITS | idx;
	if (idx != IDX_NONE) {
		l->made = l->free;
		l->made_ctr = ctr;
	}
	u = mix64(l->branch_seed + ctr);
	memcpy(buf, OURS, OURS_LEN);
	buf[OURS_LEN] = hexd[(l->worker >> 4) & 15];
	buf[OURS_LEN + 1] = hexd[l->worker & 15];
	for (unsigned i = 0; i < 16; i++)
		buf[OURS_LEN + 2 + i] = hexd[(u >> (60 - 4 * i)) & 15];
	buf[TX_BRANCH_LEN] = '\0';
	if (l->made)
		memcpy(l->made_branch, buf, TX_BRANCH_LEN);
	return (int)TX_BRANCH_LEN;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int tx_branch_worker(struct sip_str branch)
{
	int hi, lo;

	if (branch.len != TX_BRANCH_LEN || !branch.p || memcmp(branch.p, OURS, OURS_LEN) != 0)
		return -EINVAL;
	for (size_t i = OURS_LEN; i < TX_BRANCH_LEN; i++)
		if (hexval(branch.p[i]) < 0)
			return -EINVAL;
	hi = hexval(branch.p[OURS_LEN]);
	lo = hexval(branch.p[OURS_LEN + 1]);
	return hi * 16 + lo;
}

int tx_client_start(struct tx_layer *l, struct tx **ret, struct sip_str branch,
		    struct sip_str method, const void *buf, size_t len,
		    const struct tx_dest *dest, tx_result_cb cb, void *arg)
{
	struct tx *t;
	uint64_t h, base;
	bool direct;
	int r;

	if (!branch.p || !branch.len || !method.p || !method.len || !cb || !buf || !len)
		return -EINVAL;
	if (branch.len > TX_BRANCH_MAX || method.len > TX_METHOD_MAX)
		return -ENAMETOOLONG;
	if (len > l->max_msg)
		return -EMSGSIZE;
	/* the branch tx_branch_make() just wrote, its entry still the free
	 * head: a direct transaction (a branch is made once, so none is live) */
	direct = l->made && l->made == l->free && branch.len == TX_BRANCH_LEN &&
	         memcmp(branch.p, l->made_branch, TX_BRANCH_LEN) == 0;
	l->made = NULL;
	if (direct) {
		h = l->made_ctr;
	} else {
		h = hash_branch(l, branch);
		if (table_find(l, KIND_CLIENT, h, branch, method, NULL) ||
		    direct_find(l, branch, method))
			return -EEXIST;
		if (l->st.live < l->max_tx && (r = table_room(l)) < 0)
			return r;
	}
	r = tx_alloc(l, &t, KIND_CLIENT, h, branch, method, SIP_STR_NULL, dest,
		     dest && dest->reliable ? 0 : len);
	if (r < 0)
		return r;
	if (!t->reliable) {
		memcpy(msg_of(t), buf, len);
		t->msg_len = (uint16_t)len;
	}
	r = tx_send(l, t, buf, len);
	if (r < 0)
		goto fail;
	t->cb = cb;
	t->cb_arg = arg;
	t->state = ST_TRYING;
	if (direct)
		t->flags |= TXF_DIRECT;
	else
		table_insert(l, t);
	l->st.live++;
	l->st.client_started++;
	base = arm_base(l);
	t->f_at = base + 64 * (uint64_t)l->t1; /* Timer F */
	if (!t->reliable)
		t->retx_ms = l->t1; /* Timer E */
	arm_client(l, t, t->reliable ? 0 : base + t->retx_ms);
	if (ret)
		*ret = t;
	return 0;
fail:
	tx_release(l, t);
	return r;
}

int tx_client_response(struct tx_layer *l, const struct sip_msg *resp,
		       const struct sip_via *top)
{
	const struct sip_via *saved;
	struct tx *t;
	tx_result_cb cb;
	void *arg;

	if (!resp || !top || resp->is_request || !resp->has_cseq || resp->status < 100 ||
	    resp->status > 699)
		return -EINVAL;
	if (!top->branch.len || top->branch.len > TX_BRANCH_MAX) {
		l->st.unmatched++;
		return -ENOENT;
	}
	t = direct_find(l, top->branch, resp->cseq.method);
	if (!t)
		t = table_find(l, KIND_CLIENT, hash_branch(l, top->branch), top->branch,
			       resp->cseq.method, top);
	if (!t) {
		l->st.unmatched++;
		return -ENOENT;
	}
	if (t->state == ST_COMPLETED) {
		l->st.absorbed++;
		return 0;
	}
	if (resp->status < 200) {
		t->state = ST_PROCEEDING;
		return 0;
	}
	/* the final response: report it once, then absorb for Timer K */
	wheel_cancel(l->w, &t->t_end);
	t->state = ST_COMPLETED;
	cb = t->cb;
	arg = t->cb_arg;
	saved = l->resp_via;
	l->resp_via = top;
	if (t->reliable) {
		table_remove(l, t);
		cb(arg, t, 0, resp);
		l->resp_via = saved;
		tx_release(l, t);
		l->st.live--;
		return 0;
	}
	keep_key_only(l, t);
	ring_append(l, &l->kr, t, l->t4);
	cb(arg, t, 0, resp);
	l->resp_via = saved;
	return 0;
}

const struct sip_via *tx_response_via(const struct tx_layer *l)
{
	return l->resp_via;
}

int tx_server_request(struct tx_layer *l, const struct sip_msg *req,
		      const struct sip_via *top, const struct tx_dest *src, struct tx **ret)
{
	struct sip_str method;
	struct tx *t;
	uint64_t h;
	int r;

	if (!req || !top || !req->is_request || !req->method.len || !ret)
		return -EINVAL;
	if (req->method_id == SIP_METHOD_INVITE || req->method_id == SIP_METHOD_ACK)
		return -EOPNOTSUPP;
	if (top->branch.len < MAGIC_LEN || memcmp(top->branch.p, MAGIC, MAGIC_LEN) != 0)
		return -EPROTONOSUPPORT;
	method = req->method;
	if (top->branch.len > TX_BRANCH_MAX || method.len > TX_METHOD_MAX ||
	    top->host.len > TX_HOST_MAX)
		return -ENAMETOOLONG;
	h = hash_branch(l, top->branch);
	t = table_find(l, KIND_SERVER, h, top->branch, method, top);
	if (t) {
		l->st.absorbed++;
		if (t->state != ST_TRYING && t->msg_len)
			retransmit(l, t);
		return TX_ABSORBED;
	}
	if (l->st.live < l->max_tx && (r = table_room(l)) < 0)
		return r;
	r = tx_alloc(l, &t, KIND_SERVER, h, top->branch, method, top->host, src, 0);
	if (r < 0)
		return r;
	t->port = top->port;
	t->state = ST_TRYING;
	table_insert(l, t);
	l->st.live++;
	l->st.server_started++;
	*ret = t;
	return TX_NEW;
}

int tx_server_reply(struct tx_layer *l, struct tx *t, unsigned status, const void *buf,
		    size_t len)
{
	int r;

	if (!t || t->kind != KIND_SERVER ||
	    (t->state != ST_TRYING && t->state != ST_PROCEEDING) || status < 100 ||
	    status > 699 || !buf || !len)
		return -EINVAL;
	if (len > l->max_msg)
		return -EMSGSIZE;
	if (!t->reliable) {
		r = buf_reserve(l, t, len);
		if (r < 0)
			return r;
		memcpy(msg_of(t), buf, len);
		t->msg_len = (uint16_t)len;
	}
	r = tx_send(l, t, buf, len);
	if (r < 0) {
		tx_destroy(l, t); /* RFC 3261 §17.2.4: a transport error */
		return r;
	}
	if (status < 200) {
		t->state = ST_PROCEEDING;
		return 0;
	}
	t->state = ST_COMPLETED;
	if (t->reliable)
		tx_destroy(l, t); /* Timer J = 0 */
	else
		ring_append(l, &l->jr, t, 64 * l->t1); /* Timer J */
	return 0;
}

int tx_fail_conn(struct tx_layer *l, uint64_t conn, int err)
{
	struct tx *list = NULL, **tail = &list, *t, *next;
	int n = 0;

	if (err >= 0)
		return -EINVAL;
	/* Take them all out first: a callback may start transactions (which
	 * may reuse freed entries or add a chunk) or abandon one of these. */
	for (struct tx_chunk *c = l->chunks; c; c = c->next) {
		for (unsigned i = 0; i < CHUNK; i++) {
			t = &c->tx[i];
			/* (a Completed client's conn may hold its key) */
			if (t->kind != KIND_CLIENT ||
			    (t->state != ST_TRYING && t->state != ST_PROCEEDING) ||
			    t->conn != conn)
				continue;
			table_remove(l, t);
			wheel_cancel(l->w, &t->t_end);
			t->state = ST_COMPLETED; /* nothing may touch it from a callback */
			*tail = t;
			tail = &t->hnext;
			n++;
		}
	}
	for (t = list; t; t = next) {
		next = t->hnext;
		t->hnext = NULL;
		l->st.transport_failed++;
		t->cb(t->cb_arg, t, err, NULL);
		tx_release(l, t);
		l->st.live--;
	}
	return n;
}

int tx_abandon(struct tx_layer *l, struct tx *t)
{
	if (!t || (t->state != ST_TRYING && t->state != ST_PROCEEDING))
		return -EINVAL;
	tx_destroy(l, t);
	return 0;
}

struct sip_str tx_branch(const struct tx *t)
{
	return sip_str_make(key_branch(t), t->branch_len);
}

unsigned tx_retransmits(const struct tx *t)
{
	return t->retransmits;
}
