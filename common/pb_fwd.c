/* SPDX-License-Identifier: BSD-3-Clause */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <unistd.h>
#include <stdlib.h>
#include <time.h>

#include <rte_cycles.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_malloc.h>

#include "pb_fwd.h"
#include "pb_port.h"

#define WORKER_THREAD_ID 0
/* Idle back-off: spin a little, then sleep 1 us, 2 us, ... up to 1 ms. */
#define IDLE_SPINS 64
#define IDLE_MAX_SLEEP_NS (1000 * 1000)

int
pb_fwd_init(struct pb_fwd *f, bool busy_poll)
{
	size_t size = rte_rcu_qsbr_get_memsize(1);

	f->busy_poll = busy_poll;
	f->forwarding = false;
	f->quit = false;
	f->table = pb_patch_table_new();
	f->qsbr = rte_zmalloc("pb_qsbr", size, RTE_CACHE_LINE_SIZE);
	if (f->table == NULL || f->qsbr == NULL ||
	    rte_rcu_qsbr_init(f->qsbr, 1) != 0) {
		pb_fwd_free(f);
		return -1;
	}
	return 0;
}

void
pb_fwd_free(struct pb_fwd *f)
{
	free(f->table);
	rte_free(f->qsbr);
	f->table = NULL;
	f->qsbr = NULL;
}

/* Four sums at a time, walking a pointer: 4.5 instructions a packet
 * instead of the plain loop's 6 (callgrind), the only per-packet work
 * the worker adds to the ports' own. */
static inline uint64_t
burst_bytes(struct rte_mbuf **pkts, uint16_t n)
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
 * Bytes are summed only when a side of the patch is not a ring: every
 * other port kind has touched the mbufs anyway, but a ring-to-ring hop
 * would pay a cache miss per packet just to count them.
 */
static inline unsigned int
forward_patch(const struct pb_patch *patch)
{
	struct rte_mbuf *pkts[PB_BURST];
	struct pb_port *src = patch->src, *dst = patch->dst;
	struct pb_side *in = &src->slot->side[PB_RX];
	struct pb_side *out = &dst->slot->side[PB_TX];
	bool count_bytes = src->io != PB_IO_RING || dst->io != PB_IO_RING;
	uint64_t bytes = 0;
	uint16_t nb_rx, nb_tx;

	nb_rx = pb_port_rx(src, pkts, PB_BURST);
	if (nb_rx == 0)
		return 0;
	pb_count(&in->pkts, nb_rx);
	if (count_bytes) {
		bytes = burst_bytes(pkts, nb_rx);
		pb_count(&in->bytes, bytes);
	}
	nb_tx = pb_port_tx(dst, pkts, nb_rx);
	pb_count(&out->pkts, nb_tx);
	if (unlikely(nb_tx < nb_rx)) {
		if (count_bytes)
			bytes -= burst_bytes(&pkts[nb_tx], nb_rx - nb_tx);
		pb_count(&out->drops, nb_rx - nb_tx);
		rte_pktmbuf_free_bulk(&pkts[nb_tx], nb_rx - nb_tx);
	}
	if (count_bytes)
		pb_count(&out->bytes, bytes);
	return nb_rx;
}

/*
 * Sleep while nothing arrives, longer each time. Offline while asleep, so
 * a reconfiguration need not wait for us to wake up.
 */
static void
idle(struct pb_fwd *f, unsigned int *idle_rounds)
{
	struct timespec ts = { 0 };
	unsigned int shift;

	if (++*idle_rounds <= IDLE_SPINS) {
		rte_pause();
		return;
	}
	shift = RTE_MIN(*idle_rounds - IDLE_SPINS, 10u);
	ts.tv_nsec = RTE_MIN(1000L << shift, (long)IDLE_MAX_SLEEP_NS);
	rte_rcu_qsbr_thread_offline(f->qsbr, WORKER_THREAD_ID);
	nanosleep(&ts, NULL);
	rte_rcu_qsbr_thread_online(f->qsbr, WORKER_THREAD_ID);
}

