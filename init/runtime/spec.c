/* The host's OCI spec is filtered, not obeyed (DESIGN.md, "Trust rules"): every field we act on
 * is checked here, before any process exists, and turned into a struct sp_rt_plan. What we do
 * not support is refused rather than ignored when ignoring it would weaken the container (a
 * namespace path, a hook, a device, a foreign bind source, a user namespace, a sysctl outside
 * the safe list). What each field of the request gets is the table in agent/fields.c. */
#define _GNU_SOURCE
#include "runtime/runtime.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>

#include "lib/log.h"
#include "lib/validate.h"

#define INVAL(...) (sp_fail(err, SP_E_INVALID, 0, __VA_ARGS__))

/* Host text in a message: escaped and short. */
static const char *esc(char *buf, size_t size, const char *s)
{
	sp_log_escape(buf, size, s ? s : "", s ? strnlen(s, SP_PATH_MAX + 1) : 0);
	return buf;
}

static bool beneath(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	return strncmp(path, dir, n) == 0 && path[n] != '\0';
}

static const struct {
	const char *name;
	int resource;
} rlimit_names[] = {
	{ "RLIMIT_CPU", RLIMIT_CPU },		{ "RLIMIT_FSIZE", RLIMIT_FSIZE },
	{ "RLIMIT_DATA", RLIMIT_DATA },		{ "RLIMIT_STACK", RLIMIT_STACK },
	{ "RLIMIT_CORE", RLIMIT_CORE },		{ "RLIMIT_RSS", RLIMIT_RSS },
	{ "RLIMIT_NPROC", RLIMIT_NPROC },	{ "RLIMIT_NOFILE", RLIMIT_NOFILE },
	{ "RLIMIT_MEMLOCK", RLIMIT_MEMLOCK },	{ "RLIMIT_AS", RLIMIT_AS },
	{ "RLIMIT_LOCKS", RLIMIT_LOCKS },	{ "RLIMIT_SIGPENDING", RLIMIT_SIGPENDING },
	{ "RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE }, { "RLIMIT_NICE", RLIMIT_NICE },
	{ "RLIMIT_RTPRIO", RLIMIT_RTPRIO },	{ "RLIMIT_RTTIME", RLIMIT_RTTIME },
};

int sp_rt_filter_process(const Grpc__Process *proc, uint64_t allowed_extra,
			 struct sp_rt_proc_plan *out, struct sp_err *err)
{
	char b[128];
	int ret;

	memset(out, 0, sizeof(*out));
	if (!proc)
		return INVAL("the spec has no process");
	out->proc = proc;
	/* A name is resolved in no user database here: the ids are what runs. */
	if (proc->user && proc->user->username && proc->user->username[0])
		return INVAL("process.user.username refused: give the uid and gid");
	if (proc->n_args == 0 || !proc->args[0][0])
		return INVAL("process.args is empty");
	if (proc->n_args > SP_RT_MAX_ARGS || proc->n_env > SP_RT_MAX_ARGS)
		return INVAL("process has %zu args and %zu env entries (at most %d each)",
			     proc->n_args, proc->n_env, SP_RT_MAX_ARGS);
	for (size_t i = 0; i < proc->n_env; i++)
		if (!strchr(proc->env[i], '=') || proc->env[i][0] == '=')
			return INVAL("process.env entry '%s' is not NAME=value",
				     esc(b, sizeof(b), proc->env[i]));
	if (proc->cwd && proc->cwd[0] && !sp_abs_path_ok(proc->cwd))
		return INVAL("process.cwd '%s' is not an absolute normalised path",
			     esc(b, sizeof(b), proc->cwd));
	if ((ret = sp_caps_parse(proc->capabilities, allowed_extra, &out->caps, err)) < 0)
		return ret;
	if (proc->user) {
		out->uid = proc->user->uid;
		out->gid = proc->user->gid;
		if (proc->user->n_additionalgids > SP_RT_MAX_GIDS)
			return INVAL("%zu additional gids (at most %d)",
				     proc->user->n_additionalgids, SP_RT_MAX_GIDS);
		for (size_t i = 0; i < proc->user->n_additionalgids; i++)
			out->gids[i] = proc->user->additionalgids[i];
		out->ngids = proc->user->n_additionalgids;
	}
	if (proc->n_rlimits > SP_RT_MAX_RLIMITS)
		return INVAL("%zu rlimits (at most %d)", proc->n_rlimits, SP_RT_MAX_RLIMITS);
	for (size_t i = 0; i < proc->n_rlimits; i++) {
		const Grpc__POSIXRlimit *r = proc->rlimits[i];
		size_t k;

		for (k = 0; k < sizeof(rlimit_names) / sizeof(rlimit_names[0]); k++)
			if (r->type && strcmp(r->type, rlimit_names[k].name) == 0)
				break;
		if (k == sizeof(rlimit_names) / sizeof(rlimit_names[0]))
			return INVAL("unknown rlimit '%s'", esc(b, sizeof(b), r->type));
		if (r->soft > r->hard)
			return INVAL("%s: soft limit %llu above hard limit %llu", r->type,
				     (unsigned long long)r->soft, (unsigned long long)r->hard);
		out->rlimits[out->nrlimits].resource = rlimit_names[k].resource;
		out->rlimits[out->nrlimits].soft = r->soft;
		out->rlimits[out->nrlimits].hard = r->hard;
		out->nrlimits++;
	}
	/* -1000 is PID 1's own: a container can never be the last thing the OOM killer picks. */
	if (proc->oomscoreadj < -999 || proc->oomscoreadj > 1000)
		return INVAL("process.oomScoreAdj %lld is outside -999..1000",
			     (long long)proc->oomscoreadj);
	out->has_oom_score = proc->oomscoreadj != 0;
	out->oom_score_adj = (int)proc->oomscoreadj;
	out->no_new_privs = proc->nonewprivileges;
	out->terminal = proc->terminal;
	return 0;
}

static int filter_namespaces(const Grpc__Linux *l, struct sp_err *err)
{
	char b[128];

	if (l->n_uidmappings || l->n_gidmappings)
		return INVAL("uid/gid mappings refused: containers get no user namespace");
	for (size_t i = 0; i < l->n_namespaces; i++) {
		const Grpc__LinuxNamespace *ns = l->namespaces[i];
		const char *t = ns->type ? ns->type : "";

		if (ns->path && ns->path[0])
			return INVAL("namespace %s path '%s' refused: no namespace is joined by "
				     "path",
				     esc(b, 32, t), esc(b + 32, sizeof(b) - 32, ns->path));
		if (strcmp(t, "user") == 0)
			return INVAL("user namespace refused: not supported in this guest");
		static const char *const known[] = { "mount",	"pid",	  "ipc", "uts",
						     "network", "cgroup", "time" };
		bool ok = false;

		for (size_t k = 0; k < sizeof(known) / sizeof(known[0]); k++)
			ok = ok || strcmp(t, known[k]) == 0;
		if (!ok)
			return INVAL("unknown namespace type '%s'", esc(b, sizeof(b), t));
	}
	return 0;
}

static int filter_hooks(const Grpc__Hooks *h, struct sp_err *err)
{
	if (h && (h->n_prestart || h->n_poststart || h->n_poststop || h->n_createruntime ||
		  h->n_createcontainer || h->n_startcontainer))
		return INVAL("hooks refused: no hook runs in this guest");
	return 0;
}

static int filter_devices(const Grpc__Linux *l, struct sp_err *err)
{
	char b[128];

	if (l->n_devices)
		return INVAL("device '%s' refused: containers get only the default devices",
			     esc(b, sizeof(b), l->devices[0]->path));
	return 0;
}

static const struct {
	const char *name;
	unsigned long set, clear;
} mount_flags[] = {
	{ "ro", MS_RDONLY, 0 },
	{ "rw", 0, MS_RDONLY },
	{ "nosuid", MS_NOSUID, 0 },
	{ "suid", 0, MS_NOSUID },
	{ "nodev", MS_NODEV, 0 },
	{ "dev", 0, 0 }, /* we always add nodev */
	{ "noexec", MS_NOEXEC, 0 },
	{ "exec", 0, MS_NOEXEC },
	{ "relatime", MS_RELATIME, 0 },
	{ "norelatime", 0, MS_RELATIME },
	{ "strictatime", MS_STRICTATIME, 0 },
	{ "noatime", MS_NOATIME, 0 },
	{ "nodiratime", MS_NODIRATIME, 0 },
	{ "sync", MS_SYNCHRONOUS, 0 },
	{ "async", 0, MS_SYNCHRONOUS },
	{ "private", 0, 0 },
	{ "rprivate", 0, 0 },
	{ "slave", 0, 0 },
	{ "rslave", 0, 0 },
	{ "bind", 0, 0 },
	{ "rbind", 0, 0 }, /* a bind is never recursive: see parse_mount */
};

/* The mount's options: flags we know, else filesystem data such as mode=755, size=64k,
 * newinstance, gid=5 (comma-joined into out->data, *dl bytes). *bind: "bind" or "rbind" given. */
static int parse_mount_options(const Grpc__Mount *m, struct sp_rt_mount *out, bool *bind,
			       size_t *dl, struct sp_err *err)
{
	char b[160];

	for (size_t i = 0; i < m->n_options; i++) {
		const char *o = m->options[i];
		size_t k;

		for (k = 0; k < sizeof(mount_flags) / sizeof(mount_flags[0]); k++)
			if (strcmp(o, mount_flags[k].name) == 0)
				break;
		if (k < sizeof(mount_flags) / sizeof(mount_flags[0])) {
			out->flags = (out->flags | mount_flags[k].set) & ~mount_flags[k].clear;
			if (strcmp(o, "bind") == 0 || strcmp(o, "rbind") == 0)
				*bind = true;
			continue;
		}
		if (strcmp(o, "shared") == 0 || strcmp(o, "rshared") == 0)
			return INVAL("mount %s: shared propagation refused",
				     esc(b, sizeof(b), m->destination));
		if (strpbrk(o, ",\"\\") || strlen(o) + *dl + 2 > sizeof(out->data))
			return INVAL("mount %s: option '%s' refused", esc(b, 80, m->destination),
				     esc(b + 80, 80, o));
		*dl += (size_t)snprintf(out->data + *dl, sizeof(out->data) - *dl, "%s%s",
					*dl ? "," : "", o);
	}
	return 0;
}

static int parse_bind_mount(const Grpc__Mount *m, struct sp_rt_mount *out, struct sp_err *err)
{
	const char *src = m->source;
	char b[160];

	/* What the host can write (the shared files, which CopyFile fills, and the sandbox
	 * directories) runs nothing: noexec unless the policy's allowed_mounts consents
	 * (sp_rt_plan_allow_exec). And never recursive ("rbind" included): the mounts
	 * beneath a source (another container's rootfs, a storage) never come along. */
	out->kind = MK_BIND;
	out->flags |= MS_NOEXEC;
	if (!sp_abs_path_ok(src))
		return INVAL("bind mount source '%s' is not an absolute normalised path",
			     esc(b, sizeof(b), src));
	if (!beneath(src, SP_RT_SHARED_DIR) && !beneath(src, SP_RT_SANDBOX_DIR))
		return INVAL("bind mount source '%s' refused: only paths beneath %s and "
			     "%s may be bound",
			     esc(b, sizeof(b), src), SP_RT_SHARED_DIR, SP_RT_SANDBOX_DIR);
	out->source = src;
	out->data[0] = '\0';
	return 0;
}

/* A filesystem mount: the kernel filesystems a container may have, with the flags each forces. */
static int parse_fs_mount(const Grpc__Mount *m, const char *type, struct sp_rt_mount *out,
			  size_t dl, struct sp_err *err)
{
	char b[160];

	if (strcmp(type, "proc") == 0) {
		out->kind = MK_PROC;
		out->flags |= MS_NOEXEC;
	} else if (strcmp(type, "sysfs") == 0) {
		out->kind = MK_SYSFS;
		out->flags |= MS_RDONLY | MS_NOEXEC;
	} else if (strcmp(type, "tmpfs") == 0) {
		out->kind = MK_TMPFS;
	} else if (strcmp(type, "devpts") == 0) {
		out->kind = MK_DEVPTS;
		out->flags |= MS_NOEXEC;
		/* Always a private instance: never the guest's ptys. */
		if (!strstr(out->data, "newinstance") && dl + 13 < sizeof(out->data))
			(void)snprintf(out->data + dl, sizeof(out->data) - dl, "%snewinstance",
				       dl ? "," : "");
	} else if (strcmp(type, "mqueue") == 0) {
		out->kind = MK_MQUEUE;
		out->flags |= MS_NOEXEC;
	} else if (strcmp(type, "cgroup") == 0 || strcmp(type, "cgroup2") == 0) {
		out->kind = MK_CGROUP;
		out->flags |= MS_RDONLY | MS_NOEXEC;
		out->data[0] = '\0';
	} else {
		return INVAL("mount %s: filesystem type '%s' refused", esc(b, 80, m->destination),
			     esc(b + 80, 80, type));
	}
	return 0;
}

static int parse_mount(const Grpc__Mount *m, struct sp_rt_mount *out, struct sp_err *err)
{
	const char *type = m->type ? m->type : "";
	char b[160];
	size_t dl = 0;
	bool bind = false;
	int ret;

	memset(out, 0, sizeof(*out));
	if (!sp_abs_path_ok(m->destination))
		return INVAL("mount destination '%s' is not an absolute normalised path",
			     esc(b, sizeof(b), m->destination));
	if (strcmp(m->destination, "/") == 0)
		return INVAL("mount destination '/' refused");
	out->dest = m->destination;
	if ((ret = parse_mount_options(m, out, &bind, &dl, err)) < 0)
		return ret;
	out->flags |= MS_NOSUID | MS_NODEV;
	if (bind || strcmp(type, "bind") == 0)
		return parse_bind_mount(m, out, err);
	return parse_fs_mount(m, type, out, dl, err);
}

bool sp_rt_sysctl_safe(const char *key)
{
	return sp_sysctl_safe(key);
}

static int filter_sysctls(const Grpc__Linux *l, struct sp_rt_plan *plan, struct sp_err *err)
{
	char b[96];

	if (l->n_sysctl > SP_RT_MAX_SYSCTLS)
		return INVAL("%zu sysctls (at most %d)", l->n_sysctl, SP_RT_MAX_SYSCTLS);
	for (size_t i = 0; i < l->n_sysctl; i++) {
		const char *k = l->sysctl[i]->key, *v = l->sysctl[i]->value;
		size_t n = v ? strnlen(v, SP_RT_SYSCTL_VALUE_MAX + 1) : 0;

		if (!sp_rt_sysctl_safe(k))
			return INVAL("sysctl '%s' refused: not one of the namespaced safe sysctls",
				     esc(b, sizeof(b), k));
		if (n > SP_RT_SYSCTL_VALUE_MAX || !sp_sysctl_value_ok(v))
			return INVAL("sysctl %s: the value is not a number, range or list of them",
				     k);
		plan->sysctls[plan->nsysctls].key = k;
		plan->sysctls[plan->nsysctls].value = v;
		plan->nsysctls++;
	}
	return 0;
}

static int filter_paths(char **in, size_t n, const char **out, size_t *nout, const char *what,
			struct sp_err *err)
{
	char b[128];

	if (n > SP_RT_MAX_PATHS)
		return INVAL("%zu %s paths (at most %d)", n, what, SP_RT_MAX_PATHS);
	for (size_t i = 0; i < n; i++) {
		if (!sp_abs_path_ok(in[i]) || strcmp(in[i], "/") == 0)
			return INVAL("%s path '%s' is not an absolute normalised path", what,
				     esc(b, sizeof(b), in[i]));
		out[i] = in[i];
	}
	*nout = n;
	return 0;
}

static int filter_resources(const Grpc__LinuxResources *r, struct sp_rt_limits *l,
			    struct sp_err *err)
{
	l->memory_max = -1;
	l->swap_max = -2;
	l->cpu_quota = -1;
	l->cpu_period = 100000;
	l->cpu_weight = 0;
	l->pids_max = -1;
	if (!r)
		return 0;
	if (r->memory) {
		int64_t lim = r->memory->limit, swap = r->memory->swap;

		if (lim > 0 && lim < (1 << 20))
			return INVAL("memory limit %lld is below 1 MiB", (long long)lim);
		if (lim < -1 || lim > ((int64_t)1 << 50))
			return INVAL("memory limit %lld is absurd", (long long)lim);
		if (lim > 0)
			l->memory_max = lim;
		/* OCI swap is memory+swap; cgroup v2 wants swap alone. */
		if (swap < -1 || (swap > 0 && lim > 0 && swap < lim))
			return INVAL("memory swap %lld is below the memory limit %lld",
				     (long long)swap, (long long)lim);
		if (swap > 0 && lim > 0)
			l->swap_max = swap - lim;
		else if (swap == -1)
			l->swap_max = -1;
	}
	if (r->cpu) {
		const Grpc__LinuxCPU *c = r->cpu;

		if (c->period && (c->period < 1000 || c->period > 1000000))
			return INVAL("cpu period %llu us is outside 1000..1000000",
				     (unsigned long long)c->period);
		if (c->period)
			l->cpu_period = c->period;
		if (c->quota > 0 && c->quota < 1000)
			return INVAL("cpu quota %lld us is below 1000", (long long)c->quota);
		if (c->quota < -1 || c->quota > ((int64_t)1 << 40))
			return INVAL("cpu quota %lld is absurd", (long long)c->quota);
		if (c->quota > 0)
			l->cpu_quota = c->quota;
		if (c->shares) {
			if (c->shares < 2 || c->shares > 262144)
				return INVAL("cpu shares %llu are outside 2..262144",
					     (unsigned long long)c->shares);
			/* The usual v1 -> v2 mapping: 2..262144 onto 1..10000. */
			l->cpu_weight = 1 + ((c->shares - 2) * 9999) / 262142;
		}
	}
	if (r->pids) {
		int64_t p = r->pids->limit;

		if (p < -1 || p > 4194304)
			return INVAL("pids limit %lld is absurd", (long long)p);
		if (p > 0)
			l->pids_max = p;
	}
	return 0;
}

/* What a request carries around its process that this guest does not do: a user by name, a
 * mount shared with another container, stdio over vsock ports (passfd). Refused, never ignored:
 * a shim that relies on one of them learns so at once. */
static int filter_around(const Grpc__StringUser *su, size_t nshared, uint32_t in, uint32_t out,
			 uint32_t errp, struct sp_err *err)
{
	if (su && ((su->uid && su->uid[0]) || (su->gid && su->gid[0]) || su->n_additionalgids))
		return INVAL("string_user refused: give the uid and gid in the process");
	if (nshared)
		return INVAL("shared_mounts refused: a container mounts nothing of another's");
	if (in || out || errp)
		return INVAL("stdin/stdout/stderr ports refused: stdio goes over the ttRPC "
			     "streams");
	return 0;
}

int sp_rt_filter_request(const Grpc__CreateContainerRequest *req, struct sp_err *err)
{
	return filter_around(req->string_user, req->n_shared_mounts, req->stdin_port,
			     req->stdout_port, req->stderr_port, err);
}

int sp_rt_filter_exec_request(const Grpc__ExecProcessRequest *req, struct sp_err *err)
{
	return filter_around(req->string_user, 0, req->stdin_port, req->stdout_port,
			     req->stderr_port, err);
}

void sp_rt_plan_allow_exec(struct sp_rt_plan *plan, const uint64_t *mount_exec, size_t nbits)
{
	for (size_t i = 0; i < plan->nmounts && i < nbits; i++)
		if (plan->mounts[i].kind == MK_BIND && (mount_exec[i / 64] & (1ULL << (i % 64))))
			plan->mounts[i].flags &= ~(unsigned long)MS_NOEXEC;
}

/* root.path must be the rootfs this guest prepared for the container, nothing the host names. */
static int filter_root(const Grpc__Spec *spec, const char *cid, const char *prepared_root,
		       struct sp_err *err)
{
	char b[160];

	if (!spec->root || !spec->root->path || !spec->root->path[0])
		return INVAL("the spec has no root.path");
	if (!sp_abs_path_ok(spec->root->path))
		return INVAL("root.path '%s' is not an absolute normalised path",
			     esc(b, sizeof(b), spec->root->path));
	if (!prepared_root)
		return INVAL("root.path '%s' refused: no rootfs was prepared for container %s",
			     esc(b, 80, spec->root->path), cid);
	if (strcmp(spec->root->path, prepared_root) != 0)
		return INVAL("root.path '%s' refused: the rootfs prepared for container %s is %s",
			     esc(b, 80, spec->root->path), cid, esc(b + 80, 80, prepared_root));
	return 0;
}

static int filter_hostname(const char *hostname, struct sp_err *err)
{
	size_t n = strnlen(hostname, 65);
	char b[160];

	if (n > 64)
		return INVAL("hostname is longer than 64 bytes");
	for (size_t i = 0; i < n; i++) {
		char c = hostname[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '.'))
			return INVAL("hostname '%s' is not a valid host name",
				     esc(b, sizeof(b), hostname));
	}
	return 0;
}

