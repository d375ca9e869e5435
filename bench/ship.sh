# Shipping to a central PostgreSQL (sourced by bench/run.sh; uses its recorder and storm helpers).
#   throughput: `ship --once` of the replayed database (section 2): ledger entries and row versions
#               per second into a fresh PostgreSQL on this machine;
#   lag:        `ship` following a recorder during an in-session exec storm at the drop run's rate:
#               how far the central copy trails the local ledger, sampled every 0.5 s, and how long
#               it takes to catch up once the storm ends.
. "$ROOT/bench/pg.sh"

SHIP_SECS=${BENCH_SHIP_SECS:-30}

ship_seq_central() { pg_sql "SELECT coalesce(max(shipped_seq), 0) FROM hosts WHERE host = '$1'"; }
ship_seq_local() { sqlite3 "file:$1?mode=ro" 'SELECT coalesce(max(seq), 0) FROM ledger' 2>/dev/null || echo 0; }

run_ship() {
  local port t0 t1 shipper sampler end_ns final i
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  rm -rf "$WORK/pg"
  pg_up "$WORK/pg" "$port" || die "cannot start PostgreSQL"
  log "ship: throughput of ship --once of the replayed database ($REPLAY_ROWS)"
  SHIP_ENTRIES=$(sqlite3 "$WORK/replay.db" 'SELECT count(*) FROM ledger')
  t0=$(date +%s%N)
  "$BIN" ship --db "$WORK/replay.db" --to "$PG_URL" --password-file "$PG_PASSFILE" --host bench-replay --once >/dev/null \
    || die "ship --once failed"
  t1=$(date +%s%N)
  SHIP_ONCE_SECS=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", (b - a) / 1e9 }')
  SHIP_VERSIONS=$(pg_sql "SELECT (SELECT count(*) FROM sessions) + (SELECT count(*) FROM commands) + (SELECT count(*) FROM auth_attempts) + (SELECT count(*) FROM file_transfers) + (SELECT count(*) FROM session_events)")
  log "  shipped $SHIP_ENTRIES ledger entries ($SHIP_VERSIONS row versions) in ${SHIP_ONCE_SECS}s"

  log "ship: lag while following a recorder at ${DROP_TARGET} execs/s for ${SHIP_SECS}s"
  rec_start "$WORK/ship.db"
  "$BIN" ship --db "$WORK/ship.db" --to "$PG_URL" --password-file "$PG_PASSFILE" --host bench-live --interval 0.2 \
    >/dev/null 2>"$WORK/ship.err" &
  shipper=$!
  # (A killed benchmark leaves none of these behind.)
  trap 'kill "$shipper" "${sampler:-}" 2>/dev/null; cleanup' EXIT
  : > "$WORK/ship-lag.tsv"
  ( while :; do printf '%s\t%s\t%s\n' "$(date +%s%N)" "$(ship_seq_local "$WORK/ship.db")" "$(ship_seq_central bench-live)"; sleep 0.5; done ) \
    >> "$WORK/ship-lag.tsv" &
  sampler=$!
  wait_quiet_cpu
  SHIP_STORM=$(storm_session -r "$DROP_TARGET" -d "$SHIP_SECS" -j "$DROP_JOBS" -- "$DIR/tiny_true" ship-test "$DROP_TARGET") || true
  end_ns=$(date +%s%N)
  sleep 0.5
  rec_stop
  SHIP_LOST=$REC_LOST
  final=$(ship_seq_local "$WORK/ship.db")
  for ((i = 0; i < 1200; i++)); do
    [ "$(ship_seq_central bench-live)" = "$final" ] && break
    sleep 0.1
  done
  SHIP_CATCHUP=$(awk -v a="$end_ns" -v b="$(date +%s%N)" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')
  kill "$sampler" "$shipper" 2>/dev/null; wait "$sampler" "$shipper" 2>/dev/null || true
  trap cleanup EXIT
  SHIP_FINAL=$final
  SHIP_CENTRAL=$(ship_seq_central bench-live)
  # Lag of a sample: how long ago the local ledger reached what is shipped now (0 when caught up).
  awk -F'\t' '
      { t[NR] = $1; l[NR] = $2; c[NR] = $3 }
      END {
        j = 1
        for (i = 1; i <= NR; i++) {
          if (l[i] == 0) continue
          while (j < i && l[j] < c[i]) j++
          printf "%.3f\n", (l[i] > c[i] ? (t[i] - t[j]) / 1e9 : 0)
        }
      }' "$WORK/ship-lag.tsv" | sort -g > "$WORK/ship-lags.txt"
  SHIP_LAG_MED=$(median < "$WORK/ship-lags.txt" | awk '{ printf "%.1f", $1 }')
  SHIP_LAG_MAX=$(tail -n 1 "$WORK/ship-lags.txt" | awk '{ printf "%.1f", $1 }')
  SHIP_BACKLOG_MAX=$(awk -F'\t' '$2 - $3 > m { m = $2 - $3 } END { print m + 0 }' "$WORK/ship-lag.tsv")
  log "  lag median ${SHIP_LAG_MED}s, max ${SHIP_LAG_MAX}s, backlog max ${SHIP_BACKLOG_MAX} entries; caught up ${SHIP_CATCHUP}s after the storm; $SHIP_CENTRAL of $SHIP_FINAL shipped"
  pg_down "$WORK/pg"
}

ship_report() {
  echo "## 4. Shipping to a central PostgreSQL"
  echo
  echo "PostgreSQL $(pg_sql_version) (Debian's package) on this machine, started fresh by the benchmark (\`bench/pg.sh\`)."
  echo
  echo "| Measure | Value |"
  echo "|---|--:|"
  echo "| \`ship --once\` of the replayed database ($REPLAY_ROWS): $SHIP_ENTRIES ledger entries, $SHIP_VERSIONS row versions | ${SHIP_ONCE_SECS} s: **$(awk -v e="$SHIP_ENTRIES" -v s="$SHIP_ONCE_SECS" 'BEGIN { printf "%.0f", e / s }') entries/s**, $(awk -v e="$SHIP_VERSIONS" -v s="$SHIP_ONCE_SECS" 'BEGIN { printf "%.0f", e / s }') row versions/s |"
  echo "| Following a recorder, exec storm in a session at ${DROP_TARGET}/s for ${SHIP_SECS} s ($(field rate "$SHIP_STORM") execs/s achieved, $SHIP_LOST lost): lag of the central copy, median / max | **${SHIP_LAG_MED} s** / ${SHIP_LAG_MAX} s |"
  echo "| … largest backlog (local ledger entries not yet central) | $SHIP_BACKLOG_MAX |"
  echo "| … everything central after the storm ended | ${SHIP_CATCHUP} s ($SHIP_CENTRAL of $SHIP_FINAL entries) |"
  echo
  echo "The lag of a sample (every 0.5 s) is how long ago the local ledger reached the entry the central"
  echo "copy has reached; \`ship\` polls the local database every 0.2 s (\`--interval 0.2\`) and ships"
  echo "up to 2,000 entries per central transaction."
}

pg_sql_version() { local v; v=$(ls -d /usr/lib/postgresql/*/ 2>/dev/null | sort -V | tail -n 1); basename "${v%/}"; }
