/* The workers PID 1 spawns for images (driver.c starts them, wire.h is the protocol):
 *
 * the pull worker: learns the request from PID 1's frames, pulls into the pod's layer store
 * (pull.c, which spawns the metadata and layer workers), mounts the overlay on the mount point
 * (resolved again here from /run/kata-containers: PID 1 made and checked it before the spawn,
 * nothing the host did since is followed), resolves the image's user in the mounted image's own
 * /etc/passwd and /etc/group (userdb.c), and sends the result;
 *
 * the release worker: removes a released container's upper directory (it may be large). */
#define _GNU_SOURCE
#include "image/image.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "image/image_int.h"
#include "image/sigpolicy.h"
#include "image/wire.h"
#include "lib/cleanup.h"
#include "lib/fileio.h"
#include "lib/log.h"

/* Test images only: a registry CA the test put into the guest. */
#define TEST_REGISTRY_CA "/etc/sealpod/test-registry-ca.pem"
#define INSECURE_LEN	 256

static const struct sp_frame_type pull_in[] = {
	{ IMG_PULL_REQ, sizeof(struct sp_img_pull_req), sizeof(struct sp_img_pull_req) },
	{ IMG_PINNED, SP_DIGEST_LEN + 1, SP_DIGEST_LEN + 1 },
	{ IMG_INSECURE, INSECURE_LEN, INSECURE_LEN },
	{ IMG_AUTH, 1, SP_IMG_AUTH_MAX },
	{ IMG_EXTRA_CA, 1, SP_IMG_AUTH_MAX },
	{ IMG_SIGPOLICY, 1, SP_SIGPOLICY_MAX },
	{ IMG_SIGKEY, sizeof(struct sp_sigkey), sizeof(struct sp_sigkey) },
	{ IMG_GO, 0, 0 },
	{ IMG_DEC_KEY, SP_DEC_KEY_FRAME_MIN, SP_DEC_KEY_FRAME_MAX },
};

/* The request, as PID 1 sent it. */
struct pull_job {
	struct sp_img_pull_req req;
	char pinned[SP_IMG_MAX_PINNED][SP_DIGEST_LEN + 1];
	const char *pins[SP_IMG_MAX_PINNED];
	size_t npinned;
	char insecure[SP_IMG_MAX_INSEC][INSECURE_LEN];
	const char *insec[SP_IMG_MAX_INSEC];
	size_t ninsecure;
	char *auth, *extra_ca, *sig_policy; /* NUL-terminated, or NULL */
	size_t auth_len;
	struct sp_dec_keys keys; /* for encrypted layers (secrets) */
	struct sp_sigkey sigkeys[SP_SIGPOLICY_KEYS];
	size_t nsigkeys;
};

static char *dup_bytes(const uint8_t *p, uint32_t len)
{
	char *s = malloc((size_t)len + 1);

	if (s) {
		memcpy(s, p, len);
		s[len] = '\0';
	}
	return s;
}

static int take_frame(struct pull_job *j, uint32_t type, const uint8_t *p, uint32_t len)
{
	switch (type) {
	case IMG_PULL_REQ:
		memcpy(&j->req, p, sizeof(j->req));
		return 0;
	case IMG_PINNED:
		if (j->npinned == SP_IMG_MAX_PINNED)
			return -1;
		memcpy(j->pinned[j->npinned], p, len);
		j->pinned[j->npinned][SP_DIGEST_LEN] = '\0';
		j->pins[j->npinned] = j->pinned[j->npinned];
		j->npinned++;
		return 0;
	case IMG_INSECURE:
		if (j->ninsecure == SP_IMG_MAX_INSEC)
			return -1;
		memcpy(j->insecure[j->ninsecure], p, len);
		j->insecure[j->ninsecure][INSECURE_LEN - 1] = '\0';
		j->insec[j->ninsecure] = j->insecure[j->ninsecure];
		j->ninsecure++;
		return 0;
	case IMG_AUTH:
		j->auth_len = len;
		return j->auth || !(j->auth = dup_bytes(p, len)) ? -1 : 0;
	case IMG_EXTRA_CA:
		return j->extra_ca || !(j->extra_ca = dup_bytes(p, len)) ? -1 : 0;
	case IMG_DEC_KEY:
		return sp_dec_keys_take(&j->keys, p, len);
	case IMG_SIGPOLICY:
		return j->sig_policy || !(j->sig_policy = dup_bytes(p, len)) ? -1 : 0;
	case IMG_SIGKEY:
		if (j->nsigkeys == SP_SIGPOLICY_KEYS)
			return -1;
		memcpy(&j->sigkeys[j->nsigkeys], p, sizeof(j->sigkeys[0]));
		j->sigkeys[j->nsigkeys].uri[SP_SIGKEY_URI_MAX - 1] = '\0';
		j->sigkeys[j->nsigkeys].pem[SP_SIGPOLICY_KEY_MAX - 1] = '\0';
		j->nsigkeys++;
		return 0;
	default:
		return -1;
	}
}

