/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The forwarding engine: one worker thread moving bursts along the patches
 * of the published table. Used by every nfv, and by the primary when it
 * forwards.
 *
 * Reconfiguration never stops the world. The worker reads the table
 * without locks; the control thread publishes a new table and then waits
 * (rte_rcu_qsbr) until the worker has passed a quiescent state, i.e.
 * finished the loop iteration that might still use the old table, before
 * it frees the table or closes a port the old table named.
 */
#ifndef PB_FWD_H
#define PB_FWD_H

#include <stdbool.h>

#include <jansson.h>
#include <rte_rcu_qsbr.h>

#include "pb_patch.h"

#define PB_BURST 32

struct pb_fwd {
	struct pb_patch_table *table;  /* published; the worker reads it */
	struct rte_rcu_qsbr *qsbr;
	bool forwarding;               /* "running" vs "idling" */
	bool quit;
	bool busy_poll;                /* never sleep, for benchmarks */
	unsigned int worker_lcore;     /* where the worker runs, once it does */
};

int pb_fwd_init(struct pb_fwd *f, bool busy_poll);
void pb_fwd_free(struct pb_fwd *f);

/*
 * Run the worker and control(arg) side by side until control returns, then
 * stop the worker. The worker gets an lcore: the first worker lcore if EAL
 * has one (SPP's "-l 1,2"; control stays on the main lcore), else the main
 * lcore itself ("-l 1"; control moves to a plain thread, since DPDK
 * multi-process cannot register extra threads as lcores).
 */
int pb_fwd_run(struct pb_fwd *f, void (*control)(void *), void *arg);

/* Control thread: swap in a new table, wait for the worker, free the old. */
void pb_fwd_publish(struct pb_fwd *f, struct pb_patch_table *table);
/* Control thread: wait until the worker holds nothing it read before. */
void pb_fwd_sync(struct pb_fwd *f);

void pb_fwd_set_forwarding(struct pb_fwd *f, bool on);
bool pb_fwd_is_forwarding(const struct pb_fwd *f);

/*
 * SPP's "master-lcore" and "lcores": the main lcore, then the worker's. A
 * process given one lcore runs its worker there too, so it is listed
 * twice (SPP's CLI prints lcores minus the master as the slave).
 */
void pb_fwd_lcores_json(const struct pb_fwd *f, json_t *status);

static inline const struct pb_patch_table *
pb_fwd_table(const struct pb_fwd *f)
{
	return f->table;  /* the control thread is its only writer */
}

#endif
