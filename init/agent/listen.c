/* The control port, PID 1's side (transport: it knows the ttRPC calls, not the services they
 * carry; main hands it the server). PID 1 listens and accepts, applies the peer rules and the
 * connection cap, and passes each connected socket to the front-end (init/front/), which reads
 * every host byte. From the front-end come requests in the internal form (agent/form.h) for
 * tt_conn_dispatch(); the answers go back to it. When the front-end dies, every call of every
 * connection is cancelled as a closed connection cancels it, and a new front-end is started.
 *
 * Why PID 1 accepts rather than telling the front-end the rules: the peer's CID comes from the
 * kernel at accept, with nothing of the host's to parse; the rule (CID 2, CID 1 only with the
 * test overlay) and the cap stay with the test-overlay decision PID 1 made at boot; and a
 * front-end that is taken over never holds the listening socket, so it cannot take a peer the
 * rules refuse (a process inside the guest). The price is one sendmsg per connection. */
#define _GNU_SOURCE
#include "agent/agent.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "agent/ttrpc.h"
#include "front/front.h"
#include "lib/cleanup.h"
#include "lib/log.h"
#include "lib/power.h"

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

#define RESTART_MAX_S 10 /* the longest wait before a front-end that keeps dying is restarted */

struct slot {
	struct tt_conn tt;
	bool used;
	uint32_t gen;
};

static struct {
	struct sp_loop *loop;
	const struct tt_server *server;
	const struct sp_worker_def *def;
	struct sp_watch listener, timer;
	bool vsock, accept_loopback, listening;
	uint32_t listen_events;
	/* the front-end */
	struct sp_worker *front;
	int hand; /* our end of the socket connections are passed on */
	struct timespec started;
	unsigned restart_s, restarts;
	uint8_t *reply; /* answers not sent yet */
	size_t reply_len, reply_cap;
	bool batching; /* inside a batch of requests: answers wait for its end */
	struct slot slots[SP_AGENT_MAX_CONNS];
	unsigned nconns;
} agent = { .listener = { .fd = -1 }, .timer = { .fd = -1 }, .hand = -1 };

static void listener_events(void);
static void front_start(void);

/* ---- connections ---------------------------------------------------------------------------- */

static struct slot *slot_of(uint32_t id)
{
	uint32_t i = FE_CONN_SLOT(id);

	if (i >= SP_AGENT_MAX_CONNS || !agent.slots[i].used || agent.slots[i].tt.id != id)
		return NULL;
	return &agent.slots[i];
}

static void slot_close(struct slot *s, const char *why)
{
	sp_debug("agent", "connection %#x closed: %s", s->tt.id, why);
	s->used = false; /* first: a cancel hook sees no connection to answer on */
	tt_conn_destroy(&s->tt);
	agent.nconns--;
}

/* Answers go to the front-end in batches: the answers a batch of requests produced at once in
 * one frame, an answer that comes later (a parked call) in a frame of its own. */
static int reply_flush(void)
{
	struct sp_err err;
	int r = 0;

	if (agent.reply_len && agent.front &&
	    sp_worker_send(agent.front, FE_REPLY, agent.reply, agent.reply_len, &err) < 0) {
		/* More queued than the front-end reads: it is stuck or taken over. */
		sp_warn("agent", "front-end: %s; restarting it", err.msg);
		sp_worker_kill(agent.front);
		r = -1;
	}
	agent.reply_len = 0;
	if (agent.reply_cap > ((size_t)1 << 20)) {
		free(agent.reply);
		agent.reply = NULL;
		agent.reply_cap = 0;
	}
	return r;
}

/* struct fe_reply_hdr, the message, the payload packed in place. */
static int send_reply(struct tt_conn *conn, uint32_t stream, enum tt_code code, const char *message,
		      const ProtobufCMessage *msg)
{
	size_t mlen = message ? strnlen(message, TT_MAX_MESSAGE - 1) : 0;
	size_t plen = msg ? protobuf_c_message_get_packed_size(msg) : 0;
	size_t len = sizeof(struct fe_reply_hdr) + mlen + plen;
	struct fe_reply_hdr h = { conn->id, stream, code, (uint32_t)mlen, (uint32_t)plen };
	uint8_t *p;

	if (!agent.front || len > FE_REPLY_MAX)
		return -1;
	if (agent.reply_len && agent.reply_len + len > FE_BATCH_SOFT && reply_flush() < 0)
		return -1;
	if (!agent.reply || agent.reply_len + len > agent.reply_cap) {
		size_t cap = agent.reply_len + len < 65536 ? 65536 : agent.reply_len + len;

		p = realloc(agent.reply, cap);
		if (!p)
			return -1;
		agent.reply = p;
		agent.reply_cap = cap;
	}
	p = agent.reply + agent.reply_len;
	memcpy(p, &h, sizeof(h));
	if (mlen)
		memcpy(p + sizeof(h), message, mlen);
	if (msg)
		protobuf_c_message_pack(msg, p + sizeof(h) + mlen);
	agent.reply_len += len;
	return agent.batching ? 0 : reply_flush();
}

