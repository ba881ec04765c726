/* Kata's image_guest_pull storage driver (runtime/prepare.h), asynchronous in PID 1's loop:
 *
 *   prepare  "pause": nothing to do (the runtime uses the built-in pause). Otherwise check the
 *            mount point (exactly one of the two rootfs shapes for this container id, its
 *            directories made without following a symlink: image/store.c), wait for the pod
 *            storage (storage module, else tmpfs), fetch the registry credentials from the KBS
 *            when initdata names an auth.json, then fork a pull worker. The worker pulls into
 *            <pod>/layers (the layer store, shared by every container of the pod), checks the
 *            resolved digest against the policy before any layer is fetched, mounts the overlay
 *            (upper/work in <pod>/overlay/<cid>) on the mount point's fd and reports over a pipe
 *            with the mount's id; PID 1 checks that the mount point holds that mount, then
 *            registers the rootfs (path and mount id) and the image configuration with the
 *            runtime. PID 1 never blocks: Check keeps being answered.
 *   cancel   the CreateContainer went away: the worker is killed.
 *   release  unmounts the overlay by an fd on it, opened without following a symlink and checked
 *            to be the mount the worker made (never a path the host could have re-pointed); a
 *            child removes the upper dir.
 *
 * Bearer tokens: PID 1 keeps the token each pull ended with, per registry and repository, until
 * it expires, and hands it to the next pull of that repository, so a pod's containers ask the
 * token service once (a registry that refuses it gets a fresh one). Tokens are secrets: kept
 * only in PID 1's memory, wiped when replaced or expired, never logged. */
#define _GNU_SOURCE
#include "image/image.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "agent/gate.h"
#include "agent/ttrpc.h"
#include "attest/attest.h"
#include "boot/boot.h"
#include "boot/config.h"
#include "image/image_int.h"
#include "image/manifest.h"
#include "lib/cleanup.h"
#include "lib/fileio.h"
#include "lib/log.h"
#include "lib/loop.h"
#include "lib/pathat.h"
#include "lib/testmode.h"
#include "lib/validate.h"
#include "runtime/prepare.h"
#include "runtime/runtime.h"
#include "storage/storage.h"

/* Test images only: a registry CA the test put into the guest (the overlay as decided at boot). */
#define TEST_REGISTRY_CA "/etc/sealpod/test-registry-ca.pem"
#define RESULT_MAX	 (2u << 20)
#define MAX_JOBS	 64

struct job {
	struct sp_watch w; /* the worker's result pipe */
	struct sp_prep *h; /* NULL once cancelled */
	char cid[SP_ID_MAX + 1];
	char *ref, *target;
	char pod[512];
	bool encrypted;
	pid_t pid;
	uint8_t *buf;
	size_t len;
	char *auth; /* containers-auth.json (secret) */
	size_t auth_len;
	bool waiting_storage, waiting_auth;
	bool added; /* w is in PID 1's loop */
};

/* What each container got: for release. */
struct made {
	char cid[SP_ID_MAX + 1];
	char target[512], updir[700];
	uint64_t mnt_id; /* 0: unknown (the worker was killed) */
};

static struct job *jobs[MAX_JOBS];
static void release(const char *cid);
static struct made made[SP_RT_MAX_CONTAINERS];

/* --- bearer tokens across pulls ---------------------------------------------------------------- */

#define MAX_TOKENS 8

static struct {
	char key[520]; /* api_host "/" repo; "" when free */
	char token[8192];
	time_t expiry; /* CLOCK_MONOTONIC seconds */
} tokens[MAX_TOKENS];

static time_t mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

static bool token_key(const char *ref, char *key, size_t cap)
{
	struct sp_image_ref r;

	if (sp_image_ref_parse(ref, &r, NULL) < 0)
		return false;
	(void)snprintf(key, cap, "%s/%s", r.api_host, r.repo);
	return true;
}

static void token_drop(size_t i)
{
	explicit_bzero(tokens[i].token, sizeof(tokens[i].token));
	tokens[i].key[0] = '\0';
	tokens[i].expiry = 0;
}

