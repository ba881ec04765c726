/* The runtime's pure parts (init/runtime/): the spec filter against every hostile spec of issue
 * 4 and the fields it refuses or forces (sysctls, binds, NET_RAW), capability names and sets,
 * seccomp profiles (built with libseccomp, never loaded), the limits mapping, and the prepared
 * rootfs's mount check (test_pin.c has the pin). Nothing here clones or mounts. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/ttrpc.h"
#include "lib/pathat.h"
#include "runtime/runtime.h"
#include "tmp_rootfs.h"
#include "unit.h"

#define ROOT "/run/kata-containers/c1/rootfs"

/* A plain, acceptable spec; each test breaks one thing. All storage is static or in t. */
struct tspec {
	Grpc__Spec spec;
	Grpc__Process proc;
	Grpc__Root root;
	Grpc__Linux lin;
	Grpc__LinuxResources res;
	Grpc__LinuxMemory mem;
	Grpc__LinuxCPU cpu;
	Grpc__LinuxPids pids;
	Grpc__LinuxCapabilities caps;
	Grpc__Hooks hooks;
	Grpc__Hook hook;
	Grpc__Hook *hookp[1];
	Grpc__Mount mount;
	Grpc__Mount *mountp[1];
	Grpc__LinuxNamespace ns;
	Grpc__LinuxNamespace *nsp[1];
	Grpc__LinuxDevice dev;
	Grpc__LinuxDevice *devp[1];
	char *args[2];
	char *env[1];
	char *capnames[1];
	char *opts[2];
};

static void tspec_init(struct tspec *t)
{
	memset(t, 0, sizeof(*t));
	t->spec = (Grpc__Spec)GRPC__SPEC__INIT;
	t->proc = (Grpc__Process)GRPC__PROCESS__INIT;
	t->root = (Grpc__Root)GRPC__ROOT__INIT;
	t->lin = (Grpc__Linux)GRPC__LINUX__INIT;
	t->res = (Grpc__LinuxResources)GRPC__LINUX_RESOURCES__INIT;
	t->mem = (Grpc__LinuxMemory)GRPC__LINUX_MEMORY__INIT;
	t->cpu = (Grpc__LinuxCPU)GRPC__LINUX_CPU__INIT;
	t->pids = (Grpc__LinuxPids)GRPC__LINUX_PIDS__INIT;
	t->caps = (Grpc__LinuxCapabilities)GRPC__LINUX_CAPABILITIES__INIT;
	t->hooks = (Grpc__Hooks)GRPC__HOOKS__INIT;
	t->hook = (Grpc__Hook)GRPC__HOOK__INIT;
	t->mount = (Grpc__Mount)GRPC__MOUNT__INIT;
	t->ns = (Grpc__LinuxNamespace)GRPC__LINUX_NAMESPACE__INIT;
	t->dev = (Grpc__LinuxDevice)GRPC__LINUX_DEVICE__INIT;
	t->args[0] = "/bin/true";
	t->env[0] = "PATH=/bin";
	t->proc.n_args = 1;
	t->proc.args = t->args;
	t->proc.n_env = 1;
	t->proc.env = t->env;
	t->proc.cwd = "/";
	t->root.path = ROOT;
	t->spec.process = &t->proc;
	t->spec.root = &t->root;
	t->spec.linux_ = &t->lin;
	t->hookp[0] = &t->hook;
	t->mountp[0] = &t->mount;
	t->nsp[0] = &t->ns;
	t->devp[0] = &t->dev;
}

static int filter(struct tspec *t, struct sp_rt_plan *plan, struct sp_err *err)
{
	memset(err, 0, sizeof(*err));
	return sp_rt_filter_spec(&t->spec, "c1", ROOT, false, 0, plan, err);
}

/* Expects the filter to refuse with code and a message containing want. */
#define REFUSED(t, code, want)                                                                     \
	do {                                                                                       \
		int r_ = filter(t, plan, &err);                                                    \
		if (r_ >= 0 || err.kind != (code) || !strstr(err.msg, want))                       \
			fprintf(stderr, "    got %d '%s'\n", r_, err.msg);                         \
		CHECK(r_ < 0 && err.kind == (code));                                               \
		CHECK(strstr(err.msg, want) != NULL);                                              \
	} while (0)

