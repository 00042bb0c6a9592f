#!/usr/bin/env bash
# Tests of `cmake --install`: the program, the module, the user-facing scripts as
# commands (mtfl-evaluate, mtfl-predict, mtfl-export-onnx, ...) and the man page, run
# from another folder than the source tree, through a link, and after the installed
# tree is moved; the next-step commands a script prints, run from yet another folder.
# usage: tests/host/test_install.sh path/to/cmake path/to/build-dir
set -u

CMAKE=${1:?usage: $0 path/to/cmake path/to/build-dir}
BUILD=${2:?usage: $0 path/to/cmake path/to/build-dir}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
export HOME="$WORK/home" MTFL_LUA_HISTORY="$WORK/history" MTFL_CACHE="$WORK/cache"
unset MTFL_DEVICE MTFL_COMMAND MTFL_DATA
mkdir -p "$HOME"

passed=0
failed=0
pass() { passed=$((passed + 1)); echo "ok    $1"; }
fail() {
    failed=$((failed + 1))
    echo "FAIL  $1"
    shift
    for line in "$@"; do echo "      $line"; done
}
# run CMD...: $out, $err and $rc of a command, run in the current folder
run() {
    out=$("$@" 2>"$WORK/stderr" </dev/null)
    rc=$?
    err=$(cat "$WORK/stderr")
}
check() { # check NAME TEST-COMMAND...
    local name=$1
    shift
    if "$@"; then pass "$name"; else fail "$name" "rc=$rc" "stdout: $out" "stderr: $err"; fi
}
contains() { [[ "$1" == *"$2"* ]]; }

PREFIX=$WORK/prefix
out=$("$CMAKE" --install "$BUILD" --prefix "$PREFIX" 2>&1); rc=$?; err=""
check "cmake --install into a temporary prefix" eval '[[ $rc -eq 0 ]]'

COMMANDS=(mtfl-evaluate mtfl-predict mtfl-export-onnx mtfl-make-synthetic mtfl-tune mtfl-get-mtfl mtfl-quickstart mtfl-reproduce)
missing=""
for f in bin/mtfl-lua lib/lua/5.4/mtfl.so share/man/man1/mtfl-lua.1 share/mtfl-lua/examples/best.lua \
         share/mtfl-lua/scripts/onnx_check.py; do
    [ -f "$PREFIX/$f" ] || missing="$missing $f"
done
for c in "${COMMANDS[@]}"; do [ -x "$PREFIX/bin/$c" ] || missing="$missing bin/$c"; done
check "the program, the module, every command and the man page are installed" eval '[[ -z "$missing" ]] || { echo "      missing:$missing"; false; }'
extra=$(cd "$PREFIX/bin" && ls | grep -v -x -e mtfl-lua $(printf -- '-e %s ' "${COMMANDS[@]}"))
check "bin/ holds nothing but mtfl-lua and those commands" eval '[[ -z "$extra" ]] || { echo "      extra: $extra"; false; }'
refs=$(grep -rl -F "$REPO" "$PREFIX/bin" "$PREFIX/share" 2>/dev/null | grep -v '\.so$' | grep -v '/bin/mtfl-lua$')
check "no installed script or wrapper names the source tree" eval '[[ -z "$refs" ]] || { echo "      $refs"; false; }'

# --- every command from another folder, PATH not knowing the prefix ----------------------
mkdir -p "$WORK/elsewhere" && cd "$WORK/elsewhere" || exit 2
for c in "${COMMANDS[@]}"; do
    run "$PREFIX/bin/$c" --help
    check "$c --help works from another folder and calls itself $c" eval '[[ $rc -eq 0 && "$out" == "Usage: $c "* ]]'
done
run "$PREFIX/bin/mtfl-export-onnx" --no-such-option
check "an installed command names a bad option in one line" \
    eval '[[ $rc -eq 1 ]] && contains "$err" "unknown option '"'"'--no-such-option'"'"'" && [[ $(grep -c "^mtfl-lua: " <<<"$err") -eq 1 ]]'

# a model file (tiny, untrained) and faces to use it on, all made by installed commands
run "$PREFIX/bin/mtfl-make-synthetic" --out faces --train 0 --test 4 --size 32 --format png
check "mtfl-make-synthetic writes faces" eval '[[ $rc -eq 0 && -f faces/testing.txt ]]'
run "$PREFIX/bin/mtfl-lua" -e '
  local nn = require "mtfl.nn"
  local model = nn.Sequential{nn.Conv2d(3, 4, 3, {padding = 1}), nn.ReLU(), nn.MaxPool2d(2, {ceil = true}), nn.Flatten(),
                              nn.Linear(4 * 8 * 8, 8)}:add(nn.Heads{landmarks = nn.Linear(8, 10), pose = nn.Linear(8, 5)}, "heads")
  nn.save_model("tiny.safetensors", model, {input = {size = 15}, tasks = {landmarks = {outputs = 10, reference_size = 150},
                                                                         pose = {classes = 5}}})'
check "the installed mtfl-lua saves a model file" eval '[[ $rc -eq 0 && -f tiny.safetensors ]]'
run "$PREFIX/bin/mtfl-predict" tiny.safetensors faces/synth_test --out predicted --device cpu
check "mtfl-predict runs the model file on a folder of images" \
    eval '[[ $rc -eq 0 && -f predicted/predictions.json && -f predicted/predictions.csv ]] && contains "$out" "4 images"'
