/* SPDX-License-Identifier: MIT */
/*
 * sipregd - the sipreg daemon: configuration, workers, admin API, signals.
 *
 *   sipregd [-c FILE]              run in the foreground, log to stderr
 *   sipregd --check-config -c FILE validate FILE, exit 0 (valid) or 1
 *   sipregd -h | -V
 *
 * Without -c the embedded default configuration is used.
 *
 * Signals go to a signalfd read by the main thread (every thread blocks
 * them), so no work is done in a signal handler:
 *   SIGTERM, SIGINT  graceful stop: the admin API stops, the workers are told
 *                    to stop and are waited for at most [core]
 *                    shutdown_timeout seconds; exit 0, or 1 if they did not
 *                    stop in time (the process exits regardless).
 *   SIGHUP           re-reads the file given with -c. An invalid file is
 *                    logged and changes nothing. Otherwise each changed key
 *                    is logged; keys marked live in config.h (log_level,
 *                    syslog, shutdown_timeout and every [sip] key) take
 *                    effect at once, the others are logged as needing a
 *                    restart and keep their running value. The registrar
 *                    service (regsvc_set_config) takes the new [sip] and
 *                    flush_interval values, the workers (engine_set_config)
 *                    the new user_agent for the Server header.
 *
 * Admin routes of the daemon itself (besides /status):
 *   GET  /config     every key's running value, and which keys are live
 *   POST /reload     the SIGHUP reload, run on the main thread (the admin
 *                    thread asks through an eventfd and waits at most
 *                    RELOAD_WAIT_MS): {"file", "applied": [{key, old, new}],
 *                    "restart_required": [...]}; a bad file answers 422
 *                    {"error", "kept": "previous"} and changes nothing
 *   GET  /doctor     the doctor's findings (doctor.h) from every trunk's
 *                    observations, the AORs the workers saw REGISTER most
 *                    (doctor_ep_collect) and the registrar's settings:
 *                    {"findings": [...], "counts": {...}, "trunks_checked"}
 * /metrics adds sipreg_doctor_findings{kind} from a doctor run at most
 * DOCTOR_CACHE_MS old.
 *
 * Start order: admin socket (proves no other sipregd uses this
 * configuration), the registrar service (database, subscribers, bindings
 * restored), the workers (sockets bound), admin routes + admin API, the
 * flusher, the worker threads. Stop: admin API, workers, then the flusher's
 * last flush (regsvc_stop) so nothing the workers changed is lost.
 *
 * Exit status: 0 after a graceful stop; 1 for a configuration error or a
 * failure to start; 2 for a usage error.
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ctl/version.h"
#include "engine.h"
#include "sipreg/admin.h"
#include "sipreg/clock.h"
#include "sipreg/config.h"
#include "sipreg/doctor.h"
#include "sipreg/log.h"
#include "sipreg/metrics.h"
#include "sipreg/trace.h"
#include "sipreg/regsvc.h"
#include "sipreg/trunksvc.h"
#include "sipregd_metrics.h"
#ifdef HAVE_LIBSYSTEMD
#include <systemd/sd-daemon.h>
#else
/* without libsystemd: no service manager to tell */
static inline int sd_notify(int unset, const char *state)
{
	(void)unset;
	(void)state;
	return 0;
}
#endif

struct daemon {
	const char *path; /* -c FILE, or NULL */
	struct config *cfg;
	pthread_mutex_t cfg_lock; /* cfg's live keys change on SIGHUP */
	struct engine *engine;
	struct regsvc *svc;
	struct trunksvc *trunks;
	struct admin *admin;
	struct metrics_http *http; /* [admin] http: GET /metrics, or NULL */
	unsigned long reloads;
	unsigned long reload_failures;
	bool stuck; /* a worker outlived the stop: leak what it may use */
	/* POST /reload: the admin thread asks, the main thread reloads */
	int reload_efd;
	pthread_mutex_t reload_lock;
	pthread_cond_t reload_cond;
	unsigned long reload_asked, reload_served; /* request numbers */
	json_t *reload_result;                     /* of reload_served */
	int reload_status;
	bool reload_closed; /* stopping: the main thread serves no more */
	/* the doctor's counts for /metrics, at most DOCTOR_CACHE_MS old */
	pthread_mutex_t doctor_lock;
	uint64_t doctor_at;
	unsigned doctor_counts[DOCTOR_KIND__COUNT];
};

