#!/usr/bin/env bash
# Builds Trusted Firmware-A for QEMU's virt machine from Debian's source
# package, offline, into the flash image QEMU's -bios takes: BL1 at offset 0,
# the FIP (BL2, BL31) at 256 KiB. The hypervisor is BL33, loaded by QEMU at
# 0x40200000 and entered at NS-EL2 by BL31 with x0 = the device tree
# (docs/boot.md).
#
# Usage: build.sh DSC PATCHES OUT_DIR
#   DSC       the source package's .dsc, beside its tarballs (tools/setup.sh
#             puts them in .cache/src)
#   PATCHES   a folder with one folder per upstream version ("2.8.0"), whose
#             *.patch files are applied in name order after Debian's own
#   OUT_DIR   receives flash.bin, and bl1.elf, bl2.elf, bl31.elf for
#             debuggers, and version.txt
set -euo pipefail

[[ $# -eq 3 ]] || {
  echo "usage: build.sh DSC PATCHES OUT_DIR" >&2
  exit 2
}
dsc="$(realpath "$1")"
patches="$(realpath "$2")"
out="$(realpath "$3")"

work="$(mktemp -d "${out}/tfa-work.XXXXXX")"
trap 'rm -rf "${work}"' EXIT

log="${work}/build.log"
fail() {
  echo "tfa: $*" >&2
  [[ -f "${log}" ]] && tail -n 40 "${log}" >&2
  exit 1
}

version="$(sed -n 's/^Version: //p' "${dsc}" | head -n 1)"
[[ -n "${version}" ]] || fail "${dsc} names no Version"
upstream="${version#*:}"   # no epoch
upstream="${upstream%-*}"  # no Debian revision
upstream="${upstream%%+*}" # no +dfsg

# dpkg-source applies Debian's patches; the signature is not checked (the
# archive's Release files were, when apt fetched the package).
dpkg-source --no-check -x "${dsc}" "${work}/src" >"${log}" 2>&1 || fail "dpkg-source -x ${dsc##*/} failed"

applied=()
if [[ -d "${patches}/${upstream}" ]]; then
  for p in "${patches}/${upstream}"/*.patch; do
    [[ -f "${p}" ]] || continue
    patch -d "${work}/src" -p1 --forward --no-backup-if-mismatch <"${p}" >>"${log}" 2>&1 ||
      fail "${p##*/} does not apply to ${version}"
    applied+=("${p##*/}")
  done
fi

# Features QEMU's -cpu max has (7.2 has HCX and FGT; 10.0 adds more, SME
# among them) that a lower EL uses only if EL3 lets it: with 2, BL31 enables
# each one the CPU reports at run time, and otherwise leaves it off. Without
# HCX, the hypervisor's first write to HCRX_EL2 traps to EL3, which hangs
# the boot; without SME, its switch of TPIDR2_EL0 does. A version that does
# not know an option ignores it.
features=(
  ENABLE_FEAT_HCX=2 ENABLE_FEAT_FGT=2 ENABLE_FEAT_FGT2=2 ENABLE_FEAT_ECV=2 ENABLE_FEAT_TCR2=2
  ENABLE_FEAT_SCTLR2=2 ENABLE_FEAT_S1PIE=2 ENABLE_FEAT_S2PIE=2 ENABLE_FEAT_S1POE=2 ENABLE_FEAT_S2POE=2
  ENABLE_FEAT_CSV2_2=2 ENABLE_FEAT_THE=2 ENABLE_FEAT_GCS=2
)
src="${work}/src"
if grep -qs "define FEAT_STATE_CHECK\b" "${src}/include/common/feat_detect.h"; then
  # 2.9 and later: SME (and SME2) also by run-time detection.
  features+=(ENABLE_SME_FOR_NS=2 ENABLE_SME2_FOR_NS=2)
else
  # 2.8: a yes or no, and yes checks the CPU at run time (falling back to
  # SVE alone).
  features+=(ENABLE_SME_FOR_NS=1)
fi

# GCC 12 warns about fixed MMIO addresses without the page-size parameter,
# and binutils 2.39+ about BL images' RWX segments; both are errors under
# TF-A's -Werror. Releases that know this add the flags themselves (2.12
# does; 2.8 does not). They go in the environment: CFLAGS on the make line
# would replace TF-A's own.
if ! grep -qs min-pagesize "${src}/Makefile"; then export CFLAGS="--param=min-pagesize=0"; fi
if ! grep -qs no-warn-rwx-segments "${src}/Makefile"; then export TF_LDFLAGS="--no-warn-rwx-segments"; fi
jobs="$(nproc 2>/dev/null || echo 2)"
make -C "${src}" -j"${jobs}" \
  CROSS_COMPILE=aarch64-linux-gnu- \
  PLAT=qemu \
  QEMU_USE_GIC_DRIVER=QEMU_GICV3 \
  ARM_LINUX_KERNEL_AS_BL33=1 \
  PRELOADED_BL33_BASE=0x40200000 \
  "${features[@]}" \
  all fip >>"${log}" 2>&1 || fail "make failed for ${version}"

build="${src}/build/qemu/release"
for f in bl1.bin fip.bin bl1/bl1.elf bl2/bl2.elf bl31/bl31.elf; do
  [[ -f "${build}/${f}" ]] || fail "the build made no ${f}"
done
fip_offset=$((256 * 1024))
bl1_size="$(stat -c %s "${build}/bl1.bin")"
[[ ${bl1_size} -le ${fip_offset} ]] || fail "bl1.bin (${bl1_size} bytes) overlaps the FIP at ${fip_offset}"
cp "${build}/bl1.bin" "${out}/flash.bin"
truncate -s "${fip_offset}" "${out}/flash.bin"
cat "${build}/fip.bin" >>"${out}/flash.bin"
flash_size="$(stat -c %s "${out}/flash.bin")"
[[ ${flash_size} -le $((64 << 20)) ]] || fail "the flash image (${flash_size} bytes) exceeds QEMU's 64 MiB flash"
cp "${build}/bl1/bl1.elf" "${out}/bl1.elf"
cp "${build}/bl2/bl2.elf" "${out}/bl2.elf"
cp "${build}/bl31/bl31.elf" "${out}/bl31.elf"
{
  echo "arm-trusted-firmware ${version}"
  echo "patches: ${applied[*]:-none}"
  echo "options: PLAT=qemu QEMU_USE_GIC_DRIVER=QEMU_GICV3 ARM_LINUX_KERNEL_AS_BL33=1 PRELOADED_BL33_BASE=0x40200000 ${features[*]}"
} >"${out}/version.txt"
