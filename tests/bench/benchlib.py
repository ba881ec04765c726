"""What every `make bench` comparison shares: the round schedule and the printed statistics.

Every comparison runs each side once as a warm-up (not counted), then ROUNDS rounds in which
every side runs once; the order rotates each round and is reversed on odd rounds, so no side is
always first or always after the same neighbour. It prints, per comparison:

  bench: <name> ours=<median><unit> <peer>=<median><unit> ratio=<ours/peer> \
         ours_min=.. ours_max=.. <peer>_min=.. <peer>_max=.. rounds=N

Every ratio is a ratio of times, ours over the peer's: below 1 means we are faster.
A `bench: <area>-side <label> <text>` line says exactly what a side runs."""
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

ROUNDS_MIN = 5


def rounds_from_env(var, default=ROUNDS_MIN):
    """The number of rounds from the environment, never fewer than ROUNDS_MIN."""
    n = int(os.environ.get(var, str(default)))
    if n < ROUNDS_MIN:
        print(f"[bench] {var}={n} raised to {ROUNDS_MIN}: a median needs at least "
              f"{ROUNDS_MIN} rounds", file=sys.stderr, flush=True)
        n = ROUNDS_MIN
    return n


def order(names, rnd):
    """The sides of round rnd: rotated by rnd, reversed on odd rounds."""
    k = rnd % len(names)
    o = list(names[k:]) + list(names[:k])
    return o[::-1] if rnd % 2 else o


def schedule(names, rounds, run_one, warmup=True):
    """{side: [result per round]}; run_one(side, rnd) returns one result, rnd 'w' for warm-up."""
    if warmup:
        for n in names:
            run_one(n, "w")
    out = {n: [] for n in names}
    for rnd in range(rounds):
        for n in order(names, rnd):
            out[n].append(run_one(n, rnd))
    return out


def stats(vals):
    return statistics.median(vals), min(vals), max(vals)


def fmt(v, unit):
    if unit in ("s",):
        return f"{v:.3f}{unit}"
    if unit in ("rps",):
        return f"{v:.0f}{unit}"
    if v >= 1000:
        return f"{v:.0f}{unit}"
    if v >= 100:
        return f"{v:.1f}{unit}"
    return f"{v:.2f}{unit}"


def side_line(area, label, text):
    print(f"bench: {area}-side {label} {text}", flush=True)


def compare(name, unit, ours, peer_name, peer, extra="", ours_name="ours"):
    """Prints the comparison line of two lists of per-round times; returns the ratio. ours_name
    replaces `ours` where a line compares two peers (then the ratio is that side over peer)."""
    om, olo, ohi = stats(ours)
    pm, plo, phi = stats(peer)
    ratio = om / pm if pm else float("nan")
    o = ours_name
    print(f"bench: {name} {o}={fmt(om, unit)} {peer_name}={fmt(pm, unit)} ratio={ratio:.3f} "
          f"{o}_min={fmt(olo, unit)} {o}_max={fmt(ohi, unit)} "
          f"{peer_name}_min={fmt(plo, unit)} {peer_name}_max={fmt(phi, unit)} "
          f"rounds={len(ours)}{(' ' + extra) if extra else ''}", flush=True)
    return ratio


def load_line():
    """The machine's load when the run started: the numbers are only as quiet as the machine."""
    try:
        with open("/proc/loadavg") as f:
            la = f.read().split()[:3]
    except OSError:
        la = ["?"] * 3
    return f"load1={la[0]} load5={la[1]} load15={la[2]} cpus={os.cpu_count()}"


def boot_timeline(kernel=None, timeout=120, poll=0.5):
    """Boots the production image once under QEMU (scripts/run-qemu: TCG here, OVMF), with
    build/bzImage or the given kernel; returns ([(seconds, step)] of PID 1's `sealpod:` lines on
    the guest clock, the guest clock when the kernel ran /init or None, the console, and the
    host's seconds from QEMU's start until `ready` was seen, polled every `poll` s, or None)."""
    d = tempfile.mkdtemp(prefix="sealpod-bench-boot-")
    serial = os.path.join(d, "console.log")
    cmd = [os.path.join(TOP, "scripts", "run-qemu"), "--serial", serial, "--timeout", str(timeout)]
    if kernel:
        cmd += ["--kernel", kernel]
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, start_new_session=True)
    t0 = time.monotonic()
    text = ""
    wall = None
    try:
        while time.monotonic() - t0 < timeout:
            time.sleep(poll)
            try:
                with open(serial, errors="replace") as f:
                    text = f.read()
            except OSError:
                continue
            if "sealpod: ready" in text:
                wall = time.monotonic() - t0
                break
            if p.poll() is not None:
                break
    finally:
        try:
            os.killpg(p.pid, 15)
        except ProcessLookupError:
            pass
        p.wait()
        subprocess.run(["rm", "-rf", d])
    steps = []
    for m in re.finditer(r"\[\s*(\d+\.\d+)\] sealpod: ([a-z.]+):", text):
        steps.append((float(m.group(1)), m.group(2)))
    kernel_at = re.search(r"\[\s*(\d+\.\d+)\] (?:Run /init|Freeing unused kernel)", text)
    return steps, (float(kernel_at.group(1)) if kernel_at else None), text, wall
