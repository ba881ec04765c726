/* grpc.AgentService: the Kata agent API methods sealpod serves. service.c holds the method table
 * (anything not in it is UNIMPLEMENTED by the ttRPC core) and one dispatch path for all of them:
 * decode the request with protobuf-c (failure: INVALID_ARGUMENT "bad <Request> payload"), ask
 * the policy (sp_policy_check below), then call the method's handler.
 *
 * Handlers get the decoded request, owned by the dispatcher and freed when the handler returns:
 * a handler that parks its call copies what it needs first. Each handler answers with
 * tt_call_reply()/tt_call_error() or parks, exactly like a tt_handler.
 *
 * Every handler not yet written has a weak default in service.c answering UNIMPLEMENTED
 * "<Method>: not implemented yet". The module that implements one defines the same function in
 * its own file; the linker then takes that one, and service.c needs no edit. */
#ifndef SEALPOD_AGENT_SERVICE_H
#define SEALPOD_AGENT_SERVICE_H

#include "agent/ttrpc.h"

#include "agent.pb-c.h"

extern const struct tt_service sp_agent_service;

/* --- the policy gate: the single call point is agent_dispatch() in service.c -------------------
 * Defined by the glue between this service and init/policy/ (it holds the current policy and its
 * state, fills a struct sp_policy_input from req and calls sp_policy_check()). request_name is
 * Kata's request message name as its Rego rules use it ("CreateContainerRequest",
 * "ReadStreamRequest" for ReadStdout and ReadStderr, "WriteStreamRequest" for WriteStdin,
 * "GuestDetailsRequest" for GetGuestDetails, ...); req is the decoded request, a
 * Grpc__<request_name>. Returns 0 to allow, negative to deny; on a denial why may hold the
 * message for the host (else "<request_name> is blocked by policy" is sent). A denial answers
 * PERMISSION_DENIED, except ReadStdout/ReadStderr, which answer empty data as Kata does.
 * Until that glue is linked in, this weak symbol is absent and every request is allowed. */
int sp_agent_policy_gate(const char *request_name, const ProtobufCMessage *req, char *why,
			 size_t whylen) __attribute__((weak));

/* --- containers and processes: the runtime module (not written yet) ------------------------ */
int sp_agent_create_container(struct tt_call *call, const Grpc__CreateContainerRequest *req);
int sp_agent_start_container(struct tt_call *call, const Grpc__StartContainerRequest *req);
int sp_agent_remove_container(struct tt_call *call, const Grpc__RemoveContainerRequest *req);
int sp_agent_exec_process(struct tt_call *call, const Grpc__ExecProcessRequest *req);
int sp_agent_signal_process(struct tt_call *call, const Grpc__SignalProcessRequest *req);
int sp_agent_wait_process(struct tt_call *call, const Grpc__WaitProcessRequest *req);
int sp_agent_read_stdout(struct tt_call *call, const Grpc__ReadStreamRequest *req);
int sp_agent_read_stderr(struct tt_call *call, const Grpc__ReadStreamRequest *req);
int sp_agent_write_stdin(struct tt_call *call, const Grpc__WriteStreamRequest *req);
int sp_agent_close_stdin(struct tt_call *call, const Grpc__CloseStdinRequest *req);
int sp_agent_tty_win_resize(struct tt_call *call, const Grpc__TtyWinResizeRequest *req);
int sp_agent_stats_container(struct tt_call *call, const Grpc__StatsContainerRequest *req);
int sp_agent_get_oom_event(struct tt_call *call, const Grpc__GetOOMEventRequest *req);
int sp_agent_get_diagnostic_data(struct tt_call *call, const Grpc__GetDiagnosticDataRequest *req);

/* --- the sandbox and its network (not written yet, except GetGuestDetails) ------------------ */
int sp_agent_create_sandbox(struct tt_call *call, const Grpc__CreateSandboxRequest *req);
int sp_agent_destroy_sandbox(struct tt_call *call, const Grpc__DestroySandboxRequest *req);
int sp_agent_update_interface(struct tt_call *call, const Grpc__UpdateInterfaceRequest *req);
int sp_agent_update_routes(struct tt_call *call, const Grpc__UpdateRoutesRequest *req);
int sp_agent_add_arp_neighbors(struct tt_call *call, const Grpc__AddARPNeighborsRequest *req);
int sp_agent_online_cpu_mem(struct tt_call *call, const Grpc__OnlineCPUMemRequest *req);
int sp_agent_copy_file(struct tt_call *call, const Grpc__CopyFileRequest *req);
int sp_agent_update_ephemeral_mounts(struct tt_call *call,
				     const Grpc__UpdateEphemeralMountsRequest *req);
/* Real in service.c: memory block size from sysfs and our agent details. */
int sp_agent_get_guest_details(struct tt_call *call, const Grpc__GuestDetailsRequest *req);
/* Real in service.c: a no-op answering OK, as in Kata (we keep no virtio-fs share mounts). */
int sp_agent_remove_stale_virtiofs_share_mounts(
	struct tt_call *call, const Grpc__RemoveStaleVirtiofsShareMountsRequest *req);

/* --- policy ---------------------------------------------------------------------------------- */
int sp_agent_set_policy(struct tt_call *call, const Grpc__SetPolicyRequest *req);

/* The sysfs file GetGuestDetails reads; tests point it elsewhere. */
extern const char *sp_agent_mem_block_size_path;

#endif
