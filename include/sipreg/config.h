/* SPDX-License-Identifier: MIT */
/*
 * config.h - sipreg's configuration: an INI file (libinih) applied over an
 * embedded default, so the daemon also runs with no file at all.
 *
 * Every key, its default, its range and whether SIGHUP can change it live
 * ("live": the running daemon applies the new value; "restart": the new value
 * is reported and ignored until the next start). etc/sipreg.conf shows them all.
 *
 * [core]
 *   listen            udp:127.0.0.1:5060 tcp:127.0.0.1:5060          restart
 *                     space-separated, at most CONFIG_LISTEN_MAX entries of
 *                     udp|tcp ":" host ":" port; host is a numeric IPv4
 *                     address or a bracketed IPv6 address ("tcp:[::1]:5060");
 *                     port 0-65535 (0: the kernel picks one); no duplicates.
 *   workers           auto (number of online CPUs, at most 256) | 1-256  restart
 *   log_level         error | warning | info | debug; default info       live
 *   syslog            on | off; default off                              live
 *   shutdown_timeout  1-60 s; default 5: the bound on a graceful stop    live
 *   max_transactions  1024-8388608; default 1048576: server and client    restart
 *                     transactions each worker keeps at most (RFC 3261
 *                     §17: a UDP server's answer is kept for Timer J, 32 s);
 *                     past it a request is answered without a transaction
 *                     (counted as tx_full) rather than refused.
 * [admin]
 *   socket            Unix socket path of the admin API, 1-107 bytes.    restart
 *                     Default: config_default_admin_socket() (root:
 *                     /run/sipreg/admin.sock; other users:
 *                     $XDG_RUNTIME_DIR/sipreg/admin.sock, else
 *                     /tmp/sipreg-UID/admin.sock).
 *   socket_mode       octal 0000-0777; default 0600                      restart
 *   http              empty | HOST:PORT; default empty (off): the        restart
 *                     read-only Prometheus listener (GET /metrics only),
 *                     HOST a numeric IPv4 address or a bracketed IPv6
 *                     address ("[::1]:9060"), PORT 0-65535 (0: the kernel
 *                     picks one). Off by default so that several daemons on
 *                     one host never collide on a fixed port;
 *                     etc/sipreg.conf turns it on at 127.0.0.1:9060. Bind it
 *                     to loopback or a management network: it has no
 *                     authentication (it changes nothing).
 * [database]
 *   path              1-4095 bytes; default /var/lib/sipreg/sipreg.db;   restart
 *                     a relative path is relative to the working directory.
 *   flush_interval    10-10000 ms; default 1000: bindings changed are     live
 *                     written to the database in one batch this often, so
 *                     a kill -9 loses at most this much of their changes.
 * [sip]   (SPEC.md's names, defaults and ranges; all live: a new value
 *          applies to the next registration, refresh, challenge or
 *          failure; timers already running keep their schedule)
 *   SS_SIP_USER_AGENT_EXPIRE          auto | 20-7200 s; default auto
 *   SS_SIP_USER_AGENT_RETRY_DELAY     30-600 s; default 60
 *   SS_SIP_USER_AGENT_SEND_UNREGISTER on | off; default on
 *   SS_SIP_USER_AGENT_PRIVACY         ignore | id | none; default ignore
 *   SS_ENDPOINT_EXPIRE                60-7200 s; default 3600
 *   SS_ENDPOINT_NAT_EXPIRE            20-3600 s; default 300
 *   SS_ENDPOINT_REGISTER_RETRY        1-100; default 6
 *   SS_ENDPOINT_REGISTER_SUSPEND      10-86400 s; default 180
 *   SS_ENDPOINT_REGISTER_REPLACE      on | off; default on
 *   ENDPOINT_ADDRESS_RETRY            3-10000; default 30
 *   sipreg's own keys:
 *   register_request_expire  20-7200 s; default 3600: the expiry X asked of
 *                     an upstream when SS_SIP_USER_AGENT_EXPIRE is auto
 *   trunk_start_rate  1-100000 per second per worker; default 500: how fast   restart
 *                     new trunk registrations start (start-up, enable, add),
 *                     so 100,000 trunks are no REGISTER storm
 *   user_agent        1-127 printable bytes; default "sipreg/VERSION": the
 *                     User-Agent of our REGISTERs and Server of our responses
 *   contact_host      0-127 printable bytes; default empty: the host our
 *                     trunks' Via and Contact carry (the address upstreams
 *                     reach us at); empty = the first UDP listen address,
 *                     which must then not be a wildcard (0.0.0.0, ::)
 *   realm             0-127 printable bytes, no '"' or '\'; default empty:
 *                     the registrar's digest realm; empty means the host of
 *                     the request's To URI
 *   nonce_expire      10-3600 s; default 300: a nonce older than this gets
 *                     stale=true
 *   min_expire        20-3600 s; default 60: a REGISTER asking for less (and
 *                     not 0) gets 423 Interval Too Brief with this
 *                     Min-Expires. Must not exceed SS_ENDPOINT_NAT_EXPIRE nor
 *                     SS_ENDPOINT_EXPIRE.
 *   max_contacts      1-100; default 1: bindings kept per address-of-record
 *   suspend_action    reject | drop; default reject: a suspended endpoint's
 *                     REGISTER gets 403, or is dropped without an answer
 *   digest_algorithms sha-256,md5 | md5,sha-256 | sha-256 | md5; default
 *                     sha-256,md5 (RFC 8760 order): the registrar's
 *                     challenges in the order offered. Many deployed user
 *                     agents (and sipp 3.6) answer only the first challenge
 *                     and only MD5: md5,sha-256 serves them.
 *
 * File syntax: libinih's INI: "[section]", "key = value", comments start with
 * ';' or '#' at the beginning of a line, or " ;" after a value. Keys are case
 * sensitive. A key set twice, an unknown section or key, a line that is not
 * "key = value", a line longer than CONFIG_LINE_MAX and an out-of-range or
 * malformed value are errors; values are never clamped. Errors read exactly
 *
 *   FILE:LINE: KEY: problem (allowed: ...)
 *   sipreg.conf:12: SS_ENDPOINT_EXPIRE: 20 is out of range (allowed: 60-7200)
 *
 * Threads: a struct config is a plain value. Functions here touch only their
 * arguments (and read the environment for the default socket path), so they
 * are reentrant. The daemon publishes the current config to its threads; a
 * reload builds a new one and never edits the one in use.
 */
