#!/usr/bin/env bash
# What the long-session index (schema/0031: sessions that lasted an hour or more, by end) costs the
# write path:
#
#   bench/session_ends.sh BIN BASE_BIN     (BASE_BIN: a build without schema/0031)
#
# bench/open_sessions.c writes an events log of ENDS_SESSIONS whole sessions (accept, key, user
# child, shell, one command; all open before any ends), once with sessions of microseconds and once
# with sessions of ENDS_HOURS hours: every end then enters the index (its worst case). Each log is
# replayed by BASE_BIN and BIN in turns on one CPU, ENDS_REPS times each (bench/replay_ab.sh), and
# the time replay reports for storing the rows is compared. Writes a BENCHMARKS.md section on
# standard output; ENDS_BASE_LABEL names the base build in it (its revision).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${1:?usage: bench/session_ends.sh BIN BASE_BIN}
BASE_BIN=${2:?usage: bench/session_ends.sh BIN BASE_BIN}
SESSIONS=${ENDS_SESSIONS:-10000}
HOURS=${ENDS_HOURS:-2}
REPS=${ENDS_REPS:-10}
CPU=${ENDS_CPU:-1}
LABEL=${ENDS_BASE_LABEL:-$BASE_BIN}
WORK=$(mktemp -d /var/tmp/sshaudit-session-ends.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
[[ -x $BIN && -x $BASE_BIN ]] || { echo "[session-ends] no binary $BIN or $BASE_BIN" >&2; exit 1; }
. "$ROOT/bench/replay_ab.sh"

gcc -O2 -Wall -o "$WORK/open_sessions" "$ROOT/bench/open_sessions.c"
long_rows() { long=$(sqlite3 "$1" "SELECT count(*) FROM sessions INDEXED BY sessions_long WHERE ended_at >= coalesce(strftime('%Y-%m-%dT%H:%M:%fZ', started_at, '+1 hour'), '')"); }
rows=()
for hours in 0 "$HOURS"; do
  "$WORK/open_sessions" "$SESSIONS" "$WORK/ends.events" "$hours"
  echo "[session-ends] $SESSIONS sessions of $hours hours" >&2
  replay_ab "$WORK/ends.events" "$BIN" "$BASE_BIN" "$REPS" "$CPU" "$WORK" long_rows || exit 1
  rows+=("| $( ((hours)) && echo "$hours hours each ($long in the index)" || echo "microseconds each ($long in the index)") | $AB_BASE ($(ab_range base "$WORK")) | $AB_HEAD ($(ab_range head "$WORK")) | **$AB_RATIO** | $AB_PAIRS |")
done

cat <<EOT

## Write path of sessions with the long-session index (bench/session_ends.sh)

Written by \`bench/session_ends.sh\` on $(date -u +%Y-%m-%d); base build: $LABEL.

\`bench/open_sessions.c\` wrote an events log of $SESSIONS whole sessions (accept, accepted key, user
child, shell, one command; all open before any ends), once lasting microseconds and once $HOURS hours
(each end then enters \`sessions_long\`, schema/0031, which lists the sessions of an hour or more by
end, so that a period keeps the sessions open in it fast). Each log was replayed by the base build
(without the index) and by this one in turns, $REPS times each on CPU $CPU; the time is replay's own
for storing the rows (median, min–max s).

| Sessions | Base | This (long-session index) | Ratio | Median of the pairs' ratios |
|---|--:|--:|--:|--:|
$(printf '%s\n' "${rows[@]}")

Replay stores each session in several versions (opened, authenticated, ended, byte counts), and
each write evaluates the index's condition (\`strftime\` of the start); a session of hours adds its
entry.
EOT
