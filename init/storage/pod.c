/* The pod storage (storage.h): standalone, the sealpod-ephemeral disk formatted at boot in a
 * worker and mounted at /run/sealpod/storage; with no such disk, a directory on /run's tmpfs
 * (guest memory, encrypted by the TEE), as Confidential Containers does today, and the console
 * says so. Callers wait with sp_storage_when_ready(). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/power.h"
#include "storage/storage.h"
#include "storage/storage_int.h"

enum pod_state { POD_NONE, POD_FORMATTING, POD_READY, POD_FAILED };

static struct sp_loop *loop;
static unsigned hotplug_ms = 3000;
static enum pod_state state = POD_NONE;
static bool encrypted;
static struct sp_err fail;
static struct sp_storage_waiter *waiters;
static char pod_disk[32];
static bool host_mode;
static const char *pod_dir = SP_STORAGE_DIR;
static void notify_all(void);

void sp_storage_note_trusted(const char *dir)
{
	pod_dir = dir;
	encrypted = true;
	state = POD_READY;
	sp_info("storage", "pod storage (image layers) is now the trusted store at %s", dir);
	notify_all();
}

const char *sp_storage_pod_disk(void)
{
	return pod_disk[0] ? pod_disk : NULL;
}

struct sp_loop *sp_storage_loop(void)
{
	return loop;
}

unsigned sp_storage_hotplug_timeout_ms(void)
{
	return hotplug_ms;
}

static void notify_all(void)
{
	while (waiters) {
		struct sp_storage_waiter *w = waiters;

		waiters = w->next;
		w->done(w->arg, state == POD_READY ? 0 : -1, state == POD_READY ? NULL : &fail);
		free(w);
	}
}

static void on_formatted(void *arg, int ret, const struct sp_err *err, const struct sp_fmt_times *t)
{
	if (ret < 0) {
		state = POD_FAILED;
		fail = *err;
		sp_log(SP_LOG_ERROR, "storage", "%s; pod storage unavailable", err->msg);
	} else {
		state = POD_READY;
		encrypted = true;
		sp_info("storage",
			"%s ready: LUKS2 aes-xts-plain64 + hmac(sha256), 4096-byte sectors, ext4 "
			"nodev,nosuid (luks %ums, mkfs prep %ums, mkfs %ums, mount %ums, total "
			"%ums)",
			SP_STORAGE_DIR, t->luks_ms, t->wipe_ms, t->mkfs_ms, t->mount_ms,
			t->total_ms);
	}
	notify_all();
}

static void use_tmpfs(const char *why)
{
	if (mkdir("/run/sealpod", 0755) < 0 && errno != EEXIST)
		sp_warn("storage", "mkdir /run/sealpod: %s", strerror(errno));
	if (mkdir(SP_STORAGE_TMPFS_DIR, 0700) < 0 && errno != EEXIST)
		sp_warn("storage", "mkdir %s: %s", SP_STORAGE_TMPFS_DIR, strerror(errno));
	state = POD_READY;
	encrypted = false;
	pod_dir = SP_STORAGE_TMPFS_DIR;
	sp_info("storage",
		"%s: image layers and upper dirs live on tmpfs at %s (guest memory), as "
		"Confidential Containers does; a policy with require_encrypted_storage refuses "
		"containers",
		why, SP_STORAGE_TMPFS_DIR);
}

int sp_storage_boot(struct sp_loop *l, unsigned hotplug_timeout_s)
{
	struct sp_fmt_req r = { .flags = 0 };
	struct sp_err err;
	char disk[32];
	uint64_t bytes = 0;
	unsigned lbs = 0;
	int found;

	loop = l;
	hotplug_ms = hotplug_timeout_s * 1000u;
	if (!sp_is_pid1()) {
		/* Ready, but no directory of ours: callers use their own host-test fallback. */
		state = POD_READY;
		host_mode = true;
		sp_info("storage", "skipped: not PID 1 (host test mode)");
		return 0;
	}
	found = sp_sysfs_find_serial(SP_STORAGE_SERIAL, disk, sizeof(disk), &err);
	if (found < 0)
		sp_warn("storage", "looking for the %s disk: %s", SP_STORAGE_SERIAL, err.msg);
	if (found != 0) {
		use_tmpfs("no " SP_STORAGE_SERIAL " disk");
		return 0;
	}
	if (sp_sysfs_disk_size(disk, &bytes, &lbs, &err) < 0 ||
	    sp_storage_size_check(disk, bytes, &err) < 0) {
		state = POD_FAILED;
		sp_error_wrap(&err, "storage.size");
		fail = err;
		sp_log(SP_LOG_ERROR, "storage", "%s; pod storage unavailable", err.msg);
		return -1;
	}
	(void)snprintf(r.disk, sizeof(r.disk), "%s", disk);
	(void)snprintf(pod_disk, sizeof(pod_disk), "%s", disk);
	(void)snprintf(r.dm_name, sizeof(r.dm_name), "sealpod-pod");
	(void)snprintf(r.target, sizeof(r.target), "%s", SP_STORAGE_DIR);
	state = POD_FORMATTING;
	if (!sp_fmt_start(l, &r, false, on_formatted, NULL, &err)) {
		state = POD_FAILED;
		fail = err;
		sp_log(SP_LOG_ERROR, "storage", "%s; pod storage unavailable", err.msg);
		return -1;
	}
	sp_info("storage", "formatting /dev/%s (%llu MiB, serial %s) in a worker", disk,
		(unsigned long long)(bytes >> 20), SP_STORAGE_SERIAL);
	return 0;
}

enum sp_pod_state sp_storage_state(bool *enc)
{
	static const enum sp_pod_state map[] = { [POD_NONE] = SP_POD_NONE,
						 [POD_FORMATTING] = SP_POD_PENDING,
						 [POD_READY] = SP_POD_READY,
						 [POD_FAILED] = SP_POD_FAILED };

	if (enc)
		*enc = state == POD_READY && encrypted && !host_mode;
	return map[state];
}

const char *sp_storage_pod_dir(bool *enc)
{
	if (state != POD_READY || host_mode)
		return NULL;
	if (enc)
		*enc = encrypted;
	return pod_dir;
}

int sp_storage_wait(sp_done_fn done, void *arg, struct sp_storage_waiter **out, struct sp_err *err)
{
	struct sp_storage_waiter *w;

	*out = NULL;
	if (state == POD_READY)
		return 0;
	if (state == POD_FAILED) {
		*err = fail;
		return sp_err_kind(err, SP_E_PRECONDITION);
	}
	if (state == POD_NONE)
		return sp_fail(err, SP_E_UNAVAILABLE, 0, "storage: not set up (boot step missing)");
	w = calloc(1, sizeof(*w));
	if (!w)
		return sp_fail(err, SP_E_EXHAUSTED, ENOMEM, "storage");
	w->done = done;
	w->arg = arg;
	w->next = waiters;
	waiters = w;
	*out = w;
	return SP_PENDING;
}

void sp_storage_wait_cancel(struct sp_storage_waiter *w)
{
	for (struct sp_storage_waiter **pp = &waiters; w && *pp; pp = &(*pp)->next)
		if (*pp == w) {
			*pp = w->next;
			free(w);
			return;
		}
}