#define RELOAD_WAIT_MS 10000
#define DOCTOR_CACHE_MS 60000

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: sipregd [-c FILE] [--check-config]\n"
	        "  -c, --config FILE   configuration file (default: built-in defaults)\n"
	        "  --check-config      validate the configuration and exit (0 valid, 1 "
	        "not)\n"
	        "  -h, --help          this help\n"
	        "  -V, --version       the version\n");
}

static void apply_logging(const struct config *cfg)
{
	log_set_level(cfg->log_level);
	log_set_syslog(cfg->syslog, "sipregd");
}

/* The database's directory (the default /var/lib/sipreg on a fresh
 * machine), one level, mode 0700; an error is left to the store to report. */
static void make_db_dir(const char *path)
{
	char dir[PATH_MAX];
	char *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return;
	*slash = 0;
	if (mkdir(dir, 0700) == 0)
		log_info("database_dir_created", "dir=%s", dir);
}

/* /status: the daemon's part. Runs on the admin thread. */
static int status_provider(json_t *st, void *arg)
{
	struct daemon *d = arg;
	json_t *listen, *counters, *threads;
	char buf[96];

	listen = json_array();
	threads = json_array();
	if (!listen || !threads)
		goto nomem;
	pthread_mutex_lock(&d->cfg_lock);
	for (unsigned int i = 0; i < d->cfg->listen_count; i++)
		if (config_listen_format(&d->cfg->listen[i], buf, sizeof(buf)) > 0)
			json_array_append_new(listen, json_string(buf));
	json_object_set_new(st, "config", json_string(d->path ? d->path : "(built-in)"));
	json_object_set_new(st, "log_level",
	                    json_string(log_level_name(d->cfg->log_level)));
	pthread_mutex_unlock(&d->cfg_lock);
	json_object_set_new(st, "workers", json_integer(engine_workers(d->engine)));
	for (unsigned int i = 0; i < engine_workers(d->engine); i++)
		json_array_append_new(threads,
		                      json_boolean(engine_worker_running(d->engine, i)));
	json_object_set_new(st, "workers_running", threads);
	json_object_set_new(st, "listen", listen);
	counters = json_pack(
	        "{s:I, s:I, s:I}", "config_reloads",
	        (json_int_t)__atomic_load_n(&d->reloads, __ATOMIC_RELAXED),
	        "config_reload_failures",
	        (json_int_t)__atomic_load_n(&d->reload_failures, __ATOMIC_RELAXED),
	        "log_lines_suppressed", (json_int_t)log_suppressed_total());
	if (!counters)
		return -ENOMEM;
	json_object_set_new(st, "counters", counters);
	if (engine_status(d->engine, st) < 0)
		return -ENOMEM;
	if (d->svc)
		regsvc_status(d->svc, st);
	if (d->trunks)
		trunksvc_status(d->trunks, st);
	return 0;
nomem:
	json_decref(listen);
	json_decref(threads);
	return -ENOMEM;
}

struct daemon;
static int doctor_status(struct daemon *d, json_t *st);

/* GET /metrics (the [admin] http listener's thread): the numbers of
 * /status as Prometheus families (sipregd_metrics.c). */
static int metrics_fill(struct metrics *m, void *arg)
{
	json_t *st = json_object();
	int r = st ? status_provider(st, arg) : -ENOMEM;

	if (r == 0)
		r = doctor_status(arg, st);
	if (r == 0)
		r = sipregd_metrics_fill(m, st);
	json_decref(st);
	return r;
}

/* GET /config: every key's running value, by section, and which keys SIGHUP
 * can change. Runs on the admin thread. */
