"""The hostile host of issue 14, part 2: the pod owner's secrets and policy, and what the host
reads (three boots).

Boot S: the pod owner's initdata (hostile.Stack) names the test KBS (plain HTTP and sample
evidence: test overlay), a secret bound to the digest of the app image, a second secret the KBS
refuses with a detail, and a JSON policy: default allow, ExecProcess denied, allowed_images with
the app's digest, pin_process_to_image. The host serves the images (its registry) and sends the
requests. Every check looks at the guest (test shell, console) and at the KBS's log: "the secret
never fetched" means the KBS released it no more times than before the request.
Boot R: a KBS that refuses the attestation with a detail. Boot Q: the production image.

Each docstring says how the test fails at 0af5081 (the observed attack outcome), and what the
refusal should say where today's code has no such refusal yet.
"""
import json
import re
import time

import hostile as H
from hostile import SHARED, BUNDLE_ROOTFS, pb, tt
from harness import boots, ends_guest_fatal

SECRET = b"sealpod-hostile-secret-3e9d71f0a2b4c6d8"
DETAIL = "owner-detail-9f2c41: resource policy rule r17 denies fault/x/refuse"
WORKDIR = "/srv/wd-5c1e9a"
ENV_MARK = "APP_HINT=environ-marker-71c2"
WEB = b"#!/bin/sh\necho app up\nexec sleep 1000\n"
APP_CFG = {"Entrypoint": ["/app/web"], "Cmd": ["serve"], "Env": ["PATH=/bin", ENV_MARK],
           "WorkingDir": WORKDIR}
SPY = ("sleep 1; for p in /proc/[0-9]*; do cat $p/root/run/secrets/tok $p/environ; echo; done "
       "2>/dev/null; echo spy-done")
SPY_CFG = {"Entrypoint": ["/bin/sh", "-c"], "Cmd": [SPY], "Env": ["PATH=/bin"],
           "WorkingDir": "/"}
SANDBOX = "hsb"


def images():
    app = [H.busybox_layer([("app/web", "file", WEB, 0o755), (WORKDIR[1:], "dir", b"", 0o755)])]
    return {"app": (app, APP_CFG, False),
            "app-refuse": (app, APP_CFG, True),  # the same files, another manifest digest
            "spy": ([H.busybox_layer()], SPY_CFG, False)}


def kbs_args(st):
    path = f"{st.work}/tok"
    with open(path, "wb") as f:
        f.write(SECRET)
    return ["--resource", f"default/key/tok={path}", "--refusal-detail", DETAIL]


def owner_policy(st, exec_rule="deny"):
    return {"version": 1, "default": "allow",
            "requests": {"ExecProcessRequest": exec_rule},
            "allowed_images": [{"reference": H.ref("app"), "digest": st.digests["app"]},
                               {"reference": H.ref("app-refuse")}, {"reference": H.ref("spy")}],
            "pin_process_to_image": True,
            "require_attestation": True}


def initdata(st):
    return (f'version = "0.1.0"\nalgorithm = "sha256"\n[data]\n'
            f'"aa.toml" = \'\'\'\n[token_configs.kbs]\nurl = "http://10.0.2.100:{H.GUEST_KBS}"\n'
            f'\'\'\'\n"cdh.toml" = \'\'\'\n[sealpod]\nregistry_ca = """\n{st.ca_pem}"""\n'
            f'[sealpod.secrets.tok]\nresource = "kbs:///default/key/tok"\n'
            f'image = "{st.digests["app"]}"\npath = "/run/secrets/tok"\nmode = "0444"\n'
            f'[sealpod.secrets.owner-key]\nresource = "kbs:///fault/x/refuse"\n'
            f'image = "{st.digests["app-refuse"]}"\npath = "/run/secrets/owner-key"\n\'\'\'\n'
            f'"policy.rego" = \'\'\'\n{json.dumps(owner_policy(st))}\n\'\'\'\n')


STACK = H.Stack(images=images, kbs=kbs_args, initdata=initdata)
S = dict(test=True, mem=1024, lifetime=1500, ready_timeout=60,
         cmdline="sealpod.evidence=sample", extra=STACK)


def setup(g):
    """The network (Kata's UpdateInterface, through the shell) and the host's files in the
    shared-files directory: a directory with its own `web`, and an ld.so.preload."""
    if g.notes.get("setup"):
        return
    H.network(g)
    with H.client(g) as c:
        H.ok(H.copy_file(c, f"{SHARED}/evil-app", b"", H.S_IFDIR | 0o755), "CopyFile evil-app/")
        H.ok(H.copy_file(c, f"{SHARED}/evil-app/web", b'#!/bin/sh\necho "host code read: '
                         b'$(cat /run/secrets/tok)"\n', H.S_IFREG | 0o755), "CopyFile web")
        H.ok(H.copy_file(c, f"{SHARED}/preload", b"/app/evil.so\n", H.S_IFREG | 0o644),
             "CopyFile preload")
    g.notes["setup"] = True


