"""The hostile host of issue 14, part 1: paths, mounts, containers and PID 1 (one boot).

Each test performs one attack through the control port exactly as a hostile host would, then
checks the outcome inside the guest through the test shell, and asserts the SAFE outcome: the
request refused with a message naming the rule or field, the guest's state unchanged, PID 1 still
answering. Written before the fixes: each docstring says how it fails at 0af5081 (the observed
attack outcome), and what the refusal should say where today's code has no such refusal yet.

The boot: the test image, 1.5 GiB, the host's own registry (hostile.Stack), a PCIe root port for
a late hot-plug, and a JSON policy set first that allows everything but pins `allowed_exec` and
grants CAP_SYS_ADMIN (a pod owner's choice the tests rely on). Ordered from harmless to harmful;
the amplification frame comes last.
"""
import os
import re
import time

import hostile as H
from hostile import SHARED, pb, tt
from harness import boots

HELPER = os.path.join(H.TOP, "build", "guest", "sealpod-hostile")  # tests/guest/*.c
HOT_MP = "/run/kata-containers/sandbox/storage/hotv"  # the emptyDir on the late, stallable disk
APP_CFG = {"Entrypoint": ["/app/web"], "Cmd": ["serve"], "Env": ["PATH=/bin"],
           "WorkingDir": "/"}
WEB = b"#!/bin/sh\necho app up\nexec sleep 1000\n"


def images():
    cfg = {"Cmd": ["/bin/true"], "Env": ["PATH=/bin"], "WorkingDir": "/"}
    return {
        "app": ([H.busybox_layer([("app/web", "file", WEB, 0o755)])], APP_CFG, False),
        # what the host wants at /usr/bin: its own mke2fs, which the next disk format runs
        "usrbin": ([H.files_layer([("mke2fs", b"#!/bin/sh\necho host-mke2fs\n", 0o755)])],
                   cfg, False),
        # a forged test-overlay marker and registry CA for /etc/sealpod
        "etcsealpod": ([H.files_layer([("test-overlay", b"forged by the host\n", 0o644),
                                       ("test-registry-ca.pem", b"host CA\n", 0o644)])],
                       cfg, False),
        # files the host slips into another container's rootfs
        "inject": ([H.files_layer([("injected-by-host", b"host file\n", 0o755)])], cfg, False),
        # the host's own container: busybox and the attack helper
        "tools": ([H.busybox_layer([("bin/hostile", "file", H.read_bytes(HELPER), 0o755)])],
                  cfg, False),
    }


STACK = H.Stack(images=images, extra=("--hotplug-port",))
P = dict(test=True, mem=1536, lifetime=1800, cmdline="agent.hotplug_timeout=120", extra=STACK)
POLICY = {"version": 1, "default": "allow",
          "allowed_exec": [["/bin/id", "-u"], ["true"]],
          "allow_privileged_capabilities": ["CAP_SYS_ADMIN"]}


def setup(g):
    """Once per boot, whichever test runs first: the network, the registry CA and the pod
    owner's policy (SetPolicy, before any container)."""
    if g.notes.get("setup"):
        return
    H.network(g)
    H.trust_registry(g, STACK)
    with H.client(g) as c:
        H.ok(c.agent("SetPolicy", pb.agent.SetPolicyRequest(policy=H.json_doc(POLICY))),
             "SetPolicy")
    g.notes["setup"] = True


def tools(c, cid, args, **kw):
    """CreateContainer of the host's own "tools" image (busybox and /bin/hostile), pulled by the
    guest as the shim asks for it."""
    root = f"/run/kata-containers/{cid}/rootfs"
    return H.create(c, cid, H.spec(args, root, **kw), [H.pull("tools", root)])


def run_ctr(c, cid, args, **kw):
    """create (tools), start, stdout+stderr to EOF, wait, remove: (status, output)."""
    H.ok(tools(c, cid, args, **kw), f"create {cid}")
    H.start(c, cid)
    out = H.read_all(c, cid) + H.read_all(c, cid, method="ReadStderr")
    status = H.wait(c, cid)
    H.remove(c, cid)
    return status, out


