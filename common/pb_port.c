/* SPDX-License-Identifier: BSD-3-Clause */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <dirent.h>
#include <errno.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <rte_bus_vdev.h>
#include <rte_dev.h>
#include <rte_eal.h>
#include <rte_errno.h>

#include "pb_flows.h"
#include "pb_pcap.h"
#include "pb_port.h"

#define NB_RXD 1024
#define NB_TXD 1024
#define MAX_QUEUES 8
#define MP_VDEV_ACTION "pb_vdev"
#define MP_TIMEOUT_S 10
/* "net_null_pb3": apart from the primary's own --vdev net_null0 etc. */
#define VDEV_NAME_FMT "%s_pb%u"

/*
 * Options each hot-plugged type takes, and how they become devargs.
 * Values are checked here so that no user string can smuggle in another
 * devarg: commas separate devargs, so they are refused in values.
 */
struct vdev_kind {
	enum pb_port_type type;
	const char *driver;
	const char *options;
	int (*devargs)(FILE *out, const struct pb_uid *uid, json_t *opts,
		       struct pb_result *res);
};

static int
opt_string(json_t *opts, const char *key, const char **out,
	   struct pb_result *res)
{
	if (pb_arg_string(opts, key, out, res) < 0)
		return -1;
	if (*out != NULL && strpbrk(*out, ",;") != NULL)
		return pb_fail(res, "option '%s' must not contain ',' or ';'",
			       key);
	return 0;
}

/* ",key=value", or ",key=" default_fmt with the port's index */
static void
put_devarg(FILE *out, const char *key, const char *value,
	   const char *default_fmt, unsigned int index)
{
	fprintf(out, ",%s=", key);
	if (value != NULL)
		fputs(value, out);
	else
		fprintf(out, default_fmt, index);
}

static int
null_devargs(FILE *out, const struct pb_uid *uid, json_t *opts,
	     struct pb_result *res)
{
	unsigned int size = 64, flows = 1, rate = 0;
	int copy = 0;

	(void)uid;
	if (pb_arg_uint(opts, "size", 14, 9000, &size, res) < 0 ||
	    pb_arg_bool(opts, "copy", &copy, res) < 0 ||
	    pb_arg_uint(opts, "flows", 1, PB_FLOWS_MAX, &flows, res) < 0 ||
	    pb_arg_uint(opts, "rate", 1, PB_RATE_MAX, &rate, res) < 0)
		return -1;
	if (flows > 1 && size < PB_FLOWS_MIN_SIZE)
		return pb_fail(res, "option 'flows' needs 'size' of at least "
			       "%d (the frames carry IPv4 and UDP headers)",
			       PB_FLOWS_MIN_SIZE);
	/* copy: each frame a copy of one zeroed frame (same bytes every
	 * time), not whatever the mbuf held */
	fprintf(out, ",size=%u%s", size, copy ? ",copy=1" : "");
	return 0;
}

static int
tap_devargs(FILE *out, const struct pb_uid *uid, json_t *opts,
	    struct pb_result *res)
{
	const char *iface = NULL;

	if (opt_string(opts, "iface", &iface, res) < 0)
		return -1;
	if (iface != NULL && strlen(iface) >= 16)
		return pb_fail(res, "option 'iface' must be under 16 characters");
	put_devarg(out, "iface", iface, "pbtap%u", uid->index);
	return 0;
}

static int
memif_devargs(FILE *out, const struct pb_uid *uid, json_t *opts,
	      struct pb_result *res)
{
	const char *socket = NULL, *role = "server";
	unsigned int id = 0;

	if (opt_string(opts, "socket", &socket, res) < 0 ||
	    opt_string(opts, "role", &role, res) < 0 ||
	    pb_arg_uint(opts, "id", 0, 65535, &id, res) < 0)
		return -1;
	if (strcmp(role, "server") != 0 && strcmp(role, "client") != 0)
		return pb_fail(res, "option 'role' must be \"server\" or "
			       "\"client\"");
	/*
	 * A socket file, not the PMD's default abstract name: peers (a
	 * container) find it where the path says, and the PMD never closes a
	 * removed server's abstract listener, so the name could not be bound
	 * again while the primary runs (a restored or remade port failed).
	 */
	fprintf(out, ",role=%s,id=%u,socket-abstract=no", role, id);
	put_devarg(out, "socket", socket, "/tmp/memif%u.sock", uid->index);
	return 0;
}

