/* SPDX-License-Identifier: BSD-3-Clause */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>

#include "pb_ctl.h"
#include "pb_version.h"

#define READ_CHUNK (64 * 1024)
#define POLL_MS 200
#define REDIAL_MS 1000
#define DIAL_TIMEOUT_MS 2000
#define SEND_TIMEOUT_S 5
/* Refused by the controller (another process has our id): wait 1, 2, 4,
 * 8, 16 s between tries, then give up. */
#define MAX_REFUSALS 5

static volatile sig_atomic_t quit_requested;

void
pb_quit(void)
{
	quit_requested = 1;
}

bool
pb_quitting(void)
{
	return quit_requested != 0;
}

static void
on_signal(int sig)
{
	(void)sig;
	pb_quit();
}

int
pb_cmd_exit(void *ctx, json_t *args, struct pb_result *res)
{
	(void)ctx;
	(void)args;
	(void)res;
	pb_quit();
	return 0;
}

static int
split_hostport(const char *text, char **host, char **port)
{
	const char *colon = strrchr(text, ':');
	const char *h = text;
	size_t hlen;

	if (colon == NULL || colon[1] == '\0' || colon == text)
		return -1;
	hlen = (size_t)(colon - text);
	if (h[0] == '[' && hlen >= 2 && h[hlen - 1] == ']') {
		h++;
		hlen -= 2;
	}
	for (const char *p = colon + 1; *p != '\0'; p++)
		if (*p < '0' || *p > '9')
			return -1;
	*host = strndup(h, hlen);
	*port = strdup(colon + 1);
	return (*host != NULL && *port != NULL) ? 0 : -1;
}

/*
 * The controller's shared token, when it has one, comes from the
 * environment (PATCHBAY_TOKEN), not the command line, where every user
 * of the host could read it in ps.
 */
static json_t *
hello(const char *role, int id)
{
	char node[256] = "";
	const char *token = getenv("PATCHBAY_TOKEN");
	json_t *h;

	gethostname(node, sizeof(node) - 1);
	h = json_pack("{s:s, s:i, s:i, s:s, s:s}", "role", role, "id", id,
		      "pid", (int)getpid(), "node", node, "version", PB_VERSION);
	if (h != NULL && token != NULL && token[0] != '\0')
		json_object_set_new(h, "token", json_string(token));
	return h == NULL ? NULL : json_pack("{s:o}", "hello", h);
}

void
pb_ctl_add_cmds(struct pb_ctl *ctl, const struct pb_cmd_def *cmds, void *ctx)
{
	if (ctl->nb_sets < PB_CTL_MAX_SETS)
		ctl->sets[ctl->nb_sets++] = (struct pb_cmd_set){ cmds, ctx };
}

int
pb_ctl_init(struct pb_ctl *ctl, const char *hostport, const char *role,
	    int id)
{
	memset(ctl, 0, sizeof(*ctl));
	if (strcmp(hostport, "none") == 0) {
		/* no controller: serve nobody, just run until told to quit */
	} else if (split_hostport(hostport, &ctl->host, &ctl->port) < 0) {
		pb_ctl_fini(ctl);
		return -1;
	}
	ctl->hello = hello(role, id);
	pb_signals_init();
	return 0;
}

/*
 * SIGINT and SIGTERM end the process cleanly; without SA_RESTART, so a
 * blocking call returns EINTR and the quit is seen. A peer that closes a
 * socket (a vhost-user guest, the controller) must never kill us: SIGPIPE
 * is ignored and every write checks its result.
 */
void
pb_signals_init(void)
{
	struct sigaction quit = { .sa_handler = on_signal };
	struct sigaction ignore = { .sa_handler = SIG_IGN };

	sigemptyset(&quit.sa_mask);
	sigaction(SIGINT, &quit, NULL);
	sigaction(SIGTERM, &quit, NULL);
	sigaction(SIGPIPE, &ignore, NULL);
}

