#!/usr/bin/env bash
# Logins to an sshd in a root tree (chroot) against the host's sshd, recorded (as root):
#   bash bench/namespace.sh [BIN] > fragment.md
# Prints a BENCHMARKS.md section (Markdown) on standard output; progress on standard error.
# bench/run.sh calls it with the release binary and appends the section to BENCHMARKS.md.
#
# For each sshd (the host's; Debian 13's in its tree, whose names come from the tree's passwd through
# /proc/PID/root), a recorder runs while LOGINS publickey logins (`ssh … true`) go one after another.
# Reported: logins per second, the recorder's CPU time per login (user + system, from /proc), and
# how many sessions carry the right user and root (a check, not a timing).
#
# Environment (defaults in brackets):
#   NS_LOGINS [200]   logins per sshd
#   NS_TREE [/var/lib/sshaudit-test/trixie]   the Debian 13 tree (built once by trixie-root.sh)
#   NS_PORT [22650]   the host's sshd; NS_PORT + 1 the tree's
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HARNESS=$ROOT/Tests/Integration/sshd-harness.sh
BIN=${1:-}
if [[ -z $BIN ]]; then
  BIN=$ROOT/.build-bench/release/sshaudit
  [[ -x $BIN ]] || BIN=$ROOT/.build/debug/sshaudit
fi
LOGINS=${NS_LOGINS:-200}
TREE=${NS_TREE:-/var/lib/sshaudit-test/trixie}
PORT=${NS_PORT:-22650}
T0=$(date +%s)
log() { printf '[namespace %4ds] %s\n' "$(( $(date +%s) - T0 ))" "$*" >&2; }

(( EUID == 0 )) || { echo "bench/namespace.sh: must run as root" >&2; exit 1; }
[[ -x $BIN ]] || { echo "bench/namespace.sh: no sshaudit binary at $BIN" >&2; exit 1; }
bash "$ROOT/Tests/Integration/trixie-root.sh" ensure "$TREE" >/dev/null
WORK=$(mktemp -d /tmp/sshaudit-ns-bench.XXXXXX)
REC_PID=
STOP=()
cleanup() {
  [[ -n $REC_PID ]] && kill -INT "$REC_PID" 2>/dev/null && wait "$REC_PID" 2>/dev/null
  local s; for s in "${STOP[@]}"; do eval "$s" >/dev/null 2>&1 || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

# run LABEL PORT [ROOT]: one sshd, one recorder, LOGINS logins; prints a table row.
run() {
  local label=$1 port=$2 tree=${3:-} dir=/run/sshaudit-test/ns-bench-$2 env=()
  [[ -n $tree ]] && env=(SSHD_HARNESS_ROOT="$tree")
  env "${env[@]}" flock /run/sshaudit-test.lock bash "$HARNESS" setup "$dir" >/dev/null
  env "${env[@]}" bash "$HARNESS" start "$dir" "$port" >/dev/null
  STOP+=("env ${env[*]} bash $HARNESS stop $dir $port")
  local db=$WORK/$port.db
  "$BIN" record --db "$db" 2> "$WORK/rec-$port.err" &
  REC_PID=$!
  until grep -q recording "$WORK/rec-$port.err" 2>/dev/null; do sleep 0.05; done
  local start end i before
  before=$(awk '{ print $14 + $15 }' "/proc/$REC_PID/stat")   # start-up (the /proc scan) left out
  start=$(date +%s.%N)
  for (( i = 0; i < LOGINS; i++ )); do
    env "${env[@]}" bash "$HARNESS" ssh "$dir" "$port" sa_alice true >/dev/null
  done
  end=$(date +%s.%N)
  sleep 1
  local ticks; ticks=$(awk -v b="$before" '{ print $14 + $15 - b }' "/proc/$REC_PID/stat")
  kill -INT "$REC_PID"; wait "$REC_PID" || true; REC_PID=
  local want_root=${tree:-/} right
  right=$("$BIN" query sql --db "$db" "SELECT count(*) FROM sessions WHERE local_port = $port AND user = 'sa_alice' AND root = '$want_root'" --format csv | tail -1)
  awk -v l="$label" -v n="$LOGINS" -v s="$start" -v e="$end" -v t="$ticks" -v hz="$(getconf CLK_TCK)" -v r="$right" \
    'BEGIN { printf "| %s | %d | %.1f | %.2f | %d of %d |\n", l, n, n / (e - s), t * 1000 / hz / n, r, n }'
  log "$label done"
}

{
  echo "## sshd in a root tree: names from its own passwd (bench/namespace.sh)"
  echo
  echo "Publickey logins one after another (\`ssh … true\`), one recorder per sshd. CPU: the recorder's"
  echo "user + system time over the logins (its start-up left out). Right: sessions with user \`sa_alice\` and the sshd's root."
  echo
  echo "| sshd | logins | logins/s | recorder CPU ms/login | right |"
  echo "|---|---|---|---|---|"
  run "host (OpenSSH $(ssh -V 2>&1 | sed -n 's/^OpenSSH_\([^ ,]*\).*/\1/p'))" "$PORT"
  run "Debian 13 tree, chroot" "$((PORT + 1))" "$TREE"
}
