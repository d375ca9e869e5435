import Foundation
import SSHAuditBPF
import SSHAuditCore
import SSHAuditStore

enum Seeding {
    /// A fresh start: the sshd processes running now, from /proc. The programs are attached (events
    /// wait in the ring buffer until read), so a process started in between is seen by both, never by
    /// neither.
    static func seed(tracer: BPFTracer, correlator: Correlator, store: AuditStore, bootToWall: Int64,
                      trust: ListenerTrust, logChannels: LogChannels) throws
        -> (listeners: [ProcEntry], perConnection: [ProcEntry], sessions: [SessionSeed]) {
        let processes = ProcScan.processes()
        let connections = ProcScan.tcpConnections()
        let tree = ProcScan.sshdTree(processes, trust: trust, connections: connections)
        let ticks = UInt64(sysconf(Int32(_SC_CLK_TCK)))
        let recovered = SessionRecovery.sessions(
            in: tree, connections: connections,
            ticksToWallNs: { Int64($0 * 1_000_000_000 / ticks) + bootToWall })
        for listener in tree.listeners {
            try tracer.track(pid: listener.pid, role: .listener)
            logChannels.seed(pid: listener.pid, argv: listener.argv)
            correlator.seedListener(pid: listener.pid, path: listener.exe)
        }
        let stderrListeners = Set(tree.listeners.filter {
            SSHDLogOptions(arguments: SSHDLogOptions.argv(fromTitle: $0.argv)).stderr
        }.map(\.pid))
        // Sessions the previous run left open: continued if their monitor still runs (same row, no
        // duplicate), otherwise closed as ended while nobody watched.
        var leftOpen = try store.openSessions()
        for session in recovered {
            let toStderr = session.listenerPid.map(stderrListeners.contains) ?? false
            // Authenticated without a user child: a root login on OpenSSH <= 9.7, whose monitor
            // carries the session's data.
            let serves = session.uid != nil && !session.processes.contains { $0.role == .userChild }
            try tracer.track(pid: session.monitor.pid, role: .monitor, servesSession: serves, logsToStderr: toStderr)
            for process in session.processes { try tracer.track(pid: process.pid, role: process.role) }
        }
        // A monitor that exited between the /proc read and being tracked sent no exit event: only
        // sessions still alive now are continued.
        let alive = recovered.filter { ProcScan.isAlive(pid: $0.monitor.pid) }
        for session in alive {
            let match = leftOpen.firstIndex {
                $0.session.sshdPid == session.monitor.pid
                    && abs($0.session.startedAtNs - session.monitor.startedAtNs) < 50_000_000  // /proc: 10 ms ticks
            }
            let resuming = match.map { leftOpen.remove(at: $0) }
            correlator.seedSession(session, resuming: resuming.map { ($0.session, $0.openCommands) },
                                   channels: resuming.map { ($0.openChannels, $0.channelCount) } ?? ([], 0))
        }
        try store.markEndedUnobserved(leftOpen.map(\.session))
        return (tree.listeners, tree.perConnection, alive)
    }
}
