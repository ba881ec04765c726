/* One layer, privilege-separated (image_int.h): the parser worker (layer-fetch, or layer-read
 * from an fd) fetches or reads the blob, digests, decompresses and reads the tar, and sends
 * entry, data and done records as frames (wire.h: IMG_ENTRY, IMG_DATA, IMG_TAR_DONE, or an error
 * frame); this process, the applier, reads them (no parsing beyond length-checked fixed fields)
 * and creates the entries with apply.c. A layer counts as unpacked only when the parser's done
 * record carries the expected blob digest and diff_id. The layer worker (pull-layer) is an
 * applier of its own, spawned by the pull worker (pull.c) for each layer it fetches. */
#define _GNU_SOURCE
#include "image/image_int.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <curl/curl.h>

#include "image/decrypt.h"
#include "image/image.h"
#include "image/registry.h"
#include "image/wire.h"
#include "lib/cleanup.h"
#include "lib/fileio.h"
#include "lib/log.h"

struct rec_entry {
	uint32_t kind, mode, uid, gid, devmajor, devminor, mtime_nsec, nxattrs;
	uint64_t size;
	int64_t mtime;
	uint32_t path_len, link_len, xattrs_len, pad;
};

struct rec_done {
	char blob[SP_DIGEST_LEN + 1], diff[SP_DIGEST_LEN + 1];
	uint64_t in_bytes, out_bytes, entries;
};

#define DATA_MAX ((size_t)64 << 10)
#define REC_MAX	 (sizeof(struct rec_entry) + (size_t)2 * SP_TAR_PATH_MAX + SP_TAR_XATTRS_MAX)
#define BUF_SIZE ((size_t)256 << 10)

/* What the applier accepts from its parser. */
static const struct sp_frame_type rec_types[] = {
	{ IMG_ENTRY, sizeof(struct rec_entry), REC_MAX },
	{ IMG_DATA, 1, DATA_MAX },
	{ IMG_TAR_DONE, sizeof(struct rec_done), sizeof(struct rec_done) },
};
static const struct sp_frame_table rec_table = SP_FRAME_TABLE(rec_types);

/* --- the parser side ------------------------------------------------------------------------- */

struct sp_layer_pipe {
	struct sp_stream *s;
	struct sp_tar *t;
	sp_sink_fn out;
	void *out_arg;
	uint8_t *rec;			    /* REC_MAX + header */
	struct sp_decrypt *dc;		    /* an encrypted layer: before s (decrypt.h) */
	char plain_want[SP_DIGEST_LEN + 1]; /* what the plaintext blob must be ("": any) */
};

static int put_rec(struct sp_layer_pipe *p, uint32_t kind, const void *a, size_t alen,
		   const void *b, size_t blen, const void *c, size_t clen, const void *d,
		   size_t dlen, struct sp_err *err)
{
	struct sp_frame_hdr h = { kind, (uint32_t)(alen + blen + clen + dlen) };
	uint8_t *o = p->rec;

	memcpy(o, &h, sizeof(h));
	o += sizeof(h);
	memcpy(o, a, alen);
	o += alen;
	if (blen)
		memcpy(o, b, blen);
	o += blen;
	if (clen)
		memcpy(o, c, clen);
	o += clen;
	if (dlen)
		memcpy(o, d, dlen);
	o += dlen;
	return p->out(p->out_arg, p->rec, (size_t)(o - p->rec), err);
}

static int on_entry(void *arg, const struct sp_tar_entry *e, struct sp_err *err)
{
	struct sp_layer_pipe *p = arg;
	struct rec_entry r = {
		.kind = e->kind,
		.mode = e->mode,
		.uid = e->uid,
		.gid = e->gid,
		.devmajor = e->devmajor,
		.devminor = e->devminor,
		.mtime_nsec = e->mtime_nsec,
		.nxattrs = e->nxattrs,
		.size = e->size,
		.mtime = e->mtime,
		.path_len = (uint32_t)strlen(e->path),
		.link_len = (uint32_t)strlen(e->link),
		.xattrs_len = (uint32_t)e->xattrs_len,
	};

	return put_rec(p, IMG_ENTRY, &r, sizeof(r), e->path, r.path_len, e->link, r.link_len,
		       e->xattrs, e->xattrs_len, err);
}