TEST(runtime_spec_plain_accepted)
{
	static struct sp_rt_plan p;
	struct sp_rt_plan *plan = &p;
	struct tspec t;
	struct sp_err err;

	tspec_init(&t);
	REQUIRE(filter(&t, plan, &err) == 0);
	CHECK(plan->p.caps.bounding == sp_cap_default_set);
	CHECK(plan->limits.memory_max == -1 && plan->limits.pids_max == -1);
	CHECK(plan->nmounts == 0 && !plan->root_readonly);
}

TEST(runtime_spec_hostile_refused)
{
	static struct sp_rt_plan p;
	struct sp_rt_plan *plan = &p;
	struct tspec t;
	struct sp_err err;

	/* a namespace joined by path */
	tspec_init(&t);
	t.ns.type = "mount";
	t.ns.path = "/proc/1/ns/mnt";
	t.lin.n_namespaces = 1;
	t.lin.namespaces = t.nsp;
	REFUSED(&t, SP_E_INVALID, "namespace mount path '/proc/1/ns/mnt' refused");
	/* a user namespace */
	t.ns.type = "user";
	t.ns.path = "";
	REFUSED(&t, SP_E_INVALID, "user namespace refused");
	/* a hook */
	tspec_init(&t);
	t.hook.path = "/bin/sh";
	t.hooks.n_prestart = 1;
	t.hooks.prestart = t.hookp;
	t.spec.hooks = &t.hooks;
	REFUSED(&t, SP_E_INVALID, "hooks refused");
	/* a device */
	tspec_init(&t);
	t.dev.path = "/dev/vda";
	t.lin.n_devices = 1;
	t.lin.devices = t.devp;
	REFUSED(&t, SP_E_INVALID, "device '/dev/vda' refused");
	/* a bind mount of / and of anything outside the shared paths */
	tspec_init(&t);
	t.mount.destination = "/host";
	t.mount.source = "/";
	t.mount.type = "bind";
	t.spec.n_mounts = 1;
	t.spec.mounts = t.mountp;
	REFUSED(&t, SP_E_INVALID, "bind mount source '/' refused");
	t.mount.source = "/run/kata-containers/shared/../../../etc";
	REFUSED(&t, SP_E_INVALID, "is not an absolute normalised path");
	t.mount.source = "/run/kata-containers/sharedx/a";
	REFUSED(&t, SP_E_INVALID, "refused: only paths beneath");
	t.mount.type = "tmpfs";
	t.opts[0] = "rbind";
	t.mount.n_options = 1;
	t.mount.options = t.opts;
	REFUSED(&t, SP_E_INVALID, "refused: only paths beneath"); /* rbind makes a bind */
	/* relative or escaping mount destinations */
	tspec_init(&t);
	t.mount.destination = "tmp";
	t.mount.type = "tmpfs";
	t.spec.n_mounts = 1;
	t.spec.mounts = t.mountp;
	REFUSED(&t, SP_E_INVALID, "mount destination 'tmp' is not an absolute");
	t.mount.destination = "/tmp/../../etc";
	REFUSED(&t, SP_E_INVALID, "is not an absolute normalised path");
	t.mount.destination = "/";
	REFUSED(&t, SP_E_INVALID, "mount destination '/' refused");
	t.mount.destination = "/x";
	t.mount.type = "ext4";
	REFUSED(&t, SP_E_INVALID, "filesystem type 'ext4' refused");
	t.mount.type = "tmpfs";
	t.opts[0] = "rshared";
	t.mount.n_options = 1;
	t.mount.options = t.opts;
	REFUSED(&t, SP_E_INVALID, "shared propagation refused");
	/* Root.Path: another container's, outside, relative */
	tspec_init(&t);
	t.root.path = "/run/kata-containers/c2/rootfs";
	REFUSED(&t, SP_E_INVALID, "the rootfs prepared for container c1 is " ROOT);
	t.root.path = "/";
	REFUSED(&t, SP_E_INVALID, "root.path '/' refused");
	t.root.path = "rootfs";
	REFUSED(&t, SP_E_INVALID, "root.path 'rootfs' is not an absolute");
	memset(&err, 0, sizeof(err));
	t.root.path = ROOT;
	CHECK(FAILS_AS(sp_rt_filter_spec(&t.spec, "c1", NULL, false, 0, plan, &err), err,
		       SP_E_INVALID));
	CHECK(strstr(err.msg, "no rootfs was prepared for container c1") != NULL);
	CHECK(FAILS_AS(sp_rt_filter_spec(&t.spec, "../c1", ROOT, false, 0, plan, &err), err,
		       SP_E_INVALID));
	/* capabilities beyond the default set without the policy's consent */
	tspec_init(&t);
	t.capnames[0] = "CAP_SYS_ADMIN";
	t.caps.n_bounding = 1;
	t.caps.bounding = t.capnames;
	t.proc.capabilities = &t.caps;
	REFUSED(&t, SP_E_DENIED, "capability CAP_SYS_ADMIN is beyond the default set");
	t.capnames[0] = "CAP_SYS_PTRACE";
	REFUSED(&t, SP_E_DENIED, "CAP_SYS_PTRACE");
	t.capnames[0] = "CAP_NOPE";
	REFUSED(&t, SP_E_INVALID, "unknown capability 'CAP_NOPE'");
	/* ... and with it */
	t.capnames[0] = "CAP_SYS_ADMIN";
	CHECK(sp_rt_filter_spec(&t.spec, "c1", ROOT, false, 1ULL << 21, plan, &err) == 0);
	CHECK(plan->p.caps.bounding == 1ULL << 21);
	/* absurd limits and values */
	tspec_init(&t);
	t.lin.resources = &t.res;
	t.res.memory = &t.mem;
	t.mem.limit = 4096;
	REFUSED(&t, SP_E_INVALID, "below 1 MiB");
	t.mem.limit = -7;
	REFUSED(&t, SP_E_INVALID, "absurd");
	t.mem.limit = 64 << 20;
	t.mem.swap = 32 << 20;
	REFUSED(&t, SP_E_INVALID, "below the memory limit");
	t.res.memory = NULL;
	t.res.pids = &t.pids;
	t.pids.limit = -5;
	REFUSED(&t, SP_E_INVALID, "pids limit -5 is absurd");
	t.res.pids = NULL;
	t.res.cpu = &t.cpu;
	t.cpu.period = 10;
	REFUSED(&t, SP_E_INVALID, "cpu period 10 us");
	t.cpu.period = 0;
	t.cpu.shares = 1;
	REFUSED(&t, SP_E_INVALID, "cpu shares 1");
	tspec_init(&t);
	t.proc.oomscoreadj = -1000;
	REFUSED(&t, SP_E_INVALID, "oomScoreAdj -1000");
	tspec_init(&t);
	t.proc.n_args = 0;
	REFUSED(&t, SP_E_INVALID, "process.args is empty");
	tspec_init(&t);
	t.env[0] = "NOEQUALS";
	REFUSED(&t, SP_E_INVALID, "is not NAME=value");
	tspec_init(&t);
	t.proc.cwd = "tmp";
	REFUSED(&t, SP_E_INVALID, "process.cwd 'tmp'");
	tspec_init(&t);
	t.spec.hostname = "bad host";
	REFUSED(&t, SP_E_INVALID, "is not a valid host name");
	/* host text in a message is escaped */
	tspec_init(&t);
	t.root.path = "/a\nb";
	REFUSED(&t, SP_E_INVALID, "root.path '/a\\x0ab'");
}

