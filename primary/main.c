/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * patchbay-primary: owns the hugepage memory of the panel. It creates the
 * mbuf pool and the rings, starts the phy ports, keeps the port table every
 * process counts into, and starts the ethdevs secondaries hot-plug.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>

#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_cycles.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include "launch.h"
#include "pb_ctl.h"
#include "pb_forwarder.h"
#include "pb_port.h"
#include "pb_shared.h"
#include "pb_telemetry.h"
#include "pb_version.h"

#define DEFAULT_CONTROLLER "127.0.0.1:5555"
#define NB_MBUFS 65535
#define MBUF_CACHE 256
#define RING_SIZE 4096
#define MAX_RING_SIZE (1u << 20)
#define MAX_MBUFS (1u << 24)
#define MAX_PHYS 64
#define SECONDARIES_END_MS 5000  /* they notice within a tick (200 ms) */
#define MAX_PHY_QUEUES 64

struct primary_opts {
	uint64_t portmask;
	/* SPP's --port-num N rxq R txq T: phy:N's queues (0: not given, 1) */
	struct { unsigned int rx, tx; } queues[MAX_PHYS];
	unsigned int nb_rings;
	unsigned int ring_size;   /* slots a ring, a power of two */
	unsigned int nb_mbufs;
	const char *controller;
};

struct primary {
	struct pb_shared *sh;
	struct rte_mempool *pool;
	struct pb_forwarder *fw;  /* NULL without a spare lcore */
	struct pb_launch launch;
};

static void
usage(const char *prog)
{
	(void)prog;  /* EAL passes argv[0]; the name users know is ours */
	fprintf(stderr,
		"usage: %s [EAL options] -- -p PORTMASK -n NUM_RINGS "
		"[-s HOST:PORT] [--port-num N rxq R txq T]...\n"
		"  -p PORTMASK   hex mask of the ethdevs to start as phy:N\n"
		"  --port-num N rxq R txq T\n"
		"                give phy:N R rx and T tx queues (default 1):\n"
		"                queue Q is the port phy:NnqQ, phy:N is queue 0\n"
		"  -n NUM_RINGS  shared rings to create, ring:0 .. ring:N-1 "
		"(at most %d)\n"
		"  -s HOST:PORT  controller to dial (default %s; \"none\": no controller)\n"
		"  --ring-size N slots in each ring, a power of two (default %u):\n"
		"                a ring rides out a reader descheduled for\n"
		"                N / packet rate\n"
		"  --mbufs N     mbufs in the pool (default %u); rings full of\n"
		"                packets hold N each\n"
		"  -h, --help    this text\n",
		"patchbay-primary", PB_MAX_RINGS, DEFAULT_CONTROLLER, RING_SIZE,
		NB_MBUFS);
}

/* A decimal number in [min, max] into *out; else says why and -1. */
static int
parse_count(const char *opt, const char *arg, unsigned long long min,
	    unsigned long long max, unsigned int *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(arg, &end, 10);
	if (*arg == '\0' || *arg == '-' || *end != '\0' || errno != 0 ||
	    v < min || v > max) {
		fprintf(stderr, "%s: must be a number from %llu to %llu, "
			"got '%s'\n", opt, min, max, arg);
		return -1;
	}
	*out = (unsigned int)v;
	return 0;
}

/*
 * SPP's "--port-num N rxq R txq T": N is optarg, the other four are the
 * next words, which getopt would otherwise move to the end.
 */
static int
parse_port_queues(int argc, char **argv, const char *port,
		  struct primary_opts *o)
{
	static const char *const usage_text =
		"--port-num: write --port-num N rxq R txq T";
	unsigned int id, rx, tx;

	if (parse_count("--port-num", port, 0, MAX_PHYS - 1, &id) < 0)
		return -1;
	if (optind + 4 > argc || strcmp(argv[optind], "rxq") != 0 ||
	    strcmp(argv[optind + 2], "txq") != 0) {
		fprintf(stderr, "%s\n", usage_text);
		return -1;
	}
	if (parse_count("rxq", argv[optind + 1], 1, MAX_PHY_QUEUES, &rx) < 0 ||
	    parse_count("txq", argv[optind + 3], 1, MAX_PHY_QUEUES, &tx) < 0)
		return -1;
	o->queues[id].rx = rx;
	o->queues[id].tx = tx;
	optind += 4;
	return 0;
}

