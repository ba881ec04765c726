"""The agent as an ordinary host process on a Unix socket, driven by tests/ttrpc/client.py.

No guest: /init runs on the host when it is not PID 1 (init/boot/main.c). The binary is built here
with ASan/UBSan (build/host/agent-host, rebuilt when a source is newer), started once per test and
stopped with SIGTERM; a sanitizer report on its stderr fails the test.
"""
import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))


def host_libs():
    """The libraries the host build links (Makefile HOST_LIBS, kept in tests/host-libs.txt)."""
    with open(os.path.join(TOP, "tests", "host-libs.txt")) as f:
        return f.read().split()
sys.path.insert(0, os.path.join(TOP, "tests", "ttrpc"))
sys.path.insert(0, HERE)
import client as tt  # noqa: E402

AGENT_BIN = os.path.join(TOP, "build", "host", "agent-host")
GOLDEN = os.path.join(TOP, "tests", "data", "golden")

# Every grpc.AgentService method we serve, and what it answers today with an empty request under
# the built-in default policy. SetPolicy comes first: the empty CreateContainerRequest passes the
# policy, and from then on SetPolicy is refused (PERMISSION_DENIED). DestroySandbox is left out:
# it ends the agent (test_shim_sandbox_sequence).
AGENT_METHODS = {
    "SetPolicy": tt.INVALID_ARGUMENT,  # an empty document is not a policy
    # The runtime (init/runtime/): an empty container id is refused, no container is found.
    "CreateContainer": tt.INVALID_ARGUMENT, "StartContainer": tt.NOT_FOUND,
    "RemoveContainer": tt.NOT_FOUND, "ExecProcess": tt.PERMISSION_DENIED,
    "SignalProcess": tt.NOT_FOUND, "WaitProcess": tt.NOT_FOUND,
    "ReadStdout": tt.NOT_FOUND, "ReadStderr": tt.NOT_FOUND,
    "WriteStdin": tt.NOT_FOUND, "CloseStdin": tt.NOT_FOUND,
    "TtyWinResize": tt.NOT_FOUND, "StatsContainer": tt.NOT_FOUND,
    # Empty network requests change nothing: no interface named (refused), no routes or
    # neighbours to install (a no-op, never "delete everything").
    "UpdateInterface": tt.INVALID_ARGUMENT, "UpdateRoutes": tt.OK,
    "AddARPNeighbors": tt.OK, "OnlineCPUMem": tt.OK,
    # Off PID 1 no container runs, so no OOM event will come: FAILED_PRECONDITION (9).
    "CopyFile": tt.PERMISSION_DENIED, "GetOOMEvent": 9,
    "UpdateEphemeralMounts": tt.UNIMPLEMENTED,
    # Allowed by the built-in default (both shims ask at every container stop): the empty
    # container id is refused by the handler.
    "GetDiagnosticData": tt.INVALID_ARGUMENT, "CreateSandbox": tt.INVALID_ARGUMENT,
    "RemoveStaleVirtiofsShareMounts": tt.OK, "GetGuestDetails": tt.OK,
    "UpdateContainer": tt.NOT_FOUND,
    # Refused by name, with the reason (init/net/list.c): the guest has no iptables tools.
    "GetIPTables": tt.UNIMPLEMENTED, "SetIPTables": tt.UNIMPLEMENTED,
}
REFUSED_BY_NAME = ("GetIPTables", "SetIPTables")

SHARED = "/run/kata-containers/shared/containers/"


def _sources():
    srcs = [s for s in sorted(glob.glob(os.path.join(TOP, "init", "*", "*.c")))
            if "/init/pause/" not in s]
    return srcs, sorted(glob.glob(os.path.join(TOP, "init", "*", "*.h")))


