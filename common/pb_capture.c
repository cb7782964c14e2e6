/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rte_cycles.h>
#include <rte_lcore.h>
#include <rte_mbuf_dyn.h>
#include <rte_prefetch.h>

#include "pb_capture.h"

#define TAP_RING_SIZE 16384
/* How long a mover in another process may still hold a tap ring it read
 * before we cleared it: far longer than one of its loops. */
#define TAP_GRACE_NS (20 * 1000 * 1000L)

/* The published table: what the worker does. */
struct capture_run {
	bool running;
	struct pb_port *port;         /* consume mode */
	struct rte_ring *ring;        /* tap mode */
	struct pb_pcapng *w;
	struct pb_capture *cap;
};

struct pb_capture {
	struct pb_forwarder *fw;
	int feature;
	struct pb_capture_conf conf;
	char port_name[PB_UID_STRLEN];
	struct pb_port *port;         /* consume mode */
	struct rte_ring *ring;        /* tap mode */
	struct pb_side *tapped;       /* tap mode, while running */
	int ts_offset;                /* the timestamp dynfield, or -1 */
	uint64_t tsc0, ns0;           /* TSC -> wall clock */
	uint64_t ns_per_tsc;          /* 2^-32 ns a TSC tick: a multiply, not a
					 division, a packet */
	struct pb_pcapng *w;          /* while running */
	struct pb_pcapng_stats last;  /* of the last capture, once stopped */
	char last_file[4096];
	unsigned int captures;
};

/* ---- the taps: in whichever process moves a tapped port's packets --- */

void
pb_tap_copy(struct pb_side *side, struct rte_ring *tap,
	    struct rte_mbuf **pkts, uint16_t n)
{
	int32_t ts_offset = side->tap_ts_offset;
	uint64_t tsc = rte_rdtsc();
	uint16_t done;

	/* the time it was seen rides in the mbuf: ours until it is sent */
	for (uint16_t i = 0; i < n; i++) {
		if (ts_offset >= 0)
			*RTE_MBUF_DYNFIELD(pkts[i], ts_offset, uint64_t *) = tsc;
		pb_mbuf_share(pkts[i]);
	}
	done = (uint16_t)rte_ring_enqueue_burst(tap, (void **)pkts, n, NULL);
	if (unlikely(done < n)) {        /* takes back the extra references */
		rte_pktmbuf_free_bulk(&pkts[done], n - done);
		pb_count(&side->tap_drops, n - done);
	}
}

/* ---- the worker's side --------------------------------------------- */

static uint64_t
tsc_to_ns(const struct pb_capture *cap, uint64_t tsc)
{
	return cap->ns0 + (uint64_t)(((unsigned __int128)(tsc - cap->tsc0) *
				      cap->ns_per_tsc) >> 32);
}

static void
write_packet(struct pb_pcapng *w, struct rte_mbuf *m, uint64_t ts_ns)
{
	uint8_t bounce[PB_PCAPNG_SNAPLEN];
	uint32_t caplen = RTE_MIN(m->pkt_len, (uint32_t)PB_PCAPNG_SNAPLEN);
	const void *data = rte_pktmbuf_read(m, 0, caplen, bounce);

	if (data != NULL)
		pb_pcapng_write(w, data, caplen, m->pkt_len, ts_ns);
}

/*
 * A tapped packet was last written by the mover, on another core: its
 * header (both lines: the time rides in the second) and its first bytes
 * are misses. Ask for all of them at once, so they arrive together
 * instead of one after another as the writer reaches each.
 */
static void
prefetch_burst(struct rte_mbuf **pkts, uint16_t n)
{
	for (uint16_t i = 0; i < n; i++) {
		rte_prefetch0(pkts[i]);
		rte_prefetch0(RTE_PTR_ADD(pkts[i], RTE_CACHE_LINE_SIZE));
	}
	for (uint16_t i = 0; i < n; i++)
		rte_prefetch0(rte_pktmbuf_mtod(pkts[i], void *));
}

