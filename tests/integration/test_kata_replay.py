"""Stock Kubernetes pods as the Kata shims drive them (issue 15): the fixtures of
tests/data/kata-requests/ replayed call by call (tests/integration/kata_replay.py) against the test
guest, for the Go shim and runtime-rs, each asserting what the pod must see INSIDE its
containers, not only OK answers. The containers print what they see on stdout, which the
replay's ReadStdout streams collect.

One boot per pod: the Go shim ends its pod with DestroySandbox (the guest powers off);
runtime-rs never sends it and kills QEMU after the last RemoveContainer, which the test does
(Guest.poweroff). The built-in default policy judges every call (no SetPolicy) except where a
test says otherwise. What the replay adapts to the test guest (the app image is the overlay's
busybox bundle, no NIC) is printed with each result.
"""
import atexit
import os
import shutil
import sys
import tempfile

import harness
from harness import boots

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import kata_replay as kp  # noqa: E402

TEST = dict(test=True)
# The emptyDir's disk as Kata hot-plugs it (sparse), on the root bus at slot 0x11: PCI path "11".
DISK_DIR = tempfile.mkdtemp(prefix="sealpod-replay-")
atexit.register(shutil.rmtree, DISK_DIR, True)
EMPTYDIR_DISK = os.path.join(DISK_DIR, "emptydir.img")
with open(EMPTYDIR_DISK, "wb") as _f:
    _f.truncate(160 << 20)
BLK = dict(test=True, mem=1024, extra=("--blk", EMPTYDIR_DISK))


def sh(script):
    """APP_ARGS for a container that runs script, says `ready`, then sleeps until signalled."""
    return ["/bin/sh", "-c", script + "; echo ready; exec sleep 3600"]


def replay(g, scenario, shim, **values):
    fx = kp.load(scenario, shim, **values)
    c = kp.tt.Client(g.agent_connect(), timeout=120)
    return fx, c, kp.Replay(c, fx)


def scenario(fn):
    """A test body whose guest goes whatever happens: a pod that failed half-way leaves a
    sandbox the next pod's CreateSandbox would meet."""
    def run(g, shim):
        try:
            return fn(g, shim)
        except BaseException:
            g.poweroff()
            raise
    run.__name__, run.__doc__ = fn.__name__, fn.__doc__
    return run


def finish(g, r, shim):
    """The end of the pod: Go's DestroySandbox powered the guest off; runtime-rs's shim kills
    QEMU, which the test does."""
    kp.end_pod(g, r, shim)
    return r.summary()


def run_app(fx, c, r):
    """The whole pod, its stop held back until the app container (CID) has printed "ready";
    returns that container's id."""
    cid = fx.values["CID"]
    with c:
        r.run(stop=kp.before("SignalProcess", containerId=cid))
        r.wait_output(cid, "ready")
        r.run()
    return cid


def lines(r, cid, exec_id=""):
    return r.output(cid, exec_id).decode(errors="replace").splitlines()


# --- plain-pod ----------------------------------------------------------------------------------

@scenario
def plain_pod(g, shim):
    fx, c, r = replay(g, "plain-pod", shim, APP_ARGS=sh(
        "cat /etc/hostname; cat /proc/sys/net/ipv4/ip_unprivileged_port_start; "
        "echo terminated-cleanly > /dev/termination-log; "
        "touch /dev/shm/w && echo shm-writable"))
    cid = run_app(fx, c, r)
    out = lines(r, cid)
    assert out[:2] == [fx.values["HOSTNAME"], "0"] and "shm-writable" in out and \
        out[-1] == "ready", out
    diag = [cl for cl in r.calls("GetDiagnosticData")][0]
    rep = r.reply(diag.step)
    assert rep is not None and rep.ok, f"GetDiagnosticData under the default policy: {rep}"
    data = rep.decode(r.pb.agent.GetDiagnosticDataResponse).data
    assert data.strip() == "terminated-cleanly", data
    return finish(g, r, shim)


