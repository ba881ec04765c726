"""A whole confidential pod, end to end, the way Kata drives it (issue 9).

The test image boots under QEMU TCG with OVMF and swtpm, with
  - an initdata disk: aa.toml names the test KBS (https, its CA inline), cdh.toml the registry
    credentials (a KBS resource) and the registry's CA, policy.rego a JSON policy;
  - Kata's trusted store (PCI path "12", named /dev/trusted_store in the pause container's
    CreateContainer) that the guest encrypts for image layers and upper dirs, and a Kata block
    disk (PCI path "11") for an `encryption_key=ephemeral` emptyDir (the production scenario
    uses the standalone pod disk, serial sealpod-ephemeral, instead of the trusted store);
  - the secrets initdata binds to the app image's digest (a KBS resource);
  - docker-registry (TLS + htpasswd) with an image built by umoci and pushed by skopeo, and the
    test KBS (TPM evidence, AK trust on first use, reference values from sealpod-measure), both
    on host loopback, reached from the guest through `scripts/run-qemu --forward`.
It is driven over the control port with the Go shim's sequence, shared_fs=none style (CopyFile
of hostname/hosts/resolv.conf), and the production build/initramfs.img boots with the same
initdata and attests in standalone mode, judged from its console and the KBS's log.

Each scenario runs in a fresh network namespace (`unshare -n`): this file re-executes itself
there (`python3 test_e2e.py pod|prod`), printing `ok`/`not ok` lines.
"""
import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
PY = "/usr/bin/python3"
GUEST_REG, GUEST_KBS = 5000, 8080
IMAGE = f"10.0.2.100:{GUEST_REG}/demo/app:latest"
OTHER_IMAGE = f"10.0.2.100:{GUEST_REG}/demo/other:latest"
# The app's layers under another manifest (Docker schema 2), so another digest: initdata binds it
# a secret the KBS does not hold, and its CreateContainer must fail cleanly.
IMAGE2 = f"10.0.2.100:{GUEST_REG}/demo/app2:latest"
APP2 = "e2e-app2"
MAC = "52:54:00:12:34:56"  # QEMU's first NIC
SHARED = "/run/kata-containers/shared/containers"
EMPTYDIR = "/run/kata-containers/sandbox/storage/e2e-cache"
# Known plaintexts: one in an image layer, one the container writes to its upper dir, one to the
# emptyDir. None may appear in a backing file.
LAYER_PLAIN = b"sealpod-e2e-layer-plaintext-4c1d9b7e20aa\n"
UPPER_PLAIN = "sealpod-e2e-upper-plaintext-91f0c3d2"
EMPTYDIR_PLAIN = "sealpod-e2e-emptydir-plaintext-5b8e7a61"
SANDBOX, APP = "e2e-sandbox", "e2e-app"
# A secret for the app's image (a KBS resource that initdata binds to the image's digest), and
# one bound to another digest, which the app must not get.
SECRET = b"sealpod-e2e-secret-7f3a19c2d4e8b6a0"
SECRET_PATH, OTHER_SECRET_PATH = "/run/secrets/app-token", "/run/secrets/other"
HOSTNAME = "e2e-pod"


def policy():
    allow = ["CreateSandboxRequest", "DestroySandboxRequest", "GuestDetailsRequest",
             "UpdateInterfaceRequest", "UpdateRoutesRequest", "AddARPNeighborsRequest",
             "OnlineCPUMemRequest", "UpdateEphemeralMountsRequest", "CopyFileRequest",
             "CreateContainerRequest", "StartContainerRequest", "RemoveContainerRequest",
             "RemoveStaleVirtiofsShareMountsRequest", "SignalProcessRequest",
             "WaitProcessRequest", "StatsContainerRequest", "GetOOMEventRequest",
             "ReadStreamRequest", "WriteStreamRequest", "CloseStdinRequest",
             "TtyWinResizeRequest", "ExecProcessRequest"]
    return json.dumps({
        "version": 1, "default": "deny",
        "requests": {r: "allow" for r in allow},
        "allowed_images": [{"reference": IMAGE}, {"reference": IMAGE2}],
        "allowed_exec": [["/bin/cat", "/etc/hostname"]],
        "copy_file_prefix": SHARED + "/",
        "require_attestation": True,
    }, indent=1) + "\n"


