import Foundation
import GRDB
@testable import SSHAuditCore
import XCTest
@testable import SSHAuditStore

/// file_activity rows are versioned into the ledger like the other tables: `verify` covers them, a
/// forged or altered row shows, and a row once closed takes no further version.
final class FileActivityLedgerTests: XCTestCase {
    var dir: String!
    var path: String { dir + "/audit.db" }
    static let t0: Int64 = 1_795_917_299_123_000_000

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appending(path: "files-ledger-\(UUID().uuidString)").path
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: dir)
    }

    func writeRows() throws -> AuditStore {
        let store = try AuditStore.openForRecording(path: path)
        let s = SessionRecord(id: 1, sshdPid: 4001, sshdStartNs: 78, startedAtNs: Self.t0)
        var f = FileActivityRecord(id: 1, sessionID: 1, commandID: nil, pid: 4242, uid: 1000, op: .write,
                                   path: "/home/alice/.ssh/authorized_keys", newPath: nil, firstAtNs: Self.t0 + 1,
                                   lastAtNs: Self.t0 + 1, count: 1)
        try store.write([.session(s), .fileActivity(f)])
        f.count = 5
        f.lastAtNs = Self.t0 + 9
        f.closed = true
        try store.write([.fileActivity(f)])
        return store
    }

    func tamper(_ sql: String) throws {
        try DatabaseQueue(path: path).write { try $0.execute(sql: sql) }
    }

    func testVersionsAreChainedAndVerify() throws {
        _ = try writeRows()
        let report = try AuditStore.verify(path: path)
        XCTAssertEqual(report.rows["file_activity"], 1)
        XCTAssertEqual(report.entries, 3, "session, and two versions of the file row")
        let row = try DatabaseQueue(path: path).read { try Row.fetchOne($0, sql: "SELECT * FROM file_activity") }
        XCTAssertEqual(row?["count"] as Int64?, 5)
        XCTAssertEqual(row?["last_at"] as String?, Timestamp.iso(ns: Self.t0 + 9))
    }

    func testAnAlteredPathOrCountShows() throws {
        _ = try writeRows()
        try tamper("UPDATE file_activity SET path = '/tmp/harmless' WHERE id = 1")
        XCTAssertThrowsError(try AuditStore.verify(path: path))
    }

    func testAForgedRowShows() throws {
        _ = try writeRows()
        try tamper("""
            INSERT INTO file_activity (id, session_id, pid, uid, op, path, first_at, last_at, count)
            VALUES (2, 1, 1, 0, 'write', '/etc/shadow', '2026-11-29T01:55:00.000Z', '2026-11-29T01:55:00.000Z', 1)
            """)
        XCTAssertThrowsError(try AuditStore.verify(path: path))
    }

    func testNoVersionAfterTheFinalOne() throws {
        let store = try writeRows()
        var late = FileActivityRecord(id: 1, sessionID: 1, commandID: nil, pid: 4242, uid: 1000, op: .write,
                                      path: "/home/alice/.ssh/authorized_keys", newPath: nil, firstAtNs: Self.t0 + 1,
                                      lastAtNs: Self.t0 + 20, count: 1)
        late.closed = true
        try store.write([.fileActivity(late)])
        let count = try DatabaseQueue(path: path).read { try Int64.fetchOne($0, sql: "SELECT count FROM file_activity") }
        XCTAssertEqual(count, 5, "the closed row keeps its last version")
        XCTAssertNoThrow(try AuditStore.verify(path: path))
    }
}
