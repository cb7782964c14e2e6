/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A forwarder: the ports a process has added, its patches between them,
 * and the engine that forwards them; plus the commands that change them
 * (add, del, patch, unpatch, patch_reset, forward, stop, status).
 * Every nfv is one; the primary holds one when it forwards.
 */
#ifndef PB_FORWARDER_H
#define PB_FORWARDER_H

#include <stdbool.h>

#include <jansson.h>

#include "pb_fwd.h"
#include "pb_msg.h"
#include "pb_port.h"

#define PB_MAX_PROC_PORTS 64

struct pb_forwarder {
	struct pb_port_env env;
	struct pb_fwd fwd;
	struct pb_port *ports[PB_MAX_PROC_PORTS];
	unsigned int nb_ports;
};

int pb_forwarder_init(struct pb_forwarder *fw, const struct pb_port_env *env,
		      bool busy_poll);
/* Unpatch and close every port; the worker must have stopped. */
void pb_forwarder_fini(struct pb_forwarder *fw);

/* Add every phy port the primary started, as SPP's nfv does. */
int pb_forwarder_add_phys(struct pb_forwarder *fw);

/* Called now and then by the control thread: follow port links. */
void pb_forwarder_tick(struct pb_forwarder *fw);

/* {"status", "ports", "patches", "stats"} */
json_t *pb_forwarder_status(const struct pb_forwarder *fw);

/*
 * Its commands: add, del, patch, unpatch, patch_reset, forward, stop.
 * Their ctx is the struct pb_forwarder, or NULL in a process that cannot
 * forward (a primary without a spare lcore): they then say so.
 */
extern const struct pb_cmd_def pb_forwarder_cmds[];

#endif
