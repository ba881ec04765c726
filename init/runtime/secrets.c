/* Secrets for containers (attest.h has the initdata format; DESIGN.md, "Trust rules": secrets
 * are bound to the verified image digest and the policy-checked spec, never to a host-chosen
 * name).
 *
 * A CreateContainer step after the storages (prepare.c): when initdata binds secrets to the
 * digest the guest's own pull resolved this container's image to, each one is fetched from the
 * KBS (attesting first if need be) and written to its own file in SECRETS_DIR/<cid>/, a tmpfs
 * that only PID 1 can reach (mode 0700, nodev, nosuid, noexec; never swapped out: nothing in
 * the guest enables swap). sp_rt_create then binds each file read-only at its declared path, owned by the
 * container's user with the declared mode. RemoveContainer, or a create that fails, overwrites and
 * removes the files.
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

#include "agent/gate.h"
#include "attest/attest.h"
#include "boot/boot.h"
#include "lib/cleanup.h"
#include "lib/log.h"
#include "lib/validate.h"
#include "runtime/prepare.h"
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

/* The secrets one container has (or is getting). */
struct ctr_secrets {
	struct ctr_secrets *next;
	char cid[SP_ID_MAX + 1];
	struct secret_file f[SP_SECRETS_MAX];
	size_t n;
	/* While fetching: */
	struct sp_prep *h;
	const struct sp_secret_decl *want[SP_SECRETS_MAX];
	size_t nwant;
};

static struct ctr_secrets *all;
static bool tmpfs_ready;

static struct ctr_secrets *find(const char *cid)
{
	for (struct ctr_secrets *c = all; c; c = c->next)
		if (strcmp(c->cid, cid) == 0)
			return c;
	return NULL;
}

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
	int fd = openat(dirfd, f->name, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);

	if (fd >= 0) {
		for (size_t off = 0; off < f->size;) {
			size_t n = f->size - off < sizeof(zeros) ? f->size - off : sizeof(zeros);
			ssize_t w = pwrite(fd, zeros, n, (off_t)off);

			if (w <= 0)
				break;
			off += (size_t)w;
		}
		close(fd);
	}
	(void)unlinkat(dirfd, f->name, 0);
}

static void drop(struct ctr_secrets *c)
{
	char dir[sizeof(SECRETS_DIR) + SP_ID_MAX + 2];
	int dirfd;

	dir_of(c->cid, dir, sizeof(dir));
	dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dirfd >= 0) {
		for (size_t i = 0; i < c->n; i++)
			wipe_file(dirfd, &c->f[i]);
		close(dirfd);
		if (rmdir(dir) < 0 && errno != ENOENT)
			sp_warn("secrets", "container %s: rmdir %s: %s", c->cid, dir,
				strerror(errno));
	}
	for (size_t i = 0; i < c->n; i++)
		free(c->f[i].dest);
	for (struct ctr_secrets **pp = &all; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	free(c);
}

void sp_secrets_release(const char *cid)
{
	struct ctr_secrets *c = cid ? find(cid) : NULL;

	if (!c)
		return;
	if (c->h && sp_attest_resource_cancel)
		sp_attest_resource_cancel(c);
	sp_info("secrets", "container %s: %zu secret%s removed", cid, c->n, c->n == 1 ? "" : "s");
	drop(c);
}

void sp_secrets_cancel(struct sp_prep *h)
{
	for (struct ctr_secrets *c = all; c; c = c->next)
		if (c->h == h) {
			if (sp_attest_resource_cancel)
				sp_attest_resource_cancel(c);
			drop(c);
			return;
		}
}

