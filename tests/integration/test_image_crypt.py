"""Encrypted images (issue 18). On the host: images skopeo encrypted with JWE
(containers/ocicrypt) and images with Confidential Containers' key-provider packets (our test
encryptor, tests/image/crypt_image.py), pulled by the guest's pull code built as a host command,
the keys given as the KBS would give them; a missing or wrong key fails naming it and unpacks
nothing, a tampered ciphertext byte fails on the HMAC, a mixed image works
(tests/image/crypthost.py, in a fresh network and mount namespace)."""
import json
import os
import subprocess
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))


def test_image_crypt_host_jwe_and_key_provider():
    p = subprocess.run(["unshare", "-n", "-m", "/usr/bin/python3",
                        os.path.join(TOP, "tests/image/crypthost.py")],
                       cwd=TOP, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=900)
    out = p.stdout.decode(errors="replace")
    lines = [ln for ln in out.splitlines() if ln.startswith(("ok ", "not ok "))]
    if p.returncode != 0:
        raise AssertionError("; ".join(ln for ln in lines if ln.startswith("not ok"))
                             + "\n" + out[-4000:])
    return f"{len(lines)} cases: " + ", ".join(ln[3:] for ln in lines)


# --- in the guest: keys from the KBS after attestation (one boot) ------------------------------
#
# The pod owner's initdata names the test KBS and the keys the guest may fetch to decrypt layers
# (cdh.toml [sealpod] decryption_keys); the host serves a JWE image skopeo made (only its second
# layer encrypted: a mixed image), a key-provider image of our encryptor, one whose kid the KBS
# refuses and one with a flipped ciphertext byte. The pod disk is a file here: after the pulls no
# plaintext of an encrypted layer is in it, nor in the initdata disk or the console.

import secrets as _secrets  # noqa: E402

import hostile as H  # noqa: E402
from harness import boots  # noqa: E402
import crypt_image as C  # noqa: E402

JWE_URI = "kbs:///default/image-key/jwe"
KEK_URI = "kbs:///default/image-kek/k1"
REFUSED_URI = "kbs:///fault/x/refuse"
MARK = _secrets.token_hex(8)
PLAIN = {n: f"encrypted-layer-plaintext-{n}-{MARK}\n".encode() * 3
         for n in ("jwe", "aa", "refused", "tampered")}


def secret_layer(name):
    return C.tar_of([("app", None), ("app/secret.txt", PLAIN[name])])


