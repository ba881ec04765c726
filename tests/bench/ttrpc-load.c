/* ttrpc-load: a closed-loop ttRPC load generator for `make bench` (tests/bench/run).
 *
 *   ttrpc-load -s SOCKET [-c CONNS] [-k INFLIGHT] [-d SECONDS] [-w WARMUP_SECONDS] [-p PID]
 *
 * Opens CONNS Unix-socket connections and keeps INFLIGHT grpc.Health/Check requests outstanding
 * on each (pipelined: a new request goes out as soon as a reply comes back). The requests are
 * encoded by hand, byte for byte what Debian's Go ttrpc 1.1.1 client sends with a 30 s deadline
 * (docs: kata-agent.md §1.3); every reply must be an OK Response whose payload is `08 01`
 * (HealthCheckResponse{status: SERVING}) on a stream we have outstanding, else it counts as an
 * error. Latency is per request, from just before the write that sent it to the read that
 * brought its reply, matched by stream id. Requests completed during the warm-up are not counted.
 *
 * One thread, epoll, non-blocking sockets: the same client drives every server it is pointed at.
 * With -p it also samples VmRSS of that process during the measured window.
 *
 * Prints one line:
 *   us_per_call=<n> rps=<n> p50_us=<n> p99_us=<n> requests=<n> errors=<n> seconds=<n>
 *   outstanding=<n> [rss_max_kib=<n>]
 * us_per_call is the measured window divided by the calls completed in it: the time per call
 * of the whole closed loop, the inverse of rps (what the bench compares: lower is better).
 * Exit status 0 when the run completed without errors, 1 otherwise. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define HDR   10
#define SLOTS 4096 /* outstanding-request table per connection; power of two */
#define RBUF  (256 * 1024)

/* Request body: Request{service="grpc.Health", method="Check", timeout_nano=29999990105}. */
static const uint8_t req_body[] = {
	0x0a, 0x0b, 'g', 'r', 'p', 'c', '.', 'H',  'e',	 'a',  'l',  't',  'h',
	0x12, 0x05, 'C', 'h', 'e', 'c', 'k', 0x20, 0xd9, 0xca, 0x84, 0xe1, 0x6f,
};
/* Reply payload: HealthCheckResponse{status=SERVING}. */
static const uint8_t serving[] = { 0x08, 0x01 };

struct slot {
	uint32_t stream; /* 0 = free */
	uint64_t sent_ns;
};

struct conn {
	int fd;
	uint32_t next_stream;
	int inflight;
	int want_out; /* EPOLLOUT armed */
	uint8_t *out;
	size_t out_len, out_off, out_cap;
	uint8_t *in;
	size_t in_len;
	struct slot slots[SLOTS];
};

