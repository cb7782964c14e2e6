/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Layer 2 values a user types (MAC addresses, VLAN ids, priorities), and
 * the classifier's lookup table: (VLAN, destination MAC) -> what to do.
 * Pure C, no DPDK: unit-tested and fuzzed.
 */
#ifndef PB_L2_H
#define PB_L2_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PB_MAC_STRLEN 18
#define PB_VLAN_MAX 4095
#define PB_PCP_MAX 7
/* The "VLAN" of untagged frames in the lookup table (real ids are 0-4095). */
#define PB_UNTAGGED 0x1000

/*
 * "52:54:00:12:34:56" (six octets of two hex digits, colons) into a 48-bit
 * number, first octet most significant. Anything else is -1 and a
 * sentence in why: SPP took "fa-16-3e-..." or five octets for MAC 0.
 */
int pb_mac_parse(const char *s, uint64_t *mac, char *why, size_t len);
char *pb_mac_str(uint64_t mac, char buf[PB_MAC_STRLEN]);
static inline bool
pb_mac_is_multicast(uint64_t mac)
{
	return (mac >> 40) & 1;   /* I/G bit of the first octet */
}

/*
 * The lookup table: open addressing, linear probing, built once and then
 * only read (the engine publishes a new one on every change). A key is a
 * VLAN (PB_UNTAGGED for none) and either a MAC, the VLAN's default, or
 * its flood set.
 */
enum pb_l2_key_kind { PB_L2_MAC, PB_L2_DEFAULT, PB_L2_FLOOD };

struct pb_l2_entry {
	uint64_t key;    /* 0: empty */
	uint64_t value;  /* MAC, default: a tx index; flood: a bit per tx */
};

struct pb_l2_table {
	unsigned int mask;   /* capacity - 1, a power of two minus one */
	unsigned int count;
	struct pb_l2_entry entries[];
};

static inline uint64_t
pb_l2_key(enum pb_l2_key_kind kind, unsigned int vlan, uint64_t mac)
{
	return (1ULL << 63) | ((uint64_t)kind << 61) |
	       ((uint64_t)vlan << 48) | (mac & 0xffffffffffffULL);
}

/* Room for n keys; NULL if out of memory. */
struct pb_l2_table *pb_l2_table_new(unsigned int n);
/* Insert or, for an existing key, OR value in (flood sets) or replace. */
int pb_l2_table_put(struct pb_l2_table *t, uint64_t key, uint64_t value,
		    bool or_in);

static inline unsigned int
pb_l2_hash(const struct pb_l2_table *t, uint64_t key)
{
	return (unsigned int)((key * 0x9e3779b97f4a7c15ULL) >> 40) & t->mask;
}

/* The value of key, or false when it is not in the table. */
static inline bool
pb_l2_table_get(const struct pb_l2_table *t, uint64_t key, uint64_t *value)
{
	for (unsigned int i = pb_l2_hash(t, key);; i = (i + 1) & t->mask) {
		const struct pb_l2_entry *e = &t->entries[i];

		if (e->key == key) {
			*value = e->value;
			return true;
		}
		if (e->key == 0)
			return false;
	}
}

#endif
