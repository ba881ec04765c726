"""Encrypted images (issue 18). On the host: images skopeo encrypted with JWE
(containers/ocicrypt) and images with Confidential Containers' key-provider packets (our test
encryptor, tests/image/crypt_image.py), pulled by the guest's pull code built as a host command,
the keys given as the KBS would give them; a missing or wrong key fails naming it and unpacks
nothing, a tampered ciphertext byte fails on the HMAC, a mixed image works
(tests/image/crypthost.py, in a fresh network and mount namespace)."""
import os
import subprocess

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
