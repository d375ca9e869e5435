-- A synthetic audit database for the query benchmarks (bench/generate.sh runs the gen_*.sql files in
-- one sqlite3 session). It is written into a database that `sshaudit replay` created, so the schema is
-- the binary's own with every migration applied. Parameters (sqlite3 .parameter): @sessions,
-- @commands, @end (Unix seconds: the year of data ends there).
--
-- The shape of a host open to the internet, over one year ending at @end:
--   70 % of the connections never authenticate (password guessing from ~150,000 IPv4 and some IPv6
--   addresses, 1-3 attempts each, a tenth of them from two busy /24 networks);
--   30 % are logins by 200 users (and root), from office IPv4 networks, IPv6 (2001:db8:U::/48) and
--   a few IPv4-mapped addresses, with on average 33 commands each: a login shell, then commands from a
--   vocabulary of ~60 (sudo, su, git, ls, systemctl …) with varying arguments, a few of them rare
--   markers for --grep; 4 % exit 1, a few are killed; the last 40 sessions are still open.
-- Values come from a multiplicative hash of the row number, so every run builds the same database.

CREATE TEMP TABLE gen_params AS
    SELECT @sessions AS n, @commands AS m, @end AS t1, @end - 365 * 86400 AS t0;

CREATE TEMP TABLE gen_users (u INTEGER PRIMARY KEY, name TEXT, uid INTEGER);
INSERT INTO gen_users
    SELECT value, CASE WHEN value = 0 THEN 'root' ELSE printf('user%03d', value) END,
           CASE WHEN value = 0 THEN 0 ELSE 1000 + value END
    FROM generate_series(0, 200);

-- Weighted vocabulary, one slot per unit of weight (slot = hash % slots). '#' in argv becomes a number.
CREATE TEMP TABLE gen_vocab_src (w INTEGER, filename TEXT, argv TEXT);
INSERT INTO gen_vocab_src SELECT * FROM (VALUES
    (80, '/usr/bin/ls', '["ls","-la","/srv/app/release-#"]'),
    (40, '/usr/bin/ls', '["ls"]'),
    (60, '/usr/bin/cat', '["cat","/var/log/app/app-#.log"]'),
    (40, '/usr/bin/grep', '["grep","-r","ERROR","/var/log/app/app-#.log"]'),
    (40, '/usr/bin/git', '["git","status"]'),
    (30, '/usr/bin/git', '["git","pull","--rebase"]'),
    (25, '/usr/bin/git', '["git","commit","-m","fix issue #"]'),
    (20, '/usr/bin/git', '["git","log","--oneline","-n","#"]'),
    (30, '/usr/bin/vim', '["vim","/etc/app/config-#.yaml"]'),
    (25, '/usr/bin/less', '["less","/var/log/syslog"]'),
    (30, '/usr/bin/tail', '["tail","-f","/var/log/app/app-#.log"]'),
    (25, '/usr/bin/ps', '["ps","aux"]'),
    (20, '/usr/bin/top', '["top","-b","-n","1"]'),
    (20, '/usr/bin/df', '["df","-h"]'),
    (15, '/usr/bin/du', '["du","-sh","/srv/data/#"]'),
    (20, '/usr/bin/free', '["free","-m"]'),
    (20, '/usr/bin/uptime', '["uptime"]'),
    (20, '/usr/bin/whoami', '["whoami"]'),
    (25, '/usr/bin/cd', '["cd","/srv/app"]'),
    (35, '/usr/bin/sudo', '["sudo","systemctl","restart","app@#"]'),
    (15, '/usr/bin/sudo', '["sudo","-i"]'),
    (10, '/usr/bin/sudo', '["sudo","apt-get","upgrade","-y"]'),
    (10, '/usr/bin/su', '["su","-","deploy"]'),
    (25, '/usr/bin/systemctl', '["systemctl","status","app@#"]'),
    (20, '/usr/bin/journalctl', '["journalctl","-u","app@#","--since","-1h"]'),
    (20, '/usr/bin/docker', '["docker","ps"]'),
    (15, '/usr/bin/docker', '["docker","logs","--tail","100","app-#"]'),
    (10, '/usr/bin/kubectl', '["kubectl","get","pods","-n","team-#"]'),
    (20, '/usr/bin/python3', '["python3","/srv/app/manage.py","migrate","--database","shard#"]'),
    (15, '/usr/bin/curl', '["curl","-fsS","http://127.0.0.1:8080/health?probe=#"]'),
    (15, '/usr/bin/ssh', '["ssh","app-#.internal","uptime"]'),
    (10, '/usr/bin/scp', '["scp","backup-#.tar.gz","archive.internal:/backups/"]'),
    (15, '/usr/bin/tar', '["tar","czf","/tmp/backup-#.tar.gz","/srv/data"]'),
    (15, '/usr/bin/find', '["find","/srv","-name","*.tmp","-mtime","+#"]'),
    (10, '/usr/bin/chmod', '["chmod","640","/srv/data/file-#"]'),
    (10, '/usr/bin/mkdir', '["mkdir","-p","/srv/data/#"]'),
    (10, '/usr/bin/rm', '["rm","-f","/tmp/upload-#"]'),
    (10, '/usr/bin/cp', '["cp","/etc/app/config.yaml","/etc/app/config-#.yaml.bak"]'),
    (10, '/usr/bin/mv', '["mv","/tmp/upload-#","/srv/data/incoming/"]'),
    (10, '/usr/bin/netstat', '["netstat","-tlnp"]'),
    (10, '/usr/bin/ip', '["ip","addr"]'),
    (10, '/usr/bin/htop', '["htop"]'),
    (10, '/usr/bin/nano', '["nano","notes-#.txt"]'),
    (10, '/usr/bin/make', '["make","-j2","deploy"]'),
    (10, '/usr/bin/npm', '["npm","run","build"]'),
    (10, '/usr/bin/crontab', '["crontab","-l"]'),
    (10, '/usr/bin/id', '["id"]'),
    (10, '/usr/bin/hostname', '["hostname"]'),
    (10, '/usr/bin/date', '["date"]'),
    (8, '/usr/bin/wc', '["wc","-l","/var/log/app/app-#.log"]'),
    (8, '/usr/bin/sort', '["sort","-u","users-#.txt"]'),
    (8, '/usr/bin/awk', '["awk","{print $1}","/var/log/nginx/access.log"]'),
    (8, '/usr/bin/sed', '["sed","-i","s/old/new/","/etc/app/config-#.yaml"]'),
    (6, '/usr/bin/rsync', '["rsync","-a","/srv/data/","mirror.internal:/srv/data-#/"]'),
    (6, '/usr/bin/openssl', '["openssl","x509","-noout","-dates","-in","/etc/ssl/app-#.pem"]'),
    (5, '/usr/bin/dig', '["dig","app-#.internal"]'),
    (5, '/usr/bin/ping', '["ping","-c","3","10.0.0.#"]'),
    (4, '/usr/bin/bash', '["bash","-c","for i in 1 2 3; do date; sleep 1; done"]')
);
CREATE TEMP TABLE gen_vocab (slot INTEGER PRIMARY KEY, filename TEXT, argv TEXT);
INSERT INTO gen_vocab
    SELECT g.value, v.filename, v.argv
    FROM (SELECT filename, argv,
                 sum(w) OVER (ORDER BY rowid) - w AS lo, sum(w) OVER (ORDER BY rowid) AS hi
          FROM gen_vocab_src) v
    JOIN generate_series(0, (SELECT sum(w) - 1 FROM gen_vocab_src)) g ON g.value >= v.lo AND g.value < v.hi;
