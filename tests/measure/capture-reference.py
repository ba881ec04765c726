#!/usr/bin/python3
"""Captures the reference boots whose firmware PCRs (0-3, 6, 7) sealpod-measure cannot predict:
boots build/bzImage + build/initramfs-test.img through the integration harness exactly as
tests/integration/test_measure.py does (scripts/run-qemu --test --swtpm: q35, TCG, -cpu max,
2 vCPUs, -nodefaults, Debian's OVMF_CODE_4M.fd with a fresh copy of OVMF_VARS_4M.fd, a fresh
swtpm), reads /sys/class/tpm/tpm0/pcr-sha256/N and binary_bios_measurements, and stores the log
and an index entry in tests/measure/reference/.

    tests/measure/capture-reference.py [MIB...]       (default: 512 2048)

A guest's firmware PCRs depend on the OVMF build and on the VM configuration (RAM, vCPUs,
devices, VARS): recapture when any of them changes. `sealpod-measure --reference-log FILE`
puts a stored log's PCRs into the reference values, and `sealpod-measure replay --eventlog LOG
--reference-log FILE` says which firmware events of another boot differ from it.
"""
import datetime
import hashlib
import json
import os
import subprocess
import sys

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(TOP, "tests", "integration"))
import test_measure  # noqa: E402  (the boot helper and the file locations)

OUT = os.path.join(TOP, "tests", "measure", "reference")


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def deb(pkg):
    r = subprocess.run(["dpkg-query", "-W", "-f=${Version}", pkg], capture_output=True, text=True)
    return r.stdout.strip() or "not installed"


def main():
    mems = [int(a) for a in sys.argv[1:]] or [512, 2048]
    os.makedirs(OUT, exist_ok=True)
    index = os.path.join(OUT, "reference.json")
    try:
        with open(index) as f:
            data = json.load(f)
    except FileNotFoundError:
        data = {"about": "Reference vTPM boots (tests/measure/capture-reference.py); firmware "
                         "PCRs 0-3, 6, 7 hold only for this OVMF build and VM configuration",
                "boots": []}
    ovmf = deb("ovmf")
    for mem in mems:
        pcrs, log, proc_cmdline = test_measure._boot_read(mem, None)
        name = f"ovmf-{ovmf}-run-qemu-{mem}M.binary_bios_measurements"
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(log)
        entry = {
            "file": name,
            "mem": mem,
            "smp": 2,
            "vm": "scripts/run-qemu --test --swtpm DIR --mem %d (q35, TCG, -cpu max, -nodefaults, "
                  "the integration harness's devices)" % mem,
            "ovmf_package": ovmf,
            "ovmf_code_sha256": sha256(test_measure.OVMF_CODE),
            "ovmf_vars_sha256": sha256("/usr/share/OVMF/OVMF_VARS_4M.fd"),
            "qemu_package": deb("qemu-system-x86"),
            "swtpm_package": deb("swtpm"),
            "proc_cmdline": proc_cmdline,
            "captured": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d"),
            "pcrs": {str(n): pcrs[n] for n in (0, 1, 2, 3, 6, 7)},
        }
        data["boots"] = [b for b in data["boots"]
                         if not (b["mem"] == mem and b["ovmf_code_sha256"] == entry["ovmf_code_sha256"])]
        data["boots"].append(entry)
        print(f"{mem} MiB: " + " ".join(f"pcr{n}={pcrs[n][:16]}" for n in (0, 1, 2, 3, 6, 7)))
    data["boots"].sort(key=lambda b: (b["ovmf_package"], b["mem"]))
    with open(index, "w") as f:
        json.dump(data, f, indent=1)
        f.write("\n")
    print(f"wrote {index}")


if __name__ == "__main__":
    main()
