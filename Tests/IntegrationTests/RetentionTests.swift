import Foundation
import XCTest

/// `record --retain` prunes what ended before the period, and the ledger still verifies.
final class RetentionTests: XCTestCase {
    func testRecordPrunesOldSessionsAndVerifyStillPasses() throws {
        try requireRoot()
        let dir = "/run/sshaudit-test/retain-\(getpid())"
        try? FileManager.default.removeItem(atPath: dir)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let db = dir + "/a.db"
        let fixture = Paths.packageRoot.appending(path: "Tests/SSHAuditCoreTests/Fixtures/exec_command.events").path
        XCTAssertEqual(try runProcess(Paths.sshaudit, ["replay", fixture, "--db", db]).status, 0)
        XCTAssertEqual(try count(db, "sessions"), 1)
        // The recorder also records whatever other sshd runs meanwhile (other tests): look at the
        // fixture's own rows, session 1 and its commands.

        let record = Process()
        record.executableURL = URL(fileURLWithPath: Paths.sshaudit)
        record.arguments = ["record", "--db", db, "--retain", "1s"]
        let stderr = Pipe()
        record.standardError = stderr
        try record.run()
        // The first pruning runs right after the start; then stop.
        let deadline = Date().addingTimeInterval(30)
        while try count(db, "sessions WHERE id = 1") != 0, Date() < deadline { Thread.sleep(forTimeInterval: 0.2) }
        kill(record.processIdentifier, SIGTERM)
        record.waitUntilExit()
        XCTAssertEqual(record.terminationStatus, 0)
        XCTAssertEqual(try count(db, "sessions WHERE id = 1"), 0, "the fixture's session ended long ago")
        XCTAssertEqual(try count(db, "commands WHERE session_id = 1"), 0)
        let verify = try runProcess(Paths.sshaudit, ["verify", "--db", db])
        XCTAssertEqual(verify.status, 0, verify.stdout + verify.stderr)
    }

    func count(_ db: String, _ table: String) throws -> Int {
        let r = try runProcess(Paths.sshaudit, ["query", "sql", "SELECT COUNT(*) AS n FROM \(table)", "--db", db, "--format", "csv"])
        return Int(r.stdout.split(whereSeparator: \.isNewline).last ?? "") ?? -1
    }
}