# --- CopyFile and the image mount point: paths are resolved, never string-checked -------------

@boots(**P)
def test_copyfile_stays_out_of_mounts(g):
    """CopyFile must stay on the shared-files directory's own file system and never write into
    a mount beneath it, nor make a symlink that points out of it. Real shims put a container's
    guest-pulled rootfs at shared/containers/<cid>/rootfs: CopyFile to <cid>/rootfs/bin/sh must
    be refused (INVALID_ARGUMENT or PERMISSION_DENIED; today's code has no such refusal: the fix
    should name the mount it will not enter) and the container's /bin/sh stay busybox's link.
    A symlink to /etc must be refused with a message containing "symlink".

    Fails at 0af5081 because sp_copy_file_at() resolves with RESOLVE_BENEATH but without
    RESOLVE_NO_XDEV: the CopyFile is accepted and /bin/sh in the overlay becomes the host's
    script; and copy_symlink() makes links with any target (the link to /etc is created)."""
    setup(g)
    root = f"{SHARED}/w1/rootfs"
    probe = f"ls -l {root}/bin/sh | sed 's/.* -> //'; cat {root}/bin/sh 2>/dev/null | head -c 9"
    with H.client(g) as c:
        H.ok(H.create(c, "w1", H.spec(["/app/web", "serve"], root), [H.pull("app", root)]),
             "create w1 (its rootfs where real shims put it)")
        before = g.sh_ok(probe)
        into = H.copy_file(c, f"{root}/bin/sh", b"#!/bin/sh\necho host code\n",
                           H.S_IFREG | 0o755)
        after = g.sh_ok(probe)
        out = H.copy_file(c, f"{SHARED}/esc", b"/etc", H.S_IFLNK | 0o777)
        link = g.sh_ok(f"readlink {SHARED}/esc || echo none").strip()
        H.remove(c, "w1")
    bad = []
    if into.ok or into.code not in (tt.INVALID_ARGUMENT, tt.PERMISSION_DENIED):
        bad.append(f"CopyFile into the rootfs answered {H.short(into)}")
    if after != before:
        bad.append(f"the container's /bin/sh changed: {before!r} -> {after!r}")
    if out.ok or "symlink" not in out.message:
        bad.append(f"CopyFile of a symlink to /etc answered {H.short(out)}")
    if link != "none":
        bad.append(f"{SHARED}/esc -> {link} exists")
    assert not bad, "; ".join(bad)


def mount_point_refused(rep):
    return not rep.ok and rep.code == tt.INVALID_ARGUMENT and \
        re.search(r"mount[_ ]point", rep.message)


@boots(**P)
def test_symlinked_mount_point_over_usr_bin(g):
    """The symlink lnk -> /usr in the shared-files directory, then an image_guest_pull whose
    mount_point is .../lnk/bin: refused (INVALID_ARGUMENT, naming the mount point: "mount_point"
    or "mount point"), nothing mounted on /usr/bin, /usr/bin/mke2fs's sha256 unchanged.

    Fails at 0af5081 because driver.c only string-checks the mount point and store.c's mkdir_p()
    and move_mount() follow the link: the host's image covers the guest's /usr/bin and
    /usr/bin/mke2fs is the host's script (the next disk format would run it as root)."""
    setup(g)
    mp = f"{SHARED}/lnk/bin"
    h0 = g.sh_ok("sha256sum /usr/bin/mke2fs").split()[0]
    try:
        with H.client(g) as c:
            how = H.plant_symlink(g, c, f"{SHARED}/lnk", "/usr")
            rep = H.create(c, "lnkc", H.spec(["/mke2fs"], mp, proc=False),
                           [H.pull("usrbin", mp)])
            covered = "/usr/bin" in H.mountpoints(g)
            h1 = g.sh_ok("sha256sum /usr/bin/mke2fs").split()[0]
            mke2fs = g.sh_ok("grep -q host-mke2fs /usr/bin/mke2fs && echo host-script "
                             "|| echo genuine").strip()
            if rep.ok:
                H.remove(c, "lnkc")
    finally:
        g.sh("while grep -q ' /usr/bin ' /proc/1/mountinfo; do umount -l /usr/bin; done")
    assert mount_point_refused(rep) and not covered and h1 == h0, \
        (f"the pull answered {H.short(rep)} (link by {how}); /usr/bin mounted over: {covered}; "
         f"mke2fs sha256 {h0[:16]} -> {h1[:16]} ({mke2fs})")


