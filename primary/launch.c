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

#include <rte_common.h>
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

/*
 * The EAL options a launch may set, and what each value may be. Nothing
 * else: a caller must not make the secondary load a library (-d), read or
 * write a file of its choosing (--trace-dir, a net_pcap vdev's files) or
 * attach to another panel's memory (--file-prefix).
 */
enum eal_value {
	EAL_LCORES,     /* checked by check_lcores */
	EAL_NUMBER,     /* digits */
	EAL_NUMBERS,    /* digits and commas */
	EAL_SECONDARY,  /* "secondary" */
	EAL_PRIMARYS,   /* the primary's own value */
	EAL_FLAG,       /* "" */
	EAL_VDEV,       /* a driver of launch_vdevs, with its arguments */
};

static const struct {
	const char *name;
	enum eal_value value;
} launch_eal[] = {
	{ "-l", EAL_LCORES }, { "-c", EAL_LCORES }, { "--lcores", EAL_LCORES },
	{ "-m", EAL_NUMBER }, { "--socket-mem", EAL_NUMBERS },
	{ "-n", EAL_NUMBER }, { "--proc-type", EAL_SECONDARY },
	{ "--file-prefix", EAL_PRIMARYS }, { "--huge-dir", EAL_PRIMARYS },
	{ "--iova-mode", EAL_PRIMARYS }, { "--base-virtaddr", EAL_PRIMARYS },
	{ "--no-pci", EAL_FLAG }, { "--single-file-segments", EAL_FLAG },
	{ "--legacy-mem", EAL_FLAG }, { "--no-telemetry", EAL_FLAG },
	{ "--vdev", EAL_VDEV },
};

#define LAUNCH_EAL_TEXT "-l, -c, --lcores, -m, --socket-mem, -n, " \
	"--proc-type, --file-prefix, --huge-dir, --iova-mode, " \
	"--base-virtaddr, --no-pci, --single-file-segments, --legacy-mem, " \
	"--no-telemetry, --vdev"

/* vdevs that open no file named in their arguments (net_pcap does) */
static const char *const launch_vdevs[] = {
	"net_null", "net_ring", "net_tap", "net_vhost", "net_virtio_user",
	"net_memif", "net_af_packet",
};

int
pb_launch_init(struct pb_launch *l, int argc, char **argv)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	memset(l, 0, sizeof(*l));
	if (n <= 0)
		return -1;
	self[n] = '\0';
	l->bin_dir = strdup(dirname(self));
	if (l->bin_dir == NULL)
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
	free(l->bin_dir);
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

/* An option's value as text: strings, or whole numbers as some of SPP's
 * documented bodies give them; NULL for anything else. */
static const char *
option_text(json_t *value, char *buf, size_t len)
{
	if (json_is_string(value))
		return json_string_value(value);
	if (!json_is_integer(value))
		return NULL;
	snprintf(buf, len, "%" JSON_INTEGER_FORMAT, json_integer_value(value));
	return buf;
}

/* Push "-k" and, unless it is "", its value. */
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
	if (json_is_string(value) && json_string_length(value) == 0)
		return 0;
	return push(b, option_text(value, number, sizeof(b->numbers[0])), res);
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

/* SPP's proc_name ("nfv" or "spp_nfv", ...) -> our kind, or NULL. */
static const char *
secondary_kind(const char *name)
{
	static const char *const kinds[] = { "nfv", "vf", "mirror", "pcap" };

	if (name != NULL && strncmp(name, "spp_", 4) == 0)
		name += 4;
	for (size_t i = 0; name != NULL && i < RTE_DIM(kinds); i++)
		if (strcmp(name, kinds[i]) == 0)
			return kinds[i];
	return NULL;
}

static int
check_request(json_t *args, const char **kind, long *client_id,
	      struct pb_result *res)
{
	const char *name = NULL, *proc_type;
	json_t *id = json_object_get(args, "client_id"), *eal, *app, *n;
	char *end;

