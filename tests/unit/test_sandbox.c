/* The sandbox handlers (init/sandbox/): resolv.conf and host name checks, OnlineCPUMem against a
 * fake sysfs, CopyFile in a temporary directory (chunks, planted symlinks, modes), and the
 * handlers through the dispatch path with the files redirected beneath a temporary root. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sched.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/gate.h"
#include "agent/service.h"
#include "agent/ttrpc.h"
#include "lib/validate.h"
#include "sandbox/sandbox.h"
#include "storage/storage.h"
#include "agent.pb-c.h"
#include "ttrpc.pb-c.h"
#include "agent_call.h"
#include "hooks/hooks.h"
#include "unit.h"

static int call(const char *method, const ProtobufCMessage *m, char *msg, size_t size)
{
	Ttrpc__Response *r = unit_agent_call(method, m);
	int code = r ? (r->status ? r->status->code : 0) : -1;

	if (msg && size)
		snprintf(msg, size, "%s", r && r->status ? r->status->message : "");
	if (r)
		ttrpc__response__free_unpacked(r, NULL);
	return code;
}

static void put(const char *dir, const char *rel, const char *content)
{
	char p[512];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", dir, rel);
	f = fopen(p, "w");
	if (f) {
		fputs(content, f);
		fclose(f);
	}
}

static int get(const char *dir, const char *rel, char *buf, size_t size)
{
	char p[512];
	FILE *f;
	size_t n;

	snprintf(p, sizeof(p), "%s/%s", dir, rel);
	f = fopen(p, "r");
	if (!f)
		return -1;
	n = fread(buf, 1, size - 1, f);
	buf[n] = '\0';
	fclose(f);
	return (int)n;
}

static void mkdirs(const char *dir, const char *rel)
{
	char p[512];

	snprintf(p, sizeof(p), "%s/%s", dir, rel);
	for (char *s = p + strlen(dir) + 1; *s; s++)
		if (*s == '/') {
			*s = '\0';
			mkdir(p, 0755);
			*s = '/';
		}
	mkdir(p, 0755);
}

static void rm_rf(const char *path)
{
	char cmd[600];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
	if (system(cmd) != 0)
		fprintf(stderr, "    could not remove %s\n", path);
}

static mode_t mode_of(const char *dir, const char *rel)
{
	char p[512];
	struct stat st;

	snprintf(p, sizeof(p), "%s/%s", dir, rel);
	return lstat(p, &st) == 0 ? st.st_mode : 0;
}

TEST(sandbox_hostname_validation)
{
	CHECK(sp_valid_hostname("web-1", 5));
	CHECK(sp_valid_hostname("a.b-c.d", 7));
	CHECK(!sp_valid_hostname("", 0));
	CHECK(!sp_valid_hostname("-web", 4));
	CHECK(!sp_valid_hostname("web-", 4));
	CHECK(!sp_valid_hostname("a..b", 4));
	CHECK(!sp_valid_hostname("a_b", 3));
	CHECK(!sp_valid_hostname("a b", 3));
	CHECK(!sp_valid_hostname("a\nb", 3));
	CHECK(!sp_valid_hostname("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
				 "a",
				 65));
}

TEST(sandbox_resolv_conf)
{
	char *good[] = { "search default.svc.cluster.local svc.cluster.local",
			 "nameserver 10.96.0.10",
			 "",
			 "# comment",
			 "options ndots:5 timeout:2",
			 "nameserver\tfe80::1%eth0" };
	char *bad[][1] = { { "domain example.com" },
			   { "nameserver 1.2.3.4 5.6.7.8" },
			   { "nameserver evil;rm" },
			   { "nameserver 1.2.3.4\x01" },
			   { "search a$b" },
			   { "options" },
			   { "nameserver 1.2.3.4%eth0" },
			   { "search caf\xc3\xa9" } };
	char *many[SP_RESOLV_MAX_LINES + 1];
	char out[SP_RESOLV_MAX_BYTES + 1];
	struct sp_err err;
	size_t len;

	REQUIRE(sp_resolv_conf_build(good, 6, out, sizeof(out), &len, &err) == 0);
	CHECK_STR(out, "search default.svc.cluster.local svc.cluster.local\n"
		       "nameserver 10.96.0.10\n"
		       "options ndots:5 timeout:2\n"
		       "nameserver fe80::1%eth0\n");
	CHECK(len == strlen(out));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK(sp_resolv_conf_build(bad[i], 1, out, sizeof(out), &len, &err) < 0);
		CHECK(strstr(err.msg, "dns line 0") == err.msg);
		CHECK(!strchr(err.msg, '\x01'));
	}
	for (size_t i = 0; i < SP_RESOLV_MAX_LINES + 1; i++)
		many[i] = "nameserver 1.1.1.1";
	CHECK(sp_resolv_conf_build(many, SP_RESOLV_MAX_LINES + 1, out, sizeof(out), &len, &err) <
	      0);
	CHECK(sp_resolv_conf_build(NULL, 0, out, sizeof(out), &len, &err) == 0 && len == 0);
}

TEST(sandbox_online_cpu_mem_fake_sysfs)
{
	char root[] = "/tmp/sealpod-unit-sysfs-XXXXXX", buf[8];
	unsigned cpus, mems;
	struct sp_err err;

	REQUIRE(mkdtemp(root));
	mkdirs(root, "devices/system/cpu/cpu0"); /* the boot CPU has no online file */
	mkdirs(root, "devices/system/cpu/cpu1");
	mkdirs(root, "devices/system/cpu/cpu2");
	mkdirs(root, "devices/system/cpu/cpu10");
	mkdirs(root, "devices/system/cpu/cpufreq");
	mkdirs(root, "devices/system/memory/memory0");
	mkdirs(root, "devices/system/memory/memory1");
	put(root, "devices/system/cpu/cpu1/online", "1\n");
	put(root, "devices/system/cpu/cpu2/online", "0\n");
	put(root, "devices/system/cpu/cpu10/online", "0\n");
	put(root, "devices/system/memory/memory0/online", "1\n");
	put(root, "devices/system/memory/memory1/online", "0\n");

	REQUIRE(sp_online_cpu_mem(root, 1, true, &cpus, &mems, &err) == 0);
	CHECK(cpus == 1 && mems == 0);
	CHECK(get(root, "devices/system/cpu/cpu2/online", buf, sizeof(buf)) > 0 && buf[0] == '1');
	CHECK(get(root, "devices/system/cpu/cpu10/online", buf, sizeof(buf)) > 0 && buf[0] == '0');
	CHECK(get(root, "devices/system/memory/memory1/online", buf, sizeof(buf)) > 0 &&
	      buf[0] == '0');
	/* nb_cpus 0: no CPU; cpu_only false: every memory block. */
	REQUIRE(sp_online_cpu_mem(root, 0, false, &cpus, &mems, &err) == 0);
	CHECK(cpus == 0 && mems == 1);
	CHECK(get(root, "devices/system/memory/memory1/online", buf, sizeof(buf)) > 0 &&
	      buf[0] == '1');
	REQUIRE(sp_online_cpu_mem(root, 8, false, &cpus, &mems, &err) == 0);
	CHECK(cpus == 1 && mems == 0);
	rm_rf(root);
	/* No sysfs at all: nothing to do, no error. */
	CHECK(sp_online_cpu_mem(root, 4, false, &cpus, &mems, &err) == 0 && cpus == 0 && mems == 0);
}

