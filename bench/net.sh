#!/usr/bin/env bash
# Connect storm inside and outside an ssh session, without and with `sshaudit record` (as root):
#   bash bench/net.sh > fragment.md
# Prints a BENCHMARKS.md section (Markdown) on standard output; progress on standard error.
# bench/run.sh calls it with the release binary and puts the section in BENCHMARKS.md.
#
# Each repetition runs the storm (serial TCP connects to a loopback listener that runs outside every
# session) NET_RUNS times per context without a tracer and with a recorder started for it (the two in
# alternating order), keeping the fastest of each; the ratio is the median over repetitions of (with
# recorder / without) in the same repetition.
# Inside: the storm is the command of an ssh session (every connect is recorded, aggregated into one
# row). Outside: the same user's storm started by this script (the kernel filter's cost only).
#
# Environment (defaults in brackets):
#   NET_BIN [.build-bench/release/sshaudit, else .build/debug/sshaudit]   the sshaudit binary
#   NET_CONNECTS [20000]   connects per storm        NET_REPS [8]   repetitions
#   NET_RUNS [5]           storms per context, configuration and repetition (the fastest kept)
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
RUNS=${NET_RUNS:-5}
PORT=${NET_PORT:-22573}
LISTEN=${NET_LISTEN:-23590}
DIR=/run/sshaudit-test/net-bench
USER_=sa_alice
T0=$(date +%s)
log() { printf '[net %4ds] %s\n' "$(( $(date +%s) - T0 ))" "$*" >&2; }
NAME=net
source "$ROOT/bench/inout.sh"

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

log "$REPS repetitions x 2 contexts x (none, sshaudit) x $RUNS storms, $CONNECTS connects each"
inout_runs connects "SELECT COUNT(*) || ' ' || COALESCE(SUM(count), 0) FROM network_activity"

echo "## Network: connect storm"
echo
echo "\`bench/net.sh\`: \`connstorm -n $CONNECTS\` (serial TCP connects to a loopback listener outside every"
echo "session, each closed with a reset) as the command of an ssh session (inside) and as the same user"
echo "outside any session (first, with the recorder just started and no session open: the session hooks are"
echo "not attached); $REPS repetitions, the configurations in alternating order, each the fastest of $RUNS"
echo "storms (the machine's speed drifts within seconds by more than the overhead); medians; ratio = with"
echo "\`sshaudit record\` / without, paired per repetition."
echo
inout_table
echo "Rows stored per recorded repetition, $RUNS storms in the session (rows, connects counted): $(cut -f2 "$WORK/rows.tsv" | sort | uniq -c | awk '{ printf "%s%s row(s) counting %s connects (%s times)", (NR > 1 ? "; " : ""), $2, $3, $1 }')."
