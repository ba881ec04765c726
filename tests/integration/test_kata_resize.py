"""In-place pod resize (UpdateContainer), the network listings (ListInterfaces, ListRoutes) and
the iptables RPCs refused by name, in the guest (issue 15).

Each resize test asserts the effect inside the container: the limits the container reads in
its own cgroup namespace after the update, and an allocation that fits the old memory.max and
is OOM-killed under the new one. The fixture tests replay tests/data/kata-requests/
resize.{go,runtime-rs}.json call by call (kata_replay.py) with a lowered memory limit; the first
test drives the same UpdateContainer directly, with a container of its own.
"""
import os
import sys
import time

import harness
from harness import boots

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import kata_replay as kp  # noqa: E402

tt = kp.tt
pb = tt.load_protos()
TEST = dict(test=True)
ROOTFS = kp.BUNDLE_ROOTFS
MIB = 1 << 20
MEM_OLD, MEM_NEW = 128 * MIB, 48 * MIB
ALLOC = "64M"  # fits MEM_OLD, not MEM_NEW

# The container's side: its limits before, one allocation under the old limit, then (once
# memory.max shows the new limit) its limits after and the same allocation again; then it
# sleeps until the shim stops it (the test waits for that sleep before the stop is replayed).
SCRIPT = (
    "cd /sys/fs/cgroup; "
    "echo before $(cat memory.max) $(tr ' ' _ < cpu.max) $(cat cpu.weight) $(cat pids.max); "
    f"dd if=/dev/zero of=/dev/null bs={ALLOC} count=1 2>/dev/null; echo alloc-before $?; "
    f"i=0; while [ \"$(cat memory.max)\" != {MEM_NEW} ] && [ $i -lt 1200 ]; do "
    "sleep 0.1; i=$((i+1)); done; "
    "echo after $(cat memory.max) $(tr ' ' _ < cpu.max) $(cat cpu.weight) $(cat pids.max); "
    f"dd if=/dev/zero of=/dev/null bs={ALLOC} count=1 2>/dev/null; echo alloc-after $?; "
    "echo oom $(sed -n 's/^oom_kill //p' memory.events); exec sleep 3600")


def weight(shares):
    return 1 + (shares - 2) * 9999 // 262142


def check_output(out, before, after):
    """out: the script's lines; before/after: (memory.max, cpu.max, cpu.weight, pids.max)."""
    want = [f"before {' '.join(before)}", "alloc-before 0",
            f"after {' '.join(after)}", "alloc-after 137"]
    assert out[:4] == want, f"\n  have {out}\n  want {want}"
    assert len(out) > 4 and out[4].startswith("oom ") and int(out[4].split()[1]) >= 1, out


def script_done(g, cid, timeout=120):
    """Waits until the container's only process is the script's final `sleep 3600`: every
    line it prints has been written by then."""
    probe = (f"cd /sys/fs/cgroup/sealpod/{cid} && set -- $(cat cgroup.procs) && [ $# = 1 ] && "
             "tr '\\0' ' ' < /proc/$1/cmdline")
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        status, out = g.sh(probe)
        if status == 0 and out.strip() == "sleep 3600":
            return
        time.sleep(0.3)
    raise AssertionError(f"the script never reached its final sleep: {g.sh(probe)}")


def stats(c, cid):
    return c.agent("StatsContainer", pb.agent.StatsContainerRequest(container_id=cid),
                   pb.agent.StatsContainerResponse).cgroup_stats.memory_stats.usage


