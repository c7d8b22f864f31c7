/* SPDX-License-Identifier: MIT */
/*
 * metrics.h - the Prometheus text exposition format (version 0.0.4) and a
 * read-only HTTP listener that serves it at GET /metrics.
 *
 * The builder writes families in the order they are declared:
 *
 *   metrics_family(m, "sipreg_trunks", METRICS_GAUGE, "Trunks by state.");
 *   metrics_sample(m, (struct metrics_label[]){{"state", "registered"}}, 1, 12);
 *
 * gives
 *
 *   # HELP sipreg_trunks Trunks by state.
 *   # TYPE sipreg_trunks gauge
 *   sipreg_trunks{state="registered"} 12
 *
 * Rules the builder enforces (-EINVAL otherwise, and nothing is written):
 * metric and label names match [a-zA-Z_][a-zA-Z0-9_]* (metric names may also
 * hold ':'); label names starting with "__" are reserved; a counter's name
 * ends in "_total"; a histogram's name ends in none of "_total", "_bucket",
 * "_sum", "_count" and its samples carry no label "le"; a sample's label names
 * are distinct; a counter's value is a number >= 0 (not NaN); histogram
 * bounds are finite and strictly increasing, cumulative bucket counts never
 * decrease and never exceed the count. A family name declared twice is
 * -EEXIST. HELP text escapes '\' and newline; label values escape '\', '"'
 * and newline. Values: integers below 2^53 print without exponent, others
 * in the shorter of 15 or 17 significant digits that reads back exactly
 * (0.1, 0.30000000000000004), NaN as "NaN", infinities as "+Inf"/"-Inf".
 *
 * Threads: a struct metrics belongs to one thread at a time. The HTTP
 * listener runs libmicrohttpd's one internal thread: the fill callback runs
 * there, one scrape at a time.
 */
#ifndef SIPREG_METRICS_H
#define SIPREG_METRICS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

enum metrics_type {
	METRICS_COUNTER,
	METRICS_GAUGE,
	METRICS_HISTOGRAM,
};

struct metrics_label {
	const char *name;
	const char *value;
};

struct metrics;

/* An empty exposition. Errors: -ENOMEM. */
int metrics_new(struct metrics **ret);

/* metrics_free(NULL) is a no-op. */
void metrics_free(struct metrics *m);

/* Empties m for another scrape (keeps its memory). */
void metrics_reset(struct metrics *m);

/* Starts a family: its HELP and TYPE lines. help may be NULL (no HELP).
 * Errors: -EINVAL (bad name, see above), -EEXIST (declared before),
 * -ENOMEM. */
int metrics_family(struct metrics *m, const char *name, enum metrics_type type,
                   const char *help);

/* One sample of the current counter or gauge family. labels may be NULL
 * when nlabels is 0. Errors: -EINVAL (no family yet, the family is a
 * histogram, a bad label, a counter value < 0 or NaN), -ENOMEM. */
int metrics_sample(struct metrics *m, const struct metrics_label *labels, size_t nlabels,
                   double value);

/* One histogram of the current histogram family: nbuckets upper bounds
 * (without +Inf) and the cumulative count of observations <= each bound;
 * count is every observation (the +Inf bucket), sum their total.
 * Errors: -EINVAL (no family, not a histogram, a bad label or "le", bounds
 * not finite and increasing, cumulative counts decreasing or above count,
 * nbuckets 0 with a non-NULL bound array is fine), -ENOMEM. */
int metrics_histogram(struct metrics *m, const struct metrics_label *labels,
                      size_t nlabels, const double *bounds, const uint64_t *cumulative,
                      size_t nbuckets, double sum, uint64_t count);

/* The text so far (NUL-terminated) and its length; NULL after an -ENOMEM
 * (the text may be cut short: a scrape must then fail). */
const char *metrics_text(const struct metrics *m, size_t *len);

/* ------------------------------------------------------------------------ */
/* The HTTP listener                                                         */

/* Fills m for one scrape; 0, or a negative errno (the scrape gets 500). */
typedef int (*metrics_fill_fn)(struct metrics *m, void *arg);

struct metrics_http;

/*
 * Listens on addr (IPv4 or IPv6, TCP; port 0: the kernel picks one) and
 * serves GET and HEAD /metrics with fill's output (Content-Type
 * "text/plain; version=0.0.4; charset=utf-8"). Any other path is 404, any
 * other method 405 with "Allow: GET, HEAD": nothing on this listener changes
 * the daemon. At most 16 connections, 10 s idle timeout.
 * Errors: -EINVAL (addr NULL or not AF_INET/AF_INET6, fill NULL), the errno
 * of socket(2), bind(2) (-EADDRINUSE, -EADDRNOTAVAIL, -EACCES) or
 * listen(2), -ENOMEM (libmicrohttpd did not start).
 */
int metrics_http_new(struct metrics_http **ret, const struct sockaddr *addr,
                     socklen_t addrlen, metrics_fill_fn fill, void *arg);

/* The bound port (useful after port 0). */
uint16_t metrics_http_port(const struct metrics_http *h);

/* Number of scrapes served with 200. */
uint64_t metrics_http_scrapes(const struct metrics_http *h);

/* Stops the listener (waits for a scrape in progress). NULL is a no-op. */
void metrics_http_free(struct metrics_http *h);

#endif /* SIPREG_METRICS_H */