static int
virtio_devargs(FILE *out, const struct pb_uid *uid, json_t *opts,
	       struct pb_result *res)
{
	const char *path = NULL;
	unsigned int queues = 1, queue_size = 1024;

	if (opt_string(opts, "path", &path, res) < 0 ||
	    pb_arg_uint(opts, "queues", 1, MAX_QUEUES, &queues, res) < 0 ||
	    pb_arg_uint(opts, "queue_size", 64, 4096, &queue_size, res) < 0)
		return -1;
	if (queue_size & (queue_size - 1))
		return pb_fail(res, "option 'queue_size' must be a power of 2");
	put_devarg(out, "path", path, "/tmp/sock%u", uid->index);
	/* 1024 descriptors, as FD.io CSIT runs vhost (virtio_user's is 256) */
	fprintf(out, ",queues=%u,queue_size=%u", queues, queue_size);
	return 0;
}

static const struct vdev_kind vdev_kinds[] = {
	{ PB_PORT_NULL, "net_null", "size copy flows rate", null_devargs },
	{ PB_PORT_TAP, "net_tap", "iface", tap_devargs },
	{ PB_PORT_MEMIF, "net_memif", "socket role id", memif_devargs },
	{ PB_PORT_VIRTIO, "net_virtio_user", "path queues queue_size",
	  virtio_devargs },
};

static const struct vdev_kind *
find_vdev_kind(enum pb_port_type type)
{
	for (size_t i = 0; i < RTE_DIM(vdev_kinds); i++)
		if (vdev_kinds[i].type == type)
			return &vdev_kinds[i];
	return NULL;
}

/* ---- ethdev start, in the primary ---------------------------------- */

int
pb_ethdev_start(uint16_t port_id, struct rte_mempool *pool,
		uint16_t nb_rxq, uint16_t nb_txq)
{
	struct rte_eth_conf conf = { 0 };
	struct rte_eth_dev_info info;
	int socket = rte_eth_dev_socket_id(port_id);
	int ret;

	ret = rte_eth_dev_info_get(port_id, &info);
	if (ret < 0)
		return ret;
	nb_rxq = RTE_MIN(nb_rxq, info.max_rx_queues);
	nb_txq = RTE_MIN(nb_txq, info.max_tx_queues);
	ret = rte_eth_dev_configure(port_id, nb_rxq, nb_txq, &conf);
	for (uint16_t q = 0; ret == 0 && q < nb_rxq; q++)
		ret = rte_eth_rx_queue_setup(port_id, q, NB_RXD, socket, NULL,
					     pool);
	for (uint16_t q = 0; ret == 0 && q < nb_txq; q++)
		ret = rte_eth_tx_queue_setup(port_id, q, NB_TXD, socket, NULL);
	if (ret == 0)
		ret = rte_eth_dev_start(port_id);
	if (ret == 0)
		rte_eth_promiscuous_enable(port_id);  /* not all can: ignore */
	return ret;
}

/*
 * Hot-plugged vdevs. The primary creates, configures and starts a device
 * before any secondary attaches to it: a secondary's attach copies the
 * queues into its own fast-path tables and opens its own per-process
 * handles (tap fds), so the queues must exist by then. Hence
 * no rte_dev_probe here: its multi-process hotplug attaches every process
 * before anyone has configured the device.
 */
enum vdev_op { VDEV_CREATE, VDEV_STOP, VDEV_DESTROY };

struct vdev_request {
	int32_t op;
	uint16_t nb_queues;
	char devargs[RTE_MP_MAX_PARAM_LEN - 8];
};

#define MAX_DEVARGS (sizeof(((struct vdev_request *)0)->devargs) - 1)

static struct rte_mempool *served_pool;

/* "net_null0,size=64" -> rte_vdev_init("net_null0", "size=64") */
static int
vdev_init(const char *devargs)
{
	const char *comma = strchr(devargs, ',');
	char *name = strndup(devargs, comma ? (size_t)(comma - devargs)
					    : strlen(devargs));
	int ret = name != NULL ? rte_vdev_init(name, comma ? comma + 1 : "")
			       : -ENOMEM;

	free(name);
	return ret;
}

static int
vdev_name(const char *devargs, char *name, size_t len)
{
	size_t n = strcspn(devargs, ",");

	if (n >= len)
		return -ENAMETOOLONG;
	memcpy(name, devargs, n);
	name[n] = '\0';
	return 0;
}

