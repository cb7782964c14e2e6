/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef PB_LAUNCH_H
#define PB_LAUNCH_H

#include <jansson.h>

#include "pb_lcores.h"
#include "pb_msg.h"
#include "pb_shared.h"

struct pb_launch {
	char *bin_dir;   /* where patchbay-nfv and the others are: beside us */
	json_t *shared;  /* EAL options of ours a secondary must share */
	struct pb_shared *sh;  /* whose lcore ids are taken */
	/* what we launched on each lcore id, until it takes the id itself */
	struct pb_lcore_owner launched[PB_MAX_LCORE];
};

/* Before rte_eal_init, which reorders argv. */
int pb_launch_init(struct pb_launch *l, int argc, char **argv);
void pb_launch_fini(struct pb_launch *l);

/* {"proc_name", "client_id", "eal": {...}, "app": {...}}; ctx: pb_launch */
int pb_cmd_launch(void *ctx, json_t *args, struct pb_result *res);

#endif
