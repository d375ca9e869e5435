import Foundation
import GRDB
@testable import SSHAuditCore
import XCTest
@testable import SSHAuditStore

/// refusals rows in the ledger: each entered once, `verify` names one changed or deleted behind the
/// store's back, `query refusals` filters by source and time, and prune removes the old ones.
final class RefusalLedgerTests: XCTestCase {
    var dir: String!
    var path: String { dir + "/audit.db" }

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appending(path: "refusal-ledger-\(UUID().uuidString)").path
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: dir)
    }

    static let t0: Int64 = 1_795_917_299_123_000_000

    func refusal(_ id: Int64, from address: String, at: Int64 = t0, reason: RefusalRecord.Reason = .maxStartups) -> RefusalRecord {
        RefusalRecord(id: id, atNs: at, remote: Endpoint(address: address, port: UInt16(40_000 + id)),
                      local: Endpoint(address: "192.0.2.1", port: 22), reason: reason,
                      detail: reason == .maxStartups ? "past MaxStartups" : nil, listenerPid: 700, listenerStartNs: 123_456)
    }

    func testRefusalsAreChainedQueriedAndPruned() throws {
        let store = try AuditStore.openForRecording(path: path)
        XCTAssertEqual(try store.nextIDs().refusal, 1)
        try store.write([.refusal(refusal(1, from: "203.0.113.9")), .refusal(refusal(2, from: "198.51.100.4", reason: .unknown)),
                         .refusal(refusal(3, from: "203.0.113.9", at: Self.t0 + 5_000_000_000))])
        XCTAssertEqual(try store.nextIDs().refusal, 4, "ids continue after those stored")
        let report = try AuditStore.verify(path: path)
        XCTAssertEqual(report.rows["refusals"], 3)
        XCTAssertEqual(report.entries, 3)

        let reader = try AuditReader(path: path)
        var filter = QueryFilter()
        filter.from = IPNetwork("203.0.113.0/24")
        XCTAssertEqual(try reader.refusals(filter).map(\.id), [1, 3])
        filter.since = Timestamp.iso(ns: Self.t0 + 1_000_000_000)
        XCTAssertEqual(try reader.refusals(filter).map(\.id), [3])
        let row = try XCTUnwrap(try reader.refusals(QueryFilter()).first)
        XCTAssertEqual([row.remoteAddr, row.reason, row.detail], ["203.0.113.9", "max_startups", "past MaxStartups"])
        XCTAssertEqual([row.remotePort, row.localPort, row.listenerPid, row.listenerStartNs], [40_001, 22, 700, 123_456])

        // Another source, or a refusal deleted, behind the store's back: named.
        let queue = try DatabaseQueue(path: path)
        try queue.write { try $0.execute(sql: "UPDATE refusals SET remote_addr = '10.0.0.1' WHERE id = 1") }
        XCTAssertThrowsError(try AuditStore.verify(path: path)) {
            XCTAssertEqual($0 as? LedgerProblem, .rowChanged(table: "refusals", id: 1, seq: 1))
        }
        try queue.write { try $0.execute(sql: "UPDATE refusals SET remote_addr = '203.0.113.9' WHERE id = 1") }
        XCTAssertNoThrow(try AuditStore.verify(path: path))
        try queue.write { try $0.execute(sql: "DELETE FROM refusals WHERE id = 2") }
        XCTAssertThrowsError(try AuditStore.verify(path: path)) {
            XCTAssertEqual($0 as? LedgerProblem, .rowMissing(table: "refusals", id: 2, seq: 2))
        }
        try queue.write { try $0.execute(sql: """
            INSERT INTO refusals VALUES (2, '\(Timestamp.iso(ns: Self.t0))', '198.51.100.4', 40002, '192.0.2.1', 22, 'unknown', NULL, 700, 123456)
            """) }
        XCTAssertNoThrow(try AuditStore.verify(path: path))

        // Prune: the refusals before the cutoff go (no session is needed), the ledger still verifies.
        let pruned = try store.prune(olderThan: Self.t0 + 1_000_000_000)
        XCTAssertEqual(pruned.ledgerEntries, 2)
        XCTAssertEqual(try reader.refusals(QueryFilter()).map(\.id), [3])
        XCTAssertNoThrow(try AuditStore.verify(path: path))
    }
}
