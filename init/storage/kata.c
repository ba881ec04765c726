/* Kata's block storages (storage.h): driver "blk"/"blk-pci", source a PCI path such as
 * "02/00" (or "/dev/vdX" for a disk present at boot). The disk may still be on its way (hot-plug):
 * it is looked up in sysfs every 20 ms, without udev, until agent.hotplug_timeout. A storage with
 * encryption_key=ephemeral and/or create_filesystem (Kata's block emptyDir) is formatted in a
 * worker like the pod disk and mounted nodev,nosuid at its mount point beneath
 * /run/kata-containers/; mounting a host disk's existing file system unencrypted is refused (the
 * host is untrusted, and so are the bytes on its disks). RemoveContainer releases it: unmount,
 * close the dm devices. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/validate.h"
#include "storage/storage.h"
#include "storage/storage_int.h"

#define POLL_MS 20

enum job_state { JOB_WAITING, JOB_FORMATTING, JOB_READY };

#define TRUSTED_TARGET "/run/kata-containers/image"

struct sp_blk;
struct blk_timer { /* its own allocation: the loop frees it after the batch it was released in */
	struct sp_watch w;
	struct sp_blk *j; /* NULL once stopped */
};

/* A job: a block storage of one container (the caller's handle) or the pod's trusted store. */
struct sp_blk {
	struct sp_blk *next;
	struct blk_timer *timer; /* while waiting for the disk */
	enum job_state state;
	struct sp_storage_waiter *waiters; /* NULL once reported */
	char cid[SP_ID_MAX + 1];
	char shown_src[48];
	struct sp_pci_path pci;
	bool by_name; /* source was /dev/<name> */
	struct sp_fmt_req req;
	struct timespec deadline;
	struct sp_fmt_job *worker;
	/* The pod's trusted image store: kept until the guest goes, never released with a
	 * container. */
	bool trusted;
};

static struct sp_blk *jobs;
static unsigned seq;

static void unlink_job(struct sp_blk *j)
{
	for (struct sp_blk **pp = &jobs; *pp; pp = &(*pp)->next)
		if (*pp == j) {
			*pp = j->next;
			return;
		}
}

static void timer_release(struct sp_watch *w)
{
	close(w->fd);
	free(w);
}

static void stop_timer(struct sp_blk *j)
{
	if (!j->timer)
		return;
	j->timer->j = NULL;
	sp_loop_release(sp_storage_loop(), &j->timer->w);
	j->timer = NULL;
}

static void free_waiters(struct sp_storage_waiter *w)
{
	while (w) {
		struct sp_storage_waiter *next = w->next;

		free(w);
		w = next;
	}
}

static void free_job(struct sp_blk *j)
{
	unlink_job(j);
	stop_timer(j);
	free_waiters(j->waiters);
	free(j);
}

/* Tells the waiting CreateContainer calls how j went. On failure j is freed first (the caller's
 * block storage handle goes with it): answering may run later steps that look at the jobs. */
static void report(struct sp_blk *j, int ret, const struct sp_err *err)
{
	struct sp_storage_waiter *ws = j->waiters;

	j->waiters = NULL;
	if (ret < 0) {
		sp_log(SP_LOG_ERROR, "storage", "container %s storage %s: %s", j->cid, j->shown_src,
		       err->msg);
		free_job(j);
	}
	while (ws) {
		struct sp_storage_waiter *w = ws;

		ws = w->next;
		w->done(w->arg, ret, err);
		free(w);
	}
}

static struct sp_storage_waiter *add_waiter(struct sp_blk *j, sp_done_fn done, void *arg,
					    struct sp_err *err)
{
	struct sp_storage_waiter *w = calloc(1, sizeof(*w));

	if (!w) {
		sp_fail(err, SP_E_EXHAUSTED, ENOMEM, "storage");
		return NULL;
	}
	w->done = done;
	w->arg = arg;
	w->next = j->waiters;
	j->waiters = w;
	return w;
}

static bool disk_in_use(const char *name)
{
	const char *pod = sp_storage_pod_disk();

	if (pod && strcmp(pod, name) == 0)
		return true;
	for (struct sp_blk *j = jobs; j; j = j->next)
		if (j->state != JOB_WAITING && strcmp(j->req.disk, name) == 0)
			return true;
	return false;
}

