/* The worker primitive (init/lib/worker.c, frame.c) and the confinement (confine.c): the framing
 * on its own (exact and bounded sizes, a short frame, a wrong type, an oversize length, the
 * typed error frame), then real workers: this binary exec'd in a worker's mode (main.c hands
 * argv to sp_worker_main), watched on a loop as PID 1 watches its workers, dying mid-frame,
 * breaking the protocol, cancelled, passed an fd, and confined for real (needs root). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/confine.h"
#include "lib/loop.h"
#include "lib/worker.h"
#include "unit.h"

enum { T_PING = 1, T_DIE_MID, T_OVERSIZE, T_WRONG, T_FD, T_ERR, T_BIG, T_PROBE };
enum { R_PONG = 1, R_BLOB, R_DONE, R_PROBES };

static const struct sp_frame_type in_types[] = {
	{ T_PING, 8, 8 }, { T_DIE_MID, 0, 0 }, { T_OVERSIZE, 0, 0 },  { T_WRONG, 0, 0 },
	{ T_FD, 0, 0 },	  { T_ERR, 0, 0 },     { T_BIG, 0, 1 << 20 }, { T_PROBE, 0, 0 },
};
static const struct sp_frame_type out_types[] = {
	{ R_PONG, 8, 8 },
	{ R_BLOB, 1, 1 << 20 },
	{ R_DONE, 0, 0 },
	{ R_PROBES, 16 * sizeof(int), 16 * sizeof(int) },
};

/* --- the test workers (they run in this binary after an exec) ---------------------------------- */

static int echo_frame(const struct sp_worker_ctx *ctx, uint32_t type, const uint8_t *p,
		      uint32_t len)
{
	static const struct sp_frame_hdr cut = { R_BLOB, 100 }, huge = { R_BLOB, 2u << 20 },
					 odd = { 99, 0 };
	struct sp_err e;

	switch (type) {
	case T_PING:
		return sp_frame_send(ctx->fd, R_PONG, p, len);
	case T_BIG:
		return sp_frame_send(ctx->fd, R_BLOB, p, len ? len : 1);
	case T_DIE_MID: /* a header and 10 of its 100 bytes, then gone */
		(void)!write(ctx->fd, &cut, sizeof(cut));
		(void)!write(ctx->fd, "0123456789", 10);
		_exit(3);
	case T_OVERSIZE:
		(void)!write(ctx->fd, &huge, sizeof(huge));
		pause();
		return -1;
	case T_WRONG:
		(void)!write(ctx->fd, &odd, sizeof(odd));
		pause();
		return -1;
	case T_FD:
		return ctx->nfds == 1 && write(ctx->fds[0], "fd", 2) == 2
			       ? sp_frame_send(ctx->fd, R_DONE, NULL, 0)
			       : -1;
	case T_ERR:
		sp_fail(&e, SP_E_DENIED, EACCES, "a worker's refusal");
		e.stage = SP_STAGE_PULL_AUTH;
		snprintf(e.detail, sizeof(e.detail), "the third party's words");
		return sp_frame_send_err(ctx->fd, 7, &e);
	default:
		return -1;
	}
}

static int echo_main(const struct sp_worker_ctx *ctx)
{
	struct sp_frame_rx rx;
	struct sp_err err;
	const uint8_t *p;
	uint32_t type, len;
	int r;

	if (sp_frame_rx_init(&rx, &ctx->def->in, false, &err) < 0)
		return 2;
	while ((r = sp_frame_recv(&rx, ctx->fd, &type, &p, &len, &err)) == 1)
		if (echo_frame(ctx, type, p, len) < 0)
			return 4;
	return r == 0 ? 0 : 5;
}

static const struct sp_worker_def echo_worker = {
	.name = "unit-echo",
	.in = SP_FRAME_TABLE(in_types),
	.out = SP_FRAME_TABLE(out_types),
	.main = echo_main,
	.queue_max = 4 << 20,
};
UNIT_WORKER(echo_worker)

