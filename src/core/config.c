/* SPDX-License-Identifier: MIT */
/*
 * config.c - the configuration: one table of keys (type, field, range,
 * default, live or not) drives the embedded default, the parser, the
 * formatter, config_diff() and config_apply_live(). See include/sipreg/config.h.
 *
 * libinih does the INI syntax. It is fed through our own line reader, which
 * (a) counts lines, so the handler knows the line of every key (the Debian
 * build of inih has no INI_HANDLER_LINENO), (b) rejects lines longer than
 * CONFIG_LINE_MAX and checks section names as soon as they appear (inih only
 * shows us sections that contain keys), (c) strips leading blanks, so inih's
 * multi-line continuation (an indented line appended to the previous value)
 * never applies: an indented "key = value" is a key, as people expect, and
 * (d) works around inih's fixed 200-byte line buffer: a longer "key = value"
 * line is handed over as "key=\x01" and the handler takes the value from the
 * reader's copy of the whole line.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <ini.h>

#include "ctl/version.h"
#include "sipreg/config.h"

#define INIH_LINE 200 /* inih's compiled line buffer (INI_MAX_LINE) */
#define LONG_MARK "\x01"

enum ktype {
	K_UINT,      /* min-max */
	K_UINT_AUTO, /* "auto" (stored as 0) or min-max */
	K_WORKERS,   /* "auto" or min-max; resolves auto */
	K_BOOL,      /* on | off */
	K_ENUM,      /* one of names[], stored as int */
	K_STR,       /* printable, min-max bytes */
	K_PATH,      /* no control bytes, 1-(size-1) bytes */
	K_MODE,      /* octal 0-0777 */
	K_LISTEN,    /* the listen list */
	K_HTTP,      /* empty (off) or HOST:PORT, a struct config_listen */
};

struct key {
	struct config_key_info info;
	enum ktype type;
	size_t off, size;
	unsigned int min, max;
	const char *const *names;
	const char *forbid; /* K_STR: bytes not allowed */
};

#define F(field) offsetof(struct config, field), sizeof(((struct config *)0)->field)

static const char *const bool_names[] = {"off", "on", NULL};
static const char *const level_names[] = {"error", "warning", "info", "debug", NULL};
static const char *const privacy_names[] = {"ignore", "id", "none", NULL};
static const char *const suspend_names[] = {"reject", "drop", NULL};
/* enum config_digest_order, in order */
static const char *const digest_order_names[] = {"sha-256,md5", "md5,sha-256", "sha-256",
						 "md5", NULL};

#define SOCKET_DEFAULT_TEXT                                                              \
	"root: /run/sipreg/admin.sock; others: $XDG_RUNTIME_DIR/sipreg/admin.sock "      \
	"or /tmp/sipreg-UID/admin.sock"