#ifndef SIPREG_CONFIG_H
#define SIPREG_CONFIG_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "sipreg/log.h"

#define CONFIG_LISTEN_MAX 16
#define CONFIG_LINE_MAX 1024        /* bytes in one line of the file, newline excluded */
#define CONFIG_ADMIN_SOCKET_MAX 108 /* sizeof(sun_path), NUL included */
#define CONFIG_STR_MAX 128
#define CONFIG_ERROR_MAX 1024

enum config_transport {
	CONFIG_TRANSPORT_UDP,
	CONFIG_TRANSPORT_TCP,
};

struct config_listen {
	enum config_transport transport;
	int family;    /* AF_INET or AF_INET6 */
	char host[48]; /* numeric, without brackets */
	uint16_t port;
	struct sockaddr_storage addr; /* host and port, ready for bind(2) */
	socklen_t addrlen;
};

enum config_privacy {
	CONFIG_PRIVACY_IGNORE, /* no Privacy header */
	CONFIG_PRIVACY_ID,     /* Privacy: id */
	CONFIG_PRIVACY_NONE,   /* Privacy: none */
};

/* The registrar's challenges, in the order they are offered. */
enum config_digest_order {
	CONFIG_DIGEST_SHA256_MD5, /* RFC 8760 order */
	CONFIG_DIGEST_MD5_SHA256, /* for user agents that read only the first */
	CONFIG_DIGEST_SHA256,
	CONFIG_DIGEST_MD5,
};

enum config_suspend_action {
	CONFIG_SUSPEND_REJECT, /* 403 */
	CONFIG_SUSPEND_DROP,   /* no answer */
};

struct config {
	/* [core] */
	struct config_listen listen[CONFIG_LISTEN_MAX];
	unsigned int listen_count;
	unsigned int workers; /* resolved: 1-256, also when workers_auto */
	bool workers_auto;
	enum log_level log_level;
	bool syslog;
	unsigned int shutdown_timeout; /* seconds */
	unsigned int max_transactions; /* per worker */

