"""`make install`: what a Kata operator gets. The Kata drop-in configurations parse, name the
installed kernel and initramfs (byte-identical to build/), keep the guest's security choices
(shared_fs=none, guest pull, static resources, no debug console), and the installed reference
values equal what sealpod-measure computes for the command line Kata's Go runtime builds from
that very file. No guest boot: scripts/install and scripts/kata-refvalues are the subjects."""
import filecmp
import hashlib
import json
import os
import subprocess
import tempfile
import tomllib

import harness

TOP = harness.TOP
B = os.path.join(TOP, "build")
PREFIX = "/opt/sealpod-test"
KATA_BASE = ("tsc=reliable no_timer_check rcupdate.rcu_expedited=1 i8042.direct=1 "
             "i8042.dumbkbd=1 i8042.nopnp=1 i8042.noaux=1 noreplace-smp reboot=k "
             "cryptomgr.notests net.ifnames=0 pci=lastbus=0 console=hvc0 console=hvc1 quiet panic=1")

_staged = {}


def _install(**env):
    key = tuple(sorted(env.items()))
    if key in _staged:
        return _staged[key]
    dest = tempfile.mkdtemp(prefix="sealpod-install-")
    e = dict(os.environ, PREFIX=PREFIX, DESTDIR=dest, B=B, **env)
    r = subprocess.run([os.path.join(TOP, "scripts", "install")], env=e, capture_output=True,
                       text=True, timeout=120)
    if r.returncode != 0:
        raise AssertionError(f"scripts/install failed: {r.stderr.strip()}")
    _staged[key] = dest
    return dest


def _conf(dest, name):
    path = os.path.join(dest, PREFIX.lstrip("/"), "share/defaults/kata-containers",
                        f"configuration-{name}-sealpod.toml")
    with open(path, "rb") as f:
        return tomllib.load(f)


def test_layout_and_files():
    dest = _install()
    root = os.path.join(dest, PREFIX.lstrip("/"))
    data = os.path.join(root, "share/sealpod")
    assert filecmp.cmp(os.path.join(B, "bzImage"), os.path.join(data, "vmlinuz-sealpod"), False)
    assert filecmp.cmp(os.path.join(B, "initramfs.img"),
                       os.path.join(data, "initramfs-sealpod.img"), False)
    for tool in ("sealpod-ctl", "sealpod-measure", "sealpod-kata-refvalues"):
        p = os.path.join(root, "bin", tool)
        assert os.access(p, os.X_OK), f"{tool} not installed executable"
    # The production image is installed, never the test image.
    assert not filecmp.cmp(os.path.join(B, "initramfs-test.img"),
                           os.path.join(data, "initramfs-sealpod.img"), False)


def test_kata_configurations():
    dest = _install()
    for name in ("qemu", "qemu-tdx", "qemu-snp", "clh"):
        conf = _conf(dest, name)
        hv_name, hv = next(iter(conf["hypervisor"].items()))
        assert hv_name == ("clh" if name == "clh" else "qemu"), name
        assert hv["kernel"] == f"{PREFIX}/share/sealpod/vmlinuz-sealpod", name
        assert hv["initrd"] == f"{PREFIX}/share/sealpod/initramfs-sealpod.img", name
        assert "image" not in hv, f"{name}: an initrd guest has no rootfs image"
        assert hv["shared_fs"] == "none", name
        assert hv["block_device_driver"] == "virtio-blk", name
        agent = conf["agent"]["kata"]
        assert agent["debug_console_enabled"] is False and agent["dial_timeout"] >= 30, name
        rt = conf["runtime"]
        assert rt["experimental_force_guest_pull"] is True, name
        assert rt["static_sandbox_resource_mgmt"] is True, name
        assert rt["disable_guest_seccomp"] is False, name
        # A pod may bring initdata (measured), and no annotation that changes the launch.
        assert hv["enable_annotations"] == ["cc_init_data"], name
    assert _conf(dest, "qemu-tdx")["hypervisor"]["qemu"]["confidential_guest"] is True
    snp = _conf(dest, "qemu-snp")["hypervisor"]["qemu"]
    assert snp["confidential_guest"] is True and snp["sev_snp_guest"] is True
    # The plain QEMU configuration boots through OVMF, so the vTPM measures kernel and initrd.
    assert _conf(dest, "qemu")["hypervisor"]["qemu"]["firmware"].endswith(".fd")


