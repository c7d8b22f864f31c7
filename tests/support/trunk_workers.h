/* SPDX-License-Identifier: MIT */
/*
 * trunk_workers.h - test support: real worker threads (loop, wheel,
 * transaction layer) attached to a trunk service, the network replaced by a
 * send function that only counts the REGISTERs (so no upstream ever answers
 * and the trunks stay registering). Shared by test_trunksvc.c and
 * test_sipregctl_trunk.c.
 */
#ifndef SIPREG_TEST_TRUNK_WORKERS_H
#define SIPREG_TEST_TRUNK_WORKERS_H

#include "sipreg/trunksvc.h"

/* Starts n (at most TRUNK_WORKERS_MAX) worker threads and attaches each to
 * svc; the counters start at zero. Fails the running Criterion test on
 * error. */
#define TRUNK_WORKERS_MAX 8
void trunk_workers_start(struct trunksvc *svc, unsigned int n);

/* Stops the loops, then as the daemon does: trunksvc_detach_all(), then the
 * transaction layers, wheels and loops. Safe when none are running. */
void trunk_workers_stop(void);

/* REGISTERs sent so far, without and with Expires: 0. */
unsigned int trunk_workers_registers(void);
unsigned int trunk_workers_unregisters(void);

#endif