def initdata_toml(ca_pem, pol, app_digest, app2_digest):
    other = "sha256:" + "0" * 64
    return (f'version = "0.1.0"\nalgorithm = "sha256"\n[data]\n'
            f'"aa.toml" = \'\'\'\n[token_configs.kbs]\nurl = "https://10.0.2.100:{GUEST_KBS}"\n'
            f'cert = """\n{ca_pem}"""\n\'\'\'\n'
            f'"cdh.toml" = \'\'\'\n[image]\n'
            f'authenticated_registry_credentials_uri = "kbs:///default/credential/registry"\n'
            f'[sealpod]\nregistry_ca = """\n{ca_pem}"""\n'
            f'[sealpod.secrets.app-token]\nresource = "kbs:///default/key/app-token"\n'
            f'image = "{app_digest}"\npath = "{SECRET_PATH}"\nmode = "0440"\n'
            f'[sealpod.secrets.other]\nresource = "kbs:///default/key/other"\n'
            f'image = "{other}"\npath = "{OTHER_SECRET_PATH}"\n'
            f'[sealpod.secrets.missing]\nresource = "kbs:///default/key/missing"\n'
            f'image = "{app2_digest}"\npath = "/run/secrets/missing"\n\'\'\'\n'
            f'"policy.rego" = \'\'\'\n{pol}\'\'\'\n')


# --- the host side: registry, image, KBS -----------------------------------------------------
class Stack:
    """Registry with the demo image, test KBS, initdata, disks: everything on 127.0.0.1."""

    def __init__(self, work, test):
        sys.path.insert(0, os.path.join(TOP, "tests", "image"))
        sys.path.insert(0, HERE)
        import registry as R
        import test_attest as A
        self.R, self.A, self.work = R, A, work
        self.pki = R.Pki(os.path.join(work, "pki"))
        self.ca_pem = open(self.pki.ca).read()
        self.reg = R.Registry(os.path.join(work, "reg"), self.pki, auth="htpasswd")
        layers = R.busybox_layers()
        extra = R.TarBuilder()
        extra.add("opt", "dir")
        extra.add("opt/e2e-marker", "file", LAYER_PLAIN * 1024)
        layout = R.build_umoci_image(os.path.join(work, "oci"), layers=layers + [extra.bytes()])
        self.app_digest = R.skopeo_push(self.pki, layout, "latest", self.reg, "demo/app")
        self.app2_digest = R.skopeo_push(self.pki, layout, "latest", self.reg, "demo/app2",
                                         fmt="v2s2")
        assert self.app2_digest != self.app_digest
        auth = {"auths": {f"10.0.2.100:{GUEST_REG}": {"auth": base64.b64encode(
            f"{R.USER}:{R.PASSWORD}".encode()).decode()}}}
        authf = os.path.join(work, "auth.json")
        with open(authf, "w") as f:
            json.dump(auth, f)
        secretf = os.path.join(work, "app-token")
        with open(secretf, "wb") as f:
            f.write(SECRET)
        self.toml = initdata_toml(self.ca_pem, policy(), self.app_digest, self.app2_digest)
        self.initdata = A.initdata_disk(work, self.toml)
        self.cmdline = "" if test else A.NET
        self.ref, self.refv = A.reference(work, test, self.cmdline)
        self.kbs = A.Kbs(work, "--ak-tofu", "--reference", self.ref,
                         "--resource", f"default/credential/registry={authf}",
                         "--resource", f"default/key/app-token={secretf}",
                         "--resource", f"default/key/other={secretf}",
                         tls=(self.pki.cert, self.pki.key))
        self.pod_disk = os.path.join(work, "pod.img")
        self.ed_disk = os.path.join(work, "emptydir.img")
        for p, size in ((self.pod_disk, 256 << 20), (self.ed_disk, 96 << 20)):
            with open(p, "wb") as f:
                f.truncate(size)

    def run_qemu_args(self, kata=True):
        """kata: the pod disk is Kata's trusted store, a plain block device at PCI path "12"
        that CreateContainer names as /dev/trusted_store (the emptyDir disk is at "11");
        otherwise it is the standalone disk with serial sealpod-ephemeral, found at boot."""
        disks = (("--blk", self.ed_disk, "--blk", self.pod_disk) if kata else
                 ("--disk", self.pod_disk, "--blk", self.ed_disk))
        return ("--forward", f"{GUEST_REG}:{self.reg.port}",
                "--forward", f"{GUEST_KBS}:{self.kbs.port}",
                "--swtpm", os.path.join(self.work, "tpm"), "--initdata", self.initdata) + disks

    def stop(self):
        for s in (self.kbs, self.reg):
            try:
                s.stop()
            except Exception:  # noqa: BLE001
                pass


