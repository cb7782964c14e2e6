/* SPDX-License-Identifier: BSD-3-Clause */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <lz4frame.h>

#include "pb_pcapng.h"

#define BUF_SIZE (1 << 20)
#define BLOCK_SHB 0x0a0d0d0aU
#define BLOCK_IDB 0x00000001U
#define BLOCK_EPB 0x00000006U
#define LINKTYPE_ETHERNET 1
#define FIFO_RETRY_NS (100 * 1000 * 1000ULL)
#define FIFO_PIPE_SIZE (1 << 20)

struct pb_pcapng {
	struct pb_pcapng_opts o;
	char *dir, *port, *fifo_path;
	char stamp[16];            /* the start time, YYYYmmddHHMMSS */
	char port_file[64];        /* the port in file names: "phy0" */
	char path[PATH_MAX];       /* the open file, with .tmp */
	int fd;
	unsigned int seq;
	uint64_t file_bytes;       /* pcapng bytes in the open file */
	uint64_t file_packets;
	uint8_t *buf;              /* pcapng not yet compressed/written */
	size_t buf_len;
	unsigned int buf_packets;  /* of them, packets */
	LZ4F_cctx *lz4;
	uint8_t *zbuf;
	size_t zbuf_size;
	int fifo_fd;
	uint64_t fifo_next_try;
	struct pb_pcapng_stats st;
};

static size_t
pad4(size_t n)
{
	return (n + 3) & ~(size_t)3;
}

static uint8_t *
put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
	return p + 4;
}

static uint8_t *
put_option(uint8_t *p, uint16_t code, const void *value, uint16_t len)
{
	memcpy(p, &code, 2);
	memcpy(p + 2, &len, 2);
	memcpy(p + 4, value, len);
	memset(p + 4 + len, 0, pad4(len) - len);
	return p + 4 + pad4(len);
}

/* Section header and interface description: what every file and every
 * live reader starts with. Returns its length in out (>= 256 bytes). */
static size_t
stream_header(const struct pb_pcapng *w, uint8_t *out)
{
	static const char app[] = "patchbay";
	const uint8_t tsresol = 9;          /* 10^-9 s: nanoseconds */
	const uint16_t end = 0;
	uint8_t *p = out, *start;
	uint32_t len;

	/* SHB: byte-order magic, version 1.0, section length unknown */
	start = p;
	p = put32(p, BLOCK_SHB);
	p += 4;
	p = put32(p, 0x1a2b3c4d);
	p = put32(p, 1);                    /* major 1, minor 0 */
	memset(p, 0xff, 8);
	p += 8;
	p = put_option(p, 4, app, sizeof(app) - 1);   /* shb_userappl */
	memcpy(p, &end, 2), memset(p + 2, 0, 2), p += 4;
	len = (uint32_t)(p - start + 4);
	put32(start + 4, len);
	p = put32(p, len);
	/* IDB: Ethernet, snaplen, if_name = the port, if_tsresol */
	start = p;
	p = put32(p, BLOCK_IDB);
	p += 4;
	p = put32(p, LINKTYPE_ETHERNET);
	p = put32(p, PB_PCAPNG_SNAPLEN);
	p = put_option(p, 2, w->port, (uint16_t)strlen(w->port));
	p = put_option(p, 9, &tsresol, 1);
	memcpy(p, &end, 2), memset(p + 2, 0, 2), p += 4;
	len = (uint32_t)(p - start + 4);
	put32(start + 4, len);
	p = put32(p, len);
	return (size_t)(p - out);
}

static int
write_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t done = write(fd, p, n);

		if (done < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += done;
		n -= (size_t)done;
	}
	return 0;
}

/* Compress (or not) and write the buffered bytes to the open file; on
 * failure the buffered packets are lost, and counted. */
static int
drain(struct pb_pcapng *w, bool last)
{
	const uint8_t *out = w->buf;
	size_t n = w->buf_len;
	unsigned int packets = w->buf_packets;
	bool compressed = true;

	if (w->lz4 != NULL) {
		size_t z = LZ4F_compressUpdate(w->lz4, w->zbuf, w->zbuf_size,
					       w->buf, w->buf_len, NULL);
		size_t e = 0;

		if (!LZ4F_isError(z) && last)
			e = LZ4F_compressEnd(w->lz4, w->zbuf + z,
					     w->zbuf_size - z, NULL);
		if (LZ4F_isError(z) || LZ4F_isError(e)) {
			errno = EIO;
			compressed = false;
		} else {
			out = w->zbuf;
			n = z + e;
		}
	}
	w->buf_len = 0;
	w->buf_packets = 0;
	if (compressed && write_all(w->fd, out, n) == 0)
		return 0;
	w->st.write_errors += packets;
	w->st.last_errno = errno;
	return -1;
}

