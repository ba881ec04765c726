/* The front-end process (see front.h): its loop over the host's connections, the socket to PID 1
 * and the socket the connections arrive on. */
#define _GNU_SOURCE
#include "front/front.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "front/conn.h"
#include "lib/log.h"
#include "lib/loop.h"

#define HDR		 sizeof(struct sp_frame_hdr)
#define UP_SOFT_MAX	 ((size_t)8 << 20)  /* stop reading the host while PID 1 lags this much */
#define UP_HARD_MAX	 ((size_t)32 << 20) /* refuse a request rather than queue past this */
#define OUT_TOTAL_MAX	 ((size_t)32 << 20) /* replies waiting for all peers together */
#define STALL_MS	 30000		    /* a frame begun must keep arriving... */
#define FRAME_MS	 180000		    /* ...and be whole within this */
#define SWEEP_MS	 1000
#define READS_PER_WAKEUP 8

struct fconn {
	struct sp_watch w;
	struct fe_conn fe;
	bool used, closed, dirty;
	uint32_t events;
	int64_t last_rx_ms;
};

static struct {
	struct sp_loop loop;
	const struct tt_server *server;
	struct sp_watch up, hand;
	struct sp_frame_rx rx;
	uint8_t *tx;
	size_t tx_off, tx_len, tx_cap;
	size_t batch; /* where the FE_REQUEST frame that may still grow starts in tx, or SIZE_MAX */
	uint32_t up_events;
	bool gone, paused;
	struct fe_totals totals;
	struct fconn conns[FE_MAX_CONNS];
	struct fconn *dirty[FE_MAX_CONNS]; /* answered, not flushed yet */
	size_t ndirty;
} fe = { .up = { .fd = -1 }, .hand = { .fd = -1 }, .batch = SIZE_MAX };

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- frames to PID 1 ------------------------------------------------------------------------ */

static size_t up_pending(void)
{
	return fe.tx_len - fe.tx_off;
}

/* Room for n more bytes at the end of the queue (not yet counted in it). */
static uint8_t *up_room(size_t n)
{
	size_t cap;
	uint8_t *p;

	if (up_pending() + n > UP_HARD_MAX)
		return NULL;
	if (fe.tx_len + n <= fe.tx_cap)
		return fe.tx + fe.tx_len;
	if (fe.tx_off) {
		memmove(fe.tx, fe.tx + fe.tx_off, up_pending());
		fe.tx_len -= fe.tx_off;
		if (fe.batch != SIZE_MAX)
			fe.batch -= fe.tx_off;
		fe.tx_off = 0;
	}
	for (cap = fe.tx_cap ? fe.tx_cap : 65536; cap < fe.tx_len + n; cap *= 2)
		;
	if (cap > fe.tx_cap) {
		p = realloc(fe.tx, cap);
		if (!p)
			return NULL;
		fe.tx = p;
		fe.tx_cap = cap;
	}
	return fe.tx + fe.tx_len;
}

/* n bytes for PID 1: added to the open FE_REQUEST batch (batch) when it has room, else in a
 * new frame of type (which stays open for more when it is a batch). */
static uint8_t *up_add(uint32_t type, size_t n, bool batch)
{
	struct sp_frame_hdr h;
	uint8_t *p;

	if (batch && fe.batch != SIZE_MAX) {
		memcpy(&h, fe.tx + fe.batch, HDR);
		if (h.len < FE_BATCH_SOFT && h.len + n <= FE_BATCH_MAX && (p = up_room(n))) {
			h.len += (uint32_t)n;
			memcpy(fe.tx + fe.batch, &h, HDR);
			fe.tx_len += n;
			return p;
		}
	}
	p = up_room(HDR + n);
	if (!p)
		return NULL;
	h = (struct sp_frame_hdr){ type, (uint32_t)n };
	memcpy(p, &h, HDR);
	fe.batch = batch ? fe.tx_len : SIZE_MAX;
	fe.tx_len += HDR + n;
	return p + HDR;
}

static void conn_events(struct fconn *c);