def build_agent():
    """build/host/agent-host: /init for the host, ASan/UBSan; the generated protobuf-c code
    comes from `make` (build/gen)."""
    srcs, hdrs = _sources()
    protos = sorted(glob.glob(os.path.join(TOP, "init", "agent", "proto", "*.proto")))
    gens = [os.path.join(TOP, "build", "gen", os.path.basename(p)[:-len(".proto")] + ".pb-c.c")
            for p in protos]
    inputs = srcs + hdrs + protos
    if os.path.exists(AGENT_BIN) and all(os.path.exists(g) for g in gens):
        built = os.path.getmtime(AGENT_BIN)
        if all(os.path.getmtime(f) <= built for f in inputs + gens):
            return AGENT_BIN
    r = subprocess.run(["make", "-s"] + [os.path.relpath(g, TOP) for g in gens], cwd=TOP,
                       capture_output=True, text=True)
    if r.returncode != 0:
        # A broken precondition, not a skip: the protobuf-c code is part of every build.
        raise AssertionError(f"cannot generate the protobuf-c code: {r.stderr.strip()[-300:]}")
    os.makedirs(os.path.dirname(AGENT_BIN), exist_ok=True)
    cmd = ["gcc", "-std=gnu11", "-O1", "-g", "-fsanitize=address,undefined",
           "-fno-sanitize-recover=all", "-Iinit", "-Ibuild/gen", "-DSEALPOD_HOST_BUILD"]
    cmd += [os.path.relpath(s, TOP) for s in srcs] + [os.path.relpath(g, TOP) for g in gens]
    cmd += host_libs() + ["-o", AGENT_BIN + ".tmp"]
    r = subprocess.run(cmd, cwd=TOP, capture_output=True, text=True)
    if r.returncode != 0:
        raise AssertionError("building the host agent failed:\n" + r.stderr[-2000:])
    os.rename(AGENT_BIN + ".tmp", AGENT_BIN)
    return AGENT_BIN


