-- Two more ops in network_activity: 'send', a datagram sent to an address given with the call
-- (sendto, sendmsg, sendmmsg on a socket not connected; the address as the program passed it, seen as
-- the call was made), and 'accept' on a unix socket (path: the listening socket's name). SQLite cannot
-- change a CHECK constraint in place: the table is rebuilt with the same columns and rows.
CREATE TABLE network_activity_0026 (
    id          INTEGER PRIMARY KEY,
    session_id  INTEGER NOT NULL REFERENCES sessions (id),
    command_id  INTEGER,
    pid         INTEGER NOT NULL,
    uid         INTEGER NOT NULL,
    op          TEXT NOT NULL CHECK (op IN ('connect', 'connect_failed', 'bind', 'listen', 'accept', 'send')),
    family      TEXT NOT NULL,       -- inet, inet6, unix
    proto       TEXT NOT NULL,       -- tcp, udp, … ; stream, dgram, seqpacket for unix sockets
    addr        TEXT,
    port        INTEGER,
    path        TEXT,
    first_at    TEXT NOT NULL,
    last_at     TEXT NOT NULL,
    count       INTEGER NOT NULL
);
INSERT INTO network_activity_0026 SELECT id, session_id, command_id, pid, uid, op, family, proto, addr, port, path,
    first_at, last_at, count FROM network_activity;
DROP TABLE network_activity;
ALTER TABLE network_activity_0026 RENAME TO network_activity;
CREATE INDEX network_activity_session ON network_activity (session_id, first_at);
CREATE INDEX network_activity_first_at ON network_activity (first_at);
