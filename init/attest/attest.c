/* Attestation in PID 1: starting the worker process that talks to the KBS (worker.c), the gate
 * that holds CreateContainer until the guest has attested, and resource requests. The initdata
 * boot step that settles the KBS, evidence and key (attest_conf) is boot.c.
 *
 * The worker is forked once, when attestation first starts, and lives for the boot: it holds the
 * TEE private key and the token (PID 1 never does), and answers resource requests over a stream
 * socket with length-prefixed frames. PID 1 watches its end of the socket on the loop, so the
 * health Check keeps answering whatever the KBS does.
 *
 * The worker is confined before it talks to the network (sandbox.c, sp_attest_sandbox): an empty
 * read-only root with only resolv.conf, hosts and the evidence device bind-mounted in (tpm:
 * /dev/tpmrm0; tdx/snp: configfs-tsm's report directory, snp also /dev/sev-guest), no
 * capabilities, no_new_privs and a seccomp allow-list (IPv4/IPv6 sockets only). PID 1 keeps the
 * TPM use at boot (PCR8) and everything else; the worker makes its key before (no untrusted input
 * yet) and enters the sandbox when PID 1 says the network is up (MSG_GO). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/crypto.h>

#include "agent/gate.h"
#include "agent/ttrpc.h"
#include "attest/attest.h"
#include "attest/attest_int.h"
#include "attest/worker.h"
#include "boot/boot.h"
#include "boot/config.h"
#include "lib/cleanup.h"
#include "lib/log.h"
#include "net/net.h"
#include "net/netlink.h"
#include "runtime/prepare.h"

#define MAX_WAITERS  64
#define MAX_REQUESTS 64

enum state { ST_OFF, ST_IDLE, ST_RUNNING, ST_OK, ST_FAILED };

struct request {
	uint32_t id;
	char uri[512];
	sp_resource_fn cb;
	void *arg;
	bool sent, internal;
};

static struct {
	enum state st;
	char stage[32], why[256];
	struct sp_loop *loop;
	struct sp_watch *w; /* the worker's socket, NULL when there is no worker */
	pid_t pid;
	uint8_t *rx;
	size_t rxlen, rxcap;
	struct sp_prep *waiters[MAX_WAITERS];
	size_t nwaiters;
	struct request reqs[MAX_REQUESTS];
	size_t nreqs;
	uint32_t next_id;
	bool prefetched;
	struct sp_watch grace;
	long long t_start;
} A = { .grace = { .fd = -1 } };

bool sp_attest_done(void)
{
	return A.st == ST_OK;
}

bool sp_attest_pending(void)
{
	return A.st == ST_IDLE || A.st == ST_RUNNING;
}

#ifdef SEALPOD_HOST_BUILD
void sp_attest_test_set_pending(bool pending)
{
	A.st = pending ? ST_IDLE : ST_OFF;
}
#endif

void sp_attest_arm(bool pending)
{
	A.st = pending ? ST_IDLE : ST_OFF;
}

/* --- PID 1's side ---------------------------------------------------------------------------------- */
static void grace_expired(struct sp_watch *w, uint32_t events)
{
	(void)w, (void)events;
	sp_poweroff("attestation failed", 1);
}

static void schedule_poweroff(void)
{
	struct itimerspec its = { .it_value = { .tv_nsec = 700 * 1000000L } };
	struct sp_err err;

	if (A.grace.fd >= 0 || !sp_is_pid1())
		return;
	A.grace.fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	A.grace.on_event = grace_expired;
	if (A.grace.fd < 0 || timerfd_settime(A.grace.fd, 0, &its, NULL) < 0 ||
	    sp_loop_add(A.loop, &A.grace, EPOLLIN, &err) < 0)
		sp_poweroff("attestation failed", 1);
}

/* What the host gets: the stage code and the reason without the KBS's own words (reasons never
 * hold secrets; the KBS detail may describe the owner's policy). */
static void redact(char *dst, size_t size, const char *stage, const char *why)
{
	const char *cut = strstr(why, SP_ATTEST_DETAIL_SEP);
	int n = cut ? (int)(cut - why) : (int)strlen(why);

	(void)snprintf(dst, size, "%.31s: %.*s", stage, n > 200 ? 200 : n, why);
}

static void host_error(struct sp_err *err)
{
	redact(err->msg, sizeof(err->msg), A.stage, A.why);
	err->errnum = 0;
}

static void finish_requests(bool fail_all);
static void prefetch(void);

