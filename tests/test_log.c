/* SPDX-License-Identifier: MIT */
/*
 * test_log.c - line format, level filtering (arguments not evaluated when
 * off), one line per event, quoting, per-site rate limiting with its summary,
 * and whole lines from many threads at once.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sipreg/log.h"

static char path[64];
static int fd = -1;

static void setup(void)
{
	strcpy(path, "/tmp/sipreg-test-log-XXXXXX");
	fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	cr_assert_eq(fcntl(fd, F_SETFL, O_APPEND), 0);
	log_set_fd(fd);
	log_set_level(LOG_LEVEL_INFO);
	log_set_ratelimit(20, 1000);
}

static void teardown(void)
{
	log_set_fd(2);
	close(fd);
	unlink(path);
}

/* The whole output so far; the caller frees. */
static char *output(void)
{
	off_t len = lseek(fd, 0, SEEK_END);
	char *buf = calloc(1, (size_t)len + 1);

	cr_assert_eq(pread(fd, buf, (size_t)len, 0), len);
	return buf;
}

static int count_lines(const char *s, const char *needle)
{
	int n = 0;

	for (const char *l = s; *l;) {
		const char *e = strchr(l, '\n');

		cr_assert_not_null(e, "unterminated line: %s", l);
		if (!needle || memmem(l, (size_t)(e - l), needle, strlen(needle)))
			n++;
		l = e + 1;
	}
	return n;
}

TestSuite(log, .init = setup, .fini = teardown);

Test(log, line_format)
{
	char *out;
	int y, mo, d, h, mi, s, ms;
	char rest[256];

	log_warn("trunk_interval_too_brief", "trunk=%s asked=%u min=%u", "t1", 60u, 120u);
	out = output();
	cr_assert_eq(sscanf(out, "ts=%4d-%2d-%2dT%2d:%2d:%2d.%3dZ %255[^\n]", &y, &mo, &d,
	                    &h, &mi, &s, &ms, rest),
	             8, "%s", out);
	cr_assert_geq(y, 2024);
	cr_assert_str_eq(rest, "level=warning event=trunk_interval_too_brief trunk=t1 "
	                       "asked=60 min=120");
	cr_assert_eq(count_lines(out, NULL), 1);
	free(out);
}

Test(log, empty_fields)
{
	char *out;

	log_error("started", "");
	out = output();
	cr_assert_not_null(strstr(out, " level=error event=started\n"), "%s", out);
	free(out);
}

static int evaluated;

static int side_effect(void)
{
	return ++evaluated;
}

Test(log, level_filter_skips_formatting)
{
	char *out;

	log_debug("hidden", "n=%d", side_effect());
	cr_assert_eq(evaluated, 0, "arguments of a disabled level were evaluated");
	log_info("shown", "n=%d", side_effect());
	cr_assert_eq(evaluated, 1);
	log_set_level(LOG_LEVEL_ERROR);
	cr_assert_eq(log_get_level(), LOG_LEVEL_ERROR);
	log_warn("hidden2", "n=%d", side_effect());
	log_info("hidden3", "n=%d", side_effect());
	cr_assert_eq(evaluated, 1);
	log_set_level(LOG_LEVEL_DEBUG);
	log_debug("shown2", "n=%d", side_effect());
	out = output();
	cr_assert_eq(count_lines(out, NULL), 2, "%s", out);
	cr_assert_not_null(strstr(out, "event=shown n=1\n"));
	cr_assert_not_null(strstr(out, "level=debug event=shown2 n=2\n"));
	cr_assert_null(strstr(out, "hidden"));
	free(out);
}

Test(log, level_names)
{
	enum log_level l;

	cr_assert_eq(log_level_parse("warning", &l), 0);
	cr_assert_eq(l, LOG_LEVEL_WARNING);
	cr_assert_eq(log_level_parse("debug", &l), 0);
	cr_assert_eq(l, LOG_LEVEL_DEBUG);
	cr_assert_eq(log_level_parse("warn", &l), -EINVAL);
	cr_assert_eq(log_level_parse("", &l), -EINVAL);
	cr_assert_str_eq(log_level_name(LOG_LEVEL_ERROR), "error");
	cr_assert_null(log_level_name((enum log_level)7));
}

Test(log, one_line_per_event_even_with_newlines)
{
	char *out;

	log_info("x", "reason=%s", "bad\r\nline\tend");
	out = output();
	cr_assert_eq(count_lines(out, NULL), 1, "%s", out);
	cr_assert_not_null(strstr(out, "reason=bad??line?end\n"), "%s", out);
	free(out);
}

Test(log, long_line_is_cut)
{
	char *big = malloc(10000), *out;

	memset(big, 'a', 9999);
	big[9999] = '\0';
	log_info("big", "v=%s", big);
	out = output();
	cr_assert_eq(strlen(out), LOG_LINE_MAX, "%zu", strlen(out));
	cr_assert_eq(count_lines(out, NULL), 1);
	cr_assert_eq(strcmp(out + LOG_LINE_MAX - 4, "...\n"), 0);
	free(out);
	free(big);
}

