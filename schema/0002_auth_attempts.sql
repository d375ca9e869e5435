-- Authentication attempts, from sshd's own log lines and the process tree (never from payloads).
CREATE TABLE auth_attempts (
    id              INTEGER PRIMARY KEY,
    session_id      INTEGER NOT NULL REFERENCES sessions (id),
    at              TEXT NOT NULL,
    user            TEXT,             -- as typed by the client, also for invalid users
    remote_addr     TEXT,
    remote_port     INTEGER,
    method          TEXT,             -- publickey, password, keyboard-interactive, …; NULL if not logged
    result          TEXT NOT NULL CHECK (result IN ('accepted', 'failed', 'invalid_user', 'disconnected')),
    key_type        TEXT,
    key_fingerprint TEXT              -- SHA256:… for public keys
);
CREATE INDEX auth_attempts_at ON auth_attempts (at);
CREATE INDEX auth_attempts_session ON auth_attempts (session_id);
CREATE INDEX auth_attempts_user ON auth_attempts (user, at);
CREATE INDEX auth_attempts_remote ON auth_attempts (remote_addr, at);
