/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <linux/virtio_net.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <rte_vhost.h>

#include "pb_flow.h"
#include "pb_vhost.h"

/* Virtqueue numbers of queue pair q, as the guest names them. */
#define GUEST_RXQ(q) ((uint16_t)(2 * (q)))
#define GUEST_TXQ(q) ((uint16_t)(2 * (q) + 1))
#define MAX_VHOST_PORTS 64
#define MAX_TX_QUEUES 64    /* the guest queues a port spreads over */
#define SPREAD_BURST 64     /* packets a spread burst sorts at most */
#define VHOST_BURST 32      /* packets the vhost library takes a call */

struct pb_vhost {
	char *path;
	int vid;            /* -1 while no driver is connected and ready */
	uint16_t nb_qp;
	uint16_t next_qp;
	/* the guest rx queues the driver enabled, bit q for pair q: set by
	 * the library's thread, read by the worker */
	uint64_t rxq_enabled;
	/* the worker's own list of them, rebuilt when the mask changes */
	uint64_t txq_seen;
	uint16_t nb_txq;
	uint8_t txq[MAX_TX_QUEUES];
	struct rte_mempool *pool;
	struct rte_rcu_qsbr *qsbr;
};

/* The library's callbacks name a device by vid; we find our port by path. */
static struct pb_vhost *registry[MAX_VHOST_PORTS];
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;

static struct pb_vhost *
lookup_vid(int vid)
{
	char path[PATH_MAX];
	struct pb_vhost *v = NULL;

	if (rte_vhost_get_ifname(vid, path, sizeof(path)) < 0)
		return NULL;
	pthread_mutex_lock(&registry_lock);
	for (int i = 0; i < MAX_VHOST_PORTS && v == NULL; i++)
		if (registry[i] != NULL && strcmp(registry[i]->path, path) == 0)
			v = registry[i];
	pthread_mutex_unlock(&registry_lock);
	return v;
}

static int
registry_put(struct pb_vhost *v, struct pb_vhost *old)
{
	int ret = -1;

	pthread_mutex_lock(&registry_lock);
	for (int i = 0; i < MAX_VHOST_PORTS && ret < 0; i++)
		if (registry[i] == old) {
			registry[i] = v;
			ret = 0;
		}
	pthread_mutex_unlock(&registry_lock);
	return ret;
}

static int
on_new_device(int vid)
{
	struct pb_vhost *v = lookup_vid(vid);
	uint16_t nb_vrings = rte_vhost_get_vring_num(vid);

	if (v == NULL)
		return -1;
	/* we poll: the guest need not kick us, nor we interrupt it */
	for (uint16_t q = 0; q < nb_vrings; q++)
		rte_vhost_enable_guest_notification(vid, q, 0);
	v->nb_qp = (uint16_t)(nb_vrings / 2);
	v->next_qp = 0;
	__atomic_store_n(&v->vid, vid, __ATOMIC_RELEASE);
	return 0;
}

/* The driver enables the queue pairs it uses (a Linux guest: one per
 * vCPU, up to QEMU's queues=N): tx spreads over those. */
static int
on_vring_state_changed(int vid, uint16_t queue_id, int enable)
{
	struct pb_vhost *v = lookup_vid(vid);
	uint64_t bit;

	if (v == NULL || queue_id % 2 != 0 || queue_id / 2 >= MAX_TX_QUEUES)
		return 0;
	bit = 1ULL << (queue_id / 2);
	if (enable)
		__atomic_fetch_or(&v->rxq_enabled, bit, __ATOMIC_RELEASE);
	else
		__atomic_fetch_and(&v->rxq_enabled, ~bit, __ATOMIC_RELEASE);
	return 0;
}

