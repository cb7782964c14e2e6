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
#include <stdarg.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>

#include "pb_auth.h"
#include "pb_ctl.h"
#include "pb_version.h"

#define READ_CHUNK (64 * 1024)
#define POLL_MS 200
#define REDIAL_MS 1000
#define DIAL_TIMEOUT_MS 2000
#define SEND_TIMEOUT_S 5
/* the controller's challenge: one short line, soon */
#define HANDSHAKE_MS 10000
#define HANDSHAKE_MAX_LINE 1024
#define DEFAULT_RUN_DIR "/run/patchbay"
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
 * Say something about the link once, not every second while it stays so
 * (a controller down for an hour, an impostor answering each dial).
 */
static void
say(struct pb_ctl *ctl, const char *fmt, ...)
{
	char text[sizeof(ctl->last_error)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (strcmp(text, ctl->last_error) == 0)
		return;
	snprintf(ctl->last_error, sizeof(ctl->last_error), "%s", text);
	fprintf(stderr, "patchbay: %s\n", text);
}

static json_t *
hello(const char *role, int id)
{
	char node[256] = "";

	gethostname(node, sizeof(node) - 1);
	return json_pack("{s:{s:s, s:i, s:i, s:s, s:s}}", "hello", "role",
			 role, "id", id, "pid", (int)getpid(), "node", node,
			 "version", PB_VERSION);
}

static bool
is_loopback(const char *host)
{
	struct in_addr v4;
	struct in6_addr v6;

	if (strcmp(host, "localhost") == 0)
		return true;
	if (inet_pton(AF_INET, host, &v4) == 1)
		return (ntohl(v4.s_addr) >> 24) == 127;
	return inet_pton(AF_INET6, host, &v6) == 1 &&
	       IN6_IS_ADDR_LOOPBACK(&v6);
}

char *
pb_ctl_unix_path(const char *port)
{
	const char *dir = getenv("PATCHBAY_RUN_DIR");
	char *path;

	if (dir == NULL || dir[0] == '\0')
		dir = DEFAULT_RUN_DIR;
	return asprintf(&path, "%s/ctl-%s.sock", dir, port) < 0 ? NULL : path;
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
	const char *key = getenv("PATCHBAY_TOKEN");

	memset(ctl, 0, sizeof(*ctl));
	if (strcmp(hostport, "none") == 0) {
		/* no controller: serve nobody, just run until told to quit */
	} else if (split_hostport(hostport, &ctl->host, &ctl->port) < 0 ||
		   (is_loopback(ctl->host) &&
		    (ctl->unix_path = pb_ctl_unix_path(ctl->port)) == NULL)) {
		pb_ctl_fini(ctl);
		return -1;
	}
	if (key != NULL && key[0] != '\0')
		ctl->key = strdup(key);
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
	free(ctl->unix_path);
	if (ctl->key != NULL)
		explicit_bzero(ctl->key, strlen(ctl->key));
	free(ctl->key);
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
dial_tcp(const struct pb_ctl *ctl)
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

/*
 * Who may listen on the controller's Unix socket: root, our own user, or
 * the user the run directory belongs to (a controller run by systemd as
 * a dynamic user) when that directory is nobody else's to write.
 */
static bool
trusted_listener(const char *path, uid_t uid)
{
	char *dir = strdup(path), *slash = dir != NULL ? strrchr(dir, '/') : NULL;
	struct stat st;
	bool ok = uid == 0 || uid == geteuid();

	if (!ok && slash != NULL) {
		*slash = '\0';
		ok = stat(dir[0] != '\0' ? dir : "/", &st) == 0 &&
		     st.st_uid == uid && (st.st_mode & (S_IWGRP | S_IWOTH)) == 0;
	}
	free(dir);
	return ok;
}

static int
dial_unix(struct pb_ctl *ctl)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct ucred peer;
	socklen_t len = sizeof(peer);
	int fd;

	if (strlen(ctl->unix_path) >= sizeof(addr.sun_path)) {
		say(ctl, "%s: path too long for a Unix socket", ctl->unix_path);
		return -1;
	}
	strcpy(addr.sun_path, ctl->unix_path);
	/* without blocking: a stopped controller's full backlog would keep
	 * the thread that also watches the primary (tick) waiting */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		close(fd);
		return -1;
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer, &len) < 0 ||
	    !trusted_listener(ctl->unix_path, peer.uid)) {
		say(ctl, "%s is served by uid %d, not root, us or the owner of "
		    "its folder: not the controller; not answering it",
		    ctl->unix_path, (int)peer.uid);
		close(fd);
		return -1;
	}
	return fd;
}

