/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * patchbay-vf and patchbay-mirror: components on worker lcores, as SPP's
 * spp_vf (forward, merge, classifier) and spp_mirror (mirror). One source,
 * built twice: PB_MIRROR selects the mirror.
 */
#include <stdlib.h>

#include "pb_component.h"
#include "secondary.h"

static int
cmd_status(void *ctx, json_t *args, struct pb_result *res)
{
	(void)args;
	return pb_ok(res, pb_components_status(ctx));
}

static const struct pb_cmd_def status_cmds[] = {
	{ "status", cmd_status, "" },
	{ "exit", pb_cmd_exit, "" },
	{ NULL, NULL, NULL },
};

#ifdef PB_MIRROR
static const struct pb_comp_kind *const kinds[] = { &pb_mirror_kind, NULL };
#define ROLE "mirror"
#define ABOUT "  mirrors a port to two (SPP's spp_mirror)\n"
#else
static const struct pb_comp_kind *const kinds[] = {
	&pb_forward_kind, &pb_merge_kind, &pb_classifier_kind, NULL };
#define ROLE "vf"
#define ABOUT "  forwards, merges and classifies (SPP's spp_vf)\n"
#endif

static int
setup(struct pb_forwarder *fw, struct pb_ctl *ctl, void **ctx)
{
	struct pb_components *cs = calloc(1, sizeof(*cs));

	*ctx = cs;
	if (cs == NULL || pb_components_init(cs, fw, kinds) < 0)
		return -1;
	pb_ctl_add_cmds(ctl, status_cmds, cs);
	pb_ctl_add_cmds(ctl, pb_component_cmds, cs);
#ifdef PB_MIRROR
	pb_ctl_add_cmds(ctl, pb_mirror_cmds, cs);
#else
	pb_ctl_add_cmds(ctl, pb_classify_cmds, cs);
#endif
	/* add and del open and close ports with options, as in an nfv */
	pb_ctl_add_cmds(ctl, pb_forwarder_port_cmds, fw);
	/* components move packets as soon as they have their ports, as
	 * SPP's do: no forward command */
	pb_fwd_set_forwarding(&fw->fwd, true);
	return 0;
}

static void
teardown(void *ctx)
{
	if (ctx != NULL)
		pb_components_fini(ctx);
	free(ctx);
}

static const struct pb_role role = {
	.name = ROLE,
	.prog = "patchbay-" ROLE,
	.about = ABOUT,
	.setup = setup,
	.teardown = teardown,
};

int
main(int argc, char **argv)
{
	return pb_secondary_main(argc, argv, &role);
}
