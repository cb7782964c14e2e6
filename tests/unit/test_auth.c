/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The process's side of the TCP handshake: proofs agree with the
 * controller's (Python's hmac, numbers computed there), and nothing made
 * from the key leaves unless the controller proved it holds the key.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "pb_auth.h"

#define KEY "secret"
#define HELLO "{\"hello\":{\"role\":\"nfv\",\"id\":1,\"nonce\":\"" \
	"1111111111111111111111111111111111111111111111111111111111111111\"}}"
#define NONCE "2222222222222222222222222222222222222222222222222222222222222222"
/* hmac.new(b"secret", label + b"\0" + HELLO + b"\0" + NONCE, sha256) */
#define CTL_PROOF \
	"f6558ceac6aa85aef1c2d03e5adecf1f3d6346c41f3199acab53c6142679dbfe"
#define PROC_PROOF \
	"f9c746059e64cdb9739e5d88a98f3dbf457009d7bb97458748eb2a814d20f09d"

static char *
answer(const char *key, const char *line, char *why)
{
	return pb_auth_answer(key, HELLO, strlen(HELLO), line, strlen(line),
			      why, 256);
}

static void
proofs_match_the_controllers(void **state)
{
	char out[PB_AUTH_HEX_LEN + 1];

	(void)state;
	pb_auth_proof(KEY, PB_AUTH_CONTROLLER, HELLO, strlen(HELLO), NONCE,
		      out);
	assert_string_equal(out, CTL_PROOF);
	pb_auth_proof(KEY, PB_AUTH_PROCESS, HELLO, strlen(HELLO), NONCE, out);
	assert_string_equal(out, PROC_PROOF);
}

static void
answers_a_controller_that_proved_itself(void **state)
{
	char why[256] = "";
	char *reply = answer(KEY, "{\"challenge\":{\"nonce\":\"" NONCE
			     "\",\"proof\":\"" CTL_PROOF "\"}}", why);

	(void)state;
	assert_non_null(reply);
	assert_string_equal(reply, "{\"proof\":\"" PROC_PROOF "\"}");
	free(reply);
}

static void
sends_nothing_to_anyone_else(void **state)
{
	static const struct { const char *line, *why; } bad[] = {
		/* the right proof under another key */
		{ "{\"challenge\":{\"nonce\":\"" NONCE "\",\"proof\":\""
		  "f6558ceac6aa85aef1c2d03e5adecf1f3d6346c41f3199acab53c6142679dbff"
		  "\"}}", "did not prove" },
		/* a replayed proof for another nonce */
		{ "{\"challenge\":{\"nonce\":\"" PROC_PROOF "\",\"proof\":\""
		  CTL_PROOF "\"}}", "did not prove" },
		{ "{\"challenge\":{\"nonce\":\"" NONCE "\",\"proof\":\""
		  "F6558CEAC6AA85AEF1C2D03E5ADECF1F3D6346C41F3199ACAB53C6142679DBFE"
		  "\"}}", "not a challenge" },
		{ "{\"challenge\":{\"nonce\":\"22\",\"proof\":\"" CTL_PROOF
		  "\"}}", "not a challenge" },
		{ "{\"challenge\":{\"nonce\":\"" NONCE "\"}}", "not a challenge" },
		{ "{\"challenge\":[]}", "not a challenge" },
		{ "{\"id\":null,\"ok\":false,\"error\":\"go away\"}",
		  "refused us before proving itself: go away" },
		{ "{\"id\":1,\"cmd\":\"add\",\"args\":{\"port\":\"pcap:3\"}}",
		  "not a challenge" },
		{ "not json", "not a challenge" },
		{ "", "not a challenge" },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char why[256] = "";

		assert_null(answer(KEY, bad[i].line, why));
		assert_non_null(strstr(why, bad[i].why));
	}
}

static void
a_wrong_key_is_told_apart_from_nothing(void **state)
{
	char why[256] = "";

	(void)state;
	assert_null(answer("other", "{\"challenge\":{\"nonce\":\"" NONCE
			   "\",\"proof\":\"" CTL_PROOF "\"}}", why));
	assert_non_null(strstr(why, "PATCHBAY_TOKEN differs"));
}

static void
nonces_are_fresh(void **state)
{
	char a[PB_AUTH_HEX_LEN + 1], b[PB_AUTH_HEX_LEN + 1];

	(void)state;
	assert_int_equal(pb_auth_nonce(a), 0);
	assert_int_equal(pb_auth_nonce(b), 0);
	assert_int_equal(strlen(a), PB_AUTH_HEX_LEN);
	assert_string_not_equal(a, b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(proofs_match_the_controllers),
		cmocka_unit_test(answers_a_controller_that_proved_itself),
		cmocka_unit_test(sends_nothing_to_anyone_else),
		cmocka_unit_test(a_wrong_key_is_told_apart_from_nothing),
		cmocka_unit_test(nonces_are_fresh),
	};
	return cmocka_run_group_tests_name("auth", tests, NULL, NULL);
}
