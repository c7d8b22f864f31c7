/* SPDX-License-Identifier: MIT */
/*
 * sipregctl's trunk commands against the trunk service in process: two real
 * worker threads (loop, wheel, transaction layer; the network replaced by a
 * send function that counts REGISTERs, so no upstream ever answers and the
 * trunks stay registering), the store, and the admin API with the trunksvc
 * routes and a /status that carries trunksvc_status(). The built sipregctl
 * (SIPREG_BUILD_ROOT/tools/sipregctl) is run for each command: exit codes,
 * human output, --json (checked with jq when installed, else with jansson).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sipreg/admin.h"
#include "sipreg/clock.h"
#include "sipreg/trunksvc.h"
#include "support/trunk_workers.h"

#define WORKERS 2
#define OUT_MAX 65536

static struct trunksvc *svc;
static struct admin *adm;
static struct config *cfg;
static char dir[64], sock[128], ctl_path[4096];

/* /status as the daemon builds it: the built-in fields plus the trunks. */
static int status_provider(json_t *status, void *arg)
{
	trunksvc_status(arg, status);
	return 0;
}

static void setup(void)
{
	const char *build = getenv("SIPREG_BUILD_ROOT");
	char err[256], text[512];
	struct config_error ce;

	if (!build) {
		cr_skip_test("SIPREG_BUILD_ROOT is not set: run through meson test, "
		             "sipregctl is needed");
		return;
	}
	snprintf(ctl_path, sizeof(ctl_path), "%s/tools/sipregctl", build);
	cr_assert_eq(access(ctl_path, X_OK), 0, "%s is not built", ctl_path);
	snprintf(dir, sizeof(dir), "/tmp/sipreg-ctltrunk-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(sock, sizeof(sock), "%s/admin.sock", dir);
	snprintf(text, sizeof(text), "[database]\npath = %s/t.db\n", dir);
	cr_assert_eq(config_load_string(&cfg, text, "t.conf", &ce), 0, "%s", ce.msg);
	cr_assert_eq(trunksvc_new(&svc, cfg, WORKERS, err, sizeof(err)), 0, "%s", err);
	trunk_workers_start(svc, WORKERS);
	cr_assert_eq(admin_new(&adm, sock, 0600), 0);
	cr_assert_eq(trunksvc_admin_routes(svc, adm), 0);
	cr_assert_eq(admin_set_status(adm, status_provider, svc), 0);
	cr_assert_eq(admin_start(adm), 0);
	cr_assert_eq(trunksvc_start(svc), 0);
}

static void teardown(void)
{
	char cmd[128];

	if (!svc)
		return;
	admin_free(adm);
	trunk_workers_stop();
	trunksvc_free(svc);
	svc = NULL;
	config_free(cfg);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	cr_assert_eq(system(cmd), 0);
}

TestSuite(sipregctl_trunk, .init = setup, .fini = teardown, .timeout = 120);

/* Runs `sipregctl -s SOCK ARGS` through sh (ARGS is shell text), stdout and
 * stderr (2>&1 unless split) into out; returns the exit status. */
static char out[OUT_MAX], last[4096];

__attribute__((format(printf, 2, 3))) static int run(bool stdout_only, const char *fmt,
                                                     ...)
{
	char args[4096], cmd[4096 + sizeof(ctl_path) + sizeof(sock) + 64];
	size_t len = 0, n;
	va_list ap;
	FILE *p;
	int st;

	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	snprintf(last, sizeof(last), "%s", args);
	snprintf(cmd, sizeof(cmd), "'%s' -s '%s' %s %s </dev/null", ctl_path, sock, args,
	         stdout_only ? "2>/dev/null" : "2>&1");
	p = popen(cmd, "r");
	cr_assert_not_null(p);
	while ((n = fread(out + len, 1, sizeof(out) - 1 - len, p)) > 0)
		len += n;
	out[len] = '\0';
	st = pclose(p);
	cr_assert(WIFEXITED(st), "sipregctl %s: did not exit", args);
	return WEXITSTATUS(st);
}

#define CTL(want, ...)                                                                   \
	do {                                                                             \
		int rc_ = run(false, __VA_ARGS__);                                       \
		cr_assert_eq(rc_, (want), "sipregctl %s: exit %d, want %d:\n%s", last,   \
		             rc_, (want), out);                                          \
	} while (0)

#define HAS(text) cr_assert(strstr(out, (text)), "want '%s' in:\n%s", (text), out)
#define HASNT(text)                                                                      \
	cr_assert(!strstr(out, (text)), "do not want '%s' in:\n%s", (text), out)

/* The --json output of a command (exit 0), parsed; valid JSON required. */
__attribute__((format(printf, 1, 2))) static json_t *json_run(const char *fmt, ...)
{
	char args[4096];
	json_error_t e;
	va_list ap;
	json_t *j;
	int rc;

	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	rc = run(true, "%s --json", args);
	cr_assert_eq(rc, 0, "sipregctl %s --json: exit %d: %s", args, rc, out);
	j = json_loads(out, 0, &e);
	cr_assert_not_null(j, "sipregctl %s --json: not JSON (%s):\n%s", args, e.text,
	                   out);
	return j;
}

static const char *str(json_t *o, const char *k)
{
	const char *v = json_string_value(json_object_get(o, k));

	return v ? v : "";
}

static size_t trunk_count(const char *state)
{
	json_t *j =
	        state ? json_run("trunk list --state %s", state) : json_run("trunk list");
	size_t n;

	cr_assert(json_is_array(json_object_get(j, "trunks")), "%s", out);
	n = json_array_size(json_object_get(j, "trunks"));
	json_decref(j);
	return n;
}

static void write_file(const char *name, const char *text)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs(text, f);
	fclose(f);
}