	/* [admin] */
	char admin_socket[CONFIG_ADMIN_SOCKET_MAX];
	unsigned int admin_socket_mode;
	struct config_listen admin_http; /* family 0: off; transport is TCP */

	/* [database] */
	char database_path[PATH_MAX];
	unsigned int database_flush_interval; /* ms */

	/* [sip] outbound (user agent) */
	unsigned int ua_expire; /* 0 = auto, else 20-7200 */
	unsigned int ua_retry_delay;
	bool ua_send_unregister;
	enum config_privacy ua_privacy;
	unsigned int ua_register_request_expire;
	unsigned int ua_start_rate; /* new registrations per second per worker */
	char user_agent[CONFIG_STR_MAX];
	char contact_host[CONFIG_STR_MAX]; /* "" = the first UDP listen address */

	/* [sip] inbound (registrar) */
	unsigned int endpoint_expire;
	unsigned int endpoint_nat_expire;
	unsigned int endpoint_register_retry;
	unsigned int endpoint_register_suspend;
	bool endpoint_register_replace;
	unsigned int endpoint_address_retry;
	char realm[CONFIG_STR_MAX];
	unsigned int nonce_expire;
	unsigned int min_expire;
	unsigned int max_contacts;
	enum config_suspend_action suspend_action;
	enum config_digest_order digest_order;

	/* The file it was loaded from ("" for the embedded default). */
	char file[PATH_MAX];
};

/* A load error: the one line to print, "FILE:LINE: KEY: problem (allowed: ...)"
 * (or "FILE: problem" when it is about the file as a whole). */
struct config_error {
	char msg[CONFIG_ERROR_MAX];
	unsigned int line; /* 0 when not about one line */
};

/* Allocates a config holding the embedded default.
 * Errors: -ENOMEM. */
int config_new(struct config **ret);

/* Reads the INI file at path over the embedded default.
 * Errors: -ENOMEM; -EINVAL for content errors; the errno of fopen(3)
 * (-ENOENT, -EACCES, ...) when the file cannot be read. On error *ret is not
 * written and err (if not NULL) holds the message. */
int config_load(struct config **ret, const char *path, struct config_error *err);

/* Same, from a string; name is used as FILE in messages. */
int config_load_string(struct config **ret, const char *text, const char *name,
                       struct config_error *err);

/* config_free(NULL) is a no-op. */
void config_free(struct config *cfg);

/* The default admin socket path for the calling user, written into buf.
 * Errors: -ENAMETOOLONG if it does not fit (or exceeds sun_path). */
int config_default_admin_socket(char *buf, size_t cap);

/* Description of one key, for diffs, listings and the example file. */
struct config_key_info {
	const char *section;
	const char *name;
	const char *default_text; /* as written in a file */
	const char *allowed;      /* the "(allowed: ...)" text */
	bool live;                /* SIGHUP applies it while running */
};

/* The table of all keys, in file order; *count is set. */
const struct config_key_info *config_keys(size_t *count);

/* Writes the value of key (as it would be written in the file) into buf.
 * Errors: -ENOENT for an unknown key, -ENOSPC if buf is too small. */
int config_format_value(const struct config *cfg, const char *section, const char *name,
                        char *buf, size_t cap);

/* Compares two configs key by key and stores up to cap differing keys in
 * out (each points into config_keys()' table; ->live says whether SIGHUP
 * applies it). Returns the number of differing keys (which may exceed cap). */
size_t config_diff(const struct config *old, const struct config *new_cfg,
                   const struct config_key_info **out, size_t cap);

/* Copies into dst the value of every live key of src; the restart-only keys
 * of dst stay as they are. Used by the daemon on SIGHUP. */
void config_apply_live(struct config *dst, const struct config *src);

/* Formats one listen entry as in the file ("udp:[::1]:5060").
 * Returns the length, or -ENOSPC. */
int config_listen_format(const struct config_listen *l, char *buf, size_t cap);

#endif /* SIPREG_CONFIG_H */
