#!/usr/bin/env bash
# Proves the README's two commands on a fresh Debian 12 machine: debootstraps a minimal
# bookworm root (nothing else installed in it), clones the commit under test into it
# with ../shared beside the clone, and runs, as root inside the chroot,
#
#   bash scripts/quickstart.sh --epochs 1      # the README's first command, shortened
#   bash scripts/test.sh                       # the README's second command
#
# Whatever those need must come from scripts/setup-deps.sh, which they call.
#
#   bash scripts/fresh-root.sh [options]
#     --repo PATH|URL   repository to clone (default: the one this script is in)
#     --commit REV      commit to test (default: the repository's HEAD, resolved at start)
#     --shared DIR      copied to ROOT/work/shared (default: <repo>/../shared; none: skip)
#     --base DIR        where the root is made (default: $FRESH_ROOT_BASE or /var/tmp)
#     --root DIR        the root itself (must not exist yet; default: a new folder in --base)
#     --mirror URL      Debian mirror (default: http://deb.debian.org/debian)
#     --cache-dir DIR   keeps the .debs of debootstrap and of apt inside the root between
#                       runs (default: /var/cache/mtfl-fresh-root); the root is new each run
#     --no-cache        download everything
#     --epochs N        quickstart epochs (default 1)
#     --keep            keep the root afterwards (unmounted) for debugging
#
# Needs root, debootstrap, git, util-linux (bash scripts/setup-deps.sh --ci).
# Safety: everything runs in a private mount namespace (unshare), so no mount made here
# is ever seen outside it, and it ends with the last process in it. On every exit path
# (success, failure, INT, TERM, HUP) the trap first stops the processes running in the
# root, then unmounts everything mounted under it, checks that nothing is left mounted,
# and only then removes it (rm --one-file-system); with anything still mounted it
# removes nothing and fails.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
repo=$here
commit=""
shared=""
shared_given=0
base=${FRESH_ROOT_BASE:-/var/tmp}
root=""
mirror=http://deb.debian.org/debian
security_mirror=http://deb.debian.org/debian-security
cache_dir=/var/cache/mtfl-fresh-root
epochs=1
keep=0

orig_args=("$@")
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case "$1" in
    --repo) repo=$2; shift 2 ;;
    --commit) commit=$2; shift 2 ;;
    --shared) shared=$2; shared_given=1; shift 2 ;;
    --base) base=$2; shift 2 ;;
    --root) root=$2; shift 2 ;;
    --mirror) mirror=$2; shift 2 ;;
    --cache-dir) cache_dir=$2; shift 2 ;;
    --no-cache) cache_dir=""; shift ;;
    --epochs) epochs=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "fresh-root: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

