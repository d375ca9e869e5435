import CSSHAuditABI
import XCTest
@testable import SSHAuditCore

/// struct sa_uring (bpf/events.h) as the decoder reads it, and the session event's detail.
final class IOUringDecoderTests: XCTestCase {
    typealias K = KernelRecord

    func uringRecord(counts: [Int: UInt32], setupFlags: UInt32 = 0, flags: UInt32 = 0) -> sa_uring {
        var r = sa_uring()
        r.h = K.header(UInt32(SA_EV_URING), tgid: 4242, start: 99)
        r.ring = 0x1234_5678_9abc_def0
        r.setup_flags = setupFlags
        r.flags = flags
        withUnsafeMutableBytes(of: &r.counts) { raw in
            for (op, n) in counts { raw.storeBytes(of: n.littleEndian, toByteOffset: 4 * op, as: UInt32.self) }
        }
        return r
    }

    func testCountsByOpcode() throws {
        let event = try EventDecoder.decode(K.bytes(uringRecord(counts: [18: 3, 16: 1, 63: 2], setupFlags: 2)))
        guard case let .ioUring(use) = event.kind else { return XCTFail("\(event.kind)") }
        XCTAssertEqual(use.ring, 0x1234_5678_9abc_def0)
        XCTAssertEqual(use.counts.count, Int(SA_URING_OPS))
        XCTAssertFalse(use.notCounted)
        XCTAssertEqual(use.detail, "connect ×1, openat ×3, opcode 63 or above ×2 (submitted by a kernel thread: SQPOLL)"
                                   + "; operations through io_uring are counted by kind, not itemised")
    }

    func testSaturatedEmptyAndNotCounted() throws {
        let full = try EventDecoder.decode(K.bytes(uringRecord(counts: [22: .max])))
        guard case let .ioUring(saturated) = full.kind else { return XCTFail("\(full.kind)") }
        XCTAssertTrue(saturated.detail.hasPrefix("read ×4294967295+;"), saturated.detail)
        guard case let .ioUring(empty) = try EventDecoder.decode(K.bytes(uringRecord(counts: [:]))).kind else { return XCTFail() }
        XCTAssertEqual(empty.detail, "io_uring instance created, no operations submitted")
        guard case let .ioUring(lost) = try EventDecoder.decode(K.bytes(uringRecord(counts: [18: 1], flags: SA_URING_NOT_COUNTED))).kind
        else { return XCTFail() }
        XCTAssertTrue(lost.notCounted)
        XCTAssertTrue(lost.detail.contains("not counted"))
        XCTAssertThrowsError(try EventDecoder.decode(Array(K.bytes(uringRecord(counts: [:])).prefix(100))), "truncated")
    }

    /// The recorder's record at a clean stop (BPFTracer.uringRecordsAtStop): the counts so far, said to be.
    func testCountedUntilTheStop() throws {
        guard case let .ioUring(use) = try EventDecoder.decode(K.bytes(uringRecord(counts: [0: 5], flags: SA_URING_AT_STOP))).kind
        else { return XCTFail() }
        XCTAssertTrue(use.atStop)
        XCTAssertFalse(use.notCounted)
        XCTAssertEqual(use.detail, "nop ×5; operations through io_uring are counted by kind, not itemised"
                                   + "; counted until the recorder stopped, its owner still running")
    }
}
