/* SPDX-License-Identifier: MIT */
/*
 * journal.c - the bindings journal: binding changes appended to a file in
 * one write() per batch, replayed at start-up, compacted by the writer.
 *
 * Why not the SQLite table: the registrar's flusher writes every refreshed
 * binding once a second; as a row of twelve columns behind a B-tree that
 * cost 2.5-3.2 us of CPU per registration (docs/BENCHMARKS.md, "Registrar"),
 * a fifth of all sipregd spent. An append is an encode and a share of one
 * write(): about a tenth of that.
 *
 * File: a 16-byte header ("sipregBJ", u32 version, u32 0), then records:
 *   u32 len, u32 check (low half of SipHash-2-4 of the payload, fixed key),
 *   payload: u8 kind (1 put, 2 delete, 3 delete the AOR), u8 nat, u16 q,
 *            u32 reg_id, u32 cseq, i64 expires_at, then seven strings, each
 *            u16 length + bytes: aor, contact, received, transport, path,
 *            instance, call_id (a delete carries aor and contact only).
 * Host byte order: the file is the machine's own, like the SQLite file
 * beside it. Replay stops at the first record that is short or fails its
 * check (a kill in the middle of a write() can leave half a record; a
 * machine crash, garbage): what follows is dropped, and the writer cuts it
 * (keeping the file as PATH.damaged first when more was dropped than a
 * torn last record can be).
 *
 * Replay: the last put or delete of each (aor, contact) wins, unless a
 * delete of its AOR comes after it. Compaction writes the live records'
 * bytes, as they are, to PATH.tmp, syncs it and renames it over PATH; the
 * writer compacts on open and whenever the file reaches 4x the live bytes
 * of its last compaction (32 MiB at least), so the file holds at most 4x
 * the live bindings and each byte appended is read back about 1.3 times.
 *
 * Durability: appends are not synced. A killed process (kill -9) loses
 * nothing appended: the data is in the kernel's page cache. A machine crash
 * loses what the kernel had not yet written back (seconds), as SQLite's
 * synchronous=NORMAL did for the table; compactions and a clean close sync.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "journal.h"
#include "sipreg/siphash.h"

#define J_MAGIC "sipregBJ"
#define J_VERSION 1u
#define J_HDR 16
#define R_HDR 8
#define R_FIXED 20 /* kind, nat, q, reg_id, cseq, expires_at */
#define R_NSTR 7
#define R_MAX 4096 /* the largest payload store.h's fields allow is ~2,400 */
#define COMPACT_MIN ((uint64_t)32 << 20)
#define COMPACT_FACTOR 4

enum { K_PUT = 1, K_DEL = 2, K_DEL_AOR = 3 };

static const uint8_t check_key[SIPHASH_KEY_LEN] = {0x73, 0x69, 0x70, 0x72, 0x65, 0x67, 0x2d, 0x62,
						   0x6a, 0x6f, 0x75, 0x72, 0x6e, 0x61, 0x6c, 0x31};

/* The string fields in record order: offset in store_binding, capacity. */
static const struct {
	size_t off, cap;
} fields[R_NSTR] = {
	{offsetof(struct store_binding, aor), sizeof(((struct store_binding *)0)->aor)},
	{offsetof(struct store_binding, contact), sizeof(((struct store_binding *)0)->contact)},
	{offsetof(struct store_binding, received), sizeof(((struct store_binding *)0)->received)},
	{offsetof(struct store_binding, transport), sizeof(((struct store_binding *)0)->transport)},
	{offsetof(struct store_binding, path), sizeof(((struct store_binding *)0)->path)},
	{offsetof(struct store_binding, instance), sizeof(((struct store_binding *)0)->instance)},
	{offsetof(struct store_binding, call_id), sizeof(((struct store_binding *)0)->call_id)},
};

/* encode() writes up to R_HDR + R_MAX bytes unchecked: the fields at their
 * longest (cap - 1 bytes each) must fit, or a bigger store.h would overflow
 * the encode buffers and write records replay refuses (len > R_MAX). */
_Static_assert(R_FIXED + 2 * R_NSTR + STORE_URI_MAX * 2 + STORE_ADDR_MAX + 8 + STORE_PATH_MAX +
			       STORE_NAME_MAX * 2 - R_NSTR <=
		       R_MAX,
	       "a binding's longest record exceeds R_MAX");
_Static_assert(sizeof(((struct store_binding *)0)->transport) == 8,
	       "transport's size is counted above");

struct bjournal {
	char *path;
	char *tmp;
	int fd;
	uint64_t size;       /* bytes in the file, all whole records */
	uint64_t compact_at; /* compact when size reaches this */
	bool broken;         /* a failed write may have left a torn tail */
	uint8_t *buf;        /* encode buffer */
	size_t cap;
};

