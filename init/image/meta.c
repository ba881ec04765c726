/* The metadata worker (wire.h): confined like a parser (confine.c, with network), it resolves the
 * reference (manifest, index entry, config) and sends back the digest, the layers and the image
 * configuration. The policy's pinned digests are checked right after the manifest, before the
 * config or any layer is fetched: an early refusal only, the pull worker checks again (a parser
 * that registry bytes took over could skip this). */
#define _GNU_SOURCE
#include "image/image_int.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "image/manifest.h"
#include "image/registry.h"
#include "image/sigpolicy.h"
#include "image/wire.h"
#include "lib/cleanup.h"

static const struct sp_frame_type in_types[] = {
	{ IMG_REG, sizeof(struct sp_img_reg), sizeof(struct sp_img_reg) },
	{ IMG_CA, 1, SP_IMG_CA_MAX },
	{ IMG_PINNED, SP_DIGEST_LEN + 1, SP_DIGEST_LEN + 1 },
	{ IMG_SIGPOLICY, 1, SP_SIGPOLICY_MAX },
	{ IMG_SIGKEY, sizeof(struct sp_sigkey), sizeof(struct sp_sigkey) },
	{ IMG_GO, 0, 0 },
};

/* What the pull worker hands the metadata worker. */
struct meta_job {
	struct sp_img_reg reg;
	char *ca;
	size_t ca_len;
	char pinned[SP_IMG_MAX_PINNED][SP_DIGEST_LEN + 1];
	const char *pins[SP_IMG_MAX_PINNED];
	size_t npinned;
	char *sig_policy; /* containers-policy.json, or NULL */
	size_t sig_policy_len;
	struct sp_sigkey keys[SP_SIGPOLICY_KEYS];
	size_t nkeys;
};

/* Fetches the manifest what names, checks it is want (when given) and parses it into m; got
 * gets its digest. */
static int manifest_get(struct sp_registry *r, const char *what, const char *want,
			struct sp_manifest *m, char got[SP_DIGEST_LEN + 1], struct sp_err *err)
{
	cleanup_free char *body = NULL;
	char ct[128];
	size_t len;

	if (sp_registry_manifest(r, what, &body, &len, ct, sizeof(ct), err) < 0)
		return -1;
	sp_sha256_digest(body, len, got);
	if (want && strcmp(got, want) != 0)
		return sp_pull_fail(err, SP_STAGE_PULL_MANIFEST, 0,
				    "pull.manifest: digest mismatch: expected %s, computed %s",
				    want, got);
	if (sp_manifest_parse(body, len, ct, m, err) < 0)
		return sp_pull_wrap(err, SP_STAGE_PULL_MANIFEST, "pull.manifest");
	return 0;
}

/* The guest's own platform, as OCI indexes name it: what /init was built for. */
static const char *guest_arch(void)
{
#if defined(__x86_64__)
	return "amd64";
#elif defined(__aarch64__)
	return "arm64";
#elif defined(__s390x__)
	return "s390x";
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	return "ppc64le";
#elif defined(__riscv) && __riscv_xlen == 64
	return "riscv64";
#else
	return "unknown"; /* no index entry names it: an index is refused, never a guess */
#endif
}

/* The image manifest ref resolves to, through an index when it names one; digest gets what the
 * reference named (the index's, when it is one), checked against the pinned digests before
 * anything else is fetched. */
static int fetch_manifest(struct sp_registry *r, const struct meta_job *j,
			  const struct sp_image_ref *ref, struct sp_manifest *m,
			  char digest[SP_DIGEST_LEN + 1], struct sp_err *err)
{
	char got[SP_DIGEST_LEN + 1], want[SP_DIGEST_LEN + 1];
	int i;

	if (manifest_get(r, ref->digest[0] ? ref->digest : ref->tag,
			 ref->digest[0] ? ref->digest : NULL, m, digest, err) < 0)
		return -1;
	if (sp_pull_check_pinned(j->reg.ref, j->pins, j->npinned, digest, err) < 0)
		return -1;
	if (!m->is_index)
		return 0;
	i = sp_index_select(m, "linux", guest_arch());
	if (i < 0)
		return sp_pull_fail(err, SP_STAGE_PULL_MANIFEST, 0,
				    "pull.manifest: the index has no linux/%s image", guest_arch());
	(void)snprintf(want, sizeof(want), "%s", m->entries[i].digest);
	if (manifest_get(r, want, want, m, got, err) < 0)
		return -1;
	if (m->is_index)
		return sp_pull_fail(err, SP_STAGE_PULL_MANIFEST, 0,
				    "pull.manifest: an index entry is another index");
	return 0;
}

