/* The control port's container and process methods: the strong definitions of the sp_agent_*
 * handlers that service.c declares weak. The request has passed the policy gate already; what
 * the host asks for is still filtered here (spec.c). */
#define _GNU_SOURCE
#include "runtime/rt.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <termios.h>

#include <json-c/json.h>

#include "agent/service.h"
#include "boot/boot.h"
#include "boot/config.h"
#include "lib/cleanup.h"
#include "lib/fileio.h"
#include "lib/log.h"
#include "lib/pathat.h"
#include "lib/testmode.h"
#include "runtime/prepare.h"
#include "storage/storage.h"
#include "agent/gate.h"

/* Test images only (the overlay's marker is part of the measured initrd): the busybox bundle
 * shipped in the overlay counts as prepared for a container that has no rootfs of its own, until
 * the image pull prepares real ones. */
#define TEST_BUNDLE_ROOTFS "/usr/share/sealpod/bundles/busybox/rootfs"

/* Test images only: the bundle's image-config.json, when a test put one there, stands for the
 * configuration the image pull would register ({"Entrypoint": [...], "Cmd": [...], "Env": [...],
 * "User": "...", "WorkingDir": "..."}, the "config" object of an OCI image configuration). */
#define TEST_BUNDLE_IMAGE_CONFIG "/usr/share/sealpod/bundles/busybox/image-config.json"

static size_t test_strv(json_object *o, const char *key, const char **v, size_t max)
{
	json_object *a;
	size_t n = 0;

	if (!json_object_object_get_ex(o, key, &a) || !json_object_is_type(a, json_type_array))
		return 0;
	for (size_t i = 0; i < json_object_array_length(a) && n < max; i++) {
		json_object *e = json_object_array_get_idx(a, i);

		if (json_object_is_type(e, json_type_string))
			v[n++] = json_object_get_string(e);
	}
	return n;
}

static const char *test_str(json_object *o, const char *key)
{
	json_object *s;

	return json_object_object_get_ex(o, key, &s) && json_object_is_type(s, json_type_string)
		       ? json_object_get_string(s)
		       : NULL;
}

