/* SPDX-License-Identifier: MIT */
/*
 * sipreg-bench - SIP load generator over UDP (loopback benchmarks).
 *
 *   sipreg-bench --target HOST:PORT [--method OPTIONS] [--expect-echo]
 *                [--window N | --rate R] [--count N] [--duration S]
 *                [--threads T] [--sockets K] [--timeout-ms MS] [--json] ...
 *
 * Sends requests built from a template (per-request Via branch, Call-ID,
 * From tag and CSeq), matches every answer to its request by the key in the
 * branch, and reports completed requests per second, latency percentiles,
 * timeouts, answers by status code and its own CPU time. The engine is in
 * bench/loadgen/; see loadgen.h for the design.
 *
 * --expect-echo measures the raw ceiling against bench/udp-echo: the echoed
 * request counts as its own answer, with the same sizes and batching.
 *
 * Exit status: 0 when the run took place (timeouts and error answers are
 * reported, not failures), 1 when it could not run, 2 on a usage error.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <time.h>

#include "loadgen/loadgen.h"

static volatile int stop_flag;

static void on_signal(int sig)
{
	(void)sig;
	stop_flag = 1;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: sipreg-bench --target HOST:PORT [options]\n"
		"  --target HOST:PORT   IPv4 a.b.c.d:port, IPv6 [addr]:port, or name:port\n"
		"  --local HOST         local address to bind (port chosen by the kernel)\n"
		"  --method M           OPTIONS (default) or REGISTER\n"
		"  --users SPEC         REGISTER: PATTERN:N (printf pattern with one %%u,\n"
		"                       users 1..N, e.g. 'u%%06u:100000') or a CSV file of\n"
		"                       username[,password] lines\n"
		"  --password P         REGISTER: password of users without one in the CSV\n"
		"  --domain D           REGISTER: Request-URI and AOR host (default: target host)\n"
		"  --expires S          REGISTER: Expires asked (default 3600)\n"
		"  --template FILE      request template with [branch] [call_id] [tag] [cseq]\n"
		"                       [local_ip] [local_port] [remote_ip] [remote_port]\n"
		"                       [transport] [method] [len] fields\n"
		"  --expect-echo        the echoed request is the answer (udp-echo ceiling)\n"
		"  --window N           closed loop: N requests in flight per thread (default 64)\n"
		"  --rate R             open loop: R requests/s in total, paced\n"
		"  --count N            offer at most N requests in total\n"
		"  --duration S         offer requests for at most S seconds\n"
		"                       (neither: --duration 10)\n"
		"  --timeout-ms MS      an answer later than this is a timeout (default 2000)\n"
		"  --threads T          threads, each with its sockets and window (default 1)\n"
		"  --sockets K          local sockets per thread (default 1)\n"
		"  --transport T        udp (default) or tcp (one connection per socket)\n"
		"  --gso                send each batch of equal-size requests as one UDP GSO\n"
		"                       buffer (the kernel splits it; cheaper for the generator)\n"
		"  --sockbuf BYTES      SO_RCVBUF and SO_SNDBUF of each socket\n"
		"  --json               one JSON object on stdout instead of the text report\n"
		"  --help\n");
}

static int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!s || !*s || *s == '-' || *s == '+')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

static int parse_double(const char *s, double min, double max, double *out)
{
	char *end;
	double v;

	if (!s || !*s)
		return -EINVAL;
	errno = 0;
	v = strtod(s, &end);
	if (errno || *end || !isfinite(v) || v < min || v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

/* HOST:PORT, [V6]:PORT; port 1-65535. */
static int parse_hostport(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[256], *port;
	struct addrinfo hints = {.ai_socktype = SOCK_DGRAM, .ai_flags = AI_NUMERICSERV};
	struct addrinfo *res;
	uint64_t p;

	if (strlen(s) >= sizeof(host))
		return -EINVAL;
	strcpy(host, s);
	if (host[0] == '[') {
		char *close = strchr(host, ']');

		if (!close || close[1] != ':')
			return -EINVAL;
		*close = '\0';
		port = close + 2;
		memmove(host, host + 1, strlen(host + 1) + 1);
		hints.ai_family = AF_INET6;
	} else {
		port = strrchr(host, ':');
		if (!port)
			return -EINVAL;
		*port++ = '\0';
	}
	if (!host[0] || parse_u64(port, 1, 65535, &p) < 0)
		return -EINVAL;
	if (getaddrinfo(host, port, &hints, &res) != 0)
		return -EHOSTUNREACH;
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

static int parse_host(const char *s, int family, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[256];
	struct addrinfo hints = {.ai_socktype = SOCK_DGRAM, .ai_family = family};
	struct addrinfo *res;
	size_t n = strlen(s);

	if (n >= sizeof(host))
		return -EINVAL;
	strcpy(host, s);
	if (n > 2 && host[0] == '[' && host[n - 1] == ']') {
		host[n - 1] = '\0';
		memmove(host, host + 1, n - 1);
	}
	if (getaddrinfo(host, "0", &hints, &res) != 0)
		return -EINVAL;
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	size_t n;

	if (!f)
		return NULL;
	buf = malloc(LG_MSG_MAX + 1);
	if (!buf) {
		fclose(f);
		return NULL;
	}
	n = fread(buf, 1, LG_MSG_MAX + 1, f);
	fclose(f);
	if (n > LG_MSG_MAX) {
		free(buf);
		errno = EFBIG;
		return NULL;
	}
	buf[n] = '\0';
	return buf;
}

static double tv_s(struct timeval tv)
{
	return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

/* Host names and addresses only: letters, digits, '.', '-', ':' and brackets. */
static bool valid_domain(const char *s)
{
	if (!*s || strlen(s) > 255)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr(".-:[]_", *s))
			return false;
	return true;
}

/* The host part of HOST:PORT / [V6]:PORT, brackets kept. */
static void target_host(const char *t, char *out, size_t cap)
{
	const char *end = t[0] == '[' ? strchr(t, ']') + 1 : strrchr(t, ':');
	size_t n = (size_t)(end - t);

	if (n >= cap)
		n = cap - 1;
	memcpy(out, t, n);
	out[n] = '\0';
}

/* A username: SIP user characters only (RFC 3261 unreserved and user-unreserved). */
static bool valid_user(const char *s)
{
	if (!*s || strlen(s) > 128)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("-_.!~*'()&=+$,;?/", *s))
			return false;
	return true;
}

