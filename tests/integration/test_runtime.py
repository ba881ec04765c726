"""Containers (init/runtime/) in the guest, driven through the control port the way the Go shim
does, and through the bundle driver. One boot: SetPolicy (allow-all, so ExecProcess works) must
come before the first container, so test_policy_first runs first; harmful tests come last.

Containers use the busybox bundle rootfs of the test overlay, which the agent accepts as the
prepared rootfs of a container that has none of its own (test overlay only).
"""
import json
import os
import sys
import time

from harness import boots

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(TOP, "tests", "ttrpc"))
import client as tt  # noqa: E402

pb = tt.load_protos()
TEST = dict(test=True)
BUNDLE = "/usr/share/sealpod/bundles/busybox"
ROOTFS = BUNDLE + "/rootfs"
SANDBOX = "sb0"
DEFAULT_CAPS = 0x00000000a80405fb  # CHOWN DAC_OVERRIDE FOWNER FSETID KILL SETGID SETUID SETPCAP
# NET_BIND_SERVICE SYS_CHROOT MKNOD AUDIT_WRITE SETFCAP (containerd's, less NET_RAW)
SIGKILL, SIGTERM = 9, 15


def client(g):
    return tt.Client(g.agent_connect(), timeout=60)


def spec(args, root=ROOTFS, env=("PATH=/bin",), cwd="/", mounts=True, **kw):
    s = pb.oci.Spec(Version="1.1.0", Hostname=kw.pop("hostname", "ctr"))
    s.Root.Path = root
    s.Root.Readonly = kw.pop("readonly", False)
    p = s.Process
    p.Args.extend(args)
    p.Env.extend(env)
    p.Cwd = cwd
    p.Terminal = kw.pop("terminal", False)
    user = kw.pop("user", None)
    if user:
        p.User.UID, p.User.GID = user[0], user[1]
        p.User.AdditionalGids.extend(user[2])
    caps = kw.pop("caps", None)
    if caps is not None:
        for field in ("Bounding", "Effective", "Permitted"):
            getattr(p.Capabilities, field).extend(caps)
    p.NoNewPrivileges = kw.pop("nnp", True)
    if mounts:
        s.Mounts.add(destination="/proc", type="proc", source="proc")
        s.Mounts.add(destination="/sys", type="sysfs", source="sysfs", options=["ro"])
        s.Mounts.add(destination="/tmp", type="tmpfs", source="tmpfs", options=["mode=1777"])
    lin = getattr(s, "Linux_")
    lin.MaskedPaths.extend(kw.pop("masked", []))
    lin.ReadonlyPaths.extend(kw.pop("readonly_paths", []))
    for k, v in kw.pop("resources", {}).items():
        getattr(lin.Resources, k).Limit = v
    assert not kw, kw
    return s


def create(c, cid, s, storages=(), pidns=False):
    req = pb.agent.CreateContainerRequest(container_id=cid, exec_id=cid, OCI=s,
                                          sandbox_pidns=pidns)
    for st in storages:
        req.storages.add(**st)
    return c.agent("CreateContainer", req)


def ok(rep, what=""):
    assert rep.ok, f"{what}: {rep}"
    return rep


def read_all(c, cid, exec_id, method):
    data = b""
    for _ in range(10000):
        rep = c.agent(method, pb.agent.ReadStreamRequest(container_id=cid, exec_id=exec_id,
                                                         len=32768))
        chunk = rep.decode(pb.agent.ReadStreamResponse).data
        if not chunk:
            return data.decode(errors="replace")
        data += chunk
    raise AssertionError(f"{method} never reached EOF")


def wait(c, cid, exec_id=None, timeout=60):
    rep = c.agent("WaitProcess", pb.agent.WaitProcessRequest(container_id=cid,
                                                             exec_id=exec_id or cid),
                  timeout=timeout)
    return rep.decode(pb.agent.WaitProcessResponse).status


def remove(c, cid):
    return ok(c.agent("RemoveContainer", pb.agent.RemoveContainerRequest(container_id=cid)),
              f"remove {cid}")


def run(c, cid, s, **kw):
    """create, start, read stdout and stderr to EOF, wait, remove: (status, out, err)."""
    ok(create(c, cid, s, **kw), f"create {cid}")
    ok(c.agent("StartContainer", pb.agent.StartContainerRequest(container_id=cid)),
       f"start {cid}")
    out = read_all(c, cid, cid, "ReadStdout")
    err = read_all(c, cid, cid, "ReadStderr")
    status = wait(c, cid)
    remove(c, cid)
    return status, out, err


def sh(script, **kw):
    return spec(["/bin/sh", "-c", script], **kw)


def serving(c):
    rep = c.call("grpc.Health", "Check", pb.health.CheckRequest())
    assert rep.decode(pb.health.HealthCheckResponse).status == 1, rep


# --- tests ---------------------------------------------------------------------------------

