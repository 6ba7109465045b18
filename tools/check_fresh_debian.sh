#!/usr/bin/env bash
# Runs the README's quick start on a fresh Debian root: debootstraps a minimal
# Debian (bookworm or trixie) into a folder, copies the repository into it,
# and runs there, as root through chroot,
#
#   tools/setup.sh && bazel build //:qemu_linux     (the run line, built only:
#                                                   running needs a terminal)
#   tools/setup.sh && bazel test //...              (the test line)
#
# then prints the tests' "N passed, N failed" summary. Needs root on a Debian
# machine that reaches a Debian mirror. See docs/building.md, "Checking a
# fresh Debian".
#
# Usage: tools/check_fresh_debian.sh [options] SUITE
#   SUITE            bookworm or trixie
#   --root=DIR       the Debian root (default: $HYP_CHECK_ROOT, else
#                    /var/tmp/hyp-SUITE). A finished root there is reused as
#                    it is, with the packages and Bazel caches of earlier
#                    runs; one is debootstrapped if there is none.
#   --fresh          delete DIR and debootstrap it anew: the fresh-machine case.
#   --source=MODE    what of the repository is copied to /root/hyp in the root
#                    (replacing an earlier copy):
#                      worktree (default): the working tree as git sees it,
#                        that is HEAD plus all uncommitted changes, tracked and
#                        untracked files, without .git and what .gitignore
#                        names (.cache/, bazel-*);
#                      head: the committed HEAD only (git archive).
#   --with=PATH      with --source=head: take PATH (a file or a folder) from the
#                    working tree instead of HEAD. Repeatable.
#   --mirror=URL     Debian mirror (default: the host's apt sources').
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
suite=""
root="${HYP_CHECK_ROOT:-}"
fresh=0
source_mode="worktree"
with=()
mirror=""

die() {
  echo "check: $*" >&2
  exit 2
}

usage() {
  sed -n '/^# Usage:/,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2
  exit 2
}

for arg in "$@"; do
  case "${arg}" in
    --root=*) root="${arg#--root=}" ;;
    --fresh) fresh=1 ;;
    --source=*) source_mode="${arg#--source=}" ;;
    --with=*) with+=("${arg#--with=}") ;;
    --mirror=*) mirror="${arg#--mirror=}" ;;
    -h | --help) usage ;;
    -*) die "unknown option ${arg}" ;;
    *) [[ -z "${suite}" ]] || usage; suite="${arg}" ;;
  esac
done
case "${suite}" in
  bookworm | trixie) ;;
  *) usage ;;
esac
case "${source_mode}" in
  worktree | head) ;;
  *) die "--source is worktree or head" ;;