die() { echo "fresh-root: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "must run as root (debootstrap, mount, chroot)"
for tool in debootstrap git unshare chroot mount umount; do
  command -v "$tool" >/dev/null || die "$tool not found: bash scripts/setup-deps.sh --ci"
done

# --- a private mount namespace: re-run this script inside one ----------------------
if [ "${MTFL_FRESH_ROOT_NS:-}" != "$$" ]; then
  # exec keeps the pid, which tells the inner run that it is the one inside.
  export MTFL_FRESH_ROOT_NS=$$
  exec unshare --mount --propagation private -- bash "$0" "${orig_args[@]}"
fi

# --- what is tested --------------------------------------------------------------------
if [ -d "$repo" ]; then
  repo=$(cd "$repo" && git rev-parse --show-toplevel)
  commit=$(git -C "$repo" rev-parse --verify "${commit:-HEAD}^{commit}")
  if [ -n "$(git -C "$repo" status --porcelain --untracked-files=no)" ]; then
    echo "fresh-root: note: $repo has uncommitted changes; testing commit $commit only"
  fi
  [ $shared_given -eq 1 ] || shared=$(dirname "$repo")/shared
fi
name=$(basename "${repo%/}" .git)
[[ "$name" =~ ^[A-Za-z0-9._-]+$ ]] || name=repo

timings=()
phase_start=0
phase_name=""
begin() { phase_name=$1; phase_start=$(date +%s); echo "fresh-root: == $1"; }
end() {
  local s=$(( $(date +%s) - phase_start ))
  timings+=("$(printf '%-44s %5d s' "$phase_name" "$s")")
  echo "fresh-root: == $phase_name: $s s"
  phase_name=""
}
t_start=$(date +%s)

# Mount points at or under the root, deepest first (mountinfo field 5; our root path has
# no characters that mountinfo escapes).
mounts_under() {
  awk -v r="$root" '$5 == r || index($5, r "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r
}

# Processes whose root directory is the chroot (what runs inside it).
procs_in_root() {
  local p r
  for p in /proc/[0-9]*; do
    r=$(readlink "$p/root" 2>/dev/null) || continue
    if [ "$r" = "$root" ] || [[ "$r" == "$root"/* ]]; then echo "${p#/proc/}"; fi
  done
}

cleanup() {
  local rc=$1 pids m left i
  trap '' INT TERM HUP
  set +e
  if [ -n "$phase_name" ]; then
    timings+=("$(printf '%-44s %5d s (interrupted or failed)' "$phase_name" $(( $(date +%s) - phase_start )))")
  fi
  # 1. stop what still runs: the phase's process group (debootstrap runs outside the
  # root) and whatever runs inside the root
  if [ -n "$bg_pid" ] && kill -0 "$bg_pid" 2>/dev/null; then
    kill -TERM -- "-$bg_pid" 2>/dev/null || kill -TERM "$bg_pid" 2>/dev/null
    for i in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$bg_pid" 2>/dev/null || break; sleep 1; done
    kill -KILL -- "-$bg_pid" 2>/dev/null || kill -KILL "$bg_pid" 2>/dev/null
  fi
  pids=$(procs_in_root)
  if [ -n "$pids" ]; then
    echo "fresh-root: stopping processes in the root: $(echo $pids)"
    kill -TERM $pids 2>/dev/null
    for i in 1 2 3 4 5 6 7 8 9 10; do
      sleep 1
      pids=$(procs_in_root)
      [ -n "$pids" ] || break
    done
    [ -z "$pids" ] || kill -KILL $pids 2>/dev/null
    sleep 1
  fi
  # 2. unmount everything under the root, deepest first; lazily when busy
  for i in 1 2 3 4 5; do
    left=$(mounts_under)
    [ -n "$left" ] || break
    for m in $left; do
      umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || echo "fresh-root: cannot unmount $m" >&2
    done
  done
  [ -z "$log" ] || rm -f "$log"
  # 3. remove it only when nothing is mounted under it any more
  left=$(mounts_under)
  if [ -n "$left" ]; then
    echo "fresh-root: still mounted under $root, NOT removing it:" >&2
    echo "$left" >&2
    [ "$rc" -ne 0 ] || rc=1
  elif [ "$keep" -eq 1 ]; then
    echo "fresh-root: kept $root (unmounted; to enter it again:"
    echo "  unshare -m --propagation private sh -c 'for d in proc sys dev dev/pts; do mount --bind /\$d $root/\$d; done; chroot $root bash'"
    echo "  and remove it with: rm -rf --one-file-system $root)"
  elif [ -d "$root" ]; then
    rm -rf --one-file-system -- "$root" || { echo "fresh-root: could not remove all of $root" >&2; [ "$rc" -ne 0 ] || rc=1; }
  fi
  echo "fresh-root: timings"
  for m in "${timings[@]}"; do echo "  $m"; done
  printf '  %-44s %5d s\n' total $(( $(date +%s) - t_start ))
  if [ "$rc" -eq 0 ]; then
    echo "fresh-root: OK: the README's commands pass on a fresh Debian 12 root (commit ${commit:-?})"
  else
    echo "fresh-root: FAILED (exit $rc)${phase_failed:+ in: $phase_failed}" >&2
  fi
  exit "$rc"
}
# --- the root: made here, removed by cleanup from the moment it exists ----------------
safe_path() { [[ "$1" =~ ^/[A-Za-z0-9._/-]+$ && "$1" != *..* ]]; }
if [ -n "$root" ]; then
  [ ! -e "$root" ] || die "--root $root exists: the root must be new"
  mkdir -p "$(dirname "$root")"
  root=$(cd "$(dirname "$root")" && pwd)/$(basename "$root")
  mkdir "$root"
else
  mkdir -p "$base"
  root=$(mktemp -d "$(cd "$base" && pwd)/mtfl-fresh-root.XXXXXX")
fi
chmod 0755 "$root"   # it becomes /: mktemp's 0700 would lock out apt's _apt user
safe_path "$root" && [ "$root" != / ] && [ "$(dirname "$root")" != / ] \
  || { rmdir "$root" 2>/dev/null; die "refusing root path '$root' (plain characters, two levels deep at least)"; }

phase_failed=""
log=""
bg_pid=""
trap 'cleanup $?' EXIT
trap 'echo "fresh-root: interrupted" >&2; exit 130' INT
trap 'echo "fresh-root: terminated" >&2; exit 143' TERM
trap 'exit 129' HUP

log=$root.debootstrap.log
echo "fresh-root: root $root, repository $repo${commit:+ at $commit}"

# --- 1. debootstrap ------------------------------------------------------------------------
begin "debootstrap (minbase bookworm)"
cache_args=()
if [ -n "$cache_dir" ]; then
  mkdir -p "$cache_dir/debootstrap" "$cache_dir/apt-archives/partial"
  cache_args=(--cache-dir="$(cd "$cache_dir/debootstrap" && pwd)")
fi
setsid debootstrap --variant=minbase "${cache_args[@]}" bookworm "$root" "$mirror" \
  >"$log" 2>&1 &
bg_pid=$!
wait $bg_pid || { phase_failed=debootstrap; tail -n 30 "$log" >&2; exit 1; }
bg_pid=""
echo "fresh-root: $(grep -c '^I: Unpacking' "$log" || true) packages unpacked"
end

# --- 2. prepare: network, apt sources, mounts, the clone and shared --------------------
begin "prepare (sources, mounts, clone, shared)"
cp -L /etc/resolv.conf "$root/etc/resolv.conf"
# The mirror and suites the host uses: bookworm, its updates and security updates.
rm -f "$root/etc/apt/sources.list"
cat >"$root/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $mirror
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $security_mirror
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
mount --bind /proc "$root/proc"
mount --bind /sys "$root/sys"
mount --bind /dev "$root/dev"
mount --bind /dev/pts "$root/dev/pts"
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$root/dev/shm"
if [ -n "$cache_dir" ]; then
  # apt's downloads survive the root (apt checks each against the index's hash)
  mount --bind "$(cd "$cache_dir/apt-archives" && pwd)" "$root/var/cache/apt/archives"
fi

mkdir -p "$root/work"
dest=$root/work/$name
git clone -q --no-checkout --no-hardlinks "$repo" "$dest"
if [ -z "$commit" ]; then commit=$(git -C "$dest" rev-parse --verify "HEAD^{commit}"); fi
git -C "$dest" cat-file -e "$commit^{commit}" 2>/dev/null || git -C "$dest" fetch -q "$repo" "$commit"
git -C "$dest" checkout -q --detach "$commit"
echo "fresh-root: cloned $(git -C "$dest" log -1 --format='%h %s' | cut -c1-100)"
if [ -n "$shared" ] && [ "$shared" != none ]; then
  if [ -d "$shared" ]; then
    cp -a "$shared" "$root/work/shared"
    echo "fresh-root: copied $shared ($(du -sh "$root/work/shared" | cut -f1)) to /work/shared"
  else
    echo "fresh-root: note: no $shared: the quickstart trains on synthetic faces"
  fi
fi
end

# --- 3. the README's commands, as root in the chroot ----------------------------------------
# A clean environment: what a root shell on a fresh machine has, nothing of the host's.
in_root() {
  setsid chroot "$root" /usr/bin/env -i HOME=/root TERM=dumb CI="${CI:-}" \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    bash -c "cd /work/$name && $1" </dev/null &
  bg_pid=$!
  local rc=0
  wait $bg_pid || rc=$?
  bg_pid=""
  return $rc
}

begin "bash scripts/quickstart.sh --epochs $epochs"
in_root "bash scripts/quickstart.sh --epochs $epochs" || { phase_failed=quickstart; exit 1; }
end

begin "bash scripts/test.sh"
in_root "bash scripts/test.sh" || { phase_failed=test; exit 1; }
end
