/* Confinement as data (confine.h). The root is built beneath /tmp, in the worker's own mount
 * namespace (nothing of it is seen outside), then pivot_root'ed into with the old root
 * detached; the capability sets are narrowed in the one order that works: the bounding set while
 * CAP_SETPCAP is still effective, the ids while CAP_SETUID/SETGID are, capset last. */
#define _GNU_SOURCE
#include "lib/confine.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <sched.h>
#include <seccomp.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/auxv.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "lib/cleanup.h"
#include "lib/fileio.h"

#define ROOT_DIR  "/tmp"
#define COPY_MAX  ((size_t)64 << 10)
#define CAPBIT(c) (1ull << (c))

const uint64_t sp_confine_root_caps = CAPBIT(CAP_SYS_ADMIN) | CAPBIT(CAP_SYS_CHROOT) |
				      CAPBIT(CAP_SETPCAP);

/* --- capabilities ------------------------------------------------------------------------------ */

static int drop_bounding(uint64_t keep, struct sp_err *err)
{
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		return sp_error(err, errno, "confine: clear the ambient capabilities");
	for (int c = 0; c <= 63; c++)
		if (!(keep & CAPBIT(c)) && prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 &&
		    errno != EINVAL)
			return sp_error(err, errno,
					"confine: drop capability %d from the bounding set", c);
	return 0;
}

static int set_caps(uint64_t keep, struct sp_err *err)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2];

	memset(d, 0, sizeof(d));
	d[0].effective = d[0].permitted = (uint32_t)keep;
	d[1].effective = d[1].permitted = (uint32_t)(keep >> 32);
	if (syscall(SYS_capset, &h, d) < 0)
		return sp_error(err, errno, "confine: capset");
	return 0;
}

/* The permitted set now: what a deferred root may hold on to at most. */
static uint64_t permitted(void)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2];

	if (syscall(SYS_capget, &h, d) < 0)
		return 0;
	return (uint64_t)d[0].permitted | (uint64_t)d[1].permitted << 32;
}

int sp_confine_caps(uint64_t keep, struct sp_err *err)
{
	if (drop_bounding(keep, err) < 0 || set_caps(keep, err) < 0)
		return -1;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return sp_error(err, errno, "confine: no_new_privs");
	return 0;
}

/* --- the root ---------------------------------------------------------------------------------- */

/* mkdir -p of the directories above path (absolute) beneath ROOT_DIR; with self, path too. */
static int mkdirs(const char *path, bool self)
{
	char p[256];
	size_t base = strlen(ROOT_DIR);

	if ((size_t)snprintf(p, sizeof(p), "%s%s", ROOT_DIR, path) >= sizeof(p))
		return errno = ENAMETOOLONG, -1;
	for (char *s = p + base + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, 0755) < 0 && errno != EEXIST)
			return -1;
		*s = '/';
	}
	return self && mkdir(p, 0755) < 0 && errno != EEXIST ? -1 : 0;
}

static int copy_in(const struct sp_confine_path *e, const char *dst, struct sp_err *err)
{
	char buf[COPY_MAX];
	cleanup_close int fd = -1;
	size_t len = 0;
	bool trunc = false;
	struct sp_err why;

	if (sp_read_file(e->path, buf, sizeof(buf), &len, &trunc, &why) < 0)
		return e->optional ? 0 : sp_error(err, 0, "confine: copy %s: %s", e->path, why.msg);
	if (trunc)
		return sp_error(err, EFBIG, "confine: copy %s", e->path);
	if (mkdirs(e->path, false) < 0)
		return sp_error(err, errno, "confine: mkdir for %s", e->path);
	fd = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
	if (fd < 0 || sp_write_all(fd, buf, len) < 0)
		return sp_error(err, errno, "confine: write %s", dst);
	return 0;
}

