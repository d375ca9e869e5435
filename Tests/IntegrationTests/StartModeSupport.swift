import Foundation
import XCTest

/// The same logins against sshds started in different ways (listener, daemon, inetd, restarted,
/// reloaded), and their rows in a form that compares across them: without what differs from one
/// connection to the next (ids, times, pids, client ports, byte counts).
enum StartModes {
    /// A publickey login running a command that exits 3, a password login, a failed password and
    /// an invalid user; returns the client ports the publickey login saw in $SSH_CLIENT.
    @discardableResult
    static func logins(_ server: SSHDServer, invalidUser: Bool = true) throws -> Int? {
        let r = try server.ssh("sa_alice", [#"echo "$SSH_CLIENT"; /bin/ls / >/dev/null; exit 3"#])
        XCTAssertEqual(r.status, 3, r.stderr)
        XCTAssertEqual(try server.sshWithPasswords("sa_bob", ["Bob-Pw-9z"]).status, 0)
        XCTAssertNotEqual(try server.sshWithPasswords("sa_bob", ["Wrong-Pw-1"]).status, 0)
        if invalidUser { XCTAssertNotEqual(try server.sshWithPasswords("mallory", ["Guess-1"]).status, 0) }
        return clientPort(fromSSHClientLine: String(r.stdout.split(separator: "\n").first ?? ""))
    }

    /// Keys that differ between two runs of the same logins.
    static let varying: Set<String> = ["id", "session_id", "parent_id", "channel_id", "sshd_pid", "pid", "ppid", "started_at", "ended_at",
                                       "authenticated_at", "at", "duration_ms", "remote_port", "local_port",
                                       "bytes_in", "bytes_out", "sshd_start_ns", "listener_pid"]

    /// Every row (sessions, commands, auth) of connections to `port`, in order, as sorted JSON text
    /// without `varying` keys; sessions with byte counts, as every closed connection has them.
    static func rows(_ recorder: Recorder, port: Int, sessionIDs only: Set<Int>? = nil) throws -> [String] {
        let sessions = try recorder.query("sessions").filter {
            $0.int("local_port") == port && (only?.contains($0.int("id") ?? -1) ?? true)
        }
        let ids = Set(sessions.compactMap { $0.int("id") })
        for s in sessions {
            XCTAssertNotNil(s["bytes_in"] as? Int, "no byte counts: \(s)")
            XCTAssertNotNil(s.string("remote_addr"), "no client address: \(s)")
        }
        let commands = try recorder.query("commands").filter { ids.contains($0.int("session_id") ?? -1) }
        let auth = try recorder.query("auth").filter { ids.contains($0.int("session_id") ?? -1) }
        return try [("session", sessions), ("command", commands), ("auth", auth)].flatMap { kind, list in
            try list.map { row in
                let kept = row.filter { !varying.contains($0.key) }
                let json = try JSONSerialization.data(withJSONObject: kept, options: [.sortedKeys])
                return kind + " " + String(decoding: json, as: UTF8.self)
            }
        }
    }

    /// Session ids on `port`, in order.
    static func sessionIDs(_ recorder: Recorder, port: Int) throws -> [Int] {
        try recorder.query("sessions").filter { $0.int("local_port") == port }.compactMap { $0.int("id") }
    }

    /// Whether something listens on `port` (from /proc: a probe connection would be a session).
    static func listening(_ port: Int) -> Bool {
        let hex = String(format: ":%04X", port)
        return ["/proc/net/tcp", "/proc/net/tcp6"].contains { file in
            ((try? String(contentsOfFile: file, encoding: .utf8)) ?? "").split(separator: "\n").contains {
                let f = $0.split(separator: " ")
                return f.count > 3 && f[1].hasSuffix(hex) && f[3] == "0A"
            }
        }
    }
}
