/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What the primary puts in hugepage memory for every process of the panel:
 * the mbuf pool, the rings and one memzone holding a slot per port.
 *
 * A slot carries the port's counters and who uses it. Each direction of a
 * port (rx = read from it, tx = written to it) is held by at most one
 * process at a time: rings are single-producer/single-consumer and an
 * ethdev queue must not be polled by two threads. The holder is the only
 * writer of that direction's counters, so they need no atomic read-modify-
 * write; readers in other processes see whole 64-bit values.
 */
#ifndef PB_SHARED_H
#define PB_SHARED_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>
#include <rte_config.h>
#include <rte_memory.h>
#include <rte_spinlock.h>

#include "pb_uid.h"

#define PB_SHARED_MZ "pb_shared"
#define PB_POOL_NAME "pb_mbuf_pool"
#define PB_RING_NAME_FMT "pb_ring_%u"
#define PB_MAX_SLOTS 256
#define PB_MAX_RINGS 64
#define PB_NOBODY (-1)
#define PB_PRIMARY_ID 0
#define PB_PROC_NAMESIZE 16

enum pb_dir { PB_RX, PB_TX };

/*
 * A process, told apart from a later one that reuses its pid by its start
 * time (clock ticks after boot, /proc/PID/stat).
 */
struct pb_proc {
	int32_t pid;
	uint64_t start_time;
};

struct pb_side {
	uint64_t pkts;
	uint64_t bytes;
	uint64_t drops;
	int32_t holder;     /* client id reading (rx) or writing (tx), for names */
	struct pb_proc holder_proc;   /* the process that holds it */
	/* rx: the port the holder's patch sends these packets to ("" if
	 * none), for the panel-wide view (DPDK telemetry) */
	char route[PB_UID_STRLEN];
	/*
	 * A passive capture of this side (pcap --tap): whoever moves its
	 * packets puts each on this ring too, shared. Set and cleared by
	 * the capturing process; cleared by the others once it is dead.
	 */
	struct rte_ring *tap;
	struct pb_proc tap_proc;
	int32_t tap_ts_offset;   /* mbuf dynfield for the time, or -1 */
	uint64_t tap_drops;      /* packets the ring had no room for */
} __rte_cache_aligned;

struct pb_slot {
	char uid[PB_UID_STRLEN];  /* "" when the slot is free */
	int32_t adder;            /* who hot-added it; PB_NOBODY for phy/ring */
	struct pb_proc adder_proc;
	uint16_t ethdev;          /* phy ports */
	/* counter values at the last `clear`; reports subtract them */
	struct pb_counters_base {
		uint64_t pkts, bytes, drops;
	} base[2];
	struct pb_side side[2];   /* indexed by enum pb_dir */
};

/*
 * Who runs on an lcore id. DPDK's mempool keeps a cache per lcore id inside
 * the pool, in shared memory, without a lock: two live processes on one id
 * corrupt it and lose mbufs. An id is free again once its process is gone.
 * Every process of the panel has at least one, so this is also the table
 * of the processes attached.
 */
struct pb_lcore_owner {
	struct pb_proc proc;
	int32_t client;               /* PB_PRIMARY_ID, an nfv's id, PB_NOBODY */
	char name[PB_PROC_NAMESIZE];  /* "primary", "nfv 2", ... */
	int32_t cpu;                  /* the first CPU it may run on */
};

struct pb_shared {
	rte_spinlock_t lock;      /* slot allocation, holders, lcore owners */
	struct pb_proc primary;   /* secondaries end when it is gone */
	uint32_t closing;         /* set by the primary as it starts to end */
	uint32_t nb_phys;
	uint32_t nb_rings;
	struct pb_slot slots[PB_MAX_SLOTS];
	struct pb_lcore_owner lcores[RTE_MAX_LCORE];
};

struct pb_counters {
	uint64_t rx, tx, rx_drop, tx_drop, rx_bytes, tx_bytes;
};

/* The primary creates the memzone, secondaries look it up. NULL if absent. */
struct pb_shared *pb_shared_create(void);
struct pb_shared *pb_shared_attach(void);

