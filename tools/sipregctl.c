/* SPDX-License-Identifier: MIT */
/*
 * sipregctl - talks to a running sipregd over its admin socket.
 *
 *   sipregctl [-s SOCKET | -c FILE] status [--json]
 *   sipregctl [-s SOCKET | -c FILE] config [--json]
 *   sipregctl [-s SOCKET | -c FILE] get PATH [--json]
 *   sipregctl [-s SOCKET | -c FILE] subscriber add USER@DOMAIN PASSWORD
 *             [--max-contacts N] [--disabled] [--replace] [--json]
 *   sipregctl ... subscriber add USER@DOMAIN --ha1-md5 HEX [--ha1-sha256 HEX] ...
 *   sipregctl ... subscriber del|show USER@DOMAIN [--json]
 *   sipregctl ... subscriber list [--json]
 *   sipregctl ... subscriber import FILE.csv [--json]
 *   sipregctl ... bindings [USER@DOMAIN] [--json]
 *   sipregctl ... guard list [--json]
 *   sipregctl ... guard clear KEY [--json]      KEY: ADDRESS or ACCOUNT@ADDRESS
 *                                               (ACCOUNT is USER@DOMAIN)
 *   sipregctl ... trunk add NAME --registrar HOST[:PORT] --user USER
 *             [--proxy HOST[:PORT]] [--transport udp|tcp] [--auth-user U]
 *             [--password P] [--domain D] [--realm R] [--contact-user C]
 *             [--expire auto|N] [--retry-delay N] [--disabled] [--primary]
 *             [--json]
 *   sipregctl ... trunk set NAME [the same options, --enabled, --no-primary]
 *             [--json]
 *   sipregctl ... trunk del|enable|disable|refresh|show NAME [--json]
 *   sipregctl ... trunk list [--state S] [--json]
 *   sipregctl ... trunk import FILE.csv [--json]
 *   sipregctl ... trace start [--trunk NAME] [--user USER] [--address IP]
 *             [--file F.pcap] [--hep HOST:PORT] [--hep-id N] [--max-packets N]
 *             [--max-bytes N] [--json]
 *   sipregctl ... trace stop|status [--json]
 *   sipregctl ... doctor [--json]
 *   sipregctl ... reload [--json]
 *
 * The socket is -s SOCKET, else [admin] socket of the configuration file
 * given with -c, else the default configuration's path
 * (config_default_admin_socket()). Exit status: 0 success, 1 the daemon is
 * not reachable or answered an error (a refusal: 400, 404, 409, ...), 2 usage.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "ctl/version.h"

#include "sipreg/admin.h"
#include "sipreg/config.h"
#include "sipreg/ua.h"

/* Replies larger than this are refused (a listing of a million subscribers
 * is about 150 MB of JSON). */
#define REPLY_MAX (256u * 1024 * 1024)

struct buf {
	char *p;
	size_t len;
};

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct buf *b = arg;
	size_t n = size * nmemb;
	char *p;

	if (b->len + n > REPLY_MAX)
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

/* clang-format off */
static void usage(FILE *f)
{
	fprintf(f,
	        "usage: sipregctl [-s SOCKET | -c FILE] COMMAND [ARGS] [--json]\n"
	        "commands:\n"
	        "  status                      version, uptime, workers, listeners, counters\n"
	        "  config                      the running configuration, every key\n"
	        "  get PATH                    any admin API path, e.g. get /status\n"
	        "  subscriber add USER@DOMAIN PASSWORD [--max-contacts N] [--disabled]\n"
	        "                 [--replace]\n"
	        "  subscriber add USER@DOMAIN --ha1-md5 HEX [--ha1-sha256 HEX] [...]\n"
	        "                              add (or with --replace, overwrite) one\n"
	        "                              subscriber; --ha1-md5/--ha1-sha256 give\n"
	        "                              H(user:realm:password) instead of a password;\n"
	        "                              --max-contacts 0 means the configured default\n"
	        "  subscriber del USER@DOMAIN  remove a subscriber\n"
	        "  subscriber list             every subscriber (no secrets)\n"
	        "  subscriber show USER@DOMAIN one subscriber (no secrets)\n"
	        "  subscriber import FILE.csv  add the rows of a CSV file whose header is\n"
	        "                              username,domain,password; all or nothing\n"
	        "  bindings [USER@DOMAIN]      the bindings in force (of one AOR)\n"
	        "  guard list                  failure counters and suspensions\n"
	        "  guard clear KEY             forget a counter or lift a suspension;\n"
	        "                              KEY: ADDRESS or ACCOUNT@ADDRESS as guard\n"
	        "                              list shows it (ACCOUNT is USER@DOMAIN:\n"
	        "                              alice@example.com@192.0.2.7)\n"
	        "  trunk add NAME --registrar HOST[:PORT] --user USER [--proxy HOST[:PORT]]\n"
	        "            [--transport udp|tcp] [--auth-user U] [--password P]\n"
	        "            [--domain D] [--realm R] [--contact-user C]\n"
	        "            [--expire auto|N] [--retry-delay N] [--disabled] [--primary]\n"
	        "                              add an outbound registration (trunk);\n"
	        "                              --expire 20-7200 or auto, --retry-delay\n"
	        "                              30-600 (default: the global\n"
	        "                              SS_SIP_USER_AGENT_EXPIRE / _RETRY_DELAY);\n"
	        "                              --primary: the trunk that carries the\n"
	        "                              traffic (the doctor wants it retried fast)\n"
	        "  trunk set NAME [the options of add] [--enabled] [--no-primary]\n"
	        "                              change only the fields given (--expire\n"
	        "                              global, --retry-delay global: back to the\n"
	        "                              global value; --proxy '': no proxy)\n"
	        "  trunk del NAME              remove (unregistering first)\n"
	        "  trunk enable NAME           register it again\n"
	        "  trunk disable NAME          unregister it and keep it disabled\n"
	        "  trunk refresh NAME          send a REGISTER now\n"
	        "  trunk show NAME             state, last status code and reason, granted\n"
	        "                              expiry, last success, next action and when,\n"
	        "                              attempts and failures, configuration\n"
	        "  trunk list [--state S]      every trunk (in state S: disabled,\n"
	        "                              registering, registered, refreshing,\n"
	        "                              failed, unregistering)\n"
	        "  trunk import FILE.csv       add or change the rows of a CSV file whose\n"
	        "                              header is name,registrar,proxy,transport,\n"
	        "                              user,auth_user,password,domain,expire,\n"
	        "                              retry_delay,enabled[,primary]; all or\n"
	        "                              nothing, a bad row is reported by its line\n"
	        "  trace start [--trunk NAME] [--user USER] [--address IP] [--file F.pcap]\n"
	        "              [--hep HOST:PORT] [--hep-id N] [--max-packets N] [--max-bytes N]\n"
	        "                              copy the matching SIP messages, both\n"
	        "                              directions, to a pcap file (never\n"
	        "                              overwritten; default limits 1,000,000\n"
	        "                              messages, 100 MiB) and/or as HEPv3 to a\n"
	        "                              Homer collector; filters combine (AND)\n"
	        "  trace stop                  stop it (the file is complete)\n"
	        "  trace status                running?, filter, messages written, dropped\n"
	        "  doctor                      the registration problems sipregd sees\n"
	        "                              (NAT, flooding, rejected credentials,\n"
	        "                              blocked, retry delay, synchronised\n"
	        "                              refreshes): severity, evidence and the\n"
	        "                              setting to change\n"
	        "  reload                      re-read the configuration file (as SIGHUP):\n"
	        "                              what was applied, what needs a restart\n"
	        "  doctor                      the registration problems sipregd sees\n"
	        "                              (NAT, flooding, rejected credentials,\n"
	        "                              blocked, retry delay, synchronised\n"
	        "                              refreshes): severity, evidence and the\n"
	        "                              setting to change\n"
	        "  reload                      re-read the configuration file (as SIGHUP):\n"
	        "                              what was applied, what needs a restart\n"
	        "options:\n"
	        "  -s SOCKET  the admin socket (default: the default configuration's)\n"
	        "  -c FILE    take the socket from this configuration file\n"
	        "  --json     print the daemon's JSON as is\n"
	        "  --         the arguments after it are not options (a password\n"
	        "             starting with '-')\n"
	        "  -h, -V     help, version\n"
	        "exit status: 0 done, 1 sipregd unreachable or it refused (the reason is\n"
	        "printed), 2 bad usage\n");
}
/* clang-format on */

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

