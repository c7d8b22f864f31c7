/* SPDX-License-Identifier: MIT */
/*
 * ua.h - outbound trunk registrations (SPEC.md "Outbound registration"):
 * sipreg registering *to* upstream carriers, one state machine per trunk.
 *
 * One struct ua per worker. It owns the trunks assigned to that worker and
 * drives them with ONE wheel timer embedded in each trunk (next REGISTER:
 * start, refresh or retry) plus the worker's client transactions
 * (transaction.h: Timers E/F, matching). Nothing scans the trunks per tick;
 * memory is allocated when a trunk is added, changed or removed (and once,
 * at its first digest challenge), never per message or per tick.
 *
 * States (enum ua_state):
 *
 *   disabled      the trunk is not enabled; nothing is sent.
 *   registering   no valid registration: waiting for its (spread) start
 *                 slot, resolving the host, or a REGISTER is in flight.
 *   registered    the upstream granted a binding; a refresh is scheduled.
 *   refreshing    a refresh REGISTER is in flight (the binding is valid).
 *   failed        the last attempt failed; the next one comes after exactly
 *                 the retry delay (no backoff; a longer Retry-After is
 *                 honoured). The binding of a failed refresh stays valid
 *                 until its granted expiry (ua_trunk_status.valid).
 *   unregistering REGISTER with Expires: 0 in flight (delete, disable,
 *                 shutdown with SS_SIP_USER_AGENT_SEND_UNREGISTER on).
 *
 * Protocol (RFC 3261 §10.2): every REGISTER of a trunk keeps its Call-ID and
 * increments its CSeq; From tag and Contact are stable; each transaction has
 * a new Via branch (tx_branch_make()). The expiry asked is the trunk's fixed
 * value (or the global SS_SIP_USER_AGENT_EXPIRE), or in auto mode the
 * global register_request_expire; the granted value is the expires of OUR
 * Contact in the 200 OK, else its Expires header, else what was asked. The
 * effective expiry is the granted value (auto) or min(granted, asked)
 * (fixed); the refresh is due at half of it, moved earlier by a per-trunk
 * deterministic spread of at most 10% of that half (so trunks with the same
 * period do not synchronise; a refresh is never later than its due time).
 * 423 Interval Too Brief: at once a new REGISTER asking for Min-Expires
 * (UA_NOTICE_INTERVAL_TOO_BRIEF). 401/407: answered once per challenge
 * (digest_answer(), qop=auth with a fresh cnonce and nonce-count); the
 * challenge is cached, so later REGISTERs carry credentials pre-emptively
 * with the next nc. stale=true: answered with the new nonce, not a failure.
 * A challenge after credentials that answered a challenge of this same
 * attempt (not stale) is a failure (wrong password); after pre-emptive
 * credentials it is a first challenge (the nonce aged out).
 *
 * Failures: Timer F timeout, transport error (the send failed), DNS
 * failure, 3xx/4xx (but 401/407/423 as above)/5xx/6xx, a repeated
 * challenge, an unusable 2xx. Each sets last_code / last_reason and arms the
 * retry after the delay; hosts that are names are resolved again.
 *
 * Wiring into a worker (the daemon's engine does this once per worker):
 *
 *   1. the worker's wheel (already advanced by its before-sleep hook) and
 *      its struct tx_layer, whose tx_send_fn sends on the worker's UDP
 *      socket (or TCP connection named by tx_dest.conn);
 *   2. ua_new() with worker = its index (the same as tx_layer_opts.worker),
 *      local_host / local_port_udp / local_port_tcp = the address upstreams
 *      reach it at (Via sent-by and Contact), dest = NULL for UDP (or a hook
 *      that finds the TCP connection), notify = a function that logs:
 *      UA_NOTICE_STATE at info (debug when n->routine), the 423 and
 *      Retry-After notices at warning, SHUTDOWN_DONE at info;
 *      settings = ua_settings_from_config(cfg);
 *   3. responses: every SIP response the worker receives (or gets handed by
 *      another worker, routed by tx_branch_worker() of its top Via branch) is
 *      parsed and given to tx_client_response(); the UA's result callback
 *      runs from there. Nothing else is needed for responses;
 *   4. one ua_resolver for the process (ua_resolver_new() with
 *      ua_mailbox_deliver_resolved and the array of per-worker mailboxes),
 *      resolve = ua_resolver_submit, resolve_arg = the resolver;
 *   5. one ua_mailbox per worker (ua_mailbox_new(ua, worker loop)): the
 *      admin API and the store post add/set/del/enable/disable/refresh and
 *      status queries through it (ua_mailbox_call()); a trunk belongs to the
 *      worker chosen by a stable hash of its name modulo the worker count;
 *   6. start-up: ua_trunk_add(..., hold_start = true) for every stored
 *      trunk, then ua_start_all(); SIGHUP: ua_set_settings() via the mailbox;
 *   7. graceful stop: ua_shutdown(ua, bound) via the mailbox on every
 *      worker, keep the loops running until each has sent SHUTDOWN_DONE (or
 *      the bound passed), then stop the loops, ua_resolver_free(),
 *      ua_mailbox_free(), ua_free(), tx_layer_free(), wheel_free().
 *
 * Threads: a struct ua and its trunks belong to one worker thread; every
 * function here is called on it (callbacks are called on it too), except
 * the resolver's and the mailbox's own functions (see below),
 * ua_trunk_config_validate(), ua_settings_from_config(), ua_worker(),
 * ua_fail_kind_name() and ua_observe()/ua_observe_all() (they take the UA's
 * lock, which the worker holds inside every function and callback that
 * changes trunks), which are thread-safe.
 */
