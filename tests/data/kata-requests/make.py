#!/usr/bin/python3
"""Writes the Kata request fixtures of tests/data/kata-requests/: for each scenario and each Kata
shim (the Go runtime, `go`, and runtime-rs, `runtime-rs`), the agent calls that shim makes for a
stock Kubernetes pod, in order, as protobuf JSON of the request messages with ${NAME}
placeholders. The format is described in README.md; the facts behind every field, with the
source files they were read from, in SHAPES.md.

The shapes are written here once, as Python, so that what both shims share is stated once and
what differs is a visible `if go:`. Re-run after changing this file and commit its output:

    /usr/bin/python3 tests/data/kata-requests/make.py [OUTDIR]

tests/integration/test_kata_requests.py fails when the committed JSON is not what this writes.
"""
import base64
import gzip
import hashlib
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
FORMAT = 1
SHIMS = ("go", "runtime-rs")
KATA = ("kata-containers 7c6ba40c54ea29b459b4997cff948caaba4e658b (main, 2026-08-22, after "
        "4.1.0); containerd 2.x CRI as its sources read in SHAPES.md")

SHARED = "/run/kata-containers/shared/containers"
SANDBOX_DIR = "/run/kata-containers/sandbox"
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# Go's os.FileMode(0750)|os.ModeDir as the Go shim puts it in CopyFileRequest.dir_mode: the mode
# bits plus Go's own directory flag (bit 31), not S_IFDIR.
GO_DIR_MODE = (1 << 31) | 0o750
RS_DIR_MODE = 0o40000 | 0o750  # runtime-rs: S_IFDIR | 0750, on the top directory of a copy
DEFAULT_CAPS = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
                "CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
                "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"]
MASKED = ["/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
          "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
          "/sys/firmware", "/sys/devices/virtual/powercap"]
READONLY = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
NETNS = "/var/run/netns/cni-5f3c2a1b-7d4e-4c9a-8b6f-0e2d1c3b4a59"


def _id(name):
    return hashlib.sha256(b"sealpod-kata-requests:" + name.encode()).hexdigest()


def _initdata():
    toml = b'version = "0.1.0"\nalgorithm = "sha256"\n[data]\n'
    return base64.b64encode(gzip.compress(toml, mtime=0)).decode()


# Every placeholder a fixture may use, with the value it has when a test gives none. A fixture
# records the subset it uses (its "defaults"); README.md says what each one is.
DEFAULTS = {
    "SANDBOX_ID": _id("sandbox"), "CID": _id("app"), "CID2": _id("app2"),
    "EXEC_ID": _id("exec-1"), "EXEC_ID2": _id("exec-2"),
    "POD_NAME": "shapes", "POD_NAMESPACE": "default",
    "POD_UID": "0b7e4c2a-5d1f-4e83-9a6c-2f8d1b3e7a90", "HOSTNAME": "shapes",
    "PAUSE_IMAGE": "registry.example/pause:3.10", "IMAGE": "registry.example/shapes/app:1.0",
    "OCI_VERSION": "1.2.1", "INITDATA": _initdata(), "SHM_SIZE": 67108864,
    "MAC": "52:54:00:12:34:56", "IP": "10.0.2.15", "PREFIX": "24",
    "IP6_LL": "fe80::5054:ff:fe12:3456", "GATEWAY": "10.0.2.2", "MTU": 1500,
    "NAMESERVER": "10.96.0.10", "SEARCH": "default.svc.cluster.local svc.cluster.local "
    "cluster.local",
    "APP_ARGS": ["/bin/sh", "-c", "echo up; exec sleep 3600"],
    "APP2_ARGS": ["/bin/sh", "-c", "echo up; exec sleep 3600"],
    "PROBE_ARGS": ["/bin/cat", "/etc/hostname"],
    "RUN_AS_USER": 1000, "FS_GROUP": 2000, "NONROOT_UID": 101,
    "EMPTYDIR_PCI": "02/00",
    "CONFIGMAP_TS": "..2026_08_01_12_00_00.1234567890",
    "SECRET_TS": "..2026_08_01_12_00_00.0987654321",
    "SA_TS": "..2026_08_01_12_00_00.5555555555",
    "CONFIG_TEXT": "greeting=hello\n", "SECRET_USERNAME": "shapes",
    "SECRET_PASSWORD": "not-a-real-password",
    "SA_CA_CRT": "test CA certificate\n", "SA_TOKEN": "test.service-account.token",
    "MEM_LIMIT": 134217728, "MEM_LIMIT_NEW": 268435456,
    "CPU_SHARES": 256, "CPU_SHARES_NEW": 512, "CPU_QUOTA": 50000, "CPU_QUOTA_NEW": 100000,
}


# The Go shim names an exec with a UUID of its own; runtime-rs passes containerd's exec id.
GO_DEFAULTS = {"EXEC_ID": "3f2a6c1e-8b4d-4e7a-9c15-2d6b0f8e4a71",
               "EXEC_ID2": "9b0d5e27-4c61-4f3a-8e2d-7a1c6b5f0e93"}


def ph(name):
    return "${" + name + "}"


def rootfs(cid):
    # Both shims, every release with image_guest_pull storage (SHAPES.md, "Root.Path").
    return f"/run/kata-containers/{ph(cid)}/rootfs"


def copy_name(shim, cid, dest):
    """<cid>-<16 hex>-<basename of the mount destination>: the guest path both shims give a
    file or directory they copy (the hex is random per run; fixed here)."""
    h = hashlib.sha256(f"{shim}:{cid}:{dest}".encode()).hexdigest()[:16]
    return f"{SHARED}/{ph(cid)}-{h}-{os.path.basename(dest)}"


