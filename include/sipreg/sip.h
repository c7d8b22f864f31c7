/* SPDX-License-Identifier: MIT */
/*
 * sip.h - the zero-copy SIP message core: borrowed string slices, the message
 * parser, and the parsers of the header bodies that registration needs.
 *
 * Ownership: every struct sip_str produced here BORROWS from the caller's
 * buffer. It never owns memory and is valid only while that buffer lives and
 * is unchanged. Nothing in this header allocates, writes to the input, or logs.
 *
 * Errors: functions return 0 (or a count) on success and a negative errno on
 * failure. Where a struct sip_err is passed, a failure fills it with a static
 * human reason that names the header and the problem, fit to be sent as the
 * reason phrase of a "400 Bad Request" ("Bad Via: missing branch").
 *
 * Threads: all functions are reentrant and touch only their arguments.
 */
#ifndef SIPREG_SIP_H
#define SIPREG_SIP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Branch hints for hot loops; both GCC and clang understand __builtin_expect,
 * any other compiler gets the plain condition. */
#if defined(__GNUC__)
#define sip_likely(x) __builtin_expect(!!(x), 1)
#define sip_unlikely(x) __builtin_expect(!!(x), 0)
#else
#define sip_likely(x) (x)
#define sip_unlikely(x) (x)
#endif

/* ------------------------------------------------------------------------ */
/* Borrowed slices                                                           */

struct sip_str {
	const char *p;
	size_t len;
};

#define SIP_STR(lit) ((struct sip_str){"" lit, sizeof(lit) - 1})
#define SIP_STR_NULL ((struct sip_str){NULL, 0})

static inline struct sip_str sip_str_make(const char *p, size_t len)
{
	return (struct sip_str){p, len};
}

static inline bool sip_str_empty(struct sip_str s)
{
	return s.len == 0;
}

/* True when the slice was found at all (an empty value "tag=" is found). */
static inline bool sip_str_isset(struct sip_str s)
{
	return s.p != NULL;
}

bool sip_str_eq(struct sip_str a, struct sip_str b);
/* ASCII case-insensitive equality (header names, tokens, URI schemes). */
bool sip_str_caseeq(struct sip_str a, struct sip_str b);
/* Decimal digits only, no sign; -EINVAL if empty or not digits, -ERANGE if
 * the value does not fit in 32 bits. Leading zeros are allowed. */
int sip_str_to_u32(struct sip_str s, uint32_t *out);
/* Strip SP, HTAB, CR and LF from both ends. */
struct sip_str sip_str_trim(struct sip_str s);
/* First occurrence of c, or NULL. */
const char *sip_str_chr(struct sip_str s, int c);
/* Copy a quoted-string's content (the slice between the quotes, as the
 * parsers return it) into dst, resolving quoted-pair escapes (\" and \\).
 * Returns the length written, or -ENOSPC if it does not fit. */
ssize_t sip_str_unquote(char *dst, size_t cap, struct sip_str quoted);

/* ------------------------------------------------------------------------ */
/* Errors                                                                    */

struct sip_err {
	const char *reason; /* static string, never NULL after a failure */
	size_t off;         /* byte offset in the message where it was found */
};

/* ------------------------------------------------------------------------ */
/* Identifiers resolved once, while the message is split                     */

enum sip_method {
	SIP_METHOD_OTHER = 0, /* any other token: see sip_msg.method */
	SIP_METHOD_REGISTER,
	SIP_METHOD_INVITE,
	SIP_METHOD_ACK,
	SIP_METHOD_BYE,
	SIP_METHOD_CANCEL,
	SIP_METHOD_OPTIONS,
	SIP_METHOD_INFO,
	SIP_METHOD_UPDATE,
	SIP_METHOD_PRACK,
	SIP_METHOD_SUBSCRIBE,
	SIP_METHOD_NOTIFY,
	SIP_METHOD_PUBLISH,
	SIP_METHOD_MESSAGE,
	SIP_METHOD_REFER,
};

