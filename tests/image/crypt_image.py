"""Encrypted OCI images for the tests of issue 18.

- JWE: an OCI layout encrypted by skopeo (`skopeo copy --encryption-key jwe:pub.pem`, which uses
  containers/ocicrypt), the independent producer.
- Key provider: our own small encryptor of Confidential Containers' annotation packet
  (org.opencontainers.image.enc.keys.provider.attestation-agent): AES-256-CTR + HMAC-SHA256 over
  the layer as ocicrypt does it, the private options sealed with AES-256-GCM under a KEK that the
  KBS holds as `kid`.

`python3 tests/image/crypt_image.py fixtures DIR` writes the unit tests' fixtures
(tests/data/ocicrypt/, README there says what each file is).
"""
import base64
import gzip
import hashlib
import hmac
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

ANN_JWE = "org.opencontainers.image.enc.keys.jwe"
ANN_AA = "org.opencontainers.image.enc.keys.provider.attestation-agent"
ANN_PUB = "org.opencontainers.image.enc.pubopts"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def sha256(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()


def b64(b):
    return base64.b64encode(b).decode()


def rsa_keypair(d):
    """(private PEM path, public PEM path) of a fresh RSA-2048 key in d."""
    k = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    priv = os.path.join(d, "priv.pem")
    pub = os.path.join(d, "pub.pem")
    with open(priv, "wb") as f:
        f.write(k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()))
    with open(pub, "wb") as f:
        f.write(k.public_key().public_bytes(serialization.Encoding.PEM,
                                            serialization.PublicFormat.SubjectPublicKeyInfo))
    return priv, pub


