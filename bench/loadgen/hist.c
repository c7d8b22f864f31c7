/* SPDX-License-Identifier: MIT */
/*
 * hist.c - log-linear latency histogram (the HdrHistogram layout).
 *
 * Values below 2^SUB ns have a bucket each; above, every power of two
 * [2^e, 2^(e+1)) is cut into 2^SUB equal buckets, so a bucket is at most
 * 1/2^SUB of its values wide (1.6 % with SUB = 6). Adding is a clz, a shift
 * and an increment; quantiles walk the ~2,200 counters once; per-thread
 * histograms merge by addition. Millions of samples, no sort.
 */
#include <string.h>

#include "loadgen.h"

void lg_hist_init(struct lg_hist *h)
{
	memset(h, 0, sizeof(*h));
	h->min = UINT64_MAX;
}

unsigned int lg_hist_index(uint64_t ns)
{
	unsigned int e, idx;

	if (ns < (1u << LG_HIST_SUB))
		return (unsigned int)ns;
	e = 63u - (unsigned int)__builtin_clzll(ns);
	if (e >= LG_HIST_MAXEXP)
		return LG_HIST_BUCKETS - 1;
	idx = ((e - LG_HIST_SUB + 1) << LG_HIST_SUB) +
	      (unsigned int)((ns >> (e - LG_HIST_SUB)) - (1u << LG_HIST_SUB));
	return idx;
}

uint64_t lg_hist_bucket_low(unsigned int idx)
{
	unsigned int row = idx >> LG_HIST_SUB, sub = idx & ((1u << LG_HIST_SUB) - 1);

	if (row == 0)
		return idx;
	return (uint64_t)((1u << LG_HIST_SUB) + sub) << (row - 1);
}

static uint64_t bucket_width(unsigned int idx)
{
	unsigned int row = idx >> LG_HIST_SUB;

	return row == 0 ? 1 : (uint64_t)1 << (row - 1);
}

void lg_hist_add(struct lg_hist *h, uint64_t ns)
{
	h->count[lg_hist_index(ns)]++;
	h->n++;
	h->sum += ns;
	if (ns < h->min)
		h->min = ns;
	if (ns > h->max)
		h->max = ns;
}

void lg_hist_merge(struct lg_hist *dst, const struct lg_hist *src)
{
	for (unsigned int i = 0; i < LG_HIST_BUCKETS; i++)
		dst->count[i] += src->count[i];
	dst->n += src->n;
	dst->sum += src->sum;
	if (src->min < dst->min)
		dst->min = src->min;
	if (src->max > dst->max)
		dst->max = src->max;
}

uint64_t lg_hist_quantile(const struct lg_hist *h, double q)
{
	uint64_t rank, seen = 0, v;

	if (h->n == 0)
		return 0;
	if (q <= 0)
		return h->min;
	if (q >= 1)
		return h->max;
	/* The smallest value with at least ceil(q * n) samples at or below it. */
	rank = (uint64_t)(q * (double)h->n);
	if ((double)rank < q * (double)h->n)
		rank++;
	if (rank == 0)
		rank = 1;
	for (unsigned int i = 0; i < LG_HIST_BUCKETS; i++) {
		seen += h->count[i];
		if (seen >= rank) {
			v = lg_hist_bucket_low(i) + bucket_width(i) / 2;
			if (v < h->min)
				v = h->min;
			if (v > h->max)
				v = h->max;
			return v;
		}
	}
	return h->max;
}
