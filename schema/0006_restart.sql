-- A session that was open when the recorder stopped (or crashed) and whose processes were gone when
-- it started again: its end was not observed, so ended_at stays unknown.
ALTER TABLE sessions ADD COLUMN ended_unobserved INTEGER NOT NULL DEFAULT 0;