/* A burst to the file, each packet stamped with the time the mover saw
 * it (a tap's) or else now. */
static void
write_burst(const struct pb_capture *cap, struct pb_pcapng *w,
	    struct rte_mbuf **pkts, uint16_t n, bool tapped)
{
	uint64_t now = rte_rdtsc();

	prefetch_burst(pkts, n);
	for (uint16_t i = 0; i < n; i++) {
		uint64_t tsc = now;

		if (tapped && cap->ts_offset >= 0)
			tsc = *RTE_MBUF_DYNFIELD(pkts[i], cap->ts_offset,
						 uint64_t *);
		write_packet(w, pkts[i], tsc_to_ns(cap, tsc));
	}
}

static unsigned int
run_capture(void *table, unsigned int worker)
{
	struct capture_run *t = table;
	struct rte_mbuf *pkts[PB_BURST];
	uint16_t n;

	if (!t->running || worker != 0)
		return 0;
	n = t->port != NULL ? pb_fwd_rx(t->port, pkts, PB_BURST) :
		(uint16_t)rte_ring_sc_dequeue_burst(t->ring, (void **)pkts,
						   PB_BURST, NULL);
	write_burst(t->cap, t->w, pkts, n, t->port == NULL);
	rte_pktmbuf_free_bulk(pkts, n);
	if (n < PB_BURST)
		pb_pcapng_flush(t->w);     /* caught up: let readers see it */
	return n;
}

static bool
capture_uses(const void *table, const struct pb_port *p, enum pb_dir dir)
{
	const struct capture_run *t = table;

	return t->running && t->port == p && dir == PB_RX;
}

static const struct pb_feature capture_feature = {
	.name = "capture",
	.run = run_capture,
	.uses = capture_uses,
	.free = free,
};

/* ---- the control thread's side ------------------------------------- */

static int
publish(struct pb_capture *cap, bool running, struct pb_result *res)
{
	struct capture_run *t = calloc(1, sizeof(*t));

	if (t == NULL)
		return pb_fail(res, "out of memory");
	*t = (struct capture_run){ running, cap->port, cap->ring, cap->w, cap };
	return pb_forwarder_change(cap->fw, cap->feature, t, res);
}

static void
drain_ring(struct pb_capture *cap, struct pb_pcapng *w)
{
	struct rte_mbuf *pkts[PB_BURST];
	uint16_t n;

	while ((n = (uint16_t)rte_ring_sc_dequeue_burst(cap->ring,
			(void **)pkts, PB_BURST, NULL)) > 0) {
		if (w != NULL)
			write_burst(cap, w, pkts, n, true);
		rte_pktmbuf_free_bulk(pkts, n);
	}
}

static uint64_t
wall_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int
set_tap(struct pb_capture *cap, struct pb_result *res)
{
	struct pb_slot *slot = pb_slot_find(cap->fw->env.sh, cap->port_name);
	struct pb_side *side;

	if (slot == NULL)
		return pb_fail(res, "%s is not a port of the panel: add it "
			       "to a process first", cap->port_name);
	side = &slot->side[cap->conf.tap_dir];
	if (side->tap != NULL && pb_proc_alive(&side->tap_proc))
		return pb_fail(res, "%s (%s) is captured already by pid %d",
			       cap->port_name,
			       cap->conf.tap_dir == PB_RX ? "rx" : "tx",
			       (int)side->tap_proc.pid);
	drain_ring(cap, NULL);           /* leftovers of a late mover */
	pb_proc_self(&side->tap_proc);
	side->tap_ts_offset = cap->ts_offset;
	__atomic_store_n(&side->tap, cap->ring, __ATOMIC_RELEASE);
	cap->tapped = side;
	return 0;
}

static void
clear_tap(struct pb_capture *cap)
{
	struct timespec grace = { .tv_nsec = TAP_GRACE_NS };

	if (cap->tapped == NULL)
		return;
	__atomic_store_n(&cap->tapped->tap, NULL, __ATOMIC_RELEASE);
	cap->tapped = NULL;
	nanosleep(&grace, NULL);
}

