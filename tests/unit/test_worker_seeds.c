/* The streams PID 1 reads from its workers, made by the real encoders (sp_frame_send,
 * sp_frame_send_err, sp_img_send_config, sp_img_send_result) and read back by the real decoders
 * the way PID 1 does. With SEALPOD_FUZZ_SEEDS=<corpus dir> they are also written as the real-*
 * seeds of fuzz_worker_frames and fuzz_pull_result (tests/fuzz/make-seeds). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "attest/attest.h"
#include "attest/worker.h"
#include "image/image.h"
#include "image/wire.h"
#include "lib/worker.h"
#include "storage/storage.h"
#include "storage/storage_int.h"
#include "unit.h"

#define D1 "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define D2 "sha256:2222222222222222222222222222222222222222222222222222222222222222"

struct stream {
	int w; /* the worker's end: encoders write here */
	int r; /* ours */
	uint8_t b[1 << 16];
	size_t n;
};

static int open_stream(struct stream *s)
{
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	s->w = sv[0];
	s->r = sv[1];
	s->n = 0;
	return 0;
}

/* What the encoders wrote, once they are done. */
static void drain(struct stream *s)
{
	ssize_t k;

	close(s->w);
	while ((k = read(s->r, s->b + s->n, sizeof(s->b) - s->n)) > 0)
		s->n += (size_t)k;
	close(s->r);
}

static void seed(const char *target, const char *name, uint8_t selector, const struct stream *s)
{
	const char *dir = getenv("SEALPOD_FUZZ_SEEDS");
	char p[512];
	FILE *f;

	if (!dir)
		return;
	snprintf(p, sizeof(p), "%s/%s/real-%s", dir, target, name);
	f = fopen(p, "wb");
	if (!f || fwrite(&selector, 1, 1, f) != 1 || fwrite(s->b, 1, s->n, f) != s->n)
		fprintf(stderr, "    %s: %s\n", p, strerror(errno));
	if (f)
		fclose(f);
}

/* Reads a stream as PID 1 would with table t, a read at a time: each frame through take (NULL:
 * error frames decoded), until it says stop. The number of frames, or -1 when refused. */
static int read_stream(const struct stream *s, const struct sp_frame_table *t,
		       int (*take)(void *arg, uint32_t type, const uint8_t *p, uint32_t len),
		       void *arg)
{
	struct sp_frame_rx rx;
	struct sp_err e;
	int n = 0, r = 0;

	if (sp_frame_rx_init(&rx, t, true, &e) < 0)
		return -1;
	for (size_t off = 0; off < s->n && r == 0;) {
		size_t k = s->n - off, room = rx.max - (rx.end - rx.start);
		const uint8_t *p;
		uint32_t type, len;

		k = k < room ? k : room;
		if (sp_frame_rx_put(&rx, s->b + off, k) < 0)
			r = -1;
		off += k;
		while (r == 0 && (r = sp_frame_next(&rx, &type, &p, &len, &e)) == 1) {
			n++;
			r = take(arg, type, p, len);
		}
	}
	if (sp_frame_rx_partial(&rx))
		r = -1;
	sp_frame_rx_free(&rx);
	return r < 0 ? -1 : n;
}

static int decode_errs(void *arg, uint32_t type, const uint8_t *p, uint32_t len)
{
	struct sp_err e;
	uint32_t ref;

	(void)arg;
	return type == SP_FRAME_ERR && sp_frame_err_decode(p, len, &ref, &e) < 0 ? -1 : 0;
}

static int frames(const struct stream *s, const struct sp_frame_table *t)
{
	return read_stream(s, t, decode_errs, NULL);
}

struct taking {
	struct sp_meta *m;
	enum sp_img_stream which;
	int last;
};

static int take(void *arg, uint32_t type, const uint8_t *p, uint32_t len)
{
	struct taking *tk = arg;
	struct sp_err e;

	tk->last = sp_img_take(tk->m, tk->which, type, p, len, &e);
	return tk->last < 0 ? -1 : tk->last == 1 ? 1 : 0;
}

/* 1 when the stream is a complete result (or metadata). */
static int result(const struct stream *s, enum sp_img_stream which, struct sp_meta *m)
{
	struct taking tk = { m, which, 0 };

	memset(m, 0, sizeof(*m));
	if (read_stream(s, which == SP_IMG_META ? &sp_img_meta_out : &sp_img_result_out, take,
			&tk) < 0 &&
	    tk.last != 1)
		return -1;
	return tk.last;
}

