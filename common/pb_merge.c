/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * forward and merge: every rx port's burst to the one tx port. forward is
 * merge with a single rx port.
 *
 * Merge is fair: each pass starts at the next rx port in turn, so when
 * the tx port is full it is not always the same input whose packets find
 * no room (SPP reads them in the order they were added, every time).
 */
#include "pb_component.h"

static unsigned int
merge_burst(struct pb_comp *c)
{
	struct rte_mbuf *pkts[PB_BURST];
	unsigned int first = c->stats->next_rx, moved = 0;

	if (first >= c->nb_rx)
		first = 0;
	for (unsigned int k = 0; k < c->nb_rx; k++) {
		unsigned int i = first + k < c->nb_rx ? first + k
						      : first + k - c->nb_rx;
		uint16_t n = pb_comp_rx(c, i, pkts);

		pb_comp_tx(c, 0, pkts, n);
		moved += n;
	}
	c->stats->next_rx = first + 1;
	return moved;
}

static bool
merge_ready(const struct pb_comp *c)
{
	return c->nb_rx >= 1 && c->nb_tx == 1;
}

const struct pb_comp_kind pb_forward_kind = {
	.name = "forward",
	.max_rx = 1,
	.max_tx = 1,
	.ready = merge_ready,
	.burst = merge_burst,
};

const struct pb_comp_kind pb_merge_kind = {
	.name = "merge",
	.max_rx = PB_COMP_MAX_PORTS,
	.max_tx = 1,
	.ready = merge_ready,
	.burst = merge_burst,
};
