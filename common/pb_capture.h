/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Capture: a port's packets to pcapng files (pb_pcapng.h), as SPP's
 * spp_pcap, on the forwarding engine.
 *
 * Two ways to get the packets:
 *  - consume (SPP's way): this process reads the port, as a patch would;
 *  - tap: whichever process moves the port's packets puts each on this
 *    process's ring too (pb_side.tap), shared, not copied (its reference
 *    count one higher), and goes on as before: a capture that changes
 *    nothing for the patch it watches.
 */
#ifndef PB_CAPTURE_H
#define PB_CAPTURE_H

#include <stdbool.h>
#include <stdint.h>

#include "pb_forwarder.h"
#include "pb_pcapng.h"

struct pb_capture_conf {
	struct pb_uid port;
	bool tap;                 /* passive: shared by the port's mover */
	enum pb_dir tap_dir;      /* what it receives (rx) or is sent (tx) */
	const char *out_dir;
	uint64_t fsize;
	bool lz4;
	const char *fifo;
};

struct pb_capture;

/* Register the capture feature with fw's engine and open the port (in
 * consume mode); NULL and a sentence in why if it cannot. */
struct pb_capture *pb_capture_new(struct pb_forwarder *fw,
				  const struct pb_capture_conf *conf,
				  char *why, size_t len);
/* Stop a running capture (its files are finished); the workers have
 * stopped or still run. */
void pb_capture_free(struct pb_capture *cap);

/* start, stop; and status in SPP's shape (client-id, status,
 * master-lcore, core) with files and counters beside */
extern const struct pb_cmd_def pb_capture_cmds[];

#endif
