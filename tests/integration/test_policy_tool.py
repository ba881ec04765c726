"""sealpod-policy on the host (issue 16): `explain` gives the guest's verdict and names the rule,
`initdata` writes what the guest's own parser (compiled into the tool) accepts with the digest
sealpod-measure computes, `annotate` puts that very file on the pod template of a Pod, a
Deployment and a CronJob, and `--refvalues` gives the installed configurations' values for it.
No guest boot: the tool links the guest's policy, gate and initdata code."""
import base64
import glob
import gzip
import hashlib
import json
import os
import shutil
import subprocess
import tempfile

import yaml

import harness

TOP = harness.TOP
B = os.path.join(TOP, "build")
TOOL = os.path.join(B, "sealpod-policy")
FIXTURES = os.path.join(TOP, "tests", "data", "kata-requests")
DATA = os.path.join(TOP, "tests", "data", "policy-tool")
ANNOTATION = "io.katacontainers.config.hypervisor.cc_init_data"
CA = "-----BEGIN CERTIFICATE-----\nMIIBtest\n-----END CERTIFICATE-----\n"
DIGEST = "sha256:" + "ab" * 32


def _tool(*args, env=None, expect=0):
    r = subprocess.run([TOOL, *args], cwd=TOP, capture_output=True, text=True, timeout=120,
                       env=dict(os.environ, **(env or {})))
    assert r.returncode == expect, (f"sealpod-policy {' '.join(args)} exited {r.returncode}, "
                                    f"not {expect}: {r.stdout[-800:]} {r.stderr.strip()}")
    return r


def _tmp():
    d = tempfile.mkdtemp(prefix="sealpod-policy-")
    return d


# example.json's rules with the exec probe's argv allowed and no image, mount or pin constraints
# (the fixtures' images and mounts are not example.json's); README's explain example uses it.
PROBE_POLICY = os.path.join(DATA, "exec-probe-policy.json")


def test_policy_tool_explain_builtin_admits_every_fixture_but_exec():
    """The built-in default allows every call both shims send for the fixtures' pods, and denies
    exactly the exec probe's ExecProcess calls, naming the rule."""
    for path in sorted(glob.glob(os.path.join(FIXTURES, "*.json"))):
        with open(path) as f:
            calls = json.load(f)["calls"]
        execs = [c["step"] for c in calls if c["method"] == "ExecProcess"]
        r = _tool("explain", "builtin", path, expect=1 if execs else 0)
        denied = [int(line.split()[1]) for line in r.stdout.splitlines()
                  if line.startswith("step ") and line.endswith(": DENIED")]
        assert denied == execs, (path, denied, execs)
        for step in denied:
            why = r.stdout.split(f"step {step} ExecProcess: DENIED\n", 1)[1].splitlines()[0]
            assert why.strip() == ("ExecProcessRequest is blocked by policy: the built-in "
                                   "default policy denies ExecProcessRequest"), why


def test_policy_tool_explain_exec_probe_allowed_and_another_refused():
    d = _tmp()
    try:
        policy = PROBE_POLICY
        for shim in ("go", "runtime-rs"):
            fx = os.path.join(FIXTURES, f"exec-probe.{shim}.json")
            r = _tool("explain", policy, fx)
            assert "DENIED" not in r.stdout, r.stdout
            with open(fx) as f:
                step = next(c["step"] for c in json.load(f)["calls"]
                            if c["method"] == "ExecProcess")
            r = _tool("explain", policy, fx, "--step", str(step))
            assert r.stdout.splitlines()[1:] == [f"step {step} ExecProcess: allowed",
                                                 "  ExecProcessRequest allowed"], r.stdout
            # Another argv for the same probe: refused, naming the constraint and the argv.
            r = _tool("explain", policy, fx, "--set", 'PROBE_ARGS=["/bin/cat","/etc/shadow"]',
                      expect=1)
            lines = [ln for ln in r.stdout.splitlines() if ln.endswith(": DENIED")]
            assert lines and all("ExecProcess" in ln for ln in lines), r.stdout
            assert ("ExecProcessRequest is blocked by policy: argv (2 args, argv[0] '/bin/cat') "
                    "is not in allowed_exec") in r.stdout, r.stdout
        # One call on its own, as a user writes it to debug a refusal.
        call = os.path.join(d, "exec.json")
        with open(call, "w") as f:
            json.dump({"method": "ExecProcess",
                       "request": {"containerId": "c1", "execId": "e1",
                                   "process": {"Args": ["/bin/sh"], "Cwd": "/"}}}, f)
        r = _tool("explain", policy, call, expect=1)
        assert "step 1 ExecProcess: DENIED" in r.stdout and "allowed_exec" in r.stdout
        _tool("explain", policy, os.path.join(d, "missing.json"), expect=2)
        _tool("explain", os.path.join(TOP, "tests", "data", "policy", "genpolicy-style.rego"),
              call, expect=2)
    finally:
        shutil.rmtree(d)