	if (pb_arg_string(args, "proc_name", &name, res) < 0)
		return -1;
	*kind = secondary_kind(name);
	if (*kind == NULL)
		return pb_fail(res, "'proc_name' must be nfv, vf, mirror or pcap "
			       "(or SPP's spp_nfv, spp_vf, ...)");
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
		return pb_fail(res, "a launched %s is a secondary: "
			       "--proc-type must be \"secondary\"", *kind);
	if (eal != NULL && !json_is_object(eal))
		return pb_fail(res, "'eal' must be an object of options");
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

static bool
only_chars(const char *text, const char *allowed)
{
	return text[0] != '\0' && strspn(text, allowed) == strlen(text);
}

static bool
launchable_vdev(const char *spec)
{
	size_t len = strcspn(spec, ",");

	while (len > 0 && spec[len - 1] >= '0' && spec[len - 1] <= '9')
		len--;       /* net_null0 is a net_null */
	for (size_t i = 0; i < RTE_DIM(launch_vdevs); i++)
		if (strlen(launch_vdevs[i]) == len &&
		    strncmp(spec, launch_vdevs[i], len) == 0)
			return true;
	return false;
}

/* One EAL option of a launch: allowed, and a value it may have. */
static int
check_eal_option(const struct pb_launch *l, const char *key, json_t *value,
		 struct pb_result *res)
{
	const char *text, *own;
	char number[24];
	size_t k;

	for (k = 0; k < RTE_DIM(launch_eal); k++)
		if (strcmp(key, launch_eal[k].name) == 0)
			break;
	if (k == RTE_DIM(launch_eal))
		return pb_fail(res, "eal option '%.64s' may not be set by a "
			       "launch (allowed: " LAUNCH_EAL_TEXT ")", key);
	text = option_text(value, number, sizeof(number));
	if (text == NULL)
		return 0;    /* not a value at all: push_option says so */
	switch (launch_eal[k].value) {
	case EAL_NUMBER:
	case EAL_NUMBERS:
		if (!only_chars(text, launch_eal[k].value == EAL_NUMBER ?
				"0123456789" : "0123456789,"))
			return pb_fail(res, "eal option %s must be %s, not "
				       "'%.64s'", key, launch_eal[k].value ==
				       EAL_NUMBER ? "a number" :
				       "numbers and commas", text);
		break;
	case EAL_PRIMARYS:
		own = json_string_value(json_object_get(l->shared, key));
		if (own == NULL && strcmp(key, "--file-prefix") == 0)
			own = "rte";    /* EAL's default */
		if (own == NULL || strcmp(text, own) != 0)
			return pb_fail(res, "eal option %s must be the "
				       "primary's, %s (or left out: it is "
				       "copied)", key, own != NULL ? own :
				       "which it does not set");
		break;
	case EAL_FLAG:
		if (text[0] != '\0')
			return pb_fail(res, "eal option %s is a flag: give it "
				       "\"\"", key);
		break;
	case EAL_VDEV:
		if (!launchable_vdev(text))
			return pb_fail(res, "eal option --vdev '%.64s': a launch "
				       "may add net_null, net_ring, net_tap, "
				       "net_vhost, net_virtio_user, net_memif "
				       "or net_af_packet vdevs (ports that "
				       "open files are added by 'add')", text);
		break;
	default:
		break;
	}
	return 0;
}

static int
check_eal(const struct pb_launch *l, json_t *eal, struct pb_result *res)
{
	const char *key;
	json_t *value;

	json_object_foreach(eal, key, value)
		if (check_eal_option(l, key, value, res) < 0)
			return -1;
	return 0;
}

_Static_assert(PB_MAX_LCORE == RTE_MAX_LCORE, "pb_lcores and DPDK differ");

/* What we launched on lcore id, while it runs and may not have taken it. */
static bool
launched_on(const struct pb_launch *l, unsigned int id,
	    struct pb_lcore_owner *owner)
{
	*owner = l->launched[id];
	return owner->proc.pid != 0 && pb_proc_alive(&owner->proc);
}

/* A live process on lcore id, or one we launched there. */
static bool
lcore_taken(const struct pb_launch *l, unsigned int id,
	    struct pb_lcore_owner *owner)
{
	return pb_lcore_owner(l->sh, id, owner) || launched_on(l, id, owner);
}

/* One process a client id: refuse a launch of one running or starting
 * (two applies, or two quick launches, at once). */
static int
check_client(const struct pb_launch *l, long client_id,
	     struct pb_result *res)
{
	struct pb_lcore_owner o;

