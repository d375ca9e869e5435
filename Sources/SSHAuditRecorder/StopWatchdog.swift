import Foundation
import SSHAuditStore

/// Ends the recorder when a stop (SIGINT/SIGTERM) cannot finish because database writes fail.
///
/// Tracing may end only once the database holds everything read from the ring buffer: detaching
/// drops whatever the kernel still holds. So a stop stores everything first, and while writes fail
/// that waits on the disk (the recording thread may be waiting for room in the writer's queue, in the
/// middle of a ring-buffer read). Started by the stop request, this watchdog gives the writer `grace`
/// seconds to succeed again, then exits the process with status 1 the way a kill would: nothing
/// detached, released or cleared, so the kernel state stays pinned and the next start resumes from
/// the last stored checkpoint. A writer that keeps succeeding is waited for.
enum StopWatchdog {
    /// How long writes may keep failing once a stop was asked for.
    static let grace: TimeInterval = 5

    private enum Ending { case none, clean, failed }
    private static let lock = NSLock()
    nonisolated(unsafe) private static var ending = Ending.none

    /// Watches `writer()` (SIGHUP may replace it) on a thread of its own; on giving up, prints
    /// `message(writer)` and exits.
    static func start(writer: @escaping () -> BatchWriter, message: @escaping (BatchWriter) -> String) {
        let asked = Date()
        Thread.detachNewThread {
            while true {
                Thread.sleep(forTimeInterval: 0.1)
                let w = writer()
                let failingTooLong = w.failingSince.map { Date().timeIntervalSince(max($0, asked)) >= grace } ?? false
                guard w.failed || failingTooLong else { continue }
                guard claim(.failed) else { return }  // the stop got past the point of no return
                Stderr.line("sshaudit: " + message(w), level: .error)
                _exit(1)  // like a kill: no exit handlers racing the threads still waiting on the disk
            }
        }
    }

    /// Everything is stored: the stop may now end tracing, and the watchdog stands down. False if it
    /// is already exiting (then the caller must do nothing more).
    static func claimCleanStop() -> Bool { claim(.clean) }

    /// The recorder is about to exit on failing writes itself: the watchdog must not print too. False
    /// if the watchdog is already exiting.
    static func claimFailure() -> Bool { claim(.failed) }

    private static func claim(_ how: Ending) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        guard ending == .none else { return false }
        ending = how
        return true
    }

    /// For a thread whose ending another thread owns.
    static func park() -> Never {
        while true { sleep(60) }
    }
}
