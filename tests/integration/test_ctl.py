"""sealpod-ctl against the host agent (test_agent_host.HostAgent) over a Unix socket and over a
stand-in hybrid-vsock VMM socket; and the network handlers live, in a fresh network namespace
(`unshare -n`, root only) with a veth pair, checked with `ip`.
"""
import json
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(TOP, "tests", "ttrpc"))
sys.path.insert(0, HERE)
import client as tt  # noqa: E402
import harness  # noqa: E402
import test_agent_host as hostagent  # noqa: E402

CTL = os.path.join(TOP, "build", "sealpod-ctl")
RPC_EXIT = 64  # + the status code


def build_ctl():
    r = subprocess.run(["make", "-s", "build/sealpod-ctl"], cwd=TOP, capture_output=True,
                       text=True)
    if r.returncode != 0:
        raise AssertionError("building sealpod-ctl failed:\n" + r.stderr[-2000:])
    return CTL


def ctl(addr, *args, stdin=None):
    r = subprocess.run([build_ctl(), "--addr", addr, "--timeout", "10", *args],
                       capture_output=True, text=True, input=stdin, timeout=60)
    return r.returncode, r.stdout, r.stderr


def test_ctl_check_and_version():
    with hostagent.HostAgent() as a:
        rc, out, err = ctl(f"unix://{a.path}", "check")
        assert rc == 0 and json.loads(out) == {"status": "SERVING"}, (rc, out, err)
        rc, out, err = ctl(f"unix://{a.path}", "version")
        assert rc == 0, (rc, err)
        v = json.loads(out)
        assert v["agentVersion"].startswith("sealpod "), v


def test_ctl_raw_field_names():
    """Proto names and lowerCamel JSON names are both accepted; output uses JSON names."""
    with hostagent.HostAgent() as a:
        for req in ('{"memBlockSize":true}', '{"mem_block_size":true,"memHotplugProbe":true}'):
            rc, out, err = ctl(f"unix://{a.path}", "raw", "GetGuestDetails", req)
            assert rc == 0, (rc, err)
            gd = json.loads(out)
            assert gd["agentDetails"]["version"].startswith("sealpod "), gd
            want = 0
            if os.path.exists("/sys/devices/system/memory/block_size_bytes"):
                with open("/sys/devices/system/memory/block_size_bytes") as f:
                    want = int(f.read().strip(), 16)
            assert int(gd.get("memBlockSizeBytes", 0)) == want, gd
        rc, out, err = ctl(f"unix://{a.path}", "raw", "GetGuestDetails", "-",
                           stdin='{"memBlockSize": false}')
        assert rc == 0 and "memBlockSizeBytes" not in json.loads(out), (rc, out, err)


def test_ctl_raw_errors():
    with hostagent.HostAgent() as a:
        addr = f"unix://{a.path}"
        rc, out, err = ctl(addr, "raw", "CreateContainer", "{}")
        assert rc == RPC_EXIT + tt.INVALID_ARGUMENT, (rc, err)
        assert err.strip() == ("sealpod-ctl: CreateContainer: INVALID_ARGUMENT: "
                               "container id is not valid"), err
        # A full request with maps, nested and repeated messages, enums and bytes encodes.
        spec = {"container_id": "c1", "OCI": {"Version": "1.1.0",
                "Annotations": {"io.kubernetes.cri.container-type": "sandbox"},
                "Process": {"Args": ["sh", "-c", "true"], "User": {"UID": 0}},
                "Linux_": {"Namespaces": [{"Type": "pid"}]}},
                "storages": [{"driver": "image_guest_pull", "source": "pause",
                              "fs_group": {"group_change_policy": "OnRootMismatch"}}]}
        rc, out, err = ctl(addr, "raw", "CreateContainer", json.dumps(spec))
        # decoded, past the policy, refused by the runtime's spec filter (no root.path)
        assert rc == RPC_EXIT + tt.INVALID_ARGUMENT and "root.path" in err, (rc, err)
        rc, out, err = ctl(addr, "raw", "CreateContainer", '{"nope": 1}')
        assert rc == 4 and "no field 'nope'" in err, (rc, err)
        rc, out, err = ctl(addr, "raw", "CreateContainer", '{"container_id": ')
        assert rc == 4 and "bad JSON" in err, (rc, err)
        rc, out, err = ctl(addr, "raw", "NoSuchMethod", "{}")
        assert rc == 2, (rc, err)
        # The container verbs call the runtime's methods (ExecProcess is denied first by the
        # built-in default policy); off PID 1 no container exists, and none can be created.
        rc, out, err = ctl(addr, "exec", "--id", "c1", "--exec-id", "e1", "--", "ls", "-l")
        assert rc == RPC_EXIT + tt.PERMISSION_DENIED, (rc, err)
        assert err.startswith("sealpod-ctl: ExecProcess: PERMISSION_DENIED: "), err
        # run pulls in the guest: this agent's network namespace has no route, so the pull
        # fails at its first stage and says so.
        rc, out, err = ctl(addr, "run", "--id", "c1", "--image", "busybox", "--", "echo", "hi")
        assert rc in (RPC_EXIT + tt.NOT_FOUND, RPC_EXIT + tt.FAILED_PRECONDITION,
                      RPC_EXIT + tt.UNAVAILABLE), (rc, err)
        assert "CreateContainer" in err and "pull." in err, err
        for verb in (["kill", "--id", "c1", "--signal", "9"], ["wait", "--id", "c1"],
                     ["logs", "--id", "c1"], ["stats", "--id", "c1"]):
            rc, out, err = ctl(addr, *verb)
            assert rc in (RPC_EXIT + tt.INVALID_ARGUMENT, RPC_EXIT + tt.NOT_FOUND), \
                (verb, rc, err)
        rc, out, err = ctl(addr, "raw", "UpdateInterface",
                           '{"interface": {"hwAddr": "00:00:00:00:00:00", "name": "lo"}}')
        assert rc == RPC_EXIT + tt.INVALID_ARGUMENT and "lo" in err, (rc, err)
        rc, out, err = ctl("unix:///nonexistent/agent.sock", "check")
        assert rc == 3, (rc, err)


