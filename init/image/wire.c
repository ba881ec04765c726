/* The frames between a pull's processes (wire.h): the decoder of what a metadata worker and a
 * pull worker send (the latter is what PID 1 runs: fuzzed, tests/fuzz/fuzz_pull_result.c), the
 * configuration's encoder, and the registry settings a worker gets. */
#define _GNU_SOURCE
#include "image/wire.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image/registry.h"
#include "lib/log.h"

#define STR(t)                                                                                     \
	{                                                                                          \
		t, 0, SP_IMG_STR_MAX                                                               \
	}
#define FIX(t, s)                                                                                  \
	{                                                                                          \
		t, sizeof(s), sizeof(s)                                                            \
	}

const struct sp_frame_type sp_img_meta_types[SP_IMG_META_NTYPES] = {
	FIX(IMG_HEAD, struct sp_img_head),
	FIX(IMG_LAYER, struct sp_img_layer),
	STR(IMG_ENTRYPOINT),
	STR(IMG_CMD),
	STR(IMG_ENV),
	STR(IMG_WORKDIR),
	STR(IMG_USER),
	FIX(IMG_TOKEN, struct sp_img_token),
	{ IMG_END, 0, 0 },
	{ IMG_LAYER_ENC, SP_ENC_ANNOT_FRAME_MIN, SP_ENC_ANNOT_FRAME_MAX },
};
const struct sp_frame_type sp_img_result_types[SP_IMG_RESULT_NTYPES] = {
	FIX(IMG_HEAD, struct sp_img_head),
	STR(IMG_ENTRYPOINT),
	STR(IMG_CMD),
	STR(IMG_ENV),
	STR(IMG_WORKDIR),
	STR(IMG_USER),
	FIX(IMG_TOKEN, struct sp_img_token),
	{ IMG_IDS, 8, 8 },
	{ IMG_END, 0, 0 },
};
const struct sp_frame_table sp_img_meta_out = { sp_img_meta_types, SP_IMG_META_NTYPES };
const struct sp_frame_table sp_img_result_out = { sp_img_result_types, SP_IMG_RESULT_NTYPES };