/* In file order. The default texts are parsed by the same code as the file. */
/* clang-format off */
static const struct key keys[] = {
	{{"core", "listen", "udp:127.0.0.1:5060 tcp:127.0.0.1:5060",
	  "udp|tcp:HOST:PORT ..., HOST an IPv4 address or [IPv6], PORT 0-65535", false},
	 K_LISTEN, F(listen), 0, 0, NULL, NULL},
	{{"core", "workers", "auto", "auto, 1-256", false}, K_WORKERS, F(workers), 1,
	 256, NULL, NULL},
	{{"core", "log_level", "info", "error, warning, info, debug", true}, K_ENUM,
	 F(log_level), 0, 0, level_names, NULL},
	{{"core", "syslog", "off", "on, off", true}, K_BOOL, F(syslog), 0, 0, NULL, NULL},
	{{"core", "shutdown_timeout", "5", "1-60", true}, K_UINT, F(shutdown_timeout), 1,
	 60, NULL, NULL},
	{{"core", "max_transactions", "1048576", "1024-8388608", false}, K_UINT,
	 F(max_transactions), 1024, 8388608, NULL, NULL},
	{{"admin", "socket", NULL, "a Unix socket path of 1-107 bytes", false}, K_PATH,
	 F(admin_socket), 1, CONFIG_ADMIN_SOCKET_MAX - 1, NULL, NULL},
	{{"admin", "socket_mode", "0600", "octal 0000-0777", false}, K_MODE,
	 F(admin_socket_mode), 0, 0777, NULL, NULL},
	{{"admin", "http", "", "empty (off) or HOST:PORT, HOST an IPv4 address or [IPv6], PORT 0-65535",
	  false},
	 K_HTTP, F(admin_http), 0, 0, NULL, NULL},
	{{"database", "path", "/var/lib/sipreg/sipreg.db", "a path of 1-4095 bytes", false},
	 K_PATH, F(database_path), 1, PATH_MAX - 1, NULL, NULL},
	{{"database", "flush_interval", "1000", "10-10000", true}, K_UINT,
	 F(database_flush_interval), 10, 10000, NULL, NULL},
	{{"sip", "SS_SIP_USER_AGENT_EXPIRE", "auto", "auto, 20-7200", true}, K_UINT_AUTO,
	 F(ua_expire), 20, 7200, NULL, NULL},
	{{"sip", "SS_SIP_USER_AGENT_RETRY_DELAY", "60", "30-600", true}, K_UINT,
	 F(ua_retry_delay), 30, 600, NULL, NULL},
	{{"sip", "SS_SIP_USER_AGENT_SEND_UNREGISTER", "on", "on, off", true}, K_BOOL,
	 F(ua_send_unregister), 0, 0, NULL, NULL},
	{{"sip", "SS_SIP_USER_AGENT_PRIVACY", "ignore", "ignore, id, none", true}, K_ENUM,
	 F(ua_privacy), 0, 0, privacy_names, NULL},
	{{"sip", "SS_ENDPOINT_EXPIRE", "3600", "60-7200", true}, K_UINT,
	 F(endpoint_expire), 60, 7200, NULL, NULL},
	{{"sip", "SS_ENDPOINT_NAT_EXPIRE", "300", "20-3600", true}, K_UINT,
	 F(endpoint_nat_expire), 20, 3600, NULL, NULL},
	{{"sip", "SS_ENDPOINT_REGISTER_RETRY", "6", "1-100", true}, K_UINT,
	 F(endpoint_register_retry), 1, 100, NULL, NULL},
	{{"sip", "SS_ENDPOINT_REGISTER_SUSPEND", "180", "10-86400", true}, K_UINT,
	 F(endpoint_register_suspend), 10, 86400, NULL, NULL},
	{{"sip", "SS_ENDPOINT_REGISTER_REPLACE", "on", "on, off", true}, K_BOOL,
	 F(endpoint_register_replace), 0, 0, NULL, NULL},
	{{"sip", "ENDPOINT_ADDRESS_RETRY", "30", "3-10000", true}, K_UINT,
	 F(endpoint_address_retry), 3, 10000, NULL, NULL},
	{{"sip", "register_request_expire", "3600", "20-7200", true}, K_UINT,
	 F(ua_register_request_expire), 20, 7200, NULL, NULL},
	{{"sip", "trunk_start_rate", "500", "1-100000", false}, K_UINT, F(ua_start_rate), 1,
	 100000, NULL, NULL},
	{{"sip", "user_agent", "sipreg/" SIPREG_VERSION, "1-127 printable bytes", true},
	 K_STR, F(user_agent), 1, CONFIG_STR_MAX - 1, NULL, ""},
	{{"sip", "contact_host", "", "0-127 printable bytes: a host name or address", true},
	 K_STR, F(contact_host), 0, CONFIG_STR_MAX - 1, NULL, "\"\\<>;, "},
	{{"sip", "realm", "", "0-127 printable bytes without '\"' or '\\'", true}, K_STR,
	 F(realm), 0, CONFIG_STR_MAX - 1, NULL, "\"\\"},
	{{"sip", "nonce_expire", "300", "10-3600", true}, K_UINT, F(nonce_expire), 10,
	 3600, NULL, NULL},
	{{"sip", "min_expire", "60", "20-3600", true}, K_UINT, F(min_expire), 20, 3600,
	 NULL, NULL},
	{{"sip", "max_contacts", "1", "1-100", true}, K_UINT, F(max_contacts), 1, 100,
	 NULL, NULL},
	{{"sip", "suspend_action", "reject", "reject, drop", true}, K_ENUM,
	 F(suspend_action), 0, 0, suspend_names, NULL},
	{{"sip", "digest_algorithms", "sha-256,md5", "sha-256,md5, md5,sha-256, sha-256, md5",
	  true}, K_ENUM, F(digest_order), 0, 0, digest_order_names, NULL},
};

