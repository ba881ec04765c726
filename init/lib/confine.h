/* Confinement as data: what a worker process may still do, one const struct sp_confine per kind
 * of worker, applied by lib/worker.c between the fork and the exec (and the seccomp filter right
 * after the exec, before the worker reads a byte from anyone).
 *
 * What a spec can say, in the order it is applied (RLIMIT_CORE is 0 from the start):
 *   - namespaces to unshare (CLONE_NEW*);
 *   - an empty root: a read-only tmpfs (nosuid, nodev, noexec) entered with pivot_root, the old
 *     root detached, holding only the listed paths, each copied (a regular file of at most
 *     64 KiB, read-only), bind-mounted (a directory or a device node, nosuid and noexec) at the
 *     same path, or an empty directory. Needs CLONE_NEWNS in unshare;
 *   - uid and gid (supplementary groups emptied);
 *   - the capabilities kept, in every set (effective, permitted, inheritable cleared, ambient
 *     cleared, and the bounding set, so that not even an exec gets more back);
 *   - rlimits;
 *   - no_new_privs and PR_SET_DUMPABLE 0, always;
 *   - a seccomp allow-list as data: every syscall outside the lists fails with EPERM (not a kill:
 *     the worker then reports a stage error with the errno instead of just vanishing).
 *
 * Deferred root (root_later): a worker that must see the guest's files for a while after it
 * started (the attestation worker waits for the network, whose resolv.conf it copies) enters its
 * root itself with sp_confine_enter_root() when it is ready. Until then it holds caps plus what
 * building the root and changing ids take (SYS_ADMIN, SYS_CHROOT, SETPCAP, and SETUID/SETGID
 * with set_ids), keeps its ids and has no seccomp filter; after it, exactly the spec. A
 * dynamically linked build (the host's test builds) defers every empty root the same way, to
 * right after the exec (sp_confine_self): its loader is not in the empty root. */
#ifndef SEALPOD_LIB_CONFINE_H
#define SEALPOD_LIB_CONFINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"

enum sp_confine_how {
	SP_CONFINE_COPY, /* a regular file (<= 64 KiB), copied read-only */
	SP_CONFINE_BIND, /* a directory or a device node, bind-mounted nosuid,noexec */
	SP_CONFINE_DIR,	 /* an empty directory (where copies may or may not land) */
};

struct sp_confine_path {
	const char *path; /* absolute, the same inside the new root */
	enum sp_confine_how how;
	bool optional; /* absent on this machine: left out instead of failing */
};

/* One seccomp rule: syscall nr is allowed (errnum 0), or fails with errnum, when argument arg
 * masked with mask equals value (arg -1: whatever its arguments). self: value is the calling
 * process's pid (tgkill to its own threads only). nr is libseccomp's number (SCMP_SYS(x)). */
struct sp_sc_rule {
	int nr;
	int errnum;
	int8_t arg;
	bool self;
	uint64_t mask, value;
};

#define SP_SC_ALLOW(n)                                                                             \
	{                                                                                          \
		.nr = (n), .arg = -1                                                               \
	}
#define SP_SC_FAIL(n, e)                                                                           \
	{                                                                                          \
		.nr = (n), .errnum = (e), .arg = -1                                                \
	}
#define SP_SC_ARG_EQ(n, a, v)                                                                      \
	{                                                                                          \
		.nr = (n), .arg = (a), .mask = ~0ull, .value = (uint64_t)(v)                       \
	}
#define SP_SC_ARG_MASK(n, a, m, v)                                                                 \
	{                                                                                          \
		.nr = (n), .arg = (a), .mask = (uint64_t)(m), .value = (uint64_t)(v)               \
	}

struct sp_sc_list {
	const struct sp_sc_rule *rules;
	size_t n;
};
#define SP_SC_LIST(a)                                                                              \
	{                                                                                          \
		(a), sizeof(a) / sizeof((a)[0])                                                    \
	}

struct sp_rlimit {
	int resource; /* RLIMIT_* */
	uint64_t cur, max;
};

#define SP_CONFINE_MAX_LISTS 4

struct sp_confine {
	const char *name; /* PR_SET_NAME: how ps and /proc show the worker ("sp-attest") */
	const struct sp_rlimit *rlimits;
	size_t nrlimits;
	int unshare; /* CLONE_NEW* */
	bool empty_root;
	bool root_later; /* the worker calls sp_confine_enter_root() itself */
	const struct sp_confine_path *paths;
	size_t npaths;
	bool set_ids; /* else the uid and gid stay (0 for PID 1's workers) */
	uint32_t uid, gid;
	uint64_t caps; /* bit N = capability N */
	bool seccomp;  /* false: no filter (the storage worker: see storage/worker.c) */
	struct sp_sc_list sc[SP_CONFINE_MAX_LISTS]; /* the allow-list, in pieces */
};

/* What building the root takes, held until the deferred root is entered. */
extern const uint64_t sp_confine_root_caps;

/* In a freshly forked child that holds its parent's privileges, before the exec: everything but
 * the seccomp filter (and, with root_later, the root). 0 or -1 with err naming the step. */
int sp_confine_child(const struct sp_confine *c, struct sp_err *err);
/* Right after the exec, before anything else: PR_SET_DUMPABLE 0 again (an exec sets it back)
 * and, unless root_later, the seccomp filter. */
int sp_confine_self(const struct sp_confine *c, struct sp_err *err);
/* root_later: the root now, then exactly c->caps, then the filter. Irreversible. */
int sp_confine_enter_root(const struct sp_confine *c, struct sp_err *err);
/* sp_confine_child and sp_confine_self (and the root) in this process: for tests. */
int sp_confine_all(const struct sp_confine *c, struct sp_err *err);

/* Keeps only keep (bit N = capability N) in every set, the bounding set included, clears the
 * ambient and inheritable sets, sets no_new_privs. 0 or -1 with err. */
int sp_confine_caps(uint64_t keep, struct sp_err *err);

#endif
