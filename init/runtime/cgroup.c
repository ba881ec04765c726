/* cgroup v2, mounted at /sys/fs/cgroup by PID 1: the sandbox cgroup `sealpod` with the memory,
 * cpu and pids controllers delegated and the device program (devcg.c), and one child per
 * container. Every file is reached from a directory fd with *at() calls. */
#define _GNU_SOURCE
#include "runtime/runtime.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/cleanup.h"
#include "lib/log.h"

static int write_at(int dirfd, const char *file, const char *val, struct sp_err *err)
{
	/* O_TRUNC as runc opens them: cgroupfs ignores it, a plain file (the unit tests) needs it. */
	cleanup_close int fd = openat(dirfd, file, O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOFOLLOW);
	size_t n = strlen(val);

	if (fd < 0)
		return sp_error(err, errno, "open cgroup file %s", file);
	if (write(fd, val, n) != (ssize_t)n)
		return sp_error(err, errno, "write '%s' to cgroup file %s", val, file);
	return 0;
}

static int read_at(int dirfd, const char *file, char *buf, size_t size)
{
	cleanup_close int fd = openat(dirfd, file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, size - 1);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	return 0;
}

/* Enables what the parent offers of memory, cpu and pids for the children of dirfd. */
static void delegate(int dirfd)
{
	char avail[256];
	static const char *const ctl[] = { "memory", "cpu", "pids" };

	if (read_at(dirfd, "cgroup.controllers", avail, sizeof(avail)) < 0)
		return;
	for (size_t i = 0; i < sizeof(ctl) / sizeof(ctl[0]); i++) {
		char v[16];
		struct sp_err e;

		if (!strstr(avail, ctl[i]))
			continue;
		(void)snprintf(v, sizeof(v), "+%s", ctl[i]);
		if (write_at(dirfd, "cgroup.subtree_control", v, &e) < 0)
			sp_warn("cgroup", "%s", e.msg);
	}
}

