#!/usr/bin/env bash
# Downloads the MTFL dataset from its official page and unpacks it to data/MTFL (or
# the folder given), then checks it is complete: 10,000 training and 2,995 testing
# annotations and every image they name.
#
#   bash scripts/get-mtfl.sh [DEST]       # default: data/MTFL in the repository
#   mtfl-get-mtfl [DEST]                  # installed: data/MTFL in the current folder
#
# Needs curl or wget, and unzip (apt-get install curl unzip).
set -euo pipefail

URL="http://mmlab.ie.cuhk.edu.hk/projects/TCDCN/data/MTFL.zip"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
# In a checkout, beside the code; installed (share/mtfl-lua/scripts), not into the
# installed tree but into the current folder's data/MTFL, the first place every command
# looks for the data.
if [ -f "$ROOT/CMakeLists.txt" ]; then DEFAULT="$ROOT/data/MTFL"; else DEFAULT="$PWD/data/MTFL"; fi
case "${1:-}" in
  -h|--help)
    echo "Usage: ${MTFL_COMMAND:-bash scripts/get-mtfl.sh} [DEST]"
    echo
    echo "Downloads MTFL from its official page into DEST (default: $DEFAULT) and checks it"
    echo "is complete: 10,000 training and 2,995 testing faces and every image they name."
    echo "An existing DEST is only checked. Needs curl or wget, and unzip."
    exit 0 ;;
  -*) echo "get-mtfl: unknown option $1 (--help shows the usage)" >&2; exit 2 ;;
esac
[ $# -le 1 ] || { echo "get-mtfl: takes one folder at most, got $# arguments (--help shows the usage)" >&2; exit 2; }
DEST="${1:-$DEFAULT}"

fail() { echo "get-mtfl: $*" >&2; exit 1; }

check() {   # check DIR: counts of annotations and images
  local dir="$1" missing
  [ -f "$dir/training.txt" ] && [ -f "$dir/testing.txt" ] || fail "$dir: training.txt or testing.txt missing"
  local train test
  train=$(tr -d '\r' < "$dir/training.txt" | awk 'NF == 15' | wc -l)
  test=$(tr -d '\r' < "$dir/testing.txt" | awk 'NF == 15' | wc -l)
  [ "$train" -eq 10000 ] || fail "$dir/training.txt: $train faces, expected 10000"
  [ "$test" -eq 2995 ] || fail "$dir/testing.txt: $test faces, expected 2995"
  missing=$(cat "$dir/training.txt" "$dir/testing.txt" | tr -d '\r' | awk 'NF == 15 {print $1}' |
            tr '\\' '/' | (cd "$dir" && while read -r p; do [ -f "$p" ] || echo "$p"; done) | wc -l)
  [ "$missing" -eq 0 ] || fail "$dir: $missing of the 12995 images are missing"
  echo "get-mtfl: $dir holds 10000 training and 2995 testing faces, every image present"
}

if [ -f "$DEST/training.txt" ]; then
  echo "get-mtfl: $DEST exists; checking it"
  check "$DEST"
  exit 0
fi

command -v unzip >/dev/null || fail "unzip is needed (apt-get install unzip)"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
echo "get-mtfl: downloading $URL"
if command -v curl >/dev/null; then
  curl -fL --retry 3 -o "$TMP/MTFL.zip" "$URL" || fail "download failed"
elif command -v wget >/dev/null; then
  wget -q -O "$TMP/MTFL.zip" "$URL" || fail "download failed"
else
  fail "curl or wget is needed (apt-get install curl)"
fi
unzip -q "$TMP/MTFL.zip" -d "$TMP/unpacked" || fail "$URL: not a zip file"
# the archive's top folder is not fixed: take the one holding training.txt
FOUND="$(find "$TMP/unpacked" -name training.txt -print -quit)"
[ -n "$FOUND" ] || fail "no training.txt in the archive"
SRC="$(dirname "$FOUND")"
mkdir -p "$(dirname "$DEST")"
mv "$SRC" "$DEST"
check "$DEST"