/* The live token for ref's repository (NULL: none), and its seconds left. */
static const char *token_for(const char *ref, uint64_t *ttl)
{
	char key[520];
	time_t now = mono_s();

	*ttl = 0;
	if (!token_key(ref, key, sizeof(key)))
		return NULL;
	for (size_t i = 0; i < MAX_TOKENS; i++) {
		if (tokens[i].key[0] && tokens[i].expiry <= now + 5)
			token_drop(i);
		else if (tokens[i].key[0] && strcmp(tokens[i].key, key) == 0) {
			*ttl = (uint64_t)(tokens[i].expiry - now);
			return tokens[i].token;
		}
	}
	return NULL;
}

static void token_keep(const char *ref, const char *token, uint64_t ttl)
{
	char key[520];
	size_t slot = 0;

	if (!token[0] || !ttl || !token_key(ref, key, sizeof(key)))
		return;
	if (ttl > (uint64_t)24 * 3600)
		ttl = (uint64_t)24 * 3600;
	for (size_t i = 0; i < MAX_TOKENS; i++) {
		if (strcmp(tokens[i].key, key) == 0) {
			slot = i;
			break;
		}
		if (tokens[i].expiry < tokens[slot].expiry) /* a free slot, else the oldest */
			slot = i;
	}
	token_drop(slot);
	(void)snprintf(tokens[slot].key, sizeof(tokens[slot].key), "%s", key);
	(void)snprintf(tokens[slot].token, sizeof(tokens[slot].token), "%s", token);
	tokens[slot].expiry = mono_s() + (time_t)ttl;
}

static struct job *job_for(const struct sp_prep *h)
{
	for (size_t i = 0; i < MAX_JOBS; i++)
		if (jobs[i] && jobs[i]->h == h)
			return jobs[i];
	return NULL;
}

static void job_free(struct job *j)
{
	for (size_t i = 0; i < MAX_JOBS; i++)
		if (jobs[i] == j)
			jobs[i] = NULL;
	if (j->auth) {
		explicit_bzero(j->auth, j->auth_len);
		free(j->auth);
	}
	free(j->ref);
	free(j->target);
	free(j->buf);
	free(j);
}

static void job_release(struct sp_watch *w)
{
	if (w->fd >= 0)
		close(w->fd);
	job_free((struct job *)w);
}

/* Ends the job: out of the loop (freed after the batch) or freed now. */
static void job_end(struct job *j)
{
	if (j->added) {
		sp_loop_release(sp_signals_loop(), &j->w);
	} else {
		if (j->w.fd >= 0)
			close(j->w.fd);
		job_free(j);
	}
}

static void remember(const char *cid, const char *target, const char *updir, uint64_t mnt_id)
{
	for (size_t i = 0; i < SP_RT_MAX_CONTAINERS; i++) {
		if (!made[i].cid[0] || strcmp(made[i].cid, cid) == 0) {
			(void)snprintf(made[i].cid, sizeof(made[i].cid), "%s", cid);
			(void)snprintf(made[i].target, sizeof(made[i].target), "%.500s", target);
			(void)snprintf(made[i].updir, sizeof(made[i].updir), "%s", updir);
			made[i].mnt_id = mnt_id;
			return;
		}
	}
}

/* --- the worker (a child of PID 1) ------------------------------------------------------------- */

static char *ca_bundle(size_t *len)
{
	const struct sp_image_settings *st = sp_attest_image_settings ? sp_attest_image_settings()
								      : NULL;
	size_t extra = st && st->extra_ca_pem ? strlen(st->extra_ca_pem) : 0;
	char *buf = malloc((1u << 20) + extra + (64u << 10) + 4);
	bool trunc = false;
	size_t n = 0;

	*len = 0;
	if (!buf)
		return NULL;
	if (sp_read_file(SP_IMAGE_CA_BUNDLE, buf, 1u << 20, len, &trunc, NULL) < 0)
		*len = 0;
	if (extra) {
		buf[(*len)++] = '\n';
		memcpy(buf + *len, st->extra_ca_pem, extra);
		*len += extra;
	}
	if (sp_test_overlay()) {
		buf[(*len)++] = '\n';
		if (sp_read_file(TEST_REGISTRY_CA, buf + *len, 64u << 10, &n, &trunc, NULL) == 0)
			*len += n;
	}
	buf[*len] = '\0';
	return buf;
}

