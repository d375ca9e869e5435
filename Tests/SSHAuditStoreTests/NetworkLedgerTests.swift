import Foundation
import GRDB
@testable import SSHAuditCore
import XCTest
@testable import SSHAuditStore

/// network_activity rows in the ledger: each version entered, `verify` names a count or an endpoint
/// changed behind the store's back, a version after the final one is refused, and prune removes them
/// with their session.
final class NetworkLedgerTests: XCTestCase {
    var dir: String!
    var path: String { dir + "/audit.db" }

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appending(path: "net-ledger-\(UUID().uuidString)").path
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: dir)
    }

    static let t0: Int64 = 1_795_917_299_123_000_000

    func row(_ id: Int64, session: Int64, count: Int64 = 1, final: Bool = false) -> NetworkRecord {
        var r = NetworkRecord(id: id, sessionID: session, commandID: nil, pid: 321, uid: 1000, op: .connect, family: "inet6",
                              proto: "tcp", addr: "2001:db8::9", port: 443, path: nil, firstAtNs: Self.t0,
                              lastAtNs: Self.t0 + count, count: count)
        r.final = final
        return r
    }

    /// A session with one network row in three versions (1, 2, then 3 connects and final).
    func writeSession(_ store: AuditStore, id: Int64) throws {
        var s = SessionRecord(id: id, sshdPid: 4000, sshdStartNs: 77, startedAtNs: Self.t0 - 1_000_000_000)
        s.remote = Endpoint(address: "127.0.0.1", port: 40_000)
        try store.write([.session(s), .network(row(id, session: id))])
        try store.write([.network(row(id, session: id, count: 2))])
        try store.write([.network(row(id, session: id, count: 3, final: true))])
        s.endedAtNs = Self.t0 + 5_000_000_000
        s.closed = true
        try store.write([.session(s)])
    }

    func testNetworkRowsAreChainedAndTamperingIsNamed() throws {
        let store = try AuditStore.openForRecording(path: path)
        try writeSession(store, id: 1)
        let report = try AuditStore.verify(path: path)
        XCTAssertEqual(report.rows["network_activity"], 1)
        XCTAssertEqual(report.entries, 5, "session ×2, network row ×3")
        let reader = try AuditReader(path: path)
        XCTAssertEqual(try reader.network(QueryFilter()).map(\.count), [3])

        // A version after the final one is refused.
        try store.write([.network(row(1, session: 1, count: 4))])
        XCTAssertEqual(store.integrity.refusedVersions, 1)
        XCTAssertEqual(try reader.network(QueryFilter()).map(\.count), [3])

        // Fewer connects, or another endpoint, written behind the store's back: named.
        let queue = try DatabaseQueue(path: path)
        try queue.write { try $0.execute(sql: "UPDATE network_activity SET count = 1 WHERE id = 1") }
        XCTAssertThrowsError(try AuditStore.verify(path: path)) {
            XCTAssertEqual($0 as? LedgerProblem, .rowChanged(table: "network_activity", id: 1, seq: 4))
        }
        try queue.write { try $0.execute(sql: "UPDATE network_activity SET count = 3, addr = '192.0.2.1' WHERE id = 1") }
        XCTAssertThrowsError(try AuditStore.verify(path: path))
        try queue.write { try $0.execute(sql: "UPDATE network_activity SET addr = '2001:db8::9' WHERE id = 1") }
        XCTAssertNoThrow(try AuditStore.verify(path: path))
        try queue.write { try $0.execute(sql: "DELETE FROM network_activity WHERE id = 1") }
        XCTAssertThrowsError(try AuditStore.verify(path: path)) {
            XCTAssertEqual($0 as? LedgerProblem, .rowMissing(table: "network_activity", id: 1, seq: 4))
        }
    }

    func testPruneRemovesNetworkRowsWithTheirSession() throws {
        let store = try AuditStore.openForRecording(path: path)
        try writeSession(store, id: 1)
        let result = try store.prune(olderThan: Self.t0 + 86_400_000_000_000)
        XCTAssertEqual(result.sessions, 1)
        XCTAssertEqual(try AuditReader(path: path).network(QueryFilter()).count, 0)
        XCTAssertNoThrow(try AuditStore.verify(path: path))
    }
}