def _initdata(d, policy=None):
    ca = os.path.join(d, "ca.pem")
    with open(ca, "w") as f:
        f.write(CA)
    out = os.path.join(d, "initdata.toml")
    args = ["initdata", "-o", out, "--kbs-url", "https://kbs.example:8080", "--kbs-cert", ca,
            "--max-layers", "4", "--secret",
            f"name=db,resource=kbs:///default/db/password,image={DIGEST},path=/run/secrets/db"]
    if policy:
        args += ["--policy", policy]
    _tool(*args)
    with open(out, "rb") as f:
        return out, f.read()


def test_policy_tool_initdata_round_trip_and_digest():
    d = _tmp()
    try:
        policy = PROBE_POLICY
        path, data = _initdata(d, policy)
        # The guest's parser (in explain) takes it and computes the digest sealpod-measure does.
        r = _tool("explain", path, os.path.join(FIXTURES, "plain-pod.go.json"))
        first = r.stdout.splitlines()[0]
        sha = hashlib.sha256(data).hexdigest()
        assert first == f"policy: initdata sha256:{sha} (its policy)", first
        m = subprocess.run([os.path.join(B, "sealpod-measure"), "--kernel",
                            os.path.join(B, "bzImage"), "--initrd", os.path.join(B, "initramfs.img"),
                            "--cmdline", "console=hvc0", "--mem", "2048", "--initdata", path],
                           capture_output=True, text=True, check=True)
        assert json.loads(m.stdout)["initdata_sha256"] == sha
        # The policy inside is the file, byte for byte, and the guest would attest (a KBS).
        with open(policy) as f:
            text = f.read()
        assert text in data.decode(), "policy.rego is not the policy file"
        assert "on condition: the attestation under way succeeds first" in r.stdout
        # What the guest would refuse is never written.
        bad = os.path.join(d, "bad.toml")
        r = _tool("initdata", "-o", bad, "--secret",
                  "name=s,resource=kbs:///a/b/c,image=busybox:latest,path=/x", expect=2)
        assert "the guest would refuse this initdata" in r.stderr and not os.path.exists(bad)
    finally:
        shutil.rmtree(d)


def _decode(value):
    return gzip.decompress(base64.b64decode(value, validate=True))


def _template_meta(doc):
    kind = doc["kind"]
    if kind == "Pod":
        return doc["metadata"]
    if kind == "CronJob":
        return doc["spec"]["jobTemplate"]["spec"]["template"].get("metadata")
    return doc["spec"]["template"].get("metadata")


