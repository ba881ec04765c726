"""Image pulls inside the QEMU guest (issue 6): Kata's CreateContainer with an image_guest_pull
Storage through the control port, from a TLS docker-registry and a hostile registry on host
loopback (restricted user network, guestfwd to 10.0.2.100); the image runs, a second container
of it downloads nothing, adversarial images are refused while PID 1 keeps serving. Runs in a
fresh network namespace with its own guest (tests/image/guesttest.py)."""
import os
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))


def test_image_guest_pull_run_and_refuse():
    p = subprocess.run(["unshare", "-n", "/usr/bin/python3",
                        os.path.join(TOP, "tests/image/guesttest.py")],
                       cwd=TOP, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=1200)
    out = p.stdout.decode(errors="replace")
    lines = [ln for ln in out.splitlines() if ln.startswith(("ok ", "not ok "))]
    if p.returncode != 0:
        raise AssertionError("; ".join(ln for ln in lines if ln.startswith("not ok"))
                             + "\n" + out[-5000:])
    return "\n".join(lines)