def test_reference_values_match_measure():
    dest = _install(MAXVCPUS="2", HOST_CPUS="8", MEMORY_MIB="2048")
    root = os.path.join(dest, PREFIX.lstrip("/"))
    with open(os.path.join(root, "share/sealpod/reference-values/qemu.json")) as f:
        ref = json.load(f)
    # Kata's order: arch parameters, console, quiet, panic, nr_cpus (not confidential), selinux.
    assert ref["cmdline"] == KATA_BASE + " nr_cpus=2 selinux=0", ref["cmdline"]
    assert ref["mem_mib"] == 2048
    r = subprocess.run([os.path.join(B, "sealpod-measure"), "--kernel", os.path.join(B, "bzImage"),
                        "--initrd", os.path.join(B, "initramfs.img"), "--cmdline", ref["cmdline"],
                        "--mem", "2048", "--format", "json"],
                       capture_output=True, text=True, check=True)
    direct = json.loads(r.stdout)
    for pcr in ("pcr4", "pcr5", "pcr9"):
        assert ref["measure"][pcr] == direct[pcr], pcr
    # And the installed files are the ones measured.
    with open(os.path.join(root, "share/sealpod/initramfs-sealpod.img"), "rb") as f:
        assert ref["measure"]["initrd_sha256"] == hashlib.sha256(f.read()).hexdigest()


def test_cmdline_follows_the_configuration():
    """kernel_params comes last (it wins), nr_cpus is clamped to the host, debug replaces quiet,
    a confidential guest gets no nr_cpus."""
    dest = _install(KERNEL_PARAMS="sealpod.log=debug", MAXVCPUS="16", HOST_CPUS="4")
    tool = os.path.join(TOP, "scripts", "kata-refvalues")
    path = os.path.join(dest, PREFIX.lstrip("/"), "share/defaults/kata-containers",
                        "configuration-qemu-sealpod.toml")
    out = subprocess.run([tool, "--config", path, "--host-cpus", "4", "--print-cmdline"],
                         capture_output=True, text=True, check=True).stdout.strip()
    assert out == KATA_BASE + " nr_cpus=4 selinux=0 sealpod.log=debug", out
    tdx = os.path.join(os.path.dirname(path), "configuration-qemu-tdx-sealpod.toml")
    out = subprocess.run([tool, "--config", tdx, "--print-cmdline"], capture_output=True,
                         text=True, check=True).stdout.strip()
    assert "nr_cpus" not in out and out.endswith("selinux=0 sealpod.log=debug"), out
    with open(path) as f:
        # The first enable_debug is the [hypervisor.qemu] one (the agent's comes later).
        text = f.read().replace("enable_debug = false", "enable_debug = true", 1)
    dbg = os.path.join(dest, "debug.toml")
    with open(dbg, "w") as f:
        f.write(text)
    out = subprocess.run([tool, "--config", dbg, "--host-cpus", "4", "--print-cmdline"],
                         capture_output=True, text=True, check=True).stdout.strip()
    assert " debug panic=1" in out and " quiet" not in out, out


def test_install_refuses_bad_variables():
    for env in (dict(PREFIX="relative/path"), dict(MAXVCPUS="0"), dict(KERNEL_PARAMS='a"b')):
        e = dict(os.environ, DESTDIR=tempfile.mkdtemp(prefix="sealpod-install-"), B=B)
        e.setdefault("PREFIX", PREFIX)
        e.update(env)
        r = subprocess.run([os.path.join(TOP, "scripts", "install")], env=e, capture_output=True,
                           text=True, timeout=60)
        assert r.returncode == 2 and "install:" in r.stderr, (env, r.returncode, r.stderr)


def test_tee_reference_values():
    """TDX and SEV-SNP values come with the firmware the configuration names: computed from the
    staged TDVF / AmdSev OVMF (`make firmware`), for the confidential command line (no
    nr_cpus), equal to sealpod-measure run directly."""
    r = subprocess.run([os.path.join(TOP, "firmware", "build"), "--print-dir"],
                       capture_output=True, text=True)
    fwdir = r.stdout.strip()
    if r.returncode != 0 or not os.path.exists(os.path.join(fwdir, "OVMF.amdsev.fd")):
        raise harness.Skip("TDVF/AmdSev firmware not built here (`make firmware`, 8-17 minutes, "
                           "not part of make test; then `make check-measure`)")
    dest = _install()
    root = os.path.join(dest, PREFIX.lstrip("/"))
    for name, tee, key, fw in (("qemu-tdx", "tdx", "mrtd", "OVMF.inteltdx.fd"),
                               ("qemu-snp", "snp", "snp_launch_digest", "OVMF.amdsev.fd")):
        with open(os.path.join(root, f"share/sealpod/reference-values/{name}.json")) as f:
            ref = json.load(f)
        assert "nr_cpus" not in ref["cmdline"], ref["cmdline"]
        cmd = [os.path.join(B, "sealpod-measure"), "--tee", tee,
               "--firmware", os.path.join(fwdir, fw), "--kernel", os.path.join(B, "bzImage"),
               "--initrd", os.path.join(B, "initramfs.img"), "--cmdline", ref["cmdline"],
               "--format", "json"]
        if tee == "snp":
            cmd += ["--vcpus", "1", "--vcpu-type", "EPYC-v4", "--vmm", "qemu"]
        direct = json.loads(subprocess.run(cmd, capture_output=True, text=True,
                                           check=True).stdout)
        keys = ("mrtd", "rtmr1", "rtmr2") if tee == "tdx" else (key,)
        for k in keys:
            assert len(ref["measure"][k]) == 96 and ref["measure"][k] == direct[k], (name, k)