/* "PATH: WHAT: strerror(e)EXTRA" into err. */
static void set_err(char *err, size_t errlen, const char *path, const char *what, int e,
		    const char *extra)
{
	if (err && errlen)
		snprintf(err, errlen, "%s: %s%s%s%s", path, what, *what ? ": " : "", strerror(e),
			 extra);
}

/* ------------------------------------------------------------------------ */
/* Records                                                                   */

/* Encodes c at out (room for R_HDR + R_MAX): its size, or -EINVAL. */
static long encode(const struct store_change *c, uint8_t *out)
{
	const struct store_binding *b = &c->b;
	uint8_t *p = out + R_HDR, kind;
	uint32_t len, check;
	int nstr;

	switch (c->kind) {
	case STORE_BINDING_PUT:
		kind = K_PUT;
		nstr = R_NSTR;
		break;
	case STORE_BINDING_DEL:
		kind = K_DEL;
		nstr = 2;
		break;
	case STORE_BINDING_DEL_AOR:
		kind = K_DEL_AOR;
		nstr = 1;
		break;
	default:
		return -EINVAL;
	}
	memset(p, 0, R_FIXED);
	p[0] = kind;
	if (kind == K_PUT) {
		p[1] = b->nat ? 1 : 0;
		memcpy(p + 2, &b->q, 2);
		memcpy(p + 4, &b->reg_id, 4);
		memcpy(p + 8, &b->cseq, 4);
		memcpy(p + 12, &b->expires_at, 8);
	}
	p += R_FIXED;
	for (int i = 0; i < R_NSTR; i++) {
		const char *s = (const char *)b + fields[i].off;
		size_t n = i < nstr ? strnlen(s, fields[i].cap) : 0;
		uint16_t l = (uint16_t)n;
		if (n == fields[i].cap || (i == 0 && n == 0))
			return -EINVAL; /* unterminated, or no AOR */
		memcpy(p, &l, 2);
		memcpy(p + 2, s, n);
		p += 2 + n;
	}
	len = (uint32_t)(p - (out + R_HDR));
	check = (uint32_t)siphash24(check_key, out + R_HDR, len);
	memcpy(out, &len, 4);
	memcpy(out + 4, &check, 4);
	return (long)(R_HDR + len);
}

/* The size of the whole, valid record at buf[off..size), or 0; verify:
 * its checksum too. */
static size_t rec_valid(const uint8_t *buf, size_t size, size_t off, bool verify)
{
	const uint8_t *p, *end;
	uint32_t len, check;

	if (size - off < R_HDR)
		return 0;
	memcpy(&len, buf + off, 4);
	memcpy(&check, buf + off + 4, 4);
	if (len < R_FIXED + 2 * R_NSTR || len > R_MAX || size - off - R_HDR < len)
		return 0;
	p = buf + off + R_HDR;
	end = p + len;
	if (p[0] < K_PUT || p[0] > K_DEL_AOR)
		return 0;
	if (verify && (uint32_t)siphash24(check_key, p, len) != check)
		return 0;
	p += R_FIXED;
	for (int i = 0; i < R_NSTR; i++) {
		uint16_t l;
		if (end - p < 2)
			return 0;
		memcpy(&l, p, 2);
		if (l >= fields[i].cap || end - p - 2 < l || (i == 0 && l == 0))
			return 0;
		p += 2 + l;
	}
	return p == end ? R_HDR + len : 0;
}

/* The size of a record rec_valid() accepted. */
static size_t rec_size(const uint8_t *rec)
{
	uint32_t len;

	memcpy(&len, rec, 4);
	return R_HDR + len;
}

static uint8_t rec_kind(const uint8_t *rec)
{
	return rec[R_HDR];
}

/* The bytes of the encoded aor (nstr 1) or aor and contact (nstr 2), with
 * their length fields: a unique key. */
static const uint8_t *rec_key(const uint8_t *rec, int nstr, size_t *len)
{
	const uint8_t *k = rec + R_HDR + R_FIXED, *p = k;

	for (int i = 0; i < nstr; i++) {
		uint16_t l;
		memcpy(&l, p, 2);
		p += 2 + l;
	}
	*len = (size_t)(p - k);
	return k;
}

static void rec_decode(const uint8_t *rec, struct store_binding *b)
{
	const uint8_t *p = rec + R_HDR;

	memset(b, 0, sizeof(*b));
	b->nat = p[1] != 0;
	memcpy(&b->q, p + 2, 2);
	memcpy(&b->reg_id, p + 4, 4);
	memcpy(&b->cseq, p + 8, 4);
	memcpy(&b->expires_at, p + 12, 8);
	p += R_FIXED;
	for (int i = 0; i < R_NSTR; i++) {
		uint16_t l;
		memcpy(&l, p, 2);
		memcpy((char *)b + fields[i].off, p + 2, l); /* l < cap, NUL by memset */
		p += 2 + l;
	}
}