#ifndef SIPREG_UA_H
#define SIPREG_UA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

#include "sipreg/config.h"
#include "sipreg/sip.h"
#include "sipreg/transaction.h"

struct ua;
struct ua_trunk;
struct wheel;

/* ------------------------------------------------------------------------ */
/* Trunk configuration                                                       */

#define UA_NAME_MAX 63   /* bytes of a trunk name */
#define UA_HOST_MAX 253  /* bytes of a host name or address */
#define UA_FIELD_MAX 127 /* user, auth user, password, domain, realm, contact user */

#define UA_EXPIRE_GLOBAL (-1) /* ua_trunk_config.expire: use the global */
#define UA_EXPIRE_AUTO 0      /* auto negotiation */
#define UA_EXPIRE_MIN 20
#define UA_EXPIRE_MAX 7200
#define UA_RETRY_GLOBAL 0 /* ua_trunk_config.retry_delay: use the global */
#define UA_RETRY_MIN 30
#define UA_RETRY_MAX 600
#define UA_DEFAULT_PORT 5060

enum ua_transport {
	UA_TRANSPORT_UDP = 0,
	UA_TRANSPORT_TCP = 1,
};

/*
 * One trunk as configured. Strings are NUL-terminated and copied by
 * ua_trunk_add() / ua_trunk_set(); NULL and "" are the same (empty).
 */
struct ua_trunk_config {
	const char *name;        /* unique in the process, 1-63 bytes [A-Za-z0-9._-] */
	const char *registrar;   /* host name or numeric address (IPv6 without []) */
	uint16_t registrar_port; /* 0 = 5060 */
	const char *proxy;       /* outbound proxy host; empty = none */
	uint16_t proxy_port;     /* 0 = 5060 */
	enum ua_transport transport;
	const char *user;         /* the AOR user, required */
	const char *auth_user;    /* empty = user */
	const char *password;     /* empty: a challenge is a failure */
	const char *domain;       /* AOR and Request-URI host; empty = registrar */
	const char *realm;        /* empty: answer any realm; else only this one */
	const char *contact_user; /* empty = user */
	int expire;               /* UA_EXPIRE_GLOBAL, UA_EXPIRE_AUTO, or 20-7200 */
	int retry_delay;          /* UA_RETRY_GLOBAL or 30-600 */
	bool enabled;
	/* The operator's mark for the trunk that carries the traffic while it
	 * is up (others are its backups). The UA treats it like any other
	 * trunk; the doctor holds it to a short retry delay (retry_delay_long). */
	bool primary;
};

/* A validation error: "expire: 10 is out of range (allowed: auto or 20-7200)". */
#define UA_ERROR_MAX 192
struct ua_error {
	char msg[UA_ERROR_MAX];
};

