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

int
pb_uid_parse(const char *text, struct pb_uid *uid, const char **err)
{
	const char *colon;
	size_t type_len;
	unsigned long index = 0;
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
	if (*p == '\0')
		return fail(err, "port index is missing after ':'");
	if (p[strspn(p, "0123456789")] != '\0')
		return fail(err, "port index must be a decimal number");
	if (p[0] == '0' && p[1] != '\0')
		return fail(err, "port index must not have leading zeros");
	for (; *p != '\0'; p++) {
		index = index * 10 + (unsigned long)(*p - '0');
		if (index > PB_UID_MAX_INDEX)
			return fail(err, "port index is too large (at most 1023)");
	}
	uid->type = type_names[i].type;
	uid->index = (uint16_t)index;
	return 0;
}

const char *
pb_uid_str(const struct pb_uid *uid, char buf[PB_UID_STRLEN])
{
	snprintf(buf, PB_UID_STRLEN, "%s:%u", pb_port_type_name(uid->type),
		 (unsigned int)uid->index);
	return buf;
}

int
pb_uid_equal(const struct pb_uid *a, const struct pb_uid *b)
{
	return a->type == b->type && a->index == b->index;
}

int
pb_port_type_is_hotplug(enum pb_port_type type)
{
	return type != PB_PORT_PHY && type != PB_PORT_RING;
}
