#!/usr/bin/env bash
# Replays every committed fixture event stream once (with OLD_SSHAUDIT) and prints each database's
# rows with two sshaudit binaries: every `query` listing in every format, `show` of every session
# and of every user, `report --format json` and `export` (jsonl and ocsf), and the help of each
# command. For changes that must not alter the output (the read models, CSV, shared options): run it
# with the binary before the change and the one after. (A report's time of making, a coverage gap
# that ends now and the sshd processes `status` finds running are left out of the comparison.)
#
#   Tests/Integration/compare-output.sh OLD_SSHAUDIT NEW_SSHAUDIT
#
# Exit 0: byte-identical; 1: differences (printed as diffs); 2: usage or replay error.
set -uo pipefail
[ $# -eq 2 ] || { echo "usage: $0 OLD_SSHAUDIT NEW_SSHAUDIT" >&2; exit 2; }
old=$1 new=$2
fixtures=$(cd "$(dirname "$0")/../SSHAuditCoreTests/Fixtures" && pwd)
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
status=0 compared=0
# A report says when it was made, and its last gap in coverage ends now: those are left out.
# `status` counts the sshd processes running now, which may change between the two runs.
now_free() { sed -E '/"generated_at"|"not_recording_seconds"|^    "(listeners|per_connection)" : [0-9]+,?$/d; s/Generated [^ ]+ //; s/("to" : )"[^"]*"/\1"now"/'; }
compare() {  # compare LABEL ARGS...: the same command with both binaries, stdout, stderr and status
  local label=$1; shift
  "$old" "$@" 2>"$work/old.err" | now_free >"$work/old.out"; echo "exit ${PIPESTATUS[0]}" >>"$work/old.err"
  "$new" "$@" 2>"$work/new.err" | now_free >"$work/new.out"; echo "exit ${PIPESTATUS[0]}" >>"$work/new.err"
  compared=$((compared + 1))
  if ! cmp -s "$work/old.out" "$work/new.out" || ! cmp -s "$work/old.err" "$work/new.err"; then
    echo "$label: $*: output differs"; diff "$work/old.out" "$work/new.out" | head -n 20
    diff "$work/old.err" "$work/new.err" | head -n 6; status=1
  fi
}
for command in "query sessions" "query commands" "query auth" "query transfers" "query files" "query network" \
               "query refusals" "query keys" "query sources" "query sql" show report export status verify play prune; do
  compare help $command --help
done
for events in "$fixtures"/*.events; do
  name=$(basename "$events" .events)
  db="$work/$name.db"
  "$old" replay "$events" --db "$db" >/dev/null 2>"$work/replay.err" \
    || { echo "$name: replay failed: $(tail -n 1 "$work/replay.err")" >&2; exit 2; }
  for kind in sessions commands auth transfers files network refusals keys sources; do
    for format in table json jsonl csv; do compare "$name" query $kind --db "$db" --format $format; done
  done
  compare "$name" query sessions --db "$db" --format csv --incomplete
  compare "$name" query sql --db "$db" --format csv "SELECT * FROM sessions"
  for id in $(sqlite3 "$db" "SELECT id FROM sessions ORDER BY id"); do
    for format in text json; do compare "$name" show "$id" --db "$db" --format $format; done
  done
  for user in $(sqlite3 "$db" "SELECT DISTINCT user FROM sessions WHERE user IS NOT NULL ORDER BY 1"); do
    compare "$name" show --user "$user" --db "$db" --format json
  done
  for format in json markdown; do compare "$name" report --db "$db" --since 2000-01-01 --until 2100-01-01 --format $format; done
  for format in jsonl ocsf; do compare "$name" export --db "$db" --format $format; done
  compare "$name" status --db "$db" --format json
done
# Bad values: the same one-line errors.
compare errors query sessions --db "$work/none.db"
compare errors query sessions --format yaml
compare errors show 1 --format csv
compare errors status --format csv
echo "$compared outputs compared over every fixture: $([ $status -eq 0 ] && echo identical || echo "differences above")"
exit $status
