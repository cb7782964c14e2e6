/* SPDX-License-Identifier: BSD-3-Clause */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_lcore.h>

#include "pb_component.h"

/* ---- the feature: the workers' side -------------------------------- */

uint16_t
pb_comp_rx(struct pb_comp *c, unsigned int i, struct rte_mbuf **pkts)
{
	uint16_t n = pb_fwd_rx(c->rx[i].port, pkts, PB_BURST);

	return pb_vlan_apply(&c->rx[i].vlan, pkts, n, c->pool,
			     &c->stats->vlan_drops);
}

void
pb_comp_tx(struct pb_comp *c, unsigned int i, struct rte_mbuf **pkts,
	   uint16_t n)
{
	n = pb_vlan_apply(&c->tx[i].vlan, pkts, n, c->pool,
			  &c->stats->vlan_drops);
	pb_fwd_tx(c->tx[i].port, pkts, n);
}

static bool
comp_ready(const struct pb_comp *c)
{
	return c->nb_rx > 0 && c->nb_tx > 0 && c->kind->ready(c);
}

static unsigned int
run_components(void *table, unsigned int worker)
{
	struct pb_comp_table *t = table;
	unsigned int moved = 0;

	for (unsigned int i = 0; i < t->count; i++) {
		struct pb_comp *c = &t->comps[i];

		if (c->worker == worker && comp_ready(c))
			moved += c->kind->burst(c);
	}
	return moved;
}

static int
port_index(const struct pb_comp_port *ports, unsigned int n,
	   const struct pb_port *p)
{
	for (unsigned int i = 0; i < n; i++)
		if (ports[i].port == p)
			return (int)i;
	return -1;
}

static bool
components_use(const void *table, const struct pb_port *p, enum pb_dir dir)
{
	const struct pb_comp_table *t = table;

	for (unsigned int i = 0; i < t->count; i++) {
		const struct pb_comp *c = &t->comps[i];

		if (dir == PB_RX ? port_index(c->rx, c->nb_rx, p) >= 0
				 : port_index(c->tx, c->nb_tx, p) >= 0)
			return true;
	}
	return false;
}

static void
free_components(void *table)
{
	struct pb_comp_table *t = table;

	for (unsigned int i = 0; i < t->count; i++)
		free(t->comps[i].l2);
	free(t);
}

static const struct pb_feature component_feature = {
	.name = "component",
	.run = run_components,
	.uses = components_use,
	.free = free_components,
};

/* ---- the control thread's side ------------------------------------- */

static struct pb_comp_table *
table_alloc(unsigned int count)
{
	struct pb_comp_table *t;

	t = calloc(1, sizeof(*t) + count * sizeof(t->comps[0]));
	if (t != NULL)
		t->count = count;
	return t;
}

static const struct pb_comp_table *
current(const struct pb_components *cs)
{
	return pb_fwd_table(&cs->fw->fwd, cs->feature);
}

int
pb_components_init(struct pb_components *cs, struct pb_forwarder *fw,
		   const struct pb_comp_kind *const *kinds)
{
	memset(cs, 0, sizeof(*cs));
	cs->fw = fw;
	cs->kinds = kinds;
	cs->cls = calloc(PB_MAX_CLS_ENTRIES, sizeof(cs->cls[0]));
	if (cs->cls == NULL)
		return -1;
	cs->feature = pb_fwd_add_feature(&fw->fwd, &component_feature,
					 table_alloc(0));
	return cs->feature < 0 ? -1 : 0;
}

struct pb_comp *
pb_components_find(const struct pb_components *cs, const char *name)
{
	const struct pb_comp_table *t = current(cs);

	for (unsigned int i = 0; i < t->count; i++)
		if (strcmp(t->comps[i].name, name) == 0)
			return (struct pb_comp *)&t->comps[i];
	return NULL;
}