/* clang-format on */

#define NKEYS (sizeof(keys) / sizeof(keys[0]))

static const char *const sections[] = {"core", "admin", "database", "sip"};
#define NSECTIONS (sizeof(sections) / sizeof(sections[0]))

static struct config_key_info key_infos[NKEYS];
static pthread_once_t key_infos_once = PTHREAD_ONCE_INIT;

static void key_infos_init(void)
{
	for (size_t i = 0; i < NKEYS; i++) {
		key_infos[i] = keys[i].info;
		if (key_infos[i].default_text == NULL)
			key_infos[i].default_text = SOCKET_DEFAULT_TEXT;
	}
}

const struct config_key_info *config_keys(size_t *count)
{
	pthread_once(&key_infos_once, key_infos_init);
	*count = NKEYS;
	return key_infos;
}

static const struct key *key_find(const char *section, const char *name)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (strcmp(keys[i].info.section, section) == 0 &&
		    strcmp(keys[i].info.name, name) == 0)
			return &keys[i];
	return NULL;
}

static void *field(struct config *cfg, const struct key *k)
{
	return (char *)cfg + k->off;
}

static const void *cfield(const struct config *cfg, const struct key *k)
{
	return (const char *)cfg + k->off;
}

/* ------------------------------------------------------------------------ */
/* Value parsers: 0, or -EINVAL with problem filled ("20 is out of range")   */

struct problem {
	char text[CONFIG_ERROR_MAX / 2];
};

