#!/usr/bin/env bash
# Sequential O_DIRECT reads and writes of 1 MiB blocks on the guest's
# virtio-blk disk, the same Linux (kernel, initramfs, device tree; one
# vCPU, one CPU) on bare QEMU with QEMU's own virtio-blk, and under the
# hypervisor with the block server's, both under -icount
# shift=0,sleep=off, and prints busy virtual time per MiB:
#   bare: write W ms/MiB, read R ms/MiB
#   hyp:  write W ms/MiB, read R ms/MiB
#   restart: ...        (how long the block server is away in a restart
#                        under the guest's reads, virtual time)
#   ratio: X            (the lower of bare/hyp for write and for read)
# Busy time is virtual time with the CPU not idle: with sleep=off QEMU
# skips ahead while every CPU waits (for host I/O among others), so the
# time a figure counts is instructions executed, at 1 ns each.
#  - bare: Linux's own idle time (/proc/timer_list: idle_sleeptime and,
#    while a task waits for I/O, iowait_sleeptime, the number before
#    "nsecs" whatever the spacing: 6.1 and 6.12 lay the lines out
#    differently; one CPU) and the
#    virtual counter (guests/linux uptime-counter), before and after each
#    transfer, each made three times (the least busy counts): the machine
#    is the guest.
#  - hyp: the hypervisor's own count of its idle time, printed (hyp.bench)
#    at each reset of the guest, every WFI of the guest trapped so that the
#    idle time is all the hypervisor's (hyp.trapwfi): the guest reboots after a plain boot,
#    again after a boot and the writes, and after a boot and the reads, so
#    the transfers' busy time is their segment's less the plain one.
#
#   bazel run //tests/bench:virtio_blk [-- --mib=N]
set -euo pipefail
launch="$1"
runner="$2"
hyp="$3"
package="$4"
restart_package="$5"
uart="$6"
gic="$7"
blk="$8"
kernel="$9"
initrd="${10}"
shift 10
mib=256
for a in "$@"; do
  case "$a" in
    --mib=*) mib="${a#--mib=}" ;;
    *) echo "virtio_blk: unknown argument $a" >&2; exit 2 ;;
  esac
done
qemu="${QEMU:-qemu-system-aarch64}"
echo "virtio_blk: ${mib} MiB each way, O_DIRECT, 1 MiB blocks, 1 CPU, $($qemu --version | head -n 1)"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
disk_mib=$((mib + 16))
write="dd if=/dev/zero of=/dev/vda bs=1M count=${mib} oflag=direct 2>/dev/null"
read="dd if=/dev/vda of=/dev/null bs=1M count=${mib} iflag=direct 2>/dev/null"

# ---- bare QEMU: the guest measures itself.
busy='B() { c=$(/bin/uptime-counter); c=${c##*(}; c=${c%% us*}; i=$(awk "/idle_sleeptime|iowait_sleeptime/ { for (k = 1; k < NF; k++) if (\$(k + 1) == \"nsecs\") n += \$k } END {print n + 0}" /proc/timer_list); echo $((c - i / 1000)); }'
TMPDIR="$tmp" timeout 1800 "$launch" --bare --hyp="$hyp" --uart_server="$uart" --gic_server="$gic" --blk_server="$blk" \
  --kernel="$kernel" --initrd="$initrd" --smp=1 --mem=1G --append=console=ttyAMA0 --icount \
  --disk="$tmp/bare.img,size=${disk_mib}M" --input_after="rcS: ready" \
  < <(printf '%s; t="$(B)"; for i in 1 2 3; do %s; t="$t $(B)"; done; for i in 1 2 3; do %s; t="$t $(B)"; done; echo "bench: $t"; poweroff\n' "$busy" "$write" "$read") \
  >"$tmp/bare.log" 2>&1 || true
marks=$(tr -d '\r' <"$tmp/bare.log" | sed -n 's/^bench: \([0-9 ]*\)$/\1/p' | head -n 1)
if [[ $(wc -w <<<"$marks") != 7 ]]; then
  echo "virtio_blk: the bare run printed no figures; its console ends:" >&2
  tail -n 30 "$tmp/bare.log" >&2
  exit 1
fi
# Each transfer three times: the least busy of each (a pass the host's own
# I/O stalled can only add).
bare_w=$(awk -v m="$mib" '{ w = $2 - $1; if ($3 - $2 < w) w = $3 - $2; if ($4 - $3 < w) w = $4 - $3; printf "%.4f", w / 1000 / m }' <<<"$marks")
bare_r=$(awk -v m="$mib" '{ r = $5 - $4; if ($6 - $5 < r) r = $6 - $5; if ($7 - $6 < r) r = $7 - $6; printf "%.4f", r / 1000 / m }' <<<"$marks")
echo "bare: write ${bare_w} ms/MiB, read ${bare_r} ms/MiB"