static int push_user(struct lg_config *cfg, uint32_t *cap, char *name, char *pass)
{
	if (cfg->nusers == *cap) {
		uint32_t ncap = *cap ? *cap * 2 : 1024;
		char **u = realloc(cfg->users, ncap * sizeof(*u));
		char **p;

		if (!u)
			return -ENOMEM;
		cfg->users = u;
		p = realloc(cfg->passwords, ncap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		cfg->passwords = p;
		*cap = ncap;
	}
	cfg->users[cfg->nusers] = name;
	cfg->passwords[cfg->nusers] = pass;
	cfg->nusers++;
	return 0;
}

/* PATTERN:N: exactly one conversion, %u or %0<width>u (width 1-20). */
static int users_pattern(const char *spec, struct lg_config *cfg)
{
	const char *colon = strrchr(spec, ':'), *pct = strchr(spec, '%'), *q;
	size_t plen, slen;
	unsigned int width = 0;
	char name[160];
	uint32_t cap = 0;
	uint64_t n;
	int r;

	if (!colon || !pct || pct > colon || parse_u64(colon + 1, 1, 10000000, &n) < 0)
		return -EINVAL;
	q = pct + 1;
	if (*q == '0')
		for (q++; *q >= '0' && *q <= '9'; q++)
			width = width * 10 + (unsigned int)(*q - '0');
	if (*q != 'u' || width > 20 || memchr(q, '%', (size_t)(colon - q)))
		return -EINVAL;
	plen = (size_t)(pct - spec);
	slen = (size_t)(colon - q - 1);
	if (plen + slen + 21 >= sizeof(name))
		return -EINVAL;
	for (uint64_t i = 1; i <= n; i++) {
		char digits[24], *dup;
		int nd = snprintf(digits, sizeof(digits), "%0*" PRIu64, (int)width, i);

		memcpy(name, spec, plen);
		memcpy(name + plen, digits, (size_t)nd);
		memcpy(name + plen + (size_t)nd, q + 1, slen);
		name[plen + (size_t)nd + slen] = '\0';
		if (!valid_user(name))
			return -EINVAL;
		dup = strdup(name);
		if (!dup)
			return -ENOMEM;
		r = push_user(cfg, &cap, dup, NULL);
		if (r < 0) {
			free(dup);
			return r;
		}
	}
	return 0;
}

static int users_csv(const char *path, struct lg_config *cfg)
{
	FILE *f = fopen(path, "r");
	char line[512];
	uint32_t cap = 0;
	int r = 0;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		char *comma, *name, *pass = NULL;
		size_t n = strcspn(line, "\r\n");

		if (line[n] == '\0' && !feof(f)) {
			r = -EINVAL; /* longer than a line may be */
			break;
		}
		line[n] = '\0';
		if (!line[0] || line[0] == '#')
			continue;
		comma = strchr(line, ',');
		if (comma) {
			*comma = '\0';
			if (strchr(comma + 1, ',') || !comma[1]) {
				r = -EINVAL;
				break;
			}
		}
		if (!valid_user(line)) {
			r = -EINVAL;
			break;
		}
		name = strdup(line);
		if (comma)
			pass = strdup(comma + 1);
		if (!name || (comma && !pass) || push_user(cfg, &cap, name, pass) < 0) {
			free(name);
			free(pass);
			r = -ENOMEM;
			break;
		}
	}
	fclose(f);
	if (r == 0 && cfg->nusers == 0)
		r = -EINVAL;
	return r;
}

