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

/*
 * Idle back-off: spin a little, yield the CPU while others take it (up
 * to IDLE_YIELDS times), then sleep 2 us, 4 us, ... up to 1 ms.
 */
#define IDLE_SPINS 64
#define IDLE_YIELDS 64
#define LONE_YIELDS 8
#define YIELD_SWITCHED_HZ 100000    /* 10 us: longer than any syscall */
#define IDLE_MAX_SLEEP_NS (1000 * 1000)

static void
find_workers(struct pb_fwd *f)
{
	unsigned int lcore;

	f->nb_workers = 0;
	RTE_LCORE_FOREACH_WORKER(lcore) {
		if (f->nb_workers == PB_MAX_WORKERS)
			break;
		f->workers[f->nb_workers++].lcore = lcore;
	}
	if (f->nb_workers == 0)
		f->workers[f->nb_workers++].lcore = rte_get_main_lcore();
	for (unsigned int i = 0; i < f->nb_workers; i++) {
		f->workers[i].fwd = f;
		f->workers[i].index = i;
	}
}

int
pb_fwd_init(struct pb_fwd *f, bool busy_poll)
{
	size_t size;

	memset(f, 0, sizeof(*f));
	f->busy_poll = busy_poll;
	find_workers(f);
	size = rte_rcu_qsbr_get_memsize(f->nb_workers);
	f->qsbr = rte_zmalloc("pb_qsbr", size, RTE_CACHE_LINE_SIZE);
	if (f->qsbr == NULL || rte_rcu_qsbr_init(f->qsbr, f->nb_workers) != 0) {
		pb_fwd_free(f);
		return -1;
	}
	return 0;
}

void
pb_fwd_free(struct pb_fwd *f)
{
	for (unsigned int i = 0; i < f->nb_features; i++) {
		f->features[i]->free(f->tables[i]);
		f->tables[i] = NULL;
	}
	f->nb_features = 0;
	rte_free(f->qsbr);
	f->qsbr = NULL;
}

int
pb_fwd_add_feature(struct pb_fwd *f, const struct pb_feature *feature,
		   void *table)
{
	if (f->nb_features == PB_MAX_FEATURES || table == NULL)
		return -1;
	f->features[f->nb_features] = feature;
	__atomic_store_n(&f->tables[f->nb_features], table, __ATOMIC_RELEASE);
	return (int)f->nb_features++;
}

/* A worker's passes in a row that moved nothing, and yields in a row
 * that ran no other thread. */
struct backoff {
	unsigned int rounds;
	unsigned int lone_yields;
};

/*
 * Give the CPU to any thread waiting for it, offline meanwhile, as when
 * asleep: a reconfiguration need not wait for the other thread's time
 * slice to end. Returns whether another thread ran before it returned
 * (alone on its CPU, a thread gets it back within a syscall's time).
 */
static bool
yield_offline(struct pb_fwd *f, unsigned int id)
{
	uint64_t start = rte_rdtsc();

	rte_rcu_qsbr_thread_offline(f->qsbr, id);
	sched_yield();
	rte_rcu_qsbr_thread_online(f->qsbr, id);
	return rte_rdtsc() - start > rte_get_tsc_hz() / YIELD_SWITCHED_HZ;
}

/*
 * Busy-polling with nothing to move: after a few rounds, give the CPU to
 * any other thread waiting for it (more busy workers than cores: the
 * next nfv of a chain may hold the packets). Not a sleep: with nobody
 * waiting, sched_yield returns at once, so there is no wake-up latency.
 */
static void
spin(struct pb_fwd *f, unsigned int id, struct backoff *b)
{
	if (++b->rounds <= IDLE_SPINS)
		rte_pause();
	else
		yield_offline(f, id);
}

/*
 * Sleep while nothing arrives, longer each time. Offline while asleep, so
 * a reconfiguration need not wait for us to wake up.
 *
 * Before the first sleep, yield the CPU while other threads want it:
 * with more workers than cores, the packets a worker waits for (or the
 * room in its full output ring) are usually with another nfv of the
 * chain on the same CPU, and sched_yield runs it at once, where a sleep
 * costs a timer, two context switches and the timer's slack (50 us)
 * while the rings run dry or full. The scheduler lets the yielding
 * thread go on now and then even when another waits (here at most 3
 * times in a row), so only LONE_YIELDS in a row say nobody else wants
 * the CPU: then sleep, and light traffic costs no more CPU than before.
 */
static void
idle(struct pb_fwd *f, unsigned int id, struct backoff *b)
{
	struct timespec ts = { 0 };
	unsigned int shift;

	if (++b->rounds <= IDLE_SPINS) {
		rte_pause();
		return;
	}
	if (b->rounds <= IDLE_SPINS + IDLE_YIELDS) {
		b->lone_yields = yield_offline(f, id) ? 0 : b->lone_yields + 1;
		if (b->lone_yields < LONE_YIELDS)
			return;
		b->rounds = IDLE_SPINS + IDLE_YIELDS + 1;   /* alone: sleep */
	}
	shift = RTE_MIN(b->rounds - IDLE_SPINS - IDLE_YIELDS, 10u);
	ts.tv_nsec = RTE_MIN(1000L << shift, (long)IDLE_MAX_SLEEP_NS);
	rte_rcu_qsbr_thread_offline(f->qsbr, id);
	nanosleep(&ts, NULL);
	rte_rcu_qsbr_thread_online(f->qsbr, id);
}

