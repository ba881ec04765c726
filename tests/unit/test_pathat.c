/* lib/pathat.c and the rootfs mount point of image/store.c: the two rootfs shapes, directories
 * made without following a symlink or entering a mount, and mount ids. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "image/image.h"
#include "lib/pathat.h"
#include "unit.h"

#define K	"/run/kata-containers/"
#define DIFF_ID "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static int shape(const char *cid, const char *path)
{
	const char *rel = NULL, *why = NULL;
	int r = sp_rootfs_path_check(cid, path, &rel, &why);

	if (r < 0 && (!why || !why[0]))
		return -2; /* a refusal must say why */
	if (r > 0 && (!rel || strncmp(path, K, strlen(K)) != 0 || rel != path + strlen(K)))
		return -3;
	return r;
}

TEST(pathat_rootfs_shapes)
{
	/* The two shapes, for this container only. */
	CHECK(shape("c1", K "c1/rootfs") == SP_ROOTFS_RUN);
	CHECK(shape("c1", K "shared/containers/c1/rootfs") == SP_ROOTFS_SHARED);
	CHECK(shape("a-b_c.9", K "a-b_c.9/rootfs") == SP_ROOTFS_RUN);
	/* Not normalised: "//", ".", "..", a trailing '/'. */
	CHECK(shape("c1", K "c1/rootfs/") == -1);
	CHECK(shape("c1", "/run/kata-containers//c1/rootfs") == -1);
	CHECK(shape("c1", "//run/kata-containers/c1/rootfs") == -1);
	CHECK(shape("c1", K "c1//rootfs") == -1);
	CHECK(shape("c1", K "./c1/rootfs") == -1);
	CHECK(shape("c1", K "c1/./rootfs") == -1);
	CHECK(shape("c1", K "c1/rootfs/.") == -1);
	CHECK(shape("c1", K "x/../c1/rootfs") == -1);
	CHECK(shape("c1", K "shared/containers/../../c1/rootfs") == -1);
	CHECK(shape("c1", K "shared/containers/c1/rootfs/") == -1);
	CHECK(shape("c1", K "shared//containers/c1/rootfs") == -1);
	/* Another container's id, or one that merely starts the same. */
	CHECK(shape("c1", K "c2/rootfs") == -1);
	CHECK(shape("c1", K "shared/containers/c2/rootfs") == -1);
	CHECK(shape("c", K "c1/rootfs") == -1);
	CHECK(shape("c1", K "c/rootfs") == -1);
	CHECK(shape("c1", K "C1/rootfs") == -1);
	/* Nested inside a rootfs, or above one. */
	CHECK(shape("c1", K "c1/rootfs/usr/bin") == -1);
	CHECK(shape("c1", K "c2/rootfs/c1/rootfs") == -1);
	CHECK(shape("c1", K "shared/containers/c1/rootfs/rootfs") == -1);
	CHECK(shape("c1", K "c1") == -1);
	CHECK(shape("c1", K "shared/containers/c1") == -1);
	CHECK(shape("c1", K "shared/containers/lnk/bin") == -1);
	CHECK(shape("lnk2", K "shared/containers/lnk2") == -1);
	/* Other prefixes (runtime-rs's block rootfs, a rootless prefix, relative, elsewhere). */
	CHECK(shape("c1", K "shared/containers/passthrough/c1/rootfs") == -1);
	CHECK(shape("c1", "/run/user/0" K "c1/rootfs") == -1);
	CHECK(shape("c1", "run/kata-containers/c1/rootfs") == -1);
	CHECK(shape("c1", "/run/kata-containers-x/c1/rootfs") == -1);
	CHECK(shape("c1", "/usr/bin") == -1);
	CHECK(shape("c1", "") == -1);
	CHECK(shape("c1", NULL) == -1);
	/* An id that is not one: nothing is accepted for it. */
	CHECK(shape("..", K "../rootfs") == -1);
	CHECK(shape("a/b", K "a/b/rootfs") == -1);
	CHECK(shape("", K "/rootfs") == -1);
	CHECK(shape(NULL, K "c1/rootfs") == -1);
}

static int mkd(const char *top, const char *rel)
{
	char p[700];

	snprintf(p, sizeof(p), "%s/%s", top, rel);
	return mkdir(p, 0755);
}

static int lnk(const char *top, const char *rel, const char *target)
{
	char p[700];

	snprintf(p, sizeof(p), "%s/%s", top, rel);
	return symlink(target, p);
}

