/* SPDX-License-Identifier: MIT */
/*
 * registrar.c - REGISTER processing (see registrar.h for the order of the
 * checks and the reasons behind it). Nothing here allocates: the parsed
 * Contacts, the location views and the response live on the stack or in the
 * caller's buffer.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <urcu/uatomic.h>

#include "sipreg/digest.h"
#include "sipreg/doctor.h"
#include "sipreg/registrar.h"
#include "sipreg/sip_write.h"

#define MAX_CONTACTS REGISTRAR_MAX_CONTACTS /* Contacts in one REGISTER */
#define AOR_MAX (2 * STORE_NAME_MAX)

/* The [sip] values the registrar reads, each read with uatomic_read. */
struct reg_cfg {
	unsigned int endpoint_expire;
	unsigned int nat_expire;
	unsigned int min_expire;
	unsigned int max_contacts;
	unsigned int replace;
	unsigned int suspend_drop;
	unsigned int digest_order; /* enum config_digest_order */
	char realm[CONFIG_STR_MAX];      /* "" = the To domain */
	char server[CONFIG_STR_MAX];
};

struct registrar {
	struct registrar_deps d;
	uint8_t tag_key[SIPHASH_KEY_LEN];
	struct reg_cfg cfg;
	uint64_t cfg_gen; /* atomic: a new value at each registrar_set_config */
	bool same_hash; /* the subscriber and location tables hash alike */
	struct digest_key dummy; /* an unknown or disabled user's: same work */
};

/* Every registrar_set_config of any registrar takes the next value, so a
 * challenge tail cached for one configuration is never used for another
 * (nor for a later registrar at the same address). */
static uint64_t cfg_gens;

/* A REGISTER being handled. */
struct reg_ctx {
	struct registrar *r;
	const struct sip_msg *m;
	const struct sip_reg *pre; /* sip_reg_parse's fields of m, or NULL */
	const struct registrar_src *src;
	struct registrar_stats *st;
	uint64_t now;
	time_t wall;
	const struct sip_nameaddr *to; /* pre's, or to_own */
	struct sip_nameaddr to_own;
	struct sip_str realm;
	char aor_buf[AOR_MAX];
	struct sip_str aor;
	char ip[INET6_ADDRSTRLEN];
	size_t iplen; /* strlen(ip) */
	uint16_t port;
	unsigned int status; /* of the response begun, 0 for none */
	struct subscriber_view sub; /* the authenticated subscriber */
	bool hashed;       /* loc_hash and sub_hash computed (credentials came) */
	uint64_t loc_hash; /* location_hash(aor) */
	uint64_t sub_hash; /* subscriber_table_hash(To user, To host) */
	struct sip_write w;
};

int registrar_new(struct registrar **ret, const struct config *cfg,
		  const struct registrar_deps *deps)
{
	struct registrar *r;

	if (!deps->location || !deps->guard || !deps->nonce || !deps->subscribers ||
	    !deps->tag_key)
		return -EINVAL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->d = *deps;
	memcpy(r->tag_key, deps->tag_key, SIPHASH_KEY_LEN);
	/* a subscriber's key is the AOR's string: one hash serves both tables
	 * when they were given the same SipHash key (regsvc does) */
	r->same_hash = subscriber_table_hash(deps->subscribers, SIP_STR("probe"),
					     SIP_STR("hash.invalid")) ==
		       location_hash(deps->location, SIP_STR("probe@hash.invalid"));
	digest_key_from_password(&r->dummy, SIP_STR("\x01"), SIP_STR("\x01"),
				 SIP_STR("\x01 no such user \x01"));
	registrar_set_config(r, cfg);
	*ret = r;
	return 0;
}

void registrar_free(struct registrar *r)
{
	free(r);
}

void registrar_set_config(struct registrar *r, const struct config *cfg)
{
	uatomic_set(&r->cfg.endpoint_expire, cfg->endpoint_expire);
	uatomic_set(&r->cfg.nat_expire, cfg->endpoint_nat_expire);
	uatomic_set(&r->cfg.min_expire, cfg->min_expire);
	uatomic_set(&r->cfg.max_contacts, cfg->max_contacts);
	uatomic_set(&r->cfg.replace, cfg->endpoint_register_replace);
	uatomic_set(&r->cfg.suspend_drop, cfg->suspend_action == CONFIG_SUSPEND_DROP);
	uatomic_set(&r->cfg.digest_order, cfg->digest_order);
	/* strings change rarely (a reload) and are read as one short copy;
	 * a torn read could only mix two valid values for one response */
	memcpy(r->cfg.realm, cfg->realm, sizeof(r->cfg.realm));
	memcpy(r->cfg.server, cfg->user_agent, sizeof(r->cfg.server));
	uatomic_set(&r->cfg_gen, uatomic_add_return(&cfg_gens, 1));
}

/* ------------------------------------------------------------------------ */
/* Responses                                                                 */

static struct sip_str to_tag(struct reg_ctx *c, char *buf)
{
	static const char hex[] = "0123456789abcdef";
	uint64_t h = siphash24(c->r->tag_key, c->m->call_id.p, c->m->call_id.len);

	for (int i = 0; i < 12; i++)
		buf[i] = hex[(h >> (4 * i)) & 15];
	return sip_str_make(buf, 12);
}

/* RFC 3261 token: alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" /
 * "'" / "~" (one load a byte: the Via parameter check below reads ~50 bytes
 * a response) */