@boots(**TEST)
def test_policy_first(g):
    """SetPolicy (Kata's allow-all Rego) before any container, then the sandbox (pause)
    container as the shim creates it: image_guest_pull of "pause", started and running."""
    with open(os.path.join(TOP, "tests", "data", "policy", "allow-all.rego")) as f:
        policy = f.read()
    with client(g) as c:
        ok(c.agent("SetPolicy", pb.agent.SetPolicyRequest(policy=policy)), "SetPolicy")
        s = spec(["/pause"], root=f"/run/kata-containers/{SANDBOX}/rootfs", mounts=False)
        ok(create(c, SANDBOX, s, storages=[dict(driver="image_guest_pull", source="pause",
                                                mount_point=f"/run/kata-containers/{SANDBOX}"
                                                            "/rootfs")]), "create pause")
        ok(c.agent("StartContainer", pb.agent.StartContainerRequest(container_id=SANDBOX)))
    st = g.sh_ok("cat /sys/fs/cgroup/sealpod/sb0/cgroup.procs | wc -l").strip()
    assert st == "1", f"pause cgroup holds {st} processes"
    comm = g.sh_ok("cat /proc/$(cat /sys/fs/cgroup/sealpod/sb0/cgroup.procs)/comm").strip()
    assert comm == "pause", comm


@boots(**TEST)
def test_bundle_driver(g):
    """sealpod-runbundle runs the busybox bundle through the same runtime code: exit status,
    read-only root, and the time per container of 20 runs of /bin/true."""
    g.sh_ok(f"sealpod-runbundle --spec > {BUNDLE}/config.json")
    status, out = g.sh(f"sealpod-runbundle {BUNDLE}")
    assert status == 0, out
    g.sh_ok(f"sed -i 's|\"/bin/true\"|\"/bin/sh\", \"-c\", \"touch /x 2>/dev/null; exit 7\"|' "
            f"{BUNDLE}/config.json")
    status, out = g.sh(f"sealpod-runbundle {BUNDLE}")
    assert status == 7, (status, out)
    g.sh_ok(f"sealpod-runbundle --spec > {BUNDLE}/config.json")
    out = g.sh_ok(f"sealpod-runbundle --count 20 --id bench {BUNDLE}")
    assert "last status 0" in out, out
    return out.strip()


@boots(**TEST)
def test_exit_codes_and_streams(g):
    """stdout and stderr content, then EOF only after the exit; exit code; WaitProcess twice;
    NOT_FOUND once removed; a signal death is 128+signal."""
    with client(g) as c:
        status, out, err = run(c, "c1", sh("echo out-line; echo err-line >&2; exit 7"))
        assert (status, out, err) == (7, "out-line\n", "err-line\n"), (status, out, err)
        ok(create(c, "c2", spec(["/bin/sleep", "1000"])), "create c2")
        ok(c.agent("StartContainer", pb.agent.StartContainerRequest(container_id="c2")))
        ok(c.agent("SignalProcess", pb.agent.SignalProcessRequest(container_id="c2",
                                                                  exec_id="c2", signal=SIGKILL)))
        assert wait(c, "c2") == 128 + SIGKILL
        assert wait(c, "c2") == 128 + SIGKILL  # the second wait answers at once
        remove(c, "c2")
        rep = c.agent("WaitProcess", pb.agent.WaitProcessRequest(container_id="c2",
                                                                 exec_id="c2"))
        assert rep.code == tt.NOT_FOUND, rep
        # exec failure reported exactly, and the agent goes on
        ok(create(c, "c3", spec(["/bin/nonexistent"])), "create c3")
        rep = c.agent("StartContainer", pb.agent.StartContainerRequest(container_id="c3"))
        assert not rep.ok and "exec /bin/nonexistent: No such file or directory" in \
            rep.message, rep
        remove(c, "c3")
        serving(c)


@boots(**TEST)
def test_env_cwd_user_groups(g):
    """env, cwd, uid/gid and additional gids, hostname."""
    with client(g) as c:
        status, out, _ = run(c, "c4", sh("echo $FOO; pwd; id; hostname", cwd="/tmp",
                                         env=("PATH=/bin", "FOO=bar"),
                                         user=(1000, 1001, [10, 20]), hostname="h4"))
        lines = out.splitlines()
        assert status == 0 and lines[0] == "bar" and lines[1] == "/tmp", out
        assert lines[2].startswith("uid=1000 gid=1001 groups=") and "10" in lines[2] \
            and "20" in lines[2], out
        assert lines[3] == "h4", out


@boots(**TEST)
def test_readonly_masked_caps(g):
    """A read-only root refuses writes; masked paths read empty; capabilities are the default
    set (or less when asked); the container's oom_score_adj is not PID 1's -1000."""
    with client(g) as c:
        script = ("touch /x 2>/dev/null; echo touch=$?; cat /proc/timer_list | wc -c; "
                  "ls /sys/firmware | wc -l; grep -E 'Cap(Bnd|Eff)' /proc/self/status; "
                  "cat /proc/self/oom_score_adj; echo w > /tmp/ok && cat /tmp/ok")
        status, out, err = run(c, "c5", sh(script, readonly=True,
                                           masked=["/proc/timer_list", "/sys/firmware"]))
        lines = out.split()
        assert status == 0, (out, err)
        assert lines[0] == "touch=1" and lines[1] == "0" and lines[2] == "0", out
        assert int(lines[4], 16) == DEFAULT_CAPS and int(lines[6], 16) == DEFAULT_CAPS, out
        assert lines[7] == "0" and lines[8] == "w", out
        _, out, _ = run(c, "c6", sh("grep CapBnd /proc/self/status", caps=["CAP_KILL"]))
        assert int(out.split()[1], 16) == 1 << 5, out


