/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer target: the first line a process reads from whoever answered
 * its dial over TCP, through the handshake parser (pb_auth_answer). No
 * line but a challenge carrying the controller's proof may get an answer,
 * and a refusal always says why.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pb_auth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define HELLO "{\"hello\":{\"role\":\"nfv\",\"id\":1,\"nonce\":\"" \
	"1111111111111111111111111111111111111111111111111111111111111111\"}}"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char why[256] = "";
	char *reply = pb_auth_answer("fuzz-key", HELLO, strlen(HELLO),
				     (const char *)data, size, why,
				     sizeof(why));

	/* a proof under "fuzz-key" is 2^-256 to guess: never an answer */
	if (reply != NULL || why[0] == '\0')
		abort();
	return 0;
}
