"""Registry faults (issue 21) against the guest's pull code built as a host command, in a fresh
network and mount namespace (tests/image/faulttest.py): a reset mid-blob, 500s then success,
500s forever, a short and a long Content-Length, blob bytes that change between two requests, a
redirect loop and an untrusted certificate. Each: recovered where safe, else refused with the
stage named, no partial layer or staging directory left, the next pull into the same store
succeeds, no pull process left."""
import os
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))


def test_faults_registry():
    p = subprocess.run(["unshare", "-n", "-m", "/usr/bin/python3",
                        os.path.join(TOP, "tests/image/faulttest.py")],
                       cwd=TOP, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=900)
    out = p.stdout.decode(errors="replace")
    lines = [ln for ln in out.splitlines() if ln.startswith(("ok ", "not ok "))]
    if p.returncode != 0 or not lines:
        raise AssertionError("; ".join(ln for ln in lines if ln.startswith("not ok"))
                             + "\n" + out[-4000:])
    return f"{len(lines)} cases: " + ", ".join(ln[3:] for ln in lines)