static int read_job(int fd, const struct sp_frame_table *t, struct pull_job *j, struct sp_err *err)
{
	struct sp_frame_rx rx;
	const uint8_t *p;
	uint32_t type, len;
	int r;

	if (sp_frame_rx_init(&rx, t, true, err) < 0)
		return -1;
	while ((r = sp_frame_recv(&rx, fd, &type, &p, &len, err)) == 1 && type != IMG_GO)
		if (take_frame(j, type, p, len) < 0) {
			r = sp_error(err, 0, "pull: frame %u of the request", type);
			break;
		}
	sp_frame_rx_free(&rx);
	if (r != 1)
		return -1;
	j->req.cid[sizeof(j->req.cid) - 1] = j->req.ref[sizeof(j->req.ref) - 1] = '\0';
	j->req.mount_point[sizeof(j->req.mount_point) - 1] = '\0';
	j->req.pod[sizeof(j->req.pod) - 1] = j->req.token[sizeof(j->req.token) - 1] = '\0';
	return 0;
}

static char *ca_bundle(const struct pull_job *j, size_t *len)
{
	size_t extra = j->extra_ca ? strlen(j->extra_ca) : 0;
	char *buf = malloc((1u << 20) + extra + (64u << 10) + 4);
	bool trunc = false;
	size_t n = 0;

	*len = 0;
	if (!buf)
		return NULL;
	if (sp_read_file(SP_IMAGE_CA_BUNDLE, buf, 1u << 20, len, &trunc, NULL) < 0)
		*len = 0;
	if (extra) {
		buf[(*len)++] = '\n';
		memcpy(buf + *len, j->extra_ca, extra);
		*len += extra;
	}
	if (j->req.test_overlay) {
		buf[(*len)++] = '\n';
		if (sp_read_file(TEST_REGISTRY_CA, buf + *len, 64u << 10, &n, &trunc, NULL) == 0)
			*len += n;
	}
	buf[*len] = '\0';
	return buf;
}

/* The pull options from the request; o->ca_pem is heap (the worker exits soon after). */
static void pull_opts(const struct pull_job *j, const char *store, struct sp_pull_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->ref = j->req.ref;
	o->store = store;
	o->ca_pem = ca_bundle(j, &o->ca_len);
	if (j->req.test_overlay) {
		/* plain http registries exist only with the test overlay */
		o->insecure = j->insec;
		o->n_insecure = j->ninsecure;
	}
	o->auth_json = j->auth;
	o->auth_json_len = j->auth_len;
	o->parallel = j->req.parallel ? j->req.parallel : SP_IMAGE_DEFAULT_PARALLEL;
	o->chown = true;
	o->sandbox = true;
	o->pinned = j->pins;
	o->npinned = j->npinned;
	o->token = j->req.token[0] ? j->req.token : NULL;
	o->token_ttl = j->req.token_ttl;
	o->keys = &j->keys;
	o->require_encrypted = j->req.require_encrypted;
	o->sig_policy = j->sig_policy;
	o->sig_keys = j->sigkeys;
	o->nsig_keys = j->nsigkeys;
}

