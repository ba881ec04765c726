"""The dm-integrity `INTEGRITY AEAD ERROR` question (issue 21), in the guest under QEMU with more
vCPUs (4) than this machine has cores.

dm-crypt logs `INTEGRITY AEAD ERROR, sector N` when a sector's tag does not match its data. On a
disk we format without a full wipe, that is every sector nothing wrote since the format: the
format (init/storage/format.c) writes before mke2fs whatever mke2fs and ext4 read first. This
test checks that claim under load and keeps the detector honest:

  - positive control: a read of a block nothing wrote (through the mapped device, so no file
    system is involved) must fail and must log the AEAD error; otherwise a count of zero below
    would mean nothing;
  - four shells at once make directories and small files, read each other's files while they
    are written, delete and re-create (block reuse), the page cache is dropped and everything is
    read back; then every inode of the file system is used and read after a drop (inode-table
    readahead up to the table's end). No AEAD error, no I/O error, every byte as written.

Each round formats the disk anew with PID 1's own code (sealpod-storagetest format), the
dm-integrity journal off as PID 1 does (even rounds) or on as bench-storage's "journal" runs do
(odd rounds).
SEALPOD_INTEGRITY_ROUNDS (default 1; 20 in `make check-integrity`) sets the number of rounds.
"""
import atexit
import os
import re
import shutil
import tempfile

from harness import boots

ST = "/usr/bin/sealpod-storagetest"
DM = "sealpod-int"
MNT = "/run/int"
ROUNDS = int(os.environ.get("SEALPOD_INTEGRITY_ROUNDS", "1"))

DIR = tempfile.mkdtemp(prefix="sealpod-integrity-")
atexit.register(shutil.rmtree, DIR, True)
DISK = os.path.join(DIR, "int.img")
with open(DISK, "wb") as f:
    f.truncate(128 << 20)

# A round takes one to two minutes under TCG on a loaded 2-core host: the guest lives long enough.
BOOT = dict(test=True, mem=1024, ready_timeout=120.0, lifetime=600 + 240 * ROUNDS,
            extra=("--smp", "4", "--blk", DISK))

# Four writers at once: each makes 48 directories (an empty file and a small one in each) and
# 400 small files, reading its neighbour's files while they are being written, then deletes a
# quarter of them and syncs; the cache is dropped and every surviving file is checked.
PARALLEL = (
    "M=%(m)s; "
    "w() { mkdir $M/w$1 || exit 1; i=0; while [ $i -lt 48 ]; do "
    "mkdir $M/w$1/d$i && : > $M/w$1/d$i/e && echo $1.$i > $M/w$1/d$i/f || exit 1; "
    "i=$((i+1)); done; i=0; while [ $i -lt 400 ]; do "
    "echo \"$1 $i sealpod\" > $M/w$1/f$i || exit 1; "
    "cat $M/w$(( ($1+1)%%4 ))/f$i > /dev/null 2>&1; i=$((i+1)); done; "
    "rm -f $M/w$1/f1[0-9][0-9] && sync; }; "
    "w 0 & p0=$!; w 1 & p1=$!; w 2 & p2=$!; w 3 & p3=$!; "
    "for p in $p0 $p1 $p2 $p3; do wait $p || echo BAD worker; done; "
    "echo 3 > /proc/sys/vm/drop_caches; ls -R $M > /dev/null || echo BAD ls; "
    "for w in 0 1 2 3; do i=0; while [ $i -lt 48 ]; do "
    "[ \"$(cat $M/w$w/d$i/f)\" = $w.$i ] || echo BAD $w.$i; i=$((i+1)); done; "
    "i=0; while [ $i -lt 400 ]; do case $i in 1[0-9][0-9]) ;; *) "
    "[ \"$(cat $M/w$w/f$i)\" = \"$w $i sealpod\" ] || echo BAD $w/f$i;; esac; "
    "i=$((i+1)); done; done; echo parallel-ok") % {"m": MNT}

# Every remaining inode used, then all of them read back cold.
INODES = (
    "M=%(m)s; mkdir $M/many && cd $M/many || exit 1; "
    "n=$(df -i $M | awk 'NR==2 {print $4}'); i=0; while [ $i -lt $((n - 2)) ]; do "
    ": > f$i || echo BAD f$i; i=$((i+1)); done; sync; echo 3 > /proc/sys/vm/drop_caches; "
    "echo files $(ls -l | wc -l) free $(df -i $M | awk 'NR==2 {print $4}'); echo inodes-ok"
) % {"m": MNT}


def disk_name(g):
    return g.sh_ok("ls /sys/devices/pci0000:00/0000:00:11.0/virtio*/block/").split()[0]


def errors(log):
    lines = log.splitlines()
    return ([ln for ln in lines if "AEAD ERROR" in ln],
            [ln for ln in lines if re.search(r"I/O error|EXT4-fs error", ln)])


def one_round(g, disk, journal):
    """Formats disk (dm-integrity journal on or off), checks the detector, runs the workloads,
    tears down. Returns the number of AEAD lines the positive control logged."""
    _, out = g.sh(f"{ST} format {disk} {DM} {MNT}" + (" journal" if journal else ""), timeout=300)
    assert "format ok" in out, out
    try:
        aead, ioerr = errors(g.sh_ok("dmesg -c"))
        assert not aead and not ioerr, f"the format read an unwritten sector: {aead + ioerr}"
        # Block 16384 (64 MiB in): past the inode table and the root directory; nothing wrote it.
        st, out = g.sh(f"dd if=/dev/mapper/{DM} of=/dev/null bs=4096 skip=16384 count=1 2>&1")
        aead, _ = errors(g.sh_ok("dmesg -c"))
        assert st != 0 and aead, f"an unwritten block read without an AEAD error ({st}, {out})"
        control = len(aead)
        for cmd, ok in ((PARALLEL, "parallel-ok"), (INODES, "inodes-ok")):
            _, res = g.sh(cmd, timeout=900)
            assert ok in res and "BAD" not in res, res[-800:]
            aead, ioerr = errors(g.sh_ok("dmesg -c"))
            assert not aead and not ioerr, \
                f"{ok[:-3]}: {len(aead)} AEAD, {len(ioerr)} I/O error lines: {(aead + ioerr)[:6]}"
    finally:
        g.sh(f"cd /; {ST} teardown {DM} {MNT}", timeout=120)
    return control


@boots(**BOOT)
def test_no_aead_error_under_parallel_load(g):
    """A freshly formatted pod disk, 4 vCPUs, parallel small-file writes and reads, deletes,
    cold re-reads and a full inode table: no INTEGRITY AEAD ERROR, no I/O error, every file as
    written; a read of a never-written block does log the error (the detector works)."""
    disk = disk_name(g)
    control = [one_round(g, disk, journal=bool(i % 2)) for i in range(ROUNDS)]
    return (f"{ROUNDS} round(s) (journal off, then on and off in turn), 4 vCPUs: 0 AEAD lines "
            f"under load; positive control {control}")
