/* A pull as an asynchronous primitive of PID 1's loop (image.h, sp_image_pull_start). PID 1
 * first checks the mount point (exactly one of the two rootfs shapes for this container id, its
 * directories made without following a symlink: image/store.c); a pull worker, forked here, then
 * pulls into the pod's layer store, checks the resolved digest against the policy's pinned
 * digests before any layer is fetched, mounts the overlay on the mount point's fd (resolved
 * again) and reports over a pipe with the mount's id. PID 1 checks that the mount point holds
 * that mount, then the completion hands the caller the rootfs (path and mount id), the image
 * configuration and the mount to release. PID 1 never blocks: Check keeps being answered. A
 * cancelled pull is killed; what it mounted is undone once the worker is gone. A release
 * unmounts the overlay by an fd on it, opened without following a symlink and checked to be the
 * mount the worker made (never a path the host could have re-pointed); a child removes the
 * upper dir.
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

#include "image/image_int.h"
#include "image/manifest.h"
#include "lib/cleanup.h"
#include "lib/fileio.h"
#include "lib/log.h"
#include "lib/loop.h"
#include "lib/pathat.h"
#include "lib/validate.h"

/* Test images only: a registry CA the test put into the guest. */
#define TEST_REGISTRY_CA "/etc/sealpod/test-registry-ca.pem"
#define RESULT_MAX	 (2u << 20)
#define MAX_JOBS	 64

struct sp_pull_job {
	struct sp_watch w; /* the worker's result pipe */
	struct sp_loop *loop;
	sp_pull_done_fn done; /* NULL once cancelled or reported */
	void *arg;
	char cid[SP_ID_MAX + 1];
	char *ref, *target;
	char pod[512];
	pid_t pid;
	int pidfd; /* taken before PID 1's loop can reap it: a kill never hits a reused pid */
	uint8_t *buf;
	size_t len;
};

/* What a pull mounted: released with the container. */
struct sp_image_mount {
	char cid[SP_ID_MAX + 1];
	char target[512], updir[700];
	uint64_t mnt_id; /* 0: unknown (the worker was killed before it reported) */
};

static unsigned njobs;

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

static void job_release(struct sp_watch *w)
{
	struct sp_pull_job *j = (struct sp_pull_job *)w;

	if (w->fd >= 0)
		close(w->fd);
	if (j->pidfd >= 0)
		close(j->pidfd);
	free(j->ref);
	free(j->target);
	free(j->buf);
	free(j);
	njobs--;
}

/* --- the worker (a child of PID 1) ------------------------------------------------------------- */

static char *ca_bundle(const struct sp_pull_req *rq, size_t *len)
{
	size_t extra = rq->extra_ca_pem ? strlen(rq->extra_ca_pem) : 0;
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
		memcpy(buf + *len, rq->extra_ca_pem, extra);
		*len += extra;
	}
	if (rq->test_overlay) {
		buf[(*len)++] = '\n';
		if (sp_read_file(TEST_REGISTRY_CA, buf + *len, 64u << 10, &n, &trunc, NULL) == 0)
			*len += n;
	}
	buf[*len] = '\0';
	return buf;
}

/* The pull options from the request; o->ca_pem is heap (the worker exits soon after). */
static void pull_opts(const struct sp_pull_req *rq, const char *store, struct sp_pull_opts *o)
{
	static char mine[sizeof(tokens[0].token)];
	const char *t;

	memset(o, 0, sizeof(*o));
	o->ref = rq->ref;
	o->store = store;
	o->ca_pem = ca_bundle(rq, &o->ca_len);
	if (rq->test_overlay) {
		/* plain http registries exist only with the test overlay */
		o->insecure = rq->insecure;
		o->n_insecure = rq->n_insecure;
	}
	o->auth_json = rq->auth_json;
	o->auth_json_len = rq->auth_len;
	o->parallel = rq->parallel ? rq->parallel : SP_IMAGE_DEFAULT_PARALLEL;
	o->chown = true;
	o->sandbox = true;
	o->pinned = rq->pinned;
	o->npinned = rq->npinned;
	/* This pull's token only: the others leave the worker's (and its children's) memory. */
	t = token_for(rq->ref, &o->token_ttl);
	if (t)
		(void)snprintf(mine, sizeof(mine), "%s", t);
	for (size_t i = 0; i < MAX_TOKENS; i++)
		token_drop(i);
	o->token = t ? mine : NULL;
}