/* One request: method on path with an optional JSON body (NUL-terminated).
 * Returns the HTTP status (and the body in *out) or -1 (message printed). */
static long request(const char *sock, const char *method, const char *path,
                    const char *body, long timeout_s, struct buf *out)
{
	char url[2048 + 16], errbuf[CURL_ERROR_SIZE] = "";
	struct curl_slist *hdrs = NULL;
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
	curl_easy_setopt(c, CURLOPT_TIMEOUT, timeout_s);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	if (body) {
		hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
		hdrs = curl_slist_append(hdrs, "Expect:"); /* no 100-continue wait */
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
		                 (curl_off_t)strlen(body));
	}
	if (strcmp(method, body ? "POST" : "GET") != 0)
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	rc = curl_easy_perform(c);
	if (rc != CURLE_OK) {
		fprintf(stderr,
		        "sipregctl: cannot connect to sipregd at %s: %s (is sipregd "
		        "running?)\n",
		        sock, errbuf[0] ? errbuf : curl_easy_strerror(rc));
	} else {
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	}
	curl_slist_free_all(hdrs);
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

/* ------------------------------------------------------------------------ */
/* Tables                                                                    */

#define TABLE_COLS_MAX 8

/* A column: its heading and how a cell is made from a row object. */
struct column {
	const char *title;
	void (*cell)(json_t *row, const char *field, char *buf, size_t cap);
	const char *field;
};

/* The field as text: strings as they are, numbers, yes/no, "-" for empty. */
static void cell_field(json_t *row, const char *field, char *buf, size_t cap)
{
	json_t *v = json_object_get(row, field);

	if (json_is_string(v) && json_string_length(v))
		snprintf(buf, cap, "%s", json_string_value(v));
	else if (json_is_integer(v))
		snprintf(buf, cap, "%lld", (long long)json_integer_value(v));
	else if (json_is_real(v))
		snprintf(buf, cap, "%g", json_real_value(v));
	else if (json_is_boolean(v))
		snprintf(buf, cap, "%s", json_is_true(v) ? "yes" : "no");
	else
		snprintf(buf, cap, "-");
}

/* Prints rows (an array of objects) as an aligned table, the last column
 * unpadded. */
static void print_table(json_t *rows, const struct column *cols, size_t ncols)
{
	size_t width[TABLE_COLS_MAX] = {0}, i;
	char cell[1024];
	json_t *row;

	for (size_t c = 0; c < ncols; c++)
		width[c] = strlen(cols[c].title);
	json_array_foreach(rows, i, row)
	{
		for (size_t c = 0; c < ncols; c++) {
			cols[c].cell(row, cols[c].field, cell, sizeof(cell));
			if (strlen(cell) > width[c])
				width[c] = strlen(cell);
		}
	}
	for (size_t c = 0; c < ncols; c++)
		printf("%-*s%s", c + 1 < ncols ? (int)width[c] : 0, cols[c].title,
		       c + 1 < ncols ? "  " : "\n");
	json_array_foreach(rows, i, row)
	{
		for (size_t c = 0; c < ncols; c++) {
			cols[c].cell(row, cols[c].field, cell, sizeof(cell));
			printf("%-*s%s", c + 1 < ncols ? (int)width[c] : 0, cell,
			       c + 1 < ncols ? "  " : "\n");
		}
	}
}

/* Prints the array KEY of a reply as a table (no table when it is empty),
 * then the count: "N " NOUN with the ending ONE or MANY, and " " SUFFIX when
 * SUFFIX is not empty. -1 when the reply has no such array. */
static int print_list(json_t *root, const char *key, const struct column *cols,
                      size_t ncols, const char *noun, const char *one,
                      const char *many, const char *suffix)
{
	json_t *a = json_object_get(root, key);
	size_t n;

	if (!json_is_array(a))
		return -1;
	n = json_array_size(a);
	if (n)
		print_table(a, cols, ncols);
	printf("%zu %s%s%s%s\n", n, noun, n == 1 ? one : many, *suffix ? " " : "",
	       suffix);
	return 0;
}

static void cell_subscriber(json_t *row, const char *field, char *buf, size_t cap)
{
	(void)field;
	snprintf(buf, cap, "%s@%s",
	         json_string_value(json_object_get(row, "username")) ?: "?",
	         json_string_value(json_object_get(row, "domain")) ?: "?");
}

static void cell_max_contacts(json_t *row, const char *field, char *buf, size_t cap)
{
	json_t *v = json_object_get(row, field);

	if (json_is_integer(v) && json_integer_value(v) == 0)
		snprintf(buf, cap, "default");
	else
		cell_field(row, field, buf, cap);
}

static void cell_secret(json_t *row, const char *field, char *buf, size_t cap)
{
	bool pw = json_is_true(json_object_get(row, "has_password"));
	bool md5 = json_is_true(json_object_get(row, "has_ha1_md5"));
	bool sha = json_is_true(json_object_get(row, "has_ha1_sha256"));

	(void)field;
	snprintf(buf, cap, "%s%s%s%s%s", pw ? "password" : "",
	         pw && (md5 || sha) ? "+" : "", md5 ? "ha1-md5" : "",
	         md5 && sha ? "+" : "", sha ? "ha1-sha256" : "");
	if (!buf[0])
		snprintf(buf, cap, "none");
}

static void cell_expires(json_t *row, const char *field, char *buf, size_t cap)
{
	json_t *v = json_object_get(row, field);

	if (json_is_integer(v))
		snprintf(buf, cap, "%llds", (long long)json_integer_value(v));
	else
		snprintf(buf, cap, "-");
}

static void cell_suspended(json_t *row, const char *field, char *buf, size_t cap)
{
	json_t *v = json_object_get(row, "suspended_for");

	(void)field;
	if (json_is_true(json_object_get(row, "suspended")))
		snprintf(buf, cap, "yes, %llds left",
		         (long long)(json_is_integer(v) ? json_integer_value(v) : 0));
	else
		snprintf(buf, cap, "no");
}

static const struct column subscriber_cols[] = {
        {"SUBSCRIBER", cell_subscriber, NULL},
        {"ENABLED", cell_field, "enabled"},
        {"MAX_CONTACTS", cell_max_contacts, "max_contacts"},
        {"SECRET", cell_secret, NULL},
};

static const struct column binding_cols[] = {
        {"AOR", cell_field, "aor"},
        {"CONTACT", cell_field, "contact"},
        {"EXPIRES", cell_expires, "expires"},
        {"RECEIVED", cell_field, "received"},
        {"TRANSPORT", cell_field, "transport"},
        {"NAT", cell_field, "nat"},
        {"USER_AGENT", cell_field, "user_agent"},
};

static const struct column guard_cols[] = {
        {"KEY", cell_field, "key"},
        {"KIND", cell_field, "kind"},
        {"FAILURES", cell_field, "failures"},
        {"SUSPENDED", cell_suspended, NULL},
};

/* Trunks: "401 Unauthorized", "timeout" or "-". */
static void cell_result(json_t *row, const char *field, char *buf, size_t cap)
{
	json_int_t code = json_integer_value(json_object_get(row, "last_code"));
	const char *why = json_string_value(json_object_get(row, "last_reason"));

	(void)field;
	if (code > 0)
		snprintf(buf, cap, "%lld%s%s", (long long)code, why && why[0] ? " " : "",
		         why ? why : "");
	else
		snprintf(buf, cap, "%s", why && why[0] ? why : "-");
}

/* "300s", "300s (asked 600)", "-" when nothing was granted. */
static void cell_granted(json_t *row, const char *field, char *buf, size_t cap)
{
	json_int_t g = json_integer_value(json_object_get(row, "granted"));
	json_int_t a = json_integer_value(json_object_get(row, "asked"));

	(void)field;
	if (g > 0 && a > 0 && a != g)
		snprintf(buf, cap, "%llds (asked %lld)", (long long)g, (long long)a);
	else if (g > 0)
		snprintf(buf, cap, "%llds", (long long)g);
	else
		snprintf(buf, cap, "-");
}

/* The actions with a time: "refresh in 12s"; the others by name. */
static void cell_next(json_t *row, const char *field, char *buf, size_t cap)
{
	const char *a = json_string_value(json_object_get(row, "next_action"));
	json_int_t in = json_integer_value(json_object_get(row, "next_in"));

	(void)field;
	if (!a || strcmp(a, "none") == 0)
		snprintf(buf, cap, "-");
	else if (strcmp(a, "register") == 0 || strcmp(a, "refresh") == 0 ||
	         strcmp(a, "retry") == 0)
		snprintf(buf, cap, "%s in %llds", a, (long long)in);
	else
		snprintf(buf, cap, "%s", a);
}

