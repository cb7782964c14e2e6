/* SPDX-License-Identifier: BSD-3-Clause */
#include <stdio.h>
#include <stdlib.h>

#include <rte_cycles.h>
#include <string.h>

#include "pb_forwarder.h"
#include "pb_patch.h"

/* ---- the patch feature: its table's burst function ----------------- */

static unsigned int
run_patches(void *table, unsigned int worker)
{
	const struct pb_patch_table *t = table;
	struct rte_mbuf *pkts[PB_BURST];
	unsigned int moved = 0;

	if (worker != 0)
		return 0;    /* patches all run on the first worker */
	for (unsigned int i = 0; i < t->count; i++) {
		const struct pb_patch *patch = &t->patches[i];
		uint16_t room = pb_port_room(patch->dst, PB_BURST);
		uint16_t n = room != 0 ?
			pb_fwd_rx_packets(patch->src, pkts, room) : 0;
		uint64_t bytes = 0;

		/* one sum of the burst's bytes serves both sides */
		if (n != 0 && (pb_counts_bytes(patch->src) ||
			       pb_counts_bytes(patch->dst))) {
			bytes = pb_burst_bytes(pkts, n);
			if (pb_counts_bytes(patch->src))
				pb_count(&patch->src->slot->side[PB_RX].bytes,
					 bytes);
		}
		/* progress is what went out: a worker whose output is full
		 * idles (or yields) for the reader that would empty it */
		moved += pb_fwd_tx_sum(patch->dst, pkts, n,
				       pb_counts_bytes(patch->dst) ? bytes : 0);
	}
	return moved;
}

static bool
patches_use(const void *table, const struct pb_port *p, enum pb_dir dir)
{
	return dir == PB_RX ? pb_patch_find_src(table, p) != NULL
			    : pb_patch_count_dst(table, p) > 0;
}

static void
free_patches(void *table)
{
	free(table);
}

static const struct pb_feature patch_feature = {
	.name = "patch",
	.run = run_patches,
	.uses = patches_use,
	.free = free_patches,
};

int
pb_forwarder_init(struct pb_forwarder *fw, const struct pb_port_env *env,
		  bool busy_poll)
{
	memset(fw, 0, sizeof(*fw));
	if (pb_fwd_init(&fw->fwd, busy_poll) < 0)
		return -1;
	fw->patches = pb_fwd_add_feature(&fw->fwd, &patch_feature,
					 pb_patch_table_new());
	if (fw->patches < 0) {
		pb_fwd_free(&fw->fwd);
		return -1;
	}
	fw->env = *env;
	fw->env.qsbr = fw->fwd.qsbr;
	return 0;
}

static const struct pb_patch_table *
patch_table(const struct pb_forwarder *fw)
{
	return pb_fwd_table(&fw->fwd, fw->patches);
}

struct pb_port *
pb_forwarder_find(const struct pb_forwarder *fw, const struct pb_uid *uid)
{
	for (unsigned int i = 0; i < fw->nb_ports; i++)
		if (pb_uid_equal(&fw->ports[i]->uid, uid))
			return fw->ports[i];
	return NULL;
}

/* The added port named by args[key], or a failure saying why not. */
static struct pb_port *
arg_port(const struct pb_forwarder *fw, json_t *args, const char *key,
	 struct pb_result *res)
{
	struct pb_uid uid;
	struct pb_port *p;
	char name[PB_UID_STRLEN];

	if (fw == NULL || pb_arg_uid(args, key, &uid, res) < 0)
		return NULL;
	p = pb_forwarder_find(fw, &uid);
	if (p == NULL)
		pb_fail(res, "%s is not added; add it first", pb_uid_str(&uid, name));
	return p;
}

/* ---- holding port directions while tables use them ---------------- */

static void
release_all(struct pb_forwarder *fw, bool marks[][2])
{
	for (unsigned int i = 0; i < fw->nb_ports; i++)
		for (int d = PB_RX; d <= PB_TX; d++)
			if (marks[i][d])
				pb_side_release(fw->env.sh, fw->ports[i]->slot,
						d);
}

int
pb_forwarder_change(struct pb_forwarder *fw, int feature, void *t,
		    struct pb_result *res)
{
	bool taken[PB_MAX_PROC_PORTS][2] = { { false } };
	bool dropped[PB_MAX_PROC_PORTS][2] = { { false } };
	const void *old = pb_fwd_table(&fw->fwd, feature);
	char who[32];
	int holder;

	if (t == NULL)
		return pb_fail(res, "out of memory");
	for (unsigned int i = 0; i < fw->nb_ports; i++) {
		struct pb_port *p = fw->ports[i];

		for (int d = PB_RX; d <= PB_TX; d++) {
			bool before = pb_fwd_uses(&fw->fwd, feature, old, p, d);
			bool after = pb_fwd_uses(&fw->fwd, feature, t, p, d);

			dropped[i][d] = before && !after;
			if (!after || before)
				continue;
			if (pb_port_check_side(p, d, res) < 0) {
				release_all(fw, taken);
				fw->fwd.features[feature]->free(t);
				return -1;
			}
			if (pb_side_hold(fw->env.sh, p->slot, d, fw->env.client,
					 &holder) < 0) {
				release_all(fw, taken);
				fw->fwd.features[feature]->free(t);
				return pb_fail(res, "%s is already %s by %s", p->name,
					       d == PB_RX ? "read" : "written",
					       pb_process_name(fw->env.sh, holder,
							    who, sizeof(who)));
			}
			taken[i][d] = true;
		}
	}
	pb_fwd_publish(&fw->fwd, feature, t);
	release_all(fw, dropped);
	return 0;
}

