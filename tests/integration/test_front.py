"""The control port's front-end (init/front/, issue 19 item 6 and issue 14 class 6), in the guest:
the process that reads every host byte is confined; killed in the middle of requests, PID 1 lives
on, cancels what those requests were doing exactly as a closed connection does, starts a new
front-end, and the shim's reconnection works; a 4 MiB amplification frame costs neither process
more than its bounds.

One boot with a long hotplug timeout, so that a CreateContainer can wait on a disk that never
comes while the front-end is killed.
"""
import time

import harness
from harness import boots
import test_boot as tb
import test_control_port as cp
import test_runtime as rt

tt, pb = rt.tt, rt.pb
FRONT = dict(test=True, cmdline="agent.hotplug_timeout=120")
SIGKILL = 9
ZERO = "0000000000000000"


def front_pid(g):
    """The pid of the process named sp-front (the front-end), or None."""
    out = g.sh_ok("for p in /proc/[0-9]*; do [ \"$(cat $p/comm 2>/dev/null)\" = sp-front ] "
                  "&& echo ${p#/proc/}; done; true").split()
    assert len(out) <= 1, f"more than one front-end: {out}"
    return int(out[0]) if out else None


def new_front_pid(g, old, timeout=60):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        pid = front_pid(g)
        if pid and pid != old:
            return pid
        time.sleep(0.2)
    raise AssertionError(f"no new front-end {timeout} s after {old} died" + g.context())


def status(g, pid):
    """/proc/<pid>/status as a dict."""
    out = {}
    for line in g.sh_ok(f"cat /proc/{pid}/status").splitlines():
        k, _, v = line.partition(":")
        out[k.strip()] = v.strip()
    return out


@boots(**FRONT)
def test_front_end_is_confined(g):
    """The front-end, read from /proc/<pid>/status: no capability in any set, seccomp filter
    mode (2), no_new_privs, uid and gid 65534, PID 1's child; its root is an empty directory and
    its mount and network namespaces are not PID 1's."""
    pid = front_pid(g)
    assert pid, "no process named sp-front" + g.context()
    st = status(g, pid)
    for cap in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
        assert st[cap] == ZERO, f"{cap} {st[cap]}"
    assert st["Seccomp"] == "2", st["Seccomp"]
    assert st["NoNewPrivs"] == "1", st["NoNewPrivs"]
    assert st["Uid"].split() == ["65534"] * 4 and st["Gid"].split() == ["65534"] * 4, st
    assert st["PPid"] == "1", st["PPid"]
    root = g.sh_ok(f"ls -A /proc/{pid}/root/").split()
    assert root == [], f"its root holds {root}"
    for ns in ("mnt", "net"):
        mine = g.sh_ok(f"readlink /proc/{pid}/ns/{ns}").strip()
        assert mine != g.sh_ok(f"readlink /proc/1/ns/{ns}").strip(), f"PID 1's {ns} namespace"
    with rt.client(g) as c:
        cp.check(c)
    return (f"sp-front pid {pid}: Cap* all 0, Seccomp 2, NoNewPrivs 1, uid/gid 65534, empty "
            f"root, own mnt and net namespaces")


def never_disk(mp):
    """A kata blk storage at a PCI path where no disk will come: CreateContainer waits for it."""
    return dict(driver="blk", source="1f", fstype="ext4", mount_point=mp,
                driver_options=["encryption_key=ephemeral", "create_filesystem"])


