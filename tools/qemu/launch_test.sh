#!/bin/bash
# The launcher behind //:qemu_guest, run with a stand-in for QEMU
# (fake_qemu.sh): what it accepts as a guest kernel, the package it builds
# (a console by default), and where that package lives and for how long.
#
#   launch_test.sh LAUNCH UART_SERVER_IMAGE FAKE_QEMU
set -u
launch=$1
uart_server=$2
fake_qemu=$3
work=${TEST_TMPDIR:-$(mktemp -d)}
failures=0

fail() {
  echo "FAILED: $*"
  failures=$((failures + 1))
}

expect_eq() {  # expect_eq WHAT ACTUAL EXPECTED
  [[ $2 == "$3" ]] || fail "$1: got '$2', expected '$3'"
}

expect_contains() {  # expect_contains WHAT TEXT NEEDLE
  [[ $2 == *"$3"* ]] || fail "$1: lacks '$3' in: $2"
}

# Each case gets an empty TMPDIR of its own, so what the launcher leaves
# behind shows.
new_tmpdir() {
  rm -rf "$work/tmp"
  mkdir -p "$work/tmp"
  echo "$work/tmp"
}

expect_tmpdir_empty() {  # expect_tmpdir_empty WHAT DIR
  local left
  left=$(ls -A "$2")
  [[ -z $left ]] || fail "$1: left behind in TMPDIR: $left"
}

# Runs the launcher as //:qemu_guest does, with fake_qemu.sh as QEMU.
run_launch() {  # run_launch LOG ARG...  (output in LOG.out, status in $rc)
  local log=$1
  shift
  FAKE_QEMU_LOG=$log "$launch" --qemu="$fake_qemu" --hyp="$work/hyp.bin" --uart_server="$uart_server" \
    --smp=1 --mem=64M "$@" >"$log.out" 2>&1 </dev/null
  rc=$?
}

# The guest's device tree, taken out of the package (load-1 of partition guest).
guest_dtb() {  # guest_dtb PACKAGE OUT
  local hex
  hex=$(fdtget -t bx "$1" /partitions/guest/load-1 data | sed 's/\([0-9a-f][0-9a-f]*\)/\\x\1/g; s/ //g')
  printf "$hex" >"$2"
}

: >"$work/hyp.bin"
# A flat binary without the arm64 Image header: "b ." and filler.
printf '\x00\x00\x00\x14' >"$work/raw.bin"
head -c 4092 /dev/zero >>"$work/raw.bin"
# An arm64 Image: header with text_offset 0, image_size 64 KiB, the magic.
{
  printf '\x00\x00\x00\x14\x00\x00\x00\x00'
  printf '\x00\x00\x00\x00\x00\x00\x00\x00'
  printf '\x00\x00\x01\x00\x00\x00\x00\x00'
  head -c 32 /dev/zero
  printf 'ARM\x64\x00\x00\x00\x00'
  head -c 4032 /dev/zero
} >"$work/image.bin"
# An ELF file (QEMU's -kernel loads it, but not as Linux: x0 is not the dtb).
{
  printf '\x7fELF\x02\x01\x01\x00'
  head -c 4088 /dev/zero
} >"$work/vmlinux"

# A flat binary without the header is accepted and entered at RAM + 0x80000.
export TMPDIR=$(new_tmpdir)
run_launch "$work/raw" --kernel="$work/raw.bin"
expect_eq "raw binary: launcher status" "$rc" 0
if [[ -f $work/raw.pkg ]]; then
  expect_eq "raw binary: entry" "$(fdtget -t x "$work/raw.pkg" /partitions/guest entry)" "0 40080000"
  expect_eq "raw binary: load address" "$(fdtget -t x "$work/raw.pkg" /partitions/guest/load-0 ipa)" "0 40080000"
else
  fail "raw binary: QEMU was not given a package: $(cat "$work/raw.out")"
fi
expect_contains "raw binary: note" "$(cat "$work/raw.out")" "has no arm64 Image header"
expect_tmpdir_empty "raw binary" "$TMPDIR"

# An Image is placed by its header, as before.
run_launch "$work/image" --kernel="$work/image.bin"
expect_eq "Image: launcher status" "$rc" 0
[[ -f $work/image.pkg ]] && expect_eq "Image: entry" "$(fdtget -t x "$work/image.pkg" /partitions/guest entry)" "0 40000000"

# An ELF file is refused, saying what to give instead.
run_launch "$work/elf" --kernel="$work/vmlinux"
expect_eq "ELF: launcher status" "$rc" 2
expect_contains "ELF: message" "$(cat "$work/elf.out")" "is an ELF file"
expect_contains "ELF: message" "$(cat "$work/elf.out")" "llvm-objcopy -O binary"
[[ ! -f $work/elf.args ]] || fail "ELF: QEMU was started"

