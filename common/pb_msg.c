/* SPDX-License-Identifier: BSD-3-Clause */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pb_msg.h"

int
pb_fail(struct pb_result *res, const char *fmt, ...)
{
	va_list ap;
	char *msg;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	free(res->error);
	json_decref(res->value);
	res->value = NULL;
	res->error = msg != NULL ? msg : strdup("out of memory");
	return -1;
}

int
pb_ok(struct pb_result *res, json_t *value)
{
	json_decref(res->value);
	res->value = value != NULL ? value : json_object();
	return 0;
}

static char *
dump_reply(json_t *reply)
{
	char *line = json_dumps(reply, JSON_COMPACT);

	json_decref(reply);
	return line;
}

/*
 * A message as a JSON string. It can quote the request's own bytes (a
 * parser error shows the text near the fault), which need not be UTF-8:
 * then every byte above ASCII becomes '?', so the reply is still sent.
 */
static json_t *
message_string(const char *msg)
{
	json_t *text = json_string(msg);
	char *ascii;

	if (text != NULL)
		return text;
	ascii = strdup(msg);
	if (ascii == NULL)
		return NULL;
	for (char *c = ascii; *c != '\0'; c++)
		if ((unsigned char)*c >= 0x80)
			*c = '?';
	text = json_string(ascii);
	free(ascii);
	return text;
}

static char *
reply_error(json_t *id, const char *msg)
{
	return dump_reply(json_pack("{s:O, s:b, s:o?}", "id", id, "ok", 0,
				    "error", message_string(msg)));
}

char *
pb_reply_error_line(const char *msg)
{
	return reply_error(json_null(), msg);
}

/* Is `key` one of the space-separated words in `list`? */
static int
word_in_list(const char *key, const char *list)
{
	size_t len = strlen(key);

	if (len == 0)
		return 0;
	for (const char *w = list; *w != '\0'; ) {
		size_t wlen = strcspn(w, " ");

		if (wlen == len && memcmp(w, key, len) == 0)
			return 1;
		w += wlen;
		w += strspn(w, " ");
	}
	return 0;
}

int
pb_args_check_keys(json_t *args, const char *allowed, const char *what,
		   struct pb_result *res)
{
	const char *key;
	json_t *value;

	json_object_foreach(args, key, value) {
		(void)value;
		if (word_in_list(key, allowed))
			continue;
		if (allowed[0] == '\0')
			return pb_fail(res, "%s takes no arguments, got '%s'",
				       what, key);
		return pb_fail(res, "unknown argument '%s' for %s (known: %s)",
			       key, what, allowed);
	}
	return 0;
}

int
pb_arg_uid(json_t *args, const char *key, struct pb_uid *uid,
	   struct pb_result *res)
{
	json_t *v = json_object_get(args, key);
	const char *err;

	if (v == NULL)
		return pb_fail(res, "argument '%s' is missing", key);
	if (!json_is_string(v))
		return pb_fail(res, "argument '%s' must be a port as a string, "
			       "e.g. \"ring:0\"", key);
	if (pb_uid_parse(json_string_value(v), uid, &err) < 0)
		return pb_fail(res, "bad port '%s' in '%s': %s",
			       json_string_value(v), key, err);
	return 0;
}

int
pb_arg_string(json_t *args, const char *key, const char **out,
	      struct pb_result *res)
{
	json_t *v = json_object_get(args, key);

	if (v == NULL)
		return 0;
	if (!json_is_string(v) || json_string_length(v) == 0)
		return pb_fail(res, "argument '%s' must be a non-empty string",
			       key);
	if (strlen(json_string_value(v)) != json_string_length(v))
		return pb_fail(res, "argument '%s' must not contain NUL", key);
	*out = json_string_value(v);
	return 0;
}

int
pb_arg_bool(json_t *args, const char *key, int *out, struct pb_result *res)
{
	json_t *v = json_object_get(args, key);

	if (v == NULL)
		return 0;
	if (!json_is_boolean(v))
		return pb_fail(res, "argument '%s' must be true or false", key);
	*out = json_is_true(v);
	return 0;
}

