"""Image pulls inside the QEMU guest (issue 6): Kata's CreateContainer with an image_guest_pull
Storage, through the control port, from a TLS docker-registry and a hostile registry on host
loopback, reached through the restricted user network (`scripts/run-qemu --forward`, guestfwd to
10.0.2.100). The pulled image runs; a second container of the same image downloads nothing; every
adversarial image is refused, nothing is written outside, PID 1 keeps serving.

Run inside a fresh network namespace (QEMU's relays and the registries share it):
    unshare -n /usr/bin/python3 tests/image/guesttest.py
Prints `ok NAME` / `not ok NAME: why` and `N passed, N failed`.
"""
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(TOP, "tests", "integration"))
sys.path.insert(0, os.path.join(TOP, "tests", "ttrpc"))
import harness  # noqa: E402
import registry as R  # noqa: E402
import client as tt  # noqa: E402

pb = tt.load_protos()
WORK = tempfile.mkdtemp(prefix="sealpod-image-guest-")
GUEST_REG, GUEST_EVIL = 5000, 5001
GUEST_TOKREG, GUEST_TOKSRV = 5002, 5003  # a token-auth registry and its token service
results = []


class PullGuest(harness.Guest):
    """harness.Guest plus --forward rules (the harness has no option for them)."""

    def __init__(self, forwards, **kw):
        super().__init__(**kw)
        self.forwards = forwards

    def start(self):
        real = subprocess.Popen

        def popen(cmd, *a, **kw):
            if cmd and cmd[0] == harness.RUN_QEMU:
                for f in self.forwards:
                    cmd = cmd + ["--forward", f]
            return real(cmd, *a, **kw)

        subprocess.Popen = popen
        try:
            return super().start()
        finally:
            subprocess.Popen = real


def spec(args, root, env=("PATH=/bin",), cwd="/"):
    s = pb.oci.Spec(Version="1.1.0", Hostname="ctr")
    s.Root.Path = root
    p = s.Process
    p.Args.extend(args)
    p.Env.extend(env)
    p.Cwd = cwd
    p.NoNewPrivileges = True
    s.Mounts.add(destination="/proc", type="proc", source="proc")
    s.Mounts.add(destination="/tmp", type="tmpfs", source="tmpfs", options=["mode=1777"])
    return s


def create(c, cid, ref, args, timeout=240):
    root = f"/run/kata-containers/{cid}/rootfs"
    req = pb.agent.CreateContainerRequest(container_id=cid, exec_id=cid, OCI=spec(args, root))
    req.storages.add(driver="image_guest_pull", source=ref, mount_point=root, fstype="overlay")
    return c.agent("CreateContainer", req, timeout=timeout)


def read_all(c, cid, method):
    data = b""
    for _ in range(1000):
        rep = c.agent(method, pb.agent.ReadStreamRequest(container_id=cid, exec_id=cid, len=32768))
        chunk = rep.decode(pb.agent.ReadStreamResponse).data
        if not chunk:
            return data.decode(errors="replace")
        data += chunk
    raise AssertionError("no EOF")