static int vdev_do(enum vdev_op op, const char *devargs, uint16_t nb_queues);

/*
 * A tap port's interface must not exist yet: a second tap port on it would
 * share its queues, and deleting either would close the other's fds.
 */
static bool
tap_iface_exists(const char *devargs)
{
	const char *iface = strstr(devargs, ",iface=");
	char name[IF_NAMESIZE];

	if (strncmp(devargs, "net_tap", strlen("net_tap")) != 0 || iface == NULL)
		return false;
	iface += strlen(",iface=");
	snprintf(name, sizeof(name), "%.*s", (int)strcspn(iface, ","), iface);
	return if_nametoindex(name) != 0;
}

/* In the primary: create and start a vdev, replacing a stale one. */
static int
vdev_create(const char *devargs, uint16_t nb_queues)
{
	char name[RTE_DEV_NAME_MAX_LEN];
	uint16_t port_id;
	int ret;

	ret = vdev_name(devargs, name, sizeof(name));
	if (ret < 0)
		return ret;
	if (rte_eth_dev_get_port_by_name(name, &port_id) == 0)
		vdev_do(VDEV_DESTROY, name, 0);  /* left by a process that died */
	if (tap_iface_exists(devargs))
		return -EADDRINUSE;
	ret = vdev_init(devargs);
	if (ret < 0)
		return ret;
	ret = rte_eth_dev_get_port_by_name(name, &port_id);
	if (ret == 0)
		ret = pb_ethdev_start(port_id, served_pool, nb_queues,
				      nb_queues);
	if (ret < 0)
		vdev_do(VDEV_DESTROY, name, 0);
	return ret;
}

/* In the primary. A started device cannot be closed: stop it first. */
static int
vdev_do(enum vdev_op op, const char *devargs, uint16_t nb_queues)
{
	char name[RTE_DEV_NAME_MAX_LEN];
	uint16_t port_id;
	int ret;

	if (op == VDEV_CREATE)
		return vdev_create(devargs, nb_queues);
	ret = vdev_name(devargs, name, sizeof(name));
	if (ret == 0)
		ret = rte_eth_dev_get_port_by_name(name, &port_id);
	if (ret != 0)
		return -ENODEV;
	ret = rte_eth_dev_stop(port_id);
	if (op == VDEV_DESTROY)
		ret = rte_vdev_uninit(name);
	return ret;
}

static int
on_vdev_request(const struct rte_mp_msg *msg, const void *peer)
{
	struct vdev_request req;
	struct rte_mp_msg reply = { 0 };
	int32_t ret = -EINVAL;

	if (msg->len_param == sizeof(req)) {
		memcpy(&req, msg->param, sizeof(req));
		req.devargs[MAX_DEVARGS] = '\0';
		ret = vdev_do(req.op, req.devargs, req.nb_queues);
	}
	snprintf(reply.name, sizeof(reply.name), "%s", MP_VDEV_ACTION);
	reply.len_param = sizeof(ret);
	memcpy(reply.param, &ret, sizeof(ret));
	return rte_mp_reply(&reply, peer);
}

int
pb_ethdev_serve_requests(struct rte_mempool *pool)
{
	served_pool = pool;
	return rte_mp_action_register(MP_VDEV_ACTION, on_vdev_request);
}

/* Ask the primary to create or destroy a vdev; ourselves if we are it. */
static int
primary_vdev(enum vdev_op op, const char *devargs, uint16_t nb_queues)
{
	struct vdev_request req = { .op = op, .nb_queues = nb_queues };
	struct rte_mp_msg msg = { 0 };
	struct rte_mp_reply reply = { 0 };
	struct timespec ts = { .tv_sec = MP_TIMEOUT_S };
	int32_t ret = -ETIMEDOUT;

	if (rte_eal_process_type() == RTE_PROC_PRIMARY)
		return vdev_do(op, devargs, nb_queues);
	snprintf(req.devargs, sizeof(req.devargs), "%s", devargs);
	snprintf(msg.name, sizeof(msg.name), "%s", MP_VDEV_ACTION);
	msg.len_param = sizeof(req);
	memcpy(msg.param, &req, sizeof(req));
	if (rte_mp_request_sync(&msg, &reply, &ts) == 0 &&
	    reply.nb_received == 1 &&
	    reply.msgs[0].len_param == sizeof(ret))
		memcpy(&ret, reply.msgs[0].param, sizeof(ret));
	free(reply.msgs);
	return ret;
}

