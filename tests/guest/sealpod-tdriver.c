/* sealpod-tdriver: in-guest test driver for the control port (test overlay only).
 *
 *   sealpod-tdriver [--addr ADDR] SUBCOMMAND [ARG]
 *
 * ADDR is vsock:CID:PORT (default vsock:1:1024, the agent over vsock loopback), CID:PORT, or
 * unix:PATH (handy to run the driver on a development host against a Unix-socket server).
 * Each subcommand prints `PASS <name>` or `FAIL <name>: <why>` (plus indented detail lines) and
 * exits 0 or 1; a usage error exits 2.
 *
 *   check             Health/Check answers SERVING
 *   malformed         garbage headers and bodies, truncated frames, wrong wire types, even and
 *                     reused stream ids, unknown service/method (must be UNIMPLEMENTED); after
 *                     each, a Check on the same connection (where framing is still in sync) and
 *                     on a fresh one must answer SERVING
 *   oversize          a request frame announcing and carrying 4 MiB + 1 bytes gets
 *                     RESOURCE_EXHAUSTED on its stream and the connection stays usable
 *   listeners         the only listening socket in the guest is vsock port 1024 (tcp, tcp6,
 *                     udp, udp6, raw, raw6, unix from /proc/net, vsock from sock_diag)
 *   concurrent N      N connections open at once, each Check answered SERVING
 *   loopback-refused  the agent listens on 1024 but a loopback (CID 1) peer gets no reply
 *   churn N           N sequential connect/Check/close; PID 1's fd count and VmRSS before and
 *                     after (after 200 warm-up connections) must not grow beyond a small bound
 *                     (2 fds, 256 kB); prints the numbers and the time taken
 *   conncap N         N connections open at once (N = the agent's cap, 64, when nothing else is
 *                     connected), each answered; one more is refused (closed without a reply);
 *                     the N still answer afterwards
 *
 * ttRPC frames and protobuf are encoded by hand here, independently of the agent's codec; the
 * reference bytes are in the kata-agent notes, section 1.3.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <linux/vm_sockets.h>
#include <linux/vm_sockets_diag.h>

#define T_REQUEST		1
#define T_RESPONSE		2
#define T_DATA			3
#define FRAME_MAX		(4u << 20)
#define REPLY_CAP		(1u << 20)
#define IO_TIMEOUT_MS		10000
#define CODE_INVALID_ARGUMENT	3
#define CODE_RESOURCE_EXHAUSTED 8
#define CODE_UNIMPLEMENTED	12
#define TCP_LISTEN_STATE	10

static const char *g_addr = "vsock:1:1024";
static char g_why[512];

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...)
{
	char tmp[sizeof(g_why)];
	va_list ap;

	/* Callers may pass g_why itself as an argument, to wrap context around it. */
	va_start(ap, fmt);
	vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	memcpy(g_why, tmp, sizeof(g_why));
	return -1;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---------------------------------------------------------------------------------------- */
/* Connections                                                                               */

static int wait_fd(int fd, short ev, int64_t deadline)
{
	for (;;) {
		struct pollfd p = { .fd = fd, .events = ev };
		int64_t left = deadline - now_ms();
		int n;

		if (left <= 0)
			return -2;
		n = poll(&p, 1, (int)left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n > 0)
			return 0;
	}
}

/* Connect to g_addr; -1 with g_why and errno set on failure. */
static int dial(void)
{
	struct sockaddr_storage ss = { 0 };
	socklen_t sl;
	int fd, err = 0;
	socklen_t el = sizeof(err);
	const char *a = g_addr;

	if (strncmp(a, "unix:", 5) == 0) {
		struct sockaddr_un *su = (struct sockaddr_un *)&ss;

		if (strlen(a + 5) >= sizeof(su->sun_path))
			return fail("unix path too long");
		su->sun_family = AF_UNIX;
		strcpy(su->sun_path, a + 5);
		sl = sizeof(*su);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	} else {
		struct sockaddr_vm *sv = (struct sockaddr_vm *)&ss;
		unsigned long cid, port;
		char *end;

		if (strncmp(a, "vsock:", 6) == 0)
			a += 6;
		cid = strtoul(a, &end, 0);
		if (*end != ':')
			return fail("bad address %s", g_addr);
		port = strtoul(end + 1, &end, 0);
		if (*end)
			return fail("bad address %s", g_addr);
		sv->svm_family = AF_VSOCK;
		sv->svm_cid = (unsigned)cid;
		sv->svm_port = (unsigned)port;
		sl = sizeof(*sv);
		fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	}
	if (fd < 0)
		return fail("socket for %s: %s", g_addr, strerror(errno));
	if (connect(fd, (struct sockaddr *)&ss, sl) == 0)
		return fd;
	if (errno != EINPROGRESS && errno != EAGAIN) {
		err = errno;
		close(fd);
		errno = err;
		return fail("connect %s: %s", g_addr, strerror(err));
	}
	if (wait_fd(fd, POLLOUT, now_ms() + IO_TIMEOUT_MS) < 0) {
		close(fd);
		errno = ETIMEDOUT;
		return fail("connect %s: timed out", g_addr);
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0 || err) {
		close(fd);
		errno = err;
		return fail("connect %s: %s", g_addr, strerror(err));
	}
	return fd;
}

