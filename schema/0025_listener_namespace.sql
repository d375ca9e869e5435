-- Where the session's sshd lived (sshd in a chroot, a container or another namespace).
-- uid keeps the kernel's (the host's) view; uid_inside is the same uid as seen inside the sshd's
-- user namespace (equal outside one), the uid its own passwd names. root: the sshd's root directory
-- as seen on the host ("/" for the host's sshd); cgroup: its cgroup v2 path; container: the container
-- id or name that path shows (docker, podman, containerd/CRI-O, kubepods, LXC). All read from /proc
-- for the listener when the connection is forked; NULL when it could not be read.
ALTER TABLE sessions ADD COLUMN uid_inside INTEGER;
ALTER TABLE sessions ADD COLUMN root TEXT;
ALTER TABLE sessions ADD COLUMN cgroup TEXT;
ALTER TABLE sessions ADD COLUMN container TEXT;
CREATE INDEX sessions_container ON sessions (container);
