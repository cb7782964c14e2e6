/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The forwarding engine: worker threads, one per worker lcore, running the
 * published tables of the features a process registered: patches (every
 * nfv, the primary's forwarder), components (vf, mirror: forward, merge,
 * classifier, mirror) and so on. A feature is a table and the burst
 * function that walks it, as in VPP's l2_patch.c.
 *
 * Reconfiguration never stops the world. Workers read tables without
 * locks; the control thread publishes a new table and then waits
 * (rte_rcu_qsbr) until every worker has passed a quiescent state, i.e.
 * finished the loop iteration that might still use the old table, before
 * it frees the table or closes a port the old table named.
 */
#ifndef PB_FWD_H
#define PB_FWD_H

#include <stdbool.h>

#include <jansson.h>
#include <rte_mbuf.h>
#include <rte_rcu_qsbr.h>

#include "pb_port.h"

#define PB_BURST 64   /* packets a burst: 64 halves the per-burst costs of 32 */
#define PB_MAX_FEATURES 4
#define PB_MAX_WORKERS 16

/* A kind of packet work and its table; tables are immutable once
 * published (a change publishes a new one). */
struct pb_feature {
	const char *name;
	/* One pass: a burst per entry that runs on this worker (0, 1, ..:
	 * the index of its lcore among the workers'). Packets moved. */
	unsigned int (*run)(void *table, unsigned int worker);
	/* Does the table read (PB_RX) or write (PB_TX) port? */
	bool (*uses)(const void *table, const struct pb_port *port,
		     enum pb_dir dir);
	void (*free)(void *table);
};

struct pb_fwd;

struct pb_worker {
	struct pb_fwd *fwd;
	unsigned int index;
	unsigned int lcore;
};

struct pb_fwd {
	const struct pb_feature *features[PB_MAX_FEATURES];
	void *tables[PB_MAX_FEATURES];   /* published; the workers read them */
	unsigned int nb_features;
	struct pb_worker workers[PB_MAX_WORKERS];
	unsigned int nb_workers;
	struct rte_rcu_qsbr *qsbr;
	bool forwarding;               /* "running" vs "idling" */
	bool quit;
	bool busy_poll;                /* never sleep, for benchmarks */
};

/* Workers: every worker lcore EAL has (up to PB_MAX_WORKERS), or the main
 * lcore if it has none. */
int pb_fwd_init(struct pb_fwd *f, bool busy_poll);
void pb_fwd_free(struct pb_fwd *f);

/* Register a feature with its first table; its index, or -1 if full. */
int pb_fwd_add_feature(struct pb_fwd *f, const struct pb_feature *feature,
		       void *table);

/*
 * Run the workers and control(arg) side by side until control returns,
 * then stop the workers. With worker lcores (SPP's "-l 1,2"), control
 * stays on the main lcore; with none ("-l 1"), the one worker takes the
 * main lcore and control moves to a plain thread, since DPDK
 * multi-process cannot register extra threads as lcores.
 */
int pb_fwd_run(struct pb_fwd *f, void (*control)(void *), void *arg);

/* Control thread: swap in a feature's new table, wait for the workers,
 * free the old. */
void pb_fwd_publish(struct pb_fwd *f, int feature, void *table);
/* Control thread: wait until no worker holds anything it read before. */
void pb_fwd_sync(struct pb_fwd *f);

void pb_fwd_set_forwarding(struct pb_fwd *f, bool on);
bool pb_fwd_is_forwarding(const struct pb_fwd *f);

static inline void *
pb_fwd_table(const struct pb_fwd *f, int feature)
{
	return f->tables[feature];  /* the control thread is its only writer */
}

/* Does any feature's table (with feature's replaced by table) use port? */
bool pb_fwd_uses(const struct pb_fwd *f, int feature, const void *table,
		 const struct pb_port *port, enum pb_dir dir);

/* The worker index running on lcore, or -1. */
int pb_fwd_worker_of_lcore(const struct pb_fwd *f, unsigned int lcore);

/*
 * SPP's "master-lcore" and "lcores": the main lcore, then the workers'. A
 * process given one lcore runs its worker there too, so it is listed
 * twice (SPP's CLI prints lcores minus the master as the slave).
 */
void pb_fwd_lcores_json(const struct pb_fwd *f, json_t *status);

/* ---- moving bursts: every feature's burst functions use these ---- */

/* Four sums at a time, walking a pointer: 4.5 instructions a packet
 * instead of the plain loop's 6 (callgrind). */
