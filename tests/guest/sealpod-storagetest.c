/* In-guest helper for the storage tests and benchmark (test overlay only). It runs the storage
 * module's own format and teardown code (init/storage/format.c) outside PID 1, and does the I/O
 * the tests need with exact errno reporting:
 *
 *   sealpod-storagetest format DISK DMNAME [TARGET|-] [journal] [wipe] [kata]
 *   sealpod-storagetest teardown DMNAME [TARGET]
 *   sealpod-storagetest pattern FILE MIB          write MIB MiB of the test pattern, fsync
 *   sealpod-storagetest check FILE                O_DIRECT read: "ok", "altered", "EIO"...
 *   sealpod-storagetest check-buffered FILE       the same through the page cache
 *   sealpod-storagetest seq write|read PATH MIB   O_DIRECT sequential 1 MiB I/O, prints MB/s
 *   sealpod-storagetest fill DIR                  write files until an error; prints its name
 *   sealpod-storagetest time CMD ARGS...          run CMD, print its wall time in ms
 *   sealpod-storagetest table DMNAME              the device-mapper table (key included: the
 *                                                 tests look for it where it must not be) */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/dm-ioctl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "storage/storage_int.h"

#define PATTERN "sealpod-plaintext-pattern-7d3f1a"
#define BUF	(1u << 20)

static double now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static void *abuf(void)
{
	void *b = mmap(NULL, BUF, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (b == MAP_FAILED) {
		perror("mmap");
		exit(1);
	}
	return b;
}

static void fill_pattern(char *b)
{
	size_t pl = strlen(PATTERN);

	for (size_t i = 0; i < BUF; i++)
		b[i] = PATTERN[i % pl];
}

static int cmd_format(int argc, char **argv)
{
	struct sp_fmt_req r = { .flags = 0 };
	struct sp_fmt_times t;
	struct sp_err err;

	if (argc < 4)
		return 2;
	snprintf(r.disk, sizeof(r.disk), "%s", argv[2]);
	snprintf(r.dm_name, sizeof(r.dm_name), "%s", argv[3]);
	if (argc > 4 && strcmp(argv[4], "-") != 0)
		snprintf(r.target, sizeof(r.target), "%s", argv[4]);
	for (int i = 5; i < argc; i++) {
		if (strcmp(argv[i], "journal") == 0)
			r.flags |= SP_FMT_JOURNAL;
		else if (strcmp(argv[i], "wipe") == 0)
			r.flags |= SP_FMT_WIPE;
		else if (strcmp(argv[i], "kata") == 0)
			r.flags |= SP_FMT_KATA_EMPTYDIR;
		else
			return 2;
	}
	if (sp_storage_format(&r, &t, &err) < 0) {
		printf("format failed: %s\n", err.msg);
		return 1;
	}
	printf("format ok: luks=%u (activate %u) prep=%u mkfs=%u mount=%u total=%u ms\n", t.luks_ms,
	       t.activate_ms, t.wipe_ms, t.mkfs_ms, t.mount_ms, t.total_ms);
	return 0;
}

static int cmd_teardown(int argc, char **argv)
{
	struct sp_err err;

	if (argc < 3)
		return 2;
	if (sp_storage_teardown(argc > 3 ? argv[3] : NULL, argv[2], &err) < 0) {
		printf("teardown failed: %s\n", err.msg);
		return 1;
	}
	printf("teardown ok\n");
	return 0;
}

static int cmd_pattern(const char *path, long mib)
{
	char *b = abuf();
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fd < 0) {
		perror(path);
		return 1;
	}
	fill_pattern(b);
	for (long i = 0; i < mib; i++)
		if (write(fd, b, BUF) != BUF) {
			perror("write");
			return 1;
		}
	if (fsync(fd) < 0) {
		perror("fsync");
		return 1;
	}
	close(fd);
	printf("pattern ok\n");
	return 0;
}

static int cmd_check(const char *path, bool direct)
{
	char *b = abuf(), *want = abuf();
	int fd = open(path, O_RDONLY | (direct ? O_DIRECT : 0) | O_CLOEXEC);
	long long off = 0;

	if (fd < 0) {
		perror(path);
		return 1;
	}
	fill_pattern(want);
	for (;;) {
		ssize_t n = read(fd, b, BUF);

		if (n < 0) {
			printf("%s at offset %lld\n",
			       errno == EIO	 ? "EIO"
			       : errno == EILSEQ ? "EILSEQ"
						 : strerror(errno),
			       off);
			return 3;
		}
		if (n == 0)
			break;
		if (memcmp(b, want, (size_t)n) != 0) {
			printf("altered at offset %lld\n", off);
			return 4;
		}
		off += n;
	}
	printf("ok %lld bytes\n", off);
	return 0;
}

