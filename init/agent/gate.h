/* The glue between the control port and the API policy (init/policy/): the policy in force lives
 * here; agent_dispatch() (service.c) asks sp_agent_policy_gate() about every request and hands
 * the verdict to the handler; the SetPolicy handler replaces the policy.
 *
 * The gate only reads the guest's state (sp_attest_state, sp_storage_state): nothing writes
 * into it. What the policy allows on a condition a later step can check (the image digest, an
 * attestation under way, an encrypted disk being made) is an obligation in the verdict, which
 * the CreateContainer preparation (runtime/prepare.c) turns into steps. */
#ifndef SEALPOD_AGENT_GATE_H
#define SEALPOD_AGENT_GATE_H

#include <stdbool.h>
#include <stddef.h>

#include "agent/ttrpc.h"
#include "policy/policy.h"

#include "agent.pb-c.h"
#include "policyform.pb-c.h"

/* Hands the policy in force to the agent (boot: the built-in default, or initdata's). Takes
 * ownership of p and frees the one it replaces. from_initdata: p came from verified initdata;
 * initdata: verified initdata is present, with a policy or not. Either way SetPolicy can never
 * replace the policy (the KBS attests that initdata as describing this guest). Until a first
 * call, the gate loads the built-in default on first use: a request is never checked against
 * nothing. */
void sp_agent_install_policy(struct sp_policy *p, bool from_initdata, bool initdata);
/* The policy in force (NULL only when not even the built-in default could be loaded). */
const struct sp_policy *sp_agent_policy(void);
/* True once the policy accepted a CreateContainerRequest (SetPolicy closes then). */
bool sp_agent_container_accepted(void);

/* The one policy check of every AgentService request (service.c, after it decoded the request):
 * request_name is Kata's request message name as its Rego rules use it
 * ("CreateContainerRequest", "ReadStreamRequest" for ReadStdout and ReadStderr, ...), req the
 * decoded request. Returns 0 to allow, -1 to deny; v holds the verdict either way (v->why the
 * reason, logged under policy.deny for a denial). */
int sp_agent_policy_gate(const char *request_name, const ProtobufCMessage *req,
			 struct sp_verdict *v);

/* The same judgement with the guest's state given instead of read (sealpod-policy explain runs
 * it on the host): st what has happened, sandbox_id CreateSandbox's id (NULL before it),
 * process_facts what an ExecProcess is compared with (the container's own process; -1: no such
 * container; NULL: there are none). The request may change env->st (a CreateContainer that
 * brings Kata's trusted store makes encrypted storage coming). Returns v->allow; logs nothing,
 * changes nothing. */
struct sp_gate_env {
	struct sp_policy_state st;
	const char *sandbox_id;
	int (*process_facts)(const char *cid, struct sp_policy_ctr *out, void *arg);
	void *arg;
};
bool sp_agent_policy_judge(const struct sp_policy *p, struct sp_gate_env *env,
			   const char *request_name, const ProtobufCMessage *msg,
			   struct sp_verdict *v);

/* The SetPolicy handler (the agent's own method table, service.c): it gets the document in its
 * fixed form, which the front-end made of the host's text (policy.h, sp_policy_form_make). */
int sp_agent_set_policy(struct tt_call *call, const Sealpod__PolicyForm *form,
			const struct sp_verdict *verdict);

#endif
