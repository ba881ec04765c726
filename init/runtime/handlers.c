/* The control port's container and process methods, exported as the runtime's method table
 * (sp_runtime_api). The request has passed the policy gate already and comes with its verdict;
 * what the host asks for is still filtered here (spec.c). CreateContainer runs the preparation
 * steps (prepare.h); start, exec and the create itself wait for the child's report on the loop,
 * the call parked meanwhile. */
#define _GNU_SOURCE
#include "runtime/rt.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "lib/cleanup.h"
#include "lib/fileio.h"
#include "lib/log.h"
#include "runtime/prepare.h"
#include "storage/storage.h"

/* A call parked until a lifecycle step reports (start, exec): answered then, unless the
 * connection went away first. */
struct pending_call {
	struct tt_call *call;
};

static void pending_cancel(struct tt_call *call)
{
	struct pending_call *pc = call->priv;

	pc->call = NULL; /* the report still comes and frees pc */
}

static void pending_done(void *arg, int ret, const struct sp_err *err)
{
	struct pending_call *pc = arg;

	if (pc->call)
		(void)(ret < 0 ? tt_call_fail(pc->call, err) : tt_call_reply(pc->call, NULL));
	free(pc);
}

/* Parks call for an operation started with (pending_done, pc); ret is what it returned. The
 * lifecycle's operations report from the loop only, never inside the call that starts them. */
static int park_for(struct tt_call *call, struct pending_call *pc, int ret,
		    const struct sp_err *err)
{
	if (ret == SP_PENDING) {
		tt_call_park(call, pending_cancel, pc);
		return TT_PARKED;
	}
	free(pc);
	return ret < 0 ? tt_call_fail(call, err) : tt_call_reply(call, NULL);
}

/* The only device a request may name is the pod's trusted image store, which the storage module
 * consumes (the preparation's trusted step) and no container ever sees. */
static bool devices_allowed(const Grpc__CreateContainerRequest *req)
{
	for (size_t i = 0; i < req->n_devices; i++) {
		const char *p = req->devices[i]->container_path;

		if (!p || strcmp(p, SP_TRUSTED_STORE_DEVICE) != 0)
			return false;
	}
	return true;
}

static int create_container(struct tt_call *call, const Grpc__CreateContainerRequest *req,
			    const struct sp_verdict *verdict)
{
	if (!devices_allowed(req))
		return tt_call_failf(call, SP_E_INVALID,
				     "devices refused: containers get only the default devices");
	if (req->container_id && sp_valid_id(req->container_id) &&
	    sp_rt_status(req->container_id, "", &(bool){ false }, &(int){ 0 }) == 0)
		return tt_call_failf(call, SP_E_EXISTS, "container %s already exists",
				     req->container_id);
	return sp_prep_run(call, req, verdict, sp_create_steps, sp_create_nsteps);
}

static int start_container(struct tt_call *call, const Grpc__StartContainerRequest *req,
			   const struct sp_verdict *verdict)
{
	struct pending_call *pc = calloc(1, sizeof(*pc));
	struct sp_err err;
	int ret;

	(void)verdict;
	if (!pc)
		return tt_call_failf(call, SP_E_EXHAUSTED, "out of memory");
	pc->call = call;
	ret = sp_rt_start(req->container_id, pending_done, pc, &err);
	return park_for(call, pc, ret, &err);
}

static int remove_container(struct tt_call *call, const Grpc__RemoveContainerRequest *req,
			    const struct sp_verdict *verdict)
{
	struct pending_call *pc;
	struct sp_err err = { 0 };

	(void)verdict;
	if (sp_rt_remove(req->container_id, &err) < 0)
		return tt_call_fail(call, &err);
	/* The container is gone: so is everything its preparation made (storages, secrets). The
	 * answer waits for the storages' teardown: Kata unplugs the disks as soon as it has it. */
	sp_prep_remove(req->container_id);
	pc = calloc(1, sizeof(*pc));
	if (!pc)
		return tt_call_failf(call, SP_E_EXHAUSTED, "out of memory");
	pc->call = call;
	return park_for(call, pc, sp_storage_released_wait(pending_done, pc, &err), &err);
}

