#!/usr/bin/env bash
# Records the refusals fixture from the host's sshd with `sshaudit record --events` (root): eight
# clients at once, each with one wrong password, against MaxStartups 2:100:3 at LogLevel VERBOSE, so
# that the listener drops some before forking (and logs "drop connection"), then one key login. The
# recorder follows every sshd on the machine: the replay test keeps what belongs to this port.
#   Tests/SSHAuditCoreTests/Fixtures/record-fixtures-refusals.sh [path/to/sshaudit]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
harness=$here/../../Integration/sshd-harness.sh
bin=${1:-$here/../../../.build/debug/sshaudit}
dir=/run/sshaudit-test/refuse-fixtures
port=22623
(( EUID == 0 )) || { echo "record-fixtures-refusals: must run as root" >&2; exit 1; }
bash "$harness" setup "$dir" >/dev/null
bash "$harness" start "$dir" "$port" -- -o MaxStartups=2:100:3 -o LogLevel=VERBOSE >/dev/null

name=refusals
rm -f "$dir/$name.db"*
"$bin" record --db "$dir/$name.db" --events "$here/$name.events" 2>"$dir/$name.log" &
rec=$!
trap 'kill -INT $rec 2>/dev/null || true; bash "$harness" stop "$dir" "$port"' EXIT
until grep -q recording "$dir/$name.log"; do sleep 0.05; done
sleep 0.3
for i in 1 2 3 4 5 6 7 8; do
  bash "$harness" sshpass "$dir" "$port" sa_bob "Wrong-Pw-$i" -o NumberOfPasswordPrompts=1 true >/dev/null 2>&1 &
done
wait $(jobs -p | grep -v "^$rec$") 2>/dev/null || true
sleep 0.5
bash "$harness" ssh "$dir" "$port" sa_alice true
sleep 0.5
bash "$harness" stop "$dir" "$port"
sleep 0.3
kill -INT "$rec"; wait "$rec"
trap - EXIT
grep -c "drop connection" "$dir/sshd_$port.log" || true
ls -la "$here/$name.events"