static int
cmd_start(void *ctx, json_t *args, struct pb_result *res)
{
	struct pb_capture *cap = ctx;
	struct pb_pcapng_opts o = {
		.dir = cap->conf.out_dir, .port = cap->port_name,
		.fsize = cap->conf.fsize, .lz4 = cap->conf.lz4,
		.fifo = cap->conf.fifo,
	};
	char why[512];

	(void)args;
	if (cap->w != NULL)
		return pb_fail(res, "the capture is running already (stop it "
			       "first)");
	cap->ns_per_tsc = (uint64_t)(((unsigned __int128)1000000000u << 32) /
				     rte_get_tsc_hz());
	cap->tsc0 = rte_rdtsc();
	cap->ns0 = o.start_ns = wall_ns();
	cap->w = pb_pcapng_open(&o, why, sizeof(why));
	if (cap->w == NULL)
		return pb_fail(res, "%s", why);
	if ((cap->conf.tap && set_tap(cap, res) < 0) ||
	    publish(cap, true, res) < 0) {
		clear_tap(cap);
		pb_pcapng_close(cap->w);
		cap->w = NULL;
		return -1;
	}
	cap->captures++;
	return 0;
}

static int
stop(struct pb_capture *cap, struct pb_result *res)
{
	if (cap->w == NULL)
		return pb_fail(res, "the capture is not running");
	clear_tap(cap);
	if (publish(cap, false, res) < 0)
		return -1;
	if (cap->ring != NULL)
		drain_ring(cap, cap->w);
	pb_pcapng_filename(cap->w, cap->last_file, sizeof(cap->last_file));
	pb_pcapng_get_stats(cap->w, &cap->last);
	pb_pcapng_close(cap->w);
	cap->w = NULL;
	return 0;
}

static int
cmd_stop(void *ctx, json_t *args, struct pb_result *res)
{
	(void)args;
	return stop(ctx, res);
}

static json_t *
counters_json(const struct pb_capture *cap)
{
	struct pb_pcapng_stats s = cap->last;
	char file[4096];
	uint64_t tap_drops = 0;
	json_t *o;

	if (cap->w != NULL) {
		pb_pcapng_get_stats(cap->w, &s);
		pb_pcapng_filename(cap->w, file, sizeof(file));
	} else {
		snprintf(file, sizeof(file), "%s", cap->last_file);
	}
	if (cap->tapped != NULL)
		tap_drops = cap->tapped->tap_drops;
	o = json_pack("{s:s, s:s, s:s, s:s, s:I, s:b, s:I, s:I, s:I, s:I, s:I,"
		      " s:i, s:I, s:s}",
		      "port", cap->port_name,
		      "mode", cap->conf.tap ? "tap" : "consume",
		      "dir", cap->conf.tap_dir == PB_RX ? "rx" : "tx",
		      "out_dir", cap->conf.out_dir,
		      "fsize", (json_int_t)cap->conf.fsize, "lz4", cap->conf.lz4,
		      "packets", (json_int_t)s.packets,
		      "bytes", (json_int_t)s.bytes,
		      "write_errors", (json_int_t)s.write_errors,
		      "fifo_packets", (json_int_t)s.fifo_packets,
		      "fifo_drops", (json_int_t)s.fifo_drops,
		      "files", (int)s.files,
		      "tap_drops", (json_int_t)tap_drops,
		      "last_file", file);
	if (cap->conf.fifo != NULL)
		json_object_set_new(o, "fifo", json_string(cap->conf.fifo));
	if (s.last_errno != 0)
		json_object_set_new(o, "last_error",
				    json_string(strerror(s.last_errno)));
	return o;
}