/*
 * Check a trunk configuration: required fields (name, registrar, user),
 * lengths, characters (no CR, LF, NUL-free printable; name [A-Za-z0-9._-];
 * hosts, users and domain without spaces, '<', '>', '"', '@', ';'), ports,
 * transport, expire and retry delay ranges. err (may be NULL) gets the first
 * problem as "FIELD: VALUE problem (allowed: ...)".
 * Returns 0 or -EINVAL.
 */
int ua_trunk_config_validate(const struct ua_trunk_config *c, struct ua_error *err);

/*
 * Field parsers for the store, the CSV import and sipregctl (the CSV header
 * `name,registrar,proxy,transport,user,auth_user,password,domain,expire,
 * retry_delay,enabled[,primary]`). All reentrant; NULL is taken as "".
 */

/* "udp" / "tcp", any case. Returns 0 or -EINVAL. */
int ua_transport_parse(const char *s, enum ua_transport *out);
/* "udp", "tcp" ("?" for other values). */
const char *ua_transport_name(enum ua_transport t);

/* expire: "" -> UA_EXPIRE_GLOBAL, "auto" -> UA_EXPIRE_AUTO, else decimal
 * seconds 20-7200. Returns 0, -EINVAL (not a number or "auto") or -ERANGE. */
int ua_expire_parse(const char *s, int *out);
/* retry_delay: "" -> UA_RETRY_GLOBAL, else decimal seconds 30-600.
 * Returns 0, -EINVAL or -ERANGE. */
int ua_retry_parse(const char *s, int *out);

/*
 * "host", "host:port", "[v6]" or "[v6]:port", or a bare IPv6 address (no
 * port then): host (without brackets) into host/cap, the port (0 when
 * absent) into *port. "" gives "" and 0 (an absent proxy).
 * Returns 0, -EINVAL (empty brackets, a bad or zero port, text after "]"),
 * -ENAMETOOLONG (the host does not fit in cap or is over UA_HOST_MAX).
 * The host itself is checked by ua_trunk_config_validate().
 */
int ua_hostport_parse(const char *s, char *host, size_t cap, uint16_t *port);

/* ------------------------------------------------------------------------ */
/* Global settings (the [sip] keys)                                          */

struct ua_settings {
	unsigned expire;             /* SS_SIP_USER_AGENT_EXPIRE: 0 = auto, 20-7200 */
	unsigned retry_delay;        /* SS_SIP_USER_AGENT_RETRY_DELAY, 30-600 */
	bool send_unregister;        /* SS_SIP_USER_AGENT_SEND_UNREGISTER */
	enum config_privacy privacy; /* SS_SIP_USER_AGENT_PRIVACY */
	unsigned request_expire;     /* register_request_expire, 20-7200 (auto mode) */
	char user_agent[CONFIG_STR_MAX]; /* empty: no User-Agent header */
};

/* The UA's settings from a loaded configuration. */
void ua_settings_from_config(struct ua_settings *s, const struct config *cfg);

/* ------------------------------------------------------------------------ */
/* Hooks the daemon supplies                                                 */

/* Monotonic milliseconds on the wheel's time base (clock_now_ms()). */
typedef uint64_t (*ua_clock_fn)(void *arg);
/* Wall-clock seconds (time(NULL)), for "last success". */
typedef time_t (*ua_wall_fn)(void *arg);

/*
 * Fill the destination of a REGISTER to addr over transport: at least
 * dest->conn (a connection cookie for the tx layer's send function) and
 * dest->reliable. The UA sets dest->addr/addrlen itself. NULL hook: conn 0,
 * reliable = (transport == TCP). Return 0 or a negative errno (counted as a
 * transport error: a failure of the attempt).
 */
typedef int (*ua_dest_fn)(void *arg, enum ua_transport transport,
                          const struct sockaddr *addr, socklen_t addrlen,
                          struct tx_dest *dest);

