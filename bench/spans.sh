#!/usr/bin/env bash
# What the span indexes (schema/0030: file and network rows that went on past their first time, by
# last_at) cost the write path, for root:
#
#   bench/spans.sh BIN BASE_BIN     (BASE_BIN: a build without schema/0030)
#
# A real session on a loopback sshd writes SPANS_FILES distinct files and makes SPANS_PORTS refused
# connects, SPANS_ROUNDS times one second apart: every row goes on past its first time, so each
# repeat the recorder stores moves the row's last_at, and its entry in the index (the worst case for
# the index: a row seen once is not in it). The recorder keeps the events log; the same log is then
# replayed by BASE_BIN and BIN in turns on one CPU, SPANS_REPS times each, and the time replay
# reports for storing its rows is compared. Writes a BENCHMARKS.md section on standard output.
# SPANS_BASE_LABEL names the base build in it (its revision).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${1:?usage: bench/spans.sh BIN BASE_BIN}
BASE_BIN=${2:?usage: bench/spans.sh BIN BASE_BIN}
HARNESS=$ROOT/Tests/Integration/sshd-harness.sh
PORT=${SPANS_PORT:-22562}
DIR=/run/sshaudit-test/spans-bench
WORK=$(mktemp -d /var/tmp/sshaudit-spans-bench.XXXXXX)
FILES=${SPANS_FILES:-3000}
PORTS=${SPANS_PORTS:-200}
ROUNDS=${SPANS_ROUNDS:-8}
REPS=${SPANS_REPS:-10}
CPU=${SPANS_CPU:-1}
LABEL=${SPANS_BASE_LABEL:-$BASE_BIN}
REC_PID=

log() { printf '[spans] %s\n' "$*" >&2; }
cleanup() {
  [[ -n $REC_PID ]] && kill -INT "$REC_PID" 2>/dev/null && wait "$REC_PID" 2>/dev/null || true
  bash "$HARNESS" stop "$DIR" "$PORT" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
[[ $(id -u) == 0 ]] || { log "run as root"; exit 1; }
[[ -x $BIN && -x $BASE_BIN ]] || { log "no binary $BIN or $BASE_BIN"; exit 1; }
. "$ROOT/bench/replay_ab.sh"

bash "$HARNESS" setup "$DIR" >/dev/null
bash "$HARNESS" start "$DIR" "$PORT" >/dev/null

log "recording $ROUNDS rounds of $FILES files and $PORTS refused connects in one session"
"$BIN" record --db "$WORK/record.db" --events "$WORK/spans.events" 2>"$WORK/rec.log" &
REC_PID=$!
until grep -q recording "$WORK/rec.log"; do kill -0 "$REC_PID" || { log "recorder died: $(cat "$WORK/rec.log")"; exit 1; }; sleep 0.05; done
# Builtins only (no fork): each file and each refused connect is one row of the shell's process.
bash "$HARNESS" ssh "$DIR" "$PORT" sa_alice "d=\$(mktemp -d) || exit 1
for r in \$(seq $ROUNDS); do
  for i in \$(seq $FILES); do : >> \$d/f\$i; done
  for p in \$(seq 40000 \$((40000 + $PORTS - 1))); do : 2>/dev/null <>/dev/tcp/127.0.0.1/\$p; done
  sleep 1
done
rm -rf \$d" >/dev/null
sleep 2
kill -INT "$REC_PID"; wait "$REC_PID" || true; REC_PID=
events=$("$BIN" events "$WORK/spans.events" | wc -l)

count_rows() {
  read -r files network versions spanning < <(sqlite3 -separator ' ' "$1" "SELECT
    (SELECT count(*) FROM file_activity), (SELECT count(*) FROM network_activity),
    (SELECT count(*) FROM ledger WHERE tbl IN ('file_activity', 'network_activity')),
    (SELECT count(*) FROM file_activity INDEXED BY file_activity_spans WHERE last_at > first_at)
      + (SELECT count(*) FROM network_activity INDEXED BY network_activity_spans WHERE last_at > first_at)")
  ops=$(sqlite3 "$1" "SELECT group_concat(op || ' ' || n || ' (' || spanning || ' spans)', ', ') FROM (SELECT op, count(*) AS n,
    sum(last_at > first_at) AS spanning FROM file_activity GROUP BY op UNION ALL SELECT op, count(*), sum(last_at > first_at)
    FROM network_activity GROUP BY op)")
}
replay_ab "$WORK/spans.events" "$BIN" "$BASE_BIN" "$REPS" "$CPU" "$WORK" count_rows || exit 1
base=$AB_BASE head=$AB_HEAD ratio=$AB_RATIO pairs=$AB_PAIRS
range() { ab_range "$1" "$WORK"; }

cat <<EOF

## Write path of file and network rows with the span indexes (bench/spans.sh)

Written by \`bench/spans.sh\` on $(date -u +%Y-%m-%d); base build: $LABEL.

One real session on a loopback sshd wrote $FILES distinct files and made $PORTS refused connects,
$ROUNDS times one second apart, all from one shell's builtins, then removed the files: each file's
write row and each connect's row went on past its first time, so each repeat stored moved its
\`last_at\` and its entry in the span index (schema/0030), the worst case for it (a row seen once,
such as each file's create and unlink here, is not in it). The recorder's events log ($events events) was replayed
by the base build (without the index) and by this one in turns, $REPS times each on CPU $CPU; the time
is replay's own for storing the rows ($files file and $network network rows in $versions versions;
$spanning rows in the span indexes; by operation: $ops).

| Build | Median s storing the rows | Min–max s |
|---|--:|--:|
| base | $base | $(range base) |
| this (span indexes) | $head | $(range head) |
| **ratio** | **$ratio** (median of the pairs' own ratios: $pairs) | |
EOF