int
pb_components_update(struct pb_components *cs,
		     int (*edit)(struct pb_comp_table *t, void *arg,
				 struct pb_result *res),
		     void *arg, struct pb_result *res)
{
	const struct pb_comp_table *old = current(cs);
	struct pb_comp_table *t = table_alloc(old->count + 1);

	if (t == NULL)
		return pb_fail(res, "out of memory");
	memcpy(t->comps, old->comps, old->count * sizeof(old->comps[0]));
	t->count = old->count;
	for (unsigned int i = 0; i < t->count; i++)
		t->comps[i].l2 = NULL;        /* the old table's, rebuilt below */
	if (edit(t, arg, res) < 0) {
		free(t);
		return -1;
	}
	for (unsigned int i = 0; i < t->count; i++)
		if (pb_classify_is(&t->comps[i]) &&
		    pb_classify_compile(cs, &t->comps[i]) < 0) {
			free_components(t);
			return pb_fail(res, "out of memory");
		}
	return pb_forwarder_change(cs->fw, cs->feature, t, res);
}

void
pb_components_fini(struct pb_components *cs)
{
	struct pb_comp_table *t = (struct pb_comp_table *)current(cs);

	/* the workers have stopped: nothing reads the stats any more */
	for (unsigned int i = 0; t != NULL && i < t->count; i++) {
		free(t->comps[i].stats);
		t->comps[i].stats = NULL;
	}
	free(cs->cls);
	cs->cls = NULL;
}

/* ---- commands ------------------------------------------------------- */

static const struct pb_comp_kind *
find_kind(const struct pb_components *cs, const char *name)
{
	for (unsigned int i = 0; cs->kinds[i] != NULL; i++)
		if (strcmp(cs->kinds[i]->name, name) == 0)
			return cs->kinds[i];
	return NULL;
}

static int
fail_kind(const struct pb_components *cs, const char *type,
	  struct pb_result *res)
{
	char names[128] = "";

	for (unsigned int i = 0; cs->kinds[i] != NULL; i++)
		snprintf(names + strlen(names), sizeof(names) - strlen(names),
			 "%s%s", i == 0 ? "" : (cs->kinds[i + 1] ? ", " : " or "),
			 cs->kinds[i]->name);
	return pb_fail(res, "unknown component type '%s': this process runs "
		       "%s", type, names);
}

static int
fail_lcore(const struct pb_fwd *f, unsigned int lcore, struct pb_result *res)
{
	char ids[128] = "";

	for (unsigned int i = 0; i < f->nb_workers; i++)
		snprintf(ids + strlen(ids), sizeof(ids) - strlen(ids), "%s%u",
			 i == 0 ? "" : ", ", f->workers[i].lcore);
	return pb_fail(res, "lcore %u is not a worker lcore of this process "
		       "(its workers run on %s)", lcore, ids);
}

static int
arg_name(json_t *args, const char **name, struct pb_result *res)
{
	*name = NULL;
	if (pb_arg_string(args, "name", name, res) < 0)
		return -1;
	if (*name == NULL)
		return pb_fail(res, "'name' is missing: which component?");
	if (**name == '\0' || strlen(*name) >= PB_COMP_NAMESIZE ||
	    strpbrk(*name, " \t\n/;") != NULL)
		return pb_fail(res, "component name '%.80s' must be 1 to %d "
			       "characters, without spaces, '/' or ';'", *name,
			       PB_COMP_NAMESIZE - 1);
	return 0;
}

static struct pb_comp *
arg_comp(struct pb_components *cs, json_t *args, struct pb_result *res)
{
	const char *name;
	struct pb_comp *c;

	if (arg_name(args, &name, res) < 0)
		return NULL;
	c = pb_components_find(cs, name);
	if (c == NULL)
		pb_fail(res, "no component named '%s'", name);
	return c;
}

struct start_args {
	struct pb_comp comp;
};

