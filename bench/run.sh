#!/usr/bin/env bash
# sshaudit benchmarks, one command (as root):   bash bench/run.sh
#
# Builds the release binary if needed (swift build -c release --scratch-path .build-bench), installs
# what is missing with apt-get, starts a throw-away sshd on 127.0.0.1 with the integration-test harness
# and measures, in one run:
#   1. overhead on the traced server: an exec storm (fork + exec + wait, serially) inside an ssh
#      session and outside any session, with no tracer, with `sshaudit record` and with auditd's
#      execve rule; alternating repetitions, medians, ratios to the no-tracer runs;
#   2. recorder throughput: a recorded event stream replayed through decoder, correlator and store
#      (`sshaudit replay`) on one core: events/s and peak RSS;
#   3. drops: paced exec storms inside a session while recording; kernel losses per rate.
#   4. shipping (bench/ship.sh): `ship --once` throughput, and the central copy's lag while following.
# Then rewrites BENCHMARKS.md with the results and the machine description.
#
# Environment (defaults in brackets):
#   BENCH_REPS [16]             alternating repetitions of each overhead configuration (on a noisy
#                               shared machine, medians of fewer runs moved by several percent)
#   BENCH_EXECS [5000]          execs per overhead storm (the issue's example size is 20000: more
#                               and shorter alternating runs give steadier medians on a shared machine)
#   BENCH_PROG [/bin/true]      program the overhead storm execs
#   BENCH_REPLAY_SESSIONS [10]  sessions recorded for the replay log
#   BENCH_REPLAY_EXECS [10000]  execs per recorded session
#   BENCH_REPLAY_REPS [3]       timed replays (median)
#   BENCH_REPLAY_AB_REPS [9]    replays of the A/B log by each build (alternating; 3 were within noise)
#   BENCH_REPLAY_IR_PAIRS [2]   replays of the A/B log by each build under cachegrind (instructions)
#   BENCH_REPLAY_CPU [1]        the one CPU replay is pinned to
#   BENCH_OPEN_SESSIONS [10000] sessions held open at once for the memory measurement
#   BENCH_DROP_RATES ["2000 3000 4000 5000 6000 8000"]  stepped in-session exec rates (execs/s)
#   BENCH_DROP_STEP_SECS [10]   seconds per step
#   BENCH_DROP_TARGET [5000]    rate of the long drop run
#   BENCH_DROP_SECS [60]        seconds of the long drop run
#   BENCH_DROP_JOBS [4]         parallel workers of the paced storm
#   BENCH_SHIP_SECS [30]        seconds of the storm that `ship` follows (bench/ship.sh)
#   BENCH_DIAG_EXECS [5000]     execs of the (untimed) diagnostic storms
#   BENCH_WAIT_FOREIGN [120]    seconds to wait for other running sshaudit recorders to finish
#   BENCH_QUIET_CPUS [0.25]     before each storm, wait until other load uses less than this many CPUs
#   BENCH_QUIET_WAIT [20]       ... but at most this many seconds per storm
#   BENCH_QUIET_BUDGET [120]    ... and at most this many seconds in all
#   BENCH_MAX_FOREIGN [0.2]     repeat an overhead storm during which other load averaged more CPUs
#   BENCH_RETRIES [2]           ... at most this many times per storm
#   BENCH_RETRY_BUDGET [60]     ... and for at most this many seconds in all
#   BENCH_WAIT_QUIET [90]       at the start, wait up to this long for the machine to become quiet
#   BENCH_SKIP_BUILD [0]        1: use the existing binary as it is
#   BENCH_BASE_REV []           a revision to compare with in the same run (e.g. the one before a change
#                               that should not cost more): its release binary is built from `git
#                               archive` under BENCH_WORK and runs as one more tracer of the exec storms
#                               ("base"), and replays the same event log
#   BENCH_PORT [22450]  BENCH_DIR [/run/sshaudit-bench-PORT]  BENCH_WORK [/var/tmp/sshaudit-bench-PORT]
#   BENCH_OUT [BENCHMARKS.md at the repository root]
set -euo pipefail

# Run from a private copy: bash reads a script as it goes, and a checkout or commit rewriting this
# file during the quarter of an hour the benchmarks take would make it run garbage.
if [[ -z ${SSHAUDIT_BENCH_ROOT:-} ]]; then
  root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  copy=$(mktemp /tmp/sshaudit-bench-run.XXXXXX)
  cp "${BASH_SOURCE[0]}" "$copy"
  SSHAUDIT_BENCH_ROOT=$root exec bash "$copy" "$@"
fi
ROOT=$SSHAUDIT_BENCH_ROOT
[[ $0 == /tmp/sshaudit-bench-run.* ]] && rm -f -- "$0"   # bash keeps it open; nothing else needs it
HARNESS=$ROOT/Tests/Integration/sshd-harness.sh
SCRATCH=$ROOT/.build-bench
BIN=$SCRATCH/release/sshaudit
PORT=${BENCH_PORT:-22450}
DIR=${BENCH_DIR:-/run/sshaudit-bench-$PORT}
WORK=${BENCH_WORK:-/var/tmp/sshaudit-bench-$PORT}
OUT=${BENCH_OUT:-$ROOT/BENCHMARKS.md}

REPS=${BENCH_REPS:-16}
EXECS=${BENCH_EXECS:-5000}
PROG=${BENCH_PROG:-/bin/true}
REPLAY_SESSIONS=${BENCH_REPLAY_SESSIONS:-10}
REPLAY_EXECS=${BENCH_REPLAY_EXECS:-10000}
REPLAY_REPS=${BENCH_REPLAY_REPS:-3}
REPLAY_AB_REPS=${BENCH_REPLAY_AB_REPS:-9}
REPLAY_IR_PAIRS=${BENCH_REPLAY_IR_PAIRS:-2}
REPLAY_CPU=${BENCH_REPLAY_CPU:-1}
OPEN_SESSIONS=${BENCH_OPEN_SESSIONS:-10000}
DROP_RATES=${BENCH_DROP_RATES:-"2000 3000 4000 5000 6000 8000"}
DROP_STEP_SECS=${BENCH_DROP_STEP_SECS:-10}
DROP_TARGET=${BENCH_DROP_TARGET:-5000}
DROP_SECS=${BENCH_DROP_SECS:-60}
DROP_JOBS=${BENCH_DROP_JOBS:-4}
DIAG_EXECS=${BENCH_DIAG_EXECS:-5000}
WAIT_FOREIGN=${BENCH_WAIT_FOREIGN:-120}
QUIET_CPUS=${BENCH_QUIET_CPUS:-0.25}
QUIET_WAIT=${BENCH_QUIET_WAIT:-20}
QUIET_BUDGET=${BENCH_QUIET_BUDGET:-120}
MAX_FOREIGN=${BENCH_MAX_FOREIGN:-0.2}
RETRIES=${BENCH_RETRIES:-2}
RETRY_BUDGET=${BENCH_RETRY_BUDGET:-60}
WAIT_QUIET=${BENCH_WAIT_QUIET:-90}
SKIP_BUILD=${BENCH_SKIP_BUILD:-0}
BASE_REV=${BENCH_BASE_REV:-}
USER_=sa_alice

T0=$(date +%s)
log() { printf '[bench %4ds] %s\n' "$(( $(date +%s) - T0 ))" "$*" >&2; }
die() { log "error: $*"; exit 1; }

