/* SPDX-License-Identifier: MIT */
/*
 * sip_write.h - the SIP serializer: requests and responses written into a
 * caller-provided buffer.
 *
 * Shape: a small cursor (struct sip_write) over the caller's buffer and a set of
 * append functions. Appends never write past cap: the first one that does not
 * fit sets the error -ENOSPC, writes nothing, and every later append is a
 * no-op, so a caller can chain appends and check once at the end with
 * sip_write_result(). Nothing allocates, nothing calls printf, integers are
 * formatted by hand; bytes are copied with memcpy.
 *
 * String arguments are struct sip_str slices (see sip.h); they are copied, not
 * kept. An append after an error is a no-op. A value written verbatim (header values,
 *URIs, tags, branch) must be legal on the wire already: these functions do not check or
 *escape them. Only the functions that say "quoted" produce a quoted-string from raw text.
 *
 * Typical request:
 *
 *	struct sip_write w;
 *	sip_write_init(&w, buf, sizeof(buf));
 *	sip_write_request_line(&w, SIP_STR("REGISTER"), SIP_STR("sip:example.com"));
 *	sip_write_via(&w, SIP_STR("UDP"), host, 5060, branch, true);
 *	sip_write_header_u32(&w, SIP_STR("Max-Forwards"), 70);
 *	sip_write_nameaddr(&w, SIP_STR("From"), SIP_STR_NULL, aor, tag);
 *	sip_write_nameaddr(&w, SIP_STR("To"), SIP_STR_NULL, aor, SIP_STR_NULL);
 *	sip_write_header(&w, SIP_STR("Call-ID"), call_id);
 *	sip_write_cseq(&w, 1, SIP_STR("REGISTER"));
 *	sip_write_contact(&w, &contact);
 *	sip_write_header_u32(&w, SIP_STR("Expires"), 3600);
 *	sip_write_end(&w, SIP_STR_NULL);
 *	int len = sip_write_result(&w);
 *
 * Threads: all functions are reentrant and touch only their arguments.
 */
#ifndef SIPREG_SIP_WRITE_H
#define SIPREG_SIP_WRITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "sipreg/sip.h"

/* The cursor. buf[0..len) holds what was written; len never exceeds cap. */
struct sip_write {
	char *buf;
	size_t cap;
	size_t len;
	int err; /* 0, or the first error: -ENOSPC (did not fit), -EINVAL */
};

/* Start writing at buf[0]. cap may be 0 (buf may then be NULL). */
void sip_write_init(struct sip_write *w, char *buf, size_t cap);

/*
 * The length written (>= 0), or the first error:
 *   -ENOSPC  an append did not fit in cap (or the length exceeds INT_MAX);
 *   -EINVAL  an append was given a value it cannot write (see each one).
 */
int sip_write_result(const struct sip_write *w);

/* ------------------------------------------------------------------------ */
/* Primitives                                                                */

void sip_write_mem(struct sip_write *w, const void *p, size_t n);
void sip_write_cstr(struct sip_write *w, const char *s);
void sip_write_char(struct sip_write *w, char c);
/* Decimal, no leading zeros. */
void sip_write_u32(struct sip_write *w, uint32_t v);
/* Exactly 8 lower-case hex digits (a digest nonce-count). */
void sip_write_hex8(struct sip_write *w, uint32_t v);
/* A quoted-string from raw text: DQUOTE, the text with '"' and '\' escaped as
 * quoted-pairs, DQUOTE. CR and LF cannot be quoted: they set the error
 * -EINVAL. */
void sip_write_quoted(struct sip_write *w, struct sip_str raw);
/* RFC 1123 date in GMT, "Sun, 06 Nov 1994 08:49:37 GMT" (RFC 3261 §20.17),
 * computed by hand (no gmtime, no locale). Times before 1970 or after 9999
 * are clamped to the range. */
void sip_write_rfc1123(struct sip_write *w, time_t t);

static inline void sip_write_str(struct sip_write *w, struct sip_str s)
{
	sip_write_mem(w, s.p, s.len);
}

/* ------------------------------------------------------------------------ */
/* Start lines                                                               */

/* "METHOD SP Request-URI SP SIP/2.0 CRLF" */
void sip_write_request_line(struct sip_write *w, struct sip_str method,
			    struct sip_str ruri);
/* "SIP/2.0 SP code SP reason CRLF". An unset reason (SIP_STR_NULL) takes the
 * RFC 3261 phrase of the code ("Unauthorized" for 401); an empty one is
 * written empty. status must be 100..699 (else the result is -EINVAL). */
void sip_write_status_line(struct sip_write *w, unsigned status, struct sip_str reason);
/* The RFC 3261 / RFC 3265 / RFC 5626 reason phrase of a status code, or ""
 * when the code is not a known one. */