static int config_handler(const struct admin_request *req, json_t **reply, void *arg)
{
	struct daemon *d = arg;
	const struct config_key_info *keys;
	json_t *root, *sections, *live;
	size_t n;
	int r = 0;

	(void)req;
	keys = config_keys(&n);
	root = json_object();
	sections = json_object();
	live = json_array();
	if (!root || !sections || !live) {
		r = -ENOMEM;
		goto fail;
	}
	pthread_mutex_lock(&d->cfg_lock);
	for (size_t i = 0; i < n && r == 0; i++) {
		json_t *sec = json_object_get(sections, keys[i].section);
		char value[2048];

		if (!sec) {
			sec = json_object();
			if (!sec ||
			    json_object_set_new(sections, keys[i].section, sec) < 0)
				r = -ENOMEM;
		}
		if (r == 0 && config_format_value(d->cfg, keys[i].section, keys[i].name,
		                                  value, sizeof(value)) == 0)
			json_object_set_new(sec, keys[i].name, json_string(value));
		if (keys[i].live)
			json_array_append_new(live, json_sprintf("%s.%s", keys[i].section,
			                                         keys[i].name));
	}
	pthread_mutex_unlock(&d->cfg_lock);
	if (r < 0)
		goto fail;
	json_object_set_new(root, "file", json_string(d->path ? d->path : "(built-in)"));
	json_object_set_new(root, "sections", sections);
	json_object_set_new(root, "live_keys", live);
	*reply = root;
	return 200;
fail:
	json_decref(root);
	json_decref(sections);
	json_decref(live);
	return r;
}

/*
 * Re-reads the file (SIGHUP, POST /reload; main thread). Returns the HTTP
 * status of POST /reload (200, 409 without -c, 422 for a bad file) and,
 * when res is not NULL, its JSON in *res (NULL on ENOMEM).
 */
static int reload(struct daemon *d, json_t **res)
{
	const struct config_key_info *changed[64];
	struct config_error err;
	struct config *next;
	size_t n;
	char q[CONFIG_ERROR_MAX + 8];
	json_t *applied = NULL, *restart = NULL;

	if (res)
		*res = NULL;
	if (!d->path) {
		log_info("config_reload_skipped",
		         "reason=\"no configuration file (-c)\"");
		if (res)
			*res = admin_error("sipregd runs without a configuration file "
			                   "(-c): nothing to reload");
		return 409;
	}
	if (config_load(&next, d->path, &err) < 0) {
		__atomic_add_fetch(&d->reload_failures, 1, __ATOMIC_RELAXED);
		log_error("config_reload_failed", "error=%s kept=previous",
		          log_quote(q, sizeof(q), err.msg));
		if (res)
			*res = json_pack("{s:s, s:s, s:s}", "error", err.msg, "kept",
			                 "previous", "file", d->path);
		return 422;
	}
	if (res) {
		applied = json_array();
		restart = json_array();
	}
	n = config_diff(d->cfg, next, changed, 64);
	for (size_t i = 0; i < n && i < 64; i++) {
		char was[256], now[256];
		char qw[300], qn[300];

		config_format_value(d->cfg, changed[i]->section, changed[i]->name, was,
		                    sizeof(was));
		config_format_value(next, changed[i]->section, changed[i]->name, now,
		                    sizeof(now));
		if (applied && restart)
			json_array_append_new(changed[i]->live ? applied : restart,
			                      json_pack("{s:s++, s:s, s:s}", "key",
			                                changed[i]->section, ".",
			                                changed[i]->name, "old", was,
			                                "new", now));
		if (changed[i]->live)
			log_info("config_changed", "key=%s.%s old=%s new=%s applied=yes",
			         changed[i]->section, changed[i]->name,
			         log_quote(qw, sizeof(qw), was),
			         log_quote(qn, sizeof(qn), now));
		else
			log_warn("config_changed",
			         "key=%s.%s old=%s new=%s applied=no "
			         "reason=\"needs a restart\"",
			         changed[i]->section, changed[i]->name,
			         log_quote(qw, sizeof(qw), was),
			         log_quote(qn, sizeof(qn), now));
	}
	pthread_mutex_lock(&d->cfg_lock);
	config_apply_live(d->cfg, next);
	pthread_mutex_unlock(&d->cfg_lock);
	config_free(next);
	regsvc_set_config(d->svc, d->cfg);
	trunksvc_set_config(d->trunks, d->cfg);
	if (engine_set_config(d->engine, d->cfg) < 0)
		log_error("config_apply_failed", "key=sip.user_agent error=ENOMEM");
	apply_logging(d->cfg);
	__atomic_add_fetch(&d->reloads, 1, __ATOMIC_RELAXED);
	log_info("config_reloaded", "file=%s changed=%zu",
	         log_quote(q, sizeof(q), d->path), n);
	if (res && applied && restart)
		*res = json_pack("{s:s, s:o, s:o, s:s}", "file", d->path, "applied",
		                 applied, "restart_required", restart, "live_through_database",
		                 "trunks and subscribers (no reload needed)");
	else {
		json_decref(applied);
		json_decref(restart);
	}
	return 200;
}

