#!/bin/bash
# Stands in for qemu-system-aarch64 in launch_test.sh: records its arguments
# in $FAKE_QEMU_LOG.args, copies the -initrd file (the boot package) to
# $FAKE_QEMU_LOG.pkg while the launcher runs, waits $FAKE_QEMU_SLEEP
# seconds and exits with $FAKE_QEMU_STATUS. A SIGTERM ends it as it would
# end QEMU.
set -u
log=$FAKE_QEMU_LOG
args=("$@")
for ((i = 0; i + 1 < ${#args[@]}; ++i)); do
  if [[ ${args[i]} == -initrd ]]; then
    echo "${args[i + 1]}" >"$log.initrd"
    cp "${args[i + 1]}" "$log.pkg"
  fi
done
# Written last: the test waits for this file to know QEMU "runs".
printf '%s\n' "$@" >"$log.args"
sleep "${FAKE_QEMU_SLEEP:-0}" &
pid=$!
trap 'kill $pid; exit 143' TERM
wait $pid
exit "${FAKE_QEMU_STATUS:-0}"
