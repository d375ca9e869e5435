#!/usr/bin/env bash
# The tracepoints' own cost (as root): what attaching programs to the recorder's tracepoints costs
# the rest of the machine before any program does anything.
#
#   bash bench/tpfloor.sh [path/to/sshaudit] > fragment.md
#
# Empty programs (return 0) are attached to exactly the tracepoints the recorder attaches (the sections
# of the recorder's own BPF object and the further calls its shared programs serve; the
# terminal-recording ones for --tty output only): "always", those attached with no session open, and
# "all", with the session hooks (BPFTracer.sessionHookPrograms) that are attached while one is open.
# Storms outside any session, as the test user, alternating: the file-operation storm
# (bench/filestorm.c) with no programs, with each set of empty programs and with `record` (no session
# open); the connect storm (bench/connstorm.c, serial TCP connects to a loopback listener outside every
# session) likewise; the exec storm (bench/storm.c) with no programs, with the always-attached empty
# programs (terminal ones included) and with `record --tty output`. Medians; a ratio is the median of
# each repetition's run over the same repetition's run with no programs. A
# ratio of the empty programs above a target says that no filtering inside the programs can meet that
# target: the cost is the kernel's dispatch.
#
# Environment: FLOOR_REPS [10], FLOOR_OPS [30000] file operations, FLOOR_EXECS [5000] execs,
# FLOOR_CONNECTS [20000] connects, FLOOR_LISTEN [23596] the listener's port.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${1:-$ROOT/.build-bench/release/sshaudit}
REPS=${FLOOR_REPS:-10}
OPS=${FLOOR_OPS:-30000}
EXECS=${FLOOR_EXECS:-5000}
CONNECTS=${FLOOR_CONNECTS:-20000}
LISTEN=${FLOOR_LISTEN:-23596}
USER_=sa_alice
WORK=$(mktemp -d /var/tmp/sshaudit-tpfloor.XXXXXX)
FLOOR_PID= REC_PID= LISTENER_PID=
log() { printf '[tpfloor] %s\n' "$*" >&2; }
cleanup() {
  [[ -n $FLOOR_PID ]] && kill "$FLOOR_PID" 2>/dev/null && wait "$FLOOR_PID" 2>/dev/null
  [[ -n $REC_PID ]] && kill -INT "$REC_PID" 2>/dev/null && wait "$REC_PID" 2>/dev/null
  [[ -n $LISTENER_PID ]] && kill "$LISTENER_PID" 2>/dev/null
  rm -rf "$WORK" "/tmp/sshaudit-tpfloor-storm"
}
trap cleanup EXIT
[[ $(id -u) == 0 ]] || { log "run as root"; exit 1; }
[[ -x $BIN ]] || { log "no binary $BIN"; exit 1; }
# (find fails when one of the build folders is missing: that must not end the script before it says why)
OBJ=$(find -L "$ROOT/.build-bench" "$ROOT/.build" -name sshaudit.bpf.o -newer "$ROOT/bpf/events.h" 2>/dev/null | head -n 1 || true)
[[ -n $OBJ ]] || { log "no BPF object built from the current bpf/ (build the release binary first)"; exit 1; }
id "$USER_" >/dev/null 2>&1 || bash "$ROOT/Tests/Integration/sshd-harness.sh" setup /run/sshaudit-test/tpfloor >/dev/null