/* A CopyFile request beneath dirfd. */
static int copy(int dirfd, const char *rest, uint32_t mode, int64_t size, int64_t off,
		const char *data, bool *stripped, struct sp_err *err)
{
	Grpc__CopyFileRequest r = GRPC__COPY_FILE_REQUEST__INIT;

	r.file_mode = mode;
	r.dir_mode = S_IFDIR | 0750;
	r.file_size = size;
	r.offset = off;
	r.uid = -1;
	r.gid = -1;
	r.data.data = (uint8_t *)data;
	r.data.len = data ? strlen(data) : 0;
	return sp_copy_file_at(dirfd, rest, &r, false, stripped, err);
}

static size_t entries(const char *dir)
{
	DIR *d = opendir(dir);
	size_t n = 0;
	struct dirent *e;

	while (d && (e = readdir(d)))
		n += e->d_name[0] != '.' || (e->d_name[1] && strcmp(e->d_name, "..") != 0);
	if (d)
		closedir(d);
	return n;
}

TEST(sandbox_copy_file_at)
{
	char top[] = "/tmp/sealpod-unit-copy-XXXXXX", shared[600], outside[600], buf[64], p[700];
	bool stripped;
	struct sp_err err;
	int dfd;

	REQUIRE(mkdtemp(top));
	snprintf(shared, sizeof(shared), "%s/shared", top);
	snprintf(outside, sizeof(outside), "%s/outside", top);
	REQUIRE(mkdir(shared, 0755) == 0 && mkdir(outside, 0755) == 0);
	put(outside, "secret", "keep");
	dfd = open(shared, O_PATH | O_DIRECTORY | O_CLOEXEC);
	REQUIRE(dfd >= 0);

	/* Chunked regular file: nothing at the target until the last chunk, then renamed in. */
	CHECK(copy(dfd, "cid-1/conf/app.conf", S_IFREG | 0644, 10, 0, "0123", &stripped, &err) ==
	      0);
	CHECK(get(shared, "cid-1/conf/app.conf", buf, sizeof(buf)) < 0);
	CHECK(copy(dfd, "cid-1/conf/app.conf", S_IFREG | 0644, 10, 4, "456789", &stripped, &err) ==
	      0);
	CHECK(get(shared, "cid-1/conf/app.conf", buf, sizeof(buf)) == 10);
	CHECK_STR(buf, "0123456789");
	CHECK((mode_of(shared, "cid-1/conf/app.conf") & 07777) == 0644);
	CHECK((mode_of(shared, "cid-1/conf") & 07777) == 0750);
	snprintf(p, sizeof(p), "%s/cid-1/conf", shared);
	CHECK(entries(p) == 1); /* the temporary is gone */
	/* An empty file is one request. */
	CHECK(copy(dfd, "cid-1/empty", S_IFREG | 0600, 0, 0, NULL, &stripped, &err) == 0);
	CHECK(get(shared, "cid-1/empty", buf, sizeof(buf)) == 0);
	/* Chunks out of order, past the end, or over the limit. */
	CHECK(FAILS_AS(copy(dfd, "cid-1/x", S_IFREG | 0644, 10, 4, "4567", &stripped, &err), err,
		       SP_E_INVALID));
	CHECK(copy(dfd, "cid-1/x", S_IFREG | 0644, 10, 0, "0123", &stripped, &err) == 0);
	CHECK(FAILS_AS(copy(dfd, "cid-1/x", S_IFREG | 0644, 10, 6, "6789", &stripped, &err), err,
		       SP_E_INVALID));
	CHECK(FAILS_AS(copy(dfd, "cid-1/x", S_IFREG | 0644, 3, 0, "0123", &stripped, &err), err,
		       SP_E_INVALID));
	CHECK(FAILS_AS(copy(dfd, "cid-1/big", S_IFREG | 0644, SP_COPY_MAX_FILE + 1, 0, "0",
			    &stripped, &err),
		       err, SP_E_EXHAUSTED));

	/* A planted symlink in the path: refused, nothing written outside. */
	snprintf(p, sizeof(p), "%s/cid-1/evil", shared);
	REQUIRE(symlink(outside, p) == 0);
	CHECK(FAILS_AS(copy(dfd, "cid-1/evil/secret", S_IFREG | 0644, 3, 0, "bad", &stripped, &err),
		       err, SP_E_INVALID));
	CHECK(FAILS_AS(copy(dfd, "cid-1/evil/new/file", S_IFREG | 0644, 3, 0, "bad", &stripped,
			    &err),
		       err, SP_E_INVALID));
	CHECK(FAILS_AS(copy(dfd, "cid-1/evil/d", S_IFDIR | 0755, 0, 0, NULL, &stripped, &err), err,
		       SP_E_INVALID));
	CHECK(get(outside, "secret", buf, sizeof(buf)) == 4 && strcmp(buf, "keep") == 0);
	CHECK(entries(outside) == 1);
	/* A symlink as the target is replaced, never written through. */
	{
		char q[700];

		snprintf(p, sizeof(p), "%s/outside/secret", top);
		snprintf(q, sizeof(q), "%s/cid-1/leaf", shared);
		REQUIRE(symlink(p, q) == 0);
	}
	CHECK(copy(dfd, "cid-1/leaf", S_IFREG | 0644, 3, 0, "new", &stripped, &err) == 0);
	CHECK(S_ISREG(mode_of(shared, "cid-1/leaf")));
	CHECK(get(outside, "secret", buf, sizeof(buf)) == 4 && strcmp(buf, "keep") == 0);
	/* An absolute symlink to the shared dir's parent, or "..": still beneath. */
	CHECK(copy(dfd, "../outside/secret", S_IFREG | 0644, 3, 0, "bad", &stripped, &err) < 0);
	CHECK(get(outside, "secret", buf, sizeof(buf)) == 4 && strcmp(buf, "keep") == 0);

	/* Set-id and sticky bits are dropped; device nodes, FIFOs and sockets refused. */
	CHECK(copy(dfd, "cid-1/suid", S_IFREG | 06755, 1, 0, "x", &stripped, &err) == 0);
	CHECK(stripped && (mode_of(shared, "cid-1/suid") & 07777) == 0755);
	CHECK(copy(dfd, "cid-1/sticky", S_IFDIR | 01777, 0, 0, NULL, &stripped, &err) == 0);
	CHECK(stripped && (mode_of(shared, "cid-1/sticky") & 07777) == 0777);
	CHECK(copy(dfd, "cid-1/plain", S_IFREG | 0640, 1, 0, "x", &stripped, &err) == 0 &&
	      !stripped);
	CHECK(FAILS_AS(copy(dfd, "cid-1/dev", S_IFCHR | 0666, 0, 0, NULL, &stripped, &err), err,
		       SP_E_INVALID));
	CHECK(FAILS_AS(copy(dfd, "cid-1/blk", S_IFBLK | 0666, 0, 0, NULL, &stripped, &err), err,
		       SP_E_INVALID));
	CHECK(FAILS_AS(copy(dfd, "cid-1/fifo", S_IFIFO | 0666, 0, 0, NULL, &stripped, &err), err,
		       SP_E_INVALID));
	CHECK(FAILS_AS(copy(dfd, "cid-1/sock", S_IFSOCK | 0666, 0, 0, NULL, &stripped, &err), err,
		       SP_E_INVALID));
	CHECK(mode_of(shared, "cid-1/dev") == 0 && mode_of(shared, "cid-1/fifo") == 0);

	/* Directories and symlinks as Kata sends them (a ConfigMap's ..data layout). */
	CHECK(copy(dfd, "cid-1/cm/..2024_01_01", S_IFDIR | 0755, 0, 0, NULL, &stripped, &err) == 0);
	CHECK(S_ISDIR(mode_of(shared, "cid-1/cm/..2024_01_01")));
	CHECK(copy(dfd, "cid-1/cm/..data", S_IFLNK | 0777, 13, 0, "..2024_01_01", &stripped,
		   &err) == 0);
	CHECK(copy(dfd, "cid-1/cm/key", S_IFLNK | 0777, 12, 0, "..data/key", &stripped, &err) == 0);
	snprintf(p, sizeof(p), "%s/cid-1/cm/key", shared);
	CHECK(readlink(p, buf, sizeof(buf)) == 10 && memcmp(buf, "..data/key", 10) == 0);
	/* Replacing a symlink works; a file over a directory does not. */
	CHECK(copy(dfd, "cid-1/cm/key", S_IFLNK | 0777, 12, 0, "..data/other", &stripped, &err) ==
	      0);
	CHECK(readlink(p, buf, sizeof(buf)) == 12 && memcmp(buf, "..data/other", 12) == 0);
	CHECK(copy(dfd, "cid-1/cm/..2024_01_01", S_IFREG | 0644, 1, 0, "x", &stripped, &err) < 0);
	/* Writing beneath a symlink Kata itself created is refused too: never followed. */
	CHECK(FAILS_AS(copy(dfd, "cid-1/cm/..data/key", S_IFREG | 0644, 1, 0, "x", &stripped, &err),
		       err, SP_E_INVALID));
	CHECK(FAILS_AS(copy(dfd, "cid-1/cm/empty-link", S_IFLNK | 0777, 0, 0, NULL, &stripped,
			    &err),
		       err, SP_E_INVALID));
	/* A directory over an existing file. */
	CHECK(FAILS_AS(copy(dfd, "cid-1/plain", S_IFDIR | 0755, 0, 0, NULL, &stripped, &err), err,
		       SP_E_INVALID));

	close(dfd);
	rm_rf(top);
}