static int cmd_seq(const char *mode, const char *path, long mib)
{
	bool wr = strcmp(mode, "write") == 0;
	char *b = abuf();
	int fd = open(path, (wr ? O_WRONLY | O_CREAT : O_RDONLY) | O_DIRECT | O_CLOEXEC, 0644);
	double t0;

	if (fd < 0) {
		perror(path);
		return 1;
	}
	fill_pattern(b);
	t0 = now_ms();
	for (long i = 0; i < mib; i++) {
		ssize_t n = wr ? write(fd, b, BUF) : read(fd, b, BUF);

		if (n != BUF) {
			printf("seq %s: %s at MiB %ld\n", mode, n < 0 ? strerror(errno) : "short",
			       i);
			return 1;
		}
	}
	if (wr && fsync(fd) < 0) {
		perror("fsync");
		return 1;
	}
	close(fd);
	printf("seq %s %ld MiB: %.1f MB/s\n", mode, mib, mib * 1048.576 / (now_ms() - t0));
	return 0;
}

static int cmd_fill(const char *dir)
{
	char *b = abuf();
	char path[512];
	long files = 0, mib = 0;

	fill_pattern(b);
	for (;; files++) {
		int fd;

		snprintf(path, sizeof(path), "%s/fill-%ld", dir, files);
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0) {
			printf("fill stopped: %s (open, %ld MiB)\n", strerror(errno), mib);
			return errno == ENOSPC ? 0 : 1;
		}
		for (int i = 0; i < 64; i++, mib++) {
			size_t done = 0;

			/* A short write at the end of space: the next one says why. */
			while (done < BUF) {
				ssize_t n = write(fd, b + done, BUF - done);

				if (n <= 0) {
					int e = n < 0 ? errno : EIO;

					close(fd);
					printf("fill stopped: %s (%ld MiB)\n", strerror(e), mib);
					return e == ENOSPC ? 0 : 1;
				}
				done += (size_t)n;
			}
		}
		if (fsync(fd) < 0) {
			int e = errno;

			close(fd);
			printf("fill stopped: %s at fsync (%ld MiB)\n", strerror(e), mib);
			return e == ENOSPC ? 0 : 1;
		}
		close(fd);
	}
}

static int cmd_time(char **argv)
{
	double t0 = now_ms();
	int status;
	pid_t p = fork();

	if (p == 0) {
		execvp(argv[0], argv);
		perror(argv[0]);
		_exit(127);
	}
	waitpid(p, &status, 0);
	printf("time: %.0f ms status %d\n", now_ms() - t0,
	       WIFEXITED(status) ? WEXITSTATUS(status) : 128);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

static int cmd_table(const char *name)
{
	static union {
		struct dm_ioctl io;
		char buf[16384];
	} u;
	struct dm_target_spec *t;
	int fd = open("/dev/mapper/control", O_RDWR | O_CLOEXEC);

	if (fd < 0) {
		perror("/dev/mapper/control");
		return 1;
	}
	u.io.version[0] = DM_VERSION_MAJOR;
	u.io.data_size = sizeof(u);
	u.io.data_start = sizeof(struct dm_ioctl);
	u.io.flags = DM_STATUS_TABLE_FLAG;
	snprintf(u.io.name, sizeof(u.io.name), "%s", name);
	if (ioctl(fd, DM_TABLE_STATUS, &u.io) < 0) {
		perror("DM_TABLE_STATUS");
		return 1;
	}
	t = (struct dm_target_spec *)(u.buf + u.io.data_start);
	for (unsigned i = 0; i < u.io.target_count; i++) {
		printf("%s %s\n", t->target_type, (char *)(t + 1));
		t = (struct dm_target_spec *)(u.buf + u.io.data_start + t->next);
	}
	return 0;
}

int main(int argc, char **argv)
{
	const char *c = argc > 1 ? argv[1] : "";

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (strcmp(c, "format") == 0)
		return cmd_format(argc, argv);
	if (strcmp(c, "teardown") == 0)
		return cmd_teardown(argc, argv);
	if (strcmp(c, "pattern") == 0 && argc == 4)
		return cmd_pattern(argv[2], atol(argv[3]));
	if (strcmp(c, "check") == 0 && argc == 3)
		return cmd_check(argv[2], true);
	if (strcmp(c, "check-buffered") == 0 && argc == 3)
		return cmd_check(argv[2], false);
	if (strcmp(c, "seq") == 0 && argc == 5)
		return cmd_seq(argv[2], argv[3], atol(argv[4]));
	if (strcmp(c, "fill") == 0 && argc == 3)
		return cmd_fill(argv[2]);
	if (strcmp(c, "table") == 0 && argc == 3)
		return cmd_table(argv[2]);
	if (strcmp(c, "time") == 0 && argc > 2)
		return cmd_time(argv + 2);
	fprintf(stderr, "usage: see tests/guest/sealpod-storagetest.c\n");
	return 2;
}