TEST(runtime_spec_mounts_and_limits)
{
	static struct sp_rt_plan p;
	struct tspec t;
	struct sp_err err;

	tspec_init(&t);
	t.mount.destination = "/dev/pts";
	t.mount.type = "devpts";
	t.opts[0] = "ro";
	t.opts[1] = "mode=0620";
	t.mount.n_options = 2;
	t.mount.options = t.opts;
	t.spec.n_mounts = 1;
	t.spec.mounts = t.mountp;
	t.lin.resources = &t.res;
	t.res.memory = &t.mem;
	t.mem.limit = 64 << 20;
	t.mem.swap = 96 << 20;
	t.res.cpu = &t.cpu;
	t.cpu.shares = 1024;
	t.cpu.quota = 50000;
	t.cpu.period = 100000;
	t.res.pids = &t.pids;
	t.pids.limit = 100;
	REQUIRE(filter(&t, &p, &err) == 0);
	REQUIRE(p.nmounts == 1);
	CHECK(p.mounts[0].kind == MK_DEVPTS);
	CHECK((p.mounts[0].flags & (MS_RDONLY | MS_NOSUID | MS_NODEV)) ==
	      (MS_RDONLY | MS_NOSUID | MS_NODEV));
	CHECK_STR(p.mounts[0].data, "mode=0620,newinstance");
	CHECK(p.limits.memory_max == 64 << 20);
	CHECK(p.limits.swap_max == 32 << 20); /* OCI counts memory+swap, cgroup v2 swap alone */
	CHECK(p.limits.cpu_weight == 39);     /* 1 + (1022 * 9999) / 262142 */
	CHECK(p.limits.cpu_quota == 50000 && p.limits.cpu_period == 100000);
	CHECK(p.limits.pids_max == 100);
	/* a bind from the shared paths keeps its source and is always nosuid,nodev,noexec (and
	 * never recursive: the plan has no way to say so) */
	t.mount.destination = "/etc/resolv.conf";
	t.mount.type = "bind";
	t.mount.source = "/run/kata-containers/shared/containers/c1-0123456789abcdef-resolv.conf";
	t.opts[0] = "rbind";
	t.opts[1] = "exec";
	REQUIRE(filter(&t, &p, &err) == 0);
	CHECK(p.mounts[0].kind == MK_BIND);
	CHECK((p.mounts[0].flags & (MS_NOEXEC | MS_NOSUID | MS_NODEV)) ==
	      (MS_NOEXEC | MS_NOSUID | MS_NODEV));
	/* the policy's consent (a verdict bit) lifts noexec from that bind only */
	{
		uint64_t bits[2] = { 0, 0 };

		sp_rt_plan_allow_exec(&p, bits, 128);
		CHECK(p.mounts[0].flags & MS_NOEXEC);
		bits[0] = 1;
		sp_rt_plan_allow_exec(&p, bits, 128);
		CHECK(!(p.mounts[0].flags & MS_NOEXEC));
	}
	/* a tmpfs is not the host's: it keeps exec */
	t.mount.type = "tmpfs";
	t.mount.source = "tmpfs";
	t.mount.destination = "/scratch";
	t.mount.n_options = 0;
	REQUIRE(filter(&t, &p, &err) == 0);
	CHECK(p.mounts[0].kind == MK_TMPFS && !(p.mounts[0].flags & MS_NOEXEC));
}

