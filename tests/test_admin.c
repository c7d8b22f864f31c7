/* SPDX-License-Identifier: MIT */
/*
 * test_admin.c - the admin API on a temporary Unix socket, queried with
 * libcurl: /status with its provider, the router (exact and prefix routes,
 * 404, 405, bodies, 400, 413, handler errors), the socket's mode, stale and
 * live sockets, and sipregctl against it (human and --json output, and its
 * message when no daemon runs).
 */
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sipreg/admin.h"

static char dir[64];
static char sock[128];

static void setup(void)
{
	strcpy(dir, "/tmp/sipreg-test-admin-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(sock, sizeof(sock), "%s/admin.sock", dir);
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
	curl_global_cleanup();
}

TestSuite(admin, .init = setup, .fini = teardown, .timeout = 30);

struct reply {
	long status;
	char body[65536];
	size_t len;
	char allow[128];
};

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
	struct reply *r = arg;
	size_t len = size * n;

	if (r->len + len >= sizeof(r->body))
		return 0;
	memcpy(r->body + r->len, p, len);
	r->len += len;
	r->body[r->len] = '\0';
	return len;
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
	struct reply *r = arg;
	size_t len = size * n;

	if (len > 7 && strncasecmp(p, "Allow: ", 7) == 0)
		snprintf(r->allow, sizeof(r->allow), "%.*s", (int)(len - 9), p + 7);
	return len;
}

/* A request over the test socket; returns the status (-1: no connection). */
static long request(const char *method, const char *path, const char *body,
                    struct reply *r)
{
	char url[256];
	CURL *c = curl_easy_init();
	CURLcode rc;

	memset(r, 0, sizeof(*r));
	snprintf(url, sizeof(url), "http://localhost%s", path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, sock);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
	if (body) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	}
	rc = curl_easy_perform(c);
	if (rc == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	else
		r->status = -1;
	curl_easy_cleanup(c);
	return r->status;
}

static json_t *parse(const struct reply *r)
{
	json_error_t e;
	json_t *j = json_loads(r->body, 0, &e);

	cr_assert_not_null(j, "not JSON (%s): %s", e.text, r->body);
	return j;
}

static int status_provider(json_t *st, void *arg)
{
	int *calls = arg;

	(*calls)++;
	json_object_set_new(st, "workers", json_integer(2));
	json_object_set_new(
	        st, "listeners",
	        json_pack("[s,s]", "udp:127.0.0.1:5060", "tcp:127.0.0.1:5060"));
	json_object_set_new(
	        st, "counters",
	        json_pack("{s:i,s:i}", "requests_in", 41 + *calls, "responses_out", 7));
	return 0;
}

static struct admin *start(int *calls)
{
	struct admin *adm;

	cr_assert_eq(admin_new(&adm, sock, 0600), 0);
	if (calls)
		cr_assert_eq(admin_set_status(adm, status_provider, calls), 0);
	return adm;
}

Test(admin, status_with_provider)
{
	int calls = 0;
	struct admin *adm = start(&calls);
	struct reply r;
	json_t *j;

	cr_assert_eq(admin_start(adm), 0);
	cr_assert_eq(request("GET", "/status", NULL, &r), 200, "%s", r.body);
	j = parse(&r);
	cr_assert_eq(calls, 1);
	cr_assert_str_eq(json_string_value(json_object_get(j, "version")), "0.1.0");
	cr_assert_eq(json_integer_value(json_object_get(j, "pid")), getpid());
	cr_assert(json_is_integer(json_object_get(j, "uptime_s")));
	cr_assert_lt(json_integer_value(json_object_get(j, "uptime_s")), 5);
	cr_assert_eq(json_integer_value(json_object_get(j, "workers")), 2);
	cr_assert_eq(json_array_size(json_object_get(j, "listeners")), 2);
	cr_assert_eq(json_integer_value(json_object_get(json_object_get(j, "counters"),
	                                                "requests_in")),
	             42);
	json_decref(j);
	/* the provider runs per request */
	cr_assert_eq(request("GET", "/status", NULL, &r), 200);
	cr_assert_eq(calls, 2);
	admin_free(adm);
}

