"""`arm64_debs`: the arm64 packages tools/setup.sh unpacks into .cache/arm64.

The repository is that directory, with third_party/arm64_debs.BUILD as its
BUILD file. Before it is made, the rule checks that every package the build
takes from it is there, and otherwise fails saying which one is missing and
that tools/setup.sh fetches it: nothing is downloaded during a build. The rule
is local: it runs again when the Bazel server restarts, or on `bazel sync`.
"""

# What the build takes from each package: any one of the paths (bookworm
# keeps /bin and /lib, trixie merges them into /usr), or a file whose name
# starts with the prefix in a directory.
_PACKAGES = [
    ("libfdt-dev", ["usr/lib/aarch64-linux-gnu/libfdt.a"], None),
    ("busybox-static", ["bin/busybox", "usr/bin/busybox"], None),
    ("the guest kernel, linux-image-*-arm64", [], ("boot", "vmlinuz-")),
    ("the guest kernel's modules, linux-image-*-arm64", ["lib/modules", "usr/lib/modules"], None),
]

def _has(rctx, cache, paths, prefixed):
    for p in paths:
        if rctx.path("%s/%s" % (cache, p)).exists:
            return True
    if prefixed:
        directory = rctx.path("%s/%s" % (cache, prefixed[0]))
        if directory.exists:
            for entry in directory.readdir():
                if entry.basename.startswith(prefixed[1]):
                    return True
    return False

def _arm64_debs_impl(rctx):
    cache = rctx.path(Label("//:WORKSPACE")).dirname.get_child(".cache").get_child("arm64")
    if not cache.exists:
        fail("%s does not exist: run tools/setup.sh, which fetches the arm64 packages the build needs" % cache)
    missing = [name for name, paths, prefixed in _PACKAGES if not _has(rctx, cache, paths, prefixed)]
    if missing:
        fail("%s lacks %s: run tools/setup.sh, which fetches %s" % (
            cache,
            ", ".join(missing),
            "it" if len(missing) == 1 else "them",
        ))
    for entry in cache.readdir():
        rctx.symlink(entry, entry.basename)
    rctx.symlink(rctx.attr.build_file, "BUILD.bazel")

arm64_debs = repository_rule(
    implementation = _arm64_debs_impl,
    attrs = {"build_file": attr.label(allow_single_file = True)},
    local = True,
)
