/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vhost-user ports through DPDK's vhost library, served by the process
 * that adds them: a VM (QEMU) or a container (virtio_user) connects to the
 * socket, or, in client mode, we connect to theirs.
 */
#ifndef PB_VHOST_H
#define PB_VHOST_H

#include <stdint.h>

#include <rte_mbuf.h>
#include <rte_rcu_qsbr.h>

struct pb_vhost;

/*
 * Serve a vhost-user socket at path (client: connect to it instead).
 * qsbr is the forwarding engine's: a driver's disconnect waits for the
 * worker to leave any burst on the device before the library frees it.
 * The driver chooses how many queue pairs (QEMU's queues=N); all are
 * polled. NULL on failure, with a sentence in *err.
 */
struct pb_vhost *pb_vhost_open(const char *path, int client,
			       struct rte_mempool *pool,
			       struct rte_rcu_qsbr *qsbr, const char **err);
void pb_vhost_close(struct pb_vhost *v);

/* Is a driver connected and ready? */
int pb_vhost_connected(const struct pb_vhost *v);

uint16_t pb_vhost_rx(struct pb_vhost *v, struct rte_mbuf **pkts, uint16_t n);
/* Copies into the guest's buffers and frees what it sent. With several
 * queue pairs enabled, each flow goes to one of them by its hash. */
uint16_t pb_vhost_tx(struct pb_vhost *v, struct rte_mbuf **pkts, uint16_t n);

#endif