/* --- framing alone ----------------------------------------------------------------------------- */

static const struct sp_frame_table in_table = SP_FRAME_TABLE(in_types);
static const struct sp_frame_table out_table = SP_FRAME_TABLE(out_types);

TEST(frame_sizes_exact_and_bounded)
{
	struct sp_err e;

	CHECK(sp_frame_check(&in_table, &(struct sp_frame_hdr){ T_PING, 8 }, &e) == 0);
	CHECK(FAILS_AS(sp_frame_check(&in_table, &(struct sp_frame_hdr){ T_PING, 7 }, &e), e,
		       SP_E_INVALID));
	CHECK(sp_frame_check(&in_table, &(struct sp_frame_hdr){ T_PING, 9 }, &e) < 0);
	CHECK(sp_frame_check(&in_table, &(struct sp_frame_hdr){ T_BIG, 0 }, &e) == 0);
	CHECK(sp_frame_check(&in_table, &(struct sp_frame_hdr){ T_BIG, 1 << 20 }, &e) == 0);
	CHECK(sp_frame_check(&in_table, &(struct sp_frame_hdr){ T_BIG, (1 << 20) + 1 }, &e) < 0);
	CHECK(sp_frame_check(&in_table, &(struct sp_frame_hdr){ 42, 0 }, &e) < 0);
	CHECK(sp_frame_check(&in_table,
			     &(struct sp_frame_hdr){ SP_FRAME_ERR, sizeof(struct sp_frame_err) },
			     &e) == 0);
	CHECK(sp_frame_check(&in_table, &(struct sp_frame_hdr){ SP_FRAME_ERR, 4 }, &e) < 0);
}

static int put_frame(struct sp_frame_rx *rx, uint32_t type, uint32_t len, const void *p)
{
	struct sp_frame_hdr h = { type, len };

	return sp_frame_rx_put(rx, &h, sizeof(h)) == 0 && (!len || sp_frame_rx_put(rx, p, len) == 0)
		       ? 0
		       : -1;
}

TEST(frame_rx_short_wrong_and_oversize)
{
	struct sp_frame_rx rx;
	struct sp_err e;
	const uint8_t *p;
	uint32_t type, len;
	uint64_t v = 0x1122334455667788ull;
	static uint8_t big[1 << 20];

	/* Two frames, the second arriving in pieces. */
	REQUIRE(sp_frame_rx_init(&rx, &out_table, true, &e) == 0);
	CHECK(put_frame(&rx, R_PONG, 8, &v) == 0);
	CHECK(sp_frame_next(&rx, &type, &p, &len, &e) == 1 && type == R_PONG && len == 8 &&
	      memcmp(p, &v, 8) == 0);
	CHECK(sp_frame_next(&rx, &type, &p, &len, &e) == 0 && !sp_frame_rx_partial(&rx));
	CHECK(sp_frame_rx_put(&rx, &(struct sp_frame_hdr){ R_BLOB, sizeof(big) }, 8) == 0);
	CHECK(sp_frame_rx_put(&rx, big, 1000) == 0);
	CHECK(sp_frame_next(&rx, &type, &p, &len, &e) == 0 && sp_frame_rx_partial(&rx));
	CHECK(sp_frame_rx_put(&rx, big + 1000, sizeof(big) - 1000) == 0);
	CHECK(sp_frame_next(&rx, &type, &p, &len, &e) == 1 && len == sizeof(big));
	/* A short frame: an exact type with a byte too few. */
	CHECK(put_frame(&rx, R_PONG, 7, &v) == 0);
	CHECK(FAILS_AS(sp_frame_next(&rx, &type, &p, &len, &e), e, SP_E_INVALID));
	sp_frame_rx_free(&rx);
	/* A type the table does not have. */
	REQUIRE(sp_frame_rx_init(&rx, &out_table, false, &e) == 0);
	CHECK(put_frame(&rx, T_WRONG + 50, 0, NULL) == 0);
	CHECK(sp_frame_next(&rx, &type, &p, &len, &e) < 0 && strstr(e.msg, "unknown type"));
	sp_frame_rx_free(&rx);
	/* A length over the type's bound is refused from the header alone. */
	REQUIRE(sp_frame_rx_init(&rx, &out_table, false, &e) == 0);
	CHECK(sp_frame_rx_put(&rx, &(struct sp_frame_hdr){ R_BLOB, (1 << 20) + 1 }, 8) == 0);
	CHECK(sp_frame_next(&rx, &type, &p, &len, &e) < 0);
	CHECK(rx.cap <= rx.max);
	sp_frame_rx_free(&rx);
}

