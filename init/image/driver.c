/* A pull as an asynchronous primitive of PID 1's loop (image.h, sp_image_pull_start). PID 1
 * first checks the mount point (exactly one of the two rootfs shapes for this container id, its
 * directories made without following a symlink: image/store.c); a pull worker (worker.c), spawned
 * here with lib/worker.h, then pulls into the pod's layer store, checks the resolved digest
 * against the policy's pinned digests before any layer is fetched, mounts the overlay on the
 * mount point's fd (resolved again), looks the image's user up in it, and reports in frames with
 * the mount's id (wire.h). PID 1 checks that the mount point holds that mount, then the
 * completion hands the caller the rootfs (path and mount id), the image configuration and the
 * mount to release. PID 1 never blocks and reads nothing of the image: Check keeps being
 * answered. A cancelled pull is killed; what it mounted is undone once the worker is gone. A
 * release unmounts the overlay by an fd on it, opened without following a symlink and checked to
 * be the mount the worker made (never a path the host could have re-pointed); a release worker
 * removes the upper dir.
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
#include "image/sigpolicy.h"
#include "image/wire.h"
#include "lib/cleanup.h"
#include "lib/fileio.h"
#include "lib/log.h"
#include "lib/loop.h"
#include "lib/pathat.h"
#include "lib/validate.h"

#define MAX_JOBS 64

struct sp_pull_job {
	struct sp_worker *w;
	struct sp_loop *loop;
	sp_pull_done_fn done; /* NULL once cancelled or reported */
	void *arg;
	char cid[SP_ID_MAX + 1];
	char *ref, *target;
	char pod[512];
	struct sp_meta m; /* the result as it arrives */
};

