import Foundation
import XCTest
@testable import SSHAuditCore

/// Fixtures/file_activity.events (record-fixtures-files.sh, a real OpenSSH 9.2 sshd): a shell
/// session's changes and an rsync upload, replayed through the correlator.
final class FileActivityReplayTests: XCTestCase {
    struct Replay {
        var files: [Int64: FileActivityRecord] = [:]
        var transfers: [Int64: TransferRecord] = [:]
        var sessions: [Int64: SessionRecord] = [:]
        var outputs: [CorrelatorOutput] = []
    }

    func replay(bounds: CorrelatorBounds = CorrelatorBounds()) throws -> Replay {
        let log = try Fixture.load("file_activity")
        var r = Replay()
        let correlator = Correlator.replaying(log, bounds: bounds) { output in
            r.outputs.append(output)
            switch output {
            case let .fileActivity(f): r.files[f.id] = f
            case let .transfer(t): r.transfers[t.id] = t
            case let .session(s): r.sessions[s.id] = s
            default: break
            }
        }
        for event in try log.events() { correlator.handle(event) }
        return r
    }

    func testShellChangesAggregateAndCloseWithTheirProcess() throws {
        let r = try replay()
        let rows = r.files.values.sorted { $0.id < $1.id }
        func row(_ op: FileOperation, _ path: String) -> FileActivityRecord? { rows.first { $0.op == op && $0.path == path } }
        let dir = "/tmp/files-fixture"
        XCTAssertEqual(row(.create, dir + "/loop.txt")?.count, 1, "\(rows)")
        XCTAssertEqual(row(.write, dir + "/loop.txt")?.count, 2, "a loop of builtin appends is one row")
        XCTAssertEqual(row(.rename, dir + "/loop.txt")?.newPath, dir + "/moved.txt")
        for (op, path) in [(FileOperation.mkdir, dir), (.chmod, dir + "/moved.txt"), (.unlink, dir + "/moved.txt"), (.rmdir, dir)] {
            XCTAssertNotNil(row(op, path), "\(op) \(path)")
        }
        // Every row ends closed (its process exited) and none changes after that.
        XCTAssertTrue(rows.allSatisfy(\.closed), "\(rows.filter { !$0.closed })")
        var final = Set<Int64>()
        for case let .fileActivity(f) in r.outputs {
            XCTAssertFalse(final.contains(f.id), "a version of file row \(f.id) after its final one")
            if f.closed { final.insert(f.id) }
        }
        // PAM's helpers (root's motd scripts) and sshd's own opens are no session activity.
        XCTAssertFalse(rows.contains { $0.path.hasPrefix("/run/motd") || $0.uid == 0 }, "\(rows)")
    }

    func testRsyncUploadIsOneTransferUnderItsFinalName() throws {
        let r = try replay()
        let upload = "/tmp/files-fixture-upload.bin"
        let transfers = r.transfers.values.filter { r.sessions[$0.sessionID]?.kind == "rsync" }
        XCTAssertEqual(transfers.map(\.path), [upload], "no openssl.cnf, no temporary name, no sshd files")
        XCTAssertEqual(transfers.first?.bytesWritten, 4099)
        XCTAssertNotNil(transfers.first?.closedAtNs)
        // None at all besides it: sshd's own reads before exec are not internal-sftp.
        XCTAssertEqual(r.transfers.count, 1, "\(r.transfers.values.map(\.path))")
    }

    /// A restarted recorder goes on from a checkpoint taken anywhere: the same rows, the same ids
    /// (open file rows, held rsync uploads and unconfirmed internal-sftp opens included).
    func testCheckpointAnywhereContinuesTheSameRows() throws {
        let log = try Fixture.load("file_activity")
        let events = try log.events()
        var whole: [CorrelatorOutput] = []
        let reference = Correlator.replaying(log) { whole.append($0) }
        var before: [Int] = []
        for e in events { before.append(whole.count); reference.handle(e) }
        for cut in stride(from: 0, to: events.count, by: max(1, events.count / 23)) {
            let first = Correlator.replaying(log) { _ in }
            for e in events[..<cut] { first.handle(e) }
            var rest: [CorrelatorOutput] = []
            let users = log.header.users
            let restored = Correlator(bootToWallNs: 0, userName: { users[String($0)] }) { rest.append($0) }
            try restored.restore(first.checkpoint())
            XCTAssertEqual(restored.tableSizes, first.tableSizes)
            for e in events[cut...] { restored.handle(e) }
            XCTAssertTrue(rest == Array(whole[before[cut]...]), "cut at \(cut)")
        }
    }

    func testFullTableClosesTheOldestRowsWithoutLosingThem() throws {
        var bounds = CorrelatorBounds()
        bounds.fileRows = 2
        let r = try replay(bounds: bounds)
        // More distinct rows than the bound: each still stored whole, and each ends closed.
        XCTAssertGreaterThan(r.files.count, 2)
        XCTAssertTrue(r.files.values.allSatisfy(\.closed))
    }
}
