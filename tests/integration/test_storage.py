"""Encrypted, integrity-protected pod storage (init/storage/), in the guest under QEMU with host
files as disks (cache=none). The host is the attacker: it reads the backing files, flips bytes
in them while the guest runs, and names disks by PCI path (present at boot or hot-plugged).

One boot carries most tests, ordered from harmless to harmful:
  pod disk  (serial sealpod-ephemeral, 256 MiB): formatted at boot by PID 1
  kata disk (root bus slot 0x11, PCI path "11", 160 MiB): the storage tool and a Kata storage
  small disk (slot 0x12, PCI path "12", 16 MiB): too small; also the scanner's positive control
  trusted disk (slot 0x13, PCI path "13", 128 MiB): Kata's /dev/trusted_store
  a PCIe root port at slot 0x10 for the hot-plug test (PCI path "10/00")
"""
import atexit
import os
import re
import shutil
import socket
import sys
import tempfile
import time

from harness import boots

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(TOP, "tests", "ttrpc"))
import client as tt  # noqa: E402

pb = tt.load_protos()
PATTERN = b"sealpod-plaintext-pattern-7d3f1a"
ST = "/usr/bin/sealpod-storagetest"
POD = "/run/sealpod/storage"
ROOTFS = "/usr/share/sealpod/bundles/busybox/rootfs"
BLOCK = 4096
INVALID_ARGUMENT, DEADLINE_EXCEEDED, PERMISSION_DENIED, INTERNAL = 3, 4, 7, 13

DIR = tempfile.mkdtemp(prefix="sealpod-storage-")
atexit.register(shutil.rmtree, DIR, True)
DISKS = {"pod": 256 << 20, "kata": 160 << 20, "small": 16 << 20, "hot": 96 << 20,
         "prod": 128 << 20, "trusted": 128 << 20}
PATHS = {k: os.path.join(DIR, k + ".img") for k in DISKS}
for k, size in DISKS.items():
    with open(PATHS[k], "wb") as f:
        f.truncate(size)  # sparse, as Kata's shim makes them

MAIN = dict(test=True, mem=1024, cmdline="agent.hotplug_timeout=30",
            extra=("--disk", PATHS["pod"], "--blk", PATHS["kata"], "--blk", PATHS["small"],
                   "--blk", PATHS["trusted"], "--hotplug-port"))


def wait_console(g, needle, timeout=180):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if needle in g.console():
            return
        if not g.alive():
            break
        time.sleep(0.2)
    raise AssertionError(f"no '{needle}' on the console" + g.context(20))


def disk_of(g, slot):
    """Kernel name of the root-bus virtio-blk disk at slot (hex string)."""
    out = g.sh_ok(f"ls /sys/devices/pci0000:00/0000:00:{slot}.0/virtio*/block/")
    return out.split()[0]


