#!/bin/sh
# Builds the synthetic benchmark database: bench/generate.sh DB SESSIONS COMMANDS [SSHAUDIT]
# The schema comes from the binary itself (`sshaudit replay` of a fixture creates the database with
# every migration, then its rows are deleted); gen_*.sql fill it (see gen_setup.sql for the shape).
set -eu
db=$1 sessions=$2 commands=$3 bin=${4:-.build/release/sshaudit}
here=$(cd "$(dirname "$0")" && pwd)
chunk=100000
rm -f "$db" "$db-wal" "$db-shm"
"$bin" replay "$here/../Tests/SSHAuditCoreTests/Fixtures/exec_command.events" --db "$db" 2>/dev/null
{
    echo "PRAGMA synchronous = OFF; PRAGMA cache_size = -1000000; PRAGMA temp_store = MEMORY;"
    echo "DELETE FROM commands; DELETE FROM auth_attempts; DELETE FROM file_transfers;"
    echo "DELETE FROM session_events; DELETE FROM file_activity; DELETE FROM network_activity; DELETE FROM sessions; UPDATE commands_argv_progress SET indexed_upto = 0;"
    echo ".parameter set @sessions $sessions"
    echo ".parameter set @commands $commands"
    echo ".parameter set @end $(date +%s)"
    echo ".read $here/gen_setup.sql"
    echo ".read $here/gen_sessions.sql"
    lo=1
    while [ "$lo" -le "$commands" ]; do
        hi=$((lo + chunk - 1))
        [ "$hi" -gt "$commands" ] && hi=$commands
        echo ".parameter set @lo $lo"
        echo ".parameter set @hi $hi"
        echo ".read $here/gen_commands.sql"
        lo=$((hi + 1))
    done
    echo ".read $here/gen_rest.sql"
    echo "PRAGMA wal_checkpoint(TRUNCATE);"
} | sqlite3 -bail "$db" >/dev/null
