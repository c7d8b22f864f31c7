/* SPDX-License-Identifier: MIT */
/*
 * test_metrics.c - the Prometheus text builder (exact output, escaping,
 * values, every rejected input leaving the text untouched) and the HTTP
 * listener on 127.0.0.1 port 0 queried with libcurl (200 with the fill's
 * text, 404, 405 for POST/PUT/DELETE, 500 when the fill fails, a busy port).
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sipreg/metrics.h"

static struct metrics *m;

static void setup(void)
{
	cr_assert_eq(metrics_new(&m), 0);
}

static void teardown(void)
{
	metrics_free(m);
}

static const char *text(void)
{
	const char *t = metrics_text(m, NULL);

	cr_assert_not_null(t);
	return t;
}

TestSuite(metrics, .init = setup, .fini = teardown);

Test(metrics, counter_gauge_exact)
{
	struct metrics_label l[] = {{"state", "registered"}, {"worker", "0"}};

	cr_assert_eq(metrics_family(m, "sipreg_registers_total", METRICS_COUNTER,
	                            "REGISTERs received."),
	             0);
	cr_assert_eq(metrics_sample(m, NULL, 0, 42), 0);
	cr_assert_eq(
	        metrics_family(m, "sipreg_trunks", METRICS_GAUGE, "Trunks by state."), 0);
	cr_assert_eq(metrics_sample(m, l, 2, 3), 0);
	cr_assert_eq(metrics_sample(m, l, 1, -1.5), 0);
	cr_assert_str_eq(text(), "# HELP sipreg_registers_total REGISTERs received.\n"
	                         "# TYPE sipreg_registers_total counter\n"
	                         "sipreg_registers_total 42\n"
	                         "# HELP sipreg_trunks Trunks by state.\n"
	                         "# TYPE sipreg_trunks gauge\n"
	                         "sipreg_trunks{state=\"registered\",worker=\"0\"} 3\n"
	                         "sipreg_trunks{state=\"registered\"} -1.5\n");
}

Test(metrics, escaping_and_no_help)
{
	struct metrics_label l[] = {{"v", "a\\b\"c\nd"}};

	cr_assert_eq(metrics_family(m, "x", METRICS_GAUGE, "back\\slash\nnew \"q\""), 0);
	cr_assert_eq(metrics_sample(m, l, 1, 1), 0);
	cr_assert_eq(metrics_family(m, "y", METRICS_GAUGE, NULL), 0);
	cr_assert_eq(metrics_sample(m, NULL, 0, 0), 0);
	cr_assert_str_eq(text(), "# HELP x back\\\\slash\\nnew \"q\"\n"
	                         "# TYPE x gauge\n"
	                         "x{v=\"a\\\\b\\\"c\\nd\"} 1\n"
	                         "# TYPE y gauge\n"
	                         "y 0\n");
}

Test(metrics, values)
{
	cr_assert_eq(metrics_family(m, "g", METRICS_GAUGE, NULL), 0);
	cr_assert_eq(metrics_sample(m, NULL, 0, 0.25), 0);
	cr_assert_eq(metrics_sample(m, NULL, 0, NAN), 0);
	cr_assert_eq(metrics_sample(m, NULL, 0, INFINITY), 0);
	cr_assert_eq(metrics_sample(m, NULL, 0, -INFINITY), 0);
	cr_assert_eq(metrics_sample(m, NULL, 0, 9007199254740991.0), 0);
	cr_assert_eq(metrics_sample(m, NULL, 0, 1e20), 0);
	cr_assert_eq(metrics_sample(m, NULL, 0, -0.0), 0);
	cr_assert_eq(metrics_sample(m, NULL, 0, 0.1), 0);
	cr_assert_eq(metrics_sample(m, NULL, 0, 0.1 + 0.2), 0);
	cr_assert_eq(metrics_sample(m, NULL, 0, 1.0 / 3), 0);
	cr_assert_str_eq(text(), "# TYPE g gauge\n"
	                         "g 0.25\ng NaN\ng +Inf\ng -Inf\n"
	                         "g 9007199254740991\ng 1e+20\ng -0\n"
	                         "g 0.1\ng 0.30000000000000004\ng 0.33333333333333331\n");
}

Test(metrics, histogram_exact)
{
	struct metrics_label l[] = {{"method", "REGISTER"}};
	double b[] = {0.001, 0.01, 1};
	uint64_t c[] = {2, 5, 5};

	cr_assert_eq(metrics_family(m, "sipreg_response_seconds", METRICS_HISTOGRAM,
	                            "Response time."),
	             0);
	cr_assert_eq(metrics_histogram(m, l, 1, b, c, 3, 0.0125, 7), 0);
	cr_assert_eq(metrics_histogram(m, NULL, 0, NULL, NULL, 0, 0, 0), 0);
	cr_assert_str_eq(
	        text(),
	        "# HELP sipreg_response_seconds Response time.\n"
	        "# TYPE sipreg_response_seconds histogram\n"
	        "sipreg_response_seconds_bucket{method=\"REGISTER\",le=\"0.001\"} 2\n"
	        "sipreg_response_seconds_bucket{method=\"REGISTER\",le=\"0.01\"} 5\n"
	        "sipreg_response_seconds_bucket{method=\"REGISTER\",le=\"1\"} 5\n"
	        "sipreg_response_seconds_bucket{method=\"REGISTER\",le=\"+Inf\"} 7\n"
	        "sipreg_response_seconds_sum{method=\"REGISTER\"} 0.0125\n"
	        "sipreg_response_seconds_count{method=\"REGISTER\"} 7\n"
	        "sipreg_response_seconds_bucket{le=\"+Inf\"} 0\n"
	        "sipreg_response_seconds_sum 0\n"
	        "sipreg_response_seconds_count 0\n");
}

Test(metrics, rejected_input_writes_nothing)
{
	struct metrics_label bad_name[] = {{"1x", "v"}};
	struct metrics_label reserved[] = {{"__x", "v"}};
	struct metrics_label dup[] = {{"a", "1"}, {"a", "2"}};
	struct metrics_label le[] = {{"le", "1"}};
	struct metrics_label nullv[] = {{"a", NULL}};
	struct metrics_label dash[] = {{"a-b", "1"}};
	double b_dec[] = {1, 0.5}, b_inf[] = {1, INFINITY}, b_ok[] = {1, 2};
	uint64_t c_ok[] = {1, 2}, c_dec[] = {2, 1}, c_big[] = {1, 9};

	/* nothing declared yet */
	cr_assert_eq(metrics_sample(m, NULL, 0, 1), -EINVAL);
	cr_assert_eq(metrics_histogram(m, NULL, 0, NULL, NULL, 0, 0, 0), -EINVAL);
	/* names */
	cr_assert_eq(metrics_family(m, "", METRICS_GAUGE, NULL), -EINVAL);
	cr_assert_eq(metrics_family(m, NULL, METRICS_GAUGE, NULL), -EINVAL);
	cr_assert_eq(metrics_family(m, "9lives", METRICS_GAUGE, NULL), -EINVAL);
	cr_assert_eq(metrics_family(m, "a-b", METRICS_GAUGE, NULL), -EINVAL);
	cr_assert_eq(metrics_family(m, "a b", METRICS_GAUGE, NULL), -EINVAL);
	cr_assert_eq(metrics_family(m, "x_count", (enum metrics_type)7, NULL), -EINVAL);
	cr_assert_eq(metrics_family(m, "sipreg_registers", METRICS_COUNTER, NULL),
	             -EINVAL);
	cr_assert_eq(metrics_family(m, "h_total", METRICS_HISTOGRAM, NULL), -EINVAL);
	cr_assert_eq(metrics_family(m, "h_bucket", METRICS_HISTOGRAM, NULL), -EINVAL);
	cr_assert_eq(metrics_family(m, "h_sum", METRICS_HISTOGRAM, NULL), -EINVAL);
	cr_assert_eq(metrics_family(m, "h_count", METRICS_HISTOGRAM, NULL), -EINVAL);
	cr_assert_str_eq(text(), "");

	cr_assert_eq(metrics_family(m, "ns:c_total", METRICS_COUNTER, NULL), 0);
	cr_assert_eq(metrics_family(m, "ns:c_total", METRICS_GAUGE, NULL), -EEXIST);
	cr_assert_eq(metrics_sample(m, NULL, 0, -1), -EINVAL);
	cr_assert_eq(metrics_sample(m, NULL, 0, NAN), -EINVAL);
	cr_assert_eq(metrics_sample(m, bad_name, 1, 1), -EINVAL);
	cr_assert_eq(metrics_sample(m, reserved, 1, 1), -EINVAL);
	cr_assert_eq(metrics_sample(m, dup, 2, 1), -EINVAL);
	cr_assert_eq(metrics_sample(m, nullv, 1, 1), -EINVAL);
	cr_assert_eq(metrics_sample(m, dash, 1, 1), -EINVAL);
	cr_assert_eq(metrics_sample(m, NULL, 1, 1), -EINVAL);
	cr_assert_eq(metrics_histogram(m, NULL, 0, b_ok, c_ok, 2, 1, 2), -EINVAL,
	             "a counter family takes no histogram");
	cr_assert_eq(metrics_sample(m, le, 1, 0), 0, "le is fine outside histograms");

	cr_assert_eq(metrics_family(m, "h", METRICS_HISTOGRAM, NULL), 0);
	cr_assert_eq(metrics_sample(m, NULL, 0, 1), -EINVAL);
	cr_assert_eq(metrics_histogram(m, le, 1, b_ok, c_ok, 2, 1, 2), -EINVAL);
	cr_assert_eq(metrics_histogram(m, NULL, 0, b_dec, c_ok, 2, 1, 2), -EINVAL);
	cr_assert_eq(metrics_histogram(m, NULL, 0, b_inf, c_ok, 2, 1, 2), -EINVAL);
	cr_assert_eq(metrics_histogram(m, NULL, 0, b_ok, c_dec, 2, 1, 2), -EINVAL);
	cr_assert_eq(metrics_histogram(m, NULL, 0, b_ok, c_big, 2, 1, 9 - 1), -EINVAL);
	cr_assert_eq(metrics_histogram(m, NULL, 0, b_ok, c_ok, 2, NAN, 2), -EINVAL);
	cr_assert_eq(metrics_histogram(m, NULL, 0, NULL, c_ok, 2, 1, 2), -EINVAL);
	cr_assert_str_eq(text(), "# TYPE ns:c_total counter\n"
	                         "ns:c_total{le=\"1\"} 0\n"
	                         "# TYPE h histogram\n");

	metrics_reset(m);
	cr_assert_str_eq(text(), "");
	cr_assert_eq(metrics_sample(m, NULL, 0, 1), -EINVAL, "reset forgets the family");
	cr_assert_eq(metrics_family(m, "h", METRICS_GAUGE, NULL), 0, "and the names");
}

