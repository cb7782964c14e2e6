/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A packet's flow, hashed: the same for every packet of a TCP or UDP
 * connection (addresses and ports), of an IP conversation (addresses, for
 * other protocols and fragments) or else of a pair of MACs. Used to spread
 * packets over queues with every flow kept in order on one of them.
 */
#ifndef PB_FLOW_H
#define PB_FLOW_H

#include <stdint.h>
#include <string.h>

#include <rte_byteorder.h>
#include <rte_ether.h>
#include <rte_hash_crc.h>
#include <rte_ip.h>
#include <rte_mbuf.h>

/* CRC32 of len bytes (a multiple of 4) at any alignment: rte_hash_crc()
 * loads 8 bytes at a time through a uint64_t pointer, which a header
 * field 2 bytes past an 8-byte boundary is not (UBSan says so). */
static inline uint32_t
pb_flow_crc(const void *data, size_t len, uint32_t hash)
{
	const uint8_t *p = data;
	uint32_t word;

	for (size_t i = 0; i + 4 <= len; i += 4) {
		memcpy(&word, p + i, sizeof(word));
		hash = rte_hash_crc_4byte(word, hash);
	}
	return hash;
}

static inline uint32_t
pb_flow_hash_l4(const uint8_t *l4, const uint8_t *end, uint8_t proto,
		uint32_t hash)
{
	if ((proto == IPPROTO_TCP || proto == IPPROTO_UDP) && l4 + 4 <= end)
		hash = pb_flow_crc(l4, 4, hash);     /* both ports */
	return hash;
}

static inline uint32_t
pb_flow_hash(const struct rte_mbuf *m)
{
	const uint8_t *p = rte_pktmbuf_mtod(m, const uint8_t *);
	const uint8_t *end = p + rte_pktmbuf_data_len(m);
	const uint8_t *l3 = p + sizeof(struct rte_ether_hdr);
	uint16_t type;

	if (m->ol_flags & RTE_MBUF_F_RX_RSS_HASH)
		return m->hash.rss;           /* the NIC's, for free */
	if (l3 > end)
		return 0;
	type = ((const struct rte_ether_hdr *)p)->ether_type;
	if (type == RTE_BE16(RTE_ETHER_TYPE_VLAN) && l3 + 4 <= end) {
		memcpy(&type, l3 + 2, sizeof(type));
		l3 += 4;
	}
	if (type == RTE_BE16(RTE_ETHER_TYPE_IPV4) &&
	    l3 + sizeof(struct rte_ipv4_hdr) <= end) {
		const struct rte_ipv4_hdr *ip = (const void *)l3;
		uint32_t hash = pb_flow_crc(&ip->src_addr, 8, 0);

		if (ip->fragment_offset & RTE_BE16(RTE_IPV4_HDR_MF_FLAG |
						   RTE_IPV4_HDR_OFFSET_MASK))
			return hash;    /* a fragment: its ports are elsewhere */
		return pb_flow_hash_l4(l3 + rte_ipv4_hdr_len(ip), end,
				       ip->next_proto_id, hash);
	}
	if (type == RTE_BE16(RTE_ETHER_TYPE_IPV6) &&
	    l3 + sizeof(struct rte_ipv6_hdr) <= end) {
		const struct rte_ipv6_hdr *ip = (const void *)l3;

		return pb_flow_hash_l4(l3 + sizeof(*ip), end, ip->proto,
				       pb_flow_crc(ip->src_addr, 32, 0));
	}
	return pb_flow_crc(p, 2 * RTE_ETHER_ADDR_LEN, 0);
}

#endif
