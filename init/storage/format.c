/* Making an encrypted, integrity-protected ext4 out of a host disk (DESIGN.md, "Ephemeral
 * encrypted storage"). Runs in a worker process (worker.c), never in PID 1's loop:
 *
 *   1. a fresh 768-bit volume key from getrandom() (512-bit AES-XTS + 256-bit HMAC-SHA256) in
 *      locked memory (the whole worker is mlockall'ed, so libcryptsetup's copies are too);
 *   2. LUKS2 with the header detached on tmpfs, aes-xts-plain64, 4096-byte sectors,
 *      hmac(sha256) integrity; activated by that volume key directly: no keyslot, no PBKDF;
 *      the dm-integrity journal off unless asked; the key wiped right after activation;
 *   3. every sector that anything reads before writing is written first: the first and last MiB
 *      (blkid's probes in mke2fs, the superblock's read-modify-write) and every block that will
 *      hold a superblock backup; then mke2fs writes every inode table (lazy_itable_init=0) and no
 *      resize inode (its reserved blocks would be read unwritten by e2fsck). An unwritten
 *      integrity sector reads as EIO, so this is what keeps the device usable without a full
 *      wipe; SP_FMT_WIPE does the full crypt_wipe instead (for the benchmark);
 *   4. mount nodev,nosuid at the target. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <libcryptsetup.h>
#include <linux/openat2.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/cleanup.h"
#include "lib/fileio.h"
#include "lib/pathat.h"
#include "storage/storage_int.h"

#define KEY_BYTES  96 /* 64 for aes-xts-plain64 (AES-256 x 2) + 32 for hmac(sha256) */
#define HDR_BYTES  (64u << 10)
#define EDGE_BYTES (1u << 20) /* zeroed at each end of the device */
#ifndef BLKGETSIZE64
#define BLKGETSIZE64 _IOR(0x12, 114, size_t) /* <linux/fs.h> clashes with <sys/mount.h> */
#endif

static uint32_t ms_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint32_t)((t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000);
}

/* libcryptsetup's messages: the last error is kept for our one console line. They never carry
 * key bytes (the library does not print keys). */
static char cs_last[160];
static void cs_log(int level, const char *msg, void *usrptr)
{
	size_t n;

	if (level != CRYPT_LOG_ERROR)
		return;
	(void)snprintf(cs_last, sizeof(cs_last), "%s", msg);
	n = strlen(cs_last);
	while (n && cs_last[n - 1] == '\n')
		cs_last[--n] = '\0';
}

static int cs_error(struct sp_err *err, int r, const char *stage, const char *what)
{
	return sp_error(err, 0, "storage.%s: %s: %s%s%s", stage, what, strerror(-r),
			cs_last[0] ? " (" : "", cs_last[0] ? cs_last : "");
}

static void header_path(const char *dm_name, char *buf, size_t size)
{
	(void)snprintf(buf, size, "%s/%s.hdr", SP_STORAGE_HDR_DIR, dm_name);
}

static int make_header(const char *path, struct sp_err *err)
{
	cleanup_close int fd = -1;

	if (mkdir("/run/sealpod", 0755) < 0 && errno != EEXIST)
		return sp_error(err, errno, "storage.format: mkdir /run/sealpod");
	if (mkdir(SP_STORAGE_HDR_DIR, 0700) < 0 && errno != EEXIST)
		return sp_error(err, errno, "storage.format: mkdir %s", SP_STORAGE_HDR_DIR);
	(void)unlink(path); /* a stale one from an earlier use of this name */
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return sp_error(err, errno, "storage.format: create %s", path);
	if (ftruncate(fd, HDR_BYTES) < 0)
		return sp_error(err, errno, "storage.format: size %s", path);
	return 0;
}