int
pb_arg_uint(json_t *args, const char *key, unsigned int min,
	    unsigned int max, unsigned int *out, struct pb_result *res)
{
	json_t *v = json_object_get(args, key);
	json_int_t n;

	if (v == NULL)
		return 0;
	if (!json_is_integer(v))
		return pb_fail(res, "argument '%s' must be an integer", key);
	n = json_integer_value(v);
	if (n < (json_int_t)min || n > (json_int_t)max)
		return pb_fail(res, "argument '%s' must be from %u to %u",
			       key, min, max);
	*out = (unsigned int)n;
	return 0;
}

static const struct pb_cmd_def *
find_cmd(const struct pb_cmd_set *sets, unsigned int nb_sets,
	 const char *name, void **ctx)
{
	for (unsigned int i = 0; i < nb_sets; i++)
		for (const struct pb_cmd_def *c = sets[i].cmds; c->name; c++)
			if (strcmp(c->name, name) == 0) {
				*ctx = sets[i].ctx;
				return c;
			}
	return NULL;
}

static int
fail_unknown_cmd(const struct pb_cmd_set *sets, unsigned int nb_sets,
		 const char *name, struct pb_result *res)
{
	size_t size = 0;
	char *known = NULL;
	FILE *out = open_memstream(&known, &size);
	const char *sep = "";

	for (unsigned int i = 0; out != NULL && i < nb_sets; i++)
		for (const struct pb_cmd_def *c = sets[i].cmds; c->name; c++) {
			fprintf(out, "%s%s", sep, c->name);
			sep = ", ";
		}
	if (out != NULL)
		fclose(out);
	pb_fail(res, "unknown command '%s' (known: %s)", name,
		known != NULL ? known : "?");
	free(known);
	return -1;
}

/*
 * Check the request's envelope and run its command. *id is set to the
 * request's id as soon as it is known so the reply can echo it.
 */
static int
run_request(const struct pb_cmd_set *sets, unsigned int nb_sets, json_t *req,
	    json_t **id, struct pb_result *res)
{
	const struct pb_cmd_def *def;
	void *ctx = NULL;
	json_t *cmd, *args;
	const char *key;
	json_t *value;
	int ret;

	if (!json_is_object(req))
		return pb_fail(res, "request must be a JSON object");
	if (json_object_get(req, "id") != NULL)
		*id = json_object_get(req, "id");
	json_object_foreach(req, key, value) {
		(void)value;
		if (strcmp(key, "id") && strcmp(key, "cmd") &&
		    strcmp(key, "args"))
			return pb_fail(res, "unknown field '%s' in request "
				       "(known: id, cmd, args)", key);
	}
	cmd = json_object_get(req, "cmd");
	if (cmd == NULL)
		return pb_fail(res, "request has no 'cmd'");
	if (!json_is_string(cmd))
		return pb_fail(res, "'cmd' must be a string");
	def = find_cmd(sets, nb_sets, json_string_value(cmd), &ctx);
	if (def == NULL)
		return fail_unknown_cmd(sets, nb_sets, json_string_value(cmd),
					res);

	args = json_object_get(req, "args");
	if (args == NULL || json_is_null(args))
		args = json_object();
	else if (json_is_object(args))
		json_incref(args);
	else
		return pb_fail(res, "'args' must be a JSON object");

	ret = 0;
	if (def->args != NULL)
		ret = pb_args_check_keys(args, def->args, def->name, res);
	if (ret == 0)
		ret = def->fn(ctx, args, res);
	json_decref(args);
	if (ret == 0 && res->value == NULL)
		pb_ok(res, NULL);
	if (ret != 0 && res->error == NULL)
		pb_fail(res, "%s failed", def->name);
	return ret;
}

char *
pb_handle_line(const struct pb_cmd_set *sets, unsigned int nb_sets,
	       const char *line, size_t len)
{
	struct pb_result res = { NULL, NULL };
	json_error_t jerr;
	json_t *req, *id = NULL;
	char *reply;

	req = json_loadb(line, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY,
			 &jerr);
	if (req == NULL) {
		pb_fail(&res, "request is not valid JSON: %s (column %d)",
			jerr.text, jerr.column);
	} else {
		run_request(sets, nb_sets, req, &id, &res);
	}
	if (id == NULL)
		id = json_null();
	if (res.error != NULL)
		reply = reply_error(id, res.error);
	else
		reply = dump_reply(json_pack("{s:O, s:b, s:O}", "id", id,
					     "ok", 1, "result", res.value));
	free(res.error);
	json_decref(res.value);
	json_decref(req);
	return reply;
}