static int
edit_append(struct pb_comp_table *t, void *arg, struct pb_result *res)
{
	(void)res;
	t->comps[t->count++] = *(struct pb_comp *)arg;
	return 0;
}

static int
cmd_component_start(void *ctx, json_t *args, struct pb_result *res)
{
	struct pb_components *cs = ctx;
	const char *name, *type = NULL;
	struct pb_comp c = { 0 };
	unsigned int lcore;
	int worker;

	if (pb_args_check_keys(args, "name core type", "component_start",
			       res) < 0 || arg_name(args, &name, res) < 0 ||
	    pb_arg_uint(args, "core", 0, RTE_MAX_LCORE - 1, &lcore, res) < 0 ||
	    pb_arg_string(args, "type", &type, res) < 0)
		return -1;
	if (json_object_get(args, "core") == NULL || type == NULL)
		return pb_fail(res, "component start needs a name, a core "
			       "(lcore id) and a type");
	c.kind = find_kind(cs, type);
	if (c.kind == NULL)
		return fail_kind(cs, type, res);
	worker = pb_fwd_worker_of_lcore(&cs->fw->fwd, lcore);
	if (worker < 0)
		return fail_lcore(&cs->fw->fwd, lcore, res);
	if (pb_components_find(cs, name) != NULL)
		return pb_fail(res, "a component named '%s' is running already",
			       name);
	if (current(cs)->count == PB_MAX_COMPONENTS)
		return pb_fail(res, "this process runs %d components, the most "
			       "it can", PB_MAX_COMPONENTS);
	snprintf(c.name, sizeof(c.name), "%s", name);
	c.lcore = lcore;
	c.worker = (unsigned int)worker;
	c.pool = cs->fw->env.pool;
	c.stats = calloc(1, sizeof(*c.stats));
	if (c.stats == NULL)
		return pb_fail(res, "out of memory");
	if (pb_components_update(cs, edit_append, &c, res) < 0) {
		free(c.stats);
		return -1;
	}
	return 0;
}

static int
edit_remove(struct pb_comp_table *t, void *arg, struct pb_result *res)
{
	const char *name = arg;
	unsigned int n = 0;

	(void)res;
	for (unsigned int i = 0; i < t->count; i++)
		if (strcmp(t->comps[i].name, name) != 0)
			t->comps[n++] = t->comps[i];
	t->count = n;
	return 0;
}

static int
cmd_component_stop(void *ctx, json_t *args, struct pb_result *res)
{
	struct pb_components *cs = ctx;
	struct pb_comp_stats *stats;
	struct pb_comp *c;

	if (pb_args_check_keys(args, "name", "component_stop", res) < 0)
		return -1;
	c = arg_comp(cs, args, res);
	if (c == NULL)
		return -1;
	stats = c->stats;
	if (pb_components_update(cs, edit_remove, c->name, res) < 0)
		return -1;
	free(stats);    /* published without it: no worker reads it now */
	return 0;
}

/* ---- ports of components ------------------------------------------- */

struct port_change {
	const char *name;
	enum pb_dir dir;
	struct pb_port *port;
	struct pb_vlan vlan;
	bool add;
	bool vlan_given;
};

static const char *
dir_name(enum pb_dir dir)
{
	return dir == PB_RX ? "rx" : "tx";
}

/* Another component reading (writing) p already, or NULL. */
static const struct pb_comp *
other_user(const struct pb_comp_table *t, const char *name,
	   const struct pb_port *p, enum pb_dir dir)
{
	for (unsigned int i = 0; i < t->count; i++) {
		const struct pb_comp *c = &t->comps[i];

		if (strcmp(c->name, name) == 0)
			continue;
		if (dir == PB_RX ? port_index(c->rx, c->nb_rx, p) >= 0
				 : port_index(c->tx, c->nb_tx, p) >= 0)
			return c;
	}
	return NULL;
}

