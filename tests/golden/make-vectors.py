#!/usr/bin/python3
"""Make the golden protobuf vectors of the control port from Kata Containers' OWN .proto files.

Our C codec (init/agent/proto/*.proto through protoc-c) is checked against these bytes by
tests/unit/test_proto.c, so wire compatibility is proven against definitions none of us wrote.
Only the results are committed: tests/data/golden/<name>.bin (the message, serialized by
Google's protobuf with deterministic=True: fields in number order, map entries sorted by key)
and <name>.json (json_format of the same message, for people and for the Python cross-check).

Re-run (Debian bookworm: protobuf-compiler, python3-protobuf):
    (any checkout of the kata-containers repository, e.g. in /tmp/kata)
    /usr/bin/python3 tests/golden/make-vectors.py /tmp/kata [OUTDIR]
KATA may be a work tree or a bare git directory (then HEAD is read with `git show`).
OUTDIR defaults to tests/data/golden. The Kata commit is recorded in OUTDIR/SOURCE.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

PROTO_DIR = "src/libs/protocols/protos"
PROTO_FILES = ["agent.proto", "oci.proto", "types.proto", "health.proto", "csi.proto",
               "google/protobuf/empty.proto"]


def kata_protos(kata, dest):
    """Copies Kata's .proto files into dest; returns a description of where they came from."""
    tree = os.path.join(kata, PROTO_DIR)
    if os.path.isdir(tree):
        for f in PROTO_FILES:
            os.makedirs(os.path.dirname(os.path.join(dest, f)), exist_ok=True)
            shutil.copy(os.path.join(tree, f), os.path.join(dest, f))
        git = ["git", "-C", kata]
    else:
        git = ["git", "--git-dir", kata]
        for f in PROTO_FILES:
            os.makedirs(os.path.dirname(os.path.join(dest, f)), exist_ok=True)
            data = subprocess.run(git + ["show", f"HEAD:{PROTO_DIR}/{f}"], check=True,
                                  capture_output=True).stdout
            with open(os.path.join(dest, f), "wb") as fh:
                fh.write(data)
    try:
        rev = subprocess.run(git + ["log", "-1", "--format=%H %cs"], check=True,
                             capture_output=True, text=True).stdout.strip()
    except (subprocess.CalledProcessError, FileNotFoundError):
        rev = "unknown (not a git checkout)"
    return rev


def compile_python(src, out):
    files = [f for f in PROTO_FILES if not f.startswith("google/")]
    subprocess.run(["protoc", f"--proto_path={src}", f"--python_out={out}"] + files,
                   check=True, cwd=src)
    sys.path.insert(0, out)


# --- the vectors: (file name, proto message full name, JSON description) --------------------
# Values are chosen to exercise the wire: long varints, negative int64, a uint32 errno 0 in a
# oneof (present but zero), packed gids, maps, nested repeated messages, unicode, bytes.

PULL_META = {"io.kubernetes.cri.container-type": "container",
             "io.kubernetes.cri.image-name": "registry.example/app@sha256:" + "ab" * 32}