static int send_all(int fd, const void *data, size_t len, int64_t deadline)
{
	const unsigned char *p = data;

	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			if (wait_fd(fd, POLLOUT, deadline) < 0)
				return fail("send: timed out");
			continue;
		}
		return fail("send: %s", n == 0 ? "closed" : strerror(errno));
	}
	return 0;
}

/* Read exactly LEN bytes. 0 ok; -1 error; -3 the peer closed (EOF or reset); -2 timeout. */
static int recv_all(int fd, void *data, size_t len, int64_t deadline)
{
	unsigned char *p = data;

	while (len) {
		ssize_t n = recv(fd, p, len, 0);

		if (n > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (n == 0 || (n < 0 && (errno == ECONNRESET || errno == EPIPE))) {
			fail("connection closed by the server");
			return -3;
		}
		if (errno == EAGAIN || errno == EINTR) {
			int w = wait_fd(fd, POLLIN, deadline);

			if (w == -2) {
				fail("no reply within %d ms", IO_TIMEOUT_MS);
				return -2;
			}
			if (w < 0)
				return fail("poll: %s", strerror(errno));
			continue;
		}
		return fail("recv: %s", strerror(errno));
	}
	return 0;
}

static void put_be32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

static uint32_t get_be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int send_frame(int fd, uint32_t len, uint32_t stream, int type, int flags, const void *body,
		      size_t body_len)
{
	unsigned char h[10];
	int64_t deadline = now_ms() + 3 * IO_TIMEOUT_MS;

	put_be32(h, len);
	put_be32(h + 4, stream);
	h[8] = (unsigned char)type;
	h[9] = (unsigned char)flags;
	if (send_all(fd, h, sizeof(h), deadline) < 0)
		return -1;
	return body_len ? send_all(fd, body, body_len, deadline) : 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Protobuf, by hand                                                                         */

struct pbw {
	unsigned char d[1024];
	size_t n;
};

static void pb_varint(struct pbw *w, uint64_t v)
{
	while (v >= 0x80 && w->n < sizeof(w->d)) {
		w->d[w->n++] = (unsigned char)(v | 0x80);
		v >>= 7;
	}
	if (w->n < sizeof(w->d))
		w->d[w->n++] = (unsigned char)v;
}

static void pb_bytes(struct pbw *w, unsigned field, const void *p, size_t len)
{
	pb_varint(w, (uint64_t)field << 3 | 2);
	pb_varint(w, len);
	if (w->n + len <= sizeof(w->d)) {
		memcpy(w->d + w->n, p, len);
		w->n += len;
	}
}

/* ttrpc.Request{service, method, payload, timeout_nano = 30 s} */
static void build_request(struct pbw *w, const char *service, const char *method,
			  const void *payload, size_t plen)
{
	w->n = 0;
	pb_bytes(w, 1, service, strlen(service));
	pb_bytes(w, 2, method, strlen(method));
	if (plen)
		pb_bytes(w, 3, payload, plen);
	pb_varint(w, 4 << 3 | 0);
	pb_varint(w, 30000000000ull);
}

struct pbr {
	const unsigned char *p, *end;
};

static int pbr_varint(struct pbr *r, uint64_t *v)
{
	*v = 0;
	for (int shift = 0; shift < 64; shift += 7) {
		if (r->p >= r->end)
			return -1;
		*v |= (uint64_t)(*r->p & 0x7f) << shift;
		if (!(*r->p++ & 0x80))
			return 0;
	}
	return -1;
}

/* Next field: its number and wire type; *v for varints, *sub for length-delimited. */
static int pbr_field(struct pbr *r, unsigned *num, int *wt, uint64_t *v, struct pbr *sub)
{
	uint64_t key, len;

	if (pbr_varint(r, &key) < 0)
		return -1;
	*num = (unsigned)(key >> 3);
	*wt = (int)(key & 7);
	switch (*wt) {
	case 0:
		return pbr_varint(r, v);
	case 1:
	case 5:
		if (r->end - r->p < (*wt == 1 ? 8 : 4))
			return -1;
		r->p += *wt == 1 ? 8 : 4;
		return 0;
	case 2:
		if (pbr_varint(r, &len) < 0 || len > (uint64_t)(r->end - r->p))
			return -1;
		sub->p = r->p;
		sub->end = r->p + len;
		r->p += len;
		return 0;
	default:
		return -1;
	}
}

struct reply {
	uint32_t stream;
	int type;
	int64_t code; /* 0 when the status is absent */
	char msg[200];
	struct pbr payload;
};

/* Read one frame; on a response, decode the ttrpc.Response envelope. 0 ok, <0 as recv_all. */
static int read_reply(int fd, struct reply *rep, int timeout_ms)
{
	static unsigned char body[REPLY_CAP];
	unsigned char h[10];
	int64_t deadline = now_ms() + timeout_ms;
	uint32_t len;
	struct pbr r, sub;
	unsigned num;
	int wt, ret;
	uint64_t v;

	memset(rep, 0, sizeof(*rep));
	ret = recv_all(fd, h, sizeof(h), deadline);
	if (ret < 0)
		return ret;
	len = get_be32(h);
	rep->stream = get_be32(h + 4);
	rep->type = h[8];
	if (len > REPLY_CAP)
		return fail("reply frame of %u bytes on stream %u", len, rep->stream);
	ret = recv_all(fd, body, len, deadline);
	if (ret < 0)
		return ret;
	if (rep->type != T_RESPONSE)
		return fail("frame of type %d from the server on stream %u", rep->type,
			    rep->stream);
	r = (struct pbr){ body, body + len };
	while (r.p < r.end) {
		if (pbr_field(&r, &num, &wt, &v, &sub) < 0)
			return fail("undecodable Response envelope on stream %u", rep->stream);
		if (num == 2 && wt == 2) {
			rep->payload = sub;
		} else if (num == 1 && wt == 2) {
			struct pbr s = sub, m;

			while (s.p < s.end) {
				if (pbr_field(&s, &num, &wt, &v, &m) < 0)
					return fail("undecodable Status on stream %u", rep->stream);
				if (num == 1 && wt == 0)
					rep->code = (int64_t)(int32_t)v;
				else if (num == 2 && wt == 2)
					snprintf(rep->msg, sizeof(rep->msg), "%.*s",
						 (int)(m.end - m.p), (const char *)m.p);
			}
		}
	}
	return 0;
}

/* HealthCheckResponse.status (field 1); 0 when absent (UNKNOWN). */
static int64_t health_status(const struct reply *rep)
{
	struct pbr r = rep->payload, sub;
	unsigned num;
	int wt;
	uint64_t v, status = 0;

	while (r.p && r.p < r.end) {
		if (pbr_field(&r, &num, &wt, &v, &sub) < 0)
			return -1;
		if (num == 1 && wt == 0)
			status = v;
	}
	return (int64_t)status;
}

static int send_check(int fd, uint32_t stream)
{
	struct pbw w;

	build_request(&w, "grpc.Health", "Check", NULL, 0);
	return send_frame(fd, (uint32_t)w.n, stream, T_REQUEST, 0, w.d, w.n);
}

static int expect_serving(const struct reply *rep, uint32_t stream)
{
	int64_t st;

	if (rep->stream != stream)
		return fail("reply on stream %u, expected %u", rep->stream, stream);
	if (rep->code != 0)
		return fail("Check answered code %lld (%s)", (long long)rep->code, rep->msg);
	st = health_status(rep);
	if (st != 1)
		return fail("Check answered status %lld, expected SERVING (1)", (long long)st);
	return 0;
}

/* Check on an open connection: send on STREAM, read until that stream's reply. */
static int check_on(int fd, uint32_t stream)
{
	struct reply rep;

	if (send_check(fd, stream) < 0)
		return -1;
	for (;;) {
		if (read_reply(fd, &rep, IO_TIMEOUT_MS) < 0)
			return -1;
		if (rep.stream == stream)
			return expect_serving(&rep, stream);
	}
}

static int check_fresh(void)
{
	int fd = dial(), ret;

	if (fd < 0)
		return -1;
	ret = check_on(fd, 1);
	close(fd);
	return ret;
}

/* ---------------------------------------------------------------------------------------- */
/* Subcommands                                                                               */

static int cmd_check(void)
{
	return check_fresh();
}

enum after { SAME_CONN, CLOSE_ONLY };

struct bad_case {
	const char *name;
	unsigned char bytes[256];
	size_t len;
	uint32_t stream;  /* the stream the bad frame used (0: none worth a reply) */
	int need_code;	  /* >0: the reply on `stream` must carry this code */
	int must_reply;	  /* the bad stream must be answered (not ignored, not closed) */
	enum after after; /* SAME_CONN: framing is in sync, a Check on this connection must work */
};

static size_t frame_into(unsigned char *out, uint32_t len, uint32_t stream, int type,
			 const void *body, size_t blen)
{
	put_be32(out, len);
	put_be32(out + 4, stream);
	out[8] = (unsigned char)type;
	out[9] = 0;
	if (blen)
		memcpy(out + 10, body, blen);
	return 10 + blen;
}

static size_t req_frame(unsigned char *out, uint32_t stream, const char *svc, const char *method,
			const void *payload, size_t plen)
{
	struct pbw w;

	build_request(&w, svc, method, payload, plen);
	return frame_into(out, (uint32_t)w.n, stream, T_REQUEST, w.d, w.n);
}

static int run_bad_case(const struct bad_case *c)
{
	struct reply rep;
	int fd = dial(), ret = 0, saw_bad = 0, saw_check = 0;
	uint32_t check_stream = 101;

	if (fd < 0)
		return fail("connect: %s", g_why);
	if (send_all(fd, c->bytes, c->len, now_ms() + IO_TIMEOUT_MS) < 0) {
		close(fd);
		return -1;
	}
	if (c->after == CLOSE_ONLY) {
		/* Framing is out of step: give the server a moment to choke, then hang up. */
		if (read_reply(fd, &rep, 500) == 0 && rep.code == 0 && rep.type == T_RESPONSE &&
		    rep.stream == c->stream && c->stream) {
			close(fd);
			return fail("the server answered OK to it");
		}
		close(fd);
		return 0;
	}
	if (send_check(fd, check_stream) < 0) {
		close(fd);
		if (c->must_reply)
			return fail("connection unusable after it: %s", g_why);
		return 0; /* closed at once: allowed for this case, the fresh Check decides */
	}
	/* Replies may come in any order; stop once the Check is answered and, where the bad
	 * frame must be answered, that answer has been seen too. */
	while (!(saw_check && (saw_bad || !c->must_reply))) {
		int r = read_reply(fd, &rep, IO_TIMEOUT_MS);

		if (r == -3 && !c->must_reply)
			break; /* the server dropped this connection: allowed for this case */
		if (r < 0) {
			ret = fail("%s%s",
				   saw_bad || !c->must_reply ? "" : "no answer to it: ", g_why);
			break;
		}
		if (rep.stream == c->stream && !saw_bad) {
			saw_bad = 1;
			if (rep.code == 0) {
				ret = fail("answered OK on stream %u", rep.stream);
				break;
			}
			if (c->need_code && rep.code != c->need_code) {
				ret = fail("answered code %lld (%s), expected %d",
					   (long long)rep.code, rep.msg, c->need_code);
				break;
			}
			continue;
		}
		if (rep.stream == check_stream && !saw_check) {
			saw_check = 1;
			if (expect_serving(&rep, check_stream) < 0) {
				ret = fail("Check on the same connection: %s", g_why);
				break;
			}
			continue;
		}
		ret = fail("reply on unexpected stream %u (code %lld)", rep.stream,
			   (long long)rep.code);
		break;
	}
	close(fd);
	return ret;
}

/* The malformed inputs. `svc`/`method` set: a Request envelope (with `body` as its payload);
 * else `body` behind a header of `type` on `stream`; type 0: `body` is the whole wire image. */
#define REQ(nm, sv, me, lit, strm, code)                                                           \
	{                                                                                          \
		.name = nm, .svc = sv, .method = me, .body = lit, .blen = sizeof(lit) - 1,         \
		.stream = strm, .type = T_REQUEST, .need_code = code, .must_reply = (code) != 0,   \
		.after = SAME_CONN                                                                 \
	}
#define FRAME(nm, lit, strm, ty)                                                                   \
	{                                                                                          \
		.name = nm, .body = lit, .blen = sizeof(lit) - 1, .stream = strm, .type = ty,      \
		.after = SAME_CONN                                                                 \
	}
#define WIRE(nm, lit, strm)                                                                        \
	{                                                                                          \
		.name = nm, .body = lit, .blen = sizeof(lit) - 1, .stream = strm,                  \
		.after = CLOSE_ONLY                                                                \
	}
static const struct bad_spec {
	const char *name, *svc, *method;
	const char *body;
	size_t blen;
	uint32_t stream;
	int type, need_code, must_reply;
	enum after after;
} bad_specs[] = {
	REQ("unknown-service", "grpc.NoSuchService", "Check", "", 1, CODE_UNIMPLEMENTED),
	REQ("unknown-method", "grpc.Health", "NoSuchMethod", "", 1, CODE_UNIMPLEMENTED),
	REQ("unknown-agent-method", "grpc.AgentService", "NoSuchMethod", "", 1, CODE_UNIMPLEMENTED),
	REQ("payload-wrong-wire-type", "grpc.Health", "Check", "\x08\x01", 1, 0),
	REQ("payload-garbage", "grpc.Health", "Check", "\xff\xff", 1, 0),
	REQ("even-stream-id", "grpc.Health", "Check", "", 2, 0),
	REQ("stream-id-zero", "grpc.Health", "Check", "", 0, 0),
	FRAME("empty-request", "", 1, T_REQUEST),
	FRAME("garbage-body", "\x5b\x52\x49\x40\x37\x2e\x25\x1c\x13\x0a\x01\xf8\xef\xe6", 1,
	      T_REQUEST),
	FRAME("service-as-varint",
	      "\x08\x05\x12\x05"
	      "Check",
	      1, T_REQUEST),
	FRAME("method-as-fixed32", "\x0a\x0bgrpc.Health\x15\x01\x02\x03\x04", 1, T_REQUEST),
	FRAME("wire-type-7", "\x0a\x0bgrpc.Health\x17\x00", 1, T_REQUEST),
	FRAME("length-past-end", "\x0a\x40grpc.Health", 1, T_REQUEST),
	FRAME("varint-overflow", "\x20\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 1, T_REQUEST),
	FRAME("data-frame-unknown-stream", "abc", 7, T_DATA),
	FRAME("response-frame-from-client", "\x12\x02\x08\x01", 9, T_RESPONSE),
	FRAME("unknown-frame-type", "xyz", 11, 0x7f),
	WIRE("garbage-header", "\xde\xad\xbe\xef\x00\xad\xbe\xef\x01\x00garbage", 0xadbeef),
	WIRE("truncated-header", "\x00\x00\x00", 0),
	WIRE("truncated-body", "\x00\x00\x00\x64\x00\x00\x00\x01\x01\x00\x0a\x0bgrpc.", 1),
	WIRE("ascii-noise", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 0),
};
#undef REQ
#undef FRAME
#undef WIRE

static void bad_case_from(struct bad_case *c, const struct bad_spec *sp)
{
	*c = (struct bad_case){ .name = sp->name,
				.stream = sp->stream,
				.need_code = sp->need_code,
				.must_reply = sp->must_reply,
				.after = sp->after };
	if (sp->svc) {
		c->len = req_frame(c->bytes, sp->stream, sp->svc, sp->method, sp->body, sp->blen);
	} else if (sp->type) {
		c->len = frame_into(c->bytes, (uint32_t)sp->blen, sp->stream, sp->type, sp->body,
				    sp->blen);
	} else {
		memcpy(c->bytes, sp->body, sp->blen);
		c->len = sp->blen;
	}
}

static int cmd_malformed(void)
{
	const size_t n = sizeof(bad_specs) / sizeof(bad_specs[0]);
	struct bad_case cases[sizeof(bad_specs) / sizeof(bad_specs[0])];
	size_t i;
	int failed = 0;
	char list[400] = "";

	for (i = 0; i < n; i++)
		bad_case_from(&cases[i], &bad_specs[i]);
	for (i = 0; i < n; i++) {
		int bad = run_bad_case(&cases[i]) < 0;
		char why[2 * sizeof(g_why)] = "";

		if (bad)
			snprintf(why, sizeof(why), "%s", g_why);
		/* Whatever happened, the agent must still serve a new connection. */
		if (check_fresh() < 0) {
			size_t used = strlen(why);

			snprintf(why + used, sizeof(why) - used, "%sfresh Check afterwards: %.400s",
				 bad ? "; " : "", g_why);
			bad = 1;
		}
		if (bad) {
			printf("  not ok %s: %s\n", cases[i].name, why);
			failed++;
			if (strlen(list) + strlen(cases[i].name) + 3 < sizeof(list))
				snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
					 list[0] ? ", " : "", cases[i].name);
		} else {
			printf("  ok %s\n", cases[i].name);
		}
		fflush(stdout);
	}
	if (failed)
		return fail("%d of %zu cases failed: %s", failed, n, list);
	return 0;
}

static int cmd_oversize(void)
{
	const uint32_t len = FRAME_MAX + 1;
	static unsigned char chunk[65536];
	struct reply rep;
	int fd = dial(), ret = -1;
	int64_t deadline = now_ms() + 120000;
	uint32_t sent = 0;

	if (fd < 0)
		return -1;
	/* Bytes that would not decode as a Request either, should the limit not be enforced. */
	memset(chunk, 0, sizeof(chunk));
	if (send_frame(fd, len, 1, T_REQUEST, 0, NULL, 0) < 0)
		goto out;
	while (sent < len) {
		size_t part = len - sent < sizeof(chunk) ? len - sent : sizeof(chunk);

		if (send_all(fd, chunk, part, deadline) < 0) {
			fail("sending the oversize body (after %u bytes): %s", sent, g_why);
			goto out;
		}
		sent += (uint32_t)part;
	}
	if (read_reply(fd, &rep, IO_TIMEOUT_MS) < 0) {
		fail("reply to the oversize frame: %s", g_why);
		goto out;
	}
	if (rep.stream != 1 || rep.code != CODE_RESOURCE_EXHAUSTED) {
		fail("oversize frame answered on stream %u with code %lld (%s), expected "
		     "RESOURCE_EXHAUSTED (8) on stream 1",
		     rep.stream, (long long)rep.code, rep.msg);
		goto out;
	}
	printf("  oversize answered: code 8 (%s)\n", rep.msg);
	if (check_on(fd, 3) < 0) {
		fail("Check on the same connection afterwards: %s", g_why);
		goto out;
	}
	ret = check_fresh();
out:
	close(fd);
	return ret;
}

/* Listening sockets from /proc/net/<name>; udp and raw count every bound socket. */
static int scan_proc_net(const char *name, int *found)
{
	char path[64], line[512];
	FILE *f;
	int is_tcp = strncmp(name, "tcp", 3) == 0, is_unix = strcmp(name, "unix") == 0;

	snprintf(path, sizeof(path), "/proc/net/%s", name);
	f = fopen(path, "re");
	if (!f)
		return errno == ENOENT ? 0 : fail("open %s: %s", path, strerror(errno));
	if (!fgets(line, sizeof(line), f)) { /* header */
		fclose(f);
		return 0;
	}
	while (fgets(line, sizeof(line), f)) {
		if (is_unix) {
			unsigned flags, type, st;
			unsigned long inode;
			char p[256] = "(unnamed)";

			if (sscanf(line, "%*s %*x %*x %x %x %x %lu %255s", &flags, &type, &st,
				   &inode, p) < 4)
				continue;
			if (flags & 0x10000) { /* __SO_ACCEPTCON: listen() was called */
				printf("  listener: unix %s (inode %lu)\n", p, inode);
				(*found)++;
			}
		} else {
			char local[64];
			unsigned st;
			unsigned long inode;

			if (sscanf(line, "%*s %63s %*s %x %*s %*s %*s %*s %*s %lu", local, &st,
				   &inode) < 2)
				continue;
			if (!is_tcp || st == 0x0a) {
				char *colon = strrchr(local, ':');

				printf("  listener: %s %s port %lu (state %02x)\n", name, local,
				       colon ? strtoul(colon + 1, NULL, 16) : 0ul, st);
				(*found)++;
			}
		}
	}
	fclose(f);
	return 0;
}

struct vsock_listener {
	uint32_t cid, port;
};

/* Every vsock socket in TCP_LISTEN, through NETLINK_SOCK_DIAG. Returns the count or -1. */
static int vsock_listeners(struct vsock_listener *out, int cap)
{
	struct {
		struct nlmsghdr nlh;
		struct vsock_diag_req req;
	} msg = { .nlh = { .nlmsg_len = sizeof(msg),
			   .nlmsg_type = SOCK_DIAG_BY_FAMILY,
			   .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP,
			   .nlmsg_seq = 1 },
		  .req = { .sdiag_family = AF_VSOCK, .vdiag_states = ~0u } };
	static char buf[32768];
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG), count = 0;

	if (fd < 0)
		return fail("socket(NETLINK_SOCK_DIAG): %s", strerror(errno));
	if (sendto(fd, &msg, sizeof(msg), 0, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return fail("sock_diag request: %s", strerror(errno));
	}
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int n;
		struct nlmsghdr *h;

		if (poll(&p, 1, 5000) <= 0) {
			close(fd);
			return fail("sock_diag: no answer");
		}
		n = (int)recv(fd, buf, sizeof(buf), 0);
		if (n < 0) {
			close(fd);
			return fail("sock_diag recv: %s", strerror(errno));
		}
		for (h = (struct nlmsghdr *)buf; NLMSG_OK(h, n); h = NLMSG_NEXT(h, n)) {
			if (h->nlmsg_type == NLMSG_DONE) {
				close(fd);
				return count;
			}
			if (h->nlmsg_type == NLMSG_ERROR) {
				struct nlmsgerr *e = NLMSG_DATA(h);

				close(fd);
				return fail("vsock sock_diag: %s (kernel without "
					    "CONFIG_VSOCKETS_DIAG?)",
					    strerror(-e->error));
			}
			if (h->nlmsg_type == SOCK_DIAG_BY_FAMILY &&
			    h->nlmsg_len >= NLMSG_LENGTH(sizeof(struct vsock_diag_msg))) {
				struct vsock_diag_msg *m = NLMSG_DATA(h);

				if (m->vdiag_state == TCP_LISTEN_STATE) {
					if (count < cap)
						out[count] = (struct vsock_listener){
							m->vdiag_src_cid, m->vdiag_src_port
						};
					count++;
				}
			}
		}
	}
}

static int cmd_listeners(void)
{
	static const char *tables[] = { "tcp", "tcp6", "udp", "udp6", "raw", "raw6", "unix" };
	struct vsock_listener vl[16];
	int other = 0, nv;

	for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++)
		if (scan_proc_net(tables[i], &other) < 0)
			return -1;
	nv = vsock_listeners(vl, 16);
	if (nv < 0)
		return -1;
	for (int i = 0; i < nv && i < 16; i++)
		printf("  listener: vsock cid %d port %u\n", (int)vl[i].cid, vl[i].port);
	if (other)
		return fail("%d non-vsock listening socket(s) (see above)", other);
	if (nv != 1)
		return fail("%d vsock listeners, expected exactly one (port 1024)", nv);
	if (vl[0].port != 1024)
		return fail("the vsock listener is on port %u, expected 1024", vl[0].port);
	if (vl[0].cid != VMADDR_CID_ANY)
		printf("  note: the vsock listener is bound to cid %u, not VMADDR_CID_ANY\n",
		       vl[0].cid);
	return 0;
}

