/* The confinement of a pull's processes, as data for lib/confine.c (DESIGN.md "Image pull",
 * privilege separation).
 *
 * The parsers (the metadata worker, and the layer parsers: meta.c, layer.c) read registry bytes:
 * a private mount namespace whose root is an empty read-only tmpfs (holding only copies of
 * resolv.conf and hosts when the parser talks to the network), no network namespace of the
 * guest when it does not, uid/gid nobody with no capabilities, no_new_privs, no file larger than
 * nothing, and a seccomp allow-list (everything else fails with EPERM): no file opened for
 * writing, no socket but TCP/UDP over IPv4/IPv6 (none at all without network), no executable
 * memory, only the ioctls a socket and isatty need, no mount, no ptrace, no new process.
 *
 * The pull worker and the layer workers (the appliers) parse nothing from the registry but
 * fixed records; they keep what writing a layer and mounting it need (ownership, modes,
 * whiteout nodes, file capabilities, trusted.overlay xattrs, the overlay mount) and what making
 * a parser's confinement needs (namespaces and mounts, the switch to nobody, the bounding set),
 * nothing else, in any set. The release worker only removes a container's upper directory. */
#define _GNU_SOURCE
#include "image/image_int.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include "lib/confine.h"

#define WFLAGS (O_WRONLY | O_RDWR | O_CREAT | O_TRUNC | O_APPEND | O_TMPFILE)

static const struct sp_sc_rule parse_base[] = {
	SP_SC_ALLOW(SCMP_SYS(read)),
	SP_SC_ALLOW(SCMP_SYS(write)),
	SP_SC_ALLOW(SCMP_SYS(readv)),
	SP_SC_ALLOW(SCMP_SYS(writev)),
	SP_SC_ALLOW(SCMP_SYS(pread64)),
	SP_SC_ALLOW(SCMP_SYS(close)),
	SP_SC_ALLOW(SCMP_SYS(fstat)),
	SP_SC_ALLOW(SCMP_SYS(newfstatat)),
	SP_SC_ALLOW(SCMP_SYS(statx)),
	SP_SC_ALLOW(SCMP_SYS(lseek)),
	/* memory, never executable: nothing in a parser generates code (review L5) */
	SP_SC_ARG_MASK(SCMP_SYS(mmap), 2, PROT_EXEC, 0),
	SP_SC_ARG_MASK(SCMP_SYS(mprotect), 2, PROT_EXEC, 0),
	SP_SC_ALLOW(SCMP_SYS(munmap)),
	SP_SC_ALLOW(SCMP_SYS(mremap)),
	SP_SC_ALLOW(SCMP_SYS(brk)),
	SP_SC_ALLOW(SCMP_SYS(madvise)),
	SP_SC_ALLOW(SCMP_SYS(rt_sigaction)),
	SP_SC_ALLOW(SCMP_SYS(rt_sigprocmask)),
	SP_SC_ALLOW(SCMP_SYS(rt_sigreturn)),
	SP_SC_ALLOW(SCMP_SYS(sigaltstack)),
	SP_SC_ALLOW(SCMP_SYS(poll)),
	SP_SC_ALLOW(SCMP_SYS(ppoll)),
	SP_SC_ALLOW(SCMP_SYS(select)),
	SP_SC_ALLOW(SCMP_SYS(pselect6)),
	SP_SC_ALLOW(SCMP_SYS(epoll_create1)),
	SP_SC_ALLOW(SCMP_SYS(epoll_ctl)),
	SP_SC_ALLOW(SCMP_SYS(epoll_wait)),
	SP_SC_ALLOW(SCMP_SYS(epoll_pwait)),
	SP_SC_ALLOW(SCMP_SYS(eventfd2)),
	SP_SC_ALLOW(SCMP_SYS(pipe2)),
	SP_SC_ALLOW(SCMP_SYS(socketpair)),
	SP_SC_ALLOW(SCMP_SYS(fcntl)),
	/* ioctl: non-blocking and pending bytes on sockets, isatty; nothing else */
	SP_SC_ARG_EQ(SCMP_SYS(ioctl), 1, FIONBIO),
	SP_SC_ARG_EQ(SCMP_SYS(ioctl), 1, FIONREAD),
	SP_SC_ARG_EQ(SCMP_SYS(ioctl), 1, TIOCGWINSZ),
	SP_SC_ALLOW(SCMP_SYS(clock_gettime)),
	SP_SC_ALLOW(SCMP_SYS(clock_getres)),
	SP_SC_ALLOW(SCMP_SYS(clock_nanosleep)),
	SP_SC_ALLOW(SCMP_SYS(nanosleep)),
	SP_SC_ALLOW(SCMP_SYS(gettimeofday)),
	SP_SC_ALLOW(SCMP_SYS(getrandom)),
	SP_SC_ALLOW(SCMP_SYS(exit)),
	SP_SC_ALLOW(SCMP_SYS(exit_group)),
	SP_SC_ALLOW(SCMP_SYS(futex)),
	SP_SC_ALLOW(SCMP_SYS(set_robust_list)),
	SP_SC_ALLOW(SCMP_SYS(get_robust_list)),
	SP_SC_ALLOW(SCMP_SYS(rseq)),
	SP_SC_ALLOW(SCMP_SYS(getpid)),
	SP_SC_ALLOW(SCMP_SYS(gettid)),
	SP_SC_ALLOW(SCMP_SYS(getuid)),
	SP_SC_ALLOW(SCMP_SYS(geteuid)),
	SP_SC_ALLOW(SCMP_SYS(getgid)),
	SP_SC_ALLOW(SCMP_SYS(getegid)),
	SP_SC_ALLOW(SCMP_SYS(getppid)),
	SP_SC_ALLOW(SCMP_SYS(uname)),
	SP_SC_ALLOW(SCMP_SYS(sched_yield)),
	SP_SC_ALLOW(SCMP_SYS(sched_getaffinity)),
	SP_SC_ALLOW(SCMP_SYS(prlimit64)),
	SP_SC_ALLOW(SCMP_SYS(set_tid_address)),
	SP_SC_ALLOW(SCMP_SYS(membarrier)),
	SP_SC_ALLOW(SCMP_SYS(restart_syscall)),
	SP_SC_ALLOW(SCMP_SYS(dup)),
	SP_SC_ALLOW(SCMP_SYS(dup3)),
	SP_SC_ALLOW(SCMP_SYS(getcwd)),
	SP_SC_ALLOW(SCMP_SYS(sysinfo)),
	SP_SC_ALLOW(SCMP_SYS(tgkill)),
	SP_SC_ALLOW(SCMP_SYS(shutdown)),
	/* files: read-only opens (the root is an empty read-only tmpfs anyway) */
	SP_SC_ARG_MASK(SCMP_SYS(openat), 2, WFLAGS, 0),
	SP_SC_ARG_MASK(SCMP_SYS(open), 1, WFLAGS, 0),
	/* threads only (curl's resolver): a clone without CLONE_THREAD is a new process; libcs
	 * fall back to clone when clone3 is missing */
	SP_SC_ARG_MASK(SCMP_SYS(clone), 0, CLONE_THREAD, CLONE_THREAD),
	SP_SC_FAIL(SCMP_SYS(clone3), ENOSYS),
};