static int inflight_max = 1;
static int measuring;
static uint64_t completed, errors;
static uint32_t *lat; /* ns, measured window only */
static size_t nlat, caplat;

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char *what)
{
	perror(what);
	exit(2);
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Parse one varint; returns bytes used, 0 on a malformed one. */
static size_t varint(const uint8_t *p, size_t n, uint64_t *v)
{
	*v = 0;
	for (size_t i = 0; i < n && i < 10; i++) {
		*v |= (uint64_t)(p[i] & 0x7f) << (7 * i);
		if (!(p[i] & 0x80))
			return i + 1;
	}
	return 0;
}

/* A ttrpc Response envelope is OK when its status (field 1) is absent or carries code 0, and
 * its payload (field 2) is exactly HealthCheckResponse{SERVING}. Both our server and Go's ttrpc
 * 1.1.1 omit the OK status (12 02 08 01); an explicit code 0 is accepted all the same. */
static int response_ok(const uint8_t *p, size_t n)
{
	int payload_ok = 0;
	while (n) {
		uint64_t key, l;
		size_t k = varint(p, n, &key);
		if (!k || (key & 7) != 2)
			return 0;
		p += k, n -= k;
		k = varint(p, n, &l);
		if (!k || l > n - k)
			return 0;
		p += k, n -= k;
		if (key >> 3 == 1) { /* google.rpc.Status: code (field 1) must be 0 or absent */
			for (size_t i = 0; i < l;) {
				uint64_t sk, sv;
				size_t m = varint(p + i, l - i, &sk);
				if (!m)
					return 0;
				i += m;
				if ((sk & 7) == 0) {
					m = varint(p + i, l - i, &sv);
					if (!m || (sk >> 3 == 1 && sv != 0))
						return 0;
					i += m;
				} else if ((sk & 7) == 2) {
					m = varint(p + i, l - i, &sv);
					if (!m || sv > l - i - m)
						return 0;
					i += m + sv;
				} else {
					return 0;
				}
			}
		} else if (key >> 3 == 2) {
			payload_ok = l == sizeof(serving) &&
				     memcmp(p, serving, sizeof(serving)) == 0;
		}
		p += l, n -= l;
	}
	return payload_ok;
}

static void record(uint64_t ns)
{
	if (!measuring)
		return;
	completed++;
	if (nlat == caplat) {
		caplat = caplat ? caplat * 2 : 1 << 20;
		lat = realloc(lat, caplat * sizeof(*lat));
		if (!lat)
			die("realloc");
	}
	lat[nlat++] = ns > UINT32_MAX ? UINT32_MAX : (uint32_t)ns;
}

/* Queue requests until INFLIGHT are outstanding; the caller flushes. */
static void fill(struct conn *c, uint64_t t)
{
	size_t need = (size_t)(inflight_max - c->inflight) * (HDR + sizeof(req_body));
	if (c->out_len + need > c->out_cap) {
		c->out_cap = (c->out_len + need) * 2;
		c->out = realloc(c->out, c->out_cap);
		if (!c->out)
			die("realloc");
	}
	while (c->inflight < inflight_max) {
		uint32_t id = c->next_stream;
		struct slot *s = &c->slots[(id >> 1) & (SLOTS - 1)];
		if (s->stream) /* a very old request still holds this slot: wait for it */
			break;
		c->next_stream += 2;
		s->stream = id;
		s->sent_ns = t;
		uint8_t *p = c->out + c->out_len;
		put32(p, sizeof(req_body));
		put32(p + 4, id);
		p[8] = 1; /* request */
		p[9] = 0;
		memcpy(p + HDR, req_body, sizeof(req_body));
		c->out_len += HDR + sizeof(req_body);
		c->inflight++;
	}
}

static void arm(int ep, struct conn *c, int out)
{
	if (c->want_out == out)
		return;
	struct epoll_event ev = { .events = EPOLLIN | (out ? EPOLLOUT : 0), .data.ptr = c };
	if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev) < 0)
		die("epoll_ctl");
	c->want_out = out;
}

static void flush(int ep, struct conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			die("write");
		}
		c->out_off += (size_t)n;
	}
	if (c->out_off == c->out_len)
		c->out_off = c->out_len = 0;
	arm(ep, c, c->out_len != 0);
}

/* Returns 0, or -1 when the server closed the connection. */
static int on_readable(struct conn *c)
{
	for (;;) {
		ssize_t n = read(c->fd, c->in + c->in_len, RBUF - c->in_len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return 0;
			die("read");
		}
		if (n == 0)
			return -1;
		uint64_t t = now_ns();
		c->in_len += (size_t)n;
		size_t off = 0;
		while (c->in_len - off >= HDR) {
			const uint8_t *h = c->in + off;
			uint32_t len = get32(h), id = get32(h + 4);
			if (len > RBUF - HDR) {
				fprintf(stderr, "ttrpc-load: reply of %u bytes\n", len);
				exit(2);
			}
			if (c->in_len - off < HDR + len)
				break;
			struct slot *s = &c->slots[(id >> 1) & (SLOTS - 1)];
			int ok = h[8] == 2 && response_ok(h + HDR, len);
			if (s->stream != id) {
				errors++;
			} else {
				if (!ok)
					errors++;
				else
					record(t - s->sent_ns);
				s->stream = 0;
				c->inflight--;
			}
			off += HDR + len;
		}
		memmove(c->in, c->in + off, c->in_len - off);
		c->in_len -= off;
		if ((size_t)n < RBUF / 2)
			return 0; /* probably drained: let epoll tell us about more */
	}
}

