"""Replay a Kata request fixture (tests/data/kata-requests/, loaded by tests/ttrpc/kata_requests.py)
against a booted test guest, call by call, in the order and the modes the shim uses.

    import kata_replay as kp
    fx = kp.load("shared-shm", "go", APP_ARGS=[...])      # kata_requests.load, test defaults
    r = kp.Replay(client, fx)                              # client: tests/ttrpc client.Client
    r.run(stop=kp.before("GetDiagnosticData"))             # every call up to (not incl.) that one
    ...                                                    # look at the guest while it runs
    r.run()                                                # the rest
    r.output(cid)              # what the container's stdout stream carried (bytes)
    r.status(cid, exec_id="")  # the exit status its after_eof WaitProcess answered
    r.reply(step)              # the Reply of a step (client.Reply), None when not sent
    r.adapted                  # [(step, method, what was changed or skipped and why)]
    r.wait_output(cid, "ready")  # pump a running process's stdout until it shows a marker
    r.calls("ExecProcess")     # the fixture's calls of a method; r.adapt(call, msg) for a
                               # request of the test's own making from one of them

What the test guest cannot give is adapted, never silently: each change is listed in
`r.adapted`, and a test prints it.
  - The app images: the guest has no registry here, so an `image_guest_pull` storage of any image
    but the pause is dropped and Root.Path set to the test overlay's busybox bundle, which the
    test agent accepts as a prepared rootfs (init/runtime/steps.c test_bundle). The pause keeps
    its storage (the guest's own pause). Guest pulls are covered by test_image_guest and
    test_e2e.
  - The pod network: the test guest has no NIC unless it boots with --forward, so
    UpdateInterface/UpdateRoutes/AddARPNeighbors are skipped unless `net=True`.
  - `optional` calls are skipped (the situation they need is not in this pod).

Modes (the fixtures' README): `call` and `concurrent` are sent and answered in order (an error
answer raises ReplayError unless the call's `on_error` says the shim tolerates it); `park` is
sent and collected at the end, if it has answered; `stream` starts a read loop that is pumped
until an empty answer; `after_eof` is deferred until a later call needs its process ended
(Replay._due: the signals that end it come first), then its streams are drained and it is sent.
"""
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(TOP, "tests", "ttrpc"))
import client as tt  # noqa: E402
import kata_requests as kr  # noqa: E402

BUNDLE_ROOTFS = "/usr/share/sealpod/bundles/busybox/rootfs"
NET_METHODS = ("UpdateInterface", "UpdateRoutes", "AddARPNeighbors")
STREAM_LEN = 32768


class ReplayError(AssertionError):
    """A call the shim needs answered with an error, or a stream that never ended."""


def load(scenario, shim, **values):
    return kr.load(scenario, shim, **values)


def before(method, nth=1, **match):
    """A stop predicate for Replay.run: true at the nth call of method whose request has the
    given top-level fields (containerId="...", execId="...")."""
    seen = [0]

    def pred(call):
        if call.method != method or any(call.request.get(k) != v for k, v in match.items()):
            return False
        seen[0] += 1
        return seen[0] == nth
    return pred


def _proc(req):
    """(container id, exec id) of a request, the container's own process as exec id ""."""
    cid, ex = req.get("containerId", ""), req.get("execId", "")
    return cid, ("" if ex == cid else ex)


