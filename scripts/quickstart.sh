#!/usr/bin/env bash
# Sets everything up, builds, and runs the main job: examples/quickstart.lua trains the
# multi-task network on MTFL (or synthetic faces) and writes its pictures to out/quickstart.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
exec build/mtfl-lua examples/quickstart.lua "$@"