static int fail(struct problem *pb, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

static int fail(struct problem *pb, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(pb->text, sizeof(pb->text), fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* Quoted value for messages, cut to keep messages one readable line. */
static const char *show(char *buf, size_t cap, const char *v)
{
	return log_quote(buf, cap < 80 ? cap : 80, v);
}

static int parse_uint(const char *v, unsigned int min, unsigned int max,
                      unsigned int *out, struct problem *pb)
{
	unsigned long long n = 0;
	char q[96];

	if (*v == '\0')
		return fail(pb, "empty value");
	for (const char *p = v; *p; p++) {
		if (*p < '0' || *p > '9')
			return fail(pb, "%s is not a number", show(q, sizeof(q), v));
		if (n < 100000000000ULL)
			n = n * 10 + (unsigned int)(*p - '0');
	}
	if (n < min || n > max)
		return fail(pb, "%.40s is out of range", v);
	*out = (unsigned int)n;
	return 0;
}

static int parse_enum(const char *v, const char *const *names, int *out,
                      struct problem *pb)
{
	char q[96];

	for (int i = 0; names[i]; i++) {
		if (strcmp(v, names[i]) == 0) {
			*out = i;
			return 0;
		}
	}
	if (*v == '\0')
		return fail(pb, "empty value");
	return fail(pb, "%s is not a valid value", show(q, sizeof(q), v));
}

static int online_cpus(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	if (n < 1)
		return 1;
	return n > 256 ? 256 : (int)n;
}

/* One "udp:1.2.3.4:5060" / "tcp:[::1]:5060" entry of length len. */
static int parse_listen_one(const char *s, size_t len, struct config_listen *l,
                            struct problem *pb)
{
	char item[128], host[64];
	const char *h, *hend, *port;
	unsigned int p;
	struct problem sub;
	char q[96];

	if (len >= sizeof(item))
		return fail(pb, "%.40s... is too long", s);
	memcpy(item, s, len);
	item[len] = '\0';
	memset(l, 0, sizeof(*l));
	if (strncmp(item, "udp:", 4) == 0)
		l->transport = CONFIG_TRANSPORT_UDP;
	else if (strncmp(item, "tcp:", 4) == 0)
		l->transport = CONFIG_TRANSPORT_TCP;
	else
		return fail(pb, "%s does not start with udp: or tcp:",
		            show(q, sizeof(q), item));
	h = item + 4;
	if (*h == '[') {
		hend = strchr(h, ']');
		if (!hend || hend[1] != ':')
			return fail(pb, "%s: an IPv6 address needs [brackets] then :PORT",
			            show(q, sizeof(q), item));
		port = hend + 2;
		h++;
		l->family = AF_INET6;
	} else {
		hend = strrchr(h, ':');
		if (!hend)
			return fail(pb, "%s has no :PORT", show(q, sizeof(q), item));
		if (memchr(h, ':', (size_t)(hend - h)))
			return fail(pb, "%s: an IPv6 address needs [brackets]",
			            show(q, sizeof(q), item));
		port = hend + 1;
		l->family = AF_INET;
	}
	if ((size_t)(hend - h) >= sizeof(host) || hend == h)
		return fail(pb, "%s has a bad host", show(q, sizeof(q), item));
	memcpy(host, h, (size_t)(hend - h));
	host[hend - h] = '\0';
	if (parse_uint(port, 0, 65535, &p, &sub) < 0)
		return fail(pb, "%s has a bad port", show(q, sizeof(q), item));
	l->port = (uint16_t)p;
	if (l->family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&l->addr;

		if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
			return fail(pb, "%s: %s is not an IPv4 address",
			            show(q, sizeof(q), item), host);
		sin->sin_family = AF_INET;
		sin->sin_port = htons(l->port);
		l->addrlen = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&l->addr;

		if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1)
			return fail(pb, "%s: %s is not an IPv6 address",
			            show(q, sizeof(q), item), host);
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(l->port);
		l->addrlen = sizeof(*sin6);
	}
	/* the canonical text of the address, so duplicates compare equal */
	inet_ntop(l->family,
	          l->family == AF_INET
	                  ? (const void *)&((struct sockaddr_in *)&l->addr)->sin_addr
	                  : (const void *)&((struct sockaddr_in6 *)&l->addr)->sin6_addr,
	          l->host, sizeof(l->host));
	return 0;
}

static int parse_listen(const char *v, struct config *cfg, struct problem *pb)
{
	struct config_listen tmp[CONFIG_LISTEN_MAX];
	unsigned int n = 0;
	const char *p = v;

	while (*p) {
		size_t len;

		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '\0')
			break;
		len = strcspn(p, " \t");
		if (n == CONFIG_LISTEN_MAX)
			return fail(pb, "more than %d addresses", CONFIG_LISTEN_MAX);
		if (parse_listen_one(p, len, &tmp[n], pb) < 0)
			return -EINVAL;
		for (unsigned int i = 0; i < n; i++) {
			if (tmp[i].transport == tmp[n].transport &&
			    tmp[i].family == tmp[n].family &&
			    tmp[i].port == tmp[n].port &&
			    strcmp(tmp[i].host, tmp[n].host) == 0)
				return fail(pb, "%.*s is listed twice", (int)len, p);
		}
		n++;
		p += len;
	}
	if (n == 0)
		return fail(pb, "empty value");
	memcpy(cfg->listen, tmp, n * sizeof(tmp[0]));
	cfg->listen_count = n;
	return 0;
}

static int parse_string(const struct key *k, const char *v, char *dst, struct problem *pb)
{
	size_t len = strlen(v);
	char q[96];

	if (len < k->min)
		return fail(pb, "empty value");
	if (len > k->max)
		return fail(pb, "%zu bytes is too long", len);
	for (const char *p = v; *p; p++) {
		unsigned char c = (unsigned char)*p;

		if (c < 0x20 || c == 0x7f)
			return fail(pb, "%s contains a control character",
			            show(q, sizeof(q), v));
		if (k->type == K_STR && k->forbid && strchr(k->forbid, c))
			return fail(pb, "%s contains '%c'", show(q, sizeof(q), v), c);
	}
	memcpy(dst, v, len + 1);
	return 0;
}

static int parse_value(const struct key *k, const char *v, struct config *cfg,
                       struct problem *pb)
{
	unsigned int u;
	int e = 0, r;
	char q[96];

	switch (k->type) {
	case K_UINT:
		r = parse_uint(v, k->min, k->max, &u, pb);
		if (r == 0)
			*(unsigned int *)field(cfg, k) = u;
		return r;
	case K_UINT_AUTO:
	case K_WORKERS:
		if (strcmp(v, "auto") == 0) {
			u = 0;
		} else {
			r = parse_uint(v, k->min, k->max, &u, pb);
			if (r == -EINVAL && strstr(pb->text, "not a number"))
				fail(pb, "%s is neither auto nor a number",
				     show(q, sizeof(q), v));
			if (r < 0)
				return r;
		}
		if (k->type == K_WORKERS) {
			cfg->workers_auto = u == 0;
			cfg->workers = u ? u : (unsigned int)online_cpus();
		} else {
			*(unsigned int *)field(cfg, k) = u;
		}
		return 0;
	case K_BOOL:
		r = parse_enum(v, bool_names, &e, pb);
		if (r == 0)
			*(bool *)field(cfg, k) = e != 0;
		return r;
	case K_ENUM:
		r = parse_enum(v, k->names, &e, pb);
		if (r == 0)
			*(int *)field(cfg, k) = e;
		return r;
	case K_STR:
	case K_PATH:
		return parse_string(k, v, field(cfg, k), pb);
	case K_MODE:
		if (*v == '\0')
			return fail(pb, "empty value");
		if (strspn(v, "01234567") != strlen(v))
			return fail(pb, "%s is not an octal number",
			            show(q, sizeof(q), v));
		if (strlen(v) > 11 || strtoul(v, NULL, 8) > k->max)
			return fail(pb, "%s is out of range", show(q, sizeof(q), v));
		*(unsigned int *)field(cfg, k) = (unsigned int)strtoul(v, NULL, 8);
		return 0;
	case K_LISTEN:
		return parse_listen(v, cfg, pb);
	case K_HTTP: {
		struct config_listen *l = field(cfg, k);
		char item[128];
		int n;

		if (*v == '\0') {
			memset(l, 0, sizeof(*l));
			return 0;
		}
		n = snprintf(item, sizeof(item), "tcp:%s", v);
		if (n < 0 || (size_t)n >= sizeof(item))
			return fail(pb, "%.40s... is too long", v);
		r = parse_listen_one(item, (size_t)n, l, pb);
		if (r < 0) /* the messages name "tcp:VALUE": say VALUE */
			return fail(pb, "%s is not HOST:PORT", show(q, sizeof(q), v));
		return 0;
	}
	}
	return fail(pb, "internal error: key type %d", (int)k->type);
}

/* ------------------------------------------------------------------------ */
/* Formatting                                                                */

int config_listen_format(const struct config_listen *l, char *buf, size_t cap)
{
	int n = snprintf(buf, cap, l->family == AF_INET6 ? "%s:[%s]:%u" : "%s:%s:%u",
	                 l->transport == CONFIG_TRANSPORT_UDP ? "udp" : "tcp", l->host,
	                 (unsigned int)l->port);

	return n < 0 || (size_t)n >= cap ? -ENOSPC : n;
}

static int format_value(const struct key *k, const struct config *cfg, char *buf,
                        size_t cap)
{
	const void *f = cfield(cfg, k);
	unsigned int u;
	int n = 0;

	switch (k->type) {
	case K_UINT:
		n = snprintf(buf, cap, "%u", *(const unsigned int *)f);
		break;
	case K_UINT_AUTO:
		u = *(const unsigned int *)f;
		n = u ? snprintf(buf, cap, "%u", u) : snprintf(buf, cap, "auto");
		break;
	case K_WORKERS:
		n = cfg->workers_auto ? snprintf(buf, cap, "auto")
		                      : snprintf(buf, cap, "%u", cfg->workers);
		break;
	case K_BOOL:
		n = snprintf(buf, cap, "%s", *(const bool *)f ? "on" : "off");
		break;
	case K_ENUM:
		n = snprintf(buf, cap, "%s", k->names[*(const int *)f]);
		break;
	case K_STR:
	case K_PATH:
		n = snprintf(buf, cap, "%s", (const char *)f);
		break;
	case K_MODE:
		n = snprintf(buf, cap, "%04o", *(const unsigned int *)f);
		break;
	case K_HTTP: {
		const struct config_listen *l = f;

		if (l->family == 0)
			n = snprintf(buf, cap, "%s", "");
		else
			n = snprintf(buf, cap, l->family == AF_INET6 ? "[%s]:%u" : "%s:%u",
			             l->host, (unsigned int)l->port);
		break;
	}
	case K_LISTEN:
		if (cap)
			buf[0] = '\0';
		for (unsigned int i = 0; i < cfg->listen_count; i++) {
			int r;

			if (i) {
				if ((size_t)n + 1 >= cap)
					return -ENOSPC;
				buf[n++] = ' ';
			}
			r = config_listen_format(&cfg->listen[i], buf + n,
			                         cap - (size_t)n);
			if (r < 0)
				return r;
			n += r;
		}
		return n;
	}
	if (n < 0 || (size_t)n >= cap)
		return -ENOSPC;
	return n;
}

int config_format_value(const struct config *cfg, const char *section, const char *name,
                        char *buf, size_t cap)
{
	const struct key *k = key_find(section, name);

	if (!k)
		return -ENOENT;
	return format_value(k, cfg, buf, cap) < 0 ? -ENOSPC : 0;
}

size_t config_diff(const struct config *old, const struct config *new_cfg,
                   const struct config_key_info **out, size_t cap)
{
	const struct config_key_info *infos;
	size_t count, n = 0;

	infos = config_keys(&count);
	for (size_t i = 0; i < NKEYS; i++) {
		char a[2048], b[2048];

		if (format_value(&keys[i], old, a, sizeof(a)) < 0 ||
		    format_value(&keys[i], new_cfg, b, sizeof(b)) < 0 ||
		    strcmp(a, b) != 0) {
			if (n < cap)
				out[n] = &infos[i];
			n++;
		}
	}
	return n;
}

void config_apply_live(struct config *dst, const struct config *src)
{
	for (size_t i = 0; i < NKEYS; i++) {
		const struct key *k = &keys[i];

		if (!k->info.live)
			continue;
		/* live keys are never K_LISTEN or K_WORKERS (two fields) */
		memcpy(field(dst, k), cfield(src, k), k->size);
	}
}

/* ------------------------------------------------------------------------ */
/* Loading                                                                   */

struct load {
	struct config *cfg;
	const char *name;
	FILE *f;
	unsigned int line;
	/* the line most recently handed to inih, whole */
	char whole[CONFIG_LINE_MAX + 2];
	bool section_ok;
	unsigned int set_line[NKEYS];
	/* the first error */
	bool failed;
	unsigned int err_line;
	char err[CONFIG_ERROR_MAX];
	int err_errno;
};

static void load_fail(struct load *ld, unsigned int line, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static void load_fail(struct load *ld, unsigned int line, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (ld->failed)
		return;
	ld->failed = true;
	ld->err_line = line;
	n = snprintf(ld->err, sizeof(ld->err), "%s:%u: ", ld->name, line);
	va_start(ap, fmt);
	vsnprintf(ld->err + n, sizeof(ld->err) - (size_t)n, fmt, ap);
	va_end(ap);
}

static void section_list(char *buf, size_t cap)
{
	size_t n = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < NSECTIONS && n < cap; i++)
		n += (size_t)snprintf(buf + n, cap - n, "%s[%s]", i ? ", " : "",
		                      sections[i]);
}

static bool section_known(const char *s)
{
	for (size_t i = 0; i < NSECTIONS; i++)
		if (strcmp(s, sections[i]) == 0)
			return true;
	return false;
}

static void key_list(const char *section, char *buf, size_t cap)
{
	size_t n = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < NKEYS && n < cap; i++)
		if (strcmp(keys[i].info.section, section) == 0)
			n += (size_t)snprintf(buf + n, cap - n, "%s%s", n ? ", " : "",
			                      keys[i].info.name);
}

