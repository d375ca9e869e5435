-- sshaudit schema, version 1.
-- Times are ISO 8601 UTC text with milliseconds ("2026-11-28T23:55:01.123Z"): fixed width, so they
-- sort and compare as text, and stay readable in `sshaudit query sql`.

-- One row per accepted TCP connection to sshd (the per-connection monitor process).
CREATE TABLE sessions (
    id               INTEGER PRIMARY KEY,
    sshd_pid         INTEGER NOT NULL,
    sshd_start_ns    INTEGER NOT NULL,   -- with sshd_pid, identifies the process (pids are reused)
    listener_pid     INTEGER,
    sshd_path        TEXT,
    user             TEXT,
    uid              INTEGER,
    remote_addr      TEXT,
    remote_port      INTEGER,
    local_addr       TEXT,
    local_port       INTEGER,
    auth_method      TEXT,
    key_fingerprint  TEXT,
    tty              TEXT,
    started_at       TEXT NOT NULL,
    authenticated_at TEXT,
    ended_at         TEXT,
    exit_code        INTEGER,            -- of the session's shell or command, as the client sees it
    command_count    INTEGER NOT NULL DEFAULT 0,
    bytes_in         INTEGER,
    bytes_out        INTEGER,
    recovered        INTEGER NOT NULL DEFAULT 0,
    UNIQUE (sshd_pid, sshd_start_ns)
);
CREATE INDEX sessions_started_at ON sessions (started_at);
CREATE INDEX sessions_user ON sessions (user, started_at);

-- One row per exec by a user's process. A process that execs again has one row per exec.
CREATE TABLE commands (
    id             INTEGER PRIMARY KEY,
    session_id     INTEGER NOT NULL REFERENCES sessions (id),
    parent_id      INTEGER,              -- command of the nearest ancestor process
    pid            INTEGER NOT NULL,
    ppid           INTEGER NOT NULL,
    uid            INTEGER NOT NULL,
    filename       TEXT NOT NULL,
    argv           TEXT NOT NULL,        -- JSON array of strings
    argv_truncated INTEGER NOT NULL DEFAULT 0,
    cwd            TEXT,
    started_at     TEXT NOT NULL,
    ended_at       TEXT,
    duration_ms    INTEGER,
    exit_code      INTEGER,
    signal         INTEGER
);
CREATE INDEX commands_session ON commands (session_id, started_at);
CREATE INDEX commands_started_at ON commands (started_at);

-- One row per run of `sshaudit record`: when the audit trail was (not) being written, and its losses.
CREATE TABLE recorder_runs (
    id              INTEGER PRIMARY KEY,
    started_at      TEXT NOT NULL,
    stopped_at      TEXT,
    clean_exit      INTEGER NOT NULL DEFAULT 0,
    ring_drops      INTEGER NOT NULL DEFAULT 0,  -- events lost because the ring buffer was full
    track_failures  INTEGER NOT NULL DEFAULT 0,  -- processes not followed because the map was full
    decode_errors   INTEGER NOT NULL DEFAULT 0,
    events          INTEGER NOT NULL DEFAULT 0
);