def in_image(g, src, name):
    """A guest program copied into the bundle's rootfs, the image of these tests: binds from
    the host's directories are noexec, so a container runs only what its image holds."""
    g.sh_ok(f"cp {src} {ROOTFS}/bin/{name}")


@boots(**TEST)
def test_no_vsock(g):
    """A container cannot open an AF_VSOCK socket (seccomp), so it cannot reach port 1024; the
    test client is in the container's image."""
    in_image(g, "/usr/bin/sealpod-tdriver", "tdriver")
    s = spec(["/bin/tdriver", "check"])
    with client(g) as c:
        status, out, err = run(c, "c7", s)
    assert status != 0 and "socket for vsock:1:1024: Permission denied" in out + err, \
        (status, out, err)
    # the same program outside a container does reach the agent
    g.sh_ok("sealpod-tdriver check")


@boots(**TEST)
def test_pivot_root_old_root_gone(g):
    """PID 1 left the initramfs for a tmpfs root at boot, so a container's root is entered with
    pivot_root and the old root is detached: the container's mount table holds only its own
    mounts, and the classic chroot escape (CAP_SYS_CHROOT is in the default set) climbs no
    higher than the container's own root: none of the guest's files are there. Even with
    CAP_SYS_ADMIN (through the bundle driver, which skips the policy), detaching its own root
    and setns into its own mount namespace lands on the namespace's root beneath every mount:
    the rootfs PID 1 emptied at boot (with a chrooted container it was the initramfs)."""
    con = g.console()
    assert "root: initramfs moved to a tmpfs root" in con, g.context()
    root_fs = g.sh_ok("awk '$2 == \"/\" {print $3}' /proc/mounts").split()
    assert root_fs and root_fs[-1] == "tmpfs", root_fs
    in_image(g, "/usr/bin/sealpod-runbundle", "probe")
    s = sh("cut -d' ' -f5 /proc/self/mountinfo | sort | tr '\\n' ' '; echo; /bin/probe --probe-root")
    with client(g) as c:
        status, out, err = run(c, "pv1", s)
    assert status == 0, (status, out, err)
    mounts = set(out.splitlines()[0].split())
    guest_only = {"/run", "/sys/fs/cgroup", "/sys/kernel/config", "/run/kata-containers"}
    assert "/" in mounts and not (mounts & guest_only), mounts
    reached = {l[len("probe: "):] for l in out.splitlines()
               if l.startswith("probe: ") and "=" not in l}
    own = set(g.sh_ok(f"ls -A {ROOTFS}").split())
    assert "probe: guest-files=no" in out and reached == own, (out, own)
    escape = " ".join(l for l in out.splitlines() if l.startswith("probe:"))
    conf = json.loads(g.sh_ok("sealpod-runbundle --spec"))
    conf["root"]["path"] = ROOTFS
    conf["process"]["args"] = ["/bin/probe", "--probe-nsroot"]
    for k in ("bounding", "effective", "permitted"):
        conf["process"]["capabilities"][k] += ["CAP_SYS_ADMIN", "CAP_SYS_CHROOT"]
    g.sh_ok(f"mkdir -p /run/nsb && printf '%s' '{json.dumps(conf)}' > /run/nsb/config.json")
    status, out = g.sh("sealpod-runbundle --allow-caps --id nsroot /run/nsb")
    assert status == 0 and "probe: entries=0" in out and "probe: guest-files=no" in out, \
        (status, out)
    return f"container mounts: {' '.join(sorted(mounts))}; escape: {escape}; setns: " + \
        " ".join(l for l in out.splitlines() if l.startswith("probe:"))


@boots(**TEST)
def test_termination_log(g):
    """GetDiagnosticData answers the container's termination log (the file bind-mounted on
    /dev/termination-log from the shared-files directory), printable text only; a termination
    log the host replaced by a symlink to a guest file is refused, not followed."""
    shared = "/run/kata-containers/shared/containers"
    g.sh_ok(f"mkdir -p {shared} && : > {shared}/c-term.log && "
            f"ln -sf /etc/sealpod/test-overlay {shared}/c-link.log")

    def diag(c, cid):
        return c.agent("GetDiagnosticData", pb.agent.GetDiagnosticDataRequest(
            container_id=cid, log_type="termination_log"))

    with client(g) as c:
        s = sh("printf 'bye\\001now' > /dev/termination-log")
        s.Mounts.add(destination="/dev/termination-log", type="bind",
                     source=f"{shared}/c-term.log", options=["rbind", "rw"])
        ok(create(c, "ct1", s), "create ct1")
        ok(c.agent("StartContainer", pb.agent.StartContainerRequest(container_id="ct1")))
        assert wait(c, "ct1") == 0
        rep = ok(diag(c, "ct1"), "GetDiagnosticData")
        data = rep.decode(pb.agent.GetDiagnosticDataResponse).data
        assert data == "bye?now", repr(data)
        remove(c, "ct1")
        assert diag(c, "ct1").code == tt.NOT_FOUND
        # The host swaps in a symlink to a guest file: the mount itself refuses it (runtime
        # setup never follows links), and so does the diagnostics call.
        s = sh("true")
        s.Mounts.add(destination="/dev/termination-log", type="bind",
                     source=f"{shared}/c-link.log", options=["rbind", "ro"])
        rep = create(c, "ct2", s)
        if rep.ok:
            rep = diag(c, "ct2")
            assert rep.code == tt.NOT_FOUND and "not a readable regular file" in rep.message, rep
            remove(c, "ct2")
        serving(c)


