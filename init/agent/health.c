/* grpc.Health: Check and Version, answered by PID 1 itself, so that SERVING means the whole
 * path (the front-end, the channel, PID 1's loop) answers. */
#define _GNU_SOURCE
#include "agent/agent.h"
#include "agent/ttrpc.h"

#include "health.pb-c.h"

static int health_check(struct tt_call *call, const ProtobufCMessage *req)
{
	Grpc__HealthCheckResponse resp = GRPC__HEALTH_CHECK_RESPONSE__INIT;

	(void)req;
	resp.status = GRPC__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING;
	return tt_call_reply(call, &resp.base);
}

static int health_version(struct tt_call *call, const ProtobufCMessage *req)
{
	Grpc__VersionCheckResponse resp = GRPC__VERSION_CHECK_RESPONSE__INIT;

	(void)req;
	resp.grpc_version = (char *)SP_AGENT_API_VERSION;
	resp.agent_version = (char *)SP_AGENT_VERSION;
	return tt_call_reply(call, &resp.base);
}

static const struct tt_method health_methods[] = {
	{ "Check", &grpc__check_request__descriptor, health_check, NULL, NULL },
	{ "Version", &grpc__check_request__descriptor, health_version, NULL, NULL },
};

const struct tt_service sp_health_service = {
	.name = "grpc.Health",
	.methods = health_methods,
	.nmethods = sizeof(health_methods) / sizeof(health_methods[0]),
};
