#!/usr/bin/python3
"""Run sealpod's integration tests: every test_* function of tests/integration/test_*.py, in
file and definition order. One line per test: `PASS name`, `FAIL name: reason` or
`SKIP name: reason`; detail lines are indented. A test failure never makes the exit status
non-zero (the suite's aggregator counts the lines); only a broken harness does (status 2).

Tests marked with @harness.boots(**kw) get a booted harness.Guest; consecutive tests with the
same arguments share one boot, so order tests from harmless to harmful within a file. A test
passes by returning, skips by raising harness.Skip, fails by raising anything else.

A guest that dies is never rebooted silently: if QEMU exits, or the console shows a kernel
panic or `sealpod: FATAL`, during a test, that test FAILs (whatever it returned), and if the
guest is found dead before a test, that test FAILs; both print the console's tail. Only then
does the next test of the group get a fresh guest. A test marked @harness.ends_guest may stop
its guest on purpose.

A Skip naming a missing package or tool (harness.Skip(..., missing=...)) is a FAIL when
SEALPOD_CI=1: CI installs every listed package.

usage: /usr/bin/python3 tests/integration/run.py [-k SUBSTRING] [--list] [--dir DIR]
"""
import argparse
import glob
import importlib.util
import os
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness  # noqa: E402

FATAL_POWEROFF_S = 30  # how long an @ends_guest_fatal guest may take to power off


def one_line(text, limit=600):
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit] + "..."


def detail(text):
    for line in str(text).rstrip().splitlines():
        print("    " + line)


def collect(pattern, where=HERE):
    tests = []
    for path in sorted(glob.glob(os.path.join(where, "test_*.py"))):
        mod_name = os.path.basename(path)[:-3]
        short = mod_name[len("test_"):]
        spec = importlib.util.spec_from_file_location(mod_name, path)
        mod = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(mod)
        except Exception as e:  # a broken test file fails its own line, not the whole run
            err = "".join(traceback.format_exception(type(e), e, e.__traceback__))

            def broken(err=err):
                raise AssertionError("cannot load the test file\n" + err[-1500:])
            if not pattern or pattern in short:
                tests.append((f"{short}.load", broken))
            continue
        for name, fn in vars(mod).items():
            if name.startswith("test_") and callable(fn):
                full = f"{short}.{name[len('test_'):]}"
                if not pattern or pattern in full:
                    tests.append((full, fn))
    return tests


def groups(tests):
    """Split into runs of consecutive tests that share a boot configuration."""
    out = []
    for full, fn in tests:
        key = getattr(fn, "boot", None)
        if out and out[-1][0] == key:
            out[-1][1].append((full, fn))
        else:
            out.append((key, [(full, fn)]))
    return out


def on_ci():
    return os.environ.get("SEALPOD_CI") == "1"


def fail(full, first, rest, counts):
    print(f"FAIL {full}: {one_line(first)}", flush=True)
    if rest:
        detail(rest)
    counts["fail"] += 1


def died_during(full, fn, guest, result, counts):
    """After a test of a booted guest returned or skipped: FAIL it (True) if the guest died or
    started dying meanwhile, unless it is an @ends_guest test whose guest stopped cleanly (or an
    @ends_guest_fatal one whose guest powered off on its stage's FATAL, and on nothing else)."""
    if guest is None:
        return False
    since = guest.test_started_at
    expected = getattr(fn, "expected_fatal", None)
    if expected:
        # The guest reports its fatal condition, then powers off: give it time to finish.
        end = time.monotonic() + FATAL_POWEROFF_S
        while guest.alive() and time.monotonic() < end:
            time.sleep(0.2)
    why = guest.death(since)
    if expected:
        on_purpose = not guest.alive() and harness.only_expected_fatal(
            guest.console_since(since), expected)
    else:
        on_purpose = (getattr(fn, "ends_guest", False) and not guest.alive()
                      and not guest.death_marks(since))
    if expected and why is None:
        fail(full, f"the guest did not power off on `{expected}`",
             (str(result).rstrip() + "\n" if result else "") + guest.context(40).lstrip("\n"),
             counts)
        return True
    if why is None or on_purpose:
        return False
    fail(full, f"the guest died during this test: {why}",
         (str(result).rstrip() + "\n" if result else "") + guest.context(40).lstrip("\n"),
         counts)
    return True


