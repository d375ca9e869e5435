import SSHAuditBPF
import SSHAuditCore

/// The repeats of file operations the kernel counts instead of reporting each (bpf/files.bpf.h,
/// `file_seen`), turned into records (SA_EV_FILE_REPEAT) that go through the event log and the
/// correlator like the kernel's own, so that a replay of the log gives the same rows.
struct FileRepeatFeed {
    let tracer: BPFTracer
    let correlator: Correlator

    /// Before a process's exit or exec is handled: its counts, final (the keys go: the process adds
    /// nothing more under them).
    func before(_ event: Event) -> [[UInt8]] {
        switch event.kind {
        case .exit, .exec:
            return correlator.fileSeenKeys(of: event.process).compactMap { tracer.fileRepeatRecord(of: $0, remove: true) }
        default:
            return []
        }
    }

    /// Every count so far (on a timer, and before stopping): rows of running processes stay current.
    func all() -> [[UInt8]] {
        correlator.fileSeenKeys.compactMap { tracer.fileRepeatRecord(of: $0, remove: false) }
    }

    /// Removes the keys no row needs any more (rows given up at the bound, processes found gone).
    func release() {
        for key in correlator.takeReleasedFileSeenKeys() { _ = tracer.fileRepeats(of: key, remove: true) }
    }
}
