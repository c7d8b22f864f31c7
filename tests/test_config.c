/* SPDX-License-Identifier: MIT */
/*
 * test_config.c - the configuration: every default, every range edge (min,
 * max, min-1, max+1) of SPEC.md's parameters and sipreg's own keys, the
 * syntax errors, and the exact error text "FILE:LINE: KEY: problem (allowed: ...)".
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sipreg/config.h"

/* Loads text; asserts success; the caller frees. */
static struct config *load_ok(const char *text)
{
	struct config_error err = {{0}};
	struct config *cfg = NULL;
	int r = config_load_string(&cfg, text, "t.conf", &err);

	cr_assert_eq(r, 0, "load failed (%d): %s\n--- text:\n%s", r, err.msg, text);
	cr_assert_not_null(cfg);
	return cfg;
}

/* Loads text; asserts -EINVAL and the exact message. */
static void load_err(const char *text, const char *msg)
{
	struct config_error err = {{0}};
	struct config *cfg = (struct config *)0x1;
	int r = config_load_string(&cfg, text, "t.conf", &err);

	cr_assert_eq(r, -EINVAL, "expected -EINVAL, got %d for:\n%s", r, text);
	cr_assert_eq(cfg, (struct config *)0x1, "*ret written on error");
	cr_assert_str_eq(err.msg, msg, "for:\n%s", text);
}

Test(config, defaults_every_key)
{
	struct config *c;
	char sock[CONFIG_ADMIN_SOCKET_MAX];
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	cr_assert_eq(config_new(&c), 0);
	/* [core] */
	cr_assert_eq(c->listen_count, 2);
	cr_assert_eq(c->listen[0].transport, CONFIG_TRANSPORT_UDP);
	cr_assert_str_eq(c->listen[0].host, "127.0.0.1");
	cr_assert_eq(c->listen[0].port, 5060);
	cr_assert_eq(c->listen[1].transport, CONFIG_TRANSPORT_TCP);
	cr_assert_str_eq(c->listen[1].host, "127.0.0.1");
	cr_assert_eq(c->listen[1].port, 5060);
	cr_assert(c->workers_auto);
	cr_assert_eq(c->workers, (unsigned int)(cpus > 256 ? 256 : cpus));
	cr_assert_eq(c->log_level, LOG_LEVEL_INFO);
	cr_assert_eq(c->syslog, false);
	cr_assert_eq(c->shutdown_timeout, 5);
	cr_assert_eq(c->max_transactions, 1048576);
	/* [admin] */
	cr_assert_eq(config_default_admin_socket(sock, sizeof(sock)), 0);
	cr_assert_str_eq(c->admin_socket, sock);
	cr_assert_eq(c->admin_socket_mode, 0600);
	/* [database] */
	cr_assert_str_eq(c->database_path, "/var/lib/sipreg/sipreg.db");
	/* [sip], SPEC.md's tables */
	cr_assert_eq(c->ua_expire, 0, "SS_SIP_USER_AGENT_EXPIRE defaults to auto");
	cr_assert_eq(c->ua_retry_delay, 60);
	cr_assert_eq(c->ua_send_unregister, true);
	cr_assert_eq(c->ua_privacy, CONFIG_PRIVACY_IGNORE);
	cr_assert_eq(c->endpoint_expire, 3600);
	cr_assert_eq(c->endpoint_nat_expire, 300);
	cr_assert_eq(c->endpoint_register_retry, 6);
	cr_assert_eq(c->endpoint_register_suspend, 180);
	cr_assert_eq(c->endpoint_register_replace, true);
	cr_assert_eq(c->endpoint_address_retry, 30);
	/* sipreg's own */
	cr_assert_eq(c->ua_register_request_expire, 3600);
	cr_assert_eq(strncmp(c->user_agent, "sipreg/", 7), 0, "%s", c->user_agent);
	cr_assert_str_eq(c->realm, "");
	cr_assert_eq(c->nonce_expire, 300);
	cr_assert_eq(c->database_flush_interval, 1000);
	cr_assert_eq(c->min_expire, 60);
	cr_assert_eq(c->max_contacts, 1);
	cr_assert_eq(c->suspend_action, CONFIG_SUSPEND_REJECT);
	cr_assert_str_eq(c->file, "");
	config_free(c);
}

