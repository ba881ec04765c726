/* CreateContainer's steps (prepare.h has the table's story): each an adapter between the
 * container's record and one asynchronous primitive of another module (attest, storage, image)
 * or of this one (secrets, the runtime). What a primitive returns goes into the record through
 * its completion; every obligation the policy's verdict carries is a step here. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "attest/attest.h"
#include "image/image.h"
#include "lib/cleanup.h"
#include "lib/log.h"
#include "lib/pathat.h"
#include "runtime/ctr.h"
#include "runtime/rt.h"
#include "runtime/sigfetch.h"
#include "storage/storage.h"

static bool needs(const struct sp_ctr *c, unsigned need)
{
	return (c->verdict.needs & need) != 0;
}

static bool always(const struct sp_ctr *c)
{
	(void)c;
	return true;
}

/* A guest pull that really pulls (the sandbox's "pause" does not). */
static bool pulls(const struct sp_ctr *c)
{
	return c->facts.pull && !c->facts.pause;
}

/* Reports the step running on c (its completion, from a primitive's). */
static void report(struct sp_ctr *c, int ret, const struct sp_err *err)
{
	c->done(c->done_arg, ret, err);
}

static void arm(struct sp_ctr *c, sp_done_fn done, void *arg)
{
	c->done = done;
	c->done_arg = arg;
}

/* --- spec: what the runtime would refuse, refused before anything is fetched or made ----------- */

/* The request's own fields and the spec as the runtime filters it (Root.Path is checked against
 * the prepared rootfs at the create step, once there is one). */
static int spec_start(struct sp_ctr *c, sp_done_fn done, void *arg, struct sp_err *err)
{
	const Grpc__Spec *spec = c->req->oci;
	struct sp_rt_plan *plan;
	int r;

	(void)done, (void)arg;
	if (sp_rt_filter_request(c->req, err) < 0)
		return -1;
	plan = malloc(sizeof(*plan));
	if (!plan)
		return sp_fail(err, SP_E_EXHAUSTED, ENOMEM, "plan");
	r = sp_rt_filter_spec(spec, c->cid,
			      spec && spec->root && spec->root->path ? spec->root->path : NULL,
			      c->facts.pause, c->verdict.consented_caps, plan, err);
	free(plan);
	return r;
}

/* --- attest: the guest attests before its first container ------------------------------------ */

static bool attest_applies(const struct sp_ctr *c)
{
	enum sp_attest_state st = sp_attest_state();

	return needs(c, SP_NEED_ATTESTATION) || st == SP_ATTESTATION_PENDING ||
	       st == SP_ATTESTATION_FAILED;
}

/* require_attestation, checked now that the attestation ended (or never will run). */
static int attested_enough(const struct sp_ctr *c, struct sp_err *err)
{
	if (!needs(c, SP_NEED_ATTESTATION) || sp_attest_state() == SP_ATTESTATION_DONE)
		return 0;
	sp_fail(err, SP_E_DENIED, 0,
		"policy.deny: CreateContainerRequest is blocked by policy: require_attestation is "
		"set and the guest has not attested");
	return sp_err_stage(err, SP_STAGE_POLICY_DENY);
}

static void on_attested(void *arg, int ret, const struct sp_err *err)
{
	struct sp_ctr *c = arg;
	struct sp_err e;

	c->pending = NULL;
	if (ret == 0 && attested_enough(c, &e) < 0) {
		report(c, -1, &e);
		return;
	}
	report(c, ret, err);
}

static int attest_start(struct sp_ctr *c, sp_done_fn done, void *arg, struct sp_err *err)
{
	struct sp_attest_waiter *w;
	int r;

	arm(c, done, arg);
	r = sp_attest_wait(on_attested, c, &w, err);
	if (r == SP_PENDING)
		c->pending = w;
	return r == 0 ? attested_enough(c, err) : r;
}

static void attest_cancel(struct sp_ctr *c)
{
	sp_attest_wait_cancel(c->pending);
}

/* --- trusted: Kata's trusted image store (pod-scoped: nothing to undo) ------------------------- */

static bool trusted_applies(const struct sp_ctr *c)
{
	return c->facts.trusted_store != NULL;
}

static int trusted_start(struct sp_ctr *c, sp_done_fn done, void *arg, struct sp_err *err)
{
	struct sp_storage_waiter *w;
	int r = sp_storage_trusted_start(c->facts.trusted_store, c->cid, done, arg, &w, err);

	if (r == SP_PENDING)
		c->pending = w;
	return r;
}

