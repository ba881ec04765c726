/* The attestation worker's confinement, as data for lib/confine.c (DESIGN.md "Attestation").
 *
 * The worker parses the KBS's HTTP, JSON and JWE replies (untrusted network bytes) and holds the
 * TEE key and the token. It is spawned at boot with what every variant below shares (a mount and
 * an IPC namespace of its own, no capabilities but what entering its root takes, no_new_privs,
 * undumpable) and enters the rest when PID 1 says the network is up (worker.c), because
 * resolv.conf is complete only then:
 *   - an empty read-only root holding copies of /etc/resolv.conf and /etc/hosts (the resolver's
 *     two files) and, bind-mounted at their usual paths, exactly the evidence device the chosen
 *     provider uses: /dev/tpmrm0 (tpm), the configfs-tsm report directory (tdx, snp) and
 *     /dev/sev-guest (snp). So the evidence code opens the same paths as ever, and nothing else
 *     of the guest is reachable;
 *   - no capabilities at all, in any set. It stays uid 0 because configfs-tsm reports are made
 *     by mkdir in a root-owned 0755 directory; with no capabilities uid 0 only means owner
 *     rights on the few files in its root;
 *   - a seccomp allow-list (below); everything else fails with EPERM rather than killing: the
 *     attestation fails closed either way (the worker reports a stage error, or PID 1 sees it
 *     die), and a path the tests cannot reach here (TDX and SNP hardware, a KBS named by DNS)
 *     turns an unforeseen call into an errno in the console line instead of "the worker died".
 * PID 1 keeps the TPM for PCR8 at boot and everything else; the worker keeps only its socket to
 * PID 1, the console/kmsg fds it logs to, and the evidence paths above. */
#define _GNU_SOURCE
#include "attest/attest_int.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include "lib/confine.h"

/* SNP_GET_REPORT and SNP_GET_EXT_REPORT: _IOWR('S', 0 and 2, struct snp_guest_request_ioctl)
 * (32 bytes), as in evidence.c. */
#define SNP_IOCTL     0xc0205300UL
#define SNP_EXT_IOCTL 0xc0205302UL
#define WFLAGS	      (O_WRONLY | O_RDWR | O_CREAT | O_TRUNC | O_APPEND | O_TMPFILE)

/* Every entry is something the worker's code (ours, musl, OpenSSL, libcurl with its threaded
 * resolver, json-c) does between entering the root and its exit. */
