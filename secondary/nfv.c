/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * patchbay-nfv: adds ports, patches them and forwards, as SPP's spp_nfv.
 */
#include "secondary.h"

static int
cmd_status(void *ctx, json_t *args, struct pb_result *res)
{
	struct pb_forwarder *fw = ctx;
	json_t *status = pb_forwarder_status(fw);

	(void)args;
	json_object_set_new(status, "client-id", json_integer(fw->env.client));
	pb_fwd_lcores_json(&fw->fwd, status);
	return pb_ok(res, status);
}

static const struct pb_cmd_def nfv_cmds[] = {
	{ "status", cmd_status, "" },
	{ "exit", pb_cmd_exit, "" },
	{ NULL, NULL, NULL },
};

static int
setup(struct pb_forwarder *fw, struct pb_ctl *ctl, void **ctx)
{
	*ctx = NULL;
	pb_ctl_add_cmds(ctl, nfv_cmds, fw);
	pb_ctl_add_cmds(ctl, pb_forwarder_port_cmds, fw);
	pb_ctl_add_cmds(ctl, pb_forwarder_cmds, fw);
	return 0;
}

static const struct pb_role nfv = {
	.name = "nfv",
	.prog = "patchbay-nfv",
	.about = "  patches ports to ports (SPP's spp_nfv)\n",
	.setup = setup,
};

int
main(int argc, char **argv)
{
	return pb_secondary_main(argc, argv, &nfv);
}
