#!/usr/bin/env bash
# io_uring request storm inside and outside an ssh session, without and with `sshaudit record` (as root):
#   bash bench/uring.sh > fragment.md
# Prints a BENCHMARKS.md section (Markdown) on standard output; progress on standard error.
# bench/run.sh calls it with the release binary and appends the section to BENCHMARKS.md.
#
# Each repetition runs the storm (bench/uringstorm.c: one ring, openat of /dev/null and close of the
# descriptors by turns, or no-op requests, URING_BATCH per io_uring_enter: the cost of the submit
# hook per request, not of the syscall) once per context without a tracer, then starts
# a recorder and runs it once per context again; the ratio is the median over repetitions of (with
# recorder / without) in the same repetition. Inside: the storm is the command of an ssh session
# (every request counted in the kernel, one session event at the end). Outside: the same user's storm
# started by this script (the cost of the hooks for a ring no session created).
#
# Environment (defaults in brackets):
#   URING_BIN [.build-bench/release/sshaudit, else .build/debug/sshaudit]   the sshaudit binary
#   URING_REQUESTS [2000000]  requests per storm       URING_REPS [8]   repetitions
#   URING_NOP [0]             1: no-op requests (the hook's cost against the cheapest request)
#   URING_BATCH [64]          requests per io_uring_enter (1: the syscall's own cost dominates, and
#                             with it the floor every enabled syscall tracepoint puts on every syscall)
#   URING_PORT [22655]        the throw-away sshd's port (Tests/Integration/sshd-harness.sh)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HARNESS=$ROOT/Tests/Integration/sshd-harness.sh
BIN=${URING_BIN:-}
if [[ -z $BIN ]]; then
  BIN=$ROOT/.build-bench/release/sshaudit
  [[ -x $BIN ]] || BIN=$ROOT/.build/debug/sshaudit
fi
REQUESTS=${URING_REQUESTS:-2000000}
BATCH=${URING_BATCH:-64}
KIND=-o; [[ ${URING_NOP:-0} == 1 ]] && KIND=
REPS=${URING_REPS:-8}
PORT=${URING_PORT:-22655}
DIR=/run/sshaudit-test/uring-bench
USER_=sa_alice
T0=$(date +%s)
log() { printf '[uring %4ds] %s\n' "$(( $(date +%s) - T0 ))" "$*" >&2; }
median() { sort -g | awk '{ a[NR] = $1 } END { if (NR == 0) { print "nan"; exit } if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
field() { sed -n "s/.*[ ]$1=\\([0-9.]*\\).*/\\1/p" <<<"$2"; }

(( EUID == 0 )) || { echo "bench/uring.sh: must run as root" >&2; exit 1; }
[[ -x $BIN ]] || { echo "bench/uring.sh: no sshaudit binary at $BIN (build it, or set URING_BIN)" >&2; exit 1; }
bash "$HARNESS" setup "$DIR" >/dev/null
bash "$HARNESS" start "$DIR" "$PORT" >/dev/null
cc -O2 -o "$DIR/uringstorm" "$ROOT/bench/uringstorm.c"
chmod 755 "$DIR/uringstorm"
WORK=$(mktemp -d /tmp/sshaudit-uring-bench.XXXXXX)
REC_PID=
cleanup() {
  [[ -n $REC_PID ]] && kill -INT "$REC_PID" 2>/dev/null && wait "$REC_PID" 2>/dev/null
  bash "$HARNESS" stop "$DIR" "$PORT" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

storm() {   # CONTEXT -> the storm's output line
  if [[ $1 == session ]]; then
    bash "$HARNESS" ssh "$DIR" "$PORT" "$USER_" "$DIR/uringstorm -n $REQUESTS -b $BATCH $KIND"
  else
    setpriv --reuid="$USER_" --regid="$(id -g "$USER_")" --init-groups --reset-env -- "$DIR/uringstorm" -n "$REQUESTS" -b "$BATCH" $KIND
  fi
}
rec_start() {
  rm -f "$WORK/uring.db"*; : > "$WORK/rec.log"
  "$BIN" record --db "$WORK/uring.db" 2>"$WORK/rec.log" &
  REC_PID=$!
  local i
  for ((i = 0; i < 600; i++)); do grep -q recording "$WORK/rec.log" && return 0; sleep 0.05; done
  echo "bench/uring.sh: recorder not ready: $(cat "$WORK/rec.log")" >&2; exit 1
}
rec_stop() { kill -INT "$REC_PID"; wait "$REC_PID" || true; REC_PID=; }

log "$REPS repetitions x 2 contexts x (none, sshaudit), $REQUESTS requests each"
: > "$WORK/runs.tsv"
for ((rep = 1; rep <= REPS; rep++)); do
  for tracer in none sshaudit; do
    [[ $tracer == sshaudit ]] && rec_start
    for ctx in session host; do
      out=$(storm "$ctx")
      [[ $(field failed "$out") == 0 ]] || { echo "bench/uring.sh: failed requests: $out" >&2; exit 1; }
      printf '%s\t%s\t%s\t%s\n' "$rep" "$ctx" "$tracer" "$(field seconds "$out")" >> "$WORK/runs.tsv"
    done
    if [[ $tracer == sshaudit ]]; then
      rec_stop
      rows=$(sqlite3 "$WORK/uring.db" "SELECT COUNT(*) || ' ' || COALESCE(GROUP_CONCAT(detail, '|'), '-') FROM session_events WHERE kind = 'io_uring'")
      printf '%s\t%s\n' "$rep" "$rows" >> "$WORK/rows.tsv"
      sqlite3 "$WORK/uring.db" "SELECT SUM(ring_drops + track_failures) FROM recorder_runs" >> "$WORK/lost.txt"
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
echo "## io_uring: request storm"
echo
echo "\`bench/uring.sh\`: \`uringstorm -n $REQUESTS -b $BATCH $KIND\` (one ring; $([[ -n $KIND ]] && echo "openat of /dev/null and close of the descriptors by turns" || echo "no-op requests"), $BATCH per"
echo "\`io_uring_enter\`) as the command of an ssh session (inside) and as the same user outside any session;"
echo "$REPS alternating repetitions, medians; ratio = with \`sshaudit record\` / without, paired per repetition."
echo
echo "| Context | Without (s) | With sshaudit (s) | Ratio | |"
echo "|---|---|---|---|---|"
printf '| inside a session | %s | %s | %.3f | %s |\n' "$(secs session none)" "$(secs session sshaudit)" "$inside" "$(verdict "$inside" 1.05)"
printf '| outside any session | %s | %s | %.3f | %s |\n' "$(secs host none)" "$(secs host sshaudit)" "$outside" "$(verdict "$outside" 1.01)"
echo
echo "Kernel losses over all recorded repetitions: $(awk '{ s += $1 } END { print s + 0 }' "$WORK/lost.txt")."
echo "io_uring events stored per recorded repetition (events, detail): $(cut -f2 "$WORK/rows.tsv" | sed 's/; operations through io_uring are counted by kind, not itemised//g' | sort | uniq -c | awk '{ c = $1; $1 = ""; printf "%s%s (%s times)", (NR > 1 ? "; " : ""), substr($0, 2), c }')."
log "done: inside $inside, outside $outside"
