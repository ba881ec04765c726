"""Boot helper for sealpod's integration tests (run with /usr/bin/python3, standard library).

    with Guest(test=True) as g:        # scripts/run-qemu --test ... ; waits for `sealpod: ready`
        status, out = g.sh("uname -a")  # the test overlay's shell port (sealpod-testd)
        s = g.agent_connect()           # the agent through the relay: a connected Unix socket

A Guest always kills its QEMU on close (monitor `quit`, then SIGTERM/SIGKILL of the process
group). Failures raise GuestError with what was being done and the last 30 console lines.

Environment: SEALPOD_INITRD_TEST / SEALPOD_INITRD_PROD boot other initramfs images (development
only), SEALPOD_KEEP=1 keeps each guest's directory (console log, run-qemu log) after the run.
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RUN_QEMU = os.path.join(TOP, "scripts", "run-qemu")
READY = "sealpod: ready"
FATAL = "sealpod: FATAL"
TIMELINE_RE = re.compile(r"\[\s*\d+\.\d+\] sealpod: ")
TRAILER_RE = re.compile(rb"\x1eEXIT (\d+)\n\Z")
RELAY_SETTLE_S = 0.4  # the relay looks for a host hang-up every 100 ms (sealpod-testd.c)


SHELL_PROBES = 4     # connection attempts before the test shell counts as dead
SHELL_PROBE_S = 5    # seconds a probe (`true`) may take, the 15 s reply slack not included


class GuestError(Exception):
    pass


class Skip(Exception):
    """Raised by a test that cannot run here; run.py prints SKIP with the reason. When the
    cause is a missing package or tool, name it: Skip(reason, missing="swtpm") prints
    `SKIP name: missing swtpm: reason`, and with SEALPOD_CI=1 (CI installs every listed
    package) it is a FAIL instead."""

    def __init__(self, reason, missing=None):
        super().__init__(f"missing {missing}: {reason}" if missing else reason)
        self.missing = missing


# Console lines that mean the guest is dying or dead: PID 1 exited (the kernel panics, and
# run-qemu's panic=-1 -no-reboot turns that into QEMU exiting) or PID 1 gave up.
DEATH_MARKS = ("Kernel panic", "Attempted to kill init", FATAL)


def boots(**guest_kwargs):
    """Mark a test as needing a guest booted with these Guest() arguments. Consecutive tests
    with equal arguments share one boot. After each such test the runner checks that the guest
    is still alive and printed no DEATH_MARKS: otherwise that test FAILs."""
    def mark(fn):
        fn.boot = guest_kwargs
        return fn
    return mark


def ends_guest(fn):
    """Mark a @boots test that stops its guest on purpose (DestroySandbox powers it off): the
    runner then accepts the guest gone after it, if it ended without DEATH_MARKS, and boots a
    fresh one for the next test of the group."""
    fn.ends_guest = True
    return fn


def ends_guest_fatal(stage):
    """Mark a @boots test whose guest must stop on a fatal condition of its own (a refused
    attestation powers the guest off): the runner accepts the guest gone after it only when it
    powered off and every FATAL line on its console since the test began names this stage
    (`sealpod: FATAL <stage>...`); a panic, another stage's FATAL or a guest still running fails
    the test as a death would."""
    def mark(fn):
        fn.ends_guest = True
        fn.expected_fatal = f"{FATAL} {stage}"
        return fn
    return mark


def only_expected_fatal(console, expected):
    """Whether console's death marks are all FATAL lines that start with `expected`."""
    lines = console.splitlines()
    fatal = [ln for ln in lines if FATAL in ln]
    others = [m for m in DEATH_MARKS if m != FATAL and m in console]
    return bool(fatal) and not others and all(
        ln[ln.index(FATAL):].startswith(expected) for ln in fatal)