/* POST /reload (admin thread): ask the main thread, wait for its answer. */
static int reload_handler(const struct admin_request *req, json_t **reply, void *arg)
{
	struct daemon *d = arg;
	uint64_t one = 1;
	unsigned long me;
	struct timespec until;
	int status = 503;

	(void)req;
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += RELOAD_WAIT_MS / 1000;
	pthread_mutex_lock(&d->reload_lock);
	me = ++d->reload_asked;
	if (write(d->reload_efd, &one, sizeof(one)) != sizeof(one)) {
		pthread_mutex_unlock(&d->reload_lock);
		*reply = admin_error("cannot reach the main thread: %s", strerror(errno));
		return 500;
	}
	while (d->reload_served < me && !d->reload_closed) {
		if (pthread_cond_timedwait(&d->reload_cond, &d->reload_lock, &until) ==
		    ETIMEDOUT)
			break;
	}
	if (d->reload_served >= me) {
		*reply = d->reload_result; /* ours: served in request order */
		d->reload_result = NULL;
		status = d->reload_status;
		if (!*reply)
			status = -ENOMEM;
	} else {
		*reply = d->reload_closed
		                 ? admin_error("%s", "sipregd is stopping")
		                 : admin_error("the main thread did not reload within %d ms",
		                               RELOAD_WAIT_MS);
	}
	pthread_mutex_unlock(&d->reload_lock);
	return status;
}

/* The main thread's side of POST /reload. */
static void reload_serve(struct daemon *d)
{
	uint64_t v;
	unsigned long asked;
	json_t *res;
	int status;

	if (read(d->reload_efd, &v, sizeof(v)) != sizeof(v))
		return;
	pthread_mutex_lock(&d->reload_lock);
	asked = d->reload_asked;
	pthread_mutex_unlock(&d->reload_lock);
	if (asked == d->reload_served)
		return;
	status = reload(d, &res);
	pthread_mutex_lock(&d->reload_lock);
	json_decref(d->reload_result); /* a waiter that gave up */
	d->reload_result = res;
	d->reload_status = status;
	d->reload_served = asked; /* one reload answers every request so far */
	pthread_cond_broadcast(&d->reload_cond);
	pthread_mutex_unlock(&d->reload_lock);
}

/* ------------------------------------------------------------------------ */
/* The doctor                                                                */

static int obs_add(void *arg, const struct ua_trunk_obs *o)
{
	return doctor_add(arg, o);
}

/* The endpoints the workers' trackers saw REGISTER most (doctor.h,
 * "Endpoints"), merged by AOR: a finding per flooding one. */
static int doctor_endpoints(struct doctor *doc, const struct doctor_registrar *g,
                            uint64_t now)
{
	struct doctor_ep_stat *s = NULL;
	size_t n = 0;
	int r = doctor_ep_collect(&s, &n);

	if (r == 0)
		r = doctor_add_endpoints(doc, s, n, g, now, time(NULL));
	free(s);
	return r;
}

/* Runs the doctor on every trunk's observations, one trunk at a time (any
 * thread), and refreshes the metric's cache. Returns 0 or -ENOMEM. */
static int run_doctor(struct daemon *d, struct doctor_report *rep)
{
	struct doctor_registrar g;
	struct doctor *doc;
	uint64_t now = clock_now_ms();
	int r;

	pthread_mutex_lock(&d->cfg_lock);
	g.nat_expire = d->cfg->endpoint_nat_expire;
	g.endpoint_expire = d->cfg->endpoint_expire;
	g.min_expire = d->cfg->min_expire;
	pthread_mutex_unlock(&d->cfg_lock);
	r = doctor_new(&doc, &g, now, time(NULL), 0);
	if (r < 0)
		return r;
	r = ua_observe_all(obs_add, doc);
	if (r == 0)
		r = doctor_endpoints(doc, &g, now);
	if (r == 0)
		r = doctor_finish(doc, rep);
	doctor_free(doc);
	if (r < 0)
		return r;
	pthread_mutex_lock(&d->doctor_lock);
	memcpy(d->doctor_counts, rep->counts, sizeof(d->doctor_counts));
	d->doctor_at = now ? now : 1;
	pthread_mutex_unlock(&d->doctor_lock);
	return 0;
}

