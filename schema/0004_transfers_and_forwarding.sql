-- Files read or written by a session's transfer servers (sftp-server, internal-sftp, scp, rsync):
-- one row per open file, with the bytes the syscalls actually moved.
CREATE TABLE file_transfers (
    id            INTEGER PRIMARY KEY,
    session_id    INTEGER NOT NULL REFERENCES sessions (id),
    command_id    INTEGER,             -- the command serving the transfer (NULL for internal-sftp)
    protocol      TEXT NOT NULL,       -- sftp, scp, rsync
    path          TEXT NOT NULL,
    mode          TEXT NOT NULL CHECK (mode IN ('read', 'write', 'readwrite')),
    opened_at     TEXT NOT NULL,
    closed_at     TEXT,
    bytes_read    INTEGER NOT NULL DEFAULT 0,
    bytes_written INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX file_transfers_session ON file_transfers (session_id, opened_at);
CREATE INDEX file_transfers_opened_at ON file_transfers (opened_at);
CREATE INDEX file_transfers_path ON file_transfers (path);

-- Things a session did besides commands: port and agent forwarding.
CREATE TABLE session_events (
    id          INTEGER PRIMARY KEY,
    session_id  INTEGER NOT NULL REFERENCES sessions (id),
    at          TEXT NOT NULL,
    kind        TEXT NOT NULL,         -- local_forward (-L/-D), remote_forward (-R), agent_forward
    target_host TEXT,                  -- where a local forward connected, or the address a remote one listens on
    target_port INTEGER,
    detail      TEXT                   -- e.g. the agent socket's path
);
CREATE INDEX session_events_session ON session_events (session_id, at);
