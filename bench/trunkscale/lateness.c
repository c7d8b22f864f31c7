/* SPDX-License-Identifier: MIT */
/*
 * lateness.c - refresh lateness of sipreg's trunks, measured from a passive
 * capture of the REGISTERs they send (bench/trunk-scale, issue 5 "Bench").
 *
 *   trunkscale-lateness [--expire S] [--gap-ms MS] [--tsv FILE] CAPTURE.pcap
 *
 * CAPTURE.pcap: tcpdump -i lo -w of the UDP requests from the trunk side to
 * the upstream registrar (Ethernet, Linux cooked or raw IPv4 link types;
 * micro- or nanosecond pcap). On loopback a packet is time-stamped when the
 * sender transmits it (dev_queue_xmit's taps, in the sending thread), so the
 * time stamps are the trunk side's send times, not the upstream's receive
 * times: the registrar's queueing does not enter the figure.
 *
 * The UA (src/ua/ua.c, refresh_at) arms a refresh for
 *   sent_at + half - half / 10 * spread / 65536,   half = expire * 500 ms,
 * sent_at the (millisecond) time the previous REGISTER of the trunk was
 * sent, spread = (uint16_t)((FNV-1a(name) * 2654435761) >> 16). The bench
 * names each trunk after its user, so the To user gives the name and the
 * due time of every refresh follows from the previous REGISTER's send time:
 *   lateness = send time - (previous send time + half - spread part).
 * Resolution: the UA keeps sent_at in whole milliseconds (truncated), so a
 * figure is the true lateness minus 0..1 ms.
 *
 * Per To user: a REGISTER with the top Via branch and the CSeq of the
 * previous one is a retransmission (counted, not a new send; the branch
 * matters because Kamailio's uac_reg draws CSeqs from a counter shared by
 * all its registrations, so two transactions of a user may carry one CSeq);
 * a new transaction less than --gap-ms
 * (5000) after the previous one is a resend within the same cycle (the
 * answer to a 401/407, or a 423 retry: counted, and it becomes the
 * reference, as sent_at does); a new CSeq later than that is a refresh and
 * gets a lateness figure. The first REGISTER of each user in the capture
 * gives no figure.
 *
 * Prints one line of key=value pairs:
 *   packets registers users refreshes resends retransmissions unparsed
 *   p50_ms p99_ms p999_ms max_ms min_ms late_over_20ms lapses
 * lapses: refreshes sent after the binding of the previous REGISTER
 * (expire seconds after it) had run out. Also, for any UA (Kamailio's
 * uac_reg has another refresh rule, so its lateness is not defined by the
 * formula above): the margin, the time the previous binding still had when
 * the refresh was sent (previous send + expire - send), as
 *   margin_p50_s margin_p1_s margin_min_s --tsv FILE: every figure
 * (user, lateness in microseconds).
 * Exit status 0, 1 on a read error, 2 on bad usage.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct user {
	char *name; /* NULL: free slot */
	int64_t last_us;
	uint32_t last_cseq;
	uint32_t last_branch; /* FNV-1a of the top Via's branch */
};

static struct user *tab;
static size_t tab_cap, tab_len;

static uint32_t fnv1a(const char *s, size_t n)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 16777619u;
	return h;
}

static int grow(void);

static struct user *lookup(const char *s, size_t n, int *fresh)
{
	size_t i;

	if ((tab_len + 1) * 2 > tab_cap && grow() < 0)
		return NULL;
	i = fnv1a(s, n) & (tab_cap - 1);
	for (;; i = (i + 1) & (tab_cap - 1)) {
		struct user *u = &tab[i];

		if (!u->name) {
			u->name = malloc(n + 1);
			if (!u->name)
				return NULL;
			memcpy(u->name, s, n);
			u->name[n] = '\0';
			tab_len++;
			*fresh = 1;
			return u;
		}
		if (strlen(u->name) == n && memcmp(u->name, s, n) == 0) {
			*fresh = 0;
			return u;
		}
	}
}

