import Foundation
import GRDB
@testable import SSHAuditCore
import XCTest
@testable import SSHAuditStore

/// The hash-chained ledger: every row version written is entered; `verify` finds rows changed,
/// inserted or deleted behind the store's back, and ledger entries altered or removed; `prune`
/// removes old sessions without breaking the chain.
final class LedgerTests: XCTestCase {
    var dir: String!
    var path: String { dir + "/audit.db" }

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appending(path: "ledger-\(UUID().uuidString)").path
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: dir)
    }

    static let day: Int64 = 86_400_000_000_000
    /// 2026-11-29T01:54:59.123Z
    static let t0: Int64 = 1_795_917_299_123_000_000

    func session(_ id: Int64, at start: Int64 = t0) -> SessionRecord {
        var s = SessionRecord(id: id, sshdPid: 4000 + UInt32(id), sshdStartNs: 77 + UInt64(id), startedAtNs: start)
        s.listenerPid = 1
        s.sshdPath = "/usr/sbin/sshd"
        s.remote = Endpoint(address: "127.0.0.1", port: 40_000)
        s.local = Endpoint(address: "127.0.0.1", port: 22)
        return s
    }

    func command(_ id: Int64, session: Int64, at start: Int64 = t0 + 1_000_000_000) -> CommandRecord {
        var c = CommandRecord(id: id, sessionID: session, parentID: nil, pid: 10 + UInt32(id), ppid: 9, uid: 1000,
                              filename: "/bin/x", argv: ["x", "a \"quoted\" /path", "ünïcode"], argvTruncated: false,
                              startedAtNs: start)
        c.cwd = "/home/alice"
        return c
    }

    func auth(_ id: Int64, session: Int64, at: Int64 = t0 + 500_000_000) -> AuthRecord {
        AuthRecord(id: id, sessionID: session, atNs: at, user: "alice", remote: Endpoint(address: "127.0.0.1", port: 40_000),
                   method: "publickey", result: .accepted, keyType: "ED25519", keyFingerprint: "SHA256:abc")
    }

    func transfer(_ id: Int64, session: Int64, command: Int64?) -> TransferRecord {
        TransferRecord(id: id, sessionID: session, commandID: command, proto: "sftp", path: "/etc/hosts", mode: .read,
                       openedAtNs: Self.t0 + 2_000_000_000)
    }

    func event(_ id: Int64, session: Int64) -> SessionEventRecord {
        SessionEventRecord(id: id, sessionID: session, atNs: Self.t0 + 3_000_000_000, kind: .localForward,
                           targetHost: "10.0.0.1", targetPort: 80, detail: nil)
    }

    /// A session as the recorder writes it: started, authenticated, commands and a transfer, ended,
    /// each step its own batch (so each row has several versions in the ledger).
    @discardableResult
    func writeSession(_ store: AuditStore, id: Int64, ids: (command: Int64, auth: Int64, transfer: Int64, event: Int64),
                      start: Int64 = t0, end: Bool = true) throws -> Int {
        var s = session(id, at: start)
        try store.write([.session(s)])
        s.user = "alice"; s.uid = 1000; s.authenticatedAtNs = start + 400_000_000; s.authMethod = "publickey"
        var c = command(ids.command, session: id, at: start + 1_000_000_000)
        s.commandCount = 1
        try store.write([.session(s), .auth(auth(ids.auth, session: id, at: start + 500_000_000)), .command(c)])
        var t = transfer(ids.transfer, session: id, command: ids.command)
        try store.write([.transfer(t), .sessionEvent(event(ids.event, session: id))])
        t.closedAtNs = start + 2_500_000_000; t.bytesRead = 4096
        c.endedAtNs = start + 3_000_000_000; c.exitCode = 0
        try store.write([.transfer(t), .command(c)])
        guard end else { return 8 }
        s.endedAtNs = start + 4_000_000_000; s.exitCode = 0; s.bytesIn = 5000; s.bytesOut = 6000
        try store.write([.session(s)])
        return 9  // row versions written: session ×3, command ×2, transfer ×2, auth, event
    }

    /// A copy of the database in memory (the SQLite backup API: the WAL included).
    func snapshot() throws -> DatabaseQueue {
        let copy = try DatabaseQueue()
        try DatabaseQueue(path: path).backup(to: copy)
        return copy
    }

    func tamper(_ sql: String) throws {
        let queue = try DatabaseQueue(path: path)
        try queue.write { try $0.execute(sql: sql) }
    }

    func assertProblem(_ expected: LedgerProblem, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try AuditStore.verify(path: path), file: file, line: line) { error in
            XCTAssertEqual(error as? LedgerProblem, expected, "\(error)", file: file, line: line)
        }
    }

    // MARK: - Writing and verifying

    func testEveryRowVersionIsChainedAndVerifies() throws {
        let store = try AuditStore.openForRecording(path: path)
        let versions = try writeSession(store, id: 1, ids: (1, 1, 1, 1))
            + writeSession(store, id: 2, ids: (2, 2, 2, 2), end: false)
        let report = try AuditStore.verify(path: path)
        XCTAssertEqual(report.entries, versions, "one entry per row version written")
        XCTAssertEqual(report.headSeq, Int64(versions))
        XCTAssertEqual(report.rows, ["sessions": 2, "commands": 2, "auth_attempts": 2, "file_transfers": 2,
                                     "session_events": 2, "ledger_prunes": 0, "recorder_runs": 0, "ledger_findings": 0,
                                     "file_activity": 0, "network_activity": 0, "tty_chunks": 0, "refusals": 0, "channels": 0])
        XCTAssertEqual(report.head.count, 64)
        XCTAssertEqual(report.prunes, 0)
        // The chain head is the last entry's chain value, as stored.
        let stored = try DatabaseQueue(path: path).read { db in
            try Data.fetchOne(db, sql: "SELECT chain FROM ledger ORDER BY seq DESC LIMIT 1")
        }
        XCTAssertEqual(Ledger.hex([UInt8](try XCTUnwrap(stored))), report.head)
    }

    func testTheCanonicalColumnsAreEveryColumnOfTheSchema() throws {
        _ = try AuditStore.openForRecording(path: path)
        try DatabaseQueue(path: path).read { db in
            for table in LedgerTable.allCases {
                let schema = try db.columns(in: table.rawValue).map(\.name)
                XCTAssertEqual(Set(schema), Set(table.columns), "\(table.rawValue): a new column must be in LedgerTable.columns")
                XCTAssertEqual(schema.count, table.columns.count)
            }
        }
    }

    func testTheEmptyDatabaseVerifies() throws {
        _ = try AuditStore.openForRecording(path: path)
        let report = try AuditStore.verify(path: path)
        XCTAssertEqual(report.entries, 0)
        XCTAssertEqual(report.totalRows, 0)
        XCTAssertEqual(report.head, String(repeating: "0", count: 64))
    }

    /// A column that never changes for an id (here argv) that does change anyway: the whole row is
    /// rewritten, so what is stored is what was hashed; and since only a change outside sshaudit (a
    /// checkpoint edited, say) makes the recorder's versions disagree, it is recorded, and verify names it.
    func testARowWhoseFixedColumnsChangeIsRewrittenWholeAndNamed() throws {
        let store = try AuditStore.openForRecording(path: path)
        try store.write([.session(session(1)), .command(command(1, session: 1))])
        var c = command(1, session: 1)
        c.argv = ["y", "other"]
        c.filename = "/bin/y"
        c.endedAtNs = c.startedAtNs + 5_000_000
        try store.write([.command(c)])
        let row = try XCTUnwrap(try DatabaseQueue(path: path).read { db in
            try Row.fetchOne(db, sql: "SELECT argv, filename, duration_ms FROM commands WHERE id = 1")
        })
        XCTAssertEqual(row["argv"] as String, #"["y","other"]"#)
        XCTAssertEqual(row["filename"] as String, "/bin/y")
        XCTAssertEqual(row["duration_ms"] as Int64, 5)
        XCTAssertEqual(store.integrity.findings, 1)
        assertProblem(.immutableChanged(table: "commands", id: 1, seq: 2))
    }

    /// Text is stored up to a NUL byte (C-string binding); the ledger hashes what is stored.
    func testTextWithANULByteHashesAsStored() throws {
        let store = try AuditStore.openForRecording(path: path)
        var s = session(1)
        s.user = "ali\u{0}ce"
        s.tty = "pts/ünï"
        try store.write([.session(s)])
        XCTAssertNoThrow(try AuditStore.verify(path: path))
        // …and bytes hidden after a NUL by someone else are seen.
        try tamper("UPDATE sessions SET user = CAST(X'616C69006365' AS TEXT) WHERE id = 1")
        assertProblem(.rowChanged(table: "sessions", id: 1, seq: 1))
    }

    // MARK: - Tampering

    func testARowChangedBehindTheStoresBackIsNamed() throws {
        let store = try AuditStore.openForRecording(path: path)
        try writeSession(store, id: 1, ids: (1, 1, 1, 1))
        try writeSession(store, id: 2, ids: (2, 2, 2, 2))
        try tamper("UPDATE commands SET exit_code = 1 WHERE id = 2")
        // Per session: session, session, command, auth, transfer, event, command, transfer, session.
        assertProblem(.rowChanged(table: "commands", id: 2, seq: 16))
    }

    func testARowInsertedBehindTheStoresBackIsNamed() throws {
        let store = try AuditStore.openForRecording(path: path)
        try writeSession(store, id: 1, ids: (1, 1, 1, 1))
        try tamper("""
            INSERT INTO auth_attempts (id, session_id, at, user, result) VALUES (7, 1, '2026-11-29T01:55:00.000Z', 'root', 'failed')
            """)
        assertProblem(.rowNotInLedger(table: "auth_attempts", id: 7))
    }

    func testARowDeletedBehindTheStoresBackIsNamed() throws {
        let store = try AuditStore.openForRecording(path: path)
        try writeSession(store, id: 1, ids: (1, 1, 1, 1))
        try tamper("DELETE FROM session_events WHERE id = 1")
        assertProblem(.rowMissing(table: "session_events", id: 1, seq: 6))
    }

    func testTheRecorderRunsAreChainedToo() throws {
        let store = try AuditStore.openForRecording(path: path)
        let run = try store.startRun(atNs: Self.t0)
        try writeSession(store, id: 1, ids: (1, 1, 1, 1))
        var counters = AuditStore.RunCounters()
        counters.ringDrops = 12
        try store.updateRun(run, counters: counters, stoppedAtNs: Self.t0 + 5_000_000_000, clean: false)
        let crashed = try store.startRun(atNs: Self.t0 + Self.day)
        XCTAssertNoThrow(try AuditStore.verify(path: path))
        let pristine = try snapshot()
        func reset() throws { try pristine.backup(to: DatabaseQueue(path: path)) }

        // Hiding the losses, a crash, or a run altogether.
        try tamper("UPDATE recorder_runs SET ring_drops = 0 WHERE id = \(run)")
        assertProblem(.rowChanged(table: "recorder_runs", id: run, seq: 11))
        try reset()
        try tamper("UPDATE recorder_runs SET clean_exit = 1 WHERE id = \(crashed)")
        assertProblem(.rowChanged(table: "recorder_runs", id: crashed, seq: 12))
        try reset()
        try tamper("DELETE FROM recorder_runs WHERE id = \(crashed)")
        assertProblem(.rowMissing(table: "recorder_runs", id: crashed, seq: 12))
    }

    func testAlteredOrRemovedLedgerEntriesBreakTheChain() throws {
        let store = try AuditStore.openForRecording(path: path)
        try writeSession(store, id: 1, ids: (1, 1, 1, 1))
        let pristine = try snapshot()
        func reset() throws { try pristine.backup(to: DatabaseQueue(path: path)) }

        // A row changed and its entry's row_hash made to match: the chain no longer does.
        try tamper("UPDATE ledger SET row_hash = zeroblob(32) WHERE seq = 3")
        assertProblem(.entryAltered(seq: 3))
        try reset()
        try tamper("UPDATE ledger SET row_id = 9 WHERE seq = 4")
        assertProblem(.entryAltered(seq: 4))
        try reset()
        try tamper("DELETE FROM ledger WHERE seq IN (4, 5)")
        assertProblem(.entriesMissing(first: 4, last: 5))
        try reset()
        try tamper("DELETE FROM ledger WHERE seq = 1")
        assertProblem(.entriesMissing(first: 1, last: 1))
        try reset()
        try tamper("UPDATE ledger SET tbl = 'sqlite_master' WHERE seq = 2")
        assertProblem(.unknownTable(seq: 2, table: "sqlite_master"))
        try reset()
        // Cutting the tail takes the last version of the session row with it.
        try tamper("DELETE FROM ledger WHERE seq = 9")
        assertProblem(.rowChanged(table: "sessions", id: 1, seq: 2))
        try reset()
        XCTAssertNoThrow(try AuditStore.verify(path: path))
    }

    func testAKeptHeadMustStillBeInTheChain() throws {
        let store = try AuditStore.openForRecording(path: path)
        try writeSession(store, id: 1, ids: (1, 1, 1, 1))
        let kept = try AuditStore.verify(path: path).head
        try writeSession(store, id: 2, ids: (2, 2, 2, 2))
        XCTAssertNotEqual(try AuditStore.verify(path: path).head, kept)
        XCTAssertNoThrow(try AuditStore.verify(path: path, expectHead: kept))
        XCTAssertNoThrow(try AuditStore.verify(path: path, expectHead: kept.uppercased()))
        let other = String(repeating: "ab", count: 32)
        XCTAssertThrowsError(try AuditStore.verify(path: path, expectHead: other)) { error in
            XCTAssertEqual(error as? LedgerProblem, .headNotInChain(other))
        }
    }

    /// A change made with a statement of its own (e.g. marking sessions ended while unobserved) is
    /// entered with `ledgerStoredRows` in the same transaction.
    func testAChangeOutsideTheBatchWriterIsEnteredAsStored() throws {
        let store = try AuditStore.openForRecording(path: path)
        try writeSession(store, id: 1, ids: (1, 1, 1, 1), end: false)
        try writeSession(store, id: 2, ids: (2, 2, 2, 2), end: false)
        try store.writer.write { db in
            try db.execute(sql: "UPDATE sessions SET ended_unobserved = 1 WHERE id IN (1, 2)")
            try AuditStore.ledgerStoredRows(db, table: "sessions", ids: [2, 1])
        }
        XCTAssertEqual(try AuditStore.verify(path: path).entries, 18)
    }

    func testMissingAndForeignFilesAreRefused() throws {
        XCTAssertThrowsError(try AuditStore.verify(path: dir + "/none.db")) { error in
            XCTAssertTrue("\(error)".contains("no database at"), "\(error)")
        }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try Data("not sqlite at all, but long enough to look like a header".utf8).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try AuditStore.verify(path: path)) { error in
            XCTAssertTrue("\(error)".contains("not an sshaudit database"), "\(error)")
        }
    }

    // MARK: - Databases from before the ledger

    /// Migration 0007 enters the rows already stored (once); later writes chain after them.
    func testADatabaseFromBeforeTheLedgerIsEnteredOnceWhenUpgraded() throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let old = try DatabaseQueue(path: path)
        var migrator = DatabaseMigrator()
        for migration in embeddedMigrations where migration.name < "0007" {
            migrator.registerMigration(migration.name) { db in try db.execute(sql: migration.sql) }
        }
        try migrator.migrate(old)
        try old.write { db in
            try db.execute(sql: """
                INSERT INTO sessions (id, sshd_pid, sshd_start_ns, started_at, user) VALUES (1, 100, 5, '2026-01-01T00:00:00.000Z', 'bob');
                INSERT INTO commands (id, session_id, pid, ppid, uid, filename, argv, started_at)
                    VALUES (1, 1, 101, 100, 1000, '/bin/ls', '["ls"]', '2026-01-01T00:00:01.000Z');
                """)
        }
        try old.close()
        XCTAssertThrowsError(try AuditStore.verify(path: path)) { error in
            XCTAssertEqual(error as? LedgerProblem, .noLedger(path: path))
        }

        // 0007 enters the two rows; a later migration that adds columns to a table enters its rows
        // again (their canonical content changed).
        let store = try AuditStore.openForRecording(path: path)
        let upgraded = try AuditStore.verify(path: path)
        XCTAssertGreaterThanOrEqual(upgraded.entries, 2)
        XCTAssertEqual(upgraded.rows["sessions"], 1)
        XCTAssertEqual(upgraded.rows["commands"], 1)
        try store.write([.session(session(2))])
        let report = try AuditStore.verify(path: path)
        XCTAssertEqual(report.entries, upgraded.entries + 1)
        XCTAssertEqual(report.rows["sessions"], 2)
        // Opening again enters nothing more: a ledger emptied later is not rebuilt.
        _ = try AuditStore.openForRecording(path: path)
        XCTAssertEqual(try AuditStore.verify(path: path).entries, upgraded.entries + 1)
        try tamper("DELETE FROM ledger")
        _ = try AuditStore.openForRecording(path: path)
        assertProblem(.rowNotInLedger(table: "commands", id: 1))
    }

    /// A migration that adds a column to a covered table: its rows are entered again as stored.
    func testAMigrationThatAddsAColumnEntersTheTablesRowsAgain() throws {
        let store = try AuditStore.openForRecording(path: path)
        try store.write([.session(session(1)), .auth(auth(1, session: 1))])
        let queue = try DatabaseQueue(path: path)
        let before = try queue.read { db in try Ledger.schema(db) }
        try queue.write { db in
            try db.execute(sql: "ALTER TABLE auth_attempts ADD COLUMN note TEXT")
            try Ledger.afterMigration(db, before: before)
        }
        let entries = try queue.read { db in
            try String.fetchAll(db, sql: "SELECT seq || ' ' || tbl || ' ' || row_id FROM ledger ORDER BY seq")
        }
        XCTAssertEqual(entries, ["1 sessions 1", "2 auth_attempts 1", "3 auth_attempts 1"])
        XCTAssertNoThrow(try AuditStore.verify(path: path))
    }

    // MARK: - Retention

    func testPruneRemovesOldSessionsAndTheChainStillVerifies() throws {
        let store = try AuditStore.openForRecording(path: path)
        let t = Self.t0
        try writeSession(store, id: 1, ids: (1, 1, 1, 1), start: t - 100 * Self.day)
        try writeSession(store, id: 2, ids: (2, 2, 2, 2), start: t - 95 * Self.day)
        try writeSession(store, id: 3, ids: (3, 3, 3, 3), start: t - 10 * Self.day)
        try writeSession(store, id: 4, ids: (4, 4, 4, 4), start: t - 200 * Self.day, end: false)  // still open
        // Interleaved versions: session 5 started long ago, ended yesterday.
        var s5 = session(5, at: t - 120 * Self.day)
        try store.write([.session(s5)])
        try writeSession(store, id: 6, ids: (6, 6, 6, 6), start: t - 91 * Self.day)
        s5.endedAtNs = t - Self.day
        try store.write([.session(s5)])
        let before = try AuditStore.verify(path: path)

        let result = try store.prune(olderThan: t - 90 * Self.day)
        XCTAssertEqual(result.sessions, 3)
        XCTAssertEqual(result.commands, 3)
        XCTAssertEqual(result.authAttempts, 3)
        XCTAssertEqual(result.transfers, 3)
        XCTAssertEqual(result.events, 3)
        XCTAssertEqual(result.ledgerEntries, 27)
        XCTAssertEqual(result.pruneID, 1)
        XCTAssertEqual(result.cutoff, Timestamp.iso(ns: t - 90 * Self.day))

        let after = try AuditStore.verify(path: path)
        XCTAssertEqual(after.prunes, 1)
        XCTAssertEqual(after.entries, before.entries - 27 + 1)
        XCTAssertEqual(after.rows["sessions"], 3)
        XCTAssertEqual(after.rows["ledger_prunes"], 1)
        XCTAssertEqual(after.headSeq, before.headSeq + 1)
        // A head kept before the prune is still in the chain (its entry was not pruned).
        XCTAssertNoThrow(try AuditStore.verify(path: path, expectHead: before.head))
        let remaining = try DatabaseQueue(path: path).read { db in
            try Int64.fetchAll(db, sql: "SELECT id FROM sessions ORDER BY id")
        }
        XCTAssertEqual(remaining, [3, 4, 5])
        let record = try XCTUnwrap(try DatabaseQueue(path: path).read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM ledger_prunes")
        })
        XCTAssertEqual(record["cutoff"] as String, result.cutoff)
        XCTAssertEqual(record["removed"] as String,
                       #"{"auth_attempts":"1-2,6","commands":"1-2,6","file_transfers":"1-2,6","session_events":"1-2,6","sessions":"1-2,6"}"#)
        // Sessions 1 and 2 were written first (seq 1-18): one run; session 6 between two versions of 5.
        XCTAssertEqual(try XCTUnwrap(DroppedRun.parse(record["dropped"])).map { [$0.first, $0.last] }, [[1, 18], [37, 45]])

        // Writing on, pruning again (nothing, then more), writing on: still verifies.
        try writeSession(store, id: 7, ids: (7, 7, 7, 7))
        XCTAssertNil(try store.prune(olderThan: t - 90 * Self.day).pruneID, "nothing to remove: nothing recorded")
        let second = try store.prune(olderThan: t - 5 * Self.day)
        XCTAssertEqual(second.sessions, 1)
        XCTAssertEqual(second.pruneID, 2)
        try writeSession(store, id: 8, ids: (8, 8, 8, 8))
        let last = try AuditStore.verify(path: path)
        XCTAssertEqual(last.prunes, 2)
        XCTAssertEqual(last.rows["sessions"], 4)

        // Tampering after prunes is still found.
        try tamper("DELETE FROM commands WHERE id = 7")
        assertProblem(.rowMissing(table: "commands", id: 7, seq: 54))
    }

    func testASessionEndedWhileUnobservedIsPrunedAfterItsLastActivity() throws {
        let store = try AuditStore.openForRecording(path: path)
        let t = Self.t0
        try writeSession(store, id: 1, ids: (1, 1, 1, 1), start: t - 100 * Self.day, end: false)
        try writeSession(store, id: 2, ids: (2, 2, 2, 2), start: t - 100 * Self.day, end: false)
        // Session 2 ran a command recently.
        var late = command(3, session: 2, at: t - Self.day)
        late.endedAtNs = t - Self.day + 1
        try store.write([.command(late)])
        try store.writer.write { db in
            try db.execute(sql: "UPDATE sessions SET ended_unobserved = 1 WHERE id IN (1, 2)")
            try AuditStore.ledgerStoredRows(db, table: "sessions", ids: [1, 2])
        }
        let result = try store.prune(olderThan: t - 90 * Self.day)
        XCTAssertEqual(result.sessions, 1)
        XCTAssertEqual(result.commands, 1)
        XCTAssertEqual(try AuditStore.verify(path: path).rows["sessions"], 1)
    }

    func testTamperingWithAPruneRecordIsFound() throws {
        let store = try AuditStore.openForRecording(path: path)
        let t = Self.t0
        try writeSession(store, id: 1, ids: (1, 1, 1, 1), start: t - 100 * Self.day)
        try writeSession(store, id: 2, ids: (2, 2, 2, 2), start: t)
        try store.prune(olderThan: t - 90 * Self.day)
        try writeSession(store, id: 3, ids: (3, 3, 3, 3), start: t)
        XCTAssertNoThrow(try AuditStore.verify(path: path))
        let pristine = try snapshot()
        func reset() throws { try pristine.backup(to: DatabaseQueue(path: path)) }

        // Hiding more removed entries behind the prune: the record no longer matches its entry.
        try tamper("""
            UPDATE ledger_prunes SET dropped = dropped || ',10-11:' || (SELECT hex(chain) FROM ledger WHERE seq = 11);
            DELETE FROM ledger WHERE seq BETWEEN 10 AND 11;
            """)
        assertProblem(.rowChanged(table: "ledger_prunes", id: 1, seq: 19))
        try reset()
        try tamper("DELETE FROM ledger_prunes")
        assertProblem(.entriesMissing(first: 1, last: 9))
        try reset()
        try tamper("UPDATE ledger_prunes SET dropped = 'nonsense'")
        assertProblem(.badPruneRecord(id: 1, why: "its list of dropped ledger entries is malformed (altered)"))
        try reset()
        // The prune's own entry removed: its bridge no longer vouches for anything.
        try tamper("DELETE FROM ledger WHERE seq = 19")
        XCTAssertThrowsError(try AuditStore.verify(path: path)) { error in
            guard case .badPruneRecord(id: 1, _)? = error as? LedgerProblem else { return XCTFail("\(error)") }
        }
    }

    func testRetentionPeriods() {
        XCTAssertEqual(RetentionPeriod("90d")?.nanoseconds, 90 * Self.day)
        XCTAssertEqual(RetentionPeriod("12h")?.nanoseconds, 12 * 3_600_000_000_000)
        XCTAssertEqual(RetentionPeriod("2w")?.nanoseconds, 14 * Self.day)
        XCTAssertEqual(RetentionPeriod("30m")?.nanoseconds, 30 * 60_000_000_000)
        XCTAssertEqual(RetentionPeriod("45s")?.nanoseconds, 45_000_000_000)
        for bad in ["", "d", "90", "0d", "-1d", "1.5d", "90x", "99999999999w", "2026-01-01"] {
            XCTAssertNil(RetentionPeriod(bad), bad)
        }
    }

    func testIDRanges() {
        XCTAssertEqual(AuditStore.ranges([]), "")
        XCTAssertEqual(AuditStore.ranges([4]), "4")
        XCTAssertEqual(AuditStore.ranges([1, 2, 3, 5, 7, 8]), "1-3,5,7-8")
    }
}
