/* SPDX-License-Identifier: MIT */
/*
 * trunksvc.h - outbound trunk registrations as a service of the daemon: the
 * trunks table of the store, one struct ua per worker (ua.h), the resolver
 * thread, the per-worker mailboxes through which the admin thread reaches a
 * trunk's owner, and the admin routes.
 *
 * A trunk belongs to worker (SipHash of its name) % workers, for the whole
 * life of the process; its timers and transactions live on that worker.
 *
 * Life cycle (the daemon):
 *   trunksvc_new(cfg, workers)          main thread, before the workers
 *   trunksvc_attach(i, ...)             once worker i's loop, wheel and
 *                                       transaction layer exist, before its
 *                                       loop runs (any thread)
 *   trunksvc_start()                    main thread, after every attach:
 *                                       stored trunks are added (held) and
 *                                       started at the configured rate
 *   trunksvc_shutdown(bound_ms)         main thread, workers still running:
 *                                       unregisters (SEND_UNREGISTER), waits
 *                                       at most bound_ms for the answers
 *   trunksvc_detach_all()               every worker's loop ended, before
 *                                       their transaction layers and wheels
 *                                       are freed (the resolver stops first)
 *   trunksvc_free()                     main thread, workers joined
 *
 * The admin routes (JSON, admin thread; secrets never listed):
 *   GET    /trunks[?state=S]            list with state, last result, expiry
 *   POST   /trunks                      add: {"name", "registrar", "proxy",
 *                                        "transport", "user", "auth_user",
 *                                        "password", "domain", "realm",
 *                                        "contact_user", "expire",
 *                                        "retry_delay", "enabled",
 *                                        "primary" (true/false, default
 *                                        false)}
 *   POST   /trunks/import               {"csv": "name,registrar,..."}
 *   GET    /trunks/NAME                 state and configuration
 *   POST   /trunks/NAME                 change the fields given
 *   DELETE /trunks/NAME                 remove (unregistering first)
 *   POST   /trunks/NAME/enable | /disable | /refresh
 */
#ifndef SIPREG_TRUNKSVC_H
#define SIPREG_TRUNKSVC_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "sipreg/config.h"
#include "sipreg/store.h"
#include "sipreg/ua.h"

struct trunksvc;
struct admin;
struct loop;
struct wheel;
struct tx_layer;

/* What a worker gives its struct ua. */
struct trunksvc_worker {
	struct loop *loop;
	struct wheel *wheel;
	struct tx_layer *tx;
	const char *local_host; /* Via sent-by and Contact host */
	uint16_t local_port_udp;
	uint16_t local_port_tcp;
	ua_dest_fn dest; /* TCP connections; may be NULL */
	void *dest_arg;
};

int trunksvc_new(struct trunksvc **ret, const struct config *cfg, unsigned int workers,
		 char *err, size_t errlen);
int trunksvc_attach(struct trunksvc *s, unsigned int worker, const struct trunksvc_worker *w);
int trunksvc_start(struct trunksvc *s);
/* Every worker's ua_shutdown(bound_ms) (its bound counts from then), then
 * waits until each is over: all answered, or its bound reached (the counts
 * are logged, trunks_unregistered / trunks_unregister_skipped). Returns 0,
 * or -ETIMEDOUT when a worker has not ended it by bound_ms + 250 ms. */
int trunksvc_shutdown(struct trunksvc *s, unsigned int bound_ms);
void trunksvc_detach_all(struct trunksvc *s);
void trunksvc_free(struct trunksvc *s); /* NULL is a no-op */

void trunksvc_set_config(struct trunksvc *s, const struct config *cfg);
int trunksvc_admin_routes(struct trunksvc *s, struct admin *adm);
/* Adds "trunks": {"total", "by_state": {...}, ...} to a status. */
void trunksvc_status(struct trunksvc *s, json_t *status);

/* The worker that owns the trunk named name. */
unsigned int trunksvc_owner(const struct trunksvc *s, const char *name);

/* Converts a stored trunk to a UA configuration (strings point into t);
 * 0, or -EINVAL with err set. Used by the CSV import's check too. */
int trunksvc_config_of(const struct store_trunk *t, struct ua_trunk_config *c, char *host,
		       size_t hostcap, char *proxy, size_t proxycap, struct ua_error *err);

#endif /* SIPREG_TRUNKSVC_H */
