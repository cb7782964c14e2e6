/* SPDX-License-Identifier: BSD-3-Clause */
#include <stdlib.h>
#include <string.h>

#include <rte_byteorder.h>
#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_udp.h>

#include "pb_flows.h"
#include "pb_fwd.h"

#define MAX_RXQ 8

/* Ethernet, IPv4 and UDP headers: a frame's first 42 bytes. */
#define HEAD_LEN (RTE_ETHER_HDR_LEN + sizeof(struct rte_ipv4_hdr) + \
		  sizeof(struct rte_udp_hdr))
#define SPORT_OFFSET (RTE_ETHER_HDR_LEN + sizeof(struct rte_ipv4_hdr))

/*
 * A queue's packets to come, in packets x TSC ticks: it earns rate a tick
 * and spends hz a packet, so no division is needed on the way; at most
 * `depth` packets' worth, enough for the reader's longest idle sleep.
 */
struct bucket {
	uint64_t credit;
	uint64_t last_tsc;
};

struct pb_flows {
	uint16_t ethdev;
	uint16_t flows;             /* 1: frames as the null PMD made them */
	uint64_t rate;              /* packets a second; 0: unlimited */
	uint64_t hz, depth;         /* TSC ticks a second; bucket's size */
	uint16_t next[MAX_RXQ];     /* each queue's next flow: one reader */
	struct bucket bucket[MAX_RXQ];
	uint8_t head[HEAD_LEN];     /* flow 0's headers */
};

/* How many of n frames the queue's bucket lets out now, taken from it. */
static uint16_t
take(struct pb_flows *f, struct bucket *b, uint16_t n)
{
	uint64_t now = rte_rdtsc(), allowed;

	b->credit += RTE_MIN(now - b->last_tsc, f->hz) * f->rate;
	b->last_tsc = now;
	if (b->credit > f->depth * f->hz)
		b->credit = f->depth * f->hz;
	allowed = RTE_MIN((uint64_t)n, b->credit / f->hz);
	b->credit -= allowed * f->hz;
	return (uint16_t)allowed;
}

/* The headers every frame gets; only the UDP source port differs, which
 * the IPv4 checksum does not cover (UDP's is 0: none, allowed on IPv4). */
static void
make_head(uint8_t *head, unsigned int size)
{
	struct rte_ether_hdr eth = {
		.dst_addr.addr_bytes = { 0x02, 0, 0, 0, 0, 0x02 },
		.src_addr.addr_bytes = { 0x02, 0, 0, 0, 0, 0x01 },
		.ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4),
	};
	struct rte_ipv4_hdr ip = {
		.version_ihl = RTE_IPV4_VHL_DEF,
		.total_length = rte_cpu_to_be_16((uint16_t)(size -
							    sizeof(eth))),
		.time_to_live = 64,
		.next_proto_id = IPPROTO_UDP,
		.src_addr = rte_cpu_to_be_32(RTE_IPV4(10, 10, 0, 1)),
		.dst_addr = rte_cpu_to_be_32(RTE_IPV4(10, 10, 0, 2)),
	};
	struct rte_udp_hdr udp = {
		.dst_port = rte_cpu_to_be_16(4789),
		.dgram_len = rte_cpu_to_be_16((uint16_t)(size - sizeof(eth) -
							 sizeof(ip))),
	};

	ip.hdr_checksum = rte_ipv4_cksum(&ip);
	memcpy(head, &eth, sizeof(eth));
	memcpy(head + sizeof(eth), &ip, sizeof(ip));
	memcpy(head + SPORT_OFFSET, &udp, sizeof(udp));
}

static void
stamp_flows(struct pb_flows *f, uint16_t queue, struct rte_mbuf **pkts,
	    uint16_t n)
{
	uint16_t flow = f->next[queue];

	for (uint16_t i = 0; i < n; i++) {
		uint8_t *d = rte_pktmbuf_mtod(pkts[i], uint8_t *);
		uint16_t sport = rte_cpu_to_be_16((uint16_t)(1024 + flow));

		if (unlikely(rte_pktmbuf_data_len(pkts[i]) < HEAD_LEN))
			continue;
		memcpy(d, f->head, HEAD_LEN);
		memcpy(d + SPORT_OFFSET, &sport, sizeof(sport));
		if (++flow == f->flows)
			flow = 0;
	}
	f->next[queue] = flow;
}

/*
 * The bucket is asked before the PMD: a null PMD allocates every frame it
 * is asked for, so asking for more than the bucket lets out would only
 * make mbufs to free again. What the PMD could not make goes back.
 */
uint16_t
pb_flows_rx(struct pb_flows *f, uint16_t queue, struct rte_mbuf **pkts,
	    uint16_t n)
{
	struct bucket *b = &f->bucket[queue];
	uint16_t got;

	if (f->rate != 0)
		n = take(f, b, n);
	got = n != 0 ? rte_eth_rx_burst(f->ethdev, queue, pkts, n) : 0;
	if (f->rate != 0)
		b->credit += (uint64_t)(n - got) * f->hz;
	if (f->flows > 1)
		stamp_flows(f, queue, pkts, got);
	return got;
}

void
pb_flows_detach(struct pb_flows *f)
{
	free(f);
}

struct pb_flows *
pb_flows_attach(uint16_t ethdev, uint16_t nb_rxq, unsigned int flows,
		unsigned int size, unsigned int rate, struct pb_result *res)
{
	struct pb_flows *f;

	if (nb_rxq > MAX_RXQ) {
		pb_fail(res, "options 'flows' and 'rate' take at most %d "
			"queues", MAX_RXQ);
		return NULL;
	}
	f = calloc(1, sizeof(*f));
	if (f == NULL) {
		pb_fail(res, "out of memory");
		return NULL;
	}
	f->ethdev = ethdev;
	f->flows = (uint16_t)flows;
	if (flows > 1)
		make_head(f->head, size);
	f->rate = rate;
	f->hz = rte_get_tsc_hz();
	/* 2 ms of packets (a worker's idle sleep is at most 1 ms), and a
	 * burst at least, spread over the queues */
	f->depth = RTE_MAX((uint64_t)rate / 500 / nb_rxq, (uint64_t)PB_BURST);
	for (uint16_t q = 0; q < nb_rxq; q++)
		f->bucket[q].last_tsc = rte_rdtsc();
	return f;
}
