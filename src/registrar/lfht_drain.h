/* SPDX-License-Identifier: MIT */
/*
 * lfht_drain.h - tearing down a cds_lfht safely (private to src/registrar/).
 *
 * Two traps this avoids: freeing a node inside cds_lfht_for_each_entry
 * (the iterator reads the node's next pointer after the loop body), and
 * freeing nodes while the table's resize worker may still walk them
 * (cds_lfht_destroy waits for a resize in progress, and that resize waits
 * for a grace period, so the caller goes offline while destroying).
 *
 * The caller is a registered, online urcu-qsbr thread, and no other thread
 * uses the table any more.
 */
#ifndef SIPREG_LFHT_DRAIN_H
#define SIPREG_LFHT_DRAIN_H

#include <stdlib.h>
#include <urcu/urcu-qsbr.h>
#include <urcu/rculfhash.h>

/* Removes every node, destroys the table, then calls release on each
 * removed node. Returns the number of nodes released. */
static inline size_t lfht_drain(struct cds_lfht *ht, void (*release)(struct cds_lfht_node *))
{
	struct cds_lfht_iter it;
	struct cds_lfht_node *node, **all = NULL;
	size_t n = 0, cap = 0;

	urcu_qsbr_read_lock();
	cds_lfht_for_each(ht, &it, node) {
		if (cds_lfht_del(ht, node) != 0)
			continue;
		if (n == cap) {
			size_t ncap = cap ? 2 * cap : 1024;
			struct cds_lfht_node **grown = realloc(all, ncap * sizeof(*all));
			if (!grown)
				abort(); /* teardown cannot go on without the list */
			all = grown;
			cap = ncap;
		}
		all[n++] = node;
	}
	urcu_qsbr_read_unlock();
	urcu_qsbr_thread_offline();
	cds_lfht_destroy(ht, NULL);
	urcu_qsbr_thread_online();
	for (size_t i = 0; i < n; i++)
		release(all[i]);
	free(all);
	return n;
}

#endif /* SIPREG_LFHT_DRAIN_H */