static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t' || *s == '\r')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n'))
		*--e = '\0';
	return s;
}

/* Checks a "[name]" line the moment it is read. */
static void check_section_line(struct load *ld, const char *s)
{
	char name[64], list[128];
	const char *end = strchr(s, ']');
	size_t len;

	if (!end)
		return; /* inih reports the syntax error */
	len = (size_t)(end - s - 1);
	if (len >= sizeof(name))
		len = sizeof(name) - 1;
	memcpy(name, s + 1, len);
	name[len] = '\0';
	ld->section_ok = section_known(trim(name));
	if (!ld->section_ok) {
		section_list(list, sizeof(list));
		load_fail(ld, ld->line, "[%s]: unknown section (allowed: %s)", trim(name),
		          list);
	}
}

/* inih's reader: one line per call, see the file comment. */
static char *reader(char *str, int num, void *stream)
{
	struct load *ld = stream;
	char *s, *eq;
	size_t len;
	int c;

	if (ld->failed)
		return NULL; /* stop at the first error */
	if (!fgets(ld->whole, sizeof(ld->whole), ld->f))
		return NULL;
	ld->line++;
	len = strlen(ld->whole);
	if (len > 0 && ld->whole[len - 1] == '\n') {
		ld->whole[--len] = '\0';
	} else if (len > CONFIG_LINE_MAX) {
		while ((c = fgetc(ld->f)) != EOF && c != '\n')
			;
		load_fail(ld, ld->line, "line too long (allowed: up to %d bytes)",
		          CONFIG_LINE_MAX);
		return NULL;
	}
	s = ld->whole;
	while (*s == ' ' || *s == '\t')
		s++;
	if (*s == '[')
		check_section_line(ld, s);
	if (ld->failed)
		return NULL;
	if (strlen(s) + 2 < (size_t)num && strlen(s) + 2 < INIH_LINE) {
		snprintf(str, (size_t)num, "%s\n", s);
		return str;
	}
	/* too long for inih's buffer: hand over "name=\x01" */
	eq = strpbrk(s, "=:");
	if (!eq || *s == ';' || *s == '#' || *s == '[' || (size_t)(eq - s) + 4 > 64) {
		/* a comment or a line with no short name: shorten it harmlessly */
		if (*s == ';' || *s == '#') {
			snprintf(str, (size_t)num, ";\n");
		} else {
			load_fail(ld, ld->line,
			          "syntax error: expected \"[section]\" or \"key = "
			          "value\"");
			return NULL;
		}
		return str;
	}
	snprintf(str, (size_t)num, "%.*s=" LONG_MARK "\n", (int)(eq - s), s);
	return str;
}

