/* A container's mounts exactly as the Kata shims send them with shared_fs = none (SHAPES.md):
 * containerd's system mounts, the copies of the kubelet's and containerd's files, the sandbox's
 * /dev/shm, and each volume mount by the volume's kind. Sources are patterns: `$(cid)` is the
 * container's id, `*` the shims' random 16 hex digits or a storage's PCI-path name. */
#include "gen_int.h"

#include <stdio.h>
#include <string.h>

#define SHARED "/run/kata-containers/shared/containers/"

struct sys_mount {
	const char *dest, *type, *opts[7];
};

/* containerd's mounts for every container (its default spec plus /sys/fs/cgroup read-only) */
static const struct sys_mount sys_mounts[] = {
	{ "/proc", "proc", { "nosuid", "noexec", "nodev" } },
	{ "/dev", "tmpfs", { "nosuid", "strictatime", "mode=755", "size=65536k" } },
	{ "/dev/pts",
	  "devpts",
	  { "nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5" } },
	{ "/dev/mqueue", "mqueue", { "nosuid", "noexec", "nodev" } },
	{ "/sys", "sysfs", { "nosuid", "noexec", "nodev", "ro" } },
	{ "/sys/fs/cgroup", "cgroup", { "nosuid", "noexec", "nodev", "relatime", "ro" } },
};

static void add_mount(struct spg_ctx *g, const char *dest, const char *type, const char *src,
		      const char *const *opts)
{
	json_object *m = json_object_new_object(), *o = json_object_new_array();

	json_object_object_add(m, "destination", json_object_new_string(dest));
	json_object_object_add(m, "type", json_object_new_string(type));
	json_object_object_add(m, "source", json_object_new_string(src));
	for (size_t i = 0; opts[i]; i++)
		json_object_array_add(o, json_object_new_string(opts[i]));
	json_object_object_add(m, "options", o);
	spg_add_unique(g->mounts, m);
}

/* A host file or directory the shims copy with CopyFile and bind: named after the destination's
 * last component. */
static void add_copy(struct spg_ctx *g, const char *dest, bool ro)
{
	const char *base = strrchr(dest, '/');
	const char *opts[] = { "rbind", "rprivate", ro ? "ro" : "rw", NULL };
	char src[512];

	(void)snprintf(src, sizeof(src), SHARED "$(cid)-*-%s", base ? base + 1 : dest);
	add_mount(g, dest, "bind", src, opts);
}

static const struct spy_node *volume(const struct spg_ctx *g, const char *name)
{
	const struct spy_node *vols = spy_get(g->m.spec, "volumes");

	for (size_t i = 0; vols && vols->kind == SPY_SEQ && i < vols->n; i++) {
		const char *n = spy_str(spy_get(vols->v[i], "name"));

		if (n && strcmp(n, name) == 0)
			return vols->v[i];
	}
	return NULL;
}

static int add_emptydir(struct spg_ctx *g, const struct spy_node *ed, const char *vname,
			const char *dest, bool ro, const char *path, struct sp_err *err)
{
	const char *medium = spy_str(spy_get(ed, "medium"));
	const char *opts[] = { "rbind", "rprivate", ro ? "ro" : "rw", NULL };
	char src[512];

	if (medium && strcmp(medium, "Memory") == 0) {
		(void)snprintf(src, sizeof(src), "/run/kata-containers/sandbox/ephemeral/%s",
			       vname);
		add_mount(g, dest, "bind", src, opts);
	} else if (medium && medium[0]) {
		return sp_fail(err, SP_E_UNSUPPORTED, 0,
			       "%s: emptyDir medium '%.32s' is not "
			       "supported",
			       path, medium);
	} else if (g->set->emptydir == SPS_EMPTYDIR_BLOCK) {
		add_mount(g, dest, "bind", "/run/kata-containers/sandbox/storage/*", opts);
	} else {
		/* the Go shim and runtime-rs name the shared directory differently */
		if (g->set->shims & SPS_SHIM_GO) {
			(void)snprintf(src, sizeof(src), SHARED "$(sandbox-id)/rootfs/local/%s",
				       vname);
			add_mount(g, dest, "local", src, opts);
		}
		if (g->set->shims & SPS_SHIM_RS) {
			(void)snprintf(src, sizeof(src),
				       SHARED "passthrough/$(sandbox-id)/rootfs/local/%s", vname);
			add_mount(g, dest, "local", src, opts);
		}
	}
	return 0;
}