/*
 * Resolve host (a name: numeric addresses never get here) without blocking
 * the worker. The hook starts the lookup and returns 0 (or a negative errno:
 * a DNS failure at once); later, ON THE OWNER WORKER'S THREAD, the daemon
 * calls ua_resolve_done(ua, token, ...) exactly once with the result. The
 * token identifies the request; a trunk deleted meanwhile stays allocated
 * until then. ua_resolver_submit() below is a ready implementation.
 */
typedef int (*ua_resolve_fn)(void *arg, struct ua *ua, uint64_t token, const char *host,
                             uint16_t port, enum ua_transport transport);

/* What the UA tells the daemon (to log it: library code does not log). */
enum ua_notice_kind {
	UA_NOTICE_STATE = 0,          /* old_state -> new_state, reason */
	UA_NOTICE_INTERVAL_TOO_BRIEF, /* 423: value = asked, value2 = Min-Expires
	                                 (warning) */
	UA_NOTICE_RETRY_AFTER,        /* value = retry delay, value2 = Retry-After used */
	UA_NOTICE_SHUTDOWN_DONE,      /* value = unregisters answered, value2 = not
	                               * answered, value3 = not sent (the bound came
	                               * before the walk reached them) */
};

enum ua_state {
	UA_STATE_DISABLED = 0,
	UA_STATE_REGISTERING,
	UA_STATE_REGISTERED,
	UA_STATE_REFRESHING,
	UA_STATE_FAILED,
	UA_STATE_UNREGISTERING,
	UA_STATE__COUNT
};

struct ua_notice {
	enum ua_notice_kind kind;
	const char *trunk; /* the trunk's name (NULL for SHUTDOWN_DONE) */
	enum ua_state old_state, new_state;
	const char *
	        reason; /* "200 OK", "timeout", "403 Forbidden", "dns: ...", "disabled" */
	unsigned value, value2, value3;
	/* UA_NOTICE_STATE: a routine step that comes back to where it was (a
	 * refresh in flight and back, a retry in flight, the same failure
	 * again): log it below info. */
	bool routine;
};

/* Called on the worker thread; n and its strings are valid during the call.
 * It must not call ua_* functions that change trunks. */
typedef void (*ua_notify_fn)(void *arg, const struct ua_notice *n);

struct ua_opts {
	unsigned worker;     /* this worker's index (names the Call-IDs) */
	struct wheel *wheel; /* the worker's wheel */
	struct tx_layer *tx; /* the worker's transaction layer on that wheel */
	ua_clock_fn clock;   /* NULL = clock_now_ms() */
	void *clock_arg;
	ua_wall_fn wall; /* NULL = time(NULL) */
	void *wall_arg;
	/* Our address, for Via sent-by and Contact: numeric or a name, and the
	 * listening ports (0 = 5060). */
	const char *local_host;
	uint16_t local_port_udp;
	uint16_t local_port_tcp;
	ua_dest_fn dest; /* may be NULL */
	void *dest_arg;
	ua_resolve_fn resolve; /* NULL: a host name is a DNS failure */
	void *resolve_arg;
	ua_notify_fn notify; /* may be NULL */
	void *notify_arg;
	/* Start-up spreading: new registrations (add, enable, ua_start_all) are
	 * started at most start_rate per second on this worker, in order;
	 * 0 = UA_DEFAULT_START_RATE. */
	unsigned start_rate;
	uint64_t seed; /* Call-ID, tag and cnonce randomness; 0 = getrandom() */
	struct ua_settings settings;
};

#define UA_DEFAULT_START_RATE 500u

/* ------------------------------------------------------------------------ */
/* The per-worker engine                                                     */

/*
 * Create a worker's UA. opts is copied (local_host too).
 * Returns 0, -EINVAL (wheel or tx NULL, empty or too long local_host, bad
 * settings: expire/retry/request_expire out of range) or -ENOMEM.
 */
int ua_new(struct ua **ret, const struct ua_opts *opts);

/*
 * Free the UA and every trunk, abandoning live transactions; no unregister
 * is sent (use ua_shutdown() first). NULL is a no-op. Lookups still pending
 * in the resolver must have been stopped first (ua_resolver_free()).
 */
void ua_free(struct ua *ua);

/*
 * Replace the global settings (SIGHUP). They apply to the next REGISTER,
 * refresh, failure or unregister; timers already armed keep their time.
 * Returns 0 or -EINVAL (out of range).
 */
