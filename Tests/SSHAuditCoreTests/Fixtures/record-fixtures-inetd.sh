#!/usr/bin/env bash
# Records the inetd-mode event-stream fixture from the host's sshd with `sshaudit record --events`
# (root): sshd -i started per connection by systemd-socket-activate --inetd -a (no listener), driven
# by the host's ssh/sshpass clients. The recorder follows every sshd on the machine: the replay test
# keeps the sessions of this port.
#   Tests/SSHAuditCoreTests/Fixtures/record-fixtures-inetd.sh [path/to/sshaudit]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
harness=$here/../../Integration/sshd-harness.sh
bin=${1:-$here/../../../.build/debug/sshaudit}
dir=/run/sshaudit-fixtures-inetd
port=22509
(( EUID == 0 )) || { echo "record-fixtures-inetd: must run as root" >&2; exit 1; }
bash "$harness" setup "$dir" >/dev/null

name=inetd_logins
rm -f "$dir/$name.db"*
"$bin" record --db "$dir/$name.db" --events "$here/$name.events" 2>"$dir/$name.log" &
rec=$!
trap 'kill -INT $rec 2>/dev/null || true; bash "$harness" stop "$dir" "$port"' EXIT
until grep -q recording "$dir/$name.log"; do sleep 0.05; done
bash "$harness" start "$dir" "$port" file inetd >/dev/null
bash "$harness" ssh "$dir" "$port" sa_alice 'echo hello; /bin/ls / >/dev/null; exit 3' || true
bash "$harness" sshpass "$dir" "$port" sa_bob wrong-password true || true
bash "$harness" sshpass "$dir" "$port" mallory wrong-password true || true
sleep 0.5
bash "$harness" stop "$dir" "$port"
sleep 0.3
kill -INT "$rec"; wait "$rec"
trap - EXIT
ls -la "$here/$name.events"
