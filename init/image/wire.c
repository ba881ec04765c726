/* The field lists between a pull's processes (wire.h). */
#define _GNU_SOURCE
#include "image/wire.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image/image.h"
#include "image/image_int.h"
#include "image/manifest.h"
#include "lib/log.h"

void sp_wire_put(struct sp_wire *w, uint32_t tag, const void *d, size_t n)
{
	uint32_t h[2] = { tag, (uint32_t)n };

	if (w->oom)
		return;
	if (w->len + 8 + n > w->cap) {
		size_t nc = (w->len + 8 + n) * 2;
		uint8_t *np = realloc(w->p, nc);

		if (!np) {
			w->oom = true;
			return;
		}
		w->p = np;
		w->cap = nc;
	}
	memcpy(w->p + w->len, h, 8);
	memcpy(w->p + w->len + 8, d, n);
	w->len += 8 + n;
}

void sp_wire_str(struct sp_wire *w, uint32_t tag, const char *s)
{
	sp_wire_put(w, tag, s, strlen(s));
}

void sp_wire_u64(struct sp_wire *w, uint32_t tag, uint64_t v)
{
	sp_wire_put(w, tag, &v, sizeof(v));
}

void sp_wire_error(struct sp_wire *w, const struct sp_err *err)
{
	sp_wire_str(w, T_ERROR, err->msg);
	sp_wire_u64(w, T_ERROR_CODE, (uint64_t)err->kind | (uint64_t)err->stage << 8);
}