run "$PREFIX/bin/mtfl-evaluate" tiny.safetensors faces/testing.txt --out measured --device cpu
check "mtfl-evaluate measures it, its last line the summary" \
    eval '[[ $rc -eq 0 ]] && grep -qE "^mean_error=[0-9.]+ failure=[0-9.]+ faces=4$" <<<"$out"'
run "$PREFIX/bin/mtfl-export-onnx" tiny.safetensors onnx/tiny.onnx
check "mtfl-export-onnx writes the ONNX file" eval '[[ $rc -eq 0 && -s onnx/tiny.onnx ]] && contains "$out" "output landmarks [N, 10]"'

# through a link (a user's ~/bin), and after the whole tree moved
mkdir -p "$WORK/links" && ln -s "$PREFIX/bin/mtfl-predict" "$WORK/links/mtfl-predict"
run "$WORK/links/mtfl-predict" tiny.safetensors faces/synth_test --out linked --no-drawings
check "a command run through a link finds its installed script" eval '[[ $rc -eq 0 && -f linked/predictions.csv ]]'
mv "$PREFIX" "$WORK/moved"
run "$WORK/moved/bin/mtfl-export-onnx" tiny.safetensors onnx/moved.onnx
check "the installed tree still works once moved" eval '[[ $rc -eq 0 && -s onnx/moved.onnx ]]'
mv "$WORK/moved" "$PREFIX"

# --- the next steps a training script prints work from any folder --------------------------
# (mtfl.commands.next_steps, which quickstart.lua and every experiment script print)
next_steps() { # next_steps INTERPRETER RUNNING-SCRIPT: the lines for tiny.safetensors
    RUNNING=$2 "$1" -e 'for _, l in ipairs(require("mtfl.commands").next_steps("tiny.safetensors", os.getenv("RUNNING"),
                                           {list = "faces/testing.txt"})) do print(l) end' </dev/null
}
runs_elsewhere() { # runs_elsewhere LINES: each command after its label, run in another folder
    local line cmd
    mkdir -p "$WORK/other" && cd "$WORK/other" || return 1
    while IFS= read -r line; do
        cmd=${line#*:}
        cmd=${cmd//IMAGE_OR_FOLDER.../$WORK/elsewhere/faces/synth_test}
        cmd=${cmd//--out out\/predict/--out $WORK/other/predict --no-drawings}
        if ! sh -c "$cmd" >"$WORK/step.log" 2>&1; then echo "      failed: $cmd"; cat "$WORK/step.log"; cd "$WORK/elsewhere"; return 1; fi
    done <<<"$1"
    cd "$WORK/elsewhere"
}
out=$(PATH="$PREFIX/bin:$PATH" next_steps "$PREFIX/bin/mtfl-lua" "$PREFIX/share/mtfl-lua/examples/quickstart.lua"); rc=$?; err=""
check "installed and on PATH, the next steps name the commands and absolute paths" \
    eval '[[ $rc -eq 0 ]] && grep -q "^  measure it on the test faces: *mtfl-evaluate $WORK/elsewhere/tiny.safetensors $WORK/elsewhere/faces/testing.txt$" <<<"$out" && grep -q "mtfl-export-onnx $WORK/elsewhere/tiny.safetensors $WORK/elsewhere/model.onnx" <<<"$out"'
PATH="$PREFIX/bin:$PATH" check "and they run from another folder" runs_elsewhere "$out"
out=$(next_steps "$PREFIX/bin/mtfl-lua" "$PREFIX/share/mtfl-lua/examples/quickstart.lua"); rc=$?; err=""
check "installed but not on PATH, they name the commands by their absolute paths" \
    eval '[[ $rc -eq 0 ]] && grep -q "^  annotate your own face images: *$PREFIX/bin/mtfl-predict $WORK/elsewhere/tiny.safetensors" <<<"$out"'
check "and they run from another folder" runs_elsewhere "$out"
out=$(next_steps "$BUILD/mtfl-lua" "$REPO/examples/quickstart.lua"); rc=$?; err=""
check "in the build tree, they name the absolute mtfl-lua and scripts" \
    eval '[[ $rc -eq 0 ]] && grep -q "^  measure it on the test faces: *$(readlink -f "$BUILD/mtfl-lua") $REPO/scripts/evaluate.lua $WORK/elsewhere/tiny.safetensors" <<<"$out"'
check "and they run from another folder" runs_elsewhere "$out"

# --- the man page ---------------------------------------------------------------------------
PAGE=$PREFIX/share/man/man1/mtfl-lua.1
out=$(mandoc -T lint -W warning "$PAGE" 2>&1); rc=$?; err=""
check "mandoc finds nothing to warn about in mtfl-lua.1" eval '[[ $rc -eq 0 && -z "$out" ]]'
out=$(MANWIDTH=100 mandoc -T utf8 "$PAGE" 2>&1 | col -b); rc=$?; err=""
unnamed=""
for c in "${COMMANDS[@]}"; do grep -q -- "^       $c" <<<"$out" || unnamed="$unnamed $c"; done
check "the man page describes every installed command" eval '[[ $rc -eq 0 && -z "$unnamed" ]] || { echo "      not described:$unnamed"; false; }'
check "the man page lists the host's options" eval 'contains "$out" "--devices" && contains "$out" "MTFL_DEVICE"'

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
