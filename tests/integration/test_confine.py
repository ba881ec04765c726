"""Containers cannot reach each other or PID 1 (issue 14, class 5), attacked from inside
containers the host creates through the control port. One boot, with a pod disk so that the pod's
dm-crypt device exists, and a JSON policy that consents to CAP_SYS_ADMIN (the device cgroup test
needs a container that could otherwise remount /dev and mknod). The probes are
tests/guest/sealpod-confine.c, copied into the bundle's rootfs (the containers' image: a bind
from the host's directories is noexec). Harmless tests first.
"""
import atexit
import os
import re
import shutil
import tempfile

from harness import boots
import test_runtime as rt

tt, pb, ok, create, wait, remove, run, sh, spec = (rt.tt, rt.pb, rt.ok, rt.create, rt.wait,
                                                  rt.remove, rt.run, rt.sh, rt.spec)
SHARED = "/run/kata-containers/shared/containers"
PROBE = "/bin/confine"
SECRET = "s3cret-7f2c91"
DIR = tempfile.mkdtemp(prefix="sealpod-confine-")
atexit.register(shutil.rmtree, DIR, True)
POD_DISK = os.path.join(DIR, "pod.img")
with open(POD_DISK, "wb") as f:
    f.truncate(256 << 20)  # sparse
BOOT = dict(test=True, mem=1024, lifetime=1200, extra=("--disk", POD_DISK))
POLICY = ('{"version": 1, "default": "allow", '
          '"allow_privileged_capabilities": ["CAP_SYS_ADMIN"]}')
DEFAULT_CAPS = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
                "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
                "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"]


def probe_spec(args, **kw):
    return spec([PROBE] + list(args), **kw)


def fields(out, prefix):
    """key=value pairs of the last line that starts with prefix."""
    lines = [l for l in out.splitlines() if l.startswith(prefix)]
    assert lines, f"no '{prefix}' line in {out!r}"
    return dict(kv.split("=", 1) for kv in lines[-1].split() if "=" in kv)


@boots(**BOOT)
def test_confine_policy_first(g):
    """SetPolicy (consent to CAP_SYS_ADMIN only) before any container, then the sandbox (pause)
    container, whose pid namespace the shared-pidns test uses; the probe goes into the
    image."""
    g.sh_ok(f"cp /usr/bin/sealpod-confine {rt.ROOTFS}{PROBE}")
    with rt.client(g) as c:
        ok(c.agent("SetPolicy", pb.agent.SetPolicyRequest(policy=POLICY)), "SetPolicy")
        s = spec(["/pause"], root=f"/run/kata-containers/{rt.SANDBOX}/rootfs", mounts=False)
        ok(create(c, rt.SANDBOX, s, storages=[dict(
            driver="image_guest_pull", source="pause",
            mount_point=f"/run/kata-containers/{rt.SANDBOX}/rootfs")]), "create pause")
        ok(c.agent("StartContainer", pb.agent.StartContainerRequest(container_id=rt.SANDBOX)))


@boots(**BOOT)
def test_mandatory_masked_and_readonly_paths(g):
    """A spec with empty maskedPaths and readonlyPaths still gets containerd's and the kubelet's
    defaults: container root cannot write /proc/sys (not in its own uts namespace either, nor
    through a second proc mount elsewhere), /proc/timer_list, /proc/keys and /sys/firmware read
    as masked. The spec's own lists still add to them."""
    script = ("v=$(cat /proc/sys/vm/overcommit_ratio); "
              "echo $v > /proc/sys/vm/overcommit_ratio && echo vm-written; "
              "echo h9 > /proc/sys/kernel/hostname && echo host-written; "
              "echo h9 > /xproc/sys/kernel/hostname && echo xhost-written; "
              "echo timer=$(cat /proc/timer_list | wc -c); echo keys=$(cat /proc/keys | wc -c); "
              "echo firmware=$(ls /sys/firmware | wc -l); "
              "echo xtimer=$(cat /xproc/timer_list | wc -c); "
              "echo extra=$(cat /proc/uptime | wc -c); hostname")
    s = sh(script)
    s.Mounts.add(destination="/xproc", type="proc", source="proc")
    lin = getattr(s, "Linux_")
    assert not lin.MaskedPaths and not lin.ReadonlyPaths
    with rt.client(g) as c:
        status, out, err = run(c, "mp1", s)
        assert status == 0, (out, err)
        assert "written" not in out, out
        assert err.count("Read-only file system") == 3, err
        vals = dict(l.split("=", 1) for l in out.splitlines() if "=" in l)
        assert vals["timer"] == "0" and vals["keys"] == "0" and vals["firmware"] == "0", out
        assert vals["xtimer"] == "0" and vals["extra"] != "0", out
        assert out.splitlines()[-1] == "ctr", out
        # the spec adds a path; the mandatory ones stay
        _, out, _ = run(c, "mp2", sh("echo extra=$(cat /proc/uptime | wc -c); "
                                     "echo h9 > /proc/sys/kernel/hostname || echo refused",
                                     masked=["/proc/uptime"]))
        assert "extra=0" in out and "refused" in out, out
    return f"timer_list {vals['timer']} bytes, /sys/firmware {vals['firmware']} entries"


