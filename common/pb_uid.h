/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Port UIDs: "type:N", the names every command and status uses for a port.
 * Pure C, no DPDK: shared by the processes, the unit tests and the fuzzers.
 */
#ifndef PB_UID_H
#define PB_UID_H

#include <stddef.h>
#include <stdint.h>

enum pb_port_type {
	PB_PORT_PHY,    /* an ethdev the primary probed and started */
	PB_PORT_RING,   /* an rte_ring the primary created */
	PB_PORT_VHOST,  /* vhost-user backend: a VM or container connects */
	PB_PORT_VIRTIO, /* virtio_user: we connect to someone's vhost-user */
	PB_PORT_PCAP,
	PB_PORT_NULL,
	PB_PORT_TAP,
	PB_PORT_MEMIF,
	PB_PORT_SHM,    /* a region shared with a guest over ivshmem */
	PB_PORT_AFPACKET, /* a Linux interface, through our own socket */
	PB_PORT_TYPE_COUNT
};

#define PB_UID_MAX_INDEX 1023
#define PB_UID_MAX_QUEUE 1023
/* "af_packet:1023" and "phy:1023nq1023" plus NUL, rounded up */
#define PB_UID_STRLEN 16

struct pb_uid {
	enum pb_port_type type;
	uint16_t index;
	uint16_t queue;  /* a phy's queue pair: "phy:0nq1" (SPP's); else 0 */
};

/*
 * Parse "type:N", or "phy:NnqQ" for queue Q of a multi-queue phy
 * ("phy:0nq0" is phy:0). On failure return -1 and, if err is not NULL, point it
 * at a static sentence saying what is wrong.
 */
int pb_uid_parse(const char *text, struct pb_uid *uid, const char **err);

/* Canonical text of a UID ("nullpmd:1" is written "null:1", "phy:0nq0"
 * "phy:0"). */
const char *pb_uid_str(const struct pb_uid *uid, char buf[PB_UID_STRLEN]);

const char *pb_port_type_name(enum pb_port_type type);

int pb_uid_equal(const struct pb_uid *a, const struct pb_uid *b);

/* Ports that are created at runtime, as opposed to phy and ring ports. */
int pb_port_type_is_hotplug(enum pb_port_type type);

#endif
