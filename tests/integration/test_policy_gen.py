"""sealpod-policy generate (issue 16): a pod's YAML into the policy and the initdata its guest
runs. On the host: the generated policy, judged by the guest's own gate and policy code
(`sealpod-policy explain`), admits every call the Kata fixtures send for the same pod and
refuses a probe argv the YAML does not name; the initdata carries the policy and never a
Secret's value; a field that cannot be safe is refused by its path. In a guest (one boot): the
exec-probe pod's generated initdata on the initdata disk, its image pulled from the host's
registry and pinned by digest, its requests replayed as the Go shim sends them: the pod runs,
the probe's exec is allowed, any other exec is refused naming the rule."""
import base64
import gzip
import hashlib
import json
import os
import subprocess
import tempfile

import harness
import hostile as H
import kata_replay as kp
from harness import boots

TOP = harness.TOP
TOOL = os.path.join(TOP, "build", "sealpod-policy")
PODS = os.path.join(TOP, "tests", "data", "pods")
LOCK = os.path.join(PODS, "lock.json")
PROBE = ["/bin/cat", "/etc/hostname"]
APP_ARGS = ["/bin/sh", "-c", "echo up; exec sleep 3600"]


def tool(*args, expect=0, env=None):
    r = subprocess.run([TOOL, *args], cwd=TOP, capture_output=True, text=True, timeout=120,
                       env=dict(os.environ, **(env or {})))
    assert r.returncode == expect, (f"sealpod-policy {' '.join(args)} exited {r.returncode}, "
                                    f"not {expect}: {r.stdout[-800:]} {r.stderr.strip()}")
    return r


def policy_of(pod, d):
    out = os.path.join(d, f"{pod}.policy.json")
    tool("generate", os.path.join(PODS, f"{pod}.yaml"), "--lock", LOCK, "-o", out)
    return out


# Our pods whose YAML is the pod of a Kata request fixture (tests/data/kata-requests).
SAME_POD = (("plain", "resize"), ("service-account", "plain-pod"),
            ("nonroot-fsgroup", "emptydir-fsgroup"), ("exec-probe", "exec-probe"),
            ("shared-shm", "shared-shm"), ("nonroot-port80", "nonroot-port80"))


def test_policy_gen_explain_admits_the_kata_fixtures():
    """For each pod, both shims' fixture for the same pod, decoded as protobuf and judged call
    by call by the guest's gate under the generated policy: every call is allowed (the
    images on the condition of their pinned digest)."""
    d = tempfile.mkdtemp(prefix="sealpod-policygen-")
    done = []
    for pod, scenario in SAME_POD:
        pol = policy_of(pod, d)
        for shim in ("go", "runtime-rs"):
            fx = os.path.join(TOP, "tests", "data", "kata-requests", f"{scenario}.{shim}.json")
            r = tool("explain", pol, fx, "--set", f"PROBE_ARGS={json.dumps(PROBE)}")
            assert "denied" not in r.stdout, r.stdout
            assert "pending the digest" in r.stdout or scenario == "resize", r.stdout
            done.append(f"{pod}/{scenario}.{shim}")
    return "allowed: " + ", ".join(done)


def test_policy_gen_explain_refuses_another_exec():
    """The exec-probe pod's policy refuses an exec of another argv, naming allowed_exec, and a
    container of another command, naming its process."""
    d = tempfile.mkdtemp(prefix="sealpod-policygen-")
    pol = policy_of("exec-probe", d)
    fx = os.path.join(TOP, "tests", "data", "kata-requests", "exec-probe.go.json")
    r = tool("explain", pol, fx, "--set", 'PROBE_ARGS=["/bin/sh"]', expect=1)
    assert "ExecProcessRequest is blocked by policy: argv (1 args, argv[0] '/bin/sh') is not " \
           "in allowed_exec" in r.stdout, r.stdout
    r = tool("explain", pol, fx, "--set", f"PROBE_ARGS={json.dumps(PROBE)}",
             "--set", 'APP_ARGS=["/bin/sh"]', expect=1)
    assert "the process args differ from the one pinned" in r.stdout, r.stdout