static void
final_name(const struct pb_pcapng *w, char *out, size_t len)
{
	snprintf(out, len, "%.*s", (int)(strlen(w->path) - 4), w->path);
}

static int
open_file(struct pb_pcapng *w)
{
	__atomic_store_n(&w->seq, w->seq + 1, __ATOMIC_RELAXED);
	if (snprintf(w->path, sizeof(w->path),
		     "%s/spp_pcap.%s.%s.1.%u.pcapng%s.tmp", w->dir, w->stamp,
		     w->port_file, w->seq, w->lz4 != NULL ? ".lz4" : "") >=
	    (int)sizeof(w->path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	w->fd = open(w->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (w->fd < 0)
		return -1;
	w->st.files++;
	w->buf_len = 0;
	if (w->lz4 != NULL) {
		size_t z = LZ4F_compressBegin(w->lz4, w->zbuf, w->zbuf_size,
					      NULL);

		if (LZ4F_isError(z) || write_all(w->fd, w->zbuf, z) < 0)
			return -1;
	}
	w->buf_len = stream_header(w, w->buf);
	w->file_bytes = w->buf_len;
	w->file_packets = 0;
	return 0;
}

/* Write out and rename the open file. */
static int
finish_file(struct pb_pcapng *w)
{
	char done[PATH_MAX];
	int ret;

	if (w->fd < 0)
		return 0;
	ret = drain(w, true);
	if (close(w->fd) < 0)
		ret = -1;
	w->fd = -1;
	final_name(w, done, sizeof(done));
	if (rename(w->path, done) < 0)
		ret = -1;
	w->path[0] = '\0';
	return ret;
}

int
pb_pcapng_make_fifo(const char *path, char *why, size_t len)
{
	struct stat sb;

	if (mkfifo(path, 0600) == 0 ||
	    (errno == EEXIST && stat(path, &sb) == 0 && S_ISFIFO(sb.st_mode)))
		return 0;
	snprintf(why, len, "cannot make the FIFO %s: %s", path,
		 errno == EEXIST ? "a file that is no FIFO is there" :
		 strerror(errno));
	return -1;
}

struct pb_pcapng *
pb_pcapng_open(const struct pb_pcapng_opts *o, char *why, size_t len)
{
	struct pb_pcapng *w = calloc(1, sizeof(*w));
	time_t secs = (time_t)(o->start_ns / 1000000000ULL);
	struct tm tm;

	if (w == NULL) {
		snprintf(why, len, "out of memory");
		return NULL;
	}
	w->fd = w->fifo_fd = -1;
	w->o = *o;
	w->dir = strdup(o->dir);
	w->port = strdup(o->port);
	w->fifo_path = o->fifo != NULL ? strdup(o->fifo) : NULL;
	w->buf = malloc(BUF_SIZE);
	for (size_t i = 0, j = 0; o->port[i] != '\0' &&
	     j < sizeof(w->port_file) - 1; i++)
		if (o->port[i] != ':' && o->port[i] != ' ')
			w->port_file[j++] = o->port[i];
	localtime_r(&secs, &tm);
	strftime(w->stamp, sizeof(w->stamp), "%Y%m%d%H%M%S", &tm);
	if (w->dir == NULL || w->port == NULL || w->buf == NULL ||
	    (o->fifo != NULL && w->fifo_path == NULL)) {
		snprintf(why, len, "out of memory");
		goto fail;
	}
	if (o->lz4) {
		w->zbuf_size = LZ4F_compressBound(BUF_SIZE, NULL) + 64;
		w->zbuf = malloc(w->zbuf_size);
		if (w->zbuf == NULL || LZ4F_isError(LZ4F_createCompressionContext(
				&w->lz4, LZ4F_VERSION))) {
			snprintf(why, len, "cannot start lz4 compression");
			goto fail;
		}
	}
	if (w->fifo_path != NULL && pb_pcapng_make_fifo(w->fifo_path, why,
							len) < 0)
		goto fail;
	if (open_file(w) < 0) {
		snprintf(why, len, "cannot write a capture file in %s: %s",
			 w->dir, strerror(errno));
		goto fail;
	}
	return w;
fail:
	pb_pcapng_close(w);
	return NULL;
}

/* The live stream: a reader may come, go, or fall behind. */
static void
to_fifo(struct pb_pcapng *w, const uint8_t *block, size_t n, uint64_t now)
{
	uint8_t head[512];
	size_t head_len;

	if (w->fifo_fd < 0) {
		if (now < w->fifo_next_try)
			return;
		w->fifo_next_try = now + FIFO_RETRY_NS;
		w->fifo_fd = open(w->fifo_path, O_WRONLY | O_NONBLOCK |
				  O_CLOEXEC);
		if (w->fifo_fd < 0)
			return;      /* ENXIO: no reader yet */
		/* room for bursts while the reader catches up (best effort:
		 * /proc/sys/fs/pipe-max-size bounds it) */
		fcntl(w->fifo_fd, F_SETPIPE_SZ, FIFO_PIPE_SIZE);
		head_len = stream_header(w, head);
		if (write(w->fifo_fd, head, head_len) != (ssize_t)head_len) {
			close(w->fifo_fd);
			w->fifo_fd = -1;
			return;
		}
	}
	/* a pipe takes a write of up to PIPE_BUF whole or not at all */
	if (write(w->fifo_fd, block, n) == (ssize_t)n) {
		w->st.fifo_packets++;
		return;
	}
	w->st.fifo_drops++;
	if (errno == EPIPE) {            /* the reader went away */
		close(w->fifo_fd);
		w->fifo_fd = -1;
	}
}

int
pb_pcapng_write(struct pb_pcapng *w, const void *data, uint32_t caplen,
		uint32_t origlen, uint64_t ts_ns)
{
	size_t n;
	uint8_t *p, *start;

	if (caplen > PB_PCAPNG_SNAPLEN)
		caplen = PB_PCAPNG_SNAPLEN;
	n = 32 + pad4(caplen);
	if (w->fd < 0 && open_file(w) < 0)
		goto fail;
	if (w->file_bytes + n > w->o.fsize && w->file_packets > 0) {
		if (finish_file(w) < 0 || open_file(w) < 0)
			goto fail;
	}
	if (w->buf_len + n > BUF_SIZE)
		drain(w, false);       /* a failure loses what was buffered */
	start = p = w->buf + w->buf_len;
	p = put32(p, BLOCK_EPB);
	p = put32(p, (uint32_t)n);
	p = put32(p, 0);                         /* interface 0 */
	p = put32(p, (uint32_t)(ts_ns >> 32));
	p = put32(p, (uint32_t)ts_ns);
	p = put32(p, caplen);
	p = put32(p, origlen);
	memcpy(p, data, caplen);
	memset(p + caplen, 0, pad4(caplen) - caplen);
	p += pad4(caplen);
	put32(p, (uint32_t)n);
	w->buf_len += n;
	w->file_bytes += n;
	w->file_packets++;
	w->buf_packets++;
	w->st.packets++;
	w->st.bytes += origlen;
	if (w->fifo_path != NULL && n <= PIPE_BUF)
		to_fifo(w, start, n, ts_ns);
	return 0;
fail:
	w->st.write_errors++;
	w->st.last_errno = errno;
	return -1;
}

int
pb_pcapng_flush(struct pb_pcapng *w)
{
	if (w->fd < 0 || w->buf_len == 0 || w->lz4 != NULL)
		return 0;    /* lz4 blocks are written when a buffer fills */
	return drain(w, false);
}

void
pb_pcapng_close(struct pb_pcapng *w)
{
	if (w == NULL)
		return;
	if (finish_file(w) < 0)
		w->st.last_errno = errno;
	if (w->fifo_fd >= 0)
		close(w->fifo_fd);
	LZ4F_freeCompressionContext(w->lz4);
	free(w->zbuf);
	free(w->buf);
	free(w->dir);
	free(w->port);
	free(w->fifo_path);
	free(w);
}

void
pb_pcapng_filename(const struct pb_pcapng *w, char *out, size_t len)
{
	unsigned int seq = __atomic_load_n(&w->seq, __ATOMIC_RELAXED);

	/* built from its parts, not read from path: the writer may be
	 * renaming it on another thread */
	snprintf(out, len, "%s/spp_pcap.%s.%s.1.%u.pcapng%s", w->dir, w->stamp,
		 w->port_file, seq, w->lz4 != NULL ? ".lz4" : "");
}

void
pb_pcapng_get_stats(const struct pb_pcapng *w, struct pb_pcapng_stats *s)
{
	*s = w->st;
}
