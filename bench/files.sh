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
# 4. where the overhead goes: the unpaced storm once more outside and inside a session with the
#    kernel's BPF statistics on (kernel.bpf_stats_enabled, only for this step: it costs a clock read
#    per program run): the time the recorder's programs themselves ran (run_time_ns in the fdinfo of
#    its program descriptors) per storm operation, beside the operation's own time. What the
#    overhead has beyond it is the kernel's dispatch to the programs (bench/tpfloor.sh measures it).
# 5. in turns: a storm in a session and one on the host take turns on one CPU, a block of operations
#    at a time (bench/filestorm.c -T), with a recorder and without: their quotient is the in-session
#    overhead with the machine's drift cancelled (both storms meet the same phases), over what the
#    host's storm pays meanwhile.
# Writes a BENCHMARKS.md section fragment on standard output; progress on standard error.
#
# Settings (environment): FILES_REPS [12] repetitions per configuration, FILES_RUNS [5] storms per
# configuration and repetition (the fastest kept), FILES_OPS [30000] operations per overhead storm,
# FILES_RATE [20000], FILES_SECS [30], FILES_PORT [22561], FILES_TURN_OPS [150000] operations per storm in
# turns, FILES_TURN_BLOCK [1500] operations per turn, FILES_TURN_REPS [8] repetitions in turns.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${1:-$ROOT/.build/release/sshaudit}
HARNESS=$ROOT/Tests/Integration/sshd-harness.sh
PORT=${FILES_PORT:-22561}
DIR=/run/sshaudit-test/files-bench
WORK=$(mktemp -d /var/tmp/sshaudit-files-bench.XXXXXX)
REPS=${FILES_REPS:-12}
RUNS=${FILES_RUNS:-5}
OPS=${FILES_OPS:-30000}
RATE=${FILES_RATE:-20000}
SECS=${FILES_SECS:-30}
EXECS=${FILES_EXECS:-5000}
USER_=sa_alice
REC_PID=

log() { printf '[files] %s\n' "$*" >&2; }
STATS_WAS=$(cat /proc/sys/kernel/bpf_stats_enabled)
cleanup() {
  echo "$STATS_WAS" > /proc/sys/kernel/bpf_stats_enabled
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
  local asked=$SECONDS
  kill -INT "$REC_PID"
  # Asked again every 5 s; it may exit between the check and the signal (not an error of the run).
  for ((i = 0; i < 300; i++)); do
    kill -0 "$REC_PID" 2>/dev/null || break
    sleep 0.1
    if (( i % 50 == 49 )); then kill -INT "$REC_PID" 2>/dev/null || true; fi
  done
  wait "$REC_PID" || true; REC_PID=
  (( SECONDS - asked < 5 )) || log "the recorder took $((SECONDS - asked)) s to stop"
  LOST=$(sed -n 's/.* \([0-9]*\) lost in the kernel.*/\1/p' "$WORK/rec.log" | tail -n 1)
}

# 1. overhead. The machine's speed drifts, within seconds, by more than the overhead measured, and
# only ever down (the host's other load): each configuration runs RUNS storms back to back (in one session, or
# one after the other on the host) and keeps the fastest; the two runs of a repetition go in
# alternating order.
declare -A times ratios
fastest() { seconds_of "$1" | sort -g | head -n 1; }
storms() {
  local loop="for i in \$(seq $RUNS); do $DIR/filestorm $STORM_DIR -n $OPS; done"
  if [[ $1 == host ]]; then
    setpriv --reuid="$USER_" --regid="$(id -g "$USER_")" --init-groups --reset-env -- /bin/bash -c "$loop"
  else
    bash "$HARNESS" ssh "$DIR" "$PORT" "$USER_" "$loop"
  fi
}
for ((rep = 1; rep <= REPS; rep++)); do
  for where in host session; do
    order="no yes"; (( rep % 2 == 0 )) && order="yes no"
    for traced in $order; do
      [[ $traced == yes ]] && rec_start
      out=$(storms "$where")
      [[ $traced == yes ]] && rec_stop
      times[$where-$traced]+="$(fastest "$out") "
      log "rep $rep $where recorder=$traced: fastest of $(seconds_of "$out" | tr '\n' ' ')"
    done
    # Paired: the machine's own speed drifts between repetitions more than within one.
    ratios[$where]+="$(awk -v a="$(tr ' ' '\n' <<<"${times[$where-yes]}" | grep . | tail -n 1)" \
      -v b="$(tr ' ' '\n' <<<"${times[$where-no]}" | grep . | tail -n 1)" 'BEGIN { print a / b }') "
  done
done
med() { tr ' ' '\n' <<<"${times[$1]}" | grep . | median; }
ratio() { tr ' ' '\n' <<<"${ratios[$1]}" | grep . | median | awk '{ printf "%.3f", $1 }'; }
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