static const struct sp_sc_rule parse_net[] = {
	SP_SC_ALLOW(SCMP_SYS(connect)),
	SP_SC_ALLOW(SCMP_SYS(getsockopt)),
	SP_SC_ALLOW(SCMP_SYS(setsockopt)),
	SP_SC_ALLOW(SCMP_SYS(getsockname)),
	SP_SC_ALLOW(SCMP_SYS(getpeername)),
	SP_SC_ALLOW(SCMP_SYS(sendto)),
	SP_SC_ALLOW(SCMP_SYS(recvfrom)),
	SP_SC_ALLOW(SCMP_SYS(sendmsg)),
	SP_SC_ALLOW(SCMP_SYS(recvmsg)),
	SP_SC_ALLOW(SCMP_SYS(sendmmsg)),
	SP_SC_ALLOW(SCMP_SYS(recvmmsg)),
	SP_SC_ALLOW(SCMP_SYS(bind)),
	SP_SC_ARG_EQ(SCMP_SYS(socket), 0, AF_INET),
	SP_SC_ARG_EQ(SCMP_SYS(socket), 0, AF_INET6),
};

/* Its own socket to its parent needs no new socket: sends and receives on it only. */
static const struct sp_sc_rule parse_local[] = {
	SP_SC_ALLOW(SCMP_SYS(sendmsg)),
	SP_SC_ALLOW(SCMP_SYS(recvmsg)),
};

static const struct sp_confine_path resolver[] = {
	{ "/etc", SP_CONFINE_DIR, false },
	{ "/etc/resolv.conf", SP_CONFINE_COPY, true },
	{ "/etc/hosts", SP_CONFINE_COPY, true },
};

static const struct sp_rlimit parse_limits[] = {
	{ RLIMIT_FSIZE, 0, 0 }, /* it writes no file */
};

#define NOBODY	65534
#define CAPB(c) (1ull << (c))
#define APPLIER_CAPS                                                                               \
	(CAPB(CAP_CHOWN) | CAPB(CAP_DAC_OVERRIDE) | CAPB(CAP_DAC_READ_SEARCH) | CAPB(CAP_FOWNER) | \
	 CAPB(CAP_FSETID) | CAPB(CAP_MKNOD) | CAPB(CAP_SETFCAP) | CAPB(CAP_SETUID) |               \
	 CAPB(CAP_SETGID) | CAPB(CAP_SYS_CHROOT) | CAPB(CAP_SYS_ADMIN) | CAPB(CAP_SETPCAP))

const struct sp_confine sp_image_parser_confine[2] = {
	{
		.name = "sp-parse",
		.rlimits = parse_limits,
		.nrlimits = 1,
		.unshare = CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWNET,
		.empty_root = true,
		.set_ids = true,
		.uid = NOBODY,
		.gid = NOBODY,
		.seccomp = true,
		.sc = { SP_SC_LIST(parse_base), SP_SC_LIST(parse_local) },
	},
	{
		.name = "sp-fetch",
		.rlimits = parse_limits,
		.nrlimits = 1,
		.unshare = CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS,
		.empty_root = true,
		.paths = resolver,
		.npaths = 3,
		.set_ids = true,
		.uid = NOBODY,
		.gid = NOBODY,
		.seccomp = true,
		.sc = { SP_SC_LIST(parse_base), SP_SC_LIST(parse_net) },
	},
};

const struct sp_confine sp_image_applier_confine = {
	.name = "sp-layer",
	.caps = APPLIER_CAPS,
};

const struct sp_confine sp_image_pull_confine = {
	.name = "sp-pull",
	.caps = APPLIER_CAPS,
};

const struct sp_confine sp_image_release_confine = {
	.name = "sp-release",
	.caps = CAPB(CAP_DAC_OVERRIDE) | CAPB(CAP_DAC_READ_SEARCH) | CAPB(CAP_FOWNER),
};
