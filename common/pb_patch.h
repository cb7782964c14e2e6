/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Patch tables: the immutable list of (src -> dst) pairs a worker forwards.
 *
 * A table is never changed once published. Every change builds a new one
 * from the old; the forwarding engine publishes it and frees the old table
 * once the worker has passed a quiescent state (see pb_fwd.h).
 * Pure C, no DPDK: ports are opaque here.
 */
#ifndef PB_PATCH_H
#define PB_PATCH_H

struct pb_port;

struct pb_patch {
	struct pb_port *src;
	struct pb_port *dst;
};

struct pb_patch_table {
	unsigned int count;
	struct pb_patch patches[];
};

/* An empty table. NULL on allocation failure, as for every builder. */
struct pb_patch_table *pb_patch_table_new(void);

/* old plus src -> dst; an existing patch from src is replaced in place. */
struct pb_patch_table *pb_patch_table_with(const struct pb_patch_table *old,
					   struct pb_port *src,
					   struct pb_port *dst);

/* old without any patch that reads from or writes to port. */
struct pb_patch_table *
pb_patch_table_without_port(const struct pb_patch_table *old,
			    const struct pb_port *port);

/* old without the patch whose src is src. */
struct pb_patch_table *
pb_patch_table_without_src(const struct pb_patch_table *old,
			   const struct pb_port *src);

/* The patch reading from src, or NULL. */
const struct pb_patch *pb_patch_find_src(const struct pb_patch_table *t,
					 const struct pb_port *src);

/* How many patches write to dst. */
unsigned int pb_patch_count_dst(const struct pb_patch_table *t,
				const struct pb_port *dst);

#endif