/* ------------------------------------------------------------------------ */
/* Replay                                                                    */

struct replay {
	const uint8_t *buf;
	size_t size;
	size_t valid;  /* bytes up to the end of the last valid record */
	uint64_t *rec; /* offsets of the valid records, in file order */
	size_t n;
	uint64_t *live; /* offsets of the live puts, in file order */
	size_t nlive;
};

/*
 * An open-addressing table of records keyed by rec_key(nstr): each slot is
 * the record's index + 1 in its low half and the high half of the key's
 * hash in its high half, so a probe reads a record only when the tags
 * match.
 */
struct rtab {
	uint64_t *slot;
	size_t mask;
	int nstr;
	size_t used;
};

static uint64_t key_hash(const uint8_t key[SIPHASH_KEY_LEN], const uint8_t *rec, int nstr)
{
	size_t klen;
	const uint8_t *k = rec_key(rec, nstr, &klen);

	return siphash24(key, k, klen);
}

/* The slot of rec (index i, key hash h): its own, or the one to take. */
static uint64_t *rtab_find(struct rtab *t, const struct replay *rp, const uint8_t *rec,
			   uint64_t h)
{
	uint64_t tag = h & 0xffffffff00000000ull;
	size_t klen, i = (size_t)h & t->mask;
	const uint8_t *k = rec_key(rec, t->nstr, &klen);

	for (;; i = (i + 1) & t->mask) {
		uint64_t v = t->slot[i];
		size_t ol;
		const uint8_t *o;
		if (!v)
			return &t->slot[i];
		if ((v & 0xffffffff00000000ull) != tag)
			continue;
		o = rec_key(rp->buf + rp->rec[(uint32_t)v - 1], t->nstr, &ol);
		if (ol == klen && memcmp(o, k, klen) == 0)
			return &t->slot[i];
	}
}

static void rtab_put(struct rtab *t, const struct replay *rp, size_t idx, uint64_t h)
{
	uint64_t *s = rtab_find(t, rp, rp->buf + rp->rec[idx], h);

	if (!*s)
		t->used++;
	*s = (h & 0xffffffff00000000ull) | (uint64_t)(idx + 1);
}

static void replay_free(struct replay *rp)
{
	free(rp->rec);
	free(rp->live);
}

/*
 * Finds buf's valid records and the live ones among them: 0, -EINVAL (not
 * a journal), -ENOMEM. An empty buffer is an empty journal. verify: check
 * each record's checksum (a file from before, or another process's); the
 * writer's compactions trust what it wrote itself (its failed writes are
 * cut) and check only the structure. In passes over arrays, so that the
 * file is read in order and the table's misses overlap (prefetch): a
 * compaction costs a few hundred ns per record appended.
 */
