/* SPDX-License-Identifier: BSD-3-Clause */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "pb_uid.h"

static void
parses_every_type(void **state)
{
	static const struct { const char *text; enum pb_port_type type; } ok[] = {
		{ "phy:0", PB_PORT_PHY }, { "ring:12", PB_PORT_RING },
		{ "vhost:3", PB_PORT_VHOST }, { "virtio:1023", PB_PORT_VIRTIO },
		{ "pcap:7", PB_PORT_PCAP }, { "null:1", PB_PORT_NULL },
		{ "nullpmd:1", PB_PORT_NULL }, { "tap:0", PB_PORT_TAP },
		{ "memif:2", PB_PORT_MEMIF },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		struct pb_uid uid;

		assert_int_equal(pb_uid_parse(ok[i].text, &uid, NULL), 0);
		assert_int_equal(uid.type, ok[i].type);
	}
}

static void
canonical_text(void **state)
{
	char buf[PB_UID_STRLEN];
	struct pb_uid uid;

	(void)state;
	assert_int_equal(pb_uid_parse("nullpmd:5", &uid, NULL), 0);
	assert_string_equal(pb_uid_str(&uid, buf), "null:5");
	assert_int_equal(pb_uid_parse("virtio:1023", &uid, NULL), 0);
	assert_int_equal(uid.index, 1023);
	assert_string_equal(pb_uid_str(&uid, buf), "virtio:1023");
}

static void
queues_of_a_phy(void **state)
{
	char buf[PB_UID_STRLEN];
	struct pb_uid uid, zero;

	(void)state;
	assert_int_equal(pb_uid_parse("phy:1023nq1023", &uid, NULL), 0);
	assert_int_equal(uid.index, 1023);
	assert_int_equal(uid.queue, 1023);
	assert_string_equal(pb_uid_str(&uid, buf), "phy:1023nq1023");
	assert_int_equal(pb_uid_parse("phy:3nq0", &zero, NULL), 0);
	assert_string_equal(pb_uid_str(&zero, buf), "phy:3");
	assert_int_equal(pb_uid_parse("phy:3", &uid, NULL), 0);
	assert_true(pb_uid_equal(&uid, &zero));
	assert_int_equal(pb_uid_parse("phy:3nq1", &uid, NULL), 0);
	assert_false(pb_uid_equal(&uid, &zero));
}

static void
refuses_malformed(void **state)
{
	static const struct { const char *text, *why; } bad[] = {
		{ "", "type:N" }, { "ring", "type:N" }, { ":0", "unknown port type" },
		{ "ring:", "missing" }, { "ring:-1", "decimal" },
		{ "ring:+1", "decimal" }, { "ring: 1", "decimal" },
		{ "ring:1 ", "decimal" }, { "ring:00", "leading zeros" },
		{ "ring:1024", "too large" }, { "ring:99999999999999999999", "too large" },
		{ "RING:0", "unknown port type" }, { "eth:0", "unknown port type" },
		{ "ring:0:1", "decimal" }, { "phy0", "type:N" },
		{ "ring:0nq1", "only phy" }, { "phy:0nq", "missing after 'nq'" },
		{ "phy:0nq01", "queue must not have leading" },
		{ "phy:0nq1024", "queue is too large" },
		{ "phy:0 nq 1", "decimal" }, { "phy:0nq1x", "decimal" },
		{ "phy:0nqx", "queue must be a decimal" },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct pb_uid uid = { PB_PORT_PHY, 42, 0 };
		const char *err = NULL;

		assert_int_equal(pb_uid_parse(bad[i].text, &uid, &err), -1);
		assert_non_null(err);
		assert_non_null(strstr(err, bad[i].why));
		assert_int_equal(uid.index, 42);  /* untouched on failure */
	}
	assert_int_equal(pb_uid_parse(NULL, NULL, NULL), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(parses_every_type),
		cmocka_unit_test(canonical_text),
		cmocka_unit_test(queues_of_a_phy),
		cmocka_unit_test(refuses_malformed),
	};
	return cmocka_run_group_tests_name("uid", tests, NULL, NULL);
}
