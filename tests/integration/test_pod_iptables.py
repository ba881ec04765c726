"""The iptables REDIRECT pod (issue 15): a service mesh's init container installs
`REDIRECT --dport 80 --to-ports 15001` with Debian's iptables (nft and legacy, and ip6tables),
and another container's connection to :80 arrives at the listener on :15001; CAP_NET_ADMIN
needs the policy's consent. Runs in a fresh network namespace with its own guest
(tests/image/podnettest.py)."""
import os
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))


def test_pod_iptables_redirect_80_to_15001():
    p = subprocess.run(["unshare", "-n", "/usr/bin/python3",
                        os.path.join(TOP, "tests/image/podnettest.py")],
                       cwd=TOP, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=1200)
    out = p.stdout.decode(errors="replace")
    lines = [ln for ln in out.splitlines() if ln.startswith(("ok ", "not ok "))]
    if p.returncode != 0:
        raise AssertionError("; ".join(ln for ln in lines if ln.startswith("not ok"))
                             + "\n" + out[-5000:])
    return "\n".join(lines)