# ---- under the hypervisor: segments between the guest's resets.
reset='expect:hyp: partition linux (id 3) reset'
TEST_UNDECLARED_OUTPUTS_DIR="$tmp" timeout 1800 "$runner" --hyp="$hyp" --package="$package" --smp=1 --mem=2G --icount '--hyp_append=hyp.bench hyp.trapwfi' \
  --disk="$tmp/hyp.img,size=${disk_mib}M" --timeout_s=1700 --exit=zero \
  '--fail_on=PANIC,Oops,I/O error,failed:' \
  -- 'find:linux|rcS: ready' 'send:reboot\r' "$reset" \
  'find:linux|rcS: ready' 'send:reboot\r' "$reset" \
  'find:linux|rcS: ready' "send:${write} && reboot\\r" "$reset" \
  'find:linux|rcS: ready' "send:${read} && reboot\\r" "$reset" \
  'find:linux|rcS: ready' 'send:poweroff\r' 'expect:hyp: all partitions stopped: powering off' \
  >"$tmp/hyp.out" 2>&1 || { echo "virtio_blk: the hypervisor run failed:" >&2; tail -n 40 "$tmp/hyp.out" >&2; exit 1; }
# The console is in the runner's transcript: busy = total - idle at each reset.
log="$tmp/console.log"
mapfile -t busy_at < <(tr -d '\r' <"$log" | sed -n 's/^.*hyp: cpu 0: idle \([0-9]*\) us of \([0-9]*\) us$/\1 \2/p' | awk '{ print $2 - $1 }')
if (( ${#busy_at[@]} < 4 )); then
  echo "virtio_blk: the hypervisor printed ${#busy_at[@]} busy figures, not 4+; its console ends:" >&2
  tail -n 40 "$log" >&2
  exit 1
fi
plain=$(( busy_at[1] - busy_at[0] ))
hyp_w=$(awk -v s="$(( busy_at[2] - busy_at[1] ))" -v p="$plain" -v m="$mib" 'BEGIN { printf "%.4f", (s - p) / 1000 / m }')
hyp_r=$(awk -v s="$(( busy_at[3] - busy_at[2] ))" -v p="$plain" -v m="$mib" 'BEGIN { printf "%.4f", (s - p) / 1000 / m }')
echo "hyp:  write ${hyp_w} ms/MiB, read ${hyp_r} ms/MiB (a plain reboot: $(( plain / 1000 )) ms busy)"
# ---- a restart of the block server under the guest's reads: 4,000 reads
# of 4 KiB (guests/linux/blk_latency.c) while a controller restarts it
# every 20 ms. The hypervisor (hyp.bench) says, for each planned restart,
# how long the server was away: from the quiesce queued to the new
# instance's first wait (the physical disk reset and the guest's requests
# issued again included), the time a guest request could wait for it.
mkdir -p "$tmp/restarts"
TEST_UNDECLARED_OUTPUTS_DIR="$tmp/restarts" timeout 1800 "$runner" --hyp="$hyp" --package="$restart_package" --smp=1 \
  --mem=2G --icount '--hyp_append=hyp.bench hyp.trapwfi' --disk="$tmp/hyp.img" --timeout_s=1700 --exit=kill \
  '--fail_on=PANIC,Oops,I/O error,given up' \
  -- 'find:linux|rcS: ready' 'send:echo go-$((1+1)); blk-latency\r' 'expect:linux| go-2' 'expect:linux| latency:' \
  'send:echo done-$((2+2))\r' 'expect:linux| done-4' \
  >"$tmp/restarts.out" 2>&1 || { echo "virtio_blk: the restart run failed:" >&2; tail -n 40 "$tmp/restarts.out" >&2; exit 1; }
tr -d '\r' <"$tmp/restarts/console.log" | sed -n '/^linux| go-2/,/^linux| latency:/p' |
  sed -n 's/^hyp: server blk back after \([0-9]*\) us$/\1/p' |
  awk '{ n++; sum += $1; if ($1 > max) max = $1 } END {
    if (n == 0) { print "virtio_blk: no restart of the block server during the reads" > "/dev/stderr"; exit 1 }
    printf "restart: the block server away %.0f us on average, %d us at most (%d restarts under the reads)\n", sum / n, max, n }'
awk -v bw="$bare_w" -v br="$bare_r" -v hw="$hyp_w" -v hr="$hyp_r" \
  'BEGIN { w = bw / hw; r = br / hr; printf "write ratio: %.3f, read ratio: %.3f\nratio: %.3f\n", w, r, (w < r ? w : r) }'