Test(admin, socket_mode_and_removal)
{
	struct admin *adm;
	struct stat st;

	cr_assert_eq(admin_new(&adm, sock, 0640), 0);
	cr_assert_eq(admin_start(adm), 0);
	cr_assert_eq(lstat(sock, &st), 0);
	cr_assert(S_ISSOCK(st.st_mode));
	cr_assert_eq(st.st_mode & 0777, 0640, "mode %o", st.st_mode & 0777);
	cr_assert_eq(admin_start(adm), -EALREADY);
	admin_stop(adm);
	cr_assert_eq(lstat(sock, &st), -1, "socket left behind");
	cr_assert_eq(request("GET", "/status", NULL, &(struct reply){0}), -1);
	admin_free(adm);

	/* the default mode 0600 */
	adm = start(NULL);
	cr_assert_eq(admin_start(adm), 0);
	cr_assert_eq(lstat(sock, &st), 0);
	cr_assert_eq(st.st_mode & 0777, 0600);
	admin_free(adm);
}

Test(admin, creates_missing_parent_dir)
{
	struct admin *adm;
	struct reply r;

	snprintf(sock, sizeof(sock), "%s/run/admin.sock", dir);
	cr_assert_eq(admin_new(&adm, sock, 0600), 0);
	cr_assert_eq(admin_start(adm), 0);
	cr_assert_eq(request("GET", "/status", NULL, &r), 200);
	admin_free(adm);
}

Test(admin, stale_live_and_foreign_paths)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct admin *a, *b;
	struct reply r;
	int fd;

	/* a stale socket: bound, then its process "died" (closed, not unlinked) */
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	strcpy(sa.sun_path, sock);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	a = start(NULL);
	cr_assert_eq(admin_start(a), 0, "stale socket not replaced");
	cr_assert_eq(request("GET", "/status", NULL, &r), 200);

	/* a second instance must not steal a live socket */
	b = start(NULL);
	cr_assert_eq(admin_start(b), -EADDRINUSE);
	admin_free(b);
	cr_assert_eq(request("GET", "/status", NULL, &r), 200, "live socket was removed");
	admin_free(a);

	/* a regular file at the path is never deleted */
	fd = open(sock, O_CREAT | O_WRONLY, 0600);
	close(fd);
	a = start(NULL);
	cr_assert_eq(admin_start(a), -EEXIST);
	admin_free(a);
	cr_assert_eq(access(sock, F_OK), 0);
}

Test(admin, bad_arguments)
{
	struct admin *adm;
	char longp[200];

	memset(longp, 'a', sizeof(longp) - 1);
	longp[0] = '/';
	longp[sizeof(longp) - 1] = '\0';
	cr_assert_eq(admin_new(&adm, longp, 0600), -ENAMETOOLONG);
	cr_assert_eq(admin_new(&adm, "", 0600), -EINVAL);
	cr_assert_eq(admin_new(&adm, sock, 01000), -EINVAL);
	snprintf(sock, sizeof(sock), "%s/no/such/dir/admin.sock", dir);
	cr_assert_eq(admin_new(&adm, sock, 0600), 0);
	cr_assert_eq(admin_start(adm), -ENOENT);
	admin_free(adm);
}

/* Test routes */

static int echo(const struct admin_request *req, json_t **reply, void *arg)
{
	const char *q = admin_request_arg(req, "q");

	*reply = json_pack("{s:s, s:s, s:s, s:s, s:O?}", "tag", (const char *)arg,
	                   "method", req->method, "path", req->path, "rest", req->rest,
	                   "body", req->body);
	if (q)
		json_object_set_new(*reply, "q", json_string(q));
	return 200;
}

static int fails(const struct admin_request *req, json_t **reply, void *arg)
{
	(void)req;
	(void)arg;
	*reply = NULL;
	return -ENOSPC;
}

static int not_found(const struct admin_request *req, json_t **reply, void *arg)
{
	(void)arg;
	*reply = admin_error("no trunk %s", req->rest);
	return 404;
}

static int bad_status(const struct admin_request *req, json_t **reply, void *arg)
{
	(void)req;
	(void)arg;
	*reply = json_object();
	return 1000;
}

