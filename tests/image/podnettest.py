"""The iptables REDIRECT pod inside the QEMU guest (issue 15): the pod's containers share the
guest's network namespace, so a service mesh's init container that installs
`iptables -t nat -A OUTPUT -p tcp --dport 80 -j REDIRECT --to-ports 15001` (Istio's outbound
capture, with Debian's own iptables: tests/image/iptables_image.py) sends another container's
connection to :80 to the listener on :15001. Each variant: a listener on :15001, a client whose
connection to the port is refused before the rule, the init container that installs the rule and
exits 0, then the client again, whose bytes the listener prints. Variants: iptables-nft (Debian's
default) on IPv4, iptables-legacy on IPv4, ip6tables-nft on IPv6. CAP_NET_ADMIN (and CAP_NET_RAW,
which iptables-legacy's socket needs) beyond the default set need the policy's consent
(allow_privileged_capabilities); without it the init container is refused by name.

Run inside a fresh network namespace (QEMU's relays and the registry share it):
    unshare -n /usr/bin/python3 tests/image/podnettest.py
Prints `ok NAME` / `not ok NAME: why` and `N passed, N failed`.
"""
import json
import os
import subprocess
import sys
import tempfile
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(TOP, "tests", "integration"))
sys.path.insert(0, os.path.join(TOP, "tests", "ttrpc"))
import guesttest as G  # noqa: E402  (its PullGuest, read_all, serving)
import iptables_image  # noqa: E402
import registry as R  # noqa: E402

os.rmdir(G.WORK)  # made at its import, used only by its own main
pb, tt = G.pb, G.tt
WORK = tempfile.mkdtemp(prefix="sealpod-podnet-")
GUEST_REG = 5000
IMAGE = f"10.0.2.100:{GUEST_REG}/iptables:latest"
MESH_CAPS = ["CAP_NET_ADMIN", "CAP_NET_RAW"]
results = []


def spec(cid, args, caps=None):
    s = pb.oci.Spec(Version="1.1.0", Hostname="pod")
    s.Root.Path = f"/run/kata-containers/{cid}/rootfs"
    p = s.Process
    p.Args.extend(args)
    p.Env.extend(["PATH=/usr/sbin:/bin"])
    p.Cwd = "/"
    p.NoNewPrivileges = True
    if caps:
        for field in ("Bounding", "Effective", "Permitted"):
            getattr(p.Capabilities, field).extend(caps)
    s.Mounts.add(destination="/proc", type="proc", source="proc")
    s.Mounts.add(destination="/run", type="tmpfs", source="tmpfs", options=["mode=755"])
    s.Mounts.add(destination="/tmp", type="tmpfs", source="tmpfs", options=["mode=1777"])
    return s


def create(c, cid, args, caps=None):
    req = pb.agent.CreateContainerRequest(container_id=cid, exec_id=cid, OCI=spec(cid, args, caps))
    req.storages.add(driver="image_guest_pull", source=IMAGE,
                     mount_point=f"/run/kata-containers/{cid}/rootfs", fstype="overlay")
    return c.agent("CreateContainer", req, timeout=300)


def start(c, cid, args, caps=None):
    rep = create(c, cid, args, caps)
    assert rep.ok, f"CreateContainer {cid}: {rep}"
    assert c.agent("StartContainer", pb.agent.StartContainerRequest(container_id=cid)).ok, cid


def wait(c, cid):
    rep = c.agent("WaitProcess", pb.agent.WaitProcessRequest(container_id=cid, exec_id=cid),
                  timeout=120)
    return rep.decode(pb.agent.WaitProcessResponse).status


def run_to_end(c, cid, args, caps=None):
    """(exit status, stdout + stderr) of a container run to its end, then removed."""
    start(c, cid, args, caps)
    out = G.read_all(c, cid, "ReadStdout") + G.read_all(c, cid, "ReadStderr")
    st = wait(c, cid)
    assert c.agent("RemoveContainer", pb.agent.RemoveContainerRequest(container_id=cid)).ok
    return st, out


