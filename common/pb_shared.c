/* SPDX-License-Identifier: BSD-3-Clause */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <rte_lcore.h>
#include <rte_memzone.h>

#include "pb_shared.h"

struct pb_shared *
pb_shared_create(void)
{
	const struct rte_memzone *mz;
	struct pb_shared *sh;

	mz = rte_memzone_reserve(PB_SHARED_MZ, sizeof(*sh), SOCKET_ID_ANY, 0);
	if (mz == NULL)
		return NULL;
	sh = mz->addr;
	memset(sh, 0, sizeof(*sh));
	rte_spinlock_init(&sh->lock);
	sh->primary_pid = getpid();
	return sh;
}

struct pb_shared *
pb_shared_attach(void)
{
	const struct rte_memzone *mz = rte_memzone_lookup(PB_SHARED_MZ);

	return mz != NULL ? mz->addr : NULL;
}

static int
pid_alive(int32_t pid)
{
	return pid > 0 && (kill(pid, 0) == 0 || errno == EPERM);
}

static void
slot_init(struct pb_slot *s, const char *uid, int adder)
{
	memset(s, 0, sizeof(*s));
	snprintf(s->uid, sizeof(s->uid), "%s", uid);
	s->adder = adder;
	s->adder_pid = adder == PB_NOBODY ? 0 : getpid();
	for (int d = PB_RX; d <= PB_TX; d++)
		s->side[d].holder = PB_NOBODY;
}

static struct pb_slot *
find_locked(struct pb_shared *sh, const char *uid)
{
	for (int i = 0; i < PB_MAX_SLOTS; i++)
		if (strcmp(sh->slots[i].uid, uid) == 0)
			return &sh->slots[i];
	return NULL;
}

struct pb_slot *
pb_slot_find(struct pb_shared *sh, const char *uid)
{
	struct pb_slot *s;

	rte_spinlock_lock(&sh->lock);
	s = find_locked(sh, uid);
	rte_spinlock_unlock(&sh->lock);
	return s;
}

static struct pb_slot *
alloc_locked(struct pb_shared *sh, const char *uid, int adder)
{
	struct pb_slot *s = find_locked(sh, "");

	if (s != NULL)
		slot_init(s, uid, adder);
	return s;
}

struct pb_slot *
pb_slot_add_builtin(struct pb_shared *sh, const char *uid)
{
	struct pb_slot *s;

	rte_spinlock_lock(&sh->lock);
	s = alloc_locked(sh, uid, PB_NOBODY);
	rte_spinlock_unlock(&sh->lock);
	return s;
}

struct pb_slot *
pb_slot_register(struct pb_shared *sh, const char *uid, int client,
		 const char **why)
{
	struct pb_slot *s;

	rte_spinlock_lock(&sh->lock);
	s = find_locked(sh, uid);
	if (s != NULL && s->adder == PB_NOBODY) {
		*why = "is built in: the primary made it";
		s = NULL;
	} else if (s != NULL && pid_alive(s->adder_pid) &&
		   s->adder_pid != getpid()) {
		*why = "is already added by another process";
		s = NULL;
	} else if (s != NULL) {
		slot_init(s, uid, client);  /* its adder died: take it over */
	} else {
		s = alloc_locked(sh, uid, client);
		if (s == NULL)
			*why = "cannot be added: the panel's port table is full";
	}
	rte_spinlock_unlock(&sh->lock);
	return s;
}

void
pb_slot_unregister(struct pb_shared *sh, struct pb_slot *slot)
{
	rte_spinlock_lock(&sh->lock);
	slot->uid[0] = '\0';
	rte_spinlock_unlock(&sh->lock);
}

int
pb_side_hold(struct pb_shared *sh, struct pb_slot *slot, enum pb_dir dir,
	     int client, int *holder)
{
	struct pb_side *side = &slot->side[dir];
	int ret = 0;

	rte_spinlock_lock(&sh->lock);
	if (side->holder != PB_NOBODY && side->holder != client &&
	    pid_alive(side->holder_pid)) {
		*holder = side->holder;
		ret = -1;
	} else {
		side->holder = client;
		side->holder_pid = getpid();
	}
	rte_spinlock_unlock(&sh->lock);
	return ret;
}

void
pb_side_release(struct pb_shared *sh, struct pb_slot *slot, enum pb_dir dir,
		int client)
{
	struct pb_side *side = &slot->side[dir];

	rte_spinlock_lock(&sh->lock);
	if (side->holder == client) {
		side->holder = PB_NOBODY;
		side->holder_pid = 0;
	}
	rte_spinlock_unlock(&sh->lock);
}

void
pb_shared_release_client(struct pb_shared *sh, int client)
{
	for (int i = 0; i < PB_MAX_SLOTS; i++) {
		struct pb_slot *s = &sh->slots[i];

		pb_side_release(sh, s, PB_RX, client);
		pb_side_release(sh, s, PB_TX, client);
		if (s->uid[0] != '\0' && s->adder == client)
			pb_slot_unregister(sh, s);
	}
}

int
pb_primary_alive(const struct pb_shared *sh)
{
	return pid_alive(sh->primary_pid);
}

static uint64_t
read_counter(const uint64_t *c)
{
	return __atomic_load_n(c, __ATOMIC_RELAXED);
}