static const struct tt_sink sink = { send_reply };

static bool peer_allowed(const struct sp_sockaddr_vm *peer)
{
	if (peer->svm_cid == SP_VSOCK_CID_HOST)
		return true;
	return peer->svm_cid == SP_VSOCK_CID_LOCAL && agent.accept_loopback;
}

/* The socket to the front-end, with its id; 0, or -1 (the connection is refused). */
static int hand_over(uint32_t id, int fd)
{
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { &id, sizeof(id) };
	struct msghdr m = { .msg_iov = &iov,
			    .msg_iovlen = 1,
			    .msg_control = cbuf,
			    .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
	ssize_t n;

	memset(cbuf, 0, sizeof(cbuf));
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	do
		n = sendmsg(agent.hand, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n == (ssize_t)sizeof(id))
		return 0;
	sp_warn("agent", "refused connection: passing it to the front-end: %s",
		n < 0 ? strerror(errno) : "short write");
	return -1;
}

static void accept_one(int fd, const struct sp_sockaddr_vm *peer)
{
	struct slot *s = NULL;
	uint32_t i;

	if (agent.vsock && !peer_allowed(peer)) {
		sp_warn("agent", "refused connection from vsock cid %u port %u", peer->svm_cid,
			peer->svm_port);
		close(fd);
		return;
	}
	for (i = 0; i < SP_AGENT_MAX_CONNS && !s; i++)
		if (!agent.slots[i].used)
			s = &agent.slots[i];
	if (!s) {
		sp_warn("agent", "refused connection: %d connections open", SP_AGENT_MAX_CONNS);
		close(fd);
		return;
	}
	i = (uint32_t)(s - agent.slots);
	s->gen = (s->gen + 1) & 0xffffff;
	tt_conn_init(&s->tt, agent.server, &sink, s->gen << 8 | i);
	if (hand_over(s->tt.id, fd) == 0) {
		s->used = true;
		agent.nconns++;
		if (agent.vsock)
			sp_debug("agent", "connection %#x from vsock cid %u", s->tt.id,
				 peer->svm_cid);
		else
			sp_debug("agent", "connection %#x", s->tt.id);
	}
	close(fd); /* the front-end has its own copy now */
}

static void listener_on_event(struct sp_watch *w, uint32_t events)
{
	(void)events;
	/* Only while a front-end takes them: otherwise they wait in the backlog. */
	while (agent.front) {
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

/* ---- the front-end -------------------------------------------------------------------------- */

/* One request of a batch: its length, or 0 when the batch is malformed. */
static size_t on_request(const uint8_t *p, size_t len)
{
	struct fe_request_hdr h;
	struct slot *s;

	if (len < sizeof(h))
		return 0;
	memcpy(&h, p, sizeof(h));
	if (h.form_len > len - sizeof(h))
		return 0;
	s = slot_of(h.conn);
	if (s) /* else closed meanwhile: nobody to answer */
		tt_conn_dispatch(&s->tt, h.stream, h.method, h.timeout_nano, p + sizeof(h),
				 h.form_len);
	return sizeof(h) + h.form_len;
}

static int on_requests(const uint8_t *p, uint32_t len, struct sp_err *err)
{
	size_t off, n;

	agent.batching = true;
	for (off = 0; off < len && agent.front; off += n)
		if (!(n = on_request(p + off, len - off)))
			break;
	agent.batching = false;
	(void)reply_flush();
	if (off < len && agent.front)
		return sp_fail(err, SP_E_INVALID, 0, "front-end: a request batch cut at byte %zu",
			       off);
	return 0;
}

/* A frame from the front-end; the worker primitive checked its type and length bounds. */
static int on_frame(void *arg, uint32_t type, const uint8_t *p, uint32_t len, struct sp_err *err)
{
	uint32_t id;
	struct slot *s;

	(void)arg;
	if (type == FE_REQUEST)
		return on_requests(p, len, err);
	if (type == FE_CLOSED) {
		memcpy(&id, p, sizeof(id));
		s = slot_of(id);
		if (s)
			slot_close(s, "the peer or the front-end closed it");
		listener_events(); /* a slot is free: accept what waits */
		return 0;
	}
	return sp_fail(err, SP_E_INVALID, 0, "front-end: a frame of type %u", type);
}

static unsigned restart_delay(void)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	/* One that lived a while is restarted at once; one that keeps dying waits longer and
	 * longer, so PID 1 does not spin on it. */
	if (now.tv_sec - agent.started.tv_sec >= 5)
		agent.restart_s = 0;
	else
		agent.restart_s = agent.restart_s ? agent.restart_s * 2 : 1;
	if (agent.restart_s > RESTART_MAX_S)
		agent.restart_s = RESTART_MAX_S;
	return agent.restart_s;
}

static void on_timer(struct sp_watch *w, uint32_t events)
{
	uint64_t n;

	(void)events;
	if (read(w->fd, &n, sizeof(n)) < 0 && errno == EAGAIN)
		return;
	front_start();
}

static void restart_later(unsigned secs)
{
	struct itimerspec its = { .it_value = { .tv_sec = secs } };
	struct sp_err err;

	if (agent.timer.fd < 0) {
		agent.timer.fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
		agent.timer.on_event = on_timer;
		if (agent.timer.fd < 0 ||
		    sp_loop_add(agent.loop, &agent.timer, EPOLLIN, &err) < 0) {
			sp_warn("agent", "front-end: no restart timer; restarting now");
			front_start();
			return;
		}
	}
	if (timerfd_settime(agent.timer.fd, 0, &its, NULL) < 0)
		front_start();
}

/* The front-end is gone: its connections with it, each call cancelled as a closed connection
 * cancels it; then a new one. */
static void on_done(void *arg, int ret, const struct sp_err *err)
{
	unsigned cancelled = 0, delay;

	(void)arg;
	agent.front = NULL;
	close(agent.hand);
	agent.hand = -1;
	for (size_t i = 0; i < SP_AGENT_MAX_CONNS; i++)
		if (agent.slots[i].used) {
			cancelled += agent.slots[i].tt.nparked;
			slot_close(&agent.slots[i], "the front-end is gone");
		}
	listener_events();
	delay = restart_delay();
	sp_warn("agent", "front-end gone (%s), %u parked calls cancelled; restarting it%s",
		ret < 0 && err ? err->msg : "it exited", cancelled, delay ? " shortly" : "");
	if (delay)
		restart_later(delay);
	else
		front_start();
}

static void front_start(void)
{
	int sv[2];
	struct sp_worker_start st = {
		.loop = agent.loop,
		.def = agent.def,
		.on_frame = on_frame,
		.done = on_done,
	};
	struct sp_err err;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		sp_warn("agent", "front-end: socketpair: %s", strerror(errno));
		restart_later(restart_delay() ? agent.restart_s : 1);
		return;
	}
	st.spawn.fds = &sv[1];
	st.spawn.nfds = 1;
	/* Off PID 1 without root (host tests) nothing can be confined. */
	st.spawn.unconfined = !sp_is_pid1() && geteuid() != 0;
	clock_gettime(CLOCK_MONOTONIC, &agent.started);
	if (sp_worker_start(&st, &agent.front, &err) < 0) {
		close(sv[0]);
		close(sv[1]);
		agent.front = NULL;
		sp_warn("agent", "front-end: %s", err.msg);
		restart_later(restart_delay() ? agent.restart_s : 1);
		return;
	}
	close(sv[1]);
	agent.hand = sv[0];
	agent.restarts++;
	sp_debug("agent", "front-end started, pid %d", (int)sp_worker_pid(agent.front));
	listener_events();
}

/* Accept while a front-end takes connections (over the cap, to refuse them at once). */
static void listener_events(void)
{
	uint32_t ev = agent.front ? EPOLLIN : 0;
	struct sp_err err;

	if (agent.listener.fd < 0 || ev == agent.listen_events)
		return;
	if (sp_loop_mod(agent.loop, &agent.listener, ev, &err) < 0)
		sp_warn("agent", "%s", err.msg);
	else
		agent.listen_events = ev;
}

/* ---- the listening socket ------------------------------------------------------------------- */

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

int sp_agent_listen(const struct sp_agent_listen_conf *c, struct sp_err *err)
{
	int fd;

	agent.loop = c->loop;
	agent.server = c->server;
	agent.def = c->front;
	agent.vsock = c->addr->kind == SP_ADDR_VSOCK;
	agent.accept_loopback = c->accept_loopback;
	fd = agent.vsock ? bind_vsock(c->addr->port, err) : bind_unix(c->addr->path, err);
	if (fd < 0)
		return -1;
	agent.listener = (struct sp_watch){ .fd = fd, .on_event = listener_on_event };
	agent.listen_events = 0;
	if (sp_loop_add(agent.loop, &agent.listener, 0, err) < 0) {
		close(fd);
		agent.listener.fd = -1;
		return -1;
	}
	front_start();
	return 0;
}

pid_t sp_agent_front_pid(void)
{
	return agent.front ? sp_worker_pid(agent.front) : 0;
}

void sp_agent_shutdown(void)
{
	static struct sp_worker *volatile stopped;

	if (agent.front) {
		/* The handle frees itself once the worker is gone, when the loop next runs; at the
		 * host-mode exit that never comes, so it stays reachable here. */
		stopped = agent.front;
		sp_worker_cancel(stopped);
		agent.front = NULL;
	}
	for (size_t i = 0; i < SP_AGENT_MAX_CONNS; i++)
		if (agent.slots[i].used)
			slot_close(&agent.slots[i], "shutdown");
	if (agent.hand >= 0)
		close(agent.hand);
	agent.hand = -1;
	if (agent.listener.fd >= 0) {
		sp_loop_release(agent.loop, &agent.listener);
		close(agent.listener.fd);
		agent.listener.fd = -1;
	}
}
