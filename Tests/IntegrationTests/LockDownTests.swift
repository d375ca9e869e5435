import Foundation
import XCTest

/// An audit trail others could have written proves nothing: sshaudit refuses it, with one line, exit 1.
final class LockDownTests: XCTestCase {
    var dir: String!

    override func setUpWithError() throws {
        try requireRoot()
        dir = "/run/sshaudit-test/lockdown-\(getpid())"
        try? FileManager.default.removeItem(atPath: dir)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let fixture = Paths.packageRoot.appending(path: "Tests/SSHAuditCoreTests/Fixtures/exec_command.events").path
        XCTAssertEqual(try runProcess(Paths.sshaudit, ["replay", fixture, "--db", dir + "/a.db"]).status, 0)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: dir)
        super.tearDown()
    }

    func expectRefusal(_ args: [String], _ text: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let r = try runProcess(Paths.sshaudit, args)
        XCTAssertEqual(r.status, 1, r.stderr, file: file, line: line)
        XCTAssertTrue(r.stderr.hasPrefix("sshaudit: refusing to use") && r.stderr.contains(text), r.stderr, file: file, line: line)
        XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, file: file, line: line)
    }

    func testNewDatabaseIsPrivate() throws {
        let modes = try FileManager.default.attributesOfItem(atPath: dir + "/a.db")[.posixPermissions] as? Int
        XCTAssertEqual(modes, 0o600)
    }

    func testRefusesWorldWritableOrForeignDatabases() throws {
        let db = dir + "/a.db"
        chmod(db, 0o666)
        try expectRefusal(["query", "sessions", "--db", db], "writable by others (mode 666)")
        try expectRefusal(["replay", Paths.packageRoot.appending(path: "Tests/SSHAuditCoreTests/Fixtures/exec_command.events").path, "--db", db], "writable by others")
        chmod(db, 0o600)
        chown(db, 1, 1)
        try expectRefusal(["status", "--db", db], "owned by uid 1")
        chown(db, 0, 0)
        chmod(dir, 0o777)
        try expectRefusal(["record", "--db", db], "\(dir!): writable by others (mode 777)")
        chmod(dir, 0o755)
        XCTAssertEqual(try runProcess(Paths.sshaudit, ["status", "--db", db]).status, 0, "fine again once fixed")
    }

    /// A directory its group can write is as open as one anybody can: they could replace the database.
    /// Only a sticky one is fine (nobody else can rename or remove a file of ours there).
    func testRefusesADirectoryItsGroupCanWrite() throws {
        let db = dir + "/a.db"
        let fixture = Paths.packageRoot.appending(path: "Tests/SSHAuditCoreTests/Fixtures/exec_command.events").path
        for mode: mode_t in [0o770, 0o775] {
            chmod(dir, mode)
            let text = "\(dir!): writable by its group (mode \(String(mode, radix: 8)))"
            try expectRefusal(["replay", fixture, "--db", db], text)
            try expectRefusal(["record", "--db", db], text)
        }
        chmod(dir, 0o1775)
        XCTAssertEqual(try runProcess(Paths.sshaudit, ["replay", fixture, "--db", dir + "/b.db"]).status, 0, "sticky: allowed")
        chmod(dir, 0o755)
    }

    func testStatusShowsRunsAndLosses() throws {
        let r = try runProcess(Paths.sshaudit, ["status", "--db", dir + "/a.db", "--format", "json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(json["sessions"] as? Int, 1)
        XCTAssertEqual(json["commands"] as? Int, 2)
        XCTAssertEqual(json["total_ring_drops"] as? Int, 0)
        XCTAssertEqual(json["total_unattributed_events"] as? Int, 0)
        XCTAssertNotNil(json["runs"] as? [Any])
    }
}
