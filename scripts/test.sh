#!/usr/bin/env bash
# Sets everything up, builds, and runs the whole test suite: C tests (CPU backend and
# every OpenCL device, PoCL where there is no GPU), Lua tests, host tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
cd build
ctest --output-on-failure "$@"