/* One page for the volume key: locked, out of core dumps, zeroed in a child. NULL on failure. */
static unsigned char *key_page_new(struct sp_err *err)
{
	unsigned char *key =
		mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (key == MAP_FAILED) {
		(void)sp_error(err, errno, "storage.key: mmap");
		return NULL;
	}
	if (mlock(key, 4096) < 0) {
		munmap(key, 4096);
		(void)sp_error(err, errno, "storage.key: mlock");
		return NULL;
	}
	(void)madvise(key, 4096, MADV_DONTDUMP);
	(void)madvise(key, 4096, MADV_WIPEONFORK);
	return key;
}

static void key_page_free(unsigned char *key)
{
	explicit_bzero(key, KEY_BYTES);
	munlock(key, 4096);
	munmap(key, 4096);
}

/* LUKS2 with integrity and no keyslot, for the volume key. */
static int luks_format(struct crypt_device *cd, const struct sp_fmt_req *r,
		       const unsigned char *key, struct sp_err *err)
{
	/* With the journal off its area is never used: keep it small (the kernel writes it when it
	 * formats the dm-integrity superblock). */
	struct crypt_params_integrity ip = { .journal_size = 1u << 20 };
	struct crypt_params_luks2 params = {
		.integrity = "hmac(sha256)",
		.integrity_params = (r->flags & SP_FMT_JOURNAL) ? NULL : &ip,
		.sector_size = 4096,
	};
	int rc;

	(void)crypt_volume_key_keyring(cd, 0); /* the key goes to dm-crypt only, not a keyring */
	/* No keyslot, so no PBKDF for a passphrase; but LUKS2 still stores a PBKDF2 digest of the
	 * volume key and would first benchmark PBKDF2 for it (seconds under emulation). A 768-bit
	 * random key needs no stretching, and the header never leaves guest memory. */
	rc = crypt_set_pbkdf_type(cd, &(const struct crypt_pbkdf_type){
					      .type = CRYPT_KDF_PBKDF2,
					      .hash = "sha256",
					      .iterations = 1000,
					      .flags = CRYPT_PBKDF_NO_BENCHMARK,
				      });
	if (rc < 0)
		return cs_error(err, rc, "format", "PBKDF settings");
	/* No keyslots: the smallest LUKS2 metadata and keyslot areas (36 KiB of header, not 16 MiB). */
	rc = crypt_set_metadata_size(cd, 16384, 4096);
	if (rc < 0)
		return cs_error(err, rc, "format", "LUKS2 metadata size");
	rc = crypt_format(cd, CRYPT_LUKS2, "aes", "xts-plain64", NULL, (const char *)key, KEY_BYTES,
			  &params);
	if (rc < 0)
		return cs_error(err, rc, "format", "LUKS2 format");
	return 0;
}

/* Activates the mapping (timed into *activate_ms), wipes the key, then zeroes the whole device
 * when asked. */
static int luks_activate(struct crypt_device *cd, const struct sp_fmt_req *r, unsigned char *key,
			 uint32_t *activate_ms, struct sp_err *err)
{
	uint32_t flags = (r->flags & SP_FMT_JOURNAL) ? 0 : CRYPT_ACTIVATE_NO_JOURNAL;
	struct timespec t0;
	char mapped[128];
	int rc;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = crypt_activate_by_volume_key(cd, r->dm_name, (const char *)key, KEY_BYTES, flags);
	*activate_ms = ms_since(&t0);
	explicit_bzero(key, KEY_BYTES);
	if (rc < 0)
		return cs_error(err, rc, "dm", "activate");
	if (!(r->flags & SP_FMT_WIPE))
		return 0;
	(void)snprintf(mapped, sizeof(mapped), "/dev/mapper/%s", r->dm_name);
	rc = crypt_wipe(cd, mapped, CRYPT_WIPE_ZERO, 0, 0, 1u << 20, 0, NULL, NULL);
	if (rc < 0) {
		cs_error(err, rc, "wipe", mapped);
		crypt_deactivate(cd, r->dm_name);
		return -1;
	}
	return 0;
}

