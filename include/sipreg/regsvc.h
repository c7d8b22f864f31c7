/* SPDX-License-Identifier: MIT */
/*
 * regsvc.h - the registrar as a service of the daemon: it owns the shared
 * tables (subscribers, location, guard, nonces), the store, the thread that
 * writes changed bindings to the store in batches, and the admin API routes
 * of subscribers, bindings and the guard. The workers call registrar_handle()
 * on regsvc_registrar() and one of them drives regsvc_advance() from its
 * timing wheel.
 *
 * Start-up: the store is opened (created on first use), the nonce secret is
 * read from it (or made and saved, so nonces survive a restart), subscribers
 * are loaded and bindings restored with their remaining expiry (those that
 * expired while sipreg was down are dropped and deleted).
 *
 * Nothing lost: the flusher writes every change within flush_interval ms,
 * and regsvc_stop() writes the last ones, so a graceful stop loses nothing
 * and a kill -9 at most one interval.
 *
 * The admin routes (JSON, on the admin thread):
 *   GET    /subscribers                 list (no secrets)
 *   POST   /subscribers                 {"username","domain","password" |
 *                                        "ha1_md5","ha1_sha256","enabled",
 *                                        "max_contacts","replace"}
 *   POST   /subscribers/import          {"csv": "username,domain,password\n..."}
 *   GET    /subscribers/USER@DOMAIN     one (no secrets)
 *   DELETE /subscribers/USER@DOMAIN
 *   GET    /bindings[?aor=USER@DOMAIN]  bindings in force
 *   DELETE /bindings/USER@DOMAIN        remove every binding of an AOR
 *   GET    /guard                       counters and suspensions
 *   DELETE /guard/KEY                   KEY: ADDRESS, or ACCOUNT@ADDRESS
 *
 * Threads: _new, _start, _stop, _free and _set_config from the daemon's
 * main thread; regsvc_advance from a registered, online urcu-qsbr thread.
 */
#ifndef SIPREG_REGSVC_H
#define SIPREG_REGSVC_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "sipreg/config.h"
#include "sipreg/registrar.h"

struct regsvc;
struct admin;

/* Returns 0, or a negative errno with err set ("database: ..."). */
int regsvc_new(struct regsvc **ret, const struct config *cfg, char *err, size_t errlen);
/* Starts the flusher thread: 0 or the errno of pthread_create. */
int regsvc_start(struct regsvc *s);
/* Stops the flusher after a last flush (also safe when not started). */
void regsvc_stop(struct regsvc *s);
void regsvc_free(struct regsvc *s); /* NULL is a no-op */

struct registrar *regsvc_registrar(struct regsvc *s);
void regsvc_set_config(struct regsvc *s, const struct config *cfg);

/* Expiries due at now (monotonic ms); returns the next deadline. */
uint64_t regsvc_advance(struct regsvc *s, uint64_t now);

/* Registers the routes above (before admin_start). */
int regsvc_admin_routes(struct regsvc *s, struct admin *adm);

/* Adds "registrar": {subscribers, aors, bindings, guard...} to a status. */
void regsvc_status(struct regsvc *s, json_t *status);

/* Writes what changed now (tests, shutdown). Returns records written. */
long regsvc_flush(struct regsvc *s);

#endif /* SIPREG_REGSVC_H */
