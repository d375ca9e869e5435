import Foundation
import GRDB
import SSHAuditCore
@testable import SSHAuditRecorder
import SSHAuditStore
import XCTest

/// The recorder's pipeline driven in-process from the committed fixtures (event streams recorded from
/// real sshd) into a temporary SQLite file: every row the correlator produces is stored once, nothing
/// more, the ledger verifies, and the tables equal those of `sshaudit replay` on the same fixture.
final class PipelineReplayTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let fixtures = root.appendingPathComponent("Tests/SSHAuditCoreTests/Fixtures")
    /// Tables a replay fills; the same list as Tests/Integration/replay-tables.sh leaves out.
    static let skipped = #"^(grdb_migrations|recorder_checkpoint|commands_argv|commands_argv_.*|sqlite_.*)$"#

    var work: URL!

    /// A reader of a database the pipeline just wrote: it waits for a lock, as every reader of a
    /// recorder's database does (the replay's store may still be closing on the writer's thread, and
    /// its last close checkpoints the WAL; without a wait, the open failed with "database is locked").
    static func reader(_ path: String) throws -> DatabaseQueue {
        var config = Configuration()
        config.busyMode = .timeout(10)
        return try DatabaseQueue(path: path, configuration: config)
    }

    override func setUpWithError() throws {
        work = FileManager.default.temporaryDirectory.appendingPathComponent("pipeline-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: work)
    }

    static func fixtureFiles() throws -> [URL] {
        let files = try FileManager.default.contentsOfDirectory(at: fixtures, includingPropertiesForKeys: nil)
            .filter { $0.pathExtension == "events" }.sorted { $0.path < $1.path }
        XCTAssertGreaterThanOrEqual(files.count, 10, "fixtures not found at \(fixtures.path)")
        return files
    }

    /// What the correlator alone makes of a fixture, without pipeline, writer or store: the ids of
    /// the rows of each table (a row is sent again as it changes) and the rows sent once.
    struct Expected: Equatable {
        var records = 0
        var ids: [String: Set<Int64>] = [:]
        var counts: [String: Int] = [:]
    }

    static func expected(_ file: URL) throws -> Expected {
        let log = try EventLogStream(path: file.path)
        var e = Expected()
        let correlator = Correlator.replaying(log.header) { output in
            switch output {
            case let .session(s): e.ids["sessions", default: []].insert(s.id)
            case let .command(c): e.ids["commands", default: []].insert(c.id)
            case let .transfer(t): e.ids["file_transfers", default: []].insert(t.id)
            case let .fileActivity(f): e.ids["file_activity", default: []].insert(f.id)
            case let .network(n): e.ids["network_activity", default: []].insert(n.id)
            case let .channel(c): e.ids["channels", default: []].insert(c.id)
            case let .ttyChunk(t): e.ids["tty_chunks", default: []].insert(t.id)
            case .auth: e.counts["auth_attempts", default: 0] += 1
            case .sessionEvent: e.counts["session_events", default: 0] += 1
            case .refusal: e.counts["refusals", default: 0] += 1
            }
        }
        e.records = try log.forEach { correlator.handle(record: $0) }
        correlator.tty.flushAll()
        return e
    }

    func testPipelineStoresEveryRowOfEveryFixtureOnce() throws {
        for file in try Self.fixtureFiles() {
            let name = file.deletingPathExtension().lastPathComponent
            let expected = try Self.expected(file)
            let db = work.appendingPathComponent("\(name).db").path
            let summary = try Replayer.replay(file.path, into: db)
            XCTAssertEqual(summary.events, UInt64(expected.records), "\(name): records through the pipeline")
            XCTAssertEqual(summary.undecodable, 0, name)

            let queue = try Self.reader(db)
            try queue.read { conn in
                for (table, ids) in expected.ids {
                    let stored = try Int64.fetchAll(conn, sql: "SELECT id FROM \(table)")
                    XCTAssertEqual(stored.count, Set(stored).count, "\(name) \(table): an id stored twice")
                    XCTAssertEqual(Set(stored), ids, "\(name) \(table): rows stored ≠ rows the correlator made")
                }
                for (table, count) in expected.counts {
                    XCTAssertEqual(try Int.fetchOne(conn, sql: "SELECT count(*) FROM \(table)"), count, "\(name) \(table)")
                }
            }
            // Something to compare: the fixtures hold real sessions and attempts.
            XCTAssertGreaterThan(expected.ids["sessions", default: []].count + expected.counts["refusals", default: 0], 0, name)

            // The ledger verifies and covers each of those rows (verify throws on a broken chain).
            let report = try AuditStore.verify(path: db)
            var rowsExpected = expected.counts
            for (table, ids) in expected.ids { rowsExpected[table] = ids.count }
            XCTAssertEqual(report.rows.filter { $0.value > 0 }, rowsExpected.filter { $0.value > 0 }, "\(name): rows the ledger covers")
        }
    }

    func testPipelineTablesEqualThoseOfSSHAuditReplay() throws {
        let binary = ProcessInfo.processInfo.environment["SSHAUDIT_BIN"]
            ?? Self.root.appendingPathComponent(".build/debug/sshaudit").path
        XCTAssertTrue(FileManager.default.isExecutableFile(atPath: binary), "no sshaudit binary at \(binary)")
        for file in try Self.fixtureFiles() {
            let name = file.deletingPathExtension().lastPathComponent
            let inProcess = work.appendingPathComponent("\(name)-lib.db").path
            let byCLI = work.appendingPathComponent("\(name)-cli.db").path
            _ = try Replayer.replay(file.path, into: inProcess)
            let process = Process()
            process.executableURL = URL(fileURLWithPath: binary)
            process.arguments = ["replay", file.path, "--db", byCLI]
            process.standardError = FileHandle.nullDevice
            try process.run()
            process.waitUntilExit()
            XCTAssertEqual(process.terminationStatus, 0, "\(name): sshaudit replay failed")
            let a = try Self.dump(inProcess), b = try Self.dump(byCLI)
            XCTAssertEqual(Set(a.keys), Set(b.keys), name)
            XCTAssertFalse(a["sessions", default: []].isEmpty && a["refusals", default: []].isEmpty, name)
            for (table, rows) in a { XCTAssertEqual(rows, b[table], "\(name) \(table)") }
        }
    }

    /// Every replayed table's rows, in rowid order, as text.
    static func dump(_ path: String) throws -> [String: [String]] {
        try Self.reader(path).read { conn in
            var tables: [String: [String]] = [:]
            for table in try String.fetchAll(conn, sql: "SELECT name FROM sqlite_master WHERE type = 'table'")
            where table.range(of: skipped, options: .regularExpression) == nil {
                tables[table] = try Row.fetchAll(conn, sql: "SELECT * FROM \"\(table)\" ORDER BY rowid").map { $0.description }
            }
            return tables
        }
    }
}