static void cell_attempts(json_t *row, const char *field, char *buf, size_t cap)
{
	(void)field;
	snprintf(buf, cap, "%lld/%lld",
	         (long long)json_integer_value(json_object_get(row, "attempts")),
	         (long long)json_integer_value(json_object_get(row, "failures")));
}

static const struct column trunk_cols[] = {
        {"NAME", cell_field, "name"},       {"STATE", cell_field, "state"},
        {"LAST_RESULT", cell_result, NULL}, {"GRANTED", cell_granted, NULL},
        {"NEXT", cell_next, NULL},          {"ATTEMPTS/FAILURES", cell_attempts, NULL},
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* The state names in the daemon's order ("disabled", ...). */
static const char *state_at(unsigned i)
{
	return i < UA_STATE__COUNT ? ua_state_name((enum ua_state)i) : NULL;
}

/* sipregctl status: the trunks object of /status as counts by state. */
static void print_status_trunks(json_t *tr)
{
	json_t *by = json_object_get(tr, "by_state"), *v;
	const char *key;
	bool first = true;

	printf("trunks: %lld",
	       (long long)json_integer_value(json_object_get(tr, "total")));
	for (unsigned i = 0; state_at(i); i++) {
		v = json_object_get(by, state_at(i));
		printf("%s%s %lld", first ? " (" : ", ", state_at(i),
		       (long long)json_integer_value(v));
		first = false;
	}
	json_object_foreach(by, key, v)
	{
		enum ua_state st;

		if (ua_state_parse(key, &st) < 0) { /* a state this tool does not know */
			printf("%s%s %lld", first ? " (" : ", ", key,
			       (long long)json_integer_value(v));
			first = false;
		}
	}
	printf("%s\n", first ? "" : ")");
	v = json_deep_copy(tr); /* the counters, as the rest of status */
	if (v) {
		json_object_del(v, "total");
		json_object_del(v, "by_state");
		print_human(v, 2);
		json_decref(v);
	}
}

/* trunk show: the state as sentences, then the configuration. */
static void print_trunk(json_t *t)
{
	json_t *conf = json_object_get(t, "config");
	char cell[512];
	json_int_t v;

	printf("trunk:          %s\n",
	       json_string_value(json_object_get(t, "name")) ?: "?");
	if (!json_object_get(t, "state")) {
		printf("state:          unknown (the owner worker did not answer)\n");
	} else {
		printf("state:          %s%s%s\n",
		       json_string_value(json_object_get(t, "state")) ?: "?",
		       json_is_false(json_object_get(t, "enabled")) ? " (disabled)" : "",
		       json_is_true(json_object_get(t, "primary")) ? " (primary trunk)"
		                                                   : "");
		cell_result(t, NULL, cell, sizeof(cell));
		printf("last result:    %s\n", cell);
		v = json_integer_value(json_object_get(t, "granted"));
		cell_granted(t, NULL, cell, sizeof(cell));
		printf("granted expiry: %s", cell);
		if (json_is_true(json_object_get(t, "valid")))
			printf(", valid for %llds more",
			       (long long)json_integer_value(
			               json_object_get(t, "valid_for")));
		else if (v > 0)
			printf(", lapsed");
		printf("\n");
		v = json_integer_value(json_object_get(t, "last_success"));
		if (v > 0) {
			time_t when = (time_t)v, now = time(NULL);
			struct tm tm;
			char ts[64];

			gmtime_r(&when, &tm);
			strftime(ts, sizeof(ts), "%Y-%m-%d %H:%M:%S UTC", &tm);
			printf("last success:   %s (%llds ago)\n", ts,
			       (long long)(now > when ? now - when : 0));
		} else {
			printf("last success:   never\n");
		}
		cell_next(t, NULL, cell, sizeof(cell));
		printf("next action:    %s\n", cell);
		printf("attempts:       %lld\n",
		       (long long)json_integer_value(json_object_get(t, "attempts")));
		printf("failures:       %lld\n",
		       (long long)json_integer_value(json_object_get(t, "failures")));
	}
	if (json_is_object(conf)) {
		/* what an empty field means */
		static const struct {
			const char *key, *empty;
		} dflt[] = {
		        {"proxy", "none"},
		        {"auth_user", "(the user)"},
		        {"domain", "(the registrar's host)"},
		        {"realm", "(any)"},
		        {"contact_user", "(the user)"},
		};
		json_t *c = json_deep_copy(conf);

		for (size_t i = 0; c && i < sizeof(dflt) / sizeof(dflt[0]); i++) {
			json_t *f = json_object_get(c, dflt[i].key);

			if (json_is_string(f) && json_string_length(f) == 0)
				json_object_set_new(c, dflt[i].key,
				                    json_string(dflt[i].empty));
		}
		printf("config:\n");
		print_human(c ? c : conf, 2);
		json_decref(c);
	}
}

/* GET /doctor: one block per finding, most severe first. */
static int print_doctor(json_t *root)
{
	json_t *list = json_object_get(root, "findings"), *f;
	size_t i, n = json_array_size(list);

	if (!json_is_array(list))
		return -1;
	if (n == 0)
		printf("no findings (%lld trunks checked): nothing to change\n",
		       (long long)json_integer_value(json_object_get(root, "trunks_checked")));
	json_array_foreach(list, i, f)
	{
		char sev[16];
		const char *s = json_string_value(json_object_get(f, "severity")) ?: "?";
		size_t k;

		for (k = 0; s[k] && k < sizeof(sev) - 1; k++)
			sev[k] = (char)(s[k] >= 'a' && s[k] <= 'z' ? s[k] - 32 : s[k]);
		sev[k] = 0;
		printf("%s%-8s  %s  %s %s\n", i ? "\n" : "", sev,
		       json_string_value(json_object_get(f, "kind")) ?: "?",
		       json_string_value(json_object_get(f, "subject_type")) ?: "?",
		       json_string_value(json_object_get(f, "subject")) ?: "?");
		printf("  evidence: %s\n",
		       json_string_value(json_object_get(f, "evidence")) ?: "");
		printf("  setting:  %s\n", json_string_value(json_object_get(f, "setting")) ?: "");
		printf("  advice:   %s\n", json_string_value(json_object_get(f, "advice")) ?: "");
	}
	if (n)
		printf("\n%zu finding%s (%lld trunks checked)\n", n, n == 1 ? "" : "s",
		       (long long)json_integer_value(json_object_get(root, "trunks_checked")));
	if (json_integer_value(json_object_get(root, "omitted")) > 0)
		printf("%lld less severe findings not listed (counts: sipregctl doctor "
		       "--json)\n",
		       (long long)json_integer_value(json_object_get(root, "omitted")));
	return 0;
}

/* POST /reload: what changed, applied or waiting for a restart. */
static int print_reload(json_t *root)
{
	json_t *ap = json_object_get(root, "applied"), *rs = json_object_get(root, "restart_required");
	json_t *lists[2] = {ap, rs}, *c;
	size_t i;

	if (!json_is_array(ap) || !json_is_array(rs))
		return -1;
	printf("reloaded %s: %zu key%s applied, %zu need%s a restart\n",
	       json_string_value(json_object_get(root, "file")) ?: "?", json_array_size(ap),
	       json_array_size(ap) == 1 ? "" : "s", json_array_size(rs),
	       json_array_size(rs) == 1 ? "s" : "");
	for (int l = 0; l < 2; l++)
		json_array_foreach(lists[l], i, c)
		printf("  %-16s %s: %s -> %s%s\n", l ? "needs a restart" : "applied",
		       json_string_value(json_object_get(c, "key")) ?: "?",
		       json_string_value(json_object_get(c, "old")) ?: "?",
		       json_string_value(json_object_get(c, "new")) ?: "?",
		       l ? " (the running value is kept until then)" : "");
	printf("trunks and subscribers are live through the database: no reload needed\n");
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Commands                                                                  */

enum cmd_kind {
	CMD_GET, /* status, config, get PATH: print_human */
	CMD_SUB_ADD,
	CMD_SUB_DEL,
	CMD_SUB_LIST,
	CMD_SUB_SHOW,
	CMD_SUB_IMPORT,
	CMD_BINDINGS,
	CMD_GUARD_LIST,
	CMD_GUARD_CLEAR,
	CMD_TRUNK_ADD,
	CMD_TRUNK_SET,
	CMD_TRUNK_DEL,
	CMD_TRUNK_ENABLE,
	CMD_TRUNK_DISABLE,
	CMD_TRUNK_REFRESH,
	CMD_TRUNK_SHOW,
	CMD_TRUNK_LIST,
	CMD_TRUNK_IMPORT,
	CMD_DOCTOR,
	CMD_RELOAD,
};

/* The options of trunk add / set: option name and JSON key of POST /trunks. */
static const struct {
	const char *opt, *key;
} trunk_opts[] = {
        {"--registrar", "registrar"},
        {"--proxy", "proxy"},
        {"--transport", "transport"},
        {"--user", "user"},
        {"--auth-user", "auth_user"},
        {"--password", "password"},
        {"--domain", "domain"},
        {"--realm", "realm"},
        {"--contact-user", "contact_user"},
        {"--expire", "expire"},
        {"--retry-delay", "retry_delay"},
};
#define TRUNK_OPTS (sizeof(trunk_opts) / sizeof(trunk_opts[0]))

/* Everything the command line says. */
struct cmdline {
	enum cmd_kind kind;
	const char *name; /* "subscriber add", for messages */
	const char *pos[4];
	size_t npos;
	bool json, disabled, replace;
	const char *ha1_md5, *ha1_sha256;
	long max_contacts;             /* -1: not given */
	const char *trunk[TRUNK_OPTS]; /* trunk add/set: NULL = not given */
	int enabled;                   /* trunk add/set: -1 not given, 0, 1 */
	int primary;                   /* trunk add/set: -1 not given, 0, 1 */
	const char *state;             /* trunk list --state */
};

__attribute__((format(printf, 1, 2))) static int bad_usage(const char *fmt, ...)
{
	va_list ap;

	fputs("sipregctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs(" (sipregctl -h lists the commands)\n", stderr);
	return 2;
}

/* USER@DOMAIN, both parts non-empty. */
static bool aor_ok(const char *s)
{
	const char *at = strrchr(s, '@');

	return at && at != s && at[1];
}

/* A trunk add/set option (--name VALUE or --name=VALUE) at argv[*i]: 1 taken
 * (*i moved past its value), 0 not a trunk option, 2 bad usage (printed). */
static int trunk_option(struct cmdline *cl, int argc, char **argv, int *i)
{
	const char *a = argv[*i], *eq = strchr(a, '=');
	size_t len = eq ? (size_t)(eq - a) : strlen(a);

	for (size_t k = 0; k < TRUNK_OPTS; k++) {
		if (strlen(trunk_opts[k].opt) != len ||
		    strncmp(a, trunk_opts[k].opt, len) != 0)
			continue;
		if (eq) {
			cl->trunk[k] = eq + 1;
		} else {
			if (*i + 1 >= argc) {
				bad_usage("%s needs a value", a);
				return 2;
			}
			cl->trunk[k] = argv[++*i];
		}
		return 1;
	}
	if (strcmp(a, "--disabled") == 0 || strcmp(a, "--enabled") == 0) {
		if (cl->enabled >= 0 && cl->enabled != (a[2] == 'e')) {
			bad_usage("%s", "--enabled and --disabled together");
			return 2;
		}
		cl->enabled = a[2] == 'e';
		return 1;
	}
	if (strcmp(a, "--primary") == 0 || strcmp(a, "--no-primary") == 0) {
		if (cl->primary >= 0 && cl->primary != (a[2] == 'p')) {
			bad_usage("%s", "--primary and --no-primary together");
			return 2;
		}
		cl->primary = a[2] == 'p';
		return 1;
	}
	return 0;
}

/* Reads the rest of the command line after the command words. Returns 0 or
 * the exit status 2 (message printed). */
static int parse_args(struct cmdline *cl, int argc, char **argv, int i)
{
	bool sub_add = cl->kind == CMD_SUB_ADD, options = true;
	bool trunk_put = cl->kind == CMD_TRUNK_ADD || cl->kind == CMD_TRUNK_SET;

	for (; i < argc; i++) {
		const char *a = argv[i];
		int t;

		if (options && trunk_put && a[0] == '-' &&
		    (t = trunk_option(cl, argc, argv, &i)) != 0) {
			if (t == 2)
				return 2;
		} else if (options && cl->kind == CMD_TRUNK_LIST &&
		           (strcmp(a, "--state") == 0 ||
		            strncmp(a, "--state=", 8) == 0)) {
			if (a[7] == '=') {
				cl->state = a + 8;
			} else {
				if (i + 1 >= argc)
					return bad_usage("%s needs a value", a);
				cl->state = argv[++i];
			}
		} else if (options && strcmp(a, "--") == 0) {
			options = false; /* a password may start with '-' */
		} else if (!options) {
			if (cl->npos == COUNT(cl->pos))
				return bad_usage("unexpected argument: %s", a);
			cl->pos[cl->npos++] = a;
		} else if (strcmp(a, "--json") == 0) {
			cl->json = true;
		} else if (sub_add && strcmp(a, "--disabled") == 0) {
			cl->disabled = true;
		} else if (sub_add && strcmp(a, "--replace") == 0) {
			cl->replace = true;
		} else if (sub_add && (strcmp(a, "--max-contacts") == 0 ||
		                       strcmp(a, "--ha1-md5") == 0 ||
		                       strcmp(a, "--ha1-sha256") == 0)) {
			if (i + 1 >= argc)
				return bad_usage("%s needs a value", a);
			if (strcmp(a, "--ha1-md5") == 0) {
				cl->ha1_md5 = argv[++i];
			} else if (strcmp(a, "--ha1-sha256") == 0) {
				cl->ha1_sha256 = argv[++i];
			} else {
				char *end;

				errno = 0;
				cl->max_contacts = strtol(argv[++i], &end, 10);
				if (errno || end == argv[i] || *end ||
				    cl->max_contacts < 0 || cl->max_contacts > 1000000)
					return bad_usage(
					        "--max-contacts: not a count: %s",
					        argv[i]);
			}
		} else if (a[0] == '-' && a[1] != '\0') {
			return bad_usage("%s: unknown option %s", cl->name, a);
		} else if (cl->npos < COUNT(cl->pos)) {
			cl->pos[cl->npos++] = a;
		} else {
			return bad_usage("unexpected argument: %s", a);
		}
	}
	return 0;
}

/* Reads FILE whole, wraps it as {"csv": "..."}; NULL with a message. */
static char *import_body(const char *path)
{
	char *text = NULL, *out = NULL;
	size_t len = 0, cap = 0, n;
	json_t *s, *o;
	FILE *f = fopen(path, "rb");

	if (!f) {
		fprintf(stderr, "sipregctl: %s: %s\n", path, strerror(errno));
		return NULL;
	}
	for (;;) {
		if (len + 65536 + 1 > cap) {
			char *p;

			cap = cap ? cap * 2 : 1 << 20;
			if (cap > (size_t)ADMIN_BODY_LARGE_MAX * 2) {
				fprintf(stderr,
				        "sipregctl: %s is too large for one import (the "
				        "limit is %d MiB of JSON): split it\n",
				        path, ADMIN_BODY_LARGE_MAX >> 20);
				goto out;
			}
			p = realloc(text, cap);
			if (!p) {
				fprintf(stderr, "sipregctl: out of memory\n");
				goto out;
			}
			text = p;
		}
		n = fread(text + len, 1, cap - len - 1, f);
		len += n;
		if (n == 0)
			break;
	}
	if (ferror(f)) {
		fprintf(stderr, "sipregctl: %s: read error\n", path);
		goto out;
	}
	text[len] = '\0';
	if (memchr(text, '\0', len)) {
		fprintf(stderr,
		        "sipregctl: %s: a NUL byte at offset %zu: not a CSV file\n", path,
		        (size_t)((char *)memchr(text, '\0', len) - text));
		goto out;
	}
	s = json_stringn(text, len);
	if (!s) {
		fprintf(stderr, "sipregctl: %s is not valid UTF-8\n", path);
		goto out;
	}
	o = json_pack("{s:o}", "csv", s);
	out = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (!out) {
		fprintf(stderr, "sipregctl: out of memory\n");
	} else if (strlen(out) > ADMIN_BODY_LARGE_MAX) {
		fprintf(stderr,
		        "sipregctl: %s is too large for one import (%zu bytes of JSON, "
		        "the "
		        "limit is %d MiB): split it\n",
		        path, strlen(out), ADMIN_BODY_LARGE_MAX >> 20);
		free(out);
		out = NULL;
	}
out:
	free(text);
	fclose(f);
	return out;
}

/* "/prefix/" + the URL-escaped arg. */
static bool escaped_path(char *buf, size_t cap, const char *prefix, const char *arg)
{
	char *e = curl_easy_escape(NULL, arg, 0);
	int n;

	if (!e)
		return false;
	n = snprintf(buf, cap, "%s%s", prefix, e);
	curl_free(e);
	return n > 0 && (size_t)n < cap;
}

/* Prints a successful reply in readable form; returns the exit status. */
static int print_reply(const struct cmdline *cl, json_t *root)
{
	json_t *a;

	switch (cl->kind) {
	case CMD_GET:
		if (strcmp(cl->name, "status") == 0 &&
		    json_is_object(a = json_object_get(root, "trunks"))) {
			json_incref(a);
			json_object_del(root, "trunks");
			print_human(root, 0);
			print_status_trunks(a);
			json_decref(a);
			return 0;
		}
		print_human(root, 0);
		return 0;
	case CMD_SUB_SHOW:
		print_human(root, 0);
		return 0;
	case CMD_SUB_ADD: {
		json_t *mc = json_object_get(root, "max_contacts");

		printf("%s %s@%s: %s, max_contacts %s", cl->replace ? "stored" : "added",
		       json_string_value(json_object_get(root, "username")) ?: "?",
		       json_string_value(json_object_get(root, "domain")) ?: "?",
		       json_is_true(json_object_get(root, "enabled")) ? "enabled"
		                                                      : "disabled",
		       json_integer_value(mc) ? "" : "default");
		if (json_integer_value(mc))
			printf("%lld", (long long)json_integer_value(mc));
		printf("\n");
		return 0;
	}
	case CMD_SUB_DEL:
		printf("deleted %s\n", cl->pos[0]);
		return 0;
	case CMD_SUB_IMPORT:
		printf("imported %lld subscribers from %s\n",
		       (long long)json_integer_value(json_object_get(root, "imported")),
		       cl->pos[0]);
		return 0;
	case CMD_GUARD_CLEAR:
		printf("cleared %s\n", cl->pos[0]);
		return 0;
	case CMD_SUB_LIST:
		if (print_list(root, "subscribers", subscriber_cols,
		               COUNT(subscriber_cols), "subscriber", "", "s", "") == 0)
			return 0;
		break;
	case CMD_BINDINGS:
		if (print_list(root, "bindings", binding_cols, COUNT(binding_cols),
		               "binding", "", "s", "") == 0)
			return 0;
		break;
	case CMD_GUARD_LIST:
		if (print_list(root, "entries", guard_cols, COUNT(guard_cols),
		               "guard entr", "y", "ies", "") == 0)
			return 0;
		break;
	case CMD_TRUNK_ADD:
	case CMD_TRUNK_SET:
		printf("%s trunk %s: registrar %s, user %s, %s%s\n",
		       cl->kind == CMD_TRUNK_ADD ? "added" : "changed", cl->pos[0],
		       json_string_value(json_object_get(root, "registrar")) ?: "?",
		       json_string_value(json_object_get(root, "user")) ?: "?",
		       json_is_true(json_object_get(root, "enabled")) ? "enabled"
		                                                      : "disabled",
		       json_is_true(json_object_get(root, "primary")) ? ", primary" : "");
		return 0;
	case CMD_TRUNK_DEL:
		printf("deleted trunk %s\n", cl->pos[0]);
		return 0;
	case CMD_TRUNK_ENABLE:
		printf("enabled trunk %s\n", cl->pos[0]);
		return 0;
	case CMD_TRUNK_DISABLE:
		printf("disabled trunk %s\n", cl->pos[0]);
		return 0;
	case CMD_TRUNK_REFRESH:
		printf("refreshing trunk %s\n", cl->pos[0]);
		return 0;
	case CMD_TRUNK_SHOW:
		print_trunk(root);
		return 0;
	case CMD_TRUNK_IMPORT:
		printf("imported %lld trunks from %s\n",
		       (long long)json_integer_value(json_object_get(root, "imported")),
		       cl->pos[0]);
		return 0;
	case CMD_DOCTOR:
		if (print_doctor(root) == 0)
			return 0;
		break;
	case CMD_RELOAD:
		if (print_reload(root) == 0)
			return 0;
		break;
	case CMD_TRUNK_LIST:
		/* "N trunks registered" when filtered by state */
		if (print_list(root, "trunks", trunk_cols, COUNT(trunk_cols), "trunk",
		               "", "s", cl->state ? cl->state : "") == 0)
			return 0;
		break;
	}
	fprintf(stderr, "sipregctl: sipregd's reply has not the expected shape\n");
	return 1;
}

/* The body of POST /subscribers; NULL on ENOMEM. */
static char *add_body(const struct cmdline *cl)
{
	const char *aor = cl->pos[0], *at = strrchr(aor, '@');
	json_t *o = json_object();
	char *out;

	json_object_set_new(o, "username", json_stringn(aor, (size_t)(at - aor)));
	json_object_set_new(o, "domain", json_string(at + 1));
	if (cl->npos > 1)
		json_object_set_new(o, "password", json_string(cl->pos[1]));
	if (cl->ha1_md5)
		json_object_set_new(o, "ha1_md5", json_string(cl->ha1_md5));
	if (cl->ha1_sha256)
		json_object_set_new(o, "ha1_sha256", json_string(cl->ha1_sha256));
	json_object_set_new(o, "enabled", json_boolean(!cl->disabled));
	if (cl->max_contacts >= 0)
		json_object_set_new(o, "max_contacts", json_integer(cl->max_contacts));
	if (cl->replace)
		json_object_set_new(o, "replace", json_true());
	out = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return out;
}

/* The value of trunk option key as sent ("global" -> "" for set). */
static const char *trunk_value(const struct cmdline *cl, size_t k)
{
	const char *v = cl->trunk[k];

	if (v && cl->kind == CMD_TRUNK_SET && strcmp(v, "global") == 0 &&
	    (strcmp(trunk_opts[k].key, "expire") == 0 ||
	     strcmp(trunk_opts[k].key, "retry_delay") == 0))
		return "";
	return v;
}

/* Checks the trunk options given, as the daemon would; 0 or 2 (printed). */
static int trunk_check(const struct cmdline *cl)
{
	const char *name = cl->pos[0];
	char host[UA_HOST_MAX + 3];
	uint16_t port;
	int n;

	if (strlen(name) > UA_NAME_MAX || strchr(name, '/') || !name[0])
		return bad_usage("not a trunk name (1-%d bytes, no '/'): %s", UA_NAME_MAX,
		                 name);
	for (size_t k = 0; k < TRUNK_OPTS; k++) {
		const char *key = trunk_opts[k].key, *v = trunk_value(cl, k);
		enum ua_transport tr;
		int r = 0;

		if (!v)
			continue;
		if (strcmp(key, "registrar") == 0 || strcmp(key, "proxy") == 0) {
			if (!v[0] && key[0] == 'r')
				return bad_usage("%s", "--registrar: empty");
			r = ua_hostport_parse(v, host, sizeof(host), &port);
			if (r < 0)
				return bad_usage("%s: not HOST[:PORT]: %s",
				                 trunk_opts[k].opt, v);
		} else if (strcmp(key, "transport") == 0) {
			if (ua_transport_parse(v, &tr) < 0)
				return bad_usage("--transport: %s (allowed: udp, tcp)",
				                 v);
		} else if (strcmp(key, "expire") == 0) {
			if (ua_expire_parse(v, &n) < 0 ||
			    (!v[0] && cl->kind == CMD_TRUNK_ADD))
				return bad_usage(
				        "--expire: %s (allowed: auto, 20-7200%s)", v,
				        cl->kind == CMD_TRUNK_SET ? ", global" : "");
		} else if (strcmp(key, "retry_delay") == 0) {
			if (ua_retry_parse(v, &n) < 0 ||
			    (!v[0] && cl->kind == CMD_TRUNK_ADD))
				return bad_usage(
				        "--retry-delay: %s (allowed: 30-600%s)", v,
				        cl->kind == CMD_TRUNK_SET ? ", global" : "");
		} else if (strcmp(key, "user") == 0 && !v[0]) {
			return bad_usage("%s", "--user: empty");
		}
		if (strlen(v) > UA_FIELD_MAX && strcmp(key, "registrar") != 0 &&
		    strcmp(key, "proxy") != 0)
			return bad_usage("%s: longer than %d bytes", trunk_opts[k].opt,
			                 UA_FIELD_MAX);
	}
	return 0;
}

/* The body of POST /trunks (add) or POST /trunks/NAME (set); NULL on ENOMEM. */
static char *trunk_body(const struct cmdline *cl)
{
	json_t *o = json_object();
	char *out;

	if (cl->kind == CMD_TRUNK_ADD)
		json_object_set_new(o, "name", json_string(cl->pos[0]));
	for (size_t k = 0; k < TRUNK_OPTS; k++)
		if (cl->trunk[k])
			json_object_set_new(o, trunk_opts[k].key,
			                    json_string(trunk_value(cl, k)));
	if (cl->enabled >= 0)
		json_object_set_new(o, "enabled", json_boolean(cl->enabled));
	if (cl->primary >= 0)
		json_object_set_new(o, "primary", json_boolean(cl->primary));
	out = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return out;
}

/* ---- trace start|stop|status (issue 6 §2) ---- */

/* The admin socket as main() resolves it: -s, else -c FILE's, else the
 * default; 0, or an exit status (message printed). */
static int trace_socket(char *sock, size_t cap, const char *conf)
{
	struct config_error err;
	struct config *cfg;

	if (sock[0])
		return 0;
	if (conf) {
		if (config_load(&cfg, conf, &err) < 0) {
			fprintf(stderr, "sipregctl: %s\n", err.msg);
			return 1;
		}
		snprintf(sock, cap, "%s", cfg->admin_socket);
		config_free(cfg);
		return 0;
	}
	if (config_default_admin_socket(sock, cap) < 0) {
		fprintf(stderr, "sipregctl: the default socket path is too long; use -s\n");
		return 2;
	}
	return 0;
}

/* One request with a JSON reply; the reply (object) or NULL with the
 * message printed. */
static json_t *trace_call(const char *sock, const char *method, const char *path,
                          const char *body)
{
	struct buf b = {NULL, 0};
	json_error_t jerr;
	json_t *root = NULL, *e;
	long status = request(sock, method, path, body, 10, &b);

	if (status < 0)
		goto out;
	root = b.p ? json_loadb(b.p, b.len, 0, &jerr) : NULL;
	if (status < 200 || status > 299) {
		e = root ? json_object_get(root, "error") : NULL;
		fprintf(stderr, "sipregctl: sipregd answered %ld: %s\n", status,
		        e && json_is_string(e) ? json_string_value(e) : (b.p ? b.p : ""));
		json_decref(root);
		root = NULL;
	} else if (!json_is_object(root)) {
		fprintf(stderr, "sipregctl: sipregd's reply is not a JSON object\n");
		json_decref(root);
		root = NULL;
	}
out:
	free(b.p);
	return root;
}

static void trace_print(json_t *st)
{
	json_t *f = json_object_get(st, "filter");
	const char *k;
	json_t *v;

	printf("trace: %s\n", json_is_true(json_object_get(st, "active")) ? "running"
	                                                                 : "not running");
	if (!json_object_get(st, "started"))
		return;
	printf("  filter:  ");
	if (!json_object_size(f))
		printf("every message");
	json_object_foreach(f, k, v) {
		if (strcmp(k, "trunk_user") && strcmp(k, "trunk_domain"))
			printf("%s=%s ", k, json_string_value(v) ?: "?");
	}
	printf("\n");
	if (json_string_value(json_object_get(st, "file")))
		printf("  file:    %s\n", json_string_value(json_object_get(st, "file")));
	if (json_string_value(json_object_get(st, "hep")))
		printf("  hep:     %s (capture id %lld)\n",
		       json_string_value(json_object_get(st, "hep")),
		       (long long)json_integer_value(json_object_get(st, "hep_id")));
	printf("  started: %s\n", json_string_value(json_object_get(st, "started")) ?: "-");
	if (json_string_value(json_object_get(st, "stopped")))
		printf("  stopped: %s (%s)\n", json_string_value(json_object_get(st, "stopped")),
		       json_string_value(json_object_get(st, "stop_reason")) ?: "?");
	if (json_string_value(json_object_get(st, "write_error")))
		printf("  error:   %s\n", json_string_value(json_object_get(st, "write_error")));
	printf("  matched %lld, written %lld, hep sent %lld, dropped %lld, %lld bytes "
	       "(limits: %lld messages, %lld bytes)\n",
	       (long long)json_integer_value(json_object_get(st, "matched")),
	       (long long)json_integer_value(json_object_get(st, "written")),
	       (long long)json_integer_value(json_object_get(st, "hep_sent")),
	       (long long)json_integer_value(json_object_get(st, "dropped")),
	       (long long)json_integer_value(json_object_get(st, "bytes")),
	       (long long)json_integer_value(json_object_get(st, "max_packets")),
	       (long long)json_integer_value(json_object_get(st, "max_bytes")));
}

/* --trunk NAME: the trunk's AOR (user, and domain or the registrar's host)
 * from GET /trunks/NAME into the body. 0 or the exit status. */
static int trace_trunk(const char *sock, const char *name, json_t *body)
{
	char path[2048], host[256];
	const char *user, *domain, *registrar;
	json_t *t, *c;
	uint16_t port;
	int rc = 1;

	if (strlen(name) > UA_NAME_MAX || strchr(name, '/'))
		return bad_usage("not a trunk name (1-%d bytes, no '/'): %s", UA_NAME_MAX,
		                 name);
	if (!escaped_path(path, sizeof(path), "/trunks/", name))
		return bad_usage("argument too long: %s", name);
	t = trace_call(sock, "GET", path, NULL);
	if (!t)
		return 1;
	c = json_object_get(t, "config");
	user = json_string_value(json_object_get(c, "user"));
	domain = json_string_value(json_object_get(c, "domain"));
	registrar = json_string_value(json_object_get(c, "registrar"));
	if (!user || !user[0]) {
		fprintf(stderr, "sipregctl: trunk %s: no user in sipregd's reply\n", name);
		goto out;
	}
	if ((!domain || !domain[0]) &&
	    (!registrar || ua_hostport_parse(registrar, host, sizeof(host), &port) < 0)) {
		fprintf(stderr, "sipregctl: trunk %s: no domain nor registrar host\n", name);
		goto out;
	}
	json_object_set_new(body, "trunk", json_string(name));
	json_object_set_new(body, "trunk_user", json_string(user));
	json_object_set_new(body, "trunk_domain",
	                    json_string(domain && domain[0] ? domain : host));
	rc = 0;
out:
	json_decref(t);
	return rc;
}

/* A --name VALUE / --name=VALUE option at argv[*i]: its value (and *i moved
 * past it), or NULL when argv[*i] is not --name. *missing: it had none. */
static const char *trace_opt(int argc, char **argv, int *i, const char *name, bool *missing)
{
	size_t n = strlen(name);

	if (strncmp(argv[*i], name, n) != 0)
		return NULL;
	if (argv[*i][n] == '=')
		return argv[*i] + n + 1;
	if (argv[*i][n])
		return NULL;
	if (*i + 1 >= argc) {
		*missing = true;
		return NULL;
	}
	return argv[++*i];
}

/*
 * sipregctl trace start [--trunk NAME] [--user USER] [--address IP]
 *                       [--file F.pcap] [--hep HOST:PORT] [--hep-id N]
 *                       [--max-packets N] [--max-bytes N] [--json]
 * sipregctl trace stop|status [--json]
 */
static int trace_command(char *sock, size_t cap, const char *conf, bool json, int argc,
                         char **argv, int i)
{
	static const char *const strs[] = {"--user", "--address", "--file", "--hep"};
	static const char *const keys[] = {"user", "address", "file", "hep"};
	static const char *const nums[] = {"--hep-id", "--max-packets", "--max-bytes"};
	static const char *const nkeys[] = {"hep_id", "max_packets", "max_bytes"};
	const char *sub = i < argc ? argv[i] : NULL, *trunk = NULL;
	json_t *body = json_object(), *reply = NULL;
	char *text = NULL;
	int rc = 2;

	if (!body)
		return 1;
	if (!sub || (strcmp(sub, "start") && strcmp(sub, "stop") && strcmp(sub, "status"))) {
		rc = bad_usage("trace: %s%s (start, stop or status)",
		               sub ? "unknown subcommand " : "missing subcommand",
		               sub ? sub : "");
		goto out;
	}
	for (i++; i < argc; i++) {
		bool missing = false, taken = false;
		const char *v;

		if (strcmp(argv[i], "--json") == 0) {
			json = true;
			continue;
		}
		if (strcmp(sub, "start") != 0) {
			rc = bad_usage("trace %s: unexpected argument %s", sub, argv[i]);
			goto out;
		}
		if ((v = trace_opt(argc, argv, &i, "--trunk", &missing))) {
			trunk = v;
			taken = true;
		}
		for (size_t k = 0; !taken && !missing && k < COUNT(strs); k++) {
			if (!(v = trace_opt(argc, argv, &i, strs[k], &missing)))
				continue;
			taken = true;
			if (k == 2 && v[0] && v[0] != '/') { /* the daemon's cwd is not ours */
				char cwd[1024], abs[2048];

				if (!getcwd(cwd, sizeof(cwd)) ||
				    snprintf(abs, sizeof(abs), "%s/%s", cwd, v) >= (int)sizeof(abs)) {
					rc = bad_usage("--file: path too long: %s", v);
					goto out;
				}
				json_object_set_new(body, keys[k], json_string(abs));
			} else {
				json_object_set_new(body, keys[k], json_string(v));
			}
		}
		for (size_t k = 0; !taken && !missing && k < COUNT(nums); k++) {
			char *end;
			long long n;

			if (!(v = trace_opt(argc, argv, &i, nums[k], &missing)))
				continue;
			taken = true;
			errno = 0;
			n = strtoll(v, &end, 10);
			if (errno || end == v || *end || n < 1) {
				rc = bad_usage("%s: not a positive number: %s", nums[k], v);
				goto out;
			}
			json_object_set_new(body, nkeys[k], json_integer(n));
		}
		if (missing) {
			rc = bad_usage("%s needs a value", argv[i]);
			goto out;
		}
		if (!taken) {
			rc = bad_usage("trace start: unknown option %s", argv[i]);
			goto out;
		}
	}
	if (strcmp(sub, "start") == 0 && !json_object_get(body, "file") &&
	    !json_object_get(body, "hep")) {
		rc = bad_usage("%s", "trace start needs --file F.pcap, --hep HOST:PORT or both");
		goto out;
	}
	rc = trace_socket(sock, cap, conf);
	if (rc)
		goto out;
	rc = 1;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (strcmp(sub, "start") == 0) {
		if (trunk && (rc = trace_trunk(sock, trunk, body)) != 0)
			goto out_curl;
		rc = 1;
		text = json_dumps(body, JSON_COMPACT);
		if (text)
			reply = trace_call(sock, "POST", "/trace", text);
	} else {
		reply = trace_call(sock, strcmp(sub, "stop") == 0 ? "DELETE" : "GET", "/trace",
		                   NULL);
	}
	if (!reply)
		goto out_curl;
	/* sipregd created the file at start; under the shipped systemd unit
	 * (PrivateTmp, ProtectSystem=strict) a path may be its own, not ours */
	if (strcmp(sub, "start") == 0 && json_string_value(json_object_get(reply, "file")) &&
	    access(json_string_value(json_object_get(reply, "file")), F_OK) < 0 &&
	    errno == ENOENT)
		fprintf(stderr,
		        "sipregctl: warning: sipregd created %s but it is not visible here "
		        "(sipregd's private /tmp under systemd?); stop and write under "
		        "/var/lib/sipreg/ instead\n",
		        json_string_value(json_object_get(reply, "file")));
	if (json) {
		char *s = json_dumps(reply, JSON_COMPACT);

		if (s)
			printf("%s\n", s);
		free(s);
	} else {
		trace_print(reply);
	}
	rc = 0;
out_curl:
	curl_global_cleanup();
out:
	free(text);
	json_decref(reply);
	json_decref(body);
	return rc;
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
	char sock[CONFIG_ADMIN_SOCKET_MAX] = "", path[2048], cmdname[64];
	const char *conf = NULL, *cmd, *method = "GET";
	struct cmdline cl = {.max_contacts = -1, .enabled = -1, .primary = -1};
	struct buf body = {NULL, 0};
	char *req_body = NULL;
	long status, timeout = 10;
	json_error_t jerr;
	json_t *root;
	int c, rc = 1, words = 1;

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
			cl.json = true;
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
	cmd = argv[optind];
	for (int i = optind; i < argc && strcmp(argv[i], "--") != 0; i++) {
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return 0;
		}
	}
	cl.name = cmd;
	if (strcmp(cmd, "trace") == 0)
		return trace_command(sock, sizeof(sock), conf, cl.json, argc, argv, optind + 1);
	if (strcmp(cmd, "status") == 0 || strcmp(cmd, "config") == 0 ||
	    strcmp(cmd, "get") == 0) {
		cl.kind = CMD_GET;
	} else if (strcmp(cmd, "subscriber") == 0 || strcmp(cmd, "guard") == 0 ||
	           strcmp(cmd, "trunk") == 0) {
		static const struct {
			const char *cmd, *sub;
			enum cmd_kind kind;
		} subs[] = {
		        {"subscriber", "add", CMD_SUB_ADD},
		        {"subscriber", "del", CMD_SUB_DEL},
		        {"subscriber", "list", CMD_SUB_LIST},
		        {"subscriber", "show", CMD_SUB_SHOW},
		        {"subscriber", "import", CMD_SUB_IMPORT},
		        {"guard", "list", CMD_GUARD_LIST},
		        {"guard", "clear", CMD_GUARD_CLEAR},
		        {"trunk", "add", CMD_TRUNK_ADD},
		        {"trunk", "set", CMD_TRUNK_SET},
		        {"trunk", "del", CMD_TRUNK_DEL},
		        {"trunk", "enable", CMD_TRUNK_ENABLE},
		        {"trunk", "disable", CMD_TRUNK_DISABLE},
		        {"trunk", "refresh", CMD_TRUNK_REFRESH},
		        {"trunk", "show", CMD_TRUNK_SHOW},
		        {"trunk", "list", CMD_TRUNK_LIST},
		        {"trunk", "import", CMD_TRUNK_IMPORT},
		};
		const char *sub = optind + 1 < argc ? argv[optind + 1] : NULL;
		size_t k;

		for (k = 0; sub && k < COUNT(subs); k++)
			if (strcmp(subs[k].cmd, cmd) == 0 &&
			    strcmp(subs[k].sub, sub) == 0)
				break;
		if (!sub || k == COUNT(subs)) {
			fprintf(stderr, "sipregctl: %s: %s%s\n", cmd,
			        sub ? "unknown subcommand " : "missing subcommand",
			        sub ? sub : "");
			usage(stderr);
			return 2;
		}
		cl.kind = subs[k].kind;
		if (strcmp(cmd, "trunk") == 0) { /* "trunk add", for messages */
			snprintf(cmdname, sizeof(cmdname), "trunk %s", sub);
			cl.name = cmdname;
		}
		words = 2;
	} else if (strcmp(cmd, "doctor") == 0) {
		cl.kind = CMD_DOCTOR;
	} else if (strcmp(cmd, "reload") == 0) {
		cl.kind = CMD_RELOAD;
	} else if (strcmp(cmd, "bindings") == 0) {
		cl.kind = CMD_BINDINGS;
	} else {
		fprintf(stderr, "sipregctl: unknown command: %s\n", cmd);
		usage(stderr);
		return 2;
	}
	rc = parse_args(&cl, argc, argv, optind + words);
	if (rc)
		return rc;
	rc = 1;

	/* what to ask */
	switch (cl.kind) {
	case CMD_GET:
		if (strcmp(cmd, "get") == 0) {
			if (cl.npos != 1 || cl.pos[0][0] != '/') {
				fprintf(stderr,
				        "sipregctl: unknown command or missing PATH: "
				        "%s\n",
				        cmd);
				usage(stderr);
				return 2;
			}
			snprintf(path, sizeof(path), "%s", cl.pos[0]);
		} else {
			if (cl.npos)
				return bad_usage("unexpected argument: %s", cl.pos[0]);
			snprintf(path, sizeof(path), "/%s", cmd);
		}
		break;
	case CMD_SUB_ADD:
		if (cl.npos < 1 || !aor_ok(cl.pos[0]))
			return bad_usage("%s", "subscriber add needs USER@DOMAIN");
		if (cl.npos > 2)
			return bad_usage("unexpected argument: %s", cl.pos[2]);
		if (cl.npos < 2 && !cl.ha1_md5 && !cl.ha1_sha256)
			return bad_usage("%s",
			                 "subscriber add needs a PASSWORD, or --ha1-md5 "
			                 "and/or --ha1-sha256");
		req_body = add_body(&cl);
		if (!req_body)
			goto out;
		method = "POST";
		snprintf(path, sizeof(path), "/subscribers");
		break;
	case CMD_SUB_DEL:
	case CMD_SUB_SHOW:
	case CMD_BINDINGS:
	case CMD_GUARD_CLEAR:
		if (cl.npos > 1)
			return bad_usage("unexpected argument: %s", cl.pos[1]);
		if (cl.kind == CMD_BINDINGS && cl.npos == 0) {
			snprintf(path, sizeof(path), "/bindings");
			break;
		}
		if (cl.npos == 0)
			return bad_usage("%s needs an argument",
			                 cl.kind == CMD_GUARD_CLEAR ? "guard clear KEY"
			                                            : "USER@DOMAIN");
		if (cl.kind != CMD_GUARD_CLEAR && !aor_ok(cl.pos[0]))
			return bad_usage("not USER@DOMAIN: %s", cl.pos[0]);
		if (!escaped_path(path, sizeof(path),
		                  cl.kind == CMD_BINDINGS      ? "/bindings/"
		                  : cl.kind == CMD_GUARD_CLEAR ? "/guard/"
		                                               : "/subscribers/",
		                  cl.pos[0]))
			return bad_usage("argument too long: %s", cl.pos[0]);
		if (cl.kind == CMD_SUB_DEL || cl.kind == CMD_GUARD_CLEAR)
			method = "DELETE";
		break;
	case CMD_SUB_LIST:
	case CMD_GUARD_LIST:
		if (cl.npos)
			return bad_usage("unexpected argument: %s", cl.pos[0]);
		snprintf(path, sizeof(path),
		         cl.kind == CMD_SUB_LIST ? "/subscribers" : "/guard");
		timeout = 120;
		break;
	case CMD_SUB_IMPORT:
		if (cl.npos != 1)
			return bad_usage("%s",
			                 "subscriber import needs exactly one FILE.csv");
		req_body = import_body(cl.pos[0]);
		if (!req_body)
			goto out;
		method = "POST";
		snprintf(path, sizeof(path), "/subscribers/import");
		timeout = 600;
		break;
	case CMD_TRUNK_ADD:
	case CMD_TRUNK_SET: {
		bool any = cl.enabled >= 0 || cl.primary >= 0;

		if (cl.npos != 1)
			return bad_usage("%s needs exactly one NAME%s%s", cl.name,
			                 cl.npos > 1 ? ", unexpected: " : "",
			                 cl.npos > 1 ? cl.pos[1] : "");
		if (trunk_check(&cl))
			return 2;
		for (size_t k = 0; k < TRUNK_OPTS; k++)
			any = any || cl.trunk[k];
		if (cl.kind == CMD_TRUNK_ADD && (!cl.trunk[0] || !cl.trunk[3]))
			return bad_usage("%s",
			                 "trunk add needs --registrar HOST[:PORT] and "
			                 "--user USER");
		if (cl.kind == CMD_TRUNK_SET && !any)
			return bad_usage("trunk set %s: nothing to change", cl.pos[0]);
		req_body = trunk_body(&cl);
		if (!req_body)
			goto out;
		method = "POST";
		if (cl.kind == CMD_TRUNK_ADD)
			snprintf(path, sizeof(path), "/trunks");
		else if (!escaped_path(path, sizeof(path), "/trunks/", cl.pos[0]))
			return bad_usage("argument too long: %s", cl.pos[0]);
		break;
	}
	case CMD_TRUNK_DEL:
	case CMD_TRUNK_ENABLE:
	case CMD_TRUNK_DISABLE:
	case CMD_TRUNK_REFRESH:
	case CMD_TRUNK_SHOW: {
		static const char *const action[] = {
		        [CMD_TRUNK_ENABLE] = "/enable",
		        [CMD_TRUNK_DISABLE] = "/disable",
		        [CMD_TRUNK_REFRESH] = "/refresh",
		};
		size_t n;

		if (cl.npos != 1)
			return bad_usage("%s needs exactly one NAME%s%s", cl.name,
			                 cl.npos > 1 ? ", unexpected: " : "",
			                 cl.npos > 1 ? cl.pos[1] : "");
		if (strlen(cl.pos[0]) > UA_NAME_MAX || strchr(cl.pos[0], '/'))
			return bad_usage("not a trunk name (1-%d bytes, no '/'): %s",
			                 UA_NAME_MAX, cl.pos[0]);
		if (!escaped_path(path, sizeof(path), "/trunks/", cl.pos[0]))
			return bad_usage("argument too long: %s", cl.pos[0]);
		if (cl.kind == CMD_TRUNK_DEL) {
			method = "DELETE";
		} else if (cl.kind != CMD_TRUNK_SHOW) {
			n = strlen(path);
			snprintf(path + n, sizeof(path) - n, "%s", action[cl.kind]);
			method = "POST";
			req_body = strdup("{}");
			if (!req_body)
				goto out;
		}
		break;
	}
	case CMD_TRUNK_LIST:
		if (cl.npos)
			return bad_usage("unexpected argument: %s", cl.pos[0]);
		if (cl.state) {
			enum ua_state st;

			if (ua_state_parse(cl.state, &st) < 0) {
				fprintf(stderr,
				        "sipregctl: --state: unknown state '%s' "
				        "(allowed:",
				        cl.state);
				for (unsigned i = 0; state_at(i); i++)
					fprintf(stderr, "%s %s", i ? "," : "",
					        state_at(i));
				fprintf(stderr, ")\n");
				return 2;
			}
			snprintf(path, sizeof(path), "/trunks?state=%s", cl.state);
		} else {
			snprintf(path, sizeof(path), "/trunks");
		}
		timeout = 120;
		break;
	case CMD_DOCTOR:
	case CMD_RELOAD:
		if (cl.npos)
			return bad_usage("unexpected argument: %s", cl.pos[0]);
		if (cl.kind == CMD_DOCTOR) {
			snprintf(path, sizeof(path), "/doctor");
			timeout = 60;
			break;
		}
		snprintf(path, sizeof(path), "/reload");
		method = "POST";
		req_body = strdup("{}");
		if (!req_body)
			goto out;
		timeout = 30;
		break;
	case CMD_TRUNK_IMPORT:
		if (cl.npos != 1)
			return bad_usage("%s", "trunk import needs exactly one FILE.csv");
		req_body = import_body(cl.pos[0]);
		if (!req_body)
			goto out;
		method = "POST";
		snprintf(path, sizeof(path), "/trunks/import");
		timeout = 600;
		break;
	}

	if (sock[0] == '\0' && conf) {
		struct config_error err;
		struct config *cfg;

		if (config_load(&cfg, conf, &err) < 0) {
			fprintf(stderr, "sipregctl: %s\n", err.msg);
			goto out;
		}
		strcpy(sock, cfg->admin_socket);
		config_free(cfg);
	} else if (sock[0] == '\0' &&
	           config_default_admin_socket(sock, sizeof(sock)) < 0) {
		fprintf(stderr,
		        "sipregctl: the default socket path is too long; use -s\n");
		rc = 2;
		goto out;
	}

	curl_global_init(CURL_GLOBAL_DEFAULT);
	status = request(sock, method, path, req_body, timeout, &body);
	if (status < 0)
		goto out_curl;
	root = body.p ? json_loadb(body.p, body.len, 0, &jerr) : NULL;
	if (status < 200 || status > 299) {
		json_t *e = root ? json_object_get(root, "error") : NULL;

		fprintf(stderr, "sipregctl: sipregd answered %ld: %s\n", status,
		        e && json_is_string(e) ? json_string_value(e)
		                               : (body.p ? body.p : ""));
		json_decref(root);
		goto out_curl;
	}
	if (cl.json) {
		fputs(body.p ? body.p : "", stdout);
		if (body.len && body.p[body.len - 1] != '\n')
			fputs("\n", stdout);
		rc = 0;
	} else if (!root || !json_is_object(root)) {
		fprintf(stderr, "sipregctl: sipregd's reply is not a JSON object\n");
	} else {
		rc = print_reply(&cl, root);
	}
	json_decref(root);
out_curl:
	curl_global_cleanup();
out:
	free(req_body);
	free(body.p);
	return rc;
}
