/* One image pull (image.h): a metadata child resolves the reference (manifest, index entry,
 * config) and sends back a length-prefixed field list; the digest is checked against the policy;
 * free space is checked; then up to `parallel` layer processes (each an applier with its own
 * parser child) unpack the missing layers into staging directories renamed into the store. */
#define _GNU_SOURCE
#include "image/image.h"

#include <errno.h>
#include <linux/capability.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "image/image_int.h"
#include "image/manifest.h"
#include "image/registry.h"
#include "image/wire.h"
#include "lib/fileio.h"
#include "lib/caps.h"
#include "lib/cleanup.h"
#include "lib/log.h"

#define PULL_TIMEOUT_S	  1800
#define PROGRESS_EVERY_MS 2000
#define META_MAX	  (8u << 20)

/* --- the metadata child ------------------------------------------------------------------------ */

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

/* The policy's pinned digests (sp_pull_opts.pinned): the digest the reference resolved to must
 * be one of them. */
static int check_pinned(const struct sp_pull_opts *o, const char *digest, struct sp_err *err)
{
	char ref[128];

	if (!o->npinned)
		return 0;
	for (size_t i = 0; i < o->npinned; i++)
		if (o->pinned[i] && strcmp(o->pinned[i], digest) == 0)
			return 0;
	sp_log_escape(ref, sizeof(ref), o->ref, strnlen(o->ref, 100));
	sp_fail(err, SP_E_DENIED, 0,
		"policy.deny: CreateContainerRequest is blocked by policy: image '%s' resolved to "
		"%s, a digest no allowed_images entry for it pins",
		ref, digest);
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

static void setup_registry(struct sp_registry *r, const struct sp_pull_opts *o,
			   const struct sp_image_ref *ref)
{
	struct sp_err e;

	sp_registry_init(r, ref->api_host, ref->repo);
	r->ca_pem = o->ca_pem;
	r->ca_len = o->ca_len;
	for (size_t i = 0; i < o->n_insecure; i++)
		if (strcmp(o->insecure[i], ref->host) == 0 ||
		    strcmp(o->insecure[i], ref->api_host) == 0)
			r->insecure = true;
	if (o->auth_json &&
	    sp_auth_json_lookup(o->auth_json, o->auth_json_len, ref->host, ref->repo, r->user,
				sizeof(r->user), r->pass, sizeof(r->pass), &e) == 1)
		r->has_creds = true;
	/* An earlier pull's token for this repository: sent from the first request on, replaced
	 * when the registry answers 401. */
	if (o->token && o->token_ttl > 0)
		sp_registry_use_token(r, o->token, o->token_ttl);
}

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

/* The image manifest ref resolves to, through an index when it names one; the digest it
 * resolved to goes on the wire (what the reference named: the index's, when it is one). */
static int fetch_manifest(struct sp_registry *r, const struct sp_pull_opts *o,
			  const struct sp_image_ref *ref, struct sp_manifest *m, struct sp_wire *w,
			  struct sp_err *err)
{
	char got[SP_DIGEST_LEN + 1], want[SP_DIGEST_LEN + 1];
	int i;

	if (manifest_get(r, ref->digest[0] ? ref->digest : ref->tag,
			 ref->digest[0] ? ref->digest : NULL, m, got, err) < 0)
		return -1;
	sp_wire_str(w, T_DIGEST, got);
	/* The policy's pinned digests, before anything else is fetched (the config included). An
	 * early refusal only: the pull worker checks again, since a parser that registry bytes took
	 * over could skip this. */
	if (check_pinned(o, got, err) < 0)
		return -1;
	if (!m->is_index)
		return 0;
	i = sp_index_select(m, "linux", "amd64");
	if (i < 0)
		return sp_pull_fail(err, SP_STAGE_PULL_MANIFEST, 0,
				    "pull.manifest: the index has no linux/amd64 image");
	(void)snprintf(want, sizeof(want), "%s", m->entries[i].digest);
	if (manifest_get(r, want, want, m, got, err) < 0)
		return -1;
	if (m->is_index)
		return sp_pull_fail(err, SP_STAGE_PULL_MANIFEST, 0,
				    "pull.manifest: an index entry is another index");
	return 0;
}

/* The image configuration m names: its diff_ids with m's layers, and the process defaults. */
static int fetch_config(struct sp_registry *r, const struct sp_manifest *m, struct sp_wire *w,
			struct sp_err *err)
{
	cleanup_free char *body = NULL;
	struct sp_image_config cfg;
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
	if (sp_config_parse(body, len, &cfg, err) < 0)
		return sp_pull_wrap(err, SP_STAGE_PULL_CONFIG, "pull.config");
	if (cfg.n_diff_ids != m->n) {
		sp_config_free(&cfg);
		return sp_pull_fail(err, SP_STAGE_PULL_CONFIG, 0,
				    "pull.config: %zu diff_ids for %zu layers", cfg.n_diff_ids,
				    m->n);
	}
	sp_wire_str(w, T_CONFIG_DIGEST, m->config.digest);
	for (size_t i = 0; i < m->n; i++) {
		sp_wire_str(w, T_LAYER_DIGEST, m->entries[i].digest);
		sp_wire_u64(w, T_LAYER_COMP,
			    (uint64_t)sp_layer_compression(m->entries[i].media_type));
		sp_wire_u64(w, T_LAYER_SIZE, m->entries[i].size);
		sp_wire_str(w, T_DIFF_ID, cfg.diff_ids[i]);
	}
	for (size_t i = 0; i < cfg.n_entrypoint; i++)
		sp_wire_str(w, T_ENTRYPOINT, cfg.entrypoint[i]);
	for (size_t i = 0; i < cfg.n_cmd; i++)
		sp_wire_str(w, T_CMD, cfg.cmd[i]);
	for (size_t i = 0; i < cfg.n_env; i++)
		sp_wire_str(w, T_ENV, cfg.env[i]);
	sp_wire_str(w, T_WORKDIR, cfg.workdir);
	sp_wire_str(w, T_USER, cfg.user);
	sp_config_free(&cfg);
	return 0;
}

static int resolve(struct sp_registry *r, const struct sp_pull_opts *o,
		   const struct sp_image_ref *ref, struct sp_wire *w, struct sp_err *err)
{
	cleanup_free struct sp_manifest *m = malloc(sizeof(*m));
	uint64_t ttl;

	if (!m)
		return sp_pull_fail(err, SP_STAGE_PULL_MANIFEST, ENOMEM, "pull.manifest");
	if (fetch_manifest(r, o, ref, m, w, err) < 0 || fetch_config(r, m, w, err) < 0)
		return -1;
	if ((ttl = sp_registry_token_ttl(r)) > 0) {
		sp_wire_str(w, T_TOKEN, r->token);
		sp_wire_u64(w, T_TOKEN_TTL, ttl);
	}
	if (w->oom)
		return sp_pull_fail(err, SP_STAGE_PULL_MANIFEST, ENOMEM, "pull.manifest");
	return 0;
}

static __attribute__((noreturn)) void meta_child(const struct sp_pull_opts *o,
						 const struct sp_image_ref *ref, int sock)
{
	struct sp_registry *r = malloc(sizeof(*r));
	struct sp_wire w = { 0 };
	struct sp_err err = { 0 };
	int ret = -1;

	(void)signal(SIGPIPE, SIG_IGN);
	(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (!r)
		_exit(3);
	if (o->sandbox && sp_image_sandbox(&sock, 1, true, &err) < 0) {
		(void)sp_pull_wrap(&err, SP_STAGE_PULL_MANIFEST, "pull.manifest: parser sandbox");
	} else {
		setup_registry(r, o, ref);
		ret = resolve(r, o, ref, &w, &err);
		sp_registry_wipe(r);
	}
	if (ret < 0) {
		w.len = 0;
		w.oom = false;
		sp_wire_error(&w, &err);
	}
	if (!w.oom)
		(void)sp_write_all(sock, w.p, w.len);
	if (w.p)
		explicit_bzero(w.p, w.len);
	_exit(ret < 0 ? 1 : 0);
}

/* All the metadata child sends, into buf (META_MAX bytes); *len what came. */
static void read_meta(int fd, uint8_t *buf, size_t *len)
{
	for (*len = 0; *len < META_MAX;) {
		ssize_t n = read(fd, buf + *len, META_MAX - *len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		*len += (size_t)n;
	}
}

/* The metadata child (resolve() behind the parser sandbox) and its findings in m. This runs in
 * the pull worker, which may wait for its own child. */
static int run_meta(const struct sp_pull_opts *o, const struct sp_image_ref *ref, struct sp_meta *m,
		    struct sp_err *err)
{
	cleanup_free uint8_t *buf = NULL;
	cleanup_close int fd = -1;
	cleanup_pid pid_t pid = -1;
	int sv[2], status, ret;
	size_t len = 0;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return sp_pull_fail(err, SP_STAGE_PULL_MANIFEST, errno,
				    "pull.manifest: socketpair");
	pid = fork();
	if (pid == 0) {
		close(sv[0]);
		meta_child(o, ref, sv[1]);
	}
	close(sv[1]);
	fd = sv[0];
	if (pid < 0)
		return sp_pull_fail(err, SP_STAGE_PULL_MANIFEST, errno, "pull.manifest: fork");
	buf = malloc(META_MAX);
	if (!buf)
		return sp_pull_fail(err, SP_STAGE_PULL_MANIFEST, ENOMEM, "pull.manifest");
	read_meta(fd, buf, &len);
	if (len == META_MAX) /* too much: the child is killed (cleanup_pid), the list refused */
		return sp_pull_fail(err, SP_STAGE_PULL_MANIFEST, 0,
				    "pull.manifest: the metadata child sent too much");
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	(void)steal_pid(&pid); /* reaped */
	ret = sp_meta_decode(buf, len, m, err);
	explicit_bzero(buf, len); /* the registry token may be in it */
	if (ret < 0)
		return -1;
	if (m->error[0]) {
		sp_meta_error(m, err);
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

struct fetch_ctx {
	struct sp_registry *r;
	const char *digest;
};

static int fetch_blob(void *ctx, sp_sink_fn sink, void *sink_arg, struct sp_err *err)
{
	struct fetch_ctx *f = ctx;

	return sp_registry_blob_stream(f->r, f->digest, sink, sink_arg, err);
}

struct lmsg {	      /* layer process -> worker */
	uint8_t kind; /* 'P' progress, 'D' done, 'E' error */
	uint64_t a, b;
	char msg[256];
};

struct running {
	pid_t pid;
	int fd;
	size_t idx;
	uint64_t progress;
};

#define CAPB(c) (1ull << (c))
#define APPLIER_CAPS                                                                               \
	(CAPB(CAP_CHOWN) | CAPB(CAP_DAC_OVERRIDE) | CAPB(CAP_DAC_READ_SEARCH) | CAPB(CAP_FOWNER) | \
	 CAPB(CAP_FSETID) | CAPB(CAP_MKNOD) | CAPB(CAP_SETFCAP) | CAPB(CAP_SETUID) |               \
	 CAPB(CAP_SETGID) | CAPB(CAP_SYS_CHROOT) | CAPB(CAP_SYS_ADMIN))

static __attribute__((noreturn)) void layer_proc(const struct sp_pull_opts *o,
						 const struct sp_image_ref *ref,
						 const struct sp_meta *m, size_t i, int wfd,
						 uint64_t max_layer)
{
	struct sp_registry *r = malloc(sizeof(*r));
	struct lmsg out = { 0 };
	struct sp_layer_result res;
	struct sp_layer_job j = { 0 };
	struct fetch_ctx fc;
	char tmp[600], final[600];
	struct sp_err err = { 0 };
	int fd, ret;

	if (!r)
		_exit(3);
	(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
	(void)signal(SIGPIPE, SIG_IGN);
	memset(&res, 0, sizeof(res));
	/* The applier keeps what writing a layer needs (ownership, modes, whiteout nodes, file
	 * capabilities, trusted.overlay xattrs) and what making the parser child's sandbox needs
	 * (namespaces and mounts, chroot, the switch to nobody); nothing else, in any set. */
	if (o->sandbox && sp_caps_narrow(APPLIER_CAPS) < 0) {
		(void)snprintf(out.msg, sizeof(out.msg), "pull.unpack: narrow capabilities: %s",
			       strerror(errno));
		out.kind = 'E';
		(void)sp_write_all(wfd, &out, sizeof(out));
		_exit(1);
	}
	setup_registry(r, o, ref);
	if (m->token[0]) {
		sp_registry_use_token(r, m->token, m->token_ttl);
	}
	sp_image_layer_dir(o->store, m->layers[i].diff_id, final, sizeof(final));
	(void)snprintf(tmp, sizeof(tmp), "%s/.tmp-%s-%d", o->store, m->layers[i].diff_id + 7,
		       (int)getpid());
	fc.r = r;
	fc.digest = m->layers[i].digest;
	j.in_fd = -1;
	j.fetch = fetch_blob;
	j.fetch_ctx = &fc;
	j.comp = (enum sp_compress)m->layers[i].comp;
	j.blob_digest = m->layers[i].digest;
	j.diff_id = m->layers[i].diff_id;
	sp_tar_limits_default(&j.lim);
	j.lim.max_total = j.lim.max_file = max_layer;
	j.chown = o->chown;
	j.sandbox = o->sandbox;
	if (mkdir(tmp, 0755) < 0 || (fd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		ret = sp_pull_fail(&err, SP_STAGE_PULL_UNPACK, errno, "pull.unpack: create %s",
				   tmp);
		(void)snprintf(out.msg, sizeof(out.msg), "%s", err.msg);
	} else {
		ret = sp_layer_unpack(&j, fd, &res, &err);
		close(fd);
		if (ret == 0 && rename(tmp, final) < 0) {
			if (errno == EEXIST || errno == ENOTEMPTY) {
				/* another pull of the pod finished the same layer first */
				int sfd = open(o->store, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

				(void)sp_remove_tree_at(sfd, strrchr(tmp, '/') + 1, NULL);
				close(sfd);
			} else {
				ret = sp_pull_fail(&err, SP_STAGE_PULL_UNPACK, errno,
						   "pull.unpack: rename the layer into the store");
			}
		}
		if (ret < 0) {
			int sfd = open(o->store, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

			(void)sp_remove_tree_at(sfd, strrchr(tmp, '/') + 1, NULL);
			close(sfd);
			(void)snprintf(out.msg, sizeof(out.msg), "%s", err.msg);
		}
		out.a = res.blob_bytes;
		out.b = res.tar_bytes;
	}
	sp_registry_wipe(r);
	out.kind = ret < 0 ? 'E' : 'D';
	(void)sp_write_all(wfd, &out, sizeof(out));
	_exit(ret < 0 ? 1 : 0);
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

/* The layer workers of one pull: at most par at once, each reporting over its own pipe. */
struct layers {
	const struct sp_pull_opts *o;
	const struct sp_image_ref *ref;
	const struct sp_meta *m;
	const bool *todo;
	uint64_t max_layer;
	unsigned par;
	struct running run[16];
	size_t nrun, next, total, done;
};

/* Forks workers for the next layers to fetch, up to the limit. */
static int layers_start(struct layers *l, struct sp_err *err)
{
	while (l->nrun < l->par && l->next < l->m->n) {
		int p[2];
		pid_t pid;

		if (!l->todo[l->next]) {
			l->next++;
			continue;
		}
		if (pipe2(p, O_CLOEXEC) < 0)
			return sp_pull_fail(err, SP_STAGE_PULL_LAYER, errno, "pull.layer: pipe");
		pid = fork();
		if (pid == 0) {
			close(p[0]);
			layer_proc(l->o, l->ref, l->m, l->next, p[1], l->max_layer);
		}
		close(p[1]);
		if (pid < 0) {
			close(p[0]);
			return sp_pull_fail(err, SP_STAGE_PULL_LAYER, errno, "pull.layer: fork");
		}
		l->run[l->nrun++] = (struct running){ pid, p[0], l->next, 0 };
		l->next++;
	}
	return 0;
}

/* Worker k reported (or died): 1 it goes on (a partial message), 0 done, -1 failed. */
static int layer_report(struct layers *l, size_t k, struct sp_pull_result *res, struct sp_err *err)
{
	struct lmsg msg;
	ssize_t n = read(l->run[k].fd, &msg, sizeof(msg));

	if (n == (ssize_t)sizeof(msg) && msg.kind == 'D') {
		l->done++;
		res->layers_fetched++;
		res->bytes_fetched += msg.a;
		res->bytes_unpacked += msg.b;
		return 0;
	}
	if (n == (ssize_t)sizeof(msg) && msg.kind == 'E') {
		msg.msg[sizeof(msg.msg) - 1] = '\0';
		return sp_error(err, 0, "%s", msg.msg);
	}
	if (n <= 0)
		return sp_pull_fail(err, SP_STAGE_PULL_LAYER, 0,
				    "pull.layer: layer %zu's worker died", l->run[k].idx);
	return 1;
}

/* Waits (a second at most) for reports and reaps the workers that reported. */
static int layers_collect(struct layers *l, struct sp_pull_result *res, struct sp_err *err)
{
	struct pollfd pfd[16];
	int ret = 0;

	for (size_t k = 0; k < l->nrun; k++)
		pfd[k] = (struct pollfd){ l->run[k].fd, POLLIN, 0 };
	if (poll(pfd, l->nrun, 1000) < 0 && errno != EINTR)
		return sp_pull_fail(err, SP_STAGE_PULL_LAYER, errno, "pull.layer: poll");
	for (size_t k = 0; k < l->nrun && ret == 0; k++) {
		int status;

		if (!pfd[k].revents || (ret = layer_report(l, k, res, err)) > 0) {
			ret = 0;
			continue;
		}
		close(l->run[k].fd);
		while (waitpid(l->run[k].pid, &status, 0) < 0 && errno == EINTR)
			;
		l->run[k] = l->run[--l->nrun];
		pfd[k] = pfd[l->nrun];
		k--;
	}
	return ret;
}

/* On failure: the workers still running are stopped. */
static void layers_stop(struct layers *l)
{
	for (size_t k = 0; k < l->nrun; k++) {
		int status;

		kill(l->run[k].pid, SIGKILL);
		close(l->run[k].fd);
		while (waitpid(l->run[k].pid, &status, 0) < 0 && errno == EINTR)
			;
	}
	l->nrun = 0;
}

static int run_layers(const struct sp_pull_opts *o, const struct sp_image_ref *ref,
		      const struct sp_meta *m, const bool *todo, uint64_t max_layer,
		      struct sp_pull_result *res, struct sp_err *err)
{
	struct layers l = { .o = o, .ref = ref, .m = m, .todo = todo, .max_layer = max_layer };
	double start = now_s(), last = start;
	int ret = 0;

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

	if (run_meta(o, ref, m, err) < 0 || check_pinned(o, m->digest, err) < 0 ||
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
	(void)curl_global_init(CURL_GLOBAL_DEFAULT);
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