static int exec_process(struct tt_call *call, const Grpc__ExecProcessRequest *req,
			const struct sp_verdict *verdict)
{
	struct pending_call *pc = calloc(1, sizeof(*pc));
	struct sp_err err;
	int ret;

	if (sp_rt_filter_exec_request(req, &err) < 0) {
		free(pc);
		return tt_call_fail(call, &err);
	}
	if (!pc)
		return tt_call_failf(call, SP_E_EXHAUSTED, "out of memory");
	pc->call = call;
	ret = sp_rt_exec(req->container_id, req->exec_id, req->process, verdict->consented_caps,
			 NULL, pending_done, pc, &err);
	return park_for(call, pc, ret, &err);
}

static int signal_process(struct tt_call *call, const Grpc__SignalProcessRequest *req,
			  const struct sp_verdict *verdict)
{
	struct sp_err err = { 0 };

	(void)verdict;
	if (sp_rt_signal(req->container_id, req->exec_id, (int)req->signal, &err) < 0)
		return tt_call_fail(call, &err);
	return tt_call_reply(call, NULL);
}

/* The process a request names, or an answered NOT_FOUND. */
static struct rt_proc *lookup(struct tt_call *call, const char *cid, const char *exec_id)
{
	struct rt_ctr *c = rt_ctr_find(cid);
	struct rt_proc *p = c ? rt_proc_find(c, exec_id) : NULL;

	if (!c)
		tt_call_failf(call, SP_E_NOT_FOUND, "container %s not found",
			      cid && sp_valid_id(cid) ? cid : "(invalid id)");
	else if (!p)
		tt_call_failf(call, SP_E_NOT_FOUND, "process %s not found in %s",
			      exec_id && sp_valid_id(exec_id) ? exec_id : "(invalid id)", c->id);
	return p;
}

static int wait_process(struct tt_call *call, const Grpc__WaitProcessRequest *req,
			const struct sp_verdict *verdict)
{
	struct rt_proc *p = lookup(call, req->container_id, req->exec_id);

	return p ? rt_proc_wait(call, p) : TT_DONE;
}

static int read_stdout(struct tt_call *call, const Grpc__ReadStreamRequest *req,
		       const struct sp_verdict *verdict)
{
	struct rt_proc *p = lookup(call, req->container_id, req->exec_id);

	return p ? rt_proc_read(call, p, false, req->len) : TT_DONE;
}

static int read_stderr(struct tt_call *call, const Grpc__ReadStreamRequest *req,
		       const struct sp_verdict *verdict)
{
	struct rt_proc *p = lookup(call, req->container_id, req->exec_id);

	return p ? rt_proc_read(call, p, true, req->len) : TT_DONE;
}

static int write_stdin(struct tt_call *call, const Grpc__WriteStreamRequest *req,
		       const struct sp_verdict *verdict)
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

static int close_stdin(struct tt_call *call, const Grpc__CloseStdinRequest *req,
		       const struct sp_verdict *verdict)
{
	struct rt_proc *p = lookup(call, req->container_id, req->exec_id);

	if (!p)
		return TT_DONE;
	rt_proc_close_stdin(p);
	return tt_call_reply(call, NULL);
}

static int tty_win_resize(struct tt_call *call, const Grpc__TtyWinResizeRequest *req,
			  const struct sp_verdict *verdict)
{
	struct rt_proc *p = lookup(call, req->container_id, req->exec_id);
	struct winsize ws;

	if (!p)
		return TT_DONE;
	if (p->tty_master < 0)
		return tt_call_failf(call, SP_E_PRECONDITION, "process %s has no terminal",
				     p->exec_id);
	memset(&ws, 0, sizeof(ws));
	ws.ws_row = (unsigned short)(req->row > 0xffff ? 0xffff : req->row);
	ws.ws_col = (unsigned short)(req->column > 0xffff ? 0xffff : req->column);
	if (ioctl(p->tty_master, TIOCSWINSZ, &ws) < 0)
		return tt_call_failf(call, SP_E_INTERNAL, "TIOCSWINSZ: %s", strerror(errno));
	return tt_call_reply(call, NULL);
}

