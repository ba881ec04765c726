/* Confinement that does not depend on the host's spec (init/runtime/devcg.c, rootfs.c, caps):
 * the device cgroup program, run here by a small eBPF interpreter over every kind of access
 * (and loaded by the kernel's verifier where this host lets us), the masked and read-only paths
 * every container gets, and the default capability set without CAP_NET_RAW. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/bpf.h>

#include "agent/ttrpc.h"
#include "lib/validate.h"
#include "runtime/runtime.h"
#include "unit.h"

#define ACC_MKNOD BPF_DEVCG_ACC_MKNOD
#define ACC_READ  BPF_DEVCG_ACC_READ
#define ACC_WRITE BPF_DEVCG_ACC_WRITE
#define ACC_RW	  (ACC_READ | ACC_WRITE)
#define BLK	  BPF_DEVCG_DEV_BLOCK
#define CHR	  BPF_DEVCG_DEV_CHAR

/* Runs prog on one access the way the kernel's cgroup device hook would (r1: the context,
 * struct bpf_cgroup_dev_ctx). Only what sp_devcg_program may emit is understood: -1 for anything
 * else, a jump out of the program, or a load beyond the context. */
static int run_prog(const struct bpf_insn *prog, size_t n, unsigned type, unsigned access,
		    unsigned major, unsigned minor)
{
	const uint32_t ctx[3] = { (access << 16) | type, major, minor };
	uint64_t r[11] = { 0 };

	for (size_t pc = 0; pc < n; pc++) {
		const struct bpf_insn *i = &prog[pc];
		uint64_t imm = (uint64_t)(int64_t)i->imm;
		long next = (long)pc;

		if (i->dst_reg > 10 || i->src_reg > 10)
			return -1;
		switch (i->code) {
		case BPF_LDX | BPF_MEM | BPF_W:
			if (i->src_reg != 1 || i->off < 0 || i->off > 8 || i->off % 4)
				return -1;
			r[i->dst_reg] = ctx[i->off / 4];
			break;
		case BPF_ALU64 | BPF_MOV | BPF_X:
			r[i->dst_reg] = r[i->src_reg];
			break;
		case BPF_ALU64 | BPF_MOV | BPF_K:
			r[i->dst_reg] = imm;
			break;
		case BPF_ALU64 | BPF_AND | BPF_K:
			r[i->dst_reg] &= imm;
			break;
		case BPF_ALU64 | BPF_RSH | BPF_K:
			r[i->dst_reg] >>= imm & 63;
			break;
		case BPF_JMP | BPF_JNE | BPF_K:
			next += r[i->dst_reg] != imm ? i->off : 0;
			break;
		case BPF_JMP | BPF_JEQ | BPF_K:
			next += r[i->dst_reg] == imm ? i->off : 0;
			break;
		case BPF_JMP | BPF_JSET | BPF_K:
			next += (r[i->dst_reg] & imm) ? i->off : 0;
			break;
		case BPF_JMP | BPF_EXIT:
			return (int)r[0];
		default:
			return -1;
		}
		if (next < 0 || next + 1 > (long)n)
			return -1;
		pc = (size_t)next;
	}
	return -1; /* fell off the end */
}

