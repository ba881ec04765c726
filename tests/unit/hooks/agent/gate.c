/* init/agent/gate.c with the unit tests' reset (hooks.h). */
#include "agent/gate.c"

#include "../hooks.h"

void sp_agent_gate_reset(void)
{
	sp_policy_free(policy);
	policy = NULL;
	policy_from_initdata = false;
	initdata_present = false;
	container_accepted = false;
}
