/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * pb-gen: a rate-limited packet generator and counting sink for the
 * benchmarks. A secondary of the panel: it writes numbered, time-stamped
 * packets into one port at a set rate and reads what comes back from
 * another, counting losses and order and each packet's latency (TSC at
 * enqueue to TSC at dequeue, both read by this one process). One line of
 * JSON at the end.
 *
 *   pb-gen [EAL] --proc-type secondary -- --tx ring:0 --rx ring:1
 *          --rate PPS --size BYTES --seconds S
 *
 * Its ports are the panel's, opened as an nfv's add opens them: "ring:0",
 * or "virtio:0 path=/run/vhost0.sock" to stream through a vhost switch.
 *
 * With --floor it sends nothing: it spins on its CPU as a forwarder that
 * costs nothing would, serving at once every packet a stream of --rate
 * would have brought by then. The latency it reports is what the CPU
 * alone adds, when whatever runs beside or beneath (interrupts, other
 * tasks, a hypervisor) takes it away: the floor of any path through it.
 *
 * With --relay it is the least a DPDK process can do between two rings:
 * it moves bursts from --rx to --tx, spinning, until SIGINT or SIGTERM
 * (or --seconds, if given): the reference a switch's hop is measured
 * against.
 */
#define _GNU_SOURCE     /* RUSAGE_THREAD */
#include <getopt.h>
#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <rte_common.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_mbuf.h>

#include "pb_port.h"
#include "pb_shared.h"
#include "pb_version.h"

#define BURST 32
#define DRAIN_MS 200
#define PRIME_MS 5000

/* Where a packet carries its sequence number and its send time. */
#define SEQ_OFFSET 14
#define TSC_OFFSET 22

/*
 * Latency histogram, log-linear as HdrHistogram's: values below 64 cycles
 * exactly, above them 32 buckets per power of two (3 % resolution).
 */
#define LIN_LIMIT 64
#define SUB_BITS 5
#define NB_BUCKETS (LIN_LIMIT + (64 - 6) * (1 << SUB_BITS))

struct latency {
	uint64_t count[NB_BUCKETS];
	uint64_t samples, min, max;
};

struct gen_opts {
	const char *tx, *rx;     /* port specs */
	unsigned int size;
	double rate, seconds;
	int cpu_floor, relay;
};

static int
parse(int argc, char **argv, struct gen_opts *o)
{
	static const struct option longopts[] = {
		{ "tx", required_argument, NULL, 't' },
		{ "rx", required_argument, NULL, 'r' },
		{ "rate", required_argument, NULL, 'R' },
		{ "size", required_argument, NULL, 's' },
		{ "seconds", required_argument, NULL, 'S' },
		{ "floor", no_argument, NULL, 'F' },
		{ "relay", no_argument, NULL, 'L' },
		{ NULL, 0, NULL, 0 },
	};
	int c, seconds_given = 0;

	*o = (struct gen_opts){ "ring:0", "ring:1", 64, 1e6, 1.0, 0, 0 };
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (c == '?')
			return -1;
		if (c == 't')
			o->tx = optarg;
		if (c == 'r')
			o->rx = optarg;
		if (c == 'R')
			o->rate = atof(optarg);
		if (c == 's')
			o->size = (unsigned int)atoi(optarg);
		if (c == 'S') {
			o->seconds = atof(optarg);
			seconds_given = 1;
		}
		if (c == 'F')
			o->cpu_floor = 1;
		if (c == 'L')
			o->relay = 1;
	}
	if (o->relay && !seconds_given)
		o->seconds = 0;     /* until told to stop */
	return o->size >= 60 && o->size <= 2000 && o->rate > 0 ? 0 : -1;
}

/* "virtio:0 path=/s" -> the port, opened as an nfv's add would open it */
static struct pb_port *
open_port(const struct pb_port_env *env, const char *spec)
{
	char *text = strdup(spec), *save = NULL, *word;
	struct pb_result res = { NULL, NULL };
	json_t *opts = json_object();
	struct pb_port *p = NULL;
	const char *err = "no port named";
	struct pb_uid uid;

	word = text != NULL ? strtok_r(text, " ", &save) : NULL;
	if (word == NULL || pb_uid_parse(word, &uid, &err) < 0)
		goto fail;
	err = "vhost ports need a worker thread: stream through virtio";
	if (uid.type == PB_PORT_VHOST)
		goto fail;
	while ((word = strtok_r(NULL, " ", &save)) != NULL) {
		char *eq = strchr(word, '=');

		err = "options are key=value";
		if (eq == NULL)
			goto fail;
		*eq = '\0';
		json_object_set_new(opts, word, json_string(eq + 1));
	}
	p = pb_port_open(env, &uid, opts, &res);
	err = res.error;
	if (p == NULL)
		goto fail;
	free(text);
	json_decref(opts);
	return p;
fail:
	fprintf(stderr, "pb-gen: %s: %s\n", spec, err);
	free(res.error);
	free(text);
	json_decref(opts);
	return NULL;
}

