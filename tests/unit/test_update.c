/* UpdateContainer (init/runtime/update.c, cgroup.c's update path): Kata's value rules (zero or
 * negative is "not given", swap as memory + swap, shares onto cpu.weight, Pids when given), the
 * bounds CreateContainer also keeps, and what lands in each cgroup file, written into a
 * directory of plain files. */
#define _GNU_SOURCE
#include "unit.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/runtime.h"

struct res {
	Grpc__LinuxResources r;
	Grpc__LinuxMemory mem;
	Grpc__LinuxCPU cpu;
	Grpc__LinuxPids pids;
};

static Grpc__LinuxResources *res_init(struct res *x)
{
	grpc__linux_resources__init(&x->r);
	grpc__linux_memory__init(&x->mem);
	grpc__linux_cpu__init(&x->cpu);
	grpc__linux_pids__init(&x->pids);
	return &x->r;
}

TEST(update_zero_or_negative_is_not_given)
{
	struct res x;
	Grpc__LinuxResources *r = res_init(&x);
	struct sp_rt_resize p;
	struct sp_err err;

	x.mem.limit = -1;
	x.mem.swap = 0;
	x.cpu.quota = -1;
	x.cpu.period = 0;
	x.cpu.shares = 0;
	r->memory = &x.mem;
	r->cpu = &x.cpu;
	REQUIRE(sp_rt_resize_plan(r, &p, &err) == 0);
	CHECK(p.memory_max == 0 && p.swap_max == -2 && p.cpu_quota == 0 && p.cpu_period == 0);
	CHECK(p.cpu_weight == 0 && p.pids_max == 0);
	REQUIRE(sp_rt_resize_plan(NULL, &p, &err) == 0);
	CHECK(p.memory_max == 0 && p.swap_max == -2 && p.pids_max == 0);
}

TEST(update_memory_and_swap)
{
	struct res x;
	Grpc__LinuxResources *r = res_init(&x);
	struct sp_rt_resize p;
	struct sp_err err;

	r->memory = &x.mem;
	x.mem.limit = 256 << 20;
	x.mem.swap = 256 << 20; /* containerd's default: swap = limit, so no swap */
	REQUIRE(sp_rt_resize_plan(r, &p, &err) == 0);
	CHECK(p.memory_max == 256 << 20 && p.swap_max == 0);
	x.mem.swap = 384 << 20;
	REQUIRE(sp_rt_resize_plan(r, &p, &err) == 0);
	CHECK(p.swap_max == 128 << 20);
	x.mem.swap = -1;
	REQUIRE(sp_rt_resize_plan(r, &p, &err) == 0);
	CHECK(p.swap_max == -1);
	x.mem.swap = 128 << 20;
	CHECK(sp_rt_resize_plan(r, &p, &err) < 0 && err.kind == SP_E_INVALID);
	CHECK(strstr(err.msg, "below the memory limit") != NULL);
	x.mem.limit = 0;
	CHECK(sp_rt_resize_plan(r, &p, &err) < 0 && strstr(err.msg, "without a memory limit"));
	x.mem.swap = 0;
	x.mem.limit = 4096;
	CHECK(sp_rt_resize_plan(r, &p, &err) < 0 && strstr(err.msg, "below 1 MiB"));
	x.mem.limit = (int64_t)1 << 51;
	CHECK(sp_rt_resize_plan(r, &p, &err) < 0 && strstr(err.msg, "absurd"));
}

TEST(update_cpu_rules)
{
	struct res x;
	Grpc__LinuxResources *r = res_init(&x);
	struct sp_rt_resize p;
	struct sp_err err;

	r->cpu = &x.cpu;
	x.cpu.shares = 2;
	REQUIRE(sp_rt_resize_plan(r, &p, &err) == 0);
	CHECK(p.cpu_weight == 1);
	x.cpu.shares = 262144;
	REQUIRE(sp_rt_resize_plan(r, &p, &err) == 0);
	CHECK(p.cpu_weight == 10000);
	x.cpu.shares = 512; /* 1 + 510 * 9999 / 262142 */
	x.cpu.quota = 100000;
	x.cpu.period = 100000;
	REQUIRE(sp_rt_resize_plan(r, &p, &err) == 0);
	CHECK(p.cpu_weight == 20 && p.cpu_quota == 100000 && p.cpu_period == 100000);
	x.cpu.shares = 1;
	CHECK(sp_rt_resize_plan(r, &p, &err) < 0 && strstr(err.msg, "cpu shares 1"));
	x.cpu.shares = 0;
	x.cpu.quota = 999;
	CHECK(sp_rt_resize_plan(r, &p, &err) < 0 && strstr(err.msg, "below 1000"));
	x.cpu.quota = 0;
	x.cpu.period = 999;
	CHECK(sp_rt_resize_plan(r, &p, &err) < 0 && strstr(err.msg, "outside 1000..1000000"));
	x.cpu.period = 1000001;
	CHECK(sp_rt_resize_plan(r, &p, &err) < 0);
}