@boots(**P)
def test_symlinked_mount_point_over_etc_sealpod(g):
    """The link lnk2 -> /etc/sealpod as the mount point itself (a final-component symlink), in a
    CreateContainer whose next storage waits for a disk the host never plugs (the host holds the
    request open as long as it likes). The pull must be refused (INVALID_ARGUMENT, naming the
    mount point); while the request waits, /etc/sealpod keeps its files, and the test-overlay
    marker its content and inode (PID 1 reads it at run time).

    Fails at 0af5081 because the overlay is mounted through the link on /etc/sealpod: while the
    request waits the marker is the host's forged file and the guest's registry CA the host's
    (the create then fails only because the runtime will not open a symlink as a rootfs, and its
    release unmounts through the link again)."""
    setup(g)
    mp = f"{SHARED}/lnk2"
    probe = ("ls -A /etc/sealpod | tr '\\n' ' '; sha256sum /etc/sealpod/test-overlay | "
             "cut -c1-16; stat -c %i /etc/sealpod/test-overlay")
    before = g.sh_ok(probe)
    never = dict(driver="blk", source="1f", fstype="ext4", mount_point=HOT_MP + "-never",
                 driver_options=["encryption_key=ephemeral", "create_filesystem"])
    rep = None
    try:
        c = H.client(g)
        try:
            how = H.plant_symlink(g, c, mp, "/etc/sealpod")
            sid = c.send("grpc.AgentService", "CreateContainer",
                         H.create_req("lnk2c", H.spec(["/x"], mp, proc=False),
                                      [H.pull("etcsealpod", mp), never]))
            end = time.monotonic() + 120
            while time.monotonic() < end and "PCI path 1f" not in g.console():
                try:
                    rep = c.wait(sid, timeout=0.5)
                    break
                except TimeoutError:
                    pass
            during = g.sh_ok(probe)
        finally:
            c.close()  # the host gives up: the request is cancelled and released
        time.sleep(1)
        after = g.sh_ok(probe)
    finally:
        g.sh("while grep -q ' /etc/sealpod ' /proc/1/mountinfo; do umount -l /etc/sealpod; "
             "done")
    refused = rep is not None and mount_point_refused(rep)
    assert refused and during == before and after == before, \
        (f"the pull answered {H.short(rep) if rep else 'nothing: it was accepted and waits'} "
         f"(link by {how}); /etc/sealpod before {before!r}, while the request waits "
         f"{during!r}, after {after!r}")


@boots(**P)
def test_release_never_unmounts_through_a_relinked_mount_point(g):
    """shared/containers/u1 is the host's link to a directory of its own; u1 is pulled at the
    exact shape real shims use, shared/containers/u1/rootfs. Another container v1 is pulled at
    /run/kata-containers/v1/rootfs. The host re-points u1 -> /run/kata-containers/v1 and removes
    u1. v1's rootfs must still be mounted in PID 1's mount table (release unmounts what the
    worker mounted, by fd or UMOUNT_NOFOLLOW on a path PID 1 made), whether u1's pull through the
    link was refused (then its RemoveContainer is NOT_FOUND) or not.

    Fails at 0af5081 because release() calls umount2(made.target, MNT_DETACH) on the string the
    host chose, which now resolves through the link: v1's rootfs is unmounted."""
    setup(g)
    v1root = "/run/kata-containers/v1/rootfs"
    u1root = f"{SHARED}/u1/rootfs"
    with H.client(g) as c:
        H.ok(H.copy_file(c, f"{SHARED}/d3", b"", H.S_IFDIR | 0o755), "CopyFile d3/")
        how = H.plant_symlink(g, c, f"{SHARED}/u1", "d3")
        u1 = H.create(c, "u1", H.spec(["/app/web", "serve"], u1root), [H.pull("app", u1root)])
        H.ok(H.create(c, "v1", H.spec(["/app/web", "serve"], v1root), [H.pull("app", v1root)]),
             "create v1")
        before = v1root in H.mountpoints(g)
        relink = H.plant_symlink(g, c, f"{SHARED}/u1", "/run/kata-containers/v1")
        rm = H.remove(c, "u1")
        after = v1root in H.mountpoints(g)
        H.remove(c, "v1")
    g.sh(f"umount -l {SHARED}/d3/rootfs 2>/dev/null; true")
    assert before, "v1's rootfs was never mounted"
    assert after, (f"RemoveContainer u1 unmounted v1's rootfs (u1's create: {H.short(u1)}, "
                   f"link by {how}, re-pointed by {relink}; remove: {H.short(rm)})")


