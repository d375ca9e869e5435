import Foundation
import GRDB
import XCTest

/// `sshaudit verify` and `sshaudit prune` as an operator runs them, against databases changed with
/// the real `sqlite3` shell: each kind of tampering is named (table and row, or ledger entry), and a
/// prune keeps the chain verifiable.
final class VerifyCommandTests: XCTestCase {
    var dir: String!
    static let sqlite3 = "/usr/bin/sqlite3"

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appending(path: "verify-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        guard FileManager.default.isExecutableFile(atPath: Self.sqlite3) else {
            throw TestFailure("the sqlite3 shell is missing (apt-get install sqlite3; `make deps` does it)")
        }
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: dir)
    }

    func fixture(_ name: String) -> String {
        Paths.packageRoot.appending(path: "Tests/SSHAuditCoreTests/Fixtures/\(name).events").path
    }

    /// A database written by the binary's own write path (`sshaudit replay` of recorded sshd runs).
    func replayed(_ fixtures: [String], name: String = "audit.db") throws -> String {
        let db = dir + "/" + name
        for f in fixtures {
            let r = try runProcess(Paths.sshaudit, ["replay", fixture(f), "--db", db])
            guard r.status == 0 else { throw TestFailure("replay \(f) failed: \(r.stderr)") }
        }
        return db
    }

    /// A fresh copy (sqlite3's .backup: the WAL included), then `sql` run on it by the sqlite3 shell.
    func tamperedCopy(of db: String, _ sql: String) throws -> String {
        let copy = dir + "/copy-\(UUID().uuidString.prefix(8)).db"
        let backup = try runProcess(Self.sqlite3, [db, ".backup '\(copy)'"])
        XCTAssertEqual(backup.status, 0, backup.stderr)
        let r = try runProcess(Self.sqlite3, [copy, sql])
        XCTAssertEqual(r.status, 0, "sqlite3 \(sql): \(r.stderr)")
        return copy
    }

    func verify(_ db: String, _ extra: [String] = []) throws -> ProcessResult {
        try runProcess(Paths.sshaudit, ["verify", "--db", db] + extra)
    }

    /// Exit 1 and one line on stderr that contains every one of `words`.
    func assertFails(_ db: String, _ extra: [String] = [], naming words: [String], file: StaticString = #filePath,
                     line: UInt = #line) throws {
        let r = try verify(db, extra)
        XCTAssertEqual(r.status, 1, "verify must fail: \(r.stdout) \(r.stderr)", file: file, line: line)
        let lines = r.stderr.split(separator: "\n")
        XCTAssertEqual(lines.count, 1, "one line on stderr: \(r.stderr)", file: file, line: line)
        XCTAssertTrue(r.stderr.hasPrefix("sshaudit: verify failed: "), r.stderr, file: file, line: line)
        for word in words {
            XCTAssertTrue(r.stderr.contains(word), "'\(word)' in: \(r.stderr)", file: file, line: line)
        }
        XCTAssertEqual(r.stdout, "", file: file, line: line)
    }

    func head(_ result: ProcessResult) -> String? {
        guard let range = result.stdout.range(of: #"chain head: [0-9a-f]{64}"#, options: .regularExpression) else { return nil }
        return String(result.stdout[range].dropFirst("chain head: ".count))
    }

    func testVerifyPassesOnWhatSSHAuditWroteAndNamesEachChangeMadeWithTheSQLiteShell() throws {
        let db = try replayed(["parallel_10"])
        let ok = try verify(db)
        XCTAssertEqual(ok.status, 0, ok.stderr)
        XCTAssertEqual(ok.stderr, "")
        // parallel_10: 10 sessions, 20 commands, 10 authentication attempts and 10 channels.
        XCTAssertTrue(ok.stdout.contains("ok: 50 rows"), ok.stdout)
        XCTAssertTrue(ok.stdout.contains("and 50 ledger entries checked"), ok.stdout)
        let kept = try XCTUnwrap(head(ok), ok.stdout)

        try assertFails(try tamperedCopy(of: db, "UPDATE commands SET exit_code = 99 WHERE id = 3"),
                        naming: ["commands row 3 ", "changed outside sshaudit"])
        try assertFails(try tamperedCopy(of: db, "UPDATE sessions SET user = 'nobody' WHERE id = 7"),
                        naming: ["sessions row 7 ", "changed outside sshaudit"])
        try assertFails(try tamperedCopy(of: db, "DELETE FROM auth_attempts WHERE id = 4"),
                        naming: ["auth_attempts row 4 ", "deleted outside sshaudit"])
        try assertFails(try tamperedCopy(of: db, """
            INSERT INTO sessions (id, sshd_pid, sshd_start_ns, started_at, user)
            VALUES (999, 4242, 1, '2026-11-29T00:00:00.000Z', 'ghost')
            """), naming: ["sessions row 999 ", "inserted outside sshaudit"])
        // The ledger itself: an entry altered, an entry removed, all of it rewritten.
        try assertFails(try tamperedCopy(of: db, "UPDATE ledger SET row_hash = zeroblob(32) WHERE seq = 5"),
                        naming: ["ledger entry 5 ", "altered"])
        try assertFails(try tamperedCopy(of: db, "DELETE FROM ledger WHERE seq = 7"),
                        naming: ["ledger entry 7 is missing"])
        let rewritten = try tamperedCopy(of: db, "UPDATE ledger SET chain = zeroblob(32)")
        try assertFails(rewritten, naming: ["ledger entry 1 "])

        // A kept head still proves an untouched ledger; not one from elsewhere.
        XCTAssertEqual(try verify(db, ["--expect-head", kept]).status, 0)
        let other = try verify(db, ["--expect-head", String(repeating: "0f", count: 32)])
        XCTAssertEqual(other.status, 1)
        XCTAssertTrue(other.stderr.contains("is not in the ledger's chain"), other.stderr)
    }

    func testPruneRemovesOldSessionsAndVerifyStillPasses() throws {
        // Two recordings 12 minutes apart: the older one is pruned.
        let db = try replayed(["parallel_10"])
        let firstReplay = try runProcess(Self.sqlite3, [db, "SELECT MAX(id) FROM sessions"])
        let boundary = try XCTUnwrap(Int64(firstReplay.stdout.trimmingCharacters(in: .whitespacesAndNewlines)), firstReplay.stderr)
        _ = try replayed(["openssh10_exec_command"])
        let queue = try DatabaseQueue(path: db, configuration: { var c = Configuration(); c.readonly = true; return c }())
        let (older, newer, oldEnd, newEnd) = try queue.read { db -> ([Int64], [Int64], String, String) in
            let older = try Int64.fetchAll(db, sql: "SELECT id FROM sessions WHERE id <= ? ORDER BY id", arguments: [boundary])
            let newer = try Int64.fetchAll(db, sql: "SELECT id FROM sessions WHERE id > ? ORDER BY id", arguments: [boundary])
            let oldEnd = try String.fetchOne(db, sql: "SELECT MAX(ended_at) FROM sessions WHERE id <= ?", arguments: [boundary])!
            let newEnd = try String.fetchOne(db, sql: "SELECT MIN(ended_at) FROM sessions WHERE id > ?", arguments: [boundary])!
            return (older, newer, oldEnd, newEnd)
        }
        try queue.close()
        XCTAssertFalse(older.isEmpty)
        XCTAssertFalse(newer.isEmpty)
        let before = try verify(db)
        XCTAssertEqual(before.status, 0, before.stderr)
        let kept = try XCTUnwrap(head(before))

        // Keep what ended after the midpoint between the two recordings.
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let a = try XCTUnwrap(formatter.date(from: oldEnd)), b = try XCTUnwrap(formatter.date(from: newEnd))
        XCTAssertGreaterThan(b.timeIntervalSince(a), 120, "the fixtures were recorded minutes apart")
        let midpoint = a.addingTimeInterval(b.timeIntervalSince(a) / 2)
        let retain = "\(Int(Date().timeIntervalSince(midpoint)))s"

        let prune = try runProcess(Paths.sshaudit, ["prune", "--retain", retain, "--db", db])
        XCTAssertEqual(prune.status, 0, prune.stderr)
        XCTAssertTrue(prune.stdout.contains("removed \(older.count) session(s)"), prune.stdout)
        XCTAssertTrue(prune.stdout.contains("recorded as prune 1"), prune.stdout)

        let after = try verify(db)
        XCTAssertEqual(after.status, 0, after.stderr)
        XCTAssertTrue(after.stdout.contains("1 prune(s)"), after.stdout)
        XCTAssertTrue(after.stdout.contains("sessions \(newer.count)"), after.stdout)
        XCTAssertEqual(try verify(db, ["--expect-head", kept]).status, 0, "the head kept before the prune is still in the chain")
        let remaining = try runProcess(Self.sqlite3, [db, "SELECT group_concat(id) FROM (SELECT id FROM sessions ORDER BY id)"])
        XCTAssertEqual(remaining.stdout.trimmingCharacters(in: .whitespacesAndNewlines), newer.map(String.init).joined(separator: ","))
        let commandsLeft = try runProcess(Self.sqlite3, [db, "SELECT COUNT(*) FROM commands WHERE session_id NOT IN (SELECT id FROM sessions)"])
        XCTAssertEqual(commandsLeft.stdout.trimmingCharacters(in: .whitespacesAndNewlines), "0")

        // Pruning again removes nothing and records nothing; tampering after a prune is still found.
        let again = try runProcess(Paths.sshaudit, ["prune", "--retain", retain, "--db", db])
        XCTAssertEqual(again.status, 0, again.stderr)
        XCTAssertTrue(again.stdout.contains("nothing removed"), again.stdout)
        try assertFails(try tamperedCopy(of: db, "DELETE FROM commands WHERE id = (SELECT MAX(id) FROM commands)"),
                        naming: ["commands row ", "deleted outside sshaudit"])
        try assertFails(try tamperedCopy(of: db, "UPDATE ledger_prunes SET cutoff = '2000-01-01T00:00:00.000Z'"),
                        naming: ["ledger_prunes row 1 ", "changed outside sshaudit"])
        try assertFails(try tamperedCopy(of: db, "DELETE FROM ledger_prunes"), naming: ["ledger entr", "missing"])
    }

    func testUsageAndRuntimeErrorsAreOneLine() throws {
        let cases: [([String], Int32, String)] = [
            (["prune", "--retain", "90x", "--db", dir + "/a.db"], 2, "--retain"),
            (["prune", "--db", dir + "/a.db"], 2, "--retain"),
            (["prune", "--retain", "90d", "--db", dir + "/none.db"], 1, "no database at"),
            (["verify", "--db", dir + "/none.db"], 1, "no database at"),
            (["verify", "--db", dir + "/none.db", "--expect-head", "xyz"], 2, "--expect-head"),
        ]
        for (args, status, text) in cases {
            let r = try runProcess(Paths.sshaudit, args)
            XCTAssertEqual(r.status, status, "\(args): \(r.stderr)")
            XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, "\(args): \(r.stderr)")
            XCTAssertTrue(r.stderr.hasPrefix("sshaudit: "), r.stderr)
            XCTAssertTrue(r.stderr.contains(text), "\(args): \(r.stderr)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/none.db"), "prune never creates a database")
    }
}