static int check_digest(void *arg, const char *digest, char *why, size_t whylen)
{
	const Grpc__CreateContainerRequest *req = arg;

	return sp_agent_policy_recheck_image(req, digest, why, whylen);
}

/* The overlay on the job's mount point, resolved again here from /run/kata-containers (PID 1
 * made and checked it at prepare; nothing the host did since is followed). */
static int mount_rootfs(const struct job *j, const char *store, const char *updir,
			struct sp_pull_result *res, struct sp_err *err)
{
	cleanup_close int kata = sp_image_kata_dir(err);
	cleanup_close int parent = -1;

	if (kata < 0)
		return sp_error_wrap(err, "pull.mount");
	parent = sp_image_rootfs_dir(kata, j->cid, j->target, err);
	if (parent < 0)
		return sp_error_wrap(err, "pull.mount: the mount point");
	return sp_image_mount_overlay(store, res, updir, parent, "rootfs", &res->mnt_id, err);
}

static __attribute__((noreturn)) void worker(struct job *j, int wfd)
{
	const struct sp_image_settings *st = sp_attest_image_settings ? sp_attest_image_settings()
								      : NULL;
	struct sp_pull_opts o = { 0 };
	struct sp_pull_result res;
	struct sp_err err = { 0 };
	char store[600], updir[700];
	uint8_t *out = NULL;
	size_t outlen = 0;
	sigset_t none;
	int ret;

	/* Only the result pipe and the console: PID 1's connections must not stay open in here. */
	(void)sigemptyset(&none);
	(void)sigprocmask(SIG_SETMASK, &none, NULL);
	(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (wfd != 3) {
		(void)dup2(wfd, 3);
		wfd = 3;
	}
	(void)syscall(SYS_close_range, 4u, ~0u, 0u);
	sp_log_set_sinks(2, open("/dev/kmsg", O_WRONLY | O_CLOEXEC));

	(void)snprintf(store, sizeof(store), "%s/layers", j->pod);
	(void)snprintf(updir, sizeof(updir), "%s/overlay/%s", j->pod, j->cid);
	o.ref = j->ref;
	o.store = store;
	o.ca_pem = ca_bundle(&o.ca_len);
	if (st && sp_test_overlay()) {
		/* plain http registries exist only with the test overlay (DESIGN.md, Trust rules) */
		o.insecure = st->insecure_registries;
		o.n_insecure = st->n_insecure_registries;
	}
	o.auth_json = j->auth;
	o.auth_json_len = j->auth_len;
	o.parallel = st && st->max_parallel_layers ? st->max_parallel_layers
						   : SP_IMAGE_DEFAULT_PARALLEL;
	o.chown = true;
	o.sandbox = true;
	o.check_digest = check_digest;
	o.check_arg = (void *)sp_prep_request(j->h);
	{
		/* This pull's token only: the others leave the worker's (and its children's) memory. */
		static char mine[sizeof(tokens[0].token)];
		const char *t = token_for(j->ref, &o.token_ttl);

		if (t)
			(void)snprintf(mine, sizeof(mine), "%s", t);
		for (size_t i = 0; i < MAX_TOKENS; i++)
			token_drop(i);
		o.token = t ? mine : NULL;
	}
	ret = sp_image_pull(&o, &res, &err);
	if (ret == 0 && mount_rootfs(j, store, updir, &res, &err) < 0) {
		sp_pull_result_free(&res);
		ret = -1;
	}
	if (ret == 0)
		ret = sp_pull_result_encode(&res, NULL, &out, &outlen);
	else
		ret = sp_pull_result_encode(NULL, err.msg, &out, &outlen) == 0 ? -1 : -2;
	if (out)
		(void)sp_write_all(wfd, out, outlen);
	_exit(ret == 0 ? 0 : 1);
}

/* --- PID 1's side ---------------------------------------------------------------------------- */

/* The status a failed pull answers with, from its stage code. */
static int code_for(const char *msg)
{
	if (strstr(msg, "blocked by policy") || strncmp(msg, "pull.auth", 9) == 0)
		return TT_PERMISSION_DENIED;
	if (strncmp(msg, "pull.manifest", 13) == 0)
		return TT_NOT_FOUND; /* the reference does not resolve to an image we accept */
	return TT_FAILED_PRECONDITION;
}

static void finish(struct job *j, int ret, const char *msg)
{
	struct sp_prep *h = j->h;
	struct sp_err err = { 0 };

	j->h = NULL;
	job_end(j);
	if (!h)
		return;
	if (ret < 0)
		(void)sp_error(&err, 0, "%s", msg);
	sp_prep_done(h, ret < 0 ? -code_for(msg) : 0, &err);
}

/* PID 1's own look at the mount point: the mount the worker reported is what is there. */
static bool mounted_here(const char *target, uint64_t mnt_id)
{
	struct sp_err err;
	int fd = sp_open_on_mount(target, mnt_id, &err);

	if (fd < 0) {
		sp_warn("pull", "%s", err.msg);
		return false;
	}
	close(fd);
	return true;
}

/* Registers what the worker made with the runtime, once PID 1 has seen for itself that the mount
 * point holds the mount the worker reported. 0, or -1 with *msg. */
static int register_result(const struct job *j, const struct sp_pull_result *res, const char **msg)
{
	static const char *const empty[1] = { NULL };
	struct sp_rt_image_config c = {
		.entrypoint = res->entrypoint ? (const char *const *)res->entrypoint : empty,
		.n_entrypoint = res->n_entrypoint,
		.cmd = res->cmd ? (const char *const *)res->cmd : empty,
		.n_cmd = res->n_cmd,
		.env = res->env ? (const char *const *)res->env : empty,
		.n_env = res->n_env,
		.workdir = res->workdir,
		.user = res->user,
		.digest = res->digest,
	};

	*msg = "pull.mount: the mount point does not hold the mount the worker made";
	if (!mounted_here(j->target, res->mnt_id))
		return -1;
	*msg = "pull: the runtime refused the pulled rootfs";
	if (sp_runtime_register_rootfs(j->cid, j->target, res->mnt_id) < 0 ||
	    sp_runtime_register_image_config(j->cid, &c) < 0)
		return -1;
	return 0;
}

static void on_result(struct sp_watch *w, uint32_t events)
{
	struct job *j = (struct job *)w;
	struct sp_pull_result res;
	char error[256], updir[700];
	const char *msg;
	ssize_t n;

	if (!j->buf)
		j->buf = malloc(RESULT_MAX);
	if (!j->buf) {
		finish(j, -1, "pull: out of memory");
		return;
	}
	n = read(w->fd, j->buf + j->len, RESULT_MAX - j->len);
	if (n > 0 && j->len + (size_t)n < RESULT_MAX) {
		j->len += (size_t)n;
		return;
	}
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	/* EOF (or too much): the worker is done */
	if (sp_pull_result_decode(j->buf, j->len, &res, error, sizeof(error)) < 0) {
		finish(j, -1, "pull: the pull worker died without a result");
		return;
	}
	if (error[0]) {
		sp_pull_result_free(&res);
		sp_warn("pull", "%s: %s: %s", j->cid, j->ref, error);
		finish(j, -1, error);
		return;
	}
	token_keep(j->ref, res.token, res.token_ttl);
	(void)snprintf(updir, sizeof(updir), "%s/overlay/%s", j->pod, j->cid);
	remember(j->cid, j->target, updir, res.mnt_id);
	if (register_result(j, &res, &msg) < 0) {
		sp_pull_result_free(&res);
		release(j->cid); /* this step failed: nobody else releases what it made */
		finish(j, -1, msg);
		return;
	}
	sp_info("pull", "%s: %s (%s) mounted at %s", j->cid, j->ref, res.digest, j->target);
	sp_pull_result_free(&res);
	finish(j, 0, NULL);
}

static void start_worker(struct job *j)
{
	struct sp_err err = { 0 };
	int p[2];
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0) {
		finish(j, -1, "pull: pipe failed");
		return;
	}
	pid = fork();
	if (pid == 0) {
		close(p[0]);
		worker(j, p[1]);
	}
	close(p[1]);
	if (j->auth) { /* the worker has its copy */
		explicit_bzero(j->auth, j->auth_len);
		free(j->auth);
		j->auth = NULL;
	}
	if (pid < 0) {
		close(p[0]);
		finish(j, -1, "pull: fork failed");
		return;
	}
	j->pid = pid;
	j->w.fd = p[0];
	j->w.on_event = on_result;
	j->w.on_release = job_release;
	(void)fcntl(p[0], F_SETFL, O_NONBLOCK);
	if (sp_loop_add(sp_signals_loop(), &j->w, EPOLLIN, &err) < 0) {
		kill(pid, SIGKILL);
		finish(j, -1, "pull: cannot watch the worker");
		return;
	}
	j->added = true;
}

