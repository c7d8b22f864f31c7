/* SPDX-License-Identifier: MIT */
/*
 * msg.c - message framing: split a SIP message into its start line, header
 * lines (names resolved to ids) and body, without copying or allocating.
 *
 * RFC 3261 §7 and §25.1, the part implemented here:
 *
 *   generic-message  =  start-line *message-header CRLF [ message-body ]
 *   start-line       =  Request-Line / Status-Line
 *   Request-Line     =  Method SP Request-URI SP SIP-Version CRLF
 *   Status-Line      =  SIP-Version SP Status-Code SP Reason-Phrase CRLF
 *   SIP-Version      =  "SIP" "/" 1*DIGIT "." 1*DIGIT      (only SIP/2.0 here)
 *   Status-Code      =  3DIGIT                             (100-699 here)
 *   Reason-Phrase    =  *(reserved / unreserved / escaped
 *                        / UTF8-NONASCII / UTF8-CONT / SP / HTAB)
 *   Method           =  token
 *   message-header   =  header-name HCOLON header-value CRLF
 *   HCOLON           =  *( SP / HTAB ) ":" SWS
 *   LWS              =  [*WSP CRLF] 1*WSP        ; line folding, §7.3.1
 *   token            =  1*(alphanum / "-" / "." / "!" / "%" / "*"
 *                        / "_" / "+" / "`" / "'" / "~" )
 *   Content-Length   =  ( "Content-Length" / "l" ) HCOLON 1*DIGIT
 *   Call-ID          =  ( "Call-ID" / "i" ) HCOLON callid
 *
 * How it runs: one forward pass. The control bytes of the input are indexed
 * 64 bytes at a time (SSE2 compares into a 64-bit mask, see ctl_scan), and
 * the line ends are taken from that mask in order, so a value's bytes are
 * never visited one by one; a stray control byte is refused on the way. A
 * header name ends at ':' or a byte <= 0x20 (one 16-byte compare) and is
 * resolved by a perfect hash of its length, first and last letters plus one
 * case-folded comparison of 8-byte words (hdr_lookup_at). A folded value
 * stays one slice with its CRLF+WSP inside; the body parsers treat those as
 * LWS. Call-ID, CSeq and Content-Length are parsed as their lines are split.
 * Define SIPREG_NO_SIMD for the scalar loops (tests run both).
 *
 * Nothing here reads before buf or at/after buf + len, writes the buffer,
 * allocates or logs.
 */
#include <errno.h>
#include <string.h>

#include "sipreg/sip.h"
#include "sip/msg_internal.h"
#include "sip/simd.h" /* SIP_SSE2: the scalar loops below do the same job */
#include "charclass.h" /* cc_load: num4 below */


/* ------------------------------------------------------------------------ */
/* Character classes                                                         */

