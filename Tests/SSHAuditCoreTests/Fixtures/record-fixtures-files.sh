#!/usr/bin/env bash
# Re-records the file-activity fixture from a real sshd with `sshaudit record --events` (root): a
# shell session that appends in a loop (a builtin), renames, chmods and removes, then an rsync upload
# (a temporary file renamed to its final name). FileActivityReplayTests replays it.
#   Tests/SSHAuditCoreTests/Fixtures/record-fixtures-files.sh [path/to/sshaudit]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
harness=$here/../../Integration/sshd-harness.sh
bin=${1:-$here/../../../.build/debug/sshaudit}
dir=/run/sshaudit-test/files-fixtures
port=22560
bash "$harness" setup "$dir" >/dev/null
bash "$harness" start "$dir" "$port" >/dev/null
rm -f "$dir/files.db"*
"$bin" record --db "$dir/files.db" --events "$here/file_activity.events" 2>"$dir/files.log" &
rec=$!
until grep -q recording "$dir/files.log"; do sleep 0.05; done

bash "$harness" ssh "$dir" "$port" sa_alice '
  mkdir -p /tmp/files-fixture && cd /tmp/files-fixture || exit 9
  for i in 1 2 3; do echo x >> loop.txt; done
  mv loop.txt moved.txt; chmod 600 moved.txt; rm moved.txt
  cd / && rmdir /tmp/files-fixture'
head -c 4099 /dev/urandom > "$dir/upload.bin"
key=$dir/id_alice_fixture; install -m 0600 "$dir/id_alice" "$key"
rsync -e "ssh -i $key -p $port -F /dev/null -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o IdentitiesOnly=yes -o BatchMode=yes" \
  "$dir/upload.bin" sa_alice@127.0.0.1:/tmp/files-fixture-upload.bin
rm -f /tmp/files-fixture-upload.bin

sleep 0.5
bash "$harness" stop "$dir" "$port"
sleep 0.3
kill -INT "$rec"; wait "$rec"
ls -la "$here/file_activity.events"