static int cmd_concurrent(int n)
{
	static int fds[1024];
	int ret = 0, i, opened = 0;

	if (n < 1 || n > 1024)
		return fail("N must be 1..1024");
	for (i = 0; i < n; i++, opened++) {
		fds[i] = dial();
		if (fds[i] < 0) {
			ret = fail("connection %d of %d: %s", i + 1, n, g_why);
			goto out;
		}
	}
	for (i = 0; i < n; i++)
		if (send_check(fds[i], 1) < 0) {
			ret = fail("connection %d: %s", i + 1, g_why);
			goto out;
		}
	/* All requests are in flight; now collect every answer. */
	for (i = 0; i < n; i++) {
		struct reply rep;

		if (read_reply(fds[i], &rep, IO_TIMEOUT_MS) < 0 || expect_serving(&rep, 1) < 0) {
			ret = fail("connection %d: %s", i + 1, g_why);
			goto out;
		}
	}
	/* And every connection stays usable for a second call. */
	for (i = 0; i < n; i++)
		if (check_on(fds[i], 3) < 0) {
			ret = fail("second Check on connection %d: %s", i + 1, g_why);
			goto out;
		}
out:
	for (i = 0; i < opened; i++)
		close(fds[i]);
	return ret;
}

static int cmd_loopback_refused(void)
{
	struct vsock_listener vl[16];
	struct reply rep;
	int nv = vsock_listeners(vl, 16), fd, r, found = 0;

	/* A dead agent would refuse too: first make sure it is there. */
	if (nv < 0)
		return -1;
	for (int i = 0; i < nv && i < 16; i++)
		found |= vl[i].port == 1024;
	if (!found)
		return fail("no vsock listener on port 1024: the agent is not serving at all");
	fd = dial();
	if (fd < 0) {
		printf("  connect refused: %s\n", g_why);
		return 0;
	}
	if (send_check(fd, 1) < 0) {
		printf("  send failed: %s\n", g_why);
		close(fd);
		return 0;
	}
	r = read_reply(fd, &rep, IO_TIMEOUT_MS);
	close(fd);
	if (r == -3) {
		printf("  connection closed without a reply\n");
		return 0;
	}
	if (r == 0)
		return fail("a loopback peer got a reply (stream %u, code %lld)", rep.stream,
			    (long long)rep.code);
	if (r == -2)
		return fail("the connection was neither answered nor closed within %d ms",
			    IO_TIMEOUT_MS);
	/* Any other read error means the connection is dead: refused. */
	printf("  connection failed: %s\n", g_why);
	return 0;
}

