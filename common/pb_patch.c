/* SPDX-License-Identifier: BSD-3-Clause */
#include <stdlib.h>
#include <string.h>

#include "pb_patch.h"

static struct pb_patch_table *
table_alloc(unsigned int count)
{
	struct pb_patch_table *t;

	t = malloc(sizeof(*t) + (size_t)count * sizeof(t->patches[0]));
	if (t != NULL)
		t->count = count;
	return t;
}

struct pb_patch_table *
pb_patch_table_new(void)
{
	return table_alloc(0);
}

const struct pb_patch *
pb_patch_find_src(const struct pb_patch_table *t, const struct pb_port *src)
{
	for (unsigned int i = 0; i < t->count; i++)
		if (t->patches[i].src == src)
			return &t->patches[i];
	return NULL;
}

unsigned int
pb_patch_count_dst(const struct pb_patch_table *t, const struct pb_port *dst)
{
	unsigned int n = 0;

	for (unsigned int i = 0; i < t->count; i++)
		n += (t->patches[i].dst == dst);
	return n;
}

struct pb_patch_table *
pb_patch_table_with(const struct pb_patch_table *old, struct pb_port *src,
		    struct pb_port *dst)
{
	const struct pb_patch *existing = pb_patch_find_src(old, src);
	struct pb_patch_table *t;

	t = table_alloc(old->count + (existing == NULL));
	if (t == NULL)
		return NULL;
	memcpy(t->patches, old->patches, old->count * sizeof(old->patches[0]));
	if (existing != NULL)
		t->patches[existing - old->patches].dst = dst;
	else
		t->patches[old->count] = (struct pb_patch){ src, dst };
	return t;
}

/* Copy old, keeping the patches for which drop() says no. */
static struct pb_patch_table *
table_filter(const struct pb_patch_table *old, const struct pb_port *port,
	     int (*drop)(const struct pb_patch *, const struct pb_port *))
{
	struct pb_patch_table *t = table_alloc(old->count);
	unsigned int n = 0;

	if (t == NULL)
		return NULL;
	for (unsigned int i = 0; i < old->count; i++)
		if (!drop(&old->patches[i], port))
			t->patches[n++] = old->patches[i];
	t->count = n;
	return t;
}

static int
touches(const struct pb_patch *p, const struct pb_port *port)
{
	return p->src == port || p->dst == port;
}

static int
reads(const struct pb_patch *p, const struct pb_port *port)
{
	return p->src == port;
}

struct pb_patch_table *
pb_patch_table_without_port(const struct pb_patch_table *old,
			    const struct pb_port *port)
{
	return table_filter(old, port, touches);
}

struct pb_patch_table *
pb_patch_table_without_src(const struct pb_patch_table *old,
			   const struct pb_port *src)
{
	return table_filter(old, src, reads);
}