/* GET /doctor (admin thread). */
static int doctor_handler(const struct admin_request *req, json_t **reply, void *arg)
{
	struct doctor_report rep = {0};
	int r;

	(void)req;
	r = run_doctor(arg, &rep);
	if (r == 0) {
		*reply = doctor_report_json(&rep);
		if (!*reply)
			r = -ENOMEM;
	}
	doctor_report_free(&rep);
	return r < 0 ? r : 200;
}

/* "doctor": {"findings_by_kind": {kind: n}} for /metrics, from a run at
 * most DOCTOR_CACHE_MS old (each run holds every worker's trunk lock in
 * turn while it examines that worker's trunks). */
static int doctor_status(struct daemon *d, json_t *st)
{
	unsigned counts[DOCTOR_KIND__COUNT];
	uint64_t at;
	json_t *by, *doc;

	pthread_mutex_lock(&d->doctor_lock);
	at = d->doctor_at;
	memcpy(counts, d->doctor_counts, sizeof(counts));
	pthread_mutex_unlock(&d->doctor_lock);
	if (!at || clock_now_ms() - at > DOCTOR_CACHE_MS) {
		struct doctor_report rep = {0};
		int r = run_doctor(d, &rep);

		if (r == 0)
			memcpy(counts, rep.counts, sizeof(counts));
		doctor_report_free(&rep);
		if (r < 0)
			return r;
	}
	by = json_object();
	doc = json_object();
	if (!by || !doc || json_object_set_new(doc, "findings_by_kind", by) < 0) {
		json_decref(by);
		json_decref(doc);
		return -ENOMEM;
	}
	for (unsigned k = 0; k < DOCTOR_KIND__COUNT; k++)
		json_object_set_new(by, doctor_kind_name(k), json_integer(counts[k]));
	return json_object_set_new(st, "doctor", doc) < 0 ? -ENOMEM : 0;
}

/* Waits for signals (flushing the log's rate-limit summaries once a
 * second); returns the stopping signal. */
static int serve(struct daemon *d, int sfd)
{
	for (;;) {
		struct pollfd p[2] = {{.fd = sfd, .events = POLLIN},
		                      {.fd = d->reload_efd, .events = POLLIN}};
		struct signalfd_siginfo si;
		int r = poll(p, 2, 1000);

		log_flush(false);
		if (r < 0 && errno != EINTR) {
			log_error("poll_failed", "error=%d", errno);
			return SIGTERM;
		}
		if (r <= 0)
			continue;
		if (p[1].revents & POLLIN)
			reload_serve(d);
		if (!(p[0].revents & POLLIN))
			continue;
		if (read(sfd, &si, sizeof(si)) != sizeof(si))
			continue;
		if (si.ssi_signo == SIGHUP)
			reload(d, NULL);
		else
			return (int)si.ssi_signo;
	}
}

