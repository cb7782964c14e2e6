/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The link to the controller: dial it, say hello, then answer one reply
 * line per request line until told to quit; re-dial every second while it
 * is unreachable. Plain POSIX sockets, no DPDK.
 */
#ifndef PB_CTL_H
#define PB_CTL_H

#include <stdbool.h>

#include <jansson.h>

#include "pb_msg.h"

struct pb_ctl {
	const char *host;
	const char *port;
	json_t *hello;                 /* sent first on every connection */
	const struct pb_cmd_def *cmds;
	void *ctx;                     /* passed to the commands */
	volatile bool *quit;           /* the loop ends when it turns true */
};

/* Split "HOST:PORT" (or "[v6]:PORT") into the two; -1 if malformed. */
int pb_split_hostport(const char *text, char **host, char **port);

/* {"hello": {"role", "id", "pid", "node", "version"}} */
json_t *pb_hello(const char *role, int id);

/* Serve the controller until *quit. */
void pb_ctl_run(void *ctl);

#endif
