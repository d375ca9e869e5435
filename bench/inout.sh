# Sourced by the storm scripts that compare a storm inside an ssh session and outside any, without
# and with `sshaudit record` (bench/net.sh, bench/uring.sh). The caller sets BIN, WORK, NAME (its
# short name, for messages and the database file), REPS and REC_PID=, and defines `storm CONTEXT`
# (CONTEXT: session or host), which prints the storm's `key=value` output line; RUNS (default 1) is
# how many storms each context runs per configuration and repetition, the fastest kept: the machine's
# speed drifts within seconds by more than the overhead measured, and only ever down.
median() { sort -g | awk '{ a[NR] = $1 } END { if (NR == 0) { print "nan"; exit } if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
field() { sed -n "s/.*[ ]$1=\\([0-9.]*\\).*/\\1/p" <<<"$2"; }

rec_start() {
  rm -f "$WORK/$NAME.db"*; : > "$WORK/rec.log"
  "$BIN" record --db "$WORK/$NAME.db" 2>"$WORK/rec.log" &
  REC_PID=$!
  local i
  # Then a moment to settle: the start's own work (the /proc scan, the first checkpoint) is not the
  # storm's cost, and the outside storm now comes first.
  for ((i = 0; i < 600; i++)); do grep -q recording "$WORK/rec.log" && { sleep "${SETTLE_SECS:-2}"; return 0; }; sleep 0.05; done
  echo "bench/$NAME.sh: recorder not ready: $(cat "$WORK/rec.log")" >&2; exit 1
}
rec_stop() { kill -INT "$REC_PID"; wait "$REC_PID" || true; REC_PID=; }

# inout_runs WHAT ROWS_SQL: REPS repetitions of each context without and with a recorder (in
# alternating order), into runs.tsv (rep, context, tracer, seconds: the fastest of RUNS storms), outside
# before inside; after each recorded repetition ROWS_SQL's answer goes to rows.tsv and the kernel's
# losses to lost.txt. A storm with failures (WHAT: what failed) stops it.
inout_runs() {
  local what=$1 rows_sql=$2 rep tracer ctx out run seconds best order
  : > "$WORK/runs.tsv"; : > "$WORK/rows.tsv"; : > "$WORK/lost.txt"
  for ((rep = 1; rep <= REPS; rep++)); do
    order="none sshaudit"; (( rep % 2 == 0 )) && order="sshaudit none"
    for tracer in $order; do
      [[ $tracer == sshaudit ]] && rec_start
      # Outside first: with a fresh recorder and no session open, as on a server no one is logged in
      # to (after a session, the session hooks stay attached for --session-hooks-linger seconds).
      for ctx in host session; do
        best=
        for ((run = 1; run <= ${RUNS:-1}; run++)); do
          out=$(storm "$ctx")
          [[ $(field failed "$out") == 0 ]] || { echo "bench/$NAME.sh: failed $what: $out" >&2; exit 1; }
          seconds=$(field seconds "$out")
          best=$(awk -v a="$best" -v b="$seconds" 'BEGIN { print (a == "" || b + 0 < a + 0) ? b : a }')
        done
        printf '%s\t%s\t%s\t%s\n' "$rep" "$ctx" "$tracer" "$best" >> "$WORK/runs.tsv"
      done
      if [[ $tracer == sshaudit ]]; then
        rec_stop
        printf '%s\t%s\n' "$rep" "$(sqlite3 "$WORK/$NAME.db" "$rows_sql")" >> "$WORK/rows.tsv"
        sqlite3 "$WORK/$NAME.db" "SELECT SUM(ring_drops + track_failures) FROM recorder_runs" >> "$WORK/lost.txt"
      fi
    done
    log "repetition $rep done"
  done
}

ratio() {   # CTX: median over repetitions of (sshaudit / none)
  awk -F'\t' -v c="$1" '$2 == c { s[$3, $1] = $4; reps[$1] = 1 }
    END { for (r in reps) if (((("sshaudit", r) in s)) && (("none", r) in s)) print s["sshaudit", r] / s["none", r] }' "$WORK/runs.tsv" | median
}
secs() { awk -F'\t' -v c="$1" -v t="$2" '$2 == c && $3 == t { print $4 }' "$WORK/runs.tsv" | median; }
verdict() { awk -v r="$1" -v t="$2" 'BEGIN { print (r <= t ? "within" : "OVER") " the target " t }'; }

# The table of both contexts (targets: 1.05 inside, 1.01 outside) and the kernel's losses.
inout_table() {
  local inside outside
  inside=$(ratio session); outside=$(ratio host)
  echo "| Context | Without (s) | With sshaudit (s) | Ratio | |"
  echo "|---|---|---|---|---|"
  printf '| inside a session | %s | %s | %.3f | %s |\n' "$(secs session none)" "$(secs session sshaudit)" "$inside" "$(verdict "$inside" 1.05)"
  printf '| outside any session | %s | %s | %.3f | %s |\n' "$(secs host none)" "$(secs host sshaudit)" "$outside" "$(verdict "$outside" 1.01)"
  echo
  echo "Kernel losses over all recorded repetitions: $(awk '{ s += $1 } END { print s + 0 }' "$WORK/lost.txt")."
  log "done: inside $inside, outside $outside"
}