static int on_data(void *arg, const uint8_t *buf, size_t len, struct sp_err *err)
{
	struct sp_layer_pipe *p = arg;

	while (len) {
		size_t n = len < DATA_MAX ? len : DATA_MAX;

		if (put_rec(p, IMG_DATA, buf, n, NULL, 0, NULL, 0, NULL, 0, err) < 0)
			return -1;
		buf += n;
		len -= n;
	}
	return 0;
}

static const struct sp_tar_ops pipe_ops = { on_entry, on_data };

static int to_tar(void *arg, const uint8_t *buf, size_t len, struct sp_err *err)
{
	struct sp_layer_pipe *p = arg;

	return sp_tar_feed(p->t, buf, len, err);
}

struct sp_layer_pipe *sp_layer_pipe_new(enum sp_compress comp, const struct sp_tar_limits *lim,
					sp_sink_fn rec_out, void *rec_arg)
{
	struct sp_layer_pipe *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->out = rec_out;
	p->out_arg = rec_arg;
	p->rec = malloc(REC_MAX + sizeof(struct sp_frame_hdr));
	p->t = sp_tar_new(lim, &pipe_ops, p);
	p->s = sp_stream_new(comp, lim->max_total, to_tar, p);
	if (!p->rec || !p->t || !p->s) {
		sp_layer_pipe_free(p);
		return NULL;
	}
	return p;
}

static int to_stream(void *arg, const uint8_t *buf, size_t len, struct sp_err *err)
{
	return sp_stream_feed(((struct sp_layer_pipe *)arg)->s, buf, len, err);
}

int sp_layer_pipe_decrypt(struct sp_layer_pipe *p, const struct sp_enc_pub *pub,
			  const struct sp_enc_priv *priv)
{
	p->dc = sp_decrypt_new(priv, pub, to_stream, p);
	memcpy(p->plain_want, priv->digest, sizeof(p->plain_want));
	return p->dc ? 0 : -1;
}

void sp_layer_pipe_free(struct sp_layer_pipe *p)
{
	if (!p)
		return;
	sp_decrypt_free(p->dc);
	sp_stream_free(p->s);
	sp_tar_free(p->t);
	free(p->rec);
	free(p);
}

int sp_layer_pipe_feed(void *pipe, const uint8_t *buf, size_t len, struct sp_err *err)
{
	struct sp_layer_pipe *p = pipe;

	if ((p->dc ? sp_decrypt_feed(p->dc, buf, len, err) : sp_stream_feed(p->s, buf, len, err)) <
	    0)
		return sp_pull_wrap(err, SP_STAGE_PULL_UNPACK, "pull.unpack");
	return 0;
}

int sp_layer_pipe_finish(struct sp_layer_pipe *p, char *blob, char *diff, struct sp_err *err)
{
	char plain[SP_DIGEST_LEN + 1] = { 0 };

	if (p->dc && sp_decrypt_finish(p->dc, blob, err) < 0)
		return sp_pull_fail(err, SP_STAGE_PULL_LAYER, 0, "pull.layer: decrypt: %s",
				    err->msg);
	if (sp_stream_finish(p->s, p->dc ? plain : blob, diff, err) < 0 ||
	    sp_tar_finish(p->t, err) < 0)
		return sp_pull_wrap(err, SP_STAGE_PULL_UNPACK, "pull.unpack");
	if (p->dc && p->plain_want[0] && strcmp(plain, p->plain_want) != 0)
		return sp_pull_fail(err, SP_STAGE_PULL_LAYER, 0,
				    "pull.layer: decrypt: the plaintext is %s, its key says %s",
				    plain, p->plain_want);
	return 0;
}

/* Buffered writer of records into the socket. */
struct writer {
	int fd;
	uint8_t *buf;
	size_t fill;
};