def ensure_sandbox(g, c):
    """The pod's pause container, as the shim creates it (it starts the lazy attestation)."""
    if g.notes.get("sandbox"):
        return
    root = f"/run/kata-containers/{SANDBOX}/rootfs"
    s = H.spec(["/pause"], root, proc=False)
    H.ok(H.create(c, SANDBOX, s, [dict(driver="image_guest_pull", source="pause",
                                       mount_point=root)]), "create the pause sandbox")
    H.start(c, SANDBOX)
    g.notes["sandbox"] = True


def app_spec(cid, **kw):
    """The app's pinned process (entrypoint + cmd, the image's env, workdir and user)."""
    return H.spec(["/app/web", "serve"], f"/run/kata-containers/{cid}/rootfs",
                  env=kw.pop("env", ("PATH=/bin", ENV_MARK)), cwd=kw.pop("cwd", WORKDIR), **kw)


def app_pull(cid, name="app"):
    return [H.pull(name, f"/run/kata-containers/{cid}/rootfs")]


def secrets_dir(g, cid):
    return g.sh_ok(f"ls /run/sealpod/secrets/{cid} 2>/dev/null || echo none").strip()


# --- boot S: the pod owner's initdata -------------------------------------------------------------

@boots(**S)
def test_setpolicy_cannot_replace_the_initdata_policy(g):
    """Before the first CreateContainer (so before the lazy attestation), the host sends
    SetPolicy with the owner's own policy but ExecProcess allowed. The initdata policy allows
    SetPolicy (default allow), yet SetPolicy must be PERMISSION_DENIED naming initdata, and the
    initdata policy must stay in force: after the pause container (attestation) an ExecProcess is
    PERMISSION_DENIED by rule ExecProcessRequest.

    Fails at 0af5081 because sp_policy_set_allowed() only refuses after attestation or a first
    container: SetPolicy is accepted, the exec then runs, and the KBS later attests an initdata
    whose policy is no longer the one running."""
    setup(g)
    doc = H.json_doc(owner_policy(STACK, exec_rule="allow"))
    with H.client(g) as c:
        setp = c.agent("SetPolicy", pb.agent.SetPolicyRequest(policy=doc))
        ensure_sandbox(g, c)
        attested = STACK.kbs.events("attest")
        ex = c.agent("ExecProcess", H.exec_req(SANDBOX, "e1", ["/pause"]))
        if ex.ok:
            c.agent("SignalProcess", pb.agent.SignalProcessRequest(container_id=SANDBOX,
                                                                   exec_id="e1", signal=9))
    assert attested and attested[0]["result"] == "ok", attested
    bad = []
    if setp.code != tt.PERMISSION_DENIED or "initdata" not in setp.message:
        bad.append(f"SetPolicy answered {H.short(setp)}")
    if ex.code != tt.PERMISSION_DENIED or "ExecProcessRequest" not in ex.message:
        bad.append(f"the exec afterwards answered {H.short(ex)}")
    assert not bad, "; ".join(bad)


@boots(**S)
def test_pin_refusal_names_the_field_not_the_image_data(g):
    """A CreateContainer of the app whose cwd is not the image's WorkingDir: PERMISSION_DENIED
    naming the field (pin_process_to_image, cwd), and the reply never holds the image
    configuration's value (the host learns nothing of a private image's metadata).

    Fails at 0af5081 because image.c's message quotes the image's WorkingDir."""
    setup(g)
    with H.client(g) as c:
        ensure_sandbox(g, c)
        rep = H.create(c, "pc", app_spec("pc", cwd="/tmp"), app_pull("pc"))
        if rep.ok:
            H.remove(c, "pc")
    assert rep.code == tt.PERMISSION_DENIED and "cwd" in rep.message, H.short(rep)
    assert WORKDIR not in rep.message, f"the refusal holds the image's WorkingDir: {rep.message}"


def bind_attack(g, cid, mount):
    """The pinned app with one host bind added: (reply, releases of the secret it caused,
    what the container printed, its secrets directory)."""
    with H.client(g) as c:
        ensure_sandbox(g, c)
        n0 = STACK.released("default/key/tok")
        rep = H.create(c, cid, app_spec(cid, mounts=[mount]), app_pull(cid))
        fetched = STACK.released("default/key/tok") - n0
        printed, sdir = "", secrets_dir(g, cid)
        if rep.ok:
            H.start(c, cid)
            rd = c.agent("ReadStdout", pb.agent.ReadStreamRequest(container_id=cid,
                                                                  exec_id=cid, len=4096))
            printed = rd.decode(pb.agent.ReadStreamResponse).data.decode(errors="replace") \
                if rd.ok else ""
            H.remove(c, cid)
    return rep, fetched, printed.strip(), sdir


