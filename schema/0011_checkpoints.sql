-- Crash safety beyond the last transaction. The recorder's kernel state (programs, ring buffer) is
-- pinned, so it outlives a killed recorder; the recorder releases ring-buffer space only once this
-- table holds a checkpoint covering it: the correlator's whole state and the ring position it has
-- read up to, written in the same transaction as the rows derived from those records. The next run
-- restores the state and reads the ring from that position: nothing between is lost or doubled.
CREATE TABLE recorder_checkpoint (
    id            INTEGER PRIMARY KEY CHECK (id = 1),  -- one row: the latest checkpoint
    run_id        INTEGER NOT NULL,   -- the run that wrote it
    at            TEXT NOT NULL,
    programs      TEXT NOT NULL,      -- fingerprint of the kernel programs (record layouts)
    ring_map_id   INTEGER NOT NULL,   -- the ring buffer it belongs to (ids are unique until reboot)
    position      INTEGER NOT NULL,   -- ring position after the last record reflected in the state
    kernel_ring_full INTEGER NOT NULL, -- the kernel's loss counters then (the next run's baseline)
    kernel_map_full  INTEGER NOT NULL,
    events        INTEGER NOT NULL,   -- the run's counters then
    decode_errors INTEGER NOT NULL,
    state         BLOB NOT NULL       -- the correlator's state (JSON)
);
-- A run that continued the kernel state of a killed run: the time between them was recorded by
-- the kernel and read afterwards, so it is no gap.
ALTER TABLE recorder_runs ADD COLUMN resumed_from INTEGER;
