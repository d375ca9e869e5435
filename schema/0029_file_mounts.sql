-- Three more ops in file_activity: 'mount' (a mount attached at path: mount, move_mount, pivot_root;
-- new_path: its source as given), 'umount' (umount2) and 'remount' (the mount or its file system
-- changed: mount with MS_REMOUNT, mount_setattr, fspick). SQLite cannot change a CHECK constraint in
-- place: the table is rebuilt with the same columns and rows.
CREATE TABLE file_activity_0029 (
    id         INTEGER PRIMARY KEY,
    session_id INTEGER NOT NULL REFERENCES sessions (id),
    command_id INTEGER,                -- the process's command (or its nearest ancestor's); NULL for sshd's own child
    pid        INTEGER NOT NULL,
    uid        INTEGER NOT NULL,       -- real uid of the process at its first change
    op         TEXT NOT NULL CHECK (op IN ('create', 'write', 'truncate', 'rename', 'unlink', 'rmdir', 'mkdir',
                                           'chmod', 'chown', 'link', 'symlink', 'setxattr', 'removexattr', 'utime',
                                           'setflags', 'mount', 'umount', 'remount')),
    path       TEXT NOT NULL,          -- absolute, as the kernel resolved it
    new_path   TEXT,                   -- rename, link: the new name; symlink: the target as given; setxattr, removexattr: the attribute's name; setflags: the flags; mount, remount: the source as given
    first_at   TEXT NOT NULL,
    last_at    TEXT NOT NULL,
    count      INTEGER NOT NULL
);
INSERT INTO file_activity_0029 SELECT id, session_id, command_id, pid, uid, op, path, new_path, first_at, last_at, count
    FROM file_activity;
DROP TABLE file_activity;
ALTER TABLE file_activity_0029 RENAME TO file_activity;
CREATE INDEX file_activity_session ON file_activity (session_id, first_at);
CREATE INDEX file_activity_first_at ON file_activity (first_at);
CREATE INDEX file_activity_path ON file_activity (path);