# --- a mount point inside another container's rootfs, with the host choosing the timing ---------

def hotplug_blkdebug(g):
    """The late disk: raw, over blkdebug (so the host can stall its requests later), hot-plugged
    on the root port (PCI path 10/00)."""
    path = os.path.join(STACK.work, "hot.img")
    with open(path, "wb") as f:
        f.truncate(96 << 20)
    for cmd in (f"drive_add 0 file=blkdebug::{path},if=none,id=hotd,format=raw",
                "device_add virtio-blk-pci,drive=hotd,bus=hp0,id=hotdev"):
        out = H.hmp(g, cmd)
        assert "rror" not in out, f"monitor: {cmd}: {out}"
    g.notes["hot"] = path


def blk_hot():
    return dict(driver="blk", source="10/00", fstype="ext4", mount_point=HOT_MP,
                driver_options=["encryption_key=ephemeral", "create_filesystem"])


def ensure_hot_emptydir(g, c):
    """The encrypted emptyDir on the hot-plugged disk (test_nested_mount_point made it; alone, a
    container of its own makes it)."""
    if g.notes.get("hot"):
        return
    root = "/run/kata-containers/hotonly/rootfs"
    sid = c.send("grpc.AgentService", "CreateContainer",
                 H.create_req("hotonly", H.spec(["/bin/sleep", "1000"], root),
                              [H.pull("tools", root), blk_hot()]))
    time.sleep(1)
    hotplug_blkdebug(g)
    H.ok(c.wait(sid, timeout=300), "create hotonly (the emptyDir)")


@boots(**P)
def test_nested_mount_point_late_hotplug(g):
    """V's CreateContainer lists [image_guest_pull @ /run/kata-containers/nv/rootfs, blk on a disk
    the host hot-plugs late]. Once the console says V's image is mounted, the host pulls another
    image H at /run/kata-containers/nv/rootfs/usr/bin, then hot-plugs V's disk. Either H is
    refused (a mount point is exactly a rootfs shape, nothing nested: INVALID_ARGUMENT naming the
    mount point), or V ends up with a single overlay: its own mount table holds one overlay and
    no host file at /usr/bin.

    Fails at 0af5081 because driver.c accepts any path beneath /run/kata-containers/ and rootfs.c
    binds V's root with MS_REC: V's mount table holds two overlays and /usr/bin/injected-by-host
    is in V's rootfs."""
    setup(g)
    vroot = "/run/kata-containers/nv/rootfs"
    hroot = f"{vroot}/usr/bin"
    with H.client(g) as c:
        sid = c.send("grpc.AgentService", "CreateContainer",
                     H.create_req("nv", H.spec(["/app/web", "serve"], vroot),
                                  [H.pull("app", vroot), blk_hot()]))
        end = time.monotonic() + 240
        mounted = re.compile(rf"pull: nv: \S+ \(sha256:[0-9a-f]+\) mounted at {vroot}")
        while not mounted.search(g.console()):
            assert time.monotonic() < end and "CreateContainer nv refused" not in g.console(), \
                "V's image was never mounted" + g.context(20)
            time.sleep(0.5)
        hrep = H.create(c, "nh", H.spec(["/x"], hroot, proc=False), [H.pull("inject", hroot)])
        hotplug_blkdebug(g)
        H.ok(c.wait(sid, timeout=300), "create nv (after the hot-plug)")
        pid = H.ctr_pids(g, "nv")[0]
        overlays = g.sh_ok(f"grep -c ' - overlay ' /proc/{pid}/mountinfo").strip()
        injected = g.sh_ok(f"ls /proc/{pid}/root/usr/bin/ 2>/dev/null | tr '\\n' ' '")
        if hrep.ok:
            H.remove(c, "nh")
    if not hrep.ok:
        assert mount_point_refused(hrep), f"H refused, but not for its mount point: {H.short(hrep)}"
    assert overlays == "1" and "injected-by-host" not in injected, \
        (f"H's pull answered {H.short(hrep)}; V's mount table holds {overlays} overlays; "
         f"V's /usr/bin: {injected}")


