/* One layer, privilege-separated (image_int.h): the parser child fetches or reads the blob,
 * digests, decompresses and reads the tar, and writes a stream of fixed-layout records (entry,
 * data, done, fail) into a socketpair; this process, the applier, reads records (no parsing
 * beyond length-checked fixed fields) and creates the entries with apply.c. A layer counts as
 * unpacked only when the child's "done" record carries the expected blob digest and diff_id. */
#define _GNU_SOURCE
#include "image/image_int.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/fileio.h"
#include "lib/log.h"

enum rec_kind { REC_ENTRY = 1, REC_DATA, REC_DONE, REC_FAIL };

struct rec_hdr {
	uint32_t kind, len;
};

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

/* --- the parser side ------------------------------------------------------------------------- */

struct sp_layer_pipe {
	struct sp_stream *s;
	struct sp_tar *t;
	sp_sink_fn out;
	void *out_arg;
	uint8_t *rec; /* REC_MAX + header */
};

static int put_rec(struct sp_layer_pipe *p, uint32_t kind, const void *a, size_t alen,
		   const void *b, size_t blen, const void *c, size_t clen, const void *d,
		   size_t dlen, struct sp_err *err)
{
	struct rec_hdr h = { kind, (uint32_t)(alen + blen + clen + dlen) };
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

	return put_rec(p, REC_ENTRY, &r, sizeof(r), e->path, r.path_len, e->link, r.link_len,
		       e->xattrs, e->xattrs_len, err);
}

static int on_data(void *arg, const uint8_t *buf, size_t len, struct sp_err *err)
{
	struct sp_layer_pipe *p = arg;

	while (len) {
		size_t n = len < DATA_MAX ? len : DATA_MAX;

		if (put_rec(p, REC_DATA, buf, n, NULL, 0, NULL, 0, NULL, 0, err) < 0)
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
	p->rec = malloc(REC_MAX + sizeof(struct rec_hdr));
	p->t = sp_tar_new(lim, &pipe_ops, p);
	p->s = sp_stream_new(comp, lim->max_total, to_tar, p);
	if (!p->rec || !p->t || !p->s) {
		sp_layer_pipe_free(p);
		return NULL;
	}
	return p;
}

void sp_layer_pipe_free(struct sp_layer_pipe *p)
{
	if (!p)
		return;
	sp_stream_free(p->s);
	sp_tar_free(p->t);
	free(p->rec);
	free(p);
}

int sp_layer_pipe_feed(void *pipe, const uint8_t *buf, size_t len, struct sp_err *err)
{
	struct sp_layer_pipe *p = pipe;

	if (sp_stream_feed(p->s, buf, len, err) < 0)
		return sp_pull_wrap(err, SP_STAGE_PULL_UNPACK, "pull.unpack");
	return 0;
}

int sp_layer_pipe_finish(struct sp_layer_pipe *p, char *blob, char *diff, struct sp_err *err)
{
	if (sp_stream_finish(p->s, blob, diff, err) < 0 || sp_tar_finish(p->t, err) < 0)
		return sp_pull_wrap(err, SP_STAGE_PULL_UNPACK, "pull.unpack");
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
	struct rec_hdr h = { REC_FAIL, (uint32_t)strnlen(e->msg, sizeof(e->msg)) };
	struct sp_err ignore;

	w->fill = 0; /* records queued before the failure are moot */
	(void)wsink(w, (const uint8_t *)&h, sizeof(h), &ignore);
	(void)wsink(w, (const uint8_t *)e->msg, h.len, &ignore);
	(void)wflush(w, &ignore);
}

static __attribute__((noreturn)) void child_main(const struct sp_layer_job *j, int sock)
{
	struct sp_err err = { 0 };
	struct writer w = { sock, NULL, 0 };
	struct sp_layer_pipe *p = NULL;
	int keep[2] = { sock, j->in_fd };
	struct rec_done d = { 0 };
	int r = -1;

	(void)signal(SIGPIPE, SIG_IGN);
	w.buf = malloc(BUF_SIZE);
	if (!w.buf)
		_exit(3);
	if (j->sandbox && sp_image_sandbox(keep, 2, j->in_fd < 0, &err) < 0) {
		(void)sp_pull_wrap(&err, SP_STAGE_PULL_LAYER, "pull.layer: parser sandbox");
		goto out;
	}
	p = sp_layer_pipe_new(j->comp, &j->lim, wsink, &w);
	if (!p) {
		(void)sp_pull_fail(&err, SP_STAGE_PULL_UNPACK, ENOMEM, "pull.unpack");
		goto out;
	}
	if (j->in_fd >= 0) {
		uint8_t *buf = malloc(BUF_SIZE);
		ssize_t n;

		if (!buf) {
			(void)sp_pull_fail(&err, SP_STAGE_PULL_UNPACK, ENOMEM, "pull.unpack");
			goto out;
		}
		while ((n = read(j->in_fd, buf, BUF_SIZE)) != 0) {
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0) {
				(void)sp_pull_fail(&err, SP_STAGE_PULL_LAYER, errno,
						   "pull.layer: read the blob");
				break;
			}
			if (sp_layer_pipe_feed(p, buf, (size_t)n, &err) < 0)
				break;
		}
		free(buf);
		if (n != 0)
			goto out;
	} else if (j->fetch(j->fetch_ctx, sp_layer_pipe_feed, p, &err) < 0) {
		goto out;
	}
	if (sp_layer_pipe_finish(p, d.blob, d.diff, &err) < 0)
		goto out;
	if (strcmp(d.blob, j->blob_digest) != 0) {
		(void)sp_pull_fail(&err, SP_STAGE_PULL_LAYER, 0,
				   "pull.layer: blob digest mismatch: expected %s, computed %s",
				   j->blob_digest, d.blob);
		goto out;
	}
	if (strcmp(d.diff, j->diff_id) != 0) {
		(void)sp_pull_fail(&err, SP_STAGE_PULL_LAYER, 0,
				   "pull.layer: diff_id mismatch: expected %s, computed %s",
				   j->diff_id, d.diff);
		goto out;
	}
	d.in_bytes = sp_stream_in_bytes(p->s);
	d.out_bytes = sp_stream_out_bytes(p->s);
	d.entries = sp_tar_entries(p->t);
	{
		struct rec_hdr h = { REC_DONE, sizeof(d) };

		if (wsink(&w, (const uint8_t *)&h, sizeof(h), &err) == 0 &&
		    wsink(&w, (const uint8_t *)&d, sizeof(d), &err) == 0 && wflush(&w, &err) == 0)
			r = 0;
	}
out:
	if (r < 0)
		send_fail(&w, &err);
	_exit(r < 0 ? 1 : 0);
}

