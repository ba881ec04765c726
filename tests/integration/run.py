#!/usr/bin/python3
"""Run sealpod's integration tests: every test_* function of tests/integration/test_*.py, in
file and definition order. One line per test: `PASS name`, `FAIL name: reason` or
`SKIP name: reason`; detail lines are indented. A test failure never makes the exit status
non-zero (the suite's aggregator counts the lines); only a broken harness does (status 2).

Tests marked with @harness.boots(**kw) get a booted harness.Guest; consecutive tests with the
same arguments share one boot, so order tests from harmless to harmful within a file. A test
passes by returning, skips by raising harness.Skip, fails by raising anything else.

usage: /usr/bin/python3 tests/integration/run.py [-k SUBSTRING] [--list]
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


def one_line(text, limit=600):
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit] + "..."


def detail(text):
    for line in str(text).rstrip().splitlines():
        print("    " + line)


def collect(pattern):
    tests = []
    for path in sorted(glob.glob(os.path.join(HERE, "test_*.py"))):
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


def run_test(full, fn, guest, counts):
    t0 = time.monotonic()
    try:
        result = fn(guest) if guest is not None else fn()
    except harness.Skip as e:
        print(f"SKIP {full}: {one_line(e)}", flush=True)
        counts["skip"] += 1
        return
    except Exception as e:  # a failing test, whatever it raised
        msg = str(e)
        first, _, rest = msg.partition("\n")
        if not first:
            first = type(e).__name__ + " " + "".join(traceback.format_exception_only(type(e), e)).strip()
        print(f"FAIL {full}: {one_line(first)}", flush=True)
        if rest:
            detail(rest)
        if not isinstance(e, (AssertionError, harness.GuestError)):
            detail("".join(traceback.format_exception(type(e), e, e.__traceback__))[-2000:])
        counts["fail"] += 1
        return
    if result:
        detail(result)
    print(f"PASS {full} ({time.monotonic() - t0:.1f}s)", flush=True)
    counts["pass"] += 1


def main():
    ap = argparse.ArgumentParser(description="sealpod integration tests")
    ap.add_argument("-k", dest="pattern", help="run tests whose name contains this")
    ap.add_argument("--list", action="store_true", help="list the tests and exit")
    args = ap.parse_args()
    try:
        tests = collect(args.pattern)
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
        guest, boot_error, reboots = None, None, 0
        try:
            for full, fn in members:
                if guest is not None and not guest.alive() and reboots < 1:
                    detail(f"the guest died before {full}; booting a fresh one" + guest.context(15))
                    guest.close()
                    guest, reboots = None, reboots + 1
                if guest is None and boot_error is None:
                    guest = harness.Guest(name=full.replace(".", "-"), **key)
                    try:
                        guest.start()
                    except harness.GuestError as e:
                        boot_error = e
                        first, _, rest = str(e).partition("\n")
                        print(f"FAIL {full}: boot: {one_line(first)}", flush=True)
                        detail(rest)
                        counts["fail"] += 1
                        continue
                if boot_error is not None:
                    print(f"FAIL {full}: boot: {one_line(str(boot_error).partition(chr(10))[0])}",
                          flush=True)
                    counts["fail"] += 1
                    continue
                run_test(full, fn, guest, counts)
        finally:
            if guest is not None:
                guest.close()
    line = f"integration: {counts['pass']} passed, {counts['fail']} failed"
    if counts["skip"]:
        line += f", {counts['skip']} skipped"
    print(line, flush=True)
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