#define HEADER                                                                           \
	"name,registrar,proxy,transport,user,auth_user,password,domain,expire,retry_"    \
	"delay,enabled\n"
#define HEADER_PRIMARY                                                                   \
	"name,registrar,proxy,transport,user,auth_user,password,domain,expire,retry_"    \
	"delay,enabled,primary\n"

Test(sipregctl_trunk, help_lists_every_trunk_command)
{
	static const char *const cmds[] = {
	        "trunk add NAME --registrar HOST[:PORT] --user USER",
	        "trunk set NAME",
	        "trunk del NAME",
	        "trunk enable NAME",
	        "trunk disable NAME",
	        "trunk refresh NAME",
	        "trunk show NAME",
	        "trunk list [--state S]",
	        "trunk import FILE.csv",
	        "--proxy HOST[:PORT]",
	        "--transport udp|tcp",
	        "--auth-user U",
	        "--password P",
	        "--domain D",
	        "--realm R",
	        "--contact-user C",
	        "--expire auto|N",
	        "--retry-delay N",
	        "--disabled",
	        "subscriber add",
	        "guard list",
	        "bindings",
	        "status",
	};

	CTL(0, "-h");
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		HAS(cmds[i]);
	CTL(2, "trunk");
	HAS("missing subcommand");
	CTL(2, "trunk frobnicate x");
	HAS("unknown subcommand frobnicate");
}

Test(sipregctl_trunk, bad_usage_exits_2_and_sends_nothing)
{
	CTL(2, "trunk add t --user u");
	HAS("--registrar");
	CTL(2, "trunk add t --registrar 127.0.0.1");
	CTL(2, "trunk add t --registrar 127.0.0.1 --user u --expire 19");
	HAS("allowed: auto, 20-7200");
	CTL(2, "trunk add t --registrar 127.0.0.1 --user u --expire 7201");
	CTL(2, "trunk add t --registrar 127.0.0.1 --user u --expire sometimes");
	CTL(2, "trunk add t --registrar 127.0.0.1 --user u --retry-delay 29");
	HAS("allowed: 30-600");
	CTL(2, "trunk add t --registrar 127.0.0.1 --user u --retry-delay 601");
	CTL(2, "trunk add t --registrar 127.0.0.1 --user u --transport sctp");
	HAS("allowed: udp, tcp");
	CTL(2, "trunk add t --registrar 127.0.0.1:0 --user u");
	CTL(2, "trunk add t --registrar 127.0.0.1:65536 --user u");
	CTL(2, "trunk add t --registrar 127.0.0.1 --user u --proxy '[::1'");
	CTL(2, "trunk add t --registrar 127.0.0.1 --user u --colour blue");
	HAS("unknown option --colour");
	CTL(2, "trunk add t --registrar 127.0.0.1 --user u --password");
	HAS("needs a value");
	CTL(2, "trunk add t --registrar 127.0.0.1 --user u --enabled --disabled");
	CTL(2, "trunk add a/b --registrar 127.0.0.1 --user u");
	CTL(2, "trunk add t u --registrar 127.0.0.1 --user u");
	CTL(2, "trunk add --registrar 127.0.0.1 --user u");
	CTL(2,
	    "trunk add 0123456789012345678901234567890123456789012345678901234567890123 "
	    "--registrar 127.0.0.1 --user u");
	CTL(2, "trunk set t");
	HAS("nothing to change");
	CTL(2, "trunk show");
	CTL(2, "trunk show a b");
	CTL(2, "trunk del");
	CTL(2, "trunk list extra");
	CTL(2, "trunk list --state waiting");
	HAS("registered");
	CTL(2, "trunk import");
	CTL(2, "trunk import a.csv b.csv");
	CTL(2, "trunk enable x --registrar 127.0.0.1");
	cr_assert_eq(trunk_count(NULL), 0, "nothing was added");
	cr_assert_eq(trunk_workers_registers(), 0);
}

