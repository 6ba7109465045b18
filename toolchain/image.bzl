"""Builds AArch64 images from inside a host-configured build.

`aarch64_image` takes a cc_binary (marked target_compatible_with AArch64, so
that `bazel test //...` skips it in the host configuration), builds it for
//toolchain:aarch64_none through a transition, and turns the ELF into the flat
image QEMU loads. One `bazel test //...` thus builds target images and host
tests together, with no --platforms or --config flag.
"""

def _to_aarch64_impl(settings, attr):
    return {"//command_line_option:platforms": "//toolchain:aarch64_none"}

_to_aarch64 = transition(
    implementation = _to_aarch64_impl,
    inputs = [],
    outputs = ["//command_line_option:platforms"],
)

def _aarch64_image_impl(ctx):
    elf_in = ctx.files.elf[0]
    elf = ctx.actions.declare_file(ctx.label.name + ".elf")
    flat = ctx.actions.declare_file(ctx.label.name + ".bin")
    ctx.actions.symlink(output = elf, target_file = elf_in)
    ctx.actions.run(
        executable = "/usr/bin/llvm-objcopy",
        arguments = ["-O", "binary", elf_in.path, flat.path],
        inputs = [elf_in],
        outputs = [flat],
        mnemonic = "FlatImage",
        progress_message = "Making flat image %s" % flat.short_path,
    )
    return [
        DefaultInfo(files = depset([flat]), runfiles = ctx.runfiles(files = [flat, elf])),
        OutputGroupInfo(elf = depset([elf])),
    ]

aarch64_image = rule(
    implementation = _aarch64_image_impl,
    doc = "A flat AArch64 image (`NAME.bin`) and its ELF (`NAME.elf`, output group `elf`).",
    attrs = {
        "elf": attr.label(mandatory = True, cfg = _to_aarch64),
        "_whitelist_function_transition": attr.label(
            default = "@bazel_tools//tools/whitelists/function_transition_whitelist",
        ),
    },
)

AARCH64_ONLY = [
    "@platforms//cpu:aarch64",
    "@platforms//os:none",
]