def test_ctl_hvsock():
    """hvsock:// through a stand-in VMM socket that answers `OK <port>` and then relays."""
    with hostagent.HostAgent() as a:
        vmm = os.path.join(a.dir, "vmm.sock")
        with hostagent.StandInVMM(a.path, vmm) as v:
            rc, out, err = ctl(f"hvsock://{vmm}:1024", "check")
        assert rc == 0 and json.loads(out) == {"status": "SERVING"}, (rc, out, err)
        assert v.seen == [b"CONNECT 1024\n"], v.seen


# --- the network handlers, live in a fresh network namespace ----------------------------------

class NetnsAgent(hostagent.HostAgent):
    """The host agent, which HostAgent already starts under `unshare -n` as root: its own network
    namespace (lo down, no other link), entered by `nsenter -t PID -n` to add links and look at
    the result."""

    def ip(self, *args, check=True):
        r = subprocess.run(["nsenter", "-t", str(self.proc.pid), "-n", "ip", *args],
                           capture_output=True, text=True, timeout=20)
        if check and r.returncode != 0:
            raise AssertionError(f"ip {' '.join(args)}: {r.stderr}")
        return r.stdout


def _netns_usable():
    if os.geteuid() != 0:
        raise harness.Skip("needs root for unshare -n")
    for tool in ("unshare", "nsenter", "ip"):
        if not shutil.which(tool):
            raise harness.Skip(f"no {tool} on PATH (util-linux, iproute2)", missing=tool)
    r = subprocess.run(["unshare", "-n", "ip", "link", "add", "t0", "type", "veth", "peer",
                        "name", "t1"], capture_output=True, text=True)
    if r.returncode != 0:
        raise harness.Skip(f"no veth in this kernel: {r.stderr.strip()}")


MAC = "02:5e:a1:00:00:01"