@boots(**BOOT)
def test_no_net_raw_by_default(g):
    """CAP_NET_RAW is out of the default set: a default container cannot open a raw socket (it
    would see the pod's loopback traffic, the guest's network namespace is shared). A spec that
    names it (containerd puts it in every spec) is not refused: the capability is forced out of
    its sets, since this policy does not consent, and the console says so."""
    with rt.client(g) as c:
        status, out, err = run(c, "nr1", probe_spec(["rawsock"]))
        assert status == 0, (out, err)
        assert fields(out, "rawsock:")["inet"] == "EPERM", out
        con0 = len(g.console())
        status, out, err = run(c, "nr2", probe_spec(["rawsock"],
                                                    caps=DEFAULT_CAPS + ["CAP_NET_RAW"]))
        assert status == 0 and fields(out, "rawsock:")["inet"] == "EPERM", (out, err)
        assert "container nr2: CAP_NET_RAW dropped" in g.console()[con0:], g.context(10)
        status, out, _ = run(c, "nr3", sh("grep CapBnd /proc/self/status",
                                           caps=DEFAULT_CAPS + ["CAP_NET_RAW"]))
        assert not int(out.split()[1], 16) & (1 << 13), out
        rt.serving(c)
    return out.strip()


def big_seccomp(s, n):
    """n rules that never match (personality with values nobody passes): thousands of
    libseccomp rule additions and a filter of several thousand instructions, all compiled in
    the child after its capabilities are dropped."""
    sec = getattr(s, "Linux_").Seccomp
    sec.DefaultAction = "SCMP_ACT_ALLOW"
    for i in range(n):
        r = sec.Syscalls.add(Names=["personality"], Action="SCMP_ACT_ERRNO", errnoret=1)
        r.Args.add(Index=0, Value=0x5ea10000 + i, Op="SCMP_CMP_EQ")
    return s


@boots(**BOOT)
def test_setup_children_undumpable(g):
    """A root container (default capabilities, as the exec child keeps them) seizes every new
    process in its pid namespace while the host execs into it with a large seccomp profile and a
    PATH of thousands of missing directories (the window between the capability drop and execve
    is then long). A process it can seize must already be the container's program: the exec
    child, a copy of PID 1, is not dumpable until execve."""
    path = ":".join(f"/nx/{i}" for i in range(12000)) + ":/bin"
    # the execs bring the container's own environment (the policy judges an exec's env)
    s = big_seccomp(probe_spec(["race", "/bin/busybox"], env=("PATH=" + path,)), 600)
    with rt.client(g) as c:
        ok(create(c, "race", s), "create race")
        ok(c.agent("StartContainer", pb.agent.StartContainerRequest(container_id="race")))
        for i in range(4):
            proc = pb.oci.Process(Args=["true"], Env=["PATH=" + path], Cwd="/")
            ok(c.agent("ExecProcess", pb.agent.ExecProcessRequest(
                container_id="race", exec_id=f"x{i}", process=proc), timeout=120), f"exec {i}")
            assert wait(c, "race", f"x{i}") == 0
        ok(c.agent("SignalProcess", pb.agent.SignalProcessRequest(
            container_id="race", exec_id="race", signal=rt.SIGTERM)))
        out = rt.read_all(c, "race", "race", "ReadStdout")
        status = wait(c, "race")
        remove(c, "race")
    r = fields(out, "race:")
    assert status == 0 and r["breach"] == "0", out
    assert int(r["eperm"]) > 0, f"the probe never saw an exec child before its execve: {out}"
    return out.strip()