void
pb_slot_counters(const struct pb_slot *s, struct pb_counters *c)
{
	const struct pb_side *rx = &s->side[PB_RX], *tx = &s->side[PB_TX];

	c->rx = read_counter(&rx->pkts) - s->base[PB_RX].pkts;
	c->rx_bytes = read_counter(&rx->bytes) - s->base[PB_RX].bytes;
	c->rx_drop = read_counter(&rx->drops) - s->base[PB_RX].drops;
	c->tx = read_counter(&tx->pkts) - s->base[PB_TX].pkts;
	c->tx_bytes = read_counter(&tx->bytes) - s->base[PB_TX].bytes;
	c->tx_drop = read_counter(&tx->drops) - s->base[PB_TX].drops;
}

/*
 * Counters only ever grow, written by their holder alone; `clear` moves
 * the baseline instead of zeroing them, so it never races with a writer.
 */
void
pb_slot_clear(struct pb_slot *s)
{
	for (int d = PB_RX; d <= PB_TX; d++) {
		s->base[d].pkts = read_counter(&s->side[d].pkts);
		s->base[d].bytes = read_counter(&s->side[d].bytes);
		s->base[d].drops = read_counter(&s->side[d].drops);
	}
}

void
pb_shared_clear(struct pb_shared *sh)
{
	for (int i = 0; i < PB_MAX_SLOTS; i++)
		pb_slot_clear(&sh->slots[i]);
}

json_t *
pb_counters_json(const struct pb_counters *c)
{
	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}",
			 "rx", (json_int_t)c->rx, "tx", (json_int_t)c->tx,
			 "rx_drop", (json_int_t)c->rx_drop,
			 "tx_drop", (json_int_t)c->tx_drop,
			 "rx_bytes", (json_int_t)c->rx_bytes,
			 "tx_bytes", (json_int_t)c->tx_bytes);
}

/* Field 22 of /proc/PID/stat, after a name that may hold spaces and ')'. */
static uint64_t
proc_start_time(int32_t pid)
{
	char path[32], buf[512], *p;
	unsigned long long start = 0;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (f == NULL)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	p = strrchr(buf, ')');
	if (p == NULL || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u "
				"%*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu",
				&start) != 1)
		return 0;
	return start;
}

void
pb_proc_get(int32_t pid, struct pb_proc *p)
{
	p->pid = pid;
	p->start_time = proc_start_time(pid);
}

void
pb_proc_self(struct pb_proc *p)
{
	pb_proc_get(getpid(), p);
}

bool
pb_proc_alive(const struct pb_proc *p)
{
	return pid_alive(p->pid) && proc_start_time(p->pid) == p->start_time;
}

static bool
is_self(const struct pb_proc *p)
{
	return p->pid == getpid();
}

static bool
owner_live_locked(const struct pb_lcore_owner *o)
{
	return o->proc.pid != 0 && pb_proc_alive(&o->proc);
}

int
pb_lcores_claim(struct pb_shared *sh, const char *name, char *why,
		size_t len)
{
	struct pb_lcore_owner me = { 0 };
	unsigned int id;
	int ret = 0;

	pb_proc_self(&me.proc);
	snprintf(me.name, sizeof(me.name), "%s", name);
	rte_spinlock_lock(&sh->lock);
	RTE_LCORE_FOREACH(id) {
		const struct pb_lcore_owner *o = &sh->lcores[id];

		if (owner_live_locked(o) && !is_self(&o->proc)) {
			snprintf(why, len, "lcore %u is in use by %s (pid %d): "
				 "give every process of the panel lcore ids "
				 "of its own (several may share a CPU: "
				 "--lcores ID@CPU)", id, o->name,
				 (int)o->proc.pid);
			ret = -1;
			break;
		}
	}
	RTE_LCORE_FOREACH(id) {
		rte_cpuset_t cpus = rte_lcore_cpuset(id);

		if (ret < 0)
			break;
		sh->lcores[id] = me;
		for (int cpu = CPU_SETSIZE - 1; cpu >= 0; cpu--)
			if (CPU_ISSET(cpu, &cpus))
				sh->lcores[id].cpu = cpu;
	}
	rte_spinlock_unlock(&sh->lock);
	return ret;
}

void
pb_lcores_release(struct pb_shared *sh)
{
	rte_spinlock_lock(&sh->lock);
	for (unsigned int id = 0; id < RTE_MAX_LCORE; id++)
		if (is_self(&sh->lcores[id].proc))
			memset(&sh->lcores[id], 0, sizeof(sh->lcores[id]));
	rte_spinlock_unlock(&sh->lock);
}

bool
pb_lcore_owner(struct pb_shared *sh, unsigned int id,
	       struct pb_lcore_owner *owner)
{
	bool live;

	if (id >= RTE_MAX_LCORE)
		return false;
	rte_spinlock_lock(&sh->lock);
	*owner = sh->lcores[id];
	live = owner_live_locked(owner);
	rte_spinlock_unlock(&sh->lock);
	return live;
}

const char *
pb_client_name(int client, char *buf, size_t len)
{
	if (client == PB_PRIMARY_ID)
		snprintf(buf, len, "primary");
	else
		snprintf(buf, len, "nfv %d", client);
	return buf;
}
