import Foundation
import XCTest

/// The same logins, commands and authentication attempts against OpenSSH 8.x: Debian 11's sshd 8.4
/// (one binary, re-executed per connection; no sshd-session, no PerSourcePenalties) running in a
/// debootstrap tree, traced from the host.
final class OpenSSH8Tests: XCTestCase {
    static let root = "/var/lib/sshaudit-test/bullseye"
    var server: SSHDServer!
    var recorder: Recorder!

    override func setUpWithError() throws {
        try requireRoot()
        let ensure = try runProcess("/bin/bash", [Paths.packageRoot.appending(path: "Tests/Integration/debian-root.sh").path,
                                                  "ensure", "bullseye", Self.root], timeout: 600)
        guard ensure.status == 0 else { throw TestFailure("cannot build the Debian 11 tree: \(ensure.stderr)") }
        XCTAssertTrue(ensure.stdout.contains("OpenSSH_8"), ensure.stdout)
    }

    override func tearDown() {
        server?.stop()
        if let recorder { _ = try? recorder.stop() }
        super.tearDown()
    }

    func start(_ name: String, port: Int) throws {
        server = try SSHDServer(name: name, port: port, root: Self.root)
        recorder = try Recorder(name: name)
    }

    func mine(_ kind: String, _ extra: [String] = []) throws -> [[String: Any]] {
        let sessions = Set(try recorder.query("sessions").filter { $0.int("local_port") == server.port }.compactMap { $0.int("id") })
        return try recorder.query(kind, extra).filter { sessions.contains($0.int(kind == "sessions" ? "id" : "session_id") ?? -1) }
    }

    func testCommandSessionAndPublickey() throws {
        try start("ossh8-cmd", port: 22361)
        let r = try server.ssh("sa_alice", [#"echo "$SSH_CLIENT"; /bin/ls / >/dev/null; exit 3"#])
        XCTAssertEqual(r.status, 3, r.stderr)
        let port = try XCTUnwrap(clientPort(fromSSHClientLine: String(r.stdout.split(separator: "\n").first ?? "")))
        XCTAssertEqual(try recorder.stop(), 0)
        let sessions = try mine("sessions")
        XCTAssertEqual(sessions.count, 1)
        let s = try XCTUnwrap(sessions.first)
        XCTAssertEqual(s.string("user"), "sa_alice")
        XCTAssertEqual(s.int("remote_port"), port)
        XCTAssertEqual(s.int("exit_code"), 3)
        XCTAssertEqual(s.string("sshd_path"), "/usr/sbin/sshd")
        XCTAssertTrue(s.string("sshd_version")?.hasPrefix("OpenSSH_8.") ?? false, "version per session: \(s)")
        XCTAssertEqual(s.string("auth_method"), "publickey")
        let commands = try mine("commands")
        XCTAssertEqual(commands.map(\.argv), [["bash", "-c", #"echo "$SSH_CLIENT"; /bin/ls / >/dev/null; exit 3"#], ["/bin/ls", "/"]])
        XCTAssertEqual(commands.map { $0.int("exit_code") }, [3, 0])
        XCTAssertEqual(try mine("auth").map { $0.string("result") }, ["accepted"])
    }

    func testInteractiveSession() throws {
        try start("ossh8-tty", port: 22362)
        let r = try server.ssh("sa_alice", ["-tt"], input: "cd /tmp\nid -u\nexit\n")
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(try recorder.stop(), 0)
        let s = try XCTUnwrap(try mine("sessions").first)
        XCTAssertEqual(s.string("user"), "sa_alice")
        XCTAssertTrue(s.string("tty")?.hasPrefix("pts/") ?? false)
        let commands = try mine("commands")
        XCTAssertEqual(commands.first?.argv, ["-bash"])
        XCTAssertEqual(commands.last { $0.argv == ["id", "-u"] }?.string("cwd"), "/tmp")
        XCTAssertFalse(commands.contains { ($0.string("filename") ?? "").contains("unix_chkpwd") || $0.argv.joined().contains("motd") })
    }

    func testPasswordsFailedThenAcceptedAndInvalidUser() throws {
        try start("ossh8-pw", port: 22363)
        XCTAssertEqual(try server.sshWithPasswords("sa_alice", ["Wrong-Pw-1", "Alice-Pw-7q"]).status, 0)
        XCTAssertNotEqual(try server.sshWithPasswords("mallory", ["Guess-1"]).status, 0)
        XCTAssertEqual(try recorder.stop(), 0)
        let sessions = try mine("sessions")
        XCTAssertEqual(sessions.map { $0.string("user") }, ["sa_alice", nil])
        let auth = try mine("auth").map { "\($0.string("result") ?? "nil") \($0.string("method") ?? "nil") \($0.string("user") ?? "nil")" }
        XCTAssertEqual(auth, ["failed password sa_alice", "accepted password sa_alice",
                              "invalid_user nil mallory", "failed password mallory", "disconnected nil mallory"])
    }
}
