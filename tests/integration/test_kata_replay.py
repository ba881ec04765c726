"""Stock Kubernetes pods as the Kata shims drive them (issue 15): the fixtures of
tests/data/kata-requests/ replayed call by call (tests/integration/kata_replay.py) against the test
guest, for the Go shim and runtime-rs, each asserting what the pod must see INSIDE its
containers, not only OK answers. The containers print what they see on stdout, which the
replay's ReadStdout streams collect.

One boot per pod: the Go shim ends its pod with DestroySandbox (the guest powers off);
runtime-rs never sends it and kills QEMU after the last RemoveContainer, which the test does
(Guest.poweroff). The built-in default policy judges every call (no SetPolicy) except where a
test says otherwise. What the replay adapts to the test guest (the app image is the overlay's
busybox bundle, no NIC) is printed with each result.
"""
import os
import sys
import time

import harness
from harness import boots

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import kata_replay as kp  # noqa: E402

TEST = dict(test=True)


def sh(script):
    """APP_ARGS for a container that runs script, says `ready`, then sleeps until signalled."""
    return ["/bin/sh", "-c", script + "; echo ready; exec sleep 3600"]


def replay(g, scenario, shim, **values):
    fx = kp.load(scenario, shim, **values)
    c = kp.tt.Client(g.agent_connect(), timeout=120)
    return fx, c, kp.Replay(c, fx)


def finish(g, r, shim):
    """The end of the pod: Go's DestroySandbox powered the guest off; runtime-rs's shim kills
    QEMU, which the test does."""
    if shim == "runtime-rs":
        assert not r.calls("DestroySandbox"), "runtime-rs sends no DestroySandbox"
        g.poweroff()
    else:
        end = time.monotonic() + 30
        while g.alive() and time.monotonic() < end:
            time.sleep(0.2)
        assert not g.alive(), "DestroySandbox did not power the guest off"
    return r.summary()


def lines(r, cid, exec_id=""):
    return r.output(cid, exec_id).decode(errors="replace").splitlines()


# --- plain-pod ----------------------------------------------------------------------------------

def plain_pod(g, shim):
    fx, c, r = replay(g, "plain-pod", shim, APP_ARGS=sh(
        "cat /etc/hostname; cat /proc/sys/net/ipv4/ip_unprivileged_port_start; "
        "echo terminated-cleanly > /dev/termination-log; "
        "touch /dev/shm/w && echo shm-writable"))
    cid = fx.values["CID"]
    with c:
        r.run(stop=kp.before("SignalProcess", containerId=cid))
        r.wait_output(cid, "ready")
        r.run()
    out = lines(r, cid)
    assert out[:2] == [fx.values["HOSTNAME"], "0"] and "shm-writable" in out and \
        out[-1] == "ready", out
    diag = [cl for cl in r.calls("GetDiagnosticData")][0]
    rep = r.reply(diag.step)
    assert rep is not None and rep.ok, f"GetDiagnosticData under the default policy: {rep}"
    data = rep.decode(r.pb.agent.GetDiagnosticDataResponse).data
    assert data.strip() == "terminated-cleanly", data
    return finish(g, r, shim)


@harness.ends_guest
@boots(**TEST)
def test_kata_replay_plain_pod_go(g):
    """plain-pod, Go shim: CreateSandbox with the shm storage, the pause with containerd's
    sysctls, the app's copied files; the app sees its hostname, the pause's
    ip_unprivileged_port_start=0 and a writable /dev/shm; GetDiagnosticData answers its
    termination message under the built-in default policy; DestroySandbox powers off."""
    return plain_pod(g, "go")


@harness.ends_guest
@boots(**TEST)
def test_kata_replay_plain_pod_runtime_rs(g):
    """plain-pod, runtime-rs: the same effects; the pod ends without DestroySandbox."""
    return plain_pod(g, "runtime-rs")
