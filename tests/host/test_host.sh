#!/usr/bin/env bash
# Tests of the mtfl-lua host program (options, scripts, errors, the piped REPL).
# usage: tests/host/test_host.sh path/to/mtfl-lua
#
# Works with any mtfl module that provides mtfl.devices/set_device/device, and does not
# depend on which devices exist beyond the CPU.
set -u

BIN=${1:?usage: $0 path/to/mtfl-lua}
if [ ! -x "$BIN" ]; then
    echo "not an executable: $BIN" >&2
    exit 2
fi
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)   # for the scripts it runs

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
# Nothing here may read or write the real home (history file) or pick up a device
# choice from the caller's environment.
export HOME="$WORK/home"
export MTFL_LUA_HISTORY="$WORK/history"
unset MTFL_DEVICE
mkdir -p "$HOME"
cd "$WORK" || exit 2

passed=0
failed=0

pass() { passed=$((passed + 1)); echo "ok    $1"; }
fail() {
    failed=$((failed + 1))
    echo "FAIL  $1"
    shift
    for line in "$@"; do echo "      $line"; done
}

# run NAME [args...] < input: captures $out, $err and $rc. stdin is /dev/null unless
# the caller redirects it, so nothing waits for a terminal.
run() {
    out=$("$BIN" "$@" 2>"$WORK/stderr")
    rc=$?
    err=$(cat "$WORK/stderr")
}

check() { # check NAME TEST-COMMAND...
    local name=$1
    shift
    if "$@"; then pass "$name"; else fail "$name" "rc=$rc" "stdout: $out" "stderr: $err"; fi
}
contains() { [[ "$1" == *"$2"* ]]; }

# --- version and help ----------------------------------------------------------------
run --version </dev/null
check "--version prints the version" \
    eval '[[ $rc -eq 0 && "$out" =~ ^mtfl-lua\ [0-9]+\.[0-9]+\.[0-9]+\ \(Lua\ 5\.4(\.[0-9]+)?\)$ ]]'
run -v </dev/null
check "-v prints the version and exits" eval '[[ $rc -eq 0 && "$out" == mtfl-lua\ * ]]'

run --help </dev/null
help_ok=1
for opt in "-e" "-l" "-i" "-v" "--version" "-h" "--help" "--device" "--devices" "--" \
    "MTFL_DEVICE" "MTFL_LUA_HISTORY" "mtfl_lua_history"; do
    contains "$out" "$opt" || { help_ok=0; echo "      help lacks $opt"; }
done
contains "$out" "  -  " || { help_ok=0; echo "      help lacks '-' (stdin)"; }
check "--help mentions every option and variable" eval '[[ $rc -eq 0 && $help_ok -eq 1 ]]'
run -h </dev/null
check "-h prints the usage" eval '[[ $rc -eq 0 && "$out" == usage:* ]]'

run -z </dev/null
check "an unknown option fails with the usage" \
    eval '[[ $rc -ne 0 ]] && contains "$err" "unrecognized option" && contains "$err" "usage:"'
run -e </dev/null
check "-e without an argument fails" eval '[[ $rc -ne 0 ]] && contains "$err" "-e"'

# --- -e and -l -----------------------------------------------------------------------
run -e 'print(1 + 2)' </dev/null
check "-e runs a statement" eval '[[ $rc -eq 0 && "$out" == 3 ]]'
run -e 'x = 5' -e 'print(x * 2)' </dev/null
check "several -e run in order" eval '[[ $rc -eq 0 && "$out" == 10 ]]'
run -e 'print(type(mtfl), mtfl == require("mtfl"))' </dev/null
check "mtfl is a preloaded global" eval '[[ $rc -eq 0 && "$out" == "table	true" ]]'
run -e 'error("oops")' </dev/null
check "an error in -e exits 1" eval '[[ $rc -eq 1 ]] && contains "$err" "mtfl-lua:" && contains "$err" "oops"'

cat >"$WORK/mylib.lua" <<'EOF'
return { answer = 42 }
EOF
export LUA_PATH="$WORK/?.lua;;"
run -l mylib -e 'print(mylib.answer)' </dev/null
check "-l name requires into a global" eval '[[ $rc -eq 0 && "$out" == 42 ]]'
run -l lib=mylib -e 'print(lib.answer, mylib)' </dev/null
check "-l g=name requires into global g" eval '[[ $rc -eq 0 && "$out" == "42	nil" ]]'
run -l no_such_module_xyz </dev/null
check "-l of a missing module fails" \
    eval '[[ $rc -eq 1 ]] && contains "$err" "no_such_module_xyz"'
unset LUA_PATH

