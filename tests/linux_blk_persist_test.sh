#!/bin/bash
# What Linux wrote while the block server failed and was restarted under
# its writes is in the disk image, byte for byte, and the next machine
# reads it back: the first machine (the block server failing at its crash
# points and restarted every 100 ms) writes 16 MiB of random data with
# O_DIRECT and prints its checksum; the host checks the image's first
# 16 MiB against it; a second machine, with a plain block server, reads
# them back and compares.
#
# linux_blk_persist_test.sh RUNNER CRASH_PACKAGE PLAIN_PACKAGE [RUNNER ARGS...]
set -euo pipefail
runner="$1"
crash_package="$2"
plain_package="$3"
shift 3
tmp="${TEST_TMPDIR:-$(mktemp -d)}"
disk="${tmp}/disk.img"
rm -f "${disk}"
mkdir -p "${tmp}/first" "${tmp}/second"

TEST_UNDECLARED_OUTPUTS_DIR="${tmp}/first" "${runner}" "$@" --package="${crash_package}" --disk="${disk},size=32M" \
  --exit=kill -- \
  'find:linux|rcS: ready' \
  'send:dd if=/dev/urandom of=/tmp/src bs=1M count=16 2>/dev/null; echo sum-$(sha256sum /tmp/src | cut -c1-64)-e$((1+1))nd\r' \
  'find:linux|-e2nd' \
  'send:dd if=/tmp/src of=/dev/vda bs=1M oflag=direct 2>/dev/null && sync && echo written-$((1+1))\r' \
  'find:linux|written-2' \
  'seen:5:failing on purpose' \
  'seen:5:hyp: server blk (id 4) restarted (planned'
# The guest's text alone (other sources' lines may split its line).
sum=$(tr -d '\r' <"${tmp}/first/console.log" | sed -n 's/^linux| //p' | tr -d '\n' | grep -o 'sum-[0-9a-f]\{64\}-e2nd' |
  grep -o '[0-9a-f]\{64\}' | head -n 1)
[ -n "${sum}" ] || { echo "FAIL: the first machine printed no checksum"; exit 1; }
host=$(head -c $((16 << 20)) "${disk}" | sha256sum | cut -c1-64)
[ "${host}" = "${sum}" ] || { echo "FAIL: host: the image holds ${host}, the guest wrote ${sum}"; exit 1; }
echo "host: the image's first 16 MiB are what the guest wrote (${sum})"

TEST_UNDECLARED_OUTPUTS_DIR="${tmp}/second" "${runner}" "$@" --package="${plain_package}" --disk="${disk}" \
  --exit=zero -- \
  'find:linux|rcS: ready' \
  "send:[ \"\$(dd if=/dev/vda bs=1M count=16 iflag=direct 2>/dev/null | sha256sum | cut -c1-64)\" = ${sum} ] && echo same-\$((1+1)) || echo different-\$((1+1))\\r" \
  'find:linux|same-2' \
  'send:poweroff\r' \
  'expect:hyp: all partitions stopped: powering off'
echo "PASS: linux_blk_persist_test"
