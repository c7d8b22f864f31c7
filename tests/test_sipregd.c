/* SPDX-License-Identifier: MIT */
/*
 * test_sipregd.c - the daemon as a process: --check-config, usage errors,
 * start-up with a configuration, sipregctl status against it, SIGHUP (a live
 * key applied, a restart-only key reported, a broken file refused), and a
 * bounded SIGTERM stop that removes the admin socket. Every process started
 * here is stopped by its PID.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char dir[64], conf[128], sock[128], log_path[128];
static pid_t daemon_pid = -1;

static void setup(void)
{
	strcpy(dir, "/tmp/sipreg-test-sipregd-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(conf, sizeof(conf), "%s/sipreg.conf", dir);
	snprintf(sock, sizeof(sock), "%s/admin.sock", dir);
	snprintf(log_path, sizeof(log_path), "%s/sipregd.log", dir);
}

static void teardown(void)
{
	char cmd[128];

	if (daemon_pid > 0) {
		kill(daemon_pid, SIGKILL);
		waitpid(daemon_pid, NULL, 0);
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
}

TestSuite(sipregd, .init = setup, .fini = teardown, .timeout = 60);

static void exe_path(char *buf, size_t cap, const char *rel)
{
	const char *root = getenv("SIPREG_BUILD_ROOT");

	cr_assert_not_null(root, "SIPREG_BUILD_ROOT is not set (run through meson test)");
	snprintf(buf, cap, "%s/%s", root, rel);
	cr_assert_eq(access(buf, X_OK), 0, "%s is not built", buf);
}

static void write_conf(const char *extra)
{
	FILE *f = fopen(conf, "w");

	cr_assert_not_null(f);
	fprintf(f,
	        "[core]\nlisten = udp:127.0.0.1:0\nworkers = 2\nshutdown_timeout = 3\n"
	        "[admin]\nsocket = %s\n[database]\npath = %s/sipreg.db\n%s",
	        sock, dir, extra);
	fclose(f);
}

/* Runs exe with args to completion (at most 20 s); output into out. */
static int run(const char *rel, const char *const *args, char *out, size_t cap)
{
	char exe[512];
	int pfd[2], status;
	size_t len = 0;
	ssize_t n;
	pid_t pid;

	exe_path(exe, sizeof(exe), rel);
	cr_assert_eq(pipe(pfd), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		const char *argv[16] = {exe};

		for (int i = 0; args[i] && i < 14; i++)
			argv[i + 1] = args[i];
		dup2(pfd[1], 1);
		dup2(pfd[1], 2);
		close(pfd[0]);
		alarm(20);
		execv(exe, (char *const *)argv);
		_exit(127);
	}
	close(pfd[1]);
	while (len + 1 < cap && (n = read(pfd[0], out + len, cap - 1 - len)) > 0)
		len += (size_t)n;
	out[len] = '\0';
	close(pfd[0]);
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status), "%s did not exit normally", rel);
	return WEXITSTATUS(status);
}

static void start_daemon(void)
{
	char exe[512];
	struct stat st;

	exe_path(exe, sizeof(exe), "src/sipregd");
	daemon_pid = fork();
	cr_assert_geq(daemon_pid, 0);
	if (daemon_pid == 0) {
		int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0600);

		/* dies with the test process, even if a failed assertion skips the
		 * teardown */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(fd, 2);
		execl(exe, exe, "-c", conf, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 100; i++) {
		if (stat(sock, &st) == 0)
			return;
		usleep(50 * 1000);
	}
	cr_assert_fail("sipregd did not create %s within 5 s", sock);
}

