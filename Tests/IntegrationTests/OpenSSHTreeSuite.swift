import Foundation
import XCTest

/// The same logins, commands and authentication attempts against an OpenSSH from another Debian
/// release, whose sshd runs in a debootstrap tree (Tests/Integration/debian-root.sh) and is traced
/// from the host like any other. OpenSSH8Tests and OpenSSH10Tests run it for 8.4 and 10.0.
struct OpenSSHTreeSuite {
    /// Debian suite (bullseye, trixie) and where its tree lives.
    let suite: String
    let root: String
    /// "OpenSSH_8." …: the sshd_version every session must carry.
    let versionPrefix: String
    /// The binary serving a connection: /usr/sbin/sshd up to 9.7, /usr/lib/openssh/sshd-session from 9.8.
    let sshdPath: String
    let name: String
    let basePort: Int

    func ensureTree() throws {
        try requireRoot()
        let ensure = try runProcess("/bin/bash", [Paths.packageRoot.appending(path: "Tests/Integration/debian-root.sh").path,
                                                  "ensure", suite, root], timeout: 600)
        guard ensure.status == 0 else { throw TestFailure("cannot build the \(suite) tree: \(ensure.stderr)") }
        XCTAssertTrue(ensure.stdout.contains(String(versionPrefix.dropLast())), ensure.stdout)
    }

    /// Runs `body` against a fresh sshd in the tree and a recorder; both are stopped afterwards.
    func with(_ test: String, port offset: Int, _ body: (SSHDServer, Recorder) throws -> Void) throws {
        let server = try SSHDServer(name: "\(name)-\(test)", port: basePort + offset, root: root)
        defer { server.stop() }
        let recorder = try Recorder(name: "\(name)-\(test)")
        defer { _ = try? recorder.stop() }
        try body(server, recorder)
    }

    /// Rows of `kind` that belong to connections to this test's sshd.
    func mine(_ recorder: Recorder, _ server: SSHDServer, _ kind: String, _ extra: [String] = []) throws -> [[String: Any]] {
        let sessions = Set(try recorder.query("sessions").filter { $0.int("local_port") == server.port }.compactMap { $0.int("id") })
        return try recorder.query(kind, extra).filter { sessions.contains($0.int(kind == "sessions" ? "id" : "session_id") ?? -1) }
    }

    func commandSessionAndPublickey() throws {
        try with("cmd", port: 1) { server, recorder in
            let r = try server.ssh("sa_alice", [#"echo "$SSH_CLIENT"; /bin/ls / >/dev/null; exit 3"#])
            XCTAssertEqual(r.status, 3, r.stderr)
            let port = try XCTUnwrap(clientPort(fromSSHClientLine: String(r.stdout.split(separator: "\n").first ?? "")))
            XCTAssertEqual(try recorder.stop(), 0)
            let sessions = try mine(recorder, server, "sessions")
            XCTAssertEqual(sessions.count, 1)
            let s = try XCTUnwrap(sessions.first)
            XCTAssertEqual(s.string("user"), "sa_alice")
            XCTAssertEqual(s.int("remote_port"), port)
            XCTAssertEqual(s.int("exit_code"), 3)
            XCTAssertEqual(s.string("sshd_path"), sshdPath)
            XCTAssertTrue(s.string("sshd_version")?.hasPrefix(versionPrefix) ?? false, "version per session: \(s)")
            XCTAssertEqual(s.string("auth_method"), "publickey")
            let commands = try mine(recorder, server, "commands")
            XCTAssertEqual(commands.map(\.argv), [["bash", "-c", #"echo "$SSH_CLIENT"; /bin/ls / >/dev/null; exit 3"#], ["/bin/ls", "/"]])
            XCTAssertEqual(commands.map { $0.int("exit_code") }, [3, 0])
            XCTAssertEqual(try mine(recorder, server, "auth").map { $0.string("result") }, ["accepted"])
        }
    }

    func interactiveSession() throws {
        try with("tty", port: 2) { server, recorder in
            let r = try server.ssh("sa_alice", ["-tt"], input: "cd /tmp\nid -u\nexit\n")
            XCTAssertEqual(r.status, 0, r.stderr)
            XCTAssertEqual(try recorder.stop(), 0)
            let s = try XCTUnwrap(try mine(recorder, server, "sessions").first)
            XCTAssertEqual(s.string("user"), "sa_alice")
            XCTAssertTrue(s.string("tty")?.hasPrefix("pts/") ?? false)
            let commands = try mine(recorder, server, "commands")
            XCTAssertEqual(commands.first?.argv, ["-bash"])
            XCTAssertEqual(commands.last { $0.argv == ["id", "-u"] }?.string("cwd"), "/tmp")
            XCTAssertFalse(commands.contains {
                ($0.string("filename") ?? "").contains("unix_chkpwd") || $0.argv.joined().contains("motd")
            })
        }
    }

    func passwordsFailedThenAcceptedAndInvalidUser() throws {
        try with("pw", port: 3) { server, recorder in
            XCTAssertEqual(try server.sshWithPasswords("sa_alice", ["Wrong-Pw-1", "Alice-Pw-7q"]).status, 0)
            XCTAssertNotEqual(try server.sshWithPasswords("mallory", ["Guess-1"]).status, 0)
            XCTAssertEqual(try recorder.stop(), 0)
            XCTAssertEqual(try mine(recorder, server, "sessions").map { $0.string("user") }, ["sa_alice", nil])
            let auth = try mine(recorder, server, "auth").map {
                "\($0.string("result") ?? "nil") \($0.string("method") ?? "nil") \($0.string("user") ?? "nil")"
            }
            XCTAssertEqual(auth, ["failed password sa_alice", "accepted password sa_alice", "failed password mallory"])
            let invalid = try mine(recorder, server, "sessions").last
            XCTAssertEqual(try recorder.events(session: invalid?.int("id")), ["invalid_user mallory", "closed_before_auth mallory"])
        }
    }
}
