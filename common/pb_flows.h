/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef PB_FLOWS_H
#define PB_FLOWS_H

/*
 * A null port as a source of test traffic, shaped by two options:
 *   flows=N  each frame becomes an IPv4/UDP packet of flow 0, 1, ...,
 *            N-1 in turn (UDP source ports 1024 + flow), so that anything
 *            spreading by flow (a vhost port's guest queues, RSS in a
 *            guest) has flows to spread;
 *   rate=PPS at most PPS packets a second come out of it (a token bucket
 *            per queue, asked before the PMD makes any frame), so a chain
 *            can be fed what it carries instead of a flood.
 * The port's rx goes through pb_flows_rx instead of the PMD's (pb_port_rx):
 * other ports pay a branch a burst.
 */
#include <stdint.h>

#include <rte_mbuf.h>

#include "pb_msg.h"

#define PB_FLOWS_MAX 4096
#define PB_FLOWS_MIN_SIZE 60    /* room for the headers, as on a wire */
#define PB_RATE_MAX 1000000000u

struct pb_flows;

/* Shape every frame of ethdev's nb_rxq rx queues (size bytes each):
 * flows > 1 stamps flows, rate > 0 limits the packets a second. */
struct pb_flows *pb_flows_attach(uint16_t ethdev, uint16_t nb_rxq,
				 unsigned int flows, unsigned int size,
				 unsigned int rate, struct pb_result *res);
/* A burst of at most n from the port's queue, shaped. */
uint16_t pb_flows_rx(struct pb_flows *f, uint16_t queue,
		     struct rte_mbuf **pkts, uint16_t n);
/* Only once no worker reads the port any more. */
void pb_flows_detach(struct pb_flows *f);

#endif
