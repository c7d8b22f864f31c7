/* SPDX-License-Identifier: MIT */
/*
 * test_regsvc.c - the registrar service without the engine: regsvc on a
 * temporary database, its admin routes on a temporary socket, driven with
 * libcurl and with the built sipregctl (SIPREG_BUILD_ROOT): subscribers
 * (add, show, list, delete, duplicates, bad input, a 100,000-row import
 * timed, a bad row refused by line with nothing imported), REGISTER through
 * registrar_handle() (challenge answered with digest_answer) listed by
 * /bindings, the flusher writing bindings within flush_interval, a restart
 * on the same file (bindings back with less time left, one that expired
 * while down dropped, a pre-restart nonce answered stale), and the guard (a
 * suspension listed and cleared).
 *
 * RCU: regsvc registers the thread that creates it (this one) as an
 * urcu-qsbr reader and leaves it offline; the test goes online only around
 * registrar_handle() and stays offline while it waits on the admin thread.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <urcu/urcu-qsbr.h>

#include "sipreg/admin.h"
#include "sipreg/clock.h"
#include "sipreg/digest.h"
#include "sipreg/regsvc.h"
#include "sipreg/sip_write.h"
#include "sipreg/store.h"

static char dir[64], sock[128], db[128];
static struct config *cfg;
static struct regsvc *svc;
static struct admin *adm;

static void load_config(const char *extra)
{
	char text[2048];
	struct config_error err;

	snprintf(text, sizeof(text),
	         "[admin]\nsocket = %s\n"
	         "[database]\npath = %s\nflush_interval = 100\n"
	         "[sip]\nmin_expire = 20\nSS_ENDPOINT_REGISTER_RETRY = 3\n%s",
	         sock, db, extra);
	config_free(cfg);
	cfg = NULL;
	cr_assert_eq(config_load_string(&cfg, text, "test.conf", &err), 0, "%s", err.msg);
}

static void svc_up(void)
{
	char err[256] = "";

	cr_assert_eq(regsvc_new(&svc, cfg, err, sizeof(err)), 0, "regsvc_new: %s", err);
	cr_assert_eq(regsvc_start(svc), 0); /* the flusher, every 100 ms */
	cr_assert_eq(admin_new(&adm, sock, 0600), 0);
	cr_assert_eq(regsvc_admin_routes(svc, adm), 0);
	cr_assert_eq(admin_start(adm), 0);
}

static void svc_down(void)
{
	admin_free(adm);
	adm = NULL;
	if (svc) {
		regsvc_stop(svc);
		regsvc_free(svc);
		svc = NULL;
	}
}

static void setup(void)
{
	strcpy(dir, "/tmp/sipreg-test-regsvc-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(sock, sizeof(sock), "%s/admin.sock", dir);
	snprintf(db, sizeof(db), "%s/sipreg.db", dir);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	load_config("");
	svc_up();
}

static void teardown(void)
{
	char cmd[128];

	svc_down();
	config_free(cfg);
	cfg = NULL;
	curl_global_cleanup();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
}

TestSuite(regsvc, .init = setup, .fini = teardown, .timeout = 120);

/* ------------------------------------------------------------------------ */
/* HTTP and sipregctl                                                        */

struct buf {
	char *p;
	size_t len;
};

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct buf *b = arg;
	size_t n = size * nmemb;
	char *p = realloc(b->p, b->len + n + 1);

	if (!p)
		return 0;
	memcpy(p + b->len, ptr, n);
	b->p = p;
	b->len += n;
	p[b->len] = '\0';
	return n;
}

/* One request on the admin socket; returns the parsed reply (never NULL:
 * a reply that is not JSON fails the test) and sets *status. */
static json_t *http(const char *method, const char *path, const char *body, long *status)
{
	struct buf b = {NULL, 0};
	struct curl_slist *h = NULL;
	char url[4096];
	json_error_t jerr;
	json_t *j;
	CURL *c = curl_easy_init();
	CURLcode rc;

	cr_assert_not_null(c);
	snprintf(url, sizeof(url), "http://sipregd%s", path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, sock);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 100L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	if (body) {
		h = curl_slist_append(h, "Content-Type: application/json");
		h = curl_slist_append(h, "Expect:");
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
		                 (curl_off_t)strlen(body));
	}
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	rc = curl_easy_perform(c);
	cr_assert_eq(rc, CURLE_OK, "%s %s: %s", method, path, curl_easy_strerror(rc));
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	j = json_loadb(b.p ? b.p : "", b.len, 0, &jerr);
	cr_assert_not_null(j, "%s %s: reply is not JSON: %s", method, path,
	                   b.p ? b.p : "");
	free(b.p);
	return j;
}

/* Status of a request whose reply is not looked at further. */
static long http_status(const char *method, const char *path, const char *body)
{
	long st;

	json_decref(http(method, path, body, &st));
	return st;
}

/* Runs the built sipregctl -s SOCK args...; stdout and stderr into out;
 * returns the exit status. */