static int grow(void)
{
	size_t cap = tab_cap ? tab_cap * 2 : 1u << 16;
	struct user *old = tab, *nt = calloc(cap, sizeof(*nt));
	size_t oldcap = tab_cap;

	if (!nt)
		return -ENOMEM;
	tab = nt;
	tab_cap = cap;
	tab_len = 0;
	for (size_t i = 0; i < oldcap; i++) {
		if (!old[i].name)
			continue;
		size_t j = fnv1a(old[i].name, strlen(old[i].name)) & (cap - 1);

		while (tab[j].name)
			j = (j + 1) & (cap - 1);
		tab[j] = old[i];
		tab_len++;
	}
	free(old);
	return 0;
}

/* The header line starting a line with name (case-insensitive) or the
 * compact form; returns the value's start or NULL. */
static const char *header(const char *p, const char *end, const char *name, char compact,
			  const char **vend)
{
	size_t nl = strlen(name);

	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		const char *le = eol ? eol : end;
		const char *v = NULL;

		if ((size_t)(le - p) > nl && strncasecmp(p, name, nl) == 0)
			v = p + nl;
		else if (compact && le - p > 1 && (p[0] == compact || p[0] == (compact - 'a' + 'A')) &&
			 (p[1] == ':' || p[1] == ' ' || p[1] == '\t'))
			v = p + 1;
		if (v) {
			while (v < le && (*v == ' ' || *v == '\t'))
				v++;
			if (v < le && *v == ':') {
				v++;
				while (v < le && (*v == ' ' || *v == '\t'))
					v++;
				*vend = (le > v && le[-1] == '\r') ? le - 1 : le;
				if (!eol)
					return NULL; /* truncated by the snap length */
				return v;
			}
		}
		if (!eol)
			break;
		p = eol + 1;
	}
	return NULL;
}

/* Where the message at p ends (its header block and Content-Length's body),
 * so the next one starts: NULL when it runs to end (the last one, or one
 * truncated by the snap length). */
static const char *message_end(const char *p, const char *end)
{
	const char *v, *ve, *e = p;
	unsigned long clen = 0;

	for (;;) {
		e = memchr(e, '\n', (size_t)(end - e));
		if (!e || end - e < 3)
			return NULL;
		if (e[1] == '\r' && e[2] == '\n')
			break;
		e++;
	}
	v = header(p, e + 1, "Content-Length", 'l', &ve);
	if (v)
		clen = strtoul(v, NULL, 10);
	if (clen > (size_t)(end - (e + 3)))
		return NULL;
	return e + 3 + clen;
}

static int cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

static uint32_t rd32(const unsigned char *p, int swap)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return swap ? __builtin_bswap32(v) : v;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: trunkscale-lateness [--expire S] [--gap-ms MS] [--tsv FILE] "
		   "CAPTURE.pcap\n");
}