/* ---- opening each kind -------------------------------------------- */

static struct pb_port *
port_new(enum pb_io io, const struct pb_uid *uid)
{
	struct pb_port *p = calloc(1, sizeof(*p));

	if (p == NULL)
		return NULL;
	p->ready = true;
	p->io = io;
	p->uid = *uid;
	p->nb_rxq = 1;
	pb_uid_str(uid, p->name);
	return p;
}

/*
 * Drivers whose queues are the primary's own sockets, files or mappings:
 * a secondary calling their burst functions crashes (af_packet's socket
 * ring is mapped in the primary only). Say so instead, and what to use.
 */
static const char *
primary_only(uint16_t ethdev)
{
	static const struct {
		const char *driver;
		const char *why;
	} local[] = {
		{ "net_af_packet", "is a net_af_packet device: its sockets live "
		  "in the primary only, so this secondary cannot move its "
		  "packets. Patch it in the primary (pri; patch ...), or give "
		  "the interface to this process as af_packet:N iface=NAME" },
		{ "net_af_xdp", "is a net_af_xdp device: its XDP sockets live in "
		  "the primary only. Patch it in the primary, or use "
		  "af_packet:N iface=NAME here" },
		{ "net_pcap", "is a net_pcap device: its files live in the "
		  "primary only. Patch it in the primary, or use pcap:N here" },
	};
	struct rte_eth_dev_info info;

	if (rte_eal_process_type() != RTE_PROC_SECONDARY ||
	    rte_eth_dev_info_get(ethdev, &info) != 0 ||
	    info.driver_name == NULL)
		return NULL;
	for (size_t i = 0; i < RTE_DIM(local); i++)
		if (strcmp(info.driver_name, local[i].driver) == 0)
			return local[i].why;
	return NULL;
}

static void
no_such_builtin(const struct pb_port_env *env, const struct pb_uid *uid,
		struct pb_result *res)
{
	struct pb_uid phy = { PB_PORT_PHY, uid->index, 0 };
	char name[PB_UID_STRLEN], phy_name[PB_UID_STRLEN];
	struct pb_slot *slot = pb_slot_find(env->sh, pb_uid_str(&phy, phy_name));
	struct rte_eth_dev_info info;

	pb_uid_str(uid, name);
	if (uid->type == PB_PORT_PHY && uid->queue != 0 && slot != NULL &&
	    rte_eth_dev_info_get(slot->ethdev, &info) == 0) {
		pb_fail(res, "%s does not exist: %s has %u rx and %u tx queues "
			"(the primary's --port-num %u rxq R txq T gives more)",
			name, phy_name, info.nb_rx_queues, info.nb_tx_queues,
			uid->index);
		return;
	}
	pb_fail(res, "%s does not exist: the primary has %u phy and %u ring "
		"ports", name, env->sh->nb_phys, env->sh->nb_rings);
}

int
pb_port_check_side(const struct pb_port *p, enum pb_dir dir,
		   struct pb_result *res)
{
	struct rte_eth_dev_info info;
	uint16_t nb;

	if (p->unusable != NULL)
		return pb_fail(res, "%s %s", p->name, p->unusable);
	if (p->uid.type != PB_PORT_PHY || p->uid.queue == 0)
		return 0;
	if (rte_eth_dev_info_get(p->ethdev, &info) != 0)
		return pb_fail(res, "%s: its ethdev is gone", p->name);
	nb = dir == PB_RX ? info.nb_rx_queues : info.nb_tx_queues;
	if (p->uid.queue < nb)
		return 0;
	return pb_fail(res, "%s cannot be %s: phy:%u has %u %s queue%s",
		       p->name, dir == PB_RX ? "read" : "written", p->uid.index,
		       nb, dir == PB_RX ? "rx" : "tx", nb == 1 ? "" : "s");
}