static void trusted_cancel(struct sp_ctr *c)
{
	sp_storage_trusted_cancel(c->pending);
}

/* --- storage: the pod storage is ready, and encrypted when the policy says so ------------------ */

static bool storage_applies(const struct sp_ctr *c)
{
	return needs(c, SP_NEED_ENCRYPTED_STORAGE) || pulls(c);
}

static int encrypted_enough(const struct sp_ctr *c, struct sp_err *err)
{
	bool encrypted = false;

	if (!needs(c, SP_NEED_ENCRYPTED_STORAGE) || (sp_storage_pod_dir(&encrypted) && encrypted))
		return 0;
	sp_fail(err, SP_E_DENIED, 0,
		"policy.deny: require_encrypted_storage is set and the pod storage is not on an "
		"encrypted disk");
	return sp_err_stage(err, SP_STAGE_POLICY_DENY);
}

static void on_pod_storage(void *arg, int ret, const struct sp_err *err)
{
	struct sp_ctr *c = arg;
	struct sp_err e;

	c->pending = NULL;
	if (ret < 0) {
		e = *err;
		sp_error_wrap(&e, "the pod storage failed");
		report(c, -1, &e);
		return;
	}
	ret = encrypted_enough(c, &e);
	report(c, ret, ret < 0 ? &e : NULL);
}

static int storage_start(struct sp_ctr *c, sp_done_fn done, void *arg, struct sp_err *err)
{
	struct sp_storage_waiter *w;
	int r;

	arm(c, done, arg);
	r = sp_storage_wait(on_pod_storage, c, &w, err);
	if (r == SP_PENDING) {
		c->pending = w;
		sp_info("pull", "%s: waiting for the pod storage", c->cid);
	}
	if (r < 0)
		sp_error_wrap(err, "the pod storage failed");
	return r == 0 ? encrypted_enough(c, err) : r;
}

static void storage_cancel(struct sp_ctr *c)
{
	sp_storage_wait_cancel(c->pending);
}

/* --- creds: the registry credentials initdata names (a secret, wiped after the pulls) ---------- */

static bool creds_applies(const struct sp_ctr *c)
{
	return pulls(c) && rt.conf.image && rt.conf.image->auth_uri;
}

static void on_creds(void *arg, int ret, const uint8_t *data, size_t len, const struct sp_err *err)
{
	struct sp_ctr *c = arg;
	struct sp_err e;

	c->pending = NULL;
	if (ret < 0) {
		sp_fail(&e, SP_E_DENIED, 0, "pull.auth: the registry credentials: %s",
			err ? err->msg : "unavailable");
		e.stage = SP_STAGE_PULL_AUTH;
		report(c, -1, &e);
		return;
	}
	c->auth = malloc(len + 1);
	if (!c->auth) {
		sp_fail(&e, SP_E_EXHAUSTED, ENOMEM, "pull.auth");
		report(c, -1, &e);
		return;
	}
	memcpy(c->auth, data, len);
	c->auth[len] = '\0';
	c->auth_len = len;
	report(c, 0, NULL);
}

static int creds_start(struct sp_ctr *c, sp_done_fn done, void *arg, struct sp_err *err)
{
	uint32_t id = 0;

	arm(c, done, arg);
	if (sp_attest_resource_get(rt.conf.image->auth_uri, on_creds, c, &id, err) < 0) {
		sp_fail_wrap(err, SP_E_DENIED, "pull.auth");
		return sp_err_stage(err, SP_STAGE_PULL_AUTH);
	}
	c->pending = (void *)(uintptr_t)id;
	return SP_PENDING;
}

static void creds_cancel(struct sp_ctr *c)
{
	sp_attest_resource_cancel((uint32_t)(uintptr_t)c->pending);
}

static void creds_undo(struct sp_ctr *c)
{
	if (c->auth) {
		explicit_bzero(c->auth, c->auth_len);
		free(c->auth);
	}
	c->auth = NULL;
	c->auth_len = 0;
}

/* --- sigpolicy: the signature policy (initdata's, or its KBS resource) and its KBS keys ------ */

static bool sigpol_applies(const struct sp_ctr *c)
{
	return pulls(c) && rt.conf.image &&
	       (rt.conf.image->sig_policy_uri || rt.conf.image->sig_policy);
}

static void on_sigpol(void *arg, int ret, const struct sp_err *err)
{
	report(arg, ret, err);
}

