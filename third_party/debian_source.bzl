"""`debian_source`: a Debian source package tools/setup.sh keeps in .cache/src.

The repository holds the package's .dsc and the tarballs beside it, with
the BUILD file given (third_party/tfa/source.BUILD). Nothing is downloaded
during a build: if the package is missing, the rule fails saying that
tools/setup.sh fetches it. Like arm64_debs, the rule is local: it runs again
when the Bazel server restarts, or on `bazel sync`.
"""

def _debian_source_impl(rctx):
    cache = rctx.path(Label("//:WORKSPACE")).dirname.get_child(".cache").get_child("src")
    prefix = rctx.attr.package + "_"
    files = [e for e in cache.readdir() if e.basename.startswith(prefix)] if cache.exists else []
    dscs = [e for e in files if e.basename.endswith(".dsc")]
    if len(dscs) != 1:
        fail("%s holds %s: run tools/setup.sh, which fetches the source package %s" % (
            cache,
            "no %s*.dsc" % prefix if not dscs else "%d %s*.dsc files" % (len(dscs), prefix),
            rctx.attr.package,
        ))
    for entry in files:
        rctx.symlink(entry, entry.basename)
    rctx.symlink(rctx.attr.build_file, "BUILD.bazel")

debian_source = repository_rule(
    implementation = _debian_source_impl,
    attrs = {
        "package": attr.string(mandatory = True),
        "build_file": attr.label(allow_single_file = True),
    },
    local = True,
)