static int wflush(struct writer *w, struct sp_err *err)
{
	if (w->fill && sp_write_all(w->fd, w->buf, w->fill) < 0)
		return sp_error(err, errno, "the applier went away");
	w->fill = 0;
	return 0;
}

static int wsink(void *arg, const uint8_t *buf, size_t len, struct sp_err *err)
{
	struct writer *w = arg;

	if (w->fill + len > BUF_SIZE && wflush(w, err) < 0)
		return -1;
	if (len > BUF_SIZE)
		return sp_write_all(w->fd, buf, len) < 0 ? sp_error(err, errno, "write") : 0;
	memcpy(w->buf + w->fill, buf, len);
	w->fill += len;
	return 0;
}

static void send_fail(struct writer *w, const struct sp_err *e)
{
	w->fill = 0; /* records queued before the failure are moot */
	(void)sp_frame_send_err(w->fd, 0, e);
}

/* A worker's setup frames through the one of job_type, which is copied into job (job_size
 * bytes, the size the table fixes for it): the registry settings (reg) and its CA bundle (ca,
 * NUL-terminated, the first one kept) come before it. */
static int read_job(int fd, const struct sp_frame_table *t, uint32_t job_type,
		    struct sp_img_reg *reg, char **ca, size_t *ca_len, struct sp_enc_layer *cr,
		    void *job, size_t job_size, struct sp_err *err)
{
	struct sp_frame_rx rx;
	const uint8_t *p;
	uint32_t type, len;
	int r;

	if (sp_frame_rx_init(&rx, t, true, err) < 0)
		return -1;
	while ((r = sp_frame_recv(&rx, fd, &type, &p, &len, err)) == 1 && type != job_type) {
		if (type == IMG_REG) {
			memcpy(reg, p, sizeof(*reg));
		} else if (type == IMG_DEC_KEY || type == IMG_LAYER_ENC) {
			if (sp_enc_layer_take(cr, type, p, len) < 0) {
				r = -1;
				break;
			}
		} else if (!*ca && (*ca = malloc((size_t)len + 1))) {
			memcpy(*ca, p, len);
			(*ca)[len] = '\0';
			*ca_len = len;
		}
	}
	if (r == 1)
		memcpy(job, p, job_size);
	sp_frame_rx_free(&rx);
	if (r != 1)
		return sp_pull_fail(err, SP_STAGE_PULL_LAYER, 0, "pull.layer: no job");
	return 0;
}

/* The job's frames, up to IMG_PARSE: the registry settings (fetching) and what to parse. */
static int read_parse_job(int fd, struct sp_img_reg *reg, char **ca, size_t *ca_len,
			  struct sp_enc_layer *cr, struct sp_img_parse *job, struct sp_err *err)
{
	static const struct sp_frame_type types[] = {
		{ IMG_REG, sizeof(struct sp_img_reg), sizeof(struct sp_img_reg) },
		{ IMG_CA, 1, SP_IMG_CA_MAX },
		{ IMG_DEC_KEY, SP_DEC_KEY_FRAME_MIN, SP_DEC_KEY_FRAME_MAX },
		{ IMG_LAYER_ENC, SP_ENC_ANNOT_FRAME_MIN, SP_ENC_ANNOT_FRAME_MAX },
		{ IMG_PARSE, sizeof(struct sp_img_parse), sizeof(struct sp_img_parse) },
	};
	static const struct sp_frame_table t = SP_FRAME_TABLE(types);

	if (read_job(fd, &t, IMG_PARSE, reg, ca, ca_len, cr, job, sizeof(*job), err) < 0)
		return -1;
	job->blob_digest[SP_DIGEST_LEN] = job->diff_id[SP_DIGEST_LEN] = '\0';
	return job->comp <= SP_COMP_ZSTD
		       ? 0
		       : sp_pull_fail(err, SP_STAGE_PULL_LAYER, 0, "pull.layer: a bad compression");
}