const char *sip_write_reason_phrase(unsigned status);

/* ------------------------------------------------------------------------ */
/* Headers. Each writes one whole line "Name: value CRLF".                   */

void sip_write_header(struct sip_write *w, struct sip_str name, struct sip_str value);
void sip_write_header_u32(struct sip_write *w, struct sip_str name, uint32_t v);
/* For values built piece by piece: "Name: " ... then sip_write_header_end()
 * ("CRLF"). digest.h's writers fill the middle of an Authorization or a
 * WWW-Authenticate this way. */
void sip_write_header_begin(struct sip_write *w, struct sip_str name);
void sip_write_header_end(struct sip_write *w);

/*
 * "Via: SIP/2.0/TRANSPORT host[:port];branch=BRANCH[;rport] CRLF".
 * An IPv6 host (one holding ':') is put in brackets unless it has them.
 * port 0 leaves the port out.
 */
void sip_write_via(struct sip_write *w, struct sip_str transport, struct sip_str host,
		   uint16_t port, struct sip_str branch, bool rport);

/*
 * "Name: "display" <uri>;tag=TAG CRLF" for From and To (and any name-addr
 * header). display is raw text, quoted here; an unset or empty display and an
 * unset tag are left out. The URI always goes in angle brackets.
 */
void sip_write_nameaddr(struct sip_write *w, struct sip_str name, struct sip_str display,
			struct sip_str uri, struct sip_str tag);

/* "CSeq: NUM METHOD CRLF" */
void sip_write_cseq(struct sip_write *w, uint32_t num, struct sip_str method);

/* One Contact value. */
struct sip_write_contact {
	struct sip_str display; /* raw, quoted when written; may be unset */
	struct sip_str uri;     /* written in <> */
	bool has_expires;
	uint32_t expires;        /* ;expires=N */
	uint16_t q;              /* thousandths, 1..1000; 0 leaves it out */
	struct sip_str instance; /* +sip.instance value without quotes, e.g.
				    "<urn:uuid:...>"; unset leaves it out */
	bool has_reg_id;
	uint32_t reg_id;       /* ;reg-id=N */
	struct sip_str params; /* more raw header params, each with its ';' */
};

/* "Contact: "display" <uri>;expires=N;q=0.5;+sip.instance="...";reg-id=N..." */
void sip_write_contact(struct sip_write *w, const struct sip_write_contact *c);
/* "Contact: * CRLF" (remove every binding). */
void sip_write_contact_star(struct sip_write *w);
/* "Date: <RFC 1123 date> CRLF" */
void sip_write_date(struct sip_write *w, time_t t);

/*
 * End the headers: "Content-Length: N CRLF CRLF" then the body (unset or
 * empty body: N is 0). A body needs a Content-Type written before this.
 */
void sip_write_end(struct sip_write *w, struct sip_str body);

/* ------------------------------------------------------------------------ */
/* Whole messages                                                            */

/* Where a request came from, for the top Via of the response (RFC 3261
 * §18.2.1, RFC 3581 §4): received=IP is added (or replaced) and a valueless
 * rport gets the source port. */
struct sip_write_src {
	struct sip_str received; /* the source address, IPv6 without brackets;
				    unset: received= is left as it was */
	uint16_t port;           /* the source port; 0: rport is left as it was */
};

/*
 * Start a response to the request req (RFC 3261 §8.2.6.2): the status line,
 * then every Via header line of the request in order (all values of each
 * line verbatim, the top value amended from src when src is not NULL), From,
 * To (with ";tag=to_tag" added when the request's To has no tag and to_tag is
 * set), Call-ID and CSeq copied from the request. The caller goes on with
 * Contact, WWW-Authenticate, Min-Expires, Date, Server ... and sip_write_end().
 *
 * Returns 0 (the cursor's result says whether it fit), or
 *   -EINVAL   req is not a request, or status is not 100..699;
 *   -EBADMSG  req lacks Via, From, To, Call-ID or CSeq, or its top Via or its
 *             To cannot be parsed (err, when not NULL, says why).
 * On error nothing is written.
 */
int sip_write_response(struct sip_write *w, const struct sip_msg *req, unsigned status,
		       struct sip_str reason, struct sip_str to_tag,
		       const struct sip_write_src *src, struct sip_err *err);

/*
 * Re-serialise a whole parsed message: its start line, every header line in
 * order as "name: value" (the name as received, the value as parsed, folded
 * lines kept inside it), an empty line and the body. Parsing the output gives
 * back the same start line, headers and body.
 * Returns 0 (the cursor's result says whether it fit).
 */
int sip_write_msg(struct sip_write *w, const struct sip_msg *m);

#endif /* SIPREG_SIP_WRITE_H */