static int
worker(void *arg)
{
	struct pb_worker *w = arg;
	struct pb_fwd *f = w->fwd;
	unsigned int id = w->index;
	struct backoff backoff = { 0 };

	rte_rcu_qsbr_thread_register(f->qsbr, id);
	rte_rcu_qsbr_thread_online(f->qsbr, id);
	while (!__atomic_load_n(&f->quit, __ATOMIC_RELAXED)) {
		unsigned int moved = 0;

		if (__atomic_load_n(&f->forwarding, __ATOMIC_RELAXED)) {
			unsigned int n = __atomic_load_n(&f->nb_features,
							 __ATOMIC_ACQUIRE);

			for (unsigned int i = 0; i < n; i++)
				moved += f->features[i]->run(__atomic_load_n(
					&f->tables[i], __ATOMIC_ACQUIRE), id);
		}
		/* nothing read from a table is used past this point */
		rte_rcu_qsbr_quiescent(f->qsbr, id);
		if (moved != 0)
			backoff = (struct backoff){ 0 };
		else if (f->busy_poll)
			spin(f, id, &backoff);
		else
			idle(f, id, &backoff);
	}
	rte_rcu_qsbr_thread_offline(f->qsbr, id);
	rte_rcu_qsbr_thread_unregister(f->qsbr, id);
	return 0;
}

void
pb_fwd_sync(struct pb_fwd *f)
{
	uint64_t token = rte_rcu_qsbr_start(f->qsbr);

	/*
	 * Not rte_rcu_qsbr_synchronize(): it spins, and when the control
	 * thread shares a core with a worker (2 cores, 3 busy processes)
	 * spinning keeps the worker from reaching the very state it waits
	 * for. A worker passes one every loop, so short sleeps suffice.
	 */
	while (!rte_rcu_qsbr_check(f->qsbr, token, false)) {
		struct timespec ts = { .tv_nsec = 2000 };

		nanosleep(&ts, NULL);
	}
}

void
pb_fwd_publish(struct pb_fwd *f, int feature, void *table)
{
	void *old;

	old = __atomic_exchange_n(&f->tables[feature], table, __ATOMIC_RELEASE);
	pb_fwd_sync(f);
	f->features[feature]->free(old);
}

bool
pb_fwd_uses(const struct pb_fwd *f, int feature, const void *table,
	    const struct pb_port *port, enum pb_dir dir)
{
	for (unsigned int i = 0; i < f->nb_features; i++) {
		const void *t = (int)i == feature ? table : f->tables[i];

		if (f->features[i]->uses(t, port, dir))
			return true;
	}
	return false;
}

int
pb_fwd_worker_of_lcore(const struct pb_fwd *f, unsigned int lcore)
{
	for (unsigned int i = 0; i < f->nb_workers; i++)
		if (f->workers[i].lcore == lcore)
			return (int)i;
	return -1;
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

static int
run_on_main_lcore(struct pb_fwd *f, struct control_call *call)
{
	pthread_t tid;
	int ret;

	ret = pthread_create(&tid, NULL, control_thread, call);
	if (ret != 0)
		return -ret;
	keep_off_worker_cpu(tid);
	worker(&f->workers[0]);
	pthread_join(tid, NULL);
	return 0;
}

int
pb_fwd_run(struct pb_fwd *f, void (*control)(void *), void *arg)
{
	struct control_call call = { control, arg, f };
	unsigned int launched = 0;
	int ret = 0;

	if (f->workers[0].lcore == rte_get_main_lcore())
		return run_on_main_lcore(f, &call);
	for (; launched < f->nb_workers && ret == 0; launched++)
		ret = rte_eal_remote_launch(worker, &f->workers[launched],
					    f->workers[launched].lcore);
	if (ret == 0)
		control_thread(&call);
	else
		__atomic_store_n(&f->quit, true, __ATOMIC_RELAXED);
	for (unsigned int i = 0; i < launched; i++)
		rte_eal_wait_lcore(f->workers[i].lcore);
	return ret;
}

void
pb_fwd_lcores_json(const struct pb_fwd *f, json_t *status)
{
	json_t *lcores = json_array();

	json_array_append_new(lcores, json_integer(rte_get_main_lcore()));
	for (unsigned int i = 0; i < f->nb_workers; i++)
		json_array_append_new(lcores, json_integer(f->workers[i].lcore));
	json_object_set_new(status, "master-lcore",
			    json_integer(rte_get_main_lcore()));
	json_object_set_new(status, "lcores", lcores);
}