int ua_set_settings(struct ua *ua, const struct ua_settings *s);

/*
 * Add a trunk. An enabled trunk gets its first REGISTER in the next free
 * start slot (see start_rate); hold_start (true while loading a database at
 * start-up) keeps it waiting until ua_start_all().
 * Returns 0, -EINVAL (invalid config; err says why), -EEXIST (name taken on
 * this UA), -ESHUTDOWN (after ua_shutdown()) or -ENOMEM.
 */
int ua_trunk_add(struct ua *ua, const struct ua_trunk_config *c, bool hold_start,
                 struct ua_error *err);

/*
 * Change a trunk (same name). If the registration identity changes
 * (registrar, proxy, transport, users, password, domain, realm, contact
 * user) a registered trunk is first unregistered with the old one (when
 * SEND_UNREGISTER is on), then registers with the new; a change of expire or
 * retry delay alone re-registers at once with the new expiry. Enabling or
 * disabling through set behaves as ua_trunk_enable()/disable().
 * Returns 0, -ENOENT, -EINVAL (err says why), -ESHUTDOWN or -ENOMEM.
 */
int ua_trunk_set(struct ua *ua, const struct ua_trunk_config *c, struct ua_error *err);

/*
 * Remove a trunk: with SEND_UNREGISTER on and a binding that may exist
 * upstream, REGISTER Expires: 0 is sent first and the trunk lives on,
 * unlisted, until that is answered or times out.
 * Returns 0 or -ENOENT.
 */
int ua_trunk_del(struct ua *ua, const char *name);

/* Enable (register soon, spread like a start) / disable (unregister as del
 * does, then state disabled). Returns 0, -ENOENT, -EALREADY (already in that
 * state), -ESHUTDOWN (enable after ua_shutdown()). */
int ua_trunk_enable(struct ua *ua, const char *name);
int ua_trunk_disable(struct ua *ua, const char *name);

/* Register again now (a refresh, or an early retry of a failed trunk).
 * Returns 0, -ENOENT, -EINPROGRESS (a REGISTER is already in flight) or
 * -EPERM (disabled, or after ua_shutdown()). */
int ua_trunk_refresh(struct ua *ua, const char *name);

/* Start every trunk added with hold_start, spread at start_rate. Returns how
 * many were queued. */
size_t ua_start_all(struct ua *ua);

/* What an operator sees (`sipregctl trunk show`). */
enum ua_action {
	UA_ACTION_NONE = 0,
	UA_ACTION_REGISTER, /* a first registration (start slot) */
	UA_ACTION_REFRESH,
	UA_ACTION_RETRY,
	UA_ACTION_WAIT_REPLY, /* a transaction is in flight */
	UA_ACTION_RESOLVE,    /* a DNS lookup is in flight */
	UA_ACTION_HELD,       /* waiting for ua_start_all() */
};

struct ua_trunk_status {
	char name[UA_NAME_MAX + 1]; /* a copy: usable on any thread */
	enum ua_state state;
	unsigned last_code;      /* last final status, 0 if none or not SIP */
	char last_reason[48];    /* "200 OK", "timeout", "transport error", ... */
	unsigned granted;        /* seconds granted by the last 200 OK (0: none) */
	unsigned asked;          /* seconds asked in the last REGISTER */
	bool valid;              /* the upstream binding is still valid now */
	uint64_t valid_until_ms; /* monotonic ms at which it lapses (when valid) */
	time_t last_success;     /* wall clock of the last 200 OK, 0 = never */
	enum ua_action next_action;
	uint64_t next_at_ms; /* monotonic ms of next_action (timed ones) */
	uint32_t attempts;   /* REGISTERs sent (registration and refresh) */
	uint32_t failures;   /* failed attempts */
	uint32_t cseq;       /* last CSeq sent */
	bool enabled;
	bool primary; /* ua_trunk_config.primary */
};

/* Status of one trunk. Returns 0 or -ENOENT. */
int ua_trunk_get_status(struct ua *ua, const char *name, struct ua_trunk_status *out);

/* A copy of the trunk's configuration, strings into buf (cap bytes).
 * Returns 0, -ENOENT or -ENOSPC. */
