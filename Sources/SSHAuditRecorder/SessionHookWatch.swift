import Foundation
import SSHAuditBPF
import SSHAuditCore

/// Keeps the session hooks (BPFTracer.sessionHookPrograms: the 32-bit call hook and the file and
/// network activity programs) attached while a session is open or a session's process runs, and for
/// a while after: their tracepoints cost every process on the machine, so a server no one is logged
/// in to does not pay for them. A session is open from the fork of its per-connection sshd, before
/// authentication, so the hooks are in place (the fork wakes the recorder at once; attaching takes
/// a few milliseconds) well before the user's first program runs or internal-sftp serves a request;
/// a program started, or a user child forked, while they were not (a recorder lagging or down) is
/// flagged by the kernel at its exec or fork, and its session marked `drops`. The detach asks the
/// kernel whether it still follows a connection (BPFTracer.watchSessionHooks).
final class SessionHookWatch {
    let tracer: BPFTracer
    let correlator: Correlator
    let warn: (String) -> Void
    /// How long the hooks stay after the last session closed (connections come in bursts).
    let linger: TimeInterval
    /// From the start: a resumed recorder reads the killed run's backlog first, and the sessions in
    /// it are not yet open in the correlator when the first tick comes.
    private var lastOpen = Date()
    private var warned = false

    init(tracer: BPFTracer, correlator: Correlator, linger: TimeInterval = 30, warn: @escaping (String) -> Void) {
        self.tracer = tracer
        self.correlator = correlator
        self.linger = linger
        self.warn = warn
    }

    func tick() {
        if correlator.hasSessionProcesses {
            lastOpen = Date()
            if !tracer.watchesSessionHooks, !tracer.watchSessionHooks(true), !warned {
                warned = true
                warn("cannot attach every session hook: sessions' 32-bit calls, file or network activity may go unseen")
            }
        } else if Date().timeIntervalSince(lastOpen) > linger, !tracer.watchSessionHooks(false) {
            lastOpen = Date()  // the kernel still follows a connection or a session's process: later
        }
    }
}