Test(config, empty_file_is_the_default)
{
	struct config *a, *b;
	const struct config_key_info *diff[4];

	cr_assert_eq(config_new(&a), 0);
	b = load_ok("; nothing but a comment\n\n# another\n[sip]\n");
	cr_assert_eq(config_diff(a, b, diff, 4), 0);
	config_free(a);
	config_free(b);
}

Test(config, admin_socket_default_per_user)
{
	char buf[CONFIG_ADMIN_SOCKET_MAX], want[CONFIG_ADMIN_SOCKET_MAX];

	if (geteuid() == 0) {
		cr_assert_eq(config_default_admin_socket(buf, sizeof(buf)), 0);
		cr_assert_str_eq(buf, "/run/sipreg/admin.sock");
		return;
	}
	setenv("XDG_RUNTIME_DIR", "/run/user/4242", 1);
	cr_assert_eq(config_default_admin_socket(buf, sizeof(buf)), 0);
	cr_assert_str_eq(buf, "/run/user/4242/sipreg/admin.sock");
	unsetenv("XDG_RUNTIME_DIR");
	cr_assert_eq(config_default_admin_socket(buf, sizeof(buf)), 0);
	snprintf(want, sizeof(want), "/tmp/sipreg-%u/admin.sock",
	         (unsigned int)geteuid());
	cr_assert_str_eq(buf, want);
	cr_assert_eq(config_default_admin_socket(buf, 8), -ENAMETOOLONG);
}

/* SPEC.md's numeric ranges and ours, written out here, not taken from the
 * implementation's table. */
struct range {
	const char *section, *key;
	unsigned int min, max;
	size_t off;
};

#define R(s, k, lo, hi, f)                                                               \
	{                                                                                \
		s, k, lo, hi, offsetof(struct config, f)                                 \
	}

/* clang-format off */
static const struct range ranges[] = {
	R("sip", "SS_SIP_USER_AGENT_EXPIRE", 20, 7200, ua_expire),
	R("sip", "SS_SIP_USER_AGENT_RETRY_DELAY", 30, 600, ua_retry_delay),
	R("sip", "SS_ENDPOINT_EXPIRE", 60, 7200, endpoint_expire),
	R("sip", "SS_ENDPOINT_NAT_EXPIRE", 20, 3600, endpoint_nat_expire),
	R("sip", "SS_ENDPOINT_REGISTER_RETRY", 1, 100, endpoint_register_retry),
	R("sip", "SS_ENDPOINT_REGISTER_SUSPEND", 10, 86400, endpoint_register_suspend),
	R("sip", "ENDPOINT_ADDRESS_RETRY", 3, 10000, endpoint_address_retry),
	R("sip", "register_request_expire", 20, 7200, ua_register_request_expire),
	R("sip", "trunk_start_rate", 1, 100000, ua_start_rate),
	R("sip", "nonce_expire", 10, 3600, nonce_expire),
	R("sip", "max_contacts", 1, 100, max_contacts),
	R("core", "workers", 1, 256, workers),
	R("core", "shutdown_timeout", 1, 60, shutdown_timeout),
	R("core", "max_transactions", 1024, 8388608, max_transactions),
	R("database", "flush_interval", 10, 10000, database_flush_interval),
};
/* clang-format on */

static void edge(const struct range *r, unsigned int v, bool ok)
{
	char text[256], msg[256];

	/* min_expire (default 60) must stay <= both expiries: lower it first */
	snprintf(text, sizeof(text), "[sip]\nmin_expire = 20\n[%s]\n%s = %u\n",
	         r->section, r->key, v);
	if (ok) {
		struct config *c = load_ok(text);

		cr_assert_eq(*(unsigned int *)((char *)c + r->off), v, "%s = %u", r->key,
		             v);
		config_free(c);
	} else {
		snprintf(msg, sizeof(msg),
		         "t.conf:4: %s: %u is out of range (allowed: %s%u-%u)", r->key, v,
		         strcmp(r->key, "workers") == 0 ||
		                         strcmp(r->key, "SS_SIP_USER_AGENT_EXPIRE") == 0
		                 ? "auto, "
		                 : "",
		         r->min, r->max);
		load_err(text, msg);
	}
}

Test(config, every_range_edge)
{
	for (size_t i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++) {
		const struct range *r = &ranges[i];

		edge(r, r->min, true);
		edge(r, r->max, true);
		edge(r, r->min - 1, false);
		edge(r, r->max + 1, false);
	}
}

