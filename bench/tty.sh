#!/usr/bin/env bash
# Terminal recording benchmark (record --tty), as root:   bash bench/tty.sh
#
#   1. `cat` of a file (TTY_BENCH_MIB, 50 MiB) to the terminal of an interactive session (ssh -tt;
#      the client writes to /dev/null): wall time and the recorder's CPU with --tty off and
#      --tty output (cap raised above the file's size), the bytes recorded and stored, kernel losses;
#   2. an exec storm outside any session (TTY_BENCH_EXECS fork + exec + wait, alternating
#      TTY_BENCH_REPS times) with no recorder and with `record --tty output`: the ratio of the medians
#      (the read hook is attached for every process on the machine; only session processes pass it).
# Prints a BENCHMARKS.md section fragment on stdout (bench/run.sh appends it); progress on stderr.
#
# Environment: TTY_BENCH_BIN [.build-bench/release/sshaudit, built by bench/run.sh], TTY_BENCH_MIB [50],
# TTY_BENCH_EXECS [5000], TTY_BENCH_REPS [8], TTY_BENCH_PORT [22598].
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HARNESS=$ROOT/Tests/Integration/sshd-harness.sh
BIN=${TTY_BENCH_BIN:-$ROOT/.build-bench/release/sshaudit}
MIB=${TTY_BENCH_MIB:-50}
EXECS=${TTY_BENCH_EXECS:-5000}
REPS=${TTY_BENCH_REPS:-8}
PORT=${TTY_BENCH_PORT:-22598}
DIR=/run/sshaudit-test/tty-bench
WORK=$(mktemp -d /var/tmp/sshaudit-tty-bench.XXXXXX)
USER_=sa_alice
REC_PID=

log() { echo "tty bench: $*" >&2; }
die() { log "$*"; exit 1; }
cleanup() {
  set +e
  [[ -n $REC_PID ]] && { kill -INT "$REC_PID"; wait "$REC_PID"; }
  bash "$HARNESS" stop "$DIR" "$PORT" >/dev/null 2>&1
  rm -rf "$WORK"
}
trap cleanup EXIT
[[ -x $BIN ]] || die "no sshaudit binary at $BIN (bash bench/run.sh builds it, or set TTY_BENCH_BIN)"
(( EUID == 0 )) || die "run as root"

median() { sort -g | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
cpu_s() { awk '{ print ($14 + $15) / '"$(getconf CLK_TCK)"' }' "/proc/$1/stat" 2>/dev/null || echo 0; }

rec_start() {   # record options...
  rm -f "$WORK"/audit.db*
  : > "$WORK/rec.log"   # else the last run's "recording" line says ready before this one is
  "$BIN" record --db "$WORK/audit.db" "$@" 2>"$WORK/rec.log" &
  REC_PID=$!
  for _ in $(seq 600); do grep -q recording "$WORK/rec.log" && return 0; sleep 0.05; done
  die "recorder not ready: $(cat "$WORK/rec.log")"
}
rec_stop() { kill -INT "$REC_PID"; wait "$REC_PID" || die "recorder failed: $(cat "$WORK/rec.log")"; REC_PID=; }

bash "$HARNESS" setup "$DIR" >/dev/null
bash "$HARNESS" start "$DIR" "$PORT" >/dev/null
gcc -O2 -Wall -o "$DIR/storm" "$ROOT/bench/storm.c"
chmod 0755 "$DIR/storm"
head -c $((MIB * 786432)) /dev/urandom | base64 -w 120 > "$DIR/big.txt"   # about MIB MiB of text
chmod 0644 "$DIR/big.txt"

# 1. cat to the terminal
cat_run() {   # label, record options...
  local label=$1; shift
  rec_start "$@"
  local c0 t0 t1 c1
  c0=$(cpu_s "$REC_PID"); t0=$(date +%s.%N)
  bash "$HARNESS" ssh "$DIR" "$PORT" "$USER_" -tt "cat $DIR/big.txt" </dev/null >/dev/null 2>&1
  t1=$(date +%s.%N)
  sleep 2   # the recorder catches up before its CPU is read
  c1=$(cpu_s "$REC_PID")
  rec_stop
  local stored
  stored=$(sqlite3 "$WORK/audit.db" "SELECT COALESCE(SUM(bytes),0) || ' ' || COALESCE(SUM(LENGTH(data)),0) || ' ' || COALESCE(MAX(truncated),0) || ' ' || COALESCE(MAX(incomplete),0) FROM tty_chunks")
  local lost
  lost=$(grep -o '[0-9]* lost in the kernel' "$WORK/rec.log" | cut -d' ' -f1)
  awk -v l="$label" -v t0="$t0" -v t1="$t1" -v c0="$c0" -v c1="$c1" -v s="$stored" -v lost="${lost:-?}" \
    'BEGIN { split(s, a, " "); printf "| %s | %.2f | %.2f | %d | %d | %s | %s | %s |\n", l, t1 - t0, c1 - c0, a[1], a[2], a[3] ? "yes" : "no", a[4] ? "yes" : "no", lost }'
}
log "cat of ${MIB} MiB in an ssh -tt session, recording off and on"
CAT_OFF=$(cat_run "record --tty off" --tty off)
CAT_ON=$(cat_run "record --tty output" --tty output --tty-max $((MIB + 16))M)

# 2. exec storm outside any session
storm() { setpriv --reuid="$USER_" --regid="$(id -g "$USER_")" --init-groups --reset-env -- "$DIR/storm" -n "$EXECS" | sed -n 's/.*seconds=\([0-9.]*\).*/\1/p'; }
log "exec storm outside sessions: $REPS × $EXECS execs, no recorder vs record --tty output"
: > "$WORK/none"; : > "$WORK/on"
for ((i = 0; i < REPS; i++)); do   # alternating, so that other load on the machine falls on both
  storm >> "$WORK/none"
  rec_start --tty output
  storm >> "$WORK/on"
  rec_stop
done
NONE=$(median < "$WORK/none"); ON=$(median < "$WORK/on")
RATIO=$(awk -v a="$ON" -v b="$NONE" 'BEGIN { printf "%.3f", a / b }')

cat <<EOF
## Terminal recording (record --tty)

\`bash bench/tty.sh\` (TTY_BENCH_MIB=$MIB, TTY_BENCH_EXECS=$EXECS, TTY_BENCH_REPS=$REPS), $(date -u +%Y-%m-%dT%H:%MZ).

\`cat\` of a ${MIB} MiB text file to the terminal of an \`ssh -tt\` session (the client writes to /dev/null):

| recorder | wall s | recorder CPU s | bytes recorded | bytes stored (zlib) | truncated | incomplete | lost in the kernel |
|---|---|---|---|---|---|---|---|
$CAT_OFF
$CAT_ON

Exec storm outside any session ($EXECS × fork + exec + wait of /bin/true, medians of $REPS runs):
no recorder ${NONE} s, \`record --tty output\` ${ON} s, ratio **${RATIO}** (target ≤ 1.01).
EOF
