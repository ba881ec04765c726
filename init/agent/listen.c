/* The control port's socket layer (transport: it knows the ttRPC core, not the services it
 * serves; main hands it the server). */
#define _GNU_SOURCE
#include "agent/agent.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "agent/ttrpc.h"
#include "lib/cleanup.h"
#include "lib/log.h"

/* struct sockaddr_vm from <linux/vm_sockets.h>, which musl's headers do not carry. */
struct sp_sockaddr_vm {
	sa_family_t svm_family;
	unsigned short svm_reserved1;
	unsigned int svm_port;
	unsigned int svm_cid;
	unsigned char svm_flags;
	unsigned char svm_zero[3];
};
#define SP_VMADDR_CID_ANY 0xffffffffu

struct conn {
	struct sp_watch w;
	struct tt_conn tt;
	struct conn *prev, *next;
	uint32_t events;
	unsigned id;
	bool closed;
};

static struct {
	struct sp_loop *loop;
	const struct tt_server *server;
	struct sp_watch w;
	bool vsock, accept_loopback;
	struct conn *conns;
	unsigned nconns, next_id;
} agent = { .w = { .fd = -1 } };

static void conn_close(struct conn *c, const char *why)
{
	if (c->closed)
		return;
	c->closed = true;
	sp_debug("agent", "connection %u closed: %s", c->id, why);
	if (c->prev)
		c->prev->next = c->next;
	else
		agent.conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	agent.nconns--;
	sp_loop_release(agent.loop, &c->w); /* freed after this loop batch */
}

static void conn_release(struct sp_watch *w)
{
	struct conn *c = (struct conn *)w;

	tt_conn_destroy(&c->tt);
	close(c->w.fd);
	free(c);
}

static void conn_update_events(struct conn *c)
{
	uint32_t ev = 0;
	struct sp_err err;

	if (tt_conn_pending(&c->tt) < TT_OUT_SOFT_MAX)
		ev |= EPOLLIN;
	if (tt_conn_pending(&c->tt) > 0)
		ev |= EPOLLOUT;
	if (ev == c->events)
		return;
	if (sp_loop_mod(agent.loop, &c->w, ev, &err) < 0) {
		sp_warn("agent", "%s", err.msg);
		conn_close(c, "epoll");
		return;
	}
	c->events = ev;
}

/* Writes what is pending until the socket is full. Returns -1 when the peer is gone. */
static int conn_flush(struct conn *c)
{
	for (;;) {
		size_t len;
		const uint8_t *p = tt_conn_output(&c->tt, &len);
		ssize_t n;

		if (len == 0)
			return 0;
		n = send(c->w.fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (n <= 0)
			return -1;
		tt_conn_consume(&c->tt, (size_t)n);
	}
}

static void conn_on_output(struct tt_conn *tt)
{
	struct conn *c = tt->owner;

	if (!c->closed)
		conn_update_events(c);
}

static void conn_on_event(struct sp_watch *w, uint32_t events)
{
	struct conn *c = (struct conn *)w;
	uint8_t buf[16384];

	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
		/* A few reads per wakeup, so one busy peer cannot starve the others. */
		for (int i = 0; i < 8 && tt_conn_pending(&c->tt) < TT_OUT_SOFT_MAX; i++) {
			ssize_t n = recv(w->fd, buf, sizeof(buf), MSG_DONTWAIT);

			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
				break;
			if (n <= 0) {
				conn_close(c, n == 0 ? "peer closed" : strerror(errno));
				return;
			}
			tt_conn_feed(&c->tt, buf, (size_t)n);
			/* A short read drained the socket: the loop is level-triggered and calls again
			 * when more arrives, so a recv that would only say EAGAIN is saved. */
			if (c->tt.broken || (size_t)n < sizeof(buf))
				break;
		}
	}
	if (c->tt.broken) {
		conn_close(c, "output limit exceeded");
		return;
	}
	if (conn_flush(c) < 0) {
		conn_close(c, "write failed");
		return;
	}
	conn_update_events(c);
}

static bool peer_allowed(const struct sp_sockaddr_vm *peer)
{
	if (peer->svm_cid == SP_VSOCK_CID_HOST)
		return true;
	return peer->svm_cid == SP_VSOCK_CID_LOCAL && agent.accept_loopback;
}