Test(config, min_expire_edges_and_cross_rule)
{
	struct config *c;

	c = load_ok("[sip]\nmin_expire = 20\n");
	cr_assert_eq(c->min_expire, 20);
	config_free(c);
	load_err("[sip]\nmin_expire = 19\n",
	         "t.conf:2: min_expire: 19 is out of range (allowed: 20-3600)");
	load_err("[sip]\nmin_expire = 3601\n",
	         "t.conf:2: min_expire: 3601 is out of range (allowed: 20-3600)");
	/* 3600 is in range but above the NAT expiry (default 300) */
	load_err("[sip]\nmin_expire = 3600\n",
	         "t.conf:2: min_expire: 3600 is above SS_ENDPOINT_NAT_EXPIRE (300) "
	         "(allowed: 20-300, at most SS_ENDPOINT_NAT_EXPIRE)");
	c = load_ok("[sip]\nSS_ENDPOINT_NAT_EXPIRE = 3600\nmin_expire = 3600\n");
	cr_assert_eq(c->min_expire, 3600);
	config_free(c);
	/* the rule names the line of the key that broke it */
	load_err("[sip]\n\nSS_ENDPOINT_NAT_EXPIRE = 30\n",
	         "t.conf:3: min_expire: 60 is above SS_ENDPOINT_NAT_EXPIRE (30) "
	         "(allowed: 20-30, at most SS_ENDPOINT_NAT_EXPIRE)");
}

Test(config, the_spec_example_error_text)
{
	char text[512] = "";

	for (int i = 1; i < 12; i++)
		strcat(text, i == 1 ? "[sip]\n" : "; comment\n");
	strcat(text, "SS_ENDPOINT_EXPIRE = 20\n");
	load_err(text,
	         "t.conf:12: SS_ENDPOINT_EXPIRE: 20 is out of range (allowed: 60-7200)");
}

Test(config, auto_values)
{
	struct config *c;

	c = load_ok("[sip]\nSS_SIP_USER_AGENT_EXPIRE = 120\n[core]\nworkers = 3\n");
	cr_assert_eq(c->ua_expire, 120);
	cr_assert_eq(c->workers, 3);
	cr_assert_not(c->workers_auto);
	config_free(c);
	c = load_ok("[sip]\nSS_SIP_USER_AGENT_EXPIRE = auto\n[core]\nworkers = auto\n");
	cr_assert_eq(c->ua_expire, 0);
	cr_assert(c->workers_auto);
	cr_assert_geq(c->workers, 1);
	config_free(c);
	load_err("[sip]\nSS_SIP_USER_AGENT_EXPIRE = Auto\n",
	         "t.conf:2: SS_SIP_USER_AGENT_EXPIRE: Auto is neither auto nor a number "
	         "(allowed: auto, 20-7200)");
	load_err("[core]\nworkers = 0\n",
	         "t.conf:2: workers: 0 is out of range (allowed: auto, 1-256)");
	load_err("[core]\nworkers = -1\n", "t.conf:2: workers: -1 is neither auto nor a "
	                                   "number (allowed: auto, 1-256)");
}

Test(config, numbers_are_strict)
{
	load_err("[sip]\nSS_ENDPOINT_REGISTER_RETRY = 6s\n",
	         "t.conf:2: SS_ENDPOINT_REGISTER_RETRY: 6s is not a number (allowed: "
	         "1-100)");
	load_err("[sip]\nSS_ENDPOINT_REGISTER_RETRY = +6\n",
	         "t.conf:2: SS_ENDPOINT_REGISTER_RETRY: +6 is not a number (allowed: "
	         "1-100)");
	load_err("[sip]\nSS_ENDPOINT_REGISTER_RETRY = 1 0\n",
	         "t.conf:2: SS_ENDPOINT_REGISTER_RETRY: \"1 0\" is not a number "
	         "(allowed: 1-100)");
	load_err("[sip]\nSS_ENDPOINT_REGISTER_RETRY =\n",
	         "t.conf:2: SS_ENDPOINT_REGISTER_RETRY: empty value (allowed: 1-100)");
	/* huge values are out of range, not wrapped */
	load_err("[sip]\nSS_ENDPOINT_REGISTER_RETRY = 18446744073709551622\n",
	         "t.conf:2: SS_ENDPOINT_REGISTER_RETRY: 18446744073709551622 is out of "
	         "range "
	         "(allowed: 1-100)");
	load_err("[sip]\nSS_ENDPOINT_EXPIRE = 4294967356\n",
	         "t.conf:2: SS_ENDPOINT_EXPIRE: 4294967356 is out of range (allowed: "
	         "60-7200)");
}