@boots(**TEST)
def test_exec_signals_kill_all(g):
    """ExecProcess joins a running container (its hostname, its pid namespace); SIGTERM to an
    init without a handler becomes SIGKILL; with a handler it is delivered; an empty exec_id
    with SIGKILL kills the whole cgroup."""
    with client(g) as c:
        ok(create(c, "c8", spec(["/bin/sleep", "1000"], hostname="h8")), "create c8")
        ok(c.agent("StartContainer", pb.agent.StartContainerRequest(container_id="c8")))
        proc = pb.oci.Process(Args=["/bin/sh", "-c", "hostname; echo $$; ps | wc -l"],
                              Env=["PATH=/bin"], Cwd="/")
        ok(c.agent("ExecProcess", pb.agent.ExecProcessRequest(container_id="c8", exec_id="e1",
                                                              process=proc)), "exec")
        out = read_all(c, "c8", "e1", "ReadStdout")
        assert wait(c, "c8", "e1") == 0
        lines = out.split()
        assert lines[0] == "h8" and lines[1] != "1", out
        # a long-lived exec, then kill-all takes it with the init
        proc = pb.oci.Process(Args=["/bin/sleep", "1000"], Env=["PATH=/bin"], Cwd="/")
        ok(c.agent("ExecProcess", pb.agent.ExecProcessRequest(container_id="c8", exec_id="e2",
                                                              process=proc)), "exec e2")
        ok(c.agent("SignalProcess", pb.agent.SignalProcessRequest(container_id="c8",
                                                                  exec_id="", signal=SIGKILL)))
        assert wait(c, "c8") == 128 + SIGKILL
        assert wait(c, "c8", "e2") == 128 + SIGKILL
        remove(c, "c8")
        # SIGTERM: no handler -> SIGKILL; a handler -> the handler runs
        ok(create(c, "c9", spec(["/bin/sleep", "1000"])))
        ok(c.agent("StartContainer", pb.agent.StartContainerRequest(container_id="c9")))
        ok(c.agent("SignalProcess", pb.agent.SignalProcessRequest(container_id="c9",
                                                                  exec_id="c9", signal=SIGTERM)))
        assert wait(c, "c9") == 128 + SIGKILL
        remove(c, "c9")
        ok(create(c, "c10", sh("trap 'exit 42' TERM; echo ready; while :; do sleep 1; done")))
        ok(c.agent("StartContainer", pb.agent.StartContainerRequest(container_id="c10")))
        rep = c.agent("ReadStdout", pb.agent.ReadStreamRequest(container_id="c10",
                                                               exec_id="c10", len=100))
        assert rep.decode(pb.agent.ReadStreamResponse).data == b"ready\n", rep
        ok(c.agent("SignalProcess", pb.agent.SignalProcessRequest(container_id="c10",
                                                                  exec_id="", signal=SIGTERM)))
        assert wait(c, "c10") == 42
        remove(c, "c10")


@boots(**TEST)
def test_exec_keeps_no_new_privs(g):
    """An exec never widens its container: in a container with no_new_privs, an exec that does
    not ask for it (the Go shim never sends NoNewPrivileges) runs with it all the same; in one
    without, the exec's own NoNewPrivileges is honoured."""
    script = "grep NoNewPrivs /proc/self/status"
    with client(g) as c:
        # run alone, this test sets the allow-all policy itself (the file's run did already)
        with open(os.path.join(TOP, "tests", "data", "policy", "allow-all.rego")) as f:
            c.agent("SetPolicy", pb.agent.SetPolicyRequest(policy=f.read()))
        for cid, nnp, exec_nnp, want in (("n1", True, False, "1"), ("n2", False, False, "0"),
                                         ("n3", False, True, "1")):
            ok(create(c, cid, spec(["/bin/sleep", "1000"], nnp=nnp)), f"create {cid}")
            ok(c.agent("StartContainer", pb.agent.StartContainerRequest(container_id=cid)))
            proc = pb.oci.Process(Args=["/bin/sh", "-c", script], Env=["PATH=/bin"], Cwd="/",
                                  NoNewPrivileges=exec_nnp)
            ok(c.agent("ExecProcess", pb.agent.ExecProcessRequest(container_id=cid,
                                                                  exec_id="e", process=proc)),
               f"exec in {cid}")
            out = read_all(c, cid, "e", "ReadStdout")
            assert wait(c, cid, "e") == 0 and out.split() == ["NoNewPrivs:", want], \
                (cid, nnp, exec_nnp, out)
            ok(c.agent("SignalProcess", pb.agent.SignalProcessRequest(
                container_id=cid, exec_id="", signal=SIGKILL)))
            wait(c, cid)
            remove(c, cid)


