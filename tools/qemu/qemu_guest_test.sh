#!/bin/bash
# Runs //:qemu_guest's command line with QEMU, as `bazel run //:qemu_guest`
# does, and checks the console.
#
#   qemu_guest_test.sh [--timeout=S] [--input=TEXT] EXPECTED... -- COMMAND...
#
# TEXT (printf escapes: \n) is piped into the command, which otherwise
# reads nothing.
# Each EXPECTED text must appear, in order; "FAILED" and "PANIC" must not.
# QEMU must exit by itself with status 0 (the guest powers off), and the run
# must leave nothing behind in TMPDIR.
set -u
timeout_s=30
if [[ ${1:-} == --timeout=* ]]; then
  timeout_s=${1#--timeout=}
  shift
fi
input=""
if [[ ${1:-} == --input=* ]]; then
  input=${1#--input=}
  shift
fi
expected=()
while [[ $# -gt 0 && $1 != -- ]]; do
  expected+=("$1")
  shift
done
shift

tmp=$(mktemp -d "${TEST_TMPDIR:-/tmp}/qemu_guest.XXXXXX")
out=$tmp.out
start=$SECONDS
if [[ -n $input ]]; then
  # Kept open after the text: the guest decides when it is done.
  TMPDIR=$tmp timeout "$timeout_s" "$@" < <(printf '%b' "$input"; sleep "$timeout_s") >"$out" 2>&1
else
  TMPDIR=$tmp timeout "$timeout_s" "$@" </dev/null >"$out" 2>&1
fi
rc=$?
console=$(tr -d '\r' <"$out")
[[ -n ${TEST_UNDECLARED_OUTPUTS_DIR:-} ]] && cp "$out" "$TEST_UNDECLARED_OUTPUTS_DIR/console.log"

failures=()
[[ $rc -eq 0 ]] || failures+=("exit status $rc, expected 0 (124: timed out after $timeout_s s)")
rest=$console
for text in "${expected[@]}"; do
  if [[ $rest == *"$text"* ]]; then
    rest=${rest#*"$text"}
  else
    failures+=("missing, or out of order: '$text'")
  fi
done
for text in FAILED PANIC; do
  [[ $console != *"$text"* ]] || failures+=("console printed '$text'")
done
left=$(ls -A "$tmp")
[[ -z $left ]] || failures+=("left behind in TMPDIR: $left")

if [[ ${#failures[@]} -ne 0 ]]; then
  printf 'FAIL: %s\n' "${failures[@]}"
  echo "console:"
  sed 's/^/    /' <<<"$console"
  echo "command: $*"
  exit 1
fi
echo "PASS: ${#expected[@]} texts in $((SECONDS - start)) s"