Test(config, on_off_and_enums)
{
	struct config *c;

	c = load_ok("[core]\nsyslog = on\nlog_level = debug\n[sip]\n"
	            "SS_SIP_USER_AGENT_SEND_UNREGISTER = off\n"
	            "SS_ENDPOINT_REGISTER_REPLACE = off\n"
	            "SS_SIP_USER_AGENT_PRIVACY = id\nsuspend_action = drop\n");
	cr_assert(c->syslog);
	cr_assert_eq(c->log_level, LOG_LEVEL_DEBUG);
	cr_assert_not(c->ua_send_unregister);
	cr_assert_not(c->endpoint_register_replace);
	cr_assert_eq(c->ua_privacy, CONFIG_PRIVACY_ID);
	cr_assert_eq(c->suspend_action, CONFIG_SUSPEND_DROP);
	config_free(c);
	c = load_ok(
	        "[sip]\nSS_SIP_USER_AGENT_PRIVACY = none\n[core]\nlog_level = error\n");
	cr_assert_eq(c->ua_privacy, CONFIG_PRIVACY_NONE);
	cr_assert_eq(c->log_level, LOG_LEVEL_ERROR);
	config_free(c);
	c = load_ok("[core]\nlog_level = warning\n");
	cr_assert_eq(c->log_level, LOG_LEVEL_WARNING);
	config_free(c);
	load_err("[sip]\nSS_ENDPOINT_REGISTER_REPLACE = yes\n",
	         "t.conf:2: SS_ENDPOINT_REGISTER_REPLACE: yes is not a valid value "
	         "(allowed: on, off)");
	load_err("[sip]\nSS_SIP_USER_AGENT_PRIVACY = ID\n",
	         "t.conf:2: SS_SIP_USER_AGENT_PRIVACY: ID is not a valid value "
	         "(allowed: ignore, id, none)");
	load_err("[core]\nlog_level = verbose\n",
	         "t.conf:2: log_level: verbose is not a valid value "
	         "(allowed: error, warning, info, debug)");
	load_err("[sip]\nsuspend_action = 403\n",
	         "t.conf:2: suspend_action: 403 is not a valid value (allowed: reject, "
	         "drop)");
	load_err("[core]\nsyslog =\n",
	         "t.conf:2: syslog: empty value (allowed: on, off)");
}

Test(config, listen_syntax)
{
	struct config *c;
	struct sockaddr_in6 *s6;
	char buf[256];

	c = load_ok("[core]\nlisten = udp:0.0.0.0:5070   tcp:[::1]:5071\tudp:[::]:0\n");
	cr_assert_eq(c->listen_count, 3);
	cr_assert_eq(c->listen[0].family, AF_INET);
	cr_assert_eq(c->listen[0].port, 5070);
	cr_assert_eq(c->listen[1].transport, CONFIG_TRANSPORT_TCP);
	cr_assert_eq(c->listen[1].family, AF_INET6);
	cr_assert_str_eq(c->listen[1].host, "::1");
	s6 = (struct sockaddr_in6 *)&c->listen[1].addr;
	cr_assert_eq(ntohs(s6->sin6_port), 5071);
	cr_assert_eq(c->listen[1].addrlen, sizeof(struct sockaddr_in6));
	cr_assert_eq(c->listen[2].port, 0);
	cr_assert_eq(config_format_value(c, "core", "listen", buf, sizeof(buf)), 0);
	cr_assert_str_eq(buf, "udp:0.0.0.0:5070 tcp:[::1]:5071 udp:[::]:0");
	config_free(c);

#define ALLOWED                                                                          \
	"(allowed: udp|tcp:HOST:PORT ..., HOST an IPv4 address or [IPv6], PORT 0-65535)"
	load_err("[core]\nlisten = sctp:1.2.3.4:5060\n",
	         "t.conf:2: listen: sctp:1.2.3.4:5060 does not start with udp: or "
	         "tcp: " ALLOWED);
	load_err("[core]\nlisten = udp:1.2.3.4\n",
	         "t.conf:2: listen: udp:1.2.3.4 has no :PORT " ALLOWED);
	load_err("[core]\nlisten = udp:1.2.3.4:65536\n",
	         "t.conf:2: listen: udp:1.2.3.4:65536 has a bad port " ALLOWED);
	load_err("[core]\nlisten = udp:1.2.3.4:\n",
	         "t.conf:2: listen: udp:1.2.3.4: has a bad port " ALLOWED);
	load_err("[core]\nlisten = udp:1.2.3.256:5060\n",
	         "t.conf:2: listen: udp:1.2.3.256:5060: 1.2.3.256 is not an IPv4 "
	         "address " ALLOWED);
	load_err("[core]\nlisten = udp:::1:5060\n",
	         "t.conf:2: listen: udp:::1:5060: an IPv6 address needs "
	         "[brackets] " ALLOWED);
	load_err("[core]\nlisten = tcp:[::1]5060\n",
	         "t.conf:2: listen: tcp:[::1]5060: an IPv6 address needs [brackets] then "
	         ":PORT " ALLOWED);
	load_err("[core]\nlisten = tcp:[1.2.3.4]:5060\n",
	         "t.conf:2: listen: tcp:[1.2.3.4]:5060: 1.2.3.4 is not an IPv6 "
	         "address " ALLOWED);
	load_err("[core]\nlisten = udp:localhost:5060\n",
	         "t.conf:2: listen: udp:localhost:5060: localhost is not an IPv4 "
	         "address " ALLOWED);
	load_err("[core]\nlisten = udp::5060\n",
	         "t.conf:2: listen: udp::5060 has a bad host " ALLOWED);
	load_err("[core]\nlisten = udp:127.0.0.1:5060 udp:127.0.0.1:5060\n",
	         "t.conf:2: listen: udp:127.0.0.1:5060 is listed twice " ALLOWED);
	load_err("[core]\nlisten =\n", "t.conf:2: listen: empty value " ALLOWED);
}

