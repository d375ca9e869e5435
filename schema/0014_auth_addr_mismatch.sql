-- An auth row's address and port are always the connection's as the kernel saw it accepted, never
-- read from sshd's log line (the user name and a certificate's key ID inside it are the client's or a
-- CA's text). 1 when the line did not name that address and port exactly once where sshd writes them:
-- another endpoint, or text imitating that part so that the line reads several ways (then the fields
-- the readings disagree on, such as the user, are NULL), or a line not whole.
ALTER TABLE auth_attempts ADD COLUMN addr_mismatch INTEGER NOT NULL DEFAULT 0;