static int
worker(void *arg)
{
	struct pb_fwd *f = arg;
	unsigned int idle_rounds = 0;

	rte_rcu_qsbr_thread_register(f->qsbr, WORKER_THREAD_ID);
	rte_rcu_qsbr_thread_online(f->qsbr, WORKER_THREAD_ID);
	while (!__atomic_load_n(&f->quit, __ATOMIC_RELAXED)) {
		unsigned int moved = 0;

		if (__atomic_load_n(&f->forwarding, __ATOMIC_RELAXED)) {
			const struct pb_patch_table *t =
				__atomic_load_n(&f->table, __ATOMIC_ACQUIRE);

			for (unsigned int i = 0; i < t->count; i++)
				moved += forward_patch(&t->patches[i]);
		}
		/* nothing read from the table is used past this point */
		rte_rcu_qsbr_quiescent(f->qsbr, WORKER_THREAD_ID);
		if (moved != 0 || f->busy_poll)
			idle_rounds = 0;
		else
			idle(f, &idle_rounds);
	}
	rte_rcu_qsbr_thread_offline(f->qsbr, WORKER_THREAD_ID);
	rte_rcu_qsbr_thread_unregister(f->qsbr, WORKER_THREAD_ID);
	return 0;
}

void
pb_fwd_sync(struct pb_fwd *f)
{
	uint64_t token = rte_rcu_qsbr_start(f->qsbr);

	/*
	 * Not rte_rcu_qsbr_synchronize(): it spins, and when the control
	 * thread shares a core with the worker (2 cores, 3 busy processes)
	 * spinning keeps the worker from reaching the very state it waits
	 * for. A worker passes one every loop, so short sleeps suffice.
	 */
	while (!rte_rcu_qsbr_check(f->qsbr, token, false)) {
		struct timespec ts = { .tv_nsec = 2000 };

		nanosleep(&ts, NULL);
	}
}

void
pb_fwd_publish(struct pb_fwd *f, struct pb_patch_table *table)
{
	struct pb_patch_table *old;

	old = __atomic_exchange_n(&f->table, table, __ATOMIC_RELEASE);
	pb_fwd_sync(f);
	free(old);
}

void
pb_fwd_set_forwarding(struct pb_fwd *f, bool on)
{
	__atomic_store_n(&f->forwarding, on, __ATOMIC_RELAXED);
	pb_fwd_sync(f);
}

bool
pb_fwd_is_forwarding(const struct pb_fwd *f)
{
	return __atomic_load_n(&f->forwarding, __ATOMIC_RELAXED);
}

struct control_call {
	void (*fn)(void *);
	void *arg;
	struct pb_fwd *f;
};

static void *
control_thread(void *p)
{
	struct control_call *c = p;

	c->fn(c->arg);
	__atomic_store_n(&c->f->quit, true, __ATOMIC_RELAXED);
	return NULL;
}

/* The control thread inherits the main lcore's pinning: move it to the
 * other CPUs, if there are any, so it does not take the worker's. */
static void
keep_off_worker_cpu(pthread_t tid)
{
	rte_cpuset_t worker = rte_lcore_cpuset(rte_get_main_lcore());
	cpu_set_t others;
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	CPU_ZERO(&others);
	for (long cpu = 0; cpu < n && cpu < CPU_SETSIZE; cpu++)
		if (!CPU_ISSET(cpu, &worker))
			CPU_SET(cpu, &others);
	if (CPU_COUNT(&others) > 0)
		pthread_setaffinity_np(tid, sizeof(others), &others);
}

int
pb_fwd_run(struct pb_fwd *f, void (*control)(void *), void *arg)
{
	struct control_call call = { control, arg, f };
	unsigned int lcore = rte_get_next_lcore(-1, 1, 0);
	pthread_t tid;
	int ret;

	f->worker_lcore = lcore < RTE_MAX_LCORE ? lcore : rte_get_main_lcore();
	if (lcore < RTE_MAX_LCORE) {
		ret = rte_eal_remote_launch(worker, f, lcore);
		if (ret < 0)
			return ret;
		control_thread(&call);
		rte_eal_wait_lcore(lcore);
		return 0;
	}
	ret = pthread_create(&tid, NULL, control_thread, &call);
	if (ret != 0)
		return -ret;
	keep_off_worker_cpu(tid);
	worker(f);
	pthread_join(tid, NULL);
	return 0;
}

void
pb_fwd_lcores_json(const struct pb_fwd *f, json_t *status)
{
	unsigned int main_lcore = rte_get_main_lcore();

	json_object_set_new(status, "master-lcore", json_integer(main_lcore));
	json_object_set_new(status, "lcores", json_pack("[i, i]", main_lcore,
							f->worker_lcore));
}