CHECK_S = 10


@boots(**P)
def test_remove_while_the_disk_is_stalled(g):
    """A container writes and fsyncs to the emptyDir on the blkdebug disk while the host holds
    its first write (`qemu-io hotd "break write_aio stall"` on the monitor): the process sits in
    D state. The host then sends RemoveContainer; Check must keep answering within CHECK_S
    (10 s: a few seconds, with room for TCG on a loaded host) for 20 s (PID 1 never waits on a child or a disk the host controls). Afterwards the host
    releases the write and the removal completes.

    Fails at 0af5081 because sp_rt_remove() -> reap_failed() is a blocking waitid() on a process
    that cannot die while its I/O is held: PID 1 answers nothing until the disk is released."""
    setup(g)
    probes = []
    with H.client(g) as c:
        ensure_hot_emptydir(g, c)
        H.ok(tools(c, "stall", ["/bin/sh", "-c", "echo go; dd if=/dev/zero of=/data/stall "
                                "bs=4096 count=64 conv=fsync 2>&1; echo done"],
                   mounts=[H.bind(HOT_MP, "/data", ro=False)]), "create stall")
        g.sh_ok("sync")  # nothing of the disk's own may be the write that gets held
        out = H.hmp(g, 'qemu-io hotd "break write_aio stall"')
        assert "rror" not in out and "nknown" not in out, f"blkdebug break: {out}"
        try:
            H.start(c, "stall")
            end, stuck = time.monotonic() + 30, False
            while time.monotonic() < end and not stuck:
                states = g.sh_ok("for p in $(cat /sys/fs/cgroup/sealpod/stall/cgroup.procs); do "
                                 "grep State /proc/$p/status; done")
                stuck = "D (disk sleep)" in states
                time.sleep(0.3)
            assert stuck, f"the write never stalled: {states}"
            rm = c.send("grpc.AgentService", "RemoveContainer",
                        pb.agent.RemoveContainerRequest(container_id="stall"))
            t_end = time.monotonic() + 20
            while time.monotonic() < t_end:
                t0 = time.monotonic()
                try:
                    answered = H.serving(c, timeout=CHECK_S)
                except TimeoutError:
                    answered = False
                probes.append((answered, time.monotonic() - t0))
                if not answered:
                    break
                time.sleep(1)
        finally:
            H.hmp(g, 'qemu-io hotd "resume stall"')
            H.hmp(g, 'qemu-io hotd "remove_break stall"')
        if probes and not probes[-1][0]:
            H.ok(c.wait(rm, timeout=120), "RemoveContainer after the disk was released")
    slow = [f"{t:.1f}s" for a, t in probes if not a]
    assert probes and not slow, \
        (f"Check during RemoveContainer with the disk stalled: {len(probes)} probes, "
         f"unanswered after {slow}")


# --- what a container can reach -------------------------------------------------------------

