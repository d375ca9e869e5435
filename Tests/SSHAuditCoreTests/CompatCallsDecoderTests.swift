import CSSHAuditABI
import XCTest
@testable import SSHAuditCore

/// struct sa_compat (bpf/events.h) as the decoder reads it, and the session event's detail.
final class CompatCallsDecoderTests: XCTestCase {
    typealias K = KernelRecord

    func compatRecord(counts: [Int: UInt32], flags: UInt32 = 0) -> sa_compat {
        var r = sa_compat()
        r.h = K.header(UInt32(SA_EV_COMPAT), tgid: 4242, start: 99)
        r.flags = flags
        withUnsafeMutableBytes(of: &r.counts) { raw in
            for (nr, n) in counts { raw.storeBytes(of: n.littleEndian, toByteOffset: 4 * nr, as: UInt32.self) }
        }
        return r
    }

    func calls(_ record: sa_compat) throws -> CompatCalls {
        let event = try EventDecoder.decode(K.bytes(record))
        guard case let .compatCalls(calls) = event.kind else {
            XCTFail("\(event.kind)")
            return CompatCalls(counts: [], notCounted: false, atStop: false)
        }
        return calls
    }

    func testCountsByI386Number() throws {
        // i386: creat 8, rename 38, socketcall 102, connect 362; 511 collects every number from there up.
        let c = try calls(compatRecord(counts: [38: 2, 8: 1, 102: 3, 362: 1, 511: 4]))
        XCTAssertEqual(c.counts.count, Int(SA_COMPAT_OPS))
        XCTAssertEqual(c.detail, "creat ×1, rename ×2, socketcall ×3, connect ×1, call 511 or above ×4"
                                 + "; 32-bit system calls (int 0x80 or a 32-bit program) are counted by kind, not itemised")
    }

    func testNotCountedAtStopAndSaturated() throws {
        let lost = try calls(compatRecord(counts: [5: 1], flags: SA_COMPAT_NOT_COUNTED))
        XCTAssertTrue(lost.notCounted)
        XCTAssertEqual(lost.detail, "open ×1; no room to count this process's 32-bit calls: only its first is counted")
        let stop = try calls(compatRecord(counts: [20: .max], flags: SA_COMPAT_AT_STOP))
        XCTAssertTrue(stop.atStop)
        XCTAssertTrue(stop.detail.hasPrefix("getpid ×4294967295+;"), stop.detail)
        XCTAssertTrue(stop.detail.hasSuffix("; counted until the recorder stopped, the process still running"), stop.detail)
        XCTAssertThrowsError(try EventDecoder.decode(Array(K.bytes(compatRecord(counts: [:])).prefix(200))), "truncated")
    }
}

/// A session's program that started while the session hooks were detached (SA_EXEC_SESSION_HOOKS_OFF):
/// its session is marked `drops` (its records may be partial), and only that one.
final class SessionHooksOffTests: XCTestCase {
    func testAnUnwatchedExecFlagsItsSession() throws {
        let log = try Fixture.load("exec_command")
        func replay(flagging: Bool) throws -> [SessionRecord] {
            var outputs: [CorrelatorOutput] = []
            let correlator = Correlator.replaying(log) { outputs.append($0) }
            for var event in try log.events() {
                if flagging, case var .exec(info) = event.kind, !info.newRoot {
                    info.sessionHooksOff = true
                    event.kind = .exec(info)
                }
                correlator.handle(event)
            }
            var last: [Int64: SessionRecord] = [:]
            for case let .session(s) in outputs { last[s.id] = s }
            return last.values.sorted { $0.id < $1.id }
        }
        XCTAssertEqual(try replay(flagging: false).map(\.drops), [false])
        XCTAssertEqual(try replay(flagging: true).map(\.drops), [true])
    }

    /// A monitor's fork while the hooks were detached (SA_FORK_SESSION_HOOKS_OFF): the user child
    /// forked so may serve the session with no program started (internal-sftp), so its session is
    /// marked `drops`; the pre-authentication child forked so (on time, the usual case: it follows the
    /// connection's first fork at once) marks nothing. OpenSSH 9 and 10 process trees.
    func testAUserChildForkedWithTheHooksOffFlagsItsSession() throws {
        for fixture in ["exec_command", "openssh10_exec_command"] {
            let log = try Fixture.load(fixture)
            func replay(flagging: (_ forkByMonitor: Int) -> Bool) throws -> [Bool] {
                var outputs: [CorrelatorOutput] = []
                let correlator = Correlator.replaying(log) { outputs.append($0) }
                var monitors: Set<ProcessKey> = [], listeners: Set<ProcessKey> = [], byMonitor = 0
                for var event in try log.events() {
                    if case let .fork(child) = event.kind {
                        if monitors.contains(event.process) {
                            event.hooksOffAtFork = flagging(byMonitor)
                            byMonitor += 1
                        } else if listeners.isEmpty || listeners.contains(event.process) {
                            listeners.insert(event.process)  // the first fork is the listener's
                            monitors.insert(child)
                        }
                    }
                    correlator.handle(event)
                }
                var last: [Int64: SessionRecord] = [:]
                for case let .session(s) in outputs { last[s.id] = s }
                return last.values.sorted { $0.id < $1.id }.map(\.drops)
            }
            XCTAssertEqual(try replay { _ in false }, [false], fixture)
            XCTAssertEqual(try replay { $0 == 0 }, [false], "\(fixture): the pre-authentication child only")
            XCTAssertEqual(try replay { _ in true }, [true], "\(fixture): the user child too")
        }
    }

    func testTheDecoderReadsTheForkFlag() throws {
        var r = sa_fork()
        r.h = KernelRecord.header(SA_EV_FORK.rawValue, tgid: 4242, start: 99)
        r.child_tgid = 4243
        r.flags = SA_FORK_SESSION_HOOKS_OFF
        XCTAssertTrue(try EventDecoder.decode(KernelRecord.bytes(r)).hooksOffAtFork)
        r.flags = 0
        XCTAssertFalse(try EventDecoder.decode(KernelRecord.bytes(r)).hooksOffAtFork)
    }

    func testTheDecoderReadsTheFlag() throws {
        var r = sa_exec()
        r.h = KernelRecord.header(SA_EV_EXEC.rawValue, tgid: 4242, start: 99)
        r.flags = SA_EXEC_SESSION_HOOKS_OFF
        guard case let .exec(info) = try EventDecoder.decode(KernelRecord.bytes(r)).kind else { return XCTFail() }
        XCTAssertTrue(info.sessionHooksOff)
    }
}
