#!/usr/bin/env bash
# A Debian root tree with that release's OpenSSH, for running another sshd in a chroot
# (see sshd-harness.sh, SSHD_HARNESS_ROOT).
#
#   debian-root.sh ensure SUITE ROOT   build ROOT once (debootstrap), mount /proc /dev /dev/pts into it; prints sshd's version
#   debian-root.sh umount ROOT         undo those bind mounts
#
# SUITE: bullseye (Debian 11, OpenSSH 8.4) or trixie (Debian 13, OpenSSH 10.0). Must run as root.
# ROOT must be an absolute path on a local file system; its parent is created.
# The tree is built in a temporary sibling directory and renamed to ROOT only when complete, under
# a lock (ROOT.lock), so concurrent callers wait for one build and never see a half-built tree.
# Environment: DEBIAN_MIRROR (default http://deb.debian.org/debian).
# trixie-root.sh ensure ROOT is this script's "ensure trixie ROOT".
set -euo pipefail

die() { echo "debian-root: $*" >&2; exit 1; }
usage() { sed -n '5,6s/^#  *//p' "$0" >&2; exit 2; }

MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
SUITE=
PACKAGES=openssh-server,openssh-client,sshpass
MOUNTS=(proc dev dev/pts)   # mounted in this order, unmounted in reverse

