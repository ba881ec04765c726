/* grpc.AgentService: the method table and the one path every request takes through it
 * (decode, ids, policy, handler). See service.h. */
#define _GNU_SOURCE
#include "agent/service.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/gate.h"
#include "front/front.h"
#include "lib/fileio.h"
#include "lib/log.h"
#include "lib/validate.h"
#include "net/net.h"
#include "policy/policy.h"
#include "runtime/runtime.h"
#include "sandbox/sandbox.h"

#define MAX_METHODS 64

/* The module tables the AgentService is made of (each module's header declares its own). */
static const struct tt_msg_table *const tables[] = {
	&sp_agent_api,
	&sp_runtime_api,
	&sp_sandbox_api,
	&sp_net_api,
};

/* One served method: its handler and what the policy calls its request. */
struct agent_method {
	const struct tt_msg_method *impl;
	const char *request; /* Kata's request message name, for errors and the policy */
	/* A denial answers an OK reply with no data instead of PERMISSION_DENIED: what Kata does
	 * for ReadStdout/ReadStderr. */
	bool deny_empty;
};

static int agent_dispatch(struct tt_call *call, const ProtobufCMessage *req);

static struct tt_method methods[MAX_METHODS];
static struct agent_method specs[MAX_METHODS];

struct tt_service sp_agent_service = {
	.name = "grpc.AgentService",
	.methods = methods,
	.nmethods = 0,
};

static const struct tt_service *const services[] = { &sp_health_service, &sp_agent_service };
static const struct tt_server server = { services, 2, NULL };

const struct tt_server *sp_agent_server(void)
{
	return &server;
}

static int add_method(size_t *n, const struct tt_msg_table *t, const struct tt_msg_method *m,
		      struct sp_err *err)
{
	const char *request = sp_policy_request_name(m->name);

	if (!request || !m->desc || !m->fn)
		return sp_error(err, 0, "%s: method %s: the policy has no request for it",
				t->module, m->name);
	for (size_t i = 0; i < *n; i++)
		if (strcmp(methods[i].name, m->name) == 0)
			return sp_error(err, 0, "%s: method %s is served twice", t->module,
					m->name);
	if (*n >= MAX_METHODS)
		return sp_error(err, 0, "more than %d methods", MAX_METHODS);
	methods[*n] = (struct tt_method){ m->name, m->desc, agent_dispatch, m->form, m->convert };
	specs[*n] = (struct agent_method){ m, request, strcmp(request, "ReadStreamRequest") == 0 };
	(*n)++;
	return 0;
}

int sp_agent_service_init(struct sp_err *err)
{
	size_t n = 0;

	if (sp_agent_service.nmethods)
		return 0;
	for (size_t t = 0; t < sizeof(tables) / sizeof(tables[0]); t++)
		for (size_t i = 0; i < tables[t]->n; i++)
			if (add_method(&n, tables[t], &tables[t]->methods[i], err) < 0)
				return -1;
	sp_agent_service.nmethods = n;
	return 0;
}

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

static int agent_dispatch(struct tt_call *call, const ProtobufCMessage *req)
{
	const struct agent_method *m = &specs[call->method - methods];
	struct sp_verdict *v;
	const char *bad;
	int ret;

	bad = bad_id_field(req);
	if (bad)
		return tt_call_failf(call, SP_E_INVALID, "%s: %s is not a valid id", m->request,
				     bad);
	v = malloc(sizeof(*v));
	if (!v)
		return tt_call_failf(call, SP_E_EXHAUSTED, "out of memory");
	/* POLICY: the one place where every AgentService request meets the policy, after it
	 * decoded and before any handler sees it. The gate logged a denial under policy.deny. */
	if (sp_agent_policy_gate(m->request, req, v) < 0) {
		if (!v->why[0])
			(void)snprintf(v->why, sizeof(v->why), "%s is blocked by policy",
				       m->request);
		ret = m->deny_empty ? tt_call_reply(call, NULL)
				    : tt_call_failf(call, SP_E_DENIED, "%s", v->why);
		free(v);
		return ret;
	}
	ret = m->impl->fn(call, req, v);
	free(v);
	return ret;
}

