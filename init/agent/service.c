/* grpc.AgentService: the method table and the one path every request takes through it
 * (decode, policy, handler). See service.h. */
#define _GNU_SOURCE
#include "agent/service.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/agent.h"
#include "lib/fileio.h"
#include "lib/log.h"
#include "lib/validate.h"

/* What a policy denial answers. */
enum deny_as {
	DENY_ERROR, /* PERMISSION_DENIED "<Request> is blocked by policy" */
	DENY_EMPTY, /* an OK reply with no data: what Kata does for ReadStdout/ReadStderr */
};

/* X(method, request message, its descriptor's prefix, handler, deny_as): every method we serve.
 * Request names are Kata's message names, which are also the names its policies use. */
#define AGENT_METHODS(X)                                                                           \
	X(CreateContainer, CreateContainerRequest, create_container_request,                       \
	  sp_agent_create_container, DENY_ERROR)                                                   \
	X(StartContainer, StartContainerRequest, start_container_request,                          \
	  sp_agent_start_container, DENY_ERROR)                                                    \
	X(RemoveContainer, RemoveContainerRequest, remove_container_request,                       \
	  sp_agent_remove_container, DENY_ERROR)                                                   \
	X(ExecProcess, ExecProcessRequest, exec_process_request, sp_agent_exec_process,            \
	  DENY_ERROR)                                                                              \
	X(SignalProcess, SignalProcessRequest, signal_process_request, sp_agent_signal_process,    \
	  DENY_ERROR)                                                                              \
	X(WaitProcess, WaitProcessRequest, wait_process_request, sp_agent_wait_process,            \
	  DENY_ERROR)                                                                              \
	X(ReadStdout, ReadStreamRequest, read_stream_request, sp_agent_read_stdout, DENY_EMPTY)    \
	X(ReadStderr, ReadStreamRequest, read_stream_request, sp_agent_read_stderr, DENY_EMPTY)    \
	X(WriteStdin, WriteStreamRequest, write_stream_request, sp_agent_write_stdin, DENY_ERROR)  \
	X(CloseStdin, CloseStdinRequest, close_stdin_request, sp_agent_close_stdin, DENY_ERROR)    \
	X(TtyWinResize, TtyWinResizeRequest, tty_win_resize_request, sp_agent_tty_win_resize,      \
	  DENY_ERROR)                                                                              \
	X(StatsContainer, StatsContainerRequest, stats_container_request,                          \
	  sp_agent_stats_container, DENY_ERROR)                                                    \
	X(GetOOMEvent, GetOOMEventRequest, get_oomevent_request, sp_agent_get_oom_event,           \
	  DENY_ERROR)                                                                              \
	X(GetDiagnosticData, GetDiagnosticDataRequest, get_diagnostic_data_request,                \
	  sp_agent_get_diagnostic_data, DENY_ERROR)                                                \
	X(CreateSandbox, CreateSandboxRequest, create_sandbox_request, sp_agent_create_sandbox,    \
	  DENY_ERROR)                                                                              \
	X(DestroySandbox, DestroySandboxRequest, destroy_sandbox_request,                          \
	  sp_agent_destroy_sandbox, DENY_ERROR)                                                    \
	X(UpdateInterface, UpdateInterfaceRequest, update_interface_request,                       \
	  sp_agent_update_interface, DENY_ERROR)                                                   \
	X(UpdateRoutes, UpdateRoutesRequest, update_routes_request, sp_agent_update_routes,        \
	  DENY_ERROR)                                                                              \
	X(AddARPNeighbors, AddARPNeighborsRequest, add_arpneighbors_request,                       \
	  sp_agent_add_arp_neighbors, DENY_ERROR)                                                  \
	X(OnlineCPUMem, OnlineCPUMemRequest, online_cpumem_request, sp_agent_online_cpu_mem,       \
	  DENY_ERROR)                                                                              \
	X(CopyFile, CopyFileRequest, copy_file_request, sp_agent_copy_file, DENY_ERROR)            \
	X(UpdateEphemeralMounts, UpdateEphemeralMountsRequest, update_ephemeral_mounts_request,    \
	  sp_agent_update_ephemeral_mounts, DENY_ERROR)                                            \
	X(GetGuestDetails, GuestDetailsRequest, guest_details_request, sp_agent_get_guest_details, \
	  DENY_ERROR)                                                                              \
	X(RemoveStaleVirtiofsShareMounts, RemoveStaleVirtiofsShareMountsRequest,                   \
	  remove_stale_virtiofs_share_mounts_request, sp_agent_remove_stale_virtiofs_share_mounts, \
	  DENY_ERROR)                                                                              \
	X(SetPolicy, SetPolicyRequest, set_policy_request, sp_agent_set_policy, DENY_ERROR)