OCI_SPEC = {
    "Version": "1.1.0",
    "Process": {
        "Terminal": False,
        "ConsoleSize": {"Height": 24, "Width": 80},
        "User": {"UID": 1000, "GID": 1000, "AdditionalGids": [1000, 10, 65534, 300000],
                 "Username": "app"},
        "Args": ["/app/server", "--listen", ":8080", "--name=ünïcode"],
        "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "HOSTNAME=pod-a", "TERM=xterm"],
        "Cwd": "/app",
        "Capabilities": {
            "Bounding": ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_NET_BIND_SERVICE"],
            "Effective": ["CAP_CHOWN", "CAP_NET_BIND_SERVICE"],
            "Permitted": ["CAP_CHOWN", "CAP_NET_BIND_SERVICE"],
            "Ambient": ["CAP_NET_BIND_SERVICE"],
        },
        "Rlimits": [{"Type": "RLIMIT_NOFILE", "Hard": "1048576", "Soft": "1024"},
                    {"Type": "RLIMIT_CORE", "Hard": "18446744073709551615",
                     "Soft": "18446744073709551615"}],
        "NoNewPrivileges": True,
        "OOMScoreAdj": "-997",
    },
    "Root": {"Path": "/run/kata-containers/c0ffee01/rootfs", "Readonly": True},
    "Hostname": "pod-a",
    "Mounts": [
        {"destination": "/proc", "source": "proc", "type": "proc",
         "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/dev/shm", "source": "/run/kata-containers/sandbox/shm", "type": "bind",
         "options": ["rbind"]},
        {"destination": "/etc/hosts",
         "source": "/run/kata-containers/shared/containers/c0ffee01-0123456789abcdef-hosts",
         "type": "bind", "options": ["rbind", "rprivate", "ro"]},
    ],
    "Annotations": {
        "io.kubernetes.cri.container-type": "container",
        "io.kubernetes.cri.sandbox-id": "5a4d0b0c",
        "io.kubernetes.cri.image-name": "registry.example/app@sha256:" + "ab" * 32,
        "io.katacontainers.pkg.oci.bundle_path": "/run/containers/c0ffee01",
    },
    "Linux": {
        "UIDMappings": [{"HostID": 100000, "ContainerID": 0, "Size": 65536}],
        "Sysctl": {"net.ipv4.ip_unprivileged_port_start": "0", "kernel.shm_rmid_forced": "1"},
        "Resources": {
            "Memory": {"Limit": "536870912", "Reservation": "0", "Swap": "-1",
                       "Swappiness": "18446744073709551615", "DisableOOMKiller": False},
            "CPU": {"Shares": "1024", "Quota": "-1", "Period": "100000", "Mems": "0"},
            "HugepageLimits": [{"Pagesize": "2MB", "Limit": "0"}],
        },
        "CgroupsPath": "/kubepods/besteffort/pod1234/c0ffee01",
        "Namespaces": [{"Type": "ipc"}, {"Type": "uts"}, {"Type": "mount"},
                       {"Type": "pid", "Path": ""}],
        "Devices": [{"Path": "/dev/fuse", "Type": "c", "Major": "10", "Minor": "229",
                     "FileMode": 438, "UID": 0, "GID": 0}],
        "Seccomp": {
            "DefaultAction": "SCMP_ACT_ERRNO",
            "Architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
            "Flags": ["SECCOMP_FILTER_FLAG_SPEC_ALLOW"],
            "Syscalls": [
                {"Names": ["read", "write", "exit_group"], "Action": "SCMP_ACT_ALLOW"},
                {"Names": ["ptrace"], "Action": "SCMP_ACT_ERRNO", "errnoret": 1},
                {"Names": ["personality"], "Action": "SCMP_ACT_ALLOW",
                 "Args": [{"Index": "0", "Value": "4294967295", "Op": "SCMP_CMP_EQ"}]},
                {"Names": ["clone3"], "Action": "SCMP_ACT_ERRNO", "errnoret": 0},
            ],
        },
        "RootfsPropagation": "rslave",
        "MaskedPaths": ["/proc/kcore", "/proc/keys", "/sys/firmware"],
        "ReadonlyPaths": ["/proc/bus", "/proc/sys"],
    },
}

