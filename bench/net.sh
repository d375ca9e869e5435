#!/usr/bin/env bash
# Connect storm inside and outside an ssh session, without and with `sshaudit record` (as root):
#   bash bench/net.sh > fragment.md
# Prints a BENCHMARKS.md section (Markdown) on standard output; progress on standard error.
# bench/run.sh calls it with the release binary and puts the section in BENCHMARKS.md.
#
# Each repetition runs the storm (serial TCP connects to a loopback listener that runs outside every
# session) once per context without a tracer, then starts a recorder and runs it once per context
# again; the ratio is the median over repetitions of (with recorder / without) in the same repetition.
# Inside: the storm is the command of an ssh session (every connect is recorded, aggregated into one
# row). Outside: the same user's storm started by this script (the kernel filter's cost only).
#
# Environment (defaults in brackets):
#   NET_BIN [.build-bench/release/sshaudit, else .build/debug/sshaudit]   the sshaudit binary
#   NET_CONNECTS [20000]   connects per storm        NET_REPS [8]   repetitions
#   NET_PORT [22573]       the throw-away sshd's port (Tests/Integration/sshd-harness.sh)
#   NET_LISTEN [23590]     the loopback listener's port
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HARNESS=$ROOT/Tests/Integration/sshd-harness.sh
BIN=${NET_BIN:-}
if [[ -z $BIN ]]; then
  BIN=$ROOT/.build-bench/release/sshaudit
  [[ -x $BIN ]] || BIN=$ROOT/.build/debug/sshaudit