static void on_auth(void *arg, int ret, const uint8_t *data, size_t len, const struct sp_err *err)
{
	struct job *j = arg;

	j->waiting_auth = false;
	if (ret < 0) {
		char msg[300];

		(void)snprintf(msg, sizeof(msg), "pull.auth: the registry credentials: %s",
			       err ? err->msg : "unavailable");
		finish(j, -1, msg);
		return;
	}
	j->auth = malloc(len + 1);
	if (!j->auth) {
		finish(j, -1, "pull.auth: out of memory");
		return;
	}
	memcpy(j->auth, data, len);
	j->auth[len] = '\0';
	j->auth_len = len;
	start_worker(j);
}

static void after_storage(struct job *j)
{
	const struct sp_image_settings *st = sp_attest_image_settings ? sp_attest_image_settings()
								      : NULL;
	const char *pod = sp_storage_pod_dir ? sp_storage_pod_dir(&j->encrypted) : NULL;
	struct sp_err err = { 0 };

	if (!pod) {
		pod = SP_IMAGE_TMPFS_POD_DIR;
		j->encrypted = false;
		if (mkdir("/run/sealpod", 0700) < 0 && errno != EEXIST)
			sp_warn("pull", "mkdir /run/sealpod: %s", strerror(errno));
		if (mkdir(pod, 0700) < 0 && errno != EEXIST)
			sp_warn("pull", "mkdir %s: %s", pod, strerror(errno));
	}
	(void)snprintf(j->pod, sizeof(j->pod), "%s", pod);
	sp_info("pull", "%s: %s: layers in %s (%s)", j->cid, j->ref, j->pod,
		j->encrypted ? "encrypted disk" : "tmpfs: guest memory, no disk");
	if (st && st->auth_uri && sp_attest_resource_get) {
		j->waiting_auth = true;
		if (sp_attest_resource_get(st->auth_uri, on_auth, j, &err) < 0) {
			j->waiting_auth = false;
			char msg[300];

			(void)snprintf(msg, sizeof(msg), "pull.auth: %s", err.msg);
			finish(j, -1, msg);
		}
		return;
	}
	start_worker(j);
}