@boots(**BOOT)
def test_shared_pidns_cotenants(g):
    """Two root containers in the sandbox's pid namespace (sandbox_pidns): the host's H sees the
    victim V's processes but cannot read V's /proc/PID/environ or /proc/PID/root (V's secret
    file) nor open its /proc/PID/mem; neither can a process the host execs into H."""
    victim = sh(f"echo {SECRET} > /tmp/secret && exec sleep 1000",
                env=("PATH=/bin", f"SECRET={SECRET}"))
    with rt.client(g) as c:
        ok(create(c, "v1", victim, pidns=True), "create v1")
        ok(c.agent("StartContainer", pb.agent.StartContainerRequest(container_id="v1")))
        status, out, err = run(c, "h1", probe_spec(["peek", SECRET]), pidns=True)
        ok(create(c, "h2", spec(["/bin/sleep", "1000"]), pidns=True), "create h2")
        ok(c.agent("StartContainer", pb.agent.StartContainerRequest(container_id="h2")))
        proc = pb.oci.Process(Args=["/bin/sh", "-c", "cat /proc/*/environ | tr '\\0' '\\n' | "
                                    f"grep -c {SECRET}; cat /proc/*/root/tmp/secret"],
                              Env=["PATH=/bin"], Cwd="/")
        ok(c.agent("ExecProcess", pb.agent.ExecProcessRequest(container_id="h2", exec_id="e1",
                                                              process=proc)), "exec")
        eout = rt.read_all(c, "h2", "e1", "ReadStdout")
        wait(c, "h2", "e1")
        for cid in ("h2", "v1"):
            ok(c.agent("SignalProcess", pb.agent.SignalProcessRequest(
                container_id=cid, exec_id="", signal=rt.SIGKILL)))
            wait(c, cid)
            remove(c, cid)
    assert status == 0, (out, err)
    assert re.search(r"^peek: pid \d+ comm sleep ", out, re.M), f"V is not visible: {out}"
    assert fields(out, "peek: others")["leaks"] == "0", out
    assert SECRET not in eout.replace("0\n", "", 1) and eout.startswith("0"), eout
    return "\n".join(l for l in out.splitlines() if "sleep" in l or "others" in l)


def block_majors(g):
    """(dm-crypt node of the pod disk, the disk itself) as "b:MAJ:MIN"."""
    g.sh_ok("for i in $(seq 300); do [ -e /dev/mapper/sealpod-pod ] && exit 0; sleep 1; done; "
            "exit 1")
    out = g.sh_ok("stat -L -c '%t %T' /dev/mapper/sealpod-pod /dev/vda").split()
    return [f"b:{int(out[0], 16)}:{int(out[1], 16)}", f"b:{int(out[2], 16)}:{int(out[3], 16)}"]


@boots(**BOOT)
def test_device_cgroup(g):
    """A container granted CAP_SYS_ADMIN (with the policy's consent) and CAP_MKNOD mounts a tmpfs
    that allows devices, and remounts its /dev read-write: mknod of the pod's dm-crypt device, of
    the virtio-blk disk under it and of /dev/mem is refused by the device cgroup, and so is
    opening them; removing the device program from its own cgroup finds none there. The
    container's own /dev nodes still work."""
    nodes = block_majors(g) + ["c:1:1", "c:5:1"]
    caps = DEFAULT_CAPS + ["CAP_SYS_ADMIN"]
    with rt.client(g) as c:
        results = {}
        for where in ("tmpfs", "dev"):
            s = probe_spec(["nodes", where] + nodes, caps=caps)
            s.Mounts.add(destination="/sys/fs/cgroup", type="cgroup2", source="cgroup")
            status, out, err = run(c, f"dv-{where}", s)
            assert status == 0, (out, err)
            head = fields(out, f"nodes: {where}=")
            assert head[where] == "OK", out  # the mount itself is allowed: CAP_SYS_ADMIN
            assert head["detach"] == "ENOENT", out  # nothing on its own cgroup to remove
            for n in nodes:
                f = fields(out, f"nodes: {n} ")
                assert f["mknod"] == "EPERM" and f["open"] == "-", (n, out)
            results[where] = out
        status, out, err = run(c, "dv-own", probe_spec(["devs"]))
        d = fields(out, "devs:")
        assert status == 0 and all(d[k] == "OK" for k in ("null", "zero", "full", "random",
                                                              "urandom", "read-zero",
                                                              "ptmx", "pts")), out
        assert d["tty"] == "ENXIO" and d["write-full"] == "ENOSPC", out  # no controlling tty
        status, out, _ = run(c, "dv-tty", sh("echo hi > /dev/tty && echo tty-ok", terminal=True))
        assert "tty-ok" in out, out
    return results["tmpfs"].strip() + "\n" + repr(d)
