/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Ports: opening and closing each kind, and the burst functions the
 * forwarding engine calls on them.
 *
 * The ways to move packets:
 *  - rings:  rte_ring directly, no ethdev wrapper on the hot path;
 *  - ethdev: phy ports, and vdevs hot-plugged at runtime (virtio, null,
 *            tap, memif). The primary creates, configures and starts each
 *            (on our request over DPDK's IPC) before we attach to it and
 *            burst on it;
 *  - pcap:   libpcap, in the process that adds the port;
 *  - shm:    a region shared with a guest through ivshmem (pb_shm.h);
 *  - af_packet: a Linux interface, through a socket of the adding
 *            process (pb_afpacket.h);
 *  - vhost:  the vhost library, run by the process that adds the port. The
 *            vhost PMD cannot serve here: its datapath looks the device up
 *            in a per-process table that only the probing process (the
 *            primary, with multi-process hotplug) fills.
 */
#ifndef PB_PORT_H
#define PB_PORT_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_rcu_qsbr.h>
#include <rte_ring.h>

#include "pb_msg.h"
#include "pb_shared.h"
#include "pb_uid.h"
#include "pb_afpacket.h"
#include "pb_flows.h"
#include "pb_pcap.h"
#include "pb_shm.h"
#include "pb_vhost.h"

/* What a process needs to open ports. */
struct pb_port_env {
	struct pb_shared *sh;
	struct rte_mempool *pool;
	struct rte_rcu_qsbr *qsbr;  /* the engine's; vhost teardown waits on it */
	int client;                 /* our client id; 0 for the primary */
	int vhost_client;           /* vhost ports default to client mode */
};

enum pb_io { PB_IO_RING, PB_IO_ETHDEV, PB_IO_VHOST, PB_IO_PCAP, PB_IO_SHM,
	     PB_IO_AFPACKET };

struct pb_port {
	enum pb_io io;
	struct pb_uid uid;
	char name[PB_UID_STRLEN];
	struct pb_slot *slot;
	struct rte_ring *ring;
	uint16_t ethdev;
	uint16_t nb_rxq;
	uint16_t next_rxq;
	uint16_t txq;       /* phy:NnqQ's queue Q; else 0 */
	struct pb_vhost *vhost;
	struct pb_pcap *pcap;
	struct pb_shm *shm;
	struct pb_afpacket *afpacket;
	struct pb_flows *flows;   /* a null port's flows=N */
	/* set when this process cannot move the port's packets (a phy whose
	 * driver keeps its queues in the primary): says why */
	const char *unusable;
	char *devname;      /* hot-plugged ethdev's device name */
	char *devargs;
	char iface[16];     /* a tap port's kernel interface (IF_NAMESIZE) */
	bool ready;         /* false: the worker leaves it alone */
	bool reattach_when_up;
	bool for_components;  /* opened by a component's port add: closed
				 when no component uses it any more */
	json_t *opts;       /* the options it was added with */
};

/* Open the port uid with options opts (a JSON object); NULL on failure. */
struct pb_port *pb_port_open(const struct pb_port_env *env,
			     const struct pb_uid *uid, json_t *opts,
			     struct pb_result *res);
void pb_port_close(const struct pb_port_env *env, struct pb_port *port);

/*
 * Can this process read (rx) or write (tx) the port? Not a phy whose
 * driver keeps its queues in the primary, nor a phy queue the ethdev does
 * not have in that direction (--port-num N rxq 2 txq 1: phy:Nnq1 is rx
 * only). Says why in res.
 */
int pb_port_check_side(const struct pb_port *port, enum pb_dir dir,
		       struct pb_result *res);

/* Follow the port's link where that needs work (memif in a secondary);
 * sync(sync_arg) must wait for the worker to leave any burst. */
int pb_port_refresh(struct pb_port *port, void (*sync)(void *),
		    void *sync_arg);

/* Can the port move packets now? A vhost port needs a driver connected,
 * an ethdev its link up; rings and pcap files always can. */
bool pb_port_link_up(const struct pb_port *port);

/*
 * A secondary's EAL attaches at start to every vdev the primary holds,
 * those other processes hot-plugged included: an add of such a port here
 * would then fail (EEXIST) for good, and a tap's fds would keep its
 * interface alive. Detach them, here only, before adding any port.
 */
void pb_ports_detach_others(void);

/* Configure nb_rxq rx and nb_txq tx queues on an ethdev (fewer if it has
 * fewer) and start it. */
int pb_ethdev_start(uint16_t port_id, struct rte_mempool *pool,
		    uint16_t nb_rxq, uint16_t nb_txq);
/* Primary: serve secondaries' requests to start hot-plugged ethdevs. */
int pb_ethdev_serve_requests(struct rte_mempool *pool);

static inline uint16_t
pb_port_rx(struct pb_port *p, struct rte_mbuf **pkts, uint16_t n)
{
	uint16_t q;

	switch (p->io) {
	case PB_IO_RING:
		return rte_ring_dequeue_burst(p->ring, (void **)pkts, n, NULL);
	case PB_IO_ETHDEV:
		if (unlikely(!__atomic_load_n(&p->ready, __ATOMIC_ACQUIRE)))
			return 0;
		q = p->next_rxq;
		if (unlikely(p->nb_rxq > 1))
			p->next_rxq = (uint16_t)((q + 1) % p->nb_rxq);
		if (unlikely(p->flows != NULL))
			return pb_flows_rx(p->flows, q, pkts, n);
		return rte_eth_rx_burst(p->ethdev, q, pkts, n);
	case PB_IO_VHOST:
		return pb_vhost_rx(p->vhost, pkts, n);
	case PB_IO_SHM:
		return pb_shm_rx(p->shm, pkts, n);
	case PB_IO_AFPACKET:
		return pb_afpacket_rx(p->afpacket, pkts, n);
	default:
		return pb_pcap_rx(p->pcap, pkts, n);
	}
}

/*
 * How many of n packets port can take now: a ring's free slots, else n.
 * A patch reads no more than that from its source, so a full ring leaves
 * packets where they are (its reader may only be waiting for a core)
 * instead of dropping them.
 */
static inline uint16_t
pb_port_room(const struct pb_port *p, uint16_t n)
{
	if (p->io == PB_IO_RING)
		return (uint16_t)RTE_MIN((unsigned int)n,
					 rte_ring_free_count(p->ring));
	return n;
}

/* Returns how many it took; the caller frees the rest. */
static inline uint16_t
pb_port_tx(struct pb_port *p, struct rte_mbuf **pkts, uint16_t n)
{
	switch (p->io) {
	case PB_IO_RING:
		return rte_ring_enqueue_burst(p->ring, (void **)pkts, n, NULL);
	case PB_IO_ETHDEV:
		if (unlikely(!__atomic_load_n(&p->ready, __ATOMIC_ACQUIRE)))
			return 0;
		return rte_eth_tx_burst(p->ethdev, p->txq, pkts, n);
	case PB_IO_VHOST:
		return pb_vhost_tx(p->vhost, pkts, n);
	case PB_IO_SHM:
		return pb_shm_tx(p->shm, pkts, n);
	case PB_IO_AFPACKET:
		return pb_afpacket_tx(p->afpacket, pkts, n);
	default:
		return pb_pcap_tx(p->pcap, pkts, n);
	}
}

#endif