/* The blob, from the fd or the registry, through p. */
static int feed(struct sp_layer_pipe *p, const struct sp_worker_ctx *ctx,
		const struct sp_img_reg *reg, const char *ca, size_t ca_len,
		const struct sp_img_parse *job, struct sp_err *err)
{
	cleanup_free uint8_t *buf = NULL;
	cleanup_free struct sp_registry *r = NULL;
	ssize_t n;
	int ret;

	if (ctx->nfds == 0) {
		r = calloc(1, sizeof(*r));
		if (!r || sp_img_reg_setup(r, reg, ca, ca_len, err) < 0)
			return sp_pull_fail(err, SP_STAGE_PULL_LAYER, r ? 0 : ENOMEM,
					    "pull.layer: the registry");
		(void)curl_global_init(CURL_GLOBAL_DEFAULT);
		ret = sp_registry_blob_stream(r, job->blob_digest, sp_layer_pipe_feed, p, err);
		sp_registry_wipe(r);
		return ret;
	}
	buf = malloc(BUF_SIZE);
	if (!buf)
		return sp_pull_fail(err, SP_STAGE_PULL_UNPACK, ENOMEM, "pull.unpack");
	while ((n = read(ctx->fds[0], buf, BUF_SIZE)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return sp_pull_fail(err, SP_STAGE_PULL_LAYER, errno,
					    "pull.layer: read the blob");
		if (sp_layer_pipe_feed(p, buf, (size_t)n, err) < 0)
			return -1;
	}
	return 0;
}

static int parse_done(struct sp_layer_pipe *p, struct writer *w, const struct sp_img_parse *job,
		      struct sp_err *err)
{
	struct sp_frame_hdr h = { IMG_TAR_DONE, sizeof(struct rec_done) };
	struct rec_done d = { 0 };

	if (sp_layer_pipe_finish(p, d.blob, d.diff, err) < 0)
		return -1;
	if (strcmp(d.blob, job->blob_digest) != 0)
		return sp_pull_fail(err, SP_STAGE_PULL_LAYER, 0,
				    "pull.layer: blob digest mismatch: expected %s, computed %s",
				    job->blob_digest, d.blob);
	if (strcmp(d.diff, job->diff_id) != 0)
		return sp_pull_fail(err, SP_STAGE_PULL_LAYER, 0,
				    "pull.layer: diff_id mismatch: expected %s, computed %s",
				    job->diff_id, d.diff);
	d.in_bytes = sp_stream_in_bytes(p->s);
	d.out_bytes = sp_stream_out_bytes(p->s);
	d.entries = sp_tar_entries(p->t);
	if (wsink(w, (const uint8_t *)&h, sizeof(h), err) < 0 ||
	    wsink(w, (const uint8_t *)&d, sizeof(d), err) < 0 || wflush(w, err) < 0)
		return -1;
	return 0;
}

/* The job, then the blob through the stream and tar readers, records out: 0 or -1 with err. */
static int parse_run(const struct sp_worker_ctx *ctx, struct writer *w, struct sp_img_reg *reg,
		     struct sp_err *err)
{
	struct sp_layer_pipe *p = NULL;
	struct sp_img_parse job = { 0 };
	struct sp_enc_layer *cr = calloc(1, sizeof(*cr));
	char *ca = NULL;
	size_t ca_len = 0;
	int r = -1;

	if (cr && read_parse_job(ctx->fd, reg, &ca, &ca_len, cr, &job, err) == 0) {
		p = sp_layer_pipe_new((enum sp_compress)job.comp, &job.lim, wsink, w);
		if (!p)
			(void)sp_pull_fail(err, SP_STAGE_PULL_UNPACK, ENOMEM, "pull.unpack");
		else if ((!job.encrypted || sp_layer_open_crypt(p, cr, err) == 0) &&
			 feed(p, ctx, reg, ca, ca_len, &job, err) == 0)
			r = parse_done(p, w, &job, err);
	}
	sp_layer_pipe_free(p);
	if (cr)
		sp_enc_layer_free(cr);
	free(cr);
	free(ca);
	return r;
}

/* The parser worker. */
static int parse_main(const struct sp_worker_ctx *ctx)
{
	struct writer w = { ctx->fd, malloc(BUF_SIZE), 0 };
	struct sp_img_reg *reg = calloc(1, sizeof(*reg));
	struct sp_err err = { 0 };
	int r = -1;

	(void)signal(SIGPIPE, SIG_IGN);
	if (w.buf && reg)
		r = parse_run(ctx, &w, reg, &err);
	else
		(void)sp_pull_fail(&err, SP_STAGE_PULL_UNPACK, ENOMEM, "pull.unpack");
	if (reg)
		explicit_bzero(reg, sizeof(*reg));
	if (r < 0)
		send_fail(&w, &err);
	free(reg);
	free(w.buf);
	return r < 0 ? 1 : 0;
}

static const struct sp_frame_type parse_in[] = {
	{ IMG_REG, sizeof(struct sp_img_reg), sizeof(struct sp_img_reg) },
	{ IMG_CA, 1, SP_IMG_CA_MAX },
	{ IMG_DEC_KEY, SP_DEC_KEY_FRAME_MIN, SP_DEC_KEY_FRAME_MAX },
	{ IMG_LAYER_ENC, SP_ENC_ANNOT_FRAME_MIN, SP_ENC_ANNOT_FRAME_MAX },
	{ IMG_PARSE, sizeof(struct sp_img_parse), sizeof(struct sp_img_parse) },
};

const struct sp_worker_def sp_layer_fetch_worker = {
	.name = "layer-fetch",
	.confine = &sp_image_parser_confine[1],
	.in = SP_FRAME_TABLE(parse_in),
	.out = SP_FRAME_TABLE(rec_types),
	.main = parse_main,
	.secret = true,
};

const struct sp_worker_def sp_layer_read_worker = {
	.name = "layer-read",
	.confine = &sp_image_parser_confine[0],
	.in = SP_FRAME_TABLE(parse_in),
	.out = SP_FRAME_TABLE(rec_types),
	.main = parse_main,
};

/* --- the applier side ------------------------------------------------------------------------ */

static int decode_entry(const uint8_t *p, size_t len, struct sp_tar_entry *e, struct sp_err *err)
{
	struct rec_entry r;

	if (len < sizeof(r))
		return sp_pull_fail(err, SP_STAGE_PULL_UNPACK, 0,
				    "pull.unpack: a short entry record");
	memcpy(&r, p, sizeof(r));
	if (r.kind < SP_TAR_FILE || r.kind > SP_TAR_OPAQUE || r.mode & ~07777u ||
	    r.path_len > SP_TAR_PATH_MAX || r.link_len > SP_TAR_PATH_MAX ||
	    r.xattrs_len > SP_TAR_XATTRS_MAX ||
	    (size_t)r.path_len + r.link_len + r.xattrs_len != len - sizeof(r) ||
	    (r.kind != SP_TAR_FILE && r.size) || r.mtime_nsec >= 1000000000u)
		return sp_pull_fail(err, SP_STAGE_PULL_UNPACK, 0,
				    "pull.unpack: a malformed entry record");
	p += sizeof(r);
	memset(e, 0, offsetof(struct sp_tar_entry, xattrs));
	e->kind = (enum sp_tar_kind)r.kind;
	memcpy(e->path, p, r.path_len);
	e->path[r.path_len] = '\0';
	memcpy(e->link, p + r.path_len, r.link_len);
	e->link[r.link_len] = '\0';
	if (strlen(e->path) != r.path_len || strlen(e->link) != r.link_len)
		return sp_pull_fail(err, SP_STAGE_PULL_UNPACK, 0,
				    "pull.unpack: a NUL byte in an entry record");
	memcpy(e->xattrs, p + r.path_len + r.link_len, r.xattrs_len);
	e->xattrs_len = r.xattrs_len;
	e->nxattrs = r.nxattrs;
	e->mode = r.mode;
	e->uid = r.uid;
	e->gid = r.gid;
	e->devmajor = r.devmajor;
	e->devminor = r.devminor;
	e->mtime = r.mtime;
	e->mtime_nsec = r.mtime_nsec;
	e->size = r.size;
	return 0;
}

/* The done record: 1 (the layer is complete), or -1. */
static int apply_done(const struct sp_layer_job *j, struct sp_apply *a, const uint8_t *p,
		      struct sp_layer_result *res, struct sp_err *err)
{
	struct rec_done d;

	memcpy(&d, p, sizeof(d));
	d.blob[SP_DIGEST_LEN] = d.diff[SP_DIGEST_LEN] = '\0';
	if (strcmp(d.blob, j->blob_digest) != 0 || strcmp(d.diff, j->diff_id) != 0)
		return sp_pull_fail(err, SP_STAGE_PULL_LAYER, 0,
				    "pull.layer: the layer's digests do not match");
	if (sp_apply_finish(a, err) < 0)
		return sp_pull_wrap(err, SP_STAGE_PULL_UNPACK, "pull.unpack");
	res->st = *sp_apply_stats(a);
	res->blob_bytes = d.in_bytes;
	res->tar_bytes = d.out_bytes;
	return 1;
}

/* One record: 0 go on, 1 done, -1 failed. */
static int apply_rec(const struct sp_layer_job *j, struct sp_apply *a, struct sp_tar_entry *e,
		     uint32_t type, const uint8_t *p, uint32_t len, uint64_t *total,
		     struct sp_layer_result *res, struct sp_err *err)
{
	uint32_t ref;

	switch (type) {
	case IMG_ENTRY:
		if (decode_entry(p, len, e, err) < 0 || sp_apply_entry(a, e, err) < 0)
			return sp_pull_wrap(err, SP_STAGE_PULL_UNPACK, "pull.unpack");
		return 0;
	case IMG_DATA:
		*total += len;
		if (*total > j->lim.max_total) {
			(void)sp_error(err, 0, "the layer exceeds the size cap");
			return sp_pull_wrap(err, SP_STAGE_PULL_UNPACK, "pull.unpack");
		}
		if (sp_apply_data(a, p, len, err) < 0)
			return sp_pull_wrap(err, SP_STAGE_PULL_UNPACK, "pull.unpack");
		return 0;
	case IMG_TAR_DONE:
		return apply_done(j, a, p, res, err);
	default: /* SP_FRAME_ERR: the parser's own words, escaped on the way in */
		(void)sp_frame_err_decode(p, len, &ref, err);
		return -1;
	}
}

/* Applies the records read from fd. 0 once a valid done record arrived. */
static int apply_stream(const struct sp_layer_job *j, int fd, int root_fd,
			struct sp_layer_result *res, struct sp_err *err)
{
	struct sp_tar_entry *e = malloc(sizeof(*e));
	struct sp_apply *a = sp_apply_new(root_fd, j->chown);
	struct sp_frame_rx rx = { 0 };
	uint64_t total = 0;
	int ret = -1;

	if (!e || !a || sp_frame_rx_init(&rx, &rec_table, false, err) < 0) {
		(void)sp_pull_fail(err, SP_STAGE_PULL_UNPACK, ENOMEM, "pull.unpack");
		goto out;
	}
	while (ret < 0) {
		const uint8_t *p;
		uint32_t type, len;
		int r = sp_frame_recv(&rx, fd, &type, &p, &len, err);

		if (r == 0)
			(void)sp_pull_fail(err, SP_STAGE_PULL_LAYER, 0,
					   "pull.layer: the parser child ended without a result");
		else if (r < 0)
			(void)sp_pull_wrap(err, SP_STAGE_PULL_UNPACK,
					   "pull.unpack: the entry stream");
		if (r <= 0)
			break;
		r = apply_rec(j, a, e, type, p, len, &total, res, err);
		if (r < 0)
			break;
		if (r == 1)
			ret = 0;
	}
out:
	sp_frame_rx_free(&rx);
	sp_apply_free(a);
	free(e);
	return ret;
}

/* The parser's job: the registry settings when it fetches, then what to parse. A parser that
 * failed before reading it (its confinement) has sent its error frame: what fails here is seen
 * when reading. */
static void send_parse_job(int fd, const struct sp_layer_job *j)
{
	struct sp_img_parse job = { .comp = (uint32_t)j->comp,
				    .lim = j->lim,
				    .encrypted = j->enc != NULL };

	(void)snprintf(job.blob_digest, sizeof(job.blob_digest), "%s", j->blob_digest);
	(void)snprintf(job.diff_id, sizeof(job.diff_id), "%s", j->diff_id);
	if (j->in_fd < 0 && sp_img_send_reg(fd, j->reg, j->ca, j->ca_len) < 0)
		return;
	if (sp_layer_send_crypt(fd, j->enc != NULL, j->keys, j->enc) < 0)
		return;
	(void)sp_frame_send(fd, IMG_PARSE, &job, sizeof(job));
}

int sp_layer_unpack(const struct sp_layer_job *j, int root_fd, struct sp_layer_result *res,
		    struct sp_err *err)
{
	struct sp_spawn_opts o = { .unconfined = !j->sandbox };
	struct sp_child c;
	int ret, status;

	memset(res, 0, sizeof(*res));
	if (!sp_digest_valid(j->blob_digest) || !sp_digest_valid(j->diff_id))
		return sp_pull_fail(err, SP_STAGE_PULL_LAYER, 0,
				    "pull.layer: a layer digest is not sha256");
	if (j->in_fd >= 0) {
		o.fds = &j->in_fd;
		o.nfds = 1;
	} else if (!j->reg) {
		return sp_pull_fail(err, SP_STAGE_PULL_LAYER, 0, "pull.layer: no registry");
	}
	if (sp_worker_spawn(j->in_fd >= 0 ? &sp_layer_read_worker : &sp_layer_fetch_worker, &o, &c,
			    err) < 0)
		return sp_pull_wrap(err, SP_STAGE_PULL_UNPACK, "pull.unpack");
	send_parse_job(c.fd, j);
	ret = apply_stream(j, c.fd, root_fd, res, err);
	if (ret < 0)
		sp_child_kill(&c);
	status = sp_child_reap(&c);
	if (ret == 0 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
		return sp_pull_fail(err, SP_STAGE_PULL_LAYER, 0,
				    "pull.layer: the parser child failed after its result");
	if (ret < 0 && WIFSIGNALED(status) && WTERMSIG(status) != SIGKILL)
		(void)sp_error_wrap(err, "parser child killed by signal %d", WTERMSIG(status));
	return ret;
}

/* --- the layer worker: one layer of a pull into the store -------------------------------------- */

static const struct sp_frame_type layer_in[] = {
	{ IMG_REG, sizeof(struct sp_img_reg), sizeof(struct sp_img_reg) },
	{ IMG_CA, 1, SP_IMG_CA_MAX },
	{ IMG_DEC_KEY, SP_DEC_KEY_FRAME_MIN, SP_DEC_KEY_FRAME_MAX },
	{ IMG_LAYER_ENC, SP_ENC_ANNOT_FRAME_MIN, SP_ENC_ANNOT_FRAME_MAX },
	{ IMG_LAYER_JOB, sizeof(struct sp_img_layer_job), sizeof(struct sp_img_layer_job) },
};
static const struct sp_frame_type layer_out[] = {
	{ IMG_LAYER_DONE, 2 * sizeof(uint64_t), 2 * sizeof(uint64_t) },
};

/* Its frames, up to IMG_LAYER_JOB. */
static int read_layer_job(int fd, const struct sp_frame_table *t, struct sp_img_reg *reg, char **ca,
			  size_t *ca_len, struct sp_enc_layer *cr, struct sp_img_layer_job *job,
			  struct sp_err *err)
{
	if (read_job(fd, t, IMG_LAYER_JOB, reg, ca, ca_len, cr, job, sizeof(*job), err) < 0)
		return -1;
	job->digest[SP_DIGEST_LEN] = job->diff_id[SP_DIGEST_LEN] = '\0';
	job->store[sizeof(job->store) - 1] = '\0';
	return job->comp <= SP_COMP_ZSTD
		       ? 0
		       : sp_pull_fail(err, SP_STAGE_PULL_LAYER, 0, "pull.layer: a bad compression");
}

static void remove_tmp(const char *store, const char *tmp)
{
	int sfd = open(store, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	(void)sp_remove_tree_at(sfd, strrchr(tmp, '/') + 1, NULL);
	if (sfd >= 0)
		close(sfd);
}

/* Unpacks into a staging directory renamed into the store once verified. */
static int unpack_into_store(const struct sp_layer_job *j, const char *store,
			     struct sp_layer_result *res, struct sp_err *err)
{
	char tmp[600], final[600];
	int fd, ret;

	sp_image_layer_dir(store, j->diff_id, final, sizeof(final));
	(void)snprintf(tmp, sizeof(tmp), "%s/.tmp-%s-%d", store, j->diff_id + 7, (int)getpid());
	if (mkdir(tmp, 0755) < 0 || (fd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return sp_pull_fail(err, SP_STAGE_PULL_UNPACK, errno, "pull.unpack: create %s",
				    tmp);
	ret = sp_layer_unpack(j, fd, res, err);
	close(fd);
	if (ret == 0 && rename(tmp, final) < 0) {
		if (errno == EEXIST || errno == ENOTEMPTY) /* another pull of the pod was first */
			remove_tmp(store, tmp);
		else
			ret = sp_pull_fail(err, SP_STAGE_PULL_UNPACK, errno,
					   "pull.unpack: rename the layer into the store");
	}
	if (ret < 0)
		remove_tmp(store, tmp);
	return ret;
}

/* The job, then the layer into the store: 0 or -1 with err. */
static int layer_run(const struct sp_worker_ctx *ctx, struct sp_img_reg *reg,
		     struct sp_layer_result *res, struct sp_err *err)
{
	struct sp_img_layer_job job = { 0 };
	struct sp_layer_job j = { .in_fd = -1 };
	struct sp_enc_layer *cr = calloc(1, sizeof(*cr));
	char *ca = NULL;
	size_t ca_len = 0;
	int ret = -1;

	if (cr && read_layer_job(ctx->fd, &ctx->def->in, reg, &ca, &ca_len, cr, &job, err) == 0) {
		j.enc = job.encrypted ? &cr->a : NULL;
		j.keys = &cr->keys;
		j.reg = reg;
		j.ca = ca;
		j.ca_len = ca_len;
		j.comp = (enum sp_compress)job.comp;
		j.blob_digest = job.digest;
		j.diff_id = job.diff_id;
		sp_tar_limits_default(&j.lim);
		j.lim.max_total = j.lim.max_file = job.max_layer;
		j.chown = job.chown;
		j.sandbox = job.sandbox;
		ret = unpack_into_store(&j, job.store, res, err);
	}
	if (cr)
		sp_enc_layer_free(cr);
	free(cr);
	free(ca);
	return ret;
}

static int layer_main(const struct sp_worker_ctx *ctx)
{
	struct sp_img_reg *reg = calloc(1, sizeof(*reg));
	struct sp_layer_result res = { 0 };
	struct sp_err err = { 0 };
	int ret = -1;

	(void)signal(SIGPIPE, SIG_IGN);
	if (reg)
		ret = layer_run(ctx, reg, &res, &err);
	else
		(void)sp_pull_fail(&err, SP_STAGE_PULL_UNPACK, ENOMEM, "pull.unpack");
	if (reg)
		explicit_bzero(reg, sizeof(*reg));
	free(reg);
	if (ret < 0) {
		(void)sp_frame_send_err(ctx->fd, 0, &err);
		return 1;
	}
	{
		uint64_t done[2] = { res.blob_bytes, res.tar_bytes };

		return sp_frame_send(ctx->fd, IMG_LAYER_DONE, done, sizeof(done)) < 0 ? 1 : 0;
	}
}

const struct sp_worker_def sp_pull_layer_worker = {
	.name = "pull-layer",
	.confine = &sp_image_applier_confine,
	.in = SP_FRAME_TABLE(layer_in),
	.out = SP_FRAME_TABLE(layer_out),
	.main = layer_main,
	.secret = true,
};
