/* SPDX-License-Identifier: MIT */
/*
 * engine.h - the daemon's workers (private to sipregd).
 *
 * N worker threads, each owning one event loop (urcu-qsbr reader, a
 * quiescent state per turn) and one timing wheel that drives the loop's
 * timeout and is advanced before each sleep. This is the seam where the
 * transports (a SO_REUSEPORT UDP socket per worker per listen address, the
 * TCP context), the transaction table and the registrar / trunk modules are
 * attached to each worker: engine_start() is where they will be created.
 * Today a worker runs its loop and wheel and nothing else is attached.
 *
 * Threads: engine_* are called from the daemon's main thread. Signals must
 * be blocked before engine_start() (the workers inherit the mask, so the
 * main thread alone takes SIGTERM/SIGINT/SIGHUP through its signalfd).
 */
#ifndef SIPREG_ENGINE_H
#define SIPREG_ENGINE_H

#include <stdbool.h>
#include <stdint.h>

#include "sipreg/config.h"

struct engine;

/* Workers for cfg (cfg->workers of them), created but not running.
 * Errors: -ENOMEM, -EINVAL (0 workers), and those of loop_new(). */
int engine_new(struct engine **ret, const struct config *cfg);

/* Starts the worker threads. On error the threads already started are
 * stopped again. Errors: -EALREADY, the errno of pthread_create(). */
int engine_start(struct engine *e);

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