class Pod:
    """One scenario for one shim: the calls, and the placeholders they use."""

    def __init__(self, scenario, shim, summary, pod, config_notes=None):
        self.go = shim == "go"
        self.shim = shim
        self.doc = {"format": FORMAT, "scenario": scenario, "shim": shim, "source": KATA,
                    "summary": summary, "pod": pod, "config": config(shim, config_notes)}
        self.calls = []
        self.periodic = []
        self.conditional = []

    def call(self, method, message, request, mode="call", service="grpc.AgentService",
             **extra):
        c = {"method": method, "message": message, "request": request}
        if service != "grpc.AgentService":
            c = {"service": service, **c}
        if mode != "call":
            c["mode"] = mode
        for k, v in extra.items():
            if v is not None:
                c[k] = v
        self.calls.append(c)
        return c

    def finish(self):
        self.doc["periodic"] = self.periodic
        self.doc["conditional"] = self.conditional
        self.doc["calls"] = [dict(step=i + 1, **c) for i, c in enumerate(self.calls)]
        used = sorted(n for n in DEFAULTS if ph(n) in json.dumps(self.doc) or
                      "${b64url:" + n + "}" in json.dumps(self.doc))
        defaults = dict(DEFAULTS, **(GO_DEFAULTS if self.go else {}))
        self.doc["defaults"] = {n: defaults[n] for n in used}
        return self.doc


def config(shim, notes):
    c = {
        "configuration": ("configuration-qemu-*-sealpod.toml (Go shim)" if shim == "go" else
                          "configuration-qemu-*-runtime-rs-sealpod.toml (runtime-rs)"),
        "shared_fs": "none", "static_sandbox_resource_mgmt": True,
        "emptydir_mode": "block-encrypted", "disable_guest_seccomp": False,
        "disable_guest_selinux": True,
        "guest_pull": ("experimental_force_guest_pull = true" if shim == "go" else
                       'experimental = ["force_guest_pull"]'),
        "containerd": {
            "pod_annotations": ["io.katacontainers.*"],
            "container_annotations": ["io.kubernetes.container.terminationMessage*"],
            "enable_unprivileged_ports": True, "enable_unprivileged_icmp": True,
            "cgroup_driver": "cgroupfs, cgroup v2 host"},
    }
    if notes:
        c.update(notes)
    return c


