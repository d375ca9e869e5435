#!/usr/bin/env bash
# Records the network-activity fixture from the host's sshd with `sshaudit record --events` (root):
# one session whose processes connect (bash's /dev/tcp builtin twice, UDP, a refused port), bind and
# listen a unix socket, beside a listener outside any session. The recorder follows every sshd on the
# machine: the replay test keeps the sessions of this port.
#   Tests/SSHAuditCoreTests/Fixtures/record-fixtures-network.sh [path/to/sshaudit]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
harness=$here/../../Integration/sshd-harness.sh
bin=${1:-$here/../../../.build/debug/sshaudit}
dir=/run/sshaudit-test/net-fixtures
port=22572
(( EUID == 0 )) || { echo "record-fixtures-network: must run as root" >&2; exit 1; }
bash "$harness" setup "$dir" >/dev/null
bash "$harness" start "$dir" "$port" >/dev/null

name=network_activity
rm -f "$dir/$name.db"*
"$bin" record --db "$dir/$name.db" --events "$here/$name.events" 2>"$dir/$name.log" &
rec=$!
/usr/bin/python3 -c '
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1", 23580)); s.listen(8)
while True:
    c, _ = s.accept(); c.close()' &
listener=$!
trap 'kill -INT $rec 2>/dev/null || true; kill $listener 2>/dev/null || true; bash "$harness" stop "$dir" "$port"' EXIT
until grep -q recording "$dir/$name.log"; do sleep 0.05; done
sleep 0.3
bash "$harness" ssh "$dir" "$port" sa_alice '
exec 3<>/dev/tcp/127.0.0.1/23580; exec 3>&-
exec 3<>/dev/tcp/127.0.0.1/23580; exec 3>&-
/usr/bin/python3 -c "
import os, socket
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.connect((\"127.0.0.1\", 23581))
f = socket.socket(); f.connect_ex((\"127.0.0.1\", 23582))
b = socket.socket(socket.AF_UNIX); b.bind(\"/tmp/net-fixture.sock\"); b.listen(1); os.unlink(\"/tmp/net-fixture.sock\")
"
true' || true
sleep 0.5
bash "$harness" stop "$dir" "$port"
sleep 0.3
kill -INT "$rec"; wait "$rec"
kill $listener
trap - EXIT
ls -la "$here/$name.events"
