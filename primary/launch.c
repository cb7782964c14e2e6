/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The launch command: the primary starts a secondary, as SPP's does, so
 * that it also works on a VM's node. No shell: the request becomes an
 * argv. EAL options a secondary must share with its primary are copied
 * from the primary's own command line when the request leaves them out.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_eal.h>

#include "launch.h"

#define MAX_ARGS 128

static const struct {
	const char *name;
	int has_value;
} shared_opts[] = {
	{ "--file-prefix", 1 }, { "--huge-dir", 1 }, { "--iova-mode", 1 },
	{ "--base-virtaddr", 1 }, { "--no-pci", 0 },
	{ "--single-file-segments", 0 }, { "--legacy-mem", 0 },
};

#define NB_SHARED (sizeof(shared_opts) / sizeof(shared_opts[0]))

int
pb_launch_init(struct pb_launch *l, int argc, char **argv)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	memset(l, 0, sizeof(*l));
	if (n <= 0)
		return -1;
	self[n] = '\0';
	if (asprintf(&l->nfv_path, "%s/patchbay-nfv", dirname(self)) < 0)
		return -1;
	l->shared = json_object();
	/* EAL's options end at "--"; forms "--opt value" and "--opt=value" */
	for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
		for (size_t k = 0; k < NB_SHARED; k++) {
			size_t len = strlen(shared_opts[k].name);
			const char *value = "";

			if (strncmp(argv[i], shared_opts[k].name, len) != 0)
				continue;
			if (argv[i][len] == '=')
				value = argv[i] + len + 1;
			else if (argv[i][len] != '\0')
				continue;
			else if (shared_opts[k].has_value && i + 1 < argc)
				value = argv[++i];
			json_object_set_new(l->shared, shared_opts[k].name,
					    json_string(value));
		}
	return 0;
}

void
pb_launch_fini(struct pb_launch *l)
{
	free(l->nfv_path);
	json_decref(l->shared);
}

struct argv_builder {
	const char *argv[MAX_ARGS + 1];
	int argc;
	char numbers[MAX_ARGS][24];  /* values given as JSON integers */
};

static int
push(struct argv_builder *b, const char *arg, struct pb_result *res)
{
	if (b->argc == MAX_ARGS)
		return pb_fail(res, "too many arguments (at most %d)", MAX_ARGS);
	b->argv[b->argc++] = arg;
	return 0;
}

/* Push "-k" and, unless it is "", its value. Values are strings, or
 * whole numbers as some of SPP's documented bodies give them. */
static int
push_option(struct argv_builder *b, const char *section, const char *key,
	    json_t *value, struct pb_result *res)
{
	char *number = b->numbers[b->argc];

	if (key[0] != '-')
		return pb_fail(res, "%s option '%s' must start with '-'", section,
			       key);
	if (!json_is_string(value) && !json_is_integer(value))
		return pb_fail(res, "%s option '%s' must have a string value "
			       "(\"\" for a flag)", section, key);
	if (push(b, key, res) < 0)
		return -1;
	if (json_is_integer(value)) {
		snprintf(number, sizeof(b->numbers[0]), "%" JSON_INTEGER_FORMAT,
			 json_integer_value(value));
		return push(b, number, res);
	}
	if (json_string_length(value) == 0)
		return 0;
	return push(b, json_string_value(value), res);
}

static int
push_section(struct argv_builder *b, json_t *args, const char *section,
	     struct pb_result *res)
{
	json_t *opts = json_object_get(args, section), *value;
	const char *key;

	if (opts == NULL)
		return 0;
	if (!json_is_object(opts))
		return pb_fail(res, "'%s' must be an object of options", section);
	json_object_foreach(opts, key, value)
		if (push_option(b, section, key, value, res) < 0)
			return -1;
	return 0;
}