/* The bounded stop. */
static int stop(struct daemon *d, int sig)
{
	unsigned int timeout_ms;
	int r;

	log_info("stopping", "signal=%s", sig == SIGINT ? "SIGINT" : "SIGTERM");
	sd_notify(0, "STOPPING=1");
	/* a POST /reload waiting for this thread gives up now, so that
	 * admin_stop() below does not wait for it */
	pthread_mutex_lock(&d->reload_lock);
	d->reload_closed = true;
	pthread_cond_broadcast(&d->reload_cond);
	pthread_mutex_unlock(&d->reload_lock);
	metrics_http_free(d->http);
	d->http = NULL;
	admin_stop(d->admin);
	pthread_mutex_lock(&d->cfg_lock);
	timeout_ms = d->cfg->shutdown_timeout * 1000u;
	pthread_mutex_unlock(&d->cfg_lock);
	/* the trunks' unregisters go out while the workers still run; their
	 * answers are awaited a few seconds at most (SPEC: never forever) */
	if (d->trunks &&
	    trunksvc_shutdown(d->trunks, timeout_ms / 2 < 3000 ? timeout_ms / 2 : 3000) < 0)
		log_warn("trunks_unregister_timeout",
		         "a worker did not end its unregisters within the bound");
	r = engine_stop(d->engine, timeout_ms);
	if (r < 0) {
		log_error("stop_timeout", "timeout_ms=%u workers_still_running=yes",
		          timeout_ms);
		log_flush(true);
		d->stuck = true;
		return 1;
	}
	regsvc_stop(d->svc); /* the flusher's last batch */
	log_info("stopped", "");
	log_flush(true);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	        {"config", required_argument, NULL, 'c'},
	        {"check-config", no_argument, NULL, 'k'},
	        {"help", no_argument, NULL, 'h'},
	        {"version", no_argument, NULL, 'V'},
	        {NULL, 0, NULL, 0},
	};
	struct daemon d = {.cfg_lock = PTHREAD_MUTEX_INITIALIZER,
	                   .reload_lock = PTHREAD_MUTEX_INITIALIZER,
	                   .doctor_lock = PTHREAD_MUTEX_INITIALIZER,
	                   .reload_efd = -1};
	struct config_error err;
	bool check = false;
	sigset_t mask;
	int c, r, sfd, sig, rc = 1;
	char q[1024], lst[CONFIG_LISTEN_MAX * 64];

	while ((c = getopt_long(argc, argv, "c:hV", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			d.path = optarg;
			break;
		case 'k':
			check = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("sipregd %s\n", SIPREG_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "sipregd: unexpected argument: %s\n", argv[optind]);
		usage(stderr);
		return 2;
	}

	r = d.path ? config_load(&d.cfg, d.path, &err) : config_new(&d.cfg);
	if (r < 0) {
		if (d.path)
			fprintf(stderr, "%s\n", err.msg);
		else
			fprintf(stderr, "sipregd: %s\n", strerror(-r));
		return 1;
	}
	if (check) {
		printf("%s: configuration OK\n", d.path ? d.path : "(built-in default)");
		config_free(d.cfg);
		return 0;
	}
	apply_logging(d.cfg);

	/* Before any thread exists: the workers and libmicrohttpd's thread
	 * inherit this mask, so the signals reach only the signalfd. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	if (sfd < 0) {
		log_error("start_failed", "step=signalfd error=%s", strerror(errno));
		goto out;
	}
	d.reload_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (d.reload_efd < 0) {
		log_error("start_failed", "step=eventfd error=%s", strerror(errno));
		goto out;
	}
	{
		pthread_condattr_t ca;

		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&d.reload_cond, &ca);
		pthread_condattr_destroy(&ca);
	}

	/* The admin socket first: it proves no other sipregd runs with this
	 * configuration before the database is opened and ports are bound. */
	r = admin_new(&d.admin, d.cfg->admin_socket, d.cfg->admin_socket_mode);
	if (r < 0) {
		log_error("start_failed", "step=admin socket=%s error=%s",
		          log_quote(q, sizeof(q), d.cfg->admin_socket),
		          r == -EADDRINUSE ? "\"another sipregd answers on it\""
		                           : log_quote(lst, sizeof(lst), strerror(-r)));
		goto out;
	}
	{
		char e[512];

		make_db_dir(d.cfg->database_path);
		r = regsvc_new(&d.svc, d.cfg, e, sizeof(e));
		if (r < 0) {
			fprintf(stderr, "sipregd: %s\n", e);
			log_error("start_failed", "step=registrar error=%s",
			          log_quote(q, sizeof(q), e));
			goto out;
		}
	}
	{
		char e[512];

		r = trunksvc_new(&d.trunks, d.cfg, d.cfg->workers, e, sizeof(e));
		if (r < 0) {
			fprintf(stderr, "sipregd: %s\n", e);
			log_error("start_failed", "step=trunks error=%s", log_quote(q, sizeof(q), e));
			goto out;
		}
	}
	r = engine_new(&d.engine, d.cfg, d.svc);
	if (r < 0) {
		log_error("start_failed", "step=workers error=%s", strerror(-r));
		goto out;
	}
	engine_set_trunks(d.engine, d.trunks);
	r = admin_set_status(d.admin, status_provider, &d);
	if (r == 0)
		r = admin_route_add(d.admin, "GET", "/config", 0, config_handler, &d);
	if (r == 0)
		r = admin_route_add(d.admin, "POST", "/reload", 0, reload_handler, &d);
	if (r == 0)
		r = admin_route_add(d.admin, "GET", "/doctor", 0, doctor_handler, &d);
	if (r == 0)
		r = regsvc_admin_routes(d.svc, d.admin);
	if (r == 0)
		r = trunksvc_admin_routes(d.trunks, d.admin);
	if (r == 0)
		r = trace_admin_routes(d.admin);
	if (r == 0)
		r = admin_start(d.admin);
	if (r < 0) {
		log_error("start_failed", "step=admin socket=%s error=%s",
		          log_quote(q, sizeof(q), d.cfg->admin_socket),
		          r == -EADDRINUSE ? "\"another sipregd answers on it\""
		                           : log_quote(lst, sizeof(lst), strerror(-r)));
		goto out;
	}
	if (d.cfg->admin_http.family) {
		const struct config_listen *h = &d.cfg->admin_http;

		r = metrics_http_new(&d.http, (const struct sockaddr *)&h->addr,
		                     h->addrlen, metrics_fill, &d);
		if (r < 0) {
			fprintf(stderr, "sipregd: [admin] http %s:%u: %s\n", h->host,
			        (unsigned)h->port, strerror(-r));
			log_error("start_failed", "step=http host=%s port=%u error=%s",
			          h->host, (unsigned)h->port,
			          log_quote(lst, sizeof(lst), strerror(-r)));
			admin_stop(d.admin);
			goto out;
		}
	}
	/* the flusher thread writes changed bindings every flush_interval */
	r = regsvc_start(d.svc);
	if (r < 0) {
		log_error("start_failed", "step=flusher error=%s", strerror(-r));
		goto out;
	}
	r = engine_start(d.engine);
	if (r < 0) {
		fprintf(stderr, "sipregd: cannot listen: %s\n", strerror(-r));
		log_error("start_failed", "step=listen error=%s", strerror(-r));
		admin_stop(d.admin);
		goto out;
	}
	r = trunksvc_start(d.trunks);
	if (r < 0)
		log_error("trunks_not_loaded", "error=%s", strerror(-r));
	{
		const struct transport_addr *b;
		unsigned nb = engine_bound(d.engine, &b);
		size_t o = 0;

		lst[0] = 0;
		for (unsigned i = 0;
		     i < nb && o + TRANSPORT_ADDR_STRLEN + 1 < sizeof(lst); i++) {
			int n = transport_addr_str(&b[i], lst + o + (o ? 1 : 0),
			                           sizeof(lst) - o - 1);

			if (n > 0) {
				if (o)
					lst[o] = ' ';
				o += (size_t)n + (o ? 1 : 0);
			}
		}
	}
	{
		char qa[256];

		log_info("started",
		         "version=%s pid=%d config=%s workers=%u listen=\"%s\" admin=%s",
		         SIPREG_VERSION, (int)getpid(),
		         log_quote(q, sizeof(q), d.path ? d.path : "built-in"),
		         d.cfg->workers, lst,
		         log_quote(qa, sizeof(qa), d.cfg->admin_socket));
		if (d.http)
			log_info("metrics_listening", "host=%s port=%u path=/metrics",
			         d.cfg->admin_http.host,
			         (unsigned)metrics_http_port(d.http));
		sd_notify(0, "READY=1");
	}

	sig = serve(&d, sfd);
	rc = stop(&d, sig);
out:
	trace_admin_shutdown(); /* the pcap file flushed and closed */
	log_flush(true);
	metrics_http_free(d.http);
	admin_free(d.admin);
	if (d.svc && !d.stuck)
		regsvc_stop(d.svc); /* a start-up failure: the last flush */
	engine_free(d.engine);      /* frees nothing if a worker outlived the stop */
	if (!d.stuck) {
		trunksvc_free(d.trunks); /* after engine_free has detached it */
		regsvc_free(d.svc);      /* not while a worker may still use it */
	}
	if (sfd >= 0)
		close(sfd);
	if (d.reload_efd >= 0) {
		close(d.reload_efd);
		pthread_cond_destroy(&d.reload_cond);
	}
	json_decref(d.reload_result);
	config_free(d.cfg);
	return rc;
}
