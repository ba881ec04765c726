/* CreateContainer's orchestrator: what happens between the request and the container's creation.
 * prepare.c keeps one record per container (struct sp_ctr) from the request until
 * RemoveContainer, and runs a table of steps on it, in order, each possibly asynchronous (PID 1
 * never blocks its loop). The production table (steps.c) is:
 *
 *   spec      what the runtime would refuse of the request and its spec, refused before
 *             anything is pulled, fetched or made
 *   attest    the guest attests before its first container, and never creates one if that
 *             failed; the policy's require_attestation is checked once it is known
 *   trusted   Kata's trusted image store, a /dev/trusted_store Device of the request
 *   storage   the policy's require_encrypted_storage, once the pod storage is ready
 *   creds     the registry credentials initdata names, fetched from the KBS for a guest pull
 *   storages  every Storage of the request, in the host's order, by its driver: the image pull
 *             (rootfs, image configuration, digest into the record), the block, ephemeral and
 *             local storages; the sandbox's guest pull of "pause" needs none
 *   digest    an image the policy allows only at a pinned digest: the digest the pull resolved
 *   pin       pin_process_to_image: the process and the binds against the image pulled, before
 *             any secret is fetched for it
 *   secrets   what initdata binds to that digest, fetched from the KBS
 *   create    the container itself, from the record (sp_rt_create)
 *
 * Each step has applies (may be NULL: always), start, cancel and undo. start follows the
 * primitives' protocol (lib/err.h): 0 done, -1 failed (err), or SP_PENDING and then done(arg,
 * ret, err) exactly once, possibly before start returns, unless cancel(record) runs first.
 * undo releases whatever the step recorded in the record; it runs, last step first, for every
 * step that started when a later step fails, when the call goes away (after the pending step's
 * cancel), and at RemoveContainer. What a step makes therefore lives in the record and dies with
 * it: no table keyed by container id. */
#ifndef SEALPOD_RUNTIME_PREPARE_H
#define SEALPOD_RUNTIME_PREPARE_H

#include <stdbool.h>

#include "agent/ttrpc.h"
#include "lib/err.h"
#include "policy/policy.h"

#include "agent.pb-c.h"

/* --- what a CreateContainerRequest says, read once ---------------------------------------------- */
struct sp_create_facts {
	/* The sandbox container: Kata's guest pull of "pause", which runs the pause program built
	 * into the initramfs (an annotation saying "pause" is not this). */
	bool pause;
	const Grpc__Storage *pull; /* the image_guest_pull Storage, or NULL */
	/* What the image is: the pull's source, else the CRI image-name annotation (the host's
	 * word only: image_pulled false), else NULL. */
	const char *image_ref;
	bool image_pulled;
	const Grpc__Device *trusted_store; /* the Device naming /dev/trusted_store, or NULL */
};
/* Pointers into req. -1 (SP_E_INVALID) for two image_guest_pull storages: ambiguous. */
int sp_create_facts_parse(const Grpc__CreateContainerRequest *req, struct sp_create_facts *f,
			  struct sp_err *err);

/* --- the record and the steps ---------------------------------------------------------------------- */
struct sp_ctr;
struct sp_prep_step {
	const char *name;
	bool (*applies)(const struct sp_ctr *c);
	int (*start)(struct sp_ctr *c, sp_done_fn done, void *arg, struct sp_err *err);
	void (*cancel)(struct sp_ctr *c);
	void (*undo)(struct sp_ctr *c);
};
#define SP_PREP_MAX_STEPS 16

/* The production steps (steps.c). */
extern const struct sp_prep_step sp_create_steps[];
extern const size_t sp_create_nsteps;

/* Starts a record for call's request (copied) and the policy's verdict on it (copied), and runs
 * steps on it; returns what a handler returns (TT_DONE or TT_PARKED). The call is answered when
 * the last step is done (the record stays until sp_prep_remove) or one fails (the record goes,
 * undone). */
int sp_prep_run(struct tt_call *call, const Grpc__CreateContainerRequest *req,
		const struct sp_verdict *verdict, const struct sp_prep_step *steps, size_t nsteps);
/* RemoveContainer: undoes every step of cid's record (last first) and forgets it. */
void sp_prep_remove(const char *cid);
/* Records in preparation (tests, diagnostics), and whether one is cid's. */
unsigned sp_prep_pending(void);
bool sp_prep_busy(const char *cid);

/* --- for steps (the request and its facts: while the steps run; a created container's record
 * keeps only what the undo needs) ---------------------------------------------------------------- */
const char *sp_ctr_cid(const struct sp_ctr *c);
const Grpc__CreateContainerRequest *sp_ctr_request(const struct sp_ctr *c);
const struct sp_create_facts *sp_ctr_facts(const struct sp_ctr *c);
const struct sp_verdict *sp_ctr_verdict(const struct sp_ctr *c);

#endif
