#!/usr/bin/env bash
# Records the channels fixture from the host's sshd with `sshaudit record --events` (root): one
# connection multiplexed by the client (ControlMaster) carrying four session channels: an exec that
# exits 3, an exec whose command daemonises (setsid, double fork) and runs a command after its channel
# ended while the next channel is open, a shell with a terminal (-tt) that exits 5, and the sftp
# subsystem while that shell is open. The recorder follows every sshd on the machine: the replay test keeps this port's session.
#   Tests/SSHAuditCoreTests/Fixtures/record-fixtures-channels.sh [path/to/sshaudit]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
harness=$here/../../Integration/sshd-harness.sh
bin=${1:-$here/../../../.build/debug/sshaudit}
dir=/run/sshaudit-test/chan-fixtures
port=22600
ctl=/tmp/chan-fixture-$$.sock
(( EUID == 0 )) || { echo "record-fixtures-channels: must run as root" >&2; exit 1; }
bash "$harness" setup "$dir" >/dev/null
bash "$harness" start "$dir" "$port" file listener -- -o 'Subsystem=sftp /usr/lib/openssh/sftp-server' >/dev/null

name=channels
rm -f "$dir/$name.db"*
"$bin" record --db "$dir/$name.db" --events "$here/$name.events" 2>"$dir/$name.log" &
rec=$!
trap 'kill -INT $rec 2>/dev/null || true; bash "$harness" stop "$dir" "$port"' EXIT
until grep -q recording "$dir/$name.log"; do sleep 0.05; done
sleep 0.3
mux=(-o ControlPath="$ctl")
bash "$harness" ssh "$dir" "$port" sa_alice -o ControlMaster=yes -o ControlPersist=no "${mux[@]}" -fN
bash "$harness" ssh "$dir" "$port" sa_alice "${mux[@]}" '/bin/echo one; exit 3' || true
bash "$harness" ssh "$dir" "$port" sa_alice "${mux[@]}" \
  'setsid /bin/sh -c "(sleep 1; /bin/echo chan-daemon) &" </dev/null >/dev/null 2>&1; exit 0'
bash "$harness" ssh "$dir" "$port" sa_alice "${mux[@]}" -tt <<<$'/bin/echo in-shell\nsleep 2.5\nexit 5' &
shell=$!
sleep 0.8   # the sftp channel opens while the shell's is open
sftp -q -b - -P "$port" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR \
  "${mux[@]}" sa_alice@127.0.0.1 <<<'ls /' >/dev/null
wait "$shell" || true
ssh "${mux[@]}" -O exit -p "$port" sa_alice@127.0.0.1 2>/dev/null || true
sleep 0.5
bash "$harness" stop "$dir" "$port"
sleep 0.3
kill -INT "$rec"; wait "$rec"
trap - EXIT
ls -la "$here/$name.events"
