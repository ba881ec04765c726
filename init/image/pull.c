/* One image pull (image.h): a metadata worker (meta.c) resolves the reference (manifest, index
 * entry, config) and sends back what it found in frames (wire.h); the digest is checked against
 * the policy; free space is checked; then up to `parallel` layer workers (layer.c: each an
 * applier with its own parser worker) unpack the missing layers into staging directories renamed
 * into the store. Every one of them is spawned with lib/worker.h (fork, confine, exec). */
#define _GNU_SOURCE
#include "image/image.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "image/apply.h"
#include "image/image_int.h"
#include "image/manifest.h"
#include "image/sigpolicy.h"
#include "image/wire.h"
#include "lib/cleanup.h"
#include "lib/fileio.h"
#include "lib/log.h"

#define PULL_TIMEOUT_S	  1800
#define PROGRESS_EVERY_MS 2000

/* --- failures and the pinned digests ----------------------------------------------------------- */

static enum sp_err_kind kind_of_stage(enum sp_stage stage)
{
	switch (stage) {
	case SP_STAGE_PULL_AUTH:
	case SP_STAGE_POLICY_DENY:
		return SP_E_DENIED;
	case SP_STAGE_PULL_MANIFEST:
		return SP_E_NOT_FOUND;
	default:
		return SP_E_PRECONDITION;
	}
}

int sp_pull_fail(struct sp_err *err, enum sp_stage stage, int errnum, const char *fmt, ...)
{
	char msg[sizeof(err->msg)];
	va_list ap;

	if (!err)
		return -1;
	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	sp_fail(err, kind_of_stage(stage), errnum, "%s", msg);
	return sp_err_stage(err, stage);
}

int sp_pull_check_pinned(const char *ref, const char *const *pinned, size_t n, const char *digest,
			 struct sp_err *err)
{
	char shown[128];

	if (!n)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (pinned[i] && strcmp(pinned[i], digest) == 0)
			return 0;
	sp_log_escape(shown, sizeof(shown), ref, strnlen(ref, 100));
	sp_fail(err, SP_E_DENIED, 0,
		"policy.deny: CreateContainerRequest is blocked by policy: image '%s' resolved to "
		"%s, a digest no allowed_images entry for it pins",
		shown, digest);
	return sp_err_stage(err, SP_STAGE_POLICY_DENY);
}

int sp_pull_wrap(struct sp_err *err, enum sp_stage stage, const char *fmt, ...)
{
	char ctx[sizeof(err->msg)];
	va_list ap;

	if (!err)
		return -1;
	va_start(ap, fmt);
	(void)vsnprintf(ctx, sizeof(ctx), fmt, ap);
	va_end(ap);
	sp_error_wrap(err, "%s", ctx);
	if (err->stage == SP_STAGE_NONE) {
		err->stage = (uint8_t)stage;
		err->kind = (uint8_t)kind_of_stage(stage);
	}
	return -1;
}

/* --- the metadata worker ---------------------------------------------------------------------- */

/* Its job: the registry settings, the pinned digests, go. */
static void send_meta_job(int fd, const struct sp_pull_opts *o, const struct sp_image_ref *ref)
{
	struct sp_img_reg *w = calloc(1, sizeof(*w));

	if (!w)
		return; /* the worker sees EOF, and says so */
	sp_img_reg_from_opts(w, o, ref);
	if (sp_img_send_reg(fd, w, o->ca_pem, o->ca_len) == 0) {
		for (size_t i = 0; i < o->npinned; i++) {
			char d[SP_DIGEST_LEN + 1] = { 0 };

			(void)snprintf(d, sizeof(d), "%s", o->pinned[i] ? o->pinned[i] : "");
			if (sp_frame_send(fd, IMG_PINNED, d, sizeof(d)) < 0)
				break;
		}
		/* The signature policy goes to the metadata worker, which judges it before it
		 * fetches the config or a layer (sigpolicy_pull.c). */
		if (o->sig_policy && o->sig_policy[0])
			(void)sp_frame_send(fd, IMG_SIGPOLICY, o->sig_policy,
					    strlen(o->sig_policy));
		for (size_t i = 0; i < o->nsig_keys; i++)
			(void)sp_frame_send(fd, IMG_SIGKEY, &o->sig_keys[i],
					    sizeof(o->sig_keys[i]));
		(void)sp_frame_send(fd, IMG_GO, NULL, 0);
	}
	explicit_bzero(w, sizeof(*w));
	free(w);
}