/* The overlay on the request's mount point, resolved again here from /run/kata-containers (PID 1
 * made and checked it before the fork; nothing the host did since is followed). */
static int mount_rootfs(const struct sp_pull_req *rq, const char *store, const char *updir,
			struct sp_pull_result *res, struct sp_err *err)
{
	cleanup_close int kata = sp_image_kata_dir(err);
	cleanup_close int parent = -1;

	if (kata < 0)
		return sp_error_wrap(err, "pull.mount");
	parent = sp_image_rootfs_dir(kata, rq->cid, rq->mount_point, err);
	if (parent < 0)
		return sp_error_wrap(err, "pull.mount: the mount point");
	return sp_image_mount_overlay(store, res, updir, parent, "rootfs", &res->mnt_id, err);
}

static __attribute__((noreturn)) void worker(const struct sp_pull_req *rq, const char *pod, int wfd)
{
	struct sp_pull_opts o;
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

	(void)snprintf(store, sizeof(store), "%s/layers", pod);
	(void)snprintf(updir, sizeof(updir), "%s/overlay/%s", pod, rq->cid);
	pull_opts(rq, store, &o);
	ret = sp_image_pull(&o, &res, &err);
	if (ret == 0 && mount_rootfs(rq, store, updir, &res, &err) < 0) {
		sp_pull_result_free(&res);
		ret = -1;
	}
	if (ret == 0) {
		ret = sp_pull_result_encode(&res, NULL, &out, &outlen);
	} else {
		/* What has no stage of its own (the overlay, the store) is a failed precondition. */
		if (err.stage == SP_STAGE_NONE)
			err.kind = SP_E_PRECONDITION;
		ret = sp_pull_result_encode(NULL, &err, &out, &outlen) == 0 ? -1 : -2;
	}
	if (out)
		(void)sp_write_all(wfd, out, outlen);
	_exit(ret == 0 ? 0 : 1);
}

/* --- PID 1's side ---------------------------------------------------------------------------- */

static void updir_of(const struct sp_pull_job *j, char *out, size_t cap)
{
	(void)snprintf(out, cap, "%s/overlay/%s", j->pod, j->cid);
}

/* Unmounts what the worker mounted at target, by an fd on it (never by the path string, which
 * the host may have re-pointed since): the mount with the id it reported, or, when it was killed
 * before it could report one (mnt_id 0), an overlay mounted exactly at the mount point, reached
 * without a symlink (nothing but this container's worker mounts there: sp_image_rootfs_dir
 * refuses a mount point that already holds a mount). */
