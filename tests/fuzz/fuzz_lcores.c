/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer target: the lcore lists of EAL options a launch names (-l, -c,
 * --lcores). Any text is refused or read into ids that, written back as
 * an -l list, read back the same.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pb_lcores.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
round_trip(const bool ids[PB_MAX_LCORE])
{
	bool again[PB_MAX_LCORE], cpus[PB_MAX_CPU];
	char list[PB_MAX_LCORE * 4 + 1] = "";
	size_t n = 0;

	for (int i = 0; i < PB_MAX_LCORE; i++)
		if (ids[i])
			n += (size_t)snprintf(list + n, sizeof(list) - n, "%s%d",
					      n ? "," : "", i);
	if (n == 0)
		return;
	if (pb_lcores_parse("-l", list, again, cpus) != 0 ||
	    memcmp(ids, again, sizeof(again)) != 0)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const opts[] = { "-l", "-c", "--lcores" };
	bool ids[PB_MAX_LCORE], cpus[PB_MAX_CPU];
	char *text = malloc(size + 1);

	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++)
		if (pb_lcores_parse(opts[i], text, ids, cpus) == 0)
			round_trip(ids);
	free(text);
	return 0;
}
