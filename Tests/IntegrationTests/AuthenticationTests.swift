import Foundation
import XCTest

/// Every authentication attempt from a real sshd, through both logging routes, asserted row by row.
final class AuthenticationTests: XCTestCase {
    var server: SSHDServer!
    var recorder: Recorder!
    var syslog: SyslogSink?

    func start(_ name: String, port: Int, logMode: String = "file", options: [String] = []) throws {
        if logMode == "syslog" { syslog = try SyslogSink() }
        server = try SSHDServer(name: name, port: port, logMode: logMode, extraOptions: options)
        recorder = try Recorder(name: name)
    }

    override func tearDown() {
        server?.stop()
        if let recorder { _ = try? recorder.stop() }
        syslog?.close()
        super.tearDown()
    }

    /// (session, auth rows) of each connection to this test's sshd, in order.
    func connections() throws -> [(session: [String: Any], auth: [[String: Any]])] {
        XCTAssertEqual(try recorder.stop(), 0, recorder.stderr)
        let sessions = try recorder.query("sessions").filter { $0.int("local_port") == server.port }
        let auth = try recorder.query("auth")
        return sessions.map { s in (s, auth.filter { $0.int("session_id") == s.int("id") }) }
    }

    /// result, method, user of each row.
    func summary(_ rows: [[String: Any]]) -> [String] {
        rows.map { "\($0.string("result") ?? "nil") \($0.string("method") ?? "nil") \($0.string("user") ?? "nil")" }
    }

    func fingerprint(_ pubKey: String) throws -> String {
        let r = try runProcess("/usr/bin/ssh-keygen", ["-lf", pubKey])
        return String(r.stdout.split(separator: " ")[1])  // "256 SHA256:… comment (ED25519)"
    }

