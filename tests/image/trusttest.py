"""Image trust in the QEMU guest (issue 17): one boot whose initdata carries a
containers-policy.json in cdh.toml's image_security_policy, and many pulls from a registry of
ours on loopback (reached through run-qemu --forward, guestfwd to 10.0.2.100), each its own
container: cosign-format signatures (tests/image/cosign_sign.py) accepted, refused (unsigned,
another key, another digest, a tag moved after signing, the default's reject) with nothing of
the image but its manifest fetched (the registry's request log), and an insecureAcceptAnything
scope.

With `kbs`, a second shape: the policy is a KBS resource named by image_security_policy_uri
(tests/kbs/kbs.py on loopback, sample evidence), and one of its keys another (keyPath
kbs:///...), both fetched after attestation for each pull.

Run inside a fresh network namespace:
    unshare -n /usr/bin/python3 tests/image/trusttest.py [kbs]
Prints `ok NAME` / `not ok NAME: why` and `N passed, N failed`.
"""
import base64
import gzip
import json
import os
import struct
import subprocess
import sys
import tempfile
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(TOP, "tests", "integration"))
sys.path.insert(0, os.path.join(TOP, "tests", "ttrpc"))
import harness  # noqa: E402
import registry as R  # noqa: E402
import cosign_sign as S  # noqa: E402
import client as tt  # noqa: E402

pb = tt.load_protos()
WORK = tempfile.mkdtemp(prefix="sealpod-image-trust-")
GUEST_REG = 5001
HOST = f"10.0.2.100:{GUEST_REG}"
ALLOW_ALL = open(os.path.join(TOP, "tests", "fuzz", "corpus", "fuzz_policy",
                              "allow-all.rego")).read()
results = []


class TrustGuest(harness.Guest):
    """harness.Guest plus run-qemu's --forward and --initdata (the harness has no option)."""

    def __init__(self, extra, **kw):
        super().__init__(**kw)
        self.extra = extra

    def start(self):
        real = subprocess.Popen

        def popen(cmd, *a, **kw):
            if cmd and cmd[0] == harness.RUN_QEMU:
                cmd = cmd + self.extra
            return real(cmd, *a, **kw)

        subprocess.Popen = popen
        try:
            return super().start()
        finally:
            subprocess.Popen = real


def initdata_disk(cdh, aa=""):
    toml = ('version = "0.1.0"\nalgorithm = "sha384"\n[data]\n'
            f'"aa.toml" = \'\'\'\n{aa}\'\'\'\n'
            f'"cdh.toml" = \'\'\'\n{cdh}\'\'\'\n"policy.rego" = \'\'\'\n{ALLOW_ALL}\'\'\'\n')
    gz = gzip.compress(toml.encode(), mtime=0)
    path = os.path.join(WORK, "initdata.img")
    with open(path, "wb") as f:
        f.write(b"initdata" + struct.pack("<Q", len(gz)) + gz)
    return path


def spec(args, root):
    s = pb.oci.Spec(Version="1.1.0", Hostname="ctr")
    s.Root.Path = root
    s.Process.Args.extend(args)
    s.Process.Env.extend(["PATH=/bin"])
    s.Process.Cwd = "/"
    s.Process.NoNewPrivileges = True
    return s


def create(c, cid, ref):
    root = f"/run/kata-containers/{cid}/rootfs"
    req = pb.agent.CreateContainerRequest(container_id=cid, exec_id=cid,
                                          OCI=spec(["/bin/true"], root))
    req.storages.add(driver="image_guest_pull", source=ref, mount_point=root, fstype="overlay")
    return c.agent("CreateContainer", req, timeout=240)


def case(fn):
    try:
        r = fn()
        results.append((fn.__name__, None))
        print(f"ok {fn.__name__}" + (f": {r}" if r else ""), flush=True)
    except Exception as e:  # noqa: BLE001
        results.append((fn.__name__, e))
        print(f"not ok {fn.__name__}: {e}", flush=True)
        traceback.print_exc()


