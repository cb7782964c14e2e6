/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * af_packet ports: a Linux interface (a veth, a bridge port, a NIC the
 * kernel keeps) read and written through an AF_PACKET socket that the
 * adding process opens itself, so any process can have one. (DPDK's
 * net_af_packet keeps its sockets in the primary: its queues cannot be
 * used from a secondary.)
 *
 * The socket carries the kernel's virtio-net header (PACKET_VNET_HDR), so
 * frames keep working with the interfaces' default offloads: a checksum
 * the sender left to "hardware" is completed here, and a TCP or UDP
 * super-frame (GSO: up to 64 KiB, as veth hands them over) is cut into
 * frames of its segment size, each with its own headers and checksums.
 */
#ifndef PB_AFPACKET_H
#define PB_AFPACKET_H

#include <stdbool.h>
#include <stdint.h>

#include <rte_mbuf.h>

struct pb_afpacket;

struct pb_afpacket *pb_afpacket_open(const char *iface,
				     struct rte_mempool *pool,
				     const char **err);
void pb_afpacket_close(struct pb_afpacket *a);

uint16_t pb_afpacket_rx(struct pb_afpacket *a, struct rte_mbuf **pkts,
			uint16_t n);
/* Takes (and frees) what the socket accepted; returns how many. */
uint16_t pb_afpacket_tx(struct pb_afpacket *a, struct rte_mbuf **pkts,
			uint16_t n);
bool pb_afpacket_link_up(const struct pb_afpacket *a);

#endif