static int
edit_port(struct pb_comp_table *t, void *arg, struct pb_result *res)
{
	struct port_change *pc = arg;
	struct pb_comp *c = NULL;
	const struct pb_comp *other;
	struct pb_comp_port *ports;
	unsigned int *n, max;
	int at;

	for (unsigned int i = 0; i < t->count && c == NULL; i++)
		if (strcmp(t->comps[i].name, pc->name) == 0)
			c = &t->comps[i];
	ports = pc->dir == PB_RX ? c->rx : c->tx;
	n = pc->dir == PB_RX ? &c->nb_rx : &c->nb_tx;
	max = pc->dir == PB_RX ? c->kind->max_rx : c->kind->max_tx;
	at = port_index(ports, *n, pc->port);
	if (!pc->add) {
		if (at < 0)
			return pb_fail(res, "%s is not an %s port of %s",
				       pc->port->name, dir_name(pc->dir), c->name);
		memmove(&ports[at], &ports[at + 1],
			(*n - (unsigned int)at - 1) * sizeof(ports[0]));
		(*n)--;
		return 0;
	}
	if (at >= 0) {
		/* SPP: adding again with a tag updates the tag */
		if (!pc->vlan_given)
			return pb_fail(res, "%s is already an %s port of %s",
				       pc->port->name, dir_name(pc->dir),
				       c->name);
		ports[at].vlan = pc->vlan;
		return 0;
	}
	other = other_user(t, pc->name, pc->port, pc->dir);
	if (other != NULL)
		return pb_fail(res, "%s is already an %s port of %s",
			       pc->port->name, dir_name(pc->dir), other->name);
	if (*n == max)
		return pb_fail(res, "a %s component has at most %u %s port%s",
			       c->kind->name, max, dir_name(pc->dir),
			       max == 1 ? "" : "s");
	ports[*n].port = pc->port;
	ports[*n].vlan = pc->vlan;
	(*n)++;
	return 0;
}

static int
arg_vlan(json_t *args, struct port_change *pc, struct pb_result *res)
{
	json_t *v = json_object_get(args, "vlan");
	const char *op = "none";
	unsigned int vid = 0, pcp = 0;

	pc->vlan_given = v != NULL;
	if (v == NULL)
		return 0;
	if (!json_is_object(v))
		return pb_fail(res, "'vlan' must be an object: {\"operation\": "
			       "\"add\"|\"del\"|\"none\", \"id\": N, \"pcp\": N}");
	if (pb_args_check_keys(v, "operation id pcp", "vlan", res) < 0 ||
	    pb_arg_string(v, "operation", &op, res) < 0)
		return -1;
	if (strcmp(op, "add") == 0) {
		if (json_object_get(v, "id") == NULL ||
		    json_object_get(v, "pcp") == NULL)
			return pb_fail(res, "add_vlantag needs a VLAN id (0-4095) "
				       "and a PCP (0-7)");
		if (pb_arg_uint(v, "id", 0, PB_VLAN_MAX, &vid, res) < 0 ||
		    pb_arg_uint(v, "pcp", 0, PB_PCP_MAX, &pcp, res) < 0)
			return -1;
		pc->vlan = (struct pb_vlan){ PB_VLAN_ADD, (uint16_t)vid,
					     (uint8_t)pcp };
	} else if (strcmp(op, "del") == 0) {
		pc->vlan.op = PB_VLAN_DEL;
	} else if (strcmp(op, "none") != 0) {
		return pb_fail(res, "vlan operation must be \"add\", \"del\" "
			       "or \"none\", not '%.40s'", op);
	}
	return 0;
}

static int
arg_dir(json_t *args, enum pb_dir *dir, struct pb_result *res)
{
	const char *d = NULL;

	if (pb_arg_string(args, "dir", &d, res) < 0)
		return -1;
	if (d == NULL || (strcmp(d, "rx") != 0 && strcmp(d, "tx") != 0))
		return pb_fail(res, "'dir' must be \"rx\" or \"tx\"");
	*dir = strcmp(d, "rx") == 0 ? PB_RX : PB_TX;
	return 0;
}