static unsigned int
bucket_of(uint64_t cycles)
{
	unsigned int e;

	if (cycles < LIN_LIMIT)
		return (unsigned int)cycles;
	e = 63 - (unsigned int)__builtin_clzll(cycles);       /* >= 6 */
	return LIN_LIMIT + (e - 6) * (1 << SUB_BITS) +
	       (unsigned int)((cycles >> (e - SUB_BITS)) & ((1 << SUB_BITS) - 1));
}

/* The highest value bucket b holds. */
static uint64_t
bucket_top(unsigned int b)
{
	unsigned int e, sub;

	if (b < LIN_LIMIT)
		return b;
	e = (b - LIN_LIMIT) / (1 << SUB_BITS) + 6;
	sub = (b - LIN_LIMIT) % (1 << SUB_BITS);
	return ((uint64_t)((1 << SUB_BITS) + sub + 1) << (e - SUB_BITS)) - 1;
}

static void
latency_add(struct latency *l, uint64_t cycles)
{
	l->count[bucket_of(cycles)]++;
	l->min = l->samples == 0 || cycles < l->min ? cycles : l->min;
	l->max = cycles > l->max ? cycles : l->max;
	l->samples++;
}

/* The value at or below which a share q of the samples lie. */
static uint64_t
latency_quantile(const struct latency *l, double q)
{
	uint64_t want = (uint64_t)(q * (double)l->samples + 0.999999), seen = 0;

	for (unsigned int b = 0; b < NB_BUCKETS; b++) {
		seen += l->count[b];
		if (seen >= want && seen > 0)
			return RTE_MIN(bucket_top(b), l->max);
	}
	return l->max;
}

struct counts {
	uint64_t sent, received, out_of_order, next_seq;
	uint64_t stalls, stalled;   /* --floor: rounds over 1 us, their cycles */
	long preempted;             /* --floor: times another task ran */
	struct latency latency;
};

static unsigned int
receive(struct pb_port *rx, struct counts *c)
{
	struct rte_mbuf *pkts[BURST];
	unsigned int n = pb_port_rx(rx, pkts, BURST);
	uint64_t now = rte_rdtsc();

	for (unsigned int i = 0; i < n; i++) {
		uint64_t seq, sent_at;

		/* the ethernet header leaves them unaligned: memcpy */
		memcpy(&seq, rte_pktmbuf_mtod_offset(pkts[i], void *,
						     SEQ_OFFSET), sizeof(seq));
		memcpy(&sent_at, rte_pktmbuf_mtod_offset(pkts[i], void *,
							 TSC_OFFSET),
		       sizeof(sent_at));
		c->out_of_order += seq < c->next_seq;
		c->next_seq = seq + 1;
		latency_add(&c->latency, now - sent_at);
	}
	c->received += n;
	rte_pktmbuf_free_bulk(pkts, n);
	return n;
}

/* A burst of numbered packets stamped now, if the pool has them. */
static unsigned int
make_burst(struct rte_mempool *pool, struct rte_mbuf **pkts, unsigned int n,
	   unsigned int size, uint64_t first_seq)
{
	uint64_t now;

	if (rte_pktmbuf_alloc_bulk(pool, pkts, n) != 0)
		return 0;
	now = rte_rdtsc();
	for (unsigned int i = 0; i < n; i++) {
		char *d = rte_pktmbuf_append(pkts[i], (uint16_t)size);
		uint64_t seq = first_seq + i;

		memset(d, 0, 14);
		d[0] = 2;
		d[6] = 2;
		memcpy(d + SEQ_OFFSET, &seq, sizeof(seq));
		memcpy(d + TSC_OFFSET, &now, sizeof(now));
	}
	return n;
}

/*
 * A path through virtio and a vhost switch carries packets a while after
 * its ports are open (the switch sets its queues up once the driver's
 * features arrive): send single packets until one comes back, for at most
 * PRIME_MS, then let what is in flight drain. None of it is counted. A
 * path of rings has no link to wait for.
 */