static int sigpol_start(struct sp_ctr *c, sp_done_fn done, void *arg, struct sp_err *err)
{
	arm(c, done, arg);
	return sp_sigfetch_start(rt.conf.image->sig_policy, rt.conf.image->sig_policy_uri,
				 on_sigpol, c, &c->sig, err);
}

static void sigpol_undo(struct sp_ctr *c)
{
	sp_sigfetch_free(c->sig);
	c->sig = NULL;
}

/* --- storages: every Storage of the request, by its driver ------------------------------------- */

static bool storages_applies(const struct sp_ctr *c)
{
	return c->req->n_storages > 0;
}

static bool is_pull(const Grpc__Storage *s)
{
	return s->driver && strcmp(s->driver, "image_guest_pull") == 0;
}

static bool is_blk(const Grpc__Storage *s)
{
	return s->driver && (strcmp(s->driver, "blk") == 0 || strcmp(s->driver, "blk-pci") == 0);
}

static void on_pulled(void *arg, int ret, const struct sp_pulled *p, const struct sp_err *err);
static void on_blk(void *arg, int ret, const struct sp_err *err);

/* The pull of storage s, with what the record and the boot configuration say. */
static int pull_start(struct sp_ctr *c, const Grpc__Storage *s, struct sp_err *err)
{
	const struct sp_image_settings *st = rt.conf.image;
	struct sp_pull_req rq = {
		.loop = rt.loop,
		.cid = c->cid,
		.ref = s->source,
		.mount_point = s->mount_point,
		.pinned = c->verdict.pinned,
		.npinned = needs(c, SP_NEED_DIGEST) ? c->verdict.npinned : 0,
		.auth_json = c->auth,
		.auth_len = c->auth_len,
		.keys = c->deckeys,
		.require_encrypted = needs(c, SP_NEED_ENCRYPTED_LAYERS),
		.test_overlay = rt.conf.test_overlay,
	};
	struct sp_pull_job *job;
	int r;

	rq.pod_dir = sp_storage_pod_dir(&rq.encrypted);
	if (st) {
		rq.extra_ca_pem = st->extra_ca_pem;
		rq.parallel = st->max_parallel_layers;
		rq.sig_policy = sp_sigfetch_policy(c->sig, &rq.sig_keys, &rq.nsig_keys);
		if (rt.conf.test_overlay) { /* plain http registries: test images only */
			rq.insecure = st->insecure_registries;
			rq.n_insecure = st->n_insecure_registries;
		}
	}
	r = sp_image_pull_start(&rq, on_pulled, c, &job, err);
	if (r == SP_PENDING)
		c->pending = job;
	return r;
}

/* Starts storage i: 0 done (or nothing to do), SP_PENDING, or -1. */
static int storage_one(struct sp_ctr *c, size_t i, struct sp_err *err)
{
	const Grpc__Storage *s = c->req->storages[i];
	char b[64];

	if (is_pull(s)) {
		if (c->facts.pause)
			return 0; /* the runtime runs the pause program built into the initramfs */
		return pull_start(c, s, err);
	}
	if (is_blk(s))
		return sp_storage_blk_start(s, c->cid, on_blk, c, &c->made[i].blk, err);
	if (s->driver && strcmp(s->driver, "ephemeral") == 0)
		return sp_storage_sandboxfs_prepare(s, false, err);
	if (s->driver && strcmp(s->driver, "local") == 0)
		return sp_storage_sandboxfs_prepare(s, true, err);
	sp_log_escape(b, sizeof(b), s->driver ? s->driver : "",
		      s->driver ? strnlen(s->driver, 48) : 0);
	return sp_fail(err, SP_E_INVALID, 0, "storage driver '%s' is not supported", b);
}

/* The storages from c->storage on; a completion inside a start is recorded and handled here,
 * never by recursing. */
static int storages_next(struct sp_ctr *c, struct sp_err *err)
{
	while (c->storage < c->req->n_storages) {
		int r;

		c->in_storage = true;
		c->storage_reported = false;
		r = storage_one(c, c->storage, err);
		c->in_storage = false;
		if (r == SP_PENDING && c->storage_reported) {
			c->pending = NULL;
			r = c->storage_ret;
			*err = c->storage_err;
		}
		if (r == SP_PENDING)
			return r;
		if (r < 0)
			return -1;
		c->storage++;
	}
	creds_undo(c); /* the pulls have their copies */
	sp_deckeys_undo(c);
	sigpol_undo(c);
	return 0;
}

