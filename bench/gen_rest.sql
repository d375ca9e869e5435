-- After the commands: the sessions' command counts, authentication attempts, file transfers,
-- session events (a transfer every fifth session's worth, an event every tenth), file and network
-- activity.
UPDATE sessions SET command_count =
    ((k + 1) * (SELECT m FROM gen_params) + (SELECT a FROM gen_logins) - 1) / (SELECT a FROM gen_logins)
    - (k * (SELECT m FROM gen_params) + (SELECT a FROM gen_logins) - 1) / (SELECT a FROM gen_logins)
FROM (SELECT id AS sid, ((id - 1) / 10) * 3 + ((id - 1) % 10) / 3 AS k FROM sessions WHERE authenticated_at IS NOT NULL)
WHERE id = sid;

-- Failed connections: 1-3 guesses (a tenth give up before any: one "disconnected" row); logins: an
-- accepted attempt, after a wrong password in a fifth of them. In time and id order, as recorded.
INSERT INTO auth_attempts (session_id, at, user, remote_addr, remote_port, method, result, key_type, key_fingerprint)
SELECT id,
    strftime('%Y-%m-%dT%H:%M:%fZ', (julianday(started_at) - 2440587.5) * 86400.0 + 0.1 * (g + 1), 'unixepoch'),
    CASE WHEN result = 'disconnected' THEN NULL WHEN ok THEN user ELSE guess END,
    remote_addr, remote_port,
    CASE WHEN result IN ('disconnected', 'invalid_user') THEN NULL WHEN result = 'failed' THEN 'password' ELSE auth_method END,
    result,
    CASE WHEN result = 'accepted' AND auth_method = 'publickey' THEN 'ED25519' END,
    CASE WHEN result = 'accepted' THEN key_fingerprint END
FROM (
    SELECT s.*, g.value AS g, s.authenticated_at IS NOT NULL AS ok, guess,
        CASE WHEN s.authenticated_at IS NOT NULL THEN CASE WHEN g.value = tries - 1 THEN 'accepted' ELSE 'failed' END
             WHEN hs % 10 = 0 THEN 'disconnected'
             WHEN guess IN ('root', 'admin', 'git') THEN 'failed'
             ELSE 'invalid_user' END AS result
    FROM (SELECT *, CASE WHEN authenticated_at IS NOT NULL THEN CASE WHEN hs % 5 = 0 THEN 2 ELSE 1 END
                         WHEN hs % 10 = 0 THEN 1 ELSE 1 + hs % 3 END AS tries
          FROM (SELECT *, ((id * 2246822519 + 99991) % 4294967296) >> 11 AS hs FROM sessions)) s
    JOIN generate_series(0, 2) g ON g.value < s.tries
    JOIN (SELECT value AS gi,
                 json_extract('["root","admin","test","ubuntu","oracle","postgres","user","git","guest","pi"]',
                              '$[' || value || ']') AS guess
          FROM generate_series(0, 9)) ON gi = (s.hs + g.value * 7) % 10
)
ORDER BY id, g;

-- File transfers: sftp (internal-sftp: no command), scp and rsync (the session's shell serves them here).
INSERT INTO file_transfers (session_id, command_id, protocol, path, mode, opened_at, closed_at, bytes_read, bytes_written)
SELECT sid,
    CASE WHEN t % 3 = 0 THEN NULL ELSE (k * m + a - 1) / a + 1 END,
    CASE t % 3 WHEN 0 THEN 'sftp' WHEN 1 THEN 'scp' ELSE 'rsync' END,
    printf('/home/%s/data/export-%d.csv', s.user, t % 5000),
    CASE WHEN t % 4 = 0 THEN 'write' ELSE 'read' END,
    strftime('%Y-%m-%dT%H:%M:%fZ', (julianday(s.started_at) - 2440587.5) * 86400.0 + 2 + t % 5, 'unixepoch'),
    strftime('%Y-%m-%dT%H:%M:%fZ', (julianday(s.started_at) - 2440587.5) * 86400.0 + 3.5 + t % 5, 'unixepoch'),
    CASE WHEN t % 4 = 0 THEN 0 ELSE 1000 + (t * 7919) % 50000000 END,
    CASE WHEN t % 4 = 0 THEN 1000 + (t * 7919) % 50000000 ELSE 0 END
FROM (SELECT value AS t, k, (k / 3) * 10 + (k % 3) * 3 + 1 AS sid, m, a
      FROM (SELECT value, ((value - 1) * a) / (n / 5) AS k, m, a
            FROM gen_params, gen_logins, generate_series(1, (SELECT n / 5 FROM gen_params))))
JOIN sessions s ON s.id = sid
ORDER BY t;

INSERT INTO session_events (session_id, at, kind, target_host, target_port, detail)
SELECT sid,
    strftime('%Y-%m-%dT%H:%M:%fZ', (julianday(s.started_at) - 2440587.5) * 86400.0 + 1.5, 'unixepoch'),
    CASE e % 3 WHEN 0 THEN 'local_forward' WHEN 1 THEN 'remote_forward' ELSE 'agent_forward' END,
    CASE e % 3 WHEN 0 THEN 'db.internal' WHEN 1 THEN '127.0.0.1' END,
    CASE e % 3 WHEN 0 THEN 5432 WHEN 1 THEN 8080 + e % 100 END,
    CASE WHEN e % 3 = 2 THEN printf('/tmp/ssh-%08x/agent.%d', e * 2654435761 % 4294967296, 2000 + e % 30000) END
FROM (SELECT value AS e, (k / 3) * 10 + (k % 3) * 3 + 1 AS sid
      FROM (SELECT value, ((value - 1) * a) / (n / 10) AS k
            FROM gen_params, gen_logins, generate_series(1, (SELECT n / 10 FROM gen_params))))
JOIN sessions s ON s.id = sid
ORDER BY e;

-- File and network activity: per login's worth, seven file changes (2 million on the default shape)
-- and two network rows, each kind with its own hash. Two thirds are seen once, a third is a span of
-- repeats (a loop, an editor saving) of up to two minutes, and one in 150 rows a loop left running for
-- up to two days.
CREATE TEMP TABLE gen_activity AS
SELECT a.tbl, v, hv, sid, uid, user,
       (julianday(s.started_at) - 2440587.5) * 86400.0 + 5 + v % 600 + (hv % 1000) / 1000.0 AS first,
       CASE WHEN hv % 3 <> 2 THEN 0 WHEN hv % 150 = 2 THEN 3600 + hv % 169200 ELSE 1 + hv % 120 END AS span
FROM (SELECT tbl, value AS v, ((value * mul + seed) % 4294967296) >> 11 AS hv, (k / 3) * 10 + (k % 3) * 3 + 1 AS sid
      FROM (SELECT tbl, mul, seed, value, ((value - 1) * a) / (a * per) AS k
            FROM gen_logins,
                 (SELECT 'file' AS tbl, 7 AS per, 2654435761 AS mul, 12345 AS seed
                  UNION ALL SELECT 'network', 2, 2246822519, 54321) AS p,
                 generate_series(1, (SELECT a FROM gen_logins) * p.per))) AS a
JOIN sessions s ON s.id = sid;

-- File changes: a few are sensitive (authorized_keys, cron.d).
INSERT INTO file_activity (session_id, command_id, pid, uid, op, path, new_path, first_at, last_at, count)
SELECT sid, NULL, 10000 + v % 50000, COALESCE(uid, 0),
    CASE v % 10 WHEN 0 THEN 'create' WHEN 1 THEN 'chmod' WHEN 2 THEN 'rename' WHEN 3 THEN 'unlink' ELSE 'write' END,
    CASE WHEN hv % 97 = 0 THEN printf('/home/%s/.ssh/authorized_keys', user)
         WHEN hv % 89 = 0 THEN printf('/etc/cron.d/job-%d', v % 100)
         ELSE printf('/home/%s/work/file-%d.txt', user, v % 10000) END,
    CASE WHEN v % 10 = 2 THEN printf('/home/%s/work/file-%d.bak', user, v % 10000) END,
    strftime('%Y-%m-%dT%H:%M:%fZ', first, 'unixepoch'),
    strftime('%Y-%m-%dT%H:%M:%fZ', first + span, 'unixepoch'),
    CASE WHEN span = 0 THEN 1 ELSE 2 + hv % 1000 END
FROM gen_activity WHERE tbl = 'file'
ORDER BY v;

-- Network activity: connects (some refused), listeners, binds and accepts.
INSERT INTO network_activity (session_id, command_id, pid, uid, op, family, proto, addr, port, path, first_at, last_at, count)
SELECT sid, NULL, 10000 + v % 50000, COALESCE(uid, 0),
    CASE WHEN hv % 20 < 14 THEN 'connect' WHEN hv % 20 < 17 THEN 'connect_failed' WHEN hv % 20 = 17 THEN 'listen'
         WHEN hv % 20 = 18 THEN 'bind' ELSE 'accept' END,
    'inet', 'tcp', printf('198.18.%d.%d', (hv >> 8) % 256, hv % 256),
    CASE hv % 5 WHEN 0 THEN 22 WHEN 1 THEN 80 WHEN 2 THEN 443 WHEN 3 THEN 5432 ELSE 1024 + hv % 60000 END, NULL,
    strftime('%Y-%m-%dT%H:%M:%fZ', first, 'unixepoch'),
    strftime('%Y-%m-%dT%H:%M:%fZ', first + span, 'unixepoch'),
    CASE WHEN span = 0 THEN 1 ELSE 2 + hv % 1000 END
FROM gen_activity WHERE tbl = 'network'
ORDER BY v;

-- The command-line index, as the recorder fills it after storing rows (schema/0012).
INSERT INTO commands_argv (rowid, argv)
    SELECT id, CASE WHEN json_valid(argv) THEN (SELECT group_concat(value, ' ') FROM json_each(commands.argv)) ELSE argv END
    FROM commands WHERE id > (SELECT indexed_upto FROM commands_argv_progress) ORDER BY id;
UPDATE commands_argv_progress SET indexed_upto = (SELECT COALESCE(MAX(id), 0) FROM commands);