/* --- the applier side ------------------------------------------------------------------------ */

struct reader {
	int fd;
	uint8_t *buf;
	size_t start, end;
};

/* Makes n contiguous bytes available at r->buf + r->start. 0, 1 at a clean EOF, -1 on error. */
static int rneed(struct reader *r, size_t n, struct sp_err *err)
{
	if (r->end - r->start >= n)
		return 0;
	if (r->start) {
		memmove(r->buf, r->buf + r->start, r->end - r->start);
		r->end -= r->start;
		r->start = 0;
	}
	while (r->end < n) {
		ssize_t k = read(r->fd, r->buf + r->end, BUF_SIZE - r->end);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return sp_pull_fail(err, SP_STAGE_PULL_UNPACK, errno,
					    "pull.unpack: read the entry stream");
		if (k == 0)
			return r->end == 0 ? 1
					   : sp_pull_fail(err, SP_STAGE_PULL_UNPACK, 0,
							  "pull.unpack: the entry stream is "
							  "truncated");
		r->end += (size_t)k;
	}
	return 0;
}

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

/* Applies the records read from fd. 0 once a valid "done" arrived. */
static int apply_stream(const struct sp_layer_job *j, int fd, int root_fd,
			struct sp_layer_result *res, struct sp_err *err)
{
	struct reader rd = { fd, malloc(BUF_SIZE), 0, 0 };
	struct sp_tar_entry *e = malloc(sizeof(*e));
	struct sp_apply *a = sp_apply_new(root_fd, j->chown);
	uint64_t total = 0;
	int ret = -1;

