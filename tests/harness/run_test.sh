#!/bin/sh
# Runs the command line Bazel gives a qemu_test (see tests/defs.bzl).
exec "$@"