/* PID 1's open fds and VmRSS (kB); -1 with g_why on failure. */
static int pid1_usage(long *fds, long *rss_kb)
{
	char line[256];
	FILE *f = fopen("/proc/1/status", "re");
	DIR *dir;
	struct dirent *e;

	*fds = *rss_kb = -1;
	if (!f)
		return fail("open /proc/1/status: %s", strerror(errno));
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, "VmRSS:", 6) == 0)
			*rss_kb = strtol(line + 6, NULL, 10);
	fclose(f);
	if (*rss_kb < 0)
		return fail("no VmRSS in /proc/1/status");
	dir = opendir("/proc/1/fd");
	if (!dir)
		return fail("open /proc/1/fd: %s", strerror(errno));
	*fds = 0;
	while ((e = readdir(dir)))
		if (e->d_name[0] != '.')
			(*fds)++;
	closedir(dir);
	return 0;
}

/* PID 1 frees a closed connection after its loop batch: give it a moment before measuring. */
static void settle(void)
{
	struct timespec ts = { 0, 300 * 1000000L };

	nanosleep(&ts, NULL);
}

static int cmd_churn(long n)
{
	long fds0, rss0, fds1, rss1;
	int64_t t0, dt;

	if (n < 1)
		return fail("N must be at least 1");
	for (int i = 0; i < 200; i++) /* warm-up: PID 1's allocator reaches its steady state */
		if (check_fresh() < 0)
			return fail("warm-up connection %d: %s", i + 1, g_why);
	settle();
	if (pid1_usage(&fds0, &rss0) < 0)
		return -1;
	t0 = now_ms();
	for (long i = 0; i < n; i++)
		if (check_fresh() < 0)
			return fail("connection %ld of %ld: %s", i + 1, n, g_why);
	dt = now_ms() - t0;
	settle();
	if (pid1_usage(&fds1, &rss1) < 0)
		return -1;
	printf("  churn: %ld connections in %lld ms (%.0f us each); PID 1 fds %ld -> %ld, "
	       "VmRSS %ld -> %ld kB\n",
	       n, (long long)dt, dt * 1000.0 / (double)n, fds0, fds1, rss0, rss1);
	if (fds1 > fds0 + 2)
		return fail("PID 1's fds grew from %ld to %ld", fds0, fds1);
	if (rss1 > rss0 + 256)
		return fail("PID 1's VmRSS grew from %ld to %ld kB", rss0, rss1);
	return 0;
}