static void up_set_events(void)
{
	uint32_t ev = EPOLLIN | (up_pending() ? EPOLLOUT : 0);
	struct sp_err err;
	bool paused = up_pending() > UP_SOFT_MAX;

	if (ev != fe.up_events && sp_loop_mod(&fe.loop, &fe.up, ev, &err) == 0)
		fe.up_events = ev;
	if (paused == fe.paused)
		return;
	fe.paused = paused;
	for (size_t i = 0; i < FE_MAX_CONNS; i++)
		if (fe.conns[i].used && !fe.conns[i].closed)
			conn_events(&fe.conns[i]);
}

static void up_flush(void)
{
	while (up_pending()) {
		ssize_t n = send(fe.up.fd, fe.tx + fe.tx_off, up_pending(),
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		fe.batch = SIZE_MAX; /* what is on its way cannot grow */

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0) {
			fe.gone = true; /* PID 1 closed our socket: we are being stopped */
			return;
		}
		fe.tx_off += (size_t)n;
	}
	if (!up_pending() && fe.tx_cap > ((size_t)1 << 20)) {
		free(fe.tx);
		fe.tx = NULL;
		fe.tx_cap = fe.tx_off = fe.tx_len = 0;
	}
	up_set_events();
}

/* ---- the host's connections ----------------------------------------------------------------- */

static uint8_t *sink_begin(struct fe_conn *c, uint32_t stream, uint32_t method,
			   int64_t timeout_nano, size_t size)
{
	struct fe_request_hdr h = { c->id, stream, method, (uint32_t)size, timeout_nano };
	uint8_t *p = up_add(FE_REQUEST, sizeof(h) + size, true);

	if (!p)
		return NULL;
	memcpy(p, &h, sizeof(h));
	return p + sizeof(h);
}

static void sink_end(struct fe_conn *c)
{
	(void)c;
}

static const struct fe_sink sink = { sink_begin, sink_end };

static void conn_close(struct fconn *c, const char *why)
{
	uint8_t *p;

	if (c->closed)
		return;
	c->closed = true;
	sp_debug("front", "connection %#x closed: %s", c->fe.id, why);
	sp_loop_release(&fe.loop, &c->w);
	p = up_add(FE_CLOSED, sizeof(uint32_t), false);
	if (p)
		memcpy(p, &c->fe.id, sizeof(uint32_t));
	else
		fe.gone = true; /* PID 1 would never learn: start over rather than leak its calls */
}

static void conn_release(struct sp_watch *w)
{
	struct fconn *c = (struct fconn *)w;

	fe_conn_destroy(&c->fe);
	close(c->w.fd);
	c->w.fd = -1;
	c->used = false;
}

static void conn_events(struct fconn *c)
{
	uint32_t ev = 0;
	struct sp_err err;

	if (fe_conn_pending(&c->fe) < FE_OUT_SOFT_MAX && !fe.paused)
		ev |= EPOLLIN;
	if (fe_conn_pending(&c->fe) > 0)
		ev |= EPOLLOUT;
	if (ev == c->events)
		return;
	if (sp_loop_mod(&fe.loop, &c->w, ev, &err) < 0) {
		conn_close(c, "epoll");
		return;
	}
	c->events = ev;
}

/* Writes what is pending until the socket is full; then the events it needs. */
static void conn_flush(struct fconn *c)
{
	for (;;) {
		size_t len;
		const uint8_t *p = fe_conn_output(&c->fe, &len);
		ssize_t n;

		if (c->fe.broken) {
			conn_close(c, "output limit exceeded");
			return;
		}
		if (len == 0)
			break;
		n = send(c->w.fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0) {
			conn_close(c, "write failed");
			return;
		}
		fe_conn_consume(&c->fe, (size_t)n);
	}
	conn_events(c);
}

static void conn_read(struct fconn *c)
{
	uint8_t buf[16384];

	/* A few reads per wakeup, so one busy peer cannot starve the others. */
	for (int i = 0;
	     i < READS_PER_WAKEUP && fe_conn_pending(&c->fe) < FE_OUT_SOFT_MAX && !fe.paused; i++) {
		ssize_t n = recv(c->w.fd, buf, sizeof(buf), MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0) {
			conn_close(c, n == 0 ? "peer closed" : strerror(errno));
			return;
		}
		c->last_rx_ms = c->fe.now_ms = now_ms();
		fe_conn_feed(&c->fe, buf, (size_t)n);
		/* A short read drained the socket: the loop is level-triggered and calls again
		 * when more arrives, so a recv that would only say EAGAIN is saved. */
		if (c->fe.broken || (size_t)n < sizeof(buf))
			break;
	}
}