TEST(worker_frames_real_streams)
{
	static char *cmd[] = { "/bin/sh", "-c", "echo hi", NULL }, *env[] = { "PATH=/bin", NULL };
	struct sp_pull_result res = { 0 };
	struct sp_fmt_times t = { 1, 2, 3, 4, 5, 15 };
	struct sp_img_head h = { 0 };
	struct stream s;
	struct sp_meta m;
	struct sp_err e;
	uint8_t resource[4 + 12];
	uint32_t id = 3;

	/* the attestation worker: attested, a resource, a refused resource */
	REQUIRE(open_stream(&s) == 0);
	memcpy(resource, &id, 4);
	memcpy(resource + 4, "secret-bytes", 12);
	CHECK(sp_frame_send(s.w, A_ATTESTED, NULL, 0) == 0);
	CHECK(sp_frame_send(s.w, A_RESOURCE, resource, sizeof(resource)) == 0);
	sp_fail(&e, SP_E_UNAVAILABLE, 0, "KBS refused the resource: HTTP 401");
	e.stage = SP_STAGE_ATTEST_RESOURCE;
	CHECK(sp_frame_send_err(s.w, 4, &e) == 0);
	drain(&s);
	CHECK(frames(&s, &sp_attest_worker.out) == 3);
	seed("fuzz_worker_frames", "attest", 0, &s);
	seed("fuzz_worker_frames", "attest-split", 0 | 8, &s);
	/* the storage worker: its report, or its error */
	REQUIRE(open_stream(&s) == 0);
	CHECK(sp_frame_send(s.w, SP_FMT_DONE, &t, sizeof(t)) == 0);
	sp_error(&e, ENOSPC, "storage.mkfs: mke2fs failed");
	CHECK(sp_frame_send_err(s.w, 0, &e) == 0);
	drain(&s);
	CHECK(frames(&s, &sp_storage_worker.out) == 2);
	seed("fuzz_worker_frames", "storage", 1, &s);
	/* the pull worker's result, whole */
	snprintf(res.digest, sizeof(res.digest), "%s", D1);
	res.cmd = cmd, res.n_cmd = 3;
	res.env = env, res.n_env = 1;
	res.workdir = "/srv";
	res.user = "web:staff";
	res.mnt_id = 0x12345;
	snprintf(res.token, sizeof(res.token), "eyJhbGciOiJSUzI1NiJ9.e30.c2ln");
	res.token_ttl = 300;
	res.uid = 1000, res.gid = 50;
	REQUIRE(open_stream(&s) == 0);
	CHECK(sp_img_send_result(s.w, &res) == 0);
	drain(&s);
	CHECK(frames(&s, &sp_pull_worker.out) == 10);
	CHECK(result(&s, SP_IMG_RESULT, &m) == 1 && !m.failed && m.uid == 1000 && m.gid == 50 &&
	      m.token_ttl == 300 && m.n_cmd == 3);
	sp_meta_free(&m);
	seed("fuzz_worker_frames", "pull", 2, &s);
	seed("fuzz_pull_result", "result", 0, &s);
	/* its user not in the image's files */
	res.user_ret = -1;
	sp_fail(&res.user_err, SP_E_PRECONDITION, 0,
		"the image's user \"web:staff\" is not in its /etc/passwd");
	REQUIRE(open_stream(&s) == 0);
	CHECK(sp_img_send_result(s.w, &res) == 0);
	drain(&s);
	CHECK(result(&s, SP_IMG_RESULT, &m) == 1 && !m.failed && m.user_ret == -1);
	sp_meta_free(&m);
	seed("fuzz_pull_result", "result-user-error", 0, &s);
	/* a refused pull */
	REQUIRE(open_stream(&s) == 0);
	sp_fail(&e, SP_E_DENIED, 0, "policy.deny: CreateContainerRequest is blocked by policy");
	e.stage = SP_STAGE_POLICY_DENY;
	CHECK(sp_frame_send_err(s.w, 0, &e) == 0);
	drain(&s);
	CHECK(result(&s, SP_IMG_RESULT, &m) == 1 && m.failed && m.err.kind == SP_E_DENIED);
	sp_meta_free(&m);
	seed("fuzz_pull_result", "refused", 0, &s);
	/* a metadata worker's findings, as meta.c sends them */
	REQUIRE(open_stream(&s) == 0);
	snprintf(h.digest, sizeof(h.digest), "%s", D1);
	snprintf(h.config_digest, sizeof(h.config_digest), "%s", D2);
	CHECK(sp_frame_send(s.w, IMG_HEAD, &h, sizeof(h)) == 0);
	for (int i = 0; i < 2; i++) {
		struct sp_img_layer l = { .comp = (uint32_t)i, .size = 1000u + (unsigned)i };

		snprintf(l.digest, sizeof(l.digest), "%s", i ? D2 : D1);
		snprintf(l.diff_id, sizeof(l.diff_id), "%s", i ? D1 : D2);
		CHECK(sp_frame_send(s.w, IMG_LAYER, &l, sizeof(l)) == 0);
	}
	CHECK(sp_img_send_config(s.w, NULL, cmd, env, "/", "", res.token, 60) == 0);
	CHECK(sp_frame_send(s.w, IMG_END, NULL, 0) == 0);
	drain(&s);
	CHECK(result(&s, SP_IMG_META, &m) == 1 && !m.failed && m.n == 2);
	sp_meta_free(&m);
	seed("fuzz_pull_result", "meta", 1, &s);
}