class Images:
    """The registry's images: each repository its own image (content names it), so a pull's
    blobs are that image's alone."""

    def __init__(self, ev):
        self.ev, self.blobs = ev, {}

    def add(self, repo, marker=b""):
        tar = R.TarBuilder().add("which", "file", repo.encode() + marker + b"\n").bytes()
        man, mt, blobs = R.image_blobs([tar], "gzip")
        self.ev.add_image(repo, "latest", man, mt, blobs)
        self.blobs[repo] = [R.sha256(b) for b in blobs]
        return R.sha256(man)

    def sign(self, repo, digest, key, payload_digest=None, identity=None):
        p = S.payload(identity or f"{HOST}/{repo}", payload_digest or digest)
        man, blobs = S.sig_manifest([(p, S.sign(key, p))])
        self.ev.routes[f"/v2/{repo}/manifests/{S.sig_tag(digest)}"] = (
            200, {"Content-Type": S.MT_OCI_MANIFEST}, man)
        for d, b in blobs.items():
            self.ev.routes[f"/v2/{repo}/blobs/{d}"] = (200, {}, b)

    def add_index(self, repo):
        """An index: an arm64 entry first, then the amd64 image; the amd64 image's blobs are
        the repository's (the decoy's config is another blob)."""
        tar = R.TarBuilder().add("which", "file", b"amd64\n").bytes()
        man, mt, blobs = R.image_blobs([tar], "gzip")
        decoy, _, dblobs = R.image_blobs([tar], "gzip", arch="arm64")
        for m, bs in ((man, blobs), (decoy, dblobs)):
            self.ev.routes[f"/v2/{repo}/manifests/{R.sha256(m)}"] = (
                200, {"Content-Type": mt}, m)
            for b in bs:
                self.ev.routes[f"/v2/{repo}/blobs/{R.sha256(b)}"] = (200, {}, b)
        idx = {"schemaVersion": 2, "mediaType": R.OCI_INDEX, "manifests": [
            {"mediaType": mt, "digest": R.sha256(decoy), "size": len(decoy),
             "platform": {"architecture": "arm64", "os": "linux"}},
            {"mediaType": mt, "digest": R.sha256(man), "size": len(man),
             "platform": {"architecture": "amd64", "os": "linux"}}]}
        idxb = json.dumps(idx).encode()
        self.ev.routes[f"/v2/{repo}/manifests/latest"] = (200, {"Content-Type": R.OCI_INDEX},
                                                          idxb)
        self.blobs[repo] = [R.sha256(b) for b in blobs]
        self.decoy = R.sha256(dblobs[-1])
        return R.sha256(idxb)

    def fetched(self, repo):
        """The image's own blobs (config, layers) the guest asked for."""
        return [p for p, _ in self.ev.hits if any(p.endswith(d) for d in self.blobs[repo])]


def fresh_netns():
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    links = subprocess.run(["ip", "-o", "link"], stdout=subprocess.PIPE).stdout.decode()
    if len(links.splitlines()) != 1:
        sys.exit("refusing to run outside a fresh network namespace (use unshare -n)")


def guest_trusts_test_ca(g, pki):
    pem = open(pki.ca).read().strip().splitlines()
    g.sh_ok("printf '%s\\n' " + " ".join(f"'{ln}'" for ln in pem) +
            " > /etc/sealpod/test-registry-ca.pem")


def finish(g, stops):
    if g.alive():
        print("--- guest console (tail) ---\n" + g.console_tail(40), flush=True)
    g.poweroff()
    for s in stops:
        s()
    failed = sum(1 for _, e in results if e)
    print(f"{len(results) - failed} passed, {failed} failed")
    subprocess.run(["rm", "-rf", WORK])
    sys.exit(1 if failed else 0)


