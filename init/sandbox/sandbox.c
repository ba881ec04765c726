/* The sandbox-level handlers of grpc.AgentService: CreateSandbox, DestroySandbox, OnlineCPUMem and
 * CopyFile, exported as the module's method table (sp_sandbox_api). The policy has already
 * allowed each request when it gets here (agent/gate.c). */
#define _GNU_SOURCE
#include "sandbox/sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "lib/cleanup.h"
#include "lib/fileio.h"
#include "lib/log.h"
#include "lib/validate.h"
#include "storage/storage.h"

static struct {
	bool created;
	bool pidns;
	char id[SP_ID_MAX + 1];
} sandbox;

static char root_override[SP_PATH_MAX + 1];
static bool root_set;

/* --- where files go ---------------------------------------------------------------------------- */

void sp_sandbox_set_root(const char *root)
{
	root_set = root != NULL;
	(void)snprintf(root_override, sizeof(root_override), "%s", root ? root : "");
}

/* "" in the guest; the test root off PID 1; NULL when there is none. The environment is read
 * only off PID 1: a guest's environment comes from the host's kernel command line. */
static const char *root_dir(void)
{
	const char *env;

	if (root_set)
		return root_override;
	if (getpid() == 1)
		return "";
	env = getenv("SEALPOD_HOST_ROOT");
	return env && env[0] == '/' ? env : NULL;
}

int sp_sandbox_path(const char *abs_path, char *buf, size_t size, struct sp_err *err)
{
	const char *root = root_dir();
	int n;

	if (!root)
		return sp_error(err, 0, "host test mode: no SEALPOD_HOST_ROOT to write beneath");
	n = snprintf(buf, size, "%s%s", root, abs_path);
	if (n < 0 || (size_t)n >= size)
		return sp_error(err, ENAMETOOLONG, "%s%s", root, abs_path);
	return 0;
}

/* mkdir -p of one of our own paths (no host text in it). */
static int mkdir_p(const char *path, mode_t mode, struct sp_err *err)
{
	char buf[SP_PATH_MAX + 1];

	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
		return sp_error(err, ENAMETOOLONG, "%s", path);
	for (char *p = buf + 1;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char saved = *p;

		*p = '\0';
		if (mkdir(buf, mode) < 0 && errno != EEXIST)
			return sp_error(err, errno, "mkdir %s", buf);
		*p = saved;
		if (!saved)
			return 0;
	}
}

/* --- CreateSandbox ----------------------------------------------------------------------------- */

static int write_resolv_conf(const char *content, size_t len, struct sp_err *err)
{
	char path[SP_PATH_MAX + 1], tmp[SP_PATH_MAX + 16], dir[SP_PATH_MAX + 1];
	cleanup_close int fd = -1;

	if (sp_sandbox_path(SP_RESOLV_PATH, path, sizeof(path), err) < 0)
		return -1;
	(void)snprintf(dir, sizeof(dir), "%s", path);
	*strrchr(dir, '/') = '\0';
	if (mkdir_p(dir, 0755, err) < 0)
		return -1;
	(void)snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0)
		return sp_error(err, errno, "open %s", tmp);
	if (sp_write_all(fd, content, len) < 0 || fchmod(fd, 0644) < 0)
		return sp_error(err, errno, "write %s", tmp);
	if (rename(tmp, path) < 0)
		return sp_error(err, errno, "rename %s", path);
	return 0;
}

