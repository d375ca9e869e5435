import Foundation
import SSHAuditCore

/// Takes correlator rows from the ring-buffer thread and writes them in batched transactions on its
/// own thread, so the consumer of kernel events never waits on the disk.
public final class BatchWriter: @unchecked Sendable {
    private let store: AuditStore
    private let interval: TimeInterval
    private let batchSize: Int
    /// Rows waiting may hold this much at most (one row more when it is the only one): a user's
    /// commands can each carry 8 KiB of argv, which takes up to about 200 KiB in memory.
    private let queueBytes = 16 << 20
    private let onError: (Error) -> Void
    private let condition = NSCondition()
    /// Rows, not versions: a row that changes while it waits takes one slot and one write, so
    /// transactions are fewer and fuller.
    private var pending = RowBatch()
    /// The latest checkpoint enqueued: it covers every row enqueued before it, so it goes into the
    /// transaction of the batch that holds it (or a later one).
    private var pendingCheckpoint: Checkpoint?
    private var committed: UInt64?
    private var gaveUp = false
    private var failureStart: Date?
    private var latestError: Error?
    private var stopping = false
    private var finished = false
    private var thread: Thread?

    public init(store: AuditStore, interval: TimeInterval = 0.2, batchSize: Int = 1000,
                onError: @escaping (Error) -> Void) {
        self.store = store
        self.interval = interval
        self.batchSize = batchSize
        self.onError = onError
        let thread = Thread { [unowned self] in self.run() }
        thread.name = "sshaudit-writer"
        self.thread = thread
        thread.start()
    }

    public func enqueue(_ output: CorrelatorOutput) {
        condition.lock()
        defer { condition.unlock() }
        while !pending.replaceWaiting(output) {
            // Bounded: a producer faster than the disk waits (memory stays flat; the recorder's ring
            // buffer holds the kernel's records meanwhile) instead of queueing without limit.
            if (pending.count < 2 * batchSize && (pending.isEmpty || pending.heldBytes < queueBytes)) || finished {
                pending.append(output)
                break
            }
            condition.wait()
        }
        if pending.count >= batchSize { condition.signal() }
    }

    /// Outputs waiting to be written (for tests).
    var pendingCount: Int {
        condition.lock()
        defer { condition.unlock() }
        return pending.count
    }

    /// Stores `checkpoint` with the rows enqueued so far, in their transaction.
    public func enqueue(checkpoint: Checkpoint) {
        condition.lock()
        pendingCheckpoint = checkpoint
        condition.unlock()
    }

    /// The ring position of the latest checkpoint committed, if any: the kernel may reuse the ring
    /// buffer up to there.
    public var committedPosition: UInt64? {
        condition.lock()
        defer { condition.unlock() }
        return committed
    }

    /// A batch could not be written even after retries: the recorder should stop, so that a restart
    /// reads the records again from the last stored checkpoint.
    public var failed: Bool {
        condition.lock()
        defer { condition.unlock() }
        return gaveUp
    }

    /// Since when writes have been failing, if the latest attempt failed (nil once one succeeds).
    public var failingSince: Date? {
        condition.lock()
        defer { condition.unlock() }
        return failureStart
    }

    /// The latest write error (kept after a later success, for the message of a failure).
    public var lastError: Error? {
        condition.lock()
        defer { condition.unlock() }
        return latestError
    }

    /// Writes everything enqueued so far and stops the thread; true if everything was written.
    @discardableResult
    public func close() -> Bool {
        condition.lock()
        defer { condition.unlock() }
        stopping = true
        condition.signal()
        while !finished { condition.wait() }
        return !gaveUp
    }

    private func run() {
        // Command lines not yet in the --grep index (a new file may hold some from an earlier run).
        var indexBehind = true
        condition.lock()
        while true {
            if pending.count < batchSize && !stopping {
                _ = condition.wait(until: Date(timeIntervalSinceNow: interval))
            }
            var batch = RowBatch()
            swap(&batch, &pending)  // no second buffer of the same size
            let checkpoint = pendingCheckpoint
            pendingCheckpoint = nil
            condition.broadcast()  // a producer waiting for room
            let done = stopping
            condition.unlock()
            // After a batch was given up, nothing later is written: no checkpoint may be stored (it would
            // skip that batch's rows), and the recorder stops so that a restart reads the records of
            // all of them again from the ring buffer.
            // Spare time goes to the command-line index (it trails the rows; queries cover the rest),
            // in the batch's own transaction when there is one.
            let hasCommands = batch.outputs.contains(where: { if case .command = $0 { true } else { false } })
            let indexLimit = (indexBehind || hasCommands) && batch.count < batchSize / 2 ? 500 : 0
            let work = (!batch.isEmpty || checkpoint != nil) && !gaveUp
            let indexed = work ? writeRetrying(batch, checkpoint, indexLimit: indexLimit) : nil
            let written = indexed != nil
            if let indexed {
                indexBehind = indexLimit > 0 ? indexed == indexLimit : indexBehind || hasCommands
            } else if !work, indexBehind, !gaveUp, let more = try? store.indexCommandLines(limit: 500) {
                indexBehind = more == 500
            }
            condition.lock()
            if !written && (!batch.isEmpty || checkpoint != nil) { gaveUp = true }
            if written, !gaveUp, let checkpoint { committed = checkpoint.position }
            if done && pending.isEmpty { break }
        }
        finished = true
        condition.broadcast()
        condition.unlock()
    }

    /// A failed write (disk full, locked database) is retried; rows stay in memory until written.
    /// Returns how many command lines were indexed with the batch, or nil when it was given up.
    private func writeRetrying(_ batch: RowBatch, _ checkpoint: Checkpoint?, indexLimit: Int) -> Int? {
        var attempt = 0
        while true {
            do {
                let indexed = try store.write(batch, checkpoint: checkpoint, indexLimit: indexLimit)
                condition.lock()
                failureStart = nil
                condition.unlock()
                return indexed
            } catch {
                attempt += 1
                condition.lock()
                if failureStart == nil { failureStart = Date() }
                latestError = error
                condition.unlock()
                onError(error)
                // Given up: the ring buffer is not released past the last stored checkpoint, so a
                // restarted recorder reads these records again.
                if attempt >= 50 { return nil }
                Thread.sleep(forTimeInterval: min(0.1 * Double(attempt), 2))
            }
        }
    }
}