/* Known headers. Long and compact names of one header map to one id.
 * The comment says whether a duplicate is an error (singleton). */
enum sip_hdr_id {
	SIP_HDR_OTHER = 0,
	SIP_HDR_VIA,                 /* v, list */
	SIP_HDR_FROM,                /* f, singleton */
	SIP_HDR_TO,                  /* t, singleton */
	SIP_HDR_CALL_ID,             /* i, singleton */
	SIP_HDR_CSEQ,                /* singleton */
	SIP_HDR_CONTACT,             /* m, list */
	SIP_HDR_EXPIRES,             /* singleton */
	SIP_HDR_MIN_EXPIRES,         /* singleton */
	SIP_HDR_MAX_FORWARDS,        /* singleton */
	SIP_HDR_CONTENT_LENGTH,      /* l, singleton */
	SIP_HDR_CONTENT_TYPE,        /* c, singleton */
	SIP_HDR_CONTENT_ENCODING,    /* e, list */
	SIP_HDR_PATH,                /* list */
	SIP_HDR_ROUTE,               /* list */
	SIP_HDR_RECORD_ROUTE,        /* list */
	SIP_HDR_SUPPORTED,           /* k, list */
	SIP_HDR_REQUIRE,             /* list */
	SIP_HDR_PROXY_REQUIRE,       /* list */
	SIP_HDR_UNSUPPORTED,         /* list */
	SIP_HDR_ALLOW,               /* list */
	SIP_HDR_ACCEPT,              /* list */
	SIP_HDR_USER_AGENT,
	SIP_HDR_SERVER,
	SIP_HDR_PRIVACY,
	SIP_HDR_AUTHORIZATION,       /* one per realm */
	SIP_HDR_PROXY_AUTHORIZATION,
	SIP_HDR_WWW_AUTHENTICATE,
	SIP_HDR_PROXY_AUTHENTICATE,
	SIP_HDR_DATE,                /* singleton */
	SIP_HDR_RETRY_AFTER,         /* singleton */
	SIP_HDR_TIMESTAMP,
	SIP_HDR_EVENT,               /* o */
	SIP_HDR_SUBJECT,             /* s */
	SIP_HDR_ALLOW_EVENTS,        /* u */
	SIP_HDR_REFER_TO,            /* r */
	SIP_HDR_REFERRED_BY,         /* b */
	SIP_HDR_SESSION_EXPIRES,     /* x */
	SIP_HDR_ACCEPT_CONTACT,      /* a */
	SIP_HDR_REJECT_CONTACT,      /* j */
	SIP_HDR_REQUEST_DISPOSITION, /* d */
	SIP_HDR_IDENTITY,            /* y */
	SIP_HDR_IDENTITY_INFO,       /* n */
	SIP_HDR_MIME_VERSION,
	SIP_HDR_ORGANIZATION,
	SIP_HDR_WARNING,
	SIP_HDR__COUNT
};

/* The canonical long name of a header id ("Via", "Call-ID", ...). */
const char *sip_hdr_name(enum sip_hdr_id id);
/* Resolve a header name (any case, long or compact) to its id. */
enum sip_hdr_id sip_hdr_lookup(const char *name, size_t len);
/* Resolve a method token (case-sensitive, RFC 3261 §7.1). */
enum sip_method sip_method_lookup(const char *p, size_t len);
const char *sip_method_name(enum sip_method m);

/* ------------------------------------------------------------------------ */
/* The message                                                               */

struct sip_hdr {
	struct sip_str name;  /* as received */
	struct sip_str value; /* trimmed; folded lines stay inside the slice */
	uint16_t id;          /* enum sip_hdr_id */
	uint16_t next;        /* index + 1 of the next header with this id; 0 = last */
};

struct sip_cseq {
	uint32_t num;
	struct sip_str method;
	enum sip_method method_id;
};

