/* sealpod-testd: the test overlay's host bridge (never in the production image).
 *
 * PID 1 spawns it after `sealpod: ready` when /etc/sealpod/test-overlay exists. It serves two
 * virtio-serial ports, found by name under /sys/class/virtio-ports (no udev here):
 *
 *  org.sealpod.agent  AGENT RELAY. The host's bytes go to AF_VSOCK CID 1 (loopback) port 1024
 *                     and back. One host connection at a time. The vsock connection opens on
 *                     the first byte the host sends and closes when the host disconnects, so the
 *                     agent sees a disconnect. When the agent closes (or refuses) first, the
 *                     relay drops what the host sends until the host disconnects: a fresh vsock
 *                     connection in the middle of the host's byte stream would desynchronise
 *                     ttRPC framing and stream ids, so the next connection starts only with the
 *                     next host connection. The host cannot be told about the close (a
 *                     virtio-serial port cannot hang up its host side); it sees a silent peer.
 *
 *  org.sealpod.shell  TEST SHELL. The host sends one command line ending in '\n'. An optional
 *                     prefix "\x1eT<seconds> " sets the timeout (default 120 s, max 3600). testd
 *                     runs `/bin/sh -c LINE` in a new session with stdin /dev/null and
 *                     stdout+stderr on one pipe, streams the output back as it comes, then
 *                     writes the trailer "\x1eEXIT <status>\n" (exit code, or 128+signal; 137
 *                     after a timeout, which kills the whole process group; 127 when the
 *                     shell cannot be started). Output of background jobs that keep the pipe
 *                     open after the shell exits is read for at most 2 s more. One command at
 *                     a time; if the host disconnects mid-command the command is killed.
 *
 * A virtio console port whose host side is not connected reads 0 and polls POLLIN|POLLHUP at
 * once (drivers/char/virtio_console.c: will_read_block(), port_fops_poll()), and a write would
 * block until the host connects. So poll() cannot wait for the host: while it is away each
 * server sleeps HOST_RETRY_MS between looks instead of spinning. testd is deliberately not a
 * child subreaper: orphans of test commands must be reaped by PID 1, which the tests check.
 *
 * The supervisor (the first process) forks one process per port and restarts a dead one after
 * a second, so a bug in one server does not take the other down.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/vm_sockets.h>

#define AGENT_PORT_NAME	    "org.sealpod.agent"
#define SHELL_PORT_NAME	    "org.sealpod.shell"
#define AGENT_VSOCK_PORT    1024
#define HOST_RETRY_MS	    100
#define RELAY_BUF	    (64 * 1024)
#define LINE_MAX_BYTES	    (64 * 1024)
#define DEFAULT_TIMEOUT_S   120
#define MAX_TIMEOUT_S	    3600
#define DRAIN_AFTER_EXIT_MS 2000
#define CONNECT_TIMEOUT_MS  5000
#define OPEN_GRACE_MS	    3000

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int n = snprintf(buf, sizeof(buf), "sealpod-testd[%d]: ", (int)getpid());

	va_start(ap, fmt);
	vsnprintf(buf + n, sizeof(buf) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	n = (int)strlen(buf);
	buf[n++] = '\n';
	if (write(STDERR_FILENO, buf, (size_t)n) < 0) {
		/* nowhere else to report it */
	}
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* Find /dev/<vportNpM> for the port named NAME; 0 and the path, or -1 when not (yet) there. */
static int find_port(const char *name, char *path, size_t len)
{
	DIR *d = opendir("/sys/class/virtio-ports");
	struct dirent *e;
	int ret = -1;

	if (!d)
		return -1;
	while ((e = readdir(d))) {
		char p[PATH_MAX], got[256];
		ssize_t n;
		int fd;

		if (e->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "/sys/class/virtio-ports/%s/name", e->d_name);
		fd = open(p, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		n = read(fd, got, sizeof(got) - 1);
		close(fd);
		if (n <= 0)
			continue;
		got[n] = 0;
		got[strcspn(got, "\n")] = 0;
		if (strcmp(got, name) == 0) {
			snprintf(path, len, "/dev/%s", e->d_name);
			ret = 0;
			break;
		}
	}
	closedir(d);
	return ret;
}

/* Port fds the supervisor opened before forking (-1: the server opens its own). */
static int g_agent_port = -1, g_shell_port = -1;

/* Open the named port, waiting for it to appear (retrying quietly, logging once). */
static int open_port(const char *name)
{
	char path[PATH_MAX];
	int logged = 0;

	for (;;) {
		if (find_port(name, path, sizeof(path)) == 0) {
			int fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);

			if (fd >= 0) {
				say("%s on %s", name, path);
				return fd;
			}
			if (!logged)
				say("open %s (%s): %s; retrying", path, name, strerror(errno));
		} else if (!logged) {
			say("no virtio-serial port named %s yet; retrying", name);
		}
		logged = 1;
		sleep_ms(1000);
	}
}