def file_has(path, needle):
    with open(path, "rb") as f:
        return needle in f.read()


def nonzero_mib(path):
    n, zero = 0, bytes(1 << 20)
    with open(path, "rb") as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                return n
            if b != zero[:len(b)]:
                n += 1


def timeline(console):
    """(guest seconds, text) of every `sealpod:` console line."""
    out = []
    for m in re.finditer(r"\[\s*(\d+\.\d+)\] sealpod: ([^\n]*)", console):
        out.append((float(m.group(1)), m.group(2)))
    return out


def first(tl, pattern):
    for t, text in tl:
        if re.search(pattern, text):
            return t
    return None


def milestones(console):
    tl = timeline(console)
    ms = [("ready (control port up)", r"^ready"),
          ("storage ready (encrypted disk)", r"^storage: (/run/sealpod/storage ready|"
           r"container \S+: \S+ \(PCI \S+\) encrypted and mounted at /run/kata-containers/image)"),
          ("attested", r"^attest: done in"),
          ("registry credentials from KBS", r"^attest: resource kbs:///default/credential"),
          ("sandbox (pause) started", rf"^runtime: container {SANDBOX} started"),
          ("image pulled + mounted", rf"^pull: {APP}: .* mounted at"),
          ("app container started", rf"^runtime: container {APP} started")]
    return [(name, first(tl, pat)) for name, pat in ms]


def format_milestones(ms):
    return "; ".join(f"{n} {t:.2f} s" if t is not None else f"{n} -" for n, t in ms)


def connect(g, tt, pb, tries=4):
    """A client on the relay whose first Check is answered. Under TCG on a loaded host a fresh
    virtio-serial connection has been seen to sit silent (harness._shell_sock): reconnect."""
    for _ in range(tries):
        c = tt.Client(g.agent_connect(), timeout=300)
        try:
            r = c.call("grpc.Health", "Check", pb.health.CheckRequest(), timeout=8)
            if r.ok:
                return c
        except (TimeoutError, ConnectionError):
            pass
        c.close()
    raise AssertionError("the agent relay never answered a Check" + g.context())