static long vmrss_kib(int pid)
{
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	FILE *f = fopen(path, "r");
	long v = -1;
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld", &v) == 1)
			break;
	fclose(f);
	return v;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

static double pct_us(double p)
{
	if (!nlat)
		return 0;
	size_t i = (size_t)(p * (double)(nlat - 1) + 0.5);
	return lat[i] / 1000.0;
}

int main(int argc, char **argv)
{
	const char *sock = NULL;
	int nconn = 1, pid = 0, opt;
	double secs = 2, warm = 0.3;
	while ((opt = getopt(argc, argv, "s:c:k:d:w:p:")) != -1) {
		switch (opt) {
		case 's':
			sock = optarg;
			break;
		case 'c':
			nconn = atoi(optarg);
			break;
		case 'k':
			inflight_max = atoi(optarg);
			break;
		case 'd':
			secs = atof(optarg);
			break;
		case 'w':
			warm = atof(optarg);
			break;
		case 'p':
			pid = atoi(optarg);
			break;
		default:
			sock = NULL;
			nconn = 0;
			break;
		}
	}
	if (!sock || nconn < 1 || nconn > 1024 || inflight_max < 1 || inflight_max > SLOTS / 4 ||
	    secs <= 0 || warm < 0) {
		fprintf(stderr,
			"usage: %s -s SOCKET [-c CONNS] [-k INFLIGHT<=%d] [-d SECONDS] "
			"[-w WARMUP] [-p PID]\n",
			argv[0], SLOTS / 4);
		return 2;
	}

	int ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		die("epoll_create1");
	struct conn *conns = calloc((size_t)nconn, sizeof(*conns));
	if (!conns)
		die("calloc");
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(sock) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "socket path too long\n");
		return 2;
	}
	strcpy(sa.sun_path, sock);
	for (int i = 0; i < nconn; i++) {
		struct conn *c = &conns[i];
		c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (c->fd < 0)
			die("socket");
		if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
			die("connect");
		fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
		c->next_stream = 1;
		c->in = malloc(RBUF);
		if (!c->in)
			die("malloc");
		c->want_out = -1;
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
		if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0)
			die("epoll_ctl");
		c->want_out = 0;
	}

	uint64_t start = now_ns();
	uint64_t t_measure = start + (uint64_t)(warm * 1e9);
	uint64_t t_end = t_measure + (uint64_t)(secs * 1e9);
	uint64_t next_rss = t_measure;
	long rss_max = -1;
	for (int i = 0; i < nconn; i++) {
		fill(&conns[i], now_ns());
		flush(ep, &conns[i]);
	}
	struct epoll_event evs[64];
	int closed = 0;
	for (;;) {
		uint64_t t = now_ns();
		if (!measuring && t >= t_measure) {
			measuring = 1;
			t_measure = t;
		}
		if (t >= t_end)
			break;
		if (pid && measuring && t >= next_rss) {
			long r = vmrss_kib(pid);
			if (r > rss_max)
				rss_max = r;
			next_rss = t + 100000000u;
		}
		int n = epoll_wait(ep, evs, 64, 50);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("epoll_wait");
		}
		for (int i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;
			if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
				if (on_readable(c) < 0) {
					fprintf(stderr, "ttrpc-load: the server closed a "
							"connection\n");
					closed = 1;
					goto done;
				}
			}
			fill(c, now_ns());
			flush(ep, c);
		}
	}
done:;
	double elapsed = (double)(now_ns() - t_measure) / 1e9;
	uint64_t left = 0;
	for (int i = 0; i < nconn; i++)
		left += (uint64_t)conns[i].inflight;
	qsort(lat, nlat, sizeof(*lat), cmp_u32);
	printf("us_per_call=%.3f rps=%.0f p50_us=%.1f p99_us=%.1f requests=%llu errors=%llu "
	       "seconds=%.3f outstanding=%llu",
	       completed ? elapsed * 1e6 / (double)completed : 0.0,
	       measuring && elapsed > 0 ? (double)completed / elapsed : 0.0, pct_us(0.50),
	       pct_us(0.99), (unsigned long long)completed, (unsigned long long)errors, elapsed,
	       (unsigned long long)left);
	if (pid)
		printf(" rss_max_kib=%ld", rss_max);
	printf("\n");
	return errors || closed || !completed ? 1 : 0;
}
