/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef PB_LAUNCH_H
#define PB_LAUNCH_H

#include <jansson.h>

#include "pb_msg.h"

struct pb_launch {
	char *nfv_path;  /* patchbay-nfv, beside our own binary */
	json_t *shared;  /* EAL options of ours a secondary must share */
};

/* Before rte_eal_init, which reorders argv. */
int pb_launch_init(struct pb_launch *l, int argc, char **argv);
void pb_launch_fini(struct pb_launch *l);

/* {"proc_name", "client_id", "eal": {...}, "app": {...}}; ctx: pb_launch */
int pb_cmd_launch(void *ctx, json_t *args, struct pb_result *res);

#endif
