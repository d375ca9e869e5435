import Foundation
import XCTest

/// The binary's answers to bad input: one line on stderr, exit 2 for usage, 1 for runtime errors.
final class CLITests: XCTestCase {
    func sshaudit(_ args: [String]) throws -> ProcessResult {
        try runProcess(Paths.sshaudit, args)
    }

    func assertOneLineError(_ r: ProcessResult, status: Int32, contains text: String,
                            file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(r.status, status, r.stderr, file: file, line: line)
        XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, "one line: \(r.stderr)", file: file, line: line)
        XCTAssertTrue(r.stderr.hasPrefix("sshaudit: "), r.stderr, file: file, line: line)
        XCTAssertTrue(r.stderr.contains(text), r.stderr, file: file, line: line)
        XCTAssertEqual(r.stdout, "", file: file, line: line)
    }

    func testMissingDatabase() throws {
        assertOneLineError(try sshaudit(["query", "sessions", "--db", "/nonexistent/x.db"]), status: 1,
                           contains: "no database at /nonexistent/x.db")
    }

    func testNotADatabase() throws {
        let path = FileManager.default.temporaryDirectory.appending(path: "junk-\(getpid()).db").path
        try Data("hello, not sqlite".utf8).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        assertOneLineError(try sshaudit(["query", "commands", "--db", path]), status: 1, contains: "not an sshaudit database")
        XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), "hello, not sqlite")
    }

    /// Output to a full disk (/dev/full answers every write with ENOSPC): one line, exit 1, no trap.
    func testOutputToAFullDisk() throws {
        let r = try runProcess("/bin/bash", ["-c", "exec \"$0\" completions bash >/dev/full", Paths.sshaudit])
        assertOneLineError(r, status: 1, contains: "cannot write the output: No space left on device")
    }

    func testUsageErrors() throws {
        assertOneLineError(try sshaudit(["query", "sessions", "--format", "xml"]), status: 2, contains: "xml")
        assertOneLineError(try sshaudit(["query", "sessions", "--limit", "0"]), status: 2, contains: "--limit")
        assertOneLineError(try sshaudit(["query", "nonsense"]), status: 2, contains: "nonsense")
        assertOneLineError(try sshaudit(["frobnicate"]), status: 2, contains: "frobnicate")
        assertOneLineError(try sshaudit(["record", "--priority-boost", "20"]), status: 2, contains: "--priority-boost")
    }

    func testUnknownSessionAndBadEventLog() throws {
        let dir = FileManager.default.temporaryDirectory.appending(path: "cli-\(getpid())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // A real, empty database: what record creates (needs root for the BPF part, so replay a fixture).
        let fixture = Paths.packageRoot.appending(path: "Tests/SSHAuditCoreTests/Fixtures/exec_command.events").path
        let replay = try sshaudit(["replay", fixture, "--db", dir + "/a.db"])
        XCTAssertEqual(replay.status, 0, replay.stderr)
        assertOneLineError(try sshaudit(["query", "commands", "--db", dir + "/a.db", "--session", "999"]), status: 1,
                           contains: "no session 999")
        try Data("garbage".utf8).write(to: URL(fileURLWithPath: dir + "/bad.events"))
        assertOneLineError(try sshaudit(["events", dir + "/bad.events"]), status: 1, contains: "not an sshaudit event log")
    }

    func testReplayStoresWhatTheFixtureRecorded() throws {
        let dir = FileManager.default.temporaryDirectory.appending(path: "replay-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let fixture = Paths.packageRoot.appending(path: "Tests/SSHAuditCoreTests/Fixtures/parallel_10.events").path
        XCTAssertEqual(try sshaudit(["replay", fixture, "--db", dir + "/p.db"]).status, 0)
        let json = try sshaudit(["query", "sessions", "--db", dir + "/p.db", "--format", "json"])
        let rows = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [[String: Any]]
        XCTAssertEqual(rows?.count, 10)
        let table = try sshaudit(["query", "commands", "--db", dir + "/p.db"])
        XCTAssertEqual(table.status, 0)
        XCTAssertEqual(table.stdout.split(separator: "\n").count, 21, "header and 20 commands:\n\(table.stdout)")
        XCTAssertTrue(table.stdout.split(separator: "\n").allSatisfy { $0.count <= 100 })

        // --dry-run counts the same rows and writes nothing, not even a database file.
        let dry = try sshaudit(["replay", fixture, "--dry-run", "--db", dir + "/dry.db"])
        XCTAssertEqual(dry.status, 0, dry.stderr)
        XCTAssertTrue(dry.stderr.contains(" give 10 sessions, 20 commands, "), dry.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/dry.db"))
    }

    func testUserTimelineAcrossSessionsAndReportCompleteness() throws {
        let dir = FileManager.default.temporaryDirectory.appending(path: "timeline-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for f in ["exec_command", "interactive_tty", "failed_password"] {
            let fixture = Paths.packageRoot.appending(path: "Tests/SSHAuditCoreTests/Fixtures/\(f).events").path
            XCTAssertEqual(try sshaudit(["replay", fixture, "--db", dir + "/t.db"]).status, 0)
        }
        let json = try sshaudit(["show", "--user", "sa_alice", "--db", dir + "/t.db", "--format", "json"])
        XCTAssertEqual(json.status, 0, json.stderr)
        let entries = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [[String: Any]])
        XCTAssertEqual(entries.map { $0["type"] as? String }, ["session_start", "command", "command", "session_end",
                                                               "session_start"] + Array(repeating: "command", count: 5) + ["session_end"])
        let times = entries.compactMap { $0["at"] as? String }
        XCTAssertEqual(times, times.sorted(), "interleaved by time")
        XCTAssertEqual(Set(entries.compactMap { $0["session_id"] as? Int }), [1, 2], "not the failed login (no user)")
        XCTAssertEqual(try sshaudit(["show", "--user", "nobody-at-all", "--db", dir + "/t.db"]).status, 1)
        XCTAssertEqual(try sshaudit(["show", "--db", dir + "/t.db"]).status, 2, "a session id or --user")

        let report = try sshaudit(["report", "--since", "2026-01-01", "--db", dir + "/t.db"])
        XCTAssertTrue(report.stdout.contains("| Complete sessions (none recovered, lost in the kernel, cut or unseen ending) | 3 of 3 |"),
                      report.stdout)
    }
}
