-- Tamper evidence: an append-only, hash-chained ledger of every row version the recorder writes.
--
-- Rows are upserted as sessions progress (start, authentication, end), so the ledger chains row
-- *versions*: in the same transaction as each write, one entry per written row of sessions, commands,
-- auth_attempts, file_transfers, session_events (and ledger_prunes, below):
--   row_hash = SHA-256 of the row's canonical content as stored (all its columns, in a fixed order);
--   chain    = SHA-256(chain of the previous entry || this entry), the first entry following 32 zero bytes.
-- `sshaudit verify` recomputes both: every row must match the row_hash of its latest entry, every entry
-- must name an existing row, and the chain must run unbroken from seq 1 to the head. The exact byte
-- layouts are in Sources/SSHAuditStore/Ledger.swift.
CREATE TABLE ledger (
    seq      INTEGER PRIMARY KEY,   -- 1, 2, 3, … in write order
    tbl      TEXT NOT NULL,         -- the table of the row
    row_id   INTEGER NOT NULL,      -- its id
    row_hash BLOB NOT NULL,         -- SHA-256 of its canonical content, 32 bytes
    chain    BLOB NOT NULL          -- SHA-256(previous chain || entry), 32 bytes
);

-- Retention (`sshaudit prune`, `record --retain`): one row per prune, itself chained in the ledger.
-- The sessions removed (with their commands, auth attempts, transfers and events) leave no ledger
-- entry behind: the entries of those rows are dropped, and each run of consecutive dropped seqs is
-- bridged by the chain value of its last entry, kept here. `verify` walks over a missing run of seqs
-- only with such a bridge, from a prune whose own entry comes after the run.
CREATE TABLE ledger_prunes (
    id      INTEGER PRIMARY KEY,
    at      TEXT NOT NULL,          -- when the prune ran
    cutoff  TEXT NOT NULL,          -- sessions that ended before this were removed
    removed TEXT NOT NULL,          -- ids removed, per table: {"commands":"1-40,42",…}
    dropped TEXT NOT NULL           -- ledger seqs dropped: "FIRST-LAST:CHAIN_OF_LAST_HEX,…"
);
