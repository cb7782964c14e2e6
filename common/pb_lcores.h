/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The lcore ids an EAL option names, so a launch can be checked against
 * the ids live processes hold before anything starts. Pure C, no DPDK:
 * shared by the primary, the unit tests and the fuzzers.
 */
#ifndef PB_LCORES_H
#define PB_LCORES_H

#include <stdbool.h>

#define PB_MAX_LCORE 128   /* DPDK's RTE_MAX_LCORE, checked where both are */
#define PB_MAX_CPU 1024

/*
 * Set ids[i] for every lcore id the EAL option opt ("-l", "-c" or
 * "--lcores") names in value, and cpus[c] for every CPU they run on:
 * "-l 1,3-4", "-c 0x6", "--lcores 1,3@0,(4-5)@(0,1)". -1 if value is not
 * of the option's form or names an id outside 0 .. PB_MAX_LCORE-1.
 */
int pb_lcores_parse(const char *opt, const char *value,
		    bool ids[PB_MAX_LCORE], bool cpus[PB_MAX_CPU]);

/* Is opt one of the options pb_lcores_parse reads? */
bool pb_lcores_option(const char *opt);

#endif