@boots(**S)
def test_bind_over_the_pinned_entrypoint_directory(g):
    """Under the strictest policy the format has (allowed_images with the digest,
    pin_process_to_image), the host binds a CopyFile'd directory holding its own `web` over the
    pinned entrypoint's directory /app. Refused with PERMISSION_DENIED naming the mount (a
    message with "mount" or "/app"), and the KBS never releases the image's secret for it.

    Fails at 0af5081 because binds are invisible to the policy and to the pin (spec.c, gate.c,
    image.c): the create succeeds, the secret is fetched, and the host's /app/web prints it."""
    setup(g)
    rep, fetched, printed, sdir = bind_attack(g, "b1", H.bind(f"{SHARED}/evil-app", "/app"))
    assert rep.code == tt.PERMISSION_DENIED and re.search(r"mount|/app", rep.message) and \
        fetched == 0, (f"create answered {H.short(rep)}; secret released {fetched} time(s); "
                       f"secrets dir: {sdir}; the container printed {printed!r}")


@boots(**S)
def test_bind_over_ld_so_preload(g):
    """The same with a CopyFile'd file bound over /etc/ld.so.preload: PERMISSION_DENIED naming
    the mount, the secret never released.

    Fails at 0af5081 for the same reason: the create succeeds and the secret is fetched."""
    setup(g)
    rep, fetched, printed, sdir = bind_attack(g, "b2", H.bind(f"{SHARED}/preload",
                                                             "/etc/ld.so.preload"))
    assert rep.code == tt.PERMISSION_DENIED and re.search(r"mount|ld\.so\.preload",
                                                          rep.message) and fetched == 0, \
        f"create answered {H.short(rep)}; secret released {fetched} time(s); secrets dir: {sdir}"


@boots(**S)
def test_failed_create_leaves_nothing_to_reuse(g):
    """A CreateContainer that pulls the app and then fails (a hook in the spec), then a second
    CreateContainer of the same id with no storage, Root.Path the first one's mount point, the
    pinned process and host binds (over /app and the working directory), naming the image by annotation: once `pause` (which
    always passes allowed_images), once the app's allowed tag (allowed pending the digest). Both
    refused (e.g. INVALID_ARGUMENT "no rootfs was prepared", or PERMISSION_DENIED), no secret
    released for them, no secrets directory made.

    Fails at 0af5081 because a failed create forgets its rootfs and image-config (digest)
    registrations only on RemoveContainer (container.c): the second create succeeds on the
    stale registrations, and the app's secret is fetched into a rootfs made of host binds."""
    setup(g)
    bad = []
    with H.client(g) as c:
        ensure_sandbox(g, c)
        for cid, name in (("sr1", "pause"), ("sr2", H.ref("app"))):
            s = app_spec(cid)
            s.Hooks.Prestart.add(Path="/bin/sh")
            first = H.create(c, cid, s, app_pull(cid))
            assert not first.ok, f"the first create of {cid} was meant to fail: {first}"
            n0 = STACK.released("default/key/tok")
            # the empty stale rootfs gets the host's /app and the pinned working directory
            s = app_spec(cid, mounts=[H.bind(f"{SHARED}/evil-app", "/app"),
                                      H.bind(f"{SHARED}/evil-app", WORKDIR)],
                         annotations={"io.kubernetes.cri.image-name": name})
            rep = H.create(c, cid, s)
            fetched = STACK.released("default/key/tok") - n0
            sdir = secrets_dir(g, cid)
            if rep.ok:
                H.remove(c, cid)
            if rep.ok or fetched or sdir != "none":
                bad.append(f"{cid} (image-name {name}): {H.short(rep)}, secret released "
                           f"{fetched} time(s), secrets dir: {sdir}")
    assert not bad, "; ".join(bad)


