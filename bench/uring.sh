#!/usr/bin/env bash
# io_uring request storm inside and outside an ssh session, without and with `sshaudit record` (as root):
#   bash bench/uring.sh > fragment.md
# Prints a BENCHMARKS.md section (Markdown) on standard output; progress on standard error.
# bench/run.sh calls it with the release binary and appends the section to BENCHMARKS.md.
#
# Each repetition runs the storm (bench/uringstorm.c: one ring, openat of /dev/null and close of the
# descriptors by turns, or no-op requests, URING_BATCH per io_uring_enter: the cost of the submit
# hook per request, not of the syscall) URING_RUNS times per context without a tracer and with a
# recorder started for it (the two in alternating order), keeping the fastest of each; the ratio is the
# median over repetitions of (with recorder / without) in the same repetition. Inside: the storm is the command of an ssh session
# (every request counted in the kernel, one session event at the end). Outside: the same user's storm
# started by this script (the cost of the hooks for a ring no session created).
#
# Environment (defaults in brackets):
#   URING_BIN [.build-bench/release/sshaudit, else .build/debug/sshaudit]   the sshaudit binary
#   URING_REQUESTS [2000000]  requests per storm       URING_REPS [8]   repetitions
#   URING_RUNS [3]            storms per context, configuration and repetition (the fastest kept)
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
RUNS=${URING_RUNS:-3}
PORT=${URING_PORT:-22655}
DIR=/run/sshaudit-test/uring-bench
USER_=sa_alice
T0=$(date +%s)
log() { printf '[uring %4ds] %s\n' "$(( $(date +%s) - T0 ))" "$*" >&2; }
NAME=uring
source "$ROOT/bench/inout.sh"

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

log "$REPS repetitions x 2 contexts x (none, sshaudit) x $RUNS storms, $REQUESTS requests each"
inout_runs requests "SELECT COUNT(*) || ' ' || COALESCE(GROUP_CONCAT(detail, '|'), '-') FROM session_events WHERE kind = 'io_uring'"

echo "## io_uring: request storm"
echo
echo "\`bench/uring.sh\`: \`uringstorm -n $REQUESTS -b $BATCH $KIND\` (one ring; $([[ -n $KIND ]] && echo "openat of /dev/null and close of the descriptors by turns" || echo "no-op requests"), $BATCH per"
echo "\`io_uring_enter\`) as the command of an ssh session (inside) and as the same user outside any session;"
echo "$REPS repetitions, the configurations in alternating order, each the fastest of $RUNS storms; medians; ratio ="
echo "with \`sshaudit record\` / without, paired per repetition."
echo
inout_table
echo "io_uring events stored per recorded repetition, $RUNS storms in the session (events, detail): $(cut -f2 "$WORK/rows.tsv" | sed 's/; operations through io_uring are counted by kind, not itemised//g' | sort | uniq -c | awk '{ c = $1; $1 = ""; printf "%s%s (%s times)", (NR > 1 ? "; " : ""), substr($0, 2), c }')."