/* The port args name, opened with the other keys as its options if this
 * process has not added it yet (*opened says so). */
static struct pb_port *
open_port(struct pb_components *cs, json_t *args, bool *opened,
	  struct pb_result *res)
{
	struct pb_forwarder *fw = cs->fw;
	struct pb_uid uid;
	struct pb_port *p;
	json_t *opts;
	int ret;

	*opened = false;
	if (pb_arg_uid(args, "port", &uid, res) < 0)
		return NULL;
	p = pb_forwarder_find(fw, &uid);
	if (p != NULL)
		return p;
	opts = json_deep_copy(args);
	for (const char *k = "port\0dir\0name\0vlan\0"; *k; k += strlen(k) + 1)
		json_object_del(opts, k);
	ret = pb_forwarder_insert(fw, &uid, opts, res);
	json_decref(opts);
	if (ret < 0)
		return NULL;
	*opened = true;
	fw->ports[fw->nb_ports - 1]->for_components = true;
	return fw->ports[fw->nb_ports - 1];
}

static int
change_port(void *ctx, json_t *args, bool add, struct pb_result *res)
{
	struct pb_components *cs = ctx;
	struct port_change pc = { .add = add };
	struct pb_comp *c = arg_comp(cs, args, res);
	bool opened = false;

	if (c == NULL || arg_dir(args, &pc.dir, res) < 0 ||
	    (add && arg_vlan(args, &pc, res) < 0))
		return -1;
	pc.name = c->name;
	if (add) {
		pc.port = open_port(cs, args, &opened, res);
	} else {
		struct pb_uid uid;

		if (pb_args_check_keys(args, "port dir name", "port_del",
				       res) < 0 ||
		    pb_arg_uid(args, "port", &uid, res) < 0)
			return -1;
		pc.port = pb_forwarder_find(cs->fw, &uid);
		if (pc.port == NULL)
			return pb_fail(res, "%s is not a port of %s",
				       json_string_value(json_object_get(args,
								"port")),
				       c->name);
	}
	if (pc.port == NULL)
		return -1;
	if (pb_components_update(cs, edit_port, &pc, res) < 0) {
		if (opened)   /* as it was: not added */
			pb_forwarder_remove(cs->fw, pc.port);
		return -1;
	}
	/* a file, socket or interface no component uses is closed (a pcap
	 * file is written out); another port add opens it again */
	if (!add && pc.port->for_components &&
	    !pb_forwarder_in_components(cs->fw, pc.port))
		pb_forwarder_remove(cs->fw, pc.port);
	return 0;
}

static int
cmd_port_add(void *ctx, json_t *args, struct pb_result *res)
{
	return change_port(ctx, args, true, res);
}

static int
cmd_port_del(void *ctx, json_t *args, struct pb_result *res)
{
	return change_port(ctx, args, false, res);
}

const struct pb_cmd_def pb_component_cmds[] = {
	{ "component_start", cmd_component_start, NULL },
	{ "component_stop", cmd_component_stop, NULL },
	{ "port_add", cmd_port_add, NULL },
	{ "port_del", cmd_port_del, NULL },
	{ NULL, NULL, NULL },
};

/* ---- status, in SPP's shape ---------------------------------------- */

static json_t *
ports_json(const struct pb_comp_port *ports, unsigned int n)
{
	json_t *a = json_array();

	for (unsigned int i = 0; i < n; i++)
		json_array_append_new(a, json_pack("{s:s, s:{s:s, s:i, s:i}}",
			"port", ports[i].port->name, "vlan", "operation",
			pb_vlan_op_name(ports[i].vlan.op), "id",
			ports[i].vlan.vid, "pcp", ports[i].vlan.pcp));
	return a;
}

