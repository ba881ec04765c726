/* A helper the agent's and the sandbox's unit tests share (tests/unit/agent_call.c). */
#ifndef SEALPOD_UNIT_AGENT_CALL_H
#define SEALPOD_UNIT_AGENT_CALL_H

#include "ttrpc.pb-c.h"

/* One AgentService call on a fresh connection (health and agent services, the policy gate on
 * the way): returns the decoded Response, or NULL. */
Ttrpc__Response *unit_agent_call(const char *method, const ProtobufCMessage *msg);

#endif