@boots(**TEST)
def test_stdin_tty_stats_seccomp_pidns(g):
    """WriteStdin/CloseStdin through cat; a terminal (pty) with TtyWinResize; StatsContainer
    from the cgroup files; a seccomp profile that denies mkdir; the sandbox's pid namespace."""
    with client(g) as c:
        # created, never started: it must not hold s1's stdin open (its EOF below)
        ok(create(c, "s0", spec(["/bin/sleep", "1000"])), "create s0")
        ok(create(c, "s1", spec(["/bin/cat"])), "create s1")
        ok(c.agent("StartContainer", pb.agent.StartContainerRequest(container_id="s1")))
        rep = c.agent("WriteStdin", pb.agent.WriteStreamRequest(container_id="s1",
                                                                exec_id="s1", data=b"hello\n"))
        assert rep.decode(pb.agent.WriteStreamResponse).len == 6, rep
        st = c.agent("StatsContainer", pb.agent.StatsContainerRequest(container_id="s1"))
        st = st.decode(pb.agent.StatsContainerResponse).cgroup_stats
        assert st.memory_stats.usage.usage > 0 and st.pids_stats.current == 1, st
        ok(c.agent("CloseStdin", pb.agent.CloseStdinRequest(container_id="s1", exec_id="s1")))
        assert read_all(c, "s1", "s1", "ReadStdout") == "hello\n"
        assert wait(c, "s1") == 0
        remove(c, "s1")
        remove(c, "s0")
        # a terminal: output through the pty master, \n becomes \r\n
        ok(create(c, "s2", sh("read x; echo got-$x; exit 5", terminal=True)), "create s2")
        ok(c.agent("StartContainer", pb.agent.StartContainerRequest(container_id="s2")))
        ok(c.agent("TtyWinResize", pb.agent.TtyWinResizeRequest(container_id="s2",
                                                                exec_id="s2", row=40,
                                                                column=100)))
        ok(c.agent("WriteStdin", pb.agent.WriteStreamRequest(container_id="s2", exec_id="s2",
                                                             data=b"yes\n")))
        out = read_all(c, "s2", "s2", "ReadStdout")
        assert "got-yes\r\n" in out, repr(out)
        assert read_all(c, "s2", "s2", "ReadStderr") == ""
        assert wait(c, "s2") == 5
        remove(c, "s2")
        # seccomp: the OCI profile denies mkdir with EPERM
        s = sh("mkdir /tmp/d; echo rc=$?", nnp=False)  # loaded while still privileged
        sec = getattr(s, "Linux_").Seccomp
        sec.DefaultAction = "SCMP_ACT_ALLOW"
        sec.Syscalls.add(Names=["mkdir", "mkdirat"], Action="SCMP_ACT_ERRNO", errnoret=1)
        status, out, err = run(c, "s3", s)
        assert out == "rc=1\n" and "Operation not permitted" in err, (out, err)
        # the sandbox's pid namespace: its pid 1 is the pause program
        status, out, _ = run(c, "s4", sh("cat /proc/1/comm"), pidns=True)
        assert out == "pause\n", out


@boots(**TEST)
def test_oom_and_pids(g):
    """A memory limit that OOM-kills, delivered by GetOOMEvent; a pids limit."""
    with client(g) as c:
        stream = c.send("grpc.AgentService", "GetOOMEvent", pb.agent.GetOOMEventRequest())
        status, _, _ = run(c, "c11", spec(["/bin/dd", "if=/dev/zero", "of=/dev/null",
                                           "bs=64M", "count=1"],
                                          resources={"Memory": 16 << 20}))
        assert status == 128 + SIGKILL, status
        ev = c.wait(stream, timeout=30).decode(pb.agent.OOMEvent)
        assert ev.container_id == "c11", ev
        status, out, err = run(c, "c12", sh("for i in 1 2 3 4 5 6; do sleep 1 & done; wait; "
                                            "echo done", resources={"Pids": 4}))
        assert "fork" in err.lower() or "resource temporarily" in err.lower(), (status, err)