Test(log, quote)
{
	char b[32];

	cr_assert_str_eq(log_quote(b, sizeof(b), "plain"), "plain");
	cr_assert_str_eq(log_quote(b, sizeof(b), "two words"), "\"two words\"");
	cr_assert_str_eq(log_quote(b, sizeof(b), ""), "\"\"");
	cr_assert_str_eq(log_quote(b, sizeof(b), NULL), "\"\"");
	cr_assert_str_eq(log_quote(b, sizeof(b), "a\"b\\c"), "\"a\\\"b\\\\c\"");
	cr_assert_str_eq(log_quote(b, sizeof(b), "k=v"), "\"k=v\"");
	cr_assert_str_eq(log_quote(b, sizeof(b), "x\ny"), "\"x\\x0ay\"");
	/* cut to fit, still closed */
	cr_assert_str_eq(log_quote(b, 8, "a b c d e f"), "\"a b c\"");
	cr_assert_str_eq(log_quote(b, 8, "abcdefghij"), "abcdefg");
}

static void flood(int n)
{
	for (int i = 0; i < n; i++)
		log_warn("flood", "i=%d", i);
}

Test(log, rate_limit_per_site_with_summary)
{
	char *out;

	cr_assert_eq(log_set_ratelimit(5, 200), 0);
	flood(1000);
	log_info("other_site", ""); /* a different site is not limited */
	out = output();
	cr_assert_eq(count_lines(out, "event=flood"), 5, "%s", out);
	cr_assert_eq(count_lines(out, "event=other_site"), 1);
	cr_assert_eq(count_lines(out, "log_suppressed"), 0,
	             "no summary before the window ends");
	cr_assert_eq(log_suppressed_total(), 995);
	free(out);

	usleep(250 * 1000);
	flood(1); /* the next line of the site prints the summary first */
	out = output();
	cr_assert_eq(count_lines(out, "event=log_suppressed"), 1, "%s", out);
	cr_assert_not_null(strstr(out, "level=warning event=log_suppressed site="));
	cr_assert_not_null(strstr(out, " suppressed=995 interval_ms=200\n"), "%s", out);
	cr_assert_eq(count_lines(out, "event=flood"), 6);
	free(out);
}

Test(log, flush_prints_summary_of_quiet_sites)
{
	char *out;

	cr_assert_eq(log_set_ratelimit(3, 100), 0);
	flood(10);
	cr_assert_eq(log_flush(false), 0, "window not over yet");
	usleep(150 * 1000);
	cr_assert_eq(log_flush(false), 1);
	cr_assert_eq(log_flush(false), 0, "printed once");
	flood(10);
	cr_assert_eq(log_flush(true), 1, "forced at exit");
	out = output();
	cr_assert_eq(count_lines(out, "suppressed=7 interval_ms=100"), 2, "%s", out);
	cr_assert_eq(count_lines(out, "event=flood"), 6);
	free(out);
}

Test(log, rate_limit_off)
{
	char *out;

	cr_assert_eq(log_set_ratelimit(0, 0), 0);
	cr_assert_eq(log_set_ratelimit(1, 0), -EINVAL);
	flood(500);
	out = output();
	cr_assert_eq(count_lines(out, "event=flood"), 500);
	free(out);
}

#define THREADS 8
#define PER_THREAD 2000

static void *writer(void *arg)
{
	long id = (long)arg;
	char pad[301];

	memset(pad, 'p', 300);
	pad[300] = '\0';
	for (int i = 0; i < PER_THREAD; i++)
		log_info("mt", "thread=%ld i=%d pad=%s end=%ld", id, i, pad, id);
	return NULL;
}

Test(log, threads_write_whole_lines)
{
	pthread_t t[THREADS];
	char *out;
	int seen[THREADS] = {0};

	log_set_ratelimit(0, 0);
	for (long i = 0; i < THREADS; i++)
		cr_assert_eq(pthread_create(&t[i], NULL, writer, (void *)i), 0);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	out = output();
	cr_assert_eq(count_lines(out, NULL), THREADS * PER_THREAD);
	for (char *l = out; *l;) {
		char *e = strchr(l, '\n');
		long id, id2;
		int i;

		*e = '\0';
		cr_assert_eq(sscanf(strstr(l, "thread="), "thread=%ld i=%d", &id, &i), 2,
		             "%s", l);
		cr_assert_eq(sscanf(strstr(l, "end="), "end=%ld", &id2), 1, "%s", l);
		cr_assert_eq(id, id2, "interleaved line: %s", l);
		cr_assert_eq(i, seen[id], "thread %ld: line %d out of order", id, i);
		seen[id]++;
		l = e + 1;
	}
	free(out);
}

/* The built-in limit, without log_set_ratelimit(): 50 lines per second per
 * site (more than the keys one configuration reload can report). */
static void setup_default(void)
{
	strcpy(path, "/tmp/sipreg-test-log-XXXXXX");
	fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	log_set_fd(fd);
}

Test(log_default, default_rate_limit, .init = setup_default, .fini = teardown)
{
	char *out;

	cr_assert_eq(log_get_level(), LOG_LEVEL_INFO, "info is the default level");
	flood(80);
	out = output();
	cr_assert_eq(count_lines(out, "event=flood"), 50, "%s", out);
	cr_assert_eq(log_suppressed_total(), 30);
	free(out);
}
