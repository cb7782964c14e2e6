/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * pcap ports: read packets from a pcap file, write them to another, with
 * libpcap in the process that adds the port. (The pcap PMD, attached in a
 * secondary, reopens its files from a copy of the devargs that is cut at
 * 64 characters, so ordinary paths fail there.)
 */
#ifndef PB_PCAP_H
#define PB_PCAP_H

#include <stdint.h>

#include <rte_mbuf.h>

struct pb_pcap;

/* rx or tx may be NULL, not both. NULL on failure, with *err set. */
struct pb_pcap *pb_pcap_open(const char *rx, const char *tx,
			     struct rte_mempool *pool, const char **err);
/* Flushes and closes the files. */
void pb_pcap_close(struct pb_pcap *p);

/* The next packets of the rx file; 0 at its end or without one. */
uint16_t pb_pcap_rx(struct pb_pcap *p, struct rte_mbuf **pkts, uint16_t n);
/* Appends to the tx file and frees; without one, takes nothing. */
uint16_t pb_pcap_tx(struct pb_pcap *p, struct rte_mbuf **pkts, uint16_t n);

#endif
