-- Network activity of a session's processes (the user's programs, shell builtins included): connect
-- (succeeded or in progress: 'connect'; refused by the kernel: 'connect_failed', the address as the
-- program passed it), bind, listen and accept, one row per (process, op, endpoint) with the first and
-- last time and how many times. addr/port: the peer for connect, the local end for bind and listen;
-- for accept the peer's address and the local (listening) port. path: a unix socket's name ('@name'
-- for an abstract one).
CREATE TABLE network_activity (
    id          INTEGER PRIMARY KEY,
    session_id  INTEGER NOT NULL REFERENCES sessions (id),
    command_id  INTEGER,
    pid         INTEGER NOT NULL,
    uid         INTEGER NOT NULL,
    op          TEXT NOT NULL CHECK (op IN ('connect', 'connect_failed', 'bind', 'listen', 'accept')),
    family      TEXT NOT NULL,       -- inet, inet6, unix
    proto       TEXT NOT NULL,       -- tcp, udp, … ; stream, dgram, seqpacket for unix sockets
    addr        TEXT,
    port        INTEGER,
    path        TEXT,
    first_at    TEXT NOT NULL,
    last_at     TEXT NOT NULL,
    count       INTEGER NOT NULL
);
CREATE INDEX network_activity_session ON network_activity (session_id, first_at);
CREATE INDEX network_activity_first_at ON network_activity (first_at);
