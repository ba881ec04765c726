/* What happens between a CreateContainer request and the container's creation: the steps that
 * must finish first, in order, each possibly asynchronous (PID 1 never blocks its loop):
 *
 *   1. the attestation gate (init/attest/, when linked): the guest attests before the first
 *      container exists (DESIGN.md, "Boot sequence", step 4), and never creates one if that failed;
 *   2. every Storage entry of the request, in the order the host sent them, each by the driver
 *      its `driver` string names (the image pull for "image_guest_pull", the encrypted block
 *      storage for "blk"/"blk-pci"/"ephemeral"/"local", ...). An unknown driver is refused.
 *      The sandbox container's guest pull of "pause" needs no driver: the pause program is
 *      built into the initramfs.
 *   3. the secrets verified initdata binds to the digest the guest's pull resolved the container's
 *      image to (runtime/secrets.c), fetched from the KBS;
 *   4. sp_rt_create() with the rootfs the steps prepared.
 *
 * The request is copied (packed and unpacked again) when preparation starts, so the Storage and
 * the spec a step sees stay valid until that step reports. A step that fails fails the
 * CreateContainer with its error; what earlier steps made for the container is released. When the
 * CreateContainer call goes away (connection closed), the pending step is cancelled and
 * everything made so far is released.
 *
 * Modules implement drivers by defining the strong symbols declared weak below; an absent symbol
 * is an unsupported driver, and prepare.c needs no edit when a module is linked in. */
#ifndef SEALPOD_RUNTIME_PREPARE_H
#define SEALPOD_RUNTIME_PREPARE_H

#include <stdbool.h>

#include "lib/err.h"

#include "agent.pb-c.h"

#define SP_PREP_PENDING 1 /* a step's return value: it will call sp_prep_done() later */

struct sp_prep; /* one CreateContainer in preparation (opaque) */

/* The request being prepared, and its validated container id. */
const Grpc__CreateContainerRequest *sp_prep_request(const struct sp_prep *h);
const char *sp_prep_cid(const struct sp_prep *h);

/* An asynchronous step reports: ret 0 or a negative tt_code, err saying why (goes to the host: no
 * secrets). Call exactly once per SP_PREP_PENDING, from PID 1's loop; never after the step's
 * cancel hook ran. Calling it from inside the step function itself is allowed too. */
void sp_prep_done(struct sp_prep *h, int ret, const struct sp_err *err);

struct sp_storage_driver {
	/* Prepares storage s for container sp_prep_cid(h): returns 0 (done), SP_PREP_PENDING, or a
	 * negative tt_code with err. */
	int (*prepare)(struct sp_prep *h, const Grpc__Storage *s, struct sp_err *err);
	/* The pending preparation for h is abandoned: stop, undo, never call sp_prep_done(h). */
	void (*cancel)(struct sp_prep *h);
	/* Releases what prepare made for cid (RemoveContainer, or a CreateContainer that failed
	 * later). Called for every driver on every removal: a cid the driver knows nothing of is a
	 * no-op. May be NULL. */
	void (*release)(const char *cid);
};

/* The drivers (each defined by the module that implements it). */
extern const struct sp_storage_driver sp_storage_driver_image_guest_pull __attribute__((weak));
extern const struct sp_storage_driver sp_storage_driver_blk
	__attribute__((weak)); /* blk, blk-pci */
extern const struct sp_storage_driver sp_storage_driver_ephemeral __attribute__((weak));
extern const struct sp_storage_driver sp_storage_driver_local __attribute__((weak));

/* The attestation gate: 0 when the guest may create containers now, SP_PREP_PENDING when an
 * attestation is under way (sp_prep_done() follows), negative tt_code when containers are refused
 * (attestation failed or is required and impossible). */
int sp_attest_gate(struct sp_prep *h, struct sp_err *err) __attribute__((weak));
void sp_attest_gate_cancel(struct sp_prep *h) __attribute__((weak));

/* Between the gate and the storages: the pod's trusted image store, a `/dev/trusted_store` entry
 * among the request's devices (init/storage/): 0 done or nothing to do, SP_PREP_PENDING, or a
 * negative tt_code. Pod-scoped: nothing to release when the container goes. */
int sp_storage_devices_prepare(struct sp_prep *h, struct sp_err *err) __attribute__((weak));
void sp_storage_devices_cancel(struct sp_prep *h) __attribute__((weak));

/* After the storages (runtime/secrets.c): 0 when no secret is bound to the container's image,
 * SP_PREP_PENDING while they are fetched. Release: RemoveContainer or a failed create (a cid
 * without secrets is a no-op). */
int sp_secrets_prepare(struct sp_prep *h, struct sp_err *err);
void sp_secrets_cancel(struct sp_prep *h);
void sp_secrets_release(const char *cid);

/* The driver for a Storage driver string, NULL when unsupported. */
const struct sp_storage_driver *sp_storage_driver_for(const char *name);
/* Releases every driver's state for cid (RemoveContainer). */
void sp_prep_release_all(const char *cid);
/* Number of CreateContainer calls in preparation (tests, diagnostics). */
unsigned sp_prep_pending(void);
/* True while a CreateContainer for cid is in preparation (a second one is refused). */
bool sp_prep_busy(const char *cid);

/* --- for the runtime's CreateContainer handler ------------------------------------------------ */
struct tt_call;
/* The last step: creates the container from the (copied) request. 0 or a negative tt_code. */
typedef int (*sp_prep_create_fn)(const Grpc__CreateContainerRequest *req, struct sp_err *err);
/* Validates the id, copies req and runs the steps; returns what a handler returns (TT_DONE or
 * TT_PARKED). */
int sp_prep_start(struct tt_call *call, const Grpc__CreateContainerRequest *req,
		  sp_prep_create_fn create);

#endif
