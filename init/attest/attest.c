/* Attestation in PID 1: the initdata boot step, the worker process that talks to the KBS, the gate
 * that holds CreateContainer until the guest has attested, and resource requests.
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
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/crypto.h>

#include "agent/gate.h"
#include "agent/ttrpc.h"
#include "attest/attest.h"
#include "attest/attest_int.h"
#include "attest/client.h"
#include "boot/boot.h"
#include "boot/config.h"
#include "lib/cleanup.h"
#include "lib/fileio.h"
#include "lib/log.h"
#include "net/net.h"
#include "net/netlink.h"
#include "policy/policy.h"
#include "runtime/prepare.h"

#define TPM_DEV	     "/dev/tpmrm0"
#define TOTAL_S	     60u
#define MSG_ATTEST   1u
#define MSG_RESOURCE 2u
#define MSG_GET	     3u
#define MSG_GO	     4u /* PID 1 to the worker: the network is there, attest now */
#define MSG_MAX	     ((size_t)2 << 20)
#define MAX_WAITERS  64
#define MAX_REQUESTS 64

enum state { ST_OFF, ST_IDLE, ST_RUNNING, ST_OK, ST_FAILED };

struct frame {
	uint32_t type, id;
	int32_t code;
	uint32_t len;
};

struct request {
	uint32_t id;
	char uri[512];
	sp_resource_fn cb;
	void *arg;
	bool sent, internal;
};

static struct {
	bool test_overlay;
	bool have_initdata;
	struct sp_initdata id;
	char kbs_url[256];
	const char *ca;
	enum sp_evidence_kind ev;
	enum sp_tee_key_kind key_kind;
	bool required;
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
	char prefetch[4][256];
	size_t nprefetch;
	bool prefetched;
	struct sp_watch grace;
	long long t_start;
} A = { .grace = { .fd = -1 } };

static struct sp_image_settings default_image = { .max_parallel_layers = 3 };

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const struct sp_image_settings *sp_attest_image_settings(void)
{
	return A.have_initdata ? &A.id.image : &default_image;
}

size_t sp_attest_secrets(const struct sp_secret_decl **out)
{
	*out = A.have_initdata ? A.id.secrets : NULL;
	return A.have_initdata ? A.id.nsecrets : 0;
}

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