def main():
    fresh_netns()
    pki = R.Pki(os.path.join(TOP, "build/image-test/pki"))
    ev = R.EvilRegistry(pki)
    im = Images(ev)
    key, ed, other = S.new_key("ecdsa"), S.new_key("ed25519"), S.new_key("ecdsa")
    d = {r: im.add(r) for r in ("signed", "signed-ed", "unsigned", "otherkey", "otherdigest",
                                "moved", "open", "notlisted", "repo-identity")}
    im.sign("signed", d["signed"], key)
    im.sign("signed-ed", d["signed-ed"], ed)
    im.sign("otherkey", d["otherkey"], other)
    im.sign("otherdigest", d["otherdigest"], key, payload_digest=R.sha256(b"another manifest"))
    # signed, then the tag moved to a new manifest; the old signature copied to the new .sig tag
    old = d["moved"]
    d["moved"] = im.add("moved", marker=b" v2")
    im.sign("moved", d["moved"], key, payload_digest=old)
    im.sign("repo-identity", d["repo-identity"], key, identity=f"{HOST}/somewhere-else")
    # a multi-platform index (an arm64 decoy first), signed as cosign signs one: the index's
    # digest, the one the reference names
    d["index"] = im.add_index("index")
    im.sign("index", d["index"], key)

    def kd(k):
        return base64.b64encode(S.public_pem(k)).decode()

    def sig(k, ident=None):
        r = {"type": "sigstoreSigned", "keyData": kd(k)}
        r["signedIdentity"] = ident or {"type": "matchRepository"}
        return [r]
    scopes = {f"{HOST}/{r}": sig(key) for r in ("signed", "unsigned", "otherkey", "otherdigest",
                                                "moved", "repo-identity", "index")}
    scopes[f"{HOST}/signed-ed"] = sig(ed)
    scopes[f"{HOST}/open"] = [{"type": "insecureAcceptAnything"}]
    policy = json.dumps({"default": [{"type": "reject"}], "transports": {"docker": scopes}})
    cdh = f'[image]\nimage_security_policy = """{policy}"""\n'

    g = TrustGuest(["--forward", f"{GUEST_REG}:{ev.port}", "--initdata", initdata_disk(cdh)],
                   test=True, mem=1024, name="trust", ready_timeout=120)
    try:
        g.start()
        assert "image: signature policy: 9 docker scopes" in g.console(), g.console_tail()
        g.sh_ok("ip link set eth0 up && ip addr add 10.0.2.15/24 dev eth0")
        guest_trusts_test_ca(g, pki)
        c = tt.Client(g.agent_connect(), timeout=300)

        def accepted(repo):
            rep = create(c, f"ok-{repo}", f"{HOST}/{repo}:latest")
            assert rep.ok, rep
            assert im.fetched(repo), ev.hits
            assert c.agent("RemoveContainer",
                           pb.agent.RemoveContainerRequest(container_id=f"ok-{repo}")).ok

        def refused(repo, why):
            ev.hits.clear()
            rep = create(c, f"no-{repo}", f"{HOST}/{repo}:latest")
            assert not rep.ok, rep
            assert "policy.signature" in rep.message and why in rep.message, rep.message
            assert not im.fetched(repo), ev.hits
            assert any(f"/v2/{repo}/manifests/latest" in p for p, _ in ev.hits), ev.hits
            return rep.message[:150]

        def signed_ecdsa_accepted():
            accepted("signed")

        def signed_ed25519_accepted():
            accepted("signed-ed")

        def insecure_accept_anything_scope():
            accepted("open")

        def signed_index_the_guests_platform():
            ev.hits.clear()
            accepted("index")
            assert not any(p.endswith(im.decoy) for p, _ in ev.hits), ev.hits

        def unsigned_refused_no_layer_fetched():
            return refused("unsigned", "no signature")

        def another_key_refused():
            return refused("otherkey", "no signature verifies")

        def signature_for_another_digest_refused():
            return refused("otherdigest", "another manifest digest")

        def tag_moved_after_signing_refused():
            return refused("moved", "another manifest digest")

        def identity_mismatch_refused():
            return refused("repo-identity", "identity")

        def default_reject_names_it():
            return refused("notlisted", 'scope "default" requirement 0 (reject)')

        for fn in (signed_ecdsa_accepted, signed_ed25519_accepted, insecure_accept_anything_scope,
                   signed_index_the_guests_platform,
                   unsigned_refused_no_layer_fetched, another_key_refused,
                   signature_for_another_digest_refused, tag_moved_after_signing_refused,
                   identity_mismatch_refused, default_reject_names_it):
            case(fn)
    except Exception as e:  # noqa: BLE001
        results.append(("boot", e))
        print(f"not ok boot: {e}", flush=True)
        traceback.print_exc()
    finally:
        finish(g, [ev.stop])