static int stats_container(struct tt_call *call, const Grpc__StatsContainerRequest *req,
			   const struct sp_verdict *verdict)
{
	Grpc__StatsContainerResponse r = GRPC__STATS_CONTAINER_RESPONSE__INIT;
	struct rt_ctr *c = rt_ctr_find(req->container_id);
	struct rt_sp_stats_holder {
		struct sp_rt_stats s;
	} h;

	if (!c)
		return tt_call_failf(call, SP_E_NOT_FOUND, "container %s not found",
				     req->container_id && sp_valid_id(req->container_id)
					     ? req->container_id
					     : "(invalid id)");
	if (c->cgfd >= 0) {
		sp_cgroup_stats(c->cgfd, &h.s);
		r.cgroup_stats = &h.s.st;
	}
	return tt_call_reply(call, &r.base);
}

static int get_oom_event(struct tt_call *call, const Grpc__GetOOMEventRequest *req,
			 const struct sp_verdict *verdict)
{
	if (!rt.ready)
		return tt_call_failf(call, SP_E_PRECONDITION,
				     "containers run only in the guest: no OOM event will come");
	if (rt.oom_n) {
		Grpc__OOMEvent ev = GRPC__OOMEVENT__INIT;

		ev.container_id = rt.oom_queue[rt.oom_head];
		rt.oom_head = (rt.oom_head + 1) % RT_OOM_QUEUE;
		rt.oom_n--;
		return tt_call_reply(call, &ev.base);
	}
	if (!rt_park_add(&rt.oom_waiters, call, 0))
		return tt_call_failf(call, SP_E_EXHAUSTED, "out of memory");
	return TT_PARKED;
}

/* The container's termination log: the file the pod spec bind-mounts on /dev/termination-log,
 * which lives beneath the shared-files prefix (CopyFile put it there). The host chose that path
 * and may have planted a symlink on it, so it is opened beneath the prefix without following any
 * link, must be a regular file, and only printable text goes back: a way to read guest files
 * or leak binary secrets through the diagnostics call would defeat the rest. */
