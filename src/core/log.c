/* SPDX-License-Identifier: MIT */
/*
 * log.c - logfmt lines to a file descriptor (and syslog), per-site rate
 * limiting with a summary of what was suppressed. See include/sipreg/log.h.
 *
 * Each line is formatted into a stack buffer and written with one write(2):
 * the kernel keeps a single write to a pipe (up to PIPE_BUF = 4096 bytes,
 * more than LOG_LINE_MAX) or an O_APPEND file whole, so no lock is needed
 * around the output. The rate-limit state of a site is guarded by the site's
 * own mutex; sites are linked into a global list (once, under list_lock) so
 * that log_flush() can print the summaries of sites that went quiet.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "sipreg/log.h"

int log_max_level = LOG_LEVEL_INFO;

static int out_fd = 2;
static bool use_syslog;
static unsigned int rl_burst = 50; /* > the keys a reload can report */
static unsigned int rl_interval_ms = 1000;
static unsigned long suppressed_total;

static pthread_mutex_t list_lock = PTHREAD_MUTEX_INITIALIZER;
static struct log_site *sites;

static const char *const level_names[] = {"error", "warning", "info", "debug"};
static const int syslog_prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void log_set_level(enum log_level level)
{
	if (level > LOG_LEVEL_DEBUG)
		level = LOG_LEVEL_DEBUG;
	__atomic_store_n(&log_max_level, (int)level, __ATOMIC_RELAXED);
}

enum log_level log_get_level(void)
{
	return (enum log_level)__atomic_load_n(&log_max_level, __ATOMIC_RELAXED);
}

const char *log_level_name(enum log_level level)
{
	if ((unsigned int)level > LOG_LEVEL_DEBUG)
		return NULL;
	return level_names[level];
}

int log_level_parse(const char *name, enum log_level *out)
{
	for (unsigned int i = 0; i <= LOG_LEVEL_DEBUG; i++) {
		if (strcmp(name, level_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -EINVAL;
}

void log_set_syslog(bool on, const char *ident)
{
	pthread_mutex_lock(&list_lock);
	if (on && !use_syslog)
		openlog(ident ? ident : "sipreg", LOG_PID | LOG_NDELAY, LOG_DAEMON);
	else if (!on && use_syslog)
		closelog();
	__atomic_store_n(&use_syslog, on, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&list_lock);
}

void log_set_fd(int fd)
{
	__atomic_store_n(&out_fd, fd, __ATOMIC_RELEASE);
}

int log_set_ratelimit(unsigned int burst, unsigned int interval_ms)
{
	if (burst != 0 && interval_ms == 0)
		return -EINVAL;
	__atomic_store_n(&rl_burst, burst, __ATOMIC_RELAXED);
	__atomic_store_n(&rl_interval_ms, interval_ms, __ATOMIC_RELAXED);
	return 0;
}

unsigned long log_suppressed_total(void)
{
	return __atomic_load_n(&suppressed_total, __ATOMIC_RELAXED);
}

/* "2026-11-24T04:35:00.123Z" */
static size_t format_ts(char *buf, size_t cap)
{
	struct timespec ts;
	struct tm tm;
	size_t n;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(buf, cap, "%Y-%m-%dT%H:%M:%S", &tm);
	n += (size_t)snprintf(buf + n, cap - n, ".%03ldZ", ts.tv_nsec / 1000000);
	return n;
}

static void write_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t w = write(fd, p, len);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return; /* nowhere to report a failing log */
		}
		p += w;
		len -= (size_t)w;
	}
}

/* Writes "ts=... level=L event=E " + body (already in line at body_off). */
static void output(enum log_level level, char *line, size_t len, size_t body_off)
{
	line[len++] = '\n';
	write_all(__atomic_load_n(&out_fd, __ATOMIC_ACQUIRE), line, len);
	if (__atomic_load_n(&use_syslog, __ATOMIC_ACQUIRE))
		syslog(syslog_prio[level], "%.*s", (int)(len - 1 - body_off),
		       line + body_off);
}

/* Formats one line into buf (capacity LOG_LINE_MAX) and writes it. The
 * attribute (GCC and clang) marks fmt as the callers' checked format, so
 * -Wformat-nonliteral (clang, with -Wformat=2) accepts the vsnprintf. */