static int bind_in(const struct sp_confine_path *e, const char *dst, struct sp_err *err)
{
	struct stat st;

	if (stat(e->path, &st) < 0)
		return e->optional && errno == ENOENT
			       ? 0
			       : sp_error(err, errno, "confine: %s", e->path);
	if (S_ISDIR(st.st_mode)) {
		if (mkdirs(e->path, true) < 0)
			return sp_error(err, errno, "confine: mkdir %s", dst);
	} else {
		cleanup_close int fd = -1;

		if (mkdirs(e->path, false) < 0)
			return sp_error(err, errno, "confine: mkdir for %s", dst);
		fd = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0)
			return sp_error(err, errno, "confine: create %s", dst);
	}
	if (mount(e->path, dst, NULL, MS_BIND, NULL) < 0)
		return sp_error(err, errno, "confine: bind %s", e->path);
	if (mount(NULL, dst, NULL, MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NOEXEC, NULL) < 0)
		return sp_error(err, errno, "confine: remount %s", e->path);
	return 0;
}

static int fill_root(const struct sp_confine *c, struct sp_err *err)
{
	for (size_t i = 0; i < c->npaths; i++) {
		const struct sp_confine_path *e = &c->paths[i];
		char dst[256];

		if (e->path[0] != '/' ||
		    (size_t)snprintf(dst, sizeof(dst), "%s%s", ROOT_DIR, e->path) >= sizeof(dst))
			return sp_error(err, EINVAL, "confine: path %s", e->path);
		if (e->how == SP_CONFINE_DIR && mkdirs(e->path, true) < 0)
			return sp_error(err, errno, "confine: mkdir %s", dst);
		if (e->how == SP_CONFINE_COPY && copy_in(e, dst, err) < 0)
			return -1;
		if (e->how == SP_CONFINE_BIND && bind_in(e, dst, err) < 0)
			return -1;
	}
	return 0;
}

static int enter_root(const struct sp_confine *c, struct sp_err *err)
{
	const unsigned long fl = MS_NOSUID | MS_NODEV | MS_NOEXEC;

	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return sp_error(err, errno, "confine: make the mounts private");
	if (mount("none", ROOT_DIR, "tmpfs", fl, "size=64k,nr_inodes=32,mode=0755") < 0)
		return sp_error(err, errno, "confine: mount the root's tmpfs");
	if (fill_root(c, err) < 0)
		return -1;
	if (mount(NULL, ROOT_DIR, NULL, MS_REMOUNT | MS_RDONLY | fl, NULL) < 0)
		return sp_error(err, errno, "confine: make the root read-only");
	/* pivot_root(".", "."): the old root ends up on top of the new one, and goes. */
	if (chdir(ROOT_DIR) < 0 || syscall(SYS_pivot_root, ".", ".") < 0)
		return sp_error(err, errno, "confine: pivot_root");
	if (umount2(".", MNT_DETACH) < 0 || chdir("/") < 0)
		return sp_error(err, errno, "confine: detach the old root");
	return 0;
}

/* --- seccomp ----------------------------------------------------------------------------------- */

static int add_rule(scmp_filter_ctx ctx, const struct sp_sc_rule *r)
{
	uint32_t act = r->errnum ? SCMP_ACT_ERRNO((uint32_t)r->errnum) : SCMP_ACT_ALLOW;
	struct scmp_arg_cmp cmp;

	if (r->arg < 0)
		return seccomp_rule_add(ctx, act, r->nr, 0);
	cmp = (struct scmp_arg_cmp){ .arg = (unsigned)r->arg,
				     .op = SCMP_CMP_MASKED_EQ,
				     .datum_a = r->mask,
				     .datum_b = r->self ? (uint64_t)getpid() : r->value };
	return seccomp_rule_add_array(ctx, act, r->nr, 1, &cmp);
}

static int load_filter(const struct sp_confine *c, struct sp_err *err)
{
	scmp_filter_ctx ctx;
	int r = 0;

	if (!c->seccomp)
		return 0;
	ctx = seccomp_init(SCMP_ACT_ERRNO(EPERM));
	if (!ctx)
		return sp_error(err, ENOMEM, "confine: seccomp_init");
	for (size_t l = 0; l < SP_CONFINE_MAX_LISTS && r == 0; l++)
		for (size_t i = 0; i < c->sc[l].n && r == 0; i++)
			r = add_rule(ctx, &c->sc[l].rules[i]);
	if (r == 0)
		r = seccomp_load(ctx);
	seccomp_release(ctx);
	if (r < 0)
		return sp_error(err, -r, "confine: load the seccomp filter of %s",
				c->name ? c->name : "a worker");
	return 0;
}