class HostAgent:
    """with HostAgent() as a: a.path is the socket; a.client() connects."""

    def __init__(self, extra_cmdline=""):
        self.binary = build_agent()
        self.dir = tempfile.mkdtemp(prefix="sealpod-host-agent-")
        self.path = os.path.join(self.dir, "agent.sock")
        self.log = os.path.join(self.dir, "agent.log")
        self.cmdline = f"agent.server_addr=unix://{self.path} {extra_cmdline}".strip()
        self.proc = None

    def __enter__(self):
        # The sandbox handlers write beneath this root instead of /run and /sys.
        self.root = os.path.join(self.dir, "root")
        os.makedirs(self.root)
        env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:exitcode=66",
                   UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1",
                   SEALPOD_HOST_ROOT=self.root)
        self.logf = open(self.log, "wb")
        argv = [self.binary, "--cmdline", self.cmdline]
        # The network handlers act on the namespace the agent runs in: never the host's own
        # (as root they could replace its routes). `unshare -n` execs the agent, so proc is it.
        if os.geteuid() == 0 and shutil.which("unshare"):
            argv = ["unshare", "-n", "--"] + argv
        self.proc = subprocess.Popen(argv, stdout=self.logf, stderr=subprocess.STDOUT, env=env,
                                     start_new_session=True)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"the agent exited with {self.proc.returncode}:\n"
                                     + self.output())
            if os.path.exists(self.path):
                try:
                    with socket.socket(socket.AF_UNIX) as s:
                        s.connect(self.path)
                    return self
                except OSError:
                    pass
            time.sleep(0.05)
        self.stop()
        raise AssertionError("the agent did not listen within 20 s:\n" + self.output())

    def output(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()[-4000:]
        except OSError:
            return ""

    def client(self, timeout=10.0):
        return tt.Client.unix(self.path, timeout)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.logf.close()

    def __exit__(self, *exc):
        self.stop()
        out = self.output()
        shutil.rmtree(self.dir, ignore_errors=True)
        if exc[0] is not None:
            return
        if "ERROR: AddressSanitizer" in out or "runtime error:" in out or "LeakSanitizer" in out:
            raise AssertionError("sanitizer report from the agent:\n" + out)
        if self.proc.returncode != 0:
            raise AssertionError(f"the agent exited with {self.proc.returncode} on SIGTERM:\n"
                                 + out)


def _pb():
    return tt.load_protos()


def test_check_serving():
    pb = _pb()
    with HostAgent() as a, a.client() as c:
        hc = c.call("grpc.Health", "Check", pb.health.CheckRequest()).decode(
            pb.health.HealthCheckResponse)
        assert hc.status == pb.health.HealthCheckResponse.SERVING, hc


def test_version():
    pb = _pb()
    with HostAgent() as a, a.client() as c:
        v = c.call("grpc.Health", "Version", pb.health.CheckRequest()).decode(
            pb.health.VersionCheckResponse)
        assert v.agent_version.startswith("sealpod "), v
        assert v.grpc_version, v


def test_every_agent_method_answers():
    """Each served method answers on the same connection (none drops it); the ones not
    written yet say so with UNIMPLEMENTED "<Method>: not implemented yet"."""
    with HostAgent() as a, a.client() as c:
        for method, want in AGENT_METHODS.items():
            rep = c.agent(method)
            assert rep.code == want, f"{method}: {rep!r}"
            if want == tt.UNIMPLEMENTED and method in REFUSED_BY_NAME:
                assert rep.message.startswith(f"{method} refused: "), f"{method}: {rep!r}"
            elif want == tt.UNIMPLEMENTED:
                assert rep.message == f"{method}: not implemented yet", f"{method}: {rep!r}"


def test_get_guest_details():
    pb = _pb()
    with HostAgent() as a, a.client() as c:
        gd = c.agent("GetGuestDetails", pb.agent.GuestDetailsRequest(mem_block_size=True,
                                                                     mem_hotplug_probe=True),
                     pb.agent.GuestDetailsResponse)
        want = 0
        if os.path.exists("/sys/devices/system/memory/block_size_bytes"):
            with open("/sys/devices/system/memory/block_size_bytes") as f:
                want = int(f.read().strip(), 16)
        assert gd.mem_block_size_bytes == want, gd
        assert gd.agent_details.version.startswith("sealpod "), gd
        assert gd.agent_details.supports_seccomp, gd  # the runtime applies OCI profiles
        assert not gd.support_mem_hotplug_probe, gd


def test_unknown_method_and_service():
    with HostAgent() as a, a.client() as c:
        rep = c.agent("PauseContainer")
        assert rep.code == tt.UNIMPLEMENTED, rep
        rep = c.call("grpc.NoSuchService", "Check")
        assert rep.code == tt.UNIMPLEMENTED, rep
        assert c.call("grpc.Health", "Check").ok  # the connection is still good


def test_garbage_payload_invalid_argument():
    with HostAgent() as a, a.client() as c:
        rep = c.agent("CreateContainer", b"\x0a\xff\xff\xff\x0f garbage")
        assert rep.code == tt.INVALID_ARGUMENT, rep
        assert rep.message == "bad CreateContainerRequest payload", rep
        rep = c.agent("WriteStdin", b"\x07")
        assert rep.code == tt.INVALID_ARGUMENT and "WriteStreamRequest" in rep.message, rep
        assert c.call("grpc.Health", "Check").ok


def test_hostile_ids_refused():
    """Container and exec ids with '/', '..', NUL-free control bytes or over 128 characters are
    refused as INVALID_ARGUMENT by every request that carries them, before policy or handler."""
    pb = _pb()
    bad = ["../x", "a/b", "..", "/etc", "a\tb", "x" * 129, "-leading-dash"]
    reqs = [
        ("CreateContainer", lambda i: pb.agent.CreateContainerRequest(container_id=i)),
        ("StartContainer", lambda i: pb.agent.StartContainerRequest(container_id=i)),
        ("RemoveContainer", lambda i: pb.agent.RemoveContainerRequest(container_id=i)),
        ("WaitProcess", lambda i: pb.agent.WaitProcessRequest(container_id="c1", exec_id=i)),
        ("SignalProcess", lambda i: pb.agent.SignalProcessRequest(container_id=i, signal=9)),
        ("ReadStdout", lambda i: pb.agent.ReadStreamRequest(container_id=i, len=10)),
        ("StatsContainer", lambda i: pb.agent.StatsContainerRequest(container_id=i)),
        ("ExecProcess", lambda i: pb.agent.ExecProcessRequest(container_id="c1", exec_id=i)),
    ]
    with HostAgent() as a, a.client() as c:
        for method, make in reqs:
            for i in bad:
                rep = c.agent(method, make(i))
                assert rep.code == tt.INVALID_ARGUMENT and "is not a valid id" in rep.message, \
                    (method, i, rep)
        assert c.call("grpc.Health", "Check").ok


def test_golden_create_container_reaches_handler():
    with open(os.path.join(GOLDEN, "create_container_request.bin"), "rb") as f:
        data = f.read()
    with HostAgent() as a, a.client() as c:
        rep = c.agent("CreateContainer", data)
        # decoded, past the policy, and refused by the runtime's filter (the golden request
        # carries a device; no device beyond the default set is ever created)
        assert rep.code == tt.INVALID_ARGUMENT and "refused" in rep.message, rep


def test_50_concurrent_calls_one_connection():
    """50 calls in flight on one connection (a mix of services and methods), every reply
    matched to its stream id."""
    pb = _pb()
    with HostAgent() as a, a.client() as c:
        methods = list(AGENT_METHODS)
        sent = {}
        for i in range(50):
            if i % 3 == 0:
                sent[c.send("grpc.Health", "Check", pb.health.CheckRequest())] = ("Check", tt.OK)
            else:
                m = methods[i % len(methods)]
                sent[c.send("grpc.AgentService", m)] = (m, AGENT_METHODS[m])
        for stream in reversed(list(sent)):
            rep = c.wait(stream)
            method, want = sent[stream]
            assert rep.code == want, f"stream {stream} ({method}): {rep!r}"
        assert not c.pending, c.pending


class StandInVMM:
    """A stand-in for Cloud Hypervisor's or Firecracker's hybrid-vsock socket: accepts one
    connection at vmm_path, reads the `CONNECT <port>` line (kept in .seen), answers
    `OK <host port>` and then relays bytes both ways to the agent's Unix socket."""

    def __init__(self, agent_path, vmm_path):
        self.agent_path, self.seen = agent_path, []
        self.ls = socket.socket(socket.AF_UNIX)
        self.ls.bind(vmm_path)
        self.ls.listen(1)
        self.t = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self):
        self.t.start()
        return self

    def __exit__(self, *exc):
        self.t.join(5)
        self.ls.close()

    @staticmethod
    def _pump(src, dst):
        while True:
            try:
                d = src.recv(65536)
            except OSError:
                return
            if not d:
                try:
                    dst.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                return
            dst.sendall(d)

    def _serve(self):
        conn, _ = self.ls.accept()
        line = b""
        while not line.endswith(b"\n"):
            b = conn.recv(1)
            if not b:
                return
            line += b
        self.seen.append(line)
        up = socket.socket(socket.AF_UNIX)
        up.connect(self.agent_path)
        conn.sendall(b"OK 1073741824\n")
        threading.Thread(target=self._pump, args=(up, conn), daemon=True).start()
        self._pump(conn, up)


