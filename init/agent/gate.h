/* The glue between the control port and the API policy (init/policy/): the current policy and
 * the guest's policy state live here; agent_dispatch() asks sp_agent_policy_gate() (service.h)
 * about every request; the SetPolicy handler replaces the policy. */
#ifndef SEALPOD_AGENT_GATE_H
#define SEALPOD_AGENT_GATE_H

#include <stdbool.h>
#include <stddef.h>

#include "policy/policy.h"

#include "agent.pb-c.h"

/* Hands the policy in force to the agent (boot: the built-in default, or initdata's). Takes
 * ownership of p and frees the one it replaces. Until a first call, the gate loads the built-in
 * default on first use: a request is never checked against nothing. */
void sp_agent_install_policy(struct sp_policy *p);
/* The policy in force (NULL only when not even the built-in default could be loaded). */
const struct sp_policy *sp_agent_policy(void);
const struct sp_policy_state *sp_agent_policy_state(void);

/* What happened in the guest; each flag only ever goes from false to true. The gate sets
 * first_container_created itself as soon as the policy accepts a CreateContainerRequest (before
 * the runtime runs: SetPolicy closes even when creating the container then fails). */
void sp_agent_note_attested(void);
void sp_agent_note_container_created(void);
void sp_agent_note_encrypted_storage(void);
/* The current policy's require_encrypted_storage (checked again once a container's storages are
 * prepared, since the gate lets a request through while the encrypted storage is still coming). */
bool sp_agent_encrypted_storage_required(void);

/* For the runtime: when the gate's verdict on a CreateContainerRequest was "allowed pending the
 * digest" (an allowed_images entry pins a digest and the request names a tag), the runtime
 * resolves the manifest digest and calls this before using any layer. Returns 0 to go on, -1
 * with why ("CreateContainerRequest is blocked by policy: ...") to refuse. */
int sp_agent_policy_recheck_image(const Grpc__CreateContainerRequest *req, const char *digest,
				  char *why, size_t whylen);

#ifdef SEALPOD_HOST_BUILD
/* Tests only: no policy installed, every state flag false. */
void sp_agent_gate_reset(void);
#endif

#endif
