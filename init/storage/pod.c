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

#include "agent/gate.h"
#include "boot/boot.h"
#include "lib/log.h"
#include "storage/storage.h"
#include "storage/storage_int.h"

enum pod_state { POD_NONE, POD_FORMATTING, POD_READY, POD_FAILED };

struct waiter {
	struct waiter *next;
	sp_storage_ready_fn cb;
	void *arg;
};

static struct sp_loop *loop;
static unsigned hotplug_ms = 3000;
static enum pod_state state = POD_NONE;
static bool encrypted;
static struct sp_err fail;
static struct waiter *waiters;
static char pod_disk[32];
static bool host_mode;
static const char *pod_dir = SP_STORAGE_DIR;
static void notify_all(void);

void sp_storage_note_trusted(const char *dir)
{
	pod_dir = dir;
	encrypted = true;
	state = POD_READY;
	sp_agent_note_encrypted_storage();
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
		struct waiter *w = waiters;

		waiters = w->next;
		w->cb(w->arg, state == POD_READY ? 0 : -1, state == POD_READY ? NULL : &fail);
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
		sp_agent_note_encrypted_storage();
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
	if (!sp_worker_start(l, &r, false, on_formatted, NULL, &err)) {
		state = POD_FAILED;
		fail = err;
		sp_log(SP_LOG_ERROR, "storage", "%s; pod storage unavailable", err.msg);
		return -1;
	}
	sp_info("storage", "formatting /dev/%s (%llu MiB, serial %s) in a worker", disk,
		(unsigned long long)(bytes >> 20), SP_STORAGE_SERIAL);
	return 0;
}

bool sp_storage_encryption_pending(void)
{
	return state == POD_FORMATTING;
}

const char *sp_storage_pod_dir(bool *enc)
{
	if (state != POD_READY || host_mode)
		return NULL;
	if (enc)
		*enc = encrypted;
	return pod_dir;
}

void sp_storage_when_ready(sp_storage_ready_fn cb, void *arg)
{
	struct waiter *w;

	if (state == POD_READY || state == POD_FAILED || state == POD_NONE) {
		static const struct sp_err none_yet = { 0, "storage: not set up (boot step "
							   "missing)" };

		cb(arg, state == POD_READY ? 0 : -1,
		   state == POD_READY	 ? NULL
		   : state == POD_FAILED ? &fail
					 : &none_yet);
		return;
	}
	w = calloc(1, sizeof(*w));
	if (!w) {
		static const struct sp_err oom = { ENOMEM, "storage: out of memory" };

		cb(arg, -1, &oom);
		return;
	}
	w->cb = cb;
	w->arg = arg;
	w->next = waiters;
	waiters = w;
}

void sp_storage_when_ready_cancel(void *arg)
{
	for (struct waiter **pp = &waiters; *pp;) {
		struct waiter *w = *pp;

		if (w->arg == arg) {
			*pp = w->next;
			free(w);
		} else {
			pp = &w->next;
		}
	}
}
