-- What a session was, from what was observed: interactive, exec, sftp, scp, rsync, forward-only,
-- auth-failed.
ALTER TABLE sessions ADD COLUMN kind TEXT;
-- Why a session's record may be incomplete (besides `recovered`): the kernel lost events while it was
-- open, or some argv was cut at the kernel's bound.
ALTER TABLE sessions ADD COLUMN drops INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN truncated_argv INTEGER NOT NULL DEFAULT 0;
CREATE INDEX sessions_kind ON sessions (kind, started_at);
