"""Build and boot foundation: the guest boots, PID 1 serves the control port, survives bad
input, reaps orphans, refuses loopback peers when told to, and the production image boots.

Tests of one boot run in order; the ones that feed the agent bad input come after the plain
ones, and `pid1_survived` checks afterwards that PID 1 is the very process the harness recorded
when this guest booted (the runner never swaps in a fresh guest silently: a guest that died
fails the test that was running).
"""
import socket
import time

import harness
import ttrpc
from harness import boots

TEST = dict(test=True)
NO_LOOPBACK = dict(test=True, cmdline="sealpod.loopback=0")
PRODUCTION = dict(test=False)
AGENT_PORT_ONLY = dict(test=True, shell=False)


def pid1_stat(g):
    """(pid, comm, state, ppid, starttime) of PID 1."""
    raw = g.sh_ok("cat /proc/1/stat").strip()
    head, _, tail = raw.rpartition(")")
    pid, comm = head.split(" (", 1)
    f = tail.split()
    return int(pid), comm, f[0], int(f[1]), int(f[19])


def tdriver(g, args, timeout=120):
    """Run sealpod-tdriver; assert it passed, return its detail output."""
    name = args.split()[0]
    status, out = g.sh(f"sealpod-tdriver {args}", timeout)
    if status != 0 or f"PASS {name}" not in out:
        fail = [l for l in out.splitlines() if l.startswith("FAIL")] or [f"exit {status}"]
        raise AssertionError(f"{fail[0]}\n{out.strip()}")
    return "\n".join(l for l in out.splitlines() if not l.startswith("PASS"))


def no_fatal(g):
    con = g.console()
    for bad in (harness.FATAL, "Kernel panic", "Attempted to kill init"):
        assert bad not in con, f"`{bad}` on the console" + g.context()


# --- the test image, default command line --------------------------------------------------

@boots(**TEST)
def test_ready(g):
    """Boot the test image: `sealpod: ready` within 30 s (Guest enforces it); print the timeline."""
    assert g.ready_s is not None and g.ready_s <= 30, f"ready after {g.ready_s}"
    tl = g.timeline()
    assert any("sealpod: ready" in l for l in tl), "no timeline line says ready" + g.context()
    no_fatal(g)
    return (f"QEMU start -> ready: {g.ready_s:.2f} s (run-qemu start -> ready "
            f"{g.launch_ready_s:.2f} s)\n" + "\n".join(tl))


@boots(**TEST)
def test_tdriver_check(g):
    """In-guest Health/Check over vsock loopback (CID 1, port 1024) answers SERVING."""
    return tdriver(g, "check")


@boots(**TEST)
def test_relay_check(g):
    """Health/Check from the host, hand-framed, through the virtio-serial relay."""
    t0 = time.monotonic()
    with g.agent_connect() as s:
        r1 = ttrpc.health_check(s, stream=1, timeout=15)
        first = time.monotonic() - t0
        ttrpc.health_check(s, stream=3)
        # Two requests in one write: both must be answered, matched by stream id.
        s.sendall(ttrpc.check_frame(5) + ttrpc.check_frame(7))
        got = {ttrpc.read_reply(s).stream, ttrpc.read_reply(s).stream}
        assert got == {5, 7}, f"pipelined Checks answered on streams {got}"
    # A second host connection after the first hung up: the relay opens a new vsock connection.
    with g.agent_connect() as s:
        ttrpc.health_check(s, stream=1)
    return f"first reply {first * 1000:.0f} ms after connecting; raw reply {r1.body.hex()}"


