"""guest_image: a bare-metal test guest, on the partition runtime and the guest helpers."""

load("//runtime:defs.bzl", "partition_image")

def guest_image(name, srcs, deps = [], **kwargs):
    """Builds `name` (NAME.bin, an arm64 Image) with //guests/lib:check."""
    partition_image(name = name, srcs = srcs, deps = deps + ["//guests/lib:check"], **kwargs)