static void attest_result(int code, const char *payload, size_t len)
{
	struct sp_err err;

	if (code == 0) {
		A.st = ST_OK;
		sp_agent_note_attested();
		sp_info("attest", "done in %lld ms", sp_attest_now_ms() - A.t_start);
		for (size_t i = 0; i < A.nwaiters; i++)
			sp_prep_done(A.waiters[i], 0, NULL);
		A.nwaiters = 0;
		if (!A.prefetched) {
			A.prefetched = true;
			prefetch();
		}
		finish_requests(false);
		return;
	}
	A.st = ST_FAILED;
	if (payload && len && memchr(payload, 0, len)) {
		(void)snprintf(A.stage, sizeof(A.stage), "%s", payload);
		size_t sl = strlen(payload) + 1;
		sp_log_escape(A.why, sizeof(A.why), payload + sl, strnlen(payload + sl, len - sl));
	} else {
		(void)snprintf(A.stage, sizeof(A.stage), "attest.auth");
		(void)snprintf(A.why, sizeof(A.why), "the attestation worker died");
	}
	sp_log_fatal(A.stage, "%s", A.why);
	host_error(&err);
	for (size_t i = 0; i < A.nwaiters; i++)
		sp_prep_done(A.waiters[i], -TT_FAILED_PRECONDITION, &err);
	A.nwaiters = 0;
	finish_requests(true);
	if (attest_conf.required) {
		sp_warn("attest", "no container will be created; powering off");
		schedule_poweroff();
	}
}

static void resource_result(uint32_t id, int code, const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < A.nreqs; i++) {
		struct request r = A.reqs[i];
		struct sp_err err = { 0 };

		if (r.id != id)
			continue;
		A.reqs[i] = A.reqs[--A.nreqs];
		if (code == 0) {
			if (r.internal) {
				uint8_t d[64];
				size_t dl;
				char hx[129];
				if (attest_conf.test_overlay &&
				    sp_hash_digest(SP_HASH_SHA256, p, len, d, &dl) == 0) {
					sp_hex(d, dl, hx);
					sp_info("attest",
						"resource %s: %zu bytes received, sha256 %s "
						"(test overlay)",
						r.uri, len, hx);
				} else {
					sp_info("attest", "resource %s: %zu bytes received", r.uri,
						len);
				}
			}
			if (r.cb)
				r.cb(r.arg, 0, p, len, NULL);
		} else {
			char stage[32] = "attest.resource", why[256] = "failed";
			if (len && memchr(p, 0, len)) {
				(void)snprintf(stage, sizeof(stage), "%s", (const char *)p);
				size_t sl = strlen(stage) + 1;
				sp_log_escape(why, sizeof(why), (const char *)p + sl,
					      strnlen((const char *)p + sl, len - sl));
			}
			sp_warn("attest", "%s: %s", stage, why);
			redact(err.msg, sizeof(err.msg), stage, why);
			if (r.cb)
				r.cb(r.arg, -TT_UNAVAILABLE, NULL, 0, &err);
		}
		return;
	}
}

static void worker_gone(void)
{
	if (A.w) {
		sp_loop_release(A.loop, A.w);
		A.w = NULL; /* on_worker_release closes and frees it after the batch */
	}
	if (A.st == ST_IDLE)
		return; /* a pre-started worker: the next attestation starts another */
	if (A.st == ST_RUNNING) {
		attest_result(-1, NULL, 0);
	} else if (A.st == ST_OK) {
		/* Resources can no longer be fetched; the next request starts a new worker. */
		A.st = ST_OK;
		finish_requests(true);
	}
}

static void on_worker(struct sp_watch *w, uint32_t events)
{
	for (;;) {
		ssize_t r;

		if (A.rxcap - A.rxlen < 65536) {
			size_t cap = A.rxcap ? A.rxcap * 2 : 65536;
			uint8_t *t;
			if (cap > MSG_MAX + sizeof(struct frame) + 65536) {
				worker_gone();
				return;
			}
			/* Not realloc: the old buffer may hold a secret that must not be left behind
			 * in freed memory. */
			t = malloc(cap);
			if (!t) {
				worker_gone();
				return;
			}
			if (A.rx) {
				memcpy(t, A.rx, A.rxlen);
				OPENSSL_cleanse(A.rx, A.rxcap);
				free(A.rx);
			}
			A.rx = t, A.rxcap = cap;
		}
		r = read(w->fd, A.rx + A.rxlen, A.rxcap - A.rxlen);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno == EAGAIN)
			break;
		if (r <= 0) {
			worker_gone();
			return;
		}
		A.rxlen += (size_t)r;
		while (A.rxlen >= sizeof(struct frame)) {
			struct frame f;
			memcpy(&f, A.rx, sizeof(f));
			if (f.len > MSG_MAX) {
				worker_gone();
				return;
			}
			if (A.rxlen < sizeof(f) + f.len)
				break;
			if (f.type == MSG_ATTEST)
				attest_result(f.code, (const char *)A.rx + sizeof(f), f.len);
			else if (f.type == MSG_RESOURCE)
				resource_result(f.id, f.code, A.rx + sizeof(f), f.len);
			OPENSSL_cleanse(A.rx + sizeof(f), f.len);
			memmove(A.rx, A.rx + sizeof(f) + f.len, A.rxlen - sizeof(f) - f.len);
			A.rxlen -= sizeof(f) + f.len;
		}
	}
	(void)events;
}