Test(config, listen_long_line_and_limit)
{
	char text[2048] = "[core]\nlisten =";
	struct config *c;
	char item[64];

	/* 16 entries: about 350 bytes, longer than inih's own 200-byte lines */
	for (int i = 0; i < CONFIG_LISTEN_MAX; i++) {
		snprintf(item, sizeof(item), " udp:127.0.0.%d:%d", i + 1, 5060 + i);
		strcat(text, item);
	}
	strcat(text, " ; sixteen\nworkers = 2\n");
	cr_assert_gt(strlen(text), 300);
	c = load_ok(text);
	cr_assert_eq(c->listen_count, CONFIG_LISTEN_MAX);
	cr_assert_str_eq(c->listen[15].host, "127.0.0.16");
	cr_assert_eq(c->listen[15].port, 5075);
	cr_assert_eq(c->workers, 2);
	config_free(c);

	strcpy(strstr(text, " ; sixteen"), " tcp:127.0.0.1:1\n");
	load_err(text, "t.conf:2: listen: more than 16 addresses " ALLOWED);
}

Test(config, admin_http)
{
	struct config *c, *d;
	char buf[96];
	const struct config_key_info *diff[4];

	cr_assert_eq(config_new(&d), 0);
	cr_assert_eq(d->admin_http.family, 0, "off by default");
	cr_assert_eq(config_format_value(d, "admin", "http", buf, sizeof(buf)), 0);
	cr_assert_str_eq(buf, "");
	c = load_ok("[admin]\nhttp = 127.0.0.1:9060\n");
	cr_assert_eq(c->admin_http.family, AF_INET);
	cr_assert_eq(c->admin_http.port, 9060);
	cr_assert_eq(c->admin_http.transport, CONFIG_TRANSPORT_TCP);
	cr_assert_eq(((struct sockaddr_in *)&c->admin_http.addr)->sin_port, htons(9060));
	cr_assert_eq(config_format_value(c, "admin", "http", buf, sizeof(buf)), 0);
	cr_assert_str_eq(buf, "127.0.0.1:9060");
	cr_assert_eq(config_diff(d, c, diff, 4), 1);
	cr_assert_str_eq(diff[0]->name, "http");
	cr_assert_not(diff[0]->live, "http needs a restart");
	config_apply_live(d, c);
	cr_assert_eq(d->admin_http.family, 0);
	config_free(c);
	c = load_ok("[admin]\nhttp = [::1]:0\n");
	cr_assert_eq(c->admin_http.family, AF_INET6);
	cr_assert_eq(c->admin_http.port, 0);
	cr_assert_eq(config_format_value(c, "admin", "http", buf, sizeof(buf)), 0);
	cr_assert_str_eq(buf, "[::1]:0");
	config_free(c);
	c = load_ok("[admin]\nhttp =\n");
	cr_assert_eq(c->admin_http.family, 0, "empty: off");
	config_free(c);
	config_free(d);
#define HALLOWED "(allowed: empty (off) or HOST:PORT, HOST an IPv4 address or [IPv6], PORT 0-65535)"
	load_err("[admin]\nhttp = 127.0.0.1\n",
	         "t.conf:2: http: 127.0.0.1 is not HOST:PORT " HALLOWED);
	load_err("[admin]\nhttp = 127.0.0.1:65536\n",
	         "t.conf:2: http: 127.0.0.1:65536 is not HOST:PORT " HALLOWED);
	load_err("[admin]\nhttp = localhost:9060\n",
	         "t.conf:2: http: localhost:9060 is not HOST:PORT " HALLOWED);
	load_err("[admin]\nhttp = ::1:9060\n",
	         "t.conf:2: http: ::1:9060 is not HOST:PORT " HALLOWED);
	load_err("[admin]\nhttp = tcp:127.0.0.1:9060\n",
	         "t.conf:2: http: tcp:127.0.0.1:9060 is not HOST:PORT " HALLOWED);
	load_err("[admin]\nhttp = 127.0.0.1:\n",
	         "t.conf:2: http: 127.0.0.1: is not HOST:PORT " HALLOWED);
#undef HALLOWED
}