/* What the metadata worker found into m. This runs in the pull worker, which may wait for its
 * own workers. */
static int read_meta(int fd, struct sp_meta *m, struct sp_err *err)
{
	struct sp_frame_rx rx;
	const uint8_t *p;
	uint32_t type, len;
	int r;

	if (sp_frame_rx_init(&rx, &sp_img_meta_out, true, err) < 0)
		return -1;
	while ((r = sp_frame_recv(&rx, fd, &type, &p, &len, err)) == 1 &&
	       (r = sp_img_take(m, SP_IMG_META, type, p, len, err)) == 0)
		;
	sp_frame_rx_free(&rx);
	if (r == 0 && !m->ended)
		sp_error(err, 0, "the metadata child ended without a result");
	return r == 1 ? 0 : -1;
}

static int run_meta(const struct sp_pull_opts *o, const struct sp_image_ref *ref, struct sp_meta *m,
		    struct sp_err *err)
{
	struct sp_spawn_opts so = { .unconfined = !o->sandbox };
	struct sp_child c;
	int r, status;

	if (sp_worker_spawn(&sp_pull_meta_worker, &so, &c, err) < 0)
		return sp_pull_wrap(err, SP_STAGE_PULL_MANIFEST, "pull.manifest");
	send_meta_job(c.fd, o, ref);
	r = read_meta(c.fd, m, err);
	if (r < 0)
		sp_child_kill(&c); /* a malformed list: refused, its sender stopped */
	status = sp_child_reap(&c);
	if (r < 0)
		return sp_pull_wrap(err, SP_STAGE_PULL_MANIFEST, "pull.manifest");
	if (m->failed) {
		*err = m->err;
		return -1;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return sp_pull_fail(err, SP_STAGE_PULL_MANIFEST, 0,
				    "pull.manifest: the metadata child failed");
	return 0;
}

/* --- layers ------------------------------------------------------------------------------------ */

void sp_image_layer_dir(const char *store, const char *diff_id, char *out, size_t cap)
{
	(void)snprintf(out, cap, "%s/%s", store, diff_id + 7);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void human(uint64_t b, char *out, size_t cap)
{
	(void)snprintf(out, cap, "%.1f MiB", (double)b / (1024.0 * 1024.0));
}

/* The layer workers of one pull: at most par at once, each reporting in frames. */
struct running {
	struct sp_child c;
	struct sp_frame_rx rx;
	size_t idx;
};

struct layers {
	const struct sp_pull_opts *o;
	const struct sp_meta *m;
	const bool *todo;
	const struct sp_img_reg *reg; /* the pull's registry settings, with the metadata's token */
	uint64_t max_layer;
	unsigned par;
	struct running run[16];
	size_t nrun, next, total, done;
};

static void send_layer_job(const struct layers *l, int fd, size_t i)
{
	struct sp_img_layer_job job = {
		.comp = (uint32_t)l->m->layers[i].comp,
		.chown = l->o->chown,
		.sandbox = l->o->sandbox,
		.encrypted = l->m->layers[i].encrypted,
		.max_layer = l->max_layer,
	};

	(void)snprintf(job.digest, sizeof(job.digest), "%s", l->m->layers[i].digest);
	(void)snprintf(job.diff_id, sizeof(job.diff_id), "%s", l->m->layers[i].diff_id);
	(void)snprintf(job.store, sizeof(job.store), "%s", l->o->store);
	/* A worker that failed before reading this has sent its error: it is read there. */
	if (sp_img_send_reg(fd, l->reg, l->o->ca_pem, l->o->ca_len) == 0 &&
	    sp_layer_send_crypt(fd, job.encrypted, l->o->keys, &l->m->enc[i]) == 0)
		(void)sp_frame_send(fd, IMG_LAYER_JOB, &job, sizeof(job));
}

/* Spawns workers for the next layers to fetch, up to the limit. */
static int layers_start(struct layers *l, struct sp_err *err)
{
	const struct sp_spawn_opts so = { .unconfined = !l->o->sandbox };

	while (l->nrun < l->par && l->next < l->m->n) {
		struct running *r = &l->run[l->nrun];

		if (!l->todo[l->next]) {
			l->next++;
			continue;
		}
		if (sp_frame_rx_init(&r->rx, &sp_pull_layer_worker.out, false, err) < 0)
			return sp_pull_wrap(err, SP_STAGE_PULL_LAYER, "pull.layer");
		if (sp_worker_spawn(&sp_pull_layer_worker, &so, &r->c, err) < 0) {
			sp_frame_rx_free(&r->rx);
			return sp_pull_wrap(err, SP_STAGE_PULL_LAYER, "pull.layer");
		}
		send_layer_job(l, r->c.fd, l->next);
		r->idx = l->next++;
		l->nrun++;
	}
	return 0;
}

/* Worker k is readable: 1 it goes on (a partial frame), 0 done, -1 failed. */
static int layer_report(struct layers *l, size_t k, struct sp_pull_result *res, struct sp_err *err)
{
	struct running *r = &l->run[k];
	const uint8_t *p;
	uint32_t type, len, ref;
	ssize_t n = sp_frame_rx_read(&r->rx, r->c.fd);
	int f;

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return 1;
	f = sp_frame_next(&r->rx, &type, &p, &len, err);
	if (f < 0)
		return sp_pull_wrap(err, SP_STAGE_PULL_LAYER, "pull.layer: layer %zu's worker",
				    r->idx);
	if (f == 1 && type == IMG_LAYER_DONE) {
		uint64_t d[2];

		memcpy(d, p, sizeof(d));
		l->done++;
		res->layers_fetched++;
		res->bytes_fetched += d[0];
		res->bytes_unpacked += d[1];
		return 0;
	}
	if (f == 1) /* SP_FRAME_ERR: its words, escaped on the way in */
		return sp_frame_err_decode(p, len, &ref, err), -1;
	if (n <= 0)
		return sp_pull_fail(err, SP_STAGE_PULL_LAYER, 0,
				    "pull.layer: layer %zu's worker died", r->idx);
	return 1;
}

/* A worker stopped in the middle of a layer leaves its staging directory behind (layer.c names
 * it after the layer and the worker's pid): removed here, so that a failed pull leaves nothing
 * half-unpacked in the store. Another pull's staging of the same layer has another pid. */
static void remove_staging(const struct layers *l, size_t idx, pid_t pid)
{
	cleanup_close int sfd = open(l->o->store, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	char name[128];

	if (sfd < 0)
		return;
	(void)snprintf(name, sizeof(name), ".tmp-%s-%d", l->m->layers[idx].diff_id + 7, (int)pid);
	(void)sp_remove_tree_at(sfd, name, NULL);
}

static void layer_end(struct layers *l, size_t k, bool kill)
{
	pid_t pid = l->run[k].c.pid;

	if (kill)
		sp_child_kill(&l->run[k].c);
	(void)sp_child_reap(&l->run[k].c);
	if (kill)
		remove_staging(l, l->run[k].idx, pid);
	sp_frame_rx_free(&l->run[k].rx);
	l->run[k] = l->run[--l->nrun];
}

/* Waits (a second at most) for reports and reaps the workers that reported. */
static int layers_collect(struct layers *l, struct sp_pull_result *res, struct sp_err *err)
{
	struct pollfd pfd[16];
	size_t n = l->nrun;
	int ret = 0;

	for (size_t k = 0; k < n; k++)
		pfd[k] = (struct pollfd){ l->run[k].c.fd, POLLIN, 0 };
	if (poll(pfd, n, 1000) < 0 && errno != EINTR)
		return sp_pull_fail(err, SP_STAGE_PULL_LAYER, errno, "pull.layer: poll");
	/* From the end, so that removing k leaves the entries before it where they were. */
	for (size_t k = n; k-- > 0 && ret == 0;) {
		int r;

		if (!pfd[k].revents || (r = layer_report(l, k, res, err)) > 0)
			continue;
		layer_end(l, k, r < 0);
		ret = r;
	}
	return ret;
}

/* On failure: the workers still running are stopped. */
static void layers_stop(struct layers *l)
{
	while (l->nrun)
		layer_end(l, l->nrun - 1, true);
}

static int run_layers(const struct sp_pull_opts *o, const struct sp_image_ref *ref,
		      const struct sp_meta *m, const bool *todo, uint64_t max_layer,
		      struct sp_pull_result *res, struct sp_err *err)
{
	cleanup_free struct sp_img_reg *reg = calloc(1, sizeof(*reg));
	struct layers l = { .o = o, .m = m, .todo = todo, .reg = reg, .max_layer = max_layer };
	double start = now_s(), last = start;
	int ret = 0;

	if (!reg)
		return sp_pull_fail(err, SP_STAGE_PULL_LAYER, ENOMEM, "pull.layer");
	sp_img_reg_from_opts(reg, o, ref);
	if (m->token[0]) { /* the metadata worker's is the newer */
		(void)snprintf(reg->token, sizeof(reg->token), "%s", m->token);
		reg->token_ttl = m->token_ttl;
	}
	l.par = o->parallel ? o->parallel : SP_IMAGE_DEFAULT_PARALLEL;
	if (l.par > 16)
		l.par = 16;
	for (size_t i = 0; i < m->n; i++)
		l.total += todo[i];
	while ((l.next < m->n || l.nrun) && ret == 0) {
		if ((ret = layers_start(&l, err)) < 0 || l.nrun == 0 ||
		    (ret = layers_collect(&l, res, err)) < 0)
			break;
		if (!o->quiet && (now_s() - last) * 1000 >= PROGRESS_EVERY_MS) {
			char b[32];

			last = now_s();
			human(res->bytes_fetched, b, sizeof(b));
			sp_info("pull", "%s: layers %zu/%zu done, %s fetched, %zu running, %.0f s",
				o->ref, l.done, l.total, b, l.nrun, last - start);
		}
		if (now_s() - start > PULL_TIMEOUT_S)
			ret = sp_pull_fail(err, SP_STAGE_PULL_LAYER, 0,
					   "pull.layer: the pull took longer than %d s",
					   PULL_TIMEOUT_S);
	}
	layers_stop(&l);
	explicit_bzero(reg, sizeof(*reg));
	return ret;
}

/* --- the pull ---------------------------------------------------------------------------------- */

/* Which layers are missing from the store (keyed by diff_id; an image may repeat one): todo,
 * and the compressed bytes to fetch; checked against the store's free space. */
static int plan_layers(const struct sp_pull_opts *o, const struct sp_meta *m, bool *todo,
		       struct sp_pull_result *res, uint64_t *have, struct sp_err *err)
{
	uint64_t need = 0;
	struct statvfs vfs;
	char a[32], b[32];

	for (size_t i = 0; i < m->n; i++) {
		char dir[600];
		bool dup = false;

		sp_image_layer_dir(o->store, m->layers[i].diff_id, dir, sizeof(dir));
		for (size_t k = 0; k < i; k++)
			dup |= strcmp(m->layers[k].diff_id, m->layers[i].diff_id) == 0;
		if (dup || sp_path_exists(dir)) {
			res->layers_reused += !dup;
			continue;
		}
		todo[i] = true;
		need += m->layers[i].size;
	}
	if (statvfs(o->store, &vfs) < 0)
		return sp_pull_fail(err, SP_STAGE_PULL_UNPACK, errno, "pull.unpack: statvfs %s",
				    o->store);
	*have = (uint64_t)vfs.f_bavail * vfs.f_frsize;
	human(need, a, sizeof(a));
	human(*have, b, sizeof(b));
	if (need > *have)
		return sp_pull_fail(err, SP_STAGE_PULL_UNPACK, 0,
				    "pull.unpack: not enough space in %s: need at least %s "
				    "(compressed), have %s",
				    o->store, a, b);
	if (!o->quiet)
		sp_info("pull", "%s: %s, %zu layers (%u in the store), %s to fetch, %s free",
			o->ref, m->digest, m->n, res->layers_reused, a, b);
	return 0;
}

/* What the metadata child found moves into the result. */
static int take_meta(struct sp_meta *m, struct sp_pull_result *res, struct sp_err *err)
{
	res->diff_ids = calloc(m->n ? m->n : 1, sizeof(*res->diff_ids));
	if (!res->diff_ids)
		return sp_error(err, ENOMEM, "pull");
	res->n_layers = m->n;
	for (size_t i = 0; i < m->n; i++)
		memcpy(res->diff_ids[i], m->layers[i].diff_id, 72);
	memcpy(res->digest, m->digest, sizeof(res->digest));
	memcpy(res->config_digest, m->config_digest, sizeof(res->config_digest));
	res->entrypoint = m->entrypoint, res->n_entrypoint = m->n_entrypoint;
	res->cmd = m->cmd, res->n_cmd = m->n_cmd;
	res->env = m->env, res->n_env = m->n_env;
	res->workdir = m->workdir ? m->workdir : strdup("");
	res->user = m->user ? m->user : strdup("");
	m->entrypoint = m->cmd = m->env = NULL;
	m->workdir = m->user = NULL;
	if (m->token[0] && m->token_ttl) {
		memcpy(res->token, m->token, sizeof(res->token));
		res->token_ttl = m->token_ttl;
	}
	return 0;
}

static void meta_release(struct sp_meta **m)
{
	if (*m)
		sp_meta_free(*m);
	free(*m);
}

/* The metadata, the digest pin, the layers into the store, the result. */
static int pull_into(const struct sp_pull_opts *o, const struct sp_image_ref *ref,
		     struct sp_meta *m, struct sp_pull_result *res, struct sp_err *err)
{
	bool todo[SP_IMG_MAX_LAYERS] = { 0 };
	uint64_t have = 0;

	if (run_meta(o, ref, m, err) < 0 ||
	    sp_pull_check_pinned(o->ref, o->pinned, o->npinned, m->digest, err) < 0 ||
	    (o->require_encrypted && sp_pull_check_encrypted(o->ref, m, err) < 0) ||
	    plan_layers(o, m, todo, res, &have, err) < 0 ||
	    run_layers(o, ref, m, todo, o->max_layer_size ? o->max_layer_size : have, res, err) < 0)
		return -1;
	return take_meta(m, res, err);
}

int sp_image_pull(const struct sp_pull_opts *o, struct sp_pull_result *res, struct sp_err *err)
{
	struct sp_meta *m = NULL;
	struct sp_image_ref ref;
	double start = now_s();
	int ret;
	char a[32];

	memset(res, 0, sizeof(*res));
	if (sp_image_ref_parse(o->ref, &ref, err) < 0)
		return sp_pull_wrap(err, SP_STAGE_PULL_MANIFEST, "pull.manifest");
	if (mkdir(o->store, 0700) < 0 && errno != EEXIST)
		return sp_pull_fail(err, SP_STAGE_PULL_UNPACK, errno,
				    "pull.unpack: create the layer store %s", o->store);
	m = calloc(1, sizeof(*m));
	if (!m)
		return sp_error(err, ENOMEM, "pull");
	ret = pull_into(o, &ref, m, res, err);
	meta_release(&m);
	if (ret < 0) {
		sp_pull_result_free(res);
		return -1;
	}
	res->seconds = now_s() - start;
	if (!o->quiet) {
		human(res->bytes_fetched, a, sizeof(a));
		sp_info("pull", "%s: done in %.1f s, %u layers fetched (%s), %u reused", o->ref,
			res->seconds, res->layers_fetched, a, res->layers_reused);
	}
	return 0;
}

void sp_pull_result_free(struct sp_pull_result *res)
{
	free(res->diff_ids);
	sp_strv_free(res->entrypoint);
	sp_strv_free(res->cmd);
	sp_strv_free(res->env);
	free(res->workdir);
	free(res->user);
	explicit_bzero(res->token, sizeof(res->token));
	res->token_ttl = 0;
	res->diff_ids = NULL;
	res->entrypoint = res->cmd = res->env = NULL;
	res->workdir = res->user = NULL;
}
