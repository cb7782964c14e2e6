/* SPDX-License-Identifier: BSD-3-Clause */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "pb_auth.h"

static void
to_hex(const unsigned char *bytes, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[bytes[i] >> 4];
		out[2 * i + 1] = digits[bytes[i] & 0xf];
	}
	out[2 * n] = '\0';
}

int
pb_auth_nonce(char out[PB_AUTH_HEX_LEN + 1])
{
	unsigned char bytes[PB_AUTH_HEX_LEN / 2];

	if (getrandom(bytes, sizeof(bytes), 0) != (ssize_t)sizeof(bytes))
		return -1;
	to_hex(bytes, sizeof(bytes), out);
	return 0;
}

void
pb_auth_proof(const char *key, const char *label, const char *hello,
	      size_t hello_len, const char *nonce,
	      char out[PB_AUTH_HEX_LEN + 1])
{
	size_t label_len = strlen(label), nonce_len = strlen(nonce);
	size_t len = label_len + 1 + hello_len + 1 + nonce_len;
	unsigned char *msg = malloc(len), md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;

	out[0] = '\0';
	if (msg == NULL)
		return;
	memcpy(msg, label, label_len + 1);
	memcpy(msg + label_len + 1, hello, hello_len);
	msg[label_len + 1 + hello_len] = '\0';
	memcpy(msg + label_len + 2 + hello_len, nonce, nonce_len);
	if (HMAC(EVP_sha256(), key, (int)strlen(key), msg, len, md,
		 &md_len) != NULL && md_len == PB_AUTH_HEX_LEN / 2)
		to_hex(md, md_len, out);
	free(msg);
}

static bool
is_hex64(const char *s)
{
	if (s == NULL || strlen(s) != PB_AUTH_HEX_LEN)
		return false;
	for (; *s != '\0'; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
			return false;
	return true;
}

char *
pb_auth_answer(const char *key, const char *hello, size_t hello_len,
	       const char *line, size_t len, char *why, size_t why_len)
{
	json_t *msg = json_loadb(line, len, JSON_REJECT_DUPLICATES, NULL);
	json_t *challenge = json_object_get(msg, "challenge");
	const char *nonce = json_string_value(json_object_get(challenge,
							      "nonce"));
	const char *proof = json_string_value(json_object_get(challenge,
							      "proof"));
	const char *refusal = json_string_value(json_object_get(msg, "error"));
	char expected[PB_AUTH_HEX_LEN + 1], ours[PB_AUTH_HEX_LEN + 1];
	char *reply = NULL;

	if (refusal != NULL && challenge == NULL) {
		snprintf(why, why_len, "it refused us before proving itself: "
			 "%.200s", refusal);
	} else if (!json_is_object(challenge) || !is_hex64(nonce) ||
		   !is_hex64(proof)) {
		snprintf(why, why_len, "its first line is not a challenge "
			 "{\"challenge\": {\"nonce\", \"proof\"}}");
	} else {
		pb_auth_proof(key, PB_AUTH_CONTROLLER, hello, hello_len, nonce,
			      expected);
		if (CRYPTO_memcmp(expected, proof, PB_AUTH_HEX_LEN) != 0) {
			snprintf(why, why_len, "it did not prove it holds our "
				 "key (PATCHBAY_TOKEN differs, or it is not "
				 "the controller)");
		} else {
			json_t *answer;

			pb_auth_proof(key, PB_AUTH_PROCESS, hello, hello_len,
				      nonce, ours);
			answer = json_pack("{s:s}", "proof", ours);
			reply = json_dumps(answer, JSON_COMPACT);
			json_decref(answer);
		}
	}
	json_decref(msg);
	return reply;
}