static struct pb_port *
open_builtin(const struct pb_port_env *env, const struct pb_uid *uid,
	     json_t *opts, struct pb_result *res)
{
	char name[PB_UID_STRLEN], ring_name[RTE_RING_NAMESIZE];
	struct pb_slot *slot;
	struct pb_port *p;

	pb_uid_str(uid, name);
	if (json_object_size(opts) != 0) {
		pb_fail(res, "%s ports take no options", pb_port_type_name(uid->type));
		return NULL;
	}
	slot = pb_slot_find(env->sh, name);
	if (slot == NULL) {
		no_such_builtin(env, uid, res);
		return NULL;
	}
	p = port_new(uid->type == PB_PORT_RING ? PB_IO_RING : PB_IO_ETHDEV, uid);
	if (p == NULL) {
		pb_fail(res, "out of memory");
		return NULL;
	}
	p->slot = slot;
	p->ethdev = slot->ethdev;
	p->next_rxq = p->txq = uid->queue;
	if (uid->type == PB_PORT_PHY)
		p->unusable = primary_only(p->ethdev);
	if (uid->type == PB_PORT_RING) {
		snprintf(ring_name, sizeof(ring_name), PB_RING_NAME_FMT,
			 uid->index);
		p->ring = rte_ring_lookup(ring_name);
		if (p->ring == NULL) {
			free(p);
			pb_fail(res, "%s's ring is missing from shared memory", name);
			return NULL;
		}
	}
	return p;
}

static char *
build_devargs(const struct vdev_kind *kind, const struct pb_uid *uid,
	      json_t *opts, struct pb_result *res)
{
	char *devargs = NULL;
	size_t size = 0;
	FILE *out = open_memstream(&devargs, &size);
	int ret;

	if (out == NULL) {
		pb_fail(res, "out of memory");
		return NULL;
	}
	fprintf(out, VDEV_NAME_FMT, kind->driver, uid->index);
	ret = kind->devargs(out, uid, opts, res);
	fclose(out);
	if (ret < 0) {
		free(devargs);
		return NULL;
	}
	return devargs;
}

/*
 * DPDK 22.11's tap PMD, detached in a secondary, frees the queue fds it was
 * given without closing them, and the kernel keeps a tap interface while
 * any fd is open on it. Close ours, found by the interface they serve.
 */
static void
close_tun_fds(const char *iface)
{
	DIR *dir = opendir("/proc/self/fd");
	struct dirent *e;
	char target[32];

	while (dir != NULL && (e = readdir(dir)) != NULL) {
		struct ifreq ifr = { 0 };
		int fd = atoi(e->d_name);
		ssize_t n;

		n = readlinkat(dirfd(dir), e->d_name, target, sizeof(target) - 1);
		if (n <= 0)
			continue;
		target[n] = '\0';
		if (strcmp(target, "/dev/net/tun") == 0 &&
		    ioctl(fd, TUNGETIFF, &ifr) == 0 &&
		    strcmp(ifr.ifr_name, iface) == 0)
			close(fd);
	}
	if (dir != NULL)
		closedir(dir);
}

/*
 * Stopped by the primary, detached here, then destroyed by the primary.
 * Once the primary is gone its exit has released the device's shared
 * data: any ethdev call would read freed memory, so only our own tap fds
 * are closed.
 */
static void
unplug_vdev(const struct pb_port_env *env, struct pb_port *p)
{
	if (rte_eal_process_type() != RTE_PROC_PRIMARY) {
		if (pb_primary_alive(env->sh)) {
			primary_vdev(VDEV_STOP, p->devname, 0);
			rte_vdev_uninit(p->devname);
		}
		if (p->iface[0] != '\0')
			close_tun_fds(p->iface);
		if (!pb_primary_alive(env->sh))
			return;
	}
	primary_vdev(VDEV_DESTROY, p->devname, 0);
}

/* The kernel interface a tap port serves, kept for unplug_vdev. */
static void
remember_iface(struct pb_port *p)
{
	struct rte_eth_dev_info info;

	if (p->uid.type == PB_PORT_TAP &&
	    (rte_eth_dev_info_get(p->ethdev, &info) != 0 ||
	     if_indextoname(info.if_index, p->iface) == NULL))
		p->iface[0] = '\0';
}

/* Is name one of ours, hot-plugged ("net_null_pb3")? */
static bool
is_hotplugged_name(const char *name)
{
	for (size_t k = 0; k < RTE_DIM(vdev_kinds); k++) {
		size_t len = strlen(vdev_kinds[k].driver);
		unsigned int index;
		char end;

		if (strncmp(name, vdev_kinds[k].driver, len) == 0 &&
		    sscanf(name + len, "_pb%u%c", &index, &end) == 1)
			return true;
	}
	return false;
}

