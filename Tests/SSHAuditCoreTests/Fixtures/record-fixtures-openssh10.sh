#!/usr/bin/env bash
# Records event-stream fixtures from a real OpenSSH 10.x sshd with `sshaudit record --events` (root):
# Debian 13's sshd (sshd-session, sshd-auth) running in a chroot built by trixie-root.sh, driven by
# the host's ssh/sshpass clients. Each fixture is one scenario on its own listener.
#   Tests/SSHAuditCoreTests/Fixtures/record-fixtures-openssh10.sh [path/to/sshaudit]
# Environment: TRIXIE_ROOT (default /var/lib/sshaudit-test/trixie) is built on first use.
# The recorder sees every sshd on the machine: the script waits until no other sshd listener runs.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
harness=$here/../../Integration/sshd-harness.sh
trixie=$here/../../Integration/trixie-root.sh
bin=${1:-$here/../../../.build/debug/sshaudit}
root=${TRIXIE_ROOT:-/var/lib/sshaudit-test/trixie}
dir=/run/sshaudit-fixtures-openssh10   # as sshd sees it; on the host: $root$dir
port=22391
export SSHD_HARNESS_ROOT=$root

die() { echo "record-fixtures-openssh10: $*" >&2; exit 1; }
(( EUID == 0 )) || die "must run as root"
[[ -x $bin ]] || die "no sshaudit binary at $bin (swift build first, or pass its path)"
version=$(bash "$trixie" ensure "$root") || die "could not prepare $root"
[[ $version == OpenSSH_10.* ]] || die "expected OpenSSH 10.x in $root, found: $version"
bash "$harness" setup "$dir" >/dev/null
hdir=$root$dir

# sshd listeners other than ours (comm sshd whose parent is not sshd), which would leak into the fixture.
others() {
  local ours=${1:-0}
  ps -e -o pid=,ppid=,comm= | awk -v ours="$ours" '
    { comm[$1] = $3; parent[$1] = $2 }
    END { for (p in comm) if (comm[p] == "sshd" && comm[parent[p]] != "sshd" && p != ours) print p }'
}

rec=
cleanup() {   # on any exit: nothing we started may keep running
  [[ -z $rec ]] || { kill -INT "$rec" 2>/dev/null; wait "$rec" 2>/dev/null || true; }
  bash "$harness" stop "$dir" "$port" || true
}
trap cleanup EXIT

record() {  # record NAME COMMAND...: run COMMAND while recording into NAME.events
  local name=$1; shift
  local listener i
  bash "$harness" stop "$dir" "$port"
  # Also keeps our sshd out of another recorder's way (e.g. integration tests running meanwhile).
  for ((i = 0; i < 600; i++)); do [[ -z $(others) ]] && break; sleep 0.5; done
  [[ -z $(others) ]] || die "other sshd listeners keep running ($(others | xargs)): they would be recorded too"
  listener=$(bash "$harness" start "$dir" "$port")
  [[ -z $(others "$listener") ]] || die "another sshd listener started meanwhile ($(others "$listener" | xargs))"
  rm -f "$hdir/$name.db"*
  "$bin" record --db "$hdir/$name.db" --events "$here/$name.events" 2>"$hdir/$name.log" &
  rec=$!
  for ((i = 0; i < 300; i++)); do
    grep -q recording "$hdir/$name.log" && break
    kill -0 "$rec" 2>/dev/null || die "recorder exited: $(tail -n1 "$hdir/$name.log")"
    sleep 0.05
  done
  grep -q recording "$hdir/$name.log" || die "recorder not ready after 15 s"
  "$@" || true
  sleep 0.5
  bash "$harness" stop "$dir" "$port"
  sleep 0.3
  kill -INT "$rec"; wait "$rec"; rec=
  cp "$hdir/sshd_$port.log" "$hdir/$name.sshd.log"   # what sshd itself logged, to compare with
}

# Lines of a recorded stream that belong to another sshd (one started by someone else meanwhile:
# the recorder follows every sshd binary exec'd on the machine).
foreign() {
  "$bin" events "$1" | grep -E 'sshd_config_|accept ' | grep -vF -e "$dir/sshd_config_$port" -e "127.0.0.1:$port" || true
}

record_clean() {  # record_clean NAME COMMAND...: record, again while another sshd got into the stream
  local name=$1 try
  for ((try = 1; try <= 5; try++)); do
    record "$@"
    [[ -z $(foreign "$here/$name.events") ]] && return 0
    echo "record-fixtures-openssh10: $name: another sshd ran meanwhile, recording again" >&2
    sleep 5
  done
  die "$name: could not record without other sshd instances interfering"
}

ssh_as() { bash "$harness" ssh "$dir" "$port" "$@"; }

record_clean openssh10_exec_command ssh_as sa_alice 'echo hello; /bin/ls / >/dev/null; exit 3'
record_clean openssh10_interactive_tty sh -c "printf 'cd /tmp\nid -u\nexit\n' | bash '$harness' ssh '$dir' $port sa_alice -tt"
record_clean openssh10_failed_password bash "$harness" sshpass "$dir" "$port" sa_bob wrong-password true
echo "$version"
ls -la "$here"/openssh10_*.events
