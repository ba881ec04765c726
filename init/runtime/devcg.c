/* The device cgroup. cgroup v2 has no devices controller: the kernel asks a
 * BPF_PROG_TYPE_CGROUP_DEVICE program on every mknod and every open of a device node by a process
 * of the cgroup. Ours allows the nodes of a container's own /dev (sp_rt_devs, from which rootfs.c
 * makes them) and devpts's ptmx and slaves, and refuses everything else: the pod's disks and
 * their dm-crypt mappings, /dev/mem, the serial console, whatever a container given CAP_MKNOD
 * and CAP_SYS_ADMIN might create on a mount of its own.
 *
 * The program is hand-assembled (no libbpf, no compiler) from that table and attached once, with
 * no flags, to the sandbox cgroup that holds every container's cgroup. There it applies to all
 * of them, and no container can replace it (a program attached without BPF_F_ALLOW_OVERRIDE or
 * BPF_F_ALLOW_MULTI forbids programs below it) or remove it: on 6.12, BPF_PROG_DETACH of a
 * non-multi program asks no capability, only a cgroup directory fd, and the one cgroup directory
 * a container can open is its own (cgroup namespace, /sys/fs/cgroup). */
#define _GNU_SOURCE
#include "runtime/runtime.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/bpf.h>

#include "lib/cleanup.h"

#define ACC_ALL (BPF_DEVCG_ACC_MKNOD | BPF_DEVCG_ACC_READ | BPF_DEVCG_ACC_WRITE)
#define ACC_RW	(BPF_DEVCG_ACC_READ | BPF_DEVCG_ACC_WRITE)

const struct sp_rt_dev sp_rt_devs[] = {
	{ "null", 1, 3, true, ACC_ALL },
	{ "zero", 1, 5, true, ACC_ALL },
	{ "full", 1, 7, true, ACC_ALL },
	{ "random", 1, 8, true, ACC_ALL },
	{ "urandom", 1, 9, true, ACC_ALL },
	{ "tty", 5, 0, true, ACC_ALL },
	/* devpts's own (a private instance per container): /dev/ptmx links to pts/ptmx, and the
	 * Unix98 slaves, all minors of one major. A terminal process's stdio is a slave of the
	 * guest's devpts, reopened through /proc/self/fd. */
	{ "pts/ptmx", 5, 2, false, ACC_RW },
	{ "pts/*", 136, -1, false, ACC_RW },
};
const size_t sp_rt_ndevs = sizeof(sp_rt_devs) / sizeof(sp_rt_devs[0]);

static struct bpf_insn insn(uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm)
{
	struct bpf_insn i;

	memset(&i, 0, sizeof(i));
	i.code = code;
	i.dst_reg = dst & 0xf;
	i.src_reg = src & 0xf;
	i.off = off;
	i.imm = imm;
	return i;
}

#define LDX_W(dst, off)	    insn(BPF_LDX | BPF_MEM | BPF_W, dst, 1, off, 0)
#define MOV_X(dst, src)	    insn(BPF_ALU64 | BPF_MOV | BPF_X, dst, src, 0, 0)
#define MOV_K(dst, k)	    insn(BPF_ALU64 | BPF_MOV | BPF_K, dst, 0, 0, k)
#define AND_K(dst, k)	    insn(BPF_ALU64 | BPF_AND | BPF_K, dst, 0, 0, k)
#define RSH_K(dst, k)	    insn(BPF_ALU64 | BPF_RSH | BPF_K, dst, 0, 0, k)
#define JNE_K(dst, k, off)  insn(BPF_JMP | BPF_JNE | BPF_K, dst, 0, off, k)
#define JSET_K(dst, k, off) insn(BPF_JMP | BPF_JSET | BPF_K, dst, 0, off, k)
#define EXIT()		    insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0)