/* Sysctls: only the safe list (namespaced, Kubernetes' and containerd's), values that are
 * numbers, ranges or lists; anything else refuses the spec, nothing is ignored. */
TEST(runtime_spec_sysctls)
{
	static struct sp_rt_plan p;
	struct sp_rt_plan *plan = &p;
	Grpc__Linux__SysctlEntry e[2] = { GRPC__LINUX__SYSCTL_ENTRY__INIT,
					  GRPC__LINUX__SYSCTL_ENTRY__INIT };
	Grpc__Linux__SysctlEntry *ep[2] = { &e[0], &e[1] };
	struct tspec t;
	struct sp_err err;

	tspec_init(&t);
	t.lin.n_sysctl = 2;
	t.lin.sysctl = ep;
	e[0].key = "net.ipv4.ip_unprivileged_port_start";
	e[0].value = "0";
	e[1].key = "net.ipv4.ping_group_range";
	e[1].value = "0 2147483647";
	REQUIRE(filter(&t, plan, &err) == 0);
	REQUIRE(plan->nsysctls == 2);
	CHECK_STR(plan->sysctls[1].key, "net.ipv4.ping_group_range");
	CHECK_STR(plan->sysctls[1].value, "0 2147483647");
	e[1].key = "kernel.shm_rmid_forced";
	e[1].value = "1";
	CHECK(filter(&t, plan, &err) == 0);
	/* not on the list: global, or namespaced but not isolated, or spelt with slashes */
	e[1].key = "kernel.randomize_va_space";
	REFUSED(&t, SP_E_INVALID, "sysctl 'kernel.randomize_va_space' refused");
	e[1].key = "net.core.somaxconn";
	REFUSED(&t, SP_E_INVALID, "refused: not one of the namespaced safe sysctls");
	e[1].key = "net/ipv4/tcp_syncookies";
	REFUSED(&t, SP_E_INVALID, "not one of the namespaced safe sysctls");
	/* values: no path, no newline, not empty */
	e[1].key = "net.ipv4.tcp_syncookies";
	e[1].value = "1\n";
	REFUSED(&t, SP_E_INVALID, "sysctl net.ipv4.tcp_syncookies: the value");
	e[1].value = "../../x";
	REFUSED(&t, SP_E_INVALID, "the value is not a number");
	e[1].value = "";
	REFUSED(&t, SP_E_INVALID, "the value is not a number");
	e[1].value = "1";
	CHECK(sp_rt_sysctl_safe("net.ipv4.ip_local_port_range"));
	CHECK(!sp_rt_sysctl_safe("vm.overcommit_memory") && !sp_rt_sysctl_safe(NULL));
	/* Kubernetes 1.32's additions: three numbers each. */
	e[1].key = "net.ipv4.tcp_rmem";
	e[1].value = "4096 131072 6291456";
	CHECK(filter(&t, plan, &err) == 0);
	e[1].key = "net.ipv4.tcp_wmem";
	CHECK(filter(&t, plan, &err) == 0);
	/* namespaced, but not on Kubernetes' list (unsafe: pod-visible or host-affecting) */
	e[1].key = "net.core.rmem_max";
	REFUSED(&t, SP_E_INVALID, "sysctl 'net.core.rmem_max' refused");
	e[1].key = "kernel.msgmax";
	REFUSED(&t, SP_E_INVALID, "sysctl 'kernel.msgmax' refused");
}