static void
prime(struct pb_port *tx, struct pb_port *rx, struct rte_mempool *pool,
      unsigned int size)
{
	static struct counts scratch;
	uint64_t hz = rte_get_tsc_hz(), end = rte_rdtsc() + hz * PRIME_MS / 1000;
	struct rte_mbuf *pkt;

	if (tx->io == PB_IO_RING && rx->io == PB_IO_RING)
		return;
	while (scratch.received == 0 && rte_rdtsc() < end) {
		if (make_burst(pool, &pkt, 1, size, 0) == 1 &&
		    pb_port_tx(tx, &pkt, 1) == 0)
			rte_pktmbuf_free(pkt);
		rte_delay_us_sleep(100);
		receive(rx, &scratch);
	}
	end = rte_rdtsc() + hz * DRAIN_MS / 1000;
	while (rte_rdtsc() < end)
		receive(rx, &scratch);
}

static void
run(const struct gen_opts *o, struct pb_port *tx, struct pb_port *rx,
    struct rte_mempool *pool, struct counts *c)
{
	uint64_t hz = rte_get_tsc_hz(), start = rte_rdtsc();
	uint64_t end = start + (uint64_t)(o->seconds * (double)hz);
	struct rte_mbuf *pkts[BURST];
	unsigned int got;
	uint64_t now;

	/* send what the rate allows by now, in bursts; read meanwhile (up to
	 * four bursts, so that what comes back does not wait behind us) */
	while ((now = rte_rdtsc()) < end) {
		uint64_t due = (uint64_t)((double)(now - start) * o->rate /
					  (double)hz);
		unsigned int n = (unsigned int)RTE_MIN(due - c->sent,
						       (uint64_t)BURST);

		if (n > 0 && (n = make_burst(pool, pkts, n, o->size,
					     c->sent)) > 0) {
			unsigned int took = pb_port_tx(tx, pkts,
						       (uint16_t)n);

			rte_pktmbuf_free_bulk(pkts + took, n - took);
			c->sent += n;   /* not taken: lost at the entry */
		}
		/*
		 * Nothing to send yet and nothing back: let a worker that shares
		 * this core run (2 cores, 3 busy processes). With nobody else
		 * runnable sched_yield returns at once.
		 */
		got = 0;
		for (unsigned int i = 0; i < 4 && got == BURST * i; i++)
			got += receive(rx, c);
		if (got == 0 && n == 0)
			sched_yield();
	}
	end = rte_rdtsc() + hz * DRAIN_MS / 1000;
	while (rte_rdtsc() < end)
		receive(rx, c);
}

/*
 * The zero-cost forwarder: packet k of the stream arrives at start + k /
 * rate; each round serves every packet that has arrived. A round takes a
 * few ns, unless the CPU was taken away: then every packet that arrived
 * meanwhile waits for the rest of that gap, as it would in a real switch.
 */
static void
run_floor(const struct gen_opts *o, struct counts *c)
{
	double cycles_apart = (double)rte_get_tsc_hz() / o->rate;
	uint64_t start = rte_rdtsc(), now, last = start;
	uint64_t end = start + (uint64_t)(o->seconds * (double)rte_get_tsc_hz());
	uint64_t stall = rte_get_tsc_hz() / 1000000;
	struct rusage before, after;

	getrusage(RUSAGE_THREAD, &before);
	while ((now = rte_rdtsc()) < end) {
		uint64_t arrival;

		if (now - last > stall) {
			c->stalls++;
			c->stalled += now - last;
		}
		while ((arrival = start + (uint64_t)((double)c->sent *
						     cycles_apart)) <= now) {
			latency_add(&c->latency, now - arrival);
			c->sent++;
		}
		last = rte_rdtsc();     /* a stall is time not spent serving */
	}
	getrusage(RUSAGE_THREAD, &after);
	c->preempted = after.ru_nivcsw - before.ru_nivcsw;
	c->received = c->sent;
	c->next_seq = c->sent;
}

static volatile sig_atomic_t stop_relay;

static void
on_signal(int sig __rte_unused)
{
	stop_relay = 1;
}

static void
run_relay(const struct gen_opts *o, struct pb_port *from,
	  struct pb_port *to, struct counts *c)
{
	uint64_t end = o->seconds > 0 ? rte_rdtsc() + (uint64_t)(o->seconds *
			(double)rte_get_tsc_hz()) : UINT64_MAX;
	struct rte_mbuf *pkts[BURST];

	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	while (!stop_relay && rte_rdtsc() < end) {
		uint16_t n = pb_port_rx(from, pkts, BURST);
		uint16_t took = pb_port_tx(to, pkts, n);

		rte_pktmbuf_free_bulk(pkts + took, n - took);
		c->sent += n;           /* taken in */
		c->received += took;    /* passed on; the rest lost */
	}
}