def test_hvsock_handshake_client():
    """The client's hybrid-vsock mode against a stand-in VMM socket that answers `OK <port>`
    and then relays to the agent."""
    with HostAgent() as a:
        vmm = os.path.join(a.dir, "vmm.sock")
        with StandInVMM(a.path, vmm) as v:
            with tt.Client.connect(f"hvsock://{vmm}:1024", timeout=10) as c:
                assert c.call("grpc.Health", "Check").ok
        assert v.seen == [b"CONNECT 1024\n"], v.seen


def test_golden_vectors_match_our_protos():
    """Kata's bytes (tests/data/golden/) decode with OUR .proto files to the same JSON as with
    Kata's, and re-encode to the same bytes: names, numbers and types agree."""
    from google.protobuf import json_format, symbol_database
    _pb()
    db = symbol_database.Default()
    checked = 0
    for path in sorted(glob.glob(os.path.join(GOLDEN, "*.json"))):
        with open(path) as f:
            doc = json.load(f)
        full = doc["message"]
        if full == "google.protobuf.Empty":
            full = "grpc.Empty"
        with open(path[:-5] + ".bin", "rb") as f:
            data = f.read()
        msg = db.GetSymbol(full)()
        msg.ParseFromString(data)
        ours = json_format.MessageToDict(msg)
        assert ours == doc["value"], f"{os.path.basename(path)}: {ours} != {doc['value']}"
        assert msg.SerializeToString(deterministic=True) == data, os.path.basename(path)
        checked += 1
    assert checked >= 20, checked
    return f"{checked} golden vectors"


def _policy_file(name):
    with open(os.path.join(TOP, "tests", "data", "policy", name)) as f:
        return f.read()