__attribute__((format(printf, 3, 0))) static void vemit(enum log_level level,
							 const char *event, const char *fmt,
							 va_list ap)
{
	char line[LOG_LINE_MAX];
	const size_t cap = sizeof(line) - 1; /* room for '\n' */
	size_t n, body;
	int r;

	if (fmt[0] == ' ')
		fmt++; /* the macros' prefix */
	n = 3;
	memcpy(line, "ts=", 3);
	n += format_ts(line + n, cap - n);
	line[n++] = ' ';
	body = n;
	r = snprintf(line + n, cap - n, "level=%s event=%s", level_names[level], event);
	n += (size_t)r < cap - n ? (size_t)r : cap - n - 1;
	if (fmt[0] != '\0' && n < cap - 1) {
		line[n++] = ' ';
		line[n] = '\0';
		r = vsnprintf(line + n, cap - n, fmt, ap);
		if (r < 0)
			r = 0;
		if ((size_t)r >= cap - n) {
			n = cap;
			memcpy(line + n - 3, "...", 3);
		} else {
			n += (size_t)r;
		}
	}
	for (size_t i = body; i < n; i++) {
		unsigned char c = (unsigned char)line[i];

		if (c < 0x20 || c == 0x7f)
			line[i] = '?';
	}
	output(level, line, n, body);
}

static void emit_fmt(enum log_level level, const char *event, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static void emit_fmt(enum log_level level, const char *event, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vemit(level, event, fmt, ap);
	va_end(ap);
}

static void print_summary(struct log_site *site, unsigned long n, unsigned int interval)
{
	emit_fmt(LOG_LEVEL_WARNING, "log_suppressed",
	         "site=%s:%d suppressed=%lu interval_ms=%u", site->file, site->line, n,
	         interval);
}

/* Links a site into the list once. Called before the site's own lock is
 * taken, so that list_lock always comes first (log_flush takes list_lock,
 * then each site's lock): no lock-order cycle. */
static void site_register(struct log_site *site)
{
	if (__atomic_load_n(&site->registered, __ATOMIC_ACQUIRE))
		return;
	pthread_mutex_lock(&list_lock);
	if (!site->registered) {
		site->next = sites;
		sites = site;
		__atomic_store_n(&site->registered, true, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&list_lock);
}

void log_emit(struct log_site *site, enum log_level level, const char *event,
              const char *fmt, ...)
{
	unsigned int burst = __atomic_load_n(&rl_burst, __ATOMIC_RELAXED);
	unsigned int interval = __atomic_load_n(&rl_interval_ms, __ATOMIC_RELAXED);
	unsigned long flushed = 0;
	bool print = true;
	va_list ap;

	if ((unsigned int)level > LOG_LEVEL_DEBUG)
		level = LOG_LEVEL_DEBUG;
	site_register(site);
	pthread_mutex_lock(&site->lock);
	if (burst != 0) {
		uint64_t now = now_ms();

		if (site->printed == 0 || now - site->window_start_ms >= interval) {
			flushed = site->suppressed;
			site->suppressed = 0;
			site->printed = 0;
			site->window_start_ms = now;
		}
		if (site->printed < burst) {
			site->printed++;
		} else {
			site->suppressed++;
			print = false;
		}
	}
	pthread_mutex_unlock(&site->lock);

	if (flushed)
		print_summary(site, flushed, interval);
	if (!print) {
		__atomic_add_fetch(&suppressed_total, 1, __ATOMIC_RELAXED);
		return;
	}
	va_start(ap, fmt);
	vemit(level, event, fmt, ap);
	va_end(ap);
}

unsigned int log_flush(bool force)
{
	unsigned int interval = __atomic_load_n(&rl_interval_ms, __ATOMIC_RELAXED);
	uint64_t now = now_ms();
	unsigned int count = 0;

	pthread_mutex_lock(&list_lock);
	for (struct log_site *s = sites; s; s = s->next) {
		unsigned long n = 0;

		pthread_mutex_lock(&s->lock);
		if (s->suppressed && (force || now - s->window_start_ms >= interval)) {
			n = s->suppressed;
			s->suppressed = 0;
			/* a new window starts with the next line */
			s->printed = 0;
		}
		pthread_mutex_unlock(&s->lock);
		if (n) {
			print_summary(s, n, interval);
			count++;
		}
	}
	pthread_mutex_unlock(&list_lock);
	return count;
}

static bool plain_token(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c <= ' ' || c == '"' || c == '=' || c == '\\' || c >= 0x7f)
			return false;
	}
	return true;
}

const char *log_quote(char *buf, size_t cap, const char *s)
{
	size_t n = 0;

	if (cap == 0)
		return buf;
	if (s == NULL)
		s = "";
	if (plain_token(s)) {
		snprintf(buf, cap, "%s", s);
		return buf;
	}
	if (cap < 3) {
		buf[0] = '\0';
		return buf;
	}
	buf[n++] = '"';
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		char esc[5];
		size_t len;

		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			len = 2;
		} else if (c < 0x20 || c == 0x7f) {
			snprintf(esc, sizeof(esc), "\\x%02x", c);
			len = 4;
		} else {
			esc[0] = (char)c;
			len = 1;
		}
		if (n + len + 2 > cap) /* closing quote + NUL */
			break;
		memcpy(buf + n, esc, len);
		n += len;
	}
	buf[n++] = '"';
	buf[n] = '\0';
	return buf;
}