Test(config, admin_and_database_values)
{
	struct config *c;
	char long_path[200];

	c = load_ok("[admin]\nsocket = /tmp/x/admin.sock\nsocket_mode = 0660\n"
	            "[database]\npath = db/sipreg.db\n");
	cr_assert_str_eq(c->admin_socket, "/tmp/x/admin.sock");
	cr_assert_eq(c->admin_socket_mode, 0660);
	cr_assert_str_eq(c->database_path, "db/sipreg.db");
	config_free(c);
	c = load_ok("[admin]\nsocket_mode = 0777\n");
	cr_assert_eq(c->admin_socket_mode, 0777);
	config_free(c);
	c = load_ok("[admin]\nsocket_mode = 0\n");
	cr_assert_eq(c->admin_socket_mode, 0);
	config_free(c);
	load_err(
	        "[admin]\nsocket_mode = 1000\n",
	        "t.conf:2: socket_mode: 1000 is out of range (allowed: octal 0000-0777)");
	load_err("[admin]\nsocket_mode = 0680\n",
	         "t.conf:2: socket_mode: 0680 is not an octal number (allowed: octal "
	         "0000-0777)");
	load_err("[admin]\nsocket =\n", "t.conf:2: socket: empty value (allowed: a Unix "
	                                "socket path of 1-107 bytes)");
	memset(long_path, 'a', 108);
	long_path[0] = '/';
	long_path[108] = '\0';
	{
		char text[300];

		snprintf(text, sizeof(text), "[admin]\nsocket = %s\n", long_path);
		load_err(text, "t.conf:2: socket: 108 bytes is too long "
		               "(allowed: a Unix socket path of 1-107 bytes)");
		long_path[107] = '\0';
		snprintf(text, sizeof(text), "[admin]\nsocket = %s\n", long_path);
		c = load_ok(text);
		cr_assert_eq(strlen(c->admin_socket), 107);
		config_free(c);
	}
}

Test(config, strings)
{
	struct config *c;
	char text[400], v[200];

	c = load_ok("[sip]\nuser_agent = Carrier SBC 1.0\nrealm = sip.example.net\n");
	cr_assert_str_eq(c->user_agent, "Carrier SBC 1.0");
	cr_assert_str_eq(c->realm, "sip.example.net");
	config_free(c);
	load_err("[sip]\nuser_agent =\n",
	         "t.conf:2: user_agent: empty value (allowed: 1-127 printable bytes)");
	load_err("[sip]\nrealm = a\"b\n", "t.conf:2: realm: \"a\\\"b\" contains '\"' "
	                                  "(allowed: 0-127 printable bytes "
	                                  "without '\"' or '\\')");
	memset(v, 'x', 128);
	v[128] = '\0';
	snprintf(text, sizeof(text), "[sip]\nuser_agent = %s\n", v);
	load_err(text, "t.conf:2: user_agent: 128 bytes is too long "
	               "(allowed: 1-127 printable bytes)");
	v[127] = '\0';
	snprintf(text, sizeof(text), "[sip]\nuser_agent = %s\n", v);
	c = load_ok(text);
	cr_assert_eq(strlen(c->user_agent), 127);
	config_free(c);
	load_err("[sip]\nuser_agent = a\x01z\n",
	         "t.conf:2: user_agent: \"a\\x01z\" contains a control character "
	         "(allowed: 1-127 printable bytes)");
}

