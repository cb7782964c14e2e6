/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Components: SPP's vf and mirror workers. A component has a name, runs
 * on a worker lcore (several may share one), reads its rx ports and writes
 * its tx ports, each with a VLAN op. What it does with the packets is its
 * kind's burst function: forward and merge (pb_merge.c), classifier
 * (pb_classify.c), mirror (pb_mirror.c).
 *
 * All of a process's components are one feature of the forwarding engine:
 * an immutable table of them, rebuilt and published on every change, so a
 * change never stops the others' traffic.
 */
#ifndef PB_COMPONENT_H
#define PB_COMPONENT_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "pb_forwarder.h"
#include "pb_l2.h"
#include "pb_vlan.h"

#define PB_COMP_NAMESIZE 64
#define PB_COMP_MAX_PORTS 64     /* a classifier's flood set is a uint64 */
#define PB_MAX_COMPONENTS 64

struct pb_comp;

struct pb_comp_kind {
	const char *name;          /* SPP's type: forward, merge, ... */
	unsigned int max_rx, max_tx;
	/* Can it move packets with the ports it has? */
	bool (*ready)(const struct pb_comp *c);
	/* One burst from each of its rx ports; packets moved. */
	unsigned int (*burst)(struct pb_comp *c);
};

struct pb_comp_port {
	struct pb_port *port;
	struct pb_vlan vlan;
};

/* What a component counts; it lives as long as the component does, across
 * the tables that carry it. Written by its worker only. */
struct pb_comp_stats {
	uint64_t misses;        /* classifier: no entry, no default */
	uint64_t flooded;       /* classifier: broadcast/multicast copies */
	uint64_t vlan_drops;    /* a tag could not be pushed */
	uint64_t copy_drops;    /* mirror: no mbuf for the copy */
	unsigned int next_rx;   /* merge: whose turn it is to go first */
	bool deep_copy;         /* mirror: copy bytes instead of cloning */
};

struct pb_comp {
	char name[PB_COMP_NAMESIZE];
	const struct pb_comp_kind *kind;
	unsigned int lcore;
	unsigned int worker;
	unsigned int nb_rx, nb_tx;
	struct pb_comp_port rx[PB_COMP_MAX_PORTS];
	struct pb_comp_port tx[PB_COMP_MAX_PORTS];
	struct pb_comp_stats *stats;
	struct pb_l2_table *l2;   /* classifier: its entries, by tx index */
	struct rte_mempool *pool; /* for copies */
};

struct pb_comp_table {
	unsigned int count;
	struct pb_comp comps[];
};

/* Helpers for the kinds' burst functions. */
uint16_t pb_comp_rx(struct pb_comp *c, unsigned int i, struct rte_mbuf **pkts);
void pb_comp_tx(struct pb_comp *c, unsigned int i, struct rte_mbuf **pkts,
		uint16_t n);

/* A classifier entry: (VLAN or PB_UNTAGGED, MAC or default) -> port. */
struct pb_cls_entry {
	unsigned int vlan;
	bool is_default;
	uint64_t mac;
	struct pb_uid port;
};

#define PB_MAX_CLS_ENTRIES 4096

struct pb_components {
	struct pb_forwarder *fw;
	int feature;
	const struct pb_comp_kind *const *kinds;   /* NULL-terminated */
	struct pb_cls_entry *cls;                  /* process-wide, as SPP's */
	unsigned int nb_cls;
};

int pb_components_init(struct pb_components *cs, struct pb_forwarder *fw,
		       const struct pb_comp_kind *const *kinds);
void pb_components_fini(struct pb_components *cs);

/* SPP's status "info": client-id, phy, vhost, ring, master-lcore, core,
 * classifier_table (when the process has classifiers); plus ports and
 * their stats and each component's counters. */
json_t *pb_components_status(const struct pb_components *cs);

/* Build the classifier's table for c from the entries; -1 if no memory. */
int pb_classify_compile(const struct pb_components *cs, struct pb_comp *c);
bool pb_classify_is(const struct pb_comp *c);

extern const struct pb_comp_kind pb_forward_kind, pb_merge_kind,
	pb_classifier_kind, pb_mirror_kind;

/* component_start, component_stop, port_add, port_del */
extern const struct pb_cmd_def pb_component_cmds[];
/* classifier_add, classifier_del */
extern const struct pb_cmd_def pb_classify_cmds[];
/* mirror_copy */
extern const struct pb_cmd_def pb_mirror_cmds[];

/* For the kinds' commands: publish a copy of the table changed by
 * edit(copy, arg), with every classifier recompiled. */
int pb_components_update(struct pb_components *cs,
			 int (*edit)(struct pb_comp_table *t, void *arg,
				     struct pb_result *res),
			 void *arg, struct pb_result *res);
struct pb_comp *pb_components_find(const struct pb_components *cs,
				   const char *name);

#endif