static bool is_dir(const char *top, const char *rel)
{
	char p[700];
	struct stat st;

	snprintf(p, sizeof(p), "%s/%s", top, rel);
	return lstat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int rootfs_dir(int kata, const char *cid, const char *path, struct sp_err *err)
{
	int fd = sp_image_rootfs_dir(kata, cid, path, err);

	if (fd >= 0)
		close(fd);
	return fd >= 0 ? 0 : -1;
}

TEST(pathat_mkdirs_and_rootfs_dirs)
{
	char top[] = "/tmp/sealpod-unit-pathat-XXXXXX", cmd[300];
	struct sp_err err = { 0 };
	int kata, fd;

	REQUIRE(mkdtemp(top));
	kata = open(top, O_PATH | O_DIRECTORY | O_CLOEXEC);
	REQUIRE(kata >= 0);
	fd = sp_mkdirs_at(kata, "a/b/c", 0755, O_PATH, SP_RESOLVE_STRICT_XDEV, &err);
	CHECK(fd >= 0 && is_dir(top, "a/b/c"));
	if (fd >= 0)
		close(fd);
	CHECK(sp_mkdirs_at(kata, "a/../x", 0755, O_PATH, SP_RESOLVE_STRICT, &err) < 0);
	CHECK(sp_mkdirs_at(kata, "a/./b", 0755, O_PATH, SP_RESOLVE_STRICT, &err) < 0);
	CHECK(sp_mkdirs_at(kata, "a//b", 0755, O_PATH, SP_RESOLVE_STRICT, &err) < 0);
	CHECK(sp_mkdirs_at(kata, "", 0755, O_PATH, SP_RESOLVE_STRICT, &err) < 0);
	REQUIRE(lnk(top, "a/l", "/usr") == 0);
	CHECK(sp_mkdirs_at(kata, "a/l/new", 0755, O_PATH, SP_RESOLVE_STRICT, &err) < 0 &&
	      err.errnum == ELOOP && strstr(err.msg, "symlink"));
	CHECK(access("/usr/new", F_OK) < 0);

	/* Both shapes are made where they belong. */
	CHECK(rootfs_dir(kata, "c1", K "c1/rootfs", &err) == 0 && is_dir(top, "c1/rootfs"));
	CHECK(rootfs_dir(kata, "c2", K "shared/containers/c2/rootfs", &err) == 0 &&
	      is_dir(top, "shared/containers/c2/rootfs"));
	CHECK(rootfs_dir(kata, "c2", K "shared/containers/c2/rootfs", &err) == 0); /* again */
	/* Refused shapes create nothing. */
	CHECK(rootfs_dir(kata, "c3", K "c3/rootfs/usr/bin", &err) < 0 && !is_dir(top, "c3"));
	/* The host's symlinks in the shared-files directory: in the middle (lnk -> /usr, then
	 * lnk/rootfs would be /usr/rootfs), relative to a directory of its own (u1 -> d3), or the
	 * mount point itself. */
	REQUIRE(lnk(top, "shared/containers/lnk", "/usr") == 0);
	CHECK(rootfs_dir(kata, "lnk", K "shared/containers/lnk/rootfs", &err) < 0 &&
	      err.errnum == ELOOP);
	CHECK(access("/usr/rootfs", F_OK) < 0);
	REQUIRE(mkd(top, "shared/containers/d3") == 0 &&
		lnk(top, "shared/containers/u1", "d3") == 0);
	CHECK(rootfs_dir(kata, "u1", K "shared/containers/u1/rootfs", &err) < 0 &&
	      !is_dir(top, "shared/containers/d3/rootfs"));
	REQUIRE(mkd(top, "shared/containers/c4") == 0 &&
		lnk(top, "shared/containers/c4/rootfs", top) == 0);
	CHECK(rootfs_dir(kata, "c4", K "shared/containers/c4/rootfs", &err) < 0);
	/* Not a directory. */
	REQUIRE(mkd(top, "c5") == 0);
	snprintf(cmd, sizeof(cmd), "%s/c5/rootfs", top);
	fd = open(cmd, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
	REQUIRE(fd >= 0);
	close(fd);
	CHECK(rootfs_dir(kata, "c5", K "c5/rootfs", &err) < 0);
	close(kata);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", top);
	CHECK(system(cmd) == 0);
}

/* The rest needs mounts: in a child with a mount namespace of its own, on a tmpfs (the guest's
 * /run is one). Returns the number of failed checks. */
#define EXPECT(cond)                                                                               \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "    %s:%d: EXPECT(%s) failed\n", __FILE__, __LINE__,      \
				#cond);                                                            \
			bad++;                                                                     \
		}                                                                                  \
	} while (0)

static int overlay(int kata, const char *top, const char *cid, const char *path, uint64_t *id)
{
	struct sp_pull_result res = { .n_layers = 1 };
	char diff[1][72], store[600], updir[700];
	struct sp_err err = { 0 };
	int parent, r;

	snprintf(diff[0], sizeof(diff[0]), "%s", DIFF_ID);
	res.diff_ids = diff;
	snprintf(store, sizeof(store), "%s/store", top);
	snprintf(updir, sizeof(updir), "%s/overlay/%s", top, cid);
	parent = sp_image_rootfs_dir(kata, cid, path, &err);
	if (parent < 0)
		return -1;
	r = sp_image_mount_overlay(store, &res, updir, parent, "rootfs", id, &err);
	if (r < 0)
		fprintf(stderr, "    overlay: %s\n", err.msg);
	close(parent);
	return r;
}