static int get_diagnostic_data(struct tt_call *call, const Grpc__GetDiagnosticDataRequest *req,
			       const struct sp_verdict *verdict)
{
	Grpc__GetDiagnosticDataResponse r = GRPC__GET_DIAGNOSTIC_DATA_RESPONSE__INIT;
	char buf[RT_TERMINATION_LOG_MAX + 1];
	cleanup_close int dirfd = -1, fd = -1;
	const char *rest, *why;
	struct rt_ctr *c;
	struct stat st;
	ssize_t n;

	if (!req->container_id || !sp_valid_id(req->container_id))
		return tt_call_failf(call, SP_E_INVALID,
				     "GetDiagnosticData: container_id is not a valid id");
	if (!req->log_type || strcmp(req->log_type, "termination_log") != 0)
		return tt_call_failf(call, SP_E_INVALID,
				     "GetDiagnosticData: only log_type termination_log is served");
	if (!(c = rt_ctr_find(req->container_id)))
		return tt_call_failf(call, SP_E_NOT_FOUND,
				     "GetDiagnosticData: container %s not found",
				     req->container_id);
	if (!c->termlog[0] || sp_path_beneath(c->termlog, SP_SHARED_PREFIX, &rest, &why) < 0)
		return tt_call_failf(call, SP_E_NOT_FOUND,
				     "GetDiagnosticData: container %s has no termination log",
				     req->container_id);
	dirfd = open(SP_SHARED_PREFIX, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dirfd >= 0)
		fd = sp_openat2(dirfd, rest, O_RDONLY | O_NOFOLLOW | O_NONBLOCK, 0,
				RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return tt_call_failf(call, SP_E_NOT_FOUND,
				     "GetDiagnosticData: the termination log of %s is not a "
				     "readable "
				     "regular file",
				     req->container_id);
	n = read(fd, buf, RT_TERMINATION_LOG_MAX);
	if (n < 0)
		return tt_call_failf(call, SP_E_INTERNAL, "GetDiagnosticData: read: %s",
				     strerror(errno));
	for (ssize_t i = 0; i < n; i++)
		if ((buf[i] < 0x20 && buf[i] != '\n' && buf[i] != '\t') || buf[i] == 0x7f ||
		    (unsigned char)buf[i] >= 0x80)
			buf[i] = '?';
	buf[n] = '\0';
	r.data = buf;
	return tt_call_reply(call, &r.base);
}

/* In-place resize (update.c); Empty when done, as Kata answers. */
static int update_container(struct tt_call *call, const Grpc__UpdateContainerRequest *req,
			    const struct sp_verdict *verdict)
{
	struct sp_err err;

	(void)verdict;
	if (sp_rt_update(req->container_id, req->resources, &err) < 0) {
		sp_error_wrap(&err, "UpdateContainer");
		return tt_call_fail(call, &err);
	}
	return tt_call_reply(call, NULL);
}

TT_MSG_ADAPTER(create_container, Grpc__CreateContainerRequest)
TT_MSG_ADAPTER(start_container, Grpc__StartContainerRequest)
TT_MSG_ADAPTER(remove_container, Grpc__RemoveContainerRequest)
TT_MSG_ADAPTER(exec_process, Grpc__ExecProcessRequest)
TT_MSG_ADAPTER(signal_process, Grpc__SignalProcessRequest)
TT_MSG_ADAPTER(wait_process, Grpc__WaitProcessRequest)
TT_MSG_ADAPTER(read_stdout, Grpc__ReadStreamRequest)
TT_MSG_ADAPTER(read_stderr, Grpc__ReadStreamRequest)
TT_MSG_ADAPTER(write_stdin, Grpc__WriteStreamRequest)
TT_MSG_ADAPTER(close_stdin, Grpc__CloseStdinRequest)
TT_MSG_ADAPTER(tty_win_resize, Grpc__TtyWinResizeRequest)
TT_MSG_ADAPTER(stats_container, Grpc__StatsContainerRequest)
TT_MSG_ADAPTER(get_oom_event, Grpc__GetOOMEventRequest)
TT_MSG_ADAPTER(get_diagnostic_data, Grpc__GetDiagnosticDataRequest)
TT_MSG_ADAPTER(update_container, Grpc__UpdateContainerRequest)

static const struct tt_msg_method runtime_methods[] = {
	TT_MSG_METHOD("CreateContainer", grpc__create_container_request, create_container),
	TT_MSG_METHOD("StartContainer", grpc__start_container_request, start_container),
	TT_MSG_METHOD("RemoveContainer", grpc__remove_container_request, remove_container),
	TT_MSG_METHOD("ExecProcess", grpc__exec_process_request, exec_process),
	TT_MSG_METHOD("SignalProcess", grpc__signal_process_request, signal_process),
	TT_MSG_METHOD("WaitProcess", grpc__wait_process_request, wait_process),
	TT_MSG_METHOD("ReadStdout", grpc__read_stream_request, read_stdout),
	TT_MSG_METHOD("ReadStderr", grpc__read_stream_request, read_stderr),
	TT_MSG_METHOD("WriteStdin", grpc__write_stream_request, write_stdin),
	TT_MSG_METHOD("CloseStdin", grpc__close_stdin_request, close_stdin),
	TT_MSG_METHOD("TtyWinResize", grpc__tty_win_resize_request, tty_win_resize),
	TT_MSG_METHOD("StatsContainer", grpc__stats_container_request, stats_container),
	TT_MSG_METHOD("GetOOMEvent", grpc__get_oomevent_request, get_oom_event),
	TT_MSG_METHOD("GetDiagnosticData", grpc__get_diagnostic_data_request, get_diagnostic_data),
	TT_MSG_METHOD("UpdateContainer", grpc__update_container_request, update_container),
};

const struct tt_msg_table sp_runtime_api = { "runtime", runtime_methods,
					     sizeof(runtime_methods) / sizeof(runtime_methods[0]) };