def test_shim_sandbox_sequence():
    """The Go shim's sandbox-level calls in its order: Check, SetPolicy (allowed by the built-in
    default before any container), CreateSandbox, GetGuestDetails, CopyFile (inside the prefix,
    through a planted symlink, outside the prefix), then DestroySandbox: the reply, then the agent
    exits cleanly and the connection ends."""
    pb = _pb()
    with HostAgent() as a, a.client() as c:
        assert c.call("grpc.Health", "Check", pb.health.CheckRequest()).ok
        rep = c.agent("SetPolicy", pb.agent.SetPolicyRequest(
            policy=_policy_file("allow-all-except-exec.rego")))
        assert rep.ok, rep
        rep = c.agent("ExecProcess", pb.agent.ExecProcessRequest(container_id="c1", exec_id="e1"))
        assert rep.code == tt.PERMISSION_DENIED, rep
        assert rep.message == ("ExecProcessRequest is blocked by policy: "
                               "rule 'ExecProcessRequest' = false"), rep

        req = pb.agent.CreateSandboxRequest(
            hostname="pod-1", sandbox_id="sb-0123",
            dns=["search default.svc.cluster.local", "nameserver 10.96.0.10",
                 "options ndots:5", ""])
        assert c.agent("CreateSandbox", req).ok
        with open(os.path.join(a.root, "run", "sealpod", "resolv.conf")) as f:
            assert f.read() == ("search default.svc.cluster.local\nnameserver 10.96.0.10\n"
                                "options ndots:5\n")
        rep = c.agent("CreateSandbox", req)
        assert rep.code == 6 and "already exists" in rep.message, rep  # ALREADY_EXISTS

        gd = c.agent("GetGuestDetails", pb.agent.GuestDetailsRequest(mem_block_size=True,
                                                                     mem_hotplug_probe=True),
                     pb.agent.GuestDetailsResponse)
        assert gd.agent_details.version.startswith("sealpod "), gd

        # A file in two chunks, then a ConfigMap-style directory and symlink.
        path = SHARED + "sb-0123-0123456789abcdef-hosts"
        body = b"127.0.0.1 localhost\n10.0.0.5 pod-1\n"
        for off in (0, 20):
            rep = c.agent("CopyFile", pb.agent.CopyFileRequest(
                path=path, file_size=len(body), file_mode=0o100644, dir_mode=0o40750,
                uid=-1, gid=-1, offset=off, data=body[off:off + 20]))
            assert rep.ok, rep
        host_side = os.path.join(a.root, SHARED.lstrip("/"), os.path.basename(path))
        with open(host_side, "rb") as f:
            assert f.read() == body
        assert oct(os.stat(host_side).st_mode & 0o7777) == "0o644"
        rep = c.agent("CopyFile", pb.agent.CopyFileRequest(
            path=SHARED + "sb-0123-cm/..2024", file_mode=0o40755, dir_mode=0o40750))
        assert rep.ok, rep
        rep = c.agent("CopyFile", pb.agent.CopyFileRequest(
            path=SHARED + "sb-0123-cm/..data", file_mode=0o120777, data=b"..2024",
            file_size=6))
        assert rep.ok, rep
        assert os.readlink(os.path.join(a.root, SHARED.lstrip("/"), "sb-0123-cm", "..data")) \
            == "..2024"

        # Through a symlink (planted, or the one just made): refused, nothing written outside.
        outside = os.path.join(a.dir, "outside")
        os.makedirs(outside)
        os.symlink(outside, os.path.join(a.root, SHARED.lstrip("/"), "planted"))
        for p in (SHARED + "planted/evil", SHARED + "sb-0123-cm/..data/evil"):
            rep = c.agent("CopyFile", pb.agent.CopyFileRequest(
                path=p, file_mode=0o100644, file_size=1, data=b"x"))
            assert rep.code == tt.INVALID_ARGUMENT, (p, rep)
        assert os.listdir(outside) == []
        assert not os.path.exists(os.path.join(a.root, SHARED.lstrip("/"), "sb-0123-cm",
                                               "..2024", "evil"))
        # A device node, and a path outside the prefix (the policy's answer).
        rep = c.agent("CopyFile", pb.agent.CopyFileRequest(
            path=SHARED + "dev", file_mode=0o020666))
        assert rep.code == tt.INVALID_ARGUMENT and "device" in rep.message, rep
        for p in ("/etc/passwd", SHARED + "../../../../etc/passwd"):
            rep = c.agent("CopyFile", pb.agent.CopyFileRequest(
                path=p, file_mode=0o100644, file_size=1, data=b"x"))
            assert rep.code == tt.PERMISSION_DENIED, (p, rep)
            assert rep.message.startswith("CopyFileRequest is blocked by policy"), rep

        rep = c.agent("DestroySandbox", pb.agent.DestroySandboxRequest())
        assert rep.ok, rep
        assert a.proc.wait(15) == 0, a.output()  # off PID 1 the orderly power-off is a clean exit
        try:
            c.read_frame(timeout=5)
            raise AssertionError("a frame after DestroySandbox's reply")
        except ConnectionError:
            pass  # EOF
        assert "sandbox: DestroySandbox: powering off" in a.output()


