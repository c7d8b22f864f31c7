/* SPDX-License-Identifier: MIT */
/*
 * clock.h - the one time unit of sipreg: uint64_t milliseconds of
 * CLOCK_MONOTONIC (not affected by wall-clock changes, counts from boot).
 *
 * Everything timed (the timing wheel, transactions, trunk refresh) takes its
 * "now" from clock_now_ms() once per loop turn and passes it down, so that
 * tests can drive time explicitly instead of sleeping.
 *
 * Threads: reentrant, lock-free (a vDSO call).
 */
#ifndef SIPREG_CLOCK_H
#define SIPREG_CLOCK_H

#include <stdint.h>

/* Milliseconds of CLOCK_MONOTONIC, truncated (the sub-millisecond part is
 * dropped: a value t means the real time is in [t, t + 1)). */
uint64_t clock_now_ms(void);

/* Nanoseconds of CLOCK_MONOTONIC (benchmarks and latency measurements). */
uint64_t clock_now_ns(void);

#endif /* SIPREG_CLOCK_H */
