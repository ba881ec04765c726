/* The image module's unpacker on the host: the tar reader, the decompressing digest stream, the
 * privilege-separated layer unpack (a real parser child in its sandbox, a real applier), and
 * every adversarial layer of issue 6 — each refused or contained, nothing written outside. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <zlib.h>
#include <zstd.h>

#include "image/image.h"
#include "image/image_int.h"
#include "lib/cleanup.h"
#include "lib/worker.h"
#include "test_image_tar.h"
#include "unit.h"

/* sp_layer_unpack spawns its parser: this binary, exec'd as one. */
UNIT_WORKER(sp_layer_read_worker)
UNIT_WORKER(sp_layer_fetch_worker)

struct fixture {
	char top[64];	  /* /tmp/sp-img-XXXXXX */
	char root[96];	  /* top/root: the layer root */
	char outside[96]; /* top/outside: must stay empty */
	int root_fd;
	struct sp_layer_result res;
	struct sp_err err;
};

static void fx_init(struct fixture *f)
{
	memset(f, 0, sizeof(*f));
	snprintf(f->top, sizeof(f->top), "/tmp/sp-img-XXXXXX");
	if (!mkdtemp(f->top))
		abort();
	snprintf(f->root, sizeof(f->root), "%s/root", f->top);
	snprintf(f->outside, sizeof(f->outside), "%s/outside", f->top);
	mkdir(f->root, 0755);
	mkdir(f->outside, 0755);
	f->root_fd = open(f->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

static int count_entries(const char *dir)
{
	char cmd[256];
	FILE *p;
	int n = -1;

	snprintf(cmd, sizeof(cmd), "find '%s' -mindepth 1 | wc -l", dir);
	p = popen(cmd, "r");
	if (p && fscanf(p, "%d", &n) != 1)
		n = -1;
	if (p)
		pclose(p);
	return n;
}

static void fx_done(struct fixture *f)
{
	int fd = open("/tmp", O_RDONLY | O_DIRECTORY);

	close(f->root_fd);
	sp_remove_tree_at(fd, f->top + 5, NULL);
	close(fd);
}

static void gzip_buf(const uint8_t *in, size_t n, struct tb *out)
{
	z_stream z = { 0 };
	uint8_t buf[65536];
	int r;

	deflateInit2(&z, 6, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY);
	z.next_in = (Bytef *)in;
	z.avail_in = (uInt)n;
	do {
		z.next_out = buf;
		z.avail_out = sizeof(buf);
		r = deflate(&z, Z_FINISH);
		tb_put(out, buf, sizeof(buf) - z.avail_out);
	} while (r != Z_STREAM_END);
	deflateEnd(&z);
}

static void zstd_buf(const uint8_t *in, size_t n, struct tb *out)
{
	size_t cap = ZSTD_compressBound(n);

	tb_grow(out, cap);
	out->len += ZSTD_compress(out->buf + out->len, cap, in, n, 3);
}

/* Unpacks blob (compressed as comp) into f->root. blob_digest/diff_id NULL: the right ones. */
static int unpack(struct fixture *f, const struct tb *blob, const struct tb *tar,
		  enum sp_compress comp, const struct sp_tar_limits *lim, const char *blob_digest,
		  const char *diff_id)
{
	char bd[SP_DIGEST_LEN + 1], dd[SP_DIGEST_LEN + 1];
	struct sp_layer_job j = { 0 };
	cleanup_close int fd = memfd_create("blob", MFD_CLOEXEC);

	sp_sha256_digest(blob->buf, blob->len, bd);
	sp_sha256_digest(tar->buf, tar->len, dd);
	if (write(fd, blob->buf, blob->len) != (ssize_t)blob->len)
		abort();
	lseek(fd, 0, SEEK_SET);
	j.in_fd = fd;
	j.comp = comp;
	j.blob_digest = blob_digest ? blob_digest : bd;
	j.diff_id = diff_id ? diff_id : dd;
	if (lim)
		j.lim = *lim;
	else
		sp_tar_limits_default(&j.lim);
	j.chown = true;
	j.sandbox = true;
	memset(&f->err, 0, sizeof(f->err));
	if (sp_layer_unpack(&j, f->root_fd, &f->res, &f->err) == 0)
		return 0;
	fprintf(stderr, "    (unpack: %s)\n", f->err.msg);
	return -1;
}

static int unpack_tar(struct fixture *f, const struct tb *tar)
{
	return unpack(f, tar, tar, SP_COMP_NONE, NULL, NULL, NULL);
}

static bool has(const struct fixture *f, const char *rel, mode_t type)
{
	char p[512];
	struct stat st;

	snprintf(p, sizeof(p), "%s/%s", f->root, rel);
	return lstat(p, &st) == 0 && (st.st_mode & S_IFMT) == type;
}

static bool msg_has(const struct fixture *f, const char *s)
{
	if (strstr(f->err.msg, s))
		return true;
	fprintf(stderr, "    message was: %s\n", f->err.msg);
	return false;
}

/* --- the happy paths -------------------------------------------------------------------------- */

static void busy_layer(struct tb *t)
{
	tb_hdr(t, "./", '5', NULL, 0, 0755);
	tb_hdr(t, "bin/", '5', NULL, 0, 0755);
	tb_file(t, "bin/busybox", "#!fake busybox\n");
	tb_hdr(t, "bin/sh", '2', "busybox", 0, 0777);
	tb_hdr(t, "bin/ln", '1', "bin/busybox", 0, 0755);
	tb_hdr(t, "etc/", '5', NULL, 0, 0755);
	tb_file(t, "etc/passwd", "root:x:0:0::/root:/bin/sh\n");
	tb_hdr(t, "etc/.wh.old", '0', NULL, 0, 0);
	tb_hdr(t, "var/.wh..wh..opq", '0', NULL, 0, 0);
	tb_hdr(t, "run/fifo", '6', NULL, 0, 0600);
	tb_hdr(t, "dev/sda", '4', NULL, 0, 0600);
	tb_end(t);
}

TEST(image_layer_plain_tar)
{
	struct fixture f;
	struct tb t = { 0 };
	char buf[64] = { 0 }, p[256];
	struct stat a, b;

	fx_init(&f);
	busy_layer(&t);
	CHECK(unpack_tar(&f, &t) == 0);
	CHECK(has(&f, "bin/busybox", S_IFREG));
	CHECK(has(&f, "bin/sh", S_IFLNK));
	CHECK(has(&f, "etc/old", S_IFCHR));
	CHECK(has(&f, "run/fifo", S_IFIFO));
	CHECK(!has(&f, "dev/sda", S_IFBLK));
	CHECK(f.res.st.skipped_devices == 1);
	snprintf(p, sizeof(p), "%s/bin/busybox", f.root);
	CHECK(stat(p, &a) == 0);
	snprintf(p, sizeof(p), "%s/bin/ln", f.root);
	CHECK(stat(p, &b) == 0 && a.st_ino == b.st_ino); /* a real hard link */
	snprintf(p, sizeof(p), "%s/var", f.root);
	CHECK(getxattr(p, "trusted.overlay.opaque", buf, sizeof(buf)) == 1 && buf[0] == 'y');
	snprintf(p, sizeof(p), "%s/etc/old", f.root);
	CHECK(lstat(p, &a) == 0 && a.st_rdev == makedev(0, 0));
	CHECK(count_entries(f.outside) == 0);
	fx_done(&f);
	free(t.buf);
}

TEST(image_layer_gzip_multimember_and_zstd_multiframe)
{
	struct tb t1 = { 0 }, t2 = { 0 }, all = { 0 }, gz = { 0 }, zs = { 0 };
	struct fixture f;

	/* Two halves of one tar, compressed separately and concatenated. */
	tb_file(&t1, "a.txt", "first member\n");
	tb_file(&t2, "b.txt", "second member\n");
	tb_end(&t2);
	tb_put(&all, t1.buf, t1.len);
	tb_put(&all, t2.buf, t2.len);
	gzip_buf(t1.buf, t1.len, &gz);
	gzip_buf(t2.buf, t2.len, &gz);
	zstd_buf(t1.buf, t1.len, &zs);
	zstd_buf(t2.buf, t2.len, &zs);

	fx_init(&f);
	CHECK(unpack(&f, &gz, &all, SP_COMP_GZIP, NULL, NULL, NULL) == 0);
	CHECK(has(&f, "a.txt", S_IFREG) && has(&f, "b.txt", S_IFREG));
	CHECK(f.res.tar_bytes == all.len);
	fx_done(&f);

	fx_init(&f);
	CHECK(unpack(&f, &zs, &all, SP_COMP_ZSTD, NULL, NULL, NULL) == 0);
	CHECK(has(&f, "a.txt", S_IFREG) && has(&f, "b.txt", S_IFREG));
	fx_done(&f);

	/* A truncated gzip member is refused. */
	fx_init(&f);
	gz.len -= 5;
	CHECK(unpack(&f, &gz, &all, SP_COMP_GZIP, NULL, NULL, NULL) < 0);
	fx_done(&f);
	free(t1.buf), free(t2.buf), free(all.buf), free(gz.buf), free(zs.buf);
}

TEST(image_layer_long_names)
{
	struct tb t = { 0 };
	struct fixture f;
	char longname[300], p[512];

	memset(longname, 'n', 200);
	strcpy(longname + 200, "/file");
	/* GNU 'L' long name */
	tb_hdr(&t, "././@LongLink", 'L', NULL, strlen(longname) + 1, 0644);
	tb_put(&t, longname, strlen(longname) + 1);
	tb_pad(&t);
	tb_file(&t, "truncated-name", "gnu\n");
	/* PAX path */
	longname[0] = 'm';
	tb_pax(&t, "path", longname);
	tb_file(&t, "ignored", "pax\n");
	tb_end(&t);
	fx_init(&f);
	CHECK(unpack_tar(&f, &t) == 0);
	CHECK(has(&f, longname, S_IFREG));
	longname[0] = 'n';
	snprintf(p, sizeof(p), "%s", longname);
	CHECK(has(&f, p, S_IFREG));
	CHECK(!has(&f, "truncated-name", S_IFREG) && !has(&f, "ignored", S_IFREG));
	fx_done(&f);
	free(t.buf);
}

/* --- adversarial layers (issue 6): refused or contained, nothing outside ---------------------- */

TEST(image_adv_dotdot_traversal)
{
	struct tb t = { 0 };
	struct fixture f;

	fx_init(&f);
	tb_file(&t, "../outside/pwned", "x");
	tb_end(&t);
	CHECK(unpack_tar(&f, &t) < 0);
	CHECK(msg_has(&f, "'..'"));
	CHECK(count_entries(f.outside) == 0);
	fx_done(&f);
	free(t.buf);
}

TEST(image_adv_symlink_escape_write_through)
{
	struct tb t = { 0 };
	struct fixture f;
	char rel[128];

	fx_init(&f);
	/* absolute (evil -> <top>/outside) and relative (evil2 -> ../../../../<top>/outside)
	 * symlinks resolve inside the root, where their target does not exist: refused. */
	tb_hdr(&t, "evil", '2', f.outside, 0, 0777);
	tb_file(&t, "evil/pwned", "x");
	tb_end(&t);
	CHECK(unpack_tar(&f, &t) < 0);
	CHECK(count_entries(f.outside) == 0);
	free(t.buf);
	memset(&t, 0, sizeof(t));
	snprintf(rel, sizeof(rel), "../../../../../..%s", f.outside);
	tb_hdr(&t, "evil2", '2', rel, 0, 0777);
	tb_file(&t, "evil2/pwned2", "x");
	tb_end(&t);
	CHECK(unpack_tar(&f, &t) < 0);
	CHECK(count_entries(f.outside) == 0);
	free(t.buf);
	memset(&t, 0, sizeof(t));
	/* When the target exists in the layer, the write goes there: contained. */
	tb_hdr(&t, "inside/", '5', NULL, 0, 0755);
	tb_hdr(&t, "abs", '2', "/inside", 0, 0777);
	tb_file(&t, "abs/a", "x");
	tb_hdr(&t, "rel", '2', "../../../../../../inside", 0, 0777);
	tb_file(&t, "rel/b", "x");
	tb_end(&t);
	CHECK(unpack_tar(&f, &t) == 0);
	CHECK(has(&f, "inside/a", S_IFREG) && has(&f, "inside/b", S_IFREG));
	CHECK(count_entries(f.outside) == 0);
	fx_done(&f);
	free(t.buf);
}

TEST(image_adv_hardlink_outside)
{
	struct tb t = { 0 };
	struct fixture f;
	char target[128];

	fx_init(&f);
	snprintf(target, sizeof(target), "%s/victim", f.outside);
	close(open(target, O_CREAT | O_WRONLY, 0600));
	/* absolute name of a host file: resolved inside the root, where it does not exist */
	tb_hdr(&t, "hl", '1', target, 0, 0644);
	tb_end(&t);
	CHECK(unpack_tar(&f, &t) < 0);
	CHECK(msg_has(&f, "not in the layer"));
	free(t.buf);
	memset(&t, 0, sizeof(t));
	/* through a symlink of the layer */
	tb_hdr(&t, "s", '2', f.outside, 0, 0777);
	tb_hdr(&t, "hl2", '1', "s/victim", 0, 0644);
	tb_end(&t);
	CHECK(unpack_tar(&f, &t) < 0);
	free(t.buf);
	memset(&t, 0, sizeof(t));
	tb_hdr(&t, "hl3", '1', "../outside/victim", 0, 0644);
	tb_end(&t);
	CHECK(unpack_tar(&f, &t) < 0);
	CHECK(count_entries(f.outside) == 1); /* only the victim */
	{
		struct stat st;

		CHECK(stat(target, &st) == 0 && st.st_nlink == 1);
	}
	fx_done(&f);
	free(t.buf);
}

TEST(image_adv_root_symlink)
{
	struct tb t = { 0 };
	struct fixture f;

	fx_init(&f);
	/* umoci CVE-2021-29136: a symlink for "/." */
	tb_hdr(&t, "/.", '2', f.outside, 0, 0777);
	tb_file(&t, "pwned", "x");
	tb_end(&t);
	CHECK(unpack_tar(&f, &t) < 0);
	CHECK(msg_has(&f, "root entry is not a directory"));
	CHECK(count_entries(f.outside) == 0);
	fx_done(&f);
	free(t.buf);
}

TEST(image_adv_duplicates_contained)
{
	struct tb t = { 0 };
	struct fixture f;
	char p[256], buf[16] = { 0 };
	int fd;

	fx_init(&f);
	tb_file(&t, "a", "first");
	tb_file(&t, "a", "second");
	tb_hdr(&t, "d/", '5', NULL, 0, 0755);
	tb_file(&t, "d/x", "1");
	tb_hdr(&t, "d", '2', f.outside, 0, 0777); /* the dir turns into an escaping symlink */
	tb_end(&t);
	CHECK(unpack_tar(&f, &t) == 0);
	free(t.buf);
	memset(&t, 0, sizeof(t));
	tb_file(&t, "d/y", "2"); /* written through it: refused (the target is not in the root) */
	tb_end(&t);
	CHECK(unpack_tar(&f, &t) < 0);
	snprintf(p, sizeof(p), "%s/a", f.root);
	fd = open(p, O_RDONLY);
	CHECK(fd >= 0 && read(fd, buf, sizeof(buf)) == 6 && strcmp(buf, "second") == 0);
	close(fd);
	CHECK(has(&f, "d", S_IFLNK));
	CHECK(count_entries(f.outside) == 0);
	fx_done(&f);
	free(t.buf);
}

TEST(image_adv_huge_pax)
{
	struct tb t = { 0 };
	struct fixture f;
	struct sp_tar_limits lim;

	fx_init(&f);
	sp_tar_limits_default(&lim);
	tb_hdr(&t, "PaxHeader", 'x', NULL, lim.max_pax + 1, 0644);
	tb_end(&t);
	CHECK(unpack(&f, &t, &t, SP_COMP_NONE, &lim, NULL, NULL) < 0);
	CHECK(msg_has(&f, "size cap"));
	fx_done(&f);
	free(t.buf);
}

TEST(image_adv_decompression_bomb)
{
	struct tb t = { 0 }, gz = { 0 };
	struct fixture f;
	struct sp_tar_limits lim;
	uint8_t *zeros = calloc(1, 64 << 20);

	/* 64 MiB of one file compress to ~64 KiB; the cap is 8 MiB. */
	tb_hdr(&t, "bomb", '0', NULL, (64 << 20) - 2048, 0644);
	tb_put(&t, zeros, (64 << 20) - 1024);
	gzip_buf(t.buf, t.len, &gz);
	fx_init(&f);
	sp_tar_limits_default(&lim);
	lim.max_total = 8 << 20;
	CHECK(gz.len < (1 << 20));
	CHECK(unpack(&f, &gz, &t, SP_COMP_GZIP, &lim, NULL, NULL) < 0);
	CHECK(msg_has(&f, "size cap"));
	fx_done(&f);
	free(zeros), free(t.buf), free(gz.buf);
}

TEST(image_adv_wrong_digests)
{
	struct tb t = { 0 };
	struct fixture f;
	const char *wrong = "sha256:"
			    "0000000000000000000000000000000000000000000000000000000000000000";

	busy_layer(&t);
	fx_init(&f);
	CHECK(unpack(&f, &t, &t, SP_COMP_NONE, NULL, wrong, NULL) < 0);
	CHECK(msg_has(&f, "blob digest mismatch: expected sha256:0000"));
	fx_done(&f);
	fx_init(&f);
	CHECK(unpack(&f, &t, &t, SP_COMP_NONE, NULL, NULL, wrong) < 0);
	CHECK(msg_has(&f, "diff_id mismatch"));
	fx_done(&f);
	fx_init(&f);
	CHECK(unpack(&f, &t, &t, SP_COMP_NONE, NULL, "md5:abc", NULL) < 0);
	fx_done(&f);
	free(t.buf);
}

TEST(image_adv_whiteouts_and_xattrs)
{
	struct tb t = { 0 };
	struct fixture f;

	fx_init(&f);
	tb_hdr(&t, "dir/.wh.", '0', NULL, 0, 0);
	tb_end(&t);
	CHECK(unpack_tar(&f, &t) < 0);
	CHECK(msg_has(&f, "whiteout without a name"));
	free(t.buf);
	memset(&t, 0, sizeof(t));
	tb_pax(&t, "SCHILY.xattr.trusted.overlay.redirect", "/etc");
	tb_hdr(&t, "dir/", '5', NULL, 0, 0755);
	tb_end(&t);
	CHECK(unpack_tar(&f, &t) < 0);
	CHECK(msg_has(&f, "trusted.overlay"));
	free(t.buf);
	memset(&t, 0, sizeof(t));
	/* other trusted.* and security.selinux are dropped; user.* kept */
	tb_pax(&t, "SCHILY.xattr.user.note", "kept");
	tb_file(&t, "x", "1");
	tb_pax(&t, "SCHILY.xattr.trusted.other", "dropped");
	tb_file(&t, "y", "1");
	tb_end(&t);
	CHECK(unpack_tar(&f, &t) == 0);
	{
		char p[256], v[16] = { 0 };

		snprintf(p, sizeof(p), "%s/x", f.root);
		CHECK(getxattr(p, "user.note", v, sizeof(v)) == 4);
		snprintf(p, sizeof(p), "%s/y", f.root);
		CHECK(getxattr(p, "trusted.other", v, sizeof(v)) < 0);
	}
	fx_done(&f);
	free(t.buf);
}

TEST(image_adv_malformed_headers)
{
	struct tb t = { 0 };
	struct fixture f;

	fx_init(&f);
	tb_file(&t, "a", "1");
	t.buf[148] ^= 1; /* checksum */
	tb_end(&t);
	CHECK(unpack_tar(&f, &t) < 0);
	CHECK(msg_has(&f, "checksum"));
	free(t.buf);
	memset(&t, 0, sizeof(t));
	tb_hdr(&t, "sparse", 'S', NULL, 0, 0644);
	tb_end(&t);
	CHECK(unpack_tar(&f, &t) < 0);
	CHECK(msg_has(&f, "unsupported entry type 'S'"));
	free(t.buf);
	memset(&t, 0, sizeof(t));
	tb_hdr(&t, "trunc", '0', NULL, 4096, 0644);
	tb_put(&t, "abc", 3);
	CHECK(unpack_tar(&f, &t) < 0);
	CHECK(msg_has(&f, "truncated"));
	free(t.buf);
	memset(&t, 0, sizeof(t));
	tb_pax(&t, "GNU.sparse.map", "0,1");
	tb_file(&t, "s", "1");
	CHECK(unpack_tar(&f, &t) < 0);
	CHECK(count_entries(f.outside) == 0);
	fx_done(&f);
	free(t.buf);
}

/* --- pure pieces -------------------------------------------------------------------------------- */

TEST(image_tar_normalise)
{
	char out[SP_TAR_PATH_MAX + 1];
	const char *why;

	CHECK(sp_tar_normalise("/./a//b/./c/", 12, out, &why) == 0);
	CHECK_STR(out, "a/b/c");
	CHECK(sp_tar_normalise("./", 2, out, &why) == 0 && out[0] == '\0');
	CHECK(sp_tar_normalise("a/../b", 6, out, &why) < 0);
	CHECK(sp_tar_normalise("a\0b", 3, out, &why) < 0);
	CHECK(sp_tar_path_ok("a/b") && sp_tar_path_ok(""));
	CHECK(!sp_tar_path_ok("/a") && !sp_tar_path_ok("a//b") && !sp_tar_path_ok("a/./b") &&
	      !sp_tar_path_ok("a/..") && !sp_tar_path_ok("a/"));
}

/* The parser's allowance (image/confine.c): it cannot open files, write, create sockets outside
 * it, map executable memory, use an ioctl beyond the socket ones, mount, or start processes. */
TEST(image_parser_sandbox_allowance)
{
	for (int network = 0; network < 2; network++) {
		int sv[2], status;
		pid_t pid;

		REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
		pid = fork();
		REQUIRE(pid >= 0);
		if (pid == 0) {
			struct sp_err err;
			int bad = 0, fd;

			if (sp_confine_all(&sp_image_parser_confine[network], &err) < 0)
				_exit(100);
			if (mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1,
				 0) != MAP_FAILED)
				bad |= 256;
			if (ioctl(2, TCGETS, NULL) == 0 || errno != EPERM)
				bad |= 512;
			if (open("/etc/passwd", O_RDONLY) >= 0)
				bad |= 1;
			if (open("/x", O_WRONLY | O_CREAT, 0600) >= 0)
				bad |= 2;
			if (socket(AF_UNIX, SOCK_STREAM, 0) >= 0)
				bad |= 4;
			if (socket(AF_VSOCK, SOCK_STREAM, 0) >= 0)
				bad |= 8;
			fd = socket(AF_INET, SOCK_STREAM, 0);
			if ((fd >= 0) != network)
				bad |= 16;
			if (mount("none", "/", "tmpfs", 0, NULL) == 0)
				bad |= 32;
			if (getuid() == 0)
				bad |= 64;
			{
				pid_t g = fork();

				if (g == 0)
					_exit(0);
				if (g > 0)
					bad |= 128;
			}
			_exit(write(sv[1], &bad, sizeof(bad)) == sizeof(bad) ? 0 : 101);
		}
		close(sv[1]);
		{
			int bad = -1;

			CHECK(read(sv[0], &bad, sizeof(bad)) == sizeof(bad));
			if (bad)
				fprintf(stderr, "    network=%d: sandbox violation bits 0x%x\n",
					network, bad);
			CHECK(bad == 0);
		}
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
		close(sv[0]);
		if (!WIFEXITED(status) || WEXITSTATUS(status))
			fprintf(stderr, "    network=%d: status 0x%x\n", network, status);
		CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
}