def test_policy_denials_logged_and_set_policy_closes():
    """A denial names the request and the rule on the console under policy.deny; SetPolicy is
    refused once a container was created, and the policy in force stays."""
    pb = _pb()
    with HostAgent() as a, a.client() as c:
        rep = c.agent("ExecProcess", pb.agent.ExecProcessRequest(container_id="c1",
                                                                   exec_id="e1"))
        assert rep.code == tt.PERMISSION_DENIED, rep
        # The built-in default allows GetDiagnosticData: the handler answers.
        rep = c.agent("GetDiagnosticData", pb.agent.GetDiagnosticDataRequest(
            container_id="c1", log_type="termination_log"))
        assert rep.code == tt.NOT_FOUND, rep
        rep = c.agent("SetPolicy", pb.agent.SetPolicyRequest(policy="package other\n"))
        assert rep.code == tt.INVALID_ARGUMENT and rep.message.startswith("SetPolicy: "), rep
        # passes the policy, then the runtime refuses the empty container id
        assert c.agent("CreateContainer").code == tt.INVALID_ARGUMENT
        rep = c.agent("SetPolicy", pb.agent.SetPolicyRequest(
            policy=_policy_file("allow-all.rego")))
        assert rep.code == tt.PERMISSION_DENIED, rep
        assert "a container has already been created" in rep.message, rep
        # Still the built-in default: ExecProcess stays denied.
        rep = c.agent("ExecProcess")
        assert rep.code == tt.PERMISSION_DENIED and "built-in default" in rep.message, rep
        time.sleep(0.2)
        log = a.output()
    assert ("policy.deny: ExecProcessRequest is blocked by policy: the built-in default "
            "policy denies ExecProcessRequest") in log, log
    assert "policy.deny: SetPolicyRequest is blocked by policy" in log, log


def _front_end(a, timeout=20):
    """The pid of the agent's front-end (its child named sp-front)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            with open(f"/proc/{a.proc.pid}/task/{a.proc.pid}/children") as f:
                kids = f.read().split()
        except OSError:
            kids = []
        for k in kids:
            try:
                with open(f"/proc/{k}/comm") as f:
                    if f.read().strip() == "sp-front":
                        return int(k)
            except OSError:
                pass
        time.sleep(0.05)
    raise AssertionError("no front-end (sp-front) under the agent:\n" + a.output())


def _closed(c, timeout):
    """Waits for the agent to close c; the seconds it took."""
    t0 = time.monotonic()
    try:
        rep = c.read_frame(timeout=timeout)
    except ConnectionError:
        return time.monotonic() - t0
    raise AssertionError(f"a frame instead of the close: {rep}")


def test_front_end_killed_is_restarted():
    """The front-end (init/front/) killed while it holds half a request: the agent lives on,
    says so, starts another one, and a new connection is served."""
    pb = _pb()
    with HostAgent("agent.log=debug") as a:
        with a.client() as c:
            assert c.call("grpc.Health", "Check", pb.health.CheckRequest()).ok
            c.send_raw(c.frame(c.next_stream, c.request_body("grpc.Health", "Check"))[:13])
            old = _front_end(a)
            os.kill(old, signal.SIGKILL)
            _closed(c, 20)
        end = time.monotonic() + 20
        while _front_end(a) == old and time.monotonic() < end:
            time.sleep(0.05)
        new = _front_end(a)
        assert new != old
        with a.client() as c:
            assert c.call("grpc.Health", "Check", pb.health.CheckRequest()).ok
        assert a.proc.poll() is None
        assert "front-end gone" in a.output(), a.output()
    return f"front-end {old} killed, {new} serving"


def test_stalled_frame_closes_its_connection():
    """Security review L6: a frame begun and not continued costs its connection after 30 s
    without a byte (the front-end's sweep); a connection that sent whole frames and went quiet
    stays open and is served."""
    pb = _pb()
    with HostAgent() as a, a.client(timeout=60) as idle, a.client(timeout=60) as slow:
        assert idle.call("grpc.Health", "Check", pb.health.CheckRequest()).ok
        slow.send_raw(b"\x00\x00\x00\x1a\x00")  # half a frame header
        took = _closed(slow, 50)
        assert 29 <= took <= 40, f"closed after {took:.1f} s"
        assert idle.call("grpc.Health", "Check", pb.health.CheckRequest()).ok
    return f"the stalled connection closed after {took:.1f} s; the idle one still served"
