#!/usr/bin/env bash
# gpu-check.sh - the prepared check for a machine with an NVIDIA GPU (the device tool's
# H200; read ../shared/docs/gpu-device.md), in one run of at most 8 minutes:
#   1. the devices mtfl sees (the NVIDIA OpenCL platform registered by hand),
#   2. the cross-device tests: every op and layer on the GPU against the CPU backend,
#   3. CLBlast tuned for the GPU (scripts/tune.lua), GEMM GFLOP/s before and after,
#   4. the seed network and the TCDCN-like network (scripts/bench_net.lua) on the GPU,
#      alternating with their PyTorch peers on CUDA, three rounds each, medians,
#   5. the seed grid (6 experiments x 3 seeds x 30 epochs, 150x150) on the synthetic
#      stand-in, timed,
# and prints one table last.
#
#   bash scripts/gpu-check.sh --prepare   # here, once: Debian packages the GPU machine
#                                         # lacks into .gpu/debs, the peers into .gpu/peers
#   bash scripts/gpu-check.sh             # there, with build/ and .gpu/ carried
#   bash scripts/gpu-check.sh --dry-run   # here, on PoCL: every step, sized to a minute
#
# The device tool's command:  bash scripts/gpu-check.sh   (carry: build, .gpu)
# Every step has its own time limit, and a step that fails is reported in the table;
# the script goes on with the next one.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
mode=gpu
case "${1:-}" in
  --prepare) mode=prepare ;;
  --dry-run) mode=dry ;;
  "") ;;
  *) echo "usage: scripts/gpu-check.sh [--prepare | --dry-run]" >&2; exit 2 ;;
esac

# What the GPU machine lacks (it has the NVIDIA driver, the ICD loader and PyTorch).
DEBS="libclblast1 clblast-utils liblua5.4-0 libopenblas0-openmp libgfortran5 libquadmath0 libgomp1 libreadline8"