/* A built-in (phy, ring) port's slot, made by the primary at start. */
struct pb_slot *pb_slot_add_builtin(struct pb_shared *sh, const char *uid);
struct pb_slot *pb_slot_find(struct pb_shared *sh, const char *uid);

/*
 * Take a slot for a port hot-added by client. Fails with a sentence in
 * *why if a live process already added it or no slot is free. A slot left
 * by a dead process is taken over.
 */
struct pb_slot *pb_slot_register(struct pb_shared *sh, const char *uid,
				 int client, const char **why);
void pb_slot_unregister(struct pb_shared *sh, struct pb_slot *slot);

/*
 * Hold one direction of a port for client. Fails, with the current
 * holder's id in *holder, if another live process holds it.
 */
int pb_side_hold(struct pb_shared *sh, struct pb_slot *slot, enum pb_dir dir,
		 int client, int *holder);
/* Let go of a direction this process holds. */
void pb_side_release(struct pb_shared *sh, struct pb_slot *slot,
		     enum pb_dir dir);
/* Where this process's patch sends the packets it reads from slot. */
void pb_side_set_route(struct pb_shared *sh, struct pb_slot *slot,
		       const char *dst);
/* Copies of a slot's holders and route, taken under the lock. */
void pb_slot_snapshot(struct pb_shared *sh, const struct pb_slot *slot,
		      int32_t holders[2], char route[PB_UID_STRLEN]);
/* Release everything this process holds or added (it is exiting). Holds
 * belong to a process, not to a client id: another process with the same
 * id never releases them. */
void pb_shared_release_self(struct pb_shared *sh);

static inline void
pb_count(uint64_t *counter, uint64_t n)
{
	/* single writer: a relaxed store is enough for readers elsewhere */
	__atomic_store_n(counter, *counter + n, __ATOMIC_RELAXED);
}

void pb_slot_counters(const struct pb_slot *slot, struct pb_counters *c);
void pb_slot_clear(struct pb_slot *slot);
/* Is the primary that made sh still running, and not ending? */
int pb_primary_alive(const struct pb_shared *sh);
/*
 * The primary, ending: from now on secondaries see it as gone and end.
 * Wait, up to timeout_ms, until they have: closing the ethdevs frees
 * queue data their workers may still be polling (SIGSEGV in the tap
 * PMD's rx burst).
 */
void pb_primary_closing(struct pb_shared *sh, unsigned int timeout_ms);
void pb_shared_clear(struct pb_shared *sh);

/* {"rx", "tx", "rx_drop", "tx_drop", "rx_bytes", "tx_bytes"}: the one
 * counters format. */
json_t *pb_counters_json(const struct pb_counters *c);

/* This process, and whether p still runs (the same process, not its pid
 * reused). */
void pb_proc_self(struct pb_proc *p);
void pb_proc_get(int32_t pid, struct pb_proc *p);
bool pb_proc_alive(const struct pb_proc *p);

/*
 * Join the panel as client (PB_NOBODY: a tool with no id), named name:
 * take every lcore id this process's EAL runs on. Fails, taking nothing,
 * with a sentence in why if a live process has one of the ids or the same
 * client id: before the newcomer touches any shared state.
 */
int pb_process_attach(struct pb_shared *sh, int client, const char *name,
		      char *why, size_t len);
/* Give back the lcore ids this process took (it is exiting). */
void pb_process_detach(struct pb_shared *sh);
/* The live process attached as client, if any. */
bool pb_client_owner(struct pb_shared *sh, int client,
		     struct pb_lcore_owner *owner);
/* Who has lcore id; false if nobody alive does. */
bool pb_lcore_owner(struct pb_shared *sh, unsigned int id,
		    struct pb_lcore_owner *owner);

/* "primary" or "nfv N", for messages. */
const char *pb_client_name(int client, char *buf, size_t len);
/* "vf 2": the name the live process of client took; else as above. */
const char *pb_process_name(struct pb_shared *sh, int client, char *buf,
			    size_t len);

#endif
