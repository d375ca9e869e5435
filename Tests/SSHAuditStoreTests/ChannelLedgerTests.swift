import Foundation
import GRDB
@testable import SSHAuditCore
import XCTest
@testable import SSHAuditStore

/// channels rows in the ledger: each version entered, `verify` names a channel moved to another
/// session, renumbered or given another exit code behind the store's back, a command moved to another
/// channel, a version after the final one is refused, and prune removes them with their session.
final class ChannelLedgerTests: XCTestCase {
    var dir: String!
    var path: String { dir + "/audit.db" }

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appending(path: "chan-ledger-\(UUID().uuidString)").path
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: dir)
    }

    static let t0: Int64 = 1_795_917_299_123_000_000

    /// A session with one channel in three versions (fork, exec, exit 3) and a command in it.
    func writeSession(_ store: AuditStore, id: Int64) throws {
        var s = SessionRecord(id: id, sshdPid: 4000, sshdStartNs: 77, startedAtNs: Self.t0 - 1_000_000_000)
        s.remote = Endpoint(address: "127.0.0.1", port: 40_000)
        var c = ChannelRecord(id: id, sessionID: id, seq: 1, pid: 555, startedAtNs: Self.t0)
        try store.write([.session(s), .channel(c)])
        c.kind = ChannelKind.exec
        var command = CommandRecord(id: id, sessionID: id, parentID: nil, pid: 555, ppid: 554, uid: 1000, filename: "/bin/bash",
                                    argv: ["bash", "-c", "exit 3"], argvTruncated: false, startedAtNs: Self.t0 + 1)
        command.channelID = c.id
        try store.write([.channel(c), .command(command)])
        c.endedAtNs = Self.t0 + 2_000_000
        c.exitCode = 3
        command.endedAtNs = c.endedAtNs
        command.exitCode = 3
        s.endedAtNs = Self.t0 + 5_000_000_000
        s.closed = true
        try store.write([.channel(c), .command(command), .session(s)])
    }

    func testChannelRowsAreChainedAndTamperingIsNamed() throws {
        let store = try AuditStore.openForRecording(path: path)
        try writeSession(store, id: 1)
        let report = try AuditStore.verify(path: path)
        XCTAssertEqual(report.rows["channels"], 1)
        XCTAssertEqual(report.entries, 7, "session ×2, channel ×3, command ×2")
        let reader = try AuditReader(path: path)
        let timeline = try reader.timeline(session: 1)
        XCTAssertEqual(timeline.channels.map(\.channel.exitCode), [3])
        XCTAssertEqual(timeline.channels.first?.commands.map(\.command.id), [1])

        // A version after the final one is refused.
        var again = ChannelRecord(id: 1, sessionID: 1, seq: 1, pid: 555, startedAtNs: Self.t0)
        again.endedAtNs = Self.t0 + 9
        again.exitCode = 0
        try store.write([.channel(again)])
        XCTAssertEqual(store.integrity.refusedVersions, 1)
        XCTAssertEqual(try reader.timeline(session: 1).channels.map(\.channel.exitCode), [3])

        let queue = try DatabaseQueue(path: path)
        func tampered(_ sql: String, undo: String, _ table: String) throws {
            try queue.write { try $0.execute(sql: sql) }
            XCTAssertThrowsError(try AuditStore.verify(path: path), sql) {
                guard case let .rowChanged(named, id, _) = $0 as? LedgerProblem else { return XCTFail("\($0)") }
                XCTAssertEqual([named, String(id)], [table, "1"], sql)
            }
            try queue.write { try $0.execute(sql: undo) }
            XCTAssertNoThrow(try AuditStore.verify(path: path))
        }
        try tampered("UPDATE channels SET exit_code = 0 WHERE id = 1", undo: "UPDATE channels SET exit_code = 3 WHERE id = 1", "channels")
        try tampered("UPDATE channels SET seq = 2 WHERE id = 1", undo: "UPDATE channels SET seq = 1 WHERE id = 1", "channels")
        try tampered("UPDATE commands SET channel_id = NULL WHERE id = 1", undo: "UPDATE commands SET channel_id = 1 WHERE id = 1",
                     "commands")
        try queue.write { try $0.execute(sql: "DELETE FROM channels WHERE id = 1") }
        XCTAssertThrowsError(try AuditStore.verify(path: path)) {
            guard case let .rowMissing(table, id, _) = $0 as? LedgerProblem else { return XCTFail("\($0)") }
            XCTAssertEqual([table, String(id)], ["channels", "1"])
        }
    }

    func testPruneRemovesChannelsWithTheirSession() throws {
        let store = try AuditStore.openForRecording(path: path)
        try writeSession(store, id: 1)
        let result = try store.prune(olderThan: Self.t0 + 86_400_000_000_000)
        XCTAssertEqual(result.sessions, 1)
        let count = try DatabaseQueue(path: path).read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM channels") }
        XCTAssertEqual(count, 0)
        XCTAssertNoThrow(try AuditStore.verify(path: path))
    }
}