@boots(**TEST)
def test_hostile_specs(g):
    """Each hostile spec is refused with a clear message, and PID 1 keeps serving."""
    g.sh_ok(f"ln -sfn /etc {ROOTFS}/evil")
    def with_ns(s):
        getattr(s, "Linux_").Namespaces.add(Type="mount", Path="/proc/1/ns/mnt")
        return s

    def with_hook(s):
        s.Hooks.Prestart.add(Path="/bin/sh")
        return s

    def with_dev(s):
        getattr(s, "Linux_").Devices.add(Path="/dev/vda", Type="b", Major=254, Minor=0)
        return s

    def with_mount(**m):
        def f(s):
            s.Mounts.add(**m)
            return s
        return f

    cases = [
        ("namespace path", with_ns, tt.INVALID_ARGUMENT, "no namespace is joined by path"),
        ("hook", with_hook, tt.INVALID_ARGUMENT, "hooks refused"),
        ("device", with_dev, tt.INVALID_ARGUMENT, "device '/dev/vda' refused"),
        ("bind of /", with_mount(destination="/host", source="/", type="bind",
                                 options=["rbind"]), tt.INVALID_ARGUMENT,
         "bind mount source '/' refused"),
        ("relative destination", with_mount(destination="tmp2", source="tmpfs", type="tmpfs"),
         tt.INVALID_ARGUMENT, "is not an absolute normalised path"),
        ("symlink escape", with_mount(destination="/evil/x", source="tmpfs", type="tmpfs"),
         tt.INTERNAL, "resolve /evil/x (at evil)"),
    ]
    with client(g) as c:
        for name, mutate, code, msg in cases:
            rep = create(c, "h1", mutate(spec(["/bin/true"])))
            assert rep.code == code and msg in rep.message, (name, rep)
        for root, msg in ((f"/run/kata-containers/{SANDBOX}/rootfs", "no rootfs was prepared"),
                          ("/", "no rootfs was prepared"),
                          ("rootfs", "is not an absolute normalised path")):
            rep = create(c, "h2", spec(["/bin/true"], root=root))
            assert rep.code == tt.INVALID_ARGUMENT and msg in rep.message, (root, rep)
        for cap in ("CAP_SYS_ADMIN", "CAP_SYS_PTRACE"):
            rep = create(c, "h3", spec(["/bin/true"], caps=[cap]))
            assert rep.code == tt.PERMISSION_DENIED and cap in rep.message, (cap, rep)
        for res, msg in (({"Memory": 4096}, "below 1 MiB"), ({"Pids": -5}, "absurd")):
            rep = create(c, "h4", spec(["/bin/true"], resources=res))
            assert rep.code == tt.INVALID_ARGUMENT and msg in rep.message, (res, rep)
        serving(c)
        status, out, _ = run(c, "h5", sh("echo still"))
        assert (status, out) == (0, "still\n"), (status, out)
    assert g.sh_ok("ls /etc/x 2>&1 || echo absent").strip().endswith("absent")
    assert g.sh_ok("ls /sys/fs/cgroup/sealpod | grep -c '^h' || true").strip() == "0"


@boots(**TEST)
def test_readonly_paths_exec_vsock_overlay(g):
    """Read-only paths refuse writes (EROFS) where the rest of a writable root accepts them; a
    process started by ExecProcess gets the AF_VSOCK denial too; and a rootfs that is an
    overlayfs mount point (what the image pull will register) works: writes land in the upper
    directory, never in the lower layer."""
    in_image(g, "/usr/bin/sealpod-tdriver", "tdriver")
    with client(g) as c:
        status, out, err = run(c, "ro1", sh("touch /x && echo root-rw; touch /etc/x; "
                                            "touch /tmp/x; echo done",
                                            readonly_paths=["/etc", "/tmp"]))
        assert status == 0 and "root-rw" in out and "done" in out, (out, err)
        assert err.count("Read-only file system") == 2, err
        s = spec(["/bin/sleep", "1000"])
        ok(create(c, "ev1", s), "create ev1")
        ok(c.agent("StartContainer", pb.agent.StartContainerRequest(container_id="ev1")))
        proc = pb.oci.Process(Args=["/bin/tdriver", "check"], Env=["PATH=/bin"], Cwd="/")
        ok(c.agent("ExecProcess", pb.agent.ExecProcessRequest(container_id="ev1", exec_id="x1",
                                                              process=proc)), "exec")
        out = read_all(c, "ev1", "x1", "ReadStdout") + read_all(c, "ev1", "x1", "ReadStderr")
        assert wait(c, "ev1", "x1") != 0 and \
            "socket for vsock:1:1024: Permission denied" in out, out
        ok(c.agent("SignalProcess", pb.agent.SignalProcessRequest(container_id="ev1",
                                                                  exec_id="", signal=SIGKILL)))
        remove(c, "ev1")
    # overlayfs rootfs through the bundle driver, which registers the bundle's rootfs path
    g.sh_ok(f"rm -f {ROOTFS}/x; mkdir -p /run/ovb/rootfs /run/ovl/upper /run/ovl/work && "
            f"mount -t overlay overlay -o lowerdir={ROOTFS},upperdir=/run/ovl/upper,"
            f"workdir=/run/ovl/work /run/ovb/rootfs")
    conf = g.sh_ok("sealpod-runbundle --spec")
    conf = conf.replace('"readonly": true', '"readonly": false').replace(
        '"/bin/true"', '"/bin/sh", "-c", "echo hi > /written && head -1 /proc/self/mountinfo"')
    assert "'" not in conf
    g.sh_ok(f"printf '%s' '{conf}' > /run/ovb/config.json".replace("\n", " "))
    status, out = g.sh("sealpod-runbundle /run/ovb")
    assert status == 0 and " overlay " in out, (status, out)
    assert g.sh_ok("cat /run/ovl/upper/written").strip() == "hi"
    assert g.sh_ok(f"test -e {ROOTFS}/written && echo leaked || echo clean").strip() == "clean"
    g.sh_ok("umount /run/ovb/rootfs")
    return out.strip()