void sp_strv_free(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

void sp_meta_free(struct sp_meta *m)
{
	sp_strv_free(m->entrypoint);
	sp_strv_free(m->cmd);
	sp_strv_free(m->env);
	free(m->workdir);
	free(m->user);
	m->entrypoint = m->cmd = m->env = NULL;
	m->workdir = m->user = NULL;
	explicit_bzero(m->token, sizeof(m->token));
	for (size_t i = 0; i < SP_IMG_MAX_LAYERS; i++)
		sp_enc_annots_free(&m->enc[i]);
}

/* --- decoding ---------------------------------------------------------------------------------- */

static int strv_push(char ***v, size_t *n, const uint8_t *d, size_t len, size_t max)
{
	char **nv;

	if (*n >= max || memchr(d, '\0', len))
		return -1;
	nv = realloc(*v, (*n + 2) * sizeof(char *));
	if (!nv)
		return -1;
	*v = nv;
	nv[*n] = strndup((const char *)d, len);
	if (!nv[*n])
		return -1;
	nv[++*n] = NULL;
	return 0;
}

/* A NUL-terminated digest in a fixed field. */
static bool digest_field(const char *f)
{
	return strnlen(f, SP_DIGEST_LEN + 1) <= SP_DIGEST_LEN && sp_digest_valid(f);
}

static int take_head(struct sp_meta *m, enum sp_img_stream which, const uint8_t *p)
{
	struct sp_img_head h;

	memcpy(&h, p, sizeof(h));
	if (m->have_head || !digest_field(h.digest) ||
	    (which == SP_IMG_META ? !digest_field(h.config_digest) || h.mnt_id
				  : h.config_digest[0] != '\0'))
		return -1;
	memcpy(m->digest, h.digest, sizeof(h.digest));
	memcpy(m->config_digest, h.config_digest, sizeof(h.config_digest));
	m->mnt_id = h.mnt_id;
	m->have_head = true;
	return 0;
}

static int take_layer(struct sp_meta *m, const uint8_t *p)
{
	struct sp_img_layer l;

	memcpy(&l, p, sizeof(l));
	if (m->n >= SP_IMG_MAX_LAYERS || !digest_field(l.digest) || !digest_field(l.diff_id) ||
	    l.comp > SP_COMP_ZSTD || l.encrypted > 1)
		return -1;
	memcpy(m->layers[m->n].digest, l.digest, sizeof(l.digest));
	memcpy(m->layers[m->n].diff_id, l.diff_id, sizeof(l.diff_id));
	m->layers[m->n].comp = (int)l.comp;
	m->layers[m->n].size = l.size;
	m->layers[m->n].encrypted = l.encrypted;
	m->n++;
	return 0;
}

static int take_token(struct sp_meta *m, const uint8_t *p)
{
	struct sp_img_token t;
	size_t n;
	int r = 0;

	memcpy(&t, p, sizeof(t));
	n = strnlen(t.token, sizeof(t.token));
	if (m->token[0] || n == 0 || n == sizeof(t.token) || !t.ttl)
		r = -1;
	for (size_t i = 0; r == 0 && i < n; i++)
		if ((unsigned char)t.token[i] <= 0x20 || (unsigned char)t.token[i] >= 0x7f)
			r = -1;
	if (r == 0) {
		memcpy(m->token, t.token, n + 1);
		m->token_ttl = t.ttl;
	}
	explicit_bzero(&t, sizeof(t));
	return r;
}

static int take_str(char **dst, const uint8_t *p, uint32_t len)
{
	if (*dst || memchr(p, '\0', len))
		return -1;
	*dst = strndup((const char *)p, len);
	return *dst ? 0 : -1;
}

/* An error frame: the pull's (ref 0) or, in a result, its user's. */
static int take_err(struct sp_meta *m, enum sp_img_stream which, const uint8_t *p, uint32_t len,
		    struct sp_err *err)
{
	struct sp_err e;
	uint32_t ref;

	if (sp_frame_err_decode(p, len, &ref, &e) < 0) {
		*err = e;
		return -1;
	}
	if (ref == 0) {
		m->failed = true;
		m->err = e;
		return 1;
	}
	if (which != SP_IMG_RESULT || ref != SP_IMG_REF_USER || m->have_ids)
		return -1;
	m->have_ids = true;
	m->user_ret = -1;
	m->user_err = e;
	return 0;
}

/* The stream ended: is it whole? */
static int take_end(struct sp_meta *m, enum sp_img_stream which)
{
	if (!m->have_head)
		return -1;
	if (which == SP_IMG_META) {
		for (size_t i = 0; i < m->n; i++)
			if (m->layers[i].encrypted != sp_enc_annots_complete(&m->enc[i]))
				return -1;
		return m->n ? 1 : -1;
	}
	return m->have_ids && m->mnt_id ? 1 : -1;
}

static int take(struct sp_meta *m, enum sp_img_stream which, uint32_t type, const uint8_t *p,
		uint32_t len, struct sp_err *err)
{
	uint32_t ids[2];

	switch (type) {
	case SP_FRAME_ERR:
		return take_err(m, which, p, len, err);
	case IMG_HEAD:
		return take_head(m, which, p);
	case IMG_LAYER:
		return take_layer(m, p);
	case IMG_ENTRYPOINT:
		return strv_push(&m->entrypoint, &m->n_entrypoint, p, len, SP_IMG_MAX_ARGS);
	case IMG_CMD:
		return strv_push(&m->cmd, &m->n_cmd, p, len, SP_IMG_MAX_ARGS);
	case IMG_ENV:
		return strv_push(&m->env, &m->n_env, p, len, SP_IMG_MAX_ENV);
	case IMG_WORKDIR:
		return take_str(&m->workdir, p, len);
	case IMG_USER:
		return take_str(&m->user, p, len);
	case IMG_TOKEN:
		return take_token(m, p);
	case IMG_IDS:
		if (m->have_ids)
			return -1;
		memcpy(ids, p, sizeof(ids));
		m->have_ids = true;
		m->uid = ids[0];
		m->gid = ids[1];
		return 0;
	case IMG_END:
		return take_end(m, which);
	case IMG_LAYER_ENC: /* of the layer just sent, marked encrypted */
		memcpy(ids, p, sizeof(ids[0]));
		return m->n && ids[0] == m->n - 1 && m->layers[m->n - 1].encrypted
			       ? sp_enc_annots_take(m->enc, m->n, p, len)
			       : -1;
	default:
		return -1;
	}
}

int sp_img_take(struct sp_meta *m, enum sp_img_stream which, uint32_t type, const uint8_t *p,
		uint32_t len, struct sp_err *err)
{
	const struct sp_frame_table *t = which == SP_IMG_META ? &sp_img_meta_out
							      : &sp_img_result_out;
	struct sp_frame_hdr h = { type, len };
	int r;

	if (m->ended)
		return sp_fail(err, SP_E_INTERNAL, 0, "pull: a frame after the end");
	if (sp_frame_check(t, &h, err) < 0)
		return -1;
	r = take(m, which, type, p, len, err);
	if (r < 0 && !m->failed) {
		if (type != SP_FRAME_ERR)
			sp_fail(err, SP_E_INTERNAL, 0, "pull: a malformed %s (frame %u)",
				which == SP_IMG_META ? "metadata" : "result", type);
		return -1;
	}
	m->ended = r == 1;
	return r;
}

void sp_img_result(struct sp_meta *m, struct sp_pull_result *r)
{
	memset(r, 0, sizeof(*r));
	memcpy(r->digest, m->digest, sizeof(r->digest));
	r->mnt_id = m->mnt_id;
	r->entrypoint = m->entrypoint, r->n_entrypoint = m->n_entrypoint;
	r->cmd = m->cmd, r->n_cmd = m->n_cmd;
	r->env = m->env, r->n_env = m->n_env;
	r->workdir = m->workdir ? m->workdir : strdup("");
	r->user = m->user ? m->user : strdup("");
	m->entrypoint = m->cmd = m->env = NULL;
	m->workdir = m->user = NULL;
	if (m->token[0] && m->token_ttl) {
		memcpy(r->token, m->token, sizeof(r->token));
		r->token_ttl = m->token_ttl;
	}
	r->user_ret = m->user_ret;
	r->uid = m->uid;
	r->gid = m->gid;
	r->user_err = m->user_err;
}

/* --- encoding ---------------------------------------------------------------------------------- */

static int send_strv(int fd, uint32_t type, char *const *v)
{
	for (size_t i = 0; v && v[i]; i++)
		if (sp_frame_send(fd, type, v[i], strnlen(v[i], SP_IMG_STR_MAX)) < 0)
			return -1;
	return 0;
}

int sp_img_send_config(int fd, char *const *entrypoint, char *const *cmd, char *const *env,
		       const char *workdir, const char *user, const char *token, uint64_t ttl)
{
	struct sp_img_token t = { .ttl = ttl };
	int r;

	workdir = workdir ? workdir : "";
	user = user ? user : "";
	if (send_strv(fd, IMG_ENTRYPOINT, entrypoint) < 0 || send_strv(fd, IMG_CMD, cmd) < 0 ||
	    send_strv(fd, IMG_ENV, env) < 0 ||
	    sp_frame_send(fd, IMG_WORKDIR, workdir, strnlen(workdir, SP_IMG_STR_MAX)) < 0 ||
	    sp_frame_send(fd, IMG_USER, user, strnlen(user, SP_IMG_STR_MAX)) < 0)
		return -1;
	if (!token || !token[0] || !ttl)
		return 0;
	(void)snprintf(t.token, sizeof(t.token), "%s", token);
	r = sp_frame_send(fd, IMG_TOKEN, &t, sizeof(t));
	explicit_bzero(&t, sizeof(t));
	return r;
}

int sp_img_send_result(int fd, const struct sp_pull_result *r)
{
	struct sp_img_head h = { .mnt_id = r->mnt_id };
	uint32_t ids[2] = { r->uid, r->gid };

	(void)snprintf(h.digest, sizeof(h.digest), "%s", r->digest);
	if (sp_frame_send(fd, IMG_HEAD, &h, sizeof(h)) < 0 ||
	    sp_img_send_config(fd, r->entrypoint, r->cmd, r->env, r->workdir, r->user, r->token,
			       r->token_ttl) < 0)
		return -1;
	if ((r->user_ret < 0 ? sp_frame_send_err(fd, SP_IMG_REF_USER, &r->user_err)
			     : sp_frame_send(fd, IMG_IDS, ids, sizeof(ids))) < 0)
		return -1;
	return sp_frame_send(fd, IMG_END, NULL, 0);
}

/* --- the registry settings --------------------------------------------------------------------- */

void sp_img_reg_from_opts(struct sp_img_reg *w, const struct sp_pull_opts *o,
			  const struct sp_image_ref *ref)
{
	struct sp_err e;

	memset(w, 0, sizeof(*w));
	(void)snprintf(w->ref, sizeof(w->ref), "%s", o->ref);
	for (size_t i = 0; i < o->n_insecure; i++)
		if (strcmp(o->insecure[i], ref->host) == 0 ||
		    strcmp(o->insecure[i], ref->api_host) == 0)
			w->insecure = 1;
	if (o->auth_json &&
	    sp_auth_json_lookup(o->auth_json, o->auth_json_len, ref->host, ref->repo, w->user,
				sizeof(w->user), w->pass, sizeof(w->pass), &e) == 1)
		w->has_creds = 1;
	if (o->token && o->token_ttl > 0) {
		(void)snprintf(w->token, sizeof(w->token), "%s", o->token);
		w->token_ttl = o->token_ttl;
	}
}

int sp_img_reg_setup(struct sp_registry *r, const struct sp_img_reg *w, const char *ca,
		     size_t ca_len, struct sp_err *err)
{
	struct sp_image_ref ref;

	if (memchr(w->ref, '\0', sizeof(w->ref)) == NULL ||
	    memchr(w->user, '\0', sizeof(w->user)) == NULL ||
	    memchr(w->pass, '\0', sizeof(w->pass)) == NULL ||
	    memchr(w->token, '\0', sizeof(w->token)) == NULL)
		return sp_error(err, EINVAL, "pull: malformed registry settings");
	if (sp_image_ref_parse(w->ref, &ref, err) < 0)
		return -1;
	sp_registry_init(r, ref.api_host, ref.repo);
	r->ca_pem = ca;
	r->ca_len = ca_len;
	r->insecure = w->insecure;
	if (w->has_creds) {
		r->has_creds = true;
		memcpy(r->user, w->user, sizeof(r->user));
		memcpy(r->pass, w->pass, sizeof(r->pass));
	}
	/* An earlier pull's token for this repository: sent from the first request on, replaced
	 * when the registry answers 401. */
	if (w->token[0] && w->token_ttl)
		sp_registry_use_token(r, w->token, w->token_ttl);
	return 0;
}

int sp_img_send_reg(int fd, const struct sp_img_reg *w, const char *ca, size_t ca_len)
{
	if (sp_frame_send(fd, IMG_REG, w, sizeof(*w)) < 0)
		return -1;
	return ca_len ? sp_frame_send(fd, IMG_CA, ca, ca_len) : 0;
}