/* The value part of the whole current line, as inih would give it. */
static char *whole_value(struct load *ld)
{
	char *v = strpbrk(ld->whole, "=:") + 1;

	for (char *p = v; *p; p++) {
		if (*p == ';' && p > v && (p[-1] == ' ' || p[-1] == '\t')) {
			*p = '\0';
			break;
		}
	}
	return trim(v);
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
	struct load *ld = user;
	const struct key *k;
	struct problem pb;
	char list[1024];
	size_t idx;

	if (ld->failed)
		return 1;
	if (section[0] == '\0') {
		section_list(list, sizeof(list));
		load_fail(ld, ld->line, "%s: key outside any section (allowed: %s)", name,
		          list);
		return 0;
	}
	if (!ld->section_ok)
		return 1; /* reported already */
	k = key_find(section, name);
	if (!k) {
		key_list(section, list, sizeof(list));
		load_fail(ld, ld->line, "%s: unknown key in [%s] (allowed: %s)", name,
		          section, list);
		return 0;
	}
	idx = (size_t)(k - keys);
	if (ld->set_line[idx]) {
		load_fail(ld, ld->line, "%s: set twice, first on line %u (allowed: once)",
		          name, ld->set_line[idx]);
		return 0;
	}
	ld->set_line[idx] = ld->line;
	if (strcmp(value, LONG_MARK) == 0)
		value = whole_value(ld);
	if (parse_value(k, value, ld->cfg, &pb) < 0) {
		load_fail(ld, ld->line, "%s: %s (allowed: %s)", name, pb.text,
		          k->info.allowed);
		return 0;
	}
	return 1;
}

