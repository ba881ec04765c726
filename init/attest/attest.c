/* Attestation in PID 1: starting the worker process that talks to the KBS (worker.c), waiting
 * for the attestation (sp_attest_wait) and resource requests. The initdata boot step that
 * settles the KBS, evidence and key (attest_conf) is boot.c.
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
 * yet) and enters the sandbox when PID 1 says the network is up (MSG_GO).
 *
 * A failure frame carries "stage\0reason\0detail": the stage and the reason go to the console
 * and the host, the KBS's own words (detail) into sp_err.detail only, which is never printed
 * or sent. */
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

#include "attest/attest.h"
#include "attest/attest_int.h"
#include "attest/worker.h"
#include "lib/cleanup.h"
#include "lib/config.h"
#include "lib/log.h"
#include "lib/power.h"
#include "net/net.h"
#include "net/netlink.h"

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

struct sp_attest_waiter {
	sp_done_fn done;
	void *arg;
	bool used;
};

static struct {
	enum state st;
	struct sp_err fail; /* why it failed: stage, reason and the KBS's words (detail) */
	struct sp_loop *loop;
	struct sp_watch *w; /* the worker's socket, NULL when there is no worker */
	pid_t pid;
	uint8_t *rx;
	size_t rxlen, rxcap;
	struct sp_attest_waiter waiters[MAX_WAITERS];
	struct request reqs[MAX_REQUESTS];
	size_t nreqs;
	uint32_t next_id;
	bool prefetched;
	struct sp_watch grace;
	long long t_start;
} A = { .grace = { .fd = -1 } };

enum sp_attest_state sp_attest_state(void)
{
	switch (A.st) {
	case ST_OFF:
		return SP_ATTESTATION_OFF;
	case ST_IDLE:
	case ST_RUNNING:
		return SP_ATTESTATION_PENDING;
	case ST_OK:
		return SP_ATTESTATION_DONE;
	case ST_FAILED:
		break;
	}
	return SP_ATTESTATION_FAILED;
}

void sp_attest_arm(bool pending)
{
	A.st = pending ? ST_IDLE : ST_OFF;
}

#ifdef SEALPOD_HOST_BUILD
void sp_attest_test_state(enum sp_attest_state st)
{
	static const enum state map[] = { [SP_ATTESTATION_OFF] = ST_OFF,
					  [SP_ATTESTATION_PENDING] = ST_IDLE,
					  [SP_ATTESTATION_DONE] = ST_OK,
					  [SP_ATTESTATION_FAILED] = ST_FAILED };

	A.st = map[st];
	if (st == SP_ATTESTATION_FAILED)
		sp_fail(&A.fail, SP_E_PRECONDITION, 0, "attest.auth: a test said so");
}
#endif

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

/* A failure frame's payload "stage\0reason\0detail" into err: the message is "stage: reason"
 * (reason escaped, also left in why for the console), the detail stays in err->detail. A
 * payload without the NULs is the worker's death or a bug: the default stage with what. */
void sp_attest_failure_parse(const char *p, size_t len, const char *dflt_stage, const char *what,
			     enum sp_err_kind kind, struct sp_err *err, char *why, size_t whylen)
{
	const char *stage = dflt_stage, *reason = what, *detail = "";
	size_t n;

	/* Three strings, each ended by a NUL inside the payload. */
	if (p && len && (n = strnlen(p, len)) < len) {
		const char *r = p + n + 1;
		size_t left = len - n - 1, rn = strnlen(r, left);

		stage = p;
		reason = rn < left ? r : "";
		if (rn < left && strnlen(r + rn + 1, left - rn - 1) < left - rn - 1)
			detail = r + rn + 1;
	}
	sp_log_escape(why, whylen, reason, strnlen(reason, 400));
	sp_fail(err, kind, 0, "%.31s: %s", stage, why);
	err->stage = (uint8_t)sp_stage_from_name(stage);
	if (!err->stage)
		err->stage = (uint8_t)sp_stage_from_name(dflt_stage);
	sp_log_escape(err->detail, sizeof(err->detail), detail, strnlen(detail, 400));
}

/* The failed attestation as every later request sees it: the same message, not the detail. */
static void host_error(struct sp_err *err)
{
	*err = A.fail;
	err->detail[0] = '\0';
}

static void finish_requests(bool fail_all);
static void prefetch(void);

