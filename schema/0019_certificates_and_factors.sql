-- Who really logged in (issue 17).
-- One auth row per credential tried: accepted, failed, or partial (one factor of several accepted:
-- "Partial publickey …" with AuthenticationMethods publickey,password). Invalid users and connections
-- closed before authenticating are session_events from now on; rows stored before keep their
-- results. SQLite cannot change a CHECK constraint, so the table is built again, rows and ids kept.
-- New columns: an OpenSSH certificate's identity, as sshd logs it after the certificate's own key
-- (the key ID and serial the CA signed, the CA's key type and fingerprint; cert_serial is decimal
-- text: a serial is a 64-bit unsigned number, more than an SQLite integer holds; the key ID is the
-- CA's free text); keyboard-interactive's device ("pam", "bsdauth"), what sshd logs after
-- "keyboard-interactive/"; and what else sshd logs of the identity (auth_info: hostbased's client
-- user and host, gssapi-with-mic's principal).
CREATE TABLE auth_attempts_0019 (
    id              INTEGER PRIMARY KEY,
    session_id      INTEGER NOT NULL REFERENCES sessions (id),
    at              TEXT NOT NULL,
    user            TEXT,
    remote_addr     TEXT,
    remote_port     INTEGER,
    method          TEXT,
    result          TEXT NOT NULL CHECK (result IN ('accepted', 'failed', 'partial', 'invalid_user', 'disconnected')),
    key_type        TEXT,
    key_fingerprint TEXT,
    addr_mismatch   INTEGER NOT NULL DEFAULT 0,
    cert_id         TEXT,
    cert_serial     TEXT,
    ca_key_type     TEXT,
    ca_fingerprint  TEXT,
    submethod       TEXT,
    auth_info       TEXT
);
INSERT INTO auth_attempts_0019 (id, session_id, at, user, remote_addr, remote_port, method, result, key_type,
                                key_fingerprint, addr_mismatch)
    SELECT id, session_id, at, user, remote_addr, remote_port, method, result, key_type, key_fingerprint, addr_mismatch
    FROM auth_attempts;
DROP TABLE auth_attempts;
ALTER TABLE auth_attempts_0019 RENAME TO auth_attempts;
CREATE INDEX auth_attempts_at ON auth_attempts (at);
CREATE INDEX auth_attempts_session ON auth_attempts (session_id);
CREATE INDEX auth_attempts_user ON auth_attempts (user, at);
CREATE INDEX auth_attempts_remote ON auth_attempts (remote_addr, at);
CREATE INDEX auth_attempts_failed ON auth_attempts (at, remote_addr, result, user) WHERE result <> 'accepted';
CREATE INDEX auth_attempts_key ON auth_attempts (key_fingerprint, at) WHERE key_fingerprint IS NOT NULL;
-- The session's key (its key factor's, with AuthenticationMethods publickey,password), and its
-- certificate. sessions.auth_method now lists every method in order ("publickey,password").
ALTER TABLE sessions ADD COLUMN key_type TEXT;
ALTER TABLE sessions ADD COLUMN cert_id TEXT;
ALTER TABLE sessions ADD COLUMN cert_serial TEXT;
ALTER TABLE sessions ADD COLUMN ca_key_type TEXT;
ALTER TABLE sessions ADD COLUMN ca_fingerprint TEXT;
-- --ca and --cert-id, and `query keys` grouped by CA and key ID.
CREATE INDEX auth_attempts_ca ON auth_attempts (ca_fingerprint, cert_id, at) WHERE ca_fingerprint IS NOT NULL;
CREATE INDEX sessions_ca ON sessions (ca_fingerprint, cert_id, started_at) WHERE ca_fingerprint IS NOT NULL;
CREATE INDEX auth_attempts_cert_id ON auth_attempts (cert_id, at) WHERE cert_id IS NOT NULL;
CREATE INDEX sessions_cert_id ON sessions (cert_id, started_at) WHERE cert_id IS NOT NULL;
-- Connection outcomes (invalid user, closed before authentication, too many failures) are
-- session_events rows from now on (kinds invalid_user, closed_before_auth, too_many_failures; detail:
-- the user name as typed), found through their session (session_events_session).