/* What the spec and the request carry that this guest does not do is refused, not ignored. */
TEST(runtime_spec_unsupported_refused)
{
	static struct sp_rt_plan p;
	struct sp_rt_plan *plan = &p;
	Grpc__User user = GRPC__USER__INIT;
	Grpc__LinuxIntelRdt rdt = GRPC__LINUX_INTEL_RDT__INIT;
	Grpc__Windows win = GRPC__WINDOWS__INIT;
	Grpc__CreateContainerRequest req = GRPC__CREATE_CONTAINER_REQUEST__INIT;
	Grpc__ExecProcessRequest ex = GRPC__EXEC_PROCESS_REQUEST__INIT;
	Grpc__StringUser su = GRPC__STRING_USER__INIT;
	struct tspec t;
	struct sp_err err;

	tspec_init(&t);
	user.username = "root";
	t.proc.user = &user;
	REFUSED(&t, SP_E_INVALID, "process.user.username refused");
	tspec_init(&t);
	t.lin.intelrdt = &rdt;
	REFUSED(&t, SP_E_INVALID, "linux.intelRdt refused");
	tspec_init(&t);
	t.spec.windows = &win;
	REFUSED(&t, SP_E_INVALID, "a windows section refused");
	CHECK(sp_rt_filter_request(&req, &err) == 0);
	req.stdout_port = 1025;
	CHECK(FAILS_AS(sp_rt_filter_request(&req, &err), err, SP_E_INVALID));
	CHECK(strstr(err.msg, "ports refused") != NULL);
	req.stdout_port = 0;
	req.n_shared_mounts = 1;
	CHECK(FAILS_AS(sp_rt_filter_request(&req, &err), err, SP_E_INVALID));
	CHECK(strstr(err.msg, "shared_mounts refused") != NULL);
	CHECK(sp_rt_filter_exec_request(&ex, &err) == 0);
	su.uid = "0";
	ex.string_user = &su;
	CHECK(FAILS_AS(sp_rt_filter_exec_request(&ex, &err), err, SP_E_INVALID));
	CHECK(strstr(err.msg, "string_user refused") != NULL);
}