static int cmd_conncap(int n)
{
	static int fds[1024];
	struct reply rep;
	int ret = 0, i, opened = 0, extra, r;

	if (n < 1 || n > 1024)
		return fail("N must be 1..1024");
	for (i = 0; i < n; i++, opened++) {
		fds[i] = dial();
		if (fds[i] < 0) {
			ret = fail("connection %d of %d: %s", i + 1, n, g_why);
			goto out;
		}
		/* Answered, so PID 1 has accepted and counts it before the next one. */
		if (check_on(fds[i], 1) < 0) {
			ret = fail("connection %d of %d: %s", i + 1, n, g_why);
			opened++;
			goto out;
		}
	}
	extra = dial();
	if (extra < 0) {
		printf("  connection %d: connect refused: %s\n", n + 1, g_why);
	} else {
		if (send_check(extra, 1) < 0) {
			printf("  connection %d: send failed: %s\n", n + 1, g_why);
		} else {
			r = read_reply(extra, &rep, IO_TIMEOUT_MS);
			if (r == 0) {
				close(extra);
				ret = fail("connection %d served (stream %u, code %lld): no cap",
					   n + 1, rep.stream, (long long)rep.code);
				goto out;
			}
			if (r == -2) {
				close(extra);
				ret = fail("connection %d neither answered nor closed in %d ms",
					   n + 1, IO_TIMEOUT_MS);
				goto out;
			}
			printf("  connection %d: closed without a reply (%s)\n", n + 1, g_why);
		}
		close(extra);
	}
	for (i = 0; i < n; i++)
		if (check_on(fds[i], 3) < 0) {
			ret = fail("Check on connection %d after the refusal: %s", i + 1, g_why);
			goto out;
		}
	printf("  %d connections served, connection %d refused, the %d still served\n", n, n + 1,
	       n);
out:
	for (i = 0; i < opened; i++)
		close(fds[i]);
	if (ret == 0) {
		settle();
		if (check_fresh() < 0)
			ret = fail("fresh Check after closing the %d: %s", n, g_why);
	}
	return ret;
}

