-- What a session's processes changed in the file system, as the kernel saw it (shell builtins
-- included): one row per process, command, operation, path and new path, with the first and last
-- time and how many times. Reads are not recorded.
CREATE TABLE file_activity (
    id         INTEGER PRIMARY KEY,
    session_id INTEGER NOT NULL REFERENCES sessions (id),
    command_id INTEGER,                -- the process's command (or its nearest ancestor's); NULL for sshd's own child
    pid        INTEGER NOT NULL,
    uid        INTEGER NOT NULL,       -- real uid of the process at its first change
    op         TEXT NOT NULL CHECK (op IN ('create', 'write', 'truncate', 'rename', 'unlink', 'rmdir', 'mkdir',
                                           'chmod', 'chown', 'link', 'symlink')),
    path       TEXT NOT NULL,          -- absolute, as the kernel resolved it
    new_path   TEXT,                   -- rename, link: the new name; symlink: the target as given
    first_at   TEXT NOT NULL,
    last_at    TEXT NOT NULL,
    count      INTEGER NOT NULL
);
CREATE INDEX file_activity_session ON file_activity (session_id, first_at);
CREATE INDEX file_activity_first_at ON file_activity (first_at);
CREATE INDEX file_activity_path ON file_activity (path);