def redirect_round(c, tag, iptables, addr, port):
    """The listener, the refused client, the init container's rule, the redirected client."""
    listener = f"listen-{tag}"
    start(c, listener, ["/bin/nc", "-l", "-p", "15001"])
    msg = f"to-{port}-via-{tag}"
    client = ["/bin/sh", "-c", f"echo {msg} | nc {addr} {port}"]
    st, out = run_to_end(c, f"before-{tag}", client)
    assert st != 0, f"a connection to {addr}:{port} got through before any rule: {out}"
    rule = (f"{iptables} -t nat -A OUTPUT -p tcp --dport {port} -j REDIRECT --to-ports 15001"
            f" && {iptables} -t nat -S OUTPUT")
    st, out = run_to_end(c, f"init-{tag}", ["/bin/sh", "-c", rule], MESH_CAPS)
    assert st == 0, f"the init container's {iptables} failed ({st}): {out}"
    assert f"--dport {port} -j REDIRECT --to-ports 15001" in out, out
    st, out = run_to_end(c, f"after-{tag}", client)
    assert st == 0, f"the client's connection to {addr}:{port} failed ({st}): {out}"
    got = G.read_all(c, listener, "ReadStdout")
    assert got == msg + "\n", f"the listener on :15001 got {got!r}, not {msg!r}"
    assert wait(c, listener) == 0
    assert c.agent("RemoveContainer", pb.agent.RemoveContainerRequest(container_id=listener)).ok
    return out.strip() or None


def case(fn):
    try:
        r = fn()
        results.append((fn.__name__, None))
        print(f"ok {fn.__name__}" + (f": {r}" if r else ""), flush=True)
    except Exception as e:  # noqa: BLE001
        results.append((fn.__name__, e))
        print(f"not ok {fn.__name__}: {e}", flush=True)
        traceback.print_exc()


def main():
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    links = subprocess.run(["ip", "-o", "link"], stdout=subprocess.PIPE).stdout.decode()
    if len(links.splitlines()) != 1:
        sys.exit("refusing to run outside a fresh network namespace (use unshare -n)")
    pki = R.Pki(os.path.join(TOP, "build/image-test/pki"))
    reg = R.Registry(os.path.join(WORK, "reg"), pki, auth=None)
    R.push_raw(reg, "iptables", "latest", *R.image_blobs(iptables_image.iptables_layers()))
    g = G.PullGuest([f"{GUEST_REG}:{reg.port}"], test=True, mem=1024, name="podnet")
    try:
        g.start()
        g.sh_ok("ip link set eth0 up && ip addr add 10.0.2.15/24 dev eth0")
        pem = open(pki.ca).read().strip().splitlines()
        g.sh_ok("printf '%s\\n' " + " ".join(f"'{ln}'" for ln in pem) +
                " > /etc/sealpod/test-registry-ca.pem")
        c = tt.Client(g.agent_connect(), timeout=300)

        def net_admin_needs_consent():
            rep = create(c, "init-refused", ["/bin/true"], MESH_CAPS)
            assert not rep.ok and "CAP_NET_ADMIN" in str(rep), rep
            policy = {"version": 1, "default": "allow", "allow_privileged_capabilities": MESH_CAPS}
            rep = c.agent("SetPolicy", pb.agent.SetPolicyRequest(policy=json.dumps(policy)))
            assert rep.ok, rep

        def redirect_iptables_nft():
            return redirect_round(c, "nft", "iptables", "127.0.0.1", 80)

        def redirect_iptables_legacy():
            return redirect_round(c, "legacy", "iptables-legacy", "127.0.0.1", 81)

        def redirect_ip6tables_nft():
            return redirect_round(c, "nft6", "ip6tables", "::1", 82)

        for fn in (net_admin_needs_consent, redirect_iptables_nft, redirect_iptables_legacy,
                   redirect_ip6tables_nft):
            case(fn)
            G.serving(c)
    except Exception as e:  # noqa: BLE001
        results.append(("boot", e))
        print(f"not ok boot: {e}", flush=True)
        traceback.print_exc()
    finally:
        if g.alive():
            print("--- guest console (tail) ---\n" + g.console_tail(40), flush=True)
        g.poweroff()
        reg.stop()
    failed = sum(1 for _, e in results if e)
    print(f"{len(results) - failed} passed, {failed} failed")
    subprocess.run(["rm", "-rf", WORK])
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
