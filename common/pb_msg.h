/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The controller protocol's messages: one JSON object per line.
 *
 *   request  {"id": 7, "cmd": "patch", "args": {"src": "ring:0", "dst": "vhost:1"}}
 *   reply    {"id": 7, "ok": true, "result": {...}}
 *            {"id": 7, "ok": false, "error": "a sentence a person understands"}
 *
 * The one parser of requests and the one formatter of replies, shared by
 * the primary and every secondary. Pure C + jansson, no DPDK.
 */
#ifndef PB_MSG_H
#define PB_MSG_H

#include <stddef.h>
#include <jansson.h>

#include "pb_uid.h"

/* Longest request line a process accepts, without its '\n'. */
#define PB_MSG_MAX_LINE (1024 * 1024)

/* What a command handler produced: a result, or a sentence saying why not. */
struct pb_result {
	json_t *value;
	char *error;
};

typedef int (*pb_cmd_fn)(void *ctx, json_t *args, struct pb_result *res);

struct pb_cmd_def {
	const char *name;
	pb_cmd_fn fn;
	/*
	 * Space-separated argument names the command takes; "" for none.
	 * NULL: the handler checks its arguments itself (e.g. add, whose
	 * options depend on the port type).
	 */
	const char *args;
};

/* Record a failure; always returns -1 so handlers can `return pb_fail(...)`. */
int pb_fail(struct pb_result *res, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Record success; value is stolen, NULL means an empty object. */
int pb_ok(struct pb_result *res, json_t *value);

/* A table of commands and the context its handlers get. */
struct pb_cmd_set {
	const struct pb_cmd_def *cmds;  /* ends with a NULL name */
	void *ctx;
};

/*
 * Handle one request line against a process's command sets (searched in
 * order) and return the reply line (malloc'd, without '\n'). Never fails:
 * bad input gets an error reply.
 */
char *pb_handle_line(const struct pb_cmd_set *sets, unsigned int nb_sets,
		     const char *line, size_t len);

/* An error reply to a request that could not be read at all (id null). */
char *pb_reply_error_line(const char *msg);

/* Argument helpers: each fails with a sentence naming the argument. */
int pb_args_check_keys(json_t *args, const char *allowed, const char *what,
		       struct pb_result *res);
int pb_arg_uid(json_t *args, const char *key, struct pb_uid *uid,
	       struct pb_result *res);
/* Optional arguments: *out keeps its default when the key is absent. */
int pb_arg_string(json_t *args, const char *key, const char **out,
		  struct pb_result *res);
int pb_arg_bool(json_t *args, const char *key, int *out,
		struct pb_result *res);
int pb_arg_uint(json_t *args, const char *key, unsigned int min,
		unsigned int max, unsigned int *out, struct pb_result *res);

#endif
