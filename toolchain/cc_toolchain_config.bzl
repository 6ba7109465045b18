"""Clang toolchain configurations: the host (x86-64 Linux) and bare-metal AArch64.

Both use Debian's clang and lld, whichever version is installed (clang 14 on
bookworm, 19 on trixie); the version-dependent paths come from @host_config
(third_party/host_config.bzl) through toolchain/BUILD. Bazel's legacy features supply the usual
compile and link plumbing (include paths, defines, user flags, archives); the
features here add only what differs between the two targets.
"""

load(
    "@bazel_tools//tools/cpp:cc_toolchain_config_lib.bzl",
    "feature",
    "flag_group",
    "flag_set",
    "tool_path",
)
load("@bazel_tools//tools/build_defs/cc:action_names.bzl", "ACTION_NAMES")

_C_COMPILE = [ACTION_NAMES.c_compile]
_CXX_COMPILE = [
    ACTION_NAMES.cpp_compile,
    ACTION_NAMES.cpp_header_parsing,
    ACTION_NAMES.cpp_module_compile,
    ACTION_NAMES.linkstamp_compile,
]
_ALL_COMPILE = _C_COMPILE + _CXX_COMPILE + [ACTION_NAMES.assemble, ACTION_NAMES.preprocess_assemble]
_LINK = [
    ACTION_NAMES.cpp_link_executable,
    ACTION_NAMES.cpp_link_dynamic_library,
    ACTION_NAMES.cpp_link_nodeps_dynamic_library,
]

# Warnings for all of our own code (CONVENTIONS.md). System and third-party
# headers arrive through -isystem and are exempt.
_WARNINGS = [
    "-Wall",
    "-Wextra",
    "-Wconversion",
    "-Wsign-conversion",
    "-Wshadow",
    "-Wthread-safety",
    "-Werror",
]

def _flags(actions, flags):
    return flag_set(actions = actions, flag_groups = [flag_group(flags = flags)])

def _impl(ctx):
    tools = {
        "ar": "/usr/bin/llvm-ar",
        "cpp": "/usr/bin/clang-cpp",
        "dwp": "/usr/bin/false",
        "gcc": "/usr/bin/clang",
        "gcov": "/usr/bin/false",
        "ld": "/usr/bin/ld.lld",
        "nm": "/usr/bin/llvm-nm",
        "objcopy": "/usr/bin/llvm-objcopy",
        "objdump": "/usr/bin/llvm-objdump",
        "strip": "/usr/bin/llvm-strip",
    }
    target = ctx.attr.target_triple
    compile_flags = [
        "--target=" + target,
        "-no-canonical-prefixes",
        "-fdebug-prefix-map=" + "/proc/self/cwd=.",
        "-g",
    ] + ctx.attr.extra_compile_flags
    features = [
        feature(
            name = "default_compile_flags",
            enabled = True,
            flag_sets = [
                _flags(_ALL_COMPILE, compile_flags),
                _flags(_C_COMPILE + _CXX_COMPILE, _WARNINGS),
                _flags(_CXX_COMPILE, ["-std=c++20", "-Wold-style-cast"] + ctx.attr.extra_cxx_flags),
            ],
        ),
        feature(
            name = "default_link_flags",
            enabled = True,
            flag_sets = [_flags(_LINK, ["--target=" + target, "-fuse-ld=lld"] + ctx.attr.extra_link_flags)],
        ),
        feature(name = "opt"),
        feature(name = "dbg"),
        feature(name = "fastbuild"),
    ]
    if ctx.attr.supports_pic:
        features.append(feature(name = "supports_pic", enabled = True))

    return cc_common.create_cc_toolchain_config_info(
        ctx = ctx,
        features = features,
        cxx_builtin_include_directories = ctx.attr.builtin_include_directories,
        toolchain_identifier = ctx.attr.name,
        host_system_name = "x86_64-linux-gnu",
        target_system_name = target,
        target_cpu = ctx.attr.cpu,
        target_libc = ctx.attr.libc,
        compiler = "clang",
        abi_version = "clang",
        abi_libc_version = ctx.attr.libc,
        tool_paths = [tool_path(name = k, path = v) for k, v in tools.items()],
    )

clang_toolchain_config = rule(
    implementation = _impl,
    attrs = {
        "builtin_include_directories": attr.string_list(),
        "cpu": attr.string(mandatory = True),
        "extra_compile_flags": attr.string_list(),
        "extra_cxx_flags": attr.string_list(),
        "extra_link_flags": attr.string_list(),
        "libc": attr.string(mandatory = True),
        "supports_pic": attr.bool(default = False),
        "target_triple": attr.string(mandatory = True),
    },
    provides = [CcToolchainConfigInfo],
)
