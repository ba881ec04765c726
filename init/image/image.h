/* Pulling OCI images inside the guest.
 *
 * Shape (one concern per file):
 *   tar.c       the streaming tar reader (parser side; pure, fuzzed)
 *   stream.c    blob digest, gzip/zstd decompression, diff_id, size cap (parser side; pure)
 *   manifest.c  references, manifests, indexes, configs (parser side; pure, fuzzed)
 *   auth.c      WWW-Authenticate, token responses, containers-auth.json (pure, fuzzed)
 *   registry.c  the distribution-spec client on libcurl (parser side)
 *   confine.c   the workers' confinement: namespaces, nobody, no caps, seccomp allow-lists
 *   wire.h/.c   the frames between a pull's processes, and the decoder of their results
 *   meta.c      the metadata worker: manifest, index, config (parser side)
 *   layer.c     one layer: parser worker -> entry records -> applier; the layer worker
 *   apply.c     the applier: openat2(RESOLVE_IN_ROOT) parents, no-follow leaves, whiteouts
 *   pull.c      one image: metadata worker, policy check, free space, parallel layer workers
 *   store.c     the pod's layer store and the per-container overlay
 *   userdb.c    the image's user against its own /etc/passwd and /etc/group
 *   worker.c    the pull worker PID 1 spawns (pull, mount, user) and the release worker
 *   driver.c    a pull as an asynchronous primitive of PID 1's loop (sp_image_pull_start)
 *
 * Privilege separation: everything that parses bytes from the network (HTTP, JSON, gzip, zstd,
 * tar headers) runs in a worker (lib/worker.h: a fresh exec of /init) that has no capabilities
 * (uid nobody), no filesystem but an empty read-only tmpfs, no sockets but TCP/UDP, and a seccomp
 * allow-list (confine.c). What it emits are frames of fixed records and bounded strings
 * (wire.h); the privileged side checks lengths and counts and never parses registry bytes. A
 * parser bug can therefore at worst produce wrong entries inside one layer directory, or a wrong
 * configuration, never a write outside the layer or a syscall beyond the allow-list. */
#ifndef SEALPOD_IMAGE_IMAGE_H
#define SEALPOD_IMAGE_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"
#include "lib/loop.h"
#include "lib/validate.h"

#define SP_IMAGE_DEFAULT_PARALLEL 3
#define SP_IMAGE_CA_BUNDLE	  "/etc/ssl/certs/ca-certificates.crt"
#define SP_IMAGE_TMPFS_POD_DIR	  "/run/sealpod/pod" /* when no pod storage module is linked */

struct sp_dec_keys;
struct sp_sigkey;
struct sp_pull_opts {
	const char *ref;
	const char *store;  /* the layer store directory: <store>/<hex of diff_id> */
	const char *ca_pem; /* CA bundle (PEM) in memory */
	size_t ca_len;
	const char *const *insecure; /* registries (host[:port]) reachable over plain http */
	size_t n_insecure;
	const char *auth_json; /* containers-auth.json (secret), or NULL */
	size_t auth_json_len;
	unsigned parallel;	 /* layer downloads at once (0: default 3) */
	uint64_t max_layer_size; /* decompressed bytes per layer (0: free space of the store) */
	bool chown;		 /* apply the layers' uid/gid (false: unprivileged host tests) */
	bool sandbox;		 /* confine the workers (confine.c) */
	bool quiet;		 /* no progress lines */
	/* The digests the policy pins for this reference (npinned 0: none): the digest the
	 * reference resolves to must be one of them, checked right after the manifest (in the
	 * metadata worker, before the config and any layer is fetched) and again in the pull
	 * worker from the metadata worker's result. */
	const char *const *pinned;
	size_t npinned;
	/* A bearer token (secret) an earlier pull got for this reference's registry and repository,
	 * and the seconds it has left; NULL: none. Used until the registry refuses it. */
	const char *token;
	uint64_t token_ttl;
	/* The decryption keys for encrypted layers (decrypt.h: secrets), or NULL: an encrypted
	 * layer then fails naming the key it needs. */
	const struct sp_dec_keys *keys;
	/* Every layer must be encrypted (checked after the manifest, before any layer). */
	bool require_encrypted;
	/* containers-policy.json (initdata's), or NULL: judged in the metadata worker right after
	 * the manifest digest, before the config or any layer is fetched (sigpolicy.h). */
	const char *sig_policy;
	const struct sp_sigkey *sig_keys; /* the keys it names by keyPath kbs:/// (sigpolicy.h) */
	size_t nsig_keys;
};

