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
# Then, because the machine's speed drifts within seconds by more than the overhead measured, the
# programs' own time per connect: one storm of 10 x NET_CONNECTS in each context with the kernel's
# BPF statistics on (kernel.bpf_stats_enabled, only for this step), the recorder's programs'
# run_time_ns and run_cnt (every program: the listener's accepts and the sockets' destruction too) per
# connect.
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
STATS_WAS=$(cat /proc/sys/kernel/bpf_stats_enabled)
cleanup() {
  echo "$STATS_WAS" > /proc/sys/kernel/bpf_stats_enabled
  [[ -n $REC_PID ]] && kill -INT "$REC_PID" 2>/dev/null && wait "$REC_PID" 2>/dev/null
  [[ -n $LISTENER_PID ]] && kill "$LISTENER_PID" 2>/dev/null
  bash "$HARNESS" stop "$DIR" "$PORT" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

# The listener: root, outside every session (its accepts are nobody's activity), on the first CPU, the
# storms on the last: every storm meets the same placement (the scheduler's is one more spread).
STORM_CPU=$(( $(nproc) - 1 ))
taskset -c 0 "$DIR/connstorm" -l "$LISTEN" > "$WORK/listener.out" &
LISTENER_PID=$!
until grep -q listening "$WORK/listener.out" 2>/dev/null; do sleep 0.05; done

storm() {   # CONTEXT -> the storm's output line
  if [[ $1 == session ]]; then
    bash "$HARNESS" ssh "$DIR" "$PORT" "$USER_" "taskset -c $STORM_CPU $DIR/connstorm -n ${2:-$CONNECTS} -p $LISTEN"
  else
    setpriv --reuid="$USER_" --regid="$(id -g "$USER_")" --init-groups --reset-env -- taskset -c "$STORM_CPU" "$DIR/connstorm" -n "${2:-$CONNECTS}" -p "$LISTEN"
  fi
}

log "$REPS repetitions x 2 contexts x (none, sshaudit) x $RUNS storms, $CONNECTS connects each"
inout_runs connects "SELECT COUNT(*) || ' ' || COALESCE(SUM(count), 0) FROM network_activity"
wall_table=$(inout_table)
per_connect() { awk -v s="$(secs "$1" none)" -v n="$CONNECTS" 'BEGIN { printf "%.0f", s * 1e9 / n }'; }
connect_ns_session=$(per_connect session) connect_ns_host=$(per_connect host)
rows_line=$(cut -f2 "$WORK/rows.tsv" | sort | uniq -c | awk '{ printf "%s%s row(s) counting %s connects (%s times)", (NR > 1 ? "; " : ""), $2, $3, $1 }')

# The programs' own time per connect.
prog_time() {   # -> "RUN_TIME_NS RUN_COUNT" of all the recorder's programs
  cat /proc/"$REC_PID"/fdinfo/* 2>/dev/null | awk '/^run_time_ns:/ { t += $2 } /^run_cnt:/ { c += $2 } END { print t + 0, c + 0 }'
}
echo 1 > /proc/sys/kernel/bpf_stats_enabled
declare -A prog_ns prog_runs
for ctx in host session; do
  rec_start
  before=$(prog_time)
  out=$(storm "$ctx" $((CONNECTS * 10)))
  sleep 0.5
  after=$(prog_time)
  prog_ns[$ctx]=$(awk -v a="${before% *}" -v b="${after% *}" -v n="$((CONNECTS * 10))" 'BEGIN { printf "%.0f", (b - a) / n }')
  prog_runs[$ctx]=$(awk -v a="${before#* }" -v b="${after#* }" -v n="$((CONNECTS * 10))" 'BEGIN { printf "%.1f", (b - a) / n }')
  rec_stop
  log "programs' time per connect, $ctx: ${prog_ns[$ctx]} ns in ${prog_runs[$ctx]} runs ($out)"
done
echo "$STATS_WAS" > /proc/sys/kernel/bpf_stats_enabled

echo "## Network: connect storm"
echo
echo "\`bench/net.sh\`: \`connstorm -n $CONNECTS\` (serial TCP connects to a loopback listener outside every"
echo "session, each closed with a reset) as the command of an ssh session (inside) and as the same user"
echo "outside any session (first, with the recorder just started and no session open: the session hooks are"
echo "not attached); $REPS repetitions, the configurations in alternating order, each the fastest of $RUNS"
echo "storms (the machine's speed drifts within seconds by more than the overhead); medians; ratio = with"
echo "\`sshaudit record\` / without, paired per repetition."
echo
echo "$wall_table"
echo "Rows stored per recorded repetition, $RUNS storms in the session (rows, connects counted): $rows_line."
echo
echo "Programs: the recorder's BPF programs' own run time per connect (the kernel's statistics, every"
echo "program: the listener's accepts and the sockets' destruction included), in one storm of $((CONNECTS * 10))"
echo "connects in each context; the program runs per connect (each run's time includes the statistics' own"
echo "two clock reads); a connect's own time without recorder (the medians above)."
echo
echo "| Context | Programs per connect | Program runs per connect | Connect | Programs / connect |"
echo "|---|--:|--:|--:|--:|"
share() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }
printf '| inside a session | %s ns | %s | %s ns | %s |\n' "${prog_ns[session]}" "${prog_runs[session]}" "$connect_ns_session" "$(share "${prog_ns[session]}" "$connect_ns_session")"
printf '| outside any session | %s ns | %s | %s ns | %s |\n' "${prog_ns[host]}" "${prog_runs[host]}" "$connect_ns_host" "$(share "${prog_ns[host]}" "$connect_ns_host")"