static int mounts_child(const char *top)
{
	char kp[600], layer[600], p[700];
	struct sp_err err = { 0 };
	uint64_t v1 = 0, u1 = 0, other = 0;
	int kata, fd, bad = 0;

	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount("tmpfs", top, "tmpfs", 0, "size=8m") < 0)
		return 100;
	snprintf(kp, sizeof(kp), "%s/kata", top);
	mkdir(kp, 0755);
	kata = open(kp, O_PATH | O_DIRECTORY | O_CLOEXEC);
	snprintf(p, sizeof(p), "%s/store", top);
	mkdir(p, 0755);
	sp_image_layer_dir(p, DIFF_ID, layer, sizeof(layer));
	mkdir(layer, 0755);
	snprintf(p, sizeof(p), "%s/from-the-image", layer);
	close(open(p, O_CREAT | O_WRONLY | O_CLOEXEC, 0644));

	/* The overlay on the mount point's fd: its id is what the path shows afterwards. */
	EXPECT(overlay(kata, top, "v1", K "v1/rootfs", &v1) == 0 && v1 != 0);
	snprintf(p, sizeof(p), "%s/v1/rootfs", kp);
	fd = sp_open_on_mount(p, v1, &err);
	EXPECT(fd >= 0 && sp_is_mount_root(fd) && faccessat(fd, "from-the-image", F_OK, 0) == 0);
	if (fd >= 0)
		close(fd);
	EXPECT(sp_open_on_mount(p, v1 + 1, &err) < 0 && strstr(err.msg, "not the mount"));
	EXPECT(sp_open_on_mount(kp, v1, &err) < 0);
	EXPECT(sp_path_mount_id(kp, &other, &err) == 0 && other != v1);
	/* A mount point that holds a mount already is refused: nothing stacks on a rootfs. */
	EXPECT(overlay(kata, top, "v1", K "v1/rootfs", &other) < 0);
	/* So is one beneath a mount (the walk never crosses one), the shared prefix included. */
	snprintf(p, sizeof(p), "%s/shared", kp);
	mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/shared/containers", kp);
	mkdir(p, 0755);
	mount("tmpfs", p, "tmpfs", 0, "size=1m");
	EXPECT(sp_image_rootfs_dir(kata, "w1", K "shared/containers/w1/rootfs", &err) < 0 &&
	       err.errnum == EXDEV);
	umount2(p, MNT_DETACH);
	EXPECT(overlay(kata, top, "w1", K "shared/containers/w1/rootfs", &u1) == 0);
	/* The release path: a mount point re-pointed through a symlink is never followed, even to
	 * a mount with the right id; the mount itself is detached through an fd on it. */
	snprintf(p, sizeof(p), "%s/shared/containers/lnk", kp);
	symlink("../../v1", p);
	snprintf(p, sizeof(p), "%s/shared/containers/lnk/rootfs", kp);
	EXPECT(sp_open_on_mount(p, v1, &err) < 0 && err.errnum == ELOOP);
	snprintf(p, sizeof(p), "%s/v1/rootfs", kp);
	fd = sp_open_on_mount(p, v1, &err);
	EXPECT(fd >= 0);
	if (fd >= 0) {
		char fp[32];

		snprintf(fp, sizeof(fp), "/proc/self/fd/%d", fd);
		EXPECT(umount2(fp, MNT_DETACH) == 0);
		close(fd);
	}
	fd = open(p, O_PATH | O_DIRECTORY | O_CLOEXEC);
	EXPECT(fd >= 0 && !sp_is_mount_root(fd));
	if (fd >= 0)
		close(fd);
	snprintf(p, sizeof(p), "%s/shared/containers/w1/rootfs", kp);
	EXPECT(sp_open_on_mount(p, u1, &err) >= 0); /* untouched */
	close(kata);
	return bad;
}

TEST(pathat_overlay_on_the_mount_point_fd)
{
	char top[] = "/tmp/sealpod-unit-mnt-XXXXXX", cmd[300];
	int st = -1;
	pid_t pid;

	if (geteuid() != 0)
		SKIP("needs root");
	REQUIRE(mkdtemp(top));
	pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0)
		_exit(unshare(CLONE_NEWNS) < 0 ? 99 : mounts_child(top));
	CHECK(waitpid(pid, &st, 0) == pid);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", top);
	CHECK(system(cmd) == 0);
	if (WIFEXITED(st) && WEXITSTATUS(st) == 99)
		SKIP("no mount namespaces here");
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}
