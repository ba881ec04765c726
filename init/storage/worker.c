/* Format and teardown workers: processes PID 1 spawns (lib/worker.h: a fresh exec of /init) to do
 * the blocking work (libcryptsetup, mke2fs, mount, umount), each reporting one frame that PID 1's
 * loop delivers, so the control port keeps answering meanwhile. The report (or its absence once
 * the worker is gone) is what counts.
 *
 * A worker keeps only the capabilities the work needs (sp_storage_worker_caps), in every set
 * including the bounding set, so mke2fs, which it executes, gets no more; and no_new_privs.
 * SYS_ADMIN: the device-mapper ioctls, mount and umount. MKNOD: libdevmapper makes the
 * /dev/mapper node (without it, measured with tests/integration/test_storage.py, activation
 * fails with "Block device required"). CHOWN, FOWNER and FSETID: a block emptyDir's fs_group (the
 * group and set-group-id given to the tree it mounted, fsgroup.c; without FSETID the kernel
 * clears set-group-id for a group the worker is not in); the device node itself stays 0:0.
 * IPC_LOCK: the tests pass without it, but mlockall(MCL_FUTURE) of the worker (format.c) would
 * then be bounded by RLIMIT_MEMLOCK and a larger format could fail. No seccomp filter:
 * libcryptsetup, libdevmapper and mke2fs between them use too wide a set of calls for a list to
 * mean much, and the worker parses no network bytes (its inputs are PID 1's validated request
 * and the disk). */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/capability.h>
#include <stdlib.h>
#include <string.h>

#include "lib/confine.h"
#include "lib/log.h"
#include "lib/worker.h"
#include "storage/storage_int.h"

#define F_REQ  SP_FMT_REQ
#define F_DONE SP_FMT_DONE

struct fmt_wire_req {
	struct sp_fmt_req req;
	uint32_t teardown;
};

struct sp_fmt_job {
	struct sp_worker *w;
	struct sp_loop *loop;
	sp_fmt_done_fn done;
	void *arg;
	struct sp_fmt_req req;
	bool teardown, abandoned, reported;
	bool got;	   /* a report came: F_DONE, or an error */
	struct sp_err err; /* the error it reported */
	struct sp_fmt_times t;
};

#define CAPBIT(c) (1ull << (c))
#define STORAGE_CAPS                                                                               \
	(CAPBIT(CAP_SYS_ADMIN) | CAPBIT(CAP_IPC_LOCK) | CAPBIT(CAP_MKNOD) | CAPBIT(CAP_CHOWN) |    \
	 CAPBIT(CAP_FOWNER) | CAPBIT(CAP_FSETID))
const uint64_t sp_storage_worker_caps = STORAGE_CAPS;

const struct sp_confine sp_storage_confine = {
	.name = "sp-storage",
	.caps = STORAGE_CAPS,
};

static const struct sp_frame_type in_types[] = {
	{ F_REQ, sizeof(struct fmt_wire_req), sizeof(struct fmt_wire_req) },
};
static const struct sp_frame_type out_types[] = {
	{ F_DONE, sizeof(struct sp_fmt_times), sizeof(struct sp_fmt_times) },
};

/* --- the worker -------------------------------------------------------------------------------- */

static void terminate(char *s, size_t n)
{
	s[n - 1] = '\0';
}

static int storage_main(const struct sp_worker_ctx *ctx)
{
	struct sp_frame_rx rx;
	struct fmt_wire_req r;
	struct sp_fmt_times t;
	struct sp_err err = { 0 };
	const uint8_t *p;
	uint32_t type, len;
	int ret;

	if (sp_frame_rx_init(&rx, &ctx->def->in, false, &err) < 0 ||
	    sp_frame_recv(&rx, ctx->fd, &type, &p, &len, &err) != 1 || type != F_REQ)
		return 1;
	memcpy(&r, p, sizeof(r));
	sp_frame_rx_free(&rx);
	terminate(r.req.disk, sizeof(r.req.disk));
	terminate(r.req.dm_name, sizeof(r.req.dm_name));
	terminate(r.req.target, sizeof(r.req.target));
	memset(&t, 0, sizeof(t));
	ret = r.teardown ? sp_storage_teardown(r.req.target, r.req.dm_name, &err)
			 : sp_storage_format(&r.req, &t, &err);
	if (ret < 0) {
		(void)sp_frame_send_err(ctx->fd, 0, &err);
		return 1;
	}
	return sp_frame_send(ctx->fd, F_DONE, &t, sizeof(t)) < 0 ? 1 : 0;
}

const struct sp_worker_def sp_storage_worker = {
	.name = "storage",
	.confine = &sp_storage_confine,
	.in = SP_FRAME_TABLE(in_types),
	.out = SP_FRAME_TABLE(out_types),
	.main = storage_main,
};

/* --- PID 1's side ------------------------------------------------------------------------------ */

static int on_frame(void *arg, uint32_t type, const uint8_t *p, uint32_t len, struct sp_err *err)
{
	struct sp_fmt_job *j = arg;
	uint32_t ref;

	if (j->got)
		return sp_error(err, 0, "storage: a second report");
	if (type == SP_FRAME_ERR && sp_frame_err_decode(p, len, &ref, &j->err) < 0) {
		*err = j->err;
		return -1;
	}
	if (type == F_DONE)
		memcpy(&j->t, p, sizeof(j->t));
	j->got = type == F_DONE || type == SP_FRAME_ERR;
	return 0;
}

static void on_done(void *arg, int ret, const struct sp_err *err)
{
	struct sp_fmt_job *j = arg;
	bool ok = j->got && !j->err.msg[0] && ret == 0;
	struct sp_err e = j->err;

	if (!j->got)
		sp_error(&e, 0, "storage.%s: the worker died before it reported%s%s",
			 j->teardown ? "release" : "format", err ? ": " : "", err ? err->msg : "");
	j->reported = true;
	if (j->abandoned) {
		/* Nobody wants what it made: take it apart again. */
		if (!j->teardown && ok) {
			struct sp_err e2;

			if (!sp_fmt_start(j->loop, &j->req, true, NULL, NULL, &e2))
				sp_warn("storage", "%s", e2.msg);
		}
	} else if (j->done) {
		j->done(j->arg, ok ? 0 : -1, ok ? NULL : &e, &j->t);
	}
	free(j);
}

struct sp_fmt_job *sp_fmt_start(struct sp_loop *loop, const struct sp_fmt_req *r, bool teardown,
				sp_fmt_done_fn done, void *arg, struct sp_err *err)
{
	struct sp_fmt_job *j = calloc(1, sizeof(*j));
	struct fmt_wire_req wr = { .req = *r, .teardown = teardown };
	struct sp_worker_start s = {
		.loop = loop, .def = &sp_storage_worker, .on_frame = on_frame, .done = on_done
	};

	if (!j) {
		sp_error(err, ENOMEM, "storage: worker");
		return NULL;
	}
	j->loop = loop;
	j->done = done;
	j->arg = arg;
	j->req = *r;
	j->teardown = teardown;
	s.arg = j;
	if (sp_worker_start(&s, &j->w, err) < 0) {
		free(j);
		return NULL;
	}
	if (sp_worker_send(j->w, F_REQ, &wr, sizeof(wr), err) < 0) {
		sp_worker_cancel(j->w);
		free(j);
		return NULL;
	}
	return j;
}

void sp_fmt_abandon(struct sp_fmt_job *j)
{
	if (j && !j->reported)
		j->abandoned = true;
}
