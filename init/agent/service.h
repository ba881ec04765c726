/* grpc.AgentService: the Kata agent API methods sealpod serves, assembled from the method tables
 * the modules export (ttrpc.h, struct tt_msg_table: runtime, net, sandbox and the agent's own),
 * and one dispatch path for all of them: the front-end decodes the request (failure:
 * INVALID_ARGUMENT "bad <Request> payload") and PID 1 rebuilds it from the internal form
 * (agent/form.h); then the ids it names are checked, the policy asked (gate.h), and the method's
 * handler called with the request and the verdict. A method no table has is UNIMPLEMENTED; a
 * module that is not linked is a link error. */
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

/* The front-end (init/front/) as a worker for main's table: /init exec'd in the "front" mode
 * builds the same method table and serves the connections PID 1 passes it. */
struct sp_worker_def;
extern const struct sp_worker_def sp_agent_front_worker;

/* The agent's own methods: GetGuestDetails, RemoveStaleVirtiofsShareMounts, SetPolicy. */
extern const struct tt_msg_table sp_agent_api;

/* The sysfs file GetGuestDetails reads; tests point it elsewhere. */
extern const char *sp_agent_mem_block_size_path;

#endif
