/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mirror: one rx port, two tx ports; the originals go to the first, a copy
 * of each to the second. By default the copy is by reference: the same
 * mbuf goes to both, its reference count one higher (no allocation; each
 * reader's free takes one off, the last frees it; a VLAN op on either side
 * copies it first, pb_vlan.h). On request (mirror_copy) it is a deep copy
 * of the bytes, switched at runtime.
 *
 * A deep copy that cannot be made (pool empty) is a counted drop of the
 * copy alone. Each tx port frees what it did not take, so the two may take
 * different counts without a leak (SPP leaked the difference, and sent
 * NULL copies to the port when the pool was empty).
 */
#include <string.h>

#include "pb_component.h"

static unsigned int
mirror_burst(struct pb_comp *c)
{
	struct rte_mbuf *pkts[PB_BURST], *copies[PB_BURST];
	bool deep = __atomic_load_n(&c->stats->deep_copy, __ATOMIC_RELAXED);
	uint16_t n = pb_comp_rx(c, 0, pkts), nb_copies = 0;

	for (uint16_t i = 0; i < n; i++) {
		struct rte_mbuf *copy = deep ?
			rte_pktmbuf_copy(pkts[i], c->pool, 0, UINT32_MAX) :
			pb_mbuf_share(pkts[i]);

		if (likely(copy != NULL))
			copies[nb_copies++] = copy;
		else
			c->stats->copy_drops++;
	}
	/* the copies first, as SPP: the originals may be changed by the
	 * first port's reader once they are sent */
	pb_comp_tx(c, 1, copies, nb_copies);
	pb_comp_tx(c, 0, pkts, n);
	return n;
}

static bool
mirror_ready(const struct pb_comp *c)
{
	return c->nb_rx == 1 && c->nb_tx == 2;
}

const struct pb_comp_kind pb_mirror_kind = {
	.name = "mirror",
	.max_rx = 1,
	.max_tx = 2,
	.ready = mirror_ready,
	.burst = mirror_burst,
};

/* mirror_copy {"name": NAME, "copy": "clone"|"deep"} */
static int
cmd_mirror_copy(void *ctx, json_t *args, struct pb_result *res)
{
	struct pb_components *cs = ctx;
	const char *name = NULL, *copy = NULL;
	struct pb_comp *c;

	if (pb_args_check_keys(args, "name copy", "mirror_copy", res) < 0 ||
	    pb_arg_string(args, "name", &name, res) < 0 ||
	    pb_arg_string(args, "copy", &copy, res) < 0)
		return -1;
	if (copy == NULL || (strcmp(copy, "clone") && strcmp(copy, "deep")))
		return pb_fail(res, "'copy' must be \"clone\" (by reference) "
			       "or \"deep\"");
	c = name == NULL ? NULL : pb_components_find(cs, name);
	if (c == NULL || c->kind != &pb_mirror_kind)
		return pb_fail(res, "no mirror component named '%.64s'",
			       name == NULL ? "" : name);
	__atomic_store_n(&c->stats->deep_copy, strcmp(copy, "deep") == 0,
			 __ATOMIC_RELAXED);
	return 0;
}

const struct pb_cmd_def pb_mirror_cmds[] = {
	{ "mirror_copy", cmd_mirror_copy, NULL },
	{ NULL, NULL, NULL },
};
