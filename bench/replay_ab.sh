# Sourced by the write-path benchmarks (bench/spans.sh, bench/session_ends.sh): one events log
# replayed by two builds in turns on one CPU, and the time replay reports for storing its rows.
#
#   replay_ab LOG BIN BASE_BIN REPS CPU WORK [AFTER_HEAD]
#
# Writes WORK/ab.tsv (build, seconds) and sets AB_BASE and AB_HEAD (medians), AB_RATIO (head / base),
# AB_PAIRS (the median of each pair's own ratio: the machine's drift between pairs does not enter
# it). AFTER_HEAD, a function, is called with the database after each replay by BIN.

median() { sort -g | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

replay_ab() {
  local log=$1 bin=$2 base_bin=$3 reps=$4 cpu=$5 work=$6 after=${7:-} i which b
  : > "$work/ab.tsv"
  for ((i = 1; i <= reps; i++)); do
    for which in $( ((i % 2)) && echo "base head" || echo "head base"); do
      rm -f "$work/ab.db" "$work/ab.db-wal" "$work/ab.db-shm"
      sync
      b=$bin; [[ $which == base ]] && b=$base_bin
      taskset -c "$cpu" "$b" replay "$log" --db "$work/ab.db" 2>"$work/ab.err" \
        || { printf 'replay (%s) failed: %s\n' "$which" "$(tail -n 1 "$work/ab.err")" >&2; return 1; }
      printf '%s\t%s\n' "$which" "$(sed -n 's/.* in \([0-9.]*\) s (.*/\1/p' "$work/ab.err")" >> "$work/ab.tsv"
      if [[ $which == head && -n $after ]]; then "$after" "$work/ab.db"; fi
    done
    printf '[replay-ab]   replay %d: %s\n' "$i" "$(tail -n 2 "$work/ab.tsv" | tr '\t\n' ' ')" >&2
  done
  AB_BASE=$(awk '$1 == "base" { print $2 }' "$work/ab.tsv" | median)
  AB_HEAD=$(awk '$1 == "head" { print $2 }' "$work/ab.tsv" | median)
  AB_RATIO=$(awk -v h="$AB_HEAD" -v b="$AB_BASE" 'BEGIN { printf "%.3f", h / b }')
  AB_PAIRS=$(awk '$1 == "base" { b[++nb] = $2 } $1 == "head" { h[++nh] = $2 } END { for (i = 1; i <= nb && i <= nh; i++) print h[i] / b[i] }' \
    "$work/ab.tsv" | median)
  AB_PAIRS=$(printf '%.3f' "$AB_PAIRS")
}

# The range of one build's times in WORK/ab.tsv: "min–max".
ab_range() {
  awk -v w="$1" '$1 == w { if (n++ == 0 || $2 < lo) lo = $2; if ($2 > hi) hi = $2 } END { printf "%s–%s", lo, hi }' "$2/ab.tsv"
}