Test(config, unknown_names_and_bad_syntax)
{
	load_err("[core]\nlisten = udp:127.0.0.1:5060\nworker = 2\n",
	         "t.conf:3: worker: unknown key in [core] (allowed: listen, workers, "
	         "log_level, syslog, shutdown_timeout, max_transactions)");
	load_err(
	        "[sip]\nSS_ENDPOINT_EXPIRES = 60\n",
	        "t.conf:2: SS_ENDPOINT_EXPIRES: unknown key in [sip] (allowed: "
	        "SS_SIP_USER_AGENT_EXPIRE, SS_SIP_USER_AGENT_RETRY_DELAY, "
	        "SS_SIP_USER_AGENT_SEND_UNREGISTER, SS_SIP_USER_AGENT_PRIVACY, "
	        "SS_ENDPOINT_EXPIRE, SS_ENDPOINT_NAT_EXPIRE, SS_ENDPOINT_REGISTER_RETRY, "
	        "SS_ENDPOINT_REGISTER_SUSPEND, SS_ENDPOINT_REGISTER_REPLACE, "
	        "ENDPOINT_ADDRESS_RETRY, register_request_expire, trunk_start_rate, user_agent, contact_host, realm, "
	        "nonce_expire, min_expire, max_contacts, suspend_action, digest_algorithms)");
	/* keys are case sensitive */
	load_err("[core]\nWorkers = 2\n",
	         "t.conf:2: Workers: unknown key in [core] (allowed: listen, workers, "
	         "log_level, syslog, shutdown_timeout, max_transactions)");
	/* an unknown section is an error even when it is empty */
	load_err("[core]\nworkers = 2\n[trunks]\n",
	         "t.conf:3: [trunks]: unknown section (allowed: [core], [admin], "
	         "[database], "
	         "[sip])");
	load_err("workers = 2\n[core]\n",
	         "t.conf:1: workers: key outside any section (allowed: [core], [admin], "
	         "[database], [sip])");
	load_err("[core]\nworkers = 2\nworkers = 3\n",
	         "t.conf:3: workers: set twice, first on line 2 (allowed: once)");
	load_err("[core]\nworkers 2\n",
	         "t.conf:2: syntax error: expected \"[section]\" or \"key = value\"");
	load_err("[core\nworkers = 2\n",
	         "t.conf:1: syntax error: expected \"[section]\" or \"key = value\"");
	/* the syntax error comes first even though a bad key follows */
	load_err("[core]\njunk\nworkers = 999\n",
	         "t.conf:2: syntax error: expected \"[section]\" or \"key = value\"");
}

Test(config, line_too_long)
{
	char text[CONFIG_LINE_MAX + 200];

	strcpy(text, "[sip]\n; ");
	memset(text + 8, 'c', CONFIG_LINE_MAX);
	strcpy(text + 8 + CONFIG_LINE_MAX, "\nrealm = x\n");
	load_err(text, "t.conf:2: line too long (allowed: up to 1024 bytes)");
	/* exactly CONFIG_LINE_MAX bytes is fine */
	strcpy(text, "[sip]\n; ");
	memset(text + 8, 'c', CONFIG_LINE_MAX - 2);
	strcpy(text + 8 + CONFIG_LINE_MAX - 2, "\nrealm = x\n");
	config_free(load_ok(text));
}

Test(config, layout_comments_and_indentation)
{
	struct config *c;

	c = load_ok("\xEF\xBB\xBF; BOM first\n"
	            "[core]\r\n"
	            "  workers = 2   ; two\r\n"
	            "\tlog_level=debug\n"
	            "# hash comment\n"
	            "[sip]\n"
	            "    SS_ENDPOINT_EXPIRE = 600\n"
	            "    SS_ENDPOINT_NAT_EXPIRE = 120\n"
	            "[core]\n"
	            "syslog = on");
	cr_assert_eq(c->workers, 2);
	cr_assert_eq(c->log_level, LOG_LEVEL_DEBUG);
	cr_assert_eq(c->endpoint_expire, 600,
	             "an indented key is a key, not a continuation");
	cr_assert_eq(c->endpoint_nat_expire, 120);
	cr_assert(c->syslog, "a last line without newline counts");
	config_free(c);
}