Test(admin, router)
{
	struct admin *adm = start(NULL);
	struct reply r;
	json_t *j;

	cr_assert_eq(admin_route_add(adm, "GET", "/trunks", 0, echo, "list"), 0);
	cr_assert_eq(
	        admin_route_add(adm, "GET", "/trunks/", ADMIN_ROUTE_PREFIX, echo, "one"),
	        0);
	cr_assert_eq(admin_route_add(adm, "POST", "/trunks/", ADMIN_ROUTE_PREFIX, echo,
	                             "post"),
	             0);
	cr_assert_eq(admin_route_add(adm, "DELETE", "/trunks/", ADMIN_ROUTE_PREFIX,
	                             not_found, NULL),
	             0);
	cr_assert_eq(admin_route_add(adm, "POST", "/import", ADMIN_ROUTE_LARGE_BODY, echo,
	                             "import"),
	             0);
	cr_assert_eq(admin_route_add(adm, "GET", "/fail", 0, fails, NULL), 0);
	cr_assert_eq(admin_route_add(adm, "GET", "/weird", 0, bad_status, NULL), 0);
	cr_assert_eq(admin_route_add(adm, "GET", "/trunks", 0, echo, "dup"), -EEXIST);
	cr_assert_eq(admin_route_add(adm, "GET", "trunks", 0, echo, NULL), -EINVAL);
	cr_assert_eq(admin_route_add(adm, "GET", "/x", 0, NULL, NULL), -EINVAL);
	cr_assert_eq(admin_start(adm), 0);
	cr_assert_eq(admin_route_add(adm, "GET", "/late", 0, echo, NULL), -EBUSY);
	cr_assert_eq(admin_set_status(adm, NULL, NULL), -EBUSY);

	cr_assert_eq(request("GET", "/trunks", NULL, &r), 200);
	j = parse(&r);
	cr_assert_str_eq(json_string_value(json_object_get(j, "tag")), "list");
	cr_assert_str_eq(json_string_value(json_object_get(j, "rest")), "");
	json_decref(j);

	cr_assert_eq(request("GET", "/trunks/carrier-a?q=x%20y", NULL, &r), 200);
	j = parse(&r);
	cr_assert_str_eq(json_string_value(json_object_get(j, "tag")), "one");
	cr_assert_str_eq(json_string_value(json_object_get(j, "rest")), "carrier-a");
	cr_assert_str_eq(json_string_value(json_object_get(j, "q")), "x y");
	json_decref(j);

	cr_assert_eq(request("POST", "/trunks/t1", "{\"enabled\": false}", &r), 200, "%s",
	             r.body);
	j = parse(&r);
	cr_assert_str_eq(json_string_value(json_object_get(j, "tag")), "post");
	cr_assert(json_is_false(json_object_get(json_object_get(j, "body"), "enabled")));
	json_decref(j);

	cr_assert_eq(request("POST", "/trunks/t1", "{not json", &r), 400);
	j = parse(&r);
	cr_assert_not_null(strstr(json_string_value(json_object_get(j, "error")),
	                          "body is not JSON"));
	json_decref(j);

	{
		char *big = malloc(ADMIN_BODY_MAX + 100);

		memset(big, ' ', ADMIN_BODY_MAX + 99);
		big[0] = '{';
		big[ADMIN_BODY_MAX + 98] = '}';
		big[ADMIN_BODY_MAX + 99] = '\0';
		cr_assert_eq(request("POST", "/trunks/t1", big, &r), 413);
		/* a route flagged for large bodies takes it */
		cr_assert_eq(request("POST", "/import", big, &r), 200);
		free(big);
	}

	cr_assert_eq(request("DELETE", "/trunks/t9", NULL, &r), 404);
	j = parse(&r);
	cr_assert_str_eq(json_string_value(json_object_get(j, "error")), "no trunk t9");
	json_decref(j);

	cr_assert_eq(request("GET", "/nope", NULL, &r), 404);
	j = parse(&r);
	cr_assert_str_eq(json_string_value(json_object_get(j, "error")),
	                 "no such path: /nope");
	json_decref(j);

	cr_assert_eq(request("PUT", "/trunks/t1", NULL, &r), 405);
	cr_assert_str_eq(r.allow, "GET, POST, DELETE");
	cr_assert_eq(request("POST", "/status", "{}", &r), 405);
	cr_assert_str_eq(r.allow, "GET");

	cr_assert_eq(request("GET", "/fail", NULL, &r), 500);
	j = parse(&r);
	cr_assert_str_eq(json_string_value(json_object_get(j, "error")),
	                 strerror(ENOSPC));
	json_decref(j);
	cr_assert_eq(request("GET", "/weird", NULL, &r), 500);

	cr_assert_eq(request("GET", "/", NULL, &r), 200);
	j = parse(&r);
	cr_assert_eq(json_array_size(json_object_get(j, "routes")), 9, "%s", r.body);
	json_decref(j);
	admin_free(adm);
}

