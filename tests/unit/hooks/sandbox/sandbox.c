/* init/sandbox/sandbox.c with the unit tests' reset (hooks.h). */
#include "sandbox/sandbox.c"

#include "../hooks.h"

void sp_sandbox_reset(void)
{
	memset(&sandbox, 0, sizeof(sandbox));
}
