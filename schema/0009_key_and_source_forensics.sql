-- Key- and source-centric questions: everything a key did, every address that tried.
CREATE INDEX sessions_key ON sessions (key_fingerprint, started_at) WHERE key_fingerprint IS NOT NULL;
CREATE INDEX auth_attempts_key ON auth_attempts (key_fingerprint, at) WHERE key_fingerprint IS NOT NULL;