static char *read_log(void)
{
	static char buf[65536];
	int fd = open(log_path, O_RDONLY);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;

	if (fd >= 0)
		close(fd);
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

/* Waits (at most 5 s) until the log contains needle. */
static bool log_wait(const char *needle)
{
	for (int i = 0; i < 100; i++) {
		if (strstr(read_log(), needle))
			return true;
		usleep(50 * 1000);
	}
	return false;
}

static json_t *status_json(void)
{
	char out[16384];
	json_t *j;

	cr_assert_eq(run("tools/sipregctl",
	                 (const char *[]){"-s", sock, "status", "--json", NULL}, out,
	                 sizeof(out)),
	             0, "%s", out);
	j = json_loads(out, 0, NULL);
	cr_assert_not_null(j, "%s", out);
	return j;
}

Test(sipregd, check_config)
{
	char out[4096], want[512];

	write_conf("[sip]\nSS_ENDPOINT_NAT_EXPIRE = 120\n");
	cr_assert_eq(run("src/sipregd",
	                 (const char *[]){"--check-config", "-c", conf, NULL}, out,
	                 sizeof(out)),
	             0, "%s", out);
	snprintf(want, sizeof(want), "%s: configuration OK\n", conf);
	cr_assert_str_eq(out, want);

	write_conf("[sip]\n\nSS_ENDPOINT_NAT_EXPIRE = 3601\n");
	cr_assert_eq(run("src/sipregd",
	                 (const char *[]){"--check-config", "-c", conf, NULL}, out,
	                 sizeof(out)),
	             1);
	snprintf(
	        want, sizeof(want),
	        "%s:11: SS_ENDPOINT_NAT_EXPIRE: 3601 is out of range (allowed: 20-3600)\n",
	        conf);
	cr_assert_str_eq(out, want);

	/* the same error stops a real start, before anything is created */
	cr_assert_eq(
	        run("src/sipregd", (const char *[]){"-c", conf, NULL}, out, sizeof(out)),
	        1);
	cr_assert_str_eq(out, want);
	cr_assert_neq(access(sock, F_OK), 0);

	snprintf(want, sizeof(want), "%s/none.conf", dir);
	cr_assert_eq(run("src/sipregd",
	                 (const char *[]){"--check-config", "-c", want, NULL}, out,
	                 sizeof(out)),
	             1);
	cr_assert_not_null(
	        strstr(out, "none.conf: cannot open: No such file or directory"), "%s",
	        out);
}

Test(sipregd, usage_and_version)
{
	char out[4096];

	cr_assert_eq(run("src/sipregd", (const char *[]){"-V", NULL}, out, sizeof(out)),
	             0);
	cr_assert_str_eq(out, "sipregd 0.1.0\n");
	cr_assert_eq(run("src/sipregd", (const char *[]){"-h", NULL}, out, sizeof(out)),
	             0);
	cr_assert_not_null(strstr(out, "usage: sipregd"));
	cr_assert_eq(
	        run("src/sipregd", (const char *[]){"--bogus", NULL}, out, sizeof(out)),
	        2);
	cr_assert_eq(
	        run("src/sipregd", (const char *[]){"extra", NULL}, out, sizeof(out)), 2);
	cr_assert_eq(
	        run("tools/sipregctl", (const char *[]){"-V", NULL}, out, sizeof(out)),
	        0);
	cr_assert_str_eq(out, "sipregctl 0.1.0\n");
	cr_assert_eq(run("tools/sipregctl", (const char *[]){NULL}, out, sizeof(out)), 2);
}

Test(sipregd, runs_reloads_and_stops)
{
	char out[16384];
	struct timespec t0, t1;
	struct stat st;
	json_t *j;
	int status;

	write_conf("");
	start_daemon();
	cr_assert(log_wait("event=started"), "%s", read_log());
	cr_assert_eq(stat(sock, &st), 0);
	cr_assert_eq(st.st_mode & 0777, 0600);

	/* status, human and JSON */
	cr_assert_eq(run("tools/sipregctl", (const char *[]){"-s", sock, "status", NULL},
	                 out, sizeof(out)),
	             0, "%s", out);
	cr_assert_not_null(strstr(out, "workers:"), "%s", out);
	cr_assert_not_null(strstr(out, "listen:"), "%s", out);
	cr_assert_not_null(strstr(out, "udp:127.0.0.1:0"), "%s", out);
	/* -c takes the socket from the configuration file */
	cr_assert_eq(run("tools/sipregctl", (const char *[]){"-c", conf, "status", NULL},
	                 out, sizeof(out)),
	             0, "%s", out);
	cr_assert_not_null(strstr(out, "workers:"), "%s", out);
	j = status_json();
	cr_assert_eq(json_integer_value(json_object_get(j, "workers")), 2);
	cr_assert_eq(json_integer_value(json_object_get(j, "pid")), daemon_pid);
	cr_assert_str_eq(json_string_value(json_object_get(j, "log_level")), "info");
	cr_assert(json_is_true(json_array_get(json_object_get(j, "workers_running"), 1)));
	json_decref(j);

	/* SIGHUP: log_level is live, workers needs a restart */
	{
		/* workers = 2 -> 3 by rewriting the whole file */
		FILE *f = fopen(conf, "w");

		fprintf(f,
		        "[core]\nlisten = udp:127.0.0.1:0\nworkers = 3\nshutdown_timeout "
		        "= 3\n"
		        "log_level = debug\n[admin]\nsocket = %s\n",
		        sock);
		fclose(f);
	}
	kill(daemon_pid, SIGHUP);
	cr_assert(log_wait("event=config_reloaded"), "%s", read_log());
	cr_assert_not_null(
	        strstr(read_log(), "key=core.log_level old=info new=debug applied=yes"));
	cr_assert_not_null(strstr(read_log(), "key=core.workers old=2 new=3 applied=no"));
	j = status_json();
	cr_assert_str_eq(json_string_value(json_object_get(j, "log_level")), "debug");
	cr_assert_eq(json_integer_value(json_object_get(j, "workers")), 2);
	cr_assert_eq(json_integer_value(json_object_get(json_object_get(j, "counters"),
	                                                "config_reloads")),
	             1);
	json_decref(j);

	/* GET /config: the running values (workers still 2) and the live keys */
	cr_assert_eq(run("tools/sipregctl",
	                 (const char *[]){"-s", sock, "config", "--json", NULL}, out,
	                 sizeof(out)),
	             0, "%s", out);
	j = json_loads(out, 0, NULL);
	cr_assert_not_null(j, "%s", out);
	{
		json_t *core = json_object_get(json_object_get(j, "sections"), "core");
		json_t *sip = json_object_get(json_object_get(j, "sections"), "sip");
		json_t *live = json_object_get(j, "live_keys");
		bool found = false;
		size_t i;
		json_t *v;

		cr_assert_str_eq(json_string_value(json_object_get(core, "workers")),
		                 "2");
		cr_assert_str_eq(json_string_value(json_object_get(core, "log_level")),
		                 "debug");
		cr_assert_str_eq(
		        json_string_value(json_object_get(sip, "SS_ENDPOINT_EXPIRE")),
		        "3600");
		json_array_foreach(live, i, v) found |=
		        strcmp(json_string_value(v), "sip.SS_ENDPOINT_EXPIRE") == 0;
		cr_assert(found, "%s", out);
	}
	json_decref(j);
	cr_assert_eq(run("tools/sipregctl", (const char *[]){"-s", sock, "config", NULL},
	                 out, sizeof(out)),
	             0, "%s", out);
	{
		const char *p = strstr(out, "    SS_SIP_USER_AGENT_EXPIRE:");

		cr_assert_not_null(p, "%s", out);
		p += strlen("    SS_SIP_USER_AGENT_EXPIRE:");
		p += strspn(p, " ");
		cr_assert_eq(strncmp(p, "auto\n", 5), 0, "%s", out);
	}

	/* SIGHUP with a broken file: refused, the daemon keeps running */
	write_conf("[sip]\nSS_SIP_USER_AGENT_RETRY_DELAY = 29\n");
	kill(daemon_pid, SIGHUP);
	cr_assert(log_wait("event=config_reload_failed"), "%s", read_log());
	cr_assert_not_null(
	        strstr(read_log(), "SS_SIP_USER_AGENT_RETRY_DELAY: 29 is out of range"));
	j = status_json();
	cr_assert_eq(json_integer_value(json_object_get(json_object_get(j, "counters"),
	                                                "config_reload_failures")),
	             1);
	json_decref(j);

	/* a second daemon on the same socket refuses to start */
	write_conf("");
	cr_assert_eq(
	        run("src/sipregd", (const char *[]){"-c", conf, NULL}, out, sizeof(out)),
	        1);
	cr_assert_not_null(strstr(out, "another sipregd answers on it"), "%s", out);

	/* SIGTERM: stops within shutdown_timeout, removes the socket */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	kill(daemon_pid, SIGTERM);
	cr_assert_eq(waitpid(daemon_pid, &status, 0), daemon_pid);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	daemon_pid = -1;
	cr_assert(WIFEXITED(status));
	cr_assert_eq(WEXITSTATUS(status), 0, "%s", read_log());
	cr_assert_lt(t1.tv_sec - t0.tv_sec, 3);
	cr_assert_not_null(strstr(read_log(), "event=stopped"));
	cr_assert_neq(access(sock, F_OK), 0, "admin socket left behind");

	/* and sipregctl now says the daemon is not running */
	cr_assert_eq(run("tools/sipregctl", (const char *[]){"-s", sock, "status", NULL},
	                 out, sizeof(out)),
	             1);
	cr_assert_not_null(strstr(out, "(is sipregd running?)"), "%s", out);
}

Test(sipregd, sigint_stops_too)
{
	int status;

	write_conf("");
	start_daemon();
	cr_assert(log_wait("event=started"));
	kill(daemon_pid, SIGINT);
	cr_assert_eq(waitpid(daemon_pid, &status, 0), daemon_pid);
	daemon_pid = -1;
	cr_assert(WIFEXITED(status));
	cr_assert_eq(WEXITSTATUS(status), 0);
	cr_assert_not_null(strstr(read_log(), "event=stopping signal=SIGINT"));
}