static int load_users(const char *spec, struct lg_config *cfg)
{
	if (strchr(spec, '%'))
		return users_pattern(spec, cfg);
	return users_csv(spec, cfg);
}

static bool all_have_passwords(const struct lg_config *cfg)
{
	for (uint32_t i = 0; i < cfg->nusers; i++)
		if (!cfg->passwords[i])
			return false;
	return true;
}

static void free_users(struct lg_config *cfg)
{
	for (uint32_t i = 0; i < cfg->nusers; i++) {
		free(cfg->users[i]);
		free(cfg->passwords[i]);
	}
	free(cfg->users);
	free(cfg->passwords);
}

/* Freed at exit, whichever way main returns (usage errors included). */
static struct lg_config *cleanup_cfg;

static void cleanup(void)
{
	if (!cleanup_cfg)
		return;
	free((char *)cleanup_cfg->template_text);
	cleanup_cfg->template_text = NULL;
	free_users(cleanup_cfg);
	cleanup_cfg->users = cleanup_cfg->passwords = NULL;
	cleanup_cfg->nusers = 0;
}

struct report {
	const struct lg_config *cfg;
	struct lg_stats tot;
	double wall_s;     /* whole run */
	double active_s;   /* first send to last answer */
	double rps, ok_rps;
	double user_s, sys_s;
	char target[80];
};

static double us(uint64_t ns)
{
	return (double)ns / 1000.0;
}