static bool is_token(unsigned char ch)
{
	static const uint8_t tok[256] = {
		['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1,
		['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1,
		['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1,
		['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1, ['A'] = 1, ['B'] = 1,
		['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1, ['H'] = 1, ['I'] = 1,
		['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1,
		['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1, ['W'] = 1,
		['X'] = 1, ['Y'] = 1, ['Z'] = 1, ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1,
		['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1, ['-'] = 1,
		['.'] = 1, ['!'] = 1, ['%'] = 1, ['*'] = 1, ['_'] = 1, ['+'] = 1, ['`'] = 1,
		['\''] = 1, ['~'] = 1,
	};

	return tok[ch];
}

static bool is_lws(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

/* s is the lower-case lit, in any case */
static bool name_is(const char *s, size_t n, const char *lit, size_t litlen)
{
	if (n != litlen)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((s[i] | 0x20) != lit[i])
			return false;
	return true;
}

static char *put(char *o, const void *p, size_t n)
{
	memcpy(o, p, n);
	return o + n;
}

#define PUTLIT(o, lit) put((o), "" lit, sizeof(lit) - 1)

/*
 * begin() of a REGISTER that sip_reg_parse took whole, without parsing the
 * top Via and the To again: the same bytes as sip_write_response() (the test
 * registrar.response_head_fast_path_matches_sip_write_response holds them
 * side by side), for the usual request only: one Via hop on one line,
 * parameters "name" or "name=value" of token characters separated by ';'
 * alone, and room for it all in the buffer. Returns 0 (written), or 1: not
 * such a request, nothing written, go the general way.
 */
static int begin_reg(struct reg_ctx *c, unsigned status, struct sip_str reason,
		     struct sip_str tag, struct sip_str received)
{
	enum { MAXP = 8 };
	const struct sip_msg *m = c->m;
	const struct sip_reg *pre = c->pre;
	const struct sip_hdr *via, *from, *callid, *cseq, *to;
	struct sip_str params, value;
	const char *pre_end, *p, *end, *seg[MAXP], *segend[MAXP];
	size_t nseg = 0, need;
	unsigned rport = 0, recv = 0; /* bit i: parameter i is a bare rport / a received */
	char port[8], *o;
	size_t portlen = 0;
	struct sip_write *w = &c->w, mark;

	if (!m->is_request || pre->via_rc != 1 || pre->to_rc != 0 || status < 100 ||
	    status > 699 || w->err)
		return 1;
	via = sip_msg_hdr(m, SIP_HDR_VIA);
	from = sip_msg_hdr(m, SIP_HDR_FROM);
	to = sip_msg_hdr(m, SIP_HDR_TO);
	callid = sip_msg_hdr(m, SIP_HDR_CALL_ID);
	cseq = sip_msg_hdr(m, SIP_HDR_CSEQ);
	if (!via || !from || !to || !callid || !cseq || sip_msg_hdr_next(m, via))
		return 1;
	value = via->value;
	params = pre->via.params;
	if (!sip_str_isset(params) || !params.len || params.p < value.p ||
	    params.p + params.len > value.p + value.len)
		return 1;
	/* the sent-by part, without the ';' that opens the parameters */
	pre_end = params.p;
	while (pre_end > value.p && (is_lws(pre_end[-1]) || pre_end[-1] == ';'))
		pre_end--;
	p = params.p;
	end = params.p + params.len;
	while (p < end && (*p == ';' || is_lws(*p)))
		p++;
	if (p == end)
		return 1;
	/* name[=value] (';' name[=value])*, token characters only */
	for (;;) {
		const char *s = p, *eq = NULL;
		if (nseg == MAXP)
			return 1;
		while (p < end && is_token((unsigned char)*p))
			p++;
		if (p == s)
			return 1;
		if (p < end && *p == '=') {
			const char *v = ++p;
			while (p < end && is_token((unsigned char)*p))
				p++;
			if (p == v)
				return 1;
			eq = v - 1;
		}
		seg[nseg] = s;
		segend[nseg] = p;
		if (!eq && name_is(s, (size_t)(p - s), "rport", 5))
			rport |= 1u << nseg;
		else if (name_is(s, (size_t)((eq ? eq : p) - s), "received", 8))
			recv |= 1u << nseg;
		nseg++;
		if (p == end)
			break;
		if (*p != ';' || ++p == end)
			return 1;
	}
	if (!c->port)
		rport = 0;
	if (rport)
		for (unsigned v = c->port; v; v /= 10)
			port[portlen++] = (char)('0' + v % 10);
	/* an upper bound of what follows the status line: the Via's value
	 * with, per parameter and once more, ";" or ";rport=65535" or
	 * ";received=" and the address */
	need = 5 + value.len + (nseg + 1) * (received.len + 16) + 8 + from->value.len + 6 +
	       to->value.len + 5 + tag.len + 11 + callid->value.len + 8 + cseq->value.len + 2;
	mark = *w;
	sip_write_status_line(w, status, reason);
	if (w->err || w->cap - w->len < need) {
		*w = mark; /* nothing written: sip_write_response says -ENOSPC */
		return 1;
	}
	o = w->buf + w->len;
	o = PUTLIT(o, "Via: ");
	o = put(o, value.p, (size_t)(pre_end - value.p));
	for (size_t i = 0; i < nseg; i++) {
		if (rport >> i & 1) {
			o = PUTLIT(o, ";rport=");
			for (size_t k = portlen; k-- > 0;)
				*o++ = port[k];
		} else if (recv >> i & 1) {
			o = PUTLIT(o, ";received=");
			o = put(o, received.p, received.len);
		} else {
			*o++ = ';';
			o = put(o, seg[i], (size_t)(segend[i] - seg[i]));
		}
	}
	if (!recv) {
		o = PUTLIT(o, ";received=");
		o = put(o, received.p, received.len);
	}
	o = put(o, end, (size_t)(value.p + value.len - end));
	o = PUTLIT(o, "\r\nFrom: ");
	o = put(o, from->value.p, from->value.len);
	o = PUTLIT(o, "\r\nTo: ");
	o = put(o, to->value.p, to->value.len);
	if (!sip_str_isset(pre->to.tag) && sip_str_isset(tag)) {
		o = PUTLIT(o, ";tag=");
		o = put(o, tag.p, tag.len);
	}
	o = PUTLIT(o, "\r\nCall-ID: ");
	o = put(o, callid->value.p, callid->value.len);
	o = PUTLIT(o, "\r\nCSeq: ");
	o = put(o, cseq->value.p, cseq->value.len);
	o = PUTLIT(o, "\r\n");
	w->len = (size_t)(o - w->buf);
	return 0;
}

/* Status line, Vias (top one with received/rport), From, To, Call-ID, CSeq. */
static int begin(struct reg_ctx *c, unsigned status, const char *reason)
{
	struct sip_str received = sip_str_make(c->ip, c->iplen);
	struct sip_str why = reason ? sip_str_make(reason, strlen(reason)) : SIP_STR_NULL;
	struct sip_write_src src = {.received = received, .port = c->port};
	struct sip_err err;
	char tag[12];
	struct sip_str t = to_tag(c, tag);

	c->status = status;
	if (c->pre && begin_reg(c, status, why, t, received) == 0)
		return 0;
	return sip_write_response(&c->w, c->m, status, why, t, &src, &err);
}

static void end(struct reg_ctx *c)
{
	if (c->r->cfg.server[0])
		sip_write_header(&c->w, SIP_STR("Server"),
				 sip_str_make(c->r->cfg.server, strlen(c->r->cfg.server)));
	sip_write_end(&c->w, SIP_STR(""));
}

static int reply(struct reg_ctx *c, unsigned status, const char *reason)
{
	int r = begin(c, status, reason);

	if (r == 0)
		end(c);
	return r;
}

static const enum sip_digest_alg chal_order[][2] = {
	[CONFIG_DIGEST_SHA256_MD5] = {SIP_DIGEST_SHA256, SIP_DIGEST_MD5},
	[CONFIG_DIGEST_MD5_SHA256] = {SIP_DIGEST_MD5, SIP_DIGEST_SHA256},
	[CONFIG_DIGEST_SHA256] = {SIP_DIGEST_SHA256, SIP_DIGEST_UNKNOWN},
	[CONFIG_DIGEST_MD5] = {SIP_DIGEST_MD5, SIP_DIGEST_UNKNOWN},
};

/* The 401's headers after CSeq: the challenges of this digest order (RFC
 * 8760 order by default: SHA-256, then MD5) sharing one nonce, Server and
 * the end. */
static void challenge_tail(struct reg_ctx *c, struct sip_write *w, unsigned int order,
			   struct sip_str nonce, bool stale)
{
	struct digest_challenge ch = {
		.realm = c->realm, .nonce = nonce, .qop_auth = true, .stale = stale};

	for (int i = 0; i < 2; i++) {
		if (chal_order[order][i] == SIP_DIGEST_UNKNOWN)
			continue;
		ch.alg = chal_order[order][i];
		sip_write_header_begin(w, SIP_STR("WWW-Authenticate"));
		digest_challenge_put(w, &ch);
		sip_write_header_end(w);
	}
	if (c->r->cfg.server[0])
		sip_write_header(w, SIP_STR("Server"),
				 sip_str_make(c->r->cfg.server, strlen(c->r->cfg.server)));
	sip_write_end(w, SIP_STR(""));
}

/*
 * That tail is the same bytes for every 401 of one realm, configuration and
 * stale flag but for the nonce: each thread keeps it, written once, with
 * where the nonce goes (found by writing it with two different nonces), and
 * copies it (the writer's ~2,000 instructions a challenge otherwise).
 */
#define TAIL_MAX 1024
#define TAIL_REALM_MAX 128

struct chal_tail {
	uint64_t gen; /* the registrar's cfg_gen (unique to it) when written */
	unsigned int order;
	size_t realm_len;
	char realm[TAIL_REALM_MAX];
	size_t len; /* 0: nothing cached */
	unsigned int nnonce;
	uint16_t nonce_at[2];
	char buf[TAIL_MAX];
};

static bool tail_build(struct reg_ctx *c, struct chal_tail *t, unsigned int order, bool stale)
{
	char other[TAIL_MAX], n0[NONCE_LEN], n1[NONCE_LEN];
	struct sip_write a, b;
	/* read first: a reload during the writing leaves a generation that no
	 * longer matches, and the next 401 writes the tail again */
	uint64_t gen = uatomic_read(&c->r->cfg_gen);
	size_t i;

	t->len = 0;
	if (c->realm.len > sizeof(t->realm))
		return false;
	memset(n0, '0', sizeof(n0));
	memset(n1, '1', sizeof(n1));
	sip_write_init(&a, t->buf, sizeof(t->buf));
	sip_write_init(&b, other, sizeof(other));
	challenge_tail(c, &a, order, sip_str_make(n0, NONCE_LEN), stale);
	challenge_tail(c, &b, order, sip_str_make(n1, NONCE_LEN), stale);
	if (a.err || b.err || a.len != b.len || a.len > UINT16_MAX)
		return false;
	t->nnonce = 0;
	for (i = 0; i < a.len;) {
		if (t->buf[i] == other[i]) {
			i++;
			continue;
		}
		/* a nonce: NONCE_LEN bytes, '0' in one, '1' in the other */
		if (t->nnonce == 2 || a.len - i < NONCE_LEN ||
		    memcmp(t->buf + i, n0, NONCE_LEN) || memcmp(other + i, n1, NONCE_LEN))
			return false;
		t->nonce_at[t->nnonce++] = (uint16_t)i;
		i += NONCE_LEN;
	}
	if (t->nnonce == 0)
		return false;
	t->gen = gen;
	t->order = order;
	t->realm_len = c->realm.len;
	memcpy(t->realm, c->realm.p, c->realm.len);
	t->len = a.len;
	return true;
}

/* 401 with the configured challenges sharing one nonce. */
static int challenge(struct reg_ctx *c, bool stale)
{
	static _Thread_local struct chal_tail tails[2]; /* [stale] */
	struct chal_tail *t = &tails[stale];
	unsigned int o = uatomic_read(&c->r->cfg.digest_order);
	char nonce[NONCE_LEN];
	size_t at;
	int r;

	if (o >= sizeof(chal_order) / sizeof(chal_order[0]))
		o = CONFIG_DIGEST_SHA256_MD5;
	nonce_issue(c->r->d.nonce, c->realm, (uint64_t)c->wall, nonce);
	r = begin(c, 401, NULL);
	if (r)
		return r;
	if (!(t->len && t->gen == uatomic_read(&c->r->cfg_gen) &&
	      t->order == o && t->realm_len == c->realm.len &&
	      memcmp(t->realm, c->realm.p, c->realm.len) == 0) &&
	    !tail_build(c, t, o, stale)) {
		challenge_tail(c, &c->w, o, sip_str_make(nonce, NONCE_LEN), stale);
		return 0;
	}
	at = c->w.len;
	sip_write_mem(&c->w, t->buf, t->len);
	if (c->w.err || c->w.len != at + t->len)
		return 0; /* sip_write_result reports it */
	for (unsigned int i = 0; i < t->nnonce; i++)
		memcpy(c->w.buf + at + t->nonce_at[i], nonce, NONCE_LEN);
	return 0;
}

static int too_brief(struct reg_ctx *c, unsigned min)
{
	int r = begin(c, 423, NULL);

	if (r)
		return r;
	sip_write_header_u32(&c->w, SIP_STR("Min-Expires"), min);
	end(c);
	return 0;
}

static int bad_extension(struct reg_ctx *c, struct sip_str tags)
{
	int r = begin(c, 420, NULL);

	if (r)
		return r;
	sip_write_header(&c->w, SIP_STR("Unsupported"), tags);
	end(c);
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Checks                                                                    */

static bool is_sip(const struct sip_uri *u)
{
	return u->scheme == SIP_URI_SIP || u->scheme == SIP_URI_SIPS;
}

/* user@host, host in lower case, into c->aor. */
/* "user@host", the host in lower case, into buf (AOR_MAX): its length, or
 * 0 when it does not fit. */
/* Eight bytes lower-cased at once (A-Z only; bytes >= 0x80 kept): a byte's
 * low 7 bits plus 0x80 - 'A' reach the top bit iff it is >= 'A', plus
 * 0x7f - 'Z' iff it is > 'Z'; no sum carries into the next byte. */
static inline uint64_t lower8(uint64_t x)
{
	const uint64_t ones = 0x0101010101010101ull;
	uint64_t low7 = x & (0x7f * ones);
	uint64_t ge_a = low7 + (0x80 - 'A') * ones;
	uint64_t gt_z = low7 + (0x7f - 'Z') * ones;

	return x | ((ge_a & ~gt_z & ~x & (0x80 * ones)) >> 2);
}

static size_t aor_of(const struct sip_uri *u, char *buf)
{
	const char *h = u->host.p;
	size_t n, len = u->host.len, i = 0;
	uint64_t x;
	char *o;

	if (u->user.len + 1 + len > AOR_MAX)
		return 0;
	memcpy(buf, u->user.p, u->user.len);
	n = u->user.len;
	buf[n++] = '@';
	o = buf + n;
	if (len >= 8) {
		for (; i + 8 <= len; i += 8) {
			memcpy(&x, h + i, 8);
			x = lower8(x);
			memcpy(o + i, &x, 8);
		}
		if (i < len) { /* the last 8 bytes again: lower-casing is idempotent */
			memcpy(&x, h + len - 8, 8);
			x = lower8(x);
			memcpy(o + len - 8, &x, 8);
		}
	} else {
		for (; i < len; i++) {
			char ch = h[i];
			o[i] = (ch >= 'A' && ch <= 'Z') ? (char)(ch | 0x20) : ch;
		}
	}
	return n + len;
}

static bool make_aor(struct reg_ctx *c)
{
	size_t n = aor_of(&c->to->uri, c->aor_buf);

	if (!n)
		return false;
	c->aor = sip_str_make(c->aor_buf, n);
	return true;
}

/* Require: only "path" (RFC 3327) and "outbound" (RFC 5626) are known.
 * Returns the first unknown option tag, or an unset slice. */
static struct sip_str unsupported_require(const struct sip_msg *m)
{
	for (const struct sip_hdr *h = sip_msg_hdr(m, SIP_HDR_REQUIRE); h;
	     h = sip_msg_hdr_next(m, h)) {
		struct sip_str v = h->value;
		while (v.len) {
			const char *comma = sip_str_chr(v, ',');
			size_t n = comma ? (size_t)(comma - v.p) : v.len;
			struct sip_str tag = sip_str_trim(sip_str_make(v.p, n));
			if (tag.len && !sip_str_caseeq(tag, SIP_STR("path")) &&
			    !sip_str_caseeq(tag, SIP_STR("outbound")))
				return tag;
			v = comma ? sip_str_make(comma + 1, v.len - n - 1) : SIP_STR("");
		}
	}
	return SIP_STR_NULL;
}

static bool has_option_tag(const struct sip_msg *m, enum sip_hdr_id id, struct sip_str want)
{
	for (const struct sip_hdr *h = sip_msg_hdr(m, id); h; h = sip_msg_hdr_next(m, h)) {
		struct sip_str v = h->value;
		while (v.len) {
			const char *comma = sip_str_chr(v, ',');
			size_t n = comma ? (size_t)(comma - v.p) : v.len;
			if (sip_str_caseeq(sip_str_trim(sip_str_make(v.p, n)), want))
				return true;
			v = comma ? sip_str_make(comma + 1, v.len - n - 1) : SIP_STR("");
		}
	}
	return false;
}

/* Dotted quad by hand: inet_ntop goes through sprintf, the largest cost of
 * a challenge after the HMAC (callgrind: ~850 instructions a registration). */
static void ipv4_text(const uint8_t *a, char *out)
{
	for (int i = 0; i < 4; i++) {
		unsigned v = a[i];
		if (v >= 100)
			*out++ = (char)('0' + v / 100);
		if (v >= 10)
			*out++ = (char)('0' + v / 10 % 10);
		*out++ = (char)('0' + v % 10);
		*out++ = i < 3 ? '.' : '\0';
	}
}

/* Strict dotted quad (no leading zeros beyond "0", values 0-255). */
static bool ipv4_parse(struct sip_str s, uint8_t *out)
{
	size_t i = 0;

	for (int part = 0; part < 4; part++) {
		unsigned v = 0, digits = 0;
		while (i < s.len && s.p[i] >= '0' && s.p[i] <= '9' && digits < 4) {
			v = v * 10 + (unsigned)(s.p[i++] - '0');
			digits++;
		}
		if (digits == 0 || digits > 3 || v > 255)
			return false;
		out[part] = (uint8_t)v;
		if (part < 3 && (i >= s.len || s.p[i++] != '.'))
			return false;
	}
	return i == s.len;
}

static void src_text(struct reg_ctx *c)
{
	const struct sockaddr *sa = c->src->addr;

	c->ip[0] = '\0';
	c->port = 0;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const void *)sa;
		ipv4_text((const uint8_t *)&s4->sin_addr, c->ip);
		c->port = ntohs(s4->sin_port);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)sa;
		inet_ntop(AF_INET6, &s6->sin6_addr, c->ip, sizeof(c->ip));
		c->port = ntohs(s6->sin6_port);
	}
	c->iplen = strlen(c->ip);
}

/* Does the literal address host differ from the packet's source? Names
 * cannot be compared without a lookup and do not count. */
static bool addr_differs(const struct reg_ctx *c, struct sip_str host, enum sip_host_type type,
			 uint16_t port)
{
	char h[INET6_ADDRSTRLEN];
	uint8_t a[16], b[16];
	int fam = type == SIP_HOST_IPV6 ? AF_INET6 : AF_INET;
	const struct sockaddr *sa = c->src->addr;

	if (type == SIP_HOST_NAME || host.len >= sizeof(h))
		return false;
	/* the source's own dotted quad, as src_text wrote it (the usual
	 * case): the same address without parsing it */
	if (fam == AF_INET && sa->sa_family == AF_INET && host.len == c->iplen &&
	    memcmp(host.p, c->ip, host.len) == 0)
		return c->src->transport == LOC_UDP && (port ? port : 5060) != c->port;
	if (fam == AF_INET) {
		if (!ipv4_parse(host, a))
			return false;
	} else {
		memcpy(h, host.p, host.len);
		h[host.len] = '\0';
		if (inet_pton(fam, h, a) != 1)
			return false;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)sa;
		if (fam == AF_INET && IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
			memcpy(b, &s6->sin6_addr.s6_addr[12], 4);
		else if (fam == AF_INET6)
			memcpy(b, &s6->sin6_addr, 16);
		else
			return true;
	} else {
		if (fam != AF_INET)
			return true;
		memcpy(b, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
	}
	if (memcmp(a, b, fam == AF_INET ? 4 : 16) != 0)
		return true;
	/* over UDP the port must match too (5060 when absent); a TCP
	 * client's source port is its own ephemeral one by design */
	return c->src->transport == LOC_UDP && (port ? port : 5060) != c->port;
}

static bool behind_nat(const struct reg_ctx *c, const struct sip_contact *ct, size_t n)
{
	struct sip_via via;
	struct sip_err err;

	const struct sip_via *top = c->src->top_via;

	if (!top && c->pre && c->pre->via_rc == 1)
		top = &c->pre->via;
	if (top) {
		if (addr_differs(c, top->host, top->host_type, top->port))
			return true;
	} else if (sip_msg_vias(c->m, &via, 1, &err) == 1 &&
		   addr_differs(c, via.host, via.host_type, via.port)) {
		return true;
	}
	for (size_t i = 0; i < n; i++)
		if (!ct[i].star && addr_differs(c, ct[i].na.uri.host, ct[i].na.uri.host_type,
						ct[i].na.uri.port))
			return true;
	return false;
}

/* ------------------------------------------------------------------------ */
/* Authentication                                                            */

/* The first credentials for our realm, parsed (*out: a, or sip_reg_parse's
 * of the first Authorization); 0 when there are none. */
static int find_credentials(struct reg_ctx *c, struct sip_auth *a, const struct sip_auth **out,
			    struct sip_err *err)
{
	const struct sip_msg *m = c->m;
	const struct sip_hdr *h = sip_msg_hdr(m, SIP_HDR_AUTHORIZATION);

	if (h && c->pre) { /* the first one is parsed already */
		const struct sip_auth *p = &c->pre->auth;
		if (c->pre->auth_rc < 0) {
			*err = c->pre->auth_err;
			return c->pre->auth_rc;
		}
		if (name_is(p->scheme.p, p->scheme.len, "digest", 6) &&
		    sip_str_eq(p->realm, c->realm)) {
			*out = p;
			return 1;
		}
		h = sip_msg_hdr_next(m, h);
	}
	for (; h; h = sip_msg_hdr_next(m, h)) {
		int r = sip_auth_parse(a, h->value, err);
		if (r < 0)
			return r;
		if (name_is(a->scheme.p, a->scheme.len, "digest", 6) &&
		    sip_str_eq(a->realm, c->realm)) {
			*out = a;
			return 1;
		}
	}
	return 0;
}

/*
 * May the subscriber table's prepared key stand for these credentials? A
 * key from a password was made with the subscriber's name and its domain in
 * lower case as the realm, and the lookup found it by a->username and the
 * To host: so it fits when the realm is the To host in lower case and
 * neither the realm nor the username holds an escape (their unescaped values
 * are then those bytes). Decided from the request alone, the same for a
 * known user and an unknown one.
 */
static bool key_fits(const struct reg_ctx *c, const struct sip_auth *a)
{
	struct sip_str host = c->to->uri.host, realm = a->realm;

	if (realm.len != host.len || memchr(a->username.p, '\\', a->username.len))
		return false;
	for (size_t i = 0; i < realm.len; i++) {
		char h = host.p[i];
		if (h >= 'A' && h <= 'Z')
			h = (char)(h | 0x20);
		if (realm.p[i] != h || h == '\\')
			return false;
	}
	return true;
}

/* Verifies the response against what the subscriber table holds. An unknown
 * or disabled user is checked against a dummy key (or password, when the
 * key cannot serve): same cost, same answer. Returns 0 or a digest_verify
 * error. */
static int verify(struct reg_ctx *c, const struct sip_auth *a)
{
	struct subscriber_view s; /* every field set when found (not zeroed
				   * whole: a rep stos); else only these read */
	struct sip_str method = SIP_STR("REGISTER");
	bool known, fits = key_fits(c, a);
	int r;

	s.enabled = false;
	s.max_contacts = 0;
	s.password = s.ha1_md5 = s.ha1_sha256 = SIP_STR_NULL;
	s.key = NULL;

	if (c->hashed && sip_str_eq(a->username, c->to->uri.user))
		known = subscriber_table_get_hashed(c->r->d.subscribers, c->sub_hash, a->username,
						    c->to->uri.host, &s);
	else
		known = subscriber_table_get(c->r->d.subscribers, a->username, c->to->uri.host, &s);

	c->sub = s; /* kept for the contact limit: one lookup per request */

	if (!known || !s.enabled || !sip_str_eq(a->username, c->to->uri.user)) {
		if (fits)
			r = digest_verify_key(a, method, c->m->body, &c->r->dummy);
		else
			r = digest_verify(a, method, c->m->body,
					  SIP_STR("\x01 no such user \x01"));
		return r == 0 || r == -EACCES ? -EACCES : r;
	}
	if (s.password.len && !fits)
		return digest_verify(a, method, c->m->body, s.password);
	/* the key of the password, or of the stored HA1s (any realm) */
	return digest_verify_key(a, method, c->m->body, s.key);
}

/* Was alg among the challenges of this digest order? Unknown algorithms
 * pass here and are refused by the verifier (400). */
static bool alg_offered(unsigned int order, enum sip_digest_alg alg)
{
	bool md5 = alg == SIP_DIGEST_MD5 || alg == SIP_DIGEST_MD5_SESS;
	bool sha = alg == SIP_DIGEST_SHA256 || alg == SIP_DIGEST_SHA256_SESS;

	if (md5)
		return order != CONFIG_DIGEST_SHA256;
	if (sha)
		return order != CONFIG_DIGEST_MD5;
	return alg == SIP_DIGEST_UNKNOWN;
}

/* Steps 2-6. Returns 1 when authenticated, 0 when a response was written,
 * or a negative errno. */
static int authenticate(struct reg_ctx *c)
{
	struct registrar *r = c->r;
	struct sip_auth own;
	const struct sip_auth *ap = &own;
	struct sip_err err;
	struct nonce_ref ref;
	int k;

	if (guard_check(r->d.guard, c->aor, c->src->addr, c->now, NULL) != GUARD_OK) {
		c->st->suspended++;
		if (uatomic_read(&r->cfg.suspend_drop))
			return 0;
		return reply(c, 403, NULL);
	}
	k = find_credentials(c, &own, &ap, &err);
	if (k < 0) {
		c->st->bad_request++;
		return reply(c, 400, err.reason);
	}
	if (k == 0) {
		c->st->challenged++;
		return challenge(c, false);
	}
	if (!alg_offered(uatomic_read(&r->cfg.digest_order), ap->alg)) {
		/* an algorithm we did not offer (a downgrade to MD5, say) */
		c->st->challenged++;
		return challenge(c, false);
	}
	if (c->hashed) { /* their slots have arrived: now the nodes, during the HMAC */
		subscriber_table_prefetch(r->d.subscribers, c->sub_hash, true);
		location_prefetch(r->d.location, c->loc_hash, true);
	}
	k = nonce_check(r->d.nonce, ap->nonce, c->realm, (uint64_t)c->wall, &ref);
	if (k < 0) {
		c->st->challenged++;
		return challenge(c, k == -ESTALE);
	}
	k = verify(c, ap);
	if (k == -EINVAL || k == -ENOTSUP) {
		c->st->bad_request++;
		return reply(c, 400, k == -ENOTSUP ? "Unsupported digest algorithm or qop"
						   : "Bad Authorization: incomplete credentials");
	}
	if (k < 0) {
		c->st->auth_failed++;
		guard_fail(r->d.guard, c->aor, c->src->addr, c->now);
		return challenge(c, false);
	}
	k = nonce_commit(r->d.nonce, &ref, ap->has_nc ? ap->nc_val : 1);
	if (k < 0) {
		c->st->challenged++;
		return challenge(c, k == -ESTALE);
	}
	guard_success(r->d.guard, c->aor, c->src->addr);
	return 1;
}

/* ------------------------------------------------------------------------ */
/* Bindings                                                                  */

/* Joins the Path header values (RFC 3327) into buf. */
static struct sip_str joined_path(const struct sip_msg *m, char *buf, size_t cap)
{
	size_t n = 0;

	for (const struct sip_hdr *h = sip_msg_hdr(m, SIP_HDR_PATH); h; h = sip_msg_hdr_next(m, h)) {
		if (n + h->value.len + 1 > cap)
			return SIP_STR_NULL;
		if (n)
			buf[n++] = ',';
		memcpy(buf + n, h->value.p, h->value.len);
		n += h->value.len;
	}
	return sip_str_make(buf, n);
}

/* sip_msg_u32(m, SIP_HDR_EXPIRES, v, err), or what sip_reg_parse found. */
static int expires_hdr(const struct reg_ctx *c, uint32_t *v, struct sip_err *err)
{
	if (!c->pre)
		return sip_msg_u32(c->m, SIP_HDR_EXPIRES, v, err);
	if (c->pre->expires_rc == 0)
		*v = c->pre->expires;
	else
		*err = c->pre->expires_err;
	return c->pre->expires_rc;
}

/* Steps 6-7: the expiry of each Contact. Returns 0, or the 4xx to send
 * (*min_out set for a 423). */
static int contact_expiries(struct reg_ctx *c, const struct sip_contact *ct, size_t n, bool nat,
			    struct loc_contact *lc, unsigned *min_out)
{
	struct registrar *r = c->r;
	unsigned max = uatomic_read(nat ? &r->cfg.nat_expire : &r->cfg.endpoint_expire);
	unsigned min = uatomic_read(&r->cfg.min_expire);
	uint32_t hdr = 0;
	struct sip_err err;
	int k = expires_hdr(c, &hdr, &err);
	bool has_hdr = k == 0;

	if (k == -EBADMSG)
		return 400;
	if (k == -ERANGE) { /* RFC 3261 §20.19: a huge Expires is the maximum */
		hdr = UINT32_MAX;
		has_hdr = true;
	}
	for (size_t i = 0; i < n; i++) {
		uint32_t want = ct[i].has_expires ? ct[i].expires : has_hdr ? hdr : max;
		if (want && want < min) {
			*min_out = min;
			return 423;
		}
		lc[i].uri = ct[i].na.uri.raw;
		lc[i].instance = ct[i].instance;
		lc[i].reg_id = ct[i].has_reg_id ? ct[i].reg_id : 0;
		lc[i].q = ct[i].q;
		lc[i].expires = want < max ? want : max;
	}
	return 0;
}

/* The Date header of the second t: formatted once a second per thread (a
 * worker answers tens of thousands of REGISTERs a second), then copied. */
static void put_date(struct sip_write *w, int64_t t)
{
	static _Thread_local int64_t at = -1;
	static _Thread_local char line[48];
	static _Thread_local size_t len;

	if (t != at) {
		struct sip_write d;
		sip_write_init(&d, line, sizeof(line));
		sip_write_date(&d, (time_t)t);
		if (d.err) { /* cannot happen: the line is 37 bytes */
			sip_write_date(w, (time_t)t);
			return;
		}
		len = d.len;
		at = t;
	}
	sip_write_mem(w, line, len);
}

static int write_ok(struct reg_ctx *c, const struct loc_view *v, size_t n)
{
	int r = begin(c, 200, NULL);

	if (r)
		return r;
	for (size_t i = 0; i < n; i++) {
		uint64_t left = v[i].expires > c->now ? v[i].expires - c->now : 0;
		struct sip_write_contact wc = {
			.uri = v[i].uri,
			.has_expires = true,
			.expires = (uint32_t)((left + 999) / 1000),
			.instance = v[i].instance.len ? v[i].instance : SIP_STR_NULL,
			.has_reg_id = v[i].reg_id != 0,
			.reg_id = v[i].reg_id,
		};
		sip_write_contact(&c->w, &wc);
	}
	if (has_option_tag(c->m, SIP_HDR_SUPPORTED, SIP_STR("path")))
		for (const struct sip_hdr *h = sip_msg_hdr(c->m, SIP_HDR_PATH); h;
		     h = sip_msg_hdr_next(c->m, h))
			sip_write_header(&c->w, SIP_STR("Path"), h->value);
	put_date(&c->w, c->wall);
	end(c);
	return 0;
}

/* Steps 6-9 for an authenticated request. */
static int update_bindings(struct reg_ctx *c)
{
	struct sip_contact own[MAX_CONTACTS];
	const struct sip_contact *ct = own;
	struct loc_contact lc[MAX_CONTACTS];
	struct loc_view v[LOCATION_MAX_BINDINGS];
	struct sip_err err;
	char path_buf[STORE_PATH_MAX];
	unsigned min = 0;
	size_t nv = 0;
	int n, k;
	bool star, nat;

	if (c->pre && c->pre->contacts && c->pre->ccap == MAX_CONTACTS) {
		n = c->pre->ncontacts;
		ct = c->pre->contacts;
		if (n < 0)
			err = c->pre->contacts_err;
	} else {
		n = sip_msg_contacts(c->m, own, MAX_CONTACTS, &err);
	}

	if (n == -E2BIG) {
		c->st->bad_request++;
		return reply(c, 400, "Too many Contacts");
	}
	if (n < 0) {
		c->st->bad_request++;
		return reply(c, 400, err.reason);
	}
	star = n == 1 && ct[0].star;
	if (star) {
		uint32_t e = 1;
		if (expires_hdr(c, &e, &err) != 0 || e != 0) {
			c->st->bad_request++;
			return reply(c, 400, "Contact * needs Expires: 0");
		}
		n = 0;
	}
	nat = behind_nat(c, ct, (size_t)n);
	k = contact_expiries(c, ct, (size_t)n, nat, lc, &min);
	if (k == 423) {
		c->st->too_brief++;
		return too_brief(c, min);
	}
	if (k) {
		c->st->bad_request++;
		return reply(c, 400, "Bad Expires");
	}

	struct loc_policy pol = {.max_contacts = uatomic_read(&c->r->cfg.max_contacts),
				 .replace = uatomic_read(&c->r->cfg.replace) != 0};
	if (c->sub.max_contacts) /* authenticate() found the subscriber */
		pol.max_contacts = c->sub.max_contacts;
	const struct sip_hdr *ua = sip_msg_hdr(c->m, SIP_HDR_USER_AGENT);
	struct loc_request req = {.call_id = c->m->call_id,
				  .cseq = c->m->cseq.num,
				  .path = joined_path(c->m, path_buf, sizeof(path_buf)),
				  .user_agent = ua ? ua->value : SIP_STR(""),
				  .received = c->src->addr,
				  .transport = c->src->transport,
				  .conn = c->src->conn,
				  .nat = nat};
	if (c->hashed)
		k = location_update_hashed(c->r->d.location, c->aor, c->loc_hash, lc, (size_t)n, star,
					   &req, &pol, c->now, v, LOCATION_MAX_BINDINGS, &nv);
	else
		k = location_update(c->r->d.location, c->aor, lc, (size_t)n, star, &req, &pol,
				    c->now, v, LOCATION_MAX_BINDINGS, &nv);
	switch (k) {
	case 0:
		c->st->registered++;
		doctor_ep_note_register(c->aor, c->m, ct, lc, (size_t)n, nv, nat, c->src->addr, c->now);
		return write_ok(c, v, nv);
	case -EALREADY:
		c->st->bad_request++;
		return reply(c, 400, "Out of order CSeq for this Call-ID");
	case -EPERM:
		c->st->forbidden++;
		return reply(c, 403, "Registered elsewhere and replace is off");
	case -E2BIG:
		c->st->forbidden++;
		return reply(c, 403, "Too many contacts");
	default:
		c->st->server_error++;
		return reply(c, 500, NULL);
	}
}

/* ------------------------------------------------------------------------ */

/* With credentials, the subscriber and the AOR's record are looked up later
 * in this request: hash once, and start loading the tables' slots now (cache
 * misses were a third of the worker's time with 100,000 subscribers). */
static void prefetch_tables(struct reg_ctx *c)
{
	struct registrar *r = c->r;

	if (c->src->hint && c->src->hint->set) { /* the same AOR, already hashed:
						      * its slots are on the way */
		c->loc_hash = c->src->hint->loc_hash;
		c->sub_hash = c->src->hint->sub_hash;
		c->hashed = true;
		return;
	}
	c->loc_hash = location_hash(r->d.location, c->aor);
	c->sub_hash = r->same_hash ? c->loc_hash
				   : subscriber_table_hash(r->d.subscribers, c->to->uri.user,
							   c->to->uri.host);
	c->hashed = true;
	subscriber_table_prefetch(r->d.subscribers, c->sub_hash, false);
	location_prefetch(r->d.location, c->loc_hash, false);
}

static int handle(struct reg_ctx *c)
{
	struct sip_uri own;
	const struct sip_uri *ruri = &own;
	struct sip_err err;
	struct sip_str tag;
	int k;

	if (c->pre) {
		ruri = &c->pre->ruri;
		k = c->pre->ruri_rc;
	} else {
		k = sip_uri_parse(&own, c->m->ruri, &err);
	}
	if (k < 0 || !is_sip(ruri)) {
		c->st->bad_request++;
		return reply(c, 416, NULL);
	}
	if (c->pre) {
		c->to = &c->pre->to;
		k = c->pre->to_rc;
		if (k < 0)
			err = c->pre->to_err;
	} else {
		c->to = &c->to_own;
		k = sip_msg_to(c->m, &c->to_own, &err);
	}
	if (k < 0) {
		c->st->bad_request++;
		return reply(c, 400, err.reason);
	}
	if (!is_sip(&c->to->uri)) {
		c->st->bad_request++;
		return reply(c, 416, NULL);
	}
	if (!c->to->uri.user.len || !c->to->uri.host.len || !make_aor(c)) {
		c->st->bad_request++;
		return reply(c, 404, NULL);
	}
	if (sip_msg_hdr(c->m, SIP_HDR_AUTHORIZATION))
		prefetch_tables(c);
	tag = unsupported_require(c->m);
	if (sip_str_isset(tag)) {
		c->st->bad_request++;
		return bad_extension(c, tag);
	}
	c->realm = c->r->cfg.realm[0] ? sip_str_make(c->r->cfg.realm, strlen(c->r->cfg.realm))
				      : c->to->uri.host;
	k = authenticate(c);
	if (k <= 0)
		return k;
	return update_bindings(c);
}

static int handle_msg(struct registrar *r, const struct sip_msg *m, const struct sip_reg *pre,
		      const struct registrar_src *src, uint64_t now, time_t wall, char *out,
		      size_t cap, struct registrar_result *res, struct registrar_stats *st)
{
	struct reg_ctx c; /* not zeroed whole (a rep stos of ~1 KB): each field
			   * is set here or before its first read */
	int k;

	c.r = r;
	c.m = m;
	c.pre = pre;
	c.to = &c.to_own;
	c.src = src;
	c.st = st;
	c.now = now;
	c.wall = wall;
	c.realm = SIP_STR_NULL;
	c.aor = SIP_STR_NULL;
	c.status = 0;
	c.sub.max_contacts = 0; /* the rest is read only once verify set it */
	c.hashed = false;
	c.loc_hash = 0;
	c.sub_hash = 0;

	st->requests++;
	src_text(&c);
	sip_write_init(&c.w, out, cap);
	k = handle(&c);
	if (k < 0 && k != -ENOSPC) {
		/* the response writer could not use the request's Via or To
		 * (sip_msg_validate lets few such through): it cannot be answered */
		st->bad_request++;
		res->status = 0;
		res->len = 0;
		return 0;
	}
	k = sip_write_result(&c.w);
	if (k < 0)
		return -ENOSPC;
	res->len = (size_t)k;
	res->status = res->len ? c.status : 0;
	return 0;
}

int registrar_handle(struct registrar *r, const struct sip_msg *m,
		     const struct registrar_src *src, uint64_t now, time_t wall, char *out,
		     size_t cap, struct registrar_result *res, struct registrar_stats *st)
{
	return handle_msg(r, m, NULL, src, now, wall, out, cap, res, st);
}

void registrar_prefetch_reg(struct registrar *r, const struct sip_reg *reg,
			    struct registrar_hint *hint)
{
	const struct sip_uri *u = &reg->to.uri;
	char aor[AOR_MAX];
	size_t n;

	hint->set = false;
	if (reg->to_rc != 0 || !is_sip(u) || !u->user.len || !u->host.len ||
	    !sip_msg_hdr(&reg->msg, SIP_HDR_AUTHORIZATION))
		return;
	n = aor_of(u, aor);
	if (!n)
		return;
	hint->loc_hash = location_hash(r->d.location, sip_str_make(aor, n));
	hint->sub_hash = r->same_hash ? hint->loc_hash
				      : subscriber_table_hash(r->d.subscribers, u->user, u->host);
	hint->set = true;
	subscriber_table_prefetch(r->d.subscribers, hint->sub_hash, false);
	location_prefetch(r->d.location, hint->loc_hash, false);
}

int registrar_handle_reg(struct registrar *r, const struct sip_reg *reg,
			 const struct registrar_src *src, uint64_t now, time_t wall, char *out,
			 size_t cap, struct registrar_result *res, struct registrar_stats *st)
{
	return handle_msg(r, &reg->msg, reg, src, now, wall, out, cap, res, st);
}