TEST(runtime_capability_names)
{
	struct sp_rt_caps c;
	struct sp_err err;
	Grpc__LinuxCapabilities lc = GRPC__LINUX_CAPABILITIES__INIT;
	char *eff[] = { "CAP_KILL", "CAP_CHOWN" };
	char *perm[] = { "CAP_KILL" };
	char *amb[] = { "CAP_KILL" };

	CHECK(sp_cap_from_name("CAP_CHOWN") == 0);
	CHECK(sp_cap_from_name("CAP_SYS_ADMIN") == 21);
	CHECK(sp_cap_from_name("CAP_CHECKPOINT_RESTORE") == 40);
	CHECK(sp_cap_from_name("cap_chown") == -1);
	CHECK(sp_cap_from_name("CAP_") == -1);
	CHECK(sp_cap_from_name(NULL) == -1);
	CHECK_STR(sp_cap_name(27), "CAP_MKNOD");
	CHECK_STR(sp_cap_name(99), "?");
	CHECK(sp_cap_default_set == 0xa80405fbULL); /* Docker's and containerd's, less NET_RAW */
	REQUIRE(sp_caps_parse(NULL, 0, &c, &err) == 0);
	CHECK(c.bounding == sp_cap_default_set && c.effective == sp_cap_default_set &&
	      c.inheritable == 0 && c.ambient == 0);
	/* effective beyond permitted and ambient beyond inheritable are dropped, not granted */
	lc.n_effective = 2;
	lc.effective = eff;
	lc.n_permitted = 1;
	lc.permitted = perm;
	lc.n_ambient = 1;
	lc.ambient = amb;
	REQUIRE(sp_caps_parse(&lc, 0, &c, &err) == 0);
	CHECK(c.effective == 1ULL << 5 && c.permitted == 1ULL << 5 && c.ambient == 0);
	CHECK(!c.net_raw_dropped);
	/* CAP_NET_RAW without consent: dropped from every set, said so; with it: granted */
	{
		char *withraw[] = { "CAP_KILL", "CAP_NET_RAW" };
		char *admin[] = { "CAP_SYS_ADMIN" };

		lc.effective = lc.permitted = withraw;
		lc.n_effective = lc.n_permitted = 2;
		lc.n_ambient = 0;
		REQUIRE(sp_caps_parse(&lc, 0, &c, &err) == 0);
		CHECK(c.net_raw_dropped && c.permitted == 1ULL << 5 && c.effective == 1ULL << 5);
		REQUIRE(sp_caps_parse(&lc, 1ULL << 13, &c, &err) == 0);
		CHECK(!c.net_raw_dropped && c.permitted == ((1ULL << 5) | (1ULL << 13)));
		/* any other capability beyond the default set is still refused */
		lc.permitted = admin;
		lc.n_permitted = 1;
		CHECK(FAILS_AS(sp_caps_parse(&lc, 0, &c, &err), err, SP_E_DENIED));
	}
}

TEST(runtime_seccomp_profiles)
{
	Grpc__LinuxSeccomp s = GRPC__LINUX_SECCOMP__INIT;
	Grpc__LinuxSyscall sc = GRPC__LINUX_SYSCALL__INIT, *scp[1] = { &sc };
	Grpc__LinuxSeccompArg arg = GRPC__LINUX_SECCOMP_ARG__INIT, *argp[1] = { &arg };
	char *names[] = { "mkdir", "no_such_syscall_here" };
	char *arches[] = { "SCMP_ARCH_X86_64", "SCMP_ARCH_X86" };
	char *flags[] = { "SECCOMP_FILTER_FLAG_TSYNC" };
	struct sp_err err;

	s.defaultaction = "SCMP_ACT_ALLOW";
	s.n_architectures = 2;
	s.architectures = arches;
	s.n_syscalls = 1;
	s.syscalls = scp;
	sc.n_names = 2;
	sc.names = names; /* an unknown name is skipped, as runc and crun do */
	sc.action = "SCMP_ACT_ERRNO";
	sc.errno_ret_case = GRPC__LINUX_SYSCALL__ERRNO_RET_ERRNORET;
	sc.errnoret = 1;
	CHECK(sp_seccomp_check_profile(&s, &err) == 0);
	/* argument conditions */
	arg.index = 1;
	arg.value = 0700;
	arg.op = "SCMP_CMP_EQ";
	sc.n_args = 1;
	sc.args = argp;
	CHECK(sp_seccomp_check_profile(&s, &err) == 0);
	arg.index = 6;
	CHECK(FAILS_AS(sp_seccomp_check_profile(&s, &err), err, SP_E_INVALID));
	CHECK(strstr(err.msg, "argument check 0 of rule 0") != NULL);
	arg.index = 1;
	arg.op = "SCMP_CMP_SOMETIMES";
	CHECK(FAILS_AS(sp_seccomp_check_profile(&s, &err), err, SP_E_INVALID));
	arg.op = "SCMP_CMP_MASKED_EQ";
	/* bad actions and flags */
	sc.action = "SCMP_ACT_NOTIFY";
	CHECK(FAILS_AS(sp_seccomp_check_profile(&s, &err), err, SP_E_INVALID));
	CHECK(strstr(err.msg, "seccomp action 'SCMP_ACT_NOTIFY' is not supported") != NULL);
	sc.action = "SCMP_ACT_ERRNO";
	s.defaultaction = "SCMP_ACT_WHATEVER";
	CHECK(FAILS_AS(sp_seccomp_check_profile(&s, &err), err, SP_E_INVALID));
	s.defaultaction = "SCMP_ACT_ERRNO";
	sc.action = "SCMP_ACT_ALLOW"; /* an allow-list profile */
	CHECK(sp_seccomp_check_profile(&s, &err) == 0);
	s.n_flags = 1;
	s.flags = flags;
	CHECK(FAILS_AS(sp_seccomp_check_profile(&s, &err), err, SP_E_INVALID));
}