Test(metrics, grows_past_initial_buffer)
{
	char v[64];
	size_t len;

	cr_assert_eq(metrics_family(m, "big", METRICS_GAUGE, NULL), 0);
	for (int i = 0; i < 5000; i++) {
		struct metrics_label l[] = {{"i", v}};

		snprintf(v, sizeof(v), "%d", i);
		cr_assert_eq(metrics_sample(m, l, 1, i), 0);
	}
	cr_assert_not_null(metrics_text(m, &len));
	cr_assert_gt(len, 5000 * 10);
	cr_assert_not_null(strstr(text(), "big{i=\"4999\"} 4999\n"));
	cr_assert_eq(strlen(text()), len);
}

/* ------------------------------------------------------------------------ */

struct fill_arg {
	int calls;
	int fail;
};

static int fill(struct metrics *mm, void *arg)
{
	struct fill_arg *a = arg;
	struct metrics_label l[] = {{"n", "x"}};
	int r;

	a->calls++;
	if (a->fail)
		return -EIO;
	r = metrics_family(mm, "t_scrapes_total", METRICS_COUNTER, "Calls.");
	if (r == 0)
		r = metrics_sample(mm, l, 1, a->calls);
	return r;
}

struct body {
	char buf[4096];
	size_t len;
};

static size_t on_data(char *p, size_t sz, size_t n, void *arg)
{
	struct body *b = arg;
	size_t k = sz * n;

	if (b->len + k >= sizeof(b->buf))
		return 0;
	memcpy(b->buf + b->len, p, k);
	b->len += k;
	b->buf[b->len] = 0;
	return k;
}