/* A storage finished (from a completion): on to the next, or the step ends. */
static void storage_finished(struct sp_ctr *c, int ret, const struct sp_err *err)
{
	struct sp_err e;

	if (c->in_storage) {
		c->storage_reported = true;
		c->storage_ret = ret < 0 ? -1 : 0;
		if (err)
			c->storage_err = *err;
		return;
	}
	c->pending = NULL;
	if (ret < 0) {
		report(c, -1, err);
		return;
	}
	c->storage++;
	ret = storages_next(c, &e);
	if (ret != SP_PENDING)
		report(c, ret, ret < 0 ? &e : NULL);
}

static void on_blk(void *arg, int ret, const struct sp_err *err)
{
	struct sp_ctr *c = arg;

	if (ret < 0)
		c->made[c->storage].blk = NULL; /* the storage module freed it */
	storage_finished(c, ret, err);
}

static int keep_pulled(struct sp_ctr *c, const struct sp_pulled *p, struct sp_err *err)
{
	static const char *const empty[1] = { NULL };
	const struct sp_pull_result *res = p->res;
	struct sp_rt_image_config cfg = {
		.entrypoint = res->entrypoint ? (const char *const *)res->entrypoint : empty,
		.n_entrypoint = res->n_entrypoint,
		.cmd = res->cmd ? (const char *const *)res->cmd : empty,
		.n_cmd = res->n_cmd,
		.env = res->env ? (const char *const *)res->env : empty,
		.n_env = res->n_env,
		.workdir = res->workdir,
		.user = res->user,
		.digest = res->digest,
		/* resolved by the pull worker in the image's own files: PID 1 reads none of them */
		.user_resolved = true,
		.user_ret = res->user_ret,
		.uid = res->uid,
		.gid = res->gid,
		.user_err = res->user_err,
	};

	c->mount = p->mount; /* released with the record from now on */
	c->rootfs = p->rootfs;
	(void)snprintf(c->digest, sizeof(c->digest), "%s", res->digest);
	/* The evidence shows which images this guest runs (RTMR3 or PCR23, Trustee's PullImage). */
	if (sp_attest_measure_image(c->req->storages[c->storage]->source, res->digest, err) < 0)
		return -1;
	free(c->img);
	c->img = sp_rt_image_config_dup(&cfg);
	if (!c->img)
		return sp_fail(err, SP_E_EXHAUSTED, 0,
			       "pull: the image configuration is too large to keep");
	return 0;
}

static void on_pulled(void *arg, int ret, const struct sp_pulled *p, const struct sp_err *err)
{
	struct sp_ctr *c = arg;
	struct sp_err e;

	if (ret == 0 && keep_pulled(c, p, &e) < 0) {
		storage_finished(c, -1, &e);
		return;
	}
	storage_finished(c, ret, err);
}

static int storages_start(struct sp_ctr *c, sp_done_fn done, void *arg, struct sp_err *err)
{
	arm(c, done, arg);
	c->storage = 0;
	return storages_next(c, err);
}

static void storages_cancel(struct sp_ctr *c)
{
	const Grpc__Storage *s = c->req->storages[c->storage];

	if (is_pull(s))
		sp_image_pull_cancel(c->pending);
	else if (is_blk(s))
		sp_storage_blk_cancel(c->made[c->storage].blk);
	if (is_blk(s))
		c->made[c->storage].blk = NULL;
}

static void storages_undo(struct sp_ctr *c)
{
	sp_image_release(c->mount);
	c->mount = NULL;
	memset(&c->rootfs, 0, sizeof(c->rootfs));
	c->digest[0] = '\0';
	free(c->img);
	c->img = NULL;
	for (size_t i = 0; i < c->nstorages; i++) {
		sp_storage_blk_release(c->made[i].blk);
		c->made[i].blk = NULL;
	}
	creds_undo(c);
	sp_deckeys_undo(c);
	sigpol_undo(c);
}

/* --- digest: an image the policy allows only at a pinned digest -------------------------------- */

static bool digest_applies(const struct sp_ctr *c)
{
	return needs(c, SP_NEED_DIGEST);
}

