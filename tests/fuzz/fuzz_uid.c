/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer target: port UIDs ("type:N"). Any text is either refused with
 * a reason or parsed into a UID whose canonical text parses back to it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pb_uid.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	char canon[PB_UID_STRLEN];
	struct pb_uid uid, again;
	const char *err = NULL;

	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (pb_uid_parse(text, &uid, &err) == 0) {
		if (pb_uid_parse(pb_uid_str(&uid, canon), &again, NULL) != 0 ||
		    !pb_uid_equal(&uid, &again))
			abort();
		if (pb_port_type_name(uid.type) == NULL)
			abort();
	} else if (err == NULL || err[0] == '\0') {
		abort();                 /* a refusal must say why */
	}
	free(text);
	return 0;
}