Test(sipregctl_trunk, add_show_list_set)
{
	json_t *j, *c;

	CTL(0, "trunk add carrier-a --registrar 127.0.0.1:5999 --user 1001 --password "
	       "s3cret "
	       "--expire 300 --retry-delay 45 --auth-user a1001 --domain carrier.example "
	       "--realm realm.example --contact-user trunk-a --proxy 127.0.0.1:5998");
	HAS("added trunk carrier-a: registrar 127.0.0.1:5999, user 1001, enabled");
	CTL(0,
	    "trunk add carrier-b --registrar=127.0.0.1:5999 --user=2002 --transport tcp "
	    "--disabled");
	HAS("disabled");
	CTL(1, "trunk add carrier-a --registrar 127.0.0.1 --user x");
	HAS("409");
	HAS("exists");
	/* an enabled trunk's REGISTER goes out on its owner worker */
	for (int i = 0; i < 300 && trunk_workers_registers() == 0; i++)
		usleep(10000);
	cr_assert_geq(trunk_workers_registers(), 1);

	CTL(0, "trunk show carrier-a");
	HAS("trunk:          carrier-a");
	HAS("state:          registering");
	HAS("last result:");
	HAS("granted expiry: -");
	HAS("last success:   never");
	HAS("next action:");
	HAS("attempts:       1");
	HAS("failures:       0");
	HAS("registrar:");
	HAS("127.0.0.1:5999");
	HAS("has_password:");
	HASNT("s3cret");
	CTL(0, "trunk show carrier-b");
	HAS("state:          disabled (disabled)");
	HAS("next action:    -");
	HAS("tcp");
	HAS("none\n");       /* no proxy */
	HAS("(the user)\n"); /* auth user and contact user */
	HAS("(any)\n");      /* realm */

	j = json_run("trunk show carrier-a");
	cr_assert_str_eq(str(j, "state"), "registering");
	cr_assert_eq(json_integer_value(json_object_get(j, "attempts")), 1);
	c = json_object_get(j, "config");
	cr_assert_str_eq(str(c, "expire"), "300");
	cr_assert_str_eq(str(c, "retry_delay"), "45");
	cr_assert_str_eq(str(c, "auth_user"), "a1001");
	cr_assert_str_eq(str(c, "domain"), "carrier.example");
	cr_assert_str_eq(str(c, "realm"), "realm.example");
	cr_assert_str_eq(str(c, "contact_user"), "trunk-a");
	cr_assert_str_eq(str(c, "proxy"), "127.0.0.1:5998");
	cr_assert_null(json_object_get(c, "password"), "no secret in --json either");
	json_decref(j);

	CTL(0, "trunk list");
	HAS("NAME");
	HAS("STATE");
	HAS("LAST_RESULT");
	HAS("GRANTED");
	HAS("NEXT");
	HAS("ATTEMPTS/FAILURES");
	HAS("carrier-a  registering");
	HAS("carrier-b  disabled");
	HAS("1/0");
	HAS("2 trunks");
	CTL(0, "trunk list --state registering");
	HAS("carrier-a");
	HASNT("carrier-b");
	HAS("1 trunk registering");
	CTL(0, "trunk list --state=registered");
	HAS("0 trunks registered");
	HASNT("NAME");
	cr_assert_eq(trunk_count(NULL), 2);
	cr_assert_eq(trunk_count("disabled"), 1);
	cr_assert_eq(trunk_count("failed"), 0);

	/* set: only the fields given change */
	CTL(0, "trunk set carrier-a --expire 20 --retry-delay 30");
	HAS("changed trunk carrier-a: registrar 127.0.0.1:5999, user 1001, enabled");
	j = json_run("trunk show carrier-a");
	c = json_object_get(j, "config");
	cr_assert_str_eq(str(c, "expire"), "20");
	cr_assert_str_eq(str(c, "retry_delay"), "30");
	cr_assert_str_eq(str(c, "auth_user"), "a1001", "unchanged");
	cr_assert_str_eq(str(c, "proxy"), "127.0.0.1:5998", "unchanged");
	cr_assert(json_is_true(json_object_get(c, "has_password")), "unchanged");
	json_decref(j);
	CTL(0, "trunk set carrier-a --expire global --retry-delay global --proxy ''");
	j = json_run("trunk show carrier-a");
	c = json_object_get(j, "config");
	cr_assert_str_eq(str(c, "expire"), "global");
	cr_assert_str_eq(str(c, "retry_delay"), "global");
	cr_assert_str_eq(str(c, "proxy"), "");
	json_decref(j);
	CTL(0, "trunk set carrier-a --expire auto");
	j = json_run("trunk show carrier-a");
	cr_assert_str_eq(str(json_object_get(j, "config"), "expire"), "auto");
	json_decref(j);
	CTL(2, "trunk set carrier-a --expire 10");
	CTL(1, "trunk set nosuch --expire 60");
	HAS("404");
	CTL(0, "trunk set carrier-b --enabled");
	HAS("enabled");
	cr_assert_eq(trunk_count("disabled"), 0);

	/* the adds and sets are in the store, the password never printed */
	CTL(0, "trunk list --json");
	HASNT("s3cret");
}