@boots(**TEST)
def test_binds_noexec_sysctls(g):
    """What the host can write runs nothing: a program on a bind from the shared-files
    directory is refused by the kernel (noexec, whatever the options say), and "rbind" binds one
    mount: what is mounted beneath the source stays out. The spec's sysctls: one on the safe
    list is written for the whole pod (the guest's one network namespace), one off it refuses
    the container, never ignored."""
    shared = "/run/kata-containers/shared/containers"
    g.sh_ok(f"mkdir -p {shared}/nx/sub && cp /bin/busybox {shared}/nx/bb && "
            f"mount -t tmpfs nxsub {shared}/nx/sub && touch {shared}/nx/sub/below")
    was = g.sh_ok("cat /proc/sys/net/ipv4/ip_unprivileged_port_start").strip()
    try:
        s = sh("/x/bb true; echo rc=$?; ls -A /x/sub | wc -l")
        s.Mounts.add(destination="/x", type="bind", source=f"{shared}/nx",
                     options=["rbind", "rw", "exec"])
        getattr(s, "Linux_").Sysctl["net.ipv4.ip_unprivileged_port_start"] = "81"
        with client(g) as c:
            status, out, err = run(c, "nx1", s)
            assert status == 0 and out.split() == ["rc=126", "0"], (out, err)
            assert "Permission denied" in err, err
            now = g.sh_ok("cat /proc/sys/net/ipv4/ip_unprivileged_port_start").strip()
            assert now == "81", now
            s = sh("true")
            getattr(s, "Linux_").Sysctl["net.core.somaxconn"] = "8"
            rep = create(c, "nx2", s)
            assert rep.code == tt.INVALID_ARGUMENT and \
                "sysctl 'net.core.somaxconn' refused" in rep.message, rep
            serving(c)
    finally:
        g.sh(f"echo {was} > /proc/sys/net/ipv4/ip_unprivileged_port_start; "
             f"umount {shared}/nx/sub; rm -rf {shared}/nx")
    return f"exec on a bind: {err.strip()}"


@boots(**TEST)
def test_hostile_specs_more(g):
    """More hostile specs, each refused with a message naming what was wrong: a bind source
    outside the shared paths, a shared-files bind source that is a symlink to a guest file, a
    mount destination with '..', a block-device filesystem, shared propagation, a user
    namespace, uid mappings; PID 1 keeps serving."""
    shared = "/run/kata-containers/shared/containers"
    g.sh_ok(f"mkdir -p {shared} && ln -sfn /etc {shared}/etc-link")

    def with_mount(**m):
        def f(s):
            s.Mounts.add(**m)
            return s
        return f

    def with_userns(s):
        getattr(s, "Linux_").Namespaces.add(Type="user")
        return s

    def with_uidmap(s):
        getattr(s, "Linux_").UIDMappings.add(HostID=0, ContainerID=0, Size=1)
        return s

    cases = [
        ("bind /etc", with_mount(destination="/h", source="/etc", type="bind",
                                 options=["rbind"]), tt.INVALID_ARGUMENT,
         "bind mount source '/etc' refused"),
        ("dotdot destination", with_mount(destination="/tmp/../../etc", source="tmpfs",
                                          type="tmpfs"), tt.INVALID_ARGUMENT,
         "is not an absolute normalised path"),
        ("ext4 from a disk", with_mount(destination="/d", source="/dev/vda", type="ext4"),
         tt.INVALID_ARGUMENT, "filesystem type 'ext4' refused"),
        ("shared propagation", with_mount(destination="/t2", source="tmpfs", type="tmpfs",
                                          options=["rshared"]), tt.INVALID_ARGUMENT,
         "shared propagation refused"),
        ("user namespace", with_userns, tt.INVALID_ARGUMENT, "user namespace refused"),
        ("uid mappings", with_uidmap, tt.INVALID_ARGUMENT, "uid/gid mappings refused"),
    ]
    with client(g) as c:
        for name, mutate, code, msg in cases:
            rep = create(c, "hx", mutate(spec(["/bin/true"])))
            assert rep.code == code and msg in rep.message, (name, rep)
        # A bind source beneath the shared paths that is a symlink out of them: refused at
        # setup (no symlink is followed), never mounted.
        s = spec(["/bin/true"])
        s.Mounts.add(destination="/h", source=f"{shared}/etc-link", type="bind",
                     options=["rbind"])
        rep = create(c, "hy", s)
        assert not rep.ok and "bind source" in rep.message, rep
        serving(c)
        status, out, _ = run(c, "hz", sh("echo still"))
        assert (status, out) == (0, "still\n"), (status, out)


@boots(**TEST)
def test_many_containers_no_growth(g):
    """200 containers in a row: PID 1's fd count and RSS do not grow. Then 50 containers alive
    at once: PID 1's RSS with them (reported), and all of them stop and are removed cleanly."""
    def pid1():
        fds = int(g.sh_ok("ls /proc/1/fd | wc -l").strip())
        rss = int(g.sh_ok("grep VmRSS /proc/1/status").split()[1])
        return fds, rss

    with client(g) as c:
        run(c, "w0", spec(["/bin/true"]))
        fds0, rss0 = pid1()
        t0 = time.monotonic()
        for i in range(200):
            status, _, _ = run(c, f"m{i}", spec(["/bin/true"]))
            assert status == 0
        per = (time.monotonic() - t0) / 200
        fds1, rss1 = pid1()
        assert fds1 <= fds0 and rss1 <= rss0 + 256, (fds0, rss0, fds1, rss1)
        live = [f"l{i}" for i in range(50)]
        for cid in live:
            ok(create(c, cid, spec(["/bin/sleep", "600"])), f"create {cid}")
            ok(c.agent("StartContainer", pb.agent.StartContainerRequest(container_id=cid)))
        fds50, rss50 = pid1()
        for cid in live:
            ok(c.agent("SignalProcess", pb.agent.SignalProcessRequest(
                container_id=cid, exec_id="", signal=SIGKILL)), f"kill {cid}")
            assert wait(c, cid) == 128 + SIGKILL
            remove(c, cid)
        fds2, rss2 = pid1()
        serving(c)
    assert fds2 <= fds0, (fds0, fds2)
    return f"{per * 1000:.1f} ms per container over the relay; PID 1 fds {fds0}->{fds1}, " \
           f"RSS {rss0}->{rss1} kB after 200; with 50 live containers RSS {rss50} kB, " \
           f"fds {fds50}; after removing them fds {fds2}, RSS {rss2} kB"