static void test_overlay_image_config(const char *cid)
{
	const char *ep[16], *cmd[16], *env[32];
	struct sp_rt_image_config c;
	cleanup_close int fd = open(TEST_BUNDLE_IMAGE_CONFIG, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	char buf[8192];
	ssize_t n;
	json_object *o;

	if (fd < 0 || (n = read(fd, buf, sizeof(buf) - 1)) <= 0)
		return;
	buf[n] = '\0';
	o = json_tokener_parse(buf);
	if (!o || !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		sp_warn("runtime", "%s: not a JSON object", TEST_BUNDLE_IMAGE_CONFIG);
		return;
	}
	memset(&c, 0, sizeof(c));
	c.n_entrypoint = test_strv(o, "Entrypoint", ep, 16);
	c.n_cmd = test_strv(o, "Cmd", cmd, 16);
	c.n_env = test_strv(o, "Env", env, 32);
	c.entrypoint = ep;
	c.cmd = cmd;
	c.env = env;
	c.user = test_str(o, "User");
	c.workdir = test_str(o, "WorkingDir");
	c.digest = "sha256:test-overlay-bundle";
	if (sp_runtime_register_image_config(cid, &c) < 0)
		sp_warn("runtime", "%s: refused", TEST_BUNDLE_IMAGE_CONFIG);
	json_object_put(o);
}

static void test_overlay_rootfs(const Grpc__CreateContainerRequest *req)
{
	const char *want = req->oci && req->oci->root ? req->oci->root->path : NULL;

	uint64_t mnt_id;

	/* The overlay decision is the one made at boot: a marker file appearing later counts for
	 * nothing. */
	if (!want || strcmp(want, TEST_BUNDLE_ROOTFS) != 0 || !req->container_id ||
	    !sp_valid_id(req->container_id) || sp_runtime_rootfs(req->container_id) ||
	    !sp_test_overlay() || sp_path_mount_id(TEST_BUNDLE_ROOTFS, &mnt_id, NULL) < 0)
		return;
	(void)sp_runtime_register_rootfs(req->container_id, TEST_BUNDLE_ROOTFS, mnt_id);
	if (!sp_runtime_image_config(req->container_id))
		test_overlay_image_config(req->container_id);
}

/* Starts the runtime on PID 1's loop the first time a container is asked for. */
static void ensure_ready(void)
{
	struct sp_err err;

	if (rt.ready || !sp_is_pid1() || !sp_signals_loop())
		return;
	if (sp_rt_init(sp_signals_loop(), &err) < 0)
		sp_warn("runtime", "%s", err.msg);
}

/* The gate (when linked) has checked every capability against the policy's consent; without
 * it only the default set is granted. */
static uint64_t allowed_extra_caps(void)
{
	return sp_agent_policy_gate ? ~0ULL : 0;
}

static int answer(struct tt_call *call, int ret, const struct sp_err *err)
{
	if (ret >= 0)
		return tt_call_reply(call, NULL);
	return tt_call_error(call, (enum tt_code) - ret, "%s", err->msg);
}

static bool is_pause(const Grpc__CreateContainerRequest *req)
{
	for (size_t i = 0; i < req->n_storages; i++) {
		const Grpc__Storage *s = req->storages[i];

		if (s->driver && strcmp(s->driver, "image_guest_pull") == 0 && s->source &&
		    strcmp(s->source, "pause") == 0)
			return true;
	}
	return false;
}

/* The last preparation step (prepare.h): the container itself. */
static int create_now(const Grpc__CreateContainerRequest *req, struct sp_err *err)
{
	bool encrypted = false;

	/* The gate let this request through while the encrypted storage was still coming; by now
	 * the pod storage must be it (the built-in pause writes nothing and is exempt). */
	if (!is_pause(req) && sp_agent_encrypted_storage_required() &&
	    !(sp_storage_pod_dir && sp_storage_pod_dir(&encrypted) && encrypted))
		return sp_error(err, 0,
				"policy.deny: require_encrypted_storage is set and the pod storage "
				"is not on an encrypted disk"),
		       -TT_PERMISSION_DENIED;
	ensure_ready();
	if (rt.ready)
		test_overlay_rootfs(req);
	return sp_rt_create(req->container_id, req->oci, req->sandbox_pidns, is_pause(req),
			    allowed_extra_caps(), NULL, err);
}

/* The only device a request may name is the pod's trusted image store, which the storage module
 * consumes (prepare.h, sp_storage_devices_prepare) and no container ever sees. */
static bool devices_allowed(const Grpc__CreateContainerRequest *req)
{
	for (size_t i = 0; i < req->n_devices; i++) {
		const char *p = req->devices[i]->container_path;

		if (!sp_storage_devices_prepare || !p || strcmp(p, "/dev/trusted_store") != 0)
			return false;
	}
	return true;
}

int sp_agent_create_container(struct tt_call *call, const Grpc__CreateContainerRequest *req)
{
	if (!devices_allowed(req))
		return tt_call_error(call, TT_INVALID_ARGUMENT,
				     "devices refused: containers get only the default devices");
	if (req->container_id && sp_valid_id(req->container_id) &&
	    sp_rt_status(req->container_id, "", &(bool){ false }, &(int){ 0 }) == 0)
		return tt_call_error(call, TT_ALREADY_EXISTS, "container %s already exists",
				     req->container_id);
	return sp_prep_start(call, req, create_now);
}

int sp_agent_start_container(struct tt_call *call, const Grpc__StartContainerRequest *req)
{
	struct sp_err err = { 0 };

	return answer(call, sp_rt_start(req->container_id, &err), &err);
}

int sp_agent_remove_container(struct tt_call *call, const Grpc__RemoveContainerRequest *req)
{
	struct sp_err err = { 0 };
	int ret = sp_rt_remove(req->container_id, &err);

	/* The container is gone: release its storages (image rootfs, block devices). */
	if (ret >= 0)
		sp_prep_release_all(req->container_id);
	return answer(call, ret, &err);
}

int sp_agent_exec_process(struct tt_call *call, const Grpc__ExecProcessRequest *req)
{
	struct sp_err err = { 0 };

	return answer(call,
		      sp_rt_exec(req->container_id, req->exec_id, req->process,
				 allowed_extra_caps(), NULL, &err),
		      &err);
}

int sp_agent_signal_process(struct tt_call *call, const Grpc__SignalProcessRequest *req)
{
	struct sp_err err = { 0 };

	return answer(call, sp_rt_signal(req->container_id, req->exec_id, (int)req->signal, &err),
		      &err);
}

/* The process a request names, or an answered NOT_FOUND. */
static struct rt_proc *lookup(struct tt_call *call, const char *cid, const char *exec_id)
{
	struct rt_ctr *c = rt_ctr_find(cid);
	struct rt_proc *p = c ? rt_proc_find(c, exec_id) : NULL;

	if (!c)
		tt_call_error(call, TT_NOT_FOUND, "container %s not found",
			      cid && sp_valid_id(cid) ? cid : "(invalid id)");
	else if (!p)
		tt_call_error(call, TT_NOT_FOUND, "process %s not found in %s",
			      exec_id && sp_valid_id(exec_id) ? exec_id : "(invalid id)", c->id);
	return p;
}

int sp_agent_wait_process(struct tt_call *call, const Grpc__WaitProcessRequest *req)
{
	struct rt_proc *p = lookup(call, req->container_id, req->exec_id);

	return p ? rt_proc_wait(call, p) : TT_DONE;
}

int sp_agent_read_stdout(struct tt_call *call, const Grpc__ReadStreamRequest *req)
{
	struct rt_proc *p = lookup(call, req->container_id, req->exec_id);

	return p ? rt_proc_read(call, p, false, req->len) : TT_DONE;
}

int sp_agent_read_stderr(struct tt_call *call, const Grpc__ReadStreamRequest *req)
{
	struct rt_proc *p = lookup(call, req->container_id, req->exec_id);

	return p ? rt_proc_read(call, p, true, req->len) : TT_DONE;
}

int sp_agent_write_stdin(struct tt_call *call, const Grpc__WriteStreamRequest *req)
{
	struct rt_proc *p = lookup(call, req->container_id, req->exec_id);

	if (!p)
		return TT_DONE;
	if (req->data.len == 0) { /* as the Rust agent: empty data closes stdin */
		Grpc__WriteStreamResponse r = GRPC__WRITE_STREAM_RESPONSE__INIT;

		rt_proc_close_stdin(p);
		return tt_call_reply(call, &r.base);
	}
	return rt_proc_write(call, p, req->data.data, req->data.len);
}

int sp_agent_close_stdin(struct tt_call *call, const Grpc__CloseStdinRequest *req)
{
	struct rt_proc *p = lookup(call, req->container_id, req->exec_id);

	if (!p)
		return TT_DONE;
	rt_proc_close_stdin(p);
	return tt_call_reply(call, NULL);
}

int sp_agent_tty_win_resize(struct tt_call *call, const Grpc__TtyWinResizeRequest *req)
{
	struct rt_proc *p = lookup(call, req->container_id, req->exec_id);
	struct winsize ws;

	if (!p)
		return TT_DONE;
	if (p->tty_master < 0)
		return tt_call_error(call, TT_FAILED_PRECONDITION, "process %s has no terminal",
				     p->exec_id);
	memset(&ws, 0, sizeof(ws));
	ws.ws_row = (unsigned short)(req->row > 0xffff ? 0xffff : req->row);
	ws.ws_col = (unsigned short)(req->column > 0xffff ? 0xffff : req->column);
	if (ioctl(p->tty_master, TIOCSWINSZ, &ws) < 0)
		return tt_call_error(call, TT_INTERNAL, "TIOCSWINSZ: %s", strerror(errno));
	return tt_call_reply(call, NULL);
}

int sp_agent_stats_container(struct tt_call *call, const Grpc__StatsContainerRequest *req)
{
	Grpc__StatsContainerResponse r = GRPC__STATS_CONTAINER_RESPONSE__INIT;
	struct rt_ctr *c = rt_ctr_find(req->container_id);
	struct rt_sp_stats_holder {
		struct sp_rt_stats s;
	} h;

	if (!c)
		return tt_call_error(call, TT_NOT_FOUND, "container %s not found",
				     req->container_id && sp_valid_id(req->container_id)
					     ? req->container_id
					     : "(invalid id)");
	if (c->cgfd >= 0) {
		sp_cgroup_stats(c->cgfd, &h.s);
		r.cgroup_stats = &h.s.st;
	}
	return tt_call_reply(call, &r.base);
}

int sp_agent_get_oom_event(struct tt_call *call, const Grpc__GetOOMEventRequest *req)
{
	ensure_ready();
	if (!rt.ready)
		return tt_call_error(call, TT_FAILED_PRECONDITION,
				     "containers run only in the guest: no OOM event will come");
	if (rt.oom_n) {
		Grpc__OOMEvent ev = GRPC__OOMEVENT__INIT;

		ev.container_id = rt.oom_queue[rt.oom_head];
		rt.oom_head = (rt.oom_head + 1) % RT_OOM_QUEUE;
		rt.oom_n--;
		return tt_call_reply(call, &ev.base);
	}
	if (!rt_park_add(&rt.oom_waiters, call, 0))
		return tt_call_error(call, TT_RESOURCE_EXHAUSTED, "out of memory");
	return TT_PARKED;
}

/* The container's termination log: the file the pod spec bind-mounts on /dev/termination-log,
 * which lives beneath the shared-files prefix (CopyFile put it there). The host chose that path
 * and may have planted a symlink on it, so it is opened beneath the prefix without following any
 * link, must be a regular file, and only printable text goes back: a way to read guest files
 * or leak binary secrets through the diagnostics call would defeat the rest. */
int sp_agent_get_diagnostic_data(struct tt_call *call, const Grpc__GetDiagnosticDataRequest *req)
{
	Grpc__GetDiagnosticDataResponse r = GRPC__GET_DIAGNOSTIC_DATA_RESPONSE__INIT;
	char buf[RT_TERMINATION_LOG_MAX + 1];
	cleanup_close int dirfd = -1, fd = -1;
	const char *rest, *why;
	struct rt_ctr *c;
	struct stat st;
	ssize_t n;

	if (!req->container_id || !sp_valid_id(req->container_id))
		return tt_call_error(call, TT_INVALID_ARGUMENT,
				     "GetDiagnosticData: container_id is not a valid id");
	if (!req->log_type || strcmp(req->log_type, "termination_log") != 0)
		return tt_call_error(call, TT_INVALID_ARGUMENT,
				     "GetDiagnosticData: only log_type termination_log is served");
	if (!(c = rt_ctr_find(req->container_id)))
		return tt_call_error(call, TT_NOT_FOUND,
				     "GetDiagnosticData: container %s not found",
				     req->container_id);
	if (!c->termlog[0] || sp_path_beneath(c->termlog, SP_SHARED_PREFIX, &rest, &why) < 0)
		return tt_call_error(call, TT_NOT_FOUND,
				     "GetDiagnosticData: container %s has no termination log",
				     req->container_id);
	dirfd = open(SP_SHARED_PREFIX, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dirfd >= 0)
		fd = sp_openat2(dirfd, rest, O_RDONLY | O_NOFOLLOW | O_NONBLOCK, 0,
				RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return tt_call_error(call, TT_NOT_FOUND,
				     "GetDiagnosticData: the termination log of %s is not a "
				     "readable "
				     "regular file",
				     req->container_id);
	n = read(fd, buf, RT_TERMINATION_LOG_MAX);
	if (n < 0)
		return tt_call_error(call, TT_INTERNAL, "GetDiagnosticData: read: %s",
				     strerror(errno));
	for (ssize_t i = 0; i < n; i++)
		if ((buf[i] < 0x20 && buf[i] != '\n' && buf[i] != '\t') || buf[i] == 0x7f ||
		    (unsigned char)buf[i] >= 0x80)
			buf[i] = '?';
	buf[n] = '\0';
	r.data = buf;
	return tt_call_reply(call, &r.base);
}
