/* Internal to the runtime: the record of one container (prepare.c keeps it, steps.c fills it).
 * It lives from CreateContainer until RemoveContainer (or until its creation fails or is
 * abandoned) and holds everything the steps made for the container, so that releasing the
 * record releases all of it. */
#ifndef SEALPOD_RUNTIME_CTR_H
#define SEALPOD_RUNTIME_CTR_H

#include "image/image.h"
#include "runtime/prepare.h"
#include "runtime/runtime.h"
#include "storage/storage.h"

#define SP_DIGEST_STR_MAX 72 /* "sha256:" + 64 hex, with room */

struct sp_ctr {
	struct sp_ctr *next;
	char cid[SP_ID_MAX + 1];
	struct tt_call *call;		   /* the parked CreateContainer; NULL once answered/gone */
	Grpc__CreateContainerRequest *req; /* our copy, until the container is created */
	struct sp_create_facts facts;	   /* parsed once, pointers into req */
	size_t nstorages;		   /* req's, kept for the undo once req is gone */
	struct sp_verdict verdict;	   /* the policy's, its pinned digests pointing below */
	char (*pinned)[SP_DIGEST_STR_MAX];

	/* What the steps made (each released by its step's undo). */
	struct sp_image_mount *mount; /* the guest pull's overlay */
	struct sp_rootfs rootfs;      /* path "" until the pull reported */
	struct sp_rt_image_config *img;
	char digest[SP_DIGEST_STR_MAX]; /* what the pull resolved the reference to, or "" */
	struct ctr_made {		/* per Storage of the request (nstorages): */
		struct sp_blk *blk;	/* a block storage made for it, or NULL */
	} * made;
	char *auth; /* registry credentials (secret): wiped after the pulls */
	size_t auth_len;
	struct sp_dec_keys *deckeys; /* keys for encrypted layers (secrets): wiped after the pulls */
	size_t deckey_next;
	struct sp_sigfetch *sig; /* the signature policy and keys for these pulls, or NULL */
	struct sp_secret_set *secrets;

	/* The steps. */
	const struct sp_prep_step *steps;
	size_t nsteps, step;
	bool started[SP_PREP_MAX_STEPS];
	bool created;	 /* every step done: the container exists */
	void *pending;	 /* the handle of the pending primitive (its step knows the type) */
	size_t storage;	 /* the storages step: the Storage it is at */
	bool in_storage; /* a storage's start is running: its completion is only recorded */
	bool storage_reported;
	int storage_ret;
	struct sp_err storage_err;
	sp_done_fn done; /* the completion of the step running */
	void *done_arg;
	bool in_step; /* a start function is running: a report is only recorded */
	bool reported;
	int rep_ret;
	struct sp_err rep_err;
};

/* The "deckeys" step (deckeys.c): initdata's decryption keys for the container's pulls. */
bool sp_deckeys_applies(const struct sp_ctr *c);
int sp_deckeys_start(struct sp_ctr *c, sp_done_fn done, void *arg, struct sp_err *err);
void sp_deckeys_cancel(struct sp_ctr *c);
void sp_deckeys_undo(struct sp_ctr *c);

#endif