VECTORS = [
    # --- requests the host sends ---
    ("create_container_request", "grpc.CreateContainerRequest", {
        "container_id": "c0ffee01",
        "exec_id": "c0ffee01",
        "devices": [{"id": "dev0", "type": "blk", "vm_path": "/dev/vdb",
                     "container_path": "/dev/xvda", "options": ["ro"]}],
        "storages": [
            {"driver": "image_guest_pull",
             "driver_options": ["image_guest_pull=" + json.dumps({"metadata": PULL_META},
                                                                 sort_keys=True)],
             "source": "registry.example/app@sha256:" + "ab" * 32,
             "fstype": "overlay",
             "mount_point": "/run/kata-containers/c0ffee01/rootfs"},
            {"driver": "ephemeral", "source": "tmpfs", "fstype": "tmpfs",
             "options": ["size=67108864", "mode=1777"],
             "mount_point": "/run/kata-containers/sandbox/ephemeral/cache",
             "fs_group": {"group_id": 2000, "group_change_policy": "OnRootMismatch"},
             "shared": True},
        ],
        "OCI": OCI_SPEC,
        "sandbox_pidns": True,
        "stdout_port": 0,
    }),
    ("create_sandbox_request", "grpc.CreateSandboxRequest", {
        "hostname": "pod-a",
        "dns": ["nameserver 10.96.0.10", "search default.svc.cluster.local svc.cluster.local",
                "options ndots:5"],
        "storages": [{"driver": "ephemeral", "source": "shm", "fstype": "tmpfs",
                      "options": ["noexec", "nosuid", "nodev", "mode=1777", "size=67108864"],
                      "mount_point": "/run/kata-containers/sandbox/shm"}],
        "sandbox_pidns": False,
        "sandbox_id": "5a4d0b0c",
        "guest_hook_path": "",
    }),
    ("update_interface_request", "grpc.UpdateInterfaceRequest", {
        "interface": {"device": "eth0", "name": "eth0",
                      "IPAddresses": [{"family": "v4", "address": "10.244.1.7", "mask": "24"},
                                      {"family": "v6", "address": "fd00::7", "mask": "64"}],
                      "mtu": "1450", "hwAddr": "02:42:0a:f4:01:07", "type": "veth",
                      "raw_flags": 128}}),
    ("update_routes_request", "grpc.UpdateRoutesRequest", {
        "routes": {"Routes": [
            {"dest": "10.244.1.0/24", "device": "eth0", "source": "10.244.1.7", "scope": 253},
            {"gateway": "10.244.1.1", "device": "eth0"},
            {"dest": "fd00::/64", "device": "eth0", "family": "v6", "mtu": 1400, "flags": 1},
        ]}}),
    ("add_arp_neighbors_request", "grpc.AddARPNeighborsRequest", {
        "neighbors": {"ARPNeighbors": [
            {"toIPAddress": {"family": "v4", "address": "10.244.1.1"}, "device": "eth0",
             "lladdr": "02:42:0a:f4:01:01", "state": 128, "flags": -1}]}}),
    ("exec_process_request", "grpc.ExecProcessRequest", {
        "container_id": "c0ffee01", "exec_id": "e1",
        "process": {"Terminal": True, "ConsoleSize": {"Height": 40, "Width": 120},
                    "User": {"UID": 0, "GID": 0}, "Args": ["/bin/sh", "-c", "echo hi"],
                    "Env": ["TERM=xterm"], "Cwd": "/"}}),
    ("guest_details_request", "grpc.GuestDetailsRequest",
     {"mem_block_size": True, "mem_hotplug_probe": True}),
    ("copy_file_request", "grpc.CopyFileRequest", {
        "path": "/run/kata-containers/shared/containers/c0ffee01-0123456789abcdef-hosts",
        "file_size": "20", "file_mode": 33188, "dir_mode": 16877, "uid": 0, "gid": -1,
        "offset": "0", "data": "MTI3LjAuMC4xIGxvY2FsaG9zdAo="}),
    ("read_stream_request", "grpc.ReadStreamRequest",
     {"container_id": "c0ffee01", "exec_id": "c0ffee01", "len": 32768}),
    ("online_cpu_mem_request", "grpc.OnlineCPUMemRequest", {"nb_cpus": 4, "cpu_only": True}),
    ("signal_process_request", "grpc.SignalProcessRequest",
     {"container_id": "c0ffee01", "signal": 9}),
    ("set_policy_request", "grpc.SetPolicyRequest",
     {"policy": "package agent_policy\n\ndefault ExecProcessRequest := false\n"}),
    # in-place resize as runtime-rs sends it: host Mems, the deny-all device rule, hugepages
    ("update_container_request", "grpc.UpdateContainerRequest", {
        "container_id": "c0ffee01",
        "resources": {
            "Devices": [{"Allow": False, "Access": "rwm"}],
            "Memory": {"Limit": "268435456", "Swap": "268435456"},
            "CPU": {"Shares": "512", "Quota": "100000", "Period": "100000", "Mems": "0-1"},
            "Pids": {"Limit": "-1"},
            "HugepageLimits": [{"Pagesize": "2MB", "Limit": "0"}, {"Pagesize": "1GB"}]}}),
    ("list_interfaces_request", "grpc.ListInterfacesRequest", {}),
    ("get_iptables_request", "grpc.GetIPTablesRequest", {"is_ipv6": True}),
    ("set_iptables_request", "grpc.SetIPTablesRequest",
     {"is_ipv6": True, "data": "KmZpbHRlcgpDT01NSVQK"}),

    # --- responses we send ---
    ("health_check_response", "grpc.HealthCheckResponse", {"status": "SERVING"}),
    ("version_check_response", "grpc.VersionCheckResponse",
     {"grpc_version": "0.0.1", "agent_version": "sealpod 0.1.0"}),
    ("guest_details_response", "grpc.GuestDetailsResponse", {
        "mem_block_size_bytes": "134217728",
        "agent_details": {"version": "sealpod 0.1.0", "init_daemon": True,
                          "storage_handlers": ["ephemeral", "image_guest_pull", "virtio-fs"],
                          "supports_seccomp": False},
        "support_mem_hotplug_probe": False}),
    ("wait_process_response", "grpc.WaitProcessResponse", {"status": 137}),
    ("read_stream_response", "grpc.ReadStreamResponse",
     {"data": "aGVsbG8gZnJvbSB0aGUgZ3Vlc3QK"}),  # "hello from the guest\n"
    ("write_stream_response", "grpc.WriteStreamResponse", {"len": 4096}),
    ("interface", "types.Interface", {
        "device": "eth0", "name": "eth0",
        "IPAddresses": [{"family": "v4", "address": "10.244.1.7", "mask": "24"}],
        "mtu": "1450", "hwAddr": "02:42:0a:f4:01:07"}),
    ("routes", "grpc.Routes", {"Routes": [
        {"dest": "10.244.1.0/24", "device": "eth0", "source": "10.244.1.7", "scope": 253},
        {"gateway": "10.244.1.1", "device": "eth0"}]}),
    ("stats_container_response", "grpc.StatsContainerResponse", {
        "cgroup_stats": {
            "cpu_stats": {"cpu_usage": {"total_usage": "123456789",
                                        "percpu_usage": ["100000000", "23456789"],
                                        "usage_in_kernelmode": "3000000",
                                        "usage_in_usermode": "120456789"},
                          "throttling_data": {"periods": "10", "throttled_periods": "2",
                                              "throttled_time": "5000"}},
            "memory_stats": {"cache": "4096",
                             "usage": {"usage": "10485760", "max_usage": "20971520",
                                       "limit": "536870912"},
                             "use_hierarchy": True,
                             "stats": {"anon": "8388608", "file": "4096",
                                       "pgfault": "1234"}},
            "pids_stats": {"current": "3", "limit": "1024"},
            "hugetlb_stats": {"2MB": {"usage": "0", "max_usage": "2097152", "failcnt": "1"}},
        },
        "network_stats": [{"name": "eth0", "rx_bytes": "1000", "rx_packets": "10",
                           "tx_bytes": "2000", "tx_packets": "20"}]}),
    ("oom_event", "grpc.OOMEvent", {"container_id": "c0ffee01"}),
    ("get_diagnostic_data_response", "grpc.GetDiagnosticDataResponse",
     {"data": "panic: out of cheese\n"}),
    ("empty", "google.protobuf.Empty", {}),
]


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    kata = sys.argv[1]
    here = os.path.dirname(os.path.abspath(__file__))
    outdir = sys.argv[2] if len(sys.argv) == 3 else os.path.join(here, "..", "data", "golden")
    os.makedirs(outdir, exist_ok=True)
    from google.protobuf import json_format, symbol_database
    with tempfile.TemporaryDirectory() as tmp:
        src, out = os.path.join(tmp, "src"), os.path.join(tmp, "py")
        os.makedirs(src)
        os.makedirs(out)
        rev = kata_protos(kata, src)
        compile_python(src, out)
        import agent_pb2, health_pb2, types_pb2  # noqa: F401  (registers the messages)
        from google.protobuf import empty_pb2  # noqa: F401
        db = symbol_database.Default()
        for name, full, desc in VECTORS:
            msg = db.GetSymbol(full)()
            json_format.ParseDict(desc, msg)
            data = msg.SerializeToString(deterministic=True)
            with open(os.path.join(outdir, name + ".bin"), "wb") as fh:
                fh.write(data)
            with open(os.path.join(outdir, name + ".json"), "w") as fh:
                fh.write(json.dumps({"message": full, "value": json_format.MessageToDict(msg)},
                                    indent=1, sort_keys=True, ensure_ascii=False) + "\n")
            print(f"{name}: {full}, {len(data)} bytes")
        import google.protobuf
        with open(os.path.join(outdir, "SOURCE"), "w") as fh:
            fh.write(f"kata-containers {rev}, {PROTO_DIR}/{{agent,oci,types,health}}.proto\n"
                     f"protoc {subprocess.run(['protoc', '--version'], capture_output=True, text=True).stdout.strip()}, "
                     f"python3-protobuf {google.protobuf.__version__}\n"
                     "made by tests/golden/make-vectors.py; do not edit by hand\n")


if __name__ == "__main__":
    main()