# --- the pod, driven like the Go shim --------------------------------------------------------
def scenario_pod(work):
    sys.path.insert(0, HERE)
    sys.path.insert(0, os.path.join(TOP, "tests", "ttrpc"))
    import harness
    import client as tt
    pb = tt.load_protos()
    st = Stack(work, test=True)
    g = harness.Guest(test=True, name="e2e", ready_timeout=90, extra=st.run_qemu_args())
    results = []

    def step(name, cond, detail=""):
        if not cond:
            raise AssertionError(f"{name}: {detail}")
        results.append(name)

    try:
        g.start()
        c = connect(g, tt, pb)
        ok = lambda rep, what: step(what, rep.ok, str(rep))  # noqa: E731

        # Check
        r = c.call("grpc.Health", "Check", pb.health.CheckRequest())
        step("Check SERVING", r.decode(pb.health.HealthCheckResponse).status == 1, r)
        con = g.console()
        step("initdata read and bound into PCR8", "extended PCR8 with sha256" in con, con[-2000:])
        step("attestation is lazy: KBS untouched before CreateContainer",
             not st.kbs.events("auth"), st.kbs.events())
        # SetPolicy: the attested initdata's policy does not allow it
        r = c.agent("SetPolicy", pb.agent.SetPolicyRequest(policy="{}"))
        step("SetPolicy denied by the initdata policy", r.code == 7, r)
        # UpdateInterface / UpdateRoutes
        iface = pb.types.Interface(name="eth0", hwAddr=MAC, mtu=1500)
        iface.IPAddresses.add(family=0, address="10.0.2.15", mask="24")
        ok(c.agent("UpdateInterface", pb.agent.UpdateInterfaceRequest(interface=iface)),
           "UpdateInterface")
        routes = pb.agent.Routes()
        routes.Routes.add(dest="", gateway="10.0.2.2", device="eth0")
        ok(c.agent("UpdateRoutes", pb.agent.UpdateRoutesRequest(routes=routes)), "UpdateRoutes")
        # CreateSandbox, GetGuestDetails
        ok(c.agent("CreateSandbox", pb.agent.CreateSandboxRequest(
            hostname=HOSTNAME, dns=["nameserver 10.0.2.3", "search e2e.local"],
            sandbox_id=SANDBOX, sandbox_pidns=False)), "CreateSandbox")
        r = c.agent("GetGuestDetails", pb.agent.GuestDetailsRequest(mem_block_size=True))
        gd = r.decode(pb.agent.GuestDetailsResponse)
        step("GetGuestDetails", r.ok and gd.agent_details.version.startswith("sealpod"), r)
        # CopyFile (shared_fs=none): hostname, hosts, resolv.conf into the shared-files path
        files = {"hostname": f"{HOSTNAME}\n",
                 "hosts": f"127.0.0.1 localhost\n10.0.2.15 {HOSTNAME}\n",
                 "resolv.conf": "nameserver 10.0.2.3\nsearch e2e.local\n"}
        for name, text in files.items():
            ok(c.agent("CopyFile", pb.agent.CopyFileRequest(
                path=f"{SHARED}/{APP}-{name}", file_size=len(text), file_mode=0o100644,
                dir_mode=0o750, uid=0, gid=0, offset=0, data=text.encode())),
               f"CopyFile {name}")
        r = c.agent("CopyFile", pb.agent.CopyFileRequest(
            path="/etc/passwd", file_size=4, file_mode=0o100644, data=b"x\n\n\n"))
        step("CopyFile outside the shared-files path denied", r.code == 7, r)

        # CreateContainer(pause): waits on attestation
        root = f"/run/kata-containers/{SANDBOX}/rootfs"
        s = pb.oci.Spec(Version="1.1.0", Hostname=HOSTNAME)
        s.Root.Path = root
        s.Root.Readonly = True
        s.Process.Args.extend(["/pause"])
        s.Process.Cwd = "/"
        s.Annotations["io.kubernetes.cri.container-type"] = "sandbox"
        req = pb.agent.CreateContainerRequest(container_id=SANDBOX, exec_id=SANDBOX, OCI=s)
        req.storages.add(driver="image_guest_pull", source="pause", mount_point=root)
        # the pod's encrypted image store, as Kata names it (Device.id = its PCI path)
        req.devices.add(id="12", type="blk", container_path="/dev/trusted_store")
        t0 = time.monotonic()
        ok(c.agent("CreateContainer", req, timeout=300), "CreateContainer pause")
        pause_s = time.monotonic() - t0
        ev = st.kbs.events("attest")
        step("attested (KBS log) before the first CreateContainer answered",
             ev and ev[0]["result"] == "ok" and ev[0]["claims"]["pcr9"] == st.refv["pcr9"], ev)
        con = g.console()
        step("attested on the console", "attest: done in" in con and "with tpm evidence" in con,
             g.console_tail(40))
        ok(c.agent("StartContainer", pb.agent.StartContainerRequest(container_id=SANDBOX)),
           "StartContainer pause")
        # The shim's GetOOMEvent loop: parked, no deadline, on the same connection
        oom = c.send("grpc.AgentService", "GetOOMEvent",
                     pb.agent.GetOOMEventRequest().SerializeToString(), timeout_nano=0)

        # A denied image: not in allowed_images
        def app_spec(args):
            root_ = f"/run/kata-containers/{APP}/rootfs"
            sp = pb.oci.Spec(Version="1.1.0", Hostname=HOSTNAME)
            sp.Root.Path = root_
            sp.Process.Args.extend(args)
            sp.Process.Env.extend(["PATH=/bin", f"HOSTNAME={HOSTNAME}"])
            sp.Process.Cwd = "/"
            sp.Process.NoNewPrivileges = True
            sp.Mounts.add(destination="/proc", type="proc", source="proc")
            sp.Mounts.add(destination="/tmp", type="tmpfs", source="tmpfs", options=["mode=1777"])
            for name in files:
                sp.Mounts.add(destination=f"/etc/{name}", type="bind",
                              source=f"{SHARED}/{APP}-{name}", options=["rbind", "ro"])
            sp.Mounts.add(destination="/cache", type="bind", source=EMPTYDIR,
                          options=["rbind", "rw"])
            # The host tries to put a file of its own where the secret goes: the secret wins
            # (the line below checks its sha256).
            sp.Mounts.add(destination=SECRET_PATH, type="bind",
                          source=f"{SHARED}/{APP}-hostname", options=["rbind", "ro"])
            sp.Annotations["io.kubernetes.cri.container-type"] = "container"
            sp.Annotations["io.kubernetes.cri.sandbox-id"] = SANDBOX
            return sp, root_

        sp, rt = app_spec(["/bin/true"])
        req = pb.agent.CreateContainerRequest(container_id="denied", exec_id="denied", OCI=sp)
        req.storages.add(driver="image_guest_pull", source=OTHER_IMAGE,
                         mount_point="/run/kata-containers/denied/rootfs")
        r = c.agent("CreateContainer", req)
        step("an image outside allowed_images denied", r.code == 7 and
             "allowed_images" in r.message, r)

        # CreateContainer(app) pulled from the local registry, with the emptyDir
        script = (f"echo app up on $(cat /etc/hostname) marker=$(busybox head -c 18 "
                  f"/opt/e2e-marker) dns=$(busybox tail -1 /etc/resolv.conf)"
                  f" hosts=$(busybox tail -1 /etc/hosts)"
                  f" secret=$(busybox sha256sum {SECRET_PATH} | busybox cut -c1-64)"
                  f" mode=$(busybox stat -c %a {SECRET_PATH})"
                  f" ro=$( (echo x >> {SECRET_PATH}) 2>/dev/null && echo no || echo yes)"
                  f" other=$(busybox test -e {OTHER_SECRET_PATH} && echo present || echo absent); "
                  f"for i in $(busybox seq 512); do echo {UPPER_PLAIN}; done > /upper-file; "
                  f"for i in $(busybox seq 512); do echo {EMPTYDIR_PLAIN}; done > /cache/f; "
                  f"busybox sync; echo to-stderr >&2; exec sleep 1000")
        sp, rt = app_spec(["/bin/sh", "-c", script])
        req = pb.agent.CreateContainerRequest(container_id=APP, exec_id=APP, OCI=sp)
        req.storages.add(driver="image_guest_pull", source=IMAGE, mount_point=rt)
        req.storages.add(driver="blk", source="11", fstype="ext4", mount_point=EMPTYDIR,
                         driver_options=["encryption_key=ephemeral", "create_filesystem"])
        # ... and its Check every few seconds, answered while the pull runs
        t0 = time.monotonic()
        create = c.send("grpc.AgentService", "CreateContainer", req.SerializeToString())
        checks, worst = 0, 0.0
        while create not in c.pending and time.monotonic() - t0 < 600:
            t1 = time.monotonic()
            r = c.wait(c.send("grpc.Health", "Check", pb.health.CheckRequest()
                              .SerializeToString()), timeout=30)
            step("Check answered during the pull",
                 r.decode(pb.health.HealthCheckResponse).status == 1, r)
            worst = max(worst, time.monotonic() - t1)
            checks += 1
            time.sleep(2)
        ok(c.wait(create, timeout=600), "CreateContainer app (pull)")
        pull_s = time.monotonic() - t0
        ok(c.agent("StartContainer", pb.agent.StartContainerRequest(container_id=APP)),
           "StartContainer app")
        rep = c.agent("ReadStdout", pb.agent.ReadStreamRequest(container_id=APP, exec_id=APP,
                                                               len=4096), timeout=120)
        line = rep.decode(pb.agent.ReadStreamResponse).data.decode(errors="replace")
        step("ReadStdout: the app's line (CopyFile'd hostname, resolv.conf, hosts; image file)",
             line == f"app up on {HOSTNAME} marker={LAYER_PLAIN[:18].decode()} "
             f"dns=search e2e.local hosts=10.0.2.15 {HOSTNAME} "
             f"secret={hashlib.sha256(SECRET).hexdigest()} mode=440 ro=yes other=absent\n",
             repr(line))
        con = g.console()
        step("the secret bound to the app's image digest, fetched after attestation",
             f"secrets: container {APP}: 1 secret from the KBS for image {st.app_digest}" in con and
             f"secrets: container {APP}: app-token at {SECRET_PATH} (mode 0440)" in con and
             [e["path"] for e in st.kbs.events("resource")].count("default/key/app-token") == 1
             and "default/key/other" not in [e["path"] for e in st.kbs.events("resource")],
             g.console_tail(30))
        con = g.console()
        step("layers on the encrypted trusted store",
             "pod storage (image layers) is now the trusted store at /run/kata-containers/image"
             in con and re.search(rf"pull: {APP}: .*layers in /run/kata-containers/image "
                                  rf"\(encrypted disk\)", con) is not None, g.console_tail(30))
        # wait for the writes to be done: the script's stderr line comes after the sync
        rep = c.agent("ReadStderr", pb.agent.ReadStreamRequest(container_id=APP, exec_id=APP,
                                                               len=4096), timeout=120)
        step("ReadStderr: the line after sync",
             rep.decode(pb.agent.ReadStreamResponse).data == b"to-stderr\n", rep)
        mnt = g.sh_ok("cat /proc/mounts")
        step("emptyDir is dm-crypt", any(m.startswith("/dev/mapper/") and f" {EMPTYDIR} " in m
                                         for m in mnt.splitlines()), mnt)

        # ExecProcess: the allowed argv runs, any other is denied
        proc = pb.oci.Process(Args=["/bin/cat", "/etc/hostname"], Env=["PATH=/bin"], Cwd="/")
        ok(c.agent("ExecProcess", pb.agent.ExecProcessRequest(container_id=APP, exec_id="e1",
                                                              process=proc)), "ExecProcess")
        out = b""
        while True:
            d = c.agent("ReadStdout", pb.agent.ReadStreamRequest(
                container_id=APP, exec_id="e1", len=4096)).decode(pb.agent.ReadStreamResponse).data
            if not d:
                break
            out += d
        w = c.agent("WaitProcess", pb.agent.WaitProcessRequest(container_id=APP, exec_id="e1"))
        step("exec output and status", out == f"{HOSTNAME}\n".encode() and
             w.decode(pb.agent.WaitProcessResponse).status == 0, (out, w))
        proc = pb.oci.Process(Args=["/bin/sh"], Env=["PATH=/bin"], Cwd="/")
        r = c.agent("ExecProcess", pb.agent.ExecProcessRequest(container_id=APP, exec_id="e2",
                                                               process=proc))
        step("ExecProcess outside allowed_exec denied", r.code == 7 and "allowed_exec" in
             r.message, r)

        # SignalProcess(SIGTERM) -> streams to EOF -> WaitProcess
        ok(c.agent("SignalProcess", pb.agent.SignalProcessRequest(container_id=APP, exec_id="",
                                                                  signal=15)), "SignalProcess")
        for method in ("ReadStdout", "ReadStderr"):
            for _ in range(100):
                d = c.agent(method, pb.agent.ReadStreamRequest(
                    container_id=APP, exec_id=APP, len=4096), timeout=60)
                if not d.decode(pb.agent.ReadStreamResponse).data:
                    break
            else:
                raise AssertionError(f"{method}: no EOF")
        w = c.agent("WaitProcess", pb.agent.WaitProcessRequest(container_id=APP, exec_id=APP),
                    timeout=60)
        status = w.decode(pb.agent.WaitProcessResponse).status
        step("WaitProcess after SIGTERM", status in (128 + 15, 128 + 9), status)
        ok(c.agent("RemoveContainer", pb.agent.RemoveContainerRequest(container_id=APP)),
           "RemoveContainer app")
        # A secret the KBS does not hold: CreateContainer fails naming the secret and the stage,
        # and nothing of the container is left (no process, rootfs, secrets directory).
        sp, _ = app_spec(["/bin/true"])
        root2 = f"/run/kata-containers/{APP2}/rootfs"
        sp.Root.Path = root2
        req = pb.agent.CreateContainerRequest(container_id=APP2, exec_id=APP2, OCI=sp)
        req.storages.add(driver="image_guest_pull", source=IMAGE2, mount_point=root2)
        r = c.agent("CreateContainer", req, timeout=300)
        step("a secret the KBS refuses fails CreateContainer",
             not r.ok and "secret missing" in r.message and "attest.resource" in r.message, r)
        left = g.sh_ok(f"ls /run/sealpod/secrets; grep -c {APP2} /proc/mounts || true")
        step("nothing left of the refused container", APP2 not in left.split()[:-1] and
             left.split()[-1] == "0", left)
        r = c.agent("WaitProcess", pb.agent.WaitProcessRequest(container_id=APP2, exec_id=APP2))
        step("the refused container does not exist", r.code == 5, r)
        ok(c.agent("RemoveStaleVirtiofsShareMounts",
                   pb.agent.RemoveStaleVirtiofsShareMountsRequest()),
           "RemoveStaleVirtiofsShareMounts")
        step("GetOOMEvent still parked: no container was OOM-killed", oom not in c.pending,
             c.pending.get(oom))
        con = g.console()
        ms = milestones(con)
        ok(c.agent("DestroySandbox", pb.agent.DestroySandboxRequest()), "DestroySandbox")
        c.close()
        try:
            g.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            raise AssertionError("the guest did not power off" + g.context())
        step("guest powered off", "powering off" in g.console(), g.console_tail())
        con = g.console()
        # From the host, after power-off: no plaintext in either backing file, and they were used
        for path, what in ((st.pod_disk, "pod disk"), (st.ed_disk, "emptyDir disk")):
            used = nonzero_mib(path)
            step(f"{what} written ({used} MiB touched)", used >= 4, used)
            for plain in (LAYER_PLAIN, UPPER_PLAIN.encode(), EMPTYDIR_PLAIN.encode(), SECRET):
                step(f"{what}: no plaintext {plain[:24]!r}", not file_has(path, plain), path)
        step("no registry password or KBS secret on the console",
             st.R.PASSWORD not in con and SECRET.decode() not in con, "secret on console")
        step("the app's secret wiped when it was removed",
             f"secrets: container {APP}: 1 secret removed" in con, g.console_tail(30))
        print(f"ok pod: {len(results)} checks; pause create (attestation) {pause_s:.1f} s, "
              f"app create (pull) {pull_s:.1f} s with {checks} Checks answered meanwhile "
              f"(slowest {worst * 1000:.0f} ms)")
        print("timeline (guest clock): " + format_milestones(ms))
        for t, text in timeline(con):
            print(f"  [{t:9.3f}] {text[:150]}")
        return 0
    except Exception as e:  # noqa: BLE001
        traceback.print_exc()
        print(f"not ok pod: {e}" + (g.context(60) if g.proc else ""))
        print("passed so far: " + ", ".join(results))
        try:
            print("KBS log: " + json.dumps(st.kbs.events())[-3000:])
        except Exception:  # noqa: BLE001
            pass
        return 1
    finally:
        g.close()
        st.stop()


