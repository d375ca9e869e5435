#!/usr/bin/env bash
# Re-records the terminal recording fixture (record --tty output) from the host's sshd (root):
# an interactive ssh -tt session that computes 6*7, then `ssh host 'echo $((6*7)); echo err >&2'`.
# Other sshds on the machine may appear in the stream: the test keeps this port's sessions.
#   Tests/SSHAuditCoreTests/Fixtures/record-fixtures-tty.sh [path/to/sshaudit]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
harness=$here/../../Integration/sshd-harness.sh
bin=${1:-$here/../../../.build/debug/sshaudit}
dir=/run/sshaudit-test/tty-fixtures
port=22599
bash "$harness" setup "$dir" >/dev/null
bash "$harness" start "$dir" "$port" >/dev/null
rm -f "$dir/tty.db"*
"$bin" record --db "$dir/tty.db" --events "$here/tty_output.events" --tty output 2>"$dir/tty.log" &
rec=$!
until grep -q recording "$dir/tty.log"; do sleep 0.05; done
printf 'echo $((6*7))\nexit\n' | bash "$harness" ssh "$dir" "$port" sa_alice -tt >/dev/null
bash "$harness" ssh "$dir" "$port" sa_alice 'echo $((6*7)); echo err >&2' >/dev/null 2>&1
sleep 0.5
bash "$harness" stop "$dir" "$port"
sleep 0.3
kill -INT "$rec"; wait "$rec"
ls -la "$here/tty_output.events"