/* Default limits; the caller's header array size is the header limit. */
#define SIP_MSG_MAX_LEN 65535u /* largest message accepted (UDP's own limit) */

struct sip_msg {
	bool is_request;
	/* request line */
	struct sip_str method;
	enum sip_method method_id;
	struct sip_str ruri;
	/* status line */
	uint16_t status;
	struct sip_str reason;

	struct sip_hdr *hdrs; /* the caller's array */
	uint16_t nhdrs;
	uint16_t first[SIP_HDR__COUNT]; /* index + 1 of the first header of an id */
	uint8_t count[SIP_HDR__COUNT];  /* saturates at 255 */

	/* parsed during the split, since every consumer needs them */
	struct sip_str call_id;
	struct sip_cseq cseq;
	bool has_cseq;
	uint32_t content_length;
	bool has_content_length;

	struct sip_str body;
	size_t len; /* bytes consumed: start line through body */
};

enum sip_parse_flags {
	/* One datagram: the body is bounded by Content-Length when present, else
	 * it is the rest of the datagram; octets beyond Content-Length are
	 * discarded (RFC 3261 §18.3) and len says where the message ended. */
	SIP_PARSE_DATAGRAM = 1u << 0,
	/* A byte stream: Content-Length is required (RFC 3261 §18.3); an
	 * incomplete message returns -EAGAIN. */
	SIP_PARSE_STREAM = 1u << 1,
	/* Accept a bare LF as the line end (captures pasted from a terminal). */
	SIP_PARSE_LF = 1u << 2,
};

/*
 * Split one message: start line, headers (names resolved to ids, values
 * trimmed, duplicate singletons refused), Call-ID, CSeq and Content-Length
 * parsed, body bounded.
 *
 * hdrs/cap: the caller's header array and its capacity (the header limit).
 *
 * Returns the number of bytes consumed (> 0), or
 *   -EAGAIN   SIP_PARSE_STREAM only: the message is incomplete (every strict
 *             prefix of a valid message gives this; a datagram cut short is
 *             -EBADMSG, since no more of it will come);
 *   -EBADMSG  the message is malformed (err says why);
 *   -E2BIG    more headers than cap, or longer than SIP_MSG_MAX_LEN;
 *   -EPROTONOSUPPORT  a version other than SIP/2.0 (a request gets 505);
 *   -EINVAL   m or buf is NULL (buf with len > 0), or hdrs NULL with cap > 0.
 *
 * Without SIP_PARSE_STREAM the input is one datagram; one that ends right
 * after a header line's CRLF is taken as missing only its empty line (no
 * body). CRLFs before the start line are skipped (RFC 3261 §7.5) and
 * counted in the bytes consumed. On a
 * stream only the first SIP_MSG_MAX_LEN bytes are looked at (the buffer may
 * hold more messages); a datagram longer than that is -E2BIG at once.
 */
int sip_msg_parse(struct sip_msg *m, const char *buf, size_t len, struct sip_hdr *hdrs,
		  size_t cap, unsigned flags, struct sip_err *err);

/*
 * The checks RFC 3261 §8.2 asks of a request before it is processed: To, From,
 * Call-ID, CSeq, Via and (requests) Max-Forwards present; the CSeq method is
 * the request's method. Returns 0 or -EBADMSG with err set.
 */
int sip_msg_validate(const struct sip_msg *m, struct sip_err *err);

/* First header with this id, or NULL. */
const struct sip_hdr *sip_msg_hdr(const struct sip_msg *m, enum sip_hdr_id id);
/* The header after h with the same id, or NULL. */
const struct sip_hdr *sip_msg_hdr_next(const struct sip_msg *m, const struct sip_hdr *h);
/* First header named name (any case, long or compact): for a known name the
 * first header of its id, else the first unknown header so named; or NULL. */
