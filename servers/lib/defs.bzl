"""server_image: a device server's image, on the partition runtime and the server runtime."""

load("//runtime:defs.bzl", "partition_image")

def server_image(name, srcs, deps = [], **kwargs):
    """Builds `name` (NAME.bin, an arm64 Image) with //servers/lib:runtime."""
    partition_image(name = name, srcs = srcs, deps = deps + ["//servers/lib:runtime"], **kwargs)