static void conn_on_event(struct sp_watch *w, uint32_t events)
{
	struct fconn *c = (struct fconn *)w;

	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
		conn_read(c);
	if (!c->closed)
		conn_flush(c);
}

static void conn_add(uint32_t id, int fd)
{
	struct fconn *c = &fe.conns[FE_CONN_SLOT(id) % FE_MAX_CONNS];
	struct sp_err err;

	if (FE_CONN_SLOT(id) >= FE_MAX_CONNS || c->used) {
		sp_warn("front", "connection %#x: slot taken, closed", id);
		close(fd);
		return;
	}
	memset(c, 0, sizeof(*c));
	c->w = (struct sp_watch){ .fd = fd, .on_event = conn_on_event, .on_release = conn_release };
	fe_conn_init(&c->fe, fe.server, &sink, &fe.totals, id);
	c->last_rx_ms = now_ms();
	c->events = fe.paused ? 0 : EPOLLIN;
	if (sp_loop_add(&fe.loop, &c->w, c->events, &err) < 0) {
		sp_warn("front", "%s", err.msg);
		close(fd);
		return;
	}
	c->used = true;
}

/* ---- what PID 1 sends ----------------------------------------------------------------------- */

/* One answer of a batch: its length, or 0 when the batch is malformed (PID 1 is ours: a bug). */
static size_t on_reply(const uint8_t *p, size_t len)
{
	struct fe_reply_hdr h;
	char message[TT_MAX_MESSAGE];
	struct fconn *c;

	if (len < sizeof(h))
		return 0;
	memcpy(&h, p, sizeof(h));
	if (h.msglen >= sizeof(message) || h.msglen > len - sizeof(h) ||
	    h.len > len - sizeof(h) - h.msglen)
		return 0;
	memcpy(message, p + sizeof(h), h.msglen);
	message[h.msglen] = '\0';
	c = &fe.conns[FE_CONN_SLOT(h.conn) % FE_MAX_CONNS];
	if (FE_CONN_SLOT(h.conn) < FE_MAX_CONNS && c->used && !c->closed && c->fe.id == h.conn) {
		fe_conn_respond(&c->fe, h.stream, h.code, message, p + sizeof(h) + h.msglen, h.len);
		if (!c->dirty) {
			c->dirty = true;
			fe.dirty[fe.ndirty++] = c;
		}
	} /* else the connection went away meanwhile */
	return sizeof(h) + h.msglen + h.len;
}

static int on_replies(const uint8_t *p, uint32_t len)
{
	for (size_t off = 0, n; off < len; off += n)
		if (!(n = on_reply(p + off, len - off)))
			return -1;
	return 0;
}

/* Each answered connection's output goes out once per batch. */
static void flush_dirty(void)
{
	for (size_t i = 0; i < fe.ndirty; i++) {
		fe.dirty[i]->dirty = false;
		if (!fe.dirty[i]->closed)
			conn_flush(fe.dirty[i]);
	}
	fe.ndirty = 0;
}

static void up_read(void)
{
	struct sp_err err;

	for (int i = 0; i < 16 && !fe.gone; i++) {
		size_t room = fe.rx.cap - fe.rx.end;
		ssize_t n = sp_frame_rx_read(&fe.rx, fe.up.fd);
		const uint8_t *p;
		uint32_t type, len;
		int r;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0) {
			fe.gone = true;
			break;
		}
		while ((r = sp_frame_next(&fe.rx, &type, &p, &len, &err)) == 1)
			if (type != FE_REPLY || on_replies(p, len) < 0) {
				sp_warn("front", "a frame of type %u from PID 1 makes no sense",
					type);
				fe.gone = true;
				return;
			}
		if (r < 0) {
			sp_warn("front", "%s", err.msg);
			fe.gone = true;
			return;
		}
		/* A short read drained the socket (the loop calls again when more comes). */
		if (room && (size_t)n < room)
			break;
	}
	flush_dirty();
}

static void up_on_event(struct sp_watch *w, uint32_t events)
{
	(void)w;
	if (events & EPOLLOUT)
		up_flush();
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
		up_read();
}

