-- Sessions: one every (year / @sessions) seconds; ids in time order, as the recorder assigns them.
-- Session id i is a login when (i - 1) % 10 is 0, 3 or 6 (30 %); the k-th login (from 0) is
-- id (k / 3) * 10 + (k % 3) * 3 + 1, which gen_commands.sql uses to place commands.
INSERT INTO sessions (id, sshd_pid, sshd_start_ns, listener_pid, sshd_path, sshd_version, user, uid,
    remote_addr, remote_port, local_addr, local_port, auth_method, key_fingerprint, tty,
    started_at, authenticated_at, ended_at, exit_code, command_count, bytes_in, bytes_out, recovered)
SELECT id, 2000 + id % 4000000, id * 7919, 900, '/usr/sbin/sshd', 'OpenSSH_9.2p1 Debian-2+deb12u3',
    CASE WHEN ok THEN u.name END,
    CASE WHEN ok THEN u.uid END,
    CASE
        WHEN ok AND h2 % 100 < 70 THEN '10.' || (uu % 8) || '.' || uu || '.' || (1 + h3 % 250)
        WHEN ok AND h2 % 100 < 98 THEN printf('2001:db8:%x::%x', uu + 1, 1 + h3 % 4000)
        WHEN ok THEN '::ffff:10.' || (uu % 8) || '.' || uu || '.' || (1 + h3 % 250)
        WHEN h2 % 100 < 5 THEN '203.0.113.' || (h3 % 256)
        WHEN h2 % 100 < 10 THEN '198.51.100.' || (h3 % 256)
        WHEN h2 % 100 < 15 THEN printf('2a01:4f8:%x::%x', 1 + h1 % 4000, 1 + h3 % 65000)
        ELSE (CASE WHEN 1 + (hp >> 24) % 223 = 10 THEN 11 ELSE 1 + (hp >> 24) % 223 END)
             || '.' || ((hp >> 16) % 256) || '.' || ((hp >> 8) % 256) || '.' || (hp % 256)
    END,
    1024 + h2 % 64000, '192.0.2.10', 22,
    CASE WHEN ok THEN CASE WHEN h3 % 4 = 0 THEN 'password' ELSE 'publickey' END END,
    CASE WHEN ok AND h3 % 4 <> 0 THEN printf('SHA256:%08x%08x%08x', uu * 2654435761 % 4294967296, uu * 40503, uu) END,
    CASE WHEN ok AND h3 % 3 = 0 THEN 'pts/' || (h3 % 24) END,
    strftime('%Y-%m-%dT%H:%M:%fZ', t, 'unixepoch'),
    CASE WHEN ok THEN strftime('%Y-%m-%dT%H:%M:%fZ', t + 0.35, 'unixepoch') END,
    CASE WHEN open THEN NULL ELSE strftime('%Y-%m-%dT%H:%M:%fZ', t + dur, 'unixepoch') END,
    CASE WHEN ok AND NOT open THEN CASE WHEN h3 % 20 = 0 THEN 1 ELSE 0 END END,
    0,
    CASE WHEN open THEN NULL ELSE 3000 + h2 % 900000 END,
    CASE WHEN open THEN NULL ELSE 4000 + h3 % 9000000 END,
    0
FROM (
    SELECT id, ok, h1, h2, h3, uu, id > n - 40 AS open,
           (h1 % 150000) * 2654435761 % 4294967296 AS hp,
           t0 + (id - 1) * (t1 - t0) * 1.0 / n + (h1 % 1000) / 1000.0 AS t,
           (CASE WHEN ok THEN 60 + h2 % 7200 ELSE 2 + h2 % 9 END) + (h3 % 1000) / 1000.0 AS dur
    FROM (
        SELECT value AS id, n, t0, t1, ((value - 1) % 10) IN (0, 3, 6) AS ok,
               ((value * 2654435761 + 1013904223) % 4294967296) >> 11 AS h1,
               ((value * 2246822519 + 374761393) % 4294967296) >> 11 AS h2,
               ((value * 3266489917 + 668265263) % 4294967296) >> 11 AS h3,
               CASE WHEN (((value * 3266489917) % 4294967296) >> 11) % 50 = 0 THEN 0
                    ELSE 1 + (((((value * 2654435761) % 4294967296) >> 11) % 200)
                              * ((((value * 2246822519) % 4294967296) >> 11) % 200)) / 200 END AS uu
        FROM gen_params, generate_series(1, (SELECT n FROM gen_params))
    )
) JOIN gen_users u ON u.u = uu
ORDER BY id;

-- The number of logins, for placing commands.
CREATE TEMP TABLE gen_logins AS SELECT count(*) AS a FROM sessions WHERE authenticated_at IS NOT NULL;
