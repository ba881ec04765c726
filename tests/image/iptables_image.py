"""The test image of the iptables REDIRECT pod (issue 15): Debian's own iptables, as a service
mesh's init container carries it, taken from this machine's installed `iptables` package (the
files `dpkg -L iptables` lists: xtables-nft-multi, xtables-legacy-multi, their iptables-* names
and the xtables extensions) with the shared libraries they load (found with ldd) and the
dynamic loader, plus busybox-static for the shell and `nc`. Raw tar layers for registry.py's
image_blobs/push_raw, like the other test images.

`iptables` is the nft variant, Debian's default alternative; `iptables-legacy` the other one.
"""
import os
import re
import subprocess

import registry as R

PKG = "iptables"
APPLETS = ("sh", "nc", "cat", "echo", "sleep", "true", "ls")
# The package's plain names are alternatives (/etc/alternatives); Debian's default is nft.
ALTERNATIVES = {"iptables": "iptables-nft", "iptables-save": "iptables-nft-save",
                "iptables-restore": "iptables-nft-restore", "ip6tables": "ip6tables-nft"}


def package_files(pkg=PKG):
    """(regular files, symlinks) the package installed, as absolute paths; documentation and
    manual pages left out."""
    out = subprocess.run(["dpkg", "-L", pkg], check=True, stdout=subprocess.PIPE).stdout.decode()
    files, links = [], []
    for p in out.splitlines():
        if not p.startswith("/usr/") or p.startswith("/usr/share/"):
            continue
        if os.path.islink(p):
            links.append(p)
        elif os.path.isfile(p):
            files.append(p)
    if not any(p.endswith("/xtables-nft-multi") for p in files):
        raise RuntimeError(f"{pkg}: no xtables-nft-multi among its files (is it installed?)")
    return files, links


def shared_libraries(elfs):
    """{path in the image: path here} of every library ldd names for the ELF files, each put
    under the name the loader asks for (its soname), and the loader itself."""
    libs = {}
    for f in elfs:
        p = subprocess.run(["ldd", f], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        for ln in p.stdout.decode().splitlines():
            m = re.match(r"\s*(\S+) => (/\S+) \(", ln)
            if m:
                libs["/lib/x86_64-linux-gnu/" + m.group(1)] = os.path.realpath(m.group(2))
                continue
            m = re.match(r"\s*(/\S+ld-linux\S*) \(", ln)
            if m:
                libs[m.group(1)] = os.path.realpath(m.group(1))
    return libs


def is_elf(path):
    with open(path, "rb") as f:
        return f.read(4) == b"\x7fELF"


def _add_dirs(t, path, made):
    parts = path.strip("/").split("/")[:-1]
    for i in range(1, len(parts) + 1):
        d = "/".join(parts[:i])
        if d not in made:
            made.add(d)
            t.add(d, "dir")


def iptables_layers():
    """Two raw tar layers: busybox (the shell, nc) and the iptables package with its libraries."""
    base = R.TarBuilder()
    for d in ("bin", "etc", "tmp", "run"):
        base.add(d, "dir", mode=0o1777 if d == "tmp" else 0o755)
    with open(R.BUSYBOX, "rb") as f:
        base.add("bin/busybox", "file", f.read(), mode=0o755)
    for a in APPLETS:
        base.add(f"bin/{a}", "symlink", link="busybox")
    base.add("etc/passwd", "file", b"root:x:0:0:root:/root:/bin/sh\n")
    base.add("etc/group", "file", b"root:x:0:\n")

    files, links = package_files()
    t = R.TarBuilder()
    made = set()
    for p in files:
        _add_dirs(t, p, made)
        with open(p, "rb") as f:
            t.add(p.lstrip("/"), "file", f.read(), mode=os.stat(p).st_mode & 0o7777)
    for p in links:
        _add_dirs(t, p, made)
        t.add(p.lstrip("/"), "symlink", link=os.readlink(p))
    for name, target in ALTERNATIVES.items():
        t.add(f"usr/sbin/{name}", "symlink", link=target)
    for dst, src in sorted(shared_libraries([p for p in files if is_elf(p)]).items()):
        _add_dirs(t, dst, made)
        with open(src, "rb") as f:
            t.add(dst.lstrip("/"), "file", f.read(), mode=0o755)
    return [base.bytes(), t.bytes()]