static void accept_one(int fd, const struct sp_sockaddr_vm *peer)
{
	struct conn *c;
	struct sp_err err;

	if (agent.vsock && !peer_allowed(peer)) {
		sp_warn("agent", "refused connection from vsock cid %u port %u", peer->svm_cid,
			peer->svm_port);
		close(fd);
		return;
	}
	if (agent.nconns >= SP_AGENT_MAX_CONNS) {
		sp_warn("agent", "refused connection: %d connections open", SP_AGENT_MAX_CONNS);
		close(fd);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return;
	}
	c->w.fd = fd;
	c->w.on_event = conn_on_event;
	c->w.on_release = conn_release;
	c->events = EPOLLIN;
	c->id = ++agent.next_id;
	tt_conn_init(&c->tt, agent.server);
	c->tt.owner = c;
	c->tt.on_output = conn_on_output;
	if (sp_loop_add(agent.loop, &c->w, c->events, &err) < 0) {
		sp_warn("agent", "%s", err.msg);
		close(fd);
		free(c);
		return;
	}
	c->next = agent.conns;
	if (agent.conns)
		agent.conns->prev = c;
	agent.conns = c;
	agent.nconns++;
	if (agent.vsock)
		sp_debug("agent", "connection %u from vsock cid %u", c->id, peer->svm_cid);
	else
		sp_debug("agent", "connection %u", c->id);
}

static void listener_on_event(struct sp_watch *w, uint32_t events)
{
	for (;;) {
		struct sp_sockaddr_vm peer;
		socklen_t plen = sizeof(peer);
		int fd;

		memset(&peer, 0, sizeof(peer));
		fd = accept4(w->fd, (struct sockaddr *)&peer, &plen, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				sp_warn("agent", "accept: %s", strerror(errno));
			return;
		}
		accept_one(fd, &peer);
	}
}

static int bind_vsock(uint32_t port, struct sp_err *err)
{
	cleanup_close int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	struct sp_sockaddr_vm sa;

	if (fd < 0)
		return sp_error(err, errno, "socket(AF_VSOCK)");
	memset(&sa, 0, sizeof(sa));
	sa.svm_family = AF_VSOCK;
	sa.svm_port = port;
	sa.svm_cid = SP_VMADDR_CID_ANY;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return sp_error(err, errno, "bind vsock port %u", port);
	if (listen(fd, SP_AGENT_BACKLOG) < 0)
		return sp_error(err, errno, "listen vsock port %u", port);
	return steal_fd(&fd);
}

static int bind_unix(const char *path, struct sp_err *err)
{
	cleanup_close int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa;
	struct stat st;
	size_t len;

	if (fd < 0)
		return sp_error(err, errno, "socket(AF_UNIX)");
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	len = strlen(path);
	if (len >= sizeof(sa.sun_path))
		return sp_error(err, ENAMETOOLONG, "unix socket %s", path);
	memcpy(sa.sun_path, path, len + 1);
	/* A stale socket from an earlier run; never remove anything else. */
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return sp_error(err, errno, "bind %s", path);
	if (listen(fd, SP_AGENT_BACKLOG) < 0)
		return sp_error(err, errno, "listen %s", path);
	return steal_fd(&fd);
}

int sp_agent_listen(struct sp_loop *loop, const struct sp_listen_addr *addr, bool accept_loopback,
		    const struct tt_server *server, struct sp_err *err)
{
	int fd;

	agent.loop = loop;
	agent.server = server;
	agent.vsock = addr->kind == SP_ADDR_VSOCK;
	agent.accept_loopback = accept_loopback;
	fd = agent.vsock ? bind_vsock(addr->port, err) : bind_unix(addr->path, err);
	if (fd < 0)
		return -1;
	agent.w.fd = fd;
	agent.w.on_event = listener_on_event;
	agent.w.on_release = NULL;
	if (sp_loop_add(loop, &agent.w, EPOLLIN, err) < 0) {
		close(fd);
		agent.w.fd = -1;
		return -1;
	}
	return 0;
}

void sp_agent_shutdown(void)
{
	while (agent.conns)
		conn_close(agent.conns, "shutdown");
	if (agent.w.fd >= 0) {
		sp_loop_release(agent.loop, &agent.w);
		close(agent.w.fd);
		agent.w.fd = -1;
	}
}