class Guest:
    def __init__(self, test=True, cmdline=None, mem=None, ready_timeout=30.0, lifetime=900,
                 initrd=None, name="guest", extra=(), shell=True):
        self.test, self.cmdline, self.mem = test, cmdline, mem
        # shell=False boots the test image as `make run` does: the agent port only, no test
        # shell port (g.sh() is then unavailable).
        self.shell = shell
        self.extra = tuple(extra)  # more run-qemu options (disks: --disk, --blk, ...)
        self.ready_timeout, self.lifetime, self.name = ready_timeout, lifetime, name
        env = "SEALPOD_INITRD_TEST" if test else "SEALPOD_INITRD_PROD"
        self.initrd = initrd or os.environ.get(env) or None
        self.dir = tempfile.mkdtemp(prefix=f"sealpod-it-{name}-")
        self.serial = os.path.join(self.dir, "console.log")
        self.shell_path = os.path.join(self.dir, "shell.sock")
        self.agent_path = os.path.join(self.dir, "agent.sock")
        self.monitor_path = os.path.join(self.dir, "monitor.sock")
        self.qemu_log = os.path.join(self.dir, "run-qemu.log")
        self.proc = None
        self.ready_s = None      # QEMU start (console file created) -> `sealpod: ready`
        self.launch_ready_s = None  # run-qemu started -> `sealpod: ready`
        self.ready_at = None     # time.monotonic() when `sealpod: ready` was seen
        self.notes = {}          # shared state between the tests of one boot
        self.pid1_at_boot = None  # (pid, comm, ppid, starttime) of PID 1 right after ready
        self.pid1_error = None    # why it could not be read
        self.test_started_at = 0  # console size when the current test started (run.py)
        self._shell = None
        self._agent_closed_at = 0.0
        self._agent_probed = False

    # --- lifecycle -------------------------------------------------------------------------
    def start(self):
        for f in ("build/bzImage", "build/initramfs-test.img" if self.test else "build/initramfs.img"):
            if not (self.initrd and f.endswith(".img")) and not os.path.exists(os.path.join(TOP, f)):
                raise GuestError(f"{f} is missing: run `make` first")
        cmd = [RUN_QEMU, "--serial", self.serial, "--monitor", self.monitor_path,
               "--timeout", str(int(self.lifetime))]
        if self.test:
            cmd += ["--test", "--agent-socket", self.agent_path]
            if self.shell:
                cmd += ["--shell-socket", self.shell_path]
        if self.initrd:
            cmd += ["--initrd", self.initrd]
        if self.cmdline:
            cmd += ["--cmdline", self.cmdline]
        if self.mem:
            cmd += ["--mem", str(self.mem)]
        cmd += list(self.extra)
        log = open(self.qemu_log, "wb")
        t0 = time.monotonic()
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                     cwd=TOP, start_new_session=True)
        log.close()
        self._wait_ready(t0)
        if self.test and self.shell:
            self._record_pid1()
        return self

    def _record_pid1(self):
        """PID 1's identity as the guest came up, for tests that check it never changed."""
        try:
            self.pid1_at_boot = pid1_identity(self.sh("cat /proc/1/stat", 30)[1])
        except (GuestError, ValueError, IndexError) as e:
            self.pid1_error = str(e).partition("\n")[0]

    def _wait_ready(self, t0):
        t_qemu = None
        deadline = None
        while True:
            now = time.monotonic()
            if t_qemu is None and os.path.exists(self.serial):
                t_qemu = now
                deadline = now + self.ready_timeout
            text = self.console()
            if READY in text:
                self.ready_s = now - (t_qemu or t0)
                self.launch_ready_s = now - t0
                self.ready_at = now
                return
            if FATAL in text:
                raise GuestError(f"`{FATAL}` on the console before ready" + self.context())
            if self.proc.poll() is not None:
                raise GuestError(f"run-qemu exited with status {self.proc.returncode} before "
                                 f"`{READY}`" + self.context())
            if deadline is not None and now > deadline:
                raise GuestError(f"no `{READY}` within {self.ready_timeout:.0f} s of QEMU "
                                 f"starting" + self.context())
            if deadline is None and now - t0 > 120:
                raise GuestError("QEMU did not create the console file within 120 s" + self.context())
            time.sleep(0.05)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def console_size(self):
        try:
            return os.path.getsize(self.serial)
        except OSError:
            return 0

    def console_since(self, offset):
        """The console text after byte offset `offset` (console_size() taken earlier)."""
        try:
            with open(self.serial, "rb") as f:
                f.seek(offset)
                return f.read().decode(errors="replace").replace("\r", "")
        except OSError:
            return ""

    def death_marks(self, since=0):
        """The DEATH_MARKS on the console after byte offset `since`."""
        new = self.console_since(since)
        return [m for m in DEATH_MARKS if m in new]

    def death(self, since=0):
        """Why the guest is dead or dying (QEMU exited, or a DEATH_MARKS line on the console
        after byte offset `since`), or None while it is healthy."""
        marks = self.death_marks(since)
        if self.proc is not None and self.proc.poll() is not None:
            return (f"QEMU exited with status {self.proc.returncode}" +
                    (f" after `{marks[0]}` on the console" if marks else ""))
        if marks:
            return f"`{marks[0]}` on the console"
        return None

    def poweroff(self):
        """Stop QEMU: monitor `quit` first, then the whole process group. Always safe."""
        if self._shell:
            self._shell.close()
            self._shell = None
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                m = socket.socket(socket.AF_UNIX)
                m.settimeout(2)
                m.connect(self.monitor_path)
                m.sendall(b"quit\n")
                # Closing at once can drop the command unread: wait for QEMU to hang up.
                end = time.monotonic() + 5
                while time.monotonic() < end and m.recv(4096):
                    pass
                m.close()
                self.proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                pass
        for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
            if self.proc.poll() is not None:
                break
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                self.proc.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                pass
        # run-qemu may be gone while QEMU lingers in the group: sweep it.
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def close(self):
        self.poweroff()
        if os.environ.get("SEALPOD_KEEP"):
            return
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()

    # --- console ---------------------------------------------------------------------------
    def console(self):
        try:
            with open(self.serial, "rb") as f:
                return f.read().decode(errors="replace").replace("\r", "")
        except FileNotFoundError:
            return ""

    def console_tail(self, n=30):
        lines = self.console().splitlines()[-n:]
        return "\n".join(lines)

    def context(self, n=30):
        """Text appended to failure messages: the console's and run-qemu's last lines."""
        out = f"\n--- last {n} console lines ({self.serial}) ---\n{self.console_tail(n)}"
        try:
            with open(self.qemu_log, errors="replace") as f:
                q = f.read().strip().splitlines()[-5:]
            if q:
                out += "\n--- run-qemu ---\n" + "\n".join(q)
        except OSError:
            pass
        return out

    def timeline(self):
        """The guest's `[ t ] sealpod: step: detail` lines, escape sequences stripped."""
        out = []
        for line in self.console().splitlines():
            m = TIMELINE_RE.search(line)
            if m:
                out.append(line[m.start():])
        return out

    # --- test shell ------------------------------------------------------------------------
    def _shell_sock(self):
        if not self.test:
            raise GuestError("the production image has no test shell")
        if not self.shell:
            raise GuestError("this guest was booted without the test shell port (shell=False)")
        if self._shell is None:
            # A fresh virtio-serial connection used to sit silent at times: testd took the
            # previous connection's stale POLLHUP for the host leaving (fixed in
            # sealpod-testd.c, link_opening; test_boot.relay_fresh_connections). The short
            # probe stays so a dead shell fails here, not as a test's 75 s timeout.
            for _ in range(SHELL_PROBES):
                s = socket.socket(socket.AF_UNIX)
                s.connect(self.shell_path)
                self._shell = s
                try:
                    if self._run(s, "true", SHELL_PROBE_S)[0] == 0:
                        break
                except GuestError:
                    if not self.alive():
                        raise
                self._drop_shell()
            else:
                raise GuestError("the test shell never answered" + self.context())
        return self._shell

    def _drop_shell(self):
        if self._shell is not None:
            self._shell.close()
            self._shell = None

    def sh(self, cmd, timeout=60):
        """Run `/bin/sh -c CMD` in the guest; (exit status or 128+signal, output)."""
        if "\n" in cmd:
            raise ValueError("one line per command")
        return self._run(self._shell_sock(), cmd, timeout)

    def _run(self, s, cmd, timeout):
        s.sendall(f"\x1eT{int(timeout)} {cmd}\n".encode())
        buf = bytearray()
        deadline = time.monotonic() + timeout + 15
        while True:
            m = TRAILER_RE.search(buf)
            if m:
                return int(m.group(1)), buf[:m.start()].decode(errors="replace")
            left = deadline - time.monotonic()
            if left <= 0 or not self.alive():
                self._drop_shell()
                why = "timed out" if self.alive() else "QEMU exited"
                raise GuestError(f"shell command {cmd!r} {why}; output so far: "
                                 f"{bytes(buf[-500:])!r}" + self.context())
            s.settimeout(min(left, 1.0))
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                continue
            if not chunk:
                self._drop_shell()
                raise GuestError(f"shell socket closed during {cmd!r}" + self.context())
            buf += chunk

    def sh_ok(self, cmd, timeout=60):
        status, out = self.sh(cmd, timeout)
        if status != 0:
            raise AssertionError(f"`{cmd}` exited {status}: {out.strip()[-800:]}")
        return out

    # --- agent through the relay -----------------------------------------------------------
    def agent_connect(self, timeout=10):
        if not self.test:
            raise GuestError("the production image has no relay")
        # With loopback refused the relay cannot reach the agent by design: nothing to probe.
        if not self._agent_probed and "sealpod.loopback=0" not in (self.cmdline or ""):
            self._probe_relay()
        settle = self._agent_closed_at + RELAY_SETTLE_S - time.monotonic()
        if settle > 0:
            time.sleep(settle)
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(timeout)
        s.connect(self.agent_path)
        return _RelaySocket(s, self)

    def _probe_relay(self):
        """The first relay connection of a boot carries one Check on a connection of its own
        (a test's client starts its stream ids at 1), retried on a fresh connection if the
        port sat silent (see _shell_sock)."""
        import ttrpc  # tests/integration/ttrpc.py: hand-framed, no protobuf needed
        last = None
        for _ in range(SHELL_PROBES):
            settle = self._agent_closed_at + RELAY_SETTLE_S - time.monotonic()
            if settle > 0:
                time.sleep(settle)
            s = socket.socket(socket.AF_UNIX)
            try:
                s.connect(self.agent_path)
                ttrpc.health_check(s, 1, SHELL_PROBE_S)
                self._agent_probed = True
                return
            except (OSError, ttrpc.ProtocolError) as e:
                last = e
                if not self.alive():
                    break
            finally:
                s.close()
                self._agent_closed_at = time.monotonic()
        raise GuestError(f"the agent relay never answered a Check: {last}" + self.context())


def pid1_identity(stat):
    """(pid, comm, ppid, starttime) from the text of /proc/1/stat: what stays the same as long
    as PID 1 is the same process."""
    head, _, tail = stat.strip().rpartition(")")
    pid, comm = head.split(" (", 1)
    f = tail.split()
    return int(pid), comm, int(f[1]), int(f[19])


class _RelaySocket:
    """A connected socket that notes when it was closed, so the next connection waits until
    the relay has seen the hang-up (otherwise it could carry on the old vsock connection)."""

    def __init__(self, sock, guest):
        self._s, self._g = sock, guest

    def __getattr__(self, name):
        return getattr(self._s, name)

    def close(self):
        self._s.close()
        self._g._agent_closed_at = time.monotonic()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
