"""Shared pieces of the hostile-host tests (test_hostile*.py, issue 14).

The host is the attacker: everything here is what a hostile host can do without touching the
guest's code. It serves images of its own choosing from its own registry (tests/image/registry.py
EvilRegistry, TLS, on host loopback, reached through `run-qemu --forward`), runs the test KBS
(tests/kbs/kbs.py), writes initdata (for the pod owner's side of a scenario), and sends requests
on the control port. Outcomes are then checked inside the guest through the test shell.

A Stack is the host side of one boot. It is passed as harness.Guest's `extra` (run-qemu options)
and starts the registry and the KBS, and writes the initdata disk, only when the boot starts
(Guest() takes tuple(extra)), so importing the test files costs nothing.
"""
import atexit
import json
import os
import shutil
import socket
import stat
import sys
import tempfile
import time

import harness

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = harness.TOP
for d in (os.path.join(TOP, "tests", "ttrpc"), os.path.join(TOP, "tests", "image"), HERE):
    if d not in sys.path:
        sys.path.insert(0, d)
import client as tt  # noqa: E402
import registry as R  # noqa: E402

pb = tt.load_protos()
GUEST_REG, GUEST_KBS = 5000, 8080
SHARED = "/run/kata-containers/shared/containers"
BUNDLE_ROOTFS = "/usr/share/sealpod/bundles/busybox/rootfs"
S_IFLNK, S_IFDIR, S_IFREG = stat.S_IFLNK, stat.S_IFDIR, stat.S_IFREG
SIGKILL = 9


def ref(name):
    return f"10.0.2.100:{GUEST_REG}/{name}:latest"


# --- images of the host's choosing ------------------------------------------------------------

def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


APPLETS = ("sh", "cat", "echo", "ls", "sleep", "true", "id", "dd", "sync", "tr", "env")


def busybox_layer(extra=()):
    """A small root: busybox with a few applets, the directories a container setup needs."""
    t = R.TarBuilder()
    for d in ("bin", "etc", "tmp", "proc", "dev", "sys", "run", "app", "srv"):
        t.add(d, "dir")
    t.add("bin/busybox", "file", read_bytes(R.BUSYBOX), mode=0o755)
    for a in APPLETS:
        t.add(f"bin/{a}", "symlink", link="busybox")
    t.add("etc/passwd", "file", b"root:x:0:0:root:/:/bin/sh\n")
    t.add("etc/group", "file", b"root:x:0:\n")
    for name, kind, data, mode in extra:
        t.add(name, kind, data, mode=mode)
    return t.bytes()


def files_layer(files):
    """One layer of (name, bytes, mode) files: what the host wants to appear somewhere."""
    t = R.TarBuilder()
    for d in ("dev", "proc", "tmp"):
        t.add(d, "dir")
    for name, data, mode in files:
        t.add(name, "file", data, mode=mode)
    return t.bytes()


class LazyArgs:
    """Base for a boot's host side: iterating it (Guest() does, once) starts it and yields the
    run-qemu options. Equality is identity, so tests naming the same object share a boot."""

    def __init__(self, extra=()):
        self.extra = tuple(extra)
        self.args = None
        self.work = None

    def __iter__(self):
        if self.args is None:
            self.work = tempfile.mkdtemp(prefix="sealpod-hostile-")
            atexit.register(self.stop)
            self.args = list(self.start()) + list(self.extra)
        return iter(self.args)

    def __repr__(self):
        return f"<{type(self).__name__}>"

    def start(self):
        return []

    def stop(self):
        if self.work and not os.environ.get("SEALPOD_KEEP"):
            shutil.rmtree(self.work, ignore_errors=True)


