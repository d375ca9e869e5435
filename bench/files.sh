#!/usr/bin/env bash
# File-operation storm for sshaudit (root): the cost of the file-activity hooks outside and inside an
# SSH session, and whether a recorder keeps up with 20,000 file operations per second in a session.
#
#   bench/files.sh [path/to/sshaudit]     (default: .build/release/sshaudit)
#
# 1. overhead: an unpaced storm (bench/filestorm.c: create/append, rename, unlink) on the host as the
#    test user (outside any session) and inside an ssh session, each without and with a recorder,
#    alternating; medians of the storm's own time; ratios to the runs without a recorder.
# 2. drops: a storm paced at FILES_RATE operations/s for FILES_SECS seconds in a session while
#    recording: the kernel's losses, and whether the stored rows count every operation (the sum of
#    file_activity.count of the storm's process equals the operations it made).
# 3. both at once in one session: FILES_EXECS execs/s (bench/storm.c, 4 workers) beside the paced
#    file storm: the kernel's losses, the operations counted, the execs stored as commands.
# Writes a BENCHMARKS.md section fragment on standard output; progress on standard error.
#
# Settings (environment): FILES_REPS [8] repetitions per configuration, FILES_OPS [30000] operations
# per overhead storm, FILES_RATE [20000], FILES_SECS [30], FILES_PORT [22561].
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${1:-$ROOT/.build/release/sshaudit}
HARNESS=$ROOT/Tests/Integration/sshd-harness.sh
PORT=${FILES_PORT:-22561}
DIR=/run/sshaudit-test/files-bench
WORK=$(mktemp -d /var/tmp/sshaudit-files-bench.XXXXXX)
REPS=${FILES_REPS:-8}
OPS=${FILES_OPS:-30000}
RATE=${FILES_RATE:-20000}
SECS=${FILES_SECS:-30}
EXECS=${FILES_EXECS:-5000}
USER_=sa_alice
REC_PID=

log() { printf '[files] %s\n' "$*" >&2; }
cleanup() {
  [[ -n $REC_PID ]] && kill -INT "$REC_PID" 2>/dev/null && wait "$REC_PID" 2>/dev/null || true
  bash "$HARNESS" stop "$DIR" "$PORT" >/dev/null 2>&1 || true
  [[ -n ${FILES_KEEP:-} ]] && log "kept $WORK" || rm -rf "$WORK"
}
trap cleanup EXIT
[[ $(id -u) == 0 ]] || { log "run as root"; exit 1; }
[[ -x $BIN ]] || { log "no binary $BIN"; exit 1; }

bash "$HARNESS" setup "$DIR" >/dev/null
bash "$HARNESS" start "$DIR" "$PORT" >/dev/null
gcc -O2 -Wall -o "$DIR/filestorm" "$ROOT/bench/filestorm.c"
gcc -O2 -Wall -o "$DIR/storm" "$ROOT/bench/storm.c"
gcc -O2 -static -nostdlib -o "$DIR/tiny_true" "$ROOT/bench/tiny_true.c"
chmod 0755 "$DIR" "$DIR/filestorm" "$DIR/storm" "$DIR/tiny_true"
STORM_DIR=/tmp/sshaudit-files-bench-$PORT
install -d -o "$USER_" -m 0700 "$STORM_DIR"

