#!/usr/bin/env bash
# Channels of one multiplexed connection (ControlMaster), without and with `sshaudit record` (as root):
#   bash bench/channels.sh [path/to/sshaudit] >> fragment.md
# Prints a BENCHMARKS.md section (Markdown) on standard output; progress on standard error.
# bench/run.sh calls it with the release binary and appends the section to BENCHMARKS.md.
#
# Each repetition opens one master connection and runs CHAN_CHANNELS exec channels through it, one
# after the other (`ssh -o ControlPath=P host /bin/true`), once without a recorder and once with one;
# the ratio is the median over repetitions of (with / without) in the same repetition. With the
# recorder it also counts the rows stored (one session, CHAN_CHANNELS channels) and what was lost.
#
# Environment (defaults in brackets):
#   CHAN_CHANNELS [300]   channels per connection     CHAN_REPS [5]   repetitions
#   CHAN_PORT [22614]     the throw-away sshd's port (Tests/Integration/sshd-harness.sh)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HARNESS=$ROOT/Tests/Integration/sshd-harness.sh
BIN=${1:-}
if [[ -z $BIN ]]; then
  BIN=$ROOT/.build-bench/release/sshaudit
  [[ -x $BIN ]] || BIN=$ROOT/.build/debug/sshaudit
fi
CHANNELS=${CHAN_CHANNELS:-300}
REPS=${CHAN_REPS:-5}
PORT=${CHAN_PORT:-22614}
DIR=/run/sshaudit-test/chan-bench
T0=$(date +%s)
log() { printf '[channels %4ds] %s\n' "$(( $(date +%s) - T0 ))" "$*" >&2; }
median() { sort -g | awk '{ a[NR] = $1 } END { if (NR == 0) { print "nan"; exit } if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

(( EUID == 0 )) || { echo "bench/channels.sh: must run as root" >&2; exit 1; }
[[ -x $BIN ]] || { echo "bench/channels.sh: no sshaudit binary at $BIN" >&2; exit 1; }
bash "$HARNESS" setup "$DIR" >/dev/null
bash "$HARNESS" start "$DIR" "$PORT" file listener -- -o MaxSessions=1000 >/dev/null
WORK=$(mktemp -d /tmp/sshaudit-chan-bench.XXXXXX)
chmod 755 "$WORK"
install -d -o sa_alice -m 0700 "$WORK/mux"   # the master runs as the test user
CTL=$WORK/mux/sock
REC_PID=
cleanup() {
  ssh -o ControlPath="$CTL" -O exit -p "$PORT" sa_alice@127.0.0.1 >/dev/null 2>&1 || true
  [[ -n $REC_PID ]] && kill -INT "$REC_PID" 2>/dev/null && wait "$REC_PID" 2>/dev/null
  bash "$HARNESS" stop "$DIR" "$PORT" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

connection() {   # -> seconds for CHANNELS channels through one master
  bash "$HARNESS" ssh "$DIR" "$PORT" sa_alice -o ControlMaster=yes -o ControlPersist=no -o ControlPath="$CTL" -fN \
    >/dev/null 2>&1
  local start end i
  start=$(date +%s.%N)
  for ((i = 0; i < CHANNELS; i++)); do
    bash "$HARNESS" ssh "$DIR" "$PORT" sa_alice -o ControlPath="$CTL" /bin/true
  done
  end=$(date +%s.%N)
  ssh -o ControlPath="$CTL" -O exit -p "$PORT" sa_alice@127.0.0.1 >/dev/null 2>&1 || true
  awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f\n", b - a }'
}
rec_start() {
  rm -f "$WORK/chan.db"*; : > "$WORK/rec.log"
  "$BIN" record --db "$WORK/chan.db" 2>"$WORK/rec.log" &
  REC_PID=$!
  local i
  for ((i = 0; i < 600; i++)); do grep -q recording "$WORK/rec.log" && return 0; sleep 0.05; done
  echo "bench/channels.sh: recorder not ready: $(cat "$WORK/rec.log")" >&2; exit 1
}
rec_stop() { sleep 0.5; kill -INT "$REC_PID"; wait "$REC_PID" || true; REC_PID=; }

log "$REPS repetitions x (none, sshaudit), $CHANNELS channels each"
: > "$WORK/runs.tsv"; : > "$WORK/rows.tsv"
for ((rep = 1; rep <= REPS; rep++)); do
  printf '%s\tnone\t%s\n' "$rep" "$(connection)" >> "$WORK/runs.tsv"
  rec_start
  printf '%s\tsshaudit\t%s\n' "$rep" "$(connection)" >> "$WORK/runs.tsv"
  rec_stop
  sqlite3 -separator ' ' "$WORK/chan.db" "SELECT
      (SELECT COUNT(*) FROM sessions WHERE local_port = $PORT AND authenticated_at IS NOT NULL),
      (SELECT COUNT(*) FROM channels c JOIN sessions s ON s.id = c.session_id WHERE s.local_port = $PORT),
      (SELECT COUNT(*) FROM channels c JOIN sessions s ON s.id = c.session_id
       WHERE s.local_port = $PORT AND c.kind = 'exec' AND c.exit_code = 0),
      (SELECT SUM(ring_drops + track_failures + overflows) FROM recorder_runs)" >> "$WORK/rows.tsv"
  log "repetition $rep done"
done

ratio=$(awk -F'\t' '{ s[$2, $1] = $3; reps[$1] = 1 }
  END { for (r in reps) if ((("sshaudit", r) in s) && (("none", r) in s)) print s["sshaudit", r] / s["none", r] }' "$WORK/runs.tsv" | median)
secs() { awk -F'\t' -v t="$1" '$2 == t { print $3 }' "$WORK/runs.tsv" | median; }
echo "## Channels: one multiplexed connection"
echo
echo "\`bench/channels.sh\`: one ControlMaster connection carrying $CHANNELS exec channels one after the"
echo "other (\`ssh -o ControlPath=P host /bin/true\`); $REPS alternating repetitions, medians; ratio ="
echo "with \`sshaudit record\` / without, paired per repetition."
echo
echo "| Without (s) | With sshaudit (s) | Per channel with sshaudit (ms) | Ratio |"
echo "|---|---|---|---|"
printf '| %s | %s | %.2f | %.3f |\n' "$(secs none)" "$(secs sshaudit)" \
  "$(awk -v s="$(secs sshaudit)" -v n="$CHANNELS" 'BEGIN { print 1000 * s / n }')" "$ratio"
echo
echo "Stored per recorded repetition (sessions, channels, exec channels with exit 0, losses):"
echo "$(sort "$WORK/rows.tsv" | uniq -c | awk '{ printf "%s%s / %s / %s / %s (%s times)", (NR > 1 ? "; " : ""), $2, $3, $4, $5, $1 }')."
log "done: ratio $ratio"