/* A symlink CopyFile makes at rest with target: 0, or the refusal (whose message names the
 * symlink), with nothing created. */
static int link_at(int dfd, const char *shared, const char *rest, const char *target)
{
	struct sp_err err = { 0 };
	bool stripped;
	char p[700], buf[8];
	int r = copy(dfd, rest, S_IFLNK | 0777, (int64_t)strlen(target), 0, target, &stripped,
		     &err);

	snprintf(p, sizeof(p), "%s/%s", shared, rest);
	if (r == 0)
		return 0;
	if (err.kind != SP_E_INVALID || !strstr(err.msg, "symlink") ||
	    readlink(p, buf, sizeof(buf)) >= 0)
		return 1; /* refused without saying why, or refused and made anyway */
	return -1;
}

TEST(sandbox_copy_file_symlink_targets_stay_inside)
{
	char top[] = "/tmp/sealpod-unit-links-XXXXXX", shared[600];
	int dfd;

	REQUIRE(mkdtemp(top));
	snprintf(shared, sizeof(shared), "%s/shared", top);
	REQUIRE(mkdir(shared, 0755) == 0);
	dfd = open(shared, O_PATH | O_DIRECTORY | O_CLOEXEC);
	REQUIRE(dfd >= 0);
	/* kubelet's atomic-writer layout, as both shims copy it. */
	CHECK(link_at(dfd, shared, "c-1-app/..data", "..2024_01_01_00_00_00.1") == 0);
	CHECK(link_at(dfd, shared, "c-1-app/key", "..data/key") == 0);
	CHECK(link_at(dfd, shared, "c-1-app/sub", "..data/sub/dir") == 0);
	CHECK(link_at(dfd, shared, "c-1-app/dot", "./..data//key") == 0);
	/* Climbing, but never above the shared-files directory. */
	CHECK(link_at(dfd, shared, "c-1-app/up", "..") == 0);
	CHECK(link_at(dfd, shared, "c-1-app/d/up2", "../../c-1-app/key") == 0);
	CHECK(link_at(dfd, shared, "top", "c-1-app/key") == 0);
	/* Absolute, or out of the directory. */
	CHECK(link_at(dfd, shared, "esc", "/etc") == -1);
	CHECK(link_at(dfd, shared, "c-1-app/abs", "/run/kata-containers/shared/containers/x") ==
	      -1);
	CHECK(link_at(dfd, shared, "esc2", "..") == -1);
	CHECK(link_at(dfd, shared, "esc3", "../shared/x") == -1);
	CHECK(link_at(dfd, shared, "c-1-app/esc4", "../../etc") == -1);
	CHECK(link_at(dfd, shared, "c-1-app/d/esc5", "../../../x") == -1);
	/* A ".." after a name climbs from wherever that name leads: "up" above is "..", so
	 * "up/../.." would be two levels above c-1-app although it reads as one. */
	CHECK(link_at(dfd, shared, "c-1-app/esc6", "up/../..") == -1);
	CHECK(link_at(dfd, shared, "c-1-app/esc7", "..data/../key") == -1);
	close(dfd);
	rm_rf(top);
}