Test(sipregctl_trunk, disable_enable_refresh_del)
{
	unsigned before;
	json_t *j;
	int rc;

	CTL(0, "trunk add t1 --registrar 127.0.0.1:5999 --user u1 --password pw");
	for (int i = 0; i < 300 && trunk_workers_registers() == 0; i++)
		usleep(10000);
	CTL(0, "trunk disable t1");
	HAS("disabled trunk t1");
	CTL(0, "trunk show t1");
	HAS("(disabled)");
	/* its REGISTER was in flight (it may have been taken): the unregister
	 * goes out, and waits for an answer that never comes */
	j = json_run("trunk show t1");
	cr_assert(json_is_false(json_object_get(j, "enabled")), "%s", out);
	cr_assert(strcmp(str(j, "state"), "unregistering") == 0 ||
	                  strcmp(str(j, "state"), "disabled") == 0,
	          "%s", out);
	json_decref(j);
	cr_assert_eq(trunk_count("disabled") + trunk_count("unregistering"), 1);
	cr_assert_eq(trunk_count("registering"), 0);
	CTL(1, "trunk disable t1");
	HAS("already so");
	CTL(1, "trunk refresh t1");
	HAS("disabled");
	before = trunk_workers_registers();
	CTL(0, "trunk enable t1");
	HAS("enabled trunk t1");
	cr_assert_eq(trunk_count("disabled"), 0);
	j = json_run("trunk show t1");
	cr_assert(json_is_true(json_object_get(j, "enabled")), "%s", out);
	json_decref(j);
	/* t1's unregister is still waiting for its answer; a trunk added
	 * disabled registers at once when enabled */
	CTL(0, "trunk add t2 --registrar 127.0.0.1:5999 --user u2 --disabled");
	cr_assert_eq(trunk_workers_registers(), before, "a disabled trunk sends nothing");
	CTL(0, "trunk enable t2");
	for (int i = 0; i < 300 && trunk_workers_registers() == before; i++)
		usleep(10000);
	cr_assert_gt(trunk_workers_registers(), before, "enable sends a REGISTER");
	CTL(0, "trunk del t2");
	CTL(1, "trunk enable t1");
	HAS("already so");
	/* the REGISTER is still in flight (no upstream): refused, and said so */
	rc = run(false, "trunk refresh t1");
	cr_assert(rc == 0 || rc == 1, "%s", out);
	if (rc == 1)
		HAS("in flight");
	else
		HAS("refreshing trunk t1");
	CTL(1, "trunk enable nosuch");
	HAS("404");
	CTL(0, "trunk del t1");
	HAS("deleted trunk t1");
	CTL(1, "trunk show t1");
	HAS("no trunk t1");
	CTL(1, "trunk del t1");
	cr_assert_eq(trunk_count(NULL), 0);
}