static const struct sp_sc_rule base[] = {
	/* its socket to PID 1, log fds, HTTP sockets, evidence files */
	SP_SC_ALLOW(SCMP_SYS(read)),
	SP_SC_ALLOW(SCMP_SYS(write)),
	SP_SC_ALLOW(SCMP_SYS(readv)),
	SP_SC_ALLOW(SCMP_SYS(writev)),
	SP_SC_ALLOW(SCMP_SYS(close)),
	SP_SC_ALLOW(SCMP_SYS(fcntl)),
	SP_SC_ALLOW(SCMP_SYS(lseek)),
	SP_SC_ALLOW(SCMP_SYS(fstat)),
	SP_SC_ALLOW(SCMP_SYS(newfstatat)),
	SP_SC_ALLOW(SCMP_SYS(statx)),
	/* memory, never executable: nothing in the worker generates code */
	SP_SC_ARG_MASK(SCMP_SYS(mmap), 2, PROT_EXEC, 0),
	SP_SC_ARG_MASK(SCMP_SYS(mprotect), 2, PROT_EXEC, 0),
	SP_SC_ALLOW(SCMP_SYS(munmap)),
	SP_SC_ALLOW(SCMP_SYS(mremap)),
	SP_SC_ALLOW(SCMP_SYS(brk)),
	SP_SC_ALLOW(SCMP_SYS(madvise)),
	/* signals (curl's NOSIGNAL still sets SIGPIPE handling) and threads */
	SP_SC_ALLOW(SCMP_SYS(rt_sigaction)),
	SP_SC_ALLOW(SCMP_SYS(rt_sigprocmask)),
	SP_SC_ALLOW(SCMP_SYS(rt_sigreturn)),
	SP_SC_ALLOW(SCMP_SYS(futex)),
	SP_SC_ALLOW(SCMP_SYS(set_robust_list)),
	SP_SC_ALLOW(SCMP_SYS(set_tid_address)),
	SP_SC_ALLOW(SCMP_SYS(sched_yield)),
	SP_SC_ALLOW(SCMP_SYS(exit)),
	SP_SC_ALLOW(SCMP_SYS(exit_group)),
	SP_SC_ALLOW(SCMP_SYS(getpid)),
	SP_SC_ALLOW(SCMP_SYS(gettid)),
	SP_SC_ALLOW(SCMP_SYS(getuid)),
	SP_SC_ALLOW(SCMP_SYS(geteuid)),
	SP_SC_ALLOW(SCMP_SYS(getgid)),
	SP_SC_ALLOW(SCMP_SYS(getegid)),
	/* libcurl's event wait and wake-up pipe */
	SP_SC_ALLOW(SCMP_SYS(poll)),
	SP_SC_ALLOW(SCMP_SYS(ppoll)),
	SP_SC_ALLOW(SCMP_SYS(pipe2)),
	SP_SC_ALLOW(SCMP_SYS(eventfd2)),
	/* time, randomness (TEE key, TLS, JWE) */
	SP_SC_ALLOW(SCMP_SYS(clock_gettime)),
	SP_SC_ALLOW(SCMP_SYS(gettimeofday)),
	SP_SC_ALLOW(SCMP_SYS(clock_nanosleep)),
	SP_SC_ALLOW(SCMP_SYS(nanosleep)),
	SP_SC_ALLOW(SCMP_SYS(getrandom)),
	/* TCP to the KBS and the resolver's UDP: IPv4 and IPv6 sockets only (no unix, vsock,
	 * netlink, packet); a socketpair of unix sockets is only ever connected to itself
	 * (libcurl's wake-up pair) */
	SP_SC_ARG_EQ(SCMP_SYS(socket), 0, AF_INET),
	SP_SC_ARG_EQ(SCMP_SYS(socket), 0, AF_INET6),
	SP_SC_ARG_EQ(SCMP_SYS(socketpair), 0, AF_UNIX),
	SP_SC_ALLOW(SCMP_SYS(connect)),
	SP_SC_ALLOW(SCMP_SYS(bind)),
	SP_SC_ALLOW(SCMP_SYS(getsockopt)),
	SP_SC_ALLOW(SCMP_SYS(setsockopt)),
	SP_SC_ALLOW(SCMP_SYS(getsockname)),
	SP_SC_ALLOW(SCMP_SYS(getpeername)),
	SP_SC_ALLOW(SCMP_SYS(sendto)),
	SP_SC_ALLOW(SCMP_SYS(recvfrom)),
	SP_SC_ALLOW(SCMP_SYS(sendmsg)),
	SP_SC_ALLOW(SCMP_SYS(recvmsg)),
	SP_SC_ALLOW(SCMP_SYS(shutdown)),
	/* threads only (the resolver): a clone without CLONE_THREAD would be a new process;
	 * libcs fall back to clone when clone3 is missing */
	SP_SC_ARG_MASK(SCMP_SYS(clone), 0, CLONE_THREAD, CLONE_THREAD),
	SP_SC_FAIL(SCMP_SYS(clone3), ENOSYS),
	/* signals to its own threads only (abort, pthread_kill), never to another process */
	{ .nr = SCMP_SYS(tgkill), .arg = 0, .self = true, .mask = ~0ull },
	/* ioctl: non-blocking and pending bytes on sockets, isatty */
	SP_SC_ARG_EQ(SCMP_SYS(ioctl), 1, FIONBIO),
	SP_SC_ARG_EQ(SCMP_SYS(ioctl), 1, FIONREAD),
	SP_SC_ARG_EQ(SCMP_SYS(ioctl), 1, TIOCGWINSZ),
};

