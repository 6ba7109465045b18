#!/usr/bin/env bash
# Runs the exit benchmarks: the test runner once per bench package, each
# with its own arguments; the runs are separated by a lone "::" argument.
# Each run prints its figures (docs/performance.md).
set -euo pipefail
runner="$1"
shift
args=()
for a in "$@"; do
  if [[ "${a}" == "::" ]]; then
    "${runner}" "${args[@]}"
    args=()
  else
    args+=("${a}")
  fi
done
if ((${#args[@]} > 0)); then "${runner}" "${args[@]}"; fi