@harness.ends_guest
@boots(**TEST)
def test_kata_replay_plain_pod_go(g):
    """plain-pod, Go shim: CreateSandbox with the shm storage, the pause with containerd's
    sysctls, the app's copied files; the app sees its hostname, the pause's
    ip_unprivileged_port_start=0 and a writable /dev/shm; GetDiagnosticData answers its
    termination message under the built-in default policy; DestroySandbox powers off."""
    return plain_pod(g, "go")


@harness.ends_guest
@boots(**TEST)
def test_kata_replay_plain_pod_runtime_rs(g):
    """plain-pod, runtime-rs: the same effects; the pod ends without DestroySandbox."""
    return plain_pod(g, "runtime-rs")


# --- shared-shm -----------------------------------------------------------------------------------

@scenario
def shared_shm(g, shim):
    fx, c, r = replay(g, "shared-shm", shim,
                      APP_ARGS=sh("echo from-app-one > /dev/shm/note; grep -w /dev/shm "
                                  "/proc/mounts | cut -d' ' -f3,4"),
                      APP2_ARGS=sh("cat /dev/shm/note"))
    cid, cid2 = fx.values["CID"], fx.values["CID2"]
    with c:
        # kubelet starts the second container once the first runs: the first has written.
        r.run(stop=kp.before("CreateContainer", containerId=cid2))
        r.wait_output(cid, "ready")
        r.run(stop=kp.before("SignalProcess"))
        r.wait_output(cid2, "ready")
        r.run()
    one, two = lines(r, cid), lines(r, cid2)
    # size= honoured (containerd's 64 MiB; Kata would give half of the guest's memory).
    assert one[0].startswith("tmpfs ") and "noexec" in one[0] and "nosuid" in one[0] and \
        f"size={int(fx.values['SHM_SIZE']) >> 10}k" in one[0], one
    assert two == ["from-app-one", "ready"], f"the second container's /dev/shm: {two}"
    return finish(g, r, shim)


@harness.ends_guest
@boots(**TEST)
def test_kata_replay_shared_shm_go(g):
    """shared-shm, Go shim: a file the first container writes in /dev/shm is read by the
    second: both bind the sandbox's shm tmpfs (noexec, nosuid, the size= the shim sent)."""
    return shared_shm(g, "go")


@harness.ends_guest
@boots(**TEST)
def test_kata_replay_shared_shm_runtime_rs(g):
    """shared-shm, runtime-rs: the same."""
    return shared_shm(g, "runtime-rs")


# --- nonroot-port80 -------------------------------------------------------------------------------

@scenario
def nonroot_port80(g, shim):
    fx, c, r = replay(g, "nonroot-port80", shim, APP_ARGS=sh(
        "id -u; grep CapEff /proc/self/status; "
        "(nc -l -p 80 -e /bin/echo served-on-80 &) ; sleep 1; "
        "nc 127.0.0.1 80 </dev/null"))
    cid = run_app(fx, c, r)
    out = lines(r, cid)
    assert out[0] == str(fx.values["NONROOT_UID"]), out
    assert out[1].split() == ["CapEff:", "0000000000000000"], out
    assert "served-on-80" in out, f"uid 101 without capabilities could not serve :80: {out}"
    return finish(g, r, shim)


@harness.ends_guest
@boots(**TEST)
def test_kata_replay_nonroot_port80_go(g):
    """nonroot-port80, Go shim: uid 101 with every capability dropped binds :80, which only
    the pause spec's net.ipv4.ip_unprivileged_port_start=0 allows, and serves a connection."""
    return nonroot_port80(g, "go")


@harness.ends_guest
@boots(**TEST)
def test_kata_replay_nonroot_port80_runtime_rs(g):
    """nonroot-port80, runtime-rs: the same."""
    return nonroot_port80(g, "runtime-rs")


SYSCTL_POLICY = ('{"version": 1, "default": "allow", "allowed_sysctls": [%s]}')