TEST(confine_device_program)
{
	struct bpf_insn prog[256];
	size_t n = sp_devcg_program(prog, 256);
	static const struct {
		unsigned type, access, major, minor;
		int want;
	} cases[] = {
		/* the container's own nodes: every access, mknod included (the setup makes them) */
		{ CHR, ACC_RW, 1, 3, 1 },
		{ CHR, ACC_MKNOD, 1, 3, 1 },
		{ CHR, ACC_READ, 1, 5, 1 },
		{ CHR, ACC_WRITE, 1, 7, 1 },
		{ CHR, ACC_READ, 1, 8, 1 },
		{ CHR, ACC_READ, 1, 9, 1 },
		{ CHR, ACC_MKNOD, 1, 9, 1 },
		{ CHR, ACC_RW, 5, 0, 1 },
		/* devpts: ptmx and the slaves, read and write only */
		{ CHR, ACC_RW, 5, 2, 1 },
		{ CHR, ACC_MKNOD, 5, 2, 0 },
		{ CHR, ACC_RW, 136, 0, 1 },
		{ CHR, ACC_RW, 136, 4095, 1 },
		{ CHR, ACC_MKNOD, 136, 1, 0 },
		{ CHR, ACC_RW | ACC_MKNOD, 136, 1, 0 },
		/* everything else: the pod's disks, dm, memory, the console, misc */
		{ BLK, ACC_READ, 253, 0, 0 },
		{ BLK, ACC_MKNOD, 253, 0, 0 },
		{ BLK, ACC_RW, 254, 0, 0 },
		{ BLK, ACC_READ, 1, 3, 0 }, /* a block device with null's numbers */
		{ CHR, ACC_READ, 1, 1, 0 },
		{ CHR, ACC_READ, 1, 2, 0 },
		{ CHR, ACC_RW, 1, 11, 0 },
		{ CHR, ACC_RW, 5, 1, 0 },
		{ CHR, ACC_RW, 4, 0, 0 },
		{ CHR, ACC_RW, 10, 200, 0 },
		{ CHR, ACC_RW, 10, 229, 0 },
		{ CHR, ACC_RW, 137, 0, 0 },
		{ CHR, ACC_RW, 0, 3, 0 },
		{ CHR, ACC_RW, 257, 3, 0 },
		{ CHR, ACC_RW, 1 + (1u << 16), 3, 0 },
		{ CHR, ACC_RW, 1, 3 + (1u << 16), 0 },
		{ 0, ACC_RW, 1, 3, 0 },
		{ BLK | CHR, ACC_RW, 1, 3, 0 },
	};

	REQUIRE(n > 0 && n < 256);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int got = run_prog(prog, n, cases[i].type, cases[i].access, cases[i].major,
				   cases[i].minor);

		if (got != cases[i].want)
			fprintf(stderr, "    case %zu (%u %u %u:%u): %d, want %d\n", i,
				cases[i].type, cases[i].access, cases[i].major, cases[i].minor, got,
				cases[i].want);
		CHECK(got == cases[i].want);
	}
	/* too little room is said, not overrun */
	CHECK(sp_devcg_program(prog, 4) == 0);
}

/* The verifier has the last word on a program: where this host lets us load one (root, a kernel
 * with cgroup BPF), it must accept it. Elsewhere the case says so and checks nothing more. */
TEST(confine_device_program_verifier)
{
	struct bpf_insn prog[256];
	size_t n = sp_devcg_program(prog, 256);
	char log[4096] = "";
	union bpf_attr a;
	int fd;

	REQUIRE(n > 0);
	memset(&a, 0, sizeof(a));
	a.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
	a.insns = (uint64_t)(uintptr_t)prog;
	a.insn_cnt = (uint32_t)n;
	a.license = (uint64_t)(uintptr_t) "GPL";
	a.log_buf = (uint64_t)(uintptr_t)log;
	a.log_size = sizeof(log);
	a.log_level = 1;
	fd = (int)syscall(SYS_bpf, BPF_PROG_LOAD, &a, sizeof(a));
	if (fd < 0 && (errno == EPERM || errno == ENOSYS)) {
		fprintf(stderr, "    (bpf() not allowed here: %s; interpreter case only)\n",
			strerror(errno));
		return;
	}
	if (fd < 0)
		fprintf(stderr, "    BPF_PROG_LOAD: %s\n%s\n", strerror(errno), log);
	CHECK(fd >= 0);
	if (fd >= 0)
		close(fd);
}