def settled_after_alloc(c, cid, timeout=120):
    """Waits until the container's first allocation is over (peak above it, usage back low),
    so that the resize cannot land while it still holds the memory."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        u = stats(c, cid)
        if u.max_usage >= 64 * MIB and u.usage < 32 * MIB:
            return
        time.sleep(0.2)
    raise AssertionError(f"the first allocation never finished: {stats(c, cid)}")


# --- UpdateContainer, driven directly -----------------------------------------------------------

def resources(mem, shares, quota, pids=None):
    r = pb.oci.LinuxResources()
    r.Memory.Limit, r.Memory.Swap = mem, mem
    r.CPU.Shares, r.CPU.Quota, r.CPU.Period = shares, quota, 100000
    r.Devices.add(Allow=False, Access="rwm")  # containerd's deny-all rule, in every update
    if pids is not None:
        r.Pids.Limit = pids
    return r


def read_until(c, cid, text, timeout=120):
    data, end = b"", time.monotonic() + timeout
    while text.encode() not in data and time.monotonic() < end:
        rep = c.agent("ReadStdout", pb.agent.ReadStreamRequest(container_id=cid, exec_id=cid,
                                                              len=32768), timeout=timeout)
        chunk = rep.decode(pb.agent.ReadStreamResponse).data
        if not chunk:
            break
        data += chunk
    return data


@boots(**TEST)
def test_update_container_in_guest(g):
    """UpdateContainer lowers memory.max, sets cpu.max, cpu.weight and pids.max of a running
    container; its next allocation is OOM-killed (GetOOMEvent names it); a bad value and an
    unknown container are refused with what is wrong."""
    with tt.Client(g.agent_connect(), timeout=120) as c:
        oom = c.send("grpc.AgentService", "GetOOMEvent", pb.agent.GetOOMEventRequest())
        s = pb.oci.Spec(Version="1.1.0", Hostname="rz")
        s.Root.Path = ROOTFS
        s.Process.Args.extend(["/bin/sh", "-c", SCRIPT])
        s.Process.Env.append("PATH=/bin:/usr/bin")
        s.Process.Cwd = "/"
        s.Mounts.add(destination="/proc", type="proc", source="proc")
        s.Mounts.add(destination="/sys", type="sysfs", source="sysfs", options=["ro"])
        s.Mounts.add(destination="/sys/fs/cgroup", type="cgroup", source="cgroup",
                     options=["ro"])
        getattr(s, "Linux_").Resources.CopyFrom(resources(MEM_OLD, 256, 50000))
        req = pb.agent.CreateContainerRequest(container_id="rz1", exec_id="rz1", OCI=s)
        assert c.agent("CreateContainer", req).ok
        assert c.agent("StartContainer", pb.agent.StartContainerRequest(container_id="rz1")).ok
        head = read_until(c, "rz1", "alloc-before")
        settled_after_alloc(c, "rz1")
        bad = c.agent("UpdateContainer", pb.agent.UpdateContainerRequest(
            container_id="rz1", resources=resources(MEM_NEW, 1, 100000)))
        assert bad.code == tt.INVALID_ARGUMENT and "cpu shares 1" in bad.message, bad
        rep = c.agent("UpdateContainer", pb.agent.UpdateContainerRequest(
            container_id="rz1", resources=resources(MEM_NEW, 512, 100000, pids=64)))
        assert rep.ok and rep.payload == b"", rep
        none = c.agent("UpdateContainer", pb.agent.UpdateContainerRequest(
            container_id="nosuch", resources=resources(MEM_NEW, 512, 100000)))
        assert none.code == tt.NOT_FOUND and "nosuch" in none.message, none
        rest = head + read_until(c, "rz1", "oom ")
        ev = c.wait(oom, timeout=30).decode(pb.agent.OOMEvent)
        assert ev.container_id == "rz1", ev
        c.agent("SignalProcess", pb.agent.SignalProcessRequest(container_id="rz1", signal=9))
        c.agent("WaitProcess", pb.agent.WaitProcessRequest(container_id="rz1", exec_id="rz1"))
        assert c.agent("RemoveContainer", pb.agent.RemoveContainerRequest(container_id="rz1")).ok
    out = rest.decode(errors="replace").splitlines()
    check_output(out, (str(MEM_OLD), "50000_100000", str(weight(256)), "max"),
                 (str(MEM_NEW), "100000_100000", str(weight(512)), "64"))
    return f"{out[0]} -> {out[2]}; {out[3]}"


# --- ListInterfaces, ListRoutes, GetIPTables, SetIPTables ---------------------------------------

@boots(**TEST)
def test_list_interfaces_and_routes(g):
    """ListInterfaces answers every link of the guest (sysfs's list) with its MAC, MTU and
    addresses; ListRoutes the main table's routes with device, source, scope and MTU. The
    iptables RPCs are refused by name, saying why."""
    g.sh_ok("ip addr add 10.9.0.1/24 dev lo && "
            "ip route add 10.8.0.0/16 dev lo src 10.9.0.1 mtu 1400")
    names = set(g.sh_ok("ls /sys/class/net").split())
    lo_mtu = int(g.sh_ok("cat /sys/class/net/lo/mtu"))
    with tt.Client(g.agent_connect(), timeout=60) as c:
        ifs = c.agent("ListInterfaces", pb.agent.ListInterfacesRequest(),
                      pb.agent.Interfaces).Interfaces
        routes = c.agent("ListRoutes", pb.agent.ListRoutesRequest(), pb.agent.Routes).Routes
        get = c.agent("GetIPTables", pb.agent.GetIPTablesRequest())
        put = c.agent("SetIPTables", pb.agent.SetIPTablesRequest(data=b"*filter\nCOMMIT\n"))
    assert {i.name for i in ifs} == names, (ifs, names)
    lo = [i for i in ifs if i.name == "lo"][0]
    assert lo.hwAddr == "00:00:00:00:00:00" and lo.mtu == lo_mtu, lo
    addrs = {(a.address, a.mask, a.family) for a in lo.IPAddresses}
    assert ("127.0.0.1", "8", 0) in addrs and ("10.9.0.1", "24", 0) in addrs, addrs
    mine = [r for r in routes if r.dest == "10.8.0.0/16"]
    assert len(mine) == 1, routes
    r = mine[0]
    assert (r.device, r.source, r.mtu, r.scope, r.gateway) == ("lo", "10.9.0.1", 1400, 253, ""), r
    assert all(r.dest for r in routes), routes
    for rep, name in ((get, "GetIPTables"), (put, "SetIPTables")):
        assert rep.code == tt.UNIMPLEMENTED and f"{name} refused" in rep.message and \
            "iptables" in rep.message, rep
    return f"{len(ifs)} links, {len(routes)} routes; {get.message}"


# --- the resize fixtures ---------------------------------------------------------------------------

def resize_pod(g, shim):
    fx = kp.load("resize", shim, APP_ARGS=["/bin/sh", "-c", SCRIPT], MEM_LIMIT=MEM_OLD,
                 MEM_LIMIT_NEW=MEM_NEW)
    v = fx.values
    cid = v["CID"]
    with tt.Client(g.agent_connect(), timeout=120) as c:
        r = kp.Replay(c, fx)
        # Up to the resize; the container's first allocation must be over before it lands.
        r.run(stop=kp.before("UpdateContainer"))
        settled_after_alloc(c, cid)
        # The resize, then the stop once the script is done (the shim stops a pod later).
        r.run(stop=kp.before("SignalProcess", containerId=cid))
        script_done(g, cid)
        r.run()
    assert r.reply(r.calls("UpdateContainer")[0].step).ok
    out = r.output(cid).decode(errors="replace").splitlines()
    check_output(out, (str(MEM_OLD), f"{v['CPU_QUOTA']}_100000", str(weight(v["CPU_SHARES"])),
                       "max"),
                 (str(MEM_NEW), f"{v['CPU_QUOTA_NEW']}_100000",
                  str(weight(v["CPU_SHARES_NEW"])), "max"))
    kp.end_pod(g, r, shim)
    return f"{out[2]}; {out[3]}; {r.summary()}"


@harness.ends_guest
@boots(**TEST)
def test_kata_replay_resize_go(g):
    """resize, Go shim: the pod's calls replayed; UpdateContainer lowers memory.max from
    128 MiB to 48 MiB and raises cpu.max and cpu.weight; the container reads the new limits and
    its 64 MiB allocation, which passed before, is OOM-killed."""
    return resize_pod(g, "go")


@harness.ends_guest
@boots(**TEST)
def test_kata_replay_resize_runtime_rs(g):
    """resize, runtime-rs: the same effects; the pod ends without DestroySandbox."""
    return resize_pod(g, "runtime-rs")