(( EUID == 0 )) || die "run as root (BPF, auditd, a test sshd)"
[[ $DIR == /run/* || $DIR == /var/* ]] || die "BENCH_DIR must be a root-owned path (sshd StrictModes)"

# ---------------------------------------------------------------------------------------------- setup

APT_PACKAGES=(pkg-config libbpf-dev libelf-dev zlib1g-dev libsqlite3-dev gcc libc6-dev
              openssh-server openssh-client sshpass procps util-linux time auditd bpftool sqlite3 postgresql valgrind)
install_deps() {
  local missing=() p
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if (( ${#missing[@]} )); then
    log "installing: ${missing[*]}"
    apt-get update -qq
    # Debian starts services from postinst scripts where it can; auditd is started by us, when needed.
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  command -v swift >/dev/null || [[ $SKIP_BUILD == 1 ]] || die "swift is not on PATH (the Swift toolchain is not an apt package)"
}

build() {
  source_rev
  if [[ $SKIP_BUILD == 1 ]]; then
    [[ -x $BIN ]] || die "BENCH_SKIP_BUILD=1 but $BIN does not exist"
    return
  fi
  log "building the release binary (swift build -c release --scratch-path $SCRATCH)"
  local attempt ok=0
  for attempt in 1 2 3; do
    if (cd "$ROOT" && swift build -c release --scratch-path "$SCRATCH" > "$WORK/build.log" 2>&1); then ok=1; break; fi
    # Someone editing the sources meanwhile ("modified during the build"): try again a little later.
    grep -q 'modified during the build' "$WORK/build.log" || break
    log "sources changed during the build; retrying in 15 s"; sleep 15
  done
  if (( ! ok )); then
    tail -n 20 "$WORK/build.log" >&2
    [[ -x $BIN ]] || die "the build failed and there is no earlier $BIN"
    BUILD_NOTE="the build of the current sources failed; an earlier binary ($(date -u -r "$BIN" +%Y-%m-%dT%H:%MZ)) was measured"
    log "warning: $BUILD_NOTE"
  fi
  [[ -x $BIN ]] || die "build produced no $BIN"
}
BUILD_NOTE=
SOURCE_REV='?'

# The base revision's binary (BENCH_BASE_REV), built once per revision under WORK.
BIN_BASE=
build_base() {
  [[ -n $BASE_REV ]] || return 0
  local rev src scratch
  rev=$(git -C "$ROOT" rev-parse --short "$BASE_REV^{commit}") || die "BENCH_BASE_REV=$BASE_REV is not a revision"
  BASE_REV=$rev
  src=$WORK/base-src-$rev scratch=$WORK/base-build-$rev
  BIN_BASE=$scratch/release/sshaudit
  [[ -x $BIN_BASE ]] && return 0
  log "building the base revision $rev (swift build -c release --scratch-path $scratch)"
  rm -rf "$src"; mkdir -p "$src"
  git -C "$ROOT" archive "$rev" | tar -x -C "$src"
  (cd "$src" && swift build -c release --scratch-path "$scratch" --product sshaudit > "$WORK/base-build.log" 2>&1) \
    || { tail -n 20 "$WORK/base-build.log" >&2; die "the base revision $rev did not build"; }
}
source_rev() {   # the revision being measured, read when the binary is built (others may commit meanwhile)
  SOURCE_REV=$(GIT_OPTIONAL_LOCKS=0 git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')
  GIT_OPTIONAL_LOCKS=0 git -C "$ROOT" diff --quiet HEAD -- Sources bpf schema Package.swift Plugins 2>/dev/null \
    || SOURCE_REV+=" + uncommitted changes"
}

# State we change and put back at the end.
ORIG_BPF_STATS=
ORIG_AUDIT=()   # enabled backlog_limit backlog_wait_time failure
AUDIT_USABLE=1
AUDIT_SKIP_REASON=
REC_PID=
AUD_PID=
SSHD_STARTED=0

cleanup() {
  local rc=$?
  set +e
  if [[ -n $REC_PID ]]; then kill -INT "$REC_PID" 2>/dev/null; wait "$REC_PID" 2>/dev/null; fi
  if [[ -n $AUD_PID ]]; then
    auditctl -D >/dev/null 2>&1
    kill -TERM "$AUD_PID" 2>/dev/null; wait "$AUD_PID" 2>/dev/null
  fi
  if (( AUDIT_USABLE )) && (( ${#ORIG_AUDIT[@]} == 4 )); then
    auditctl -D >/dev/null 2>&1
    auditctl -e "${ORIG_AUDIT[0]}" -b "${ORIG_AUDIT[1]}" --backlog_wait_time "${ORIG_AUDIT[2]}" -f "${ORIG_AUDIT[3]}" >/dev/null 2>&1
  fi
  [[ -n $ORIG_BPF_STATS ]] && sysctl -q -w kernel.bpf_stats_enabled="$ORIG_BPF_STATS" >/dev/null
  (( SSHD_STARTED )) && bash "$HARNESS" stop "$DIR" "$PORT" >/dev/null 2>&1
  declare -F pg_down >/dev/null && pg_down "$WORK/pg"   # bench/ship.sh's PostgreSQL
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

audit_field() { auditctl -s 2>/dev/null | awk -v k="$1" '$1 == k { print $2; exit }'; }

prepare() {
  mkdir -p "$WORK"
  install_deps
  build
  ORIG_BPF_STATS=$(sysctl -n kernel.bpf_stats_enabled)
  ORIG_AUDIT=("$(audit_field enabled)" "$(audit_field backlog_limit)" "$(audit_field backlog_wait_time)" "$(audit_field failure)")
  if [[ $(audit_field pid) != 0 ]]; then
    AUDIT_USABLE=0; AUDIT_SKIP_REASON="an audit daemon (pid $(audit_field pid)) is already running"
  elif ! auditctl -l 2>/dev/null | grep -q '^No rules'; then
    AUDIT_USABLE=0; AUDIT_SKIP_REASON="audit rules are already loaded (not ours to delete)"
  elif [[ ${ORIG_AUDIT[0]} == 2 ]]; then
    AUDIT_USABLE=0; AUDIT_SKIP_REASON="the audit configuration is locked (enabled 2)"
  fi
  (( AUDIT_USABLE )) || log "auditd comparison skipped: $AUDIT_SKIP_REASON"
  (( AUDIT_USABLE )) && auditctl -e 0 >/dev/null   # baseline runs: audit off

  bash "$HARNESS" setup "$DIR" >/dev/null
  gcc -O2 -Wall -o "$DIR/storm" "$ROOT/bench/storm.c"
  gcc -O2 -static -nostdlib -o "$DIR/tiny_true" "$ROOT/bench/tiny_true.c"
  gcc -O2 -Wall -o "$DIR/sysloop" "$ROOT/bench/sysloop.c"
  gcc -O2 -Wall -o "$DIR/open_sessions" "$ROOT/bench/open_sessions.c"
  chmod 0755 "$DIR/storm" "$DIR/tiny_true" "$DIR/sysloop"
  bash "$HARNESS" start "$DIR" "$PORT" >/dev/null
  SSHD_STARTED=1
}

# ------------------------------------------------------------------------------------------- helpers

# Recorders of other people on this machine trace every sshd, ours included: count loaded copies of
# the kernel program (each recorder loads one on_exec), minus ours.
foreign_recorders() {
  local n
  n=$(bpftool prog show 2>/dev/null | grep -c ' name on_exec ' || true)
  [[ -n $REC_PID ]] && n=$(( n - 1 ))
  echo $(( n < 0 ? 0 : n ))
}
FOREIGN_MAX=0
note_foreign() { local f; f=$(foreign_recorders); (( f > FOREIGN_MAX )) && FOREIGN_MAX=$f; echo "$f"; }

wait_for_idle_machine() {   # at the start: other people's builds and tests finish in a few minutes
  local start=$SECONDS a b
  while (( SECONDS - start < WAIT_QUIET )); do
    a=$(stat_cpu); sleep 2; b=$(stat_cpu)
    awk -v a="${a% *}" -v b="${b% *}" -v hz="$HZ" -v q="$QUIET_CPUS" 'BEGIN { exit !((b - a) / hz / 2 <= q) }' && return 0
    (( SECONDS - start < 3 )) && log "the machine is busy (other load above $QUIET_CPUS CPUs); waiting up to ${WAIT_QUIET}s for it to calm down"
    sleep 3
  done
  log "warning: still busy after ${WAIT_QUIET}s; measuring anyway (runs with other load are marked)"
}

wait_for_quiet() {
  local waited=0
  while (( $(foreign_recorders) > 0 && waited < WAIT_FOREIGN )); do
    (( waited == 0 )) && log "another sshaudit recorder is running (it would trace our sshd too); waiting up to ${WAIT_FOREIGN}s"
    sleep 5; waited=$(( waited + 5 ))
  done
  (( $(foreign_recorders) == 0 )) || log "warning: $(foreign_recorders) foreign recorder(s) still running; results will say so"
}

# Is this script itself running inside an ssh session? Then "outside any session" is not outside.
INSIDE_SSH=0
check_ancestry() {
  local pid=$$ comm
  while (( pid > 1 )); do
    comm=$(cat "/proc/$pid/comm" 2>/dev/null) || break
    [[ $comm == sshd || $comm == sshd-session ]] && { INSIDE_SSH=1; return; }
    pid=$(awk '{ print $4 }' "/proc/$pid/stat" 2>/dev/null) || break
  done
}

cpu_ticks() {   # utime + stime of the given pids (clock ticks); missing pids count 0
  local p t=0 s
  for p in "$@"; do
    s=$(cat "/proc/$p/stat" 2>/dev/null) || continue
    s=${s##*) }
    t=$(( t + $(awk '{ print $12 + $13 }' <<<"$s") ))
  done
  echo "$t"
}
HZ=$(getconf CLK_TCK)

stat_cpu() { awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8, $9; exit }' /proc/stat; }   # busy, steal (ticks)

# Wait (bounded) until other load on the machine is below QUIET_CPUS: other people's builds and
# tests on a shared machine would otherwise land in some runs and not in others.
QUIET_SPENT=0
wait_quiet_cpu() {
  local start=$SECONDS a b
  while :; do
    a=$(stat_cpu); sleep 0.5; b=$(stat_cpu)
    awk -v a="${a% *}" -v b="${b% *}" -v hz="$HZ" -v q="$QUIET_CPUS" 'BEGIN { exit !((b - a) / hz / 0.5 <= q) }' && break
    (( SECONDS - start >= QUIET_WAIT || QUIET_SPENT + SECONDS - start >= QUIET_BUDGET )) && break
    sleep 1
  done
  QUIET_SPENT=$(( QUIET_SPENT + SECONDS - start ))
}

iwi_total() { awk '$1 == "IWI:" { s = 0; for (i = 2; i <= NF; i++) if ($i ~ /^[0-9]+$/) s += $i; print s }' /proc/interrupts; }

field() { sed -n "s/.*[ ]$1=\\([0-9.]*\\).*/\\1/p" <<<"$2"; }

median() { sort -g | awk '{ a[NR] = $1 } END { if (NR == 0) { print "nan"; exit } if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

storm_session() { bash "$HARNESS" ssh "$DIR" "$PORT" "$USER_" "$DIR/storm $*"; }
storm_host() { storm_host_cmd "$DIR/storm" "$@"; }
storm_host_cmd() {
  # Same user as the session, started by this script (not a descendant of any sshd).
  setpriv --reuid="$USER_" --regid="$(id -g "$USER_")" --init-groups --reset-env -- "$@"
}

REC_LOG=$WORK/recorder.log
rec_start() {   # DB [record options...]
  local db=$1 i; shift
  rm -f "$db" "$db-wal" "$db-shm"
  : > "$REC_LOG"
  "${REC_BIN:-$BIN}" record --db "$db" "$@" 2>"$REC_LOG" &
  REC_PID=$!
  for ((i = 0; i < 600; i++)); do
    grep -q recording "$REC_LOG" && return 0
    kill -0 "$REC_PID" 2>/dev/null || { REC_PID=; die "recorder exited: $(cat "$REC_LOG")"; }
    sleep 0.05
  done
  die "recorder not ready after 30 s"
}
REC_EVENTS=0; REC_LOST=0
rec_stop() {
  local i
  kill -INT "$REC_PID"
  for ((i = 0; i < 600; i++)); do kill -0 "$REC_PID" 2>/dev/null || break; sleep 0.05; done
  kill -0 "$REC_PID" 2>/dev/null && { log "recorder ignored SIGINT for 30 s; SIGTERM"; kill -TERM "$REC_PID"; }
  wait "$REC_PID" || log "recorder exited with status $?"
  REC_PID=
  local line; line=$(grep 'stopped;' "$REC_LOG" | tail -n 1)
  REC_EVENTS=$(sed -n 's/.*stopped; \([0-9]*\) events.*/\1/p' <<<"$line")
  REC_LOST=$(sed -n 's/.* \([0-9]*\) lost in the kernel.*/\1/p' <<<"$line")
  [[ -n $REC_LOST ]] || die "no stop line from the recorder: $(tail -n 3 "$REC_LOG")"
}

audit_start() {
  /sbin/auditd -n >"$WORK/auditd.out" 2>&1 &
  AUD_PID=$!
  local i
  for ((i = 0; i < 200; i++)); do
    [[ $(audit_field pid) == "$AUD_PID" ]] && break
    kill -0 "$AUD_PID" 2>/dev/null || { AUD_PID=; die "auditd exited: $(cat "$WORK/auditd.out")"; }
    sleep 0.05
  done
  [[ $(audit_field pid) == "$AUD_PID" ]] || die "auditd did not register with the kernel"
  # Debian's stock /etc/audit/rules.d/audit.rules settings (auditd started by hand loads no rules).
  auditctl -b 8192 --backlog_wait_time 60000 -f 1 >/dev/null
  auditctl -a always,exit -F arch=b64 -S execve >/dev/null
}
AUDIT_LOST0=0
audit_stop() {
  auditctl -D >/dev/null
  kill -TERM "$AUD_PID"; wait "$AUD_PID" || true
  AUD_PID=
  auditctl -e 0 >/dev/null
}

tracer_start() {
  case $1 in
    none) ;;
    sshaudit) rec_start "$WORK/overhead.db" ;;
    base) REC_BIN=$BIN_BASE rec_start "$WORK/overhead-base.db" ;;
    auditd) audit_start ;;
  esac
}
tracer_stop() {
  case $1 in
    none) ;;
    sshaudit) rec_stop; echo "$2 $REC_EVENTS $REC_LOST" >> "$WORK/overhead-recorder.txt" ;;
    base) rec_stop ;;
    auditd) audit_stop ;;
  esac
}
tracer_pids() {
  case $1 in
    none) ;;
    sshaudit|base) echo "$REC_PID" ;;
    auditd) echo "$AUD_PID $(pgrep -x kauditd || true)" ;;
  esac
}

