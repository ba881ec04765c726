"""Fixture of tests/integration/test_harness.py, never collected by the suite itself (run.py
reads only tests/integration/test_*.py): one boot group in which the middle test kills its
guest's QEMU and then returns as if all were well. The runner must FAIL that test with the
console's tail and boot a fresh guest for the last one."""
import os
import signal

from harness import boots


@boots(test=True)
def test_first(g):
    g.sh_ok("true")
    return f"PID 1 at boot: {g.pid1_at_boot}"


@boots(test=True)
def test_killed_mid_test(g):
    g.sh_ok("echo sealpod-selftest-marker >/dev/console")
    os.killpg(g.proc.pid, signal.SIGKILL)  # run-qemu and QEMU: the guest is gone at once
    g.proc.wait(10)
    return "returned normally after killing the guest"


@boots(test=True)
def test_after(g):
    g.sh_ok("true")
