#!/usr/bin/env bash
# A Debian 13 "trixie" root tree with OpenSSH 10.x, for running a newer sshd in a chroot
# (see sshd-harness.sh, SSHD_HARNESS_ROOT). A thin wrapper of debian-root.sh (ensure trixie ROOT):
#
#   trixie-root.sh ensure ROOT   build ROOT once (debootstrap), mount /proc /dev /dev/pts into it; prints sshd's version
#   trixie-root.sh umount ROOT   undo those bind mounts
#
# Must run as root. Environment: TRIXIE_MIRROR (default http://deb.debian.org/debian).
set -euo pipefail

usage() { sed -n '5,6s/^#  *//p' "$0" >&2; exit 2; }
debian_root=$(dirname -- "$(realpath -- "${BASH_SOURCE[0]}")")/debian-root.sh
(( $# == 2 )) || usage
case $1 in
  ensure) DEBIAN_MIRROR=${TRIXIE_MIRROR:-http://deb.debian.org/debian} exec bash "$debian_root" ensure trixie "$2" ;;
  umount) exec bash "$debian_root" umount "$2" ;;
  *)      usage ;;
esac
