/* SPDX-License-Identifier: BSD-3-Clause */
/* The classifier's MAC parser and lookup table. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "pb_l2.h"

static void
macs_are_six_octets_with_colons(void **state)
{
	static const char *const bad[] = {
		"fa-16-3e-00-00-01", "52:54:00:00:00", "52:54:00:00:00:01:02",
		"52:54:00:00:00:0g", "52:54:0:00:00:01", "", "52:54:00:00:00:01 ",
		"default", ":52:54:00:00:00:01",
	};
	char why[160], buf[PB_MAC_STRLEN];
	uint64_t mac;

	(void)state;
	assert_int_equal(pb_mac_parse("52:54:00:AB:cd:0F", &mac, why,
				      sizeof(why)), 0);
	assert_true(mac == 0x525400abcd0fULL);
	assert_string_equal(pb_mac_str(mac, buf), "52:54:00:ab:cd:0f");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why[0] = '\0';
		assert_int_equal(pb_mac_parse(bad[i], &mac, why, sizeof(why)),
				 -1);
		assert_non_null(strstr(why, "colons"));
	}
	assert_true(pb_mac_is_multicast(0xffffffffffffULL));
	assert_true(pb_mac_is_multicast(0x01005e000001ULL));
	assert_false(pb_mac_is_multicast(0x525400000001ULL));
}

static void
table_keeps_vlans_kinds_and_floods_apart(void **state)
{
	struct pb_l2_table *t = pb_l2_table_new(300);
	uint64_t v;

	(void)state;
	assert_non_null(t);
	for (unsigned int i = 0; i < 256; i++)
		assert_int_equal(pb_l2_table_put(t, pb_l2_key(PB_L2_MAC, i % 4,
			0x525400000000ULL + i), i, false), 0);
	assert_int_equal(pb_l2_table_put(t, pb_l2_key(PB_L2_DEFAULT, PB_UNTAGGED,
					 0), 7, false), 0);
	pb_l2_table_put(t, pb_l2_key(PB_L2_FLOOD, 3, 0), 1, true);
	pb_l2_table_put(t, pb_l2_key(PB_L2_FLOOD, 3, 0), 4, true);
	for (unsigned int i = 0; i < 256; i++) {
		assert_true(pb_l2_table_get(t, pb_l2_key(PB_L2_MAC, i % 4,
			0x525400000000ULL + i), &v));
		assert_true(v == i);
		/* the same MAC in another VLAN is another key */
		assert_false(pb_l2_table_get(t, pb_l2_key(PB_L2_MAC,
			(i + 1) % 4, 0x525400000000ULL + i), &v));
	}
	assert_true(pb_l2_table_get(t, pb_l2_key(PB_L2_FLOOD, 3, 0), &v));
	assert_true(v == 5);
	assert_false(pb_l2_table_get(t, pb_l2_key(PB_L2_DEFAULT, 3, 0), &v));
	assert_true(pb_l2_table_get(t, pb_l2_key(PB_L2_DEFAULT, PB_UNTAGGED, 0),
				    &v) && v == 7);
	free(t);
}

static void
a_full_table_refuses_more(void **state)
{
	struct pb_l2_table *t = pb_l2_table_new(1);   /* 16 slots: 8 keys */
	int refused = 0;

	(void)state;
	for (unsigned int i = 0; i < 20; i++)
		refused += pb_l2_table_put(t, pb_l2_key(PB_L2_MAC, 1, i), i,
					   false) < 0;
	assert_int_equal(refused, 12);
	free(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(macs_are_six_octets_with_colons),
		cmocka_unit_test(table_keeps_vlans_kinds_and_floods_apart),
		cmocka_unit_test(a_full_table_refuses_more),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
