/* SPDX-License-Identifier: BSD-3-Clause */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "pb_lcores.h"

/* "N" or "A-B", each at most max - 1, into set (if not NULL). */
static const char *
parse_range(const char *p, unsigned int max, bool *set)
{
	unsigned long a, b;
	char *end;

	if (!isdigit((unsigned char)*p))
		return NULL;
	a = b = strtoul(p, &end, 10);
	if (*end == '-') {
		if (!isdigit((unsigned char)end[1]))
			return NULL;
		b = strtoul(end + 1, &end, 10);
	}
	if (a > b || b >= max)
		return NULL;
	for (unsigned long i = a; set != NULL && i <= b; i++)
		set[i] = true;
	return end;
}

/* A range, or "(range,range,...)". */
static const char *
parse_group(const char *p, unsigned int max, bool *set)
{
	if (*p != '(')
		return parse_range(p, max, set);
	do
		p = parse_range(p + 1, max, set);
	while (p != NULL && *p == ',');
	return p != NULL && *p == ')' ? p + 1 : NULL;
}

/* A hex mask, the lowest id last. */
static int
parse_mask(const char *v, bool ids[PB_MAX_LCORE])
{
	size_t len;

	if (v[0] == '0' && (v[1] == 'x' || v[1] == 'X'))
		v += 2;
	len = strlen(v);
	if (len == 0)
		return -1;
	for (size_t i = 0; i < len; i++) {
		char c = v[len - 1 - i];
		int nibble = isdigit((unsigned char)c) ? c - '0' :
			     isxdigit((unsigned char)c) ?
			     tolower((unsigned char)c) - 'a' + 10 : -1;

		if (nibble < 0)
			return -1;
		for (int bit = 0; bit < 4; bit++) {
			if (!(nibble & (1 << bit)))
				continue;
			if (i * 4 + bit >= PB_MAX_LCORE)
				return -1;
			ids[i * 4 + bit] = true;
		}
	}
	return 0;
}

bool
pb_lcores_option(const char *opt)
{
	return strcmp(opt, "-l") == 0 || strcmp(opt, "-c") == 0 ||
	       strcmp(opt, "--lcores") == 0;
}

/* One element of --lcores: "IDS" (on the CPUs of the same numbers) or
 * "IDS@CPUS". */
static const char *
parse_mapping(const char *p, bool ids[PB_MAX_LCORE], bool cpus[PB_MAX_CPU])
{
	bool these[PB_MAX_LCORE] = { false }, pinned;

	p = parse_group(p, PB_MAX_LCORE, these);
	if (p == NULL)
		return NULL;
	pinned = *p == '@';
	if (pinned)
		p = parse_group(p + 1, PB_MAX_CPU, cpus);
	for (int i = 0; i < PB_MAX_LCORE; i++) {
		ids[i] |= these[i];
		cpus[i] |= !pinned && these[i];
	}
	return p;
}

int
pb_lcores_parse(const char *opt, const char *value, bool ids[PB_MAX_LCORE],
		bool cpus[PB_MAX_CPU])
{
	bool map = strcmp(opt, "--lcores") == 0;
	const char *p = value;
	int ret = -1;

	memset(ids, 0, PB_MAX_LCORE * sizeof(ids[0]));
	memset(cpus, 0, PB_MAX_CPU * sizeof(cpus[0]));
	if (strcmp(opt, "-c") == 0)
		ret = parse_mask(value, ids);
	else if (map || strcmp(opt, "-l") == 0)
		for (;;) {
			p = map ? parse_mapping(p, ids, cpus) :
				  parse_range(p, PB_MAX_LCORE, ids);
			if (p == NULL || (*p != ',' && *p != '\0'))
				return -1;
			if (*p++ == '\0') {
				ret = 0;
				break;
			}
		}
	for (int i = 0; !map && ret == 0 && i < PB_MAX_LCORE; i++)
		cpus[i] = ids[i];  /* -l and -c: each id on its own CPU */
	return ret;
}