/* The overlay on the request's mount point, then the image's user looked up in it. */
static int mount_rootfs(const struct pull_job *j, const char *store, const char *updir,
			struct sp_pull_result *res, struct sp_err *err)
{
	cleanup_close int kata = sp_image_kata_dir(err);
	cleanup_close int parent = -1, root = -1;

	if (kata < 0)
		return sp_error_wrap(err, "pull.mount");
	parent = sp_image_rootfs_dir(kata, j->req.cid, j->req.mount_point, err);
	if (parent < 0)
		return sp_error_wrap(err, "pull.mount: the mount point");
	if (sp_image_mount_overlay(store, res, updir, parent, "rootfs", &res->mnt_id, err) < 0)
		return -1;
	root = openat(parent, "rootfs", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	res->user_ret = sp_image_user(res->user, root, &res->uid, &res->gid, &res->user_err);
	return 0;
}

static int pull_main(const struct sp_worker_ctx *ctx)
{
	struct pull_job *j = calloc(1, sizeof(*j));
	struct sp_pull_opts o = { 0 };
	struct sp_pull_result res;
	struct sp_err err = { 0 };
	char store[600], updir[700];
	int ret = -1;

	(void)signal(SIGPIPE, SIG_IGN);
	if (!j)
		return 3;
	if (read_job(ctx->fd, &ctx->def->in, j, &err) == 0) {
		(void)snprintf(store, sizeof(store), "%s/layers", j->req.pod);
		(void)snprintf(updir, sizeof(updir), "%s/overlay/%s", j->req.pod, j->req.cid);
		pull_opts(j, store, &o);
		ret = sp_image_pull(&o, &res, &err);
		if (ret == 0 && mount_rootfs(j, store, updir, &res, &err) < 0) {
			sp_pull_result_free(&res);
			ret = -1;
		}
	}
	explicit_bzero(j->req.token, sizeof(j->req.token));
	if (ret == 0) {
		ret = sp_img_send_result(ctx->fd, &res);
		sp_pull_result_free(&res);
	} else {
		/* What has no stage of its own (the overlay, the store) is a failed precondition. */
		if (err.stage == SP_STAGE_NONE)
			err.kind = SP_E_PRECONDITION;
		(void)sp_frame_send_err(ctx->fd, 0, &err);
	}
	free((char *)o.ca_pem);
	free(j->auth);
	free(j->extra_ca);
	sp_dec_keys_wipe(&j->keys);
	free(j);
	return ret == 0 ? 0 : 1;
}

const struct sp_worker_def sp_pull_worker = {
	.name = "pull",
	.confine = &sp_image_pull_confine,
	.in = SP_FRAME_TABLE(pull_in),
	.out = { sp_img_result_types, SP_IMG_RESULT_NTYPES },
	.main = pull_main,
	.secret = true,
	.queue_max = (size_t)4 << 20,
};

/* --- the release worker ------------------------------------------------------------------------ */

static const struct sp_frame_type release_in[] = {
	{ IMG_RELEASE, SP_IMG_UPDIR_MAX, SP_IMG_UPDIR_MAX },
};

static int release_main(const struct sp_worker_ctx *ctx)
{
	struct sp_frame_rx rx;
	struct sp_err err;
	char updir[SP_IMG_UPDIR_MAX];
	const uint8_t *p;
	uint32_t type, len;
	int fd;

	if (sp_frame_rx_init(&rx, &ctx->def->in, false, &err) < 0 ||
	    sp_frame_recv(&rx, ctx->fd, &type, &p, &len, &err) != 1)
		return 1;
	memcpy(updir, p, sizeof(updir));
	updir[sizeof(updir) - 1] = '\0';
	sp_frame_rx_free(&rx);
	if (updir[0] != '/')
		return 1;
	fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	(void)sp_remove_tree_at(fd, updir + 1, NULL);
	return 0;
}

const struct sp_worker_def sp_pull_release_worker = {
	.name = "pull-release",
	.confine = &sp_image_release_confine,
	.in = SP_FRAME_TABLE(release_in),
	.main = release_main,
};