static int replay(struct replay *rp, const uint8_t *buf, size_t size, bool verify)
{
	enum { AHEAD = 16 };
	struct rtab keys = {.nstr = 2}, aors = {.nstr = 1};
	uint8_t key[SIPHASH_KEY_LEN];
	size_t cap = 0, tsize = 16, off = J_HDR, rs;
	uint64_t *hash = NULL, *win = NULL;
	uint32_t version = 0;
	int r = -ENOMEM;

	memset(rp, 0, sizeof(*rp));
	rp->buf = buf;
	rp->size = size;
	if (size == 0)
		return 0;
	if (size >= J_HDR)
		memcpy(&version, buf + 8, 4);
	if (size < J_HDR || memcmp(buf, J_MAGIC, 8) != 0 || version != J_VERSION)
		return -EINVAL;
	if (getrandom(key, sizeof(key), 0) != (ssize_t)sizeof(key))
		return -EIO;
	/* 1: the records, in file order */
	while ((rs = rec_valid(buf, size, off, verify)) != 0) {
		if (rp->n == cap) {
			uint64_t *n = realloc(rp->rec, (cap ? cap * 2 : 1024) * sizeof(*n));
			if (!n)
				goto out;
			rp->rec = n;
			cap = cap ? cap * 2 : 1024;
		}
		if (rp->n == UINT32_MAX - 1)
			break; /* the rest is dropped as if torn */
		rp->rec[rp->n++] = off;
		off += rs;
	}
	rp->valid = off;
	while (tsize < rp->n * 2)
		tsize *= 2;
	hash = malloc((rp->n ? rp->n : 1) * sizeof(*hash));
	win = calloc(rp->n / 64 + 1, sizeof(*win));
	keys.slot = calloc(tsize, sizeof(*keys.slot));
	rp->live = malloc((rp->n ? rp->n : 1) * sizeof(*rp->live));
	if (!hash || !win || !keys.slot || !rp->live)
		goto out;
	keys.mask = tsize - 1;
	/* 2: the key hashes, in file order */
	for (size_t i = 0; i < rp->n; i++) {
		const uint8_t *rec = buf + rp->rec[i];
		hash[i] = key_hash(key, rec, rec_kind(rec) == K_DEL_AOR ? 1 : 2);
	}
	/* 3: the last put or delete of each key; the last delete of each AOR */
	for (size_t i = 0; i < rp->n; i++) {
		const uint8_t *rec = buf + rp->rec[i];
		if (i + AHEAD < rp->n)
			__builtin_prefetch(&keys.slot[hash[i + AHEAD] & keys.mask]);
		if (i + AHEAD / 2 < rp->n) {
			/* the slot prefetched AHEAD/2 turns ago: the record it
			 * holds will be compared (a refresh of the same key) */
			uint64_t h = hash[i + AHEAD / 2], v = keys.slot[h & keys.mask];
			if (v && (v ^ h) >> 32 == 0)
				__builtin_prefetch(buf + rp->rec[(uint32_t)v - 1] + R_HDR + R_FIXED);
		}
		if (rec_kind(rec) != K_DEL_AOR) {
			rtab_put(&keys, rp, i, hash[i]);
			continue;
		}
		if (!aors.slot) {
			aors.slot = calloc(tsize, sizeof(*aors.slot));
			if (!aors.slot)
				goto out;
			aors.mask = tsize - 1;
		}
		rtab_put(&aors, rp, i, hash[i]);
	}
	/* 4: the winners, marked */
	for (size_t s = 0; s < tsize; s++) {
		uint64_t v = keys.slot[s];
		if (v) {
			size_t i = (uint32_t)v - 1;
			win[i / 64] |= 1ull << (i % 64);
		}
	}
	/* 5: the live puts, in file order: a winner not followed by a delete
	 * of its AOR */
	for (size_t i = 0; i < rp->n; i++) {
		const uint8_t *rec = buf + rp->rec[i];
		if (!(win[i / 64] >> (i % 64) & 1) || rec_kind(rec) != K_PUT)
			continue;
		if (aors.slot) {
			uint64_t v = *rtab_find(&aors, rp, rec, key_hash(key, rec, 1));
			if (v && (uint32_t)v - 1 > i)
				continue;
		}
		rp->live[rp->nlive++] = rp->rec[i];
	}
	r = 0;
out:
	free(hash);
	free(win);
	free(keys.slot);
	free(aors.slot);
	if (r)
		replay_free(rp);
	return r;
}

/* Maps fd's whole file read-only (*map NULL for an empty file). */
static int map_file(int fd, const uint8_t **map, size_t *size)
{
	struct stat st;
	void *m;

	*map = NULL;
	*size = 0;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (st.st_size == 0)
		return 0;
	m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (m == MAP_FAILED)
		return -errno;
	*map = m;
	*size = (size_t)st.st_size;
	return 0;
}

/*
 * Reads fd's whole file into *buf (malloc'd; NULL for an empty file). The
 * unlocked reader copies rather than maps: the writer may cut the file back
 * (a batch that failed half written), and a mapped page past the new end
 * raises SIGBUS. A file cut meanwhile is read to its new end.
 */
