import Foundation
import GRDB
import XCTest

/// Someone with write access to the database file (sqlite3 as root) puts a value of the wrong type
/// into a row. Every reader that decodes rows answers with one line naming the table and row and
/// exit 1, never a trap; `verify` names the change.
final class TamperedRowTests: XCTestCase {
    func sshaudit(_ args: [String]) throws -> ProcessResult {
        try runProcess(Paths.sshaudit, args)
    }

    func testAValueOfTheWrongTypeIsOneLineNotATrap() throws {
        let dir = FileManager.default.temporaryDirectory.appending(path: "rows-tampered-\(getpid())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let db = dir + "/a.db"
        let fixture = Paths.packageRoot.appending(path: "Tests/SSHAuditCoreTests/Fixtures/exec_command.events").path
        let replay = try sshaudit(["replay", fixture, "--db", db])
        XCTAssertEqual(replay.status, 0, replay.stderr)
        let (session, command) = try DatabaseQueue(path: db).write { db in
            let session = try XCTUnwrap(Int64.fetchOne(db, sql: "SELECT min(id) FROM sessions"))
            let command = try XCTUnwrap(Int64.fetchOne(db, sql: "SELECT min(id) FROM commands"))
            try db.execute(sql: "UPDATE sessions SET sshd_pid = 'x' WHERE id = ?", arguments: [session])
            try db.execute(sql: "UPDATE commands SET recovered = 'yes' WHERE id = ?", arguments: [command])
            return (session, command)
        }
        let sessions = "sessions row \(session) holds a value of the wrong type"
        let commands = "commands row \(command) holds a value of the wrong type"
        for (args, text) in [(["query", "sessions", "--format", "json"], sessions), (["query", "sessions", "--format", "csv"], sessions),
                             (["query", "commands"], commands), (["show", String(session)], commands),
                             (["export", "--format", "jsonl"], sessions)] {
            let r = try sshaudit(args + ["--db", db])
            XCTAssertEqual(r.status, 1, "\(args): \(r.stderr)")
            XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, "\(args): one line: \(r.stderr)")
            XCTAssertTrue(r.stderr.hasPrefix("sshaudit: \(text)"), "\(args): \(r.stderr)")
        }
        let verify = try sshaudit(["verify", "--db", db])
        XCTAssertEqual(verify.status, 1, verify.stdout + verify.stderr)
    }

    /// The shared --db and --format groups: an empty --db and a format the command does not print are
    /// usage errors (exit 2, one line), the same for every command.
    func testSharedOptionErrors() throws {
        for command in [["query", "sessions"], ["query", "refusals"], ["query", "keys"], ["show", "1"], ["report"], ["status"],
                        ["verify"], ["export"], ["prune", "--retain", "90d"], ["play", "1"]] {
            let r = try sshaudit(command + ["--db", ""])
            XCTAssertEqual(r.status, 2, "\(command): \(r.stderr)")
            XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, "\(command): \(r.stderr)")
            XCTAssertTrue(r.stderr.contains("--db needs a file name"), "\(command): \(r.stderr)")
        }
        let status = try sshaudit(["status", "--format", "csv"])
        XCTAssertEqual(status.status, 2, status.stderr)
        XCTAssertTrue(status.stderr.contains("'csv' is invalid for '--format"), status.stderr)
    }
}