/* Opens: read-only, where the root holds only the resolver's files ... */
static const struct sp_sc_rule open_ro[] = {
	SP_SC_ARG_MASK(SCMP_SYS(open), 1, WFLAGS, 0),
	SP_SC_ARG_MASK(SCMP_SYS(openat), 2, WFLAGS, 0),
};
/* ... else a read-write evidence device, or configfs-tsm's inblob written; nothing created. */
static const struct sp_sc_rule open_dev[] = {
	SP_SC_ARG_MASK(SCMP_SYS(open), 1, O_CREAT, 0),
	SP_SC_ARG_MASK(SCMP_SYS(openat), 2, O_CREAT, 0),
};
/* configfs-tsm: a report is a directory made and removed for each quote. */
static const struct sp_sc_rule tsm[] = {
	SP_SC_ALLOW(SCMP_SYS(mkdir)),
	SP_SC_ALLOW(SCMP_SYS(mkdirat)),
	SP_SC_ALLOW(SCMP_SYS(rmdir)),
	SP_SC_ARG_EQ(SCMP_SYS(unlinkat), 2, AT_REMOVEDIR),
};
static const struct sp_sc_rule snp[] = {
	SP_SC_ARG_EQ(SCMP_SYS(ioctl), 1, SNP_IOCTL),
	SP_SC_ARG_EQ(SCMP_SYS(ioctl), 1, SNP_EXT_IOCTL),
};

/* The resolver's two files (when the guest has them) in an /etc of their own. */
static const struct sp_confine_path paths_none[] = {
	{ "/etc", SP_CONFINE_DIR, false },
	{ "/etc/resolv.conf", SP_CONFINE_COPY, true },
	{ "/etc/hosts", SP_CONFINE_COPY, true },
};
static const struct sp_confine_path paths_tpm[] = {
	{ "/etc", SP_CONFINE_DIR, false },
	{ "/etc/resolv.conf", SP_CONFINE_COPY, true },
	{ "/etc/hosts", SP_CONFINE_COPY, true },
	{ "/dev/tpmrm0", SP_CONFINE_BIND, false },
};
static const struct sp_confine_path paths_tdx[] = {
	{ "/etc", SP_CONFINE_DIR, false },
	{ "/etc/resolv.conf", SP_CONFINE_COPY, true },
	{ "/etc/hosts", SP_CONFINE_COPY, true },
	{ "/sys/kernel/config/tsm/report", SP_CONFINE_BIND, true },
};
static const struct sp_confine_path paths_snp[] = {
	{ "/etc", SP_CONFINE_DIR, false },
	{ "/etc/resolv.conf", SP_CONFINE_COPY, true },
	{ "/etc/hosts", SP_CONFINE_COPY, true },
	{ "/sys/kernel/config/tsm/report", SP_CONFINE_BIND, true },
	{ "/dev/sev-guest", SP_CONFINE_BIND, true },
};

#define SPEC(p, ...)                                                                               \
	{                                                                                          \
		.name = "sp-attest", .unshare = CLONE_NEWNS | CLONE_NEWIPC, .empty_root = true,    \
		.root_later = true, .paths = (p), .npaths = sizeof(p) / sizeof((p)[0]),            \
		.seccomp = true, .sc = { SP_SC_LIST(base), __VA_ARGS__ },                          \
	}

static const struct sp_confine specs[] = {
	[SP_EV_NONE] = SPEC(paths_none, SP_SC_LIST(open_ro)),
	[SP_EV_SAMPLE] = SPEC(paths_none, SP_SC_LIST(open_ro)),
	[SP_EV_TPM] = SPEC(paths_tpm, SP_SC_LIST(open_dev)),
	[SP_EV_TDX] = SPEC(paths_tdx, SP_SC_LIST(open_dev), SP_SC_LIST(tsm)),
	[SP_EV_SNP] = SPEC(paths_snp, SP_SC_LIST(open_dev), SP_SC_LIST(tsm), SP_SC_LIST(snp)),
};

/* At the spawn only what the variants share is applied (root_later): any of them will do. */
const struct sp_confine sp_attest_confine_boot = SPEC(paths_none, SP_SC_LIST(open_ro));

const struct sp_confine *sp_attest_confine(enum sp_evidence_kind ev)
{
	return (unsigned)ev <= SP_EV_SNP ? &specs[ev] : &specs[SP_EV_NONE];
}
