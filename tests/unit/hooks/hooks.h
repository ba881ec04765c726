/* Test hooks that reach a module's private state. Each is defined in tests/unit/hooks/<module>/
 * <file>.c, which includes init/<module>/<file>.c and adds the hook; the unit binaries link that
 * object in place of the module's own (Makefile, UNIT_HOOK_SRCS), so /init carries none of them. */
#ifndef SEALPOD_UNIT_HOOKS_H
#define SEALPOD_UNIT_HOOKS_H

#include "attest/attest.h"

/* agent/gate.c: no policy installed, no container accepted. */
void sp_agent_gate_reset(void);

/* attest/attest.c: the attestation's state as the gate and the preparation see it. */
void sp_attest_test_state(enum sp_attest_state st);

/* sandbox/sandbox.c: forget the sandbox. */
void sp_sandbox_reset(void);

#endif