/* ---------------------------------------------------------------------------------------- */
/* Agent relay                                                                               */

struct buf {
	unsigned char d[RELAY_BUF];
	size_t off, len;
};

static int vsock_connect_local(void)
{
	struct sockaddr_vm sa = { .svm_family = AF_VSOCK,
				  .svm_cid = VMADDR_CID_LOCAL,
				  .svm_port = AGENT_VSOCK_PORT };
	int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	struct pollfd p;
	int err = 0;
	socklen_t el = sizeof(err);

	if (fd < 0) {
		say("relay: socket(AF_VSOCK): %s", strerror(errno));
		return -1;
	}
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
		return fd;
	if (errno != EINPROGRESS && errno != EINTR) {
		say("relay: connect vsock 1:%d: %s", AGENT_VSOCK_PORT, strerror(errno));
		close(fd);
		return -1;
	}
	p = (struct pollfd){ .fd = fd, .events = POLLOUT };
	if (poll(&p, 1, CONNECT_TIMEOUT_MS) <= 0) {
		say("relay: connect vsock 1:%d: timed out", AGENT_VSOCK_PORT);
		close(fd);
		return -1;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0 || err) {
		say("relay: connect vsock 1:%d: %s", AGENT_VSOCK_PORT, strerror(err ? err : errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* pump_in fills an empty B from SRC (-1: EOF or error); pump_out moves B to DST (-2: error).
 * Both return 0 when nothing could move yet. */
static int pump_in(int src, struct buf *b)
{
	ssize_t n;

	if (b->len)
		return 0;
	n = read(src, b->d, sizeof(b->d));
	if (n > 0) {
		b->off = 0;
		b->len = (size_t)n;
		return 0;
	}
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	return -1;
}

static int pump_out(int dst, struct buf *b)
{
	ssize_t n;

	if (!b->len)
		return 0;
	n = write(dst, b->d + b->off, b->len);
	if (n > 0) {
		b->off += (size_t)n;
		b->len -= (size_t)n;
		return 0;
	}
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	return -2;
}

enum relay_state { HOST_AWAY, HOST_IDLE, LINKED, DRAINING };

/* A new host connection's first bytes can reach the guest before the driver has processed the
 * host's PORT_OPEN control message (data interrupts are handled at once, control messages in a
 * workqueue: drivers/char/virtio_console.c, control_work_handler), so right after linking the
 * port may still poll POLLHUP and read 0 from the previous connection's hang-up. Taking that for
 * the host leaving dropped the new connection with its request already passed on, and the reply
 * was lost: the host saw a silent port. So a link's hang-up counts only once the port has been
 * seen connected since linking, or after OPEN_GRACE_MS (a host that connects, writes and leaves
 * before the guest catches up). */
struct link_watch {
	int64_t linked_at;
	int host_seen;
};

static int link_opening(struct link_watch *w, short port_revents, int polled)
{
	if (polled && !(port_revents & (POLLHUP | POLLERR)))
		w->host_seen = 1;
	return !w->host_seen && now_ms() - w->linked_at < OPEN_GRACE_MS;
}

/* The host hung up while linked: hand the agent what the host sent before it left (bounded in
 * time), so a request followed by a close still arrives, then let the caller close vsock. */
static void flush_host_leftovers(int port, int vs, struct buf *to_agent)
{
	int64_t deadline = now_ms() + 2000;

	while (now_ms() < deadline) {
		if (to_agent->len) {
			struct pollfd w = { .fd = vs, .events = POLLOUT };

			if (poll(&w, 1, 200) < 0 && errno != EINTR)
				return;
			if ((w.revents & POLLOUT) && pump_out(vs, to_agent) < 0)
				return;
			if (w.revents & (POLLERR | POLLHUP))
				return;
		} else if (pump_in(port, to_agent) < 0 || !to_agent->len) {
			return; /* read 0: nothing more from the host */
		}
	}
}

static void run_relay(void)
{
	static struct buf to_agent, to_host, sink;
	int port = g_agent_port >= 0 ? g_agent_port : open_port(AGENT_PORT_NAME);
	int vs = -1;
	enum relay_state st = HOST_AWAY;
	struct link_watch lw = { 0 };

	for (;;) {
		struct pollfd p[2] = { { .fd = port }, { .fd = -1 } };
		int n, opening;

		/* Only ask for what can be moved now: a full buffer stops reading its source. The
		 * port's POLLHUP is reported whatever the events, and is handled first below. */
		if (st != LINKED || !to_agent.len)
			p[0].events |= POLLIN;
		if (st == LINKED && to_host.len)
			p[0].events |= POLLOUT;
		if (st == LINKED) {
			p[1].events =
				(short)((to_host.len ? 0 : POLLIN) | (to_agent.len ? POLLOUT : 0));
			if (p[1].events)
				p[1].fd = vs;
		}
		n = poll(p, 2, 1000);
		if (n < 0 && errno != EINTR) {
			say("relay: poll: %s", strerror(errno));
			sleep_ms(HOST_RETRY_MS);
			continue;
		}
		opening = st == LINKED && link_opening(&lw, p[0].revents, n >= 0);
		if (n <= 0)
			continue;

		if (st == LINKED && !opening && (p[0].revents & (POLLHUP | POLLERR))) {
			flush_host_leftovers(port, vs, &to_agent);
			say("relay: host disconnected; closing the agent connection");
			close_fd(&vs);
			to_agent.len = to_host.len = 0;
			st = HOST_AWAY;
			sleep_ms(HOST_RETRY_MS);
			continue;
		}

		/* The agent side before the host's new bytes, so that its close is seen first. */
		if (st == LINKED && p[1].revents) {
			int r = 0;

			if (p[1].revents & (POLLIN | POLLHUP | POLLERR))
				r = to_host.len ? -1 : pump_in(vs, &to_host);
			if (r == 0 && (p[1].revents & POLLOUT))
				r = pump_out(vs, &to_agent);
			if (r < 0) {
				/* Deliver what the agent already said, then go quiet. */
				say("relay: the agent closed the connection; dropping host "
				    "data until the host disconnects");
				close_fd(&vs);
				to_agent.len = 0;
				while (to_host.len) {
					struct pollfd w = { .fd = port, .events = POLLOUT };

					if (poll(&w, 1, 1000) <= 0 ||
					    (w.revents & (POLLHUP | POLLERR)) ||
					    pump_out(port, &to_host) < 0)
						break;
				}
				to_host.len = 0;
				st = DRAINING;
				continue;
			}
		}

		if (st == LINKED && (p[0].revents & POLLOUT) && pump_out(port, &to_host) < 0)
			to_host.len = 0; /* the host went away; its POLLHUP comes next */

		if (!(p[0].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		if (st == LINKED) {
			if (pump_in(port, &to_agent) < 0 && !opening) {
				say("relay: host disconnected; closing the agent connection");
				close_fd(&vs);
				to_agent.len = to_host.len = 0;
				st = HOST_AWAY;
			} else if (opening) {
				sleep_ms(10); /* the stale POLLHUP makes poll return at once */
			}
			continue;
		}
		sink.len = 0;
		if (pump_in(port, &sink) < 0) {
			/* read 0: the host side is not connected (or has just hung up). */
			if (st == DRAINING)
				say("relay: host disconnected");
			st = HOST_AWAY;
			sleep_ms(HOST_RETRY_MS);
			continue;
		}
		if (st == HOST_AWAY)
			st = HOST_IDLE;
		if (sink.len && st == HOST_IDLE) {
			/* The first bytes of a new host connection: open the agent side. */
			vs = vsock_connect_local();
			if (vs < 0) {
				st = DRAINING;
				continue;
			}
			memcpy(to_agent.d, sink.d, sink.len);
			to_agent.off = 0;
			to_agent.len = sink.len;
			to_host.len = 0;
			st = LINKED;
			lw = (struct link_watch){ .linked_at = now_ms() };
		}
	}
}

/* ---------------------------------------------------------------------------------------- */
/* Test shell                                                                                */

/* Write all of DATA to the port within the deadline; -1 if the host went away or stalled. */
/* LW: the host connection this write belongs to (its early stale POLLHUP is waited out). */
static int port_write_all(int port, const char *data, size_t len, int64_t deadline,
			  struct link_watch *lw)
{
	while (len) {
		struct pollfd p = { .fd = port, .events = POLLOUT };
		ssize_t n;
		int64_t left = deadline - now_ms();

		if (left <= 0)
			return -1;
		int r = poll(&p, 1, (int)(left > 1000 ? 1000 : left));

		if (r < 0 && errno != EINTR)
			return -1;
		if (p.revents & (POLLHUP | POLLERR)) {
			if (!link_opening(lw, p.revents, r >= 0))
				return -1;
			sleep_ms(10);
			continue;
		}
		link_opening(lw, p.revents, r >= 0);
		if (!(p.revents & POLLOUT))
			continue;
		n = write(port, data, len);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n <= 0)
			return -1;
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

static pid_t spawn_shell(const char *line, int *out_fd)
{
	int pfd[2];
	pid_t pid;
	sigset_t all;

	if (pipe2(pfd, O_CLOEXEC) < 0)
		return -1;
	pid = fork();
	if (pid < 0) {
		close(pfd[0]);
		close(pfd[1]);
		return -1;
	}
	if (pid == 0) {
		int nul = open("/dev/null", O_RDONLY | O_CLOEXEC);

		setsid();
		sigemptyset(&all);
		sigprocmask(SIG_SETMASK, &all, NULL);
		signal(SIGPIPE, SIG_DFL);
		signal(SIGCHLD, SIG_DFL);
		if (nul < 0 || dup2(nul, 0) < 0 || dup2(pfd[1], 1) < 0 || dup2(pfd[1], 2) < 0)
			_exit(127);
		execl("/bin/sh", "sh", "-c", line, (char *)NULL);
		dprintf(2, "sealpod-testd: exec /bin/sh: %s\n", strerror(errno));
		_exit(127);
	}
	close(pfd[1]);
	fcntl(pfd[0], F_SETFL, O_NONBLOCK);
	*out_fd = pfd[0];
	return pid;
}

/* Run one command and stream its output; returns -1 when the host went away. */
static int run_command(int port, const char *line, int timeout_s, struct link_watch *lw)
{
	int out = -1, status = 0, host_ok = 1, exited = 0;
	int64_t deadline = now_ms() + (int64_t)timeout_s * 1000, drain_until = 0;
	pid_t pid = spawn_shell(line, &out);
	char buf[16384], trailer[64];

	if (pid < 0) {
		snprintf(buf, sizeof(buf), "sealpod-testd: cannot start /bin/sh: %s\n",
			 strerror(errno));
		if (port_write_all(port, buf, strlen(buf), now_ms() + 10000, lw) < 0)
			return -1;
		status = 127;
		goto trailer;
	}
	for (;;) {
		struct pollfd p[2];
		int64_t now = now_ms();
		int r;

		if (!exited) {
			pid_t w = waitpid(pid, &status, WNOHANG);

			if (w == pid) {
				exited = 1;
				status = WIFEXITED(status) ? WEXITSTATUS(status)
							   : 128 + WTERMSIG(status);
				drain_until = now + DRAIN_AFTER_EXIT_MS;
			}
		}
		if (out < 0 && exited)
			break;
		if (exited && now >= drain_until)
			break;
		if (!exited && now >= deadline) {
			const char *msg = "\nsealpod-testd: timeout, killing the process group\n";

			kill(-pid, SIGKILL);
			kill(pid, SIGKILL);
			if (host_ok && port_write_all(port, msg, strlen(msg), now + 10000, lw) < 0)
				host_ok = 0;
			waitpid(pid, &status, 0);
			status = 128 + SIGKILL;
			exited = 1;
			drain_until = now; /* the group is dead; stop reading */
			break;
		}
		/* Wake at least every 100 ms to notice the child's exit without SIGCHLD plumbing. The
		 * port is polled for nothing but its POLLHUP: the host leaving mid-command. */
		p[0] = (struct pollfd){ .fd = host_ok ? port : -1, .events = 0 };
		p[1] = (struct pollfd){ .fd = out, .events = POLLIN };
		r = poll(p, out >= 0 ? 2 : 1, 100);
		if (r < 0 && errno != EINTR)
			break;
		if (host_ok && !link_opening(lw, p[0].revents, r >= 0) &&
		    (p[0].revents & (POLLHUP | POLLERR))) {
			say("shell: host disconnected during a command; killing it");
			host_ok = 0;
			kill(-pid, SIGKILL);
			kill(pid, SIGKILL);
		}
		if (out >= 0 && (p[1].revents & (POLLIN | POLLHUP | POLLERR))) {
			ssize_t n = read(out, buf, sizeof(buf));

			if (n > 0) {
				if (host_ok &&
				    port_write_all(port, buf, (size_t)n, now_ms() + 30000, lw) < 0)
					host_ok = 0;
			} else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
				close_fd(&out);
			}
		}
	}
	close_fd(&out);
	if (!exited) {
		kill(-pid, SIGKILL);
		waitpid(pid, &status, 0);
		status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	}
trailer:
	if (!host_ok)
		return -1;
	snprintf(trailer, sizeof(trailer),
		 "\x1e"
		 "EXIT %d\n",
		 status);
	return port_write_all(port, trailer, strlen(trailer), now_ms() + 30000, lw);
}

/* Split an optional "\x1eT<seconds> " prefix off LINE. */
static const char *parse_timeout(const char *line, int *timeout_s)
{
	*timeout_s = DEFAULT_TIMEOUT_S;
	if (line[0] == '\x1e' && line[1] == 'T') {
		char *end;
		long t = strtol(line + 2, &end, 10);

		if (end != line + 2 && *end == ' ' && t > 0 && t <= MAX_TIMEOUT_S) {
			*timeout_s = (int)t;
			return end + 1;
		}
	}
	return line;
}

static void run_shell(void)
{
	static char line[LINE_MAX_BYTES + 1];
	size_t len = 0;
	int port = g_shell_port >= 0 ? g_shell_port : open_port(SHELL_PORT_NAME), overlong = 0;
	int fresh = 1; /* the next bytes start a new host connection */
	struct link_watch lw = { 0 };

	for (;;) {
		struct pollfd p = { .fd = port, .events = POLLIN };
		char *nl;
		ssize_t n;

		if (poll(&p, 1, 1000) < 0 && errno != EINTR) {
			sleep_ms(HOST_RETRY_MS);
			continue;
		}
		if (!fresh)
			link_opening(&lw, p.revents, 1);
		if (!p.revents)
			continue;
		n = read(port, line + len, LINE_MAX_BYTES - len);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n <= 0 && !fresh && link_opening(&lw, 0, 0)) {
			sleep_ms(10); /* a stale hang-up of the previous connection */
			continue;
		}
		if (n <= 0) {
			/* The host side is not connected: forget any partial line, look again later. */
			len = 0;
			overlong = 0;
			fresh = 1;
			sleep_ms(HOST_RETRY_MS);
			continue;
		}
		if (fresh)
			lw = (struct link_watch){ .linked_at = now_ms() };
		fresh = 0;
		len += (size_t)n;
		while ((nl = memchr(line, '\n', len))) {
			size_t used = (size_t)(nl - line) + 1;
			int timeout_s;
			const char *cmd;

			*nl = 0;
			if (nl > line && nl[-1] == '\r')
				nl[-1] = 0;
			if (overlong) {
				const char *msg = "sealpod-testd: command line too long\n\x1e"
						  "EXIT 126\n";

				overlong = 0;
				port_write_all(port, msg, strlen(msg), now_ms() + 10000, &lw);
			} else {
				cmd = parse_timeout(line, &timeout_s);
				if (run_command(port, cmd, timeout_s, &lw) < 0) {
					len = 0;
					break;
				}
			}
			memmove(line, line + used, len - used);
			len -= used;
		}
		if (len == LINE_MAX_BYTES) {
			/* No newline in 64 KiB: discard up to the next one and report it then. */
			overlong = 1;
			len = 0;
		}
	}
}

/* ---------------------------------------------------------------------------------------- */

/* Opening a port sends the host a control message, and the guest driver busy-waits for the
 * host to take it (drivers/char/virtio_console.c, __send_control_msg) with a spinlock held.
 * Two servers opening their ports at once from two vCPUs once left one vCPU spinning until
 * the host's next chardev event (QEMU 7.2, TCG), which stalled the whole guest (RCU). So the
 * supervisor opens both, one after the other, and the servers inherit the fds; the ports then
 * stay open across server restarts.
 *
 * Which ports exist is the host's choice: `make run` gives QEMU the agent port only. The host
 * announces every cold-plugged port in one batch of PORT_ADD control messages answering the
 * driver's DEVICE_READY, so once one port is visible the others follow within milliseconds:
 * wait (up to 10 s) for the first, then at most PORT_SIBLING_MS for the second. A port still
 * absent then is left to its server, which keeps looking for it. */
#define PORT_SIBLING_MS 500

static void open_ports_in_turn(void)
{
	char path[PATH_MAX];
	int64_t deadline = now_ms() + 10000, sibling = -1;

	for (;;) {
		int agent = find_port(AGENT_PORT_NAME, path, sizeof(path)) == 0;
		int shell = find_port(SHELL_PORT_NAME, path, sizeof(path)) == 0;
		int64_t now = now_ms();

		if ((agent && shell) || now >= deadline)
			break;
		if ((agent || shell) && sibling < 0)
			sibling = now + PORT_SIBLING_MS;
		if (sibling >= 0 && now >= sibling)
			break;
		sleep_ms(20);
	}
	if (find_port(AGENT_PORT_NAME, path, sizeof(path)) == 0)
		g_agent_port = open_port(AGENT_PORT_NAME);
	if (find_port(SHELL_PORT_NAME, path, sizeof(path)) == 0)
		g_shell_port = open_port(SHELL_PORT_NAME);
}

static pid_t start(void (*fn)(void), const char *what)
{
	pid_t pid = fork();

	if (pid == 0) {
		fn();
		_exit(1);
	}
	if (pid < 0)
		say("fork %s: %s", what, strerror(errno));
	return pid;
}

int main(int argc, char **argv)
{
	sigset_t none;
	pid_t relay, shell;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (argc > 1 && strcmp(argv[1], "--relay-only") == 0) {
		run_relay();
		return 1;
	}
	if (argc > 1 && strcmp(argv[1], "--shell-only") == 0) {
		run_shell();
		return 1;
	}
	say("starting: %s relay, %s shell", AGENT_PORT_NAME, SHELL_PORT_NAME);
	open_ports_in_turn();
	relay = start(run_relay, "relay");
	shell = start(run_shell, "shell");
	for (;;) {
		int st;
		pid_t w = waitpid(-1, &st, 0);

		if (w < 0) {
			if (errno != EINTR)
				sleep_ms(1000);
			if (relay < 0)
				relay = start(run_relay, "relay");
			if (shell < 0)
				shell = start(run_shell, "shell");
			continue;
		}
		if (w == relay || w == shell) {
			say("%s server exited (status 0x%x); restarting",
			    w == relay ? "relay" : "shell", st);
			sleep_ms(1000);
			if (w == relay)
				relay = start(run_relay, "relay");
			else
				shell = start(run_shell, "shell");
		}
	}
}
