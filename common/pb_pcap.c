/* SPDX-License-Identifier: BSD-3-Clause */
#include <pcap/pcap.h>
#include <stdlib.h>
#include <string.h>

#include "pb_pcap.h"

#define SNAPLEN 65535

struct pb_pcap {
	pcap_t *rx;
	pcap_t *tx_dead;          /* a handle for the dumper's link type */
	pcap_dumper_t *tx;
	struct rte_mempool *pool;
	uint8_t linear[SNAPLEN];  /* a chained mbuf, made contiguous */
};

struct pb_pcap *
pb_pcap_open(const char *rx, const char *tx, struct rte_mempool *pool,
	     const char **err)
{
	char errbuf[PCAP_ERRBUF_SIZE];
	struct pb_pcap *p = calloc(1, sizeof(*p));

	if (p == NULL) {
		*err = "out of memory";
		return NULL;
	}
	p->pool = pool;
	if (rx != NULL && (p->rx = pcap_open_offline(rx, errbuf)) == NULL) {
		*err = "cannot read the rx pcap file";
		goto fail;
	}
	if (tx != NULL) {
		p->tx_dead = pcap_open_dead(DLT_EN10MB, SNAPLEN);
		p->tx = p->tx_dead ? pcap_dump_open(p->tx_dead, tx) : NULL;
		if (p->tx == NULL) {
			*err = "cannot create the tx pcap file";
			goto fail;
		}
	}
	return p;
fail:
	pb_pcap_close(p);
	return NULL;
}

void
pb_pcap_close(struct pb_pcap *p)
{
	if (p->tx != NULL)
		pcap_dump_close(p->tx);
	if (p->tx_dead != NULL)
		pcap_close(p->tx_dead);
	if (p->rx != NULL)
		pcap_close(p->rx);
	free(p);
}

/* Copy a packet into a chain of mbufs as long as it needs. */
static struct rte_mbuf *
to_mbuf(struct rte_mempool *pool, const uint8_t *data, uint32_t len)
{
	struct rte_mbuf *head = rte_pktmbuf_alloc(pool), *seg = head;

	while (seg != NULL) {
		uint16_t room = rte_pktmbuf_tailroom(seg);
		uint16_t n = (uint16_t)RTE_MIN(len, (uint32_t)room);

		memcpy(rte_pktmbuf_append(seg, n), data, n);
		if (seg != head) {
			head->pkt_len += n;
			head->nb_segs++;
		}
		data += n;
		len -= n;
		if (len == 0)
			return head;
		seg->next = rte_pktmbuf_alloc(pool);
		seg = seg->next;
	}
	rte_pktmbuf_free(head);
	return NULL;
}

uint16_t
pb_pcap_rx(struct pb_pcap *p, struct rte_mbuf **pkts, uint16_t n)
{
	struct pcap_pkthdr *hdr;
	const u_char *data;
	uint16_t got = 0;

	if (p->rx == NULL)
		return 0;
	while (got < n && pcap_next_ex(p->rx, &hdr, &data) == 1) {
		pkts[got] = to_mbuf(p->pool, data, hdr->caplen);
		if (pkts[got] == NULL)
			break;  /* pool empty: this packet is lost */
		got++;
	}
	return got;
}

uint16_t
pb_pcap_tx(struct pb_pcap *p, struct rte_mbuf **pkts, uint16_t n)
{
	struct pcap_pkthdr hdr = { 0 };

	if (p->tx == NULL)
		return 0;
	for (uint16_t i = 0; i < n; i++) {
		const void *data;

		hdr.caplen = RTE_MIN(pkts[i]->pkt_len, (uint32_t)SNAPLEN);
		hdr.len = pkts[i]->pkt_len;
		gettimeofday(&hdr.ts, NULL);
		data = rte_pktmbuf_read(pkts[i], 0, hdr.caplen, p->linear);
		pcap_dump((u_char *)p->tx, &hdr, data);
	}
	rte_pktmbuf_free_bulk(pkts, n);
	return n;
}