@boots(**P)
def test_proc_sys_readonly_and_kcore_masked_whatever_the_spec(g):
    """A spec with no readonlyPaths and no maskedPaths: the container's root still cannot write
    /proc/sys (it writes kernel.printk_ratelimit's own value back: EROFS expected), and
    /proc/timer_list (and /proc/kcore, where the kernel has it) read nothing.

    Fails at 0af5081 because masked and read-only paths come only from the spec (spec.c,
    rootfs.c): the write to /proc/sys succeeds and /proc/timer_list is readable."""
    setup(g)
    kcore = g.sh_ok("test -e /proc/kcore && echo yes || echo no").strip()
    script = ("v=$(cat /proc/sys/kernel/printk_ratelimit); "
              "echo $v > /proc/sys/kernel/printk_ratelimit && echo sysctl=written "
              "|| echo sysctl=refused; echo timer_list=$(cat /proc/timer_list 2>/dev/null "
              "| wc -c); echo kcore=$(head -c 4096 /proc/kcore 2>/dev/null | wc -c)")
    with H.client(g) as c:
        status, out = run_ctr(c, "ps1", ["/bin/sh", "-c", script])
    got = dict(kv.split("=", 1) for kv in out.split() if "=" in kv)
    assert got.get("sysctl") == "refused" and got.get("timer_list") == "0" and \
        got.get("kcore") == "0", f"{out.strip()} (the guest has /proc/kcore: {kcore})"


@boots(**P)
def test_no_net_raw_by_default(g):
    """A default-spec container (no capabilities named) cannot open a packet or raw socket:
    CAP_NET_RAW is not in the default set (it would sniff the pod's shared loopback).

    Fails at 0af5081 because CAP_NET_RAW is in the default set (runtime/caps.c): both sockets
    open."""
    setup(g)
    with H.client(g) as c:
        status, out = run_ctr(c, "nr1", ["/bin/hostile", "sockets"])
    assert "packet=ok" not in out and "raw=ok" not in out, out.strip()


@boots(**P)
def test_mknod_of_pod_devices_with_sys_admin(g):
    """A container the policy grants CAP_SYS_ADMIN (and CAP_MKNOD, default) mounts a tmpfs
    without nodev, makes block nodes for the pod's dm devices and the hot-plugged virtio disk,
    and opens them: every open must fail with EPERM (a device cgroup allows only the container's
    own nodes).

    Fails at 0af5081 because no device cgroup program is attached: the container reads the raw
    and the plaintext (dm-crypt) views of the pod's disk."""
    setup(g)
    with H.client(g) as c:
        ensure_hot_emptydir(g, c)
        devs = g.sh_ok("cat /sys/block/dm-*/dev /sys/block/vd*/dev 2>/dev/null").split()
        assert devs, "no dm or virtio block device in the guest"
        caps = ["CAP_MKNOD", "CAP_SYS_ADMIN"]  # all it needs: mount a tmpfs, make nodes
        status, out = run_ctr(c, "mk1", ["/bin/hostile", "devnodes", "/tmp/d"] + devs,
                              caps=caps)
    lines = [ln for ln in out.splitlines() if ln.startswith("dev ")]
    assert len(lines) == len(devs), out
    opened = [ln for ln in lines if "open=ok" in ln]
    assert not opened and all("Operation not permitted" in ln for ln in lines), \
        "; ".join(lines)


@boots(**P)
def test_exec_env_and_user_are_judged(g):
    """An ExecProcess whose argv allowed_exec allows (/bin/id -u) but with LD_PRELOAD added to
    the environment, and one as uid 0 into a container that runs as 1000: both PERMISSION_DENIED
    naming the field ("env" / "user"). The same argv with the container's own env and user runs
    (the control).

    Fails at 0af5081 because allowed_exec compares argv only (policy.c): both execs run, the
    second prints uid 0."""
    setup(g)
    env = ("PATH=/bin",)
    with H.client(g) as c:
        H.ok(tools(c, "ex", ["/bin/sleep", "1000"], env=env, user=(1000, 1000)), "create ex")
        H.start(c, "ex")
        results = {}
        for eid, e, user in (("ctl", env, (1000, 1000)),
                             ("pre", env + ("LD_PRELOAD=/tmp/evil.so",), (1000, 1000)),
                             ("root", env, (0, 0))):
            rep = c.agent("ExecProcess", H.exec_req("ex", eid, ["/bin/id", "-u"], e, user))
            out = H.read_all(c, "ex", eid).strip() if rep.ok else ""
            results[eid] = (rep, out)
        H.remove(c, "ex")
    ctl, pre, root = results["ctl"], results["pre"], results["root"]
    assert ctl[0].ok and ctl[1] == "1000", f"the control exec: {H.short(ctl[0])} {ctl[1]!r}"
    bad = []
    if pre[0].code != tt.PERMISSION_DENIED or "env" not in pre[0].message:
        bad.append(f"LD_PRELOAD exec: {H.short(pre[0])} printed {pre[1]!r}")
    if root[0].code != tt.PERMISSION_DENIED or "user" not in root[0].message:
        bad.append(f"uid 0 exec: {H.short(root[0])} printed {root[1]!r}")
    assert not bad, "; ".join(bad)