const struct sip_hdr *sip_msg_hdr_by_name(const struct sip_msg *m, struct sip_str name);

/* ------------------------------------------------------------------------ */
/* Header-body parsers: common rules                                         */
/*
 * - Input is a header value slice as sip_msg_parse leaves it: folded lines
 *   (CRLF + SP/HTAB) may be inside and count as LWS wherever LWS is allowed;
 *   any CR or LF in a value is taken as part of a fold.
 * - Nothing is read outside the slice, written, allocated or logged; every
 *   output slice points into the input.
 * - On failure the functions return -EBADMSG (the only negative errno they
 *   return) and, when err is not NULL, set err->reason to a static string
 *   naming the header and problem ("Bad Via: bad rport") and err->off to the
 *   offset of the problem RELATIVE TO THE SLICE PASSED IN (value, or *rest at
 *   the call); a caller that wants a message offset adds the slice's own.
 *   Output structs are unspecified after a failure.
 * - Known parameters found twice (tag; expires, q, +sip.instance, reg-id;
 *   branch, received, rport, maddr, ttl; every named Digest parameter) are an
 *   error; unknown ones are kept raw.
 * - Reentrant; no global state.
 */

/* ------------------------------------------------------------------------ */
/* URIs (RFC 3261 §19.1, RFC 3966 kept opaque)                               */

enum sip_uri_scheme {
	SIP_URI_SIP = 0,
	SIP_URI_SIPS,
	SIP_URI_TEL,
	SIP_URI_OTHER, /* absoluteURI: only raw and opaque are set */
};

enum sip_host_type {
	SIP_HOST_NAME = 0,
	SIP_HOST_IPV4,
	SIP_HOST_IPV6, /* host holds the address WITHOUT the brackets */
};

struct sip_uri {
	struct sip_str raw; /* the whole URI as received */
	enum sip_uri_scheme scheme;
	struct sip_str user;     /* still %-escaped */
	struct sip_str password; /* still %-escaped */
	struct sip_str host;
	enum sip_host_type host_type;
	uint16_t port; /* 0 when absent */
	struct sip_str params;  /* after the first ';', up to '?' or the end */
	struct sip_str headers; /* after '?' */
	/* well-known URI parameters, found in params */
	struct sip_str transport;
	struct sip_str maddr;
	struct sip_str user_param; /* user=phone */
	bool lr;
	struct sip_str opaque; /* tel: and other schemes: everything after ':' */
};

/*
 * Parse a whole URI (the slice must hold exactly one, no LWS). sip: / sips:
 * (scheme case-insensitive) are split into the fields above; escapes must be
 * "%" HEXDIG HEXDIG and are kept raw. Host: hostname, IPv4 or [IPv6] (RFC
 * 5118: "sip:2001:db8::10" is refused, "[2001:db8::10:5070]" is an address
 * with no port, the 3-colon form of §4.10 is tolerated). Port 1..65535.
 * tel: and other schemes: only raw and opaque are set.
 * Returns 0, or -EBADMSG ("Bad URI: ...").
 */
int sip_uri_parse(struct sip_uri *u, struct sip_str s, struct sip_err *err);

/* ------------------------------------------------------------------------ */
/* Parameters: ";name=value;flag" and "name=value, name2=value2"             */

/*
 * Iterate generic parameters of a header or a URI: *rest starts at the text
 * after the first ';' (or at the first param of a challenge), and advances.
 * ';' and ',' both separate; LWS is allowed around them and around '='.
 * name is a token; value is unset (p == NULL) for a flag parameter, a
 * token/host/IPv6reference otherwise, and quoted values come without their
 * quotes (escapes kept). The params slices of sip_uri, sip_nameaddr,
 * sip_via and sip_auth are made for it.
 * Returns 1 when one was read, 0 at the end, -EBADMSG on an empty parameter
 * (";;"), a trailing separator, '=' without a value or an unterminated quote
 * (no err: the caller names the header).
 */