static int create_sandbox(struct tt_call *call, const Grpc__CreateSandboxRequest *req,
			  const struct sp_verdict *verdict)
{
	char resolv[SP_RESOLV_MAX_BYTES + 1], b[SP_ID_MAX + 8];
	size_t rlen = 0, hlen = strlen(req->hostname);
	struct sp_shm_opts shm;
	struct sp_err err;

	/* Everything is checked before anything changes: a refused request leaves no trace. */
	if (!sp_valid_id(req->sandbox_id)) {
		sp_log_escape(b, sizeof(b), req->sandbox_id,
			      strnlen(req->sandbox_id, SP_ID_MAX + 1));
		return tt_call_failf(call, SP_E_INVALID,
				     "CreateSandbox: sandbox_id '%s' is not a valid id", b);
	}
	if (sandbox.created)
		return tt_call_failf(call, SP_E_EXISTS,
				     "CreateSandbox: sandbox '%s' already exists", sandbox.id);
	if (hlen && !sp_valid_hostname(req->hostname, hlen)) {
		sp_log_escape(b, sizeof(b), req->hostname, strnlen(req->hostname, 80));
		return tt_call_failf(call, SP_E_INVALID,
				     "CreateSandbox: hostname '%s' is not a valid host name", b);
	}
	if (req->n_storages > 1)
		return tt_call_failf(call, SP_E_UNSUPPORTED,
				     "CreateSandbox: %zu storages (the sandbox takes only its shm)",
				     req->n_storages);
	if (req->n_storages && sp_storage_shm_check(req->storages[0], &shm, &err) < 0) {
		sp_error_wrap(&err, "CreateSandbox");
		return tt_call_fail(call, &err);
	}
	if (req->n_kernel_modules) {
		sp_log_escape(b, sizeof(b), req->kernel_modules[0]->name,
			      strnlen(req->kernel_modules[0]->name, 64));
		return tt_call_failf(call, SP_E_UNSUPPORTED,
				     "CreateSandbox: kernel module '%s': this guest's kernel loads "
				     "no modules",
				     b);
	}
	if (sp_resolv_conf_build(req->dns, req->n_dns, resolv, sizeof(resolv), &rlen, &err) < 0)
		return tt_call_failf(call, SP_E_INVALID, "CreateSandbox: %s", err.msg);
	if (!root_dir())
		return tt_call_failf(call, SP_E_PRECONDITION,
				     "CreateSandbox: host test mode without SEALPOD_HOST_ROOT");

	if (req->guest_hook_path[0])
		sp_warn("sandbox", "guest_hook_path ignored: this guest runs no hooks");
	if (hlen) {
		if (getpid() != 1)
			sp_info("sandbox", "hostname %s not set (host test mode)", req->hostname);
		else if (sethostname(req->hostname, hlen) < 0)
			return tt_call_failf(call, SP_E_INTERNAL, "CreateSandbox: sethostname: %s",
					     strerror(errno));
	}
	if (write_resolv_conf(resolv, rlen, &err) < 0) {
		sp_warn("sandbox", "resolv.conf: %s", err.msg);
		return tt_call_failf(call, SP_E_INTERNAL,
				     "CreateSandbox: cannot write resolv.conf");
	}
	if (req->n_storages && sp_storage_shm_mount(root_dir(), &shm, getpid() == 1, &err) < 0) {
		sp_warn("sandbox", "%s", err.msg);
		return tt_call_failf(call, SP_E_INTERNAL, "CreateSandbox: cannot mount the shm");
	}
	(void)snprintf(sandbox.id, sizeof(sandbox.id), "%s", req->sandbox_id);
	sandbox.pidns = req->sandbox_pidns;
	sandbox.created = true;
	sp_info("sandbox", "created %s hostname=%s dns=%zu lines pidns=%s", sandbox.id,
		hlen ? req->hostname : "(unchanged)", req->n_dns,
		sandbox.pidns ? "shared" : "per-container");
	return tt_call_reply(call, NULL);
}

bool sp_sandbox_created(void)
{
	return sandbox.created;
}

const char *sp_sandbox_id(void)
{
	return sandbox.created ? sandbox.id : NULL;
}

bool sp_sandbox_pidns(void)
{
	return sandbox.pidns;
}

/* --- DestroySandbox ---------------------------------------------------------------------------- */

/* PID 1's loop owns SIGTERM through its signalfd (boot/signals.c), and SIGTERM there is the
 * orderly power-off (sync, RB_POWER_OFF; off PID 1, a clean exit). The reply to DestroySandbox
 * leaves PID 1 in the same batch, but it still has to cross the transport (vsock, or the test
 * image's relay, which the power-off's SIGTERM-to-everyone would kill) before the host reads it;
 * so the SIGTERM comes from a one-shot timer a moment later. Where SIGTERM is not blocked (no
 * loop: unit tests) it would kill the process at once, so nothing is sent. */
#define POWEROFF_GRACE_MS 500

static struct sp_watch grace = { .fd = -1 };
static struct sp_loop *loop;

void sp_sandbox_init(struct sp_loop *l)
{
	loop = l;
}

static void grace_expired(struct sp_watch *w, uint32_t events)
{
	(void)w;
	(void)events;
	kill(getpid(), SIGTERM);
}

static void request_poweroff(void)
{
	struct itimerspec its = { .it_value = { .tv_nsec = POWEROFF_GRACE_MS * 1000000L } };
	struct sp_err err;
	sigset_t cur;

	if (sigprocmask(SIG_BLOCK, NULL, &cur) < 0 || !sigismember(&cur, SIGTERM)) {
		sp_warn("sandbox", "DestroySandbox: no event loop owns SIGTERM; not powering off");
		return;
	}
	if (grace.fd >= 0)
		return; /* already on its way */
	grace.fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	grace.on_event = grace_expired;
	if (!loop || grace.fd < 0 || timerfd_settime(grace.fd, 0, &its, NULL) < 0 ||
	    sp_loop_add(loop, &grace, EPOLLIN, &err) < 0)
		kill(getpid(), SIGTERM); /* no timer: power off without the grace */
}

static void (*destroy_hook)(void) = request_poweroff;

void sp_sandbox_set_destroy_hook(void (*fn)(void))
{
	destroy_hook = fn ? fn : request_poweroff;
}

