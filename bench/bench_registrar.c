/* SPDX-License-Identifier: MIT */
/*
 * bench_registrar - the registrar's own cost, without sockets:
 *
 *   1. CPU per authenticated registration: for distinct users out of
 *      100,000 subscribers, REGISTER -> 401 -> REGISTER with credentials ->
 *      200, timing only registrar_handle() (parse and the client's digest are
 *      outside the timed part); median of 5 runs. Also the parse of both
 *      requests, timed apart, which the engine adds.
 *   2. Memory per binding: RSS before and after 1,000,000 bindings of
 *      realistic size (Contact URI, Call-ID, User-Agent, a NAT source).
 *
 *   bench_registrar [--bindings N] [--registrations N]
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <urcu/urcu-qsbr.h>

#include "sipreg/digest.h"
#include "sipreg/registrar.h"
#include "sipreg/sip_write.h"

static const uint8_t key[SIPHASH_KEY_LEN] = "0123456789abcdef";
static const uint8_t secret[NONCE_SECRET_LEN] = "0123456789abcdef0123456789abcdef";

static uint64_t ns_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static long rss_kib(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	long pages = 0, resident = 0;

	if (!f)
		return -1;
	if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
		resident = -1;
	fclose(f);
	return resident * 4;
}

struct world {
	struct config *cfg;
	struct location *loc;
	struct guard *guard;
	struct nonce_ctx *nonce;
	struct subscriber_table *subs;
	struct registrar *reg;
};

static void world_new(struct world *w, int subscribers)
{
	struct guard_config gc = {.retry = 6, .suspend_s = 180, .address_retry = 30};
	struct registrar_deps d;

	if (config_new(&w->cfg) || location_new(&w->loc, key, NULL, NULL) ||
	    guard_new(&w->guard, &gc, key, NULL, NULL) || nonce_new(&w->nonce, secret, 20, 300) ||
	    subscriber_table_new(&w->subs, key)) {
		fprintf(stderr, "bench_registrar: set-up failed\n");
		exit(1);
	}
	d = (struct registrar_deps){.location = w->loc, .guard = w->guard, .nonce = w->nonce,
				    .subscribers = w->subs, .tag_key = key};
	if (registrar_new(&w->reg, w->cfg, &d)) {
		fprintf(stderr, "bench_registrar: registrar_new failed\n");
		exit(1);
	}
	for (int i = 0; i < subscribers; i++) {
		struct store_subscriber s = {.enabled = true};
		snprintf(s.username, sizeof(s.username), "u%06d", i);
		snprintf(s.domain, sizeof(s.domain), "carrier.example");
		snprintf(s.password, sizeof(s.password), "pw%06d", i);
		subscriber_table_put(w->subs, &s);
		if (i % 64 == 0)
			urcu_qsbr_quiescent_state();
	}
}

static int request(char *buf, size_t cap, int user, uint32_t cseq, const char *auth)
{
	return snprintf(buf, cap,
			"REGISTER sip:carrier.example SIP/2.0\r\n"
			"Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK%08x%06d;rport\r\n"
			"Max-Forwards: 70\r\n"
			"From: <sip:u%06d@carrier.example>;tag=%08x\r\n"
			"To: <sip:u%06d@carrier.example>\r\n"
			"Call-ID: %06d-3d7a1c@192.0.2.10\r\n"
			"CSeq: %u REGISTER\r\n"
			"Contact: <sip:u%06d@192.0.2.10:5060;transport=udp>;expires=3600\r\n"
			"User-Agent: Yealink SIP-T46S 66.86.0.15\r\n"
			"%s%s"
			"Content-Length: 0\r\n\r\n",
			cseq, user, user, cseq, user, user, cseq, user, auth[0] ? auth : "",
			auth[0] ? "\r\n" : "");
}

struct timing {
	uint64_t handle_ns, parse_ns;
	int ok;
};

/* One authenticated registration of user; only the engine's share timed. */
static void one(struct world *w, int user, uint32_t cseq, struct timing *t)
{
	static char req[2048], out[4096], auth[1024];
	struct sip_hdr hdrs[64], rh[64];
	struct sip_msg m, r;
	struct sip_err err;
	struct sockaddr_in src = {.sin_family = AF_INET, .sin_port = htons(5060)};
	struct registrar_src s = {.addr = (struct sockaddr *)&src};
	struct registrar_result res;
	struct registrar_stats st = {0};
	struct sip_auth ch;
	struct sip_write wr;
	char pw[32];
	int n;
	uint64_t t0;

	src.sin_addr.s_addr = htonl(0xC000020A);
	auth[0] = '\0';
	n = request(req, sizeof(req), user, cseq, auth);
	t0 = ns_now();
	sip_msg_parse(&m, req, (size_t)n, hdrs, 64, SIP_PARSE_DATAGRAM, &err);
	sip_msg_validate(&m, &err);
	t->parse_ns += ns_now() - t0;
	t0 = ns_now();
	registrar_handle(w->reg, &m, &s, 1000, 1900000000, out, sizeof(out), &res, &st);
	t->handle_ns += ns_now() - t0;
	/* the client's part, untimed */
	sip_msg_parse(&r, out, res.len, rh, 64, SIP_PARSE_DATAGRAM, &err);
	sip_auth_parse(&ch, sip_msg_hdr_next(&r, sip_msg_hdr(&r, SIP_HDR_WWW_AUTHENTICATE))->value,
		       &err);
	snprintf(pw, sizeof(pw), "pw%06d", user);
	n = snprintf(auth, sizeof(auth), "Authorization: ");
	sip_write_init(&wr, auth + n, sizeof(auth) - (size_t)n - 1);
	char uname[16];
	snprintf(uname, sizeof(uname), "u%06d", user);
	digest_answer(&wr, &ch, sip_str_make(uname, strlen(uname)), sip_str_make(pw, strlen(pw)),
		      SIP_STR("REGISTER"), SIP_STR("sip:carrier.example"), SIP_STR(""),
		      SIP_STR("0a4f113b"), 1);
	auth[n + sip_write_result(&wr)] = '\0';
	n = request(req, sizeof(req), user, cseq + 1, auth);
	t0 = ns_now();
	sip_msg_parse(&m, req, (size_t)n, hdrs, 64, SIP_PARSE_DATAGRAM, &err);
	sip_msg_validate(&m, &err);
	t->parse_ns += ns_now() - t0;
	t0 = ns_now();
	registrar_handle(w->reg, &m, &s, 1000, 1900000000, out, sizeof(out), &res, &st);
	t->handle_ns += ns_now() - t0;
	t->ok += res.status == 200;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void bench_cpu(int regs)
{
	struct world w;
	uint64_t per[5], parse[5];

	world_new(&w, 100000);
	/* let the tables' background resizes finish, as they would between
	 * the load at start-up and the first REGISTER */
	urcu_qsbr_thread_offline();
	struct timespec ts = {.tv_sec = 1};
	nanosleep(&ts, NULL);
	urcu_qsbr_thread_online();
	for (int run = 0; run < 5; run++) {
		struct timing t = {0};
		for (int i = 0; i < regs; i++) {
			one(&w, (run * regs + i) % 100000, (uint32_t)(2 * run + 1), &t);
			/* as a worker does once per loop turn: lets grace periods
			 * (and so the tables' resizes) complete */
			if (i % 64 == 0)
				urcu_qsbr_quiescent_state();
		}
		if (t.ok != regs) {
			fprintf(stderr, "bench_registrar: %d of %d registrations failed\n",
				regs - t.ok, regs);
			exit(1);
		}
		per[run] = t.handle_ns / (uint64_t)regs;
		parse[run] = t.parse_ns / (uint64_t)regs;
	}
	qsort(per, 5, sizeof(per[0]), cmp_u64);
	qsort(parse, 5, sizeof(parse[0]), cmp_u64);
	printf("registrar: %d authenticated registrations x 5 runs, 100000 subscribers\n", regs);
	printf("registrar-cpu: %.2f us per registration (401 + 200, median; runs %.2f..%.2f)\n",
	       per[2] / 1000.0, per[0] / 1000.0, per[4] / 1000.0);
	printf("parse-cpu: %.2f us per registration (two requests parsed and validated)\n",
	       parse[2] / 1000.0);
}

static void bench_memory(int n)
{
	struct location *loc;
	struct loc_policy pol = {.max_contacts = 1, .replace = true};
	struct sockaddr_in src = {.sin_family = AF_INET, .sin_port = htons(40000)};
	struct loc_view v[2];
	char aor[64], uri[96], cid[64];
	long before, after;
	size_t nv;

	location_new(&loc, key, NULL, NULL);
	src.sin_addr.s_addr = htonl(0xCB00710A);
	before = rss_kib();
	for (int i = 0; i < n; i++) {
		int la = snprintf(aor, sizeof(aor), "u%07d@carrier.example", i);
		int lu = snprintf(uri, sizeof(uri), "sip:u%07d@10.20.%d.%d:5060;transport=udp", i,
				  (i >> 8) & 255, i & 255);
		int lc = snprintf(cid, sizeof(cid), "%07d-3d7a1c9e@10.20.30.40", i);
		struct loc_contact c = {.uri = sip_str_make(uri, (size_t)lu), .expires = 300,
					.q = 1000};
		struct loc_request r = {.call_id = sip_str_make(cid, (size_t)lc), .cseq = 1,
					.user_agent = SIP_STR("Yealink SIP-T46S 66.86.0.15"),
					.received = (struct sockaddr *)&src, .nat = true};
		if (i % 64 == 0)
			urcu_qsbr_quiescent_state();
		if (location_update(loc, sip_str_make(aor, (size_t)la), &c, 1, false, &r, &pol, 0, v,
				    2, &nv)) {
			fprintf(stderr, "bench_registrar: location_update failed\n");
			exit(1);
		}
	}
	after = rss_kib();
	printf("memory: %d bindings, RSS %+ld KiB\n", n, after - before);
	printf("bytes-per-binding: %.0f\n", (after - before) * 1024.0 / n);
}

int main(int argc, char **argv)
{
	int bindings = 1000000, regs = 100000;

	for (int i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--bindings") == 0)
			bindings = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--registrations") == 0)
			regs = atoi(argv[i + 1]);
	}
	if (bindings <= 0 || regs <= 0 || regs > 100000) {
		fprintf(stderr, "usage: bench_registrar [--bindings N] [--registrations 1-100000]\n");
		return 2;
	}
	urcu_qsbr_register_thread();
	bench_memory(bindings);
	bench_cpu(regs);
	urcu_qsbr_unregister_thread();
	return 0;
}