def test_policy_tool_annotate_round_trip():
    d = _tmp()
    try:
        path, data = _initdata(d)
        for name in ("deployment", "cronjob", "pod"):
            src = os.path.join(DATA, f"{name}.yaml")
            out = os.path.join(d, f"{name}.yaml")
            _tool("annotate", src, "--initdata", path, "-o", out)
            with open(src) as f:
                before_text = f.read()
                before = list(yaml.safe_load_all(before_text))
            with open(out) as f:
                after_text = f.read()
                after = list(yaml.safe_load_all(after_text))
            assert len(before) == len(after), name
            annotated = 0
            for b, a in zip(before, after):
                if b["kind"] not in ("Pod", "Deployment", "CronJob"):
                    assert a == b, name
                    continue
                value = _template_meta(a)["annotations"].pop(ANNOTATION)
                assert _decode(value) == data, name
                annotated += 1
                meta_b = _template_meta(b) or {}
                meta_b.get("annotations", {}).pop(ANNOTATION, None)
                # Only the annotation changed: drop what was added and compare the rest.
                meta_a = _template_meta(a)
                if not meta_a["annotations"] and "annotations" not in meta_b:
                    del meta_a["annotations"]
                if not meta_a and not _template_meta(b):
                    if a["kind"] == "CronJob":
                        del a["spec"]["jobTemplate"]["spec"]["template"]["metadata"]
                    else:
                        del a["spec"]["template"]["metadata"]
                assert a == b, name
            assert annotated == 1, name
            # The user's lines are all still there, in order (comments included).
            kept = [ln for ln in after_text.splitlines() if ANNOTATION not in ln]
            orig = [ln for ln in before_text.splitlines() if ANNOTATION not in ln]
            it = iter(kept)
            assert all(any(k == o for k in it) for o in orig), name
        # Annotating the result again replaces the value, never adds a second one.
        again = os.path.join(d, "again.yaml")
        _tool("annotate", os.path.join(d, "deployment.yaml"), "--initdata", path, "-o", again)
        with open(again) as f, open(os.path.join(d, "deployment.yaml")) as g:
            assert f.read() == g.read()
    finally:
        shutil.rmtree(d)


def test_policy_tool_refvalues_for_each_installed_configuration():
    """--refvalues: for each configuration `make install` wrote, the values with this initdata,
    equal to sealpod-measure --initdata for the installed command line."""
    d = _tmp()
    try:
        prefix = os.path.join(d, "prefix")
        r = subprocess.run([os.path.join(TOP, "scripts", "install")], capture_output=True,
                           text=True, timeout=120,
                           env=dict(os.environ, PREFIX=prefix, B=B, HOST_CPUS="8"))
        assert r.returncode == 0, r.stderr
        path, data = _initdata(d)
        out = os.path.join(d, "pod.yaml")
        r = _tool("annotate", os.path.join(DATA, "pod.yaml"), "--initdata", path, "-o", out,
                  "--refvalues", env={"SEALPOD_PREFIX": prefix})
        got = json.loads(r.stdout)
        refdir = os.path.join(prefix, "share", "sealpod", "reference-values")
        names = sorted(f[:-5] for f in os.listdir(refdir) if f.endswith(".json"))
        assert sorted(got) == names and "qemu" in names and "qemu-runtime-rs" in names
        for name in names:
            with open(os.path.join(refdir, f"{name}.json")) as f:
                ref = json.load(f)
            assert got[name]["cmdline"] == ref["cmdline"], name
            if "pcr4" not in ref["measure"]:
                # A TEE (installed only where its firmware is): the launch values as installed,
                # and the initdata digest (sha256 here) where the VMM binds it, zero-padded.
                digest = hashlib.sha256(data).digest()
                field, size = (("mrconfigid", 48) if "mrtd" in ref["measure"]
                               else ("hostdata", 32))
                assert got[name]["measure"][field] == digest.ljust(size, b"\0").hex(), name
                for k, v in ref["measure"].items():
                    assert got[name]["measure"][k] == v, (name, k)
                continue
            m = subprocess.run([os.path.join(B, "sealpod-measure"), "--kernel",
                                os.path.join(B, "bzImage"), "--initrd",
                                os.path.join(B, "initramfs.img"), "--cmdline", ref["cmdline"],
                                "--mem", str(ref["mem_mib"]), "--initdata", path],
                               capture_output=True, text=True, check=True)
            direct = json.loads(m.stdout)
            for pcr in ("pcr4", "pcr5", "pcr8", "pcr9"):
                assert got[name]["measure"][pcr] == direct[pcr], (name, pcr)
        # No installed configuration: an error naming where it looked.
        r = _tool("initdata", "-o", os.path.join(d, "x.toml"), "--refvalues", expect=2,
                  env={"SEALPOD_PREFIX": os.path.join(d, "nowhere")})
        assert "no installed configuration" in r.stderr
    finally:
        shutil.rmtree(d)