    func checkAcceptedPublickey(route: String, port: Int) throws {
        try start("auth-pk-\(route)", port: port, logMode: route)
        let r = try server.ssh("sa_alice", ["true"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let conns = try connections()
        XCTAssertEqual(conns.count, 1)
        let (s, auth) = try XCTUnwrap(conns.first)
        XCTAssertEqual(summary(auth), ["accepted publickey sa_alice"])
        let row = try XCTUnwrap(auth.first)
        let expected = try fingerprint(server.dir + "/id_alice.pub")
        XCTAssertEqual(row.string("key_fingerprint"), expected)
        XCTAssertEqual(row.string("key_type"), "ED25519")
        XCTAssertEqual(row.string("remote_addr"), "127.0.0.1")
        XCTAssertEqual(row.int("remote_port"), s.int("remote_port"))
        XCTAssertEqual(s.string("auth_method"), "publickey")
        XCTAssertEqual(s.string("key_fingerprint"), expected)
        XCTAssertLessThanOrEqual(try XCTUnwrap(row.string("at")), try XCTUnwrap(s.string("authenticated_at")))
        XCTAssertGreaterThanOrEqual(try XCTUnwrap(row.string("at")), try XCTUnwrap(s.string("started_at")))
    }

    func testAcceptedPublickeyLoggedToFile() throws {
        try checkAcceptedPublickey(route: "file", port: 22311)
    }

    func testAcceptedPublickeyLoggedToSyslog() throws {
        try checkAcceptedPublickey(route: "syslog", port: 22312)
        XCTAssertTrue(syslog?.received.contains { $0.contains("Accepted publickey for sa_alice") } ?? false,
                      "sshd really logged through /dev/log")
    }

    func testFailedThenAcceptedPasswordInOneConnection() throws {
        try start("auth-pw", port: 22313)
        let r = try server.sshWithPasswords("sa_alice", ["Wrong-Pw-1", "Alice-Pw-7q"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let conns = try connections()
        XCTAssertEqual(conns.count, 1)
        XCTAssertEqual(summary(conns[0].auth), ["failed password sa_alice", "accepted password sa_alice"])
        XCTAssertEqual(conns[0].session.string("auth_method"), "password")
        XCTAssertNil(conns[0].session.string("key_fingerprint"))
        XCTAssertEqual(conns[0].session.string("user"), "sa_alice")
        XCTAssertTrue(conns[0].auth.allSatisfy { $0.int("remote_port") == conns[0].session.int("remote_port") })
    }

    func testInvalidUser() throws {
        try start("auth-invalid", port: 22314)
        let r = try server.sshWithPasswords("mallory", ["Guess-1"])
        XCTAssertNotEqual(r.status, 0)
        let conns = try connections()
        XCTAssertEqual(conns.count, 1)
        // One row per credential tried; the invalid name and the end are facts of the connection.
        XCTAssertEqual(summary(conns[0].auth), ["failed password mallory"])
        XCTAssertEqual(try recorder.events(session: conns[0].session.int("id")),
                       ["invalid_user mallory", "closed_before_auth mallory"])
        XCTAssertNil(conns[0].session.string("user"), "no one logged in")
        XCTAssertEqual(conns[0].session.int("command_count"), 0)
    }

    func testConnectionClosedBeforeAuthentication() throws {
        try start("auth-closed", port: 22315)
        try server.connectAndClose()
        let conns = try connections()
        XCTAssertEqual(conns.count, 1)
        XCTAssertEqual(summary(conns[0].auth), [], "no credential was tried")
        XCTAssertEqual(try recorder.events(session: conns[0].session.int("id")), ["closed_before_auth nil"])
        XCTAssertEqual(conns[0].session.string("remote_addr"), "127.0.0.1")
        XCTAssertNotNil(conns[0].session.string("ended_at"))
    }

    func testThreeWrongPasswords() throws {
        try start("auth-three", port: 22316)
        let r = try server.sshWithPasswords("sa_bob", ["Wrong-1", "Wrong-2", "Wrong-3"])
        XCTAssertNotEqual(r.status, 0)
        let conns = try connections()
        XCTAssertEqual(conns.count, 1)
        XCTAssertEqual(summary(conns[0].auth), ["failed password sa_bob", "failed password sa_bob", "failed password sa_bob"])
        let failed = try recorder.query("auth", ["--failed", "--user", "sa_bob"]).filter {
            $0.int("session_id") == conns[0].session.int("id")
        }
        XCTAssertEqual(failed.count, 3, "one per sshd Failed line")
        XCTAssertEqual(try recorder.events(session: conns[0].session.int("id")).count, 1, "one end of the connection")
    }

    func testQuietSshdStillTellsSuccessFromFailure() throws {
        try start("auth-quiet", port: 22317, options: ["-o", "LogLevel=QUIET"])
        XCTAssertEqual(try server.ssh("sa_alice", ["true"]).status, 0)
        XCTAssertNotEqual(try server.sshWithPasswords("sa_bob", ["Wrong-1"]).status, 0)
        let conns = try connections()
        XCTAssertEqual(conns.count, 2)
        XCTAssertEqual(summary(conns[0].auth), ["accepted nil sa_alice"], "the process tree shows the login")
        XCTAssertNil(conns[0].session.string("auth_method"))
        XCTAssertEqual(summary(conns[1].auth), [], "no success; nothing more is known")
        XCTAssertEqual(try recorder.events(session: conns[1].session.int("id")), ["closed_before_auth nil"])
    }

    /// The database (and its WAL), and the raw event log, hold none of the passwords typed.
    func testPasswordsAreNeverStored() throws {
        try start("auth-secret", port: 22318)
        let passwords = ["Wrong-Secret-1x", "Wrong-Secret-2y", "Bob-Pw-9z"]
        XCTAssertEqual(try server.sshWithPasswords("sa_bob", passwords).status, 0)
        XCTAssertNotEqual(try server.sshWithPasswords("sa_alice", ["Another-Secret-3z"]).status, 0)
        let secrets = passwords + ["Another-Secret-3z"]
        // While recording: the rows are in the WAL (the writer flushes every 200 ms).
        Thread.sleep(forTimeInterval: 1)
        let wal = try Data(contentsOf: URL(fileURLWithPath: recorder.db + "-wal"))
        XCTAssertNotNil(wal.range(of: Data("sa_bob".utf8)), "the WAL holds the attempts")
        for secret in secrets { XCTAssertNil(wal.range(of: Data(secret.utf8)), "\(secret) found in the WAL") }

        let conns = try connections()
        XCTAssertEqual(conns.map { summary($0.auth) }, [
            ["failed password sa_bob", "failed password sa_bob", "accepted password sa_bob"],
            ["failed password sa_alice"],
        ])
        let files = [recorder.db, recorder.db + "-wal", recorder.db + "-shm", recorder.eventsFile]
            .filter { FileManager.default.fileExists(atPath: $0) }
        XCTAssertTrue(files.contains(recorder.db) && files.contains(recorder.eventsFile))
        for file in files {
            let bytes = try Data(contentsOf: URL(fileURLWithPath: file))
            for secret in secrets {
                XCTAssertNil(bytes.range(of: Data(secret.utf8)), "\(secret) found in \(file)")
            }
        }
    }
}