TEST(frame_error_frame_roundtrip_and_malformed)
{
	struct sp_err in, out;
	struct sp_frame_err f;
	uint32_t ref = 0;

	sp_fail(&in, SP_E_DENIED, EACCES, "refused \x01 here");
	in.stage = SP_STAGE_ATTEST_AUTH;
	snprintf(in.detail, sizeof(in.detail), "policy words");
	sp_frame_err_encode(9, &in, &f);
	CHECK(sp_frame_err_decode(&f, sizeof(f), &ref, &out) == 0 && ref == 9);
	CHECK(out.kind == SP_E_DENIED && out.stage == SP_STAGE_ATTEST_AUTH && out.errnum == EACCES);
	CHECK(strstr(out.msg, "refused \\x01 here") != NULL);
	CHECK_STR(out.detail, "policy words");
	CHECK(sp_frame_err_decode(&f, sizeof(f) - 1, &ref, &out) < 0);
	memset(f.msg, 'a', sizeof(f.msg)); /* no NUL */
	CHECK(sp_frame_err_decode(&f, sizeof(f), &ref, &out) < 0);
	sp_frame_err_encode(9, &in, &f);
	f.msg[0] = '\0'; /* no message: an error must say what */
	CHECK(sp_frame_err_decode(&f, sizeof(f), &ref, &out) < 0);
	sp_frame_err_encode(9, &in, &f);
	f.kind = 200;
	CHECK(sp_frame_err_decode(&f, sizeof(f), &ref, &out) < 0);
	sp_frame_err_encode(9, &in, &f);
	f.stage = SP_STAGE_COUNT;
	CHECK(sp_frame_err_decode(&f, sizeof(f), &ref, &out) < 0);
}

/* --- real workers on a loop -------------------------------------------------------------------- */

struct seen {
	int frames, errs, done, ret;
	uint32_t last_type;
	uint64_t pong;
	size_t blob;
	struct sp_err err, frame_err;
	uint32_t ref;
};

static int on_frame(void *arg, uint32_t type, const uint8_t *p, uint32_t len, struct sp_err *err)
{
	struct seen *s = arg;

	s->frames++;
	s->last_type = type;
	if (type == R_PONG)
		memcpy(&s->pong, p, 8);
	if (type == R_BLOB)
		s->blob = len;
	if (type == SP_FRAME_ERR) {
		s->errs++;
		return sp_frame_err_decode(p, len, &s->ref, &s->frame_err) < 0
			       ? sp_error(err, 0, "bad")
			       : 0;
	}
	return 0;
}

static void on_done(void *arg, int ret, const struct sp_err *err)
{
	struct seen *s = arg;

	s->done++;
	s->ret = ret;
	if (err)
		s->err = *err;
}

static bool run_until(struct sp_loop *loop, const int *flag, int ms)
{
	struct sp_err e;

	for (int i = 0; i < ms / 20 && !*flag; i++)
		if (sp_loop_run_once(loop, 20, &e) < 0)
			return false;
	return *flag != 0;
}