esac
[[ ${#with[@]} -eq 0 || "${source_mode}" == head ]] || die "--with goes with --source=head"
[[ $(id -u) -eq 0 ]] || die "run as root (debootstrap, mount and chroot need it)"
root="${root:-/var/tmp/hyp-${suite}}"
[[ "${root}" == /* && "${root}" != / ]] || die "--root must be an absolute path other than /"
root="${root%/}"
marker="${root}/.hyp-check-root"

# The host's Debian mirror and security mirror, from its apt sources (one-line
# and deb822 formats).
host_uris() {
  {
    grep -hE '^[[:space:]]*deb[[:space:]]' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
      awk '{ for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; break } }'
    grep -hiE '^[[:space:]]*URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null |
      sed -E 's/^[[:space:]]*URIs:[[:space:]]*//I' | tr ' \t' '\n\n'
  } | sed -E 's|/+$||' | grep -v '^$' || true
}
if [[ -z "${mirror}" ]]; then
  mirror="$(host_uris | grep -E '/debian$' | head -n 1 || true)"
fi
mirror="${mirror:-http://deb.debian.org/debian}"
security="$(host_uris | grep -E '/debian-security$' | head -n 1 || true)"
security="${security:-http://deb.debian.org/debian-security}"

# One check per root at a time.
exec 9>"${root}.lock"
flock -n 9 || die "another check is using ${root}"

start=$(date +%s)
elapsed() { echo "$(($(date +%s) - $1)) s"; }

# Inside the root: a clean environment, as after logging in as root.
in_root() {
  chroot "${root}" /usr/bin/env -i HOME=/root USER=root LOGNAME=root TERM=dumb LANG=C.UTF-8 \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    /bin/bash -c "$1"
}

mounted=0
unmount_all() {
  local m
  # Deepest first; fall back to a lazy unmount for anything still busy.
  for m in $(findmnt -rn -o TARGET | awk -v p="${root}/" 'index($0, p) == 1' | sort -r); do
    umount "${m}" 2>/dev/null || umount -l "${m}" 2>/dev/null || true
  done
}
cleanup() {
  if [[ ${mounted} -eq 1 ]]; then
    # The Bazel server started in the root keeps files under /dev open.
    in_root 'cd /root/hyp 2>/dev/null && command -v bazel >/dev/null && bazel shutdown' >/dev/null 2>&1 || true
    unmount_all
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# 1. The root.
if [[ ${fresh} -eq 1 && -e "${root}" ]]; then
  unmount_all
  echo "check: deleting ${root}" >&2
  rm -rf --one-file-system "${root}"
fi
if [[ ! -f "${marker}" ]]; then
  [[ ! -e "${root}" || -z "$(ls -A "${root}")" ]] ||
    die "${root} exists but is no finished root: delete it or pass --fresh"
  command -v debootstrap >/dev/null ||
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >&2
  echo "check: debootstrap --variant=minbase ${suite} ${root} ${mirror}" >&2
  t=$(date +%s)
  debootstrap --variant=minbase "${suite}" "${root}" "${mirror}" >"${root}.debootstrap.log" 2>&1 ||
    die "debootstrap failed; see ${root}.debootstrap.log"
  # What a fresh install has: the release, its updates and security updates.
  cat >"${root}/etc/apt/sources.list" <<EOF
deb ${mirror} ${suite} main
deb ${mirror} ${suite}-updates main
deb ${security} ${suite}-security main
EOF
  touch "${marker}"
  echo "check: root made in $(elapsed "${t}")" >&2
else
  echo "check: reusing ${root} (--fresh makes a new one)" >&2
fi
cp /etc/resolv.conf "${root}/etc/resolv.conf"

# 2. The sources, at /root/hyp.
dest="${root}/root/hyp"
rm -rf "${dest}"
mkdir -p "${dest}"
# Copies the files under the given paths that git tracks or would track.
copy_worktree() {
  (cd "${repo}" && git ls-files -z -co --exclude-standard -- "$@" |
    while IFS= read -r -d '' f; do
      [[ -e "${f}" || -L "${f}" ]] && printf '%s\0' "${f}"
    done | tar --null -T - -cf -) | tar -C "${dest}" -xf -
}
case "${source_mode}" in
  worktree)
    copy_worktree .
    echo "check: copied the working tree ($(git -C "${repo}" rev-parse --short HEAD) plus uncommitted changes)" >&2
    ;;
  head)
    git -C "${repo}" archive --format=tar HEAD | tar -C "${dest}" -xf -
    for p in "${with[@]}"; do
      p="${p%/}"
      rm -rf "${dest:?}/${p}"
      copy_worktree "${p}"
    done
    echo "check: copied HEAD ($(git -C "${repo}" rev-parse --short HEAD)); from the working tree: ${with[*]:-nothing}" >&2
    ;;
esac

# 3. The README's lines, in the root.
mount -t proc proc "${root}/proc"
mounted=1
mount -t sysfs sysfs "${root}/sys"
mount --rbind /dev "${root}/dev"
mount --make-rslave "${root}/dev"

log="${root}/root/check.log"
: >"${log}"
echo "check: log in ${log}" >&2

t=$(date +%s)
echo "check: [run line] tools/setup.sh && bazel build //:qemu_linux" >&2
run_status=0
in_root 'cd /root/hyp && tools/setup.sh && bazel build //:qemu_linux' 2>&1 | tee -a "${log}" || run_status=$?
run_time="$(elapsed "${t}")"

t=$(date +%s)
echo "check: [test line] tools/setup.sh && bazel test //..." >&2
test_out="$(mktemp)"
test_status=0
in_root 'cd /root/hyp && tools/setup.sh && bazel test //... --test_summary=short' 2>&1 |
  tee -a "${log}" | tee "${test_out}" || test_status=$?
test_time="$(elapsed "${t}")"

passed=$(grep -cE '^//[^ ]+ +(\(cached\) )?PASSED' "${test_out}" || true)
failed=$(grep -cE '^//[^ ]+ +(\(cached\) )?(FAILED|TIMEOUT|NO STATUS|INCOMPLETE|FLAKY)' "${test_out}" || true)
failed_list="$(grep -E '^//[^ ]+ +(\(cached\) )?(FAILED|TIMEOUT|NO STATUS|INCOMPLETE|FLAKY)' "${test_out}" || true)"
rm -f "${test_out}"
if [[ ${test_status} -ne 0 && ${failed} -eq 0 ]]; then
  failed=1 # setup or the build failed before any test ran
fi

versions="$(in_root 'clang --version | head -n 1; qemu-system-aarch64 --version | head -n 1
  dpkg-query -W -f="\${Package} \${Version}\n" bazel-bootstrap libabsl-dev libgtest-dev' 2>/dev/null |
  paste -sd ';' | sed 's/;/; /g' || true)"

echo
echo "check: ${suite} root ${root}: ${versions}"
echo "check: run line (bazel build //:qemu_linux): $([[ ${run_status} -eq 0 ]] && echo ok || echo "FAILED (status ${run_status})") in ${run_time}"
echo "check: test line (bazel test //...): ${test_time}"
[[ -z "${failed_list}" ]] || echo "${failed_list}"
echo "check: total $(elapsed "${start}")"
echo "${passed} passed, ${failed} failed"
[[ ${run_status} -eq 0 && ${test_status} -eq 0 ]]