@harness.ends_guest
@boots(**TEST)
def test_kata_replay_nonroot_port80_sysctl_policy(g):
    """nonroot-port80, Go shim, under a JSON policy (SetPolicy, before the first call) whose
    allowed_sysctls leaves out net.ipv4.ip_unprivileged_port_start: the pause's CreateContainer
    (containerd's defaults ride on its spec) is refused PERMISSION_DENIED naming the key and the
    rule. A refused create is no first container, so a second SetPolicy that allows the key with
    the value "0" still passes, and then the pod serves :80 as under the default policy."""
    fx, c, r = replay(g, "nonroot-port80", "go", APP_ARGS=sh(
        "(nc -l -p 80 -e /bin/echo served-on-80 &) ; sleep 1; nc 127.0.0.1 80 </dev/null"))
    cid = fx.values["CID"]
    try:
        with c:
            narrow = SYSCTL_POLICY % '{"key": "net.ipv4.ping_group_range"}'
            rep = c.agent("SetPolicy", r.pb.agent.SetPolicyRequest(policy=narrow))
            assert rep.ok, rep
            r.run(stop=kp.before("CreateContainer"))
            call = r.calls("CreateContainer")[0]
            assert "net.ipv4.ip_unprivileged_port_start" in call.request["OCI"]["Linux"]["Sysctl"]
            rep = c.call(call.service, call.method, r.adapt(call, call.message(r.pb)))
            assert rep.code == kp.tt.PERMISSION_DENIED, rep
            assert rep.message == ("CreateContainerRequest is blocked by policy: sysctl "
                                   "'net.ipv4.ip_unprivileged_port_start' is not in "
                                   "allowed_sysctls"), rep
            wide = SYSCTL_POLICY % ('{"key": "net.ipv4.ip_unprivileged_port_start", '
                                    '"value": "0"}, {"key": "net.ipv4.ping_group_range"}')
            rep = c.agent("SetPolicy", r.pb.agent.SetPolicyRequest(policy=wide))
            assert rep.ok, rep
            r.adapted.insert(0, (0, "SetPolicy", "added: allowed_sysctls without, then with "
                                 "ip_unprivileged_port_start"))
            r.run(stop=kp.before("SignalProcess", containerId=cid))
            r.wait_output(cid, "ready")
            r.run()
        assert "served-on-80" in lines(r, cid), lines(r, cid)
        return finish(g, r, "go")
    except BaseException:
        g.poweroff()
        raise


# --- exec-probe -----------------------------------------------------------------------------------

@scenario
def exec_probe(g, shim):
    with open(os.path.join(kp.TOP, "tests", "data", "policy", "allow-all.rego")) as f:
        allow_all = f.read()
    fx, c, r = replay(g, "exec-probe", shim, PROBE_ARGS=[
        "/bin/sh", "-c", "grep CapEff /proc/self/status; cat /etc/hostname; exit 3"])
    cid = fx.values["CID"]
    with c:
        # The built-in default denies ExecProcess: a pod with exec probes carries a policy
        # that allows them (initdata); here SetPolicy, before the first call.
        rep = c.agent("SetPolicy", r.pb.agent.SetPolicyRequest(policy=allow_all))
        assert rep.ok, rep
        r.adapted.insert(0, (0, "SetPolicy", "added: Kata's allow-all, so ExecProcess passes"))
        r.run(stop=kp.before("SignalProcess", containerId=cid))
        r.wait_output(cid, "up")
        r.run()
    spec = r.calls("CreateContainer")[-1].request["OCI"]["Process"]
    assert not spec.get("Capabilities", {}).get("Effective"), spec
    for call in r.calls("ExecProcess"):
        ex = call.request["execId"]
        assert "Capabilities" not in call.request["process"], call.request
        out = lines(r, cid, ex)
        assert out[0].split() == ["CapEff:", "0000000000000000"], \
            f"an exec in a container without capabilities gained some: {out}"
        assert out[1] == fx.values["HOSTNAME"], out
        assert r.status(cid, ex) == 3, f"probe exit status {r.status(cid, ex)}"
    return finish(g, r, shim)