static void on_formatted(void *arg, int ret, const struct sp_err *err, const struct sp_fmt_times *t)
{
	struct sp_blk *j = arg;

	j->worker = NULL;
	if (ret < 0) {
		report(j, -1, err);
		return;
	}
	j->state = JOB_READY;
	if (j->trusted)
		sp_storage_note_trusted(TRUSTED_TARGET);
	sp_info("storage",
		"container %s: /dev/%s (PCI %s) encrypted and mounted at %s (luks %ums, mkfs %ums, "
		"total %ums)",
		j->cid, j->req.disk, j->shown_src, j->req.target, t->luks_ms, t->mkfs_ms,
		t->total_ms);
	report(j, 0, NULL);
}

/* 0 started (or failed and reported), 1 the disk is not there yet. */
static int try_start(struct sp_blk *j)
{
	struct sp_err err = { 0 };
	char name[32];
	int r;

	if (j->by_name) {
		(void)snprintf(name, sizeof(name), "%s", j->req.disk);
		r = 0;
		if (access("/sys/class/block", F_OK) == 0) {
			char p[96];

			(void)snprintf(p, sizeof(p), "/sys/class/block/%s", name);
			r = access(p, F_OK) == 0 ? 0 : 1;
		}
	} else {
		r = sp_sysfs_find_pci(&j->pci, name, sizeof(name), &err);
	}
	if (r == 1)
		return 1;
	if (r < 0) {
		sp_error_wrap(&err, "storage.hotplug");
		err.stage = SP_STAGE_STORAGE_HOTPLUG;
		report(j, -1, &err);
		return 0;
	}
	if (disk_in_use(name)) {
		sp_fail(&err, SP_E_PRECONDITION, 0,
			"storage.hotplug: disk %s (PCI %s) is already in use", name, j->shown_src);
		err.stage = SP_STAGE_STORAGE_HOTPLUG;
		report(j, -1, &err);
		return 0;
	}
	(void)snprintf(j->req.disk, sizeof(j->req.disk), "%s", name);
	j->worker = sp_fmt_start(sp_storage_loop(), &j->req, false, on_formatted, j, &err);
	if (!j->worker) {
		report(j, -1, &err);
		return 0;
	}
	j->state = JOB_FORMATTING;
	stop_timer(j);
	return 0;
}

static bool past(const struct timespec *d)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec > d->tv_sec || (now.tv_sec == d->tv_sec && now.tv_nsec >= d->tv_nsec);
}