static void
on_destroy_device(int vid)
{
	struct pb_vhost *v = lookup_vid(vid);

	if (v == NULL)
		return;
	__atomic_store_n(&v->vid, -1, __ATOMIC_RELEASE);
	__atomic_store_n(&v->rxq_enabled, 0, __ATOMIC_RELEASE);
	/*
	 * The library frees the virtqueues when we return: wait until the
	 * worker has passed a quiescent state, so no burst still uses them.
	 */
	rte_rcu_qsbr_synchronize(v->qsbr, RTE_QSBR_THRID_INVALID);
}

static const struct rte_vhost_device_ops vhost_ops = {
	.new_device = on_new_device,
	.destroy_device = on_destroy_device,
	.vring_state_changed = on_vring_state_changed,
};

/*
 * A server socket left by a process that died makes bind() fail. Remove it
 * if nobody answers on it; refuse if somebody does.
 */
static int
clear_stale_socket(const char *path, const char **err)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct stat st;
	int fd, ret;

	if (stat(path, &st) < 0)
		return 0;
	if (!S_ISSOCK(st.st_mode)) {
		*err = "vhost path exists and is not a socket";
		return -1;
	}
	/* non-blocking: a server whose backlog is full must not hang us;
	 * EAGAIN means somebody serves it too */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		*err = "cannot create a socket";
		return -1;
	}
	memcpy(addr.sun_path, path, strlen(path) + 1);
	ret = connect(fd, (struct sockaddr *)&addr, sizeof(addr));
	if (ret < 0 && errno == EAGAIN)
		ret = 0;
	close(fd);
	if (ret == 0) {
		*err = "vhost socket path is served by another process";
		return -1;
	}
	unlink(path);
	return 0;
}

/* Offloads would let packets change shape on the way; a patch panel
 * delivers them as they came. */
static const uint64_t disabled_features =
	(1ULL << VIRTIO_NET_F_HOST_TSO4) | (1ULL << VIRTIO_NET_F_HOST_TSO6) |
	(1ULL << VIRTIO_NET_F_HOST_ECN) | (1ULL << VIRTIO_NET_F_HOST_UFO) |
	(1ULL << VIRTIO_NET_F_GUEST_TSO4) | (1ULL << VIRTIO_NET_F_GUEST_TSO6) |
	(1ULL << VIRTIO_NET_F_GUEST_ECN) | (1ULL << VIRTIO_NET_F_GUEST_UFO) |
	(1ULL << VIRTIO_NET_F_CSUM) | (1ULL << VIRTIO_NET_F_GUEST_CSUM);

static int
start_driver(struct pb_vhost *v, int client, const char **err)
{
	if (rte_vhost_driver_register(v->path,
				      client ? RTE_VHOST_USER_CLIENT : 0) < 0) {
		*err = "the vhost library refused the socket path";
		return -1;
	}
	if (rte_vhost_driver_disable_features(v->path, disabled_features) < 0 ||
	    rte_vhost_driver_callback_register(v->path, &vhost_ops) < 0 ||
	    rte_vhost_driver_start(v->path) < 0) {
		rte_vhost_driver_unregister(v->path);
		*err = "cannot start the vhost-user socket";
		return -1;
	}
	return 0;
}

struct pb_vhost *
pb_vhost_open(const char *path, int client, struct rte_mempool *pool, struct rte_rcu_qsbr *qsbr,
	      const char **err)
{
	struct pb_vhost *v;

	if (strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
		*err = "vhost path is too long for a unix socket";
		return NULL;
	}
	if (!client && clear_stale_socket(path, err) < 0)
		return NULL;
	v = calloc(1, sizeof(*v));
	if (v == NULL || (v->path = strdup(path)) == NULL) {
		free(v);
		*err = "out of memory";
		return NULL;
	}
	v->vid = -1;
	v->pool = pool;
	v->qsbr = qsbr;
	if (registry_put(v, NULL) < 0) {
		*err = "too many vhost ports in this process";
	} else if (start_driver(v, client, err) == 0) {
		return v;
	} else {
		registry_put(NULL, v);
	}
	free(v->path);
	free(v);
	return NULL;
}