Test(config, load_file_and_open_errors)
{
	char path[] = "/tmp/sipreg-test-config-XXXXXX";
	struct config_error err = {{0}};
	struct config *c = NULL;
	char want[256];
	int fd = mkstemp(path);
	FILE *f;

	cr_assert_geq(fd, 0);
	f = fdopen(fd, "w");
	fputs("[sip]\nSS_ENDPOINT_REGISTER_RETRY = 3\n", f);
	fclose(f);
	cr_assert_eq(config_load(&c, path, &err), 0, "%s", err.msg);
	cr_assert_eq(c->endpoint_register_retry, 3);
	cr_assert_str_eq(c->file, path);
	config_free(c);

	f = fopen(path, "w");
	fputs("[sip]\n\nSS_ENDPOINT_REGISTER_RETRY = 101\n", f);
	fclose(f);
	c = NULL;
	cr_assert_eq(config_load(&c, path, &err), -EINVAL);
	cr_assert_null(c);
	snprintf(want, sizeof(want),
	         "%s:3: SS_ENDPOINT_REGISTER_RETRY: 101 is out of range (allowed: 1-100)",
	         path);
	cr_assert_str_eq(err.msg, want);
	cr_assert_eq(err.line, 3);
	unlink(path);

	cr_assert_eq(config_load(&c, path, &err), -ENOENT);
	snprintf(want, sizeof(want), "%s: cannot open: No such file or directory", path);
	cr_assert_str_eq(err.msg, want);
	cr_assert_eq(config_load(&c, "/", &err), -EISDIR);
	cr_assert_str_eq(err.msg, "/: cannot open: Is a directory");
}

Test(config, diff_and_live_keys)
{
	struct config *a, *b;
	const struct config_key_info *d[8];
	size_t n;

	cr_assert_eq(config_new(&a), 0);
	b = load_ok("[core]\nlisten = udp:127.0.0.1:5070\nlog_level = debug\n"
	            "[sip]\nSS_SIP_USER_AGENT_RETRY_DELAY = 30\n[admin]\nsocket_mode = "
	            "0660\n");
	n = config_diff(a, b, d, 8);
	cr_assert_eq(n, 4);
	cr_assert_str_eq(d[0]->name, "listen");
	cr_assert_not(d[0]->live);
	cr_assert_str_eq(d[1]->name, "log_level");
	cr_assert(d[1]->live);
	cr_assert_str_eq(d[2]->name, "socket_mode");
	cr_assert_not(d[2]->live);
	cr_assert_str_eq(d[3]->name, "SS_SIP_USER_AGENT_RETRY_DELAY");
	cr_assert(d[3]->live);
	/* the count is complete even when out is short */
	cr_assert_eq(config_diff(a, b, d, 1), 4);

	config_apply_live(a, b);
	cr_assert_eq(a->log_level, LOG_LEVEL_DEBUG);
	cr_assert_eq(a->ua_retry_delay, 30);
	cr_assert_eq(a->listen[0].port, 5060, "listen needs a restart");
	cr_assert_eq(a->admin_socket_mode, 0600, "socket_mode needs a restart");
	n = config_diff(a, b, d, 8);
	cr_assert_eq(n, 2);
	cr_assert_not(d[0]->live);
	cr_assert_not(d[1]->live);
	config_free(a);
	config_free(b);
}

Test(config, key_table_and_format)
{
	size_t n;
	const struct config_key_info *k = config_keys(&n);
	struct config *c;
	char buf[512];
	bool seen_live = false;

	cr_assert_eq(n, 31);
	cr_assert_eq(config_new(&c), 0);
	for (size_t i = 0; i < n; i++) {
		cr_assert_not_null(k[i].default_text);
		cr_assert_eq(
		        config_format_value(c, k[i].section, k[i].name, buf, sizeof(buf)),
		        0);
		/* each default text is what the default config formats to */
		if (strcmp(k[i].name, "socket") != 0 && strcmp(k[i].name, "workers") != 0)
			cr_assert_str_eq(buf, k[i].default_text, "%s", k[i].name);
		seen_live |= k[i].live;
	}
	cr_assert(seen_live);
	cr_assert_eq(config_format_value(c, "core", "nope", buf, sizeof(buf)), -ENOENT);
	cr_assert_eq(config_format_value(c, "core", "listen", buf, 8), -ENOSPC);
	config_free(c);
}
