/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer target: one request line, as a process reads it off the wire,
 * through the shared parser (pb_handle_line), the argument helpers and the
 * patch tables the real commands build. Every line must get one reply that
 * is a JSON object with "id" and "ok" and, when not ok, a non-empty
 * "error"; a refused command must leave the table as it was.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pb_msg.h"
#include "pb_patch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Ports are opaque to patch tables: one dummy per UID is enough here. */
struct pb_port {
	struct pb_uid uid;
};

#define NB_PORTS (PB_PORT_TYPE_COUNT * 4)

struct panel {
	struct pb_port ports[NB_PORTS];
	struct pb_patch_table *table;
};

static struct pb_port *
port_of(struct panel *p, const struct pb_uid *uid, struct pb_result *res)
{
	if (uid->index >= 4) {
		pb_fail(res, "no port %u of that type here", uid->index);
		return NULL;
	}
	return &p->ports[uid->type * 4 + uid->index];
}

static int
replace(struct panel *p, struct pb_patch_table *t, struct pb_result *res)
{
	if (t == NULL)
		return pb_fail(res, "out of memory");
	free(p->table);
	p->table = t;
	return pb_ok(res, NULL);
}

static int
cmd_patch(void *ctx, json_t *args, struct pb_result *res)
{
	struct panel *p = ctx;
	struct pb_uid s, d;
	struct pb_port *src, *dst;

	if (pb_arg_uid(args, "src", &s, res) < 0 ||
	    pb_arg_uid(args, "dst", &d, res) < 0 ||
	    (src = port_of(p, &s, res)) == NULL ||
	    (dst = port_of(p, &d, res)) == NULL)
		return -1;
	return replace(p, pb_patch_table_with(p->table, src, dst), res);
}

static int
cmd_unpatch(void *ctx, json_t *args, struct pb_result *res)
{
	struct panel *p = ctx;
	struct pb_uid s;
	struct pb_port *src;

	if (pb_arg_uid(args, "src", &s, res) < 0 ||
	    (src = port_of(p, &s, res)) == NULL)
		return -1;
	if (pb_patch_find_src(p->table, src) == NULL)
		return pb_fail(res, "no patch from that port");
	return replace(p, pb_patch_table_without_src(p->table, src), res);
}

/* add's options depend on the port type: it checks its own keys. */
static int
cmd_add(void *ctx, json_t *args, struct pb_result *res)
{
	struct panel *p = ctx;
	struct pb_uid u;
	struct pb_port *port;
	const char *path = NULL;
	unsigned int queues = 1;
	int client = 0;

	if (pb_arg_uid(args, "port", &u, res) < 0 ||
	    pb_args_check_keys(args, "port path queues client", "add", res) < 0 ||
	    pb_arg_string(args, "path", &path, res) < 0 ||
	    pb_arg_uint(args, "queues", 1, 8, &queues, res) < 0 ||
	    pb_arg_bool(args, "client", &client, res) < 0 ||
	    (port = port_of(p, &u, res)) == NULL)
		return -1;
	return replace(p, pb_patch_table_without_port(p->table, port), res);
}

static int
cmd_status(void *ctx, json_t *args, struct pb_result *res)
{
	struct panel *p = ctx;
	json_t *list = json_array();
	char a[PB_UID_STRLEN], b[PB_UID_STRLEN];

	(void)args;
	for (unsigned int i = 0; i < p->table->count; i++)
		json_array_append_new(list, json_pack("{s:s, s:s}",
			"src", pb_uid_str(&p->table->patches[i].src->uid, a),
			"dst", pb_uid_str(&p->table->patches[i].dst->uid, b)));
	return pb_ok(res, json_pack("{s:o}", "patches", list));
}

static const struct pb_cmd_def cmds[] = {
	{ "patch", cmd_patch, "src dst" },
	{ "unpatch", cmd_unpatch, "src" },
	{ "add", cmd_add, NULL },
	{ "status", cmd_status, "" },
	{ NULL, NULL, NULL },
};

static struct panel panel;

static void
check_reply(const char *reply, int *ok)
{
	json_t *j = json_loads(reply, 0, NULL);
	json_t *okv, *err;

	if (j == NULL || !json_is_object(j) || json_object_get(j, "id") == NULL)
		abort();
	okv = json_object_get(j, "ok");
	if (!json_is_boolean(okv))
		abort();
	*ok = json_is_true(okv);
	err = json_object_get(j, "error");
	if (!*ok && (!json_is_string(err) || json_string_length(err) == 0))
		abort();
	json_decref(j);
}

/* Each input starts from the same panel: ring:0 -> vhost:1 patched. */
static void
fresh_panel(void)
{
	struct pb_patch_table *empty;

	for (unsigned int i = 0; i < NB_PORTS; i++) {
		panel.ports[i].uid.type = (enum pb_port_type)(i / 4);
		panel.ports[i].uid.index = (uint16_t)(i % 4);
	}
	empty = pb_patch_table_new();
	panel.table = empty == NULL ? NULL : pb_patch_table_with(empty,
		&panel.ports[PB_PORT_RING * 4], &panel.ports[PB_PORT_VHOST * 4 + 1]);
	free(empty);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct pb_cmd_set sets[] = { { cmds, &panel } };
	struct pb_patch_table *before;
	char *reply;
	int ok;

	fresh_panel();
	if (panel.table == NULL)
		return 0;
	before = panel.table;
	reply = pb_handle_line(sets, 1, (const char *)data, size);
	if (reply == NULL || strchr(reply, '\n') != NULL)
		abort();                    /* one reply, one line */
	check_reply(reply, &ok);
	if (!ok && panel.table != before)
		abort();                    /* refused, yet changed */
	free(reply);
	free(panel.table);
	return 0;
}
