"""partition_image: a partition (test guest or device server) as a flat arm64 Image."""

load("//toolchain:image.bzl", "AARCH64_ONLY", "aarch64_image")

def partition_image(name, srcs, deps = [], **kwargs):
    """Builds `name` (NAME.bin, an arm64 Image linked at IPA 0x40000000) on //runtime."""
    native.cc_binary(
        name = name + "_elf",
        srcs = srcs,
        deps = deps + ["//runtime"],
        additional_linker_inputs = ["//runtime:partition.ld"],
        linkopts = ["-Wl,-T,$(location //runtime:partition.ld)"],
        target_compatible_with = AARCH64_ONLY,
        **kwargs
    )
    aarch64_image(name = name, elf = ":" + name + "_elf")