void
pb_ports_detach_others(void)
{
	char name[RTE_ETH_NAME_MAX_LEN], iface[IF_NAMESIZE];
	struct rte_eth_dev_info info;
	uint16_t port_id;

	RTE_ETH_FOREACH_DEV(port_id) {
		if (rte_eth_dev_get_name_by_port(port_id, name) != 0 ||
		    !is_hotplugged_name(name))
			continue;
		if (rte_eth_dev_info_get(port_id, &info) != 0 ||
		    if_indextoname(info.if_index, iface) == NULL)
			iface[0] = '\0';
		rte_vdev_uninit(name);
		if (strncmp(name, "net_tap", strlen("net_tap")) == 0 &&
		    iface[0] != '\0')
			close_tun_fds(iface);
	}
}

/* Have the primary make the device, then attach to it ourselves. */
static int
plug_vdev(const struct pb_port_env *env, struct pb_port *p,
	  const char *devargs, struct pb_result *res)
{
	uint16_t port_id;
	int ret;

	if (strlen(devargs) > MAX_DEVARGS)
		return pb_fail(res, "options of %s are too long (devargs at "
			       "most %zu characters)", p->name, MAX_DEVARGS);
	ret = primary_vdev(VDEV_CREATE, devargs, p->nb_rxq);
	if (ret == -EADDRINUSE)
		return pb_fail(res, "cannot create %s: its interface exists "
			       "already (another tap port has it, or the host "
			       "does): give it another iface=", p->name);
	if (ret < 0)
		return pb_fail(res, "cannot create %s (%s): %s", p->name, devargs,
			       rte_strerror(-ret));
	if (rte_eal_process_type() != RTE_PROC_PRIMARY) {
		ret = vdev_init(devargs);
		if (ret < 0) {
			primary_vdev(VDEV_DESTROY, devargs, 0);
			return pb_fail(res, "cannot attach to %s: %s", p->name,
				       rte_strerror(-ret));
		}
	}
	if (rte_eth_dev_get_port_by_name(p->devname, &port_id) != 0) {
		unplug_vdev(env, p);
		return pb_fail(res, "%s was created but has no ethdev", p->name);
	}
	p->ethdev = port_id;
	remember_iface(p);
	return 0;
}

/* A null port given flows=N makes N flows, given rate=PPS at most PPS
 * packets a second (pb_flows.h); null_devargs checked both. */
static int
null_flows(struct pb_port *p, json_t *opts, struct pb_result *res)
{
	unsigned int flows = 1, size = 64, rate = 0;

	pb_arg_uint(opts, "flows", 1, PB_FLOWS_MAX, &flows, res);
	pb_arg_uint(opts, "size", 14, 9000, &size, res);
	pb_arg_uint(opts, "rate", 1, PB_RATE_MAX, &rate, res);
	if (flows == 1 && rate == 0)
		return 0;
	p->flows = pb_flows_attach(p->ethdev, p->nb_rxq, flows, size, rate,
				   res);
	return p->flows != NULL ? 0 : -1;
}

static struct pb_port *
open_vdev(const struct pb_port_env *env, const struct pb_uid *uid,
	  json_t *opts, struct pb_result *res)
{
	const struct vdev_kind *kind = find_vdev_kind(uid->type);
	unsigned int queues = 1;
	struct pb_port *p;
	char *devargs;

	if (pb_args_check_keys(opts, kind->options, "this port type", res) < 0)
		return NULL;
	devargs = build_devargs(kind, uid, opts, res);
	if (devargs == NULL)
		return NULL;
	p = port_new(PB_IO_ETHDEV, uid);
	if (p == NULL || asprintf(&p->devname, VDEV_NAME_FMT, kind->driver,
				  uid->index) < 0) {
		free(p);
		free(devargs);
		pb_fail(res, "out of memory");
		return NULL;
	}
	pb_arg_uint(opts, "queues", 1, MAX_QUEUES, &queues, res);
	p->nb_rxq = (uint16_t)queues;
	if (plug_vdev(env, p, devargs, res) < 0) {
		free(p->devname);
		free(p);
		free(devargs);
		return NULL;
	}
	p->devargs = devargs;
	if (uid->type == PB_PORT_NULL && null_flows(p, opts, res) < 0) {
		unplug_vdev(env, p);
		free(p->devname);
		free(p);
		free(devargs);
		return NULL;
	}
	/* memif maps its peer's regions when it attaches: only once up */
	p->reattach_when_up = uid->type == PB_PORT_MEMIF &&
			      rte_eal_process_type() != RTE_PROC_PRIMARY;
	p->ready = !p->reattach_when_up;
	return p;
}

