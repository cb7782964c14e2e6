/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * shm ports: packets between the host and a guest through one shared
 * region, the "ring VM" of SPP done with today's QEMU. The host side is a
 * file (/dev/shm or hugetlbfs) that QEMU gives the guest as an
 * ivshmem-plain device; the guest side maps that device's BAR2. The region
 * holds two single-producer/single-consumer rings of packet slots, one per
 * direction; packets are copied in and out, since the guest's mbufs and
 * the host's live in different memory.
 */
#ifndef PB_SHM_H
#define PB_SHM_H

#include <stdint.h>

#include <rte_mbuf.h>

#define PB_SHM_REGION_SIZE (4u << 20)   /* a power of 2, as ivshmem wants */

struct pb_shm;

/* Host side: create (or reset) the region file at path. */
struct pb_shm *pb_shm_open_host(const char *path, struct rte_mempool *pool,
				const char **err);
/* Guest side: map the ivshmem device at PCI address pci (0000:00:08.0). */
struct pb_shm *pb_shm_open_guest(const char *pci, struct rte_mempool *pool,
				 const char **err);
void pb_shm_close(struct pb_shm *s);

uint16_t pb_shm_rx(struct pb_shm *s, struct rte_mbuf **pkts, uint16_t n);
/* Copies and frees what it took; stops at a packet too big for a slot. */
uint16_t pb_shm_tx(struct pb_shm *s, struct rte_mbuf **pkts, uint16_t n);

#endif
