/* grpc.AgentService: the Kata agent API methods sealpod serves, assembled from the method tables
 * the modules export (ttrpc.h, struct tt_msg_table: runtime, net, sandbox and the agent's own),
 * and one dispatch path for all of them: decode the request with protobuf-c (failure:
 * INVALID_ARGUMENT "bad <Request> payload"), check the ids it names, ask the policy
 * (gate.h), then call the method's handler with the decoded request and the verdict. A method
 * no table has is UNIMPLEMENTED; a module that is not linked is a link error. */
#ifndef SEALPOD_AGENT_SERVICE_H
#define SEALPOD_AGENT_SERVICE_H

#include "agent/ttrpc.h"
#include "lib/err.h"

#include "agent.pb-c.h"

/* Builds the method table from the modules' tables: every method must have a request name the
 * policy knows and must be served by one table only, else nothing is served and err says which
 * (a guest that cannot judge a request must not answer it). Idempotent. */
int sp_agent_service_init(struct sp_err *err);
/* The service (no method before sp_agent_service_init) and the server of the control port:
 * grpc.Health and it. */
extern struct tt_service sp_agent_service;
const struct tt_server *sp_agent_server(void);

/* The agent's own methods: GetGuestDetails, RemoveStaleVirtiofsShareMounts, SetPolicy. */
extern const struct tt_msg_table sp_agent_api;

/* The sysfs file GetGuestDetails reads; tests point it elsewhere. */
extern const char *sp_agent_mem_block_size_path;

#endif
