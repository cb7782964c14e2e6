/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The link to the controller: dial it, say hello, prove who we are, then
 * answer one reply line per request line until told to quit; re-dial
 * every second while it is unreachable. Plain POSIX sockets, no DPDK.
 *
 * A loopback HOST:PORT is reached over the controller's Unix socket for
 * that port (PATCHBAY_RUN_DIR, /run/patchbay by default: ctl-PORT.sock),
 * where the kernel tells each side who the other is; any other address
 * over TCP, where both prove they hold PATCHBAY_TOKEN (pb_auth.h).
 */
#ifndef PB_CTL_H
#define PB_CTL_H

#include <stdbool.h>

#include <jansson.h>

#include "pb_msg.h"

#define PB_CTL_MAX_SETS 8

struct pb_ctl {
	char *host;
	char *port;
	char *unix_path;               /* set: dial this, not host:port */
	char *key;                     /* PATCHBAY_TOKEN, for TCP */
	json_t *hello;                 /* sent first, with a fresh nonce */
	struct pb_cmd_set sets[PB_CTL_MAX_SETS];
	unsigned int nb_sets;
	/* called about 5 times a second, connected or not */
	void (*tick)(void *ctx);
	void *tick_ctx;
	bool gave_up;                  /* the controller kept refusing us */
	char last_error[256];          /* said once, until the link works */
};

/* The controller's Unix socket for a port: "DIR/ctl-PORT.sock" (malloc'd). */
char *pb_ctl_unix_path(const char *port);

/*
 * Prepare to serve the controller at "HOST:PORT" (or "[v6]:PORT") as
 * role/id. -1 if the address is malformed.
 */
int pb_ctl_init(struct pb_ctl *ctl, const char *hostport, const char *role,
		int id);
/* Serve these commands too, with ctx; looked up in the order added. */
void pb_ctl_add_cmds(struct pb_ctl *ctl, const struct pb_cmd_def *cmds,
		     void *ctx);
void pb_ctl_fini(struct pb_ctl *ctl);

/* Serve the controller until pb_quit() is called (the exit command,
 * SIGINT or SIGTERM). */
void pb_ctl_run(void *ctl);

/* SIGINT/SIGTERM quit, SIGPIPE ignored; pb_ctl_init calls it. */
void pb_signals_init(void);
void pb_quit(void);
bool pb_quitting(void);
/* The exit command: reply, then pb_ctl_run returns. */
int pb_cmd_exit(void *ctx, json_t *args, struct pb_result *res);

#endif
