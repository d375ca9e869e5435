import Foundation
import SSHAuditCore
import SSHAuditStore

/// The one path every kernel record takes, whether it comes from the ring buffer (`record`) or from
/// an event log (`replay`): counted, copied to the events log if one is written, decoded, shown to the
/// observer (the log channels of a live recorder) and handed to the correlator, whose rows go to the
/// sink the caller gave it (the batch writer). See docs/ARCHITECTURE.md, "Data flow".
public final class RecorderPipeline {
    public let correlator: Correlator
    /// Records handed in, and those of them that did not decode (counted, nothing guessed from them).
    public private(set) var events: UInt64 = 0
    public private(set) var undecodable: UInt64 = 0
    private let tap: ((UnsafeRawBufferPointer) -> Void)?
    private let observe: ((Event) -> Void)?
    private let before: ((Event) -> [[UInt8]])?

    /// `before`: records to take first, before an event (a live recorder: the kernel's counts of a
    /// process's file operations before its exit or exec, FileRepeatFeed).
    public init(correlator: Correlator, tap: ((UnsafeRawBufferPointer) -> Void)? = nil,
                observe: ((Event) -> Void)? = nil, before: ((Event) -> [[UInt8]])? = nil) {
        self.correlator = correlator
        self.tap = tap
        self.observe = observe
        self.before = before
    }

    /// One kernel record (bpf/events.h), valid only during the call.
    public func consume(_ record: UnsafeRawBufferPointer) {
        events += 1
        guard let event = try? EventDecoder.decode(record) else {
            tap?(record)
            undecodable += 1
            return
        }
        if let before {
            for first in before(event) { first.withUnsafeBytes { consume($0) } }
        }
        tap?(record)
        observe?(event)
        correlator.handle(event)
    }
}

/// Where a pipeline's records come from; each source is bound to its pipeline when made.
public protocol EventSource {
    /// Hands the records available now to the pipeline. False once the source has no more.
    func pump() throws -> Bool
}

/// The correlator's rows go through this box to the current batch writer, so that SIGHUP can swap in
/// a writer for a new database file.
final class OutputBox: @unchecked Sendable {
    private let lock = NSLock()
    private var current: BatchWriter
    init(_ writer: BatchWriter) { current = writer }

    /// For the recording thread, which alone replaces it.
    var writer: BatchWriter {
        get { current }
        set {
            lock.lock()
            current = newValue
            lock.unlock()
        }
    }

    /// For other threads (the stop watchdog).
    var sharedWriter: BatchWriter {
        lock.lock()
        defer { lock.unlock() }
        return current
    }

    func enqueue(_ row: CorrelatorOutput) { current.enqueue(row) }
}
