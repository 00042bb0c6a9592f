#!/usr/bin/env bash
# Installs the Debian 12 packages mtfl-lua builds, tests and runs its scripts with.
# Idempotent and non-interactive: when everything is already installed it changes
# nothing.
#
#   bash scripts/setup-deps.sh           # the build, the tests, the scripts and examples
#   bash scripts/setup-deps.sh --bench   # also the PyTorch peers (scripts/bench_vs_pytorch.sh)
#   bash scripts/setup-deps.sh --ci      # also what .ci/run adds: the fresh-root run,
#                                        # the sanitizer build and the fuzzers
set -euo pipefail

packages=(
  cmake make gcc pkg-config
  liblua5.4-dev lua5.4                       # the scripting language; lua5.4 for `require "mtfl"` tests
  lua-argparse                               # the command line of every script (lua/mtfl/cli.lua)
  ocl-icd-opencl-dev opencl-c-headers        # OpenCL ICD loader and headers
  pocl-opencl-icd clinfo                     # OpenCL on machines without a GPU
  libclblast-dev                             # GEMM on OpenCL devices
  clblast-utils                              # CLBlast's tuners (scripts/tune.lua)
  libopenblas-openmp-dev                     # GEMM on the CPU backend: the OpenMP build (one thread pool)
  libstb-dev                                 # image decoding and resizing
  libcriterion-dev                           # C unit tests
  libreadline-dev                            # the REPL's line editing
  gnuplot-nox                                # plots
  valgrind libc6-dbg                         # the host test runs mtfl-lua under valgrind (glibc's symbols)
  curl unzip ca-certificates                 # scripts/get-mtfl.sh
  python3-opencv python3-numpy python3-onnx  # the ONNX export's test: OpenCV's dnn runs the file, ONNX's checker checks it
  mandoc bsdextrautils                       # the install test's check of the man page (mandoc -T lint; col)
  libopenmpi-dev openmpi-bin                 # many processes and machines (mtfl.mpi, mpirun)
)
for group in "$@"; do
  case "$group" in
    --bench) packages+=(python3 python3-torch libopenblas0-pthread) ;;
    --ci) packages+=(debootstrap git clang libomp-14-dev libclang-rt-14-dev) ;;
    *) echo "setup-deps: unknown option $group (use --bench or --ci)" >&2; exit 2 ;;
  esac
done

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