# --- the OCI spec both shims pass through from containerd, and what each changes ------------
def default_mounts(sandbox):
    m = [{"destination": "/proc", "source": "proc", "type": "proc",
          "options": ["nosuid", "noexec", "nodev"]},
         {"destination": "/dev", "source": "tmpfs", "type": "tmpfs",
          "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
         {"destination": "/dev/pts", "source": "devpts", "type": "devpts",
          "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
         {"destination": "/dev/mqueue", "source": "mqueue", "type": "mqueue",
          "options": ["nosuid", "noexec", "nodev"]},
         {"destination": "/sys", "source": "sysfs", "type": "sysfs",
          "options": ["nosuid", "noexec", "nodev", "ro"]}]
    if not sandbox:  # containerd's CRI adds it to containers, not to the sandbox
        m.append({"destination": "/sys/fs/cgroup", "source": "cgroup", "type": "cgroup",
                  "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]})
    return m


SHM_MOUNT = {"destination": "/dev/shm", "source": f"{SANDBOX_DIR}/shm", "type": "bind",
             "options": ["rbind"]}


def caps(default=True):
    return {"Bounding": DEFAULT_CAPS, "Effective": DEFAULT_CAPS,
            "Permitted": DEFAULT_CAPS} if default else {}


def sandbox_annotations(p, cpu_shares="2"):
    a = {"io.kubernetes.cri.container-type": "sandbox",
         "io.kubernetes.cri.sandbox-id": ph("SANDBOX_ID"),
         "io.kubernetes.cri.sandbox-name": ph("POD_NAME"),
         "io.kubernetes.cri.sandbox-namespace": ph("POD_NAMESPACE"),
         "io.kubernetes.cri.sandbox-uid": ph("POD_UID"),
         "io.kubernetes.cri.sandbox-log-directory":
             f"/var/log/pods/{ph('POD_NAMESPACE')}_{ph('POD_NAME')}_{ph('POD_UID')}",
         "io.kubernetes.cri.podsandbox.image-name": ph("PAUSE_IMAGE"),
         "io.kubernetes.cri.sandbox-cpu-period": "100000",
         "io.kubernetes.cri.sandbox-cpu-quota": "0",
         "io.kubernetes.cri.sandbox-cpu-shares": cpu_shares,
         "io.kubernetes.cri.sandbox-memory": "0",
         "io.katacontainers.pkg.oci.bundle_path":
             f"/run/containerd/io.containerd.runtime.v2.task/k8s.io/{ph('SANDBOX_ID')}",
         "io.katacontainers.pkg.oci.container_type": "pod_sandbox",
         "nerdctl/network-namespace": NETNS}
    if p.go:  # runtime-rs removes it from every spec it sends (SHAPES.md, annotations)
        a["io.katacontainers.config.hypervisor.cc_init_data"] = ph("INITDATA")
    return a


def container_annotations(p, cid, name):
    a = {"io.kubernetes.cri.container-type": "container",
         "io.kubernetes.cri.container-name": name,
         "io.kubernetes.cri.image-name": ph("IMAGE"),
         "io.kubernetes.cri.sandbox-id": ph("SANDBOX_ID"),
         "io.kubernetes.cri.sandbox-name": ph("POD_NAME"),
         "io.kubernetes.cri.sandbox-namespace": ph("POD_NAMESPACE"),
         "io.kubernetes.cri.sandbox-uid": ph("POD_UID"),
         "io.kubernetes.container.terminationMessagePath": "/dev/termination-log",
         "io.kubernetes.container.terminationMessagePolicy": "File",
         "io.katacontainers.pkg.oci.bundle_path":
             f"/run/containerd/io.containerd.runtime.v2.task/k8s.io/{ph(cid)}",
         "io.katacontainers.pkg.oci.container_type": "pod_container"}
    if p.go:
        a["io.katacontainers.config.hypervisor.cc_init_data"] = ph("INITDATA")
    return a


def guest_pull_storage(cid, source, annotations):
    meta = json.dumps({"metadata": annotations}, sort_keys=True, separators=(",", ":"))
    return {"driver": "image_guest_pull", "driverOptions": ["image_guest_pull=" + meta],
            "source": source, "fstype": "overlay", "mountPoint": rootfs(cid)}


def namespaces(p, sandbox):
    ns = [{"Type": "ipc"}, {"Type": "uts"}, {"Type": "mount"}]
    if not p.go and not sandbox:
        # containerd gives containers a cgroup namespace on a cgroup v2 host; the Go shim drops
        # it (constrainGRPCSpec), runtime-rs keeps it with its path cleared (amend_spec).
        ns.append({"Type": "cgroup"})
    return ns


def pause_request(p, user=None, sysctls=True, qos="besteffort"):
    ann = sandbox_annotations(p)
    linux = {"Resources": {"CPU": {"Shares": "2"}},
             "CgroupsPath": f"/kubepods/{qos}/pod{ph('POD_UID')}/{ph('SANDBOX_ID')}",
             "Namespaces": namespaces(p, True), "MaskedPaths": MASKED,
             "ReadonlyPaths": READONLY}
    if sysctls:
        linux["Sysctl"] = {"net.ipv4.ip_unprivileged_port_start": "0",
                           "net.ipv4.ping_group_range": "0 2147483647"}
    spec = {"Version": ph("OCI_VERSION"),
            "Process": {"User": user or {"UID": 65535, "GID": 65535, "AdditionalGids": [65535]},
                        "Args": ["/pause"], "Env": [PATH_ENV], "Cwd": "/",
                        "Capabilities": caps(), "NoNewPrivileges": True, "OOMScoreAdj": "-998"},
            "Root": {"Path": rootfs("SANDBOX_ID"), "Readonly": True},
            "Hostname": ph("HOSTNAME"),
            "Mounts": default_mounts(True) + [
                SHM_MOUNT,
                {"destination": "/etc/resolv.conf", "source": None, "type": "bind",
                 "options": ["rbind", "ro", "nosuid", "nodev", "noexec"]}],
            "Annotations": ann, "Linux": linux}
    req = {"containerId": ph("SANDBOX_ID"), "execId": ph("SANDBOX_ID") if p.go else "",
           "storages": [guest_pull_storage("SANDBOX_ID", "pause", ann)], "OCI": spec}
    return req


def app_request(p, cid, name, args, volume_mounts=(), storages=(), user=None, cap_default=True,
                no_new_privs=False, resources=None, qos="besteffort", oom="1000",
                service_account=False):
    ann = container_annotations(p, cid, name)
    mounts = default_mounts(False) + list(volume_mounts)
    for dest in ("/etc/hosts", "/dev/termination-log", "/etc/hostname", "/etc/resolv.conf"):
        mounts.append({"destination": dest, "source": None, "type": "bind",
                       "options": ["rbind", "rprivate", "rw"]})
    mounts.append(SHM_MOUNT)
    if service_account:
        mounts.append({"destination": "/var/run/secrets/kubernetes.io/serviceaccount",
                       "source": None, "type": "bind", "options": ["rbind", "rprivate", "ro"]})
    proc = {"User": user or {"UID": 0, "GID": 0, "AdditionalGids": [0]},
            "Args": [ph(args)],
            "Env": [PATH_ENV, f"HOSTNAME={ph('HOSTNAME')}", "KUBERNETES_SERVICE_HOST=10.96.0.1",
                    "KUBERNETES_SERVICE_PORT=443"],
            "Cwd": "/", "Capabilities": caps(cap_default),
            "ApparmorProfile": "cri-containerd.apparmor.d", "OOMScoreAdj": oom}
    if no_new_privs:
        proc["NoNewPrivileges"] = True
    res = resources or {"CPU": {"Shares": "2", "Period": "100000"}, "Memory": {}}
    spec = {"Version": ph("OCI_VERSION"), "Process": proc, "Root": {"Path": rootfs(cid)},
            "Hostname": ph("HOSTNAME"), "Mounts": mounts, "Annotations": ann,
            "Linux": {"Resources": res,
                      "CgroupsPath": f"/kubepods/{qos}/pod{ph('POD_UID')}/{ph(cid)}",
                      "Namespaces": namespaces(p, False), "MaskedPaths": MASKED,
                      "ReadonlyPaths": READONLY}}
    sts = [guest_pull_storage(cid, ph("IMAGE"), ann)] + list(storages)
    return {"containerId": ph(cid), "execId": ph(cid) if p.go else "", "storages": sts,
            "OCI": spec}


# --- CopyFile, the way each shim sends it with shared_fs=none ------------------------------
def copy_file(p, path, text, mode=0o100644, uid=0, gid=0, note=None):
    """One regular file. Go: 1 MiB chunks at increasing offsets (one here); runtime-rs: the
    whole file in one request, no dir_mode."""
    req = {"path": path, "fileMode": mode}
    if uid:
        req["uid"] = uid
    if gid:
        req["gid"] = gid
    if p.go:
        req["dirMode"] = GO_DIR_MODE
    return p.call("CopyFile", "grpc.CopyFileRequest", req, bytes={"data": text},
                  size_of={"fileSize": "data"}, note=note)


def copy_dir(p, path, mode, top, note=None):
    req = {"path": path, "fileMode": 0o40000 | mode}
    if p.go:
        req["dirMode"] = GO_DIR_MODE
    else:
        req["dirMode"] = RS_DIR_MODE if top else 0o40000 | mode
    return p.call("CopyFile", "grpc.CopyFileRequest", req, note=note)


def copy_link(p, path, target, note=None):
    if p.go:  # lstat's mode (0777 on Linux), the target as data, file_size 0
        return p.call("CopyFile", "grpc.CopyFileRequest",
                      {"path": path, "fileMode": 0o120777, "dirMode": GO_DIR_MODE},
                      bytes={"data": target}, note=note)
    return p.call("CopyFile", "grpc.CopyFileRequest", {"path": path, "fileMode": 0o120000},
                  bytes={"data": target}, size_of={"fileSize": "data"}, note=note)


def copy_atomic_volume(p, guest, ts, files, sync=False):
    """A configMap/secret/projected volume as kubelet's atomic writer leaves it:
    <dir>/<ts>/<key> files, <dir>/..data -> <ts>, <dir>/<key> -> ..data/<key>.
    Go walks it depth first in lexical order; runtime-rs breadth first in readdir order (the
    order below is one such order), and `sync` is runtime-rs's second full copy."""
    keys = [k for k, _ in files]
    if p.go:
        copy_dir(p, guest, 0o777, True)
        copy_dir(p, f"{guest}/{ph(ts)}", 0o755, False)
        for k, text in files:
            copy_file(p, f"{guest}/{ph(ts)}/{k}", text)
        copy_link(p, f"{guest}/..data", ph(ts))
        for k in keys:
            copy_link(p, f"{guest}/{k}", f"..data/{k}")
        return
    note = ("runtime-rs's initial sync: the volume watcher it starts right after the first "
            "copy copies every entry again, concurrently with the calls that follow (they may "
            "interleave with them, CreateContainer included)" if sync else None)
    if not sync:
        copy_dir(p, guest, 0o777, True)
    copy_link(p, f"{guest}/..data", ph(ts), note=note)
    for k in keys:
        copy_link(p, f"{guest}/{k}", f"..data/{k}")
    copy_dir(p, f"{guest}/{ph(ts)}", 0o755, False)
    for k, text in files:
        copy_file(p, f"{guest}/{ph(ts)}/{k}", text)
    if sync:
        for c in p.calls[-(2 * len(keys) + 2):]:
            c["mode"] = "concurrent"


def kubelet_files(p, cid, service_account):
    """What kubelet and containerd bind into every container, copied in the spec's mount order.
    Returns {destination: guest path}."""
    g = {}
    g["/etc/hosts"] = copy_name(p.shim, cid, "/etc/hosts")
    copy_file(p, g["/etc/hosts"], f"127.0.0.1 localhost\n{ph('IP')} {ph('HOSTNAME')}\n")
    g["/dev/termination-log"] = copy_name(p.shim, cid, "/dev/termination-log")
    copy_file(p, g["/dev/termination-log"], "", mode=0o100666,
              note="an empty file: one request without data")
    g["/etc/hostname"] = copy_name(p.shim, cid, "/etc/hostname")
    copy_file(p, g["/etc/hostname"], f"{ph('HOSTNAME')}\n")
    g["/etc/resolv.conf"] = copy_name(p.shim, cid, "/etc/resolv.conf")
    copy_file(p, g["/etc/resolv.conf"], resolv_text())
    if service_account:
        dest = "/var/run/secrets/kubernetes.io/serviceaccount"
        g[dest] = copy_name(p.shim, cid, dest)
        copy_atomic_volume(p, g[dest], "SA_TS", sa_files())
        if not p.go:
            copy_atomic_volume(p, g[dest], "SA_TS", sa_files(), sync=True)
    return g


def sa_files():
    return [("ca.crt", ph("SA_CA_CRT")), ("namespace", ph("POD_NAMESPACE")),
            ("token", ph("SA_TOKEN"))]


def resolv_text():
    return f"search {ph('SEARCH')}\nnameserver {ph('NAMESERVER')}\noptions ndots:5\n"


def fill_sources(req, guest):
    for m in req["OCI"]["Mounts"]:
        if m["source"] is None:
            m["source"] = guest[m["destination"]]


# --- the phases every pod goes through -----------------------------------------------------
def setup(p, neighbour=False):
    go = p.go
    if go:
        p.call("Check", "grpc.CheckRequest", {}, service="grpc.Health",
               note="the Go shim's first call; runtime-rs sends none before UpdateInterface")
    iface = {"device": "eth0", "name": "eth0",
             "IPAddresses": [{"address": ph("IP"), "mask": ph("PREFIX")},
                             {"family": "v6", "address": ph("IP6_LL"), "mask": "64"}],
             "mtu": ph("MTU"), "hwAddr": ph("MAC"), "type": "virtual" if go else "veth"}
    p.call("UpdateInterface", "grpc.UpdateInterfaceRequest", {"interface": iface},
           on_error="retried while the error says 'Link not found' (Go: 20 x 20 ms; "
           "runtime-rs: 10 x 100 ms on any error)",
           expect="OK with the interface as configured")
    routes = {"routes": {"Routes": [{"gateway": ph("GATEWAY"), "device": "eth0"}]}}
    neigh = {"neighbors": {"ARPNeighbors": [
        {"toIPAddress": {"address": ph("GATEWAY")}, "device": "eth0",
         "lladdr": "ee:ee:ee:ee:ee:ee", "state": 128}]}}
    why = ("only when the pod network namespace holds such neighbours (CNIs such as Calico "
           "and Cilium install a permanent gateway entry); Go also sends reachable entries "
           "of a default gateway, runtime-rs only NUD_PERMANENT (128) ones")
    if go:
        p.call("UpdateRoutes", "grpc.UpdateRoutesRequest", routes,
               note="kernel-protocol routes (the subnet route of an address) are not sent")
        if neighbour:
            p.call("AddARPNeighbors", "grpc.AddARPNeighborsRequest", neigh, optional=why,
                   on_error="UNIMPLEMENTED is tolerated (old agent), anything else is fatal")
    else:
        if neighbour:
            p.call("AddARPNeighbors", "grpc.AddARPNeighborsRequest", neigh, optional=why)
        p.call("UpdateRoutes", "grpc.UpdateRoutesRequest", routes,
               note="sent only when there is a route; kernel-protocol routes are not sent")
    dns = [f"search {ph('SEARCH')}", f"nameserver {ph('NAMESERVER')}", "options ndots:5", ""]
    p.call("CreateSandbox", "grpc.CreateSandboxRequest",
           {"hostname": ph("HOSTNAME"), "dns": dns,
            "storages": [{"driver": "ephemeral", "source": "shm", "fstype": "tmpfs",
                          "options": ["noexec", "nosuid", "nodev", "mode=1777",
                                      "size=" + ph("SHM_SIZE")],
                          "mountPoint": f"{SANDBOX_DIR}/shm"}],
            "sandboxId": ph("SANDBOX_ID")},
           note="dns is the pod's resolv.conf split at every newline, so it ends with an "
           "empty line; the shm storage is the only sandbox storage with shared_fs=none")
    p.call("GetGuestDetails", "grpc.GuestDetailsRequest",
           {"memBlockSize": True, "memHotplugProbe": True},
           expect="memBlockSizeBytes, supportMemHotplugProbe and agentDetails.supportsSeccomp "
           "are read (Go refuses later CreateContainers that carry seccomp if "
           "supportsSeccomp is false)")
    if not go:
        p.call("GetOOMEvent", "grpc.GetOOMEventRequest", {}, mode="park",
               note="runtime-rs's OOM watcher starts here, before any container; it calls "
               "again after every answer")


def start_pause(p, **kw):
    req = pause_request(p, **kw)
    guest = {"/etc/resolv.conf": copy_name(p.shim, "SANDBOX_ID", "/etc/resolv.conf")}
    copy_file(p, guest["/etc/resolv.conf"], resolv_text(),
              note="the pause container's only copied file")
    fill_sources(req, guest)
    p.call("CreateContainer", "grpc.CreateContainerRequest", req,
           note="the pause container: the guest's own pause image (source \"pause\")")
    p.call("StartContainer", "grpc.StartContainerRequest", {"containerId": ph("SANDBOX_ID")})
    if p.go:
        p.call("GetOOMEvent", "grpc.GetOOMEventRequest", {}, mode="park",
               note="the Go shim's OOM watcher starts once the sandbox runs; it calls again "
               "after every answer")
    p.call("WaitProcess", "grpc.WaitProcessRequest",
           {"containerId": ph("SANDBOX_ID"), "execId": ph("SANDBOX_ID") if p.go else ""},
           mode="park", note="containerd gives the pause task no stdio, so the wait starts "
           "at once; it is answered when the pause exits")


def start_app(p, cid, name, args, service_account=False, volumes=None, **kw):
    """volumes: function(p) -> (volume mounts, storages, {destination: guest path}) that also
    adds the calls (CopyFile) the volumes need before CreateContainer."""
    vm, sts, guest = volumes(p) if volumes else ([], [], {})
    guest.update(kubelet_files(p, cid, service_account))
    req = app_request(p, cid, name, args, volume_mounts=vm, storages=sts,
                      service_account=service_account, **kw)
    fill_sources(req, guest)
    p.call("CreateContainer", "grpc.CreateContainerRequest", req,
           note="the image is pulled in the guest; the shim waits up to "
           "create_container_timeout for the answer")
    p.call("StartContainer", "grpc.StartContainerRequest", {"containerId": ph(cid)})
    streams(p, cid, None)


def streams(p, cid, exec_id):
    eid = ph(exec_id) if exec_id else (ph(cid) if p.go else "")
    n = 32768 if p.go else 8192
    for m in ("ReadStdout", "ReadStderr"):
        p.call(m, "grpc.ReadStreamRequest", {"containerId": ph(cid), "execId": eid, "len": n},
               mode="stream", note="repeated until an answer with no data; stdout and stderr "
               "are read concurrently (len is the shim's copy buffer: Go 32 KiB, runtime-rs "
               "8 KiB)")
    p.call("WaitProcess", "grpc.WaitProcessRequest", {"containerId": ph(cid), "execId": eid},
           mode="after_eof", note="sent once both streams reached end of file")


def stop_app(p, cid):
    p.call("SignalProcess", "grpc.SignalProcessRequest", {"containerId": ph(cid), "signal": 15},
           note="kubelet's StopContainer; exec_id is empty for the container's init in both "
           "shims (the Go shim sets all=true for a task without exec id)")
    if p.go:
        p.call("SignalProcess", "grpc.SignalProcessRequest",
               {"containerId": ph(cid), "signal": 9},
               on_error="ignored (the process has already exited)",
               note="container.stop always kills before it removes")
        p.call("WaitProcess", "grpc.WaitProcessRequest",
               {"containerId": ph(cid), "execId": ph(cid)}, on_error="ignored")
    p.call("GetDiagnosticData", "grpc.GetDiagnosticDataRequest",
           {"logType": "termination_log", "containerId": ph(cid)}, on_error="ignored (logged)",
           note="shared_fs=none and the container's terminationMessagePolicy annotation is "
           "File: the shim copies the guest's termination log to kubelet's host file")
    p.call("RemoveContainer", "grpc.RemoveContainerRequest", {"containerId": ph(cid)},
           note="timeout 0; Kata hot-unplugs the container's block devices after the answer")
    if p.go:
        p.call("RemoveStaleVirtiofsShareMounts", "grpc.RemoveStaleVirtiofsShareMountsRequest",
               {}, note="after every container, with or without virtio-fs")


def stop_pod(p):
    sid = "SANDBOX_ID"
    p.call("SignalProcess", "grpc.SignalProcessRequest", {"containerId": ph(sid), "signal": 9},
           note="kubelet's StopPodSandbox; the parked WaitProcess of the pause answers")
    if p.go:
        p.call("SignalProcess", "grpc.SignalProcessRequest", {"containerId": ph(sid),
                                                              "signal": 9},
               on_error="ignored", note="Sandbox.Stop stops every container left")
        p.call("WaitProcess", "grpc.WaitProcessRequest",
               {"containerId": ph(sid), "execId": ph(sid)}, on_error="ignored")
        p.call("RemoveContainer", "grpc.RemoveContainerRequest", {"containerId": ph(sid)})
        p.call("RemoveStaleVirtiofsShareMounts", "grpc.RemoveStaleVirtiofsShareMountsRequest",
               {})
        p.call("DestroySandbox", "grpc.DestroySandboxRequest", {},
               note="then the Go shim stops QEMU; the parked GetOOMEvent ends with the "
               "connection")
    else:
        p.call("RemoveContainer", "grpc.RemoveContainerRequest", {"containerId": ph(sid)},
               optional="races with the VM being killed",
               note="runtime-rs never sends DestroySandbox: it kills QEMU (SIGKILL) right "
               "after")


def periodic(p, cids):
    if p.go:
        p.periodic.append({"service": "grpc.Health", "method": "Check",
                           "message": "grpc.CheckRequest", "request": {}, "every_s": 5,
                           "from": "the sandbox's start (the shim's monitor)"})
    else:
        p.periodic.append({"service": "grpc.Health", "method": "Check",
                           "message": "grpc.CheckRequest", "request": {}, "every_s": 30,
                           "from": "the sandbox's start (the health check)"})
        p.periodic.append({"service": "grpc.Health", "method": "Version",
                           "message": "grpc.CheckRequest", "request": {}, "every_s": 300,
                           "from": "every 10th health check"})
    for c in cids:
        p.periodic.append({"method": "StatsContainer", "message": "grpc.StatsContainerRequest",
                           "request": {"containerId": ph(c)},
                           "every_s": "containerd's metrics and kubelet's stats period",
                           "from": "the container's start"})
    p.conditional += [
        {"method": "SetPolicy", "when": "the pod has the annotation "
         "io.katacontainers.config.agent.policy (sent right after Check by Go, right after "
         "connecting by runtime-rs)"},
        {"method": "OnlineCPUMem", "when": "static_sandbox_resource_mgmt = false (on every "
         "container create/update/delete)"},
        {"method": "UpdateEphemeralMounts", "when": "Go only: memory hot-plug resizes memory "
         "emptyDirs (not with static_sandbox_resource_mgmt)"},
        {"method": "TtyWinResize", "when": "an exec or container with a terminal"},
        {"method": "WriteStdin / CloseStdin", "when": "a container or exec with stdin; "
         "runtime-rs closes stdin with an empty WriteStdin, never CloseStdin"},
    ]


POD_BASE = {"runtimeClassName": "kata-sealpod", "restartPolicy": "Never"}


# --- the scenarios ---------------------------------------------------------------------------
def plain_pod(shim):
    p = Pod("plain-pod", shim, "A stock pod: the pause container and one container, with the "
            "service account token, hosts, hostname, resolv.conf and termination log "
            "kubelet gives every container.",
            dict(POD_BASE, containers=[{"name": "app", "image": ph("IMAGE"),
                                        "command": ph("APP_ARGS")}]))
    setup(p, neighbour=True)
    start_pause(p)
    start_app(p, "CID", "app", "APP_ARGS", service_account=True)
    stop_app(p, "CID")
    stop_pod(p)
    periodic(p, ["CID"])
    return p.finish()


def nonroot_port80(shim):
    p = Pod("nonroot-port80", shim, "A non-root container without capabilities binding :80, "
            "which only works with containerd's default sysctl "
            "net.ipv4.ip_unprivileged_port_start=0 (containerd 2.x puts it, with "
            "net.ipv4.ping_group_range, on the pause container's spec only; both shims pass "
            "Linux.Sysctl through untouched).",
            dict(POD_BASE, automountServiceAccountToken=False,
                 securityContext={"runAsNonRoot": True, "runAsUser": ph("NONROOT_UID"),
                                  "runAsGroup": ph("NONROOT_UID")},
                 containers=[{"name": "web", "image": ph("IMAGE"), "command": ph("APP_ARGS"),
                              "ports": [{"containerPort": 80}],
                              "securityContext": {"allowPrivilegeEscalation": False,
                                                  "capabilities": {"drop": ["ALL"]}}}]))
    setup(p)
    uid = ph("NONROOT_UID")
    start_pause(p, user={"UID": uid, "GID": uid, "AdditionalGids": [uid]})
    start_app(p, "CID", "web", "APP_ARGS", user={"UID": uid, "GID": uid,
                                                  "AdditionalGids": [uid]},
              cap_default=False, no_new_privs=True)
    stop_app(p, "CID")
    stop_pod(p)
    periodic(p, ["CID"])
    return p.finish()


def emptydir_volumes(local):
    """/cache: a disk emptyDir; /scratch: a memory emptyDir. Both get the pod's fsGroup as the
    group of their host directory, which is what the shims forward."""
    def volumes(p):
        pci = ph("EMPTYDIR_PCI")
        scratch = {"driver": "ephemeral", "source": "tmpfs", "fstype": "tmpfs",
                   "options": ["fsgid=" + ph("FS_GROUP")],
                   "mountPoint": f"{SANDBOX_DIR}/ephemeral/scratch"}
        if local:
            lroot = (f"{SHARED}/{ph('SANDBOX_ID')}" if p.go else
                     f"{SHARED}/passthrough/{ph('SANDBOX_ID')}")
            cache = {"driver": "local", "source": "local", "fstype": "local",
                     "options": ["mode=0777", "fsgid=" + ph("FS_GROUP")],
                     "mountPoint": f"{lroot}/rootfs/local/cache"}
            cache_mount = {"destination": "/cache", "source": cache["mountPoint"],
                           "type": "local", "options": ["rbind", "rprivate", "rw"]}
        else:
            cache = {"driver": "blk", "driverOptions": ["encryption_key=ephemeral",
                                                       "create_filesystem"],
                     "source": pci, "fstype": "ext4",
                     "mountPoint": f"{SANDBOX_DIR}/storage/${{b64url:EMPTYDIR_PCI}}",
                     "fsGroup": {"groupId": ph("FS_GROUP")}, "shared": True}
            cache_mount = {"destination": "/cache", "source": cache["mountPoint"],
                           "type": "bind", "options": ["rbind", "rprivate", "rw"]}
        mounts = [cache_mount,
                  {"destination": "/scratch", "source": scratch["mountPoint"], "type": "bind",
                   "options": ["rbind", "rprivate", "rw"]}]
        # Go appends ephemeral, then local, then block storages; runtime-rs follows the mounts.
        if p.go:
            sts = [scratch, cache]
        else:
            sts = [cache, scratch]
        return mounts, sts, {}
    return volumes


def emptydir(shim, local=False):
    name = "emptydir-local" if local else "emptydir-fsgroup"
    summary = ("A pod with runAsUser and fsGroup writing to a disk emptyDir (/cache) and a "
               "memory emptyDir (/scratch). ")
    summary += ("Configuration variant emptydir_mode = \"shared-fs\" with shared_fs=none: "
                "the disk emptyDir becomes a guest-local directory (driver local)." if local
                else "With emptydir_mode = \"block-encrypted\" (what sealpod ships) the disk "
                "emptyDir is a Kata block device the guest encrypts and formats, with "
                "Storage.fs_group; the memory emptyDir is a tmpfs with an fsgid= option.")
    notes = {"emptydir_mode": "shared-fs"} if local else None
    p = Pod(name, shim, summary,
            dict(POD_BASE, automountServiceAccountToken=False,
                 securityContext={"runAsUser": ph("RUN_AS_USER"), "fsGroup": ph("FS_GROUP")},
                 containers=[{"name": "app", "image": ph("IMAGE"), "command": ph("APP_ARGS"),
                              "volumeMounts": [{"name": "cache", "mountPath": "/cache"},
                                               {"name": "scratch", "mountPath": "/scratch"}]}],
                 volumes=[{"name": "cache", "emptyDir": {}},
                          {"name": "scratch", "emptyDir": {"medium": "Memory"}}]),
            config_notes=notes)
    setup(p)
    user = {"UID": ph("RUN_AS_USER"), "GID": 0, "AdditionalGids": [0, ph("FS_GROUP")]}
    start_pause(p, user=user)
    start_app(p, "CID", "app", "APP_ARGS", user=user, volumes=emptydir_volumes(local))
    stop_app(p, "CID")
    stop_pod(p)
    periodic(p, ["CID"])
    return p.finish()


def shared_shm(shim):
    p = Pod("shared-shm", shim, "Two containers of one pod share /dev/shm: both bind "
            "/run/kata-containers/sandbox/shm, the tmpfs of CreateSandbox's shm storage (and "
            "both join the sandbox's IPC namespace).",
            dict(POD_BASE, automountServiceAccountToken=False,
                 containers=[{"name": "app", "image": ph("IMAGE"), "command": ph("APP_ARGS")},
                             {"name": "app2", "image": ph("IMAGE"),
                              "command": ph("APP2_ARGS")}]))
    setup(p)
    start_pause(p)
    start_app(p, "CID", "app", "APP_ARGS")
    start_app(p, "CID2", "app2", "APP2_ARGS")
    stop_app(p, "CID")
    stop_app(p, "CID2")
    stop_pod(p)
    periodic(p, ["CID", "CID2"])
    return p.finish()


def configmap_secret(shim):
    def volumes(p):
        g = {"/etc/app": copy_name(p.shim, "CID", "/etc/app"),
             "/etc/secret": copy_name(p.shim, "CID", "/etc/secret")}
        cm = [("app.properties", ph("CONFIG_TEXT"))]
        sec = [("password", ph("SECRET_PASSWORD")), ("username", ph("SECRET_USERNAME"))]
        for dest, ts, files in (("/etc/app", "CONFIGMAP_TS", cm),
                                ("/etc/secret", "SECRET_TS", sec)):
            copy_atomic_volume(p, g[dest], ts, files)
            if not p.go:
                copy_atomic_volume(p, g[dest], ts, files, sync=True)
        mounts = [{"destination": d, "source": None, "type": "bind",
                   "options": ["rbind", "rprivate", "ro"]} for d in ("/etc/app", "/etc/secret")]
        return mounts, [], g

    p = Pod("configmap-secret", shim, "A ConfigMap and a Secret volume with shared_fs=none: "
            "the shim copies each volume directory into the guest with CopyFile (kubelet's "
            "timestamped directory, the ..data symlink and one symlink per key) and binds the "
            "copy read-only. Both shims watch the host directory and copy again on change.",
            dict(POD_BASE, automountServiceAccountToken=False,
                 containers=[{"name": "app", "image": ph("IMAGE"), "command": ph("APP_ARGS"),
                              "volumeMounts": [
                                  {"name": "config", "mountPath": "/etc/app"},
                                  {"name": "secret", "mountPath": "/etc/secret"}]}],
                 volumes=[{"name": "config", "configMap": {"name": "app-config"}},
                          {"name": "secret", "secret": {"secretName": "app-secret"}}]))
    setup(p)
    start_pause(p)
    start_app(p, "CID", "app", "APP_ARGS", volumes=volumes)
    stop_app(p, "CID")
    stop_pod(p)
    periodic(p, ["CID"])
    p.conditional.append({"method": "CopyFile", "when": "the ConfigMap or Secret changes: Go "
                          "copies the new timestamped directory, then the ..data symlink, "
                          "then symlinks of new keys; runtime-rs copies the whole tree again "
                          "(500 ms after the last change). Neither ever deletes a file."})
    return p.finish()


def exec_probe(shim):
    p = Pod("exec-probe", shim, "A liveness probe that execs a command every 10 s "
            "(kubelet's ExecSync). The container drops every capability: the exec's process "
            "carries none (Go sends only user, args, env and cwd; runtime-rs removes them), "
            "and Kata's agent gives an exec the container's own capabilities.",
            dict(POD_BASE, automountServiceAccountToken=False,
                 containers=[{"name": "app", "image": ph("IMAGE"), "command": ph("APP_ARGS"),
                              "securityContext": {"capabilities": {"drop": ["ALL"]}},
                              "livenessProbe": {"exec": {"command": ph("PROBE_ARGS")},
                                                "periodSeconds": 10}}]))
    setup(p)
    start_pause(p)

    def probes(p):
        for eid in ("EXEC_ID", "EXEC_ID2"):
            proc = {"User": {"UID": 0, "GID": 0, "AdditionalGids": [0]},
                    "Args": [ph("PROBE_ARGS")],
                    "Env": [PATH_ENV, f"HOSTNAME={ph('HOSTNAME')}",
                            "KUBERNETES_SERVICE_HOST=10.96.0.1", "KUBERNETES_SERVICE_PORT=443"],
                    "Cwd": "/"}
            if not p.go:  # the container's process spec, less AppArmor and capabilities
                proc["OOMScoreAdj"] = "1000"
            p.call("ExecProcess", "grpc.ExecProcessRequest",
                   {"containerId": ph("CID"), "execId": ph(eid), "process": proc},
                   note=("Go: exec_id is a UUID the shim makes, the process has only "
                         "Terminal/User/Args/Env/Cwd" if p.go else
                         "runtime-rs: exec_id is containerd's (64 hex), the process is the "
                         "container's process spec with Args replaced, ApparmorProfile and "
                         "Capabilities removed"))
            streams(p, "CID", eid)
    start_app(p, "CID", "app", "APP_ARGS", cap_default=False)
    # the probes run while the container does, before it is stopped
    wait = p.calls.pop()
    probes(p)
    p.calls.append(wait)
    stop_app(p, "CID")
    stop_pod(p)
    periodic(p, ["CID"])
    return p.finish()


def resize(shim):
    def res(shares, quota, mem):
        return {"CPU": {"Shares": ph(shares), "Quota": ph(quota), "Period": "100000"},
                "Memory": {"Limit": ph(mem), "Swap": ph(mem)}}
    p = Pod("resize", shim, "In-place resize of a Burstable container (kubectl patch "
            "--subresource resize): kubelet's UpdateContainerResources reaches the agent as "
            "UpdateContainer with the container's whole LinuxResources. A later allocation "
            "must hit the new memory limit.",
            dict(POD_BASE, automountServiceAccountToken=False,
                 containers=[{"name": "app", "image": ph("IMAGE"), "command": ph("APP_ARGS"),
                              "resources": {"requests": {"cpu": "250m", "memory": "64Mi"},
                                            "limits": {"cpu": "500m", "memory": "128Mi"}},
                              "resizePolicy": [{"resourceName": "cpu",
                                                "restartPolicy": "NotRequired"},
                                               {"resourceName": "memory",
                                                "restartPolicy": "NotRequired"}]}]))
    setup(p)
    start_pause(p, qos="burstable")
    start_app(p, "CID", "app", "APP_ARGS", qos="burstable", oom="993",
              resources=res("CPU_SHARES", "CPU_QUOTA", "MEM_LIMIT"))
    wait = p.calls.pop()
    upd = res("CPU_SHARES_NEW", "CPU_QUOTA_NEW", "MEM_LIMIT_NEW")
    upd["Devices"] = [{"Access": "rwm"}]
    p.call("UpdateContainer", "grpc.UpdateContainerRequest",
           {"containerId": ph("CID"), "resources": upd},
           note="containerd's whole LinuxResources after the change, unfiltered but for "
           "CPU.Cpus (both) and CPU.Mems (Go only; runtime-rs keeps the host's): the "
           "device-cgroup rules are still in it (containerd's default deny-all here), "
           "HugepageLimits too on hosts with a hugetlb controller; Unified has no field in "
           "the protocol and is lost")
    p.calls.append(wait)
    stop_app(p, "CID")
    stop_pod(p)
    periodic(p, ["CID"])
    return p.finish()


SCENARIOS = {
    "plain-pod": plain_pod, "nonroot-port80": nonroot_port80,
    "emptydir-fsgroup": emptydir, "emptydir-local": lambda s: emptydir(s, local=True),
    "shared-shm": shared_shm, "configmap-secret": configmap_secret,
    "exec-probe": exec_probe, "resize": resize,
}


def dumps(v, indent=0):
    """JSON with one item a line, except lists of scalars, which stay on one line."""
    pad = " " * (indent + 1)
    if isinstance(v, dict) and v:
        items = [f"{pad}{json.dumps(k)}: {dumps(x, indent + 1)}" for k, x in v.items()]
        return "{\n" + ",\n".join(items) + "\n" + " " * indent + "}"
    if isinstance(v, list) and v:
        flat = json.dumps(v)
        if all(not isinstance(x, (dict, list)) for x in v):
            return flat
        return "[\n" + ",\n".join(pad + dumps(x, indent + 1) for x in v) + "\n" + \
            " " * indent + "]"
    return json.dumps(v)


def render():
    """{file name: JSON text} of every fixture."""
    out = {}
    for name, fn in SCENARIOS.items():
        for shim in SHIMS:
            out[f"{name}.{shim}.json"] = dumps(fn(shim)) + "\n"
    return out


def main(argv):
    outdir = argv[1] if len(argv) > 1 else HERE
    for fname, text in render().items():
        with open(os.path.join(outdir, fname), "w") as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