# 4. the programs' own time per operation
prog_time() { cat /proc/"$REC_PID"/fdinfo/* 2>/dev/null | awk '/^run_time_ns:/ { t += $2 } END { print t + 0 }'; }
echo 1 > /proc/sys/kernel/bpf_stats_enabled
declare -A prog_ns
for where in host session; do
  rec_start
  before=$(prog_time)
  # Ten storms' worth in one run: the login's own program runs spread over many operations.
  if [[ $where == host ]]; then out=$(on_host -n $((OPS * 10))); else out=$(in_session -n $((OPS * 10))); fi
  sleep 0.5
  prog_ns[$where]=$(awk -v a="$before" -v b="$(prog_time)" -v n="$((OPS * 10))" 'BEGIN { printf "%.0f", (b - a) / n }')
  rec_stop
  log "programs' time per operation, $where: ${prog_ns[$where]} ns ($out)"
done
echo "$STATS_WAS" > /proc/sys/kernel/bpf_stats_enabled

# 5. in turns: a storm in a session and one on the host take turns (bench/filestorm.c -T) on one CPU,
# TURN_BLOCK operations at a time, so both meet the same phases of the machine's speed; with a
# recorder and without, in alternating order. Ratio: the session's storm's time over the host's (the
# CPU time of each one's blocks).
TURN_OPS=${FILES_TURN_OPS:-150000} TURN_BLOCK=${FILES_TURN_BLOCK:-1500} TURN_REPS=${FILES_TURN_REPS:-8}
TURN_CPU=$(( $(nproc) - 1 ))
TURNS=$DIR/turns   # the user must reach it: WORK is root's
install -d -o "$USER_" -m 0700 "$TURNS" "$STORM_DIR-host"
turns() {   # -> "SESSION_SECONDS HOST_SECONDS"
  local a b pids storm="taskset -c $TURN_CPU $DIR/filestorm"
  rm -f "$TURNS"/to-*; mkfifo -m 0600 "$TURNS/to-session" "$TURNS/to-host"; chown "$USER_" "$TURNS"/to-*
  bash "$HARNESS" ssh "$DIR" "$PORT" "$USER_" \
    "$storm $STORM_DIR -n $TURN_OPS -B $TURN_BLOCK -T $TURNS/to-session:$TURNS/to-host" > "$WORK/turn-session" &
  pids=$!
  setpriv --reuid="$USER_" --regid="$(id -g "$USER_")" --init-groups --reset-env -- \
    $storm "$STORM_DIR-host" -n "$TURN_OPS" -B "$TURN_BLOCK" -T "$TURNS/to-host:$TURNS/to-session" > "$WORK/turn-host" &
  pids+=" $!"
  # The first turn is the session's. The host's storm holds both FIFOs open for its whole run, so the
  # byte waits there for the session's storm, however long its login takes.
  printf t > "$TURNS/to-session"
  wait $pids
  a=$(seconds_of "$(cat "$WORK/turn-session")") b=$(seconds_of "$(cat "$WORK/turn-host")")
  [[ -n $a && -n $b ]] || { log "turns failed: $(cat "$WORK/turn-session" "$WORK/turn-host")"; exit 1; }
  echo "$a $b"
}
declare -A turn_ratios
for ((rep = 1; rep <= TURN_REPS; rep++)); do
  order="no yes"; (( rep % 2 == 0 )) && order="yes no"
  for traced in $order; do
    [[ $traced == yes ]] && rec_start
    pair=$(turns)
    [[ $traced == yes ]] && rec_stop
    turn_ratios[$traced]+="$(awk '{ print $1 / $2 }' <<<"$pair") "
    log "in turns, rep $rep recorder=$traced: session, host seconds $pair"
  done
done
turn_ratio() { tr ' ' '\n' <<<"${turn_ratios[$1]}" | grep . | median | awk '{ printf "%.3f", $1 }'; }
turn_yes=$(turn_ratio yes) turn_no=$(turn_ratio no)
turn_over=$(awk -v a="$turn_yes" -v b="$turn_no" 'BEGIN { printf "%.3f", a / b }')

per_op() { awk -v s="$1" -v n="$OPS" 'BEGIN { printf "%.0f", s * 1e9 / n }'; }

cat <<MD
## File-operation storm (bench/files.sh)

$(date -u +%Y-%m-%d), $(nproc) CPUs, $REPS repetitions of $OPS operations (create/append, rename, unlink)
by one process as $USER_; each repetition runs $RUNS storms back to back in each configuration and keeps the
fastest (the machine's speed drifts within seconds by more than the overhead, and only ever down), the
two configurations in alternating order; medians over repetitions of the storm's own time; ratio: the
median over repetitions of (with / the same repetition's without). Each run with a recorder starts its own: outside, no session is open, so the
session hooks are not attached. *Programs*: the time the recorder's BPF programs themselves ran, per
operation (the kernel's BPF statistics, in a separate run of each), beside an operation's own time without
recorder; the rest of the overhead is the kernel's dispatch to them (see bench/tpfloor.sh).

| Where | Without recorder | With recorder | Ratio | Operation | Programs per operation |
|---|--:|--:|--:|--:|--:|
| Outside any session | ${host_no} s | ${host_yes} s | $(ratio host) | $(per_op "$host_no") ns | ${prog_ns[host]} ns |
| In an ssh session | ${session_no} s | ${session_yes} s | $(ratio session) | $(per_op "$session_no") ns | ${prog_ns[session]} ns |

In turns: a storm of $TURN_OPS operations in a session and one on the host (outside any session)
take turns on one CPU, $TURN_BLOCK operations at a time (\`filestorm -T\`), so that both meet the same
phases of the machine's speed; $TURN_REPS repetitions with a recorder and without, in alternating order.
Each storm's time is the CPU time of its own blocks (a wall clock would count the moment the other
storm, woken by the turn's byte, still runs). The session's storm's time over the host's, medians:
**$turn_yes** with a recorder, $turn_no without;
their quotient, **$turn_over**, is the in-session overhead over what the host's storm pays meanwhile
(with a session open, the session hooks' dispatch and one lookup per hooked call).

Paced in a session at $RATE operations/s for $SECS s: \`$paced\`; lost in the kernel: ${LOST:-?};
operations counted in file_activity: $stored of $made.

Both at once in one session, $EXECS execs/s (\`storm -j 4\`) beside $RATE file operations/s for $SECS s:
\`$(tr '\n' ' ' <<<"$both")\`; lost in the kernel: $both_lost; file operations counted: $both_stored of
$both_made; execs stored as commands: $both_commands of ${both_execs:-?}.
MD
