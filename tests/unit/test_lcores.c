/* SPDX-License-Identifier: BSD-3-Clause */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "pb_lcores.h"

/* The ids set, as "1,3,4", for comparing. */
static const char *
ids_text(const bool *ids, int count, char *buf, size_t len)
{
	size_t n = 0;

	buf[0] = '\0';
	for (int i = 0; i < count && n + 8 < len; i++)
		if (ids[i])
			n += (size_t)snprintf(buf + n, len - n, "%s%d",
					      n ? "," : "", i);
	return buf;
}

static void
reads_every_form(void **state)
{
	static const struct { const char *opt, *value, *ids, *cpus; } ok[] = {
		{ "-l", "1", "1", "1" }, { "-l", "0,2-4", "0,2,3,4", "0,2,3,4" },
		{ "-l", "127", "127", "127" }, { "-c", "0x6", "1,2", "1,2" },
		{ "-c", "F0", "4,5,6,7", "4,5,6,7" },
		{ "--lcores", "1", "1", "1" }, { "--lcores", "3@0", "3", "0" },
		{ "--lcores", "1@0,2@1", "1,2", "0,1" },
		{ "--lcores", "(4-5)@(0,1),7", "4,5,7", "0,1,7" },
		{ "--lcores", "(1,3)@2", "1,3", "2" },
		{ "--lcores", "0-1", "0,1", "0,1" },
		{ "--lcores", "9@1000", "9", "1000" },
	};
	bool ids[PB_MAX_LCORE], cpus[PB_MAX_CPU];
	char buf[256];

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		assert_int_equal(pb_lcores_parse(ok[i].opt, ok[i].value, ids,
						 cpus), 0);
		assert_string_equal(ids_text(ids, PB_MAX_LCORE, buf,
					     sizeof(buf)), ok[i].ids);
		assert_string_equal(ids_text(cpus, PB_MAX_CPU, buf,
					     sizeof(buf)), ok[i].cpus);
	}
}

static void
refuses_what_eal_would_not_read(void **state)
{
	static const struct { const char *opt, *value; } bad[] = {
		{ "-l", "" }, { "-l", "a" }, { "-l", "1," }, { "-l", "3-1" },
		{ "-l", "128" }, { "-l", "1@0" }, { "-l", "-1" },
		{ "-c", "" }, { "-c", "0x" }, { "-c", "0xg" },
		{ "-c", "100000000000000000000000000000000" },
		{ "--lcores", "" }, { "--lcores", "1@" }, { "--lcores", "@1" },
		{ "--lcores", "(1,2" }, { "--lcores", "1@(0" },
		{ "--lcores", "1@0@1" }, { "--lcores", "200@0" },
		{ "--lcores", "1,,2" }, { "--lcores", "()" },
		{ "--lcores", "1@1024" },
		{ "-m", "1" },
	};
	bool ids[PB_MAX_LCORE], cpus[PB_MAX_CPU];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(pb_lcores_parse(bad[i].opt, bad[i].value, ids,
						 cpus), -1);
	assert_true(pb_lcores_option("--lcores"));
	assert_false(pb_lcores_option("-m"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(reads_every_form),
		cmocka_unit_test(refuses_what_eal_would_not_read),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
