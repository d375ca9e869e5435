-- The OpenSSH release that served each session, read from its binary ("OpenSSH_9.2p1 Debian-2+deb12u10").
ALTER TABLE sessions ADD COLUMN sshd_version TEXT;
-- Commands running when the recorder started: argv is what /proc showed then (it may have been rewritten).
ALTER TABLE commands ADD COLUMN recovered INTEGER NOT NULL DEFAULT 0;
