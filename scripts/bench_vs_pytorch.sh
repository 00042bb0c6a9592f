#!/usr/bin/env bash
# Side-by-side throughput of the seed network: mtfl-lua (scripts/bench_seed_net.lua)
# against the PyTorch peer (../shared/peers/pytorch_seed_net.py), run alternately in one
# go on the same machine, and the ratios.
#
#   bash scripts/bench_vs_pytorch.sh [--device D] [--batch 64] [--rounds 2]
#
# The peer needs Debian's PyTorch with OpenBLAS: apt-get install python3-torch
# libopenblas0-pthread (done here when missing and running as root). On a GPU machine
# pass --device opencl:0 for mtfl; the peer then runs with --device cuda.
set -euo pipefail
cd "$(dirname "$0")/.."
device=cpu batch=64 rounds=2
while [ $# -gt 0 ]; do
  case "$1" in
    --device) device=$2; shift 2 ;;
    --batch) batch=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    *) echo "unknown argument $1 (use --device D, --batch N, --rounds N)" >&2; exit 2 ;;
  esac
done
peer=${MTFL_PEER:-../shared/peers/pytorch_seed_net.py}
python=/usr/bin/python3
if ! $python -c "import torch" 2>/dev/null; then
  if [ "$(id -u)" -eq 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-torch libopenblas0-pthread >/dev/null
  else
    echo "PyTorch is missing: apt-get install python3-torch libopenblas0-pthread" >&2; exit 1
  fi
fi
peer_device=cpu
[ "$device" = cpu ] || peer_device=cuda

field() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p"; }
mt=() pt=()
for r in $(seq "$rounds"); do
  m=$(build/mtfl-lua scripts/bench_seed_net.lua --device "$device" --batch "$batch" | tail -1)
  p=$($python "$peer" --device "$peer_device" --batch "$batch" | tail -1)
  echo "round $r  mtfl:    $m"
  echo "round $r  pytorch: $p"
  mt+=("$m") pt+=("$p")
done
best() { printf '%s\n' "$@" | field "$key" | sort -g | tail -1; }
key=train_img_per_s; mtr=$(best "${mt[@]}"); ptr=$(best "${pt[@]}")
key=infer_img_per_s; mti=$(best "${mt[@]}"); pti=$(best "${pt[@]}")
awk -v a="$mtr" -v b="$ptr" -v c="$mti" -v d="$pti" -v dev="$device" 'BEGIN {
  printf "best of rounds on %s: mtfl train %.1f infer %.1f img/s; pytorch train %.1f infer %.1f img/s\n", dev, a, c, b, d
  printf "ratio_train=%.2f ratio_infer=%.2f\n", a / b, c / d }'