# --- a second boot: a JSON policy with pin_process_to_image (SetPolicy closes after the first
# container, so pinning cannot share the boot above) ----------------------------------------

PIN_BOOT = dict(test=True, lifetime=600)


@boots(**PIN_BOOT)
def test_pin_process_to_image(g):
    """With pin_process_to_image, CreateContainer runs only the image configuration's process
    (registered here through the test overlay's image-config.json, as the image pull registers
    it): args = entrypoint + cmd, the image's env, its working directory, its user. Every difference is refused with
    PERMISSION_DENIED naming the field, and no env value appears in the message."""
    cfg = ('{"Entrypoint": ["/bin/sh", "-c"], "Cmd": ["echo pinned-ok; id -u; id -g"], '
           '"Env": ["PATH=/bin", "MODE=prod"], "User": "1000:1001", "WorkingDir": "/"}')
    g.sh_ok(f"printf '%s' '{cfg}' > {BUNDLE}/image-config.json")
    policy = '{"version": 1, "default": "allow", "pin_process_to_image": true}'
    args = ["/bin/sh", "-c", "echo pinned-ok; id -u; id -g"]
    env = ("PATH=/bin", "MODE=prod")
    good = dict(env=env, user=(1000, 1001, []))
    shared = "/run/kata-containers/shared/containers"
    g.sh_ok(f"mkdir -p {shared}/pin-bin")

    def bound(dest, **kw):
        s = spec(args, **good, **kw)
        s.Mounts.add(destination=dest, type="bind", source=f"{shared}/pin-bin",
                     options=["rbind", "ro"])
        return s

    # what comes back names the field, never the image's data (its cmd, entrypoint, env
    # names, user, WorkingDir)
    image_data = ("echo pinned-ok", "/bin/sh", "MODE", "1000:1001", "1001")
    cases = [
        ("cmd", spec(["/bin/sh", "-c", "cat /etc/shadow"], **good),
         "args[2] differs from the image's cmd (the policy does not allow overriding cmd)"),
        ("entrypoint", spec(["/bin/busybox", "sh", "-c", args[2]], **good),
         "args[0] differs from the image's entrypoint"),
        ("extra env", spec(args, env=env + ("LD_PRELOAD=/tmp/x.so",), user=(1000, 1001, [])),
         "env[2] is not in the image configuration"),
        ("changed env", spec(args, env=("PATH=/bin", "MODE=debug-s3cret"),
                             user=(1000, 1001, [])),
         "env: a variable of the image's is missing or has another value"),
        ("root user", spec(args, env=env), "user: the process runs as 0:0, not as the image's "
                                           "user"),
        ("extra gid", spec(args, env=env, user=(1000, 1001, [0])),
         "user: additional gid 0 is neither the process's gid nor in "
         "pin_allow_additional_gids"),
        ("cwd", spec(args, cwd="/tmp", **good),
         "cwd is not the image's WorkingDir (the policy does not allow overriding it)"),
        ("bind over the program", bound("/bin"),
         "mounts[3]: a bind at /bin covers the program's directory"),
        ("bind in the loader", bound("/etc/ld.so.preload"),
         "mounts[3]: a bind at /etc/ld.so.preload covers the program's directory or the "
         "dynamic loader's files"),
        ("bind over an image path", bound("/sys"),
         "mounts[3]: a bind at /sys covers a path the image provides"),
    ]
    with client(g) as c:
        ok(c.agent("SetPolicy", pb.agent.SetPolicyRequest(policy=policy)), "SetPolicy")
        for i, (name, s, msg) in enumerate(cases):
            rep = create(c, f"p{i}", s)
            assert rep.code == tt.PERMISSION_DENIED and msg in rep.message, (name, rep)
            assert "s3cret" not in rep.message, rep
            assert not [d for d in image_data if d in rep.message], (name, rep.message)
        # a bind where the image has nothing is fine (noexec)
        status, out, err = run(c, "pbind", bound("/data"))
        assert (status, out) == (0, "pinned-ok\n1000\n1001\n"), (status, out, err)
        status, out, err = run(c, "pgood", spec(args, **good))
        assert (status, out) == (0, "pinned-ok\n1000\n1001\n"), (status, out, err)
        # no configuration registered for the container: pinning refuses it
        g.sh_ok(f"rm {BUNDLE}/image-config.json")
        rep = create(c, "pnone", spec(args, **good))
        assert rep.code == tt.PERMISSION_DENIED and \
            "no image configuration is registered" in rep.message, rep
        serving(c)
    assert "s3cret" not in g.console()  # env values never reach the log either