static int ctl(char *out, size_t cap, const char *const *args)
{
	const char *root = getenv("SIPREG_BUILD_ROOT");
	char exe[512];
	int pfd[2], status;
	size_t len = 0;
	ssize_t n;
	pid_t pid;

	cr_assert_not_null(root, "SIPREG_BUILD_ROOT is not set (run through meson test)");
	snprintf(exe, sizeof(exe), "%s/tools/sipregctl", root);
	cr_assert_eq(access(exe, X_OK), 0, "%s is not built", exe);
	cr_assert_eq(pipe(pfd), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		const char *argv[24] = {exe, "-s", sock};
		int i = 0;

		for (; args[i] && i < 20; i++)
			argv[i + 3] = args[i];
		dup2(pfd[1], 1);
		dup2(pfd[1], 2);
		close(pfd[0]);
		alarm(60);
		execv(exe, (char *const *)argv);
		_exit(127);
	}
	close(pfd[1]);
	while (len + 1 < cap && (n = read(pfd[0], out + len, cap - 1 - len)) > 0)
		len += (size_t)n;
	/* drain what did not fit, so the child never blocks on a full pipe */
	while (len + 1 >= cap && (n = read(pfd[0], (char[4096]){0}, 4096)) > 0)
		;
	out[len] = '\0';
	close(pfd[0]);
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status), "sipregctl did not exit normally");
	return WEXITSTATUS(status);
}

#define CTL(out, ...) ctl(out, sizeof(out), (const char *const[]){__VA_ARGS__, NULL})

static void add_sub(const char *user, const char *pw)
{
	char body[512];

	snprintf(body, sizeof(body),
	         "{\"username\": \"%s\", \"domain\": \"carrier.example\", \"password\": "
	         "\"%s\"}",
	         user, pw);
	cr_assert_eq(http_status("POST", "/subscribers", body), 201, "adding %s", user);
}

static size_t count_subscribers(void)
{
	long st;
	json_t *j = http("GET", "/subscribers", NULL, &st);
	size_t n;

	cr_assert_eq(st, 200);
	n = json_array_size(json_object_get(j, "subscribers"));
	json_decref(j);
	return n;
}

/* ------------------------------------------------------------------------ */
/* Subscribers                                                               */