/* token (RFC 3261 §25.1): alphanum - . ! % * _ + ` ' ~ */
static const uint8_t tok_tab[256] = {
	['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1,
	['7'] = 1, ['8'] = 1, ['9'] = 1,
	['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1,
	['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1,
	['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1,
	['V'] = 1, ['W'] = 1, ['X'] = 1, ['Y'] = 1, ['Z'] = 1,
	['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1,
	['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1,
	['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1,
	['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1,
	['-'] = 1, ['.'] = 1, ['!'] = 1, ['%'] = 1, ['*'] = 1, ['_'] = 1, ['+'] = 1,
	['`'] = 1, ['\''] = 1, ['~'] = 1,
};

/*
 * Bytes a Request-URI may hold as received: visible ASCII except < > "
 * (RFC 3986 §2: never in a URI; RFC 4475 §3.1.2.7 ltgtruri). The URI parser
 * checks the rest of the grammar.
 */
static const uint8_t uric_tab[256] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x00 */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x10 */
	0, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x20 */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 0, 1, /* 0x30 */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x40 */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x50 */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x60 */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, /* 0x70 */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x80 */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x90 */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0xa0 */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0xb0 */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0xc0 */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0xd0 */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0xe0 */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0xf0 */
};

static inline bool is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

static inline bool is_lws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* A control byte other than HTAB: never allowed outside quoted-pairs. */
static inline bool is_ctl(char c)
{
	unsigned char u = (unsigned char)c;
	return (u < 0x20 && u != '\t') || u == 0x7f;
}

/* Eight bytes, the first in the lowest bits, whatever the byte order. */
static inline uint64_t load64(const char *p)
{
	uint64_t x;
	memcpy(&x, p, sizeof(x));
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	x = __builtin_bswap64(x);
#endif
	return x;
}

/*
 * The run of DIGIT at p (4 bytes readable there), SWAR on one 4-byte load:
 * *n its length, 0 to 3, or 4 when the four bytes are digits (a fifth is not
 * looked at), and the value of those *n digits. A byte minus '0' is a digit
 * when below 10 (a borrow or carry only reaches the bytes after the first
 * non-digit, which are not used); the digits are moved to the top of the
 * word (zeros below) and combined pairwise in one multiply-add, the pairs
 * in one more. The small numbers of a REGISTER (ports, expires, reg-id, the
 * CSeq number, Max-Forwards) take about 16 instructions on 32-bit
 * immediates instead of a loop or the 8-byte form's 64-bit constants.
 */
static inline uint32_t num4(const char *p, unsigned *n)
{
	uint32_t x = (uint32_t)cc_load(p, 4) - 0x30303030u;
	uint32_t bad = ((x + 0x76767676u) | x) & 0x80808080u;
	unsigned k = (unsigned)__builtin_ctzll((uint64_t)bad | 1ull << 32) >> 3;

	*n = k;
	x = (uint32_t)((uint64_t)x << (32 - 8 * k)); /* k = 0: 0 */
	x = x * 10 + (x >> 8);
	return (x & 0xff) * 100 + ((x >> 16) & 0xff);
}

/*
 * Control bytes are indexed 64 bytes at a time: one block gives a 64-bit
 * mask of its bytes below 0x20 and DEL, which the parser consumes in order (count
 * trailing zeros). In a well-formed header block these are the CR and LF of
 * each line end (and the odd HTAB), so a value's bytes are looked at once,
 * four 16-byte compares per block, and never one by one.
 */
struct ctl_scan {
	const char *start; /* first byte scanned */
	const char *blk;   /* the current block */
	const char *end;
	uint64_t ctl;      /* control bytes of the block not yet consumed */
};


/* The control-byte mask of the 64 bytes at b (fewer at the end). Inlined
 * into the line scan: a call per block cost about ten instructions. */
static inline __attribute__((always_inline)) uint64_t block_mask(const char *b,
								  const char *end)
{
	size_t avail = (size_t)(end - b);
	uint64_t ctl = 0;

#if SIP_SSE2
	const __m128i c1f = _mm_set1_epi8(0x1f), del = _mm_set1_epi8(0x7f);
	if (sip_likely(avail >= 64)) {
		for (unsigned i = 0; i < 64; i += 16) {
			const char *q = b + i;
			__m128i x = _mm_loadu_si128((const __m128i *)(const void *)q);
			__m128i c = _mm_or_si128(_mm_cmpeq_epi8(_mm_min_epu8(x, c1f), x),
						 _mm_cmpeq_epi8(x, del));
			ctl |= (uint64_t)(unsigned)_mm_movemask_epi8(c) << i;
		}
		return ctl;
	}
	/* the last block: whole 16-byte chunks, then one zero-padded chunk (its
	 * padding counts as control bytes here and is masked off below) */
	for (unsigned i = 0; i < avail; i += 16) {
		const char *q = b + i;
		__m128i x;

		if (avail - i < 16)
			x = sip_load16_tail(q, avail - i);
		else
			x = _mm_loadu_si128((const __m128i *)(const void *)q);
		__m128i c = _mm_or_si128(_mm_cmpeq_epi8(_mm_min_epu8(x, c1f), x),
					 _mm_cmpeq_epi8(x, del));
		ctl |= (uint64_t)(unsigned)_mm_movemask_epi8(c) << i;
	}
#else
	char tail[64];

	if (sip_unlikely(avail < 64)) {
		memcpy(tail, b, avail);
		memset(tail + avail, 0, sizeof(tail) - avail);
		b = tail;
	}
	/* eight bytes at a time, no carry between bytes (SWAR) */
	const uint64_t lo7 = 0x7f7f7f7f7f7f7f7full, hi = 0x8080808080808080ull;
	for (unsigned i = 0; i < 64; i += 8) {
		uint64_t x = load64(b + i), y = x ^ lo7;
		/* bit 7 of a byte: set when that byte is >= 0x20 / is not DEL */
		uint64_t ge20 = ((x & lo7) + 0x6060606060606060ull) | x;
		uint64_t notdel = ((y & lo7) + lo7) | y;
		uint64_t m = ~(ge20 & notdel) & hi;
		/* gather the eight bit-7s into one byte, byte k to bit k */
		ctl |= (((m >> 7) * 0x0102040810204080ull) >> 56) << i;
	}
#endif
	if (avail < 64)
		ctl &= (1ull << avail) - 1;
	return ctl;
}

/* The scanner's state stays in registers: it never escapes these inlined
 * helpers (block_mask takes values). */
#define SIP_INLINE static inline __attribute__((always_inline))

static const char zero16[16];
_Static_assert(sizeof(((struct sip_msg *)0)->count) >= 16, "zero_bytes needs 16 bytes");

SIP_INLINE void scan_init(struct ctl_scan *s, const char *p, const char *end)
{
	s->start = s->blk = p;
	s->end = end;
	s->ctl = block_mask(p, end);
}

/* The next control byte, in order, or NULL when the input ends first. */
SIP_INLINE const char *next_ctl(struct ctl_scan *s)
{
	const char *r;

	while (sip_unlikely(s->ctl == 0)) {
		if (s->end - s->blk <= 64)
			return NULL;
		s->blk += 64;
		s->ctl = block_mask(s->blk, s->end);
	}
	r = s->blk + __builtin_ctzll(s->ctl);
	s->ctl &= s->ctl - 1;
	return r;
}

/*
 * The LF ending the current line. A line end is CRLF (or a bare LF with
 * lf_ok); HTAB and a control byte inside a quoted-pair ("\" followed by it,
 * RFC 3261 §25.1) are skipped. NULL with *bad NULL when the input ends
 * first; NULL with *bad at the offending byte for a stray control byte, a CR
 * without LF, or a bare LF.
 */
SIP_INLINE const char *next_eol(struct ctl_scan *s, bool lf_ok, const char **bad)
{
	for (;;) {
		const char *c = next_ctl(s);

		if (sip_unlikely(!c))
			break;
		if (sip_likely(*c == '\r')) {
			if (c + 1 == s->end)
				break;
			if (sip_unlikely(c[1] != '\n')) {
				*bad = c;
				return NULL;
			}
			/* consume the LF: the next bit, or bit 0 of the next block */
			if (sip_likely(s->ctl))
				s->ctl &= s->ctl - 1;
			else
				next_ctl(s);
			return c + 1;
		}
		if (*c == '\n') {
			if (lf_ok)
				return c;
			*bad = c;
			return NULL;
		}
		if (*c == '\t' || (c > s->start && c[-1] == '\\'))
			continue;
		*bad = c;
		return NULL;
	}
	*bad = NULL;
	return NULL;
}

static const char *bad_eol_reason(const char *c)
{
	switch (*c) {
	case '\r':
		return "Bad header line: CR not followed by LF";
	case '\n':
		return "Bad header line: bare LF line end";
	default:
		return "Bad header line: control character";
	}
}

/* ':' or a byte at or below 0x20: ends a header name (see find_name_end). */
static const uint8_t name_stop_tab[256] = {
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x00 */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x10 */
	[' '] = 1, [':'] = 1,
};

/*
 * The first byte at or after p that ends a header name: ':' or a byte at or
 * below 0x20 (SP, HTAB, the line's CR or LF), or end. The line was scanned
 * for control bytes first, so its end stops this at the latest.
 */
static inline const char *find_name_end(const char *p, const char *end)
{
#if SIP_SSE2
	const __m128i sp = _mm_set1_epi8(' '), colon = _mm_set1_epi8(':');

	while (end - p >= 16) {
		__m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
		__m128i a = _mm_or_si128(_mm_cmpeq_epi8(x, colon),
					 _mm_cmpeq_epi8(_mm_min_epu8(x, sp), x));
		unsigned k = (unsigned)_mm_movemask_epi8(a);
		if (k)
			return p + __builtin_ctz(k);
		p += 16;
	}
#endif
	while (p < end && !name_stop_tab[(unsigned char)*p])
		p++;
	return p;
}

/*
 * The first byte in [p, e) that stops a scan, or e. With le_sp: a byte at or
 * below 0x20 (SP, HTAB, CR, LF, controls). With uric: a byte no URI holds
 * unescaped, < > " or a byte above 0x7e (DEL, non-ASCII; RFC 3986 §2). Both:
 * the end of a Request-URI and the URI check in one pass. Loads stay below
 * end (e <= end), the end of the input. le_sp and uric are constants at each
 * call: the always_inline leaves one loop for each.
 */
static inline __attribute__((always_inline)) const char *
scan_stop(const char *p, const char *e, const char *end, bool le_sp, bool uric)
{
#if SIP_SSE2
	const __m128i sp = sip_k16(0x20), lt = sip_k16('<'), gt = sip_k16('>'),
		      dq = sip_k16('"'), hi = sip_k16(0x7f);

	while (p < e && end - p >= 16) {
		__m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
		__m128i a = _mm_setzero_si128();
		unsigned k;

		if (le_sp)
			a = _mm_cmpeq_epi8(_mm_min_epu8(x, sp), x);
		if (uric) {
			__m128i b = _mm_or_si128(_mm_cmpeq_epi8(x, lt), _mm_cmpeq_epi8(x, gt));

			b = _mm_or_si128(b, _mm_cmpeq_epi8(x, dq));
			a = _mm_or_si128(a, _mm_or_si128(b, _mm_cmpeq_epi8(_mm_max_epu8(x, hi), x)));
		}
		k = (unsigned)_mm_movemask_epi8(a);
		if (k) {
			const char *c = p + __builtin_ctz(k);
			return c < e ? c : e;
		}
		p += 16;
	}
	if (p >= e)
		return e;
#else
	(void)end;
#endif
	while (p < e && (!le_sp || (unsigned char)*p > 0x20) &&
	       (!uric || uric_tab[(unsigned char)*p]))
		p++;
	return p;
}

static inline const char *find_le_sp(const char *p, const char *e, const char *end)
{
	return scan_stop(p, e, end, true, false);
}

/* controls and SP are found before this is called */
static inline const char *find_non_uric(const char *p, const char *e, const char *end)
{
	return scan_stop(p, e, end, false, true);
}

/* The first byte that ends a Request-URI or has no place in one. */
static inline const char *find_uri_stop(const char *p, const char *e, const char *end)
{
	return scan_stop(p, e, end, true, true);
}

/* ------------------------------------------------------------------------ */
/* Header names                                                              */

#define HDR_BIT(id) (1ull << (id))

/* Headers whose duplicate is an error (RFC 3261 §7.3: only list headers may
 * appear more than once). */
static const uint64_t singleton_mask =
	HDR_BIT(SIP_HDR_FROM) | HDR_BIT(SIP_HDR_TO) | HDR_BIT(SIP_HDR_CALL_ID) |
	HDR_BIT(SIP_HDR_CSEQ) | HDR_BIT(SIP_HDR_MAX_FORWARDS) |
	HDR_BIT(SIP_HDR_CONTENT_LENGTH) | HDR_BIT(SIP_HDR_CONTENT_TYPE) |
	HDR_BIT(SIP_HDR_EXPIRES) | HDR_BIT(SIP_HDR_MIN_EXPIRES) | HDR_BIT(SIP_HDR_DATE) |
	HDR_BIT(SIP_HDR_RETRY_AFTER);

/* Headers parsed while the message is split. */
static const uint64_t split_mask =
	HDR_BIT(SIP_HDR_CALL_ID) | HDR_BIT(SIP_HDR_CSEQ) | HDR_BIT(SIP_HDR_CONTENT_LENGTH);

_Static_assert(SIP_HDR__COUNT <= 64, "header id masks are 64 bits wide");

struct hdr_info {
	const char *name; /* canonical long name */
	const char *dup;  /* reason for a duplicate singleton */
	const char *nan;  /* reason for a non-numeric value (sip_msg_u32) */
	const char *big;  /* reason for a value over 2^32-1 (sip_msg_u32) */
};

#define HI(id, nm) [id] = {nm, "Duplicate " nm " header", "Bad " nm ": not a number", \
			   "Bad " nm ": value too large"}
static const struct hdr_info hdr_info[SIP_HDR__COUNT] = {
	[SIP_HDR_OTHER] = {"", "Duplicate header", "Bad header: not a number",
			   "Bad header: value too large"},
	HI(SIP_HDR_VIA, "Via"),
	HI(SIP_HDR_FROM, "From"),
	HI(SIP_HDR_TO, "To"),
	HI(SIP_HDR_CALL_ID, "Call-ID"),
	HI(SIP_HDR_CSEQ, "CSeq"),
	HI(SIP_HDR_CONTACT, "Contact"),
	HI(SIP_HDR_EXPIRES, "Expires"),
	HI(SIP_HDR_MIN_EXPIRES, "Min-Expires"),
	HI(SIP_HDR_MAX_FORWARDS, "Max-Forwards"),
	HI(SIP_HDR_CONTENT_LENGTH, "Content-Length"),
	HI(SIP_HDR_CONTENT_TYPE, "Content-Type"),
	HI(SIP_HDR_CONTENT_ENCODING, "Content-Encoding"),
	HI(SIP_HDR_PATH, "Path"),
	HI(SIP_HDR_ROUTE, "Route"),
	HI(SIP_HDR_RECORD_ROUTE, "Record-Route"),
	HI(SIP_HDR_SUPPORTED, "Supported"),
	HI(SIP_HDR_REQUIRE, "Require"),
	HI(SIP_HDR_PROXY_REQUIRE, "Proxy-Require"),
	HI(SIP_HDR_UNSUPPORTED, "Unsupported"),
	HI(SIP_HDR_ALLOW, "Allow"),
	HI(SIP_HDR_ACCEPT, "Accept"),
	HI(SIP_HDR_USER_AGENT, "User-Agent"),
	HI(SIP_HDR_SERVER, "Server"),
	HI(SIP_HDR_PRIVACY, "Privacy"),
	HI(SIP_HDR_AUTHORIZATION, "Authorization"),
	HI(SIP_HDR_PROXY_AUTHORIZATION, "Proxy-Authorization"),
	HI(SIP_HDR_WWW_AUTHENTICATE, "WWW-Authenticate"),
	HI(SIP_HDR_PROXY_AUTHENTICATE, "Proxy-Authenticate"),
	HI(SIP_HDR_DATE, "Date"),
	HI(SIP_HDR_RETRY_AFTER, "Retry-After"),
	HI(SIP_HDR_TIMESTAMP, "Timestamp"),
	HI(SIP_HDR_EVENT, "Event"),
	HI(SIP_HDR_SUBJECT, "Subject"),
	HI(SIP_HDR_ALLOW_EVENTS, "Allow-Events"),
	HI(SIP_HDR_REFER_TO, "Refer-To"),
	HI(SIP_HDR_REFERRED_BY, "Referred-By"),
	HI(SIP_HDR_SESSION_EXPIRES, "Session-Expires"),
	HI(SIP_HDR_ACCEPT_CONTACT, "Accept-Contact"),
	HI(SIP_HDR_REJECT_CONTACT, "Reject-Contact"),
	HI(SIP_HDR_REQUEST_DISPOSITION, "Request-Disposition"),
	HI(SIP_HDR_IDENTITY, "Identity"),
	HI(SIP_HDR_IDENTITY_INFO, "Identity-Info"),
	HI(SIP_HDR_MIME_VERSION, "MIME-Version"),
	HI(SIP_HDR_ORGANIZATION, "Organization"),
	HI(SIP_HDR_WARNING, "Warning"),
};
#undef HI

/* Compact forms (RFC 3261 §7.3.3 and the extensions' RFCs), both cases. */
#define CF(ch, id) [ch] = id, [ch - 32] = id
static const uint8_t compact_tab[256] = {
	CF('v', SIP_HDR_VIA),
	CF('f', SIP_HDR_FROM),
	CF('t', SIP_HDR_TO),
	CF('i', SIP_HDR_CALL_ID),
	CF('m', SIP_HDR_CONTACT),
	CF('l', SIP_HDR_CONTENT_LENGTH),
	CF('c', SIP_HDR_CONTENT_TYPE),
	CF('e', SIP_HDR_CONTENT_ENCODING),
	CF('k', SIP_HDR_SUPPORTED),
	CF('s', SIP_HDR_SUBJECT),
	CF('o', SIP_HDR_EVENT),
	CF('u', SIP_HDR_ALLOW_EVENTS),
	CF('r', SIP_HDR_REFER_TO),
	CF('b', SIP_HDR_REFERRED_BY),
	CF('x', SIP_HDR_SESSION_EXPIRES),
	CF('a', SIP_HDR_ACCEPT_CONTACT),
	CF('j', SIP_HDR_REJECT_CONTACT),
	CF('d', SIP_HDR_REQUEST_DISPOSITION),
	CF('y', SIP_HDR_IDENTITY),
	CF('n', SIP_HDR_IDENTITY_INFO),
};
#undef CF

/*
 * Long names, compared eight bytes at a time. For a lower-case literal lc of
 * length n, word 0 holds bytes [0, 8); for n <= 16 word 1 holds the last
 * eight, [n - 8, n); for n > 16 word 1 holds [8, 16) and word 2 the last
 * eight (words may overlap). lit is lc's bytes there, orm has 0x20 where lc
 * has a letter, keep0 masks the bytes of a name shorter than 8. A received
 * name matches when (word | orm) == lit for each word (masked by keep0 for
 * short names): ORing 0x20 into a letter position folds case, no other byte
 * gains a letter's value that way except that letter's upper case, and
 * non-letter positions are compared exactly, so a match also proves the name
 * is made of token bytes. Only bytes of the name are read, except for names
 * shorter than 8. Words are little-endian (load64).
 */
struct hdr_name {
	uint64_t lit[3], orm[3], keep0;
	uint8_t len;
};
_Static_assert(sizeof(struct hdr_name) == 64, "one cache line per name");

#define NB(s, i) ((uint64_t)(unsigned char)(s "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0")[i])
#define OB(s, i) ((NB(s, i) >= 'a' && NB(s, i) <= 'z') ? 0x20ull : 0ull)
#define W8(F, s, o) (F(s, (o)) | F(s, (o) + 1) << 8 | F(s, (o) + 2) << 16 | F(s, (o) + 3) << 24 | \
		     F(s, (o) + 4) << 32 | F(s, (o) + 5) << 40 | F(s, (o) + 6) << 48 |         \
		     F(s, (o) + 7) << 56)
#define O1(n) ((n) > 16 ? 8 : (n) > 8 ? (n) - 8 : 0)
#define O2(n) ((n) > 16 ? (n) - 8 : 0)
#define KEEP0(n) ((n) >= 8 ? ~0ull : (1ull << ((8 * (n)) & 63)) - 1)
#define HN(id, lc) [id] = {{W8(NB, lc, 0), W8(NB, lc, O1(sizeof(lc) - 1)),                  \
			    W8(NB, lc, O2(sizeof(lc) - 1))},                                  \
			   {W8(OB, lc, 0), W8(OB, lc, O1(sizeof(lc) - 1)),                  \
			    W8(OB, lc, O2(sizeof(lc) - 1))},                                  \
			   KEEP0(sizeof(lc) - 1), sizeof(lc) - 1}
static const struct hdr_name hdr_names[SIP_HDR__COUNT] = {
	HN(SIP_HDR_VIA, "via"),
	HN(SIP_HDR_FROM, "from"),
	HN(SIP_HDR_TO, "to"),
	HN(SIP_HDR_CALL_ID, "call-id"),
	HN(SIP_HDR_CSEQ, "cseq"),
	HN(SIP_HDR_CONTACT, "contact"),
	HN(SIP_HDR_EXPIRES, "expires"),
	HN(SIP_HDR_MIN_EXPIRES, "min-expires"),
	HN(SIP_HDR_MAX_FORWARDS, "max-forwards"),
	HN(SIP_HDR_CONTENT_LENGTH, "content-length"),
	HN(SIP_HDR_CONTENT_TYPE, "content-type"),
	HN(SIP_HDR_CONTENT_ENCODING, "content-encoding"),
	HN(SIP_HDR_PATH, "path"),
	HN(SIP_HDR_ROUTE, "route"),
	HN(SIP_HDR_RECORD_ROUTE, "record-route"),
	HN(SIP_HDR_SUPPORTED, "supported"),
	HN(SIP_HDR_REQUIRE, "require"),
	HN(SIP_HDR_PROXY_REQUIRE, "proxy-require"),
	HN(SIP_HDR_UNSUPPORTED, "unsupported"),
	HN(SIP_HDR_ALLOW, "allow"),
	HN(SIP_HDR_ACCEPT, "accept"),
	HN(SIP_HDR_USER_AGENT, "user-agent"),
	HN(SIP_HDR_SERVER, "server"),
	HN(SIP_HDR_PRIVACY, "privacy"),
	HN(SIP_HDR_AUTHORIZATION, "authorization"),
	HN(SIP_HDR_PROXY_AUTHORIZATION, "proxy-authorization"),
	HN(SIP_HDR_WWW_AUTHENTICATE, "www-authenticate"),
	HN(SIP_HDR_PROXY_AUTHENTICATE, "proxy-authenticate"),
	HN(SIP_HDR_DATE, "date"),
	HN(SIP_HDR_RETRY_AFTER, "retry-after"),
	HN(SIP_HDR_TIMESTAMP, "timestamp"),
	HN(SIP_HDR_EVENT, "event"),
	HN(SIP_HDR_SUBJECT, "subject"),
	HN(SIP_HDR_ALLOW_EVENTS, "allow-events"),
	HN(SIP_HDR_REFER_TO, "refer-to"),
	HN(SIP_HDR_REFERRED_BY, "referred-by"),
	HN(SIP_HDR_SESSION_EXPIRES, "session-expires"),
	HN(SIP_HDR_ACCEPT_CONTACT, "accept-contact"),
	HN(SIP_HDR_REJECT_CONTACT, "reject-contact"),
	HN(SIP_HDR_REQUEST_DISPOSITION, "request-disposition"),
	HN(SIP_HDR_IDENTITY, "identity"),
	HN(SIP_HDR_IDENTITY_INFO, "identity-info"),
	HN(SIP_HDR_MIME_VERSION, "mime-version"),
	HN(SIP_HDR_ORGANIZATION, "organization"),
	HN(SIP_HDR_WARNING, "warning"),
};
#undef HN

#undef KEEP0
#undef O2
#undef O1
#undef W8
#undef OB
#undef NB

/*
 * A perfect hash of the long names: (len + 37 * lower(first) + lower(last))
 * mod 256 gives each of them its own slot (checked by the unit tests, which
 * resolve every name). Computed offline; a slot holds the id whose name may
 * be there, which one comparison then confirms.
 */
static const uint8_t hdr_hash_tab[256] = {
	[12] = SIP_HDR_SUPPORTED,
	[18] = SIP_HDR_EVENT,
	[19] = SIP_HDR_EXPIRES,
	[23] = SIP_HDR_SERVER,
	[26] = SIP_HDR_SUBJECT,
	[33] = SIP_HDR_SESSION_EXPIRES,
	[47] = SIP_HDR_FROM,
	[53] = SIP_HDR_TO,
	[59] = SIP_HDR_MIME_VERSION,
	[61] = SIP_HDR_TIMESTAMP,
	[63] = SIP_HDR_MIN_EXPIRES,
	[64] = SIP_HDR_MAX_FORWARDS,
	[88] = SIP_HDR_UNSUPPORTED,
	[103] = SIP_HDR_USER_AGENT,
	[114] = SIP_HDR_VIA,
	[127] = SIP_HDR_ACCEPT,
	[128] = SIP_HDR_AUTHORIZATION,
	[129] = SIP_HDR_ALLOW,
	[132] = SIP_HDR_ALLOW_EVENTS,
	[133] = SIP_HDR_ORGANIZATION,
	[135] = SIP_HDR_ACCEPT_CONTACT,
	[156] = SIP_HDR_PATH,
	[161] = SIP_HDR_WARNING,
	[162] = SIP_HDR_PROXY_REQUIRE,
	[167] = SIP_HDR_PROXY_AUTHENTICATE,
	[168] = SIP_HDR_WWW_AUTHENTICATE,
	[169] = SIP_HDR_IDENTITY_INFO,
	[174] = SIP_HDR_IDENTITY,
	[176] = SIP_HDR_PRIVACY,
	[177] = SIP_HDR_PROXY_AUTHORIZATION,
	[186] = SIP_HDR_CALL_ID,
	[192] = SIP_HDR_CONTENT_TYPE,
	[196] = SIP_HDR_CSEQ,
	[197] = SIP_HDR_CONTENT_LENGTH,
	[198] = SIP_HDR_CONTENT_ENCODING,
	[202] = SIP_HDR_CONTACT,
	[221] = SIP_HDR_DATE,
	[228] = SIP_HDR_ROUTE,
	[230] = SIP_HDR_REQUIRE,
	[235] = SIP_HDR_RECORD_ROUTE,
	[241] = SIP_HDR_REFER_TO,
	[247] = SIP_HDR_RETRY_AFTER,
	[251] = SIP_HDR_REQUEST_DISPOSITION,
	[252] = SIP_HDR_REJECT_CONTACT,
	[254] = SIP_HDR_REFERRED_BY,
};

static inline unsigned hdr_hash(const char *n, size_t len)
{
	return (unsigned)(len + 37u * ((unsigned char)n[0] | 0x20) +
			  ((unsigned char)n[len - 1] | 0x20)) & 255u;
}

/* Byte-wise, ASCII case-insensitive, for short names near the end of the
 * input; against the canonical name. */
static bool name_eq(const char *s, const char *canon, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i], d = (unsigned char)canon[i];
		if (c >= 'A' && c <= 'Z')
			c |= 0x20;
		if (d >= 'A' && d <= 'Z')
			d |= 0x20;
		if (c != d)
			return false;
	}
	return true;
}

/*
 * The id of the name [n, n + len), any case, long or compact; avail is how
 * many bytes from n may be read (at least len).
 */
static inline __attribute__((always_inline)) enum sip_hdr_id
hdr_lookup_at(const char *n, size_t len, size_t avail)
{
	const struct hdr_name *e;
	enum sip_hdr_id id;

	if (len == 1)
		return (enum sip_hdr_id)compact_tab[(unsigned char)n[0]];
	id = (enum sip_hdr_id)hdr_hash_tab[hdr_hash(n, len)];
	e = &hdr_names[id];
	if (e->len != len) /* SIP_HDR_OTHER's entry has length 0 */
		return SIP_HDR_OTHER;
	if (len <= 8) {
		if (sip_unlikely(avail < 8))
			return name_eq(n, hdr_info[id].name, len) ? id : SIP_HDR_OTHER;
		return ((load64(n) | e->orm[0]) & e->keep0) == e->lit[0] ? id : SIP_HDR_OTHER;
	}
	if ((load64(n) | e->orm[0]) != e->lit[0])
		return SIP_HDR_OTHER;
	if (len <= 16)
		return (load64(n + len - 8) | e->orm[1]) == e->lit[1] ? id : SIP_HDR_OTHER;
	if ((load64(n + 8) | e->orm[1]) != e->lit[1])
		return SIP_HDR_OTHER;
	return (load64(n + len - 8) | e->orm[2]) == e->lit[2] ? id : SIP_HDR_OTHER;
}

const char *sip_hdr_name(enum sip_hdr_id id)
{
	if ((unsigned)id >= SIP_HDR__COUNT)
		return NULL;
	return hdr_info[id].name;
}

enum sip_hdr_id sip_hdr_lookup(const char *name, size_t len)
{
	if (!name || len == 0)
		return SIP_HDR_OTHER;
	for (size_t i = 0; i < len; i++)
		if (!tok_tab[(unsigned char)name[i]])
			return SIP_HDR_OTHER;
	return hdr_lookup_at(name, len, len);
}

/* ------------------------------------------------------------------------ */
/* Methods                                                                   */

static const char *const method_names[] = {
	[SIP_METHOD_OTHER] = NULL,
	[SIP_METHOD_REGISTER] = "REGISTER",
	[SIP_METHOD_INVITE] = "INVITE",
	[SIP_METHOD_ACK] = "ACK",
	[SIP_METHOD_BYE] = "BYE",
	[SIP_METHOD_CANCEL] = "CANCEL",
	[SIP_METHOD_OPTIONS] = "OPTIONS",
	[SIP_METHOD_INFO] = "INFO",
	[SIP_METHOD_UPDATE] = "UPDATE",
	[SIP_METHOD_PRACK] = "PRACK",
	[SIP_METHOD_SUBSCRIBE] = "SUBSCRIBE",
	[SIP_METHOD_NOTIFY] = "NOTIFY",
	[SIP_METHOD_PUBLISH] = "PUBLISH",
	[SIP_METHOD_MESSAGE] = "MESSAGE",
	[SIP_METHOD_REFER] = "REFER",
};

const char *sip_method_name(enum sip_method m)
{
	if ((unsigned)m >= sizeof(method_names) / sizeof(method_names[0]))
		return NULL;
	return method_names[m];
}

enum sip_method sip_method_lookup(const char *p, size_t len)
{
#define IS(lit, id) return memcmp(p, lit, len) == 0 ? (id) : SIP_METHOD_OTHER
	if (!p)
		return SIP_METHOD_OTHER;
	switch (len) {
	case 3:
		if (p[0] == 'A')
			IS("ACK", SIP_METHOD_ACK);
		IS("BYE", SIP_METHOD_BYE);
	case 4:
		IS("INFO", SIP_METHOD_INFO);
	case 5:
		if (p[0] == 'P')
			IS("PRACK", SIP_METHOD_PRACK);
		IS("REFER", SIP_METHOD_REFER);
	case 6:
		switch (p[0]) {
		case 'I': IS("INVITE", SIP_METHOD_INVITE);
		case 'C': IS("CANCEL", SIP_METHOD_CANCEL);
		case 'U': IS("UPDATE", SIP_METHOD_UPDATE);
		case 'N': IS("NOTIFY", SIP_METHOD_NOTIFY);
		}
		break;
	case 7:
		switch (p[0]) {
		case 'O': IS("OPTIONS", SIP_METHOD_OPTIONS);
		case 'P': IS("PUBLISH", SIP_METHOD_PUBLISH);
		case 'M': IS("MESSAGE", SIP_METHOD_MESSAGE);
		}
		break;
	case 8:
		IS("REGISTER", SIP_METHOD_REGISTER);
	case 9:
		IS("SUBSCRIBE", SIP_METHOD_SUBSCRIBE);
	}
	return SIP_METHOD_OTHER;
#undef IS
}

/* ------------------------------------------------------------------------ */
/* The split                                                                 */

/*
 * Clear n >= 16 bytes with 16-byte stores, the last one ending at p + n
 * (compilers turn a memset of this size into "rep stos", whose start-up
 * costs more than the whole store sequence).
 */
SIP_INLINE void zero_bytes(void *p, size_t n)
{
	char *c = p;
	size_t i;

	for (i = 0; i + 16 <= n; i += 16)
		memcpy(c + i, zero16, 16);
	if (i < n)
		memcpy(c + n - 16, zero16, 16);
}

__attribute__((cold, noinline)) static int fail(struct sip_err *err, const char *base,
						const char *at, const char *reason, int rc)
{
	if (err) {
		err->reason = reason;
		err->off = (size_t)(at - base);
	}
	return rc;
}

/* "SIP/2.0", the protocol name in any case (RFC 3261 §7.1). */
static inline bool is_sip20(const char *v)
{
	return (v[0] | 0x20) == 's' && (v[1] | 0x20) == 'i' && (v[2] | 0x20) == 'p' &&
	       v[3] == '/' && v[4] == '2' && v[5] == '.' && v[6] == '0';
}

/* "SIP/" 1*DIGIT "." 1*DIGIT filling exactly [v, e). */
static bool is_sip_version(const char *v, const char *e)
{
	const char *d;

	if (e - v < 7 || (v[0] | 0x20) != 's' || (v[1] | 0x20) != 'i' ||
	    (v[2] | 0x20) != 'p' || v[3] != '/')
		return false;
	v += 4;
	for (d = v; d < e && *d >= '0' && *d <= '9'; d++)
		;
	if (d == v || d == e || *d != '.')
		return false;
	v = ++d;
	for (; d < e && *d >= '0' && *d <= '9'; d++)
		;
	return d != v && d == e;
}

/* Request-Line, [p, eol) with eol at the CR or LF. */
static int request_line_general(struct sip_msg *m, const char *base, const char *p,
				const char *eol, const char *end, struct sip_err *err);

SIP_INLINE int parse_request_line(struct sip_msg *m, const char *base, const char *p,
				  const char *eol, const char *end, struct sip_err *err)
{
	/* "REGISTER " URI " SIP/2.0", the usual line: the method and the
	 * version by word compares, the Request-URI by one scan for SP or a
	 * byte no URI holds; anything else takes the general way */
	if (sip_likely(eol - p >= 18 && load64(p) == load64("REGISTER") && p[8] == ' ')) {
		const char *u = p + 9, *q = find_uri_stop(u, eol, end);

		/* " SIP/2.0" (the protocol name in any case) by one word
		 * compare: [q, q + 8) = [eol - 8, eol) */
		if (sip_likely(q > u && q == eol - 8 &&
			       (load64(q) | 0x0000000020202000ull) == load64(" sip/2.0"))) {
			m->method = sip_str_make(p, 8);
			m->method_id = SIP_METHOD_REGISTER;
			m->ruri = sip_str_make(u, (size_t)(q - u));
			return 0;
		}
	}
	return request_line_general(m, base, p, eol, end, err);
}

/* Request-Line, any form. */
static int request_line_general(struct sip_msg *m, const char *base, const char *p,
				const char *eol, const char *end, struct sip_err *err)
{
	const char *q = p, *u, *v;

	/* the line end is no token byte: the scans stop at eol at the latest */
	while (tok_tab[(unsigned char)*q])
		q++;
	if (q == p)
		return fail(err, base, p,
			    is_wsp(*p) ? "Bad request line: leading whitespace"
				       : "Bad request line: method is not a token",
			    -EBADMSG);
	if (*q != ' ')
		return fail(err, base, q,
			    q == eol ? "Bad request line: missing Request-URI"
				     : "Bad request line: method is not a token",
			    -EBADMSG);
	m->method = sip_str_make(p, (size_t)(q - p));
	m->method_id = sip_method_lookup(p, (size_t)(q - p));

	u = ++q;
	q = find_le_sp(u, eol, end);
	if (sip_unlikely(find_non_uric(u, q, end) != q))
		return fail(err, base, find_non_uric(u, q, end), "Bad Request-URI: invalid character",
			    -EBADMSG);
	if (q == u)
		return fail(err, base, q,
			    is_wsp(*q) ? "Bad request line: extra whitespace before Request-URI"
				       : "Bad request line: missing Request-URI",
			    -EBADMSG);
	if (q == eol)
		return fail(err, base, q, "Bad request line: missing SIP version", -EBADMSG);
	if (*q != ' ')
		return fail(err, base, q, "Bad Request-URI: invalid character", -EBADMSG);
	m->ruri = sip_str_make(u, (size_t)(q - u));

	v = q + 1;
	if (sip_likely(eol - v == 7 && is_sip20(v)))
		return 0;
	if (is_sip_version(v, eol))
		return fail(err, base, v, "SIP version not supported", -EPROTONOSUPPORT);
	if (v < eol && is_wsp(*v))
		return fail(err, base, v, "Bad request line: extra whitespace before SIP version",
			    -EBADMSG);
	if (eol - v > 7 && is_sip20(v)) {
		const char *t = v + 7;
		while (t < eol && is_wsp(*t))
			t++;
		if (t == eol)
			return fail(err, base, v + 7,
				    "Bad request line: trailing whitespace after SIP version",
				    -EBADMSG);
	}
	if (eol - v > 8 && eol[-8] == ' ' && is_sip20(eol - 7))
		return fail(err, base, v, "Bad Request-URI: embedded whitespace", -EBADMSG);
	return fail(err, base, v, "Bad request line: malformed SIP version", -EBADMSG);
}

/* Status-Line, [p, eol); p starts with "SIP/" in any case. */
static int parse_status_line(struct sip_msg *m, const char *base, const char *p,
			     const char *eol, struct sip_err *err)
{
	const char *s = p, *r;
	unsigned code;

	while (s < eol && *s != ' ')
		s++;
	if (sip_unlikely(s - p != 7 || !is_sip20(p))) {
		if (is_sip_version(p, s))
			return fail(err, base, p, "SIP version not supported", -EPROTONOSUPPORT);
		return fail(err, base, p, "Bad status line: malformed SIP version", -EBADMSG);
	}
	/* p[0..7) is the version, p[7] the SP; at least eol-p >= 8 */
	s = p + 8;
	if (eol - s < 3 || (unsigned)(s[0] - '0') > 9 || (unsigned)(s[1] - '0') > 9 ||
	    (unsigned)(s[2] - '0') > 9 || (eol - s > 3 && s[3] != ' '))
		return fail(err, base, s, "Bad status line: status code is not three digits",
			    -EBADMSG);
	code = (unsigned)(s[0] - '0') * 100 + (unsigned)(s[1] - '0') * 10 +
	       (unsigned)(s[2] - '0');
	if (code < 100 || code > 699)
		return fail(err, base, s, "Bad status line: status code out of range",
			    -EBADMSG);
	m->status = (uint16_t)code;
	/* "SIP/2.0 200\r\n" without the SP and reason is taken as an empty reason */
	r = eol - s > 3 ? s + 4 : eol;
	/* control bytes other than HTAB were refused by the line scan */
	m->reason = sip_str_make(r, (size_t)(eol - r));
	return 0;
}

/* Content-Length: 1*DIGIT, at most 2^32-1, never wrapping. */
SIP_INLINE int parse_content_length(struct sip_msg *m, struct sip_str v, const char *base,
				struct sip_err *err)
{
	uint64_t n = 0;

	if (v.len == 0)
		return fail(err, base, v.p, "Bad Content-Length: empty", -EBADMSG);
	for (size_t i = 0; i < v.len; i++) {
		unsigned d = (unsigned)((unsigned char)v.p[i] - '0');
		if (d > 9)
			return fail(err, base, v.p + i, "Bad Content-Length: not a number",
				    -EBADMSG);
		n = n * 10 + d;
		if (n > UINT32_MAX)
			return fail(err, base, v.p, "Bad Content-Length: value too large",
				    -EBADMSG);
	}
	m->content_length = (uint32_t)n;
	m->has_content_length = true;
	return 0;
}

/* Call-ID: callid = word [ "@" word ]; here: not empty, no LWS or controls. */
SIP_INLINE int parse_call_id(struct sip_msg *m, struct sip_str v, const char *base,
			 const char *end, struct sip_err *err)
{
	const char *ws;

	if (v.len == 0)
		return fail(err, base, v.p, "Bad Call-ID: empty", -EBADMSG);
	/* other control bytes were refused by the line scan */
	ws = find_le_sp(v.p, v.p + v.len, end);
	if (sip_unlikely(ws != v.p + v.len))
		return fail(err, base, ws, "Bad Call-ID: whitespace inside", -EBADMSG);
	m->call_id = v;
	return 0;
}

SIP_INLINE int split_value(struct sip_msg *m, enum sip_hdr_id id, struct sip_str v,
		       const char *base, const char *end, struct sip_err *err)
{
	int rc;

	switch (id) {
	case SIP_HDR_CALL_ID:
		return parse_call_id(m, v, base, end, err);
	case SIP_HDR_CONTENT_LENGTH:
		return parse_content_length(m, v, base, err);
	case SIP_HDR_CSEQ:
		/* "1*DIGIT REGISTER", the usual value, here; anything else (and
		 * every error) by sip_cseq_parse */
		if (sip_likely(v.len >= 10 && v.len <= 18 &&
			       load64(v.p + v.len - 8) == load64("REGISTER") &&
			       v.p[v.len - 9] == ' ')) {
			size_t nd = v.len - 9, i;
			uint64_t num = 0;

			if (nd <= 4) {
				/* v.len >= 10: 4 bytes readable; the SP after
				 * the digits stops the run, so k <= nd */
				unsigned k;

				num = num4(v.p, &k);
				i = k;
			} else {
				for (i = 0; i < nd; i++) {
					unsigned d = (unsigned)((unsigned char)v.p[i] - '0');
					if (d > 9)
						break;
					num = num * 10 + d;
				}
			}
			if (sip_likely(i == nd && num < 0x80000000u)) {
				m->cseq.num = (uint32_t)num;
				m->cseq.method = sip_str_make(v.p + nd + 1, 8);
				m->cseq.method_id = SIP_METHOD_REGISTER;
				m->has_cseq = true;
				return 0;
			}
		}
		rc = sip_cseq_parse(&m->cseq, v, err);
		if (rc < 0) {
			if (err) {
				if (!err->reason)
					err->reason = "Bad CSeq";
				err->off += (size_t)(v.p - base); /* relative to v */
			}
			return -EBADMSG;
		}
		m->has_cseq = true;
		return 0;
	default:
		return 0;
	}
}

/* Why the header line [p, eol) (with no colon where one was due) is bad. */
static const char *bad_name_reason(const char *p, const char *eol, const char *at)
{
	if (!memchr(p, ':', (size_t)(eol - p)))
		return "Bad header line: missing colon";
	if (is_ctl(*at))
		return "Bad header line: control character in name";
	return "Bad header line: invalid character in name";
}

/* Every output field unset, as a split starts. */
SIP_INLINE void msg_reset(struct sip_msg *m, struct sip_hdr *hdrs)
{
	zero_bytes(m->first, sizeof(m->first));
	zero_bytes(m->count, sizeof(m->count));
	m->hdrs = hdrs;
	m->method = m->ruri = m->reason = m->call_id = m->body = SIP_STR_NULL;
	m->method_id = SIP_METHOD_OTHER;
	m->status = 0;
	m->has_cseq = m->has_content_length = false;
	m->content_length = 0;
	m->nhdrs = 0;
	m->len = 0;
}

/* The body after the headers ending at hend (RFC 3261 §18.3); returns the
 * bytes consumed or the error. */
SIP_INLINE int msg_body(struct sip_msg *m, const char *buf, size_t len, const char *hend,
			bool stream, struct sip_err *err)
{
	size_t hlen = (size_t)(hend - buf);

	if (stream) {
		if (!m->has_content_length)
			return fail(err, buf, hend,
				    "Missing Content-Length (required on a stream transport)",
				    -EBADMSG);
		if (m->content_length > SIP_MSG_MAX_LEN - hlen)
			return fail(err, buf, hend, "Message too large", -E2BIG);
		if (m->content_length > len - hlen)
			return -EAGAIN;
		m->body = sip_str_make(hend, m->content_length);
	} else if (m->has_content_length) {
		if (m->content_length > len - hlen)
			return fail(err, buf, hend, "Content-Length larger than the message",
				    -EBADMSG);
		m->body = sip_str_make(hend, m->content_length);
	} else {
		m->body = sip_str_make(hend, len - hlen);
	}
	m->len = hlen + m->body.len;
	return (int)m->len;
}

/* ------------------------------------------------------------------------ */
/* The fast split (AVX2)                                                     */

/*
 * The usual message is split by split_fast: plain CRLF line ends, no folded
 * line, no HTAB or other control byte in the header block, at most one SP
 * after each colon and none at the end of a value, no CRLF before the start
 * line, an empty line after the headers. Its bytes are classified 64 at a
 * time by AVX2 compares into two bit masks (CR; control bytes), the line
 * ends are taken from the CR mask in order, and whether a block holds a
 * control byte other than a line end's CR and LF is one mask test per
 * block, not a test per line or per byte. Anything unusual or wrong makes it
 * give up (0): sip_msg_parse then resets the message and splits it again
 * with the general code, which gives the same results for every message the
 * fast split accepts (the fuzz target checks the two against each other)
 * and the errors for the rest.
 *
 * Chosen at run time on a CPU with AVX2 and BMI2 (__builtin_cpu_supports);
 * without them, or built with SIPREG_NO_SIMD or SIPREG_NO_AVX2, only the
 * general code runs (tests/meson.build builds the framing tests both ways).
 */
#if SIP_SSE2 && defined(__x86_64__) && defined(__GNUC__) && !defined(SIPREG_NO_AVX2)
#define SIP_FAST_SPLIT 1
#include <immintrin.h>

#define SIP_AVX2 __attribute__((target("avx2,bmi,bmi2,lzcnt,popcnt")))
#define SIP_AVX2_INLINE static inline __attribute__((always_inline)) SIP_AVX2

/*
 * Stray control bytes are found by counting, not placed: every CR the walk
 * takes before the empty line's (the start line's and each header line's)
 * is checked to be followed by LF where it is taken, so the header block
 * [buf, CR of the empty line) holds exactly 2 control bytes per such CR when
 * it holds no other (fast_ctl_ok). The count of the blocks left behind is
 * kept, the current block's control bytes are masked at the end: one
 * popcount per block instead of placing each control byte against the CRs.
 * Nothing before that check relies on the absence of stray control bytes
 * (the field parsers bound every load by the buffer; what they parse is
 * thrown away when the check fails and the general code decides).
 */
struct fast_scan {
	const char *buf, *blk, *end;
	uint64_t cr;   /* CRs of the block not yet taken */
	uint64_t ctl;  /* control bytes (CR and LF included) of the block */
	uint64_t nctl; /* control bytes of the blocks left behind */
};

/* The classifier's constants, read as memory operands: filled at load time
 * (so that gcc does not rebuild each broadcast, three instructions, for
 * every block: calls in the split's loop leave no vector register live). */
static struct {
	__m256i k1f, k7f, kcr;
} fast_k;

/* plain stores: this runs on every CPU, AVX2 or not */
__attribute__((constructor)) static void fast_k_init(void)
{
	memset(&fast_k.k1f, 0x1f, sizeof(fast_k.k1f));
	memset(&fast_k.k7f, 0x7f, sizeof(fast_k.k7f));
	memset(&fast_k.kcr, '\r', sizeof(fast_k.kcr));
}

/* Control bytes (below 0x20, DEL) of the 32 bytes at p, and their CRs. */
SIP_AVX2_INLINE uint64_t ctl32(const char *p, uint64_t *cr)
{
	__m256i x = _mm256_loadu_si256((const __m256i *)(const void *)p);
	__m256i c = _mm256_or_si256(_mm256_cmpeq_epi8(_mm256_min_epu8(x, fast_k.k1f), x),
				    _mm256_cmpeq_epi8(x, fast_k.k7f));

	*cr = (uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(x, fast_k.kcr));
	return (uint32_t)_mm256_movemask_epi8(c);
}

/*
 * Classify the block at s->blk: 64 bytes, or the n < 64 left, from loads
 * that stay inside [buf, end): the last 32 bytes of the input are loaded
 * from end - 32 (which may start before the block, never before buf) and
 * their bits shifted into place; an input shorter than 32 bytes is copied.
 */
SIP_AVX2_INLINE void fast_load(struct fast_scan *s)
{
	const char *b = s->blk;
	size_t avail = (size_t)(s->end - b);
	uint64_t ctl, cr, c2, r2;

	if (sip_likely(avail > 64)) {
		ctl = ctl32(b, &cr);
		c2 = ctl32(b + 32, &r2);
		ctl |= c2 << 32;
		cr |= r2 << 32;
		s->ctl = ctl;
		s->cr = cr;
		return;
	} else if (avail >= 32) {
		ctl = ctl32(b, &cr);
		c2 = ctl32(s->end - 32, &r2);
		ctl |= c2 << (avail - 32);
		cr |= r2 << (avail - 32);
	} else if (s->end - s->buf >= 32) {
		ctl = ctl32(s->end - 32, &cr) >> (32 - avail);
		cr >>= 32 - avail;
	} else {
		char tail[32];

		memcpy(tail, b, avail);
		memset(tail + avail, 'x', sizeof(tail) - avail);
		ctl = ctl32(tail, &cr);
	}
	s->ctl = ctl;
	/* the last block: a CR in the input's last byte is not taken (the
	 * walk then finds no line end and gives up), so c[1] may be read at
	 * every CR it hands out */
	s->cr = cr & ((1ull << (avail - 1)) - 1);
}

/* The next CR, or NULL when the input ends first; never the input's last
 * byte (fast_load), so c + 1 < end. */
SIP_AVX2_INLINE const char *fast_next_cr(struct fast_scan *s)
{
	const char *c;

	while (sip_unlikely(s->cr == 0)) {
		if (s->end - s->blk <= 64)
			return NULL;
		s->nctl += (uint64_t)__builtin_popcountll(s->ctl);
		s->blk += 64;
		fast_load(s);
	}
	c = s->blk + __builtin_ctzll(s->cr);
	s->cr &= s->cr - 1;
	return c;
}

/* No control byte in [buf, c) but the CR LF of the ncr lines before c, c
 * being the empty line's CR, in the current block (see struct fast_scan). */
SIP_AVX2_INLINE bool fast_ctl_ok(const struct fast_scan *s, const char *c, size_t ncr)
{
	uint64_t below = s->ctl & ((1ull << (c - s->blk)) - 1);

	return s->nctl + (uint64_t)__builtin_popcountll(below) == 2 * (uint64_t)ncr;
}

/*
 * What split_fast and split_reg share. Always inlined (SIP_AVX2_INLINE):
 * they run once per message or per header line on the parser's hot path.
 */

/* Loads s over [buf, buf + len) and parses the start line into m; *cp gets
 * its CR. 0, or < 0 when the general code must decide. */
SIP_AVX2_INLINE int fast_first_cr(struct fast_scan *s, const char *buf, size_t len,
				  const char **cp)
{
	const char *c;

	if (sip_unlikely(len < 4 || *buf == '\r' || *buf == '\n'))
		return -1;
	s->buf = s->blk = buf;
	s->end = buf + len;
	s->nctl = 0;
	fast_load(s);
	c = fast_next_cr(s);
	if (sip_unlikely(!c || c[1] != '\n'))
		return -1;
	*cp = c;
	return 0;
}

/* The start line [buf, c) into m (fast_first_cr found c). 0, or < 0 when
 * the general code must decide. */
SIP_AVX2_INLINE int fast_line_parse(struct sip_msg *m, const char *buf, size_t len,
				    const char *c)
{
	const char *p = buf, *end = buf + len;

	if (c - p >= 4 && (p[0] | 0x20) == 's' && (p[1] | 0x20) == 'i' &&
	    (p[2] | 0x20) == 'p' && p[3] == '/') {
		m->is_request = false;
		return parse_status_line(m, buf, p, c, NULL);
	}
	m->is_request = true;
	return parse_request_line(m, buf, p, c, end, NULL);
}

/* Loads s over [buf, buf + len) and parses the start line into m; *cp gets
 * its CR. 0, or < 0 when the general code must decide. */
SIP_AVX2_INLINE int fast_start_line(struct fast_scan *s, struct sip_msg *m, const char *buf,
				    size_t len, const char **cp)
{
	if (fast_first_cr(s, buf, len, cp) < 0)
		return -1;
	return fast_line_parse(m, buf, len, *cp);
}

/* The header name at p by lookup (any name, any case): *qp its end (the
 * colon), *vp the value (after one SP), *id. false when the general code
 * must decide (no colon, an empty name, a byte no token holds). */
SIP_AVX2_INLINE bool fast_name(const char *p, const char *end, const char **qp,
			       const char **vp, enum sip_hdr_id *id)
{
	const char *q = find_name_end(p, end), *v;

	if (sip_unlikely(*q != ':' || q == p))
		return false;
	*id = hdr_lookup_at(p, (size_t)(q - p), (size_t)(end - p));
	if (*id == SIP_HDR_OTHER) {
		for (const char *t = p; t < q; t++)
			if (sip_unlikely(!tok_tab[(unsigned char)*t]))
				return false;
	}
	v = q + 1;
	if (sip_likely(*v == ' '))
		v++;
	*qp = q;
	*vp = v;
	return true;
}

/* Adds the header line name [p, q), value [v, c) as slot *n + 1 of m (the
 * chain of its id through last[]); NULL when the general code must decide
 * (SP left at either end of the value, no slot left, a second singleton). */
SIP_AVX2_INLINE struct sip_hdr *fast_slot(struct sip_msg *m, struct sip_hdr *hdrs, size_t cap,
					  size_t *n, uint16_t *last, enum sip_hdr_id id,
					  const char *p, const char *q, const char *v,
					  const char *c, bool nonempty)
{
	struct sip_hdr *h;

	/* more SP after the colon or before the CR: the general code
	 * (nonempty, a constant: the caller knows that c > v, or that c[-1]
	 * is the SP of its literal "name: " when c == v, which refuses the
	 * empty value here) */
	if (sip_unlikely(*v == ' ' || ((nonempty || c > v) && c[-1] == ' ')))
		return NULL;
	if (sip_unlikely(*n >= cap))
		return NULL;
	h = &hdrs[(*n)++];
	h->name = sip_str_make(p, (size_t)(q - p));
	h->value = sip_str_make(v, (size_t)(c - v));
	h->id = (uint16_t)id;
	h->next = 0;
	if (m->first[id] == 0) {
		m->first[id] = (uint16_t)*n;
		m->count[id] = 1;
	} else {
		if (sip_unlikely(singleton_mask & HDR_BIT(id)))
			return NULL;
		hdrs[last[id] - 1].next = (uint16_t)*n;
		if (m->count[id] < UINT8_MAX)
			m->count[id]++;
	}
	last[id] = (uint16_t)*n;
	return h;
}

SIP_AVX2 static int split_fast(struct sip_msg *m, const char *buf, size_t len,
			       struct sip_hdr *hdrs, size_t cap, bool stream)
{
	const char *p, *end = buf + len, *c;
	uint16_t last[SIP_HDR__COUNT];
	struct fast_scan s;
	size_t n = 0;
	int rc;

	/* start line, c at its CR */
	if (sip_unlikely(fast_start_line(&s, m, buf, len, &c) < 0))
		return 0;

	/* header lines [p, c), c at the CR */
	for (p = c + 2;; p = c + 2) {
		const char *q, *v;
		enum sip_hdr_id id;
		struct sip_hdr *h;

		/* c + 1 < end (fast_next_cr). A header line ending the input
		 * (no empty line) is split, then the walk finds no next CR and
		 * gives up. A line starting with SP continues the one before
		 * (a fold; HTAB is a stray control byte): fast_name finds no
		 * name there and refuses it. */
		c = fast_next_cr(&s);
		if (sip_unlikely(!c || c[1] != '\n'))
			return 0;
		if (c == p)
			break;
		if (sip_unlikely(!fast_name(p, end, &q, &v, &id)))
			return 0;
		h = fast_slot(m, hdrs, cap, &n, last, id, p, q, v, c, false);
		if (sip_unlikely(!h))
			return 0;
		if (split_mask & HDR_BIT(id)) {
			if (split_value(m, id, h->value, buf, end, NULL) < 0)
				return 0;
		}
	}
	/* no stray control byte before the empty line's CR: the start
	 * line's and the n header lines' CR LF only */
	if (sip_unlikely(!fast_ctl_ok(&s, c, n + 1)))
		return 0;
	m->nhdrs = (uint16_t)n;
	rc = msg_body(m, buf, len, c + 2, stream, NULL);
	return rc > 0 ? rc : 0;
}

static inline bool fast_split_ok(void)
{
	return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("bmi2");
}
#else
#define SIP_FAST_SPLIT 0
#endif

int sip_msg_parse_general(struct sip_msg *m, const char *buf, size_t len,
			  struct sip_hdr *hdrs, size_t cap, unsigned flags, struct sip_err *err)
{
	const bool stream = (flags & SIP_PARSE_STREAM) != 0;
	const bool lf_ok = (flags & SIP_PARSE_LF) != 0;
	const char *p, *end, *lf, *eol, *hend;
	const char *trunc = "Truncated message: incomplete start line";
	uint16_t last[SIP_HDR__COUNT];
	struct ctl_scan sc;
	const char *bad;
	size_t n = 0;
	int rc;

	if (err) {
		err->reason = NULL;
		err->off = 0;
	}
	if (!m || (!buf && len) || (!hdrs && cap))
		return fail(err, buf, buf, "Bad arguments", -EINVAL);
	if (len > SIP_MSG_MAX_LEN) {
		/* a stream buffer may hold several messages: only this one counts */
		if (!stream)
			return fail(err, buf, buf + SIP_MSG_MAX_LEN, "Message too large", -E2BIG);
		len = SIP_MSG_MAX_LEN;
		trunc = NULL; /* an incomplete message here is a too large one */
	}
	if (cap > UINT16_MAX)
		cap = UINT16_MAX;
	msg_reset(m, hdrs);

	p = buf;
	end = buf + len;
	/* RFC 3261 §7.5: CRLFs before the start line are ignored (keep-alives) */
	while (p < end && (*p == '\r' || *p == '\n'))
		p++;
	if (p == end)
		goto incomplete;

	/* start line */
	scan_init(&sc, p, end);
	lf = next_eol(&sc, lf_ok, &bad);
	if (!lf) {
		if (!bad)
			goto incomplete;
		return fail(err, buf, bad,
			    *bad == '\n' ? "Bad start line: bare LF line end"
					 : "Bad start line: control character",
			    -EBADMSG);
	}
	eol = lf[-1] == '\r' ? lf - 1 : lf; /* lf > p: *p is not LF */
	if (eol - p >= 4 && (p[0] | 0x20) == 's' && (p[1] | 0x20) == 'i' &&
	    (p[2] | 0x20) == 'p' && p[3] == '/') {
		m->is_request = false;
		rc = parse_status_line(m, buf, p, eol, err);
	} else {
		m->is_request = true;
		rc = parse_request_line(m, buf, p, eol, end, err);
	}
	if (rc < 0)
		return rc;

	/* header lines */
	trunc = trunc ? "Truncated message: no empty line after the headers" : NULL;
	p = lf + 1;
	for (;;) {
		const char *ls = p, *q, *v, *vend;
		enum sip_hdr_id id;
		struct sip_hdr *h;

		lf = next_eol(&sc, lf_ok, &bad);
		if (sip_unlikely(!lf)) {
			if (bad)
				return fail(err, buf, bad, bad_eol_reason(bad), -EBADMSG);
			if (p == end && !stream) {
				/*
				 * A datagram that ends right after a header
				 * line: its empty line is missing (some RFC
				 * 4475 files end so). Taken as the end of the
				 * headers with no body; a cut inside a line is
				 * still an error.
				 */
				hend = end;
				break;
			}
			goto incomplete;
		}
		/* the line is [p, lf]; an empty one ends the headers (p > buf) */
		eol = lf[-1] == '\r' ? lf - 1 : lf;
		if (eol <= p) {
			hend = lf + 1;
			break;
		}

		/* header-name HCOLON; eol (CR or LF) stops the name scan */
		q = find_name_end(p, end);
		v = q;
		if (sip_unlikely(*v != ':')) {
			while (is_wsp(*v))
				v++;
			if (q == p && v != p)
				return fail(err, buf, p, "Bad header line: starts with whitespace",
					    -EBADMSG);
			if (*v != ':')
				return fail(err, buf, v, bad_name_reason(p, eol, v), -EBADMSG);
		}
		if (sip_unlikely(q == p))
			return fail(err, buf, p, "Bad header line: empty header name", -EBADMSG);
		id = hdr_lookup_at(p, (size_t)(q - p), (size_t)(end - p));
		if (id == SIP_HDR_OTHER) {
			for (const char *t = p; t < q; t++)
				if (sip_unlikely(!tok_tab[(unsigned char)*t]))
					return fail(err, buf, t,
						    "Bad header line: invalid character in name",
						    -EBADMSG);
		}

		/* header-value, with any continuation lines (RFC 3261 §7.3.1) */
		v++;
		vend = eol;
		for (;;) {
			p = lf + 1;
			if (sip_unlikely(p >= end)) {
				if (!stream)
					break; /* the datagram's last line */
				goto incomplete; /* folding is decided by the next byte */
			}
			if (sip_likely(!is_wsp(*p)))
				break;
			lf = next_eol(&sc, lf_ok, &bad);
			if (!lf) {
				if (!bad)
					goto incomplete;
				return fail(err, buf, bad, bad_eol_reason(bad), -EBADMSG);
			}
			vend = lf[-1] == '\r' ? lf - 1 : lf; /* lf > p: *p is WSP */
		}
		if (sip_likely(*v == ' '))
			v++;
		if (sip_unlikely(v < vend && is_lws(*v)))
			while (v < vend && is_lws(*v))
				v++;
		while (vend > v && is_lws(vend[-1]))
			vend--;

		if (sip_unlikely(n >= cap))
			return fail(err, buf, ls, "Too many headers", -E2BIG);
		h = &hdrs[n++];
		h->name = sip_str_make(ls, (size_t)(q - ls));
		h->value = sip_str_make(v, (size_t)(vend - v));
		h->id = (uint16_t)id;
		h->next = 0;
		if (m->first[id] == 0) {
			m->first[id] = (uint16_t)n;
			m->count[id] = 1;
		} else {
			if (sip_unlikely(singleton_mask & HDR_BIT(id)))
				return fail(err, buf, ls, hdr_info[id].dup, -EBADMSG);
			hdrs[last[id] - 1].next = (uint16_t)n;
			if (m->count[id] < UINT8_MAX)
				m->count[id]++;
		}
		last[id] = (uint16_t)n;
		if (split_mask & HDR_BIT(id)) {
			rc = split_value(m, id, h->value, buf, end, err);
			if (rc < 0)
				return rc;
		}
	}
	m->nhdrs = (uint16_t)n;
	return msg_body(m, buf, len, hend, stream, err);

incomplete:
	if (!trunc)
		return fail(err, buf, end, "Message too large", -E2BIG);
	if (stream)
		return -EAGAIN;
	return fail(err, buf, end, trunc, -EBADMSG);
}

int sip_msg_parse(struct sip_msg *m, const char *buf, size_t len, struct sip_hdr *hdrs,
		  size_t cap, unsigned flags, struct sip_err *err)
{
#if SIP_FAST_SPLIT
	if (sip_likely(m && buf && (hdrs || !cap) && len <= SIP_MSG_MAX_LEN &&
		       fast_split_ok())) {
		int rc;

		msg_reset(m, hdrs);
		rc = split_fast(m, buf, len, hdrs, cap > UINT16_MAX ? UINT16_MAX : cap,
				(flags & SIP_PARSE_STREAM) != 0);
		if (sip_likely(rc > 0)) {
			if (err) {
				err->reason = NULL;
				err->off = 0;
			}
			return rc;
		}
	}
#endif
	return sip_msg_parse_general(m, buf, len, hdrs, cap, flags, err);
}

/* ------------------------------------------------------------------------ */
/* Lookups                                                                   */

const struct sip_hdr *sip_msg_hdr(const struct sip_msg *m, enum sip_hdr_id id)
{
	if ((unsigned)id >= SIP_HDR__COUNT || m->first[id] == 0)
		return NULL;
	return &m->hdrs[m->first[id] - 1];
}

const struct sip_hdr *sip_msg_hdr_next(const struct sip_msg *m, const struct sip_hdr *h)
{
	if (!h || h->next == 0)
		return NULL;
	return &m->hdrs[h->next - 1];
}

const struct sip_hdr *sip_msg_hdr_by_name(const struct sip_msg *m, struct sip_str name)
{
	enum sip_hdr_id id = sip_hdr_lookup(name.p, name.len);
	const struct sip_hdr *h;

	if (id != SIP_HDR_OTHER)
		return sip_msg_hdr(m, id);
	for (h = sip_msg_hdr(m, SIP_HDR_OTHER); h; h = sip_msg_hdr_next(m, h))
		if (sip_str_caseeq(h->name, name))
			return h;
	return NULL;
}

/* ------------------------------------------------------------------------ */
/* Validation and message-level helpers                                      */

/* The message's first byte, recovered from the body slice (always set). */
static const char *msg_base(const struct sip_msg *m)
{
	return m->body.p ? m->body.p + m->body.len - m->len : NULL;
}

static int msg_fail(const struct sip_msg *m, struct sip_err *err, const char *at,
		    const char *reason, int rc)
{
	const char *base = msg_base(m);

	if (err) {
		err->reason = reason;
		err->off = base && at ? (size_t)(at - base) : 0;
	}
	return rc;
}

/* A body parser's error offset is relative to the slice it was given (at):
 * make it the offset in the message. */
static int rebase(const struct sip_msg *m, struct sip_err *err, const char *at, int rc)
{
	const char *base = msg_base(m);

	if (err && err->reason && base && at)
		err->off += (size_t)(at - base);
	return rc;
}

/* sip_str_to_u32, inlined for the two integer headers every REGISTER has
 * (Max-Forwards, Expires): same results and errors. */
static inline int dec_u32(struct sip_str s, uint32_t *out)
{
	uint64_t v = 0;

	if (sip_unlikely(s.len == 0))
		return -EINVAL;
	for (size_t i = 0; i < s.len; i++) {
		unsigned d = (unsigned char)s.p[i] - '0';
		if (sip_unlikely(d > 9))
			return -EINVAL;
		v = v * 10 + d;
		if (sip_unlikely(v > UINT32_MAX))
			return -ERANGE;
	}
	*out = (uint32_t)v;
	return 0;
}

int sip_msg_validate(const struct sip_msg *m, struct sip_err *err)
{
	const struct sip_hdr *mf;
	uint32_t hops;

	if (!m->count[SIP_HDR_VIA])
		return msg_fail(m, err, NULL, "Missing Via header", -EBADMSG);
	if (!m->count[SIP_HDR_FROM])
		return msg_fail(m, err, NULL, "Missing From header", -EBADMSG);
	if (!m->count[SIP_HDR_TO])
		return msg_fail(m, err, NULL, "Missing To header", -EBADMSG);
	if (!m->call_id.p)
		return msg_fail(m, err, NULL, "Missing Call-ID header", -EBADMSG);
	if (!m->has_cseq)
		return msg_fail(m, err, NULL, "Missing CSeq header", -EBADMSG);
	if (!m->is_request)
		return 0;
	mf = sip_msg_hdr(m, SIP_HDR_MAX_FORWARDS);
	if (!mf)
		return msg_fail(m, err, NULL, "Missing Max-Forwards header", -EBADMSG);
	/* RFC 3261 §20.22: an integer in the range 0-255 */
	if (dec_u32(mf->value, &hops) < 0 || hops > 255)
		return msg_fail(m, err, mf->value.p, "Bad Max-Forwards: not a number 0-255",
				-EBADMSG);
	/* RFC 3261 §8.2.2.3 and RFC 4475 §3.1.2.17/18: CSeq method = request method */
	/* both known: the ids decide (a method id is only given for an exact,
	 * case-sensitive match of its name) */
	if (m->method_id != SIP_METHOD_OTHER && m->cseq.method_id != SIP_METHOD_OTHER
		    ? m->method_id != m->cseq.method_id
		    : !sip_str_eq(m->cseq.method, m->method)) {
		const struct sip_hdr *cs = sip_msg_hdr(m, SIP_HDR_CSEQ);
		return msg_fail(m, err, cs ? cs->value.p : NULL,
				"CSeq method does not match the request method", -EBADMSG);
	}
	return 0;
}

/*
 * The values of every header id, in order: each header's list read with
 * next() into out[] (esz bytes each; one past cap goes to spare and gives
 * -E2BIG). With contacts, '*' must stand alone (RFC 3261 §10.2.2). Returns
 * how many, or a negative errno with err rebased on the message.
 * always_inline: next is a constant at each call.
 */
static inline __attribute__((always_inline)) int
msg_list(const struct sip_msg *m, enum sip_hdr_id id, void *out, size_t esz, size_t cap,
	 void *spare, int (*next)(struct sip_str *, void *, struct sip_err *), bool contacts,
	 const char *too_many, const char *empty, struct sip_err *err)
{
	size_t n = 0;
	bool star = false;

	for (const struct sip_hdr *h = sip_msg_hdr(m, id); h; h = sip_msg_hdr_next(m, h)) {
		struct sip_str rest = h->value;
		const char *at = rest.p;
		size_t before = n;
		int rc;

		/* an empty rest is the end of the list (next would say 0) */
		for (;;) {
			void *e = n < cap ? (char *)out + n * esz : spare;

			at = rest.p;
			rc = rest.len ? next(&rest, e, err) : 0;
			if (rc != 1)
				break;
			if (n == cap)
				return msg_fail(m, err, h->value.p, too_many, -E2BIG);
			if (contacts) {
				if (((const struct sip_contact *)e)->star)
					star = true;
				if (star && n > 0)
					return msg_fail(m, err, h->value.p,
							"Bad Contact: '*' mixed with other contacts",
							-EBADMSG);
			}
			n++;
		}
		if (rc < 0)
			return rebase(m, err, at, rc);
		if (n == before)
			return msg_fail(m, err, h->value.p, empty, -EBADMSG);
	}
	return (int)n;
}

static int via_next(struct sip_str *rest, void *v, struct sip_err *err)
{
	return sip_via_next(rest, v, err);
}

static int contact_next(struct sip_str *rest, void *c, struct sip_err *err)
{
	return sip_contact_next(rest, c, err);
}

static int nameaddr_next(struct sip_str *rest, void *na, struct sip_err *err)
{
	return sip_nameaddr_next(rest, na, err);
}

int sip_msg_vias(const struct sip_msg *m, struct sip_via *out, size_t cap,
		 struct sip_err *err)
{
	struct sip_via spare;

	return msg_list(m, SIP_HDR_VIA, out, sizeof(*out), cap, &spare, via_next, false,
			"Too many Via values", "Bad Via: empty value", err);
}

int sip_msg_contacts(const struct sip_msg *m, struct sip_contact *out, size_t cap,
		     struct sip_err *err)
{
	struct sip_contact spare;

	return msg_list(m, SIP_HDR_CONTACT, out, sizeof(*out), cap, &spare, contact_next, true,
			"Too many Contact values", "Bad Contact: empty value", err);
}

int sip_msg_nameaddrs(const struct sip_msg *m, enum sip_hdr_id id, struct sip_nameaddr *out,
		      size_t cap, struct sip_err *err)
{
	struct sip_nameaddr spare;

	return msg_list(m, id, out, sizeof(*out), cap, &spare, nameaddr_next, false,
			"Too many header values", "Bad header: empty value", err);
}

static int msg_nameaddr(const struct sip_msg *m, enum sip_hdr_id id, struct sip_nameaddr *na,
			const char *missing, struct sip_err *err)
{
	const struct sip_hdr *h = sip_msg_hdr(m, id);

	if (!h)
		return msg_fail(m, err, NULL, missing, -ENOENT);
	if (err)
		err->reason = NULL;
	return rebase(m, err, h->value.p, sip_nameaddr_parse(na, h->value, err));
}

int sip_msg_from(const struct sip_msg *m, struct sip_nameaddr *na, struct sip_err *err)
{
	return msg_nameaddr(m, SIP_HDR_FROM, na, "Missing From header", err);
}

int sip_msg_to(const struct sip_msg *m, struct sip_nameaddr *na, struct sip_err *err)
{
	return msg_nameaddr(m, SIP_HDR_TO, na, "Missing To header", err);
}

int sip_msg_u32(const struct sip_msg *m, enum sip_hdr_id id, uint32_t *out,
		struct sip_err *err)
{
	const struct sip_hdr *h = sip_msg_hdr(m, id);
	int rc;

	if (!h)
		return msg_fail(m, err, NULL, "Missing header", -ENOENT);
	rc = dec_u32(h->value, out);
	if (rc == -ERANGE)
		return msg_fail(m, err, h->value.p, hdr_info[id].big, -ERANGE);
	if (rc < 0)
		return msg_fail(m, err, h->value.p, hdr_info[id].nan, -EBADMSG);
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Registration view (sip_reg_parse)                                         */

/*
 * Fields of struct sip_reg, as bits: which ones the one pass has filled with
 * a result known to be the existing function's (a success on the usual form);
 * the others are filled afterwards by the existing functions themselves.
 */
enum {
	RF_RURI = 1u << 0,
	RF_VIA = 1u << 1,
	RF_FROM = 1u << 2,
	RF_TO = 1u << 3,
	RF_CONTACTS = 1u << 4,
	RF_AUTH = 1u << 5,
	RF_EXPIRES = 1u << 6,
	RF_MAXF = 1u << 7,
	RF_ALL = (1u << 8) - 1,
};

/* The fields the one pass did not fill, by the existing functions: exactly
 * what a caller of those functions gets. */
static void reg_fields_general(struct sip_reg *r, unsigned need)
{
	const struct sip_msg *m = &r->msg;
	const struct sip_hdr *h;

	if (need & RF_RURI) {
		if (!m->is_request) {
			r->ruri_rc = msg_fail(m, &r->ruri_err, NULL, "Not a request", -ENOENT);
		} else {
			r->ruri_err.reason = NULL;
			r->ruri_err.off = 0;
			r->ruri_rc = rebase(m, &r->ruri_err, m->ruri.p,
					    sip_uri_parse(&r->ruri, m->ruri, &r->ruri_err));
		}
	}
	if (need & RF_VIA)
		r->via_rc = sip_msg_vias(m, &r->via, 1, &r->via_err);
	if (need & RF_FROM)
		r->from_rc = sip_msg_from(m, &r->from, &r->from_err);
	if (need & RF_TO)
		r->to_rc = sip_msg_to(m, &r->to, &r->to_err);
	if (need & RF_CONTACTS)
		r->ncontacts = sip_msg_contacts(m, r->contacts, r->ccap, &r->contacts_err);
	if (need & RF_AUTH) {
		h = sip_msg_hdr(m, SIP_HDR_AUTHORIZATION);
		if (!h) {
			r->auth_rc = msg_fail(m, &r->auth_err, NULL, "Missing Authorization header",
					      -ENOENT);
		} else {
			r->auth_err.reason = NULL;
			r->auth_err.off = 0;
			r->auth_rc = rebase(m, &r->auth_err, h->value.p,
					    sip_auth_parse(&r->auth, h->value, &r->auth_err));
		}
	}
	if (need & RF_EXPIRES)
		r->expires_rc = sip_msg_u32(m, SIP_HDR_EXPIRES, &r->expires, &r->expires_err);
	if (need & RF_MAXF)
		r->max_forwards_rc =
			sip_msg_u32(m, SIP_HDR_MAX_FORWARDS, &r->max_forwards, &r->max_forwards_err);
}

#if SIP_FAST_SPLIT
#include "regfast.h"

/* dec_u32, 1 to 4 digits by num4 (4 bytes readable at s.p: end - s.p >= 4):
 * the value ends at its line's CR, which stops the digit run. */
static inline int reg_u32(struct sip_str s, const char *end, uint32_t *out)
{
	if (sip_likely(s.len - 1 < 4 && end - s.p >= 4)) {
		unsigned k;
		uint32_t v = num4(s.p, &k);

		if (sip_likely(k == s.len)) {
			*out = v;
			return 0;
		}
	}
	return dec_u32(s, out);
}

/* The one pass's state while it walks the header lines (split_reg). */
struct reg_pass {
	struct sip_reg *r;
	struct sip_hdr *hdrs;
	const char *buf, *end;
	size_t cap, n, nc;
	unsigned ok, bad;
	struct rs_hosts hm; /* the hosts met so far (rs_host) */
	uint16_t last[SIP_HDR__COUNT];
};

/*
 * The header line name [p, q), value [v, c) of id: its slot, and the
 * registration field it holds parsed. Always inlined, mostly with id a
 * constant (the switch then folds away); nonempty (a constant) when the
 * caller knows c > v or c[-1] is an SP (fast_slot: an empty value is then
 * refused, so the value below has one byte or more). false: give up (the
 * general code decides).
 */
SIP_AVX2_INLINE bool reg_line(struct reg_pass *st, enum sip_hdr_id id, const char *p,
			      const char *q, const char *v, const char *c, bool nonempty)
{
	struct sip_reg *r = st->r;
	struct sip_msg *m = &r->msg;
	const char *end = st->end;
	struct sip_hdr *h;
	struct sip_str rest;

	h = fast_slot(m, st->hdrs, st->cap, &st->n, st->last, id, p, q, v, c, nonempty);
	if (sip_unlikely(!h))
		return false;
	switch (id) {
	case SIP_HDR_CALL_ID:
		/* parse_call_id's test (no byte at or below SP; the split
		 * refuses the other control bytes) on one 16-byte load when
		 * the value fits; otherwise, and for its error, split_value */
		if (sip_likely(h->value.len - 1 < 16 && end - v >= 16)) {
			__m128i x = _mm_loadu_si128((const __m128i *)(const void *)v);
			unsigned k = (unsigned)_mm_movemask_epi8(
				_mm_cmpeq_epi8(_mm_min_epu8(x, sip_k16(0x20)), x));

			if (sip_likely(!(k & ((2u << (h->value.len - 1)) - 1)))) {
				m->call_id = h->value;
				break;
			}
		}
		if (split_value(m, id, h->value, st->buf, end, NULL) < 0)
			return false;
		break;
	case SIP_HDR_CSEQ:
	case SIP_HDR_CONTENT_LENGTH:
		if (split_value(m, id, h->value, st->buf, end, NULL) < 0)
			return false;
		break;
	case SIP_HDR_VIA:
		/* the top hop alone in the first Via line; a second line:
		 * the general way */
		rest = h->value;
		if (m->count[id] == 1 &&
		    (rs_via(&st->hm, &r->via, h->value, end) ||
		     (sip_via_next(&rest, &r->via, NULL) == 1 && rest.len == 0))) {
			r->via_rc = 1;
			st->ok |= RF_VIA;
		} else {
			st->bad |= RF_VIA;
		}
		break;
	case SIP_HDR_FROM:
		if (rs_from_to(&st->hm, &r->from, h->value, end) ||
		    sip_nameaddr_parse(&r->from, h->value, NULL) == 0) {
			r->from_rc = 0;
			st->ok |= RF_FROM;
		}
		break;
	case SIP_HDR_TO:
		if (rs_from_to(&st->hm, &r->to, h->value, end) ||
		    sip_nameaddr_parse(&r->to, h->value, NULL) == 0) {
			r->to_rc = 0;
			st->ok |= RF_TO;
		}
		break;
	case SIP_HDR_CONTACT: {
		/* every element of every line, as sip_msg_contacts; a '*',
		 * too many or any error: the general way */
		size_t nc = st->nc, before = nc;

		if (st->bad & RF_CONTACTS)
			break;
		rest = h->value;
		if (nc < r->ccap && rs_contact(&st->hm, &r->contacts[nc], rest, end)) {
			rest.len = 0;
			nc++;
		}
		while (rest.len) {
			if (nc >= r->ccap || sip_contact_next(&rest, &r->contacts[nc], NULL) != 1 ||
			    r->contacts[nc].star) {
				st->bad |= RF_CONTACTS;
				break;
			}
			nc++;
		}
		if (nc == before)
			st->bad |= RF_CONTACTS;
		st->nc = nc;
		r->ncontacts = (int)nc;
		st->ok |= RF_CONTACTS;
		break;
	}
	case SIP_HDR_AUTHORIZATION:
		if (m->count[id] == 1 && (rs_auth(&r->auth, h->value, end) ||
					  sip_auth_parse(&r->auth, h->value, NULL) == 0)) {
			r->auth_rc = 0;
			st->ok |= RF_AUTH;
		}
		break;
	case SIP_HDR_EXPIRES:
		if (reg_u32(h->value, end, &r->expires) == 0) {
			r->expires_rc = 0;
			st->ok |= RF_EXPIRES;
		}
		break;
	case SIP_HDR_MAX_FORWARDS:
		if (reg_u32(h->value, end, &r->max_forwards) == 0) {
			r->max_forwards_rc = 0;
			st->ok |= RF_MAXF;
		}
		break;
	default:
		break;
	}
	return true;
}

/*
 * The usual header names of a REGISTER, followed by ": " and a value, by
 * one or two case-folded word compares (0x20 ORed into the letter positions
 * only), each matched name handled at once with its id a constant
 * (reg_line). NB/OB/RW/RO build the literal words at compile time.
 */
#define NB(s, i) ((uint64_t)(unsigned char)(s "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0")[i])
#define OB(s, i) ((NB(s, i) >= 'a' && NB(s, i) <= 'z') ? 0x20ull : 0ull)
#define W8(F, s, o) (F(s, (o)) | F(s, (o) + 1) << 8 | F(s, (o) + 2) << 16 | F(s, (o) + 3) << 24 | \
		     F(s, (o) + 4) << 32 | F(s, (o) + 5) << 40 | F(s, (o) + 6) << 48 |      \
		     F(s, (o) + 7) << 56)
#define RW(s, o) W8(NB, s, o)
#define RO(s, o) W8(OB, s, o)
#define RK(n) ((n) >= 8 ? ~0ull : (1ull << (8 * (n))) - 1)
/* "name: " of up to 8 bytes (name up to 6), then of 9 to 16 bytes. The
 * literal holds no CR, so the line's CR is at or after its end (c >= v); an
 * empty value (c == v) is refused by fast_slot (c[-1] is the literal's SP),
 * and the line then given up like any other it refuses: reg_line sees a
 * value of one byte or more (nonempty) without a length test here */
#define RN_DO(lit, idv)                                                                  \
	{                                                                                \
		if (sip_unlikely(!reg_line(&st, (idv), p, p + sizeof(lit) - 3,          \
					   p + sizeof(lit) - 1, c, true)))                    \
			return 0;                                                        \
		continue;                                                                \
	}
#define RN1(lit, idv)                                                                    \
	if (((w | RO(lit, 0)) & RK(sizeof(lit) - 1)) == RW(lit, 0))                       \
	RN_DO(lit, idv)
#define RN2(lit, idv)                                                                    \
	if ((w | RO(lit, 0)) == RW(lit, 0) &&                                             \
	    ((load64(p + sizeof(lit) - 9) | RO(lit, sizeof(lit) - 9)) ==                  \
	     RW(lit, sizeof(lit) - 9)))                                                   \
	RN_DO(lit, idv)

/* The labels of split_reg's name dispatch for the letters A..V (o = 0) or
 * a..v (o = 32): the usual names' first letters, the others to rn_none. */
#define GO_AZ(o)                                                                         \
	['A' + (o)] = &&rn_a, ['B' + (o)] = &&rn_none, ['C' + (o)] = &&rn_c,             \
	['D' + (o)] = &&rn_none, ['E' + (o)] = &&rn_e, ['F' + (o)] = &&rn_f,             \
	['G' + (o)... 'L' + (o)] = &&rn_none, ['M' + (o)] = &&rn_m,                      \
	['N' + (o)... 'S' + (o)] = &&rn_none, ['T' + (o)] = &&rn_t, ['U' + (o)] = &&rn_u, \
	['V' + (o)] = &&rn_v

/*
 * split_fast (same acceptance, same results in r->msg) with the fields of the
 * registration view parsed as their lines are found. Returns the bytes
 * consumed with *ok the RF_* bits filled, or 0 (give up: the caller does it
 * all again the general way).
 */
SIP_AVX2 static int split_reg(struct sip_reg *r, const char *buf, size_t len,
			      struct sip_hdr *hdrs, size_t cap, bool stream, unsigned *okp)
{
	struct sip_msg *m = &r->msg;
	const char *p, *end = buf + len, *c;
	/* the last start of a line from which 16 bytes may be loaded (a header
	 * line starts at buf + 4 at the earliest) */
	const char *lim = len >= 16 ? end - 16 : buf;
	struct reg_pass st;
	struct fast_scan s;
	int rc;

	st.r = r;
	st.hdrs = hdrs;
	st.buf = buf;
	st.end = end;
	st.cap = cap;
	st.n = st.nc = 0;
	st.ok = st.bad = 0;
	st.hm.p[0] = st.hm.p[1] = NULL;
	st.hm.n[0] = st.hm.n[1] = 0;
	st.hm.type[0] = st.hm.type[1] = SIP_HOST_NAME;
	/* start line, c at its CR; a request's URI parsed at once */
	if (sip_unlikely(fast_first_cr(&s, buf, len, &c) < 0))
		return 0;
	/* "REGISTER " URI " SIP/2.0": when rs_uri takes [buf + 9, c - 8)
	 * whole, parse_request_line's scan for the URI's end is not needed:
	 * every byte rs_uri accepts (the user, host, port and uri-parameter
	 * classes, '@', ':', ';', '=') is above SP and one a URI holds, so
	 * that scan would stop at c - 8, the SP before the version, and give
	 * the same Request-URI */
	if (sip_likely(c - buf >= 18 && load64(buf) == load64("REGISTER") && buf[8] == ' ' &&
		       (load64(c - 8) | 0x0000000020202000ull) == load64(" sip/2.0") &&
		       rs_uri(&st.hm, &r->ruri, buf + 9, c - 8, end, SIP_URI_SCAN_WHOLE,
			      false, false))) {
		m->is_request = true;
		m->method = sip_str_make(buf, 8);
		m->method_id = SIP_METHOD_REGISTER;
		m->ruri = sip_str_make(buf + 9, (size_t)(c - 8 - buf - 9));
		r->ruri_rc = 0;
		st.ok |= RF_RURI;
	} else {
		if (sip_unlikely(fast_line_parse(m, buf, len, c) < 0))
			return 0;
		if (m->is_request &&
		    sip_likely(rs_uri(&st.hm, &r->ruri, m->ruri.p, m->ruri.p + m->ruri.len, end,
				      SIP_URI_SCAN_WHOLE, false, false) ||
			       sip_uri_parse(&r->ruri, m->ruri, NULL) == 0)) {
			r->ruri_rc = 0;
			st.ok |= RF_RURI;
		}
	}

	/* header lines [p, c), c at the CR */
	for (p = c + 2;; p = c + 2) {
		const char *q, *v;
		enum sip_hdr_id id;

		/* c + 1 < end (fast_next_cr). A header line ending the input
		 * (no empty line) is split and parsed, then the walk finds no
		 * next CR and gives up. A line starting with SP (a fold; HTAB
		 * is a stray control byte) has no name: fast_name refuses it. */
		c = fast_next_cr(&s);
		if (sip_unlikely(!c || c[1] != '\n'))
			return 0;
		if (c == p)
			break;
		if (sip_likely(p <= lim)) {
			uint64_t w = load64(p);

			/* a computed goto on the first byte: one load and one
			 * jump (a switch on the byte folds its case and checks
			 * its range first, and its jump table holds offsets:
			 * about seven instructions more a line). Labels as
			 * values and range designators are GNU C, which gcc and
			 * clang both accept; this path is compiled only where
			 * the AVX2 target attribute (also GNU C) is. The ranges
			 * cover 0..255 once each (A..V and a..v by GO_AZ). */
			static const void *const go[256] = {
				[0 ... 'A' - 1] = &&rn_none, GO_AZ(0),
				['V' + 1 ... 'a' - 1] = &&rn_none, GO_AZ('a' - 'A'),
				['v' + 1 ... 255] = &&rn_none,
			};

			goto *go[(unsigned char)w];
		rn_v:
			RN1("via: ", SIP_HDR_VIA);
			goto rn_none;
		rn_f:
			RN1("from: ", SIP_HDR_FROM);
			goto rn_none;
		rn_t:
			RN1("to: ", SIP_HDR_TO);
			goto rn_none;
		rn_c:
			/* the second byte's bit 2 tells 'o'/'O' (Contact,
			 * Content-Length) from 's'/'S' and 'a'/'A' (CSeq,
			 * Call-ID): one test instead of the failed compares
			 * before them; each name is still compared whole */
			if (w & 0x0400) {
				RN2("contact: ", SIP_HDR_CONTACT);
				RN2("content-length: ", SIP_HDR_CONTENT_LENGTH);
				goto rn_none;
			}
			RN1("cseq: ", SIP_HDR_CSEQ);
			RN2("call-id: ", SIP_HDR_CALL_ID);
			goto rn_none;
		rn_e:
			RN2("expires: ", SIP_HDR_EXPIRES);
			goto rn_none;
		rn_m:
			RN2("max-forwards: ", SIP_HDR_MAX_FORWARDS);
			goto rn_none;
		rn_a:
			RN2("authorization: ", SIP_HDR_AUTHORIZATION);
			goto rn_none;
		rn_u:
			RN2("user-agent: ", SIP_HDR_USER_AGENT);
		rn_none:;
		}
		/* any other name, form or case: looked up */
		if (sip_unlikely(!fast_name(p, end, &q, &v, &id)))
			return 0;
		if (sip_unlikely(!reg_line(&st, id, p, q, v, c, false)))
			return 0;
	}
	if (sip_unlikely(!fast_ctl_ok(&s, c, st.n + 1)))
		return 0;
	m->nhdrs = (uint16_t)st.n;
	rc = msg_body(m, buf, len, c + 2, stream, NULL);
	*okp = st.ok & ~st.bad;
	return rc > 0 ? rc : 0;
}
#undef GO_AZ
#undef RN2
#undef RN1
#undef RN_DO
#undef RK
#undef RO
#undef RW
#undef W8
#undef OB
#undef NB
#endif

/*
 * sip_msg_validate's result, from what the pass parsed when every check
 * holds (the usual request: the mandatory headers there, Max-Forwards a
 * number 0-255 as sip_msg_u32 read it from the same first header, the
 * CSeq method id the request's), else from sip_msg_validate itself.
 */
static inline void reg_valid(struct sip_reg *r)
{
	const struct sip_msg *m = &r->msg;

	if (sip_likely(m->count[SIP_HDR_VIA] && m->count[SIP_HDR_FROM] &&
		       m->count[SIP_HDR_TO] && m->call_id.p && m->has_cseq && m->is_request &&
		       r->max_forwards_rc == 0 && r->max_forwards <= 255 &&
		       m->method_id != SIP_METHOD_OTHER && m->cseq.method_id == m->method_id)) {
		r->valid_rc = 0;
		r->valid_err.reason = NULL;
		r->valid_err.off = 0;
		return;
	}
	r->valid_err.reason = NULL;
	r->valid_err.off = 0;
	r->valid_rc = sip_msg_validate(m, &r->valid_err);
}

int sip_reg_parse(struct sip_reg *r, const char *buf, size_t len, struct sip_hdr *hdrs,
		  size_t cap, struct sip_contact *contacts, size_t ccap, unsigned flags,
		  struct sip_err *err)
{
	int rc;

	if (!r || (!contacts && ccap))
		return fail(err, buf, buf, "Bad arguments", -EINVAL);
	r->contacts = contacts;
	r->ccap = ccap;
	r->ncontacts = 0;
#if SIP_FAST_SPLIT
	if (sip_likely(buf && (hdrs || !cap) && len <= SIP_MSG_MAX_LEN && rs_avx2)) {
		unsigned ok = 0;

		msg_reset(&r->msg, hdrs);
		rc = split_reg(r, buf, len, hdrs, cap > UINT16_MAX ? UINT16_MAX : cap,
			       (flags & SIP_PARSE_STREAM) != 0, &ok);
		if (sip_likely(rc > 0)) {
			if (err) {
				err->reason = NULL;
				err->off = 0;
			}
			if (sip_unlikely(ok != RF_ALL))
				reg_fields_general(r, RF_ALL & ~ok);
			reg_valid(r);
			return rc;
		}
	}
#endif
	rc = sip_msg_parse_general(&r->msg, buf, len, hdrs, cap, flags, err);
	if (rc > 0) {
		reg_fields_general(r, RF_ALL);
		reg_valid(r);
	}
	return rc;
}