/// The ledger as the recorder writes it: rows upserted as sessions progress (start, authentication,
/// commands, end), with real BPF and a real sshd.
final class VerifyRecordedTests: XCTestCase {
    func testARecordedDatabaseVerifiesAndStillDoesAfterAPrune() throws {
        let server = try SSHDServer(name: "verify", port: 22391)
        defer { server.stop() }
        let recorder = try Recorder(name: "verify")
        XCTAssertEqual(try server.sshWithPasswords("sa_alice", ["Wrong-Pw-1", "Alice-Pw-7q"], command: "echo hi; /bin/true").status, 0)
        XCTAssertEqual(try server.ssh("sa_bob", ["/bin/ls / >/dev/null; exit 2"]).status, 2)
        // Verify while the recorder is still writing: one consistent snapshot.
        let during = try runProcess(Paths.sshaudit, ["verify", "--db", recorder.db])
        XCTAssertEqual(during.status, 0, during.stderr)
        XCTAssertEqual(try recorder.stop(), 0, recorder.stderr)
        XCTAssertFalse(recorder.stderr.contains("write failed"), recorder.stderr)

        let r = try runProcess(Paths.sshaudit, ["verify", "--db", recorder.db])
        XCTAssertEqual(r.status, 0, r.stderr)
        let sessions = try recorder.query("sessions").filter { $0.int("local_port") == server.port }
        XCTAssertEqual(sessions.count, 2, "\(sessions)")
        // Each session row was written more than once: more entries than rows.
        let counts = try runProcess("/usr/bin/sqlite3", [recorder.db, """
            SELECT (SELECT COUNT(*) FROM ledger WHERE tbl = 'sessions') > (SELECT COUNT(*) FROM sessions)
            """])
        XCTAssertEqual(counts.stdout.trimmingCharacters(in: .whitespacesAndNewlines), "1", counts.stderr)

        Thread.sleep(forTimeInterval: 1.1)
        let prune = try runProcess(Paths.sshaudit, ["prune", "--retain", "1s", "--db", recorder.db])
        XCTAssertEqual(prune.status, 0, prune.stderr)
        XCTAssertTrue(prune.stdout.contains("removed "), prune.stdout)
        let after = try runProcess(Paths.sshaudit, ["verify", "--db", recorder.db])
        XCTAssertEqual(after.status, 0, after.stderr)
        XCTAssertTrue(try recorder.query("sessions").filter { $0.int("local_port") == server.port }.isEmpty)
    }

