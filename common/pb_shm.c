/* SPDX-License-Identifier: BSD-3-Clause */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <rte_memcpy.h>

#include "pb_shm.h"

#define SHM_MAGIC 0x70627368u   /* "pbsh" */
#define SHM_VERSION 1u
#define SLOT_SIZE 2048u
#define SLOTS_OFFSET 4096u
#define NB_SLOTS 512u           /* per direction: 2 x 512 x 2 KiB + 4 KiB */
#define SLOT_DATA (SLOT_SIZE - sizeof(uint32_t))

enum { HOST_TO_GUEST, GUEST_TO_HOST };

/* One direction. head: written by its producer only; tail: by its consumer
 * only; each on its own cache line. Both run free and wrap with the mask. */
struct shm_dir {
	uint32_t head;
	uint8_t pad0[60];
	uint32_t tail;
	uint8_t pad1[60];
};

struct shm_header {
	uint32_t magic;
	uint32_t version;
	uint32_t nb_slots;
	uint32_t slot_size;
	uint8_t pad[48];
	struct shm_dir dir[2];
};

struct pb_shm {
	uint8_t *base;
	size_t size;
	struct shm_dir *tx, *rx;
	uint8_t *tx_slots, *rx_slots;
	struct rte_mempool *pool;
};

static uint8_t *
slots_of(uint8_t *base, int dir)
{
	return base + SLOTS_OFFSET + (size_t)dir * NB_SLOTS * SLOT_SIZE;
}

static struct pb_shm *
map_region(int fd, size_t size, int tx_dir, struct rte_mempool *pool,
	   const char **err)
{
	struct pb_shm *s = calloc(1, sizeof(*s));
	void *base;

	if (s == NULL) {
		*err = "out of memory";
		return NULL;
	}
	base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (base == MAP_FAILED) {
		free(s);
		*err = "cannot map the shared region";
		return NULL;
	}
	s->base = base;
	s->size = size;
	s->pool = pool;
	s->tx = &((struct shm_header *)base)->dir[tx_dir];
	s->rx = &((struct shm_header *)base)->dir[!tx_dir];
	s->tx_slots = slots_of(base, tx_dir);
	s->rx_slots = slots_of(base, !tx_dir);
	return s;
}

struct pb_shm *
pb_shm_open_host(const char *path, struct rte_mempool *pool, const char **err)
{
	struct shm_header *h;
	struct pb_shm *s;
	int fd;

	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0 || ftruncate(fd, PB_SHM_REGION_SIZE) < 0) {
		*err = "cannot create the region file";
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	s = map_region(fd, PB_SHM_REGION_SIZE, HOST_TO_GUEST, pool, err);
	close(fd);
	if (s == NULL)
		return NULL;
	h = (struct shm_header *)s->base;
	memset(h, 0, sizeof(*h));
	h->nb_slots = NB_SLOTS;
	h->slot_size = SLOT_SIZE;
	h->version = SHM_VERSION;
	/* the magic last: a guest that sees it sees the rest initialised */
	__atomic_store_n(&h->magic, SHM_MAGIC, __ATOMIC_RELEASE);
	return s;
}

struct pb_shm *
pb_shm_open_guest(const char *pci, struct rte_mempool *pool, const char **err)
{
	char *enable = NULL, *bar = NULL;
	struct shm_header *h;
	struct pb_shm *s = NULL;
	struct stat st;
	int fd;

	if (asprintf(&enable, "/sys/bus/pci/devices/%s/enable", pci) < 0 ||
	    asprintf(&bar, "/sys/bus/pci/devices/%s/resource2", pci) < 0) {
		*err = "out of memory";
		goto out;
	}
	/* nothing else drives the device: turn on its memory decoding */
	fd = open(enable, O_WRONLY | O_CLOEXEC);
	if (fd >= 0) {
		if (write(fd, "1", 1) < 0)
			*err = "cannot enable the device";
		close(fd);
	}
	fd = open(bar, O_RDWR | O_SYNC | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0 ||
	    (size_t)st.st_size < SLOTS_OFFSET + 2 * NB_SLOTS * SLOT_SIZE) {
		*err = "no ivshmem region at that PCI address";
		if (fd >= 0)
			close(fd);
		goto out;
	}
	s = map_region(fd, (size_t)st.st_size, GUEST_TO_HOST, pool, err);
	close(fd);
	h = s != NULL ? (struct shm_header *)s->base : NULL;
	if (h != NULL &&
	    (__atomic_load_n(&h->magic, __ATOMIC_ACQUIRE) != SHM_MAGIC ||
	     h->version != SHM_VERSION || h->nb_slots != NB_SLOTS)) {
		*err = "the region was not set up by a patchbay host";
		pb_shm_close(s);
		s = NULL;
	}
out:
	free(enable);
	free(bar);
	return s;
}

void
pb_shm_close(struct pb_shm *s)
{
	munmap(s->base, s->size);
	free(s);
}

uint16_t
pb_shm_rx(struct pb_shm *s, struct rte_mbuf **pkts, uint16_t n)
{
	uint32_t tail = s->rx->tail;
	uint32_t head = __atomic_load_n(&s->rx->head, __ATOMIC_ACQUIRE);
	uint16_t k = (uint16_t)RTE_MIN((uint32_t)n, head - tail);

	if (k == 0 || rte_pktmbuf_alloc_bulk(s->pool, pkts, k) != 0)
		return 0;
	for (uint16_t i = 0; i < k; i++) {
		const uint8_t *slot = s->rx_slots +
			((tail + i) & (NB_SLOTS - 1)) * SLOT_SIZE;
		uint32_t len = RTE_MIN(*(const uint32_t *)slot,
				       (uint32_t)SLOT_DATA);

		len = RTE_MIN(len, (uint32_t)rte_pktmbuf_tailroom(pkts[i]));
		rte_memcpy(rte_pktmbuf_mtod(pkts[i], void *), slot + 4, len);
		pkts[i]->data_len = (uint16_t)len;
		pkts[i]->pkt_len = len;
	}
	/* the slots are copied out: the producer may reuse them */
	__atomic_store_n(&s->rx->tail, tail + k, __ATOMIC_RELEASE);
	return k;
}

uint16_t
pb_shm_tx(struct pb_shm *s, struct rte_mbuf **pkts, uint16_t n)
{
	uint32_t head = s->tx->head;
	uint32_t tail = __atomic_load_n(&s->tx->tail, __ATOMIC_ACQUIRE);
	uint16_t k = (uint16_t)RTE_MIN((uint32_t)n, NB_SLOTS - (head - tail));
	uint16_t i;

	for (i = 0; i < k && pkts[i]->pkt_len <= SLOT_DATA; i++) {
		uint8_t *slot = s->tx_slots +
			((head + i) & (NB_SLOTS - 1)) * SLOT_SIZE;
		const void *data;

		*(uint32_t *)slot = pkts[i]->pkt_len;
		data = rte_pktmbuf_read(pkts[i], 0, pkts[i]->pkt_len, slot + 4);
		if (data != slot + 4)
			rte_memcpy(slot + 4, data, pkts[i]->pkt_len);
	}
	/* the slots are filled: publish them */
	__atomic_store_n(&s->tx->head, head + i, __ATOMIC_RELEASE);
	rte_pktmbuf_free_bulk(pkts, i);
	return i;
}