TEST(runtime_abs_paths)
{
	CHECK(sp_abs_path_ok("/"));
	CHECK(sp_abs_path_ok("/a/b.c/d"));
	CHECK(!sp_abs_path_ok("a"));
	CHECK(!sp_abs_path_ok(""));
	CHECK(!sp_abs_path_ok(NULL));
	CHECK(!sp_abs_path_ok("/a//b"));
	CHECK(!sp_abs_path_ok("/a/"));
	CHECK(!sp_abs_path_ok("/a/./b"));
	CHECK(!sp_abs_path_ok("/a/../b"));
	CHECK(!sp_abs_path_ok("/a\tb"));
	CHECK(sp_abs_path_ok("/..a/b.."));
}

/* --- image configuration and pin_process_to_image (image.c) ---------------------------------- */

static void no_done(void *arg, int ret, const struct sp_err *err)
{
	(void)arg, (void)ret, (void)err;
}

/* Creates a container with Root.Path dir and the prepared rootfs {path, mnt_id}: fails (off PID
 * 1 nothing is created), err says at which check. */
static int create_at(const char *dir, const char *path, uint64_t mnt_id, struct sp_err *err)
{
	struct sp_rootfs rootfs = { .mnt_id = mnt_id };
	struct sp_rt_create a = { .cid = "unit-r1", .rootfs = &rootfs };
	struct sp_rt_pending *pending;
	struct tspec t;

	tspec_init(&t);
	t.root.path = (char *)dir;
	a.spec = &t.spec;
	(void)snprintf(rootfs.path, sizeof(rootfs.path), "%s", path);
	memset(err, 0, sizeof(*err));
	return sp_rt_create(&a, no_done, NULL, &pending, err);
}

/* Root.Path must be, when the container is created, on the very mount the guest prepared for it
 * (the pull's mount id), reached without a symlink; only then does creation go on (here, off PID
 * 1, to "containers run only in the guest"). */
TEST(runtime_rootfs_on_its_mount)
{
	struct sp_err err;
	char dir[64], link[96];
	int rootfd = tmp_rootfs(dir, NULL, NULL);
	uint64_t id = 0;

	REQUIRE(rootfd >= 0);
	REQUIRE(sp_path_mount_id(dir, &id, &err) == 0 && id != 0);
	/* no mount id: never accepted */
	CHECK(FAILS_AS(create_at(dir, dir, 0, &err), err, SP_E_PRECONDITION));
	CHECK(strstr(err.msg, "root.path refused") != NULL);
	/* another mount than the one made for it */
	CHECK(FAILS_AS(create_at(dir, dir, id + 1, &err), err, SP_E_PRECONDITION));
	CHECK(strstr(err.msg, "is not the mount made there") != NULL);
	/* a symlink to it is not followed */
	(void)snprintf(link, sizeof(link), "%s-link", dir);
	REQUIRE(symlink(dir, link) == 0);
	CHECK(FAILS_AS(create_at(link, link, id, &err), err, SP_E_PRECONDITION));
	CHECK(strstr(err.msg, "root.path refused") != NULL);
	unlink(link);
	/* the mount it was prepared on: past the check */
	CHECK(FAILS_AS(create_at(dir, dir, id, &err), err, SP_E_PRECONDITION));
	CHECK(strstr(err.msg, "containers run only in the guest") != NULL);
	close(rootfd);
	rm_rootfs(dir);
}