int sip_param_next(struct sip_str *rest, struct sip_str *name, struct sip_str *value);

/* ------------------------------------------------------------------------ */
/* Header bodies                                                             */

/* From, To, Contact, Route, Record-Route, Path entries. */
struct sip_nameaddr {
	struct sip_str display; /* without quotes; escapes kept; empty if none */
	struct sip_uri uri;
	bool angle;             /* the URI was in <> */
	struct sip_str params;  /* header parameters (after the URI), raw */
	struct sip_str tag;     /* From/To tag, unset if absent */
};

/*
 * One From or To value (exactly one, with optional tag): name-addr
 * ([display-name] "<" URI ">") or a bare addr-spec whose ';' parameters are
 * HEADER parameters, not URI ones (RFC 3261 §20.10; RFC 4475 cparam01/02).
 * display is a token sequence (LWS before '<' optional, RFC 4475 lwsdisp) or
 * the inside of a quoted-string (escapes kept; unterminated: error).
 * Returns 0, or -EBADMSG ("Bad address: ..." / "Bad URI: ...").
 */
int sip_nameaddr_parse(struct sip_nameaddr *na, struct sip_str value, struct sip_err *err);

/*
 * Comma-separated lists (Route, Record-Route, Path): *rest starts at the
 * header value and advances past each element and its comma; commas inside
 * quotes or <> do not separate. Returns 1 when an element was read, 0 at the
 * end of the list, -EBADMSG on a malformed element, an empty element or a
 * trailing comma (err set).
 */
int sip_nameaddr_next(struct sip_str *rest, struct sip_nameaddr *na, struct sip_err *err);

struct sip_via {
	struct sip_str proto;     /* "SIP/2.0" */
	struct sip_str transport; /* "UDP", "TCP", "TLS", "WS", ... */
	struct sip_str host;      /* IPv6 without brackets */
	enum sip_host_type host_type;
	uint16_t port;            /* 0 when absent */
	struct sip_str branch;
	struct sip_str received;
	struct sip_str maddr;
	int32_t rport;            /* -1 absent, 0 present without value, else the value */
	int16_t ttl;              /* -1 absent */
	struct sip_str params;    /* all parameters, raw */
};

/*
 * One Via hop per call (RFC 3261 §20.42): "SIP / 2.0 / UDP" with LWS allowed
 * around '/', sent-by host (name, IPv4, [IPv6]) and port (1..65535),
 * parameters branch, received (IPv4 or IPv6, with or without brackets per
 * RFC 5118 §4.5; stored without them), rport (RFC 3581: flag = 0, value
 * 1..65535), maddr, ttl (0..255); all of them raw in params. A missing
 * branch is not an error here. Returns 1, 0 at the end of the list, or
 * -EBADMSG ("Bad Via: ...").
 */
int sip_via_next(struct sip_str *rest, struct sip_via *v, struct sip_err *err);

#define SIP_Q_DEFAULT 1000u

struct sip_contact {
	bool star;               /* "*": every other field is unset */
	struct sip_nameaddr na;  /* na.params holds the contact params, raw */
	uint32_t expires;
	bool has_expires;
	uint16_t q;              /* thousandths: q=0.5 -> 500; SIP_Q_DEFAULT if absent */
	struct sip_str instance; /* +sip.instance, without the quotes */
	uint32_t reg_id;
	bool has_reg_id;
};

/*
 * One Contact value per call: "*" (star; only alone in the value, without
 * parameters) or a name-addr / addr-spec with contact params: expires
 * (delta-seconds; a value over 2^32-1 is clamped to 2^32-1, RFC 3261 treats
 * an over-large delta-seconds as the largest), q (0, 0.5, 1.000 -> 0..1000;
 * more than 3 decimals or above 1: error), +sip.instance (quotes removed),
 * reg-id (1..2^31-1), others raw in na.params. Returns 1, 0 at the end of
 * the list, or -EBADMSG ("Bad Contact: ..." / "Bad address: ...").
 */