need_root() { (( EUID == 0 )) || die "must run as root"; }
need_tree_arg() {
  [[ -n ${1:-} ]] || usage
  [[ $1 == /* ]] || die "ROOT must be an absolute path: $1"
  ROOT=$(realpath -m -- "$1")
  [[ $ROOT != / ]] || die "ROOT must not be /"
}

# The binaries a SUITE's tree must have: sshd (and from OpenSSH 9.8 on sshd-session), the clients
# the harness may use, useradd.
SUITE_FILES=()
need_suite() {
  SUITE=${1:-}
  [[ -n $SUITE ]] || usage
  SUITE_FILES=(usr/sbin/sshd usr/bin/ssh usr/bin/sshpass usr/sbin/useradd)
  case $SUITE in
    bullseye) ;;
    trixie)   SUITE_FILES+=(usr/lib/openssh/sshd-session) ;;
    *)        die "unsupported SUITE: $SUITE (bullseye or trixie)" ;;
  esac
}

# A usable tree: SUITE's os-release and SUITE_FILES.
tree_ok() {
  local r=$1 f
  [[ -d $r ]] || return 1
  grep -qx "VERSION_CODENAME=$SUITE" "$r/etc/os-release" 2>/dev/null || return 1
  for f in "${SUITE_FILES[@]}"; do
    [[ -x $r/$f ]] || return 1
  done
}

# Unmount everything at or below $1 (deepest first); fail if something stays mounted.
umount_below() {
  local d=$1 m
  [[ -d $d ]] || return 0
  d=$(realpath -- "$d")
  while read -r m; do
    [[ -n $m ]] || continue
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
  done < <(awk -v d="$d" '{ gsub(/\\040/, " ", $5); if ($5 == d || index($5, d "/") == 1) print $5 }' /proc/self/mountinfo | sort -r)
  ! awk -v d="$d" '$5 == d || index($5, d "/") == 1 { f = 1 } END { exit !f }' /proc/self/mountinfo
}

# Remove a (temporary) tree safely: no mount below it may survive, and rm never leaves its file system.
remove_tree() {
  local d=$1
  [[ -e $d ]] || return 0
  kill_in_tree "$d"
  umount_below "$d" || { echo "debian-root: still mounted below $d, not removing it" >&2; return 1; }
  rm -rf --one-file-system -- "$d"
}

# Kill processes whose root directory is inside $1 (a daemon a maintainer script may have started).
kill_in_tree() {
  local d p r pids=()
  d=$(realpath -- "$1")
  for p in /proc/[0-9]*; do
    r=$(readlink "$p/root" 2>/dev/null) || continue
    [[ $r == "$d" || $r == "$d"/* ]] && pids+=("${p#/proc/}")
  done
  (( ${#pids[@]} )) || return 0
  kill -TERM "${pids[@]}" 2>/dev/null || true
  sleep 0.5
  kill -KILL "${pids[@]}" 2>/dev/null || true
}

need_debootstrap() {
  command -v debootstrap >/dev/null && return 0
  echo "debian-root: installing debootstrap" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null 2>&1 ||
    { apt-get update -qq >/dev/null 2>&1 &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null 2>&1; } ||
    die "could not install debootstrap with apt-get"
  command -v debootstrap >/dev/null || die "debootstrap still missing after apt-get install"
}

TMP=
cleanup_tmp() { [[ -z $TMP ]] || remove_tree "$TMP" || true; }

build_tree() {
  local parent base log
  parent=$(dirname "$ROOT"); base=$(basename "$ROOT")
  # Never replace something else: only a missing ROOT or an empty directory is built over.
  if [[ -e $ROOT || -L $ROOT ]]; then
    [[ -d $ROOT && ! -L $ROOT && -z $(ls -A -- "$ROOT") ]] || die "$ROOT exists and is not a $SUITE tree (remove it first)"
  fi
  need_debootstrap
  # Leftovers of a build that was killed (we hold the lock: nobody else is building).
  local old
  for old in "$parent/.$base.build."*; do
    if [[ -e $old ]]; then remove_tree "$old" || die "cannot remove the stale build $old"; fi
  done
  TMP=$(mktemp -d "$parent/.$base.build.XXXXXX")
  trap cleanup_tmp EXIT
  log=$TMP.log
  echo "debian-root: building $ROOT with debootstrap ($SUITE, $MIRROR)" >&2
  if ! debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$TMP" "$MIRROR" > "$log" 2>&1; then
    local why; why=$(grep -E '^(E|W):' "$log" | tail -n1); [[ -n $why ]] || why=$(grep . "$log" | tail -n1)
    cp -f "$log" "$parent/.$base.debootstrap-failed.log" 2>/dev/null || true
    rm -f "$log"
    die "debootstrap failed: ${why:-no output} (log: $parent/.$base.debootstrap-failed.log)"
  fi
  rm -f "$log"
  kill_in_tree "$TMP"                         # nothing may keep running from the new tree
  umount_below "$TMP" || die "debootstrap left mounts below $TMP"
  tree_ok "$TMP" || die "debootstrap finished but $TMP lacks $SUITE's ${SUITE_FILES[*]}"
  chmod 0755 "$TMP"                           # mktemp made it 0700; sshd's StrictModes checks "/" too
  if [[ -d $ROOT ]]; then rmdir -- "$ROOT" 2>/dev/null || die "$ROOT exists and is not a $SUITE tree (remove it)"; fi
  [[ ! -e $ROOT ]] || die "$ROOT exists and is not a directory"
  mv -T -- "$TMP" "$ROOT"
  TMP=; trap - EXIT
}

mount_all() {
  local m
  for m in "${MOUNTS[@]}"; do
    install -d -m 0755 "$ROOT/$m"
    if ! mountpoint -q "$ROOT/$m"; then
      mount --bind "/$m" "$ROOT/$m" || die "could not bind-mount /$m on $ROOT/$m"
      # Don't let mounts made below ROOT/dev propagate back into the host's /dev (shared mounts).
      mount --make-rslave "$ROOT/$m" 2>/dev/null || true
    fi
  done
}

cmd_ensure() {
  need_root; need_suite "${1:-}"; need_tree_arg "${2:-}"
  (( $# == 2 )) || usage
  install -d -m 0755 "$(dirname "$ROOT")"
  local fd
  exec {fd}> "$ROOT.lock" || die "cannot open lock file $ROOT.lock"
  flock -w 1800 "$fd" || die "timed out waiting for the lock $ROOT.lock"
  tree_ok "$ROOT" || build_tree
  install -d -o root -g root -m 0755 "$ROOT/run/sshd"
  mount_all
  local v
  v=$(chroot "$ROOT" /usr/sbin/sshd -V 2>&1) && [[ $v == OpenSSH* ]] || v=$(chroot "$ROOT" /usr/bin/ssh -V 2>&1) ||
    die "cannot run ssh in $ROOT: $v"
  [[ $v == OpenSSH* ]] || die "unexpected version output from $ROOT: $v"
  echo "$v"
}

cmd_umount() {
  need_root; need_tree_arg "${1:-}"
  (( $# == 1 )) || usage
  local i m
  for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do
    m=$ROOT/${MOUNTS[i]}
    if [[ ! -d $m ]] || ! mountpoint -q "$m"; then continue; fi
    umount "$m" 2>/dev/null || die "could not unmount $m (busy: is an sshd still running in $ROOT?)"
  done
}

sub=${1:-}; shift || true
case $sub in
  ensure) cmd_ensure "$@" ;;
  umount) cmd_umount "$@" ;;
  *)      usage ;;
esac