if [ "$mode" = prepare ]; then
  set -e
  mkdir -p .gpu/debs .gpu/peers
  (cd .gpu/debs && rm -f ./*.deb && apt-get download $DEBS)
  cp ../shared/peers/*.py .gpu/peers/
  [ -x build/mtfl-lua ] || bash scripts/build.sh
  echo "gpu-check: prepared: $(du -sh .gpu | cut -f1) in .gpu, $(du -sh build | cut -f1) in build (carry both)"
  exit 0
fi

BIN=$root/build/mtfl-lua
[ -x "$BIN" ] || { echo "gpu-check: no build/mtfl-lua (build here and carry build/)" >&2; exit 1; }

# ---- the environment: carried libraries and tools, the NVIDIA platform -------------
if ls .gpu/debs/*.deb >/dev/null 2>&1 && [ "$mode" = gpu ]; then
  rm -rf /tmp/gpu && mkdir -p /tmp/gpu
  for f in .gpu/debs/*.deb; do dpkg -x "$f" /tmp/gpu; done
  lib=/tmp/gpu/usr/lib/x86_64-linux-gnu
  export LD_LIBRARY_PATH=$lib:$lib/openblas-openmp${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  export PATH=/tmp/gpu/usr/bin:$PATH
fi
if [ "$mode" = gpu ]; then
  nvidia=$(ls /usr/lib/libnvidia-opencl.so.1 /usr/lib/x86_64-linux-gnu/libnvidia-opencl.so.1 2>/dev/null | head -n 1)
  if [ -n "$nvidia" ]; then
    mkdir -p /tmp/ocl/vendors
    echo "$nvidia" > /tmp/ocl/vendors/nvidia.icd
    export OCL_ICD_VENDORS=/tmp/ocl/vendors
  else
    echo "gpu-check: no libnvidia-opencl.so.1: the NVIDIA OpenCL platform cannot be registered" >&2
  fi
fi
export MTFL_CACHE=/tmp/gpu-check-cache   # the tuning goes here, not into the user's cache
rm -rf "$MTFL_CACHE"
peers=$root/.gpu/peers
[ -d "$peers" ] || peers=$root/../shared/peers
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# ---- sizes: the real ones on the GPU, a minute's worth on PoCL ---------------------
if [ "$mode" = gpu ]; then
  device=$("$BIN" -e 'for _, d in ipairs(mtfl.devices()) do if d.is_gpu then print(d.id) return end end' 2>/dev/null)
  peer_device=cuda
  tune_args="--fraction 0.25"
  seed_args="" ; tcdcn_args=""
  rounds=3
  grid_args="--synthetic --experiments single_task_landmarks,single_task_pose,single_task_glasses,multitask,multitask_early_stopping,multitask_augmentation"
  grid_limit=240
else
  device=$("$BIN" -e 'for _, d in ipairs(mtfl.devices()) do if d.backend == "opencl" then print(d.id) return end end' 2>/dev/null)
  peer_device=cpu
  tune_args="--fraction 0.1 --kernels xgemm_direct --max-gflop 0.01"
  seed_args="--batch 4 --steps 1 --size 48"; tcdcn_args="--batch 8 --steps 2"
  rounds=1
  grid_args="--synthetic --quick --limit 40 --size 24 --epoch-size 80 --epochs 2 --seeds 1 --experiments single_task_landmarks,multitask"
  grid_limit=300
fi
if [ -z "$device" ]; then
  echo "gpu-check: no $([ "$mode" = gpu ] && echo "OpenCL GPU" || echo "OpenCL device") found:" >&2
  "$BIN" --devices >&2
  exit 1
fi
# the first Python whose torch can run the peers (a pyenv shim may hide Debian's)
has_torch=0; python=python3
for py in python3 /usr/bin/python3; do
  if "$py" -c "import torch, sys; sys.exit(0 if '$peer_device' == 'cpu' or torch.cuda.is_available() else 1)" 2>/dev/null; then
    has_torch=1; python=$py; break
  fi
done

rows=()
row() { rows+=("$(printf '%-44s %s' "$1" "$2")"); }
step() { # step NAME LIMIT COMMAND...: runs it, keeps its output in $work/NAME.log
  local name=$1 limit=$2 start rc=0
  shift 2
  echo "gpu-check: == $name"
  start=$(date +%s)
  timeout --kill-after=10 "$limit" "$@" >"$work/$name.log" 2>&1 || rc=$?
  tail -n 5 "$work/$name.log" | sed 's/^/    /'
  last_seconds=$(( $(date +%s) - start ))
  last_rc=$rc
  [ $rc -eq 0 ] || row "$name" "FAILED (exit $rc after ${last_seconds} s; $(tail -n 1 "$work/$name.log" | cut -c1-80))"
  return $rc
}
median() { sort -g | awk '{a[NR] = $1} END {if (NR) print a[int((NR + 1) / 2)]; else print "?"}'; }
figure() { sed -n "s/.*$2=\([0-9.]*\).*/\1/p" "$work/$1.log" | tail -n 1; }

t0=$(date +%s)
# 1. devices
step devices 60 "$BIN" --devices &&
  row "device" "$("$BIN" -e "for _, d in ipairs(mtfl.devices()) do if d.id == '$device' then print(string.format('%s: %s, %.0f GiB, driver %s', d.id, d.name, d.memory / 2^30, d.driver)) end end")"

# 2. cross-device correctness: the Lua tests compare every device with the CPU
cd tests/lua
for t in test_devices test_nn_devices test_tensor; do
  step "$t" 180 env MTFL_LUA="$BIN" "$BIN" "$t.lua" && row "$t (every device vs the CPU)" "$(tail -n 1 "$work/$t.log") in ${last_seconds} s"
done
cd "$root"

# 3. CLBlast tuned for the device
if step tune 200 "$BIN" scripts/tune.lua --device "$device" $tune_args; then
  row "GEMM GFLOP/s, untuned -> tuned" "$(figure tune gemm_gflops_before) -> $(figure tune gemm_gflops_after) ($(sed -n 's/^tuning [^ ]* .* for \(.*\): \(M=.*\) (.*/\1, \2/p' "$work/tune.log"))"
fi
step gemm 120 "$BIN" scripts/bench_gemm.lua --device "$device" --repeat $([ "$mode" = gpu ] && echo 5 || echo 1) &&
  row "GEMM GFLOP/s on the seed's shapes (tuned)" "$(sed -n 's/^gemm_gflops device=[^ ]* //p' "$work/gemm.log")"

# 4. the networks beside their peers, alternating
for net in seed tcdcn; do
  args=$seed_args; [ $net = tcdcn ] && args=$tcdcn_args
  peer=$peers/pytorch_seed_net.py; [ $net = tcdcn ] && peer=$peers/pytorch_tcdcn_net.py
  rm -f "$work/$net".*
  for r in $(seq 1 $rounds); do
    if step "$net-mtfl-$r" 150 "$BIN" scripts/bench_net.lua --net $net --device "$device" $args; then
      figure "$net-mtfl-$r" train_img_per_s >>"$work/$net.ours.train"
      figure "$net-mtfl-$r" infer_img_per_s >>"$work/$net.ours.infer"
    fi
    if [ $has_torch = 1 ] && step "$net-torch-$r" 150 "$python" "$peer" --device $peer_device $args; then
      figure "$net-torch-$r" train_img_per_s >>"$work/$net.peer.train"
      figure "$net-torch-$r" infer_img_per_s >>"$work/$net.peer.infer"
    fi
  done
  for what in train infer; do
    ours=$(median <"$work/$net.ours.$what" 2>/dev/null || echo "?")
    theirs="-"; [ $has_torch = 1 ] && theirs=$(median <"$work/$net.peer.$what" 2>/dev/null || echo "?")
    ratio=$(awk -v a="$ours" -v b="$theirs" 'BEGIN {if (a + 0 > 0 && b + 0 > 0) printf "%.2fx", a / b; else print "-"}')
    row "$net $what img/s: mtfl | PyTorch ($peer_device)" "$ours | $theirs  ($ratio, median of $rounds)"
  done
done
[ $has_torch = 1 ] || row "PyTorch peers" "not run: no torch$([ "$peer_device" = cuda ] && echo " with CUDA") here"

# 5. the seed grid, timed
if step grid $grid_limit "$BIN" examples/reproduce.lua $grid_args --device "$device" --out "$work/grid"; then
  if [ "$mode" = gpu ]; then
    row "seed grid (6 x 3 x 30, 150x150, synthetic)" "${last_seconds} s (target: <= 150 s)"
  else
    row "seed grid (dry run: 2 x 1 x 2, 24x24)" "${last_seconds} s"
  fi
elif [ "$last_rc" = 124 ]; then
  row "seed grid on the synthetic set" "not finished within ${grid_limit} s: $(ls "$work/grid"/*/runs/*/*/result.json 2>/dev/null | wc -l) runs done"
fi

echo
echo "gpu-check ($mode, $(date -u +%Y-%m-%dT%H:%MZ), $(( $(date +%s) - t0 )) s, $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo "no git"))"
printf '  %s\n' "${rows[@]}"