in_session() { bash "$HARNESS" ssh "$DIR" "$PORT" "$USER_" "$DIR/filestorm $STORM_DIR $*"; }
on_host() { setpriv --reuid="$USER_" --regid="$(id -g "$USER_")" --init-groups --reset-env -- "$DIR/filestorm" "$STORM_DIR" "$@"; }
seconds_of() { sed -n 's/.* seconds=\([0-9.]*\).*/\1/p' <<<"$1"; }
median() { sort -g | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

rec_start() {
  rm -f "$WORK/audit.db"*
  : > "$WORK/rec.log"   # else the last run's "recording" line says ready before this one is
  "$BIN" record --db "$WORK/audit.db" 2>"$WORK/rec.log" &
  REC_PID=$!
  until grep -q recording "$WORK/rec.log"; do kill -0 "$REC_PID" || { log "recorder died: $(cat "$WORK/rec.log")"; exit 1; }; sleep 0.05; done
  sleep "${SETTLE_SECS:-2}"   # the start's own work (the /proc scan, the first checkpoint) is not the storm's cost
}
rec_stop() {
  local i
  sleep 0.5   # the last exits reach the ring buffer
  kill -INT "$REC_PID"
  for ((i = 0; i < 300; i++)); do kill -0 "$REC_PID" 2>/dev/null || break; sleep 0.1; (( i % 50 == 49 )) && kill -INT "$REC_PID"; done
  wait "$REC_PID" || true; REC_PID=
  LOST=$(sed -n 's/.* \([0-9]*\) lost in the kernel.*/\1/p' "$WORK/rec.log" | tail -n 1)
}

# 1. overhead
declare -A times
for ((rep = 1; rep <= REPS; rep++)); do
  for where in host session; do
    for traced in no yes; do
      [[ $traced == yes ]] && rec_start
      if [[ $where == host ]]; then out=$(on_host -n "$OPS"); else out=$(in_session -n "$OPS"); fi
      [[ $traced == yes ]] && rec_stop
      times[$where-$traced]+="$(seconds_of "$out") "
      log "rep $rep $where recorder=$traced: $out"
    done
  done
done
med() { tr ' ' '\n' <<<"${times[$1]}" | grep . | median; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }
host_no=$(med host-no) host_yes=$(med host-yes) session_no=$(med session-no) session_yes=$(med session-yes)

# 2. drops at FILES_RATE in a session
rec_start
paced=$(in_session -r "$RATE" -d "$SECS")
rec_stop
log "paced: $paced, lost in the kernel: ${LOST:-?}"
made=$(sed -n 's/.*filestorm ops=\([0-9]*\).*/\1/p' <<<"$paced")
stored=$(sqlite3 "$WORK/audit.db" "SELECT COALESCE(SUM(count), 0) FROM file_activity WHERE path GLOB '$STORM_DIR/*'")

# 3. execs and file operations at once, in one session
rec_start
both=$(bash "$HARNESS" ssh "$DIR" "$PORT" "$USER_" \
  "$DIR/storm -r $EXECS -d $SECS -j 4 -- $DIR/tiny_true files-bench-both & $DIR/filestorm $STORM_DIR -r $RATE -d $SECS; wait")
rec_stop
both_lost=${LOST:-?}
log "both: $both, lost in the kernel: $both_lost"
both_made=$(sed -n 's/.*filestorm ops=\([0-9]*\).*/\1/p' <<<"$both")
both_stored=$(sqlite3 "$WORK/audit.db" "SELECT COALESCE(SUM(count), 0) FROM file_activity WHERE path GLOB '$STORM_DIR/*'")
both_execs=$(sed -n 's/.*storm .*execs=\([0-9]*\).*/\1/p' <<<"$both" | head -n 1)
both_commands=$(sqlite3 "$WORK/audit.db" "SELECT count(*) FROM commands WHERE filename = '$DIR/tiny_true'")

cat <<MD
## File-operation storm (bench/files.sh)

$(date -u +%Y-%m-%d), $(nproc) CPUs, $REPS repetitions of $OPS operations (create/append, rename, unlink)
by one process as $USER_; medians of the storm's own time. Each run with a recorder starts its own: outside,
no session is open, so the session hooks are not attached.

| Where | Without recorder | With recorder | Ratio |
|---|--:|--:|--:|
| Outside any session | ${host_no} s | ${host_yes} s | $(ratio "$host_yes" "$host_no") |
| In an ssh session | ${session_no} s | ${session_yes} s | $(ratio "$session_yes" "$session_no") |

Paced in a session at $RATE operations/s for $SECS s: \`$paced\`; lost in the kernel: ${LOST:-?};
operations counted in file_activity: $stored of $made.

Both at once in one session, $EXECS execs/s (\`storm -j 4\`) beside $RATE file operations/s for $SECS s:
\`$(tr '\n' ' ' <<<"$both")\`; lost in the kernel: $both_lost; file operations counted: $both_stored of
$both_made; execs stored as commands: $both_commands of ${both_execs:-?}.
MD
