/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Capture files: pcapng (Wireshark's and tshark's own format) of one port,
 * interface named after the port's UID, timestamps in nanoseconds,
 * original lengths kept.
 *
 * Files are named DIR/spp_pcap.<start time>.<port>.1.<seq>.pcapng[.lz4]
 * as SPP names its captures (port "phy:0" -> "phy0"; one writer, so
 * writer number 1), carry ".tmp" while open and are rotated before one
 * would pass fsize bytes of pcapng (SPP's limit too: the uncompressed
 * size). Each file stands alone: it starts with its own section and
 * interface blocks. With lz4, each file is one LZ4 frame (`lz4 -d`).
 *
 * Optionally the same stream goes live to a FIFO that tshark -i or
 * Wireshark reads while the capture runs. It never slows the capture: a
 * block the reader has no room for is dropped (counted), whole, and a
 * reader that goes away is waited for again.
 *
 * Pure C (libc, liblz4): no DPDK.
 */
#ifndef PB_PCAPNG_H
#define PB_PCAPNG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PB_PCAPNG_SNAPLEN 65535

struct pb_pcapng_opts {
	const char *dir;
	const char *port;      /* the port's UID: the interface's name */
	uint64_t fsize;        /* rotate before a file passes this size */
	bool lz4;
	const char *fifo;      /* NULL: no live stream */
	uint64_t start_ns;     /* the capture's start, for the file names */
};

struct pb_pcapng_stats {
	uint64_t packets, bytes;     /* written to files */
	uint64_t write_errors;       /* packets lost to a failed write */
	uint64_t fifo_packets, fifo_drops;
	unsigned int files;          /* finished and open ones */
	int last_errno;
};

struct pb_pcapng;

/* Create the directory's first file (and the FIFO); NULL and a sentence
 * in why if it cannot. */
struct pb_pcapng *pb_pcapng_open(const struct pb_pcapng_opts *o, char *why,
				 size_t len);
/* Make the FIFO at path (or find it there): a reader may open it before
 * the capture starts. */
int pb_pcapng_make_fifo(const char *path, char *why, size_t len);
/* One packet; -1 (counted, errno kept) if it could not be written. */
int pb_pcapng_write(struct pb_pcapng *w, const void *data, uint32_t caplen,
		    uint32_t origlen, uint64_t ts_ns);
/* Write out what is buffered (the end of a burst). */
int pb_pcapng_flush(struct pb_pcapng *w);
/* Finish the open file (rename it without .tmp) and free w. */
void pb_pcapng_close(struct pb_pcapng *w);

/* The file being written, without ".tmp" (safe from any thread). */
void pb_pcapng_filename(const struct pb_pcapng *w, char *out, size_t len);
void pb_pcapng_get_stats(const struct pb_pcapng *w,
			 struct pb_pcapng_stats *s);

#endif