static int
parse_opts(int argc, char **argv, struct primary_opts *o)
{
	enum { OPT_RING_SIZE = 256, OPT_MBUFS, OPT_PORT_NUM };
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "ring-size", required_argument, NULL, OPT_RING_SIZE },
		{ "mbufs", required_argument, NULL, OPT_MBUFS },
		{ "port-num", required_argument, NULL, OPT_PORT_NUM },
		{ NULL, 0, NULL, 0 },
	};
	char *end;
	unsigned long long v;
	int c;

	o->controller = DEFAULT_CONTROLLER;
	o->ring_size = RING_SIZE;
	o->nb_mbufs = NB_MBUFS;
	while ((c = getopt_long(argc, argv, "p:n:s:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'p':
			v = strtoull(optarg, &end, 16);
			if (*optarg == '\0' || *end != '\0') {
				fprintf(stderr, "-p: portmask must be hex, "
					"got '%s'\n", optarg);
				return -1;
			}
			o->portmask = v;
			break;
		case 'n':
			if (parse_count("-n", optarg, 0, PB_MAX_RINGS,
					&o->nb_rings) < 0)
				return -1;
			break;
		case OPT_RING_SIZE:
			if (parse_count("--ring-size", optarg, 64,
					MAX_RING_SIZE, &o->ring_size) < 0)
				return -1;
			if (!rte_is_power_of_2(o->ring_size)) {
				fprintf(stderr, "--ring-size: must be a power "
					"of two, got %u\n", o->ring_size);
				return -1;
			}
			break;
		case OPT_PORT_NUM:
			if (parse_port_queues(argc, argv, optarg, o) < 0)
				return -1;
			break;
		case OPT_MBUFS:
			if (parse_count("--mbufs", optarg, 1024, MAX_MBUFS,
					&o->nb_mbufs) < 0)
				return -1;
			break;
		case 's':
			o->controller = optarg;
			break;
		default:
			return -1;
		}
	}
	return 0;
}

static int
create_rings(struct primary *pri, unsigned int nb_rings, unsigned int size)
{
	char name[RTE_RING_NAMESIZE], uid[PB_UID_STRLEN];

	for (unsigned int i = 0; i < nb_rings; i++) {
		snprintf(name, sizeof(name), PB_RING_NAME_FMT, i);
		snprintf(uid, sizeof(uid), "ring:%u", i);
		if (rte_ring_create(name, size, rte_socket_id(),
				    RING_F_SP_ENQ | RING_F_SC_DEQ) == NULL ||
		    pb_slot_add_builtin(pri->sh, uid) == NULL) {
			fprintf(stderr, "cannot create %s\n", uid);
			return -1;
		}
	}
	pri->sh->nb_rings = nb_rings;
	return 0;
}

/* Slots for phy:N's queues beyond the first: "phy:NnqQ". */
static int
add_queue_slots(struct primary *pri, uint16_t id, unsigned int nb_queues)
{
	char uid[PB_UID_STRLEN];
	struct pb_slot *slot;

	for (unsigned int q = 1; q < nb_queues; q++) {
		struct pb_uid queue = { PB_PORT_PHY, id, (uint16_t)q };

		slot = pb_slot_add_builtin(pri->sh, pb_uid_str(&queue, uid));
		if (slot == NULL) {
			fprintf(stderr, "no room for %s: at most %d ports and "
				"queues in all\n", uid, PB_MAX_SLOTS);
			return -1;
		}
		slot->ethdev = id;
	}
	return 0;
}

static int
start_phy(struct primary *pri, uint16_t id, unsigned int rxq,
	  unsigned int txq)
{
	char uid[PB_UID_STRLEN];
	struct rte_eth_dev_info info;
	struct pb_slot *slot;
	int ret;

	ret = pb_ethdev_start(id, pri->pool, (uint16_t)rxq, (uint16_t)txq);
	if (ret < 0) {
		fprintf(stderr, "cannot start port %u: %s\n", id,
			rte_strerror(-ret));
		return -1;
	}
	if (rte_eth_dev_info_get(id, &info) == 0 &&
	    (info.nb_rx_queues != rxq || info.nb_tx_queues != txq)) {
		fprintf(stderr, "--port-num %u: %s has at most %u rx and %u tx "
			"queues\n", id, info.driver_name, info.max_rx_queues,
			info.max_tx_queues);
		return -1;
	}
	snprintf(uid, sizeof(uid), "phy:%u", id);
	slot = pb_slot_add_builtin(pri->sh, uid);
	if (slot == NULL)
		return -1;
	slot->ethdev = id;
	pri->sh->nb_phys++;
	return add_queue_slots(pri, id, RTE_MAX(rxq, txq));
}

static int
start_phys(struct primary *pri, const struct primary_opts *o)
{
	for (uint16_t id = 0; id < MAX_PHYS; id++) {
		unsigned int rxq = RTE_MAX(o->queues[id].rx, 1u);
		unsigned int txq = RTE_MAX(o->queues[id].tx, 1u);

		if (!(o->portmask & (1ULL << id))) {
			if (o->queues[id].rx == 0)
				continue;
			fprintf(stderr, "--port-num %u: phy:%u is not in -p's "
				"portmask\n", id, id);
			return -1;
		}
		if (!rte_eth_dev_is_valid_port(id)) {
			fprintf(stderr, "-p names port %u but EAL probed only "
				"%u ethdevs\n", id, rte_eth_dev_count_avail());
			return -1;
		}
		if (start_phy(pri, id, rxq, txq) < 0)
			return -1;
	}
	return 0;
}

