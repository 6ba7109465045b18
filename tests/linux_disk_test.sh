#!/bin/bash
# A disk's data outlives the machine: Linux makes a filesystem on /dev/vda
# (the block server's disk), writes files and their checksums, checks them
# after a reboot and powers off; the host then checks the image (fsck, and
# each file's checksum read with debugfs); a second boot of a new machine
# on the same image checks them again. The same for a qcow2 image (the
# host reads it through qemu-img convert).
#
# linux_disk_test.sh RUNNER [RUNNER ARGS...]: the qemu_test runner and its
# arguments for the machine (hypervisor, package, CPUs, memory, fail_on).
set -euo pipefail
runner="$1"
shift
tmp="${TEST_TMPDIR:-$(mktemp -d)}"

boot() {  # boot DISK STEPS...: one machine, powered off at the end
  local disk="$1"
  shift
  "${runner}" "$@" --disk="${disk}" --exit=zero -- "${STEPS[@]}"
}

make_files=(
  'find:linux|rcS: ready'
  'send:mkdir -p /mnt; mke2fs /dev/vda > /dev/null 2>&1 && mount -t ext4 /dev/vda /mnt && echo mounted-$((1+1))\r'
  'expect:linux| mounted-2'
  'send:dd if=/dev/urandom of=/mnt/a bs=4k count=1000 2>/dev/null; dd if=/dev/urandom of=/mnt/b bs=1M count=8 2>/dev/null; mkdir /mnt/d; seq 1 20000 > /mnt/d/c; cd /mnt && sha256sum a b d/c > sums; cd /; umount /mnt && echo unmounted-$((1+1))\r'
  'expect:linux| unmounted-2'
)
check_files=(
  'send:mkdir -p /mnt; mount -t ext4 /dev/vda /mnt && echo ok=$(cd /mnt && sha256sum -c sums | grep -c ": OK$")\r'
  'expect:linux| ok=3'
  'send:umount /mnt && echo unmounted-$((1+1))\r'
  'expect:linux| unmounted-2'
)
power_off=(
  'send:poweroff\r'
  'expect:hyp: all partitions stopped: powering off'
)
reboot=(
  'send:reboot\r'
  'expect:hyp: partition linux (id 3) reset'
  'find:linux|rcS: ready'
)

host_check() {  # host_check RAW_IMAGE: the filesystem is clean and each file matches its sum
  local image="$1"
  /sbin/e2fsck -fn "${image}" > "${tmp}/fsck.log" 2>&1 || { cat "${tmp}/fsck.log"; echo "FAIL: e2fsck found errors"; exit 1; }
  /sbin/debugfs -R "cat /sums" "${image}" 2>/dev/null > "${tmp}/sums"
  local n=0
  while read -r sum name; do
    got=$(/sbin/debugfs -R "cat /${name}" "${image}" 2>/dev/null | sha256sum | cut -c1-64)
    [ "${got}" = "${sum}" ] || { echo "FAIL: host: /${name} is not what the guest wrote"; exit 1; }
    n=$((n + 1))
  done < "${tmp}/sums"
  [ "${n}" = 3 ] || { echo "FAIL: host: ${n} files in the sums, not 3"; exit 1; }
  echo "host: ${image##*/}: clean, ${n} files as written"
}

# Raw: made, checked after a reboot, powered off; checked on the host; a
# new machine checks them again.
rm -f "${tmp}/disk.img"
STEPS=("${make_files[@]}" "${reboot[@]}" "${check_files[@]}" "${power_off[@]}")
boot "${tmp}/disk.img,size=64M" "$@"
host_check "${tmp}/disk.img"
STEPS=('find:linux|rcS: ready' "${check_files[@]}" "${power_off[@]}")
boot "${tmp}/disk.img" "$@"

# qcow2, created by qemu-img: made and powered off; checked on the host
# through a raw copy, and by a new machine.
rm -f "${tmp}/disk.qcow2"
STEPS=("${make_files[@]}" "${power_off[@]}")
boot "${tmp}/disk.qcow2,size=64M" "$@"
qemu-img convert -f qcow2 -O raw "${tmp}/disk.qcow2" "${tmp}/qcow2.raw"
host_check "${tmp}/qcow2.raw"
STEPS=('find:linux|rcS: ready' "${check_files[@]}" "${power_off[@]}")
boot "${tmp}/disk.qcow2" "$@"
echo "PASS: linux_disk_test"
