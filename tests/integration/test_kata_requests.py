"""The Kata request fixtures (tests/data/kata-requests/): what make.py writes, that every request
decodes into our init/agent/proto messages, and the facts about the two shims the guest work
relies on (SHAPES.md). Host only: no guest boots here.
"""
import importlib.util
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(TOP, "tests", "ttrpc"))
import kata_requests as kr  # noqa: E402

SCENARIOS = ("plain-pod", "nonroot-port80", "emptydir-fsgroup", "emptydir-local",
             "shared-shm", "configmap-secret", "exec-probe", "resize")
# Request messages the shims send that init/agent/proto does not define yet. Adding one to the
# proto makes test_requests_decode_into_our_protos name it here: take it off the list.
NOT_IN_OUR_PROTO = set()


def _make():
    spec = importlib.util.spec_from_file_location("kata_requests_make",
                                                  os.path.join(kr.DATA, "make.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _fixtures():
    return [kr.load(s, shim) for s in SCENARIOS for shim in ("go", "runtime-rs")]


def test_fixtures_are_what_make_writes():
    want = _make().render()
    have = {os.path.basename(p) for p in kr.all_paths()}
    assert have == set(want), f"stray or missing fixtures: {have ^ set(want)}"
    for name, text in want.items():
        with open(os.path.join(kr.DATA, name)) as f:
            assert f.read() == text, f"{name} differs from make.py's output: re-run make.py"
    return f"{len(want)} fixtures"


def test_every_placeholder_has_a_default_and_is_filled():
    n = 0
    for fx in _fixtures():
        calls = fx.doc["calls"] + fx.doc["periodic"]
        missing = kr.placeholders(calls) - set(fx.doc["defaults"])
        assert not missing, f"{fx.path}: placeholders without a default: {missing}"
        for c in fx.calls + fx.periodic:
            assert "${" not in json.dumps(c.request), (fx.path, c)
            n += 1
    return f"{n} calls filled"


def test_substitution_rules():
    vals = {"A": 5, "L": ["x", "y"], "S": "02/00"}
    out = kr.substitute({"n": "${A}", "t": "a${A}b", "l": ["${L}", "z"],
                         "b": "/p/${b64url:S}"}, vals)
    assert out == {"n": 5, "t": "a5b", "l": ["x", "y", "z"], "b": "/p/MDIvMDA="}, out
    try:
        kr.substitute("${NOPE}", vals)
    except kr.FixtureError:
        pass
    else:
        raise AssertionError("a placeholder without a value was accepted")


def test_requests_decode_into_our_protos():
    missing, n = set(), 0
    for fx in _fixtures():
        for c in fx.calls + fx.periodic:
            try:
                c.message()
                n += 1
            except kr.MissingMessage:
                missing.add(c.message_name)
    assert missing == NOT_IN_OUR_PROTO, \
        f"messages our proto lacks: {sorted(missing)}; listed: {sorted(NOT_IN_OUR_PROTO)}"
    return f"{n} requests decoded; not in our proto: {sorted(missing)}"


def _one(fx, method):
    calls = fx.by_method(method)
    assert calls, (fx.path, method)
    return calls


def test_shim_facts():
    """The differences SHAPES.md states, checked on every fixture."""
    for fx in _fixtures():
        go = fx.shim == "go"
        first = fx.calls[0]
        assert (first.method == "Check") == go, (fx.path, first)
        sb = _one(fx, "CreateSandbox")[0].request
        shm = [s for s in sb["storages"] if s["source"] == "shm"]
        assert len(sb["storages"]) == 1 and shm and shm[0]["driver"] == "ephemeral" and \
            shm[0]["mountPoint"] == "/run/kata-containers/sandbox/shm" and \
            f"size={fx.values['SHM_SIZE']}" in shm[0]["options"], (fx.path, sb)
        assert sb["dns"][-1] == "", "the resolv.conf split leaves an empty last line"
        assert bool(fx.by_method("DestroySandbox")) == go, fx.path
        assert bool(fx.by_method("RemoveStaleVirtiofsShareMounts")) == go, fx.path
        for c in fx.by_method("CreateContainer"):
            r = c.request
            cid = r["containerId"]
            assert r["execId"] == (cid if go else ""), (fx.path, r["execId"])
            pulls = [s for s in r["storages"] if s["driver"] == "image_guest_pull"]
            root = f"/run/kata-containers/{cid}/rootfs"
            assert len(pulls) == 1 and pulls[0]["mountPoint"] == root and \
                r["OCI"]["Root"]["Path"] == root, (fx.path, cid)
            ann = r["OCI"]["Annotations"]
            assert ("io.katacontainers.config.hypervisor.cc_init_data" in ann) == go
            assert ann["io.katacontainers.pkg.oci.container_type"] in ("pod_sandbox",
                                                                       "pod_container")
            ns = [n["Type"] for n in r["OCI"]["Linux"]["Namespaces"]]
            sandbox = ann["io.kubernetes.cri.container-type"] == "sandbox"
            assert ("cgroup" in ns) == (not go and not sandbox), (fx.path, ns)
            assert not {"pid", "network", "time"} & set(ns), ns
            shm_mounts = [m for m in r["OCI"]["Mounts"] if m["destination"] == "/dev/shm"]
            assert shm_mounts == [{"destination": "/dev/shm", "type": "bind",
                                   "source": "/run/kata-containers/sandbox/shm",
                                   "options": ["rbind"]}], shm_mounts
            if sandbox:
                sysctl = r["OCI"]["Linux"]["Sysctl"]
                assert sysctl["net.ipv4.ip_unprivileged_port_start"] == "0", sysctl
        for c in fx.by_method("CopyFile"):
            r = c.request
            assert r["path"].startswith("/run/kata-containers/shared/containers/"), r["path"]
            kind = r["fileMode"] & 0o170000
            if go:
                assert r["dirMode"] == (1 << 31) | 0o750, r
            if kind == 0o120000:
                assert r["fileMode"] == (0o120777 if go else 0o120000), r
                assert r.get("fileSize", 0) == (0 if go else len(kr.base64.b64decode(
                    r["data"]))), r
    return f"{len(SCENARIOS)} scenarios x 2 shims"


def test_update_container_carries_whole_resources():
    for shim in ("go", "runtime-rs"):
        fx = kr.load("resize", shim)
        (upd,) = fx.by_method("UpdateContainer")
        res = upd.request["resources"]
        assert res["Memory"]["Limit"] == fx.values["MEM_LIMIT_NEW"], res
        assert res["CPU"]["Quota"] == fx.values["CPU_QUOTA_NEW"], res
        assert "Cpus" not in res["CPU"] and res["Devices"], res
