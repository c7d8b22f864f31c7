/* SPDX-License-Identifier: MIT */
/*
 * bench_doctor_ep - the cost of one feed of the doctor's per-AOR REGISTER
 * tracker (src/doctor/endpoints.c), which the registrar pays for every 200
 * that keeps a binding. Streams, each of N feeds of pre-made AORs:
 *
 *   hit     64 AORs, all tracked (k = 128): the hash, a probe, one slot,
 *           a sift;
 *   evict   100,000 AORs in turn, k = 128: every feed a miss that evicts
 *           the smallest (index deletion, insertion, sift);
 *   mixed   100,000 AORs, 1 in 4 feeds from 16 heavy ones (the case the
 *           tracker is for);
 *   note    mixed through doctor_ep_note() (the thread's own tracker).
 *
 * Prints ns per feed (best of 5 runs) and asserts on the result (the
 * heavy ones tracked, every feed counted).
 *
 *   bench_doctor_ep [N]     (default 2,000,000)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sipreg/doctor.h"

#define AORS 100000u
#define HEAVY 16u

static char aors[AORS][40];
static struct sip_str aor_str[AORS];

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The i-th AOR of stream kind. */
static unsigned pick(const char *kind, uint64_t i)
{
	uint64_t x = i * 2654435761u;

	if (strcmp(kind, "hit") == 0)
		return (unsigned)(x % 64);
	if (strcmp(kind, "evict") == 0)
		return (unsigned)(i % AORS);
	return (i & 3) == 0 ? (unsigned)((i >> 2) % HEAVY)
	                    : (unsigned)(HEAVY + x % (AORS - HEAVY));
}

static double run(const char *kind, uint64_t n, bool note)
{
	struct doctor_ep *t = NULL;
	struct doctor_ep_reg r = {.asked = 3600, .granted = 3600};
	unsigned *seq = malloc(n * sizeof(*seq));
	uint64_t t0, t1;

	if (!seq || doctor_ep_new(&t, DOCTOR_EP_K) < 0) {
		fprintf(stderr, "out of memory\n");
		exit(1);
	}
	for (uint64_t i = 0; i < n; i++)
		seq[i] = pick(kind, i);
	t0 = now_ns();
	for (uint64_t i = 0; i < n; i++) {
		/* the registrar's AOR is in its context, in L1: the bench's is
		 * one of 100,000 (4 MB), loaded ahead so that its cache miss is
		 * not counted as the tracker's */
		if (i + 8 < n) {
			__builtin_prefetch(&aor_str[seq[i + 8]]);
			__builtin_prefetch(aor_str[seq[i + 4]].p);
		}
		r.aor = aor_str[seq[i]];
		r.now_ms = 1000000 + i / 100;
		if (note)
			doctor_ep_note(&r);
		else if (doctor_ep_feed(t, &r) < 0)
			abort();
	}
	t1 = now_ns();
	if (!note && doctor_ep_fed(t) != n) {
		fprintf(stderr, "%s: fed %llu of %llu\n", kind,
		        (unsigned long long)doctor_ep_fed(t), (unsigned long long)n);
		exit(1);
	}
	if (!note && strcmp(kind, "mixed") == 0) {
		struct doctor_ep_stat *s;
		size_t ns, found = 0;

		if (doctor_ep_merge(&t, 1, &s, &ns) < 0)
			exit(1);
		for (size_t i = 0; i < ns; i++)
			for (unsigned h = 0; h < HEAVY; h++)
				found += strcmp(s[i].aor, aors[h]) == 0;
		free(s);
		if (found != HEAVY) {
			fprintf(stderr, "mixed: %zu of %u heavy AORs tracked\n", found,
			        HEAVY);
			exit(1);
		}
	}
	doctor_ep_free(t);
	free(seq);
	return (double)(t1 - t0) / (double)n;
}

int main(int argc, char **argv)
{
	uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 2000000;
	static const char *const kinds[] = {"hit", "evict", "mixed", "mixed"};

	if (n == 0)
		n = 1;
	for (unsigned i = 0; i < AORS; i++) {
		int len = snprintf(aors[i], sizeof(aors[i]),
		                   "user%u@customer%u.example.com", i, i % 997);

		aor_str[i] = (struct sip_str){aors[i], (size_t)len};
	}
	printf("doctor endpoint tracker, k = %u, %llu feeds per run, best of 5\n",
	       DOCTOR_EP_K, (unsigned long long)n);
	for (unsigned k = 0; k < 4; k++) {
		double best = 1e9;

		for (int rep = 0; rep < 5; rep++) {
			double v = run(kinds[k], n, k == 3);

			if (v < best)
				best = v;
		}
		printf("%-6s %7.1f ns/feed  %6.2f M feeds/s\n",
		       k == 3 ? "note" : kinds[k], best, 1e3 / best);
	}
	return 0;
}
