/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A port's counters since `clear`, read while another thread counts and a
 * third clears: never negative (the reader once took the counter, then a
 * baseline another process had just moved past it). Plain memory, no EAL.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "pb_shared.h"

#define READS 2000000

static struct pb_slot slot;
static volatile int done;

static void *
count(void *arg)
{
	(void)arg;
	while (!done)
		pb_count(&slot.side[PB_RX].pkts, 1);
	return NULL;
}

static void *
clear(void *arg)
{
	(void)arg;
	while (!done)
		pb_slot_clear(&slot);
	return NULL;
}

static void
never_negative_while_cleared(void **state)
{
	pthread_t counter, clearer;
	struct pb_counters c;
	long negative = 0;

	(void)state;
	memset(&slot, 0, sizeof(slot));
	pthread_create(&counter, NULL, count, NULL);
	pthread_create(&clearer, NULL, clear, NULL);
	for (int i = 0; i < READS; i++) {
		pb_slot_counters(&slot, &c);
		negative += (int64_t)c.rx < 0;
	}
	done = 1;
	pthread_join(counter, NULL);
	pthread_join(clearer, NULL);
	assert_int_equal(negative, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(never_negative_while_cleared),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