# --- the production image: same initdata and KBS, standalone, judged from the outside ---------
def scenario_prod(work):
    sys.path.insert(0, HERE)
    import harness
    st = Stack(work, test=False)
    g = harness.Guest(test=False, name="e2e-prod", ready_timeout=90, cmdline=st.cmdline,
                      extra=st.run_qemu_args(kata=False))
    try:
        g.start()
        end = time.monotonic() + 240
        want = ("attest: resource kbs:///default/credential/registry",
                "storage: /run/sealpod/storage ready")
        while time.monotonic() < end and not all(w in g.console() for w in want):
            if not g.alive() or "FATAL" in g.console():
                break
            time.sleep(0.5)
        con = g.console()
        for w in want:
            assert w in con, f"no '{w}' on the console" + g.context(40)
        assert "test overlay" not in con and "FATAL" not in con, g.context(40)
        assert "with tpm evidence" in con, g.context(40)
        ev = st.kbs.events("attest")
        assert ev and ev[0]["result"] == "ok" and ev[0]["claims"]["pcr9"] == st.refv["pcr9"], ev
        res = st.kbs.events("resource")
        assert res and res[0]["result"] == "released", res
        assert st.R.PASSWORD not in con
        print("ok prod: production image attested over https with TPM evidence, registry "
              "credentials released, encrypted pod storage ready")
        print("timeline (guest clock): " + format_milestones(milestones(con)))
        return 0
    except Exception as e:  # noqa: BLE001
        traceback.print_exc()
        print(f"not ok prod: {e}")
        return 1
    finally:
        g.close()
        st.stop()