@boots(**TEST)
def test_relay_fresh_connections(g):
    """Twenty host connections in a row, each sending its Check the moment it connects (as a
    shim does): every one answered. The guest driver can deliver a new connection's bytes before
    it has processed the host's port-open message, so the port still polls as hung up; a relay
    that took that for the host leaving dropped the connection with the request already passed
    on, and the reply was lost (the host saw a silent port)."""
    # Both vCPUs busy, as while the guest attests and formats its disk at pod start: the
    # driver's control-message work then runs late.
    g.sh_ok("for i in 1 2; do (end=$(($(date +%s) + 60)); "
            "while [ $(date +%s) -lt $end ]; do :; done) >/dev/null 2>&1 & done")
    time.sleep(1)  # let the relay log the hang-up of any earlier connection of this boot
    mark = "relay: host disconnected"
    base = g.console().count(mark)
    took = []
    for i in range(20):
        end = time.monotonic() + 15
        # A new connection only after the relay saw the previous one end: a virtio-serial
        # port cannot tell two host connections apart.
        while g.console().count(mark) < base + i:
            assert time.monotonic() < end, (f"the relay never logged the end of connection "
                                             f"{i}" + g.context())
            time.sleep(0.02)
        s = socket.socket(socket.AF_UNIX)
        s.connect(g.agent_path)
        t0 = time.monotonic()
        try:
            ttrpc.health_check(s, stream=1, timeout=10)
        except (OSError, ttrpc.ProtocolError) as e:
            raise AssertionError(f"connection {i}: no Check reply ({e})" + g.context())
        finally:
            s.close()
        took.append(time.monotonic() - t0)
    g._agent_closed_at = time.monotonic()
    took.sort()
    return (f"20 fresh connections answered; Check round trip median {took[10] * 1000:.0f} ms, "
            f"max {took[-1] * 1000:.0f} ms")


@boots(**TEST)
def test_relay_host_disconnect(g):
    """The relay survives a host that hangs up mid-frame, and testd does not spin meanwhile."""
    with g.agent_connect() as s:
        s.sendall(ttrpc.check_frame(1)[:7])  # half a header, then hang up
    time.sleep(0.5)
    # With the agent socket closed, testd's servers poll a hung-up port: they must sleep.
    cpu = ("cat /proc/[0-9]*/stat 2>/dev/null | "
           "awk '$2 == \"(sealpod-testd)\" {n++; s += $14 + $15} END {print n+0, s+0}'")
    nproc, before = map(int, g.sh_ok(cpu).split())
    assert nproc >= 3, f"{nproc} sealpod-testd processes, expected the supervisor, relay and shell"
    time.sleep(3)
    nproc2, after = map(int, g.sh_ok(cpu).split())
    assert nproc2 == nproc, f"sealpod-testd processes went from {nproc} to {nproc2}"
    ticks = after - before
    assert ticks < 60, f"sealpod-testd used {ticks} clock ticks in ~3 s with the host away"
    with g.agent_connect() as s:
        ttrpc.health_check(s, stream=1, timeout=15)
    return f"testd CPU while the agent port was hung up: {ticks} ticks in ~3 s"


@boots(**TEST)
def test_shell_protocol(g):
    """The test shell itself: exit codes, signals, stderr, timeouts, a host that hangs up."""
    assert g.sh("echo out; echo err >&2; exit 7") == (7, "out\nerr\n")
    assert g.sh("kill -TERM $$")[0] == 128 + 15
    assert g.sh("cat")[0] == 0, "stdin is not /dev/null"
    t0 = time.monotonic()
    status, out = g.sh("sleep 60 & sleep 60; echo never", timeout=2)
    took = time.monotonic() - t0
    assert status == 137 and "never" not in out, f"timeout gave {status}: {out!r}"
    assert took < 10, f"a 2 s timeout took {took:.1f} s"
    # A host that hangs up mid-command: the command's process group is killed.
    s = g._shell_sock()
    s.sendall(b"sleep 97; echo late\n")
    time.sleep(1)
    s.close()
    g._shell = None
    time.sleep(1.5)
    left = g.sh_ok("cat /proc/[0-9]*/cmdline 2>/dev/null | tr '\\0' ' ' | grep -c 'sleep 9[7]'; true")
    assert left.strip() == "0", f"`sleep 97` still runs after the host hung up ({left.strip()})"
    assert g.sh_ok("echo again") == "again\n"
    big = g.sh_ok("seq 1 100000 | wc -l; seq 1 30000")
    assert big.startswith("100000\n") and big.endswith("\n30000\n"), "long output mangled"
    return f"timeout kill took {took:.1f} s"


@boots(**TEST)
def test_listeners(g):
    """The only listening socket in the guest is vsock port 1024."""
    return tdriver(g, "listeners")


@boots(**TEST)
def test_concurrent(g):
    """Eight connections at once, each answered, each still usable."""
    return tdriver(g, "concurrent 8")


@boots(**TEST)
def test_malformed(g):
    """Garbage, truncated frames, wrong wire types, bad stream ids, unknown names."""
    return tdriver(g, "malformed", timeout=300)


@boots(**TEST)
def test_oversize(g):
    """4 MiB + 1 byte frame: RESOURCE_EXHAUSTED, connection stays usable."""
    return tdriver(g, "oversize", timeout=300)


