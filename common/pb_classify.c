/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The classifier: one rx port, its packets steered to its tx ports by
 * (VLAN, destination MAC), as SPP's spp_vf does:
 *  - an exact (VLAN, MAC) entry sends there ("mac" entries are the
 *    untagged frames' table);
 *  - else broadcast and multicast are flooded to every port with an entry
 *    for that VLAN, plus the untagged default if the frame is tagged;
 *  - else the VLAN's default, else (tagged frames) the untagged default;
 *  - else the packet is dropped and counted as a miss.
 * Entries belong to the process and name their tx port, not a classifier;
 * a classifier uses those naming one of its tx ports. Several MACs may
 * name one port (SPP allowed one).
 */
#include <stdlib.h>
#include <string.h>

#include "pb_component.h"

/* ---- the table, compiled for each classifier ----------------------- */

bool
pb_classify_is(const struct pb_comp *c)
{
	return c->kind == &pb_classifier_kind;
}

static int
tx_index(const struct pb_comp *c, const struct pb_uid *uid)
{
	for (unsigned int i = 0; i < c->nb_tx; i++)
		if (pb_uid_equal(&c->tx[i].port->uid, uid))
			return (int)i;
	return -1;
}

int
pb_classify_compile(const struct pb_components *cs, struct pb_comp *c)
{
	struct pb_l2_table *t = pb_l2_table_new(2 * cs->nb_cls + 2);

	if (t == NULL)
		return -1;
	for (unsigned int i = 0; i < cs->nb_cls; i++) {
		const struct pb_cls_entry *e = &cs->cls[i];
		int tx = tx_index(c, &e->port);

		if (tx < 0)
			continue;
		pb_l2_table_put(t, pb_l2_key(e->is_default ? PB_L2_DEFAULT :
					     PB_L2_MAC, e->vlan, e->mac),
				(uint64_t)tx, false);
		pb_l2_table_put(t, pb_l2_key(PB_L2_FLOOD, e->vlan, 0),
				1ULL << tx, true);
	}
	c->l2 = t;
	return 0;
}

/* ---- the hot path -------------------------------------------------- */

struct steer {
	struct rte_mbuf *out[PB_COMP_MAX_PORTS][PB_BURST];
	uint16_t nb_out[PB_COMP_MAX_PORTS];
	uint64_t used;           /* a bit per tx port with packets */
};

static inline void
steer_to(struct steer *s, unsigned int tx, struct rte_mbuf *m)
{
	s->out[tx][s->nb_out[tx]++] = m;
	s->used |= 1ULL << tx;
}

/* The frame to every port in set: the buffer is shared, not copied (a
 * port whose VLAN op changes it copies it first, see pb_vlan.h). */
static inline void
flood(struct pb_comp *c, struct steer *s, uint64_t set, struct rte_mbuf *m)
{
	rte_mbuf_refcnt_update(m, (int16_t)(__builtin_popcountll(set) - 1));
	c->stats->flooded += (uint64_t)__builtin_popcountll(set) - 1;
	for (; set != 0; set &= set - 1)
		steer_to(s, (unsigned int)__builtin_ctzll(set), m);
}

static inline void
classify_one(struct pb_comp *c, struct steer *s, struct rte_mbuf *m,
	     const uint64_t *general_default)
{
	const struct pb_l2_table *t = c->l2;
	const struct rte_ether_hdr *eh;
	unsigned int vlan = PB_UNTAGGED;
	uint64_t mac, v;

	if (unlikely(m->data_len < sizeof(*eh)))
		goto miss;
	eh = rte_pktmbuf_mtod(m, const struct rte_ether_hdr *);
	if (eh->ether_type == rte_cpu_to_be_16(RTE_ETHER_TYPE_VLAN) &&
	    m->data_len >= sizeof(*eh) + sizeof(struct rte_vlan_hdr))
		vlan = rte_be_to_cpu_16(((const struct rte_vlan_hdr *)
					 (eh + 1))->vlan_tci) & PB_VLAN_MAX;
	memcpy(&mac, eh, sizeof(mac));   /* dst MAC and 2 bytes of src */
	mac = rte_be_to_cpu_64(mac) >> 16;
	if (pb_l2_table_get(t, pb_l2_key(PB_L2_MAC, vlan, mac), &v)) {
		steer_to(s, (unsigned int)v, m);
		return;
	}
	if (pb_mac_is_multicast(mac)) {
		uint64_t set = 0;

		pb_l2_table_get(t, pb_l2_key(PB_L2_FLOOD, vlan, 0), &set);
		if (vlan != PB_UNTAGGED && general_default != NULL)
			set |= 1ULL << *general_default;
		if (set != 0) {
			flood(c, s, set, m);
			return;
		}
	} else if (pb_l2_table_get(t, pb_l2_key(PB_L2_DEFAULT, vlan, 0),
				   &v)) {
		steer_to(s, (unsigned int)v, m);
		return;
	} else if (vlan != PB_UNTAGGED && general_default != NULL) {
		steer_to(s, (unsigned int)*general_default, m);
		return;
	}
miss:
	c->stats->misses++;
	rte_pktmbuf_free(m);
}

static unsigned int
classify_burst(struct pb_comp *c)
{
	struct rte_mbuf *pkts[PB_BURST];
	struct steer s;
	uint64_t gd;
	const uint64_t *general_default = NULL;
	uint16_t n = pb_comp_rx(c, 0, pkts);

	if (n == 0)
		return 0;
	if (pb_l2_table_get(c->l2, pb_l2_key(PB_L2_DEFAULT, PB_UNTAGGED, 0),
			    &gd))
		general_default = &gd;
	s.used = 0;
	memset(s.nb_out, 0, c->nb_tx * sizeof(s.nb_out[0]));
	for (uint16_t i = 0; i < n; i++)
		classify_one(c, &s, pkts[i], general_default);
	for (uint64_t u = s.used; u != 0; u &= u - 1) {
		unsigned int tx = (unsigned int)__builtin_ctzll(u);

		pb_comp_tx(c, tx, s.out[tx], s.nb_out[tx]);
	}
	return n;
}

static bool
classify_ready(const struct pb_comp *c)
{
	return c->nb_rx == 1 && c->nb_tx >= 1 && c->l2 != NULL &&
	       c->l2->count > 0;
}

const struct pb_comp_kind pb_classifier_kind = {
	.name = "classifier",
	.max_rx = 1,
	.max_tx = PB_COMP_MAX_PORTS,
	.ready = classify_ready,
	.burst = classify_burst,
};

/* ---- commands: classifier_add, classifier_del ---------------------- */

static int
arg_entry(json_t *args, struct pb_cls_entry *e, struct pb_result *res)
{
	const char *type = NULL, *mac = NULL;
	char why[128];

	if (pb_args_check_keys(args, "type vlan mac port", "classifier entry",
			       res) < 0 ||
	    pb_arg_string(args, "type", &type, res) < 0 ||
	    pb_arg_string(args, "mac", &mac, res) < 0)
		return -1;
	if (type == NULL || (strcmp(type, "mac") && strcmp(type, "vlan")))
		return pb_fail(res, "'type' must be \"mac\" or \"vlan\"");
	e->vlan = PB_UNTAGGED;
	if (strcmp(type, "vlan") == 0) {
		if (json_object_get(args, "vlan") == NULL)
			return pb_fail(res, "a vlan entry needs a VLAN id "
				       "(0-4095)");
		if (pb_arg_uint(args, "vlan", 0, PB_VLAN_MAX, &e->vlan,
				res) < 0)
			return -1;
	} else if (json_object_get(args, "vlan") != NULL) {
		return pb_fail(res, "a mac entry takes no VLAN id (use type "
			       "vlan)");
	}
	if (mac == NULL)
		return pb_fail(res, "'mac' is missing: a MAC address or "
			       "\"default\"");
	e->is_default = strcmp(mac, "default") == 0;
	e->mac = 0;
	if (!e->is_default && pb_mac_parse(mac, &e->mac, why, sizeof(why)) < 0)
		return pb_fail(res, "MAC address '%.40s': %s", mac, why);
	return pb_arg_uid(args, "port", &e->port, res);
}

static int
find_entry(const struct pb_components *cs, const struct pb_cls_entry *e)
{
	for (unsigned int i = 0; i < cs->nb_cls; i++) {
		const struct pb_cls_entry *x = &cs->cls[i];

		if (x->vlan == e->vlan && x->is_default == e->is_default &&
		    x->mac == e->mac)
			return (int)i;
	}
	return -1;
}

static bool
is_classifier_tx(const struct pb_components *cs, const struct pb_uid *uid)
{
	const struct pb_comp_table *t = pb_fwd_table(&cs->fw->fwd, cs->feature);

	for (unsigned int i = 0; i < t->count; i++)
		if (pb_classify_is(&t->comps[i]) &&
		    tx_index(&t->comps[i], uid) >= 0)
			return true;
	return false;
}

static int
edit_nothing(struct pb_comp_table *t, void *arg, struct pb_result *res)
{
	(void)t, (void)arg, (void)res;
	return 0;     /* the classifiers are recompiled from the entries */
}

static const char *
entry_str(const struct pb_cls_entry *e, char *buf, size_t len)
{
	char mac[PB_MAC_STRLEN];
	const char *m = e->is_default ? "default" : pb_mac_str(e->mac, mac);

	if (e->vlan == PB_UNTAGGED)
		snprintf(buf, len, "mac %s", m);
	else
		snprintf(buf, len, "vlan %u %s", e->vlan, m);
	return buf;
}

static int
cmd_classifier_add(void *ctx, json_t *args, struct pb_result *res)
{
	struct pb_components *cs = ctx;
	struct pb_cls_entry e;
	char what[64], port[PB_UID_STRLEN];
	int at;

	if (arg_entry(args, &e, res) < 0)
		return -1;
	entry_str(&e, what, sizeof(what));
	if (!is_classifier_tx(cs, &e.port))
		return pb_fail(res, "%s is not a tx port of a classifier: add "
			       "it first (port add %s tx NAME)",
			       pb_uid_str(&e.port, port), port);
	at = find_entry(cs, &e);
	if (at >= 0)
		return pb_fail(res, "%s already goes to %s; delete that entry "
			       "first", what,
			       pb_uid_str(&cs->cls[at].port, port));
	if (cs->nb_cls == PB_MAX_CLS_ENTRIES)
		return pb_fail(res, "the classifier table holds %d entries, "
			       "the most it can", PB_MAX_CLS_ENTRIES);
	cs->cls[cs->nb_cls++] = e;
	if (pb_components_update(cs, edit_nothing, NULL, res) < 0) {
		cs->nb_cls--;
		return -1;
	}
	return 0;
}

static int
cmd_classifier_del(void *ctx, json_t *args, struct pb_result *res)
{
	struct pb_components *cs = ctx;
	struct pb_cls_entry e, removed;
	char what[64], port[PB_UID_STRLEN];
	int at;

	if (arg_entry(args, &e, res) < 0)
		return -1;
	at = find_entry(cs, &e);
	if (at < 0 || !pb_uid_equal(&cs->cls[at].port, &e.port))
		return pb_fail(res, "the classifier table has no %s -> %s",
			       entry_str(&e, what, sizeof(what)),
			       pb_uid_str(&e.port, port));
	removed = cs->cls[at];
	memmove(&cs->cls[at], &cs->cls[at + 1],
		(cs->nb_cls - (unsigned int)at - 1) * sizeof(cs->cls[0]));
	cs->nb_cls--;
	if (pb_components_update(cs, edit_nothing, NULL, res) < 0) {
		memmove(&cs->cls[at + 1], &cs->cls[at],
			(cs->nb_cls - (unsigned int)at) * sizeof(cs->cls[0]));
		cs->cls[at] = removed;
		cs->nb_cls++;
		return -1;
	}
	return 0;
}

const struct pb_cmd_def pb_classify_cmds[] = {
	{ "classifier_add", cmd_classifier_add, NULL },
	{ "classifier_del", cmd_classifier_del, NULL },
	{ NULL, NULL, NULL },
};