static int read_whole(int fd, uint8_t **buf, size_t *size)
{
	struct stat st;
	size_t got = 0;

	*buf = NULL;
	*size = 0;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (st.st_size == 0)
		return 0;
	*buf = malloc((size_t)st.st_size);
	if (!*buf)
		return -ENOMEM;
	while (got < (size_t)st.st_size) {
		ssize_t n = pread(fd, *buf + got, (size_t)st.st_size - got, (off_t)got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;
			free(*buf);
			*buf = NULL;
			return -e;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	*size = got;
	return 0;
}

static void unmap_file(const uint8_t *map, size_t size)
{
	if (map)
		munmap((void *)map, size);
}

/* ------------------------------------------------------------------------ */
/* Writing                                                                   */

static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (w == 0)
			return -EIO;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Syncs the directory holding path, so a rename survives a crash. */
static void sync_dir(const char *path)
{
	char dir[4096];
	const char *slash = strrchr(path, '/');
	int fd;

	if (!slash) {
		snprintf(dir, sizeof(dir), ".");
	} else {
		size_t n = (size_t)(slash - path);
		if (n >= sizeof(dir))
			return;
		memcpy(dir, path, n ? n : 1);
		dir[n ? n : 1] = '\0';
	}
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
}

/* Whether fd is the file path names now. */
static bool same_file(int fd, const char *path)
{
	struct stat a, b;

	if (fstat(fd, &a) < 0 || stat(path, &b) < 0)
		return false;
	return a.st_ino == b.st_ino && a.st_dev == b.st_dev;
}

/* A buffered writer of the temporary file. */
struct tmpw {
	int fd;
	uint8_t buf[1 << 16];
	size_t used;
	uint64_t total;
	int err;
};

static void tmpw_put(struct tmpw *w, const uint8_t *p, size_t n)
{
	if (w->err)
		return;
	if (w->used + n > sizeof(w->buf)) {
		w->err = write_all(w->fd, w->buf, w->used);
		w->used = 0;
		if (w->err)
			return;
	}
	if (n > sizeof(w->buf)) {
		w->err = write_all(w->fd, p, n);
	} else {
		memcpy(w->buf + w->used, p, n);
		w->used += n;
	}
	w->total += n;
}

/* encode() of a put of b into rec, its result in *n (negative: b cannot be
 * held). The change is built on the heap (a store_binding holds its text
 * inline, too big for the stack beside rec). Returns 0 or -ENOMEM. */
static int encode_put(const struct store_binding *b, uint8_t *rec, long *n)
{
	struct store_change *c = malloc(sizeof(*c));

	if (!c)
		return -ENOMEM;
	c->kind = STORE_BINDING_PUT;
	c->b = *b;
	*n = encode(c, rec);
	free(c);
	return 0;
}

static int tmpw_seed_cb(void *arg, const struct store_binding *b)
{
	struct tmpw *w = arg;
	uint8_t rec[R_HDR + R_MAX];
	long n;

	if (encode_put(b, rec, &n) < 0)
		return -ENOMEM;
	if (n > 0) /* an unusable old row is left behind */
		tmpw_put(w, rec, (size_t)n);
	return w->err;
}

/*
 * Writes PATH.tmp: the header, then the live records of rp (or, rp NULL,
 * what seed yields), syncs it, locks it and renames it over PATH. Returns
 * the new file's descriptor (open for appending, locked) or -errno.
 */
static int write_tmp(struct bjournal *j, const struct replay *rp, bjournal_seed_fn seed,
		     void *seed_arg, uint64_t *size)
{
	struct tmpw *w = malloc(sizeof(*w));
	uint8_t hdr[J_HDR] = J_MAGIC;
	uint32_t version = J_VERSION;
	int fd, r;

	if (!w)
		return -ENOMEM;
	/*
	 * PATH.tmp is locked before it is cut: another process may be writing
	 * it (two first opens at once, or a first open while the writer
	 * compacts), and truncating or unlinking its file would garble the
	 * journal it renames next. Locked elsewhere: -EBUSY, left alone. The
	 * file locked must still be the one the name holds (its owner may have
	 * renamed it to PATH and let go in between: cutting it would cut the
	 * journal).
	 */
	fd = open(j->tmp, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0) {
		free(w);
		return -errno;
	}
	r = flock(fd, LOCK_EX | LOCK_NB) < 0 ? (errno == EWOULDBLOCK ? -EBUSY : -errno) : 0;
	if (!r && !same_file(fd, j->tmp))
		r = -EBUSY;
	if (r) {
		close(fd);
		free(w);
		return r;
	}
	if (ftruncate(fd, 0) < 0) {
		r = -errno;
		unlink(j->tmp); /* before the lock goes: it is still ours */
		close(fd);
		free(w);
		return r;
	}
	w->fd = fd;
	w->used = 0;
	w->total = 0;
	w->err = 0;
	memcpy(hdr + 8, &version, 4);
	tmpw_put(w, hdr, sizeof(hdr));
	if (rp) {
		for (size_t i = 0; i < rp->nlive && !w->err; i++)
			tmpw_put(w, rp->buf + rp->live[i], rec_size(rp->buf + rp->live[i]));
	} else if (seed) {
		r = seed(seed_arg, tmpw_seed_cb, w);
		if (r && !w->err)
			w->err = r;
	}
	if (!w->err && w->used)
		w->err = write_all(fd, w->buf, w->used);
	if (!w->err && fdatasync(fd) < 0)
		w->err = -errno;
	/* The first file (rp NULL) must not replace a journal another
	 * process created meanwhile: that one appends to it. -EEXIST: open
	 * theirs. (A file system or kernel without RENAME_NOREPLACE: a plain
	 * rename.) */
	if (!w->err && !rp &&
	    renameat2(AT_FDCWD, j->tmp, AT_FDCWD, j->path, RENAME_NOREPLACE) < 0 &&
	    ((errno != EINVAL && errno != ENOSYS) || rename(j->tmp, j->path) < 0))
		w->err = -errno;
	if (!w->err && rp && rename(j->tmp, j->path) < 0)
		w->err = -errno;
	r = w->err;
	*size = w->total;
	free(w);
	if (r) {
		unlink(j->tmp); /* before the lock goes: it is still ours */
		close(fd);
		return r;
	}
	sync_dir(j->path);
	return fd;
}

/* Rewrites the file with its live records only; j->fd is the new file.
 * verify: check the records' checksums (replay()). */
static int compact(struct bjournal *j, bool verify)
{
	struct replay rp;
	const uint8_t *map;
	size_t msize;
	uint64_t size;
	int r, fd;

	r = map_file(j->fd, &map, &msize);
	if (r)
		return r;
	r = replay(&rp, map, msize, verify);
	if (r) {
		unmap_file(map, msize);
		return r;
	}
	if (verify && msize - rp.valid > R_HDR + R_MAX) {
		/* more is dropped than a kill's torn last record can be (a
		 * flipped byte, a machine crash's garbage): the records after
		 * it would be gone for good once compacted, so the file is
		 * kept as PATH.damaged (the last such one) for an operator */
		size_t plen = strlen(j->path);
		char *d = malloc(plen + sizeof(".damaged"));
		if (d) {
			memcpy(d, j->path, plen);
			memcpy(d + plen, ".damaged", sizeof(".damaged"));
			unlink(d);
			if (link(j->path, d) < 0) { /* best effort: the journal goes on */
			}
			free(d);
		}
	}
	fd = write_tmp(j, &rp, NULL, NULL, &size);
	replay_free(&rp);
	unmap_file(map, msize);
	if (fd < 0)
		return fd;
	close(j->fd); /* and its lock: the new file's is held */
	j->fd = fd;
	j->size = size;
	j->broken = false;
	j->compact_at = size * COMPACT_FACTOR > COMPACT_MIN ? size * COMPACT_FACTOR : COMPACT_MIN;
	return 0;
}

/* Opens and locks path; -EBUSY when another process holds it. The lock is
 * taken on the file path names now (a compaction elsewhere may rename a
 * new one over it in between: then again). */
static int open_locked(const char *path)
{
	for (int tries = 0; tries < 8; tries++) {
		struct stat a, b;
		int fd = open(path, O_RDWR | O_APPEND | O_CLOEXEC);
		if (fd < 0)
			return -errno;
		if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
			int e = errno;
			close(fd);
			return e == EWOULDBLOCK ? -EBUSY : -e;
		}
		if (fstat(fd, &a) == 0 && stat(path, &b) == 0 && a.st_ino == b.st_ino &&
		    a.st_dev == b.st_dev)
			return fd;
		close(fd);
	}
	return -EBUSY;
}

void bjournal_close(struct bjournal *j)
{
	if (!j)
		return;
	if (j->fd >= 0) {
		fdatasync(j->fd);
		close(j->fd);
	}
	free(j->path);
	free(j->tmp);
	free(j->buf);
	free(j);
}

int bjournal_open(struct bjournal **ret, const char *path, bjournal_seed_fn seed,
		  void *seed_arg, char *err, size_t errlen)
{
	struct bjournal *j = calloc(1, sizeof(*j));
	size_t plen = strlen(path);
	int r;

	if (!j)
		return -ENOMEM;
	j->fd = -1;
	j->path = strdup(path);
	j->tmp = malloc(plen + 5);
	j->cap = 64 * (R_HDR + R_MAX);
	j->buf = malloc(j->cap);
	if (!j->path || !j->tmp || !j->buf) {
		bjournal_close(j);
		return -ENOMEM;
	}
	memcpy(j->tmp, path, plen);
	memcpy(j->tmp + plen, ".tmp", 5);
	r = open_locked(path);
	if (r == -ENOENT) {
		/* the first open: the file appears whole, with what seed had */
		uint64_t size;
		r = write_tmp(j, NULL, seed, seed_arg, &size);
		if (r >= 0)
			close(r);
		if (r >= 0 || r == -EEXIST) /* EEXIST: another process made it */
			r = open_locked(path);
	}
	if (r < 0) {
		set_err(err, errlen, path, "open", -r,
			r == -EBUSY ? " (another process writes it)" : "");
		bjournal_close(j);
		return r;
	}
	j->fd = r;
	r = compact(j, true);
	if (r < 0) {
		set_err(err, errlen, path, "compaction", -r,
			r == -EINVAL ? " (not a sipreg bindings journal, or a newer one)" : "");
		bjournal_close(j);
		return r;
	}
	*ret = j;
	return 0;
}

/* Appends used bytes of whole records in one write(); cuts a partly
 * written batch back; compacts when the file has grown enough. */
static int append_raw(struct bjournal *j, const uint8_t *buf, size_t used, char *err,
		      size_t errlen)
{
	int r = write_all(j->fd, buf, used);

	if (r < 0) {
		/* cut a partly written batch; if that fails too, the next append
		 * compacts first (replay stops at the torn record) */
		if (ftruncate(j->fd, (off_t)j->size) < 0)
			j->broken = true;
		set_err(err, errlen, j->path, "write", -r, "");
		return r;
	}
	j->size += used;
	if (j->size >= j->compact_at && compact(j, false) < 0) {
		/* the appended changes are there; compaction is tried again after
		 * as many bytes again */
		j->compact_at = j->size + COMPACT_MIN;
	}
	return 0;
}

int bjournal_append(struct bjournal *j, const struct store_change *c, size_t n, char *err,
		    size_t errlen)
{
	size_t used = 0;
	int r;

	if (j->broken) {
		r = compact(j, true);
		if (r < 0) {
			set_err(err, errlen, j->path, "compaction after a failed write", -r, "");
			return r;
		}
	}
	for (size_t i = 0; i < n; i++) {
		long len;
		if (j->cap - used < R_HDR + R_MAX) {
			size_t cap = j->cap * 2;
			uint8_t *b = realloc(j->buf, cap);
			if (!b)
				return -ENOMEM;
			j->buf = b;
			j->cap = cap;
		}
		len = encode(&c[i], j->buf + used);
		if (len < 0) {
			if (err && errlen)
				snprintf(err, errlen, "binding change %zu: a field too long or no AOR",
					 i);
			return (int)len;
		}
		used += (size_t)len;
	}
	return append_raw(j, j->buf, used, err, errlen);
}

/* ------------------------------------------------------------------------ */
/* Merging bindings kept elsewhere                                           */

/*
 * The bindings a seed yields (the SQLite table an older sipreg wrote to
 * after this journal was made: a downgrade, then an upgrade again) that win
 * over a replay's live ones: a binding wins when the journal has no live
 * binding of its (aor, contact), or has one that expires earlier (the
 * later expiry is the later registration; a tie keeps the journal's).
 * The winners are encoded one after another in buf; over marks the live
 * records (by index in rp->live) they replace.
 */
struct wins {
	const struct replay *rp;
	struct replay lv; /* rp's live records as an rtab sees them */
	struct rtab keys;
	uint8_t key[SIPHASH_KEY_LEN];
	uint64_t *over;
	uint8_t *buf;
	size_t used, cap, n;
	size_t bad; /* bindings that cannot be encoded: left where they are */
};

static void wins_free(struct wins *w)
{
	free(w->keys.slot);
	free(w->over);
	free(w->buf);
}

static int wins_cb(void *arg, const struct store_binding *b)
{
	struct wins *w = arg;
	uint8_t rec[R_HDR + R_MAX];
	uint64_t *slot;
	long n;

	if (encode_put(b, rec, &n) < 0)
		return -ENOMEM;
	if (n < 0) {
		w->bad++;
		return 0;
	}
	slot = rtab_find(&w->keys, &w->lv, rec, key_hash(w->key, rec, 2));
	if (*slot) {
		size_t i = (uint32_t)*slot - 1;
		int64_t exp;
		memcpy(&exp, w->rp->buf + w->rp->live[i] + R_HDR + 12, 8);
		if (exp >= b->expires_at)
			return 0;
		w->over[i / 64] |= 1ull << (i % 64);
	}
	if (w->cap - w->used < (size_t)n) {
		size_t cap = w->cap ? w->cap * 2 : 64 * (R_HDR + R_MAX);
		uint8_t *nb = realloc(w->buf, cap);
		if (!nb)
			return -ENOMEM;
		w->buf = nb;
		w->cap = cap;
	}
	memcpy(w->buf + w->used, rec, (size_t)n);
	w->used += (size_t)n;
	w->n++;
	return 0;
}

/* Fills w with what seed yields that wins over rp: 0, seed's error,
 * -ENOMEM, -EIO. */
static int wins_find(struct wins *w, const struct replay *rp, bjournal_seed_fn seed, void *arg)
{
	size_t tsize = 16;
	int r;

	memset(w, 0, sizeof(*w));
	w->rp = rp;
	w->lv = (struct replay){.buf = rp->buf, .rec = rp->live, .n = rp->nlive};
	while (tsize < rp->nlive * 2)
		tsize *= 2;
	w->keys = (struct rtab){.nstr = 2, .mask = tsize - 1};
	w->keys.slot = calloc(tsize, sizeof(*w->keys.slot));
	w->over = calloc(rp->nlive / 64 + 1, sizeof(*w->over));
	if (!w->keys.slot || !w->over) {
		wins_free(w);
		return -ENOMEM;
	}
	if (getrandom(w->key, sizeof(w->key), 0) != (ssize_t)sizeof(w->key)) {
		wins_free(w);
		return -EIO;
	}
	for (size_t i = 0; i < rp->nlive; i++)
		rtab_put(&w->keys, &w->lv, i, key_hash(w->key, rp->buf + rp->live[i], 2));
	r = seed(arg, wins_cb, w);
	if (r)
		wins_free(w);
	return r;
}

int bjournal_merge(struct bjournal *j, bjournal_seed_fn seed, void *seed_arg, size_t *merged,
		   size_t *bad, char *err, size_t errlen)
{
	struct replay rp;
	struct wins w;
	const uint8_t *map;
	size_t msize;
	int r;

	*merged = 0;
	*bad = 0;
	if (j->broken && (r = compact(j, true)) < 0) {
		set_err(err, errlen, j->path, "compaction after a failed write", -r, "");
		return r;
	}
	r = map_file(j->fd, &map, &msize);
	if (r == 0) {
		r = replay(&rp, map, msize, false);
		if (r)
			unmap_file(map, msize);
	}
	if (r) {
		set_err(err, errlen, j->path, "merge: replay", -r, "");
		return r;
	}
	r = wins_find(&w, &rp, seed, seed_arg);
	replay_free(&rp);
	unmap_file(map, msize);
	if (r) {
		set_err(err, errlen, j->path, "merge: reading the older bindings", r < 0 ? -r : EIO,
			"");
		return r;
	}
	*bad = w.bad;
	if (w.used)
		r = append_raw(j, w.buf, w.used, err, errlen);
	/* synced: the caller deletes the rows from the table next, and its
	 * commit must not reach the disk before these do */
	if (w.used && r == 0 && fdatasync(j->fd) < 0) {
		r = -errno;
		set_err(err, errlen, j->path, "merge: sync", -r, "");
	}
	if (r == 0)
		*merged = w.n;
	wins_free(&w);
	return r;
}

/* ------------------------------------------------------------------------ */
/* Reading                                                                   */

static int cmp_rec(const void *a, const void *b, void *arg)
{
	const uint8_t *buf = arg;
	const uint8_t *x = buf + *(const uint64_t *)a + R_HDR + R_FIXED;
	const uint8_t *y = buf + *(const uint64_t *)b + R_HDR + R_FIXED;

	for (int i = 0; i < 2; i++) {
		uint16_t lx, ly;
		int c;
		memcpy(&lx, x, 2);
		memcpy(&ly, y, 2);
		c = memcmp(x + 2, y + 2, lx < ly ? lx : ly);
		if (c)
			return c;
		if (lx != ly)
			return lx < ly ? -1 : 1;
		x += 2 + lx;
		y += 2 + ly;
	}
	return 0;
}

int bjournal_each(const char *path, store_binding_cb cb, void *arg, char *err, size_t errlen)
{
	return bjournal_each_merged(path, NULL, NULL, cb, arg, err, errlen);
}

/* Adds w's records to the reader's copy of the file: *map grows by w->used
 * bytes, *live lists the live records w did not replace, then w's. */
static int view_add(uint8_t **map, size_t msize, struct replay *rp, const struct wins *w)
{
	uint8_t *m;
	uint64_t *live;
	size_t n = 0;

	/* nothing won (no buffer: w->buf is NULL), so nothing is replaced
	 * either; and realloc(map, 0) of an empty file would free the map */
	if (!w->used)
		return 0;
	m = realloc(*map, msize + w->used);
	live = malloc((rp->nlive + w->n + 1) * sizeof(*live));
	if (m)
		*map = m;
	if (!m || !live) {
		free(live);
		return -ENOMEM;
	}
	memcpy(m + msize, w->buf, w->used);
	for (size_t i = 0; i < rp->nlive; i++)
		if (!(w->over[i / 64] >> (i % 64) & 1))
			live[n++] = rp->live[i];
	for (size_t off = 0; off < w->used; off += rec_size(w->buf + off))
		live[n++] = msize + off;
	free(rp->live);
	rp->live = live;
	rp->nlive = n;
	rp->buf = m;
	return 0;
}

int bjournal_each_merged(const char *path, bjournal_seed_fn seed, void *seed_arg,
			 store_binding_cb cb, void *arg, char *err, size_t errlen)
{
	struct store_binding *b;
	struct replay rp;
	uint8_t *map;
	size_t msize;
	int fd, r;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		set_err(err, errlen, path, "open", -r, ""); /* not a stale message */
		return r;
	}
	r = read_whole(fd, &map, &msize);
	close(fd);
	if (r) {
		set_err(err, errlen, path, "read", -r, "");
		return r;
	}
	r = replay(&rp, map, msize, true);
	if (r) {
		set_err(err, errlen, path, "replay", -r,
			r == -EINVAL ? " (not a sipreg bindings journal, or a newer one)" : "");
		free(map);
		return r;
	}
	if (seed) {
		struct wins w;
		r = wins_find(&w, &rp, seed, seed_arg);
		if (r == 0) {
			r = view_add(&map, msize, &rp, &w);
			wins_free(&w);
		}
		if (r) {
			set_err(err, errlen, path, "merging the older bindings", r < 0 ? -r : EIO,
				"");
			goto out;
		}
	}
	b = malloc(sizeof(*b));
	if (!b) {
		r = -ENOMEM;
		goto out;
	}
	qsort_r(rp.live, rp.nlive, sizeof(*rp.live), cmp_rec, (void *)map);
	for (size_t i = 0; i < rp.nlive && r == 0; i++) {
		rec_decode(map + rp.live[i], b);
		r = cb(arg, b);
	}
	free(b);
out:
	replay_free(&rp);
	free(map);
	return r;
}
