import XCTest
@testable import SSHAuditCore

/// The correlator's side of the kernel's repeat counts (FileActivityTable): a count read twice adds
/// once, a key of a row that closed adds nothing, and keys count towards the memory bound, so many
/// spellings of one path (`./x`, `.//x`, `././x` … each a key of its own) cannot grow it.
final class FileRepeatKeyTests: XCTestCase {
    let process = ProcessKey(tgid: 42, startNs: 7)

    func key(_ n: Int) -> [UInt8] {
        var k = [UInt8](repeating: 0, count: 160)
        withUnsafeBytes(of: UInt64(n).littleEndian) { k.replaceSubrange(100..<108, with: $0) }
        return k
    }

    func testCountsAddOnceAndStopWithTheirRow() {
        let table = FileActivityTable(nextID: 1)
        var last: FileActivityRecord?
        let sink: (CorrelatorOutput) -> Void = { if case let .fileActivity(r) = $0 { last = r } }
        table.record(FileChange(op: .write, path: "/tmp/f", seenKey: key(1)), process: process, session: 1, command: 3,
                     uid: 1000, atNs: 10, bounds: CorrelatorBounds(), sink: sink)
        XCTAssertEqual(last?.count, 1)
        table.repeated(key(1), count: 5, atNs: 20, sink: sink)
        XCTAssertEqual(last?.count, 6)
        XCTAssertEqual(last?.lastAtNs, 20)
        table.repeated(key(1), count: 5, atNs: 30, sink: sink)  // read again: nothing new
        XCTAssertEqual(last?.count, 6)
        table.repeated(key(1), count: 9, atNs: 40, sink: sink)
        XCTAssertEqual(last?.count, 10)
        table.close(process: process, sink: sink)
        XCTAssertEqual(last?.closed, true)
        XCTAssertEqual(table.takeReleased(), [key(1)], "the kernel is to drop the key of a closed row")
        last = nil
        table.repeated(key(1), count: 12, atNs: 50, sink: sink)
        XCTAssertNil(last, "a count under a released key adds to no row")
    }

    func testManySpellingsOfOnePathStayWithinTheBound() {
        var bounds = CorrelatorBounds()
        bounds.fileBytes = 64 << 10
        let table = FileActivityTable(nextID: 1)
        var closedEarly = 0
        let sink: (CorrelatorOutput) -> Void = { if case let .fileActivity(r) = $0, r.closed { closedEarly += 1 } }
        for n in 0..<5_000 {
            table.record(FileChange(op: .chmod, path: "/tmp/x", seenKey: key(n)), process: process, session: 1, command: 3,
                         uid: 1000, atNs: Int64(n), bounds: bounds, sink: sink)
            XCTAssertLessThanOrEqual(table.heldBytes, bounds.fileBytes)
        }
        XCTAssertGreaterThan(closedEarly, 0, "the row was closed early at the bound, as rows are")
        XCTAssertLessThan(table.allSeenKeys.count, 200)
    }
}