static unsigned int key_line(const struct load *ld, const char *name)
{
	const struct key *k = key_find("sip", name);

	return ld->set_line[k - keys];
}

/* Rules between keys; reported on the line of the key set in the file. */
static void cross_check(struct load *ld)
{
	const struct config *c = ld->cfg;
	const char *other = NULL;
	unsigned int limit = 0;

	if (c->min_expire > c->endpoint_nat_expire) {
		other = "SS_ENDPOINT_NAT_EXPIRE";
		limit = c->endpoint_nat_expire;
	} else if (c->min_expire > c->endpoint_expire) {
		other = "SS_ENDPOINT_EXPIRE";
		limit = c->endpoint_expire;
	}
	if (other) {
		unsigned int line = key_line(ld, "min_expire");

		if (!line)
			line = key_line(ld, other);
		load_fail(ld, line,
		          "min_expire: %u is above %s (%u) (allowed: 20-%u, at most %s)",
		          c->min_expire, other, limit, limit < 20 ? 20 : limit, other);
	}
}

static void set_defaults(struct config *cfg)
{
	struct problem pb;

	memset(cfg, 0, sizeof(*cfg));
	for (size_t i = 0; i < NKEYS; i++) {
		if (keys[i].info.default_text == NULL)
			continue;
		/* the defaults are in range: the unit tests check every one */
		if (parse_value(&keys[i], keys[i].info.default_text, cfg, &pb) < 0)
			abort();
	}
	if (config_default_admin_socket(cfg->admin_socket, sizeof(cfg->admin_socket)) < 0)
		snprintf(cfg->admin_socket, sizeof(cfg->admin_socket),
		         "/run/sipreg/admin.sock");
}