def test_policy_gen_explain_refuses_privilege_changes():
    """The nonroot-port80 pod (allowPrivilegeEscalation: false) pins no_new_privileges true and
    read_only_root false: its Kata fixture with the app's NoNewPrivileges turned off, or its
    root made read-only, is refused naming the field, through the guest's gate from the
    protobuf request."""
    d = tempfile.mkdtemp(prefix="sealpod-policygen-")
    pol = policy_of("nonroot-port80", d)
    src = os.path.join(TOP, "tests", "data", "kata-requests", "nonroot-port80.go.json")
    for field, value, want in (
            ("NoNewPrivileges", False, "no_new_privileges is false, the policy pins true"),
            ("Readonly", True, "read_only_root is true, the policy pins false")):
        with open(src) as f:
            fx = json.load(f)
        app = next(c["request"] for c in fx["calls"] if c["method"] == "CreateContainer" and
                   c["request"]["containerId"] == "${CID}")
        (app["OCI"]["Process"] if field == "NoNewPrivileges" else app["OCI"]["Root"])[field] = \
            value
        path = os.path.join(d, f"{field}.json")
        with open(path, "w") as f:
            json.dump(fx, f)
        r = tool("explain", pol, path, expect=1)
        assert "CreateContainerRequest is blocked by policy: " + want in r.stdout, r.stdout


def test_policy_gen_initdata_never_holds_a_secret():
    """generate writes the policy, the initdata TOML around it (with the initdata flags) and the
    pod's YAML with that initdata as its annotation; the pod's Secret, used as env and as a
    volume, appears in none of them, in clear or base64. Initdata flags with nowhere to write
    the initdata are refused."""
    d = tempfile.mkdtemp(prefix="sealpod-policygen-")
    out, pol, ann = (os.path.join(d, n) for n in ("initdata.toml", "policy.json", "pod.yaml"))
    pod = os.path.join(PODS, "configmap-secret.yaml")
    tool("generate", pod, "--lock", LOCK, "--kbs-url", "http://10.0.2.100:8080",
         "-o", pol, "--initdata-out", out, "--annotate", ann)
    toml, policy, annotated = open(out).read(), open(pol).read(), open(ann).read()
    assert '"policy.rego"' in toml and "allowed_images" in toml, toml[:400]
    assert "http://10.0.2.100:8080" in toml
    value = next(ln.split(":", 1)[1].strip().strip('"') for ln in annotated.splitlines()
                 if "io.katacontainers.config.hypervisor.cc_init_data" in ln)
    assert gzip.decompress(base64.b64decode(value)).decode() == toml
    for text in (toml, policy, annotated.replace("czNjcmV0LXZhbHVl", "")):
        assert "s3cret-value" not in text and "czNjcmV0LXZhbHVl" not in text
    assert annotated.count("czNjcmV0LXZhbHVl") == open(pod).read().count("czNjcmV0LXZhbHVl")
    env = json.loads(policy)["allowed_images"][0]["process"]["env"]
    assert "DB_PASSWORD=*" in env and "LOG_LEVEL=debug" in env, env
    r = tool("generate", pod, "--lock", LOCK, "--kbs-url", "http://x", "-o", pol, expect=2)
    assert "initdata flags without --initdata-out or --annotate" in r.stderr, r.stderr


