/* Attestation in PID 1: starting the worker process that talks to the KBS (worker.c), waiting
 * for the attestation (sp_attest_wait) and resource requests. The initdata boot step that
 * settles the KBS, evidence and key (attest_conf) is boot.c.
 *
 * The worker is spawned once (lib/worker.h: a fresh exec of /init, nothing of PID 1's memory),
 * when attestation first starts, and lives for the boot: it holds the TEE private key and the
 * token (PID 1 never does), and answers resource requests in frames (worker.h). PID 1 watches it
 * on the loop, so the health Check keeps answering whatever the KBS does.
 *
 * The worker is confined before it talks to the network (confine.c): an empty read-only root
 * with only resolv.conf, hosts and the evidence device bind-mounted in (tpm: /dev/tpmrm0;
 * tdx/snp: configfs-tsm's report directory, snp also /dev/sev-guest), no capabilities,
 * no_new_privs and a seccomp allow-list (IPv4/IPv6 sockets only). PID 1 keeps the TPM use at
 * boot (PCR8) and everything else; the worker makes its key before (no untrusted input yet) and
 * enters its root when PID 1 says the network is up (A_GO).
 *
 * A failure is a typed error frame: its stage and message go to the console and the host, the
 * KBS's own words (detail) into sp_err.detail only, which is never printed or sent. */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

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
	size_t evlog_sent;  /* runtime events in the log the worker holds */
	struct sp_loop *loop;
	struct sp_worker *worker; /* NULL when there is none */
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

void sp_attest_failure(const struct sp_err *w, enum sp_stage dflt, const char *what,
		       enum sp_err_kind kind, struct sp_err *err, char *why, size_t whylen)
{
	enum sp_stage stage = w && w->stage ? (enum sp_stage)w->stage : dflt;