static void on_storage(void *arg, int ret, const struct sp_err *err)
{
	struct job *j = arg;

	j->waiting_storage = false;
	if (ret < 0) {
		char msg[300];

		(void)snprintf(msg, sizeof(msg), "pull: the pod storage failed: %s",
			       err ? err->msg : "?");
		finish(j, -1, msg);
		return;
	}
	after_storage(j);
}

/* The mount point must be exactly one of the rootfs shapes for this container, and its directories
 * are made now, in PID 1, so that a planted symlink or mount is refused before anything is
 * pulled (the worker resolves it again before mounting). */
static int check_mount_point(const char *cid, const char *mp, struct sp_err *err)
{
	cleanup_close int kata = -1, parent = -1;
	struct sp_err why = { 0 };
	char esc[96];

	sp_log_escape(esc, sizeof(esc), mp ? mp : "", mp ? strnlen(mp, 80) : 0);
	kata = sp_image_kata_dir(&why);
	if (kata >= 0)
		parent = sp_image_rootfs_dir(kata, cid, mp, &why);
	if (parent >= 0)
		return 0;
	return sp_error(err, 0, "image_guest_pull: the mount point '%s' %s (container %s)", esc,
			why.msg, cid);
}

static int prepare(struct sp_prep *h, const Grpc__Storage *s, struct sp_err *err)
{
	const char *cid = sp_prep_cid(h);
	struct job *j;
	size_t slot = MAX_JOBS;

	if (!s->source || !*s->source)
		return sp_error(err, 0, "image_guest_pull: no image reference"),
		       -TT_INVALID_ARGUMENT;
	if (strcmp(s->source, "pause") == 0)
		return 0; /* the runtime runs the built-in pause program */
	if (check_mount_point(cid, s->mount_point, err) < 0)
		return -TT_INVALID_ARGUMENT;
	if (!sp_signals_loop())
		return sp_error(err, 0, "image_guest_pull: no event loop"), -TT_FAILED_PRECONDITION;
	for (size_t i = 0; i < MAX_JOBS; i++)
		if (!jobs[i]) {
			slot = i;
			break;
		}
	if (slot == MAX_JOBS)
		return sp_error(err, 0, "image_guest_pull: too many pulls at once"),
		       -TT_RESOURCE_EXHAUSTED;
	j = calloc(1, sizeof(*j));
	if (!j)
		return sp_error(err, ENOMEM, "image_guest_pull"), -TT_RESOURCE_EXHAUSTED;
	j->w.fd = -1;
	j->h = h;
	(void)snprintf(j->cid, sizeof(j->cid), "%s", cid);
	j->ref = strdup(s->source);
	j->target = strdup(s->mount_point);
	if (!j->ref || !j->target) {
		job_free(j);
		return sp_error(err, ENOMEM, "image_guest_pull"), -TT_RESOURCE_EXHAUSTED;
	}
	jobs[slot] = j;
	if (sp_storage_pod_dir && sp_storage_when_ready && !sp_storage_pod_dir(&j->encrypted)) {
		j->waiting_storage = true;
		sp_info("pull", "%s: waiting for the pod storage", cid);
		sp_storage_when_ready(on_storage, j);
	} else {
		after_storage(j);
	}
	return SP_PREP_PENDING; /* a report may already have happened (prepare.c records it) */
}

