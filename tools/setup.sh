#!/usr/bin/env bash
# Installs everything the project needs on Debian bookworm (x86-64), and
# fetches the arm64 packages that cannot be installed beside their host twins
# into .cache/ (which the build reads). Idempotent: a second run only checks.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${root}/.cache"

host_packages=(
  bazel-bootstrap bazel-platforms bazel-skylib
  clang lld llvm libclang-rt-14-dev
  qemu-system-arm device-tree-compiler libfdt-dev
  libabsl-dev libgtest-dev libgmock-dev
  libstdc++-12-dev-arm64-cross libc6-dev-arm64-cross
  python3
)

# arm64 packages unpacked into the cache rather than installed: libfdt-dev
# for arm64 conflicts with the host one; the guest kernel and busybox are
# payloads, not tools.
arm64_packages=(libfdt-dev busybox-static)
guest_kernel_glob='linux-image-6.1.0-*-arm64'

sudo_if_needed() {
  if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi
}

missing=()
for p in "${host_packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

need_update=0
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
  sudo_if_needed dpkg --add-architecture arm64
  need_update=1
fi
stamp="${cache}/arm64.stamp"
if [[ ${#missing[@]} -gt 0 || ! -f "${stamp}" ]]; then
  need_update=1
fi
if [[ ${need_update} -eq 1 ]]; then
  echo "setup: apt-get update" >&2
  sudo_if_needed apt-get update -qq
fi
if [[ ${#missing[@]} -gt 0 ]]; then
  echo "setup: installing ${missing[*]}" >&2
  sudo_if_needed env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if [[ ! -f "${stamp}" ]]; then
  mkdir -p "${cache}/debs" "${cache}/arm64"
  (
    cd "${cache}/debs"
    kernel_pkg="$(apt-cache pkgnames linux-image-6.1.0- |
      grep -E "^${guest_kernel_glob//\*/[0-9]+}\$" | sort -V | tail -1)"
    if [[ -z "${kernel_pkg}" ]]; then
      echo "setup: no ${guest_kernel_glob} package found" >&2
      exit 1
    fi
    echo "setup: downloading ${arm64_packages[*]} ${kernel_pkg} (arm64)" >&2
    pkgs=()
    for p in "${arm64_packages[@]}" "${kernel_pkg}"; do pkgs+=("${p}:arm64"); done
    apt-get download -qq "${pkgs[@]}"
    for deb in ./*.deb; do dpkg-deb -x "${deb}" "${cache}/arm64"; done
  )
  touch "${stamp}"
fi
echo "setup: ready" >&2