fi
CONNECTS=${NET_CONNECTS:-20000}
REPS=${NET_REPS:-8}
PORT=${NET_PORT:-22573}
LISTEN=${NET_LISTEN:-23590}
DIR=/run/sshaudit-test/net-bench
USER_=sa_alice
T0=$(date +%s)
log() { printf '[net %4ds] %s\n' "$(( $(date +%s) - T0 ))" "$*" >&2; }
median() { sort -g | awk '{ a[NR] = $1 } END { if (NR == 0) { print "nan"; exit } if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
field() { sed -n "s/.*[ ]$1=\\([0-9.]*\\).*/\\1/p" <<<"$2"; }

(( EUID == 0 )) || { echo "bench/net.sh: must run as root" >&2; exit 1; }
[[ -x $BIN ]] || { echo "bench/net.sh: no sshaudit binary at $BIN (build it, or set NET_BIN)" >&2; exit 1; }
bash "$HARNESS" setup "$DIR" >/dev/null
bash "$HARNESS" start "$DIR" "$PORT" >/dev/null
cc -O2 -o "$DIR/connstorm" "$ROOT/bench/connstorm.c"
chmod 755 "$DIR/connstorm"
WORK=$(mktemp -d /tmp/sshaudit-net-bench.XXXXXX)
REC_PID= LISTENER_PID=
cleanup() {
  [[ -n $REC_PID ]] && kill -INT "$REC_PID" 2>/dev/null && wait "$REC_PID" 2>/dev/null
  [[ -n $LISTENER_PID ]] && kill "$LISTENER_PID" 2>/dev/null
  bash "$HARNESS" stop "$DIR" "$PORT" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

# The listener: root, outside every session (its accepts are nobody's activity).
"$DIR/connstorm" -l "$LISTEN" > "$WORK/listener.out" &
LISTENER_PID=$!
until grep -q listening "$WORK/listener.out" 2>/dev/null; do sleep 0.05; done

storm() {   # CONTEXT -> the storm's output line
  if [[ $1 == session ]]; then
    bash "$HARNESS" ssh "$DIR" "$PORT" "$USER_" "$DIR/connstorm -n $CONNECTS -p $LISTEN"
  else
    setpriv --reuid="$USER_" --regid="$(id -g "$USER_")" --init-groups --reset-env -- "$DIR/connstorm" -n "$CONNECTS" -p "$LISTEN"
  fi
}
rec_start() {
  rm -f "$WORK/net.db"*; : > "$WORK/rec.log"
  "$BIN" record --db "$WORK/net.db" 2>"$WORK/rec.log" &
  REC_PID=$!
  local i
  for ((i = 0; i < 600; i++)); do grep -q recording "$WORK/rec.log" && return 0; sleep 0.05; done
  echo "bench/net.sh: recorder not ready: $(cat "$WORK/rec.log")" >&2; exit 1
}
rec_stop() { kill -INT "$REC_PID"; wait "$REC_PID" || true; REC_PID=; }

log "$REPS repetitions x 2 contexts x (none, sshaudit), $CONNECTS connects each"
: > "$WORK/runs.tsv"
for ((rep = 1; rep <= REPS; rep++)); do
  for tracer in none sshaudit; do
    [[ $tracer == sshaudit ]] && rec_start
    for ctx in session host; do
      out=$(storm "$ctx")
      [[ $(field failed "$out") == 0 ]] || { echo "bench/net.sh: failed connects: $out" >&2; exit 1; }
      printf '%s\t%s\t%s\t%s\n' "$rep" "$ctx" "$tracer" "$(field seconds "$out")" >> "$WORK/runs.tsv"
    done
    if [[ $tracer == sshaudit ]]; then
      rec_stop
      rows=$(sqlite3 "$WORK/net.db" "SELECT COUNT(*) || ' ' || COALESCE(SUM(count), 0) FROM network_activity")
      printf '%s\t%s\n' "$rep" "$rows" >> "$WORK/rows.tsv"
      sqlite3 "$WORK/net.db" "SELECT SUM(ring_drops + track_failures) FROM recorder_runs" >> "$WORK/lost.txt"
    fi
  done
  log "repetition $rep done"
done

ratio() {   # CTX: median over repetitions of (sshaudit / none)
  awk -F'\t' -v c="$1" '$2 == c { s[$3, $1] = $4; reps[$1] = 1 }
    END { for (r in reps) if (((("sshaudit", r) in s)) && (("none", r) in s)) print s["sshaudit", r] / s["none", r] }' "$WORK/runs.tsv" | median
}
secs() { awk -F'\t' -v c="$1" -v t="$2" '$2 == c && $3 == t { print $4 }' "$WORK/runs.tsv" | median; }
inside=$(ratio session); outside=$(ratio host)
verdict() { awk -v r="$1" -v t="$2" 'BEGIN { print (r <= t ? "within" : "OVER") " the target " t }'; }
echo "## Network: connect storm"
echo
echo "\`bench/net.sh\`: \`connstorm -n $CONNECTS\` (serial TCP connects to a loopback listener outside every"
echo "session, each closed with a reset) as the command of an ssh session (inside) and as the same user"
echo "outside any session; $REPS alternating repetitions, medians; ratio = with \`sshaudit record\` / without,"
echo "paired per repetition."
echo
echo "| Context | Without (s) | With sshaudit (s) | Ratio | |"
echo "|---|---|---|---|---|"
printf '| inside a session | %s | %s | %.3f | %s |\n' "$(secs session none)" "$(secs session sshaudit)" "$inside" "$(verdict "$inside" 1.05)"
printf '| outside any session | %s | %s | %.3f | %s |\n' "$(secs host none)" "$(secs host sshaudit)" "$outside" "$(verdict "$outside" 1.01)"
echo
echo "Kernel losses over all recorded repetitions: $(awk '{ s += $1 } END { print s + 0 }' "$WORK/lost.txt")."
echo "Rows stored per recorded repetition (rows, connects counted): $(cut -f2 "$WORK/rows.tsv" | sort | uniq -c | awk '{ printf "%s%s row(s) counting %s connects (%s times)", (NR > 1 ? "; " : ""), $2, $3, $1 }')."
log "done: inside $inside, outside $outside"