class Replay:
    def __init__(self, client, fx, net=False, pb=None, timeout=120):
        self.c, self.fx, self.net, self.timeout = client, fx, net, timeout
        self.pb = pb or tt.load_protos()
        self.pos = 0
        self.replies = {}      # step -> client.Reply
        self.parked = {}       # step -> stream id
        self.streams = {}      # (cid, exec_id, method) -> [stream id or None, bytes]
        self.statuses = {}     # (cid, exec_id) -> exit status
        self.deferred = []     # after_eof calls waiting for their streams
        self.adapted = []
        self.errors = []       # (step, method, error text) of tolerated errors

    # --- what the test asks ------------------------------------------------------------------
    def reply(self, step):
        return self.replies.get(step)

    def output(self, cid, exec_id="", method="ReadStdout"):
        """What the process's stdout (or method's) stream carried."""
        return self.streams.get((cid, exec_id, method), [None, b""])[1]

    def status(self, cid, exec_id=""):
        """The exit status the process's first WaitProcess answered (None: not waited)."""
        return self.statuses.get((cid, exec_id))

    def wait_output(self, cid, marker, exec_id="", method="ReadStdout", timeout=60):
        """Pump the process's running stream until its output holds marker (bytes or str):
        what a running pod's shim has read by the time kubelet acts on it."""
        marker = marker.encode() if isinstance(marker, str) else marker
        st = self.streams.get((cid, exec_id, method))
        assert st is not None, f"no {method} stream of {cid}/{exec_id} started yet"
        end = time.monotonic() + timeout
        while marker not in st[1]:
            if st[0] is None:
                raise ReplayError(f"{cid}/{exec_id} {method} ended without {marker!r}: "
                                  f"{st[1][-500:]!r}")
            if time.monotonic() > end:
                raise ReplayError(f"{cid}/{exec_id} {method}: no {marker!r} in {timeout}s: "
                                  f"{st[1][-500:]!r}")
            self._pump(st, (cid, exec_id, method), end - time.monotonic())
        return st[1]

    def _pump(self, st, key, timeout):
        rep = self.c.wait(st[0], timeout=max(timeout, 0.1))
        if not rep.ok:
            raise ReplayError(f"{key}: {rep}")
        data = rep.decode(self.pb.agent.ReadStreamResponse).data
        if not data:
            st[0] = None
        else:
            st[1] += data
            st[0] = self._read(key[2], st[2])

    def calls(self, method):
        return [c for c in self.fx.calls if c.method == method]

    # --- driving -------------------------------------------------------------------------------
    def run(self, stop=None):
        """Replay from where the last run stopped until stop(call) is true (that call is not
        sent) or the fixture ends (then the parked calls that answered are collected)."""
        calls = self.fx.calls
        while self.pos < len(calls):
            call = calls[self.pos]
            if stop and stop(call):
                return self
            self.pos += 1
            self._one(call)
        self._flush_deferred()
        self._collect_parked()
        return self

    def _one(self, call):
        if call.optional:
            self.adapted.append((call.step, call.method, f"skipped (optional: {call.optional})"))
            return
        if call.method in NET_METHODS and not self.net:
            self.adapted.append((call.step, call.method, "skipped: the test guest has no NIC"))
            return
        if call.mode == "after_eof":
            self.deferred.append(call)
            return
        self._flush_deferred(self._due(call))
        msg = self.adapt(call, call.message(self.pb))
        if call.mode == "park":
            self.parked[call.step] = self.c.send(call.service, call.method, msg, timeout_nano=0)
        elif call.mode == "stream":
            self._stream_start(call, msg)
        else:
            self._answer(call, self.c.call(call.service, call.method, msg, timeout=self.timeout))

    def _answer(self, call, rep):
        self.replies[call.step] = rep
        if rep.ok:
            if call.method == "WaitProcess":
                st = rep.decode(self.pb.agent.WaitProcessResponse).status
                self.statuses.setdefault(_proc(call.request), st)
            return rep
        if call.on_error != "fatal":
            self.errors.append((call.step, call.method, str(rep)))
            return rep
        raise ReplayError(f"{self.fx.scenario}.{self.fx.shim} step {call.step} "
                          f"{call.method}: {rep}")

    def adapt(self, call, msg):
        """msg (call's request) as the test guest can take it: the app image replaced by the
        overlay's busybox bundle (recorded in self.adapted). A test building a request of its
        own from a fixture's call uses it too."""
        if call.method != "CreateContainer":
            return msg
        keep = []
        for st in msg.storages:
            if st.driver == "image_guest_pull" and st.source != "pause":
                msg.OCI.Root.Path = BUNDLE_ROOTFS
                self.adapted.append((call.step, call.method, f"image {st.source} -> the test "
                                     "overlay's busybox bundle (no registry here)"))
                continue
            keep.append(st)
        if len(keep) != len(msg.storages):
            del msg.storages[:]
            msg.storages.extend(keep)
        return msg

    # --- streams -----------------------------------------------------------------------------
    def _stream_start(self, call, msg):
        key = _proc(call.request) + (call.method,)
        self.streams[key] = [self._read(call.method, msg), b"", msg]

    def _read(self, method, msg):
        return self.c.send("grpc.AgentService", method, msg, timeout_nano=0)

    def _drain(self, cid, exec_id):
        for key, st in self.streams.items():
            if key[0] != cid or key[1] != exec_id:
                continue
            for _ in range(100000):
                if st[0] is None:
                    break
                self._pump(st, key, self.timeout)
            else:
                raise ReplayError(f"{key}: the stream never ended")

    @staticmethod
    def _due(call):
        """Which deferred after_eof calls must be sent before call: a predicate on their
        process (cid, exec). A signal to a process comes before its wait (it is what ends the
        streams); an exec comes after the container's earlier execs ended; any other call on a
        container after everything of that container; DestroySandbox after all; other calls
        on no container (CopyFile for a later container) wait for nothing."""
        cid, ex = _proc(call.request)
        if not cid:
            return (lambda p: True) if call.method == "DestroySandbox" else (lambda p: False)
        if call.method == "SignalProcess":
            return lambda p: p[0] == cid and p[1] != ex
        if call.method == "ExecProcess":
            return lambda p: p[0] == cid and p[1] != ""
        return lambda p: p[0] == cid

    def _flush_deferred(self, due=lambda p: True):
        """Send the deferred after_eof calls that are due, each once its streams ended."""
        todo = [c for c in self.deferred if due(_proc(c.request))]
        self.deferred = [c for c in self.deferred if c not in todo]
        for call in todo:
            msg = call.message(self.pb)
            self._drain(*_proc(call.request))
            self._answer(call, self.c.call(call.service, call.method, msg,
                                           timeout=self.timeout))

    def _collect_parked(self):
        for step, sid in list(self.parked.items()):
            try:
                rep = self.c.wait(sid, timeout=0.5)
            except Exception:  # noqa: BLE001  still parked (GetOOMEvent): nothing to collect
                continue
            self.replies[step] = rep
            del self.parked[step]

    def summary(self):
        lines = [f"{self.fx.scenario}.{self.fx.shim}: {len(self.replies)} answers"]
        lines += [f"  step {s} {m}: {why}" for s, m, why in self.adapted]
        lines += [f"  step {s} {m}: tolerated error {e}" for s, m, e in self.errors]
        return "\n".join(lines)


def end_pod(g, r, shim):
    """The end of a replayed pod: Go's DestroySandbox powers the guest off (waited for here);
    runtime-rs sends none and kills QEMU, which this does."""
    if shim == "runtime-rs":
        assert not r.calls("DestroySandbox"), "runtime-rs sends no DestroySandbox"
        g.poweroff()
        return
    end = time.monotonic() + 30
    while g.alive() and time.monotonic() < end:
        time.sleep(0.2)
    assert not g.alive(), "DestroySandbox did not power the guest off"
