#!/usr/bin/env bash
# Installs the Debian 12 packages mtfl-lua builds and tests with. Idempotent and
# non-interactive: when everything is already installed it changes nothing.
set -euo pipefail

packages=(
  cmake make gcc pkg-config
  liblua5.4-dev lua5.4                       # the scripting language; lua5.4 for `require "mtfl"` tests
  ocl-icd-opencl-dev opencl-c-headers        # OpenCL ICD loader and headers
  pocl-opencl-icd clinfo                     # OpenCL on machines without a GPU
  libclblast-dev                             # GEMM on OpenCL devices
  libopenblas-dev                            # GEMM on the CPU backend
  libstb-dev                                 # image decoding and resizing
  libcriterion-dev                           # C unit tests
  libreadline-dev                            # the REPL's line editing
  gnuplot-nox                                # plots
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup-deps: all ${#packages[@]} packages present"
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
echo "setup-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "setup-deps: done"