static json_t *
comp_json(const struct pb_comp *c)
{
	json_t *o = json_pack("{s:i, s:s, s:s, s:o, s:o}", "core", c->lcore,
			      "name", c->name, "type", c->kind->name,
			      "rx_port", ports_json(c->rx, c->nb_rx),
			      "tx_port", ports_json(c->tx, c->nb_tx));
	const struct pb_comp_stats *s = c->stats;

	json_object_set_new(o, "counters", json_pack(
		"{s:I, s:I, s:I, s:I}", "misses", (json_int_t)s->misses,
		"flooded", (json_int_t)s->flooded,
		"vlan_drops", (json_int_t)s->vlan_drops,
		"copy_drops", (json_int_t)s->copy_drops));
	if (c->kind == &pb_mirror_kind)
		json_object_set_new(o, "copy", json_string(
			s->deep_copy ? "deep" : "clone"));
	json_object_set_new(o, "running", json_boolean(comp_ready(c)));
	return o;
}

/* SPP's "phy", "vhost" and "ring" lists: "N", or "N nq Q". */
static void
spp_port_lists(const struct pb_forwarder *fw, json_t *info)
{
	static const char *const kinds[] = { "phy", "vhost", "ring" };

	for (unsigned int k = 0; k < RTE_DIM(kinds); k++) {
		json_t *list = json_array();
		size_t len = strlen(kinds[k]);

		for (unsigned int i = 0; i < fw->nb_ports; i++) {
			const char *name = fw->ports[i]->name;

			const char *index = name + len + 1, *nq;

			if (strncmp(name, kinds[k], len) != 0 ||
			    name[len] != ':')
				continue;
			nq = strstr(index, "nq");
			json_array_append_new(list, nq == NULL ?
				json_string(index) :
				json_sprintf("%.*s nq %s", (int)(nq - index),
					     index, nq + 2));
		}
		json_object_set_new(info, kinds[k], list);
	}
}

json_t *
pb_components_status(const struct pb_components *cs)
{
	const struct pb_comp_table *t = current(cs);
	const struct pb_fwd *f = &cs->fw->fwd;
	json_t *info = pb_forwarder_status(cs->fw), *cores = json_array();
	json_t *cls;
	char mac[PB_MAC_STRLEN], value[32];
	bool has_classifier = false;

	json_object_set_new(info, "client-id", json_integer(cs->fw->env.client));
	pb_fwd_lcores_json(f, info);
	spp_port_lists(cs->fw, info);
	for (unsigned int i = 0; i < t->count; i++)
		json_array_append_new(cores, comp_json(&t->comps[i]));
	for (unsigned int w = 0; w < f->nb_workers; w++) {
		bool used = false;

		for (unsigned int i = 0; i < t->count; i++)
			used |= t->comps[i].worker == w;
		if (!used)
			json_array_append_new(cores, json_pack("{s:i, s:s}",
				"core", f->workers[w].lcore, "type", "unuse"));
	}
	json_object_set_new(info, "core", cores);
	for (unsigned int k = 0; cs->kinds[k] != NULL; k++)
		has_classifier |= cs->kinds[k] == &pb_classifier_kind;
	if (!has_classifier)
		return info;
	cls = json_array();
	for (unsigned int i = 0; i < cs->nb_cls; i++) {
		const struct pb_cls_entry *e = &cs->cls[i];
		char port[PB_UID_STRLEN];
		const char *m = e->is_default ? "default" :
						pb_mac_str(e->mac, mac);

		if (e->vlan == PB_UNTAGGED)
			snprintf(value, sizeof(value), "%s", m);
		else
			snprintf(value, sizeof(value), "%u/%s", e->vlan, m);
		json_array_append_new(cls, json_pack("{s:s, s:s, s:s}", "type",
			e->vlan == PB_UNTAGGED ? "mac" : "vlan", "value", value,
			"port", pb_uid_str(&e->port, port)));
	}
	json_object_set_new(info, "classifier_table", cls);
	return info;
}
