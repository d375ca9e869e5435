-- A ledger that extending cannot rewrite. Whoever can write the database can also append entries, so
-- a row changed and entered again would match its latest entry. From here on each entry also records
-- what of the row can never change and whether the row was finished (layouts: Ledger.swift), and
-- `verify` checks every version of a row against the row as stored (LedgerVerify.swift):
--   fixed_hash  SHA-256 of the row's columns that never change (a set-once column, such as a
--               session's user, as far as it was set in this version);
--   final       1 for the row's last version: no other may follow (a command that ended, a session
--               the recorder has closed, an authentication attempt);
--   once_set    which set-once columns were set (bits in LedgerTable.setOnceColumns order);
--   layout      how many columns the row_hash covers (a later migration that adds columns enters
--               the rows again with more).
-- Entries from before keep NULL there; the rows are entered once more, with them, when this runs.
ALTER TABLE ledger ADD COLUMN fixed_hash BLOB;
ALTER TABLE ledger ADD COLUMN final INTEGER;
ALTER TABLE ledger ADD COLUMN once_set INTEGER;
ALTER TABLE ledger ADD COLUMN layout INTEGER;

-- The entries of one row, latest first: the recorder reads a row's latest entry before it writes
-- the row's next version, and `verify` reads each row's entries together.
CREATE INDEX ledger_row ON ledger (tbl, row_id);

-- Rows the recorder found changed outside sshaudit when it was about to write their next version
-- (the row no longer matched its latest entry, was deleted, or had other values in columns that
-- never change). Chained in the ledger like every covered table; `verify` fails while any is here.
CREATE TABLE ledger_findings (
    id      INTEGER PRIMARY KEY,
    at      TEXT NOT NULL,          -- when the recorder found it
    tbl     TEXT NOT NULL,          -- the table of the row
    row_id  INTEGER NOT NULL,       -- its id
    seq     INTEGER,                -- its latest ledger entry then, if any
    what    TEXT NOT NULL           -- what was found
);
