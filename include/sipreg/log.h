/* SPDX-License-Identifier: MIT */
/*
 * log.h - the daemon's logging: one line per event, key=value fields.
 *
 * Library modules (parser, wheel, registrar, ...) do not log; they return
 * errors. The daemon layer (sipregd, its workers' glue, the admin API) logs.
 *
 * Line format (logfmt), written to standard error with ONE write(2) per line,
 * so lines from several threads never interleave:
 *
 *   ts=2026-11-24T04:35:00.123Z level=warning event=trunk_423 trunk=t1 asked=60 min=120
 *
 * `event` is a short token naming what happened; the caller's format string
 * supplies the remaining fields. Values that may contain spaces or quotes
 * should be passed through log_quote(). A formatted line longer than
 * LOG_LINE_MAX is cut and ends with "..."; CR, LF and other control bytes in
 * the message are replaced by '?' so a line is always one line.
 *
 * With syslog on (log_set_syslog()), every line is also sent to syslog(3)
 * (facility LOG_DAEMON) without the ts= field, at the matching priority.
 *
 * Cost when a level is off: the log_*() macros compare the level first; the
 * arguments are NOT evaluated and nothing is formatted.
 *
 * Rate limiting, per call site: each site may print `burst` lines per
 * `interval_ms` window (defaults 50 per 1000 ms, log_set_ratelimit()). Further
 * lines in the window are counted, not printed; when the window has passed,
 * the next line from that site, or log_flush(), first prints
 *
 *   ts=... level=warning event=log_suppressed site=src/x.c:42 suppressed=1234
 * interval_ms=1000
 *
 * so a flood cannot fill the disk and is never silent. The daemon calls
 * log_flush() about once a second and at exit.
 *
 * Threads: every function here is thread-safe.
 */
#ifndef SIPREG_LOG_H
#define SIPREG_LOG_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Not LOG_ERR/LOG_INFO: those are <syslog.h>'s macros. */
enum log_level {
	LOG_LEVEL_ERROR = 0,
	LOG_LEVEL_WARNING = 1,
	LOG_LEVEL_INFO = 2,
	LOG_LEVEL_DEBUG = 3,
};

/* Longest line written, newline included; longer lines are cut. */
#define LOG_LINE_MAX 2048

/* One per call site, static, created by the macros below. Private fields. */
struct log_site {
	const char *file;
	int line;
	pthread_mutex_t lock;
	bool registered; /* set once under log.c's list lock; read atomically */
	uint64_t window_start_ms;
	unsigned int printed;
	unsigned long suppressed;
	struct log_site *next;
};

/* The current level; read with log_enabled(). Do not write it directly. */
extern int log_max_level;

static inline bool log_enabled(enum log_level level)
{
	return (int)level <= __atomic_load_n(&log_max_level, __ATOMIC_RELAXED);
}

#define LOG_AT(level, event, ...)                                                        \
	do {                                                                             \
		if (log_enabled(level)) {                                                \
			static struct log_site log_site_ = {                             \
			        __FILE__,                                                \
			        __LINE__,                                                \
			        PTHREAD_MUTEX_INITIALIZER,                               \
			};                                                               \
			log_emit(&log_site_, (level), (event), __VA_ARGS__);             \
		}                                                                        \
	} while (0)

/* log_info("event_name", "key=%s n=%d", ...); the format must be a string
 * literal and may be "" (the macros prefix it with a space, which
 * log_emit() skips, so an empty literal is not an empty format). */
#define log_error(event, ...) LOG_AT(LOG_LEVEL_ERROR, event, " " __VA_ARGS__)
#define log_warn(event, ...) LOG_AT(LOG_LEVEL_WARNING, event, " " __VA_ARGS__)
#define log_info(event, ...) LOG_AT(LOG_LEVEL_INFO, event, " " __VA_ARGS__)
#define log_debug(event, ...) LOG_AT(LOG_LEVEL_DEBUG, event, " " __VA_ARGS__)

/* Formats and writes one line (subject to the site's rate limit). Use the
 * macros; they check the level first. */
void log_emit(struct log_site *site, enum log_level level, const char *event,
              const char *fmt, ...) __attribute__((format(printf, 4, 5)));

void log_set_level(enum log_level level);
enum log_level log_get_level(void);

/* "error", "warning", "info", "debug"; NULL for a bad value. */
const char *log_level_name(enum log_level level);
/* Returns 0 and sets *out, or -EINVAL for an unknown name. */
int log_level_parse(const char *name, enum log_level *out);

/* Switches syslog output on (openlog with ident, LOG_PID, LOG_DAEMON) or off.
 * ident must stay valid while syslog is on (a string literal). */
void log_set_syslog(bool on, const char *ident);

/* Where lines go; default 2 (standard error). For tests and redirection.
 * The descriptor is not closed by this module. */
void log_set_fd(int fd);

/* Rate limit per call site: at most burst lines per interval_ms. burst 0
 * turns rate limiting off. Returns 0, or -EINVAL if interval_ms is 0 while
 * burst is not. */
int log_set_ratelimit(unsigned int burst, unsigned int interval_ms);

/* Prints the pending "log_suppressed" summary of every site whose window has
 * ended (all of them when force is true, e.g. at exit). Returns the number of
 * summary lines written. */
unsigned int log_flush(bool force);

/* Total lines suppressed by rate limiting since start (for counters). */
unsigned long log_suppressed_total(void);

/* Writes s as a logfmt value into buf: as is when it is a plain token, else
 * in double quotes with \" \\ and control bytes escaped. Always terminated;
 * cut to fit cap. Returns buf, so it can be used inside the argument list:
 *   char q[128]; log_info("x", "name=%s", log_quote(q, sizeof(q), name));   */
const char *log_quote(char *buf, size_t cap, const char *s);

#endif /* SIPREG_LOG_H */
