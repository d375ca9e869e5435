import Foundation
import SSHAuditBPF
import SSHAuditCore

/// Keeps the 32-bit call hook (bpf/compat.bpf.h) attached while a session is open or a session's
/// process runs, and for a while after: it costs every system call on the machine, so a server no
/// one is logged in to does not pay for it. A session is open from the fork of its per-connection
/// sshd, before authentication, so the hook is in place (within one poll of the ring, 50 ms) well
/// before the user's first program runs; a program started while it was not (a recorder lagging)
/// is flagged by the kernel at its exec, and its session marked `drops`.
final class CompatWatch {
    let tracer: BPFTracer
    let correlator: Correlator
    let warn: (String) -> Void
    /// How long the hook stays after the last session closed (connections come in bursts).
    let linger: TimeInterval = 30
    private var lastOpen = Date.distantPast
    private var warned = false

    init(tracer: BPFTracer, correlator: Correlator, warn: @escaping (String) -> Void) {
        self.tracer = tracer
        self.correlator = correlator
        self.warn = warn
    }

    func tick() {
        if correlator.hasSessionProcesses {
            lastOpen = Date()
            if !tracer.watchesCompatCalls, !tracer.watchCompatCalls(true), !warned {
                warned = true
                warn("cannot attach the 32-bit system call hook: sessions' 32-bit calls are not counted")
            }
        } else if tracer.watchesCompatCalls, Date().timeIntervalSince(lastOpen) > linger {
            tracer.watchCompatCalls(false)
        }
    }
}