def test_policy_gen_refuses_unsafe_fields_by_path():
    """hostPath and the host's namespaces cannot be safe: an error naming the field's path,
    exit status 2, nothing written."""
    d = tempfile.mkdtemp(prefix="sealpod-policygen-")
    cases = {
        "hostpath.yaml": ("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n"
                          "  template:\n    spec:\n      containers: [{name: c, image: x}]\n"
                          "      volumes: [{name: h, hostPath: {path: /}}]\n",
                          "spec.template.spec.volumes[0].hostPath"),
        "hostnet.yaml": ("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n"
                         "  hostNetwork: true\n  containers: [{name: c, image: x}]\n",
                         "spec.hostNetwork"),
        "service.yaml": ("apiVersion: v1\nkind: Service\nmetadata: {name: s}\n",
                         "kind 'Service' is not supported"),
    }
    for name, (yaml_text, want) in cases.items():
        path, out = os.path.join(d, name), os.path.join(d, name + ".out")
        with open(path, "w") as f:
            f.write(yaml_text)
        r = tool("generate", path, "--lock", LOCK, "-o", out, expect=2)
        assert want in r.stderr, r.stderr
        assert not os.path.exists(out)


FAKE_MANIFEST = json.dumps({"schemaVersion": 2, "mediaType":
                            "application/vnd.oci.image.index.v1+json", "manifests": []})
FAKE_CONFIG = json.dumps({"architecture": "amd64", "os": "linux", "config": {
    "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
    "Entrypoint": ["/entry"], "User": "1000:1000"}})


def fake_skopeo(d):
    """A stand-in for skopeo on PATH: what a registry says of the plain pod's image (this test
    reaches no registry); anything else is an error, as skopeo's would be."""
    bindir = os.path.join(d, "bin")
    os.makedirs(bindir)
    with open(os.path.join(bindir, "skopeo"), "w") as f:
        f.write("#!/bin/sh\n"
                '[ "$1" = inspect ] && [ "$3" = docker://registry.example/shapes/app:1.0 ] || '
                "{ echo \"fake skopeo: $*\" >&2; exit 1; }\n"
                f"case $2 in --raw) printf '%s' '{FAKE_MANIFEST}' ;; "
                f"--config) printf '%s' '{FAKE_CONFIG}' ;; *) exit 2 ;; esac\n")
    os.chmod(os.path.join(bindir, "skopeo"), 0o755)
    return {"PATH": bindir + ":" + os.environ.get("PATH", "")}


def test_policy_gen_resolve_writes_a_lock_file():
    """--resolve: the digest is the sha256 of the manifest skopeo fetched (what the reference
    names), the process comes from the configuration it gave; --lock-out writes a lock file
    that reproduces the same policy offline; without skopeo, an error that names it."""
    d = tempfile.mkdtemp(prefix="sealpod-policygen-")
    env = fake_skopeo(d)
    pod = os.path.join(PODS, "plain.yaml")
    p1, p2, lock = (os.path.join(d, n) for n in ("p1.json", "p2.json", "lock.json"))
    tool("generate", pod, "--resolve", "--lock-out", lock, "-o", p1, env=env)
    img = json.load(open(p1))["allowed_images"][0]
    want = "sha256:" + hashlib.sha256(FAKE_MANIFEST.encode()).hexdigest()
    assert img["digest"] == want, img
    assert img["process"]["user"]["uid"] == 1000 and img["process"]["args"][0] == "/bin/sh", img
    assert json.load(open(lock))["images"]["registry.example/shapes/app:1.0"]["digest"] == want
    tool("generate", pod, "--lock", lock, "-o", p2, env={"PATH": os.path.join(d, "nowhere")})
    assert open(p1).read() == open(p2).read()
    r = tool("generate", pod, "--resolve", "-o", p2, expect=2,
             env={"PATH": os.path.join(d, "nowhere")})
    assert "skopeo" in r.stderr and "spec.containers[0].image" in r.stderr, r.stderr


# --- the guest ------------------------------------------------------------------------------------

IMAGE_CFG = {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
             "Cmd": ["/bin/sh"], "WorkingDir": "/"}