typedef int (*agent_handler)(struct tt_call *call, const ProtobufCMessage *req);

struct agent_method {
	const char *request; /* Kata's request message name, for errors and the policy */
	const ProtobufCMessageDescriptor *desc;
	agent_handler fn;
	enum deny_as deny;
};

/* One typed adapter per method, so that each handler keeps its request type. */
#define ADAPTER(method, reqname, lower, fn, deny)                                                  \
	static int call_##fn(struct tt_call *call, const ProtobufCMessage *req)                    \
	{                                                                                          \
		return fn(call, (const Grpc__##reqname *)req);                                     \
	}
AGENT_METHODS(ADAPTER)

#define SPEC(method, reqname, lower, fn, deny)                                                     \
	{ #reqname, &grpc__##lower##__descriptor, call_##fn, deny },
static const struct agent_method specs[] = { AGENT_METHODS(SPEC) };

static int agent_dispatch(struct tt_call *call, const uint8_t *payload, size_t len);

#define ENTRY(method, reqname, lower, fn, deny) { #method, agent_dispatch },
static const struct tt_method methods[] = { AGENT_METHODS(ENTRY) };

#define NMETHODS (sizeof(methods) / sizeof(methods[0]))
_Static_assert(sizeof(specs) / sizeof(specs[0]) == NMETHODS, "one spec per method");

const struct tt_service sp_agent_service = {
	.name = "grpc.AgentService",
	.methods = methods,
	.nmethods = NMETHODS,
};

/* Trust rules: every container and exec id the host names is checked against the id pattern
 * before anything else sees it, in every request that carries one (a non-empty exec_id; an
 * empty one means the container's init). One place, by field name, so a new handler cannot
 * forget it. */
static const char *bad_id_field(const ProtobufCMessage *req)
{
	static const char *const names[] = { "container_id", "exec_id" };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		const ProtobufCFieldDescriptor *f =
			protobuf_c_message_descriptor_get_field_by_name(req->descriptor, names[i]);
		const char *v;

		if (!f || f->type != PROTOBUF_C_TYPE_STRING ||
		    f->label == PROTOBUF_C_LABEL_REPEATED)
			continue;
		v = *(const char *const *)((const char *)req + f->offset);
		if (v && v[0] && !sp_valid_id(v))
			return names[i];
	}
	return NULL;
}

static int agent_dispatch(struct tt_call *call, const uint8_t *payload, size_t len)
{
	const struct agent_method *m = &specs[call->method - methods];
	ProtobufCMessage *req = protobuf_c_message_unpack(m->desc, NULL, len, payload);
	int ret;

	if (!req)
		return tt_call_error(call, TT_INVALID_ARGUMENT, "bad %s payload", m->request);
	const char *bad = bad_id_field(req);

	if (bad) {
		protobuf_c_message_free_unpacked(req, NULL);
		return tt_call_error(call, TT_INVALID_ARGUMENT, "%s: %s is not a valid id",
				     m->request, bad);
	}

	/* POLICY: the one place where every AgentService request meets the policy, after it
	 * decoded and before any handler sees it. */
	if (sp_agent_policy_gate) {
		char why[256] = "";

		if (sp_agent_policy_gate(m->request, req, why, sizeof(why)) < 0) {
			protobuf_c_message_free_unpacked(req, NULL);
			if (!why[0])
				(void)snprintf(why, sizeof(why), "%s is blocked by policy",
					       m->request);
			/* The gate already logged it under policy.deny. */
			if (m->deny == DENY_EMPTY)
				return tt_call_reply(call, NULL);
			return tt_call_error(call, TT_PERMISSION_DENIED, "%s", why);
		}
	}

	ret = m->fn(call, req);
	protobuf_c_message_free_unpacked(req, NULL);
	return ret;
}

/* --- handlers not written yet: weak defaults (see service.h) --------------------------------- */

static int not_yet(struct tt_call *call)
{
	return tt_call_error(call, TT_UNIMPLEMENTED, "%s: not implemented yet", call->method->name);
}

#define NOT_YET(fn, reqname)                                                                       \
	__attribute__((weak)) int fn(struct tt_call *call, const Grpc__##reqname *req)             \
	{                                                                                          \
		(void)req;                                                                         \
		return not_yet(call);                                                              \
	}

/* The runtime module: no fakes until it exists. */
NOT_YET(sp_agent_create_container, CreateContainerRequest)
NOT_YET(sp_agent_start_container, StartContainerRequest)
NOT_YET(sp_agent_remove_container, RemoveContainerRequest)
NOT_YET(sp_agent_exec_process, ExecProcessRequest)
NOT_YET(sp_agent_signal_process, SignalProcessRequest)
NOT_YET(sp_agent_wait_process, WaitProcessRequest)
NOT_YET(sp_agent_read_stdout, ReadStreamRequest)
NOT_YET(sp_agent_read_stderr, ReadStreamRequest)
NOT_YET(sp_agent_write_stdin, WriteStreamRequest)
NOT_YET(sp_agent_close_stdin, CloseStdinRequest)
NOT_YET(sp_agent_tty_win_resize, TtyWinResizeRequest)
NOT_YET(sp_agent_stats_container, StatsContainerRequest)
NOT_YET(sp_agent_get_oom_event, GetOOMEventRequest)
NOT_YET(sp_agent_get_diagnostic_data, GetDiagnosticDataRequest)
/* Sandbox-level handlers. */
NOT_YET(sp_agent_create_sandbox, CreateSandboxRequest)
NOT_YET(sp_agent_destroy_sandbox, DestroySandboxRequest)
NOT_YET(sp_agent_update_interface, UpdateInterfaceRequest)
NOT_YET(sp_agent_update_routes, UpdateRoutesRequest)
NOT_YET(sp_agent_add_arp_neighbors, AddARPNeighborsRequest)
NOT_YET(sp_agent_online_cpu_mem, OnlineCPUMemRequest)
NOT_YET(sp_agent_copy_file, CopyFileRequest)
NOT_YET(sp_agent_update_ephemeral_mounts, UpdateEphemeralMountsRequest)
/* The policy module's. */
NOT_YET(sp_agent_set_policy, SetPolicyRequest)

/* --- handlers that are complete ---------------------------------------------------------------- */

int sp_agent_remove_stale_virtiofs_share_mounts(
	struct tt_call *call, const Grpc__RemoveStaleVirtiofsShareMountsRequest *req)
{
	(void)req;
	return tt_call_reply(call, NULL);
}

const char *sp_agent_mem_block_size_path = "/sys/devices/system/memory/block_size_bytes";

/* The memory hotplug block size; 0 where the kernel has no memory sysfs (no hotplug), as Kata
 * reports it. The file holds hex digits without a 0x prefix. */
static int mem_block_size(uint64_t *size, struct sp_err *err)
{
	const char *path = sp_agent_mem_block_size_path;
	char buf[32], *end;
	size_t n;
	bool truncated;

	*size = 0;
	if (!sp_path_exists(path))
		return 0;
	if (sp_read_file(path, buf, sizeof(buf) - 1, &n, &truncated, err) < 0)
		return -1;
	buf[n] = '\0';
	if (truncated || n == 0 || buf[0] == '-' || buf[0] == '+')
		return sp_error(err, 0, "%s: not a hex number", path);
	errno = 0;
	*size = strtoull(buf, &end, 16);
	if (errno || end == buf || (*end != '\0' && strcmp(end, "\n") != 0))
		return sp_error(err, 0, "%s: not a hex number", path);
	return 0;
}

int sp_agent_get_guest_details(struct tt_call *call, const Grpc__GuestDetailsRequest *req)
{
	Grpc__GuestDetailsResponse resp = GRPC__GUEST_DETAILS_RESPONSE__INIT;
	Grpc__AgentDetails details = GRPC__AGENT_DETAILS__INIT;
	struct sp_err err;

	if (req->mem_block_size && mem_block_size(&resp.mem_block_size_bytes, &err) < 0) {
		sp_warn("agent", "GetGuestDetails: %s", err.msg);
		return tt_call_error(call, TT_INTERNAL,
				     "GetGuestDetails: cannot read the memory "
				     "block size");
	}
	details.version = (char *)SP_AGENT_VERSION;
	details.init_daemon = getpid() == 1;
	/* The runtime applies the OCI seccomp profile (init/runtime/seccomp.c); without this the
	 * shim would drop the profile host-side. */
	details.supports_seccomp = true;
	resp.agent_details = &details;
	/* We do not serve MemHotplugByProbe. */
	resp.support_mem_hotplug_probe = false;
	return tt_call_reply(call, &resp.base);
}