static void print_text(const struct report *r)
{
	const struct lg_config *cfg = r->cfg;
	const struct lg_stats *t = &r->tot;
	double cpu = r->user_s + r->sys_s;

	printf("sipreg-bench: %s%s %s %s, ", cfg->method, cfg->expect_echo ? " (echo)" : "",
	       cfg->tcp ? "tcp" : "udp", r->target);
	if (cfg->mode == LG_CLOSED)
		printf("closed loop, window %" PRIu32, cfg->window);
	else
		printf("open loop, %.0f/s offered, window %" PRIu32, cfg->rate, cfg->window);
	printf(" x %u thread(s) x %u socket(s)\n", cfg->threads, cfg->sockets);
	printf("  elapsed     %.3f s (first send to last answer %.3f s)\n", r->wall_s,
	       r->active_s);
	printf("  offered     %" PRIu64 "  sent %" PRIu64 "  skipped %" PRIu64 "\n", t->offered,
	       t->sent, t->skipped);
	printf("  completed   %" PRIu64 "  (ok %" PRIu64 ")  %.0f req/s  (ok %.0f/s)\n",
	       t->completed, t->ok, r->rps, r->ok_rps);
	printf("  timeouts    %" PRIu64 "  stray %" PRIu64 "  bad %" PRIu64
	       "  provisional %" PRIu64 "  truncated %" PRIu64 "\n",
	       t->timeouts, t->stray, t->bad, t->provisional, t->truncated);
	printf("  errors      send %" PRIu64 "  icmp %" PRIu64 "\n", t->send_errors,
	       t->recv_errors);
	printf("  latency us  p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  min %.1f  max %.1f"
	       "  mean %.1f\n",
	       us(lg_hist_quantile(&t->lat, 0.5)), us(lg_hist_quantile(&t->lat, 0.9)),
	       us(lg_hist_quantile(&t->lat, 0.99)), us(lg_hist_quantile(&t->lat, 0.999)),
	       us(t->lat.n ? t->lat.min : 0), us(t->lat.max),
	       t->lat.n ? us(t->lat.sum / t->lat.n) : 0.0);
	printf("  answers    ");
	if (t->echoes)
		printf(" echo: %" PRIu64, t->echoes);
	for (int c = 100; c < 700; c++)
		if (t->codes[c])
			printf(" %d: %" PRIu64, c, t->codes[c]);
	if (!t->echoes && !t->completed && !t->provisional)
		printf(" none");
	printf("\n");
	printf("  cpu         user %.3f s  sys %.3f s  = %.2f cores over the run, %.2f us/request\n",
	       r->user_s, r->sys_s, r->wall_s > 0 ? cpu / r->wall_s : 0.0,
	       t->completed ? cpu * 1e6 / (double)t->completed : 0.0);
}