# By default the guest has a console: the UART server owns the physical
# PL011 and serves the guest a PL011 at the same address, its stdout-path.
if [[ -f $work/raw.pkg ]]; then
  pkg=$work/raw.pkg
  expect_eq "console: partitions" "$(fdtget -l "$pkg" /partitions | tr '\n' ' ')" "uart guest "
  expect_eq "console: server kind" "$(fdtget "$pkg" /partitions/uart kind)" "server"
  expect_eq "console: physical PL011" "$(fdtget -t x "$pkg" /partitions/uart device-memory)" "0 9000000 0 1000"
  expect_eq "console: route" "$(fdtget -t x "$pkg" /partitions/guest/route-0 ipa)" "0 9000000"
  expect_eq "console: route server" "$(fdtget "$pkg" /partitions/guest/route-0 server)" "0"
  guest_dtb "$pkg" "$work/guest.dtb"
  expect_eq "console: stdout-path" "$(fdtget "$work/guest.dtb" /chosen stdout-path 2>&1)" "/pl011@9000000"
  expect_eq "console: PL011 interrupt" "$(fdtget "$work/guest.dtb" /pl011@9000000 interrupts 2>&1)" "0 1 4"
fi

# --no-console: the guest alone, as before.
run_launch "$work/nocon" --kernel="$work/raw.bin" --no-console
expect_eq "--no-console: launcher status" "$rc" 0
[[ -f $work/nocon.pkg ]] && expect_eq "--no-console: partitions" "$(fdtget -l "$work/nocon.pkg" /partitions)" "guest"

# Two runs at the same time each have their own package, and leave nothing.
export TMPDIR=$(new_tmpdir)
FAKE_QEMU_SLEEP=1 run_launch "$work/one" --kernel="$work/raw.bin" &
one=$!
FAKE_QEMU_SLEEP=1 run_launch "$work/two" --kernel="$work/image.bin" &
two=$!
wait $one
wait $two
if [[ -f $work/one.initrd && -f $work/two.initrd ]]; then
  [[ $(cat "$work/one.initrd") != "$(cat "$work/two.initrd")" ]] ||
    fail "concurrent runs share the package $(cat "$work/one.initrd")"
  expect_eq "concurrent: first run's guest" "$(fdtget -t x "$work/one.pkg" /partitions/guest entry)" "0 40080000"
  expect_eq "concurrent: second run's guest" "$(fdtget -t x "$work/two.pkg" /partitions/guest entry)" "0 40000000"
  for run in one two; do
    pkg_dir=$(dirname "$(cat "$work/$run.initrd")")
    [[ $pkg_dir == "$TMPDIR"/* ]] || fail "concurrent: package not in a directory of its own under TMPDIR: $pkg_dir"
  done
else
  fail "concurrent: QEMU did not run twice: $(cat "$work/one.out" "$work/two.out")"
fi
expect_tmpdir_empty "concurrent" "$TMPDIR"

# QEMU's exit status is the launcher's; the package goes anyway.
export TMPDIR=$(new_tmpdir)
FAKE_QEMU_STATUS=3 run_launch "$work/status" --kernel="$work/raw.bin"
expect_eq "QEMU status 3: launcher status" "$rc" 3
expect_tmpdir_empty "QEMU status 3" "$TMPDIR"

# A launcher told to stop (SIGTERM) stops QEMU and still removes the package.
export TMPDIR=$(new_tmpdir)
FAKE_QEMU_LOG=$work/term FAKE_QEMU_SLEEP=30 "$launch" --qemu="$fake_qemu" --hyp="$work/hyp.bin" \
  --uart_server="$uart_server" --kernel="$work/raw.bin" >"$work/term.out" 2>&1 </dev/null &
term=$!
for ((i = 0; i < 100; ++i)); do
  [[ -f $work/term.args ]] && break
  sleep 0.1
done
kill -TERM $term
wait $term
rc=$?
[[ $rc -ne 0 ]] || fail "SIGTERM: launcher exited with 0"
expect_tmpdir_empty "SIGTERM" "$TMPDIR"

# --print-cmd keeps the package its command names, and says so.
export TMPDIR=$(new_tmpdir)
run_launch "$work/print" --kernel="$work/raw.bin" --print-cmd
expect_eq "--print-cmd: launcher status" "$rc" 0
initrd=$(sed -n 's/.* -initrd \([^ ]*\).*/\1/p' "$work/print.out")
[[ -n $initrd && -f $initrd ]] || fail "--print-cmd: the package its command names is gone: $(cat "$work/print.out")"
expect_contains "--print-cmd: note" "$(cat "$work/print.out")" "remove it when done"
[[ ! -f $work/print.args ]] || fail "--print-cmd: QEMU was started"

if [[ $failures -ne 0 ]]; then
  echo "$failures failures"
  exit 1
fi
echo "launcher: all cases behave"
