import Foundation
@testable import SSHAuditBPF
import XCTest

/// BPFTracer.concurrently, which a stop uses to detach its links together: each job runs once, and
/// all of them at the same time (run one after the other, the first would wait for the others in
/// vain and say so).
final class ConcurrentDetachTests: XCTestCase {
    func testEveryJobRunsOnceAndAllAtOnce() {
        let jobs = 64
        let lock = NSCondition()
        var started = 0, sawAll = 0, runs = [Int](repeating: 0, count: jobs)
        let deadline = Date().addingTimeInterval(10)  // one for all: run in turn, they fail in 10 s
        BPFTracer.concurrently((0..<jobs).map { index in {
            lock.lock()
            started += 1
            runs[index] += 1
            lock.broadcast()
            while started < jobs, lock.wait(until: deadline) {}
            if started == jobs { sawAll += 1 }
            lock.unlock()
        } })
        XCTAssertEqual(runs, [Int](repeating: 1, count: jobs), "each job once")
        XCTAssertEqual(sawAll, jobs, "every job was running while the others started")
    }

    func testNoJobsAndOneJob() {
        BPFTracer.concurrently([])
        var ran = 0
        BPFTracer.concurrently([{ ran += 1 }])
        XCTAssertEqual(ran, 1)
    }
}