/* SPP's {"rx": N, "tx": N}: the queues the ethdev was configured with. */
static json_t *
queue_counts(uint16_t ethdev)
{
	struct rte_eth_dev_info info;

	if (rte_eth_dev_info_get(ethdev, &info) != 0)
		info.nb_rx_queues = info.nb_tx_queues = 0;
	return json_pack("{s:i, s:i}", "rx", (int)info.nb_rx_queues,
			 "tx", (int)info.nb_tx_queues);
}

/* A phy's counters: all its queues', as SPP's one row per phy shows. */
static void
phy_counters(const struct pb_shared *sh, uint16_t index, struct pb_counters *sum)
{
	struct pb_counters c;
	struct pb_uid uid;

	memset(sum, 0, sizeof(*sum));
	for (int i = 0; i < PB_MAX_SLOTS; i++) {
		const struct pb_slot *s = &sh->slots[i];

		if (s->uid[0] == '\0' || pb_uid_parse(s->uid, &uid, NULL) < 0 ||
		    uid.type != PB_PORT_PHY || uid.index != index)
			continue;
		pb_slot_counters(s, &c);
		sum->rx += c.rx;
		sum->tx += c.tx;
		sum->rx_drop += c.rx_drop;
		sum->tx_drop += c.tx_drop;
		sum->rx_bytes += c.rx_bytes;
		sum->tx_bytes += c.tx_bytes;
	}
}

static int
cmd_status(void *ctx, json_t *args, struct pb_result *res)
{
	struct primary *pri = ctx;
	json_t *lcores = json_array(), *phys = json_array();
	json_t *rings = json_array(), *status;
	char mac[RTE_ETHER_ADDR_FMT_SIZE];
	struct rte_ether_addr addr;
	struct pb_counters c;
	unsigned int lcore;

	(void)args;
	RTE_LCORE_FOREACH(lcore)
		json_array_append_new(lcores, json_integer(lcore));
	for (int i = 0; i < PB_MAX_SLOTS; i++) {
		const struct pb_slot *s = &pri->sh->slots[i];
		struct pb_uid uid;
		json_t *port;

		if (s->uid[0] == '\0' || pb_uid_parse(s->uid, &uid, NULL) < 0 ||
		    pb_port_type_is_hotplug(uid.type) || uid.queue != 0)
			continue;
		if (uid.type == PB_PORT_PHY)
			phy_counters(pri->sh, uid.index, &c);
		else
			pb_slot_counters(s, &c);
		port = pb_counters_json(&c);
		json_object_set_new(port, "id", json_integer(uid.index));
		if (uid.type == PB_PORT_RING) {
			json_array_append_new(rings, port);
			continue;
		}
		rte_eth_macaddr_get(s->ethdev, &addr);
		rte_ether_format_addr(mac, sizeof(mac), &addr);
		json_object_set_new(port, "eth", json_string(mac));
		json_object_set_new(port, "nof_queues", queue_counts(s->ethdev));
		json_array_append_new(phys, port);
	}
	status = json_pack("{s:o, s:o, s:o, s:I, s:{s:i, s:i}}", "lcores",
			   lcores, "phy_ports", phys, "ring_ports", rings,
			   "tsc_hz", (json_int_t)rte_get_tsc_hz(), "mbufs",
			   "size", (int)pri->pool->size, "in_use",
			   (int)rte_mempool_in_use_count(pri->pool));
	if (pri->fw != NULL)
		json_object_set_new(status, "forwarder",
				    pb_forwarder_status(pri->fw));
	return pb_ok(res, status);
}

static int
cmd_clear(void *ctx, json_t *args, struct pb_result *res)
{
	struct primary *pri = ctx;

	(void)args;
	(void)res;
	pb_shared_clear(pri->sh);
	return 0;
}

static const struct pb_cmd_def primary_cmds[] = {
	{ "status", cmd_status, "" },
	{ "clear", cmd_clear, "" },
	{ "exit", pb_cmd_exit, "" },
	{ NULL, NULL, NULL },
};

static const struct pb_cmd_def launch_cmds[] = {
	{ "launch", pb_cmd_launch, "proc_name client_id eal app" },
	{ NULL, NULL, NULL },
};