void sp_strv_free(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

static int strv_push(char ***v, size_t *n, const uint8_t *d, size_t len, size_t max)
{
	char **nv;

	if (*n >= max || len > SP_IMG_STR_MAX || memchr(d, '\0', len))
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

static int copy_field(char *dst, size_t cap, const uint8_t *d, size_t len)
{
	if (len >= cap || memchr(d, '\0', len))
		return -1;
	memcpy(dst, d, len);
	dst[len] = '\0';
	return 0;
}

/* One record into m; mask says which tags this list may hold. counts[0] and counts[1] count
 * the T_LAYER_COMP and T_LAYER_SIZE records. 0 or -1 (malformed). */
static int field(struct sp_meta *m, uint32_t tag, const uint8_t *d, uint32_t n, uint32_t mask,
		 size_t counts[2])
{
	if (tag >= 32 || !(mask & (1u << tag)))
		return -1;
	switch (tag) {
	case T_DIGEST:
		return copy_field(m->digest, sizeof(m->digest), d, n);
	case T_CONFIG_DIGEST:
		return copy_field(m->config_digest, sizeof(m->config_digest), d, n);
	case T_LAYER_DIGEST:
		if (m->n >= SP_IMG_MAX_LAYERS || copy_field(m->layers[m->n].digest, 72, d, n) ||
		    !sp_digest_valid(m->layers[m->n].digest))
			return -1;
		m->n++;
		return 0;
	case T_LAYER_COMP:
	case T_LAYER_SIZE: {
		uint64_t v;
		size_t *k = &counts[tag == T_LAYER_COMP ? 0 : 1];

		if (n != 8 || *k >= SP_IMG_MAX_LAYERS)
			return -1;
		memcpy(&v, d, 8);
		if (tag == T_LAYER_COMP) {
			if (v > SP_COMP_ZSTD)
				return -1;
			m->layers[*k].comp = (int)v;
		} else {
			m->layers[*k].size = v;
		}
		(*k)++;
		return 0;
	}
	case T_DIFF_ID:
		if (m->nd >= SP_IMG_MAX_LAYERS || copy_field(m->layers[m->nd].diff_id, 72, d, n) ||
		    !sp_digest_valid(m->layers[m->nd].diff_id))
			return -1;
		m->nd++;
		return 0;
	case T_ENTRYPOINT:
		return strv_push(&m->entrypoint, &m->n_entrypoint, d, n, SP_IMG_MAX_ARGS);
	case T_CMD:
		return strv_push(&m->cmd, &m->n_cmd, d, n, SP_IMG_MAX_ARGS);
	case T_ENV:
		return strv_push(&m->env, &m->n_env, d, n, SP_IMG_MAX_ENV);
	case T_WORKDIR:
	case T_USER: {
		char **dst = tag == T_WORKDIR ? &m->workdir : &m->user;

		if (*dst || n > SP_IMG_STR_MAX || memchr(d, '\0', n))
			return -1;
		*dst = strndup((const char *)d, n);
		return *dst ? 0 : -1;
	}
	case T_TOKEN:
		if (copy_field(m->token, sizeof(m->token), d, n))
			return -1;
		for (size_t i = 0; i < n; i++)
			if (d[i] <= 0x20 || d[i] >= 0x7f)
				return -1;
		return 0;
	case T_TOKEN_TTL:
		if (n != 8)
			return -1;
		memcpy(&m->token_ttl, d, 8);
		return 0;
	case T_MNT_ID:
		if (n != 8 || m->mnt_id)
			return -1;
		memcpy(&m->mnt_id, d, 8);
		return m->mnt_id ? 0 : -1;
	case T_ERROR_CODE: {
		uint64_t v;

		if (n != 8)
			return -1;
		memcpy(&v, d, 8);
		if ((v & 0xff) > SP_E_UNSUPPORTED || (v >> 8) >= SP_STAGE_COUNT)
			return -1;
		m->error_kind = (uint8_t)(v & 0xff);
		m->error_stage = (uint8_t)(v >> 8);
		return 0;
	}
	case T_ERROR: {
		char raw[256];
		size_t k = n < sizeof(raw) ? n : sizeof(raw) - 1;

		memcpy(raw, d, k);
		sp_log_escape(m->error, sizeof(m->error), raw, k);
		return 0;
	}
	default:
		return -1;
	}
}

/* Walks the records of p[0..len), each through field(). 0 or -1 (malformed). */
static int decode(const uint8_t *p, size_t len, struct sp_meta *m, uint32_t mask, size_t counts[2])
{
	size_t off = 0;

	while (off < len) {
		uint32_t h[2];

		if (len - off < 8)
			return -1;
		memcpy(h, p + off, 8);
		if (h[1] > len - off - 8 || field(m, h[0], p + off + 8, h[1], mask, counts) < 0)
			return -1;
		off += 8 + h[1];
	}
	return 0;
}

#define TAG(t) (1u << (t))
#define META_TAGS                                                                                  \
	(TAG(T_DIGEST) | TAG(T_CONFIG_DIGEST) | TAG(T_LAYER_DIGEST) | TAG(T_LAYER_COMP) |          \
	 TAG(T_LAYER_SIZE) | TAG(T_DIFF_ID) | (RESULT_TAGS & ~TAG(T_MNT_ID)) | TAG(T_TOKEN) |      \
	 TAG(T_TOKEN_TTL))
#define RESULT_TAGS                                                                                \
	(TAG(T_DIGEST) | TAG(T_ENTRYPOINT) | TAG(T_CMD) | TAG(T_ENV) | TAG(T_WORKDIR) |            \
	 TAG(T_USER) | TAG(T_ERROR) | TAG(T_ERROR_CODE) | TAG(T_TOKEN) | TAG(T_TOKEN_TTL) |        \
	 TAG(T_MNT_ID))

int sp_meta_decode(const uint8_t *p, size_t len, struct sp_meta *m, struct sp_err *err)
{
	size_t counts[2] = { 0, 0 };

	if (decode(p, len, m, META_TAGS, counts) < 0)
		goto bad;
	if (m->error[0])
		return 0;
	if (!sp_digest_valid(m->digest) || !sp_digest_valid(m->config_digest) || m->n == 0 ||
	    m->nd != m->n || counts[0] != m->n || counts[1] != m->n)
		goto bad;
	return 0;
bad:
	return sp_pull_fail(err, SP_STAGE_PULL_MANIFEST, 0,
			    "pull.manifest: the metadata child sent a malformed result");
}

void sp_meta_free(struct sp_meta *m)
{
	sp_strv_free(m->entrypoint);
	sp_strv_free(m->cmd);
	sp_strv_free(m->env);
	free(m->workdir);
	free(m->user);
	explicit_bzero(m->token, sizeof(m->token));
}

/* --- the result, from a pull worker to PID 1 (driver.c) ------------------------------------------ */

void sp_meta_error(const struct sp_meta *m, struct sp_err *err)
{
	sp_fail(err, (enum sp_err_kind)m->error_kind, 0, "%s", m->error);
	err->stage = m->error_stage;
}

int sp_pull_result_encode(const struct sp_pull_result *r, const struct sp_err *error, uint8_t **out,
			  size_t *len)
{
	struct sp_wire w = { 0 };

	if (error) {
		sp_wire_error(&w, error);
	} else {
		sp_wire_str(&w, T_DIGEST, r->digest);
		for (size_t i = 0; i < r->n_entrypoint; i++)
			sp_wire_str(&w, T_ENTRYPOINT, r->entrypoint[i]);
		for (size_t i = 0; i < r->n_cmd; i++)
			sp_wire_str(&w, T_CMD, r->cmd[i]);
		for (size_t i = 0; i < r->n_env; i++)
			sp_wire_str(&w, T_ENV, r->env[i]);
		sp_wire_str(&w, T_WORKDIR, r->workdir ? r->workdir : "");
		sp_wire_str(&w, T_USER, r->user ? r->user : "");
		if (r->token[0] && r->token_ttl) {
			sp_wire_str(&w, T_TOKEN, r->token);
			sp_wire_u64(&w, T_TOKEN_TTL, r->token_ttl);
		}
		if (r->mnt_id)
			sp_wire_u64(&w, T_MNT_ID, r->mnt_id);
	}
	if (w.oom) {
		free(w.p);
		return -1;
	}
	*out = w.p;
	*len = w.len;
	return 0;
}

int sp_pull_result_decode(const uint8_t *p, size_t len, struct sp_pull_result *r,
			  struct sp_err *error)
{
	struct sp_meta *m = calloc(1, sizeof(*m));
	size_t counts[2] = { 0, 0 };
	int ret = -1;

	memset(r, 0, sizeof(*r));
	memset(error, 0, sizeof(*error));
	if (!m)
		return -1;
	if (decode(p, len, m, RESULT_TAGS, counts) < 0)
		goto out;
	if (m->error[0]) {
		sp_meta_error(m, error);
	} else if (!sp_digest_valid(m->digest)) {
		goto out;
	}
	memcpy(r->digest, m->digest, sizeof(r->digest));
	r->mnt_id = m->mnt_id;
	r->entrypoint = m->entrypoint, r->n_entrypoint = m->n_entrypoint;
	r->cmd = m->cmd, r->n_cmd = m->n_cmd;
	r->env = m->env, r->n_env = m->n_env;
	r->workdir = m->workdir ? m->workdir : strdup("");
	r->user = m->user ? m->user : strdup("");
	if (m->token[0] && m->token_ttl) {
		memcpy(r->token, m->token, sizeof(r->token));
		r->token_ttl = m->token_ttl;
	}
	m->entrypoint = m->cmd = m->env = NULL;
	m->workdir = m->user = NULL;
	ret = 0;
out:
	sp_meta_free(m);
	free(m);
	return ret;
}