static int
check_request(json_t *args, long *client_id, struct pb_result *res)
{
	const char *name = NULL, *proc_type;
	json_t *id = json_object_get(args, "client_id"), *eal, *app, *n;
	char *end;

	if (pb_arg_string(args, "proc_name", &name, res) < 0)
		return -1;
	if (name == NULL || (strcmp(name, "nfv") && strcmp(name, "spp_nfv")))
		return pb_fail(res, "'proc_name' must be \"nfv\" or \"spp_nfv\": "
			       "patchbay's secondaries are nfv");
	if (json_is_integer(id))
		*client_id = (long)json_integer_value(id);
	else if (json_is_string(id) && json_string_length(id) > 0)
		*client_id = strtol(json_string_value(id), &end, 10);
	if (id == NULL || !(json_is_integer(id) ||
			    (json_is_string(id) && json_string_length(id) > 0 &&
			     *end == '\0')) ||
	    *client_id < 1 || *client_id > 65535)
		return pb_fail(res, "'client_id' must be a number from 1 to "
			       "65535");
	eal = json_object_get(args, "eal");
	proc_type = json_string_value(json_object_get(eal, "--proc-type"));
	if (proc_type != NULL && strcmp(proc_type, "secondary") != 0)
		return pb_fail(res, "a launched nfv is a secondary: "
			       "--proc-type must be \"secondary\"");
	app = json_object_get(args, "app");
	n = json_object_get(app, "-n");
	if (n != NULL && !(json_is_integer(n) &&
			   json_integer_value(n) == *client_id) &&
	    !(json_is_string(n) &&
	      strtol(json_string_value(n), &end, 10) == *client_id &&
	      *end == '\0'))
		return pb_fail(res, "app option -n must be the client_id, %ld",
			       *client_id);
	return 0;
}

static int
build_argv(const struct pb_launch *l, json_t *args, long client_id,
	   struct argv_builder *b, char *id_text, struct pb_result *res)
{
	json_t *eal = json_object_get(args, "eal"), *value;
	const char *key;

	b->argc = 0;
	if (push(b, l->nfv_path, res) < 0 || push_section(b, args, "eal", res))
		return -1;
	if (json_object_get(eal, "--proc-type") == NULL &&
	    (push(b, "--proc-type", res) < 0 || push(b, "secondary", res) < 0))
		return -1;
	json_object_foreach(l->shared, key, value)
		if (json_object_get(eal, key) == NULL &&
		    push_option(b, "eal", key, value, res) < 0)
			return -1;
	if (push(b, "--", res) < 0 || push_section(b, args, "app", res) < 0)
		return -1;
	snprintf(id_text, 8, "%ld", client_id);
	if (json_object_get(json_object_get(args, "app"), "-n") == NULL &&
	    (push(b, "-n", res) < 0 || push(b, id_text, res) < 0))
		return -1;
	b->argv[b->argc] = NULL;
	return 0;
}

/* Start argv detached, its output in log. */
static int
spawn(const char *const *argv, const char *log, pid_t *pid)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none;
	int ret;

	sigemptyset(&none);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, log,
					 O_WRONLY | O_CREAT | O_APPEND, 0600);
	posix_spawn_file_actions_adddup2(&fa, 1, 2);
	posix_spawnattr_init(&attr);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID |
				 POSIX_SPAWN_SETSIGMASK);
	posix_spawnattr_setsigmask(&attr, &none);
	ret = posix_spawn(pid, argv[0], &fa, &attr, (char *const *)argv,
			  environ);
	posix_spawnattr_destroy(&attr);
	posix_spawn_file_actions_destroy(&fa);
	return ret;
}

int
pb_cmd_launch(void *ctx, json_t *args, struct pb_result *res)
{
	const struct pb_launch *l = ctx;
	struct argv_builder b;
	char id_text[8], *log = NULL;
	long client_id = 0;
	json_t *argv_json;
	pid_t pid;
	int ret;

	if (check_request(args, &client_id, res) < 0 ||
	    build_argv(l, args, client_id, &b, id_text, res) < 0)
		return -1;
	if (asprintf(&log, "%s/nfv-%ld.log", rte_eal_get_runtime_dir(),
		     client_id) < 0)
		return pb_fail(res, "out of memory");
	ret = spawn(b.argv, log, &pid);
	if (ret != 0) {
		free(log);
		return pb_fail(res, "cannot start %s: %s", l->nfv_path,
			       strerror(ret));
	}
	argv_json = json_array();
	for (int i = 0; i < b.argc; i++)
		json_array_append_new(argv_json, json_string(b.argv[i]));
	ret = pb_ok(res, json_pack("{s:i, s:o, s:s}", "pid", (int)pid,
				   "argv", argv_json, "log", log));
	free(log);
	return ret;
}