static double
to_ns(uint64_t cycles)
{
	return (double)cycles * 1e9 / (double)rte_get_tsc_hz();
}

/* Latency in ns: the quantiles, and every non-empty bucket's top and count
 * (a percentile plot's data). */
static json_t *
latency_json(const struct latency *l)
{
	static const struct { const char *key; double q; } quantiles[] = {
		{ "p50", 0.5 }, { "p90", 0.9 }, { "p99", 0.99 },
		{ "p99_9", 0.999 }, { "p99_99", 0.9999 },
	};
	json_t *out = json_pack("{sI sf sf}", "samples", (json_int_t)l->samples,
				"min", to_ns(l->min), "max", to_ns(l->max));
	json_t *buckets = json_array();

	for (size_t i = 0; i < RTE_DIM(quantiles); i++)
		json_object_set_new(out, quantiles[i].key, json_real(to_ns(
			latency_quantile(l, quantiles[i].q))));
	for (unsigned int b = 0; b < NB_BUCKETS; b++)
		if (l->count[b] > 0)
			json_array_append_new(buckets, json_pack("[f I]",
				to_ns(RTE_MIN(bucket_top(b), l->max)),
				(json_int_t)l->count[b]));
	json_object_set_new(out, "histogram", buckets);
	return out;
}

static void
report(const struct gen_opts *o, const struct counts *c)
{
	json_t *out = json_pack("{sI sI sI sI sf sf so}",
				"sent", (json_int_t)c->sent,
				"received", (json_int_t)c->received,
				"lost", (json_int_t)(c->sent - c->received),
				"out_of_order", (json_int_t)c->out_of_order,
				"rate", o->rate, "seconds", o->seconds,
				"latency_ns", latency_json(&c->latency));

	if (o->cpu_floor)
		json_object_set_new(out, "stalls", json_pack("{sI sf sI}",
			"count", (json_int_t)c->stalls,
			"ns", to_ns(c->stalled),
			"preempted", (json_int_t)c->preempted));
	json_dumpf(out, stdout, JSON_COMPACT);
	putchar('\n');
	json_decref(out);
}

int
main(int argc, char **argv)
{
	struct gen_opts o;
	static struct counts c;     /* its histogram is 15 KiB */
	struct pb_port *tx, *rx;
	struct pb_port_env env;
	struct rte_mempool *pool;
	struct pb_shared *sh;
	char why[256];
	int n;

	if (pb_version_asked(argc, argv))
		return 0;
	n = rte_eal_init(argc, argv);

	if (n < 0)
		return 1;
	if (parse(argc - n, argv + n, &o) < 0) {
		fprintf(stderr, "usage: pb-gen [EAL] -- --tx PORT --rx PORT "
			"--rate PPS --size 60..2000 --seconds S "
			"[--floor | --relay]\n"
			"  PORT: a panel port as an nfv adds it: \"ring:0\", "
			"\"virtio:0 path=/s.sock\"\n");
		rte_eal_cleanup();
		return 2;
	}
	if (o.cpu_floor) {
		run_floor(&o, &c);
		report(&o, &c);
		rte_eal_cleanup();
		return 0;
	}
	pool = rte_mempool_lookup(PB_POOL_NAME);
	sh = pb_shared_attach();
	if (pool == NULL || sh == NULL) {
		fprintf(stderr, "pb-gen: no panel pool (primary?)\n");
		rte_eal_cleanup();
		return 1;
	}
	if (pb_process_attach(sh, PB_NOBODY, "pb-gen", why,
			      sizeof(why)) < 0) {
		fprintf(stderr, "pb-gen: %s\n", why);
		rte_eal_cleanup();
		return 1;
	}
	env = (struct pb_port_env){ .sh = sh, .pool = pool,
				    .client = PB_NOBODY };
	tx = open_port(&env, o.tx);
	rx = tx != NULL ? open_port(&env, o.rx) : NULL;
	if (rx != NULL && o.relay) {
		run_relay(&o, rx, tx, &c);
	} else if (rx != NULL) {
		prime(tx, rx, pool, o.size);
		run(&o, tx, rx, pool, &c);
	}
	if (rx != NULL)
		pb_port_close(&env, rx);
	if (tx != NULL)
		pb_port_close(&env, tx);
	pb_process_detach(sh);
	if (rx != NULL)
		report(&o, &c);
	rte_eal_cleanup();
	return rx != NULL ? 0 : 1;
}