static inline uint64_t
pb_burst_bytes(struct rte_mbuf **pkts, uint16_t n)
{
	struct rte_mbuf **p = pkts, **end = pkts + n;
	uint64_t b0 = 0, b1 = 0, b2 = 0, b3 = 0;

	for (; end - p >= 4; p += 4) {
		b0 += p[0]->pkt_len;
		b1 += p[1]->pkt_len;
		b2 += p[2]->pkt_len;
		b3 += p[3]->pkt_len;
	}
	for (; p < end; p++)
		b0 += p[0]->pkt_len;
	return b0 + b1 + b2 + b3;
}

/*
 * m, one more reader's: every segment's reference count up by one, so the
 * same mbuf can go two ways (a mirror's copy by reference, a tap) with no
 * allocation; each reader's free takes one off. One only we hold (count 1,
 * as received) needs no atomic add. Nothing in patchbay changes a shared
 * mbuf's bytes in place (pb_vlan.h copies it first).
 */
static inline struct rte_mbuf *
pb_mbuf_share(struct rte_mbuf *m)
{
	for (struct rte_mbuf *seg = m; seg != NULL; seg = seg->next) {
		if (likely(rte_mbuf_refcnt_read(seg) == 1))
			rte_mbuf_refcnt_set(seg, 2);
		else
			rte_mbuf_refcnt_update(seg, 1);
	}
	return m;
}

/* Each packet, shared, to the side's tap ring (pb_capture.c). */
void pb_tap_copy(struct pb_side *side, struct rte_ring *tap,
		 struct rte_mbuf **pkts, uint16_t n);

/* Are a port's bytes counted? Not a ring's: see pb_fwd_tx. */
static inline bool
pb_counts_bytes(const struct pb_port *port)
{
	return port->io != PB_IO_RING;
}

/* A burst from port, its packets counted on its rx side (and tapped);
 * its bytes are the caller's to count. */
static inline uint16_t
pb_fwd_rx_packets(struct pb_port *port, struct rte_mbuf **pkts, uint16_t n)
{
	struct pb_side *in = &port->slot->side[PB_RX];
	uint16_t nb_rx = pb_port_rx(port, pkts, n);
	struct rte_ring *tap;

	if (nb_rx != 0) {
		pb_count(&in->pkts, nb_rx);
		tap = __atomic_load_n(&in->tap, __ATOMIC_ACQUIRE);
		if (unlikely(tap != NULL))
			pb_tap_copy(in, tap, pkts, nb_rx);
	}
	return nb_rx;
}

/* A burst from port, counted on its rx side. */
static inline uint16_t
pb_fwd_rx(struct pb_port *port, struct rte_mbuf **pkts, uint16_t n)
{
	uint16_t nb_rx = pb_fwd_rx_packets(port, pkts, n);

	if (nb_rx != 0 && pb_counts_bytes(port))
		pb_count(&port->slot->side[PB_RX].bytes,
			 pb_burst_bytes(pkts, nb_rx));
	return nb_rx;
}

/*
 * Send n packets to port, counted on its tx side; what it does not take
 * is a counted drop and freed. Returns how many it took. Bytes are counted on every side but a
 * ring's: a ring-to-ring hop would pay a cache miss a packet just to
 * count them. They are summed before the send: once sent, the mbufs are
 * the reader's. pb_fwd_tx_sum: the same with the burst's bytes summed by
 * the caller already (0 if the port does not count them).
 */
static inline uint16_t
pb_fwd_tx_sum(struct pb_port *port, struct rte_mbuf **pkts, uint16_t n,
	      uint64_t bytes)
{
	struct pb_side *out = &port->slot->side[PB_TX];
	struct rte_ring *tap = __atomic_load_n(&out->tap, __ATOMIC_ACQUIRE);
	uint16_t nb_tx;

	if (n == 0)
		return 0;
	if (unlikely(tap != NULL))
		pb_tap_copy(out, tap, pkts, n);
	nb_tx = pb_port_tx(port, pkts, n);
	pb_count(&out->pkts, nb_tx);
	if (unlikely(nb_tx < n)) {
		if (pb_counts_bytes(port))
			bytes -= pb_burst_bytes(&pkts[nb_tx], n - nb_tx);
		pb_count(&out->drops, n - nb_tx);
		rte_pktmbuf_free_bulk(&pkts[nb_tx], n - nb_tx);
	}
	if (pb_counts_bytes(port))
		pb_count(&out->bytes, bytes);
	return nb_tx;
}

static inline uint16_t
pb_fwd_tx(struct pb_port *port, struct rte_mbuf **pkts, uint16_t n)
{
	return pb_fwd_tx_sum(port, pkts, n, pb_counts_bytes(port) && n != 0 ?
			     pb_burst_bytes(pkts, n) : 0);
}

#endif