TEST(update_pids_when_given_and_what_is_ignored)
{
	struct res x;
	Grpc__LinuxResources *r = res_init(&x);
	Grpc__LinuxDeviceCgroup dev = GRPC__LINUX_DEVICE_CGROUP__INIT, *devs[] = { &dev };
	Grpc__LinuxHugepageLimit hp = GRPC__LINUX_HUGEPAGE_LIMIT__INIT, *hps[] = { &hp };
	struct sp_rt_resize p;
	struct sp_err err;

	r->pids = &x.pids;
	x.pids.limit = 0;
	REQUIRE(sp_rt_resize_plan(r, &p, &err) == 0);
	CHECK(p.pids_max == -1);
	x.pids.limit = 64;
	REQUIRE(sp_rt_resize_plan(r, &p, &err) == 0);
	CHECK(p.pids_max == 64 && p.ignored[0] == '\0');
	x.pids.limit = 4194305;
	CHECK(sp_rt_resize_plan(r, &p, &err) < 0 && strstr(err.msg, "pids limit"));
	x.pids.limit = 64;
	/* What runtime-rs and containerd send along: not applied, not refused. */
	dev.access = "rwm";
	r->devices = devs;
	r->n_devices = 1;
	r->hugepagelimits = hps;
	r->n_hugepagelimits = 1;
	x.cpu.mems = "0-1";
	r->cpu = &x.cpu;
	REQUIRE(sp_rt_resize_plan(r, &p, &err) == 0);
	CHECK(strcmp(p.ignored, "Devices CPU.Mems HugepageLimits") == 0);
}

static int cg_dir(char dir[64])
{
	static const char *const files[] = { "memory.max", "cpu.max", "cpu.weight", "pids.max" };
	char p[128];

	strcpy(dir, "/tmp/sealpod-unit-cgroup-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		int fd;

		(void)snprintf(p, sizeof(p), "%s/%s", dir, files[i]);
		fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
		if (fd < 0 || write(fd, "max 100000", i == 1 ? 10 : 3) < 0 || close(fd) < 0)
			return -1;
	}
	return open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

static const char *cg_read(int dirfd, const char *file)
{
	static char buf[64];
	int fd = openat(dirfd, file, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);

	if (fd >= 0)
		close(fd);
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

TEST(update_writes_the_cgroup_files)
{
	struct sp_rt_resize p = { .swap_max = -2 };
	struct sp_err err;
	char dir[64], cmd[96];
	int fd = cg_dir(dir);

	REQUIRE(fd >= 0);
	/* A period alone keeps the quota in force (here none: max). */
	p.cpu_period = 50000;
	CHECK(sp_cgroup_update(fd, &p, &err) == 0);
	CHECK(strcmp(cg_read(fd, "cpu.max"), "max 50000") == 0);
	CHECK(strcmp(cg_read(fd, "memory.max"), "max") == 0); /* not given: untouched */
	p = (struct sp_rt_resize){ .memory_max = 32 << 20,
				   .swap_max = 0,
				   .cpu_quota = 20000,
				   .cpu_weight = 20,
				   .pids_max = -1 };
	/* memory.swap.max is absent (no swap accounting): skipped, not an error. */
	CHECK(sp_cgroup_update(fd, &p, &err) == 0);
	CHECK(strcmp(cg_read(fd, "memory.max"), "33554432") == 0);
	CHECK(strcmp(cg_read(fd, "cpu.max"), "20000") == 0); /* the kernel keeps the period */
	CHECK(strcmp(cg_read(fd, "cpu.weight"), "20") == 0);
	CHECK(strcmp(cg_read(fd, "pids.max"), "max") == 0);
	p = (struct sp_rt_resize){
		.swap_max = -2, .cpu_quota = 30000, .cpu_period = 60000, .pids_max = 10
	};
	CHECK(sp_cgroup_update(fd, &p, &err) == 0);
	CHECK(strcmp(cg_read(fd, "cpu.max"), "30000 60000") == 0);
	CHECK(strcmp(cg_read(fd, "pids.max"), "10") == 0);
	CHECK(strcmp(cg_read(fd, "memory.max"), "33554432") == 0);
	close(fd);
	(void)snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	CHECK(system(cmd) == 0);
}

TEST(update_unknown_container_not_found)
{
	struct sp_err err;

	CHECK(sp_rt_update("nosuchcontainer", NULL, &err) < 0 && err.kind == SP_E_NOT_FOUND);
	CHECK(strstr(err.msg, "nosuchcontainer not found") != NULL);
}