static void print_json(const struct report *r)
{
	const struct lg_config *cfg = r->cfg;
	const struct lg_stats *t = &r->tot;
	double cpu = r->user_s + r->sys_s;
	bool first = true;

	printf("{\"tool\":\"sipreg-bench\",\"method\":\"%s\",\"echo\":%s,\"transport\":\"%s\","
	       "\"target\":\"%s\",\"mode\":\"%s\",\"window\":%" PRIu32 ",\"rate\":%.1f,"
	       "\"users\":%" PRIu32 ",\"threads\":%u,\"sockets\":%u,\"gso\":%s,\"timeout_ms\":%" PRIu64 ",",
	       cfg->method, cfg->expect_echo ? "true" : "false", cfg->tcp ? "tcp" : "udp", r->target,
	       cfg->mode == LG_CLOSED ? "closed" : "open", cfg->window,
	       cfg->mode == LG_OPEN ? cfg->rate : 0.0, cfg->nusers, cfg->threads, cfg->sockets,
	       cfg->gso ? "true" : "false",
	       cfg->timeout_ns / 1000000u);
	printf("\"elapsed_s\":%.6f,\"active_s\":%.6f,\"offered\":%" PRIu64 ",\"sent\":%" PRIu64
	       ",\"skipped\":%" PRIu64 ",\"completed\":%" PRIu64 ",\"ok\":%" PRIu64
	       ",\"rps\":%.1f,\"ok_rps\":%.1f,\"timeouts\":%" PRIu64 ",\"stray\":%" PRIu64
	       ",\"bad\":%" PRIu64 ",\"provisional\":%" PRIu64 ",\"truncated\":%" PRIu64
	       ",\"send_errors\":%" PRIu64 ",\"icmp_errors\":%" PRIu64 ",",
	       r->wall_s, r->active_s, t->offered, t->sent, t->skipped, t->completed, t->ok,
	       r->rps, r->ok_rps, t->timeouts, t->stray, t->bad, t->provisional, t->truncated,
	       t->send_errors, t->recv_errors);
	printf("\"latency_us\":{\"p50\":%.1f,\"p90\":%.1f,\"p99\":%.1f,\"p999\":%.1f,"
	       "\"min\":%.1f,\"max\":%.1f,\"mean\":%.1f},",
	       us(lg_hist_quantile(&t->lat, 0.5)), us(lg_hist_quantile(&t->lat, 0.9)),
	       us(lg_hist_quantile(&t->lat, 0.99)), us(lg_hist_quantile(&t->lat, 0.999)),
	       us(t->lat.n ? t->lat.min : 0), us(t->lat.max),
	       t->lat.n ? us(t->lat.sum / t->lat.n) : 0.0);
	printf("\"codes\":{");
	if (t->echoes) {
		printf("\"echo\":%" PRIu64, t->echoes);
		first = false;
	}
	for (int c = 100; c < 700; c++) {
		if (!t->codes[c])
			continue;
		printf("%s\"%d\":%" PRIu64, first ? "" : ",", c, t->codes[c]);
		first = false;
	}
	printf("},\"cpu\":{\"user_s\":%.3f,\"sys_s\":%.3f,\"share\":%.3f,\"us_per_req\":%.3f}}\n",
	       r->user_s, r->sys_s, r->wall_s > 0 ? cpu / r->wall_s : 0.0,
	       t->completed ? cpu * 1e6 / (double)t->completed : 0.0);
}

static void sum_stats(struct lg_stats *tot, const struct lg_stats *s)
{
	tot->offered += s->offered;
	tot->sent += s->sent;
	tot->skipped += s->skipped;
	tot->completed += s->completed;
	tot->ok += s->ok;
	tot->timeouts += s->timeouts;
	tot->provisional += s->provisional;
	tot->stray += s->stray;
	tot->bad += s->bad;
	tot->truncated += s->truncated;
	tot->send_errors += s->send_errors;
	tot->recv_errors += s->recv_errors;
	tot->echoes += s->echoes;
	for (int c = 0; c < 700; c++)
		tot->codes[c] += s->codes[c];
	if (s->first_send_ns && (!tot->first_send_ns || s->first_send_ns < tot->first_send_ns))
		tot->first_send_ns = s->first_send_ns;
	if (s->last_done_ns > tot->last_done_ns)
		tot->last_done_ns = s->last_done_ns;
	lg_hist_merge(&tot->lat, &s->lat);
}

enum {
	OPT_TARGET = 256, OPT_LOCAL, OPT_METHOD, OPT_TEMPLATE, OPT_ECHO, OPT_WINDOW, OPT_RATE,
	OPT_COUNT, OPT_DURATION, OPT_TIMEOUT, OPT_THREADS, OPT_SOCKETS, OPT_TRANSPORT,
	OPT_SOCKBUF, OPT_GSO, OPT_USERS, OPT_PASSWORD, OPT_DOMAIN, OPT_EXPIRES, OPT_JSON, OPT_HELP,
};

