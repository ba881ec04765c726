/* The runtime's pure parts (init/runtime/): the spec filter against every hostile spec of issue
 * 4, capability names and sets, seccomp profiles (built with libseccomp, never loaded), and
 * the limits mapping, the image configuration registry and the process pin. Nothing here
 * clones or mounts. */
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
#include "image/image.h"
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
	/* a bind from the shared paths keeps its source and is always nosuid,nodev */
	t.mount.destination = "/etc/resolv.conf";
	t.mount.type = "bind";
	t.mount.source = "/run/kata-containers/shared/containers/c1-0123456789abcdef-resolv.conf";
	t.opts[0] = "rbind";
	t.opts[1] = "ro";
	REQUIRE(filter(&t, &p, &err) == 0);
	CHECK(p.mounts[0].kind == MK_BIND && p.mounts[0].recursive);
	CHECK((p.mounts[0].flags & (MS_RDONLY | MS_NOSUID | MS_NODEV)) ==
	      (MS_RDONLY | MS_NOSUID | MS_NODEV));
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

static const char *const img_ep[] = { "/bin/web" };
static const char *const img_cmd[] = { "--port", "8080" };
static const char *const img_env[] = { "PATH=/usr/bin:/bin", "MODE=prod" };

static void img_cfg(struct sp_rt_image_config *c, const char *user)
{
	memset(c, 0, sizeof(*c));
	c->entrypoint = img_ep;
	c->n_entrypoint = 1;
	c->cmd = img_cmd;
	c->n_cmd = 2;
	c->env = img_env;
	c->n_env = 2;
	c->workdir = "/srv";
	c->user = user;
	c->digest = "sha256:0123";
	c->user_resolved = true; /* "" and numeric users: 0:0 unless a test says otherwise */
}

/* A process plan: args and env from the lists, uid:gid. */
struct tproc {
	Grpc__Process proc;
	struct sp_rt_proc_plan pp;
	char *args[8], *env[8];
};

static struct sp_rt_proc_plan *tproc(struct tproc *t, const char *const *args, size_t nargs,
				     const char *const *env, size_t nenv, uid_t uid, gid_t gid)
{
	memset(t, 0, sizeof(*t));
	grpc__process__init(&t->proc);
	for (size_t i = 0; i < nargs; i++)
		t->args[i] = (char *)args[i];
	for (size_t i = 0; i < nenv; i++)
		t->env[i] = (char *)env[i];
	t->proc.args = t->args;
	t->proc.n_args = nargs;
	t->proc.env = t->env;
	t->proc.n_env = nenv;
	t->proc.cwd = (char *)"/srv"; /* img_cfg's WorkingDir */
	t->pp.proc = &t->proc;
	t->pp.uid = uid;
	t->pp.gid = gid;
	return &t->pp;
}

#define ARGS(...)                                                                                  \
	(const char *const[]){ __VA_ARGS__ },                                                      \
		sizeof((const char *const[]){ __VA_ARGS__ }) / sizeof(char *)

TEST(runtime_image_config_copy)
{
	struct sp_rt_image_config c;
	struct sp_rt_image_config *got;
	char big[70000];
	const char *bigv[] = { big };
	const char *nullv[] = { NULL };
	char ep0[] = "/bin/web";
	const char *epv[] = { ep0 };

	img_cfg(&c, "1000:1000");
	c.entrypoint = epv;
	CHECK(sp_rt_image_config_dup(NULL) == NULL);
	got = sp_rt_image_config_dup(&c);
	REQUIRE(got != NULL && got != &c);
	ep0[1] = 'X'; /* the copy is its own */
	CHECK(got->n_entrypoint == 1 && got->n_cmd == 2 && got->n_env == 2);
	CHECK_STR(got->entrypoint[0], "/bin/web");
	CHECK_STR(got->cmd[1], "8080");
	CHECK_STR(got->env[1], "MODE=prod");
	CHECK_STR(got->workdir, "/srv");
	CHECK_STR(got->user, "1000:1000");
	CHECK_STR(got->digest, "sha256:0123");
	free(got);
	/* refused whole: a NULL string, a missing array, an over-long string, too many */
	img_cfg(&c, NULL);
	c.cmd = nullv;
	c.n_cmd = 1;
	CHECK(sp_rt_image_config_dup(&c) == NULL);
	c.cmd = NULL;
	c.n_cmd = 1;
	CHECK(sp_rt_image_config_dup(&c) == NULL);
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	c.cmd = bigv;
	CHECK(sp_rt_image_config_dup(&c) == NULL);
	c.cmd = NULL;
	c.n_cmd = 0;
	c.n_env = SP_RT_MAX_ARGS + 1;
	CHECK(sp_rt_image_config_dup(&c) == NULL);
	/* empty lists and NULL strings are fine */
	memset(&c, 0, sizeof(c));
	got = sp_rt_image_config_dup(&c);
	REQUIRE(got && got->n_cmd == 0 && got->user == NULL);
	free(got);
}

