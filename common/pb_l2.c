/* SPDX-License-Identifier: BSD-3-Clause */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>

#include "pb_l2.h"

static int
hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)tolower((unsigned char)c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int
pb_mac_parse(const char *s, uint64_t *mac, char *why, size_t len)
{
	uint64_t v = 0;

	for (int octet = 0; octet < 6; octet++, s += 3) {
		int hi = hex(s[0]), lo = hi < 0 ? -1 : hex(s[1]);
		char sep = lo < 0 ? 'x' : s[2];

		if (lo < 0 || (octet < 5 && sep != ':') ||
		    (octet == 5 && sep != '\0')) {
			snprintf(why, len, "a MAC address is six two-digit hex "
				 "octets separated by colons, e.g. "
				 "52:54:00:12:34:56");
			return -1;
		}
		v = (v << 8) | (uint64_t)(hi << 4 | lo);
	}
	*mac = v;
	return 0;
}

char *
pb_mac_str(uint64_t mac, char buf[PB_MAC_STRLEN])
{
	snprintf(buf, PB_MAC_STRLEN, "%02x:%02x:%02x:%02x:%02x:%02x",
		 (unsigned int)(mac >> 40) & 0xff, (unsigned int)(mac >> 32) & 0xff,
		 (unsigned int)(mac >> 24) & 0xff, (unsigned int)(mac >> 16) & 0xff,
		 (unsigned int)(mac >> 8) & 0xff, (unsigned int)mac & 0xff);
	return buf;
}

struct pb_l2_table *
pb_l2_table_new(unsigned int n)
{
	unsigned int cap = 16;
	struct pb_l2_table *t;

	while (cap < 2 * n)     /* at most half full: short probes */
		cap *= 2;
	t = calloc(1, sizeof(*t) + cap * sizeof(t->entries[0]));
	if (t != NULL)
		t->mask = cap - 1;
	return t;
}

int
pb_l2_table_put(struct pb_l2_table *t, uint64_t key, uint64_t value,
		bool or_in)
{
	for (unsigned int i = pb_l2_hash(t, key);; i = (i + 1) & t->mask) {
		struct pb_l2_entry *e = &t->entries[i];

		if (e->key == key) {
			e->value = or_in ? e->value | value : value;
			return 0;
		}
		if (e->key == 0) {
			if (2 * (t->count + 1) > t->mask + 1)
				return -1;     /* built with room for fewer */
			e->key = key;
			e->value = value;
			t->count++;
			return 0;
		}
	}
}