int config_default_admin_socket(char *buf, size_t cap)
{
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	int n;

	if (cap > CONFIG_ADMIN_SOCKET_MAX)
		cap = CONFIG_ADMIN_SOCKET_MAX;
	if (geteuid() == 0)
		n = snprintf(buf, cap, "/run/sipreg/admin.sock");
	else if (xdg && xdg[0] == '/')
		n = snprintf(buf, cap, "%s/sipreg/admin.sock", xdg);
	else
		n = snprintf(buf, cap, "/tmp/sipreg-%u/admin.sock",
		             (unsigned int)geteuid());
	if (n < 0 || (size_t)n >= cap)
		return -ENAMETOOLONG;
	return 0;
}

int config_new(struct config **ret)
{
	struct config *cfg = malloc(sizeof(*cfg));

	if (!cfg)
		return -ENOMEM;
	set_defaults(cfg);
	*ret = cfg;
	return 0;
}

void config_free(struct config *cfg)
{
	free(cfg);
}

static int load_stream(struct config **ret, FILE *f, const char *name,
                       struct config_error *err)
{
	struct load *ld;
	int r, rc = 0;

	ld = calloc(1, sizeof(*ld));
	if (!ld)
		return -ENOMEM;
	r = config_new(&ld->cfg);
	if (r < 0) {
		free(ld);
		return r;
	}
	ld->name = name;
	ld->f = f;
	ld->section_ok = true;
	snprintf(ld->cfg->file, sizeof(ld->cfg->file), "%s", name);
	r = ini_parse_stream(reader, ld, handler, ld);
	if (r > 0 && (!ld->failed || (unsigned int)r < ld->err_line)) {
		ld->failed = false;
		load_fail(ld, (unsigned int)r,
		          "syntax error: expected \"[section]\" or \"key = value\"");
	} else if (r < 0 && !ld->failed) {
		rc = -ENOMEM;
	}
	if (!ld->failed && ferror(f))
		load_fail(ld, ld->line, "read error");
	if (!ld->failed && rc == 0)
		cross_check(ld);
	if (ld->failed) {
		rc = -EINVAL;
		if (err) {
			snprintf(err->msg, sizeof(err->msg), "%s", ld->err);
			err->line = ld->err_line;
		}
	} else if (rc < 0) {
		if (err) {
			snprintf(err->msg, sizeof(err->msg), "%s: out of memory", name);
			err->line = 0;
		}
	}
	if (rc == 0)
		*ret = ld->cfg;
	else
		config_free(ld->cfg);
	free(ld);
	return rc;
}

int config_load(struct config **ret, const char *path, struct config_error *err)
{
	struct stat st;
	FILE *f;
	int r;

	f = fopen(path, "re");
	if (!f) {
		r = -errno;
		if (err) {
			snprintf(err->msg, sizeof(err->msg), "%s: cannot open: %s", path,
			         strerror(-r));
			err->line = 0;
		}
		return r;
	}
	if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
		fclose(f);
		if (err) {
			snprintf(err->msg, sizeof(err->msg), "%s: cannot open: %s", path,
			         strerror(EISDIR));
			err->line = 0;
		}
		return -EISDIR;
	}
	r = load_stream(ret, f, path, err);
	fclose(f);
	return r;
}

int config_load_string(struct config **ret, const char *text, const char *name,
                       struct config_error *err)
{
	FILE *f;
	int r;

	f = fmemopen((void *)text, strlen(text), "r");
	if (!f) {
		/* fmemopen refuses a size of 0 on some libcs: an empty text is the
		 * default */
		if (text[0] == '\0')
			return config_new(ret);
		return -errno;
	}
	r = load_stream(ret, f, name, err);
	fclose(f);
	return r;
}
