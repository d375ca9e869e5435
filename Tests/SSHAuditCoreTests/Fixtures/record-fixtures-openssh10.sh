#!/usr/bin/env bash
# Records event-stream fixtures from a real OpenSSH 10.x sshd with `sshaudit record --events` (root):
# Debian 13's sshd (sshd-session, sshd-auth) running in a chroot built by trixie-root.sh, driven by
# the host's ssh/sshpass clients. Each fixture is one scenario on its own listener.
#   Tests/SSHAuditCoreTests/Fixtures/record-fixtures-openssh10.sh [path/to/sshaudit]
# Environment: TRIXIE_ROOT (default /var/lib/sshaudit-test/trixie) is built on first use.
# The recorder follows every sshd on the machine: waits (up to 60 s) for other sshd listeners to go,
# records again (up to 5 times) when another sshd did something during the recording, and drops idle
# other listeners (and their open sessions) from the recorded header.
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

# sshd listeners (comm sshd whose parent is not sshd): another one's events could leak into the fixture.
others() {
  ps -e -o pid=,ppid=,comm= | awk '
    { comm[$1] = $3; parent[$1] = $2 }
    END { for (p in comm) if (comm[p] == "sshd" && comm[parent[p]] != "sshd") print p }'
}

rec=''
listener=''
cleanup() {   # on any exit: nothing we started may keep running
  [[ -z $rec ]] || { kill -INT "$rec" 2>/dev/null; wait "$rec" 2>/dev/null || true; }
  bash "$harness" stop "$dir" "$port" || true
}
trap cleanup EXIT

record() {  # record NAME COMMAND...: run COMMAND while recording into NAME.events
  local name=$1; shift
  local i
  bash "$harness" stop "$dir" "$port"
  # Prefer a quiet machine (this also keeps our sshd out of other recorders' way); a listener that
  # stays idle is harmless, foreign() below rejects a stream in which another sshd did anything.
  for ((i = 0; i < 120; i++)); do [[ -z $(others) ]] && break; sleep 0.5; done
  [[ -z $(others) ]] || echo "record-fixtures-openssh10: $name: other sshd listeners running: $(others | xargs)" >&2
  listener=$(bash "$harness" start "$dir" "$port")
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

# Lines of a recorded stream that belong to another sshd (the recorder follows every sshd on the
# machine): events of processes outside our listener's fork tree, and closes of other connections
# (reported with pid 0). Lines: "TIME PID ppid=… … fork → CHILD", "… accept A → B socket=ID",
# "TIME 0 … connection closed socket=ID …".
foreign() {
  "$bin" events "$1" | awk -v ours="$2" '
    function socket() { return match($0, /socket=[0-9a-fA-F]+/) ? substr($0, RSTART + 7, RLENGTH - 7) : "" }
    BEGIN { mine[ours] = 1 }
    $2 in mine {
      if ($(NF - 2) == "fork" && $(NF - 1) == "→") mine[$NF] = 1
      if ($0 ~ /\] accept / && socket() != "") socks[socket()] = 1
      next
    }
    $2 == 0 && socket() in socks { next }
    { print }'
}

# The header's start-up scan lists every sshd listener and open session on the machine. Keep only
# ours: another, idle sshd (verified by foreign()) is no part of the scenario.
scrub_header() {  # scrub_header FILE LISTENER_PID
  python3 - "$1" "$2" <<'PY' || die "could not rewrite the header of $1"
import json, sys
path, ours = sys.argv[1], sys.argv[2]
with open(path, "rb") as f:
    data = f.read()
nl = data.index(b"\n")
h = json.loads(data[:nl])
listeners = {k: v for k, v in h.get("listeners", {}).items() if k == ours}
sessions = [s for s in h.get("sessions", []) if str(s.get("listenerPid")) == ours]
if listeners == h.get("listeners", {}) and sessions == h.get("sessions", []):
    sys.exit(0)
dropped = sorted(set(h.get("listeners", {})) - set(listeners))
h["listeners"], h["sessions"] = listeners, sessions
# As the recorder writes it (Foundation's JSONEncoder, sorted keys): compact, "/" escaped.
line = json.dumps(h, sort_keys=True, separators=(",", ":"), ensure_ascii=False).replace("/", "\\/")
with open(path + ".tmp", "wb") as f:
    f.write(line.encode() + data[nl:])
import os
os.replace(path + ".tmp", path)
print(f"record-fixtures-openssh10: {os.path.basename(path)}: dropped other sshd listeners {' '.join(dropped)} from the header", file=sys.stderr)
PY
}

record_clean() {  # record_clean NAME COMMAND...: record, again while another sshd got into the stream
  local name=$1 try
  listener=
  for ((try = 1; try <= 5; try++)); do
    record "$@"
    if [[ -z $(foreign "$here/$name.events" "$listener") ]]; then
      scrub_header "$here/$name.events" "$listener"
      return 0
    fi
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