def _inner(which):
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    links = subprocess.run(["ip", "-o", "link"], stdout=subprocess.PIPE).stdout.decode()
    if len(links.splitlines()) != 1:
        sys.exit("refusing to run outside a fresh network namespace (use unshare -n)")
    work = tempfile.mkdtemp(prefix=f"sealpod-e2e-{which}-")
    try:
        return {"pod": scenario_pod, "prod": scenario_prod}[which](work)
    finally:
        if not os.environ.get("SEALPOD_KEEP"):
            shutil.rmtree(work, ignore_errors=True)


def _outer(which, timeout=1500):
    p = subprocess.run(["unshare", "-n", PY, os.path.abspath(__file__), which], cwd=TOP,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout)
    out = p.stdout.decode(errors="replace")
    if p.returncode != 0:
        raise AssertionError(out[-6000:])
    return "\n".join(ln for ln in out.splitlines() if ln.startswith(("ok ", "timeline", "  [")))


def test_e2e_pod_like_kata():
    """The Go shim's sequence against the test image: attested before the first container,
    policy denials, shared_fs=none CopyFile, guest pull with KBS-held registry credentials onto
    the encrypted pod disk, an ephemeral-key emptyDir, exec, SIGTERM, teardown, power-off;
    no plaintext in any backing file."""
    return _outer("pod")