static int filter_linux(const Grpc__Linux *l, struct sp_rt_plan *plan, struct sp_err *err)
{
	char b[160];
	int ret;

	if ((ret = filter_namespaces(l, err)) < 0 || (ret = filter_devices(l, err)) < 0)
		return ret;
	if ((ret = filter_paths(l->maskedpaths, l->n_maskedpaths, plan->masked, &plan->nmasked,
				"masked", err)) < 0 ||
	    (ret = filter_paths(l->readonlypaths, l->n_readonlypaths, plan->readonly,
				&plan->nreadonly, "read-only", err)) < 0)
		return ret;
	if (l->rootfspropagation && l->rootfspropagation[0] &&
	    strstr(l->rootfspropagation, "shared"))
		return INVAL("rootfsPropagation '%s' refused",
			     esc(b, sizeof(b), l->rootfspropagation));
	if ((ret = filter_resources(l->resources, &plan->limits, err)) < 0)
		return ret;
	if (l->seccomp && (ret = sp_seccomp_check_profile(l->seccomp, err)) < 0)
		return ret;
	plan->seccomp = l->seccomp;
	if (l->intelrdt)
		return INVAL("linux.intelRdt refused: this guest has no resctrl");
	return filter_sysctls(l, plan, err);
}

int sp_rt_filter_spec(const Grpc__Spec *spec, const char *cid, const char *prepared_root,
		      bool pause, uint64_t allowed_extra, struct sp_rt_plan *plan,
		      struct sp_err *err)
{
	char b[160];
	int ret;