static void unmount_made(const char *cid, const char *target, uint64_t mnt_id)
{
	cleanup_close int fd = -1;
	struct sp_err err = { 0 };
	struct statfs sf;
	char p[32];

	if (mnt_id) {
		fd = sp_open_on_mount(target, mnt_id, &err);
	} else {
		fd = sp_openat2(AT_FDCWD, target, O_PATH | O_DIRECTORY, 0,
				RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
		if (fd >= 0 && (!sp_is_mount_root(fd) || fstatfs(fd, &sf) < 0 ||
				sf.f_type != OVERLAYFS_SUPER_MAGIC))
			return; /* nothing of ours is mounted there */
	}
	if (fd < 0) {
		if (mnt_id)
			sp_warn("pull", "%s: not unmounted: %s", cid, err.msg);
		return;
	}
	(void)snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
	if (umount2(p, MNT_DETACH) < 0)
		sp_warn("pull", "%s: unmount %s: %s", cid, target, strerror(errno));
}

static void undo_mount(const char *cid, const char *target, uint64_t mnt_id, const char *updir)
{
	pid_t pid;

	unmount_made(cid, target, mnt_id);
	/* The upper dir may be large: removed by a child, PID 1 goes on. */
	pid = fork();
	if (pid == 0) {
		int fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		(void)sp_remove_tree_at(fd, updir + 1, NULL);
		_exit(0);
	}
}

/* Undoes what a job's worker may have mounted (mnt_id: what it reported, 0 when nothing). */
static void undo_job(const struct sp_pull_job *j, uint64_t mnt_id)
{
	char updir[700];

	updir_of(j, updir, sizeof(updir));
	undo_mount(j->cid, j->target, mnt_id, updir);
}

static void kill_worker(const struct sp_pull_job *j)
{
	if (j->pidfd >= 0)
		(void)syscall(SYS_pidfd_send_signal, j->pidfd, SIGKILL, NULL, 0);
}

/* Reports to the caller (unless it went away) and leaves the loop (freed after the batch). */
static void finish(struct sp_pull_job *j, int ret, const struct sp_pulled *p,
		   const struct sp_err *err)
{
	sp_pull_done_fn done = j->done;

	j->done = NULL;
	sp_loop_release(j->loop, &j->w);
	if (done)
		done(j->arg, ret, p, err);
}

static void finish_msg(struct sp_pull_job *j, enum sp_err_kind kind, const char *msg)
{
	struct sp_err err;

	sp_fail(&err, kind, 0, "%s", msg);
	finish(j, -1, NULL, &err);
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

/* A pull that succeeded: its mount goes to the caller once PID 1 has seen for itself that the
 * mount point holds the mount the worker reported, or is undone when the caller went away. */
static void pulled(struct sp_pull_job *j, struct sp_pull_result *res)
{
	struct sp_image_mount *m = NULL;
	struct sp_pulled p = { .res = res };

	token_keep(j->ref, res->token, res->token_ttl);
	if (!mounted_here(j->target, res->mnt_id)) {
		undo_job(j, res->mnt_id); /* nobody else releases what it made */
		finish_msg(j, SP_E_PRECONDITION,
			   "pull.mount: the mount point does not hold the mount the worker made");
		return;
	}
	m = calloc(1, sizeof(*m));
	if (!m || !j->done) {
		undo_job(j, res->mnt_id);
		free(m);
		finish_msg(j, SP_E_EXHAUSTED, "pull: out of memory");
		return;
	}
	(void)snprintf(m->cid, sizeof(m->cid), "%s", j->cid);
	(void)snprintf(m->target, sizeof(m->target), "%.500s", j->target);
	updir_of(j, m->updir, sizeof(m->updir));
	m->mnt_id = res->mnt_id;
	(void)snprintf(p.rootfs.path, sizeof(p.rootfs.path), "%s", j->target);
	p.rootfs.mnt_id = res->mnt_id;
	p.mount = m;
	sp_info("pull", "%s: %s (%s) mounted at %s", j->cid, j->ref, res->digest, j->target);
	finish(j, 0, &p, NULL);
}

/* The worker's end: a result, or nothing (it died). A cancelled job's mount is undone only
 * now, when the worker can no longer mount anything after us. */
static void worker_ended(struct sp_pull_job *j)
{
	struct sp_pull_result res;
	struct sp_err error;

	if (sp_pull_result_decode(j->buf, j->len, &res, &error) < 0) {
		if (!j->done)
			undo_job(j, 0);
		finish_msg(j, SP_E_PRECONDITION, "pull: the pull worker died without a result");
		return;
	}
	if (error.msg[0]) {
		sp_pull_result_free(&res);
		sp_warn("pull", "%s: %s: %s", j->cid, j->ref, error.msg);
		finish(j, -1, NULL, &error);
		return;
	}
	pulled(j, &res);
	sp_pull_result_free(&res);
}

static void on_result(struct sp_watch *w, uint32_t events)
{
	struct sp_pull_job *j = (struct sp_pull_job *)w;
	ssize_t n;

	if (!j->buf)
		j->buf = malloc(RESULT_MAX);
	if (!j->buf) {
		kill_worker(j);
		finish_msg(j, SP_E_EXHAUSTED, "pull: out of memory");
		return;
	}
	n = read(w->fd, j->buf + j->len, RESULT_MAX - j->len);
	if (n > 0 && j->len + (size_t)n < RESULT_MAX) {
		j->len += (size_t)n;
		return;
	}
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	worker_ended(j); /* EOF (or too much): the worker is done */
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
	return sp_fail(err, SP_E_INVALID, 0,
		       "image_guest_pull: the mount point '%s' %s (container %s)", esc, why.msg,
		       cid && sp_valid_id(cid) ? cid : "?");
}

static struct sp_pull_job *job_new(const struct sp_pull_req *rq, struct sp_err *err)
{
	struct sp_pull_job *j;

	if (!rq->ref || !*rq->ref)
		return sp_fail(err, SP_E_INVALID, 0, "image_guest_pull: no image reference"), NULL;
	if (check_mount_point(rq->cid, rq->mount_point, err) < 0)
		return NULL;
	if (!rq->loop)
		return sp_fail(err, SP_E_PRECONDITION, 0, "image_guest_pull: no event loop"), NULL;
	if (njobs >= MAX_JOBS)
		return sp_fail(err, SP_E_EXHAUSTED, 0, "image_guest_pull: too many pulls at once"),
		       NULL;
	j = calloc(1, sizeof(*j));
	if (!j)
		return sp_fail(err, SP_E_EXHAUSTED, ENOMEM, "image_guest_pull"), NULL;
	j->w.fd = -1;
	j->pidfd = -1;
	j->loop = rq->loop;
	(void)snprintf(j->cid, sizeof(j->cid), "%s", rq->cid);
	j->ref = strdup(rq->ref);
	j->target = strdup(rq->mount_point);
	if (!j->ref || !j->target) {
		free(j->ref);
		free(j->target);
		free(j);
		return sp_fail(err, SP_E_EXHAUSTED, ENOMEM, "image_guest_pull"), NULL;
	}
	njobs++;
	return j;
}

/* The layer store's directory: the pod storage's, else (host tests) one on tmpfs. */
static void choose_pod(struct sp_pull_job *j, const struct sp_pull_req *rq)
{
	const char *pod = rq->pod_dir;

	if (!pod) {
		pod = SP_IMAGE_TMPFS_POD_DIR;
		if (mkdir("/run/sealpod", 0700) < 0 && errno != EEXIST)
			sp_warn("pull", "mkdir /run/sealpod: %s", strerror(errno));
		if (mkdir(pod, 0700) < 0 && errno != EEXIST)
			sp_warn("pull", "mkdir %s: %s", pod, strerror(errno));
	}
	(void)snprintf(j->pod, sizeof(j->pod), "%s", pod);
	sp_info("pull", "%s: %s: layers in %s (%s)", j->cid, j->ref, j->pod,
		rq->pod_dir && rq->encrypted ? "encrypted disk" : "tmpfs: guest memory, no disk");
}

int sp_image_pull_start(const struct sp_pull_req *rq, sp_pull_done_fn done, void *arg,
			struct sp_pull_job **out, struct sp_err *err)
{
	struct sp_pull_job *j = job_new(rq, err);
	int p[2];

	*out = NULL;
	if (!j)
		return -1;
	choose_pod(j, rq);
	if (pipe2(p, O_CLOEXEC) < 0) {
		sp_error(err, errno, "pull: pipe");
		goto fail;
	}
	j->pid = fork();
	if (j->pid == 0) {
		close(p[0]);
		worker(rq, j->pod, p[1]);
	}
	close(p[1]);
	if (j->pid < 0) {
		close(p[0]);
		sp_error(err, errno, "pull: fork");
		goto fail;
	}
	j->pidfd = (int)syscall(SYS_pidfd_open, j->pid, 0);
	j->w.fd = p[0];
	j->w.on_event = on_result;
	j->w.on_release = job_release;
	if (fcntl(p[0], F_SETFL, O_NONBLOCK) < 0 || sp_loop_add(j->loop, &j->w, EPOLLIN, err) < 0) {
		if (j->pidfd >= 0)
			kill_worker(j);
		else
			(void)kill(j->pid,
				   SIGKILL); /* not reaped yet: we have not returned to the loop */
		close(p[0]);
		j->w.fd = -1;
		sp_error(err, errno, "pull: cannot watch the worker");
		goto fail;
	}
	j->done = done;
	j->arg = arg;
	*out = j;
	return SP_PENDING;
fail:
	job_release(&j->w);
	return -1;
}

void sp_image_pull_cancel(struct sp_pull_job *j)
{
	if (!j || !j->done)
		return;
	j->done = NULL;
	/* The worker may have mounted already: worker_ended undoes it once it is gone. */
	kill_worker(j);
}

void sp_image_release(struct sp_image_mount *m)
{
	if (!m)
		return;
	undo_mount(m->cid, m->target, m->mnt_id, m->updir);
	free(m);
}