struct sp_pull_result {
	char digest[72]; /* what the reference resolved to (index or manifest) */
	char config_digest[72];
	size_t n_layers;
	char (*diff_ids)[72]; /* heap, n_layers entries, base layer first */
	/* The image config's process defaults (heap, NULL-terminated arrays). */
	char **entrypoint, **cmd, **env;
	size_t n_entrypoint, n_cmd, n_env;
	char *workdir, *user;
	/* The bearer token the pull ended with (secret; "" when the registry asked for none) and
	 * the seconds it has left, for the next pull from the same repository. Wiped by
	 * sp_pull_result_free(). */
	char token[8192];
	uint64_t token_ttl;
	/* The id of the overlay mount the worker made (sp_image_mount_overlay, lib/pathat.h's
	 * sp_mount_id); 0: none. */
	uint64_t mnt_id;
	/* What user resolves to in the mounted image's own /etc/passwd and /etc/group (the pull
	 * worker: sp_image_user): user_ret 0 with uid and gid, or -1 with user_err. */
	int user_ret;
	uint32_t uid, gid;
	struct sp_err user_err;
	/* what happened */
	unsigned layers_fetched, layers_reused;
	uint64_t bytes_fetched, bytes_unpacked;
	double seconds;
};

/* Pulls opts->ref into opts->store (blocking: for worker processes and host tools; spawns the
 * metadata and layer workers, this binary exec'd: see sp_worker_main). Layers already in the store are reused. err starts with the stage code
 * (pull.auth, pull.manifest, pull.config, pull.layer, pull.unpack, policy.deny). */
int sp_image_pull(const struct sp_pull_opts *opts, struct sp_pull_result *res, struct sp_err *err);
void sp_pull_result_free(struct sp_pull_result *res);

/* The directory of a layer in the store: <store>/<64 hex>. */
void sp_image_layer_dir(const char *store, const char *diff_id, char *out, size_t cap);

/* /run/kata-containers (created when missing), opened without following a symlink: the
 * directory every rootfs mount point is resolved from. An O_PATH fd or -1 with err. */
int sp_image_kata_dir(struct sp_err *err);

/* The directory that holds container cid's rootfs mount point target, which must be exactly one
 * of the two shapes of lib/pathat.h (".../<cid>/rootfs"). Creates what is missing beneath kata
 * (sp_image_kata_dir, or a test's directory), every component a plain directory on kata's own
 * mount, reached without a symlink; "rootfs" too, with nothing mounted on it yet. Returns an
 * O_PATH fd of the parent (mount with name "rootfs"), or -1 with err saying what the mount point
 * is or has (fit for "the mount point '<p>' <err>"). */
int sp_image_rootfs_dir(int kata, const char *cid, const char *target, struct sp_err *err);

/* Mounts an overlay of the result's layers on the directory name in dirfd (a plain directory on
 * dirfd's mount with nothing mounted on it, resolved without following a symlink), attached to
 * its fd, with upper/work under updir (created). *mnt_id gets the new mount's id, checked to be
 * what name resolves to afterwards. Returns 0 or -1 with err. */
int sp_image_mount_overlay(const char *store, const struct sp_pull_result *res, const char *updir,
			   int dirfd, const char *name, uint64_t *mnt_id, struct sp_err *err);

/* --- the image's user (userdb.c) -----------------------------------------------------------------
 * The uid and gid the image's User names ("" is 0:0; "uid", "name", "uid:gid", "name:group"),
 * names looked up in etc/passwd and etc/group beneath rootfd (-1: names are refused). Runs in
 * the pull worker, on the overlay it mounted. */
int sp_image_user(const char *user, int rootfd, uint32_t *uid, uint32_t *gid, struct sp_err *err);
/* The same from the files' contents (NUL-terminated; NULL: cannot be read). Parses image bytes:
 * fuzzed by tests/fuzz/fuzz_image_user.c. */