def nonzero_blocks(path):
    """{block number: bytes} of every 4 KiB block that is not all zeros (sparse-aware enough)."""
    out, zero = {}, bytes(BLOCK)
    with open(path, "rb", buffering=0) as f:
        n = 0
        while True:
            b = f.read(1 << 20)
            if not b:
                break
            for i in range(0, len(b), BLOCK):
                blk = b[i:i + BLOCK]
                if blk != zero[:len(blk)]:
                    out[n + i // BLOCK] = blk
            n += len(b) // BLOCK
    return out


def file_contains(path, needle):
    with open(path, "rb") as f:
        data = f.read()
    return needle in data


def client(g):
    return tt.Client(g.agent_connect(), timeout=120)


def spec(args):
    s = pb.oci.Spec(Version="1.1.0", Hostname="ctr")
    s.Root.Path = ROOTFS
    s.Process.Args.extend(args)
    s.Process.Env.extend(["PATH=/bin"])
    s.Process.Cwd = "/"
    s.Process.NoNewPrivileges = True
    return s


def create(c, cid, storages, timeout=120):
    req = pb.agent.CreateContainerRequest(container_id=cid, exec_id=cid, OCI=spec(["/bin/true"]))
    for st in storages:
        req.storages.add(**st)
    return c.agent("CreateContainer", req, timeout=timeout)


def blk(source, mount_point, opts=("encryption_key=ephemeral", "create_filesystem"), **kw):
    d = dict(driver="blk", source=source, fstype="ext4", mount_point=mount_point,
             driver_options=list(opts))
    d.update(kw)
    return d


def mounts(g):
    return g.sh_ok("cat /proc/mounts")


def dm_names(g):
    return g.sh_ok("ls /dev/mapper").split()


# --- the pod disk formatted at boot ------------------------------------------------------------

@boots(**MAIN)
def test_pod_storage_ready(g):
    """PID 1 formats the sealpod-ephemeral disk in a worker after the control port is up, and
    mounts it nodev,nosuid; the dm table is LUKS2 aes-xts-plain64 with hmac(sha256) on
    dm-integrity with 4096-byte sectors, journal off."""
    wait_console(g, "storage: /run/sealpod/storage ready")
    con = g.console()
    assert con.index("sealpod: ready") < con.index("storage: /run/sealpod/storage ready"), \
        "the control port must be up before the format finishes"
    line = [m for m in mounts(g).splitlines() if f" {POD} " in m]
    assert line and line[0].startswith(f"/dev/mapper/sealpod-pod {POD} ext4 "), line
    opts = line[0].split()[3].split(",")
    assert "nodev" in opts and "nosuid" in opts, opts
    table = g.sh_ok(f"{ST} table sealpod-pod")
    assert re.search(r"^crypt capi:authenc\(hmac\(sha256\),xts\(aes\)\)-plain64 ", table), table
    assert "sector_size:4096" in table and "integrity:32:aead" in table, table
    itable = g.sh_ok(f"{ST} table sealpod-pod_dif")
    assert re.search(r"^integrity .* D ", itable), f"journal must be off (mode D): {itable}"
    aead = g.sh_ok("dmesg | grep -i -E 'AEAD ERROR|checksum failed' || true")
    assert not aead.strip(), f"a sector was read before it was written: {aead}"
    m = re.search(r"storage: /run/sealpod/storage ready: .*total (\d+)ms", con)
    return f"format at boot: {m.group(0) if m else '?'}"


@boots(**MAIN)
def test_plaintext_absent_from_backing_file(g):
    """A known pattern written to the pod storage and synced never appears in the backing file;
    the same scan finds it when it is written to a raw disk (positive control)."""
    g.sh_ok(f"{ST} pattern {POD}/secret 8 && sync && echo 3 > /proc/sys/vm/drop_caches")
    g.sh_ok(f"{ST} check {POD}/secret")
    assert not file_contains(PATHS["pod"], PATTERN), "plaintext pattern found in the backing file"
    small = disk_of(g, "12")
    g.sh_ok(f"{ST} seq write /dev/{small} 1")
    assert file_contains(PATHS["small"], PATTERN), "positive control: the scanner is blind"
    g.sh_ok(f"dd if=/dev/zero of=/dev/{small} bs=1M count=1 oflag=direct 2>/dev/null")


@boots(**MAIN)
def test_key_never_logged_or_stored(g):
    """The volume key (read back from the kernel's dm table) appears neither in the console log,
    nor in any file of the guest's /run, /tmp and /etc, nor in the backing file, in hex or raw."""
    table = g.sh_ok(f"{ST} table sealpod-pod")
    key_hex = table.split()[2]
    assert re.fullmatch(r"[0-9a-f]{192}", key_hex), f"unexpected key field: {key_hex[:20]}..."
    key = bytes.fromhex(key_hex)
    assert key_hex not in g.console() and key_hex.upper() not in g.console()
    found = g.sh(f"grep -rl -i {key_hex[:64]} /run /tmp /etc 2>/dev/null", timeout=600)[1]
    assert not found.strip(), f"key hex in guest files: {found}"
    assert not file_contains(PATHS["pod"], key[:32]) and not file_contains(PATHS["pod"], key[32:64])
    assert not file_contains(PATHS["pod"], key_hex[:64].encode())
    hdr = g.sh_ok("ls -l /run/sealpod/luks/")
    assert "sealpod-pod.hdr" in hdr, hdr


@boots(**MAIN)
def test_heavy_write_fsck_and_enospc(g):
    """The same format code (the storage tool) on the kata disk: many files and a fill to ENOSPC,
    then e2fsck -fn is clean, and no sector was ever read before written (no integrity error in
    the kernel log). PID 1 keeps answering throughout."""
    kata = disk_of(g, "11")
    out = g.sh_ok(f"{ST} format {kata} sp-heavy /mnt/heavy", timeout=300)
    try:
        return heavy(g, out)
    finally:  # leave the disk free for the next tests whatever happened
        g.sh("umount /mnt/heavy 2>/dev/null; " + f"{ST} teardown sp-heavy", timeout=120)


def heavy(g, out):
    g.sh_ok("cd /mnt/heavy && for d in 1 2 3 4; do mkdir d$d; for f in $(seq 1 50); do "
            "head -c $((f * 997)) /dev/urandom > d$d/f$f; done; done", timeout=300)
    fill = g.sh_ok(f"{ST} fill /mnt/heavy", timeout=600)
    assert "No space left on device" in fill, fill
    g.sh_ok("echo still-writable > /run/after-enospc && cat /run/after-enospc")
    with client(g) as c:
        rep = c.call("grpc.Health", "Check", pb.health.CheckRequest())
        assert rep.ok, rep
    g.sh_ok("umount /mnt/heavy")
    status, fsck = g.sh("e2fsck -fn /dev/mapper/sp-heavy", timeout=300)
    assert status == 0, f"e2fsck status {status}: {fsck}"
    # This test's own devices (the pod disk's are checked by test_pod_storage_ready).
    names = g.sh_ok("for d in /sys/block/dm-*; do echo ${d##*/} $(cat $d/dm/name); done")
    mine = [ln.split()[0] for ln in names.splitlines() if ln.split()[1].startswith("sp-heavy")]
    assert len(mine) == 2, names
    dmesg = g.sh_ok("dmesg | grep -i -E 'AEAD ERROR|checksum failed|I/O error' || true")
    bad = [ln for ln in dmesg.splitlines() if any(f"{d}:" in ln or f"{d}," in ln for d in mine)]
    assert not bad, f"a sector was read before it was written: {bad}\n{names}"
    g.sh_ok(f"{ST} teardown sp-heavy")
    assert "sp-heavy" not in " ".join(dm_names(g))
    return f"{out.strip()}; {fill.strip()}; {fsck.strip().splitlines()[-1]}"


@boots(**MAIN)
def test_two_formats_differ(g):
    """Formatting the same disk twice and writing the same plaintext to the same place (the
    first 4 MiB of the mapped device) gives unrelated ciphertext: none of the blocks that the
    write changed is equal between the two formats."""
    kata = disk_of(g, "11")
    changed = []
    for i in range(2):
        os.truncate(PATHS["kata"], 0)  # the host zeroes the disk between the two uses
        os.truncate(PATHS["kata"], DISKS["kata"])
        g.sh_ok(f"{ST} format {kata} sp-twice - kata && sync", timeout=300)
        before = nonzero_blocks(PATHS["kata"])
        g.sh_ok(f"{ST} seq write /dev/mapper/sp-twice 4 && sync")
        g.sh_ok(f"{ST} teardown sp-twice")
        after = nonzero_blocks(PATHS["kata"])
        changed.append({n: b for n, b in after.items() if before.get(n) != b})
    a, b = changed
    both = set(a) & set(b)
    same = [n for n in both if a[n] == b[n]]
    assert len(both) >= 1024, f"only {len(both)} blocks changed by the write in both formats"
    assert not same, f"{len(same)} identical ciphertext blocks, e.g. block {same[0]}"
    return f"{len(both)} blocks written with the same plaintext in both formats, 0 identical"


# --- Kata storages: block emptyDir by PCI path -------------------------------------------------

@boots(**MAIN)
def test_kata_blk_at_boot_encrypted_and_released(g):
    """Storage{driver=blk, source="11", driver_options=[encryption_key=ephemeral,
    create_filesystem]}: CreateContainer formats and mounts it (nodev,nosuid) at the mount point;
    RemoveContainer unmounts it and removes its dm devices."""
    with open(os.path.join(TOP, "tests", "data", "policy", "allow-all.rego")) as f:
        policy = f.read()
    mp = "/run/kata-containers/sandbox/storage/MTE="
    with client(g) as c:
        assert c.agent("SetPolicy", pb.agent.SetPolicyRequest(policy=policy)).ok
        rep = create(c, "ctr-blk", [blk("11", mp)])
        assert rep.ok, rep
        line = [m for m in mounts(g).splitlines() if f" {mp} " in m]
        assert line and line[0].startswith("/dev/mapper/sealpod-c"), mounts(g)
        opts = line[0].split()[3].split(",")
        assert "nodev" in opts and "nosuid" in opts, opts
        dm = line[0].split()[0].split("/")[-1]
        assert "authenc(hmac(sha256),xts(aes))" in g.sh_ok(f"{ST} table {dm}")
        g.sh_ok(f"echo hello > {mp}/f && cat {mp}/f")
        assert c.agent("RemoveContainer",
                       pb.agent.RemoveContainerRequest(container_id="ctr-blk")).ok
    end = time.monotonic() + 30
    while time.monotonic() < end and (f" {mp} " in mounts(g) or dm in dm_names(g)):
        time.sleep(0.2)
    assert f" {mp} " not in mounts(g), "still mounted after RemoveContainer"
    assert dm not in dm_names(g) and dm + "_dif" not in dm_names(g), dm_names(g)


@boots(**MAIN)
def test_kata_blk_hotplug(g):
    """The disk arrives after CreateContainer asked for it (QEMU device_add on the root port at
    slot 0x10, PCI path "10/00"): PID 1 waits for it without udev and keeps serving meanwhile."""
    mp = "/run/kata-containers/sandbox/storage/hot"
    with client(g) as c:
        sid = c.send("grpc.AgentService", "CreateContainer",
                     create_req("ctr-hot", [blk("10/00", mp)]))
        time.sleep(1.5)
        rep = c.call("grpc.Health", "Check", pb.health.CheckRequest())
        assert rep.ok, "PID 1 must answer while the storage waits"
        hmp(g, f"drive_add 0 file={PATHS['hot']},if=none,id=hotd,format=raw,cache=none")
        hmp(g, "device_add virtio-blk-pci,drive=hotd,bus=hp0,id=hotdev")
        rep = c.wait(sid, timeout=180)
        assert rep.ok, rep
        assert f" {mp} " in mounts(g)
        assert c.agent("RemoveContainer",
                       pb.agent.RemoveContainerRequest(container_id="ctr-hot")).ok
    end = time.monotonic() + 30
    while time.monotonic() < end and f" {mp} " in mounts(g):
        time.sleep(0.2)
    assert f" {mp} " not in mounts(g)
    assert "waiting up to 30000 ms for the disk at PCI path 10/00" in g.console()


@boots(**MAIN)
def test_kata_trusted_store(g):
    """A Device with container_path /dev/trusted_store (Device.id its PCI path) becomes the
    encrypted image store on /run/kata-containers/image, made once for the pod: a second
    container naming it reuses it, and RemoveContainer leaves it in place."""
    target = "/run/kata-containers/image"
    with client(g) as c:
        for cid in ("ctr-ts1", "ctr-ts2"):
            req = create_req(cid, [])
            req.devices.add(id="13", type="blk", container_path="/dev/trusted_store")
            rep = c.agent("CreateContainer", req, timeout=120)
            assert rep.ok, rep
            line = [m for m in mounts(g).splitlines() if f" {target} " in m]
            assert len(line) == 1 and line[0].startswith("/dev/mapper/sealpod-image "), line
            assert c.agent("RemoveContainer",
                           pb.agent.RemoveContainerRequest(container_id=cid)).ok
        assert f" {target} " in mounts(g), "the pod's image store went with a container"
    assert "pod storage (image layers) is now the trusted store at " + target in g.console()
    assert "authenc(hmac(sha256),xts(aes))" in g.sh_ok(f"{ST} table sealpod-image")


@boots(**MAIN)
def test_kata_blk_refusals(g):
    """What the host may not make the guest do: mount a host file system unencrypted, name a
    malformed PCI path, mount outside /run/kata-containers, use a disk that is too small, or
    name a disk that never comes (bounded by agent.hotplug_timeout). Each is one clear error and
    one console line; PID 1 keeps serving."""
    cases = [
        (blk("11", "/run/kata-containers/x/plain", opts=()), PERMISSION_DENIED,
         "unencrypted"),
        (blk("zz/00", "/run/kata-containers/x/badpci"), INVALID_ARGUMENT, "PCI path"),
        (blk("11", "/etc/evil"), INVALID_ARGUMENT, "mount point"),
        (blk("11", "/run/kata-containers/../etc"), INVALID_ARGUMENT, "mount point"),
        (blk("11", "/run/kata-containers/x/y", options=["suid"]), INVALID_ARGUMENT, "suid"),
        (blk("12", "/run/kata-containers/x/small"), INTERNAL, "at least 64 MiB"),
        (blk("1e", "/run/kata-containers/x/never"), DEADLINE_EXCEEDED, "after 30000 ms"),
    ]
    with client(g) as c:
        for i, (st, code, words) in enumerate(cases):
            t0 = time.monotonic()
            rep = create(c, f"ctr-bad{i}", [st])
            assert not rep.ok and rep.code == code, (st, rep)
            assert words in rep.message, (words, rep.message)
            if code == DEADLINE_EXCEEDED:
                # The guest's clock under TCG on a loaded host is only roughly the host's.
                assert time.monotonic() - t0 >= 15, "gave up long before agent.hotplug_timeout"
        assert c.call("grpc.Health", "Check", pb.health.CheckRequest()).ok
    con = g.console()
    for words in ("storage.options: mounting a host disk", "storage.size: disk",
                  "storage.hotplug: no block device at PCI path 1e"):
        assert words in con, f"no console line with '{words}'"
    left = [n for n in dm_names(g) if n.startswith("sealpod-c")]
    assert not left, f"a refused storage left dm devices: {left}"


@boots(**MAIN)
def test_flipped_bytes_read_as_eio(g):
    """While the guest runs, the host flips bytes in the sectors that a file's write changed;
    an O_DIRECT read of that file fails with EIO and never returns altered data."""
    before = nonzero_blocks(PATHS["pod"])
    g.sh_ok(f"{ST} pattern {POD}/victim 4 && sync && echo 3 > /proc/sys/vm/drop_caches")
    after = nonzero_blocks(PATHS["pod"])
    changed = sorted(n for n in after if before.get(n) != after[n])
    assert len(changed) >= 1024, f"only {len(changed)} blocks changed"
    # The longest run of changed blocks is the file's data (with its tags interleaved).
    runs, start = [], changed[0]
    for prev, cur in zip(changed, changed[1:] + [None]):
        if cur != prev + 1:
            runs.append((start, prev))
            start = cur
    lo, hi = max(runs, key=lambda r: r[1] - r[0])
    with open(PATHS["pod"], "r+b", buffering=0) as f:
        for n in range(lo + 1, hi, 16):
            f.seek(n * BLOCK + 100)
            b = f.read(1)
            f.seek(n * BLOCK + 100)
            f.write(bytes([b[0] ^ 0x5a]))
        os.fsync(f.fileno())
    # O_DIRECT sees the block layer's integrity status as EILSEQ (BLK_STS_PROTECTION), a
    # buffered read as EIO: both refuse the data.
    status, out = g.sh(f"{ST} check {POD}/victim")
    assert "altered" not in out, f"the guest read altered data: {out}"
    assert status == 3 and (out.startswith("EIO") or out.startswith("EILSEQ")), (status, out)
    direct = out.split()[0]
    status, out = g.sh(f"{ST} check-buffered {POD}/victim")
    assert "altered" not in out, f"the guest read altered data: {out}"
    assert status == 3 and out.startswith("EIO"), (status, out)
    dmesg = g.sh_ok("dmesg | grep -c -i -E 'AEAD ERROR|checksum failed' || true").strip()
    assert int(dmesg or 0) > 0, "no integrity failure in the kernel log"
    assert g.sh_ok("echo alive")
    return f"O_DIRECT read: {direct}; buffered read: EIO; {dmesg} integrity failures logged"


def create_req(cid, storages):
    req = pb.agent.CreateContainerRequest(container_id=cid, exec_id=cid, OCI=spec(["/bin/true"]))
    for st in storages:
        req.storages.add(**st)
    return req


def hmp(g, cmd):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(10)
    s.connect(g.monitor_path)
    s.recv(4096)
    s.sendall(cmd.encode() + b"\n")
    time.sleep(0.5)
    out = s.recv(65536).decode(errors="replace")
    s.close()
    assert "rror" not in out, f"monitor: {cmd}: {out}"
    return out


# --- other boots ---------------------------------------------------------------------------------

@boots(test=True)
def test_no_disk_uses_tmpfs_and_says_so(g):
    """Without a sealpod-ephemeral disk, pod storage is a tmpfs directory and the console says
    so (and that require_encrypted_storage refuses containers)."""
    wait_console(g, "no sealpod-ephemeral disk", timeout=30)
    assert f"tmpfs at {POD}" in g.console_tail(40)
    assert POD in g.sh_ok(f"ls -d {POD}")
    assert f" {POD} " not in mounts(g)


@boots(test=False, extra=("--disk", PATHS["prod"]))
def test_production_image_formats_the_disk(g):
    """The production initramfs (mke2fs included, no test overlay) formats and mounts the pod
    disk at boot."""
    wait_console(g, "storage: /run/sealpod/storage ready", timeout=180)
    assert not file_contains(PATHS["prod"], b"sealpod-pod"), "dm name on the disk?"