Test(sipregctl_trunk, import_all_or_nothing)
{
	json_t *j;

	write_file("good.csv", HEADER
	           "i1,127.0.0.1:5999,,udp,u1,,pw,,auto,,1\n"
	           "i2,127.0.0.1:5999,127.0.0.1:5998,tcp,u2,a2,pw,d.example,300,45,0\n"
	           "i3,127.0.0.1,,udp,u3,,pw,,,,1\n");
	write_file("bad.csv", HEADER "b1,127.0.0.1:5999,,udp,u1,,pw,,auto,,1\n"
	                             "b2,127.0.0.1:5999,,udp,u2,,pw,,20,,1\n"
	                             "b3,127.0.0.1:5999,,udp,u3,,pw,,7201,,1\n"
	                             "b4,127.0.0.1:5999,,udp,u4,,pw,,auto,,1\n");
	write_file("header.csv", "name,registrar,user\nh1,127.0.0.1,u\n");
	write_file("short.csv", HEADER "s1,127.0.0.1:5999,,udp\n");

	CTL(1, "trunk import '%s/bad.csv'", dir);
	HAS("line 4");
	HAS("expire");
	cr_assert_eq(trunk_count(NULL), 0, "nothing of a bad file is imported");
	CTL(1, "trunk import '%s/header.csv'", dir);
	cr_assert_eq(trunk_count(NULL), 0);
	CTL(1, "trunk import '%s/short.csv'", dir);
	HAS("line 2");
	cr_assert_eq(trunk_count(NULL), 0);
	CTL(1, "trunk import '%s/missing.csv'", dir);
	HAS("No such file");

	CTL(0, "trunk import '%s/good.csv'", dir);
	HAS("imported 3 trunks from");
	cr_assert_eq(trunk_count(NULL), 3);
	cr_assert_eq(trunk_count("disabled"), 1);
	j = json_run("trunk show i2");
	cr_assert_str_eq(str(json_object_get(j, "config"), "transport"), "tcp");
	cr_assert_str_eq(str(json_object_get(j, "config"), "auth_user"), "a2");
	cr_assert_str_eq(str(json_object_get(j, "config"), "retry_delay"), "45");
	json_decref(j);
	j = json_run("trunk import '%s/good.csv'", dir);
	cr_assert_eq(json_integer_value(json_object_get(j, "imported")), 3,
	             "imported again: the rows replace themselves");
	json_decref(j);
	cr_assert_eq(trunk_count(NULL), 3);
}

Test(sipregctl_trunk, status_counts_trunks_by_state)
{
	json_t *j;

	CTL(0, "trunk add s1 --registrar 127.0.0.1:5999 --user u1");
	CTL(0, "trunk add s2 --registrar 127.0.0.1:5999 --user u2 --disabled");
	CTL(0, "trunk add s3 --registrar 127.0.0.1:5999 --user u3 --disabled");
	CTL(0, "status");
	HAS("trunks: 3 (disabled 2, registering 1, registered 0, refreshing 0, failed 0, "
	    "unregistering 0)");
	HAS("version:");
	HAS("\n  registers_sent:");
	HAS("\n  failures:");
	j = json_run("status");
	cr_assert_eq(json_integer_value(
	                     json_object_get(json_object_get(j, "trunks"), "total")),
	             3);
	json_decref(j);
	CTL(0, "get /trunks");
	HAS("s1");
}

Test(sipregctl_trunk, json_is_valid_for_jq)
{
	char cmd[4096 + 2 * sizeof(ctl_path)];

	if (system("command -v jq >/dev/null 2>&1") != 0)
		cr_skip_test(
		        "jq is not installed: the --json outputs were checked by jansson "
		        "only");
	CTL(0, "trunk add j1 --registrar 127.0.0.1:5999 --user u1");
	snprintf(cmd, sizeof(cmd),
	         "set -e; c='%s -s %s'; $c trunk list --json | jq -e '.trunks | length "
	         "== 1' "
	         ">/dev/null; $c trunk show j1 --json | jq -e '.name == \"j1\" and "
	         ".config.user == \"u1\"' >/dev/null; $c status --json | jq -e "
	         "'.trunks.by_state.registering == 1' >/dev/null; $c trunk list --state "
	         "registering --json | jq -e '.trunks[0].state == \"registering\"' "
	         ">/dev/null",
	         ctl_path, sock);
	cr_assert_eq(system(cmd), 0, "%s", cmd);
}

Test(sipregctl_trunk, not_running_exits_1)
{
	char saved[sizeof(sock)];

	memcpy(saved, sock, sizeof(sock));
	snprintf(sock, sizeof(sock), "%s/nobody.sock", dir);
	CTL(1, "trunk list");
	HAS("is sipregd running?");
	CTL(1, "trunk add t --registrar 127.0.0.1 --user u");
	HAS("is sipregd running?");
	memcpy(sock, saved, sizeof(sock));
}