int main(int argc, char **argv)
{
	long expire = 60, gap_ms = 5000;
	const char *path = NULL, *tsvpath = NULL;
	unsigned char gh[24], rh[16];
	static unsigned char pkt[65536 + 256]; /* a 64 KiB GSO packet and its headers */
	int swap = 0, nano = 0;
	uint32_t link;
	FILE *f, *tsv = NULL;
	uint64_t packets = 0, registers = 0, resends = 0, retrans = 0, unparsed = 0, lapses = 0;
	uint64_t over20 = 0;
	int64_t *lat = NULL, *mar = NULL;
	size_t nlat = 0, latcap = 0;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--expire") == 0 && i + 1 < argc)
			expire = strtol(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--gap-ms") == 0 && i + 1 < argc)
			gap_ms = strtol(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--tsv") == 0 && i + 1 < argc)
			tsvpath = argv[++i];
		else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return 0;
		} else if (argv[i][0] != '-' && !path)
			path = argv[i];
		else {
			usage(stderr);
			return 2;
		}
	}
	if (!path || expire < 1 || expire > 86400 || gap_ms < 1) {
		usage(stderr);
		return 2;
	}
	f = fopen(path, "rb");
	if (!f) {
		fprintf(stderr, "trunkscale-lateness: %s: %s\n", path, strerror(errno));
		return 1;
	}
	if (fread(gh, 1, sizeof(gh), f) != sizeof(gh)) {
		fprintf(stderr, "trunkscale-lateness: %s: no pcap header\n", path);
		return 1;
	}
	switch (rd32(gh, 0)) {
	case 0xa1b2c3d4: break;
	case 0xa1b23c4d: nano = 1; break;
	case 0xd4c3b2a1: swap = 1; break;
	case 0x4d3cb2a1: swap = 1; nano = 1; break;
	default:
		fprintf(stderr, "trunkscale-lateness: %s: not a pcap file\n", path);
		return 1;
	}
	link = rd32(gh + 20, swap);
	if (link != 1 && link != 113 && link != 101) {
		fprintf(stderr, "trunkscale-lateness: link type %u not handled\n", link);
		return 1;
	}
	if (tsvpath) {
		tsv = fopen(tsvpath, "w");
		if (!tsv) {
			fprintf(stderr, "trunkscale-lateness: %s: %s\n", tsvpath, strerror(errno));
			return 1;
		}
		fprintf(tsv, "user\tlateness_us\n");
	}
	const int64_t half_ms = (int64_t)expire * 500;

	while (fread(rh, 1, sizeof(rh), f) == sizeof(rh)) {
		uint32_t incl = rd32(rh + 8, swap);
		int64_t ts = (int64_t)rd32(rh, swap) * 1000000 +
			     (nano ? rd32(rh + 4, swap) / 1000 : rd32(rh + 4, swap));
		size_t off = link == 1 ? 14 : link == 113 ? 16 : 0;
		const unsigned char *ip;
		const char *sip, *end, *v, *ve, *cv, *cve;

		if (incl > sizeof(pkt) || fread(pkt, 1, incl, f) != incl) {
			fprintf(stderr, "trunkscale-lateness: truncated capture\n");
			break;
		}
		packets++;
		if (incl < off + 28 || (pkt[off] >> 4) != 4 || pkt[off + 9] != 17) {
			unparsed++;
			continue;
		}
		ip = pkt + off;
		size_t ihl = (size_t)(ip[0] & 15) * 4;
		if (incl < off + ihl + 8 + 9) {
			unparsed++;
			continue;
		}
		const char *next = (const char *)ip + ihl + 8, *mend;

		end = (const char *)pkt + incl;
		/* A UDP GSO message (the trunk side sends a run of equal-size
		 * REGISTERs to the upstream as one, src/net/udp.c) reaches the
		 * loopback tap before it is cut into datagrams: one captured
		 * packet, its SIP messages back to back, one send time. */
		for (; next && end - next >= 9; ) {
			sip = next;
			next = message_end(sip, end);
			mend = next ? next : end;
			if (memcmp(sip, "REGISTER ", 9) != 0)
				continue;
			registers++;
			v = header(sip, mend, "To", 't', &ve);
			cv = header(sip, mend, "CSeq", '\0', &cve);
			const char *vv, *vve;
			uint32_t branch = 0;

			vv = header(sip, mend, "Via", 'v', &vve);
			if (vv) {
				for (const char *q = vv; q + 7 <= vve; q++)
					if (strncasecmp(q, "branch=", 7) == 0) {
						const char *b = q + 7, *be = b;

						while (be < vve && *be != ';' && *be != ',' && *be != ' ')
							be++;
						branch = fnv1a(b, (size_t)(be - b));
						break;
					}
			}
			if (!v || !cv) {
				unparsed++;
				continue;
			}
			/* the user part of the To URI: after "sip:" up to '@' */
			const char *s = NULL;
			for (const char *q = v; q + 4 <= ve; q++)
				if (strncasecmp(q, "sip:", 4) == 0) {
					s = q + 4;
					break;
				}
			const char *at = s ? memchr(s, '@', (size_t)(ve - s)) : NULL;
			if (!at || at == s) {
				unparsed++;
				continue;
			}
			uint32_t cseq = (uint32_t)strtoul(cv, NULL, 10);
			int fresh;
			struct user *u = lookup(s, (size_t)(at - s), &fresh);

			if (!u) {
				fprintf(stderr, "trunkscale-lateness: out of memory\n");
				return 1;
			}
			if (fresh) {
				u->last_us = ts;
				u->last_cseq = cseq;
				u->last_branch = branch;
				continue;
			}
			if (cseq == u->last_cseq && branch == u->last_branch) {
				retrans++;
				continue;
			}
			if (ts - u->last_us < gap_ms * 1000) {
				resends++;
				u->last_us = ts;
				u->last_cseq = cseq;
				u->last_branch = branch;
				continue;
			}
			uint32_t h = fnv1a(s, (size_t)(at - s));
			uint16_t spread = (uint16_t)((h * 2654435761u) >> 16);
			int64_t due_ms = half_ms - (int64_t)((uint64_t)half_ms / 10 * spread / 65536);
			int64_t l = ts - u->last_us - due_ms * 1000;

			if (ts - u->last_us > (int64_t)expire * 1000000)
				lapses++;
			if (l > 20000)
				over20++;
			if (nlat == latcap) {
				latcap = latcap ? latcap * 2 : 1u << 16;
				int64_t *nl = realloc(lat, latcap * sizeof(*lat));
				if (!nl) {
					fprintf(stderr, "trunkscale-lateness: out of memory\n");
					return 1;
				}
				lat = nl;
				nl = realloc(mar, latcap * sizeof(*mar));
				if (!nl) {
					fprintf(stderr, "trunkscale-lateness: out of memory\n");
					return 1;
				}
				mar = nl;
			}
			mar[nlat] = u->last_us + (int64_t)expire * 1000000 - ts;
			lat[nlat++] = l;
			if (tsv)
				fprintf(tsv, "%.*s\t%lld\n", (int)(at - s), s, (long long)l);
			u->last_us = ts;
			u->last_cseq = cseq;
			u->last_branch = branch;
		}
	}
	fclose(f);
	if (tsv)
		fclose(tsv);
	printf("packets=%llu registers=%llu users=%zu refreshes=%zu resends=%llu "
	       "retransmissions=%llu unparsed=%llu",
	       (unsigned long long)packets, (unsigned long long)registers, tab_len, nlat,
	       (unsigned long long)resends, (unsigned long long)retrans,
	       (unsigned long long)unparsed);
	if (nlat) {
		qsort(lat, nlat, sizeof(*lat), cmp64);
		printf(" p50_ms=%.3f p99_ms=%.3f p999_ms=%.3f max_ms=%.3f min_ms=%.3f",
		       lat[nlat / 2] / 1000.0, lat[(size_t)((double)nlat * 0.99)] / 1000.0,
		       lat[(size_t)((double)nlat * 0.999)] / 1000.0, lat[nlat - 1] / 1000.0,
		       lat[0] / 1000.0);
		qsort(mar, nlat, sizeof(*mar), cmp64);
		printf(" margin_p50_s=%.3f margin_p1_s=%.3f margin_min_s=%.3f",
		       mar[nlat / 2] / 1e6, mar[(size_t)((double)nlat * 0.01)] / 1e6, mar[0] / 1e6);
	} else {
		printf(" p50_ms=n/a p99_ms=n/a p999_ms=n/a max_ms=n/a min_ms=n/a");
	}
	printf(" late_over_20ms=%llu lapses=%llu\n", (unsigned long long)over20,
	       (unsigned long long)lapses);
	free(lat);
	free(mar);
	return 0;
}