@boots(**TEST)
def test_pid1_survived(g):
    """After the bad input PID 1 is the same process as when this guest booted (the harness
    recorded its identity then), still serving, with no FATAL logged."""
    now = pid1_stat(g)
    before = g.pid1_at_boot
    assert before is not None, f"the harness did not record PID 1 at boot: {g.pid1_error}"
    assert now[2] in "RS", f"PID 1 is in state {now[2]}"
    same = before == (now[0], now[1], now[3], now[4])
    assert same, f"/proc/1/stat changed since boot: {before} -> {now}"
    tdriver(g, "check")
    with g.agent_connect() as s:
        ttrpc.health_check(s, stream=1)
    no_fatal(g)
    return f"PID 1: {now}"


@boots(**TEST)
def test_reaps_orphans(g):
    """Grandchildren orphaned to PID 1 are reaped: no zombie 3 s after they exit."""
    out = g.sh_ok("for i in 1 2 3 4 5; do (sleep 1 >/dev/null 2>&1 & echo $!); done; true")
    pids = [int(x) for x in out.split()]
    assert len(pids) == 5, f"expected 5 pids, got {out!r}"
    parents = g.sh_ok("for p in " + " ".join(map(str, pids)) +
                      "; do cut -d')' -f2 /proc/$p/stat 2>/dev/null | cut -d' ' -f3; done")
    # They may already be gone on a slow guest; any still present must have been adopted by 1.
    for ppid in parents.split():
        assert ppid == "1", f"an orphan's parent is {ppid}, not PID 1 (a subreaper in the way?)"
    time.sleep(3)
    stats = g.sh_ok("cat /proc/[0-9]*/stat 2>/dev/null; true")
    zombies, alive = [], []
    for line in stats.splitlines():
        head, _, tail = line.rpartition(")")
        if not tail:
            continue
        pid = int(head.split(" (", 1)[0])
        state = tail.split()[0]
        if state == "Z":
            zombies.append(line[:80])
        if pid in pids:
            alive.append(f"{pid} {state}")
    assert not zombies, "zombies: " + "; ".join(zombies)
    assert not alive, "orphans still present: " + ", ".join(alive)
    return f"orphans {pids} reparented to 1 ({len(parents.split())} seen) and reaped"


# --- the test image as `make run` boots it: the agent port only ---------------------------

@boots(**AGENT_PORT_ONLY)
def test_relay_prompt_without_shell_port(g):
    """`make run` gives QEMU no test-shell port: the relay must still answer the host's first
    Check on its first connection within 2 s of `sealpod: ready` (it once waited 10 s for the
    missing port before opening its own, so the first Check sat silent)."""
    s = socket.socket(socket.AF_UNIX)
    s.connect(g.agent_path)
    try:
        ttrpc.health_check(s, stream=1, timeout=20)
    finally:
        s.close()
    after = time.monotonic() - g.ready_at
    assert after <= 2.0, (f"the first Check was answered {after:.1f} s after ready "
                          f"(budget 2 s)" + g.context())
    no_fatal(g)
    return f"first Check answered {after * 1000:.0f} ms after `sealpod: ready` was seen"


# --- loopback refused ----------------------------------------------------------------------

@boots(**NO_LOOPBACK)
def test_loopback_refused(g):
    """With sealpod.loopback=0 a CID 1 peer gets no reply, though the agent is listening."""
    out = tdriver(g, "loopback-refused")
    status, check_out = g.sh("sealpod-tdriver check", 60)
    assert status != 0, "sealpod-tdriver check passed although loopback is refused: " + check_out
    # The relay rides on loopback too: the host must get nothing back.
    with g.agent_connect() as s:
        s.sendall(ttrpc.check_frame(1))
        s.settimeout(3)
        try:
            data = s.recv(64)
        except socket.timeout:
            data = b""
        assert not data, f"the relay returned {data.hex()} with loopback refused"
    no_fatal(g)
    return out


# --- the production image, unchanged -------------------------------------------------------

@boots(**PRODUCTION)
def test_production_boots(g):
    """build/initramfs.img as shipped: `sealpod: ready` on the serial console, no test overlay."""
    no_fatal(g)
    con = g.console()
    assert "sealpod-testd" not in con, "the production image started sealpod-testd"
    assert "loopback (cid 1" not in con, "production accepts loopback peers" + g.context()
    tl = g.timeline()
    return f"QEMU start -> ready: {g.ready_s:.2f} s\n" + "\n".join(tl)