/* --- the front-end ------------------------------------------------------------------------------ */

static int front_main(const struct sp_worker_ctx *ctx)
{
	struct sp_err err;

	if (sp_agent_service_init(&err) < 0) {
		sp_warn("front", "%s", err.msg);
		return 1;
	}
	return sp_front_main(ctx, sp_agent_server());
}

const struct sp_worker_def sp_agent_front_worker = {
	.name = "front",
	.confine = &sp_front_confine,
	.in = SP_FRONT_IN,
	.out = SP_FRONT_OUT,
	.main = front_main,
	.queue_max = SP_FRONT_QUEUE_MAX,
};

/* --- the agent's own methods ------------------------------------------------------------------ */

/* A no-op answering OK, as in Kata (we keep no virtio-fs share mounts). */
static int
remove_stale_virtiofs_share_mounts(struct tt_call *call,
				   const Grpc__RemoveStaleVirtiofsShareMountsRequest *req,
				   const struct sp_verdict *verdict)
{
	(void)req, (void)verdict;
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

/* Not served: the shim takes UNIMPLEMENTED from it as "nothing to update". */
static int update_ephemeral_mounts(struct tt_call *call,
				   const Grpc__UpdateEphemeralMountsRequest *req,
				   const struct sp_verdict *verdict)
{
	(void)req, (void)verdict;
	return tt_call_failf(call, SP_E_UNSUPPORTED, "UpdateEphemeralMounts: not implemented yet");
}

/* The memory block size from sysfs and our agent details. */
static int get_guest_details(struct tt_call *call, const Grpc__GuestDetailsRequest *req,
			     const struct sp_verdict *verdict)
{
	Grpc__GuestDetailsResponse resp = GRPC__GUEST_DETAILS_RESPONSE__INIT;
	Grpc__AgentDetails details = GRPC__AGENT_DETAILS__INIT;
	struct sp_err err;

	if (req->mem_block_size && mem_block_size(&resp.mem_block_size_bytes, &err) < 0) {
		sp_warn("agent", "GetGuestDetails: %s", err.msg);
		return tt_call_failf(call, SP_E_INTERNAL,
				     "GetGuestDetails: cannot read the memory block size");
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

TT_MSG_ADAPTER(get_guest_details, Grpc__GuestDetailsRequest)
TT_MSG_ADAPTER(remove_stale_virtiofs_share_mounts, Grpc__RemoveStaleVirtiofsShareMountsRequest)
TT_MSG_ADAPTER(sp_agent_set_policy, Sealpod__PolicyForm)

/* In the front-end: SetPolicy's document parsed there, PID 1 gets the policy's fixed form. */
static int set_policy_form(const ProtobufCMessage *req, ProtobufCAllocator *a,
			   ProtobufCMessage **out, struct sp_err *err)
{
	const Grpc__SetPolicyRequest *r = (const Grpc__SetPolicyRequest *)(const void *)req;

	return sp_policy_form_make(r->policy, strlen(r->policy), a, out, err);
}
TT_MSG_ADAPTER(update_ephemeral_mounts, Grpc__UpdateEphemeralMountsRequest)

static const struct tt_msg_method agent_methods[] = {
	TT_MSG_METHOD("GetGuestDetails", grpc__guest_details_request, get_guest_details),
	TT_MSG_METHOD("RemoveStaleVirtiofsShareMounts",
		      grpc__remove_stale_virtiofs_share_mounts_request,
		      remove_stale_virtiofs_share_mounts),
	{ "SetPolicy", &grpc__set_policy_request__descriptor, sp_agent_set_policy_msg,
	  &sealpod__policy_form__descriptor, set_policy_form },
	TT_MSG_METHOD("UpdateEphemeralMounts", grpc__update_ephemeral_mounts_request,
		      update_ephemeral_mounts),
};

const struct tt_msg_table sp_agent_api = { "agent", agent_methods,
					   sizeof(agent_methods) / sizeof(agent_methods[0]) };