static int digest_start(struct sp_ctr *c, sp_done_fn done, void *arg, struct sp_err *err)
{
	char ref[96];

	(void)done, (void)arg;
	sp_log_escape(ref, sizeof(ref), c->facts.image_ref ? c->facts.image_ref : "",
		      c->facts.image_ref ? strnlen(c->facts.image_ref, 80) : 0);
	if (!c->digest[0])
		sp_fail(err, SP_E_DENIED, 0,
			"policy.deny: CreateContainerRequest is blocked by policy: image '%s' was "
			"not pulled in the guest, and allowed_images pins its digest",
			ref);
	else if (!sp_policy_digest_allowed(&c->verdict, c->digest))
		sp_fail(err, SP_E_DENIED, 0,
			"policy.deny: CreateContainerRequest is blocked by policy: image '%s' "
			"resolved to %s, a digest no allowed_images entry for it pins",
			ref, c->digest);
	else
		return 0;
	return sp_err_stage(err, SP_STAGE_POLICY_DENY);
}

/* --- pin: the process and the binds against the image, before any secret is fetched ------------ */

static void test_bundle(struct sp_ctr *c);

static bool pin_applies(const struct sp_ctr *c)
{
	return c->verdict.pin.enabled && !c->facts.pause;
}

/* What the create step hands the runtime. */
static void create_args(struct sp_ctr *c, struct sp_rt_create *a)
{
	test_bundle(c);
	*a = (struct sp_rt_create){
		.cid = c->cid,
		.spec = c->req->oci,
		.sandbox_pidns = c->req->sandbox_pidns,
		.pause = c->facts.pause,
		.allowed_extra = c->verdict.consented_caps,
		.mount_exec = c->verdict.mount_exec,
		.mounts_judged = c->verdict.mounts_judged,
		.rootfs = c->rootfs.path[0] ? &c->rootfs : NULL,
		.img = c->img,
		.pin = c->verdict.pin,
		.secrets = c->secrets,
	};
}

static int pin_start(struct sp_ctr *c, sp_done_fn done, void *arg, struct sp_err *err)
{
	struct sp_rt_create a;

	(void)done, (void)arg;
	create_args(c, &a);
	return sp_rt_check_create(&a, err);
}

/* --- secrets: what initdata binds to the digest ---------------------------------------------------- */

static bool secrets_applies(const struct sp_ctr *c)
{
	return rt.conf.nsecrets && c->digest[0];
}

static void on_secrets(void *arg, int ret, struct sp_secret_set *set, const struct sp_err *err)
{
	struct sp_ctr *c = arg;

	c->pending = NULL;
	c->secrets = set;
	/* The digest says which image; only the policy says which process. */
	if (ret == 0 && sp_secret_set_count(set) && !c->verdict.pin.enabled)
		sp_warn("secrets",
			"container %s: the policy does not pin the process to the image "
			"(pin_process_to_image): the host chose its command, which can read the "
			"secrets",
			c->cid);
	report(c, ret, err);
}

static int secrets_start(struct sp_ctr *c, sp_done_fn done, void *arg, struct sp_err *err)
{
	struct sp_secrets_job *job;
	int r;

	arm(c, done, arg);
	r = sp_secrets_start(c->cid, c->digest, rt.conf.secrets, rt.conf.nsecrets, on_secrets, c,
			     &job, err);
	if (r == SP_PENDING)
		c->pending = job;
	return r;
}

static void secrets_cancel(struct sp_ctr *c)
{
	sp_secrets_cancel(c->pending);
}

static void secrets_undo(struct sp_ctr *c)
{
	sp_secret_set_release(c->secrets);
	c->secrets = NULL;
}

/* --- create: the container, from the record ------------------------------------------------------ */

/* Test images only: the busybox bundle shipped in the overlay counts as prepared for a container
 * that has no rootfs of its own, and its image-config.json (when a test put one there) as the
 * configuration a pull would have given ({"Entrypoint": [...], "Cmd": [...], "Env": [...],
 * "User": "...", "WorkingDir": "..."}). */
#define TEST_BUNDLE_ROOTFS	 "/usr/share/sealpod/bundles/busybox/rootfs"
#define TEST_BUNDLE_IMAGE_CONFIG "/usr/share/sealpod/bundles/busybox/image-config.json"

static size_t test_strv(json_object *o, const char *key, const char **v, size_t max)
{
	json_object *a;
	size_t n = 0;

	if (!json_object_object_get_ex(o, key, &a) || !json_object_is_type(a, json_type_array))
		return 0;
	for (size_t i = 0; i < json_object_array_length(a) && n < max; i++) {
		json_object *e = json_object_array_get_idx(a, i);

		if (json_object_is_type(e, json_type_string))
			v[n++] = json_object_get_string(e);
	}
	return n;
}

static const char *test_str(json_object *o, const char *key)
{
	json_object *s;

	return json_object_object_get_ex(o, key, &s) && json_object_is_type(s, json_type_string)
		       ? json_object_get_string(s)
		       : NULL;
}

