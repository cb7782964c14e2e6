/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef PB_FLOWS_H
#define PB_FLOWS_H

/*
 * A null port as a source of many flows (option flows=N): each frame it
 * makes becomes an IPv4/UDP packet of flow 0, 1, ..., N-1 in turn (UDP
 * source ports 1024 + flow), so that anything spreading by flow (a vhost
 * port's guest queues, RSS in a guest) has flows to spread. An rx
 * callback of the ethdev in this process: other ports pay nothing.
 */
#include <stdint.h>

#include "pb_msg.h"

#define PB_FLOWS_MAX 4096
#define PB_FLOWS_MIN_SIZE 60    /* room for the headers, as on a wire */

struct pb_flows;

/* Rewrite every frame of ethdev's nb_rxq rx queues (size bytes each). */
struct pb_flows *pb_flows_attach(uint16_t ethdev, uint16_t nb_rxq,
				 unsigned int flows, unsigned int size,
				 struct pb_result *res);
/* Only once no worker reads the port any more. */
void pb_flows_detach(struct pb_flows *f);

#endif