bool
pb_forwarder_in_components(const struct pb_forwarder *fw,
			   const struct pb_port *p)
{
	for (int d = PB_RX; d <= PB_TX; d++)
		for (unsigned int i = 0; i < fw->fwd.nb_features; i++)
			if ((int)i != fw->patches &&
			    fw->fwd.features[i]->uses(fw->fwd.tables[i], p, d))
				return true;
	return false;
}

/* Say in the shared table where each port this process reads goes. */
static void
publish_routes(struct pb_forwarder *fw, const struct pb_patch_table *t)
{
	for (unsigned int i = 0; i < fw->nb_ports; i++) {
		const struct pb_patch *patch = pb_patch_find_src(t, fw->ports[i]);

		pb_side_set_route(fw->env.sh, fw->ports[i]->slot,
				  patch != NULL ? patch->dst->name : "");
	}
}

static int
change_table(struct pb_forwarder *fw, struct pb_patch_table *t,
	     struct pb_result *res)
{
	if (pb_forwarder_change(fw, fw->patches, t, res) < 0)
		return -1;
	publish_routes(fw, t);
	return 0;
}

/* ---- commands ------------------------------------------------------- */

/* The commands' ctx: NULL where the process cannot forward. */
static struct pb_forwarder *
forwarder(void *ctx, struct pb_result *res)
{
	if (ctx == NULL)
		pb_fail(res, "this process does not forward: start it with a "
			"spare lcore for the worker, e.g. -l 0,1");
	return ctx;
}

int
pb_forwarder_insert(struct pb_forwarder *fw, const struct pb_uid *uid, json_t *opts,
	    struct pb_result *res)
{
	struct pb_port *p;

	if (fw->nb_ports == PB_MAX_PROC_PORTS)
		return pb_fail(res, "this process has %d ports, the most it "
			       "can hold", PB_MAX_PROC_PORTS);
	p = pb_port_open(&fw->env, uid, opts, res);
	if (p == NULL)
		return -1;
	fw->ports[fw->nb_ports++] = p;
	return 0;
}

int
pb_forwarder_add_phys(struct pb_forwarder *fw)
{
	struct pb_result res = { NULL, NULL };
	json_t *opts = json_object();
	int ret = 0;

	/* phy:N is ethdev N: with a portmask such as 0x2 they have gaps */
	for (int i = 0; i < PB_MAX_SLOTS && ret == 0; i++) {
		struct pb_uid uid;

		if (pb_uid_parse(fw->env.sh->slots[i].uid, &uid, NULL) == 0 &&
		    uid.type == PB_PORT_PHY)
			ret = pb_forwarder_insert(fw, &uid, opts, &res);
	}
	free(res.error);
	json_decref(opts);
	return ret;
}

static int
cmd_add(void *ctx, json_t *args, struct pb_result *res)
{
	struct pb_forwarder *fw = forwarder(ctx, res);
	char name[PB_UID_STRLEN];
	struct pb_uid uid;
	json_t *opts;
	int ret;

	if (fw == NULL || pb_arg_uid(args, "port", &uid, res) < 0)
		return -1;
	if (pb_forwarder_find(fw, &uid) != NULL)
		return pb_fail(res, "%s is already added",
			       pb_uid_str(&uid, name));
	opts = json_deep_copy(args);
	json_object_del(opts, "port");
	ret = pb_forwarder_insert(fw, &uid, opts, res);
	json_decref(opts);
	return ret;
}

void
pb_forwarder_remove(struct pb_forwarder *fw, struct pb_port *p)
{
	unsigned int i;

	for (i = 0; fw->ports[i] != p; i++)
		;
	fw->ports[i] = fw->ports[--fw->nb_ports];
	pb_port_close(&fw->env, p);
}

static int
cmd_del(void *ctx, json_t *args, struct pb_result *res)
{
	struct pb_forwarder *fw = forwarder(ctx, res);
	struct pb_port *p = arg_port(fw, args, "port", res);

	if (p == NULL)
		return -1;
	if (p->uid.type == PB_PORT_PHY)
		return pb_fail(res, "%s is a physical port of the primary; it "
			       "cannot be deleted", p->name);
	if (pb_forwarder_in_components(fw, p))
		return pb_fail(res, "%s is a port of a component; detach it "
			       "first (port del)", p->name);
	/* deleting a patched port removes its patches first */
	if (change_table(fw, pb_patch_table_without_port(patch_table(fw), p),
			  res) < 0)
		return -1;
	pb_forwarder_remove(fw, p);
	return 0;
}