static struct sp_rt_image_config *test_image_config(void)
{
	const char *ep[16], *cmd[16], *env[32];
	struct sp_rt_image_config c = { .entrypoint = ep, .cmd = cmd, .env = env };
	cleanup_close int fd = open(TEST_BUNDLE_IMAGE_CONFIG, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	struct sp_rt_image_config *copy;
	char buf[8192];
	json_object *o;
	ssize_t n;

	if (fd < 0 || (n = read(fd, buf, sizeof(buf) - 1)) <= 0)
		return NULL;
	buf[n] = '\0';
	o = json_tokener_parse(buf);
	if (!o || !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		sp_warn("runtime", "%s: not a JSON object", TEST_BUNDLE_IMAGE_CONFIG);
		return NULL;
	}
	c.n_entrypoint = test_strv(o, "Entrypoint", ep, 16);
	c.n_cmd = test_strv(o, "Cmd", cmd, 16);
	c.n_env = test_strv(o, "Env", env, 32);
	c.user = test_str(o, "User");
	c.workdir = test_str(o, "WorkingDir");
	c.digest = "sha256:test-overlay-bundle";
	{
		/* The test overlay's bundle, on the initramfs: no pull worker looked its user up. */
		cleanup_close int root =
			open(TEST_BUNDLE_ROOTFS, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

		c.user_ret = sp_image_user(c.user, root, &c.uid, &c.gid, &c.user_err);
		c.user_resolved = true;
	}
	copy = sp_rt_image_config_dup(&c);
	if (!copy)
		sp_warn("runtime", "%s: refused", TEST_BUNDLE_IMAGE_CONFIG);
	json_object_put(o);
	return copy;
}

static void test_bundle(struct sp_ctr *c)
{
	const Grpc__Spec *spec = c->req->oci;
	const char *want = spec && spec->root ? spec->root->path : NULL;
	uint64_t mnt_id;

	/* The bundle is on the initramfs's mount: the create still checks that Root.Path is on it
	 * and binds only that directory, not recursively. */
	if (!rt.conf.test_overlay || c->rootfs.path[0] || !want ||
	    strcmp(want, TEST_BUNDLE_ROOTFS) != 0 ||
	    sp_path_mount_id(TEST_BUNDLE_ROOTFS, &mnt_id, NULL) < 0)
		return;
	(void)snprintf(c->rootfs.path, sizeof(c->rootfs.path), "%s", TEST_BUNDLE_ROOTFS);
	c->rootfs.mnt_id = mnt_id;
	if (!c->img)
		c->img = test_image_config();
}

static int create_start(struct sp_ctr *c, sp_done_fn done, void *arg, struct sp_err *err)
{
	struct sp_rt_create a;
	struct sp_rt_pending *pending;
	int r;

	create_args(c, &a);
	r = sp_rt_create(&a, done, arg, &pending, err);
	if (r == SP_PENDING)
		c->pending = pending;
	return r;
}

static void create_cancel(struct sp_ctr *c)
{
	sp_rt_create_cancel(c->pending);
}

/* The container itself goes with RemoveContainer (sp_rt_remove); what the record kept for it
 * (the test bundle's configuration) goes here. */
static void create_undo(struct sp_ctr *c)
{
	free(c->img);
	c->img = NULL;
}

const struct sp_prep_step sp_create_steps[] = {
	{ "spec", NULL, spec_start, NULL, NULL },
	{ "attest", attest_applies, attest_start, attest_cancel, NULL },
	{ "trusted", trusted_applies, trusted_start, trusted_cancel, NULL },
	{ "storage", storage_applies, storage_start, storage_cancel, NULL },
	{ "creds", creds_applies, creds_start, creds_cancel, creds_undo },
	{ "deckeys", sp_deckeys_applies, sp_deckeys_start, sp_deckeys_cancel, sp_deckeys_undo },
	{ "sigpolicy", sigpol_applies, sigpol_start, sigpol_undo, sigpol_undo },
	{ "storages", storages_applies, storages_start, storages_cancel, storages_undo },
	{ "digest", digest_applies, digest_start, NULL, NULL },
	{ "pin", pin_applies, pin_start, NULL, NULL },
	{ "secrets", secrets_applies, secrets_start, secrets_cancel, secrets_undo },
	{ "create", always, create_start, create_cancel, create_undo },
};
const size_t sp_create_nsteps = sizeof(sp_create_steps) / sizeof(sp_create_steps[0]);