/* Every mandatory path of plan, "m:/path" (masked) or "r:/path", joined by spaces. */
static void floor_list(const struct sp_rt_plan *plan, char *out, size_t size)
{
	char path[SP_PATH_MAX + 1];
	bool masked;
	size_t len = 0;

	out[0] = '\0';
	for (size_t i = 0; sp_rt_floor_path(plan, i, path, sizeof(path), &masked) > 0; i++)
		len += (size_t)snprintf(out + len, size - len, "%s%c:%s", len ? " " : "",
					masked ? 'm' : 'r', path);
}

TEST(confine_mandatory_paths)
{
	static struct sp_rt_plan plan;
	static char list[8192];

	memset(&plan, 0, sizeof(plan));
	floor_list(&plan, list, sizeof(list));
	CHECK_STR(list, ""); /* no proc, no sysfs: nothing to mask */
	plan.mounts[0] = (struct sp_rt_mount){ .kind = MK_PROC, .dest = "/proc" };
	plan.mounts[1] = (struct sp_rt_mount){ .kind = MK_TMPFS, .dest = "/tmp" };
	plan.mounts[2] = (struct sp_rt_mount){ .kind = MK_SYSFS, .dest = "/sys" };
	plan.nmounts = 3;
	floor_list(&plan, list, sizeof(list));
	/* containerd's and the kubelet's defaults, at least */
	for (const char *const *p =
		     (const char *const[]){
			     "m:/proc/acpi", "m:/proc/asound", "m:/proc/interrupts",
			     "m:/proc/kcore", "m:/proc/keys", "m:/proc/latency_stats",
			     "m:/proc/timer_list", "m:/proc/timer_stats", "m:/proc/sched_debug",
			     "m:/proc/scsi", "m:/sys/firmware", "m:/sys/devices/virtual/powercap",
			     "r:/proc/bus", "r:/proc/fs", "r:/proc/irq", "r:/proc/sys",
			     "r:/proc/sysrq-trigger", NULL };
	     *p; p++) {
		if (!strstr(list, *p))
			fprintf(stderr, "    %s missing from %s\n", *p, list);
		CHECK(strstr(list, *p) != NULL);
	}
	CHECK(strstr(list, "/tmp") == NULL);
	/* a second proc, wherever the spec puts it, gets them too */
	plan.mounts[1] = (struct sp_rt_mount){ .kind = MK_PROC, .dest = "/x/proc2" };
	floor_list(&plan, list, sizeof(list));
	CHECK(strstr(list, "r:/x/proc2/sys ") != NULL && strstr(list, "m:/x/proc2/kcore ") != NULL);
	CHECK(strstr(list, "r:/proc/sys ") != NULL);
	/* a path that does not fit is an error, never a shorter path or the end of the list */
	{
		char small[8];
		bool masked;

		CHECK(sp_rt_floor_path(&plan, 0, small, sizeof(small), &masked) < 0);
	}
}

/* CAP_NET_RAW is out of the default set, and forced out of a spec that names it (containerd
 * names it in every spec) unless the policy consents. */
TEST(confine_net_raw_forced_out)
{
	Grpc__LinuxCapabilities lc = GRPC__LINUX_CAPABILITIES__INIT;
	char *raw[] = { "CAP_CHOWN", "CAP_NET_RAW" };
	struct sp_rt_caps c;
	struct sp_err err;

	CHECK(!(sp_cap_default_set & (1ULL << 13)));
	lc.n_bounding = lc.n_effective = lc.n_permitted = 2;
	lc.bounding = lc.effective = lc.permitted = raw;
	REQUIRE(sp_caps_parse(&lc, 0, &c, &err) == 0);
	CHECK(c.net_raw_dropped && c.bounding == 1ULL && c.permitted == 1ULL);
	REQUIRE(sp_caps_parse(&lc, 1ULL << 13, &c, &err) == 0);
	CHECK(!c.net_raw_dropped);
	CHECK(c.bounding == ((1ULL << 13) | 1ULL) && c.effective == c.bounding);
	REQUIRE(sp_caps_parse(NULL, 0, &c, &err) == 0);
	CHECK(!(c.bounding & (1ULL << 13)) && !(c.permitted & (1ULL << 13)));
}
