#!/usr/bin/env bash
# Refusal storm: serial connects to an sshd whose MaxStartups (1:100:1) is taken by one idle
# connection, so that its listener drops every other one before forking; without and with
# `sshaudit record` (as root):
#   bash bench/refusals.sh > fragment.md
# Prints a BENCHMARKS.md section (Markdown) on standard output; progress on standard error.
# bench/run.sh calls it with the release binary and puts the section in BENCHMARKS.md.
#
# Reports the storm's time without and with the recorder (median ratio, paired per repetition) and,
# for each recorded repetition, the refusals stored against sshd's own "drop connection" lines
# (LogLevel VERBOSE logs every drop on OpenSSH 9.2) and the connects made.
#
# Environment (defaults in brackets):
#   REFUSE_BIN [.build-bench/release/sshaudit, else .build/debug/sshaudit]   the sshaudit binary
#   REFUSE_CONNECTS [5000]   connects per storm      REFUSE_REPS [5]   repetitions
#   REFUSE_PORT [22624]      the throw-away sshd's port (Tests/Integration/sshd-harness.sh)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HARNESS=$ROOT/Tests/Integration/sshd-harness.sh
BIN=${REFUSE_BIN:-}
if [[ -z $BIN ]]; then
  BIN=$ROOT/.build-bench/release/sshaudit
  [[ -x $BIN ]] || BIN=$ROOT/.build/debug/sshaudit
fi
CONNECTS=${REFUSE_CONNECTS:-5000}
REPS=${REFUSE_REPS:-5}
PORT=${REFUSE_PORT:-22624}
DIR=/run/sshaudit-test/refuse-bench
T0=$(date +%s)
log() { printf '[refusals %4ds] %s\n' "$(( $(date +%s) - T0 ))" "$*" >&2; }
median() { sort -g | awk '{ a[NR] = $1 } END { if (NR == 0) { print "nan"; exit } if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
field() { sed -n "s/.*[ ]$1=\\([0-9.]*\\).*/\\1/p" <<<"$2"; }

(( EUID == 0 )) || { echo "bench/refusals.sh: must run as root" >&2; exit 1; }
[[ -x $BIN ]] || { echo "bench/refusals.sh: no sshaudit binary at $BIN (build it, or set REFUSE_BIN)" >&2; exit 1; }
bash "$HARNESS" setup "$DIR" >/dev/null
WORK=$(mktemp -d /tmp/sshaudit-refuse-bench.XXXXXX)
cc -O2 -o "$WORK/connstorm" "$ROOT/bench/connstorm.c"
REC_PID= HOLD_PID=
cleanup() {
  [[ -n $REC_PID ]] && kill -INT "$REC_PID" 2>/dev/null && wait "$REC_PID" 2>/dev/null
  [[ -n $HOLD_PID ]] && kill "$HOLD_PID" 2>/dev/null
  bash "$HARNESS" stop "$DIR" "$PORT" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

start_sshd() {   # a fresh listener (fresh log) whose one MaxStartups slot an idle connection holds
  [[ -n $HOLD_PID ]] && { kill "$HOLD_PID" 2>/dev/null || true; wait "$HOLD_PID" 2>/dev/null || true; }
  bash "$HARNESS" start "$DIR" "$PORT" -- -o MaxStartups=1:100:1 -o LoginGraceTime=600 >/dev/null
  bash -c "exec 3<>/dev/tcp/127.0.0.1/$PORT; head -1 <&3 >/dev/null; sleep 600" &
  HOLD_PID=$!
  sleep 0.5
}
rec_start() {
  rm -f "$WORK/refuse.db"*; : > "$WORK/rec.log"
  "$BIN" record --db "$WORK/refuse.db" 2>"$WORK/rec.log" &
  REC_PID=$!
  local i
  for ((i = 0; i < 600; i++)); do grep -q recording "$WORK/rec.log" && return 0; sleep 0.05; done
  echo "bench/refusals.sh: recorder not ready: $(cat "$WORK/rec.log")" >&2; exit 1
}
rec_stop() { kill -INT "$REC_PID"; wait "$REC_PID" || true; REC_PID=; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }   # the listener's user + system time, in ticks

log "$REPS repetitions x (none, sshaudit), $CONNECTS connects each"
: > "$WORK/runs.tsv"; : > "$WORK/rows.tsv"
for ((rep = 1; rep <= REPS; rep++)); do
  for tracer in none sshaudit; do
    [[ $tracer == sshaudit ]] && rec_start
    start_sshd
    lpid=$(cat "$DIR/sshd_$PORT.pid")
    cpu0=$(cpu_ticks "$lpid")
    out=$("$WORK/connstorm" -n "$CONNECTS" -p "$PORT")
    sleep 1   # the listener catches up with its accept queue
    printf '%s\t%s\t%s\t%s\n' "$rep" "$tracer" "$(field seconds "$out")" "$(( $(cpu_ticks "$lpid") - cpu0 ))" >> "$WORK/runs.tsv"
    if [[ $tracer == sshaudit ]]; then
      rec_stop
      drops=$(grep -c "drop connection #" "$DIR/sshd_$PORT.log" || true)
      # By listener: a connection reset before sshd accepted it has local port 0 in the kernel's socket.
      stored=$(sqlite3 "$WORK/refuse.db" "SELECT COUNT(*) FROM refusals WHERE listener_pid = $(cat "$DIR/sshd_$PORT.pid")")
      lost=$(sqlite3 "$WORK/refuse.db" "SELECT SUM(ring_drops + track_failures + overflows) FROM recorder_runs")
      printf '%s\t%s\t%s\t%s\t%s\n' "$rep" "$(field connects "$out")" "$drops" "$stored" "$lost" >> "$WORK/rows.tsv"
    fi
  done
  log "repetition $rep done"
done

ratio=$(awk -F'\t' '{ s[$2, $1] = $3; reps[$1] = 1 }
  END { for (r in reps) if ((("sshaudit", r) in s) && (("none", r) in s) && s["none", r] > 0) print s["sshaudit", r] / s["none", r] }' \
  "$WORK/runs.tsv" | median)
secs() { awk -F'\t' -v t="$1" '$2 == t { print $3 }' "$WORK/runs.tsv" | median; }
ticks() { awk -F'\t' -v t="$1" '$2 == t { print $4 }' "$WORK/runs.tsv" | median; }
echo "## Refused connections: MaxStartups storm"
echo
echo "\`bench/refusals.sh\`: \`connstorm -n $CONNECTS\` (serial TCP connects, each closed with a reset) to an"
echo "sshd whose one MaxStartups slot (1:100:1) an idle connection holds, so that its listener refuses"
echo "every other connection before forking; $REPS alternating repetitions, medians; ratio = with"
echo "\`sshaudit record\` / without, paired per repetition. The storm's time is the client's (it does not"
echo "wait for sshd); the listener's CPU time (ticks of $(getconf CLK_TCK) Hz) is what refusing costs sshd."
echo
echo "| Storm without (s) | Storm with sshaudit (s) | Ratio | Listener CPU without | Listener CPU with |"
echo "|---|---|---|---|---|"
printf '| %s | %s | %.3f | %s | %s |\n' "$(secs none)" "$(secs sshaudit)" "$ratio" "$(ticks none)" "$(ticks sshaudit)"
echo
echo "Per recorded repetition (connects, sshd's \`drop connection\` lines, refusals stored, losses):"
awk -F'\t' '{ printf "%s%s, %s, %s, %s", (NR > 1 ? "; " : ""), $2, $3, $4, $5 } END { print "." }' "$WORK/rows.tsv"
log "done: ratio $ratio"