@harness.ends_guest
@boots(**TEST)
def test_kata_replay_exec_probe_go(g):
    """exec-probe, Go shim: two probe execs (no capabilities in the request) in a container
    without capabilities run with CapEff 0, the container's own set, and their exit status
    reaches WaitProcess."""
    return exec_probe(g, "go")


@harness.ends_guest
@boots(**TEST)
def test_kata_replay_exec_probe_runtime_rs(g):
    """exec-probe, runtime-rs: the same with containerd's exec ids and process spec."""
    return exec_probe(g, "runtime-rs")


# --- emptydir-fsgroup, emptydir-local -------------------------------------------------------------

EMPTYDIR_SCRIPT = ("id -u; id -G; "
                   "echo by-1000 > /cache/f && stat -c 'cache %g %a' /cache && "
                   "stat -c 'cache-file %u %g' /cache/f; "
                   "echo by-1000 > /scratch/f && stat -c 'scratch %g %a' /scratch && "
                   "stat -c 'scratch-file %u %g' /scratch/f")


def emptydir_lines(r, cid, fx, cache_mode):
    out = lines(r, cid)
    gid = str(fx.values["FS_GROUP"])
    uid = str(fx.values["RUN_AS_USER"])
    assert out[0] == uid and gid in out[1].split(), out
    want = [f"cache {gid} {cache_mode}", f"cache-file {uid} {gid}",
            f"scratch {gid} 3777", f"scratch-file {uid} {gid}"]
    assert out[2:6] == want, f"uid {uid} in its emptyDirs: {out} (want {want})"


@scenario
def emptydir_fsgroup(g, shim):
    # Wipe the disk: a Kata block emptyDir is a fresh sparse file per pod.
    with open(EMPTYDIR_DISK, "r+b") as f:
        f.truncate(0)
        f.truncate(160 << 20)
    fx, c, r = replay(g, "emptydir-fsgroup", shim, EMPTYDIR_PCI="11",
                      APP_ARGS=sh(EMPTYDIR_SCRIPT))
    cid = run_app(fx, c, r)
    emptydir_lines(r, cid, fx, "2775")
    return finish(g, r, shim)


@scenario
def emptydir_local(g, shim):
    fx, c, r = replay(g, "emptydir-local", shim, APP_ARGS=sh(EMPTYDIR_SCRIPT))
    cid = run_app(fx, c, r)
    emptydir_lines(r, cid, fx, "2777")
    return finish(g, r, shim)


@harness.ends_guest
@boots(**BLK)
def test_kata_replay_emptydir_fsgroup_go(g):
    """emptydir-fsgroup, Go shim: runAsUser 1000 with fsGroup 2000 writes its encrypted block
    emptyDir (Storage.fs_group: the root gets the group, g+rwx and set-group-id, so the file it
    makes has the group) and its memory emptyDir (fsgid=2000)."""
    return emptydir_fsgroup(g, "go")


@harness.ends_guest
@boots(**BLK)
def test_kata_replay_emptydir_fsgroup_runtime_rs(g):
    """emptydir-fsgroup, runtime-rs (storages in its order): the same."""
    return emptydir_fsgroup(g, "runtime-rs")


@harness.ends_guest
@boots(**TEST)
def test_kata_replay_emptydir_local_go(g):
    """emptydir-local, Go shim: the disk emptyDir as a `local` storage (mode=0777, fsgid=2000,
    bound with mount type `local`) is writable by uid 1000 and hands its group on."""
    return emptydir_local(g, "go")


@harness.ends_guest
@boots(**TEST)
def test_kata_replay_emptydir_local_runtime_rs(g):
    """emptydir-local, runtime-rs (its passthrough/ mount point): the same."""
    return emptydir_local(g, "runtime-rs")


# --- configmap-secret ----------------------------------------------------------------------------