# --- scripts -------------------------------------------------------------------------
cat >"$WORK/args.lua" <<'EOF'
local m = require "mtfl"
assert(m == mtfl)
print(select("#", ...), ...)
print(#arg, arg[0], arg[1], arg[2], arg[-1] ~= nil)
EOF
run "$WORK/args.lua" one "two words"
check "a script gets its arguments as ..." \
    eval '[[ $rc -eq 0 && "$(sed -n 1p <<<"$out")" == "2	one	two words" ]]'
check "a script gets the arg table" \
    eval '[[ "$(sed -n 2p <<<"$out")" == "2	$WORK/args.lua	one	two words	true" ]]'
run -e 'y = 1' "$WORK/args.lua" x </dev/null
check "options get negative arg indices" \
    eval '[[ $rc -eq 0 ]] && contains "$out" "1	x"'
cat >"$WORK/neg.lua" <<'EOF'
print(arg[-2], arg[-1], arg[0])
EOF
run -e 'y = 1' "$WORK/neg.lua" </dev/null
check "arg[-2], arg[-1] are the options" \
    eval '[[ $rc -eq 0 && "$out" == "-e	y = 1	$WORK/neg.lua" ]]'

cat >"$WORK/fails.lua" <<'EOF'
local function inner()
  error("script went wrong")
end
inner()
EOF
run "$WORK/fails.lua" </dev/null
check "a failing script exits 1 with mtfl-lua: and file:line" \
    eval '[[ $rc -eq 1 ]] && contains "$err" "mtfl-lua: " && contains "$err" "fails.lua:2: script went wrong"'
check "a failing script prints a traceback" eval 'contains "$err" "stack traceback:"'

cat >"$WORK/syntax.lua" <<'EOF'
print("fine")
local x = = 3
EOF
run "$WORK/syntax.lua" </dev/null
check "a syntax error exits 1 and names file:line" \
    eval '[[ $rc -eq 1 && -z "$out" ]] && contains "$err" "mtfl-lua: " && contains "$err" "syntax.lua:2:"'

run "$WORK/does_not_exist.lua" </dev/null
check "a missing script exits 1" eval '[[ $rc -eq 1 ]] && contains "$err" "does_not_exist.lua"'

run -e 'os.exit(7)' </dev/null
check "os.exit sets the exit status" eval '[[ $rc -eq 7 ]]'
run -e 'error({})' </dev/null
check "a non-string error is reported" eval '[[ $rc -eq 1 ]] && contains "$err" "table value"'

run - a b <<<'print("stdin says", ...)'
check "- runs stdin with arguments" eval '[[ $rc -eq 0 && "$out" == "stdin says	a	b" ]]'
run <<<'print("piped script")'
check "piped stdin without a script runs as a script" \
    eval '[[ $rc -eq 0 && "$out" == "piped script" ]]'
run -l string <<<'print("after -l")'
check "piped stdin still runs after -l" eval '[[ $rc -eq 0 && "$out" == "after -l" ]]'
run -e 'print("only -e")' <<<'print("not run")'
check "piped stdin is not run after -e" eval '[[ $rc -eq 0 && "$out" == "only -e" ]]'
run - <<<'error("from stdin")'
check "an error in stdin names stdin" eval '[[ $rc -eq 1 ]] && contains "$err" "stdin:1: from stdin"'

cat >"$WORK/-dash.lua" <<'EOF'
print("dash file")
EOF
run -- -dash.lua </dev/null
check "-- stops option handling" eval '[[ $rc -eq 0 && "$out" == "dash file" ]]'

# --- the piped REPL ------------------------------------------------------------------
run -i < <(printf '1+1\nx=\n3\nprint(x)\nerror("boom")\nprint("alive")\n')
check "REPL prints a banner with the device" eval 'contains "$out" "mtfl-lua " && contains "$out" "device:"'
check "REPL prints expression values" eval 'grep -q "^> 2$" <<<"$out"'
check "REPL continues incomplete statements" eval 'grep -q ">> > 3$" <<<"$out"'
check "REPL reports errors and continues" \
    eval 'contains "$err" "boom" && grep -q "alive$" <<<"$out" && [[ $rc -eq 0 ]]'

run -i < <(printf 'return 1, nil, "s"\nfor i = 1, 2 do\nprint("i" .. i)\nend\nt = setmetatable({}, {__tostring = function() error("bad tostring") end})\nt\nprint("after")\n')
check "REPL prints several values separated by tabs" eval 'grep -q "^> 1	nil	s$" <<<"$out"'
check "REPL runs multi-line blocks" eval 'grep -q "i1$" <<<"$out" && grep -q "^i2$" <<<"$out"'
check "REPL survives a failing __tostring" \
    eval 'contains "$err" "bad tostring" && grep -q "after$" <<<"$out"'

run -i < <(printf 'if true then\n')
check "REPL reports input ending inside a statement" \
    eval '[[ $rc -eq 0 ]] && contains "$err" "<eof>"'

run -e 'greeting = "hi"' -i < <(printf 'greeting\n')
check "-i after -e keeps the state" eval 'grep -q "^> hi$" <<<"$out"'
run "$WORK/args.lua" -i </dev/null
check "-i after a script is an argument of the script" eval '[[ $rc -eq 0 ]] && contains "$out" "-i"'
run -i "$WORK/neg.lua" < <(printf 'arg[0]\n')
check "-i enters the REPL after the script" eval 'contains "$out" "> $WORK/neg.lua"'

# --- devices -------------------------------------------------------------------------
run --devices </dev/null
check "--devices lists the cpu" eval '[[ $rc -eq 0 ]] && grep -q "cpu" <<<"$out"'
check "--devices marks the default device" eval 'grep -q "^\*" <<<"$out"'
run --device cpu --devices </dev/null
check "--device cpu becomes the default" eval '[[ $rc -eq 0 ]] && grep -q "^\* *cpu " <<<"$out"'
run --device cpu -e 'print(mtfl.device())' </dev/null
check "--device sets mtfl.device()" eval '[[ $rc -eq 0 ]] && contains "$out" "cpu"'
run --device no_such_device_xyz -e 'print("should not run")' </dev/null
check "--device with an unknown device fails with a message" \
    eval '[[ $rc -eq 1 && -z "$out" ]] && contains "$err" "mtfl-lua: " && contains "$err" "no_such_device_xyz"'
run --device </dev/null
check "--device without an argument fails" eval '[[ $rc -ne 0 ]] && contains "$err" "--device"'

# --- tools see the program itself: the runtimes' defaults without a re-exec --------------
# mtfl-lua sets OpenMP's passive wait policy (and OpenBLAS's kernels, on Intel CPUs it
# does not know) before it loads mtfl.so and with it those runtimes. libgomp shows what
# it read with OMP_DISPLAY_ENV=verbose: a passive policy means a spin count of 0 (its
# display of OMP_WAIT_POLICY says PASSIVE even when the variable is unset).
out=$(env -u OMP_WAIT_POLICY OMP_DISPLAY_ENV=verbose "$BIN" -e 'print("ran")' 2>&1 </dev/null)
rc=$?; err=""
check "OpenMP starts once, in this process, with the passive wait policy" \
    eval '[[ $rc -eq 0 && $(grep -c "OPENMP DISPLAY ENVIRONMENT BEGIN" <<<"$out") -eq 1 ]] && grep -q "GOMP_SPINCOUNT = .0.$" <<<"$out" && grep -q "^ran$" <<<"$out"'
out=$(OMP_WAIT_POLICY=active OMP_DISPLAY_ENV=verbose "$BIN" -e 'print("ran")' 2>&1 </dev/null)
rc=$?
check "a wait policy given by the user is kept" eval '[[ $rc -eq 0 ]] && grep -q "OMP_WAIT_POLICY = .ACTIVE." <<<"$out" && ! grep -q "GOMP_SPINCOUNT = .0.$" <<<"$out"'
if grep -q -w avx2 /proc/cpuinfo; then
    out=$(OPENBLAS_CORETYPE=Haswell "$BIN" --devices 2>&1 </dev/null)
    rc=$?
    check "OpenBLAS's kernels given by the user are kept" eval '[[ $rc -eq 0 ]] && contains "$out" "OpenBLAS Haswell"'
    out=$(env -u OPENBLAS_CORETYPE "$BIN" --devices 2>&1 </dev/null)
    rc=$?
    check "OpenBLAS never falls back to its generic kernels on an AVX2 CPU" \
        eval '[[ $rc -eq 0 ]] && contains "$out" "host (OpenBLAS " && ! contains "$out" "OpenBLAS Prescott"'
fi
MTFL_MODULE=$WORK/none.so run -e 'print("ran")' </dev/null
check "a missing mtfl.so is a clear error" eval '[[ $rc -eq 1 ]] && contains "$err" "cannot load the mtfl module" && contains "$err" "none.so"'
if ldd "$BIN" | grep -q libasan; then
    echo "skip  valgrind runs mtfl-lua: a sanitizer build cannot run under valgrind"
elif command -v valgrind >/dev/null; then
    # no OpenCL platform: PoCL's own start-up under valgrind would take a minute
    out=$(env -u OMP_WAIT_POLICY OCL_ICD_VENDORS=/nonexistent valgrind -q --error-exitcode=99 "$BIN" \
          --device cpu -e 'print(mtfl.ones(3):sum())' 2>&1 </dev/null)
    rc=$?
    check "valgrind runs mtfl-lua itself (no re-exec) without errors" \
        eval '[[ $rc -eq 0 ]] && grep -q "^3.0$" <<<"$out"'
else
    fail "valgrind runs mtfl-lua" "valgrind is not installed (scripts/setup-deps.sh installs it)"
fi

# --- the benchmark scripts run (tiny, so that they cannot rot unseen) --------------------
run "$REPO/scripts/bench_net.lua" --net tcdcn --device cpu --batch 2 --steps 1 --profile </dev/null
check "bench_net.lua --net tcdcn prints its figures and a profile" \
    eval '[[ $rc -eq 0 ]] && grep -qE "^train_img_per_s=[0-9.]+ infer_img_per_s=[0-9.]+$" <<<"$out" && contains "$out" "backward ms" && contains "$out" "(smile) Linear(256 -> 2)"'
run "$REPO/scripts/bench_net.lua" --net seed --device cpu --batch 2 --steps 1 --size 24 </dev/null
check "bench_net.lua --net seed builds the seed network with its three heads" \
    eval '[[ $rc -eq 0 ]] && grep -qE "^train_img_per_s=[0-9.]+ " <<<"$out" && contains "$out" "Linear(1152 -> 1024)" && contains "$out" "(pose) Linear(1024 -> 5)"'
run "$REPO/scripts/bench_net.lua" --net resnet </dev/null
check "bench_net.lua names an unknown network" eval '[[ $rc -ne 0 ]] && contains "$err" "option --net is \"resnet\" (use seed or tcdcn)"'
run "$REPO/scripts/bench_net.lua" --steps 0 </dev/null
check "bench_net.lua refuses a step count that is not positive" eval '[[ $rc -ne 0 ]] && contains "$err" "option --steps wants a positive integer, got \"0\""'

# --- every script reads its command line one way (lua/mtfl/cli.lua) -----------------------
for script in "$REPO"/examples/*.lua "$REPO"/scripts/*.lua; do
    script_name=${script#"$REPO"/}
    run "$script" --help </dev/null
    check "$script_name --help prints its options and exits 0" eval '[[ $rc -eq 0 && "$out" == "Usage: mtfl-lua "*"$script_name"* ]] && contains "$out" "-h, --help"'
    run "$script" --no-such-option 1 </dev/null
    check "$script_name names an unknown option" eval '[[ $rc -eq 1 ]] && contains "$err" "unknown option '"'"'--no-such-option'"'"'" && [[ $(grep -c "^mtfl-lua: " <<<"$err") -eq 1 ]]'
done
# a bad value, for an option of each kind: the error names the option and the value
bad_values=(
    "examples/reproduce.lua|--epochs|x|option --epochs wants a positive integer, got \"x\""
    "examples/multitask.lua|--protocol|box|option --protocol is \"box\" (use seed or crop)"
    "examples/quickstart.lua|--epochs|1.5|option --epochs wants a positive integer, got \"1.5\""
    "examples/data_tour.lua|--protocol|crops|option --protocol is \"crops\" (use seed or crop)"
    "examples/seed_network.lua|--size|0|option --size wants a positive integer, got \"0\""
    "scripts/make-synthetic.lua|--train=-1||option --train wants an integer >= 0, got \"-1\""
    "scripts/tune.lua|--fraction|some|option --fraction wants a positive number, got \"some\""
    "scripts/bench_gemm.lua|--repeat|0|option --repeat wants a positive integer, got \"0\""
    "scripts/bench_alloc.lua|--rounds||option '--rounds' requires an argument"
)
for case in "${bad_values[@]}"; do
    IFS='|' read -r script_name opt value want <<<"$case"
    if [ -n "$value" ]; then run "$REPO/$script_name" "$opt" "$value" </dev/null; else run "$REPO/$script_name" "$opt" </dev/null; fi
    check "$script_name $opt $value: the error names the option" eval '[[ $rc -eq 1 && -z "$out" ]] && contains "$err" "$want"'
done
run -e 'local o = require("mtfl.cli").parse({"--help"}, {options = {n = {"int", "a count"}}}); print(o == nil and "returned")' </dev/null
check "--help of a script run in the host returns to it instead of exiting" eval '[[ $rc -eq 0 ]] && contains "$out" "--n N" && contains "$out" "returned"'

# --- CLBlast tuned for the device in use (scripts/tune.lua), end to end on PoCL -------------
run "$REPO/scripts/tune.lua" --device cpu </dev/null
check "tune.lua says the CPU needs no tuning" eval '[[ $rc -ne 0 ]] && contains "$err" "the CPU backend multiplies with OpenBLAS"'
run "$REPO/scripts/tune.lua" --fraction 2 </dev/null
check "tune.lua refuses a fraction above 1" eval '[[ $rc -ne 0 ]] && contains "$err" "--fraction 2: a share of the configurations"'
if "$BIN" -e 'for _, d in ipairs(mtfl.devices()) do if d.backend == "opencl" then os.exit(0) end end os.exit(1)' </dev/null; then
    if command -v clblast_tuner_xgemm_direct >/dev/null; then
        TUNE_CACHE=$WORK/tune-cache
        MTFL_CACHE=$TUNE_CACHE run "$REPO/scripts/tune.lua" --net tcdcn --fraction 0.1 --kernels xgemm_direct --max-gflop 0.01 --always-store </dev/null
        check "tune.lua tunes XgemmDirect on the OpenCL device, measures it before and after, stores it" \
            eval '[[ $rc -eq 0 ]] && grep -qE "^gemm_gflops_before=[0-9.]+ gemm_gflops_after=[0-9.]+$" <<<"$out" && contains "$out" "tuning opencl:" && grep -q "XgemmDirect" "$TUNE_CACHE/clblast-tuning.json"'
        MTFL_CACHE=$TUNE_CACHE run --devices </dev/null
        check "--devices shows the tuned kernel, applied when mtfl loads" eval '[[ $rc -eq 0 ]] && grep -qE "^  opencl:[0-9]+ .* XgemmDirect$" <<<"$out"'
        MTFL_CACHE=$TUNE_CACHE run -e 'local mtfl = require "mtfl"; print(mtfl.matmul(mtfl.ones(3, 4, {device = "opencl:0"}), mtfl.ones(4, 2, {device = "opencl:0"})):sum())' </dev/null
        check "a tuned GEMM computes the same product" eval '[[ $rc -eq 0 ]] && grep -q "^24" <<<"$out"'
        printf '{"devices": ' > "$TUNE_CACHE/clblast-tuning.json"
        MTFL_CACHE=$TUNE_CACHE run --devices </dev/null
        check "a damaged tuning file is a note, never an error" eval '[[ $rc -eq 0 ]] && contains "$out" "note: $TUNE_CACHE/clblast-tuning.json: not a tuning file" && grep -qE "^  opencl:[0-9]+ .* no$" <<<"$out"'
    else
        fail "tune.lua on PoCL" "clblast_tuner_xgemm_direct is not installed (scripts/setup-deps.sh installs clblast-utils)"
    fi
else
    echo "skip  tune.lua on an OpenCL device: none here"
fi

# --- the prepared GPU check, dry-run on PoCL (scripts/gpu-check.sh) ------------------------
if "$BIN" -e 'for _, d in ipairs(mtfl.devices()) do if d.backend == "opencl" then os.exit(0) end end os.exit(1)' </dev/null; then
    out=$(bash "$REPO/scripts/gpu-check.sh" --dry-run 2>&1 </dev/null); rc=$?; err=""
    check "gpu-check.sh --dry-run runs every step on PoCL and prints its table, nothing failed" \
        eval '[[ $rc -eq 0 ]] && contains "$out" "gpu-check (dry, " && contains "$out" "GEMM GFLOP/s, untuned -> tuned" && contains "$out" "tcdcn infer img/s" && contains "$out" "seed grid (dry run" && ! contains "$out" "FAILED"'
fi

# --- help in the REPL ---------------------------------------------------------------------
out=$(printf '%s\n' 'help(nil)' 'help(3)' 'help(mtfl.ones(2))' 'help(nn)' 'help({})' 'help("no_such_thing")' \
      'help(mtfl.matmul)' 'help()' 'print("still " .. "here")' | "$BIN" 2>&1); rc=$?; err=""
check "the REPL's help survives nil, a number, a tensor, an unknown name, and lists what there is" \
    eval '[[ $rc -eq 0 ]] && contains "$out" "no documentation for nil" && contains "$out" "no documentation for 3 (a number)" && contains "$out" "views that" && contains "$out" "nothing is documented as \"no_such_thing\"" && contains "$out" "batched 3-D" && contains "$out" "nn.Conv2d" && contains "$out" "still here"'

# --- history stays where it was told ---------------------------------------------------
check "the tests did not write into HOME" eval '[[ ! -e "$HOME/.mtfl_lua_history" ]]'

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
