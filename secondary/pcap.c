/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * patchbay-pcap: captures a port to pcapng files, as SPP's spp_pcap
 * (pb_capture.h): -c PORT [--out-dir DIR] [--fsize BYTES], and beyond
 * SPP --lz4, --tap rx|tx (a capture that does not take the packets)
 * and --fifo PATH (a live stream for tshark -i).
 */
#define _GNU_SOURCE  /* asprintf */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "pb_capture.h"
#include "secondary.h"

enum { OPT_OUT_DIR = 256, OPT_FSIZE, OPT_LZ4, OPT_TAP, OPT_FIFO };

static const struct option pcap_longopts[] = {
	{ "out-dir", required_argument, NULL, OPT_OUT_DIR },
	{ "fsize", required_argument, NULL, OPT_FSIZE },
	{ "lz4", no_argument, NULL, OPT_LZ4 },
	{ "tap", required_argument, NULL, OPT_TAP },
	{ "fifo", required_argument, NULL, OPT_FIFO },
	{ NULL, 0, NULL, 0 },
};

static struct pb_capture_conf conf = {
	.out_dir = "/tmp",
	.fsize = 1ULL << 30,           /* SPP's default: 1 GiB */
	.tap_dir = PB_RX,
};
static bool have_port;

static int
parse_fsize(const char *arg)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(arg, &end, 10);
	if (*arg < '0' || *arg > '9' || *end != '\0' || errno != 0 ||
	    v < 4096) {
		fprintf(stderr, "--fsize: a size in bytes, 4096 or more (e.g. "
			"1073741824), not '%s'\n", arg);
		return -1;
	}
	conf.fsize = v;
	return 0;
}

/* -c PORT, or SPP's -c phy:0 nq 1 in three words (phy:0nq1 in one) */
static int
parse_port(const char *arg, int argc, char **argv)
{
	char *joined = NULL;
	const char *why;
	int ret;

	if (optind + 1 < argc && strcmp(argv[optind], "nq") == 0) {
		if (asprintf(&joined, "%snq%s", arg, argv[optind + 1]) < 0)
			return -1;
		optind += 2;
		arg = joined;
	}
	ret = pb_uid_parse(arg, &conf.port, &why);
	if (ret < 0)
		fprintf(stderr, "-c %s: %s\n", arg, why);
	free(joined);
	have_port = ret == 0;
	return ret;
}

static int
pcap_opt(int c, const char *arg, int argc, char **argv)
{
	switch (c) {
	case 'c':
		return parse_port(arg, argc, argv);
	case OPT_OUT_DIR:
		conf.out_dir = arg;
		return 0;
	case OPT_FSIZE:
		return parse_fsize(arg);
	case OPT_LZ4:
		conf.lz4 = true;
		return 0;
	case OPT_TAP:
		conf.tap = true;
		if (strcmp(arg, "rx") && strcmp(arg, "tx")) {
			fprintf(stderr, "--tap %s: rx (what the port receives) "
				"or tx (what is sent to it)\n", arg);
			return -1;
		}
		conf.tap_dir = strcmp(arg, "tx") == 0 ? PB_TX : PB_RX;
		return 0;
	case OPT_FIFO:
		conf.fifo = arg;
		return 0;
	default:
		return -1;
	}
}

static int
pcap_opts_done(void)
{
	struct stat sb;

	if (!have_port) {
		fprintf(stderr, "-c PORT is required: the port to capture\n");
		return -1;
	}
	if (stat(conf.out_dir, &sb) < 0 || !S_ISDIR(sb.st_mode)) {
		fprintf(stderr, "--out-dir %s: %s\n", conf.out_dir,
			errno != 0 && stat(conf.out_dir, &sb) < 0 ?
			strerror(errno) : "not a directory");
		return -1;
	}
	return 0;
}

static const struct pb_cmd_def exit_cmds[] = {
	{ "exit", pb_cmd_exit, "" },
	{ NULL, NULL, NULL },
};

static int
setup(struct pb_forwarder *fw, struct pb_ctl *ctl, void **ctx)
{
	char why[512];
	struct pb_capture *cap = pb_capture_new(fw, &conf, why, sizeof(why));

	*ctx = cap;
	if (cap == NULL) {
		fprintf(stderr, "patchbay-pcap: %s\n", why);
		return -1;
	}
	pb_ctl_add_cmds(ctl, pb_capture_cmds, cap);
	pb_ctl_add_cmds(ctl, exit_cmds, NULL);
	pb_fwd_set_forwarding(&fw->fwd, true);
	return 0;
}

static void
teardown(void *ctx)
{
	pb_capture_free(ctx);
}

static const struct pb_role pcap = {
	.name = "pcap",
	.prog = "patchbay-pcap",
	.about = "  captures a port to pcapng files (SPP's spp_pcap)\n",
	.longopts = pcap_longopts,
	.shortopts = "c:",
	.opts_help =
		"  -c PORT             the port to capture (required)\n"
		"  --out-dir DIR       where the files go (default /tmp)\n"
		"  --fsize BYTES       rotate files before this size (default "
		"1 GiB)\n"
		"  --lz4               compress each file (lz4 -d reads it)\n"
		"  --tap rx|tx         copy the packets from whoever moves the "
		"port (what it receives, or is sent) instead of taking them\n"
		"  --fifo PATH         also stream live to this FIFO (tshark "
		"-i PATH)\n",
	.opt = pcap_opt,
	.opts_done = pcap_opts_done,
	.setup = setup,
	.teardown = teardown,
};

int
main(int argc, char **argv)
{
	return pb_secondary_main(argc, argv, &pcap);
}