/* Runs sipregctl with args; its stdout and stderr go to out; returns the exit
 * status. */
static int run_ctl(const char *const *args, char *out, size_t cap)
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
		const char *argv[16] = {exe};
		int i = 0;

		for (; args[i] && i < 14; i++)
			argv[i + 1] = args[i];
		dup2(pfd[1], 1);
		dup2(pfd[1], 2);
		close(pfd[0]);
		execv(exe, (char *const *)argv);
		_exit(127);
	}
	close(pfd[1]);
	while (len + 1 < cap && (n = read(pfd[0], out + len, cap - 1 - len)) > 0)
		len += (size_t)n;
	out[len] = '\0';
	close(pfd[0]);
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status));
	return WEXITSTATUS(status);
}

Test(admin, sipregctl_status)
{
	int calls = 0;
	struct admin *adm = start(&calls);
	char out[8192];
	json_t *j;

	cr_assert_eq(admin_start(adm), 0);
	cr_assert_eq(
	        run_ctl((const char *[]){"-s", sock, "status", NULL}, out, sizeof(out)),
	        0, "%s", out);
	cr_assert_not_null(strstr(out, "version:"), "%s", out);
	cr_assert_not_null(strstr(out, "0.1.0"), "%s", out);
	cr_assert_not_null(strstr(out, "uptime_s:"), "%s", out);
	cr_assert_not_null(strstr(out, "0h 00m 0"), "%s", out);
	cr_assert_not_null(strstr(out, "udp:127.0.0.1:5060 tcp:127.0.0.1:5060"), "%s",
	                   out);
	cr_assert_not_null(strstr(out, "counters:\n  requests_in"), "%s", out);

	cr_assert_eq(run_ctl((const char *[]){"-s", sock, "status", "--json", NULL}, out,
	                     sizeof(out)),
	             0, "%s", out);
	j = json_loads(out, 0, NULL);
	cr_assert_not_null(j, "--json is not JSON: %s", out);
	cr_assert_eq(json_integer_value(json_object_get(j, "workers")), 2);
	json_decref(j);

	cr_assert_eq(run_ctl((const char *[]){"-s", sock, "get", "/nope", NULL}, out,
	                     sizeof(out)),
	             1);
	cr_assert_not_null(strstr(out, "sipregd answered 404: no such path: /nope"), "%s",
	                   out);
	cr_assert_eq(run_ctl((const char *[]){"-s", sock, "frobnicate", NULL}, out,
	                     sizeof(out)),
	             2);
	admin_free(adm);
}

Test(admin, sipregctl_when_not_running)
{
	char out[4096], want[512];

	cr_assert_eq(
	        run_ctl((const char *[]){"-s", sock, "status", NULL}, out, sizeof(out)),
	        1);
	snprintf(want, sizeof(want),
	         "sipregctl: cannot connect to sipregd at %s: No such file or directory "
	         "(is sipregd running?)\n",
	         sock);
	cr_assert_str_eq(out, want);

	/* a stale socket: refused */
	{
		struct sockaddr_un sa = {.sun_family = AF_UNIX};
		int fd = socket(AF_UNIX, SOCK_STREAM, 0);

		strcpy(sa.sun_path, sock);
		cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
		close(fd);
	}
	cr_assert_eq(run_ctl((const char *[]){"-s", sock, "status", "--json", NULL}, out,
	                     sizeof(out)),
	             1);
	snprintf(want, sizeof(want),
	         "sipregctl: cannot connect to sipregd at %s: Connection refused "
	         "(is sipregd running?)\n",
	         sock);
	cr_assert_str_eq(out, want);
}