void
pb_vhost_close(struct pb_vhost *v)
{
	/* EBUSY while the library is in a callback for this socket */
	while (rte_vhost_driver_unregister(v->path) == -EBUSY)
		usleep(1000);
	registry_put(NULL, v);
	free(v->path);
	free(v);
}

int
pb_vhost_connected(const struct pb_vhost *v)
{
	return __atomic_load_n(&v->vid, __ATOMIC_ACQUIRE) >= 0;
}

uint16_t
pb_vhost_rx(struct pb_vhost *v, struct rte_mbuf **pkts, uint16_t n)
{
	int vid = __atomic_load_n(&v->vid, __ATOMIC_ACQUIRE);
	uint16_t qp = v->next_qp;

	if (vid < 0)
		return 0;
	if (unlikely(v->nb_qp > 1))
		v->next_qp = (uint16_t)((qp + 1) % v->nb_qp);
	return rte_vhost_dequeue_burst(vid, GUEST_TXQ(qp), v->pool, pkts, n);
}

static void
refresh_txq(struct pb_vhost *v, uint64_t enabled)
{
	v->txq_seen = enabled;
	v->nb_txq = 0;
	for (uint16_t q = 0; q < v->nb_qp && q < MAX_TX_QUEUES; q++)
		if (enabled >> q & 1)
			v->txq[v->nb_txq++] = (uint8_t)q;
}

/* The vhost library takes at most 32 packets a call (its MAX_PKT_BURST);
 * a longer burst goes in pieces, until the queue is full. */
static uint16_t
send_queue(int vid, uint16_t qp, struct rte_mbuf **pkts, uint16_t n)
{
	uint16_t sent = 0, piece, took;

	do {
		piece = RTE_MIN((uint16_t)(n - sent), (uint16_t)VHOST_BURST);
		took = rte_vhost_enqueue_burst(vid, GUEST_RXQ(qp), pkts + sent,
					       piece);
		sent += took;
	} while (took == piece && sent < n);
	rte_pktmbuf_free_bulk(pkts, sent);
	return sent;
}

/*
 * Each packet to the guest queue its flow hashes to, so every flow stays
 * in order on one queue. What a queue has no room for ends up after the
 * sent ones, where the caller frees it.
 */
static uint16_t
spread(struct pb_vhost *v, int vid, struct rte_mbuf **pkts, uint16_t n)
{
	struct rte_mbuf *group[SPREAD_BURST], *left[SPREAD_BURST];
	uint8_t queue_of[SPREAD_BURST];
	uint16_t sent = 0, nb_left = 0;

	n = RTE_MIN(n, (uint16_t)SPREAD_BURST);
	for (uint16_t i = 0; i < n; i++)
		queue_of[i] = (uint8_t)(pb_flow_hash(pkts[i]) % v->nb_txq);
	for (uint16_t k = 0; k < v->nb_txq; k++) {
		uint16_t g = 0, done;

		for (uint16_t i = 0; i < n; i++)
			if (queue_of[i] == k)
				group[g++] = pkts[i];
		if (g == 0)
			continue;
		done = send_queue(vid, v->txq[k], group, g);
		sent += done;
		for (uint16_t j = done; j < g; j++)
			left[nb_left++] = group[j];
	}
	memcpy(&pkts[sent], left, nb_left * sizeof(left[0]));
	return sent;
}

uint16_t
pb_vhost_tx(struct pb_vhost *v, struct rte_mbuf **pkts, uint16_t n)
{
	int vid = __atomic_load_n(&v->vid, __ATOMIC_ACQUIRE);
	uint64_t enabled;

	if (vid < 0)
		return 0;
	enabled = __atomic_load_n(&v->rxq_enabled, __ATOMIC_ACQUIRE);
	if (unlikely(enabled != v->txq_seen))
		refresh_txq(v, enabled);
	if (likely(v->nb_txq <= 1))   /* none told: queue 0, as always */
		return send_queue(vid, v->nb_txq == 1 ? v->txq[0] : 0, pkts, n);
	return spread(v, vid, pkts, n);
}
