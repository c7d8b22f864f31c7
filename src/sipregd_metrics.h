/* SPDX-License-Identifier: MIT */
/*
 * sipregd_metrics.h - the daemon's /metrics (private to sipregd): the
 * numbers of a /status object (engine_status, regsvc_status,
 * trunksvc_status and the daemon's own counters) as Prometheus families.
 */
#ifndef SIPREGD_METRICS_H
#define SIPREGD_METRICS_H

#include <jansson.h>

#include "sipreg/metrics.h"

/* Appends every sipreg_* family to m from st (a /status object; a part
 * missing from it, e.g. "trunks" without a trunk service, leaves its
 * families out). Errors: -ENOMEM, or the builder's -EINVAL (a bug). */
int sipregd_metrics_fill(struct metrics *m, json_t *st);

#endif /* SIPREGD_METRICS_H */
