#!/usr/bin/env bash
# Installs everything the project needs on Debian bookworm or trixie (x86-64),
# and fetches the arm64 packages that cannot be installed beside their host
# twins into .cache/ (which the build reads). Idempotent: a second run only
# checks.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${root}/.cache"

# Packages whose names are the same on every release.
host_packages=(
  bazel-bootstrap bazel-platforms bazel-skylib
  clang lld llvm
  qemu-system-arm qemu-utils device-tree-compiler libfdt-dev e2fsprogs
  libabsl-dev libgtest-dev libgmock-dev pkgconf
  libc6-dev-arm64-cross
  python3 xz-utils
  spin
  gcc-aarch64-linux-gnu dpkg-dev libssl-dev
)
# Packages named after a compiler version, chosen once clang is installed
# (bookworm: clang 14 and GCC 12; trixie: clang 19 and GCC 14):
#   libclang-rt-N-dev            sanitizer and libFuzzer runtimes of clang N,
#                                where N is the version of /usr/bin/clang;
#   libstdc++-M-dev-arm64-cross  the AArch64 libstdc++ headers of GCC M, the
#                                GCC installation clang uses on the host.
# third_party/host_config.bzl finds the same versions for the toolchain.

# arm64 packages unpacked into the cache rather than installed: libfdt-dev
# for arm64 conflicts with the host one; the guest kernel and busybox are
# payloads, not tools.
arm64_packages=(libfdt-dev busybox-static)

# The guest kernel: the newest ABI of the release's kernel series (Debian
# bumps the ABI number or the upstream version with each update). A release
# not named here takes what the linux-image-arm64 metapackage depends on.
codename="$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}" || true)"
case "${codename}" in
  bookworm)
    kernel_glob='linux-image-6.1.0-*-arm64'
    kernel_regex='^linux-image-6\.1\.0-[0-9]+-arm64$'
    ;;
  trixie)
    kernel_glob='linux-image-6.12.*+deb13-arm64'
    kernel_regex='^linux-image-6\.12\.[0-9]+\+deb13-arm64$'
    ;;
  *)
    kernel_glob='the dependency of linux-image-arm64'
    kernel_regex=''
    ;;
esac

die() {
  echo "setup: $*" >&2
  exit 1
}

sudo_if_needed() {
  if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi
}