int sip_contact_next(struct sip_str *rest, struct sip_contact *c, struct sip_err *err);

enum sip_digest_alg {
	SIP_DIGEST_MD5 = 0, /* also when the algorithm parameter is absent */
	SIP_DIGEST_MD5_SESS,
	SIP_DIGEST_SHA256,
	SIP_DIGEST_SHA256_SESS,
	SIP_DIGEST_SHA512_256,
	SIP_DIGEST_SHA512_256_SESS,
	SIP_DIGEST_UNKNOWN,
};

/* Authorization, Proxy-Authorization (credentials) and WWW-Authenticate,
 * Proxy-Authenticate (challenges): every parameter. Quoted values come without
 * their quotes, escapes kept (sip_str_unquote resolves them). */
struct sip_auth {
	struct sip_str scheme; /* "Digest" */
	struct sip_str username, realm, nonce, uri, response, cnonce, opaque;
	struct sip_str qop;       /* credentials: one value; challenges: the list */
	struct sip_str nc;        /* 8 hex digits as received */
	struct sip_str algorithm; /* as received; alg holds its meaning */
	struct sip_str domain;
	enum sip_digest_alg alg;
	uint32_t nc_val;
	bool has_nc;
	bool stale;
	bool userhash;
	struct sip_str params; /* everything after the scheme, raw */
};

/*
 * scheme LWS auth-param *("," auth-param), auth-param = name "=" (token /
 * quoted-string) with LWS around '=' and ','. Names are case-insensitive;
 * algorithm maps to alg (MD5, MD5-sess, SHA-256, SHA-256-sess, SHA-512-256,
 * SHA-512-256-sess in any case; anything else SIP_DIGEST_UNKNOWN); nc must
 * be 8 HEXDIG (nc_val); stale / userhash are true only for "true" (any case).
 * Unknown parameters are tolerated. Returns 0, or -EBADMSG ("Bad
 * Authorization: ...": no parameter, a parameter without value, duplicate
 * known parameter, bad nc, bad separator, unterminated quote).
 */
int sip_auth_parse(struct sip_auth *a, struct sip_str value, struct sip_err *err);

/*
 * CSeq body: 1*DIGIT LWS Method ("4711 REGISTER"). The number must be below
 * 2^31 (RFC 3261 §8.1.1.5; leading zeros allowed); the method is a token,
 * method_id its enum (case-sensitive). Returns 0, or -EBADMSG ("Bad CSeq:
 * ...").
 */
int sip_cseq_parse(struct sip_cseq *c, struct sip_str value, struct sip_err *err);

/* ------------------------------------------------------------------------ */
/* Message-level helpers: every value of every header line of an id, in order */

/* Returns the number of Via hops (<= cap), -E2BIG, or -EBADMSG. */
int sip_msg_vias(const struct sip_msg *m, struct sip_via *out, size_t cap,
		 struct sip_err *err);
/* Returns the number of Contacts (<= cap), -E2BIG, or -EBADMSG. A "*" must
 * stand alone (one Contact value in the message). */
int sip_msg_contacts(const struct sip_msg *m, struct sip_contact *out, size_t cap,
		     struct sip_err *err);
/* Same for Path / Route / Record-Route entries. */
int sip_msg_nameaddrs(const struct sip_msg *m, enum sip_hdr_id id, struct sip_nameaddr *out,
		      size_t cap, struct sip_err *err);
/* From or To: 0, -ENOENT when absent, -EBADMSG. */
int sip_msg_from(const struct sip_msg *m, struct sip_nameaddr *na, struct sip_err *err);
int sip_msg_to(const struct sip_msg *m, struct sip_nameaddr *na, struct sip_err *err);
/* Expires, Min-Expires, Max-Forwards and other delta-seconds / integer
 * headers: 0, -ENOENT, -EBADMSG (not a number), -ERANGE (over 2^32-1). */