class CryptStack(H.Stack):
    """H.Stack plus the encrypted images and the keys (made when the boot starts)."""

    def start(self):
        w = self.work
        self.priv, pub = C.rsa_keypair(w)
        self.kek = os.urandom(32)
        self.kek_file = os.path.join(w, "kek")
        with open(self.kek_file, "wb") as f:
            f.write(self.kek)
        base = H.busybox_layer()
        imgs = {}
        src = os.path.join(w, "src-jwe")
        C.write_layout(src, [base, secret_layer("jwe")])
        C.skopeo_encrypt_jwe(src, os.path.join(w, "jwe"), pub, layers=[1])
        imgs["jwe-mixed"] = C.layout_image(os.path.join(w, "jwe"))
        for name, kid, which in (("aa", KEK_URI, None), ("refused", REFUSED_URI, [1]),
                                 ("tampered", KEK_URI, [1])):
            src = os.path.join(w, "src-" + name)
            C.write_layout(src, [base, secret_layer(name)])
            man, blobs = C.read_layout(src)
            imgs[name] = C.aa_encrypt_image(man, blobs, kid, self.kek, which)
        man, mt, blobs = imgs["tampered"]
        m = json.loads(man)
        bad = bytearray(blobs[2])
        bad[len(bad) // 2] ^= 1
        m["layers"][1].update(digest=C.sha256(bytes(bad)), size=len(bad))
        imgs["tampered"] = (json.dumps(m).encode(), mt, [blobs[0], blobs[1], bytes(bad)])
        self.cipher_blobs = [b for _, _, bl in imgs.values() for b in bl]
        args = super().start()
        for name, (man, mt, blobs) in imgs.items():
            self.reg.add_image(name, "latest", man, mt, blobs)
        return args


def kbs_args(st):
    return ["--resource", f"default/image-key/jwe={st.priv}",
            "--resource", f"default/image-kek/k1={st.kek_file}"]


def initdata(st):
    keys = ", ".join(f'"{u}"' for u in (JWE_URI, KEK_URI, REFUSED_URI))
    return (f'version = "0.1.0"\nalgorithm = "sha256"\n[data]\n'
            f'"aa.toml" = \'\'\'\n[token_configs.kbs]\nurl = "http://10.0.2.100:{H.GUEST_KBS}"\n'
            f'\'\'\'\n"cdh.toml" = \'\'\'\n[sealpod]\ndecryption_keys = [{keys}]\n'
            f'registry_ca = """\n{st.ca_pem}"""\n\'\'\'\n'
            f'"policy.rego" = \'\'\'\n{{"version": 1, "default": "allow"}}\n\'\'\'\n')


POD_DISK = os.path.join(tempfile.mkdtemp(prefix="sealpod-crypt-"), "pod.img")
with open(POD_DISK, "wb") as _f:
    _f.truncate(256 << 20)  # sparse
STACK = CryptStack(images=lambda: {}, kbs=kbs_args, initdata=initdata,
                   extra=("--disk", POD_DISK))
BOOT = dict(test=True, mem=1024, lifetime=1500, ready_timeout=60,
            cmdline="sealpod.evidence=sample", extra=STACK)
SANDBOX = "csb"


def prepare(g, c):
    H.network(g)
    if not g.notes.get("sandbox"):
        root = f"/run/kata-containers/{SANDBOX}/rootfs"
        H.ok(H.create(c, SANDBOX, H.spec(["/pause"], root, proc=False),
                      [dict(driver="image_guest_pull", source="pause", mount_point=root)]),
             "create the pause sandbox")
        H.start(c, SANDBOX)
        g.notes["sandbox"] = True


def run_cat(c, cid, image):
    root = f"/run/kata-containers/{cid}/rootfs"
    rep = H.create(c, cid, H.spec(["/bin/cat", "/app/secret.txt"], root),
                   [H.pull(image, root)], timeout=400)
    if not rep.ok:
        return rep, None
    H.start(c, cid)
    out = H.read_all(c, cid)
    H.wait(c, cid)
    H.remove(c, cid)
    return rep, out


def layer_in_guest(g, name):
    hexd = C.sha256(secret_layer(name))[7:]
    return g.sh_ok(f"ls -d /run/sealpod/storage/*/{hexd} /run/sealpod/storage/{hexd} "
                   f"2>/dev/null | wc -l").strip() != "0"


@boots(**BOOT)
def test_image_crypt_guest_jwe_mixed_and_key_provider_run(g):
    """A mixed image skopeo encrypted for a JWE key and a key-provider image: the keys come
    from the KBS after attestation, both run and print the encrypted layer's plaintext."""
    with H.client(g) as c:
        prepare(g, c)
        for cid, image, name in (("cj", "jwe-mixed", "jwe"), ("ca", "aa", "aa")):
            rep, out = run_cat(c, cid, image)
            assert rep.ok, f"{image}: {rep}"
            assert out == PLAIN[name].decode(), f"{image}: {out!r}"
    return "jwe-mixed and aa ran with their keys"


@boots(**BOOT)
def test_image_crypt_guest_refused_key_and_tampered_layer(g):
    """The KBS refuses the kid: CreateContainer fails naming it; a flipped ciphertext byte fails
    on the HMAC; neither encrypted layer reaches the layer store. PID 1 keeps serving."""
    with H.client(g) as c:
        prepare(g, c)
        rep, _ = run_cat(c, "cr", "refused")
        assert not rep.ok and REFUSED_URI in rep.message, rep
        rep2, _ = run_cat(c, "ct", "tampered")
        assert not rep2.ok and "HMAC" in rep2.message, rep2
        assert H.serving(c)
    assert not layer_in_guest(g, "refused") and not layer_in_guest(g, "tampered")
    assert layer_in_guest(g, "aa"), "the store path this test looks at is wrong"
    return f"refused: {rep.message[:160]}; tampered: {rep2.message[:160]}"


@boots(**BOOT)
def test_image_crypt_guest_no_plaintext_on_host_disks(g):
    """After the pulls: the pod disk and the console hold no plaintext of an
    encrypted layer (the registry served only ciphertext)."""
    g.sh_ok("sync")
    with open(POD_DISK, "rb") as f:
        disk = f.read()
    for name, p in PLAIN.items():
        line = p.splitlines()[0]
        assert line not in disk, f"{name}'s plaintext is on the pod disk"
        assert line.decode() not in g.console(), f"{name}'s plaintext is on the console"
        for b in STACK.cipher_blobs:
            assert line not in b, "the registry served plaintext: the test proves nothing"
    return f"pod disk {len(disk) >> 20} MiB searched"