static void wake_waiters(int ret, const struct sp_err *err)
{
	for (size_t i = 0; i < MAX_WAITERS; i++) {
		struct sp_attest_waiter *w = &A.waiters[i];

		if (!w->used)
			continue;
		w->used = false; /* before done: it may wait again or cancel */
		w->done(w->arg, ret, err);
	}
}

static void attest_result(int code, const char *payload, size_t len)
{
	struct sp_err err;
	char why[200];

	if (code == 0) {
		A.st = ST_OK;
		sp_info("attest", "done in %lld ms", sp_attest_now_ms() - A.t_start);
		wake_waiters(0, NULL);
		if (!A.prefetched) {
			A.prefetched = true;
			prefetch();
		}
		finish_requests(false);
		return;
	}
	A.st = ST_FAILED;
	sp_attest_failure_parse(payload, len, "attest.auth", "the attestation worker died",
				SP_E_PRECONDITION, &A.fail, why, sizeof(why));
	/* The console gets what the host gets: the KBS's words stay in A.fail.detail. */
	sp_log_fatal(sp_stage_name(A.fail.stage), "%s", why);
	host_error(&err);
	wake_waiters(-1, &err);
	finish_requests(true);
	if (attest_conf.required) {
		sp_warn("attest", "no container will be created; powering off");
		schedule_poweroff();
	}
}

static void resource_ok(const struct request *r, const uint8_t *p, size_t len)
{
	uint8_t d[64];
	size_t dl;
	char hx[129];

	if (!r->internal)
		return;
	if (attest_conf.test_overlay && sp_hash_digest(SP_HASH_SHA256, p, len, d, &dl) == 0) {
		sp_hex(d, dl, hx);
		sp_info("attest", "resource %s: %zu bytes received, sha256 %s (test overlay)",
			r->uri, len, hx);
	} else {
		sp_info("attest", "resource %s: %zu bytes received", r->uri, len);
	}
}

static void resource_result(uint32_t id, int code, const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < A.nreqs; i++) {
		struct request r = A.reqs[i];
		struct sp_err err;
		char why[200];

		if (r.id != id)
			continue;
		A.reqs[i] = A.reqs[--A.nreqs];
		if (code == 0) {
			resource_ok(&r, p, len);
			if (r.cb)
				r.cb(r.arg, 0, p, len, NULL);
			return;
		}
		sp_attest_failure_parse((const char *)p, len, "attest.resource", "failed",
					SP_E_UNAVAILABLE, &err, why, sizeof(why));
		sp_warn("attest", "%s", err.msg);
		err.detail[0] = '\0'; /* the requester needs only what it may show */
		if (r.cb)
			r.cb(r.arg, -1, NULL, 0, &err);
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
	if (A.st == ST_RUNNING)
		attest_result(-1, NULL, 0);
	else if (A.st == ST_OK)
		finish_requests(true); /* the next request starts a new worker */
}

/* Grows the receive buffer; false when it would exceed what a frame may need. */
static bool rx_grow(void)
{
	size_t cap = A.rxcap ? A.rxcap * 2 : 65536;
	uint8_t *t;

	if (cap > MSG_MAX + sizeof(struct frame) + 65536)
		return false;
	/* Not realloc: the old buffer may hold a secret that must not be left behind in freed
	 * memory. */
	t = malloc(cap);
	if (!t)
		return false;
	if (A.rx) {
		memcpy(t, A.rx, A.rxlen);
		OPENSSL_cleanse(A.rx, A.rxcap);
		free(A.rx);
	}
	A.rx = t, A.rxcap = cap;
	return true;
}