/* The image configuration m names, its diff_ids matched with m's layers. */
static int fetch_config(struct sp_registry *r, const struct sp_manifest *m,
			struct sp_image_config *cfg, struct sp_err *err)
{
	cleanup_free char *body = NULL;
	char got[SP_DIGEST_LEN + 1];
	size_t len;

	if (m->config.size > SP_IMG_MAX_JSON)
		return sp_pull_fail(err, SP_STAGE_PULL_CONFIG, 0,
				    "pull.config: the config is larger than 4 MiB");
	if (sp_registry_blob_buf(r, m->config.digest, SP_IMG_MAX_JSON, &body, &len, err) < 0)
		return -1;
	sp_sha256_digest(body, len, got);
	if (strcmp(got, m->config.digest) != 0)
		return sp_pull_fail(err, SP_STAGE_PULL_CONFIG, 0,
				    "pull.config: digest mismatch: expected %s, computed %s",
				    m->config.digest, got);
	if (sp_config_parse(body, len, cfg, err) < 0)
		return sp_pull_wrap(err, SP_STAGE_PULL_CONFIG, "pull.config");
	if (cfg->n_diff_ids != m->n) {
		sp_config_free(cfg);
		return sp_pull_fail(err, SP_STAGE_PULL_CONFIG, 0,
				    "pull.config: %zu diff_ids for %zu layers", cfg->n_diff_ids,
				    m->n);
	}
	return 0;
}

/* What was found, in frames: the head, the layers, the configuration and the token, the end. */
static int send_found(int fd, const char *digest, const struct sp_manifest *m,
		      const struct sp_image_config *cfg, struct sp_registry *r)
{
	struct sp_img_head h = { 0 };
	uint64_t ttl = sp_registry_token_ttl(r);

	(void)snprintf(h.digest, sizeof(h.digest), "%s", digest);
	(void)snprintf(h.config_digest, sizeof(h.config_digest), "%s", m->config.digest);
	if (sp_frame_send(fd, IMG_HEAD, &h, sizeof(h)) < 0)
		return -1;
	for (size_t i = 0; i < m->n; i++) {
		struct sp_img_layer l = {
			.comp = (uint32_t)sp_layer_compression(m->entries[i].media_type),
			.encrypted = m->entries[i].encrypted,
			.size = m->entries[i].size,
		};
		const struct sp_enc_annots a = { { m->entries[i].enc_pub, m->entries[i].enc_jwe,
						   m->entries[i].enc_aa } };

		(void)snprintf(l.digest, sizeof(l.digest), "%s", m->entries[i].digest);
		(void)snprintf(l.diff_id, sizeof(l.diff_id), "%s", cfg->diff_ids[i]);
		if (sp_frame_send(fd, IMG_LAYER, &l, sizeof(l)) < 0 ||
		    (l.encrypted && sp_enc_annots_send(fd, IMG_LAYER_ENC, (uint32_t)i, &a) < 0))
			return -1;
	}
	if (sp_img_send_config(fd, cfg->entrypoint, cfg->cmd, cfg->env, cfg->workdir, cfg->user,
			       ttl ? r->token : NULL, ttl) < 0)
		return -1;
	return sp_frame_send(fd, IMG_END, NULL, 0);
}

static int resolve(int fd, struct sp_registry *r, const struct meta_job *j, struct sp_err *err)
{
	struct sp_image_config cfg = { 0 };
	struct sp_image_ref ref = { 0 };
	char digest[SP_DIGEST_LEN + 1] = { 0 };
	struct sp_manifest *m;
	int ret = -1;

	if (sp_image_ref_parse(j->reg.ref, &ref, err) < 0)
		return sp_pull_wrap(err, SP_STAGE_PULL_MANIFEST, "pull.manifest");
	m = calloc(1, sizeof(*m));
	if (!m)
		return sp_pull_fail(err, SP_STAGE_PULL_MANIFEST, ENOMEM, "pull.manifest");
	if (fetch_manifest(r, j, &ref, m, digest, err) == 0 &&
	    (!j->sig_policy || sp_sigpolicy_enforce(r, j->sig_policy, j->sig_policy_len, j->keys,
						    j->nkeys, &ref, digest, err) == 0) &&
	    fetch_config(r, m, &cfg, err) == 0) {
		ret = send_found(fd, digest, m, &cfg, r);
		sp_config_free(&cfg);
		if (ret < 0)
			sp_pull_fail(err, SP_STAGE_PULL_MANIFEST, errno, "pull.manifest: send");
	}
	sp_manifest_free(m);
	free(m);
	return ret;
}