static int add_volume_mount(struct spg_ctx *g, const struct spy_node *vm, const char *path,
			    struct sp_err *err)
{
	const char *name = spy_str(spy_get(vm, "name")), *dest = spy_str(spy_get(vm, "mountPath"));
	const struct spy_node *v;
	bool ro = false;

	if (!name || !dest || dest[0] != '/')
		return sp_fail(err, SP_E_INVALID, 0, "%s: name or an absolute mountPath is missing",
			       path);
	if (spk_bool(spy_get(vm, "readOnly"), path, &ro, err) < 0)
		return -1;
	v = volume(g, name);
	if (!v)
		return sp_fail(err, SP_E_INVALID, 0, "%s: no volume named '%.64s'", path, name);
	if (spy_get(v, "emptyDir"))
		return add_emptydir(g, spy_get(v, "emptyDir"), name, dest, ro, path, err);
	/* configMap, secret, projected, downwardAPI: the kubelet mounts them read-only */
	add_copy(g, dest, true);
	return 0;
}

static bool mounts_at(const struct spy_node *c, const char *dest)
{
	const struct spy_node *vms = spy_get(c, "volumeMounts");

	for (size_t i = 0; vms && vms->kind == SPY_SEQ && i < vms->n; i++) {
		const char *d = spy_str(spy_get(vms->v[i], "mountPath"));

		if (d && strcmp(d, dest) == 0)
			return true;
	}
	return false;
}

int spg_mounts(struct spg_ctx *g, const struct spy_node *c, const char *path, struct sp_err *err)
{
	const struct spy_node *vms = spy_get(c, "volumeMounts");
	const char *tlog = spy_str(spy_get(c, "terminationMessagePath"));
	static const char *const shm[] = { "rbind", NULL };
	bool rofs = false, automount = true;
	char p[192];

	(void)snprintf(p, sizeof(p), "%s.securityContext.readOnlyRootFilesystem", path);
	if (spk_bool(spy_get(spy_get(c, "securityContext"), "readOnlyRootFilesystem"), p, &rofs,
		     err) < 0 ||
	    spk_bool(spy_get(g->m.spec, "automountServiceAccountToken"), g->m.path, &automount,
		     err) < 0)
		return -1;
	for (size_t i = 0; i < sizeof(sys_mounts) / sizeof(sys_mounts[0]); i++)
		add_mount(g, sys_mounts[i].dest, sys_mounts[i].type, sys_mounts[i].type,
			  sys_mounts[i].opts);
	/* containerd mounts hostname and resolv.conf read-only with a read-only root; the
	 * kubelet's /etc/hosts and termination log stay writable */
	add_copy(g, "/etc/hosts", false);
	add_copy(g, tlog ? tlog : "/dev/termination-log", false);
	add_copy(g, "/etc/hostname", rofs);
	add_copy(g, "/etc/resolv.conf", rofs);
	add_mount(g, "/dev/shm", "bind", "/run/kata-containers/sandbox/shm", shm);
	for (size_t i = 0; vms && vms->kind == SPY_SEQ && i < vms->n; i++) {
		(void)snprintf(p, sizeof(p), "%s.volumeMounts[%zu]", path, i);
		if (add_volume_mount(g, vms->v[i], p, err) < 0)
			return -1;
	}
	if (automount && !mounts_at(c, g->set->sa_path))
		add_copy(g, g->set->sa_path, true);
	return 0;
}
