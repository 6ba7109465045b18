#!/usr/bin/env bash
# Boots the same Linux (kernel, initramfs and device tree) to its shell on
# bare QEMU and under the hypervisor, both under -icount shift=0,sleep=off,
# with the same QEMU flags but for what the hypervisor needs
# (virtualization=on, its own image, 256 MiB more RAM for itself and its
# servers), and prints:
#   bare: N ms of virtual time to the shell (wall W s)
#   hyp:  N ms of virtual time to the shell (wall W s)
#   hyp: partition NAME: N exits: REASON N ...   (each partition)
#   ratio: X          (hyp / bare)
# and with --tfa, the hypervisor once more under Trusted Firmware-A
# (docs/boot.md):
#   tfa:  N ms of virtual time to the shell (wall W s), firmware and all
# The virtual time is the system counter the initramfs's rcS prints just
# before it hands over to the shell (guests/linux/uptime_counter.c): the
# same counter, from QEMU's start, in both runs. The bare run is the
# launcher's --bare: QEMU given the device tree the hypervisor gives Linux.
#
#   bazel run //tests/bench:linux_boot [-- --smp=N] [--tfa]
set -euo pipefail
launch="$1"
hyp="$2"
uart="$3"
gic="$4"
kernel="$5"
initrd="$6"
flash="$7"
shift 7
smp=4
tfa=0
for a in "$@"; do
  case "$a" in
    --smp=*) smp="${a#--smp=}" ;;
    --tfa) tfa=1 ;;
    *) echo "linux_boot: unknown argument $a" >&2; exit 2 ;;
  esac
done
qemu="${QEMU:-qemu-system-aarch64}"
echo "linux_boot: $(basename "$kernel"), $smp CPUs, $($qemu --version | head -n 1)"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# run NAME FLAG...: boots with the launcher, poweroff typed once rcS is done
# (the launcher holds it until then, and keeps QEMU's input open once it
# ends), and waits for QEMU to exit. The
# console goes to $tmp/NAME.log, the wall seconds to the shell to
# $tmp/NAME.wall.
run() {
  local name="$1"
  shift
  local start
  start=$(date +%s.%N)
  TMPDIR="$tmp" timeout 600 "$launch" --hyp="$hyp" --uart_server="$uart" --gic_server="$gic" \
    --kernel="$kernel" --initrd="$initrd" --smp="$smp" --mem=1G --append=console=ttyAMA0 --icount \
    --input_after="rcS: ready" "$@" < <(printf 'poweroff\n') >"$tmp/$name.log" 2>&1 &
  local pid=$!
  while kill -0 "$pid" 2>/dev/null && ! grep -q "rcS: ready" "$tmp/$name.log" 2>/dev/null; do sleep 0.1; done
  echo "$start $(date +%s.%N)" | awk '{printf "%.1f", $2 - $1}' >"$tmp/$name.wall"
  wait "$pid" || true
}

# console_number RUN SED_PATTERN WHAT: the first number the sed pattern
# captures from RUN's console; if there is none, says that RUN WHAT, shows
# the console's end and exits.
console_number() {
  local n
  n=$(tr -d '\r' <"$tmp/$1.log" | sed -n "s/$2/\\1/p" | head -n 1)
  if [[ -z "$n" ]]; then
    echo "linux_boot: the $1 run $3; its console ends:" >&2
    tail -n 30 "$tmp/$1.log" >&2
    exit 1
  fi
  echo "$n"
}

# The counter value rcS printed, in ms.
virtual_ms() {
  console_number "$1" '.*rcS: counter: \([0-9]*\) ms.*' "never reached the shell"
}

run bare --bare
bare_ms=$(virtual_ms bare)
echo "bare: $bare_ms ms of virtual time to the shell (wall $(cat "$tmp/bare.wall") s)"

# The guest's counter starts when the hypervisor built it: its offset is
# added, for the time since QEMU's start.
hyp_run_ms() {
  local offset_ms
  offset_ms=$(console_number "$1" '^hyp: partition guest: virtual counter offset \([0-9]*\) ms.*' \
    "printed no counter offset at power-off")
  echo $(( $(virtual_ms "$1") + offset_ms ))
}

run hyp --hyp_append=hyp.bench
hyp_ms=$(hyp_run_ms hyp)
echo "hyp: $hyp_ms ms of virtual time to the shell (wall $(cat "$tmp/hyp.wall") s)"
# Exits from boot to power-off (the shell's start and the power-off add a few).
tr -d '\r' <"$tmp/hyp.log" | grep -E '^hyp: partition [a-z0-9_-]+: [0-9]+ exits:' || true
awk -v h="$hyp_ms" -v b="$bare_ms" 'BEGIN { printf "ratio: %.3f\n", h / b }'

if ((tfa)); then
  run tfa --hyp_append=hyp.bench --firmware=tfa --tfa_flash="$flash"
  tfa_ms=$(hyp_run_ms tfa)
  echo "tfa: $tfa_ms ms of virtual time to the shell (wall $(cat "$tmp/tfa.wall") s), firmware and all"
  tr -d '\r' <"$tmp/tfa.log" | grep -E '^hyp: partition [a-z0-9_-]+: [0-9]+ exits:' | sed 's/^/tfa: /' || true
fi
