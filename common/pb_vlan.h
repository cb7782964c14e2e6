/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * VLAN tag operations on a component's port, as SPP's add_vlantag and
 * del_vlantag: applied to a burst right after it is received (rx side) or
 * right before it is sent (tx side).
 *
 * A packet whose buffer is shared (a flooded frame, a mirror's clone) is
 * copied before it is changed, so a tag meant for one port never shows on
 * the copies sent to others. A packet that cannot be changed (no headroom,
 * no mbuf for the copy) is dropped, counted and freed here, once: the
 * burst is compacted and the caller sees only what is left.
 */
#ifndef PB_VLAN_H
#define PB_VLAN_H

#include <stdint.h>

#include <rte_ether.h>
#include <rte_mbuf.h>

enum pb_vlan_op { PB_VLAN_NONE, PB_VLAN_ADD, PB_VLAN_DEL };

struct pb_vlan {
	enum pb_vlan_op op;
	uint16_t vid;     /* 0-4095, for add */
	uint8_t pcp;      /* 0-7, for add */
};

static inline const char *
pb_vlan_op_name(enum pb_vlan_op op)
{
	return op == PB_VLAN_ADD ? "add" : op == PB_VLAN_DEL ? "del" : "none";
}

/* Its own buffer, unshared, or NULL (and m freed) if no copy can be made. */
static inline struct rte_mbuf *
pb_vlan_own(struct rte_mbuf *m, struct rte_mempool *pool)
{
	struct rte_mbuf *c;

	if (likely(RTE_MBUF_DIRECT(m) && rte_mbuf_refcnt_read(m) == 1))
		return m;
	c = rte_pktmbuf_copy(m, pool, 0, UINT32_MAX);
	rte_pktmbuf_free(m);
	return c;
}

static inline struct rte_mbuf *
pb_vlan_add_one(struct rte_mbuf *m, uint16_t tci, struct rte_mempool *pool)
{
	struct rte_ether_hdr *eh;
	struct rte_vlan_hdr *vh;

	m = pb_vlan_own(m, pool);
	if (unlikely(m == NULL || m->data_len < sizeof(*eh)))
		goto drop;
	eh = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	if (eh->ether_type != rte_cpu_to_be_16(RTE_ETHER_TYPE_VLAN)) {
		/* a new outer tag; an existing one is only rewritten (no QinQ) */
		eh = (struct rte_ether_hdr *)rte_pktmbuf_prepend(m, sizeof(*vh));
		if (unlikely(eh == NULL))
			goto drop;
		memmove(eh, (char *)eh + sizeof(*vh), 2 * RTE_ETHER_ADDR_LEN);
		eh->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_VLAN);
	}
	vh = (struct rte_vlan_hdr *)(eh + 1);
	vh->vlan_tci = rte_cpu_to_be_16(tci);
	return m;
drop:
	rte_pktmbuf_free(m);
	return NULL;
}

static inline struct rte_mbuf *
pb_vlan_del_one(struct rte_mbuf *m, struct rte_mempool *pool)
{
	const size_t tagged = sizeof(struct rte_ether_hdr) +
			      sizeof(struct rte_vlan_hdr);
	struct rte_ether_hdr *eh = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);

	if (m->data_len < tagged ||
	    eh->ether_type != rte_cpu_to_be_16(RTE_ETHER_TYPE_VLAN))
		return m;               /* untagged already */
	m = pb_vlan_own(m, pool);
	if (unlikely(m == NULL))
		return NULL;
	eh = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	memmove((char *)eh + sizeof(struct rte_vlan_hdr), eh,
		2 * RTE_ETHER_ADDR_LEN);
	rte_pktmbuf_adj(m, sizeof(struct rte_vlan_hdr));
	return m;
}

/* Apply v to pkts[0..n); returns how many are left, compacted. */
static inline uint16_t
pb_vlan_apply(const struct pb_vlan *v, struct rte_mbuf **pkts, uint16_t n,
	      struct rte_mempool *pool, uint64_t *dropped)
{
	uint16_t tci = (uint16_t)(v->vid | (v->pcp << 13));
	uint16_t kept = 0;

	if (likely(v->op == PB_VLAN_NONE))
		return n;
	for (uint16_t i = 0; i < n; i++) {
		struct rte_mbuf *m = v->op == PB_VLAN_ADD ?
			pb_vlan_add_one(pkts[i], tci, pool) :
			pb_vlan_del_one(pkts[i], pool);

		if (m != NULL)
			pkts[kept++] = m;
	}
	*dropped += n - kept;
	return kept;
}

#endif
