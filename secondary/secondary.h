/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A secondary's role: its name in the controller's hello (SPP's process
 * type) and the commands it adds to the forwarding engine's ports.
 */
#ifndef PB_SECONDARY_H
#define PB_SECONDARY_H

#include <getopt.h>

#include "pb_ctl.h"
#include "pb_forwarder.h"

#define PB_ROLE_MAX_OPTS 8

struct pb_role {
	const char *name;     /* "nfv", "vf", "mirror", "pcap" */
	const char *prog;     /* "patchbay-nfv", ... */
	const char *about;    /* a line for --help */
	/* Options of its own, beside the common ones; opt() takes each
	 * (getopt's optind may be moved on for an option of several words),
	 * opts_done() checks them all. */
	const struct option *longopts;   /* ends with a NULL name */
	const char *shortopts;
	const char *opts_help;
	int (*opt)(int c, const char *arg, int argc, char **argv);
	int (*opts_done)(void);
	/* Register the role's features and commands; *ctx goes to teardown. */
	int (*setup)(struct pb_forwarder *fw, struct pb_ctl *ctl, void **ctx);
	void (*teardown)(void *ctx);
};

int pb_secondary_main(int argc, char **argv, const struct pb_role *role);

#endif
