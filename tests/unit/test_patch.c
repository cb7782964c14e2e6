/* SPDX-License-Identifier: BSD-3-Clause */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <cmocka.h>

#include "pb_patch.h"

/* Ports are opaque to patch tables: any distinct addresses will do. */
static char port_storage[4];
#define PORT(i) ((struct pb_port *)&port_storage[i])

static void
with_adds_and_replaces(void **state)
{
	struct pb_patch_table *t0 = pb_patch_table_new();
	struct pb_patch_table *t1 = pb_patch_table_with(t0, PORT(0), PORT(1));
	struct pb_patch_table *t2 = pb_patch_table_with(t1, PORT(2), PORT(1));
	struct pb_patch_table *t3 = pb_patch_table_with(t2, PORT(0), PORT(3));

	(void)state;
	assert_int_equal(t0->count, 0);
	assert_int_equal(t1->count, 1);
	assert_int_equal(t2->count, 2);
	assert_int_equal(pb_patch_count_dst(t2, PORT(1)), 2);
	/* one src has one patch: patching it again replaces, in place */
	assert_int_equal(t3->count, 2);
	assert_ptr_equal(t3->patches[0].src, PORT(0));
	assert_ptr_equal(t3->patches[0].dst, PORT(3));
	assert_ptr_equal(pb_patch_find_src(t3, PORT(0))->dst, PORT(3));
	/* and the tables it was built from are untouched */
	assert_ptr_equal(t1->patches[0].dst, PORT(1));
	assert_ptr_equal(t2->patches[0].dst, PORT(1));
	free(t0); free(t1); free(t2); free(t3);
}

static void
without_removes(void **state)
{
	struct pb_patch_table *t0 = pb_patch_table_new();
	struct pb_patch_table *t1 = pb_patch_table_with(t0, PORT(0), PORT(1));
	struct pb_patch_table *t2 = pb_patch_table_with(t1, PORT(1), PORT(2));
	struct pb_patch_table *t3 = pb_patch_table_with(t2, PORT(3), PORT(0));
	struct pb_patch_table *a = pb_patch_table_without_port(t3, PORT(0));
	struct pb_patch_table *b = pb_patch_table_without_src(t3, PORT(1));
	struct pb_patch_table *c = pb_patch_table_without_src(t3, PORT(2));

	(void)state;
	/* a port's patches go both ways: as src and as dst */
	assert_int_equal(a->count, 1);
	assert_ptr_equal(a->patches[0].src, PORT(1));
	assert_int_equal(b->count, 2);
	assert_null(pb_patch_find_src(b, PORT(1)));
	/* order of the others is kept */
	assert_ptr_equal(b->patches[0].src, PORT(0));
	assert_ptr_equal(b->patches[1].src, PORT(3));
	assert_int_equal(c->count, 3);
	free(t0); free(t1); free(t2); free(t3); free(a); free(b); free(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(with_adds_and_replaces),
		cmocka_unit_test(without_removes),
	};
	return cmocka_run_group_tests_name("patch", tests, NULL, NULL);
}