int ua_trunk_get_config(struct ua *ua, const char *name, struct ua_trunk_config *out,
                        char *buf, size_t cap);

/* Iteration for listings: the first listed trunk (NULL when none), then the
 * next one. Trunks being deleted are not listed. Do not add or delete
 * trunks while iterating. */
struct ua_trunk *ua_trunk_first(struct ua *ua);
struct ua_trunk *ua_trunk_next(struct ua *ua, struct ua_trunk *t);
/* Status of a listed trunk (see ua_trunk_get_status). */
void ua_trunk_status(struct ua *ua, const struct ua_trunk *t,
                     struct ua_trunk_status *out);
const char *ua_trunk_name(const struct ua_trunk *t);

/* Trunks by state (the deleted ones still unregistering count as
 * unregistering); counts has UA_STATE__COUNT entries. Returns the total. */
size_t ua_counts(const struct ua *ua, size_t counts[UA_STATE__COUNT]);

/* "disabled", "registering", "registered", "refreshing", "failed",
 * "unregistering"; and the reverse (-EINVAL when unknown). */
const char *ua_state_name(enum ua_state s);
int ua_state_parse(const char *name, enum ua_state *out);
const char *ua_action_name(enum ua_action a);

/*
 * Graceful stop: with SEND_UNREGISTER on, send REGISTER Expires: 0 for every
 * trunk whose binding may exist upstream (disabled and never-registered
 * trunks send nothing), in slices from the wheel: this call walks the first
 * slice, then one slice per tick (at most 1024 started and 16384 trunks
 * looked at per tick, none while 4096 are unanswered). The bound counts
 * from this call: the UA_NOTICE_SHUTDOWN_DONE notice comes (from a wheel
 * callback or a response) when the walk is over and all are answered, or
 * when bound_ms has passed: the unanswered are abandoned and the trunks the
 * walk did not reach are not sent (their bindings expire upstream; counted
 * in value3). Timers of trunks not reached yet start nothing new. At once
 * when there is nothing to send. After this only ua_free(), status and
 * counts are useful. Returns the number of unregisters sent by this call
 * (the first slice), or -EALREADY.
 */
int ua_shutdown(struct ua *ua, unsigned bound_ms);
/* True once ua_shutdown() is done (notice sent). */
bool ua_shutdown_done(const struct ua *ua);

/* Statistics. */
struct ua_stats {
	uint64_t registers_sent; /* REGISTERs started (all kinds) */
	uint64_t unregisters_sent;
	uint64_t challenges; /* 401/407 answered */
	uint64_t failures;
	uint64_t successes;
	uint64_t dns_lookups;
	uint64_t late_refreshes; /* refresh timers that fired after the binding lapsed */
};
void ua_stats_get(const struct ua *ua, struct ua_stats *out);

/*
 * Check every invariant (O(trunks); for tests): counts by state match the
 * trunks; every enabled trunk has exactly its next step under way (a timer,
 * a transaction or a lookup; held ones wait for ua_start_all()); registered
 * trunks refresh before their binding lapses; failed ones have their retry
 * armed; disabled ones have nothing. Returns 0, or -EUCLEAN with a static
 * description in *why (if why != NULL) and the trunk's name in *trunk (if
 * trunk != NULL).
 */
int ua_check(const struct ua *ua, const char **why, const char **trunk);

/* Bytes used by one trunk (struct, configuration and cached challenge). */
size_t ua_trunk_memory(const struct ua_trunk *t);
/* sizeof the trunk struct itself. */
size_t ua_trunk_struct_size(void);

/* ------------------------------------------------------------------------ */
/* Observations (what `sipregctl doctor` reads: doctor.h)                    */

/* The kind of a failed attempt, for the run of failures since a success. */
enum ua_fail_kind {
	UA_FAIL_NONE = 0,
	UA_FAIL_AUTH,      /* 401/407 again after credentials (or none to give) */
	UA_FAIL_FORBIDDEN, /* 403 */
	UA_FAIL_TIMEOUT,   /* no final response within Timer F */
	UA_FAIL_OTHER,     /* transport, DNS, 404, 5xx, 6xx, ... */
	UA_FAIL__COUNT
};

