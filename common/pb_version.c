/* SPDX-License-Identifier: BSD-3-Clause */
#include <libgen.h>
#include <stdio.h>
#include <string.h>

#include <rte_version.h>

#include "pb_version.h"

bool
pb_version_asked(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--version") == 0) {
			printf("%s %s (%s)\n", basename(argv[0]), PB_VERSION,
			       rte_version());
			return true;
		}
	}
	return false;
}
