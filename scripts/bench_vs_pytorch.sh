#!/usr/bin/env bash
# Side-by-side throughput of a network: mtfl-lua (scripts/bench_net.lua) against its
# PyTorch peer (../shared/peers/pytorch_seed_net.py for --net seed, the default;
# pytorch_tcdcn_net.py for --net tcdcn), run alternately in one go on the same machine,
# and the ratios of the medians over the rounds.
#
#   bash scripts/bench_vs_pytorch.sh [--net seed|tcdcn] [--device D] [--batch N] [--rounds 5]
#
# Run it on a quiet machine: PyTorch loses half its speed beside another busy process.
# The peer needs Debian's PyTorch with OpenBLAS (python3-torch libopenblas0-pthread),
# which `scripts/setup-deps.sh --bench` installs. On a GPU machine pass --device
# opencl:0 for mtfl; the peer then runs with --device cuda.
set -euo pipefail
cd "$(dirname "$0")/.."
net=seed device=cpu batch= rounds=5
while [ $# -gt 0 ]; do
  case "$1" in
    --net) net=$2; shift 2 ;;
    --device) device=$2; shift 2 ;;
    --batch) batch=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    *) echo "unknown argument $1 (use --net seed|tcdcn, --device D, --batch N, --rounds N)" >&2; exit 2 ;;
  esac
done
case "$net" in
  seed|tcdcn) ;;
  *) echo "--net $net: unknown network (seed or tcdcn)" >&2; exit 2 ;;
esac
peer=${MTFL_PEER:-../shared/peers/pytorch_${net}_net.py}
# each side's own default batch (64 and 50, the same in both) unless one is given
batch_arg=()
[ -n "$batch" ] && batch_arg=(--batch "$batch")
python=/usr/bin/python3
if ! $python -c "import torch" 2>/dev/null; then
  bash scripts/setup-deps.sh --bench
fi
peer_device=cpu
[ "$device" = cpu ] || peer_device=cuda
# The same OpenBLAS kernels for both: mtfl-lua picks them itself when OpenBLAS does not
# recognise the CPU (src/host/engine.c); the peer, on the same OpenBLAS, gets that choice
# too, so that neither runs the generic fallback while the other does not.
if [ -z "${OPENBLAS_CORETYPE:-}" ]; then
  core=$(build/mtfl-lua --devices | sed -n 's/.*host (OpenBLAS \([A-Za-z0-9]*\),.*/\1/p')
  [ -n "$core" ] && export OPENBLAS_CORETYPE=$core
fi
echo "OpenBLAS kernels for both: ${OPENBLAS_CORETYPE:-as OpenBLAS detects them}"

field() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p"; }
mt=() pt=()
run_mtfl() { build/mtfl-lua scripts/bench_net.lua --net "$net" --device "$device" "${batch_arg[@]}" | tail -1; }
run_peer() { $python "$peer" --device "$peer_device" "${batch_arg[@]}" | tail -1; }
for r in $(seq "$rounds"); do
  # who goes first alternates too, so neither always runs on a machine the other warmed
  if [ $((r % 2)) -eq 1 ]; then m=$(run_mtfl); p=$(run_peer); else p=$(run_peer); m=$(run_mtfl); fi
  echo "round $r  mtfl:    $m"
  echo "round $r  pytorch: $p"
  mt+=("$m") pt+=("$p")
done
# the median of the rounds (the middle value; the mean of the two middle ones when even)
median() { printf '%s\n' "$@" | field "$key" | sort -g | awk '{v[NR] = $1} END {
  print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
key=train_img_per_s; mtr=$(median "${mt[@]}"); ptr=$(median "${pt[@]}")
key=infer_img_per_s; mti=$(median "${mt[@]}"); pti=$(median "${pt[@]}")
awk -v a="$mtr" -v b="$ptr" -v c="$mti" -v d="$pti" -v dev="$device" -v n="$rounds" -v net="$net" 'BEGIN {
  printf "%s network, median of %d alternating rounds on %s: mtfl train %.1f infer %.1f img/s; pytorch train %.1f infer %.1f img/s\n", net, n, dev, a, c, b, d
  printf "ratio_train=%.2f ratio_infer=%.2f\n", a / b, c / d }'