@boots(**FRONT)
def test_front_end_killed_mid_request(g):
    """With WaitProcess calls parked, a CreateContainer waiting for its disk and half a request
    frame read, the front-end is killed (SIGKILL). PID 1 is the same process afterwards, says
    how many parked calls it cancelled, undoes the waiting CreateContainer (the same id can be
    created again) and starts a new front-end; a new connection (the shim reconnecting) gets
    Check, and a WaitProcess on the container answers 137 when it is killed."""
    before = tb.pid1_stat(g)
    old = front_pid(g)
    mp = "/run/kata-containers/sandbox/storage/never"
    with rt.client(g) as c:
        cp.start_sleeper(c, "fe1")
        streams = cp.park_waits(c, "fe1", 10)
        cp.check(c)
        sid = c.send("grpc.AgentService", "CreateContainer", pb.agent.CreateContainerRequest(
            container_id="fe2", exec_id="fe2", OCI=rt.spec(["/bin/true"]),
            storages=[never_disk(mp)]))
        end = time.monotonic() + 60
        while time.monotonic() < end and "PCI path 1f" not in g.console():
            time.sleep(0.2)
        assert "PCI path 1f" in g.console(), "the CreateContainer is not waiting" + g.context()
        body = c.request_body("grpc.Health", "Check", b"", 0)
        c.send_raw(c.frame(c.next_stream, body)[:12])  # a header and 2 bytes of the body
        g.sh_ok(f"kill -9 {old}")
        try:
            rep = c.read_frame(timeout=30)
            raise AssertionError(f"an answer after the front-end died: {rep}")
        except (ConnectionError, OSError):
            pass
        early = [s for s in streams + [sid] if s in c.pending]
        assert not early, f"answered before the kill: {early}"
    new = new_front_pid(g, old)
    con = g.console()
    assert "front-end gone" in con and "11 parked calls cancelled" in con, g.context()
    assert "CreateContainer fe2 abandoned" in con, g.context()
    with rt.client(g) as c:  # the shim reconnects
        cp.check(c)
        # The waiting create was undone: the id is free (now without the disk that never comes).
        rt.ok(rt.create(c, "fe2", rt.spec(["/bin/true"])), "create fe2 again")
        rt.remove(c, "fe2")
        s = cp.park_waits(c, "fe1", 1)[0]
        rt.ok(c.agent("SignalProcess", pb.agent.SignalProcessRequest(
            container_id="fe1", exec_id="fe1", signal=SIGKILL)), "kill fe1")
        st = c.wait(s, timeout=60).decode(pb.agent.WaitProcessResponse).status
        assert st == 128 + SIGKILL, st
        rt.remove(c, "fe1")
    now = tb.pid1_stat(g)
    assert (before[0], before[1], before[4]) == (now[0], now[1], now[4]), (before, now)
    tb.no_fatal(g)
    return f"front-end {old} killed, {new} started; PID 1 {now}"


@boots(**FRONT)
def test_front_end_memory_bounded_on_an_amplification_frame(g):
    """Issue 14's 4 MiB CreateContainer frame of two million empty storages: RESOURCE_EXHAUSTED
    from the front-end's decoding budget; PID 1's VmHWM grows by less than 8 MiB (it never sees
    the frame), the front-end's stays under 64 MiB, the front-end survives and Check answers."""
    hwm = lambda pid: int(status(g, pid)["VmHWM"].split()[0])  # noqa: E731
    front = front_pid(g)
    p1_before, fe_before = hwm(1), hwm(front)
    head = b"\x0a\x03amp\x12\x03amp"
    n = ((4 << 20) - 200 - len(head)) // 2
    with rt.client(g) as c:
        body = c.request_body("grpc.AgentService", "CreateContainer", head + b"\x2a\x00" * n, 0)
        sid = c.next_stream
        c.next_stream += 2
        c.send_raw(c.frame(sid, body))
        rep = c.wait(sid, timeout=300)
        assert rep.code == tt.RESOURCE_EXHAUSTED, rep
        assert "more than 16 MiB to decode" in rep.message, rep
        cp.check(c)
    p1_grown, fe_peak = (hwm(1) - p1_before) // 1024, hwm(front) // 1024
    assert front_pid(g) == front, "the front-end was replaced"
    assert p1_grown < 8, f"PID 1's VmHWM grew by {p1_grown} MiB"
    assert fe_peak < 64, f"the front-end's VmHWM is {fe_peak} MiB"
    return (f"{n} empty storages: {rep.message!r}; PID 1 VmHWM +{p1_grown} MiB, front-end "
            f"VmHWM {fe_peak} MiB (from {fe_before // 1024} MiB)")