POD_YAML = """apiVersion: v1
kind: Pod
metadata:
  name: shapes
spec:
  runtimeClassName: kata-sealpod
  restartPolicy: Never
  automountServiceAccountToken: false
  containers:
  - name: app
    image: {image}
    command: {args}
    securityContext:
      capabilities:
        drop: [ALL]
    livenessProbe:
      exec:
        command: {probe}
"""


def images():
    return {"app": ([H.busybox_layer()], IMAGE_CFG, False)}


def initdata(st):
    """The pod owner's side: the lock file from what the registry serves (skopeo inspect would
    say the same), the YAML, and generate's initdata (no KBS: attestation not required)."""
    w = st.work
    with open(os.path.join(w, "lock.json"), "w") as f:
        json.dump({"version": 1, "images": {H.ref("app"): {"digest": st.digests["app"],
                                                           "config": IMAGE_CFG}}}, f)
    with open(os.path.join(w, "pod.yaml"), "w") as f:
        f.write(POD_YAML.format(image=H.ref("app"), args=json.dumps(APP_ARGS),
                                probe=json.dumps(PROBE)))
    with open(os.path.join(w, "settings.json"), "w") as f:
        json.dump({"require_attestation": False}, f)
    with open(os.path.join(w, "ca.pem"), "w") as f:
        f.write(st.ca_pem)
    out = os.path.join(w, "initdata.toml")
    tool("generate", os.path.join(w, "pod.yaml"), "--lock", os.path.join(w, "lock.json"),
         "--settings", os.path.join(w, "settings.json"), "--registry-ca",
         os.path.join(w, "ca.pem"), "-o", os.path.join(w, "policy.json"), "--initdata-out", out)
    return open(out).read()


STACK = H.Stack(images=images, initdata=initdata)
G = dict(test=True, mem=1024, lifetime=1200, ready_timeout=60, extra=STACK)


class GuestPullReplay(kp.Replay):
    """The replay with the shim's own image_guest_pull storage kept: the guest pulls the app
    image from the host's registry, so the policy's digest pin is what decides."""

    def adapt(self, call, msg):
        return msg


@harness.ends_guest
@boots(**G)
def test_policy_gen_guest_exec_probe(g):
    """Under the generated initdata (verified at boot: the initdata disk), the exec-probe pod's
    requests as the Go shim sends them: the image is pulled and matches its pinned digest, the
    container runs, both probe execs are allowed and print the pod's hostname; an exec of
    another argv is PERMISSION_DENIED naming allowed_exec; DestroySandbox ends the pod."""
    H.network(g)
    fx = kp.load("exec-probe", "go", IMAGE=H.ref("app"), APP_ARGS=APP_ARGS, PROBE_ARGS=PROBE)
    cid = fx.values["CID"]
    c = H.client(g)
    r = GuestPullReplay(c, fx)
    with c:
        r.run(stop=kp.before("ExecProcess", containerId=cid))
        r.wait_output(cid, "up")
        bad = r.calls("ExecProcess")[0].message(r.pb)
        bad.exec_id = "f" * 64
        del bad.process.Args[:]
        bad.process.Args.extend(["/bin/sh", "-c", "cat /proc/1/environ"])
        rep = c.call("grpc.AgentService", "ExecProcess", bad, timeout=60)
        assert not rep.ok and tt_code(rep) == "PERMISSION_DENIED", rep
        assert ("ExecProcessRequest is blocked by policy: argv (3 args, argv[0] '/bin/sh') is "
                "not in allowed_exec") in rep.message, rep.message
        r.run()
    for call in r.calls("ExecProcess"):
        ex = call.request["execId"]
        assert r.output(cid, ex).decode().strip() == fx.values["HOSTNAME"], r.output(cid, ex)
        assert r.status(cid, ex) == 0, r.status(cid, ex)
    kp.end_pod(g, r, "go")
    return r.summary() + f"\n  another exec: {rep.message}"


def tt_code(rep):
    return H.tt.CODES.get(rep.code, rep.code)