void
pb_ctl_fini(struct pb_ctl *ctl)
{
	free(ctl->host);
	free(ctl->port);
	json_decref(ctl->hello);
	memset(ctl, 0, sizeof(*ctl));
}

/*
 * connect() without blocking past DIAL_TIMEOUT_MS: a controller address
 * that drops SYNs must not keep the thread that also watches the primary
 * (tick) from running.
 */
static int
connect_bounded(const struct pb_ctl *ctl, int fd, const struct addrinfo *ai)
{
	struct pollfd pfd = { .fd = fd, .events = POLLOUT };
	int err = 0;
	socklen_t len = sizeof(err);

	if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
		return 0;
	if (errno != EINPROGRESS)
		return -1;
	for (int waited = 0; waited < DIAL_TIMEOUT_MS && !pb_quitting();
	     waited += POLL_MS) {
		if (ctl->tick != NULL)
			ctl->tick(ctl->tick_ctx);
		if (poll(&pfd, 1, POLL_MS) > 0)
			return getsockopt(fd, SOL_SOCKET, SO_ERROR, &err,
					  &len) == 0 && err == 0 ? 0 : -1;
	}
	return -1;
}

static int
dial(const struct pb_ctl *ctl)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM };
	struct timeval send_timeout = { .tv_sec = SEND_TIMEOUT_S };
	struct addrinfo *res, *ai;
	int fd = -1, one = 1;

	if (getaddrinfo(ctl->host, ctl->port, &hints, &res) != 0)
		return -1;
	for (ai = res; ai != NULL && fd < 0; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC |
			    SOCK_NONBLOCK, ai->ai_protocol);
		if (fd >= 0 && connect_bounded(ctl, fd, ai) < 0) {
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(res);
	if (fd < 0)
		return -1;
	/* blocking again, but a send to a controller that stopped reading
	 * gives up after SEND_TIMEOUT_S */
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &send_timeout,
		   sizeof(send_timeout));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

static int
write_line(int fd, const char *line)
{
	size_t len = strlen(line), off = 0;

	while (off <= len) {
		/* the line, then its '\n' */
		const char *p = off < len ? line + off : "\n";
		size_t n = off < len ? len - off : 1;
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		off += (size_t)w;
	}
	return 0;
}

static int
send_json(int fd, json_t *obj)
{
	char *line = json_dumps(obj, JSON_COMPACT);
	int ret = line != NULL ? write_line(fd, line) : -1;

	free(line);
	return ret;
}

/* Bytes received and not yet answered. */
struct reader {
	char *buf;
	size_t len;
	size_t scanned;   /* no '\n' in buf[0, scanned) */
	bool discarding;  /* inside a line that was too long */
};

/*
 * The controller refuses a hello with a reply instead of a request:
 * {"id": null, "ok": false, "error": "nfv 1 is already connected"}.
 */
static bool
is_refusal(const char *line, size_t len, char *why, size_t why_len)
{
	json_t *msg = json_loadb(line, len, 0, NULL);
	json_t *ok = json_object_get(msg, "ok");
	bool refused = json_is_false(ok) && json_object_get(msg, "cmd") == NULL;

	if (refused)
		snprintf(why, why_len, "%s", json_string_value(
				 json_object_get(msg, "error")) ?: "no reason");
	json_decref(msg);
	return refused;
}

/* 0, -1 if the connection is lost, LINK_REFUSED if the controller said no */
#define LINK_REFUSED (-2)

static int
answer(const struct pb_ctl *ctl, int fd, const char *line, size_t len)
{
	char *reply, why[256];
	int ret;

	if (len > 0 && line[len - 1] == '\r')
		len--;
	if (is_refusal(line, len, why, sizeof(why))) {
		fprintf(stderr, "patchbay: the controller refused us: %s\n",
			why);
		return LINK_REFUSED;
	}
	reply = pb_handle_line(ctl->sets, ctl->nb_sets, line, len);
	ret = reply != NULL ? write_line(fd, reply) : -1;
	free(reply);
	return ret;
}

