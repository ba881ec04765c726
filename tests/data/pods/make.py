#!/usr/bin/python3
"""Writes <pod>.<shim>.json: what the Kata shims send for each pod YAML here, reduced to the
fields sealpod's policy judges (README.md). The requests come from the Kata request fixtures
(tests/data/kata-requests, whose shapes SHAPES.md traces to the shims' sources) loaded with this
pod's values; where a pod adds what no fixture has (env from a ConfigMap and a Secret, a readiness
probe, an init container, a generated pod name), the change is made here the way the kubelet and
containerd make it, and says so."""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "ttrpc"))
import kata_requests as kr  # noqa: E402

SHIMS = ("go", "runtime-rs")
DIGEST = "sha256:" + "5e" * 32          # the lock file's digest of IMAGE
CID2 = "1ad925f7ae760050095e1adef34be6d9c3c40cbb062ef22810cad27696405530"


def caps(p):
    c = p.get("Capabilities") or {}
    out = []
    for s in ("Bounding", "Effective", "Inheritable", "Permitted", "Ambient"):
        for n in c.get(s, []):
            if n not in out:
                out.append(n)
    return out


def process(p):
    u = p.get("User", {})
    return {"args": p.get("Args", []), "env": p.get("Env", []), "uid": int(u.get("UID", 0)),
            "gid": int(u.get("GID", 0)),
            "gids": [int(g) for g in u.get("AdditionalGids", [])],
            "cwd": p.get("Cwd", ""), "terminal": bool(p.get("Terminal", False)),
            "caps": caps(p), "no_new_privileges": bool(p.get("NoNewPrivileges", False))}


def reduce(fx):
    v = fx.values
    out = []
    for c in fx.calls:
        r = c.request
        if c.method == "CreateContainer":
            o = r["OCI"]
            pause = r["containerId"] == v["SANDBOX_ID"]
            out.append({"request": "CreateContainerRequest", "cid": r["containerId"],
                        "sandbox_id": v["SANDBOX_ID"], "pause": pause,
                        "image": "pause" if pause else v["IMAGE"],
                        "digest": None if pause else DIGEST,
                        "sandbox_pidns": bool(r.get("sandboxPidns", False)),
                        "root_readonly": bool(o.get("Root", {}).get("Readonly", False)),
                        "process": process(o["Process"]),
                        "mounts": [{"destination": m["destination"], "type": m["type"],
                                    "source": m["source"], "options": m.get("options", [])}
                                   for m in o.get("Mounts", [])],
                        "sysctls": o.get("Linux", {}).get("Sysctl", {})})
        elif c.method == "ExecProcess":
            out.append({"request": "ExecProcessRequest", "cid": r["containerId"],
                        "process": process(r["process"])})
        elif c.method == "CopyFile":
            out.append({"request": "CopyFileRequest", "path": r["path"]})
    return out


def creates(reqs, cid):
    return [r for r in reqs if r["request"] == "CreateContainerRequest" and r["cid"] == cid]


def add_env(reqs, cid, entries):
    """kubelet puts the container's env into the CRI config; containerd appends it to the
    image's and HOSTNAME (a later NAME replaces an earlier one); execs carry the same list."""
    for r in reqs:
        if r.get("cid") == cid and r["request"] != "CopyFileRequest":
            r["process"]["env"] = r["process"]["env"] + entries


def set_hostname(reqs, name):
    for r in reqs:
        if r["request"] != "CopyFileRequest" and not r.get("pause"):
            r["process"]["env"] = [f"HOSTNAME={name}" if e.startswith("HOSTNAME=") else e
                                   for e in r["process"]["env"]]


def plain(shim):
    return reduce(kr.load("resize", shim))


def service_account(shim):
    return reduce(kr.load("plain-pod", shim))


def nonroot(shim):
    return reduce(kr.load("emptydir-fsgroup", shim))


def configmap_secret(shim):
    fx = kr.load("configmap-secret", shim)
    reqs = reduce(fx)
    add_env(reqs, fx.values["CID"], ["LOG_LEVEL=debug", "DB_PASSWORD=s3cret-value"])
    return reqs


def exec_probe(shim):
    """the fixture's liveness probe twice, then a readiness probe (ExecProcess has the same
    shape for every exec of a container: only Args differ)"""
    fx = kr.load("exec-probe", shim)
    reqs = reduce(fx)
    execs = [r for r in reqs if r["request"] == "ExecProcessRequest"]
    ready = json.loads(json.dumps(execs[-1]))
    ready["process"]["args"] = ["/bin/test", "-f", "/etc/hosts"]
    reqs.append(ready)
    return reqs


def shared_shm(shim):
    return reduce(kr.load("shared-shm", shim))


def init_container(shim):
    """the shared-shm fixture's two containers, the first an init container: the kubelet
    creates it, waits for it to exit, then creates the app; both requests have one shape"""
    fx = kr.load("shared-shm", shim, APP_ARGS=["/bin/sh", "-c", "echo init done"])
    return reduce(fx)


def nonroot_port80(shim):
    return reduce(kr.load("nonroot-port80", shim))


def readonly_root(shim):
    """the nonroot-port80 pod (allowPrivilegeEscalation: false) with readOnlyRootFilesystem and
    an exec liveness probe: containerd sets Root.Readonly and binds /etc/hostname and
    /etc/resolv.conf read-only (the kubelet's /etc/hosts stays writable); the probe's
    ExecProcess is the container's process with the probe's Args and no capabilities
    (SHAPES.md, ExecProcess): runtime-rs keeps its NoNewPrivileges, the Go shim never sends
    it"""
    reqs = reduce(kr.load("nonroot-port80", shim))
    app = next(r for r in reqs if r["request"] == "CreateContainerRequest" and not r["pause"])
    app["root_readonly"] = True
    for m in app["mounts"]:
        if m["destination"] in ("/etc/hostname", "/etc/resolv.conf"):
            m["options"] = ["ro" if o == "rw" else o for o in m["options"]]
    probe = dict(app["process"], args=["/bin/cat", "/etc/hostname"], terminal=False, caps=[])
    if shim == "go":
        probe["no_new_privileges"] = False
    reqs.insert(reqs.index(app) + 1, {"request": "ExecProcessRequest", "cid": app["cid"],
                                      "process": probe})
    return reqs


def generated_name(name):
    def make(shim):
        reqs = reduce(kr.load("resize", shim, HOSTNAME=name))
        set_hostname(reqs, name)
        return reqs
    return make


SCENARIOS = {
    "plain": plain,
    "service-account": service_account,
    "nonroot-fsgroup": nonroot,
    "configmap-secret": configmap_secret,
    "exec-probe": exec_probe,
    "shared-shm": shared_shm,
    "init-container": init_container,
    "deployment": generated_name("web-5d4f8b7c9d-x2k4q"),
    "cronjob": generated_name("nightly-29123456-7xk2p"),
    "nonroot-port80": nonroot_port80,
    "readonly-root": readonly_root,
}


def main():
    for name, fn in SCENARIOS.items():
        for shim in SHIMS:
            doc = {"format": 1, "pod": f"{name}.yaml", "shim": shim,
                   "note": "written by make.py; do not edit", "requests": fn(shim)}
            with open(os.path.join(HERE, f"{name}.{shim}.json"), "w") as f:
                json.dump(doc, f, indent=1)
                f.write("\n")


if __name__ == "__main__":
    main()