class Stack(LazyArgs):
    """images: name -> (layers, image config, docker manifest?) served by the host's registry;
    kbs: a function of the stack returning test KBS arguments (None: no KBS); initdata: a
    function of the stack returning the initdata TOML (None: no initdata disk)."""

    def __init__(self, images=None, kbs=None, initdata=None, extra=()):
        super().__init__(extra)
        self.images_fn, self.kbs_fn, self.initdata_fn = images, kbs, initdata
        self.reg = self.kbs = None
        self.digests = {}
        self.ca_pem = ""
        self.toml = None

    def start(self):
        import test_attest as A  # its Kbs and initdata_disk
        args = []
        if self.images_fn:
            self.pki = R.Pki(os.path.join(TOP, "build", "image-test", "pki"))
            self.ca_pem = open(self.pki.ca).read()
            self.reg = R.EvilRegistry(self.pki)
            for name, (layers, cfg, docker) in self.images_fn().items():
                man, mt, blobs = R.image_blobs(layers, "gzip", docker=docker, config_extra=cfg)
                self.reg.add_image(name, "latest", man, mt, blobs)
                self.digests[name] = R.sha256(man)
            args += ["--forward", f"{GUEST_REG}:{self.reg.port}"]
        if self.kbs_fn:
            self.kbs = A.Kbs(self.work, *self.kbs_fn(self))
            args += ["--forward", f"{GUEST_KBS}:{self.kbs.port}"]
        if self.initdata_fn:
            self.toml = self.initdata_fn(self)
            args += ["--initdata", A.initdata_disk(self.work, self.toml)]
        return args

    def stop(self):
        for s in (self.kbs, self.reg):
            try:
                if s:
                    s.stop()
            except Exception:  # noqa: BLE001
                pass
        self.kbs = self.reg = None
        super().stop()

    def released(self, path):
        """How many times the KBS released resource PATH (repo/type/tag)."""
        return sum(1 for e in self.kbs.events("resource")
                   if e.get("result") == "released" and e.get("path") == path)


# --- the guest ---------------------------------------------------------------------------------

def client(g, timeout=240, tries=4):
    """A control-port client through the relay (one connection at a time: close it) whose first
    Check was answered: under TCG on a loaded host a fresh virtio-serial connection has been
    seen to sit silent (harness._shell_sock), so a silent one is replaced."""
    for _ in range(tries):
        c = tt.Client(g.agent_connect(), timeout=timeout)
        try:
            if c.call("grpc.Health", "Check", pb.health.CheckRequest(), timeout=8).ok:
                return c
        except (TimeoutError, ConnectionError):
            pass
        c.close()
    raise AssertionError("the agent relay never answered a Check" + g.context())


def network(g):
    """eth0 as Kata would configure it (UpdateInterface), done through the test shell."""
    if g.notes.get("net"):
        return
    g.sh_ok("ip link set eth0 up && ip addr add 10.0.2.15/24 dev eth0")
    g.notes["net"] = True


def trust_registry(g, st):
    """The test overlay's extra registry CA: the host registry's TLS certificate verifies."""
    pem = st.ca_pem.strip().splitlines()
    g.sh_ok("printf '%s\\n' " + " ".join(f"'{ln}'" for ln in pem) +
            " > /etc/sealpod/test-registry-ca.pem")


def spec(args, root, env=("PATH=/bin",), cwd="/", user=None, mounts=(), proc=True, caps=None,
         annotations=None, readonly=False):
    s = pb.oci.Spec(Version="1.1.0", Hostname="ctr")
    s.Root.Path = root
    s.Root.Readonly = readonly
    p = s.Process
    p.Args.extend(args)
    p.Env.extend(env)
    p.Cwd = cwd
    p.NoNewPrivileges = True
    if user:
        p.User.UID, p.User.GID = user
    if caps is not None:
        for field in ("Bounding", "Effective", "Permitted"):
            getattr(p.Capabilities, field).extend(caps)
    if proc:
        s.Mounts.add(destination="/proc", type="proc", source="proc")
        s.Mounts.add(destination="/tmp", type="tmpfs", source="tmpfs", options=["mode=1777"])
    for m in mounts:
        s.Mounts.add(**m)
    for k, v in (annotations or {}).items():
        s.Annotations[k] = v
    return s


def bind(source, dest, ro=True):
    return dict(destination=dest, type="bind", source=source,
                options=["rbind", "ro" if ro else "rw"])


def pull(name, mount_point):
    return dict(driver="image_guest_pull", source=ref(name), mount_point=mount_point,
                fstype="overlay")


