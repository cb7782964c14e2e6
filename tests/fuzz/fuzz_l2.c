/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer target: the classifier's inputs. Any text given as a MAC is
 * refused with a sentence or read into a MAC that prints back as the same
 * text (lower case); a table built from the bytes as (VLAN, MAC) keys
 * finds every key it holds, with its value, and no key it does not.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pb_l2.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
mac_round_trip(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1), buf[PB_MAC_STRLEN], why[160];
	uint64_t mac;

	if (text == NULL)
		return;
	memcpy(text, data, size);
	text[size] = '\0';
	if (pb_mac_parse(text, &mac, why, sizeof(why)) == 0) {
		pb_mac_str(mac, buf);
		for (size_t i = 0; text[i] != '\0'; i++)
			text[i] = (char)tolower((unsigned char)text[i]);
		if (strcmp(buf, text) != 0 || mac >> 48 != 0)
			abort();
	} else if (why[0] == '\0') {
		abort();
	}
	free(text);
}

static void
table_finds_what_it_holds(const uint8_t *data, size_t size)
{
	size_t n = size / 8;
	struct pb_l2_table *t = pb_l2_table_new((unsigned int)n);
	uint64_t keys[512], v;
	size_t k = 0;

	if (t == NULL)
		return;
	for (size_t i = 0; i < n && k < 512; i++) {
		uint64_t raw;

		memcpy(&raw, data + 8 * i, 8);
		keys[k] = pb_l2_key((enum pb_l2_key_kind)(raw >> 62 & 1),
				    (unsigned int)(raw >> 48 & 0x1fff) % 0x1001,
				    raw);
		if (pb_l2_table_put(t, keys[k], k, false) == 0)
			k++;
	}
	for (size_t i = 0; i < k; i++) {
		size_t last = i;

		for (size_t j = i + 1; j < k; j++)   /* a key put again wins */
			if (keys[j] == keys[i])
				last = j;
		if (!pb_l2_table_get(t, keys[i], &v) || v != last)
			abort();
	}
	if (pb_l2_table_get(t, pb_l2_key(PB_L2_FLOOD, 0x1000, 0), &v)) {
		int held = 0;

		for (size_t i = 0; i < k; i++)
			held |= keys[i] == pb_l2_key(PB_L2_FLOOD, 0x1000, 0);
		if (!held)
			abort();
	}
	free(t);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	mac_round_trip(data, size);
	table_finds_what_it_holds(data, size);
	return 0;
}