static const struct option long_opts[] = {
	{"target", required_argument, NULL, OPT_TARGET},
	{"local", required_argument, NULL, OPT_LOCAL},
	{"method", required_argument, NULL, OPT_METHOD},
	{"template", required_argument, NULL, OPT_TEMPLATE},
	{"expect-echo", no_argument, NULL, OPT_ECHO},
	{"window", required_argument, NULL, OPT_WINDOW},
	{"rate", required_argument, NULL, OPT_RATE},
	{"count", required_argument, NULL, OPT_COUNT},
	{"duration", required_argument, NULL, OPT_DURATION},
	{"timeout-ms", required_argument, NULL, OPT_TIMEOUT},
	{"threads", required_argument, NULL, OPT_THREADS},
	{"sockets", required_argument, NULL, OPT_SOCKETS},
	{"transport", required_argument, NULL, OPT_TRANSPORT},
	{"sockbuf", required_argument, NULL, OPT_SOCKBUF},
	{"gso", no_argument, NULL, OPT_GSO},
	{"users", required_argument, NULL, OPT_USERS},
	{"password", required_argument, NULL, OPT_PASSWORD},
	{"domain", required_argument, NULL, OPT_DOMAIN},
	{"expires", required_argument, NULL, OPT_EXPIRES},
	{"json", no_argument, NULL, OPT_JSON},
	{"help", no_argument, NULL, OPT_HELP},
	{NULL, 0, NULL, 0},
};

#define BAD(...)                                                                           \
	do {                                                                               \
		fprintf(stderr, "sipreg-bench: " __VA_ARGS__);                               \
		fputc('\n', stderr);                                                       \
		return 2;                                                                  \
	} while (0)