static int
cmd_patch(void *ctx, json_t *args, struct pb_result *res)
{
	struct pb_forwarder *fw = forwarder(ctx, res);
	struct pb_port *src, *dst;

	src = arg_port(fw, args, "src", res);
	dst = src != NULL ? arg_port(fw, args, "dst", res) : NULL;
	if (dst == NULL)
		return -1;
	return change_table(fw, pb_patch_table_with(patch_table(fw), src, dst),
			    res);
}

static int
cmd_unpatch(void *ctx, json_t *args, struct pb_result *res)
{
	struct pb_forwarder *fw = forwarder(ctx, res);
	struct pb_port *src = arg_port(fw, args, "src", res);

	if (src == NULL)
		return -1;
	if (pb_patch_find_src(patch_table(fw), src) == NULL)
		return pb_fail(res, "%s is not patched", src->name);
	return change_table(fw, pb_patch_table_without_src(patch_table(fw), src),
			     res);
}

static int
cmd_patch_reset(void *ctx, json_t *args, struct pb_result *res)
{
	struct pb_forwarder *fw = forwarder(ctx, res);

	(void)args;
	return fw == NULL ? -1 : change_table(fw, pb_patch_table_new(), res);
}

static int
set_forwarding(void *ctx, bool on, struct pb_result *res)
{
	struct pb_forwarder *fw = forwarder(ctx, res);

	if (fw == NULL)
		return -1;
	pb_fwd_set_forwarding(&fw->fwd, on);
	return 0;
}

static int
cmd_forward(void *ctx, json_t *args, struct pb_result *res)
{
	(void)args;
	return set_forwarding(ctx, true, res);
}

static int
cmd_stop(void *ctx, json_t *args, struct pb_result *res)
{
	(void)args;
	return set_forwarding(ctx, false, res);
}

const struct pb_cmd_def pb_forwarder_port_cmds[] = {
	{ "add", cmd_add, NULL },
	{ "del", cmd_del, "port" },
	{ NULL, NULL, NULL },
};

const struct pb_cmd_def pb_forwarder_cmds[] = {
	{ "patch", cmd_patch, "src dst" },
	{ "unpatch", cmd_unpatch, "src" },
	{ "patch_reset", cmd_patch_reset, "" },
	{ "forward", cmd_forward, "" },
	{ "stop", cmd_stop, "" },
	{ NULL, NULL, NULL },
};

static void
sync_worker(void *fwd)
{
	pb_fwd_sync(fwd);
}

/* A capture that tapped a port and died leaves no one to drain its ring:
 * stop copying into it. */
static void
drop_dead_taps(struct pb_port *p)
{
	for (int d = PB_RX; d <= PB_TX; d++) {
		struct pb_side *side = &p->slot->side[d];

		if (side->tap != NULL && !pb_proc_alive(&side->tap_proc))
			__atomic_store_n(&side->tap, NULL, __ATOMIC_RELEASE);
	}
}

void
pb_forwarder_tick(struct pb_forwarder *fw)
{
	for (unsigned int i = 0; i < fw->nb_ports; i++) {
		if (pb_port_refresh(fw->ports[i], sync_worker, &fw->fwd) < 0)
			fprintf(stderr, "patchbay: cannot attach again to %s\n",
				fw->ports[i]->name);
		drop_dead_taps(fw->ports[i]);
	}
}

json_t *
pb_forwarder_status(const struct pb_forwarder *fw)
{
	const struct pb_patch_table *t = patch_table(fw);
	json_t *ports = json_array(), *patches = json_array();
	json_t *stats = json_object(), *options = json_object();
	json_t *links = json_object();
	struct pb_counters c;

	for (unsigned int i = 0; i < fw->nb_ports; i++) {
		const struct pb_port *p = fw->ports[i];

		json_array_append_new(ports, json_string(p->name));
		json_object_set_new(links, p->name, json_string(
			pb_port_link_up(p) ? "up" : "down"));
		if (json_object_size(p->opts) > 0)
			json_object_set(options, p->name, p->opts);
		pb_slot_counters(p->slot, &c);
		json_object_set_new(stats, p->name, pb_counters_json(&c));
	}
	for (unsigned int i = 0; i < t->count; i++)
		json_array_append_new(patches, json_pack("{s:s, s:s}",
			"src", t->patches[i].src->name,
			"dst", t->patches[i].dst->name));
	/* tsc: when the counters were read, for rates on the TSC's clock */
	return json_pack("{s:s, s:o, s:o, s:o, s:o, s:o, s:I}", "status",
			 pb_fwd_is_forwarding(&fw->fwd) ? "running" : "idling",
			 "ports", ports, "port_options", options, "links", links,
			 "patches", patches, "stats", stats,
			 "tsc", (json_int_t)rte_rdtsc());
}

void
pb_forwarder_fini(struct pb_forwarder *fw)
{
	struct pb_result res = { NULL, NULL };

	cmd_patch_reset(fw, NULL, &res);
	free(res.error);
	json_decref(res.value);
	while (fw->nb_ports > 0)
		pb_port_close(&fw->env, fw->ports[--fw->nb_ports]);
	pb_fwd_free(&fw->fwd);
}
