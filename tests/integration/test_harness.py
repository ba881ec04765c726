"""The integration runner itself (tests/integration/run.py): a guest that dies in the middle of
a boot group fails the test that was running, or the next one, with the console's tail, and is
never swapped for a fresh one silently; a skip for a missing package is a failure on CI.
The fixtures are in tests/integration/selftest/ (run.py --dir), outside the suite's own run."""
import contextlib
import io
import os
import subprocess

import harness
import run

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "selftest")


def _run(pattern, ci=False, timeout=600):
    env = dict(os.environ)
    env.pop("SEALPOD_CI", None)
    if ci:
        env["SEALPOD_CI"] = "1"
    r = subprocess.run(["/usr/bin/python3", os.path.join(HERE, "run.py"), "--dir", FIXTURES,
                        "-k", pattern], capture_output=True, text=True, timeout=timeout, env=env)
    assert r.returncode == 0, f"run.py exited {r.returncode}\n{r.stdout}\n{r.stderr}"
    return r.stdout


def _line(out, prefix):
    found = [line for line in out.splitlines() if line.startswith(prefix)]
    assert len(found) == 1, f"expected one line starting {prefix!r}\n{out}"
    return found[0]


def test_guest_killed_mid_test_fails_that_test():
    """A real guest whose QEMU is killed inside a test that then returns normally: that test is
    a FAIL with the console's tail, the test before it PASSes, and the test after it runs on a
    fresh guest that the output announces."""
    out = _run("guest_death")
    _line(out, "PASS guest_death.first ")
    bad = _line(out, "FAIL guest_death.killed_mid_test: the guest died during this test: QEMU "
                     "exited")
    lines = out.splitlines()
    tail = lines[lines.index(bad) + 1:]
    assert any("console lines" in line for line in tail[:4]), out
    assert any("sealpod-selftest-marker" in line or "sealpod: ready" in line
               for line in tail[:60]), "no console tail after the FAIL\n" + out
    assert any("booting a fresh guest for guest_death.after" in line for line in lines), out
    _line(out, "PASS guest_death.after ")
    assert lines[-1] == "integration: 2 passed, 1 failed, 0 skipped", out
    return bad


class _FakeGuest:
    """Stands in for harness.Guest in run.run_group: dies between two tests."""

    def __init__(self, log):
        self.log, self.test, self.test_started_at, self.dead = log, True, 0, False

    def start(self):
        self.log.append("boot")
        return self

    def alive(self):
        return not self.dead

    def console_size(self):
        return 0

    def death_marks(self, since=0):
        return ["Kernel panic"] if self.dead else []

    def death(self, since=0):
        return "QEMU exited with status 0 after `Kernel panic` on the console" if self.dead else None

    def context(self, n=30):
        return "\n--- last 2 console lines (fake) ---\nKernel panic - not syncing: Attempted to kill init!"

    def close(self):
        self.log.append("close")


def test_guest_dead_between_tests_fails_the_next():
    """A guest found dead before a test (it died after the previous test's own check): that
    test FAILs naming the death, with the console tail, and does not run; the next one boots a
    fresh guest. (run.run_group with stand-in guests: the death falls exactly between tests.)"""
    log = []

    def ran(name):
        return lambda g: log.append(name)
    members = [("x.first", ran("first")), ("x.dies_after", ran("dies_after")),
               ("x.second", ran("second")), ("x.third", ran("third"))]
    counts = {"pass": 0, "fail": 0, "skip": 0}
    real_run_test = run.run_test

    def run_test(full, fn, guest, counts):
        outcome = real_run_test(full, fn, guest, counts)
        if full == "x.dies_after":
            guest.dead = True  # after that test's own check, before the next test
        return outcome
    buf = io.StringIO()
    run.run_test = run_test
    try:
        with contextlib.redirect_stdout(buf):
            run.run_group({"test": True}, members, counts, make_guest=lambda full: _FakeGuest(log))
    finally:
        run.run_test = real_run_test
    out = buf.getvalue()
    assert "PASS x.dies_after " in out, out
    assert "FAIL x.second: the guest died before this test started" in out, out
    assert "Attempted to kill init" in out, "no console tail\n" + out
    assert "second" not in log, log
    assert "booting a fresh guest for x.third" in out and "third" in log, out
    assert counts == {"pass": 3, "fail": 1, "skip": 0}, counts
    assert log.count("boot") == 2, log


class _FatalGuest(_FakeGuest):
    """A stand-in guest that prints one FATAL line and powers off during the test."""

    def __init__(self, log, line):
        super().__init__(log)
        self.line = line

    def death_marks(self, since=0):
        return [harness.FATAL] if self.dead else []

    def death(self, since=0):
        return f"QEMU exited with status 0 after `{harness.FATAL}` on the console" \
            if self.dead else None

    def console_since(self, offset):
        return f"[    4.7] {self.line}\n" if self.dead else ""


def test_expected_fatal_only_for_its_stage():
    """An @ends_guest_fatal("attest.") test PASSes when its guest powered off on a FATAL of that
    stage, and FAILs when the FATAL names another stage or the guest keeps running."""
    outcomes = {}
    for name, line, dies in (("same", "sealpod: FATAL attest.verify: refused", True),
                             ("other", "sealpod: FATAL storage.format: no disk", True),
                             ("alive", "", False)):
        log, counts = [], {"pass": 0, "fail": 0, "skip": 0}
        guest = _FatalGuest(log, line)

        @harness.ends_guest_fatal("attest.")
        def t(g, dies=dies):
            g.dead = dies
        saved = run.FATAL_POWEROFF_S
        run.FATAL_POWEROFF_S = 0.5
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                outcomes[name] = run.run_test(f"f.{name}", t, guest, counts)
        finally:
            run.FATAL_POWEROFF_S = saved
    assert outcomes == {"same": "pass", "other": "fail", "alive": "fail"}, outcomes


def test_skip_for_missing_package_fails_on_ci():
    """harness.Skip(..., missing=...) prints SKIP with the missing tool named, and is a FAIL
    with SEALPOD_CI=1; a skip for another reason stays a SKIP on CI."""
    out = _run("skips")
    _line(out, "SKIP skips.missing_tool: missing frobnicate: the frobnicator is not installed")
    _line(out, "SKIP skips.other_reason: needs hardware")
    out = _run("skips", ci=True)
    _line(out, "FAIL skips.missing_tool: missing frobnicate: the frobnicator is not installed")
    _line(out, "SKIP skips.other_reason: needs hardware")
    assert out.splitlines()[-1] == "integration: 0 passed, 1 failed, 1 skipped", out
