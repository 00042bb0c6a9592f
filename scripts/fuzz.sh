#!/usr/bin/env bash
# A short, seeded libFuzzer run of the three input parsers (tests/fuzz): the MTFL
# annotation parser, the image decoder and the safetensors loader, SECONDS each
# (default 60), one after another, under AddressSanitizer, UndefinedBehaviorSanitizer
# and LeakSanitizer. The build is build-fuzz/ (clang, -DMTFL_FUZZ=ON -DMTFL_SANITIZE=ON);
# build/ is not touched.
#
#   bash scripts/fuzz.sh          # 60 s per target
#   bash scripts/fuzz.sh 300      # longer
#
# Each target starts from a scratch copy of its seed corpus (tests/fuzz/corpus/<target>,
# which a run never modifies) and stops at its first finding. A finding's input is left
# in tests/fuzz/findings-<target>/ (crash-*, leak-*, timeout-*, oom-*; git ignores the
# folder), its report in build-fuzz/fuzz-run/<target>.log. The script prints each
# target's executions (libFuzzer's stat::number_of_executed_units) and findings, and
# exits non-zero when any target found something or could not run.
#
# Environment: FUZZ_JOBS (build parallelism, default 2), FUZZ_TIMEOUT (seconds one input
# may take before it counts as a hang, default 20), FUZZ_TARGETS (a subset, e.g.
# "fuzz_image"). MTFL_FUZZ_STRICT=1 makes fuzz_safetensors also stop on a Lua error
# that is not the loader's own and on a save/load round trip that changes the tensors.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
seconds=${1:-60}
if ! [[ $seconds =~ ^[0-9]+$ ]] || [ "$seconds" -lt 1 ]; then
  echo "usage: scripts/fuzz.sh [SECONDS]" >&2
  exit 2
fi
build=$root/build-fuzz
work=$build/fuzz-run
read -r -a targets <<< "${FUZZ_TARGETS:-fuzz_annotations fuzz_image fuzz_safetensors}"
t_start=$(date +%s)

bash scripts/setup-deps.sh --ci

# Configuring again is cheap and keeps an old build-fuzz/ in step with CMakeLists.txt.
CC=clang cmake -S . -B "$build" -DMTFL_FUZZ=ON -DMTFL_SANITIZE=ON -DBUILD_TESTING=OFF \
      -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
if ! cmake --build "$build" -j"${FUZZ_JOBS:-2}" --target "${targets[@]}" >"$build/fuzz-build.log" 2>&1; then
  tail -n 40 "$build/fuzz-build.log" >&2
  echo "fuzz: the build failed (build-fuzz/fuzz-build.log)" >&2
  exit 1
fi
t_built=$(date +%s)
echo "fuzz: build $((t_built - t_start)) s"

# halt_on_error: the first report ends the process, so libFuzzer saves its input.
# Leaks are detected (no suppressions are needed: the targets probe no OpenCL device,
# and the OpenMP and Lua runtimes free what they hold at exit).
export ASAN_OPTIONS="halt_on_error=1:detect_leaks=1:print_summary=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:print_summary=1"
if command -v llvm-symbolizer >/dev/null; then
  export ASAN_SYMBOLIZER_PATH=$(command -v llvm-symbolizer)
elif [ -x /usr/lib/llvm-14/bin/llvm-symbolizer ]; then
  export ASAN_SYMBOLIZER_PATH=/usr/lib/llvm-14/bin/llvm-symbolizer
fi
export OMP_WAIT_POLICY=PASSIVE   # no spinning OpenMP threads beside the fuzzer on 2 cores

rm -rf "$work"
mkdir -p "$work"
# The targets write each input to a file under $TMPDIR (tests/fuzz/fuzz_tempfile.h);
# what a crashed target leaves there goes with the scratch folder.
export TMPDIR=$work/tmp
mkdir -p "$TMPDIR"

failed=0
summary=()
for t in "${targets[@]}"; do
  exe=$build/fuzz/$t
  corpus=$work/corpus/$t
  findings=$root/tests/fuzz/findings-$t
  log=$work/$t.log
  mkdir -p "$corpus" "$findings"
  cp -r "$root/tests/fuzz/corpus/$t/." "$corpus/"
  dict=()
  if [ -f "$root/tests/fuzz/$t.dict" ]; then dict=(-dict="$root/tests/fuzz/$t.dict"); fi

  echo "fuzz: $t for ${seconds} s"
  rc=0
  # libFuzzer draws a random seed unless FUZZ_SEED is set; the summary prints the one
  # it used, to repeat a run. The outer timeout only guards against a hang that
  # libFuzzer's own -timeout cannot end.
  seed=()
  if [ -n "${FUZZ_SEED:-}" ]; then seed=(-seed="$FUZZ_SEED"); fi
  (cd "$work" && timeout --kill-after=30 $((seconds + 600)) "$exe" \
      -max_total_time="$seconds" -timeout="${FUZZ_TIMEOUT:-20}" "${seed[@]}" \
      -print_final_stats=1 -artifact_prefix="$findings/" "${dict[@]}" "$corpus" \
      >"$log" 2>&1) || rc=$?

  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  used_seed=$(sed -n 's/^INFO: Seed: *//p' "$log" | head -n 1)
  found=$(grep -c "Test unit written to" "$log" || true)
  status=ok
  if [ "$rc" -ne 0 ] || [ "$found" -gt 0 ]; then
    failed=1
    status="FAILED (exit $rc)"
    echo "fuzz: $t: report (from $log):"
    grep -E "ERROR: |runtime error|SUMMARY: |Test unit written to|^ +#[0-9]+ " "$log" | head -n 40 | sed 's/^/  /' || true
  fi
  summary+=("$(printf '%-18s executions %-10s findings %-3s seed %-11s %s' "$t" "${execs:-?}" "$found" "${used_seed:-?}" "$status")")
  # what a target counts without stopping (fuzz_safetensors: errors not the loader's own)
  while IFS= read -r note; do
    summary+=("    $note")
  done < <(grep -E "^$t: (counted|unexpected|broken)" "$log" | head -n 5 || true)
  if [ "$found" -gt 0 ]; then
    summary+=("    input: $(sed -n 's/.*Test unit written to *//p' "$log" | head -n 1 | sed "s|^$root/||")")
  fi
  rmdir "$findings" 2>/dev/null || true   # kept only when it holds something
done

t_end=$(date +%s)
echo
echo "fuzz: ${seconds} s per target, wall time $((t_end - t_start)) s (build $((t_built - t_start)) s)"
printf '  %s\n' "${summary[@]}"
if [ "$failed" -ne 0 ]; then
  echo "fuzz: reproduce a finding with build-fuzz/fuzz/<target> tests/fuzz/findings-<target>/<file>"
fi
exit "$failed"