def create_req(cid, s, storages=(), pidns=False):
    req = pb.agent.CreateContainerRequest(container_id=cid, exec_id=cid, OCI=s,
                                          sandbox_pidns=pidns)
    for st in storages:
        req.storages.add(**st)
    return req


def create(c, cid, s, storages=(), pidns=False, timeout=240):
    return c.agent("CreateContainer", create_req(cid, s, storages, pidns), timeout=timeout)


def ok(rep, what=""):
    assert rep.ok, f"{what}: {rep}"
    return rep


def start(c, cid):
    return ok(c.agent("StartContainer", pb.agent.StartContainerRequest(container_id=cid)),
              f"start {cid}")


def read_all(c, cid, exec_id=None, method="ReadStdout", timeout=120):
    data = b""
    for _ in range(10000):
        rep = c.agent(method, pb.agent.ReadStreamRequest(container_id=cid,
                                                         exec_id=exec_id or cid, len=32768),
                      timeout=timeout)
        if not rep.ok:
            break
        chunk = rep.decode(pb.agent.ReadStreamResponse).data
        if not chunk:
            break
        data += chunk
    return data.decode(errors="replace")


def wait(c, cid, exec_id=None, timeout=120):
    rep = c.agent("WaitProcess", pb.agent.WaitProcessRequest(container_id=cid,
                                                             exec_id=exec_id or cid),
                  timeout=timeout)
    return rep.decode(pb.agent.WaitProcessResponse).status


def remove(c, cid):
    """RemoveContainer, killing what runs first; the reply (not asserted)."""
    c.agent("SignalProcess", pb.agent.SignalProcessRequest(container_id=cid, exec_id="",
                                                           signal=SIGKILL))
    return c.agent("RemoveContainer", pb.agent.RemoveContainerRequest(container_id=cid))


def exec_req(cid, exec_id, args, env=("PATH=/bin",), user=None, cwd="/"):
    proc = pb.oci.Process(Args=list(args), Env=list(env), Cwd=cwd)
    if user:
        proc.User.UID, proc.User.GID = user
    return pb.agent.ExecProcessRequest(container_id=cid, exec_id=exec_id, process=proc)


def copy_file(c, path, data, mode, dir_mode=0o755):
    return c.agent("CopyFile", pb.agent.CopyFileRequest(
        path=path, file_size=len(data), file_mode=mode, dir_mode=dir_mode, uid=0, gid=0,
        offset=0, data=data))


def plant_symlink(g, c, path, target):
    """The host's symlink in the shared-files directory: CopyFile, or where CopyFile refuses it,
    written straight into the directory (with virtio-fs the host owns that directory's
    contents). Returns how it got there."""
    rep = copy_file(c, path, target.encode(), S_IFLNK | 0o777)
    if rep.ok:
        return "CopyFile"
    g.sh_ok(f"mkdir -p {os.path.dirname(path)} && ln -sfn {target} {path}")
    return f"shell (CopyFile refused: {rep.message[:80]})"


def serving(c, timeout=10):
    rep = c.call("grpc.Health", "Check", pb.health.CheckRequest(), timeout=timeout)
    return rep.ok and rep.decode(pb.health.HealthCheckResponse).status == 1


def mountpoints(g, pid="1"):
    return g.sh_ok(f"cut -d' ' -f5 /proc/{pid}/mountinfo").split()


def ctr_pids(g, cid):
    return g.sh_ok(f"cat /sys/fs/cgroup/sealpod/{cid}/cgroup.procs 2>/dev/null || true").split()


def hmp(g, cmd):
    """One human-monitor command; its output."""
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(10)
    s.connect(g.monitor_path)
    time.sleep(0.2)
    s.recv(65536)
    s.sendall(cmd.encode() + b"\n")
    time.sleep(0.5)
    out = s.recv(65536).decode(errors="replace")
    s.close()
    return out


def short(rep):
    return f"{tt.CODES.get(rep.code, rep.code)} {rep.message[:160]!r}"


def json_doc(obj):
    return json.dumps(obj, indent=1) + "\n"