static void cancel(struct sp_prep *h)
{
	struct job *j = job_for(h);

	if (!j)
		return;
	j->h = NULL;
	if (j->waiting_storage && sp_storage_when_ready_cancel)
		sp_storage_when_ready_cancel(j);
	if (j->waiting_auth && sp_attest_resource_cancel)
		sp_attest_resource_cancel(j);
	if (j->pid > 0) {
		char updir[700];

		(void)kill(j->pid, SIGKILL);
		/* The worker may have mounted already: undo it like a release. */
		(void)snprintf(updir, sizeof(updir), "%s/overlay/%s", j->pod, j->cid);
		remember(j->cid, j->target, updir, 0);
	}
	job_end(j);
}

/* Unmounts what the worker mounted for m, by an fd on it (never by the path string, which the host
 * may have re-pointed since): the mount id it recorded, or, when the worker was killed before it
 * could report one, an overlay mounted exactly at the mount point, reached without a symlink
 * (nothing but this container's worker mounts there: sp_image_rootfs_dir refuses a mount point
 * that already holds a mount). */
static void unmount_made(const struct made *m)
{
	cleanup_close int fd = -1;
	struct sp_err err = { 0 };
	struct statfs sf;
	char p[32];

	if (m->mnt_id) {
		fd = sp_open_on_mount(m->target, m->mnt_id, &err);
	} else {
		fd = sp_openat2(AT_FDCWD, m->target, O_PATH | O_DIRECTORY, 0,
				RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
		if (fd >= 0 && (!sp_is_mount_root(fd) || fstatfs(fd, &sf) < 0 ||
				sf.f_type != OVERLAYFS_SUPER_MAGIC))
			return; /* nothing of ours is mounted there */
	}
	if (fd < 0) {
		if (m->mnt_id)
			sp_warn("pull", "%s: not unmounted: %s", m->cid, err.msg);
		return;
	}
	(void)snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
	if (umount2(p, MNT_DETACH) < 0)
		sp_warn("pull", "%s: unmount %s: %s", m->cid, m->target, strerror(errno));
}

static void release(const char *cid)
{
	for (size_t i = 0; i < SP_RT_MAX_CONTAINERS; i++) {
		pid_t pid;

		if (!made[i].cid[0] || strcmp(made[i].cid, cid) != 0)
			continue;
		unmount_made(&made[i]);
		/* The upper dir may be large: removed by a child, PID 1 goes on. */
		pid = fork();
		if (pid == 0) {
			int fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

			(void)sp_remove_tree_at(fd, made[i].updir + 1, NULL);
			_exit(0);
		}
		made[i].cid[0] = '\0';
	}
}

const struct sp_storage_driver sp_storage_driver_image_guest_pull = {
	.prepare = prepare,
	.cancel = cancel,
	.release = release,
};