/* "auth", "forbidden", "timeout", "other" ("none"). */
const char *ua_fail_kind_name(enum ua_fail_kind k);

/*
 * One trunk as observed: its status plus what a diagnosis needs. Copied
 * under the UA's lock, so every field is from the same instant.
 */
struct ua_trunk_obs {
	struct ua_trunk_status st;
	char dest_host[UA_HOST_MAX + 1]; /* where REGISTERs go: proxy, else registrar */
	uint16_t dest_port;              /* 5060 when not configured */
	enum ua_transport transport;
	int expire_cfg;       /* the trunk's own: UA_EXPIRE_GLOBAL, _AUTO or seconds */
	int retry_cfg;        /* the trunk's own: UA_RETRY_GLOBAL or seconds */
	unsigned expire_mode; /* in effect: 0 = auto, else the fixed expiry */
	unsigned retry_delay; /* in effect (trunk's, else SS_SIP_USER_AGENT_RETRY_DELAY) */
	unsigned effective;   /* effective expiry of the last 200 OK (0: none) */
	unsigned min_expires; /* Min-Expires of a 423 in force (0: none) */
	unsigned retry_after; /* the last Retry-After honoured (0: none) */
	/* Our sent-by (Via host and port of our REGISTERs) and the top Via of
	 * the last 2xx as the upstream returned it. */
	char local_host[UA_HOST_MAX + 1];
	uint16_t local_port;
	bool via_seen;          /* a 2xx was received (the fields below are its) */
	char via_received[48];  /* its received= (IPv6 without []), "" if none */
	int32_t via_rport;      /* its rport: -1 absent, 0 without value, else it */
	time_t via_at;          /* wall clock of that 2xx */
	/* The run of failures since the last success (the counts are 0 after a
	 * success). */
	uint32_t run;                       /* consecutive failed attempts */
	uint32_t run_kind[UA_FAIL__COUNT];  /* of them, by kind */
	uint32_t run_timeouts_after_reject; /* timeouts after a 401/403/other */
	enum ua_fail_kind last_kind;
	/* Wall clock of the run's first and last failure. Unlike the counts
	 * above they survive the success that ends the run: with run 0 and
	 * run_last != 0 they are the last outage's (it ended with the first
	 * success after run_last; st.last_success is the latest); 0 when the
	 * trunk never failed. */
	time_t run_first, run_last;
	uint64_t now_ms;            /* monotonic ms of the copy (st's base) */
	time_t now_wall;
};

/* Called once per listed trunk, under that UA's lock (the worker waits:
 * copy and return). A non-zero return stops the walk and is returned. */
typedef int (*ua_observe_fn)(void *arg, const struct ua_trunk_obs *o);

/*
 * ANY thread: every listed trunk of every struct ua of the process (those
 * between ua_new() and ua_free()), one UA at a time. Each UA has a mutex
 * that its worker holds while it changes trunks (every public function and
 * callback above takes it: uncontended, tens of ns); this holds it while it
 * walks that UA's trunks, so a walk of N trunks stalls that worker about N
 * times the callback's cost. Returns 0, -ENOMEM (no room for the copy) or
 * the first non-zero return of fn.
 */
int ua_observe_all(ua_observe_fn fn, void *arg);

/* The same for one UA (any thread). */
int ua_observe(struct ua *ua, ua_observe_fn fn, void *arg);

/* ------------------------------------------------------------------------ */
/* Name resolution                                                           */

/* Work run on a UA's worker thread (see the mailbox below). */
typedef void (*ua_job_fn)(struct ua *ua, void *arg);

/* A job node, owned by the poster until its fn has run (fn may free it). */
struct ua_job {
	ua_job_fn fn;
	void *arg;
	struct ua_job *next; /* the mailbox's link */
};

/*
 * The result of a resolve hook, delivered on the owner's thread: err 0 with
 * addr/addrlen (AF_INET or AF_INET6, port set), or a negative errno (-EHOSTUNREACH
 * for "no such host"); reason (may be NULL) a short text for the status.
 * A token that is no longer pending is ignored. Returns 0 or -ENOENT
 * (unknown token).
 */