/* --- the phases -------------------------------------------------------------------------------- */

/* RLIMIT_CORE 0 from the start; the spec's limits once the root is built (RLIMIT_FSIZE 0 would
 * stop its copies). */
static int set_limits(const struct sp_confine *c, bool spec, struct sp_err *err)
{
	struct rlimit none = { 0, 0 };

	if (!spec && setrlimit(RLIMIT_CORE, &none) < 0)
		return sp_error(err, errno, "confine: RLIMIT_CORE");
	for (size_t i = 0; spec && i < c->nrlimits; i++) {
		struct rlimit rl = { c->rlimits[i].cur, c->rlimits[i].max };

		if (setrlimit(c->rlimits[i].resource, &rl) < 0)
			return sp_error(err, errno, "confine: rlimit %d", c->rlimits[i].resource);
	}
	return 0;
}

static int set_ids(const struct sp_confine *c, struct sp_err *err)
{
	if (!c->set_ids)
		return 0;
	if (setgroups(0, NULL) < 0 || setresgid(c->gid, c->gid, c->gid) < 0 ||
	    setresuid(c->uid, c->uid, c->uid) < 0)
		return sp_error(err, errno, "confine: become %u:%u", c->uid, c->gid);
	return 0;
}

/* A dynamically linked build of us (the host's test builds) cannot be exec'd in an empty root:
 * its loader is not there. It enters the root right after the exec instead, as a root_later
 * worker does when it is ready; the guest's static /init never needs this. */
static bool needs_loader(void)
{
	return getauxval(AT_BASE) != 0;
}

static bool deferred(const struct sp_confine *c)
{
	return c->root_later || (c->empty_root && needs_loader());
}

/* The root, the ids and the capabilities, in the one order that works. */
static int finish(const struct sp_confine *c, struct sp_err *err)
{
	if (c->empty_root && enter_root(c, err) < 0)
		return -1;
	if (drop_bounding(c->caps, err) < 0 || set_ids(c, err) < 0 || set_caps(c->caps, err) < 0)
		return -1;
	return set_limits(c, true, err);
}

int sp_confine_child(const struct sp_confine *c, struct sp_err *err)
{
	uint64_t hold = c->caps | sp_confine_root_caps;

	if (c->set_ids)
		hold |= CAPBIT(CAP_SETUID) | CAPBIT(CAP_SETGID);
	hold &= permitted();
	if (c->name)
		(void)prctl(PR_SET_NAME, c->name, 0, 0, 0);
	if (set_limits(c, false, err) < 0)
		return -1;
	if (c->unshare && unshare(c->unshare) < 0)
		return sp_error(err, errno, "confine: unshare 0x%x", (unsigned)c->unshare);
	if (c->empty_root && !(c->unshare & CLONE_NEWNS))
		return sp_error(err, EINVAL, "confine: an empty root needs a mount namespace");
	if (!deferred(c) && finish(c, err) < 0)
		return -1;
	/* Deferred: only what finishing takes stays, until then. */
	if (deferred(c) && (drop_bounding(hold, err) < 0 || set_caps(hold, err) < 0))
		return -1;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		return sp_error(err, errno, "confine: prctl");
	return 0;
}

int sp_confine_self(const struct sp_confine *c, struct sp_err *err)
{
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		return sp_error(err, errno, "confine: PR_SET_DUMPABLE");
	if (c->name)
		(void)prctl(PR_SET_NAME, c->name, 0, 0, 0);
	if (c->root_later)
		return 0;
	if (deferred(c) && finish(c, err) < 0)
		return -1;
	return load_filter(c, err);
}

int sp_confine_enter_root(const struct sp_confine *c, struct sp_err *err)
{
	if (!c->root_later)
		return sp_error(err, EINVAL, "confine: %s has no deferred root",
				c->name ? c->name : "the worker");
	if (finish(c, err) < 0)
		return -1;
	return load_filter(c, err);
}

int sp_confine_all(const struct sp_confine *c, struct sp_err *err)
{
	if (sp_confine_child(c, err) < 0 || sp_confine_self(c, err) < 0)
		return -1;
	return c->root_later ? sp_confine_enter_root(c, err) : 0;
}
