/* Secrets for containers (attest.h has the initdata format; secrets are bound to the verified
 * image digest and the policy-checked spec, never to a host-chosen name).
 *
 * A CreateContainer step after the storages (steps.c): when initdata binds secrets to the
 * digest the guest's own pull resolved this container's image to, each one is fetched from the
 * KBS (attesting first if need be) and written to its own file in SECRETS_DIR/<cid>/, a tmpfs
 * that only PID 1 can reach (mode 0700, nodev, nosuid, noexec; never swapped out: nothing in
 * the guest enables swap). sp_rt_create then binds each file read-only at its declared path,
 * owned by the container's user with the declared mode. The set belongs to the container's
 * record (prepare.c): RemoveContainer, or a create that fails, overwrites and removes the files.
 *
 * The host chooses neither which secrets a container gets (the pulled image's digest does) nor
 * where they appear (initdata does); it only decides whether to create the container at all. A
 * secret's bytes never reach a log or an error message: errors name the secret and the stage. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "attest/attest.h"
#include "lib/cleanup.h"
#include "lib/log.h"
#include "lib/power.h"
#include "lib/validate.h"
#include "runtime/rt.h"

#define SECRETS_DIR	 "/run/sealpod/secrets"
#define SECRETS_TMPFS_MB 64 /* every secret of every container (one is at most 1 MiB) */

#define SECRET_SRC_MAX (sizeof(SECRETS_DIR) + SP_ID_MAX + SP_SECRET_NAME_MAX + 3)

struct secret_file {
	char name[SP_SECRET_NAME_MAX + 1];
	char src[SECRET_SRC_MAX]; /* SECRETS_DIR/<cid>/<name> */
	char *dest;
	unsigned mode;
	size_t size;
};

/* The secrets one container has. */
struct sp_secret_set {
	char cid[SP_ID_MAX + 1];
	struct secret_file f[SP_SECRETS_MAX];
	size_t n;
};

/* A set being fetched, one resource at a time. */
struct sp_secrets_job {
	struct sp_secret_set *set;
	const struct sp_secret_decl *want[SP_SECRETS_MAX];
	size_t nwant;
	uint32_t req; /* the resource request in flight (attest.h), 0 when none */
	sp_secrets_done_fn done;
	void *arg;
};

static bool tmpfs_ready;

static void dir_of(const char *cid, char *out, size_t cap)
{
	(void)snprintf(out, cap, "%s/%s", SECRETS_DIR, cid);
}

/* The tmpfs every container's secrets live on, mounted at the first use. */
static int ensure_tmpfs(struct sp_err *err)
{
	char opts[64];

	if (tmpfs_ready)
		return 0;
	if (mkdir("/run/sealpod", 0700) < 0 && errno != EEXIST)
		return sp_error(err, errno, "mkdir /run/sealpod");
	if (mkdir(SECRETS_DIR, 0700) < 0 && errno != EEXIST)
		return sp_error(err, errno, "mkdir %s", SECRETS_DIR);
	if (sp_is_pid1()) {
		(void)snprintf(opts, sizeof(opts), "mode=0700,size=%dm", SECRETS_TMPFS_MB);
		if (mount("sealpod-secrets", SECRETS_DIR, "tmpfs", MS_NODEV | MS_NOSUID | MS_NOEXEC,
			  opts) < 0)
			return sp_error(err, errno, "mount a tmpfs on %s", SECRETS_DIR);
	}
	tmpfs_ready = true;
	return 0;
}

/* Overwrites a secret file with zeros before unlinking it (tmpfs pages are freed, not cleared). */
static void wipe_file(int dirfd, const struct secret_file *f)
{
	static const char zeros[4096];
	cleanup_close int fd = openat(dirfd, f->name, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);

	for (size_t off = 0; fd >= 0 && off < f->size;) {
		size_t n = f->size - off < sizeof(zeros) ? f->size - off : sizeof(zeros);
		ssize_t w = pwrite(fd, zeros, n, (off_t)off);

		if (w <= 0)
			break;
		off += (size_t)w;
	}
	(void)unlinkat(dirfd, f->name, 0);
}