static long http(uint16_t port, const char *method, const char *path, struct body *b,
                 char *ctype, size_t ctcap)
{
	CURL *c = curl_easy_init();
	char url[128];
	long code = -1;
	char *ct = NULL;

	memset(b, 0, sizeof(*b));
	snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", port, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	if (strcmp(method, "POST") == 0)
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, "x=1");
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, b);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 5L);
	if (curl_easy_perform(c) == CURLE_OK) {
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
		if (ctype &&
		    curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct) == CURLE_OK && ct)
			snprintf(ctype, ctcap, "%s", ct);
	}
	curl_easy_cleanup(c);
	return code;
}

Test(metrics_http, serves_metrics_only)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	struct metrics_http *h, *h2;
	struct fill_arg a = {0};
	struct body b;
	char ct[128] = "";
	uint16_t port;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(metrics_http_new(&h, NULL, 0, fill, &a), -EINVAL);
	cr_assert_eq(metrics_http_new(&h, (struct sockaddr *)&sin, sizeof(sin), NULL, &a),
	             -EINVAL);
	cr_assert_eq(metrics_http_new(&h, (struct sockaddr *)&sin, sizeof(sin), fill, &a),
	             0);
	port = metrics_http_port(h);
	cr_assert_neq(port, 0);

	cr_assert_eq(http(port, "GET", "/metrics", &b, ct, sizeof(ct)), 200);
	cr_assert_str_eq(b.buf, "# HELP t_scrapes_total Calls.\n"
	                        "# TYPE t_scrapes_total counter\n"
	                        "t_scrapes_total{n=\"x\"} 1\n");
	cr_assert_str_eq(ct, "text/plain; version=0.0.4; charset=utf-8");
	cr_assert_eq(http(port, "GET", "/metrics", &b, NULL, 0), 200);
	cr_assert_not_null(strstr(b.buf, "t_scrapes_total{n=\"x\"} 2\n"),
	                   "a fresh text per scrape: %s", b.buf);
	cr_assert_eq(metrics_http_scrapes(h), 2);

	cr_assert_eq(http(port, "GET", "/", &b, NULL, 0), 404);
	cr_assert_eq(http(port, "GET", "/metrics/x", &b, NULL, 0), 404);
	cr_assert_eq(http(port, "GET", "/status", &b, NULL, 0), 404);
	cr_assert_eq(http(port, "POST", "/metrics", &b, NULL, 0), 405);
	cr_assert_eq(http(port, "PUT", "/metrics", &b, NULL, 0), 405);
	cr_assert_eq(http(port, "DELETE", "/subscribers", &b, NULL, 0), 405);
	cr_assert_eq(a.calls, 2, "no fill for refused requests");

	a.fail = 1;
	cr_assert_eq(http(port, "GET", "/metrics", &b, NULL, 0), 500);
	cr_assert_eq(metrics_http_scrapes(h), 2);

	/* the port is taken while h listens */
	sin.sin_port = htons(port);
	cr_assert_eq(
	        metrics_http_new(&h2, (struct sockaddr *)&sin, sizeof(sin), fill, &a),
	        -EADDRINUSE);
	metrics_http_free(h);
	cr_assert_eq(http(port, "GET", "/metrics", &b, NULL, 0), -1, "stopped");
	metrics_http_free(NULL);
}

Test(metrics_http, ipv6_loopback)
{
	struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6,
	                            .sin6_addr = IN6ADDR_LOOPBACK_INIT};
	struct metrics_http *h;
	struct fill_arg a = {0};
	CURL *c;
	char url[64];
	long code = 0;
	struct body b = {0};
	int r = metrics_http_new(&h, (struct sockaddr *)&sin6, sizeof(sin6), fill, &a);

	if (r == -EADDRNOTAVAIL || r == -EAFNOSUPPORT)
		cr_skip_test("no IPv6 loopback on this machine (%d)", r);
	cr_assert_eq(r, 0);
	snprintf(url, sizeof(url), "http://[::1]:%u/metrics", metrics_http_port(h));
	c = curl_easy_init();
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 5L);
	cr_assert_eq(curl_easy_perform(c), CURLE_OK);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_cleanup(c);
	cr_assert_eq(code, 200);
	cr_assert_not_null(strstr(b.buf, "t_scrapes_total{n=\"x\"} 1"));
	metrics_http_free(h);
}