/* The job's frames, up to IMG_GO. */
static int read_job(int fd, struct sp_frame_rx *rx, struct meta_job *j, struct sp_err *err)
{
	const uint8_t *p;
	uint32_t type, len;

	while (sp_frame_recv(rx, fd, &type, &p, &len, err) == 1) {
		if (type == IMG_GO)
			return 0;
		if (type == IMG_REG) {
			memcpy(&j->reg, p, sizeof(j->reg));
		} else if (type == IMG_CA && !j->ca && (j->ca = malloc(len + 1))) {
			memcpy(j->ca, p, len);
			j->ca[len] = '\0';
			j->ca_len = len;
		} else if (type == IMG_SIGPOLICY && !j->sig_policy &&
			   (j->sig_policy = malloc(len))) {
			memcpy(j->sig_policy, p, len);
			j->sig_policy_len = len;
		} else if (type == IMG_SIGKEY && j->nkeys < SP_SIGPOLICY_KEYS) {
			memcpy(&j->keys[j->nkeys], p, sizeof(j->keys[0]));
			j->keys[j->nkeys].uri[SP_SIGKEY_URI_MAX - 1] = '\0';
			j->keys[j->nkeys].pem[SP_SIGPOLICY_KEY_MAX - 1] = '\0';
			j->nkeys++;
		} else if (type == IMG_PINNED && j->npinned < SP_IMG_MAX_PINNED) {
			memcpy(j->pinned[j->npinned], p, len);
			j->pinned[j->npinned][SP_DIGEST_LEN] = '\0';
			j->pins[j->npinned] = j->pinned[j->npinned];
			j->npinned++;
		} else {
			return sp_error(err, 0, "frame %u", type);
		}
	}
	return sp_pull_fail(err, SP_STAGE_PULL_MANIFEST, 0, "pull.manifest: no job: %s", err->msg);
}

/* The job, the registry, the resolution: 0, or -1 with err. */
static int meta_run(int fd, struct meta_job *j, struct sp_registry *r,
		    const struct sp_frame_table *t, struct sp_err *err)
{
	struct sp_frame_rx rx;
	int ret = -1;

	if (sp_frame_rx_init(&rx, t, true, err) < 0)
		return -1;
	if (read_job(fd, &rx, j, err) == 0 &&
	    sp_img_reg_setup(r, &j->reg, j->ca, j->ca_len, err) == 0) {
		(void)curl_global_init(CURL_GLOBAL_DEFAULT);
		ret = resolve(fd, r, j, err);
		sp_registry_wipe(r);
	}
	sp_frame_rx_free(&rx);
	return ret;
}

static int meta_main(const struct sp_worker_ctx *ctx)
{
	struct meta_job *j = calloc(1, sizeof(*j));
	struct sp_registry *r = calloc(1, sizeof(*r));
	struct sp_err err = { 0 };
	int ret = -1;

	(void)signal(SIGPIPE, SIG_IGN);
	if (j && r)
		ret = meta_run(ctx->fd, j, r, &ctx->def->in, &err);
	else
		sp_pull_fail(&err, SP_STAGE_PULL_MANIFEST, ENOMEM, "pull.manifest");
	if (ret < 0) {
		if (!err.stage)
			(void)sp_pull_wrap(&err, SP_STAGE_PULL_MANIFEST, "pull.manifest");
		(void)sp_frame_send_err(ctx->fd, 0, &err);
	}
	if (j) {
		explicit_bzero(&j->reg, sizeof(j->reg));
		free(j->ca);
		free(j->sig_policy);
	}
	free(j);
	free(r);
	return ret < 0 ? 1 : 0;
}

const struct sp_worker_def sp_pull_meta_worker = {
	.name = "pull-meta",
	.confine = &sp_image_parser_confine[1],
	.in = SP_FRAME_TABLE(in_types),
	.out = { sp_img_meta_types, SP_IMG_META_NTYPES },
	.main = meta_main,
	.secret = true,
};