/* Run as a child in its own mount namespace: CopyFile refuses to enter a mount beneath the
 * shared-files directory (a container's rootfs at <cid>/rootfs) or to replace one. */
static int copy_into_mount_child(const char *shared)
{
	struct sp_err err = { 0 };
	bool stripped;
	char p[700], buf[16];
	int dfd, bad = 0;

	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return 100;
	snprintf(p, sizeof(p), "%s/w1/rootfs", shared);
	if (mount("tmpfs", p, "tmpfs", 0, "size=1m") < 0)
		return 101;
	put(p, "bin-sh", "busybox");
	dfd = open(shared, O_PATH | O_DIRECTORY | O_CLOEXEC);
	bad += !FAILS_AS(copy(dfd, "w1/rootfs/bin-sh", S_IFREG | 0755, 4, 0, "host", &stripped,
			      &err),
			 err, SP_E_INVALID);
	bad += !strstr(err.msg, "mount point");
	bad += !FAILS_AS(copy(dfd, "w1/rootfs/new/file", S_IFREG | 0644, 1, 0, "x", &stripped,
			      &err),
			 err, SP_E_INVALID);
	bad += !FAILS_AS(copy(dfd, "w1/rootfs", S_IFDIR | 0755, 0, 0, NULL, &stripped, &err), err,
			 SP_E_INVALID);
	bad += !FAILS_AS(copy(dfd, "w1/rootfs", S_IFREG | 0644, 1, 0, "x", &stripped, &err), err,
			 SP_E_INVALID);
	bad += !FAILS_AS(copy(dfd, "w1/rootfs", S_IFLNK | 0777, 1, 0, "x", &stripped, &err), err,
			 SP_E_INVALID);
	bad += get(p, "bin-sh", buf, sizeof(buf)) != 7 || strcmp(buf, "busybox") != 0;
	/* Beside the mount, the directory works as before. */
	bad += copy(dfd, "w1/hosts", S_IFREG | 0644, 1, 0, "x", &stripped, &err) != 0;
	close(dfd);
	umount2(p, MNT_DETACH);
	return bad;
}

