/* SPDX-License-Identifier: MIT */
/*
 * write.c - the SIP serializer (RFC 3261 §7, §20): a bounds-checked cursor over
 * the caller's buffer, start lines, the headers registration needs, responses
 * built from a parsed request, and the re-serialisation of a parsed message.
 *
 * Every append checks the room left once and copies with memcpy; integers are
 * formatted by hand into a small stack buffer. An append that does not fit
 * records -ENOSPC and writes nothing, so nothing is ever written past cap.
 */
#include <errno.h>
#include <limits.h>
#include <string.h>

#include "sipreg/sip_write.h"

void sip_write_init(struct sip_write *w, char *buf, size_t cap)
{
	w->buf = buf;
	w->cap = buf ? cap : 0;
	w->len = 0;
	w->err = 0;
}

int sip_write_result(const struct sip_write *w)
{
	if (w->err)
		return w->err;
	if (w->len > INT_MAX)
		return -ENOSPC;
	return (int)w->len;
}

static inline void fail(struct sip_write *w, int e)
{
	if (!w->err)
		w->err = e;
}

void sip_write_mem(struct sip_write *w, const void *p, size_t n)
{
	if (sip_unlikely(w->err))
		return;
	if (sip_unlikely(n > w->cap - w->len)) {
		w->err = -ENOSPC;
		return;
	}
	if (n)
		memcpy(w->buf + w->len, p, n);
	w->len += n;
}

void sip_write_cstr(struct sip_write *w, const char *s)
{
	sip_write_mem(w, s, strlen(s));
}

void sip_write_char(struct sip_write *w, char c)
{
	if (sip_unlikely(w->err))
		return;
	if (sip_unlikely(w->len == w->cap)) {
		w->err = -ENOSPC;
		return;
	}
	w->buf[w->len++] = c;
}

/* Literal strings: the length is a compile-time constant. */
#define PUT(w, lit) sip_write_mem((w), "" lit, sizeof(lit) - 1)

void sip_write_u32(struct sip_write *w, uint32_t v)
{
	char tmp[10];
	size_t i = sizeof(tmp);

	do {
		tmp[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	sip_write_mem(w, tmp + i, sizeof(tmp) - i);
}

static const char hexdig[16] = "0123456789abcdef";

void sip_write_hex8(struct sip_write *w, uint32_t v)
{
	char tmp[8];

	for (int i = 7; i >= 0; i--) {
		tmp[i] = hexdig[v & 0xf];
		v >>= 4;
	}
	sip_write_mem(w, tmp, sizeof(tmp));
}

void sip_write_quoted(struct sip_write *w, struct sip_str raw)
{
	size_t start = 0;

	sip_write_char(w, '"');
	for (size_t i = 0; i < raw.len; i++) {
		char c = raw.p[i];
		if (c == '"' || c == '\\') {
			sip_write_mem(w, raw.p + start, i - start);
			sip_write_char(w, '\\');
			start = i; /* the character itself goes with the next run */
		} else if (c == '\r' || c == '\n') {
			fail(w, -EINVAL);
			return;
		}
	}
	sip_write_mem(w, raw.p + start, raw.len - start);
	sip_write_char(w, '"');
}

/* Two decimal digits, 00..99. */
static void put2(struct sip_write *w, unsigned v)
{
	char t[2] = {(char)('0' + v / 10 % 10), (char)('0' + v % 10)};

	sip_write_mem(w, t, 2);
}

/*
 * Days since 1970-01-01 to a proleptic Gregorian date (H. Hinnant's
 * civil_from_days, valid for any non-negative day count we allow here).
 */
static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	z += 719468;
	int64_t era = z / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;

	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int64_t)yoe + era * 400 + (*m <= 2);
}