	if (pb_client_owner(l->sh, (int)client_id, &o))
		return pb_fail(res, "%s is already running (pid %d): client id "
			       "%ld is taken", o.name, (int)o.proc.pid,
			       client_id);
	for (unsigned int id = 0; id < PB_MAX_LCORE; id++)
		if (launched_on(l, id, &o) && o.client == client_id)
			return pb_fail(res, "%s is already starting (pid %d)",
				       o.name, (int)o.proc.pid);
	return 0;
}

/* The lowest free lcore id, on the CPU fewest processes run on. */
static void
pick_lcore(const struct pb_launch *l, unsigned int *id, int *cpu)
{
	long nb_cpus = RTE_MIN(sysconf(_SC_NPROCESSORS_ONLN), (long)PB_MAX_CPU);
	unsigned int load[PB_MAX_CPU] = { 0 };
	struct pb_lcore_owner o;

	*id = PB_MAX_LCORE;
	for (unsigned int i = 0; i < PB_MAX_LCORE; i++) {
		if (!lcore_taken(l, i, &o))
			*id = RTE_MIN(*id, i);
		else if (o.cpu >= 0 && o.cpu < nb_cpus)
			load[o.cpu]++;
	}
	*cpu = 0;
	for (int c = 1; c < nb_cpus; c++)
		if (load[c] < load[*cpu])
			*cpu = c;
}

/*
 * Every lcore id the launch names must be free: two processes on one id
 * share its mempool cache without a lock and lose mbufs. A launch that
 * names none gets a free one in picked ("ID@CPU").
 */
static int
check_lcores(const struct pb_launch *l, json_t *eal, long client_id,
	     char *picked, size_t len, struct pb_result *res)
{
	long nb_cpus = sysconf(_SC_NPROCESSORS_ONLN);
	bool ids[PB_MAX_LCORE], cpus[PB_MAX_CPU], named = false;
	const char *key, *v;
	char text[32];
	struct pb_lcore_owner o;
	unsigned int free_id;
	json_t *value;
	int cpu;

	pick_lcore(l, &free_id, &cpu);
	picked[0] = '\0';
	json_object_foreach(eal, key, value) {
		if (!pb_lcores_option(key))
			continue;
		named = true;
		v = option_text(value, text, sizeof(text));
		if (v == NULL)
			continue;  /* not a value at all: build_argv says so */
		if (pb_lcores_parse(key, v, ids, cpus) < 0)
			return pb_fail(res, "eal option %s: not an lcore list "
				       "EAL reads (e.g. -l 1, --lcores 3@0)",
				       key);
		for (long c = nb_cpus; c < PB_MAX_CPU; c++)
			if (cpus[c])
				return pb_fail(res, "eal option %s: CPU %ld does "
					       "not exist: this machine has "
					       "CPUs 0 to %ld (put several "
					       "lcore ids on one: --lcores "
					       "%u@%d)", key, c, nb_cpus - 1,
					       free_id, cpu);
		for (unsigned int id = 0; id < PB_MAX_LCORE; id++)
			if (ids[id] && lcore_taken(l, id, &o))
				return pb_fail(res, "lcore %u is in use by %s "
					       "(pid %d): give nfv %ld an lcore "
					       "id of its own, e.g. --lcores "
					       "%u@%d", id, o.name,
					       (int)o.proc.pid, client_id,
					       free_id, cpu);
	}
	if (named)
		return 0;
	if (free_id == PB_MAX_LCORE)
		return pb_fail(res, "every lcore id (0 to %d) is in use",
			       PB_MAX_LCORE - 1);
	snprintf(picked, len, "%u@%d", free_id, cpu);
	return 0;
}

static void
mark_launched(struct pb_launch *l, const bool ids[PB_MAX_LCORE],
	      const struct pb_lcore_owner *o)
{
	for (unsigned int id = 0; id < PB_MAX_LCORE; id++)
		if (ids[id])
			l->launched[id] = *o;
}

/* Remember which ids the new process will take, until it does. */
static void
note_launched(struct pb_launch *l, json_t *eal, const char *picked,
	      const char *kind, long client_id, pid_t pid)
{
	bool ids[PB_MAX_LCORE], cpus[PB_MAX_CPU];
	struct pb_lcore_owner o = { .client = (int32_t)client_id, .cpu = -1 };
	char text[32];
	const char *key;
	json_t *value;

	pb_proc_get(pid, &o.proc);
	snprintf(o.name, sizeof(o.name), "%s %ld", kind, client_id);
	if (picked[0] != '\0' &&
	    pb_lcores_parse("--lcores", picked, ids, cpus) == 0) {
		o.cpu = atoi(strchr(picked, '@') + 1);
		mark_launched(l, ids, &o);
	}
	json_object_foreach(eal, key, value) {
		const char *v = option_text(value, text, sizeof(text));

		if (pb_lcores_option(key) && v != NULL &&
		    pb_lcores_parse(key, v, ids, cpus) == 0)
			mark_launched(l, ids, &o);
	}
}

static int
build_argv(const char *path, json_t *args, const struct pb_launch *l,
	   long client_id, const char *picked, struct argv_builder *b,
	   char *id_text, struct pb_result *res)
{
	json_t *eal = json_object_get(args, "eal"), *value;
	const char *key;

	b->argc = 0;
	if (push(b, path, res) < 0 || push_section(b, args, "eal", res))
		return -1;
	if (picked[0] != '\0' &&
	    (push(b, "--lcores", res) < 0 || push(b, picked, res) < 0))
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
	struct pb_launch *l = ctx;
	struct argv_builder b;
	char id_text[8], picked[32], path[PATH_MAX], *log = NULL;
	const char *kind = NULL;
	long client_id = 0;
	json_t *argv_json;
	pid_t pid;
	int ret;

	if (check_request(args, &kind, &client_id, res) < 0 ||
	    check_eal(l, json_object_get(args, "eal"), res) < 0 ||
	    check_client(l, client_id, res) < 0 ||
	    check_lcores(l, json_object_get(args, "eal"), client_id, picked,
			 sizeof(picked), res) < 0)
		return -1;
	snprintf(path, sizeof(path), "%s/patchbay-%s", l->bin_dir, kind);
	if (build_argv(path, args, l, client_id, picked, &b, id_text, res) < 0)
		return -1;
	if (asprintf(&log, "%s/%s-%ld.log", rte_eal_get_runtime_dir(), kind,
		     client_id) < 0)
		return pb_fail(res, "out of memory");
	ret = spawn(b.argv, log, &pid);
	if (ret != 0) {
		free(log);
		return pb_fail(res, "cannot start %s: %s", path, strerror(ret));
	}
	note_launched(l, json_object_get(args, "eal"), picked, kind, client_id,
		      pid);
	argv_json = json_array();
	for (int i = 0; i < b.argc; i++)
		json_array_append_new(argv_json, json_string(b.argv[i]));
	ret = pb_ok(res, json_pack("{s:i, s:o, s:s}", "pid", (int)pid,
				   "argv", argv_json, "log", log));
	free(log);
	return ret;
}