    /// `sshaudit prune` from another process while the recorder writes: both wait their turn, and the
    /// chain stays whole.
    func testPruningBesideARunningRecorder() throws {
        let server = try SSHDServer(name: "verify-live", port: 22392)
        defer { server.stop() }
        let recorder = try Recorder(name: "verify-live")
        XCTAssertEqual(try server.ssh("sa_alice", ["echo one"]).status, 0)
        Thread.sleep(forTimeInterval: 1.5)
        let prune = try runProcess(Paths.sshaudit, ["prune", "--retain", "1s", "--db", recorder.db])
        XCTAssertEqual(prune.status, 0, prune.stderr)
        XCTAssertTrue(prune.stdout.contains("removed "), prune.stdout)
        XCTAssertEqual(try server.ssh("sa_bob", ["echo two; /bin/true"]).status, 0)
        XCTAssertEqual(try recorder.stop(), 0, recorder.stderr)
        XCTAssertFalse(recorder.stderr.contains("write failed"), recorder.stderr)
        let r = try runProcess(Paths.sshaudit, ["verify", "--db", recorder.db])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("1 prune(s)"), r.stdout)
        let users = try recorder.query("sessions").filter { $0.int("local_port") == server.port }.compactMap { $0.string("user") }
        XCTAssertEqual(users, ["sa_bob"])
    }
}
