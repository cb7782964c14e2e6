/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The handshake a process and the controller run over TCP before either
 * believes the other (docs/security.md): both hold a key (PATCHBAY_TOKEN);
 * each proves it with HMAC-SHA256 over the process's hello (which carries
 * the process's nonce) and the controller's nonce. The controller proves
 * itself first, so the process never sends anything made from the key to
 * a party that has not shown it holds the key.
 *
 *   process    -> {"hello": {..., "nonce": N1}}
 *   controller -> {"challenge": {"nonce": N2, "proof": HMAC(K, CTL|hello|N2)}}
 *   process    -> {"proof": HMAC(K, PROC|hello|N2)}
 *
 * Pure C (OpenSSL's libcrypto, jansson): unit-tested and fuzzed.
 */
#ifndef PB_AUTH_H
#define PB_AUTH_H

#include <stddef.h>

/* nonces and proofs: 32 bytes as 64 lowercase hex digits */
#define PB_AUTH_HEX_LEN 64

#define PB_AUTH_CONTROLLER "patchbay controller"
#define PB_AUTH_PROCESS "patchbay process"

/* A fresh nonce from the kernel's random source; -1 if none could be had. */
int pb_auth_nonce(char out[PB_AUTH_HEX_LEN + 1]);

/* HMAC-SHA256(key, label NUL hello NUL nonce) in hex: who (label) proves
 * to hold key for this hello and the other side's nonce. */
void pb_auth_proof(const char *key, const char *label, const char *hello,
		   size_t hello_len, const char *nonce,
		   char out[PB_AUTH_HEX_LEN + 1]);

/*
 * Read the controller's challenge to our hello. If it proves the
 * controller holds key, return our proof line (malloc'd, no '\n');
 * otherwise NULL with the reason in why.
 */
char *pb_auth_answer(const char *key, const char *hello, size_t hello_len,
		     const char *line, size_t len, char *why, size_t why_len);

#endif
