#!/bin/bash
# Boots the same Linux twice with //:qemu_linux's command line: under the
# hypervisor, and with --bare on QEMU alone given the device tree the
# hypervisor gives it (so both see the same devices). Each run prints the
# kernel's messages of priority warning or worse, and the interrupts the
# architecture code counted as erroneous (/proc/interrupts Err), and powers
# off. The hypervisor's run must add no message the bare run lacks, and no
# erroneous interrupt, and the hypervisor must have answered none of Linux's
# accesses with an abort (nothing outside its device tree) and none of its
# instructions as UNDEFINED.
#
#   linux_dmesg_test.sh [--timeout=S] -- LAUNCH_COMMAND...
#
# Messages are compared as text, without their timestamps. hrtimer's report
# of one slow timer interrupt is left out of both: it says the host did not
# run an emulated CPU for a while, and a loaded host makes bare QEMU print it
# too.
set -u
timeout_s=120
if [[ ${1:-} == --timeout=* ]]; then
  timeout_s=${1#--timeout=}
  shift
fi
[[ ${1:-} == -- ]] && shift

tmp=$(mktemp -d "${TEST_TMPDIR:-/tmp}/linux_dmesg.XXXXXX")
# What the shell runs: the typed line holds "ew$((1+1))", its output "ew2",
# so the echo of the command is never taken for its output.
script='dmesg -r | sed -n "s/^<[0-4]>\[[^]]*\] *//p" | sed "s/^/ew$((1+1)): /"; '
script+='echo "ew$((1+1)): irq-errors: $(sed -n "s/^ *Err: *//p" /proc/interrupts)"; echo "ew-end-$((6*7))"\n'
script+='poweroff\n'

# run NAME EXTRA_FLAG...: the console of one boot, in $tmp/NAME.log.
run() {
  local name=$1
  shift
  TMPDIR=$tmp timeout "$timeout_s" "${launch[@]}" "$@" < <(printf '%b' "$script"; sleep "$timeout_s") \
    >"$tmp/$name.log" 2>&1
  local rc=$?
  [[ -n ${TEST_UNDECLARED_OUTPUTS_DIR:-} ]] && cp "$tmp/$name.log" "$TEST_UNDECLARED_OUTPUTS_DIR/"
  if [[ $rc -ne 0 ]] || ! tr -d '\r' <"$tmp/$name.log" | grep -q '^ew-end-42$'; then
    echo "FAIL: the $name run did not finish (exit status $rc; 124: timed out after $timeout_s s); its console ends:"
    tail -n 40 "$tmp/$name.log"
    exit 1
  fi
  tr -d '\r' <"$tmp/$name.log" | sed -n 's/^ew2: //p' | grep -v '^hrtimer: interrupt took' | sort -u \
    >"$tmp/$name.msgs"
}

launch=("$@")
run hyp
run bare --bare

echo "bare QEMU, warning or worse:"
sed 's/^/  /' "$tmp/bare.msgs"
echo "under the hypervisor, warning or worse:"
sed 's/^/  /' "$tmp/hyp.msgs"

failures=0
if [[ ! -s $tmp/bare.msgs ]]; then
  # Never empty: the interrupt-error line is always there.
  echo "FAIL: nothing read from the bare run"
  failures=1
fi
added=$(comm -13 "$tmp/bare.msgs" "$tmp/hyp.msgs")
if [[ -n $added ]]; then
  echo "FAIL: under the hypervisor only:"
  printf '%s\n' "$added" | sed 's/^/  /'
  failures=1
fi
# The hypervisor's reports of an access to something the device tree does
# not describe, or of an instruction it answered UNDEFINED.
faults=$(tr -d '\r' <"$tmp/hyp.log" | grep '^hyp: guest: vCPU')
if [[ -n $faults ]]; then
  echo "FAIL: the hypervisor answered Linux with an abort or UNDEFINED:"
  printf '%s\n' "$faults" | sed 's/^/  /'
  failures=1
fi
if ! grep -qx 'irq-errors: 0' "$tmp/hyp.msgs"; then
  echo "FAIL: erroneous interrupts under the hypervisor: $(grep '^irq-errors' "$tmp/hyp.msgs")"
  failures=1
fi
if [[ -n $(ls -A "$tmp" | grep -v '\.\(log\|msgs\)$') ]]; then
  echo "FAIL: left behind in TMPDIR: $(ls -A "$tmp")"
  failures=1
fi
rm -rf "$tmp"
[[ $failures -eq 0 ]] && echo PASS
exit "$failures"