/* Connections PID 1 accepted: a u32 id and the socket per datagram. */
static void hand_on_event(struct sp_watch *w, uint32_t events)
{
	for (int i = 0; i < 16; i++) {
		uint32_t id;
		char cbuf[CMSG_SPACE(sizeof(int))];
		struct iovec iov = { &id, sizeof(id) };
		struct msghdr m = { .msg_iov = &iov,
				    .msg_iovlen = 1,
				    .msg_control = cbuf,
				    .msg_controllen = sizeof(cbuf) };
		struct cmsghdr *cm;
		ssize_t n = recvmsg(w->fd, &m, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		int fd = -1;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			fe.gone = true;
			return;
		}
		cm = CMSG_FIRSTHDR(&m);
		if (cm && cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS &&
		    cm->cmsg_len == CMSG_LEN(sizeof(int)))
			memcpy(&fd, CMSG_DATA(cm), sizeof(int));
		if (fd < 0)
			continue;
		if (n != sizeof(id) || (m.msg_flags & MSG_CTRUNC)) {
			close(fd);
			continue;
		}
		conn_add(id, fd);
	}
	(void)events;
}

/* ---- the loop ------------------------------------------------------------------------------- */

/* Deadlines of frames under way, and the replies' total: whoever holds the most goes first. */
static bool sweep(void)
{
	int64_t now = now_ms();
	size_t out = fe.totals.out;
	bool partial = false;

	for (size_t i = 0; i < FE_MAX_CONNS; i++) {
		struct fconn *c = &fe.conns[i];

		if (!c->used || c->closed || !fe_conn_partial(&c->fe))
			continue;
		if (now - c->last_rx_ms > STALL_MS)
			conn_close(c, "a frame stalled");
		else if (now - c->fe.frame_start_ms > FRAME_MS)
			conn_close(c, "a frame took too long");
		else
			partial = true;
	}
	while (out > OUT_TOTAL_MAX) {
		struct fconn *big = NULL;

		for (size_t i = 0; i < FE_MAX_CONNS; i++)
			if (fe.conns[i].used && !fe.conns[i].closed &&
			    (!big || fe.conns[i].fe.out_cap > big->fe.out_cap))
				big = &fe.conns[i];
		if (!big)
			break;
		out -= big->fe.out_cap;
		conn_close(big, "replies to all peers over their total");
	}
	return partial;
}

static int setup(const struct sp_worker_ctx *ctx, const struct tt_server *server,
		 struct sp_err *err)
{
	static const struct sp_frame_table in = SP_FRONT_IN;

	fe.server = server;
	if (ctx->nfds != 1)
		return sp_error(err, 0, "front: expected the connections' socket");
	if (sp_loop_init(&fe.loop, err) < 0 || sp_frame_rx_init(&fe.rx, &in, false, err) < 0)
		return -1;
	/* Our socket to PID 1 came blocking: the loop must never wait in a read. */
	if (fcntl(ctx->fd, F_SETFL, fcntl(ctx->fd, F_GETFL) | O_NONBLOCK) < 0)
		return sp_error(err, errno, "front: O_NONBLOCK");
	fe.up = (struct sp_watch){ .fd = ctx->fd, .on_event = up_on_event };
	fe.hand = (struct sp_watch){ .fd = ctx->fds[0], .on_event = hand_on_event };
	fe.up_events = EPOLLIN;
	if (sp_loop_add(&fe.loop, &fe.up, EPOLLIN, err) < 0 ||
	    sp_loop_add(&fe.loop, &fe.hand, EPOLLIN, err) < 0)
		return -1;
	return 0;
}

int sp_front_main(const struct sp_worker_ctx *ctx, const struct tt_server *server)
{
	struct sp_err err;
	bool partial = false;

	if (setup(ctx, server, &err) < 0) {
		sp_warn("front", "%s", err.msg);
		return 1;
	}
	while (!fe.gone) {
		/* A connection the sweep closed is released (its socket closed) by the next turn. */
		int wait = fe.loop.dead ? 0 : partial ? SWEEP_MS : -1;

		if (sp_loop_run_once(&fe.loop, wait, &err) < 0) {
			sp_warn("front", "%s", err.msg);
			return 1;
		}
		partial = sweep();
		up_flush();
	}
	return 0;
}
