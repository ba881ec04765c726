#define _GNU_SOURCE
#include "agent/agent.h"
#include "agent/ttrpc.h"

#include "health.pb-c.h"

static int health_check(struct tt_call *call, const uint8_t *payload, size_t len)
{
	Grpc__CheckRequest *req = grpc__check_request__unpack(NULL, len, payload);
	Grpc__HealthCheckResponse resp = GRPC__HEALTH_CHECK_RESPONSE__INIT;

	if (!req)
		return tt_call_error(call, TT_INVALID_ARGUMENT, "invalid CheckRequest");
	grpc__check_request__free_unpacked(req, NULL);
	resp.status = GRPC__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING;
	return tt_call_reply(call, &resp.base);
}

static int health_version(struct tt_call *call, const uint8_t *payload, size_t len)
{
	Grpc__CheckRequest *req = grpc__check_request__unpack(NULL, len, payload);
	Grpc__VersionCheckResponse resp = GRPC__VERSION_CHECK_RESPONSE__INIT;

	if (!req)
		return tt_call_error(call, TT_INVALID_ARGUMENT, "invalid CheckRequest");
	grpc__check_request__free_unpacked(req, NULL);
	resp.grpc_version = (char *)SP_AGENT_API_VERSION;
	resp.agent_version = (char *)SP_AGENT_VERSION;
	return tt_call_reply(call, &resp.base);
}

static const struct tt_method health_methods[] = {
	{ "Check", health_check },
	{ "Version", health_version },
};

const struct tt_service sp_health_service = {
	.name = "grpc.Health",
	.methods = health_methods,
	.nmethods = sizeof(health_methods) / sizeof(health_methods[0]),
};
