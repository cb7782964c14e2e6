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
	int patches;                   /* the patch feature's index */
	struct pb_port *ports[PB_MAX_PROC_PORTS];
	unsigned int nb_ports;
};

int pb_forwarder_init(struct pb_forwarder *fw, const struct pb_port_env *env,
		      bool busy_poll);
/* Unpatch and close every port; the worker must have stopped. */
void pb_forwarder_fini(struct pb_forwarder *fw);

/* Add every phy port the primary started, as SPP's nfv does. */
int pb_forwarder_add_phys(struct pb_forwarder *fw);

/* The added port uid, or NULL. */
struct pb_port *pb_forwarder_find(const struct pb_forwarder *fw,
				  const struct pb_uid *uid);

/* Open uid with opts and add it to the process's ports. */
int pb_forwarder_insert(struct pb_forwarder *fw, const struct pb_uid *uid,
			json_t *opts, struct pb_result *res);

/* Close p, used by no table, and forget it. */
void pb_forwarder_remove(struct pb_forwarder *fw, struct pb_port *p);

/*
 * Publish t as feature's table. The port directions it newly uses are
 * held first, so a refusal (another process holds one) leaves everything
 * as it was and frees t; those it no longer uses are let go once the
 * workers have moved on.
 */
int pb_forwarder_change(struct pb_forwarder *fw, int feature, void *t,
			struct pb_result *res);

/* Does a feature other than patches (a component) use p? */
bool pb_forwarder_in_components(const struct pb_forwarder *fw,
				const struct pb_port *p);

/* Called now and then by the control thread: follow port links. */
void pb_forwarder_tick(struct pb_forwarder *fw);

/* {"status", "ports", "patches", "stats"} */
json_t *pb_forwarder_status(const struct pb_forwarder *fw);

/*
 * Its commands: add and del (ports); patch, unpatch, patch_reset, forward
 * and stop (patches). Their ctx is the struct pb_forwarder, or NULL in a
 * process that cannot forward (a primary without a spare lcore): they
 * then say so.
 */
extern const struct pb_cmd_def pb_forwarder_port_cmds[];
extern const struct pb_cmd_def pb_forwarder_cmds[];

#endif