/* Registers: r2 access (BPF_DEVCG_ACC_*), r3 type (BPF_DEVCG_DEV_*), r4 major, r5 minor; r1 is
 * the context (struct bpf_cgroup_dev_ctx) and r0 the verdict, 1 allow, 0 refuse. Each table entry
 * becomes "not this device, or an access beyond its own: on to the next; else allow". */
size_t sp_devcg_program(struct bpf_insn *p, size_t max)
{
	size_t n = 0, to_deny;

	if (max < 8 + sp_rt_ndevs * 6)
		return 0;
	p[n++] = LDX_W(2, 0); /* access_type: (access << 16) | type */
	p[n++] = MOV_X(3, 2);
	p[n++] = AND_K(3, 0xffff);
	p[n++] = RSH_K(2, 16);
	p[n++] = LDX_W(4, 4);
	p[n++] = LDX_W(5, 8);
	to_deny = n;
	p[n++] = JNE_K(3, BPF_DEVCG_DEV_CHAR, 0); /* every allowed node is a character device */
	for (size_t i = 0; i < sp_rt_ndevs; i++) {
		const struct sp_rt_dev *d = &sp_rt_devs[i];
		size_t start = n;

		p[n++] = JNE_K(4, (int32_t)d->major, 0);
		if (d->minor >= 0)
			p[n++] = JNE_K(5, d->minor, 0);
		p[n++] = JSET_K(2, (int32_t)(~d->access & ACC_ALL), 0);
		p[n++] = MOV_K(0, 1);
		p[n++] = EXIT();
		/* The jumps of this entry go past its end. */
		for (size_t j = start; j < n - 2; j++)
			p[j].off = (int16_t)(n - j - 1);
	}
	p[to_deny].off = (int16_t)(n - to_deny - 1);
	p[n++] = MOV_K(0, 0);
	p[n++] = EXIT();
	return n;
}

static int bpf(int cmd, union bpf_attr *a)
{
	return (int)syscall(SYS_bpf, cmd, a, sizeof(*a));
}

/* Loads the program; on a refusal, loads it again with the verifier's log for the message. */
static int load(struct sp_err *err)
{
	struct bpf_insn prog[64];
	size_t n = sp_devcg_program(prog, sizeof(prog) / sizeof(prog[0]));
	char log[2048];
	union bpf_attr a;
	int fd, saved;

	memset(&a, 0, sizeof(a));
	a.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
	a.insns = (uint64_t)(uintptr_t)prog;
	a.insn_cnt = (uint32_t)n;
	/* No helper is called, so the license gates nothing. */
	a.license = (uint64_t)(uintptr_t) "GPL";
	fd = bpf(BPF_PROG_LOAD, &a);
	if (fd >= 0)
		return fd;
	saved = errno;
	log[0] = '\0';
	a.log_buf = (uint64_t)(uintptr_t)log;
	a.log_size = sizeof(log);
	a.log_level = 1;
	fd = bpf(BPF_PROG_LOAD, &a);
	if (fd >= 0) /* accepted the second time: say nothing, use it */
		return fd;
	log[sizeof(log) - 1] = '\0';
	for (char *nl; (nl = strrchr(log, '\n')) && !nl[1];)
		*nl = '\0';
	return sp_error(err, saved, "load the device cgroup program (%s)",
			strrchr(log, '\n') ? strrchr(log, '\n') + 1 : log);
}

int sp_devcg_attach(int cgfd, struct sp_err *err)
{
	cleanup_close int prog = load(err);
	union bpf_attr a;

	if (prog < 0)
		return -1;
	memset(&a, 0, sizeof(a));
	a.target_fd = (uint32_t)cgfd;
	a.attach_bpf_fd = (uint32_t)prog;
	a.attach_type = BPF_CGROUP_DEVICE;
	a.attach_flags = 0; /* nothing below may override it or add to it */
	if (bpf(BPF_PROG_ATTACH, &a) < 0)
		return sp_error(err, errno, "attach the device cgroup program");
	return 0;
}