static void on_timer(struct sp_watch *w, uint32_t events)
{
	struct sp_blk *j = ((struct blk_timer *)w)->j;
	uint64_t ticks;
	struct sp_err err;

	if (read(w->fd, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN)
		return;
	if (!j || j->state != JOB_WAITING)
		return;
	if (try_start(j) == 0)
		return;
	if (past(&j->deadline)) {
		sp_fail(&err, SP_E_TIMEOUT, 0,
			"storage.hotplug: no block device at PCI path %s after %u ms", j->shown_src,
			sp_storage_hotplug_timeout_ms());
		err.stage = SP_STAGE_STORAGE_HOTPLUG;
		report(j, -1, &err);
	}
}

static int start_timer(struct sp_blk *j, struct sp_err *err)
{
	struct itimerspec its = { .it_interval = { 0, POLL_MS * 1000000L },
				  .it_value = { 0, POLL_MS * 1000000L } };
	struct blk_timer *t = calloc(1, sizeof(*t));

	if (!t)
		return sp_error(err, ENOMEM, "storage: timer");
	t->w.fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (t->w.fd < 0 || timerfd_settime(t->w.fd, 0, &its, NULL) < 0) {
		sp_error(err, errno, "storage: timerfd");
		if (t->w.fd >= 0)
			close(t->w.fd);
		free(t);
		return -1;
	}
	t->w.on_event = on_timer;
	t->w.on_release = timer_release;
	t->j = j;
	if (sp_loop_add(sp_storage_loop(), &t->w, EPOLLIN, err) < 0) {
		close(t->w.fd);
		free(t);
		return -1;
	}
	j->timer = t;
	return 0;
}

/* Links j in and starts it: at once when its disk is there, else a sysfs poll until the
 * hot-plug deadline. Returns SP_PENDING (j may have failed and reported already) or -1 (j
 * freed, nothing reported). */
static int start_job(struct sp_blk *j, struct sp_err *err)
{
	unsigned ms = sp_storage_hotplug_timeout_ms();

	j->state = JOB_WAITING;
	clock_gettime(CLOCK_MONOTONIC, &j->deadline);
	j->deadline.tv_sec += ms / 1000;
	j->deadline.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (j->deadline.tv_nsec >= 1000000000L) {
		j->deadline.tv_sec++;
		j->deadline.tv_nsec -= 1000000000L;
	}
	j->next = jobs;
	jobs = j;
	if (try_start(j) == 0)
		return SP_PENDING; /* started, or failed and already reported */
	sp_info("storage", "container %s: waiting up to %u ms for the disk at PCI path %s", j->cid,
		ms, j->shown_src);
	if (start_timer(j, err) < 0) {
		free_job(j);
		return -1;
	}
	return SP_PENDING;
}

/* What the host's Storage asks of the blk driver, checked; the job to make it, not linked. */
static struct sp_blk *blk_job(const Grpc__Storage *s, const char *cid, struct sp_err *err)
{
	const char *src = s->source ? s->source : "";
	const char *mp = s->mount_point ? s->mount_point : "";
	const char *why = NULL;
	struct sp_blk_opts o;
	struct sp_blk *j;
	char shown[64];

	if (sp_blk_opts_parse(s->driver_options, s->n_driver_options, s->options, s->n_options, &o,
			      err) < 0)
		return sp_fail_wrap(err, SP_E_INVALID, "storage.options"), NULL;
	if (!o.encrypt && !o.create_fs)
		return sp_fail(err, SP_E_DENIED, 0,
			       "storage.options: mounting a host disk's file system unencrypted "
			       "is refused; use encryption_key=ephemeral"),
		       NULL;
	if (s->fstype && s->fstype[0] && strcmp(s->fstype, "ext4") != 0) {
		sp_log_escape(shown, sizeof(shown), s->fstype, strnlen(s->fstype, 40));
		return sp_fail(err, SP_E_INVALID, 0,
			       "storage.options: fstype '%s' is not supported (ext4)", shown),
		       NULL;
	}
	if (sp_path_beneath(mp, SP_KATA_PREFIX, NULL, &why) < 0 ||
	    strlen(mp) >= sizeof(((struct sp_fmt_req *)0)->target)) {
		sp_log_escape(shown, sizeof(shown), mp, strnlen(mp, 48));
		return sp_fail(err, SP_E_INVALID, 0, "storage.options: mount point '%s' %s", shown,
			       why ? why : "is too long"),
		       NULL;
	}
	j = calloc(1, sizeof(*j));
	if (!j)
		return sp_fail(err, SP_E_EXHAUSTED, ENOMEM, "storage"), NULL;
	sp_log_escape(j->shown_src, sizeof(j->shown_src), src, strnlen(src, 40));
	if (strncmp(src, "/dev/", 5) == 0) {
		if (!sp_valid_blkname(src + 5)) {
			sp_fail(err, SP_E_INVALID, 0, "storage.options: source '%s' is not a disk",
				j->shown_src);
			free(j);
			return NULL;
		}
		j->by_name = true;
		(void)snprintf(j->req.disk, sizeof(j->req.disk), "%s", src + 5);
	} else if (sp_pci_path_parse(src, strlen(src), &j->pci, err) < 0) {
		free(j);
		return sp_fail_wrap(err, SP_E_INVALID, "storage.options"), NULL;
	}
	(void)snprintf(j->cid, sizeof(j->cid), "%s", cid);
	(void)snprintf(j->req.dm_name, sizeof(j->req.dm_name), "sealpod-c%u", ++seq);
	(void)snprintf(j->req.target, sizeof(j->req.target), "%s", mp);
	j->req.flags = SP_FMT_KATA_EMPTYDIR;
	j->req.mflags = o.mflags;
	if (s->fs_group) {
		if (s->fs_group->group_id > 0x7fffffffu) {
			free(j);
			return sp_fail(err, SP_E_INVALID, 0,
				       "storage.fs_group: group %u is not a group id",
				       s->fs_group->group_id),
			       NULL;
		}
		j->req.has_fs_gid = true;
		j->req.fs_gid = s->fs_group->group_id;
		j->req.fs_gid_on_mismatch = s->fs_group->group_change_policy ==
					    TYPES__FSGROUP_CHANGE_POLICY__OnRootMismatch;
	}
	return j;
}

int sp_storage_blk_start(const Grpc__Storage *s, const char *cid, sp_done_fn done, void *arg,
			 struct sp_blk **out, struct sp_err *err)
{
	struct sp_blk *j;

	*out = NULL;
	if (!sp_storage_loop())
		return sp_fail(err, SP_E_UNAVAILABLE, 0, "storage: not initialised");
	j = blk_job(s, cid, err);
	if (!j)
		return -1;
	if (!add_waiter(j, done, arg, err)) {
		free(j);
		return -1;
	}
	*out = j;
	return start_job(j, err);
}

void sp_storage_blk_cancel(struct sp_blk *b)
{
	struct sp_blk *j = b;

	if (!j)
		return;
	if (j->state == JOB_FORMATTING)
		sp_fmt_abandon(j->worker); /* what it made is torn down when it ends */
	free_job(j);
}

/* Teardowns in flight, and who waits for them all to end (RemoveContainer: Kata hot-unplugs a
 * container's disks right after its answer, and a later format of the same disk must not find
 * the old mapping still open). */
static unsigned releasing;
static struct sp_storage_waiter *release_waiters;

static void on_released(void *arg, int ret, const struct sp_err *err, const struct sp_fmt_times *t)
{
	struct sp_storage_waiter *w;

	(void)arg;
	(void)t;
	if (ret < 0)
		sp_log(SP_LOG_ERROR, "storage", "%s", err ? err->msg : "release failed");
	if (releasing && --releasing)
		return;
	w = release_waiters;
	release_waiters = NULL;
	while (w) {
		struct sp_storage_waiter *next = w->next;

		w->done(w->arg, 0, NULL);
		free(w);
		w = next;
	}
}

int sp_storage_released_wait(sp_done_fn done, void *arg, struct sp_err *err)
{
	struct sp_storage_waiter *w;

	if (!releasing)
		return 0;
	w = calloc(1, sizeof(*w));
	if (!w)
		return sp_fail(err, SP_E_EXHAUSTED, ENOMEM, "storage: waiter");
	w->done = done;
	w->arg = arg;
	w->next = release_waiters;
	release_waiters = w;
	return SP_PENDING;
}

void sp_storage_blk_release(struct sp_blk *b)
{
	struct sp_blk *j = b;
	struct sp_err err;

	if (!j)
		return;
	if (j->state == JOB_READY) {
		sp_info("storage", "container %s: releasing %s (/dev/%s)", j->cid, j->req.target,
			j->req.disk);
		if (!sp_fmt_start(sp_storage_loop(), &j->req, true, on_released, NULL, &err))
			sp_log(SP_LOG_ERROR, "storage", "%s", err.msg);
		else
			releasing++;
	} else if (j->state == JOB_FORMATTING) {
		sp_fmt_abandon(j->worker);
	}
	free_job(j);
}

static struct sp_blk *trusted_job(void)
{
	for (struct sp_blk *j = jobs; j; j = j->next)
		if (j->trusted)
			return j;
	return NULL;
}

/* Kata's trusted image storage: a block device the pod names /dev/trusted_store (Device.id its
 * PCI path), formatted like the pod disk and mounted on /run/kata-containers/image, where the
 * image pull then unpacks layers (sp_storage_pod_dir() moves there). */
int sp_storage_trusted_start(const Grpc__Device *d, const char *cid, sp_done_fn done, void *arg,
			     struct sp_storage_waiter **w, struct sp_err *err)
{
	struct sp_blk *j;

	*w = NULL;
	if (!sp_storage_loop())
		return sp_fail(err, SP_E_UNAVAILABLE, 0, "storage: not initialised");
	j = trusted_job();
	if (j && j->state == JOB_READY)
		return 0; /* pod-scoped: made once */
	if (j)
		return (*w = add_waiter(j, done, arg, err)) ? SP_PENDING : -1;
	j = calloc(1, sizeof(*j));
	if (!j)
		return sp_fail(err, SP_E_EXHAUSTED, ENOMEM, "storage");
	sp_log_escape(j->shown_src, sizeof(j->shown_src), d->id ? d->id : "",
		      d->id ? strnlen(d->id, 40) : 0);
	if (!d->id || sp_pci_path_parse(d->id, strlen(d->id), &j->pci, err) < 0) {
		if (!d->id)
			(void)sp_error(err, 0, "no PCI path");
		free(j);
		return sp_fail_wrap(err, SP_E_INVALID, "storage.options: %s",
				    SP_TRUSTED_STORE_DEVICE);
	}
	j->trusted = true;
	(void)snprintf(j->cid, sizeof(j->cid), "%s", cid);
	(void)snprintf(j->req.dm_name, sizeof(j->req.dm_name), "sealpod-image");
	(void)snprintf(j->req.target, sizeof(j->req.target), "%s", TRUSTED_TARGET);
	if (!(*w = add_waiter(j, done, arg, err))) {
		free(j);
		return -1;
	}
	return start_job(j, err);
}

/* Forgets one waiter of the trusted store; the store is the pod's, so its format goes on for
 * the next caller. */
void sp_storage_trusted_cancel(struct sp_storage_waiter *w)
{
	struct sp_blk *j = trusted_job();

	for (struct sp_storage_waiter **pp = j ? &j->waiters : NULL; w && pp && *pp;
	     pp = &(*pp)->next)
		if (*pp == w) {
			*pp = w->next;
			free(w);
			return;
		}
}
