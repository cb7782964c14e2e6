/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef PB_TELEMETRY_H
#define PB_TELEMETRY_H

#include "pb_shared.h"

/*
 * DPDK telemetry commands for the whole panel, beside DPDK's own
 * /ethdev/stats (dpdk-telemetry.py, or the socket's JSON):
 *
 *   /patchbay/ports          the names of every port of the shared table
 *   /patchbay/ports,ring:0   its counters, the processes reading (read_by)
 *                            and writing (written_by) it, patched_to
 *   /patchbay/patches        every patch of every process, as
 *                            "phy:0 -> ring:0 by nfv 1"
 *
 * DPDK serves telemetry from the primary alone (a secondary's EAL opens
 * no socket), so the primary registers them; they read the shared port
 * table, which holds every process's ports, holders and patches.
 */
int pb_telemetry_register(struct pb_shared *sh);

#endif