static int destroy_sandbox(struct tt_call *call, const Grpc__DestroySandboxRequest *req,
			   const struct sp_verdict *verdict)
{
	int ret;

	(void)req;
	sp_info("sandbox", "DestroySandbox: powering off once the reply is sent");
	ret = tt_call_reply(call, NULL);
	destroy_hook();
	return ret;
}

/* --- OnlineCPUMem ------------------------------------------------------------------------------ */

static int online_cpu_mem(struct tt_call *call, const Grpc__OnlineCPUMemRequest *req,
			  const struct sp_verdict *verdict)
{
	char sysfs[SP_PATH_MAX + 1];
	unsigned cpus, mems;
	struct sp_err err;

	if (sp_sandbox_path("/sys", sysfs, sizeof(sysfs), &err) < 0)
		return tt_call_failf(call, SP_E_PRECONDITION, "OnlineCPUMem: %s", err.msg);
	if (sp_online_cpu_mem(sysfs, req->nb_cpus, req->cpu_only, &cpus, &mems, &err) < 0) {
		sp_warn("sandbox", "OnlineCPUMem: %s", err.msg);
		return tt_call_failf(call, SP_E_INTERNAL,
				     "OnlineCPUMem: cannot online CPUs or memory");
	}
	sp_info("sandbox", "OnlineCPUMem: %u of %u cpus, %u memory blocks onlined%s", cpus,
		req->nb_cpus, mems,
		req->wait && cpus < req->nb_cpus ? " (not waiting for more)" : "");
	return tt_call_reply(call, NULL);
}

/* --- CopyFile ---------------------------------------------------------------------------------- */

/* The shared-files directory, created on first use (it lives on /run's tmpfs). */
static int open_shared_dir(struct sp_err *err)
{
	char path[SP_PATH_MAX + 1];
	int fd;

	if (sp_sandbox_path(SP_SHARED_PREFIX, path, sizeof(path), err) < 0)
		return -1;
	path[strlen(path) - 1] = '\0'; /* the prefix ends in '/' */
	if (mkdir_p(path, 0755, err) < 0)
		return -1;
	fd = open(path, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return sp_error(err, errno, "open %s", path);
	return fd;
}

static int copy_file(struct tt_call *call, const Grpc__CopyFileRequest *req,
		     const struct sp_verdict *verdict)
{
	const char *rest = NULL, *reason = NULL;
	cleanup_close int dirfd = -1;
	bool stripped = false;
	struct sp_err err;
	char b[96];
	int ret;

	/* The policy checked the path against its own prefix already; this is the handler's
	 * floor, whatever policy is loaded. */
	if (sp_path_beneathn(req->path, strlen(req->path), SP_SHARED_PREFIX, &rest, &reason) < 0) {
		sp_log_escape(b, sizeof(b), req->path, strnlen(req->path, SP_PATH_MAX + 1));
		return tt_call_failf(call, SP_E_INVALID, "CopyFile: path '%s' %s", b, reason);
	}
	dirfd = open_shared_dir(&err);
	if (dirfd < 0) {
		sp_warn("sandbox", "CopyFile: %s", err.msg);
		return tt_call_failf(call, root_dir() ? SP_E_INTERNAL : SP_E_PRECONDITION,
				     "CopyFile: the shared-files directory is not available");
	}
	ret = sp_copy_file_at(dirfd, rest, req, geteuid() == 0, &stripped, &err);
	if (ret < 0) {
		sp_log_escape(b, sizeof(b), rest, strnlen(rest, SP_PATH_MAX));
		sp_warn("sandbox", "CopyFile %s: %s", b, err.msg);
		sp_error_wrap(&err, "CopyFile");
		return tt_call_fail(call, &err);
	}
	if (stripped) {
		sp_log_escape(b, sizeof(b), rest, strnlen(rest, SP_PATH_MAX));
		sp_warn("sandbox", "CopyFile %s: set-id/sticky bits of mode %o dropped", b,
			req->file_mode & 07777);
	}
	return tt_call_reply(call, NULL);
}

TT_MSG_ADAPTER(create_sandbox, Grpc__CreateSandboxRequest)
TT_MSG_ADAPTER(destroy_sandbox, Grpc__DestroySandboxRequest)
TT_MSG_ADAPTER(online_cpu_mem, Grpc__OnlineCPUMemRequest)
TT_MSG_ADAPTER(copy_file, Grpc__CopyFileRequest)

static const struct tt_msg_method sandbox_methods[] = {
	TT_MSG_METHOD("CreateSandbox", grpc__create_sandbox_request, create_sandbox),
	TT_MSG_METHOD("DestroySandbox", grpc__destroy_sandbox_request, destroy_sandbox),
	TT_MSG_METHOD("OnlineCPUMem", grpc__online_cpumem_request, online_cpu_mem),
	TT_MSG_METHOD("CopyFile", grpc__copy_file_request, copy_file),
};

const struct tt_msg_table sp_sandbox_api = { "sandbox", sandbox_methods,
					     sizeof(sandbox_methods) / sizeof(sandbox_methods[0]) };