/* Handles every whole frame in the buffer; false when the worker broke the protocol. */
static bool rx_frames(void)
{
	while (A.rxlen >= sizeof(struct frame)) {
		struct frame f;

		memcpy(&f, A.rx, sizeof(f));
		if (f.len > MSG_MAX)
			return false;
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
	return true;
}

static void on_worker(struct sp_watch *w, uint32_t events)
{
	for (;;) {
		ssize_t r;

		if (A.rxcap - A.rxlen < 65536 && !rx_grow()) {
			worker_gone();
			return;
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
		if (!rx_frames()) {
			worker_gone();
			return;
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
	char buf[300];
	int n;

	if (A.st != ST_IDLE && !(A.st == ST_OK && !A.w))
		return;
	A.t_start = sp_attest_now_ms();
	sp_info("attest", "start: %s evidence to %s", sp_evidence_name(attest_conf.ev),
		attest_conf.kbs_url[0] ? attest_conf.kbs_url : "(no KBS)");
	A.st = ST_RUNNING;
	if (A.loop && (A.w || start_worker(&err) == 0) &&
	    sp_attest_send_frame(A.w->fd, MSG_GO, 0, 0, NULL, 0) == 0)
		return;
	if (!err.msg[0])
		(void)snprintf(err.msg, sizeof(err.msg), "the attestation worker is gone");
	n = snprintf(buf, sizeof(buf), "attest.auth%c%s", 0, A.loop ? err.msg : "no event loop");
	attest_result(-1, buf, (size_t)n + 1);
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

		if (A.st == ST_FAILED)
			host_error(&err);
		else
			sp_fail(&err, SP_E_UNAVAILABLE, 0,
				"attest.resource: the KBS client stopped");
		err.stage = SP_STAGE_ATTEST_RESOURCE;
		if (r.cb)
			r.cb(r.arg, -1, NULL, 0, &err);
	}
}

static int queue_request(const char *uri, sp_resource_fn cb, void *arg, bool internal, uint32_t *id,
			 struct sp_err *err)
{
	char path[512];
	struct request *r;

	if (sp_kbs_parse_uri(uri, path, sizeof(path), err) < 0)
		return sp_fail_wrap(err, SP_E_INVALID, "attest.resource");
	if (!attest_conf.kbs_url[0])
		return sp_fail(err, SP_E_PRECONDITION, 0, "attest.resource: no KBS is configured");
	if (A.st == ST_FAILED) {
		host_error(err);
		return -1;
	}
	if (A.nreqs >= MAX_REQUESTS)
		return sp_fail(err, SP_E_EXHAUSTED, 0,
			       "attest.resource: too many requests in flight");
	r = &A.reqs[A.nreqs++];
	memset(r, 0, sizeof(*r));
	r->id = ++A.next_id;
	if (!r->id)
		r->id = ++A.next_id; /* 0 means "none" to callers */
	(void)snprintf(r->uri, sizeof(r->uri), "%s", uri);
	r->cb = cb, r->arg = arg, r->internal = internal;
	if (id)
		*id = r->id;
	if (A.st == ST_OK && A.w)
		send_pending();
	else
		begin_attestation();
	return 0;
}

int sp_attest_resource_get(const char *uri, sp_resource_fn cb, void *arg, uint32_t *id,
			   struct sp_err *err)
{
	return queue_request(uri, cb, arg, false, id, err) < 0 ? -1 : 0;
}

void sp_attest_resource_cancel(uint32_t id)
{
	for (size_t i = 0; id && i < A.nreqs; i++)
		if (!A.reqs[i].internal && A.reqs[i].id == id)
			A.reqs[i].cb = NULL; /* its reply is still read and dropped */
}

static void prefetch(void)
{
	struct sp_err err;

	for (size_t i = 0; i < attest_conf.nprefetch; i++)
		if (queue_request(attest_conf.prefetch[i], NULL, NULL, true, NULL, &err) < 0)
			sp_warn("attest", "%s", err.msg);
}

int sp_attest_wait(sp_done_fn done, void *arg, struct sp_attest_waiter **out, struct sp_err *err)
{
	*out = NULL;
	switch (A.st) {
	case ST_OFF:
	case ST_OK:
		return 0;
	case ST_FAILED:
		host_error(err);
		return -1;
	case ST_IDLE:
	case ST_RUNNING:
		break;
	}
	for (size_t i = 0; i < MAX_WAITERS; i++) {
		struct sp_attest_waiter *w = &A.waiters[i];

		if (w->used)
			continue;
		*w = (struct sp_attest_waiter){ .done = done, .arg = arg, .used = true };
		*out = w;
		begin_attestation(); /* may fail at once and call done already */
		return SP_PENDING;
	}
	return sp_fail(err, SP_E_EXHAUSTED, 0, "attest: too many CreateContainer calls waiting");
}

void sp_attest_wait_cancel(struct sp_attest_waiter *w)
{
	if (w)
		w->used = false;
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
		/* Standalone: the network is here, attest now. */
		if (A.st == ST_IDLE)
			begin_attestation();
	}
	/* Resources initdata names are fetched once attestation succeeds (attest_result). */
}
