/* SPDX-License-Identifier: MIT */
/*
 * Tests of the trunk service: two real worker threads (loop, wheel,
 * transaction layer; the network replaced by a send function that counts
 * REGISTERs), the store, and the admin routes driven over a Unix socket.
 */
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sipreg/admin.h"
#include "sipreg/clock.h"
#include "sipreg/trunksvc.h"
#include "support/trunk_workers.h"

#define WORKERS 2

static struct trunksvc *svc;
static struct admin *adm;
static struct config *cfg;
static char dir[64], sock[128];

static void setup(void)
{
	char err[256], text[512];
	struct config_error ce;

	snprintf(dir, sizeof(dir), "/tmp/sipreg-trunksvc-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(sock, sizeof(sock), "%s/admin.sock", dir);
	snprintf(text, sizeof(text), "[database]\npath = %s/t.db\n", dir);
	cr_assert_eq(config_load_string(&cfg, text, "t.conf", &ce), 0, "%s", ce.msg);
	cr_assert_eq(trunksvc_new(&svc, cfg, WORKERS, err, sizeof(err)), 0, "%s", err);
	trunk_workers_start(svc, WORKERS);
	cr_assert_eq(admin_new(&adm, sock, 0600), 0);
	cr_assert_eq(trunksvc_admin_routes(svc, adm), 0);
	cr_assert_eq(admin_start(adm), 0);
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void teardown(void)
{
	char cmd[128];

	admin_free(adm);
	trunk_workers_stop();
	trunksvc_free(svc);
	config_free(cfg);
	curl_global_cleanup();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	cr_assert_eq(system(cmd), 0);
}

TestSuite(trunksvc, .init = setup, .fini = teardown, .timeout = 60);

struct reply {
	long status;
	char body[65536];
	size_t len;
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

static long request(const char *method, const char *path, const char *body, struct reply *r)
{
	char url[256];
	CURL *c = curl_easy_init();

	memset(r, 0, sizeof(*r));
	snprintf(url, sizeof(url), "http://localhost%s", path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, sock);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
	if (body) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	}
	r->status = curl_easy_perform(c) == CURLE_OK ? 0 : -1;
	if (r->status == 0)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	curl_easy_cleanup(c);
	return r->status;
}

static json_t *json_of(const struct reply *r)
{
	json_error_t e;
	json_t *j = json_loads(r->body, 0, &e);

	cr_assert_not_null(j, "not JSON: %s", r->body);
	return j;
}

static const char *str(json_t *o, const char *k)
{
	const char *v = json_string_value(json_object_get(o, k));

	return v ? v : "";
}

Test(trunksvc, config_conversion)
{
	struct store_trunk t = {.enabled = true};
	struct ua_trunk_config c;
	struct ua_error e;
	char host[256], proxy[256];

	snprintf(t.name, sizeof(t.name), "a");
	snprintf(t.registrar, sizeof(t.registrar), "[2001:db8::5]:5070");
	snprintf(t.proxy, sizeof(t.proxy), "proxy.example");
	snprintf(t.user, sizeof(t.user), "1001");
	snprintf(t.expire, sizeof(t.expire), "auto");
	cr_assert_eq(trunksvc_config_of(&t, &c, host, sizeof(host), proxy, sizeof(proxy), &e), 0,
		     "%s", e.msg);
	cr_assert_str_eq(c.registrar, "2001:db8::5");
	cr_assert_eq(c.registrar_port, 5070);
	cr_assert_str_eq(c.proxy, "proxy.example");
	cr_assert_eq(c.transport, UA_TRANSPORT_UDP);
	cr_assert_eq(c.expire, UA_EXPIRE_AUTO);
	cr_assert_eq(c.retry_delay, UA_RETRY_GLOBAL);
	snprintf(t.expire, sizeof(t.expire), "19");
	cr_assert_eq(trunksvc_config_of(&t, &c, host, sizeof(host), proxy, sizeof(proxy), &e),
		     -EINVAL);
	cr_assert(strstr(e.msg, "expire"), "%s", e.msg);
	snprintf(t.expire, sizeof(t.expire), "%s", "");
	snprintf(t.retry_delay, sizeof(t.retry_delay), "601");
	cr_assert_eq(trunksvc_config_of(&t, &c, host, sizeof(host), proxy, sizeof(proxy), &e),
		     -EINVAL);
	snprintf(t.retry_delay, sizeof(t.retry_delay), "%s", "");
	snprintf(t.transport, sizeof(t.transport), "sctp");
	cr_assert_eq(trunksvc_config_of(&t, &c, host, sizeof(host), proxy, sizeof(proxy), &e),
		     -EINVAL);
}

Test(trunksvc, add_show_disable_enable_refresh_delete)
{
	struct reply r;
	json_t *j;

	cr_assert_eq(trunksvc_start(svc), 0);
	cr_assert_eq(request("POST", "/trunks",
			     "{\"name\": \"carrier-a\", \"registrar\": \"127.0.0.1:5999\", "
			     "\"user\": \"1001\", \"password\": \"pw\", \"expire\": \"300\"}",
			     &r),
		     201, "%s", r.body);
	cr_assert_eq(request("POST", "/trunks",
			     "{\"name\": \"carrier-a\", \"registrar\": \"127.0.0.1\", \"user\": \"x\"}",
			     &r),
		     409);
	cr_assert_eq(request("POST", "/trunks",
			     "{\"name\": \"b\", \"registrar\": \"127.0.0.1\", \"user\": \"x\", "
			     "\"expire\": \"10\"}",
			     &r),
		     400, "an expire out of range is refused: %s", r.body);
	/* the REGISTER goes out on the owner worker */
	for (int i = 0; i < 200 && trunk_workers_registers() == 0; i++)
		usleep(10000);
	cr_assert_geq(trunk_workers_registers(), 1);
	cr_assert_eq(request("GET", "/trunks/carrier-a", NULL, &r), 200);
	j = json_of(&r);
	cr_assert_str_eq(str(j, "state"), "registering", "%s", r.body);
	cr_assert_str_eq(str(json_object_get(j, "config"), "registrar"), "127.0.0.1:5999");
	cr_assert(json_is_true(json_object_get(json_object_get(j, "config"), "has_password")));
	cr_assert_null(json_object_get(json_object_get(j, "config"), "password"),
		       "secrets are never listed");
	json_decref(j);

	cr_assert_eq(request("GET", "/trunks?state=registering", NULL, &r), 200);
	j = json_of(&r);
	cr_assert_eq(json_array_size(json_object_get(j, "trunks")), 1, "%s", r.body);
	json_decref(j);
	cr_assert_eq(request("GET", "/trunks?state=registered", NULL, &r), 200);
	j = json_of(&r);
	cr_assert_eq(json_array_size(json_object_get(j, "trunks")), 0, "%s", r.body);
	json_decref(j);
	cr_assert_eq(request("POST", "/trunks/carrier-a/disable", "{}", &r), 200, "%s", r.body);
	cr_assert_eq(request("GET", "/trunks/carrier-a", NULL, &r), 200);
	j = json_of(&r);
	cr_assert(json_is_false(json_object_get(j, "enabled")), "%s", r.body);
	cr_assert(json_is_false(json_object_get(json_object_get(j, "config"), "enabled")),
		  "the store says disabled too");
	json_decref(j);
	cr_assert_eq(request("GET", "/trunks?state=nonsense", NULL, &r), 400);
	cr_assert_eq(request("POST", "/trunks/carrier-a/disable", "{}", &r), 409, "already so");
	cr_assert_eq(request("POST", "/trunks/carrier-a/refresh", "{}", &r), 409,
		     "disabled: %s", r.body);
	cr_assert_eq(request("POST", "/trunks/carrier-a/enable", "{}", &r), 200);
	/* enabled again: a refresh is taken, or refused while one is in flight */
	long rc = request("POST", "/trunks/carrier-a/refresh", "{}", &r);
	cr_assert(rc == 200 || rc == 409, "%ld %s", rc, r.body);
	cr_assert_eq(request("POST", "/trunks/carrier-a/explode", "{}", &r), 404);
	cr_assert_eq(request("POST", "/trunks/carrier-a", "{\"retry_delay\": 45}", &r), 200, "%s",
		     r.body);
	cr_assert_eq(request("DELETE", "/trunks/carrier-a", NULL, &r), 200);
	cr_assert_eq(request("GET", "/trunks/carrier-a", NULL, &r), 404);
	cr_assert_eq(request("GET", "/trunks", NULL, &r), 200);
	j = json_of(&r);
	cr_assert_eq(json_array_size(json_object_get(j, "trunks")), 0);
	json_decref(j);
}

Test(trunksvc, import_applies_every_row_or_none)
{
	struct reply r;
	json_t *j, *st = json_object();
	char body[1024];

	cr_assert_eq(trunksvc_start(svc), 0);
	snprintf(body, sizeof(body),
		 "{\"csv\": \"name,registrar,proxy,transport,user,auth_user,password,domain,"
		 "expire,retry_delay,enabled\\n"
		 "t1,127.0.0.1:5999,,udp,u1,,pw,,auto,,1\\n"
		 "t2,127.0.0.1:5999,,udp,u2,,pw,,7201,,1\\n\"}");
	cr_assert_eq(request("POST", "/trunks/import", body, &r), 400);
	cr_assert(strstr(r.body, "line 3"), "%s", r.body);
	cr_assert_eq(request("GET", "/trunks", NULL, &r), 200);
	j = json_of(&r);
	cr_assert_eq(json_array_size(json_object_get(j, "trunks")), 0, "nothing imported");
	json_decref(j);
	snprintf(body, sizeof(body),
		 "{\"csv\": \"name,registrar,proxy,transport,user,auth_user,password,domain,"
		 "expire,retry_delay,enabled\\n"
		 "t1,127.0.0.1:5999,,udp,u1,,pw,,auto,,1\\n"
		 "t2,127.0.0.1:5999,,tcp,u2,a2,pw,,300,45,0\\n"
		 "t3,127.0.0.1:5999,,udp,u3,,pw,,,,1\\n\"}");
	cr_assert_eq(request("POST", "/trunks/import", body, &r), 200, "%s", r.body);
	trunksvc_status(svc, st);
	cr_assert_eq(json_integer_value(json_object_get(json_object_get(st, "trunks"), "total")), 3,
		     "every row runs on its owner");
	cr_assert_eq(json_integer_value(json_object_get(
			     json_object_get(json_object_get(st, "trunks"), "by_state"), "disabled")),
		     1);
	json_decref(st);
}

Test(trunksvc, stored_trunks_start_and_shutdown_unregisters)
{
	struct reply r;

	cr_assert_eq(trunksvc_start(svc), 0);
	cr_assert_eq(request("POST", "/trunks",
			     "{\"name\": \"s1\", \"registrar\": \"127.0.0.1:5999\", \"user\": \"u\"}",
			     &r),
		     201, "%s", r.body);
	/* no upstream ever answers: shutdown has nothing registered to undo and
	 * must come back within its bound */
	uint64_t t0 = clock_now_ms();
	trunksvc_shutdown(svc, 1500);
	cr_assert_leq(clock_now_ms() - t0, 4000, "the shutdown bound holds");
}

/* The primary mark: false unless given, a JSON boolean, in the store, the
 * configuration and the status; a disable/enable keeps it. */
Test(trunksvc, primary_mark)
{
	struct ua_trunk_config c;
	struct store_trunk t = {.enabled = true, .primary = true};
	struct ua_error e;
	char host[256], proxy[256];
	struct reply r;
	json_t *j;

	snprintf(t.name, sizeof(t.name), "p");
	snprintf(t.registrar, sizeof(t.registrar), "127.0.0.1");
	snprintf(t.user, sizeof(t.user), "1001");
	cr_assert_eq(trunksvc_config_of(&t, &c, host, sizeof(host), proxy, sizeof(proxy), &e), 0,
		     "%s", e.msg);
	cr_assert(c.primary);

	cr_assert_eq(trunksvc_start(svc), 0);
	cr_assert_eq(request("POST", "/trunks",
			     "{\"name\": \"main\", \"registrar\": \"127.0.0.1:5999\", "
			     "\"user\": \"1001\", \"primary\": true, \"retry_delay\": \"45\"}",
			     &r),
		     201, "%s", r.body);
	j = json_of(&r);
	cr_assert(json_is_true(json_object_get(j, "primary")), "%s", r.body);
	json_decref(j);
	cr_assert_eq(request("POST", "/trunks",
			     "{\"name\": \"backup\", \"registrar\": \"127.0.0.1:5999\", "
			     "\"user\": \"1002\"}",
			     &r),
		     201, "%s", r.body);
	cr_assert_eq(request("POST", "/trunks",
			     "{\"name\": \"bad\", \"registrar\": \"127.0.0.1\", \"user\": \"x\", "
			     "\"primary\": \"yes\"}",
			     &r),
		     400, "%s", r.body);
	cr_assert(strstr(r.body, "primary: true or false"), "%s", r.body);
	cr_assert_eq(request("POST", "/trunks/main", "{\"primary\": 1}", &r), 400, "%s", r.body);

	cr_assert_eq(request("GET", "/trunks/main", NULL, &r), 200);
	j = json_of(&r);
	cr_assert(json_is_true(json_object_get(j, "primary")), "the status: %s", r.body);
	cr_assert(json_is_true(json_object_get(json_object_get(j, "config"), "primary")),
		  "the store: %s", r.body);
	json_decref(j);
	cr_assert_eq(request("GET", "/trunks/backup", NULL, &r), 200);
	j = json_of(&r);
	cr_assert(json_is_false(json_object_get(j, "primary")), "%s", r.body);
	cr_assert(json_is_false(json_object_get(json_object_get(j, "config"), "primary")));
	json_decref(j);
	cr_assert_eq(request("GET", "/trunks", NULL, &r), 200);
	j = json_of(&r);
	{
		json_t *a = json_object_get(j, "trunks"), *row;
		size_t i, seen = 0;

		json_array_foreach(a, i, row)
		{
			bool want = strcmp(str(row, "name"), "main") == 0;

			cr_assert_eq(json_is_true(json_object_get(row, "primary")), want, "%s",
				     r.body);
			seen++;
		}
		cr_assert_eq(seen, 2);
	}
	json_decref(j);

	/* disable and enable rewrite the stored row: the mark stays */
	cr_assert_eq(request("POST", "/trunks/main/disable", "{}", &r), 200, "%s", r.body);
	cr_assert_eq(request("POST", "/trunks/main/enable", "{}", &r), 200, "%s", r.body);
	cr_assert_eq(request("POST", "/trunks/main", "{\"retry_delay\": \"30\"}", &r), 200, "%s",
		     r.body);
	cr_assert_eq(request("GET", "/trunks/main", NULL, &r), 200);
	j = json_of(&r);
	cr_assert(json_is_true(json_object_get(json_object_get(j, "config"), "primary")), "%s",
		  r.body);
	cr_assert(json_is_true(json_object_get(j, "primary")), "%s", r.body);
	json_decref(j);
	/* unmarked */
	cr_assert_eq(request("POST", "/trunks/main", "{\"primary\": false}", &r), 200, "%s",
		     r.body);
	cr_assert_eq(request("GET", "/trunks/main", NULL, &r), 200);
	j = json_of(&r);
	cr_assert(json_is_false(json_object_get(j, "primary")), "%s", r.body);
	cr_assert(json_is_false(json_object_get(json_object_get(j, "config"), "primary")));
	json_decref(j);
}
