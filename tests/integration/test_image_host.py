"""Image pulls on the host against real peers on loopback (issue 6): docker-registry with TLS and
htpasswd, docker-registry with token auth and our bearer-token endpoint, and a hostile registry
of ours serving every adversarial image. The pull code is the guest's (init/image/), built as a
host command with ASan/UBSan; everything runs in a fresh network and mount namespace
(tests/image/hosttest.py)."""
import os
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))


def _group(name):
    p = subprocess.run(["unshare", "-n", "-m", "/usr/bin/python3",
                        os.path.join(TOP, "tests/image/hosttest.py"), name],
                       cwd=TOP, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=900)
    out = p.stdout.decode(errors="replace")
    lines = [ln for ln in out.splitlines() if ln.startswith(("ok ", "not ok "))]
    if p.returncode != 0:
        raise AssertionError(f"{name}: " + "; ".join(ln for ln in lines if ln.startswith("not ok"))
                             + "\n" + out[-4000:])
    return f"{len(lines)} cases: " + ", ".join(ln[3:] for ln in lines)


def test_image_host_registry_tls_basic():
    """OCI and Docker schema2 (skopeo), zstd, plain, multi-member gzip, an index, layer reuse,
    credentials required, TLS verified."""
    return _group("registry")


def test_image_host_token_auth():
    return _group("token")


def test_image_host_hostile_registry():
    """Every adversarial image of issue 6, redirects without Authorization, Range resume."""
    return _group("hostile")
