/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef PB_VERSION_H
#define PB_VERSION_H

#include <stdbool.h>

/* The Makefile passes it from controller/pbctl/__init__.py. */
#ifndef PB_VERSION
#define PB_VERSION "unknown"
#endif

/*
 * "--version" anywhere on the command line, on the EAL's side of "--" or
 * ours: print "program version (DPDK version)" and return true, before
 * the EAL starts, so it needs no hugepages.
 */
bool pb_version_asked(int argc, char **argv);

#endif