TEST(runtime_image_pin_args_env)
{
	struct sp_policy_pin off = { false, false, false, false },
			     on = { true, false, false, false },
			     relaxed = { true, true, true, true };
	struct sp_rt_image_config c;
	struct sp_err err;
	struct tproc t;
	struct sp_rt_proc_plan *pp;

	img_cfg(&c, "");
	pp = tproc(&t, ARGS("/bin/web", "--port", "8080"), ARGS("PATH=/usr/bin:/bin", "MODE=prod"),
		   0, 0);
	CHECK(sp_rt_check_image_pin(&c, pp, &on, -1, &err) == 0);
	CHECK(sp_rt_check_image_pin(NULL, pp, &off, -1, &err) == 0);
	CHECK(FAILS_AS(sp_rt_check_image_pin(NULL, pp, &on, -1, &err), err, SP_E_DENIED));
	CHECK(strstr(err.msg, "no image configuration") != NULL);
	/* args: cmd replaced */
	pp = tproc(&t, ARGS("/bin/web", "--debug"), ARGS("PATH=/usr/bin:/bin", "MODE=prod"), 0, 0);
	CHECK(FAILS_AS(sp_rt_check_image_pin(&c, pp, &on, -1, &err), err, SP_E_DENIED));
	CHECK(strstr(err.msg, "args has 2 entries") != NULL);
	CHECK(sp_rt_check_image_pin(&c, pp, &relaxed, -1, &err) == 0);
	pp = tproc(&t, ARGS("/bin/web", "--port", "9090"), ARGS("PATH=/usr/bin:/bin", "MODE=prod"),
		   0, 0);
	CHECK(FAILS_AS(sp_rt_check_image_pin(&c, pp, &on, -1, &err), err, SP_E_DENIED));
	CHECK(strstr(err.msg, "args[2] is \"9090\", the image's cmd has \"8080\"") != NULL);
	/* the entrypoint is never replaced, even with the override */
	pp = tproc(&t, ARGS("/bin/sh", "-c", "id"), ARGS("PATH=/usr/bin:/bin", "MODE=prod"), 0, 0);
	CHECK(FAILS_AS(sp_rt_check_image_pin(&c, pp, &relaxed, -1, &err), err, SP_E_DENIED));
	CHECK(strstr(err.msg, "args[0] is \"/bin/sh\", the image's entrypoint has") != NULL);
	pp = tproc(&t, ARGS("/bin/web"), ARGS("PATH=/usr/bin:/bin", "MODE=prod"), 0, 0);
	CHECK(sp_rt_check_image_pin(&c, pp, &relaxed, -1, &err) == 0); /* cmd replaced by nothing */
	/* env: missing, changed, extra; values never in the message */
	pp = tproc(&t, ARGS("/bin/web", "--port", "8080"), ARGS("PATH=/usr/bin:/bin"), 0, 0);
	CHECK(FAILS_AS(sp_rt_check_image_pin(&c, pp, &relaxed, -1, &err), err, SP_E_DENIED));
	CHECK(strstr(err.msg, "env: the image's variable MODE is missing") != NULL);
	pp = tproc(&t, ARGS("/bin/web", "--port", "8080"),
		   ARGS("PATH=/usr/bin:/bin", "MODE=prod", "MODE=s3cret"), 0, 0);
	CHECK(FAILS_AS(sp_rt_check_image_pin(&c, pp, &relaxed, -1, &err), err, SP_E_DENIED));
	CHECK(strstr(err.msg, "env: MODE is set to another value") != NULL);
	CHECK(strstr(err.msg, "s3cret") == NULL);
	pp = tproc(&t, ARGS("/bin/web", "--port", "8080"),
		   ARGS("PATH=/usr/bin:/bin", "MODE=prod", "TOKEN=s3cret"), 0, 0);
	CHECK(FAILS_AS(sp_rt_check_image_pin(&c, pp, &on, -1, &err), err, SP_E_DENIED));
	CHECK(strstr(err.msg, "env: TOKEN is not in the image configuration") != NULL);
	CHECK(strstr(err.msg, "s3cret") == NULL);
	CHECK(sp_rt_check_image_pin(&c, pp, &relaxed, -1, &err) == 0);
	pp = tproc(&t, ARGS("/bin/web", "--port", "8080"),
		   ARGS("PATH=/usr/bin:/bin", "MODE=prod", "NOEQUALS"), 0, 0);
	CHECK(FAILS_AS(sp_rt_check_image_pin(&c, pp, &relaxed, -1, &err), err, SP_E_INVALID));
	/* cwd: the image's WorkingDir, unless the policy allows overriding it; "" is "/" */
	pp = tproc(&t, ARGS("/bin/web", "--port", "8080"), ARGS("PATH=/usr/bin:/bin", "MODE=prod"),
		   0, 0);
	t.proc.cwd = (char *)"/tmp";
	CHECK(FAILS_AS(sp_rt_check_image_pin(&c, pp, &on, -1, &err), err, SP_E_DENIED));
	CHECK(strstr(err.msg, "cwd \"/tmp\" is not the image's WorkingDir \"/srv\"") != NULL);
	CHECK(sp_rt_check_image_pin(&c, pp, &relaxed, -1, &err) == 0);
	c.workdir = "";
	t.proc.cwd = (char *)"";
	CHECK(sp_rt_check_image_pin(&c, pp, &on, -1, &err) == 0);
	t.proc.cwd = (char *)"/";
	CHECK(sp_rt_check_image_pin(&c, pp, &on, -1, &err) == 0);
	t.proc.cwd = (char *)"/srv";
	CHECK(FAILS_AS(sp_rt_check_image_pin(&c, pp, &on, -1, &err), err, SP_E_DENIED));
	c.workdir = "/srv";
	/* an image with neither entrypoint nor cmd cannot pin anything: refused */
	c.n_entrypoint = c.n_cmd = 0;
	CHECK(FAILS_AS(sp_rt_check_image_pin(&c, pp, &relaxed, -1, &err), err, SP_E_DENIED));
}