static struct sp_worker *start(struct sp_loop *loop, struct seen *s, const int *fds, size_t nfds)
{
	struct sp_worker_start st = { .loop = loop,
				      .def = &echo_worker,
				      .spawn = { .fds = fds, .nfds = nfds },
				      .on_frame = on_frame,
				      .done = on_done,
				      .arg = s };
	struct sp_worker *w = NULL;
	struct sp_err e;

	memset(s, 0, sizeof(*s));
	if (sp_worker_start(&st, &w, &e) != SP_PENDING)
		fprintf(stderr, "    start: %s\n", e.msg);
	return w;
}

static void reap(pid_t pid)
{
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}

TEST(worker_frames_both_ways_and_a_clean_end)
{
	static uint8_t big[1 << 20];
	struct sp_loop loop;
	struct seen s;
	struct sp_worker *w;
	struct sp_err e;
	uint64_t v = 42;
	pid_t pid;

	REQUIRE(sp_loop_init(&loop, &e) == 0);
	w = start(&loop, &s, NULL, 0);
	REQUIRE(w);
	pid = sp_worker_pid(w);
	CHECK(sp_worker_send(w, T_PING, &v, 8, &e) == 0);
	CHECK(sp_worker_send(w, T_PING, &v, 7, &e) < 0); /* not a frame of its table */
	memset(big, 0x5a, sizeof(big));
	CHECK(sp_worker_send(w, T_BIG, big, sizeof(big), &e) == 0); /* queued, written later */
	CHECK(sp_worker_send(w, T_ERR, NULL, 0, &e) == 0);
	int three = 0;
	for (int i = 0; i < 250 && s.frames < 3; i++)
		sp_loop_run_once(&loop, 20, &e);
	three = s.frames >= 3;
	CHECK(three && s.pong == 42 && s.blob == sizeof(big) && s.errs == 1);
	CHECK(s.ref == 7 && s.frame_err.kind == SP_E_DENIED &&
	      s.frame_err.stage == SP_STAGE_PULL_AUTH);
	CHECK(strstr(s.frame_err.msg, "a worker's refusal") != NULL);
	CHECK_STR(s.frame_err.detail, "the third party's words");
	CHECK(s.done == 0);
	kill(pid, SIGTERM); /* its end: EOF and an exit, no frame cut */
	CHECK(run_until(&loop, &s.done, 5000) && s.ret == 0);
	sp_loop_run_once(&loop, 0, &e); /* the handle is freed after the batch */
	reap(pid);
	sp_loop_close(&loop);
}