# ------------------------------------------------------------------------------- 1. overhead storms

# CPU that one ssh login and logout costs the machine (client, sshd, shell): part of every in-session
# storm's window in /proc/stat but not of the storm, so it is not "other load".
SSH_CPU=0
calibrate_ssh() {
  local i c0 c1 out
  for i in 1 2 3; do
    wait_quiet_cpu
    c0=$(stat_cpu); out=$(storm_session -n 1 -- "$PROG"); c1=$(stat_cpu)
    awk -v a="${c0% *}" -v b="${c1% *}" -v hz="$HZ" -v s="$(field cpu_s "$out")" 'BEGIN { printf "%.3f\n", (b - a) / hz - s }'
  done | median > "$WORK/ssh-cpu.txt"
  SSH_CPU=$(cat "$WORK/ssh-cpu.txt")
  log "one ssh login costs ${SSH_CPU} CPU-s (subtracted from the other load of in-session storms)"
}

RETRIED=0
RETRY_SPENT=0
run_overhead() {
  local tracers=(none sshaudit) rep i t ctx order out secs t0 t1 pids f c0 c1 try foreign steal
  [[ -n $BASE_REV ]] && tracers+=(base)
  (( AUDIT_USABLE )) && tracers+=(auditd)
  local n=${#tracers[@]}
  : > "$WORK/overhead.tsv"; : > "$WORK/overhead-recorder.txt"
  log "overhead: $REPS alternating repetitions x ${#tracers[@]} tracers x 2 contexts, $EXECS execs of $PROG each"
  for ((rep = 1; rep <= REPS; rep++)); do
    for ((i = 0; i < n; i++)); do
      # Rotate the tracer order each repetition (A B C, B C A, ...) and alternate the context order.
      t=${tracers[$(( (i + rep - 1) % n ))]}
      tracer_start "$t"
      if (( (rep + i) % 2 )); then order=(session host); else order=(host session); fi
      for ctx in "${order[@]}"; do
        for ((try = 0; try <= RETRIES; try++)); do
          wait_quiet_cpu
          f=$(note_foreign)
          read -r -a pids <<<"$(tracer_pids "$t")"
          t0=$(cpu_ticks "${pids[@]}"); c0=$(stat_cpu)
          if [[ $ctx == session ]]; then out=$(storm_session -n "$EXECS" -- "$PROG"); else out=$(storm_host -n "$EXECS" -- "$PROG"); fi
          t1=$(cpu_ticks "${pids[@]}"); c1=$(stat_cpu)
          secs=$(field seconds "$out")
          [[ -n $secs && $(field failed "$out") == 0 ]] || die "storm failed: $out"
          # Other load during the storm: all busy CPU time minus the storm's own and the tracer's.
          foreign=$(awk -v a="${c0% *}" -v b="${c1% *}" -v hz="$HZ" -v s="$(field cpu_s "$out")" -v tr=$(( t1 - t0 )) \
            -v ssh="$([[ $ctx == session ]] && echo "$SSH_CPU" || echo 0)" 'BEGIN { x = (b - a - tr) / hz - s - ssh; printf "%.2f", x < 0 ? 0 : x }')
          steal=$(awk -v a="${c0#* }" -v b="${c1#* }" -v hz="$HZ" 'BEGIN { printf "%.2f", (b - a) / hz }')
          awk -v x="$foreign" -v s="$secs" -v m="$MAX_FOREIGN" 'BEGIN { exit !(x / s > m) }' || break
          (( try < RETRIES )) || break
          awk -v spent="$RETRY_SPENT" -v s="$secs" -v b="$RETRY_BUDGET" 'BEGIN { exit !(spent + s <= b) }' || break
          log "  rep $rep  $t  $ctx: ${secs}s with ${foreign} CPU-s of other load; again"
          RETRIED=$(( RETRIED + 1 ))
          RETRY_SPENT=$(awk -v a="$RETRY_SPENT" -v s="$secs" 'BEGIN { print a + s }')
        done
        printf '%s\t%s\t%d\t%s\t%d\t%d\t%s\t%s\t%s\t%s\t%d\n' "$ctx" "$t" "$rep" "$secs" $(( t1 - t0 )) "$f" \
          "$(field cpu_s "$out")" "$(field p50_us "$out")" "$foreign" "$steal" "$try" >> "$WORK/overhead.tsv"
        log "  rep $rep  $t  $ctx: ${secs}s (median exec $(field p50_us "$out") us, other load ${foreign} CPU-s)"
      done
      tracer_stop "$t" "$rep"
    done
  done
}

# --------------------------------------------------------- diagnostics: where the per-exec time goes

bpf_snapshot() {   # "name run_time_ns run_cnt" per program of our recorder (ids from its fdinfo)
  local id
  for id in $(grep -h '^prog_id:' /proc/"$REC_PID"/fdinfo/* 2>/dev/null | awk '{ print $2 }' | sort -u); do
    bpftool prog show id "$id" 2>/dev/null
  done | sed -n -E 's/.* name ([a-z_0-9]+) .*run_time_ns ([0-9]+) run_cnt ([0-9]+).*/\1 \2 \3/p' | sort
}
DIAG=()
diag_storms() {   # with the recorder running and bpf_stats on: per-exec BPF cost and wakeups
  local ctx s0 s1 i0 i1 c0 c1 out
  for ctx in host session; do
    wait_quiet_cpu
    s0=$(bpf_snapshot); i0=$(iwi_total); c0=$(cpu_ticks "$REC_PID")
    if [[ $ctx == session ]]; then out=$(storm_session -n "$DIAG_EXECS" -- "$PROG"); else out=$(storm_host -n "$DIAG_EXECS" -- "$PROG"); fi
    s1=$(bpf_snapshot); i1=$(iwi_total); c1=$(cpu_ticks "$REC_PID")
    # ns of BPF per call and calls per exec, per program; IRQ-work interrupts (how the ring buffer
    # wakes its reader) per exec; recorder CPU per exec.
    DIAG+=("$ctx: $(join <(echo "$s0") <(echo "$s1") | awk -v n="$DIAG_EXECS" '
        { d = $4 - $2; c = $5 - $3; tot += d; if (c > 0) printf "%s=%.0fns*%.2f ", $1, d / c, c / n }
        END { printf "| bpf_ns_per_exec=%.0f", tot / n }') iwi_per_exec=$(awk -v a="$i0" -v b="$i1" -v n="$DIAG_EXECS" 'BEGIN { printf "%.2f", (b - a) / n }') recorder_cpu_us_per_exec=$(awk -v a="$c0" -v b="$c1" -v n="$DIAG_EXECS" -v hz="$HZ" 'BEGIN { printf "%.1f", (b - a) / hz * 1e6 / n }') storm_s=$(field seconds "$out")")
  done
  # The write()/sendto() hooks run for every such call on the machine; how often when idle?
  s0=$(bpf_snapshot); sleep 5; s1=$(bpf_snapshot)
  DIAG+=("idle 5 s: $(join <(echo "$s0") <(echo "$s1") | awk '$1 == "on_write" || $1 == "on_sendto" { c = $5 - $3; printf "%s %.0f calls/s at %.0f ns; ", $1, c / 5, c ? ($4 - $2) / c : 0 }')")
}
run_diagnostics() {
  log "diagnostics: syscall cost outside sessions, BPF cost and wakeups per exec ($DIAG_EXECS execs)"
  local i out
  : > "$WORK/sysloop.tsv"
  for ((i = 1; i <= 3; i++)); do
    wait_quiet_cpu
    out=$(storm_host_cmd "$DIR/sysloop"); printf 'none\t%s\t%s\n' "$(field getppid_ns "$out")" "$(field write_ns "$out")" >> "$WORK/sysloop.tsv"
    rec_start "$WORK/diag.db"
    wait_quiet_cpu
    out=$(storm_host_cmd "$DIR/sysloop"); printf 'sshaudit\t%s\t%s\n' "$(field getppid_ns "$out")" "$(field write_ns "$out")" >> "$WORK/sysloop.tsv"
    # While a session is open the 32-bit call hook (raw_syscalls:sys_enter) is attached: every
    # system call on the machine pays its dispatch. The same loop outside that session.
    bash "$HARNESS" ssh "$DIR" "$PORT" "$USER_" "sleep 15" >/dev/null 2>&1 & local hold=$!
    sleep 2
    out=$(storm_host_cmd "$DIR/sysloop"); printf 'sshaudit, a session open\t%s\t%s\n' "$(field getppid_ns "$out")" "$(field write_ns "$out")" >> "$WORK/sysloop.tsv"
    wait "$hold" || true   # the session ends by itself (the next start finds none open)
    if (( i == 1 )); then
      sysctl -q -w kernel.bpf_stats_enabled=1 >/dev/null
      diag_storms
      sysctl -q -w kernel.bpf_stats_enabled="$ORIG_BPF_STATS" >/dev/null
    fi
    rec_stop
    # The same sshd logging through syslog (as packaged ones do, no -E or -e): the recorder then does
    # not hook write() (BPFTracer.logWriteProgram).
    bash "$HARNESS" stop "$DIR" "$PORT" >/dev/null
    bash "$HARNESS" start "$DIR" "$PORT" syslog >/dev/null
    rec_start "$WORK/diag.db"
    wait_quiet_cpu
    out=$(storm_host_cmd "$DIR/sysloop"); printf 'sshaudit, sshd logging through syslog\t%s\t%s\n' "$(field getppid_ns "$out")" "$(field write_ns "$out")" >> "$WORK/sysloop.tsv"
    rec_stop
    bash "$HARNESS" stop "$DIR" "$PORT" >/dev/null
    bash "$HARNESS" start "$DIR" "$PORT" >/dev/null
  done
  local t g w
  for t in none sshaudit "sshaudit, a session open" "sshaudit, sshd logging through syslog"; do
    g=$(awk -F'\t' -v t="$t" '$1 == t { print $2 }' "$WORK/sysloop.tsv" | median)
    w=$(awk -F'\t' -v t="$t" '$1 == t { print $3 }' "$WORK/sysloop.tsv" | median)
    DIAG+=("syscalls outside sessions, $t: getppid ${g} ns, write(/dev/null) ${w} ns (median of 3)")
  done
}

# ------------------------------------------------------------------------------ 2. replay throughput

REPLAY_EVENTS=0
record_replay_sessions() {   # the sessions of the replay log, while a recorder runs
  local i j
  for ((i = 0; i < REPLAY_SESSIONS; i += 2)); do
    local pids=()
    for ((j = i; j < i + 2 && j < REPLAY_SESSIONS; j++)); do
      # Commands with a few arguments each, like a script's; every session also runs a few real tools.
      storm_session -n "$REPLAY_EXECS" -j 2 -- "$DIR/tiny_true" --session "$j" --mode=bench "/var/log/app/file-$j.log" >/dev/null \
        && bash "$HARNESS" ssh "$DIR" "$PORT" "$USER_" "id; uname -a; ls / | wc -l; cat /etc/hostname" >/dev/null &
      pids+=($!)
    done
    wait "${pids[@]}"
  done
  sleep 0.5
}

run_replay() {
  local log_file=$WORK/replay.events i j out
  log "replay: recording $REPLAY_SESSIONS sessions x $REPLAY_EXECS execs (two sessions at a time) into an event log"
  rec_start "$WORK/replay-record.db" --events "$log_file"
  record_replay_sessions
  rec_stop
  (( REC_LOST == 0 )) || log "warning: $REC_LOST events lost while recording the replay log"
  REPLAY_EVENTS=$("$BIN" events "$log_file" | wc -l)
  REPLAY_BYTES=$(stat -c %s "$log_file")
  log "replay: $REPLAY_EVENTS events ($(( REPLAY_BYTES / 1024 / 1024 )) MiB); $REPLAY_REPS timed replays on CPU $REPLAY_CPU"
  : > "$WORK/replay.tsv"
  for ((i = 1; i <= REPLAY_REPS; i++)); do
    rm -f "$WORK/replay.db" "$WORK/replay.db-wal" "$WORK/replay.db-shm"
    sync
    wait_quiet_cpu
    local t0 t1
    t0=$(date +%s%N)
    taskset -c "$REPLAY_CPU" /usr/bin/time -o "$WORK/replay.time" -f '%M %U %S' "$BIN" replay "$log_file" --db "$WORK/replay.db" 2>"$WORK/replay.err" \
      || die "replay failed: $(cat "$WORK/replay.err")"
    t1=$(date +%s%N)
    read -r rss user sys < "$WORK/replay.time"
    # replay's own line: "... in S s (...); indexed N command lines in S s"
    local stored indexed
    stored=$(sed -n 's/.* in \([0-9.]*\) s (.*/\1/p' "$WORK/replay.err")
    indexed=$(sed -n 's/.*command lines in \([0-9.]*\) s.*/\1/p' "$WORK/replay.err")
    printf '%d\t%s\t%s\t%s\t%s\t%s\t%s\n' "$i" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')" \
      "$rss" "$user" "$sys" "$stored" "$indexed" >> "$WORK/replay.tsv"
    log "  replay $i: $(cut -f2 <<<"$(tail -n 1 "$WORK/replay.tsv")")s (rows stored in ${stored}s, index ${indexed}s), peak RSS ${rss} KiB"
  done
  REPLAY_ROWS=$(sqlite3 "$WORK/replay.db" 'SELECT (SELECT count(*) FROM sessions) || " sessions, " || (SELECT count(*) FROM commands) || " commands"')

  # Replay of one log by the base revision's binary and by this one, alternating. The log is recorded
  # by the base revision's recorder: this build reads older logs; an older build may not know the
  # records this one writes.
  : > "$WORK/replay-base.tsv"
  if [[ -n $BASE_REV ]]; then
    local ab_log=$WORK/replay-base.events which
    log "replay A/B: recording the same sessions with the base revision $BASE_REV"
    REC_BIN=$BIN_BASE rec_start "$WORK/replay-base-record.db" --events "$ab_log"
    record_replay_sessions
    rec_stop
    REPLAY_BASE_EVENTS=$("$BIN" events "$ab_log" | wc -l)
    for ((i = 1; i <= REPLAY_AB_REPS; i++)); do
      for which in $( ((i % 2)) && echo "base head" || echo "head base"); do
        rm -f "$WORK/replay-ab.db" "$WORK/replay-ab.db-wal" "$WORK/replay-ab.db-shm"
        sync; wait_quiet_cpu
        taskset -c "$REPLAY_CPU" "$([[ $which == base ]] && echo "$BIN_BASE" || echo "$BIN")" replay "$ab_log" --db "$WORK/replay-ab.db" \
          2>"$WORK/replay-ab.err" || die "replay A/B ($which) failed: $(tail -n 1 "$WORK/replay-ab.err")"
        printf '%s\t%s\n' "$which" "$(sed -n 's/.* in \([0-9.]*\) s (.*/\1/p' "$WORK/replay-ab.err")" >> "$WORK/replay-base.tsv"
      done
      log "  replay A/B $i: $(tail -n 2 "$WORK/replay-base.tsv" | tr '\t\n' ' ')"
    done
    replay_instructions "$ab_log"
  fi

  # Where the time goes, on the same CPU: decoding and correlating alone (replay --dry-run), and SQLite
  # alone writing the same rows with their indexes and ledger entries in one bulk INSERT ... SELECT from
  # the replayed database (no decoding, no correlation, no hashing, no per-row statements).
  sqlite3 "$WORK/replay.db" "SELECT sql || ';' FROM sqlite_master WHERE tbl_name IN ('sessions', 'commands', 'auth_attempts', 'ledger')
    AND type IN ('table', 'index') AND sql IS NOT NULL" > "$WORK/floor-schema.sql"
  : > "$WORK/replay-parts.tsv"
  for ((i = 1; i <= REPLAY_REPS; i++)); do
    wait_quiet_cpu
    taskset -c "$REPLAY_CPU" "$BIN" replay "$log_file" --dry-run 2>"$WORK/dry.err" || die "replay --dry-run failed: $(cat "$WORK/dry.err")"
    local dry floor t0 t1
    dry=$(sed -n 's/.*correlated in \([0-9.]*\) s.*/\1/p' "$WORK/dry.err")
    rm -f "$WORK/floor.db" "$WORK/floor.db-wal" "$WORK/floor.db-shm"
    { echo "PRAGMA journal_mode = WAL;"; cat "$WORK/floor-schema.sql"; } | sqlite3 "$WORK/floor.db" >/dev/null
    sync
    wait_quiet_cpu
    t0=$(date +%s%N)
    taskset -c "$REPLAY_CPU" sqlite3 "$WORK/floor.db" "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;
      ATTACH '$WORK/replay.db' AS r; BEGIN;
      INSERT INTO main.sessions SELECT * FROM r.sessions; INSERT INTO main.commands SELECT * FROM r.commands;
      INSERT INTO main.auth_attempts SELECT * FROM r.auth_attempts; INSERT INTO main.ledger SELECT * FROM r.ledger;
      COMMIT;" || die "bulk insert failed"
    t1=$(date +%s%N)
    floor=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')
    # The write path's hand-written binding (SQLite's C API, RowBinder) against GRDB's statement
    # arguments, side by side on the same CPU, in alternating order. Both must store the same rows:
    # the latest ledger row hash of every row is compared (how many versions get an entry depends on
    # where batches split, which follows the scheduler), and `verify` must pass on both.
    local grdb_stored ours_stored mode
    for mode in $( ((i % 2)) && echo "ours grdb" || echo "grdb ours"); do
      rm -f "$WORK/$mode.db" "$WORK/$mode.db-wal" "$WORK/$mode.db-shm"
      sync; wait_quiet_cpu
      taskset -c "$REPLAY_CPU" "$BIN" replay "$log_file" --db "$WORK/$mode.db" $([ "$mode" = grdb ] && echo --bind-through-grdb) \
        2>"$WORK/$mode.err" || die "replay ($mode binding) failed: $(cat "$WORK/$mode.err")"
      "$BIN" verify --db "$WORK/$mode.db" >/dev/null 2>&1 || die "verify failed on the replay with the $mode binding"
    done
    ours_stored=$(sed -n 's/.* in \([0-9.]*\) s (.*/\1/p' "$WORK/ours.err")
    grdb_stored=$(sed -n 's/.* in \([0-9.]*\) s (.*/\1/p' "$WORK/grdb.err")
    local latest="SELECT tbl, row_id, hex(row_hash) FROM ledger WHERE seq IN (SELECT max(seq) FROM ledger GROUP BY tbl, row_id) ORDER BY tbl, row_id"
    cmp -s <(sqlite3 "$WORK/ours.db" "$latest") <(sqlite3 "$WORK/grdb.db" "$latest") || die "the two bindings stored different rows"
    printf '%d\t%s\t%s\t%s\t%s\n' "$i" "$dry" "$floor" "$ours_stored" "$grdb_stored" >> "$WORK/replay-parts.tsv"
    log "  parts $i: decode + correlate ${dry}s, SQLite bulk insert of the rows ${floor}s; replay without index ${ours_stored}s (C API) / ${grdb_stored}s (GRDB arguments)"
  done

  # Memory with many sessions open at once: a generated log (bench/open_sessions.c) of OPEN_SESSIONS
  # sessions that all open before any ends.
  "$DIR/open_sessions" "$OPEN_SESSIONS" "$WORK/open.events"
  : > "$WORK/open.tsv"
  for ((i = 1; i <= REPLAY_REPS; i++)); do
    rm -f "$WORK/open.db" "$WORK/open.db-wal" "$WORK/open.db-shm"
    taskset -c "$REPLAY_CPU" /usr/bin/time -o "$WORK/open.time" -f '%M %e' "$BIN" replay "$WORK/open.events" --db "$WORK/open.db" 2>"$WORK/open.err" \
      || die "replay of open sessions failed: $(cat "$WORK/open.err")"
    local peak_open
    peak_open=$(sed -n 's/.*at most \([0-9]*\) sessions open.*/\1/p' "$WORK/open.err")
    printf '%d\t%s\t%s\n' "$i" "$peak_open" "$(cat "$WORK/open.time" | tr ' ' '\t')" >> "$WORK/open.tsv"
    log "  open sessions $i: $peak_open open at once, peak RSS $(cut -d' ' -f1 "$WORK/open.time") KiB"
  done
}

# ------------------------------------------------------------------------------------------ 3. drops

drop_run() {   # RATE SECONDS -> appends a row to drops.tsv
  local rate=$1 secs=$2 out c0 c1 w0 w1
  rec_start "$WORK/drops.db"
  wait_quiet_cpu
  c0=$(cpu_ticks "$REC_PID"); w0=$(date +%s%N)
  out=$(storm_session -r "$rate" -d "$secs" -j "$DROP_JOBS" -- "$DIR/tiny_true" drop-test "$rate") || true
  c1=$(cpu_ticks "$REC_PID"); w1=$(date +%s%N)
  sleep 0.5
  rec_stop
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$rate" "$secs" "$(field rate "$out")" "$(field execs "$out")" \
    "$(field failed "$out")" "$REC_EVENTS" "$REC_LOST" "$(field late_max_ms "$out")" \
    "$(awk -v a="$c0" -v b="$c1" -v hz="$HZ" -v w=$(( (w1 - w0) / 1000000 )) 'BEGIN { printf "%.0f", (b - a) / hz * 100000 / w }')" >> "$WORK/drops.tsv"
  log "  drops: target ${rate}/s for ${secs}s: achieved $(field rate "$out")/s, $REC_EVENTS events, $REC_LOST lost"
}
run_drops() {
  : > "$WORK/drops.tsv"
  log "drops: stepped rates ($DROP_RATES execs/s, ${DROP_STEP_SECS}s each, $DROP_JOBS workers), then ${DROP_TARGET}/s for ${DROP_SECS}s"
  local r
  for r in $DROP_RATES; do
    drop_run "$r" "$DROP_STEP_SECS"
    # Stop stepping once the machine cannot even produce the rate, or the recorder loses events.
    local last; last=$(tail -n 1 "$WORK/drops.tsv")
    if (( $(cut -f7 <<<"$last") > 0 )) || awk -v a="$(cut -f3 <<<"$last")" -v r="$r" 'BEGIN { exit !(a < 0.9 * r) }'; then break; fi
  done
  cp "$WORK/drops.tsv" "$WORK/drops-steps.tsv"
  drop_run "$DROP_TARGET" "$DROP_SECS"
}

# ------------------------------------------------------------------------------------------ report

ratio_of_medians() {   # CTX TRACER
  local a b
  a=$(awk -F'\t' -v c="$1" -v t="$2" '$1 == c && $2 == t { print $4 }' "$WORK/overhead.tsv" | median)
  b=$(awk -F'\t' -v c="$1" '$1 == c && $2 == "none" { print $4 }' "$WORK/overhead.tsv" | median)
  awk -v a="$a" -v b="$b" 'BEGIN { printf "%.3f", a / b }'
}
# The A/B log replayed by both builds under valgrind's cachegrind, which counts the instructions
# executed instead of timing them: the machine's speed, which drifts by tens of percent here, does not
# enter. Threads still interleave differently from run to run (the batches' sizes follow the writer's
# pace), so REPLAY_IR_PAIRS pairs, each pair's two runs side by side. Into replay-ir.tsv: pair, base,
# this build.
replay_instructions() {
  local log_file=$1 i which pids
  : > "$WORK/replay-ir.tsv"
  command -v valgrind >/dev/null || { log "no valgrind: no instruction counts"; return 0; }
  # valgrind 3.19 cannot read the Swift toolchain's DWARF 5: copies without debug info (symbols kept).
  strip --strip-debug -o "$WORK/ir-head" "$BIN" && strip --strip-debug -o "$WORK/ir-base" "$BIN_BASE" || return 0
  for ((i = 1; i <= REPLAY_IR_PAIRS; i++)); do
    pids=()
    for which in base head; do
      rm -f "$WORK/ir-$which.db" "$WORK/ir-$which.db-wal" "$WORK/ir-$which.db-shm"
      valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null \
        "$WORK/ir-$which" replay "$log_file" --db "$WORK/ir-$which.db" > "$WORK/ir-$which.log" 2>&1 & pids+=($!)
    done
    for which in 0 1; do  # each: `wait` of several pids says only how the last one ended
      wait "${pids[$which]}" || die "replay under cachegrind failed: $(tail -n 3 "$WORK/ir-base.log" "$WORK/ir-head.log")"
    done
    printf '%s\t%s\t%s\n' "$i" "$(sed -n 's/.*I *refs: *\([0-9,]*\).*/\1/p' "$WORK/ir-base.log" | tr -d ,)" \
      "$(sed -n 's/.*I *refs: *\([0-9,]*\).*/\1/p' "$WORK/ir-head.log" | tr -d ,)" >> "$WORK/replay-ir.tsv"
    log "  replay instructions $i: $(tail -n 1 "$WORK/replay-ir.tsv" | cut -f2-)"
  done
}

paired_ratio() {   # median over repetitions of (tracer / none in the same repetition)
  awk -F'\t' -v c="$1" -v t="$2" '$1 == c { s[$2, $3] = $4; reps[$3] = 1 }
      END { for (r in reps) if (((t, r) in s) && (("none", r) in s)) print s[t, r] / s["none", r] }' "$WORK/overhead.tsv" | median | awk '{ printf "%.3f", $1 }'
}

p50_ratio() {   # CTX TRACER: median exec latency ratio to no tracer
  local a b
  a=$(awk -F'\t' -v c="$1" -v t="$2" '$1 == c && $2 == t { print $8 }' "$WORK/overhead.tsv" | median)
  b=$(awk -F'\t' -v c="$1" '$1 == c && $2 == "none" { print $8 }' "$WORK/overhead.tsv" | median)
  awk -v a="$a" -v b="$b" 'BEGIN { printf "%.3f", a / b }'
}
cpu_ratio() {   # CTX TRACER: (storm + tracer CPU) / storm CPU without tracer, medians
  local a b
  a=$(awk -F'\t' -v c="$1" -v t="$2" -v hz="$HZ" '$1 == c && $2 == t { print $7 + $5 / hz }' "$WORK/overhead.tsv" | median)
  b=$(awk -F'\t' -v c="$1" '$1 == c && $2 == "none" { print $7 }' "$WORK/overhead.tsv" | median)
  awk -v a="$a" -v b="$b" 'BEGIN { printf "%.3f", a / b }'
}
paired_between() {   # CTX A B: median over repetitions of (A / B in the same repetition)
  awk -F'\t' -v c="$1" -v a="$2" -v b="$3" '$1 == c { s[$2, $3] = $4; reps[$3] = 1 }
      END { for (r in reps) if (((a, r) in s) && ((b, r) in s)) print s[a, r] / s[b, r] }' "$WORK/overhead.tsv" | median | awk '{ printf "%.3f", $1 }'
}
disturbed_runs() { awk -F'\t' -v m="$MAX_FOREIGN" '$9 / $4 > m { k++ } END { print k + 0 }' "$WORK/overhead.tsv"; }

write_report() {
  # bench/queries.sh keeps its own section between markers: carry it over.
  local queries=""
  [ -f "$OUT" ] && queries=$(sed -n '/<!-- queries:begin -->/,/<!-- queries:end -->/p' "$OUT")
  # … and so does bench/central.sh.
  local central=""
  [ -f "$OUT" ] && central=$(sed -n '/<!-- central:begin -->/,/<!-- central:end -->/p' "$OUT")
  local cpu mem kernel ssh_version swift_version libbpf_version virt
  cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
  mem=$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
  kernel=$(uname -r)
  ssh_version=$(ssh -V 2>&1)
  swift_version=$(swift --version 2>/dev/null | head -n 1 || echo unknown)
  libbpf_version=$(dpkg-query -W -f='${Version}' libbpf1 2>/dev/null || echo unknown)
  virt=$(grep -q '^flags.* hypervisor' /proc/cpuinfo && echo "virtual machine (hypervisor flag set)" || echo "bare metal")
  local total=$(( $(date +%s) - T0 ))

  local sa_s au_s sa_h au_h
  sa_s=$(ratio_of_medians session sshaudit); sa_h=$(ratio_of_medians host sshaudit)
  au_s=nan; au_h=nan
  if (( AUDIT_USABLE )); then au_s=$(ratio_of_medians session auditd); au_h=$(ratio_of_medians host auditd); fi

  local replay_med rss_max eps stored_med eps_stored open_rss
  replay_med=$(cut -f2 "$WORK/replay.tsv" | median)
  rss_max=$(cut -f3 "$WORK/replay.tsv" | sort -g | tail -n 1)
  eps=$(awk -v e="$REPLAY_EVENTS" -v s="$replay_med" 'BEGIN { printf "%.0f", e / s }')
  stored_med=$(cut -f6 "$WORK/replay.tsv" | median)
  eps_stored=$(awk -v e="$REPLAY_EVENTS" -v s="$stored_med" 'BEGIN { printf "%.0f", e / s }')
  open_rss=$(cut -f3 "$WORK/open.tsv" | sort -g | tail -n 1)
  local dry_med floor_med eps_dry eps_floor eps_both
  dry_med=$(cut -f2 "$WORK/replay-parts.tsv" | median)
  floor_med=$(cut -f3 "$WORK/replay-parts.tsv" | median)
  eps_dry=$(awk -v e="$REPLAY_EVENTS" -v s="$dry_med" 'BEGIN { printf "%.0f", e / s }')
  eps_floor=$(awk -v e="$REPLAY_EVENTS" -v s="$floor_med" 'BEGIN { printf "%.0f", e / s }')
  eps_both=$(awk -v e="$REPLAY_EVENTS" -v s="$dry_med" -v f="$floor_med" 'BEGIN { printf "%.0f", e / (s + f) }')
  binding_ratio=$(awk -F'\t' '{ print $5 / $4 }' "$WORK/replay-parts.tsv" | median | awk '{ printf "%.3f", $1 }')
  binding_write_ratio=$(awk -F'\t' '{ print ($5 - $2) / ($4 - $2) }' "$WORK/replay-parts.tsv" | median | awk '{ printf "%.3f", $1 }')

  local long; long=$(tail -n 1 "$WORK/drops.tsv")
  local best_rate; best_rate=$(awk -F'\t' '$7 == 0 && $5 == 0 { print $3 }' "$WORK/drops.tsv" | sort -g | tail -n 1)

  verdict() { if awk "BEGIN { exit !($1) }"; then echo "**met**"; else echo "**not met**"; fi; }
  local v1 v2 v3 v4 v5
  v1=$(verdict "$sa_s <= 1.05")
  if (( AUDIT_USABLE )); then v2=$(verdict "($sa_s - 1) < ($au_s - 1) / 3"); else v2="not measured ($AUDIT_SKIP_REASON)"; fi
  v3=$(verdict "$sa_h <= 1.01")
  v4=$(verdict "$eps_stored >= 500000")
  local v6; v6=$(verdict "$open_rss <= 65536")
  v5=$(verdict "$(cut -f7 <<<"$long") == 0 && $(cut -f5 <<<"$long") == 0 && $(cut -f3 <<<"$long") >= 0.99 * $DROP_TARGET")

  {
    echo "# sshaudit benchmarks"
    echo
    echo "Written by \`bash bench/run.sh\` (as root) on $(date -u +%Y-%m-%dT%H:%MZ); the whole run took ${total} s."
    echo "Every number below comes from that one run. Re-run the command to refresh this file."
    echo
    echo "## Machine"
    echo
    echo "| | |"
    echo "|---|---|"
    echo "| CPUs (nproc) | $(nproc) |"
    echo "| CPU model | $cpu |"
    echo "| Memory | $mem |"
    echo "| Kernel | $kernel |"
    echo "| Platform | $virt |"
    echo "| OS | $(. /etc/os-release && echo "$PRETTY_NAME") |"
    echo "| OpenSSH | $ssh_version |"
    echo "| Swift | $swift_version |"
    echo "| libbpf | $libbpf_version |"
    echo "| sshaudit | \`${SOURCE_REV%% *}\`${SOURCE_REV#"${SOURCE_REV%% *}"} at build time, release build ($(date -u -r "$BIN" +%Y-%m-%dT%H:%MZ)) |"
    echo "| Load average at the end | $(cut -d' ' -f1-3 /proc/loadavg) |"
    echo
    if (( FOREIGN_MAX > 0 )); then
      echo "> **Warning:** up to $FOREIGN_MAX other \`sshaudit record\` process(es) were running during the"
      echo "> measurements. They trace every sshd on the machine, ours included, so in-session runs paid for"
      echo "> them in every configuration (also \"no tracer\"). Re-run on a quiet machine."
      echo
    fi
    if [[ -n $BUILD_NOTE ]]; then
      echo "> **Warning:** $BUILD_NOTE."
      echo
    fi
    if (( INSIDE_SSH )); then
      echo "> **Warning:** bench/run.sh itself ran inside an ssh session, so the \"outside any session\""
      echo "> storms were descendants of a traced sshd. Run it from a console or a service instead."
      echo
    fi
    echo "## Targets"
    echo
    echo "Results are judged on the wall-time ratio, as the targets are stated. The cross-check columns"
    echo "are the same comparison by median exec latency and by total CPU time (storm + tracer), which other"
    echo "load on the machine moves much less (see section 1)."
    echo
    echo "| Target | Measured (wall) | Cross-check: exec p50 / CPU | Result |"
    echo "|---|---|---|---|"
    echo "| In-session exec storm, sshaudit ratio ≤ 1.05 | $sa_s | $(p50_ratio session sshaudit) / $(cpu_ratio session sshaudit) | $v1 |"
    if (( AUDIT_USABLE )); then
      echo "| In-session sshaudit overhead under a third of auditd's | sshaudit $(awk -v r="$sa_s" 'BEGIN { printf "%+.1f", (r - 1) * 100 }')% vs auditd $(awk -v r="$au_s" 'BEGIN { printf "%+.1f", (r - 1) * 100 }')% | auditd $(p50_ratio session auditd) / $(cpu_ratio session auditd) | $v2 |"
    else
      echo "| In-session sshaudit overhead under a third of auditd's | – | – | $v2 |"
    fi
    echo "| Outside sessions, sshaudit ratio ≤ 1.01 | $sa_h | $(p50_ratio host sshaudit) / $(cpu_ratio host sshaudit) | $v3 |"
    echo "| Replay ≥ 500,000 events/s on one core | $eps_stored events/s to stored rows ($eps with the index) | | $v4 |"
    echo "| RSS ≤ 64 MiB with $OPEN_SESSIONS open sessions | $open_rss KiB peak | | $v6 |"
    echo "| Zero drops at ${DROP_TARGET} execs/s for ${DROP_SECS} s in a session | $(cut -f3 <<<"$long") execs/s achieved, $(cut -f7 <<<"$long") lost | | $v5 |"
    if [[ -n $BASE_REV ]]; then
      local ctx ab label
      for ctx in session host; do
        ab=$(paired_between "$ctx" sshaudit base)
        label=$([[ $ctx == session ]] && echo "In-session" || echo "Outside-session")
        echo "| $label exec storm not slower than at \`$BASE_REV\` (this build / base, paired per repetition, ≤ 1.01) | $ab (ratios to no tracer: $(ratio_of_medians "$ctx" sshaudit) vs $(ratio_of_medians "$ctx" base)) | $(p50_ratio "$ctx" sshaudit) vs $(p50_ratio "$ctx" base) / $(cpu_ratio "$ctx" sshaudit) vs $(cpu_ratio "$ctx" base) | $(verdict "$ab <= 1.01") |"
      done
      if [[ -s $WORK/replay-base.tsv ]]; then
        local rh rb
        rh=$(awk -F'\t' '$1 == "head" { print $2 }' "$WORK/replay-base.tsv" | median)
        rb=$(awk -F'\t' '$1 == "base" { print $2 }' "$WORK/replay-base.tsv" | median)
        # Paired per repetition (this build's time / the base's, run back to back): drift of the machine
        # over the minutes of the A/B cancels out of each pair.
        local paired spread
        paired=$(awk -F'\t' '{ t[$1] = $2 } NR % 2 == 0 { print t["head"] / t["base"] }' "$WORK/replay-base.tsv" | sort -g)
        spread=$(printf '%s\n' "$paired" | awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%.3f–%.3f", lo, hi }')
        paired=$(printf '%s\n' "$paired" | median)
        echo "| Replay not slower than at \`$BASE_REV\` (rows stored; one log of $REPLAY_BASE_EVENTS events recorded by the base, $REPLAY_AB_REPS pairs alternating; time this build / base, paired, ≤ 1.01) | $(awk -v e="$REPLAY_BASE_EVENTS" -v s="$rh" 'BEGIN { printf "%.0f", e / s }') vs $(awk -v e="$REPLAY_BASE_EVENTS" -v s="$rb" 'BEGIN { printf "%.0f", e / s }') events/s (medians); paired $(printf '%.3f' "$paired") (pairs $spread) | | $(verdict "$paired <= 1.01") |"
      fi
      if [[ -s $WORK/replay-ir.tsv ]]; then
        local ir
        ir=$(awk -F'\t' '{ b += $2; h += $3 } END { printf "%.4f", h / b }' "$WORK/replay-ir.tsv")
        echo "| Replay does no more work than at \`$BASE_REV\` (the same log under cachegrind: instructions executed, this build / base, summed over $(wc -l < "$WORK/replay-ir.tsv") pairs, ≤ 1.01) | $ir ($(awk -F'\t' '{ printf "%s%.2f vs %.2f G", (NR > 1 ? "; " : ""), $3 / 1e9, $2 / 1e9 }' "$WORK/replay-ir.tsv")) | | $(verdict "$ir <= 1.01") |"
      fi
    fi
    echo
    if awk -v a="$sa_s" -v b="$sa_h" 'BEGIN { exit !(a < 1 || b < 1) }'; then
      echo "> **Note:** a ratio below 1 means that the recorder's cost is smaller than the run-to-run noise"
      echo "> of this machine (about ±1% between medians), not that recording makes execs faster."
      echo
    fi
    local dist; dist=$(disturbed_runs)
    if (( dist > 0 )); then
      echo "> **Note:** $dist of $(wc -l < "$WORK/overhead.tsv") overhead storms ran while other processes used more than"
      echo "> $MAX_FOREIGN CPUs on average (a shared machine); their wall times carry that noise. Trust the"
      echo "> cross-check columns more than the wall ratios then, or re-run on a quiet machine."
      echo
    fi
    echo "## 1. Overhead on the traced server"
    echo
    echo "An exec storm: \`bench/storm.c\` forks, execs \`$PROG\` and waits, $EXECS times in a row; its own clock"
    echo "times the execs only (not the ssh login). **In session**: the storm is the command of an ssh session"
    echo "(\`ssh sa_alice@127.0.0.1 storm …\`, a descendant of sshd, so traced). **Outside**: the same storm"
    echo "started by this script as the same user, in no session. Tracers: none; \`sshaudit record\`"
    echo "(database on disk); auditd $(auditctl -v 2>/dev/null | awk '{ print $NF }') with \`-a always,exit -F arch=b64 -S execve\`"
    echo "(Debian's stock \`-b 8192 --backlog_wait_time 60000 -f 1\`, logging to /var/log/audit). $REPS repetitions;"
    echo "each repetition runs every tracer once, in rotated order (A B C, B C A, …), with the in-session and"
    echo "outside storms alternating first. Tracers are started before and stopped after their storms."
    if [[ -n $BASE_REV ]]; then
      echo "\"sshaudit at \`$BASE_REV\`\" is \`sshaudit record\` built from that revision (BENCH_BASE_REV), a tracer of"
      echo "its own in the same rotation, so that this build is compared with it side by side."
    fi
    echo
    echo "Before each storm the script waits (bounded) until other load is below $QUIET_CPUS CPUs, and repeats"
    echo "(up to $RETRIES times) a storm during which other processes used more than $MAX_FOREIGN CPUs on average."
    echo
    echo "- **Ratio** = median(tracer) / median(no tracer) of the storm's wall time: the target metric."
    echo "- **Paired** = median over repetitions of tracer / no tracer within the same repetition."
    echo "- **Exec p50** = median time of one fork + exec + wait, and its ratio: barely moved by other load."
    echo "- **CPU ratio** = median(storm CPU + tracer CPU) / median(storm CPU without tracer): the machine's"
    echo "  total CPU cost of the storm. **Tracer CPU** = recorder (or auditd + kauditd) CPU per 1000 execs."
    echo "- **Other load** = median CPU-seconds used by other processes during a storm (busy time in /proc/stat"
    echo "  minus the storm's, the tracer's and, in session, one ssh login's ($SSH_CPU CPU-s, measured first);"
    echo "  **Disturbed** = runs above the limit even after retries."
    echo
    echo "| Context | Tracer | Median s | Min–max s | execs/s | Ratio | Paired | Exec p50 µs (ratio) | CPU ratio | Tracer CPU ms / 1000 execs | Other load CPU-s | Disturbed |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
    local ctx t
    for ctx in session host; do
      local base_p50 base_cpu
      base_p50=$(awk -F'\t' -v c="$ctx" '$1 == c && $2 == "none" { print $8 }' "$WORK/overhead.tsv" | median)
      base_cpu=$(awk -F'\t' -v c="$ctx" '$1 == c && $2 == "none" { print $7 }' "$WORK/overhead.tsv" | median)
      for t in none sshaudit base auditd; do
        [[ $t == auditd ]] && (( ! AUDIT_USABLE )) && continue
        [[ $t == base && -z $BASE_REV ]] && continue
        awk -F'\t' -v c="$ctx" -v t="$t" '$1 == c && $2 == t { print $4 }' "$WORK/overhead.tsv" > "$WORK/col.txt"
        local med mn mx cpu_ms r p p50 cpu_r other dist
        med=$(median < "$WORK/col.txt"); mn=$(sort -g "$WORK/col.txt" | head -n 1); mx=$(sort -g "$WORK/col.txt" | tail -n 1)
        cpu_ms=$(awk -F'\t' -v c="$ctx" -v t="$t" -v hz="$HZ" -v n="$EXECS" '$1 == c && $2 == t { s += $5; k++ } END { printf "%.0f", k ? s / k / hz * 1000 / (n / 1000) : 0 }' "$WORK/overhead.tsv")
        p50=$(awk -F'\t' -v c="$ctx" -v t="$t" '$1 == c && $2 == t { print $8 }' "$WORK/overhead.tsv" | median)
        cpu_r=$(awk -F'\t' -v c="$ctx" -v t="$t" -v hz="$HZ" '$1 == c && $2 == t { print $7 + $5 / hz }' "$WORK/overhead.tsv" | median)
        other=$(awk -F'\t' -v c="$ctx" -v t="$t" '$1 == c && $2 == t { print $9 }' "$WORK/overhead.tsv" | median)
        dist=$(awk -F'\t' -v c="$ctx" -v t="$t" -v m="$MAX_FOREIGN" '$1 == c && $2 == t && $9 / $4 > m { k++ } END { print k + 0 }' "$WORK/overhead.tsv")
        if [[ $t == none ]]; then r="1"; p="1"; cpu_ms="–"; else r=$(ratio_of_medians "$ctx" "$t"); p=$(paired_ratio "$ctx" "$t"); fi
        printf '| %s | %s | %.3f | %.3f–%.3f | %.0f | %s | %s | %.0f (%.3f) | %.3f | %s | %.2f | %s |\n' \
          "$([[ $ctx == session ]] && echo "in session" || echo "outside")" "$([[ $t == base ]] && echo "sshaudit at \`$BASE_REV\`" || echo "$t")" \
          "$med" "$mn" "$mx" \
          "$(awk -v n="$EXECS" -v s="$med" 'BEGIN { print n / s }')" "$r" "$p" "$p50" \
          "$(awk -v a="$p50" -v b="$base_p50" 'BEGIN { print a / b }')" "$(awk -v a="$cpu_r" -v b="$base_cpu" 'BEGIN { print a / b }')" \
          "$cpu_ms" "$other" "$dist"
      done
    done
    echo
    echo "Recorder during the overhead runs (events, lost in the kernel), per repetition:"
    echo "$(awk '{ printf "rep %s: %s events, %s lost; ", $1, $2, $3 }' "$WORK/overhead-recorder.txt")"
    echo
    echo "Waiting for a quiet machine before storms took ${QUIET_SPENT} s in all; $RETRIED storm(s) were repeated"
    echo "because of other load."
    echo
    echo "<details><summary>All overhead runs</summary>"
    echo
    echo "Columns: context, tracer, repetition, wall s, tracer CPU ticks (${HZ} Hz), other sshaudit recorders"
    echo "running, storm CPU s, exec p50 µs, other load CPU-s, steal s, retries."
    echo
    echo '```'
    cat "$WORK/overhead.tsv"
    echo '```'
    echo "</details>"
    echo
    echo "### Where the per-exec time goes (untimed diagnostic run)"
    echo
    echo "With \`kernel.bpf_stats_enabled=1\` and the recorder running, $DIAG_EXECS execs of \`$PROG\` outside"
    echo "and inside a session. Per program: ns per call × calls per exec; \`bpf_ns_per_exec\` is their sum."
    echo "\`iwi_per_exec\`: IRQ-work interrupts per exec on the whole machine (/proc/interrupts IWI; the ring"
    echo "buffer wakes its reader through IRQ work, a self-IPI). \`recorder_cpu_us_per_exec\`: recorder CPU per exec."
    echo "\`idle\`: how often the write()/sendto() hooks run machine-wide with no benchmark running. \`syscalls\`:"
    echo "\`bench/sysloop.c\` outside any session, without and with the recorder, with the recorder while another"
    echo "session is open (the 32-bit call hook attached), and with the recorder while the benchmark's sshd logs through"
    echo "syslog instead of its -E file (then write() is not hooked); 3 alternating runs each."
    echo
    echo '```'
    printf '%s\n' "${DIAG[@]}"
    echo '```'
    echo
    echo "## 2. Recorder throughput (replay)"
    echo
    echo "Event log: \`sshaudit record --events\` while $REPLAY_SESSIONS ssh sessions (two at a time) each ran"
    echo "$REPLAY_EXECS execs of a static no-op with four arguments (\`storm -j 2\`), plus a few real commands"
    echo "each: $REPLAY_EVENTS records (\`sshaudit events FILE | wc -l\`), $(( REPLAY_BYTES / 1024 / 1024 )) MiB. Replay:"
    echo "\`taskset -c $REPLAY_CPU sshaudit replay FILE --db DB\` into a fresh database on disk (decoder,"
    echo "correlator, batched SQLite writes; all threads on one CPU), $REPLAY_REPS runs; it stored $REPLAY_ROWS."
    echo "Wall time includes reading the file and opening the database."
    echo
    echo "\"Rows stored\" is replay's own timing from the first record to the last batch committed (every row"
    echo "durable); the trigram index of command lines that \`--grep\` uses is filled after that, as the recorder"
    echo "fills it in its spare time (schema/0012), and timed apart (\"Index s\"). Wall time covers both, plus"
    echo "process start, reading the file and opening the database."
    echo
    echo "| Run | Wall s | events/s (wall) | Rows stored s | events/s (stored) | Index s | Peak RSS MiB | User s | Sys s |"
    echo "|---|---|---|---|---|---|---|---|---|"
    awk -F'\t' -v e="$REPLAY_EVENTS" '{ printf "| %s | %.3f | %.0f | %s | %.0f | %s | %.0f | %s | %s |\n", $1, $2, e / $2, $6, e / $6, $7, $3 / 1024, $4, $5 }' "$WORK/replay.tsv"
    echo
    echo "**Median: $eps_stored events/s to stored rows, $eps events/s wall with the index; peak RSS $(( rss_max / 1024 )) MiB.**"
    echo
    echo "Where the time goes, measured beside the replays on the same CPU: decoding and correlating alone"
    echo "(\`sshaudit replay FILE --dry-run\`, its own timing), and SQLite alone writing the stored rows with"
    echo "their indexes and ledger entries (\`sqlite3\`: one bulk \`INSERT ... SELECT\` per table from the replayed"
    echo "database into a fresh one with the same tables and indexes, one transaction, WAL, synchronous FULL;"
    echo "no decoding, correlation, hashing or per-row statement). Their sum is what this design costs at"
    echo "the least on this machine; the rest of \"rows stored\" is binding, hashing, batching and commits."
    echo
    echo "| Run | Decode + correlate s | events/s | SQLite bulk insert s | events/s equivalent | Sum s | events/s |"
    echo "|---|---|---|---|---|---|---|"
    awk -F'\t' -v e="$REPLAY_EVENTS" '{ printf "| %s | %s | %.0f | %s | %.0f | %.3f | %.0f |\n", $1, $2, e / $2, $3, e / $3, $2 + $3, e / ($2 + $3) }' "$WORK/replay-parts.tsv"
    echo
    echo "**Medians: decode + correlate $eps_dry events/s; SQLite alone $eps_floor events/s equivalent; both: $eps_both events/s.**"
    echo
    echo "Why the write path binds by hand: each run above also replayed the log twice more on the same CPU,"
    echo "in alternating order, once with the recorder's binding (SQLite's C API straight from the values,"
    echo "\`RowBinder\`) and once binding every row through GRDB's statement arguments (\`replay"
    echo "--bind-through-grdb\`, a comparison switch: boxed \`DatabaseValue\`s and a String per text value). Both"
    echo "hash the same bytes; the latest ledger row hash of every row was compared and \`verify\` passed on both."
    echo "Replay without the index, in seconds, and the same less that run's decode + correlate time (the"
    echo "write path's own share):"
    echo
    echo "| Run | C API s | GRDB arguments s | ratio | C API less decode s | GRDB less decode s | ratio |"
    echo "|---|---|---|---|---|---|---|"
    awk -F'\t' '{ printf "| %s | %s | %s | %.3f | %.3f | %.3f | %.3f |\n", $1, $4, $5, $5 / $4, $4 - $2, $5 - $2, ($5 - $2) / ($4 - $2) }' "$WORK/replay-parts.tsv"
    echo
    echo "**Median time ratio GRDB arguments / C API: $binding_ratio for the replay, $binding_write_ratio for the write path's share.**"
    echo
    echo "Many sessions open at once: \`bench/open_sessions.c\` writes a log in which $OPEN_SESSIONS sessions (accept,"
    echo "monitor, logged key, post-auth child, shell on a pty, one running command each; the kernel's record"
    echo "layouts) all open before any ends; \`sshaudit replay\` of it on one CPU, $REPLAY_REPS runs:"
    echo
    echo "| Run | Sessions open at once | Peak RSS KiB | Wall s |"
    echo "|---|---|---|---|"
    awk -F'\t' '{ printf "| %s | %s | %s | %s |\n", $1, $2, $3, $4 }' "$WORK/open.tsv"
    echo
    echo "**Peak RSS with $OPEN_SESSIONS sessions open: $open_rss KiB (target 65,536 KiB = 64 MiB).**"
    echo
    echo "## 3. Drops"
    echo
    echo "\`storm -r RATE -d SECONDS -j $DROP_JOBS\` (paced, $DROP_JOBS workers, static no-op) as the command of one"
    echo "ssh session while \`sshaudit record\` runs (a fresh recorder per row); \"lost\" is the kernel loss count"
    echo "from the recorder's stop line (ring buffer full + processes not followed are reported apart; this is"
    echo "the ring-buffer count). Stepping stops at the first rate with losses or that the machine cannot produce."
    echo
    echo "| Target execs/s | Seconds | Achieved execs/s | Execs | Events | Lost | Worst lateness ms | Recorder CPU % |"
    echo "|---|---|---|---|---|---|---|---|"
    awk -F'\t' '{ printf "| %s | %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $6, $7, $8, $9 }' "$WORK/drops.tsv"
    echo
    echo "Highest in-session exec rate with zero drops: **${best_rate:-none} execs/s** (achieved)."
    if ! awk -F'\t' '$7 > 0 { f = 1 } END { exit !f }' "$WORK/drops.tsv"; then
      echo "No run lost an event: the ceiling is how fast this machine can fork and exec while recording"
      echo "(see the achieved rates of the highest targets), not the recorder."
    fi
    echo
    ship_report
    echo
    if [ -s "$WORK/net.md" ]; then cat "$WORK/net.md"; echo; fi
    echo "## Configuration of this run"
    echo
    echo '```'
    echo "BENCH_REPS=$REPS BENCH_EXECS=$EXECS BENCH_PROG=$PROG"
    echo "BENCH_REPLAY_SESSIONS=$REPLAY_SESSIONS BENCH_REPLAY_EXECS=$REPLAY_EXECS BENCH_REPLAY_REPS=$REPLAY_REPS BENCH_REPLAY_CPU=$REPLAY_CPU"
    [[ -n $BASE_REV ]] && echo "BENCH_BASE_REV=$BASE_REV"
    echo "BENCH_DROP_RATES=\"$DROP_RATES\" BENCH_DROP_STEP_SECS=$DROP_STEP_SECS BENCH_DROP_TARGET=$DROP_TARGET BENCH_DROP_SECS=$DROP_SECS BENCH_DROP_JOBS=$DROP_JOBS"
    echo '```'
    if [ -n "$queries" ]; then echo; echo "$queries"; fi
    if [ -n "$central" ]; then echo; echo "$central"; fi
    if [ -s "$WORK/tty.md" ]; then echo; cat "$WORK/tty.md"; fi   # bench/tty.sh
  } > "$OUT"
  log "wrote $OUT"
}

# -------------------------------------------------------------------------------------------- main

check_ancestry
(( INSIDE_SSH )) && log "warning: running inside an ssh session: the 'outside' storms will be traced too"
prepare
build_base
wait_for_quiet
wait_for_idle_machine
calibrate_ssh
run_overhead
run_diagnostics
run_replay
run_drops
. "$ROOT/bench/ship.sh"
run_ship
NET_BIN=$BIN bash "$ROOT/bench/net.sh" > "$WORK/net.md" || { log "bench/net.sh failed"; : > "$WORK/net.md"; }
TTY_BENCH_BIN=$BIN bash "$ROOT/bench/tty.sh" > "$WORK/tty.md" || log "bench/tty.sh failed: its section is left out"
write_report
bash "$ROOT/bench/files.sh" "$BIN" >> "$OUT" || log "bench/files.sh failed"   # its section, appended
# An index's write cost, against a base build that predates it (its schema file names the index).
predates() { [[ -n $BASE_REV ]] && ! git -C "$ROOT" cat-file -e "$BASE_REV:schema/$1" 2>/dev/null; }
if predates 0030_activity_spans.sql; then
  SPANS_BASE_LABEL=$BASE_REV bash "$ROOT/bench/spans.sh" "$BIN" "$BIN_BASE" >> "$OUT" || log "bench/spans.sh failed"
fi
if predates 0031_session_spans.sql; then
  ENDS_BASE_LABEL=$BASE_REV bash "$ROOT/bench/session_ends.sh" "$BIN" "$BIN_BASE" >> "$OUT" || log "bench/session_ends.sh failed"
fi
{ echo; REFUSE_BIN=$BIN bash "$ROOT/bench/refusals.sh"; } >> "$OUT" || log "bench/refusals.sh failed"   # its section, appended
bash "$ROOT/bench/channels.sh" "$BIN" >> "$OUT" || log "bench/channels.sh failed"   # its section, appended
bash "$ROOT/bench/namespace.sh" "$BIN" >> "$OUT" || log "bench/namespace.sh failed"   # its section, appended
{ echo; URING_BIN=$BIN bash "$ROOT/bench/uring.sh"; } >> "$OUT" || log "bench/uring.sh failed"   # its section, appended
{ echo; bash "$ROOT/bench/tpfloor.sh" "$BIN"; } >> "$OUT" || log "bench/tpfloor.sh failed"   # its section, appended
log "done in $(( $(date +%s) - T0 )) s"