def kbs_main():
    """The policy from the KBS: fetched after attestation, then judged like initdata's."""
    fresh_netns()
    pki = R.Pki(os.path.join(TOP, "build/image-test/pki"))
    ev = R.EvilRegistry(pki)
    im = Images(ev)
    key = S.new_key("ecdsa")
    d = {r: im.add(r) for r in ("signed", "unsigned")}
    im.sign("signed", d["signed"], key)
    # "signed" names its key by keyPath: a second KBS resource, fetched after attestation too
    policy = {"default": [{"type": "reject"}], "transports": {"docker": {
        f"{HOST}/signed": [{"type": "sigstoreSigned", "keyPath": "kbs:///default/cosign-key/k1",
                            "signedIdentity": {"type": "matchRepository"}}],
        f"{HOST}/unsigned": [{"type": "sigstoreSigned",
                              "keyData": base64.b64encode(S.public_pem(key)).decode(),
                              "signedIdentity": {"type": "matchRepository"}}]}}}
    pfile, kfile = os.path.join(WORK, "policy.json"), os.path.join(WORK, "cosign.pub")
    with open(pfile, "w") as f:
        json.dump(policy, f)
    with open(kfile, "wb") as f:
        f.write(S.public_pem(key))
    kport = R.free_port()
    klog = os.path.join(WORK, "kbs.log")
    kbs = subprocess.Popen([sys.executable, os.path.join(TOP, "tests/kbs/kbs.py"), "--port",
                            str(kport), "--log", klog, "--resource",
                            f"default/security-policy/test={pfile}", "--resource",
                            f"default/cosign-key/k1={kfile}"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    aa = '[token_configs.kbs]\nurl = "http://10.0.2.100:8080"\n'
    cdh = '[image]\nimage_security_policy_uri = "kbs:///default/security-policy/test"\n'
    g = TrustGuest(["--forward", f"{GUEST_REG}:{ev.port}", "--forward", f"8080:{kport}",
                    "--initdata", initdata_disk(cdh, aa)],
                   test=True, mem=1024, name="trust-kbs", ready_timeout=120,
                   cmdline="sealpod.ip=10.0.2.15/24 sealpod.evidence=sample")
    try:
        g.start()
        guest_trusts_test_ca(g, pki)
        c = tt.Client(g.agent_connect(), timeout=300)

        def policy_and_key_from_the_kbs_accept_signed():
            rep = create(c, "k1", f"{HOST}/signed:latest")
            assert rep.ok, rep
            assert im.fetched("signed"), ev.hits
            log = open(klog).read()
            assert "security-policy/test" in log and "cosign-key/k1" in log, log[-2000:]

        def policy_from_the_kbs_refuses_unsigned():
            ev.hits.clear()
            rep = create(c, "k2", f"{HOST}/unsigned:latest")
            assert not rep.ok and "policy.signature" in rep.message, rep
            assert "no signature" in rep.message, rep.message
            assert not im.fetched("unsigned"), ev.hits
            return rep.message[:120]

        for fn in (policy_and_key_from_the_kbs_accept_signed,
                   policy_from_the_kbs_refuses_unsigned):
            case(fn)
    except Exception as e:  # noqa: BLE001
        results.append(("boot", e))
        print(f"not ok boot: {e}", flush=True)
        traceback.print_exc()
    finally:
        finish(g, [ev.stop, kbs.terminate])


if __name__ == "__main__":
    kbs_main() if sys.argv[1:] == ["kbs"] else main()