/* A rootfs in a temporary directory with etc/passwd and etc/group. */
static int tmp_rootfs(char dir[64], const char *passwd, const char *group)
{
	char p[128];
	FILE *f;

	strcpy(dir, "/tmp/sealpod-unit-rootfs-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	(void)snprintf(p, sizeof(p), "%s/etc", dir);
	if (mkdir(p, 0755) < 0)
		return -1;
	(void)snprintf(p, sizeof(p), "%s/etc/passwd", dir);
	if (passwd && ((f = fopen(p, "w")) == NULL || fputs(passwd, f) < 0 || fclose(f) != 0))
		return -1;
	(void)snprintf(p, sizeof(p), "%s/etc/group", dir);
	if (group && ((f = fopen(p, "w")) == NULL || fputs(group, f) < 0 || fclose(f) != 0))
		return -1;
	return open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
}

static void rm_rootfs(const char *dir)
{
	char p[128];

	(void)snprintf(p, sizeof(p), "%s/etc/passwd", dir);
	unlink(p);
	(void)snprintf(p, sizeof(p), "%s/etc/group", dir);
	unlink(p);
	(void)snprintf(p, sizeof(p), "%s/etc", dir);
	rmdir(p);
	rmdir(dir);
}

TEST(runtime_image_user)
{
	char dir[64];
	int rootfd = tmp_rootfs(dir,
				"root:x:0:0:root:/root:/bin/sh\n"
				"web:x:1000:1001::/srv:/bin/false\n"
				"broken:x:notanumber:1:::\n",
				"root:x:0:\nstaff:x:50:web\n");
	struct sp_err err;
	uint32_t uid, gid;
	struct sp_rt_image_config c;
	struct tproc t;
	struct sp_policy_pin on = { true, false, false, false };
	struct sp_rt_proc_plan *pp;

	REQUIRE(rootfd >= 0);
	CHECK(sp_image_user("", rootfd, &uid, &gid, &err) == 0 && uid == 0 && gid == 0);
	CHECK(sp_image_user(NULL, rootfd, &uid, &gid, &err) == 0 && uid == 0 && gid == 0);
	CHECK(sp_image_user("web", rootfd, &uid, &gid, &err) == 0 && uid == 1000 && gid == 1001);
	CHECK(sp_image_user("1000", rootfd, &uid, &gid, &err) == 0 && uid == 1000 && gid == 1001);
	CHECK(sp_image_user("4242", rootfd, &uid, &gid, &err) == 0 && uid == 4242 && gid == 0);
	CHECK(sp_image_user("web:staff", rootfd, &uid, &gid, &err) == 0 && uid == 1000 &&
	      gid == 50);
	CHECK(sp_image_user("7:8", -1, &uid, &gid, &err) == 0 && uid == 7 && gid == 8);
	CHECK(sp_image_user("web", -1, &uid, &gid, &err) < 0);
	CHECK(sp_image_user("nobody", rootfd, &uid, &gid, &err) < 0);
	CHECK(strstr(err.msg, "\"nobody\" is not in its /etc/passwd") != NULL);
	CHECK(sp_image_user("broken", rootfd, &uid, &gid, &err) < 0);
	CHECK(sp_image_user("web:wheel", rootfd, &uid, &gid, &err) < 0);
	CHECK(FAILS_AS(sp_image_user("web:", rootfd, &uid, &gid, &err), err, SP_E_INVALID));
	CHECK(FAILS_AS(sp_image_user(":5", rootfd, &uid, &gid, &err), err, SP_E_INVALID));
	CHECK(FAILS_AS(sp_image_user("1:2:3", rootfd, &uid, &gid, &err), err, SP_E_INVALID));
	CHECK(sp_image_user("99999999999", rootfd, &uid, &gid, &err) < 0);
	/* the pin compares uid and gid: what the pull worker resolved, carried with the config */
	img_cfg(&c, "web");
	c.user_ret = sp_image_user(c.user, rootfd, &c.uid, &c.gid, &c.user_err);
	pp = tproc(&t, ARGS("/bin/web", "--port", "8080"), ARGS("PATH=/usr/bin:/bin", "MODE=prod"),
		   1000, 1001);
	CHECK(sp_rt_check_image_pin(&c, pp, &on, rootfd, &err) == 0);
	/* a configuration whose user nobody looked up is refused, never taken as 0:0 */
	c.user_resolved = false;
	CHECK(FAILS_AS(sp_rt_check_image_pin(&c, pp, &on, rootfd, &err), err, SP_E_DENIED));
	c.user_resolved = true;
	pp->uid = 0;
	CHECK(FAILS_AS(sp_rt_check_image_pin(&c, pp, &on, rootfd, &err), err, SP_E_DENIED));
	CHECK(strstr(err.msg, "user: the process runs as 0:1001, the image's user \"web\" is "
			      "1000:1001") != NULL);
	/* a user the image's files do not have: the pin refuses with the lookup's words */
	img_cfg(&c, "nobody");
	c.user_ret = sp_image_user(c.user, rootfd, &c.uid, &c.gid, &c.user_err);
	CHECK(c.user_ret < 0);
	pp->uid = 0;
	pp->gid = 0;
	CHECK(FAILS_AS(sp_rt_check_image_pin(&c, pp, &on, rootfd, &err), err, SP_E_PRECONDITION));
	CHECK(strstr(err.msg, "user: the image's user \"nobody\" is not in its /etc/passwd") !=
	      NULL);
	close(rootfd);
	rm_rootfs(dir);
	/* a symlinked /etc/passwd pointing out of the rootfs resolves inside it */
	rootfd = tmp_rootfs(dir, NULL, NULL);
	REQUIRE(rootfd >= 0);
	{
		char p[128];

		(void)snprintf(p, sizeof(p), "%s/etc/passwd", dir);
		CHECK(symlink("/etc/passwd", p) == 0); /* in the rootfs: itself, a loop */
		CHECK(sp_image_user("root", rootfd, &uid, &gid, &err) < 0);
		unlink(p);
	}
	close(rootfd);
	rm_rootfs(dir);
}

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

TEST(runtime_policy_pin_keys)
{
	static const char on[] = "{\"version\": 1, \"default\": \"allow\", "
				 "\"pin_process_to_image\": true, \"pin_allow_extra_env\": true}";
	static const char orphan[] = "{\"version\": 1, \"default\": \"allow\", "
				     "\"pin_allow_args_override\": true}";
	static const char orphan_wd[] = "{\"version\": 1, \"default\": \"allow\", "
					"\"pin_allow_workdir_override\": true}";
	static const char wd[] = "{\"version\": 1, \"default\": \"allow\", "
				 "\"pin_process_to_image\": true, "
				 "\"pin_allow_workdir_override\": true}";
	static const char wrong[] = "{\"version\": 1, \"default\": \"allow\", "
				    "\"pin_process_to_image\": \"yes\"}";
	static const char rego[] = "package agent_policy\ndefault CreateContainerRequest := true\n";
	struct sp_policy *p = NULL;
	struct sp_policy_pin pin;
	struct sp_err err;

	REQUIRE(sp_policy_load(on, strlen(on), &p, &err) == 0);
	sp_policy_pin(p, &pin);
	CHECK(pin.enabled && pin.allow_extra_env && !pin.allow_args_override);
	sp_policy_free(p);
	CHECK(sp_policy_load(orphan, strlen(orphan), &p, &err) < 0);
	CHECK(strstr(err.msg, "pin_process_to_image, which is not set") != NULL);
	CHECK(sp_policy_load(orphan_wd, strlen(orphan_wd), &p, &err) < 0);
	REQUIRE(sp_policy_load(wd, strlen(wd), &p, &err) == 0);
	sp_policy_pin(p, &pin);
	CHECK(pin.enabled && pin.allow_workdir_override && !pin.allow_extra_env);
	sp_policy_free(p);
	CHECK(sp_policy_load(wrong, strlen(wrong), &p, &err) < 0);
	REQUIRE(sp_policy_load(rego, strlen(rego), &p, &err) == 0);
	sp_policy_pin(p, &pin);
	CHECK(!pin.enabled);
	sp_policy_free(p);
	REQUIRE(sp_policy_builtin(&p, &err) == 0);
	sp_policy_pin(p, &pin);
	CHECK(!pin.enabled);
	sp_policy_free(p);
	sp_policy_pin(NULL, &pin);
	CHECK(!pin.enabled);
}

TEST(runtime_image_user_malformed_db)
{
	struct sp_err err;
	uint32_t uid, gid;

	/* no trailing newline, comment-free minimal lines */
	CHECK(sp_image_user_db("a", "a:x:5:6", NULL, &uid, &gid, &err) == 0 && uid == 5 &&
	      gid == 6);
	/* fields missing, ids not numbers or too big, an empty file: the name is not found */
	CHECK(sp_image_user_db("a", "a:x:5", NULL, &uid, &gid, &err) < 0);
	CHECK(sp_image_user_db("a", "a", NULL, &uid, &gid, &err) < 0);
	CHECK(sp_image_user_db("a", "a:x::6\n", NULL, &uid, &gid, &err) < 0);
	CHECK(sp_image_user_db("a", "a:x:-1:6\n", NULL, &uid, &gid, &err) < 0);
	CHECK(sp_image_user_db("a", "a:x:4294967296:6\n", NULL, &uid, &gid, &err) < 0);
	CHECK(sp_image_user_db("a", "", NULL, &uid, &gid, &err) < 0);
	CHECK(FAILS_AS(sp_image_user_db("a", NULL, NULL, &uid, &gid, &err), err,
		       SP_E_PRECONDITION));
	/* a prefix of a name is not the name; the first entry of a name wins */
	CHECK(sp_image_user_db("a", "ab:x:1:1\na:x:2:2\na:x:3:3\n", NULL, &uid, &gid, &err) == 0 &&
	      uid == 2 && gid == 2);
	/* group: the 3rd field, members ignored; a missing group file refuses a group name */
	CHECK(sp_image_user_db("1:g", NULL, "g:x:9:a,b", &uid, &gid, &err) == 0 && uid == 1 &&
	      gid == 9);
	CHECK(FAILS_AS(sp_image_user_db("1:g", NULL, NULL, &uid, &gid, &err), err,
		       SP_E_PRECONDITION));
	CHECK(sp_image_user_db("1:g", NULL, "g:x\n", &uid, &gid, &err) < 0);
	/* escaped in the message */
	CHECK(sp_image_user_db("\x1b[2J", "", NULL, &uid, &gid, &err) < 0);
	CHECK(strchr(err.msg, '\x1b') == NULL);
}
