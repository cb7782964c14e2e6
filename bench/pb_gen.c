/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * pb-gen: a rate-limited packet generator and counting sink for the
 * benchmarks. A secondary of the panel: it writes numbered packets into
 * one shared ring at a set rate and reads what comes back from another,
 * counting losses and order. One line of JSON at the end.
 *
 *   pb-gen [EAL] --proc-type secondary -- --tx ring:0 --rx ring:1
 *          --rate PPS --size BYTES --seconds S
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include "pb_shared.h"

#define BURST 32
#define DRAIN_MS 200

struct gen_opts {
	unsigned int tx_ring, rx_ring, size;
	double rate, seconds;
};

static int
ring_index(const char *uid, unsigned int *index)
{
	return sscanf(uid, "ring:%u", index) == 1 ? 0 : -1;
}

static int
parse(int argc, char **argv, struct gen_opts *o)
{
	static const struct option longopts[] = {
		{ "tx", required_argument, NULL, 't' },
		{ "rx", required_argument, NULL, 'r' },
		{ "rate", required_argument, NULL, 'R' },
		{ "size", required_argument, NULL, 's' },
		{ "seconds", required_argument, NULL, 'S' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	*o = (struct gen_opts){ 0, 1, 64, 1e6, 1.0 };
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if ((c == 't' && ring_index(optarg, &o->tx_ring) < 0) ||
		    (c == 'r' && ring_index(optarg, &o->rx_ring) < 0) ||
		    c == '?')
			return -1;
		if (c == 'R')
			o->rate = atof(optarg);
		if (c == 's')
			o->size = (unsigned int)atoi(optarg);
		if (c == 'S')
			o->seconds = atof(optarg);
	}
	return o->size >= 60 && o->size <= 2000 && o->rate > 0 ? 0 : -1;
}

static struct rte_ring *
ring(unsigned int index)
{
	char name[RTE_RING_NAMESIZE];

	snprintf(name, sizeof(name), PB_RING_NAME_FMT, index);
	return rte_ring_lookup(name);
}

struct counts {
	uint64_t sent, received, out_of_order, next_seq;
};

static void
receive(struct rte_ring *rx, struct counts *c)
{
	struct rte_mbuf *pkts[BURST];
	unsigned int n = rte_ring_dequeue_burst(rx, (void **)pkts, BURST, NULL);

	for (unsigned int i = 0; i < n; i++) {
		uint64_t seq = *rte_pktmbuf_mtod_offset(pkts[i], uint64_t *, 14);

		c->out_of_order += seq < c->next_seq;
		c->next_seq = seq + 1;
	}
	c->received += n;
	rte_pktmbuf_free_bulk(pkts, n);
}

/* A burst of numbered packets, if the pool has them. */
static unsigned int
make_burst(struct rte_mempool *pool, struct rte_mbuf **pkts, unsigned int n,
	   unsigned int size, uint64_t first_seq)
{
	if (rte_pktmbuf_alloc_bulk(pool, pkts, n) != 0)
		return 0;
	for (unsigned int i = 0; i < n; i++) {
		char *d = rte_pktmbuf_append(pkts[i], (uint16_t)size);
		uint64_t seq = first_seq + i;

		memset(d, 0, 14);
		d[0] = 2;
		d[6] = 2;
		memcpy(d + 14, &seq, sizeof(seq));
	}
	return n;
}

static void
run(const struct gen_opts *o, struct rte_ring *tx, struct rte_ring *rx,
    struct rte_mempool *pool, struct counts *c)
{
	uint64_t hz = rte_get_tsc_hz(), start = rte_rdtsc();
	uint64_t end = start + (uint64_t)(o->seconds * (double)hz);
	struct rte_mbuf *pkts[BURST];
	uint64_t now;

	/* send what the rate allows by now, in bursts; read meanwhile */
	while ((now = rte_rdtsc()) < end) {
		uint64_t due = (uint64_t)((double)(now - start) * o->rate /
					  (double)hz);
		unsigned int n = (unsigned int)RTE_MIN(due - c->sent,
						       (uint64_t)BURST);

		if (n > 0 && (n = make_burst(pool, pkts, n, o->size,
					     c->sent)) > 0) {
			unsigned int took = rte_ring_enqueue_burst(
				tx, (void **)pkts, n, NULL);

			rte_pktmbuf_free_bulk(pkts + took, n - took);
			c->sent += n;   /* not taken: lost at the entry */
		}
		receive(rx, c);
	}
	end = rte_rdtsc() + hz * DRAIN_MS / 1000;
	while (rte_rdtsc() < end)
		receive(rx, c);
}

int
main(int argc, char **argv)
{
	struct gen_opts o;
	struct counts c = { 0 };
	struct rte_ring *tx, *rx;
	struct rte_mempool *pool;
	struct pb_shared *sh;
	char why[256];
	int n = rte_eal_init(argc, argv);

	if (n < 0)
		return 1;
	if (parse(argc - n, argv + n, &o) < 0) {
		fprintf(stderr, "usage: pb-gen [EAL] -- --tx ring:N --rx ring:M "
			"--rate PPS --size 60..2000 --seconds S\n");
		rte_eal_cleanup();
		return 2;
	}
	tx = ring(o.tx_ring);
	rx = ring(o.rx_ring);
	pool = rte_mempool_lookup(PB_POOL_NAME);
	sh = pb_shared_attach();
	if (tx == NULL || rx == NULL || pool == NULL || sh == NULL) {
		fprintf(stderr, "pb-gen: no panel rings or pool (primary?)\n");
		rte_eal_cleanup();
		return 1;
	}
	if (pb_process_attach(sh, PB_NOBODY, "pb-gen", why,
			      sizeof(why)) < 0) {
		fprintf(stderr, "pb-gen: %s\n", why);
		rte_eal_cleanup();
		return 1;
	}
	run(&o, tx, rx, pool, &c);
	pb_process_detach(sh);
	printf("{\"sent\": %" PRIu64 ", \"received\": %" PRIu64
	       ", \"lost\": %" PRId64 ", \"out_of_order\": %" PRIu64
	       ", \"rate\": %.0f, \"seconds\": %.3f}\n", c.sent, c.received,
	       (int64_t)(c.sent - c.received), c.out_of_order, o.rate,
	       o.seconds);
	rte_eal_cleanup();
	return 0;
}