def serving(c):
    rep = c.call("grpc.Health", "Check", pb.health.CheckRequest())
    assert rep.decode(pb.health.HealthCheckResponse).status == 1, rep


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
    layers = R.busybox_layers()
    R.push_raw(reg, "busybox", "latest", *R.image_blobs(layers, "gzip"))
    R.push_raw(reg, "busybox-zstd", "latest", *R.image_blobs(layers, "zstd"))
    big = R.TarBuilder().add("big.bin", "file", os.urandom(8 << 20)).bytes()
    R.push_raw(reg, "busybox-big", "latest", *R.image_blobs(layers + [big], "gzip"))
    # Bearer tokens, anonymous as on a public registry: the pod's pulls of one repository ask
    # the token service once (PID 1 keeps the token until it expires).
    ts = R.TokenServer(pki, anonymous=True, expires_in=600)
    treg = R.Registry(os.path.join(WORK, "treg"), pki, auth="token",
                      realm=f"https://10.0.2.100:{GUEST_TOKSRV}/token")
    R.push_raw(treg, "busybox", "latest", *R.image_blobs(layers, "gzip"),
               token=ts.token("busybox"))
    ev = R.EvilRegistry(pki)
    sys.path.insert(0, HERE)
    import hosttest  # the adversarial layers
    adv = hosttest.adversarial_layers()
    for name in ("dotdot", "symlink-abs", "hardlink-out", "root-symlink", "overlay-xattr"):
        ev.add_image(name, "latest", *R.image_blobs(adv[name], "gzip"))
    # a layer not in the store yet (a known diff_id would be reused without any download)
    own = R.TarBuilder().add("only-here", "file", b"wrong blob test\n").bytes()
    man, mt, blobs = R.image_blobs([own], "gzip")
    import gzip
    ev.add_image("wrongblob", "latest", man, mt, blobs)
    ev.routes[f"/v2/wrongblob/blobs/{R.sha256(blobs[0])}"] = (
        200, {}, gzip.compress(own, 1, mtime=1))
    ev.add_image("confused", "latest", man, R.OCI_INDEX, blobs)
    # policy: allowed_images pins digests (checked before any layer is fetched)
    pman, pmt, pblobs = R.image_blobs([R.TarBuilder().add("pinned", "file", b"p\n").bytes()],
                                      "gzip")
    ev.add_image("pinned", "latest", pman, pmt, pblobs)
    ev.add_image("pinned-ok", "latest", pman, pmt, pblobs)
    ev.add_image("notlisted", "latest", pman, pmt, pblobs)
    refs = [f"10.0.2.100:{GUEST_REG}/{r}:latest" for r in ("busybox", "busybox-zstd", "busybox-big")]
    refs += [f"10.0.2.100:{GUEST_TOKREG}/busybox:latest"]
    refs += [f"10.0.2.100:{GUEST_EVIL}/{r}:latest" for r in (
        "dotdot", "symlink-abs", "hardlink-out", "root-symlink", "overlay-xattr", "wrongblob",
        "confused")]
    policy = {"version": 1, "default": "allow", "allowed_images": [{"reference": r} for r in refs] + [
        {"reference": f"10.0.2.100:{GUEST_EVIL}/pinned:latest", "digest": "sha256:" + "0" * 64},
        {"reference": f"10.0.2.100:{GUEST_EVIL}/pinned-ok:latest", "digest": R.sha256(pman)}]}

    g = PullGuest([f"{GUEST_REG}:{reg.port}", f"{GUEST_EVIL}:{ev.port}",
                   f"{GUEST_TOKREG}:{treg.port}", f"{GUEST_TOKSRV}:{ts.port}"], test=True,
                  mem=1024, name="image")
    try:
        g.start()
        g.sh_ok("ip link set eth0 up && ip addr add 10.0.2.15/24 dev eth0")
        pem = open(pki.ca).read().strip().splitlines()
        g.sh_ok("printf '%s\\n' " + " ".join(f"'{ln}'" for ln in pem) +
                " > /etc/sealpod/test-registry-ca.pem")
        import json
        c = tt.Client(g.agent_connect(), timeout=300)
        rep = c.agent("SetPolicy", pb.agent.SetPolicyRequest(policy=json.dumps(policy)))
        assert rep.ok, rep

        def pull_and_run():
            t0 = time.monotonic()
            rep = create(c, "c1", f"10.0.2.100:{GUEST_REG}/busybox:latest", ["/app/hello.sh"])
            assert rep.ok, rep
            took = time.monotonic() - t0
            assert c.agent("StartContainer", pb.agent.StartContainerRequest(container_id="c1")).ok
            out = read_all(c, "c1", "ReadStdout")
            assert out == "hello from the pulled image\n", out
            st = c.agent("WaitProcess", pb.agent.WaitProcessRequest(container_id="c1", exec_id="c1"))
            assert st.decode(pb.agent.WaitProcessResponse).status == 0
            con = g.console()
            # the storage module's pod dir (tmpfs without a disk), or our own tmpfs fallback
            assert re.search(r"layers in /run/sealpod/\S+ \(tmpfs", con), g.console_tail()
            return f"pull+create {took:.1f} s"

        def second_container_downloads_nothing():
            rep = create(c, "c2", f"10.0.2.100:{GUEST_REG}/busybox:latest",
                         ["/bin/cat", "/var/cache/fresh"])
            assert rep.ok, rep
            assert c.agent("StartContainer", pb.agent.StartContainerRequest(container_id="c2")).ok
            out = read_all(c, "c2", "ReadStdout")
            assert out == "fresh\n", out
            assert "0 layers fetched (0.0 MiB), 3 reused" in g.console(), g.console_tail()
            for cid in ("c1", "c2"):
                assert c.agent("RemoveContainer",
                               pb.agent.RemoveContainerRequest(container_id=cid)).ok
            mounts = g.sh_ok("cat /proc/mounts")
            assert "/run/kata-containers/c1/rootfs" not in mounts, mounts

        def zstd_image_and_whiteouts():
            rep = create(c, "c3", f"10.0.2.100:{GUEST_REG}/busybox-zstd:latest",
                         ["/bin/sh", "-c", "ls /etc/removed-later /var/cache/old 2>&1; "
                                           "readlink /opt/abs-link"])
            assert rep.ok, rep
            assert c.agent("StartContainer", pb.agent.StartContainerRequest(container_id="c3")).ok
            out = read_all(c, "c3", "ReadStdout")
            assert "No such file" in out and "/etc/passwd" in out, out
            assert c.agent("RemoveContainer", pb.agent.RemoveContainerRequest(container_id="c3")).ok

        def check_answers_during_pull():
            """CreateContainer parks while the worker pulls; Health Check on the same connection
            is answered meanwhile (the shim's 5 s health check must never starve)."""
            root = "/run/kata-containers/c5/rootfs"
            req = pb.agent.CreateContainerRequest(container_id="c5", exec_id="c5",
                                                  OCI=spec(["/bin/true"], root))
            req.storages.add(driver="image_guest_pull", mount_point=root,
                             source=f"10.0.2.100:{GUEST_REG}/busybox-big:latest")
            t0 = time.monotonic()
            s_create = c.send("grpc.AgentService", "CreateContainer", req.SerializeToString())
            worst, checks = 0.0, 0
            while s_create not in c.pending and time.monotonic() - t0 < 120:
                t1 = time.monotonic()
                rep = c.wait(c.send("grpc.Health", "Check", pb.health.CheckRequest()
                                    .SerializeToString()), timeout=10)
                assert rep.decode(pb.health.HealthCheckResponse).status == 1, rep
                worst = max(worst, time.monotonic() - t1)
                checks += 1
                time.sleep(0.3)  # wait() keeps CreateContainer's reply in c.pending
            rep = c.wait(s_create, timeout=120)
            assert rep.ok, rep
            assert checks >= 2, f"the pull ended after {checks} checks"
            assert c.agent("RemoveContainer", pb.agent.RemoveContainerRequest(container_id="c5")).ok
            return f"{checks} Checks answered during the pull, slowest {worst * 1000:.0f} ms"

        def adversarial_images_refused():
            seen = []
            for i, name in enumerate(("dotdot", "symlink-abs", "hardlink-out", "root-symlink",
                                      "overlay-xattr", "wrongblob", "confused")):
                rep = create(c, f"bad{i}", f"10.0.2.100:{GUEST_EVIL}/{name}:latest", ["/bin/true"])
                assert not rep.ok, (name, rep)
                assert "pull." in rep.message, (name, rep.message)
                seen.append(f"{name}: {rep.message[:60]}")
                serving(c)
            out = g.sh("ls /tmp/sealpod-pwned /sealpod-pwned 2>&1; true")[1]
            assert "No such file" in out and out.count("No such file") == 2, out
            return "; ".join(seen)

        def policy_digests_before_layers():
            """allowed_images: a pinned digest that differs refuses the pull after the manifest
            and before any blob; the right digest pulls; an unlisted image fetches nothing."""
            ev.hits.clear()
            rep = create(c, "pol1", f"10.0.2.100:{GUEST_EVIL}/pinned:latest", ["/bin/true"])
            assert not rep.ok and "policy" in rep.message, rep
            # the manifest only: neither the config nor a layer
            assert not any("/blobs/" in p for p, _ in ev.hits), ev.hits
            assert any("/manifests/" in p for p, _ in ev.hits), ev.hits
            rep = create(c, "pol2", f"10.0.2.100:{GUEST_EVIL}/pinned-ok:latest", ["/bin/true"])
            assert rep.ok, rep
            assert c.agent("RemoveContainer", pb.agent.RemoveContainerRequest(container_id="pol2")).ok
            ev.hits.clear()
            rep = create(c, "pol3", f"10.0.2.100:{GUEST_EVIL}/notlisted:latest", ["/bin/true"])
            assert not rep.ok and "allowed_images" in rep.message, rep
            assert not ev.hits, ev.hits
            # a mount point outside Kata's directory is refused before anything
            root = "/etc/evil-rootfs"
            req = pb.agent.CreateContainerRequest(container_id="mp1", exec_id="mp1",
                                                  OCI=spec(["/bin/true"], root))
            req.storages.add(driver="image_guest_pull", mount_point=root,
                             source=f"10.0.2.100:{GUEST_REG}/busybox:latest")
            rep = c.agent("CreateContainer", req)
            assert not rep.ok and "mount point" in rep.message, rep
            serving(c)

        def bearer_token_once_per_repository():
            """Two containers of a token-auth registry's image: one token request in all (the
            second pull starts with the token the first ended with)."""
            ts.requests.clear()
            for cid in ("tok1", "tok2"):
                rep = create(c, cid, f"10.0.2.100:{GUEST_TOKREG}/busybox:latest", ["/bin/true"])
                assert rep.ok, rep
            assert len(ts.requests) == 1, ts.requests
            assert "scope=repository%3Abusybox%3Apull" in ts.requests[0]["path"], ts.requests
            for cid in ("tok1", "tok2"):
                assert c.agent("RemoveContainer",
                               pb.agent.RemoveContainerRequest(container_id=cid)).ok
            return "2 pulls, 1 token request"

        def sealpod_ctl_pull_and_run():
            """The standalone path: `sealpod-ctl pull`, then `run` + `logs` of the same image."""
            c.close()
            time.sleep(1.5)  # the relay notices the disconnect before the next connection
            ctl = [os.path.join(TOP, "build/sealpod-ctl"), "--addr", f"unix://{g.agent_path}",
                   "--timeout", "300"]
            ref = f"10.0.2.100:{GUEST_REG}/busybox:latest"
            for args in (["pull", "--image", ref, "--id", "p1"],
                         ["run", "--id", "r1", "--image", ref, "--", "/app/hello.sh"]):
                p = subprocess.run(ctl + args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   timeout=300)
                assert p.returncode == 0, (args, p.stdout)
                time.sleep(1.5)  # the relay carries one connection at a time
            time.sleep(1)
            p = subprocess.run(ctl + ["logs", "--id", "r1"], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, timeout=60)
            assert b"hello from the pulled image" in p.stdout, p.stdout

        for fn in (pull_and_run, second_container_downloads_nothing, zstd_image_and_whiteouts,
                   check_answers_during_pull, adversarial_images_refused, policy_digests_before_layers,
                   bearer_token_once_per_repository, sealpod_ctl_pull_and_run):
            case(fn)
    except Exception as e:  # noqa: BLE001
        results.append(("boot", e))
        print(f"not ok boot: {e}", flush=True)
        traceback.print_exc()
    finally:
        if g.alive():
            print("--- guest console (tail) ---\n" + g.console_tail(40), flush=True)
        g.poweroff()
        reg.stop()
        ev.stop()
        treg.stop()
        ts.stop()
    failed = sum(1 for _, e in results if e)
    print(f"{len(results) - failed} passed, {failed} failed")
    subprocess.run(["rm", "-rf", WORK])
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