installed() {
  [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" == "install ok installed" ]]
}

updated=0
apt_update() {
  if [[ ${updated} -eq 0 ]]; then
    echo "setup: apt-get update" >&2
    sudo_if_needed apt-get update -qq
    updated=1
  fi
}

install_missing() {
  local missing=() p
  for p in "$@"; do
    installed "${p}" || missing+=("${p}")
  done
  if [[ ${#missing[@]} -gt 0 ]]; then
    apt_update
    echo "setup: installing ${missing[*]}" >&2
    sudo_if_needed env DEBIAN_FRONTEND=noninteractive \
      apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
}

stamp="${cache}/arm64.stamp"
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
  sudo_if_needed dpkg --add-architecture arm64
  apt_update
fi
# Fetching the arm64 packages below needs current package lists.
[[ -f "${stamp}" ]] || apt_update

install_missing "${host_packages[@]}"

clang_version="$(/usr/bin/clang -dumpversion)"
clang_major="${clang_version%%.*}"
gcc_dir="$(/usr/bin/clang -v 2>&1 | sed -n 's|^Selected GCC installation: ||p')"
gcc_major="${gcc_dir##*/}"
gcc_major="${gcc_major%%.*}"
[[ "${clang_major}" =~ ^[0-9]+$ ]] || die "cannot tell the version of /usr/bin/clang ('${clang_version}')"
[[ "${gcc_major}" =~ ^[0-9]+$ ]] || die "clang found no GCC installation ('${gcc_dir}')"
install_missing "libclang-rt-${clang_major}-dev" "libstdc++-${gcc_major}-dev-arm64-cross"

# Prints the guest kernel package to fetch, or nothing.
pick_kernel() {
  if [[ -n "${kernel_regex}" ]]; then
    apt-cache pkgnames linux-image- | grep -E "${kernel_regex}" | sort -V | tail -n 1 || true
  else
    apt-cache depends linux-image-arm64:arm64 2>/dev/null |
      sed -n 's/^ *Depends: \(linux-image-[^: ]*\).*/\1/p' | head -n 1 || true
  fi
}

# Debian's arm64 vmlinuz is the uncompressed Image ("ARMd" at offset 0x38),
# on bookworm and trixie alike. Should a release ship it gzipped, unpack it
# in place, so the build always sees a flat Image.
check_image() {
  local image="$1" magic
  magic="$(od -An -tx1 -N2 "${image}" | tr -d ' \n')"
  if [[ "${magic}" == "1f8b" ]]; then
    echo "setup: decompressing ${image##*/}" >&2
    gzip -dc <"${image}" >"${image}.raw"
    mv "${image}.raw" "${image}"
  fi
  magic="$(od -An -tx1 -j56 -N4 "${image}" | tr -d ' \n')"
  [[ "${magic}" == "41524d64" ]] || die "${image} is not a flat arm64 Image (magic '${magic}')"
}

if [[ ! -f "${stamp}" ]]; then
  kernel_pkg="$(pick_kernel)"
  [[ -n "${kernel_pkg}" ]] || die "no ${kernel_glob} package found for ${codename:-this release} (arm64)"
  kernel_version="$(apt-cache show --no-all-versions "${kernel_pkg}:arm64" 2>/dev/null |
    sed -n 's/^Version: //p' | head -n 1 || true)"
  echo "setup: guest kernel ${kernel_pkg} ${kernel_version} (newest ${kernel_glob})" >&2
  rm -rf "${cache}/debs" "${cache}/arm64"
  mkdir -p "${cache}/debs" "${cache}/arm64"
  (
    cd "${cache}/debs"
    echo "setup: downloading ${arm64_packages[*]} ${kernel_pkg} (arm64)" >&2
    pkgs=()
    for p in "${arm64_packages[@]}" "${kernel_pkg}"; do pkgs+=("${p}:arm64"); done
    apt-get download -qq "${pkgs[@]}"
    for deb in ./*.deb; do dpkg-deb -x "${deb}" "${cache}/arm64"; done
  )
  images=("${cache}"/arm64/boot/vmlinuz-*)
  [[ ${#images[@]} -eq 1 && -f "${images[0]}" ]] || die "${kernel_pkg} holds no single boot/vmlinuz-*"
  check_image "${images[0]}"
  echo "${kernel_pkg} ${kernel_version}" >"${stamp}"
fi
# Trusted Firmware-A, which //third_party/tfa builds into QEMU's flash for
# --firmware=tfa (docs/boot.md): Debian's source package, kept in
# .cache/src. Source packages need a deb-src entry; where the system has
# none, one is added beside each entry for this release's own suites.
src_package=arm-trusted-firmware

has_source() {
  apt-get source --print-uris -qq "${src_package}" >/dev/null 2>&1
}

# Prints deb-src twins of the system's "deb" entries for ${codename} and
# ${codename}-updates, in the format each came in.
deb_src_lines() {
  local f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [[ -f "${f}" ]] || continue
    awk -v release="${codename}" '
      $1 == "deb" {
        suite = $3; if ($2 ~ /^\[/) { for (i = 2; i <= NF && $i !~ /\]$/; i++); suite = $(i + 2) }
        if (suite == release || suite == release "-updates") { sub(/^deb/, "deb-src"); print }
      }' "${f}"
  done
}
deb_src_stanzas() {
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [[ -f "${f}" ]] || continue
    awk -v release="${codename}" '
      BEGIN { RS = ""; FS = "\n" }
      {
        deb = 0; ours = 0; enabled = 1; out = ""
        for (i = 1; i <= NF; i++) {
          line = $i
          if (line ~ /^#/) continue
          if (line ~ /^Types:/) { n = split(line, t, /[ \t]+/); for (j = 2; j <= n; j++) if (t[j] == "deb") deb = 1; line = "Types: deb-src" }
          if (line ~ /^Suites:/) { n = split(line, t, /[ \t]+/); for (j = 2; j <= n; j++) if (t[j] == release || t[j] == release "-updates") ours = 1 }
          if (line ~ /^Enabled:[ \t]*no/) enabled = 0
          out = out line "\n"
        }
        if (deb && ours && enabled) printf "%s\n", out
      }' "${f}"
  done
}

src_dir="${cache}/src"
if ! compgen -G "${src_dir}/${src_package}_*.dsc" >/dev/null; then
  [[ -n "${codename}" ]] || die "cannot tell this system's release, to fetch ${src_package}'s sources"
  if ! has_source; then
    apt_update
  fi
  if ! has_source; then
    lines="$(deb_src_lines)"
    stanzas="$(deb_src_stanzas)"
    [[ -n "${lines}${stanzas}" ]] || die "no apt entry for ${codename} to add a deb-src twin of, to fetch ${src_package}'s sources"
    echo "setup: adding deb-src entries for ${codename} (source packages) to /etc/apt/sources.list.d/hyp-deb-src.*" >&2
    if [[ -n "${lines}" ]]; then
      printf '%s\n' "${lines}" | sudo_if_needed tee /etc/apt/sources.list.d/hyp-deb-src.list >/dev/null
    fi
    if [[ -n "${stanzas}" ]]; then
      printf '%s\n' "${stanzas}" | sudo_if_needed tee /etc/apt/sources.list.d/hyp-deb-src.sources >/dev/null
    fi
    updated=0
    apt_update
    has_source || die "apt finds no source package ${src_package} even with deb-src entries"
  fi
  rm -rf "${src_dir}"
  mkdir -p "${src_dir}"
  echo "setup: downloading the source package ${src_package}" >&2
  (cd "${src_dir}" && apt-get source --download-only -qq "${src_package}" 2>&1 | grep -v "unsandboxed as root" >&2 || true)
  compgen -G "${src_dir}/${src_package}_*.dsc" >/dev/null || die "apt-get source ${src_package} gave no .dsc"
fi
tfa="$(cd "${src_dir}" && echo "${src_package}"_*.dsc)"

guest="$(cd "${cache}/arm64/boot" 2>/dev/null && echo vmlinuz-* || true)"
echo "setup: ready (clang ${clang_major}, arm64 libstdc++ ${gcc_major}, guest ${guest:-none}, firmware ${tfa%.dsc})" >&2