Test(regsvc, subscribers_over_http)
{
	long st;
	json_t *j;

	add_sub("alice", "wonderland");
	j = http("GET", "/subscribers/alice@carrier.example", NULL, &st);
	cr_assert_eq(st, 200);
	cr_assert_str_eq(json_string_value(json_object_get(j, "username")), "alice");
	cr_assert_str_eq(json_string_value(json_object_get(j, "domain")),
	                 "carrier.example");
	cr_assert(json_is_true(json_object_get(j, "enabled")));
	cr_assert(json_is_true(json_object_get(j, "has_password")));
	cr_assert_null(json_object_get(j, "password"), "a secret is shown");
	json_decref(j);

	/* a duplicate is refused, replace overwrites */
	j = http("POST", "/subscribers",
	         "{\"username\": \"alice\", \"domain\": \"carrier.example\", "
	         "\"password\": \"other\"}",
	         &st);
	cr_assert_eq(st, 409);
	cr_assert_not_null(
	        strstr(json_string_value(json_object_get(j, "error")), "exists"));
	json_decref(j);
	cr_assert_eq(
	        http_status(
	                "POST", "/subscribers",
	                "{\"username\": \"alice\", \"domain\": \"carrier.example\", "
	                "\"ha1_md5\": \"0123456789abcdef0123456789abcdef\", "
	                "\"enabled\": false, \"max_contacts\": 3, \"replace\": true}"),
	        201);
	j = http("GET", "/subscribers/alice@carrier.example", NULL, &st);
	cr_assert_eq(st, 200);
	cr_assert(json_is_false(json_object_get(j, "enabled")));
	cr_assert_eq(json_integer_value(json_object_get(j, "max_contacts")), 3);
	cr_assert(json_is_false(json_object_get(j, "has_password")));
	cr_assert(json_is_true(json_object_get(j, "has_ha1_md5")));
	json_decref(j);

	/* bad input: 400, and nothing stored */
	static const char *const bad[] = {
	        "{\"username\": \"bob\", \"password\": \"x\"}",
	        "{\"username\": \"bob\", \"domain\": \"carrier.example\"}",
	        "{\"username\": \"b ob\", \"domain\": \"carrier.example\", \"password\": "
	        "\"x\"}",
	        "{\"username\": \"b@b\", \"domain\": \"carrier.example\", \"password\": "
	        "\"x\"}",
	        "{\"username\": \"bob\", \"domain\": \"carrier.example\", \"password\": "
	        "5}",
	        "{\"username\": \"bob\", \"domain\": \"carrier.example\", \"password\": "
	        "\"x\", "
	        "\"max_contacts\": -1}",
	        "{\"username\": \"bob\", \"domain\": \"carrier.example\", \"password\": "
	        "\"x\", "
	        "\"max_contacts\": 100000}",
	        "{\"username\": \"bob\", \"domain\": \"carrier.example\", \"password\": "
	        "\"x\", "
	        "\"enabled\": \"yes\"}",
	        "{\"username\": \"bob\", \"domain\": \"carrier.example\", \"ha1_md5\": "
	        "\"xyz\"}",
	        "{\"username\": \"bob\", \"domain\": \"carrier.example\", "
	        "\"ha1_sha256\": \"0123456789abcdef0123456789abcdef\"}",
	        "[1, 2]",
	        "{\"username\": \"bob\", \"domain\": \"carrier.exa",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(http_status("POST", "/subscribers", bad[i]), 400,
		             "accepted: %s", bad[i]);
	cr_assert_eq(http_status("GET", "/subscribers/bob@carrier.example", NULL), 404);
	cr_assert_eq(http_status("GET", "/subscribers/nodomain", NULL), 400);
	cr_assert_eq(count_subscribers(), 1);

	cr_assert_eq(http_status("DELETE", "/subscribers/alice@carrier.example", NULL),
	             200);
	cr_assert_eq(http_status("DELETE", "/subscribers/alice@carrier.example", NULL),
	             404);
	cr_assert_eq(http_status("GET", "/subscribers/alice@carrier.example", NULL), 404);
	cr_assert_eq(count_subscribers(), 0);
}

Test(regsvc, subscribers_with_sipregctl)
{
	char out[16384];
	json_t *j;

	cr_assert_eq(CTL(out, "subscriber", "add", "bob@carrier.example", "builder",
	                 "--max-contacts", "2"),
	             0, "%s", out);
	cr_assert_str_eq(out, "added bob@carrier.example: enabled, max_contacts 2\n");
	cr_assert_eq(CTL(out, "subscriber", "add", "carol@carrier.example", "--ha1-md5",
	                 "0123456789abcdef0123456789abcdef", "--disabled"),
	             0, "%s", out);
	cr_assert_str_eq(out,
	                 "added carol@carrier.example: disabled, max_contacts default\n");
	/* a password that starts with '-' after -- */
	cr_assert_eq(
	        CTL(out, "subscriber", "add", "dave@carrier.example", "--", "-secret-"),
	        0, "%s", out);

	/* refusals by the daemon: 1, with its reason */
	cr_assert_eq(CTL(out, "subscriber", "add", "bob@carrier.example", "x"), 1);
	cr_assert_not_null(strstr(out, "sipregd answered 409"), "%s", out);
	cr_assert_not_null(strstr(out, "bob@carrier.example exists"), "%s", out);
	cr_assert_eq(
	        CTL(out, "subscriber", "add", "bob@carrier.example", "x", "--replace"), 0,
	        "%s", out);
	cr_assert_str_eq(out,
	                 "stored bob@carrier.example: enabled, max_contacts default\n");
	cr_assert_eq(CTL(out, "subscriber", "add", "eve@carrier.example", "--ha1-sha256",
	                 "abc"),
	             1);
	cr_assert_not_null(strstr(out, "sipregd answered 400"), "%s", out);
	cr_assert_eq(CTL(out, "subscriber", "show", "nobody@carrier.example"), 1);
	cr_assert_not_null(strstr(out, "sipregd answered 404: no subscriber"), "%s", out);
	cr_assert_eq(CTL(out, "subscriber", "del", "nobody@carrier.example"), 1);

	/* bad usage: 2, nothing sent */
	cr_assert_eq(CTL(out, "subscriber", "add", "bob"), 2);
	cr_assert_eq(CTL(out, "subscriber", "add", "zed@carrier.example"), 2);
	cr_assert_not_null(strstr(out, "needs a PASSWORD"), "%s", out);
	cr_assert_eq(CTL(out, "subscriber", "add", "zed@carrier.example", "pw",
	                 "--max-contacts", "many"),
	             2);
	cr_assert_eq(
	        CTL(out, "subscriber", "add", "zed@carrier.example", "pw", "--bogus"), 2);
	cr_assert_eq(CTL(out, "subscriber", "add", "zed@carrier.example", "pw", "extra"),
	             2);
	cr_assert_eq(CTL(out, "subscriber", "frob"), 2);
	cr_assert_eq(CTL(out, "subscriber"), 2);
	cr_assert_eq(CTL(out, "subscriber", "show"), 2);
	cr_assert_eq(CTL(out, "subscriber", "list", "x"), 2);
	cr_assert_eq(CTL(out, "subscriber", "import"), 2);
	cr_assert_eq(CTL(out, "guard", "clear"), 2);
	cr_assert_eq(CTL(out, "bindings", "a@b", "c@d"), 2);
	cr_assert_eq(CTL(out, "subscriber", "show", "noat"), 2);
	cr_assert_eq(count_subscribers(), 3);

	/* the table */
	cr_assert_eq(CTL(out, "subscriber", "list"), 0, "%s", out);
	cr_assert_not_null(strstr(out, "SUBSCRIBER "), "%s", out);
	cr_assert_not_null(
	        strstr(out, "bob@carrier.example    yes      default       password\n"),
	        "%s", out);
	cr_assert_not_null(
	        strstr(out, "carol@carrier.example  no       default       ha1-md5\n"),
	        "%s", out);
	cr_assert_not_null(strstr(out, "\n3 subscribers\n"), "%s", out);
	cr_assert_eq(CTL(out, "subscriber", "list", "--json"), 0);
	j = json_loads(out, 0, NULL);
	cr_assert_not_null(j, "not JSON: %s", out);
	cr_assert_eq(json_array_size(json_object_get(j, "subscribers")), 3);
	json_decref(j);

	cr_assert_eq(CTL(out, "subscriber", "show", "carol@carrier.example"), 0, "%s",
	             out);
	cr_assert_not_null(strstr(out, "username:"), "%s", out);
	cr_assert_not_null(strstr(out, "enabled:        no\n"), "%s", out);
	cr_assert_eq(CTL(out, "subscriber", "show", "carol@carrier.example", "--json"),
	             0);
	j = json_loads(out, 0, NULL);
	cr_assert_not_null(j, "not JSON: %s", out);
	cr_assert(json_is_true(json_object_get(j, "has_ha1_md5")));
	json_decref(j);

	cr_assert_eq(CTL(out, "subscriber", "del", "carol@carrier.example"), 0, "%s",
	             out);
	cr_assert_str_eq(out, "deleted carol@carrier.example\n");
	cr_assert_eq(http_status("GET", "/subscribers/carol@carrier.example", NULL), 404);

	/* help lists every command */
	cr_assert_eq(CTL(out, "-h"), 0);
	static const char *const cmds[] = {"status",          "config",
	                                   "get PATH",        "subscriber add",
	                                   "subscriber del",  "subscriber list",
	                                   "subscriber show", "subscriber import",
	                                   "bindings",        "guard list",
	                                   "guard clear",     "--json",
	                                   "--ha1-md5",       "--ha1-sha256",
	                                   "--max-contacts",  "--disabled",
	                                   "--replace"};
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		cr_assert_not_null(strstr(out, cmds[i]), "help lacks %s", cmds[i]);
}

static double seconds_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

static char *csv_rows(size_t rows, const char *prefix, size_t bad_line, const char *bad)
{
	size_t cap = 64 + rows * 64, len;
	char *csv = malloc(cap);

	cr_assert_not_null(csv);
	len = (size_t)sprintf(csv, "username,domain,password\n");
	for (size_t i = 0; i < rows; i++) {
		/* line numbers: the header is line 1, row i is line i + 2 */
		if (i + 2 == bad_line)
			len += (size_t)snprintf(csv + len, cap - len, "%s\n", bad);
		else
			len += (size_t)snprintf(csv + len, cap - len,
			                        "%s%06zu,carrier.example,pw%zu\n", prefix,
			                        i, i);
	}
	return csv;
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	cr_assert_not_null(f);
	cr_assert_eq(fputs(text, f) >= 0, true);
	cr_assert_eq(fclose(f), 0);
}

Test(regsvc, import_100k_and_bad_rows)
{
	char *csv = csv_rows(100000, "u", 0, NULL), *body, out[8192], file[192];
	struct timespec t0;
	json_t *j, *o;
	long st;
	double secs;

	o = json_pack("{s:s}", "csv", csv);
	body = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	cr_assert_not_null(body);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	j = http("POST", "/subscribers/import", body, &st);
	secs = seconds_since(&t0);
	cr_assert_eq(st, 200, "import: %s", json_dumps(j, 0));
	cr_assert_eq(json_integer_value(json_object_get(j, "imported")), 100000);
	json_decref(j);
	free(body);
	free(csv);
	fprintf(stderr, "regsvc: imported 100000 subscribers in %.2f s (%.0f rows/s)\n",
	        secs, 100000 / secs);
	cr_assert_lt(secs, 30.0, "100,000 rows took %.1f s", secs);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	cr_assert_eq(count_subscribers(), 100000);
	fprintf(stderr, "regsvc: listed 100000 subscribers in %.2f s\n",
	        seconds_since(&t0));
	j = http("GET", "/subscribers/u099999@carrier.example", NULL, &st);
	cr_assert_eq(st, 200);
	json_decref(j);

	/* sipregctl import: a file with a bad row at line 5001 (two fields) is
	 * refused by line and nothing of it is imported */
	csv = csv_rows(10000, "v", 5001, "v_bad,carrier.example");
	snprintf(file, sizeof(file), "%s/bad.csv", dir);
	write_file(file, csv);
	free(csv);
	cr_assert_eq(CTL(out, "subscriber", "import", file), 1, "%s", out);
	cr_assert_not_null(strstr(out, "sipregd answered 400: line 5001:"), "%s", out);
	cr_assert_eq(http_status("GET", "/subscribers/v000000@carrier.example", NULL),
	             404);
	cr_assert_eq(count_subscribers(), 100000);

	/* a bad value (a space in a user name) at line 3 */
	write_file(file, "username,domain,password\nw1,carrier.example,a\nw "
	                 "2,carrier.example,b\n");
	cr_assert_eq(CTL(out, "subscriber", "import", file), 1, "%s", out);
	cr_assert_not_null(strstr(out, "line 3"), "%s", out);
	cr_assert_eq(http_status("GET", "/subscribers/w1@carrier.example", NULL), 404);

	/* the header is fixed */
	write_file(file, "user,domain,password\nw1,carrier.example,a\n");
	cr_assert_eq(CTL(out, "subscriber", "import", file), 1, "%s", out);
	cr_assert_not_null(strstr(out, "line 1"), "%s", out);

	/* a missing file, a NUL byte: refused before anything is sent */
	cr_assert_eq(CTL(out, "subscriber", "import", "/nonexistent/x.csv"), 1);
	cr_assert_not_null(strstr(out, "No such file"), "%s", out);
	{
		FILE *f = fopen(file, "w");

		cr_assert_not_null(f);
		fwrite("username,domain,password\nw1,c\0m,a\n", 1, 35, f);
		fclose(f);
	}
	cr_assert_eq(CTL(out, "subscriber", "import", file), 1);
	cr_assert_not_null(strstr(out, "NUL byte"), "%s", out);

	/* a good file, with a quoted password holding a comma */
	write_file(file, "username,domain,password\nw1,carrier.example,\"a,b\"\n"
	                 "w2,carrier.example,c\n");
	cr_assert_eq(CTL(out, "subscriber", "import", file), 0, "%s", out);
	cr_assert_not_null(strstr(out, "imported 2 subscribers from"), "%s", out);
	cr_assert_eq(count_subscribers(), 100002);
	cr_assert_eq(CTL(out, "subscriber", "import", file, "--json"), 0, "%s", out);

	/* over the admin API's 32 MiB body limit: refused by sipregctl with the
	 * limit, before anything is sent */
	{
		FILE *f = fopen(file, "w");

		cr_assert_not_null(f);
		fputs("username,domain,password\n", f);
		for (int i = 0; i < 800000; i++)
			fprintf(f, "big%07d,carrier.example,password-%07d\n", i, i);
		cr_assert_eq(fclose(f), 0);
	}
	cr_assert_eq(CTL(out, "subscriber", "import", file), 1);
	cr_assert_not_null(strstr(out, "too large for one import"), "%s", out);
	cr_assert_not_null(strstr(out, "32 MiB"), "%s", out);
	cr_assert_eq(http_status("GET", "/subscribers/big0000000@carrier.example", NULL),
	             404);

	/* the route itself: no csv member is a 400 */
	cr_assert_eq(http_status("POST", "/subscribers/import", "{\"text\": \"x\"}"),
	             400);
}

/* ------------------------------------------------------------------------ */
/* REGISTER through the service's registrar                                  */

struct resp {
	char buf[8192];
	struct sip_hdr hdrs[64];
	struct sip_msg m;
	unsigned status;
};

struct ua {
	const char *user;
	char call_id[64];
	uint32_t cseq;
	unsigned expires;
	char auth[1024];  /* the Authorization line, "" for none */
	int64_t shift_ms; /* the request is handled this much in the past */
	unsigned port;    /* the Contact's port, 5070 when 0 */
};

static struct ua ua_new(const char *user, unsigned expires)
{
	struct ua u = {.user = user, .cseq = 1, .expires = expires};

	snprintf(u.call_id, sizeof(u.call_id), "cid-%s-%ld@127.0.0.1", user,
	         (long)getpid());
	return u;
}

/* One REGISTER of u from 127.0.0.1:5070 (Via and Contact say the same: not
 * NAT); returns the status, 0 when dropped. */
static unsigned send_register(struct ua *u, struct resp *r)
{
	struct sockaddr_in src = {.sin_family = AF_INET, .sin_port = htons(5070)};
	struct registrar_src s = {.addr = (struct sockaddr *)&src, .transport = LOC_UDP};
	struct registrar_stats stats = {0};
	struct registrar_result res;
	struct sip_hdr hdrs[64];
	struct sip_msg m;
	struct sip_err err;
	char req[8192];
	int n, rc;

	inet_pton(AF_INET, "127.0.0.1", &src.sin_addr);
	n = snprintf(req, sizeof(req),
	             "REGISTER sip:carrier.example SIP/2.0\r\n"
	             "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-%u-%s\r\n"
	             "Max-Forwards: 70\r\n"
	             "From: <sip:%s@carrier.example>;tag=ft-%s\r\n"
	             "To: <sip:%s@carrier.example>\r\n"
	             "Call-ID: %s\r\n"
	             "CSeq: %u REGISTER\r\n"
	             "Contact: <sip:%s@127.0.0.1:%u>\r\n"
	             "Expires: %u\r\n"
	             "User-Agent: test_regsvc\r\n"
	             "%s%s"
	             "Content-Length: 0\r\n\r\n",
	             u->cseq, u->user, u->user, u->user, u->user, u->call_id, u->cseq,
	             u->user, u->port ? u->port : 5070, u->expires, u->auth,
	             u->auth[0] ? "\r\n" : "");
	cr_assert_lt(n, (int)sizeof(req));
	u->cseq++;
	cr_assert_gt(
	        sip_msg_parse(&m, req, (size_t)n, hdrs, 64, SIP_PARSE_DATAGRAM, &err), 0,
	        "%s", err.reason);
	cr_assert_eq(sip_msg_validate(&m, &err), 0, "%s", err.reason);
	urcu_qsbr_thread_online();
	rc = registrar_handle(
	        regsvc_registrar(svc), &m, &s, clock_now_ms() - (uint64_t)u->shift_ms,
	        time(NULL) - u->shift_ms / 1000, r->buf, sizeof(r->buf), &res, &stats);
	urcu_qsbr_thread_offline();
	cr_assert_eq(rc, 0);
	if (res.status == 0)
		return r->status = 0;
	cr_assert_gt(sip_msg_parse(&r->m, r->buf, res.len, r->hdrs, 64,
	                           SIP_PARSE_DATAGRAM, &err),
	             0, "response does not parse: %s", err.reason);
	return r->status = res.status;
}

/* Answers r's MD5 challenge with pw into u->auth. */
static void answer(struct ua *u, const struct resp *r, const char *pw)
{
	struct sip_auth ch;
	struct sip_err err;
	struct sip_write w;
	int n;

	for (const struct sip_hdr *h = sip_msg_hdr(&r->m, SIP_HDR_WWW_AUTHENTICATE); h;
	     h = sip_msg_hdr_next(&r->m, h)) {
		cr_assert_eq(sip_auth_parse(&ch, h->value, &err), 0, "%s", err.reason);
		if (ch.alg != SIP_DIGEST_MD5)
			continue;
		n = snprintf(u->auth, sizeof(u->auth), "Authorization: ");
		sip_write_init(&w, u->auth + n, sizeof(u->auth) - (size_t)n - 1);
		cr_assert_eq(
		        digest_answer(&w, &ch, sip_str_make(u->user, strlen(u->user)),
		                      sip_str_make(pw, strlen(pw)), SIP_STR("REGISTER"),
		                      SIP_STR("sip:carrier.example"), SIP_STR(""),
		                      SIP_STR("0a4f113b"), 1),
		        0);
		cr_assert_gt(sip_write_result(&w), 0);
		u->auth[(size_t)n + (size_t)sip_write_result(&w)] = '\0';
		return;
	}
	cr_assert_fail("no MD5 challenge in the %u", r->status);
}

/* Challenge, then credentials: the final status. */
static unsigned do_register(struct ua *u, const char *pw)
{
	static struct resp r;

	u->auth[0] = '\0';
	cr_assert_eq(send_register(u, &r), 401);
	answer(u, &r, pw);
	return send_register(u, &r);
}

/* The bindings of aor from GET /bindings/AOR (caller decrefs). */
static json_t *bindings_of(const char *aor)
{
	char path[256];
	long st;
	json_t *j, *a;

	snprintf(path, sizeof(path), "/bindings/%s", aor);
	j = http("GET", path, NULL, &st);
	cr_assert_eq(st, 200);
	a = json_incref(json_object_get(j, "bindings"));
	json_decref(j);
	cr_assert(json_is_array(a));
	return a;
}

Test(regsvc, register_then_bindings)
{
	struct ua u = ua_new("alice", 600);
	char out[8192];
	json_t *a, *b;
	long st;

	add_sub("alice", "wonderland");
	add_sub("bob", "builder");
	cr_assert_eq(do_register(&u, "wonderland"), 200);

	a = bindings_of("alice@carrier.example");
	cr_assert_eq(json_array_size(a), 1);
	b = json_array_get(a, 0);
	cr_assert_str_eq(json_string_value(json_object_get(b, "contact")),
	                 "sip:alice@127.0.0.1:5070");
	cr_assert_str_eq(json_string_value(json_object_get(b, "received")),
	                 "127.0.0.1:5070");
	cr_assert_str_eq(json_string_value(json_object_get(b, "transport")), "udp");
	cr_assert(json_is_false(json_object_get(b, "nat")));
	cr_assert_geq(json_integer_value(json_object_get(b, "expires")), 598);
	cr_assert_leq(json_integer_value(json_object_get(b, "expires")), 600);
	json_decref(a);
	/* the whole table, and the ?aor= form */
	a = http("GET", "/bindings", NULL, &st);
	cr_assert_eq(st, 200);
	cr_assert_eq(json_array_size(json_object_get(a, "bindings")), 1);
	json_decref(a);
	a = http("GET", "/bindings?aor=bob@carrier.example", NULL, &st);
	cr_assert_eq(json_array_size(json_object_get(a, "bindings")), 0);
	json_decref(a);

	cr_assert_eq(CTL(out, "bindings"), 0, "%s", out);
	cr_assert_not_null(strstr(out, "AOR "), "%s", out);
	cr_assert_not_null(
	        strstr(out, "alice@carrier.example  sip:alice@127.0.0.1:5070  "), "%s",
	        out);
	cr_assert_not_null(strstr(out, "127.0.0.1:5070  udp        no   test_regsvc\n"),
	                   "%s", out);
	cr_assert_not_null(strstr(out, "\n1 binding\n"), "%s", out);
	cr_assert_eq(CTL(out, "bindings", "alice@carrier.example", "--json"), 0, "%s",
	             out);
	a = json_loads(out, 0, NULL);
	cr_assert_not_null(a, "not JSON: %s", out);
	cr_assert_eq(json_array_size(json_object_get(a, "bindings")), 1);
	json_decref(a);
	cr_assert_eq(CTL(out, "bindings", "bob@carrier.example"), 0, "%s", out);
	cr_assert_str_eq(out, "0 bindings\n");

	/* removal (Expires: 0) empties the AOR */
	u.expires = 0;
	cr_assert_eq(do_register(&u, "wonderland"), 200);
	a = bindings_of("alice@carrier.example");
	cr_assert_eq(json_array_size(a), 0);
	json_decref(a);
}

static int count_stored(void *arg, const struct store_binding *b)
{
	(void)b;
	(*(int *)arg)++;
	return 0;
}

Test(regsvc, restart_keeps_bindings, .timeout = 60)
{
	struct ua alice = ua_new("alice", 3600), bob = ua_new("bob", 20);
	struct ua carol = ua_new("carol", 3600);
	static struct resp r;
	struct store *st;
	char err[256];
	json_t *a;
	json_int_t left;
	int stored = 0;

	add_sub("alice", "wonderland");
	add_sub("bob", "builder");
	add_sub("carol", "c4r0l");
	cr_assert_eq(do_register(&alice, "wonderland"), 200);
	/* bob registered 19 s ago for 20 s: due 1 s from now */
	bob.shift_ms = 19000;
	cr_assert_eq(do_register(&bob, "builder"), 200);
	a = bindings_of("bob@carrier.example");
	cr_assert_eq(json_array_size(a), 1);
	cr_assert_leq(
	        json_integer_value(json_object_get(json_array_get(a, 0), "expires")), 1);
	json_decref(a);
	/* carol is challenged before the restart and answers after it */
	cr_assert_eq(send_register(&carol, &r), 401);
	answer(&carol, &r, "c4r0l");

	sleep(2);
	/* the flusher wrote both within flush_interval (100 ms), before any stop:
	 * what a kill -9 would leave */
	cr_assert_eq(store_open(&st, db, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(store_binding_each(st, count_stored, &stored), 0);
	store_close(st);
	cr_assert_eq(stored, 2, "%d bindings in the database after 2 s, want 2", stored);
	stored = 0;
	admin_free(adm);
	adm = NULL;
	regsvc_stop(svc);
	regsvc_free(svc);
	svc = NULL;
	sleep(1);
	svc_up();

	a = bindings_of("alice@carrier.example");
	cr_assert_eq(json_array_size(a), 1,
	             "alice's binding did not survive the restart");
	left = json_integer_value(json_object_get(json_array_get(a, 0), "expires"));
	cr_assert_lt(left, 3600, "expires not smaller after 3 s: %lld", (long long)left);
	cr_assert_geq(left, 3590, "expires %lld", (long long)left);
	json_decref(a);
	a = bindings_of("bob@carrier.example");
	cr_assert_eq(json_array_size(a), 0, "a binding that expired while down is back");
	json_decref(a);
	/* and it is gone from the database too */
	cr_assert_eq(store_open(&st, db, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(store_binding_each(st, count_stored, &stored), 0);
	store_close(st);
	cr_assert_eq(stored, 1, "%d bindings stored, want alice's only", stored);

	/* subscribers came back; a nonce from before the restart is ours (the
	 * secret is kept) but its replay slot is gone: stale=true, not a
	 * failure, and the new challenge is answered */
	cr_assert_eq(count_subscribers(), 3);
	cr_assert_eq(send_register(&carol, &r), 401);
	{
		const struct sip_hdr *h = sip_msg_hdr(&r.m, SIP_HDR_WWW_AUTHENTICATE);

		cr_assert_not_null(h);
		cr_assert_not_null(memmem(h->value.p, h->value.len, "stale=true", 10),
		                   "a pre-restart nonce is not answered stale: %.*s",
		                   (int)h->value.len, h->value.p);
	}
	answer(&carol, &r, "c4r0l");
	cr_assert_eq(send_register(&carol, &r), 200);
	a = bindings_of("carol@carrier.example");
	cr_assert_eq(json_array_size(a), 1);
	json_decref(a);
}

/* The contacts of aor as stored, sorted and joined with spaces. */
struct stored_of {
	const char *aor;
	char list[8][STORE_URI_MAX];
	int n;
};

static int collect_stored(void *arg, const struct store_binding *b)
{
	struct stored_of *o = arg;

	if (strcmp(b->aor, o->aor) == 0 && o->n < 8)
		snprintf(o->list[o->n++], sizeof(o->list[0]), "%s", b->contact);
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* After the flusher's next turns, the database holds exactly the contacts
 * the registrar has in memory for aor; returns how many. */
static int stored_matches_memory(const char *aor)
{
	struct stored_of o = {.aor = aor};
	char mem[8][STORE_URI_MAX];
	struct store *st;
	char err[256];
	json_t *a;
	size_t n;

	usleep(400 * 1000); /* flush_interval = 100 ms */
	cr_assert_eq(store_open(&st, db, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(store_binding_each(st, collect_stored, &o), 0);
	store_close(st);
	a = bindings_of(aor);
	n = json_array_size(a);
	cr_assert_leq(n, 8);
	for (size_t i = 0; i < n; i++)
		snprintf(mem[i], sizeof(mem[0]), "%s",
			 json_string_value(json_object_get(json_array_get(a, i), "contact")));
	json_decref(a);
	cr_assert_eq((size_t)o.n, n, "%d contacts stored, %zu in memory", o.n, n);
	qsort(o.list, (size_t)o.n, sizeof(o.list[0]), cmp_str);
	qsort(mem, n, sizeof(mem[0]), cmp_str);
	for (size_t i = 0; i < n; i++)
		cr_assert_str_eq(o.list[i], mem[i]);
	return o.n;
}

/* The flusher deletes an AOR's stored bindings only when one was dropped
 * (otherwise it puts over them): whatever the sequence, the database holds
 * what is in memory. */
Test(regsvc, store_follows_added_removed_and_refreshed_contacts, .timeout = 60)
{
	struct ua a = ua_new("alice", 3600);

	add_sub("alice", "wonderland");
	a.port = 5071;
	cr_assert_eq(do_register(&a, "wonderland"), 200);
	cr_assert_eq(stored_matches_memory("alice@carrier.example"), 1);
	a.port = 5072; /* a second contact (or, with a limit of one, a replacement) */
	cr_assert_eq(do_register(&a, "wonderland"), 200);
	stored_matches_memory("alice@carrier.example");
	a.port = 5073;
	cr_assert_eq(do_register(&a, "wonderland"), 200);
	stored_matches_memory("alice@carrier.example");
	a.port = 5072; /* removed */
	a.expires = 0;
	cr_assert_eq(do_register(&a, "wonderland"), 200);
	stored_matches_memory("alice@carrier.example");
	/* a new Call-ID for a contact still there: a put over the stored row */
	snprintf(a.call_id, sizeof(a.call_id), "cid-alice-2-%ld@127.0.0.1", (long)getpid());
	a.cseq = 1;
	a.expires = 3600;
	a.port = 5073;
	cr_assert_eq(do_register(&a, "wonderland"), 200);
	stored_matches_memory("alice@carrier.example");
	/* every contact removed */
	a.port = 5071;
	a.expires = 0;
	cr_assert_eq(do_register(&a, "wonderland"), 200);
	a.port = 5073;
	cr_assert_eq(do_register(&a, "wonderland"), 200);
	cr_assert_eq(stored_matches_memory("alice@carrier.example"), 0);
}

Test(regsvc, guard_list_and_clear)
{
	struct ua u = ua_new("alice", 600);
	static struct resp r;
	char out[8192];
	json_t *j, *e;
	long st;

	add_sub("alice", "wonderland");
	/* three wrong passwords (SS_ENDPOINT_REGISTER_RETRY = 3) */
	cr_assert_eq(send_register(&u, &r), 401);
	for (int i = 0; i < 3; i++) {
		answer(&u, &r, "wrong");
		cr_assert_eq(send_register(&u, &r), 401, "wrong password %d", i + 1);
	}
	/* suspended: the right password is refused */
	answer(&u, &r, "wonderland");
	cr_assert_eq(send_register(&u, &r), 403);

	j = http("GET", "/guard", NULL, &st);
	cr_assert_eq(st, 200);
	e = NULL;
	for (size_t i = 0; i < json_array_size(json_object_get(j, "entries")); i++) {
		json_t *x = json_array_get(json_object_get(j, "entries"), i);

		if (strcmp(json_string_value(json_object_get(x, "key")),
		           "alice@carrier.example@127.0.0.1") == 0)
			e = x;
		/* the address counts the same failures, below its own limit */
		if (strcmp(json_string_value(json_object_get(x, "key")), "127.0.0.1") ==
		    0) {
			cr_assert_eq(json_integer_value(json_object_get(x, "failures")),
			             3);
			cr_assert(json_is_false(json_object_get(x, "suspended")));
		}
	}
	cr_assert_not_null(e, "no alice@carrier.example@127.0.0.1 in %s",
	                   json_dumps(j, 0));
	cr_assert_str_eq(json_string_value(json_object_get(e, "kind")), "endpoint");
	cr_assert_str_eq(json_string_value(json_object_get(e, "account")),
	                 "alice@carrier.example");
	cr_assert(json_is_true(json_object_get(e, "suspended")));
	cr_assert_gt(json_integer_value(json_object_get(e, "suspended_for")), 170);
	json_decref(j);

	cr_assert_eq(CTL(out, "guard", "list"), 0, "%s", out);
	cr_assert_not_null(strstr(out, "KEY "), "%s", out);
	cr_assert_not_null(strstr(out, "alice@carrier.example@127.0.0.1  endpoint  "),
	                   "%s", out);
	cr_assert_not_null(strstr(out, "yes, 1"), "%s", out);
	cr_assert_eq(CTL(out, "guard", "list", "--json"), 0, "%s", out);
	j = json_loads(out, 0, NULL);
	cr_assert_not_null(j, "not JSON: %s", out);
	cr_assert_geq(json_array_size(json_object_get(j, "entries")), 1);
	json_decref(j);

	/* refusals: not an address, no such entry */
	cr_assert_eq(CTL(out, "guard", "clear", "nonsense"), 1);
	cr_assert_not_null(strstr(out, "sipregd answered 400"), "%s", out);
	cr_assert_eq(CTL(out, "guard", "clear", "bob@carrier.example@127.0.0.1"), 1);
	cr_assert_not_null(strstr(out, "sipregd answered 404"), "%s", out);

	cr_assert_eq(CTL(out, "guard", "clear", "alice@carrier.example@127.0.0.1"), 0,
	             "%s", out);
	cr_assert_str_eq(out, "cleared alice@carrier.example@127.0.0.1\n");
	cr_assert_eq(CTL(out, "guard", "clear", "alice@carrier.example@127.0.0.1"), 1,
	             "%s", out);
	/* the address entry is cleared by its ADDRESS key */
	cr_assert_eq(CTL(out, "guard", "clear", "127.0.0.1"), 0, "%s", out);

	/* lifted: the right password registers */
	u.auth[0] = '\0';
	cr_assert_eq(send_register(&u, &r), 401);
	answer(&u, &r, "wonderland");
	cr_assert_eq(send_register(&u, &r), 200);
	j = bindings_of("alice@carrier.example");
	cr_assert_eq(json_array_size(j), 1);
	json_decref(j);
}
