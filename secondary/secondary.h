/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A secondary's role: its name in the controller's hello (SPP's process
 * type) and the commands it adds to the forwarding engine's ports.
 */
#ifndef PB_SECONDARY_H
#define PB_SECONDARY_H

#include "pb_ctl.h"
#include "pb_forwarder.h"

struct pb_role {
	const char *name;     /* "nfv", "vf", "mirror" */
	const char *prog;     /* "patchbay-nfv", ... */
	const char *about;    /* a line for --help */
	/* Register the role's features and commands; *ctx goes to teardown. */
	int (*setup)(struct pb_forwarder *fw, struct pb_ctl *ctl, void **ctx);
	void (*teardown)(void *ctx);
};

int pb_secondary_main(int argc, char **argv, const struct pb_role *role);

#endif
