#!/bin/bash
# A broken expectation must fail the harness with a reason and the console's
# last lines; so must forbidden output and a QEMU that cannot start.
set -u
runner=$1
kernel=$2
failures=0

check() {  # check NAME EXPECTED_TEXT... < output
  local name=$1; shift
  local out; out=$(cat)
  for text in "$@"; do
    if ! grep -qF -- "$text" <<<"$out"; then
      echo "FAILED: $name: output lacks '$text'"; echo "$out" | sed 's/^/    /'
      failures=$((failures + 1))
    fi
  done
}

out=$("$runner" --hyp="$kernel" --timeout_s=20 --exit=zero -- \
  "expect:hyp: 4 of 4 CPUs online" "expect:this line is never printed" 2>&1)
rc=$?
[[ $rc -ne 0 ]] || { echo "FAILED: unmet expectation passed"; failures=$((failures + 1)); }
check unmet "FAIL: QEMU exited with status 0 before the script finished waiting for 'this line is never printed'" \
  "last console lines:" "hyp: no Linux guest exists yet" "command: qemu-system-aarch64" <<<"$out"

out=$("$runner" --hyp="$kernel" --timeout_s=20 --fail_on="CPU 2 (MPIDR" -- "expect:never" 2>&1)
rc=$?
[[ $rc -ne 0 ]] || { echo "FAILED: forbidden text passed"; failures=$((failures + 1)); }
check forbidden "FAIL: console printed forbidden text 'CPU 2 (MPIDR'" "hyp: CPU 1 (MPIDR 0x1) online" <<<"$out"

out=$("$runner" --hyp="$kernel" --timeout_s=3 --hyp_append=hyp.fault_test --fail_on= -- "expect:never" 2>&1)
rc=$?
[[ $rc -ne 0 ]] || { echo "FAILED: timeout passed"; failures=$((failures + 1)); }
check timeout "FAIL: timed out after 3 s waiting for 'never'" "PANIC: CPU halted" <<<"$out"

out=$("$runner" --hyp="$kernel" --qemu=/nonexistent/qemu --timeout_s=5 -- "expect:hyp: EL2" 2>&1)
rc=$?
[[ $rc -ne 0 ]] || { echo "FAILED: missing QEMU passed"; failures=$((failures + 1)); }
check no_qemu "cannot run /nonexistent/qemu" "QEMU exited with status 127" <<<"$out"

out=$("$runner" --hyp="$kernel" --smp=99 -- "expect:x" 2>&1)
rc=$?
[[ $rc -eq 2 ]] || { echo "FAILED: --smp=99 gave status $rc, not 2"; failures=$((failures + 1)); }

if [[ $failures -ne 0 ]]; then exit 1; fi
echo "harness failure reports: all cases behave"