int ua_resolve_done(struct ua *ua, uint64_t token, int err, const struct sockaddr *addr,
                    socklen_t addrlen, const char *reason);

/*
 * A ready resolver: one thread running getaddrinfo() for every worker.
 * Completions are handed to deliver() ON THE RESOLVER THREAD; the daemon
 * passes them to the owner worker (its queue + loop wake), which calls
 * ua_resolve_result_apply() there and then frees the result with free().
 */
struct ua_resolver;

struct ua_resolve_result {
	struct ua *ua;
	uint64_t token;
	int err;
	struct sockaddr_storage addr;
	socklen_t addrlen;
	char reason[64];
	struct ua_resolve_result *next; /* free for the daemon's queue */
	struct ua_job job;              /* used by ua_mailbox_deliver_resolved() */
};

typedef void (*ua_resolve_deliver_fn)(void *arg, struct ua_resolve_result *res);

/* Start the resolver thread. Returns 0, -EINVAL (deliver NULL), -ENOMEM or
 * pthread_create()'s error. */
int ua_resolver_new(struct ua_resolver **ret, ua_resolve_deliver_fn deliver, void *arg);

/* Stop the thread (a lookup in progress finishes first; queued ones are
 * dropped without delivery) and free. NULL is a no-op. */
void ua_resolver_free(struct ua_resolver *r);

/* The ua_resolve_fn for ua_opts.resolve with resolve_arg = the resolver.
 * Thread-safe. Returns 0, -ENOMEM, -ENAMETOOLONG, -ESHUTDOWN. */
int ua_resolver_submit(void *resolver, struct ua *ua, uint64_t token, const char *host,
                       uint16_t port, enum ua_transport transport);

/* On the owner's thread: ua_resolve_done() with the result's fields. */
int ua_resolve_result_apply(const struct ua_resolve_result *res);

/* The worker index given in ua_opts (immutable: any thread may read it). */
unsigned ua_worker(const struct ua *ua);

/* ------------------------------------------------------------------------ */
/* The worker's mailbox: run UA work on the owner thread from any thread     */

/*
 * A struct ua may only be touched on its worker's thread. The mailbox is how
 * other threads (the admin API, the store's trunk loader, the resolver) get
 * work done there: a mutex-protected queue plus loop_wake(); the loop's
 * wake-up hook drains it and runs each job on the worker thread.
 */
struct loop;
struct ua_mailbox;

/* struct ua_job and ua_job_fn: see "Name resolution" above. */

/*
 * Attach a mailbox to the worker's loop (a wake-up hook). On the worker's
 * thread or before its loop runs. Returns 0, -EINVAL or -ENOMEM.
 */
int ua_mailbox_new(struct ua_mailbox **ret, struct ua *ua, struct loop *loop);

/* Detach and free; jobs still queued are dropped without running (their
 * owners must not wait for them). On the worker's thread or after its loop
 * stopped. NULL is a no-op. */
void ua_mailbox_free(struct ua_mailbox *mb);

/* Any thread: queue job and wake the loop. Returns 0 or -ESHUTDOWN (the
 * mailbox is being freed). */
int ua_mailbox_post(struct ua_mailbox *mb, struct ua_job *job);

/*
 * Any thread but the worker's: run fn(ua, arg) on the worker and wait for it
 * at most timeout_ms. If the wait times out, fn is guaranteed not to run
 * (it is cancelled) unless it already has, so arg may live on the caller's
 * stack. Returns 0 (fn ran), -ETIMEDOUT (it did not and will not), -ENOMEM,
 * -ESHUTDOWN.
 */
int ua_mailbox_call(struct ua_mailbox *mb, ua_job_fn fn, void *arg, unsigned timeout_ms);

/* The resolver's deliver() for one mailbox per worker: mailboxes is an
 * array indexed by ua_worker(res->ua) (pass it as the resolver's arg). The
 * result is applied on the owner and freed there. */
void ua_mailbox_deliver_resolved(void *mailboxes, struct ua_resolve_result *res);

/* Jobs run so far (stats, tests). */
uint64_t ua_mailbox_runs(const struct ua_mailbox *mb);

#endif /* SIPREG_UA_H */