static void on_worker_release(struct sp_watch *w)
{
	close(w->fd);
	free(w);
}

static int start_worker(struct sp_err *err)
{
	int sv[2];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return sp_error(err, errno, "socketpair");
	pid = fork();
	if (pid < 0) {
		close(sv[0]), close(sv[1]);
		return sp_error(err, errno, "fork");
	}
	if (pid == 0) {
		close(sv[0]);
		sp_attest_worker_main(sv[1], &attest_conf);
	}
	close(sv[1]);
	A.pid = pid;
	A.rxlen = 0;
	A.w = calloc(1, sizeof(*A.w));
	if (!A.w) {
		close(sv[0]);
		return sp_error(err, ENOMEM, "worker watch");
	}
	A.w->fd = sv[0];
	A.w->on_event = on_worker;
	A.w->on_release = on_worker_release;
	if (fcntl(sv[0], F_SETFL, O_NONBLOCK) < 0 || sp_loop_add(A.loop, A.w, EPOLLIN, err) < 0) {
		close(sv[0]);
		free(A.w);
		A.w = NULL;
		return -1;
	}
	return 0;
}

static void begin_attestation(void)
{
	struct sp_err err = { 0 };

	if (A.st != ST_IDLE && !(A.st == ST_OK && !A.w))
		return;
	if (!A.loop)
		A.loop = sp_signals_loop();
	A.t_start = sp_attest_now_ms();
	sp_info("attest", "start: %s evidence to %s", sp_evidence_name(attest_conf.ev),
		attest_conf.kbs_url[0] ? attest_conf.kbs_url : "(no KBS)");
	A.st = ST_RUNNING;
	if (!A.loop || (!A.w && start_worker(&err) < 0) ||
	    sp_attest_send_frame(A.w->fd, MSG_GO, 0, 0, NULL, 0) < 0) {
		if (!err.msg[0])
			(void)snprintf(err.msg, sizeof(err.msg), "the attestation worker is gone");
		char buf[300];
		int n = snprintf(buf, sizeof(buf), "attest.auth%c%s", 0,
				 A.loop ? err.msg : "no event loop");
		attest_result(-1, buf, (size_t)n + 1);
	}
}

static void send_pending(void)
{
	for (size_t i = 0; i < A.nreqs; i++) {
		struct request *r = &A.reqs[i];
		if (r->sent || !A.w)
			continue;
		/* The worker reads one request at a time; a write to its socket never blocks long
		 * (requests are small and the socket buffer holds many). */
		if (sp_attest_send_frame(A.w->fd, MSG_GET, r->id, 0, r->uri, strlen(r->uri)) < 0) {
			worker_gone();
			return;
		}
		r->sent = true;
	}
}

static void finish_requests(bool fail_all)
{
	if (!fail_all) {
		send_pending();
		return;
	}
	while (A.nreqs) {
		struct request r = A.reqs[--A.nreqs];
		struct sp_err err;
		if (A.st == ST_FAILED) {
			host_error(&err);
		} else {
			(void)snprintf(err.msg, sizeof(err.msg),
				       "attest.resource: the KBS client stopped");
			err.errnum = 0;
		}
		if (r.cb)
			r.cb(r.arg, -TT_UNAVAILABLE, NULL, 0, &err);
	}
}

static int queue_request(const char *uri, sp_resource_fn cb, void *arg, bool internal,
			 struct sp_err *err)
{
	char path[512];
	struct request *r;

	if (sp_kbs_parse_uri(uri, path, sizeof(path), err) < 0)
		return sp_error_wrap(err, "attest.resource"), -TT_INVALID_ARGUMENT;
	if (!attest_conf.kbs_url[0]) {
		sp_error(err, 0, "attest.resource: no KBS is configured");
		return -TT_FAILED_PRECONDITION;
	}
	if (A.st == ST_FAILED) {
		host_error(err);
		return -TT_FAILED_PRECONDITION;
	}
	if (A.nreqs >= MAX_REQUESTS) {
		sp_error(err, 0, "attest.resource: too many requests in flight");
		return -TT_RESOURCE_EXHAUSTED;
	}
	r = &A.reqs[A.nreqs++];
	memset(r, 0, sizeof(*r));
	r->id = ++A.next_id;
	(void)snprintf(r->uri, sizeof(r->uri), "%s", uri);
	r->cb = cb, r->arg = arg, r->internal = internal;
	if (A.st == ST_OK && A.w)
		send_pending();
	else
		begin_attestation();
	return 0;
}

