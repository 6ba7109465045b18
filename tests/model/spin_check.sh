#!/usr/bin/env bash
# Checks a Promela model exhaustively with Spin: the generated table and the
# model are put together, Spin writes the verifier, clang builds it, and it
# searches every state. "pass": the search must end with no error;
# "fail": it must find one (an assertion violated), and print its trail.
#
#   spin_check.sh pass|fail TABLE.pml MODEL.pml PAGES
set -euo pipefail
expect="$1"
table="$(realpath "$2")"
model="$(realpath "$3")"
pages="$4"
work="$(mktemp -d "${TEST_TMPDIR:-/tmp}/spin.XXXXXX")"
cd "${work}"
cat "${table}" "${model}" > model.pml
# Spin's C preprocessor: clang's (no GCC is needed).
spin -P"clang -E -x c" -DNPG="${pages}" -a model.pml > spin.log
clang -O2 -w -DSAFETY -DNOFAIR -DVECTORSZ=2048 -o pan pan.c
set +e
./pan -m1000000 -E > pan.log 2>&1
set -e
errors=$(sed -n 's/.*errors: \([0-9]*\).*/\1/p' pan.log | head -1)
grep -E "errors:|states, stored|depth reached" pan.log || true
if [[ -z "${errors}" ]]; then
  echo "spin_check: no result from the verifier" >&2
  cat pan.log >&2
  exit 1
fi
if [[ "${expect}" == "pass" ]]; then
  if [[ "${errors}" != "0" ]]; then
    spin -P"clang -E -x c" -DNPG="${pages}" -t -p model.pml | tail -60 >&2 || true
    echo "spin_check: ${errors} error(s): the trail above ends where an invariant broke" >&2
    exit 1
  fi
  grep -q "max search depth too small" pan.log && { echo "spin_check: search cut short" >&2; exit 1; }
  echo "spin_check: every state searched, no invariant broken"
else
  if [[ "${errors}" == "0" ]]; then
    echo "spin_check: the weakened model was not caught" >&2
    exit 1
  fi
  echo "spin_check: counterexample found, as it must be:"
  grep -E "assertion violated|errors:" pan.log
fi
