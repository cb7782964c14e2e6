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

/* {"status", "ports", "patches", "stats"} */
json_t *pb_forwarder_status(const struct pb_forwarder *fw);

/* The commands; ctx is the struct pb_forwarder. */
int pb_cmd_add(void *fw, json_t *args, struct pb_result *res);
int pb_cmd_del(void *fw, json_t *args, struct pb_result *res);
int pb_cmd_patch(void *fw, json_t *args, struct pb_result *res);
int pb_cmd_unpatch(void *fw, json_t *args, struct pb_result *res);
int pb_cmd_patch_reset(void *fw, json_t *args, struct pb_result *res);
int pb_cmd_forward(void *fw, json_t *args, struct pb_result *res);
int pb_cmd_stop(void *fw, json_t *args, struct pb_result *res);

/* Table entries for them, to put in a process's command table. */
#define PB_FORWARDER_CMDS                                        \
	{ "add", pb_cmd_add, NULL },                             \
	{ "del", pb_cmd_del, "port" },                           \
	{ "patch", pb_cmd_patch, "src dst" },                    \
	{ "unpatch", pb_cmd_unpatch, "src" },                    \
	{ "patch_reset", pb_cmd_patch_reset, "" },               \
	{ "forward", pb_cmd_forward, "" },                       \
	{ "stop", pb_cmd_stop, "" }

#endif
