#!/usr/bin/python3
"""A small signer in cosign's published registry format, on python3-cryptography: the
simple-signing payload (critical.identity.docker-reference, critical.image.docker-manifest-digest,
critical.type), its signature (ECDSA P-256 over SHA-256, DER; or Ed25519) in base64 in the
layer annotation dev.cosignproject.cosign/signature, and the OCI manifest stored under the tag
sha256-<hex>.sig of the signed manifest's repository.

  cosign_sign.py fixtures DIR    writes the unit tests' fixtures (tests/data/trust/)
"""
import base64
import hashlib
import json
import os
import sys

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

MT_SIMPLESIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
MT_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
ANNOTATION = "dev.cosignproject.cosign/signature"


def new_key(kind="ecdsa"):
    return ec.generate_private_key(ec.SECP256R1()) if kind == "ecdsa" \
        else ed25519.Ed25519PrivateKey.generate()


def public_pem(key):
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)


def payload(docker_reference, manifest_digest):
    # cosign writes the critical section with these three members and an optional section
    return json.dumps({"critical": {"identity": {"docker-reference": docker_reference},
                                    "image": {"docker-manifest-digest": manifest_digest},
                                    "type": "cosign container image signature"},
                       "optional": None}, separators=(",", ":")).encode()


def sign(key, data):
    if isinstance(key, ec.EllipticCurvePrivateKey):
        sig = key.sign(data, ec.ECDSA(hashes.SHA256()))
    else:
        sig = key.sign(data)
    return base64.b64encode(sig).decode()


def sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def sig_tag(manifest_digest):
    return manifest_digest.replace(":", "-") + ".sig"


def sig_manifest(signed):
    """signed: [(payload bytes, base64 signature)] -> (manifest bytes, {digest: blob})."""
    config = json.dumps({"architecture": "", "os": "", "rootfs": {"type": "layers",
                         "diff_ids": [sha256(p) for p, _ in signed]}}).encode()
    blobs = {sha256(config): config}
    layers = []
    for p, s in signed:
        blobs[sha256(p)] = p
        layers.append({"mediaType": MT_SIMPLESIGNING, "size": len(p), "digest": sha256(p),
                       "annotations": {ANNOTATION: s}})
    man = {"schemaVersion": 2, "mediaType": MT_OCI_MANIFEST,
           "config": {"mediaType": MT_OCI_CONFIG, "size": len(config), "digest": sha256(config)},
           "layers": layers}
    return json.dumps(man).encode(), blobs


def fixtures(out):
    os.makedirs(out, exist_ok=True)
    digest = sha256(b"the signed manifest")
    other = sha256(b"another manifest")
    keys = {"ecdsa": new_key("ecdsa"), "ed25519": new_key("ed25519"), "other": new_key("ecdsa")}
    files = {f"{n}.pub": public_pem(k) for n, k in keys.items()}
    files["digest"] = digest.encode()
    good = payload("r.test/app", digest)
    files["payload-good"] = good
    files["payload-other-digest"] = payload("r.test/app", other)
    files["payload-other-repo"] = payload("r.test/elsewhere", digest)
    files["payload-tagged"] = payload("r.test/app:v1", digest)
    for name in ("good", "other-digest", "other-repo", "tagged"):
        files[f"sig-{name}.ecdsa"] = sign(keys["ecdsa"], files[f"payload-{name}"]).encode()
    files["sig-good.ed25519"] = sign(keys["ed25519"], good).encode()
    files["sig-good.other"] = sign(keys["other"], good).encode()
    man, _ = sig_manifest([(good, files["sig-good.ecdsa"].decode()),
                           (good, files["sig-good.ed25519"].decode())])
    files["sig-manifest.json"] = man
    for name, data in files.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "fixtures":
        fixtures(sys.argv[2])
    else:
        sys.exit(__doc__)
