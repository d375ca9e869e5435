-- Terminal recording (record --tty output|all): what a session's terminal showed, and with `all`
-- what was typed, as numbered chunks written once each, in order (seq from 0 per session).
-- at: wall time of the chunk's first entry; first_ns, last_ns: the same and its last entry's, in ns
--   since the Unix epoch (playback timing);
-- bytes: recorded bytes in the chunk; data: its entries (TTYRecording.swift), zlib-compressed;
-- truncated: the per-session cap (record --tty-max) was reached, nothing later is recorded;
-- incomplete: bytes were lost before this chunk (the kernel's ring buffer was full, a read longer
--   than the kernel's bound).
-- Each row is entered in the ledger as written (final); a prune removes them with their session.
CREATE TABLE tty_chunks (
    id INTEGER PRIMARY KEY,
    session_id INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    at TEXT NOT NULL,
    first_ns INTEGER NOT NULL,
    last_ns INTEGER NOT NULL,
    bytes INTEGER NOT NULL,
    truncated INTEGER NOT NULL DEFAULT 0,
    incomplete INTEGER NOT NULL DEFAULT 0,
    data BLOB NOT NULL
);
CREATE INDEX tty_chunks_session ON tty_chunks (session_id, seq);
