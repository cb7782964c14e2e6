/* SPDX-License-Identifier: BSD-3-Clause */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <time.h>
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
	pb_proc_self(&sh->primary);
	return sh;
}

struct pb_shared *
pb_shared_attach(void)
{
	const struct rte_memzone *mz = rte_memzone_lookup(PB_SHARED_MZ);

	return mz != NULL ? mz->addr : NULL;
}

static bool
is_self(const struct pb_proc *p)
{
	return p->pid == getpid();
}

static void
slot_init(struct pb_slot *s, const char *uid, int adder)
{
	memset(s, 0, sizeof(*s));
	snprintf(s->uid, sizeof(s->uid), "%s", uid);
	s->adder = adder;
	if (adder != PB_NOBODY)
		pb_proc_self(&s->adder_proc);
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
	} else if (s != NULL && pb_proc_alive(&s->adder_proc) &&
		   !is_self(&s->adder_proc)) {
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
	if (side->holder != PB_NOBODY && !is_self(&side->holder_proc) &&
	    pb_proc_alive(&side->holder_proc)) {
		*holder = side->holder;
		ret = -1;
	} else {
		side->holder = client;
		pb_proc_self(&side->holder_proc);
	}
	rte_spinlock_unlock(&sh->lock);
	return ret;
}

void
pb_side_release(struct pb_shared *sh, struct pb_slot *slot, enum pb_dir dir)
{
	struct pb_side *side = &slot->side[dir];

	rte_spinlock_lock(&sh->lock);
	if (side->holder != PB_NOBODY && is_self(&side->holder_proc)) {
		side->holder = PB_NOBODY;
		memset(&side->holder_proc, 0, sizeof(side->holder_proc));
		side->route[0] = '\0';
	}
	rte_spinlock_unlock(&sh->lock);
}

void
pb_side_set_route(struct pb_shared *sh, struct pb_slot *slot, const char *dst)
{
	struct pb_side *side = &slot->side[PB_RX];

	rte_spinlock_lock(&sh->lock);
	if (side->holder != PB_NOBODY && is_self(&side->holder_proc))
		snprintf(side->route, sizeof(side->route), "%s", dst);
	rte_spinlock_unlock(&sh->lock);
}

void
pb_slot_snapshot(struct pb_shared *sh, const struct pb_slot *slot,
		 int32_t holders[2], char route[PB_UID_STRLEN])
{
	rte_spinlock_lock(&sh->lock);
	for (int d = PB_RX; d <= PB_TX; d++)
		holders[d] = pb_proc_alive(&slot->side[d].holder_proc) ?
			     slot->side[d].holder : PB_NOBODY;
	if (holders[PB_RX] != PB_NOBODY)
		memcpy(route, slot->side[PB_RX].route, PB_UID_STRLEN);
	else
		route[0] = '\0';
	route[PB_UID_STRLEN - 1] = '\0';
	rte_spinlock_unlock(&sh->lock);
}

void
pb_shared_release_self(struct pb_shared *sh)
{
	for (int i = 0; i < PB_MAX_SLOTS; i++) {
		struct pb_slot *s = &sh->slots[i];

		pb_side_release(sh, s, PB_RX);
		pb_side_release(sh, s, PB_TX);
		if (s->uid[0] != '\0' && s->adder != PB_NOBODY &&
		    is_self(&s->adder_proc))
			pb_slot_unregister(sh, s);
	}
}

int
pb_primary_alive(const struct pb_shared *sh)
{
	return !__atomic_load_n(&sh->closing, __ATOMIC_ACQUIRE) &&
	       pb_proc_alive(&sh->primary);
}

static uint64_t
read_counter(const uint64_t *c)
{
	return __atomic_load_n(c, __ATOMIC_RELAXED);
}

/*
 * A counter since the last `clear`. The baseline is read first (acquire)
 * and the counter after it: `clear` set the baseline to a value the
 * counter had before, and a counter only grows, so the difference is never
 * negative, even while another process clears.
 */
static uint64_t
since_clear(const uint64_t *counter, const uint64_t *base)
{
	uint64_t b = __atomic_load_n(base, __ATOMIC_ACQUIRE);

	return read_counter(counter) - b;
}

void
pb_slot_counters(const struct pb_slot *s, struct pb_counters *c)
{
	const struct pb_side *rx = &s->side[PB_RX], *tx = &s->side[PB_TX];
	const struct pb_counters_base *rb = &s->base[PB_RX],
				      *tb = &s->base[PB_TX];

	c->rx = since_clear(&rx->pkts, &rb->pkts);
	c->rx_bytes = since_clear(&rx->bytes, &rb->bytes);
	c->rx_drop = since_clear(&rx->drops, &rb->drops);
	c->tx = since_clear(&tx->pkts, &tb->pkts);
	c->tx_bytes = since_clear(&tx->bytes, &tb->bytes);
	c->tx_drop = since_clear(&tx->drops, &tb->drops);
}

static void
move_base(uint64_t *base, const uint64_t *counter)
{
	/* release: the counter's read comes before the store */
	__atomic_store_n(base, read_counter(counter), __ATOMIC_RELEASE);
}

/*
 * Counters only ever grow, written by their holder alone; `clear` moves
 * the baseline instead of zeroing them, so it never races with a writer.
 */