def tar_of(files):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, data in files:
            ti = tarfile.TarInfo(name)
            ti.mtime, ti.mode = 1700000000, 0o755
            if data is None:
                ti.type = tarfile.DIRTYPE
                t.addfile(ti)
            else:
                ti.size = len(data)
                t.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def write_layout(layout, layers, cmd=("/bin/sh",)):
    """An OCI layout (tag latest) of raw tars, each gzip'd; returns the manifest dict."""
    if os.path.exists(layout):
        shutil.rmtree(layout)
    os.makedirs(os.path.join(layout, "blobs", "sha256"))

    def put(b):
        with open(os.path.join(layout, "blobs", "sha256", sha256(b)[7:]), "wb") as f:
            f.write(b)
        return sha256(b)

    descs, diff_ids = [], []
    for t in layers:
        g = gzip.compress(t, 6, mtime=0)
        descs.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                      "digest": put(g), "size": len(g)})
        diff_ids.append(sha256(t))
    cfg = json.dumps({"architecture": "amd64", "os": "linux",
                      "config": {"Env": ["PATH=/bin"], "Cmd": list(cmd), "WorkingDir": "/"},
                      "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()
    man = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
           "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                      "digest": put(cfg), "size": len(cfg)}, "layers": descs}
    mb = json.dumps(man).encode()
    put(mb)
    with open(os.path.join(layout, "oci-layout"), "w") as f:
        f.write('{"imageLayoutVersion":"1.0.0"}')
    with open(os.path.join(layout, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": [
            {"mediaType": OCI_MANIFEST, "digest": sha256(mb), "size": len(mb),
             "annotations": {"org.opencontainers.image.ref.name": "latest"}}]}, f)
    return man


def read_layout(layout):
    """(manifest dict, {digest: bytes}) of the layout's only image."""
    with open(os.path.join(layout, "index.json")) as f:
        idx = json.load(f)
    d = idx["manifests"][0]["digest"]

    def blob(dg):
        with open(os.path.join(layout, "blobs", "sha256", dg[7:]), "rb") as f:
            return f.read()

    man = json.loads(blob(d))
    blobs = {man["config"]["digest"]: blob(man["config"]["digest"])}
    for l in man["layers"]:
        blobs[l["digest"]] = blob(l["digest"])
    return man, blobs


def layout_image(layout):
    """(manifest bytes as stored, media type, [config, layers...]) of the layout's image: what
    a registry serves for it."""
    with open(os.path.join(layout, "index.json")) as f:
        d = json.load(f)["manifests"][0]["digest"]
    with open(os.path.join(layout, "blobs", "sha256", d[7:]), "rb") as f:
        mb = f.read()
    man, blobs = read_layout(layout)
    return mb, OCI_MANIFEST, [blobs[man["config"]["digest"]]] + [blobs[l["digest"]]
                                                                 for l in man["layers"]]


def skopeo_encrypt_jwe(src, dst, pub_pem, layers=None):
    """skopeo (ocicrypt) encrypts src into dst for pub_pem; layers: the indexes to encrypt
    (None: all)."""
    if os.path.exists(dst):
        shutil.rmtree(dst)
    cmd = ["skopeo", "copy", "-q", "--encryption-key", f"jwe:{pub_pem}"]
    for i in layers or []:
        cmd += ["--encrypt-layer", str(i)]
    cmd += [f"oci:{src}:latest", f"oci:{dst}:latest"]
    subprocess.run(cmd, check=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return read_layout(dst)


def ctr_hmac(plain, key, nonce):
    """ocicrypt's AES_256_CTR_HMAC_SHA256: (ciphertext, HMAC of the ciphertext)."""
    enc = Cipher(algorithms.AES(key), modes.CTR(nonce)).encryptor()
    ct = enc.update(plain) + enc.finalize()
    return ct, hmac.new(key, ct, hashlib.sha256).digest()


def aa_encrypt_layer(blob, media_type, kid, kek):
    """Our key-provider encryptor: (ciphertext, new descriptor fields) for one layer blob."""
    key, nonce = os.urandom(32), os.urandom(16)
    ct, mac = ctr_hmac(blob, key, nonce)
    priv = json.dumps({"symkey": b64(key), "digest": sha256(blob),
                       "cipheroptions": {"nonce": b64(nonce)}}).encode()
    iv = os.urandom(12)
    packet = {"kid": kid, "wrapped_data": b64(AESGCM(kek).encrypt(iv, priv, None)),
              "iv": b64(iv), "wrap_type": "A256GCM"}
    pub = {"cipher": "AES_256_CTR_HMAC_SHA256", "hmac": b64(mac), "cipheroptions": {}}
    ann = {ANN_AA: b64(json.dumps(packet).encode()), ANN_PUB: b64(json.dumps(pub).encode())}
    return ct, {"mediaType": media_type + "+encrypted", "digest": sha256(ct), "size": len(ct),
                "annotations": ann}


def aa_encrypt_image(man, blobs, kid, kek, which=None):
    """(manifest bytes, media type, [blobs]) with the layers in which (None: all) encrypted."""
    man = json.loads(json.dumps(man))
    out = [blobs[man["config"]["digest"]]]
    for i, l in enumerate(man["layers"]):
        b = blobs[l["digest"]]
        if which is None or i in which:
            b, desc = aa_encrypt_layer(b, l["mediaType"], kid, kek)
            man["layers"][i] = desc
        out.append(b)
    return json.dumps(man).encode(), OCI_MANIFEST, out


def fixtures(d):
    """The unit tests' fixtures: an RSA key, one layer skopeo encrypted for it, and the same
    layer sealed by our key-provider encryptor under a fixed test KEK."""
    os.makedirs(d, exist_ok=True)
    with tempfile.TemporaryDirectory() as td:
        priv, pub = rsa_keypair(td)
        shutil.copy(priv, os.path.join(d, "jwe-priv.pem"))
        layer = tar_of([("hello", None), ("hello/world.txt", b"hello, encrypted world\n")])
        write_layout(os.path.join(td, "src"), [layer])
        man, blobs = skopeo_encrypt_jwe(os.path.join(td, "src"), os.path.join(td, "dst"), pub)
        l = man["layers"][0]
        with open(os.path.join(d, "jwe-layer.bin"), "wb") as f:
            f.write(blobs[l["digest"]])
        with open(os.path.join(d, "jwe-layer.json"), "w") as f:
            json.dump({"descriptor": l, "diff_id": sha256(layer)}, f, indent=1)
        kek = bytes(range(32))
        src_man, src_blobs = read_layout(os.path.join(td, "src"))
        sl = src_man["layers"][0]
        ct, desc = aa_encrypt_layer(src_blobs[sl["digest"]], sl["mediaType"],
                                    "kbs:///default/image-kek/layer1", kek)
        with open(os.path.join(d, "aa-layer.bin"), "wb") as f:
            f.write(ct)
        with open(os.path.join(d, "aa-layer.json"), "w") as f:
            json.dump({"descriptor": desc, "diff_id": sha256(layer), "kek_hex": kek.hex()}, f,
                      indent=1)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "fixtures":
        fixtures(sys.argv[2])
    else:
        sys.exit("usage: crypt_image.py fixtures DIR")
