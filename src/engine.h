/* SPDX-License-Identifier: MIT */
/*
 * engine.h - the daemon's workers (private to sipregd).
 *
 * N worker threads, each owning one event loop (urcu-qsbr reader, a
 * quiescent state per turn) and one timing wheel that drives the loop's
 * timeout and is advanced before each sleep. This is the seam where the
 * transports (a SO_REUSEPORT UDP socket per worker per listen address, the
 * TCP context), the transaction table, the handoff queue and the registrar
 * are attached to each worker (src/worker.h); the per-message path is in
 * src/dispatch.c and src/respond.c.
 *
 * Listeners: every worker binds its own SO_REUSEPORT UDP socket per udp:
 * address AND its own SO_REUSEPORT TCP listener per tcp: address, so the
 * kernel spreads datagrams and new connections over the workers with no
 * accept thread and no cross-thread hand-over; a connection then belongs to
 * the worker that accepted it and its responses go back on it there. (One
 * accepting worker would make that worker the bottleneck and every other
 * worker's connections a cross-thread hand-over.) Port 0 is resolved by
 * worker 0's socket; the others bind the port it got (engine_bound()).
 *
 * Threads: engine_* are called from the daemon's main thread. Signals must
 * be blocked before engine_start() (the workers inherit the mask, so the
 * main thread alone takes SIGTERM/SIGINT/SIGHUP through its signalfd).
 */
#ifndef SIPREG_ENGINE_H
#define SIPREG_ENGINE_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "sipreg/config.h"
#include "sipreg/transport.h"

struct engine;
struct regsvc;

/* Workers for cfg (cfg->workers of them), created but not running; cfg must
 * outlive the engine (its listen addresses are read by engine_start()).
 * svc (may be NULL: REGISTER is then answered 503) gives the registrar, and
 * worker 0 drives regsvc_advance() on it.
 * Errors: -ENOMEM, -EINVAL (0 workers or more than 256), -EIO (no random
 * bytes), and those of loop_new(), tx_layer_new(), handoff_new(). */
int engine_new(struct engine **ret, const struct config *cfg, struct regsvc *svc);

/* Binds every listen address on every worker (see above), then starts the
 * worker threads. On error the threads already started are stopped again.
 * Errors: -EALREADY, the errno of udp_sock_new() / tcp_ctx_new() /
 * tcp_listen() (-EADDRINUSE, -EACCES, ...), the errno of pthread_create(). */
int engine_start(struct engine *e);

/* The listen addresses as bound (ports resolved); *out valid while e lives.
 * Returns how many (0 before engine_start()). */
struct trunksvc;

/* Outbound trunk registrations on the workers (before engine_start):
 * engine_start attaches every worker to it, engine_free detaches them. */
void engine_set_trunks(struct engine *e, struct trunksvc *t);

unsigned int engine_bound(const struct engine *e, const struct transport_addr **out);

/* Applies the live keys the workers use (user_agent: the Server header of
 * the engine's own answers). Main thread, running or not. The registrar's
 * keys go through regsvc_set_config(). Returns 0 or -ENOMEM (nothing
 * changed). */
int engine_set_config(struct engine *e, const struct config *cfg);

/* Adds "sip": {"bound": [...], "workers": [{counters}...], "totals": {...}}
 * and "registrar_requests": the sum of the per-worker registrar counters.
 * Any thread (counters are read one by one with relaxed loads).
 * Returns 0 or -ENOMEM. */
int engine_status(const struct engine *e, json_t *st);

/* Asks every worker to stop and waits for them at most timeout_ms in total.
 * Returns 0 when all have stopped, -ETIMEDOUT when some are still running
 * (the caller should then exit the process anyway). */
int engine_stop(struct engine *e, unsigned int timeout_ms);

/* Frees a stopped engine (NULL is a no-op). If engine_stop() timed out,
 * nothing is freed (a worker may still use it): the process should exit. */
void engine_free(struct engine *e);

unsigned int engine_workers(const struct engine *e);

/* Worker i is running its loop. */
bool engine_worker_running(const struct engine *e, unsigned int i);

#endif /* SIPREG_ENGINE_H */
