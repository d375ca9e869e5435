#!/usr/bin/env bash
# Replays every committed fixture event stream with two sshaudit binaries and compares what each
# stored, table by table and row by row, on the columns both have; columns only one of them has are
# listed apart. For changes that must not alter stored rows (refactors of the decoder, correlator or
# store): run it with the binary before the change and the one after.
#
#   Tests/Integration/replay-tables.sh OLD_SSHAUDIT NEW_SSHAUDIT
#
# Exit 0: identical on every common column; 1: differences (printed as diffs); 2: usage or replay error.
set -uo pipefail
[ $# -eq 2 ] || { echo "usage: $0 OLD_SSHAUDIT NEW_SSHAUDIT" >&2; exit 2; }
old=$1 new=$2
fixtures=$(cd "$(dirname "$0")/../SSHAuditCoreTests/Fixtures" && pwd)
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
status=0
# Tables the replay itself fills; recorder bookkeeping and the --grep index's internals are left out.
skip="grdb_migrations|recorder_checkpoint|commands_argv|commands_argv_.*|sqlite_.*"
for events in "$fixtures"/*.events; do
  name=$(basename "$events" .events)
  for side in old new; do
    bin=${!side}
    "$bin" replay "$events" --db "$work/$side-$name.db" >/dev/null 2>"$work/$side-$name.err" \
      || { echo "$name: replay with $bin failed: $(tail -n 1 "$work/$side-$name.err")" >&2; exit 2; }
  done
  tables=$(sqlite3 "$work/old-$name.db" "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name" | grep -Ev "^($skip)$")
  for table in $tables; do
    cols() { sqlite3 "$1" "SELECT name FROM pragma_table_info('$table') ORDER BY name"; }
    common=$(comm -12 <(cols "$work/old-$name.db") <(cols "$work/new-$name.db") | paste -sd, -)
    only_old=$(comm -23 <(cols "$work/old-$name.db") <(cols "$work/new-$name.db") | paste -sd' ' -)
    only_new=$(comm -13 <(cols "$work/old-$name.db") <(cols "$work/new-$name.db") | paste -sd' ' -)
    [ -n "$only_old$only_new" ] && echo "$name $table: columns only before: ${only_old:-none}; only after: ${only_new:-none}"
    [ -n "$common" ] || { echo "$name $table: missing after the change"; status=1; continue; }
    dump() { sqlite3 -header -csv "$1" "SELECT $common FROM \"$table\" ORDER BY rowid"; }
    if ! diff <(dump "$work/old-$name.db") <(dump "$work/new-$name.db") > "$work/diff"; then
      echo "$name $table: rows differ"; head -n 20 "$work/diff"; status=1
    fi
  done
done
[ $status -eq 0 ] && echo "identical: every fixture's tables, on their common columns"
exit $status