static int
cmd_status(void *ctx, json_t *args, struct pb_result *res)
{
	struct pb_capture *cap = ctx;
	const struct pb_fwd *f = &cap->fw->fwd;
	char file[4096] = "";
	json_t *info;

	(void)args;
	if (cap->w != NULL)
		pb_pcapng_filename(cap->w, file, sizeof(file));
	info = json_pack("{s:i, s:s, s:i, s:[{s:i, s:s, s:[{s:s}]},"
			 " {s:i, s:s, s:s}]}",
			 "client-id", cap->fw->env.client,
			 "status", cap->w != NULL ? "running" : "idle",
			 "master-lcore", (int)rte_get_main_lcore(),
			 "core", "core", (int)f->workers[0].lcore,
			 "role", "receive", "rx_port", "port", cap->port_name,
			 "core", (int)f->workers[0].lcore, "role", "write",
			 "filename", file);
	pb_fwd_lcores_json(f, info);
	json_object_set_new(info, "capture", counters_json(cap));
	return pb_ok(res, info);
}

const struct pb_cmd_def pb_capture_cmds[] = {
	{ "status", cmd_status, "" },
	{ "start", cmd_start, "" },
	{ "stop", cmd_stop, "" },
	{ NULL, NULL, NULL },
};

static char *
dup_or_null(const char *s)
{
	return s != NULL ? strdup(s) : NULL;
}

struct pb_capture *
pb_capture_new(struct pb_forwarder *fw, const struct pb_capture_conf *conf,
	       char *why, size_t len)
{
	struct pb_capture *cap = calloc(1, sizeof(*cap));
	struct pb_result res = { NULL, NULL };
	char name[RTE_RING_NAMESIZE];
	uint64_t flag;

	if (cap == NULL)
		goto nomem;
	cap->fw = fw;
	cap->conf = *conf;
	cap->conf.out_dir = strdup(conf->out_dir);
	cap->conf.fifo = dup_or_null(conf->fifo);
	if (cap->conf.out_dir == NULL || (conf->fifo && cap->conf.fifo == NULL))
		goto nomem;
	pb_uid_str(&conf->port, cap->port_name);
	if (conf->fifo != NULL && pb_pcapng_make_fifo(conf->fifo, why, len) < 0)
		goto fail;
	cap->ts_offset = -1;
	cap->feature = pb_fwd_add_feature(&fw->fwd, &capture_feature,
					  calloc(1, sizeof(struct capture_run)));
	if (cap->feature < 0)
		goto nomem;
	if (conf->tap) {
		/* a ring of its own, found again when it restarts */
		snprintf(name, sizeof(name), "pb_tap_%d", fw->env.client);
		cap->ring = rte_ring_lookup(name);
		if (cap->ring == NULL)
			cap->ring = rte_ring_create(name, TAP_RING_SIZE,
						    rte_socket_id(),
						    RING_F_SC_DEQ);
		if (cap->ring == NULL) {
			snprintf(why, len, "cannot make the tap ring %s", name);
			goto fail;
		}
		if (rte_mbuf_dyn_rx_timestamp_register(&cap->ts_offset,
						       &flag) < 0)
			cap->ts_offset = -1;   /* times taken when written */
		return cap;
	}
	cap->port = pb_forwarder_find(fw, &conf->port);
	if (cap->port == NULL) {
		json_t *opts = json_object();

		if (pb_forwarder_insert(fw, &conf->port, opts, &res) == 0)
			cap->port = fw->ports[fw->nb_ports - 1];
		json_decref(opts);
	}
	if (cap->port == NULL) {
		snprintf(why, len, "cannot capture %s: %s", cap->port_name,
			 res.error != NULL ? res.error : "no such port");
		free(res.error);
		goto fail;
	}
	return cap;
nomem:
	snprintf(why, len, "out of memory");
fail:
	pb_capture_free(cap);
	return NULL;
}

void
pb_capture_free(struct pb_capture *cap)
{
	struct pb_result res = { NULL, NULL };

	if (cap == NULL)
		return;
	if (cap->w != NULL)
		stop(cap, &res);
	free(res.error);
	json_decref(res.value);
	free((char *)cap->conf.out_dir);
	free((char *)cap->conf.fifo);
	free(cap);
}