	if (!rd.buf || !e || !a) {
		(void)sp_pull_fail(err, SP_STAGE_PULL_UNPACK, ENOMEM, "pull.unpack");
		goto out;
	}
	for (;;) {
		struct rec_hdr h;
		const uint8_t *p;
		int r = rneed(&rd, sizeof(h), err);

		if (r == 1)
			r = sp_pull_fail(err, SP_STAGE_PULL_LAYER, 0,
					 "pull.layer: the parser child ended without a result");
		if (r < 0)
			goto out;
		memcpy(&h, rd.buf + rd.start, sizeof(h));
		if (h.len > REC_MAX) {
			(void)sp_pull_fail(err, SP_STAGE_PULL_UNPACK, 0,
					   "pull.unpack: an oversized record");
			goto out;
		}
		if (rneed(&rd, sizeof(h) + h.len, err) != 0) {
			if (!err->msg[0])
				(void)sp_pull_fail(err, SP_STAGE_PULL_UNPACK, 0,
						   "pull.unpack: the entry stream is truncated");
			goto out;
		}
		p = rd.buf + rd.start + sizeof(h);
		rd.start += sizeof(h) + h.len;
		switch (h.kind) {
		case REC_ENTRY:
			if (decode_entry(p, h.len, e, err) < 0 || sp_apply_entry(a, e, err) < 0)
				goto unpack_err;
			break;
		case REC_DATA:
			total += h.len;
			if (total > j->lim.max_total) {
				(void)sp_error(err, 0, "the layer exceeds the size cap");
				goto unpack_err;
			}
			if (sp_apply_data(a, p, h.len, err) < 0)
				goto unpack_err;
			break;
		case REC_DONE: {
			struct rec_done d;

			if (h.len != sizeof(d)) {
				(void)sp_pull_fail(err, SP_STAGE_PULL_UNPACK, 0,
						   "pull.unpack: a malformed done record");
				goto out;
			}
			memcpy(&d, p, sizeof(d));
			d.blob[SP_DIGEST_LEN] = d.diff[SP_DIGEST_LEN] = '\0';
			if (strcmp(d.blob, j->blob_digest) != 0 ||
			    strcmp(d.diff, j->diff_id) != 0) {
				(void)sp_pull_fail(err, SP_STAGE_PULL_LAYER, 0,
						   "pull.layer: the layer's digests do not match");
				goto out;
			}
			if (sp_apply_finish(a, err) < 0)
				goto unpack_err;
			res->st = *sp_apply_stats(a);
			res->blob_bytes = d.in_bytes;
			res->tar_bytes = d.out_bytes;
			ret = 0;
			goto out;
		}
		case REC_FAIL: {
			char msg[sizeof(err->msg)];
			size_t n = h.len < sizeof(msg) - 1 ? h.len : sizeof(msg) - 1;

			memcpy(msg, p, n);
			msg[n] = '\0';
			/* The child's text: escape before it reaches a log or the host. */
			{
				char safe[sizeof(err->msg)];

				sp_log_escape(safe, sizeof(safe), msg, n);
				(void)sp_error(err, 0, "%s", safe);
			}
			goto out;
		}
		default:
			(void)sp_pull_fail(err, SP_STAGE_PULL_UNPACK, 0,
					   "pull.unpack: an unknown record");
			goto out;
		}
	}
unpack_err:
	(void)sp_pull_wrap(err, SP_STAGE_PULL_UNPACK, "pull.unpack");
out:
	sp_apply_free(a);
	free(e);
	free(rd.buf);
	return ret;
}

int sp_layer_unpack(const struct sp_layer_job *j, int root_fd, struct sp_layer_result *res,
		    struct sp_err *err)
{
	int sv[2], status;
	pid_t pid;
	int ret;

	memset(res, 0, sizeof(*res));
	if (!sp_digest_valid(j->blob_digest) || !sp_digest_valid(j->diff_id))
		return sp_pull_fail(err, SP_STAGE_PULL_LAYER, 0,
				    "pull.layer: a layer digest is not sha256");
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return sp_pull_fail(err, SP_STAGE_PULL_UNPACK, errno, "pull.unpack: socketpair");
	pid = fork();
	if (pid < 0) {
		close(sv[0]);
		close(sv[1]);
		return sp_pull_fail(err, SP_STAGE_PULL_UNPACK, errno, "pull.unpack: fork");
	}
	if (pid == 0) {
		close(sv[0]);
		child_main(j, sv[1]);
	}
	close(sv[1]);
	ret = apply_stream(j, sv[0], root_fd, res, err);
	close(sv[0]);
	if (ret < 0)
		kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (ret == 0 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
		return sp_pull_fail(err, SP_STAGE_PULL_LAYER, 0,
				    "pull.layer: the parser child failed after its result");
	if (ret < 0 && WIFSIGNALED(status) && WTERMSIG(status) != SIGKILL)
		(void)sp_error_wrap(err, "parser child killed by signal %d", WTERMSIG(status));
	return ret;
}