# --- PID 1 itself -------------------------------------------------------------------------------

LONG_PATH = "PATH=" + "/n:" * 40000 + "/bin"  # 120 KB: under execve's 128 KiB per string


@boots(**P)
def test_ptrace_race_against_exec_children(g):
    """A root container's init (the helper) spins PTRACE_SEIZE on each new pid of its pid
    namespace while the host execs `true` into it three times. The container's PATH is 40,000
    missing directories long, so each exec child runs PID 1's code for a while after dropping its
    capabilities (the PATH search). No seize may succeed before the exec (children are not
    dumpable until execve); the helper must have seen at least one child still running PID 1's
    image, so that the race was really run. A seize that lands inside execve after the new image
    replaced PID 1's memory holds the container's own program and is no breach: the helper
    judges by the tracee's /proc/PID/exe (sealpod-hostile.c, classify).

    Fails at 0af5081 because the children never set PR_SET_DUMPABLE 0: after the capability drop
    a root container's process attaches to them and holds a copy of PID 1's memory."""
    setup(g)
    env = (LONG_PATH,)
    with H.client(g) as c:
        H.ok(tools(c, "pt", ["/bin/hostile", "ptrace-race", "120", "3"], env=env), "create pt")
        H.start(c, "pt")
        first = c.agent("ReadStdout", pb.agent.ReadStreamRequest(container_id="pt",
                                                                 exec_id="pt", len=4096))
        assert b"waiting" in first.decode(pb.agent.ReadStreamResponse).data, first
        for i in range(3):
            H.ok(c.agent("ExecProcess", H.exec_req("pt", f"x{i}", ["true"], env),
                         timeout=120), f"exec {i}")
            H.wait(c, "pt", f"x{i}")
        out = H.read_all(c, "pt")
        H.wait(c, "pt")
        H.remove(c, "pt")
    m = re.search(r"summary: children=(\d+) seen-before-exec=(\d+) attached-pre-exec=(\d+)",
                  out)
    assert m, out
    assert int(m.group(1)) == 3 and int(m.group(2)) >= 1, f"the race did not run: {out}"
    assert m.group(3) == "0", f"a container attached to PID 1's children before exec:\n{out}"


@boots(**P)
def test_amplification_frame(g):
    """One 4 MiB CreateContainer frame holding about two million empty `storages` entries, sent
    by the host: PID 1's VmHWM grows by less than 64 MiB (decoding is bounded before allocation)
    and PID 1 still answers Check. Last in the boot: it may leave PID 1 large.

    Fails at 0af5081 because protobuf-c unpacks every entry (and the preparation copies the
    request again): VmHWM grows by hundreds of MiB."""
    setup(g)
    hwm = lambda: int(g.sh_ok("grep VmHWM /proc/1/status").split()[1])  # noqa: E731
    before = hwm()
    head = b"\x0a\x03amp\x12\x03amp"
    n = ((4 << 20) - 200 - len(head)) // 2
    payload = head + b"\x2a\x00" * n
    with H.client(g, timeout=300) as c:
        body = c.request_body("grpc.AgentService", "CreateContainer", payload, 0)
        assert len(body) <= 4 << 20, len(body)
        sid = c.next_stream
        c.next_stream += 2
        c.send_raw(c.frame(sid, body))
        rep = c.wait(sid, timeout=300)
        alive = H.serving(c)
    grown = (hwm() - before) // 1024
    assert alive, "PID 1 does not answer Check after the frame"
    assert grown < 64, (f"PID 1's VmHWM grew by {grown} MiB for one frame of {n} empty "
                        f"storages (reply {H.short(rep)})")