/// The journald prefixes of the recorder's log point.
final class LogTests: XCTestCase {
    func testJournalLinesCarryTheirPriority() {
        XCTAssertEqual(Log.formatted("sshaudit: disk full", level: .warning, journal: true), "<4>sshaudit: disk full\n")
        XCTAssertEqual(Log.formatted("a\nb", level: .error, journal: true), "<3>a\n<3>b\n")
        XCTAssertEqual(Log.formatted("sshaudit: recording", level: .info, journal: false), "sshaudit: recording\n")
    }

    /// Only the very stream JOURNAL_STREAM names gets prefixes: a stderr redirected to a file does not.
    func testJournalStreamMustBeStderrItself() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("log-\(UUID().uuidString)").path
        let fd = open(path, O_CREAT | O_WRONLY, 0o600)
        XCTAssertGreaterThanOrEqual(fd, 0)
        defer { close(fd); unlink(path) }
        var st = stat()
        XCTAssertEqual(fstat(fd, &st), 0)
        XCTAssertTrue(Log.isStream("\(st.st_dev):\(st.st_ino)", fd: fd))
        XCTAssertFalse(Log.isStream("\(st.st_dev):\(st.st_ino + 1)", fd: fd))
        XCTAssertFalse(Log.isStream("garbage", fd: fd))
    }

    /// End to end through the binary: with JOURNAL_STREAM naming its stderr, `sshaudit replay` of a
    /// missing file prints its error as an error ("<3>"); with JOURNAL_STREAM naming another file, as is.
    func testTheBinaryPrefixesOnlyWhenStderrIsTheJournal() throws {
        let binary = ProcessInfo.processInfo.environment["SSHAUDIT_BIN"]
            ?? PipelineReplayTests.root.appendingPathComponent(".build/debug/sshaudit").path
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("journal-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        func run(streamOfSelf: Bool) throws -> String {
            let out = dir.appendingPathComponent("stderr-\(streamOfSelf)")
            _ = FileManager.default.createFile(atPath: out.path, contents: nil)
            let handle = try FileHandle(forWritingTo: out)
            var st = stat()
            XCTAssertEqual(fstat(handle.fileDescriptor, &st), 0)
            let process = Process()
            process.executableURL = URL(fileURLWithPath: binary)
            process.arguments = ["replay", dir.appendingPathComponent("missing.events").path,
                                 "--db", dir.appendingPathComponent("x.db").path]
            process.environment = ["JOURNAL_STREAM": "\(st.st_dev):\(st.st_ino + (streamOfSelf ? 0 : 1))"]
            process.standardError = handle
            try process.run()
            process.waitUntilExit()
            try handle.close()
            XCTAssertEqual(process.terminationStatus, 1)
            return try String(contentsOf: out, encoding: .utf8)
        }
        let journal = try run(streamOfSelf: true)
        XCTAssertTrue(journal.hasPrefix("<3>sshaudit: "), journal)
        XCTAssertTrue(journal.contains("missing.events"), journal)
        let plain = try run(streamOfSelf: false)
        XCTAssertTrue(plain.hasPrefix("sshaudit: "), plain)
    }
}
