/* Pulling OCI images inside the guest (DESIGN.md, "Image pull"; issue 6).
 *
 * Shape (one concern per file):
 *   tar.c       the streaming tar reader (parser side; pure, fuzzed)
 *   stream.c    blob digest, gzip/zstd decompression, diff_id, size cap (parser side; pure)
 *   manifest.c  references, manifests, indexes, configs (parser side; pure, fuzzed)
 *   auth.c      WWW-Authenticate, token responses, containers-auth.json (pure, fuzzed)
 *   registry.c  the distribution-spec client on libcurl (parser side)
 *   sandbox.c   the parser child's confinement: namespaces, nobody, no caps, seccomp allow-list
 *   layer.c     one layer: parser child -> fixed-layout entry records -> applier
 *   apply.c     the applier: openat2(RESOLVE_IN_ROOT) parents, no-follow leaves, whiteouts
 *   pull.c      one image: metadata child, policy check, free space, parallel layer workers
 *   store.c     the pod's layer store and the per-container overlay
 *   driver.c    Kata's image_guest_pull storage driver, asynchronous in PID 1's loop
 *
 * Privilege separation: everything that parses bytes from the network (HTTP, JSON, gzip, zstd,
 * tar headers) runs in a child that has no capabilities (uid nobody), no filesystem but an empty
 * read-only tmpfs, no sockets but TCP/UDP, and a seccomp allow-list. What it emits is either a
 * fixed-layout record stream (layers) or a length-prefixed field list (metadata); the privileged
 * side checks lengths and counts and never parses registry bytes. A parser bug can therefore at
 * worst produce wrong entries inside one layer directory, or a wrong field list, never a write
 * outside the layer or a syscall beyond the allow-list. */
#ifndef SEALPOD_IMAGE_IMAGE_H
#define SEALPOD_IMAGE_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"

#define SP_IMAGE_DEFAULT_PARALLEL 3
#define SP_IMAGE_CA_BUNDLE	  "/etc/ssl/certs/ca-certificates.crt"
#define SP_IMAGE_TMPFS_POD_DIR	  "/run/sealpod/pod" /* when no pod storage module is linked */

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
	bool sandbox;		 /* confine the parser children */
	bool quiet;		 /* no progress lines */
	/* Called with the digest the reference resolved to, right after the manifest (in the
	 * metadata child, before the config and any layer is fetched) and again in the pull worker
	 * from the child's result. Return -1 with why to refuse (the policy's pinned digests). May
	 * be NULL. */
	int (*check_digest)(void *arg, const char *digest, char *why, size_t whylen);
	void *check_arg;
	/* A bearer token (secret) an earlier pull got for this reference's registry and repository,
	 * and the seconds it has left; NULL: none. Used until the registry refuses it. */
	const char *token;
	uint64_t token_ttl;
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
	/* The id of the overlay mount the worker made (sp_image_mount_overlay); 0: none. */
	uint64_t mnt_id;
	/* what happened */
	unsigned layers_fetched, layers_reused;
	uint64_t bytes_fetched, bytes_unpacked;
	double seconds;
};

/* Pulls opts->ref into opts->store (blocking: for worker processes and host tools; forks the
 * parser children). Layers already in the store are reused. err starts with the stage code
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

#endif