# One empty program per tracepoint the recorder attaches: its object's sections, and the further calls
# that its shared programs serve (BPFTracer.sharedPrograms: on_file_named's calls by name, a `case
# SA_NR_…` each in bpf/files.bpf.h, and the others' lists); as the recorder does, only those this
# kernel has.
TRACER=$ROOT/Sources/SSHAuditBPF/BPFTracer.swift
shared_calls() {   # PROGRAM: the calls of its list, as sections (umount2's tracepoint is sys_exit_umount)
  local list
  list=$(grep -oE "\"$1\": [a-zA-Z]+Calls" "$TRACER" | awk '{print $2}')
  [[ -n $list ]] || return 0
  sed -n "/static let $list = \[\$/,/]/p" "$TRACER" | sed 's|//.*||' \
    | grep -oE '"[a-z0-9_]+"' | tr -d '"' | sed 's|^|tracepoint/syscalls/sys_exit_|'
}
shared_programs() { grep -oE '"on_[a-z0-9_]+": [a-zA-Z]+Calls' "$TRACER" | cut -d'"' -f2; }
sections() {
  { readelf -SW "$OBJ" | grep -oE '(tp_btf|tracepoint)/[a-z0-9_/]+'
    for p in $(shared_programs); do shared_calls "$p"; done
  } | sort -u | while read -r s; do
    if [[ $s == tp_btf/* ]]; then compgen -G "/sys/kernel/tracing/events/*/${s#tp_btf/}" >/dev/null && echo "$s"
    else [[ -d /sys/kernel/tracing/events/${s#tracepoint/} ]] && echo "$s"; fi
  done
}
object() {   # NAME, then a grep -v pattern of sections to leave out
  local name=$1 skip=$2 i=0
  { echo 'char LICENSE[] __attribute__((section("license"), used)) = "GPL";'
    sections | grep -vE "$skip" | while read -r s; do
      i=$((i + 1)); echo "__attribute__((section(\"$s\"), used)) int p$i(void *ctx) { return 0; }"
    done; } > "$WORK/$name.bpf.c"
  clang -O2 -target bpf -c "$WORK/$name.bpf.c" -o "$WORK/$name.bpf.o"
}
# The session hooks' tracepoints (BPFTracer.sessionHookPrograms: attached only while a session is open),
# as a grep -E pattern of sections.
session_sections() {
  local name
  for name in $(sed -n '/static let sessionHookPrograms/,/]/p' "$ROOT/Sources/SSHAuditBPF/BPFTracer.swift" | grep -oE '"[a-z0-9_]+"' | tr -d '"'); do
    grep -h -B1 -E "^int (BPF_PROG\()?$name[(,]" "$ROOT"/bpf/*.h "$ROOT"/bpf/*.c | grep -oE '(tp_btf|tracepoint)/[a-z0-9_/]+'
    shared_calls "$name"
  done
}
SESSION=$(session_sections | sort -u | sed 's/$/$/' | paste -sd '|')
[[ $SESSION == *sys_exit_rename* && $SESSION == *sys_exit_fchmod* && $SESSION == *sys_exit_creat* && $SESSION == *tp_btf/sys_enter* && $SESSION == *tp_btf/io_uring_submit_req* ]] || { log "cannot tell the session hooks apart: $SESSION"; exit 1; }
TTY='tty_|sys_exit_read$|sys_enter_ioctl$|sys_exit_write$'
object always "$TTY|$SESSION"                 # record --tty off, no session open
object all "$TTY"                             # record --tty off, a session open somewhere
object tty "sys_exit_write\$|$SESSION"         # record --tty output (not all), no session open
gcc -O2 -Wall -o "$WORK/tpfloor" "$ROOT/bench/tpfloor.c" -lbpf
gcc -O2 -Wall -o "$WORK/filestorm" "$ROOT/bench/filestorm.c"
gcc -O2 -Wall -o "$WORK/storm" "$ROOT/bench/storm.c"
gcc -O2 -Wall -o "$WORK/connstorm" "$ROOT/bench/connstorm.c"
chmod 0755 "$WORK" "$WORK/filestorm" "$WORK/storm" "$WORK/connstorm"
"$WORK/connstorm" -l "$LISTEN" > "$WORK/listener.out" & LISTENER_PID=$!
until grep -q listening "$WORK/listener.out" 2>/dev/null; do kill -0 "$LISTENER_PID" || { log "no listener"; exit 1; }; sleep 0.05; done
STORM_DIR=/tmp/sshaudit-tpfloor-storm
install -d -o "$USER_" -m 0700 "$STORM_DIR"

as_user() { setpriv --reuid="$USER_" --regid="$(id -g "$USER_")" --init-groups --reset-env -- "$@"; }
files() { as_user "$WORK/filestorm" "$STORM_DIR" -n "$OPS" | sed -n 's/.* seconds=\([0-9.]*\).*/\1/p'; }
connects() { as_user "$WORK/connstorm" -n "$CONNECTS" -p "$LISTEN" | sed -n 's/.* seconds=\([0-9.]*\).*/\1/p'; }
execs() { as_user "$WORK/storm" -n "$EXECS" | sed -n 's/.* seconds=\([0-9.]*\).*/\1/p'; }
floor_start() {
  "$WORK/tpfloor" "$WORK/$1.bpf.o" > "$WORK/floor.out" & FLOOR_PID=$!
  until grep -q attached "$WORK/floor.out"; do kill -0 "$FLOOR_PID" || { log "tpfloor failed"; exit 1; }; sleep 0.05; done
  head -n 1 "$WORK/floor.out" | awk '{ print $2 }' > "$WORK/$1.count"
}
floor_stop() { kill "$FLOOR_PID"; wait "$FLOOR_PID" || true; FLOOR_PID=; }
rec_start() {
  rm -f "$WORK"/audit.db*; : > "$WORK/rec.log"
  "$BIN" record --db "$WORK/audit.db" "$@" 2>"$WORK/rec.log" & REC_PID=$!
  until grep -q recording "$WORK/rec.log"; do kill -0 "$REC_PID" || { log "recorder died: $(cat "$WORK/rec.log")"; exit 1; }; sleep 0.05; done
  sleep "${SETTLE_SECS:-2}"   # the start's own work is not the storm's cost
}
rec_stop() { kill -INT "$REC_PID"; wait "$REC_PID" || true; REC_PID=; }

for ((rep = 1; rep <= REPS; rep++)); do
  files >> "$WORK/f-none"
  floor_start always; files >> "$WORK/f-floor"; floor_stop
  floor_start all; files >> "$WORK/f-all"; floor_stop
  rec_start; files >> "$WORK/f-rec"; rec_stop
  connects >> "$WORK/c-none"
  floor_start always; connects >> "$WORK/c-floor"; floor_stop
  floor_start all; connects >> "$WORK/c-all"; floor_stop
  rec_start; connects >> "$WORK/c-rec"; rec_stop
  execs >> "$WORK/e-none"
  floor_start tty; execs >> "$WORK/e-floor"; floor_stop
  rec_start --tty output; execs >> "$WORK/e-rec"; rec_stop
  log "rep $rep: files $(tail -n 1 "$WORK/f-none") $(tail -n 1 "$WORK/f-floor") $(tail -n 1 "$WORK/f-all") $(tail -n 1 "$WORK/f-rec"); connects $(tail -n 1 "$WORK/c-none") $(tail -n 1 "$WORK/c-floor") $(tail -n 1 "$WORK/c-all") $(tail -n 1 "$WORK/c-rec"); execs $(tail -n 1 "$WORK/e-none") $(tail -n 1 "$WORK/e-floor") $(tail -n 1 "$WORK/e-rec")"
done
med() { sort -g "$WORK/$1" | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
# The median over repetitions of (this run / the same repetition's run with no programs): the machine's
# own speed drifts between repetitions, and a pair taken seconds apart shares most of that drift.
ratio() { paste "$WORK/$1" "$WORK/$2" | awk '{ print $1 / $2 }' | sort -g | awk '{ a[NR] = $1 } END { printf "%.3f", (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
fn=$(med f-none) ff=$(med f-floor) fa=$(med f-all) fr=$(med f-rec) cn=$(med c-none) cf=$(med c-floor) ca=$(med c-all) cr=$(med c-rec)
en=$(med e-none) ef=$(med e-floor) er=$(med e-rec)

cat <<MD
## Tracepoints' own cost (bench/tpfloor.sh)

$(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, $REPS alternating repetitions, outside any session, as $USER_.
*Empty programs*: one \`return 0\` program on each tracepoint the recorder attaches, read from the recorder's own BPF
object and bpf/files.bpf.h: *always* those attached with no session open ($(cat "$WORK/always.count") of them; $(cat "$WORK/tty.count") with
the terminal-recording ones of \`--tty output\`), *all* with the session hooks too, attached while a session is open
anywhere on the machine ($(cat "$WORK/all.count")). \`record\` runs with no session open. Ratio: the median over
repetitions of (that run / the same repetition's run with no programs).

| Storm | No programs | Empty, always | Ratio | Empty, all | Ratio | \`record\` | Ratio |
|---|--:|--:|--:|--:|--:|--:|--:|
| $OPS file operations (bench/filestorm.c) | ${fn} s | ${ff} s | $(ratio f-floor f-none) | ${fa} s | $(ratio f-all f-none) | ${fr} s | $(ratio f-rec f-none) |
| $CONNECTS connects (bench/connstorm.c) | ${cn} s | ${cf} s | $(ratio c-floor c-none) | ${ca} s | $(ratio c-all c-none) | ${cr} s | $(ratio c-rec c-none) |
| $EXECS execs (bench/storm.c), terminal programs included, \`record --tty output\` | ${en} s | ${ef} s | $(ratio e-floor e-none) | | | ${er} s | $(ratio e-rec e-none) |
MD
