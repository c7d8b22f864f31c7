/* SPDX-License-Identifier: MIT */
/*
 * sipregctl - talks to a running sipregd over its admin socket.
 *
 *   sipregctl [-s SOCKET | -c FILE] status [--json]
 *   sipregctl [-s SOCKET | -c FILE] config [--json]
 *   sipregctl [-s SOCKET | -c FILE] get PATH [--json]
 *
 * The socket is -s SOCKET, else [admin] socket of the configuration file
 * given with -c, else the default configuration's path
 * (config_default_admin_socket()). Exit status: 0 success, 1 the daemon is
 * not reachable or answered an error, 2 usage.
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <curl/curl.h>

#include "ctl/version.h"
#include "sipreg/config.h"

struct buf {
	char *p;
	size_t len;
};

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct buf *b = arg;
	size_t n = size * nmemb;
	char *p;

	if (b->len + n > 16u * 1024 * 1024)
		return 0; /* refuse absurd replies */
	p = realloc(b->p, b->len + n + 1);
	if (!p)
		return 0;
	memcpy(p + b->len, ptr, n);
	b->p = p;
	b->len += n;
	b->p[b->len] = '\0';
	return n;
}

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: sipregctl [-s SOCKET | -c FILE] COMMAND [--json]\n"
	        "commands:\n"
	        "  status     version, uptime, workers, listeners, counters\n"
	        "  config     the running configuration, every key\n"
	        "  get PATH   any admin API path, e.g. get /status\n"
	        "options:\n"
	        "  -s SOCKET  the admin socket (default: the default configuration's)\n"
	        "  -c FILE    take the socket from this configuration file\n"
	        "  --json     print the daemon's JSON as is\n"
	        "  -h, -V     help, version\n");
}

/* Before curl: a plain connect, to say precisely why the daemon is not there. */
static int probe(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd, r = 0;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		r = -errno;
	close(fd);
	return r;
}

/* GETs path; returns the HTTP status (and the body in *out) or -1. */
static long fetch(const char *sock, const char *path, struct buf *out)
{
	char url[1024], errbuf[CURL_ERROR_SIZE] = "";
	long status = -1;
	CURLcode rc;
	CURL *c;
	int r;

	r = probe(sock);
	if (r < 0) {
		fprintf(stderr,
		        "sipregctl: cannot connect to sipregd at %s: %s (is sipregd "
		        "running?)\n",
		        sock, strerror(-r));
		return -1;
	}
	c = curl_easy_init();
	if (!c) {
		fprintf(stderr, "sipregctl: cannot initialise libcurl\n");
		return -1;
	}
	snprintf(url, sizeof(url), "http://sipregd%s", path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, sock);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	rc = curl_easy_perform(c);
	if (rc != CURLE_OK) {
		fprintf(stderr,
		        "sipregctl: cannot connect to sipregd at %s: %s (is sipregd "
		        "running?)\n",
		        sock, errbuf[0] ? errbuf : curl_easy_strerror(rc));
	} else {
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	}
	curl_easy_cleanup(c);
	return status;
}

static void print_uptime(json_int_t s)
{
	if (s >= 86400)
		printf("%lldd %02lldh %02lldm %02llds\n", (long long)s / 86400,
		       (long long)s % 86400 / 3600, (long long)s % 3600 / 60,
		       (long long)s % 60);
	else
		printf("%lldh %02lldm %02llds\n", (long long)s / 3600,
		       (long long)s % 3600 / 60, (long long)s % 60);
}

static void print_scalar(json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_STRING:
		fputs(json_string_value(v), stdout);
		break;
	case JSON_INTEGER:
		printf("%lld", (long long)json_integer_value(v));
		break;
	case JSON_REAL:
		printf("%g", json_real_value(v));
		break;
	case JSON_TRUE:
		fputs("yes", stdout);
		break;
	case JSON_FALSE:
		fputs("no", stdout);
		break;
	case JSON_NULL:
		fputs("-", stdout);
		break;
	default: {
		char *t = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);

		fputs(t ? t : "?", stdout);
		free(t);
	}
	}
}

static bool is_scalar(json_t *v)
{
	return !json_is_object(v) && !json_is_array(v);
}

/* key: value lines; nested objects indented; arrays of scalars on one line,
 * arrays of objects as "- " items. */
