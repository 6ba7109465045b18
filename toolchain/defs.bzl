"""Build macros shared across the tree."""

# Host tests run under AddressSanitizer and UndefinedBehaviorSanitizer. The
# flags are applied by a transition, so the test and every library it depends
# on are instrumented together (the same libraries also build plain, for the
# host tools). Debian's prebuilt system libraries stay as they are.
_SANITIZERS = {
    "asan": ["-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer"],
    "tsan": ["-fsanitize=thread", "-fno-omit-frame-pointer"],
    # libFuzzer: coverage instrumentation everywhere, the fuzzer's main() at link.
    "fuzz": ["-fsanitize=fuzzer-no-link,address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer"],
    "none": [],
}

def _sanitize_impl(settings, attr):
    flags = _SANITIZERS[attr.sanitize]
    link = flags
    if attr.sanitize == "fuzz":
        link = ["-fsanitize=fuzzer,address,undefined", "-fsanitize-link-c++-runtime"]
    elif flags:
        # The link driver is clang, not clang++: name the C++ parts of the
        # sanitizer runtimes explicitly.
        link = flags + ["-fsanitize-link-c++-runtime"]
    return {
        "//command_line_option:copt": settings["//command_line_option:copt"] + flags,
        "//command_line_option:linkopt": settings["//command_line_option:linkopt"] + link,
    }

_sanitize = transition(
    implementation = _sanitize_impl,
    inputs = ["//command_line_option:copt", "//command_line_option:linkopt"],
    outputs = ["//command_line_option:copt", "//command_line_option:linkopt"],
)

def _sanitized_test_impl(ctx):
    binary = ctx.attr.binary[0]
    exe = binary[DefaultInfo].files_to_run.executable
    out = ctx.actions.declare_file(ctx.label.name)
    ctx.actions.symlink(output = out, target_file = exe, is_executable = True)
    runfiles = ctx.runfiles(files = [exe]).merge(binary[DefaultInfo].default_runfiles)
    return [DefaultInfo(executable = out, runfiles = runfiles)]

_sanitized_test = rule(
    implementation = _sanitized_test_impl,
    test = True,
    attrs = {
        "binary": attr.label(mandatory = True, cfg = _sanitize, executable = True),
        "sanitize": attr.string(default = "asan", values = ["asan", "tsan", "fuzz", "none"]),
        "_whitelist_function_transition": attr.label(
            default = "@bazel_tools//tools/whitelists/function_transition_whitelist",
        ),
    },
)

def hyp_cc_test(name, srcs, deps = [], data = [], sanitize = "asan", tsan = False, tags = [], size = "small", **kwargs):
    """A GoogleTest host test, run with its dependencies sanitized.

    Args:
      name: test name.
      srcs: test sources.
      deps: libraries under test.
      data: runtime files.
      sanitize: "asan" (AddressSanitizer and UndefinedBehaviorSanitizer),
        "tsan" (ThreadSanitizer) or "none".
      tsan: also define NAME_tsan, the same test under ThreadSanitizer.
      tags: test tags.
      size: test size.
      **kwargs: passed to the cc_binary.
    """
    native.cc_binary(
        name = name + "_bin",
        srcs = srcs,
        deps = deps + ["@system_libs//:gtest", "@system_libs//:gtest_main"],
        data = data,
        testonly = True,
        tags = ["manual"],
        **kwargs
    )
    _sanitized_test(
        name = name,
        binary = ":" + name + "_bin",
        sanitize = sanitize,
        size = size,
        tags = tags,
    )
    if tsan:
        _sanitized_test(
            name = name + "_tsan",
            binary = ":" + name + "_bin",
            sanitize = "tsan",
            size = size,
            tags = tags,
        )

def hyp_fuzz_test(name, srcs, deps = [], runs = 20000, **kwargs):
    """A libFuzzer target NAME_fuzzer, and NAME: a deterministic run of it.

    The test runs `runs` inputs from a fixed seed, so it is repeatable; run
    the fuzzer itself for longer by hand:
      bazel build //pkg:NAME_fuzzer && bazel-bin/pkg/NAME_fuzzer_bin -max_total_time=600

    Args:
      name: test name.
      srcs: sources defining LLVMFuzzerTestOneInput.
      deps: libraries under test.
      runs: inputs the test tries.
      **kwargs: passed to the cc_binary.
    """
    native.cc_binary(
        name = name + "_fuzzer_bin",
        srcs = srcs,
        deps = deps,
        testonly = True,
        tags = ["manual"],
        **kwargs
    )
    _sanitized_test(
        name = name,
        binary = ":" + name + "_fuzzer_bin",
        sanitize = "fuzz",
        size = "small",
        args = ["-runs=%d" % runs, "-seed=1", "-max_len=4096"],
    )