@scenario
def configmap_secret(g, shim):
    fx, c, r = replay(g, "configmap-secret", shim, APP_ARGS=sh(
        "cat /etc/app/app.properties; cat /etc/secret/username; echo; "
        "cat /etc/secret/password; echo; readlink /etc/app/..data; "
        "touch /etc/app/x 2>/dev/null && echo configmap-writable || echo configmap-read-only"))
    cid = run_app(fx, c, r)
    out = lines(r, cid)
    v = fx.values
    assert out[0] == v["CONFIG_TEXT"].strip() and out[1] == v["SECRET_USERNAME"] and \
        out[2] == v["SECRET_PASSWORD"], out
    assert out[3] == v["CONFIGMAP_TS"] and out[4] == "configmap-read-only", out
    return finish(g, r, shim)


@harness.ends_guest
@boots(**TEST)
def test_kata_replay_configmap_secret_go(g):
    """configmap-secret, Go shim: the ConfigMap and Secret copied with CopyFile in kubelet's
    ..data layout (depth first, Go's dir_mode) read through their keys' links, bound
    read-only."""
    return configmap_secret(g, "go")


@harness.ends_guest
@boots(**TEST)
def test_kata_replay_configmap_secret_runtime_rs(g):
    """configmap-secret, runtime-rs: breadth first (links before their targets) and copied a
    second time concurrently: the same files."""
    return configmap_secret(g, "runtime-rs")


# --- RemoveContainer answers once its storages are released -------------------------------------

@scenario
def remove_releases(g, shim):
    fx, c, r = replay(g, "emptydir-fsgroup", shim, EMPTYDIR_PCI="11",
                      APP_ARGS=sh("echo old > /cache/old"))
    cid, sb = fx.values["CID"], fx.values["SANDBOX_ID"]
    with open(EMPTYDIR_DISK, "r+b") as f:
        f.truncate(0)
        f.truncate(160 << 20)
    with c:
        r.run(stop=kp.before("SignalProcess", containerId=cid))
        r.wait_output(cid, "ready")
        # Up to the app's RemoveContainer answer: the next call is the pause's signal.
        r.run(stop=kp.before("SignalProcess", containerId=sb))
        # What Kata does next: unplug the disk. Nothing of the guest may hold it any more.
        left = g.sh_ok("ls /dev/mapper; grep -c ' /run/kata-containers/sandbox/storage/' "
                       "/proc/mounts || true").split()
        assert not [n for n in left if n.startswith("sealpod-c")] and left[-1] == "0", \
            f"RemoveContainer answered with the emptyDir still mapped or mounted: {left}"
        # The same disk again at once, for a new container: formatted afresh.
        call = r.calls("CreateContainer")[-1]
        msg = r.adapt(call, call.message(r.pb))
        new = "b" * 64
        msg.container_id = new
        if msg.exec_id:
            msg.exec_id = new
        del msg.OCI.Process.Args[:]
        msg.OCI.Process.Args.extend(["/bin/sh", "-c", "ls -A /cache"])
        rep = c.agent("CreateContainer", msg)
        assert rep.ok, f"the same disk right after RemoveContainer: {rep}"
        assert c.agent("StartContainer", r.pb.agent.StartContainerRequest(
            container_id=new)).ok
        out = b""
        while True:
            d = c.agent("ReadStdout", r.pb.agent.ReadStreamRequest(
                container_id=new, exec_id=msg.exec_id, len=4096),
                r.pb.agent.ReadStreamResponse).data
            if not d:
                break
            out += d
        assert out.split() == [b"lost+found"], f"a fresh emptyDir holds {out!r}"
        r.run()
    return finish(g, r, shim)


@harness.ends_guest
@boots(**BLK)
def test_kata_replay_remove_releases_runtime_rs(g):
    """emptydir-fsgroup, runtime-rs: when RemoveContainer answers, the block emptyDir is
    unmounted and its dm-crypt mapping gone (Kata unplugs the disk right then), and the same
    disk is formatted afresh for a new container at once."""
    return remove_releases(g, "runtime-rs")
