-- Connections a listener accepted and closed without forking a process to serve them: MaxStartups
-- (random early drop, per-source limits) or PerSourcePenalties (OpenSSH >= 9.8). Known from the
-- process tree at any log level (an accept the listener never forked for); sshd's "drop connection"
-- line, where the recorder saw it, adds the reason. Not sessions and not authentication attempts.
-- reason: max_startups, penalty, or unknown (no line seen); detail: sshd's words after the endpoints
-- ("past MaxStartups", "penalty: failed authentication"). listener_pid and listener_start_ns: the
-- listener that refused (its identity, like a session's sshd_pid and sshd_start_ns).
CREATE TABLE refusals (
    id                INTEGER PRIMARY KEY,
    at                TEXT NOT NULL,
    remote_addr       TEXT NOT NULL,
    remote_port       INTEGER NOT NULL,
    local_addr        TEXT NOT NULL,
    local_port        INTEGER NOT NULL,
    reason            TEXT NOT NULL CHECK (reason IN ('max_startups', 'penalty', 'unknown')),
    detail            TEXT,
    listener_pid      INTEGER NOT NULL,
    listener_start_ns INTEGER NOT NULL
);
CREATE INDEX refusals_at ON refusals (at);
CREATE INDEX refusals_remote ON refusals (remote_addr, at);