int sp_cgroup_setup_sandbox(struct sp_err *err)
{
	cleanup_close int root = open(SP_RT_CGROUP_ROOT, O_PATH | O_DIRECTORY | O_CLOEXEC);
	cleanup_close int sb = -1;

	if (root < 0)
		return sp_error(err, errno, "open %s", SP_RT_CGROUP_ROOT);
	if (faccessat(root, "cgroup.subtree_control", F_OK, 0) < 0)
		return sp_error(err, errno, "%s is not cgroup v2", SP_RT_CGROUP_ROOT);
	delegate(root);
	if (mkdirat(root, SP_RT_CGROUP_SANDBOX, 0755) < 0 && errno != EEXIST)
		return sp_error(err, errno, "mkdir %s/%s", SP_RT_CGROUP_ROOT, SP_RT_CGROUP_SANDBOX);
	sb = openat(root, SP_RT_CGROUP_SANDBOX, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (sb < 0)
		return sp_error(err, errno, "open the sandbox cgroup");
	delegate(sb);
	/* On the sandbox cgroup, so that every container's cgroup below it gets it and none can
	 * remove it (devcg.c). No container runs without it: sp_rt_init refuses them. */
	return sp_devcg_attach(sb, err);
}

static int sandbox_fd(struct sp_err *err)
{
	int fd = open(SP_RT_CGROUP_ROOT "/" SP_RT_CGROUP_SANDBOX,
		      O_PATH | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0)
		sp_error(err, errno, "open the sandbox cgroup");
	return fd;
}

int sp_cgroup_create(const char *cid, const struct sp_rt_limits *l, int *out, struct sp_err *err)
{
	cleanup_close int sb = sandbox_fd(err);
	cleanup_close int fd = -1;
	char v[64];

	if (sb < 0)
		return -1;
	if (mkdirat(sb, cid, 0755) < 0)
		return sp_error(err, errno, "mkdir cgroup %s", cid);
	fd = openat(sb, cid, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return sp_error(err, errno, "open cgroup %s", cid);
	if (l->memory_max > 0) {
		(void)snprintf(v, sizeof(v), "%" PRId64, l->memory_max);
		if (write_at(fd, "memory.max", v, err) < 0)
			goto fail;
	}
	if (l->swap_max >= 0 || l->swap_max == -1) {
		if (l->swap_max >= 0)
			(void)snprintf(v, sizeof(v), "%" PRId64, l->swap_max);
		else
			(void)snprintf(v, sizeof(v), "max");
		/* Absent without swap accounting: not an error. */
		if (faccessat(fd, "memory.swap.max", F_OK, 0) == 0 &&
		    write_at(fd, "memory.swap.max", v, err) < 0)
			goto fail;
	}
	if (l->cpu_quota > 0) {
		(void)snprintf(v, sizeof(v), "%" PRId64 " %" PRIu64, l->cpu_quota, l->cpu_period);
		if (write_at(fd, "cpu.max", v, err) < 0)
			goto fail;
	}
	if (l->cpu_weight) {
		(void)snprintf(v, sizeof(v), "%" PRIu64, l->cpu_weight);
		if (write_at(fd, "cpu.weight", v, err) < 0)
			goto fail;
	}
	if (l->pids_max > 0) {
		(void)snprintf(v, sizeof(v), "%" PRId64, l->pids_max);
		if (write_at(fd, "pids.max", v, err) < 0)
			goto fail;
	}
	*out = steal_fd(&fd);
	return 0;
fail:
	unlinkat(sb, cid, AT_REMOVEDIR);
	return -1;
}

/* cpu.max for an update: "quota period", or one of them with the other as it is. The kernel
 * keeps the period when only a quota is written; a period alone needs the quota read back. */
static int update_cpu_max(int cgfd, const struct sp_rt_resize *r, struct sp_err *err)
{
	char cur[64], v[64];
	size_t n;

	if (r->cpu_quota > 0 && r->cpu_period)
		(void)snprintf(v, sizeof(v), "%" PRId64 " %" PRIu64, r->cpu_quota, r->cpu_period);
	else if (r->cpu_quota > 0)
		(void)snprintf(v, sizeof(v), "%" PRId64, r->cpu_quota);
	else if (r->cpu_period) {
		if (read_at(cgfd, "cpu.max", cur, sizeof(cur)) < 0)
			return sp_error(err, errno, "read cgroup file cpu.max");
		n = strcspn(cur, " \n");
		(void)snprintf(v, sizeof(v), "%.*s %" PRIu64, (int)n, cur, r->cpu_period);
	} else
		return 0;
	return write_at(cgfd, "cpu.max", v, err);
}

int sp_cgroup_update(int cgfd, const struct sp_rt_resize *r, struct sp_err *err)
{
	char v[64];

	/* A memory.max below the container's usage makes this write reclaim, then OOM-kill in
	 * the container, before it returns: the kernel bounds both (no container is unkillable:
	 * its oom_score_adj is never -1000), so PID 1 waits on the kernel, not on the host. */
	if (r->memory_max > 0) {
		(void)snprintf(v, sizeof(v), "%" PRId64, r->memory_max);
		if (write_at(cgfd, "memory.max", v, err) < 0)
			return -1;
	}
	/* Absent without swap accounting (a guest without swap): nothing to limit. */
	if (r->swap_max >= -1 && faccessat(cgfd, "memory.swap.max", F_OK, 0) == 0) {
		if (r->swap_max >= 0)
			(void)snprintf(v, sizeof(v), "%" PRId64, r->swap_max);
		else
			(void)snprintf(v, sizeof(v), "max");
		if (write_at(cgfd, "memory.swap.max", v, err) < 0)
			return -1;
	}
	if (update_cpu_max(cgfd, r, err) < 0)
		return -1;
	if (r->cpu_weight) {
		(void)snprintf(v, sizeof(v), "%" PRIu64, r->cpu_weight);
		if (write_at(cgfd, "cpu.weight", v, err) < 0)
			return -1;
	}
	if (r->pids_max) {
		if (r->pids_max > 0)
			(void)snprintf(v, sizeof(v), "%" PRId64, r->pids_max);
		else
			(void)snprintf(v, sizeof(v), "max");
		if (write_at(cgfd, "pids.max", v, err) < 0)
			return -1;
	}
	return 0;
}

int sp_cgroup_kill(int cgfd, struct sp_err *err)
{
	return write_at(cgfd, "cgroup.kill", "1", err);
}

int sp_cgroup_remove(const char *cid, struct sp_err *err)
{
	cleanup_close int sb = sandbox_fd(err);

	if (sb < 0)
		return -1;
	/* The last process may still be leaving: a few tries, no sleep loop in PID 1. */
	for (int i = 0; i < 1000; i++) {
		if (unlinkat(sb, cid, AT_REMOVEDIR) == 0 || errno == ENOENT)
			return 0;
		if (errno != EBUSY)
			break;
		sched_yield();
	}
	return sp_error(err, errno, "rmdir cgroup %s", cid);
}

long sp_cgroup_oom_kills(int events_fd)
{
	char buf[512];
	ssize_t n = pread(events_fd, buf, sizeof(buf) - 1, 0);
	const char *p;

	if (n < 0)
		return -1;
	buf[n] = '\0';
	p = strstr(buf, "oom_kill ");
	return p ? strtol(p + 9, NULL, 10) : 0;
}

static uint64_t key_u64(const char *buf, const char *key)
{
	size_t kl = strlen(key);

	for (const char *p = buf; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (strncmp(p, key, kl) == 0 && p[kl] == ' ')
			return strtoull(p + kl + 1, NULL, 10);
	return 0;
}

static uint64_t file_u64(int dirfd, const char *file)
{
	char buf[64];

	if (read_at(dirfd, file, buf, sizeof(buf)) < 0)
		return 0;
	return strtoull(buf, NULL, 10); /* "max" reads as 0: no limit */
}

void sp_cgroup_stats(int cgfd, struct sp_rt_stats *s)
{
	char buf[4096];

	s->st = (Grpc__CgroupStats)GRPC__CGROUP_STATS__INIT;
	s->cpu = (Grpc__CpuStats)GRPC__CPU_STATS__INIT;
	s->cu = (Grpc__CpuUsage)GRPC__CPU_USAGE__INIT;
	s->mem = (Grpc__MemoryStats)GRPC__MEMORY_STATS__INIT;
	s->usage = s->swap = s->kernel = (Grpc__MemoryData)GRPC__MEMORY_DATA__INIT;
	s->pids = (Grpc__PidsStats)GRPC__PIDS_STATS__INIT;
	if (read_at(cgfd, "cpu.stat", buf, sizeof(buf)) == 0) {
		s->cu.total_usage = key_u64(buf, "usage_usec") * 1000;
		s->cu.usage_in_usermode = key_u64(buf, "user_usec") * 1000;
		s->cu.usage_in_kernelmode = key_u64(buf, "system_usec") * 1000;
	}
	s->usage.usage = file_u64(cgfd, "memory.current");
	s->usage.max_usage = file_u64(cgfd, "memory.peak");
	s->usage.limit = file_u64(cgfd, "memory.max");
	if (read_at(cgfd, "memory.events", buf, sizeof(buf)) == 0)
		s->usage.failcnt = key_u64(buf, "max");
	if (read_at(cgfd, "memory.stat", buf, sizeof(buf)) == 0) {
		s->mem.cache = key_u64(buf, "file");
		s->kernel.usage = key_u64(buf, "kernel");
	}
	s->swap.usage = file_u64(cgfd, "memory.swap.current");
	s->swap.limit = file_u64(cgfd, "memory.swap.max");
	s->mem.use_hierarchy = true;
	s->mem.usage = &s->usage;
	s->mem.swap_usage = &s->swap;
	s->mem.kernel_usage = &s->kernel;
	s->pids.current = file_u64(cgfd, "pids.current");
	s->pids.limit = file_u64(cgfd, "pids.max");
	s->cpu.cpu_usage = &s->cu;
	s->st.cpu_stats = &s->cpu;
	s->st.memory_stats = &s->mem;
	s->st.pids_stats = &s->pids;
}