	memset(plan, 0, sizeof(*plan));
	plan->spec = spec;
	if (!cid || !sp_valid_id(cid))
		return INVAL("container id '%s' is not valid", esc(b, sizeof(b), cid));
	if (!spec)
		return INVAL("CreateContainerRequest has no OCI spec");
	if ((ret = filter_root(spec, cid, prepared_root, err)) < 0)
		return ret;
	plan->root = spec->root->path;
	plan->root_readonly = spec->root->readonly || pause;
	plan->pause = pause;
	if (spec->hostname && spec->hostname[0]) {
		if ((ret = filter_hostname(spec->hostname, err)) < 0)
			return ret;
		plan->hostname = spec->hostname;
	}
	if ((ret = filter_hooks(spec->hooks, err)) < 0)
		return ret;
	if (spec->windows || spec->solaris)
		return INVAL("a %s section refused: this is a Linux guest",
			     spec->windows ? "windows" : "solaris");
	if ((ret = sp_rt_filter_process(spec->process, allowed_extra, &plan->p, err)) < 0)
		return ret;
	if (spec->n_mounts > SP_RT_MAX_MOUNTS)
		return INVAL("%zu mounts (at most %d)", spec->n_mounts, SP_RT_MAX_MOUNTS);
	for (size_t i = 0; i < spec->n_mounts; i++) {
		if ((ret = parse_mount(spec->mounts[i], &plan->mounts[plan->nmounts], err)) < 0)
			return ret;
		plan->nmounts++;
	}
	if (spec->linux_)
		return filter_linux(spec->linux_, plan, err);
	(void)filter_resources(NULL, &plan->limits, err);
	return 0;
}