/* With a spare lcore the primary forwards too, with the nfv's engine. */
static int
setup_forwarder(struct primary *pri)
{
	struct pb_port_env env = {
		.sh = pri->sh, .pool = pri->pool, .client = PB_PRIMARY_ID,
	};

	pri->fw = malloc(sizeof(*pri->fw));
	if (pri->fw == NULL || pb_forwarder_init(pri->fw, &env, false) < 0 ||
	    pb_forwarder_add_phys(pri->fw) < 0) {
		fprintf(stderr, "cannot set up the primary's forwarder\n");
		free(pri->fw);
		pri->fw = NULL;
		return -1;
	}
	return 0;
}

static int
setup(struct primary *pri, const struct primary_opts *opts)
{
	char why[256];

	pri->sh = pb_shared_create();
	if (pri->sh == NULL) {
		fprintf(stderr, "cannot reserve the shared port table (is "
			"another primary running with this --file-prefix?)\n");
		return -1;
	}
	if (pb_process_attach(pri->sh, PB_PRIMARY_ID, "primary", why,
			      sizeof(why)) < 0) {
		fprintf(stderr, "%s\n", why);
		return -1;
	}
	pri->launch.sh = pri->sh;
	pri->pool = rte_pktmbuf_pool_create(PB_POOL_NAME, opts->nb_mbufs, MBUF_CACHE,
					    0, RTE_MBUF_DEFAULT_BUF_SIZE,
					    rte_socket_id());
	if (pri->pool == NULL) {
		fprintf(stderr, "cannot create a pool of %u mbufs: %s (give "
			"EAL more memory: -m; about 2.3 MB a thousand)\n",
			opts->nb_mbufs, rte_strerror(rte_errno));
		return -1;
	}
	if (pb_ethdev_serve_requests(pri->pool) < 0) {
		fprintf(stderr, "cannot register the ethdev start action\n");
		return -1;
	}
	if (create_rings(pri, opts->nb_rings, opts->ring_size) < 0 ||
	    start_phys(pri, opts) < 0)
		return -1;
	if (pb_telemetry_register(pri->sh) < 0)
		fprintf(stderr, "patchbay-primary: cannot register the "
			"/patchbay telemetry commands; going on without\n");
	return rte_lcore_count() > 1 ? setup_forwarder(pri) : 0;
}

/* Serve the controller; forward on the next lcore if we have one. */
static int
serve(struct primary *pri, struct pb_ctl *ctl)
{
	pb_ctl_add_cmds(ctl, primary_cmds, pri);
	pb_ctl_add_cmds(ctl, launch_cmds, &pri->launch);
	pb_ctl_add_cmds(ctl, pb_forwarder_port_cmds, pri->fw);
	pb_ctl_add_cmds(ctl, pb_forwarder_cmds, pri->fw);
	if (pri->fw == NULL) {
		pb_ctl_run(ctl);
		return ctl->gave_up ? -1 : 0;
	}
	if (pb_fwd_run(&pri->fw->fwd, pb_ctl_run, ctl) < 0) {
		fprintf(stderr, "cannot start the forwarding worker\n");
		return -1;
	}
	pb_forwarder_fini(pri->fw);
	free(pri->fw);
	return ctl->gave_up ? -1 : 0;
}

int
main(int argc, char **argv)
{
	struct primary_opts opts = { 0 };
	struct primary pri = { 0 };
	struct pb_ctl ctl;
	int n, ret = 1;

	if (pb_version_asked(argc, argv))
		return 0;
	if (pb_launch_init(&pri.launch, argc, argv) < 0) {
		fprintf(stderr, "patchbay-primary: cannot find its own binary\n");
		return 1;
	}
	/* Sockets and files we make (EAL's runtime dir, vhost-user sockets,
	 * captures) are for this user alone. */
	umask(077);
	rte_set_application_usage_hook(usage);  /* --help shows ours too */
	n = rte_eal_init(argc, argv);
	if (n < 0) {
		fprintf(stderr, "patchbay-primary: EAL init failed\n");
		return 1;
	}
	if (parse_opts(argc - n, argv + n, &opts) < 0 ||
	    pb_ctl_init(&ctl, opts.controller, "primary", PB_PRIMARY_ID) < 0) {
		usage(NULL);
		rte_eal_cleanup();
		return 2;
	}
	signal(SIGCHLD, SIG_IGN);  /* launched secondaries are reaped for us */
	if (setup(&pri, &opts) == 0) {
		printf("patchbay-primary: %u phy ports, %u rings%s; controller "
		       "%s\n", pri.sh->nb_phys, pri.sh->nb_rings,
		       pri.fw ? ", forwarding" : "", opts.controller);
		fflush(stdout);
		ret = serve(&pri, &ctl);
	}
	pb_ctl_fini(&ctl);
	if (pri.sh != NULL)
		pb_primary_closing(pri.sh, SECONDARIES_END_MS);
	pb_launch_fini(&pri.launch);
	rte_eal_cleanup();
	return ret == 0 && pb_quitting() ? 0 : 1;
}