static int write_secret(const struct ctr_secrets *c, struct secret_file *f, const uint8_t *data,
			size_t len, struct sp_err *err)
{
	char dir[sizeof(SECRETS_DIR) + SP_ID_MAX + 2];
	cleanup_close int dirfd = -1;
	cleanup_close int fd = -1;

	dir_of(c->cid, dir, sizeof(dir));
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

static void fetch_next(struct ctr_secrets *c);

static void fetched(void *arg, int ret, const uint8_t *data, size_t len, const struct sp_err *e)
{
	struct ctr_secrets *c = arg;
	const struct sp_secret_decl *d = c->want[c->n];
	struct secret_file *f = &c->f[c->n];
	struct sp_prep *h = c->h;
	struct sp_err err = { 0 };

	if (ret < 0) {
		if (e)
			err = *e;
		else
			sp_error(&err, 0, "attest.resource: the request failed");
		sp_error_wrap(&err, "secret %s", d->name);
		c->h = NULL;
		sp_prep_done(h, ret, &err); /* the failed create releases c */
		return;
	}
	(void)snprintf(f->name, sizeof(f->name), "%s", d->name);
	(void)snprintf(f->src, sizeof(f->src), "%s/%s/%s", SECRETS_DIR, c->cid, d->name);
	f->mode = d->mode;
	f->dest = strdup(d->path);
	c->n++; /* counted before writing, so a partial file is wiped too */
	if (!f->dest || write_secret(c, f, data, len, &err) < 0) {
		if (!f->dest)
			sp_error(&err, ENOMEM, "secret %s", d->name);
		c->h = NULL;
		sp_prep_done(h, -TT_INTERNAL, &err);
		return;
	}
	fetch_next(c);
}

static void fetch_next(struct ctr_secrets *c)
{
	struct sp_prep *h = c->h;
	struct sp_err err = { 0 };
	int ret;

	if (c->n == c->nwant) {
		struct sp_policy_pin pin;

		sp_info("secrets", "container %s: %zu secret%s from the KBS for image %s", c->cid,
			c->n, c->n == 1 ? "" : "s", c->want[0]->image);
		/* The digest says which image; only the policy says which process. */
		sp_policy_pin(sp_agent_policy(), &pin);
		if (!pin.enabled)
			sp_warn("secrets",
				"container %s: the policy does not pin the process to the image "
				"(pin_process_to_image): the host chose its command, which can "
				"read "
				"the secrets",
				c->cid);
		for (size_t i = 0; i < c->n; i++)
			sp_info("secrets", "container %s: %s at %s (mode %04o)", c->cid,
				c->f[i].name, c->f[i].dest, c->f[i].mode);
		c->h = NULL;
		sp_prep_done(h, 0, NULL);
		return;
	}
	ret = sp_attest_resource_get(c->want[c->n]->resource, fetched, c, &err);
	if (ret < 0) {
		sp_error_wrap(&err, "secret %s", c->want[c->n]->name);
		c->h = NULL;
		sp_prep_done(h, ret, &err);
	}
}

int sp_secrets_prepare(struct sp_prep *h, struct sp_err *err)
{
	const char *cid = sp_prep_cid(h);
	const struct sp_secret_decl *decls = NULL;
	const struct sp_rt_image_config *img;
	struct ctr_secrets *c;
	char dir[sizeof(SECRETS_DIR) + SP_ID_MAX + 2];
	size_t n = sp_attest_secrets ? sp_attest_secrets(&decls) : 0;

	img = sp_runtime_image_config(cid);
	if (!n || !img || !img->digest)
		return 0; /* no secrets, or not an image this guest pulled: nothing is bound to it */
	if (find(cid))
		return sp_error(err, 0, "container %s already has secrets", cid),
		       -TT_FAILED_PRECONDITION;
	c = calloc(1, sizeof(*c));
	if (!c)
		return sp_error(err, ENOMEM, "secrets"), -TT_RESOURCE_EXHAUSTED;
	for (size_t i = 0; i < n; i++)
		if (strcmp(decls[i].image, img->digest) == 0)
			c->want[c->nwant++] = &decls[i];
	if (!c->nwant) {
		free(c);
		return 0;
	}
	if (!sp_attest_resource_get) {
		free(c);
		return sp_error(err, 0, "secrets: this guest has no KBS client"), -TT_UNIMPLEMENTED;
	}
	(void)snprintf(c->cid, sizeof(c->cid), "%s", cid);
	if (ensure_tmpfs(err) < 0) {
		free(c);
		return -TT_INTERNAL;
	}
	dir_of(cid, dir, sizeof(dir));
	if (mkdir(dir, 0700) < 0) {
		sp_error(err, errno, "mkdir %s", dir);
		free(c);
		return -TT_INTERNAL;
	}
	c->h = h;
	c->next = all;
	all = c;
	fetch_next(c);
	return SP_PREP_PENDING;
}

int sp_rt_secret_mounts(const char *cid, struct sp_rt_plan *plan, struct sp_err *err)
{
	struct ctr_secrets *c = find(cid);
	char dir[sizeof(SECRETS_DIR) + SP_ID_MAX + 2];
	cleanup_close int dirfd = -1;

	if (!c || !c->n)
		return 0;
	if (plan->nmounts + c->n > SP_RT_MAX_MOUNTS)
		return sp_error(err, 0, "%zu mounts and %zu secrets (at most %d mounts)",
				plan->nmounts, c->n, SP_RT_MAX_MOUNTS),
		       -TT_INVALID_ARGUMENT;
	dir_of(cid, dir, sizeof(dir));
	dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dirfd < 0)
		return sp_error(err, errno, "open %s", dir), -TT_INTERNAL;
	for (size_t i = 0; i < c->n; i++) {
		struct secret_file *f = &c->f[i];
		struct sp_rt_mount *m = &plan->mounts[plan->nmounts];
		cleanup_close int fd = openat(dirfd, f->name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

		if (fd < 0 || fchown(fd, plan->p.uid, plan->p.gid) < 0 || fchmod(fd, f->mode) < 0)
			return sp_error(err, errno, "secret %s: owner and mode", f->name),
			       -TT_INTERNAL;
		memset(m, 0, sizeof(*m));
		m->kind = MK_BIND;
		m->dest = f->dest;
		m->source = f->src; /* PID 1's own tmpfs, not a host-shared path */
		m->flags = MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC;
		plan->nmounts++;
	}
	return 0;
}