def run_test(full, fn, guest, counts):
    """Run one test; returns "pass", "fail" or "skip" (already printed and counted)."""
    t0 = time.monotonic()
    try:
        result = fn(guest) if guest is not None else fn()
    except harness.Skip as e:
        if died_during(full, fn, guest, f"(the test skipped: {e})", counts):
            return "fail"
        if getattr(e, "missing", None) and on_ci():
            fail(full, f"{e} (SEALPOD_CI=1: every listed package is installed on CI)", "",
                 counts)
            return "fail"
        print(f"SKIP {full}: {one_line(e)}", flush=True)
        counts["skip"] += 1
        return "skip"
    except Exception as e:  # a failing test, whatever it raised
        msg = str(e)
        first, _, rest = msg.partition("\n")
        if not first:
            first = type(e).__name__ + " " + "".join(traceback.format_exception_only(type(e), e)).strip()
        if not isinstance(e, (AssertionError, harness.GuestError)):
            rest = (rest + "\n" if rest else "") + "".join(
                traceback.format_exception(type(e), e, e.__traceback__))[-2000:]
        if guest is not None and "console lines" not in rest and guest.death() is not None:
            rest = (rest + "\n" if rest else "") + guest.context(40).lstrip("\n")
        fail(full, first, rest, counts)
        return "fail"
    # A test of a booted guest has passed only if the guest lived through it.
    if died_during(full, fn, guest, result, counts):
        return "fail"
    if result:
        detail(result)
    print(f"PASS {full} ({time.monotonic() - t0:.1f}s)", flush=True)
    counts["pass"] += 1
    return "pass"


def run_group(key, members, counts, make_guest=None):
    """The tests of one boot configuration, on one guest as long as it lives."""
    make_guest = make_guest or (lambda full: harness.Guest(name=full.replace(".", "-"), **key))
    guest, boot_error, after_failure = None, None, None
    try:
        for full, fn in members:
            if guest is not None:
                why = guest.death(guest.test_started_at)
                if why is not None:
                    # It died after the previous test's own check: this test cannot run.
                    fail(full, f"the guest died before this test started: {why}",
                         guest.context(40).lstrip("\n"), counts)
                    guest.close()
                    guest, after_failure = None, full
                    continue
            if guest is None and boot_error is None:
                if after_failure:
                    detail(f"booting a fresh guest for {full}: the previous one died "
                           f"(FAIL {after_failure} above)")
                guest = make_guest(full)
                try:
                    guest.start()
                except harness.GuestError as e:
                    boot_error = e
                    first, _, rest = str(e).partition("\n")
                    fail(full, f"boot: {first}", rest, counts)
                    continue
            if boot_error is not None:
                fail(full, f"boot: {str(boot_error).partition(chr(10))[0]}", "", counts)
                continue
            guest.test_started_at = guest.console_size()
            outcome = run_test(full, fn, guest, counts)
            if not guest.alive() and (outcome == "fail" or getattr(fn, "ends_guest", False)):
                # Gone, and already accounted for: this test's FAIL, or stopped on purpose
                # (run_test checked that). A death right after a PASS is the next test's FAIL.
                if outcome == "fail":
                    after_failure = full
                guest.close()
                guest = None
        if guest is not None:
            why = guest.death(guest.test_started_at)
            if why is not None:
                fail(f"{full}/guest-after", f"the guest died after this group's last test: {why}",
                     guest.context(40).lstrip("\n"), counts)
    finally:
        if guest is not None:
            guest.close()


def main():
    ap = argparse.ArgumentParser(description="sealpod integration tests")
    ap.add_argument("-k", dest="pattern", help="run tests whose name contains this")
    ap.add_argument("--list", action="store_true", help="list the tests and exit")
    ap.add_argument("--dir", default=HERE,
                    help="where the test_*.py files are (the harness's self-tests use a fixture "
                         "directory)")
    args = ap.parse_args()
    try:
        tests = collect(args.pattern, os.path.abspath(args.dir))
    except Exception:
        traceback.print_exc()
        print("integration harness: cannot load the tests", file=sys.stderr)
        return 2
    if args.list:
        for full, fn in tests:
            print(full, getattr(fn, "boot", ""))
        return 0

    counts = {"pass": 0, "fail": 0, "skip": 0}
    for key, members in groups(tests):
        if key is None:
            for full, fn in members:
                run_test(full, fn, None, counts)
            continue
        run_group(key, members, counts)
    print(f"integration: {counts['pass']} passed, {counts['fail']} failed, "
          f"{counts['skip']} skipped", flush=True)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception:
        traceback.print_exc()
        print("integration harness: internal error", file=sys.stderr)
        sys.exit(2)
