import SSHAuditBPF
import SSHAuditCore

/// The repeats of file operations the kernel counts instead of reporting each (bpf/files.bpf.h,
/// `file_seen`), turned into records (SA_EV_FILE_REPEAT) that go through the event log and the
/// correlator like the kernel's own, so that a replay of the log gives the same rows.
final class FileRepeatFeed {
    let tracer: BPFTracer
    let correlator: Correlator
    /// Keys no row needs any more, removed from the kernel's map only once a checkpoint stored after
    /// them is committed: a recorder killed before that reads them again from the same point.
    private var retiring: [(key: [UInt8], after: UInt64)] = []

    init(tracer: BPFTracer, correlator: Correlator) {
        self.tracer = tracer
        self.correlator = correlator
    }

    /// Before a process's exit or exec is handled: its counts (final: it adds nothing more under
    /// these keys, which the correlator then releases).
    func before(_ event: Event) -> [[UInt8]] {
        switch event.kind {
        case .exit, .exec:
            return correlator.fileSeenKeys(of: event.process).compactMap { tracer.fileRepeatRecord(of: $0, remove: false) }
        default:
            return []
        }
    }

    /// The counts that moved since they were last passed on (on a timer, and before stopping).
    func all() -> [[UInt8]] {
        correlator.fileSeenCounts.compactMap { tracer.fileRepeatRecord(of: $0.key, remove: false, above: $0.counted) }
    }

    /// Takes the keys the correlator released, and removes from the kernel's map those released
    /// before `committed` (the ring position of the last committed checkpoint; nil when nothing is
    /// pinned and no checkpoint is written: at once).
    func release(committed: UInt64?) {
        let now = tracer.readPosition
        for key in correlator.takeReleasedFileSeenKeys() { retiring.append((key, now)) }
        var done = 0
        for entry in retiring {
            if let committed, entry.after > committed { break }
            _ = tracer.fileRepeats(of: entry.key, remove: true)
            done += 1
        }
        retiring.removeFirst(done)
    }
}
