"""guest_image: a bare-metal test guest as a flat arm64 Image."""

load("//toolchain:image.bzl", "AARCH64_ONLY", "aarch64_image")

def guest_image(name, srcs, deps = [], **kwargs):
    """Builds `name` (NAME.bin, an arm64 Image linked at IPA 0x40000000)."""
    native.cc_binary(
        name = name + "_elf",
        srcs = srcs,
        deps = deps + ["//guests/lib"],
        additional_linker_inputs = ["//guests/lib:guest.ld"],
        linkopts = ["-Wl,-T,$(location //guests/lib:guest.ld)"],
        target_compatible_with = AARCH64_ONLY,
        **kwargs
    )
    aarch64_image(name = name, elf = ":" + name + "_elf")