/*
 * A memif's shared regions exist once its peer connects, and a secondary
 * maps them only while it attaches (the PMD asks the primary for them
 * then). So a secondary attaches again each time the link comes up, with
 * the worker kept off the port meanwhile.
 */
int
pb_port_refresh(struct pb_port *p, void (*sync)(void *), void *sync_arg)
{
	bool up = p->reattach_when_up && pb_port_link_up(p);
	int ret = 0;

	if (!p->reattach_when_up || up == __atomic_load_n(&p->ready,
							  __ATOMIC_RELAXED))
		return 0;
	__atomic_store_n(&p->ready, false, __ATOMIC_RELAXED);
	sync(sync_arg);
	if (up) {
		rte_vdev_uninit(p->devname);
		ret = vdev_init(p->devargs);
		if (ret == 0)
			__atomic_store_n(&p->ready, true, __ATOMIC_RELEASE);
	}
	return ret;
}

/* path, or the port's default path (malloc'd into *owned); NULL on ENOMEM */
static const char *
path_or_default(const char *path, const char *default_fmt,
		const struct pb_uid *uid, char **owned)
{
	*owned = NULL;
	if (path != NULL)
		return path;
	return asprintf(owned, default_fmt, uid->index) < 0 ? NULL : *owned;
}

static struct pb_port *
open_vhost(const struct pb_port_env *env, const struct pb_uid *uid,
	   json_t *opts, struct pb_result *res)
{
	const char *path = NULL, *err = NULL;
	int client = env->vhost_client;
	char *owned;
	struct pb_port *p;

	if (pb_args_check_keys(opts, "path client", "vhost ports", res) < 0 ||
	    pb_arg_string(opts, "path", &path, res) < 0 ||
	    pb_arg_bool(opts, "client", &client, res) < 0)
		return NULL;
	p = port_new(PB_IO_VHOST, uid);
	path = path_or_default(path, "/tmp/sock%u", uid, &owned);
	if (p == NULL || path == NULL) {
		free(p);
		pb_fail(res, "out of memory");
		return NULL;
	}
	p->vhost = pb_vhost_open(path, client, env->pool, env->qsbr, &err);
	if (p->vhost == NULL) {
		pb_fail(res, "cannot open %s on %s: %s", p->name, path, err);
		free(p);
		p = NULL;
	}
	free(owned);
	return p;
}

static struct pb_port *
open_pcap(const struct pb_port_env *env, const struct pb_uid *uid,
	  json_t *opts, struct pb_result *res)
{
	const char *rx = NULL, *tx = NULL, *err = NULL;
	struct pb_port *p;

	if (pb_args_check_keys(opts, "rx tx", "pcap ports", res) < 0 ||
	    pb_arg_string(opts, "rx", &rx, res) < 0 ||
	    pb_arg_string(opts, "tx", &tx, res) < 0)
		return NULL;
	if (rx == NULL && tx == NULL) {
		pb_fail(res, "pcap ports need 'rx' (a pcap file to read), 'tx' "
			"(a pcap file to write) or both");
		return NULL;
	}
	p = port_new(PB_IO_PCAP, uid);
	if (p == NULL) {
		pb_fail(res, "out of memory");
		return NULL;
	}
	p->pcap = pb_pcap_open(rx, tx, env->pool, &err);
	if (p->pcap == NULL) {
		pb_fail(res, "cannot open %s: %s (rx '%s', tx '%s')", p->name,
			err, rx ? rx : "-", tx ? tx : "-");
		free(p);
		return NULL;
	}
	return p;
}

