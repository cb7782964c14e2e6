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

#include "pb_vhost.h"

/* Virtqueue numbers of queue pair q, as the guest names them. */
#define GUEST_RXQ(q) ((uint16_t)(2 * (q)))
#define GUEST_TXQ(q) ((uint16_t)(2 * (q) + 1))
#define MAX_VHOST_PORTS 64

struct pb_vhost {
	char *path;
	int vid;            /* -1 while no driver is connected and ready */
	uint16_t nb_qp;
	uint16_t next_qp;
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

static void
on_destroy_device(int vid)
{
	struct pb_vhost *v = lookup_vid(vid);

	if (v == NULL)
		return;
	__atomic_store_n(&v->vid, -1, __ATOMIC_RELEASE);
	/*
	 * The library frees the virtqueues when we return: wait until the
	 * worker has passed a quiescent state, so no burst still uses them.
	 */
	rte_rcu_qsbr_synchronize(v->qsbr, RTE_QSBR_THRID_INVALID);
}

static const struct rte_vhost_device_ops vhost_ops = {
	.new_device = on_new_device,
	.destroy_device = on_destroy_device,
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

uint16_t
pb_vhost_tx(struct pb_vhost *v, struct rte_mbuf **pkts, uint16_t n)
{
	int vid = __atomic_load_n(&v->vid, __ATOMIC_ACQUIRE);
	uint16_t sent;

	if (vid < 0)
		return 0;
	sent = rte_vhost_enqueue_burst(vid, GUEST_RXQ(0), pkts, n);
	rte_pktmbuf_free_bulk(pkts, sent);
	return sent;
}
