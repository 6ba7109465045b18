#!/usr/bin/env bash
# Host CPU time QEMU spends while every vCPU of a guest waits in WFI: runs
# the test runner (its arguments follow) under bash's `time` and prints
# "idle: <cpu> s of host CPU in <wall> s" (docs/performance.md).
set -euo pipefail
TIMEFORMAT='%R %U %S'
times_file="$(mktemp)"
trap 'rm -f "${times_file}"' EXIT
{ time "$@" >/dev/null; } 2>"${times_file}"
read -r wall user sys <"$(tail -n 1 "${times_file}" >"${times_file}.last" && echo "${times_file}.last")"
rm -f "${times_file}.last"
cpu=$(awk -v u="${user}" -v s="${sys}" 'BEGIN { printf "%.2f", u + s }')
echo "idle: ${cpu} s of host CPU in ${wall} s (user ${user} s, system ${sys} s)"