/* --primary / --no-primary: through the daemon's store and back, in the
 * human output and --json; marking does not re-register the trunk. */
Test(sipregctl_trunk, primary_round_trip)
{
	json_t *j, *a, *row;
	long long attempts;
	size_t i;

	CTL(0, "trunk add main --registrar 127.0.0.1:5999 --user 1001 --primary "
	       "--retry-delay 120");
	HAS("added trunk main: registrar 127.0.0.1:5999, user 1001, enabled, primary");
	CTL(0, "trunk add backup --registrar 127.0.0.1:5999 --user 1002");
	HAS("added trunk backup: registrar 127.0.0.1:5999, user 1002, enabled\n");
	CTL(0, "trunk show main");
	HAS("(primary trunk)");
	HAS("primary:");
	CTL(0, "trunk show backup");
	HASNT("(primary trunk)");

	j = json_run("trunk show main");
	cr_assert(json_is_true(json_object_get(j, "primary")), "%s", out);
	cr_assert(json_is_true(json_object_get(json_object_get(j, "config"), "primary")), "%s",
	          out);
	json_decref(j);
	j = json_run("trunk list");
	a = json_object_get(j, "trunks");
	cr_assert_eq(json_array_size(a), 2, "%s", out);
	json_array_foreach(a, i, row)
	        cr_assert_eq(json_is_true(json_object_get(row, "primary")),
	                     strcmp(str(row, "name"), "main") == 0, "%s", out);
	json_decref(j);

	/* a set that only unmarks keeps the REGISTER in flight */
	for (int k = 0; k < 300 && trunk_workers_registers() < 2; k++)
		usleep(10000);
	j = json_run("trunk show main");
	attempts = json_integer_value(json_object_get(j, "attempts"));
	json_decref(j);
	CTL(0, "trunk set main --no-primary");
	HAS("changed trunk main: registrar 127.0.0.1:5999, user 1001, enabled\n");
	j = json_run("trunk show main");
	cr_assert(json_is_false(json_object_get(j, "primary")), "%s", out);
	cr_assert(json_is_false(json_object_get(json_object_get(j, "config"), "primary")));
	cr_assert_eq(json_integer_value(json_object_get(j, "attempts")), attempts,
	             "only the mark changed: no new REGISTER (%s)", out);
	cr_assert_str_eq(str(json_object_get(j, "config"), "retry_delay"), "120",
	                 "the rest unchanged");
	json_decref(j);
	CTL(0, "trunk set backup --primary");
	j = json_run("trunk show backup");
	cr_assert(json_is_true(json_object_get(j, "primary")), "%s", out);
	json_decref(j);
	/* a set of other fields keeps the mark */
	CTL(0, "trunk set backup --retry-delay 30");
	j = json_run("trunk show backup");
	cr_assert(json_is_true(json_object_get(json_object_get(j, "config"), "primary")), "%s",
	          out);
	json_decref(j);

	/* bad usage: both, or a value */
	CTL(2, "trunk set main --primary --no-primary");
	HAS("--primary and --no-primary together");
	CTL(2, "trunk set main --primary=yes");
	CTL(2, "trunk add x --registrar 127.0.0.1 --user u --no-primary --primary");
	cr_assert_eq(trunk_count(NULL), 2, "nothing added by a bad command");

	/* the CSV's optional column, and the file without it */
	write_file("primary.csv", HEADER_PRIMARY "c1,127.0.0.1:5999,,udp,u1,,pw,,,,1,1\n"
	                                         "c2,127.0.0.1:5999,,udp,u2,,pw,,,,1,0\n");
	CTL(0, "trunk import '%s/primary.csv'", dir);
	HAS("imported 2 trunks from");
	j = json_run("trunk show c1");
	cr_assert(json_is_true(json_object_get(j, "primary")), "%s", out);
	json_decref(j);
	j = json_run("trunk show c2");
	cr_assert(json_is_false(json_object_get(j, "primary")), "%s", out);
	json_decref(j);
	write_file("badprimary.csv", HEADER_PRIMARY "c3,127.0.0.1:5999,,udp,u3,,pw,,,,1,true\n");
	CTL(1, "trunk import '%s/badprimary.csv'", dir);
	HAS("line 2: primary: 'true'");
	cr_assert_eq(trunk_count(NULL), 4);
}