void sip_write_rfc1123(struct sip_write *w, time_t t)
{
	static const char wkday[7][4] = {"Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"};
	static const char month[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
					  "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	/* 9999-12-31 23:59:59 GMT: four-digit years only */
	const int64_t tmax = INT64_C(253402300799);
	int64_t s = (int64_t)t;
	int64_t y;
	unsigned m, d;

	if (s < 0)
		s = 0;
	if (s > tmax)
		s = tmax;
	int64_t days = s / 86400;
	unsigned secs = (unsigned)(s % 86400);

	civil_from_days(days, &y, &m, &d);
	sip_write_mem(w, wkday[days % 7], 3);
	PUT(w, ", ");
	put2(w, d);
	sip_write_char(w, ' ');
	sip_write_mem(w, month[m - 1], 3);
	sip_write_char(w, ' ');
	put2(w, (unsigned)(y / 100));
	put2(w, (unsigned)(y % 100));
	sip_write_char(w, ' ');
	put2(w, secs / 3600);
	sip_write_char(w, ':');
	put2(w, secs / 60 % 60);
	sip_write_char(w, ':');
	put2(w, secs % 60);
	PUT(w, " GMT");
}

/* ------------------------------------------------------------------------ */
/* Start lines                                                               */

void sip_write_request_line(struct sip_write *w, struct sip_str method,
			    struct sip_str ruri)
{
	sip_write_str(w, method);
	sip_write_char(w, ' ');
	sip_write_str(w, ruri);
	PUT(w, " SIP/2.0\r\n");
}

const char *sip_write_reason_phrase(unsigned status)
{
	static const struct {
		uint16_t code;
		const char *phrase;
	} reasons[] = {
		{100, "Trying"},
		{180, "Ringing"},
		{181, "Call Is Being Forwarded"},
		{182, "Queued"},
		{183, "Session Progress"},
		{200, "OK"},
		{202, "Accepted"},
		{300, "Multiple Choices"},
		{301, "Moved Permanently"},
		{302, "Moved Temporarily"},
		{305, "Use Proxy"},
		{380, "Alternative Service"},
		{400, "Bad Request"},
		{401, "Unauthorized"},
		{402, "Payment Required"},
		{403, "Forbidden"},
		{404, "Not Found"},
		{405, "Method Not Allowed"},
		{406, "Not Acceptable"},
		{407, "Proxy Authentication Required"},
		{408, "Request Timeout"},
		{410, "Gone"},
		{413, "Request Entity Too Large"},
		{414, "Request-URI Too Long"},
		{415, "Unsupported Media Type"},
		{416, "Unsupported URI Scheme"},
		{420, "Bad Extension"},
		{421, "Extension Required"},
		{423, "Interval Too Brief"},
		{439, "First Hop Lacks Outbound Support"},
		{480, "Temporarily Unavailable"},
		{481, "Call/Transaction Does Not Exist"},
		{482, "Loop Detected"},
		{483, "Too Many Hops"},
		{484, "Address Incomplete"},
		{485, "Ambiguous"},
		{486, "Busy Here"},
		{487, "Request Terminated"},
		{488, "Not Acceptable Here"},
		{489, "Bad Event"},
		{491, "Request Pending"},
		{493, "Undecipherable"},
		{500, "Server Internal Error"},
		{501, "Not Implemented"},
		{502, "Bad Gateway"},
		{503, "Service Unavailable"},
		{504, "Server Time-out"},
		{505, "Version Not Supported"},
		{513, "Message Too Large"},
		{600, "Busy Everywhere"},
		{603, "Decline"},
		{604, "Does Not Exist Anywhere"},
		{606, "Not Acceptable"},
	};

	for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
		if (reasons[i].code == status)
			return reasons[i].phrase;
	return "";
}

void sip_write_status_line(struct sip_write *w, unsigned status, struct sip_str reason)
{
	char code[3];

	if (status < 100 || status > 699) {
		fail(w, -EINVAL);
		return;
	}
	code[0] = (char)('0' + status / 100);
	code[1] = (char)('0' + status / 10 % 10);
	code[2] = (char)('0' + status % 10);
	PUT(w, "SIP/2.0 ");
	sip_write_mem(w, code, 3);
	sip_write_char(w, ' ');
	if (sip_str_isset(reason))
		sip_write_str(w, reason);
	else
		sip_write_cstr(w, sip_write_reason_phrase(status));
	PUT(w, "\r\n");
}

/* ------------------------------------------------------------------------ */
/* Headers                                                                   */

void sip_write_header_begin(struct sip_write *w, struct sip_str name)
{
	sip_write_str(w, name);
	PUT(w, ": ");
}

void sip_write_header_end(struct sip_write *w)
{
	PUT(w, "\r\n");
}

void sip_write_header(struct sip_write *w, struct sip_str name, struct sip_str value)
{
	sip_write_header_begin(w, name);
	sip_write_str(w, value);
	PUT(w, "\r\n");
}

void sip_write_header_u32(struct sip_write *w, struct sip_str name, uint32_t v)
{
	sip_write_header_begin(w, name);
	sip_write_u32(w, v);
	PUT(w, "\r\n");
}

/* host, bracketed when it is an IPv6 reference without brackets */
static void put_host(struct sip_write *w, struct sip_str host)
{
	bool v6 = sip_str_chr(host, ':') != NULL && host.len && host.p[0] != '[';

	if (v6)
		sip_write_char(w, '[');
	sip_write_str(w, host);
	if (v6)
		sip_write_char(w, ']');
}

void sip_write_via(struct sip_write *w, struct sip_str transport, struct sip_str host,
		   uint16_t port, struct sip_str branch, bool rport)
{
	PUT(w, "Via: SIP/2.0/");
	sip_write_str(w, transport);
	sip_write_char(w, ' ');
	put_host(w, host);
	if (port) {
		sip_write_char(w, ':');
		sip_write_u32(w, port);
	}
	PUT(w, ";branch=");
	sip_write_str(w, branch);
	if (rport)
		PUT(w, ";rport");
	PUT(w, "\r\n");
}

static void put_nameaddr(struct sip_write *w, struct sip_str display, struct sip_str uri)
{
	if (display.len) {
		sip_write_quoted(w, display);
		sip_write_char(w, ' ');
	}
	sip_write_char(w, '<');
	sip_write_str(w, uri);
	sip_write_char(w, '>');
}

void sip_write_nameaddr(struct sip_write *w, struct sip_str name, struct sip_str display,
			struct sip_str uri, struct sip_str tag)
{
	sip_write_header_begin(w, name);
	put_nameaddr(w, display, uri);
	if (sip_str_isset(tag)) {
		PUT(w, ";tag=");
		sip_write_str(w, tag);
	}
	PUT(w, "\r\n");
}

void sip_write_cseq(struct sip_write *w, uint32_t num, struct sip_str method)
{
	PUT(w, "CSeq: ");
	sip_write_u32(w, num);
	sip_write_char(w, ' ');
	sip_write_str(w, method);
	PUT(w, "\r\n");
}

/* q-value from thousandths: 1000 -> "1", 500 -> "0.5", 25 -> "0.025" */
static void put_q(struct sip_write *w, uint16_t q)
{
	if (q >= 1000) {
		sip_write_char(w, '1');
		return;
	}
	char t[5] = {'0', '.', (char)('0' + q / 100), (char)('0' + q / 10 % 10),
		     (char)('0' + q % 10)};
	size_t n = 5;

	while (n > 3 && t[n - 1] == '0')
		n--;
	sip_write_mem(w, t, n);
}

void sip_write_contact(struct sip_write *w, const struct sip_write_contact *c)
{
	PUT(w, "Contact: ");
	put_nameaddr(w, c->display, c->uri);
	if (c->has_expires) {
		PUT(w, ";expires=");
		sip_write_u32(w, c->expires);
	}
	if (c->q) {
		PUT(w, ";q=");
		put_q(w, c->q);
	}
	if (sip_str_isset(c->instance)) {
		PUT(w, ";+sip.instance=");
		sip_write_quoted(w, c->instance);
	}
	if (c->has_reg_id) {
		PUT(w, ";reg-id=");
		sip_write_u32(w, c->reg_id);
	}
	sip_write_str(w, c->params);
	PUT(w, "\r\n");
}

void sip_write_contact_star(struct sip_write *w)
{
	PUT(w, "Contact: *\r\n");
}

void sip_write_date(struct sip_write *w, time_t t)
{
	PUT(w, "Date: ");
	sip_write_rfc1123(w, t);
	PUT(w, "\r\n");
}

void sip_write_end(struct sip_write *w, struct sip_str body)
{
	if (body.len > UINT32_MAX) {
		fail(w, -ENOSPC);
		return;
	}
	PUT(w, "Content-Length: ");
	sip_write_u32(w, (uint32_t)body.len);
	PUT(w, "\r\n\r\n");
	sip_write_str(w, body);
}

/* ------------------------------------------------------------------------ */
/* Responses                                                                 */

static bool is_lws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/*
 * The top Via value with received=/rport= from src, followed verbatim by the
 * rest of the line (the other values of that line). The value's parameters are
 * rewritten one by one; everything before them (protocol, sent-by) and after
 * them is copied as received.
 */
static int put_top_via(struct sip_write *w, struct sip_str value,
		       const struct sip_write_src *src, struct sip_err *err)
{
	struct sip_str rest = value, params, name, val;
	struct sip_via v;
	const char *vend = value.p + value.len;
	const char *pend;
	bool have_received = false;

	if (sip_via_next(&rest, &v, err) != 1)
		return -EBADMSG;
	params = v.params;
	if (sip_str_isset(params) && params.len) {
		pend = params.p + params.len;
	} else {
		/* no parameters: the value ends at the first ',' */
		const char *comma = sip_str_chr(value, ',');
		pend = comma ? comma : vend;
		while (pend > value.p && is_lws(pend[-1]))
			pend--;
		params = sip_str_make(pend, 0);
	}
	/* the sent-by part, without the ';' that opens the parameters */
	const char *pre = params.p;
	while (pre > value.p && (is_lws(pre[-1]) || pre[-1] == ';'))
		pre--;
	sip_write_mem(w, value.p, (size_t)(pre - value.p));
	while (params.len && (params.p[0] == ';' || is_lws(params.p[0]))) {
		params.p++;
		params.len--;
	}
	int r;
	while ((r = sip_param_next(&params, &name, &val)) == 1) {
		bool quoted = sip_str_isset(val) && val.p > value.p && val.p[-1] == '"';

		sip_write_char(w, ';');
		if (src->port && sip_str_caseeq(name, SIP_STR("rport")) &&
		    !sip_str_isset(val)) {
			PUT(w, "rport=");
			sip_write_u32(w, src->port);
			continue;
		}
		if (sip_str_isset(src->received) &&
		    sip_str_caseeq(name, SIP_STR("received"))) {
			PUT(w, "received=");
			sip_write_str(w, src->received);
			have_received = true;
			continue;
		}
		sip_write_str(w, name);
		if (sip_str_isset(val)) {
			sip_write_char(w, '=');
			if (quoted)
				sip_write_char(w, '"');
			sip_write_str(w, val);
			if (quoted)
				sip_write_char(w, '"');
		}
	}
	if (r < 0) {
		if (err) {
			err->reason = "Bad Via: malformed parameter";
			err->off = 0;
		}
		return -EBADMSG;
	}
	if (!have_received && sip_str_isset(src->received)) {
		PUT(w, ";received=");
		sip_write_str(w, src->received);
	}
	sip_write_mem(w, pend, (size_t)(vend - pend));
	return 0;
}

static const struct sip_hdr *first_hdr(const struct sip_msg *m, enum sip_hdr_id id)
{
	uint16_t i = m->first[id];

	return i && i <= m->nhdrs ? &m->hdrs[i - 1] : NULL;
}

static const struct sip_hdr *next_hdr(const struct sip_msg *m, const struct sip_hdr *h)
{
	uint16_t i = h->next;

	return i && i <= m->nhdrs ? &m->hdrs[i - 1] : NULL;
}

static int missing(struct sip_err *err, const char *why)
{
	if (err) {
		err->reason = why;
		err->off = 0;
	}
	return -EBADMSG;
}

int sip_write_response(struct sip_write *w, const struct sip_msg *req, unsigned status,
		       struct sip_str reason, struct sip_str to_tag,
		       const struct sip_write_src *src, struct sip_err *err)
{
	const struct sip_hdr *via = first_hdr(req, SIP_HDR_VIA);
	const struct sip_hdr *from = first_hdr(req, SIP_HDR_FROM);
	const struct sip_hdr *to = first_hdr(req, SIP_HDR_TO);
	const struct sip_hdr *cseq = first_hdr(req, SIP_HDR_CSEQ);
	const struct sip_hdr *callid = first_hdr(req, SIP_HDR_CALL_ID);
	struct sip_nameaddr na;
	struct sip_write mark = *w;
	int r;

	if (!req->is_request || status < 100 || status > 699)
		return -EINVAL;
	if (!via)
		return missing(err, "Missing Via");
	if (!from)
		return missing(err, "Missing From");
	if (!to)
		return missing(err, "Missing To");
	if (!callid)
		return missing(err, "Missing Call-ID");
	if (!cseq)
		return missing(err, "Missing CSeq");
	r = sip_nameaddr_parse(&na, to->value, err);
	if (r < 0)
		return -EBADMSG;

	sip_write_status_line(w, status, reason);
	for (const struct sip_hdr *h = via; h; h = next_hdr(req, h)) {
		PUT(w, "Via: ");
		if (h == via && src) {
			r = put_top_via(w, h->value, src, err);
			if (r < 0) {
				*w = mark; /* nothing written */
				return r;
			}
		} else {
			sip_write_str(w, h->value);
		}
		PUT(w, "\r\n");
	}
	sip_write_header(w, SIP_STR("From"), from->value);
	PUT(w, "To: ");
	sip_write_str(w, to->value);
	if (!sip_str_isset(na.tag) && sip_str_isset(to_tag)) {
		PUT(w, ";tag=");
		sip_write_str(w, to_tag);
	}
	PUT(w, "\r\n");
	sip_write_header(w, SIP_STR("Call-ID"), callid->value);
	sip_write_header(w, SIP_STR("CSeq"), cseq->value);
	return 0;
}

int sip_write_msg(struct sip_write *w, const struct sip_msg *m)
{
	if (m->is_request) {
		sip_write_request_line(w, m->method, m->ruri);
	} else {
		/* the reason as received, empty included (RFC 4475 noreason) */
		struct sip_str reason = m->reason;

		if (!sip_str_isset(reason))
			reason = sip_str_make("", 0);
		sip_write_status_line(w, m->status, reason);
	}
	for (uint16_t i = 0; i < m->nhdrs; i++) {
		sip_write_str(w, m->hdrs[i].name);
		PUT(w, ": ");
		sip_write_str(w, m->hdrs[i].value);
		PUT(w, "\r\n");
	}
	PUT(w, "\r\n");
	sip_write_str(w, m->body);
	return 0;
}