int sip_msg_u32(const struct sip_msg *m, enum sip_hdr_id id, uint32_t *out,
		struct sip_err *err);

/* ------------------------------------------------------------------------ */
/* Registration view: the message and every field a registrar reads, in one */
/* call                                                                      */

/*
 * What sip_reg_parse fills. Each field holds exactly what the function named
 * beside it returns for the same message, its return value in the matching
 * *_rc; a field's err is set only when its rc is negative (offsets relative
 * to the message, as the sip_msg_* helpers give them), and the field itself
 * is unspecified then. Every slice borrows from the message buffer.
 */
struct sip_reg {
	struct sip_msg msg; /* sip_msg_parse */

	struct sip_uri ruri; /* sip_uri_parse(msg.ruri); responses: -ENOENT */
	int ruri_rc;
	struct sip_err ruri_err; /* offset relative to the message */

	struct sip_via via; /* sip_msg_vias(&msg, &via, 1): the top hop */
	int via_rc;         /* 1, 0 (no Via), -E2BIG (more hops), -EBADMSG */
	struct sip_err via_err;

	struct sip_nameaddr from, to; /* sip_msg_from / sip_msg_to */
	int from_rc, to_rc;           /* 0, -ENOENT, -EBADMSG */
	struct sip_err from_err, to_err;

	struct sip_contact *contacts; /* the caller's array: sip_msg_contacts */
	size_t ccap;                  /* its capacity */
	int ncontacts;                /* count, -E2BIG or -EBADMSG */
	struct sip_err contacts_err;

	struct sip_auth auth; /* sip_auth_parse of the FIRST Authorization */
	int auth_rc;          /* 0, -ENOENT (none), -EBADMSG */
	struct sip_err auth_err; /* offset relative to the message */

	uint32_t expires, max_forwards; /* sip_msg_u32(SIP_HDR_EXPIRES / _MAX_FORWARDS) */
	int expires_rc, max_forwards_rc; /* 0, -ENOENT, -EBADMSG, -ERANGE */
	struct sip_err expires_err, max_forwards_err;

	int valid_rc; /* sip_msg_validate(&msg): 0, -EBADMSG */
	struct sip_err valid_err;
};

/*
 * Parse one message and the fields registration needs, in one pass: the
 * split of sip_msg_parse (r->msg, the header array hdrs/cap), the Request-URI,
 * the top Via hop, From, To, every Contact (into contacts/ccap), the first
 * Authorization, Expires and Max-Forwards, and sip_msg_validate's verdict on
 * the message (from the fields already parsed), each with the result of the
 * existing function named in struct sip_reg. The usual REGISTER (plain CRLF
 * lines, one Via, the usual parameter forms) is parsed while its header
 * lines are found; anything else (folding, escapes, several Vias, unusual
 * forms) goes through sip_msg_parse and the per-header functions, with the
 * same results. The message-level helpers (sip_msg_hdr, sip_msg_nameaddrs,
 * ...) work on r->msg as after sip_msg_parse.
 *
 * Returns what sip_msg_parse returns for (buf, len, hdrs, cap, flags, err):
 * the bytes consumed (> 0), or
 *   -EAGAIN, -EBADMSG, -E2BIG, -EPROTONOSUPPORT as sip_msg_parse;
 *   -EINVAL   r or buf is NULL (buf with len > 0), hdrs NULL with cap > 0,
 *             or contacts NULL with ccap > 0.
 * The fields are set only when it returns > 0; their own failures are in
 * their *_rc, never in the return value.
 */
int sip_reg_parse(struct sip_reg *r, const char *buf, size_t len, struct sip_hdr *hdrs,
		  size_t cap, struct sip_contact *contacts, size_t ccap, unsigned flags,
		  struct sip_err *err);

#endif /* SIPREG_SIP_H */