TEST(worker_dies_mid_frame_and_breaking_the_protocol_kills_it)
{
	const uint32_t bad[] = { T_DIE_MID, T_OVERSIZE, T_WRONG };
	const char *why[] = { "inside a frame", "bytes", "unknown type" };
	struct sp_loop loop;
	struct sp_err e;

	REQUIRE(sp_loop_init(&loop, &e) == 0);
	for (size_t i = 0; i < 3; i++) {
		struct seen s;
		struct sp_worker *w = start(&loop, &s, NULL, 0);
		pid_t pid;
		int st = 0;

		REQUIRE(w);
		pid = sp_worker_pid(w);
		CHECK(sp_worker_send(w, bad[i], NULL, 0, &e) == 0);
		CHECK(run_until(&loop, &s.done, 5000));
		CHECK(s.ret == -1 && strstr(s.err.msg, why[i]) != NULL);
		if (!strstr(s.err.msg, why[i]))
			fprintf(stderr, "    case %zu: %s\n", i, s.err.msg);
		CHECK(s.frames == 0);
		sp_loop_run_once(&loop, 0, &e);
		CHECK(waitpid(pid, &st, 0) == pid);
		/* the protocol breakers were waiting in pause(): killed, not exited */
		CHECK(i == 0 ? WIFEXITED(st) : WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	}
	sp_loop_close(&loop);
}

TEST(worker_gets_passed_fds_and_cancel_ends_it_quietly)
{
	struct sp_loop loop;
	struct seen s;
	struct sp_worker *w;
	struct sp_err e;
	int p[2], st = 0;
	char got[4] = { 0 };
	pid_t pid;

	REQUIRE(sp_loop_init(&loop, &e) == 0);
	REQUIRE(pipe2(p, O_CLOEXEC) == 0);
	w = start(&loop, &s, &p[1], 1);
	REQUIRE(w);
	close(p[1]);
	CHECK(sp_worker_send(w, T_FD, NULL, 0, &e) == 0);
	CHECK(run_until(&loop, &s.frames, 5000) && s.last_type == R_DONE);
	CHECK(read(p[0], got, 2) == 2 && strcmp(got, "fd") == 0);
	pid = sp_worker_pid(w);
	sp_worker_cancel(w);
	for (int i = 0; i < 50; i++)
		sp_loop_run_once(&loop, 20, &e);
	CHECK(s.done == 0); /* never called after a cancel; the handle freed itself (ASan) */
	CHECK(waitpid(pid, &st, 0) == pid && WIFSIGNALED(st));
	/* The worker held nothing else of ours: the pipe's read end sees EOF. */
	CHECK(read(p[0], got, 1) == 0);
	close(p[0]);
	sp_loop_close(&loop);
}

/* Spawned, answered and reaped in a row: nothing is left behind (fds, children). What a spawn
 * costs is measured by tests/bench/bench-workers (make bench), not here. */
TEST(worker_spawn_many_in_a_row)
{
	struct sp_err e;
	int fds_before = 0, fds_after = 0;

	for (int fd = 0; fd < 256; fd++)
		fds_before += fcntl(fd, F_GETFD) >= 0;
	for (int i = 0; i < 20; i++) {
		struct sp_child c;
		struct sp_frame_rx rx;
		const uint8_t *p;
		uint32_t type, len;
		uint64_t v = (uint64_t)i;

		REQUIRE(sp_worker_spawn(&echo_worker, NULL, &c, &e) == 0);
		REQUIRE(sp_frame_rx_init(&rx, &out_table, false, &e) == 0);
		CHECK(sp_frame_send(c.fd, T_PING, &v, 8) == 0);
		CHECK(sp_frame_recv(&rx, c.fd, &type, &p, &len, &e) == 1 && type == R_PONG &&
		      memcmp(p, &v, 8) == 0);
		sp_frame_rx_free(&rx);
		CHECK(sp_child_reap(&c) == 0); /* our end closed: it sees EOF and exits 0 */
	}
	for (int fd = 0; fd < 256; fd++)
		fds_after += fcntl(fd, F_GETFD) >= 0;
	CHECK(fds_after == fds_before);
	CHECK(waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD);
}

/* --- confinement, for real --------------------------------------------------------------------- */

enum {
	C_PASSWD,
	C_HOSTS,
	C_HOSTS_W,
	C_UNIX,
	C_EXEC_MAP,
	C_UID,
	C_DUMPABLE,
	C_FORK,
	C_MOUNT,
	C_PROC,
	C_BEFORE,
	C_NPROBES
};

static const struct sp_confine_path unit_paths[] = {
	{ "/etc/hosts", SP_CONFINE_COPY, false },
	{ "/etc/sealpod-absent-file", SP_CONFINE_COPY, true },
};

/* What the probe worker does between the filter and its last frame (ASan's own calls too). */
static const struct sp_sc_rule unit_allow[] = {
	SP_SC_ALLOW(SCMP_SYS(read)),
	SP_SC_ALLOW(SCMP_SYS(write)),
	SP_SC_ALLOW(SCMP_SYS(close)),
	SP_SC_ALLOW(SCMP_SYS(fstat)),
	SP_SC_ALLOW(SCMP_SYS(newfstatat)),
	SP_SC_ALLOW(SCMP_SYS(munmap)),
	SP_SC_ALLOW(SCMP_SYS(brk)),
	SP_SC_ALLOW(SCMP_SYS(madvise)),
	SP_SC_ALLOW(SCMP_SYS(exit_group)),
	SP_SC_ALLOW(SCMP_SYS(exit)),
	SP_SC_ALLOW(SCMP_SYS(getuid)),
	SP_SC_ALLOW(SCMP_SYS(prctl)),
	SP_SC_ALLOW(SCMP_SYS(sendmsg)),
	SP_SC_ALLOW(SCMP_SYS(recvmsg)),
	SP_SC_ALLOW(SCMP_SYS(rt_sigaction)),
	SP_SC_ALLOW(SCMP_SYS(rt_sigprocmask)),
	SP_SC_ALLOW(SCMP_SYS(getpid)),
	SP_SC_ALLOW(SCMP_SYS(gettid)),
	SP_SC_ALLOW(SCMP_SYS(sigaltstack)),
	SP_SC_ALLOW(SCMP_SYS(futex)),
	SP_SC_ARG_MASK(SCMP_SYS(mmap), 2, PROT_EXEC, 0),
	SP_SC_ARG_MASK(SCMP_SYS(mprotect), 2, PROT_EXEC, 0),
	SP_SC_ARG_MASK(SCMP_SYS(openat), 2, O_WRONLY | O_RDWR | O_CREAT, 0),
};

static const struct sp_confine unit_confine = {
	.name = "sp-unit",
	.unshare = CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWNET,
	.empty_root = true,
	.paths = unit_paths,
	.npaths = 2,
	.set_ids = true,
	.uid = 65534,
	.gid = 65534,
	.seccomp = true,
	.sc = { SP_SC_LIST(unit_allow) },
};

static const struct sp_confine unit_confine_later = {
	.name = "sp-unit-later",
	.unshare = CLONE_NEWNS,
	.empty_root = true,
	.root_later = true,
	.paths = unit_paths,
	.npaths = 1,
	.seccomp = true,
	.sc = { SP_SC_LIST(unit_allow) },
};

static int res(long r)
{
	return r < 0 ? errno : 0;
}

static int probe_main(const struct sp_worker_ctx *ctx)
{
	int r[16] = { 0 };
	struct sp_err e;
	char c;
	void *m;

	if (ctx->def->confine->root_later) {
		r[C_BEFORE] = res(open("/etc/passwd", O_RDONLY | O_CLOEXEC));
		if (sp_confine_enter_root(ctx->def->confine, &e) < 0)
			return sp_frame_send_err(ctx->fd, 0, &e), 3;
	}
	r[C_PASSWD] = res(open("/etc/passwd", O_RDONLY | O_CLOEXEC));
	r[C_HOSTS] = res(open("/etc/hosts", O_RDONLY | O_CLOEXEC));
	r[C_HOSTS_W] = res(open("/etc/hosts", O_WRONLY | O_CLOEXEC));
	r[C_UNIX] = res(socket(AF_UNIX, SOCK_STREAM, 0));
	m = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	r[C_EXEC_MAP] = m == MAP_FAILED ? errno : 0;
	r[C_UID] = (int)getuid();
	r[C_DUMPABLE] = prctl(PR_GET_DUMPABLE, 0, 0, 0, 0);
	r[C_FORK] = res(syscall(SYS_clone, (long)SIGCHLD, 0L, 0L, 0L, 0L));
	if (r[C_FORK] == 0 && syscall(SYS_getpid) != getpid())
		syscall(SYS_exit_group, 0);
	r[C_MOUNT] = res(syscall(SYS_mount, "none", "/etc", "tmpfs", 0L, NULL));
	r[C_PROC] = res(open("/proc/self/status", O_RDONLY | O_CLOEXEC));
	if (sp_frame_send(ctx->fd, R_PROBES, r, sizeof(r)) < 0)
		return 2;
	(void)!read(ctx->fd, &c, 1); /* the parent reads our /proc status meanwhile */
	return 0;
}

static const struct sp_worker_def probe_worker = {
	.name = "unit-probe",
	.confine = &unit_confine,
	.out = SP_FRAME_TABLE(out_types),
	.main = probe_main,
};
static const struct sp_worker_def probe_later_worker = {
	.name = "unit-probe-later",
	.confine = &unit_confine_later,
	.out = SP_FRAME_TABLE(out_types),
	.main = probe_main,
};
UNIT_WORKER(probe_worker)
UNIT_WORKER(probe_later_worker)

static int status_field(pid_t pid, const char *name, char *val, size_t size)
{
	char p[64], line[256];
	size_t nl = strlen(name);
	int found = -1;
	FILE *f;

	snprintf(p, sizeof(p), "/proc/%d/status", (int)pid);
	f = fopen(p, "r");
	if (!f)
		return -1;
	while (found < 0 && fgets(line, sizeof(line), f))
		if (strncmp(line, name, nl) == 0 && line[nl] == ':') {
			char *v = line + nl + 1 + strspn(line + nl + 1, " \t");

			v[strcspn(v, "\n")] = '\0';
			snprintf(val, size, "%s", v);
			found = 0;
		}
	fclose(f);
	return found;
}

static bool field_is(pid_t pid, const char *name, const char *want)
{
	char v[64];

	return status_field(pid, name, v, sizeof(v)) == 0 && strcmp(v, want) == 0;
}

static void probe(const struct sp_worker_def *def, int *unit_failed_)
{
	struct sp_frame_rx rx;
	struct sp_child c;
	struct sp_err e;
	const uint8_t *p;
	uint32_t type, len;
	int r[16];

	REQUIRE(sp_worker_spawn(def, NULL, &c, &e) == 0);
	REQUIRE(sp_frame_rx_init(&rx, &out_table, false, &e) == 0);
	CHECK(sp_frame_recv(&rx, c.fd, &type, &p, &len, &e) == 1);
	if (type == SP_FRAME_ERR) {
		uint32_t ref;

		sp_frame_err_decode(p, len, &ref, &e);
		fprintf(stderr, "    the worker failed: %s\n", e.msg);
	}
	REQUIRE(type == R_PROBES);
	memcpy(r, p, sizeof(r));
	CHECK(r[C_PASSWD] == ENOENT && r[C_HOSTS] == 0);
	CHECK(r[C_HOSTS_W] == EPERM && r[C_UNIX] == EPERM && r[C_EXEC_MAP] == EPERM);
	CHECK(r[C_DUMPABLE] == 0 && r[C_FORK] == EPERM && r[C_MOUNT] == EPERM);
	CHECK(r[C_PROC] == ENOENT);
	if (def->confine->root_later) {
		CHECK(r[C_BEFORE] == 0 && r[C_UID] == 0);
	} else {
		CHECK(r[C_UID] == 65534);
	}
	CHECK(field_is(c.pid, "CapEff", "0000000000000000"));
	CHECK(field_is(c.pid, "CapPrm", "0000000000000000"));
	CHECK(field_is(c.pid, "CapInh", "0000000000000000"));
	CHECK(field_is(c.pid, "CapBnd", "0000000000000000"));
	CHECK(field_is(c.pid, "CapAmb", "0000000000000000"));
	CHECK(field_is(c.pid, "NoNewPrivs", "1"));
	CHECK(field_is(c.pid, "Seccomp", "2"));
	sp_frame_rx_free(&rx);
	CHECK(sp_child_reap(&c) == 0);
}

TEST(confine_empty_root_nobody_no_caps_seccomp)
{
	if (geteuid() != 0)
		SKIP("needs root");
	probe(&probe_worker, unit_failed_);
}

TEST(confine_deferred_root_entered_by_the_worker)
{
	if (geteuid() != 0)
		SKIP("needs root");
	probe(&probe_later_worker, unit_failed_);
}