int main(int argc, char **argv)
{
	/* static: the atexit cleanup reads it after main returns */
	static struct lg_config cfg = {
		.method = "OPTIONS",
		.mode = LG_CLOSED,
		.threads = 1,
		.sockets = 1,
		.window = 64,
		.timeout_ns = 2000000000ull,
		.expires = 3600,
	};
	const char *target = NULL, *local = NULL, *tpl = NULL, *users = NULL;
	const struct lg_scenario_ops *ops = &lg_scenario_options;
	char domain_buf[300];
	bool json = false, window_set = false;
	struct lg_thread_args *args;
	struct lg_stats *stats;
	pthread_t th[LG_MAX_THREADS];
	struct rusage ru0, ru1;
	struct report rep = {.cfg = &cfg};
	struct sigaction sa = {.sa_handler = on_signal};
	uint64_t v, t0, t1;
	double d;
	int opt, failed = 0;

	cleanup_cfg = &cfg;
	atexit(cleanup);
	while ((opt = getopt_long(argc, argv, "", long_opts, NULL)) != -1) {
		switch (opt) {
		case OPT_TARGET:
			target = optarg;
			break;
		case OPT_LOCAL:
			local = optarg;
			break;
		case OPT_METHOD:
			if (strcmp(optarg, "OPTIONS") == 0)
				cfg.method = "OPTIONS";
			else if (strcmp(optarg, "REGISTER") == 0)
				cfg.method = "REGISTER";
			else
				BAD("--method %s: not supported (allowed: OPTIONS, REGISTER)", optarg);
			break;
		case OPT_USERS:
			users = optarg;
			break;
		case OPT_PASSWORD:
			cfg.password = optarg;
			break;
		case OPT_DOMAIN:
			if (!valid_domain(optarg))
				BAD("--domain %s: not a host name or address", optarg);
			cfg.domain = optarg;
			break;
		case OPT_EXPIRES:
			if (parse_u64(optarg, 0, 86400, &v) < 0)
				BAD("--expires %s: out of range (allowed: 0-86400)", optarg);
			cfg.expires = (uint32_t)v;
			break;
		case OPT_TEMPLATE:
			tpl = optarg;
			break;
		case OPT_ECHO:
			cfg.expect_echo = true;
			break;
		case OPT_WINDOW:
			if (parse_u64(optarg, 1, LG_MAX_SLOTS, &v) < 0)
				BAD("--window %s: out of range (allowed: 1-%u)", optarg, LG_MAX_SLOTS);
			cfg.window = (uint32_t)v;
			window_set = true;
			break;
		case OPT_RATE:
			if (parse_double(optarg, 1, 1e8, &cfg.rate) < 0)
				BAD("--rate %s: out of range (allowed: 1-100000000)", optarg);
			cfg.mode = LG_OPEN;
			break;
		case OPT_COUNT:
			if (parse_u64(optarg, 1, UINT64_MAX / 2, &cfg.count) < 0)
				BAD("--count %s: not a positive integer", optarg);
			break;
		case OPT_DURATION:
			if (parse_double(optarg, 0.001, 86400, &d) < 0)
				BAD("--duration %s: out of range (allowed: 0.001-86400 s)", optarg);
			cfg.duration_ns = (uint64_t)(d * 1e9);
			break;
		case OPT_TIMEOUT:
			if (parse_u64(optarg, 1, 600000, &v) < 0)
				BAD("--timeout-ms %s: out of range (allowed: 1-600000)", optarg);
			cfg.timeout_ns = v * 1000000ull;
			break;
		case OPT_THREADS:
			if (parse_u64(optarg, 1, LG_MAX_THREADS, &v) < 0)
				BAD("--threads %s: out of range (allowed: 1-%d)", optarg,
				    LG_MAX_THREADS);
			cfg.threads = (unsigned int)v;
			break;
		case OPT_SOCKETS:
			if (parse_u64(optarg, 1, LG_MAX_SOCKETS, &v) < 0)
				BAD("--sockets %s: out of range (allowed: 1-%d)", optarg,
				    LG_MAX_SOCKETS);
			cfg.sockets = (unsigned int)v;
			break;
		case OPT_TRANSPORT:
			if (strcmp(optarg, "udp") == 0)
				cfg.tcp = false;
			else if (strcmp(optarg, "tcp") == 0)
				cfg.tcp = true;
			else
				BAD("--transport %s: not supported (allowed: udp, tcp)", optarg);
			break;
		case OPT_SOCKBUF:
			if (parse_u64(optarg, 4096, 1 << 30, &v) < 0)
				BAD("--sockbuf %s: out of range (allowed: 4096-1073741824)", optarg);
			cfg.rcvbuf = (int)v;
			break;
		case OPT_GSO:
			cfg.gso = true;
			break;
		case OPT_JSON:
			json = true;
			break;
		case OPT_HELP:
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc)
		BAD("unexpected argument '%s'", argv[optind]);
	if (!target)
		BAD("--target HOST:PORT is required");
	if (parse_hostport(target, &cfg.target, &cfg.target_len) < 0)
		BAD("--target %s: not HOST:PORT (IPv6: [ADDR]:PORT) with port 1-65535", target);
	if (local && parse_host(local, cfg.target.ss_family, &cfg.local, &cfg.local_len) < 0)
		BAD("--local %s: not an address of the target's family", local);
	if (tpl) {
		char *text = read_file(tpl);

		if (!text)
			BAD("--template %s: %s", tpl, strerror(errno));
		cfg.template_text = text;
	}
	if (strcmp(cfg.method, "REGISTER") == 0) {
		int r;

		ops = &lg_scenario_register;
		if (cfg.expect_echo || tpl)
			BAD("--method REGISTER: --expect-echo and --template are for OPTIONS");
		if (!users)
			BAD("--method REGISTER needs --users PATTERN:N or --users FILE.csv");
		r = load_users(users, &cfg);
		if (r < 0)
			BAD("--users %s: %s", users, r == -EINVAL ? "not PATTERN:N (one %u, N >= 1) "
				"nor a CSV file of username[,password] lines" : strerror(-r));
		if (!cfg.password && !all_have_passwords(&cfg))
			BAD("--method REGISTER: --password is needed (users without one)");
		if (cfg.nusers < cfg.threads)
			BAD("--threads %u: more threads than users (%" PRIu32 ")", cfg.threads,
			    cfg.nusers);
		if (!cfg.domain) {
			target_host(target, domain_buf, sizeof(domain_buf));
			cfg.domain = domain_buf;
		}
	} else if (users || cfg.password || cfg.domain) {
		BAD("--users, --password and --domain are for --method REGISTER");
	}
	if (!cfg.count && !cfg.duration_ns)
		cfg.duration_ns = 10ull * 1000000000ull;
	if (cfg.mode == LG_OPEN && !window_set) {
		/* Room for every request of one timeout period, and some. */
		double w = cfg.rate / cfg.threads * ((double)cfg.timeout_ns / 1e9) * 1.25 + 64;

		cfg.window = w > 262144 ? 262144 : (uint32_t)w;
		if (ops == &lg_scenario_register && cfg.window > cfg.nusers / cfg.threads)
			cfg.window = cfg.nusers / cfg.threads;
	}
	/* One transaction per user at a time: a free slot must find a free user. */
	if (ops == &lg_scenario_register && !window_set && cfg.window > cfg.nusers / cfg.threads)
		cfg.window = cfg.nusers / cfg.threads;
	if (ops == &lg_scenario_register && cfg.window > cfg.nusers / cfg.threads)
		BAD("--window %" PRIu32 ": more than the users per thread (%" PRIu32 ")",
		    cfg.window, cfg.nusers / cfg.threads);
	if (getrandom(&cfg.run_nonce, sizeof(cfg.run_nonce), 0) != sizeof(cfg.run_nonce))
		cfg.run_nonce = (uint32_t)time(NULL) ^ (uint32_t)getpid();
	snprintf(rep.target, sizeof(rep.target), "%s", target);

	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	args = calloc(cfg.threads, sizeof(*args));
	stats = calloc(cfg.threads, sizeof(*stats));
	if (!args || !stats) {
		fprintf(stderr, "sipreg-bench: out of memory\n");
		return 1;
	}
	lg_hist_init(&rep.tot.lat);
	getrusage(RUSAGE_SELF, &ru0);
	t0 = lg_now_ns();
	for (unsigned int i = 0; i < cfg.threads; i++) {
		args[i] = (struct lg_thread_args){
			.cfg = &cfg,
			.ops = ops,
			.tid = i,
			.quota = cfg.count ? cfg.count / cfg.threads + (i < cfg.count % cfg.threads)
					   : UINT64_MAX,
			.rate = cfg.rate / cfg.threads,
			.start_ns = t0,
			.stop = &stop_flag,
			.stats = &stats[i],
		};
		if (pthread_create(&th[i], NULL, lg_thread_main, &args[i]) != 0) {
			fprintf(stderr, "sipreg-bench: cannot start thread %u\n", i);
			stop_flag = 1;
			cfg.threads = i;
			failed = 1;
			break;
		}
	}
	for (unsigned int i = 0; i < cfg.threads; i++)
		pthread_join(th[i], NULL);
	t1 = lg_now_ns();
	getrusage(RUSAGE_SELF, &ru1);

	for (unsigned int i = 0; i < cfg.threads; i++) {
		if (args[i].err) {
			fprintf(stderr, "sipreg-bench: thread %u: %s\n", i,
				args[i].errmsg[0] ? args[i].errmsg : strerror(-args[i].err));
			failed = 1;
		}
		sum_stats(&rep.tot, &stats[i]);
	}
	rep.wall_s = (double)(t1 - t0) / 1e9;
	if (rep.tot.completed && rep.tot.last_done_ns > rep.tot.first_send_ns)
		rep.active_s = (double)(rep.tot.last_done_ns - rep.tot.first_send_ns) / 1e9;
	else
		rep.active_s = rep.wall_s;
	rep.rps = rep.active_s > 0 ? (double)rep.tot.completed / rep.active_s : 0;
	rep.ok_rps = rep.active_s > 0 ? (double)rep.tot.ok / rep.active_s : 0;
	rep.user_s = tv_s(ru1.ru_utime) - tv_s(ru0.ru_utime);
	rep.sys_s = tv_s(ru1.ru_stime) - tv_s(ru0.ru_stime);
	if (json)
		print_json(&rep);
	else
		print_text(&rep);
	free(args);
	free(stats);
	return failed ? 1 : 0;
}