def test_network_live_in_netns():
    """UpdateInterface by MAC (rename, MTU, v4 + v6 addresses, up), UpdateRoutes (link-scope
    before gateway, listed in the other order), AddARPNeighbors; then `ip` shows all of it."""
    _netns_usable()
    with NetnsAgent() as a:
        addr = f"unix://{a.path}"
        a.ip("link", "add", "v0", "type", "veth", "peer", "name", "v1")
        a.ip("link", "set", "v0", "address", MAC)
        a.ip("link", "set", "v1", "up")
        a.ip("addr", "add", "192.0.2.77/24", "dev", "v0")  # a stale address: replaced
        iface = {"device": "eth0", "name": "eth0", "hwAddr": MAC.upper(), "mtu": 1400,
                 "IPAddresses": [{"family": "v4", "address": "10.88.0.5", "mask": "16"},
                                 {"family": 1, "address": "fd00:88::5", "mask": "64"}]}
        rc, out, err = ctl(addr, "raw", "UpdateInterface", json.dumps({"interface": iface}))
        assert rc == 0, (rc, err, a.output())
        got = json.loads(out)
        assert got["name"] == "eth0" and got["hwAddr"] == MAC and int(got["mtu"]) == 1400, got
        assert {(x["address"], x["mask"]) for x in got["IPAddresses"]} == {
            ("10.88.0.5", "16"), ("fd00:88::5", "64")}, got
        link = a.ip("-o", "link", "show", "eth0")
        assert "mtu 1400" in link and ",UP" in link, link
        addrs = a.ip("-o", "addr", "show", "dev", "eth0")
        assert "10.88.0.5/16" in addrs and "fd00:88::5/64" in addrs, addrs
        assert "192.0.2.77" not in addrs, addrs

        routes = {"routes": {"Routes": [
            {"dest": "", "gateway": "10.88.0.1", "device": "eth0", "family": "v4"},
            {"dest": "10.99.0.0/16", "gateway": "10.88.0.1", "device": "eth0", "mtu": 1300},
            {"dest": "10.88.0.0/16", "device": "eth0", "scope": 253, "source": "10.88.0.5"},
        ]}}
        rc, out, err = ctl(addr, "raw", "UpdateRoutes", json.dumps(routes))
        assert rc == 0, (rc, err, a.output())
        got = json.loads(out)["Routes"]
        assert [r.get("dest", "") for r in got] == ["10.88.0.0/16", "", "10.99.0.0/16"], got
        shown = a.ip("-4", "route", "show")
        assert "default via 10.88.0.1 dev eth0" in shown, shown
        assert "10.99.0.0/16 via 10.88.0.1 dev eth0" in shown and "mtu 1300" in shown, shown
        assert "10.88.0.0/16 dev eth0" in shown and "src 10.88.0.5" in shown, shown

        neigh = {"neighbors": {"ARPNeighbors": [
            {"toIPAddress": {"address": "10.88.0.9"}, "device": "eth0",
             "lladdr": "02:00:00:00:00:09", "state": 128}]}}
        rc, out, err = ctl(addr, "raw", "AddARPNeighbors", json.dumps(neigh))
        assert rc == 0, (rc, err, a.output())
        shown = a.ip("neigh", "show", "dev", "eth0")
        assert "10.88.0.9 lladdr 02:00:00:00:00:09 PERMANENT" in shown, shown

        # Refusals: lo by MAC and by name, a MAC no link has, routes via lo or an unknown
        # device, a bad prefix; none of them changes anything.
        lo = {"interface": {"hwAddr": "00:00:00:00:00:00", "mtu": 1500}}
        rc, out, err = ctl(addr, "raw", "UpdateInterface", json.dumps(lo))
        assert rc == RPC_EXIT + tt.INVALID_ARGUMENT and "refusing to touch lo" in err, (rc, err)
        rc, out, err = ctl(addr, "raw", "UpdateInterface",
                           json.dumps({"interface": dict(iface, name="lo")}))
        assert rc == RPC_EXIT + tt.INVALID_ARGUMENT and "lo" in err, (rc, err)
        rc, out, err = ctl(addr, "raw", "UpdateInterface",
                           json.dumps({"interface": dict(iface, hwAddr="02:00:00:00:ff:ff")}))
        assert rc == RPC_EXIT + tt.NOT_FOUND and "Link not found" in err, (rc, err)
        rc, out, err = ctl(addr, "raw", "UpdateInterface", json.dumps({"interface": dict(
            iface, IPAddresses=[{"family": "v4", "address": "10.0.0.1", "mask": "33"}])}))
        assert rc == RPC_EXIT + tt.INVALID_ARGUMENT and "prefix" in err, (rc, err)
        rc, out, err = ctl(addr, "raw", "UpdateInterface",
                           json.dumps({"interface": dict(iface, mtu=67)}))
        assert rc == RPC_EXIT + tt.INVALID_ARGUMENT and "MTU" in err, (rc, err)
        rc, out, err = ctl(addr, "raw", "UpdateRoutes", json.dumps(
            {"routes": {"Routes": [{"dest": "10.5.0.0/16", "device": "nosuch0"}]}}))
        assert rc == RPC_EXIT + tt.NOT_FOUND and "nosuch0" in err, (rc, err)
        rc, out, err = ctl(addr, "raw", "UpdateRoutes", json.dumps(
            {"routes": {"Routes": [{"dest": "127.0.0.0/8", "device": "lo"}]}}))
        assert rc == RPC_EXIT + tt.INVALID_ARGUMENT and "lo" in err, (rc, err)
        assert "default via 10.88.0.1 dev eth0" in a.ip("-4", "route", "show")
        lo_link = a.ip("-o", "link", "show", "lo")
        assert "mtu 65536" in lo_link, lo_link
