/* Storage.fs_group applied as Kata's set_ownership (storage/fsgroup.c) on a scratch tree: group and
 * g+rw (g+r when read-only) on files, g+rwx and set-group-id on directories, recursively; symbolic
 * links neither changed nor followed; OnRootMismatch leaves a root that already matches alone. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "storage/storage_int.h"
#include "unit.h"

#define GID 2000

struct tree {
	char top[64];
	char outside[64];
};

static void mk(const char *top, const char *rel, bool dir)
{
	char p[256];
	int fd;

	snprintf(p, sizeof(p), "%s/%s", top, rel);
	if (dir) {
		(void)mkdir(p, 0755);
		return;
	}
	fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd >= 0)
		close(fd);
}

static struct stat at(const char *top, const char *rel)
{
	struct stat st = { 0 };
	char p[256];

	snprintf(p, sizeof(p), "%s/%s", top, rel);
	(void)lstat(p, &st);
	return st;
}

static int apply(const char *top, bool ro, bool mismatch, bool *changed)
{
	struct sp_err err;
	int fd = open(top, O_RDONLY | O_DIRECTORY | O_CLOEXEC), r;

	if (fd < 0)
		return -1;
	r = sp_fs_group_apply(fd, GID, ro, mismatch, changed, &err);
	close(fd);
	return r;
}

static void cleanup_tree(const char *top)
{
	char cmd[160];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", top);
	(void)system(cmd);
}

TEST(storage_fs_group_recursive)
{
	char top[] = "/tmp/sealpod-unit-fsgroup-XXXXXX", out[] = "/tmp/sealpod-unit-fsout-XXXXXX";
	char p[256], l[256];
	bool changed;
	struct stat st;

	if (geteuid() != 0)
		SKIP("chgrp to another group needs root");
	REQUIRE(mkdtemp(top) && mkdtemp(out));
	REQUIRE(chmod(top, 0755) == 0);
	mk(top, "lost+found", true);
	mk(top, "a", true);
	mk(top, "a/b", true);
	mk(top, "a/b/file", false);
	mk(top, "top-file", false);
	mk(out, "victim", false);
	snprintf(p, sizeof(p), "%s/victim", out);
	snprintf(l, sizeof(l), "%s/a/link", top);
	REQUIRE(symlink(p, l) == 0);
	snprintf(l, sizeof(l), "%s/dirlink", top);
	REQUIRE(symlink(out, l) == 0);

	REQUIRE(apply(top, false, false, &changed) == 0);
	CHECK(changed);
	st = at(top, ".");
	CHECK(st.st_gid == GID && (st.st_mode & 07777) == 02775);
	st = at(top, "a/b");
	CHECK(st.st_gid == GID && (st.st_mode & 07777) == 02775);
	st = at(top, "lost+found");
	CHECK(st.st_gid == GID && (st.st_mode & 02070) == 02070);
	st = at(top, "a/b/file");
	CHECK(st.st_gid == GID && (st.st_mode & 07777) == 0664);
	st = at(top, "top-file");
	CHECK(st.st_gid == GID && (st.st_mode & 07777) == 0664);
	/* The links and what they point at are untouched. */
	st = at(top, "a/link");
	CHECK(S_ISLNK(st.st_mode) && st.st_gid == 0);
	st = at(out, "victim");
	CHECK(st.st_gid == 0 && (st.st_mode & 07777) == 0644);
	st = at(out, ".");
	CHECK(st.st_gid == 0 && !(st.st_mode & S_ISGID));

	/* OnRootMismatch: the root matches, nothing changes (a file reset stays reset). */
	snprintf(p, sizeof(p), "%s/top-file", top);
	REQUIRE(chown(p, 0, 0) == 0 && chmod(p, 0600) == 0);
	REQUIRE(apply(top, false, true, &changed) == 0);
	CHECK(!changed);
	CHECK(at(top, "top-file").st_gid == 0);
	/* Always: it does. Read-only: g+r on files, no g+w added. */
	REQUIRE(apply(top, true, false, &changed) == 0);
	CHECK(changed);
	st = at(top, "top-file");
	CHECK(st.st_gid == GID && (st.st_mode & 07777) == 0640);
	/* OnRootMismatch with a root of another group: applied. */
	REQUIRE(chown(top, 0, 0) == 0);
	REQUIRE(apply(top, false, true, &changed) == 0);
	CHECK(changed && at(top, ".").st_gid == GID);
	cleanup_tree(top);
	cleanup_tree(out);
}
