import Foundation
import SSHAuditCore

/// Takes correlator rows from the ring-buffer thread and writes them in batched transactions on its
/// own thread, so the consumer of kernel events never waits on the disk.
public final class BatchWriter: @unchecked Sendable {
    private let store: AuditStore
    private let interval: TimeInterval
    private let batchSize: Int
    private let onError: (Error) -> Void
    private let condition = NSCondition()
    private var pending: [CorrelatorOutput] = []
    private var stopping = false
    private var finished = false
    private var thread: Thread?

    public init(store: AuditStore, interval: TimeInterval = 0.2, batchSize: Int = 2000,
                onError: @escaping (Error) -> Void) {
        self.store = store
        self.interval = interval
        self.batchSize = batchSize
        self.onError = onError
        pending.reserveCapacity(batchSize)
        let thread = Thread { [unowned self] in self.run() }
        thread.name = "sshaudit-writer"
        self.thread = thread
        thread.start()
    }

    public func enqueue(_ output: CorrelatorOutput) {
        condition.lock()
        pending.append(output)
        if pending.count >= batchSize { condition.signal() }
        condition.unlock()
    }

    /// Writes everything enqueued so far and stops the thread.
    public func close() {
        condition.lock()
        stopping = true
        condition.signal()
        while !finished { condition.wait() }
        condition.unlock()
    }

    private func run() {
        condition.lock()
        while true {
            if pending.count < batchSize && !stopping {
                _ = condition.wait(until: Date(timeIntervalSinceNow: interval))
            }
            let batch = pending
            pending.removeAll(keepingCapacity: true)
            let done = stopping
            condition.unlock()
            if !batch.isEmpty { writeRetrying(batch) }
            condition.lock()
            if done && pending.isEmpty { break }
        }
        finished = true
        condition.broadcast()
        condition.unlock()
    }

    /// A failed write (disk full, locked database) is retried; rows stay in memory until written.
    private func writeRetrying(_ batch: [CorrelatorOutput]) {
        var attempt = 0
        while true {
            do {
                try store.write(batch)
                return
            } catch {
                attempt += 1
                onError(error)
                if attempt >= 50 { return }
                Thread.sleep(forTimeInterval: min(0.1 * Double(attempt), 2))
            }
        }
    }
}