	/* The worker's words arrive escaped already (sp_frame_err_decode). */
	(void)snprintf(why, whylen, "%s", w ? w->msg : what);
	sp_fail(err, kind, 0, "%.31s: %s", sp_stage_name(stage), why);
	err->stage = (uint8_t)stage;
	if (w)
		memcpy(err->detail, w->detail, sizeof(err->detail));
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

static void attest_ok(void)
{
	A.st = ST_OK;
	sp_info("attest", "done in %lld ms", sp_attest_now_ms() - A.t_start);
	wake_waiters(0, NULL);
	if (!A.prefetched) {
		A.prefetched = true;
		prefetch();
	}
	finish_requests(false);
}

/* w: the worker's error, NULL when it died (what says so). */
static void attest_failed(const struct sp_err *w, const char *what)
{
	struct sp_err err;
	char why[200];

	A.st = ST_FAILED;
	sp_attest_failure(w, SP_STAGE_ATTEST_AUTH, what, SP_E_PRECONDITION, &A.fail, why,
			  sizeof(why));
	/* The console gets what the host gets: the KBS's words stay in A.fail.detail. A FATAL
	 * line is printed only when the guest powers off for it. */
	if (attest_conf.required)
		sp_log_fatal(sp_stage_name(A.fail.stage), "%s", why);
	else
		sp_warn("attest", "%s: %s", sp_stage_name(A.fail.stage), why);
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

/* A resource came (w NULL) or failed (w: the worker's error). */
static void resource_result(uint32_t id, const uint8_t *p, size_t len, const struct sp_err *w)
{
	for (size_t i = 0; i < A.nreqs; i++) {
		struct request r = A.reqs[i];
		struct sp_err err;
		char why[200];

		if (r.id != id)
			continue;
		A.reqs[i] = A.reqs[--A.nreqs];
		if (!w) {
			resource_ok(&r, p, len);
			if (r.cb)
				r.cb(r.arg, 0, p, len, NULL);
			return;
		}
		sp_attest_failure(w, SP_STAGE_ATTEST_RESOURCE, "failed", SP_E_UNAVAILABLE, &err,
				  why, sizeof(why));
		sp_warn("attest", "%s", err.msg);
		err.detail[0] = '\0'; /* the requester needs only what it may show */
		if (r.cb)
			r.cb(r.arg, -1, NULL, 0, &err);
		return;
	}
}

/* The worker is gone (or unreachable: cancelled by the caller first). */
static void worker_gone(void)
{
	A.worker = NULL;
	if (A.st == ST_IDLE)
		return; /* a pre-started worker: the next attestation starts another */
	if (A.st == ST_RUNNING)
		attest_failed(NULL, "the attestation worker died");
	else if (A.st == ST_OK)
		finish_requests(true); /* the next request starts a new worker */
}

static void drop_worker(void)
{
	sp_worker_cancel(A.worker);
	worker_gone();
}

static int on_worker_frame(void *arg, uint32_t type, const uint8_t *p, uint32_t len,
			   struct sp_err *err)
{
	struct sp_err w;
	uint32_t ref;

	(void)arg;
	switch (type) {
	case SP_FRAME_ERR:
		if (sp_frame_err_decode(p, len, &ref, &w) < 0) {
			*err = w;
			return -1;
		}
		if (ref == 0)
			attest_failed(&w, NULL);
		else
			resource_result(ref, NULL, 0, &w);
		return 0;
	case A_ATTESTED:
		if (A.st == ST_RUNNING)
			attest_ok();
		return 0;
	case A_RESOURCE:
		memcpy(&ref, p, sizeof(ref));
		resource_result(ref, p + sizeof(ref), len - sizeof(ref), NULL);
		return 0;
	default:
		return sp_error(err, 0, "attest: frame %u from the worker", type);
	}
}

static void on_worker_done(void *arg, int ret, const struct sp_err *err)
{
	(void)arg;
	if (ret < 0)
		sp_warn("attest", "%s", err->msg);
	worker_gone();
}

/* Spawns the worker and hands it its settings (it makes its key meanwhile). */
static int start_worker(struct sp_err *err)
{
	const struct sp_worker_start s = { .loop = A.loop,
					   .def = &sp_attest_worker,
					   .on_frame = on_worker_frame,
					   .done = on_worker_done };
	struct sp_attest_wire_conf c = { .ev = attest_conf.ev,
					 .key_kind = attest_conf.key_kind,
					 .test_overlay = attest_conf.test_overlay,
					 .have_initdata = attest_conf.have_initdata,
					 .have_ca = attest_conf.ca != NULL };
	const struct sp_initdata *id = &attest_conf.id;

	if (sp_worker_start(&s, &A.worker, err) < 0)
		return -1;
	(void)snprintf(c.kbs_url, sizeof(c.kbs_url), "%s", attest_conf.kbs_url);
	if ((c.have_initdata && id->toml_len &&
	     sp_worker_send(A.worker, A_INITDATA, id->toml, id->toml_len, err) < 0) ||
	    (c.have_ca && attest_conf.ca[0] &&
	     sp_worker_send(A.worker, A_CA, attest_conf.ca, strlen(attest_conf.ca), err) < 0) ||
	    sp_worker_send(A.worker, A_CONF, &c, sizeof(c), err) < 0) {
		sp_worker_cancel(A.worker);
		A.worker = NULL;
		return -1;
	}
	return 0;
}

/* The event log the evidence carries, as it stands now: on TDX the firmware's CCEL and the
 * runtime events; on a vTPM the runtime events alone (the firmware's log is not sent: the PCRs
 * are checked against reference values). NULL when there is nothing to send. */
static uint8_t *event_log(size_t *len, struct sp_err *err)
{
	cleanup_free uint8_t *ccel = NULL;
	uint8_t *out = NULL;
	size_t clen = 0, elen = 0;
	const uint8_t *ev = sp_aael_bytes(&elen, NULL);

	*len = 0;
	if (attest_conf.ev == SP_EV_TDX) {
		if (sp_ccel_read(SP_CCEL_PATH, &ccel, &clen, err) < 0)
			return NULL;
		if (!clen && !elen)
			return NULL;
		(void)sp_evlog_compose(ccel, clen, SP_TPM_ALG_SHA384, ev, elen, &out, len, err);
		return out;
	}
	if (attest_conf.ev == SP_EV_TPM && elen)
		(void)sp_evlog_compose(NULL, 0, SP_TPM_ALG_SHA256, ev, elen, &out, len, err);
	return out;
}

static void begin_attestation(void)
{
	struct sp_err err = { 0 };
	cleanup_free uint8_t *evlog = NULL;
	size_t evlog_len = 0;

	if (A.st != ST_IDLE && !(A.st == ST_OK && !A.worker))
		return;
	A.t_start = sp_attest_now_ms();
	sp_info("attest", "start: %s evidence to %s", sp_evidence_name(attest_conf.ev),
		attest_conf.kbs_url[0] ? attest_conf.kbs_url : "(no KBS)");
	A.st = ST_RUNNING;
	(void)sp_aael_bytes(&evlog_len, &A.evlog_sent);
	evlog = event_log(&evlog_len, &err);
	if (!evlog && err.msg[0]) {
		/* A log the KBS cannot replay would only be refused there: say why here. */
		err.stage = SP_STAGE_ATTEST_EVIDENCE;
		attest_failed(&err, NULL);
		return;
	}
	if (A.loop && (A.worker || start_worker(&err) == 0) &&
	    sp_worker_send(A.worker, A_GO, evlog, evlog_len, &err) == 0)
		return;
	if (!A.loop)
		sp_error(&err, 0, "no event loop");
	else if (!err.msg[0])
		sp_error(&err, 0, "the attestation worker is gone");
	err.stage = SP_STAGE_ATTEST_AUTH;
	attest_failed(&err, NULL);
}

/* The event log again when runtime events were recorded since the worker last got it: a token
 * that expired makes the worker attest again, and the registers have moved on since A_GO. */
static int send_evlog(void)
{
	cleanup_free uint8_t *evlog = NULL;
	size_t len = 0, nev = 0;
	struct sp_err err = { 0 };

	(void)sp_aael_bytes(&len, &nev);
	if (nev == A.evlog_sent)
		return 0;
	evlog = event_log(&len, &err);
	if (!evlog && err.msg[0]) {
		sp_warn("attest", "event log: %s", err.msg);
		return 0; /* the KBS judges what the worker sends; it stays the older log */
	}
	if (sp_worker_send(A.worker, A_EVLOG, evlog, len, &err) < 0)
		return -1;
	A.evlog_sent = nev;
	return 0;
}

static void send_pending(void)
{
	if (A.worker && send_evlog() < 0) {
		drop_worker();
		return;
	}
	for (size_t i = 0; i < A.nreqs; i++) {
		struct request *r = &A.reqs[i];

		struct sp_attest_wire_get get = { .id = r->id };
		struct sp_err err;

		if (r->sent || !A.worker)
			continue;
		/* Queued on the loop when the socket is full: PID 1 never waits for the worker. */
		(void)snprintf(get.uri, sizeof(get.uri), "%s", r->uri);
		if (sp_worker_send(A.worker, A_GET, &get, sizeof(get), &err) < 0) {
			drop_worker();
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
	if (A.st == ST_OK && A.worker)
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
	/* Resources initdata names are fetched once attestation succeeds (attest_ok). */
}