@boots(**S)
def test_sandbox_pidns_cotenant_cannot_read_secrets(g):
    """The victim (the app, root, with its secret) and the host's container (an allowed image
    whose own configuration runs a script that reads /proc/*/root/run/secrets/tok and
    /proc/*/environ), both asking for the sandbox's pid namespace. Either sandbox_pidns is
    refused (PERMISSION_DENIED naming sandbox_pidns: the policy decides it), or the spy reads
    neither the secret nor the victim's environment.

    Fails at 0af5081 because sandbox_pidns is honoured for any request and the processes are
    ptrace-readable by a co-tenant root: the spy prints the secret and the victim's env."""
    setup(g)
    with H.client(g) as c:
        ensure_sandbox(g, c)
        v = H.create(c, "pv", app_spec("pv"), app_pull("pv"), pidns=True)
        spy, out = None, ""
        if v.ok:
            H.start(c, "pv")
            spy = H.create(c, "spy", H.spec(["/bin/sh", "-c", SPY],
                                             "/run/kata-containers/spy/rootfs"),
                           app_pull("spy", "spy"), pidns=True)
            if spy.ok:
                H.start(c, "spy")
                out = H.read_all(c, "spy")
                H.remove(c, "spy")
            H.remove(c, "pv")
    refused = [r for r in (v, spy) if r is not None and not r.ok]
    if refused:
        r = refused[0]
        assert r.code == tt.PERMISSION_DENIED and "sandbox_pidns" in r.message, H.short(r)
        return f"refused: {H.short(r)}"
    assert "spy-done" in out, out
    assert SECRET.decode() not in out and ENV_MARK not in out, \
        f"the co-tenant read the victim's secret or environment: {out[:300]!r}"


@boots(**S)
def test_kbs_refusal_detail_stays_off_the_console(g):
    """A container whose image is bound to a secret the KBS refuses with a detail: the
    CreateContainer fails (as it must), and the detail, which the guest keeps out of the reply,
    appears on the serial console (which the host reads) neither.

    Fails at 0af5081 because attest.c's resource_result() prints the KBS's detail with sp_warn."""
    setup(g)
    con0 = len(g.console())
    with H.client(g) as c:
        ensure_sandbox(g, c)
        rep = H.create(c, "rf", app_spec("rf"), app_pull("rf", "app-refuse"))
        if rep.ok:
            H.remove(c, "rf")
    refused = [e for e in STACK.kbs.events("resource") if e.get("reason") == DETAIL]
    assert refused, f"the KBS never refused with the detail: {STACK.kbs.events('resource')}"
    assert not rep.ok and "secret owner-key" in rep.message, H.short(rep)
    new = g.console()[con0:]
    leaked = [ln for ln in new.splitlines() if "owner-detail-9f2c41" in ln]
    assert "owner-detail-9f2c41" not in rep.message and not leaked, \
        f"the KBS detail reached the host: reply {rep.message!r}; console {leaked}"


# --- boot R: the attestation itself refused with a detail ---------------------------------------

R_DETAIL = "owner-detail-9f2c41: attestation policy rule a3 wants a newer TCB"
R_STACK = H.Stack(kbs=lambda st: ["--refuse-attest", "--refusal-detail", R_DETAIL])
R = dict(test=True, cmdline="sealpod.kbs=http://10.0.2.100:8080 sealpod.evidence=sample",
         extra=R_STACK)


@boots(**R)
@ends_guest_fatal("attest.")
def test_attestation_refusal_detail_stays_off_the_console(g):
    """The KBS refuses the attestation (PolicyDeny with a detail). The first CreateContainer is
    refused with the stage, the guest powers off, and the detail is neither in the reply nor on
    the serial console.

    Fails at 0af5081 because attest_result() prints the whole reason with sp_log_fatal (the
    console's FATAL line carries "| KBS says: <detail>")."""
    H.network(g)
    c = H.client(g)
    try:
        rep = H.create(c, "r1", H.spec(["/bin/true"], BUNDLE_ROOTFS), timeout=120)
        reply = f"{H.short(rep)}"
    except (ConnectionError, TimeoutError) as e:  # the guest powers off right after
        rep, reply = None, f"no reply ({e})"
    finally:
        c.close()
    end = time.monotonic() + 60
    while "FATAL attest" not in g.console() and time.monotonic() < end:
        time.sleep(0.5)
    con = g.console()
    refused = [e for e in R_STACK.kbs.events("attest") if e.get("reason") == R_DETAIL]
    assert refused and "FATAL attest" in con and not (rep and rep.ok), reply + g.context(10)
    leaked = [ln for ln in con.splitlines() if "owner-detail-9f2c41" in ln]
    assert "owner-detail-9f2c41" not in reply and not leaked, \
        f"the KBS detail reached the host: reply {reply}; console {leaked}"


# --- boot Q: the production image ---------------------------------------------------------------

@boots(test=False, cmdline="agent.server_addr=unix:///run/sealpod-agent.sock")
def test_production_ignores_a_unix_server_addr(g):
    """agent.server_addr=unix://... on a production command line (no test overlay) is ignored:
    the listener stays on vsock with the host-only peer check (the console's `listen:` line).

    Fails at 0af5081 because cmdline.c honours it everywhere: the production guest listens on a
    Unix socket with no peer check (`listen: unix:///run/sealpod-agent.sock, peers: any`)."""
    lines = [ln for ln in g.console().splitlines() if "sealpod: listen:" in ln]
    assert lines and "vsock" in lines[0] and "unix:" not in lines[0] and \
        "peers: host" in lines[0], f"listen line: {lines}"