/* What a pull mounted: released with the container. */
struct sp_image_mount {
	struct sp_loop *loop; /* for the release worker */
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

static void job_free(struct sp_pull_job *j)
{
	sp_meta_free(&j->m);
	free(j->ref);
	free(j->target);
	free(j);
	njobs--;
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

/* The upper dir may be large: removed by a release worker, PID 1 goes on (the worker's handle
 * frees itself once it is gone). */
static void remove_upper(struct sp_loop *loop, const char *updir)
{
	const struct sp_worker_start s = { .loop = loop, .def = &sp_pull_release_worker };
	char path[SP_IMG_UPDIR_MAX] = { 0 };
	struct sp_worker *w;
	struct sp_err err;

	(void)snprintf(path, sizeof(path), "%s", updir);
	if (sp_worker_start(&s, &w, &err) < 0 ||
	    sp_worker_send(w, IMG_RELEASE, path, sizeof(path), &err) < 0)
		sp_warn("pull", "%s not removed: %s", updir, err.msg);
}

static void undo_mount(struct sp_loop *loop, const char *cid, const char *target, uint64_t mnt_id,
		       const char *updir)
{
	unmount_made(cid, target, mnt_id);
	remove_upper(loop, updir);
}

/* Undoes what a job's worker may have mounted (mnt_id: what it reported, 0 when nothing). */
static void undo_job(const struct sp_pull_job *j, uint64_t mnt_id)
{
	char updir[700];

	updir_of(j, updir, sizeof(updir));
	undo_mount(j->loop, j->cid, j->target, mnt_id, updir);
}

/* Reports to the caller, unless it went away. */
static void finish(struct sp_pull_job *j, int ret, const struct sp_pulled *p,
		   const struct sp_err *err)
{
	sp_pull_done_fn done = j->done;

	j->done = NULL;
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
	m->loop = j->loop;
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

static int on_frame(void *arg, uint32_t type, const uint8_t *p, uint32_t len, struct sp_err *err)
{
	struct sp_pull_job *j = arg;

	return sp_img_take(&j->m, SP_IMG_RESULT, type, p, len, err) < 0 ? -1 : 0;
}

/* The worker is gone: its result, or nothing (it died). A cancelled job's mount is undone only
 * now, when the worker can no longer mount anything after us. */
static void worker_ended(void *arg, int ret, const struct sp_err *werr)
{
	struct sp_pull_job *j = arg;
	struct sp_pull_result res;

	/* What it sent decides (a cancelled worker killed after its result made that mount). */
	if (j->m.ended && !j->m.failed) {
		sp_img_result(&j->m, &res);
		pulled(j, &res);
		sp_pull_result_free(&res);
	} else if (j->m.ended) {
		sp_warn("pull", "%s: %s: %s", j->cid, j->ref, j->m.err.msg);
		finish(j, -1, NULL, &j->m.err);
	} else {
		if (ret < 0 && j->done)
			sp_warn("pull", "%s: %s", j->cid, werr->msg);
		/* Cancelled or not, a worker that died without a result may have mounted the
		 * overlay already (between its mount and its result frame): undo it either way, so
		 * that nothing of a failed pull stays on the container's mount point. */
		undo_job(j, 0);
		finish_msg(j, SP_E_PRECONDITION, "pull: the pull worker died without a result");
	}
	job_free(j);
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
	if (strlen(rq->ref) > SP_IMG_REF_MAX)
		return sp_fail(err, SP_E_INVALID, 0,
			       "image_guest_pull: the image reference is too "
			       "long"),
		       NULL;
	j = calloc(1, sizeof(*j));
	if (!j)
		return sp_fail(err, SP_E_EXHAUSTED, ENOMEM, "image_guest_pull"), NULL;
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

/* The request in frames (wire.h), queued on the loop: PID 1 never waits for the worker. */
static int send_request(struct sp_pull_job *j, const struct sp_pull_req *rq, struct sp_err *err)
{
	cleanup_free struct sp_img_pull_req *r = calloc(1, sizeof(*r));
	const char *t;
	int ret = 0;

	if (!r)
		return sp_fail(err, SP_E_EXHAUSTED, ENOMEM, "image_guest_pull");
	(void)snprintf(r->cid, sizeof(r->cid), "%s", j->cid);
	(void)snprintf(r->ref, sizeof(r->ref), "%s", j->ref);
	(void)snprintf(r->mount_point, sizeof(r->mount_point), "%s", j->target);
	(void)snprintf(r->pod, sizeof(r->pod), "%s", j->pod);
	r->parallel = rq->parallel;
	r->test_overlay = rq->test_overlay;
	r->require_encrypted = rq->require_encrypted;
	/* This pull's token only: no other repository's leaves PID 1. */
	if ((t = token_for(rq->ref, &r->token_ttl)) != NULL)
		(void)snprintf(r->token, sizeof(r->token), "%s", t);
	ret = sp_worker_send(j->w, IMG_PULL_REQ, r, sizeof(*r), err);
	explicit_bzero(r->token, sizeof(r->token));
	for (size_t i = 0; ret == 0 && i < rq->npinned && i < SP_IMG_MAX_PINNED; i++) {
		char d[SP_DIGEST_LEN + 1] = { 0 };

		(void)snprintf(d, sizeof(d), "%s", rq->pinned[i] ? rq->pinned[i] : "");
		ret = sp_worker_send(j->w, IMG_PINNED, d, sizeof(d), err);
	}
	for (size_t i = 0; ret == 0 && i < rq->n_insecure && i < SP_IMG_MAX_INSEC; i++) {
		char h[256] = { 0 };

		(void)snprintf(h, sizeof(h), "%s", rq->insecure[i]);
		ret = sp_worker_send(j->w, IMG_INSECURE, h, sizeof(h), err);
	}
	if (ret == 0 && rq->auth_json && rq->auth_len)
		ret = sp_worker_send(j->w, IMG_AUTH, rq->auth_json, rq->auth_len, err);
	for (size_t i = 0; ret == 0 && rq->keys && i < rq->keys->n; i++)
		ret = sp_dec_key_send_worker(j->w, IMG_DEC_KEY, &rq->keys->k[i], err);
	if (ret == 0 && rq->extra_ca_pem && rq->extra_ca_pem[0])
		ret = sp_worker_send(j->w, IMG_EXTRA_CA, rq->extra_ca_pem, strlen(rq->extra_ca_pem),
				     err);
	if (ret == 0 && rq->sig_policy && rq->sig_policy[0])
		ret = sp_worker_send(j->w, IMG_SIGPOLICY, rq->sig_policy, strlen(rq->sig_policy),
				     err);
	for (size_t i = 0; ret == 0 && i < rq->nsig_keys && i < SP_SIGPOLICY_KEYS; i++)
		ret = sp_worker_send(j->w, IMG_SIGKEY, &rq->sig_keys[i], sizeof(rq->sig_keys[i]),
				     err);
	return ret == 0 ? sp_worker_send(j->w, IMG_GO, NULL, 0, err) : -1;
}

int sp_image_pull_start(const struct sp_pull_req *rq, sp_pull_done_fn done, void *arg,
			struct sp_pull_job **out, struct sp_err *err)
{
	struct sp_pull_job *j = job_new(rq, err);
	struct sp_worker_start s = { .def = &sp_pull_worker,
				     .on_frame = on_frame,
				     .done = worker_ended };

	*out = NULL;
	if (!j)
		return -1;
	choose_pod(j, rq);
	s.loop = j->loop;
	s.arg = j;
	if (sp_worker_start(&s, &j->w, err) < 0) {
		job_free(j);
		return sp_error_wrap(err, "pull");
	}
	if (send_request(j, rq, err) < 0) {
		sp_worker_cancel(j->w); /* it has mounted nothing: it has not even its request */
		job_free(j);
		return -1;
	}
	j->done = done;
	j->arg = arg;
	*out = j;
	return SP_PENDING;
}

void sp_image_pull_cancel(struct sp_pull_job *j)
{
	if (!j || !j->done)
		return;
	j->done = NULL;
	/* The worker may have mounted already: worker_ended undoes it once it is gone. */
	sp_worker_kill(j->w);
}

void sp_image_release(struct sp_image_mount *m)
{
	if (!m)
		return;
	undo_mount(m->loop, m->cid, m->target, m->mnt_id, m->updir);
	free(m);
}
