-- Indexes for `sshaudit query`, `show` and `report`: every filter reaches its rows through an index,
-- already in time order where it can, so a query reads what it prints and little else.

-- --from IP|CIDR: the addresses of a network are looked up one by one, each in time order.
CREATE INDEX sessions_remote ON sessions (remote_addr, started_at);
-- sessions --failed: connections that never authenticated (most of them, on a host open to the internet).
CREATE INDEX sessions_unauthenticated ON sessions (started_at) WHERE authenticated_at IS NULL;
-- The report's "sessions still open".
CREATE INDEX sessions_open ON sessions (started_at) WHERE ended_at IS NULL;
-- The report's privileged commands. The query repeats this WHERE clause word for word (SQLite uses a
-- partial index only for a query whose WHERE clause contains the index's).
CREATE INDEX commands_privileged ON commands (started_at)
    WHERE filename GLOB '*/sudo' OR filename GLOB '*/su' OR filename GLOB '*/sudoedit' OR filename GLOB '*/doas';
-- The report's top commands: runs per program in a period, counted in the index alone (one range per
-- distinct program); also --grep-free lookups of one program.
CREATE INDEX commands_program ON commands (filename, started_at);
-- The report's failed attempts by source address and day: read from the index alone.
CREATE INDEX auth_attempts_failed ON auth_attempts (at, remote_addr, result, user) WHERE result <> 'accepted';

-- --grep PATTERN: a trigram index over each command line (argv joined by spaces), so that a substring
-- is found without reading every command. Contentless: it stores the index only, never the text again.
-- Case-sensitive, like grep -F.
CREATE VIRTUAL TABLE commands_argv USING fts5 (argv, content = '', columnsize = 0, tokenize = 'trigram case_sensitive 1');
INSERT INTO commands_argv (rowid, argv)
    SELECT id, CASE WHEN json_valid(argv) THEN (SELECT group_concat(value, ' ') FROM json_each(commands.argv)) ELSE argv END
    FROM commands;
CREATE TRIGGER commands_argv_insert AFTER INSERT ON commands BEGIN
    INSERT INTO commands_argv (rowid, argv) VALUES (new.id,
        CASE WHEN json_valid(new.argv) THEN (SELECT group_concat(value, ' ') FROM json_each(new.argv)) ELSE new.argv END);
END;
CREATE TRIGGER commands_argv_delete AFTER DELETE ON commands BEGIN
    INSERT INTO commands_argv (commands_argv, rowid, argv) VALUES ('delete', old.id,
        CASE WHEN json_valid(old.argv) THEN (SELECT group_concat(value, ' ') FROM json_each(old.argv)) ELSE old.argv END);
END;
CREATE TRIGGER commands_argv_update AFTER UPDATE OF argv ON commands BEGIN
    INSERT INTO commands_argv (commands_argv, rowid, argv) VALUES ('delete', old.id,
        CASE WHEN json_valid(old.argv) THEN (SELECT group_concat(value, ' ') FROM json_each(old.argv)) ELSE old.argv END);
    INSERT INTO commands_argv (rowid, argv) VALUES (new.id,
        CASE WHEN json_valid(new.argv) THEN (SELECT group_concat(value, ' ') FROM json_each(new.argv)) ELSE new.argv END);
END;
