/* SPDX-License-Identifier: BSD-3-Clause */
#include <stdio.h>
#include <string.h>

#include "pb_uid.h"

static const struct {
	const char *name;
	enum pb_port_type type;
} type_names[] = {
	{ "phy", PB_PORT_PHY },
	{ "ring", PB_PORT_RING },
	{ "vhost", PB_PORT_VHOST },
	{ "virtio", PB_PORT_VIRTIO },
	{ "pcap", PB_PORT_PCAP },
	{ "null", PB_PORT_NULL },
	{ "nullpmd", PB_PORT_NULL }, /* SPP's name for it */
	{ "tap", PB_PORT_TAP },
	{ "memif", PB_PORT_MEMIF },
	{ "shm", PB_PORT_SHM },
	{ "af_packet", PB_PORT_AFPACKET },
};

#define NB_TYPE_NAMES (sizeof(type_names) / sizeof(type_names[0]))

const char *
pb_port_type_name(enum pb_port_type type)
{
	for (size_t i = 0; i < NB_TYPE_NAMES; i++)
		if (type_names[i].type == type)
			return type_names[i].name;
	return "?";
}

static int
fail(const char **err, const char *msg)
{
	if (err != NULL)
		*err = msg;
	return -1;
}

/* Sentences about a port's index, then about a phy's queue number. */
static const char *const number_errors[2][4] = {
	{ "port index is missing after ':'",
	  "port index must be a decimal number",
	  "port index must not have leading zeros",
	  "port index is too large (at most 1023)" },
	{ "queue is missing after 'nq'",
	  "queue must be a decimal number",
	  "queue must not have leading zeros",
	  "queue is too large (at most 1023)" },
};

/* The decimal number at *p, at most max, no leading zeros; *p moves on. */
static int
parse_number(const char **p, unsigned long max, uint16_t *out, int is_queue,
	     const char **err)
{
	const char *const *why = number_errors[is_queue];
	size_t len = strspn(*p, "0123456789");
	unsigned long value = 0;

	if (len == 0)
		return fail(err, why[**p == '\0' ? 0 : 1]);
	if (**p == '0' && len > 1)
		return fail(err, why[2]);
	for (size_t k = 0; k < len; k++) {
		value = value * 10 + (unsigned long)((*p)[k] - '0');
		if (value > max)
			return fail(err, why[3]);
	}
	*out = (uint16_t)value;
	*p += len;
	return 0;
}

int
pb_uid_parse(const char *text, struct pb_uid *uid, const char **err)
{
	struct pb_uid parsed = { 0 };
	const char *colon;
	size_t type_len;
	const char *p;

	if (text == NULL)
		return fail(err, "port is missing");
	colon = strchr(text, ':');
	if (colon == NULL)
		return fail(err, "port must be written type:N, e.g. ring:0");
	type_len = (size_t)(colon - text);

	size_t i;
	for (i = 0; i < NB_TYPE_NAMES; i++)
		if (strlen(type_names[i].name) == type_len &&
		    strncmp(type_names[i].name, text, type_len) == 0)
			break;
	if (i == NB_TYPE_NAMES)
		return fail(err, "unknown port type (known: phy, ring, vhost, "
				 "virtio, pcap, null, tap, memif, shm, "
				 "af_packet)");

	p = colon + 1;
	if (parse_number(&p, PB_UID_MAX_INDEX, &parsed.index, 0, err) < 0)
		return -1;
	if (strncmp(p, "nq", 2) == 0) {
		if (type_names[i].type != PB_PORT_PHY)
			return fail(err, "only phy ports have queues (nq)");
		p += 2;
		if (parse_number(&p, PB_UID_MAX_QUEUE, &parsed.queue, 1, err) < 0)
			return -1;
	}
	if (*p != '\0')
		return fail(err, "port index must be a decimal number");
	parsed.type = type_names[i].type;
	*uid = parsed;
	return 0;
}

const char *
pb_uid_str(const struct pb_uid *uid, char buf[PB_UID_STRLEN])
{
	if (uid->queue != 0)
		snprintf(buf, PB_UID_STRLEN, "%s:%unq%u",
			 pb_port_type_name(uid->type), (unsigned int)uid->index,
			 (unsigned int)uid->queue);
	else
		snprintf(buf, PB_UID_STRLEN, "%s:%u",
			 pb_port_type_name(uid->type), (unsigned int)uid->index);
	return buf;
}

int
pb_uid_equal(const struct pb_uid *a, const struct pb_uid *b)
{
	return a->type == b->type && a->index == b->index &&
	       a->queue == b->queue;
}

int
pb_port_type_is_hotplug(enum pb_port_type type)
{
	return type != PB_PORT_PHY && type != PB_PORT_RING;
}