def test_e2e_production_image():
    """build/initramfs.img unchanged with the same initdata, KBS and disks: attests at boot in
    standalone mode (sealpod.ip), gets the registry credentials, formats the pod disk."""
    return _outer("prod")


# --- `make run` ---------------------------------------------------------------------------------
DEMO = os.path.join(TOP, "scripts", "demo")


def _leftovers(work):
    """Processes that still name the demo's work directory (QEMU, swtpm, registry, KBS)."""
    out = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
    return [ln for ln in out.splitlines() if work in ln and "ps -eo" not in ln]


def test_make_run_demo():
    """scripts/demo (what `make run` runs after building): the pod's output, where each piece
    listens, the boot timeline, the guest powered off, nothing left running or on disk."""
    p = subprocess.run([DEMO], cwd=TOP, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=900)
    out = p.stdout.decode(errors="replace")
    assert p.returncode == 0, out[-4000:]
    for want in ("registry   https://127.0.0.1:", "KBS        https://127.0.0.1:", "swtpm      ",
                 "agent      ", "| Hello from a confidential pod.",
                 "|   container hostname: demo-pod", "exit status 0",
                 "|   49 bytes, mode 400, sha256 ", "sealpod: secrets: container demo-app: "
                 "greeting at /run/secrets/greeting (mode 0400)",
                 "guest      powered off after DestroySandbox", "sealpod: attest: done in",
                 "sealpod: runtime: container demo-app started", "KBS log: attestation ok",
                 "refused, exit 71: sealpod-ctl: ExecProcess: PERMISSION_DENIED",
                 "refused, exit 71: sealpod-ctl: CreateContainer: PERMISSION_DENIED: "
                 "pin_process_to_image: args",
                 "pod start: control port ready",
                 "demo: everything stopped"):
        assert want in out, f"no {want!r} in the demo's output:\n{out[-4000:]}"
    assert "does not pin the process" not in out, out[-4000:]  # the demo's policy pins it
    work = re.search(r"console    (/\S+)/console\.log", out).group(1)
    assert not os.path.exists(work), work
    assert not _leftovers(work), _leftovers(work)
    tl = {m.group(2): float(m.group(1)) for m in re.finditer(
        r"\[\s*(\d+\.\d+)\] sealpod: (ready|attest: done|storage: \S+ ready|"
        r"sandbox: created|runtime: container demo-app started)", out)}
    # The pod starts as soon as the guest is ready: the first sealpod-ctl connection is
    # answered at once (the relay once waited 10 s for the absent test-shell port).
    gap = tl["sandbox: created"] - tl["ready"]
    assert gap <= 3.0, f"CreateSandbox done {gap:.1f} s after ready (guest clock)\n" + out[-3000:]
    return "guest clock: " + ", ".join(f"{k} {v:.2f} s" for k, v in tl.items())


def test_make_run_demo_interrupted():
    """SIGTERM to the demo while the guest boots: everything it started stops, its files go."""
    p = subprocess.Popen([DEMO], cwd=TOP, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out, work = b"", None
    end = time.monotonic() + 300
    try:
        while time.monotonic() < end:
            line = p.stdout.readline()
            if not line:
                break
            out += line
            m = re.match(rb"console    (/\S+)/console\.log", line)
            if m:
                work = m.group(1).decode()
                break
        assert work, out.decode(errors="replace")[-3000:]
        time.sleep(3)
        assert _leftovers(work), "nothing was running"
        p.send_signal(15)
        rest, _ = p.communicate(timeout=120)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    text = (out + rest).decode(errors="replace")
    assert p.returncode == 130, (p.returncode, text[-3000:])
    assert "demo: interrupted" in text and "demo: everything stopped" in text, text[-3000:]
    time.sleep(1)
    assert not _leftovers(work), _leftovers(work)
    assert not os.path.exists(work), work


if __name__ == "__main__":
    sys.exit(_inner(sys.argv[1]))
