-- Session channels: one connection (a sessions row) can carry several shells, commands and subsystems
-- (the client's ControlMaster multiplexing, or several requests of one client). One row per process
-- sshd's user child forked for a channel; every process below it belongs to that channel.
-- seq: 1, 2, … per session in start order; pid: the channel's process;
-- kind: 'shell' (a login shell: argv[0] starts with '-', no other argument), 'exec' (the user's shell
--   run with -c COMMAND), 'subsystem' (a command line that is an sftp-server binary alone, or a
--   process that never exec'd: internal-sftp); NULL until the process execs or ends;
-- tty: its terminal at its exec ('pts/3'), NULL without one;
-- ended_at, exit_code: its process's end and exit code (128 + signal when killed); NULL while it
--   runs, when it was found gone without an exit (exit_code), or given up at the recorder's bound.
-- commands.channel_id: the channel of the command's process (NULL for rows from before this
-- migration, and for processes outside any channel).
CREATE TABLE channels (
    id          INTEGER PRIMARY KEY,
    session_id  INTEGER NOT NULL REFERENCES sessions (id),
    seq         INTEGER NOT NULL,
    pid         INTEGER NOT NULL,
    kind        TEXT CHECK (kind IN ('shell', 'exec', 'subsystem')),
    tty         TEXT,
    started_at  TEXT NOT NULL,
    ended_at    TEXT,
    exit_code   INTEGER
);
CREATE INDEX channels_session ON channels (session_id, seq);
ALTER TABLE commands ADD COLUMN channel_id INTEGER;