static int usage(void)
{
	fprintf(stderr, "usage: sealpod-tdriver [--addr vsock:CID:PORT|CID:PORT|unix:PATH] "
			"check|malformed|oversize|listeners|concurrent N|loopback-refused|\n"
			"                      churn N|conncap N\n");
	return 2;
}

int main(int argc, char **argv)
{
	const char *cmd;
	int ret, i = 1;

	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (i + 1 < argc && (strcmp(argv[i], "--addr") == 0 || strcmp(argv[i], "-a") == 0)) {
		g_addr = argv[i + 1];
		i += 2;
	}
	if (i >= argc)
		return usage();
	cmd = argv[i];
	if (strcmp(cmd, "check") == 0)
		ret = cmd_check();
	else if (strcmp(cmd, "malformed") == 0)
		ret = cmd_malformed();
	else if (strcmp(cmd, "oversize") == 0)
		ret = cmd_oversize();
	else if (strcmp(cmd, "listeners") == 0)
		ret = cmd_listeners();
	else if (strcmp(cmd, "concurrent") == 0 && i + 1 < argc)
		ret = cmd_concurrent(atoi(argv[i + 1]));
	else if (strcmp(cmd, "loopback-refused") == 0)
		ret = cmd_loopback_refused();
	else if (strcmp(cmd, "churn") == 0 && i + 1 < argc)
		ret = cmd_churn(atol(argv[i + 1]));
	else if (strcmp(cmd, "conncap") == 0 && i + 1 < argc)
		ret = cmd_conncap(atoi(argv[i + 1]));
	else
		return usage();
	if (ret < 0) {
		printf("FAIL %s: %s\n", cmd, g_why);
		return 1;
	}
	printf("PASS %s\n", cmd);
	return 0;
}