static void print_human(json_t *obj, int indent)
{
	const char *key;
	json_t *v;
	size_t width = 0;

	json_object_foreach(obj, key, v)
	{
		if (strlen(key) > width)
			width = strlen(key);
	}
	json_object_foreach(obj, key, v)
	{
		printf("%*s%s:", indent, "", key);
		if (json_is_object(v)) {
			printf("\n");
			print_human(v, indent + 2);
			continue;
		}
		printf("%*s ", (int)(width - strlen(key)), "");
		if (strcmp(key, "uptime_s") == 0 && json_is_integer(v)) {
			print_uptime(json_integer_value(v));
			continue;
		}
		if (json_is_array(v)) {
			size_t i;
			json_t *e;
			bool flat = true;

			json_array_foreach(v, i, e) flat = flat && is_scalar(e);
			if (flat) {
				json_array_foreach(v, i, e)
				{
					if (i)
						fputs(" ", stdout);
					print_scalar(e);
				}
				if (json_array_size(v) == 0)
					fputs("(none)", stdout);
				printf("\n");
			} else {
				printf("\n");
				json_array_foreach(v, i, e)
				{
					printf("%*s-\n", indent + 2, "");
					if (json_is_object(e))
						print_human(e, indent + 4);
				}
			}
			continue;
		}
		print_scalar(v);
		printf("\n");
	}
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	        {"socket", required_argument, NULL, 's'},
	        {"config", required_argument, NULL, 'c'},
	        {"json", no_argument, NULL, 'j'},
	        {"help", no_argument, NULL, 'h'},
	        {"version", no_argument, NULL, 'V'},
	        {NULL, 0, NULL, 0},
	};
	char sock[CONFIG_ADMIN_SOCKET_MAX] = "";
	const char *conf = NULL, *cmd, *path;
	struct buf body = {NULL, 0};
	bool json = false;
	json_error_t jerr;
	json_t *root;
	long status;
	int c, rc = 1;

	while ((c = getopt_long(argc, argv, "+s:c:hV", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			if (strlen(optarg) >= sizeof(sock)) {
				fprintf(stderr, "sipregctl: socket path too long: %s\n",
				        optarg);
				return 2;
			}
			strcpy(sock, optarg);
			break;
		case 'c':
			conf = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("sipregctl %s\n", SIPREG_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	cmd = argv[optind++];
	if (strcmp(cmd, "status") == 0) {
		path = "/status";
	} else if (strcmp(cmd, "config") == 0) {
		path = "/config";
	} else if (strcmp(cmd, "get") == 0 && optind < argc && argv[optind][0] == '/') {
		path = argv[optind++];
	} else {
		fprintf(stderr, "sipregctl: unknown command or missing PATH: %s\n", cmd);
		usage(stderr);
		return 2;
	}
	for (; optind < argc; optind++) {
		if (strcmp(argv[optind], "--json") == 0) {
			json = true;
		} else {
			fprintf(stderr, "sipregctl: unexpected argument: %s\n",
			        argv[optind]);
			return 2;
		}
	}
	if (sock[0] == '\0' && conf) {
		struct config_error err;
		struct config *cfg;

		if (config_load(&cfg, conf, &err) < 0) {
			fprintf(stderr, "sipregctl: %s\n", err.msg);
			return 1;
		}
		strcpy(sock, cfg->admin_socket);
		config_free(cfg);
	} else if (sock[0] == '\0' &&
	           config_default_admin_socket(sock, sizeof(sock)) < 0) {
		fprintf(stderr,
		        "sipregctl: the default socket path is too long; use -s\n");
		return 2;
	}

	curl_global_init(CURL_GLOBAL_DEFAULT);
	status = fetch(sock, path, &body);
	if (status < 0)
		goto out;
	root = body.p ? json_loadb(body.p, body.len, 0, &jerr) : NULL;
	if (status != 200) {
		json_t *e = root ? json_object_get(root, "error") : NULL;

		fprintf(stderr, "sipregctl: sipregd answered %ld: %s\n", status,
		        e && json_is_string(e) ? json_string_value(e)
		                               : (body.p ? body.p : ""));
		json_decref(root);
		goto out;
	}
	if (json) {
		fputs(body.p ? body.p : "", stdout);
		if (body.len && body.p[body.len - 1] != '\n')
			fputs("\n", stdout);
		rc = 0;
	} else if (!root || !json_is_object(root)) {
		fprintf(stderr, "sipregctl: sipregd's reply is not a JSON object\n");
	} else {
		print_human(root, 0);
		rc = 0;
	}
	json_decref(root);
out:
	free(body.p);
	curl_global_cleanup();
	return rc;
}
