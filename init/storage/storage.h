/* Pod-scoped storage (DESIGN.md, "Ephemeral encrypted storage"): where image layers, container
 * upper/work dirs and emptyDirs live. init/storage/ defines these; the declarations are weak so a
 * caller built without the module can tell (the function's address is NULL).
 *
 * Contract for callers (the image pull, the runtime):
 * - sp_storage_pod_dir() names the directory for pod-scoped data and says whether it is on the
 *   encrypted, integrity-protected disk; NULL while that storage is still being made (standalone:
 *   the sealpod-ephemeral disk is formatted at boot in a worker) or after it failed.
 * - sp_storage_when_ready() runs cb once, from PID 1's loop, when the pod storage is usable
 *   (possibly at once, before it returns) or has failed (ret < 0, err says why: no secrets).
 * - Ask again for every pull: under Kata the pod dir moves to the trusted store once the host
 *   hands one (`/run/kata-containers/image`). */
#ifndef SEALPOD_STORAGE_STORAGE_H
#define SEALPOD_STORAGE_STORAGE_H

#include <stdbool.h>

#include "lib/err.h"

typedef void (*sp_storage_ready_fn)(void *arg, int ret, const struct sp_err *err);

const char *sp_storage_pod_dir(bool *encrypted) __attribute__((weak));
void sp_storage_when_ready(sp_storage_ready_fn cb, void *arg) __attribute__((weak));
/* Forgets every pending callback registered with arg (its requester went away). */
void sp_storage_when_ready_cancel(void *arg) __attribute__((weak));
/* True while the standalone sealpod-ephemeral disk is being formatted (the pod dir will be
 * encrypted once sp_storage_when_ready reports). */
bool sp_storage_encryption_pending(void) __attribute__((weak));

/* Boot step (init/boot/main.c): finds the sealpod-ephemeral disk and starts formatting it in a
 * worker on loop (or settles on tmpfs); remembers loop and agent.hotplug_timeout for the Kata
 * block storages. Returns at once; -1 when the pod storage failed already (console says why). */
struct sp_loop;
int sp_storage_boot(struct sp_loop *loop, unsigned hotplug_timeout_s) __attribute__((weak));

#endif