size_t sp_secret_set_count(const struct sp_secret_set *set)
{
	return set ? set->n : 0;
}

void sp_secret_set_release(struct sp_secret_set *set)
{
	char dir[sizeof(SECRETS_DIR) + SP_ID_MAX + 2];
	cleanup_close int dirfd = -1;

	if (!set)
		return;
	dir_of(set->cid, dir, sizeof(dir));
	dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dirfd >= 0) {
		for (size_t i = 0; i < set->n; i++)
			wipe_file(dirfd, &set->f[i]);
		if (rmdir(dir) < 0 && errno != ENOENT)
			sp_warn("secrets", "container %s: rmdir %s: %s", set->cid, dir,
				strerror(errno));
	}
	sp_info("secrets", "container %s: %zu secret%s removed", set->cid, set->n,
		set->n == 1 ? "" : "s");
	for (size_t i = 0; i < set->n; i++)
		free(set->f[i].dest);
	free(set);
}

void sp_secrets_cancel(struct sp_secrets_job *job)
{
	if (!job)
		return;
	sp_attest_resource_cancel(job->req);
	sp_secret_set_release(job->set);
	free(job);
}

static int write_secret(const struct sp_secret_set *set, struct secret_file *f, const uint8_t *data,
			size_t len, struct sp_err *err)
{
	char dir[sizeof(SECRETS_DIR) + SP_ID_MAX + 2];
	cleanup_close int dirfd = -1;
	cleanup_close int fd = -1;

	dir_of(set->cid, dir, sizeof(dir));
	dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dirfd < 0)
		return sp_error(err, errno, "open %s", dir);
	fd = openat(dirfd, f->name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0400);
	if (fd < 0)
		return sp_error(err, errno, "create the file of secret %s", f->name);
	for (size_t off = 0; off < len;) {
		ssize_t w = write(fd, data + off, len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			int e = w < 0 ? errno : ENOSPC;

			f->size = off;
			return sp_error(err, e, "write the file of secret %s", f->name);
		}
		off += (size_t)w;
	}
	f->size = len;
	return 0;
}

/* The job ends: the set goes to the caller, or is wiped on failure. */
static void job_end(struct sp_secrets_job *job, int ret, const struct sp_err *err)
{
	sp_secrets_done_fn done = job->done;
	void *arg = job->arg;
	struct sp_secret_set *set = job->set;

	free(job);
	if (ret < 0) {
		sp_secret_set_release(set);
		set = NULL;
	}
	done(arg, ret, set, err);
}

static void fetch_next(struct sp_secrets_job *job);

static void fetched(void *arg, int ret, const uint8_t *data, size_t len, const struct sp_err *e)
{
	struct sp_secrets_job *job = arg;
	struct sp_secret_set *set = job->set;
	const struct sp_secret_decl *d = job->want[set->n];
	struct secret_file *f = &set->f[set->n];
	char dir[sizeof(SECRETS_DIR) + SP_ID_MAX + 2];
	struct sp_err err = { 0 };

	job->req = 0;
	if (ret < 0) {
		if (e)
			err = *e;
		else
			sp_fail(&err, SP_E_UNAVAILABLE, 0, "attest.resource: the request failed");
		sp_error_wrap(&err, "secret %s", d->name);
		job_end(job, -1, &err);
		return;
	}
	(void)snprintf(f->name, sizeof(f->name), "%s", d->name);
	dir_of(set->cid, dir, sizeof(dir));
	(void)snprintf(f->src, sizeof(f->src), "%s/%s", dir, d->name);
	f->mode = d->mode;
	f->dest = strdup(d->path);
	set->n++; /* counted before writing, so a partial file is wiped too */
	if (!f->dest || write_secret(set, f, data, len, &err) < 0) {
		if (!f->dest)
			sp_fail(&err, SP_E_EXHAUSTED, ENOMEM, "secret %s", d->name);
		job_end(job, -1, &err);
		return;
	}
	fetch_next(job);
}

