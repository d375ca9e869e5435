-- Events the kernel reported for sshd's process tree that could not be placed in any session (a
-- process whose fork was never seen: the kernel lost it, or it escaped tracking). Which session they
-- belonged to is unknown, so every session open at that moment is flagged; the run counts them.
ALTER TABLE sessions ADD COLUMN unattributed_events INTEGER NOT NULL DEFAULT 0;
ALTER TABLE recorder_runs ADD COLUMN unattributed_events INTEGER NOT NULL DEFAULT 0;
-- From this version on, recorder_runs rows are chained in the ledger like the audit tables (a crash,
-- a gap or a loss must not be editable away); this migration enters the existing runs as stored.