int sp_image_user_db(const char *user, const char *passwd, const char *group, uint32_t *uid,
		     uint32_t *gid, struct sp_err *err);

/* --- the workers of a pull (lib/worker.h), for the lists of workers a binary can be ---------------
 * The pull worker and the release worker PID 1 spawns (worker.c); the metadata worker (meta.c)
 * and the layer worker (layer.c) the pull spawns; the parsers a layer worker spawns (layer.c). */
struct sp_worker_def;
extern const struct sp_worker_def sp_pull_worker, sp_pull_release_worker, sp_pull_meta_worker,
	sp_pull_layer_worker, sp_layer_fetch_worker, sp_layer_read_worker;

/* --- a pull in PID 1's loop (driver.c) ------------------------------------------------------------
 * Spawns a pull worker (lib/worker.c) that pulls rq->ref into <pod_dir>/layers (the pod's layer store), checks
 * the resolved digest against rq->pinned before any layer is fetched, mounts the overlay (upper
 * and work dirs in <pod_dir>/overlay/<cid>) on rq->mount_point's fd (its directories made and
 * checked by PID 1 first: sp_image_rootfs_dir) and sends in its result frame the mount's id,
 * which PID 1 checks is what the mount point holds before the completion. PID 1 never blocks on it:
 * Check keeps being answered. */
struct sp_pull_req {
	struct sp_loop *loop;
	const char *cid;
	const char *ref;
	const char *mount_point;   /* exactly one of lib/pathat.h's two rootfs shapes for cid */
	const char *pod_dir;	   /* NULL: a tmpfs directory (no pod storage: host tests) */
	bool encrypted;		   /* pod_dir is on the encrypted disk (for the console) */
	const char *const *pinned; /* the policy's digests for this image (sp_pull_opts) */
	size_t npinned;
	const char *auth_json; /* containers-auth.json (secret), or NULL */
	size_t auth_len;
	const char *extra_ca_pem;    /* trusted besides the built-in bundle, or NULL */
	const char *const *insecure; /* plain-http registries: pass them only on a test image */
	size_t n_insecure;
	unsigned parallel; /* layer downloads at once (0: the default) */
	bool test_overlay; /* a test image: its registry CA is trusted too */
	/* keys for encrypted layers (decrypt.h), or NULL */
	const struct sp_dec_keys *keys;
	bool require_encrypted; /* the policy's require_encrypted_layers */
	const char *sig_policy; /* containers-policy.json, or NULL (sp_pull_opts) */
	const struct sp_sigkey *sig_keys;
	size_t nsig_keys;
};

/* The rootfs a pull made: where the overlay is mounted and which mount it is, so that what a
 * container is later given can be checked to be this mount and not whatever is at the path. */
struct sp_rootfs {
	char path[SP_PATH_MAX + 1];
	uint64_t mnt_id; /* 0: unknown */
};

/* What a pull made, valid during the completion. mount is the caller's from then on: released
 * with sp_image_release() (NULL when ret < 0). */
struct sp_image_mount;
struct sp_pulled {
	struct sp_rootfs rootfs;
	const struct sp_pull_result *res; /* digest and the image configuration's process defaults */
	struct sp_image_mount *mount;
};
typedef void (*sp_pull_done_fn)(void *arg, int ret, const struct sp_pulled *p,
				const struct sp_err *err);

/* Always SP_PENDING or -1 (lib/err.h). A failure's err has a stage (pull.*, policy.deny) and a
 * kind. Cancel kills the worker and undoes what it mounted. */
struct sp_pull_job;
int sp_image_pull_start(const struct sp_pull_req *rq, sp_pull_done_fn done, void *arg,
			struct sp_pull_job **job, struct sp_err *err);
void sp_image_pull_cancel(struct sp_pull_job *job);
/* Unmounts what a pull mounted, by an fd on it checked to be the mount the worker made (never by
 * the path, which the host may have re-pointed), and removes its upper dir (in a release worker: it may
 * be large). */
void sp_image_release(struct sp_image_mount *m);

#endif