static void fetch_next(struct sp_secrets_job *job)
{
	struct sp_secret_set *set = job->set;
	struct sp_err err = { 0 };

	if (set->n == job->nwant) {
		sp_info("secrets", "container %s: %zu secret%s from the KBS for image %s", set->cid,
			set->n, set->n == 1 ? "" : "s", job->want[0]->image);
		for (size_t i = 0; i < set->n; i++)
			sp_info("secrets", "container %s: %s at %s (mode %04o)", set->cid,
				set->f[i].name, set->f[i].dest, set->f[i].mode);
		job_end(job, 0, NULL);
		return;
	}
	if (sp_attest_resource_get(job->want[set->n]->resource, fetched, job, &job->req, &err) <
	    0) {
		sp_error_wrap(&err, "secret %s", job->want[set->n]->name);
		job_end(job, -1, &err);
	}
}

/* The set's directory on the tmpfs, empty. */
static int make_dir(const char *cid, struct sp_err *err)
{
	char dir[sizeof(SECRETS_DIR) + SP_ID_MAX + 2];

	if (ensure_tmpfs(err) < 0)
		return -1;
	dir_of(cid, dir, sizeof(dir));
	if (mkdir(dir, 0700) < 0)
		return sp_fail(err, errno == EEXIST ? SP_E_PRECONDITION : SP_E_INTERNAL, errno,
			       "mkdir %s", dir);
	return 0;
}

int sp_secrets_start(const char *cid, const char *digest, const struct sp_secret_decl *decls,
		     size_t ndecls, sp_secrets_done_fn done, void *arg, struct sp_secrets_job **out,
		     struct sp_err *err)
{
	struct sp_secrets_job *job;

	*out = NULL;
	if (!ndecls || !digest || !digest[0])
		return 0; /* no secrets, or not an image this guest pulled: nothing is bound to it */
	job = calloc(1, sizeof(*job));
	if (!job)
		return sp_fail(err, SP_E_EXHAUSTED, ENOMEM, "secrets");
	for (size_t i = 0; i < ndecls; i++)
		if (strcmp(decls[i].image, digest) == 0)
			job->want[job->nwant++] = &decls[i];
	if (!job->nwant) {
		free(job);
		return 0;
	}
	job->set = calloc(1, sizeof(*job->set));
	if (!job->set || make_dir(cid, err) < 0) {
		if (!job->set)
			sp_fail(err, SP_E_EXHAUSTED, ENOMEM, "secrets");
		free(job->set);
		free(job);
		return -1;
	}
	(void)snprintf(job->set->cid, sizeof(job->set->cid), "%s", cid);
	job->done = done;
	job->arg = arg;
	*out = job;
	fetch_next(job); /* may end the job (and call done) already */
	return SP_PENDING;
}

int sp_rt_secret_mounts(const struct sp_secret_set *set, struct sp_rt_plan *plan,
			struct sp_err *err)
{
	char dir[sizeof(SECRETS_DIR) + SP_ID_MAX + 2];
	cleanup_close int dirfd = -1;

	if (!set || !set->n)
		return 0;
	if (plan->nmounts + set->n > SP_RT_MAX_MOUNTS)
		return sp_fail(err, SP_E_INVALID, 0,
			       "%zu mounts and %zu secrets (at most %d mounts)", plan->nmounts,
			       set->n, SP_RT_MAX_MOUNTS);
	dir_of(set->cid, dir, sizeof(dir));
	dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dirfd < 0)
		return sp_error(err, errno, "open %s", dir);
	for (size_t i = 0; i < set->n; i++) {
		const struct secret_file *f = &set->f[i];
		struct sp_rt_mount *m = &plan->mounts[plan->nmounts];
		cleanup_close int fd = openat(dirfd, f->name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

		if (fd < 0 || fchown(fd, plan->p.uid, plan->p.gid) < 0 || fchmod(fd, f->mode) < 0)
			return sp_error(err, errno, "secret %s: owner and mode", f->name);
		memset(m, 0, sizeof(*m));
		m->kind = MK_BIND;
		m->dest = f->dest;
		m->source = f->src; /* PID 1's own tmpfs, not a host-shared path */
		m->flags = MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC;
		plan->nmounts++;
	}
	return 0;
}
