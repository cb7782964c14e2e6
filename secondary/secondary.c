/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What every secondary does: read its options, attach to the primary's
 * memory, dial the controller and run the forwarding engine with the
 * commands of its role (nfv.c, vf.c, mirror.c) until told to exit.
 */
#include <getopt.h>
#include <stdio.h>
#include <sys/stat.h>
#include <stdarg.h>
#include <stdlib.h>

#include <rte_common.h>
#include <rte_eal.h>
#include <rte_mempool.h>

#include "pb_version.h"
#include "secondary.h"

#define DEFAULT_CONTROLLER "127.0.0.1:6666"

struct sec_opts {
	int client_id;
	const char *controller;
	bool vhost_client;
	bool busy_poll;
};

static const struct pb_role *the_role;

static void
usage(const char *prog)
{
	(void)prog;  /* EAL passes argv[0]; the name users know is ours */
	fprintf(stderr,
		"usage: %s [EAL options] --proc-type secondary -- -n CLIENT_ID "
		"[-s HOST:PORT] [--vhost-client] [--busy-poll]\n"
		"%s"
		"  -n, --client-id N   this secondary's id (1 or more)\n"
		"  -s HOST:PORT        controller to dial (default %s)\n"
		"  --vhost-client      vhost ports connect to their socket "
		"instead of serving it\n"
		"  --busy-poll         never sleep when idle (benchmarks)\n"
		"  -h, --help          this text\n%s",
		the_role->prog, the_role->about, DEFAULT_CONTROLLER,
		the_role->opts_help != NULL ? the_role->opts_help : "");
}

static int
parse_opts(int argc, char **argv, struct sec_opts *o)
{
	static const struct option common[] = {
		{ "client-id", required_argument, NULL, 'n' },
		{ "vhost-client", no_argument, NULL, 'v' },
		{ "busy-poll", no_argument, NULL, 'b' },
		{ "help", no_argument, NULL, 'h' },
	};
	struct option longopts[RTE_DIM(common) + PB_ROLE_MAX_OPTS + 1] = { 0 };
	unsigned int n = 0;
	char shortopts[32];
	char *end;
	long id;
	int c;

	for (unsigned int i = 0; i < RTE_DIM(common); i++)
		longopts[n++] = common[i];
	for (unsigned int i = 0; the_role->longopts != NULL &&
	     the_role->longopts[i].name != NULL && i < PB_ROLE_MAX_OPTS; i++)
		longopts[n++] = the_role->longopts[i];
	snprintf(shortopts, sizeof(shortopts), "n:s:h%s",
		 the_role->shortopts != NULL ? the_role->shortopts : "");
	o->client_id = -1;
	o->controller = DEFAULT_CONTROLLER;
	while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		switch (c) {
		case 'n':
			id = strtol(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || id < 1 ||
			    id > 65535) {
				fprintf(stderr, "-n: client id must be a number "
					"from 1 to 65535, got '%s'\n", optarg);
				return -1;
			}
			o->client_id = (int)id;
			break;
		case 's':
			o->controller = optarg;
			break;
		case 'v':
			o->vhost_client = true;
			break;
		case 'b':
			o->busy_poll = true;
			break;
		default:
			if (c == '?' || c == 'h' || the_role->opt == NULL ||
			    the_role->opt(c, optarg, argc, argv) < 0)
				return -1;
		}
	}
	if (o->client_id < 0) {
		fprintf(stderr, "-n CLIENT_ID is required\n");
		return -1;
	}
	return the_role->opts_done != NULL ? the_role->opts_done() : 0;
}

static void
say(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", the_role->prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* The panel's memory, and lcore ids no other live process runs on. */
static int
attach_panel(struct pb_port_env *env)
{
	char name[PB_PROC_NAMESIZE], why[256];

	env->sh = pb_shared_attach();
	env->pool = rte_mempool_lookup(PB_POOL_NAME);
	if (env->sh == NULL || env->pool == NULL) {
		say("no patchbay primary found (is patchbay-primary running "
		    "with the same --file-prefix?)");
		return -1;
	}
	snprintf(name, sizeof(name), "%s %d", the_role->name, env->client);
	if (pb_process_attach(env->sh, env->client, name, why,
			      sizeof(why)) < 0) {
		say("%s", why);
		return -1;
	}
	return 0;
}

/* Without its primary the panel's memory has no owner: end cleanly. */
static void
tick(void *ctx)
{
	struct pb_forwarder *fw = ctx;

	pb_forwarder_tick(fw);
	if (!pb_quitting() && !pb_primary_alive(fw->env.sh)) {
		say("the primary (pid %d) is gone; exiting",
		    (int)fw->env.sh->primary.pid);
		pb_quit();
	}
}

static int
run(const struct sec_opts *opts, struct pb_ctl *ctl)
{
	struct pb_port_env env = {
		.client = opts->client_id,
		.vhost_client = opts->vhost_client,
	};
	struct pb_forwarder fw;
	void *role_ctx = NULL;
	int ret;

	if (attach_panel(&env) < 0)
		return 1;
	pb_ports_detach_others();
	if (pb_forwarder_init(&fw, &env, opts->busy_poll) < 0 ||
	    pb_forwarder_add_phys(&fw) < 0 ||
	    the_role->setup(&fw, ctl, &role_ctx) < 0) {
		say("cannot set up forwarding");
		pb_process_detach(env.sh);
		return 1;
	}
	ctl->tick = tick;
	ctl->tick_ctx = &fw;
	ret = pb_fwd_run(&fw.fwd, pb_ctl_run, ctl);
	if (ret < 0)
		say("cannot start the workers");
	if (the_role->teardown != NULL)
		the_role->teardown(role_ctx);
	pb_forwarder_fini(&fw);
	pb_shared_release_self(env.sh);
	pb_process_detach(env.sh);
	return ret < 0 || ctl->gave_up ? 1 : 0;
}

int
pb_secondary_main(int argc, char **argv, const struct pb_role *role)
{
	struct sec_opts opts = { 0 };
	struct pb_ctl ctl;
	int n, ret;

	if (pb_version_asked(argc, argv))
		return 0;
	the_role = role;
	/* Sockets and files we make (EAL's runtime dir, vhost-user sockets,
	 * captures) are for this user alone. */
	umask(077);
	rte_set_application_usage_hook(usage);  /* --help shows ours too */
	n = rte_eal_init(argc, argv);
	if (n < 0) {
		say("EAL init failed");
		return 1;
	}
	if (parse_opts(argc - n, argv + n, &opts) < 0 ||
	    pb_ctl_init(&ctl, opts.controller, role->name,
			opts.client_id) < 0) {
		usage(NULL);
		rte_eal_cleanup();
		return 2;
	}
	if (rte_eal_process_type() != RTE_PROC_SECONDARY) {
		say("run it with --proc-type secondary, beside a "
		    "patchbay-primary");
		ret = 2;
	} else {
		ret = run(&opts, &ctl);
	}
	pb_ctl_fini(&ctl);
	rte_eal_cleanup();
	return ret;
}