static struct pb_port *
open_shm(const struct pb_port_env *env, const struct pb_uid *uid,
	 json_t *opts, struct pb_result *res)
{
	const char *path = NULL, *pci = NULL, *err = NULL;
	char *owned = NULL;
	struct pb_port *p;

	if (pb_args_check_keys(opts, "path pci", "shm ports", res) < 0 ||
	    pb_arg_string(opts, "path", &path, res) < 0 ||
	    pb_arg_string(opts, "pci", &pci, res) < 0)
		return NULL;
	if (path != NULL && pci != NULL) {
		pb_fail(res, "an shm port is either the host's 'path' or the "
			"guest's 'pci' device, not both");
		return NULL;
	}
	p = port_new(PB_IO_SHM, uid);
	if (pci == NULL)
		path = path_or_default(path, "/dev/shm/patchbay-shm%u", uid,
				       &owned);
	if (p == NULL || (pci == NULL && path == NULL)) {
		free(p);
		pb_fail(res, "out of memory");
		return NULL;
	}
	if (pci != NULL)
		p->shm = pb_shm_open_guest(pci, env->pool, &err);
	else
		p->shm = pb_shm_open_host(path, env->pool, &err);
	if (p->shm == NULL) {
		pb_fail(res, "cannot open %s on %s: %s", p->name,
			pci != NULL ? pci : path, err);
		free(p);
		p = NULL;
	}
	free(owned);
	return p;
}

static struct pb_port *
open_afpacket(const struct pb_port_env *env, const struct pb_uid *uid,
	      json_t *opts, struct pb_result *res)
{
	const char *iface = NULL, *err = NULL;
	struct pb_port *p;

	if (pb_args_check_keys(opts, "iface", "af_packet ports", res) < 0 ||
	    pb_arg_string(opts, "iface", &iface, res) < 0)
		return NULL;
	if (iface == NULL) {
		pb_fail(res, "af_packet ports need 'iface': the Linux interface "
			"to read and write, e.g. iface=veth0");
		return NULL;
	}
	p = port_new(PB_IO_AFPACKET, uid);
	if (p == NULL) {
		pb_fail(res, "out of memory");
		return NULL;
	}
	p->afpacket = pb_afpacket_open(iface, env->pool, &err);
	if (p->afpacket == NULL) {
		pb_fail(res, "cannot open %s on interface '%.32s': %s", p->name,
			iface, err);
		free(p);
		return NULL;
	}
	return p;
}

struct pb_port *
pb_port_open(const struct pb_port_env *env, const struct pb_uid *uid,
	     json_t *opts, struct pb_result *res)
{
	char name[PB_UID_STRLEN];
	const char *why = NULL;
	struct pb_slot *slot;
	struct pb_port *p;

	if (!pb_port_type_is_hotplug(uid->type))
		return open_builtin(env, uid, opts, res);

	pb_uid_str(uid, name);
	slot = pb_slot_register(env->sh, name, env->client, &why);
	if (slot == NULL) {
		pb_fail(res, "%s %s", name, why);
		return NULL;
	}
	if (uid->type == PB_PORT_VHOST)
		p = open_vhost(env, uid, opts, res);
	else if (uid->type == PB_PORT_PCAP)
		p = open_pcap(env, uid, opts, res);
	else if (uid->type == PB_PORT_SHM)
		p = open_shm(env, uid, opts, res);
	else if (uid->type == PB_PORT_AFPACKET)
		p = open_afpacket(env, uid, opts, res);
	else
		p = open_vdev(env, uid, opts, res);
	if (p == NULL) {
		pb_slot_unregister(env->sh, slot);
		return NULL;
	}
	p->slot = slot;
	p->opts = json_incref(opts);
	return p;
}

void
pb_port_close(const struct pb_port_env *env, struct pb_port *p)
{
	if (p->vhost != NULL)
		pb_vhost_close(p->vhost);
	if (p->pcap != NULL)
		pb_pcap_close(p->pcap);
	if (p->shm != NULL)
		pb_shm_close(p->shm);
	if (p->afpacket != NULL)
		pb_afpacket_close(p->afpacket);
	pb_flows_detach(p->flows);
	if (p->devname != NULL) {
		unplug_vdev(env, p);
		free(p->devname);
		free(p->devargs);
	}
	if (pb_port_type_is_hotplug(p->uid.type))
		pb_slot_unregister(env->sh, p->slot);
	json_decref(p->opts);
	free(p);
}

bool
pb_port_link_up(const struct pb_port *p)
{
	struct rte_eth_link link;

	switch (p->io) {
	case PB_IO_VHOST:
		return pb_vhost_connected(p->vhost);
	case PB_IO_AFPACKET:
		return pb_afpacket_link_up(p->afpacket);
	case PB_IO_ETHDEV:
		return rte_eth_link_get_nowait(p->ethdev, &link) == 0 &&
		       link.link_status == RTE_ETH_LINK_UP;
	default:
		return true;
	}
}