/* Format and activate. The key lives in one locked page, wiped on every path out. */
static int luks_setup(const struct sp_fmt_req *r, const char *hdr, uint32_t *activate_ms,
		      struct sp_err *err)
{
	struct crypt_device *cd = NULL;
	char dev[64];
	unsigned char *key;
	int ret = -1, rc;

	(void)snprintf(dev, sizeof(dev), "/dev/%s", r->disk);
	key = key_page_new(err);
	if (!key)
		return -1;
	if (getrandom(key, KEY_BYTES, 0) != KEY_BYTES) {
		sp_error(err, errno, "storage.key: getrandom");
		goto out;
	}
	crypt_set_log_callback(NULL, cs_log, NULL);
	rc = crypt_init_data_device(&cd, hdr, dev);
	if (rc < 0) {
		cs_error(err, rc, "format", dev);
		goto out;
	}
	crypt_set_log_callback(cd, cs_log, NULL);
	if (luks_format(cd, r, key, err) == 0 && luks_activate(cd, r, key, activate_ms, err) == 0)
		ret = 0;
out:
	key_page_free(key);
	if (cd)
		crypt_free(cd);
	return ret;
}

/* Writes zeros over [off, off+len) of fd with O_DIRECT (4096-aligned). */
static int zero_range(int fd, const void *zeros, uint64_t off, uint64_t len)
{
	while (len) {
		size_t chunk = len > EDGE_BYTES ? EDGE_BYTES : (size_t)len;
		ssize_t n = pwrite(fd, zeros, chunk, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		off += (uint64_t)n;
		len -= (uint64_t)n;
	}
	return 0;
}

static int write_before_read(const char *mapped, struct sp_err *err)
{
	cleanup_close int fd = open(mapped, O_WRONLY | O_DIRECT | O_CLOEXEC);
	uint64_t size, blocks[256];
	size_t n;
	void *zeros;
	int ret = 0;

	if (fd < 0)
		return sp_error(err, errno, "storage.mkfs: open %s", mapped);
	if (ioctl(fd, BLKGETSIZE64, &size) < 0)
		return sp_error(err, errno, "storage.mkfs: size of %s", mapped);
	zeros = mmap(NULL, EDGE_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (zeros == MAP_FAILED)
		return sp_error(err, errno, "storage.mkfs: mmap");
	size -= size % 4096;
	n = sp_ext4_sb_blocks(size / 4096, blocks, sizeof(blocks) / sizeof(blocks[0]));
	if (n > sizeof(blocks) / sizeof(blocks[0]))
		n = sizeof(blocks) / sizeof(blocks[0]);
	if (zero_range(fd, zeros, 0, size < EDGE_BYTES ? size : EDGE_BYTES) < 0 ||
	    (size > 2ull * EDGE_BYTES && zero_range(fd, zeros, size - EDGE_BYTES, EDGE_BYTES) < 0))
		ret = sp_error(err, errno, "storage.mkfs: zero the ends of %s", mapped);
	for (size_t i = 0; ret == 0 && i < n; i++)
		if (blocks[i] * 4096 >= EDGE_BYTES &&
		    zero_range(fd, zeros, blocks[i] * 4096, 4096) < 0)
			ret = sp_error(err, errno, "storage.mkfs: zero block %llu of %s",
				       (unsigned long long)blocks[i], mapped);
	munmap(zeros, EDGE_BYTES);
	if (ret == 0 && fsync(fd) < 0)
		ret = sp_error(err, errno, "storage.mkfs: sync %s", mapped);
	return ret;
}

/* Reads fd to its end into out (NUL-terminated): what came after it last filled up. */
static size_t read_tail(int fd, char *out, size_t size)
{
	size_t len = 0;

	for (;;) {
		ssize_t n = read(fd, out + len, size - 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
		if (len == size - 1) /* keep the tail */
			len = 0;
	}
	out[len] = '\0';
	return len;
}

/* Runs mke2fs with argv and waits; its last stderr line becomes the error. */
static int exec_mke2fs(char *const argv[], struct sp_err *err)
{
	static char *const envp[] = { "PATH=/usr/bin:/sbin:/bin", "MKE2FS_CONFIG=/nonexistent",
				      NULL };
	char out[1024], *last;
	size_t len;
	int fds[2], status;
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC) < 0)
		return sp_error(err, errno, "storage.mkfs: pipe");
	pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return sp_error(err, errno, "storage.mkfs: fork");
	}
	if (pid == 0) {
		sigset_t none;

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		dup2(fds[1], 1);
		dup2(fds[1], 2);
		execve(SP_STORAGE_MKE2FS, argv, envp);
		dprintf(2, "exec %s: %s\n", SP_STORAGE_MKE2FS, strerror(errno));
		_exit(127);
	}
	close(fds[1]);
	len = read_tail(fds[0], out, sizeof(out));
	close(fds[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	while (len && (out[len - 1] == '\n' || out[len - 1] == ' '))
		out[--len] = '\0';
	last = strrchr(out, '\n');
	return sp_error(err, 0, "storage.mkfs: mke2fs failed (status %d): %s", status,
			last ? last + 1 : out);
}

/* mke2fs on mapped, with the inode count and size for r. */
static int run_mke2fs(const struct sp_fmt_req *r, const char *mapped, uint64_t bytes,
		      struct sp_err *err)
{
	/* Kata's emptyDir profile: 1 inode per 160 KiB of 128 bytes. Image layers need more inodes
	 * (ext4's default of 1 per 16 KiB), but every inode table is written at format time here
	 * (and Kata's shim sizes disks to the host's whole file system): at most 4 Mi inodes, 1 GiB
	 * of tables. */
	bool kata = r->flags & SP_FMT_KATA_EMPTYDIR;
	uint64_t ninodes = bytes / 16384 > (4u << 20) ? (4u << 20) : bytes / 16384;
	char count[24];
	const char *isize = kata ? "128" : "256";

	(void)snprintf(count, sizeof(count), "%llu",
		       (unsigned long long)(ninodes ? ninodes : 1024));
	char *argv[] = { "mke2fs",
			 "-q",
			 "-F",
			 "-t",
			 "ext4",
			 "-b",
			 "4096",
			 "-g",
			 "32768",
			 "-O",
			 "^has_journal,^resize_inode",
			 "-m",
			 "0",
			 kata ? "-i" : "-N",
			 kata ? "163840" : count,
			 "-I",
			 (char *)isize,
			 "-E",
			 "lazy_itable_init=0,nodiscard",
			 "-L",
			 "sealpod",
			 (char *)mapped,
			 NULL };
	return exec_mke2fs(argv, err);
}

/* mkdir -p of an absolute path, every component opened without following symlinks; returns an
 * O_PATH fd of the last one. */
static int open_target(const char *target, struct sp_err *err)
{
	cleanup_close int root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	int fd;

	if (root < 0 || target[0] != '/')
		return sp_error(err, errno, "storage.mount: open / for %s", target);
	fd = sp_mkdirs_at(root, target + 1, 0755, O_PATH, SP_RESOLVE_STRICT, err);
	if (fd < 0)
		sp_error_wrap(err, "storage.mount: %s", target);
	return fd;
}

/* Storage.fs_group on the fresh mount at r->target. */
static int apply_fs_group(const struct sp_fmt_req *r, struct sp_err *err)
{
	cleanup_close int root = sp_openat2(AT_FDCWD, r->target, O_RDONLY | O_DIRECTORY | O_CLOEXEC,
					    0, RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
	bool changed;

	if (root < 0)
		return sp_error(err, errno, "storage.fsgroup: open %s", r->target);
	return sp_fs_group_apply(root, (gid_t)r->fs_gid, r->mflags & MS_RDONLY,
				 r->fs_gid_on_mismatch, &changed, err);
}

int sp_storage_format(const struct sp_fmt_req *r, struct sp_fmt_times *t, struct sp_err *err)
{
	char hdr[192], mapped[128], dev[64];
	struct timespec t0, ts;
	uint64_t bytes;
	unsigned lbs;

	memset(t, 0, sizeof(*t));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	if (mlockall(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT) < 0)
		return sp_error(err, errno, "storage.key: mlockall");
	if (!sp_valid_blkname(r->disk))
		return sp_error(err, 0, "storage.format: bad disk name");
	if (sp_sysfs_disk_size(r->disk, &bytes, &lbs, err) < 0)
		return sp_error_wrap(err, "storage.format");
	if (sp_storage_size_check(r->disk, bytes, err) < 0)
		return sp_error_wrap(err, "storage.size");
	if (lbs > 4096)
		return sp_error(err, 0, "storage.format: disk %s has %u-byte sectors (> 4096)",
				r->disk, lbs);
	(void)snprintf(dev, sizeof(dev), "/dev/%s", r->disk);
	header_path(r->dm_name, hdr, sizeof(hdr));
	(void)snprintf(mapped, sizeof(mapped), "/dev/mapper/%s", r->dm_name);
	crypt_metadata_locking(NULL, 0); /* one writer: this worker; no /run/cryptsetup locks */

	if (make_header(hdr, err) < 0 || luks_setup(r, hdr, &t->activate_ms, err) < 0)
		return -1;
	t->luks_ms = ms_since(&t0);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	if (!(r->flags & SP_FMT_WIPE) && write_before_read(mapped, err) < 0)
		goto undo;
	t->wipe_ms = ms_since(&ts);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	if (run_mke2fs(r, mapped, bytes, err) < 0)
		goto undo;
	t->mkfs_ms = ms_since(&ts);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	if (r->target[0]) {
		char fdpath[64];
		int fd = open_target(r->target, err);

		if (fd < 0)
			goto undo;
		(void)snprintf(fdpath, sizeof(fdpath), "/proc/self/fd/%d", fd);
		if (mount(mapped, fdpath, "ext4", MS_NODEV | MS_NOSUID | MS_NOATIME | r->mflags,
			  "") < 0) {
			sp_error(err, errno, "storage.mount: mount %s on %s", mapped, r->target);
			close(fd);
			goto undo;
		}
		close(fd);
		if (r->has_fs_gid && apply_fs_group(r, err) < 0)
			goto undo_mount;
	}
	t->mount_ms = ms_since(&ts);
	t->total_ms = ms_since(&t0);
	return 0;
undo_mount:
	(void)umount2(r->target, UMOUNT_NOFOLLOW | MNT_DETACH);
undo : {
	struct sp_err e2;

	(void)sp_storage_teardown(NULL, r->dm_name, &e2);
	return -1;
}
}

int sp_storage_teardown(const char *target, const char *dm_name, struct sp_err *err)
{
	struct crypt_device *cd = NULL;
	char hdr[192];
	int rc = 0;

	header_path(dm_name, hdr, sizeof(hdr));
	if (target && target[0] && umount2(target, UMOUNT_NOFOLLOW) < 0 && errno != EINVAL &&
	    errno != ENOENT) {
		/* Busy: detach it now; the device goes once the last user lets go. */
		if (umount2(target, MNT_DETACH | UMOUNT_NOFOLLOW) < 0)
			return sp_error(err, errno, "storage.release: umount %s", target);
	}
	crypt_metadata_locking(NULL, 0);
	crypt_set_log_callback(NULL, cs_log, NULL);
	rc = crypt_init_by_name_and_header(&cd, dm_name, hdr);
	if (rc == 0) {
		rc = crypt_deactivate_by_name(cd, dm_name, 0);
		if (rc == -EBUSY)
			rc = crypt_deactivate_by_name(cd, dm_name, CRYPT_DEACTIVATE_DEFERRED);
		crypt_free(cd);
	}
	(void)unlink(hdr);
	if (rc < 0 && rc != -ENODEV)
		return cs_error(err, rc, "release", dm_name);
	return 0;
}
