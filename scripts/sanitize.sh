#!/usr/bin/env bash
# The whole ctest suite (C tests on the CPU and on every OpenCL device, Lua tests, host
# tests) on a second build made with AddressSanitizer and UndefinedBehaviorSanitizer
# (-DMTFL_SANITIZE=ON), in build-asan/. build/ is not touched.
#
#   bash scripts/sanitize.sh              # configure, build, run every test
#   bash scripts/sanitize.sh -R c_ops     # extra arguments select tests (ctest -R/-E/...)
#
# Every sanitizer report (ASan, UBSan, LeakSanitizer) of every process a test starts is
# written to build-asan/sanitizer-logs/<test>.<pid>, so that a report is seen even when a
# test captures its child's stderr or expects it to fail. The script prints them all at
# the end and exits non-zero when a test failed or any report was written.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
build=$root/build-asan
logs=$build/sanitizer-logs
jobs=${SANITIZE_JOBS:-$(nproc)}

bash scripts/setup-deps.sh

t0=$(date +%s)
# -O1: ASan's recommended level (fast enough for the suite, precise stacks); assertions
# stay on (no NDEBUG).
cmake -S . -B "$build" -DMTFL_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -g" >/dev/null
cmake --build "$build" -j"$jobs"
t1=$(date +%s)
echo "sanitize: build $((t1 - t0)) s"

# halt_on_error: the first finding ends the process (UBSan is built with
# -fno-sanitize-recover=undefined as well). Leak detection stays on; leaks that belong to
# the OpenCL ICD loader, PoCL and LLVM are suppressed by tests/lsan.supp (only those).
common="halt_on_error=1:print_summary=1"
export ASAN_OPTIONS="$common:detect_leaks=1:intercept_tls_get_addr=0"
export UBSAN_OPTIONS="$common:print_stacktrace=1"
# intercept_tls_get_addr=0: ASan does not follow the dynamic TLS blocks of dlopen'ed
# libraries. Following them, LeakSanitizer's tracer crashed at exit ("Tracer caught
# signal 11" on a main-thread dynamic-TLS entry at 0x113) in processes that had used
# PoCL, or not, depending on nothing more than which Lua modules mtfl loaded at start-up.
# Static TLS and every stack and global are still scanned; a block held only from a
# dlopen'ed library's TLS would be reported as a leak, never hidden.
export LSAN_OPTIONS="suppressions=$root/tests/lsan.supp:print_suppressions=0"
if command -v llvm-symbolizer >/dev/null; then
  export ASAN_SYMBOLIZER_PATH=$(command -v llvm-symbolizer)
fi

rm -rf "$logs"
mkdir -p "$logs"
cd "$build"
mapfile -t tests < <(ctest -N "$@" | sed -n 's/^ *Test *#[0-9]*: *//p')
if [ ${#tests[@]} -eq 0 ]; then
  echo "sanitize: no test selected" >&2
  exit 2
fi

passed=0
failed=()
reported=()
for name in "${tests[@]}"; do
  # The report files are named after the test: ASan and UBSan append .<pid>.
  ts=$(date +%s)
  rc=0
  ASAN_OPTIONS="$ASAN_OPTIONS:log_path=$logs/$name" \
  UBSAN_OPTIONS="$UBSAN_OPTIONS:log_path=$logs/$name" \
    ctest -R "^${name}\$" --output-on-failure --timeout 2700 >"$logs/ctest-$name.txt" 2>&1 || rc=$?
  status=passed
  if [ $rc -ne 0 ]; then
    status=FAILED
    failed+=("$name")
  else
    passed=$((passed + 1))
  fi
  if compgen -G "$logs/$name.*" >/dev/null; then
    reported+=("$name")
    status="$status, sanitizer report"
  fi
  echo "sanitize: $name: $status ($(( $(date +%s) - ts )) s)"
  if [ $rc -ne 0 ]; then sed 's/^/    /' "$logs/ctest-$name.txt" | tail -n 60; fi
done

for name in "${reported[@]}"; do
  for f in "$logs/$name".*; do
    echo
    echo "=== sanitizer report: test $name, $(basename "$f") ==="
    cat "$f"
  done
done

echo
echo "sanitize: tests $((passed)) passed, ${#failed[@]} failed; $(( $(date +%s) - t1 )) s"
[ ${#failed[@]} -eq 0 ] || echo "sanitize: failed: ${failed[*]}"
[ ${#reported[@]} -eq 0 ] || echo "sanitize: sanitizer reports from: ${reported[*]} (in $logs)"
echo "$passed passed, $(( ${#failed[@]} )) failed"
[ ${#failed[@]} -eq 0 ] && [ ${#reported[@]} -eq 0 ]
