#!/usr/bin/env bash
# Boots the same Linux (kernel and initramfs) to its shell on bare QEMU and
# under the hypervisor, both under -icount shift=0,sleep=off, with the same
# QEMU flags but for what the hypervisor needs (virtualization=on, its own
# image, 256 MiB more RAM for itself and its servers), and prints:
#   bare: N ms of virtual time to the shell (wall W s)
#   hyp:  N ms of virtual time to the shell (wall W s)
#   ratio: X          (hyp / bare)
# The virtual time is the system counter the initramfs's rcS prints just
# before it hands over to the shell (guests/linux/uptime_counter.c): the
# same counter, from QEMU's start, in both runs.
#
#   bazel run //tests/bench:linux_boot [-- --smp=N]
set -euo pipefail
launch="$1"
hyp="$2"
uart="$3"
gic="$4"
kernel="$5"
initrd="$6"
shift 6
smp=4
for a in "$@"; do
  case "$a" in
    --smp=*) smp="${a#--smp=}" ;;
    *) echo "linux_boot: unknown argument $a" >&2; exit 2 ;;
  esac
done
qemu="${QEMU:-qemu-system-aarch64}"
echo "linux_boot: $(basename "$kernel"), $smp CPUs, $($qemu --version | head -n 1)"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Runs the launcher with poweroff typed once rcS is done (the launcher holds
# it until then); the console goes to $tmp/$name.log, the wall seconds to
# the shell to stdout.
run() {
  local name="$1"
  shift
  local start
  start=$(date +%s.%N)
  { printf 'poweroff\n'; sleep 600; } | timeout 600 "$@" >"$tmp/$name.log" 2>&1 &
  local pid=$!
  while kill -0 "$pid" 2>/dev/null && ! grep -q "rcS: ready" "$tmp/$name.log"; do sleep 0.2; done
  echo "$start $(date +%s.%N)" | awk '{printf "%.1f", $2 - $1}'
  # Powered off: the counter offset comes last.
  while kill -0 "$pid" 2>/dev/null && ! grep -q "powering off" "$tmp/$name.log"; do sleep 0.2; done
  sleep 1
  pkill -P "$pid" 2>/dev/null || true
}

virtual_ms() {
  local ms
  ms=$(tr -d '\r' <"$tmp/$1.log" | sed -n 's/.*rcS: counter: \([0-9]*\) ms.*/\1/p' | head -n 1)
  if [[ -z "$ms" ]]; then
    echo "linux_boot: the $1 run never reached the shell; its console:" >&2
    tail -n 30 "$tmp/$1.log" >&2
    exit 1
  fi
  echo "$ms"
}

# Bare QEMU, stopped once rcS is done (only its counter line matters).
start=$(date +%s.%N)
timeout 600 "$qemu" -M virt,gic-version=3 -cpu max -smp "$smp" -m 1G -nic none -display none -serial stdio \
  -monitor none -kernel "$kernel" -initrd "$initrd" -append console=ttyAMA0 -icount shift=0,sleep=off \
  </dev/null >"$tmp/bare.log" 2>&1 &
bare_pid=$!
while kill -0 "$bare_pid" 2>/dev/null && ! grep -q "rcS: ready" "$tmp/bare.log"; do sleep 0.2; done
bare_wall=$(echo "$start $(date +%s.%N)" | awk '{printf "%.1f", $2 - $1}')
kill "$bare_pid" 2>/dev/null || true
wait "$bare_pid" 2>/dev/null || true
bare_ms=$(virtual_ms bare)
echo "bare: $bare_ms ms of virtual time to the shell (wall $bare_wall s)"

hyp_wall=$(run hyp "$launch" --hyp="$hyp" --uart_server="$uart" --gic_server="$gic" --kernel="$kernel" \
  --initrd="$initrd" --smp="$smp" --mem=1G --append=console=ttyAMA0 --icount --hyp_append=hyp.bench \
  --input_after="rcS: ready")
# The guest's counter starts when the hypervisor built it: its offset is
# added, for the time since QEMU's start.
offset_ms=$(tr -d '\r' <"$tmp/hyp.log" | sed -n 's/^hyp: partition guest: virtual counter offset \([0-9]*\) ms.*/\1/p' | head -n 1)
hyp_ms=$(( $(virtual_ms hyp) + ${offset_ms:-0} ))
echo "hyp: $hyp_ms ms of virtual time to the shell (wall $hyp_wall s)"
awk -v h="$hyp_ms" -v b="$bare_ms" 'BEGIN { printf "ratio: %.3f\n", h / b }'
