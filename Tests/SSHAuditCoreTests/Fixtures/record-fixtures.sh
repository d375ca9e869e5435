#!/usr/bin/env bash
# Re-records the event-stream fixtures from a real sshd with `sshaudit record --events` (root).
# Each fixture is one scenario on its own listener; the correlator tests replay them.
#   Tests/SSHAuditCoreTests/Fixtures/record-fixtures.sh [path/to/sshaudit]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
harness=$here/../../Integration/sshd-harness.sh
bin=${1:-$here/../../../.build/debug/sshaudit}
dir=/run/sshaudit-fixtures
port=22390
bash "$harness" setup "$dir" >/dev/null

record() {  # record NAME COMMAND...: run COMMAND while recording into NAME.events
  local name=$1; shift
  bash "$harness" start "$dir" "$port" >/dev/null
  rm -f "$dir/$name.db"*
  "$bin" record --db "$dir/$name.db" --events "$here/$name.events" 2>"$dir/$name.log" &
  local rec=$!
  until grep -q recording "$dir/$name.log"; do sleep 0.05; done
  "$@" || true
  sleep 0.5
  bash "$harness" stop "$dir" "$port"
  sleep 0.3
  kill -INT "$rec"; wait "$rec"
}

ssh_as() { bash "$harness" ssh "$dir" "$port" "$@"; }

record exec_command ssh_as sa_alice 'echo hello; /bin/ls / >/dev/null; exit 3'
record interactive_tty sh -c "printf 'cd /tmp\nid -u\nexit\n' | bash '$harness' ssh '$dir' $port sa_alice -tt"
record parallel_10 sh -c "for i in 0 1 2 3 4 5 6 7 8 9; do bash '$harness' ssh '$dir' $port sa_bob \"/bin/echo par-\$i\" & done; wait"
record failed_password bash "$harness" sshpass "$dir" "$port" sa_bob wrong-password true
ls -la "$here"/*.events
