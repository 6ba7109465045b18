#!/bin/sh
# Runs the command line Bazel gives a run target (see //:qemu_linux).
exec "$@"