void
pb_slot_clear(struct pb_slot *s)
{
	for (int d = PB_RX; d <= PB_TX; d++) {
		move_base(&s->base[d].pkts, &s->side[d].pkts);
		move_base(&s->base[d].bytes, &s->side[d].bytes);
		move_base(&s->base[d].drops, &s->side[d].drops);
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

/*
 * Fields 3 (state) and 22 (start time) of /proc/PID/stat, after a name that
 * may hold spaces and ')'. 0 for a process that is gone or a zombie: a
 * zombie has ended, only its parent has not reaped it yet.
 */
static uint64_t
proc_start_time(int32_t pid)
{
	char path[32], buf[512], *p, state;
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
	if (p == NULL || sscanf(p + 2, "%c %*d %*d %*d %*d %*d %*u %*u %*u "
				"%*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu",
				&state, &start) != 2 || state == 'Z' ||
	    state == 'X')
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
	return p->pid > 0 && p->start_time != 0 &&
	       proc_start_time(p->pid) == p->start_time;
}

static bool
owner_live_locked(const struct pb_lcore_owner *o)
{
	return o->proc.pid != 0 && pb_proc_alive(&o->proc);
}

/* Why client cannot attach with these lcore ids, or NULL; with the lock. */
static const struct pb_lcore_owner *
attach_conflict_locked(struct pb_shared *sh, int client, unsigned int *id)
{
	for (*id = 0; *id < RTE_MAX_LCORE; (*id)++) {
		const struct pb_lcore_owner *o = &sh->lcores[*id];

		if (!owner_live_locked(o) || is_self(&o->proc))
			continue;
		if (rte_lcore_is_enabled(*id) ||
		    (client != PB_NOBODY && o->client == client))
			return o;
	}
	return NULL;
}

int
pb_process_attach(struct pb_shared *sh, int client, const char *name,
		  char *why, size_t len)
{
	struct pb_lcore_owner me = { .client = client };
	const struct pb_lcore_owner *o;
	unsigned int id;

	pb_proc_self(&me.proc);
	snprintf(me.name, sizeof(me.name), "%s", name);
	rte_spinlock_lock(&sh->lock);
	o = attach_conflict_locked(sh, client, &id);
	if (o != NULL && o->client == client && client != PB_NOBODY)
		snprintf(why, len, "%s is already running (pid %d)", o->name,
			 (int)o->proc.pid);
	else if (o != NULL)
		snprintf(why, len, "lcore %u is in use by %s (pid %d): give "
			 "every process of the panel lcore ids of its own "
			 "(several may share a CPU: --lcores ID@CPU)", id,
			 o->name, (int)o->proc.pid);
	RTE_LCORE_FOREACH(id) {
		rte_cpuset_t cpus = rte_lcore_cpuset(id);

		if (o != NULL)
			break;
		sh->lcores[id] = me;
		for (int cpu = CPU_SETSIZE - 1; cpu >= 0; cpu--)
			if (CPU_ISSET(cpu, &cpus))
				sh->lcores[id].cpu = cpu;
	}
	rte_spinlock_unlock(&sh->lock);
	return o == NULL ? 0 : -1;
}

void
pb_process_detach(struct pb_shared *sh)
{
	rte_spinlock_lock(&sh->lock);
	for (unsigned int id = 0; id < RTE_MAX_LCORE; id++)
		if (is_self(&sh->lcores[id].proc))
			memset(&sh->lcores[id], 0, sizeof(sh->lcores[id]));
	rte_spinlock_unlock(&sh->lock);
}

bool
pb_client_owner(struct pb_shared *sh, int client, struct pb_lcore_owner *owner)
{
	bool found = false;

	rte_spinlock_lock(&sh->lock);
	for (unsigned int id = 0; id < RTE_MAX_LCORE && !found; id++) {
		*owner = sh->lcores[id];
		found = owner->client == client && owner_live_locked(owner);
	}
	rte_spinlock_unlock(&sh->lock);
	return found;
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

const char *
pb_process_name(struct pb_shared *sh, int client, char *buf, size_t len)
{
	struct pb_lcore_owner o;

	if (client != PB_PRIMARY_ID && pb_client_owner(sh, client, &o)) {
		snprintf(buf, len, "%s", o.name);
		return buf;
	}
	return pb_client_name(client, buf, len);
}

/* Does a live process other than this one hold an lcore id? */
static bool
others_attached(struct pb_shared *sh)
{
	bool found = false;

	rte_spinlock_lock(&sh->lock);
	for (unsigned int id = 0; id < RTE_MAX_LCORE && !found; id++)
		found = !is_self(&sh->lcores[id].proc) &&
			owner_live_locked(&sh->lcores[id]);
	rte_spinlock_unlock(&sh->lock);
	return found;
}

void
pb_primary_closing(struct pb_shared *sh, unsigned int timeout_ms)
{
	const struct timespec step = { 0, 20 * 1000 * 1000 };

	__atomic_store_n(&sh->closing, 1, __ATOMIC_RELEASE);
	for (unsigned int waited = 0; waited < timeout_ms && others_attached(sh);
	     waited += 20)
		nanosleep(&step, NULL);
}
