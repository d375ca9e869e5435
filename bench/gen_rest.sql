-- After the commands: the sessions' command counts, authentication attempts, file transfers and
-- session events (a transfer every fifth session's worth, an event every tenth).
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

-- The command-line index, as the recorder fills it after storing rows (schema/0012).
INSERT INTO commands_argv (rowid, argv)
    SELECT id, CASE WHEN json_valid(argv) THEN (SELECT group_concat(value, ' ') FROM json_each(commands.argv)) ELSE argv END
    FROM commands WHERE id > (SELECT indexed_upto FROM commands_argv_progress) ORDER BY id;
UPDATE commands_argv_progress SET indexed_upto = (SELECT COALESCE(MAX(id), 0) FROM commands);