/* --- boot: initdata ----------------------------------------------------------------------------- */
static int hex_decode(const char *s, uint8_t *out, size_t cap, size_t *n)
{
	size_t l = strlen(s);

	if (l % 2 || l / 2 > cap)
		return -1;
	for (size_t i = 0; i < l / 2; i++) {
		unsigned v;
		if (sscanf(s + 2 * i, "%2x", &v) != 1)
			return -1;
		out[i] = (uint8_t)v;
	}
	*n = l / 2;
	return 0;
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

static void digest_mismatch(const char *where, const uint8_t *binding, size_t blen)
{
	char want[129], got[129];
	uint8_t comp[64] = { 0 };

	memcpy(comp, A.id.digest, A.id.digest_len < blen ? A.id.digest_len : blen);
	sp_hex(binding, blen, want);
	sp_hex(comp, blen, got);
	/* One line each: a hex digest is long, and both must reach the console whole. */
	sp_warn("initdata", "expected %s (the launch binding: %s)", want, where);
	sp_warn("initdata", "computed %s (%s of the %zu-byte TOML document)", got,
		sp_hash_name(A.id.alg), A.id.toml_len);
	sp_fatal("initdata.digest", "initdata does not match the launch binding (%s)", where);
}

/* Compares or extends: afterwards initdata is trusted (or the guest is off). */
static void verify_binding(const struct sp_config *cfg, bool found)
{
	uint8_t binding[64];
	size_t blen = 0;
	struct sp_err err;
	enum sp_evidence_kind hw = sp_evidence_detect(false);

	if (hw == SP_EV_TDX || hw == SP_EV_SNP) {
		if (sp_evidence_binding(hw, binding, &blen, &err) < 0)
			sp_fatal("initdata.digest", "cannot read the launch binding: %s", err.msg);
		if (!found) {
			if (!all_zero(binding, blen)) {
				char hx[129];
				sp_hex(binding, blen, hx);
				sp_fatal("initdata.digest",
					 "%s is %s but there is no initdata disk",
					 hw == SP_EV_TDX ? "MRCONFIGID" : "HOSTDATA", hx);
			}
			return;
		}
		if (!sp_initdata_matches(A.id.digest, A.id.digest_len, binding, blen))
			digest_mismatch(hw == SP_EV_TDX ? "TDX MRCONFIGID" : "SNP HOSTDATA",
					binding, blen);
		sp_info("initdata", "matches %s",
			hw == SP_EV_TDX ? "TDX MRCONFIGID" : "SNP HOSTDATA");
		return;
	}
	if (!found)
		return;
	if (cfg->test_binding[0]) {
		if (!A.test_overlay) {
			sp_warn("initdata", "sealpod.test_binding ignored: test overlay only");
		} else {
			if (hex_decode(cfg->test_binding, binding, sizeof(binding), &blen) < 0)
				sp_fatal("initdata.digest", "sealpod.test_binding is not hex");
			if (!sp_initdata_matches(A.id.digest, A.id.digest_len, binding, blen))
				digest_mismatch("sealpod.test_binding, test overlay", binding,
						blen);
			sp_info("initdata", "matches sealpod.test_binding (test overlay)");
		}
	}
	if (hw == SP_EV_TPM) {
		struct sp_tpm *t;
		char hx[65];

		if (A.id.alg != SP_HASH_SHA256)
			sp_fatal("initdata.digest",
				 "the vTPM binding (PCR8) needs algorithm = \"sha256\", initdata "
				 "uses %s",
				 sp_hash_name(A.id.alg));
		if (sp_tpm_open(TPM_DEV, &t, &err) < 0 ||
		    sp_tpm_extend_sha256(t, 8, A.id.digest, &err) < 0) {
			sp_tpm_close(t);
			sp_fatal("initdata.digest", "extending PCR8: %s", err.msg);
		}
		sp_tpm_close(t);
		sp_hex(A.id.digest, 32, hx);
		sp_info("initdata", "extended PCR8 with sha256 %s", hx);
		return;
	}
	if (!cfg->test_binding[0] || !A.test_overlay) {
		if (!A.test_overlay)
			sp_fatal("initdata.digest", "no launch binding on this machine (no TDX, "
						    "SNP or TPM) to verify "
						    "initdata against");
		sp_warn("initdata", "not bound to the launch (no TEE, no TPM): accepted only "
				    "because the test overlay is present");
	}
}

static void choose_kbs(const struct sp_config *cfg)
{
	const char *url = NULL, *origin = NULL;

	if (A.have_initdata && A.id.kbs_url) {
		url = A.id.kbs_url, origin = "initdata";
		A.ca = A.id.kbs_cert;
		if (cfg->kbs_url[0])
			sp_warn("attest", "sealpod.kbs ignored: initdata names the KBS");
	} else if (cfg->kbs_url[0]) {
		if (A.test_overlay)
			url = cfg->kbs_url, origin = "sealpod.kbs (test overlay)";
		else
			sp_warn("attest", "sealpod.kbs ignored: the KBS comes from initdata "
					  "outside "
					  "the test overlay");
	}
	if (!url)
		return;
	if (strlen(url) >= sizeof(A.kbs_url))
		sp_fatal("attest.auth", "KBS URL from %s is too long", origin);
	if (strncmp(url, "https://", 8) != 0) {
		if (strncmp(url, "http://", 7) != 0)
			sp_fatal("attest.auth", "KBS URL from %s must be https://", origin);
		if (!A.test_overlay)
			sp_fatal("attest.auth",
				 "KBS URL from %s is plain HTTP: refused outside the test overlay",
				 origin);
	} else if (!A.ca && !A.test_overlay) {
		sp_fatal("attest.auth", "https KBS without a CA certificate in aa.toml: refused");
	}
	(void)snprintf(A.kbs_url, sizeof(A.kbs_url), "%s", url);
	while (A.kbs_url[0] && A.kbs_url[strlen(A.kbs_url) - 1] == '/')
		A.kbs_url[strlen(A.kbs_url) - 1] = '\0';
}

static void choose_evidence(const struct sp_config *cfg)
{
	const char *want = cfg->evidence[0]  ? cfg->evidence
			   : A.have_initdata ? A.id.evidence
					     : NULL;

	A.ev = sp_evidence_detect(A.test_overlay);
	if (!want)
		return;
	if (strcmp(want, "sample") == 0) {
		if (A.test_overlay)
			A.ev = SP_EV_SAMPLE;
		else
			sp_warn("attest", "evidence \"sample\" ignored: test overlay only");
	} else if (strcmp(want, "tpm") == 0 && sp_path_exists(TPM_DEV)) {
		A.ev = SP_EV_TPM;
	} else if (strcmp(want, sp_evidence_name(A.ev)) != 0) {
		char esc[32];
		sp_log_escape(esc, sizeof(esc), want, strlen(want));
		sp_warn("attest", "evidence \"%s\" is not available here; using %s", esc,
			sp_evidence_name(A.ev));
	}
}

int sp_attest_boot_initdata(const struct sp_config *cfg, bool test_overlay,
			    struct sp_policy **policy)
{
	char *toml = NULL;
	size_t len = 0;
	bool found = false;
	struct sp_err err;
	char hx[129];

	*policy = NULL;
	memset(&A.id, 0, sizeof(A.id));
	A.test_overlay = test_overlay;
	A.st = ST_OFF;
	if (sp_is_pid1() &&
	    sp_initdata_read_disk("/sys/block", "/dev", &toml, &len, &found, &err) < 0)
		sp_fatal("initdata.read", "%s", err.msg);
	if (found) {
		if (sp_initdata_parse(toml, len, &A.id, &err) < 0)
			sp_fatal("initdata.parse", "%s", err.msg);
		A.have_initdata = true;
		sp_hex(A.id.digest, A.id.digest_len, hx);
		sp_info("initdata", "%zu bytes of TOML, %s %s; %zu secret%s for containers", len,
			sp_hash_name(A.id.alg), hx, A.id.nsecrets, A.id.nsecrets == 1 ? "" : "s");
	} else {
		sp_info("initdata", "none");
	}
	if (sp_is_pid1())
		verify_binding(cfg, found);
	if (A.have_initdata && A.id.policy) {
		if (sp_policy_load(A.id.policy, strlen(A.id.policy), policy, &err) < 0)
			sp_fatal("policy.load", "initdata policy.rego: %s", err.msg);
	}
	choose_kbs(cfg);
	choose_evidence(cfg);
	if (A.have_initdata && A.id.tee_key_alg) {
		if (strcmp(A.id.tee_key_alg, "RSA-OAEP-256") == 0)
			A.key_kind = SP_TEE_KEY_RSA;
		else if (strcmp(A.id.tee_key_alg, "ECDH-ES+A256KW-P256") != 0 &&
			 strcmp(A.id.tee_key_alg, "ECDH-ES+A256KW") != 0)
			sp_fatal("initdata.parse", "aa.toml tee_key_algorithm: unsupported value");
	}
	A.required = cfg->sec.attest == SP_ATTEST_REQUIRED || A.kbs_url[0] ||
		     (A.have_initdata && A.id.require_attestation) ||
		     (*policy && sp_policy_requires_attestation(*policy));
	for (const char *p = cfg->test_resources; A.test_overlay && *p && A.nprefetch < 4;) {
		const char *e = strchr(p, ',');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		if (n < sizeof(A.prefetch[0]))
			(void)snprintf(A.prefetch[A.nprefetch++], sizeof(A.prefetch[0]), "%.*s",
				       (int)n, p);
		p += n + (e ? 1 : 0);
	}
	if (A.have_initdata && A.id.image.auth_uri && A.nprefetch < 4)
		(void)snprintf(A.prefetch[A.nprefetch++], sizeof(A.prefetch[0]), "%s",
			       A.id.image.auth_uri);
	if (A.required || A.kbs_url[0]) {
		A.st = ST_IDLE;
		sp_info("attest", "required: kbs=%s evidence=%s key=%s",
			A.kbs_url[0] ? A.kbs_url : "(none)", sp_evidence_name(A.ev),
			A.key_kind == SP_TEE_KEY_RSA ? "RSA-OAEP-256" : "ECDH-ES+A256KW");
	} else {
		sp_info("attest", "not required (no KBS configured)");
	}
	return 0;
}

/* --- the worker ------------------------------------------------------------------------------------ */
static int send_frame(int fd, uint32_t type, uint32_t id, int32_t code, const void *p, size_t n)
{
	struct frame f = { type, id, code, (uint32_t)n };

	if (sp_write_all(fd, &f, sizeof(f)) < 0 || (n && sp_write_all(fd, p, n) < 0))
		return -1;
	return 0;
}

static int read_full(int fd, void *p, size_t n)
{
	for (size_t off = 0; off < n;) {
		ssize_t r = read(fd, (char *)p + off, n - off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		off += (size_t)r;
	}
	return 0;
}

static void send_failure(int fd, uint32_t type, uint32_t id, const char *stage,
			 const struct sp_err *err)
{
	char buf[300];
	int n = snprintf(buf, sizeof(buf), "%s%c%s", stage ? stage : "attest.auth", 0, err->msg);

	send_frame(fd, type, id, -1, buf, (size_t)n + 1);
}

/* The worker keeps only its socket and character devices (the console and /dev/kmsg, where its
 * log lines go): a copy of a connection, pipe or the loop's fds held here would keep them open
 * after PID 1 closed them. */
static void close_inherited(int keep)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int self = d ? dirfd(d) : -1;

	if (!d)
		return;
	while ((de = readdir(d)) != NULL) {
		struct stat st;
		int n = atoi(de->d_name);
		if (de->d_name[0] < '0' || de->d_name[0] > '9' || n <= 2 || n == keep || n == self)
			continue;
		if (fstat(n, &st) == 0 && S_ISCHR(st.st_mode))
			continue;
		close(n);
	}
	closedir(d);
}

__attribute__((noreturn)) static void worker_main(int fd)
{
	struct sp_kbs_client c = { 0 };
	struct sp_tee_key *key = NULL;
	char *jwk = NULL;
	struct sp_err err = { 0 };
	sigset_t none;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	close_inherited(fd);
	if (sp_tee_key_new(A.key_kind, &key, &err) < 0 || !(jwk = sp_tee_key_jwk(key))) {
		send_failure(fd, MSG_ATTEST, 0, "attest.auth", &err);
		_exit(1);
	}
	/* The key is made as soon as the worker exists (at boot): RSA takes a while under
	 * emulation, and under Kata the wait for the network hides it. */
	{
		struct frame go;
		if (read_full(fd, &go, sizeof(go)) < 0 || go.type != MSG_GO)
			_exit(0);
	}
	/* Now, not at fork: resolv.conf is complete only once the network is (sandbox.c). */
	if (sp_attest_sandbox(A.ev, "/tmp", &err) < 0) {
		(void)sp_error_wrap(&err, "worker sandbox");
		send_failure(fd, MSG_ATTEST, 0, "attest.auth", &err);
		_exit(1);
	}
	(void)snprintf(c.base, sizeof(c.base), "%s", A.kbs_url);
	c.ca_pem = A.ca;
	c.allow_http = A.test_overlay;
	c.ev = A.ev;
	c.initdata = A.have_initdata ? A.id.toml : NULL;
	c.key = key;
	c.jwk = jwk;
	c.total_s = TOTAL_S;
	c.deadline_ms = now_ms() + (long long)TOTAL_S * 1000;
	if (!A.kbs_url[0]) {
		sp_error(&err, 0, "attestation is required but no KBS is configured");
		send_failure(fd, MSG_ATTEST, 0, "attest.auth", &err);
		_exit(1);
	}
	if (A.ev == SP_EV_NONE) {
		sp_error(&err, 0, "no evidence provider on this machine (no TDX, SNP or TPM)");
		send_failure(fd, MSG_ATTEST, 0, "attest.evidence", &err);
		_exit(1);
	}
	if (sp_kbs_client_init(&c, &err) < 0 || sp_kbs_client_attest(&c, &err) < 0) {
		send_failure(fd, MSG_ATTEST, 0, c.stage, &err);
		_exit(1);
	}
	send_frame(fd, MSG_ATTEST, 0, 0, NULL, 0);
	for (;;) {
		struct frame f;
		char uri[512];
		uint8_t *data = NULL;
		size_t len = 0;

		if (read_full(fd, &f, sizeof(f)) < 0)
			_exit(0); /* PID 1 closed its end */
		if (f.type != MSG_GET || f.len == 0 || f.len >= sizeof(uri) ||
		    read_full(fd, uri, f.len) < 0)
			_exit(1);
		uri[f.len] = '\0';
		c.deadline_ms = now_ms() + (long long)TOTAL_S * 1000;
		if (sp_kbs_client_resource(&c, uri, &data, &len, &err) < 0) {
			send_failure(fd, MSG_RESOURCE, f.id, c.stage, &err);
			continue;
		}
		send_frame(fd, MSG_RESOURCE, f.id, 0, data, len);
		OPENSSL_cleanse(data, len);
		free(data);
	}
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
		sp_info("attest", "done in %lld ms", now_ms() - A.t_start);
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
	if (A.required) {
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
				if (A.test_overlay &&
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
		worker_main(sv[1]);
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
	A.t_start = now_ms();
	sp_info("attest", "start: %s evidence to %s", sp_evidence_name(A.ev),
		A.kbs_url[0] ? A.kbs_url : "(no KBS)");
	A.st = ST_RUNNING;
	if (!A.loop || (!A.w && start_worker(&err) < 0) ||
	    send_frame(A.w->fd, MSG_GO, 0, 0, NULL, 0) < 0) {
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
		if (send_frame(A.w->fd, MSG_GET, r->id, 0, r->uri, strlen(r->uri)) < 0) {
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
	if (!A.kbs_url[0]) {
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

	for (size_t i = 0; i < A.nprefetch; i++)
		if (queue_request(A.prefetch[i], NULL, NULL, true, &err) < 0)
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