static int
dial(struct pb_ctl *ctl)
{
	struct timeval send_timeout = { .tv_sec = SEND_TIMEOUT_S };
	int fd = ctl->unix_path != NULL ? dial_unix(ctl) : dial_tcp(ctl);

	if (fd >= 0 && ctl->unix_path != NULL)
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &send_timeout,
			   sizeof(send_timeout));
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

/* 0, -1 if the connection is lost, LINK_REFUSED if the controller said no,
 * LINK_UNPROVEN if the other end never proved it is the controller */
#define LINK_REFUSED (-2)
#define LINK_UNPROVEN (-3)

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

/* One line of at most max bytes within HANDSHAKE_MS, without its '\n';
 * byte by byte, so nothing after it is read. -1 if none. */
static ssize_t
read_short_line(const struct pb_ctl *ctl, int fd, char *buf, size_t max)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	size_t len = 0;

	for (int waited = 0; waited < HANDSHAKE_MS && !pb_quitting();) {
		ssize_t n;

		if (ctl->tick != NULL)
			ctl->tick(ctl->tick_ctx);
		if (poll(&pfd, 1, POLL_MS) <= 0) {
			waited += POLL_MS;
			continue;
		}
		n = recv(fd, buf + len, 1, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		if (buf[len] == '\n') {
			buf[len] = '\0';
			return (ssize_t)len;
		}
		if (++len == max)
			return -1;
	}
	return -1;
}

/*
 * Say hello; over TCP, then check the controller's proof before sending
 * ours (pb_auth.h). 0 when the link may carry requests.
 */
static int
greet(struct pb_ctl *ctl, int fd)
{
	char nonce[PB_AUTH_HEX_LEN + 1], line[HANDSHAKE_MAX_LINE], why[320];
	char *hello_line, *proof = NULL;
	ssize_t len;
	int ret = -1;

	if (ctl->unix_path != NULL)
		return send_json(fd, ctl->hello);
	if (ctl->key == NULL) {
		say(ctl, "the controller at %s:%s is reached over TCP, where a "
		    "process must prove it holds PATCHBAY_TOKEN: set it",
		    ctl->host, ctl->port);
		return -1;
	}
	if (pb_auth_nonce(nonce) < 0)
		return -1;
	json_object_set_new(json_object_get(ctl->hello, "hello"), "nonce",
			    json_string(nonce));
	hello_line = json_dumps(ctl->hello, JSON_COMPACT);
	if (hello_line == NULL || write_line(fd, hello_line) < 0)
		goto out;
	len = read_short_line(ctl, fd, line, sizeof(line));
	if (len > 0 && line[len - 1] == '\r')
		line[--len] = '\0';
	if (len < 0)
		snprintf(why, sizeof(why), "no challenge within %d s",
			 HANDSHAKE_MS / 1000);
	else
		proof = pb_auth_answer(ctl->key, hello_line, strlen(hello_line),
				       line, (size_t)len, why, sizeof(why));
	if (proof == NULL)
		say(ctl, "%s:%s: %s; not answering it", ctl->host, ctl->port,
		    why);
	else
		ret = write_line(fd, proof);
out:
	free(proof);
	free(hello_line);
	return ret;
}

/* Answer the controller until it goes; LINK_REFUSED if it refused us. */
static int
serve(struct pb_ctl *ctl, int fd)
{
	struct reader r = { .buf = malloc(PB_MSG_MAX_LINE + READ_CHUNK + 1) };
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	int ret = -1;

	if (r.buf == NULL)
		goto out;
	if (greet(ctl, fd) < 0) {
		ret = LINK_UNPROVEN;
		goto out;
	}
	fprintf(stderr, "patchbay: connected to controller %s:%s%s%s\n",
		ctl->host, ctl->port, ctl->unix_path != NULL ? " at " : "",
		ctl->unix_path != NULL ? ctl->unix_path : "");
	ctl->last_error[0] = '\0';
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

	while (!pb_quitting()) {
		int fd = ctl->host != NULL ? dial(ctl) : -1;
		int ended;

		if (fd < 0) {
			if (ctl->host != NULL && ctl->last_error[0] == '\0')
				say(ctl, "controller %s:%s unreachable; retrying "
				    "every second", ctl->host, ctl->port);
			sleep_ms_unless_quit(ctl, REDIAL_MS);
			continue;
		}
		ended = serve(ctl, fd);
		close(fd);
		/* only a controller that proved itself can make us give up */
		refusals = ended == LINK_REFUSED ? refusals + 1 : 0;
		if (ended == LINK_UNPROVEN)
			sleep_ms_unless_quit(ctl, REDIAL_MS);
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