static int
refuse_long_line(int fd)
{
	char *reply = pb_reply_error_line("request line is longer than 1 MiB: "
					  "not read");
	int ret = reply != NULL ? write_line(fd, reply) : -1;

	free(reply);
	return ret;
}

/* Answer every complete line in the buffer; keep the rest. */
static int
answer_lines(const struct pb_ctl *ctl, int fd, struct reader *r)
{
	char *nl;
	size_t used;
	int ret = 0;

	while (ret == 0 && (nl = memchr(r->buf + r->scanned, '\n',
				       r->len - r->scanned)) != NULL) {
		used = (size_t)(nl - r->buf) + 1;
		if (used - 1 > PB_MSG_MAX_LINE && !r->discarding)
			ret = refuse_long_line(fd);
		else if (!r->discarding)
			ret = answer(ctl, fd, r->buf, used - 1);
		r->discarding = false;
		memmove(r->buf, r->buf + used, r->len - used);
		r->len -= used;
		r->scanned = 0;
	}
	r->scanned = r->len;
	if (ret == 0 && r->len > PB_MSG_MAX_LINE) {
		/* too long already: answer now, drop the rest of the line */
		if (!r->discarding)
			ret = refuse_long_line(fd);
		r->discarding = true;
		r->len = r->scanned = 0;
	}
	return ret;
}

/* Answer the controller until it goes; LINK_REFUSED if it refused us. */
static int
serve(const struct pb_ctl *ctl, int fd)
{
	struct reader r = { .buf = malloc(PB_MSG_MAX_LINE + READ_CHUNK + 1) };
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	int ret = -1;

	if (r.buf == NULL || send_json(fd, ctl->hello) < 0)
		goto out;
	while (!pb_quitting()) {
		ssize_t n;

		if (ctl->tick != NULL)
			ctl->tick(ctl->tick_ctx);
		if (poll(&pfd, 1, POLL_MS) <= 0)
			continue;
		n = recv(fd, r.buf + r.len, READ_CHUNK, 0);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			break;
		r.len += (size_t)n;
		ret = answer_lines(ctl, fd, &r);
		if (ret < 0)
			break;
	}
out:
	free(r.buf);
	return ret;
}

static void
sleep_ms_unless_quit(const struct pb_ctl *ctl, int ms)
{
	for (int t = 0; t < ms && !pb_quitting(); t += POLL_MS) {
		if (ctl->tick != NULL)
			ctl->tick(ctl->tick_ctx);
		poll(NULL, 0, POLL_MS);
	}
}

void
pb_ctl_run(void *arg)
{
	struct pb_ctl *ctl = arg;
	unsigned int refusals = 0;
	bool told = false;

	while (!pb_quitting()) {
		int fd = ctl->host != NULL ? dial(ctl) : -1;

		if (fd < 0) {
			if (!told && ctl->host != NULL)
				fprintf(stderr, "patchbay: controller %s:%s "
					"unreachable; retrying every second\n",
					ctl->host, ctl->port);
			told = true;
			sleep_ms_unless_quit(ctl, REDIAL_MS);
			continue;
		}
		fprintf(stderr, "patchbay: connected to controller %s:%s\n",
			ctl->host, ctl->port);
		told = false;
		refusals = serve(ctl, fd) == LINK_REFUSED ? refusals + 1 : 0;
		close(fd);
		if (refusals == MAX_REFUSALS) {
			fprintf(stderr, "patchbay: refused %u times in a row; "
				"giving up\n", refusals);
			ctl->gave_up = true;
			pb_quit();
		} else if (refusals > 0) {
			sleep_ms_unless_quit(ctl, REDIAL_MS << (refusals - 1));
		}
	}
}