TEST(sandbox_copy_file_never_enters_a_mount)
{
	char top[] = "/tmp/sealpod-unit-xdev-XXXXXX", shared[600], p[700];
	int st = -1;
	pid_t pid;

	if (geteuid() != 0)
		SKIP("needs root");
	REQUIRE(mkdtemp(top));
	snprintf(shared, sizeof(shared), "%s/shared", top);
	snprintf(p, sizeof(p), "%s/w1/rootfs", shared);
	REQUIRE(mkdir(shared, 0755) == 0);
	snprintf(p, sizeof(p), "%s/w1", shared);
	REQUIRE(mkdir(p, 0755) == 0);
	snprintf(p, sizeof(p), "%s/w1/rootfs", shared);
	REQUIRE(mkdir(p, 0755) == 0);
	pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0)
		_exit(unshare(CLONE_NEWNS) < 0 ? 99 : copy_into_mount_child(shared));
	CHECK(waitpid(pid, &st, 0) == pid);
	rm_rf(top);
	if (WIFEXITED(st) && WEXITSTATUS(st) == 99)
		SKIP("no mount namespaces here");
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static int destroyed;
static void count_destroy(void)
{
	destroyed++;
}

TEST(sandbox_handlers_through_dispatch)
{
	char root[] = "/tmp/sealpod-unit-root-XXXXXX", msg[256], buf[512], p[700];
	char *dns[] = { "nameserver 10.0.2.3", "search example.test" }, *bad_dns[] = { "x y" };
	Grpc__CreateSandboxRequest cs = GRPC__CREATE_SANDBOX_REQUEST__INIT;
	Grpc__DestroySandboxRequest ds = GRPC__DESTROY_SANDBOX_REQUEST__INIT;
	Grpc__OnlineCPUMemRequest oc = GRPC__ONLINE_CPUMEM_REQUEST__INIT;
	Grpc__CopyFileRequest cf = GRPC__COPY_FILE_REQUEST__INIT;
	Grpc__GetDiagnosticDataRequest gd = GRPC__GET_DIAGNOSTIC_DATA_REQUEST__INIT;
	Grpc__Storage st = GRPC__STORAGE__INIT, *stp = &st;
	char *shm_opts[] = { "noexec", "nosuid", "nodev", "mode=1777", "size=67108864" };
	char *shm_bad[] = { "huge=always" };

	REQUIRE(mkdtemp(root));
	sp_agent_gate_reset();
	sp_sandbox_reset();
	/* Without a root, off PID 1, nothing is written. */
	sp_sandbox_set_root(NULL);
	if (!getenv("SEALPOD_HOST_ROOT")) {
		CHECK(call("OnlineCPUMem", &oc.base, msg, sizeof(msg)) == TT_FAILED_PRECONDITION);
		cs.sandbox_id = "sb1";
		CHECK(call("CreateSandbox", &cs.base, msg, sizeof(msg)) == TT_FAILED_PRECONDITION);
	}
	sp_sandbox_set_root(root);

	/* CreateSandbox: refusals leave nothing behind. */
	cs.sandbox_id = "../x";
	CHECK(call("CreateSandbox", &cs.base, msg, sizeof(msg)) == TT_INVALID_ARGUMENT);
	cs.sandbox_id = "sb1";
	cs.hostname = "bad_host";
	CHECK(call("CreateSandbox", &cs.base, msg, sizeof(msg)) == TT_INVALID_ARGUMENT);
	cs.hostname = "pod-1";
	cs.dns = bad_dns;
	cs.n_dns = 1;
	CHECK(call("CreateSandbox", &cs.base, msg, sizeof(msg)) == TT_INVALID_ARGUMENT);
	CHECK(strstr(msg, "dns line 0 'x y'") != NULL);
	st.driver = "virtio-fs";
	cs.storages = &stp;
	cs.n_storages = 1;
	cs.dns = dns;
	cs.n_dns = 2;
	CHECK(call("CreateSandbox", &cs.base, msg, sizeof(msg)) == TT_UNIMPLEMENTED);
	CHECK_STR(msg, "CreateSandbox: storage driver 'virtio-fs' is not supported");
	CHECK(get(root, "run/sealpod/resolv.conf", buf, sizeof(buf)) < 0);
	CHECK(!sp_sandbox_created());
	/* The shims' shm storage: another ephemeral source, an unknown option, another mount
	 * point are refused by name; the shim's own is accepted (off PID 1 only its directory is
	 * made: the guest test mounts it). */
	st.driver = "ephemeral";
	st.source = "data";
	st.fstype = "tmpfs";
	st.mount_point = SP_SANDBOX_SHM;
	CHECK(call("CreateSandbox", &cs.base, msg, sizeof(msg)) == TT_UNIMPLEMENTED);
	CHECK(strstr(msg, "ephemeral storage 'data' is not supported") != NULL);
	st.source = "shm";
	st.options = shm_bad;
	st.n_options = 1;
	CHECK(call("CreateSandbox", &cs.base, msg, sizeof(msg)) == TT_INVALID_ARGUMENT);
	CHECK(strstr(msg, "option 'huge=always' is not supported") != NULL);
	st.options = shm_opts;
	st.n_options = 5;
	st.mount_point = "/run/kata-containers/sandbox/shm2";
	CHECK(call("CreateSandbox", &cs.base, msg, sizeof(msg)) == TT_INVALID_ARGUMENT);
	CHECK(!sp_sandbox_created());
	st.mount_point = SP_SANDBOX_SHM;
	/* Accepted once; a second is ALREADY_EXISTS. */
	cs.sandbox_pidns = true;
	CHECK(call("CreateSandbox", &cs.base, msg, sizeof(msg)) == TT_OK);
	CHECK(get(root, "run/sealpod/resolv.conf", buf, sizeof(buf)) > 0);
	CHECK_STR(buf, "nameserver 10.0.2.3\nsearch example.test\n");
	CHECK(sp_sandbox_created() && sp_sandbox_pidns());
	CHECK_STR(sp_sandbox_id(), "sb1");
	{
		struct stat sst;

		snprintf(p, sizeof(p), "%s" SP_SANDBOX_SHM, root);
		CHECK(lstat(p, &sst) == 0 && S_ISDIR(sst.st_mode));
	}
	CHECK(call("CreateSandbox", &cs.base, msg, sizeof(msg)) == 6 /* ALREADY_EXISTS */);

	/* OnlineCPUMem with no sysfs beneath the root: OK, nothing to do. */
	oc.nb_cpus = 2;
	CHECK(call("OnlineCPUMem", &oc.base, msg, sizeof(msg)) == TT_OK);

	/* CopyFile: inside the prefix; outside (policy); through a planted symlink (handler). */
	cf.path = SP_SHARED_PREFIX "sb1-0123456789abcdef-hosts";
	cf.file_mode = S_IFREG | 0644;
	cf.file_size = 9;
	cf.data.data = (uint8_t *)"127.0.0.1";
	cf.data.len = 9;
	CHECK(call("CopyFile", &cf.base, msg, sizeof(msg)) == TT_OK);
	snprintf(p, sizeof(p), "run/kata-containers/shared/containers/sb1-0123456789abcdef-hosts");
	CHECK(get(root, p, buf, sizeof(buf)) == 9);
	cf.path = "/run/kata-containers/shared/../../../etc/passwd";
	CHECK(call("CopyFile", &cf.base, msg, sizeof(msg)) == TT_PERMISSION_DENIED);
	cf.path = "/etc/passwd";
	CHECK(call("CopyFile", &cf.base, msg, sizeof(msg)) == TT_PERMISSION_DENIED);
	snprintf(p, sizeof(p), "%s/run/kata-containers/shared/containers/link", root);
	REQUIRE(symlink("/tmp", p) == 0);
	cf.path = SP_SHARED_PREFIX "link/sealpod-unit-should-not-exist";
	CHECK(call("CopyFile", &cf.base, msg, sizeof(msg)) == TT_INVALID_ARGUMENT);
	CHECK(access("/tmp/sealpod-unit-should-not-exist", F_OK) < 0);

	/* GetDiagnosticData: allowed by the default policy (both shims send it at every container
	 * stop), no such container yet; under a policy that denies it, denied. */
	gd.container_id = "c1";
	gd.log_type = "termination_log";
	CHECK(call("GetDiagnosticData", &gd.base, msg, sizeof(msg)) == TT_NOT_FOUND);
	gd.container_id = "../c1";
	CHECK(call("GetDiagnosticData", &gd.base, msg, sizeof(msg)) == TT_INVALID_ARGUMENT);
	{
		struct sp_policy *pol;
		struct sp_err err;
		const char *doc = "package agent_policy\ndefault GetDiagnosticDataRequest := "
				  "false\n";

		REQUIRE(sp_policy_load(doc, strlen(doc), &pol, &err) == 0);
		sp_agent_install_policy(pol, false, false);
		gd.container_id = "c1";
		CHECK(call("GetDiagnosticData", &gd.base, msg, sizeof(msg)) ==
		      TT_PERMISSION_DENIED);
		sp_agent_gate_reset();
	}

	/* DestroySandbox: the reply first, then the power-off hook, once. */
	destroyed = 0;
	sp_sandbox_set_destroy_hook(count_destroy);
	CHECK(call("DestroySandbox", &ds.base, msg, sizeof(msg)) == TT_OK);
	CHECK(destroyed == 1);
	sp_sandbox_set_destroy_hook(NULL);

	sp_sandbox_set_root(NULL);
	sp_sandbox_reset();
	sp_agent_gate_reset();
	rm_rf(root);
}