int sp_attest_resource_get(const char *uri, sp_resource_fn cb, void *arg, struct sp_err *err)
{
	int r = queue_request(uri, cb, arg, false, err);
	return r < 0 ? r : 0;
}

void sp_attest_resource_cancel(void *arg)
{
	for (size_t i = 0; i < A.nreqs; i++)
		if (!A.reqs[i].internal && A.reqs[i].arg == arg)
			A.reqs[i].cb = NULL; /* its reply is still read and dropped */
}

static void prefetch(void)
{
	struct sp_err err;

	for (size_t i = 0; i < attest_conf.nprefetch; i++)
		if (queue_request(attest_conf.prefetch[i], NULL, NULL, true, &err) < 0)
			sp_warn("attest", "%s", err.msg);
}

int sp_attest_gate(struct sp_prep *h, struct sp_err *err)
{
	switch (A.st) {
	case ST_OFF:
	case ST_OK:
		return 0;
	case ST_FAILED:
		host_error(err);
		return -TT_FAILED_PRECONDITION;
	case ST_IDLE:
	case ST_RUNNING:
		if (A.nwaiters >= MAX_WAITERS) {
			sp_error(err, 0, "attest: too many CreateContainer calls waiting");
			return -TT_RESOURCE_EXHAUSTED;
		}
		A.waiters[A.nwaiters++] = h;
		begin_attestation();
		/* begin_attestation may have failed at once and answered h already. */
		return SP_PREP_PENDING;
	}
	return 0;
}

void sp_attest_gate_cancel(struct sp_prep *h)
{
	for (size_t i = 0; i < A.nwaiters; i++)
		if (A.waiters[i] == h) {
			A.waiters[i] = A.waiters[--A.nwaiters];
			return;
		}
}

/* --- boot: standalone network and the early start ----------------------------------------------- */
static int standalone_net(const char *cidr, struct sp_err *err)
{
	struct sp_net_ip ip;
	struct sp_nl nl;
	struct sp_nlmsg m;
	struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC,
				 .ifi_flags = IFF_UP,
				 .ifi_change = IFF_UP };
	int idx = (int)if_nametoindex("eth0");

	if (sp_net_parse_cidr(cidr, &ip) < 0)
		return sp_error(err, 0, "sealpod.ip: not an address/prefix");
	if (idx <= 0)
		return sp_error(err, errno, "eth0");
	if (sp_nl_open(&nl, err) < 0)
		return -1;
	ifi.ifi_index = idx;
	sp_nl_begin(&m, RTM_NEWLINK, NLM_F_REQUEST, ++nl.seq, &ifi, sizeof(ifi));
	if (sp_nl_finish(&m, err) < 0 || sp_nl_do(&nl, &m, "link up eth0", err) < 0)
		goto fail;
	sp_net_build_addr(&m, RTM_NEWADDR, NLM_F_REQUEST | NLM_F_CREATE | NLM_F_REPLACE, ++nl.seq,
			  idx, &ip);
	if (sp_nl_finish(&m, err) < 0 || sp_nl_do(&nl, &m, "address eth0", err) < 0)
		goto fail;
	sp_nl_close(&nl);
	return 0;
fail:
	sp_nl_close(&nl);
	return -1;
}

void sp_attest_boot_start(struct sp_loop *loop, const struct sp_config *cfg)
{
	struct sp_err err;

	A.loop = loop;
	/* The worker starts now and makes its TEE key while the guest waits for the network. */
	if (A.st == ST_IDLE && sp_is_pid1() && start_worker(&err) < 0)
		sp_warn("attest", "worker: %s (tried again at the first attestation)", err.msg);
	if (cfg->net_cidr[0] && sp_is_pid1()) {
		if (standalone_net(cfg->net_cidr, &err) < 0)
			sp_warn("attest", "standalone network: %s", err.msg);
		else
			sp_info("attest", "standalone network: eth0 %s", cfg->net_cidr);
		/* Standalone: the network is here, attest now (DESIGN.md, Boot sequence 4). */
		if (A.st == ST_IDLE)
			begin_attestation();
	}
	/* Resources initdata names are fetched once attestation succeeds (attest_result). */
}
