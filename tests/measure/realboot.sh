#!/bin/bash
# Ground truth for sealpod-measure's vTPM predictions without the test image: boots KERNEL under
# QEMU TCG with Debian's OVMF and swtpm, with a throwaway busybox initramfs whose /init prints
# /sys/class/tpm/tpm0/pcr-sha256/N and the firmware event log, then compares both with
# `sealpod-measure` (prediction and `replay`). Prints one "realboot:" line per PCR and exits
# non-zero on a mismatch. Needs qemu-system-x86, ovmf, swtpm, busybox-static, cpio.
#
#   tests/measure/realboot.sh KERNEL MEASURE_BIN WORKDIR MEM_MIB "CMDLINE" [suffix|prefix]
set -euo pipefail
kernel=$1 measure=$2 work=$3 mem=$4 cmdline=$5 loadopts=${6:-suffix}
ovmf_code=/usr/share/OVMF/OVMF_CODE_4M.fd ovmf_vars=/usr/share/OVMF/OVMF_VARS_4M.fd

rm -rf "$work" && mkdir -p "$work/root/bin" "$work/tpm"
cp /bin/busybox "$work/root/bin/busybox"
cat > "$work/root/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox mkdir -p /proc /sys /dev
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sysfs /sys
/bin/busybox mount -t securityfs securityfs /sys/kernel/security
/bin/busybox mount -t devtmpfs devtmpfs /dev
exec >/dev/ttyS0 2>&1 # also without console=ttyS0 (an empty command line)
for n in 0 1 2 3 4 5 6 7 8 9; do
	echo "PCR $n $(/bin/busybox cat /sys/class/tpm/tpm0/pcr-sha256/$n)"
done
echo "CMDLINE $(/bin/busybox cat /proc/cmdline)"
echo "EVENTLOG-BEGIN"
/bin/busybox base64 /sys/kernel/security/tpm0/binary_bios_measurements
echo "EVENTLOG-END"
/bin/busybox poweroff -f
INIT
chmod 755 "$work/root/init"
(cd "$work/root" && find . | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0) > "$work/initrd.cpio"
cp "$ovmf_vars" "$work/vars.fd"

swtpm socket --tpm2 --tpmstate dir="$work/tpm" --ctrl type=unixio,path="$work/tpm/sock" \
	--daemon --terminate
timeout 600 qemu-system-x86_64 -machine q35,accel=tcg -cpu max -m "$mem" -nodefaults -nographic \
	-serial file:"$work/serial.log" -no-reboot \
	-drive if=pflash,format=raw,readonly=on,file="$ovmf_code" \
	-drive if=pflash,format=raw,file="$work/vars.fd" \
	-chardev socket,id=chrtpm,path="$work/tpm/sock" -tpmdev emulator,id=tpm0,chardev=chrtpm \
	-device tpm-tis,tpmdev=tpm0 \
	-kernel "$kernel" -initrd "$work/initrd.cpio" -append "$cmdline" >/dev/null

tr -d '\r' < "$work/serial.log" > "$work/serial.txt"
sed -n '/^EVENTLOG-BEGIN/,/^EVENTLOG-END/p' "$work/serial.txt" | sed '1d;$d' | base64 -d \
	> "$work/eventlog.bin"
"$measure" --kernel "$kernel" --initrd "$work/initrd.cpio" --cmdline "$cmdline" --mem "$mem" \
	--loadopts "$loadopts" > "$work/predicted.json"
set +e
"$measure" replay --eventlog "$work/eventlog.bin" --kernel "$kernel" --initrd "$work/initrd.cpio" \
	--cmdline "$cmdline" --mem "$mem" --loadopts "$loadopts" > "$work/replay.json"
replay_rc=$?
set -e
rc=0
for n in 4 5 9; do
	got=$(sed -n "s/^PCR $n \([0-9A-Fa-f]*\).*/\1/p" "$work/serial.txt" | tr A-F a-f)
	want=$(sed -n "s/^  \"pcr$n\": \"\([0-9a-f]*\)\".*/\1/p" "$work/predicted.json")
	verdict=match
	if [ -z "$got" ] || [ "$got" != "$want" ]; then
		verdict=MISMATCH
		rc=1
	fi
	echo "realboot: mem=$mem cmdline='$cmdline' pcr$n guest=$got predicted=$want $verdict"
done
echo "realboot: event-log replay exit $replay_rc (0 = every PCR4/5/9 event as predicted)"
[ "$replay_rc" = 0 ] || rc=1
exit $rc
