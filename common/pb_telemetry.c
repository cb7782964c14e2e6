/* SPDX-License-Identifier: BSD-3-Clause */
#include <stdio.h>
#include <string.h>

#include <rte_telemetry.h>

#include "pb_telemetry.h"

/*
 * DPDK 22.11's telemetry takes names of [A-Za-z0-9_/] as dict keys and
 * only arrays as containers: a port's name (with its ':') is a value, so
 * the answers follow /ethdev/list and /ethdev/stats,N: a list of names,
 * then one port's dict by name.
 */

/* rte_telemetry's callbacks take no context (DPDK 22.11) */
static struct pb_shared *tel_sh;

/* A slot in use and what it says now; false for a free slot. */
static bool
read_slot(const struct pb_slot *s, int32_t holders[2],
	  char route[PB_UID_STRLEN], char uid[PB_UID_STRLEN])
{
	memcpy(uid, s->uid, PB_UID_STRLEN);
	uid[PB_UID_STRLEN - 1] = '\0';
	if (uid[0] == '\0')
		return false;
	pb_slot_snapshot(tel_sh, s, holders, route);
	return true;
}

static const char *
holder_name(int32_t client, char *buf, size_t len)
{
	if (client == PB_NOBODY)
		return "";
	return pb_process_name(tel_sh, client, buf, len);
}

static int
ports_cmd(const char *cmd, const char *params, struct rte_tel_data *d)
{
	char uid[PB_UID_STRLEN], route[PB_UID_STRLEN], who[2][32];
	int32_t holders[2];
	struct pb_counters c;

	(void)cmd;
	if (params == NULL || params[0] == '\0') {
		rte_tel_data_start_array(d, RTE_TEL_STRING_VAL);
		for (int i = 0; i < PB_MAX_SLOTS; i++)
			if (read_slot(&tel_sh->slots[i], holders, route, uid))
				rte_tel_data_add_array_string(d, uid);
		return 0;
	}
	for (int i = 0; i < PB_MAX_SLOTS; i++) {
		if (!read_slot(&tel_sh->slots[i], holders, route, uid) ||
		    strcmp(uid, params) != 0)
			continue;
		pb_slot_counters(&tel_sh->slots[i], &c);
		rte_tel_data_start_dict(d);
		rte_tel_data_add_dict_u64(d, "rx", c.rx);
		rte_tel_data_add_dict_u64(d, "tx", c.tx);
		rte_tel_data_add_dict_u64(d, "rx_drop", c.rx_drop);
		rte_tel_data_add_dict_u64(d, "tx_drop", c.tx_drop);
		rte_tel_data_add_dict_u64(d, "rx_bytes", c.rx_bytes);
		rte_tel_data_add_dict_u64(d, "tx_bytes", c.tx_bytes);
		rte_tel_data_add_dict_string(d, "read_by", holder_name(
			holders[PB_RX], who[0], sizeof(who[0])));
		rte_tel_data_add_dict_string(d, "written_by", holder_name(
			holders[PB_TX], who[1], sizeof(who[1])));
		rte_tel_data_add_dict_string(d, "patched_to", route);
		return 0;
	}
	return -EINVAL;    /* no such port: telemetry answers null */
}

static int
patches_cmd(const char *cmd, const char *params, struct rte_tel_data *d)
{
	char uid[PB_UID_STRLEN], route[PB_UID_STRLEN], who[32];
	char line[RTE_TEL_MAX_STRING_LEN];
	int32_t holders[2];

	(void)cmd;
	(void)params;
	rte_tel_data_start_array(d, RTE_TEL_STRING_VAL);
	for (int i = 0; i < PB_MAX_SLOTS; i++) {
		if (!read_slot(&tel_sh->slots[i], holders, route, uid) ||
		    route[0] == '\0')
			continue;
		snprintf(line, sizeof(line), "%s -> %s by %s", uid, route,
			 holder_name(holders[PB_RX], who, sizeof(who)));
		rte_tel_data_add_array_string(d, line);
	}
	return 0;
}

int
pb_telemetry_register(struct pb_shared *sh)
{
	tel_sh = sh;
	if (rte_telemetry_register_cmd("/patchbay/ports", ports_cmd,
			"The panel's ports; with a port's name (ring:0), its "
			"counters, the processes reading and writing it and "
			"where it is patched to") < 0 ||
	    rte_telemetry_register_cmd("/patchbay/patches", patches_cmd,
			"Every patch of the panel, as 'SRC -> DST by PROCESS'. "
			"Takes no parameters") < 0)
		return -1;
	return 0;
}
